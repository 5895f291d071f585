"""Preprocessing, augmentation and regularization layers: Keras 3's shapes,
arguments and values at inference, against plain-loop references."""

import itertools
import math
import warnings

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, DataError, ShapeError, WeightsError
from layerspec.layers.preprocessing import (IDENTITY_NOTE, ActivityRegularization, AlphaDropout, CategoryEncoding,
                                            CenterCrop, CutMix, GaussianDropout, GaussianNoise, Lambda, MixUp,
                                            Normalization, RandomBrightness, RandomColorDegeneration, RandomContrast,
                                            RandomCrop, RandomFlip, RandomGrayscale, RandomHue, RandomInvert,
                                            RandomRotation, RandomSaturation, RandomSharpness, RandomShear,
                                            RandomTranslation, RandomZoom, Rescaling, Resizing, Solarization,
                                            SpatialDropout1D, SpatialDropout2D, SpatialDropout3D, resize_matrix)
from layerspec.model import Sequential
from layerspec.spec import build_model, loads_spec


def images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)


def built(layer, shape):
    layer.build_for(shape)
    return layer


# --------------------------------------------------------------------------
# references: plain loops over output pixels


def bilinear_reference(x, out_h, out_w):
    """Textbook bilinear resampling with half-pixel centres: output pixel i
    reads the input at (i + 0.5) * in / out - 0.5, clamped to the image, and
    mixes the two pixels around it."""
    batch, in_h, in_w, channels = x.shape
    x = x.astype(np.float64)

    def taps(i, n_in, n_out):
        source = min(max((i + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1.0)
        low = int(math.floor(source))
        high = min(low + 1, n_in - 1)
        return low, high, source - low

    out = np.zeros((batch, out_h, out_w, channels))
    for i in range(out_h):
        r0, r1, fr = taps(i, in_h, out_h)
        for j in range(out_w):
            c0, c1, fc = taps(j, in_w, out_w)
            top = (1 - fc) * x[:, r0, c0] + fc * x[:, r0, c1]
            bottom = (1 - fc) * x[:, r1, c0] + fc * x[:, r1, c1]
            out[:, i, j] = (1 - fr) * top + fr * bottom
    return out


def keys_cubic(t):
    t = abs(t)
    if t < 1:
        return 1.5 * t ** 3 - 2.5 * t ** 2 + 1
    if t < 2:
        return -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2
    return 0.0


def lanczos(radius):
    def kernel(t):
        t = abs(t)
        if t > radius:
            return 0.0
        if t < 1e-3:
            return 1.0
        return radius * math.sin(math.pi * t) * math.sin(math.pi * t / radius) / (math.pi ** 2 * t ** 2)

    return kernel


KERNELS = {"bilinear": lambda t: max(0.0, 1 - abs(t)), "bicubic": keys_cubic, "lanczos3": lanczos(3),
           "lanczos5": lanczos(5)}


def kernel_reference(x, out_h, out_w, interpolation, antialias=False):
    """JAX's rule written out per output pixel: weights kernel(|s - j| /
    width) over every input pixel j, s = (i + 0.5) * in / out - 0.5, width
    in / out when shrinking with antialias (else 1), divided by their sum;
    rows first, then columns; an axis that keeps its size is copied."""
    kernel = KERNELS[interpolation]
    x = x.astype(np.float64)

    def resample(values, n_out, axis):
        n_in = values.shape[axis]
        if n_in == n_out:
            return values
        width = max(n_in / n_out, 1.0) if antialias else 1.0
        moved = np.moveaxis(values, axis, 0)
        out = np.zeros((n_out,) + moved.shape[1:])
        for i in range(n_out):
            s = (i + 0.5) * n_in / n_out - 0.5
            weights = [kernel(abs(s - j) / width) for j in range(n_in)]
            total = sum(weights)
            for j, w in enumerate(weights):
                out[i] += w / total * moved[j]
        return np.moveaxis(out, 0, axis)

    return resample(resample(x, out_h, 1), out_w, 2)


def nearest_reference(x, out_h, out_w):
    rows = [int(math.floor((i + 0.5) * x.shape[1] / out_h)) for i in range(out_h)]
    cols = [int(math.floor((j + 0.5) * x.shape[2] / out_w)) for j in range(out_w)]
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            out[:, i, j] = x[:, r, c]
    return out


def smart_resize_reference(x, height, width):
    """Keras's smart_resize: the largest centred window of the target's
    aspect ratio, then bilinear resampling."""
    in_h, in_w = x.shape[1:3]
    crop_h = max(min(in_h, int(in_w * height / width)), 1)
    crop_w = max(min(in_w, int(in_h * width / height)), 1)
    top, left = (in_h - crop_h) // 2, (in_w - crop_w) // 2
    return bilinear_reference(x[:, top:top + crop_h, left:left + crop_w], height, width)


# --------------------------------------------------------------------------
# Rescaling


def test_rescaling_scales_and_shifts_every_value():
    x = images((2, 4, 5, 3))
    layer = Rescaling(scale=1 / 127.5, offset=-1)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, x.astype(np.float64) / 127.5 - 1, rtol=1e-6, atol=1e-6)
    assert layer.count_params() == 0 and layer.count_macs((None, 4, 5, 3)) == 60
    per_channel = Rescaling(scale=[1.0, 0.5, 0.25], offset=[[0.0, 1.0, 2.0]])
    expected = np.empty(x.shape)
    for index in itertools.product(*(range(n) for n in x.shape)):
        c = index[-1]
        expected[index] = float(x[index]) * [1.0, 0.5, 0.25][c] + [0.0, 1.0, 2.0][c]
    np.testing.assert_allclose(per_channel(x), expected, rtol=1e-6)
    assert per_channel.get_config()["scale"] == (1.0, 0.5, 0.25)


def test_rescaling_in_float64_stays_float64():
    model = Sequential([Rescaling(scale=1 / 3)], input_shape=(4,), dtype="float64")
    x = np.arange(8.0).reshape(2, 4)
    out = model.predict(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, x * (1 / 3))


@pytest.mark.parametrize("kwargs, shape, message", [
    ({"scale": [1.0, 2.0]}, (None, 4, 3), "scale of shape (2,) does not broadcast over the samples (4, 3) of the "
                                          "input (None, 4, 3): its sizes, aligned from the right, must be 1 or the "
                                          "input's"),
    ({"scale": 1.0, "offset": [[[1.0]]]}, (None, 4), "offset of shape (1, 1, 1) does not broadcast over the "
                                                     "samples (4,) of the input (None, 4): its sizes, aligned from "
                                                     "the right, must be 1 or the input's"),
])
def test_rescaling_refuses_values_that_do_not_fit(kwargs, shape, message):
    with pytest.raises(ShapeError) as caught:
        Rescaling(**kwargs).compute_output_shape(shape)
    assert caught.value.message == message


@pytest.mark.parametrize("kwargs, message", [
    ({}, "missing required argument 'scale'"),
    ({"scale": "1/255"}, "argument 'scale' must be a number or a list of numbers, got string '1/255'"),
    ({"scale": float("inf")}, "argument 'scale' must be a number or a list of numbers, got number .inf"),
    ({"scale": []}, "argument 'scale' must be a number or a list of numbers, got a list"),
    ({"scale": [[1.0], [1.0, 2.0]]}, "argument 'scale' must be a number or a list of numbers, got a ragged list "
                                     "(nested lists of different lengths)"),
    ({"scale": 1.0, "offset": None}, "argument 'offset' must be a number or a list of numbers, got null"),
])
def test_rescaling_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        Rescaling(**kwargs)
    assert caught.value.message == message


# --------------------------------------------------------------------------
# Normalization


def test_normalization_with_given_mean_and_variance_has_no_weights():
    layer = Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 0.25, 0.0])
    layer.build_for((None, 5, 3))
    assert layer.weights == [] and layer.count_params() == 0
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32
    expected = np.empty(x.shape)
    for index in itertools.product(*(range(n) for n in x.shape)):
        c = index[-1]
        # Keras 3: (x - mean) / max(sqrt(variance), 1e-7); a zero variance divides by 1e-7.
        expected[index] = (float(x[index]) - [1.0, 2.0, 3.0][c]) / max(math.sqrt([4.0, 0.25, 0.0][c]), 1e-7)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    inverse = Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 0.25, 0.0], invert=True)
    np.testing.assert_allclose(inverse(out), x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis, mean, shape", [
    (None, 2.0, (None, 3, 4)), (-1, 2.0, (None, 3, 4)), ([1, 2], [1.0, 2.0, 3.0, 4.0], (None, 3, 4)),
    ([1, 2], [[1.0], [2.0], [3.0]], (None, 3, 4)), (1, [1.0, 2.0, 3.0], (None, 3, 4)),
    ((2, 1), [[1.0, 2.0, 3.0, 4.0]], (None, 3, 4))])
