"""Keras 3's transposed, depthwise and separable convolution fixtures, written
by hand as specs: outputs and parameter counts equal Keras's.

func_unet (Conv2DTranspose, UpSampling2D, Concatenate skips), mobilenet_block
(DepthwiseConv2D with strides 2, SeparableConv2D with depth_multiplier 2,
ReLU max_value 6, BatchNormalization, an Add skip) and conv1d_family (causal
dilated Conv1D, Conv1DTranspose, DepthwiseConv1D, SeparableConv1D,
GroupNormalization, LeakyReLU, Softmax). Each spec is written from the
fixture's config.json; the h5 groups are named by class and a counter in
model order, a layer's variables numbered in creation order (a transposed or
depthwise kernel, then the bias; a separable layer's depthwise kernel,
pointwise kernel, bias; a BatchNormalization's gamma, beta, moving mean,
moving variance).
"""

from __future__ import annotations

import pytest

from tests.keras_fixtures import assert_matches_keras, keras_weights, load_fixture, run_spec, spec_model

# conv2d_transpose (2x2, strides 2, same) upsamples conv2d_1 back to 16x16
# and joins conv2d; a second branch upsamples conv2d_1 by repetition.
FUNC_UNET = """
    name: func_unet
    inputs:
      image: [16, 16, 1]
    layers:
      - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, activation: relu, inputs: image, name: conv2d}
      - {type: MaxPooling2D, pool_size: 2, strides: 2, padding: valid, name: max_pooling2d}
      - {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu, name: conv2d_1}
      - {type: Conv2DTranspose, filters: 4, kernel_size: 2, strides: 2, padding: same, output_padding: null,
         activation: linear, name: conv2d_transpose}
      - {type: Concatenate, axis: -1, inputs: [conv2d, conv2d_transpose], name: concatenate}
      - {type: UpSampling2D, size: 2, interpolation: nearest, inputs: conv2d_1, name: up_sampling2d}
      - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, activation: relu, inputs: concatenate,
         name: conv2d_2}
      - {type: Conv2D, filters: 4, kernel_size: 1, padding: valid, inputs: up_sampling2d, name: conv2d_3}
      - {type: Concatenate, axis: -1, inputs: [conv2d_2, conv2d_3], name: concatenate_1}
      - {type: Conv2D, filters: 1, kernel_size: 1, activation: sigmoid, name: conv2d_4}
    outputs: conv2d_4
"""
FUNC_UNET_WEIGHTS = {
    **{f"{name}/{weight}": f"layers/{name}/vars/{index}"
       for name in ("conv2d", "conv2d_1", "conv2d_2", "conv2d_3", "conv2d_4", "conv2d_transpose")
       for index, weight in enumerate(("kernel", "bias"))},
}

MOBILENET_BLOCK = """
    name: mobilenet_block
    inputs:
      image: [16, 16, 8]
    layers:
      - {type: Conv2D, filters: 16, kernel_size: 1, use_bias: false, name: conv2d}
      - {type: BatchNormalization, axis: -1, momentum: 0.99, epsilon: 0.001, name: batch_normalization}
      - {type: ReLU, max_value: 6.0, negative_slope: 0.0, threshold: 0.0, name: re_lu}
      - {type: DepthwiseConv2D, kernel_size: 3, strides: 2, padding: same, depth_multiplier: 1, use_bias: false,
         activation: linear, name: depthwise_conv2d}
      - {type: BatchNormalization, axis: -1, momentum: 0.99, epsilon: 0.001, name: batch_normalization_1}
      - {type: ReLU, max_value: 6.0, name: re_lu_1}
      - {type: Conv2D, filters: 8, kernel_size: 1, use_bias: false, name: conv2d_1}
      - {type: SeparableConv2D, filters: 8, kernel_size: 3, strides: 1, padding: same, depth_multiplier: 2,
         activation: relu, use_bias: true, name: separable_conv2d}
      - {type: Add, inputs: [conv2d_1, separable_conv2d], name: add}
      - {type: Conv2D, filters: 8, kernel_size: 1, name: conv2d_2}
      - {type: GlobalMaxPooling2D, keepdims: false, name: global_max_pooling2d}
    outputs: global_max_pooling2d
"""
MOBILENET_BLOCK_WEIGHTS = {
    "conv2d/kernel": "layers/conv2d/vars/0",
    **{f"{name}/{weight}": f"layers/{name}/vars/{index}"
       for name in ("batch_normalization", "batch_normalization_1")
       for index, weight in enumerate(("gamma", "beta", "moving_mean", "moving_variance"))},
    "depthwise_conv2d/kernel": "layers/depthwise_conv2d/vars/0",
    "conv2d_1/kernel": "layers/conv2d_1/vars/0",
    "separable_conv2d/depthwise_kernel": "layers/separable_conv2d/vars/0",
    "separable_conv2d/pointwise_kernel": "layers/separable_conv2d/vars/1",
    "separable_conv2d/bias": "layers/separable_conv2d/vars/2",
    "conv2d_2/kernel": "layers/conv2d_2/vars/0",
    "conv2d_2/bias": "layers/conv2d_2/vars/1",
}

