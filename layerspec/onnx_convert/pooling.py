"""Pooling layers as ONNX: windowed pooling as ``MaxPool`` / ``AveragePool``
(channels-first between transposes), global pooling as ``ReduceMax`` /
``ReduceMean`` over the spatial axes (no transpose needed), and the masked
mean of GlobalAveragePooling1D."""

from __future__ import annotations

from ..layers.pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                              GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from . import Conversion, converts
from .conv import keras_amounts, pad_at_run_time, to_channels_first, to_channels_last


def pooling(conversion: Conversion) -> str:
    """Max or average pooling of any rank (the layer's ``mode``).

    Max pooling: ``MaxPool`` with Keras's explicit pads (ONNX's pads never
    win a max, as Keras's -inf). Average pooling: ``AveragePool`` with
    ``count_include_pad=0``, so a border window is divided by its real
    cells, as Keras does. Where the pads depend on a dynamic size they are
    computed at run time (:func:`.conv.pad_at_run_time`, a ``Pad`` node):
    max pooling pads with -inf, and average pooling divides the mean of the
    zero-padded input by the mean of a zero-padded field of ones (the share
    of real cells under each window).

    A NaN in a max pooling window: layerspec (and Keras) give NaN; ONNX
    leaves it to the engine (ONNX Runtime 1.32 skips it). Propagating it
    would take a second pooling pass over ``IsNaN``, on every max pooling,
    for inputs no model should see.
    """
    layer, builder = conversion.layer, conversion.builder
    rank, spatial = layer.rank, conversion.shape[1:-1]
    x = to_channels_first(builder, conversion.x, rank)
    window = dict(kernel_shape=list(layer.pool_size), strides=list(layer.strides))
    arguments = (layer.pool_size, layer.strides, (1,) * rank)
    amounts = keras_amounts(spatial, *arguments, layer.padding)
    op_type = "MaxPool" if layer.mode == "max" else "AveragePool"
    if all(amount is not None for amount in amounts):
        pads = [before for before, _ in amounts] + [after for _, after in amounts]
        extra = {} if layer.mode == "max" else {"count_include_pad": 0}
        y = builder.op(op_type, [x], pads=pads, **window, **extra)
    elif layer.mode == "max":
        padded, _ = pad_at_run_time(builder, x, spatial, conversion.shape[-1], amounts, *arguments, float("-inf"))
        y = builder.op(op_type, [padded], **window)
    else:
        padded, pads = pad_at_run_time(builder, x, spatial, conversion.shape[-1], amounts, *arguments)
        y = builder.op("Div", [builder.op(op_type, [padded], **window),
                               _share_of_real_cells(conversion, x, pads, amounts, window)])
    return to_channels_last(builder, y, rank)


def _share_of_real_cells(conversion: Conversion, x: str, pads: str, amounts: list, window: dict) -> str:
    """The mean of a field of ones ``(1, 1, *spatial)`` (``x``'s spatial
    sizes) padded with zeros by ``pads``: each window's count of real cells
    over its size."""
    builder = conversion.builder
    corner = builder.slice(x, [0, 0], [1, 1], [0, 1], hint="corner")
    ones = builder.op("Expand", [builder.scalar(1.0), builder.op("Shape", [corner])], hint="ones")
    layer = conversion.layer
    padded, _ = pad_at_run_time(builder, ones, conversion.shape[1:-1], 1, amounts, layer.pool_size, layer.strides,
                                (1,) * layer.rank, pads=pads)
    return builder.op("AveragePool", [padded], hint="share", **window)


@converts(MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D)
def windowed_pooling(conversion: Conversion) -> str:
    """Max and average pooling, 1D and 2D (see :func:`pooling`)."""
    return pooling(conversion)


def global_pooling(conversion: Conversion) -> str:
    """``ReduceMax`` or ``ReduceMean`` over the spatial axes, channels_last
    as it is; ``keepdims`` as the layer has it."""
    layer = conversion.layer
    op_type = "ReduceMax" if layer.mode == "max" else "ReduceMean"
    return conversion.builder.reduce(op_type, conversion.x, list(range(1, layer.rank + 1)), layer.keepdims)


@converts(GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling2D)
def global_pool(conversion: Conversion) -> str:
    """Global max and average pooling (see :func:`global_pooling`)."""
    return global_pooling(conversion)


@converts(GlobalAveragePooling1D)
def global_average_1d(conversion: Conversion) -> str:
    """The mean over the steps; with a mask, over the unmasked steps only
    (``call_masked``): ``sum(where(mask, x, 0)) / count(mask)``, so a sample
    with every step masked gives 0 / 0 = NaN, as in Keras. The output has no
    mask (the layer ends it)."""
    if conversion.mask is None:
        return global_pooling(conversion)
    builder, keepdims = conversion.builder, conversion.layer.keepdims
    kept = builder.unsqueeze(conversion.mask, [2], hint="kept")
    values = builder.op("Where", [kept, conversion.x, builder.scalar(0.0)], hint="kept_values")
    total = builder.reduce("ReduceSum", values, [1], keepdims, hint="total")
    count = builder.reduce("ReduceSum", builder.to_float(kept), [1], keepdims, hint="count")
    return builder.op("Div", [total, count])
