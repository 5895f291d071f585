"""ONNX export of the attention layers: MultiHeadAttention, Attention and
AdditiveAttention against layerspec's forward pass in ONNX Runtime, every
argument that changes the computation, masks (fully masked rows included),
dynamic lengths, the graph's operators, and the refusal."""

import types
from pathlib import Path

import numpy as np
import pytest

from layerspec.blocks import Settings
from layerspec.layers.attention import MultiHeadAttention
from layerspec.layers.core import Masking
from layerspec.layers.embedding import Embedding
from layerspec.onnx_builder import MAX_OPSET, ExportError, GraphBuilder
from layerspec.onnx_convert import Conversion, converter_of
from layerspec.spec import build_model, loads_spec
from tests.onnx_helpers import assert_onnx_matches, model_of

OPSETS = [None, MAX_OPSET]


def randomized(spec_text: str, seed: int = 0):
    """The spec's model with every weight random (biases and the scales
    too, which their initializers would leave at 0 or 1)."""
    model = model_of(spec_text, seed)
    rng = np.random.default_rng(seed + 7)
    for node in model.graph.nodes:
        for weight in node.layer.weights:
            weight.assign((rng.standard_normal(weight.shape) * 0.5).astype(weight.dtype))
    return model


def matches(spec_text: str, opset=None, inputs=None, **options):
    """``assert_onnx_matches`` on the spec with random weights."""
    return assert_onnx_matches(randomized(spec_text), inputs=inputs, opset=opset, **options)


def op_types(export) -> set:
    return {node.op_type for node in export.model.graph.node}


needs_embedding = pytest.mark.skipif(converter_of(Embedding(input_dim=2, output_dim=1)) is None,
                                     reason="the Embedding converter (mask_zero makes the masks) is not written yet")


# --------------------------------------------------------------------------
# MultiHeadAttention without masks


@pytest.mark.parametrize("opset", OPSETS)
def test_self_attention_one_input(opset):
    export = matches("""
        name: t
        input: [5, 8]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, name: mha}
        """, opset)
    assert export.opset == (opset or 13)
    assert export.shapes["mha"] == (None, 5, 8)
    # Lowered to MatMul/Softmax: no Einsum (TensorRT lacks it), no mask.
    assert "Einsum" not in op_types(export)
    assert {"MatMul", "Softmax", "Transpose", "Reshape"} <= op_types(export)
    assert "Where" not in op_types(export)


@pytest.mark.parametrize("opset", OPSETS)
def test_query_value_dynamic_lengths_value_dim_output_shape_no_bias(opset):
    export = matches("""
        name: t
        inputs:
          q: [null, 8]
          v: [null, 6]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, value_dim: 4, use_bias: false,
             output_shape: [2, 3], inputs: [q, v], name: mha}
        """, opset, lengths=(5, 2))
    assert export.shapes["mha"] == (None, None, 2, 3)


@pytest.mark.parametrize("opset", OPSETS)
def test_query_value_key_and_gate(opset):
    matches("""
        name: t
        inputs:
          q: [4, 8]
          v: [6, 6]
          k: [6, 5]
        layers:
          - {type: MultiHeadAttention, num_heads: 3, key_dim: 2, inputs: [q, v, k], use_gate: true}
        """, opset)


def test_gate_without_bias_and_one_output_size():
    matches("""
        name: t
        inputs:
          q: [4, 8]
          v: [3, 6]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 2, value_dim: 3, inputs: [q, v], use_gate: true,
             use_bias: false, output_shape: 5}
        """)


def test_dropout_is_identity_without_masks():
    matches("""
        name: t
        input: [4, 6]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, dropout: 0.5, seed: 3}
        """)


@pytest.mark.parametrize("opset", OPSETS)
def test_causal_mask_is_built_from_the_runtime_length(opset):
    export = matches("""
        name: t
        input: [null, 8]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 4, use_causal_mask: true}
        """, opset, batches=(3, 2, 1), lengths=(5, 1, 7))
    ops = op_types(export)
    assert {"Shape", "Range", "Greater", "Where"} <= ops
    # No (T, T) table: no bool constant, and the int64 ones are 1-D (shapes, axes).
    integers = [tensor for tensor in export.model.graph.initializer if tensor.data_type in (7, 9)]
    assert all(tensor.data_type == 7 and len(tensor.dims) == 1 for tensor in integers)