def test_normalization_broadcasts_a_given_mean_as_keras(axis, mean, shape):
    """Keras lines the given values up with the kept axes from the right."""
    variance = (np.abs(np.asarray(mean)) + 1).tolist()
    layer = Normalization(axis=axis, mean=mean, variance=variance)
    x = np.random.default_rng(2).standard_normal((2,) + shape[1:]).astype(np.float32)
    kept = [] if axis is None else sorted(a % 3 for a in (axis if isinstance(axis, (list, tuple)) else [axis]))
    expanded = [1, 1, 1]
    for position, size in enumerate(reversed(np.shape(mean)), start=1):
        expanded[kept[-position]] = size
    m = np.reshape(mean, expanded)
    v = np.reshape(variance, expanded)
    np.testing.assert_allclose(layer(x), (x - m) / np.sqrt(v), rtol=1e-6, atol=1e-7)


def test_normalization_weights_follow_keras():
    model = Sequential([Normalization(axis=[1, -1])], input_shape=(3, 4, 2)).init(seed=0)
    weights = model.get_weights()
    assert [(key, array.shape) for key, array in weights.items()] == [
        ("normalization/mean", (3, 2)), ("normalization/variance", (3, 2)), ("normalization/count", ())]
    layer = model.layers[0]
    assert layer.trainable_weights == []
    row = model.summary_data()["layers"][0]
    assert (row["params"], row["non_trainable_params"]) == (13, 13)
    rng = np.random.default_rng(3)
    mean = rng.standard_normal((3, 2)).astype(np.float32)
    variance = rng.uniform(0.5, 2, (3, 2)).astype(np.float32)
    model.set_weights({"normalization/mean": mean, "normalization/variance": variance,
                       "normalization/count": np.array(0, np.int32)})
    x = rng.standard_normal((2, 3, 4, 2)).astype(np.float32)
    expected = (x - mean[None, :, None, :]) / np.sqrt(variance[None, :, None, :])
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6, atol=1e-6)
    scalar = Normalization(axis=None)
    scalar.build_for((None, 5))
    assert [(w.name, w.shape) for w in scalar.weights] == [("mean", ()), ("variance", ()), ("count", ())]


