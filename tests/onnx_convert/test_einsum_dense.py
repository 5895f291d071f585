"""ONNX export of EinsumDense (layerspec/onnx_convert/einsum_dense.py): every
equation lowered to ReduceSum, Transpose, Reshape and MatMul, never Einsum."""

from __future__ import annotations

import pytest

import layerspec.layers.einsum_dense as MODULE
import layerspec.onnx_convert as onnx_convert
from layerspec import registry
from layerspec.onnx_builder import MAX_OPSET
from tests.onnx_helpers import assert_onnx_matches

OPSETS = [None, MAX_OPSET]


def one_layer(layer: str, shape: str) -> str:
    return f"input: {shape}\nlayers:\n  - {{type: EinsumDense, {layer}}}\n"


def op_types(export) -> list[str]:
    return [node.op_type for node in export.model.graph.node]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("layer, shape, ops", [
    # Dense
    ("equation: 'ab,bc->ac', output_shape: 4, bias_axes: c", "[6]", ["MatMul", "Add"]),
    # Dense on each step, a length unknown until run time
    ("equation: 'abc,cd->abd', output_shape: [null, 4], bias_axes: d, activation: relu", "[null, 6]",
     ["MatMul", "Add", "Relu"]),
    # MultiHeadAttention's projections: (d) -> (heads, size), and back
    ("equation: 'abc,cde->abde', output_shape: [5, 2, 3], bias_axes: de", "[5, 6]", ["MatMul", "Reshape", "Add"]),
    ("equation: 'abcd,cde->abe', output_shape: [null, 4], bias_axes: e", "[null, 2, 3]",
     ["Reshape", "MatMul", "Add"]),
    # the ellipsis, on the left (batch included) and on the right
    ("equation: '...b,bc->...c', output_shape: 3, bias_axes: c", "[4, 6]", ["MatMul", "Add"]),
    ("equation: '...b,bc->...c', output_shape: 3", "[6]", ["MatMul"]),
    ("equation: 'abc...,cd->abd...', output_shape: [4, 3]", "[4, 6]", ["MatMul"]),
    ("equation: 'abc...,cd->abd...', output_shape: [4, 3], bias_axes: d", "[4, 6, 2]",
     ["Transpose", "MatMul", "Transpose", "Add"]),
    # a label in the input, the kernel and the output: one product per index
    ("equation: 'abc,bcd->abd', output_shape: [4, 5], bias_axes: d", "[4, 6]",
     ["Reshape", "MatMul", "Reshape", "Add"]),
    # a label in the input only: summed first
    ("equation: 'abc,cd->ad', output_shape: 5", "[4, 6]", ["ReduceSum", "MatMul"]),
    # output axes in another order than the product's
    ("equation: 'abc,bd->adc', output_shape: [5, 6], bias_axes: dc", "[4, 6]",
     ["Transpose", "MatMul", "Transpose", "Add"]),
    ("equation: 'abcd,dce->aeb', output_shape: [5, 3], bias_axes: eb", "[3, 4, 6]",
     ["Transpose", "Reshape", "MatMul", "Transpose", "Add"]),
    # no contracted label: an outer product
    ("equation: 'ab,c->abc', output_shape: [4, 3], bias_axes: c", "[4]", ["Reshape", "MatMul", "Add"]),
    # no kernel-only label
    ("equation: 'abc,bc->ab', output_shape: [4]", "[4, 6]", ["Reshape", "MatMul", "Reshape"]),
])
def test_equations(layer, shape, ops, opset):
    export = assert_onnx_matches(one_layer(layer, shape), opset=opset)
    assert op_types(export) == ops


@pytest.mark.parametrize("activation", ["glu", "{name: softmax, axis: 1}", "gelu"])
def test_activations_see_the_whole_output(activation):
    assert_onnx_matches(one_layer(f"equation: 'abc,cd->abd', output_shape: [4, 6], activation: {activation}",
                                  "[4, 6]"))


def test_a_reused_einsum_dense_shares_its_kernel():
    spec = ("inputs: {a: [4, 6], b: [4, 6]}\nlayers:\n"
            "  - {type: EinsumDense, equation: 'abc,cde->abde', output_shape: [4, 2, 3], bias_axes: e, name: proj, "
            "inputs: a}\n"
            "  - {reuse: proj, inputs: b, name: proj_b}\n"
            "outputs: [proj, proj_b]\n")
    export = assert_onnx_matches(spec)
    weights = [tensor.name for tensor in export.model.graph.initializer if tensor.data_type == 1]
    assert weights == ["proj/kernel_matrix", "proj/bias"]


def test_every_layer_class_has_a_converter():
    registry.load_builtin_layers()
    onnx_convert._load()
    classes = [cls for cls in registry._classes.values() if cls.__module__ == MODULE.__name__]
    assert classes and [cls.__name__ for cls in classes if cls not in onnx_convert._CONVERTERS] == []