# A Sequential model: 20 steps → causal dilated Conv1D → Conv1DTranspose
# (kernel 3, strides 2, valid: 41 steps) → DepthwiseConv1D (depth_multiplier
# 2: 39 steps, 8 channels) → SeparableConv1D (5 filters, same) →
# GroupNormalization (5 groups) → LeakyReLU 0.1 → global average → softmax.
CONV1D_FAMILY = """
    name: conv1d_family
    input: [20, 3]
    layers:
      - {type: Conv1D, filters: 6, kernel_size: 3, padding: causal, dilation_rate: 2, activation: relu,
         name: conv1d}
      - {type: Conv1DTranspose, filters: 4, kernel_size: 3, strides: 2, padding: valid, name: conv1d_transpose}
      - {type: DepthwiseConv1D, kernel_size: 3, depth_multiplier: 2, padding: valid, name: depthwise_conv1d}
      - {type: SeparableConv1D, filters: 5, kernel_size: 3, padding: same, depth_multiplier: 1,
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
FIXTURES = {
    "func_unet": (FUNC_UNET, FUNC_UNET_WEIGHTS),
    "mobilenet_block": (MOBILENET_BLOCK, MOBILENET_BLOCK_WEIGHTS),
    "conv1d_family": (CONV1D_FAMILY, CONV1D_FAMILY_WEIGHTS),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_spec_computes_what_keras_computes(name):
    spec, mapping = FIXTURES[name]
    fixture = load_fixture(name)
    assert_matches_keras(fixture, run_spec(spec, keras_weights(fixture, mapping), fixture.inputs))


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_spec_has_keras_parameter_count(name):
    spec, _ = FIXTURES[name]
    assert spec_model(spec).count_params() == load_fixture(name).params


def test_every_intermediate_shape_is_keras():
    """The shapes Keras recorded for each layer's input in config.json are the shapes our layers see."""
    for name in ("func_unet", "mobilenet_block"):  # functional: config.json records every call's input
        spec, _ = FIXTURES[name]
        fixture = load_fixture(name)
        model = spec_model(spec)
        ours = {layer.name: shape for layer, shape in zip(model.layers, model.shapes)}
        checked = 0
        for entry in fixture.config["config"]["layers"]:
            nodes = entry.get("inbound_nodes") or []
            if not nodes or entry["class_name"] == "InputLayer":
                continue
            arguments = nodes[0]["args"][0]
            first = arguments[0] if isinstance(arguments, list) else arguments
            expected = tuple(first["config"]["shape"])
            input_shape = ours[entry["config"]["name"]][0]
            if isinstance(input_shape, list):
                input_shape = input_shape[0]
            assert tuple(input_shape) == expected, (name, entry["config"]["name"])
            checked += 1
        assert checked == len(model.layers)


def test_conv1d_family_shapes():
    # A Sequential's config.json records no call shapes: Keras's, worked out by hand.
    model = spec_model(CONV1D_FAMILY)
    assert [shape[1] for shape in model.shapes] == [
        (None, 20, 6), (None, 41, 4), (None, 39, 8), (None, 39, 5), (None, 39, 5), (None, 39, 5), (None, 5),
        (None, 5)]
