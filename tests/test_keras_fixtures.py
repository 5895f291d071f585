"""Real Keras 3 models, written by hand as specs, compute what Keras computes.

For every fixture in tests/fixtures/keras/index.json whose layers layerspec
has, the equivalent spec is written here from the fixture's config.json
(activations, use_bias, padding, strides, axes, output names), Keras's h5
weights are loaded into it, and its outputs on the fixture's inputs must
equal Keras's (rtol 2e-4, atol 2e-5), with the same parameter count.

Nothing is skipped silently: a fixture is either covered by a spec here
(:data:`FIXTURE_SPECS`) or in a sibling file written with the layers it needs
(tests/test_keras_fixtures_*.py), waiting for layer types the registry lacks
(:data:`MISSING_TYPES`, checked against ``layerspec layers``), or waiting for
an argument layerspec refuses (:data:`MISSING_ARGUMENTS`, checked against the
refusal). When a layer type lands, ``test_missing_types_are_exactly_the_registrys``
fails until its fixtures are covered and the entry is removed.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from layerspec.errors import ArgumentError
from tests.keras_fixtures import (ATOL, RTOL, assert_matches_keras, fixture_dir, fixture_names, keras_weights,
                                  load_fixture, read_index, run_spec, spec_model)

#: Fixtures waiting for layer types layerspec does not register yet: the
#: types each needs, sorted. Keep this equal to what the registry lacks
#: (empty since every fixture's types landed; a new fixture may need some).
MISSING_TYPES: dict[str, tuple[str, ...]] = {}

#: Fixtures whose layer types are all registered but which use an argument
#: layerspec refuses: the reason (their specs are in WAITING_SPECS).
#: (Empty since masks landed; a new fixture may need an entry.)
MISSING_ARGUMENTS: dict[str, str] = {}

#: Classes in index.json's "layers" lists that are no layer of a spec:
#: InputLayer is the spec's `inputs`; a nested Sequential is written out inline.
CONTAINERS = {"InputLayer", "Sequential", "Functional"}

#: Classes Keras builds inside another layer (listed in index.json when their
#: owner is in the model): they come with the owner, not as layers of a spec.
PARTS = {
    "LSTMCell": "LSTM",
    "GRUCell": "GRU",
    "SimpleRNNCell": "SimpleRNN",
    "EinsumDense": "MultiHeadAttention",  # its query/key/value/output projections
    "Softmax": "MultiHeadAttention",  # its attention scores' softmax
    "Dropout": "MultiHeadAttention",  # its dropout on the attention scores
}


def needed_types(classes) -> set[str]:
    """The layer types a spec of a model with these Keras classes must have."""
    classes = set(classes)
    return {name for name in classes if name not in CONTAINERS and not (name in PARTS and PARTS[name] in classes)}


def registered_types(cli) -> set[str]:
    """Every type name and alias ``layerspec layers --format json`` lists."""
    result = cli("layers", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return {name for entry in json.loads(result.stdout) for name in [entry["type"], *entry["aliases"]]}


# --------------------------------------------------------------------------
# the specs: each written from the fixture's config.json, with the mapping of
# our weight keys to the h5 datasets (Keras numbers h5 groups by class name
# in model order, not by layer name)

SEQ_MLP = """
    name: seq_mlp
    input: [20]
    layers:
      - {type: Dense, units: 32, activation: relu, name: dense}
      - {type: Dropout, rate: 0.3, name: dropout}
      - {type: Dense, units: 16, activation: tanh, use_bias: false, name: dense_1}
      - {type: Dense, units: 4, activation: softmax, name: dense_2}
