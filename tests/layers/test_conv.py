"""Conv1D and Conv2D: shapes, values against plain loops, weights, errors."""

import math

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers import conv
from layerspec.layers.conv import Conv1D, Conv2D
from layerspec.model import Sequential
from layerspec.registry import lookup
from layerspec.spec import build_model, loads_spec


# -- plain-loop references ---------------------------------------------------
def axis_padding(size, kernel, stride, dilation, padding):
    """(before, after) for one axis, written out from Keras's rules."""
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def conv2d_reference(x, kernel, bias, strides=(1, 1), padding="valid", dilation=(1, 1), groups=1):
    """Cross-correlation by nested loops in float64; padding cells read as 0."""
    batch, height, width, channels = x.shape
    kh, kw, per_group, filters = kernel.shape
    (top, bottom) = axis_padding(height, kh, strides[0], dilation[0], padding)
    (left, right) = axis_padding(width, kw, strides[1], dilation[1], padding)
    out_h = (height + top + bottom - (kh - 1) * dilation[0] - 1) // strides[0] + 1
    out_w = (width + left + right - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    filters_per_group = filters // groups
    out = np.zeros((batch, out_h, out_w, filters))
    for b in range(batch):
        for oy in range(out_h):
            for ox in range(out_w):
                for f in range(filters):
                    group = f // filters_per_group
                    total = 0.0 if bias is None else float(bias[f])
                    for ky in range(kh):
                        for kx in range(kw):
                            iy = oy * strides[0] + ky * dilation[0] - top
                            ix = ox * strides[1] + kx * dilation[1] - left
                            if not (0 <= iy < height and 0 <= ix < width):
                                continue
                            for c in range(per_group):
                                total += float(x[b, iy, ix, group * per_group + c]) * float(kernel[ky, kx, c, f])
                    out[b, oy, ox, f] = total
    return out


def conv1d_reference(x, kernel, bias, stride=1, padding="valid", dilation=1, groups=1):
    """1D cross-correlation by nested loops in float64; padding reads as 0."""
    batch, steps, channels = x.shape
    k, per_group, filters = kernel.shape
    before, after = axis_padding(steps, k, stride, dilation, padding)
    out_len = (steps + before + after - (k - 1) * dilation - 1) // stride + 1
    filters_per_group = filters // groups
    out = np.zeros((batch, out_len, filters))
    for b in range(batch):
        for t in range(out_len):
            for f in range(filters):
                group = f // filters_per_group
                total = 0.0 if bias is None else float(bias[f])
                for j in range(k):
                    i = t * stride + j * dilation - before
                    if 0 <= i < steps:
                        for c in range(per_group):
                            total += float(x[b, i, group * per_group + c]) * float(kernel[j, c, f])
                out[b, t, f] = total
    return out


def random_layer(layer, input_shape, seed=0):
    """Build ``layer`` for ``input_shape`` and give it random float32 weights."""
    rng = np.random.default_rng(seed)
    layer.build_for((None,) + input_shape[1:])
    for weight in layer.weights:
        weight.assign(rng.standard_normal(weight.shape).astype(np.float32))
    x = rng.standard_normal(input_shape).astype(np.float32)
    return x


def bias_of(layer):
    return None if layer.bias is None else layer.bias.value


TOLERANCE = {"rtol": 2e-5, "atol": 2e-5}


# -- shapes -------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, steps, expected", [
    ({"kernel_size": 3}, 10, 8),
    ({"kernel_size": 3, "strides": 2}, 10, 4),
    ({"kernel_size": 3, "strides": 3}, 10, 3),
    ({"kernel_size": 4, "strides": 2, "padding": "same"}, 9, 5),
    ({"kernel_size": 3, "padding": "same"}, 10, 10),
    ({"kernel_size": 3, "strides": 3, "padding": "same"}, 10, 4),
    ({"kernel_size": 3, "dilation_rate": 2}, 10, 6),
    ({"kernel_size": 3, "dilation_rate": 2, "padding": "causal"}, 10, 10),
    ({"kernel_size": 2, "strides": 2, "padding": "causal"}, 9, 5),
    ({"kernel_size": 10}, 10, 1),                       # just fits
    ({"kernel_size": 3, "dilation_rate": 2}, 5, 1),     # dilated span 5 just fits
    ({"kernel_size": [7], "padding": "same"}, 3, 3),    # same never shrinks below 1
    ({"kernel_size": 3}, None, None),
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, None, None),
])
def test_conv1d_output_shapes(kwargs, steps, expected):
    layer = Conv1D(filters=4, **kwargs)
    layer.build_for((None, steps, 3))
    assert layer.compute_output_shape((None, steps, 3)) == (None, expected, 4)


