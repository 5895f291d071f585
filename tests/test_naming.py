"""Keras's automatic names counted over wrapped layers too (layerspec/naming.py).

Keras code constructs a wrapped layer before its wrapper, with the counters
every layer uses: ``[Dense, TimeDistributed(Dense), Dense]`` holds dense,
dense_1 (inside), time_distributed and dense_2. A Bidirectional's directions
are copies named ``forward_``/``backward_`` + the wrapped layer's name and
take no number; an explicit ``backward_layer`` takes one, after ``layer``.
"""

from __future__ import annotations

import numpy as np
import pytest

import layerspec
from layerspec.errors import LayerspecError
from layerspec.layers import GRU, LSTM, Bidirectional, Dense, Dropout, TimeDistributed
from layerspec.model import Sequential
from layerspec.naming import auto_names, layer_entry, name_clashes, spec_entry
from layerspec.spec import build_model, loads_spec, read_spec
from tests.test_spec import problems


# -- the functions -----------------------------------------------------------------------
def test_auto_names_count_wrapped_layers_before_their_wrapper():
    wrapped = (TimeDistributed, None, [(Dense, None)])
    assert auto_names([(Dense, None), wrapped, (Dense, None)]) == ["dense", "time_distributed", "dense_2"]
    # Pairs still work, and a named wrapped layer takes no number.
    assert auto_names([(Dense, None), (Dense, None)]) == ["dense", "dense_1"]
    assert auto_names([(TimeDistributed, None, [(Dense, "proj")]), (Dense, None)]) == ["time_distributed", "dense"]
    # Nested: the innermost first.
    nested = (TimeDistributed, None, [(Bidirectional, None, [(LSTM, None)])])
    assert auto_names([(LSTM, None), nested, (Bidirectional, None, [(LSTM, None)]), (LSTM, None)]) == [
        "lstm", "time_distributed", "bidirectional_1", "lstm_3"]


def test_only_model_layers_clash():
    # Keras refuses two model layers of one name (Sequential.add, functional.py's
    # "All operation names should be unique"), not a wrapped layer sharing one.
    td = (TimeDistributed, None, [(Dense, None)])
    assert name_clashes([(Dense, None), td, (Dense, None), (Dense, "dense_2")]) == [(3, 2)]
    assert name_clashes([td, (Dense, "dense")]) == []
    assert name_clashes([(Dense, None), (TimeDistributed, None, [(Dense, "dense")])]) == []
    # A model layer's automatic name that a wrapped layer's explicit name holds is no clash, nor moved.
    assert auto_names([(TimeDistributed, None, [(Dense, "dense")]), (Dense, None)]) == ["time_distributed", "dense"]
    # An explicit model name takes no number: the wrapped Dense is dense (no clash), the last dense_1.
    assert auto_names([(Dense, "dense"), td, (Dense, None)]) == ["dense", "time_distributed", "dense_1"]
    # A clashing model layer moves on (an invalid model, for messages), never a wrapped one.
    assert auto_names([(Dense, "dense_1"), td, (Dense, None)]) == ["dense_1", "time_distributed", "dense_2"]
    assert name_clashes([(Dense, "dense_1"), td, (Dense, None)]) == [(0, 2)]


def test_entries_from_objects_and_from_spec_arguments():
    layer = Bidirectional(LSTM(2, name="enc"), backward_layer=GRU(2, go_backwards=True))
    assert layer_entry(layer) == (Bidirectional, None, [(LSTM, "enc", []), (GRU, None, [])])
    assert layer_entry(Dense(2, name="d")) == (Dense, "d", [])
    arguments = {"layer": {"type": "time_distributed", "layer": {"type": "Dense", "units": 2, "name": "p"}}}
    assert spec_entry(TimeDistributed, None, arguments) == (
        TimeDistributed, None, [(TimeDistributed, None, [(Dense, "p", [])])])
    # An unknown or malformed wrapped layer is left out: its own error reports it.
    assert spec_entry(TimeDistributed, "t", {"layer": {"type": "Dense2"}}) == (TimeDistributed, "t", [])
    assert spec_entry(TimeDistributed, None, {"layer": 3}) == (TimeDistributed, None, [])
    assert spec_entry(Dense, None, {"units": 2}) == (Dense, None, [])


