"""``model.to_yaml()`` (layerspec/writing.py): a model written back as a spec
that loads into the same model, and reads like a hand-written one."""

import numpy as np
import pytest

import layerspec
from layerspec.layers import (Add, BatchNormalization, Concatenate, Conv2D, Dense, Dropout, Embedding,
                              GlobalAveragePooling1D)
from tests.conftest import SPECS
from tests.test_examples import sample_inputs

EXAMPLES = sorted(SPECS.glob("*.yaml"))


def as_list(result) -> list:
    """Predictions as a list: one array, a list, or a dict's values."""
    if isinstance(result, dict):
        return list(result.values())
    return result if isinstance(result, list) else [result]


def assert_same_model(original, loaded, inputs):
    """Same summary, same weight keys, and with the weights copied over the
    same predictions on ``inputs`` (a dict by input name)."""
    assert loaded.summary_data().to_json() == original.summary_data().to_json()
    assert [key for key, _ in loaded.weight_items()] == [key for key, _ in original.weight_items()]
    original.init(seed=0)
    loaded.set_weights(original.get_weights())
    given = inputs if len(inputs) > 1 else next(iter(inputs.values()))
    expected, got = as_list(original.predict(given)), as_list(loaded.predict(given))
    assert len(got) == len(expected)
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_example_round_trips(path):
    inputs = sample_inputs(path)
    original = layerspec.load(str(path))
    if not original.built:  # an input size the spec leaves to the data
        original.build([tuple(array.shape[1:]) for array in inputs.values()])
    text = original.to_yaml()
    loaded = layerspec.loads(text)
    if not loaded.built:
        loaded.build([tuple(array.shape[1:]) for array in inputs.values()])
    assert loaded.name == original.name and loaded.is_graph == original.is_graph
    assert_same_model(original, loaded, inputs)


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_writing_a_loaded_example_again_gives_the_same_text(path):
    text = layerspec.load(str(path)).to_yaml()
    assert layerspec.loads(text).to_yaml() == text


# -- exact text -------------------------------------------------------------------
def test_a_plain_stack_stays_a_plain_stack():
    model = layerspec.Sequential([Dense(64, activation="relu"), Dropout(0.2), Dense(10, activation="softmax",
                                                                                      name="logits")],
                                 name="mlp", input_shape=(784,))
    assert model.to_yaml() == (
        "name: mlp\n"
        "input: [784]\n"
        "layers:\n"
        "  - {type: Dense, units: 64, activation: relu}\n"
        "  - {type: Dropout, rate: 0.2}\n"
        "  - {type: Dense, name: logits, units: 10, activation: softmax}\n"
    )


def test_a_graph_names_only_the_inputs_that_are_not_the_layer_above():
    a, b = layerspec.Input((4,), name="a"), layerspec.Input((4,), name="b")
    shared = Dense(3, activation="relu", name="shared")
    joined = Add()([shared(a), shared(b)])
    first = Dense(2)(joined)
    second = Dense(1, name="score")(joined)
    model = layerspec.Model([a, b], [first, second], name="pair")
    assert model.to_yaml() == (
        "name: pair\n"
        "inputs:\n"
        "  a: [4]\n"
        "  b: [4]\n"
        "layers:\n"
        "  - {type: Dense, name: shared, units: 3, activation: relu, inputs: a}\n"
        "  - {reuse: shared, inputs: b}\n"
        "  - {type: Add, inputs: [shared, shared_reuse]}\n"
        "  - {type: Dense, units: 2}\n"
        "  - {type: Dense, name: score, units: 1, inputs: add}\n"
        "outputs: [dense, score]\n"
    )


def test_defaults_are_left_out_and_changed_arguments_kept():
    x = layerspec.Input((8, 8, 3), name="image")
    y = BatchNormalization(momentum=0.9)(Conv2D(4, (3, 1), strides=1, padding="valid", use_bias=False)(x))
    model = layerspec.Model(x, y, name="conv", dtype="float64")
    assert model.to_yaml() == (
        "name: conv\n"
        "inputs:\n"
        "  image: [8, 8, 3]\n"
        "dtype: float64\n"
        "layers:\n"
        "  - {type: Conv2D, filters: 4, kernel_size: [3, 1], use_bias: false}\n"
        "  - {type: BatchNormalization, momentum: 0.9}\n"
    )


