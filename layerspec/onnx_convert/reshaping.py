"""Reshaping layers as ONNX: Flatten, Reshape, Permute, RepeatVector,
ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D.

Everything here works in layerspec's channels-last layout directly (Pad,
Slice, Reshape and Expand take any axis), except bilinear upsampling:
ONNX's Resize is written around NCHW images, so it runs between two
Transposes.

Also the reshaping helper the other converters of this package use,
:func:`reshape_to`: a Reshape whose target is a static constant whenever at
most one size is unknown (``0`` copies the batch, ``-1`` takes the unknown
one), and is computed from ``Shape`` otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..layers.reshaping import (Cropping1D, Cropping2D, Flatten, Permute, RepeatVector, Reshape, UpSampling1D,
                                UpSampling2D, ZeroPadding1D, ZeroPadding2D)
from . import Conversion, converts

#: A Slice end meaning "to the end of the axis" (ONNX clamps it).
TO_THE_END = 2**63 - 1

#: The opset whose Reshape infers shapes from a target computed at run time
#: (Reshape-14 propagates ``Shape`` values; Reshape-13 leaves its output's
#: shape unknown, which the exporter's shape check refuses).
RUNTIME_RESHAPE_OPSET = 14


# -- helpers shared by this package's modules ---------------------------------

@dataclass(frozen=True)
class RunTime:
    """A size known only at run time: ``factor`` times the product of the
    sizes of ``tensor`` on ``axes``."""

    tensor: str
    axes: tuple
    factor: int = 1


#: A Reshape target entry: the size ``x`` has on the same axis (ONNX's 0).
KEEP = "keep"


def size_of(tensor: str, shape: Sequence, axes: Sequence[int], factor: int = 1):
    """The product of ``shape``'s sizes on ``axes`` times ``factor``: an int
    when every one is known, else a :class:`RunTime` reading ``tensor``."""
    sizes = [shape[axis] for axis in axes]
    if None in sizes:
        return RunTime(tensor, tuple(axes), factor)
    return math.prod(sizes) * factor


def reshape_to(conversion: Conversion, x: str, target: Sequence, hint: str = "") -> str:
    """``x`` reshaped to ``target``: the batch axis first (copied from ``x``),
    then per axis an int, a :class:`RunTime` size, or :data:`KEEP` (``x``'s
    size on that same axis).

    With at most one run-time size the target is a constant (``0`` for the
    batch, ``-1`` for the unknown size), which every opset's shape inference
    reads. With more, it is computed (Shape, Gather, ReduceProd, Concat),
    which needs Reshape-14 for the result's shape to be inferred: the layer
    then requires opset 14.
    """
    builder = conversion.builder
    sizes = list(target[1:])
    unknown = [size for size in sizes if isinstance(size, RunTime)]
    if len(unknown) <= 1:
        return builder.reshape(x, [0] + [-1 if isinstance(size, RunTime) else 0 if size == KEEP else int(size)
                                         for size in sizes], hint=hint)
    conversion.require(RUNTIME_RESHAPE_OPSET, "a Reshape to more than one size known only at run time")
    pieces = [builder.ints([0])]
    shapes: dict[str, str] = {}
    for size in sizes:
        if not isinstance(size, RunTime):
            pieces.append(builder.ints([0 if size == KEEP else int(size)]))
            continue
        if size.tensor not in shapes:
            shapes[size.tensor] = builder.op("Shape", [size.tensor], hint="shape")
        piece = builder.op("Gather", [shapes[size.tensor], builder.ints(size.axes)], axis=0, hint="sizes")
        if len(size.axes) > 1:
            piece = builder.reduce("ReduceProd", piece, [0], keepdims=True, hint="size")
        if size.factor != 1:
            piece = builder.op("Mul", [piece, builder.ints([size.factor])], hint="size")
        pieces.append(piece)
    shape = builder.op("Concat", pieces, axis=0, hint="target")
    return builder.op("Reshape", [x, shape], hint=hint)


# -- Flatten, Reshape, Permute, RepeatVector ----------------------------------

@converts(Flatten)
def flatten(conversion: Conversion) -> str:
    """``Reshape [0, -1]``: the batch kept, the rest in one axis (row-major,
    as NumPy's reshape)."""
    return conversion.builder.reshape(conversion.x, [0, -1])


@converts(Reshape)
def reshape(conversion: Conversion) -> str:
    """``Reshape [0, *target_shape]`` (its ``-1`` passes through as ONNX's)."""
    return conversion.builder.reshape(conversion.x, [0] + list(conversion.layer.target_shape))


@converts(Permute)
def permute(conversion: Conversion) -> str:
    """``Transpose`` with ``perm = [0, *dims]`` (Keras numbers axes from 1)."""
    return conversion.builder.transpose(conversion.x, [0] + list(conversion.layer.dims))


@converts(RepeatVector)
def repeat_vector(conversion: Conversion) -> str:
    """``(batch, f)`` → Unsqueeze → ``(batch, 1, f)`` → Expand ``[1, n, 1]``."""
    builder = conversion.builder
    column = builder.unsqueeze(conversion.x, [1])
    return builder.op("Expand", [column, builder.ints([1, conversion.layer.n, 1])])


# -- padding and cropping ------------------------------------------------------

@converts(ZeroPadding1D, ZeroPadding2D)
def zero_padding(conversion: Conversion) -> str:
    """``Pad`` (constant 0) with ``[0, befores..., 0, 0, afters..., 0]``:
    no padding on the batch and channel axes."""
    builder, amounts = conversion.builder, conversion.layer.amounts
    if not any(before or after for before, after in amounts):
        return conversion.x
    pads = [0] + [before for before, _ in amounts] + [0] + [0] + [after for _, after in amounts] + [0]
    return builder.op("Pad", [conversion.x, builder.ints(pads), builder.scalar(0.0)], mode="constant")


@converts(Cropping1D, Cropping2D)
def cropping(conversion: Conversion) -> str:
    """``Slice`` from ``before`` to ``-after`` on each spatial axis (to the
    end when ``after`` is 0), so an unknown length needs no Shape."""
    amounts = conversion.layer.amounts
    if not any(before or after for before, after in amounts):
        return conversion.x
    axes = list(range(1, len(amounts) + 1))
    starts = [before for before, _ in amounts]
    ends = [-after if after else TO_THE_END for _, after in amounts]
    return conversion.builder.slice(conversion.x, starts, ends, axes)


# -- upsampling ------------------------------------------------------------------

@converts(UpSampling1D, UpSampling2D)
def upsampling(conversion: Conversion) -> str:
    """Nearest: each spatial position repeated (see :func:`_repeat`);
    UpSampling2D's bilinear: ONNX Resize (see :func:`_bilinear`)."""
    layer = conversion.layer
    if all(factor == 1 for factor in layer.factors):
        return conversion.x
    if getattr(layer, "interpolation", "nearest") == "bilinear":
        return _bilinear(conversion)
    return _repeat(conversion)


def _repeat(conversion: Conversion) -> str:
    """Nearest upsampling as pure data movement, exact in any engine:
    ``(b, h, w, c)`` → Unsqueeze → ``(b, h, 1, w, 1, c)`` → Expand to
    ``(b, h, kh, w, kw, c)`` → Reshape to ``(b, h·kh, w·kw, c)``: row-major
    order puts copy ``j`` of position ``i`` at ``i·k + j``, as layerspec's
    broadcast-and-reshape does."""
    builder, x, shape = conversion.builder, conversion.x, conversion.shape
    factors = conversion.layer.factors
    # A new axis after each spatial axis that grows (one of factor 1 is left alone).
    new_axes, repeats = [], [1]
    for axis, factor in enumerate(factors, start=1):
        repeats.append(1)
        if factor > 1:
            new_axes.append(axis + len(new_axes) + 1)
            repeats.append(factor)
    repeats.append(1)
    expanded = builder.unsqueeze(x, new_axes)
    tiled = builder.op("Expand", [expanded, builder.ints(repeats)], hint="repeated")
    # Axes before the first that grows keep their place: Reshape's 0 copies them.
    first = factors.index(next(factor for factor in factors if factor > 1)) + 1
    target = [0] + [KEEP if axis < first else size_of(x, shape, [axis], factor)
                    for axis, factor in enumerate(factors, start=1)]
    target.append(size_of(x, shape, [len(factors) + 1]))
    return reshape_to(conversion, tiled, target)


def _bilinear(conversion: Conversion) -> str:
    """layerspec's bilinear (Keras's ``ops.image.resize``): output ``i``
    samples the input at ``(i + 0.5) / s - 0.5``, clamped to the first and
    last centres, mixing the two neighbours linearly.

    That is ONNX Resize ``mode: linear``, ``coordinate_transformation_mode:
    half_pixel`` (ONNX Runtime clamps the source coordinate to the edge),
    with ``scales`` on the NCHW spatial axes: the image is transposed to
    NCHW and back. ONNX Runtime has no float64 Resize, so a float64 model
    gets the same sums composed instead (:func:`_bilinear_axis`), rather
    than a round trip through float32.
    """
    builder = conversion.builder
    height, width = conversion.layer.factors
    if builder.dtype != np.float32:
        x = conversion.x
        for axis, factor in ((1, height), (2, width)):
            if factor > 1:
                x = _bilinear_axis(conversion, x, axis, factor)
        return x
    channels_first = builder.transpose(conversion.x, [0, 3, 1, 2], hint="nchw")
    scales = builder.constant(np.asarray([1, 1, height, width], dtype=np.float32), "scales")
    resized = builder.op("Resize", [channels_first, "", scales], mode="linear",
                         coordinate_transformation_mode="half_pixel", hint="resized")
    return builder.transpose(resized, [0, 2, 3, 1])


def _bilinear_axis(conversion: Conversion, x: str, axis: int, factor: int) -> str:
    """``x`` enlarged ``factor`` times along ``axis`` as layerspec's
    ``_bilinear_axis`` computes it: output ``k·factor + phase`` is
    ``x[k + low] * (1 - t) + x[k + low + 1] * t`` for the phase's sampling
    position ``low + t``, the input's edge values repeated past its ends
    (Pad ``edge``); the phases are then interleaved (stacked on a new axis
    after ``axis``, merged into it by a Reshape)."""
    builder = conversion.builder
    rank = 4
    pads = [0] * (2 * rank)
    pads[axis] = pads[rank + axis] = 1
    padded = builder.op("Pad", [x, builder.ints(pads)], mode="edge", hint="edged")
    phases = []
    for phase in range(factor):
        position = (phase + 0.5) / factor - 0.5
        if position == 0:
            phases.append(x)
            continue
        low = math.floor(position)
        fraction = position - low
        # In ``padded``, input k + low is at k + low + 1: the slices run to -(1 - low) and -(0 - low) from the end.
        earlier = builder.slice(padded, [low + 1], [-(1 - low)], [axis], hint="earlier")
        later = builder.slice(padded, [low + 2], [-(0 - low) or TO_THE_END], [axis], hint="later")
        mixed = builder.op("Add", [builder.op("Mul", [earlier, builder.scalar(1 - fraction)], hint="earlier_part"),
                                   builder.op("Mul", [later, builder.scalar(fraction)], hint="later_part")],
                           hint="phase")
        phases.append(mixed)
    stacked = builder.concat([builder.unsqueeze(phase, [axis + 1], hint="phase") for phase in phases], axis + 1,
                             hint="phases")
    shape = conversion.shape  # as x's on this axis and after it
    # Axes before ``axis`` keep their place (Reshape's 0 copies them).
    target = [0] + [KEEP if number < axis else size_of(x, shape, [number], factor if number == axis else 1)
                    for number in range(1, rank)]
    return reshape_to(conversion, stacked, target, hint="interleaved")
