"""ONNX export of the activation layers (layerspec/onnx_convert/activation_layers.py):
ReLU, LeakyReLU, PReLU, ELU, Softmax, Identity."""

from __future__ import annotations

import numpy as np
import pytest

import layerspec.layers.activation_layers as MODULE
import layerspec.onnx_convert as onnx_convert
from layerspec import registry
from layerspec.onnx_builder import MAX_OPSET
from tests.onnx_helpers import assert_onnx_matches, model_of

OPSETS = [None, MAX_OPSET]

#: Values where the layers' formulas need care.
EDGES = np.array([np.nan, -np.inf, -1e30, -30, -2, -0.5, -0.0, 0.0, 0.25, 0.5, 0.75, 1, 2, 30, 1e30, np.inf],
                 np.float32)


def one_layer(layer: str, shape: str = "[4, 4]", dtype: str = "float32") -> str:
    return f"dtype: {dtype}\ninput: {shape}\nlayers:\n  - {layer}\n"


def edge_inputs(dtype: str = "float32") -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 4, 4)) * 2).astype(dtype)
    x[0] = EDGES.reshape(4, 4)
    return [x]


def op_types(export) -> list[str]:
    return [node.op_type for node in export.model.graph.node]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("layer", [
    "{type: ReLU}", "{type: ReLU, max_value: 1.0}", "{type: ReLU, negative_slope: 0.3}",
    "{type: ReLU, negative_slope: 3.0}", "{type: ReLU, threshold: 0.5}",
    "{type: ReLU, max_value: 1.0, negative_slope: 0.1, threshold: 0.5}",
    "{type: ReLU, max_value: 0.25, threshold: 0.5}",  # a ceiling below the threshold: Keras's jump
    "{type: LeakyReLU}", "{type: LeakyReLU, negative_slope: 0}", "{type: LeakyReLU, negative_slope: 2.5}",
    "{type: ELU}", "{type: ELU, alpha: 0.3}", "{type: ELU, alpha: 1.0e+39}",  # an alpha beyond float32: inf
    "{type: Identity}",
])
def test_elementwise_layers_at_edge_values(layer, opset, dtype):
    spec = one_layer(layer, dtype=dtype)
    assert_onnx_matches(spec, inputs=edge_inputs(dtype), opset=opset)
    assert_onnx_matches(spec, opset=opset)


def test_plain_relu_is_one_operator():
    assert op_types(assert_onnx_matches(one_layer("{type: ReLU}"))) == ["Relu"]
    assert op_types(assert_onnx_matches(one_layer("{type: LeakyReLU, negative_slope: 0.2}"))) == ["LeakyRelu"]
    assert op_types(assert_onnx_matches(one_layer("{type: Identity}"))) == ["Identity"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("layer, shape", [
    ("{type: PReLU}", "[4, 4]"),  # alpha 0 (Keras's default): 0 at -inf, not NaN
    ("{type: PReLU, alpha_initializer: random_normal}", "[4, 4]"),
    ("{type: PReLU, alpha_initializer: random_normal, shared_axes: 1}", "[4, 4]"),
    ("{type: PReLU, alpha_initializer: random_normal, shared_axes: [1, 2]}", "[4, 4]"),
])
def test_prelu(layer, shape, opset, dtype):
    spec = one_layer(layer, shape, dtype)
    assert_onnx_matches(spec, inputs=edge_inputs(dtype), opset=opset)
    assert_onnx_matches(spec, opset=opset)


def test_prelu_with_some_alpha_zero_keeps_minus_inf_elsewhere():
    model = model_of(one_layer("{type: PReLU, alpha_initializer: random_normal, shared_axes: 1}"))
    alpha = model.get_weights()["p_re_lu/alpha"].copy()
    alpha[0, 1] = 0.0
    alpha[0, 2] = 0.5
    model.set_weights({"p_re_lu/alpha": alpha})
    x = np.full((1, 4, 4), -np.inf, np.float32)
    export = assert_onnx_matches(model, inputs=[x])
    assert op_types(export) == ["Max", "PRelu"]
    np.testing.assert_array_equal(model.predict(x)[0, 0, 1:3], [0.0, -np.inf])


def test_prelu_along_a_length_unknown_until_run_time():
    assert_onnx_matches(one_layer("{type: PReLU, alpha_initializer: random_normal, shared_axes: 1}", "[null, 3]"))


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("layer, ops", [
    ("{type: Softmax}", ["Softmax"]), ("{type: Softmax, axis: 1}", ["Softmax"]),
    ("{type: Softmax, axis: [1, 2]}", ["ReduceMax", "Sub", "Exp", "ReduceSum", "Div"]),
    ("{type: Softmax, axis: [-1, 1]}", ["ReduceMax", "Sub", "Exp", "ReduceSum", "Div"]),
])
def test_softmax(layer, ops, opset):
    spec = one_layer(layer, "[3, 4, 5]")
    # exp would overflow without the max subtracted first
    big = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32) * 300
    assert_onnx_matches(spec, inputs=[big], opset=opset)
    assert op_types(assert_onnx_matches(spec, opset=opset)) == ops


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("axis", ["-1", "[1, 2]"])
def test_softmax_with_a_mask(axis, opset):
    # Masking's (batch, 3) mask broadcasts over the (batch, 3, 3) input from
    # the right (NumPy's and Keras's rule), so a batch of 3 runs. Masked
    # values get weight 0; a slice masked throughout gives zeros.
    x = np.random.default_rng(2).standard_normal((3, 3, 3)).astype(np.float32)
    x[0, 1] = 0
    x[1, :] = 0
    spec = f"input: [3, 3]\nlayers:\n  - {{type: Masking}}\n  - {{type: Softmax, axis: {axis}}}\n"
    export = assert_onnx_matches(spec, inputs=[x], opset=opset)
    assert op_types(export).count("Where") == 3  # Masking's, and -1e9 before and 0 after the softmax


def test_every_layer_class_has_a_converter():
    registry.load_builtin_layers()
    onnx_convert._load()
    classes = [cls for cls in registry._classes.values() if cls.__module__ == MODULE.__name__]
    assert classes and [cls.__name__ for cls in classes if cls not in onnx_convert._CONVERTERS] == []
