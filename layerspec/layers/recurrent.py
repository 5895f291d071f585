"""Recurrent layers: SimpleRNN, LSTM and GRU, with Keras 3's weights and maths.

Every layer reads ``(batch, timesteps, features)`` and starts from a zero
state, or from the initial states given as further inputs (``inputs: [x,
h0, c0]`` in a spec, Keras's ``initial_state``); with ``return_state`` it
has several outputs, ``[output, state_h, state_c]`` (LSTM) or ``[output,
state_h]``, in Keras's order. layerspec runs stateless inference, so
``stateful`` is refused, and ``unroll`` (how Keras compiles the loop) is
accepted and changes nothing, except that it turns
``zero_output_for_mask`` off, as Keras's unrolled loop ignores it.

The forward pass projects the inputs of all time steps with one matrix
product, then loops over time only for the recurrent product; gate buffers
are allocated once and worked on in place.

LSTM with its default activations (tanh, sigmoid) takes a faster path with
few NumPy calls per step (at one row their cost is nearly all call
overhead): one product per step of ``[x_t, 2h, 1]`` with the stacked
``[kernel; recurrent_kernel / 2; bias]``, gates in the order i, f, o, c
with the i, f, o columns halved, so one ``tanh`` serves all four
(``sigmoid(a) = (1 + tanh(a / 2)) / 2``) and one addition of ones gives
``2i, 2f, 2o``; then one product gives ``2ig, 2fc`` in place, a two-row
matrix product their half sum ``c``, and ``2o * tanh(c)`` is the state
carried, ``2h`` (the recurrent kernel halved to match; every scaling is by
a power of two, so exact): six elementwise calls after the product where
there were eight. At one row every step's ``[x_t, ., 1]`` is a row of one
array filled before the loop and each step writes its state into the next
row (a vector-matrix product per step); from two rows on, one contiguous
``(batch, units)`` block per gate (a product per gate), as NumPy runs
elementwise work on contiguous blocks several times faster than on column
slices of a wider array. Measured on the benchmarks' LSTM (64 features, 64
units, 100 steps; 2026-11-30, min of 11-21 rounds on a shared 2-core
machine), against the previous fast path (the halved sigmoids fixed up by
two passes with Python scalars, the carry updated in three): 1 row
0.50-0.55 vs 0.79-0.86 ms, 2 rows 0.81 vs 1.3, 32 rows 2.58-2.73 vs
2.79-2.80, 512 rows (one BLAS thread, as in a split batch) 42.1 vs 43.1.
The input projection is not hoisted (one product for every step before the
loop, then ``h U`` per step): measured equal at 1 row (0.50 ms) but up to
2x slower when its product, big enough for OpenBLAS to use two threads,
waits for a busy second core; 1.2-1.45x slower at 8-32 rows and at 512
(whose (batch, steps, 4 * units) projection leaves the cache).

With a mask (``(batch, timesteps)``, True where a step counts: an
``Embedding`` with ``mask_zero`` or a ``Masking`` layer upstream), a masked
step leaves a sample's states as they were and repeats its previous output
(``h``; the initial state before any step counted), or outputs zeros with
``zero_output_for_mask``; the output keeps the mask with
``return_sequences``. Given initial states, the layers compute as without
a mask, as Keras's do (it passes no mask to a call with several tensors).
The masked loop runs each step for the whole batch and puts back the
states of the samples that skip it; a step no sample skips costs nothing
more (right-padded batch of 64, 100 steps, 64 units: 1.04x to 1.25x the
unmasked time).

A sequence of length 0 (possible at run time when ``timesteps`` is unknown)
is accepted, although Keras fails on it: the last output is the initial
state (zero unless given), and ``return_sequences`` gives ``(batch, 0,
units)``.
"""

from __future__ import annotations

import numpy as np

from .. import activations, initializers
from ..arguments import ActivationName, ArgumentKind, Boolean, InitializerName, Integer, Number, Optional, \
    describe_value
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape
from .prepared import derived


class CudnnChoice(ArgumentKind):
    """Keras's ``use_cudnn``: ``true``, ``false`` or ``'auto'``.

    It only picks an implementation, so layerspec checks it and ignores it.
    """

    expected = "true, false or 'auto'"

    def check(self, value, argument):
        if isinstance(value, bool) or (isinstance(value, str) and value.lower() == "auto"):
            return value if isinstance(value, bool) else "auto"
        raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                            argument=argument)

    def json_schema(self):
        from ..arguments import Choice

        return {"anyOf": [{"type": "boolean"}, Choice("auto").json_schema()]}  # 'auto' in any case, as check


class UnitForgetBias(initializers.Initializer):
    """An LSTM bias: ``base`` for the i, c and o quarters, ones for f.

    This is what Keras's ``unit_forget_bias=True`` does: the forget gate
    starts open, so the cell remembers by default.

    Args:
        base: the layer's ``bias_initializer`` (name, mapping or object).
    """

    name = "unit_forget_bias"
    _ARGS = ("base",)

    def __init__(self, base="zeros"):
        self.base = base

    def generate(self, shape, dtype, rng):
        if len(shape) != 1 or shape[0] % 4:
            raise ArgumentError(f"initializer 'unit_forget_bias' needs a shape (4 * units,), got {shape}")
        units = shape[0] // 4
        base = initializers.get(self.base)
        return np.concatenate([
            base((units,), dtype, rng),
            np.ones((units,), dtype),
            base((2 * units,), dtype, rng),
        ]).astype(dtype, copy=False)


