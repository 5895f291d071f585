"""Recurrent layers as ONNX: SimpleRNN, LSTM and GRU.

Each layer takes one of two forms:

- ONNX's own ``RNN``, ``LSTM`` and ``GRU`` operators (time-major, ``layout``
  0, so the sequence is transposed in and out), where they express the
  layer exactly: no mask, activations the operators know
  (:func:`~layerspec.onnx_convert.activations.rnn_activation`)
  and float32, the only type ONNX Runtime implements them for. Keras's
  gates are reordered to ONNX's (LSTM i, f, c, o → i, o, f, c; GRU z, r, h
  in both), kernels transposed to ``[directions, gates * units, in]``, and
  GRU's ``reset_after`` is ``linear_before_reset``.
- a ``Scan`` whose body computes one step (MatMul, Add, the activations,
  and ``Where`` on the step's mask), everywhere else: a mask (Keras skips
  masked steps sample by sample, keeping the states and repeating or
  zeroing the output; the operators' ``sequence_lens`` only cuts a
  sequence's tail), an activation the operators lack or compute unsafely
  (ONNX Runtime's RNN ``Softplus`` overflows from 89 on), or a float64
  model. The input projection ``x W + b`` of every step is one MatMul
  before the Scan (over time-major tensors); the body does only the
  recurrent product.

Both follow layerspec's ``call``/``call_masked`` (layers/recurrent.py):
``go_backwards`` returns the sequence in processing order (reversed),
given initial states turn the mask off (Keras passes no mask to a call
with several tensors), and the output mask is the sequence's with
``return_sequences``, none otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import activations
from ..layers.recurrent import GRU, LSTM, SimpleRNN
from ..onnx_builder import onnx_type
from . import Conversion, converts, converts_mask
from .activations import apply_activation, rnn_activation

#: The smallest int64: a Slice end that runs to the start of an axis with step -1.
_TO_START = -(2 ** 63)


# -- what each layer class is, for ONNX -----------------------------------

@dataclass(frozen=True)
class _Kind:
    """How a layer class maps onto ONNX: its operator, its gate count, the
    order of Keras's gate blocks in the operator's weights, and in the
    Scan's (LSTM's i, f, o together, so one activation call serves them)."""

    op_type: str
    gates: int
    onnx_order: tuple
    scan_order: tuple
    states: int


_KINDS = {
    SimpleRNN: _Kind("RNN", 1, (0,), (0,), 1),
    # Keras i, f, c, o; ONNX i, o, f, c; the Scan i, f, o, c.
    LSTM: _Kind("LSTM", 4, (0, 3, 1, 2), (0, 1, 3, 2), 2),
    GRU: _Kind("GRU", 3, (0, 1, 2), (0, 1, 2), 1),
}


def kind_of(layer) -> _Kind:
    """The :class:`_Kind` of a SimpleRNN, LSTM or GRU."""
    return _KINDS[type(layer)]


def _value(weight, dtype) -> np.ndarray:
    # Read through the layer's attribute, not by name: inside a wrapper the
    # weight is named after the wrapper's sublayer (forward_lstm/kernel).
    return np.asarray(weight.numpy(), dtype=dtype)


def _gate_blocks(matrix: np.ndarray, order: tuple, axis: int) -> np.ndarray:
    """``matrix``'s gate blocks along ``axis`` put in ``order``."""
    blocks = np.split(matrix, len(order), axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def _zeroes_masked_outputs(layer) -> bool:
    """layerspec's rule: ``zero_output_for_mask``, which ``unroll`` turns off
    (Keras's unrolled loop ignores it)."""
    return bool(getattr(layer, "zero_output_for_mask", False)) and not getattr(layer, "unroll", False)


# -- the native operators -------------------------------------------------

def native_activations(layer) -> list | None:
    """The operator's ``activations`` for ``layer`` as ``(name, alpha, beta)``
    triples (SimpleRNN: f; GRU: f, g; LSTM: f, g, h), or None if one has no
    ONNX form."""
    if isinstance(layer, SimpleRNN):
        functions = [layer.activation]
    elif isinstance(layer, GRU):
        functions = [layer.recurrent_activation, layer.activation]
    else:
        functions = [layer.recurrent_activation, layer.activation, layer.activation]
    found = [rnn_activation(function) for function in functions]
    return None if any(entry is None for entry in found) else found


def can_run_natively(conversion: Conversion, layer) -> bool:
    """Whether ``layer`` is exactly ONNX's operator: known activations and a
    float32 model (ONNX Runtime has no float64 RNN, LSTM or GRU kernels)."""
    return conversion.builder.dtype == np.float32 and native_activations(layer) is not None


def native_weights(layer, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One direction's ``(W, R, B)`` in ONNX's layout: W ``(gates * units,
    in)``, R ``(gates * units, units)``, B ``(2 * gates * units,)`` (the
    input biases then the recurrent ones), or None without a bias.

    GRU with ``reset_after`` has its two bias rows as Wb and Rb; every
    other layer's one bias is Wb, Rb zero.
    """
    kind = kind_of(layer)
    W = _gate_blocks(_value(layer.kernel, dtype).T, kind.onnx_order, 0)
    R = _gate_blocks(_value(layer.recurrent_kernel, dtype).T, kind.onnx_order, 0)
    if layer.bias is None:
        return W, R, None
    bias = _value(layer.bias, dtype)
    rows = bias if bias.ndim == 2 else np.stack([bias, np.zeros_like(bias)])
    B = np.concatenate([_gate_blocks(row, kind.onnx_order, 0) for row in rows])
    return W, R, B


def emit_native(conversion: Conversion, layers: list, x: str, initial: list[list[str]], direction: str,
                outputs: int) -> list[str]:
    """ONNX's operator over the sequence ``x`` (batch, time, features) for
    ``layers`` (one, or a forward and a backward one for ``direction=
    "bidirectional"``), from the ``initial`` states of each (empty lists
    for zeros). Returns the operator's first ``outputs`` outputs: Y
    ``(time, directions, batch, units)``, Y_h, and Y_c for an LSTM, each
    state ``(directions, batch, units)``.
    """
    builder, first = conversion.builder, layers[0]
    kind = kind_of(first)
    dtype = builder.dtype

    def stacked(index: int):
        def make():
            parts = [native_weights(layer, dtype) for layer in layers]
            return np.stack([part[index] if part[index] is not None
                             else np.zeros(2 * kind.gates * first.units, dtype) for part in parts])
        return make

    W = conversion.derived_weight("onnx_W", stacked(0))
    R = conversion.derived_weight("onnx_R", stacked(1))
    with_bias = any(layer.bias is not None for layer in layers)
    B = conversion.derived_weight("onnx_B", stacked(2)) if with_bias else ""
    inputs = [builder.transpose(x, [1, 0, 2], hint="time_major"), W, R, B, ""]
    for state in range(kind.states):
        given = [states[state] for states in initial if states]
        if given:
            inputs.append(builder.concat([builder.unsqueeze(h, [0]) for h in given], axis=0, hint="initial"))
        else:
            inputs.append("")
    while inputs[-1] == "":
        inputs.pop()
    triples = [triple for layer in layers for triple in native_activations(layer)]
    alphas = [alpha for _, alpha, _ in triples if alpha is not None]
    betas = [beta for _, _, beta in triples if beta is not None]
    attributes = dict(hidden_size=first.units, direction=direction, activations=[name for name, _, _ in triples],
                      activation_alpha=alphas or None, activation_beta=betas or None)
    if isinstance(first, GRU):
        attributes["linear_before_reset"] = int(first.reset_after)
    made = builder.op(kind.op_type, inputs, outputs, hint=kind.op_type.lower(), **attributes)
    return made if isinstance(made, list) else [made]


def native_outputs(layer) -> int:
    """How many of the operator's outputs ``layer`` reads: Y, then Y_h for
    the last output, and every state with ``return_state``."""
    if layer.return_state:
        return 1 + kind_of(layer).states
    return 1 if layer.return_sequences else 2


def batch_major(builder, sequence: str) -> str:
    """One direction's ``(time, batch, units)`` as ``(batch, time, units)``."""
    return builder.transpose(sequence, [1, 0, 2], hint="sequence")


def reverse_time(builder, sequence: str) -> str:
    """``(batch, time, ...)`` with its time axis reversed."""
    return builder.slice(sequence, [-1], [_TO_START], [1], [-1], hint="reversed")


def _native(conversion: Conversion, x: str, initial: list[str]):
    """The layer by ONNX's operator: ``(sequence, last output, final
    states)``, the sequence None without ``return_sequences``, the last
    output None with it."""
    layer, builder = conversion.layer, conversion.builder
    direction = "reverse" if layer.go_backwards else "forward"
    outputs = emit_native(conversion, [layer], x, [initial], direction, native_outputs(layer))
    states = [builder.squeeze(state, [0], hint=name) for state, name in zip(outputs[1:], layer.state_names)]
    if not layer.return_sequences:
        return None, states[0], states
    sequence = batch_major(builder, builder.squeeze(outputs[0], [1]))
    if layer.go_backwards:
        # ONNX's reverse direction writes step t's output at t; Keras
        # returns the sequence in processing order.
        sequence = reverse_time(builder, sequence)
    return sequence, None, states


# -- the Scan -------------------------------------------------------------

def _scan_weights(conversion: Conversion, layer) -> dict[str, str]:
    """The Scan's initializers, gates in the Scan's order: ``kernel`` (in,
    gates * units), ``bias`` (the input bias), ``recurrent`` (units, gates *
    units; GRU without ``reset_after``: ``recurrent_gates`` and
    ``recurrent_candidate``), ``recurrent_bias`` (GRU with ``reset_after``)."""
    kind, dtype = kind_of(layer), conversion.builder.dtype
    units = layer.units

    def ordered(weight, row=None):
        def make():
            value = _value(weight, dtype)
            return _gate_blocks(value if row is None else value[row], kind.scan_order, -1)
        return make

    names = {"kernel": conversion.derived_weight("scan_kernel", ordered(layer.kernel))}
    if isinstance(layer, GRU) and not layer.reset_after:
        recurrent = ordered(layer.recurrent_kernel)
        names["recurrent_gates"] = conversion.derived_weight("recurrent_gates", lambda: recurrent()[:, :2 * units])
        names["recurrent_candidate"] = conversion.derived_weight("recurrent_candidate",
                                                                 lambda: recurrent()[:, 2 * units:])
    else:
        names["recurrent"] = conversion.derived_weight("scan_recurrent", ordered(layer.recurrent_kernel))
    if layer.bias is not None:
        two_rows = isinstance(layer, GRU) and layer.reset_after
        names["bias"] = conversion.derived_weight("scan_bias", ordered(layer.bias, 0 if two_rows else None))
        if two_rows:
            names["recurrent_bias"] = conversion.derived_weight("scan_recurrent_bias", ordered(layer.bias, 1))
    return names


def _activate(conversion: Conversion, x: str, function, width: int, gates: int) -> str:
    """``function`` on ``gates`` side-by-side gate blocks of ``width`` units:
    at once if it works value by value, else gate by gate (a softmax sees
    each gate alone, as layerspec's ``activate_gates``)."""
    if gates == 1 or activations.is_elementwise(function):
        return apply_activation(conversion, x, function, (None, gates * width))
    builder = conversion.builder
    pieces = builder.split(x, [width] * gates, axis=1, hint="gate")
    return builder.concat([apply_activation(conversion, piece, function, (None, width)) for piece in pieces],
                          axis=1, hint="gates")


def _simple_rnn_step(conversion, layer, weights, states, projected):
    builder = conversion.builder
    z = builder.op("Add", [projected, builder.op("MatMul", [states[0], weights["recurrent"]])])
    h = _activate(conversion, z, layer.activation, layer.units, 1)
    return [h]


def _lstm_step(conversion, layer, weights, states, projected):
    """Keras's LSTM step, gates in the Scan's order i, f, o, c."""
    builder, units = conversion.builder, layer.units
    h, c = states
    z = builder.op("Add", [projected, builder.op("MatMul", [h, weights["recurrent"]])], hint="z")
    sigmoid_part, candidate = builder.split(z, [3 * units, units], axis=1, hint="z")
    gates = _activate(conversion, sigmoid_part, layer.recurrent_activation, units, 3)
    input_gate, forget_gate, output_gate = builder.split(gates, [units] * 3, axis=1, hint="gate")
    candidate = _activate(conversion, candidate, layer.activation, units, 1)
    c = builder.op("Add", [builder.op("Mul", [forget_gate, c]), builder.op("Mul", [input_gate, candidate])], hint="c")
    h = builder.op("Mul", [output_gate, _activate(conversion, c, layer.activation, units, 1)], hint="h")
    return [h, c]


def _gru_step(conversion, layer, weights, states, projected):
    """Keras's GRU step: ``h~ + z * (h - h~)`` as layerspec computes it."""
    builder, units = conversion.builder, layer.units
    h = states[0]
    x_gates, x_candidate = builder.split(projected, [2 * units, units], axis=1, hint="x")
    if layer.reset_after:
        product = builder.op("MatMul", [h, weights["recurrent"]])
        if "recurrent_bias" in weights:
            product = builder.op("Add", [product, weights["recurrent_bias"]])
        h_gates, h_candidate = builder.split(product, [2 * units, units], axis=1, hint="h")
    else:
        h_gates = builder.op("MatMul", [h, weights["recurrent_gates"]])
    gates = _activate(conversion, builder.op("Add", [x_gates, h_gates]), layer.recurrent_activation, units, 2)
    update, reset = builder.split(gates, [units, units], axis=1, hint="gate")
    if layer.reset_after:
        recurrent = builder.op("Mul", [reset, h_candidate])
    else:
        recurrent = builder.op("MatMul", [builder.op("Mul", [reset, h]), weights["recurrent_candidate"]])
    candidate = _activate(conversion, builder.op("Add", [x_candidate, recurrent]), layer.activation, units, 1)
    change = builder.op("Mul", [update, builder.op("Sub", [h, candidate])])
    return [builder.op("Add", [candidate, change], hint="h")]


_STEPS = {SimpleRNN: _simple_rnn_step, LSTM: _lstm_step, GRU: _gru_step}


def zero_state(builder, like: str, sizes: list[int]) -> str:
    """Zeros ``(batch, *sizes)``, the batch taken from ``like``'s first axis
    (ONNX's data propagation keeps the shape inferable)."""
    from onnx import helper

    batch = builder.slice(builder.op("Shape", [like]), [0], [1], [0], hint="batch")
    shape = builder.concat([batch, builder.ints(sizes)], axis=0, hint="state_shape")
    zero = helper.make_tensor("zero", onnx_type(builder.dtype), [1], [0.0])
    return builder.op("ConstantOfShape", [shape], hint="zeros", value=zero)


def value_info(name: str, dtype, shape: list):
    """A subgraph input or output: ``name`` of NumPy ``dtype`` and
    ``shape`` (None for a size known only at run time, the batch)."""
    from onnx import helper

    return helper.make_tensor_value_info(name, onnx_type(dtype), shape)


def _step_graph(conversion: Conversion, weights: dict, masked: bool, carry_output: bool):
    """The Scan's body: one step of the layer of ``conversion``.

    Inputs: the states (h, and c for an LSTM), the carried last output
    (``carry_output``), the step's projected input ``(batch, gates *
    units)`` and, ``masked``, its mask ``(batch, 1)``. Outputs: the new
    states, the carried output, and the step's output with
    ``return_sequences``. Returns ``(GraphProto, number of outputs)``.
    """
    layer, dtype, units = conversion.layer, conversion.builder.dtype, conversion.layer.units
    body = conversion.builder.subgraph()
    states_in = [body.fresh(f"{name}_in") for name in layer.state_names]
    inputs = list(states_in)
    if carry_output:
        inputs.append(body.fresh("output_in"))
    step_in = body.fresh("projected_t")
    inputs.append(step_in)
    shapes = [[None, units]] * len(inputs[:-1]) + [[None, kind_of(layer).gates * units]]
    infos = [value_info(name, dtype, shape) for name, shape in zip(inputs, shapes)]
    if masked:
        mask_in = body.fresh("mask_t")
        infos.append(value_info(mask_in, np.bool_, [None, 1]))

    states = _STEPS[type(layer)](replace(conversion, builder=body), layer, weights, states_in, step_in)
    output = states[0]
    if masked:
        # A masked step keeps every state; its output repeats h (kept) or is 0.
        states = [body.op("Where", [mask_in, new, old], hint=f"{name}_kept")
                  for new, old, name in zip(states, states_in, layer.state_names)]
        output = body.op("Where", [mask_in, output, body.scalar(0.0)], hint="output") \
            if _zeroes_masked_outputs(layer) else states[0]
    outputs = list(states)
    if carry_output:
        outputs.append(output)
    if layer.return_sequences:
        outputs.append(body.op("Identity", [output], hint="output_t") if output in outputs else output)
    graph = body.graph_proto(f"{conversion.node.name}_step", infos,
                             [value_info(name, dtype, [None, units]) for name in outputs])
    return graph, len(outputs)


def emit_scan(conversion: Conversion, x: str, mask: str | None, initial: list[str]):
    """The layer as a Scan over ``x`` (batch, time, features): the input
    projection ``x W + b`` of every step at once, then the recurrence.

    The Scan runs over axis 0 of time-major tensors, transposed here:
    ONNX Runtime transposes for any other axis itself, and on a sequence
    of length 0 it fails cleanly over axis 0 but crashes the process
    (SIGFPE) over axis 1.

    Returns ``(sequence or None, last output, final states)``, as
    layerspec's ``call`` (no ``mask``) or ``call_masked`` computes them.
    """
    layer, builder = conversion.layer, conversion.builder
    states = kind_of(layer).states
    weights = _scan_weights(conversion, layer)
    projected = builder.op("MatMul", [builder.transpose(x, [1, 0, 2], hint="time_major"), weights["kernel"]],
                           hint="projected")
    if "bias" in weights:
        projected = builder.op("Add", [projected, weights["bias"]], hint="projected")
    # Without return_sequences the last output is the state h, except with
    # zero_output_for_mask: zero where the last processed step is masked,
    # so the Scan carries it (zero before any step, as the state).
    carry_output = mask is not None and _zeroes_masked_outputs(layer) and not layer.return_sequences
    zeros = zero_state(builder, x, [layer.units]) if carry_output or not initial else None
    starts = (list(initial) or [zeros] * states) + ([zeros] if carry_output else [])
    scan_inputs = [projected]
    if mask is not None:
        scan_inputs.append(builder.unsqueeze(builder.transpose(mask, [1, 0]), [2], hint="mask"))
    graph, count = _step_graph(conversion, weights, mask is not None, carry_output)
    results = builder.op("Scan", starts + scan_inputs, count, hint="scan", body=graph,
                         num_scan_inputs=len(scan_inputs),
                         scan_input_directions=[int(layer.go_backwards)] * len(scan_inputs))
    results = results if isinstance(results, list) else [results]
    last = results[states] if carry_output else results[0]
    sequence = batch_major(builder, results[-1]) if layer.return_sequences else None
    return sequence, last, results[:states]


# -- the converters -------------------------------------------------------

def check_activations(conversion: Conversion) -> None:
    """Refuse a layer whose ``activation`` or ``recurrent_activation`` is a
    Python function (from the Python API): ONNX cannot hold one."""
    for argument in ("activation", "recurrent_activation"):
        function = getattr(conversion.layer, argument, None)
        if function is not None and activations.describe(function)[0] is None:
            raise conversion.refuse(f"its {argument} is a Python function, which ONNX cannot hold",
                                    argument=argument)


def recurrence(conversion: Conversion, x: str, mask: str | None, initial: list[str]):
    """The layer of ``conversion`` over ``x``, natively where the operator
    is exact, else by a Scan: ``(sequence, last output, final states)``,
    the sequence None without ``return_sequences`` (the last output may be
    None with it). ``mask`` is ignored when ``initial`` states are given."""
    check_activations(conversion)
    if initial:
        mask = None
    if mask is None and can_run_natively(conversion, conversion.layer):
        return _native(conversion, x, initial)
    return emit_scan(conversion, x, mask, initial)


def distinct(builder, names: list[str]) -> list[str]:
    """``names`` with repeats replaced by Identity copies: each output of a
    layer must be a tensor of its own (the exporter renames each)."""
    seen, result = set(), []
    for name in names:
        result.append(builder.op("Identity", [name], hint="copy") if name in seen else name)
        seen.add(result[-1])
    return result


@converts(SimpleRNN, LSTM, GRU)
def recurrent(conversion: Conversion):
    """The sequence (``return_sequences``) or the last output, followed with
    ``return_state`` by the final states (h, and c for an LSTM)."""
    layer = conversion.layer
    sequence, last, states = recurrence(conversion, conversion.x, conversion.mask, list(conversion.inputs[1:]))
    output = sequence if layer.return_sequences else last
    if not layer.return_state:
        return output
    return distinct(conversion.builder, [output, *states])


@converts_mask(SimpleRNN, LSTM, GRU)
def recurrent_mask(conversion: Conversion):
    """The sequence's mask on the output with ``return_sequences``, else
    none; the states have none (Keras's ``RNN.compute_mask``)."""
    layer = conversion.layer
    output = conversion.mask if layer.return_sequences else None
    return [output] + [None] * len(layer.state_names) if layer.return_state else output
