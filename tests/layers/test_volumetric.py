"""Conv3D, 3D pooling, ZeroPadding3D, Cropping3D, UpSampling3D: shapes, params, MACs, values against
plain loops, errors."""

import math

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, LayerspecError, ShapeError
from layerspec.layers import conv, volumetric
from layerspec.layers.volumetric import (AveragePooling3D, Conv3D, Cropping3D, GlobalAveragePooling3D,
                                         GlobalMaxPooling3D, MaxPooling3D, UpSampling3D, VolumeAmounts,
                                         ZeroPadding3D)
from layerspec.model import Sequential
from layerspec.registry import lookup
from layerspec.spec import build_model, loads_spec

TOLERANCE = {"rtol": 2e-5, "atol": 2e-5}


# -- plain-loop references (float64) -----------------------------------------------
def axis_padding(size, window, stride, dilation, padding):
    """(before, after) of one axis, written out from Keras's rule."""
    if padding == "valid":
        return 0, 0
    span = (window - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def out_size(size, window, stride, dilation, padding):
    if padding == "same":
        return math.ceil(size / stride)
    return (size - (window - 1) * dilation - 1) // stride + 1


def conv3d_reference(x, kernel, bias, strides=(1, 1, 1), padding="valid", dilation=(1, 1, 1), groups=1):
    """Cross-correlation by nested loops in float64; padding cells read as 0 (are skipped)."""
    batch, *spatial, channels = x.shape
    *window, per_group, filters = kernel.shape
    before = [axis_padding(n, k, s, d, padding)[0] for n, k, s, d in zip(spatial, window, strides, dilation)]
    outs = [out_size(n, k, s, d, padding) for n, k, s, d in zip(spatial, window, strides, dilation)]
    per_filters = filters // groups
    out = np.zeros((batch, *outs, filters))
    for b in range(batch):
        for position in np.ndindex(*outs):
            for f in range(filters):
                group = f // per_filters
                total = 0.0 if bias is None else float(bias[f])
                for cell in np.ndindex(*window):
                    source = [p * s + c * d - o for p, s, c, d, o in zip(position, strides, cell, dilation, before)]
                    if not all(0 <= i < n for i, n in zip(source, spatial)):
                        continue
                    for c in range(per_group):
                        total += float(x[(b, *source, group * per_group + c)]) * float(kernel[(*cell, c, f)])
                out[(b, *position, f)] = total
    return out


def pool3d_reference(x, pool, strides, padding, mode):
    """Max or average over the real (non-padding) cells of each window, by nested loops."""
    batch, *spatial, channels = x.shape
    before = [axis_padding(n, k, s, 1, padding)[0] for n, k, s in zip(spatial, pool, strides)]
    outs = [out_size(n, k, s, 1, padding) for n, k, s in zip(spatial, pool, strides)]
    out = np.zeros((batch, *outs, channels))
    for b in range(batch):
        for position in np.ndindex(*outs):
            for c in range(channels):
                cells = []
                for cell in np.ndindex(*pool):
                    source = [p * s + k - o for p, s, k, o in zip(position, strides, cell, before)]
                    if all(0 <= i < n for i, n in zip(source, spatial)):
                        cells.append(float(x[(b, *source, c)]))
                if any(math.isnan(value) for value in cells):
                    out[(b, *position, c)] = math.nan
                else:
                    out[(b, *position, c)] = max(cells) if mode == "max" else sum(cells) / len(cells)
    return out


def random_layer(layer, input_shape, seed=0):
    """Build ``layer`` for ``input_shape``, give it random float32 weights, return a random input."""
    rng = np.random.default_rng(seed)
    layer.build_for((None,) + tuple(input_shape[1:]))
    for weight in layer.weights:
        weight.assign(rng.standard_normal(weight.shape).astype(np.float32))
    return rng.standard_normal(input_shape).astype(np.float32)


def reference_of(layer, x):
    return conv3d_reference(x, layer.kernel.value, None if layer.bias is None else layer.bias.value,
                            layer.strides, layer.padding, layer.dilation_rate, layer.groups)


def assert_same_non_finite(out, expected):
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], **TOLERANCE)


# -- Conv3D: shapes, params, MACs ---------------------------------------------------
@pytest.mark.parametrize("kwargs, spatial, expected", [
    ({"kernel_size": 3}, (5, 6, 7), (3, 4, 5)),
    ({"kernel_size": (1, 2, 3)}, (5, 6, 7), (5, 5, 5)),
    ({"kernel_size": 3, "strides": 2}, (7, 8, 9), (3, 3, 4)),
    ({"kernel_size": 3, "strides": (1, 2, 3)}, (7, 8, 9), (5, 3, 3)),
    ({"kernel_size": 3, "padding": "same"}, (5, 6, 7), (5, 6, 7)),
    ({"kernel_size": 4, "strides": 2, "padding": "same"}, (5, 6, 7), (3, 3, 4)),
    ({"kernel_size": 2, "strides": 3, "padding": "same"}, (7, 9, 10), (3, 3, 4)),
    ({"kernel_size": 3, "dilation_rate": 2}, (5, 6, 7), (1, 2, 3)),
    ({"kernel_size": 3, "dilation_rate": (1, 2, 3), "padding": "same"}, (5, 6, 7), (5, 6, 7)),
    ({"kernel_size": (5, 6, 7)}, (5, 6, 7), (1, 1, 1)),                 # just fits
    ({"kernel_size": 5, "padding": "same"}, (2, 3, 1), (2, 3, 1)),      # same never shrinks below 1
    ({"kernel_size": 3}, (None, 6, None), (None, 4, None)),
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, (None, None, None), (None, None, None)),
])
def test_conv3d_output_shapes(kwargs, spatial, expected):
    layer = Conv3D(filters=4, **kwargs)
    layer.build_for((None,) + spatial + (2,))
    assert layer.compute_output_shape((None,) + spatial + (2,)) == (None,) + expected + (4,)


