"""LSTM's fast path (default activations) against the plain per-step loop every recurrent layer has.

The fast path carries ``2h``, reorders and halves gate columns and has its
own loops for one row and for several; the plain loop (``_Recurrent.call``
and ``_Recurrent._call_skipping``) computes Keras's formulas gate by gate.
Both are float32, so they agree to float32 rounding, not bit for bit.
"""
import warnings

import numpy as np
import pytest

from layerspec.layers.recurrent import LSTM, _Recurrent

from .test_recurrent import built_layer, float64_weights, lstm_cell, run_reference

RTOL, ATOL = 1e-5, 1e-6


def plain(layer, x, mask=None):
    """The plain loop's result for ``x`` (and ``mask``, True where a step counts)."""
    if mask is None:
        return _Recurrent.call(layer, x)
    return _Recurrent._call_skipping(layer, np.asarray(x, np.float32), ~mask)


def assert_same(fast, reference):
    fast = fast if isinstance(fast, list) else [fast]
    reference = reference if isinstance(reference, list) else [reference]
    assert len(fast) == len(reference)
    for ours, theirs in zip(fast, reference):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


FLAGS = [dict(return_sequences=s, return_state=r, go_backwards=b)
         for s in (False, True) for r in (False, True) for b in (False, True)]


@pytest.mark.parametrize("batch", [1, 2, 3, 7])
@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: "-".join(k for k, v in f.items() if v) or "plain")
@pytest.mark.parametrize("use_bias", [True, False])
def test_fast_path_matches_the_plain_loop(batch, flags, use_bias):
    rng = np.random.default_rng(batch)
    layer = built_layer(LSTM(6, use_bias=use_bias, **flags), 4, rng)
    x = rng.standard_normal((batch, 9, 4)).astype(np.float32)
    assert_same(layer.call(x), plain(layer, x))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_initial_states(batch, return_sequences):
    rng = np.random.default_rng(4)
    layer = built_layer(LSTM(5, return_sequences=return_sequences, return_state=True), 3, rng)
    x = rng.standard_normal((batch, 6, 3)).astype(np.float32)
    h0, c0 = (rng.standard_normal((batch, 5)).astype(np.float32) for _ in range(2))
    assert_same(layer.call([x, h0, c0]), plain(layer, [x, h0, c0]))


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("flags", FLAGS + [dict(return_sequences=True, zero_output_for_mask=True),
                                           dict(return_state=True, zero_output_for_mask=True),
                                           dict(return_sequences=True, go_backwards=True, zero_output_for_mask=True)],
                         ids=lambda f: "-".join(k for k, v in f.items() if v) or "plain")
def test_masked_steps_as_the_plain_loop(batch, flags):
    rng = np.random.default_rng(11)
    layer = built_layer(LSTM(5, **flags), 3, rng)
    x = rng.standard_normal((batch, 8, 3)).astype(np.float32)
    mask = rng.random((batch, 8)) > 0.4
    mask[:, 2] = False  # a step every sample skips
    mask[0, -1] = False  # the last step skipped (zero_output_for_mask zeroes the last output)
    if batch > 1:
        mask[1] = False  # a sample that skips every step
        mask[2, :] = True
    assert_same(layer.call_masked(x, mask), plain(layer, x, mask))


def test_one_row_matches_float64_cells():
    rng = np.random.default_rng(8)
    layer = built_layer(LSTM(7, return_sequences=True), 5, rng)
    x = rng.standard_normal((1, 12, 5)).astype(np.float32)
    expected = run_reference(lstm_cell(float64_weights(layer)), x, return_sequences=True)
    np.testing.assert_allclose(layer.call(x), expected, rtol=2e-5, atol=2e-6)
    double = x.astype(np.float64)
    for weight in layer.weights:
        weight.assign(weight.value.astype(np.float64))
    np.testing.assert_allclose(layer.call(double), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch", [1, 3])
def test_new_weights_are_used(batch):
    rng = np.random.default_rng(2)
    layer = built_layer(LSTM(4), 3, rng)
    x = rng.standard_normal((batch, 5, 3)).astype(np.float32)
    layer.call(x)  # caches the step matrix
    for weight in layer.weights:
        weight.assign((rng.standard_normal(weight.shape) * 0.5).astype(np.float32))
    assert_same(layer.call(x), plain(layer, x))


@pytest.mark.parametrize("batch", [1, 3])
def test_saturating_inputs_stay_bounded_without_warnings(batch):
    rng = np.random.default_rng(3)
    layer = built_layer(LSTM(8, return_sequences=True), 4, rng, scale=1.0)
    x = rng.choice(np.array([-1000.0, 1000.0], np.float32), size=(batch, 20, 4))
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out = layer.call(x)
    assert np.all(np.abs(out) <= 1)
    assert_same(out, plain(layer, x))


@pytest.mark.parametrize("batch", [1, 3])
def test_an_infinite_carry_stays_where_keras_puts_it(batch):
    # c = f * inf + i * g = inf, h = o * tanh(inf) = o: finite, as Keras computes.
    rng = np.random.default_rng(6)
    layer = built_layer(LSTM(4, return_state=True), 3, rng)
    x = rng.standard_normal((batch, 3, 3)).astype(np.float32)
    h0 = np.zeros((batch, 4), np.float32)
    c0 = np.zeros((batch, 4), np.float32)
    c0[0, 1] = np.inf
    with np.errstate(all="ignore"):
        fast, reference = layer.call([x, h0, c0]), plain(layer, [x, h0, c0])
    assert np.isinf(fast[2][0, 1]) and np.isfinite(fast[0]).all()
    assert_same(fast, reference)


def test_a_non_finite_input_stays_in_its_row():
    rng = np.random.default_rng(7)
    layer = built_layer(LSTM(4, return_sequences=True), 3, rng)
    x = rng.standard_normal((3, 5, 3)).astype(np.float32)
    x[1, 2, 0] = np.nan
    with np.errstate(all="ignore"):
        out = layer.call(x)
    assert np.isnan(out[1, 2:]).all() and np.isfinite(out[1, :2]).all()
    assert_same(out[[0, 2]], plain(layer, x[[0, 2]]))


@pytest.mark.parametrize("batch", [0, 1, 3])
def test_empty_batches_and_sequences(batch):
    rng = np.random.default_rng(1)
    layer = built_layer(LSTM(4, return_state=True), 3, rng)
    h0, c0 = (rng.standard_normal((batch, 4)).astype(np.float32) for _ in range(2))
    assert_same(layer.call([np.zeros((batch, 0, 3), np.float32), h0, c0]), [h0, h0, c0])
    assert_same(layer.call(np.zeros((0, 4, 3), np.float32)), plain(layer, np.zeros((0, 4, 3), np.float32)))
