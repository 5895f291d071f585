"""Flatten, Reshape, Permute, RepeatVector; padding, cropping, upsampling: shapes and values."""

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers.reshaping import (Cropping1D, Cropping2D, Flatten, PaddingAmounts, Permute, RepeatVector,
                                        Reshape, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D)
from layerspec.spec import build_model, loads_spec

X = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)


def test_flatten():
    assert Flatten().compute_output_shape((None, 3, 4)) == (None, 12)
    assert Flatten().compute_output_shape((None, None, 4)) == (None, None)
    out = Flatten()(X)
    assert out.shape == (2, 12)
    assert [out[1, i] for i in range(12)] == [X[1, i // 4, i % 4] for i in range(12)]


@pytest.mark.parametrize("target, input_shape, expected", [
    ([12], (None, 3, 4), (None, 12)),
    ([-1, 2], (None, 3, 4), (None, 6, 2)),
    ([2, -1, 3], (None, 3, 4), (None, 2, 2, 3)),
    ([-1, 4], (None, None, 4), (None, None, 4)),
    ([4, 3], (None, None, 4), (None, 4, 3)),
])
def test_reshape_shapes(target, input_shape, expected):
    assert Reshape(target).compute_output_shape(input_shape) == expected


def test_reshape_values_follow_row_major_order():
    out = Reshape([4, 3])(X)
    assert out.shape == (2, 4, 3)
    flat = [X[1, i // 4, i % 4] for i in range(12)]
    assert [out[1, i // 3, i % 3] for i in range(12)] == flat


@pytest.mark.parametrize("target, message", [
    ([5, -1], "cannot reshape (None, 3, 4) (12 values per sample) into target_shape [5, -1]"),
    ([5], "cannot reshape (None, 3, 4) (12 values per sample) into target_shape [5]"),
])
def test_reshape_mismatch(target, message):
    with pytest.raises(ShapeError) as caught:
        Reshape(target).compute_output_shape((None, 3, 4))
    assert caught.value.message == message


@pytest.mark.parametrize("target, message", [
    ([-1, -1], "argument 'target_shape' may contain -1 only once, got [-1, -1]"),
    ([0, 3], "argument 'target_shape' sizes must be >= 1 or -1, got [0, 3]"),
    ([-2], "argument 'target_shape' must be a list of sizes (one may be -1), got a list"),
])
def test_reshape_argument_errors(target, message):
    with pytest.raises(ArgumentError) as caught:
        Reshape(target)
    assert caught.value.message == message


def test_permute():
    layer = Permute([2, 1])
    layer.build_for((None, 3, 4))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 4, 3)
    out = layer(X)
    assert all(out[b, j, i] == X[b, i, j] for b in range(2) for i in range(3) for j in range(4))
    with pytest.raises(ArgumentError, match=r"must be a permutation of 1..2, got \[1, 3\]"):
        Permute([1, 3])
    with pytest.raises(ShapeError, match=r"dims \[2, 1\] permute 2 axes, but the input \(None, 3, 4, 5\) has 3"):
        Permute([2, 1]).build_for((None, 3, 4, 5))


def test_repeat_vector():
    layer = RepeatVector(3)
    layer.build_for((None, 2))
    x = np.array([[1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(layer(x), [[[1.0, 2.0]] * 3])
    assert layer.compute_output_shape((None, 2)) == (None, 3, 2)
    with pytest.raises(ShapeError, match=r"needs an input of shape \(batch, features\), got \(None, 2, 2\)"):
        RepeatVector(3).build_for((None, 2, 2))


# -- padding, cropping and upsampling ----------------------------------------
def spatial_input(shape, dtype=np.float32):
    return (np.random.default_rng(0).standard_normal(shape) + 1).astype(dtype)


def zero_pad_reference(x, amounts):
    """Plain loops: each output position takes the input it came from, or 0."""
    spatial = x.shape[1:-1]
    out_spatial = tuple(n + before + after for n, (before, after) in zip(spatial, amounts))
    out = np.zeros((x.shape[0],) + out_spatial + (x.shape[-1],))
    for b in range(x.shape[0]):
        for position in np.ndindex(*out_spatial):
            source = tuple(p - before for p, (before, _) in zip(position, amounts))
            if all(0 <= s < n for s, n in zip(source, spatial)):
                for c in range(x.shape[-1]):
                    out[(b,) + position + (c,)] = x[(b,) + source + (c,)]
    return out


def crop_reference(x, amounts):
    spatial = x.shape[1:-1]
    out_spatial = tuple(n - before - after for n, (before, after) in zip(spatial, amounts))
    out = np.zeros((x.shape[0],) + out_spatial + (x.shape[-1],))
    for b in range(x.shape[0]):
        for position in np.ndindex(*out_spatial):
            source = tuple(p + before for p, (before, _) in zip(position, amounts))
            for c in range(x.shape[-1]):
                out[(b,) + position + (c,)] = x[(b,) + source + (c,)]
    return out


def upsample_reference(x, sizes):
    out_spatial = tuple(n * s for n, s in zip(x.shape[1:-1], sizes))
    out = np.zeros((x.shape[0],) + out_spatial + (x.shape[-1],))
    for b in range(x.shape[0]):
        for position in np.ndindex(*out_spatial):
            source = tuple(p // s for p, s in zip(position, sizes))
            for c in range(x.shape[-1]):
                out[(b,) + position + (c,)] = x[(b,) + source + (c,)]
    return out


def run(layer, x):
    layer.build_for((None,) + x.shape[1:])
    out = layer(x)
    assert out.dtype == x.dtype and out.flags.c_contiguous
    assert out.shape[1:] == layer.compute_output_shape((None,) + x.shape[1:])[1:]
    return out


# Every form Keras accepts, and what it means.
PADDING_1D_FORMS = [(0, (0, 0)), (2, (2, 2)), ([1, 3], (1, 3)), ([0, 2], (0, 2)), ((3, 0), (3, 0))]
PADDING_2D_FORMS = [
    (0, ((0, 0), (0, 0))), (1, ((1, 1), (1, 1))), ([1, 2], ((1, 1), (2, 2))),
    ([[1, 2], [3, 0]], ((1, 2), (3, 0))), ([2, [0, 1]], ((2, 2), (0, 1))), ([[0, 3], 1], ((0, 3), (1, 1))),
    (((1, 1), (2, 2)), ((1, 1), (2, 2))),
]


@pytest.mark.parametrize("value, normalised", PADDING_1D_FORMS)
def test_zero_padding_1d_forms_values_and_shapes(value, normalised):
    layer = ZeroPadding1D(padding=value)
    assert layer.padding == normalised
    x = spatial_input((2, 5, 3))
    out = run(layer, x)
    np.testing.assert_array_equal(out, zero_pad_reference(x, [normalised]))
    assert out.shape == (2, 5 + sum(normalised), 3)
    assert layer.compute_output_shape((None, None, 3)) == (None, None, 3)


@pytest.mark.parametrize("value, normalised", PADDING_2D_FORMS)
def test_zero_padding_2d_forms_values_and_shapes(value, normalised):
    layer = ZeroPadding2D(padding=value)
    assert layer.padding == normalised
    x = spatial_input((2, 4, 5, 3))
    out = run(layer, x)
    np.testing.assert_array_equal(out, zero_pad_reference(x, normalised))
    assert out.shape == (2, 4 + sum(normalised[0]), 5 + sum(normalised[1]), 3)
    assert layer.compute_output_shape((None, None, 5, 3)) == (None, None, 5 + sum(normalised[1]), 3)


def test_padding_defaults_match_keras():
    assert ZeroPadding1D().padding == (1, 1)
    assert ZeroPadding2D().padding == ((1, 1), (1, 1))
    assert Cropping1D().cropping == (1, 1)
    assert Cropping2D().cropping == ((0, 0), (0, 0))
    assert UpSampling1D().size == 2
    assert UpSampling2D().size == (2, 2)


@pytest.mark.parametrize("value, normalised", PADDING_1D_FORMS[:-1] + [((1, 0), (1, 0))])
def test_cropping_1d_forms_values_and_shapes(value, normalised):
    layer = Cropping1D(cropping=value)
    assert layer.cropping == normalised
    x = spatial_input((2, 6, 3))
    out = run(layer, x)
    np.testing.assert_array_equal(out, crop_reference(x, [normalised]))
    assert out.shape == (2, 6 - sum(normalised), 3)
    assert layer.compute_output_shape((None, None, 3)) == (None, None, 3)


@pytest.mark.parametrize("value, normalised", PADDING_2D_FORMS)
def test_cropping_2d_forms_values_and_shapes(value, normalised):
    layer = Cropping2D(cropping=value)
    assert layer.cropping == normalised
    x = spatial_input((2, 5, 6, 3))
    out = run(layer, x)
    np.testing.assert_array_equal(out, crop_reference(x, normalised))
    assert out.shape == (2, 5 - sum(normalised[0]), 6 - sum(normalised[1]), 3)
    assert layer.compute_output_shape((None, 5, None, 3)) == (None, 5 - sum(normalised[0]), None, 3)


def test_cropping_that_just_fits_leaves_one_position():
    x = spatial_input((1, 5, 4, 2))
    np.testing.assert_array_equal(run(Cropping2D(((2, 2), (0, 3))), x), x[:, 2:3, 0:1, :])
    np.testing.assert_array_equal(run(Cropping1D((4, 0)), x[:, :, 0, :]), x[:, 4:, 0, :])


@pytest.mark.parametrize("layer, input_shape, message", [
    (Cropping1D((3, 3)), (None, 5, 7), "cropping (3, 3) removes 6 steps, but the input (None, 5, 7) has 5; "
                                       "at least one must remain"),
    (Cropping1D(2), (None, 4, 7), "cropping (2, 2) removes 4 steps, but the input (None, 4, 7) has 4; "
                                  "at least one must remain"),
    (Cropping2D(((2, 2), (0, 0))), (None, 4, 6, 3),
     "cropping ((2, 2), (0, 0)) removes 4 rows, but the input (None, 4, 6, 3) has 4; at least one must remain"),
    (Cropping2D([1, [4, 2]]), (None, 4, 6, 3),
     "cropping ((1, 1), (4, 2)) removes 6 columns, but the input (None, 4, 6, 3) has 6; at least one must remain"),
    (Cropping2D(3), (None, None, 5, 3),
     "cropping ((3, 3), (3, 3)) removes 6 columns, but the input (None, None, 5, 3) has 5; "
     "at least one must remain"),
])
def test_cropping_more_than_the_input_holds(layer, input_shape, message):
    with pytest.raises(ShapeError) as caught:
        layer.compute_output_shape(input_shape)
    assert caught.value.message == message
    assert caught.value.argument == "cropping"


def test_cropping_an_unknown_size_is_checked_when_run():
    layer = Cropping1D((2, 2))
    layer.build_for((None, None, 3))
    assert layer.compute_output_shape((None, None, 3)) == (None, None, 3)
    assert run(layer, spatial_input((1, 5, 3))).shape == (1, 1, 3)
    with pytest.raises(ShapeError, match=r"removes 4 steps, but the input \(None, 4, 3\) has 4"):
        layer(spatial_input((1, 4, 3)))


@pytest.mark.parametrize("size", [1, 2, 3])
def test_upsampling_1d_values_and_shapes(size):
    layer = UpSampling1D(size=size)
    x = spatial_input((2, 4, 3))
    out = run(layer, x)
    np.testing.assert_array_equal(out, upsample_reference(x, (size,)))
    assert out.shape == (2, 4 * size, 3)
    assert layer.compute_output_shape((None, None, 3)) == (None, None, 3)


@pytest.mark.parametrize("size, normalised", [(2, (2, 2)), ([1, 3], (1, 3)), ((3, 1), (3, 1)), ([2, 2], (2, 2))])
def test_upsampling_2d_values_and_shapes(size, normalised):
    layer = UpSampling2D(size=size)
    assert layer.size == normalised
    x = spatial_input((2, 3, 4, 2))
    out = run(layer, x)
    np.testing.assert_array_equal(out, upsample_reference(x, normalised))
    assert out.shape == (2, 3 * normalised[0], 4 * normalised[1], 2)
    assert layer.compute_output_shape((None, 3, None, 2)) == (None, 3 * normalised[0], None, 2)


@pytest.mark.parametrize("layer", [ZeroPadding2D([[1, 0], [0, 2]]), Cropping2D(1), UpSampling2D((2, 3))])
def test_spatial_layers_keep_float64(layer):
    x = spatial_input((1, 4, 5, 2), np.float64)
    assert run(layer, x).dtype == np.float64


@pytest.mark.parametrize("layer, input_shape", [
    (ZeroPadding1D(), (None, 4)), (Cropping1D(), (None, 4, 3, 2)), (UpSampling1D(), (None,)),
])
def test_1d_layers_need_sequences(layer, input_shape):
    from layerspec.layers.base import format_shape

    with pytest.raises(ShapeError) as caught:
        layer.build_for(input_shape)
    assert caught.value.message == f"needs an input of shape (batch, steps, features), got {format_shape(input_shape)}"


@pytest.mark.parametrize("layer", [ZeroPadding2D(), Cropping2D(), UpSampling2D()])
def test_2d_layers_need_images(layer):
    with pytest.raises(ShapeError) as caught:
        layer.build_for((None, 4, 3))
    assert caught.value.message == "needs an input of shape (batch, height, width, channels), got (None, 4, 3)"
    with pytest.raises(ShapeError):
        layer.compute_output_shape((None, 4, 3))


def test_spatial_layers_have_no_weights_and_no_macs():
    for layer, shape in [(ZeroPadding1D(), (None, 4, 3)), (ZeroPadding2D(), (None, 4, 4, 3)),
                         (Cropping1D(), (None, 4, 3)), (Cropping2D(), (None, 4, 4, 3)),
                         (UpSampling1D(), (None, 4, 3)), (UpSampling2D(), (None, 4, 4, 3))]:
        layer.build_for(shape)
        assert layer.weights == [] and layer.count_params() == 0 and layer.count_macs(shape) == 0


@pytest.mark.parametrize("cls, value, message", [
    (ZeroPadding1D, -1, "argument 'padding' must be an integer >= 0 or a pair of integers >= 0, got integer -1"),
    (ZeroPadding1D, [1, 2, 3], "argument 'padding' must be an integer >= 0 or a pair of integers >= 0, "
                               "got [1, 2, 3]"),
    (ZeroPadding1D, [[1, 1], [1, 1]], "argument 'padding' must be an integer >= 0 or a pair of integers >= 0, "
                                      "got [[1, 1], [1, 1]]"),
    (ZeroPadding1D, 1.0, "argument 'padding' must be an integer >= 0 or a pair of integers >= 0, got number 1.0"),
    (ZeroPadding2D, "1", "argument 'padding' must be an integer >= 0, a pair, or a pair of pairs, got string '1'"),
    (ZeroPadding2D, [1], "argument 'padding' must be an integer >= 0, a pair, or a pair of pairs, got [1]"),
    (ZeroPadding2D, [1, 2, 3], "argument 'padding' must be an integer >= 0, a pair, or a pair of pairs, "
                               "got [1, 2, 3]"),
    (ZeroPadding2D, [[1, 2, 3], [1, 1]], "argument 'padding' must be an integer >= 0, a pair, or a pair of pairs, "
                                         "got [[1, 2, 3], [1, 1]]"),
    (ZeroPadding2D, [[1, -2], 1], "argument 'padding' must be an integer >= 0, a pair, or a pair of pairs, "
                                  "got [[1, -2], 1]"),
    (ZeroPadding2D, [True, 1], "argument 'padding' must be an integer >= 0, a pair, or a pair of pairs, "
                               "got [true, 1]"),
    (ZeroPadding2D, None, "argument 'padding' must be an integer >= 0, a pair, or a pair of pairs, got null"),
    (ZeroPadding2D, [[[1, 1], 1], 1], "argument 'padding' must be an integer >= 0, a pair, or a pair of pairs, "
                                      "got [[[...], 1], 1]"),
    (ZeroPadding2D, list(range(8)), "argument 'padding' must be an integer >= 0, a pair, or a pair of pairs, "
                                    "got [0, 1, 2, 3, 4, 5, ...]"),
])
def test_padding_argument_errors(cls, value, message):
    with pytest.raises(ArgumentError) as caught:
        cls(padding=value)
    assert caught.value.message == message
    assert caught.value.argument == "padding"


@pytest.mark.parametrize("cls, kwargs, message", [
    (Cropping1D, {"cropping": -2},
     "argument 'cropping' must be an integer >= 0 or a pair of integers >= 0, got integer -2"),
    (Cropping2D, {"cropping": [1, 2, 3]},
     "argument 'cropping' must be an integer >= 0, a pair, or a pair of pairs, got [1, 2, 3]"),
    (UpSampling1D, {"size": 0}, "argument 'size' must be an integer >= 1, got integer 0"),
    (UpSampling2D, {"size": [2, 0]}, "argument 'size' must be an integer >= 1 or a list of 2 integers >= 1, "
                                     "got a list"),
    (UpSampling2D, {"interpolation": "lanczos3"},
     "argument 'interpolation': only 'nearest' and 'bilinear' interpolation are supported by layerspec, "
     "got 'lanczos3'"),
    (UpSampling2D, {"interpolation": "Bicubic"},
     "argument 'interpolation': only 'nearest' and 'bilinear' interpolation are supported by layerspec, "
     "got 'Bicubic'"),
    (UpSampling2D, {"interpolation": "nearst"},
     "argument 'interpolation' must be one of 'nearest', 'bilinear', got string 'nearst' (did you mean 'nearest'?)"),
    (ZeroPadding2D, {"data_format": "channels_first"},
     "argument 'data_format': 'channels_first' is not supported; layerspec uses channels_last, "
     "with channels on the last axis"),
    (UpSampling2D, {"data_format": "channel_last"},
     "argument 'data_format' must be one of 'channels_last' or null, got string 'channel_last' "
     "(did you mean 'channels_last'?)"),
    (Cropping1D, {"data_format": "channels_last"}, "unknown argument 'data_format'"),
])
def test_spatial_argument_errors(cls, kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        cls(**kwargs)
    assert caught.value.message == message


def test_interpolation_and_data_format_accept_keras_spellings():
    assert UpSampling2D(interpolation="NEAREST").interpolation == "nearest"
    assert ZeroPadding1D(data_format="channels_last").data_format == "channels_last"
    assert Cropping2D(data_format=None).data_format is None


def test_padding_kind_schema():
    amount = {"type": "integer", "minimum": 0}
    pair = {"type": "array", "items": amount, "minItems": 2, "maxItems": 2}
    assert PaddingAmounts(1).json_schema() == {"anyOf": [amount, pair]}
    assert PaddingAmounts(2).json_schema() == {"anyOf": [amount, {
        "type": "array", "items": {"anyOf": [amount, pair]}, "minItems": 2, "maxItems": 2}]}
    # Checking an already normalised value changes nothing (the spec reader checks twice).
    assert PaddingAmounts(2).check(((1, 2), (3, 4)), "padding") == ((1, 2), (3, 4))


def test_spatial_layers_in_a_yaml_model():
    model = layerspec.loads("""
input: [7, 6, 2]
layers:
  - {type: ZeroPadding2D, padding: [[1, 0], 2]}
  - {type: Cropping2D, cropping: [[2, 1], [0, 3]]}
  - {type: UpSampling2D, size: [2, 1]}
  - {type: Reshape, target_shape: [-1, 2]}
  - {type: ZeroPadding1D, padding: [0, 1]}
  - {type: Cropping1D}
  - {type: UpSampling1D, size: 3}
""")
    # (7, 6) → pad (8, 10) → crop (5, 7) → upsample (10, 7) → (70, 2) → (71, 2) → (69, 2) → (207, 2)
    assert [shape[1] for shape in model.shapes] == [
        (None, 8, 10, 2), (None, 5, 7, 2), (None, 10, 7, 2), (None, 70, 2), (None, 71, 2), (None, 69, 2),
        (None, 207, 2)]
    assert model.count_params() == 0
    assert model.summary_data()["total_macs"] == 0
    x = spatial_input((2, 7, 6, 2))
    out = model.predict(x)
    padded = zero_pad_reference(x, ((1, 0), (2, 2)))
    cropped = crop_reference(padded, ((2, 1), (0, 3)))
    upsampled = upsample_reference(cropped, (2, 1)).reshape(2, 70, 2)
    expected = upsample_reference(crop_reference(zero_pad_reference(upsampled, [(0, 1)]), [(1, 1)]), (3,))
    np.testing.assert_array_equal(out, expected)


def test_spec_points_at_cropping_that_removes_everything():
    spec = loads_spec("""input: [4, 6, 3]
layers:
  - type: Dense
    units: 2
  - type: Cropping2D
    cropping: [[2, 2], 1]
""", path="crop.yaml")
    with pytest.raises(ShapeError) as caught:
        build_model(spec)
    assert str(caught.value) == ("crop.yaml:6:15: layer 2 'cropping2d' (Cropping2D): cropping ((2, 2), (1, 1)) "
                                 "removes 4 rows, but the input (None, 4, 6, 2) has 4; at least one must remain")


def test_spec_points_at_a_malformed_padding():
    with pytest.raises(ArgumentError) as caught:
        loads_spec("""input: [4, 6, 3]
layers:
  - {type: ZeroPadding2D, padding: [1, 2, 3]}
""", path="pad.yaml")
    assert str(caught.value) == ("pad.yaml:3:36: layer 1 'zero_padding2d' (ZeroPadding2D): argument 'padding' "
                                 "must be an integer >= 0, a pair, or a pair of pairs, got [1, 2, 3]")


# -- UpSampling2D, interpolation: bilinear ------------------------------------------
def bilinear_weights(size, factor):
    """Keras's (jax.image.resize's) weights, by loops: output i samples the input at
    (i + 0.5) / factor - 0.5 with the triangle kernel, renormalised over the inputs that exist."""
    weights = np.zeros((size * factor, size))
    for i in range(size * factor):
        sample = (i + 0.5) / factor - 0.5
        for j in range(size):
            weights[i, j] = max(0.0, 1.0 - abs(sample - j))
        weights[i] /= weights[i].sum()
    return weights


def bilinear_reference(x, sizes):
    """Half-pixel bilinear upsampling in float64; inputs of weight 0 are not read (so not multiplied)."""
    batch, height, width, channels = x.shape
    rows, columns = bilinear_weights(height, sizes[0]), bilinear_weights(width, sizes[1])
    out = np.zeros((batch, height * sizes[0], width * sizes[1], channels))
    for b in range(batch):
        for i in range(height * sizes[0]):
            for j in range(width * sizes[1]):
                for c in range(channels):
                    out[b, i, j, c] = sum(rows[i, p] * columns[j, q] * float(x[b, p, q, c])
                                          for p in range(height) for q in range(width)
                                          if rows[i, p] and columns[j, q])
    return out


@pytest.mark.parametrize("size", [2, (3, 1), (1, 4), (3, 5), (4, 2), (1, 1)])
@pytest.mark.parametrize("shape", [(2, 3, 4, 2), (1, 1, 1, 1), (1, 1, 3, 2), (1, 5, 2, 1)])
def test_bilinear_upsampling_matches_plain_loops(size, shape):
    layer = UpSampling2D(size=size, interpolation="bilinear")
    x = spatial_input(shape) - 1
    out = run(layer, x)
    np.testing.assert_allclose(out, bilinear_reference(x, layer.size), rtol=2e-6, atol=2e-6)


def test_bilinear_upsampling_by_hand():
    # [0, 1] doubled: samples at -0.25 (the edge), 0.25, 0.75, 1.25 (the edge).
    x = np.array([0.0, 1.0], np.float32).reshape(1, 1, 2, 1)
    out = UpSampling2D((1, 2), interpolation="bilinear")(x)
    assert out[0, 0, :, 0].tolist() == [0.0, 0.25, 0.75, 1.0]
    # Tripled: samples at -1/3, 0, 1/3, 2/3, 1, 4/3; the input centres are copied exactly.
    out = UpSampling2D((1, 3), interpolation="bilinear")(x.astype(np.float64))
    np.testing.assert_allclose(out[0, 0, :, 0], [0.0, 0.0, 1 / 3, 2 / 3, 1.0, 1.0], rtol=1e-15, atol=1e-15)
    assert out.dtype == np.float64
    # A constant image stays constant (to rounding).
    constant = np.full((2, 3, 4, 2), 0.7, np.float32)
    np.testing.assert_allclose(UpSampling2D(3, interpolation="bilinear")(constant), np.full((2, 9, 12, 2), 0.7),
                               rtol=1e-7)


def test_bilinear_keeps_non_finite_values_near_them():
    x = spatial_input((1, 4, 5, 2), np.float64)
    x[0, 1, 2, 0], x[0, 3, 0, 1], x[0, 0, 4, 1] = np.inf, -np.inf, np.nan
    with np.errstate(invalid="ignore"):
        out = UpSampling2D(3, interpolation="bilinear")(x)
        expected = bilinear_reference(x, (3, 3))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))
    assert np.isfinite(expected).sum() > expected.size // 2
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layer, input_shape, macs", [
    (UpSampling2D(interpolation="bilinear"), (None, 3, 4, 2), 2 * 6 * 4 * 2 + 2 * 6 * 8 * 2),
    (UpSampling2D((1, 3), interpolation="bilinear"), (None, 3, 4, 2), 2 * 3 * 12 * 2),
    (UpSampling2D((3, 1), interpolation="bilinear"), (None, 3, 4, 2), 2 * 9 * 4 * 2),
    (UpSampling2D(1, interpolation="bilinear"), (None, 3, 4, 2), 0),
    (UpSampling2D(interpolation="bilinear"), (None, None, 4, 2), None),
    (UpSampling2D(), (None, 3, 4, 2), 0),
])
def test_bilinear_macs(layer, input_shape, macs):
    layer.build_for(input_shape)
    assert layer.count_macs(input_shape) == macs
    assert layer.count_params() == 0


def test_bilinear_shapes_spelling_and_config():
    layer = UpSampling2D([2, 3], interpolation="Bilinear")
    assert layer.interpolation == "bilinear"
    assert layer.compute_output_shape((None, None, 4, 5)) == (None, None, 12, 5)
    assert layer.get_config() == {"name": "up_sampling2d", "trainable": True, "size": (2, 3), "data_format": None,
                                  "interpolation": "bilinear"}


def test_bilinear_upsampling_in_a_yaml_model():
    model = layerspec.loads("""
input: [3, 4, 2]
layers:
  - {type: UpSampling2D, size: [2, 3], interpolation: bilinear}
  - {type: UpSampling2D, size: 2}
""")
    assert [shape[1] for shape in model.shapes] == [(None, 6, 12, 2), (None, 12, 24, 2)]
    assert model.summary_data()["total_macs"] == 2 * 6 * 4 * 2 + 2 * 6 * 12 * 2
    x = spatial_input((2, 3, 4, 2))
    out = model.predict(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, upsample_reference(bilinear_reference(x, (2, 3)), (2, 2)), rtol=2e-6,
                               atol=2e-6)


def test_bilinear_chunks_of_the_batch_give_the_same_values(monkeypatch):
    from layerspec.layers import reshaping

    monkeypatch.setattr(reshaping, "BILINEAR_CHUNK_BYTES", 2 * 6 * 12 * 2 * 4)  # two images per chunk
    x = spatial_input((5, 3, 4, 2))
    out = run(UpSampling2D((2, 3), interpolation="bilinear"), x)
    np.testing.assert_allclose(out, bilinear_reference(x, (2, 3)), rtol=2e-6, atol=2e-6)
    assert UpSampling2D(interpolation="bilinear")(x[:0]).shape == (0, 6, 8, 2)
