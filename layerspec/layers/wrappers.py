"""Wrappers: layers that apply another layer, Bidirectional and TimeDistributed.

The wrapped layer is an argument: in a spec a mapping written like a layer
entry (``layer: {type: LSTM, units: 16}``), from Python a layer object.
Either way the wrapper makes its own copy of it (from the layer's config,
as Keras's ``Bidirectional`` does), builds it for what it will see and
owns its weights under the sublayer's name, so weights files key them
``bidirectional/forward_lstm/kernel`` and ``time_distributed/dense/kernel``.
An unnamed wrapped layer is numbered by the model with its other layers,
as Keras code constructs it just before its wrapper: after a Dense, a
``TimeDistributed`` Dense is ``dense_1`` (``time_distributed/dense_1/kernel``).
"""

from __future__ import annotations

import math

import numpy as np

from ..arguments import ArgumentKind, Choice, LayerArgument, Optional, describe_value
from ..errors import ArgumentError, ShapeError
from ..registry import display_name, register
from .base import Layer, evaluated_signature, format_shape, normalised_default


class _NoInitialWeights(ArgumentKind):
    """Keras's ``weights`` argument of Bidirectional: only ``null`` here."""

    expected = "null"

    def check(self, value, argument):
        if value is not None:
            raise ArgumentError(f"argument '{argument}' must be null, got {describe_value(value)}: give weights in "
                                "a weights file (run --weights)", argument=argument)
        return None

    def json_schema(self):
        return {"type": "null"}


def _is_shape_list(shape) -> bool:
    return isinstance(shape, list) and bool(shape) and isinstance(shape[0], (tuple, list))


def _known_elements(shape) -> int | None:
    sizes = shape[1:]
    return None if any(size is None for size in sizes) else math.prod(sizes)


def _sum(*counts):
    return None if any(count is None for count in counts) else sum(counts)


def layer_mapping(layer: Layer) -> dict:
    """A layer as the mapping a spec writes for it: ``type``, its name if
    given, and the arguments that differ from their defaults."""
    parameters = evaluated_signature(type(layer).__init__).parameters
    mapping = {"type": display_name(type(layer))}
    if layer.has_explicit_name:
        mapping["name"] = layer.name
    for name, value in layer.get_config().items():
        if name == "name" or (name == "trainable" and value is True):
            continue
        parameter = parameters.get(name)
        if parameter is not None and parameter.default is not parameter.empty and \
                value == normalised_default(parameter.annotation, name, parameter.default):
            continue
        mapping[name] = value
    return mapping


class _Wrapper(Layer):
    """Owning sublayers: their dtype, their weights (``NAME/WEIGHT``), their
    weight checks, and the names of the layers they wrap.

    Keras code constructs a wrapped layer before its wrapper
    (``TimeDistributed(Dense(8))``), so a model numbers it like any layer:
    ``time_distributed/dense_1/kernel`` when a Dense came before. The model
    asks for those layers (:meth:`wrapped_layers`) and gives each its name
    (:meth:`name_wrapped`); see :mod:`layerspec.naming`.
    """

    #: The arguments that hold a layer the user constructs, in the order
    #: Keras code constructs them (before the wrapper).
    wrapped_arguments: tuple = ("layer",)

    def _sublayers(self) -> list[Layer]:  # pragma: no cover - abstract
        raise NotImplementedError

    def wrapped_layers(self) -> list[Layer]:
        """The layers of :attr:`wrapped_arguments` that were given, in order."""
        return [self.layer]

    def name_wrapped(self, names: list[str]) -> None:
        """Name the unnamed :meth:`wrapped_layers` (``names`` in their
        order); a built wrapper keeps its names, which its weights carry."""
        if self.built:
            return
        for layer, name in zip(self.wrapped_layers(), names):
            if not layer.has_explicit_name:
                layer._auto_name = name
        self._derive_names()

    def _derive_names(self) -> None:
        """Update the names made from the wrapped layers' names."""

    def _build_sublayer(self, layer: Layer, input_shape) -> None:
        layer.dtype = self.dtype
        layer.build_for(input_shape)
        if not layer.trainable:  # a frozen sublayer's weights stay frozen in its wrapper
            for weight in layer.weights:
                weight.trainable = False
        self._own_sublayer(layer.name, layer)

    def weight_problem(self, values):
        for layer in self._sublayers():
            prefix = layer.name + "/"
            problem = layer.weight_problem({name[len(prefix):]: value for name, value in values.items()
                                            if name.startswith(prefix)})
            if problem is not None:
                return prefix + problem[0], problem[1]
        return None


