"""Keras 3 model configs → specs (docs/design.md §10).

Import (:func:`spec_from_config`) reads the model config Keras writes
(``config.json`` of a ``.keras`` archive, ``model.to_json()``, or the
``model_config`` of a Keras 2 ``.h5`` file) — Sequential and Functional
models, nested models, shared layers, bare ``keras.src.ops`` nodes — and
writes a spec that reads like a hand-written one. Nothing runs Keras: the
config is data, read key by key against the tables of
:mod:`layerspec.keras_config`.

Import writes the spec text by building layerspec models from what it read
and asking :mod:`layerspec.writing` to write them, so the rules of a natural
spec (names left implicit, defaults omitted, ``inputs`` only where a layer
does not read the one above) are the ones ``model.to_yaml()`` follows. An
argument is omitted when layerspec's default exports to the same Keras
value (``strides`` of a pooling layer equal to its ``pool_size``,
``data_format: channels_last``, ``activation: linear``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import LayerspecError
from .keras_config import (ANY, INITIALIZERS, KERAS_CLASSES, KerasConfigError, KerasLayerInfo, MODEL_CLASSES,
                           OP_ACTIVATIONS, OP_DEFAULTS, OP_MERGES, REFUSED_CLASSES, REGISTERED_ACTIVATIONS, is_number,
                           keras_only, layer_config, refuse, same_value, shown_value)


# --------------------------------------------------------------------------
# import: reading a config


@dataclass(eq=False)
class _KInput:
    """A model input: an ``InputLayer`` entry (or a Sequential's first
    layer's ``batch_input_shape``)."""

    keras_name: str
    shape: tuple | None
    dtype: str | None  # None: the model's float dtype
    name: str = ""  # its name in the spec


@dataclass(eq=False)
class _KLayer:
    """One entry of a config's ``layers``: a layer, an operation or a nested model."""

    index: int
    keras_class: str
    keras_name: str
    module: str
    where: str
    kind: str  # "layer", "op" or "model"
    our_class: type | None = None
    arguments: dict = field(default_factory=dict)
    #: The input shape Keras built it for (its build_config), if known.
    shape: Any = None
    nested: "_KModel | None" = None
    calls: list = field(default_factory=list)
    #: Keras counts a nested Functional's calls from 1 (functional.py get_config).
    node_offset: int = 0


@dataclass(eq=False)
class _KCall:
    """One call of a layer: the tensors it reads, in layerspec's order."""

    layer: _KLayer
    number: int
    sources: list  # of (producer, call number, output index)
    causal: bool | None = None


@dataclass(eq=False)
class _KModel:
    """A Sequential or Functional config, read."""

    name: str
    kind: str
    where: str
    inputs: list
    entries: list  # every entry of 'layers', in order (_KInput or _KLayer)
    calls: list  # computing order
    outputs: list  # of (producer, call number, output index)


def _where(prefix: str, index: int, name: Any, class_name: Any) -> str:
    """How messages name a config entry: ``layers[3] 'conv2d_1' (Conv2D)``."""
    return f"{prefix}layers[{index}] '{name}' ({class_name})"


def _model_body(config: Any, where: str) -> tuple[str, dict]:
    """``(class_name, inner config)`` of a model's config, checked."""
    if not isinstance(config, dict):
        raise KerasConfigError(f"{where or 'the model config'} must be a JSON object, got {type(config).__name__}")
    if "class_name" not in config and isinstance(config.get("layers"), list):
        # model.get_config() alone: a Functional model lists its inputs
        config = {"class_name": "Functional" if "input_layers" in config else "Sequential", "config": config}
    class_name = config.get("class_name")
    inner = config.get("config")
    if class_name not in MODEL_CLASSES:
        if isinstance(class_name, str) and isinstance(inner, dict) and "layers" not in inner:
            raise refuse(f"{where or 'the model'}: a {class_name} model keeps its layers in Python code (a "
                         "subclassed model), which its config does not describe; save a Sequential or Functional "
                         "model")
        raise KerasConfigError(f"{where or 'the model config'}: 'class_name' must be one of "
                               f"{', '.join(MODEL_CLASSES)}, got {class_name!r}")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise KerasConfigError(f"{where or 'the model config'}: 'config' must be an object with a 'layers' list")
    return class_name, inner


class _Reader:
    """Reads a model config into :class:`_KModel` objects (nested ones too)."""

    def __init__(self):
        #: Every dtype policy met, with where: the model's dtype follows.
        self.policies: list[tuple[str, str]] = []
        #: Whether the model being read is frozen (trainable: false).
        self.frozen = False

    def model(self, config: dict, where: str = "", frozen: bool = False) -> _KModel:
        """Read a Sequential or Functional model's config (``where``: its place, for messages)."""
        class_name, inner = _model_body(config, where)
        name = inner.get("name") if isinstance(inner.get("name"), str) else "model"
        # A frozen model freezes every layer in it (Keras's trainable setter);
        # a spec says so on each layer.
        frozen = frozen or inner.get("trainable") is False
        saved, self.frozen = self.frozen, frozen
        try:
            if class_name == "Sequential":
                return self._sequential(name, inner, where)
            return self._functional(name, class_name, inner, where)
        finally:
            self.frozen = saved

    # -- one entry --------------------------------------------------------
    def _entry(self, entry: Any, index: int, prefix: str, legacy_nodes: bool = False):
        """One entry of ``layers``: an input, a layer, an operation or a nested model."""
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
            raise KerasConfigError(f"{prefix}layers[{index}] must be an object with a 'class_name', got "
                                   f"{shown_value(entry)}")
        class_name = entry["class_name"]
        config = entry.get("config", {})
        if not isinstance(config, dict):
            raise KerasConfigError(f"{prefix}layers[{index}] ({class_name}): 'config' must be an object")
        name = config.get("name", entry.get("name"))
        if not isinstance(name, str) or not name:
            raise KerasConfigError(f"{prefix}layers[{index}] ({class_name}): it has no name")
        if "/" in name:
            raise KerasConfigError(f"{_where(prefix, index, name, class_name)}: a name must not contain '/'")
        where = _where(prefix, index, name, class_name)
        module = entry.get("module") if isinstance(entry.get("module"), str) else "keras.layers"
        if class_name == "InputLayer":
            return self._input_layer(config, name, where)
        if class_name in MODEL_CLASSES and isinstance(config.get("layers"), list):
            nested = self.model(entry, f"{where} > ", self.frozen)
            offset = 1 if class_name != "Sequential" or legacy_nodes else 0
            return _KLayer(index, class_name, name, module, where, "model", nested=nested, node_offset=offset)
        if module.startswith("keras.src.ops") or module.startswith("keras.ops"):
            self._note_policy(config.get("dtype"), where, optional=True)
            return _KLayer(index, class_name, name, module, where, "op", arguments=dict(config))
        if class_name in REFUSED_CLASSES:
            raise refuse(f"{where}: layerspec cannot import a {class_name} layer: {REFUSED_CLASSES[class_name]}")
        if class_name not in KERAS_CLASSES:
            raise refuse(f"{where}: unknown or unsupported Keras layer class '{class_name}' (module {module}); "
                         "`layerspec layers` lists the supported ones")
        self._note_policy(config.get("dtype"), where)
        our_class, arguments = _read_arguments(class_name, config, where)
        if self.frozen:
            arguments["trainable"] = False
        layer = _KLayer(index, class_name, name, module, where, "layer", our_class, arguments)
        layer.shape = _built_shape(entry.get("build_config"))
        if layer.shape is None:
            layer.shape = config.get("query_shape")  # Keras 2's MultiHeadAttention kept it in its config
        return layer

    def _input_layer(self, config: dict, name: str, where: str) -> _KInput:
        """An ``InputLayer``: a model input of a dense float or integer tensor."""
        batch_shape = config.get("batch_shape", config.get("batch_input_shape"))
        if batch_shape is None and isinstance(config.get("shape"), list):
            batch_shape = [None, *config["shape"]]
        for key, accepted in (("sparse", (False, None)), ("ragged", (False, None)), ("optional", (False, None))):
            if config.get(key) not in accepted:
                raise refuse(f"{where}: '{key}: {shown_value(config[key])}' inputs are not supported (dense inputs "
                             "only)")
        return _KInput(name, _per_sample(batch_shape, where), _input_dtype(config.get("dtype"), where))

    def _note_policy(self, value: Any, where: str, optional: bool = False) -> None:
        """Keep a layer's dtype policy (float32 or float64; others refused)."""
        if value is None and optional:
            return
        name = _policy_name(value, where)
        self.policies.append((name, where))

    # -- Sequential ---------------------------------------------------------
    def _sequential(self, name: str, inner: dict, where: str) -> _KModel:
        """A Sequential model: each layer called once on the one above."""
        entries, inputs, calls = [], [], []
        previous = None
        for index, raw in enumerate(inner["layers"]):
            entry = self._entry(raw, index, where)
            entries.append(entry)
            if isinstance(entry, _KInput):
                if inputs or calls:
                    raise KerasConfigError(f"{_where(where, index, entry.keras_name, 'InputLayer')}: a Sequential "
                                           "model's InputLayer must come first")
                inputs.append(entry)
                previous = (entry, 0, 0)
                continue
            if not inputs:  # Keras 2 declared the input on the first layer
                declared = raw.get("config", {}).get("batch_input_shape") if isinstance(raw, dict) else None
                if declared is None:
                    declared = inner.get("build_input_shape")
                shape = _per_sample(declared, entry.where) if declared is not None else None
                inputs.append(_KInput("input", shape, None))
                previous = (inputs[0], 0, 0)
            call = _KCall(entry, 0, [previous])
            entry.calls.append(call)
            calls.append(call)
            previous = (entry, 0, 0)
        if not calls:
            raise KerasConfigError(f"{where or 'the model'}: the Sequential model '{name}' has no layers")
        return _KModel(name, "Sequential", where, inputs, entries, calls, [previous])

    # -- Functional ---------------------------------------------------------
    def _functional(self, name: str, class_name: str, inner: dict, where: str) -> _KModel:
        """A Functional model: its layers, their calls in order, inputs and outputs."""
        raw_entries = inner["layers"]
        legacy = any(isinstance(node, list) for raw in raw_entries if isinstance(raw, dict)
                     for node in (raw.get("inbound_nodes") or []))
        entries, by_name = [], {}
        for index, raw in enumerate(raw_entries):
            entry = self._entry(raw, index, where, legacy_nodes=legacy)
            if entry.keras_name in by_name:
                raise KerasConfigError(f"{_where(where, index, entry.keras_name, raw['class_name'])}: the name is "
                                       "taken by another layer of the model")
            entries.append(entry)
            by_name[entry.keras_name] = entry
        pending = {}
        for raw, entry in zip(raw_entries, entries):
            nodes = raw.get("inbound_nodes") or []
            if not isinstance(nodes, list):
                raise KerasConfigError(f"{entry.where if isinstance(entry, _KLayer) else where}: 'inbound_nodes' "
                                       "must be a list")
            if isinstance(entry, _KLayer):
                if not nodes:
                    raise KerasConfigError(f"{entry.where}: it is never called (no inbound node)")
                pending[entry] = [_parse_node(entry, node) for node in nodes]
        calls = _order_calls(entries, pending, by_name, where)
        for entry in entries:
            if isinstance(entry, _KLayer):
                _apply_causal(entry)
        inputs = [self._model_input(ref, by_name, where, "input_layers") for ref in
                  _structure_refs(inner.get("input_layers"), f"{where}input_layers")]
        outputs = [_resolve(ref, by_name, f"{where or 'the model'}: output_layers") for ref in
                   _structure_refs(inner.get("output_layers"), f"{where}output_layers")]
        if not inputs or not outputs:
            raise KerasConfigError(f"{where or 'the model'}: the Functional model '{name}' needs 'input_layers' and "
                                   "'output_layers'")
        return _KModel(name, class_name, where, inputs, entries, calls, outputs)

    def _model_input(self, ref, by_name: dict, where: str, key: str) -> _KInput:
        """The model input an ``input_layers`` reference names."""
        producer = by_name.get(ref[0])
        if not isinstance(producer, _KInput):
            raise KerasConfigError(f"{where or 'the model'}: {key} names '{ref[0]}', which is no InputLayer")
        return producer


def _apply_causal(layer: _KLayer) -> None:
    """Keras passes ``use_causal_mask`` to an attention layer's call;
    layerspec's layer takes it as an argument, one value for all its calls."""
    flags = {bool(call.causal) for call in layer.calls}
    if len(flags) > 1:
        raise refuse(f"{layer.where}: it is called both with and without use_causal_mask; layerspec's "
                     f"{layer.keras_class} takes one value for all its calls")
    if flags == {True}:
        layer.arguments["use_causal_mask"] = True


def _structure_refs(value: Any, where: str) -> list[tuple]:
    """``input_layers``/``output_layers``: one ``[name, node, tensor]`` or a
    list or dict of them, flattened in order."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and \
            all(isinstance(item, int) and not isinstance(item, bool) for item in value[1:]):
        return [tuple(value)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _structure_refs(item, where)]
    if isinstance(value, list):
        return [ref for item in value for ref in _structure_refs(item, where)]
    raise KerasConfigError(f"{where}: expected [layer name, node index, tensor index] entries, got "
                           f"{shown_value(value)}")


def _resolve(ref: tuple, by_name: dict, where: str) -> tuple:
    """A ``(name, node, tensor)`` reference as ``(producer, call, output)``."""
    producer = by_name.get(ref[0])
    if producer is None:
        raise KerasConfigError(f"{where}: refers to '{ref[0]}', which is no layer of the model"
                               f"{_suggestion(ref[0], by_name)}")
    if isinstance(producer, _KInput):
        if ref[1] != 0 or ref[2] != 0:
            raise KerasConfigError(f"{where}: refers to input '{ref[0]}' with node {ref[1]}, tensor {ref[2]}; an "
                                   "input has one tensor (0, 0)")
        return producer, 0, 0
    call = ref[1] - producer.node_offset
    if not 0 <= call < len(producer.calls):
        raise KerasConfigError(f"{where}: refers to call {ref[1]} of '{ref[0]}', which is called "
                               f"{len(producer.calls)} time{'s' * (len(producer.calls) != 1)}")
    if ref[2] < 0:
        raise KerasConfigError(f"{where}: refers to output {ref[2]} of '{ref[0]}'")
    return producer, call, ref[2]


def _suggestion(name: str, names) -> str:
    """``; did you mean 'x'?`` for the closest of ``names``, or nothing."""
    from .arguments import suggest

    return suggest(name, list(names))


def _order_calls(entries: list, pending: dict, by_name: dict, where: str) -> list:
    """The calls in a computing order that reads like the model was written:
    each layer's first call in the config's order, after what it reads;
    a shared layer's later call just before the first call that reads it
    (Keras itself makes all of a layer's calls at once when it loads a
    config, functional.py ``functional_from_config``; any order computing
    each call after its inputs is the same model)."""
    calls: dict = {}
    for layer, nodes in pending.items():
        layer.calls = [None] * len(nodes)
        for number, (refs, causal) in enumerate(nodes):
            calls[(layer.keras_name, number)] = (layer, number, refs, causal)
    order: list = []
    done: set = set()
    active: set = set()

    def emit(key, reader: str) -> None:
        """Place call ``key`` after the calls it reads."""
        if key in done or key not in calls:
            return  # made, or a reference to nothing (which _resolve reports)
        if key in active:
            raise KerasConfigError(f"{reader}: the graph has a loop through '{key[0]}'")
        active.add(key)
        layer, number, refs, causal = calls[key]
        for ref in refs:
            producer = by_name.get(ref[0])
            if isinstance(producer, _KLayer):
                emit((producer.keras_name, ref[1] - producer.node_offset), layer.where)
        sources = [_resolve(ref, by_name, layer.where) for ref in refs]
        call = _KCall(layer, number, sources, causal)
        layer.calls[number] = call
        order.append(call)
        active.discard(key)
        done.add(key)

    for entry in entries:
        if isinstance(entry, _KLayer) and pending.get(entry):
            emit((entry.keras_name, 0), entry.where)
    for key in calls:
        emit(key, where or "the model")
    return order


# -- inbound nodes ------------------------------------------------------------


class _Mask:
    """A mask Keras attached to a tensor itself (no layer made it): layerspec
    derives the same from Embedding(mask_zero) or Masking."""


def _tensor_ref(value: Any):
    """A Keras 3 ``__keras_tensor__`` as ``(name, node, tensor)`` (a
    :class:`_Mask` when it has no history); None for anything else."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = (value.get("config") or {}).get("keras_history")
        if history is None:
            return _Mask()
        if isinstance(history, list) and len(history) == 3 and isinstance(history[0], str):
            return _Ref(history, (value.get("config") or {}).get("shape"))
        raise KerasConfigError(f"a tensor's keras_history must be [layer, node, tensor], got {shown_value(history)}")
    return None


class _Ref(tuple):
    """A reference ``(layer name, node index, tensor index)`` to a tensor,
    with the tensor's shape where the config gives it."""

    def __new__(cls, items, shape=None):
        ref = super().__new__(cls, tuple(items))
        ref.shape = shape
        return ref


def _legacy_ref(value: Any):
    """A Keras 2 ``[layer, node, tensor(, kwargs)]`` as a reference, else None."""
    if isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) and \
            all(isinstance(item, int) for item in value[1:3]):
        return _Ref(value[:3])
    return None


