"""Bidirectional and TimeDistributed: the wrapped-layer argument, weight keys, shapes, counts, and values
against step-by-step float64 references."""

import json

import jsonschema
import numpy as np
import pytest
import yaml

import layerspec
from layerspec.errors import ArgumentError, LayerspecError, ShapeError, WeightsError
from layerspec.layers import (GRU, LSTM, Add, BatchNormalization, Bidirectional, Conv2D, ConvLSTM2D, Dense,
                              Embedding, Flatten, Layer, SimpleRNN, TimeDistributed)
from layerspec.model import Sequential
from layerspec.spec import build_model, loads_spec
from tests.layers.test_recurrent import gru_cell, lstm_cell, run_reference_states, simple_rnn_cell

RTOL, ATOL = 2e-4, 2e-5


def sub_weights(layer):
    """A sublayer's weights by their own names (``kernel``), float64."""
    return {weight.name.rsplit("/", 1)[-1]: weight.value.astype(np.float64) for weight in layer.weights}


def randomised(layer, input_shape, rng, scale=0.5):
    layer.build_for(input_shape)
    for weight in layer.weights:
        weight.assign((rng.standard_normal(weight.shape) * scale).astype(np.float32))
    return layer


CELLS = {SimpleRNN: simple_rnn_cell, LSTM: lstm_cell, GRU: gru_cell}


def reference_direction(layer, x, initial=None):
    """``(output, final states)`` of one direction's layer, step by step."""
    kwargs = {"reset_after": layer.reset_after} if isinstance(layer, GRU) else {}
    if isinstance(layer, (LSTM, GRU)) and layer.activation.__name__ != "tanh":
        kwargs.update(activation=layer.activation.__name__, recurrent_activation=layer.recurrent_activation.__name__)
    cell = CELLS[type(layer)](sub_weights(layer), **kwargs)
    return run_reference_states(cell, x, layer.go_backwards, layer.return_sequences, initial)


def reference_bidirectional(layer, x, initial=None):
    half = None if initial is None else len(initial) // 2
    forward, forward_states = reference_direction(layer.forward_layer, x, None if initial is None else initial[:half])
    backward, backward_states = reference_direction(layer.backward_layer, x,
                                                    None if initial is None else initial[half:])
    if layer.return_sequences:
        backward = backward[:, ::-1]
    merged = {"concat": lambda: [np.concatenate([forward, backward], axis=-1)], "sum": lambda: [forward + backward],
              "mul": lambda: [forward * backward], "ave": lambda: [(forward + backward) / 2],
              None: lambda: [forward, backward]}[layer.merge_mode]()
    if layer.return_state:
        merged += forward_states + backward_states
    return merged


# -- Bidirectional: keys, shapes, counts -------------------------------------------------
def test_spec_weight_keys_nest_the_forward_and_backward_layers():
    model = layerspec.loads(
        "input: [9, 4]\n"
        "layers:\n"
        "  - type: Bidirectional\n"
        "    layer: {type: LSTM, units: 6, return_sequences: true}\n"
        "  - type: bidirectional\n"
        "    layer: {type: GRU, units: 3, name: encoder}\n"
        "    merge_mode: sum\n")
    model.init(seed=0)
    assert {key: value.shape for key, value in model.get_weights().items()} == {
        "bidirectional/forward_lstm/kernel": (4, 24), "bidirectional/forward_lstm/recurrent_kernel": (6, 24),
        "bidirectional/forward_lstm/bias": (24,), "bidirectional/backward_lstm/kernel": (4, 24),
        "bidirectional/backward_lstm/recurrent_kernel": (6, 24), "bidirectional/backward_lstm/bias": (24,),
        "bidirectional_1/forward_encoder/kernel": (12, 9), "bidirectional_1/forward_encoder/recurrent_kernel": (3, 9),
        "bidirectional_1/forward_encoder/bias": (2, 9), "bidirectional_1/backward_encoder/kernel": (12, 9),
        "bidirectional_1/backward_encoder/recurrent_kernel": (3, 9), "bidirectional_1/backward_encoder/bias": (2, 9)}
    # Twice the wrapped layer's parameters: 2 * 4 * (4*6 + 6*6 + 6), 2 * (3 * (12*3 + 3*3) + 2 * 9)
    assert model.count_params() == 2 * 264 + 2 * 153
    assert model.output_shape == (None, 3)
    assert model.layers[0].count_macs([(None, 9, 4)]) == 2 * 9 * 4 * (4 * 6 + 6 * 6)
    assert model.layers[1].count_macs([(None, 9, 12)]) == 2 * 9 * 3 * (12 * 3 + 3 * 3)


@pytest.mark.parametrize("merge_mode, return_sequences, expected", [
    ("concat", False, (None, 10)), ("concat", True, (None, 7, 10)), ("sum", False, (None, 5)),
    ("mul", True, (None, 7, 5)), ("ave", False, (None, 5)), (None, True, [(None, 7, 5), (None, 7, 5)]),
])
def test_output_shapes(merge_mode, return_sequences, expected):
    layer = Bidirectional(LSTM(5, return_sequences=return_sequences), merge_mode=merge_mode)
    assert layer.compute_output_shape((None, 7, 3)) == expected
    assert layer.output_names == (["forward_output", "backward_output"] if merge_mode is None else None)
    layer = Bidirectional(LSTM(5, return_sequences=return_sequences), merge_mode=merge_mode)
    out = layer(np.zeros((2, 7, 3), np.float32))
    shapes = [o.shape for o in out] if isinstance(out, list) else out.shape
    expected = [(2,) + e[1:] for e in expected] if isinstance(expected, list) else (2,) + expected[1:]
    assert shapes == expected


