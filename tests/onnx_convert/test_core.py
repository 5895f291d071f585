"""ONNX export of the core layers (layerspec/onnx_convert/core.py): Dense,
Activation, Dropout and Masking with its mask."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

import layerspec.layers.core as MODULE
import layerspec.onnx_convert as onnx_convert
from layerspec import registry
from layerspec.onnx_builder import MAX_OPSET
from tests.onnx_helpers import assert_onnx_matches, model_of, onnx_masks

OPSETS = [None, MAX_OPSET]


def one_layer(layer: str, shape: str = "[4, 6]", dtype: str = "float32") -> str:
    return f"dtype: {dtype}\ninput: {shape}\nlayers:\n  - {layer}\n"


def op_types(export) -> list[str]:
    return [node.op_type for node in export.model.graph.node]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("layer, ops", [
    ("{units: 3}", ["MatMul", "Add"]),
    ("{units: 3, use_bias: false, activation: tanh}", ["MatMul", "Tanh"]),
    ("{units: 4, activation: glu}", ["MatMul", "Add", "Split", "Sigmoid", "Mul"]),
])
def test_dense(layer, ops, opset):
    export = assert_onnx_matches(one_layer(layer, "[null, 6]"), opset=opset)
    assert op_types(export) == ops
    assert export.shapes["dense"] == (None, None, 2 if "glu" in layer else 3)


@pytest.mark.parametrize("opset", OPSETS)
def test_dense_in_float64(opset):
    export = assert_onnx_matches(one_layer("{units: 3, activation: gelu}", dtype="float64"), opset=opset)
    assert export.model.graph.output[0].type.tensor_type.elem_type == TensorProto.DOUBLE


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("activation", ["relu", "softmax", "glu", "{name: softmax, axis: 1}", "selu"])
def test_activation(activation, opset):
    assert_onnx_matches(one_layer(f"{{type: Activation, activation: {activation}}}"), opset=opset)


def test_activation_glu_halves_the_last_axis():
    export = assert_onnx_matches(one_layer("{type: Activation, activation: glu}"))
    assert export.shapes["activation"] == (None, 4, 3)


@pytest.mark.parametrize("layer", ["{type: Dropout, rate: 0.5}",
                                   "{type: Dropout, rate: 0.2, noise_shape: [null, 1, 6], seed: 3}"])
def test_dropout_is_the_identity(layer):
    export = assert_onnx_matches(one_layer(layer))
    assert op_types(export) == ["Identity"]  # only the renaming to the layer's name


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking_zeroes_the_masked_steps(mask_value, opset):
    x = np.random.default_rng(0).standard_normal((3, 5, 2)).astype(np.float32)
    x[0, 1] = mask_value
    x[1, [0, 4]] = mask_value
    x[2, 2, 0] = mask_value  # one feature only: kept
    x[2, 3] = [np.nan, mask_value]  # NaN differs from everything: kept
    spec = one_layer(f"{{type: Masking, mask_value: {mask_value}}}", "[5, 2]")
    assert_onnx_matches(spec, inputs=[x], opset=opset)
    assert_onnx_matches(spec, opset=opset)




@pytest.mark.parametrize("opset", OPSETS)
def test_masking_makes_keras_mask(monkeypatch, opset):
    x = np.ones((2, 4, 3), np.float32)
    x[0, 1] = 0
    x[1, 3] = 0
    x[1, 0, 1] = 0
    spec = one_layer("{type: Masking}", "[4, 3]")
    masks = onnx_masks(monkeypatch, model_of(spec), [x], opset)
    np.testing.assert_array_equal(masks["masking"], [[True, False, True, True], [True, True, True, False]])
    np.testing.assert_array_equal(masks["masking"], model_of(spec).layers[0].compute_mask(x, None))


@pytest.mark.parametrize("opset", OPSETS)
def test_masking_mask_reaches_a_layer_that_uses_it(opset):
    # Softmax reads the mask: masked values give 0 (their logits -1e9 first).
    # The (batch, 3) mask broadcasts over the (batch, 3, 3) input from the
    # right, as in NumPy and Keras, so its batch axis meets the steps': a
    # batch of 3 runs in both.
    x = np.random.default_rng(1).standard_normal((3, 3, 3)).astype(np.float32)
    x[0, 1] = 0
    x[1, 2] = 0
    spec = "input: [3, 3]\nlayers:\n  - {type: Masking}\n  - {type: Softmax}\n"
    export = assert_onnx_matches(spec, inputs=[x], opset=opset)
    assert "Where" in [node.op_type for node in export.model.graph.node if node.name.startswith("softmax/")]
    # the comparison is made once for the output and the mask
    assert [node.op_type for node in export.model.graph.node].count("Equal") == 1


def test_every_layer_class_has_a_converter():
    registry.load_builtin_layers()
    onnx_convert._load()
    classes = [cls for cls in registry._classes.values() if cls.__module__ == MODULE.__name__]
    assert classes and [cls.__name__ for cls in classes if cls not in onnx_convert._CONVERTERS] == []