# -- models ------------------------------------------------------------------------------
def test_time_distributed_dense_between_dense_layers():
    model = layerspec.loads("input: [5, 4]\nlayers:\n  - units: 3\n  - type: TimeDistributed\n"
                            "    layer: {type: Dense, units: 3}\n  - units: 2\n").init(seed=0)
    assert [layer.name for layer in model.layers] == ["dense", "time_distributed", "dense_2"]
    assert model.layers[1].layer.name == "dense_1"
    assert list(model.get_weights()) == ["dense/kernel", "dense/bias", "time_distributed/dense_1/kernel",
                                         "time_distributed/dense_1/bias", "dense_2/kernel", "dense_2/bias"]
    python = Sequential([Dense(3), TimeDistributed(Dense(3)), Dense(2)], input_shape=(5, 4)).init(seed=0)
    assert list(python.get_weights()) == list(model.get_weights())


def test_bidirectional_of_the_second_lstm():
    model = layerspec.loads("input: [5, 4]\nlayers:\n  - {type: LSTM, units: 3, return_sequences: true}\n"
                            "  - type: Bidirectional\n    layer: {type: LSTM, units: 2}\n").init(seed=0)
    bidirectional = model.layers[1]
    assert (bidirectional.layer.name, bidirectional.forward_layer.name, bidirectional.backward_layer.name) == (
        "lstm_1", "forward_lstm_1", "backward_lstm_1")
    assert sorted({key.rsplit("/", 1)[0] for key in model.get_weights()}) == [
        "bidirectional/backward_lstm_1", "bidirectional/forward_lstm_1", "lstm"]
    assert model.layers[1].get_config()["layer"] == {"type": "LSTM", "units": 2}  # the number is not written


