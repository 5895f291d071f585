"""Built-in layers, one family per module; importing this registers them.

Every built-in layer class is available here, as in ``keras.layers``:
``layerspec.layers.Dense(10, activation="relu")``.
"""

from .activation_layers import ELU, Identity, LeakyReLU, PReLU, ReLU, Softmax
from .base import Layer, Weight
from .conv import Conv1D, Conv2D
from .core import Activation, Dense, Dropout
from .embedding import Embedding
from .merging import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from .recurrent import GRU, LSTM, SimpleRNN
from .reshaping import (Cropping1D, Cropping2D, Flatten, Permute, RepeatVector, Reshape, UpSampling1D,
                        UpSampling2D, ZeroPadding1D, ZeroPadding2D)

__all__ = [
    "Layer", "Weight", "Conv1D", "Conv2D", "Activation", "Dense", "Dropout", "Embedding", "BatchNormalization",
    "LayerNormalization", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "MaxPooling1D", "MaxPooling2D", "GRU",
    "LSTM", "SimpleRNN", "Cropping1D", "Cropping2D", "Flatten", "Permute", "RepeatVector", "Reshape",
    "UpSampling1D", "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D",
    "ELU", "Identity", "LeakyReLU", "PReLU", "ReLU", "Softmax",
    "Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract",
]
