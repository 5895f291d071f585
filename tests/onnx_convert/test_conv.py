"""Conv1D and Conv2D exported to ONNX compute what layerspec computes."""

from __future__ import annotations

import numpy as np
import pytest

from layerspec.onnx_builder import MAX_OPSET, ExportError
from layerspec.onnx_export import export_onnx
from tests.onnx_helpers import assert_onnx_matches, model_of, onnx_output

#: (strides, dilation_rate) pairs layerspec accepts (not both above 1).
STEPS = [(1, 1), (2, 1), (3, 1), (1, 2)]

#: Lengths covering every remainder mod 3 (the 'same' pads of a dynamic
#: length depend on it), with the batch sizes to run them at.
LENGTHS = dict(batches=(2, 1, 3), lengths=(7, 8, 9))




def conv1d(size, channels=3, filters=4, **arguments) -> str:
    written = ", ".join(f"{key}: {value}" for key, value in arguments.items())
    return f"""
    input: [{size}, {channels}]
    layers:
      - {{type: Conv1D, filters: {filters}, {written}}}
    """


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides,dilation", STEPS)
@pytest.mark.parametrize("size", [9, "null"])
def test_conv1d_every_padding_stride_and_dilation(padding, strides, dilation, size):
    spec = conv1d(size, kernel_size=3, strides=strides, dilation_rate=dilation, padding=padding)
    export = assert_onnx_matches(spec, **LENGTHS)
    assert export.opset == 13


@pytest.mark.parametrize("kernel_size", [1, 2, 4])
def test_conv1d_even_and_unit_kernels_pad_unevenly_after(kernel_size):
    # An even window's odd pad cell goes after, as Keras puts it.
    assert_onnx_matches(conv1d("null", kernel_size=kernel_size, strides=2, padding="same"), **LENGTHS)
    assert_onnx_matches(conv1d(8, kernel_size=kernel_size, padding="same"))


def test_conv1d_same_values_exactly():
    # [1..5] with a ones kernel of 3, 'same': one zero each side.
    model = model_of(conv1d(5, 1, 1, kernel_size=3, padding="same", use_bias="false"))
    model.set_weights({"conv1d/kernel": np.ones((3, 1, 1), np.float32)})
    x = np.arange(1, 6, dtype=np.float32).reshape(1, 5, 1)
    np.testing.assert_array_equal(onnx_output(model, x)[0, :, 0], [3, 6, 9, 12, 9])


def test_conv1d_causal_values_see_no_future():
    model = model_of(conv1d(4, 1, 1, kernel_size=2, padding="causal", use_bias="false"))
    model.set_weights({"conv1d/kernel": np.array([[[1.0]], [[10.0]]], np.float32)})
    x = np.array([1, 2, 3, 4], np.float32).reshape(1, 4, 1)
    # y[t] = x[t-1] + 10 x[t], x[-1] = 0.
    np.testing.assert_array_equal(onnx_output(model, x)[0, :, 0], [10, 21, 32, 43])


def test_conv1d_groups_no_bias_and_activation():
    spec = """
    input: [null, 6]
    layers:
      - {type: Conv1D, filters: 4, kernel_size: 3, groups: 2, padding: same, strides: 2, use_bias: false,
         activation: relu}
      - {type: Conv1D, filters: 6, kernel_size: 2, groups: 2, dilation_rate: 2, padding: causal, activation: tanh}
    """
    assert_onnx_matches(spec, **LENGTHS)
    assert_onnx_matches(spec, opset=MAX_OPSET)


def conv2d(shape, **arguments) -> str:
    written = ", ".join(f"{key}: {value}" for key, value in arguments.items())
    return f"""
    input: {shape}
    layers:
      - {{type: Conv2D, filters: 4, {written}}}
    """


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), ("[2, 3]", 1), (2, 1), (1, "[2, 1]"), (1, 2)])
def test_conv2d_every_padding_stride_and_dilation_on_odd_sizes(padding, strides, dilation):
    spec = conv2d("[7, 8, 3]", kernel_size="[3, 2]", strides=strides, dilation_rate=dilation, padding=padding)
    assert_onnx_matches(spec)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_dynamic_height_and_width(padding):
    # Both spatial sizes null: 'same' with strides 2 pads at run time.
    spec = conv2d("[null, null, 3]", kernel_size=3, strides=2, padding=padding)
    export = assert_onnx_matches(spec, **LENGTHS)
    assert export.shapes["conv2d"] == (None, None, None, 4)


def test_conv2d_one_dynamic_size_keeps_the_other_known():
    spec = conv2d("[null, 9, 3]", kernel_size=3, strides=[2, 2], padding="same")
    export = assert_onnx_matches(spec, **LENGTHS)
    assert export.shapes["conv2d"] == (None, None, 5, 4)


def test_conv2d_groups_no_bias_activation_at_max_opset():
    spec = """
    input: [6, 5, 4]
    layers:
      - {type: Conv2D, filters: 6, kernel_size: 3, groups: 2, padding: same, activation: relu}
      - {type: Conv2D, filters: 6, kernel_size: [1, 3], groups: 3, strides: [1, 2], use_bias: false}
      - {type: Conv2D, filters: 3, kernel_size: 2, activation: softmax}
    """
    assert_onnx_matches(spec)
    assert assert_onnx_matches(spec, opset=MAX_OPSET).opset == MAX_OPSET


def test_reused_conv_shares_one_kernel_initializer():
    spec = """
    input: [6, 6, 3]
    layers:
      - {type: Conv2D, filters: 3, kernel_size: 3, padding: same, name: conv}
      - {reuse: conv, name: again}
    """
    export = assert_onnx_matches(spec)
    kernels = [tensor.name for tensor in export.model.graph.initializer if "kernel" in tensor.name]
    assert len(kernels) == 1


def test_python_activation_is_refused_naming_the_layer():
    model = model_of(conv1d(5, kernel_size=3))
    model.layers[0].activation = lambda x: x * 2
    with pytest.raises(ExportError, match=r"layer 'conv1d' \(Conv1D\) cannot be exported to ONNX: its activation "
                                          r"is a Python function"):
        export_onnx(model)


@pytest.mark.parametrize("activation", ["glu", "{name: softmax, axis: 1}", "gelu",
                                        "{name: leaky_relu, negative_slope: 0.1}"])
def test_conv_activations_that_reshape_or_work_along_another_axis(activation):
    # glu halves the filters after the Conv: the activation sees the
    # pre-activation shape, not the node's output shape.
    assert_onnx_matches(conv2d("[5, 6, 3]", kernel_size=3, padding="same", activation=activation))
    assert_onnx_matches(conv1d("null", kernel_size=3, strides=2, padding="same", activation=activation), **LENGTHS)