def test_unknown_timesteps_cost_per_step():
    layer = Bidirectional(GRU(4, return_sequences=True), merge_mode="ave")
    assert layer.compute_output_shape((None, None, 3)) == (None, None, 4)
    layer.build_for((None, None, 3))
    assert layer.count_macs((None, None, 3)) is None
    assert layer.count_elementwise((None, None, 3)) is None
    model = layerspec.loads("input: [null, 3]\nlayers:\n  - type: Bidirectional\n    layer: {type: GRU, units: 4}\n")
    assert model.output_shape == (None, 8)


def test_merge_costs_one_operation_per_element():
    plain = Bidirectional(LSTM(5, return_sequences=True), merge_mode="concat")
    for merge_mode, extra in (("sum", 7 * 5), ("mul", 7 * 5), ("ave", 2 * 7 * 5), (None, 0)):
        layer = Bidirectional(LSTM(5, return_sequences=True), merge_mode=merge_mode)
        assert layer.count_elementwise((None, 7, 3)) == plain.count_elementwise((None, 7, 3)) + extra


# -- Bidirectional: values -----------------------------------------------------------------
LAYERS = {
    "lstm": lambda **kw: LSTM(5, **kw),
    "lstm-general": lambda **kw: LSTM(5, activation="softsign", recurrent_activation="hard_sigmoid", **kw),
    "gru": lambda **kw: GRU(5, **kw),
    "gru-reset-before": lambda **kw: GRU(5, reset_after=False, **kw),
    "simple-rnn": lambda **kw: SimpleRNN(5, **kw),
}


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("make", LAYERS.values(), ids=LAYERS.keys())
def test_values_match_a_forward_and_a_backward_run(make, merge_mode, return_sequences):
    rng = np.random.default_rng(31)
    layer = randomised(Bidirectional(make(return_sequences=return_sequences), merge_mode=merge_mode),
                       (None, 6, 3), rng)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    out = layer(x)
    outputs = out if isinstance(out, list) else [out]
    expected = reference_bidirectional(layer, x)
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_backward_half_of_a_sequence_lines_up_with_the_input_steps():
    # Linear SimpleRNN, kernel 1, recurrent 1: running sums. Forward: 1, 3, 6;
    # backward processes 3, 2, 1 (sums 3, 5, 6), flipped back: 6, 5, 3.
    layer = Bidirectional(SimpleRNN(1, activation=None, use_bias=False, return_sequences=True))
    layer.build_for((None, 3, 1))
    for weight in layer.weights:
        weight.assign(np.ones(weight.shape, np.float32))
    out = layer(np.array([[[1.0], [2.0], [3.0]]], np.float32))
    np.testing.assert_array_equal(out[0], [[1, 6], [3, 5], [6, 3]])


def test_go_backwards_layer_with_a_forward_backward_layer():
    # Keras flips the second half whenever sequences are returned, whichever way it ran.
    rng = np.random.default_rng(32)
    layer = randomised(Bidirectional(LSTM(3, go_backwards=True, return_sequences=True),
                                     backward_layer=GRU(3, return_sequences=True)), (None, 5, 2), rng)
    assert layer.forward_layer.go_backwards and not layer.backward_layer.go_backwards
    assert [weight.name for weight in layer.weights][::3] == ["forward_lstm/kernel", "gru/kernel"]
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(layer(x), reference_bidirectional(layer, x)[0], rtol=RTOL, atol=ATOL)


def test_backward_layer_keeps_its_own_name_and_arguments():
    model = layerspec.loads(
        "input: [5, 2]\n"
        "layers:\n"
        "  - type: Bidirectional\n"
        "    layer: {type: LSTM, units: 3}\n"
        "    backward_layer: {type: LSTM, units: 4, go_backwards: true, activation: relu, name: back}\n")
    assert model.output_shape == (None, 7)
    assert sorted({key.rsplit("/", 1)[0] for key in model.init(seed=0).get_weights()}) == [
        "bidirectional/back", "bidirectional/forward_lstm"]
    rng = np.random.default_rng(33)
    x = rng.standard_normal((2, 5, 2)).astype(np.float32)
    layer = model.layers[0]
    np.testing.assert_allclose(model.predict(x), reference_bidirectional(layer, x)[0], rtol=RTOL, atol=ATOL)