@pytest.mark.parametrize("kwargs, spatial, expected", [
    ({"kernel_size": 5}, (28, 28), (24, 24)),
    ({"kernel_size": (3, 2), "strides": (2, 3)}, (7, 8), (3, 3)),
    ({"kernel_size": 4, "strides": 2, "padding": "same"}, (7, 8), (4, 4)),
    ({"kernel_size": 2, "padding": "same"}, (5, 5), (5, 5)),
    ({"kernel_size": 3, "strides": 3, "padding": "same"}, (8, 7), (3, 3)),
    ({"kernel_size": 3, "dilation_rate": 2, "padding": "same"}, (6, 7), (6, 7)),
    ({"kernel_size": 3, "dilation_rate": (1, 2)}, (6, 7), (4, 3)),
    ({"kernel_size": (28, 1)}, (28, 28), (1, 28)),
    ({"kernel_size": 5}, (None, 28), (None, 24)),
    ({"kernel_size": 5, "padding": "same", "strides": 2}, (None, None), (None, None)),
])
def test_conv2d_output_shapes(kwargs, spatial, expected):
    layer = Conv2D(filters=6, **kwargs)
    layer.build_for((None,) + spatial + (2,))
    assert layer.compute_output_shape((None,) + spatial + (2,)) == (None,) + expected + (6,)


# -- values -------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 3}, (2, 6, 7, 3)),
    ({"kernel_size": 4, "padding": "same"}, (2, 7, 8, 2)),             # even kernel: pad 1 before, 2 after
    ({"kernel_size": (2, 4), "strides": 2, "padding": "same"}, (2, 7, 7, 2)),  # odd sizes, stride 2
    ({"kernel_size": 3, "strides": 3, "padding": "same"}, (2, 8, 7, 1)),
    ({"kernel_size": (3, 2), "strides": (2, 3)}, (2, 7, 8, 2)),
    ({"kernel_size": 3, "dilation_rate": 2}, (2, 7, 8, 2)),
    ({"kernel_size": 3, "dilation_rate": (2, 1), "padding": "same"}, (2, 6, 5, 2)),
    ({"kernel_size": 3, "groups": 2, "padding": "same"}, (2, 5, 6, 4)),
    ({"kernel_size": 2, "groups": 3}, (2, 4, 5, 6)),
    ({"kernel_size": 3, "use_bias": False}, (1, 5, 5, 2)),
    ({"kernel_size": 5}, (3, 5, 5, 1)),                                  # kernel covers the input
])
def test_conv2d_matches_plain_loops(kwargs, shape):
    layer = Conv2D(filters=6, **kwargs)
    x = random_layer(layer, shape)
    out = layer(x)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    expected = conv2d_reference(x, layer.kernel.value, bias_of(layer), layer.strides, layer.padding,
                                layer.dilation_rate, layer.groups)
    assert out.shape == expected.shape
    assert out.shape[1:] == layer.compute_output_shape((None,) + shape[1:])[1:]
    np.testing.assert_allclose(out, expected, **TOLERANCE)


@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 3}, (2, 9, 3)),
    ({"kernel_size": 4, "padding": "same"}, (2, 9, 2)),
    ({"kernel_size": 2, "strides": 3, "padding": "same"}, (2, 10, 2)),
    ({"kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (2, 9, 2)),
    ({"kernel_size": 3, "padding": "causal", "strides": 2}, (2, 9, 2)),
    ({"kernel_size": 3, "groups": 3, "padding": "same"}, (2, 7, 3)),
    ({"kernel_size": 5, "dilation_rate": 2, "padding": "same"}, (1, 6, 1)),
])
def test_conv1d_matches_plain_loops(kwargs, shape):
    layer = Conv1D(filters=6, **kwargs)
    x = random_layer(layer, shape)
    out = layer(x)
    assert out.dtype == np.float32
    expected = conv1d_reference(x, layer.kernel.value, bias_of(layer), layer.strides[0], layer.padding,
                                layer.dilation_rate[0], layer.groups)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **TOLERANCE)


