"""The issue-14 examples in specs/: a MobileNetV2 block pair, a Transformer
encoder, a BiLSTM tagger and a transposed-convolution decoder. Each one's
parameter count is derived here by hand, layer by layer, and must equal both
its `expect.params` and what layerspec counts; each summarises, checks, inits
and runs."""

import json

import numpy as np
import pytest

import layerspec
from layerspec.spec import read_spec
from tests.conftest import SPECS


# -- one formula per layer --------------------------------------------------------
def conv(k, c_in, filters, bias=True):
    """Conv2D (and a 1x1 pointwise one): k*k*in*filters (+ filters)."""
    return k * k * c_in * filters + (filters if bias else 0)


def conv_transpose(k, c_in, filters, bias=True):
    """Conv2DTranspose: k*k*filters*in (+ filters)."""
    return k * k * filters * c_in + (filters if bias else 0)


def depthwise(k, channels, multiplier=1, bias=True):
    """DepthwiseConv2D: k*k*C*M (+ C*M)."""
    return k * k * channels * multiplier + (channels * multiplier if bias else 0)


def batch_norm(channels):
    """BatchNormalization: gamma, beta, moving mean, moving variance."""
    return 4 * channels


def layer_norm(d):
    """LayerNormalization: gamma and beta."""
    return 2 * d


def dense(n_in, units):
    return n_in * units + units


def embedding(vocabulary, d):
    return vocabulary * d


def multi_head_attention(d, heads, key_dim, value_dim=None):
    """Query, key, value projections d*h*k + h*k each (value: h*v), and the
    output projection h*v*d + d."""
    value_dim = key_dim if value_dim is None else value_dim
    query = key = d * heads * key_dim + heads * key_dim
    value = d * heads * value_dim + heads * value_dim
    output = heads * value_dim * d + d
    return query + key + value + output


def lstm(n_in, units):
    """LSTM: 4 gates, each a kernel, a recurrent kernel and a bias."""
    return 4 * (units * (n_in + units) + units)


def inverted_residual(c_in, expansion, c_out):
    """MobileNetV2 block: 1x1 expand (no bias) + BN, 3x3 depthwise (no bias)
    + BN, 1x1 project (no bias) + BN."""
    wide = c_in * expansion
    return (conv(1, c_in, wide, bias=False) + batch_norm(wide)
            + depthwise(3, wide, bias=False) + batch_norm(wide)
            + conv(1, wide, c_out, bias=False) + batch_norm(c_out))


BY_HAND = {
    "mobilenet_v2_block.yaml": (
        inverted_residual(24, 6, 32)          # block 1, stride 2: 10,640
        + inverted_residual(32, 6, 32)        # block 2, residual: 15,680
        + dense(32, 10)),                     # head: 330
    "transformer_encoder.yaml": (
        embedding(1000, 64)
        + multi_head_attention(64, heads=4, key_dim=16) + layer_norm(64)
        + dense(64, 4 * 64) + dense(4 * 64, 64) + layer_norm(64)
        + dense(64, 2)),
    "bilstm_tagger.yaml": (
        embedding(2000, 50)
        + 2 * lstm(50, 64)                    # Bidirectional: a forward and a backward copy
        + dense(2 * 64, 9)),                  # TimeDistributed: one Dense shared by every step
    "conv_transpose_decoder.yaml": (
        dense(32, 4 * 4 * 64)
        + conv_transpose(3, 64, 64) + conv_transpose(3, 64, 32) + conv_transpose(3, 32, 16)
        + conv_transpose(3, 16, 1)),
}

OUTPUT_SHAPES = {
    "mobilenet_v2_block.yaml": [10],
    "transformer_encoder.yaml": [2],
    "bilstm_tagger.yaml": [None, 9],
    "conv_transpose_decoder.yaml": [32, 32, 1],
}

NAMES = sorted(BY_HAND)


def test_the_hand_counts():
    """The totals, written out, so a change to a formula shows here too."""
    assert inverted_residual(24, 6, 32) == 10640 and inverted_residual(32, 6, 32) == 15680
    assert multi_head_attention(64, 4, 16) == 16640
    assert 2 * lstm(50, 64) == 58880
    assert BY_HAND == {"mobilenet_v2_block.yaml": 26650, "transformer_encoder.yaml": 114114,
                       "bilstm_tagger.yaml": 160041, "conv_transpose_decoder.yaml": 93953}


@pytest.mark.parametrize("name", NAMES)
def test_params_by_hand_match_expect_and_layerspec(name):
    path = SPECS / name
    spec = read_spec(str(path))
    assert spec.expect["params"] == BY_HAND[name]
    assert spec.expect["output_shape"] == OUTPUT_SHAPES[name]
    assert layerspec.load(str(path)).count_params() == BY_HAND[name]


@pytest.mark.parametrize("name", NAMES)
def test_summarises_and_checks(cli, name):
    path = SPECS / name
    assert cli("summary", path).exit_code == 0
    data = json.loads(cli("summary", path, "--format", "json").stdout)
    assert data["total_params"] == BY_HAND[name]
    assert data["output_shape"][1:] == OUTPUT_SHAPES[name]
    result = cli("check", path)
    assert result.exit_code == 0, result.stdout
    assert result.stdout.strip().endswith("0 failed, 0 errors")


def random_input(name, rows=2, length=11):
    rng = np.random.default_rng(0)
    if name == "transformer_encoder.yaml":
        return rng.integers(0, 1000, (rows, 64)).astype(np.int32)
    if name == "bilstm_tagger.yaml":
        return rng.integers(0, 2000, (rows, length)).astype(np.int32)
    if name == "mobilenet_v2_block.yaml":
        return rng.standard_normal((rows, 56, 56, 24)).astype(np.float32)
    return rng.standard_normal((rows, 32)).astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_inits_and_runs(name):
    model = layerspec.load(str(SPECS / name)).init(seed=0)
    x = random_input(name)
    y = model.predict(x)
    expected = tuple(11 if size is None else size for size in OUTPUT_SHAPES[name])
    assert y.shape == (2,) + expected
    assert y.dtype == np.float32 and np.all(np.isfinite(y))
    if name != "conv_transpose_decoder.yaml":  # softmax heads
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)
    else:  # sigmoid image
        assert np.all((y >= 0) & (y <= 1))


def test_the_tagger_tags_a_padded_sentence_as_the_sentence_alone():
    """mask_zero: the padding changes no tag of the real tokens, in either
    direction (the backward LSTM starts at the last real token)."""
    model = layerspec.load(str(SPECS / "bilstm_tagger.yaml")).init(seed=0)
    sentence = np.array([[17, 5, 903, 44, 1250, 8]], np.int32)
    padded = np.concatenate([sentence, np.zeros((1, 4), np.int32)], axis=1)
    alone, with_padding = model.predict(sentence), model.predict(padded)
    np.testing.assert_allclose(with_padding[:, :6], alone, rtol=1e-5, atol=1e-6)
    unmasked = layerspec.loads((SPECS / "bilstm_tagger.yaml").read_text().replace("mask_zero: true",
                                                                                 "mask_zero: false"))
    unmasked.set_weights(model.get_weights())
    assert not np.allclose(unmasked.predict(padded)[:, :6], alone, rtol=1e-3, atol=1e-4)