def test_return_state_outputs_the_forward_then_the_backward_states():
    layer = Bidirectional(LSTM(4, return_state=True, return_sequences=True))
    assert layer.output_names == ["output", "forward_state_h", "forward_state_c", "backward_state_h",
                                  "backward_state_c"]
    assert layer.compute_output_shape((None, 6, 3)) == [(None, 6, 8)] + [(None, 4)] * 4
    apart = Bidirectional(GRU(4, return_state=True), merge_mode=None)
    assert apart.output_names == ["forward_output", "backward_output", "forward_state_h", "backward_state_h"]
    assert apart.compute_output_shape((None, 6, 3)) == [(None, 4)] * 4
    rng = np.random.default_rng(34)
    for wrapper in (layer, apart):
        randomised(wrapper, (None, 6, 3), rng)
        x = rng.standard_normal((3, 6, 3)).astype(np.float32)
        result = wrapper(x)
        expected = reference_bidirectional(wrapper, x)
        assert len(result) == len(expected) == len(wrapper.output_names)
        for got, want in zip(result, expected):
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_initial_states_split_in_halves():
    rng = np.random.default_rng(35)
    layer = randomised(Bidirectional(LSTM(4, return_sequences=True)), [(None, 6, 3)] + [(None, 4)] * 4, rng)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    initial = [rng.standard_normal((2, 4)).astype(np.float32) for _ in range(4)]
    out = layer([x, *initial])
    np.testing.assert_allclose(out, reference_bidirectional(layer, x, initial)[0], rtol=RTOL, atol=ATOL)
    assert not np.allclose(out, layer(x))
    with pytest.raises(ShapeError) as caught:
        layer.compute_output_shape([(None, 6, 3)] + [(None, 4)] * 3)
    assert caught.value.message == ("takes its sequence and initial states for both directions, the forward "
                                    "layer's then the backward layer's; got 3 states, an odd number")
    with pytest.raises(ShapeError) as caught:
        layer.compute_output_shape([(None, 6, 3)] + [(None, 4)] * 2)
    assert caught.value.message == ("takes its input sequence and, optionally, its 2 initial states "
                                    "(state_h, state_c); got 1 state")


def test_conv_lstm_inside():
    layer = Bidirectional(ConvLSTM2D(4, 3, return_sequences=True))
    assert layer.compute_output_shape((None, 5, 8, 8, 2)) == (None, 5, 6, 6, 8)
    layer.build_for((None, 5, 8, 8, 2))
    assert layer.count_params() == 2 * 880
    assert [weight.name.split("/")[1] for weight in layer.weights] == ["kernel", "recurrent_kernel", "bias"] * 2
    out = layer(np.ones((2, 5, 8, 8, 2), np.float32))
    assert out.shape == (2, 5, 6, 6, 8) and out.dtype == np.float32


def test_float64_model_builds_float64_sublayers():
    model = layerspec.loads("input: [4, 2]\ndtype: float64\nlayers:\n  - type: Bidirectional\n"
                            "    layer: {type: SimpleRNN, units: 3}\n")
    model.init(seed=0)
    assert {value.dtype for value in model.get_weights().values()} == {np.dtype(np.float64)}
    assert model.predict(np.ones((2, 4, 2))).dtype == np.float64


def test_frozen_wrapped_layer_has_non_trainable_weights():
    model = layerspec.loads("input: [4, 2]\nlayers:\n  - type: Bidirectional\n"
                            "    layer: {type: SimpleRNN, units: 3, trainable: false}\n  - {units: 1}\n")
    layer = model.layers[0]
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 6
    assert model.count_params() == 2 * (2 * 3 + 3 * 3 + 3) + 7


# -- the Python API -------------------------------------------------------------------
def test_python_api_takes_a_layer_object_and_leaves_it_alone():
    lstm = LSTM(4, return_sequences=True)
    layer = Bidirectional(lstm)
    out = layer(np.ones((2, 5, 3), np.float32))
    assert out.shape == (2, 5, 8)
    assert [weight.name for weight in layer.weights] == [
        f"{direction}_lstm/{name}" for direction in ("forward", "backward")
        for name in ("kernel", "recurrent_kernel", "bias")]
    assert not lstm.built and lstm.weights == [] and not lstm.has_explicit_name and not lstm.go_backwards
    named = Bidirectional(GRU(2, name="encoder"))
    assert (named.forward_layer.name, named.backward_layer.name) == ("forward_encoder", "backward_encoder")
    # As Keras: a 'forward_' or 'backward_' prefix is not repeated.
    prefixed = Bidirectional(GRU(2, name="forward_x"))
    assert (prefixed.forward_layer.name, prefixed.backward_layer.name) == ("forward_x", "backward_forward_x")


def test_in_a_sequential_model_with_dense():
    model = Sequential([Bidirectional(LSTM(4)), Dense(2)], input_shape=(5, 3)).init(seed=0)
    assert model.count_params() == 2 * 4 * (3 * 4 + 4 * 4 + 4) + 8 * 2 + 2
    assert model.predict(np.ones((3, 5, 3), np.float32)).shape == (3, 2)


def test_config_makes_the_same_layer():
    layer = Bidirectional(LSTM(4, return_sequences=True, activation="relu"), merge_mode="sum", name="bi")
    config = layer.get_config()
    assert config == {"name": "bi", "trainable": True,
                      "layer": {"type": "LSTM", "units": 4, "activation": "relu", "return_sequences": True},
                      "merge_mode": "sum", "weights": None, "backward_layer": None}
    again = Bidirectional(**config)
    again.build_for((None, 5, 3))
    layer.build_for((None, 5, 3))
    assert [(w.name, w.shape) for w in again.weights] == [(w.name, w.shape) for w in layer.weights]


def test_to_yaml_round_trips():
    text = ("input: [5, 3]\n"
            "layers:\n"
            "  - type: Bidirectional\n"
            "    layer: {type: GRU, units: 4, return_sequences: true, name: enc}\n"
            "    backward_layer: {type: GRU, units: 4, return_sequences: true, go_backwards: true}\n"
            "  - type: TimeDistributed\n"
            "    layer: {type: Dense, units: 2, activation: tanh}\n")
    model = layerspec.loads(text).init(seed=3)
    again = layerspec.loads(model.to_yaml())
    again.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    assert list(again.get_weights()) == list(model.get_weights())


