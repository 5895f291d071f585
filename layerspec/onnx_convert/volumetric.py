"""Volumetric (3D) layers as ONNX: Conv3D and the 3D poolings share the
rank-generic converters of :mod:`.conv` and :mod:`.pooling`; ZeroPadding3D
is a ``Pad``, Cropping3D a ``Slice`` and UpSampling3D a broadcast
(``Unsqueeze`` + ``Expand`` + ``Reshape``), all channels_last as they are."""

from __future__ import annotations

from ..layers.volumetric import (AveragePooling3D, Conv3D, Cropping3D, GlobalAveragePooling3D, GlobalMaxPooling3D,
                                 MaxPooling3D, UpSampling3D, ZeroPadding3D)
from . import Conversion, converts
from .conv import convolution
from .pooling import global_pooling, pooling

#: Slice's "to the end" (ONNX clamps an end past the axis to its size).
TO_THE_END = 2 ** 63 - 1


@converts(Conv3D)
def conv3d(conversion: Conversion) -> str:
    """``Conv`` over (depth, height, width) (see :func:`.conv.convolution`)."""
    return convolution(conversion)


@converts(MaxPooling3D, AveragePooling3D)
def pooling3d(conversion: Conversion) -> str:
    """``MaxPool`` / ``AveragePool`` (see :func:`.pooling.pooling`)."""
    return pooling(conversion)


@converts(GlobalAveragePooling3D, GlobalMaxPooling3D)
def global_pooling3d(conversion: Conversion) -> str:
    """``ReduceMean`` / ``ReduceMax`` over axes 1-3."""
    return global_pooling(conversion)


@converts(ZeroPadding3D)
def zero_padding3d(conversion: Conversion) -> str:
    """``Pad`` with zeros: befores then afters, nothing on the batch and
    channel axes."""
    amounts = conversion.layer.amounts
    pads = [0] + [before for before, _ in amounts] + [0] + [0] + [after for _, after in amounts] + [0]
    builder = conversion.builder
    return builder.op("Pad", [conversion.x, builder.ints(pads), builder.scalar(0.0)], mode="constant")


@converts(Cropping3D)
def cropping3d(conversion: Conversion) -> str:
    """``Slice`` of axes 1-3 from ``before`` to ``-after`` (to the end when
    ``after`` is 0)."""
    amounts = conversion.layer.amounts
    starts = [before for before, _ in amounts]
    ends = [-after if after else TO_THE_END for _, after in amounts]
    return conversion.builder.slice(conversion.x, starts, ends, [1, 2, 3])


@converts(UpSampling3D)
def upsampling3d(conversion: Conversion) -> str:
    """Nearest upsampling by repetition, as layerspec's ``_repeat``: a unit
    axis after each spatial one, broadcast to its factor (``Expand``), then
    merged into it (``Reshape``). Exact, unlike ``Resize``, whose nearest
    sampling divides coordinates by a float scale."""
    builder, factors = conversion.builder, tuple(conversion.layer.factors)
    spread = builder.unsqueeze(conversion.x, [2, 4, 6], hint="spread")
    repeated = builder.op("Expand", [spread, builder.ints([1, 1, factors[0], 1, factors[1], 1, factors[2], 1])],
                          hint="repeated")
    spatial, channels = conversion.shape[1:-1], conversion.shape[-1]
    merged = [None if size is None else size * factor for size, factor in zip(spatial, factors)]
    if sum(size is None for size in merged) <= 1:
        # 0 keeps the batch; -1 takes the one dynamic size, if any.
        return builder.reshape(repeated, [0] + [-1 if size is None else size for size in merged] + [channels])
    # Several dynamic sizes: the target shape from the input's at run time.
    sizes = builder.op("Mul", [builder.slice(builder.op("Shape", [conversion.x]), [1], [4], [0]),
                               builder.ints(list(factors))], hint="sizes")
    shape = builder.concat([builder.ints([0]), sizes, builder.ints([channels])], axis=0, hint="shape")
    merged_at_run_time = builder.op("Reshape", [repeated, shape], hint="merged")
    # ONNX's shape inference knows nothing of a Reshape to a computed shape;
    # a second one (0 keeps a size) tells it the sizes known at export.
    return builder.reshape(merged_at_run_time, [0] + [0 if size is None else size for size in merged] + [channels])