"""
SEQ_MLP_WEIGHTS = {
    "dense/kernel": "layers/dense/vars/0",
    "dense/bias": "layers/dense/vars/1",
    "dense_1/kernel": "layers/dense_1/vars/0",
    "dense_2/kernel": "layers/dense_2/vars/0",
    "dense_2/bias": "layers/dense_2/vars/1",
}

# Pixels in [0, 255] rescaled by 1/255; BatchNormalization's h5 variables
# are gamma, beta, moving_mean, moving_variance, in that order.
SEQ_CNN = """
    name: seq_cnn
    input: [28, 28, 1]
    layers:
      - {type: Rescaling, scale: 0.00392156862745098, offset: 0.0, name: rescaling}
      - {type: Conv2D, filters: 8, kernel_size: 3, padding: valid, activation: relu, name: conv2d}
      - {type: BatchNormalization, axis: -1, momentum: 0.99, epsilon: 0.001, name: batch_normalization}
      - {type: MaxPooling2D, pool_size: 2, strides: 2, padding: valid, name: max_pooling2d}
      - {type: Conv2D, filters: 16, kernel_size: 3, strides: 2, padding: same, activation: relu, name: conv2d_1}
      - {type: GlobalAveragePooling2D, name: global_average_pooling2d}
      - {type: Dense, units: 10, activation: softmax, name: dense}
"""
SEQ_CNN_WEIGHTS = {
    "conv2d/kernel": "layers/conv2d/vars/0",
    "conv2d/bias": "layers/conv2d/vars/1",
    "batch_normalization/gamma": "layers/batch_normalization/vars/0",
    "batch_normalization/beta": "layers/batch_normalization/vars/1",
    "batch_normalization/moving_mean": "layers/batch_normalization/vars/2",
    "batch_normalization/moving_variance": "layers/batch_normalization/vars/3",
    "conv2d_1/kernel": "layers/conv2d_1/vars/0",
    "conv2d_1/bias": "layers/conv2d_1/vars/1",
    "dense/kernel": "layers/dense/vars/0",
    "dense/bias": "layers/dense/vars/1",
}

# A skip connection: Add(stem, conv2d_1), then a ReLU layer. The h5 groups
# follow class order: stem is layers/conv2d, 'conv2d' is layers/conv2d_1,
# 'conv2d_1' is layers/conv2d_2.
FUNC_RESNET = """
    name: func_resnet
    inputs:
      image: [16, 16, 3]
    layers:
      - {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu, inputs: image, name: stem}
      - {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu, name: conv2d}
      - {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: linear, name: conv2d_1}
      - {type: Add, inputs: [stem, conv2d_1], name: add}
      - {type: ReLU, name: re_lu}
      - {type: GlobalAveragePooling2D, name: global_average_pooling2d}
      - {type: Dense, units: 5, activation: softmax, name: dense}
    outputs: dense
"""
FUNC_RESNET_WEIGHTS = {
    "stem/kernel": "layers/conv2d/vars/0",
    "stem/bias": "layers/conv2d/vars/1",
    "conv2d/kernel": "layers/conv2d_1/vars/0",
    "conv2d/bias": "layers/conv2d_1/vars/1",
    "conv2d_1/kernel": "layers/conv2d_2/vars/0",
    "conv2d_1/bias": "layers/conv2d_2/vars/1",
    "dense/kernel": "layers/dense/vars/0",
    "dense/bias": "layers/dense/vars/1",
}

# Two inputs, two outputs (cls, reg) from one shared hidden layer. Dense
# groups: dense -> layers/dense, cls -> layers/dense_1, reg -> layers/dense_2.
FUNC_TWO_INPUTS = """
    name: func_two_inputs
    inputs:
      image: [8, 8, 2]
      meta: [6]
    layers:
      - {type: Conv2D, filters: 4, kernel_size: 3, padding: valid, activation: relu, inputs: image, name: conv2d}
      - {type: Flatten, name: flatten}
      - {type: Concatenate, axis: -1, inputs: [flatten, meta], name: concatenate}
      - {type: Dense, units: 16, activation: relu, name: dense}
      - {type: Dense, units: 3, activation: softmax, name: cls}
      - {type: Dense, units: 1, activation: linear, inputs: dense, name: reg}
    outputs: [cls, reg]