# -- Bidirectional: errors -------------------------------------------------------------
BIDIRECTIONAL_ERRORS = [
    ({"layer": {"type": "LSTM", "units": 0}},
     "argument 'layer': LSTM: argument 'units' must be an integer >= 1, got integer 0", "layer"),
    ({"layer": {"type": "lstm", "unit": 3}}, "argument 'layer': LSTM: unknown argument 'unit'; did you mean 'units'?",
     "layer"),
    ({"layer": {"type": "LSTM"}}, "argument 'layer': LSTM: missing required argument 'units'", "layer"),
    ({"layer": {"units": 3}},
     "argument 'layer' needs a 'type': the wrapped layer's class, e.g. {type: LSTM, units: 16}", "layer"),
    ({"layer": {"type": 3, "units": 3}}, "argument 'layer': 'type' must be a layer type name, got integer 3", "layer"),
    ({"layer": 3}, "argument 'layer' must be a layer: a mapping {type: NAME, ...its arguments}, got integer 3",
     "layer"),
    ({"layer": {"type": "LSTM", "units": 3, "inputs": "x"}},
     "argument 'layer': LSTM: 'inputs' cannot be given to a wrapped layer: it reads what its wrapper reads", "layer"),
    ({"layer": {"type": "LSTM", "units": 3, "name": "a/b"}},
     "argument 'layer': LSTM: argument 'name' must not contain '/', got 'a/b'", "layer"),
    ({"layer": {"type": "GRU", "units": 3, "activation": "glu"}},
     "argument 'layer': GRU: argument 'activation': activation 'glu' halves the last axis, but a recurrent layer's "
     "gates and state keep 'units' values", "layer"),
    ({"layer": {"type": "Dense", "units": 3}},
     "argument 'layer': Bidirectional wraps a recurrent layer (one with go_backwards, return_sequences and "
     "return_state); Dense is not one", "layer"),
    ({"layer": {"type": "LSTM", "units": 3, "go_backwards": True}},
     "argument 'layer': it has go_backwards: true, and the backward layer made from it goes backwards too (as Keras "
     "makes it); give a backward_layer that goes forwards, or set go_backwards: false", "layer"),
    ({"layer": {"type": "LSTM", "units": 3, "stateful": True}},
     "argument 'layer': LSTM: argument 'stateful' must be false: layerspec runs stateless inference, carrying no "
     "state from one batch to the next (each batch starts from the zero or given initial state)", "layer"),
    ({"layer": {"type": "LSTM", "units": 3}, "backward_layer": {"type": "LSTM", "units": 3}},
     "argument 'backward_layer': it must run the other way than 'layer', but both have go_backwards: false",
     "backward_layer"),
    ({"layer": {"type": "LSTM", "units": 3},
      "backward_layer": {"type": "LSTM", "units": 3, "go_backwards": True, "return_sequences": True}},
     "argument 'backward_layer': return_sequences must be the same as the forward layer's (false), got true",
     "backward_layer"),
    ({"layer": {"type": "LSTM", "units": 3},
      "backward_layer": {"type": "LSTM", "units": 3, "go_backwards": True, "name": "forward_lstm"}},
     "argument 'backward_layer': its name 'forward_lstm' is the forward layer's; their weights would share keys",
     "backward_layer"),
    ({"layer": {"type": "LSTM", "units": 3}, "backward_layer": {"type": "Dense", "units": 3}},
     "argument 'backward_layer': Dense is not a recurrent layer (one with go_backwards, return_sequences and "
     "return_state)", "backward_layer"),
    ({"layer": {"type": "LSTM", "units": 3}, "merge_mode": "avg"},
     "argument 'merge_mode' must be one of 'sum', 'mul', 'ave', 'concat' or null, got string 'avg' "
     "(did you mean 'ave'?)", "merge_mode"),
    ({"layer": {"type": "LSTM", "units": 3}, "weights": [1]},
     "argument 'weights' must be null, got a list: give weights in a weights file (run --weights)", "weights"),
    ({}, "missing required argument 'layer'", None),
]


@pytest.mark.parametrize("kwargs, message, argument", BIDIRECTIONAL_ERRORS)
def test_argument_errors(kwargs, message, argument):
    with pytest.raises(ArgumentError) as caught:
        Bidirectional(**kwargs)
    assert (caught.value.message, caught.value.argument) == (message, argument)


def test_unknown_wrapped_type_suggests_the_right_one():
    with pytest.raises(ArgumentError) as caught:
        Bidirectional(layer={"type": "LTSM", "units": 3})
    assert caught.value.message.startswith("argument 'layer': unknown layer type 'LTSM'; did you mean 'LSTM'? (")


def test_nested_errors_read_from_the_outside_in():
    with pytest.raises(ArgumentError) as caught:
        TimeDistributed(layer={"type": "Bidirectional", "layer": {"type": "GRU", "units": -1}})
    assert caught.value.message == ("argument 'layer': Bidirectional: argument 'layer': GRU: argument 'units' must "
                                    "be an integer >= 1, got integer -1")


