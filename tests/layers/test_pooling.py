"""Pooling layers: shapes, values against plain loops, MACs, errors."""

import math

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, LayerspecError, ShapeError
from layerspec.layers.pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D,
                                      GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D,
                                      MaxPooling2D)
from layerspec.model import Sequential
from layerspec.registry import lookup
from layerspec.spec import build_model, loads_spec


# -- plain-loop references ---------------------------------------------------
def same_before(size, window, stride):
    """Padding before an axis under 'same', from Keras's rule."""
    total = max((math.ceil(size / stride) - 1) * stride + window - size, 0)
    return total // 2


def pool2d_reference(x, pool, strides, padding, mode):
    """Max or average over the real cells of each window, by nested loops.

    Padding cells are skipped: that is what -inf padding does for max, and
    what dividing by the real-cell count does for average.
    """
    batch, height, width, channels = x.shape
    if padding == "valid":
        top = left = 0
        out_h = (height - pool[0]) // strides[0] + 1
        out_w = (width - pool[1]) // strides[1] + 1
    else:
        top, left = same_before(height, pool[0], strides[0]), same_before(width, pool[1], strides[1])
        out_h, out_w = math.ceil(height / strides[0]), math.ceil(width / strides[1])
    out = np.zeros((batch, out_h, out_w, channels))
    for b in range(batch):
        for oy in range(out_h):
            for ox in range(out_w):
                for c in range(channels):
                    cells = []
                    for py in range(pool[0]):
                        for px in range(pool[1]):
                            iy, ix = oy * strides[0] + py - top, ox * strides[1] + px - left
                            if 0 <= iy < height and 0 <= ix < width:
                                cells.append(float(x[b, iy, ix, c]))
                    if any(math.isnan(cell) for cell in cells):  # Python's max() skips NaN by chance
                        out[b, oy, ox, c] = math.nan
                    else:
                        out[b, oy, ox, c] = max(cells) if mode == "max" else sum(cells) / len(cells)
    return out


def pool1d_reference(x, pool, stride, padding, mode):
    """1D pooling as 2D pooling of a one-row image (the loops above)."""
    out = pool2d_reference(x[:, np.newaxis], (1, pool), (1, stride), padding, mode)
    return out[:, 0]


TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}


def random_input(shape, seed=0, shift=0.0):
    return (np.random.default_rng(seed).standard_normal(shape) + shift).astype(np.float32)


# -- shapes -------------------------------------------------------------------
@pytest.mark.parametrize("layer, spatial, expected", [
    (MaxPooling2D(), (28, 28), (14, 14)),
    (MaxPooling2D(), (7, 7), (3, 3)),                                   # the last row/column is dropped
    (MaxPooling2D(padding="same"), (7, 7), (4, 4)),
    (MaxPooling2D(3, strides=2), (7, 8), (3, 3)),
    (AveragePooling2D(3, strides=2, padding="same"), (7, 8), (4, 4)),
    (AveragePooling2D((2, 3)), (6, 9), (3, 3)),
    (AveragePooling2D(2, strides=3), (8, 8), (3, 3)),
    (MaxPooling2D((2, 2), strides=(1, 2)), (3, 4), (2, 2)),
    (MaxPooling2D(4), (4, 4), (1, 1)),                                  # just fits
    (MaxPooling2D(3, strides=1, padding="same"), (5, 5), (5, 5)),
    (MaxPooling2D(), (None, 9), (None, 4)),
    (AveragePooling2D(2, padding="same"), (None, None), (None, None)),
])
def test_pooling2d_output_shapes(layer, spatial, expected):
    input_shape = (None,) + spatial + (3,)
    layer.build_for(input_shape)
    assert layer.compute_output_shape(input_shape) == (None,) + expected + (3,)


@pytest.mark.parametrize("layer, steps, expected", [
    (MaxPooling1D(), 9, 4),
    (MaxPooling1D(padding="same"), 9, 5),
    (AveragePooling1D(3, strides=2), 10, 4),
    (AveragePooling1D(3, strides=2, padding="same"), 10, 5),
    (MaxPooling1D([3], strides=[1]), 3, 1),
    (AveragePooling1D(2), None, None),
])
def test_pooling1d_output_shapes(layer, steps, expected):
    assert layer.compute_output_shape((None, steps, 2)) == (None, expected, 2)