"""
FUNC_TWO_INPUTS_WEIGHTS = {
    "conv2d/kernel": "layers/conv2d/vars/0",
    "conv2d/bias": "layers/conv2d/vars/1",
    "dense/kernel": "layers/dense/vars/0",
    "dense/bias": "layers/dense/vars/1",
    "cls/kernel": "layers/dense_1/vars/0",
    "cls/bias": "layers/dense_1/vars/1",
    "reg/kernel": "layers/dense_2/vars/0",
    "reg/bias": "layers/dense_2/vars/1",
}

# One Dense ('encoder') called three times, as in Keras: on left, on right,
# and on left again (a third node); Subtract(left, right) · encoder(left),
# cosine-normalised.
SHARED_LAYER = """
    name: shared_layer
    inputs:
      left: [10]
      right: [10]
    layers:
      - {type: Dense, units: 6, activation: tanh, inputs: left, name: encoder}
      - {reuse: encoder, inputs: right, name: encoder_right}
      - {type: Subtract, inputs: [encoder, encoder_right], name: subtract}
      - {reuse: encoder, inputs: left, name: encoder_left_again}
      - {type: Dot, axes: 1, normalize: true, inputs: [subtract, encoder_left_again], name: dot}
    outputs: dot
"""
SHARED_LAYER_WEIGHTS = {
    "encoder/kernel": "layers/dense/vars/0",
    "encoder/bias": "layers/dense/vars/1",
}

# The nested Sequential 'block' (Dense relu, Dense linear) written out
# inline; its weights are under layers/sequential/layers/ in the h5 file.
NESTED = """
    name: nested
    inputs:
      x: [12]
    layers:
      - {type: Dense, units: 12, activation: relu, inputs: x, name: dense}
      - {type: Dense, units: 12, activation: linear, name: dense_1}
      - {type: Add, inputs: [x, dense_1], name: add}
      - {type: LayerNormalization, axis: [-1], epsilon: 0.001, center: true, scale: true, name: layer_normalization}
      - {type: Dense, units: 3, activation: linear, name: dense_2}
    outputs: dense_2
"""
NESTED_WEIGHTS = {
    "dense/kernel": "layers/sequential/layers/dense/vars/0",
    "dense/bias": "layers/sequential/layers/dense/vars/1",
    "dense_1/kernel": "layers/sequential/layers/dense_1/vars/0",
    "dense_1/bias": "layers/sequential/layers/dense_1/vars/1",
    "layer_normalization/gamma": "layers/layer_normalization/vars/0",
    "layer_normalization/beta": "layers/layer_normalization/vars/1",
    "dense_2/kernel": "layers/dense/vars/0",
    "dense_2/bias": "layers/dense/vars/1",
}

# U-Net: one level down and up; a transposed convolution and an upsampling
# of the bottom, each joined by Concatenate. Every layer has its automatic
# name, so the h5 groups match the names.
FUNC_UNET = """
    name: func_unet
    inputs:
      image: [16, 16, 1]
    layers:
      - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, activation: relu, inputs: image, name: conv2d}
      - {type: MaxPooling2D, pool_size: 2, strides: 2, padding: valid, name: max_pooling2d}
      - {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu, name: conv2d_1}
      - {type: Conv2DTranspose, filters: 4, kernel_size: 2, strides: 2, padding: same, activation: linear,
         name: conv2d_transpose}
      - {type: Concatenate, axis: -1, inputs: [conv2d, conv2d_transpose], name: concatenate}
      - {type: UpSampling2D, size: 2, interpolation: nearest, inputs: conv2d_1, name: up_sampling2d}
      - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, activation: relu, inputs: concatenate,
         name: conv2d_2}
      - {type: Conv2D, filters: 4, kernel_size: 1, padding: valid, activation: linear, inputs: up_sampling2d,
         name: conv2d_3}
      - {type: Concatenate, axis: -1, inputs: [conv2d_2, conv2d_3], name: concatenate_1}
      - {type: Conv2D, filters: 1, kernel_size: 1, padding: valid, activation: sigmoid, name: conv2d_4}
    outputs: conv2d_4
