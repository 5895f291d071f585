"""Transposed, depthwise and separable convolutions as ONNX ``ConvTranspose``
and grouped ``Conv`` nodes (channels-first between transposes, as in
:mod:`.conv`)."""

from __future__ import annotations

import numpy as np

from ..layers.conv_variants import (Conv1DTranspose, Conv2DTranspose, DepthwiseConv1D, DepthwiseConv2D,
                                    SeparableConv1D, SeparableConv2D, transpose_output_size, transpose_pads)
from . import Conversion, converts
from .activations import apply_activation
from .conv import kernel_to_onnx, pre_activation_shape, to_channels_first, to_channels_last, window_pads


# -- transposed convolutions --------------------------------------------------

def transpose_window(size, kernel: int, stride: int, dilation: int, padding: str, output_padding) -> tuple:
    """``(crop before, crop after, output_padding)`` of ONNX ``ConvTranspose``
    along one axis, for Keras's output.

    ONNX's output is the full scatter (length ``(n-1)*s + span``) with
    ``pads`` cropped at each end and ``output_padding`` cells appended after
    (cells no input reaches: the bias alone). Keras's output (layerspec's
    ``_PhaseAxis``) starts ``crop = span - 1 - lo`` cells into the full one
    (``lo`` from JAX's padding) and is as long as
    ``compute_conv_transpose_output_shape`` says; it may run past the full
    output's end (by less than a stride), which ``output_padding`` writes.
    How far the output's end is from the full output's does not depend on
    ``n``, so a dynamic size takes the same numbers as ``n = 1``.
    """
    span = (kernel - 1) * dilation + 1
    before, _ = transpose_pads(kernel, stride, dilation, padding, output_padding)
    crop = span - 1 - before
    n = 1 if size is None else size
    beyond = crop + transpose_output_size(n, kernel, stride, dilation, padding, output_padding) \
        - ((n - 1) * stride + span)
    return (crop, 0, beyond) if beyond > 0 else (crop, -beyond, 0)


@converts(Conv1DTranspose, Conv2DTranspose)
def conv_transpose(conversion: Conversion) -> str:
    """``ConvTranspose``: each input cell adds ``x · kernel[j]`` at output
    ``i*s + j*d`` (the scatter Keras computes, no kernel flip); the window
    of Keras's output is written as pads and output_padding (see
    :func:`transpose_window`). Kernel ``(*k, filters, in)`` → ONNX
    ``(in, filters, *k)``."""
    layer, builder = conversion.layer, conversion.builder
    rank = layer.rank
    windows = [transpose_window(size, *arguments, layer.padding, extra) for size, arguments, extra in
               zip(conversion.shape[1:-1], zip(layer.kernel_size, layer.strides, layer.dilation_rate),
                   layer.output_padding or (None,) * rank)]
    x = to_channels_first(builder, conversion.x, rank)
    inputs = [x, conversion.derived_weight("kernel_onnx", lambda: kernel_to_onnx(conversion.weight_value("kernel")))]
    if layer.use_bias:
        inputs.append(conversion.weight("bias"))
    y = builder.op("ConvTranspose", inputs, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                   dilations=list(layer.dilation_rate), pads=[w[0] for w in windows] + [w[1] for w in windows],
                   output_padding=[w[2] for w in windows])
    y = to_channels_last(builder, y, rank)
    return apply_activation(conversion, y, layer.activation, pre_activation_shape(conversion, layer.filters))


# -- depthwise and separable convolutions -------------------------------------

def depthwise_kernel_to_onnx(kernel: np.ndarray) -> np.ndarray:
    """Keras's depthwise kernel ``(*k, C, M)`` as the ``W`` of a ``Conv``
    with ``group = C``: ``(C*M, 1, *k)``. Output channel ``c*M + m`` is in
    group ``(c*M + m) // M = c`` and uses ``kernel[..., c, m]``, as Keras's."""
    *window, channels, multiplier = kernel.shape
    rank = len(window)
    flat = kernel.reshape(tuple(window) + (channels * multiplier,))
    return np.ascontiguousarray(np.transpose(flat, (rank,) + tuple(range(rank)))[:, np.newaxis])


def depthwise(conversion: Conversion, kernel_name: str, bias: str | None) -> str:
    """The depthwise step, channels-first in and out: a ``Conv`` with one
    group per input channel and Keras's padding (see :func:`.conv.window_pads`)."""
    layer, builder = conversion.layer, conversion.builder
    rank, channels = layer.rank, conversion.shape[-1]
    x = to_channels_first(builder, conversion.x, rank)
    x, pads = window_pads(conversion, x, conversion.shape[1:-1], layer.kernel_size, layer.strides,
                          layer.dilation_rate, layer.padding)
    weight = conversion.derived_weight(f"{kernel_name}_onnx",
                                       lambda: depthwise_kernel_to_onnx(conversion.weight_value(kernel_name)))
    inputs = [x, weight] + ([bias] if bias is not None else [])
    return builder.op("Conv", inputs, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                      dilations=list(layer.dilation_rate), pads=pads, group=channels, hint="depthwise")


@converts(DepthwiseConv1D, DepthwiseConv2D)
def depthwise_conv(conversion: Conversion) -> str:
    """``Conv`` with ``group`` = input channels (``depth_multiplier`` filters
    each), its bias, then the activation."""
    layer, builder = conversion.layer, conversion.builder
    bias = conversion.weight("bias") if layer.use_bias else None
    y = to_channels_last(builder, depthwise(conversion, "kernel", bias), layer.rank)
    channels = conversion.shape[-1] * layer.depth_multiplier
    return apply_activation(conversion, y, layer.activation, pre_activation_shape(conversion, channels))


@converts(SeparableConv1D, SeparableConv2D)
def separable_conv(conversion: Conversion) -> str:
    """The depthwise ``Conv`` (no bias), then the pointwise step as a 1-wide
    ``Conv`` (``pointwise_kernel`` ``(1..., C*M, filters)`` → ``(filters,
    C*M, 1...)``) with the layer's one bias, then the activation."""
    layer, builder = conversion.layer, conversion.builder
    y = depthwise(conversion, "depthwise_kernel", None)
    inputs = [y, conversion.derived_weight("pointwise_kernel_onnx",
                                           lambda: kernel_to_onnx(conversion.weight_value("pointwise_kernel")))]
    if layer.use_bias:
        inputs.append(conversion.weight("bias"))
    y = builder.op("Conv", inputs, kernel_shape=[1] * layer.rank, hint="pointwise")
    y = to_channels_last(builder, y, layer.rank)
    return apply_activation(conversion, y, layer.activation, pre_activation_shape(conversion, layer.filters))
