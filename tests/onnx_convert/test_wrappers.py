"""ONNX export of Bidirectional and TimeDistributed (layerspec/onnx_convert/wrappers.py)."""

from __future__ import annotations

import itertools
import pathlib

import numpy as np
import pytest
from onnx import helper

import layerspec
from layerspec import onnx_convert
from layerspec.layers.core import Dense
from layerspec.layers.recurrent import GRU
from layerspec.onnx_builder import MAX_OPSET, ExportError
from layerspec.onnx_export import export_onnx
from tests.onnx_convert.test_merging import exported_masks
from tests.onnx_convert.test_recurrent import MASKED_IDS, OPERATOR, SHORT_IDS, op_types
from tests.onnx_helpers import assert_onnx_matches, model_of

OPSETS = [None, MAX_OPSET]
SPECS = pathlib.Path(__file__).resolve().parents[2] / "specs"
MERGE_MODES = ["concat", "sum", "mul", "ave", "null"]
FLAGS = list(itertools.product(("true", "false"), repeat=2))
#: (layer, merge_mode, return_sequences, return_state): every merge with an
#: LSTM, the other layers concatenated.
DIRECTIONS = [("LSTM", mode, sequences, state) for mode in MERGE_MODES for sequences, state in FLAGS] \
    + [(layer, "concat", sequences, state) for layer in ("SimpleRNN", "GRU") for sequences, state in FLAGS]


def bidirectional_spec(layer: str = "LSTM", merge_mode: str = "concat", masked: bool = False, **arguments) -> str:
    written = "".join(f", {key}: {value}" for key, value in arguments.items())
    head = ("inputs: {ids: {shape: [null], dtype: int64}}\nlayers:\n"
            "  - {type: Embedding, input_dim: 9, output_dim: 4, mask_zero: true}\n") if masked \
        else "input: [null, 4]\nlayers:\n"
    wrapped = f"{{type: {layer}, units: 3{written}}}"
    return head + f"  - {{type: Bidirectional, merge_mode: {merge_mode}, layer: {wrapped}}}\n"


def recurrent_nodes(export) -> list:
    return [node for node in export.model.graph.node if node.op_type in ("RNN", "LSTM", "GRU", "Scan")]


# -- Bidirectional: one operator -----------------------------------------------------------

@pytest.mark.parametrize("layer, merge_mode, return_sequences, return_state", DIRECTIONS)
def test_one_bidirectional_operator(layer, merge_mode, return_sequences, return_state):
    spec = bidirectional_spec(layer, merge_mode, return_sequences=return_sequences, return_state=return_state)
    export = assert_onnx_matches(spec)
    (node,) = recurrent_nodes(export)
    assert node.op_type == OPERATOR[layer]
    assert helper.get_attribute_value(next(a for a in node.attribute if a.name == "direction")) == b"bidirectional"


@pytest.mark.parametrize("layer", ["SimpleRNN", "LSTM", "GRU"])
def test_one_operator_at_the_newest_opset(layer):
    spec = bidirectional_spec(layer, return_sequences="true", return_state="true")
    assert assert_onnx_matches(spec, opset=MAX_OPSET).opset == MAX_OPSET


@pytest.mark.parametrize("reset_after", ["true", "false"])
def test_gru_reset_after_both_ways(reset_after):
    model = model_of(bidirectional_spec("GRU", return_sequences="true", reset_after=reset_after))
    layer = model.graph.nodes[0].layer
    for direction in (layer.forward_layer, layer.backward_layer):
        direction.bias.assign(np.random.default_rng(1).standard_normal(direction.bias.shape).astype(np.float32))
    assert_onnx_matches(model)


def test_concat_without_states_is_a_transpose_and_reshape():
    export = assert_onnx_matches(bidirectional_spec(return_sequences="true"))
    assert op_types(export) == ["Transpose", "LSTM", "Transpose", "Reshape"]


# -- Bidirectional: two directions ---------------------------------------------------------