def _parse_node(layer: _KLayer, node: Any) -> tuple[list, bool | None]:
    """An inbound node as ``(references in layerspec's order, use_causal_mask)``."""
    if isinstance(node, list):  # Keras 2: [[name, node, tensor, kwargs], ...]
        refs = [_legacy_ref(item) for item in node]
        if not refs or any(ref is None for ref in refs):
            raise KerasConfigError(f"{layer.where}: an inbound node must list [layer, node, tensor, kwargs] "
                                   f"entries, got {shown_value(node)}")
        kwargs = node[0][3] if len(node[0]) == 4 and isinstance(node[0][3], dict) else {}
        kwargs = {key: _legacy_kwarg(value) for key, value in kwargs.items()}
        kind = _call_kind(layer)
        args = [refs] if kind in ("list", "model") and len(refs) > 1 or kind == "list" else refs
        return _node_sources(layer, args, kwargs)
    if not isinstance(node, dict):
        raise KerasConfigError(f"{layer.where}: an inbound node must be an object with 'args' and 'kwargs', got "
                               f"{shown_value(node)}")
    args = _map_tensors(node.get("args", []), layer)
    kwargs = _map_tensors(node.get("kwargs", {}), layer)
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise KerasConfigError(f"{layer.where}: an inbound node's 'args' must be a list and its 'kwargs' an object")
    return _node_sources(layer, args, kwargs)


