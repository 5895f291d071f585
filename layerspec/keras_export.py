"""Built layerspec models → Keras 3 model configs (docs/design.md §10).

Export (:func:`config_from_model`) writes the config Keras itself would write
for a built layerspec model: every key Keras 3.15 writes for each layer
class, with Keras's values for what layerspec leaves at its defaults, the
``build_config`` of each layer, and the functional wiring. A block
application (``residual_1/conv2d``) becomes a nested model named after it,
so Keras's variable paths are layerspec's weight keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .keras_config import KERAS_CLASSES, KerasConfigError, json_value, policy, refuse, serialized


# --------------------------------------------------------------------------
# export: a built model as Keras's config


def config_from_model(model) -> dict:
    """The Keras 3 config (``config.json``) of a built layerspec model.

    A chain with one input is a ``Sequential`` (its ``InputLayer`` first, as
    Keras writes it), any other graph a ``Functional`` model. Each block
    application (``residual_1/conv2d``) becomes a nested model named after
    the application, so Keras's variable paths
    (``residual_1/conv2d/kernel``) are layerspec's weight keys; a block
    application applied again (``reuse``) calls the same nested model again.

    Raises:
        KerasConfigError: for a model whose input shape is unknown, a layer
            Keras has no class for, or an argument Keras cannot hold (an
            activation with arguments, ELU's alpha), naming the layer.
    """
    if not model.built:
        raise KerasConfigError(f"model '{model.name}' is not built: its input shape is needed to write a Keras "
                               "model (give 'input' in the spec, or --input-shape)")
    exporter = _Exporter(model)
    return exporter.model_entry(exporter.tree(), None)


@dataclass(eq=False)
class _Container:
    """The top model, or one block application written as a nested model."""

    path: str  # "" at the top, else the application's path ("stage/projection_block")
    items: list = field(default_factory=list)  # Node or _Container, in order
    inputs: list = field(default_factory=list)  # tensors read from outside
    outputs: list = field(default_factory=list)  # tensors read outside, or model outputs
    original: "_Container | None" = None  # for a block applied again: the application it repeats
    repeats: list = field(default_factory=list)  # the applications repeating this one

    @property
    def name(self) -> str:
        """The application's own name (the last part of its path)."""
        return self.path.rsplit("/", 1)[-1]

    def nodes(self) -> list:
        """Every node inside, nested applications' too, in order."""
        found = []
        for item in self.items:
            found.extend(item.nodes() if isinstance(item, _Container) else [item])
        return found


class _Exporter:
    """Writes a built model's config, one container (model) at a time."""

    def __init__(self, model):
        self.model = model
        self.graph = model.graph
        self.dtype = model.dtype

    # -- the containers ----------------------------------------------------------
    def tree(self) -> _Container:
        """The top container, block applications nested in it as they nest."""
        top = _Container("")
        open_ = [top]
        for node in self.graph.nodes:
            paths = [application for application, _ in node.scope]
            depth = 0
            while depth < len(paths) and depth + 1 < len(open_) and open_[depth + 1].path == paths[depth]:
                depth += 1
            del open_[depth + 1:]
            for path in paths[depth:]:
                container = _Container(path)
                open_[-1].items.append(container)
                open_.append(container)
            open_[-1].items.append(node)
        self._find_repeats(top)
        top.inputs = list(range(len(self.graph.inputs)))
        top.outputs = list(self.graph.outputs)
        nested = self._all(top)[1:]
        for container in nested:
            self._boundaries(container)
        for container in nested:  # an output of a repeat is the original's output at the same place
            for repeat in container.repeats:
                for source in repeat.outputs:
                    twin = self._twin(source, repeat, container)
                    if twin not in container.outputs:
                        container.outputs.append(twin)
            container.outputs.sort(key=_source_order)
        return top

    def _all(self, container: _Container) -> list:
        """``container`` and every container inside it."""
        found = [container]
        for item in container.items:
            if isinstance(item, _Container):
                found.extend(self._all(item))
        return found

    def _boundaries(self, container: _Container) -> None:
        """A container's inputs (what its nodes read from outside, in order)
        and outputs (what is read of it outside, or is a model output)."""
        from .graph import split_source

        inside = set(container.nodes())
        made = {self.graph.tensor_of(node) for node in inside}
        inputs, outputs = [], []
        for node in self.graph.nodes:
            for source in node.sources:
                if node in inside and split_source(source)[0] not in made and source not in inputs:
                    inputs.append(source)
                if node not in inside and split_source(source)[0] in made and source not in outputs:
                    outputs.append(source)
        outputs += [source for source in self.graph.outputs
                    if split_source(source)[0] in made and source not in outputs]
        container.inputs = inputs
        container.outputs = sorted(outputs, key=_source_order)

    def _twin(self, source, repeat: _Container, original: _Container):
        """The source at the same place in ``original`` as ``source`` in ``repeat``."""
        from .graph import split_source

        tensor, index = split_source(source)
        node = original.nodes()[repeat.nodes().index(self.graph.producer(tensor))]
        twin = self.graph.tensor_of(node)
        return twin if index is None else (twin, index)

    def _find_repeats(self, container: _Container) -> None:
        """A block application applied again has only reuse nodes, each
        repeating the node at its place in one earlier application."""
        for item in container.items:
            if not isinstance(item, _Container):
                continue
            nodes = item.nodes()
            if nodes and all(node.reuses is not None for node in nodes):
                originals = [node.reuses for node in nodes]
                owner = next((other for other in self._all(container)
                              if other is not item and other.nodes() == originals), None)
                if owner is None:
                    raise refuse(f"{_label(nodes[0])}: a block applied again must repeat one application of it, "
                                 "layer for layer, to be written as a Keras nested model called twice")
                item.original = owner
                owner.repeats.append(item)
            else:
                self._find_repeats(item)

    # -- names and references -------------------------------------------------------
    def local(self, node, container: _Container) -> str:
        """A layer's name inside its container (its path cut off)."""
        layer = node.reuses.layer if node.reuses is not None else node.layer
        prefix = container.path + "/" if container.path else ""
        if not layer.name.startswith(prefix):
            raise refuse(f"{_label(node)}: it reuses layer '{layer.name}' of another block application; Keras "
                         "cannot share a layer between nested models")
        return layer.name[len(prefix):]

    def tensor_shape(self, source) -> list:
        """A tensor's full shape, batch axis first, as JSON data."""
        from .graph import GraphInput, split_source

        tensor, index = split_source(source)
        producer = self.graph.producer(tensor)
        if isinstance(producer, GraphInput):
            return [None, *producer.shape]
        shape = producer.output_shape if index is None else producer.output_shape[index]
        return json_value(shape)

    def tensor_dtype(self, source) -> str:
        """A tensor's dtype: an integer input's own, else the model's."""
        from .graph import GraphInput, split_source

        producer = self.graph.producer(split_source(source)[0])
        if isinstance(producer, GraphInput):
            return producer.dtype or self.dtype
        return self.dtype

    def history(self, source, container: _Container, input_names: list) -> list:
        """``[layer, node, tensor]`` of a tensor as seen inside ``container``."""
        from .graph import split_source

        tensor, index = split_source(source)
        for position, item in enumerate(container.inputs):
            if item == source or split_source(item)[0] == tensor and split_source(item)[1] == index:
                return [input_names[position], 0, 0]
        node = self.graph.producer(tensor)
        child = self._child(container, node)
        if not isinstance(child, _Container):
            layer = node.reuses.layer if node.reuses is not None else node.layer
            calls = [other for other in container.items if not isinstance(other, _Container) and
                     (other.reuses.layer if other.reuses is not None else other.layer) is layer]
            return [self.local(node, container), calls.index(node), index or 0]
        owner = child.original or child
        call = 0 if child.original is None else owner.repeats.index(child) + 1
        offset = 0 if self._is_sequential(owner) else 1  # functional.py: a nested Functional counts from 1
        twin = source if child is owner else self._twin(source, child, owner)
        return [owner.name, call + offset, owner.outputs.index(twin)]

    def _child(self, container: _Container, node):
        """The item of ``container`` (a node or a nested container) holding ``node``."""
        for item in container.items:
            if item is node or (isinstance(item, _Container) and node in item.nodes()):
                return item
        raise refuse(f"{_label(node)}: internal error: no container holds it")

    def keras_tensor(self, source, container: _Container, input_names: list) -> dict:
        """A tensor as a node's argument: ``__keras_tensor__`` with its history."""
        return {"class_name": "__keras_tensor__",
                "config": {"shape": self.tensor_shape(source), "dtype": self.tensor_dtype(source),
                           "keras_history": self.history(source, container, input_names)}}

    # -- Sequential or Functional ------------------------------------------------------
    def _is_sequential(self, container: _Container) -> bool:
        """A chain: one input, each item reading the one above (the first, the
        input) and only that, the last the one output, nothing applied twice,
        and no layer Keras calls with more than a tensor."""
        cached = getattr(container, "_sequential", None)
        if cached is not None:
            return cached
        result = self._chain(container)
        container._sequential = result
        return result

    def _chain(self, container: _Container) -> bool:
        """See :meth:`_is_sequential`."""
        from .graph import split_source

        if len(container.inputs) != 1 or container.original is not None:
            return False
        previous = container.inputs[0]
        for item in container.items:
            if isinstance(item, _Container):
                if item.original is not None or item.repeats or len(item.inputs) != 1 or len(item.outputs) != 1 \
                        or item.inputs[0] != previous:
                    return False
                previous = item.outputs[0]
                continue
            layer = item.layer
            if item.reuses is not None or len(item.sources) != 1 or item.sources[0] != previous or \
                    getattr(layer, "output_names", None):
                return False
            keras_class = type(layer).__name__
            spec = KERAS_CLASSES.get(keras_class)
            if spec is None or spec.call in ("attention", "list") or getattr(layer, "use_causal_mask", False):
                return False
            previous = self.graph.tensor_of(item)
        outputs = container.outputs
        return len(outputs) == 1 and split_source(outputs[0])[0] == split_source(previous)[0]

    # -- writing ----------------------------------------------------------------------
    def model_entry(self, container: _Container, parent: _Container | None) -> dict:
        """A container's config: the whole model's, or a nested model's entry."""
        if self._is_sequential(container):
            return self._sequential(container, parent)
        return self._functional(container, parent)

    def _input_names(self, container: _Container) -> list:
        """The names of a container's InputLayers: the model's inputs' (Keras's ``input_layer`` for
        ``input``), else ``input_layer``, ``input_layer_1``..."""
        taken = {self.local(node, container) for node in container.items if not isinstance(node, _Container)}
        taken |= {item.name for item in container.items if isinstance(item, _Container)}
        if not container.path:
            names = list(self.model.input_names)
            if names == ["input"] and "input_layer" not in taken:
                names = ["input_layer"]  # Keras's automatic name; `input:` in a spec
            return names
        names, number = [], 0
        for _ in container.inputs:
            while (candidate := "input_layer" if number == 0 else f"input_layer_{number}") in taken:
                number += 1
            names.append(candidate)
            number += 1
        return names

    def _input_layer(self, source, name: str) -> dict:
        """An ``InputLayer`` entry for a tensor."""
        dtype = self.tensor_dtype(source)
        return {"module": "keras.layers", "class_name": "InputLayer",
                "config": {"batch_shape": self.tensor_shape(source), "dtype": dtype, "sparse": False,
                           "ragged": False, "name": name, "optional": False},
                "registered_name": None}

    def _sequential(self, container: _Container, parent: _Container | None) -> dict:
        """A chain as Keras's Sequential config."""
        names = self._input_names(container)
        source = container.inputs[0]
        layers = [self._input_layer(source, names[0])]
        for item in container.items:
            if isinstance(item, _Container):
                layers.append(self.model_entry(item, container))
            else:
                layers.append(self._layer_entry(item, container, names, functional=False))
        shape = self.tensor_shape(source)
        config = {"name": container.name or self.model.name, "trainable": True, "dtype": policy(self.dtype),
                  "layers": layers, "build_input_shape": shape}
        entry = {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None,
                 "build_config": {"input_shape": shape}}
        return self._called(entry, container, parent)

    def _functional(self, container: _Container, parent: _Container | None) -> dict:
        """A graph as Keras's Functional config."""
        names = self._input_names(container)
        layers = []
        for source, name in zip(container.inputs, names):
            entry = self._input_layer(source, name)
            entry.update({"name": name, "inbound_nodes": []})
            layers.append(entry)
        for item in container.items:
            if isinstance(item, _Container):
                if item.original is None:
                    layers.append(self.model_entry(item, container))
            elif item.reuses is None:
                layers.append(self._layer_entry(item, container, names, functional=True))
        inputs = [[name, 0, 0] for name in names]
        outputs = [self.history(source, container, names) for source in container.outputs]
        config = {"name": container.name or self.model.name, "trainable": True, "layers": layers,
                  "input_layers": inputs[0] if len(inputs) == 1 else inputs,
                  "output_layers": outputs[0] if len(outputs) == 1 else outputs}
        entry = {"module": "keras.src.models.functional", "class_name": "Functional", "config": config,
                 "registered_name": "Functional", "build_config": {"input_shape": None}}
        return self._called(entry, container, parent)

    def _called(self, entry: dict, container: _Container, parent: _Container | None) -> dict:
        """A nested model's entry in a Functional parent: its name and calls."""
        if parent is None or self._is_sequential(parent):
            return entry
        parent_names = self._input_names(parent)
        calls = []
        for application in [container, *container.repeats]:
            tensors = [self.keras_tensor(source, parent, parent_names) for source in application.inputs]
            argument = tensors[0] if len(tensors) == 1 else tensors
            calls.append({"args": [argument], "kwargs": {"mask": None if len(tensors) == 1 else [None] * len(tensors)}})
        entry["name"] = container.name
        entry["inbound_nodes"] = calls
        return entry

    def _layer_entry(self, node, container: _Container, input_names: list, functional: bool) -> dict:
        """A layer's entry: its serialized config and, in a Functional model, its calls."""
        where = _label(node)
        layer = node.layer
        entry = serialized(layer, node.input_shape, self.dtype, where)
        entry["config"]["name"] = self.local(node, container)
        if functional:
            applications = [node] + [other for other in container.items if not isinstance(other, _Container)
                                     and other.reuses is node]
            entry["name"] = entry["config"]["name"]
            entry["inbound_nodes"] = [self._node_data(application, container, input_names)
                                      for application in applications]
        return entry

    def _node_data(self, node, container: _Container, input_names: list) -> dict:
        """The arguments Keras records for one call (layer.py ``__call__``):
        the tensors as its call takes them, then ``training`` where its call
        has a default, then ``mask: null`` for a call with one tensor argument."""
        layer = node.layer
        spec = KERAS_CLASSES[type(layer).__name__]
        tensors = [self.keras_tensor(source, container, input_names) for source in node.sources]
        kwargs: dict[str, Any] = {}
        single = True
        if spec.call == "attention":
            args = tensors * 2 if len(tensors) == 1 else tensors
            single = False
        elif spec.call == "list":
            args = [tensors]
        elif spec.call == "recurrent":
            args = tensors[:1]
            if len(tensors) > 1:
                kwargs["initial_state"] = tensors[1:]
                single = False
        else:
            args = tensors
        if getattr(layer, "use_causal_mask", False):
            kwargs["use_causal_mask"] = True
        if spec.training is not None:
            kwargs["training"] = spec.training
        if spec.mask and single:
            kwargs["mask"] = [None] * len(tensors) if spec.call == "list" else None
        return {"args": args, "kwargs": kwargs}


def _source_order(source) -> tuple:
    """Sort key of a source: its tensor, then which of its outputs."""
    from .graph import split_source

    tensor, index = split_source(source)
    return tensor, -1 if index is None else index


def _label(node) -> str:
    """How export messages name a node: ``layer 3 'conv2d_1' (Conv2D)``."""
    from .naming import node_label

    return node_label(node)
