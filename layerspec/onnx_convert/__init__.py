"""Layer converters for the ONNX export: one function per layer class.

A converter is registered with :func:`converts` and called with a
:class:`Conversion`: the builder to write with (names made inside are
scoped by the layer's name), the node being converted, its layer, and the
names and shapes of its inputs. It returns the name of its result (a list
for a layer with several outputs). The exporter renames that result to the
node's name, so the ONNX graph's intermediate values are named as
layerspec's summary names them.

Masks (docs/design.md §8) travel as boolean tensors. A layer that uses its
input's mask reads :attr:`Conversion.mask`; a layer whose output mask is not
simply its input's (an Embedding with ``mask_zero``, a merge) registers a
mask converter with :func:`converts_mask`. Every other layer passes its
(first) input's mask on, as Keras's default ``compute_mask`` does.

The modules of this package mirror :mod:`layerspec.layers`; importing the
package registers every converter.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from ..onnx_builder import ExportError, GraphBuilder

_CONVERTERS: dict[type, Callable] = {}
_MASK_CONVERTERS: dict[type, Callable] = {}

#: The modules holding converters, imported on first use.
_MODULES = ("activations", "core", "activation_layers", "merging", "embedding", "einsum_dense", "preprocessing", "conv",
            "conv_variants", "pooling", "volumetric", "reshaping", "normalization", "attention", "recurrent",
            "conv_recurrent", "wrappers")


@dataclass
class Conversion:
    """What a converter gets.

    Attributes:
        builder: where to write the layer's nodes.
        node: the graph node (its ``name``, ``input_shape``,
            ``output_shape``, ``input_mask`` and ``output_mask`` shapes).
        layer: the node's layer (its weights hold values).
        inputs: the ONNX names of the node's inputs, in the layer's order.
        input_shapes: their full shapes, batch axis (None) first; a size
            unknown until run time is None too.
        masks: the ONNX names of the inputs' masks (None where an input has
            none), one per input.
    """

    builder: GraphBuilder
    node: Any
    layer: Any
    inputs: list[str]
    input_shapes: list[tuple]
    masks: list[str | None]

    @property
    def x(self) -> str:
        """The one input of a single-input layer."""
        return self.inputs[0]

    @property
    def shape(self) -> tuple:
        """The full shape of the first input."""
        return self.input_shapes[0]

    @property
    def mask(self) -> str | None:
        """The first input's mask, or None."""
        return self.masks[0]

    @property
    def output_shape(self):
        """The node's full output shape (a list for several outputs)."""
        return self.node.output_shape

    def weight(self, name: str) -> str:
        """The initializer of the layer's weight ``name`` (``kernel``), its
        values as they are; one per layer, however often it is applied."""
        return self.derived_weight(name, lambda: self.weight_value(name))

    def derived_weight(self, key: str, make: Callable[[], Any]) -> str:
        """An initializer made from the layer's weights by ``make()`` (a
        kernel transposed for ONNX, gates reordered), made once per layer
        and ``key``: a layer applied several times shares it."""
        cache = self.builder.root.__dict__.setdefault("_derived_weights", {})
        found = cache.get((id(self.layer), key))
        if found is None:
            found = cache[(id(self.layer), key)] = self.builder.weight(make(), key)
        return found

    def weight_value(self, name: str):
        """The NumPy value of the layer's weight ``name``."""
        for weight in self.layer.weights:
            if weight.name == name:
                return weight.numpy()
        raise KeyError(f"layer {self.layer.name!r} has no weight {name!r}")

    def refuse(self, why: str, argument: str | None = None) -> ExportError:
        """The error for something in this layer ONNX cannot express: raise
        what it returns. ``why`` completes "cannot be exported to ONNX: ...";
        ``argument`` names the layer argument at fault, so that the message
        points at it in the spec."""
        return ExportError(f"layer '{self.node.name}' ({type(self.layer).__name__}) cannot be exported to ONNX: "
                           f"{why}", argument=argument, layer_index=self.node.index)

    def require(self, opset: int, what: str) -> None:
        """Record that this layer needs ``opset`` for ``what`` (an operator)."""
        self.builder.require(opset, what, f"layer '{self.node.name}' ({type(self.layer).__name__})")


def converts(*layer_classes: type):
    """Register the decorated function as the converter of ``layer_classes``."""

    def register(function: Callable) -> Callable:
        for layer_class in layer_classes:
            _CONVERTERS[layer_class] = function
        return function

    return register


def converts_mask(*layer_classes: type):
    """Register the decorated function as what makes the output mask of
    ``layer_classes`` (called only where the node's output has a mask)."""

    def register(function: Callable) -> Callable:
        for layer_class in layer_classes:
            _MASK_CONVERTERS[layer_class] = function
        return function

    return register


_loaded = False


def _load() -> None:
    """Import every converter module (each registers its converters), once.

    A flag, not an empty registry, says whether that happened: a module
    imported alone (by a test) fills the registry with its converters only.
    """
    global _loaded
    if not _loaded:
        for module in _MODULES:
            importlib.import_module(f"{__name__}.{module}")
        _loaded = True


def converter_of(layer) -> Callable | None:
    """The converter registered for ``layer``'s exact class, or None.

    Exact: a user's subclass of Dense computes what its own ``call`` says,
    which the Dense converter knows nothing of.
    """
    _load()
    return _CONVERTERS.get(type(layer))


def mask_converter_of(layer) -> Callable | None:
    """The mask converter registered for ``layer``'s exact class, or None."""
    _load()
    return _MASK_CONVERTERS.get(type(layer))