def _legacy_kwarg(value: Any):
    """A Keras 2 call argument with its tensors (``[layer, node, tensor]``) as references."""
    ref = _legacy_ref(value)
    if ref is not None:
        return ref
    if isinstance(value, list) and value and all(_legacy_ref(item) for item in value):
        return [_legacy_ref(item) for item in value]
    return value


def _map_tensors(value: Any, layer: _KLayer):
    """``value`` with every Keras tensor replaced by its reference."""
    ref = _tensor_ref(value)
    if ref is not None:
        return ref
    if isinstance(value, list):
        return [_map_tensors(item, layer) for item in value]
    if isinstance(value, dict):
        if value.get("class_name") in ("__tensor__", "__numpy__"):
            return _Constant(value)
        return {key: _map_tensors(item, layer) for key, item in value.items()}
    return value


@dataclass
class _Constant:
    """A constant array passed to a call (``__tensor__``, ``__numpy__``)."""

    value: dict


def _is_ref(value: Any) -> bool:
    """Whether a call argument is a tensor reference."""
    return isinstance(value, tuple)


def _call_kind(layer: _KLayer) -> str:
    """How a layer takes tensors (see :class:`KerasClass`): ``model`` and
    ``op`` for nested models and operations."""
    if layer.kind == "model":
        return "model"
    if layer.kind == "op":
        return "op"
    return KERAS_CLASSES[layer.keras_class].call