@pytest.mark.parametrize("return_state", ["true", "false"])
@pytest.mark.parametrize("return_sequences", ["true", "false"])
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_two_scans_where_the_operator_cannot(merge_mode, return_sequences, return_state):
    spec = bidirectional_spec("GRU", merge_mode, return_sequences=return_sequences, return_state=return_state,
                              activation="softplus")
    export = assert_onnx_matches(spec)
    assert [node.op_type for node in recurrent_nodes(export)] == ["Scan", "Scan"]


def test_a_given_backward_layer():
    spec = """
    input: [null, 4]
    layers:
      - type: Bidirectional
        layer: {type: LSTM, units: 3, return_sequences: true}
        backward_layer: {type: GRU, units: 2, return_sequences: true, go_backwards: true}
    """
    export = assert_onnx_matches(spec)
    assert [node.op_type for node in recurrent_nodes(export)] == ["LSTM", "GRU"]


def test_a_forward_layer_going_backwards():
    # layer goes backwards, backward_layer forwards: each direction as it is, the backward output flipped.
    spec = """
    input: [null, 4]
    layers:
      - type: Bidirectional
        merge_mode: null
        layer: {type: LSTM, units: 3, return_sequences: true, go_backwards: true}
        backward_layer: {type: LSTM, units: 3, return_sequences: true, name: ahead}
    """
    export = assert_onnx_matches(spec)
    assert len(recurrent_nodes(export)) == 2


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
def test_conv_lstm_directions(merge_mode):
    spec = f"""
    input: [null, 4, 4, 2]
    layers:
      - type: Bidirectional
        merge_mode: {merge_mode}
        layer: {{type: ConvLSTM2D, filters: 2, kernel_size: 3, padding: same, return_sequences: true,
                 return_state: true}}
    """
    assert_onnx_matches(spec)


def test_float64_runs_as_two_scans():
    export = assert_onnx_matches("dtype: float64\n" + bidirectional_spec(return_sequences="true"),
                                 rtol=1e-9, atol=1e-12)
    assert [node.op_type for node in recurrent_nodes(export)] == ["Scan", "Scan"]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("activation", ["tanh", "softplus"])
@pytest.mark.parametrize("return_sequences", ["true", "false"])
@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
def test_initial_states_split_in_halves(layer, return_sequences, activation, opset):
    states = ["fh", "fc", "bh", "bc"] if layer == "LSTM" else ["fh", "bh"]
    declared = "".join(f"\n  {name}: [3]" for name in states)
    spec = (f"inputs:\n  x: [null, 4]{declared}\nlayers:\n  - {{type: Bidirectional, inputs: [x, {', '.join(states)}],"
            f" layer: {{type: {layer}, units: 3, return_sequences: {return_sequences}, return_state: true, "
            f"activation: {activation}}}}}\n")
    export = assert_onnx_matches(spec, opset=opset)
    assert len(recurrent_nodes(export)) == (1 if activation == "tanh" else 2)


# -- Bidirectional: masks ---------------------------------------------------------

def assert_masked_matches(spec: str, opset=None):
    export = assert_onnx_matches(spec, inputs=[MASKED_IDS], opset=opset)
    assert_onnx_matches(spec, inputs=[SHORT_IDS], opset=opset)
    return export


@pytest.mark.parametrize("layer, merge_mode, return_sequences, return_state", DIRECTIONS)
def test_masked_directions_skip_masked_steps(layer, merge_mode, return_sequences, return_state):
    # Keras forces zero_output_for_mask to return_sequences in both directions.
    spec = bidirectional_spec(layer, merge_mode, masked=True, return_sequences=return_sequences,
                              return_state=return_state)
    export = assert_masked_matches(spec)
    assert [node.op_type for node in recurrent_nodes(export)] == ["Scan", "Scan"]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("zero_output_for_mask", ["true", "false"])
def test_masked_whatever_zero_output_for_mask_says(zero_output_for_mask, opset):
    spec = bidirectional_spec("LSTM", masked=True, return_sequences="true", zero_output_for_mask=zero_output_for_mask)
    assert_masked_matches(spec, opset)