def test_conv3d_weights_and_params_like_keras():
    model = Sequential([Conv3D(8, 3, activation="relu"), Conv3D(6, (1, 2, 3), groups=2, use_bias=False),
                        Conv3D(4, 1)], input_shape=(6, 7, 8, 4)).init(seed=0)
    shapes = {key: array.shape for key, array in model.get_weights().items()}
    assert shapes == {"conv3d/kernel": (3, 3, 3, 4, 8), "conv3d/bias": (8,),
                      "conv3d_1/kernel": (1, 2, 3, 4, 6),
                      "conv3d_2/kernel": (1, 1, 1, 6, 4), "conv3d_2/bias": (4,)}
    # Keras: kernel cells * (in / groups) * filters (+ filters for the bias).
    assert [layer.count_params() for layer in model.layers] == [
        27 * 4 * 8 + 8,       # 872
        6 * 4 * 6,            # 144: groups 2, no bias
        6 * 4 + 4]            # 28
    assert [shape[1] for shape in model.shapes] == [(None, 4, 5, 6, 8), (None, 4, 4, 4, 6), (None, 4, 4, 4, 4)]
    # Keras's default initializers: glorot_uniform kernel (fan_in 27 * 4, fan_out 27 * 8), zeros bias.
    kernel = model.get_weights()["conv3d/kernel"]
    assert np.all(np.abs(kernel) <= math.sqrt(6 / (27 * 4 + 27 * 8))) and np.any(kernel != 0)
    np.testing.assert_array_equal(model.get_weights()["conv3d/bias"], np.zeros(8))


@pytest.mark.parametrize("layer, input_shape, macs, elementwise", [
    (Conv3D(8, 3), (None, 6, 7, 8, 4), 4 * 5 * 6 * 8 * 27 * 4, 4 * 5 * 6 * 8),
    (Conv3D(8, 3, activation="relu"), (None, 6, 7, 8, 4), 4 * 5 * 6 * 8 * 27 * 4, 2 * 4 * 5 * 6 * 8),
    (Conv3D(8, 3, groups=4, use_bias=False), (None, 6, 7, 8, 4), 4 * 5 * 6 * 8 * 27 * 1, 0),
    (Conv3D(4, 2, strides=2, padding="same"), (None, 5, 5, 5, 3), 3 * 3 * 3 * 4 * 8 * 3, 3 * 3 * 3 * 4),
    (Conv3D(4, 3), (None, None, 6, 6, 3), None, None),
])
def test_conv3d_macs_and_elementwise(layer, input_shape, macs, elementwise):
    layer.build_for(input_shape)
    assert layer.count_macs(input_shape) == macs
    assert layer.count_elementwise(input_shape) == elementwise


def test_conv3d_parameter_count_needs_no_arrays():
    layer = Conv3D(1024, 3)
    layer.build_for((None, 16, 16, 16, 1024))
    assert layer.count_params() == 27 * 1024 * 1024 + 1024
    assert all(weight.value is None for weight in layer.weights)


# -- Conv3D: values ------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 3}, (2, 4, 5, 6, 2)),
    ({"kernel_size": 2, "padding": "same"}, (2, 3, 4, 5, 2)),                        # even: pad 0 before, 1 after
    ({"kernel_size": (2, 3, 4), "padding": "same"}, (1, 5, 4, 5, 3)),
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, (2, 5, 6, 7, 2)),          # odd sizes, stride 2
    ({"kernel_size": (1, 3, 2), "strides": (2, 1, 3)}, (2, 5, 5, 7, 2)),
    ({"kernel_size": 3, "strides": 3, "padding": "same"}, (1, 7, 5, 4, 1)),
    ({"kernel_size": 2, "dilation_rate": 2}, (2, 4, 5, 6, 2)),
    ({"kernel_size": 3, "dilation_rate": (1, 2, 1), "padding": "same"}, (1, 4, 5, 4, 2)),
    ({"kernel_size": 3, "groups": 2, "padding": "same"}, (2, 3, 4, 4, 4)),
    ({"kernel_size": 2, "groups": 3}, (1, 3, 3, 4, 6)),
    ({"kernel_size": 3, "use_bias": False}, (1, 4, 4, 4, 2)),
    ({"kernel_size": 3, "activation": "tanh", "padding": "same"}, (2, 3, 3, 3, 2)),
    ({"kernel_size": (3, 4, 5)}, (2, 3, 4, 5, 1)),                                    # the kernel covers the input
])
def test_conv3d_matches_plain_loops(kwargs, shape):
    layer = Conv3D(filters=6, **kwargs)
    x = random_layer(layer, shape)
    out = layer(x)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    expected = reference_of(layer, x)
    if kwargs.get("activation") == "tanh":
        expected = np.tanh(expected)
    assert out.shape == expected.shape
    assert out.shape[1:] == layer.compute_output_shape((None,) + shape[1:])[1:]
    np.testing.assert_allclose(out, expected, **TOLERANCE)