def _no_mask(value: Any) -> bool:
    """Whether a ``mask`` call argument carries nothing layerspec would not
    derive itself: null, or masks Keras attached to the tensors."""
    if value is None or isinstance(value, _Mask):
        return True
    return isinstance(value, list) and all(_no_mask(item) for item in value)


def _node_sources(layer: _KLayer, args: list, kwargs: dict) -> tuple[list, bool | None]:
    """The tensors a call reads, in layerspec's order (an attention layer's
    query, value, key; a recurrent layer's sequence, then its initial
    states), and its ``use_causal_mask``; every other call argument is one
    layerspec derives itself (``mask``, ``training``) or an error."""
    kind = _call_kind(layer)
    where = layer.where
    causal = None
    states: list = []
    named = {}
    for key, value in kwargs.items():
        if key == "training":
            continue  # Keras's functional call passes the model's own flag (functional.py operation_fn)
        if key in ("mask", "query_mask", "value_mask", "key_mask", "attention_mask"):
            if not _no_mask(value):
                raise refuse(f"{where}: it is called with '{key}' from another tensor; layerspec derives masks "
                             "from Embedding(mask_zero) and Masking only")
            continue
        if key == "use_causal_mask" and layer.keras_class in ("MultiHeadAttention", "Attention",
                                                              "AdditiveAttention"):
            if not isinstance(value, bool):
                raise KerasConfigError(f"{where}: call argument 'use_causal_mask' must be true or false")
            causal = value
            continue
        if key == "return_attention_scores" and kind in ("attention", "list"):
            if value:
                raise refuse(f"{where}: 'return_attention_scores: true' is not supported (the scores are no "
                             "output of a layerspec layer)")
            continue
        if key == "initial_state" and kind == "recurrent":
            states = value if isinstance(value, list) else [value]
            continue
        if key in ("query", "value", "key") and kind == "attention":
            named[key] = value
            continue
        raise refuse(f"{where}: call argument '{key}' is not supported")
    if kind == "op":
        return _op_sources(layer, args), None
    if kind == "attention":
        slots = dict(zip(("query", "value", "key"), args))
        if len(args) > 3:
            raise refuse(f"{where}: it is called with {len(args)} positional arguments")
        slots.update(named)
        refs = [slots[key] for key in ("query", "value", "key") if slots.get(key) is not None]
        if len(refs) < 2 or "query" not in slots or "value" not in slots:
            raise KerasConfigError(f"{where}: it must be called with a query and a value")
        if all(ref == refs[0] for ref in refs):
            refs = refs[:1]  # self-attention: one input is query, value and key
    elif kind == "recurrent":
        if len(args) > 2:
            raise refuse(f"{where}: it is called with {len(args)} positional arguments")
        if len(args) == 2:
            states = args[1] if isinstance(args[1], list) else [args[1]]
        refs = args[:1] + list(states)
    elif kind in ("list", "model"):
        if len(args) != 1:
            raise refuse(f"{where}: it is called with {len(args)} positional arguments; it takes one "
                         f"{'list of tensors' if kind == 'list' else 'tensor or list of tensors'}")
        first = args[0]
        refs = list(first.values()) if isinstance(first, dict) else first if isinstance(first, list) else [first]
    else:
        if len(args) != 1:
            raise refuse(f"{where}: it is called with {len(args)} positional arguments; it takes one tensor")
        refs = args
    for ref in refs:
        if not _is_ref(ref):
            raise refuse(f"{where}: it is called with {shown_value(ref)} where layerspec reads only tensors made by "
                         "the model")
    return refs, causal


def _op_sources(layer: _KLayer, args: list) -> list:
    """An operation node's tensors; what it computes with them becomes a
    layer (:func:`_op_layer`)."""
    if layer.our_class is not None:
        raise refuse(f"{layer.where}: an operation called more than once is not supported")
    layer.our_class, layer.arguments = _op_layer(layer, args)
    return [item for item in args if _is_ref(item)]


def _op_layer(layer: _KLayer, args: list) -> tuple[type, dict]:
    """The layer computing what an operation node computes: an activation,
    a merge of two tensors of one rank, or ``x * scale + offset``."""
    from .registry import lookup

    where, name = layer.where, layer.keras_class
    config = {key: value for key, value in layer.arguments.items() if key not in ("name", "dtype")}
    refs = [item for item in args if _is_ref(item)]
    constants = [item for item in args if not _is_ref(item)]
    if any(not is_number(item) for item in constants):
        raise refuse(f"{where}: the operation {name} is called with {shown_value(constants[0])}; layerspec maps "
                     "operations on tensors and single numbers only")
    if name in OP_ACTIVATIONS and len(args) == 1 and refs:
        activation = {"name": OP_ACTIVATIONS[name], **OP_DEFAULTS.get(name, {}), **config}
        return lookup("Activation"), {"activation": _checked_activation(activation, where)}
    if name in OP_MERGES and len(refs) == 2 and not constants:
        shapes = [ref.shape for ref in refs]
        if None in shapes or len(shapes[0]) != len(shapes[1]):
            raise refuse(f"{where}: the operation {name} of tensors of shapes {shown_value(shapes[0])} and "
                         f"{shown_value(shapes[1])} broadcasts across the batch axis, which no layerspec merge does")
        return lookup(OP_MERGES[name]), {}
    if len(args) == 2 and len(refs) == 1 and not config:
        constant = float(constants[0])
        tensor_first = _is_ref(args[0])
        scaled = {"Add": (1.0, constant), "Multiply": (constant, 0.0),
                  "Subtract": (1.0, -constant) if tensor_first else (-1.0, constant)}
        if name in ("Divide", "TrueDivide") and tensor_first and constant != 0:
            scaled[name] = (1.0 / constant, 0.0)
        if name in scaled:
            scale, offset = scaled[name]
            return lookup("Rescaling"), {"scale": scale, "offset": offset}
    if name == "Negative" and len(args) == 1 and refs:
        return lookup("Rescaling"), {"scale": -1.0}
    raise refuse(f"{where}: the operation {layer.module}.{name} on {len(refs)} tensor"
                 f"{'s' * (len(refs) != 1)} and {len(constants)} number{'s' * (len(constants) != 1)} has no "
                 "layerspec equivalent")