def test_spec_error_points_at_the_wrapped_layer():
    text = ("input: [5, 4]\n"
            "layers:\n"
            "  - type: Bidirectional\n"
            "    layer: {type: LSTM, units: 0}\n")
    with pytest.raises(LayerspecError) as caught:
        build_model(loads_spec(text, "specs/bi.yaml"))
    assert str(caught.value) == ("specs/bi.yaml:4:12: layer 1 'bidirectional' (Bidirectional): argument 'layer': "
                                 "LSTM: argument 'units' must be an integer >= 1, got integer 0")


def test_mismatched_outputs_cannot_merge():
    layer = Bidirectional(LSTM(3), backward_layer=LSTM(4, go_backwards=True), merge_mode="sum")
    with pytest.raises(ShapeError) as caught:
        layer.compute_output_shape((None, 5, 2))
    assert caught.value.message == ("merge_mode 'sum' needs outputs of one shape; the forward layer gives (None, 3), "
                                    "the backward layer (None, 4)")
    concat = Bidirectional(LSTM(3), backward_layer=LSTM(4, go_backwards=True))
    assert concat.compute_output_shape((None, 5, 2)) == (None, 7)


def test_wrapped_shape_errors_are_the_wrapped_layers():
    with pytest.raises(ShapeError) as caught:
        Bidirectional(LSTM(3)).compute_output_shape((None, 4))
    assert caught.value.message == "needs an input of shape (batch, timesteps, features), got (None, 4)"


# -- TimeDistributed -------------------------------------------------------------------
def test_time_distributed_dense_keys_params_and_values():
    model = layerspec.loads("input: [7, 4]\nlayers:\n  - type: TimeDistributed\n"
                            "    layer: {type: Dense, units: 3, activation: relu}\n").init(seed=1)
    assert {key: value.shape for key, value in model.get_weights().items()} == {
        "time_distributed/dense/kernel": (4, 3), "time_distributed/dense/bias": (3,)}
    assert model.count_params() == 15
    layer = model.layers[0]
    assert model.output_shape == (None, 7, 3)
    assert layer.count_macs((None, 7, 4)) == 7 * 12
    assert layer.count_macs((None, None, 4)) is None
    rng = np.random.default_rng(41)
    x = rng.standard_normal((3, 7, 4)).astype(np.float32)
    weights = model.get_weights()
    kernel, bias = (weights[f"time_distributed/dense/{name}"].astype(np.float64) for name in ("kernel", "bias"))
    expected = np.zeros((3, 7, 3))
    for sample in range(3):
        for step in range(7):
            expected[sample, step] = np.maximum(x[sample, step] @ kernel + bias, 0)
    out = model.predict(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_time_distributed_conv2d_over_frames():
    rng = np.random.default_rng(42)
    layer = randomised(TimeDistributed(Conv2D(2, 3, strides=2, padding="same")), (None, 4, 7, 6, 3), rng)
    assert layer.compute_output_shape((None, 4, 7, 6, 3)) == (None, 4, 4, 3, 2)
    assert layer.count_params() == 3 * 3 * 3 * 2 + 2
    assert layer.count_macs((None, 4, 7, 6, 3)) == 4 * (4 * 3) * 2 * 27
    x = rng.standard_normal((2, 4, 7, 6, 3)).astype(np.float32)
    kernel, bias = (weight.value.astype(np.float64) for weight in layer.weights)
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (0, 1), (0, 0)))  # 'same', stride 2: 1|1, 0|1
    expected = np.zeros((2, 4, 4, 3, 2))
    for sample in range(2):
        for frame in range(4):
            for i in range(4):
                for j in range(3):
                    window = padded[sample, frame, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
                    expected[sample, frame, i, j] = np.tensordot(window, kernel, 3) + bias
    np.testing.assert_allclose(layer(x), expected, rtol=RTOL, atol=ATOL)


def test_time_distributed_of_a_recurrent_layer_and_of_a_bidirectional():
    layer = TimeDistributed(Bidirectional(LSTM(2)))
    assert layer.compute_output_shape((None, 3, 5, 4)) == (None, 3, 4)
    model = Sequential([layer], input_shape=(3, 5, 4)).init(seed=0)
    assert sorted(model.get_weights())[:2] == ["time_distributed/bidirectional/backward_lstm/bias",
                                               "time_distributed/bidirectional/backward_lstm/kernel"]
    rng = np.random.default_rng(43)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    inner = layer.layer
    expected = np.stack([reference_bidirectional(inner, x[:, t])[0] for t in range(3)], axis=1)
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)


def test_time_distributed_embedding_reads_indices():
    layer = TimeDistributed(Embedding(10, 3))
    assert layer.input_kind == "int"
    model = Sequential([layer], input_shape=(2, 4)).init(seed=0)
    table = model.get_weights()["time_distributed/embedding/embeddings"]
    ids = np.array([[[1, 2, 3, 4], [0, 9, 9, 0]]])
    np.testing.assert_array_equal(model.predict(ids), table[ids])


class Doubler(Layer):
    """A user layer without compute_output_shape: its shape comes from a probe."""

    def call(self, inputs):
        return np.concatenate([inputs, inputs], axis=-1)


def test_time_distributed_probes_a_layer_without_a_shape_rule():
    layer = TimeDistributed(Doubler())
    model = Sequential([layer], input_shape=(3, 2)).init(seed=0)
    assert model.output_shape == (None, 3, 4)
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    np.testing.assert_array_equal(model.predict(x), np.concatenate([x, x], axis=-1))