def test_an_input_of_integer_ids_keeps_its_dtype():
    ids = layerspec.Input((None,), name="ids", dtype="int32")
    model = layerspec.Model(ids, Dense(1)(GlobalAveragePooling1D()(Embedding(50, 8)(ids))), name="ids")
    text = model.to_yaml()
    # As the spec format writes a typed input: NAME: {shape: SHAPE, dtype: int32}.
    assert text.splitlines()[1:4] == ["inputs:", "  ids: {shape: [null], dtype: int32}", "layers:"]


# -- functional models round trip -----------------------------------------------------
def samples(model, rows=3) -> dict:
    rng = np.random.default_rng(1)
    out = {}
    for item in model.graph.inputs:
        shape = tuple(5 if size is None else size for size in item.shape)
        if item.dtype is not None and np.dtype(item.dtype).kind == "i":
            out[item.name] = rng.integers(0, 50, (rows,) + shape)
        else:
            out[item.name] = rng.standard_normal((rows,) + shape).astype(np.float32)
    return out


def shared_encoder_model():
    a, b = layerspec.Input((4,), name="a"), layerspec.Input((4,), name="b")
    shared = Dense(3, activation="relu", name="shared")
    joined = Add()([shared(a), shared(b)])
    return layerspec.Model({"a": a, "b": b}, {"cls": Dense(2)(joined), "score": Dense(1)(joined)}, name="pair")


def mixed_dtype_model():
    ids = layerspec.Input((None,), name="ids", dtype="int32")
    features = layerspec.Input((3,), name="features")
    pooled = GlobalAveragePooling1D()(Embedding(50, 8)(ids))
    return layerspec.Model([ids, features], Dense(1, activation="sigmoid")(Concatenate()([pooled, features])),
                           name="mixed")


def second_input_first_model():
    # The first layer reads the *second* input: loading must not feed it the first.
    a, b = layerspec.Input((4,), name="a"), layerspec.Input((6,), name="b")
    from_b = Dense(3)(b)
    from_a = Dense(2)(a)
    return layerspec.Model([a, b], Concatenate()([from_b, from_a]), name="crossed")


def skip_model():
    x = layerspec.Input((6,), name="x")
    hidden = Dense(6, activation="relu", name="hidden")(x)
    deeper = Dense(6, activation="tanh")(Dense(6, activation="relu")(hidden))
    return layerspec.Model(x, Add()([hidden, deeper, x]), name="skip")


@pytest.mark.parametrize("make", [shared_encoder_model, mixed_dtype_model, second_input_first_model, skip_model],
                         ids=lambda make: make.__name__)
def test_functional_models_round_trip(make):
    original = make()
    loaded = layerspec.loads(original.to_yaml())
    assert loaded.input_names == original.input_names
    assert loaded.output_names == original.output_names
    assert [(item.name, item.sources) for item in loaded.nodes] == [(item.name, item.sources)
                                                                     for item in original.nodes]
    assert_same_model(original, loaded, samples(original))


def test_a_stack_with_a_named_input_entry_stays_a_stack():
    model = layerspec.loads("name: pixels_mlp\nlayers:\n  - {type: Input, shape: [4], name: pixels}\n  - {units: 3}\n")
    assert not model.is_graph
    loaded = layerspec.loads(model.to_yaml())
    assert loaded.input_names == ["pixels"]
    assert not loaded.is_graph
    assert str(loaded.summary_data()) == str(model.summary_data())


def test_a_second_unnamed_reuse_is_written_without_its_automatic_name():
    text = ("inputs: {a: [4], b: [4], c: [4]}\nlayers:\n  - {units: 3, inputs: a, name: encoder}\n"
            "  - {reuse: encoder, inputs: b}\n  - {reuse: encoder, inputs: c}\n"
            "  - {type: Concatenate, inputs: [encoder, encoder_reuse, encoder_reuse_1]}\n")
    written = layerspec.loads(text).to_yaml()
    assert "  - {reuse: encoder, inputs: b}\n  - {reuse: encoder, inputs: c}\n" in written
    assert [node.name for node in layerspec.loads(written).nodes] == ["encoder", "encoder_reuse", "encoder_reuse_1",
                                                                      "concatenate"]