def test_masked_with_initial_states_computes_unmasked():
    spec = """
    inputs: {ids: {shape: [null], dtype: int64}, fh: [3], bh: [3]}
    layers:
      - {type: Embedding, input_dim: 9, output_dim: 4, mask_zero: true, inputs: ids}
      - {type: Bidirectional, inputs: [embedding, fh, bh], layer: {type: GRU, units: 3, return_sequences: true}}
      - {type: LSTM, units: 2}
    """
    rng = np.random.default_rng(6)
    states = [rng.standard_normal((5, 3)).astype(np.float32) for _ in range(2)]
    assert_onnx_matches(spec, inputs=[MASKED_IDS, *states])


def test_output_mask_of_a_returned_sequence(monkeypatch):
    spec = bidirectional_spec("GRU", masked=True, return_sequences="true")
    expected, got = exported_masks(monkeypatch, spec, ["bidirectional"], [MASKED_IDS])
    np.testing.assert_array_equal(got["bidirectional"], MASKED_IDS != 0)
    np.testing.assert_array_equal(got["bidirectional"], expected["bidirectional"])


def test_masks_reach_the_next_layers_from_each_output():
    spec = """
    inputs: {ids: {shape: [null], dtype: int64}}
    layers:
      - {type: Embedding, input_dim: 9, output_dim: 4, mask_zero: true}
      - {type: Bidirectional, merge_mode: null, layer: {type: LSTM, units: 3, return_sequences: true,
                                                        return_state: true}}
      - {type: GRU, units: 2, inputs: bidirectional.backward_output, name: after_backward}
      - {type: Dense, units: 2, inputs: bidirectional.backward_state_c, name: from_state}
    outputs: [after_backward, from_state]
    """
    assert_masked_matches(spec)


# -- TimeDistributed ---------------------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("input_shape", ["[6, 4]", "[null, 4]", "[null, 2, 4]", "[3, null, 4]"])
def test_time_distributed_dense(input_shape, opset):
    spec = f"input: {input_shape}\nlayers:\n  - {{type: TimeDistributed, layer: {{type: Dense, units: 3}}}}\n"
    export = assert_onnx_matches(spec, opset=opset)
    assert op_types(export).count("MatMul") == 1


def test_a_known_length_folds_with_constant_shapes():
    spec = "input: [6, 4]\nlayers:\n  - {type: TimeDistributed, layer: {type: Dense, units: 3}}\n"
    assert op_types(assert_onnx_matches(spec)) == ["Reshape", "MatMul", "Add", "Reshape"]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("inner, input_shape", [
    ("{type: LSTM, units: 3}", "[null, 5, 4]"),
    ("{type: GRU, units: 3, return_sequences: true}", "[5, null, 4]"),
    ("{type: Bidirectional, layer: {type: GRU, units: 3, return_sequences: true, activation: softplus}}",
     "[null, null, 4]"),
    ("{type: TimeDistributed, layer: {type: Dense, units: 2}}", "[null, 3, 4]"),
    ("{type: Dropout, rate: 0.5}", "[null, 3, 4]"),
    ("{type: Conv1D, filters: 2, kernel_size: 2, padding: same}", "[null, 5, 3]"),
], ids=["lstm", "gru-unknown-steps", "bidirectional", "nested", "dropout", "conv1d"])
def test_time_distributed_layers(inner, input_shape, opset):
    spec = f"input: {input_shape}\nlayers:\n  - {{type: TimeDistributed, layer: {inner}}}\n"
    assert_onnx_matches(spec, opset=opset)


def test_time_distributed_embedding_of_ids():
    spec = """
    inputs: {ids: {shape: [null, 3], dtype: int64}}
    layers:
      - {type: TimeDistributed, layer: {type: Embedding, input_dim: 9, output_dim: 2}}
    """
    assert_onnx_matches(spec, inputs=[MASKED_IDS[:, :6].reshape(5, 2, 3)])


def test_a_mask_passes_through():
    spec = """
    inputs: {ids: {shape: [null], dtype: int64}}
    layers:
      - {type: Embedding, input_dim: 9, output_dim: 4, mask_zero: true}
      - {type: TimeDistributed, layer: {type: Dense, units: 3}}
      - {type: LSTM, units: 2, return_sequences: true}
    """
    assert_masked_matches(spec)


