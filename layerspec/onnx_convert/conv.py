"""Conv1D and Conv2D as ONNX ``Conv``, and the windowing helpers the other
convolution and pooling converters share.

layerspec's layout is channels_last; ONNX's Conv and pooling operators are
channels-first, so a converter transposes in, runs the operator, and
transposes out (ONNX Runtime cancels adjacent transposes between layers).

Padding is always written out, never as ``auto_pad``: Keras's ``same``
(total ``max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0)``, ``total // 2``
before, the odd cell after) is what ``SAME_UPPER`` means, but not every
engine computes ``SAME_UPPER`` so, while explicit ``pads`` mean one thing
everywhere. Where a spatial size is dynamic (``null``
in the spec) and the padding depends on it (``same`` with a stride above 1),
the pads are computed from the input's shape at run time and applied with a
``Pad`` node before the operator.

The operators are written in the model's dtype; ONNX allows float64 for all
of them, but ONNX Runtime's CPU provider has no float64 ``Conv``,
``ConvTranspose`` or ``AveragePool`` kernel.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..layers.conv import Conv1D, Conv2D
from ..layers.windows import padding_amounts
from . import Conversion, converts
from .activations import apply_activation


# -- layout -------------------------------------------------------------------

def to_channels_first(builder, x: str, rank: int) -> str:
    """``(batch, *spatial, C)`` → ``(batch, C, *spatial)``."""
    return builder.transpose(x, [0, rank + 1] + list(range(1, rank + 1)), hint="channels_first")


def to_channels_last(builder, x: str, rank: int) -> str:
    """``(batch, C, *spatial)`` → ``(batch, *spatial, C)``."""
    return builder.transpose(x, [0] + list(range(2, rank + 2)) + [1], hint="channels_last")


def kernel_to_onnx(kernel: np.ndarray) -> np.ndarray:
    """A Keras kernel ``(*k, a, b)`` as ONNX's ``(b, a, *k)``.

    For Conv, Keras's ``(*k, in/groups, filters)`` becomes ONNX's ``W``
    ``(filters, in/groups, *k)``; for ConvTranspose, Keras's ``(*k, filters,
    in)`` becomes ``(in, filters, *k)``: the same permutation.
    """
    rank = kernel.ndim - 2
    return np.ascontiguousarray(np.transpose(kernel, (rank + 1, rank) + tuple(range(rank))))


# -- padding ------------------------------------------------------------------

def _static_amounts(size, kernel: int, stride: int, dilation: int, padding: str):
    """``(before, after)`` of one axis when it does not depend on a dynamic
    size, else None. ``same`` with stride 1 pads ``span - 1`` whatever the
    size ((n-1) + span - n); with a larger stride it depends on ``n mod s``."""
    if size is None:
        if padding == "same" and stride > 1:
            return None
        size = 1
    return padding_amounts(size, kernel, stride, dilation, padding)


def _dynamic_same_amount(builder, shape: str, axis: int, kernel: int, stride: int, dilation: int):
    """``(before, after)`` (int64 ``[1]`` tensors) of Keras's ``same`` padding
    for the dynamic axis ``axis``: with ``r = n mod s``, ``ceil(n/s)*s - n``
    is ``(s - r) mod s``, so ``total = max(span - s + (s - r) mod s, 0)``."""
    span = (kernel - 1) * dilation + 1
    size = builder.op("Gather", [shape, builder.ints([axis])], axis=0, hint="size")
    rest = builder.op("Mod", [size, builder.ints([stride])], hint="rest")
    short = builder.op("Mod", [builder.op("Sub", [builder.ints([stride]), rest]), builder.ints([stride])], hint="short")
    total = builder.op("Max", [builder.op("Add", [short, builder.ints([span - stride])]), builder.ints([0])],
                       hint="total")
    before = builder.op("Div", [total, builder.ints([2])], hint="before")
    return before, builder.op("Sub", [total, before], hint="after")


def keras_amounts(spatial: Sequence, kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int],
                  padding: str) -> list:
    """``(before, after)`` of each spatial axis, None where it depends on a
    dynamic size (``spatial`` holds None there)."""
    return [_static_amounts(*axis, padding) for axis in zip(spatial, kernel, strides, dilation)]


def run_time_pads(builder, x: str, amounts: list, kernel: Sequence[int], strides: Sequence[int],
                  dilation: Sequence[int]) -> str:
    """The int64 ``pads`` input of a ``Pad`` of the channels-first ``x``
    (nothing on the batch and channel axes): ``amounts`` where known, else
    computed from ``x``'s shape (:func:`_dynamic_same_amount`)."""
    shape = builder.op("Shape", [x], hint="shape")
    befores, afters = [builder.ints([0, 0])], [builder.ints([0, 0])]
    for axis, (amount, window) in enumerate(zip(amounts, zip(kernel, strides, dilation))):
        if amount is None:
            before, after = _dynamic_same_amount(builder, shape, axis + 2, *window)
        else:
            before, after = builder.ints([amount[0]]), builder.ints([amount[1]])
        befores.append(before)
        afters.append(after)
    return builder.concat(befores + afters, axis=0, hint="pads")


