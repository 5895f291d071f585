"""ONNX export of SimpleRNN, LSTM and GRU (layerspec/onnx_convert/recurrent.py)."""

from __future__ import annotations

import itertools
import pathlib

import numpy as np
import pytest
from onnx import helper, numpy_helper

import layerspec
from layerspec.onnx_builder import MAX_OPSET, ExportError
from layerspec.onnx_export import export_onnx
from tests.onnx_convert.test_merging import exported_masks
from tests.onnx_helpers import assert_onnx_matches, model_of

OPSETS = [None, MAX_OPSET]
SPECS = pathlib.Path(__file__).resolve().parents[2] / "specs"
LAYERS = ["SimpleRNN", "LSTM", "GRU"]
OPERATOR = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
NAMES = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}

#: Token ids for Embedding(mask_zero): padding (0) in the middle and at the
#: end, at the start, nowhere, everywhere, and only at the end.
MASKED_IDS = np.array([[3, 0, 5, 2, 0, 0],
                       [0, 4, 4, 0, 1, 7],
                       [1, 2, 3, 4, 5, 6],
                       [0, 0, 0, 0, 0, 0],
                       [5, 6, 7, 8, 0, 0]], np.int64)
#: A second batch, of another length, ending on masked steps.
SHORT_IDS = np.array([[0, 2, 0], [4, 0, 0]], np.int64)


def op_types(export) -> list[str]:
    return [node.op_type for node in export.model.graph.node]


def recurrent_spec(layer: str, input_shape: str = "[null, 4]", **arguments) -> str:
    written = "".join(f", {key}: {value}" for key, value in arguments.items())
    return f"input: {input_shape}\nlayers:\n  - {{type: {layer}, units: 3{written}}}\n"


def masked_spec(layer: str, **arguments) -> str:
    written = "".join(f", {key}: {value}" for key, value in arguments.items())
    return ("inputs: {ids: {shape: [null], dtype: int64}}\nlayers:\n"
            "  - {type: Embedding, input_dim: 9, output_dim: 4, mask_zero: true}\n"
            f"  - {{type: {layer}, units: 3{written}}}\n")


def flags(*names) -> list[dict]:
    """Every combination of true/false for ``names``, as keyword dicts."""
    return [dict(zip(names, values)) for values in itertools.product(("true", "false"), repeat=len(names))]


def named(value) -> str | None:
    """A test id for a dict of arguments (pytest's ``ids``)."""
    if isinstance(value, dict):
        return "+".join(key if given == "true" else f"no_{key}" if given == "false" else f"{key}={given}"
                        for key, given in value.items())
    return None


#: Every output form at the default opset; at the newest, every output at
#: once, both ways.
OUTPUT_FORMS = [(arguments, None) for arguments in flags("return_sequences", "return_state", "go_backwards")] \
    + [({"return_sequences": "true", "return_state": "true", "go_backwards": backwards}, MAX_OPSET)
       for backwards in ("true", "false")]


# -- the native operators ------------------------------------------------------------

@pytest.mark.parametrize("arguments, opset", OUTPUT_FORMS, ids=named)
@pytest.mark.parametrize("layer", LAYERS)
def test_native_operator_with_every_output_form(layer, arguments, opset):
    export = assert_onnx_matches(recurrent_spec(layer, **arguments), opset=opset)
    assert OPERATOR[layer] in op_types(export) and "Scan" not in op_types(export)
    assert export.opset == (opset or 13)


@pytest.mark.parametrize("layer", LAYERS)
def test_a_known_length_keeps_its_shapes(layer):
    export = assert_onnx_matches(recurrent_spec(layer, "[6, 4]", return_sequences="true", return_state="true"))
    assert export.shapes[f"{NAMES[layer]}.output"] == (None, 6, 3)


def test_an_unknown_length_stays_dynamic():
    export = assert_onnx_matches(recurrent_spec("LSTM", return_sequences="true"), lengths=(7, 1))
    length = export.model.graph.input[0].type.tensor_type.shape.dim[1]
    assert length.dim_param and not length.dim_value


@pytest.mark.parametrize("layer, arguments", [(layer, {"use_bias": "false"}) for layer in LAYERS]
                         + [(layer, {"unroll": "true"}) for layer in LAYERS]
                         + [("LSTM", {"unit_forget_bias": "false"})], ids=named)
def test_bias_and_arguments_that_change_nothing(layer, arguments):
    export = assert_onnx_matches(recurrent_spec(layer, return_sequences="true", **arguments))
    assert OPERATOR[layer] in op_types(export)


def _initializer(export, shape) -> np.ndarray:
    found = [numpy_helper.to_array(tensor) for tensor in export.model.graph.initializer if list(tensor.dims) == shape]
    assert len(found) == 1
    return found[0]