@pytest.mark.parametrize("chunk_bytes, min_rows, split", [
    (10000, 1, "volumes"),    # several volumes per chunk, the batch not a multiple of it
    (3000, 1, "slices"),      # one volume, a few depth slices at a time
    (700, 1, "rows"),         # one slice, a few rows at a time
])
def test_conv3d_chunks_give_the_same_values(monkeypatch, chunk_bytes, min_rows, split):
    monkeypatch.setattr(volumetric, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(volumetric, "MIN_CHUNK_ROWS", min_rows)
    layer = Conv3D(3, 2, padding="same")
    x = random_layer(layer, (5, 3, 4, 5, 2))
    out = layer(x)
    plan = layer._volume_plan((3, 4, 5), 2, 4)
    assert {"volumes": plan.images > 1, "slices": plan.images == 1 and 1 < plan.slices < 3,
            "rows": plan.slices == 1 and plan.rows < 4}[split]
    np.testing.assert_allclose(out, reference_of(layer, x), **TOLERANCE)


def test_conv3d_many_groups_take_the_batched_product(monkeypatch):
    monkeypatch.setattr(conv, "DENSE_GROUPS_LIMIT", 1)
    monkeypatch.setattr(volumetric, "DENSE_GROUPS_LIMIT", 1)
    layer = Conv3D(6, 2, groups=3, padding="same")
    x = random_layer(layer, (2, 3, 4, 3, 6))
    np.testing.assert_allclose(layer(x), reference_of(layer, x), **TOLERANCE)


@pytest.mark.parametrize("groups", [1, 2])
def test_conv3d_inf_and_nan_reach_only_the_outputs_that_see_them(groups):
    layer = Conv3D(4, 2, groups=groups, padding="same")
    x = random_layer(layer, (2, 4, 4, 4, 2))
    flat = x.reshape(-1)
    flat[[5, len(flat) // 2]] = np.inf, -np.inf
    flat[-7] = np.nan
    with np.errstate(invalid="ignore"):
        out = layer(x)
        expected = reference_of(layer, x)
    assert np.isfinite(expected).sum() > expected.size // 2
    assert_same_non_finite(out, expected)
    clean = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(layer(clean), reference_of(layer, clean), **TOLERANCE)


def test_conv3d_float64_empty_batch_and_glu():
    model = Sequential([Conv3D(3, 2, padding="same")], input_shape=(3, 3, 3, 2), dtype="float64").init(seed=1)
    out = model.predict(np.ones((2, 3, 3, 3, 2)))
    assert out.dtype == np.float64 and out.shape == (2, 3, 3, 3, 3)
    layer = Conv3D(3, 2)
    assert layer(random_layer(layer, (0, 3, 3, 3, 2))).shape == (0, 2, 2, 2, 3)
    layer = Conv3D(4, 2, activation="glu")
    x = random_layer(layer, (2, 3, 3, 4, 2))
    linear = reference_of(layer, x)
    expected = linear[..., :2] / (1 + np.exp(-linear[..., 2:]))
    assert layer.compute_output_shape((None, 3, 3, 4, 2)) == (None, 2, 2, 3, 2)
    np.testing.assert_allclose(layer(x), expected, **TOLERANCE)


def test_conv3d_a_known_kernel_by_hand():
    # A 2x2x2 kernel of ones sums each 2x2x2 block; the bias adds 0.5.
    layer = Conv3D(1, 2, bias_initializer={"type": "constant", "value": 0.5}, kernel_initializer="ones")
    model = Sequential([layer], input_shape=(2, 2, 3, 1)).init(seed=0)
    x = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3, 1)
    out = model.predict(x)
    assert out[0, 0, 0, :, 0].tolist() == [0 + 1 + 3 + 4 + 6 + 7 + 9 + 10 + 0.5, 1 + 2 + 4 + 5 + 7 + 8 + 10 + 11 + 0.5]


# -- Conv3D: errors ------------------------------------------------------------------
@pytest.mark.parametrize("layer, input_shape, message, argument", [
    (Conv3D(2, 3), (None, 2, 5, 5, 1), "kernel_size (3, 3, 3) is larger than its input (2, 5, 5) with padding "
                                       "'valid'", "kernel_size"),
    (Conv3D(2, 3, dilation_rate=(1, 1, 3)), (None, 5, 5, 6, 1),
     "kernel_size (3, 3, 3) with dilation_rate (1, 1, 3) is larger than its input (5, 5, 6) with padding 'valid'",
     "kernel_size"),
    (Conv3D(2, 3), (None, 8, 8, 3), "expects an input of shape (batch, depth, height, width, channels), "
                                    "got (None, 8, 8, 3)", None),
    (Conv3D(2, 3), (None, 4, 4, 4, None), "needs a known number of channels (the last axis), got "
                                          "(None, 4, 4, 4, None)", None),
    (Conv3D(4, 3, groups=2), (None, 4, 4, 4, 3),
     "input channels (3) must be divisible by groups (2); the input is (None, 4, 4, 4, 3)", "groups"),
])
def test_conv3d_shape_errors(layer, input_shape, message, argument):
    with pytest.raises(ShapeError) as caught:
        layer.build_for(input_shape)
    assert (caught.value.message, caught.value.argument) == (message, argument)


@pytest.mark.parametrize("make, message, argument", [
    (lambda: Conv3D(4, [3, 3]),
     "argument 'kernel_size' must be an integer >= 1 or a list of 3 integers >= 1, got a list (2 items)",
     "kernel_size"),
    (lambda: Conv3D(4, 0), "argument 'kernel_size' must be an integer >= 1 or a list of 3 integers >= 1, "
                           "got integer 0", "kernel_size"),
    (lambda: Conv3D(4, 3, strides=[1, 0, 1]),
     "argument 'strides' must be an integer >= 1 or a list of 3 integers >= 1, got a list", "strides"),
    (lambda: Conv3D(0, 3), "argument 'filters' must be an integer >= 1, got integer 0", "filters"),
    (lambda: Conv3D(6, 3, groups=4), "filters (6) must be divisible by groups (4)", "groups"),
    (lambda: Conv3D(6, 3, strides=(1, 2, 1), dilation_rate=(2, 1, 1)),
     "strides > 1 not supported in conjunction with dilation_rate > 1, got strides (1, 2, 1) and "
     "dilation_rate (2, 1, 1)", "dilation_rate"),
    (lambda: Conv3D(6, 3, padding="causal"), "argument 'padding' must be one of 'valid', 'same', "
                                             "got string 'causal'", "padding"),
    (lambda: Conv3D(6, 3, data_format="channels_first"),
     "argument 'data_format': 'channels_first' is not supported; layerspec uses channels_last, "
     "with channels on the last axis", "data_format"),
    (lambda: Conv3D(6), "missing required argument 'kernel_size'", None),
    (lambda: Conv3D(6, 3, kernel_constraint="non_neg"),
     "argument 'kernel_constraint' is a Keras training option that layerspec does not support "
     "(it runs inference only)", "kernel_constraint"),
])
def test_conv3d_argument_errors(make, message, argument):
    with pytest.raises(ArgumentError) as caught:
        make()
    assert (caught.value.message, caught.value.argument) == (message, argument)


def test_conv3d_defaults_and_config_like_keras():
    layer = Conv3D(4, 3)
    assert (layer.strides, layer.dilation_rate, layer.padding, layer.groups) == ((1, 1, 1), (1, 1, 1), "valid", 1)
    assert layer.get_config() == {
        "name": "conv3d", "trainable": True, "filters": 4, "kernel_size": (3, 3, 3), "strides": (1, 1, 1),
        "padding": "valid", "data_format": None, "dilation_rate": (1, 1, 1), "groups": 1, "activation": None,
        "use_bias": True, "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}
    assert Conv3D(**layer.get_config()).get_config() == layer.get_config()


# -- pooling ------------------------------------------------------------------------
@pytest.mark.parametrize("layer, spatial, expected", [
    (MaxPooling3D(), (8, 8, 8), (4, 4, 4)),
    (MaxPooling3D(), (5, 6, 7), (2, 3, 3)),                               # the odd last cell is dropped
    (MaxPooling3D(padding="same"), (5, 6, 7), (3, 3, 4)),
    (MaxPooling3D(3, strides=2), (7, 8, 9), (3, 3, 4)),
    (AveragePooling3D((1, 2, 3)), (4, 6, 9), (4, 3, 3)),
    (AveragePooling3D(3, strides=(1, 2, 3), padding="same"), (4, 5, 7), (4, 3, 3)),
    (AveragePooling3D(2, strides=3), (8, 7, 6), (3, 2, 2)),
    (MaxPooling3D((2, 3, 4)), (2, 3, 4), (1, 1, 1)),                     # just fits
    (MaxPooling3D(), (None, 6, None), (None, 3, None)),
    (AveragePooling3D(2, padding="same"), (None, None, None), (None, None, None)),
])
def test_pooling3d_output_shapes(layer, spatial, expected):
    layer.build_for((None,) + spatial + (3,))
    assert layer.compute_output_shape((None,) + spatial + (3,)) == (None,) + expected + (3,)
    assert layer.compute_output_shape((None,) + spatial + (None,)) == (None,) + expected + (None,)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("pool, strides, padding, shape", [
    ((2, 2, 2), None, "valid", (2, 4, 5, 6, 2)),
    ((2, 2, 2), None, "same", (2, 3, 5, 4, 2)),
    ((3, 3, 3), (2, 2, 2), "same", (1, 5, 6, 7, 2)),
    ((3, 2, 1), (1, 2, 3), "valid", (2, 4, 5, 7, 1)),
    ((2, 3, 2), (3, 1, 2), "same", (1, 7, 4, 5, 3)),
    ((4, 4, 4), (1, 1, 1), "same", (1, 3, 3, 3, 1)),                     # windows larger than the input
])
def test_pooling3d_matches_plain_loops(mode, pool, strides, padding, shape):
    cls = MaxPooling3D if mode == "max" else AveragePooling3D
    layer = cls(pool, strides=strides, padding=padding)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape[1:] == layer.compute_output_shape((None,) + shape[1:])[1:]
    expected = pool3d_reference(x, pool, strides or pool, padding, mode)
    np.testing.assert_allclose(out, expected, **TOLERANCE)


def test_average_same_divides_by_the_real_cells():
    # All ones, 'same' 2x2x2 pooling with stride 1 of a 2x2x2 volume: every average is 1
    # (a count including padding would give 1, 1/2, 1/4 and 1/8).
    out = AveragePooling3D(2, strides=1, padding="same")(np.ones((1, 2, 2, 2, 1), np.float32))
    np.testing.assert_array_equal(out, np.ones((1, 2, 2, 2, 1)))
    x = np.arange(8, dtype=np.float64).reshape(1, 2, 2, 2, 1)
    out = AveragePooling3D(2, strides=1, padding="same")(x)
    assert out.dtype == np.float64
    assert out[0, 1, 1, 1, 0] == 7.0 and out[0, 1, 1, 0, 0] == (6.0 + 7.0) / 2 and out[0, 0, 0, 0, 0] == 3.5


@pytest.mark.parametrize("mode", ["max", "average"])
def test_pooling3d_keeps_non_finite_values_in_their_windows(mode):
    x = np.random.default_rng(0).standard_normal((1, 4, 5, 6, 2)).astype(np.float32)
    x[0, 1, 2, 3, 1], x[0, 3, 4, 0, 0], x[0, 0, 0, 5, 1] = np.inf, -np.inf, np.nan
    layer = (MaxPooling3D if mode == "max" else AveragePooling3D)(3, strides=2, padding="same")
    with np.errstate(invalid="ignore"):
        out = layer(x)
        expected = pool3d_reference(x, (3, 3, 3), (2, 2, 2), "same", mode)
    assert_same_non_finite(out, expected)


def test_pooling3d_defaults_like_keras():
    assert MaxPooling3D().pool_size == (2, 2, 2) == MaxPooling3D().strides
    assert AveragePooling3D(3).strides == (3, 3, 3)
    assert AveragePooling3D((1, 2, 3), strides=1).strides == (1, 1, 1)
    with pytest.raises(ArgumentError) as caught:
        AveragePooling3D(strides=1)
    assert (caught.value.message, caught.value.argument) == ("missing required argument 'pool_size'", None)
    assert MaxPooling3D().get_config() == {"name": "max_pooling3d", "trainable": True, "pool_size": (2, 2, 2),
                                           "strides": None, "padding": "valid", "data_format": None}


@pytest.mark.parametrize("layer, input_shape, macs, flops", [
    (MaxPooling3D(), (None, 8, 8, 8, 3), 4 * 4 * 4 * 3 * 8, 4 * 4 * 4 * 3 * 8),
    (AveragePooling3D(3, strides=2, padding="same"), (None, 5, 5, 5, 2), 27 * 2 * 27, 27 * 2 * 27 + 27 * 2),
    (MaxPooling3D(), (None, None, 8, 8, 3), None, None),
    (GlobalAveragePooling3D(), (None, 4, 5, 6, 3), 360, 363),
    (GlobalMaxPooling3D(), (None, 4, 5, 6, 3), 360, 360),
    (GlobalMaxPooling3D(), (None, 4, None, 6, 3), None, None),
])
def test_pooling3d_macs_and_flops(layer, input_shape, macs, flops):
    assert layer.count_macs(input_shape) == macs
    assert layer.count_flops(input_shape) == flops


def test_global_pooling3d_values_and_shapes():
    x = np.random.default_rng(0).standard_normal((2, 2, 3, 4, 5)).astype(np.float32)
    mean = np.array([[sum(float(x[b, i, j, k, c]) for i in range(2) for j in range(3) for k in range(4)) / 24
                      for c in range(5)] for b in range(2)])
    largest = np.array([[max(float(x[b, i, j, k, c]) for i in range(2) for j in range(3) for k in range(4))
                         for c in range(5)] for b in range(2)])
    out = GlobalAveragePooling3D()(x)
    assert out.dtype == np.float32 and out.shape == (2, 5)
    np.testing.assert_allclose(out, mean, **TOLERANCE)
    np.testing.assert_allclose(GlobalAveragePooling3D(keepdims=True)(x), mean[:, None, None, None], **TOLERANCE)
    np.testing.assert_array_equal(GlobalMaxPooling3D()(x), largest)
    np.testing.assert_array_equal(GlobalMaxPooling3D(keepdims=True)(x), largest[:, None, None, None, :])
    assert GlobalMaxPooling3D().compute_output_shape((None, None, None, None, 7)) == (None, 7)
    assert GlobalAveragePooling3D(keepdims=True).compute_output_shape((None, 3, None, 4, 7)) == (None, 1, 1, 1, 7)


@pytest.mark.parametrize("layer, input_shape, message, argument", [
    (MaxPooling3D(3), (None, 2, 4, 4, 1), "pool_size (3, 3, 3) is larger than its input (2, 4, 4) with padding "
                                          "'valid'", "pool_size"),
    (AveragePooling3D(2), (None, 4, 4, 1), "expects an input of shape (batch, depth, height, width, channels), "
                                           "got (None, 4, 4, 1)", None),
    (GlobalMaxPooling3D(), (None, 4, 4, 1), "expects an input of shape (batch, depth, height, width, channels), "
                                            "got (None, 4, 4, 1)", None),
])
def test_pooling3d_shape_errors(layer, input_shape, message, argument):
    with pytest.raises(ShapeError) as caught:
        layer.build_for(input_shape)
    assert (caught.value.message, caught.value.argument) == (message, argument)


@pytest.mark.parametrize("make, message, argument", [
    (lambda: MaxPooling3D(strides=0),
     "argument 'strides' must be an integer >= 1 or a list of 3 integers >= 1 or null, got integer 0", "strides"),
    (lambda: MaxPooling3D((2, 2)), "argument 'pool_size' must be an integer >= 1 or a list of 3 integers >= 1, "
                                   "got a list (2 items)", "pool_size"),
    (lambda: AveragePooling3D(2, padding="causal"),
     "argument 'padding' must be one of 'valid', 'same', got string 'causal'", "padding"),
    (lambda: GlobalAveragePooling3D(keepdims=1), "argument 'keepdims' must be true or false, got integer 1",
     "keepdims"),
    (lambda: GlobalMaxPooling3D(data_format="channels_first"),
     "argument 'data_format': 'channels_first' is not supported; layerspec uses channels_last, "
     "with channels on the last axis", "data_format"),
])
def test_pooling3d_argument_errors(make, message, argument):
    with pytest.raises(ArgumentError) as caught:
        make()
    assert (caught.value.message, caught.value.argument) == (message, argument)


# -- padding, cropping, upsampling -------------------------------------------------------
def zero_pad_reference(x, amounts):
    spatial = x.shape[1:-1]
    outs = tuple(n + before + after for n, (before, after) in zip(spatial, amounts))
    out = np.zeros((x.shape[0],) + outs + (x.shape[-1],))
    for b in range(x.shape[0]):
        for position in np.ndindex(*outs):
            source = tuple(p - before for p, (before, _) in zip(position, amounts))
            if all(0 <= s < n for s, n in zip(source, spatial)):
                out[(b,) + position] = x[(b,) + source]
    return out


def crop_reference(x, amounts):
    outs = tuple(n - before - after for n, (before, after) in zip(x.shape[1:-1], amounts))
    out = np.zeros((x.shape[0],) + outs + (x.shape[-1],))
    for b in range(x.shape[0]):
        for position in np.ndindex(*outs):
            out[(b,) + position] = x[(b,) + tuple(p + before for p, (before, _) in zip(position, amounts))]
    return out


def upsample_reference(x, sizes):
    outs = tuple(n * s for n, s in zip(x.shape[1:-1], sizes))
    out = np.zeros((x.shape[0],) + outs + (x.shape[-1],))
    for b in range(x.shape[0]):
        for position in np.ndindex(*outs):
            out[(b,) + position] = x[(b,) + tuple(p // s for p, s in zip(position, sizes))]
    return out


def run(layer, x):
    layer.build_for((None,) + x.shape[1:])
    out = layer(x)
    assert out.dtype == x.dtype and out.flags.c_contiguous
    assert out.shape[1:] == layer.compute_output_shape((None,) + x.shape[1:])[1:]
    return out


# Every form Keras accepts, and what it means.
VOLUME_FORMS = [
    (0, ((0, 0), (0, 0), (0, 0))), (1, ((1, 1), (1, 1), (1, 1))), ([1, 0, 2], ((1, 1), (0, 0), (2, 2))),
    ([[1, 0], [0, 2], [1, 1]], ((1, 0), (0, 2), (1, 1))), ([1, [0, 2], 0], ((1, 1), (0, 2), (0, 0))),
    (((0, 1), 1, (1, 0)), ((0, 1), (1, 1), (1, 0))),
]


@pytest.mark.parametrize("value, normalised", VOLUME_FORMS)
def test_zero_padding3d_forms_values_and_shapes(value, normalised):
    layer = ZeroPadding3D(padding=value)
    assert layer.padding == normalised
    x = np.random.default_rng(0).standard_normal((2, 2, 3, 4, 2)).astype(np.float32) + 1
    out = run(layer, x)
    np.testing.assert_array_equal(out, zero_pad_reference(x, normalised))
    grown = [n + sum(pair) for n, pair in zip((2, 3, 4), normalised)]
    assert out.shape == (2, *grown, 2)
    assert layer.compute_output_shape((None, None, 3, None, 2)) == (None, None, grown[1], None, 2)


@pytest.mark.parametrize("value, normalised", VOLUME_FORMS)
def test_cropping3d_forms_values_and_shapes(value, normalised):
    layer = Cropping3D(cropping=value)
    assert layer.cropping == normalised
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5, 2)).astype(np.float32)
    out = run(layer, x)
    np.testing.assert_array_equal(out, crop_reference(x, normalised))
    kept = [n - sum(pair) for n, pair in zip((3, 4, 5), normalised)]
    assert out.shape == (2, *kept, 2)
    assert layer.compute_output_shape((None, 3, None, None, 2)) == (None, kept[0], None, None, 2)


@pytest.mark.parametrize("size, normalised", [(2, (2, 2, 2)), ([1, 2, 3], (1, 2, 3)), ((3, 1, 1), (3, 1, 1))])
def test_upsampling3d_values_and_shapes(size, normalised):
    layer = UpSampling3D(size=size)
    assert layer.size == normalised
    x = np.random.default_rng(0).standard_normal((2, 2, 3, 2, 2))
    out = run(layer, x)
    np.testing.assert_array_equal(out, upsample_reference(x, normalised))
    assert out.shape == (2, 2 * normalised[0], 3 * normalised[1], 2 * normalised[2], 2)
    assert layer.compute_output_shape((None, 2, None, 2, 2)) == (None, 2 * normalised[0], None,
                                                                  2 * normalised[2], 2)


def test_volume_layers_defaults_like_keras():
    # Keras 3: ZeroPadding3D and Cropping3D default to 1 on every face (Cropping2D's default is 0).
    assert ZeroPadding3D().padding == ((1, 1), (1, 1), (1, 1))
    assert Cropping3D().cropping == ((1, 1), (1, 1), (1, 1))
    assert UpSampling3D().size == (2, 2, 2)
    assert Cropping3D().compute_output_shape((None, 3, 4, 5, 1)) == (None, 1, 2, 3, 1)
    assert Cropping3D().get_config() == {"name": "cropping3d", "trainable": True,
                                         "cropping": ((1, 1), (1, 1), (1, 1)), "data_format": None}


def test_volume_layers_have_no_weights_and_no_macs():
    for layer in (ZeroPadding3D(), Cropping3D(), UpSampling3D()):
        layer.build_for((None, 4, 4, 4, 3))
        assert layer.weights == [] and layer.count_params() == 0 and layer.count_macs((None, 4, 4, 4, 3)) == 0


@pytest.mark.parametrize("layer, input_shape, message", [
    (Cropping3D(((1, 1), 0, 0)), (None, 2, 5, 5, 1),
     "cropping ((1, 1), (0, 0), (0, 0)) removes 2 slices, but the input (None, 2, 5, 5, 1) has 2; "
     "at least one must remain"),
    (Cropping3D([0, [3, 1], 0]), (None, 2, 4, 5, 1),
     "cropping ((0, 0), (3, 1), (0, 0)) removes 4 rows, but the input (None, 2, 4, 5, 1) has 4; "
     "at least one must remain"),
    (Cropping3D(2), (None, None, None, 4, 1),
     "cropping ((2, 2), (2, 2), (2, 2)) removes 4 columns, but the input (None, None, None, 4, 1) has 4; "
     "at least one must remain"),
])
def test_cropping3d_more_than_the_input_holds(layer, input_shape, message):
    with pytest.raises(ShapeError) as caught:
        layer.compute_output_shape(input_shape)
    assert (caught.value.message, caught.value.argument) == (message, "cropping")


def test_cropping3d_an_unknown_size_is_checked_when_run():
    layer = Cropping3D(((2, 1), 0, 0))
    layer.build_for((None, None, 2, 2, 1))
    assert run(layer, np.ones((1, 4, 2, 2, 1), np.float32)).shape == (1, 1, 2, 2, 1)
    with pytest.raises(ShapeError, match=r"removes 3 slices, but the input \(None, 3, 2, 2, 1\) has 3"):
        layer(np.ones((1, 3, 2, 2, 1), np.float32))


@pytest.mark.parametrize("layer", [ZeroPadding3D(), Cropping3D(), UpSampling3D()])
def test_volume_layers_need_volumes(layer):
    with pytest.raises(ShapeError) as caught:
        layer.build_for((None, 4, 4, 3))
    assert caught.value.message == ("needs an input of shape (batch, depth, height, width, channels), "
                                    "got (None, 4, 4, 3)")


AMOUNTS = "an integer >= 0 or a list of 3 (each an integer >= 0 or a pair of them)"


@pytest.mark.parametrize("cls, kwargs, message", [
    (ZeroPadding3D, {"padding": -1}, f"argument 'padding' must be {AMOUNTS}, got integer -1"),
    (ZeroPadding3D, {"padding": [1, 2]}, f"argument 'padding' must be {AMOUNTS}, got [1, 2]"),
    (ZeroPadding3D, {"padding": [1, [1, 2, 3], 1]}, f"argument 'padding' must be {AMOUNTS}, got [1, [1, 2, 3], 1]"),
    (ZeroPadding3D, {"padding": [[1, 1], [1, -1], 0]},
     f"argument 'padding' must be {AMOUNTS}, got [[1, 1], [1, -1], 0]"),
    (ZeroPadding3D, {"padding": 1.5}, f"argument 'padding' must be {AMOUNTS}, got number 1.5"),
    (ZeroPadding3D, {"padding": None}, f"argument 'padding' must be {AMOUNTS}, got null"),
    (Cropping3D, {"cropping": [1, 1, True]}, f"argument 'cropping' must be {AMOUNTS}, got [1, 1, true]"),
    (Cropping3D, {"cropping": "1"}, f"argument 'cropping' must be {AMOUNTS}, got string '1'"),
    (UpSampling3D, {"size": 0}, "argument 'size' must be an integer >= 1 or a list of 3 integers >= 1, "
                                "got integer 0"),
    (UpSampling3D, {"size": [2, 2]}, "argument 'size' must be an integer >= 1 or a list of 3 integers >= 1, "
                                     "got a list (2 items)"),
    (UpSampling3D, {"interpolation": "nearest"}, "unknown argument 'interpolation'"),
    (Cropping3D, {"data_format": "channels_first"},
     "argument 'data_format': 'channels_first' is not supported; layerspec uses channels_last, "
     "with channels on the last axis"),
])
def test_volume_layers_argument_errors(cls, kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        cls(**kwargs)
    assert caught.value.message == message
    assert caught.value.argument == next(iter(kwargs))


def test_volume_amounts_schema():
    amount = {"type": "integer", "minimum": 0}
    pair = {"type": "array", "items": amount, "minItems": 2, "maxItems": 2}
    assert VolumeAmounts().json_schema() == {"anyOf": [amount, {
        "type": "array", "items": {"anyOf": [amount, pair]}, "minItems": 3, "maxItems": 3}]}
    # Checking a normalised value again changes nothing (the spec reader checks twice).
    assert VolumeAmounts().check(((1, 2), (3, 4), (5, 6)), "padding") == ((1, 2), (3, 4), (5, 6))


# -- specs ---------------------------------------------------------------------------
VOLUME_SPEC = """\
input: [8, 9, 10, 2]
layers:
  - {type: ZeroPadding3D, padding: [[1, 0], 1, [0, 2]]}
  - {type: Conv3D, filters: 4, kernel_size: 3, strides: 2, activation: relu}
  - {type: UpSampling3D, size: [1, 2, 1]}
  - {type: Cropping3D, cropping: [0, [1, 1], [0, 1]]}
  - {type: MaxPool3D, pool_size: [1, 2, 2], padding: same}
  - {type: AvgPool3D, pool_size: 2, strides: 1}
  - {type: conv_3d, filters: 6, kernel_size: [1, 1, 1], groups: 2}
  - {type: GlobalAvgPool3D}
"""


def test_a_spec_of_volume_layers_builds_counts_and_runs():
    model = layerspec.loads(VOLUME_SPEC)
    # (8, 9, 10) → pad (9, 11, 12) → conv s2 (4, 5, 5) → up (4, 10, 5) → crop (4, 8, 4) → max same (4, 4, 2)
    # → avg 2 s1 (3, 3, 1) → conv 1x1x1 → global (6,)
    assert [shape[1] for shape in model.shapes] == [
        (None, 9, 11, 12, 2), (None, 4, 5, 5, 4), (None, 4, 10, 5, 4), (None, 4, 8, 4, 4), (None, 4, 4, 2, 4),
        (None, 3, 3, 1, 4), (None, 3, 3, 1, 6), (None, 6)]
    assert [layer.name for layer in model.layers] == [
        "zero_padding3d", "conv3d", "up_sampling3d", "cropping3d", "max_pooling3d", "average_pooling3d",
        "conv3d_1", "global_average_pooling3d"]
    assert model.count_params() == (27 * 2 * 4 + 4) + (2 * 6 + 6)
    assert model.summary_data()["total_macs"] == (4 * 5 * 5 * 4 * 27 * 2 + 4 * 4 * 2 * 4 * 4 + 3 * 3 * 1 * 4 * 8
                                                  + 3 * 3 * 1 * 6 * 2 + 3 * 3 * 1 * 6)
    model.init(seed=0)
    x = np.random.default_rng(0).standard_normal((2, 8, 9, 10, 2)).astype(np.float32)
    out = model.predict(x)
    assert out.dtype == np.float32 and out.shape == (2, 6)
    weights = model.get_weights()
    hidden = zero_pad_reference(x, ((1, 0), (1, 1), (0, 2)))
    hidden = np.maximum(conv3d_reference(hidden, weights["conv3d/kernel"], weights["conv3d/bias"], (2, 2, 2)), 0)
    hidden = crop_reference(upsample_reference(hidden, (1, 2, 1)), ((0, 0), (1, 1), (0, 1)))
    hidden = pool3d_reference(hidden, (1, 2, 2), (1, 2, 2), "same", "max")
    hidden = pool3d_reference(hidden, (2, 2, 2), (1, 1, 1), "valid", "average")
    hidden = conv3d_reference(hidden, weights["conv3d_1/kernel"], weights["conv3d_1/bias"], groups=2)
    np.testing.assert_allclose(out, hidden.mean(axis=(1, 2, 3)), rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("line, error, message", [
    ("  - {type: Conv3D, filters: 4, kernel_size: [3, 3, 9]}\n", ShapeError,
     "s.yaml:3:45: layer 1 'conv3d' (Conv3D): kernel_size (3, 3, 9) is larger than its input (4, 5, 6) "
     "with padding 'valid'"),
    ("  - {type: Conv3D, filters: 4, kernel_size: [3, 3]}\n", ArgumentError,
     "s.yaml:3:45: layer 1 'conv3d' (Conv3D): argument 'kernel_size' must be an integer >= 1 or a list of 3 "
     "integers >= 1, got a list (2 items)"),
    ("  - {type: Conv3D, filters: 6, kernel_size: 1, groups: 3}\n", ShapeError,
     "s.yaml:3:56: layer 1 'conv3d' (Conv3D): input channels (2) must be divisible by groups (3); "
     "the input is (None, 4, 5, 6, 2)"),
    ("  - {type: MaxPooling3D, pool_size: [2, 2, 7]}\n", ShapeError,
     "s.yaml:3:37: layer 1 'max_pooling3d' (MaxPooling3D): pool_size (2, 2, 7) is larger than its input "
     "(4, 5, 6) with padding 'valid'"),
    ("  - {type: Cropping3D, cropping: [2, 0, 0]}\n", ShapeError,
     "s.yaml:3:34: layer 1 'cropping3d' (Cropping3D): cropping ((2, 2), (0, 0), (0, 0)) removes 4 slices, "
     "but the input (None, 4, 5, 6, 2) has 4; at least one must remain"),
    ("  - {type: ZeroPadding3D, padding: [1, 1]}\n", ArgumentError,
     "s.yaml:3:36: layer 1 'zero_padding3d' (ZeroPadding3D): argument 'padding' must be " + AMOUNTS
     + ", got [1, 1]"),
    ("  - {type: AveragePooling3D}\n", LayerspecError,
     "s.yaml:3:5: layer 1 'average_pooling3d' (AveragePooling3D): missing required argument 'pool_size'"),
])
def test_spec_errors_point_at_the_argument(line, error, message):
    text = "input: [4, 5, 6, 2]\nlayers:\n" + line
    with pytest.raises(error) as caught:
        build_model(loads_spec(text, path="s.yaml"))
    assert str(caught.value) == message


@pytest.mark.parametrize("alias, cls", [
    ("Convolution3D", Conv3D), ("conv_3d", Conv3D), ("MaxPool3D", MaxPooling3D), ("AvgPool3D", AveragePooling3D),
    ("GlobalAvgPool3D", GlobalAveragePooling3D), ("GlobalMaxPool3D", GlobalMaxPooling3D),
    ("max_pooling_3d", MaxPooling3D), ("zero_padding_3d", ZeroPadding3D), ("Cropping3D", Cropping3D),
    ("UpSampling3D", UpSampling3D),
])
def test_keras_names_and_aliases_are_registered(alias, cls):
    assert lookup(alias) is cls
    assert getattr(layerspec.layers, cls.__name__) is cls
