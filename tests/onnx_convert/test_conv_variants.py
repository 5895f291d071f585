"""Transposed, depthwise and separable convolutions exported to ONNX compute
what layerspec computes."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper

from layerspec.onnx_builder import MAX_OPSET
from layerspec.onnx_export import export_onnx
from tests.onnx_helpers import assert_onnx_matches, model_of, one_layer, onnx_output

#: Batch sizes and dynamic lengths (every remainder mod 3, and 1).
LENGTHS = dict(batches=(2, 1, 3, 1), lengths=(7, 8, 9, 1))






# -- transposed ------------------------------------------------------------------

#: (kernel_size, strides, dilation_rate, output_padding): kernels shorter,
#: equal and longer than the stride, every output_padding below it.
TRANSPOSE_CASES = [(3, 1, 1, "null"), (3, 2, 1, "null"), (3, 2, 1, 0), (3, 2, 1, 1), (2, 2, 1, "null"),
                   (4, 2, 1, 1), (1, 3, 1, "null"), (2, 3, 1, 2), (5, 3, 1, 0), (3, 1, 2, "null"), (3, 1, 2, 0),
                   (2, 1, 3, "null"), (4, 4, 1, 3)]


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kernel,strides,dilation,output_padding", TRANSPOSE_CASES)
def test_conv1d_transpose_every_window(padding, kernel, strides, dilation, output_padding):
    spec = one_layer("[null, 3]", "Conv1DTranspose", filters=2, kernel_size=kernel, strides=strides,
                     dilation_rate=dilation, padding=padding, output_padding=output_padding)
    assert_onnx_matches(spec, **LENGTHS)


def test_conv1d_transpose_values_exactly():
    # [1, 2] scattered with a ones kernel of 3 at stride 2: [1, 1, 1+2, 2, 2].
    model = model_of(one_layer("[2, 1]", "Conv1DTranspose", filters=1, kernel_size=3, strides=2, use_bias="false"))
    model.set_weights({"conv1d_transpose/kernel": np.ones((3, 1, 1), np.float32)})
    x = np.array([1, 2], np.float32).reshape(1, 2, 1)
    np.testing.assert_array_equal(onnx_output(model, x)[0, :, 0], [1, 1, 3, 2, 2])


def test_conv1d_transpose_output_past_the_scatter_holds_the_bias():
    # 'same', kernel 1, strides 3: output 3n, of which only every third cell
    # gets an input; ONNX writes the last two with output_padding.
    model = model_of(one_layer("[2, 1]", "Conv1DTranspose", filters=1, kernel_size=1, strides=3,
                               padding="same", bias_initializer="ones"))
    model.set_weights({"conv1d_transpose/kernel": np.full((1, 1, 1), 2.0, np.float32),
                       "conv1d_transpose/bias": np.ones(1, np.float32)})
    node = next(node for node in export_onnx(model).model.graph.node if node.op_type == "ConvTranspose")
    attributes = {attribute.name: list(attribute.ints) for attribute in node.attribute}
    assert attributes["pads"] == [0, 0] and attributes["output_padding"] == [2]
    x = np.array([1, 2], np.float32).reshape(1, 2, 1)
    np.testing.assert_array_equal(onnx_output(model, x)[0, :, 0], [3, 1, 1, 5, 1, 1])


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation,output_padding", [("[2, 3]", 1, "null"), ("[2, 3]", 1, "[1, 0]"),
                                                              (1, "[2, 1]", "null"), ("[3, 1]", 1, "[2, 0]")])
def test_conv2d_transpose_on_odd_sizes(padding, strides, dilation, output_padding):
    spec = one_layer("[5, 4, 3]", "Conv2DTranspose", filters=4, kernel_size="[3, 2]", strides=strides,
                     dilation_rate=dilation, padding=padding, output_padding=output_padding, activation="relu")
    assert_onnx_matches(spec)


def test_conv2d_transpose_dynamic_sizes_no_bias_at_max_opset():
    spec = one_layer("[null, null, 2]", "Conv2DTranspose", filters=3, kernel_size=3, strides=2, padding="same",
                     use_bias="false", activation="tanh")
    assert_onnx_matches(spec, **LENGTHS)
    assert_onnx_matches(spec, opset=MAX_OPSET)


# -- depthwise ---------------------------------------------------------------------

def test_depthwise_kernel_layout_puts_output_channel_c_m_in_group_c():
    model = model_of(one_layer("[5, 3]", "DepthwiseConv1D", kernel_size=2, depth_multiplier=2))
    kernel = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)  # (k, C, M)
    model.set_weights({"depthwise_conv1d/kernel": kernel, "depthwise_conv1d/bias": np.zeros(6, np.float32)})
    graph = export_onnx(model).model.graph
    node = next(node for node in graph.node if node.op_type == "Conv")
    weight = numpy_helper.to_array(next(tensor for tensor in graph.initializer if tensor.name == node.input[1]))
    assert weight.shape == (6, 1, 2)
    assert next(attribute.i for attribute in node.attribute if attribute.name == "group") == 3
    for c in range(3):
        for m in range(2):
            np.testing.assert_array_equal(weight[c * 2 + m, 0], kernel[:, c, m])


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (3, 1), (1, 2)])
@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_conv1d(padding, strides, dilation, multiplier):
    spec = one_layer("[null, 3]", "DepthwiseConv1D", kernel_size=3, strides=strides, dilation_rate=dilation,
                     padding=padding, depth_multiplier=multiplier)
    assert_onnx_matches(spec, **dict(batches=(2, 1, 3), lengths=(7, 8, 9)))


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), ("[2, 3]", 1), (1, "[1, 2]")])
def test_depthwise_conv2d_on_odd_sizes(padding, strides, dilation):
    spec = one_layer("[7, 6, 3]", "DepthwiseConv2D", kernel_size="[3, 2]", strides=strides, dilation_rate=dilation,
                     padding=padding, depth_multiplier=2, activation="relu")
    assert_onnx_matches(spec)


def test_depthwise_conv2d_no_bias_dynamic_at_max_opset():
    spec = one_layer("[null, 5, 4]", "DepthwiseConv2D", kernel_size=3, strides=2, padding="same", use_bias="false")
    assert_onnx_matches(spec, **dict(batches=(2, 1), lengths=(6, 7)))
    assert_onnx_matches(spec, opset=MAX_OPSET)


# -- separable ---------------------------------------------------------------------

@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (1, 2)])
def test_separable_conv1d(padding, strides, dilation):
    spec = one_layer("[null, 3]", "SeparableConv1D", filters=5, kernel_size=3, strides=strides,
                     dilation_rate=dilation, padding=padding, depth_multiplier=2, activation="tanh")
    assert_onnx_matches(spec, **dict(batches=(2, 1, 3), lengths=(7, 8, 9)))


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation,multiplier,use_bias", [(1, 1, 1, "true"), ("[2, 3]", 1, 2, "false"),
                                                                  (1, 2, 3, "true")])
def test_separable_conv2d_on_odd_sizes(padding, strides, dilation, multiplier, use_bias):
    spec = one_layer("[7, 7, 3]", "SeparableConv2D", filters=4, kernel_size=3, strides=strides,
                     dilation_rate=dilation, padding=padding, depth_multiplier=multiplier, use_bias=use_bias,
                     activation="softmax")
    assert_onnx_matches(spec)
    assert_onnx_matches(spec, opset=MAX_OPSET)


def test_separable_conv_exports_a_grouped_then_a_pointwise_conv():
    export = export_onnx(model_of(one_layer("[6, 6, 3]", "SeparableConv2D", filters=4, kernel_size=3,
                                            depth_multiplier=2)))
    convs = [node for node in export.model.graph.node if node.op_type == "Conv"]
    groups = [next((a.i for a in node.attribute if a.name == "group"), 1) for node in convs]
    assert groups == [3, 1]


@pytest.mark.parametrize("layer,arguments", [
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2)),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, padding="same")),
    ("SeparableConv2D", dict(filters=4, kernel_size=3, strides=2, padding="same")),
])
@pytest.mark.parametrize("activation", ["glu", "{name: softmax, axis: 1}"])
def test_activations_that_reshape_or_work_along_another_axis(layer, arguments, activation):
    assert_onnx_matches(one_layer("[5, 4, 2]", layer, activation=activation, **arguments))
