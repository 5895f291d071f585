"""Input masks in the attention layers, as Keras 3.15 applies them: padded
and holed queries, values and keys, fully masked samples, causal and
sliding-window masks with input masks, cross-attention of different
lengths, output masks and refusals; values against plain float64 loops."""

import math
import textwrap

import numpy as np
import pytest

import layerspec
from layerspec.errors import LayerspecError, ShapeError
from layerspec.layers import attention as attention_module
from layerspec.layers.attention import AdditiveAttention, Attention, MultiHeadAttention
from tests.layers.test_attention import additive_score, concat_score, dot_score, floats, random_weights

RTOL, ATOL = 1e-4, 1e-5


def bool_rows(*rows):
    """Boolean masks from rows of 0/1."""
    return np.array(rows, dtype=bool)


# --------------------------------------------------------------------------
# the reference: MultiHeadAttention over axis 1 with input masks


def project(x, kernel, bias):
    """``x @ kernel + bias`` per position, head and channel."""
    out = np.zeros(x.shape[:-1] + kernel.shape[1:])
    for index in np.ndindex(*x.shape[:-1]):
        for head in range(kernel.shape[1]):
            for channel in range(kernel.shape[2]):
                total = sum(x[index][d] * kernel[d, head, channel] for d in range(x.shape[-1]))
                out[index + (head, channel)] = total + (0.0 if bias is None else bias[head, channel])
    return out


def mha_reference(query, value, key, weights, *, heads, key_dim, value_dim, query_mask=None, value_mask=None,
                  key_mask=None, causal=False, window=None, zero_masked=False, gate=False):
    """Keras 3.15's MultiHeadAttention with attention over axis 1 (the axes
    between it and the features are batch axes of the attention), one
    sample, head and query position at a time.

    Query ``i`` may attend to key ``j`` when the query's mask holds at
    ``i``, the value's and the key's at ``j``, and the causal and window
    masks allow it. A row with no key allowed gets zeros with
    ``zero_masked`` (Keras's softmax layer), else equal weights on every key
    (its fused path). ``gate``: the heads' outputs times the sigmoid of the
    query's ``gate`` projection.
    """
    query, value, key = (np.asarray(x, np.float64) for x in (query, value, key))
    w = {name: np.asarray(array, np.float64) for name, array in weights.items()}
    batch, query_length = query.shape[:2]
    key_length = key.shape[1]
    everywhere = np.ones((batch, max(query_length, key_length)), dtype=bool)
    query_mask = everywhere if query_mask is None else np.asarray(query_mask)
    value_mask = everywhere if value_mask is None else np.asarray(value_mask)
    key_mask = everywhere if key_mask is None else np.asarray(key_mask)
    q = project(query, w["query/kernel"], w.get("query/bias")) / math.sqrt(key_dim)
    k = project(key, w["key/kernel"], w.get("key/bias"))
    v = project(value, w["value/kernel"], w.get("value/bias"))
    heads_out = np.zeros(query.shape[:-1] + (heads, value_dim))
    for b in range(batch):
        for other in np.ndindex(*query.shape[2:-1]):
            for head in range(heads):
                for i in range(query_length):
                    at = (b, i) + other + (head,)
                    allowed = [bool(query_mask[b, i] and value_mask[b, j] and key_mask[b, j])
                               and not (causal and j > i) and not (window is not None and abs(i - j) >= window)
                               for j in range(key_length)]
                    scores = [float(np.dot(q[at], k[(b, j) + other + (head,)])) for j in range(key_length)]
                    if any(allowed):
                        top = max(s for s, ok in zip(scores, allowed) if ok)
                        exps = [math.exp(s - top) if ok else 0.0 for s, ok in zip(scores, allowed)]
                        weights_i = [e / sum(exps) for e in exps]
                    elif zero_masked:
                        weights_i = [0.0] * key_length
                    else:
                        weights_i = [1.0 / key_length] * key_length
                    for j in range(key_length):
                        heads_out[at] += weights_i[j] * v[(b, j) + other + (head,)]
    if gate:
        gates = project(query, w["gate/kernel"], w.get("gate/bias"))
        for index in np.ndindex(*gates.shape):
            heads_out[index] *= 1.0 / (1.0 + math.exp(-gates[index]))
    kernel, bias = w["attention_output/kernel"], w.get("attention_output/bias")
    out = np.zeros(query.shape[:-1] + kernel.shape[2:])
    for index in np.ndindex(*query.shape[:-1]):
        for target in np.ndindex(*kernel.shape[2:]):
            total = sum(heads_out[index + (h, c)] * kernel[(h, c) + target]
                        for h in range(heads) for c in range(value_dim))
            out[index + target] = total + (0.0 if bias is None else bias[target])
    return out