def test_causal_output_never_sees_the_future():
    layer = Conv1D(1, 3, padding="causal", dilation_rate=2, use_bias=False)
    layer.build_for((None, 8, 1))
    layer.kernel.assign(np.ones((3, 1, 1), np.float32))
    x = np.zeros((1, 8, 1), np.float32)
    x[0, 5, 0] = 1.0
    # Input step 5 reaches outputs 5, 7 (and 9, past the end) only.
    np.testing.assert_array_equal(layer(x)[0, :, 0], [0, 0, 0, 0, 0, 1, 0, 1])


def test_grouped_convolution_by_batched_product_matches_too(monkeypatch):
    # Many groups take the batched-product path; force it on a small case.
    monkeypatch.setattr(conv, "DENSE_GROUPS_LIMIT", 1)
    layer = Conv2D(6, 3, groups=3, padding="same")
    x = random_layer(layer, (2, 5, 4, 6))
    expected = conv2d_reference(x, layer.kernel.value, layer.bias.value, padding="same", groups=3)
    np.testing.assert_allclose(layer(x), expected, **TOLERANCE)


def test_activation_is_applied_after_the_bias():
    layer = Conv2D(2, 1, activation="relu")
    layer.build_for((None, 1, 2, 1))
    layer.kernel.assign(np.array([[[[1.0, -1.0]]]], np.float32))
    layer.bias.assign(np.array([0.5, 0.5], np.float32))
    out = layer(np.array([[[[1.0], [-2.0]]]], np.float32))
    np.testing.assert_array_equal(out, [[[[1.5, 0.0], [0.0, 2.5]]]])


def test_float64_model_stays_float64():
    model = Sequential([Conv2D(3, 3, padding="same")], input_shape=(5, 5, 2), dtype="float64").init(seed=1)
    out = model.predict(np.ones((2, 5, 5, 2)))
    assert out.dtype == np.float64 and out.shape == (2, 5, 5, 3)


def test_empty_batch():
    layer = Conv2D(3, 3, groups=1)
    x = random_layer(layer, (0, 5, 5, 2))
    assert layer(x).shape == (0, 3, 3, 3)


# -- weights, parameters, MACs --------------------------------------------------
def test_lenet_weights_params_and_macs_like_keras():
    model = Sequential([Conv2D(6, 5, activation="relu"), Conv2D(16, 5, strides=4),
                        Conv2D(8, 3, groups=2, use_bias=False), Conv2D(4, 1)],
                       input_shape=(28, 28, 1)).init(seed=0)
    shapes = {key: array.shape for key, array in model.get_weights().items()}
    assert shapes == {"conv2d/kernel": (5, 5, 1, 6), "conv2d/bias": (6,),
                      "conv2d_1/kernel": (5, 5, 6, 16), "conv2d_1/bias": (16,),
                      "conv2d_2/kernel": (3, 3, 8, 8),
                      "conv2d_3/kernel": (1, 1, 8, 4), "conv2d_3/bias": (4,)}
    assert all(array.dtype == np.float32 for array in model.get_weights().values())
    # Keras: kernel cells * (in / groups) * filters (+ filters for the bias).
    assert [layer.count_params() for layer in model.layers] == [
        5 * 5 * 1 * 6 + 6,        # 156
        5 * 5 * 6 * 16 + 16,      # 2416
        3 * 3 * 8 * 8,            # 576, groups 2 and no bias
        1 * 1 * 8 * 4 + 4]        # 36
    assert model.count_params() == 156 + 2416 + 576 + 36
    assert [shape[1] for shape in model.shapes] == [(None, 24, 24, 6), (None, 5, 5, 16), (None, 3, 3, 8),
                                                    (None, 3, 3, 4)]


def test_kernel_initializer_and_bias_initializer():
    model = Sequential([Conv1D(2, 3, kernel_initializer="ones", bias_initializer="ones")],
                       input_shape=(5, 2)).init(seed=0)
    weights = model.get_weights()
    np.testing.assert_array_equal(weights["conv1d/kernel"], np.ones((3, 2, 2)))
    np.testing.assert_array_equal(weights["conv1d/bias"], [1.0, 1.0])
    # Keras's default initializers: glorot_uniform kernel, zeros bias.
    model = Sequential([Conv1D(2, 3)], input_shape=(5, 2)).init(seed=0)
    kernel = model.get_weights()["conv1d/kernel"]
    limit = math.sqrt(6 / (3 * 2 + 3 * 2))   # fan_in = fan_out = 3 * 2
    assert np.all(np.abs(kernel) <= limit) and np.any(kernel != 0)
    np.testing.assert_array_equal(model.get_weights()["conv1d/bias"], [0.0, 0.0])