# -- arguments ------------------------------------------------------------------


def _read_arguments(class_name: str, config: dict, where: str, wrapper: str | None = None) -> tuple[type, dict]:
    """A layer's Keras config as ``(layerspec class, arguments)``; every key
    is an argument, a Keras-only key with an accepted value, or an error."""
    from .registry import arguments_of, lookup

    our_class = lookup(class_name)
    accepted = arguments_of(our_class)
    arguments: dict[str, Any] = {}
    for key, value in config.items():
        if key in ("name", "dtype"):
            continue
        if key == "trainable":
            if not isinstance(value, bool):
                raise KerasConfigError(f"{where}: 'trainable' must be true or false, got {shown_value(value)}")
            arguments["trainable"] = value
        elif key in ("layer", "backward_layer") and key in accepted:
            arguments[key] = None if value is None else _wrapped_mapping(value, f"{where} > {key}", class_name, key)
        elif key not in accepted and keras_only(class_name, key) is not None:
            _check_keras_only(class_name, key, value, where)
        elif key == "zero_output_for_mask" and wrapper == "Bidirectional":
            continue  # Bidirectional sets it from return_sequences (bidirectional.py force_zero_output_for_mask)
        elif key in accepted:
            arguments[key] = _import_value(key, value, f"{where}: argument '{key}'")
        else:
            raise refuse(f"{where}: argument '{key}' is not supported by layerspec's {class_name}")
    return our_class, arguments


def _check_keras_only(class_name: str, key: str, value: Any, where: str) -> None:
    """Refuse a Keras-only key whose value layerspec cannot leave out."""
    accepted, _, reason = keras_only(class_name, key)
    if accepted is ANY or any(value is item or (type(value) is type(item) and value == item) for item in accepted):
        return
    shown = " or ".join("null" if item is None else str(item).lower() if isinstance(item, bool) else str(item)
                        for item in accepted)
    raise refuse(f"{where}: argument '{key}' must be {shown}, got {shown_value(value)} ({reason})")


def _wrapped_mapping(config: Any, where: str, wrapper: str, argument: str) -> dict:
    """A wrapped layer's serialized config as the mapping a spec writes
    (``{type: LSTM, units: 6, name: lstm, ...}``): Bidirectional's forward
    layer named after the layer it copies (``forward_lstm`` → ``lstm``)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise KerasConfigError(f"{where}: must be a serialized layer with a 'class_name'")
    class_name = config["class_name"]
    inner = config.get("config", {})
    if not isinstance(inner, dict):
        raise KerasConfigError(f"{where} ({class_name}): 'config' must be an object")
    name = inner.get("name")
    where = f"{where} '{name}' ({class_name})"
    if class_name in REFUSED_CLASSES:
        raise refuse(f"{where}: layerspec cannot import a {class_name} layer: {REFUSED_CLASSES[class_name]}")
    if class_name not in KERAS_CLASSES:
        raise refuse(f"{where}: unknown or unsupported Keras layer class '{class_name}'")
    our_class, arguments = _read_arguments(class_name, inner, where, wrapper)
    if wrapper == "Bidirectional" and argument == "layer" and isinstance(name, str):
        name = name.removeprefix("forward_")
    mapping = {"type": class_name, **arguments}
    if isinstance(name, str) and name:
        mapping["name"] = name
    mapping["__shape__"] = _built_shape(config.get("build_config"))
    return mapping


def _import_value(key: str, value: Any, where: str):
    """A Keras config value as a layerspec argument (checked later by the
    layer's own argument kinds)."""
    if key.endswith("_initializer") or key == "initializer":
        return _import_initializer(value, where)
    if key in ("activation", "recurrent_activation"):
        return _import_activation(value, where)
    return _plain(value, where)


def _plain(value: Any, where: str):
    """A config value as plain data (``__numpy__`` arrays as lists)."""
    if isinstance(value, dict):
        if value.get("class_name") == "__numpy__" and isinstance(value.get("config"), dict):
            return _plain(value["config"].get("value"), where)
        if value.get("class_name") == "__tuple__" and isinstance(value.get("config"), dict):
            return [_plain(item, where) for item in value["config"].get("value", [])]
        if "class_name" in value:
            raise refuse(f"{where}: a serialized {value['class_name']} object is not supported")
        return {key: _plain(item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, where) for item in value]
    return value


def _import_initializer(value: Any, where: str):
    """``{"class_name": "GlorotUniform", "config": {...}}`` → ``"glorot_uniform"``,
    or ``{type: random_normal, stddev: 0.1}`` when an argument differs from
    the initializer's default."""
    from . import initializers

    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise KerasConfigError(f"{where}: expected an initializer, got {shown_value(value)}")
    class_name = value["class_name"]
    known = INITIALIZERS.get(class_name)
    if known is None:
        snake = {ours: keras for keras, (ours, _) in INITIALIZERS.items()}
        known = INITIALIZERS.get(snake.get(class_name, ""))
    if known is None:
        raise refuse(f"{where}: initializer {class_name} is not supported (layerspec has "
                     f"{', '.join(sorted(INITIALIZERS))})")
    ours, _ = known
    config = value.get("config") or {}
    if not isinstance(config, dict):
        raise KerasConfigError(f"{where}: the initializer's 'config' must be an object")
    defaults = initializers.get(ours).config()
    for key, item in config.items():
        if key in ("input_axes", "output_axes"):
            if item is not None:
                raise refuse(f"{where}: initializer {class_name} with {key} {shown_value(item)} is not supported "
                             "(layerspec takes the fans from the weight's shape)")
        elif key not in defaults:
            raise refuse(f"{where}: initializer {class_name} has no argument '{key}' in layerspec")
    arguments = {key: _plain(config[key], where) for key in defaults  # in layerspec's order
                 if key in config and not same_value(config[key], defaults[key])}
    return ours if not arguments else {"type": ours, **arguments}


def _import_activation(value: Any, where: str):
    """A Keras activation: its name, or a registered function layerspec knows."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        name = value.get("registered_name") or value.get("config")
        if name in REGISTERED_ACTIVATIONS:
            return dict(REGISTERED_ACTIVATIONS[name])
        raise refuse(f"{where}: activation {shown_value(name)} is a custom function, which layerspec does not have "
                     "(a Keras activation is saved by name)")
    raise KerasConfigError(f"{where}: expected an activation name, got {shown_value(value)}")


def _checked_activation(mapping: dict, where: str):
    """An activation mapping, normalised, or a refusal naming the layer."""
    from . import activations
    from .errors import ArgumentError

    try:
        return activations.normalise(mapping)
    except ArgumentError as error:
        raise refuse(f"{where}: {error.message}") from None


def _built_shape(build_config: Any):
    """The input shape Keras built a layer for: the first (query,
    sequence) shape of its ``build_config``, or None."""
    if not isinstance(build_config, dict):
        return None
    if "input_shape" in build_config:
        return build_config["input_shape"]
    shapes = build_config.get("shapes_dict")
    if isinstance(shapes, dict):
        for key in ("query_shape", "sequences_shape", "inputs_shape"):
            if key in shapes:
                return shapes[key]
    return None


def _per_sample(batch_shape: Any, where: str) -> tuple | None:
    """``[null, 28, 28, 1]`` → ``(28, 28, 1)``."""
    if batch_shape is None:
        return None
    if not isinstance(batch_shape, list) or not batch_shape or any(
            item is not None and (not isinstance(item, int) or isinstance(item, bool) or item < 0)
            for item in batch_shape):
        raise KerasConfigError(f"{where}: the input shape must be a list of sizes (null for unknown), got "
                               f"{shown_value(batch_shape)}")
    return tuple(batch_shape[1:])


def _input_dtype(value: Any, where: str) -> str | None:
    """An input's dtype: None for floats (the model's), int32 or int64."""
    name = _policy_name(value, where) if isinstance(value, dict) else value
    if name in (None, "float32", "float64"):
        return None
    if name in ("int32", "int64"):
        return name
    raise refuse(f"{where}: input dtype {shown_value(name)} is not supported (float32, float64, int32 or int64)")


def _policy_name(value: Any, where: str) -> str:
    """A layer's dtype policy: ``float32`` or ``float64``; others refused."""
    name = value
    if isinstance(value, dict):
        config = value.get("config")
        name = config.get("name") if isinstance(config, dict) else None
    if name is None:
        return "float32"
    if name in ("float32", "float64"):
        return name
    raise refuse(f"{where}: dtype policy {shown_value(name)} is not supported: layerspec computes in float32 or "
                 "float64 throughout (no mixed precision)")