def test_normalization_refuses_a_negative_loaded_variance():
    model = Sequential([Normalization()], input_shape=(3,)).init(seed=0)
    with pytest.raises(WeightsError) as caught:
        model.set_weights({"normalization/mean": np.zeros(3, np.float32),
                           "normalization/variance": np.array([1.0, -2.0, 1.0], np.float32),
                           "normalization/count": np.zeros((), np.float32)}, source="w.npz")
    assert str(caught.value) == ("w.npz: weight 'normalization/variance': variance[1] is -2.0; a variance cannot "
                                 "be negative")


@pytest.mark.parametrize("kwargs, message", [
    ({"mean": 1.0}, "argument 'variance' is missing: 'mean' and 'variance' are given together"),
    ({"variance": 1.0}, "argument 'mean' is missing: 'mean' and 'variance' are given together"),
    ({"mean": [1.0, 2.0], "variance": 1.0}, "'mean' has shape (2,) but 'variance' has shape (); they must be the "
                                            "same"),
    ({"axis": None, "mean": [1.0], "variance": [1.0]}, "'mean' has 1 axes, more than the 0 of 'axis' (null)"),
    ({"mean": 0.0, "variance": -1.0}, "'variance' holds -1.0; a variance cannot be negative"),
    ({"axis": "x"}, "argument 'axis' must be an integer or a non-empty list of integers or null, got string 'x'"),
    ({"invert": 1}, "argument 'invert' must be true or false, got integer 1"),
])
def test_normalization_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        Normalization(**kwargs)
    assert caught.value.message == message


@pytest.mark.parametrize("kwargs, shape, message", [
    ({"axis": 3}, (None, 4, 2), "axis 3 is out of range for the input (None, 4, 2), which has 3 axes"),
    ({"axis": 0}, (None, 4), "axis 0 is the batch axis of the input (None, 4); keep a feature axis such as -1, "
                             "or null for one mean"),
    ({"axis": [1, -2]}, (None, 4, 2), "axis [1, -2] names axis 1 of the input (None, 4, 2) twice"),
    ({}, (None, 4, None), "needs a known size on axis 2 (axis -1), got (None, 4, None)"),
    ({"mean": [1.0, 2.0], "variance": [1.0, 1.0]}, (None, 3),
     "'mean' and 'variance' of shape (2,) do not fit the kept axes [1] of the input (None, 3): each size must be 1 "
     "or the input's, lined up from the right"),
])
def test_normalization_shape_errors(kwargs, shape, message):
    with pytest.raises(ShapeError) as caught:
        Normalization(**kwargs).build_for(shape)
    assert caught.value.message == message


# --------------------------------------------------------------------------
# Resizing


@pytest.mark.parametrize("size, target", [((4, 6), (8, 9)), ((7, 5), (3, 2)), ((5, 5), (5, 8)), ((6, 4), (1, 1)),
                                          ((3, 3), (7, 7))])
def test_resizing_bilinear_matches_textbook_interpolation(size, target):
    x = images((2,) + size + (3,))
    layer = Resizing(*target)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape == (2,) + target + (3,)
    np.testing.assert_allclose(out, bilinear_reference(x, *target), rtol=2e-6, atol=1e-4)


@pytest.mark.parametrize("interpolation", ["bicubic", "lanczos3", "lanczos5"])
@pytest.mark.parametrize("size, target, antialias", [((5, 7), (9, 4), False), ((12, 9), (5, 4), True),
                                                     ((12, 9), (5, 4), False)])