def activate(function, x: np.ndarray, out: np.ndarray) -> None:
    """Write ``function(x)`` into ``out`` (which may be ``x``) without temporaries.

    The common gate activations run in place; any other activation is
    computed by its own function and copied.
    """
    if function is activations.tanh:
        np.tanh(x, out=out)
    elif function is activations.sigmoid:
        # sigmoid(x) = (1 + tanh(x / 2)) / 2: tanh cannot overflow, so there
        # is no warning at +-1000, and it needs no scratch array.
        np.multiply(x, 0.5, out=out)
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5
    elif function is activations.relu:
        np.maximum(x, 0, out=out)
    elif function is activations.linear:
        if out is not x:
            np.copyto(out, x)
    else:
        np.copyto(out, function(x), casting="same_kind")


def state_activation(identifier, argument: str):
    """The activation function of a recurrent layer's ``argument``.

    One that changes the shape (``glu`` halves its input) cannot give a
    state of ``units`` values, so it is refused (Keras fails on it when the
    layer runs).
    """
    function = activations.get(identifier)
    if activations.changes_shape(function):
        raise ArgumentError(f"argument '{argument}': activation '{function.__name__}' halves the last axis, but a "
                            f"recurrent layer's gates and state keep 'units' values", argument=argument)
    if activations.needs_whole_output(function):
        # A gate is (batch, units): any axis but the last would mix samples.
        raise ArgumentError(f"argument '{argument}': a recurrent layer's gates are (batch, units); an activation "
                            "along another axis than the last (-1) would run across the batch", argument=argument)
    return function


def activate_gates(function, joined: np.ndarray, gates: tuple) -> None:
    """Apply ``function`` in place to each of ``gates``, column blocks of ``joined``.

    An elementwise activation runs on ``joined`` at once; one that works
    along the last axis (softmax, sparsemax) sees each gate alone, as
    Keras applies it gate by gate.
    """
    if activations.is_elementwise(function):
        activate(function, joined, joined)
    else:
        for gate in gates:
            activate(function, gate, gate)


def refuse_stateful(stateful) -> None:
    """``stateful: true`` cannot be honoured: say why."""
    if stateful:
        raise ArgumentError("argument 'stateful' must be false: layerspec runs stateless inference, carrying no "
                            "state from one batch to the next (each batch starts from the zero or given initial "
                            "state)", argument="stateful")


def _is_shape_list(shape) -> bool:
    return isinstance(shape, list) and bool(shape) and isinstance(shape[0], (tuple, list))


class RecurrentBase(Layer):
    """What every recurrent layer shares: initial states as extra inputs and
    ``return_state``'s several outputs.

    The layer takes its sequence alone, or a list ``[sequence, *initial
    states]`` (Keras's ``initial_state``), one state per name in
    ``state_names``. With ``return_state`` its outputs are ``[output,
    *final states]``, named ``output`` and the state names. Subclasses
    implement ``_output_shape(sequence_shape)`` and
    ``_state_shape(sequence_shape)``.
    """

    takes_several_inputs = True
    accepts_single_input = True
    #: The states in Keras's order (LSTM: h then c).
    state_names: tuple = ("state_h",)
    return_state = False

    @property
    def output_names(self):
        return ["output", *self.state_names] if self.return_state else None

    # -- shapes -----------------------------------------------------------
    def _split_inputs(self, input_shape) -> tuple[tuple, list]:
        """``(sequence shape, initial state shapes)``; the states checked."""
        if not _is_shape_list(input_shape):
            return tuple(input_shape), []
        sequence, states = tuple(input_shape[0]), [tuple(state) for state in input_shape[1:]]
        if states:
            expected = self._state_shape(sequence)
            self._check_state_count(len(states))
            for number, (name, state) in enumerate(zip(self.state_names, states), start=1):
                if len(state) != len(expected) or any(
                        size is not None and want is not None and size != want
                        for size, want in zip(state[1:], expected[1:])):
                    raise ShapeError(f"initial state {number} ({name}) must have shape {format_shape(expected)}, "
                                     f"got {format_shape(state)}", argument="inputs")
        return sequence, states

    def _check_state_count(self, given: int) -> None:
        count = len(self.state_names)
        if given != count:
            names = ", ".join(self.state_names)
            raise ShapeError(f"takes its input sequence and, optionally, its {count} initial "
                             f"state{'s' if count > 1 else ''} ({names}); got {given} "
                             f"state{'s' if given != 1 else ''}", argument="inputs")

    def _sequence_shape(self, input_shape) -> tuple:
        return self._split_inputs(input_shape)[0]

    def compute_output_shape(self, input_shape):
        sequence = self._sequence_shape(input_shape)
        output = self._output_shape(sequence)
        if not self.return_state:
            return output
        return [output] + [self._state_shape(sequence)] * len(self.state_names)

    def _output_shape(self, sequence: tuple) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def _state_shape(self, sequence: tuple) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- computing --------------------------------------------------------
    def _split_arrays(self, inputs) -> tuple[np.ndarray, list]:
        """``(sequence, initial states)`` of a call's input; states checked against the sequence."""
        if not isinstance(inputs, (list, tuple)):
            return inputs, []
        x, states = inputs[0], list(inputs[1:])
        if states:
            self._check_state_count(len(states))
            expected = (x.shape[0],) + self._state_shape((None,) + tuple(x.shape[1:]))[1:]
            for number, (name, state) in enumerate(zip(self.state_names, states), start=1):
                if tuple(state.shape) != expected:
                    raise ShapeError(f"initial state {number} ({name}) must have shape {format_shape(expected)}, "
                                     f"got {format_shape(state.shape)}")
        return x, states

    def _outputs(self, output: np.ndarray, states: list):
        """The call's result: the output, or with ``return_state`` the list of it and the states."""
        return [output, *states] if self.return_state else output