def test_a_reused_wrapper_shares_its_weights():
    spec = """
    inputs: {a: [null, 4], b: [null, 4]}
    layers:
      - {type: TimeDistributed, layer: {type: Dense, units: 3}, inputs: a, name: per_step}
      - {reuse: per_step, inputs: b, name: per_step_b}
      - {type: Bidirectional, layer: {type: LSTM, units: 2}, inputs: per_step, name: both}
      - {reuse: both, inputs: per_step_b, name: both_b}
      - {type: Concatenate, inputs: [both, both_b]}
    """
    export = assert_onnx_matches(spec)
    shapes = sorted(tuple(tensor.dims) for tensor in export.model.graph.initializer if len(tensor.dims) > 1)
    # R, W and B of both directions, and the Dense kernel, once each.
    assert shapes == [(2, 8, 2), (2, 8, 3), (2, 16), (4, 3)]


# -- refusals --------------------------------------------------------------------------

def test_a_wrapped_layer_without_a_converter_is_refused(monkeypatch):
    monkeypatch.delitem(onnx_convert._CONVERTERS, Dense)
    model = model_of("input: [null, 4]\nlayers:\n  - {type: TimeDistributed, layer: {type: Dense, units: 3}}\n")
    with pytest.raises(ExportError, match="^layer 'time_distributed' \\(TimeDistributed\\) cannot be exported to "
                                          "ONNX: the wrapped layer 'dense' \\(Dense\\) has no ONNX form$") as raised:
        export_onnx(model)
    assert raised.value.argument == "layer"


def test_a_direction_without_a_converter_is_refused(monkeypatch):
    monkeypatch.delitem(onnx_convert._CONVERTERS, GRU)
    model = model_of(bidirectional_spec("GRU", activation="softplus"))
    with pytest.raises(ExportError, match="^layer 'bidirectional' \\(Bidirectional\\) cannot be exported to ONNX: "
                                          "the wrapped layer 'forward_gru' \\(GRU\\) has no ONNX form$"):
        export_onnx(model)


@pytest.mark.parametrize("wrapper", ["Bidirectional", "TimeDistributed"])
def test_a_refusal_inside_names_the_wrapped_layer(wrapper):
    inner = layerspec.layers.LSTM(3, recurrent_activation=lambda x: np.tanh(x))
    model = layerspec.Sequential([getattr(layerspec.layers, wrapper)(inner)])
    model.build((5, 4) if wrapper == "Bidirectional" else (2, 5, 4))
    model.init(0)
    name = "bidirectional/forward_lstm" if wrapper == "Bidirectional" else "time_distributed/lstm"
    message = f"^layer '{name}' \\(LSTM\\) cannot be exported to ONNX: its recurrent_activation is a Python " \
              "function, which ONNX cannot hold$"
    with pytest.raises(ExportError, match=message) as raised:
        export_onnx(model)
    assert raised.value.argument == "layer"  # the wrapper's argument in the spec entry


def test_a_refusal_in_a_given_backward_layer_names_that_argument():
    backward = layerspec.layers.GRU(3, go_backwards=True, activation=lambda x: np.tanh(x), name="back")
    model = layerspec.Sequential([layerspec.layers.Bidirectional(layerspec.layers.GRU(3), backward_layer=backward)])
    model.build((5, 4))
    model.init(0)
    with pytest.raises(ExportError, match="^layer 'bidirectional/back' \\(GRU\\) cannot be exported") as raised:
        export_onnx(model)
    assert raised.value.argument == "backward_layer"


# -- whole specs -------------------------------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
def test_bilstm_tagger(opset):
    text = (SPECS / "bilstm_tagger.yaml").read_text()
    export = assert_onnx_matches(text, opset=opset)
    ids = np.array([[5, 17, 2, 0, 0, 0], [0, 3, 0, 4, 0, 9]], np.int32)
    assert_onnx_matches(text, inputs=[ids], opset=opset)
    assert [node.op_type for node in recurrent_nodes(export)] == ["Scan", "Scan"]