def test_resizing_kernels_match_the_kernel_rule(interpolation, size, target, antialias):
    x = images((2,) + size + (2,))
    out = Resizing(*target, interpolation=interpolation, antialias=antialias)(x)
    np.testing.assert_allclose(out, kernel_reference(x, *target, interpolation, antialias), rtol=2e-6, atol=2e-4)


@pytest.mark.parametrize("size, target, interpolation", [((60, 70), (25, 140), "bilinear"),
                                                          ((120, 6), (50, 9), "bicubic")])
def test_resizing_long_axes_gather_their_taps(size, target, interpolation):
    """Long axes are resampled tap by tap rather than by a matrix product:
    the same values."""
    from layerspec.layers.preprocessing import _axis_plan

    assert _axis_plan(size[0], target[0], interpolation, False, "<f4")[0] == "taps"
    assert _axis_plan(6, 9, interpolation, False, "<f4")[0] == "product"
    x = images((2,) + size + (2,))
    out = Resizing(*target, interpolation=interpolation)(x)
    expected = (bilinear_reference(x, *target) if interpolation == "bilinear"
                else kernel_reference(x, *target, interpolation))
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=2e-4)


def test_resizing_bilinear_antialias_widens_the_triangle_when_shrinking():
    x = images((1, 12, 12, 1))
    out = Resizing(4, 5, antialias=True)(x)
    np.testing.assert_allclose(out, kernel_reference(x, 4, 5, "bilinear", True), rtol=2e-6, atol=2e-4)
    # Enlarging: antialias changes nothing.
    small = images((1, 3, 4, 1))
    np.testing.assert_array_equal(Resizing(6, 8, antialias=True)(small), Resizing(6, 8)(small))


@pytest.mark.parametrize("size, target", [((4, 6), (8, 9)), ((7, 5), (3, 2)), ((5, 4), (5, 10))])
def test_resizing_nearest_copies_the_pixel_under_each_centre(size, target):
    x = images((2,) + size + (3,))
    out = Resizing(*target, interpolation="nearest")(x)
    np.testing.assert_array_equal(out, nearest_reference(x, *target).astype(np.float32))
    assert Resizing(*target, interpolation="nearest").count_macs((None,) + size + (3,)) == 0


def test_resizing_crop_and_pad_to_aspect_ratio():
    x = images((2, 6, 10, 1))
    cropped = Resizing(4, 4, crop_to_aspect_ratio=True)(x)
    # The centred 6 x 6 window (columns 2..7), then resampled.
    np.testing.assert_allclose(cropped, bilinear_reference(x[:, :, 2:8], 4, 4), rtol=2e-6, atol=1e-4)
    padded = Resizing(4, 4, pad_to_aspect_ratio=True, fill_value=-7.0)(x)
    # Keras pads two rows above and below with fill_value: 10 x 10, then resamples.
    frame = np.pad(x, ((0, 0), (2, 2), (0, 0), (0, 0)), constant_values=-7.0)
    np.testing.assert_allclose(padded, bilinear_reference(frame, 4, 4), rtol=2e-6, atol=1e-4)
    tall = images((1, 9, 4, 1))
    padded = Resizing(3, 3, pad_to_aspect_ratio=True)(tall)
    # pad_width = 9, so int((9 - 4) / 2) = 2 columns on each side: 9 x 8, as Keras.
    frame = np.pad(tall, ((0, 0), (0, 0), (2, 2), (0, 0)))
    np.testing.assert_allclose(padded, bilinear_reference(frame, 3, 3), rtol=2e-6, atol=1e-4)


def test_resizing_shapes_costs_and_unknown_sizes():
    layer = Resizing(8, 6)
    assert layer.compute_output_shape((None, None, None, 3)) == (None, 8, 6, 3)
    assert layer.count_macs((None, None, None, 3)) is None
    # Enlarging 4 x 3 → 8 x 6: two taps per output row and column but at the
    # edges, where one input pixel takes the whole weight.
    rows, cols = resize_matrix(4, 8, "bilinear"), resize_matrix(3, 6, "bilinear")
    assert layer.count_macs((None, 4, 3, 3)) == np.count_nonzero(rows) * 3 * 3 + np.count_nonzero(cols) * 8 * 3
    assert layer.count_macs((None, 8, 6, 3)) == 0  # nothing to resample
    x = images((1, 8, 6, 3))
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_allclose(resize_matrix(4, 8, "bilinear").sum(axis=1), 1.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"height": 4, "width": 4, "interpolation": "area"},
     "argument 'interpolation' must be one of 'bilinear', 'nearest', 'bicubic', 'lanczos3', 'lanczos5', got string "
     "'area'"),
    ({"height": 4, "width": 4, "crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True},
     "only one of 'crop_to_aspect_ratio' and 'pad_to_aspect_ratio' can be true"),
    ({"height": 4, "width": 4, "fill_mode": "reflect"}, "argument 'fill_mode' must be one of 'constant', got string "
                                                        "'reflect'"),
    ({"height": 0, "width": 4}, "argument 'height' must be an integer >= 1, got integer 0"),
    ({"height": 4, "width": 4, "data_format": "channels_first"},
     "argument 'data_format': 'channels_first' is not supported; layerspec uses channels_last, with channels on the "
     "last axis"),
])
def test_resizing_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        Resizing(**kwargs)
    assert caught.value.message == message