"""
FUNC_UNET_WEIGHTS = {
    **{f"conv2d{suffix}/{weight}": f"layers/conv2d{suffix}/vars/{number}"
       for suffix in ("", "_1", "_2", "_3", "_4") for number, weight in enumerate(("kernel", "bias"))},
    "conv2d_transpose/kernel": "layers/conv2d_transpose/vars/0",
    "conv2d_transpose/bias": "layers/conv2d_transpose/vars/1",
}

# An inverted residual block: 1x1 expansion, depthwise 3x3 stride 2, ReLU6
# (max_value 6), a 1x1 projection without bias, a SeparableConv2D with
# depth_multiplier 2 added to it, global max pooling.
MOBILENET_BLOCK = """
    name: mobilenet_block
    inputs:
      image: [16, 16, 8]
    layers:
      - {type: Conv2D, filters: 16, kernel_size: 1, activation: linear, use_bias: false, inputs: image, name: conv2d}
      - {type: BatchNormalization, momentum: 0.99, epsilon: 0.001, name: batch_normalization}
      - {type: ReLU, max_value: 6.0, name: re_lu}
      - {type: DepthwiseConv2D, kernel_size: 3, strides: 2, padding: same, depth_multiplier: 1, activation: linear,
         use_bias: false, name: depthwise_conv2d}
      - {type: BatchNormalization, momentum: 0.99, epsilon: 0.001, name: batch_normalization_1}
      - {type: ReLU, max_value: 6.0, name: re_lu_1}
      - {type: Conv2D, filters: 8, kernel_size: 1, activation: linear, use_bias: false, name: conv2d_1}
      - {type: SeparableConv2D, filters: 8, kernel_size: 3, padding: same, depth_multiplier: 2, activation: relu,
         name: separable_conv2d}
      - {type: Add, inputs: [conv2d_1, separable_conv2d], name: add}
      - {type: Conv2D, filters: 8, kernel_size: 1, activation: linear, name: conv2d_2}
      - {type: GlobalMaxPooling2D, name: global_max_pooling2d}
    outputs: global_max_pooling2d
"""
MOBILENET_BLOCK_WEIGHTS = {
    "conv2d/kernel": "layers/conv2d/vars/0",
    **{f"batch_normalization{suffix}/{weight}": f"layers/batch_normalization{suffix}/vars/{number}"
       for suffix in ("", "_1")
       for number, weight in enumerate(("gamma", "beta", "moving_mean", "moving_variance"))},
    "depthwise_conv2d/kernel": "layers/depthwise_conv2d/vars/0",
    "conv2d_1/kernel": "layers/conv2d_1/vars/0",
    "separable_conv2d/depthwise_kernel": "layers/separable_conv2d/vars/0",
    "separable_conv2d/pointwise_kernel": "layers/separable_conv2d/vars/1",
    "separable_conv2d/bias": "layers/separable_conv2d/vars/2",
    "conv2d_2/kernel": "layers/conv2d_2/vars/0",
    "conv2d_2/bias": "layers/conv2d_2/vars/1",
}

# A pre-norm transformer block: causal self-attention (Keras called it with
# use_causal_mask=True; here a constructor argument), residual Adds, a gelu
# feed-forward. LayerNormalization epsilon is 1e-5 here, not the default.
TRANSFORMER_BLOCK = """
    name: transformer_block
    inputs:
      tokens: [10, 16]
    layers:
      - {type: LayerNormalization, axis: -1, epsilon: 1.0e-5, inputs: tokens, name: layer_normalization}
      - {type: MultiHeadAttention, num_heads: 2, key_dim: 8, value_dim: 8, dropout: 0.0, use_bias: true,
         attention_axes: [1], use_causal_mask: true, inputs: [layer_normalization, layer_normalization],
         name: multi_head_attention}
      - {type: Add, inputs: [tokens, multi_head_attention], name: add}
      - {type: LayerNormalization, axis: -1, epsilon: 1.0e-5, name: layer_normalization_1}
      - {type: Dense, units: 32, activation: gelu, name: dense}
      - {type: Dense, units: 16, activation: linear, name: dense_1}
      - {type: Add, inputs: [add, dense_1], name: add_1}
    outputs: add_1
"""


def _attention_weights(layer: str) -> dict:
    """MultiHeadAttention's weights: in Keras's h5 one group per projection."""
    return {f"{layer}/{ours}/{weight}": f"layers/{layer}/{group}/vars/{number}"
            for ours, group in (("query", "query_dense"), ("key", "key_dense"), ("value", "value_dense"),
                                ("attention_output", "output_dense"))
            for number, weight in enumerate(("kernel", "bias"))}


TRANSFORMER_BLOCK_WEIGHTS = {
    **_attention_weights("multi_head_attention"),
    **{f"layer_normalization{suffix}/{weight}": f"layers/layer_normalization{suffix}/vars/{number}"
       for suffix in ("", "_1") for number, weight in enumerate(("gamma", "beta"))},
    **{f"dense{suffix}/{weight}": f"layers/dense{suffix}/vars/{number}"
       for suffix in ("", "_1") for number, weight in enumerate(("kernel", "bias"))},
}

# Cross-attention: 5 queries of width 12 attend over 7 values of width 6
# (Keras called it with query, value, key=value); output_shape 9.
CROSS_ATTENTION = """
    name: cross_attention
    inputs:
      query: [5, 12]
      value: [7, 6]
    layers:
      - {type: MultiHeadAttention, num_heads: 3, key_dim: 4, value_dim: 4, output_shape: [9], attention_axes: [1],
         inputs: [query, value, value], name: multi_head_attention}
    outputs: multi_head_attention
