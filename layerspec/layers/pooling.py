"""Pooling layers (channels_last), as in Keras 3.

Windowed pooling pads the input if asked, then reduces its windows one
spatial axis after another (a large input a few images at a time, see
``windows.fold_in_chunks``): max pooling pads with -inf so padding never
wins, average pooling pads with 0 and divides each window by the number of
real (non-padding) cells in it, as Keras does.
"""

from __future__ import annotations

import math

import numpy as np

from ..arguments import Boolean, Choice, DataFormat, IntTuple, Optional
from ..errors import ShapeError
from ..registry import register
from .base import Layer, format_shape
from .core import known_product
from . import windows
from .windows import (as_tuple, check_rank, fold, fold_cells, fold_in_chunks, output_spatial, pad_spatial,
                      padding_amounts)


class _Pooling(Layer):
    """What windowed pooling layers share.

    Subclasses set ``rank`` (spatial axes) and ``mode`` (``max`` or
    ``average``) and give the checked constructor for their rank.
    """

    rank = 2
    mode = "max"

    def __init__(self, pool_size, strides, padding, data_format, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = as_tuple(pool_size, self.rank)
        self.strides = self.pool_size if strides is None else as_tuple(strides, self.rank)
        self.padding = padding
        self.data_format = data_format

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        check_rank(input_shape, self.rank)
        spatial = output_spatial(tuple(input_shape[1:-1]), self.pool_size, self.strides, (1,) * self.rank,
                                 self.padding, "pool_size")
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def count_macs(self, input_shape):
        outputs = known_product(self.compute_output_shape(input_shape)[1:])
        return None if outputs is None else outputs * math.prod(self.pool_size)

    def count_flops(self, input_shape):
        # A max or a sum is one operation per window cell, not a multiply-add;
        # averaging adds one division per output.
        cells, outputs = self.count_macs(input_shape), known_product(self.compute_output_shape(input_shape)[1:])
        return None if cells is None else cells + (outputs if self.mode == "average" else 0)

    def plan_for(self, spatial: tuple) -> tuple:
        """``(pads or None, fold_cells plan, divisor, output positions)`` for
        inputs of this spatial size, made once (see :meth:`_plan`)."""
        plans = self.__dict__.setdefault("_plans", {})
        return plans.get(spatial) or plans.setdefault(spatial, self._plan(spatial))

    def call(self, inputs):
        plan = self.plan_for(inputs.shape[1:-1])
        pads, cells, divisor, positions = plan
        if inputs.nbytes > windows.POOL_CHUNK_BYTES:
            return self._call_in_chunks(inputs, plan)
        if self.mode == "max":
            # -inf never wins a max.
            return fold(pad_spatial(inputs, pads, -np.inf) if pads else inputs, cells, np.maximum)
        sums = fold(pad_spatial(inputs, pads, 0.0) if pads else inputs, cells, np.add)
        sums /= divisor if pads is None else divisor.astype(sums.dtype)
        return sums

    def _call_in_chunks(self, inputs, plan):
        """:meth:`call` for a large input, a few images at a time (see :func:`.windows.fold_in_chunks`)."""
        pads, cells, divisor, positions = plan
        out = np.empty((len(inputs),) + positions + inputs.shape[-1:], inputs.dtype)
        if self.mode == "max":
            return fold_in_chunks(pad_spatial(inputs, pads, -np.inf) if pads else inputs, cells, np.maximum, out)
        if pads is not None:
            divisor = divisor.astype(out.dtype)

        def divide(chunk):
            chunk /= divisor

        return fold_in_chunks(pad_spatial(inputs, pads, 0.0) if pads else inputs, cells, np.add, out, divide)

    def _plan(self, spatial: tuple) -> tuple:
        """``(pads or None, fold_cells plan, divisor, output positions)`` for one input size.

        The divisor of an average: the window's size, or with padding the
        count of real cells under each window.
        """
        pads = [padding_amounts(n, k, s, 1, self.padding) for n, k, s in zip(spatial, self.pool_size, self.strides)]
        padded = tuple(n + before + after for n, (before, after) in zip(spatial, pads))
        positions = tuple((n - k) // s + 1 for n, k, s in zip(padded, self.pool_size, self.strides))
        if not any(before or after for before, after in pads):
            return None, fold_cells(padded, self.pool_size, self.strides), math.prod(self.pool_size), positions
        counts = real_cells(spatial, self.pool_size, self.strides, pads) if self.mode == "average" else None
        return pads, fold_cells(padded, self.pool_size, self.strides), counts, positions


def real_cells(spatial: tuple, window: tuple, strides: tuple, pads: list) -> np.ndarray:
    """How many input (non-padding) cells each window covers, ``(*positions, 1)``.

    Per axis it is the window clipped to the input; across axes the counts
    multiply, so the grid is an outer product.
    """
    counts = np.ones((), dtype=np.int64)
    for size, length, stride, (before, after) in zip(spatial, window, strides, pads):
        starts = np.arange(0, size + before + after - length + 1, stride) - before
        along = np.minimum(starts + length, size) - np.maximum(starts, 0)
        counts = np.multiply.outer(counts, along)
    return counts[..., np.newaxis]


# Keras gives max pooling a default pool_size of 2 and average pooling none.


class _MaxPooling1D(_Pooling):
    rank = 1

    def __init__(self, pool_size: IntTuple(1) = 2, strides: Optional(IntTuple(1)) = None,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _MaxPooling2D(_Pooling):
    rank = 2

    def __init__(self, pool_size: IntTuple(2) = 2, strides: Optional(IntTuple(2)) = None,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _AveragePooling1D(_Pooling):
    rank = 1

    def __init__(self, pool_size: IntTuple(1), strides: Optional(IntTuple(1)) = None,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _AveragePooling2D(_Pooling):
    rank = 2

    def __init__(self, pool_size: IntTuple(2), strides: Optional(IntTuple(2)) = None,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@register
class MaxPooling1D(_MaxPooling1D):
    """Max pooling over the steps of a sequence.

    Each output is the largest value in its window; padding never wins.

    Args:
        pool_size: length of the pooling window (default 2).
        strides: step between windows; null means ``pool_size``.
        padding: ``valid`` (no padding) or ``same`` (pads so the output has
            ``ceil(steps / strides)`` steps; an odd padding puts the extra
            cell at the end).
        data_format: ``channels_last`` or null (the only layout supported).

    Input shape:
        ``(batch, steps, channels)``.
    Output shape:
        ``(batch, pooled_steps, channels)``.
    """

    mode = "max"


@register
class MaxPooling2D(_MaxPooling2D):
    """Max pooling over the height and width of images.

    Each output is the largest value in its window; padding never wins.

    Args:
        pool_size: height and width of the pooling window (int or list of 2;
            default 2).
        strides: step between windows (int or list of 2); null means
            ``pool_size``.
        padding: ``valid`` (no padding) or ``same`` (pads so each output
            size is ``ceil(size / strides)``; an odd padding puts the extra
            cell at the bottom/right).
        data_format: ``channels_last`` or null (the only layout supported).

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, pooled_height, pooled_width, channels)``.
    """

    mode = "max"


@register
class AveragePooling1D(_AveragePooling1D):
    """Average pooling over the steps of a sequence.

    Each output is the mean of its window; with ``same`` padding, a window
    at the border is averaged over its real cells only, as in Keras.

    Args:
        pool_size: length of the pooling window; required (unlike max
            pooling, Keras gives it no default).
        strides: step between windows; null means ``pool_size``.
        padding: ``valid`` (no padding) or ``same`` (pads so the output has
            ``ceil(steps / strides)`` steps; an odd padding puts the extra
            cell at the end).
        data_format: ``channels_last`` or null (the only layout supported).

    Input shape:
        ``(batch, steps, channels)``.
    Output shape:
        ``(batch, pooled_steps, channels)``.
    """

    mode = "average"


@register
class AveragePooling2D(_AveragePooling2D):
    """Average pooling over the height and width of images.

    Each output is the mean of its window; with ``same`` padding, a window
    at the border is averaged over its real cells only, as in Keras.

    Args:
        pool_size: height and width of the pooling window (int or list of 2);
            required (unlike max pooling, Keras gives it no default).
        strides: step between windows (int or list of 2); null means
            ``pool_size``.
        padding: ``valid`` (no padding) or ``same`` (pads so each output
            size is ``ceil(size / strides)``; an odd padding puts the extra
            cell at the bottom/right).
        data_format: ``channels_last`` or null (the only layout supported).

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, pooled_height, pooled_width, channels)``.
    """

    mode = "average"


class _GlobalPooling(Layer):
    """What global pooling layers share: one value per channel."""

    rank = 2
    mode = "max"

    def __init__(self, data_format: DataFormat() = None, keepdims: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format
        self.keepdims = keepdims

    def build(self, input_shape):
        check_rank(input_shape, self.rank)

    def compute_output_shape(self, input_shape):
        check_rank(input_shape, self.rank)
        if self.keepdims:
            return (input_shape[0],) + (1,) * self.rank + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def count_macs(self, input_shape):
        # Every input cell is read once.
        return known_product(input_shape[1:])

    def count_flops(self, input_shape):
        # One max or add per input cell; averaging divides once per channel.
        cells = self.count_macs(input_shape)
        return None if cells is None else cells + (input_shape[-1] if self.mode == "average" else 0)

    def call(self, inputs):
        axes = tuple(range(1, 1 + self.rank))
        if self.mode == "max":
            return inputs.max(axis=axes, keepdims=self.keepdims)
        return inputs.mean(axis=axes, keepdims=self.keepdims)


@register
class GlobalAveragePooling1D(_GlobalPooling):
    """Global average pooling: the mean over all steps, per channel.

    Args:
        data_format: ``channels_last`` or null (the only layout supported).
        keepdims: keep the steps axis, with size 1.

    With a mask (an Embedding's ``mask_zero``, say), the mean is over the
    unmasked steps only, as in Keras; a sample whose every step is masked
    gives NaN (0 / 0, as Keras does). The output has no mask.

    Input shape:
        ``(batch, steps, channels)``.
    Output shape:
        ``(batch, channels)``, or ``(batch, 1, channels)`` with ``keepdims``.
    """

    rank = 1
    mode = "average"
    supports_masking = True
    uses_mask = True

    def compute_mask_shape(self, input_shape, mask_shape):
        if mask_shape is not None and len(mask_shape) != 2:
            raise ShapeError(f"GlobalAveragePooling1D takes a mask of shape (batch, steps), got "
                             f"{format_shape(mask_shape)} for the input {format_shape(input_shape)}")
        return None

    def compute_mask(self, inputs, mask):
        return None

    def call_masked(self, inputs, mask):
        kept = mask[:, :, None]
        total = np.where(kept, inputs, inputs.dtype.type(0)).sum(axis=1, keepdims=self.keepdims)
        count = kept.sum(axis=1, keepdims=self.keepdims, dtype=inputs.dtype)
        with np.errstate(invalid="ignore"):  # every step masked: 0 / 0 = NaN, as in Keras
            return total / count


@register
class GlobalAveragePooling2D(_GlobalPooling):
    """Global average pooling: the mean over height and width, per channel.

    Args:
        data_format: ``channels_last`` or null (the only layout supported).
        keepdims: keep the height and width axes, with size 1.

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, channels)``, or ``(batch, 1, 1, channels)`` with
        ``keepdims``.
    """

    rank = 2
    mode = "average"


@register
class GlobalMaxPooling1D(_GlobalPooling):
    """Global max pooling: the largest value over all steps, per channel.

    Args:
        data_format: ``channels_last`` or null (the only layout supported).
        keepdims: keep the steps axis, with size 1.

    Input shape:
        ``(batch, steps, channels)``.
    Output shape:
        ``(batch, channels)``, or ``(batch, 1, channels)`` with ``keepdims``.
    """

    rank = 1
    mode = "max"


@register
class GlobalMaxPooling2D(_GlobalPooling):
    """Global max pooling: the largest value over height and width, per channel.

    Args:
        data_format: ``channels_last`` or null (the only layout supported).
        keepdims: keep the height and width axes, with size 1.

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, channels)``, or ``(batch, 1, 1, channels)`` with
        ``keepdims``.
    """

    rank = 2
    mode = "max"


# Keras's short names for the same classes.
for _alias, _class in (("MaxPool1D", MaxPooling1D), ("MaxPool2D", MaxPooling2D), ("AvgPool1D", AveragePooling1D),
                       ("AvgPool2D", AveragePooling2D), ("GlobalAvgPool1D", GlobalAveragePooling1D),
                       ("GlobalAvgPool2D", GlobalAveragePooling2D), ("GlobalMaxPool1D", GlobalMaxPooling1D),
                       ("GlobalMaxPool2D", GlobalMaxPooling2D)):
    register(name=_alias)(_class)