def layer_weights(model, name) -> dict:
    prefix = name + "/"
    return {key[len(prefix):]: array for key, array in model.get_weights().items() if key.startswith(prefix)}


def node_named(model, name):
    return next(node for node in model.nodes if node.layer.name == name)


# --------------------------------------------------------------------------
# MultiHeadAttention: self-attention in a stack


def embedded_self_attention(mha_arguments: str, dtype="float32"):
    model = layerspec.loads(textwrap.dedent(f"""
        name: m
        input: [5]
        dtype: {dtype}
        layers:
          - {{type: Embedding, input_dim: 10, output_dim: 4, mask_zero: true, name: embed}}
          - {{type: MultiHeadAttention, num_heads: 2, key_dim: 3, name: mha{mha_arguments}}}
    """))
    model.init(seed=3)
    return model


IDS = {
    "right padding": [[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]],
    "holes": [[3, 0, 4, 0, 5], [0, 7, 1, 0, 2]],
    "a fully masked sample": [[0, 0, 0, 0, 0], [2, 7, 0, 8, 2]],
}


@pytest.mark.parametrize("ids", IDS.values(), ids=IDS.keys())
def test_self_attention_masks_queries_and_keys_as_keras_fused_path(ids):
    model = embedded_self_attention("")
    ids = np.array(ids)
    x = model.get_weights()["embed/embeddings"][ids]
    expected = mha_reference(x, x, x, layer_weights(model, "mha"), heads=2, key_dim=3, value_dim=3,
                             query_mask=ids != 0, value_mask=ids != 0)
    outputs = model.predict(ids)
    assert outputs.dtype == np.float32
    np.testing.assert_allclose(outputs, expected, rtol=RTOL, atol=ATOL)