def test_time_distributed_weight_checks_name_the_nested_key():
    model = Sequential([TimeDistributed(BatchNormalization())], input_shape=(3, 2)).init(seed=0)
    weights = model.get_weights()
    weights["time_distributed/batch_normalization/moving_variance"] = np.array([1.0, -2.0], np.float32)
    with pytest.raises(WeightsError) as caught:
        model.set_weights(weights)
    assert caught.value.message.startswith(
        "weights: weight 'time_distributed/batch_normalization/moving_variance': moving_variance[1] is -2.0")


def test_time_distributed_empty_time_axis():
    layer = TimeDistributed(Flatten())
    assert layer(np.zeros((2, 0, 3, 4), np.float32)).shape == (2, 0, 12)
    layer = TimeDistributed(Dense(5))
    assert layer(np.zeros((2, 0, 3), np.float32)).shape == (2, 0, 5)


@pytest.mark.parametrize("kwargs, message", [
    ({"layer": Add()}, "argument 'layer': TimeDistributed gives its layer one input; Add takes a list of inputs"),
    ({"layer": LSTM(3, return_state=True)},
     "argument 'layer': TimeDistributed needs a layer with one output; LSTM has 3 (output, state_h, state_c)"),
    ({"layer": {"type": "Dense"}}, "argument 'layer': Dense: missing required argument 'units'"),
])
def test_time_distributed_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        TimeDistributed(**kwargs)
    assert (caught.value.message, caught.value.argument) == (message, "layer")


def test_time_distributed_needs_a_time_axis():
    with pytest.raises(ShapeError) as caught:
        TimeDistributed(Dense(2)).compute_output_shape((None, 4))
    assert caught.value.message == "needs an input of shape (batch, timesteps, ...) with at least 3 axes, got (None, 4)"


def test_time_distributed_config():
    layer = TimeDistributed(Dense(3, name="proj", use_bias=False))
    assert layer.get_config() == {"name": "time_distributed", "trainable": True,
                                  "layer": {"type": "Dense", "name": "proj", "units": 3, "use_bias": False}}
    again = TimeDistributed(**layer.get_config())
    again.build_for((None, 2, 4))
    assert [weight.name for weight in again.weights] == ["proj/kernel"]


# -- listing and schema -------------------------------------------------------------------
def test_layers_listing_describes_the_wrapped_layer(cli):
    result = cli("layers", "Bidirectional")
    assert result.exit_code == 0
    assert "layer           a layer: a mapping {type: NAME, ...its arguments}; required" in result.stdout
    assert "backward_layer  a layer: a mapping {type: NAME, ...its arguments} or null; default null" in result.stdout


def test_schema_checks_the_wrapped_layer(cli):
    schema = json.loads(cli("schema").stdout)
    validator = jsonschema.Draft202012Validator(schema)
    good = yaml.safe_load("input: [5, 3]\nlayers:\n  - type: Bidirectional\n    layer: {type: LSTM, units: 4}\n"
                          "    backward_layer: null\n  - type: TimeDistributed\n    layer: {type: Dense, units: 2}\n")
    assert list(validator.iter_errors(good)) == []
    for wrong in ({"type": "LSTM", "unit": 4}, {"units": 4}, {"type": "LSTM", "units": 4, "inputs": "x"}, 3):
        bad = {"input": [5, 3], "layers": [{"type": "Bidirectional", "layer": wrong}]}
        assert list(validator.iter_errors(bad)), wrong
        with pytest.raises(LayerspecError):
            layerspec.loads(yaml.safe_dump(bad))


# -- masks -------------------------------------------------------------------------------
def masked_direction(layer, x, mask):
    """``(output, final states)`` of one direction on a masked sequence, step by
    step in float64, as Keras's loop: a masked step keeps the states and
    outputs zeros (``zero_output_for_mask``) or repeats the previous output
    (``h``); the sequence is in processing order, as the layer returns it."""
    kwargs = {"reset_after": layer.reset_after} if isinstance(layer, GRU) else {}
    step, zero = CELLS[type(layer)](sub_weights(layer), **kwargs)
    outputs, finals = [], []
    for sample, flags in zip(np.asarray(x, np.float64), mask):
        state, sequence = zero, []
        order = range(len(sample) - 1, -1, -1) if layer.go_backwards else range(len(sample))
        for t in order:
            if flags[t]:
                _, state = step(sample[t], state)
                sequence.append(state[0])
            else:
                sequence.append(np.zeros_like(state[0]) if layer.zero_output_for_mask else state[0])
        outputs.append(np.array(sequence) if layer.return_sequences else sequence[-1])
        finals.append(state)
    return np.array(outputs), [np.array([final[k] for final in finals]) for k in range(len(zero))]


def masked_bidirectional(layer, x, mask):
    forward, forward_states = masked_direction(layer.forward_layer, x, mask)
    backward, backward_states = masked_direction(layer.backward_layer, x, mask)
    if layer.return_sequences:
        backward = backward[:, ::-1]
    merged = {"concat": lambda: [np.concatenate([forward, backward], axis=-1)], "sum": lambda: [forward + backward],
              "mul": lambda: [forward * backward], "ave": lambda: [(forward + backward) / 2],
              None: lambda: [forward, backward]}[layer.merge_mode]()
    return merged + (forward_states + backward_states if layer.return_state else [])