@pytest.mark.parametrize("layer", [Resizing(4, 4), CenterCrop(4, 4), RandomCrop(4, 4)])
def test_resampling_layers_need_batched_images(layer):
    with pytest.raises(ShapeError) as caught:
        layer.compute_output_shape((None, 8, 8))
    assert caught.value.message == "needs images (batch, height, width, channels), got (None, 8, 8)"


# --------------------------------------------------------------------------
# CenterCrop and RandomCrop


@pytest.mark.parametrize("size, target", [((8, 9), (4, 4)), ((7, 7), (4, 3)), ((5, 6), (5, 6)), ((6, 5), (1, 2))])
def test_center_crop_cuts_the_middle(size, target):
    x = images((2,) + size + (3,))
    out = CenterCrop(*target)(x)
    top, left = (size[0] - target[0]) // 2, (size[1] - target[1]) // 2
    assert out.shape == (2,) + target + (3,)
    for i, j in itertools.product(range(target[0]), range(target[1])):
        np.testing.assert_array_equal(out[:, i, j], x[:, top + i, left + j])
    assert CenterCrop(*target).count_macs((None,) + size + (3,)) == 0


@pytest.mark.parametrize("size, target", [((4, 9), (6, 6)), ((3, 3), (5, 4)), ((8, 4), (6, 6))])
def test_center_crop_resizes_an_image_smaller_than_the_target(size, target):
    """Keras 3: smaller on either axis → smart_resize, not padding."""
    x = images((2,) + size + (2,))
    out = CenterCrop(*target)(x)
    assert out.shape == (2,) + target + (2,)
    np.testing.assert_allclose(out, smart_resize_reference(x, *target), rtol=2e-6, atol=1e-4)
    assert CenterCrop(*target).count_macs((None,) + size + (2,)) > 0


def test_center_crop_decides_per_input_when_sizes_are_unknown():
    model = layerspec.loads("""
input: [null, null, 1]
layers:
  - {type: CenterCrop, height: 4, width: 4}
""")
    assert model.output_shape == (None, 4, 4, 1)
    big, small = images((1, 6, 6, 1)), images((1, 3, 5, 1))
    np.testing.assert_array_equal(model.predict(big), big[:, 1:5, 1:5])
    np.testing.assert_allclose(model.predict(small), smart_resize_reference(small, 4, 4), rtol=2e-6, atol=1e-4)


@pytest.mark.parametrize("size, target", [((8, 10), (4, 4)), ((6, 6), (4, 2)), ((3, 5), (6, 6))])
def test_random_crop_at_inference_takes_the_centred_window_of_the_aspect_ratio(size, target):
    x = images((2,) + size + (1,))
    layer = RandomCrop(*target, seed=3)
    out = layer(x)
    assert out.shape == (2,) + target + (1,)
    np.testing.assert_allclose(out, smart_resize_reference(x, *target), rtol=2e-6, atol=1e-4)
    assert layer.inference_note == "centre crop and resize at inference (Keras's documented form)"
    same = images((2,) + target + (1,))
    np.testing.assert_array_equal(layer(same), same)


# --------------------------------------------------------------------------
# CategoryEncoding


def one_hot_rows(ids, n):
    return np.array([[1.0 if token == i else 0.0 for token in range(n)] for i in ids])


def test_category_encoding_one_hot_shapes_follow_keras():
    layer = CategoryEncoding(num_tokens=4, output_mode="one_hot")
    assert layer.compute_output_shape((None,)) == (None, 4)
    assert layer.compute_output_shape((None, 1)) == (None, 4)
    assert layer.compute_output_shape((None, 3)) == (None, 3, 4)
    assert layer.compute_output_shape((None, 3, 1)) == (None, 3, 4)
    ids = np.array([3, 0, 2])
    np.testing.assert_array_equal(layer(ids), one_hot_rows(ids, 4))
    np.testing.assert_array_equal(layer(ids[:, None]), one_hot_rows(ids, 4))
    grid = np.array([[1, 2], [3, 3]])
    out = layer(grid)
    assert out.dtype == np.float32 and out.shape == (2, 2, 4)
    for i, j in itertools.product(range(2), range(2)):
        np.testing.assert_array_equal(out[i, j], one_hot_rows([grid[i, j]], 4)[0])