"""
CROSS_ATTENTION_WEIGHTS = _attention_weights("multi_head_attention")

# Bidirectional LSTM (concat) and GRU (sum), with a TimeDistributed Dense
# between. Keras named the wrapped layers 'lstm' and 'gru' (the config shows
# them renamed forward_lstm/backward_lstm); their h5 groups are
# forward_layer and backward_layer.
RECURRENT_WRAPPERS = """
    name: recurrent_wrappers
    input: [9, 4]
    layers:
      - type: Bidirectional
        merge_mode: concat
        layer: {type: LSTM, units: 6, return_sequences: true, name: lstm}
        name: bidirectional
      - type: TimeDistributed
        layer: {type: Dense, units: 5, activation: relu, name: dense}
        name: time_distributed
      - type: Bidirectional
        merge_mode: sum
        layer: {type: GRU, units: 4, return_sequences: false, reset_after: true, name: gru}
        name: bidirectional_1
      - {type: Dense, units: 2, activation: linear, name: dense_1}
"""
RECURRENT_WRAPPERS_WEIGHTS = {
    **{f"{wrapper}/{direction}_{layer}/{weight}": f"layers/{wrapper}/{direction}_layer/cell/vars/{number}"
       for wrapper, layer in (("bidirectional", "lstm"), ("bidirectional_1", "gru"))
       for direction in ("forward", "backward")
       for number, weight in enumerate(("kernel", "recurrent_kernel", "bias"))},
    "time_distributed/dense/kernel": "layers/time_distributed/layer/vars/0",
    "time_distributed/dense/bias": "layers/time_distributed/layer/vars/1",
    "dense_1/kernel": "layers/dense/vars/0",
    "dense_1/bias": "layers/dense/vars/1",
}

# Causal dilated Conv1D, a strided Conv1DTranspose, DepthwiseConv1D with
# depth_multiplier 2, SeparableConv1D, GroupNormalization (5 groups of 1
# channel), LeakyReLU 0.1, then mean over time and a Softmax layer.
CONV1D_FAMILY = """
    name: conv1d_family
    input: [20, 3]
    layers:
      - {type: Conv1D, filters: 6, kernel_size: 3, padding: causal, dilation_rate: 2, activation: relu, name: conv1d}
      - {type: Conv1DTranspose, filters: 4, kernel_size: 3, strides: 2, padding: valid, activation: linear,
         name: conv1d_transpose}
      - {type: DepthwiseConv1D, kernel_size: 3, depth_multiplier: 2, padding: valid, activation: linear,
         name: depthwise_conv1d}
      - {type: SeparableConv1D, filters: 5, kernel_size: 3, padding: same, depth_multiplier: 1, activation: linear,
         name: separable_conv1d}
      - {type: GroupNormalization, groups: 5, axis: -1, epsilon: 0.001, name: group_normalization}
      - {type: LeakyReLU, negative_slope: 0.1, name: leaky_re_lu}
      - {type: GlobalAveragePooling1D, name: global_average_pooling1d}
      - {type: Softmax, axis: -1, name: softmax}