@pytest.mark.parametrize("layer, input_shape, macs", [
    (Conv2D(6, 5), (None, 28, 28, 1), 24 * 24 * 6 * 25 * 1),           # 86400
    (Conv2D(16, 5), (None, 14, 14, 6), 10 * 10 * 16 * 25 * 6),          # 240000
    (Conv2D(16, 5, groups=2), (None, 14, 14, 6), 10 * 10 * 16 * 25 * 3),
    (Conv2D(4, 3, strides=2, padding="same"), (None, 7, 8, 2), 4 * 4 * 4 * 9 * 2),
    (Conv1D(8, 3, padding="same"), (None, 10, 4), 10 * 8 * 3 * 4),
    (Conv1D(8, 3, padding="causal", dilation_rate=4), (None, 10, 4), 10 * 8 * 3 * 4),
    (Conv1D(8, 3), (None, None, 4), None),
    (Conv2D(6, 5), (None, 28, None, 1), None),
])
def test_macs(layer, input_shape, macs):
    layer.build_for(input_shape)
    assert layer.count_macs(input_shape) == macs


def test_parameter_counts_need_no_arrays():
    layer = Conv2D(4096, 3)
    layer.build_for((None, 64, 64, 4096))
    assert layer.count_params() == 3 * 3 * 4096 * 4096 + 4096
    assert all(weight.value is None for weight in layer.weights)


# -- errors ------------------------------------------------------------------
@pytest.mark.parametrize("layer, input_shape, message, argument", [
    (Conv2D(6, 5), (None, 3, 3, 1), "kernel_size (5, 5) is larger than its input (3, 3) with padding 'valid'",
     "kernel_size"),
    (Conv2D(6, (2, 5)), (None, None, 4, 1),
     "kernel_size (2, 5) is larger than its input (None, 4) with padding 'valid'", "kernel_size"),
    (Conv1D(2, 3, dilation_rate=2), (None, 4, 1),
     "kernel_size (3,) with dilation_rate (2,) is larger than its input (4,) with padding 'valid'", "kernel_size"),
    (Conv2D(6, 3), (None, 10, 3), "expects an input of shape (batch, height, width, channels), got (None, 10, 3)",
     None),
    (Conv1D(6, 3), (None, 28, 28, 1), "expects an input of shape (batch, steps, channels), got (None, 28, 28, 1)",
     None),
    (Conv2D(6, 3), (None, 8, 8, None), "needs a known number of channels (the last axis), got (None, 8, 8, None)",
     None),
    (Conv2D(4, 3, groups=2), (None, 8, 8, 5),
     "input channels (5) must be divisible by groups (2); the input is (None, 8, 8, 5)", "groups"),
])
def test_shape_errors(layer, input_shape, message, argument):
    with pytest.raises(ShapeError) as caught:
        layer.build_for(input_shape)
    assert (caught.value.message, caught.value.argument) == (message, argument)
    with pytest.raises(ShapeError) as caught:
        layer.compute_output_shape(input_shape)
    assert caught.value.message == message


@pytest.mark.parametrize("make, message, argument", [
    (lambda: Conv2D(6, 3, strides=0),
     "argument 'strides' must be an integer >= 1 or a list of 2 integers >= 1, got integer 0", "strides"),
    (lambda: Conv2D(6, 3, strides=[1, 0]),
     "argument 'strides' must be an integer >= 1 or a list of 2 integers >= 1, got a list", "strides"),
    (lambda: Conv1D(6, 3, dilation_rate=0),
     "argument 'dilation_rate' must be an integer >= 1 or a list of 1 integer >= 1, got integer 0", "dilation_rate"),
    (lambda: Conv1D(6, [3, 3]),
     "argument 'kernel_size' must be an integer >= 1 or a list of 1 integer >= 1, got a list (2 items)",
     "kernel_size"),
    (lambda: Conv2D(6, 0), "argument 'kernel_size' must be an integer >= 1 or a list of 2 integers >= 1, "
                           "got integer 0", "kernel_size"),
    (lambda: Conv2D(0, 3), "argument 'filters' must be an integer >= 1, got integer 0", "filters"),
    (lambda: Conv2D(6, 3, groups=4), "filters (6) must be divisible by groups (4)", "groups"),
    (lambda: Conv2D(6, 3, strides=2, dilation_rate=2),
     "strides > 1 not supported in conjunction with dilation_rate > 1, got strides (2, 2) and dilation_rate (2, 2)",
     "dilation_rate"),
    (lambda: Conv1D(6, 3, strides=2, dilation_rate=3),
     "strides > 1 not supported in conjunction with dilation_rate > 1, got strides (2,) and dilation_rate (3,)",
     "dilation_rate"),
    (lambda: Conv2D(6, 3, padding="causal"),
     "argument 'padding' must be one of 'valid', 'same', got string 'causal'", "padding"),
    (lambda: Conv2D(6, 3, data_format="channels_first"),
     "argument 'data_format': 'channels_first' is not supported; layerspec uses channels_last, "
     "with channels on the last axis", "data_format"),
    (lambda: Conv2D(6, 3, data_format="nhwc"),
     "argument 'data_format' must be one of 'channels_last' or null, got string 'nhwc'", "data_format"),
    (lambda: Conv2D(6, 3, kernel_regularizer="l2"),
     "argument 'kernel_regularizer' is a Keras training option that layerspec does not support (it runs inference only)", "kernel_regularizer"),
])
def test_argument_errors(make, message, argument):
    with pytest.raises(ArgumentError) as caught:
        make()
    assert (caught.value.message, caught.value.argument) == (message, argument)