#: Right padding (samples of 6, 4 and 1 steps), holes, a sample masked throughout, and none masked.
MASK = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0], [1, 0, 1, 1, 0, 1],
                 [0, 0, 0, 0, 0, 0]], bool)


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", None])
@pytest.mark.parametrize("layer_class", [LSTM, GRU, SimpleRNN])
def test_masked_values_match_a_step_by_step_reference(layer_class, merge_mode, return_sequences):
    rng = np.random.default_rng(51)
    layer = randomised(Bidirectional(layer_class(4, return_sequences=return_sequences), merge_mode=merge_mode),
                       (None, 6, 3), rng)
    x = rng.standard_normal((5, 6, 3)).astype(np.float32)
    result = layer.call_masked(x, MASK)
    outputs = result if isinstance(result, list) else [result]
    expected = masked_bidirectional(layer, x, MASK)
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    if return_sequences:  # Keras forces zero_output_for_mask: masked steps are zeros in both halves
        for got in outputs:
            assert not got[~MASK].any() and got[MASK].all()
    else:  # the last output counted: a sample masked throughout gives the zero initial state
        assert not outputs[0][4].any()


def test_masked_return_state_gives_the_states_of_the_last_step_counted():
    rng = np.random.default_rng(52)
    for layer in (Bidirectional(LSTM(3, return_sequences=True, return_state=True)),
                  Bidirectional(GRU(3, return_state=True), merge_mode=None)):
        randomised(layer, (None, 6, 2), rng)
        x = rng.standard_normal((5, 6, 2)).astype(np.float32)
        result = layer.call_masked(x, MASK)
        expected = masked_bidirectional(layer, x, MASK)
        assert len(result) == len(expected) == len(layer.output_names)
        for got, want in zip(result, expected):
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
        # Sample 1 (4 steps, then padding): its states are those of running its first 4 steps alone.
        alone = layer.call(x[1:2, :4])
        states = 1 if layer.merge_mode else 2  # where the states start
        for got, want in zip(result[states:], alone[states:]):
            np.testing.assert_allclose(got[1:2], want, rtol=1e-6, atol=1e-7)


def test_right_padding_changes_nothing_but_the_padded_steps():
    rng = np.random.default_rng(53)
    layer = randomised(Bidirectional(LSTM(3, return_sequences=True)), (None, 6, 2), rng)
    x = rng.standard_normal((1, 6, 2)).astype(np.float32)
    padded = layer.call_masked(x, np.array([[1, 1, 1, 1, 0, 0]], bool))
    np.testing.assert_allclose(padded[:, :4], layer.call(x[:, :4]), rtol=1e-6, atol=1e-7)
    assert not padded[:, 4:].any()


def test_zero_output_for_mask_is_forced_to_return_sequences_on_both_directions():
    # bidirectional.py (Keras 3.15.1) lines 137-143: force_zero_output_for_mask.
    sequences = Bidirectional(LSTM(2, return_sequences=True),
                              backward_layer=LSTM(2, return_sequences=True, go_backwards=True))
    assert sequences.forward_layer.zero_output_for_mask and sequences.backward_layer.zero_output_for_mask
    last = Bidirectional(GRU(2, zero_output_for_mask=True))
    assert not last.forward_layer.zero_output_for_mask and not last.backward_layer.zero_output_for_mask
    assert last.get_config()["layer"] == {"type": "GRU", "units": 2, "zero_output_for_mask": True}


def test_initial_states_turn_the_mask_off_but_the_output_keeps_it():
    # Keras populates `mask` only for a call with one tensor argument; the output
    # mask is still computed from the sequence's.
    rng = np.random.default_rng(54)
    layer = randomised(Bidirectional(LSTM(3, return_sequences=True)), [(None, 6, 2)] + [(None, 3)] * 4, rng)
    x = rng.standard_normal((5, 6, 2)).astype(np.float32)
    initial = [rng.standard_normal((5, 3)).astype(np.float32) for _ in range(4)]
    inputs = [x, *initial]
    np.testing.assert_array_equal(layer.call_masked(inputs, [MASK] + [None] * 4), layer.call(inputs))
    assert layer.compute_mask(inputs, [MASK] + [None] * 4) is MASK
    assert layer.compute_mask_shape([(None, 6, 2)] + [(None, 3)] * 4, [(None, 6)] + [None] * 4) == (None, 6)
    # A one-item list is the sequence alone: the mask applies.
    np.testing.assert_array_equal(layer.call_masked([x], [MASK]), layer.call_masked(x, MASK))


@pytest.mark.parametrize("make, expected", [
    (lambda: Bidirectional(LSTM(2, return_sequences=True)), (None, 6)),
    (lambda: Bidirectional(LSTM(2, return_sequences=True), merge_mode="mul"), (None, 6)),
    (lambda: Bidirectional(LSTM(2, return_sequences=True), merge_mode=None), [(None, 6), (None, 6)]),
    (lambda: Bidirectional(LSTM(2, return_sequences=True, return_state=True)), [(None, 6)] + [None] * 4),
    (lambda: Bidirectional(GRU(2, return_sequences=True, return_state=True), merge_mode=None),
     [(None, 6), (None, 6), None, None]),
    (lambda: Bidirectional(LSTM(2)), None),
    (lambda: Bidirectional(LSTM(2), merge_mode=None), None),
    (lambda: Bidirectional(LSTM(2, return_state=True)), None),
])
def test_output_masks_as_keras_compute_mask(make, expected):
    layer = make()
    assert layer.supports_masking and layer.uses_mask
    assert layer.compute_mask_shape((None, 6, 3), (None, 6)) == expected
    assert layer.compute_mask_shape((None, 6, 3), None) is None
    runtime = layer.compute_mask(np.zeros((5, 6, 3), np.float32), MASK)
    if expected is None:
        assert runtime is None
    elif isinstance(expected, list):
        assert [None if mask is None else mask.shape for mask in runtime] == [
            None if shape is None else (5, 6) for shape in expected]
        assert all(mask is MASK for mask in runtime if mask is not None)
    else:
        assert runtime is MASK


