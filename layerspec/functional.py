"""The functional API: ``Input``, layers called on symbolic tensors, graphs.

As in Keras, ``x = layerspec.Input((28, 28, 1))`` stands for data that does
not exist yet; calling a layer on it records the application and returns a
new symbolic tensor with the inferred shape (so a misfit is reported at the
call, naming the layer). ``layerspec.Model(inputs, outputs)`` then collects
every application between them into a :class:`~layerspec.graph.Graph`.
Calling one layer object twice shares its weights, exactly as in Keras.
"""

from __future__ import annotations

import itertools
from typing import Any

from .errors import LayerspecError, ShapeError
from .graph import Graph, GraphInput, Node

_counter = itertools.count()


class SymbolicTensor:
    """A placeholder for data: its full shape (batch axis ``None`` first) and dtype.

    Made by :func:`Input` and by calling a layer on symbolic tensors.
    """

    def __init__(self, shape: tuple, dtype: str | None, origin: "GraphInput | _Application",
                 index: int | None = None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self._origin = origin
        #: Which output of a layer with several this is (None: its only one).
        self._index = index

    @property
    def name(self) -> str:
        """The input's name, or the name of the layer that produced it."""
        origin = self._origin
        return origin.name if isinstance(origin, GraphInput) else origin.layer.name

    def __repr__(self) -> str:
        from .layers.base import format_shape

        return f"<SymbolicTensor shape={format_shape(self.shape)} from '{self.name}'>"


class _Application:
    """One call of a layer on symbolic tensors, in the order calls were made."""

    def __init__(self, layer, inputs: list[SymbolicTensor]):
        self.layer = layer
        self.inputs = inputs
        self.order = next(_counter)


def Input(shape, name: str | None = None, dtype: str | None = None) -> SymbolicTensor:
    """A model input of per-sample ``shape`` (no batch axis; ``None`` = unknown size).

    Args:
        shape: the per-sample shape, e.g. ``(28, 28, 1)``.
        name: the input's name (default ``input``, numbered when a model has
            several unnamed inputs).
        dtype: ``float32``/``float64``, or an integer dtype for token ids;
            default: the model's dtype.
    """
    try:
        shape = tuple(None if size is None else int(size) for size in shape)
    except (TypeError, ValueError):
        raise LayerspecError(f"Input: shape must be a tuple of sizes, got {shape!r}") from None
    if any(size is not None and size < 1 for size in shape):
        raise LayerspecError(f"Input: sizes must be positive, got {shape}")
    if name is not None and (not isinstance(name, str) or not name or "/" in name):
        raise LayerspecError(f"Input: name must be a non-empty string without '/', got {name!r}")
    record = GraphInput(name or "", shape, dtype)
    record.order = next(_counter)
    return SymbolicTensor((None,) + shape, dtype, record)


def is_symbolic(inputs: Any) -> bool:
    """Whether ``inputs`` (one value or a list) holds symbolic tensors."""
    if isinstance(inputs, SymbolicTensor):
        return True
    return isinstance(inputs, (list, tuple)) and any(isinstance(item, SymbolicTensor) for item in inputs)


def apply_symbolically(layer, inputs) -> SymbolicTensor:
    """Record ``layer(inputs)`` on symbolic tensors and infer its output shape."""
    from .model import infer_output_shape

    from .model import check_reuse_fits
    from .registry import display_name

    label = f"layer '{layer.name}' ({display_name(type(layer))})"
    several = bool(getattr(layer, "takes_several_inputs", False))
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if not all(isinstance(item, SymbolicTensor) for item in items):
        raise LayerspecError(f"{label}: cannot mix symbolic tensors and arrays in one call")
    if len(items) > 1 and not several:
        raise ShapeError(f"{label} takes one input, got {len(items)}")
    shape = [item.shape for item in items] if several else items[0].shape
    try:
        if layer.built:  # called again: a shared layer, whose weights must fit this input too
            check_reuse_fits(layer, shape)
        else:
            layer.build_for(shape)
        output_shape = infer_output_shape(layer, shape)
    except LayerspecError as error:
        error.message = f"{label}: {error.message}"
        raise
    application = _Application(layer, items)
    if layer.output_names:  # several outputs: one symbolic tensor each, as Keras returns a list
        return [SymbolicTensor(shape, None, application, index) for index, shape in enumerate(output_shape)]
    return SymbolicTensor(output_shape, None, application)


def graph_from_tensors(inputs, outputs) -> tuple[Graph, Any]:
    """The graph between symbolic ``inputs`` and ``outputs`` (each one, a list or a dict).

    Returns:
        ``(graph, how outputs were given)``: ``"one"``, ``"list"`` or the
        dict's keys, so ``predict`` can answer in the same form.
    """
    input_list, _ = _as_list(inputs, "inputs")
    output_list, output_form = _as_list(outputs, "outputs")
    records = [tensor._origin for tensor in input_list]
    if not all(isinstance(record, GraphInput) for record in records):
        raise LayerspecError("Model inputs must be tensors made by layerspec.Input")
    applications = _applications_between(records, output_list)
    _name_inputs(records, inputs)
    nodes = _nodes(applications)
    tensor_of = {id(record): number for number, record in enumerate(records)}
    tensor_of.update({id(app): len(records) + index for index, app in enumerate(applications)})
    def source(tensor: SymbolicTensor):
        number = tensor_of[id(tensor._origin)]
        return number if tensor._index is None else (number, tensor._index)

    for node, app in zip(nodes, applications):
        node.sources = tuple(source(item) for item in app.inputs)
    graph = Graph(records, nodes, [source(tensor) for tensor in output_list])
    _refuse_unused_inputs(graph)
    return graph, output_form


def _refuse_unused_inputs(graph: Graph) -> None:
    """An input no output depends on, as a spec refuses it (its data would be read for nothing)."""
    used = {source for node in graph.nodes for source in node.sources} | set(graph.outputs)
    for number, record in enumerate(graph.inputs):
        if number not in used:
            raise LayerspecError(f"model input '{record.name}' reaches no model output: no layer reads it")


def _as_list(value, what: str) -> tuple[list[SymbolicTensor], Any]:
    if isinstance(value, SymbolicTensor):
        return [value], "one"
    if isinstance(value, dict):
        items, form = list(value.values()), tuple(value)
    elif isinstance(value, (list, tuple)):
        items, form = list(value), "list"
    else:
        raise LayerspecError(f"Model {what} must be symbolic tensors (one, a list or a dict), got "
                             f"{type(value).__name__}")
    if not items or not all(isinstance(item, SymbolicTensor) for item in items):
        raise LayerspecError(f"Model {what} must be a non-empty collection of symbolic tensors")
    return items, form


def _applications_between(records: list[GraphInput], outputs: list[SymbolicTensor]) -> list[_Application]:
    """Every application the outputs depend on, in call order; checks they
    depend on no input outside ``records``."""
    given = {id(record) for record in records}
    seen: dict[int, _Application] = {}
    stack = [tensor._origin for tensor in outputs]
    while stack:
        origin = stack.pop()
        if isinstance(origin, GraphInput):
            if id(origin) not in given:
                raise LayerspecError(f"the outputs depend on an Input{_named(origin)} that is not among the "
                                     "model's inputs (graph disconnected)")
            continue
        if id(origin) not in seen:
            seen[id(origin)] = origin
            stack.extend(item._origin for item in origin.inputs)
    return sorted(seen.values(), key=lambda app: app.order)


def _named(record: GraphInput) -> str:
    return f" '{record.name}'" if record.name else ""


def _name_inputs(records: list[GraphInput], inputs) -> None:
    """Unnamed inputs get dict keys, else ``input``, ``input_1``, ..."""
    keys = list(inputs) if isinstance(inputs, dict) else [None] * len(records)
    taken = {record.name for record in records if record.name}
    counter = 0
    for record, key in zip(records, keys):
        if record.name:
            continue
        if key is not None and key not in taken:
            record.name = key
        else:
            while (candidate := "input" if counter == 0 else f"input_{counter}") in taken:
                counter += 1
            record.name = candidate
        taken.add(record.name)


def _nodes(applications: list[_Application]) -> list[Node]:
    """A node per application; a layer's later applications reuse its first."""
    first_node: dict[int, Node] = {}
    nodes = []
    for app in applications:
        node = Node(app.layer, (), reuses=first_node.get(id(app.layer)))
        first_node.setdefault(id(app.layer), node)
        nodes.append(node)
    return nodes
