"""Convolution layers: Conv1D and Conv2D (channels_last), as in Keras 3.

A convolution here is cross-correlation (the kernel is not flipped), like
Keras. The forward pass pads once if the padding asks for it, views every
window of the input without copying, and does one matrix product: the
windows, flattened, times the kernel, flattened.
"""

from __future__ import annotations

import math

import numpy as np

from .. import activations
from ..arguments import ActivationName, Boolean, Choice, InitializerName, Integer, IntTuple
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape
from .core import known_product
from .windows import DataFormat, as_tuple, check_rank, output_spatial, pad_spatial, padding_amounts, window_view


#: Up to this many groups, a grouped convolution multiplies by the
#: block-diagonal full kernel: groups times the arithmetic, but one large
#: BLAS product measured 2-4x faster than a batched product of small ones
#: (LeNet-sized, groups 2-128). Beyond it the wasted work grows too large.
DENSE_GROUPS_LIMIT = 32


def block_diagonal(kernel: np.ndarray, groups: int) -> np.ndarray:
    """A grouped kernel ``(*k, in/g, filters)`` as a full ``(*k, in, filters)`` one.

    Input channel ``c`` of group ``c // (in/g)`` meets only that group's
    filters; every other weight is zero.
    """
    *window, per_group, filters = kernel.shape
    per_filters = filters // groups
    grouped = kernel.reshape(tuple(window) + (per_group, groups, per_filters))
    full = np.zeros(tuple(window) + (groups, per_group, groups, per_filters), dtype=kernel.dtype)
    for group in range(groups):
        full[..., group, :, group, :] = grouped[..., :, group, :]
    return full.reshape(tuple(window) + (groups * per_group, filters))


