"""Wrappers as ONNX: Bidirectional and TimeDistributed.

Both convert the layers they wrap with those layers' own converters, on a
:class:`InnerConversion` made for a stand-in node (:class:`StandIn`) that
carries the sublayer's shapes and masks.

Bidirectional, as layerspec's ``_merge``: each direction runs over the
sequence (with its half of the initial states), the backward output of a
returned sequence is flipped back in time, and the two are merged (concat
on the last axis, sum, mul, ave as ``(f + b) / 2``, or none: two
outputs), followed by the forward then the backward final states. Where
ONNX's operator expresses both directions (an LSTM, GRU or SimpleRNN made
from one ``layer``, no mask, activations it knows, float32) they are one
operator with ``direction="bidirectional"``, whose backward half already
writes each step's output at its input step.

TimeDistributed folds time into the batch (a Reshape), runs the inner
layer's converter on ``(batch * time, ...)`` and unfolds its result; sizes
unknown until run time come from the tensors' shapes (Shape, Concat), so
ONNX still infers the known ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..layers.recurrent import GRU, LSTM, SimpleRNN
from ..layers.wrappers import Bidirectional, TimeDistributed
from . import Conversion, converter_of, converts, converts_mask
from .recurrent import batch_major, can_run_natively, distinct, emit_native, native_outputs, reverse_time


# -- converting a wrapped layer ---------------------------------------------

@dataclass
class StandIn:
    """What a converter reads of a graph node, for a wrapped layer: its own
    name, layer, shapes and masks; anything else (the spec entry's index)
    is the wrapper's node's."""

    name: str
    layer: Any
    input_shape: Any
    output_shape: Any
    outer: Any
    input_mask: Any = None
    output_mask: Any = None

    @property
    def several_inputs(self) -> bool:
        return bool(getattr(self.layer, "takes_several_inputs", False))

    def __getattr__(self, name: str):
        if name == "outer":  # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.outer, name)


@dataclass
class InnerConversion(Conversion):
    """A conversion of a wrapped layer.

    Its weights are named after the wrappers around it
    (``forward_lstm/kernel``; in nested wrappers ``inner/dense/kernel``), so
    they are looked up under ``prefix``; a refusal that names an argument
    names the wrapper's argument holding the layer (``layer``), the one
    the spec entry has.
    """

    prefix: str = ""
    wrapper_argument: str = "layer"

    def weight_value(self, name: str):
        return super().weight_value(self.prefix + name)

    def refuse(self, why: str, argument: str | None = None):
        return super().refuse(why, argument=None if argument is None else self.wrapper_argument)


def convert_inner(conversion: Conversion, layer, inputs: list[str], shapes: list[tuple],
                  masks: list[str | None] | None = None, argument: str = "layer"):
    """``layer``'s converter run on ``inputs`` (full ``shapes``), written
    under the scope ``<wrapper>/<layer>``; returns its result (a name, or a
    list for several outputs). ``argument``: the wrapper's argument that
    holds ``layer``.

    Raises:
        ExportError: naming the wrapper, when ``layer`` has no converter.
    """
    convert = converter_of(layer)
    if convert is None:
        raise conversion.refuse(f"the wrapped layer '{layer.name}' ({type(layer).__name__}) has no ONNX form",
                                argument=argument)
    several = bool(getattr(layer, "takes_several_inputs", False))
    input_shape = [list(shape) for shape in shapes] if several else shapes[0]
    masks = list(masks) if masks is not None else [None] * len(inputs)
    node = StandIn(f"{conversion.node.name}/{layer.name}", layer, input_shape,
                   layer.compute_output_shape(input_shape), outer=conversion.node,
                   input_mask=None if masks[0] is None else tuple(shapes[0][:2]))
    inner = InnerConversion(conversion.builder, node, layer, list(inputs), [tuple(shape) for shape in shapes], masks,
                            prefix=getattr(conversion, "prefix", "") + layer.name + "/",
                            wrapper_argument=getattr(conversion, "wrapper_argument", argument))
    builder = conversion.builder
    with builder.scoped(f"{builder.scope}/{layer.name}" if builder.scope else node.name):
        return convert(inner)


# -- Bidirectional ------------------------------------------------------------

def _split(result) -> tuple[str, list[str]]:
    """A direction's ``(output, final states)``."""
    if isinstance(result, list):
        return result[0], list(result[1:])
    return result, []


def _fused(conversion: Conversion, mask: str | None) -> bool:
    """Whether the two directions are one ONNX operator with direction
    "bidirectional": made from one layer (a forward SimpleRNN, LSTM or
    GRU, and its copy going backwards), no mask, exact natively."""
    layer = conversion.layer
    forward, backward = layer.forward_layer, layer.backward_layer
    if mask is not None or type(forward) not in (SimpleRNN, LSTM, GRU) or type(backward) is not type(forward):
        return False
    if forward.go_backwards or not backward.go_backwards or forward.units != backward.units:
        return False
    if isinstance(forward, GRU) and forward.reset_after != backward.reset_after:
        return False
    return can_run_natively(conversion, forward) and can_run_natively(conversion, backward)


def _concatenated(conversion: Conversion, outputs: list[str]) -> str:
    """merge_mode concat straight from the operator's outputs: Y ``(time,
    2, batch, units)`` → ``(batch, time, 2 * units)``, or Y_h ``(2, batch,
    units)`` → ``(batch, 2 * units)``; forward then backward, as Concat."""
    builder, units = conversion.builder, conversion.layer.forward_layer.units
    if conversion.layer.return_sequences:
        return builder.reshape(builder.transpose(outputs[0], [2, 0, 1, 3]), [0, 0, 2 * units], hint="concat")
    return builder.reshape(builder.transpose(outputs[1], [1, 0, 2]), [0, 2 * units], hint="concat")


def _directions_fused(conversion: Conversion, outputs: list[str]):
    """Both directions' ``(output, final states)`` from the operator's
    outputs: Y ``(time, 2, batch, units)``, Y_h (and Y_c) ``(2, batch,
    units)``; direction k is index k of their axis 1 and 0."""
    layer, builder = conversion.layer, conversion.builder
    forward = layer.forward_layer
    results = []
    for k, name in enumerate(("forward", "backward")):
        finals = [builder.squeeze(builder.slice(state, [k], [k + 1], [0]), [0], hint=f"{name}_{state_name}")
                  for state, state_name in zip(outputs[1:], forward.state_names)]
        if forward.return_sequences:
            # The backward half already holds each step's output at its input step.
            output = batch_major(builder, builder.squeeze(builder.slice(outputs[0], [k], [k + 1], [1]), [1]))
        else:
            output = finals[0]
        results.append((output, finals if forward.return_state else []))
    return results


def _directions_apart(conversion: Conversion, mask: str | None, states: tuple[list, list]):
    """Each direction's ``(output, final states)`` by its own converter;
    the backward output of a returned sequence flipped back in time."""
    layer, builder = conversion.layer, conversion.builder
    sequence_shape = conversion.input_shapes[0]
    state_shapes = conversion.input_shapes[1:]
    half = len(state_shapes) // 2
    results = []
    for number, (direction, given) in enumerate(zip((layer.forward_layer, layer.backward_layer), states)):
        shapes = [sequence_shape] + list(state_shapes[number * half:(number + 1) * half] if given else [])
        # layerspec's _run_masked: a direction that uses no mask gets none.
        masks = [mask if getattr(direction, "uses_mask", False) else None] + [None] * len(given)
        # The spec entry's argument holding the direction: backward_layer if given.
        argument = "backward_layer" if number and len(layer.wrapped_layers()) > 1 else "layer"
        output, finals = _split(convert_inner(conversion, direction, [conversion.x, *given], shapes, masks, argument))
        results.append((output, finals))
    if layer.return_sequences:
        output, finals = results[1]
        results[1] = (reverse_time(builder, output), finals)
    return results


def _merge(conversion: Conversion, forward: str, backward: str) -> list[str]:
    """The merged output(s), as layerspec's ``Bidirectional._merge``."""
    builder, mode = conversion.builder, conversion.layer.merge_mode
    if mode is None:
        return [forward, backward]
    if mode == "concat":
        return [builder.concat([forward, backward], axis=-1, hint="concat")]
    if mode == "sum":
        return [builder.op("Add", [forward, backward], hint="sum")]
    if mode == "mul":
        return [builder.op("Mul", [forward, backward], hint="mul")]
    # ave: (forward + backward) / 2, as Keras and layerspec compute it.
    return [builder.op("Div", [builder.op("Add", [forward, backward]), builder.scalar(2.0)], hint="ave")]


@converts(Bidirectional)
def bidirectional(conversion: Conversion):
    """Both directions, merged, then their final states (see the module)."""
    layer = conversion.layer
    initial = list(conversion.inputs[1:])
    half = len(initial) // 2
    states = (initial[:half], initial[half:])
    # layerspec's _directions_mask: given initial states, no mask.
    mask = None if initial else conversion.mask
    if _fused(conversion, mask):
        native = emit_native(conversion, [layer.forward_layer, layer.backward_layer], conversion.x, list(states),
                             "bidirectional", native_outputs(layer.forward_layer))
        if layer.merge_mode == "concat" and not layer.return_state:
            return _concatenated(conversion, native)
        (forward, forward_states), (backward, backward_states) = _directions_fused(conversion, native)
    else:
        (forward, forward_states), (backward, backward_states) = _directions_apart(conversion, mask, states)
    outputs = _merge(conversion, forward, backward) + forward_states + backward_states
    return distinct(conversion.builder, outputs) if layer.output_names else outputs[0]


@converts_mask(Bidirectional)
def bidirectional_mask(conversion: Conversion):
    """Each returned sequence keeps the sequence's mask; final outputs and
    states have none (layerspec's ``Bidirectional._output_masks``)."""
    layer, mask = conversion.layer, conversion.mask
    if mask is None or not layer.return_sequences:
        return None
    outputs = [mask, mask] if layer.merge_mode is None else [mask]
    states = len(layer.output_names or []) - len(outputs)
    return outputs + [None] * states if len(outputs) + states > 1 else mask


# -- TimeDistributed ----------------------------------------------------------

def _dims(builder, x: str, start: int, end: int) -> str:
    """The sizes of ``x``'s axes ``start`` to ``end`` (excluded), a 1-D int64 tensor."""
    return builder.slice(builder.op("Shape", [x], hint="shape"), [start], [end], [0], hint="dims")


def _reshape(builder, x: str, parts: list, known: list) -> str:
    """``x`` reshaped to ``parts``: ints, or 1-D int64 tensors of sizes read
    at run time. ``known`` lists the result's sizes as layerspec knows them
    (None where unknown).

    Reshape-13's shape inference reads only a constant shape; from opset
    14 on ONNX propagates sizes through Shape, Slice and Concat. So in
    opset 13 a run-time shape is followed by a constant Reshape that
    restates the known sizes (0 keeps an axis's size): ONNX then infers
    them, and ONNX Runtime's Reshape copies nothing.
    """
    if all(isinstance(part, int) for part in parts):
        return builder.reshape(x, parts)
    shape = builder.concat([builder.ints([part]) if isinstance(part, int) else part for part in parts], axis=0,
                           hint="shape")
    result = builder.op("Reshape", [x, shape], hint="reshaped")
    if builder.opset < 14:
        result = builder.reshape(result, [0 if size is None else size for size in known], hint="restated")
    return result


def _sizes(builder, sizes: tuple, x: str, offset: int) -> list:
    """``sizes`` as Reshape parts: a known size as it is, an unknown one
    read from ``x``'s axis ``index + offset``."""
    return [size if size is not None else _dims(builder, x, index + offset, index + offset + 1)
            for index, size in enumerate(sizes)]


@converts(TimeDistributed)
def time_distributed(conversion: Conversion) -> str:
    """``(batch, time, ...)`` folded to ``(batch * time, ...)``, the inner
    layer's converter, then unfolded to ``(batch, time, ...)``."""
    layer, builder = conversion.layer, conversion.builder
    x, shape = conversion.x, tuple(conversion.shape)
    step_shape = (None,) + shape[2:]
    folded = _reshape(builder, x, [-1] + _sizes(builder, shape[2:], x, 2), list(step_shape))
    result = convert_inner(conversion, layer.layer, [folded], [step_shape])
    several = getattr(layer.layer, "takes_several_inputs", False)
    out_step = tuple(layer.layer.compute_output_shape([list(step_shape)] if several else step_shape))
    steps = shape[1]
    leading = [-1, steps] if steps is not None else [_dims(builder, x, 0, 2)]
    return _reshape(builder, result, leading + _sizes(builder, out_step[1:], result, 1),
                    [None, steps, *out_step[1:]])