# --------------------------------------------------------------------------
# import: writing the spec


def spec_from_config(config: dict, name: str | None = None) -> tuple[str, list[KerasLayerInfo]]:
    """A Keras model config as spec text, and what the spec calls each layer.

    Args:
        config: the model's config as ``config.json`` holds it (``{"module",
            "class_name": "Sequential"|"Functional", "config": {...}}``),
            a Keras 2 ``model_config``, or ``model.to_json()`` parsed.
        name: the spec's ``name`` (default: the model's).

    Returns:
        ``(spec text, infos)``: the spec reads like a hand-written one (a
        chain is a plain list, names and arguments are written only where
        they differ from layerspec's automatic ones and defaults, a nested
        model is a block named as the model, shared by nested models written
        alike); ``infos`` has one
        :class:`KerasLayerInfo` per entry of the config's ``layers`` lists,
        in order, nested models' entries right after the model's own.

    Raises:
        KerasConfigError: for anything layerspec cannot read, naming the
            layer and its place: ``layers[3] 'conv2d_1' (Conv2D): argument
            'groups' ...``.
    """
    reader = _Reader()
    top = reader.model(config)
    dtype = _model_dtype(reader.policies)
    title = name if name is not None else top.name
    try:
        return _Writer(explicit=False).write(top, dtype, title)
    except _NamesDiffer:
        # Every name written out: longer, but the same model.
        return _Writer(explicit=True).write(top, dtype, title)


def _model_dtype(policies: list[tuple[str, str]]) -> str:
    """float64 when every layer computes in it, float32 when all do in that."""
    names = {name for name, _ in policies}
    if len(names) > 1:
        odd = next(where for name, where in policies if name != policies[0][0])
        raise refuse(f"{odd}: its dtype policy differs from the other layers' ({policies[0][0]}); a layerspec "
                     "model computes in one dtype")
    return names.pop() if names else "float32"


class _NamesDiffer(Exception):
    """An automatic name layerspec would give is not the one expected."""


class _StandIn:
    """Marks a nested model's application in its container's graph."""


def _stand_in(name: str, block: "_Block"):
    """A layer standing for a nested model in its container's graph, so that
    :mod:`layerspec.writing` writes its entry (then given the block's type)."""
    from .layers.base import Layer

    class NestedModel(Layer, _StandIn):
        """The nested model, as a layer of its container."""

        takes_several_inputs = block.inputs > 1
        accepts_single_input = False
        output_names = block.output_names

    layer = NestedModel(name=name)
    layer.block_name = block.name
    return layer


#: Keras's automatic input names (Keras 3 ``input_layer``, Keras 2 ``input_1``).
_AUTO_INPUT = re.compile(r"input(_layer)?(_\d+)?\Z")


def _is_auto_input(kmodel: _KModel) -> bool:
    """Whether a one-input model's input has the name Keras gives an unnamed
    one: ``input_layer`` (Keras 3), ``input_1`` (Keras 2), or in a Keras 2
    Sequential its first layer's name and ``_input``."""
    name = kmodel.inputs[0].keras_name
    if _AUTO_INPUT.match(name):
        return True
    first = next((entry for entry in kmodel.entries if isinstance(entry, _KLayer)), None)
    return kmodel.kind == "Sequential" and first is not None and name == f"{first.keras_name}_input"


@dataclass
class _Block:
    """A nested model written as a block."""

    name: str
    inputs: int
    output_names: list | None