class _Recurrent(RecurrentBase):
    """What SimpleRNN, LSTM and GRU share: checks, weights, shapes, the time loop.

    Subclasses set ``gates`` (how many ``units``-wide blocks the kernels
    hold) and implement ``_step`` (and ``_workspace`` for more buffers).
    """

    gates = 1

    def _setup(self, units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
               dropout, recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll):
        refuse_stateful(stateful)
        self.units = units
        self.activation = state_activation(activation, "activation")
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
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
    def _features(self, input_shape) -> int:
        if len(input_shape) != 3:
            raise ShapeError(f"needs an input of shape (batch, timesteps, features), got {format_shape(input_shape)}")
        if input_shape[-1] is None:
            raise ShapeError(f"needs a known number of features (the last axis), got {format_shape(input_shape)}")
        return input_shape[-1]

    def _output_shape(self, sequence):
        self._features(sequence)
        if self.return_sequences:
            return (sequence[0], sequence[1], self.units)
        return (sequence[0], self.units)

    def _state_shape(self, sequence):
        self._features(sequence)
        return (sequence[0], self.units)

    def count_macs(self, input_shape):
        input_shape = self._sequence_shape(input_shape)
        steps, features = input_shape[1], self._features(input_shape)
        if steps is None:
            return None
        return steps * self.gates * (features * self.units + self.units * self.units)

    #: Elementwise operations per unit and step besides bias adds and
    #: activations: LSTM's c = f*c + i*g and h = o*tanh(c), GRU's r*(...)
    #: and h = z*h + (1-z)*h~.
    state_update_ops = 0
    #: Activations applied per unit and step (LSTM adds tanh(c)).
    activations_per_step = 1

    def count_elementwise(self, input_shape):
        steps = self._sequence_shape(input_shape)[1]
        if steps is None:
            return None
        bias_adds = self.gates * self.bias_rows() if self.use_bias else 0
        return steps * self.units * (bias_adds + self.activations_per_step + self.state_update_ops)

    def bias_rows(self) -> int:
        """How many bias vectors each gate adds (GRU with reset_after: 2)."""
        return 1

    # -- weights ----------------------------------------------------------
    def build(self, input_shape):
        features = self._features(self._sequence_shape(input_shape))
        width = self.gates * self.units
        self.kernel = self.add_weight(shape=(features, width), initializer=self.kernel_initializer, name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, width), initializer=self.recurrent_initializer,
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=self._bias_shape(), initializer=self._bias_init(),
                                    name="bias") if self.use_bias else None

    def _bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def _split_bias(self, dtype):
        """``(input_bias, recurrent_bias)``; either may be None."""
        if self.bias is None:
            return None, None
        return self.bias.value.astype(dtype, copy=False), None

    # -- computing --------------------------------------------------------
    def call(self, inputs):
        x, initial = self._split_arrays(inputs)
        x = x if x.dtype.kind == "f" else x.astype(self.dtype)
        dtype = x.dtype
        batch, steps, features = x.shape
        projected, work = self._projected(x)
        # Keras returns the sequence in processing order, reversed for go_backwards.
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        sequence = np.empty((batch, steps, self.units), dtype) if self.return_sequences else None
        # Steps update the state in place: it is this call's own array, never a given one.
        state = np.array(initial[0], dtype) if initial else np.zeros((batch, self.units), dtype)
        self._start(work, initial[1:])
        for position, step in enumerate(order):
            state = self._step(projected[:, step], state, work)
            if sequence is not None:
                sequence[:, position] = state
        if not self.return_state:
            return sequence if sequence is not None else np.ascontiguousarray(state)
        output = sequence if sequence is not None else state.copy()
        return self._outputs(output, [state.copy(), *self._final_states(work)])

    def _projected(self, x: np.ndarray) -> tuple[np.ndarray, dict]:
        """``(x_t W + b for every step t, the workspace)`` of a float sequence.

        One product for every time step; the loop only does the recurrence.
        """
        dtype = x.dtype
        batch, steps, features = x.shape
        input_bias, recurrent_bias = self._split_bias(dtype)
        projected = x.reshape(batch * steps, features) @ self.kernel.value.astype(dtype, copy=False)
        if input_bias is not None:
            projected += input_bias
        projected = projected.reshape(batch, steps, projected.shape[-1])
        work = self._workspace(batch, dtype, self.recurrent_kernel.value.astype(dtype, copy=False), recurrent_bias)
        return projected, work

    # -- masks ------------------------------------------------------------
    supports_masking = True
    uses_mask = True

    def compute_mask_shape(self, input_shape, mask_shape):
        """The sequence's mask with ``return_sequences``, else none; with
        ``return_state`` a list, the states unmasked (Keras's
        ``RNN.compute_mask``)."""
        mask = mask_shape[0] if isinstance(mask_shape, list) else mask_shape
        if mask is None:
            return None
        sequence = self._sequence_shape(input_shape)
        self._check_mask(sequence, tuple(mask))
        return self._output_masks(tuple(mask))

    def compute_mask(self, inputs, mask):
        mask = mask[0] if isinstance(mask, list) else mask
        if mask is None:
            return None
        x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        self._check_mask(x.shape, mask.shape)
        return self._output_masks(mask)

    def _output_masks(self, mask):
        output = mask if self.return_sequences else None
        return [output] + [None] * len(self.state_names) if self.return_state else output

    def _check_mask(self, sequence: tuple, mask: tuple) -> None:
        """A recurrent layer's mask holds one flag per sample and step: ``(batch, timesteps)``."""
        def differ(a, b):
            return a is not None and b is not None and a != b

        if len(mask) != 2 or (len(sequence) >= 2 and (differ(mask[0], sequence[0]) or differ(mask[1], sequence[1]))):
            steps = format_shape(tuple(sequence[:2]))
            raise ShapeError(f"takes a mask of one flag per sample and time step, shape {steps} for its input "
                             f"{format_shape(sequence)}; got a mask of shape {format_shape(mask)}"
                             + (" (a mask made for another input, e.g. by a Masking layer over more axes, or "
                                "by an Embedding over more than (batch, timesteps) indices)" if len(mask) != 2
                                else ""))

    def call_masked(self, inputs, mask):
        """``call`` skipping the masked steps (mask False): there a sample's
        states keep their values and its output repeats the previous one
        (the state ``h``; the initial state before any step counted), or is
        zero with ``zero_output_for_mask``, as Keras's JAX loop does.

        Given initial states, the layer computes as without a mask, as
        Keras's: its ``__call__`` passes no mask to a call with several
        tensor arguments. The output mask still follows the sequence's.
        """
        mask = mask[0] if isinstance(mask, list) else mask
        x, initial = self._split_arrays(inputs)
        if initial or mask is None:
            return self.call(inputs)
        self._check_mask(x.shape, mask.shape)
        mask = np.asarray(mask, bool)
        if mask.all():
            return self.call(inputs)
        return self._call_skipping(x if x.dtype.kind == "f" else x.astype(self.dtype), ~mask)

    def _zeroes_masked_outputs(self) -> bool:
        """Whether masked steps output zeros: ``zero_output_for_mask``,
        which Keras's unrolled loop (``unroll``, every backend) ignores."""
        return self.zero_output_for_mask and not self.unroll

    def _call_skipping(self, x: np.ndarray, skipped: np.ndarray):
        """The time loop where ``skipped`` (batch, steps) is True: each step
        runs for the whole batch, then the skipped samples get their states
        back (and their output repeated or zeroed); steps that skip no sample
        cost nothing more."""
        dtype = x.dtype
        batch, steps, _ = x.shape
        projected, work = self._projected(x)
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        sequence = np.empty((batch, steps, self.units), dtype) if self.return_sequences else None
        state = np.zeros((batch, self.units), dtype)
        self._start(work, [])
        others = self._final_states(work)  # LSTM's carry, updated in place by the steps
        held = [np.empty((batch, self.units), dtype) for _ in range(1 + len(others))]
        partly, zero = skipped.any(axis=0), self._zeroes_masked_outputs()
        for position, step in enumerate(order):
            if not partly[step]:
                state = self._step(projected[:, step], state, work)
                if sequence is not None:
                    sequence[:, position] = state
                continue
            skip = skipped[:, step]
            for kept, now in zip(held, (state, *others)):
                np.copyto(kept, now)
            state = self._step(projected[:, step], state, work)
            if zero and sequence is not None:
                sequence[:, position] = state
                sequence[skip, position] = 0
            for kept, now in zip(held, (state, *others)):
                np.copyto(now, kept, where=skip[:, np.newaxis])
            if sequence is not None and not zero:
                sequence[:, position] = state
        if sequence is not None:
            output = sequence
        else:
            # Keras's last output is the last step's output: with
            # zero_output_for_mask zero where that step was skipped.
            output = state.copy()
            if zero and steps:
                output[skipped[:, order[-1]]] = 0
        return self._outputs(output, [state.copy(), *self._final_states(work)]) if self.return_state else output

    def _start(self, work: dict, initial: list) -> None:
        """Set the states besides ``h`` (LSTM's carry) from the given ones, if any."""

    def _final_states(self, work: dict) -> list:
        """The states besides ``h`` after the last step."""
        return []

    def _workspace(self, batch, dtype, recurrent, recurrent_bias) -> dict:
        """The weights and scratch buffers every step reuses."""
        return {"recurrent": recurrent, "product": np.empty((batch, recurrent.shape[1]), dtype)}

    def _step(self, gates, state, work):
        """One time step; returns the new state.

        ``gates`` holds this step's ``x_t W + b`` and may be overwritten;
        ``state`` may be updated in place (the sequence keeps copies).
        """
        raise NotImplementedError


