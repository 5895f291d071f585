"""ONNX export of Embedding and PositionEmbedding (layerspec/onnx_convert/embedding.py)."""

from __future__ import annotations

import numpy as np
import pytest

from layerspec.layers.pooling import GlobalAveragePooling1D
from layerspec.onnx_builder import MAX_OPSET
from layerspec.onnx_convert import converter_of
from tests.onnx_convert.test_merging import exported_masks, ids
from tests.onnx_helpers import assert_onnx_matches, model_of

OPSETS = [None, MAX_OPSET]


def op_types(export) -> list[str]:
    return [node.op_type for node in export.model.graph.node]


# -- Embedding ---------------------------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("input_shape", ["[5]", "[null]", "[2, 3]"])
def test_embedding_is_a_gather_of_rows(input_shape, opset):
    spec = f"inputs: {{ids: {input_shape}}}\nlayers:\n  - {{type: Embedding, input_dim: 7, output_dim: 3}}"
    export = assert_onnx_matches(spec, opset=opset, rtol=0, atol=0)
    assert "Gather" in op_types(export)
    assert export.opset == (opset or 13)


def test_embedding_reads_every_row_exactly():
    model = model_of("inputs: {ids: [7]}\nlayers:\n  - {type: Embedding, input_dim: 7, output_dim: 2}")
    every = np.array([[6, 5, 4, 3, 2, 1, 0], [0, 0, 1, 1, 2, 2, 6]], np.int64)
    assert_onnx_matches(model, inputs=[every], rtol=0, atol=0)


@pytest.mark.parametrize("dtype", ["int32", "float32"])
def test_embedding_takes_ids_of_a_declared_dtype(dtype):
    # int32 ids, or floats holding whole numbers (layerspec accepts both): cast to int64.
    spec = (f"inputs: {{ids: {{shape: [4], dtype: {dtype}}}}}\n"
            "layers:\n  - {type: Embedding, input_dim: 5, output_dim: 3}")
    export = assert_onnx_matches(spec, inputs=[ids(3, 4, high=5).astype(dtype)], rtol=0, atol=0)
    assert export.model.graph.input[0].type.tensor_type.elem_type == (6 if dtype == "int32" else 1)


def test_a_reused_embedding_holds_its_table_once():
    spec = """
    inputs: {a: [4], b: [4]}
    layers:
      - {type: Embedding, input_dim: 6, output_dim: 2, inputs: a, name: table}
      - {reuse: table, inputs: b, name: table_b}
      - {type: Concatenate, axis: 1, inputs: [table, table_b]}
    """
    export = assert_onnx_matches(spec, rtol=0, atol=0)
    assert [tensor.name for tensor in export.model.graph.initializer if tensor.dims == [6, 2]] == ["table/embeddings"]


@pytest.mark.parametrize("opset", OPSETS)
def test_mask_zero_mask_is_ids_not_zero(monkeypatch, opset):
    spec = "inputs: {ids: [null]}\nlayers:\n  - {type: Embedding, input_dim: 4, output_dim: 3, mask_zero: true}"
    data = ids(3, 6, seed=7)
    data[0, :] = 0
    expected, got = exported_masks(monkeypatch, spec, ["embedding"], [data], opset)
    np.testing.assert_array_equal(got["embedding"], data != 0)
    np.testing.assert_array_equal(got["embedding"], expected["embedding"])
    assert_onnx_matches(spec, inputs=[data], opset=opset, rtol=0, atol=0)


@pytest.mark.skipif(converter_of(GlobalAveragePooling1D()) is None,
                    reason="GlobalAveragePooling1D has no ONNX converter yet")
def test_a_mask_from_embeddings_through_a_merge_reaches_a_layer_that_uses_it():
    """Two padded token sequences, added (the OR of their masks), averaged
    over the unmasked steps only."""
    spec = """
    inputs: {a: [null], b: [null]}
    layers:
      - {type: Embedding, input_dim: 5, output_dim: 4, mask_zero: true, inputs: a, name: ea}
      - {type: Embedding, input_dim: 5, output_dim: 4, mask_zero: true, inputs: b, name: eb}
      - {type: Add, inputs: [ea, eb]}
      - {type: GlobalAveragePooling1D}
    """
    a, b = ids(3, 6, seed=1, high=5), ids(3, 6, seed=2, high=5)
    a[:, 4:] = b[:, 3:] = 0
    assert_onnx_matches(spec, inputs=[a, b])


# -- PositionEmbedding ----------------------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("input_shape", ["[5, 3]", "[null, 3]", "[2, 5, 3]", "[2, null, 3]"])
def test_position_embedding_broadcasts_the_first_rows(input_shape, opset):
    spec = f"input: {input_shape}\nlayers:\n  - {{type: PositionEmbedding, sequence_length: 8}}"
    export = assert_onnx_matches(spec, opset=opset, rtol=0, atol=0)
    assert "Expand" in op_types(export)
    assert export.opset == (opset or 13)


def test_position_embedding_holds_only_the_rows_a_known_length_reads():
    export = assert_onnx_matches("input: [5, 3]\nlayers:\n  - {type: PositionEmbedding, sequence_length: 8}")
    assert [list(tensor.dims) for tensor in export.model.graph.initializer if tensor.data_type == 1] == [[5, 3]]


def test_position_embedding_of_an_unknown_length_slices_the_whole_table():
    export = assert_onnx_matches("input: [null, 3]\nlayers:\n  - {type: PositionEmbedding, sequence_length: 8}",
                                 lengths=(8, 1), rtol=0, atol=0)
    assert [list(tensor.dims) for tensor in export.model.graph.initializer if tensor.data_type == 1] == [[8, 3]]
    assert "Slice" in op_types(export)


def test_gpt2_style_token_plus_position_embedding():
    spec = """
    inputs: {ids: [null]}
    layers:
      - {type: Embedding, input_dim: 11, output_dim: 4, name: tokens}
      - {type: PositionEmbedding, sequence_length: 6, name: positions}
      - {type: Add, inputs: [tokens, positions]}
    """
    assert_onnx_matches(spec, lengths=(6, 3), rtol=0, atol=0)