class _Writer:
    """Writes a read config as a spec: each model (the top one and each
    nested one) built as a layerspec model and written by
    :func:`layerspec.writing.spec_document`."""

    def __init__(self, explicit: bool):
        #: Write every name (when the automatic names would differ).
        self.explicit = explicit
        self.blocks: dict[str, dict] = {}
        self.infos: list[KerasLayerInfo] = []

    def write(self, top: _KModel, dtype: str, title: str) -> tuple[str, list[KerasLayerInfo]]:
        """The spec text of the top model, checked by loading it, and the infos."""
        document, _ = self._model(top, dtype, (), title)
        text = _text(document, self.blocks)
        _verify(text, self.infos, self.explicit)
        return text, self.infos

    # -- one model ------------------------------------------------------------
    def _model(self, kmodel: _KModel, dtype: str, path: tuple, title: str | None) -> tuple[dict, object]:
        """One model (``path``: the nested models it sits in) as a spec document, and the model written."""
        from .graph import Graph, GraphInput, Node
        from .model import Model
        from .writing import spec_document

        top = not path
        prefix = "".join(f"{part}/" for part in path)
        self._name_inputs(kmodel, top)
        prepared: dict[_KLayer, Any] = {}
        for entry in kmodel.entries:
            if isinstance(entry, _KInput):
                self.infos.append(KerasLayerInfo("InputLayer", entry.keras_name, prefix + entry.name, path))
                continue
            self.infos.append(KerasLayerInfo(entry.keras_class, entry.keras_name, prefix + entry.keras_name, path,
                                             entry.module))
            if entry.kind == "model":
                prepared[entry] = self._block(entry, dtype, path + (entry.keras_name,))
            else:
                prepared[entry] = _minimal_arguments(entry)
        names = self._names(kmodel, prepared)
        objects = {entry: self._construct(entry, prepared[entry], names) for entry in prepared}
        inputs = [GraphInput(item.name, item.shape, item.dtype) for item in kmodel.inputs]
        position = {item: index for index, item in enumerate(kmodel.inputs)}
        first: dict[_KLayer, Node] = {}
        nodes = []
        for call in kmodel.calls:
            node = Node(objects[call.layer], tuple(self._source(source, position)
                                                  for source in call.sources))
            if call.number:
                node.reuses = first[call.layer]
            else:
                first[call.layer] = node
            nodes.append(node)
            position[(call.layer, call.number)] = len(inputs) + len(nodes) - 1
        outputs = [self._source(source, position) for source in kmodel.outputs]
        graph = Graph(inputs, nodes, outputs)
        chain = _is_chain(graph)
        plain_input = top and chain and len(inputs) == 1 and inputs[0].name == "input" and inputs[0].dtype is None
        model = Model(graph=graph, name=title or kmodel.name, dtype=dtype, is_graph=not plain_input)
        self._check_names(model, kmodel, names, objects)
        document = spec_document(model)
        self._patch_stand_ins(document, model)
        if top and not plain_input and set(document.get("inputs", {})) == {"input"} and \
                not isinstance(document["inputs"]["input"], dict):
            document = _replace_key(document, "inputs", "input", document["inputs"]["input"])
        return document, model

    def _name_inputs(self, kmodel: _KModel, top: bool) -> None:
        """Model inputs keep their Keras names, but for Keras's automatic
        name of a one-input model (``input``, as ``input:`` names it) and a
        nested model's one input (a block's ``in``)."""
        from .blocks import BLOCK_INPUT

        for item in kmodel.inputs:
            item.name = item.keras_name
        if len(kmodel.inputs) == 1:
            if not top:
                kmodel.inputs[0].name = BLOCK_INPUT
            elif _is_auto_input(kmodel):
                kmodel.inputs[0].name = "input"

    @staticmethod
    def _source(source: tuple, position: dict):
        """A call's source as a graph source: a tensor number, or ``(tensor, output)``."""
        producer, number, output = source
        tensor = position[producer] if isinstance(producer, _KInput) else position[(producer, number)]
        return (tensor, output) if output else tensor

    # -- names ----------------------------------------------------------------
    def _names(self, kmodel: _KModel, prepared: dict) -> dict:
        """Each layer's (and wrapped layer's) name to write, or None where
        layerspec's automatic name is the Keras one. Numbered as a model
        numbers its layers: per type, in the order of first use, wrapped
        layers before their wrapper (:mod:`layerspec.naming`)."""
        from .layers.base import snake_case
        from .registry import lookup

        counters: dict[str, int] = {}
        written: dict = {}

        def decide(key, layer_class: type, wanted: str):
            """Write ``wanted``, or leave it to the counter when it is the next automatic name."""
            base = snake_case(layer_class.__name__)
            count = counters.get(base, 0)
            automatic = base if count == 0 else f"{base}_{count}"
            if wanted == automatic and not self.explicit:
                counters[base] = count + 1
                written[key] = None
            else:
                written[key] = wanted

        for call in kmodel.calls:
            layer = call.layer
            if call.number or layer.kind == "model":
                continue
            _, arguments = prepared[layer]
            for argument in ("layer", "backward_layer"):
                mapping = arguments.get(argument)
                if isinstance(mapping, dict) and isinstance(mapping.get("name"), str):
                    decide((layer, argument), lookup(mapping["type"]), mapping["name"])
            decide(layer, layer.our_class, layer.keras_name)
        return written

    def _construct(self, entry: _KLayer, prepared, names: dict):
        """The layer object of an entry (a stand-in for a nested model)."""
        from .errors import LayerspecError as Error

        if entry.kind == "model":
            return _stand_in(entry.keras_name, prepared)
        layer_class, arguments = prepared
        arguments = dict(arguments)
        for argument in ("layer", "backward_layer"):
            mapping = arguments.get(argument)
            if isinstance(mapping, dict):
                mapping = {key: value for key, value in mapping.items() if key != "name"}
                if names.get((entry, argument)):
                    mapping["name"] = names[(entry, argument)]
                arguments[argument] = mapping
        if names.get(entry):
            arguments["name"] = names[entry]
        try:
            return layer_class(**arguments)
        except Error as error:
            raise refuse(f"{entry.where}: {error.message}") from None

    def _check_names(self, model, kmodel: _KModel, names: dict, objects: dict) -> None:
        """The names layerspec gave are the Keras ones (else the caller
        writes every name)."""
        for entry, layer in objects.items():
            if entry.kind == "model":
                continue
            if layer.name != entry.keras_name:
                raise _NamesDiffer
            for argument in ("layer", "backward_layer"):
                key = (entry, argument)
                if key in names:
                    wanted = entry.arguments[argument]["name"]
                    if getattr(layer, argument).name != wanted:
                        raise _NamesDiffer

    # -- nested models ------------------------------------------------------------
    def _block(self, entry: _KLayer, dtype: str, path: tuple) -> _Block:
        """Write a nested model as a block, named as the model where it can
        be; nested models written alike share one block."""
        document, model = self._model(entry.nested, dtype, path, None)
        definition: dict[str, Any] = {}
        if len(model.input_names) > 1:
            definition["inputs"] = list(model.input_names)
        definition["layers"] = document["layers"]
        outputs = model.output_names
        if "outputs" in document or len(outputs) > 1:
            definition["outputs"] = document.get("outputs", list(outputs))
        name = next((known for known, written in self.blocks.items() if written == definition), None)
        if name is None:
            name = self._block_name(entry.keras_name)
            self.blocks[name] = definition
        return _Block(name, len(model.input_names), list(outputs) if len(outputs) > 1 else None)

    def _block_name(self, wanted: str) -> str:
        """A free block name like ``wanted``: an identifier, no layer type,
        not ``in``; a second block wanted under one name is ``name_v2``."""
        from .blocks import BLOCK_INPUT
        from .registry import lookup

        base = re.sub(r"\W", "_", wanted)
        if not base or base[0].isdigit():
            base = "m_" + base
        candidate, number = base, 1
        while True:
            taken = candidate in self.blocks or candidate == BLOCK_INPUT
            if not taken:
                try:
                    lookup(candidate)
                    taken = True
                except LayerspecError:
                    pass
            if not taken:
                return candidate
            number += 1
            candidate = f"{base}_v{number}"

    @staticmethod
    def _patch_stand_ins(document: dict, model) -> None:
        """A nested model's entry: ``type:`` its block, ``name:`` only where
        the application's automatic name is not the model's (an unnamed
        application is named after its block, numbered per block:
        blocks.py ``_name_entries``)."""
        layers = document["layers"]
        offset = len(layers) - len(model.nodes)
        counters: dict[str, int] = {}
        for node in model.nodes:
            if not isinstance(node.layer, _StandIn) or node.reuses is not None:
                continue
            entry = layers[offset + node.index]
            block = node.layer.block_name
            count = counters.get(block, 0)
            automatic = entry.get("name") == (block if count == 0 else f"{block}_{count}")
            if automatic:
                counters[block] = count + 1
            patched = {"type": block}
            patched.update((key, value) for key, value in entry.items()
                           if key != "type" and not (key == "name" and automatic))
            layers[offset + node.index] = patched


