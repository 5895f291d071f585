"""Embedding: lookups against plain loops, index checks, the integer input path."""

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, DataError
from layerspec.layers.embedding import Embedding
from layerspec.model import Sequential
from layerspec.spec import build_model, loads_spec


def embedding_reference(indices, table):
    """Plain loops: out[position] = table[indices[position]]."""
    out = np.zeros(indices.shape + (table.shape[1],))
    for position in np.ndindex(*indices.shape):
        for j in range(table.shape[1]):
            out[position + (j,)] = table[int(indices[position]), j]
    return out


def built(input_shape=(None, 20), **kwargs):
    kwargs.setdefault("input_dim", 1000)
    kwargs.setdefault("output_dim", 4)
    layer = Embedding(**kwargs)
    layer.build_for(input_shape)
    layer.embeddings.assign(np.random.default_rng(0).standard_normal(
        (kwargs["input_dim"], kwargs["output_dim"])).astype(np.float32))
    return layer


@pytest.mark.parametrize("shape", [(6,), (3, 5), (2, 3, 4)])
def test_lookup_matches_plain_loops_for_any_rank(shape):
    layer = built((None,) + shape[1:], input_dim=10, output_dim=3)
    indices = np.random.default_rng(1).integers(0, 10, size=shape)
    out = layer(indices)
    assert out.dtype == np.float32 and out.shape == shape + (3,)
    np.testing.assert_array_equal(out, embedding_reference(indices, layer.embeddings.value))
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:] + (3,)


def test_output_shape_keeps_unknown_sizes():
    assert Embedding(5, 2).compute_output_shape((None, None)) == (None, None, 2)


def test_weights_param_count_and_default_initializer():
    model = Sequential([Embedding(1000, 64)], input_shape=(20,)).init(seed=0)
    weights = model.get_weights()
    assert list(weights) == ["embedding/embeddings"]
    table = weights["embedding/embeddings"]
    assert table.shape == (1000, 64) and table.dtype == np.float32
    # Keras's "uniform": RandomUniform(-0.05, 0.05).
    assert -0.05 <= table.min() < -0.049 and 0.049 < table.max() <= 0.05
    # Keras: input_dim * output_dim, all trainable.
    row = model.summary_data()["layers"][0]
    assert (row["params"], row["trainable_params"], row["non_trainable_params"]) == (64000, 64000, 0)
    assert row["macs"] == 0
    assert row["output_shape"] == [None, 20, 64]


@pytest.mark.parametrize("value, position", [(1000, (3, 17)), (-1, (0, 0)), (10**12, (4, 19))])
def test_index_out_of_range_names_the_index_and_its_position(value, position):
    layer = built()
    indices = np.zeros((5, 20), dtype=np.int64)
    indices[position] = value
    indices[4, 19] = value  # a later offender: the first one is reported
    with pytest.raises(DataError) as caught:
        layer(indices)
    assert caught.value.message == f"Embedding 'embedding': index {value} at index {position} is outside [0, 1000)"
    assert caught.value.index == position


def test_index_at_the_edges_is_accepted():
    layer = built()
    out = layer(np.array([[0, 999]]))
    np.testing.assert_array_equal(out[0], layer.embeddings.value[[0, 999]])


def test_other_integer_and_whole_float_inputs_are_converted():
    layer = built(input_dim=10)
    expected = layer(np.array([[1, 2, 9]], dtype=np.int64))
    for dtype in (np.int32, np.uint8, np.uint64, np.float32, np.float64):
        np.testing.assert_array_equal(layer(np.array([[1, 2, 9]], dtype=dtype)), expected)


def test_fractional_float_input_is_refused():
    with pytest.raises(DataError) as caught:
        built(input_dim=10)(np.array([[1.0, 2.5]]))
    assert caught.value.message == "Embedding 'embedding' input: value 2.5 at index (0, 1) is not an integer"


