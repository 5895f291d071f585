"""The Keras 3 fixture recurrent_wrappers, built three ways, computes what Keras computes.

Bidirectional(LSTM 6, return_sequences, concat) → TimeDistributed(Dense 5,
relu) → Bidirectional(GRU 4, sum) → Dense 2, on (9, 4) sequences. The spec
in tests/test_keras_fixtures.py names every layer as Keras did; here the same
model is written with automatic names and built from Python objects, and
the sublayer names Keras wrote in config.json are checked against ours.

Keras's h5 file holds a Bidirectional's layers as ``forward_layer/cell/vars``
and ``backward_layer/cell/vars`` (kernel, recurrent_kernel, bias), a
TimeDistributed's as ``layer/vars``; our keys nest the sublayer's name
instead: ``bidirectional/forward_lstm/kernel``, ``time_distributed/dense/kernel``.

The fixture seq_text (Embedding with mask_zero, then an LSTM and a GRU) is
covered in tests/test_keras_fixtures.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import layerspec
from layerspec.layers import GRU, LSTM, Bidirectional, Dense, TimeDistributed
from layerspec.model import Sequential
from tests.keras_fixtures import assert_matches_keras, keras_weights, load_fixture, run_spec

NAME = "recurrent_wrappers"

#: Written from config.json with every name automatic: Keras counts every
#: layer it creates, the Dense inside TimeDistributed (made first) too, so
#: the model's own Dense is dense_1, and layerspec numbers them the same way.
SPEC = """
    input: [9, 4]
    layers:
      - type: Bidirectional
        layer: {type: LSTM, units: 6, return_sequences: true}
      - type: TimeDistributed
        layer: {type: Dense, units: 5, activation: relu}
      - type: Bidirectional
        merge_mode: sum
        layer: {type: GRU, units: 4}
      - {type: Dense, units: 2}
"""


def mapping() -> dict:
    """Our weight key → the h5 dataset Keras wrote it to."""
    keys = {}
    for wrapper, inner in (("bidirectional", "lstm"), ("bidirectional_1", "gru")):
        for direction in ("forward", "backward"):
            for number, weight in enumerate(("kernel", "recurrent_kernel", "bias")):
                keys[f"{wrapper}/{direction}_{inner}/{weight}"] = \
                    f"layers/{wrapper}/{direction}_layer/cell/vars/{number}"
    keys.update({"time_distributed/dense/kernel": "layers/time_distributed/layer/vars/0",
                 "time_distributed/dense/bias": "layers/time_distributed/layer/vars/1",
                 "dense_1/kernel": "layers/dense/vars/0", "dense_1/bias": "layers/dense/vars/1"})
    return keys


@pytest.fixture(scope="module")
def fixture():
    return load_fixture(NAME)


def test_spec_with_automatic_names_computes_what_keras_computes(fixture):
    outputs = run_spec(SPEC, keras_weights(fixture, mapping()), fixture.inputs)
    assert_matches_keras(fixture, outputs)


def test_parameter_count_is_keras(fixture):
    model = layerspec.loads(SPEC)
    assert model.count_params() == fixture.params == 867
    # Each Bidirectional holds twice its layer: 2 * 4 * (4*6 + 6*6 + 6) and 2 * (3 * (5*4 + 4*4) + 2 * 12);
    # TimeDistributed its Dense's 12*5 + 5.
    assert [layer.count_params() for layer in model.layers] == [528, 65, 264, 10]


def test_python_layers_compute_what_keras_computes(fixture):
    model = Sequential([Bidirectional(LSTM(6, return_sequences=True)),
                        TimeDistributed(Dense(5, activation="relu")),
                        Bidirectional(GRU(4), merge_mode="sum"),
                        Dense(2)], input_shape=(9, 4))  # dense_1, after the TimeDistributed's dense
    model.build()
    model.set_weights(keras_weights(fixture, mapping()), source="Keras weights")
    assert_matches_keras(fixture, model.predict(fixture.inputs["input_layer"]))


def test_sublayer_names_are_the_ones_keras_wrote(fixture):
    model = layerspec.loads(SPEC)
    written = [layer["config"] for layer in fixture.config["config"]["layers"][1:]]
    for ours, theirs in zip(model.layers, written):
        assert ours.name == theirs["name"]
        if isinstance(ours, Bidirectional):
            assert ours.forward_layer.name == theirs["layer"]["config"]["name"]
            assert ours.backward_layer.name == theirs["backward_layer"]["config"]["name"]
            assert ours.backward_layer.go_backwards == theirs["backward_layer"]["config"]["go_backwards"] is True
            assert ours.merge_mode == theirs["merge_mode"]
        if isinstance(ours, TimeDistributed):
            assert ours.layer.name == theirs["layer"]["config"]["name"]


def test_each_wrapper_alone_matches_a_plain_reference(fixture):
    """The first Bidirectional's concat halves are the forward LSTM's outputs and
    the backward LSTM's, flipped back in time: checked on Keras's weights with
    float64 loops (an independent check of the merge, beyond the end-to-end output)."""
    from tests.layers.test_recurrent import lstm_cell, run_reference_states

    weights = keras_weights(fixture, mapping())
    x = fixture.inputs["input_layer"]
    model = layerspec.loads("input: [9, 4]\nlayers:\n  - type: Bidirectional\n"
                            "    layer: {type: LSTM, units: 6, return_sequences: true}\n")
    model.set_weights({key: value for key, value in weights.items() if key.startswith("bidirectional/")})
    halves = []
    for direction, backwards in (("forward", False), ("backward", True)):
        cell = lstm_cell({name: weights[f"bidirectional/{direction}_lstm/{name}"].astype(np.float64)
                          for name in ("kernel", "recurrent_kernel", "bias")})
        halves.append(run_reference_states(cell, x, go_backwards=backwards, return_sequences=True)[0])
    expected = np.concatenate([halves[0], halves[1][:, ::-1]], axis=-1)
    np.testing.assert_allclose(model.predict(x), expected, rtol=2e-4, atol=2e-5)