def pad_at_run_time(builder, x: str, spatial: Sequence, channels: int, amounts: list, kernel: Sequence[int],
                    strides: Sequence[int], dilation: Sequence[int], fill: float = 0.0,
                    pads: str | None = None) -> tuple[str, str]:
    """``x`` (channels-first) padded with ``fill`` by a ``Pad`` node whose
    amounts are computed at run time (:func:`run_time_pads`, or ``pads``
    made before for a tensor of the same spatial sizes); returns ``(padded,
    pads)``.

    ONNX's shape inference knows only the rank of a ``Pad`` output whose pads
    are not constant, so the result is reshaped to ``(0, channels, sizes)``
    (each known padded size, 0 — keep it — for the dynamic ones): the sizes
    layerspec knows stay known to ONNX.
    """
    if pads is None:
        pads = run_time_pads(builder, x, amounts, kernel, strides, dilation)
    padded = builder.op("Pad", [x, pads, builder.scalar(fill)], mode="constant", hint="padded")
    sizes = [0 if size is None or amount is None else size + sum(amount) for size, amount in zip(spatial, amounts)]
    return builder.reshape(padded, [0, channels] + sizes, hint="padded_sizes"), pads


def window_pads(conversion: Conversion, x: str, spatial: Sequence, kernel: Sequence[int], strides: Sequence[int],
                dilation: Sequence[int], padding: str, fill: float = 0.0) -> tuple[str, list[int]]:
    """Keras's padding of the channels-first ``x`` (the first input's
    channels) for a window operator.

    Returns ``(x, pads)``: ``pads`` is the operator's ``pads`` attribute
    (befores, then afters) when every amount is known at export; otherwise
    ``x`` comes back padded with ``fill`` by :func:`pad_at_run_time`, and
    ``pads`` is all zeros.

    Args:
        spatial: the spatial sizes (None where dynamic).
    """
    amounts = keras_amounts(spatial, kernel, strides, dilation, padding)
    if all(amount is not None for amount in amounts):
        return x, [before for before, _ in amounts] + [after for _, after in amounts]
    padded, _ = pad_at_run_time(conversion.builder, x, spatial, conversion.shape[-1], amounts, kernel, strides,
                                dilation, fill)
    return padded, [0] * (2 * len(spatial))


# -- Conv1D / Conv2D (and Conv3D) ---------------------------------------------

def convolution(conversion: Conversion) -> str:
    """A Keras convolution (Conv1D/2D/3D) as ONNX ``Conv``: transpose in,
    ``Conv`` with explicit pads, dilations and ``group``, transpose out,
    then the activation (channels_last, as the layer applies it)."""
    layer, builder = conversion.layer, conversion.builder
    rank = layer.rank
    x = to_channels_first(builder, conversion.x, rank)
    x, pads = window_pads(conversion, x, conversion.shape[1:-1], layer.kernel_size, layer.strides,
                          layer.dilation_rate, layer.padding)
    inputs = [x, conversion.derived_weight("kernel_onnx", lambda: kernel_to_onnx(conversion.weight_value("kernel")))]
    if layer.use_bias:
        inputs.append(conversion.weight("bias"))
    y = builder.op("Conv", inputs, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                   dilations=list(layer.dilation_rate), pads=pads, group=layer.groups)
    y = to_channels_last(builder, y, rank)
    return apply_activation(conversion, y, layer.activation, pre_activation_shape(conversion, layer.filters))


def pre_activation_shape(conversion: Conversion, channels: int) -> tuple:
    """The node's output shape before its activation: ``channels`` last
    (``glu`` halves them after)."""
    return tuple(conversion.output_shape[:-1]) + (channels,)


@converts(Conv1D, Conv2D)
def conv(conversion: Conversion) -> str:
    """Conv1D (``valid``/``same``/``causal``: left pads only) and Conv2D."""
    return convolution(conversion)
