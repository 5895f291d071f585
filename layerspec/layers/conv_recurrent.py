"""Convolutional LSTMs: ConvLSTM1D, ConvLSTM2D and ConvLSTM3D, as Keras 3 computes them.

An LSTM whose input and recurrent transformations are convolutions (Shi et
al., 2015): the input ``(batch, timesteps, *spatial, channels)`` is
convolved at every step with ``kernel`` (``kernel_size``, ``strides``,
``padding``, ``dilation_rate``), the state ``h`` with ``recurrent_kernel``
(stride 1, 'same' padding, no dilation, so the state keeps the input
convolution's output size). Gates in Keras's order i, f, c, o::

    z = conv(x_t, kernel) + bias + conv_same(h, recurrent_kernel)
    i, f, o = recurrent_activation(z_i), ..., recurrent_activation(z_o)
    c_t = f * c_{t-1} + i * activation(z_c)
    h_t = o * activation(c_t)

from zero ``h`` and ``c`` or the given initial states. Each step gathers
the windows of ``x_t`` and of ``h`` (one copy each, the im2col form) and
multiplies them by the kernels laid out as ``(window cells * channels, 4 *
filters)`` matrices, prepared once per weights.
"""

from __future__ import annotations

import math

import numpy as np

from ..arguments import ActivationName, Boolean, Choice, DataFormat, InitializerName, Integer, IntTuple, Number, \
    Optional
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import format_shape
from .prepared import derived
from .recurrent import RecurrentBase, UnitForgetBias, activate, activate_gates, refuse_stateful, state_activation
from .windows import as_tuple, output_spatial, pad_spatial, padding_amounts, window_view


