"""ONNX export of every activation (layerspec/onnx_convert/activations.py),
checked against layerspec's NumPy functions over the whole real line."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from layerspec import activations
from layerspec.layers.core import Activation
from layerspec.model import Sequential
from layerspec.onnx_builder import MAX_OPSET, MIN_OPSET, ExportError
from layerspec.onnx_convert.activations import rnn_activation
from layerspec.onnx_export import export_onnx
from tests.onnx_helpers import assert_onnx_matches, model_of, session_of

#: Every activation and argument value that changes the computation. The
#: softmax family gets finite inputs: a row holding +inf is NaN in ONNX (as
#: in Keras), the limit in layerspec.
ELEMENTWISE = [
    "celu", "{name: celu, alpha: 0.5}", "elu", "{name: elu, alpha: 2.0}", "exponential", "gelu",
    "{name: gelu, approximate: true}", "glu", "{name: glu, axis: 1}", "hard_shrink",
    "{name: hard_shrink, threshold: 1.5}",
    "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "leaky_relu", "{name: leaky_relu, negative_slope: 1.5}",
    "{name: leaky_relu, negative_slope: -0.5}", "linear", "log_sigmoid", "mish", "relu",
    "{name: relu, negative_slope: 0.1}", "{name: relu, max_value: 3.0}", "{name: relu, threshold: 0.5}",
    "{name: relu, negative_slope: 0.1, max_value: 3.0, threshold: 0.5}", "{name: relu, max_value: -1.0}",
    "{name: relu, threshold: -1.0, negative_slope: 2.0}", "relu6", "selu", "sigmoid", "silu", "swish", "soft_shrink",
    "{name: soft_shrink, threshold: 1.0}", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "squareplus",
    "{name: squareplus, b: 0.0}", "{name: squareplus, b: 1.0e+30}", "tanh", "tanh_shrink",
    "{name: threshold, threshold: 0.5, default_value: -2.0}",
]
FINITE_ONLY = [
    "softmax", "{name: softmax, axis: 1}", "log_softmax", "{name: log_softmax, axis: 1}", "sparsemax",
    "{name: sparsemax, axis: 1}",
    # layerspec's leaky_relu with slope 0 gives max(inf, 0 * inf) = NaN at +inf; Keras (and ONNX) give inf.
    "{name: leaky_relu, negative_slope: 0.0}",
]

#: Values where the formulas break down unless written with care.
EDGES = [np.nan, -np.inf, -1e30, -100, -89, -30, -5, -1, -0.5, -1e-3, -0.0, 0, 1e-3, 0.5, 1, 2, 5, 30, 89, 100, 1e30,
         np.inf, 3e19, -3e19]


def _name(identifier: str) -> str:
    return identifier if not identifier.startswith("{") else identifier.split(",")[0][len("{name: "):].rstrip("}")


def test_every_activation_is_covered():
    assert {_name(item) for item in ELEMENTWISE + FINITE_ONLY} == set(activations.mapping_names())


def _all_activations_spec(dtype: str) -> str:
    """One model applying every activation to one of two inputs, side by side."""
    lines = [f"name: activations\ndtype: {dtype}\ninputs: {{x: [4, 16], finite: [4, 16]}}\nlayers:"]
    names = []
    for number, identifier in enumerate(ELEMENTWISE + FINITE_ONLY):
        source = "x" if identifier in ELEMENTWISE else "finite"
        lines.append(f"  - {{type: Activation, activation: {identifier}, inputs: {source}, name: a{number}}}")
        names.append(f"a{number}")
    lines.append(f"outputs: [{', '.join(names)}]")
    return "\n".join(lines) + "\n"


def _inputs(dtype: str, batch: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((batch, 4, 16)) * 3
    x.reshape(batch, -1)[0, :len(EDGES)] = EDGES
    finite = np.where(np.isfinite(x), x, 0.0)
    finite.reshape(batch, -1)[0, -6:] = [1e30, -1e30, 100, -100, 1e4, -1e4]
    return [x.astype(dtype), finite.astype(dtype)]


@pytest.mark.parametrize("dtype, opset", [("float32", None), ("float32", 14), ("float32", 18), ("float32", 20),
                                          ("float32", MAX_OPSET), ("float64", None), ("float64", MAX_OPSET)])
def test_every_activation_matches_layerspec_at_edge_values(dtype, opset):
    model = model_of(_all_activations_spec(dtype))
    export = export_onnx(model, opset)
    assert export.opset == (opset or MIN_OPSET)  # no activation raises the opset
    session = session_of(export)
    for batch in (3, 1):
        inputs = _inputs(dtype, batch)
        expected = model.predict(inputs)
        got = session.run(None, {"x": inputs[0], "finite": inputs[1]})
        for identifier, value, want in zip(ELEMENTWISE + FINITE_ONLY, got, expected):
            assert value.dtype == want.dtype, identifier
            np.testing.assert_allclose(value, want, rtol=1e-4, atol=1e-5, err_msg=identifier)


@pytest.mark.parametrize("opset", [None, MAX_OPSET])
@pytest.mark.parametrize("identifier, shape", [("glu", "[null, 6]"), ("{name: glu, axis: 1}", "[null, 6]"),
                                               ("{name: sparsemax, axis: 1}", "[null, 3]"),
                                               ("{name: softmax, axis: 1}", "[null, 3]")])
def test_axis_wise_activations_along_a_length_unknown_until_run_time(identifier, shape, opset):
    spec = f"input: {shape}\nlayers:\n  - {{type: Activation, activation: {identifier}}}\n"
    assert_onnx_matches(spec, opset=opset, lengths=(6, 2))


def _op_types(export) -> set[str]:
    return {node.op_type for node in export.model.graph.node}


@pytest.mark.parametrize("identifier, opset, native, composed", [
    ("gelu", 20, "Gelu", "Erf"), ("{name: gelu, approximate: true}", 20, "Gelu", "Sigmoid"),
    ("mish", 18, "Mish", "Softplus"), ("hard_silu", 14, "HardSwish", "HardSigmoid"),
])
def test_native_operators_are_used_where_the_opset_has_them(identifier, opset, native, composed):
    spec = f"input: [4]\nlayers:\n  - {{type: Activation, activation: {identifier}}}\n"
    assert native in _op_types(assert_onnx_matches(spec, opset=opset))
    older = assert_onnx_matches(spec, opset=opset - 1)
    assert native not in _op_types(older) and composed in _op_types(older)


def test_float64_models_compose_what_onnx_runtime_runs_in_float32_only():
    spec = "dtype: float64\ninput: [4]\nlayers:\n  - {type: Activation, activation: softplus}\n"
    assert _op_types(assert_onnx_matches(spec)) == {"Relu", "Abs", "Neg", "Exp", "Add", "Log"}


def test_dense_keeps_its_activation():
    spec = "input: [5]\nlayers:\n  - {units: 4, activation: {name: leaky_relu, negative_slope: 0.1}}\n"
    export = assert_onnx_matches(spec)
    assert [node.op_type for node in export.model.graph.node] == ["MatMul", "Add", "LeakyRelu"]
    assert export.model.graph.node[-1].attribute[0].f == pytest.approx(0.1)


def test_a_python_function_is_refused_by_name():
    model = Sequential([Activation(lambda x: x * 2, name="double")], input_shape=(3,)).init(0)
    with pytest.raises(ExportError, match=r"^layer 'double' \(Activation\) cannot be exported to ONNX: its activation "
                                          r"is a Python function, which ONNX cannot hold$") as caught:
        export_onnx(model)
    assert caught.value.argument == "activation"


# -- rnn_activation ----------------------------------------------------------------

def test_rnn_activation_names_what_onnx_recurrent_operators_take():
    get = activations.get
    assert rnn_activation(get("tanh")) == ("Tanh", None, None)
    assert rnn_activation(get("sigmoid")) == ("Sigmoid", None, None)
    assert rnn_activation(get("relu")) == ("Relu", None, None)
    assert rnn_activation(get("linear")) == ("Affine", 1.0, 0.0)
    assert rnn_activation(get("hard_sigmoid")) == ("HardSigmoid", 1 / 6, 0.5)
    assert rnn_activation(get("softsign")) == ("Softsign", None, None)
    assert rnn_activation(get("leaky_relu")) == ("LeakyRelu", 0.2, None)
    assert rnn_activation(get({"name": "elu", "alpha": 0.5})) == ("Elu", 0.5, None)
    assert rnn_activation(get({"name": "relu", "negative_slope": 0.3})) == ("LeakyRelu", 0.3, None)
    assert rnn_activation(get({"name": "relu", "threshold": 0.5})) == ("ThresholdedRelu", 0.5, None)
    assert rnn_activation(get({"name": "threshold", "threshold": 1.0, "default_value": 0.0})) == \
        ("ThresholdedRelu", 1.0, None)
    for unmapped in ("softplus", "gelu", "softmax", "swish", {"name": "relu", "max_value": 6.0},
                     {"name": "threshold", "threshold": 1.0, "default_value": -1.0}):
        assert rnn_activation(get(unmapped)) is None
    assert rnn_activation(lambda x: x) is None


@pytest.mark.parametrize("identifier", ["tanh", "sigmoid", "relu", "linear", "hard_sigmoid", "softsign", "leaky_relu",
                                        {"name": "elu", "alpha": 0.5}, {"name": "relu", "negative_slope": 0.3},
                                        {"name": "relu", "threshold": 0.5}])
def test_rnn_activation_computes_the_keras_function_in_onnx_runtime(identifier):
    # A one-step RNN with W = 1, R = 0, no bias: its output is f(x).
    function = activations.get(identifier)
    name, alpha, beta = rnn_activation(function)
    attributes = {"hidden_size": 1, "activations": [name]}
    if alpha is not None:
        attributes["activation_alpha"] = [alpha]
    if beta is not None:
        attributes["activation_beta"] = [beta]
    weights = [onnx.numpy_helper.from_array(np.ones((1, 1, 1), np.float32), "W"),
               onnx.numpy_helper.from_array(np.zeros((1, 1, 1), np.float32), "R")]
    graph = helper.make_graph([helper.make_node("RNN", ["x", "W", "R"], ["y"], **attributes)], "rnn",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 9, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", MIN_OPSET)])
    model.ir_version = 7

    class Export:
        pass

    export = Export()
    export.model = model
    x = np.array([-30, -5, -1, -0.2, 0, 0.3, 1, 5, 30], np.float32).reshape(1, 9, 1)
    got = session_of(export).run(None, {"x": x})[0]
    np.testing.assert_allclose(got.reshape(-1), function(x.reshape(-1)), rtol=1e-5, atol=1e-6)
