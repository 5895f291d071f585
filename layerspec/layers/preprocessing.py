"""Preprocessing, augmentation and regularization layers (Keras 3's forms at inference).

- Rescaling and Normalization scale values; CategoryEncoding turns integer
  ids into one-hot, multi-hot or count vectors.
- CenterCrop and Resizing change an image's size; their resampling is JAX's
  ``jax.image.resize`` (half-pixel centres, Keras's ``antialias: false``),
  which Keras 3 calls, done here as one small matrix product per axis.
- The random augmentation layers (RandomFlip, RandomRotation, ...) and the
  noise and dropout layers only act in training: at inference, which is all
  layerspec runs, they pass their input through, as Keras does. Their
  arguments are still checked as Keras checks them, so a spec stays valid
  for Keras. RandomCrop is the exception, see its class.
- Lambda holds Python code and is refused with the way to write it.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..arguments import ArgumentKind, Boolean, Choice, DataFormat, Integer, Number, Optional, describe_value
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape, refuse_ids_outside
from .core import Dropout, known_product
from .normalization import AxisOrAxes
from .prepared import derived

#: Normalization divides by ``max(sqrt(variance), NORMALIZATION_EPSILON)``:
#: Keras 3's ``backend.epsilon()``.
NORMALIZATION_EPSILON = 1e-7

#: What the summary notes for a layer that only acts in training.
IDENTITY_NOTE = "identity at inference (training-time augmentation)"


# --------------------------------------------------------------------------
# argument kinds


def _finite_number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


class Scalars(ArgumentKind):
    """A number, or a (nested) list of numbers broadcast over the input.

    Returned as a float or as nested tuples of floats.
    """

    expected = "a number or a list of numbers"

    def check(self, value, argument):
        converted = self._convert(value)
        if converted is None:
            raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                                argument=argument)
        try:
            np.asarray(converted, dtype=np.float64)
        except ValueError:  # ragged lists
            raise ArgumentError(f"argument '{argument}' must be {self.expected}, got a ragged list "
                                "(nested lists of different lengths)", argument=argument) from None
        return converted

    def _convert(self, value):
        if isinstance(value, (list, tuple)):
            if not value:
                return None
            items = [self._convert(item) for item in value]
            return None if any(item is None for item in items) else tuple(items)
        return _finite_number(value)

    def json_schema(self):
        return {"anyOf": [{"type": "number"}, {"type": "array", "minItems": 1}]}


class Factor(ArgumentKind):
    """An augmentation's range: a number (``f`` means ``[-f, f]``, or
    ``[0, f]`` where negative values mean nothing) or a list of two numbers.

    The bounds are Keras's for each layer: ``each`` checks both numbers of
    a pair against them (RandomZoom, RandomTranslation); otherwise a pair is
    refused only when it lies wholly outside them, as Keras's base
    preprocessing layer does. ``low_open`` excludes the lower bound.
    """

    def __init__(self, low: float, high: float, each: bool = False, low_open: bool = False):
        self.low, self.high, self.each, self.low_open = low, high, each, low_open
        self.expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}] or a list of two numbers"
        if each:
            self.expected += " in that range"

    def _inside(self, number: float) -> bool:
        return (number > self.low if self.low_open else number >= self.low) and number <= self.high

    def check(self, value, argument):
        number = _finite_number(value)
        if number is not None and self._inside(number):
            return number
        if isinstance(value, (list, tuple)) and len(value) == 2:
            pair = [_finite_number(item) for item in value]
            if None not in pair:
                if self.each and all(self._inside(item) for item in pair):
                    return tuple(pair)
                if not self.each and not (pair[0] > self.high or pair[1] < self.low):
                    return tuple(pair)
        raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                            argument=argument)

    def json_schema(self):
        return {"anyOf": [{"type": "number"},
                          {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}]}


class NumberPair(ArgumentKind):
    """Two numbers, such as a ``value_range``; returned as a tuple."""

    expected = "a list of two numbers"

    def check(self, value, argument):
        if isinstance(value, (list, tuple)) and len(value) == 2:
            pair = [_finite_number(item) for item in value]
            if None not in pair:
                return tuple(pair)
        raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                            argument=argument)

    def json_schema(self):
        return {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}


#: The seeds of random layers: checked, unused at inference.
Seed = Optional(Integer(min=0))


# --------------------------------------------------------------------------
# Rescaling, Normalization


def _array_of(values, dtype) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).astype(dtype)


def _check_broadcast(name: str, values, input_shape) -> None:
    """Refuse ``values`` that would not broadcast onto each sample unchanged."""
    shape = np.shape(values)
    sample = tuple(input_shape[1:])
    if len(shape) > len(sample) or any(
            size != 1 and known is not None and size != known
            for size, known in zip(shape[::-1], sample[::-1])):
        raise ShapeError(f"{name} of shape {shape} does not broadcast over the samples {format_shape(sample)} "
                         f"of the input {format_shape(input_shape)}: its sizes, aligned from the right, must be "
                         "1 or the input's", argument=name)


@register
class Rescaling(Layer):
    """``x * scale + offset``: rescales values, e.g. pixels from [0, 255] to [0, 1].

    Args:
        scale: the factor: a number, or a list of numbers broadcast over
            each sample from the right (one per channel, say).
        offset: added after scaling: a number or such a list.

    Input shape:
        any. Output shape: the same.
    """

    supports_masking = True  # a mask passes through, as in Keras

    def __init__(self, scale: Scalars(), offset: Scalars() = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.offset = offset

    def compute_output_shape(self, input_shape):
        _check_broadcast("scale", self.scale, input_shape)
        _check_broadcast("offset", self.offset, input_shape)
        return tuple(input_shape)

    def count_macs(self, input_shape):
        return known_product(input_shape[1:])  # one multiply-add per value

    def call(self, inputs):
        if inputs.dtype.kind not in "f":  # as Keras: integers are cast to the compute dtype first
            inputs = inputs.astype(self.dtype)
        scale, offset = derived(self, ("scale", inputs.dtype.str), lambda: (
            _array_of(self.scale, inputs.dtype), _array_of(self.offset, inputs.dtype)))
        with np.errstate(over="ignore", invalid="ignore"):  # as Keras: inf * 0 is NaN
            outputs = inputs * scale
            outputs += offset
        return outputs


class _KeptAxes(Optional):
    """Normalization's ``axis``: an axis, a list of axes, or null for one
    mean and variance over everything."""

    def __init__(self):
        super().__init__(AxisOrAxes())


@register
class Normalization(Layer):
    """Shifts and scales values: ``(x - mean) / max(sqrt(variance), 1e-7)``, as Keras 3.

    With ``mean`` and ``variance`` given as arguments the layer has no
    weights (as in Keras). Without them it has Keras's non-trainable weights
    ``mean`` and ``variance`` (the sizes of the ``axis`` axes) and ``count``
    (a scalar Keras keeps for old saved models, unused; held as a float
    here), to load from a trained model.

    Args:
        axis: the axis, or list of axes, that have a mean and variance per
            index (``-1``: per feature of the last axis); null for a single
            mean and variance.
        mean: the mean: a number, or a list broadcast onto the ``axis``
            axes from the right; given together with ``variance``.
        variance: the variance, shaped as ``mean``; not negative.
        invert: apply the inverse transformation, ``mean + x *
            max(sqrt(variance), 1e-7)``.

    Input shape:
        any; the sizes of the ``axis`` axes must be known.
    Output shape:
        the same as the input.
    """

    supports_masking = True  # a mask passes through, as in Keras

    def __init__(self, axis: _KeptAxes() = -1, mean: Optional(Scalars()) = None,
                 variance: Optional(Scalars()) = None, invert: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            missing = "variance" if mean is not None else "mean"
            raise ArgumentError(f"argument '{missing}' is missing: 'mean' and 'variance' are given together",
                                argument="mean" if mean is not None else "variance")
        axes = () if axis is None else (axis if isinstance(axis, tuple) else (axis,))
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ArgumentError(f"'mean' has shape {np.shape(mean)} but 'variance' has shape "
                                    f"{np.shape(variance)}; they must be the same", argument="variance")
            if np.ndim(mean) > len(axes):
                raise ArgumentError(f"'mean' has {np.ndim(mean)} axes, more than the {len(axes)} of "
                                    f"'axis' ({'null' if axis is None else axis})", argument="mean")
            if (np.asarray(variance) < 0).any():
                raise ArgumentError(f"'variance' holds {float(np.min(variance))!r}; a variance cannot be "
                                    "negative", argument="variance")
        self.axis = axis
        self.axes = axes
        self.mean = mean
        self.variance = variance
        self.invert = invert

    def _kept(self, input_shape) -> tuple:
        """The kept axes, non-negative and sorted, checked against the input."""
        rank = len(input_shape)
        kept = []
        shown = "null" if self.axis is None else (list(self.axis) if isinstance(self.axis, tuple) else self.axis)
        for axis in self.axes:
            if not -rank <= axis < rank:
                raise ShapeError(f"axis {axis} is out of range for the input {format_shape(input_shape)}, "
                                 f"which has {rank} axes", argument="axis")
            axis %= rank
            if axis == 0:
                raise ShapeError(f"axis {shown} is the batch axis of the input {format_shape(input_shape)}; "
                                 "keep a feature axis such as -1, or null for one mean", argument="axis")
            if axis in kept:
                raise ShapeError(f"axis {shown} names axis {axis} of the input {format_shape(input_shape)} twice",
                                 argument="axis")
            if input_shape[axis] is None:
                raise ShapeError(f"needs a known size on axis {axis} (axis {shown}), got "
                                 f"{format_shape(input_shape)}", argument="axis")
            kept.append(axis)
        return tuple(sorted(kept))

    def _statistics_shape(self, input_shape) -> tuple:
        """Where the mean and variance sit over the input: its sizes on the
        kept axes, 1 elsewhere."""
        kept = self._kept(input_shape)
        return tuple(input_shape[axis] if axis in kept else 1 for axis in range(len(input_shape)))

    def _given_broadcast(self, input_shape) -> tuple:
        """The shape the given ``mean`` is reshaped to before broadcasting:
        its axes lined up with the kept axes from the right (Keras's rule)."""
        kept = self._kept(input_shape)
        given = np.shape(self.mean)
        expanded = [1] * len(input_shape)
        for position, size in enumerate(reversed(given), start=1):
            axis = kept[-position]
            if size not in (1, input_shape[axis]):
                raise ShapeError(f"'mean' and 'variance' of shape {given} do not fit the kept axes "
                                 f"{list(kept)} of the input {format_shape(input_shape)}: each size must be 1 "
                                 f"or the input's, lined up from the right", argument="mean")
            expanded[axis] = size
        return tuple(expanded)

    def build(self, input_shape):
        kept = self._kept(input_shape)
        if self.mean is not None:
            self._given_broadcast(input_shape)
            return
        shape = tuple(input_shape[axis] for axis in kept)
        self.adapt_mean = self.add_weight(shape=shape, initializer="zeros", name="mean", trainable=False)
        self.adapt_variance = self.add_weight(shape=shape, initializer="ones", name="variance", trainable=False)
        self.count = self.add_weight(shape=(), initializer="zeros", name="count", trainable=False)

    def compute_output_shape(self, input_shape):
        self._kept(input_shape)
        if self.mean is not None:
            self._given_broadcast(input_shape)
        return tuple(input_shape)

    def count_macs(self, input_shape):
        return known_product(input_shape[1:])  # one subtract-multiply per value

    def weight_problem(self, values):
        if self.mean is not None:
            return None
        variance = values["variance"]
        if variance.size and np.min(variance) < 0:
            index = np.unravel_index(int(np.argmin(variance)), variance.shape)
            shown = "" if variance.ndim == 0 else "[" + ", ".join(str(int(i)) for i in index) + "]"
            return "variance", f"variance{shown} is {variance[index]!s}; a variance cannot be negative"
        return None

    def _statistics(self, input_shape, dtype) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, deviation)`` shaped to broadcast over the input, the
        deviation being ``max(sqrt(variance), 1e-7)``."""
        if self.mean is not None:
            shape = self._given_broadcast(input_shape)
            mean = np.asarray(self.mean, np.float64).reshape(shape)
            variance = np.asarray(self.variance, np.float64).reshape(shape)
        else:
            shape = self._statistics_shape(input_shape)
            problem = self.weight_problem({"variance": self.adapt_variance.value})
            if problem is not None:  # weights assigned one by one, past the model's checks
                from ..errors import WeightsError

                raise WeightsError(f"Normalization '{self.name}': {problem[1]}")
            mean = self.adapt_mean.value.reshape(shape)
            variance = self.adapt_variance.value.reshape(shape)
        deviation = np.maximum(np.sqrt(variance.astype(dtype)), np.dtype(dtype).type(NORMALIZATION_EPSILON))
        return mean.astype(dtype), deviation

    def call(self, inputs):
        # The per-sample shape only matters through the kept axes' sizes,
        # which are fixed; the key holds the rank and dtype.
        shape = (None,) + inputs.shape[1:]
        mean, deviation = derived(self, ("statistics", inputs.ndim, inputs.dtype.str),
                                  lambda: self._statistics(shape, inputs.dtype))
        if self.invert:
            outputs = inputs * deviation
            outputs += mean
            return outputs
        outputs = inputs - mean
        outputs /= deviation
        return outputs


# --------------------------------------------------------------------------
# resampling: jax.image.resize, as Keras 3 calls it


def _triangle(x):
    return np.maximum(0.0, 1.0 - x)


def _keys_cubic(x):
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return np.where(x >= 2.0, 0.0, out)


def _lanczos(radius):
    def kernel(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius)
            out = np.where(x > 1e-3, y / np.where(x != 0, np.pi ** 2 * x ** 2, 1.0), 1.0)
        return np.where(x > radius, 0.0, out)

    return kernel


_KERNELS = {"bilinear": _triangle, "bicubic": _keys_cubic, "lanczos3": _lanczos(3.0), "lanczos5": _lanczos(5.0)}
INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")


def resize_matrix(in_size: int, out_size: int, interpolation: str, antialias: bool = False) -> np.ndarray:
    """The ``(out_size, in_size)`` matrix resampling one axis, as
    ``jax.image.resize`` builds it: output pixel ``i`` samples the input at
    ``(i + 0.5) * in / out - 0.5`` (half-pixel centres), weighting the
    pixels around it by the kernel (widened by ``in / out`` when shrinking
    with ``antialias``); each row's weights are divided by their sum, which
    at the edges amounts to repeating the edge pixel."""
    inverse_scale = in_size / out_size
    kernel_scale = max(inverse_scale, 1.0) if antialias else 1.0
    sample = (np.arange(out_size) + 0.5) * inverse_scale - 0.5
    distance = np.abs(sample[:, None] - np.arange(in_size)[None, :]) / kernel_scale
    weights = _KERNELS[interpolation](distance)
    total = np.sum(weights, axis=1, keepdims=True)
    weights = np.where(np.abs(total) > 1000 * float(np.finfo(np.float32).eps),
                       weights / np.where(total != 0, total, 1.0), 0.0)
    inside = (sample >= -0.5) & (sample <= in_size - 0.5)
    return np.where(inside[:, None], weights, 0.0)


def nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """The input pixel each output pixel copies: ``floor((i + 0.5) * in /
    out)``, computed in float32 as ``jax.image.resize`` does."""
    offsets = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * np.float32(in_size) / np.float32(out_size)
    return np.minimum(np.floor(offsets).astype(np.int64), in_size - 1)


#: An axis is resampled by gathering its taps (the few input pixels each
#: output pixel mixes) when its input is longer than this many times the
#: taps; shorter ones take one matrix product. Measured on 8 images
#: (batch): 224 → 112 bilinear (2 taps), 22 ms by taps against 63 ms by a
#: product; 64 → 128 with 32 channels, 73 against 399 ms; but 32 → 28, 0.22
#: against 0.06 ms, and 128 → 256 lanczos5 (10 taps), 212 against 189 ms.
TAPS_FACTOR = 24


@functools.lru_cache(maxsize=128)
def _axis_plan(in_size: int, out_size: int, interpolation: str, antialias: bool, dtype: str):
    """How one axis is resampled: ``("product", matrix)`` or ``("taps",
    indices, weights)`` with ``indices``/``weights`` ``(out_size, taps)``.
    Cached: the arrays are read-only."""
    matrix = resize_matrix(in_size, out_size, interpolation, antialias)
    nonzero = matrix != 0
    used = nonzero.any(axis=1)
    first = np.where(used, nonzero.argmax(axis=1), 0)
    last = np.where(used, in_size - 1 - nonzero[:, ::-1].argmax(axis=1), 0)
    taps = int((last - first).max()) + 1
    if in_size <= TAPS_FACTOR * taps:
        arrays = (matrix.astype(dtype),)
        kind = "product"
    else:
        reach = first[:, None] + np.arange(taps)
        indices = np.minimum(reach, in_size - 1)
        weights = np.where(reach < in_size, np.take_along_axis(matrix, indices, axis=1), 0.0).astype(dtype)
        arrays = (indices, weights)
        kind = "taps"
    for array in arrays:
        array.flags.writeable = False
    return (kind,) + arrays


def _resample_axis(images: np.ndarray, axis: int, out_size: int, interpolation: str, antialias: bool) -> np.ndarray:
    kind, *arrays = _axis_plan(images.shape[axis], out_size, interpolation, antialias, images.dtype.str)
    if kind == "product":
        (matrix,) = arrays
        # (..., in, rest) → (..., out, rest): rows first, then columns.
        if axis == 1:
            batch, size, width, channels = images.shape
            out = np.matmul(matrix, np.ascontiguousarray(images).reshape(batch, size, width * channels))
            return out.reshape(batch, out_size, width, channels)
        batch, height, size, channels = images.shape
        out = np.matmul(matrix, np.ascontiguousarray(images).reshape(batch * height, size, channels))
        return out.reshape(batch, height, out_size, channels)
    indices, weights = arrays
    shape = [1] * images.ndim
    shape[axis] = out_size
    out = None
    for tap in range(indices.shape[1]):  # 2 for bilinear, 4 bicubic: a loop over taps
        part = np.take(images, indices[:, tap], axis=axis)
        part *= weights[:, tap].reshape(shape)
        if out is None:
            out = part
        else:
            out += part
    return out


def resize_images(images: np.ndarray, height: int, width: int, interpolation: str,
                  antialias: bool = False) -> np.ndarray:
    """Resize ``(batch, h, w, c)`` images to ``(batch, height, width, c)``;
    an axis whose size does not change is left alone, as JAX does."""
    in_height, in_width = images.shape[1:3]
    if interpolation == "nearest":
        if in_height != height:
            images = np.take(images, nearest_indices(in_height, height), axis=1)
        if in_width != width:
            images = np.take(images, nearest_indices(in_width, width), axis=2)
        return np.ascontiguousarray(images)
    if in_height != height:
        images = _resample_axis(images, 1, height, interpolation, antialias)
    if in_width != width:
        images = _resample_axis(images, 2, width, interpolation, antialias)
    return np.ascontiguousarray(images)


def resize_macs(in_height, in_width, channels, height, width, interpolation, antialias=False) -> int | None:
    """Multiply-accumulates of :func:`resize_images` per image: one per
    non-zero weight and channel, axis by axis (0 for ``nearest``)."""
    if None in (in_height, in_width, channels):
        return None
    if interpolation == "nearest":
        return 0
    macs = 0
    if in_height != height:
        macs += int(np.count_nonzero(resize_matrix(in_height, height, interpolation, antialias))) * in_width * channels
    if in_width != width:
        macs += int(np.count_nonzero(resize_matrix(in_width, width, interpolation, antialias))) * height * channels
    return macs


def aspect_crop(in_height: int, in_width: int, height: int, width: int) -> tuple[int, int, int, int]:
    """``(top, left, crop height, crop width)``: the largest centred window
    with the target's aspect ratio (Keras's ``smart_resize`` arithmetic)."""
    crop_height = max(min(in_height, int(float(in_width * height) / width)), 1)
    crop_width = max(min(in_width, int(float(in_height * width) / height)), 1)
    return (int(float(in_height - crop_height) / 2), int(float(in_width - crop_width) / 2),
            crop_height, crop_width)


def smart_resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Keras's ``smart_resize``: the largest centred window with the
    target's aspect ratio, resized bilinearly to ``(height, width)``."""
    top, left, crop_height, crop_width = aspect_crop(images.shape[1], images.shape[2], height, width)
    window = images[:, top:top + crop_height, left:left + crop_width, :]
    return resize_images(window, height, width, "bilinear")