"""
CONV1D_FAMILY_WEIGHTS = {
    "conv1d/kernel": "layers/conv1d/vars/0",
    "conv1d/bias": "layers/conv1d/vars/1",
    "conv1d_transpose/kernel": "layers/conv1d_transpose/vars/0",
    "conv1d_transpose/bias": "layers/conv1d_transpose/vars/1",
    "depthwise_conv1d/kernel": "layers/depthwise_conv1d/vars/0",
    "depthwise_conv1d/bias": "layers/depthwise_conv1d/vars/1",
    "separable_conv1d/depthwise_kernel": "layers/separable_conv1d/vars/0",
    "separable_conv1d/pointwise_kernel": "layers/separable_conv1d/vars/1",
    "separable_conv1d/bias": "layers/separable_conv1d/vars/2",
    "group_normalization/gamma": "layers/group_normalization/vars/0",
    "group_normalization/beta": "layers/group_normalization/vars/1",
}

#: Fixture -> (spec, our weight key -> h5 dataset path).
# seq_text as Keras has it: token ids, Embedding with mask_zero (the rows are
# right-padded with 0, the first also has a 0 inside), LSTM returning
# sequences, GRU (reset_after), Dense softmax: the LSTM and GRU skip the
# masked steps.
SEQ_TEXT = """
    name: seq_text
    input: [12]
    layers:
      - {type: Embedding, input_dim: 50, output_dim: 8, mask_zero: true, name: embedding}
      - {type: LSTM, units: 16, return_sequences: true, name: lstm}
      - {type: GRU, units: 8, reset_after: true, name: gru}
      - {type: Dense, units: 3, activation: softmax, name: dense}
"""
SEQ_TEXT_WEIGHTS = {
    "embedding/embeddings": "layers/embedding/vars/0",
    "lstm/kernel": "layers/lstm/cell/vars/0",
    "lstm/recurrent_kernel": "layers/lstm/cell/vars/1",
    "lstm/bias": "layers/lstm/cell/vars/2",
    "gru/kernel": "layers/gru/cell/vars/0",
    "gru/recurrent_kernel": "layers/gru/cell/vars/1",
    "gru/bias": "layers/gru/cell/vars/2",
    "dense/kernel": "layers/dense/vars/0",
    "dense/bias": "layers/dense/vars/1",
}

FIXTURE_SPECS = {
    "seq_mlp": (SEQ_MLP, SEQ_MLP_WEIGHTS),
    "seq_text": (SEQ_TEXT, SEQ_TEXT_WEIGHTS),
    "seq_cnn": (SEQ_CNN, SEQ_CNN_WEIGHTS),
    "func_resnet": (FUNC_RESNET, FUNC_RESNET_WEIGHTS),
    "func_two_inputs": (FUNC_TWO_INPUTS, FUNC_TWO_INPUTS_WEIGHTS),
    "shared_layer": (SHARED_LAYER, SHARED_LAYER_WEIGHTS),
    "nested": (NESTED, NESTED_WEIGHTS),
    "func_unet": (FUNC_UNET, FUNC_UNET_WEIGHTS),
    "mobilenet_block": (MOBILENET_BLOCK, MOBILENET_BLOCK_WEIGHTS),
    "transformer_block": (TRANSFORMER_BLOCK, TRANSFORMER_BLOCK_WEIGHTS),
    "cross_attention": (CROSS_ATTENTION, CROSS_ATTENTION_WEIGHTS),
    "recurrent_wrappers": (RECURRENT_WRAPPERS, RECURRENT_WRAPPERS_WEIGHTS),
    "conv1d_family": (CONV1D_FAMILY, CONV1D_FAMILY_WEIGHTS),
}

#: Fixture of MISSING_ARGUMENTS -> (its spec, the refused argument,
#: layerspec's message refusing it).
WAITING_SPECS: dict[str, tuple[str, str, str]] = {}


# --------------------------------------------------------------------------
# which fixtures are covered


def test_every_fixture_is_covered_or_listed_as_waiting():
    """Each fixture is covered by a spec here or in a sibling file
    (tests/test_keras_fixtures_*.py, written with the layers it needs), or
    is listed as waiting, never both."""
    covered, types, arguments = set(FIXTURE_SPECS), set(MISSING_TYPES), set(MISSING_ARGUMENTS)
    assert not covered & types and not covered & arguments and not types & arguments
    assert covered | types | arguments <= set(fixture_names())
    elsewhere = _covered_in_sibling_files()
    assert not elsewhere & (types | arguments), "covered elsewhere, yet listed as waiting"
    uncovered = set(fixture_names()) - covered - types - arguments - elsewhere
    assert not uncovered, f"fixtures nobody covers: {sorted(uncovered)}"


def _covered_in_sibling_files() -> set[str]:
    """Fixtures a sibling test file names in quotes (``load_fixture("NAME")``)."""
    found = set()
    for path in sorted(pathlib.Path(__file__).parent.glob("test_keras_fixtures_*.py")):
        text = path.read_text(encoding="utf-8")
        found.update(name for name in fixture_names() if f'"{name}"' in text or f"'{name}'" in text)
    return found


def test_missing_types_are_exactly_the_registrys(cli):
    """MISSING_TYPES lists exactly the fixtures needing a type `layerspec
    layers` does not list, with exactly those types: when a layer lands, this
    fails until the entry goes (its fixtures being covered, see above)."""
    registered = registered_types(cli)
    missing = {}
    for name, entry in read_index()["fixtures"].items():
        lacking = tuple(sorted(needed_types(entry["layers"]) - registered))
        if lacking:
            missing[name] = lacking
    assert missing == MISSING_TYPES


def test_parts_and_containers_are_really_so(cli):
    """What index.json lists beyond the layers in config.json is only parts of
    those layers (LSTMCell of an LSTM), for each fixture copied here (by any
    test); a layer of the model that needed_types leaves out as a part of
    another (a Dropout beside a MultiHeadAttention) is registered, so leaving
    it out hides nothing."""
    registered = registered_types(cli)
    copied = [name for name in fixture_names() if (fixture_dir() / f"{name}.keras").exists()]
    assert set(FIXTURE_SPECS) | set(MISSING_ARGUMENTS) <= set(copied)
    for name in copied:
        fixture = load_fixture(name)
        in_config = _config_layer_classes(fixture.config)
        listed = set(fixture.layer_classes)
        assert in_config <= listed, name
        for part in listed - in_config:
            assert PARTS.get(part) in in_config, (name, part)
        needed = needed_types(listed)
        assert needed <= in_config - CONTAINERS, name
        for layer in in_config - CONTAINERS - needed:
            assert layer in PARTS and layer in registered, (name, layer)


def _config_layer_classes(config) -> set[str]:
    """Every Keras layer class inside a model's config (nested models and
    wrapped layers too; not the model's own class)."""
    found = set()

    def walk(item):
        if isinstance(item, dict):
            if item.get("module") == "keras.layers" or item.get("class_name") in CONTAINERS:
                found.add(item["class_name"])
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(config["config"])
    return found