@pytest.mark.parametrize("mode", ["multi_hot", "binary", "count"])
def test_category_encoding_multi_hot_and_count(mode):
    layer = CategoryEncoding(num_tokens=5, output_mode=mode)
    ids = np.array([[0, 1, 1, 4], [2, 2, 2, 2], [3, 0, 3, 1]])
    out = layer(ids)
    assert out.dtype == np.float32 and layer.compute_output_shape((None, 4)) == (None, 5)
    expected = np.zeros((3, 5))
    for row, token in itertools.product(range(3), range(4)):
        if mode == "count":
            expected[row, ids[row, token]] += 1
        else:
            expected[row, ids[row, token]] = 1
    np.testing.assert_array_equal(out, expected)
    # Whole-number floats are ids too.
    np.testing.assert_array_equal(layer(ids.astype(np.float32)), expected)


def test_category_encoding_refuses_ids_out_of_range_naming_them():
    model = layerspec.loads("""
input: [3]
layers:
  - {type: CategoryEncoding, num_tokens: 4, output_mode: count}
""")
    with pytest.raises(DataError) as caught:
        model.predict(np.array([[0, 1, 2], [3, 4, 0]]))
    assert caught.value.message == "CategoryEncoding 'category_encoding': id 4 at index (1, 1) is outside [0, 4)"
    with pytest.raises(DataError, match=r"id -1 at index \(1,\) is outside"):
        CategoryEncoding(num_tokens=4, output_mode="one_hot")(np.array([1, -1]))
    with pytest.raises(DataError, match="not an integer|integral|whole"):
        CategoryEncoding(num_tokens=4)(np.array([[0.5, 1.0]]))


@pytest.mark.parametrize("kwargs, shape, message", [
    ({"output_mode": "multi_hot"}, (None,),
     "output_mode 'multi_hot' takes ids shaped (batch, n), got (None,) (Keras would merge the whole batch into one "
     "row: give each sample an axis, e.g. input [1])"),
    ({"output_mode": "count"}, (None, 2, 3), "output_mode 'count' takes ids shaped (batch, n), got (None, 2, 3)"),
    ({"output_mode": "one_hot"}, (None, None),
     "output_mode 'one_hot' needs a known size on the last axis (a size of 1 is replaced by the one-hot axis, as "
     "Keras does), got (None, None)"),
])
def test_category_encoding_shape_errors(kwargs, shape, message):
    with pytest.raises(ShapeError) as caught:
        CategoryEncoding(num_tokens=3, **kwargs).compute_output_shape(shape)
    assert caught.value.message == message


@pytest.mark.parametrize("kwargs, message", [
    ({}, "missing required argument 'num_tokens'"),
    ({"num_tokens": 0}, "argument 'num_tokens' must be an integer >= 1, got integer 0"),
    ({"num_tokens": 3, "sparse": True}, "argument 'sparse': only false is supported by layerspec (dense outputs)"),
    ({"num_tokens": 3, "output_mode": "int"}, "argument 'output_mode' must be one of 'multi_hot', 'one_hot', "
                                              "'count', 'binary', got string 'int'"),
])
def test_category_encoding_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        CategoryEncoding(**kwargs)
    assert caught.value.message == message


# --------------------------------------------------------------------------
# Lambda

LAMBDA_MESSAGE = ("Lambda holds Python code, which a spec cannot carry: write the function as a plugin layer (see "
                  "README 'Custom layers', --plugin)")


def test_lambda_is_refused_at_its_type():
    with pytest.raises(ArgumentError) as caught:
        Lambda(function="x * 2")
    assert caught.value.message == LAMBDA_MESSAGE
    spec = loads_spec("""input: [4]
layers:
  - {units: 3}
  - type: Lambda
    function: "lambda x: x * 2"
    output_shape: [3]
""", path="lam.yaml")
    with pytest.raises(ArgumentError) as caught:
        build_model(spec)
    assert str(caught.value) == f"lam.yaml:4:11: layer 2 'lambda' (Lambda): {LAMBDA_MESSAGE}"


# --------------------------------------------------------------------------
# training-only layers: the identity at inference