def _check_name(layer: Layer, argument: str) -> None:
    if "/" in layer.name:
        raise ArgumentError(f"argument '{argument}': the wrapped layer's name must not contain '/', got "
                            f"'{layer.name}'", argument=argument)


@register
class Bidirectional(_Wrapper):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges the two.

    As Keras 3: the forward layer is a copy of ``layer`` named
    ``forward_<its name>``; the backward layer is ``backward_layer`` if
    given, else a copy of ``layer`` named ``backward_<its name>`` with
    ``go_backwards: true`` (so ``layer`` itself must not go backwards).
    With ``return_sequences`` the backward output, in processing order, is
    flipped back in time before merging, so step ``t`` of both halves is
    input step ``t``.

    Args:
        layer: the recurrent layer (LSTM, GRU, SimpleRNN, ConvLSTM, or a
            plugin layer with ``go_backwards``, ``return_sequences`` and
            ``return_state``): a mapping ``{type: LSTM, units: 16, ...}``.
        merge_mode: ``concat`` (default: forward then backward on the last
            axis), ``sum``, ``mul``, ``ave`` (the mean of the two), or
            ``null``: two outputs, ``forward_output`` and
            ``backward_output``.
        weights: only null: give weights in a weights file.
        backward_layer: the backward layer (a mapping like ``layer``),
            with the opposite ``go_backwards`` and the same
            ``return_sequences``, ``return_state`` and ``stateful``; it
            keeps its own name. Default: made from ``layer``.

    Weights:
        the forward layer's under ``forward_<name>/`` and the backward
        layer's under its name, e.g. ``forward_lstm/kernel``,
        ``backward_lstm/kernel``: twice the parameters of ``layer``.

    Input shape:
        what ``layer`` takes; or a list ``[sequence, *forward initial
        states, *backward initial states]`` (Keras's ``initial_state``,
        split in halves).
    Output shape:
        the merged output (with ``concat`` the last axis doubles); with
        ``return_state`` followed by the forward layer's final states,
        then the backward layer's (``forward_state_h``, ...,
        ``backward_state_c``).

    Masks (Keras's): a mask on the sequence goes to both directions, which
    skip the masked steps; with ``return_sequences`` their masked steps are
    zeros (Keras sets ``zero_output_for_mask`` to ``return_sequences`` on
    both) and each sequence output keeps the mask; final outputs and
    states have none. Given initial states, the directions compute without
    the mask (Keras passes none to a call with several tensors), the output
    mask still following the sequence's.
    """

    takes_several_inputs = True
    accepts_single_input = True
    # Keras: a mask passes to both directions (unless initial states are
    # given); masked steps of returned sequences are zeros.
    supports_masking = True
    uses_mask = True
    wrapped_arguments = ("layer", "backward_layer")

    def __init__(self, layer: LayerArgument(), merge_mode: Optional(Choice("sum", "mul", "ave", "concat")) = "concat",
                 weights: _NoInitialWeights() = None, backward_layer: Optional(LayerArgument()) = None, **kwargs):
        super().__init__(**kwargs)
        kind = LayerArgument()
        self.layer = kind.construct(layer, "layer")
        _check_name(self.layer, "layer")
        for attribute in ("go_backwards", "return_sequences", "return_state"):
            if not hasattr(self.layer, attribute):
                raise ArgumentError(f"argument 'layer': Bidirectional wraps a recurrent layer (one with "
                                    f"go_backwards, return_sequences and return_state); "
                                    f"{display_name(type(self.layer))} is not one", argument="layer")
        self.forward_layer = kind.construct(self.layer, "layer", name=self._direction_name("forward"))
        self._backward_given = backward_layer is not None
        if backward_layer is None:
            if self.layer.go_backwards:
                raise ArgumentError("argument 'layer': it has go_backwards: true, and the backward layer made from "
                                    "it goes backwards too (as Keras makes it); give a backward_layer that goes "
                                    "forwards, or set go_backwards: false", argument="layer")
            self.backward_layer = kind.construct(self.layer, "layer", go_backwards=True,
                                                 name=self._direction_name("backward"))
        else:
            self.backward_layer = kind.construct(backward_layer, "backward_layer")
            _check_name(self.backward_layer, "backward_layer")
            self._check_backward_layer()
        for direction in self._sublayers():
            # Keras (bidirectional.py, force_zero_output_for_mask): masked steps
            # of a returned sequence are zeros, whatever the layer said.
            if getattr(direction, "zero_output_for_mask", None) is not None:
                direction.zero_output_for_mask = direction.return_sequences
        self.merge_mode = merge_mode
        self.weights_argument = weights
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self.stateful = getattr(self.forward_layer, "stateful", False)

    def _check_backward_layer(self) -> None:
        forward, backward = self.forward_layer, self.backward_layer
        if not all(hasattr(backward, attribute) for attribute in ("go_backwards", "return_sequences",
                                                                   "return_state")):
            raise ArgumentError(f"argument 'backward_layer': {display_name(type(backward))} is not a recurrent "
                                "layer (one with go_backwards, return_sequences and return_state)",
                                argument="backward_layer")
        if forward.go_backwards == backward.go_backwards:
            raise ArgumentError(f"argument 'backward_layer': it must run the other way than 'layer', but both have "
                                f"go_backwards: {str(forward.go_backwards).lower()}", argument="backward_layer")
        for attribute in ("stateful", "return_sequences", "return_state"):
            ours, theirs = getattr(forward, attribute, False), getattr(backward, attribute, False)
            if ours != theirs:
                raise ArgumentError(f"argument 'backward_layer': {attribute} must be the same as the forward "
                                    f"layer's ({str(ours).lower()}), got {str(theirs).lower()}",
                                    argument="backward_layer")
        if backward.name == forward.name:
            raise ArgumentError(f"argument 'backward_layer': its name '{backward.name}' is the forward layer's; "
                                "their weights would share keys", argument="backward_layer")

    def _sublayers(self):
        return [self.forward_layer, self.backward_layer]

    # -- names --------------------------------------------------------------
    def _direction_name(self, direction: str) -> str:
        """Keras's ``forward_<name>`` / ``backward_<name>``, the prefix not repeated."""
        return f"{direction}_" + self.layer.name.removeprefix(f"{direction}_")

    def wrapped_layers(self):
        # Keras code constructs the layer, then the backward layer if one is
        # given, then the wrapper; the directions made from 'layer' are
        # copies named after it and take no number.
        return [self.layer, self.backward_layer] if self._backward_given else [self.layer]

    def _derive_names(self):
        self.forward_layer.name = self._direction_name("forward")
        if not self._backward_given:
            self.backward_layer.name = self._direction_name("backward")

    def get_config(self):
        config = super().get_config()
        config["layer"] = layer_mapping(self.layer)
        config["backward_layer"] = None if self._constructor_arguments.get("backward_layer") is None \
            else layer_mapping(self.backward_layer)
        return config

    # -- outputs ------------------------------------------------------------
    @property
    def output_names(self):
        forward_states = self._state_names(self.forward_layer)
        backward_states = self._state_names(self.backward_layer)
        if self.merge_mode is not None and not forward_states and not backward_states:
            return None
        outputs = ["output"] if self.merge_mode is not None else ["forward_output", "backward_output"]
        return outputs + [f"forward_{name}" for name in forward_states] \
            + [f"backward_{name}" for name in backward_states]

    @staticmethod
    def _state_names(layer) -> list[str]:
        names = layer.output_names if layer.return_state else None
        return list(names[1:]) if names else []

    # -- shapes -------------------------------------------------------------
    def _split_inputs(self, input_shape):
        """The forward and the backward layer's inputs: the sequence, and
        each its half of the initial states (Keras's split)."""
        if not _is_shape_list(input_shape):
            return input_shape, input_shape
        sequence, states = input_shape[0], list(input_shape[1:])
        if not states:
            return self._one_input(sequence, self.forward_layer), self._one_input(sequence, self.backward_layer)
        if len(states) % 2:
            raise ShapeError(f"takes its sequence and initial states for both directions, the forward layer's then "
                             f"the backward layer's; got {len(states)} states, an odd number", argument="inputs")
        half = len(states) // 2
        return [sequence] + states[:half], [sequence] + states[half:]

    @staticmethod
    def _one_input(sequence, layer):
        return [sequence] if getattr(layer, "takes_several_inputs", False) else sequence

    def _directions(self, input_shape):
        """Each direction's output shapes: ``(output, [states])``."""
        from ..model import infer_output_shape

        results = []
        for layer, shape in zip(self._sublayers(), self._split_inputs(input_shape)):
            if _is_shape_list(shape) and not getattr(layer, "takes_several_inputs", False):
                raise ShapeError(f"'{layer.name}' ({display_name(type(layer))}) takes no initial states",
                                 argument="inputs")
            shapes = infer_output_shape(layer, shape)
            if isinstance(shapes, list):
                results.append((shapes[0], shapes[1:]))
            else:
                results.append((shapes, []))
        return results

    def _merged_shape(self, forward: tuple, backward: tuple) -> tuple:
        if self.merge_mode == "concat":
            if len(forward) != len(backward) or forward[:-1] != backward[:-1]:
                raise ShapeError(f"cannot concatenate the forward output {format_shape(forward)} and the backward "
                                 f"output {format_shape(backward)}", argument="backward_layer")
            last = None if forward[-1] is None or backward[-1] is None else forward[-1] + backward[-1]
            return forward[:-1] + (last,)
        if forward != backward:
            raise ShapeError(f"merge_mode '{self.merge_mode}' needs outputs of one shape; the forward layer gives "
                             f"{format_shape(forward)}, the backward layer {format_shape(backward)}",
                             argument="backward_layer")
        return forward

    def compute_output_shape(self, input_shape):
        (forward, forward_states), (backward, backward_states) = self._directions(input_shape)
        outputs = [forward, backward] if self.merge_mode is None else [self._merged_shape(forward, backward)]
        outputs += forward_states + backward_states
        return outputs if self.output_names else outputs[0]

    def build(self, input_shape):
        if self.backward_layer.name == self.forward_layer.name:  # named so by the model's count
            raise ArgumentError(f"argument 'backward_layer': its name '{self.backward_layer.name}' is the forward "
                                "layer's; their weights would share keys", argument="backward_layer")
        for layer, shape in zip(self._sublayers(), self._split_inputs(input_shape)):
            self._build_sublayer(layer, shape)
        self.compute_output_shape(input_shape)

    # -- masks --------------------------------------------------------------
    @staticmethod
    def _directions_mask(inputs: int, mask):
        """The mask the directions compute with, given how many inputs the
        wrapper has: the sequence's; None with initial states (Keras then
        populates no ``mask``: several tensor arguments)."""
        if inputs > 1:
            return None
        return mask[0] if isinstance(mask, list) else mask  # a list: one per input (a mask shape is a tuple)

    def _output_masks(self, mask):
        """Keras's ``compute_mask``: with ``return_sequences`` each sequence
        output keeps the sequence's mask (whether or not the directions used
        it); final outputs and states have none."""
        if isinstance(mask, list):
            mask = mask[0]
        if mask is None or not self.return_sequences:
            return None
        outputs = [mask, mask] if self.merge_mode is None else [mask]
        states = len(self.output_names or []) - len(outputs)
        return outputs + [None] * states if len(outputs) + states > 1 else mask

    def compute_mask_shape(self, input_shape, mask_shape):
        inputs = len(input_shape) if _is_shape_list(input_shape) else 1
        mask = self._directions_mask(inputs, mask_shape)
        if mask is not None:
            sequence = input_shape[0] if _is_shape_list(input_shape) else input_shape
            for layer in self._sublayers():
                if layer.uses_mask:  # the direction's own check of the mask it will get
                    layer.compute_mask_shape(tuple(sequence), mask)
        return self._output_masks(mask_shape)

    def compute_mask(self, inputs, mask):
        return self._output_masks(mask)

    def call_masked(self, inputs, mask):
        several = isinstance(inputs, (list, tuple))
        sequence_mask = self._directions_mask(len(inputs) if several else 1, mask)
        if sequence_mask is None:
            return self.call(inputs)
        sequence = inputs[0] if several else inputs
        return self._merge([self._run_masked(layer, sequence, sequence_mask) for layer in self._sublayers()])

    @staticmethod
    def _run_masked(layer, sequence, mask):
        if not layer.uses_mask:
            return layer.call(Bidirectional._one_input(sequence, layer))
        if getattr(layer, "takes_several_inputs", False) and not getattr(layer, "accepts_single_input", False):
            return layer.call_masked([sequence], [mask])
        return layer.call_masked(sequence, mask)

    # -- costs --------------------------------------------------------------
    def count_macs(self, input_shape):
        forward, backward = self._split_inputs(input_shape)
        return _sum(self.forward_layer.count_macs(forward), self.backward_layer.count_macs(backward))

    def count_elementwise(self, input_shape):
        forward, backward = self._split_inputs(input_shape)
        merging = 0
        if self.merge_mode in ("sum", "mul", "ave"):
            elements = _known_elements(self._directions(input_shape)[0][0])
            merging = None if elements is None else elements * (2 if self.merge_mode == "ave" else 1)
        return _sum(self.forward_layer.count_elementwise(forward), self.backward_layer.count_elementwise(backward),
                    merging)

    def count_workspace(self, input_shape):
        forward, backward = self._split_inputs(input_shape)
        return self.forward_layer.count_workspace(forward) + self.backward_layer.count_workspace(backward)

    # -- computing ----------------------------------------------------------
    def call(self, inputs):
        if isinstance(inputs, (list, tuple)) and len(inputs) > 1:
            sequence, states = inputs[0], list(inputs[1:])
            if len(states) % 2:
                raise ShapeError(f"takes initial states for both directions; got {len(states)}, an odd number")
            half = len(states) // 2
            forward_input, backward_input = [sequence] + states[:half], [sequence] + states[half:]
        else:
            sequence = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            forward_input = self._one_input(sequence, self.forward_layer)
            backward_input = self._one_input(sequence, self.backward_layer)
        return self._merge([self.forward_layer.call(forward_input), self.backward_layer.call(backward_input)])

    def _merge(self, results):
        """The output(s) from the two directions' results, as Keras merges them."""
        (forward, forward_states), (backward, backward_states) = (self._split(result) for result in results)
        if self.return_sequences:
            backward = np.flip(backward, axis=1)
        if self.merge_mode is None:
            outputs = [forward, np.ascontiguousarray(backward)]
        elif self.merge_mode == "concat":
            outputs = [np.concatenate([forward, backward], axis=-1)]
        elif self.merge_mode == "sum":
            outputs = [forward + backward]
        elif self.merge_mode == "mul":
            outputs = [forward * backward]
        else:  # ave, as Keras: (y + y_rev) / 2
            merged = forward + backward
            merged /= 2
            outputs = [merged]
        outputs += forward_states + backward_states
        return outputs if self.output_names else outputs[0]

    def _split(self, result):
        """A direction's ``(output, [final states])``."""
        if isinstance(result, list):
            return result[0], list(result[1:])
        return result, []


@register
class TimeDistributed(_Wrapper):
    """Applies a layer to every time step of its input.

    The input ``(batch, timesteps, ...)`` is folded to ``(batch *
    timesteps, ...)``, given to the layer, and the result unfolded, so
    every step uses the same weights. Works with any single-input,
    single-output layer, built-in or from a plugin.

    Args:
        layer: the layer to apply at each step: a mapping ``{type: Dense,
            units: 8, ...}``.

    Weights:
        the layer's, under its name: ``dense/kernel``, ``dense/bias``.
        The parameters are the layer's; the cost per sample is the
        layer's per step times ``timesteps``.

    Input shape:
        ``(batch, timesteps, ...)``, at least 3 axes; the layer sees
        ``(batch, ...)``.
    Output shape:
        ``(batch, timesteps, ...)``: what the layer gives per step.

    A mask on the input, ``(batch, timesteps)``, passes on unchanged, as in
    Keras. Keras would give a layer that computes with masks (a Softmax,
    an RNN) each step's slice of the mask; layerspec refuses a mask there.
    """

    # Keras: a mask passes on unchanged.
    supports_masking = True

    def __init__(self, layer: LayerArgument(), **kwargs):
        super().__init__(**kwargs)
        self.layer = LayerArgument().construct(layer, "layer")
        _check_name(self.layer, "layer")
        shown = display_name(type(self.layer))
        if getattr(self.layer, "takes_several_inputs", False) and not getattr(self.layer, "accepts_single_input",
                                                                                False):
            raise ArgumentError(f"argument 'layer': TimeDistributed gives its layer one input; {shown} takes a "
                                "list of inputs", argument="layer")
        if self.layer.output_names:
            raise ArgumentError(f"argument 'layer': TimeDistributed needs a layer with one output; {shown} has "
                                f"{len(self.layer.output_names)} ({', '.join(self.layer.output_names)})",
                                argument="layer")
        self.input_kind = self.layer.input_kind
        self.has_macs = self.layer.has_macs

    def _sublayers(self):
        return [self.layer]

    def get_config(self):
        config = super().get_config()
        config["layer"] = layer_mapping(self.layer)
        return config

    # -- shapes -------------------------------------------------------------
    def _step_shape(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise ShapeError(f"needs an input of shape (batch, timesteps, ...) with at least 3 axes, got "
                             f"{format_shape(input_shape)}")
        step = (input_shape[0],) + input_shape[2:]
        return [step] if getattr(self.layer, "takes_several_inputs", False) else step

    def compute_output_shape(self, input_shape):
        from ..model import infer_output_shape

        step = self._step_shape(input_shape)
        if type(self.layer).compute_output_shape is Layer.compute_output_shape:
            self.build_for(input_shape)  # the layer is probed by running it: it needs its weights declared
        output = infer_output_shape(self.layer, step)
        return (output[0], tuple(input_shape)[1]) + tuple(output[1:])

    def build(self, input_shape):
        self._build_sublayer(self.layer, self._step_shape(input_shape))

    # -- masks --------------------------------------------------------------
    def compute_mask_shape(self, input_shape, mask_shape):
        if mask_shape is None:
            return None
        input_shape, mask_shape = tuple(input_shape), tuple(mask_shape)
        # Keras's checks in call (time_distributed.py): (batch, timesteps, ...) masks.
        if len(mask_shape) < 2:
            raise ShapeError(f"the mask of its input must have at least 2 axes (batch, timesteps), got "
                             f"{format_shape(mask_shape)}")
        if len(input_shape) >= 2 and None not in (mask_shape[1], input_shape[1]) and mask_shape[1] != input_shape[1]:
            raise ShapeError(f"the mask of its input, {format_shape(mask_shape)}, does not match the input "
                             f"{format_shape(input_shape)}: both must have the same timesteps")
        if self.layer.uses_mask:
            raise ShapeError(f"its input carries a mask, and the wrapped {display_name(type(self.layer))} computes "
                             "with masks: Keras gives it each step's slice of the mask, which layerspec does not do")
        return mask_shape

    # -- costs --------------------------------------------------------------
    def _per_step(self, count, input_shape):
        steps = tuple(input_shape)[1]
        value = count(self._step_shape(input_shape))
        return None if value is None or steps is None else value * steps

    def count_macs(self, input_shape):
        return self._per_step(self.layer.count_macs, input_shape)

    def count_elementwise(self, input_shape):
        return self._per_step(self.layer.count_elementwise, input_shape)

    def count_workspace(self, input_shape):
        steps = tuple(input_shape)[1]
        return self.layer.count_workspace(self._step_shape(input_shape)) * (1 if steps is None else steps)

    # -- computing ----------------------------------------------------------
    def call(self, inputs):
        batch, steps = inputs.shape[:2]
        if batch * steps == 0:  # nothing to apply the layer to (not every layer takes an empty batch)
            output = self.compute_output_shape((None, steps) + tuple(inputs.shape[2:]))
            if None not in output[2:]:
                dtype = inputs.dtype if inputs.dtype.kind == "f" else np.dtype(self.dtype)
                return np.zeros((batch, steps) + tuple(output[2:]), dtype)
        folded = inputs.reshape((batch * steps,) + inputs.shape[2:])
        result = self.layer.call([folded] if getattr(self.layer, "takes_several_inputs", False) else folded)
        result = np.asarray(result)
        return result.reshape((batch, steps) + result.shape[1:])