def _node(export, op_type):
    return next(node for node in export.model.graph.node if node.op_type == op_type)


def _attribute(node, name):
    return next((helper.get_attribute_value(attribute) for attribute in node.attribute if attribute.name == name),
                None)


def test_lstm_gates_go_from_keras_ifco_to_onnx_iofc():
    model = model_of(recurrent_spec("LSTM", "[3, 1]").replace("units: 3", "units: 2"))
    layer = model.graph.nodes[0].layer
    # Column k of Keras's kernel holds gate k // 2 (i, f, c, o), unit k % 2.
    layer.kernel.assign(np.array([[0, 1, 10, 11, 20, 21, 30, 31]], np.float32))
    layer.bias.assign(np.array([0, 1, 10, 11, 20, 21, 30, 31], np.float32) / 100)
    export = assert_onnx_matches(model)
    order = [0, 1, 30, 31, 10, 11, 20, 21]  # i, o, f, c
    np.testing.assert_array_equal(_initializer(export, [1, 8, 1])[0, :, 0], order)
    biases = np.concatenate([np.array(order, np.float32) / 100, np.zeros(8, np.float32)])  # Wb, then Rb zero
    np.testing.assert_array_equal(_initializer(export, [1, 16])[0], biases)
    recurrent = layer.recurrent_kernel.numpy()
    np.testing.assert_array_equal(_initializer(export, [1, 8, 2])[0],
                                  np.concatenate([recurrent[:, 0:2], recurrent[:, 6:8], recurrent[:, 2:4],
                                                  recurrent[:, 4:6]], axis=1).T)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("use_bias", ["true", "false"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_reset_after_is_linear_before_reset(reset_after, use_bias, opset):
    spec = recurrent_spec("GRU", return_sequences="true", reset_after=str(reset_after).lower(), use_bias=use_bias)
    model = model_of(spec)
    layer = model.graph.nodes[0].layer
    if layer.bias is not None:  # biases large enough to matter
        layer.bias.assign(np.random.default_rng(5).standard_normal(layer.bias.shape).astype(np.float32))
    export = assert_onnx_matches(model, opset=opset)
    assert _attribute(_node(export, "GRU"), "linear_before_reset") == int(reset_after)
    if use_bias == "true":
        bias = layer.bias.numpy()
        # reset_after: Keras's two rows are Wb and Rb; else its one bias is Wb, Rb zero.
        expected = bias.ravel() if reset_after else np.concatenate([bias, np.zeros_like(bias)])
        np.testing.assert_array_equal(_initializer(export, [1, 18])[0], expected)
    else:
        assert len(_node(export, "GRU").input) < 4 or _node(export, "GRU").input[3] == ""


#: Keras activations ONNX's operators take, as a spec writes them.
NATIVE_ACTIVATIONS = ["tanh", "sigmoid", "relu", "linear", "hard_sigmoid", "softsign", "elu", "leaky_relu",
                      "{name: elu, alpha: 0.5}", "{name: leaky_relu, negative_slope: 0.3}"]


@pytest.mark.parametrize("activation", NATIVE_ACTIVATIONS)
@pytest.mark.parametrize("layer, argument", [("SimpleRNN", "activation"), ("LSTM", "activation"),
                                             ("LSTM", "recurrent_activation"), ("GRU", "activation"),
                                             ("GRU", "recurrent_activation")])
def test_activations_the_operators_take(layer, argument, activation):
    export = assert_onnx_matches(recurrent_spec(layer, return_sequences="true", **{argument: activation}))
    assert OPERATOR[layer] in op_types(export) and "Scan" not in op_types(export)


@pytest.mark.parametrize("recurrent_activation, activation", [
    ("hard_sigmoid", "relu"), ("sigmoid", "linear"), ("softsign", "elu"), ("relu", "hard_sigmoid"),
    ("{name: leaky_relu, negative_slope: 0.1}", "softsign"), ("linear", "{name: elu, alpha: 2.0}")])
@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
def test_activation_pairs_the_operators_take(layer, recurrent_activation, activation):
    spec = recurrent_spec(layer, return_sequences="true", recurrent_activation=recurrent_activation,
                          activation=activation)
    export = assert_onnx_matches(spec)
    assert OPERATOR[layer] in op_types(export) and "Scan" not in op_types(export)


def test_activation_arguments_are_consumed_in_order():
    spec = recurrent_spec("LSTM", return_sequences="true", recurrent_activation="hard_sigmoid",
                          activation="{name: leaky_relu, negative_slope: 0.3}")
    lstm = _node(assert_onnx_matches(spec), "LSTM")
    assert _attribute(lstm, "activations") == [b"HardSigmoid", b"LeakyRelu", b"LeakyRelu"]
    np.testing.assert_allclose(_attribute(lstm, "activation_alpha"), [1 / 6, 0.3, 0.3], rtol=1e-7)
    np.testing.assert_allclose(_attribute(lstm, "activation_beta"), [0.5], rtol=1e-7)


@pytest.mark.parametrize("layer", LAYERS)
def test_saturating_inputs(layer):
    model = model_of(recurrent_spec(layer, "[5, 4]", return_sequences="true"))
    x = (np.random.default_rng(2).standard_normal((3, 5, 4)) * 50).astype(np.float32)
    assert_onnx_matches(model, inputs=[x])


# -- the Scan ------------------------------------------------------------------------

#: Activations ONNX's operators lack (softplus: ONNX Runtime's overflows).
SCAN_ACTIVATIONS = ["softplus", "gelu", "swish", "softmax", "{name: relu, max_value: 1.0}"]


@pytest.mark.parametrize("activation", SCAN_ACTIVATIONS)
@pytest.mark.parametrize("layer, argument", [("SimpleRNN", "activation"), ("LSTM", "activation"),
                                             ("LSTM", "recurrent_activation"), ("GRU", "activation"),
                                             ("GRU", "recurrent_activation")])
def test_other_activations_make_a_scan(layer, argument, activation):
    export = assert_onnx_matches(recurrent_spec(layer, return_sequences="true", **{argument: activation}))
    assert "Scan" in op_types(export) and OPERATOR[layer] not in op_types(export)


@pytest.mark.parametrize("arguments, opset", OUTPUT_FORMS, ids=named)
@pytest.mark.parametrize("layer", LAYERS)
def test_scan_with_every_output_form(layer, arguments, opset):
    export = assert_onnx_matches(recurrent_spec(layer, activation="softplus", **arguments), opset=opset)
    assert "Scan" in op_types(export)


@pytest.mark.parametrize("reset_after", ["true", "false"])
@pytest.mark.parametrize("use_bias", ["true", "false"])
def test_scan_gru_both_ways(reset_after, use_bias):
    spec = recurrent_spec("GRU", return_sequences="true", activation="softplus", reset_after=reset_after,
                          use_bias=use_bias)
    model = model_of(spec)
    layer = model.graph.nodes[0].layer
    if layer.bias is not None:
        layer.bias.assign(np.random.default_rng(5).standard_normal(layer.bias.shape).astype(np.float32))
    assert "Scan" in op_types(assert_onnx_matches(model))


@pytest.mark.parametrize("layer", LAYERS)
def test_a_float64_model_runs_as_a_scan(layer):
    # ONNX Runtime has float32 RNN, LSTM and GRU kernels only.
    spec = "dtype: float64\n" + recurrent_spec(layer, return_sequences="true", return_state="true")
    export = assert_onnx_matches(spec, rtol=1e-9, atol=1e-12)
    assert "Scan" in op_types(export) and OPERATOR[layer] not in op_types(export)



@pytest.mark.parametrize("activation", ["tanh", "softplus"])
def test_a_reused_layer_holds_its_weights_once(activation):
    spec = f"""
    inputs: {{a: [null, 4], b: [null, 4]}}
    layers:
      - {{type: LSTM, units: 3, activation: {activation}, inputs: a, name: shared}}
      - {{reuse: shared, inputs: b, name: again}}
      - {{type: Concatenate, inputs: [shared, again]}}
    """
    export = assert_onnx_matches(spec)
    kernels = [tensor for tensor in export.model.graph.initializer if 4 in tensor.dims and 12 in tensor.dims]
    assert len(kernels) == 1

# -- initial states ------------------------------------------------------------------

def initial_spec(layer: str, **arguments) -> str:
    states = ["h0", "c0"] if layer == "LSTM" else ["h0"]
    written = "".join(f", {key}: {value}" for key, value in arguments.items())
    declared = "".join(f"\n  {name}: [3]" for name in states)
    return (f"inputs:\n  x: [null, 4]{declared}\nlayers:\n"
            f"  - {{type: {layer}, units: 3, inputs: [x, {', '.join(states)}]{written}}}\n")


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("activation", ["tanh", "softplus"])
@pytest.mark.parametrize("arguments", flags("return_sequences", "go_backwards"), ids=named)
@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
def test_initial_states(layer, arguments, activation, opset):
    spec = initial_spec(layer, return_state="true", activation=activation, **arguments)
    export = assert_onnx_matches(spec, opset=opset)
    assert ("Scan" in op_types(export)) == (activation == "softplus")


def test_initial_states_turn_the_mask_off():
    # Keras passes no mask to a call with several tensors; layerspec neither.
    spec = """
    inputs: {ids: {shape: [null], dtype: int64}, h0: [3], c0: [3]}
    layers:
      - {type: Embedding, input_dim: 9, output_dim: 4, mask_zero: true, inputs: ids}
      - {type: LSTM, units: 3, return_sequences: true, inputs: [embedding, h0, c0]}
    """
    rng = np.random.default_rng(3)
    states = [rng.standard_normal((5, 3)).astype(np.float32) for _ in range(2)]
    export = assert_onnx_matches(spec, inputs=[MASKED_IDS, *states])
    assert "LSTM" in op_types(export)


# -- masks ---------------------------------------------------------------------------

def assert_masked_matches(spec: str, opset=None):
    export = assert_onnx_matches(spec, inputs=[MASKED_IDS], opset=opset)
    assert_onnx_matches(spec, inputs=[SHORT_IDS], opset=opset)
    return export


@pytest.mark.parametrize("arguments", flags("return_sequences", "return_state", "go_backwards",
                                            "zero_output_for_mask"), ids=named)
@pytest.mark.parametrize("layer", LAYERS)
def test_masked_steps_are_skipped(layer, arguments):
    export = assert_masked_matches(masked_spec(layer, **arguments))
    assert "Scan" in op_types(export) and "Where" not in op_types(export)  # Where is inside the body


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("layer", LAYERS)
def test_masked_steps_at_each_opset(layer, opset):
    assert_masked_matches(masked_spec(layer, return_sequences="true", zero_output_for_mask="true"), opset)


@pytest.mark.parametrize("layer", LAYERS)
def test_unroll_ignores_zero_output_for_mask(layer):
    assert_masked_matches(masked_spec(layer, zero_output_for_mask="true", unroll="true"))
    assert_masked_matches(masked_spec(layer, zero_output_for_mask="true", unroll="true", return_sequences="true"))


@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
def test_masked_steps_with_other_activations(layer):
    assert_masked_matches(masked_spec(layer, return_sequences="true", activation="softmax",
                                      recurrent_activation="hard_sigmoid"))


def test_masked_float64():
    spec = "dtype: float64\n" + masked_spec("GRU", return_sequences="true", zero_output_for_mask="true")
    assert_onnx_matches(spec, inputs=[MASKED_IDS], rtol=1e-9, atol=1e-12)


def test_a_mask_from_masking():
    spec = """
    input: [null, 3]
    layers:
      - {type: Masking, mask_value: 0.0}
      - {type: GRU, units: 3, return_sequences: true}
      - {type: LSTM, units: 2}
    """
    x = np.random.default_rng(4).standard_normal((3, 5, 3)).astype(np.float32)
    x[0, 1] = x[0, 4] = x[1, 0] = 0
    assert_onnx_matches(spec, inputs=[x])


@pytest.mark.parametrize("layer", LAYERS)
def test_output_mask_is_the_sequences_with_return_sequences(monkeypatch, layer):
    spec = masked_spec(layer, return_sequences="true")
    name = NAMES[layer]
    expected, got = exported_masks(monkeypatch, spec, [name], [MASKED_IDS])
    np.testing.assert_array_equal(got[name], MASKED_IDS != 0)
    np.testing.assert_array_equal(got[name], expected[name])


@pytest.mark.parametrize("return_sequences", ["true", "false"])
def test_masks_reach_the_next_layer_from_each_output(return_sequences):
    """The sequence output passes the mask on (a stacked LSTM skips the
    same steps); states and last outputs carry none."""
    spec = f"""
    inputs: {{ids: {{shape: [null], dtype: int64}}}}
    layers:
      - {{type: Embedding, input_dim: 9, output_dim: 4, mask_zero: true}}
      - {{type: LSTM, units: 3, return_sequences: {return_sequences}, return_state: true, name: first}}
      - {{type: {'LSTM' if return_sequences == 'true' else 'Dense'}, units: 2, inputs: first.output, name: from_output}}
      - {{type: Dense, units: 2, inputs: first.state_c, name: from_state}}
    outputs: [from_output, from_state]
    """
    assert_masked_matches(spec)


# -- refusals ------------------------------------------------------------------------

@pytest.mark.parametrize("argument", ["activation", "recurrent_activation"])
def test_a_python_function_as_activation_is_refused(argument):
    model = layerspec.Sequential([layerspec.layers.GRU(3, **{argument: lambda x: np.tanh(x)})])
    model.build((5, 4))
    model.init(0)
    with pytest.raises(ExportError, match=f"^layer 'gru' \\(GRU\\) cannot be exported to ONNX: its {argument} is a "
                                          "Python function, which ONNX cannot hold$") as raised:
        export_onnx(model)
    assert raised.value.argument == argument


# -- whole specs ---------------------------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", ["text_lstm", "gru_forecaster", "sequence_tagger"])
def test_specs(name, opset):
    assert_onnx_matches((SPECS / f"{name}.yaml").read_text(), opset=opset)