def test_channels_last_is_accepted_explicitly():
    assert Conv2D(6, 3, data_format="channels_last").data_format == "channels_last"
    assert Conv1D(6, 3, data_format=None).data_format is None


# -- specs ----------------------------------------------------------------------
LENET = """\
input: [28, 28, 1]
layers:
  - {type: Conv2D, filters: 6, kernel_size: 5, activation: relu}
  - type: MaxPooling2D
  - type: convolution_2d
    filters: 16
    kernel_size: 5
    activation: relu
  - type: max_pool_2d
  - type: Conv2D
    filters: 8
    kernel_size: [5, 5]
"""


def test_impossible_kernel_is_reported_at_its_kernel_size_in_the_spec():
    spec = loads_spec(LENET, path="lenet.yaml")
    with pytest.raises(ShapeError) as caught:
        build_model(spec)
    assert str(caught.value) == ("lenet.yaml:12:18: layer 5 'conv2d_2' (Conv2D): "
                                 "kernel_size (5, 5) is larger than its input (4, 4) with padding 'valid'")


def test_groups_mismatch_is_reported_at_groups_in_the_spec():
    text = "input: [8, 8, 5]\nlayers:\n  - {type: Conv2D, filters: 4, kernel_size: 3, groups: 2}\n"
    with pytest.raises(ShapeError) as caught:
        build_model(loads_spec(text, path="g.yaml"))
    assert str(caught.value) == ("g.yaml:3:56: layer 1 'conv2d' (Conv2D): input channels (5) must be divisible "
                                 "by groups (2); the input is (None, 8, 8, 5)")


def test_a_spec_builds_and_runs():
    model = layerspec.loads(LENET.replace("kernel_size: [5, 5]", "kernel_size: [3, 3]\n    padding: same"))
    assert model.output_shape == (None, 4, 4, 8)
    assert [layer.name for layer in model.layers] == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1",
                                                      "conv2d_2"]
    assert model.count_params() == 156 + 2416 + (3 * 3 * 16 * 8 + 8)
    out = model.init(seed=0).predict(np.ones((2, 28, 28, 1), np.float32))
    assert out.shape == (2, 4, 4, 8) and out.dtype == np.float32


def test_keras_aliases_are_registered():
    assert lookup("Convolution1D") is Conv1D and lookup("Convolution2D") is Conv2D
    assert lookup("conv_1d") is Conv1D


# -- non-finite values stay where Keras puts them ---------------------------------------
def assert_same_non_finite(out, expected):
    """NaN and inf exactly where the plain loops put them; finite values close."""
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], **TOLERANCE)


def test_an_infinity_stays_at_its_position_with_kernel_size_1():
    # Keras: [1, inf, 3, 4]. The banded kernel matrix's zeros once gave [nan, inf, nan, nan].
    layer = Conv1D(1, 1)
    layer.build_for((None, 4, 1))
    layer.kernel.assign(np.ones((1, 1, 1), np.float32))
    layer.bias.assign(np.zeros(1, np.float32))
    assert layer._plan((4,), 1, 4).width > 1  # the banded path is the one that needs care
    with np.errstate(invalid="ignore"):
        out = layer(np.array([[[1.0], [np.inf], [3.0], [4.0]]], np.float32))
    assert out[0, :, 0].tolist() == [1.0, np.inf, 3.0, 4.0]