# --------------------------------------------------------------------------
# the comparisons


@pytest.mark.parametrize("name", sorted(FIXTURE_SPECS))
def test_spec_computes_what_keras_computes(name):
    spec, mapping = FIXTURE_SPECS[name]
    fixture = load_fixture(name)
    outputs = run_spec(spec, keras_weights(fixture, mapping), fixture.inputs)
    assert_matches_keras(fixture, outputs)


@pytest.mark.parametrize("name", sorted(FIXTURE_SPECS))
def test_spec_has_keras_parameter_count(name):
    spec, _ = FIXTURE_SPECS[name]
    assert spec_model(spec).count_params() == load_fixture(name).params


def test_shared_layer_weights_count_once():
    model = spec_model(SHARED_LAYER)
    assert [key for key, _ in model.weight_items()] == ["encoder/kernel", "encoder/bias"]
    assert model.count_params() == 10 * 6 + 6


def test_func_two_inputs_answers_by_output_name():
    fixture = load_fixture("func_two_inputs")
    outputs = run_spec(FUNC_TWO_INPUTS, keras_weights(fixture, FUNC_TWO_INPUTS_WEIGHTS), fixture.inputs)
    assert list(outputs) == ["cls", "reg"]
    assert outputs["cls"].shape == (4, 3) and outputs["reg"].shape == (4, 1)


# --------------------------------------------------------------------------
# seq_text: masks


def test_every_fixture_waiting_for_an_argument_has_its_spec():
    assert set(WAITING_SPECS) == set(MISSING_ARGUMENTS)


def test_fixtures_waiting_for_an_argument_are_refused_as_listed():
    """When layerspec accepts the argument this fails: move the fixture's
    spec into FIXTURE_SPECS then. (None waits today.)"""
    for spec, argument, message in WAITING_SPECS.values():
        with pytest.raises(ArgumentError) as error:
            spec_model(spec)
        assert error.value.message == message
        assert error.value.argument == argument


