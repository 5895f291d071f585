"""Built-in layers, one family per module; importing this registers them.

Every built-in layer class is available here, as in ``keras.layers``:
``layerspec.layers.Dense(10, activation="relu")``.
"""

from .activation_layers import ELU, Identity, LeakyReLU, PReLU, ReLU, Softmax
from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .base import Layer, Weight
from .conv import Conv1D, Conv2D
from .conv_variants import (Conv1DTranspose, Conv2DTranspose, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                            SeparableConv2D)
from .core import Activation, Dense, Dropout, Masking
from .embedding import Embedding, PositionEmbedding
from .merging import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .normalization import (BatchNormalization, GroupNormalization, LayerNormalization, SpectralNormalization,
                            UnitNormalization)
from .einsum_dense import EinsumDense
from .preprocessing import (ActivityRegularization, AlphaDropout, CategoryEncoding, CenterCrop, CutMix,
                            GaussianDropout, GaussianNoise, Lambda, MixUp, Normalization, RandomBrightness,
                            RandomColorDegeneration, RandomContrast, RandomCrop, RandomFlip, RandomGrayscale, RandomHue,
                            RandomInvert, RandomRotation, RandomSaturation, RandomSharpness, RandomShear,
                            RandomTranslation, RandomZoom, Rescaling, Resizing, Solarization, SpatialDropout1D,
                            SpatialDropout2D, SpatialDropout3D)
from .pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from .recurrent import GRU, LSTM, SimpleRNN
from .conv_recurrent import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from .wrappers import Bidirectional, TimeDistributed
from .reshaping import (Cropping1D, Cropping2D, Flatten, Permute, RepeatVector, Reshape, UpSampling1D,
                        UpSampling2D, ZeroPadding1D, ZeroPadding2D)
from .volumetric import (AveragePooling3D, Conv3D, Cropping3D, GlobalAveragePooling3D, GlobalMaxPooling3D,
                         MaxPooling3D, UpSampling3D, ZeroPadding3D)

__all__ = [
    "Layer", "Weight", "Conv1D", "Conv2D", "Conv1DTranspose", "Conv2DTranspose", "DepthwiseConv1D",
    "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Activation", "Dense", "Dropout", "Masking", "Embedding", "PositionEmbedding", "BatchNormalization",
    "LayerNormalization", "GroupNormalization", "UnitNormalization", "SpectralNormalization", "EinsumDense",
    "ActivityRegularization", "AlphaDropout", "CategoryEncoding", "CenterCrop", "GaussianDropout", "GaussianNoise",
    "Lambda", "Normalization", "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip", "RandomRotation",
    "RandomTranslation", "RandomZoom", "Rescaling", "Resizing", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "CutMix", "MixUp", "RandomColorDegeneration", "RandomGrayscale", "RandomHue", "RandomInvert",
    "RandomSaturation", "RandomSharpness", "RandomShear", "Solarization", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "MaxPooling1D", "MaxPooling2D", "GRU",
    "LSTM", "SimpleRNN", "Cropping1D", "Cropping2D", "Flatten", "Permute", "RepeatVector", "Reshape",
    "UpSampling1D", "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D",
    "ELU", "Identity", "LeakyReLU", "PReLU", "ReLU", "Softmax",
    "Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract",
    "AveragePooling3D", "Conv3D", "Cropping3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D", "MaxPooling3D",
    "UpSampling3D", "ZeroPadding3D",
    "AdditiveAttention", "Attention", "MultiHeadAttention",
    "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "Bidirectional", "TimeDistributed",
]
