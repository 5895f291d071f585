"""Keras 3's MultiHeadAttention fixtures, written by hand as specs: outputs
and parameter counts equal Keras's.

Keras saves a MultiHeadAttention's four projections as sublayer groups of
its h5 entry, ``layers/multi_head_attention/{query,key,value,output}_dense``
with ``vars/0`` the kernel and ``vars/1`` the bias; our keys are the
variables' Keras paths, ``multi_head_attention/{query,key,value,
attention_output}/{kernel,bias}``, in the same layouts.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.keras_fixtures import assert_matches_keras, keras_weights, load_fixture, run_spec, spec_model

#: Our sublayer name → the h5 group Keras 3 saves it under.
H5_GROUPS = {"query": "query_dense", "key": "key_dense", "value": "value_dense", "attention_output": "output_dense"}


def attention_mapping(name: str = "multi_head_attention") -> dict:
    """Our weight keys → h5 paths for one MultiHeadAttention."""
    mapping = {}
    for ours, group in H5_GROUPS.items():
        for index, weight in enumerate(("kernel", "bias")):
            mapping[f"{name}/{ours}/{weight}"] = f"layers/{name}/{group}/vars/{index}"
    return mapping


# From config.json: LayerNormalization (epsilon 1e-5), MultiHeadAttention(2
# heads, key_dim 8) called on [x, x] with use_causal_mask, Add([tokens,
# attention]), LayerNormalization, Dense 32 gelu, Dense 16, Add([add, dense_1]).
TRANSFORMER_BLOCK = """
    name: transformer_block
    inputs: {tokens: [10, 16]}
    layers:
      - {type: LayerNormalization, epsilon: 1.0e-5, name: layer_normalization}
      - {type: MultiHeadAttention, num_heads: 2, key_dim: 8, use_causal_mask: true, name: multi_head_attention}
      - {type: Add, inputs: [tokens, multi_head_attention], name: add}
      - {type: LayerNormalization, epsilon: 1.0e-5, name: layer_normalization_1}
      - {type: Dense, units: 32, activation: gelu, name: dense}
      - {type: Dense, units: 16, name: dense_1}
      - {type: Add, inputs: [add, dense_1], name: add_1}
    outputs: add_1
"""


def transformer_block_weights(fixture) -> dict:
    mapping = attention_mapping()
    for name in ("layer_normalization", "layer_normalization_1"):
        mapping[f"{name}/gamma"] = f"layers/{name}/vars/0"
        mapping[f"{name}/beta"] = f"layers/{name}/vars/1"
    for name in ("dense", "dense_1"):
        mapping[f"{name}/kernel"] = f"layers/{name}/vars/0"
        mapping[f"{name}/bias"] = f"layers/{name}/vars/1"
    return keras_weights(fixture, mapping)


# From config.json: MultiHeadAttention(3 heads, key_dim 4, output_shape [9])
# called on (query, value, value): query (5, 12), value (7, 6).
CROSS_ATTENTION = """
    name: cross_attention
    inputs: {query: [5, 12], value: [7, 6]}
    layers:
      - {type: MultiHeadAttention, num_heads: 3, key_dim: 4, output_shape: [9], inputs: [query, value, value],
         name: multi_head_attention}
"""


def test_transformer_block_computes_what_keras_computes():
    fixture = load_fixture("transformer_block")
    assert_matches_keras(fixture, run_spec(TRANSFORMER_BLOCK, transformer_block_weights(fixture), fixture.inputs))


def test_transformer_block_parameter_count():
    fixture = load_fixture("transformer_block")
    assert spec_model(TRANSFORMER_BLOCK).count_params() == fixture.params == 2224


def test_transformer_block_without_the_causal_mask_differs():
    # The mask matters for these inputs: the comparison above would notice
    # it missing.
    fixture = load_fixture("transformer_block")
    spec = TRANSFORMER_BLOCK.replace("use_causal_mask: true", "use_causal_mask: false")
    outputs = run_spec(spec, transformer_block_weights(fixture), fixture.inputs)
    assert not np.allclose(outputs, fixture.outputs["add_1"], rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("inputs", ["[query, value, value]", "[query, value]"])
def test_cross_attention_computes_what_keras_computes(inputs):
    # Keras called it with key = value explicitly; leaving the key out is the same.
    fixture = load_fixture("cross_attention")
    spec = CROSS_ATTENTION.replace("[query, value, value]", inputs)
    weights = keras_weights(fixture, attention_mapping())
    assert_matches_keras(fixture, run_spec(spec, weights, fixture.inputs))


def test_cross_attention_parameter_count_and_shapes():
    fixture = load_fixture("cross_attention")
    model = spec_model(CROSS_ATTENTION)
    model.init(seed=0)
    assert model.count_params() == fixture.params == 441
    shapes = {weight: array.shape for weight, array in keras_weights(fixture, attention_mapping()).items()}
    assert shapes == {
        "multi_head_attention/query/kernel": (12, 3, 4), "multi_head_attention/query/bias": (3, 4),
        "multi_head_attention/key/kernel": (6, 3, 4), "multi_head_attention/key/bias": (3, 4),
        "multi_head_attention/value/kernel": (6, 3, 4), "multi_head_attention/value/bias": (3, 4),
        "multi_head_attention/attention_output/kernel": (3, 4, 9),
        "multi_head_attention/attention_output/bias": (9,),
    }
    assert {key: value.shape for key, value in model.get_weights().items()} == shapes