def test_a_masked_query_row_gets_the_projected_mean_of_the_values_on_the_fused_path():
    model = embedded_self_attention("")
    ids = np.array([[3, 1, 0, 0, 0]])
    x = model.get_weights()["embed/embeddings"][ids].astype(np.float64)
    w = {key: array.astype(np.float64) for key, array in layer_weights(model, "mha").items()}
    values = project(x, w["value/kernel"], w["value/bias"])  # (1, 5, heads, 3)
    mean = values.mean(axis=1)  # every key, masked or not
    expected = np.einsum("bhc,hco->bo", mean, w["attention_output/kernel"]) + w["attention_output/bias"]
    outputs = model.predict(ids)
    for position in (2, 3, 4):
        np.testing.assert_allclose(outputs[:, position], expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("ids", IDS.values(), ids=IDS.keys())
def test_masked_rows_are_zeros_before_the_output_projection_with_dropout(ids):
    model = embedded_self_attention(", dropout: 0.1")  # Keras's non-fused path
    ids = np.array(ids)
    x = model.get_weights()["embed/embeddings"][ids]
    expected = mha_reference(x, x, x, layer_weights(model, "mha"), heads=2, key_dim=3, value_dim=3,
                             query_mask=ids != 0, value_mask=ids != 0, zero_masked=True)
    outputs = model.predict(ids)
    np.testing.assert_allclose(outputs, expected, rtol=RTOL, atol=ATOL)
    bias = model.get_weights()["mha/attention_output/bias"]
    np.testing.assert_allclose(outputs[ids == 0], np.broadcast_to(bias, outputs[ids == 0].shape), rtol=1e-6)


@pytest.mark.parametrize("causal, window", [(True, None), (False, 2), (True, 2)])
@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_causal_and_sliding_window_masks_and_the_input_mask(causal, window, dropout):
    arguments = f", use_causal_mask: {str(causal).lower()}, dropout: {dropout}"
    if window is not None:
        arguments += f", sliding_window: {window}"
    model = embedded_self_attention(arguments)
    ids = np.array([[0, 3, 4, 1, 0], [2, 0, 0, 8, 2], [0, 0, 0, 0, 0]])
    x = model.get_weights()["embed/embeddings"][ids]
    expected = mha_reference(x, x, x, layer_weights(model, "mha"), heads=2, key_dim=3, value_dim=3,
                             query_mask=ids != 0, value_mask=ids != 0, causal=causal, window=window,
                             zero_masked=dropout > 0)
    np.testing.assert_allclose(model.predict(ids), expected, rtol=RTOL, atol=ATOL)


def test_the_output_carries_the_query_mask():
    model = embedded_self_attention("")
    node = node_named(model, "mha")
    assert node.input_mask == [(None, 5)]
    assert node.output_mask == (None, 5)
    layer = node.layer
    ids = np.array([[3, 0, 4, 0, 0]])
    mask = ids != 0
    x = model.get_weights()["embed/embeddings"][ids]
    out_mask = layer.compute_mask([x], [mask])
    assert out_mask.dtype == bool
    np.testing.assert_array_equal(out_mask, mask)
    np.testing.assert_array_equal(layer.compute_mask(x, mask), mask)
    assert layer.compute_mask(x, None) is None


def test_float64_model_with_masks_stays_float64():
    model = embedded_self_attention("", dtype="float64")
    ids = np.array([[3, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    x = model.get_weights()["embed/embeddings"][ids]
    outputs = model.predict(ids)
    assert outputs.dtype == np.float64
    expected = mha_reference(x, x, x, layer_weights(model, "mha"), heads=2, key_dim=3, value_dim=3,
                             query_mask=ids != 0, value_mask=ids != 0)
    np.testing.assert_allclose(outputs, expected, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------
# MultiHeadAttention: cross-attention


def cross_attention(with_key: bool):
    key_input = ", k: [6]" if with_key else ""
    key_layer = "\n  - {type: Embedding, input_dim: 9, output_dim: 2, mask_zero: true, inputs: k, name: ek}" \
        if with_key else ""
    inputs = "[eq, ev, ek]" if with_key else "[eq, ev]"
    return layerspec.loads(f"""name: cross
inputs: {{q: [4], v: [6]{key_input}}}
layers:
  - {{type: Embedding, input_dim: 9, output_dim: 3, mask_zero: true, inputs: q, name: eq}}
  - {{type: Embedding, input_dim: 9, output_dim: 5, mask_zero: true, inputs: v, name: ev}}{key_layer}
  - {{type: MultiHeadAttention, num_heads: 2, key_dim: 3, value_dim: 2, inputs: {inputs}, name: mha}}
""")


@pytest.mark.parametrize("with_key", [False, True])
def test_cross_attention_of_different_lengths_with_masks_of_each_input(with_key):
    model = cross_attention(with_key)
    model.init(seed=4)
    ids = {"q": np.array([[1, 2, 0, 0], [0, 3, 4, 5], [6, 0, 7, 0]]),
           "v": np.array([[1, 1, 2, 0, 0, 0], [3, 0, 4, 0, 5, 0], [0, 0, 0, 0, 0, 0]])}
    if with_key:
        ids["k"] = np.array([[0, 1, 2, 3, 0, 0], [3, 3, 4, 4, 5, 5], [1, 2, 3, 4, 5, 6]])
    weights = model.get_weights()
    q = weights["eq/embeddings"][ids["q"]]
    v = weights["ev/embeddings"][ids["v"]]
    k = weights["ek/embeddings"][ids["k"]] if with_key else v
    expected = mha_reference(q, v, k, layer_weights(model, "mha"), heads=2, key_dim=3, value_dim=2,
                             query_mask=ids["q"] != 0, value_mask=ids["v"] != 0,
                             key_mask=ids["k"] != 0 if with_key else None)
    np.testing.assert_allclose(model.predict(ids), expected, rtol=RTOL, atol=ATOL)
    node = node_named(model, "mha")
    assert node.input_mask == [(None, 4), (None, 6)] + [(None, 6)] * with_key
    assert node.output_mask == (None, 4)


def test_a_value_mask_alone_masks_keys_and_leaves_the_output_unmasked():
    model = layerspec.loads(textwrap.dedent("""
        name: m
        inputs: {q: [4, 3], v: [6]}
        layers:
          - {type: Embedding, input_dim: 9, output_dim: 5, mask_zero: true, inputs: v, name: ev}
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 2, inputs: [q, ev], name: mha}
    """))
    model.init(seed=5)
    rng = np.random.default_rng(5)
    q = floats(rng, 2, 4, 3)
    v_ids = np.array([[1, 2, 0, 3, 0, 0], [0, 0, 0, 0, 0, 0]])
    v = model.get_weights()["ev/embeddings"][v_ids]
    expected = mha_reference(q, v, v, layer_weights(model, "mha"), heads=2, key_dim=2, value_dim=2,
                             value_mask=v_ids != 0)
    np.testing.assert_allclose(model.predict({"q": q, "v": v_ids}), expected, rtol=RTOL, atol=ATOL)
    node = node_named(model, "mha")
    assert node.input_mask == [None, (None, 6)]
    assert node.output_mask is None


def built_mha(shapes, rng, **arguments):
    layer = MultiHeadAttention(**arguments)
    layer.build_for([(None,) + tuple(shape) for shape in shapes])
    return layer, random_weights(layer, rng)


def test_a_key_mask_alone():
    rng = np.random.default_rng(6)
    layer, weights = built_mha([(3, 4), (5, 2), (5, 3)], rng, num_heads=2, key_dim=3)
    q, v, k = floats(rng, 2, 3, 4), floats(rng, 2, 5, 2), floats(rng, 2, 5, 3)
    key_mask = bool_rows([1, 0, 1, 1, 0], [0, 0, 0, 0, 0])
    outputs = layer.call_masked([q, v, k], [None, None, key_mask])
    expected = mha_reference(q, v, k, weights, heads=2, key_dim=3, value_dim=3, key_mask=key_mask)
    np.testing.assert_allclose(outputs, expected, rtol=RTOL, atol=ATOL)
    assert layer.compute_mask_shape([(None, 3, 4), (None, 5, 2), (None, 5, 3)], [None, None, (None, 5)]) is None


def test_masks_that_mask_nothing_change_nothing():
    rng = np.random.default_rng(7)
    layer, _ = built_mha([(3, 4), (5, 2)], rng, num_heads=2, key_dim=3, use_causal_mask=True)
    q, v = floats(rng, 2, 3, 4), floats(rng, 2, 5, 2)
    plain = layer.call([q, v])
    np.testing.assert_array_equal(layer.call_masked([q, v], [np.ones((2, 3), bool), np.ones((2, 5), bool)]), plain)
    np.testing.assert_array_equal(layer.call_masked([q, v], [None, None]), plain)


def test_masks_of_0_and_1_are_cast_to_booleans():
    rng = np.random.default_rng(8)
    layer, _ = built_mha([(3, 4), (5, 2)], rng, num_heads=1, key_dim=2)
    q, v = floats(rng, 2, 3, 4), floats(rng, 2, 5, 2)
    query_mask, value_mask = bool_rows([1, 1, 0], [0, 1, 1]), bool_rows([1, 0, 1, 1, 0], [1] * 5)
    np.testing.assert_array_equal(layer.call_masked([q, v], [query_mask.astype(np.float32), value_mask.astype(int)]),
                                  layer.call_masked([q, v], [query_mask, value_mask]))


def test_rank_4_over_axis_1_broadcasts_the_mask_over_the_other_axis():
    # Keras: scores (batch, other, heads, T, S), the (batch, T, S) mask
    # expanded over the other axis and the heads; the non-fused path.
    rng = np.random.default_rng(9)
    layer, weights = built_mha([(4, 3, 5), (6, 3, 2)], rng, num_heads=2, key_dim=2, attention_axes=[1])
    q, v = floats(rng, 2, 4, 3, 5), floats(rng, 2, 6, 3, 2)
    query_mask = bool_rows([1, 1, 0, 1], [1, 0, 0, 0])
    value_mask = bool_rows([1, 0, 1, 1, 0, 1], [0] * 6)
    outputs = layer.call_masked([q, v], [query_mask, value_mask])
    expected = mha_reference(q, v, v, weights, heads=2, key_dim=2, value_dim=2, query_mask=query_mask,
                             value_mask=value_mask, zero_masked=True)
    np.testing.assert_allclose(outputs, expected, rtol=RTOL, atol=ATOL)
    assert layer.compute_mask_shape([(None, 4, 3, 5), (None, 6, 3, 2)], [(None, 4), (None, 6)]) == (None, 4)


@pytest.mark.parametrize("per_block", [1, 7, 25])
def test_blocks_of_pairs_that_straddle_samples(monkeypatch, per_block):
    # 3 heads, 4 x 5 scores: blocks of 1, 1 and 2 pairs cut across samples.
    monkeypatch.setattr(attention_module, "SCORES_PER_BLOCK", per_block * 20)
    rng = np.random.default_rng(10)
    layer, weights = built_mha([(4, 3), (5, 2)], rng, num_heads=3, key_dim=2)
    q, v = floats(rng, 3, 4, 3), floats(rng, 3, 5, 2)
    query_mask = bool_rows([1, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1])
    value_mask = bool_rows([1, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1])
    outputs = layer.call_masked([q, v], [query_mask, value_mask])
    expected = mha_reference(q, v, v, weights, heads=3, key_dim=2, value_dim=2, query_mask=query_mask,
                             value_mask=value_mask)
    np.testing.assert_allclose(outputs, expected, rtol=RTOL, atol=ATOL)


def test_gated_attention_with_masks():
    rng = np.random.default_rng(11)
    layer, weights = built_mha([(3, 4)], rng, num_heads=2, key_dim=2, use_gate=True)
    x = floats(rng, 2, 3, 4)
    mask = bool_rows([1, 1, 0], [1, 0, 0])
    expected = mha_reference(x, x, x, weights, heads=2, key_dim=2, value_dim=2, query_mask=mask, value_mask=mask,
                             gate=True)
    np.testing.assert_allclose(layer.call_masked(x, mask), expected, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------
# MultiHeadAttention: mask shapes and refusals


def test_mask_shapes():
    layer = MultiHeadAttention(num_heads=1, key_dim=2)
    assert layer.supports_masking and layer.uses_mask
    assert layer.compute_mask_shape((None, 5, 3), (None, 5)) == (None, 5)
    assert layer.compute_mask_shape([(None, 5, 3)], [(None, 5)]) == (None, 5)
    assert layer.compute_mask_shape([(None, 5, 3)], None) is None
    assert layer.compute_mask_shape([(None, 4, 3), (None, 6, 2)], [(None, 4), None]) == (None, 4)
    assert layer.compute_mask_shape([(None, 4, 3), (None, 6, 2)], [None, (None, 6)]) is None
    assert layer.compute_mask_shape([(8, None, 3), (None, 6, 2)], [(None, 7), (8, None)]) == (None, 7)


@pytest.mark.parametrize("shapes, mask, message, argument", [
    ([(None, 3, 4, 5)], [(None, 3)],
     "a mask on the query needs attention over axis 1 alone, as Keras masks the positions of axis 1; "
     "attention_axes is [1, 2] for the query (None, 3, 4, 5)", "attention_axes"),
    ([(None, 3, 4, 5), (None, 3, 6, 5)], [None, (None, 3)],
     "a mask on the value needs attention over axis 1 alone, as Keras masks the positions of axis 1; "
     "attention_axes is [1, 2] for the query (None, 3, 4, 5)", "attention_axes"),
    ([(None, 5, 3)], [(None, 4)],
     "the query's mask (None, 4) does not fit the query (None, 5, 3): a mask must be (batch, positions), "
     "(None, 5)", None),
    ([(None, 4, 3), (None, 6, 2)], [None, (None, 6, 2)],
     "the value's mask (None, 6, 2) does not fit the value (None, 6, 2): a mask must be (batch, positions), "
     "(None, 6)", None),
    ([(None, 4, 3), (None, 6, 2), (None, 6, 3)], [None, None, (3, 5)],
     "the key's mask (3, 5) does not fit the key (None, 6, 3)", None),
    ([(2, 4, 3), (None, 6, 2)], [(3, 4), None], "the query's mask (3, 4) does not fit the query (2, 4, 3)", None),
    ([(None, 4, 3), (None, 6, 2)], [(None, 4)], "MultiHeadAttention got 2 inputs but 1 mask", None),
])
def test_masks_that_do_not_fit_are_refused(shapes, mask, message, argument):
    layer = MultiHeadAttention(num_heads=1, key_dim=2)
    with pytest.raises(ShapeError) as caught:
        layer.compute_mask_shape(shapes, mask)
    assert caught.value.message.startswith(message)
    assert caught.value.argument == argument


def test_masks_that_do_not_fit_are_refused_at_run_time_too():
    rng = np.random.default_rng(12)
    layer, _ = built_mha([(4, 3), (6, 2)], rng, num_heads=1, key_dim=2)
    q, v = floats(rng, 2, 4, 3), floats(rng, 2, 6, 2)
    with pytest.raises(ShapeError, match=r"^the value's mask \(2, 5\) does not fit the value \(2, 6, 2\): a mask "
                                         r"must be \(batch, positions\), \(2, 6\)$"):
        layer.call_masked([q, v], [None, np.ones((2, 5), bool)])
    with pytest.raises(ShapeError, match=r"^MultiHeadAttention got 2 inputs but 3 masks$"):
        layer.call_masked([q, v], [None, None, None])
    rank_4, _ = built_mha([(4, 3, 5)], rng, num_heads=1, key_dim=2)
    with pytest.raises(ShapeError, match=r"^a mask on the query needs attention over axis 1 alone"):
        rank_4.call_masked(floats(rng, 2, 4, 3, 5), np.ones((2, 4), bool))


def test_a_masking_layer_over_rank_4_inputs_is_refused_at_build():
    spec = textwrap.dedent("""
        name: m
        input: [4, 3, 5]
        layers:
          - {type: Masking}
          - {type: MultiHeadAttention, num_heads: 1, key_dim: 2, attention_axes: [1], name: mha}
    """)
    with pytest.raises(LayerspecError) as caught:
        layerspec.loads(spec)
    assert isinstance(caught.value, ShapeError)
    assert caught.value.message == ("layer 2 'mha' (MultiHeadAttention): the query's mask (None, 4, 3) does not fit "
                                    "the query (None, 4, 3, 5): a mask must be (batch, positions), (None, 4)")


# --------------------------------------------------------------------------
# Attention and AdditiveAttention


def scored_reference(query, value, key, score, *, query_mask=None, value_mask=None, causal=False, dtype=np.float64):
    """Keras's Attention, per sample and query position: scores at masked
    value positions (and causally masked ones) lose 1e9, in ``dtype`` as
    Keras subtracts; a softmax; the weighted values; rows at masked query
    positions zero."""
    query, value, key = (np.asarray(x, np.float64) for x in (query, value, key))
    out = np.zeros(query.shape[:-1] + value.shape[-1:])
    for b in range(query.shape[0]):
        for i in range(query.shape[1]):
            if query_mask is not None and not query_mask[b, i]:
                continue
            scores = []
            for j in range(key.shape[1]):
                s = score(query[b, i], key[b, j])
                if (causal and j > i) or (value_mask is not None and not value_mask[b, j]):
                    s = float(dtype(dtype(s) - dtype(1e9)))
                scores.append(s)
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            for j, e in enumerate(exps):
                out[b, i] += e / sum(exps) * value[b, j]
    return out





def built_scored(layer, inputs, rng, dtype="float32"):
    layer.dtype = dtype
    layer.build_for([(None,) + x.shape[1:] for x in inputs])
    for weight in layer.weights:
        weight.assign((rng.standard_normal(weight.shape) * 0.5 + 1.0).astype(dtype))
    return layer


def score_of(layer):
    if isinstance(layer, AdditiveAttention):
        return additive_score(None if layer.scale is None else layer.scale.numpy().astype(np.float64))
    scale = None if layer.scale is None else layer.scale.numpy().item()
    if layer.score_mode == "concat":
        return concat_score(layer.concat_score_weight.numpy().item(), scale)
    return dot_score(scale)


QUERY_MASK = bool_rows([1, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1])
VALUE_MASK = bool_rows([1, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 0, 0, 0])


@pytest.mark.parametrize("make", [
    lambda causal: Attention(use_causal_mask=causal),
    lambda causal: Attention(use_scale=True, use_causal_mask=causal),
    lambda causal: Attention(score_mode="concat", use_scale=True, use_causal_mask=causal),
    lambda causal: AdditiveAttention(use_causal_mask=causal),
    lambda causal: AdditiveAttention(use_scale=False, use_causal_mask=causal),
], ids=["dot", "dot scaled", "concat", "additive", "additive unscaled"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masks", [(QUERY_MASK, None), (None, VALUE_MASK), (QUERY_MASK, VALUE_MASK)],
                         ids=["query", "value", "both"])
def test_scored_attention_with_masks(make, causal, masks):
    rng = np.random.default_rng(20)
    q, v, k = floats(rng, 3, 4, 3), floats(rng, 3, 5, 2), floats(rng, 3, 5, 3)
    layer = built_scored(make(causal), [q, v, k], rng)
    outputs = layer.call_masked([q, v, k], [masks[0], masks[1], None])
    assert outputs.dtype == np.float32
    # A row with every score masked (sample 3, query 0, causal) keeps the
    # float32 rounding of Keras's subtraction.
    expected = scored_reference(q, v, k, score_of(layer), query_mask=masks[0], value_mask=masks[1], causal=causal,
                                dtype=np.float32)
    np.testing.assert_allclose(outputs, expected, rtol=RTOL, atol=ATOL)
    if masks[0] is not None:
        assert (outputs[~masks[0]] == 0).all()


def test_a_fully_masked_value_sample_in_float32_weights_the_values_equally():
    # Keras subtracts 1e9 in float32: every small score becomes -1e9 exactly
    # (float32's spacing there is 64), so the weights are equal.
    rng = np.random.default_rng(21)
    q, v = floats(rng, 1, 3, 2) * 0.1, floats(rng, 1, 4, 2)
    layer = built_scored(Attention(), [q, v], rng)
    outputs = layer.call_masked([q, v], [None, np.zeros((1, 4), bool)])
    np.testing.assert_allclose(outputs[0], np.broadcast_to(v[0].mean(axis=0), (3, 2)), rtol=1e-6)
    expected = scored_reference(q, v, v, dot_score(), value_mask=np.zeros((1, 4), bool), dtype=np.float32)
    np.testing.assert_allclose(outputs, expected, rtol=RTOL, atol=ATOL)


def test_a_fully_masked_value_sample_in_float64_keeps_its_scores():
    # In float64 the 1e9 leaves the differences of the scores: as unmasked.
    rng = np.random.default_rng(22)
    q, v = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 4, 2))
    layer = built_scored(Attention(), [q, v], rng, dtype="float64")
    value_mask = bool_rows([0, 0, 0, 0], [1, 1, 0, 0])
    outputs = layer.call_masked([q, v], [None, value_mask])
    assert outputs.dtype == np.float64
    expected = scored_reference(q, v, v, dot_score(), value_mask=value_mask)
    np.testing.assert_allclose(outputs, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(outputs[0], layer.call([q, v])[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer_class", [Attention, AdditiveAttention])
def test_the_key_mask_is_ignored_as_keras_ignores_it(layer_class):
    rng = np.random.default_rng(23)
    q, v, k = floats(rng, 2, 4, 3), floats(rng, 2, 5, 2), floats(rng, 2, 5, 3)
    layer = built_scored(layer_class(), [q, v, k], rng)
    key_mask = bool_rows([1, 0, 0, 0, 0], [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(layer.call_masked([q, v, k], [None, None, key_mask]), layer.call([q, v, k]))
    assert layer.compute_mask_shape([(None, 4, 3), (None, 5, 2), (None, 5, 3)], [None, None, (None, 5)]) is None
    # not even checked: Keras never reads it
    assert layer.compute_mask_shape([(None, 4, 3), (None, 5, 2), (None, 5, 3)],
                                    [(None, 4), None, (None, 5, 9)]) == (None, 4)


@pytest.mark.parametrize("layer_class", [Attention, AdditiveAttention])
def test_scored_attention_mask_shapes(layer_class):
    layer = layer_class()
    assert layer.supports_masking and layer.uses_mask
    shapes = [(None, 4, 3), (None, 6, 3)]
    assert layer.compute_mask_shape(shapes, None) is None
    assert layer.compute_mask_shape(shapes, [None, None]) is None
    assert layer.compute_mask_shape(shapes, [(None, 4), None]) == (None, 4)
    assert layer.compute_mask_shape(shapes, [None, (None, 6)]) is None
    assert layer.compute_mask_shape(shapes, [(None, 4), (None, 6)]) == (None, 4)
    mask = bool_rows([1, 0, 1, 1])
    out = layer.compute_mask([np.zeros((1, 4, 3)), np.zeros((1, 6, 3))], [mask, None])
    np.testing.assert_array_equal(out, mask)
    assert layer.compute_mask([np.zeros((1, 4, 3)), np.zeros((1, 6, 3))], [None, mask]) is None


@pytest.mark.parametrize("shapes, mask, message", [
    ([(None, 4, 3), (None, 6, 3)], [(None, 5), None],
     "the query's mask (None, 5) does not fit the query (None, 4, 3): a mask must be (batch, positions), (None, 4)"),
    ([(None, 4, 3), (None, 6, 3)], [None, (None, 6, 3)],
     "the value's mask (None, 6, 3) does not fit the value (None, 6, 3): a mask must be (batch, positions), "
     "(None, 6)"),
    ([(None, 2, 4, 3), (None, 2, 6, 3)], [None, (None, 2, 6)],
     "a mask on the value needs a value of 3 axes (batch, positions, features), got (None, 2, 6, 3): Keras would "
     "lay it across the wrong axes of the scores"),
    ([(None, 2, 4, 3), (None, 2, 6, 3)], [(None, 2, 4), None],
     "a mask on the query needs a query of 3 axes (batch, positions, features), got (None, 2, 4, 3)"),
    ([(None, 4, 3), (None, 6, 3)], (None, 4),
     "Attention takes a list of masks [query_mask, value_mask] or [query_mask, value_mask, key_mask], got one mask"),
    ([(None, 4, 3), (None, 6, 3)], [(None, 4), None, None], "Attention got 2 inputs but 3 masks"),
])
def test_scored_attention_masks_that_do_not_fit_are_refused(shapes, mask, message):
    with pytest.raises(ShapeError) as caught:
        Attention().compute_mask_shape(shapes, mask)
    assert caught.value.message.startswith(message)


def test_scored_attention_masks_that_do_not_fit_are_refused_at_run_time_too():
    rng = np.random.default_rng(24)
    q, v = floats(rng, 2, 4, 3), floats(rng, 2, 6, 3)
    layer = built_scored(AdditiveAttention(), [q, v], rng)
    with pytest.raises(ShapeError, match=r"^the query's mask \(2, 5\) does not fit the query \(2, 4, 3\)"):
        layer.call_masked([q, v], [np.ones((2, 5), bool), None])
    with pytest.raises(ShapeError, match=r"^AdditiveAttention takes a list of masks"):
        layer.call_masked([q, v], np.ones((2, 4), bool))


def test_scored_attention_in_a_spec_with_embedded_inputs():
    model = layerspec.loads(textwrap.dedent("""
        name: m
        inputs: {q: [4], v: [6]}
        layers:
          - {type: Embedding, input_dim: 9, output_dim: 3, mask_zero: true, inputs: q, name: eq}
          - {type: Embedding, input_dim: 9, output_dim: 3, mask_zero: true, inputs: v, name: ev}
          - {type: Attention, use_scale: true, use_causal_mask: true, inputs: [eq, ev], name: luong}
          - {type: AdditiveAttention, inputs: [eq, ev], name: bahdanau}
          - {type: Concatenate, inputs: [luong, bahdanau]}
    """))
    model.init(seed=25)
    ids = {"q": np.array([[1, 2, 0, 3], [0, 0, 0, 0]]), "v": np.array([[4, 0, 5, 6, 0, 0], [1, 2, 3, 0, 0, 0]])}
    weights = model.get_weights()
    q, v = weights["eq/embeddings"][ids["q"]], weights["ev/embeddings"][ids["v"]]
    masks = dict(query_mask=ids["q"] != 0, value_mask=ids["v"] != 0)
    expected = np.concatenate([
        scored_reference(q, v, v, dot_score(weights["luong/scale"].item()), causal=True, **masks),
        scored_reference(q, v, v, additive_score(weights["bahdanau/scale"].astype(np.float64)), **masks)], axis=-1)
    np.testing.assert_allclose(model.predict(ids), expected, rtol=RTOL, atol=ATOL)
    for name in ("luong", "bahdanau"):
        node = node_named(model, name)
        assert node.input_mask == [(None, 4), (None, 6)]
        assert node.output_mask == (None, 4)
