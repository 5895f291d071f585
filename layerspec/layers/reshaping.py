"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, and the spatial
ZeroPadding1D/2D, Cropping1D/2D and UpSampling1D/2D."""

from __future__ import annotations

import math

import numpy as np

from ..arguments import ArgumentKind, Choice, DataFormat, Integer, IntList, IntTuple, describe_value
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape
from .core import known_product


@register
class Flatten(Layer):
    """Flattens every axis but the batch axis.

    Args:
        data_format: ``channels_last`` (the only layout layerspec uses).

    Input shape:
        ``(batch, ...)``. Output shape: ``(batch, product of the rest)``;
        unknown if any size is unknown.
    """

    has_macs = False

    def __init__(self, data_format: DataFormat() = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format

    def compute_output_shape(self, input_shape):
        return (input_shape[0], known_product(input_shape[1:]))

    def call(self, inputs):
        return inputs.reshape(len(inputs), -1)


@register
class Reshape(Layer):
    """Reshapes each sample to ``target_shape``; one size may be ``-1``.

    Args:
        target_shape: the per-sample output shape; ``-1`` is inferred.

    Input shape:
        ``(batch, ...)``. Output shape: ``(batch, *target_shape)``.
    """

    has_macs = False

    def __init__(self, target_shape: IntList(min=-1, description="a list of sizes (one may be -1)"), **kwargs):
        super().__init__(**kwargs)
        if any(size == 0 for size in target_shape):
            raise ArgumentError(f"argument 'target_shape' sizes must be >= 1 or -1, got {list(target_shape)}",
                                argument="target_shape")
        if list(target_shape).count(-1) > 1:
            raise ArgumentError(f"argument 'target_shape' may contain -1 only once, got {list(target_shape)}",
                                argument="target_shape")
        self.target_shape = tuple(target_shape)

    def compute_output_shape(self, input_shape):
        total = known_product(input_shape[1:])
        known = known_product(size for size in self.target_shape if size != -1)
        if -1 in self.target_shape:
            if total is None:
                inferred = None
            elif total % known:
                raise ShapeError(self._mismatch(input_shape))
            else:
                inferred = total // known
            return (input_shape[0],) + tuple(inferred if size == -1 else size for size in self.target_shape)
        if total is not None and total != known:
            raise ShapeError(self._mismatch(input_shape))
        return (input_shape[0],) + self.target_shape

    def _mismatch(self, input_shape) -> str:
        return (f"cannot reshape {format_shape(input_shape)} ({known_product(input_shape[1:])} values per sample) "
                f"into target_shape {list(self.target_shape)}")

    def call(self, inputs):
        return inputs.reshape((len(inputs),) + self.target_shape)


@register
class Permute(Layer):
    """Permutes the axes of each sample (the batch axis stays first).

    Args:
        dims: a permutation of ``1..rank``, numbering axes from 1 as Keras
            does (``[2, 1]`` swaps the two axes of a sequence).

    Input shape:
        ``(batch, d1, ..., dn)``. Output shape: the axes reordered.
    """

    has_macs = False

    def __init__(self, dims: IntList(min=1, description="a permutation of 1..n"), **kwargs):
        super().__init__(**kwargs)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ArgumentError(f"argument 'dims' must be a permutation of 1..{len(dims)}, got {list(dims)}",
                                argument="dims")
        self.dims = tuple(dims)

    def build(self, input_shape):
        if len(input_shape) - 1 != len(self.dims):
            raise ShapeError(f"dims {list(self.dims)} permute {len(self.dims)} axes, but the input "
                             f"{format_shape(input_shape)} has {len(input_shape) - 1}", argument="dims")

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs):
        return np.transpose(inputs, (0,) + self.dims)


@register
class RepeatVector(Layer):
    """Repeats a vector ``n`` times: ``(batch, features)`` → ``(batch, n, features)``.

    Args:
        n: how many times to repeat.
    """

    has_macs = False

    def __init__(self, n: Integer(min=1), **kwargs):
        super().__init__(**kwargs)
        self.n = n

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ShapeError(f"needs an input of shape (batch, features), got {format_shape(input_shape)}")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs):
        return np.repeat(inputs[:, np.newaxis, :], self.n, axis=1)


# -- spatial layers: padding, cropping, upsampling ---------------------------
def _show(value, depth: int = 0) -> str:
    """A value as its user wrote it in YAML flow style, kept short."""
    if isinstance(value, (list, tuple)):
        if depth >= 2:
            return "[...]"
        items = [_show(item, depth + 1) for item in value[:6]] + (["..."] if len(value) > 6 else [])
        return "[" + ", ".join(items) + "]"
    if depth == 0 or isinstance(value, dict):
        return describe_value(value)
    # Inside a list, drop the kind word: "[1, 'a']", not "[integer 1, string 'a']".
    return describe_value(value).split(" ", 1)[-1] if value is not None else "null"


def _pair(value) -> tuple[int, int] | None:
    """``(before, after)`` from an integer or a pair of integers >= 0; None if neither."""
    items = value if isinstance(value, (list, tuple)) else (value, value)
    if len(items) != 2 or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in items):
        return None
    return (items[0], items[1])


class PaddingAmounts(ArgumentKind):
    """How much to pad (or crop) before and after each spatial axis.

    As in Keras: for one axis, an integer or a pair ``(before, after)``;
    for two axes, an integer (the same everywhere), a pair of integers (one
    symmetric amount per axis) or a pair of pairs ``((top, bottom), (left,
    right))`` — each item of the outer pair may be an integer or a pair.

    Args:
        axes: how many spatial axes (1 or 2).

    ``check`` returns ``(before, after)`` for one axis and
    ``((top, bottom), (left, right))`` for two.
    """

    def __init__(self, axes: int):
        self.axes = axes
        self.expected = ("an integer >= 0 or a pair of integers >= 0" if axes == 1
                         else "an integer >= 0, a pair, or a pair of pairs")

    def check(self, value, argument):
        amounts = self._normalise(value)
        if amounts is None:
            raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {_show(value)}",
                                argument=argument)
        return amounts

    def _normalise(self, value):
        if self.axes == 1:
            return _pair(value)
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                return None
            pairs = (_pair(value[0]), _pair(value[1]))
        else:
            pairs = (_pair(value),) * 2
        return None if None in pairs else pairs

    def json_schema(self):
        amount = {"type": "integer", "minimum": 0}
        pair = {"type": "array", "items": amount, "minItems": 2, "maxItems": 2}
        if self.axes == 1:
            return {"anyOf": [amount, pair]}
        per_axis = {"anyOf": [amount, pair]}
        return {"anyOf": [amount, {"type": "array", "items": per_axis, "minItems": 2, "maxItems": 2}]}


class Interpolation(Choice):
    """Keras's interpolation names, of which layerspec runs 'nearest' and 'bilinear'."""

    KERAS_MODES = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area")

    def __init__(self):
        super().__init__("nearest", "bilinear")

    def check(self, value, argument):
        if isinstance(value, str) and value.lower() in self.KERAS_MODES[2:]:
            raise ArgumentError(f"argument '{argument}': only 'nearest' and 'bilinear' interpolation are supported "
                                f"by layerspec, got '{value}'", argument=argument)
        return super().check(value, argument)