IDENTITY_LAYERS = [
    (RandomFlip, {}), (RandomFlip, {"mode": "horizontal", "seed": 4}),
    (RandomRotation, {"factor": 0.2}), (RandomRotation, {"factor": [-0.1, 0.3], "fill_mode": "constant",
                                                         "interpolation": "nearest", "fill_value": 1.0}),
    (RandomZoom, {"height_factor": 0.2}), (RandomZoom, {"height_factor": [-0.3, 1.0], "width_factor": -0.5}),
    (RandomTranslation, {"height_factor": 0.1, "width_factor": [-0.2, 0.2], "fill_mode": "wrap"}),
    (RandomContrast, {"factor": 0.5}), (RandomContrast, {"factor": [0.1, 0.4], "value_range": [0, 1]}),
    (RandomBrightness, {"factor": -0.2}), (RandomBrightness, {"factor": [-0.2, 0.3], "value_range": [0, 1]}),
    (GaussianNoise, {"stddev": 0.1}), (GaussianDropout, {"rate": 0.3, "seed": 1}),
    (AlphaDropout, {"rate": 0.2}), (ActivityRegularization, {"l1": 0.01, "l2": 0.1}),
    (SpatialDropout2D, {"rate": 0.5}),
    (RandomGrayscale, {}), (RandomGrayscale, {"factor": 1}), (RandomHue, {"factor": 0.3}),
    (RandomSaturation, {"factor": [-0.5, 0.5], "value_range": [0, 1]}), (RandomSharpness, {"factor": 0.4}),
    (RandomColorDegeneration, {"factor": 0.5}), (RandomInvert, {}), (RandomInvert, {"factor": [0.2, 0.8]}),
    (RandomShear, {"x_factor": 0.2, "y_factor": [0.1, 0.3], "fill_mode": "nearest"}),
    (Solarization, {"addition_factor": 0.1, "threshold_factor": [0.2, 0.5]}), (CutMix, {}), (CutMix, {"factor": 0.5}),
    (MixUp, {}), (MixUp, {"alpha": 0.4, "seed": 2}),
]


@pytest.mark.parametrize("layer_class, kwargs", IDENTITY_LAYERS)
def test_training_only_layers_pass_their_input_through(layer_class, kwargs):
    layer = layer_class(**kwargs)
    x = images((2, 5, 6, 3))
    out = layer(x)
    np.testing.assert_array_equal(out, x)
    assert layer.compute_output_shape((None, 5, 6, 3)) == (None, 5, 6, 3)
    assert layer.count_params() == 0 and layer.count_macs((None, 5, 6, 3)) == 0
    assert layer.inference_note.startswith("identity")
    assert layer.get_config()["name"] == layerspec.layers.base.snake_case(layer_class.__name__)


def test_identity_notes():
    assert IDENTITY_NOTE == "identity at inference (training-time augmentation)"
    assert RandomFlip.inference_note == GaussianNoise.inference_note == AlphaDropout.inference_note == IDENTITY_NOTE
    assert ActivityRegularization.inference_note == "identity (adds a training loss only)"


def test_random_color_degeneration_needs_rgb_as_keras():
    with pytest.raises(ShapeError) as caught:
        RandomColorDegeneration(0.2).compute_output_shape((None, 5, 5, 1))
    assert caught.value.message == "needs RGB images, with 3 channels, got (None, 5, 5, 1)"
    assert RandomColorDegeneration(0.2).compute_output_shape((None, 5, 5, None)) == (None, 5, 5, None)


def test_image_augmentations_take_rank_3_or_4_as_keras():
    assert RandomFlip().compute_output_shape((None, 5, 6)) == (None, 5, 6)
    with pytest.raises(ShapeError) as caught:
        RandomContrast(0.2).compute_output_shape((None, 5))
    assert caught.value.message == ("needs images (batch, height, width, channels), or rank 3 as Keras also takes, "
                                    "got (None, 5)")


@pytest.mark.parametrize("layer_class, shape, message", [
    (SpatialDropout1D, (None, 4), "needs an input (batch, steps, channels), got (None, 4)"),
    (SpatialDropout2D, (None, 4, 3), "needs an input (batch, height, width, channels), got (None, 4, 3)"),
    (SpatialDropout3D, (None, 4, 3, 2), "needs an input (batch, depth, height, width, channels), got "
                                        "(None, 4, 3, 2)"),
])
def test_spatial_dropout_ranks(layer_class, shape, message):
    with pytest.raises(ShapeError) as caught:
        layer_class(rate=0.1).compute_output_shape(shape)
    assert caught.value.message == message
    assert layer_class(rate=0.1).compute_output_shape(shape + (2,)) == shape + (2,)


def test_alpha_dropout_checks_its_noise_shape_as_dropout():
    with pytest.raises(ShapeError, match="noise_shape"):
        built(AlphaDropout(rate=0.1, noise_shape=[None, 3]), (None, 4))