def test_float64_model_gives_float64_vectors():
    model = Sequential([Embedding(10, 3)], input_shape=(2,), dtype="float64").init(seed=0)
    out = model.predict(np.array([[1, 2]]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[0], model.get_weights()["embedding/embeddings"][[1, 2]])


@pytest.mark.parametrize("kwargs, message", [
    ({"input_dim": 0, "output_dim": 4}, "argument 'input_dim' must be an integer >= 1, got integer 0"),
    ({"input_dim": 10, "output_dim": 4.0}, "argument 'output_dim' must be an integer >= 1, got number 4.0"),
    ({"input_dim": 10, "output_dim": 4, "input_length": 5},
     "unknown argument 'input_length'"),
    ({"input_dim": 10}, "missing required argument 'output_dim'"),
])
def test_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        Embedding(**kwargs)
    assert caught.value.message == message


# -- through a spec and the model's input conversion -------------------------
SPEC = """
input: [5]
layers:
  - {type: Embedding, input_dim: 50, output_dim: 8}
  - {type: LayerNormalization}
  - {type: Flatten}
  - {units: 2}
"""


def test_embedding_model_from_yaml_takes_integer_and_whole_float_inputs():
    model = layerspec.loads(SPEC)
    assert model.output_shape == (None, 2)
    assert model.count_params() == 50 * 8 + 2 * 8 + (40 * 2 + 2)
    model.init(seed=0)
    indices = np.array([[0, 1, 2, 3, 49], [5, 5, 5, 5, 5]])
    out = model.predict(indices)
    assert out.dtype == np.float32 and out.shape == (2, 2)
    np.testing.assert_array_equal(model.predict(indices.astype(np.float32)), out)
    table = model.get_weights()["embedding/embeddings"]
    np.testing.assert_array_equal(model.layers[0].call(indices), table[indices])


def test_embedding_model_refuses_bad_indices():
    model = layerspec.loads(SPEC).init(seed=0)
    with pytest.raises(DataError) as caught:
        model.predict(np.array([[0, 1, 2, 3, 4], [0, 1, 2, 3, 1.5]]))
    assert caught.value.message == "input: value 1.5 at index (1, 4) is not an integer"
    with pytest.raises(DataError) as caught:
        model.predict(np.array([[0, 1, 2, 3, 4], [0, 1, 50, 3, 4]]))
    assert caught.value.message == "Embedding 'embedding': index 50 at index (1, 2) is outside [0, 50)"


def test_mask_zero_masks_the_zero_ids_and_still_looks_them_up():
    layer = built((None, 4), input_dim=10, mask_zero=True)
    ids = np.array([[3, 0, 7, 0], [0, 0, 0, 0]])
    assert layer.supports_masking
    assert layer.compute_mask_shape((None, 4), None) == (None, 4)
    np.testing.assert_array_equal(layer.compute_mask(ids, None), [[True, False, True, False], [False] * 4])
    np.testing.assert_array_equal(layer.call(ids), embedding_reference(ids, layer.embeddings.value))


def test_without_mask_zero_no_mask_is_made_and_none_passes():
    layer = built((None, 4), input_dim=10)
    assert not layer.supports_masking
    assert layer.compute_mask_shape((None, 4), (None, 4)) is None
    assert layer.compute_mask(np.zeros((1, 4), int), np.ones((1, 4), bool)) is None


def test_spec_with_mask_zero_gives_its_mask_to_the_next_layer():
    model = build_model(loads_spec("""input: [5]
layers:
  - {type: Embedding, input_dim: 50, output_dim: 8, mask_zero: true}
  - {type: Dense, units: 2}
"""))
    model.build()
    assert [(node.input_mask, node.output_mask) for node in model.nodes] == [(None, (None, 5)),
                                                                            ((None, 5), (None, 5))]
    assert model.graph.carries_masks


def test_index_error_position_counts_rows_across_batches():
    from layerspec.errors import ValueAtIndexError

    model = layerspec.loads("input: [4]\nlayers:\n  - {type: Embedding, input_dim: 10, output_dim: 2}\n").init(0)
    ids = np.zeros((7, 4), np.int64)
    ids[5, 2] = 10
    with pytest.raises(ValueAtIndexError) as caught:
        model.predict(ids, batch_size=2)
    assert caught.value.message == "Embedding 'embedding': index 10 at index (5, 2) is outside [0, 10)"


# -- PositionEmbedding ---------------------------------------------------------
from layerspec.layers.embedding import PositionEmbedding  # noqa: E402
from layerspec.errors import ShapeError  # noqa: E402


def position_reference(input_shape, table):
    """Plain loops: out[..., t, f] = table[t, f], whatever the input holds."""
    out = np.zeros(input_shape)
    for position in np.ndindex(*input_shape):
        out[position] = table[position[-2], position[-1]]
    return out


def built_positions(input_shape, sequence_length=6, **kwargs):
    layer = PositionEmbedding(sequence_length, **kwargs)
    layer.build_for(input_shape)
    layer.embeddings.assign(np.random.default_rng(7).standard_normal(
        (sequence_length, input_shape[-1])).astype(np.float32))
    return layer


@pytest.mark.parametrize("shape", [(2, 6, 3), (3, 4, 3), (2, 1, 3), (2, 5, 4, 3)])
def test_position_embedding_matches_plain_loops(shape):
    layer = built_positions((None,) + shape[1:])
    inputs = np.random.default_rng(8).standard_normal(shape).astype(np.float32)
    out = layer(inputs)
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_array_equal(out, position_reference(shape, layer.embeddings.value))
    # Only the shape counts: other values give the same rows.
    np.testing.assert_array_equal(layer(np.zeros(shape, np.float32)), out)


def test_position_embedding_output_is_a_fresh_writeable_array():
    layer = built_positions((None, 4, 3))
    out = layer(np.zeros((2, 4, 3), np.float32))
    assert out.flags.writeable and out.flags.c_contiguous
    assert not np.shares_memory(out, layer.embeddings.value)


@pytest.mark.parametrize("shape", [(None, 6, 3), (None, None, 3), (None, 2, None, 5)])
def test_position_embedding_output_shape_is_the_input_shape(shape):
    assert PositionEmbedding(6).compute_output_shape(shape) == shape


@pytest.mark.parametrize("shape, message", [
    ((None, 7, 3), "the input has 7 positions on its sequence axis (-2), more than sequence_length 6"),
    ((None, 3), "needs an input (batch, ..., sequence, features) of rank >= 3, got (None, 3)"),
])
def test_position_embedding_refuses_shapes_it_cannot_take(shape, message):
    with pytest.raises(ShapeError) as caught:
        PositionEmbedding(6).compute_output_shape(shape)
    assert caught.value.message == message


def test_position_embedding_needs_known_features():
    with pytest.raises(ShapeError) as caught:
        PositionEmbedding(6).build_for((None, 4, None))
    assert caught.value.message == "needs a known size on the last (feature) axis, got (None, 4, None)"


def test_position_embedding_params_costs_and_default_initializer():
    model = Sequential([PositionEmbedding(50)], input_shape=(50, 64)).init(seed=0)
    table = model.get_weights()["position_embedding/embeddings"]
    assert table.shape == (50, 64) and table.dtype == np.float32
    # keras_hub's default glorot_uniform: uniform in +-sqrt(6 / (fan_in + fan_out)), fans 50 and 64.
    limit = np.sqrt(6 / (50 + 64))
    assert -limit <= table.min() < -0.95 * limit and 0.95 * limit < table.max() <= limit
    row = model.summary_data()["layers"][0]
    assert (row["params"], row["trainable_params"], row["macs"], row["flops"]) == (3200, 3200, 0, 0)
    assert row["output_shape"] == [None, 50, 64]


def test_position_embedding_initializer_argument():
    model = Sequential([PositionEmbedding(4, initializer="ones")], input_shape=(3, 2)).init(seed=0)
    np.testing.assert_array_equal(model.predict(np.zeros((1, 3, 2))), np.ones((1, 3, 2)))


def test_position_embedding_float64_model():
    model = Sequential([PositionEmbedding(4)], input_shape=(3, 2), dtype="float64").init(seed=0)
    out = model.predict(np.zeros((2, 3, 2)))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[1], model.get_weights()["position_embedding/embeddings"][:3])


