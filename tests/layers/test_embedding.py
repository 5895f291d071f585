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