class _Conv(Layer):
    """What Conv1D and Conv2D share; ``rank`` is the number of spatial axes."""

    rank = 2

    def __init__(self, filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                 use_bias, kernel_initializer, bias_initializer, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = as_tuple(kernel_size, self.rank)
        self.strides = as_tuple(strides, self.rank)
        self.padding = padding
        self.data_format = data_format
        self.dilation_rate = as_tuple(dilation_rate, self.rank)
        self.groups = groups
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        if filters % groups:
            raise ArgumentError(f"filters ({filters}) must be divisible by groups ({groups})", argument="groups")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            # Keras refuses this combination too.
            raise ArgumentError(f"strides > 1 not supported in conjunction with dilation_rate > 1, got strides "
                                f"{format_shape(self.strides)} and dilation_rate {format_shape(self.dilation_rate)}",
                                argument="dilation_rate")

    # -- shapes -----------------------------------------------------------
    def input_channels(self, input_shape) -> int:
        """The input's channel count, checked against rank and groups."""
        check_rank(input_shape, self.rank)
        channels = input_shape[-1]
        if channels is None:
            raise ShapeError(f"needs a known number of channels (the last axis), got {format_shape(input_shape)}")
        if channels % self.groups:
            raise ShapeError(f"input channels ({channels}) must be divisible by groups ({self.groups}); "
                             f"the input is {format_shape(input_shape)}", argument="groups")
        return channels

    def build(self, input_shape):
        channels = self.input_channels(input_shape)
        self.compute_output_shape(input_shape)
        self.kernel = self.add_weight(shape=self.kernel_size + (channels // self.groups, self.filters),
                                      initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer=self.bias_initializer,
                                    name="bias") if self.use_bias else None

    def compute_output_shape(self, input_shape):
        self.input_channels(input_shape)
        spatial = output_spatial(tuple(input_shape[1:-1]), self.kernel_size, self.strides, self.dilation_rate,
                                 self.padding, "kernel_size")
        return (input_shape[0],) + spatial + (self.filters,)

    def count_macs(self, input_shape):
        positions = known_product(self.compute_output_shape(input_shape)[1:-1])
        if positions is None:
            return None
        per_position = math.prod(self.kernel_size) * (input_shape[-1] // self.groups)
        return positions * self.filters * per_position

    def count_elementwise(self, input_shape):
        outputs = known_product(self.compute_output_shape(input_shape)[1:])
        return None if outputs is None else outputs * (self.use_bias + activations.cost(self.activation))

    # -- computing --------------------------------------------------------
    def call(self, inputs):
        pads = [padding_amounts(n, k, s, d, self.padding)
                for n, k, s, d in zip(inputs.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)]
        windows = window_view(pad_spatial(inputs, pads, 0), self.kernel_size, self.strides, self.dilation_rate)
        positions = windows.shape[:self.rank + 1]
        outputs = self._multiply(windows, math.prod(positions))
        if self.bias is not None:
            outputs += self.bias.value
        return self.activation(outputs.reshape(positions + (self.filters,)))

    def _multiply(self, windows: np.ndarray, rows: int) -> np.ndarray:
        """``(rows, filters)``: every window times the kernel, in one product."""
        kernel = self.kernel.value
        if self.groups > DENSE_GROUPS_LIMIT:
            return self._multiply_by_group(windows, rows, kernel)
        if self.groups > 1:
            kernel = block_diagonal(kernel, self.groups)
        cells = math.prod(kernel.shape[:-1])
        # The reshape copies the windows into one (rows, cells) matrix
        # (im2col); one BLAS product beats einsum on the strided view.
        return windows.reshape(rows, cells) @ kernel.reshape(cells, self.filters)

    def _multiply_by_group(self, windows: np.ndarray, rows: int, kernel: np.ndarray) -> np.ndarray:
        """One batched product over the groups (for many groups)."""
        groups, per_group = self.groups, kernel.shape[-2]
        cells = math.prod(self.kernel_size) * per_group
        split = windows.reshape(windows.shape[:-1] + (groups, per_group))
        columns = np.moveaxis(split, -2, 0).reshape(groups, rows, cells)
        kernels = kernel.reshape(-1, per_group, groups, self.filters // groups)
        kernels = kernels.transpose(2, 0, 1, 3).reshape(groups, cells, self.filters // groups)
        # (groups, rows, f/g) → (rows, groups, f/g): filters stay group-major, as in Keras.
        return np.matmul(columns, kernels).transpose(1, 0, 2).reshape(rows, self.filters)


@register
class Conv1D(_Conv):
    """1D convolution (temporal convolution) over a sequence.

    Cross-correlates ``filters`` kernels with the input along its steps,
    adds a bias and applies ``activation``.

    Args:
        filters: number of output channels.
        kernel_size: length of the convolution window (int or list of 1).
        strides: step between windows. ``strides > 1`` cannot be combined
            with ``dilation_rate > 1``.
        padding: ``valid`` (no padding), ``same`` (pads so the output has
            ``ceil(steps / strides)`` steps; the odd cell goes at the end) or
            ``causal`` (pads ``(kernel_size - 1) * dilation_rate`` at the
            start only, so output ``t`` never sees input after ``t``).
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells.
        groups: splits the input channels into this many groups, each
            convolved with ``filters / groups`` filters; both ``filters`` and
            the input channels must be divisible by it.
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of ``kernel``.
        bias_initializer: initializer of ``bias``.

    Weights:
        ``kernel`` ``(kernel_size, channels / groups, filters)``, ``bias``
        ``(filters,)``.

    Input shape:
        ``(batch, steps, channels)``.
    Output shape:
        ``(batch, new_steps, filters)``.
    """

    rank = 1

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(1), strides: IntTuple(1) = 1,
                 padding: Choice("valid", "same", "causal") = "valid", data_format: DataFormat() = None,
                 dilation_rate: IntTuple(1) = 1, groups: Integer(min=1) = 1, activation: ActivationName() = None,
                 use_bias: Boolean() = True, kernel_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, **kwargs)


@register
class Conv2D(_Conv):
    """2D convolution over images.

    Cross-correlates ``filters`` kernels with the input over its height and
    width, adds a bias and applies ``activation``.

    Args:
        filters: number of output channels.
        kernel_size: height and width of the window (int or list of 2).
        strides: step between windows (int or list of 2). ``strides > 1``
            cannot be combined with ``dilation_rate > 1``.
        padding: ``valid`` (no padding) or ``same`` (pads so each output
            size is ``ceil(size / strides)``; an odd total padding puts the
            extra cell at the bottom/right).
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells (int or list of 2).
        groups: splits the input channels into this many groups, each
            convolved with ``filters / groups`` filters; both ``filters`` and
            the input channels must be divisible by it.
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of ``kernel``.
        bias_initializer: initializer of ``bias``.

    Weights:
        ``kernel`` ``(kernel_height, kernel_width, channels / groups,
        filters)``, ``bias`` ``(filters,)``.

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, new_height, new_width, filters)``.
    """

    rank = 2

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(2), strides: IntTuple(2) = 1,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None,
                 dilation_rate: IntTuple(2) = 1, groups: Integer(min=1) = 1, activation: ActivationName() = None,
                 use_bias: Boolean() = True, kernel_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, **kwargs)


register(name="Convolution1D")(Conv1D)
register(name="Convolution2D")(Conv2D)