def _replace_key(document: dict, old: str, new: str, value: Any) -> dict:
    """``document`` with key ``old`` renamed ``new`` in place, holding ``value``."""
    return {(new if key == old else key): (value if key == old else item) for key, item in document.items()}


def _is_chain(graph) -> bool:
    """Whether every node reads the one above it (the first, the one input),
    none reuses a layer and the last is the one output."""
    if len(graph.inputs) != 1 or not graph.nodes:
        return False
    for node in graph.nodes:
        expected = graph.tensor_of(node) - 1 if node.index else 0
        if node.reuses is not None or node.sources != (expected,):
            return False
    return graph.outputs == (graph.tensor_of(graph.nodes[-1]),)


def _minimal_arguments(entry: _KLayer) -> tuple[type, dict]:
    """``(class, arguments)`` with every argument dropped whose layerspec
    default gives the same Keras config (``strides`` equal to
    ``pool_size``, ``activation: linear``...)."""
    arguments = dict(entry.arguments)
    for argument in ("layer", "backward_layer"):
        mapping = arguments.get(argument)
        if isinstance(mapping, dict):
            arguments[argument] = _minimal_mapping(mapping)
    if "backward_layer" in arguments and isinstance(arguments.get("layer"), dict) and \
            _is_default_backward(arguments["layer"], arguments["backward_layer"]):
        del arguments["backward_layer"]
    keras_class = entry.our_class.__name__
    return entry.our_class, _minimise(entry.our_class, keras_class, arguments, entry.shape)


def _minimal_mapping(mapping: dict) -> dict:
    """A wrapped layer's mapping with its default arguments dropped."""
    from .registry import lookup

    mapping = dict(mapping)
    shape = mapping.pop("__shape__", None)
    name = mapping.pop("name", None)
    layer_class = lookup(mapping["type"])
    arguments = {key: value for key, value in mapping.items() if key != "type"}
    minimal = {"type": mapping["type"], **_minimise(layer_class, layer_class.__name__, arguments, shape)}
    if name is not None:
        minimal["name"] = name
    return minimal


def _is_default_backward(layer: dict, backward: dict | None) -> bool:
    """Whether ``backward_layer`` is the one Keras's Bidirectional makes from
    ``layer`` (bidirectional.py: its config, going backwards, renamed)."""
    if backward is None:
        return True
    made = dict(layer)
    made["go_backwards"] = not layer.get("go_backwards", False)
    if not made["go_backwards"]:
        del made["go_backwards"]
    made["name"] = "backward_" + str(layer.get("name", "")).removeprefix("backward_")
    return made == backward


def _minimise(layer_class: type, keras_class: str, arguments: dict, shape: Any) -> dict:
    """``arguments`` without those whose removal leaves the Keras config of
    the layer (built for ``shape``) as it is."""
    from .errors import LayerspecError as Error

    if keras_class not in KERAS_CLASSES:
        return arguments

    def exported(trial: dict):
        """The Keras config of the layer made with ``trial``, its name left out."""
        layer = layer_class(**trial)
        config = layer_config(layer, keras_class, shape, "float32", "")
        del config["name"]
        return config

    try:
        target = exported(arguments)
    except Error:
        return arguments
    keys = KERAS_CLASSES[keras_class].keys
    result = dict(arguments)
    for key in list(arguments):
        if key not in keys:
            continue
        trial = {name: value for name, value in result.items() if name != key}
        try:
            if exported(trial) == target:
                result = trial
        except Error:
            continue
    return result


def _text(document: dict, blocks: dict) -> str:
    """The spec as :func:`layerspec.writing.to_yaml` writes one (one layer
    per line), with the blocks nested models became after its name."""
    from .writing import _dump_flow

    lines = []
    for key, value in document.items():
        if key == "layers":
            lines.append("layers:")
            lines.extend(f"  - {_dump_flow(entry)}" for entry in value)
        elif isinstance(value, dict):
            lines.append(f"{key}:")
            lines.extend(f"  {_dump_flow(name)}: {_dump_flow(shape)}" for name, shape in value.items())
        else:
            lines.append(f"{key}: {_dump_flow(value)}")
        if key == "name" and blocks:
            lines.append("blocks:")
            for name, definition in blocks.items():
                lines.append(f"  {name}:")
                for part, content in definition.items():
                    if part == "layers":
                        lines.append("    layers:")
                        lines.extend(f"      - {_dump_flow(entry)}" for entry in content)
                    else:
                        lines.append(f"    {part}: {_dump_flow(content)}")
    return "\n".join(lines) + "\n"


def _verify(text: str, infos: list[KerasLayerInfo], explicit: bool) -> None:
    """Load the written spec: it must build (when its input shapes are known)
    and give each layer the name the infos promise."""
    from .api import loads
    from .errors import LayerspecError as Error

    try:
        model = loads(text)
    except Error as error:
        raise KerasConfigError(f"the model reads, but layerspec cannot build it: {error}") from None
    made = {node.name for node in model.nodes} | set(model.input_names)
    promised = {info.our_name for info in infos if info.keras_class not in ("InputLayer", *MODEL_CLASSES)}
    if not promised <= made:
        if not explicit:
            raise _NamesDiffer
        missing = sorted(promised - made)
        raise KerasConfigError(f"internal error: the written spec has no layer {missing[0]!r}")