def _image_shape(input_shape, ranks=(4,)) -> None:
    if len(input_shape) not in ranks:
        wanted = "(batch, height, width, channels)" if ranks == (4,) else \
            "(batch, height, width, channels), or rank 3 as Keras also takes"
        raise ShapeError(f"needs images {wanted}, got {format_shape(input_shape)}")


class _Resampling(Layer):
    """Shared by the layers giving ``(batch, height, width, channels)``."""

    def compute_output_shape(self, input_shape):
        _image_shape(input_shape)
        return (input_shape[0], self.height, self.width, input_shape[3])


@register
class CenterCrop(_Resampling):
    """Crops the centre of each image to ``height`` x ``width``.

    As in Keras 3: an image at least as large on both axes is cropped
    (``top = (in_height - height) // 2``, likewise ``left``); one smaller on
    either axis is instead resized, Keras's ``smart_resize``: the largest
    centred window with the target's aspect ratio, resized bilinearly.

    Args:
        height: the output's height.
        width: the output's width.
        data_format: ``channels_last`` (or null), the only layout.

    Input shape:
        ``(batch, height, width, channels)``; sizes may be unknown.
    Output shape:
        ``(batch, height, width, channels)`` with the layer's height and width.
    """

    def __init__(self, height: Integer(min=1), width: Integer(min=1), data_format: DataFormat() = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.height = height
        self.width = width
        self.data_format = data_format

    def count_macs(self, input_shape):
        _, in_height, in_width, channels = input_shape
        if in_height is None or in_width is None:
            return None
        if in_height >= self.height and in_width >= self.width:
            return 0
        _, _, crop_height, crop_width = aspect_crop(in_height, in_width, self.height, self.width)
        return resize_macs(crop_height, crop_width, channels, self.height, self.width, "bilinear")

    def call(self, inputs):
        in_height, in_width = inputs.shape[1:3]
        if in_height >= self.height and in_width >= self.width:
            top, left = (in_height - self.height) // 2, (in_width - self.width) // 2
            return inputs[:, top:top + self.height, left:left + self.width, :].copy()
        return smart_resize(inputs, self.height, self.width)


@register
class Resizing(_Resampling):
    """Resizes images to ``height`` x ``width`` (Keras 3 with JAX's resampling).

    Output pixel ``i`` samples the input at ``(i + 0.5) * in / out - 0.5``
    (half-pixel centres); ``nearest`` copies pixel ``floor((i + 0.5) * in /
    out)``. An axis whose size does not change is copied.

    Args:
        height: the output's height.
        width: the output's width.
        interpolation: ``bilinear``, ``nearest``, ``bicubic`` (Keys, a =
            -0.5), ``lanczos3`` or ``lanczos5``.
        crop_to_aspect_ratio: first crop the largest centred window with the
            target's aspect ratio.
        pad_to_aspect_ratio: first pad the short side evenly (by the same
            count on both sides) with ``fill_value`` towards the target's
            aspect ratio.
        fill_mode: ``constant``, the only mode (as in Keras).
        fill_value: the value padding fills with.
        antialias: widen the kernel when shrinking (filtering out what the
            smaller image cannot hold).
        data_format: ``channels_last`` (or null), the only layout.

    Input shape:
        ``(batch, height, width, channels)``; sizes may be unknown.
    Output shape:
        ``(batch, height, width, channels)`` with the layer's height and width.
    """

    def __init__(self, height: Integer(min=1), width: Integer(min=1),
                 interpolation: Choice(*INTERPOLATIONS) = "bilinear", crop_to_aspect_ratio: Boolean() = False,
                 pad_to_aspect_ratio: Boolean() = False, fill_mode: Choice("constant") = "constant",
                 fill_value: Number() = 0.0, antialias: Boolean() = False, data_format: DataFormat() = None,
                 **kwargs):
        super().__init__(**kwargs)
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ArgumentError("only one of 'crop_to_aspect_ratio' and 'pad_to_aspect_ratio' can be true",
                                argument="pad_to_aspect_ratio")
        self.height = height
        self.width = width
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.antialias = antialias
        self.data_format = data_format

    def _padding(self, in_height: int, in_width: int) -> tuple[int, int]:
        """``(rows, columns)`` added on each side by ``pad_to_aspect_ratio``
        (Keras pads rows if any are needed, else columns)."""
        pad_height = max(in_height, int(float(in_width * self.height) / self.width))
        pad_width = max(in_width, int(float(in_height * self.width) / self.height))
        rows = int(float(pad_height - in_height) / 2)
        columns = int(float(pad_width - in_width) / 2)
        return (rows, 0) if rows > 0 else (0, max(columns, 0))

    def _source_size(self, in_height: int, in_width: int) -> tuple[int, int]:
        """The size resampled, after cropping or padding."""
        if self.crop_to_aspect_ratio:
            return aspect_crop(in_height, in_width, self.height, self.width)[2:]
        if self.pad_to_aspect_ratio:
            rows, columns = self._padding(in_height, in_width)
            return in_height + 2 * rows, in_width + 2 * columns
        return in_height, in_width

    def count_macs(self, input_shape):
        _, in_height, in_width, channels = input_shape
        if in_height is None or in_width is None:
            return None
        source_height, source_width = self._source_size(in_height, in_width)
        return resize_macs(source_height, source_width, channels, self.height, self.width, self.interpolation,
                           self.antialias)

    def call(self, inputs):
        in_height, in_width = inputs.shape[1:3]
        if self.crop_to_aspect_ratio:
            top, left, crop_height, crop_width = aspect_crop(in_height, in_width, self.height, self.width)
            inputs = inputs[:, top:top + crop_height, left:left + crop_width, :]
        elif self.pad_to_aspect_ratio:
            rows, columns = self._padding(in_height, in_width)
            if rows or columns:
                inputs = np.pad(inputs, ((0, 0), (rows, rows), (columns, columns), (0, 0)),
                                constant_values=inputs.dtype.type(self.fill_value))
        return resize_images(inputs, self.height, self.width, self.interpolation, self.antialias)


# --------------------------------------------------------------------------
# CategoryEncoding


@register
class CategoryEncoding(Layer):
    """Integer ids → one-hot, multi-hot or count vectors of ``num_tokens``.

    Shapes are Keras 3's: ``one_hot`` adds an axis of ``num_tokens`` after
    the input's, except that a last axis of size 1 is replaced by it
    (``(batch,)`` and ``(batch, 1)`` both give ``(batch, num_tokens)``);
    ``multi_hot`` (``binary`` is its old name) and ``count`` turn each
    sample's ids ``(batch, n)`` into one vector ``(batch, num_tokens)``
    holding 1 for each id present, or how often it occurs. An id outside
    ``[0, num_tokens)`` is an error naming it and its position (Keras would
    quietly give a row of zeros).

    Args:
        num_tokens: the number of distinct ids.
        output_mode: ``multi_hot`` (default), ``one_hot`` or ``count``.
        sparse: only ``false`` is supported.

    Input shape:
        integer ids (float arrays holding whole numbers are accepted):
        ``(batch, ...)`` for ``one_hot``, ``(batch, n)`` otherwise.
    Output shape:
        see above; float values.
    """

    has_macs = False
    input_kind = "int"

    def __init__(self, num_tokens: Integer(min=1),
                 output_mode: Choice("multi_hot", "one_hot", "count", "binary") = "multi_hot",
                 sparse: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        if sparse:
            raise ArgumentError("argument 'sparse': only false is supported by layerspec (dense outputs)",
                                argument="sparse")
        self.num_tokens = num_tokens
        self.output_mode = "multi_hot" if output_mode == "binary" else output_mode
        self.sparse = sparse

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.output_mode == "one_hot":
            if len(input_shape) == 1:
                return input_shape + (self.num_tokens,)
            if input_shape[-1] is None:
                raise ShapeError(f"output_mode 'one_hot' needs a known size on the last axis (a size of 1 is "
                                 f"replaced by the one-hot axis, as Keras does), got {format_shape(input_shape)}")
            if input_shape[-1] == 1:
                return input_shape[:-1] + (self.num_tokens,)
            return input_shape + (self.num_tokens,)
        if len(input_shape) != 2:
            raise ShapeError(f"output_mode '{self.output_mode}' takes ids shaped (batch, n), got "
                             f"{format_shape(input_shape)}"
                             + (" (Keras would merge the whole batch into one row: give each sample an axis, "
                                "e.g. input [1])" if len(input_shape) == 1 else ""),
                             argument="output_mode")
        return (input_shape[0], self.num_tokens)

    def call(self, inputs):
        if inputs.dtype.kind != "i":
            from ..arrays import convert_integers

            inputs = convert_integers(inputs, f"CategoryEncoding '{self.name}' input")
        self.check_ids(inputs)
        dtype = np.dtype(self.dtype)
        if self.output_mode == "one_hot":
            if inputs.ndim > 1 and inputs.shape[-1] == 1:
                inputs = inputs[..., 0]
            return np.eye(self.num_tokens, dtype=dtype)[inputs]
        rows = len(inputs)
        flat = (np.arange(rows, dtype=np.int64)[:, None] * self.num_tokens + inputs).ravel()
        counts = np.bincount(flat, minlength=rows * self.num_tokens).reshape(rows, self.num_tokens)
        if self.output_mode == "multi_hot":
            return (counts > 0).astype(dtype)
        return counts.astype(dtype)

    def check_ids(self, ids: np.ndarray) -> None:
        """Refuse ids outside ``[0, num_tokens)``, naming the first."""
        refuse_ids_outside(ids, self.num_tokens, f"CategoryEncoding '{self.name}'", "id")


# --------------------------------------------------------------------------
# Lambda


@register
class Lambda(Layer):
    """Keras's Lambda layer: refused, since its function is Python code.

    Write the function as a plugin layer instead (README, "Custom layers";
    ``--plugin``).

    Args:
        function: the Python function (refused).
        output_shape: its output shape.
        mask: its mask.
        arguments: extra keyword arguments of the function.
    """

    def __init__(self, function=None, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        raise ArgumentError("Lambda holds Python code, which a spec cannot carry: write the function as a "
                            "plugin layer (see README 'Custom layers', --plugin)", argument="type")


# --------------------------------------------------------------------------
# augmentation: the identity at inference


class _Augmentation(Layer):
    """A training-time image augmentation: at inference, Keras returns the
    images unchanged, and so does layerspec."""

    has_macs = False
    inference_note = IDENTITY_NOTE

    def compute_output_shape(self, input_shape):
        _image_shape(input_shape, ranks=(4, 3))
        return tuple(input_shape)

    def call(self, inputs):
        return inputs


_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("bilinear", "nearest")


@register
class RandomFlip(_Augmentation):
    """Flips images at random in training; the identity at inference.

    Args:
        mode: ``horizontal``, ``vertical`` or ``horizontal_and_vertical``.
        seed: random seed (checked, unused).
        data_format: ``channels_last`` (or null).

    Input shape:
        ``(batch, height, width, channels)`` (rank 3 too, as Keras).
    Output shape:
        the same.
    """

    def __init__(self, mode: Choice("horizontal", "vertical", "horizontal_and_vertical") = "horizontal_and_vertical",
                 seed: Seed = None, data_format: DataFormat() = None, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.seed = seed
        self.data_format = data_format


@register
class RandomRotation(_Augmentation):
    """Rotates images at random in training; the identity at inference.

    Args:
        factor: the rotation range, as a fraction of a full turn: ``f``
            means ``[-f, f]``; a number in [-1, 1] or a list of two.
        fill_mode: ``reflect``, ``wrap``, ``constant`` or ``nearest``.
        interpolation: ``bilinear`` or ``nearest``.
        seed: random seed (checked, unused).
        fill_value: the value ``constant`` fills with.
        data_format: ``channels_last`` (or null).

    Input shape:
        ``(batch, height, width, channels)`` (rank 3 too, as Keras).
    Output shape:
        the same.
    """

    def __init__(self, factor: Factor(-1, 1), fill_mode: Choice(*_FILL_MODES) = "reflect",
                 interpolation: Choice(*_INTERPOLATIONS) = "bilinear", seed: Seed = None,
                 fill_value: Number() = 0.0, data_format: DataFormat() = None, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.seed = seed
        self.fill_value = fill_value
        self.data_format = data_format


@register
class RandomZoom(_Augmentation):
    """Zooms images at random in training; the identity at inference.

    Args:
        height_factor: the vertical zoom range, as a fraction: a number in
            (-1, 1] or a list of two (negative zooms in).
        width_factor: the same for the width; null keeps the aspect ratio.
        fill_mode: ``reflect``, ``wrap``, ``constant`` or ``nearest``.
        interpolation: ``bilinear`` or ``nearest``.
        seed: random seed (checked, unused).
        fill_value: the value ``constant`` fills with.
        data_format: ``channels_last`` (or null).

    Input shape:
        ``(batch, height, width, channels)`` (rank 3 too, as Keras).
    Output shape:
        the same.
    """

    def __init__(self, height_factor: Factor(-1, 1, each=True, low_open=True),
                 width_factor: Optional(Factor(-1, 1, each=True, low_open=True)) = None,
                 fill_mode: Choice(*_FILL_MODES) = "reflect", interpolation: Choice(*_INTERPOLATIONS) = "bilinear",
                 seed: Seed = None, fill_value: Number() = 0.0, data_format: DataFormat() = None, **kwargs):
        super().__init__(**kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.seed = seed
        self.fill_value = fill_value
        self.data_format = data_format


@register
class RandomTranslation(_Augmentation):
    """Shifts images at random in training; the identity at inference.

    Args:
        height_factor: the vertical shift range, as a fraction of the
            height: a number in [-1, 1] or a list of two.
        width_factor: the same for the width.
        fill_mode: ``reflect``, ``wrap``, ``constant`` or ``nearest``.
        interpolation: ``bilinear`` or ``nearest``.
        seed: random seed (checked, unused).
        fill_value: the value ``constant`` fills with.
        data_format: ``channels_last`` (or null).

    Input shape:
        ``(batch, height, width, channels)`` (rank 3 too, as Keras).
    Output shape:
        the same.
    """

    def __init__(self, height_factor: Factor(-1, 1, each=True), width_factor: Factor(-1, 1, each=True),
                 fill_mode: Choice(*_FILL_MODES) = "reflect", interpolation: Choice(*_INTERPOLATIONS) = "bilinear",
                 seed: Seed = None, fill_value: Number() = 0.0, data_format: DataFormat() = None, **kwargs):
        super().__init__(**kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.seed = seed
        self.fill_value = fill_value
        self.data_format = data_format


@register
class RandomContrast(_Augmentation):
    """Changes contrast at random in training; the identity at inference.

    Args:
        factor: the contrast range: a number in [0, 1] (``f`` means a factor
            in ``[1 - f, 1 + f]``) or a list of two.
        value_range: the images' value range, ``[low, high]``.
        seed: random seed (checked, unused).

    Input shape:
        ``(batch, height, width, channels)`` (rank 3 too, as Keras).
    Output shape:
        the same.
    """

    def __init__(self, factor: Factor(0, 1), value_range: NumberPair() = (0, 255), seed: Seed = None, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.value_range = value_range
        self.seed = seed


@register
class RandomBrightness(_Augmentation):
    """Changes brightness at random in training; the identity at inference.

    Args:
        factor: the brightness range, as a fraction of ``value_range``: a
            number in [-1, 1] or a list of two.
        value_range: the images' value range, ``[low, high]``.
        seed: random seed (checked, unused).

    Input shape:
        ``(batch, height, width, channels)`` (rank 3 too, as Keras).
    Output shape:
        the same.
    """

    def __init__(self, factor: Factor(-1, 1), value_range: NumberPair() = (0, 255), seed: Seed = None, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.value_range = value_range
        self.seed = seed


@register
class RandomGrayscale(_Augmentation):
    """Turns images grey at random in training; the identity at inference.

    Args:
        factor: the probability of turning an image grey, in [0, 1].
        data_format: ``channels_last`` (or null).
        seed: random seed (checked, unused).
    """

    def __init__(self, factor: Number(min=0, max=1) = 0.5, data_format: DataFormat() = None, seed: Seed = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.data_format = data_format
        self.seed = seed


class _ColorAugmentation(_Augmentation):
    """A colour augmentation taking ``factor``, ``value_range``,
    ``data_format`` and ``seed`` (Keras's order)."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.value_range = value_range
        self.data_format = data_format
        self.seed = seed


@register
class RandomHue(_ColorAugmentation):
    """Shifts hues at random in training; the identity at inference.

    Args:
        factor: the hue shift range: a number in [0, 1] or a list of two.
        value_range: the images' value range, ``[low, high]``.
        data_format: ``channels_last`` (or null).
        seed: random seed (checked, unused).
    """

    def __init__(self, factor: Factor(0, 1), value_range: NumberPair() = (0, 255), data_format: DataFormat() = None,
                 seed: Seed = None, **kwargs):
        super().__init__(factor, value_range, data_format, seed, **kwargs)


@register
class RandomSaturation(_ColorAugmentation):
    """Changes saturation at random in training; the identity at inference.

    Args:
        factor: the saturation range: a number in [-1, 1] or a list of two.
        value_range: the images' value range, ``[low, high]``.
        data_format: ``channels_last`` (or null).
        seed: random seed (checked, unused).
    """

    def __init__(self, factor: Factor(-1, 1), value_range: NumberPair() = (0, 255), data_format: DataFormat() = None,
                 seed: Seed = None, **kwargs):
        super().__init__(factor, value_range, data_format, seed, **kwargs)


@register
class RandomSharpness(_ColorAugmentation):
    """Changes sharpness at random in training; the identity at inference.

    Args:
        factor: the sharpness range: a number in [0, 1] or a list of two.
        value_range: the images' value range, ``[low, high]``.
        data_format: ``channels_last`` (or null).
        seed: random seed (checked, unused).
    """

    def __init__(self, factor: Factor(0, 1), value_range: NumberPair() = (0, 255), data_format: DataFormat() = None,
                 seed: Seed = None, **kwargs):
        super().__init__(factor, value_range, data_format, seed, **kwargs)


@register
class RandomColorDegeneration(_ColorAugmentation):
    """Blends images towards grey at random in training; the identity at inference.

    Args:
        factor: the blending range: a number in [-1, 1] or a list of two.
        value_range: the images' value range, ``[low, high]``.
        data_format: ``channels_last`` (or null).
        seed: random seed (checked, unused).

    Input shape:
        RGB images, 3 channels (as Keras requires).
    """

    def __init__(self, factor: Factor(-1, 1), value_range: NumberPair() = (0, 255), data_format: DataFormat() = None,
                 seed: Seed = None, **kwargs):
        super().__init__(factor, value_range, data_format, seed, **kwargs)

    def compute_output_shape(self, input_shape):
        super().compute_output_shape(input_shape)
        if input_shape[-1] is not None and input_shape[-1] != 3:
            raise ShapeError(f"needs RGB images, with 3 channels, got {format_shape(input_shape)}")
        return tuple(input_shape)


@register
class RandomInvert(_Augmentation):
    """Inverts images at random in training; the identity at inference.

    Args:
        factor: the probability range of inverting: a number in [0, 1] or a
            list of two.
        value_range: the images' value range, ``[low, high]``.
        seed: random seed (checked, unused).
        data_format: ``channels_last`` (or null).
    """

    def __init__(self, factor: Factor(0, 1) = 1.0, value_range: NumberPair() = (0, 255), seed: Seed = None,
                 data_format: DataFormat() = None, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.value_range = value_range
        self.seed = seed
        self.data_format = data_format


@register
class RandomShear(_Augmentation):
    """Shears images at random in training; the identity at inference.

    Args:
        x_factor: the horizontal shear range: a number in [0, 1] or a list
            of two in that range.
        y_factor: the vertical shear range, likewise.
        interpolation: ``bilinear`` or ``nearest``.
        fill_mode: ``reflect``, ``wrap``, ``constant`` or ``nearest``.
        fill_value: the value ``constant`` fills with.
        data_format: ``channels_last`` (or null).
        seed: random seed (checked, unused).
    """

    def __init__(self, x_factor: Factor(0, 1, each=True) = 0.0, y_factor: Factor(0, 1, each=True) = 0.0,
                 interpolation: Choice(*_INTERPOLATIONS) = "bilinear", fill_mode: Choice(*_FILL_MODES) = "reflect",
                 fill_value: Number() = 0.0, data_format: DataFormat() = None, seed: Seed = None, **kwargs):
        super().__init__(**kwargs)
        self.x_factor = x_factor
        self.y_factor = y_factor
        self.interpolation = interpolation
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.data_format = data_format
        self.seed = seed


@register
class Solarization(_Augmentation):
    """Inverts pixels above a random threshold in training; the identity at inference.

    Args:
        addition_factor: the range of values added first, as a fraction of
            255: a number in [0, 1] or a list of two in that range.
        threshold_factor: the threshold's range, likewise.
        value_range: the images' value range, ``[low, high]``.
        seed: random seed (checked, unused).
    """

    def __init__(self, addition_factor: Factor(0, 1, each=True) = 0.0,
                 threshold_factor: Factor(0, 1, each=True) = 0.0, value_range: NumberPair() = (0, 255),
                 seed: Seed = None, **kwargs):
        super().__init__(**kwargs)
        self.addition_factor = addition_factor
        self.threshold_factor = threshold_factor
        self.value_range = value_range
        self.seed = seed


@register
class CutMix(_Augmentation):
    """Pastes patches between a batch's images in training; the identity at inference.

    Args:
        factor: the mixing range: a number in [0, 1] or a list of two.
        seed: random seed (checked, unused).
        data_format: ``channels_last`` (or null).
    """

    def __init__(self, factor: Factor(0, 1) = 1.0, seed: Seed = None, data_format: DataFormat() = None, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.seed = seed
        self.data_format = data_format


@register
class MixUp(_Augmentation):
    """Blends the images of a batch in training; the identity at inference.

    Args:
        alpha: the Beta distribution's parameter the blending weights are
            drawn from, > 0.
        data_format: ``channels_last`` (or null).
        seed: random seed (checked, unused).
    """

    def __init__(self, alpha: Number(min=0, min_exclusive=True) = 0.2, data_format: DataFormat() = None,
                 seed: Seed = None, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self.data_format = data_format
        self.seed = seed


@register
class RandomCrop(_Resampling):
    """Crops images at random in training; at inference, a centred crop resized to the target.

    At inference, Keras's documented form: the largest centred window with
    the target's aspect ratio, resized bilinearly to ``height`` x ``width``
    (an image already that size passes unchanged).

    That is what Keras 3 documents (and Keras 2 did), and the output shape
    Keras 3 declares. Keras 3.15's own ``predict`` skips the crop and
    returns the images unchanged, contradicting its declared shape (Keras
    issue 21868): only images already ``height`` x ``width`` give the same
    result in both.

    Args:
        height: the output's height.
        width: the output's width.
        seed: random seed (checked, unused).
        data_format: ``channels_last`` (or null).

    Input shape:
        ``(batch, height, width, channels)``; sizes may be unknown.
    Output shape:
        ``(batch, height, width, channels)`` with the layer's height and width.
    """

    inference_note = "centre crop and resize at inference (Keras's documented form)"

    def __init__(self, height: Integer(min=1), width: Integer(min=1), seed: Seed = None,
                 data_format: DataFormat() = None, **kwargs):
        super().__init__(**kwargs)
        self.height = height
        self.width = width
        self.seed = seed
        self.data_format = data_format

    def count_macs(self, input_shape):
        _, in_height, in_width, channels = input_shape
        if in_height is None or in_width is None:
            return None
        _, _, crop_height, crop_width = aspect_crop(in_height, in_width, self.height, self.width)
        return resize_macs(crop_height, crop_width, channels, self.height, self.width, "bilinear")

    def call(self, inputs):
        return smart_resize(inputs, self.height, self.width)


# --------------------------------------------------------------------------
# noise, dropout and regularization: the identity at inference


class _TrainingOnly(Layer):
    """A layer acting only in training: the identity at inference."""

    has_macs = False
    inference_note = IDENTITY_NOTE

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        return inputs


@register
class GaussianNoise(_TrainingOnly):
    """Adds zero-mean Gaussian noise in training; the identity at inference.

    Args:
        stddev: the noise's standard deviation, in [0, 1] (as Keras).
        seed: random seed (checked, unused).

    Input shape:
        any. Output shape: the same.
    """

    supports_masking = True  # a mask passes through, as in Keras

    def __init__(self, stddev: Number(min=0, max=1), seed: Seed = None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev
        self.seed = seed


@register
class GaussianDropout(_TrainingOnly):
    """Multiplies by Gaussian noise of mean 1 in training; the identity at inference.

    Args:
        rate: the drop probability, in [0, 1]; the noise's standard deviation
            is ``sqrt(rate / (1 - rate))``.
        seed: random seed (checked, unused).

    Input shape:
        any. Output shape: the same.
    """

    supports_masking = True  # a mask passes through, as in Keras

    def __init__(self, rate: Number(min=0, max=1), seed: Seed = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed


@register
class AlphaDropout(Dropout):
    """Dropout keeping SELU's mean and variance, in training; the identity at inference.

    Args:
        rate: fraction of inputs to drop, in [0, 1].
        noise_shape: shape of the dropout mask, as Dropout's.
        seed: random seed (checked, unused).

    Input shape:
        any. Output shape: the same.
    """

    inference_note = IDENTITY_NOTE


class _SpatialDropout(_TrainingOnly):
    """Drops whole feature maps in training; the identity at inference."""

    rank = 3

    def compute_output_shape(self, input_shape):
        if len(input_shape) != self.rank:
            axes = {3: "(batch, steps, channels)", 4: "(batch, height, width, channels)",
                    5: "(batch, depth, height, width, channels)"}[self.rank]
            raise ShapeError(f"needs an input {axes}, got {format_shape(input_shape)}")
        return tuple(input_shape)


@register
class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of a sequence in training; the identity at inference.

    Args:
        rate: fraction of channels to drop, in [0, 1].
        seed: random seed (checked, unused).

    Input shape:
        ``(batch, steps, channels)``. Output shape: the same.
    """

    rank = 3

    def __init__(self, rate: Number(min=0, max=1), seed: Seed = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed


@register
class SpatialDropout2D(_SpatialDropout):
    """Drops whole channels of an image in training; the identity at inference.

    Args:
        rate: fraction of channels to drop, in [0, 1].
        data_format: ``channels_last`` (or null).
        seed: random seed (checked, unused).

    Input shape:
        ``(batch, height, width, channels)``. Output shape: the same.
    """

    rank = 4

    def __init__(self, rate: Number(min=0, max=1), data_format: DataFormat() = None, seed: Seed = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.data_format = data_format
        self.seed = seed


@register
class SpatialDropout3D(_SpatialDropout):
    """Drops whole channels of a volume in training; the identity at inference.

    Args:
        rate: fraction of channels to drop, in [0, 1].
        data_format: ``channels_last`` (or null).
        seed: random seed (checked, unused).

    Input shape:
        ``(batch, depth, height, width, channels)``. Output shape: the same.
    """

    rank = 5

    def __init__(self, rate: Number(min=0, max=1), data_format: DataFormat() = None, seed: Seed = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.data_format = data_format
        self.seed = seed


@register
class ActivityRegularization(_TrainingOnly):
    """Adds an L1/L2 penalty on its input to the training loss; passes it unchanged.

    The identity for the values, at inference as in training.

    Args:
        l1: the L1 factor, >= 0.
        l2: the L2 factor, >= 0.

    Input shape:
        any. Output shape: the same.
    """

    supports_masking = True  # a mask passes through, as in Keras

    inference_note = "identity (adds a training loss only)"

    def __init__(self, l1: Number(min=0) = 0.0, l2: Number(min=0) = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1 = l1
        self.l2 = l2