def test_a_given_backward_layer_is_numbered_after_the_layer():
    text = ("input: [5, 4]\nlayers:\n  - {type: LSTM, units: 3, return_sequences: true}\n"
            "  - type: Bidirectional\n    layer: {type: LSTM, units: 2, return_sequences: true}\n"
            "    backward_layer: {type: LSTM, units: 2, return_sequences: true, go_backwards: true}\n"
            "  - {type: LSTM, units: 2}\n")
    model = layerspec.loads(text).init(seed=0)
    assert [layer.name for layer in model.layers] == ["lstm", "bidirectional", "lstm_3"]
    bidirectional = model.layers[1]
    assert (bidirectional.forward_layer.name, bidirectional.backward_layer.name) == ("forward_lstm_1", "lstm_2")
    assert [key for key in model.get_weights() if key.endswith("/kernel") and "recurrent" not in key] == [
        "lstm/kernel", "bidirectional/forward_lstm_1/kernel", "bidirectional/lstm_2/kernel", "lstm_3/kernel"]
    # The same model from Python objects, constructed in Keras's order.
    python = Sequential([LSTM(3, return_sequences=True),
                         Bidirectional(LSTM(2, return_sequences=True),
                                       backward_layer=LSTM(2, return_sequences=True, go_backwards=True)),
                         LSTM(2)], input_shape=(5, 4)).init(seed=0)
    assert list(python.get_weights()) == list(model.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    python.set_weights(model.get_weights())
    np.testing.assert_array_equal(python.predict(x), model.predict(x))


def test_nested_wrappers_number_the_innermost_first():
    model = Sequential([LSTM(2, return_sequences=True), TimeDistributed(Bidirectional(LSTM(2)))])
    wrapper = model.layers[1]
    assert (wrapper.name, wrapper.layer.name, wrapper.layer.layer.name, wrapper.layer.forward_layer.name) == (
        "time_distributed", "bidirectional", "lstm_1", "forward_lstm_1")
    model = layerspec.loads("input: [3, 5, 4]\nlayers:\n  - type: TimeDistributed\n    layer:\n"
                            "      type: Bidirectional\n      layer: {type: GRU, units: 2}\n"
                            "  - type: Bidirectional\n    layer: {type: GRU, units: 2}\n").init(seed=0)
    assert [layer.name for layer in model.layers] == ["time_distributed", "bidirectional_1"]
    assert sorted({key.rsplit("/", 1)[0] for key in model.get_weights()}) == [
        "bidirectional_1/backward_gru_1", "bidirectional_1/forward_gru_1",
        "time_distributed/bidirectional/backward_gru", "time_distributed/bidirectional/forward_gru"]


def test_an_explicit_name_clashing_with_a_count_that_includes_wrapped_layers(write_spec):
    layers = ("  - units: 3\n  - type: TimeDistributed\n    layer: {type: Dense, units: 3}\n  - units: 3\n"
              "  - {units: 3, name: dense_2}\n")
    assert problems(write_spec, "input: [5, 4]\nlayers:\n" + layers) == [
        "m.yaml:7:22: layer 4: duplicate layer name 'dense_2' (layer 3 (Dense) has it as its automatic name)"]
    with pytest.raises(LayerspecError) as caught:
        Sequential([Dense(3), TimeDistributed(Dense(3)), Dense(3), Dense(3, name="dense_2")])
    assert caught.value.message == ("layer 4 'dense_2' (Dense): duplicate layer name 'dense_2' (layer 3 (Dense) has "
                                    "it as its automatic name)")
    # The name the old count gave the third Dense is free now: no clash (Keras names them alike).
    model = layerspec.loads("input: [5, 4]\nlayers:\n" + layers.replace("dense_2", "dense_1"))
    assert [layer.name for layer in model.layers] == ["dense", "time_distributed", "dense_2", "dense_1"]


def test_a_wrapped_layer_may_share_a_model_layers_name():
    model = layerspec.loads("input: [5, 4]\nlayers:\n  - type: TimeDistributed\n    layer: {type: Dense, units: 3}\n"
                            "  - {units: 2, name: dense}\n").init(seed=0)
    assert list(model.get_weights()) == ["time_distributed/dense/kernel", "time_distributed/dense/bias",
                                         "dense/kernel", "dense/bias"]


def test_spec_labels_use_the_same_numbers(write_spec):
    text = ("input: [5, 4]\nlayers:\n  - units: 3\n  - type: TimeDistributed\n    layer: {type: Dense, units: 3}\n"
            "  - {type: Reshape, target_shape: [7]}\n  - units: 2\n")
    assert problems(write_spec, text) == [
        "m.yaml:6:5: layer 3 'reshape' (Reshape): cannot reshape (None, 5, 3) (15 values per sample) into "
        "target_shape [7]"]
    spec = read_spec(write_spec(text))
    assert [layer.final_name for layer in spec.layers] == ["dense", "time_distributed", "reshape", "dense_2"]


def test_a_backward_layer_named_as_the_numbered_forward_layer_is_refused():
    text = ("input: [5, 4]\nlayers:\n  - {type: LSTM, units: 3, return_sequences: true}\n"
            "  - type: Bidirectional\n    layer: {type: LSTM, units: 2}\n"
            "    backward_layer: {type: LSTM, units: 2, go_backwards: true, name: forward_lstm_1}\n")
    with pytest.raises(LayerspecError) as caught:
        build_model(loads_spec(text, "m.yaml"))
    assert str(caught.value) == ("m.yaml:6:21: layer 2 'bidirectional' (Bidirectional): argument 'backward_layer': "
                                 "its name 'forward_lstm_1' is the forward layer's; their weights would share keys")


def test_outside_a_model_and_once_built_names_stay():
    alone = Bidirectional(LSTM(2))
    assert (alone.layer.name, alone.forward_layer.name) == ("lstm", "forward_lstm")
    built = TimeDistributed(Dense(2))
    built.build_for((None, 3, 4))
    model = Sequential([Dense(4), built], input_shape=(3, 4)).init(seed=0)
    # Built alone, its weights carry the name it had: the name stays, so keys and names agree.
    assert built.layer.name == "dense"
    assert list(model.get_weights())[2:] == ["time_distributed/dense/kernel", "time_distributed/dense/bias"]


def test_two_models_share_no_count():
    first = Sequential([Dense(2), TimeDistributed(Dense(2))])
    second = Sequential([TimeDistributed(Dense(2))])
    assert first.layers[1].layer.name == "dense_1"
    assert second.layers[0].layer.name == "dense"


def test_dropout_inside_counts_for_dropout_only():
    model = Sequential([Dense(2), TimeDistributed(Dropout(0.5)), Dropout(0.1), Dense(2)])
    assert [layer.name for layer in model.layers] == ["dense", "time_distributed", "dropout_1", "dense_1"]
    assert model.layers[1].layer.name == "dropout"