class _ConvLSTM(RecurrentBase):
    """What ConvLSTM1D/2D/3D share; ``rank`` is the number of spatial axes."""

    rank = 2
    state_names = ("state_h", "state_c")
    # sigmoid i, f, o; tanh of the candidate and of c
    activations_per_step = 5
    # f*c, i*g, their sum, o*tanh(c)
    state_update_ops = 4

    def _setup(self, filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
               recurrent_activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
               unit_forget_bias, dropout, recurrent_dropout, seed, return_sequences, return_state, go_backwards,
               stateful, unroll):
        refuse_stateful(stateful)
        self.filters = filters
        self.kernel_size = as_tuple(kernel_size, self.rank)
        self.strides = as_tuple(strides, self.rank)
        self.padding = padding
        self.data_format = data_format
        self.dilation_rate = as_tuple(dilation_rate, self.rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            # Keras refuses this combination too.
            raise ArgumentError(f"strides > 1 not supported in conjunction with dilation_rate > 1, got strides "
                                f"{format_shape(self.strides)} and dilation_rate {format_shape(self.dilation_rate)}",
                                argument="dilation_rate")
        self.activation = state_activation(activation, "activation")
        self.recurrent_activation = state_activation(recurrent_activation, "recurrent_activation")
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.unit_forget_bias = unit_forget_bias
        # Dropout is only active in training; layerspec runs inference.
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.seed = seed
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll

    # -- shapes -----------------------------------------------------------
    def _checked(self, sequence: tuple) -> tuple[tuple, int]:
        """``(output spatial sizes, input channels)`` of a sequence shape."""
        if len(sequence) != self.rank + 3:
            axes = ", ".join(("steps",) if self.rank == 1 else ("height", "width") if self.rank == 2
                             else ("depth", "height", "width"))
            raise ShapeError(f"needs an input of shape (batch, timesteps, {axes}, channels), got "
                             f"{format_shape(sequence)}")
        spatial, channels = tuple(sequence[2:-1]), sequence[-1]
        if channels is None:
            raise ShapeError(f"needs a known number of channels (the last axis), got {format_shape(sequence)}")
        if any(size is None for size in spatial):
            # As Keras: the state's shape must be known before the first step.
            raise ShapeError(f"needs known spatial sizes (only timesteps may be unknown), got "
                             f"{format_shape(sequence)}")
        return output_spatial(spatial, self.kernel_size, self.strides, self.dilation_rate, self.padding,
                              "kernel_size"), channels

    def _state_shape(self, sequence):
        spatial, _ = self._checked(sequence)
        return (sequence[0],) + spatial + (self.filters,)

    def _output_shape(self, sequence):
        state = self._state_shape(sequence)
        return (state[0], sequence[1]) + state[1:] if self.return_sequences else state

    def count_macs(self, input_shape):
        sequence = self._sequence_shape(input_shape)
        spatial, channels = self._checked(sequence)
        if sequence[1] is None:
            return None
        cells = math.prod(self.kernel_size)
        per_position = 4 * self.filters * cells * (channels + self.filters)
        return sequence[1] * math.prod(spatial) * per_position

    def count_elementwise(self, input_shape):
        sequence = self._sequence_shape(input_shape)
        spatial, _ = self._checked(sequence)
        if sequence[1] is None:
            return None
        per_unit = 4 * self.use_bias + self.activations_per_step + self.state_update_ops
        return sequence[1] * math.prod(spatial) * self.filters * per_unit

    def count_workspace(self, input_shape):
        sequence = self._sequence_shape(input_shape)
        spatial, channels = self._checked(sequence)
        # Per step: the windows of x_t and of h, the gates, h and c.
        cells = math.prod(self.kernel_size)
        return math.prod(spatial) * (cells * (channels + self.filters) + 6 * self.filters)

    # -- masks ------------------------------------------------------------
    def compute_mask_shape(self, input_shape, mask_shape):
        """A mask on the sequence is refused; none passes on.

        Keras's recurrent loop reduces each step's mask over its last axis
        (to ``(batch, 1)`` for a ``(batch, timesteps)`` mask) and selects
        the states with it: against ConvLSTM's ``(batch, *spatial,
        filters)`` states that aligns the batch with a spatial axis, so
        the result would be wrong or fail. (A mask on an initial state is
        dropped, as Keras does not use it.)
        """
        mask = mask_shape[0] if isinstance(mask_shape, list) else mask_shape
        if mask is not None:
            name = type(self).__name__
            states = format_shape(self._state_shape(self._sequence_shape(input_shape)))
            raise ShapeError(f"{name} cannot take a mask: its input sequence carries one of shape "
                             f"{format_shape(tuple(mask))} (from a Masking layer or an Embedding with mask_zero "
                             f"upstream), and Keras's recurrent loop would broadcast each step's mask against the "
                             f"{states} states along the wrong axes (the batch axis meeting a spatial one), giving "
                             f"wrong values or failing; remove the mask upstream (no Masking, mask_zero: false)")
        return None

    # -- weights ----------------------------------------------------------
    def build(self, input_shape):
        sequence = self._sequence_shape(input_shape)
        _, channels = self._checked(sequence)
        width = 4 * self.filters
        self.kernel = self.add_weight(shape=self.kernel_size + (channels, width),
                                      initializer=self.kernel_initializer, name="kernel")
        self.recurrent_kernel = self.add_weight(shape=self.kernel_size + (self.filters, width),
                                                initializer=self.recurrent_initializer, name="recurrent_kernel")
        bias_init = UnitForgetBias(self.bias_initializer) if self.unit_forget_bias else self.bias_initializer
        self.bias = self.add_weight(shape=(width,), initializer=bias_init, name="bias") if self.use_bias else None

    # -- computing --------------------------------------------------------
    def call(self, inputs):
        x, initial = self._split_arrays(inputs)
        x = x if x.dtype.kind == "f" else x.astype(self.dtype)
        dtype = x.dtype
        batch, steps = x.shape[:2]
        spatial, channels = tuple(x.shape[2:-1]), x.shape[-1]
        out_spatial, _ = self._checked((None, None) + spatial + (channels,))
        positions, filters = math.prod(out_spatial), self.filters
        kernel = derived(self, ("kernel", dtype.str), lambda: self._matrix(self.kernel, dtype))
        recurrent = derived(self, ("recurrent", dtype.str), lambda: self._matrix(self.recurrent_kernel, dtype))
        bias = None if self.bias is None else self.bias.value.astype(dtype, copy=False)
        input_pads = [padding_amounts(n, k, s, d, self.padding)
                      for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]
        state_pads = [padding_amounts(n, k, 1, 1, "same") for n, k in zip(out_spatial, self.kernel_size)]
        ones = (1,) * self.rank

        state_shape = (batch,) + out_spatial + (filters,)
        h = np.array(initial[0], dtype) if initial else np.zeros(state_shape, dtype)
        carry = (np.array(initial[1], dtype) if initial else np.zeros(state_shape, dtype)).reshape(-1, filters)
        gates = np.empty((batch * positions, 4 * filters), dtype)
        product = np.empty_like(gates)
        scratch = np.empty((batch * positions, filters), dtype)
        input_gate, forget_gate, candidate, output_gate = (gates[:, k * filters:(k + 1) * filters] for k in range(4))
        sequence = np.empty((batch, steps) + state_shape[1:], dtype) if self.return_sequences else None
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        for position, step in enumerate(order):
            windows = window_view(pad_spatial(x[:, step], input_pads, 0), self.kernel_size, self.strides,
                                  self.dilation_rate)
            np.matmul(windows.reshape(batch * positions, -1), kernel, out=gates)
            if bias is not None:
                gates += bias
            windows = window_view(pad_spatial(h, state_pads, 0), self.kernel_size, ones, ones)
            np.matmul(windows.reshape(batch * positions, -1), recurrent, out=product)
            gates += product
            activate_gates(self.recurrent_activation, gates[:, :2 * filters], (input_gate, forget_gate))
            activate(self.recurrent_activation, output_gate, output_gate)
            activate(self.activation, candidate, candidate)
            carry *= forget_gate
            np.multiply(input_gate, candidate, out=scratch)
            carry += scratch
            activate(self.activation, carry, scratch)
            # A new array each step: the padded copy of the last one is already made.
            h = np.multiply(output_gate, scratch).reshape(state_shape)
            if sequence is not None:
                sequence[:, position] = h
        if not self.return_state:
            return sequence if sequence is not None else h
        output = sequence if sequence is not None else h.copy()
        return self._outputs(output, [h, carry.reshape(state_shape)])

    def _matrix(self, weight, dtype) -> np.ndarray:
        """A kernel ``(*kernel_size, in, 4 * filters)`` as ``(cells * in, 4 * filters)``,
        the rows in the order of a window view's cells and channels."""
        value = weight.value
        return np.ascontiguousarray(value.reshape(-1, value.shape[-1]), dtype=dtype)


_CONV_LSTM_ARGS = """
    Args:
        filters: number of output channels (the state's channels).
        kernel_size: the convolution window, for the input and the state.
        strides: step between the input's windows; ``strides > 1``
            cannot be combined with ``dilation_rate > 1``. The state's
            convolution always has stride 1.
        padding: ``valid`` or ``same`` for the input's convolution; the
            state's is always ``same``.
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells on the input.
        activation: default ``tanh``; ``null`` for linear.
        recurrent_activation: the gates' activation, default ``sigmoid``.
        use_bias: whether to add ``bias``.
        kernel_initializer: initializer of ``kernel``.
        recurrent_initializer: initializer of ``recurrent_kernel``;
            default ``orthogonal``.
        bias_initializer: initializer of ``bias``.
        unit_forget_bias: initialise the forget gate's quarter of the bias
            to ones (the rest from ``bias_initializer``).
        dropout: fraction of the inputs dropped in training, in [0, 1];
            the identity at inference.
        recurrent_dropout: likewise for the recurrent state.
        seed: seed of the dropout masks (checked, unused).
        return_sequences: output every step's ``h`` instead of the last.
        return_state: also output the final states: ``[output, state_h,
            state_c]``.
        go_backwards: process the sequence from its end; the returned
            sequence stays in processing order (reversed), as in Keras.
        stateful: refused: layerspec runs stateless inference.
        unroll: accepted and ignored (it only changes how Keras compiles
            the loop, not the results).

    Weights:
        ``kernel`` ``(*kernel_size, channels, 4 * filters)``,
        ``recurrent_kernel`` ``(*kernel_size, filters, 4 * filters)``,
        ``bias`` ``(4 * filters,)``; gates i, f, c, o.
"""


@register
class ConvLSTM1D(_ConvLSTM):
    """1D convolutional LSTM over sequences of 1D signals.

    {args}
    Input shape:
        ``(batch, timesteps, steps, channels)``, or a list ``[sequence,
        h0, c0]`` (Keras's ``initial_state``), each state ``(batch,
        new_steps, filters)``. Only ``timesteps`` may be unknown.
    Output shape:
        ``(batch, timesteps, new_steps, filters)`` with
        ``return_sequences``, else ``(batch, new_steps, filters)``; with
        ``return_state`` followed by ``state_h`` and ``state_c``.
    """

    rank = 1

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(1), strides: IntTuple(1) = 1,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None,
                 dilation_rate: IntTuple(1) = 1, activation: ActivationName() = "tanh",
                 recurrent_activation: ActivationName() = "sigmoid", use_bias: Boolean() = True,
                 kernel_initializer: InitializerName() = "glorot_uniform",
                 recurrent_initializer: InitializerName() = "orthogonal",
                 bias_initializer: InitializerName() = "zeros", unit_forget_bias: Boolean() = True,
                 dropout: Number(min=0, max=1) = 0.0, recurrent_dropout: Number(min=0, max=1) = 0.0,
                 seed: Optional(Integer(min=0)) = None, return_sequences: Boolean() = False,
                 return_state: Boolean() = False, go_backwards: Boolean() = False, stateful: Boolean() = False,
                 unroll: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self._setup(filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
                    recurrent_activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    unit_forget_bias, dropout, recurrent_dropout, seed, return_sequences, return_state,
                    go_backwards, stateful, unroll)


@register
class ConvLSTM2D(_ConvLSTM):
    """2D convolutional LSTM over sequences of images.

    {args}
    Input shape:
        ``(batch, timesteps, height, width, channels)``, or a list
        ``[sequence, h0, c0]`` (Keras's ``initial_state``), each state
        ``(batch, new_height, new_width, filters)``. Only ``timesteps``
        may be unknown.
    Output shape:
        ``(batch, timesteps, new_height, new_width, filters)`` with
        ``return_sequences``, else ``(batch, new_height, new_width,
        filters)``; with ``return_state`` followed by ``state_h`` and
        ``state_c``.
    """

    rank = 2

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(2), strides: IntTuple(2) = 1,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None,
                 dilation_rate: IntTuple(2) = 1, activation: ActivationName() = "tanh",
                 recurrent_activation: ActivationName() = "sigmoid", use_bias: Boolean() = True,
                 kernel_initializer: InitializerName() = "glorot_uniform",
                 recurrent_initializer: InitializerName() = "orthogonal",
                 bias_initializer: InitializerName() = "zeros", unit_forget_bias: Boolean() = True,
                 dropout: Number(min=0, max=1) = 0.0, recurrent_dropout: Number(min=0, max=1) = 0.0,
                 seed: Optional(Integer(min=0)) = None, return_sequences: Boolean() = False,
                 return_state: Boolean() = False, go_backwards: Boolean() = False, stateful: Boolean() = False,
                 unroll: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self._setup(filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
                    recurrent_activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    unit_forget_bias, dropout, recurrent_dropout, seed, return_sequences, return_state,
                    go_backwards, stateful, unroll)


@register
class ConvLSTM3D(_ConvLSTM):
    """3D convolutional LSTM over sequences of volumes.

    {args}
    Input shape:
        ``(batch, timesteps, depth, height, width, channels)``, or a list
        ``[sequence, h0, c0]`` (Keras's ``initial_state``), each state
        ``(batch, new_depth, new_height, new_width, filters)``. Only
        ``timesteps`` may be unknown.
    Output shape:
        ``(batch, timesteps, new_depth, new_height, new_width, filters)``
        with ``return_sequences``, else without ``timesteps``; with
        ``return_state`` followed by ``state_h`` and ``state_c``.
    """

    rank = 3

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(3), strides: IntTuple(3) = 1,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None,
                 dilation_rate: IntTuple(3) = 1, activation: ActivationName() = "tanh",
                 recurrent_activation: ActivationName() = "sigmoid", use_bias: Boolean() = True,
                 kernel_initializer: InitializerName() = "glorot_uniform",
                 recurrent_initializer: InitializerName() = "orthogonal",
                 bias_initializer: InitializerName() = "zeros", unit_forget_bias: Boolean() = True,
                 dropout: Number(min=0, max=1) = 0.0, recurrent_dropout: Number(min=0, max=1) = 0.0,
                 seed: Optional(Integer(min=0)) = None, return_sequences: Boolean() = False,
                 return_state: Boolean() = False, go_backwards: Boolean() = False, stateful: Boolean() = False,
                 unroll: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self._setup(filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
                    recurrent_activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    unit_forget_bias, dropout, recurrent_dropout, seed, return_sequences, return_state,
                    go_backwards, stateful, unroll)


for _class in (ConvLSTM1D, ConvLSTM2D, ConvLSTM3D):
    _class.__doc__ = _class.__doc__.replace("    {args}\n", _CONV_LSTM_ARGS.lstrip("\n"))