def test_causal_mask_with_static_lengths_and_dropout():
    # Dropout takes layerspec's (Keras's non-fused) path: masked weights zeroed.
    export = matches("""
        name: t
        inputs:
          q: [6, 8]
          v: [4, 8]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 4, use_causal_mask: true, dropout: 0.1,
             inputs: [q, v]}
        """)
    assert "Shape" not in op_types(export)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_sliding_window_with_fully_masked_rows(opset, dropout):
    # Queries 3.. have no key within the window of the 2 keys: the mean of
    # the values without dropout (Keras's fused path), zeros with it.
    matches(f"""
        name: t
        inputs:
          q: [6, 8]
          v: [2, 5]
        layers:
          - {{type: MultiHeadAttention, num_heads: 2, key_dim: 4, sliding_window: 2, dropout: {dropout},
             inputs: [q, v]}}
        """, opset)


def test_sliding_window_and_causal_dynamic():
    export = matches("""
        name: t
        input: [null, 8]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 4, sliding_window: 2, use_causal_mask: true}
        """, lengths=(6, 3))
    assert {"Abs", "Less", "Or"} <= op_types(export)


@pytest.mark.parametrize("opset", OPSETS)
def test_rank_4_default_axes_dynamic(opset):
    # Attention over axes 1 and 2 together, both of run-time size.
    matches("""
        name: t
        input: [null, null, 6]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 4}
        """, opset, lengths=(3, 2))


@pytest.mark.parametrize("axes, query, value", [("[2]", "[3, 4, 6]", "[3, 5, 6]"),
                                               ("[-2]", "[3, 4, 6]", "[3, 5, 6]"),
                                               ("[1]", "[4, 3, 6]", "[5, 3, 6]")])
def test_rank_4_one_attention_axis(axes, query, value):
    # The other axis is a batch axis of the attention (equal in query and value).
    matches(f"""
        name: t
        inputs:
          q: {query}
          v: {value}
        layers:
          - {{type: MultiHeadAttention, num_heads: 2, key_dim: 4, attention_axes: {axes}, inputs: [q, v]}}
        """)


@pytest.mark.parametrize("opset", OPSETS)
def test_rank_5_two_attention_axes_of_unknown_size(opset):
    export = matches("""
        name: t
        input: [null, 4, null, 6]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 4, attention_axes: [1, 3], output_shape: [2, 2],
             name: mha}
        """, opset, lengths=(3, 2))
    assert export.shapes["mha"] == (None, None, 4, None, 2, 2)


def test_rank_5_cross_attention_two_axes():
    matches("""
        name: t
        inputs:
          q: [2, 3, 3, 6]
          v: [4, 3, 2, 5]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, value_dim: 2, attention_axes: [1, 3],
             inputs: [q, v]}
        """)


@pytest.mark.parametrize("opset", OPSETS)
def test_rank_4_sliding_window_zeroes_fully_masked_rows(opset):
    # Rank 4: layerspec zeroes the weights of masked keys (Keras's non-fused path).
    matches("""
        name: t
        inputs:
          q: [6, 2, 6]
          v: [2, 2, 6]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 4, attention_axes: [1], sliding_window: 1,
             inputs: [q, v]}
        """, opset)


def test_reused_layer_shares_its_weights():
    export = matches("""
        name: t
        inputs:
          a: [4, 6]
          b: [3, 6]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, inputs: [a, b], name: mha}
          - {reuse: mha, inputs: [-1, b], name: again}
        """)
    kernels = [tensor.name for tensor in export.model.graph.initializer if "query" in tensor.name]
    assert len(kernels) == 2  # one kernel and one bias for both applications


def test_float64_model():
    spec = """
        name: t
        dtype: float64
        inputs:
          q: [null, 4]
          v: [null, 4]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, use_causal_mask: true, inputs: [q, v]}
          - {type: Attention, inputs: [-1, v], use_causal_mask: true, use_scale: true}
        """
    export = matches(spec, rtol=1e-10, atol=1e-12)
    assert export.model.graph.output[0].type.tensor_type.elem_type == 11  # double


# --------------------------------------------------------------------------
# Attention and AdditiveAttention without masks


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("use_scale", [False, True])
@pytest.mark.parametrize("score_mode", ["dot", "concat"])
def test_attention_score_modes(opset, use_scale, score_mode):
    export = matches(f"""
        name: t
        inputs:
          q: [3, 4]
          v: [5, 6]
          k: [5, 4]
        layers:
          - {{type: Attention, inputs: [q, v, k], use_scale: {str(use_scale).lower()}, score_mode: {score_mode},
             dropout: 0.3}}
        """, opset)
    assert "Where" not in op_types(export)