def test_a_mask_the_directions_cannot_take_is_refused():
    layer = Bidirectional(LSTM(2, return_sequences=True))
    with pytest.raises(ShapeError) as caught:
        layer.compute_mask_shape((None, 6, 3), (None, 6, 3))
    assert caught.value.message.startswith("takes a mask of one flag per sample and time step, shape (None, 6) for "
                                           "its input (None, 6, 3); got a mask of shape (None, 6, 3)")


class RunningSum(Layer):
    """A plugin sequence layer that takes no mask: running sums along time."""

    def __init__(self, go_backwards=False, return_sequences=True, return_state=False, **kwargs):
        super().__init__(**kwargs)
        self.go_backwards, self.return_sequences, self.return_state = go_backwards, return_sequences, return_state

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        return np.cumsum(inputs[:, ::-1] if self.go_backwards else inputs, axis=1)


def test_a_wrapped_layer_that_takes_no_mask_just_computes():
    layer = Bidirectional(RunningSum())
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    np.testing.assert_array_equal(layer.call_masked(x, MASK[1:3, :3]), layer.call(x))
    assert layer.compute_mask_shape((None, 3, 2), (None, 3)) == (None, 3)


SEQUENCE_SPEC = """
input: [6]
layers:
  - {type: Embedding, input_dim: 10, output_dim: 3, mask_zero: true}
  - type: Bidirectional
    layer: {type: LSTM, units: 4, return_sequences: true}
  - type: TimeDistributed
    layer: {type: Dense, units: 3}
  - type: Bidirectional
    layer: {type: GRU, units: 2}
    merge_mode: sum
"""


def test_a_model_carries_the_mask_through_both_wrappers():
    model = layerspec.loads(SEQUENCE_SPEC).init(seed=5)
    assert [node.output_mask for node in model.nodes] == [(None, 6), (None, 6), (None, 6), None]
    ids = np.array([[3, 1, 4, 1, 5, 9], [2, 6, 5, 0, 0, 0], [7, 0, 8, 0, 0, 1]])
    embedding, first, distributed, last = model.layers
    mask = ids != 0
    x = embedding.call(ids)
    expected = last.call_masked(distributed.call(first.call_masked(x, mask)), mask)
    np.testing.assert_array_equal(model.predict(ids), expected)
    # The float64 reference of the first wrapper, then the rest by hand.
    reference = masked_bidirectional(first, x, mask)[0]
    np.testing.assert_allclose(first.call_masked(x, mask), reference, rtol=RTOL, atol=ATOL)
    # Padding at the end changes nothing: the second sample is its 3 ids alone, unmasked.
    alone = last.call(distributed.call(first.call(embedding.call(ids[1:2, :3]))))
    np.testing.assert_allclose(model.predict(ids[1:2]), alone, rtol=1e-6, atol=1e-7)


# -- TimeDistributed and masks -------------------------------------------------------------
def test_time_distributed_passes_the_mask_on():
    layer = TimeDistributed(Dense(2))
    assert layer.supports_masking and not layer.uses_mask
    assert layer.compute_mask_shape((None, 6, 3), (None, 6)) == (None, 6)
    assert layer.compute_mask_shape((None, None, 3), (None, 6)) == (None, 6)
    assert layer.compute_mask_shape((None, 6, 3), None) is None
    assert layer.compute_mask(np.zeros((5, 6, 3), np.float32), MASK) is MASK


@pytest.mark.parametrize("mask, message", [
    ((None,), "the mask of its input must have at least 2 axes (batch, timesteps), got (None,)"),
    ((None, 5), "the mask of its input, (None, 5), does not match the input (None, 6, 3): both must have the same "
                "timesteps"),
])
def test_time_distributed_refuses_a_mask_keras_refuses(mask, message):
    with pytest.raises(ShapeError) as caught:
        TimeDistributed(Dense(2)).compute_mask_shape((None, 6, 3), mask)
    assert caught.value.message == message


def test_time_distributed_refuses_a_mask_for_a_layer_that_computes_with_masks():
    text = ("input: [6]\nlayers:\n  - {type: Embedding, input_dim: 10, output_dim: 3, mask_zero: true}\n"
            "  - type: TimeDistributed\n    layer: {type: Softmax}\n")
    with pytest.raises(ShapeError) as caught:
        layerspec.loads(text)
    assert caught.value.message == (
        "layer 2 'time_distributed' (TimeDistributed): its input carries a mask, and the wrapped Softmax computes "
        "with masks: Keras gives it each step's slice of the mask, which layerspec does not do")
    # Without a mask it computes as before.
    model = layerspec.loads(text.replace("mask_zero: true", "mask_zero: false")).init(seed=0)
    assert model.predict(np.array([[1, 2, 0, 0, 0, 0]])).shape == (1, 6, 3)