@pytest.mark.parametrize("kwargs, message", [
    ({"sequence_length": 0}, "argument 'sequence_length' must be an integer >= 1, got integer 0"),
    ({"sequence_length": None}, "argument 'sequence_length' must be an integer >= 1, got null"),
    ({}, "missing required argument 'sequence_length'"),
    ({"sequence_length": 4, "start_index": 2}, "unknown argument 'start_index'"),
    ({"sequence_length": 4, "initializer": "glorot"},
     "argument 'initializer': unknown initializer 'glorot'; did you mean 'glorot_normal'?"),
])
def test_position_embedding_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        PositionEmbedding(**kwargs)
    assert caught.value.message == message


GPT_LIKE = """
inputs: {ids: {shape: [null], dtype: int32}}
layers:
  - {type: Embedding, input_dim: 20, output_dim: 4, name: tokens}
  - {type: PositionEmbedding, sequence_length: 6, name: positions}
  - {type: Add, inputs: [tokens, positions]}
"""


def test_token_plus_position_embedding_through_a_spec():
    model = layerspec.loads(GPT_LIKE).init(seed=0)
    ids = np.array([[3, 1, 4, 1], [5, 9, 2, 6]])
    out = model.predict(ids)
    weights = model.get_weights()
    tokens, positions = weights["tokens/embeddings"], weights["positions/embeddings"]
    expected = np.zeros((2, 4, 4))
    for b, t in np.ndindex(2, 4):
        expected[b, t] = tokens[ids[b, t]] + positions[t]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert model.count_params() == 20 * 4 + 6 * 4