def test_unknown_channels_pass_through():
    assert MaxPooling2D().compute_output_shape((None, 4, 4, None)) == (None, 2, 2, None)


def test_strides_default_to_pool_size():
    assert MaxPooling2D((2, 3)).strides == (2, 3)
    assert AveragePooling1D(3, strides=None).strides == (3,)
    assert MaxPooling2D(3, strides=1).strides == (1, 1)


# -- values -------------------------------------------------------------------
POOL_CASES = [
    ((2, 2), None, "valid", (2, 6, 8, 3)),        # tiles evenly
    ((2, 2), None, "valid", (2, 7, 7, 2)),        # last row/column dropped
    ((2, 2), None, "same", (2, 7, 5, 2)),         # odd sizes: padding after only
    ((3, 3), (2, 2), "valid", (2, 7, 8, 2)),      # overlapping windows
    ((3, 3), (2, 2), "same", (2, 7, 8, 2)),
    ((3, 2), (1, 3), "same", (2, 5, 7, 2)),
    ((2, 2), (3, 3), "valid", (2, 8, 8, 1)),      # gaps between windows
    ((4, 4), (1, 1), "same", (1, 5, 6, 2)),       # even pool: 1 before, 2 after
    ((5, 5), (1, 1), "valid", (2, 5, 5, 1)),      # pool covers the input
]


@pytest.mark.parametrize("pool, strides, padding, shape", POOL_CASES)
def test_max_pooling2d_matches_plain_loops(pool, strides, padding, shape):
    # Every input negative: a zero-padded border would win; -inf never does.
    x = random_input(shape, shift=-10.0)
    out = MaxPooling2D(pool, strides=strides, padding=padding)(x)
    assert out.dtype == np.float32
    expected = pool2d_reference(x, pool, strides or pool, padding, "max")
    assert out.shape == expected.shape and np.all(expected < 0)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("pool, strides, padding, shape", POOL_CASES)
def test_average_pooling2d_matches_plain_loops(pool, strides, padding, shape):
    x = random_input(shape)
    out = AveragePooling2D(pool, strides=strides, padding=padding)(x)
    assert out.dtype == np.float32
    expected = pool2d_reference(x, pool, strides or pool, padding, "average")
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **TOLERANCE)


def test_average_same_divides_by_real_cells_at_borders():
    # Constant input: every window's average is the constant, border or not
    # (dividing by the full window size would shrink the borders).
    x = np.full((1, 5, 4, 1), 3.0, np.float32)
    np.testing.assert_array_equal(AveragePooling2D(3, strides=2, padding="same")(x), np.full((1, 3, 2, 1), 3.0))
    # A 2x2 corner window of a 3x3 pool on a 3x3 input of 1..9 at stride 2:
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    out = AveragePooling2D(3, strides=2, padding="same")(x)[0, :, :, 0]
    np.testing.assert_allclose(out, [[(1 + 2 + 4 + 5) / 4, (2 + 3 + 5 + 6) / 4],
                                     [(4 + 5 + 7 + 8) / 4, (5 + 6 + 8 + 9) / 4]])


@pytest.mark.parametrize("pool, stride, padding, steps", [
    (2, None, "valid", 9), (2, None, "same", 9), (3, 2, "same", 10), (3, 1, "same", 4), (2, 3, "valid", 8),
    (4, 1, "same", 5),
])
def test_pooling1d_matches_plain_loops(pool, stride, padding, steps):
    x = random_input((2, steps, 3), shift=-10.0)
    expected_max = pool1d_reference(x, pool, stride or pool, padding, "max")
    np.testing.assert_array_equal(MaxPooling1D(pool, strides=stride, padding=padding)(x), expected_max)
    x = random_input((2, steps, 3), seed=1)
    expected_average = pool1d_reference(x, pool, stride or pool, padding, "average")
    out = AveragePooling1D(pool, strides=stride, padding=padding)(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected_average, **TOLERANCE)