NON_FINITE_CASES = [
    (lambda: Conv2D(6, 5, padding="same"), (2, 28, 28, 1)),       # LeNet's first layer: banded, t = 14
    (lambda: Conv2D(16, 5), (2, 14, 14, 6)),                       # LeNet's second: banded, t = 5
    (lambda: Conv2D(4, 3, strides=2, padding="same"), (2, 9, 10, 3)),
    (lambda: Conv2D(6, 3, groups=2, padding="same"), (2, 6, 7, 4)),  # block-diagonal kernel
    (lambda: Conv1D(4, 3, padding="causal", dilation_rate=2), (2, 12, 2)),
    (lambda: Conv1D(6, 2, groups=3), (2, 9, 3)),
]


def reference_of(layer, x):
    """The plain loops for ``layer`` (Conv1D or Conv2D) on ``x``."""
    if layer.rank == 2:
        return conv2d_reference(x, layer.kernel.value, bias_of(layer), layer.strides, layer.padding,
                                layer.dilation_rate, layer.groups)
    return conv1d_reference(x, layer.kernel.value, bias_of(layer), layer.strides[0], layer.padding,
                            layer.dilation_rate[0], layer.groups)


@pytest.mark.parametrize("make, shape", NON_FINITE_CASES)
def test_inf_and_nan_reach_only_the_outputs_that_see_them(make, shape):
    layer = make()
    x = random_layer(layer, shape)
    flat = x.reshape(-1)
    flat[[5, len(flat) // 2]] = np.inf, -np.inf
    flat[-7] = np.nan
    with np.errstate(invalid="ignore"):
        out = layer(x)
        expected = reference_of(layer, x)
    assert np.isfinite(expected).sum() > expected.size // 2  # most outputs never see a non-finite input
    assert_same_non_finite(out, expected)
    # Finite input afterwards takes the fast path again, and is right.
    clean = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(layer(clean), reference_of(layer, clean), **TOLERANCE)


def test_many_groups_keep_non_finite_values_in_place_too(monkeypatch):
    monkeypatch.setattr(conv, "DENSE_GROUPS_LIMIT", 1)
    layer = Conv2D(6, 3, groups=3, padding="same")
    x = random_layer(layer, (1, 5, 4, 6))
    x[0, 2, 1, 4] = np.inf
    with np.errstate(invalid="ignore"):
        out = layer(x)
        expected = conv2d_reference(x, layer.kernel.value, layer.bias.value, padding="same", groups=3)
    assert_same_non_finite(out, expected)


def test_an_overflow_inside_the_model_stays_local():
    # The first layer overflows at one step (1e30 * 1e10 > float32's max); the
    # banded second layer must not smear that inf into NaN at its neighbours.
    model = Sequential([Conv1D(1, 1, use_bias=False), Conv1D(2, 3, padding="same")], input_shape=(10, 1))
    model.init(seed=0)
    first, second = model.layers
    first.kernel.assign(np.full((1, 1, 1), 1e30, np.float32))
    x = np.ones((1, 10, 1), np.float32)
    x[0, 6, 0] = 1e10
    out = model.predict(x)
    with np.errstate(over="ignore", invalid="ignore"):
        hidden = x.astype(np.float64) * 1e30
        hidden[hidden > np.finfo(np.float32).max] = np.inf
        expected = conv1d_reference(hidden, second.kernel.value, second.bias.value, padding="same")
    assert np.isinf(out).any() and np.isfinite(out).sum() == 14
    assert_same_non_finite(out, expected)


@pytest.mark.parametrize("make, shape", [(lambda: Conv2D(6, 3, padding="same", activation="glu"), (2, 5, 6, 2)),
                                         (lambda: Conv1D(4, 2, activation="glu"), (2, 7, 3))])
def test_glu_halves_the_filters(make, shape):
    layer = make()
    x = random_layer(layer, shape)
    out = layer(x)
    linear = reference_of(layer, x)
    half = layer.filters // 2
    expected = linear[..., :half] / (1 + np.exp(-linear[..., half:]))
    assert out.shape == expected.shape
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + out.shape[1:]
    assert out.shape[-1] == half
    np.testing.assert_allclose(out, expected, **TOLERANCE)


def test_huge_finite_inputs_are_computed_right_and_quietly():
    # x · x overflows past ~1e19: the check takes the plain path, which must agree.
    import warnings

    layer = Conv2D(6, 5, padding="same")
    x = random_layer(layer, (1, 12, 12, 1)) * np.float32(1e20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layer(x)
    np.testing.assert_allclose(out, reference_of(layer, x), rtol=2e-5, atol=2e-5 * 1e20)
