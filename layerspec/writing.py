"""A model written back as a spec: ``model.to_yaml()``.

The spec reads like a hand-written one: arguments left at their defaults
are omitted, automatic names are left implicit (loading gives the same
ones), ``inputs`` is written only where a layer does not read the layer
above, and a plain stack stays a plain stack. Loading it gives the same
model: the same layers, names and weight keys.
"""

from __future__ import annotations

import inspect
from typing import Any

import yaml

from .errors import LayerspecError


def spec_document(model) -> dict:
    """The spec of ``model`` as a plain dict (what :func:`to_yaml` writes).

    Raises:
        LayerspecError: for a model expanded from blocks: its layers' path
            names (``residual_1/conv2d``) cannot be written as layer names,
            and its spec is the file it came from.
    """
    expanded = next((node for node in model.nodes if node.scope), None)
    if expanded is not None:
        raise LayerspecError(f"'{model.name}' was expanded from blocks (layer '{expanded.name}'): write its spec "
                             "with its blocks (the file it came from); to_yaml writes models whose layers have "
                             "plain names")
    document: dict[str, Any] = {"name": model.name}
    _put_inputs(document, model)
    if model.dtype != "float32":
        document["dtype"] = model.dtype
    explicit = _named_reuses(model)
    document["layers"] = _input_entries(model) + [_entry(model, node, node in explicit) for node in model.nodes]
    last = model.graph.tensor_of(model.nodes[-1])
    if model.is_graph and model.graph.outputs != (last,):
        names = model.output_names
        document["outputs"] = names[0] if len(names) == 1 else names
    return document


def to_yaml(model) -> str:
    """``model`` as spec text: one layer per line, as people write specs."""
    document = spec_document(model)
    lines = []
    for key, value in document.items():
        if key == "layers":
            lines.append("layers:")
            lines.extend(f"  - {_dump_flow(entry)}" for entry in value)
        elif isinstance(value, dict):  # named inputs: one per line
            lines.append(f"{key}:")
            lines.extend(f"  {_dump_flow(name)}: {_dump_flow(shape)}" for name, shape in value.items())
        else:
            lines.append(f"{key}: {_dump_flow(value)}")
    return "\n".join(lines) + "\n"


def _put_inputs(document: dict, model) -> None:
    inputs = model.graph.inputs
    if not model.is_graph and inputs[0].name == "input" and inputs[0].dtype is None:
        if inputs[0].shape is not None:
            document["input"] = list(inputs[0].shape)
        return
    if not model.is_graph:
        return  # a stack with a named or typed input: an Input entry heads its layers (see spec_document)
    document["inputs"] = {item.name: (list(item.shape) if item.dtype is None
                                      else {"shape": list(item.shape), "dtype": item.dtype})
                          for item in inputs}


def _input_entries(model) -> list[dict]:
    """A stack whose input has a name or dtype of its own keeps it as an
    ``Input`` entry, so it loads back as a stack, not a graph."""
    item = model.graph.inputs[0]
    if model.is_graph or (item.name == "input" and item.dtype is None):
        return []
    entry = {"type": "Input", "shape": None if item.shape is None else list(item.shape), "name": item.name}
    if item.dtype is not None:
        entry["dtype"] = item.dtype
    return [entry]


def _named_reuses(model) -> set:
    """The reuse nodes whose names a spec must write: those the reader would
    not give them (``encoder_reuse``, ``encoder_reuse_1``, ... in order,
    skipping the names taken — see ``naming.reuse_names``)."""
    from .naming import reuse_names

    reuses = [node for node in model.nodes if node.reuses is not None]
    taken = {node.name for node in model.nodes if node.reuses is None} | set(model.input_names)
    explicit: set = set()
    while True:  # each round only adds names, so this ends within len(reuses) rounds
        names = reuse_names([(node.reuses.name, node.name if node in explicit else None) for node in reuses], taken)
        wrong = {node for node, name in zip(reuses, names) if name != node.name} - explicit
        if not wrong:
            return explicit
        explicit |= wrong


def _entry(model, node, named_reuse: bool = False) -> dict:
    from .registry import display_name

    graph = model.graph
    entry: dict[str, Any] = {}
    if node.reuses is not None:
        entry["reuse"] = node.reuses.name
        if named_reuse:
            entry["name"] = node.name
    else:
        layer = node.layer
        entry["type"] = display_name(type(layer))
        if layer.has_explicit_name:
            entry["name"] = layer.name
        entry.update(_changed_arguments(layer))
    # What a spec entry reads when it names nothing: the entry above; the
    # first entry, the first model input.
    default = graph.tensor_of(node) - 1 if node.index else 0
    # With several model inputs, which one a layer reads is worth saying.
    reads_an_input = len(graph.inputs) > 1 and any(source < len(graph.inputs) for source in node.sources)
    # A layer taking a list (a merge) names its inputs, unless it may read
    # the layer above alone (self-attention, a recurrent layer) and does.
    listed = node.several_inputs and not (getattr(node.layer, "accepts_single_input", False)
                                          and len(node.sources) == 1)
    if node.sources != (default,) or listed or reads_an_input:
        names = [graph.tensor_name(source) for source in node.sources]
        entry["inputs"] = names[0] if len(names) == 1 and not node.several_inputs else names
    return entry


def _changed_arguments(layer) -> dict:
    """The layer's constructor arguments that differ from their defaults, as YAML data."""
    from .layers.base import evaluated_signature, normalised_default

    parameters = evaluated_signature(type(layer).__init__).parameters
    changed = {}
    for name, value in layer.get_config().items():
        if name == "name":
            continue
        parameter = parameters.get(name)
        if name == "trainable":
            if value is not True:
                changed[name] = value
            continue
        default = parameter.default if parameter is not None else inspect.Parameter.empty
        if default is not inspect.Parameter.empty and value == normalised_default(parameter.annotation, name, default):
            continue
        changed[name] = _shortest(parameter, name, _yaml_value(layer, name, value))
    return changed


def _shortest(parameter, name: str, value):
    """``[3, 3]`` as ``3`` where the argument reads the one number as the
    same pair (``kernel_size: 3``), as people write it."""
    if not isinstance(value, list) or not value or any(item != value[0] for item in value):
        return value
    kind = getattr(parameter, "annotation", None)
    check = getattr(kind, "check", None)
    if check is None or isinstance(value[0], (list, dict)):
        return value
    try:
        expanded = check(value[0], name)
    except LayerspecError:
        return value
    return value[0] if _yaml_value(None, name, expanded) == value else value


def _yaml_value(layer, name: str, value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_yaml_value(layer, name, item) for item in value]
    if isinstance(value, dict):
        return {str(key): _yaml_value(layer, name, item) for key, item in value.items()}
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # a NumPy scalar
        return value.item()
    raise LayerspecError(f"layer '{layer.name}': argument '{name}' holds {type(value).__name__} {value!r}, "
                         "which a spec cannot express (give it by name)")


def _dump_flow(value) -> str:
    """One value on one line, as YAML writes it (quoted where it must be)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6)
    return text.removesuffix("\n...\n").strip()  # a lone scalar is written as a document of its own