def test_max_pooling_keeps_infinities_and_float64():
    x = np.array([[[-np.inf], [1.0], [np.inf]]], np.float64)
    out = MaxPooling1D(2, padding="same")(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[[1.0], [np.inf]]])


def test_global_pooling_matches_plain_loops():
    x = random_input((2, 3, 4, 5))
    mean = np.array([[sum(float(x[b, i, j, c]) for i in range(3) for j in range(4)) / 12 for c in range(5)]
                     for b in range(2)])
    largest = np.array([[max(float(x[b, i, j, c]) for i in range(3) for j in range(4)) for c in range(5)]
                        for b in range(2)])
    out = GlobalAveragePooling2D()(x)
    assert out.dtype == np.float32 and out.shape == (2, 5)
    np.testing.assert_allclose(out, mean, **TOLERANCE)
    np.testing.assert_array_equal(GlobalMaxPooling2D()(x), largest)
    np.testing.assert_array_equal(GlobalMaxPooling2D(keepdims=True)(x), largest[:, None, None, :])
    sequence = x[:, 0]
    np.testing.assert_allclose(GlobalAveragePooling1D(keepdims=True)(sequence),
                               sequence.astype(np.float64).mean(axis=1, keepdims=True), **TOLERANCE)
    np.testing.assert_array_equal(GlobalMaxPooling1D()(sequence), sequence.max(axis=1))


@pytest.mark.parametrize("layer, input_shape, expected", [
    (GlobalAveragePooling1D(), (None, 7, 3), (None, 3)),
    (GlobalMaxPooling1D(keepdims=True), (None, None, 3), (None, 1, 3)),
    (GlobalAveragePooling2D(keepdims=True), (None, 4, 4, 3), (None, 1, 1, 3)),
    (GlobalMaxPooling2D(), (None, None, None, None), (None, None)),
])
def test_global_pooling_shapes(layer, input_shape, expected):
    layer.build_for(input_shape)
    assert layer.compute_output_shape(input_shape) == expected


# -- MACs and weights -----------------------------------------------------------
@pytest.mark.parametrize("layer, input_shape, macs", [
    (MaxPooling2D(), (None, 24, 24, 6), 12 * 12 * 6 * 4),                       # 3456
    (AveragePooling2D(3, strides=2, padding="same"), (None, 7, 7, 2), 4 * 4 * 2 * 9),
    (MaxPooling1D(3, strides=1), (None, 10, 4), 8 * 4 * 3),
    (MaxPooling2D(), (None, None, 24, 6), None),
    (MaxPooling2D(), (None, 24, 24, None), None),
    (GlobalAveragePooling2D(), (None, 5, 5, 3), 75),
    (GlobalMaxPooling1D(), (None, 10, 4), 40),
    (GlobalMaxPooling1D(), (None, None, 4), None),
])
def test_macs(layer, input_shape, macs):
    assert layer.count_macs(input_shape) == macs


def test_pooling_has_no_weights_and_keras_names():
    model = Sequential([MaxPooling2D(), AveragePooling2D(2), GlobalMaxPooling2D()], input_shape=(8, 8, 2))
    model.build()
    assert model.count_params() == 0 and model.init(seed=0).get_weights() == {}
    assert [layer.name for layer in model.layers] == ["max_pooling2d", "average_pooling2d",
                                                      "global_max_pooling2d"]


# -- non-finite values stay in their windows ------------------------------------
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_an_infinity_or_nan_reaches_only_the_windows_holding_it(mode, padding):
    x = random_input((2, 6, 7, 3))
    x[0, 2, 3, 1], x[1, 5, 0, 2], x[1, 0, 6, 0] = np.inf, -np.inf, np.nan
    layer = (MaxPooling2D if mode == "max" else AveragePooling2D)(3, strides=2, padding=padding)
    with np.errstate(invalid="ignore"):
        out = layer(x)
        expected = pool2d_reference(x.astype(np.float64), (3, 3), (2, 2), padding, mode)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], **TOLERANCE)