SEQUENCE_LAYOUT = "(batch, steps, features)"
IMAGE_LAYOUT = "(batch, height, width, channels)"


def _require_rank(input_shape: tuple, layout: str) -> None:
    if len(input_shape) != layout.count(",") + 1:
        raise ShapeError(f"needs an input of shape {layout}, got {format_shape(input_shape)}")


def _resized(input_shape: tuple, layout: str, grow) -> tuple:
    """``input_shape`` with each spatial size passed through ``grow(axis, size)``.

    Unknown sizes stay unknown.
    """
    _require_rank(input_shape, layout)
    spatial = tuple(None if size is None else grow(axis, size)
                    for axis, size in enumerate(input_shape[1:-1]))
    return (input_shape[0],) + spatial + (input_shape[-1],)


def _zero_pad(inputs: np.ndarray, amounts: tuple) -> np.ndarray:
    """``inputs`` with ``amounts[i] = (before, after)`` zeros around spatial axis ``i + 1``."""
    shape = list(inputs.shape)
    window = [slice(None)] * inputs.ndim
    for axis, (before, after) in enumerate(amounts, start=1):
        window[axis] = slice(before, before + shape[axis])
        shape[axis] += before + after
    outputs = np.zeros(shape, dtype=inputs.dtype)
    outputs[tuple(window)] = inputs
    return outputs