def test_attention_two_inputs_dynamic_causal():
    matches("""
        name: t
        inputs:
          q: [null, 4]
          v: [null, 4]
        layers:
          - {type: Attention, inputs: [q, v], use_scale: true, use_causal_mask: true}
        """, lengths=(5, 1))


def test_attention_causal_with_more_queries_than_values():
    matches("""
        name: t
        inputs:
          q: [6, 4]
          v: [3, 4]
        layers:
          - {type: Attention, inputs: [q, v], use_causal_mask: true, score_mode: concat}
        """)


@pytest.mark.parametrize("layer", ["Attention", "AdditiveAttention"])
def test_rank_4_inputs(layer):
    matches(f"""
        name: t
        inputs:
          q: [2, 3, 4]
          v: [2, 5, 4]
        layers:
          - {{type: {layer}, inputs: [q, v], use_causal_mask: true}}
        """)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("use_scale", [False, True])
def test_additive_attention(opset, use_scale):
    matches(f"""
        name: t
        inputs:
          q: [null, 4]
          v: [null, 6]
          k: [null, 4]
        layers:
          - {{type: AdditiveAttention, inputs: [q, v, k], use_scale: {str(use_scale).lower()}, dropout: 0.1}}
        """, opset, lengths=(4, 2))


def test_additive_attention_causal():
    matches("""
        name: t
        inputs:
          q: [5, 4]
          v: [3, 4]
        layers:
          - {type: AdditiveAttention, inputs: [q, v], use_causal_mask: true}
        """)


# --------------------------------------------------------------------------
# masks (an Embedding's mask_zero makes them; ids below 3: many zeros)

SELF_MASKED = """
    name: t
    input: [null]
    layers:
      - {type: Embedding, input_dim: 3, output_dim: 8, mask_zero: true}
      - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, dropout: DROPOUT, use_causal_mask: CAUSAL, name: a1}
      # reads a1's output mask: the query's, passed on
      - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, name: a2}
    """


@needs_embedding
@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("dropout, causal", [(0.0, "false"), (0.2, "false"), (0.0, "true")])
def test_self_attention_masked_and_passed_on(opset, dropout, causal):
    spec = SELF_MASKED.replace("DROPOUT", str(dropout)).replace("CAUSAL", causal)
    export = matches(spec, opset, lengths=(6, 3))
    assert {"Not", "Or", "Where"} <= op_types(export)
    # A sample whose ids are all 0 (every row masked), one with holes, one whole.
    ids = np.array([[0, 0, 0, 0], [1, 0, 2, 0], [2, 1, 1, 2]], dtype=np.int64)
    assert_onnx_matches(randomized(spec), inputs=[ids], opset=opset)


@needs_embedding
@pytest.mark.parametrize("opset", OPSETS)
def test_query_value_key_masks_with_causal_and_dropout(opset):
    matches("""
        name: t
        inputs:
          q: [4]
          v: [6]
          k: [6]
        layers:
          - {type: Embedding, input_dim: 3, output_dim: 8, mask_zero: true, inputs: q, name: eq}
          - {type: Embedding, input_dim: 3, output_dim: 5, mask_zero: true, inputs: v, name: ev}
          - {type: Embedding, input_dim: 3, output_dim: 7, mask_zero: true, inputs: k, name: ek}
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, inputs: [eq, ev, ek], use_causal_mask: true,
             dropout: 0.2}
        """, opset)


@needs_embedding
def test_query_mask_only_with_sliding_window():
    matches("""
        name: t
        inputs:
          q: [null]
          v: [null, 5]
        layers:
          - {type: Embedding, input_dim: 3, output_dim: 8, mask_zero: true, inputs: q, name: eq}
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, inputs: [eq, v], sliding_window: 2}
        """, lengths=(5, 2))


@needs_embedding
def test_value_mask_only():
    spec = """
        name: t
        inputs:
          q: [4, 8]
          v: [5]
        layers:
          - {type: Embedding, input_dim: 3, output_dim: 8, mask_zero: true, inputs: v, name: ev}
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, inputs: [q, ev]}
        """
    matches(spec)
    rng = np.random.default_rng(5)
    query = rng.standard_normal((2, 4, 8)).astype(np.float32)
    ids = np.array([[0, 0, 0, 0, 0], [0, 2, 0, 1, 0]], dtype=np.int64)  # all masked: the mean of the values
    assert_onnx_matches(randomized(spec), inputs=[query, ids])