# -- errors ------------------------------------------------------------------
@pytest.mark.parametrize("layer, input_shape, message, argument", [
    (MaxPooling2D(3), (None, 2, 2, 1), "pool_size (3, 3) is larger than its input (2, 2) with padding 'valid'",
     "pool_size"),
    (AveragePooling1D(4), (None, 3, 1), "pool_size (4,) is larger than its input (3,) with padding 'valid'",
     "pool_size"),
    (MaxPooling2D(), (None, 10, 3), "expects an input of shape (batch, height, width, channels), got (None, 10, 3)",
     None),
    (AveragePooling1D(2), (None, 4, 4, 1), "expects an input of shape (batch, steps, channels), got (None, 4, 4, 1)",
     None),
    (GlobalAveragePooling2D(), (None, 10, 3),
     "expects an input of shape (batch, height, width, channels), got (None, 10, 3)", None),
    (GlobalMaxPooling1D(), (None, 4), "expects an input of shape (batch, steps, channels), got (None, 4)", None),
])
def test_shape_errors(layer, input_shape, message, argument):
    with pytest.raises(ShapeError) as caught:
        layer.build_for(input_shape)
    assert (caught.value.message, caught.value.argument) == (message, argument)


@pytest.mark.parametrize("make, message, argument", [
    (lambda: MaxPooling2D(strides=0),
     "argument 'strides' must be an integer >= 1 or a list of 2 integers >= 1 or null, got integer 0", "strides"),
    (lambda: MaxPooling1D(0), "argument 'pool_size' must be an integer >= 1 or a list of 1 integer >= 1, "
                              "got integer 0", "pool_size"),
    (lambda: AveragePooling2D(2, padding="causal"),
     "argument 'padding' must be one of 'valid', 'same', got string 'causal'", "padding"),
    (lambda: AveragePooling2D(2, data_format="channels_first"),
     "argument 'data_format': 'channels_first' is not supported; layerspec uses channels_last, "
     "with channels on the last axis", "data_format"),
    (lambda: GlobalAveragePooling2D(keepdims="yes"), "argument 'keepdims' must be true or false, got string 'yes'",
     "keepdims"),
    (lambda: GlobalMaxPooling2D(data_format="channels_first"),
     "argument 'data_format': 'channels_first' is not supported; layerspec uses channels_last, "
     "with channels on the last axis", "data_format"),
])
def test_argument_errors(make, message, argument):
    with pytest.raises(ArgumentError) as caught:
        make()
    assert (caught.value.message, caught.value.argument) == (message, argument)


@pytest.mark.parametrize("cls", [AveragePooling1D, AveragePooling2D])
def test_average_pooling_requires_pool_size_as_in_keras(cls):
    # Keras gives only max pooling a default pool_size (2).
    with pytest.raises(ArgumentError) as caught:
        cls(strides=1)
    assert (caught.value.message, caught.value.argument) == ("missing required argument 'pool_size'", None)


@pytest.mark.parametrize("cls, pool", [(MaxPooling1D, (2,)), (MaxPooling2D, (2, 2))])
def test_max_pooling_defaults_pool_size_to_2(cls, pool):
    assert cls().pool_size == pool == cls().strides


def test_average_pooling_without_pool_size_is_an_error_at_the_layer():
    text = "input: [4, 4, 1]\nlayers:\n  - {type: AvgPool2D, strides: 1}\n"
    with pytest.raises(LayerspecError) as caught:
        build_model(loads_spec(text, path="p.yaml"))
    assert str(caught.value) == ("p.yaml:3:5: layer 1 'average_pooling2d' (AveragePooling2D): "
                                 "missing required argument 'pool_size'")


# -- specs ----------------------------------------------------------------------
def test_pool_too_large_is_reported_at_pool_size_or_at_the_layer():
    text = ("input: [3, 3, 1]\n"
            "layers:\n"
            "  - type: MaxPool2D\n"
            "    pool_size: [2, 4]\n")
    with pytest.raises(ShapeError) as caught:
        build_model(loads_spec(text, path="p.yaml"))
    assert str(caught.value) == ("p.yaml:4:16: layer 1 'max_pooling2d' (MaxPooling2D): "
                                 "pool_size (2, 4) is larger than its input (3, 3) with padding 'valid'")
    # The default pool_size is not written anywhere: the error points at the layer.
    text = "input: [1, 1, 1]\nlayers:\n  - {type: max_pool_2d}\n"
    with pytest.raises(ShapeError) as caught:
        build_model(loads_spec(text, path="p.yaml"))
    assert str(caught.value) == ("p.yaml:3:5: layer 1 'max_pooling2d' (MaxPooling2D): "
                                 "pool_size (2, 2) is larger than its input (1, 1) with padding 'valid'")