def _crop(inputs: np.ndarray, amounts: tuple) -> np.ndarray:
    window = [slice(None)] * inputs.ndim
    for axis, (before, after) in enumerate(amounts, start=1):
        window[axis] = slice(before, inputs.shape[axis] - after)
    # A copy, so the next layer gets a contiguous array as the first one does.
    return np.ascontiguousarray(inputs[tuple(window)])


def _repeat(inputs: np.ndarray, sizes: tuple) -> np.ndarray:
    """Repeat each spatial position ``sizes[i]`` times along axis ``i + 1`` (nearest upsampling)."""
    spatial = inputs.shape[1:1 + len(sizes)]
    rest = inputs.shape[1 + len(sizes):]
    expanded, repeated, merged = [len(inputs)], [len(inputs)], [len(inputs)]
    for size, factor in zip(spatial, sizes):
        expanded += [size, 1]
        repeated += [size, factor]
        merged.append(size * factor)
    # One broadcast view and one copy, rather than one np.repeat per axis.
    view = np.broadcast_to(inputs.reshape(tuple(expanded) + rest), tuple(repeated) + rest)
    return view.reshape(tuple(merged) + rest)


def _bilinear(inputs: np.ndarray, factors: tuple) -> np.ndarray:
    """Bilinear upsampling of the spatial axes by integer ``factors``, as Keras 3.

    Keras resizes with ``ops.image.resize(interpolation="bilinear")``
    (``jax.image.resize``, no antialiasing, which only matters when
    shrinking): output ``i`` of an axis enlarged ``s`` times samples the
    input at ``f = (i + 0.5) / s - 0.5`` (half-pixel centres), mixing the
    two inputs around ``f`` with weights ``1 - t`` and ``t``; past the first
    or last centre the edge value is kept (Keras's weights, renormalised
    over the inputs that exist, say the same). Axes are done one at a time;
    a factor of 1 leaves an axis alone.

    The weights depend only on ``i mod s``, so each axis is ``s`` phases,
    each two shifted slices of the input multiplied and added. A
    weight of exactly 0 (odd factors, at the input centres) is not
    multiplied at all, and an edge value is copied, so an inf or NaN reaches
    only the outputs that mix it (Keras's dense weight matrix would spread
    it along the whole axis as NaN).
    """
    x = inputs if inputs.dtype.kind == "f" else inputs.astype(np.float32)
    resized = [(axis, factor) for axis, factor in enumerate(factors, start=1) if factor > 1]
    if not resized:
        return x.copy() if x is inputs else x
    outputs = np.empty((len(x),) + tuple(n * f for n, f in zip(x.shape[1:], factors)) + x.shape[1 + len(factors):],
                       x.dtype)
    # A few images at a time, so the first axis's result is still in cache for the second.
    images = max(1, BILINEAR_CHUNK_BYTES // max(1, outputs[:1].nbytes))
    for start in range(0, len(x), images):
        part = x[start:start + images]
        for number, (axis, factor) in enumerate(resized, start=1):
            part = _bilinear_axis(part, axis, factor,
                                  outputs[start:start + images] if number == len(resized) else None)
    return outputs


#: Bytes of output per chunk of a bilinear upsampling. Measured (CPU time)
#: on a (32, 28, 28, 16) batch doubled: 10.5 ms in one piece, 6.0 ms in
#: chunks of 1 MiB (6.3 ms in 64 KiB ones); (8, 64, 64, 32): 19.9 and 16.0 ms.
BILINEAR_CHUNK_BYTES = 1 << 20


def _bilinear_axis(x: np.ndarray, axis: int, factor: int, outputs: np.ndarray | None = None) -> np.ndarray:
    """``x`` enlarged ``factor`` times along ``axis`` by half-pixel linear interpolation (into ``outputs``)."""
    size = x.shape[axis]

    def along(array: np.ndarray, *index) -> np.ndarray:
        return array[(slice(None),) * axis + index]

    if outputs is None:
        outputs = np.empty(x.shape[:axis] + (size * factor,) + x.shape[axis + 1:], x.dtype)
    phases = outputs.reshape(x.shape[:axis] + (size, factor) + x.shape[axis + 1:])
    earlier, later = along(x, slice(0, size - 1)), along(x, slice(1, size))
    scratch = np.empty_like(earlier)  # one product's values, reused by every phase
    for phase in range(factor):
        # Output k * factor + phase samples the input at k + position, position in (-0.5, 0.5).
        position = (phase + 0.5) / factor - 0.5
        target = along(phases, slice(None), phase)
        if position == 0:
            target[...] = x
            continue
        # Inputs k + low and k + low + 1 mix; at the border only the edge exists, and is kept.
        low = math.floor(position)
        fraction = position - low
        inside, edge = (slice(1, size), 0) if low < 0 else (slice(0, size - 1), size - 1)
        mixed = along(target, inside)
        np.multiply(earlier, x.dtype.type(1 - fraction), out=mixed)
        np.multiply(later, x.dtype.type(fraction), out=scratch)
        np.add(mixed, scratch, out=mixed)
        along(target, edge)[...] = along(x, edge)
    return outputs


class _Padding(Layer):
    """Shared by ZeroPadding1D/2D: pad spatial axes with zeros."""

    has_macs = False

    layout = IMAGE_LAYOUT
    #: ``(before, after)`` per spatial axis; set by the subclass.
    amounts: tuple = ()

    def build(self, input_shape):
        _require_rank(input_shape, self.layout)

    def compute_output_shape(self, input_shape):
        return _resized(input_shape, self.layout, lambda axis, size: size + sum(self.amounts[axis]))

    def call(self, inputs):
        return _zero_pad(inputs, self.amounts)


@register
class ZeroPadding1D(_Padding):
    """Pads a sequence with zeros at its start and end.

    Args:
        padding: an integer (zeros at each end) or a pair ``(left, right)``.
        data_format: ``channels_last`` (the only layout layerspec uses).

    Input shape:
        ``(batch, steps, features)``.
    Output shape:
        ``(batch, left + steps + right, features)``.
    """

    layout = SEQUENCE_LAYOUT

    def __init__(self, padding: PaddingAmounts(1) = (1, 1), data_format: DataFormat() = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.padding = padding
        self.amounts = (padding,)
        self.data_format = data_format


@register
class ZeroPadding2D(_Padding):
    """Pads an image with rows and columns of zeros on its four sides.

    Args:
        padding: an integer (the same on every side), a pair
            ``(symmetric_height, symmetric_width)``, or a pair of pairs
            ``((top, bottom), (left, right))``.
        data_format: ``channels_last`` (the only layout layerspec uses).

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, top + height + bottom, left + width + right, channels)``.
    """

    def __init__(self, padding: PaddingAmounts(2) = ((1, 1), (1, 1)),
                 data_format: DataFormat() = None, **kwargs):
        super().__init__(**kwargs)
        self.padding = padding
        self.amounts = padding
        self.data_format = data_format


class _Cropping(Layer):
    """Shared by Cropping1D/2D: remove positions at both ends of spatial axes."""

    has_macs = False

    layout = IMAGE_LAYOUT
    #: What messages call the positions along each spatial axis.
    axis_nouns = ("rows", "columns")
    #: ``(before, after)`` per spatial axis; set by the subclass.
    amounts: tuple = ()

    def build(self, input_shape):
        _require_rank(input_shape, self.layout)

    def compute_output_shape(self, input_shape):
        return _resized(input_shape, self.layout,
                        lambda axis, size: self._cropped_size(axis, size, self.amounts[axis], input_shape))

    def _cropped_size(self, axis: int, size: int, amount: tuple, input_shape: tuple) -> int:
        removed = sum(amount)
        if removed >= size:
            raise ShapeError(f"cropping {self.cropping} removes {removed} {self.axis_nouns[axis]}, but the input "
                             f"{format_shape(input_shape)} has {size}; at least one must remain",
                             argument="cropping")
        return size - removed

    def call(self, inputs):
        # Sizes unknown at build time are only checked here.
        self.compute_output_shape((None,) + inputs.shape[1:])
        return _crop(inputs, self.amounts)


@register
class Cropping1D(_Cropping):
    """Removes steps at the start and end of a sequence.

    Args:
        cropping: an integer (steps removed at each end) or a pair
            ``(left, right)``.

    Input shape:
        ``(batch, steps, features)``.
    Output shape:
        ``(batch, steps - left - right, features)``; at least one step must
        remain.
    """

    layout = SEQUENCE_LAYOUT
    axis_nouns = ("steps",)

    def __init__(self, cropping: PaddingAmounts(1) = (1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = cropping
        self.amounts = (cropping,)


@register
class Cropping2D(_Cropping):
    """Removes rows and columns at the borders of an image.

    Args:
        cropping: an integer (the same on every side), a pair
            ``(symmetric_height, symmetric_width)``, or a pair of pairs
            ``((top, bottom), (left, right))``.
        data_format: ``channels_last`` (the only layout layerspec uses).

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, height - top - bottom, width - left - right, channels)``;
        at least one row and one column must remain.
    """

    def __init__(self, cropping: PaddingAmounts(2) = ((0, 0), (0, 0)),
                 data_format: DataFormat() = None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = cropping
        self.amounts = cropping
        self.data_format = data_format


class _UpSampling(Layer):
    """Shared by UpSampling1D/2D: repeat each spatial position."""

    has_macs = False

    layout = IMAGE_LAYOUT
    #: Repetitions per spatial axis; set by the subclass.
    factors: tuple = ()

    def build(self, input_shape):
        _require_rank(input_shape, self.layout)

    def compute_output_shape(self, input_shape):
        return _resized(input_shape, self.layout, lambda axis, size: size * self.factors[axis])

    def call(self, inputs):
        return _repeat(inputs, self.factors)


@register
class UpSampling1D(_UpSampling):
    """Repeats each step of a sequence ``size`` times.

    Args:
        size: how many times each step is repeated.

    Input shape:
        ``(batch, steps, features)``.
    Output shape:
        ``(batch, steps * size, features)``.
    """

    layout = SEQUENCE_LAYOUT

    def __init__(self, size: Integer(min=1) = 2, **kwargs):
        super().__init__(**kwargs)
        self.size = size
        self.factors = (size,)


@register
class UpSampling2D(_UpSampling):
    """Enlarges an image by repeating its rows and columns, or by bilinear interpolation.

    Args:
        size: an integer or a pair ``(rows, columns)``: how many times the
            height and the width grow.
        data_format: ``channels_last`` (the only layout layerspec uses).
        interpolation: ``nearest`` (each row and column repeated) or
            ``bilinear`` (Keras's ``ops.image.resize``: half-pixel centres,
            edge values kept at the borders, no antialiasing).

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, height * size[0], width * size[1], channels)``.
    """

    def __init__(self, size: IntTuple(2, min=1) = (2, 2), data_format: DataFormat() = None,
                 interpolation: Interpolation() = "nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = size
        self.factors = size
        self.data_format = data_format
        self.interpolation = interpolation

    def count_macs(self, input_shape):
        """0 for nearest; bilinear: 2 per value written by each enlarged axis (height first)."""
        if self.interpolation == "nearest":
            return 0
        _, height, width, channels = self.compute_output_shape(input_shape)
        if None in (height, width, channels):
            return None
        macs = 0
        if self.size[0] > 1:
            macs += 2 * height * input_shape[2] * channels
        if self.size[1] > 1:
            macs += 2 * height * width * channels
        return macs

    def call(self, inputs):
        if self.interpolation == "bilinear":
            return _bilinear(inputs, self.factors)
        return _repeat(inputs, self.factors)