@pytest.mark.parametrize("layer_class, kwargs, message", [
    (RandomFlip, {"mode": "diagonal"}, "argument 'mode' must be one of 'horizontal', 'vertical', "
                                       "'horizontal_and_vertical', got string 'diagonal'"),
    (RandomRotation, {}, "missing required argument 'factor'"),
    (RandomRotation, {"factor": 1.5}, "argument 'factor' must be a number in [-1, 1] or a list of two numbers, got "
                                      "number 1.5"),
    (RandomRotation, {"factor": [2.0, 3.0]}, "argument 'factor' must be a number in [-1, 1] or a list of two "
                                             "numbers, got a list"),
    (RandomRotation, {"factor": 0.1, "fill_mode": "mirror"},
     "argument 'fill_mode' must be one of 'reflect', 'wrap', 'constant', 'nearest', got string 'mirror'"),
    (RandomRotation, {"factor": 0.1, "interpolation": "bicubic"},
     "argument 'interpolation' must be one of 'bilinear', 'nearest', got string 'bicubic'"),
    (RandomZoom, {"height_factor": -1.0}, "argument 'height_factor' must be a number in (-1, 1] or a list of two "
                                          "numbers in that range, got number -1.0"),
    (RandomZoom, {"height_factor": [0.1, 1.2]}, "argument 'height_factor' must be a number in (-1, 1] or a list "
                                                "of two numbers in that range, got a list"),
    (RandomTranslation, {"height_factor": 0.1}, "missing required argument 'width_factor'"),
    (RandomContrast, {"factor": -0.1}, "argument 'factor' must be a number in [0, 1] or a list of two numbers, got "
                                       "number -0.1"),
    (RandomBrightness, {"factor": 0.1, "value_range": [0]}, "argument 'value_range' must be a list of two numbers, "
                                                            "got a list"),
    (GaussianNoise, {"stddev": 2.0}, "argument 'stddev' must be a number >= 0 and <= 1, got number 2.0"),
    (GaussianDropout, {"rate": -0.5}, "argument 'rate' must be a number >= 0 and <= 1, got number -0.5"),
    (ActivityRegularization, {"l1": -1}, "argument 'l1' must be a number >= 0, got integer -1"),
    (SpatialDropout1D, {"rate": 0.1, "seed": -1}, "argument 'seed' must be an integer >= 0 or null, got integer -1"),
    (RandomCrop, {"height": 3}, "missing required argument 'width'"),
    (RandomGrayscale, {"factor": 1.5}, "argument 'factor' must be a number >= 0 and <= 1, got number 1.5"),
    (RandomGrayscale, {"factor": [0.1, 0.2]}, "argument 'factor' must be a number >= 0 and <= 1, got a list"),
    (RandomHue, {"factor": 2}, "argument 'factor' must be a number in [0, 1] or a list of two numbers, got "
                               "integer 2"),
    (RandomSaturation, {"factor": 0.2, "value_range": 255}, "argument 'value_range' must be a list of two numbers, "
                                                           "got integer 255"),
    (RandomShear, {"x_factor": -0.1}, "argument 'x_factor' must be a number in [0, 1] or a list of two numbers in "
                                      "that range, got number -0.1"),
    (Solarization, {"threshold_factor": [0.5, 1.5]}, "argument 'threshold_factor' must be a number in [0, 1] or a "
                                                     "list of two numbers in that range, got a list"),
    (MixUp, {"alpha": 0}, "argument 'alpha' must be a number > 0, got integer 0"),
    (CutMix, {"factor": 3}, "argument 'factor' must be a number in [0, 1] or a list of two numbers, got integer 3"),
])
def test_training_only_layer_argument_errors(layer_class, kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        layer_class(**kwargs)
    assert caught.value.message == message


# --------------------------------------------------------------------------
# through a spec


def test_an_image_pipeline_in_a_spec():
    model = layerspec.loads("""
input: [12, 10, 3]
layers:
  - {type: Rescaling, scale: 0.00392156862745098}
  - {type: RandomFlip, mode: horizontal}
  - {type: RandomRotation, factor: 0.1}
  - {type: RandomZoom, height_factor: [-0.2, 0.2]}
  - {type: Resizing, height: 8, width: 8, crop_to_aspect_ratio: true}
  - {type: CenterCrop, height: 6, width: 6}
  - {type: Normalization, mean: [0.5, 0.4, 0.3], variance: [0.1, 0.2, 0.3]}
  - {type: GaussianNoise, stddev: 0.1}
  - {type: SpatialDropout2D, rate: 0.2}
  - {type: Flatten}
  - {units: 2}
""")
    assert [layer.name for layer in model.layers][:4] == ["rescaling", "random_flip", "random_rotation", "random_zoom"]
    assert model.output_shape == (None, 2)
    assert model.count_params() == 6 * 6 * 3 * 2 + 2
    x = images((3, 12, 10, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = model.init(seed=0).predict(x)
    assert out.shape == (3, 2) and out.dtype == np.float32
    # The same computed by hand.
    h = x.astype(np.float64) / 255
    h = bilinear_reference(h[:, 1:11], 8, 8)[:, 1:7, 1:7]
    h = (h - [0.5, 0.4, 0.3]) / np.sqrt([0.1, 0.2, 0.3])
    dense = model.layers[-1]
    np.testing.assert_allclose(out, h.reshape(3, -1) @ dense.kernel.value + dense.bias.value, rtol=2e-4, atol=2e-5)


def test_rescaling_casts_integers_to_floats_before_scaling():
    from layerspec.layers import Rescaling

    result = Rescaling(scale=0.5, offset=1.0)(np.array([[1, 2, 3]], dtype=np.int32))
    np.testing.assert_array_equal(result, [[1.5, 2.0, 2.5]])
    assert result.dtype == np.float32