def test_a_spec_with_every_pooling_kind_runs():
    model = layerspec.loads("input: [9, 9, 2]\n"
                            "layers:\n"
                            "  - {type: MaxPooling2D, pool_size: 3, strides: 2, padding: same}\n"
                            "  - {type: AveragePooling2D, pool_size: 2, padding: same}\n"
                            "  - {type: GlobalAveragePooling2D, keepdims: true}\n")
    assert [shape[1] for shape in model.shapes] == [(None, 5, 5, 2), (None, 3, 3, 2), (None, 1, 1, 2)]
    x = random_input((2, 9, 9, 2))
    expected = pool2d_reference(pool2d_reference(x, (3, 3), (2, 2), "same", "max"), (2, 2), (2, 2), "same",
                                "average").mean(axis=(1, 2), keepdims=True)
    out = model.predict(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, **TOLERANCE)


@pytest.mark.parametrize("alias, cls", [
    ("MaxPool1D", MaxPooling1D), ("MaxPool2D", MaxPooling2D), ("AvgPool1D", AveragePooling1D),
    ("AvgPool2D", AveragePooling2D), ("GlobalAvgPool1D", GlobalAveragePooling1D),
    ("GlobalAvgPool2D", GlobalAveragePooling2D), ("GlobalMaxPool1D", GlobalMaxPooling1D),
    ("GlobalMaxPool2D", GlobalMaxPooling2D), ("max_pooling_2d", MaxPooling2D),
    ("global_average_pooling_1d", GlobalAveragePooling1D),
])
def test_keras_aliases_are_registered(alias, cls):
    assert lookup(alias) is cls


# --------------------------------------------------------------------------
# GlobalAveragePooling1D with a mask


def masked_mean_reference(x, mask):
    """Plain loops: the mean over the steps whose mask is True."""
    out = np.zeros((x.shape[0], x.shape[2]))
    for sample in range(x.shape[0]):
        for channel in range(x.shape[2]):
            values = [float(x[sample, step, channel]) for step in range(x.shape[1]) if mask[sample, step]]
            out[sample, channel] = sum(values) / len(values) if values else math.nan
    return out


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling1d_averages_the_unmasked_steps(keepdims):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6, 4)).astype(np.float32)
    mask = np.array([[True, True, False, True, False, False], [True] * 6, [False] * 6])
    layer = GlobalAveragePooling1D(keepdims=keepdims)
    assert layer.supports_masking and layer.uses_mask
    assert layer.compute_mask_shape((None, 6, 4), (None, 6)) is None
    assert layer.compute_mask(x, mask) is None
    out = layer.call_masked(x, mask)
    assert out.dtype == np.float32 and out.shape == ((3, 1, 4) if keepdims else (3, 4))
    # The fully masked sample gives NaN (0 / 0), as in Keras.
    np.testing.assert_allclose(out.reshape(3, 4), masked_mean_reference(x, mask), rtol=1e-6, equal_nan=True)


def test_global_average_pooling1d_refuses_a_mask_of_another_rank():
    with pytest.raises(ShapeError, match=r"GlobalAveragePooling1D takes a mask of shape \(batch, steps\), got "
                                         r"\(None, 6, 4\) for the input \(None, 6, 4\)"):
        GlobalAveragePooling1D().compute_mask_shape((None, 6, 4), (None, 6, 4))


def test_other_pooling_layers_drop_a_mask():
    for layer in (GlobalMaxPooling1D(), MaxPooling1D(pool_size=2), AveragePooling1D(pool_size=2)):
        assert not layer.supports_masking
        assert layer.compute_mask_shape((None, 6, 4), (None, 6)) is None
