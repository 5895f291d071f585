"""specs/zoo/gpt2.yaml: GPT-2's published sizes, layer by layer against the
reference in tests/zoo_references.py, its variants, and a forward pass."""

import json

import numpy as np
import pytest

import layerspec
from layerspec.blocks import Settings
from layerspec.spec import build_model, read_spec
from tests.conftest import SPECS
from tests.zoo_references import gpt2_layers, gpt2_total_params, signature, signature_from_summary

GPT2 = SPECS / "zoo" / "gpt2.yaml"
PUBLISHED = {"small": 124_439_808, "medium": 354_823_168, "large": 774_030_080}


def gpt2(variant=None, length=None):
    spec = read_spec(str(GPT2), Settings(variant) if variant else None)
    return build_model(spec, (length,) if length else None)


def test_check_passes_for_every_variant(cli):
    result = cli("check", GPT2)
    assert result.exit_code == 0, result.stdout
    assert result.stdout.strip() == "1 spec checked, 0 failed, 0 errors"


@pytest.mark.parametrize("variant", ["small", "medium", "large"])
def test_the_published_totals(variant):
    model = gpt2(variant)
    assert model.count_params() == PUBLISHED[variant] == gpt2_total_params(variant)
    assert model.output_shape == (None, None, {"small": 768, "medium": 1024, "large": 1280}[variant])


def test_layer_by_layer_as_keras_hub_builds_it():
    """Every layer's class, output shape and parameters, in order, at length 64."""
    assert signature_from_summary(gpt2(length=64).summary_data()) == signature(gpt2_layers("small", 64))


def test_each_decoder_is_a_block_application_named_by_path():
    model = gpt2()
    names = [node.name for node in model.nodes]
    assert names[:6] == ["token_embedding", "position_embedding", "embeddings_add", "embeddings_dropout",
                         "transformer_layer/self_attention_layer_norm", "transformer_layer/self_attention"]
    assert names[-2:] == ["transformer_layer_11/feedforward_residual", "layer_norm"]
    assert "transformer_layer_11/self_attention/query/kernel" in [key for key, _ in model.weight_items()]


def test_the_summary_says_the_costs_wait_for_the_length(cli):
    table = cli("summary", GPT2).stdout
    assert "Total MACs: ? (depends on the unknown input size; give it with --input-shape)" in table
    data = json.loads(cli("summary", GPT2, "--input-shape", "64", "--format", "json").stdout)
    assert data["total_params"] == PUBLISHED["small"] and data["total_macs"] > 0


def test_a_forward_pass_at_length_64():
    model = layerspec.load(str(GPT2)).init(seed=0)
    tokens = np.random.default_rng(0).integers(0, 50257, (1, 64)).astype(np.int32)
    hidden = model.predict(tokens)
    assert hidden.shape == (1, 64, 768) and hidden.dtype == np.float32 and np.isfinite(hidden).all()
    # The last LayerNormalization (gamma 1, beta 0 at init) leaves each position with mean 0.
    np.testing.assert_allclose(hidden.mean(axis=-1), 0, atol=1e-4)
