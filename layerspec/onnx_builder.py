"""Building an ONNX graph node by node, in the opset being written.

:class:`GraphBuilder` is what every layer converter writes with
(:mod:`layerspec.onnx_convert`): it names tensors and nodes after the layer
they belong to, keeps weights as initializers, caches small constants, and
has one helper for each operator whose form changed between opsets (the
``Reduce*`` family took its axes as an attribute before opset 18, say), so a
converter never tests the opset itself for those.

It records the model as plain Python (op type, input and output names,
attributes, NumPy arrays) and makes protobuf objects only in
:meth:`GraphBuilder.graph_proto`: converting a model twice (once to find the
opset it needs, once to write it) costs no weight copy.

``onnx`` is imported only there, so a converter can run without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import LayerspecError

#: The oldest opset layerspec writes. From 13 on, Softmax works along one
#: axis (before, it flattened the trailing axes) and Squeeze, Unsqueeze and
#: Split take their axes as inputs; every serving engine of the last years
#: reads it. A model needing a newer operator raises the opset
#: (LayerNormalization: 17).
MIN_OPSET = 13
#: The newest opset layerspec writes and tests with ONNX Runtime.
MAX_OPSET = 23

#: Operators whose axes moved from an attribute to an input, and the opset
#: that moved them.
_AXES_INPUT_SINCE = {"ReduceSum": 13, "ReduceMean": 18, "ReduceMax": 18, "ReduceMin": 18, "ReduceProd": 18,
                     "ReduceL2": 18, "ReduceL1": 18, "ReduceSumSquare": 18, "ReduceLogSumExp": 18}


class ExportError(LayerspecError):
    """A model (or one of its layers) that ONNX cannot express."""

    code = "unsupported-onnx"


@dataclass
class Requirement:
    """An opset a model needs: for what, and in which layer."""

    opset: int
    #: What needs it: "the LayerNormalization operator".
    what: str
    #: Where: "layer 'ln' (LayerNormalization)".
    layer: str = ""


@dataclass
class OnnxNode:
    """One node, as plain values until :meth:`GraphBuilder.graph_proto`."""

    op_type: str
    inputs: list[str]
    outputs: list[str]
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    domain: str = ""


class _Names:
    """Unique names, shared by a graph and its subgraphs (ONNX wants names
    unique across the scopes a subgraph sees)."""

    def __init__(self):
        self.taken: set[str] = set()

    def unique(self, wanted: str) -> str:
        name, number = wanted, 1
        while name in self.taken:
            name = f"{wanted}_{number}"
            number += 1
        self.taken.add(name)
        return name


class GraphBuilder:
    """The nodes, initializers and opset needs of one ONNX graph.

    Args:
        opset: the opset being written; helpers emit its forms.
        dtype: the model's float dtype (``float32`` or ``float64``): weights
            and float constants are written in it.
        scope: the prefix of the names made (a layer's name while its
            converter runs; see :meth:`scoped`).
    """

    def __init__(self, opset: int, dtype: str = "float32", *, _names: _Names | None = None,
                 _root: "GraphBuilder | None" = None):
        self.opset = opset
        self.dtype = np.dtype(dtype)
        self.names = _names or _Names()
        self.root = _root or self
        self.scope = ""
        self.nodes: list[OnnxNode] = []
        #: name → array; in the root only (subgraphs read the outer scope).
        self.initializers: dict[str, np.ndarray] = {}
        self.requirements: list[Requirement] = []
        self._constants: dict[tuple, str] = {}

    # -- names and scope --------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A new tensor name, ``scope/hint``, unique in the model."""
        return self.names.unique(f"{self.scope}/{hint}" if self.scope else hint)

    def claim(self, name: str) -> str:
        """Reserve an exact name (a model input or output); it must be free."""
        if name in self.names.taken:
            raise ExportError(f"the ONNX name '{name}' is used twice")
        self.names.taken.add(name)
        return name

    def scoped(self, scope: str) -> "_Scope":
        """``with builder.scoped(layer_name):`` names what is made inside
        after the layer."""
        return _Scope(self, scope)

    # -- opset ------------------------------------------------------------
    def require(self, opset: int, what: str, layer: str = "") -> None:
        """Record that the model needs ``opset`` at least for ``what`` (``"the
        LayerNormalization operator"``) in ``layer`` (``"layer 'ln'
        (LayerNormalization)"``)."""
        self.root.requirements.append(Requirement(opset, what, layer))

    # -- nodes ------------------------------------------------------------
    def op(self, op_type: str, inputs: Sequence[str], outputs: int | Sequence[str] = 1, *, hint: str = "",
           domain: str = "", **attributes) -> Any:
        """Add a node; return its output name, or the list of them when
        ``outputs`` is a count above 1 or a list of names.

        An input given as ``""`` is an omitted optional input. Attributes
        with the value None are left out.
        """
        label = hint or op_type
        if isinstance(outputs, int):
            names = [self.fresh(label if outputs == 1 else f"{label}_{k}") for k in range(outputs)]
            several = outputs != 1
        else:
            names = [self._own(name) for name in outputs]
            several = True
        node_name = self.names.unique(f"{self.scope}/{op_type}" if self.scope else op_type)
        kept = {key: value for key, value in attributes.items() if value is not None}
        self.nodes.append(OnnxNode(op_type, list(inputs), names, node_name, kept, domain))
        return names if several else names[0]

    def _own(self, name: str) -> str:
        if name not in self.names.taken:
            self.names.taken.add(name)
        return name

    def rename_output(self, produced: str, wanted: str, since: int) -> bool:
        """Give the tensor ``produced`` the name ``wanted`` if one of the
        nodes from number ``since`` on made it and none of the others reads
        it: a layer's result then carries the layer's name with no Identity
        node. Returns whether it did."""
        made_here = self.nodes[since:]
        producers = [node for node in made_here if produced in node.outputs]
        readers = [node for node in self.nodes if produced in node.inputs]
        if len(producers) != 1 or readers or produced in self.root.initializers:
            return False
        outputs = producers[0].outputs
        outputs[outputs.index(produced)] = wanted
        self.names.taken.add(wanted)
        return True

    # -- initializers and constants ---------------------------------------
    def weight(self, array, hint: str) -> str:
        """A weight as an initializer in the model's float dtype."""
        name = self.fresh(hint)
        self.root.initializers[name] = _c_ordered(np.asarray(array, dtype=self.dtype))
        return name

    def constant(self, array, hint: str = "const") -> str:
        """A constant array as an initializer, kept in its own dtype. Small
        ones are shared: the same values give the same name."""
        array = np.asarray(array)
        key = None
        if array.size <= 16:
            key = (array.dtype.str, array.shape, array.tobytes())
            known = self.root._constants.get(key)
            if known is not None:
                return known
        name = self.root.fresh(hint) if not self.scope else self.fresh(hint)
        self.root.initializers[name] = _c_ordered(array)
        if key is not None:
            self.root._constants[key] = name
        return name

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 constant (shapes, axes, pads)."""
        return self.constant(np.asarray(list(values), dtype=np.int64), "ints")

    def scalar(self, value: float, shape: tuple = ()) -> str:
        """A float constant in the model's dtype (a scalar by default)."""
        return self.constant(np.full(shape, value, dtype=self.dtype), "scalar")

    # -- helpers for operators whose form changed between opsets ----------
    def reduce(self, op_type: str, x: str, axes: Sequence[int] | None, keepdims: bool, hint: str = "") -> str:
        """``Reduce*`` over ``axes`` (None: every axis), in the opset's form."""
        since = _AXES_INPUT_SINCE[op_type]
        keep = int(bool(keepdims))
        if axes is None:
            return self.op(op_type, [x], keepdims=keep, hint=hint)
        if self.opset >= since:
            return self.op(op_type, [x, self.ints(axes)], keepdims=keep, hint=hint)
        return self.op(op_type, [x], axes=list(axes), keepdims=keep, hint=hint)

    def squeeze(self, x: str, axes: Sequence[int], hint: str = "") -> str:
        return self.op("Squeeze", [x, self.ints(axes)], hint=hint)

    def unsqueeze(self, x: str, axes: Sequence[int], hint: str = "") -> str:
        return self.op("Unsqueeze", [x, self.ints(axes)], hint=hint)

    def split(self, x: str, sizes: Sequence[int], axis: int, hint: str = "") -> list[str]:
        """``x`` cut along ``axis`` into pieces of ``sizes``."""
        outputs = self.op("Split", [x, self.ints(sizes)], len(sizes), axis=axis, hint=hint)
        return outputs if isinstance(outputs, list) else [outputs]

    def slice(self, x: str, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int],
              steps: Sequence[int] | None = None, hint: str = "") -> str:
        inputs = [x, self.ints(starts), self.ints(ends), self.ints(axes)]
        if steps is not None:
            inputs.append(self.ints(steps))
        return self.op("Slice", inputs, hint=hint)

    def transpose(self, x: str, perm: Sequence[int], hint: str = "") -> str:
        return self.op("Transpose", [x], perm=list(perm), hint=hint)

    def reshape(self, x: str, shape: Sequence[int], hint: str = "") -> str:
        """Reshape to ``shape``, where 0 keeps the input's size on that axis
        (the batch) and -1 takes what is left."""
        return self.op("Reshape", [x, self.ints(shape)], hint=hint)

    def concat(self, xs: Sequence[str], axis: int, hint: str = "") -> str:
        if len(xs) == 1:
            return xs[0]
        return self.op("Concat", list(xs), axis=axis, hint=hint)

    def cast(self, x: str, dtype, hint: str = "") -> str:
        """``x`` as NumPy dtype ``dtype``."""
        return self.op("Cast", [x], to=onnx_type(dtype), hint=hint)

    def to_float(self, x: str, hint: str = "") -> str:
        """``x`` (a mask, say) cast to the model's float dtype."""
        return self.cast(x, self.dtype, hint)

    # -- subgraphs --------------------------------------------------------
    def subgraph(self) -> "GraphBuilder":
        """A builder for a subgraph (a Scan or Loop body) of this graph: its
        names are unique with the outer graph's, and its constants are outer
        initializers, which a subgraph may read."""
        child = GraphBuilder(self.opset, str(self.dtype), _names=self.names, _root=self.root)
        child.scope = self.scope
        return child

    # -- making protobuf ---------------------------------------------------
    def graph_proto(self, name: str, inputs: list, outputs: list, value_info: list = (), weightless: bool = False):
        """The ``onnx.GraphProto`` of this builder's nodes (``inputs`` and
        ``outputs`` are ``ValueInfoProto`` lists); the root also holds the
        initializers.

        ``weightless``: float arrays of over 1 KiB are declared as graph
        inputs of their shape instead of held: a graph for the checker and
        shape inference, which need no weight values, made without copying
        any (a model over 2 GB could not be checked in memory at all).
        """
        from onnx import helper, numpy_helper

        nodes = [_node_proto(helper, node) for node in self.nodes]
        initializers, declared = [], []
        if self.root is self:
            for key, array in self.initializers.items():
                if weightless and array.dtype.kind == "f" and array.nbytes > 1024:
                    declared.append(helper.make_tensor_value_info(key, onnx_type(array.dtype), list(array.shape)))
                else:
                    initializers.append(numpy_helper.from_array(array, key))
        return helper.make_graph(nodes, name, list(inputs) + declared, outputs, initializer=initializers,
                                 value_info=list(value_info))


def _c_ordered(array: np.ndarray) -> np.ndarray:
    """``array`` C-ordered, a 0-d array kept 0-d (``ascontiguousarray``
    would make it 1-d, and a scalar operand must stay a scalar)."""
    return np.require(array, requirements="C")


class _Scope:
    def __init__(self, builder: GraphBuilder, scope: str):
        self.builder, self.scope, self.saved = builder, scope, ""

    def __enter__(self):
        self.saved = self.builder.scope
        self.builder.scope = self.scope
        return self.builder

    def __exit__(self, *exc):
        self.builder.scope = self.saved
        return False


def _node_proto(helper, node: OnnxNode):
    return helper.make_node(node.op_type, node.inputs, node.outputs, name=node.name, domain=node.domain or None,
                            **node.attributes)


#: NumPy dtypes as ONNX's TensorProto element types.
_ONNX_TYPES = {"float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7,
               "bool": 9, "float16": 10, "float64": 11, "uint32": 12, "uint64": 13}


def onnx_type(dtype) -> int:
    """ONNX's element type number for a NumPy dtype."""
    name = np.dtype(dtype).name
    if name not in _ONNX_TYPES:
        raise ExportError(f"ONNX has no tensor element type for {name}")
    return _ONNX_TYPES[name]
