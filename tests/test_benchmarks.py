"""The forward-pass benchmark's references compute what layerspec computes.

The timing itself is not tested (figures come from running the script);
these keep its hand-written NumPy formulations honest and runnable, without
calling its main(), which may re-execute the process with another
environment.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"layerspec_benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # forward.py puts benchmarks/ on sys.path for its _common
    return module


forward = _load("forward")
# The attention and convolution rows' references live in these two scripts; forward.py imports them.
attention, conv_variants = forward.attention, forward.conv_variants


def _random_biases(model, rng):
    """Every ``.../bias`` weight drawn at random: initialised to zeros, a bias a reference drops would pass."""
    model.set_weights({key: rng.standard_normal(value.shape).astype(np.float32) if key.endswith("/bias") else value
                       for key, value in model.get_weights().items()})


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("name", list(forward.TARGETS))
def test_every_reference_matches_layerspec(name, batch):
    rng = np.random.default_rng(batch)
    model, make_references, x = forward.make_case(name, batch, rng)
    model.init(seed=1)
    _random_biases(model, rng)
    ours = model.predict(x)
    assert ours.dtype == np.float32
    references = make_references(model.get_weights())
    assert len(references) >= 2
    for reference in references.values():
        result = reference(x)
        assert result.dtype == np.float32
        np.testing.assert_allclose(result, ours, rtol=2e-4, atol=2e-5)


def test_every_model_has_default_batch_sizes_and_the_issue_targets():
    assert list(forward.BATCH_SIZES) == list(forward.TARGETS)
    assert {name: forward.TARGETS[name] for name in ("mha128", "mha512", "conv_transpose", "depthwise")} == {
        "mha128": (None, 1.15), "mha512": (None, 1.15), "conv_transpose": (None, 1.25), "depthwise": (None, 1.25)}
    assert forward.BATCH_SIZES["conv_transpose"] == forward.BATCH_SIZES["depthwise"] == (32,)


def test_the_rows_time_the_layers_their_own_scripts_time():
    model, _, x = forward.make_case("mha512", 2, np.random.default_rng(0))
    assert x.shape == (2, 512, 256)
    [layer] = model.layers
    assert (type(layer).__name__, layer.num_heads, layer.key_dim, layer.use_causal_mask) == (
        "MultiHeadAttention", 8, 32, False)
    assert model.get_weights()["mha/query/kernel"].shape == (256, 8, 32)
    model, _, x = forward.make_case("conv_transpose", 2, np.random.default_rng(0))
    assert x.shape == (2, 16, 16, 32) and model.predict(x).shape == (2, 32, 32, 16)
    model, _, x = forward.make_case("depthwise", 2, np.random.default_rng(0))
    assert x.shape == (2, 56, 56, 32) and model.predict(x).shape == (2, 56, 56, 32)


def test_an_unknown_model_is_refused_with_the_choices():
    with pytest.raises(SystemExit, match="unknown model 'gru'; choose from mlp, cnn, lstm, mha128, mha512, "
                                         "conv_transpose, depthwise"):
        forward.make_case("gru", 1, np.random.default_rng(0))


def test_target_verdicts_name_the_reference_the_goal_is_set_on():
    times = {"xW": 1.0, "transposed": 0.5}
    assert forward.target_verdict("mlp", 1.05, times) == "1.05 vs xW, <= 1.10 met"
    assert forward.target_verdict("cnn", 0.7, times) == "1.40 vs transposed, <= 1.25 MISSED"
    times = {"einsum": 2.0, "blocked": 1.0}
    assert forward.target_verdict("mha512", 1.1, times) == "1.10 vs blocked, <= 1.15 met"
    assert forward.target_verdict("mha128", 1.2, times) == "1.20 vs blocked, <= 1.15 MISSED"
    assert forward.target_verdict("depthwise", 1.25, times) == "1.25 vs blocked, <= 1.25 met"


# -- the imported references at small sizes, against layerspec and plain float64 loops

def _attention_loops(x, weights, heads, key_dim, causal):
    """Self-attention written out: per sample, head, query and key, in float64."""
    w = {key: value.astype(np.float64) for key, value in weights.items()}
    wq, wk, wv, wo = (w[f"mha/{name}/kernel"] for name in ("query", "key", "value", "attention_output"))
    bq, bk, bv, bo = (w[f"mha/{name}/bias"] for name in ("query", "key", "value", "attention_output"))
    batch, length, width = x.shape
    out = np.zeros((batch, length, wo.shape[-1]))
    for n in range(batch):
        xs = x[n].astype(np.float64)
        for h in range(heads):
            q = xs @ wq[:, h] + bq[h]
            k = xs @ wk[:, h] + bk[h]
            v = xs @ wv[:, h] + bv[h]
            for i in range(length):
                scores = [sum(q[i, d] * k[j, d] for d in range(key_dim)) / np.sqrt(key_dim) for j in range(length)]
                allowed = [j for j in range(length) if not causal or j <= i]
                top = max(scores[j] for j in allowed)
                e = {j: np.exp(scores[j] - top) for j in allowed}
                total = sum(e.values())
                mixed = sum(e[j] / total * v[j] for j in allowed)
                out[n, i] += mixed @ wo[h]
        out[n] += bo
    return out


@pytest.mark.parametrize("causal", [False, True])
def test_the_attention_references_at_small_sizes(causal):
    rng = np.random.default_rng(3)
    heads, key_dim, length, width = 3, 4, 6, 10
    model = attention.make_model(length, width, heads, key_dim, causal)
    _random_biases(model, rng)
    x = rng.standard_normal((2, length, width)).astype(np.float32)
    ours = model.predict(x)
    weights = model.get_weights()
    expected = _attention_loops(x, weights, heads, key_dim, causal)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    references = attention.make_references(weights, heads, key_dim, causal)
    assert list(references) == ["einsum", "matmul", "matmul views", "blocked"]
    for reference in references.values():
        result = reference(x)
        assert result.dtype == np.float32
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_the_attention_blocked_reference_over_several_blocks(monkeypatch):
    # 2 samples x 3 heads = 6 (sample, head) pairs of 6x6 scores, blocks of 2 pairs.
    monkeypatch.setattr(attention, "BLOCK", 2 * 36)
    rng = np.random.default_rng(4)
    model = attention.make_model(6, 10, 3, 4, False)
    _random_biases(model, rng)
    x = rng.standard_normal((2, 6, 10)).astype(np.float32)
    result = attention.make_references(model.get_weights(), 3, 4, False)["blocked"](x)
    np.testing.assert_allclose(result, _attention_loops(x, model.get_weights(), 3, 4, False), rtol=1e-5, atol=1e-6)


def _small_conv_model(layer_type, arguments, input_shape, rng):
    model = forward.layerspec.loads(forward.conv_spec("small", input_shape, layer_type, arguments))
    model.init(seed=2)
    _random_biases(model, rng)
    return model


def test_the_conv_transpose_references_at_small_sizes():
    rng = np.random.default_rng(5)
    height, width, channels, filters = 5, 4, 3, 2
    model = _small_conv_model("Conv2DTranspose", f"filters: {filters}, strides: 2, ", (height, width, channels), rng)
    x = rng.standard_normal((2, height, width, channels)).astype(np.float32)
    kernel, bias = model.get_weights()["conv/kernel"], model.get_weights()["conv/bias"]
    assert kernel.shape == (3, 3, filters, channels)
    # Keras's 'same' for kernel 3, strides 2: the full scatter output (2n + 1), cropped to 2n from the start.
    full = np.zeros((2, 2 * height + 1, 2 * width + 1, filters))
    for n in range(2):
        for i in range(height):
            for j in range(width):
                for a in range(3):
                    for b in range(3):
                        for f in range(filters):
                            full[n, 2 * i + a, 2 * j + b, f] += sum(
                                float(x[n, i, j, c]) * float(kernel[a, b, f, c]) for c in range(channels))
    expected = np.maximum(full[:, :2 * height, :2 * width] + bias, 0)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)
    references = conv_variants.transpose_references(kernel, bias)
    assert list(references) == ["scatter", "subpixel", "subpixel_rows"]
    for reference in references.values():
        result = reference(x)
        assert result.dtype == np.float32
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_the_depthwise_references_at_small_sizes():
    rng = np.random.default_rng(6)
    height, width, channels = 4, 5, 3
    model = _small_conv_model("DepthwiseConv2D", "", (height, width, channels), rng)
    x = rng.standard_normal((2, height, width, channels)).astype(np.float32)
    kernel, bias = model.get_weights()["conv/kernel"], model.get_weights()["conv/bias"]
    assert kernel.shape == (3, 3, channels, 1)
    expected = np.zeros((2, height, width, channels))
    for n in range(2):
        for i in range(height):
            for j in range(width):
                for c in range(channels):
                    total = float(bias[c])
                    for a in range(3):
                        for b in range(3):
                            if 0 <= i + a - 1 < height and 0 <= j + b - 1 < width:
                                total += float(x[n, i + a - 1, j + b - 1, c]) * float(kernel[a, b, c, 0])
                    expected[n, i, j, c] = max(total, 0.0)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)
    references = conv_variants.depthwise_references(kernel, bias, width)
    assert list(references) == ["taps", "tiled_taps", "einsum"]
    for reference in references.values():
        result = reference(x)
        assert result.dtype == np.float32
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


quiet_overhead = _load("quiet_overhead")


def test_one_errstate_instance_cannot_be_entered_twice_on_numpy_2():
    # Why layerspec.quiet decorates once instead of keeping one instance.
    assert quiet_overhead.errstate_instance_reusable() == (int(np.__version__.split(".")[0]) < 2)


def test_every_timed_mechanism_silences_overflow_and_restores_the_state():
    mechanisms = [quiet_overhead.by_errstate, quiet_overhead.quietly]
    old = quiet_overhead.private_contextvar_mechanism()
    if old is not None:
        mechanisms.append(old)
    big = np.full(2, np.finfo(np.float32).max, np.float32)
    with np.errstate(over="raise"):
        for mechanism in mechanisms:
            assert np.isinf(mechanism(lambda x: x + x, big)).all()
            assert np.geterr()["over"] == "raise"


def test_the_cache_flushing_forward_pass_is_the_benchmark_mlp():
    assert quiet_overhead.mlp_forward()().shape == (1, 10)
    assert quiet_overhead.median_call_ns(quiet_overhead.directly, 5) >= 0


@pytest.mark.parametrize("name", ["mlp", "cnn", "lstm"])
def test_the_onnx_engine_benchmark_compares_equal_results(name):
    # forward_row asserts ONNX Runtime's output equals layerspec's before timing.
    row = _load("onnx_engine").forward_row(name, 2, rounds=1)
    assert row[:2] == [name, "2"]