@register
class SimpleRNN(_Recurrent):
    """Fully connected RNN whose output is fed back as its next input.

    ``h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``,
    from a zero initial state.

    Args:
        units: size of the state and output.
        activation: activation name (default ``tanh``); ``null`` for linear.
        use_bias: whether to add ``bias``.
        kernel_initializer: initializer of ``kernel`` (input → state).
        recurrent_initializer: initializer of ``recurrent_kernel``
            (state → state); default ``orthogonal``.
        bias_initializer: initializer of ``bias``.
        dropout: fraction of the inputs dropped in training, in [0, 1];
            the identity at inference.
        recurrent_dropout: likewise for the recurrent state.
        seed: seed of the dropout masks (checked, unused).
        return_sequences: output every step's state instead of the last.
        return_state: also output the final state: outputs ``[output,
            state_h]``.
        go_backwards: process the sequence from its end; the returned
            sequence stays in processing order (reversed), as in Keras.
        stateful: refused: layerspec runs stateless inference.
        unroll: accepted; it only changes how Keras compiles the loop,
            not the results, except that Keras's unrolled loop ignores
            ``zero_output_for_mask``, and so does this layer's.
        zero_output_for_mask: with a mask, a masked step outputs zeros
            instead of repeating the previous output (the states are kept
            either way); without ``return_sequences`` the output is then
            zero for a sample whose last processed step is masked, as in
            Keras's JAX loop. No effect without a mask, nor with
            ``unroll`` (as in Keras).

    A sequence of length 0 gives the initial state as the last output
    (Keras would fail).

    Input shape:
        ``(batch, timesteps, features)``; ``timesteps`` may be unknown.
        Or a list ``[sequence, h0]`` (Keras's ``initial_state``), ``h0``
        ``(batch, units)``.
    Output shape:
        ``(batch, timesteps, units)`` with ``return_sequences``, else
        ``(batch, units)``; with ``return_state`` a list ``[output,
        state_h]``, ``state_h`` ``(batch, units)``.
    """

    gates = 1

    def __init__(self, units: Integer(min=1), activation: ActivationName() = "tanh", use_bias: Boolean() = True,
                 kernel_initializer: InitializerName() = "glorot_uniform",
                 recurrent_initializer: InitializerName() = "orthogonal",
                 bias_initializer: InitializerName() = "zeros",
                 dropout: Number(min=0, max=1) = 0.0, recurrent_dropout: Number(min=0, max=1) = 0.0,
                 return_sequences: Boolean() = False, return_state: Boolean() = False,
                 go_backwards: Boolean() = False, stateful: Boolean() = False, unroll: Boolean() = False,
                 seed: Optional(Integer(min=0)) = None, zero_output_for_mask: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self._setup(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    dropout, recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll)
        self.zero_output_for_mask = zero_output_for_mask

    def _step(self, gates, state, work):
        np.matmul(state, work["recurrent"], out=work["product"])
        gates += work["product"]
        activate(self.activation, gates, gates)
        # ``gates`` is a view into this call's own projection, so it can be
        # the state: the next step writes into another time step's view.
        return gates


@register
class LSTM(_Recurrent):
    """Long Short-Term Memory layer (Hochreiter & Schmidhuber, 1997).

    Gates in Keras's order i, f, c, o; with ``z = x_t W + h_{t-1} U + b``::

        i, f, o = recurrent_activation(z_i), ..., recurrent_activation(z_o)
        c_t = f * c_{t-1} + i * activation(z_c)
        h_t = o * activation(c_t)

    from zero ``h`` and ``c``.

    Args:
        units: size of the state and output.
        activation: default ``tanh``; ``null`` for linear.
        recurrent_activation: the gates' activation, default ``sigmoid``.
        use_bias: whether to add ``bias``.
        kernel_initializer: initializer of ``kernel`` (in, 4 * units).
        recurrent_initializer: initializer of ``recurrent_kernel``
            (units, 4 * units); default ``orthogonal``.
        bias_initializer: initializer of ``bias`` (4 * units,).
        unit_forget_bias: initialise the forget gate's quarter of the bias
            to ones (the rest from ``bias_initializer``).
        dropout: fraction of the inputs dropped in training, in [0, 1];
            the identity at inference.
        recurrent_dropout: likewise for the recurrent state.
        seed: seed of the dropout masks (checked, unused).
        return_sequences: output every step's ``h`` instead of the last.
        return_state: also output the final states: outputs ``[output,
            state_h, state_c]``.
        go_backwards: process the sequence from its end; the returned
            sequence stays in processing order (reversed), as in Keras.
        stateful: refused: layerspec runs stateless inference.
        unroll: accepted; it only changes how Keras compiles the loop,
            not the results, except that Keras's unrolled loop ignores
            ``zero_output_for_mask``, and so does this layer's.
        use_cudnn: ``true``, ``false`` or ``'auto'``; accepted, no effect.
        zero_output_for_mask: with a mask, a masked step outputs zeros
            instead of repeating the previous output (the states are kept
            either way); without ``return_sequences`` the output is then
            zero for a sample whose last processed step is masked, as in
            Keras's JAX loop. No effect without a mask, nor with
            ``unroll`` (as in Keras).

    A sequence of length 0 gives the initial state as the last output
    (Keras would fail).

    Input shape:
        ``(batch, timesteps, features)``; ``timesteps`` may be unknown.
        Or a list ``[sequence, h0, c0]`` (Keras's ``initial_state``),
        each state ``(batch, units)``.
    Output shape:
        ``(batch, timesteps, units)`` with ``return_sequences``, else
        ``(batch, units)``; with ``return_state`` a list ``[output,
        state_h, state_c]``, each state ``(batch, units)``.
    """

    gates = 4
    state_names = ("state_h", "state_c")
    activations_per_step = 5  # sigmoid i, f, o; tanh g and tanh(c)
    state_update_ops = 4  # f*c, i*g, their sum, o*tanh(c)

    def __init__(self, units: Integer(min=1), activation: ActivationName() = "tanh",
                 recurrent_activation: ActivationName() = "sigmoid", use_bias: Boolean() = True,
                 kernel_initializer: InitializerName() = "glorot_uniform",
                 recurrent_initializer: InitializerName() = "orthogonal",
                 bias_initializer: InitializerName() = "zeros", unit_forget_bias: Boolean() = True,
                 dropout: Number(min=0, max=1) = 0.0, recurrent_dropout: Number(min=0, max=1) = 0.0,
                 seed: Optional(Integer(min=0)) = None,
                 return_sequences: Boolean() = False, return_state: Boolean() = False,
                 go_backwards: Boolean() = False, stateful: Boolean() = False, unroll: Boolean() = False,
                 use_cudnn: CudnnChoice() = "auto", zero_output_for_mask: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self._setup(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    dropout, recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll)
        self.recurrent_activation = state_activation(recurrent_activation, "recurrent_activation")
        self.unit_forget_bias = unit_forget_bias
        self.use_cudnn = use_cudnn
        self.zero_output_for_mask = zero_output_for_mask

    def _bias_init(self):
        return UnitForgetBias(self.bias_initializer) if self.unit_forget_bias else self.bias_initializer

    def call(self, inputs):
        if not self._default_activations():
            return super().call(inputs)
        x, initial = self._split_arrays(inputs)
        return self._fast_loop(x if x.dtype.kind == "f" else x.astype(self.dtype), initial)

    def _default_activations(self) -> bool:
        return self.activation is activations.tanh and self.recurrent_activation is activations.sigmoid

    def _call_skipping(self, x, skipped):
        if not self._default_activations():
            return super()._call_skipping(x, skipped)
        return self._fast_loop(x, [], skipped)

    def _fast_loop(self, x: np.ndarray, initial: list, skipped: np.ndarray | None = None):
        """The time loop with default activations; with ``skipped`` (batch,
        steps) as ``_call_skipping`` (the mask's steps cost a branch here).

        The state carried is ``2 h`` (the recurrent kernel is halved to
        match, exactly) and the gates hold ``tanh`` of their pre-activations
        (i, f, o halved), so that after one ``tanh`` one addition of ones
        gives ``2 i``, ``2 f`` and ``2 o``; one product gives ``2 i g`` and
        ``2 f c``, one small matrix product their half sum ``c``, and
        ``2 o * tanh(c)`` the next state: six NumPy calls after the product.
        """
        dtype = x.dtype
        batch, steps, features = x.shape
        units = self.units
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        # Five (batch, units) blocks: the gates i, f, o, g (tanh of their
        # pre-activations; i, f, o become 2i, 2f, 2o after adding one, and
        # 2i, 2f then 2ig, 2fc), and the carry c.
        blocks = np.zeros((5, batch, units), dtype)
        flat = blocks.reshape(5, batch * units)
        gates, sigmoids, pairs, partners = flat[:4], flat[:3], flat[:2], flat[3:5]
        output_gate, carry = blocks[2], blocks[4]
        one = np.ones((), dtype)  # a 0-d array: cheaper to call with than a Python float, no memory to stream
        halves = np.full(2, 0.5, dtype)
        scratch = np.empty((batch, units), dtype)
        tanh, add, multiply, dot = np.tanh, np.add, np.multiply, np.dot
        if initial:
            np.copyto(carry, initial[1], casting="unsafe")
        masked = [False] * steps if skipped is None else skipped[:, order].any(axis=0).tolist()
        if batch == 1:
            # One row: every step's [x_t, 2h, 1] is a row of ``joined``, the
            # inputs written before the loop, each step's state into the
            # next row; a vector-matrix product per step.
            matrix = derived(self, ("fast step matrix", dtype.str, False),
                             lambda: self._fast_step_matrix(dtype, by_gate=False))
            joined = np.zeros((steps + 1, len(matrix)), dtype)
            joined[:steps, :features] = x[0, ::-1] if self.go_backwards else x[0]
            if self.bias is not None:
                joined[:, -1] = 1
            states = joined[:, features:features + units]  # 2 h before and after each step
            if initial:
                np.multiply(initial[0][0], 2, out=states[0], casting="unsafe")
            # The one row's vectors: the four gates contiguous.
            gates, output_gate, carry_row, scratch = gates.reshape(-1), flat[2], flat[4], scratch.reshape(-1)
            for row, new_state, skip in zip(joined, states[1:], masked):
                if skip:  # the one sample skips this step: h and c stay
                    np.copyto(new_state, row[features:features + units])
                    continue
                dot(row, matrix, gates)
                tanh(gates, gates)
                add(sigmoids, one, sigmoids)
                multiply(pairs, partners, pairs)
                dot(halves, pairs, carry_row)
                tanh(carry_row, scratch)
                multiply(output_gate, scratch, new_state)
            state = states[steps:]
            sequence = states[np.newaxis, 1:] if self.return_sequences else None
        else:
            # One product per step of [x_t, 2h, 1] with the stacked [kernel;
            # recurrent_kernel / 2; bias], written gate by gate.
            matrix = derived(self, ("fast step matrix", dtype.str, True), lambda: self._fast_step_matrix(dtype))
            joined = np.zeros((batch, matrix.shape[1]), dtype)
            if self.bias is not None:
                joined[:, -1] = 1
            step_input, state = joined[:, :features], joined[:, features:features + units]
            if initial:
                np.multiply(initial[0], 2, out=state, casting="unsafe")
            sequence = np.empty((batch, steps, units), dtype) if self.return_sequences else None
            by_gate, carry_flat, matmul, copyto = blocks[:4], carry.reshape(-1), np.matmul, np.copyto
            if skipped is not None:
                held_state, held_carry = np.empty_like(scratch), np.empty_like(scratch)
            for position, step in enumerate(order):
                if masked[position]:
                    copyto(held_state, state)
                    copyto(held_carry, carry)
                copyto(step_input, x[:, step])
                matmul(joined, matrix, by_gate)
                tanh(gates, gates)
                add(sigmoids, one, sigmoids)
                multiply(pairs, partners, pairs)
                dot(halves, pairs, carry_flat)
                tanh(carry, scratch)
                multiply(output_gate, scratch, state)
                if masked[position]:
                    skip = skipped[:, step, np.newaxis]
                    copyto(state, held_state, where=skip)
                    copyto(carry, held_carry, where=skip)
                if sequence is not None:
                    sequence[:, position] = state
        zero = skipped is not None and self._zeroes_masked_outputs()
        if sequence is not None:
            output = np.multiply(sequence, 0.5, dtype=dtype)  # h from 2h, exactly
            if zero:
                output[skipped[:, order]] = 0
        else:
            output = np.multiply(state, 0.5, dtype=dtype)
            if zero and steps:
                output[skipped[:, order[-1]]] = 0  # as in _call_skipping
        if not self.return_state:
            return output
        return self._outputs(output, [np.multiply(state, 0.5, dtype=dtype), carry.copy()])

    def _fast_step_matrix(self, dtype, by_gate: bool = True) -> np.ndarray:
        """``[kernel; recurrent_kernel / 2; bias]`` with gates i, f, o
        (halved), c: ``(features + units + 1, 4 * units)``, or by gate ``(4,
        features + units + 1, units)``; no bias row without a bias. Halving
        is exact in binary floating point.
        """
        parts = [self.kernel.value, self.recurrent_kernel.value * 0.5]
        if self.bias is not None:
            parts.append(self.bias.value[np.newaxis])
        matrix = np.concatenate(parts).astype(dtype, copy=False)
        input_gate, forget_gate, candidate, output_gate = np.split(matrix, 4, axis=1)
        half = dtype.type(0.5)
        matrix = np.concatenate([input_gate * half, forget_gate * half, output_gate * half, candidate], axis=1)
        if by_gate:
            return np.ascontiguousarray(matrix.reshape(len(matrix), 4, self.units).transpose(1, 0, 2))
        return np.ascontiguousarray(matrix)

    def _workspace(self, batch, dtype, recurrent, recurrent_bias):
        work = super()._workspace(batch, dtype, recurrent, recurrent_bias)
        work["carry"] = np.zeros((batch, self.units), dtype)
        work["scratch"] = np.empty((batch, self.units), dtype)
        return work

    def _start(self, work, initial):
        if initial:
            np.copyto(work["carry"], initial[0], casting="unsafe")

    def _final_states(self, work):
        return [work["carry"]]

    def _step(self, gates, state, work):
        units, carry, scratch = self.units, work["carry"], work["scratch"]
        np.matmul(state, work["recurrent"], out=work["product"])
        gates += work["product"]
        input_gate, forget_gate = gates[:, :units], gates[:, units:2 * units]
        candidate, output_gate = gates[:, 2 * units:3 * units], gates[:, 3 * units:]
        activate_gates(self.recurrent_activation, gates[:, :2 * units], (input_gate, forget_gate))
        activate(self.recurrent_activation, output_gate, output_gate)
        activate(self.activation, candidate, candidate)
        carry *= forget_gate
        np.multiply(input_gate, candidate, out=scratch)
        carry += scratch
        activate(self.activation, carry, scratch)
        return np.multiply(output_gate, scratch, out=state)


@register
class GRU(_Recurrent):
    """Gated Recurrent Unit (Cho et al., 2014), as Keras 3 computes it.

    Gates in Keras's order z (update), r (reset), h (candidate); with
    ``x_* = x_t W_* + b_x*``::

        z = recurrent_activation(x_z + h U_z + b_hz)
        r = recurrent_activation(x_r + h U_r + b_hr)
        reset_after:      h~ = activation(x_h + r * (h U_h + b_hh))
        not reset_after:  h~ = activation(x_h + (r * h) U_h)
        h_t = z * h_{t-1} + (1 - z) * h~

    The recurrent biases ``b_h*`` exist only with ``reset_after`` (the
    bias's second row); without it the bias is one row ``(3 * units,)``.

    Args:
        units: size of the state and output.
        activation: default ``tanh``; ``null`` for linear.
        recurrent_activation: the gates' activation, default ``sigmoid``.
        use_bias: whether to add ``bias``.
        kernel_initializer: initializer of ``kernel`` (in, 3 * units).
        recurrent_initializer: initializer of ``recurrent_kernel``
            (units, 3 * units); default ``orthogonal``.
        bias_initializer: initializer of ``bias``: ``(2, 3 * units)`` with
            ``reset_after``, else ``(3 * units,)``.
        dropout: fraction of the inputs dropped in training, in [0, 1];
            the identity at inference.
        recurrent_dropout: likewise for the recurrent state.
        seed: seed of the dropout masks (checked, unused).
        return_sequences: output every step's state instead of the last.
        return_state: also output the final state: outputs ``[output,
            state_h]``.
        go_backwards: process the sequence from its end; the returned
            sequence stays in processing order (reversed), as in Keras.
        stateful: refused: layerspec runs stateless inference.
        unroll: accepted; it only changes how Keras compiles the loop,
            not the results, except that Keras's unrolled loop ignores
            ``zero_output_for_mask``, and so does this layer's.
        reset_after: apply the reset gate after the recurrent product
            (Keras's default, cuDNN compatible) or before it.
        use_cudnn: ``true``, ``false`` or ``'auto'``; accepted, no effect.
        zero_output_for_mask: with a mask, a masked step outputs zeros
            instead of repeating the previous output (the states are kept
            either way); without ``return_sequences`` the output is then
            zero for a sample whose last processed step is masked, as in
            Keras's JAX loop. No effect without a mask, nor with
            ``unroll`` (as in Keras).

    A sequence of length 0 gives the initial state as the last output
    (Keras would fail).

    Input shape:
        ``(batch, timesteps, features)``; ``timesteps`` may be unknown.
        Or a list ``[sequence, h0]`` (Keras's ``initial_state``), ``h0``
        ``(batch, units)``.
    Output shape:
        ``(batch, timesteps, units)`` with ``return_sequences``, else
        ``(batch, units)``; with ``return_state`` a list ``[output,
        state_h]``, ``state_h`` ``(batch, units)``.
    """

    gates = 3
    activations_per_step = 3  # sigmoid z, r; tanh h~
    state_update_ops = 5  # r*(...), 1-z, (1-z)*h~, z*h, their sum

    def __init__(self, units: Integer(min=1), activation: ActivationName() = "tanh",
                 recurrent_activation: ActivationName() = "sigmoid", use_bias: Boolean() = True,
                 kernel_initializer: InitializerName() = "glorot_uniform",
                 recurrent_initializer: InitializerName() = "orthogonal",
                 bias_initializer: InitializerName() = "zeros",
                 dropout: Number(min=0, max=1) = 0.0, recurrent_dropout: Number(min=0, max=1) = 0.0,
                 seed: Optional(Integer(min=0)) = None,
                 return_sequences: Boolean() = False, return_state: Boolean() = False,
                 go_backwards: Boolean() = False, stateful: Boolean() = False, unroll: Boolean() = False,
                 reset_after: Boolean() = True, use_cudnn: CudnnChoice() = "auto",
                 zero_output_for_mask: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self._setup(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    dropout, recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll)
        self.recurrent_activation = state_activation(recurrent_activation, "recurrent_activation")
        self.reset_after = reset_after
        self.use_cudnn = use_cudnn
        self.zero_output_for_mask = zero_output_for_mask

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def bias_rows(self) -> int:
        return 2 if self.reset_after else 1

    def _split_bias(self, dtype):
        if self.bias is None or not self.reset_after:
            return super()._split_bias(dtype)
        bias = self.bias.value.astype(dtype, copy=False)
        return bias[0], bias[1]

    def _workspace(self, batch, dtype, recurrent, recurrent_bias):
        units = self.units
        work = {"scratch": np.empty((batch, units), dtype)}
        if self.reset_after:
            work.update(recurrent=recurrent, recurrent_bias=recurrent_bias,
                        product=np.empty((batch, 3 * units), dtype))
        else:
            # The candidate's recurrent product comes after the reset gate,
            # so the kernel is used in two parts.
            work.update(gate_kernel=np.ascontiguousarray(recurrent[:, :2 * units]),
                        candidate_kernel=np.ascontiguousarray(recurrent[:, 2 * units:]),
                        product=np.empty((batch, 2 * units), dtype),
                        candidate_product=np.empty((batch, units), dtype))
        return work

    def _step(self, gates, state, work):
        units, scratch, product = self.units, work["scratch"], work["product"]
        update_reset, candidate = gates[:, :2 * units], gates[:, 2 * units:]
        update_gate, reset_gate = gates[:, :units], gates[:, units:2 * units]
        if self.reset_after:
            np.matmul(state, work["recurrent"], out=product)
            if work["recurrent_bias"] is not None:
                product += work["recurrent_bias"]
            update_reset += product[:, :2 * units]
            activate_gates(self.recurrent_activation, update_reset, (update_gate, reset_gate))
            candidate_product = product[:, 2 * units:]
            candidate_product *= reset_gate
        else:
            np.matmul(state, work["gate_kernel"], out=product)
            update_reset += product
            activate_gates(self.recurrent_activation, update_reset, (update_gate, reset_gate))
            np.multiply(reset_gate, state, out=scratch)
            candidate_product = work["candidate_product"]
            np.matmul(scratch, work["candidate_kernel"], out=candidate_product)
        candidate += candidate_product
        activate(self.activation, candidate, candidate)
        # z * h + (1 - z) * h~  ==  h~ + z * (h - h~), updating h in place.
        np.subtract(state, candidate, out=scratch)
        scratch *= update_gate
        return np.add(candidate, scratch, out=state)
