"""The tables of layerspec/keras_config.py: every Keras class is a registered
layer, and every one goes to Keras and comes back. The helpers here serve
test_keras_import.py and test_keras_export.py too.
"""

from __future__ import annotations

import json
import textwrap

import pytest

import layerspec
from layerspec.keras_config import KERAS_CLASSES
from layerspec.keras_export import config_from_model
from layerspec.keras_import import spec_from_config


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def as_json(config: dict) -> dict:
    """What config.json holds: the config through JSON."""
    return json.loads(json.dumps(config))


# ------------------------------------------------------------------------------
# the tables


def test_every_keras_class_is_a_registered_layer():
    from layerspec.registry import lookup

    for name in KERAS_CLASSES:
        assert lookup(name).__name__ == name


# ------------------------------------------------------------------------------
# every layer class, there and back


IMG = "input: [8, 8, 3]"
SEQ = "input: [6, 4]"
VEC = "input: [5]"
VOL = "input: [4, 4, 4, 2]"
#: One small model per Keras class layerspec writes: an input, and the layer with
#: some arguments away from their defaults.
LAYER_CASES = {
    "Activation": (VEC, "{type: Activation, activation: tanh}"),
    "ActivityRegularization": (VEC, "{type: ActivityRegularization, l1: 0.1}"),
    "Add": ("inputs: {a: [3], b: [3]}", "{type: Add, inputs: [a, b]}"),
    "AdditiveAttention": ("inputs: {q: [4, 3], v: [5, 3]}",
                          "{type: AdditiveAttention, inputs: [q, v], use_causal_mask: true}"),
    "AlphaDropout": (VEC, "{type: AlphaDropout, rate: 0.2}"),
    "Attention": ("inputs: {q: [4, 3], v: [5, 3]}", "{type: Attention, inputs: [q, v, v], score_mode: concat}"),
    "Average": ("inputs: {a: [3], b: [3]}", "{type: Average, inputs: [a, b]}"),
    "AveragePooling1D": (SEQ, "{type: AveragePooling1D, pool_size: 2, strides: 1, padding: same}"),
    "AveragePooling2D": (IMG, "{type: AveragePooling2D, pool_size: 2}"),
    "AveragePooling3D": (VOL, "{type: AveragePooling3D, pool_size: 2}"),
    "BatchNormalization": (IMG, "{type: BatchNormalization, center: false, momentum: 0.9}"),
    "Bidirectional": (SEQ, "{type: Bidirectional, layer: {type: GRU, units: 3, return_sequences: true}, "
                          "backward_layer: {type: SimpleRNN, units: 3, go_backwards: true, return_sequences: true}}"),
    "CategoryEncoding": ("inputs: {ids: {shape: [4], dtype: int32}}",
                         "{type: CategoryEncoding, num_tokens: 10, output_mode: count}"),
    "CenterCrop": (IMG, "{type: CenterCrop, height: 4, width: 4}"),
    "Concatenate": ("inputs: {a: [3], b: [2]}", "{type: Concatenate, inputs: [a, b]}"),
    "Conv1D": (SEQ, "{type: Conv1D, filters: 4, kernel_size: 2, groups: 2}"),
    "Conv1DTranspose": (SEQ, "{type: Conv1DTranspose, filters: 4, kernel_size: 3, strides: 2, output_padding: 1}"),
    "Conv2D": (IMG, "{type: Conv2D, filters: 4, kernel_size: [3, 1], kernel_initializer: he_normal, "
                   "bias_initializer: {type: constant, value: 0.1}}"),
    "Conv2DTranspose": (IMG, "{type: Conv2DTranspose, filters: 4, kernel_size: 3, dilation_rate: 2}"),
    "Conv3D": (VOL, "{type: Conv3D, filters: 2, kernel_size: 2}"),
    "ConvLSTM1D": ("input: [3, 6, 2]", "{type: ConvLSTM1D, filters: 2, kernel_size: 3, return_sequences: true}"),
    "ConvLSTM2D": ("input: [3, 6, 6, 2]", "{type: ConvLSTM2D, filters: 2, kernel_size: 3}"),
    "ConvLSTM3D": ("input: [2, 4, 4, 4, 1]", "{type: ConvLSTM3D, filters: 2, kernel_size: 2}"),
    "Cropping1D": (SEQ, "{type: Cropping1D, cropping: [1, 2]}"),
    "Cropping2D": (IMG, "{type: Cropping2D, cropping: 1}"),
    "Cropping3D": (VOL, "{type: Cropping3D, cropping: 1}"),
    "CutMix": (IMG, "{type: CutMix}"),
    "Dense": (VEC, "{type: Dense, units: 3, use_bias: false, trainable: false, "
                  "kernel_initializer: {type: random_normal, stddev: 0.01, seed: 3}}"),
    "DepthwiseConv1D": (SEQ, "{type: DepthwiseConv1D, kernel_size: 3}"),
    "DepthwiseConv2D": (IMG, "{type: DepthwiseConv2D, kernel_size: 3, depth_multiplier: 2}"),
    "Dot": ("inputs: {a: [3], b: [3]}", "{type: Dot, axes: [1, 1], inputs: [a, b]}"),
    "Dropout": (SEQ, "{type: Dropout, rate: 0.2, noise_shape: [null, 1, 4]}"),
    "ELU": (VEC, "{type: ELU}"),
    "EinsumDense": (SEQ, "{type: EinsumDense, equation: 'abc,cd->abd', output_shape: [null, 5], bias_axes: d}"),
    "Embedding": ("input: [6]", "{type: Embedding, input_dim: 20, output_dim: 4}"),
    "Flatten": (IMG, "{type: Flatten}"),
    "GRU": (SEQ, "{type: GRU, units: 3, reset_after: false, go_backwards: true}"),
    "GaussianDropout": (VEC, "{type: GaussianDropout, rate: 0.1}"),
    "GaussianNoise": (VEC, "{type: GaussianNoise, stddev: 0.1}"),
    "GlobalAveragePooling1D": (SEQ, "{type: GlobalAveragePooling1D, keepdims: true}"),
    "GlobalAveragePooling2D": (IMG, "{type: GlobalAveragePooling2D}"),
    "GlobalAveragePooling3D": (VOL, "{type: GlobalAveragePooling3D}"),
    "GlobalMaxPooling1D": (SEQ, "{type: GlobalMaxPooling1D}"),
    "GlobalMaxPooling2D": (IMG, "{type: GlobalMaxPooling2D}"),
    "GlobalMaxPooling3D": (VOL, "{type: GlobalMaxPooling3D}"),
    "GroupNormalization": (IMG, "{type: GroupNormalization, groups: 3}"),
    "Identity": (VEC, "{type: Identity}"),
    "LSTM": (SEQ, "{type: LSTM, units: 3, unit_forget_bias: false, recurrent_activation: hard_sigmoid}"),
    "LayerNormalization": (IMG, "{type: LayerNormalization, axis: [1, 2], center: false}"),
    "LeakyReLU": (VEC, "{type: LeakyReLU}"),
    "Masking": (SEQ, "{type: Masking, mask_value: -1.0}"),
    "MaxPooling1D": (SEQ, "{type: MaxPooling1D}"),
    "MaxPooling2D": (IMG, "{type: MaxPooling2D, pool_size: 3, strides: 2, padding: same}"),
    "MaxPooling3D": (VOL, "{type: MaxPooling3D}"),
    "Maximum": ("inputs: {a: [3], b: [3]}", "{type: Maximum, inputs: [a, b]}"),
    "Minimum": ("inputs: {a: [3], b: [3]}", "{type: Minimum, inputs: [a, b]}"),
    "MixUp": (IMG, "{type: MixUp}"),
    "MultiHeadAttention": ("inputs: {q: [4, 3], v: [5, 3]}",
                           "{type: MultiHeadAttention, num_heads: 2, key_dim: 3, value_dim: 2, inputs: [q, v]}"),
    "Multiply": ("inputs: {a: [3], b: [3]}", "{type: Multiply, inputs: [a, b]}"),
    "Normalization": (VEC, "{type: Normalization, mean: 0.5, variance: 2.0}"),
    "PReLU": (IMG, "{type: PReLU, shared_axes: [1, 2]}"),
    "Permute": (SEQ, "{type: Permute, dims: [2, 1]}"),
    "PositionEmbedding": (SEQ, "{type: PositionEmbedding, sequence_length: 6}"),
    "RandomBrightness": (IMG, "{type: RandomBrightness, factor: 0.1}"),
    "RandomColorDegeneration": (IMG, "{type: RandomColorDegeneration, factor: 0.1}"),
    "RandomContrast": (IMG, "{type: RandomContrast, factor: 0.1}"),
    "RandomCrop": (IMG, "{type: RandomCrop, height: 4, width: 4}"),
    "RandomFlip": (IMG, "{type: RandomFlip, mode: horizontal}"),
    "RandomGrayscale": (IMG, "{type: RandomGrayscale}"),
    "RandomHue": (IMG, "{type: RandomHue, factor: 0.1}"),
    "RandomInvert": (IMG, "{type: RandomInvert}"),
    "RandomRotation": (IMG, "{type: RandomRotation, factor: 0.1}"),
    "RandomSaturation": (IMG, "{type: RandomSaturation, factor: 0.1}"),
    "RandomSharpness": (IMG, "{type: RandomSharpness, factor: 0.1}"),
    "RandomShear": (IMG, "{type: RandomShear, x_factor: 0.1}"),
    "RandomTranslation": (IMG, "{type: RandomTranslation, height_factor: 0.1, width_factor: 0.2}"),
    "RandomZoom": (IMG, "{type: RandomZoom, height_factor: 0.1}"),
    "ReLU": (VEC, "{type: ReLU, negative_slope: 0.1}"),
    "RepeatVector": (VEC, "{type: RepeatVector, n: 3}"),
    "Rescaling": (VEC, "{type: Rescaling, scale: 2.0, offset: -1.0}"),
    "Reshape": (IMG, "{type: Reshape, target_shape: [64, 3]}"),
    "Resizing": (IMG, "{type: Resizing, height: 4, width: 4}"),
    "SeparableConv1D": (SEQ, "{type: SeparableConv1D, filters: 2, kernel_size: 2}"),
    "SeparableConv2D": (IMG, "{type: SeparableConv2D, filters: 2, kernel_size: 2}"),
    "SimpleRNN": (SEQ, "{type: SimpleRNN, units: 3, activation: relu}"),
    "Softmax": (SEQ, "{type: Softmax, axis: 1}"),
    "Solarization": (IMG, "{type: Solarization, addition_factor: 0.1}"),
    "SpatialDropout1D": (SEQ, "{type: SpatialDropout1D, rate: 0.1}"),
    "SpatialDropout2D": (IMG, "{type: SpatialDropout2D, rate: 0.1}"),
    "SpatialDropout3D": (VOL, "{type: SpatialDropout3D, rate: 0.1}"),
    "Subtract": ("inputs: {a: [3], b: [3]}", "{type: Subtract, inputs: [a, b]}"),
    "TimeDistributed": (SEQ, "{type: TimeDistributed, layer: {type: Dense, units: 2}}"),
    "UnitNormalization": (VEC, "{type: UnitNormalization}"),
    "UpSampling1D": (SEQ, "{type: UpSampling1D, size: 3}"),
    "UpSampling2D": (IMG, "{type: UpSampling2D, interpolation: bilinear}"),
    "UpSampling3D": (VOL, "{type: UpSampling3D}"),
    "ZeroPadding1D": (SEQ, "{type: ZeroPadding1D, padding: 2}"),
    "ZeroPadding2D": (IMG, "{type: ZeroPadding2D, padding: [[1, 2], [0, 1]]}"),
    "ZeroPadding3D": (VOL, "{type: ZeroPadding3D}"),
}


def test_every_keras_class_has_a_case():
    assert set(LAYER_CASES) == set(KERAS_CLASSES) - {"SpectralNormalization"}  # layerspec refuses to build it


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_every_layer_class_goes_to_keras_and_comes_back(name):
    inputs, layer = LAYER_CASES[name]
    model = layerspec.loads(f"name: one\n{inputs}\nlayers:\n  - {layer}\n")
    config = as_json(config_from_model(model))
    back = layerspec.loads(spec_from_config(config)[0])
    assert back.to_yaml() == model.to_yaml()
    assert as_json(config_from_model(back)) == config