def test_a_known_length_beyond_sequence_length_is_a_shape_error_at_build():
    with pytest.raises(ShapeError) as caught:
        layerspec.loads("input: [7, 4]\nlayers:\n  - {type: PositionEmbedding, sequence_length: 6}\n")
    assert caught.value.message.endswith("layer 1 'position_embedding' (PositionEmbedding): the input has 7 "
                                         "positions on its sequence axis (-2), more than sequence_length 6")


def test_an_unknown_length_beyond_sequence_length_is_a_data_error_at_run_time():
    model = layerspec.loads(GPT_LIKE).init(seed=0)
    assert model.predict(np.zeros((1, 6), int)).shape == (1, 6, 4)
    with pytest.raises(DataError) as caught:
        model.predict(np.zeros((1, 7), int))
    assert caught.value.message == ("input: layer 2 'positions' (PositionEmbedding): the input has 7 positions on "
                                    "its sequence axis (-2), more than sequence_length 6")
    layer = model.layers[1]
    with pytest.raises(DataError) as caught:
        layer(np.zeros((1, 7, 4), np.float32))
    assert caught.value.message == ("PositionEmbedding 'positions': the input has 7 positions on its sequence axis "
                                    "(-2), more than sequence_length 6")
    with pytest.raises(ShapeError) as caught:
        layer(np.zeros((1, 5, 3), np.float32))
    assert caught.value.message == "is built for inputs (batch, ..., sequence, 4), got shape (1, 5, 3)"


def test_position_embedding_drops_a_mask_as_keras_hub_does():
    # keras_hub's PositionEmbedding does not support masking: Keras drops the mask (with a warning).
    model = build_model(loads_spec("""input: [5]
layers:
  - {type: Embedding, input_dim: 50, output_dim: 8, mask_zero: true}
  - {type: PositionEmbedding, sequence_length: 5}
"""))
    model.build()
    assert not PositionEmbedding(5).supports_masking
    assert [(node.input_mask, node.output_mask) for node in model.nodes] == [(None, (None, 5)), ((None, 5), None)]


def test_position_embedding_config_round_trips_through_yaml():
    model = layerspec.loads("input: [4, 2]\nlayers:\n  - {type: PositionEmbedding, sequence_length: 8, "
                            "initializer: zeros}\n")
    assert model.layers[0].get_config() == {"name": "position_embedding", "trainable": True, "sequence_length": 8,
                                            "initializer": "zeros"}
    written = model.to_yaml()
    assert "{type: PositionEmbedding, sequence_length: 8, initializer: zeros}" in written
    assert layerspec.loads(written).layers[0].get_config() == model.layers[0].get_config()


def test_position_embedding_is_registered_for_the_cli_and_the_schema():
    from layerspec import registry
    from layerspec.schema import spec_schema

    assert registry.lookup("position_embedding") is PositionEmbedding
    import jsonschema

    validator = jsonschema.Draft202012Validator(spec_schema())

    def valid(layer):
        return validator.is_valid({"input": [4, 2], "layers": [layer]})

    assert valid({"type": "PositionEmbedding", "sequence_length": 8, "initializer": "zeros"})
    assert not valid({"type": "PositionEmbedding", "sequence_length": 0})
    assert not valid({"type": "PositionEmbedding"})
    assert not valid({"type": "PositionEmbedding", "sequence_length": 8, "start_index": 1})