def test_seq_text_masks_matter():
    """The fixture's padding changes Keras's answer: without the mask the
    same weights give other outputs, so agreeing with Keras (the test over
    FIXTURE_SPECS) shows the mask was followed, not just the weights."""
    fixture = load_fixture("seq_text")
    tokens = fixture.inputs["input_layer"]
    assert (tokens == 0).any(axis=1).all()  # every row has masked steps
    lengths = (tokens != 0).sum(axis=1)
    assert tokens[0, 2] == 0 and (tokens[0, 3:lengths[0] + 1] != 0).all()  # a hole before the padding
    unmasked = run_spec(SEQ_TEXT.replace("mask_zero: true", "mask_zero: false"),
                        keras_weights(fixture, SEQ_TEXT_WEIGHTS), tokens)
    assert not np.allclose(unmasked, fixture.outputs["dense"], rtol=RTOL, atol=ATOL)


def test_seq_text_equals_the_model_run_on_each_row_without_its_zeros():
    """Keras's masked LSTM and GRU keep their state across a masked step and
    the GRU answers its state after the last unmasked one: each row equals
    the unmasked model on that row with its 0 tokens removed."""
    fixture = load_fixture("seq_text")
    spec = SEQ_TEXT.replace("mask_zero: true", "mask_zero: false").replace("input: [12]", "input: [null]")
    weights = keras_weights(fixture, SEQ_TEXT_WEIGHTS)
    tokens = fixture.inputs["input_layer"]
    masked = run_spec(SEQ_TEXT, weights, tokens)
    for row in range(len(tokens)):
        kept = tokens[row][tokens[row] != 0][None]
        np.testing.assert_allclose(masked[row:row + 1], run_spec(spec, weights, kept), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------
# the utility itself


def test_fixture_files_are_in_the_repository():
    directory = fixture_dir()
    assert directory.name == "keras" and directory.parent.name == "fixtures"
    assert read_index()["keras_version"].startswith("3.")
    for name in sorted(set(FIXTURE_SPECS) | set(MISSING_ARGUMENTS)):
        for suffix in (".keras", ".inputs.npz", ".outputs.npz"):
            assert (directory / f"{name}{suffix}").is_file(), name + suffix


def test_load_fixture_reads_config_weights_and_samples():
    fixture = load_fixture("seq_mlp")
    assert fixture.config["class_name"] == "Sequential"
    assert sorted(fixture.h5) == ["layers/dense/vars/0", "layers/dense/vars/1", "layers/dense_1/vars/0",
                                  "layers/dense_2/vars/0", "layers/dense_2/vars/1"]
    assert fixture.h5["layers/dense/vars/0"].shape == (20, 32)
    assert fixture.inputs["input_layer"].shape == (4, 20)
    assert fixture.outputs["dense_2"].dtype == np.float32
    assert fixture.params == 1252 and "Dropout" in fixture.layer_classes


def test_load_fixture_names_what_exists():
    with pytest.raises(ValueError, match="no Keras fixture 'nope'; index.json lists: seq_mlp, seq_cnn"):
        load_fixture("nope")


def test_keras_weights_refuses_unknown_and_unmapped_datasets():
    fixture = load_fixture("shared_layer")
    with pytest.raises(KeyError, match="no h5 dataset 'layers/dense/vars/2'"):
        keras_weights(fixture, {"encoder/kernel": "layers/dense/vars/2"})
    with pytest.raises(KeyError, match="h5 datasets not mapped: layers/dense/vars/1"):
        keras_weights(fixture, {"encoder/kernel": "layers/dense/vars/0"})
    assert list(keras_weights(fixture, {"encoder/kernel": "layers/dense/vars/0"}, use_all=False)) == ["encoder/kernel"]


def test_run_spec_names_inputs_that_do_not_fit():
    fixture = load_fixture("shared_layer")
    weights = keras_weights(fixture, SHARED_LAYER_WEIGHTS)
    with pytest.raises(KeyError, match=r"the spec's inputs are \['left', 'right'\], the arrays' \['left', 'up'\]"):
        run_spec(SHARED_LAYER, weights, {"left": fixture.inputs["left"], "up": fixture.inputs["right"]})
