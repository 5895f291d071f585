"""Sliding windows shared by convolution and pooling (private).

Padding arithmetic follows Keras 3 (and TensorFlow's ``SAME``): the total
padding of an axis is ``max((ceil(n/s) - 1)*s + (k - 1)*d + 1 - n, 0)``,
``total // 2`` goes before and the odd one after. Convolution views every
window of the padded input without copying; pooling folds the windows one
spatial axis at a time, a strided slice per window cell, a few images at a
time.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import ShapeError
from .base import format_shape


def as_tuple(value, rank: int) -> tuple:
    """An int-or-tuple argument as a tuple of ``rank`` ints.

    Explicit arguments arrive as tuples already; defaults (``strides=1``)
    are not run through the argument check, so they arrive as ints.
    """
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def check_rank(input_shape: tuple, rank: int) -> None:
    """Refuse an input that is not ``(batch, *rank spatial axes, channels)``."""
    if len(input_shape) != rank + 2:
        raise ShapeError(f"expects an input of shape {layout(rank)}, got {format_shape(input_shape)}")


#: The spatial axes of a layer of each rank, in words.
SPATIAL_AXES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def layout(rank: int) -> str:
    """The input layout a layer of ``rank`` spatial axes takes, in words."""
    return "(batch, " + ", ".join(SPATIAL_AXES[rank]) + ", channels)"


def padding_amounts(size: int, kernel: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """``(before, after)`` padding of one axis for ``valid``, ``same`` or ``causal``."""
    span = (kernel - 1) * dilation + 1
    if padding == "causal":
        return span - 1, 0
    if padding == "valid":
        return 0, 0
    total = max((-(-size // stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def output_size(size: int | None, kernel: int, stride: int, dilation: int, padding: str) -> int | None:
    """Output length of one axis (may be <= 0: the caller reports that)."""
    if size is None:
        return None
    if padding == "valid":
        return (size - (kernel - 1) * dilation - 1) // stride + 1
    return -(-size // stride)


def output_spatial(spatial: tuple, kernel_size: tuple, strides: tuple, dilation: tuple, padding: str,
                   argument: str) -> tuple:
    """Output sizes of every spatial axis; a ShapeError if one is <= 0.

    The error names ``argument`` (``kernel_size`` or ``pool_size``) so a
    spec reader can point at its value.
    """
    sizes = tuple(output_size(*axis, padding) for axis in zip(spatial, kernel_size, strides, dilation))
    for n, k, d in zip(spatial, kernel_size, dilation):
        # 'same'/'causal' padding would pad the input out to the window's
        # reach: a window reaching far past its input is a mistake that would
        # otherwise allocate that much padding (or loop over its cells).
        reach = (k - 1) * d + 1
        if n is not None and reach > 2 * n + 16:
            raise ShapeError(f"{argument} {format_shape(kernel_size)} reaches {reach} cells, far more than its "
                             f"input {format_shape(spatial)}", argument=argument)
    if any(size is not None and size <= 0 for size in sizes):
        dilated = f" with dilation_rate {format_shape(dilation)}" if max(dilation) > 1 else ""
        raise ShapeError(f"{argument} {format_shape(kernel_size)}{dilated} is larger than its input "
                         f"{format_shape(spatial)} with padding '{padding}'", argument=argument)
    return sizes


def pad_spatial(inputs: np.ndarray, pads: list[tuple[int, int]], value: float) -> np.ndarray:
    """Pad the spatial axes (all but the first and last) with ``value``.

    Returns ``inputs`` itself when no axis needs padding. Filling a new
    array and copying the input into its middle does what ``np.pad`` does
    at a fraction of its Python overhead (which dominates small batches).
    """
    if not any(before or after for before, after in pads):
        return inputs
    shape = (inputs.shape[0],) + tuple(n + before + after for n, (before, after) in zip(inputs.shape[1:-1], pads)) \
        + (inputs.shape[-1],)
    padded = np.full(shape, value, dtype=inputs.dtype)
    padded[(slice(None),) + tuple(slice(before, before + n) for n, (before, _) in zip(inputs.shape[1:-1], pads))] \
        = inputs
    return padded


def window_view(inputs: np.ndarray, window: tuple, strides: tuple, dilation: tuple) -> np.ndarray:
    """Every window of ``inputs`` as a read-only strided view, no copy.

    ``inputs`` is ``(batch, *spatial, channels)``, already padded; the view
    is ``(batch, *output positions, *window cells, channels)``, which lines
    up with a Keras kernel ``(*kernel_size, in, filters)``.
    """
    spatial = inputs.shape[1:-1]
    positions = tuple((n - (k - 1) * d - 1) // s + 1 for n, k, s, d in zip(spatial, window, strides, dilation))
    axis_strides = inputs.strides[1:-1]
    shape = (inputs.shape[0],) + positions + tuple(window) + (inputs.shape[-1],)
    strides_in_bytes = ((inputs.strides[0],) + tuple(b * s for b, s in zip(axis_strides, strides))
                        + tuple(b * d for b, d in zip(axis_strides, dilation)) + (inputs.strides[-1],))
    return as_strided(inputs, shape=shape, strides=strides_in_bytes, writeable=False)


#: Input bytes a pooling folds at a time (see :func:`fold_in_chunks`).
POOL_CHUNK_BYTES = 1 << 20


def fold_cells(spatial: tuple, window: tuple, strides: tuple) -> list[list[tuple]]:
    """For each spatial axis, the index of every window cell's strided slice.

    Along axis ``a``, the cells at offset ``o`` of every window form the
    slice ``o : o + stride * (positions - 1) + 1 : stride``; the indices
    leave the other axes whole, so they apply to the input and to what
    :func:`fold` has made of it by then. Computed once per input size.
    """
    rank = len(spatial) + 2
    plan = []
    for axis, (size, length, stride) in enumerate(zip(spatial, window, strides), start=1):
        positions = (size - length) // stride + 1
        cells = []
        for offset in range(length):
            index = [slice(None)] * rank
            index[axis] = slice(offset, offset + stride * (positions - 1) + 1, stride)
            cells.append(tuple(index))
        plan.append(cells)
    return plan


def fold(inputs: np.ndarray, plan: list[list[tuple]], ufunc: np.ufunc) -> np.ndarray:
    """``ufunc``-reduce every window of ``inputs``, one spatial axis at a time, into a new array.

    A max or a sum over a box is separable, so ``kh + kw`` vectorised
    passes do instead of ``kh * kw``, and the first runs along whole rows.
    ``plan`` comes from :func:`fold_cells`. Measured on a 2x2 average pool
    of (1024, 28, 28, 6): 6.7 ms, against 7.9 ms folding the four cells
    directly and 41-43 ms reducing a reshaped view.
    """
    result, owned = inputs, False
    for cells in plan:
        if len(cells) == 1:
            result = result[cells[0]]
            continue
        folded = ufunc(result[cells[0]], result[cells[1]])
        for index in cells[2:]:
            ufunc(folded, result[index], out=folded)
        result, owned = folded, True
    return result if owned else result.copy()


def fold_into(inputs: np.ndarray, plan: list[list[tuple]], ufunc: np.ufunc, out: np.ndarray) -> np.ndarray:
    """:func:`fold`, the last fold written into ``out``; axes of one cell are sliced first."""
    result = inputs
    for cells in plan:
        if len(cells) == 1:
            result = result[cells[0]]
    folding = [cells for cells in plan if len(cells) > 1]
    if not folding:
        np.copyto(out, result)
        return out
    for number, cells in enumerate(folding):
        folded = ufunc(result[cells[0]], result[cells[1]], out=out if number == len(folding) - 1 else None)
        for index in cells[2:]:
            ufunc(folded, result[index], out=folded)
        result = folded
    return result


def fold_in_chunks(inputs: np.ndarray, plan: list[list[tuple]], ufunc: np.ufunc, out: np.ndarray,
                   finish=None) -> np.ndarray:
    """:func:`fold` of ``inputs`` into ``out``, a few images at a time; ``finish(chunk)`` after each.

    The first fold's result (half the input for a 2x2 pool) then stays in
    the cache for the second instead of going out to memory and back.
    Pooling uses it for inputs over ``POOL_CHUNK_BYTES``; a smaller input
    folds at once with :func:`fold`, 2-3 us less per call at batch 1.
    Measured per image, one thread, 2026-11-30, on a 512-row slice: the
    MNIST convnet's first pooling (2x2 max of 26x26x32) 16.0-16.1 us in
    chunks of 0.5-1 MiB against 20.0-21.4 us folding the whole slice
    (64-128 KiB chunks: 21 us, their Python overhead showing), LeNet's first
    (2x2 average of 28x28x6) 5.4-5.5 against 5.7-5.9; at 16 rows, equal.
    """
    per_image = max(1, inputs[:1].nbytes)
    images = max(1, POOL_CHUNK_BYTES // per_image)
    for start in range(0, len(inputs), images):
        chunk = out[start:start + images]
        fold_into(inputs[start:start + images], plan, ufunc, chunk)
        if finish is not None:
            finish(chunk)
    return out