@needs_embedding
@pytest.mark.parametrize("opset", OPSETS)
def test_attention_and_additive_attention_masks(opset):
    spec = """
        name: t
        inputs:
          q: [null]
          v: [null]
        layers:
          - {type: Embedding, input_dim: 3, output_dim: 4, mask_zero: true, inputs: q, name: eq}
          - {type: Embedding, input_dim: 3, output_dim: 4, mask_zero: true, inputs: v, name: ev}
          - {type: Attention, inputs: [eq, ev], use_causal_mask: true, use_scale: true}
          # each reads the previous one's output mask (the query's)
          - {type: Attention, inputs: [-1, ev], score_mode: concat}
          - {type: AdditiveAttention, inputs: [-1, ev]}
          # the key's mask is ignored, as Keras ignores it
          - {type: AdditiveAttention, inputs: [-1, eq, ev], use_scale: false}
        """
    matches(spec, opset, lengths=(5, 3))
    query_ids = np.array([[1, 0, 2], [0, 0, 0]], dtype=np.int64)
    value_ids = np.array([[0, 0, 0], [2, 0, 1]], dtype=np.int64)
    assert_onnx_matches(randomized(spec), inputs=[query_ids, value_ids], opset=opset)


needs_masking = pytest.mark.skipif(converter_of(Masking()) is None, reason="the Masking converter is not written yet")


@needs_masking
@pytest.mark.parametrize("layer", ["{type: MultiHeadAttention, num_heads: 2, key_dim: 3}",
                                   "{type: Attention, inputs: [-1, -1], use_scale: true}",
                                   "{type: AdditiveAttention, inputs: [-1, -1]}"])
def test_masks_of_a_masking_layer(layer):
    spec = f"""
        name: t
        input: [null, 4]
        layers:
          - {{type: Masking}}
          - {layer}
        """
    x = np.random.default_rng(2).standard_normal((3, 5, 4)).astype(np.float32)
    x[0] = 0  # every step padded
    x[1, 1:4] = 0  # holes
    assert_onnx_matches(randomized(spec), inputs=[x])


# --------------------------------------------------------------------------
# the whole transformer encoder

def test_transformer_encoder_spec():
    text = (Path(__file__).resolve().parents[2] / "specs" / "transformer_encoder.yaml").read_text()
    model = randomized(text)
    rng = np.random.default_rng(3)
    try:
        for batch in (2, 1):  # the spec's ids are int32: fed as such
            ids = rng.integers(0, 1000, size=(batch, 64)).astype(np.int32)
            export = assert_onnx_matches(model, inputs=[ids])
    except ExportError as error:
        if "has no ONNX form" in str(error):
            pytest.skip(f"another layer's converter is not written yet: {error}")
        raise
    assert export.opset == 17  # LayerNormalization


def test_gpt2_zoo_spec_made_tiny():
    # Pre-norm decoder blocks, causal self-attention with dropout, a length
    # known only at run time (the spec's null), at a toy size.
    settings = Settings(values={"vocabulary": 50, "max_length": 16, "d_model": 16, "n_layer": 2, "n_head": 4})
    text = (Path(__file__).resolve().parents[2] / "specs" / "zoo" / "gpt2.yaml").read_text()
    model = build_model(loads_spec(text, "gpt2.yaml", settings), require_input=True)
    model.init(seed=0)
    rng = np.random.default_rng(4)
    try:
        for batch, length in ((2, 7), (1, 3)):
            assert_onnx_matches(model, inputs=[rng.integers(0, 50, size=(batch, length)).astype(np.int32)])
    except ExportError as error:
        if "has no ONNX form" in str(error):
            pytest.skip(f"another layer's converter is not written yet: {error}")
        raise


# --------------------------------------------------------------------------
# the refusal


def test_mask_with_other_attention_axes_is_refused():
    # layerspec refuses such a model when it builds; the converter refuses
    # too should a mask reach it.
    layer = MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=[2], name="mha")
    layer.build_for((None, 3, 4, 6))
    conversion = Conversion(GraphBuilder(13), types.SimpleNamespace(name="mha", index=0), layer, ["x"],
                            [(None, 3, 4, 6)], ["x_mask"])
    with pytest.raises(ExportError, match=r"^layer 'mha' \(MultiHeadAttention\) cannot be exported to ONNX: an "
                                          r"input mask needs attention over axis 1 alone; attention_axes is \[2\]$"):
        converter_of(layer)(conversion)
