"""SimpleRNN, LSTM and GRU with masks: skipped steps, mask shapes, against per-sample float64 loops.

Keras 3.15's semantics (its JAX backend's ``lax.scan`` loop, which made the
fixtures): on a step whose mask is False a sample's states keep their values
and its output is the previous ``h`` (the initial state before any step
counted), or zeros with ``zero_output_for_mask``; the last output is the
last processed step's output. Given initial states, the layer gets no mask
(Keras's ``__call__`` passes none to a call with several tensors), but its
output mask still follows the sequence's.
"""

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers.base import Layer
from layerspec.layers.embedding import Embedding
from layerspec.layers.recurrent import GRU, LSTM, SimpleRNN
from layerspec.model import Sequential
from tests.layers.test_recurrent import built_layer, float64_weights, gru_cell, lstm_cell, model_weights, \
    simple_rnn_cell

RTOL, ATOL = 2e-4, 2e-5
DIRECTIONS = [(False, False), (False, True), (True, False), (True, True)]

CASES = [
    (lambda **kw: SimpleRNN(5, **kw), lambda w: simple_rnn_cell(w)),
    (lambda **kw: SimpleRNN(5, activation="relu", **kw), lambda w: simple_rnn_cell(w, "relu")),
    # LSTM's default activations (its fast path without a mask) and a general pair.
    (lambda **kw: LSTM(5, **kw), lambda w: lstm_cell(w)),
    (lambda **kw: LSTM(5, activation="softsign", recurrent_activation="hard_sigmoid", **kw),
     lambda w: lstm_cell(w, "softsign", "hard_sigmoid")),
    (lambda **kw: GRU(5, **kw), lambda w: gru_cell(w)),
    (lambda **kw: GRU(5, reset_after=False, **kw), lambda w: gru_cell(w, reset_after=False)),
    (lambda **kw: GRU(5, use_bias=False, **kw), lambda w: gru_cell(w)),
]
CASE_IDS = ["rnn", "rnn-relu", "lstm", "lstm-general", "gru", "gru-reset-before", "gru-no-bias"]

#: One row per pattern: all steps, right padding, holes in the middle, the
#: first steps masked, every step masked.
MASK = np.array([
    [1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 0, 0],
    [1, 0, 1, 0, 0, 1],
    [0, 0, 1, 1, 1, 1],
    [0, 0, 0, 0, 0, 0],
], bool)


def run_masked_reference(cell_and_state, x, mask, go_backwards=False, return_sequences=False,
                         zero_output=False, initial=None):
    """``(outputs, final states)``, one sample and one step at a time in float64.

    A masked step computes nothing: the states stay, the output is the
    previous ``h`` (or zeros with ``zero_output``).
    """
    step, zero = cell_and_state
    outputs, finals = [], []
    for number, (sample, flags) in enumerate(zip(np.asarray(x, np.float64), mask)):
        state = zero if initial is None else tuple(np.asarray(s[number], np.float64) for s in initial)
        sequence = []
        order = range(len(sample) - 1, -1, -1) if go_backwards else range(len(sample))
        for t in order:
            if flags[t]:
                h, state = step(sample[t], state)
                sequence.append(h)
            else:
                sequence.append(np.zeros_like(state[0]) if zero_output else state[0])
        if return_sequences:
            outputs.append(np.array(sequence).reshape(len(sequence), -1))
        else:
            outputs.append(sequence[-1] if sequence else state[0])
        finals.append(state)
    return np.array(outputs), [np.array([final[k] for final in finals]) for k in range(len(zero))]


def check_all(result, expected, states):
    for got, want in zip(result, [expected] + states):
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


# -- values -------------------------------------------------------------------------
@pytest.mark.parametrize("rows", [[0, 1, 2, 3, 4], [2, 4]], ids=["batch5", "batch2"])  # LSTM: both layouts
@pytest.mark.parametrize("zero_output", [False, True])
@pytest.mark.parametrize("go_backwards, return_sequences", DIRECTIONS)
@pytest.mark.parametrize("make_layer, make_cell", CASES, ids=CASE_IDS)
def test_masked_steps_keep_the_states(make_layer, make_cell, go_backwards, return_sequences, zero_output, rows):
    rng = np.random.default_rng(21)
    layer = built_layer(make_layer(go_backwards=go_backwards, return_sequences=return_sequences,
                                   return_state=True, zero_output_for_mask=zero_output), 3, rng)
    mask = MASK[rows]
    x = rng.standard_normal((len(mask), 6, 3)).astype(np.float32)
    result = layer.call_masked(x, mask.copy())
    expected, states = run_masked_reference(make_cell(float64_weights(layer)), x, mask, go_backwards,
                                            return_sequences, zero_output)
    assert len(result) == 1 + len(layer.state_names)
    check_all(result, expected, states)
    # A fully masked sample (the last row) keeps the zero initial state, and outputs it (or zeros).
    for array in result:
        np.testing.assert_array_equal(array[-1], 0)
    assert not np.shares_memory(result[0], result[1])


@pytest.mark.parametrize("make_layer, make_cell", CASES, ids=CASE_IDS)
def test_first_masked_steps_output_the_initial_state(make_layer, make_cell):
    layer = built_layer(make_layer(return_sequences=True), 3, np.random.default_rng(22))
    x = np.random.default_rng(23).standard_normal((len(MASK), 6, 3)).astype(np.float32)
    out = layer.call_masked(x, MASK)
    np.testing.assert_array_equal(out[3, :2], 0)
    # The masked step repeats the previous output exactly; the unmasked one moves on.
    np.testing.assert_array_equal(out[1, 4], out[1, 3])
    np.testing.assert_array_equal(out[1, 5], out[1, 3])
    np.testing.assert_array_equal(out[2, 1], out[2, 0])
    assert not np.allclose(out[2, 2], out[2, 1])


def test_zero_output_without_return_sequences_follows_the_last_step():
    # Keras's JAX loop: the last output is the last processed step's, zero if that step is masked.
    layer = built_layer(LSTM(4, zero_output_for_mask=True, return_state=True), 3, np.random.default_rng(24))
    x = np.random.default_rng(25).standard_normal((3, 4, 3)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 1], [0, 1, 1, 1]], bool)
    output, state_h, _ = layer.call_masked(x, mask)
    np.testing.assert_array_equal(output[0], 0)
    assert not np.allclose(state_h[0], 0)  # the state is kept all the same
    np.testing.assert_array_equal(output[1:], state_h[1:])
    # Backwards the last processed step is the first one.
    layer.go_backwards = True
    output, state_h, _ = layer.call_masked(x, mask)
    np.testing.assert_array_equal(output[2], 0)
    np.testing.assert_array_equal(output[:2], state_h[:2])


@pytest.mark.parametrize("make_layer", [lambda **kw: SimpleRNN(4, **kw), lambda **kw: LSTM(4, **kw),
                                        lambda **kw: LSTM(4, activation="relu", **kw), lambda **kw: GRU(4, **kw)])
def test_unroll_ignores_zero_output_for_mask_as_keras(make_layer):
    # Every Keras backend's unrolled loop repeats the previous output on a masked step, whatever the flag.
    x = np.random.default_rng(36).standard_normal((5, 6, 3)).astype(np.float32)
    for return_sequences in (True, False):
        unrolled = built_layer(make_layer(return_sequences=return_sequences, unroll=True, zero_output_for_mask=True),
                               3, np.random.default_rng(37))
        rolled = built_layer(make_layer(return_sequences=return_sequences), 3, np.random.default_rng(37))
        np.testing.assert_array_equal(unrolled.call_masked(x, MASK), rolled.call_masked(x, MASK))
        unrolled.unroll = False
        assert not np.array_equal(unrolled.call_masked(x, MASK), rolled.call_masked(x, MASK))


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_an_all_true_mask_changes_nothing(layer_class):
    layer = built_layer(layer_class(4, return_sequences=True), 3, np.random.default_rng(26))
    x = np.random.default_rng(27).standard_normal((5, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(layer.call_masked(x, np.ones((5, 6), bool)), layer(x))
    layer.zero_output_for_mask = True  # only matters with a masked step
    np.testing.assert_array_equal(layer(x), layer.call_masked(x, np.ones((5, 6), bool)))


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_a_mask_on_a_zero_length_sequence_gives_the_initial_state(layer_class):
    layer = built_layer(layer_class(4, zero_output_for_mask=True), 3, np.random.default_rng(0))
    out = layer.call_masked(np.zeros((2, 0, 3), np.float32), np.zeros((2, 0), bool))
    assert out.shape == (2, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out, 0)


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_masked_call_modifies_neither_inputs_nor_mask(layer_class):
    layer = built_layer(layer_class(4, return_sequences=True), 3, np.random.default_rng(28))
    x = np.random.default_rng(29).standard_normal((5, 6, 3)).astype(np.float32)
    x_before, mask = x.copy(), MASK.copy()
    layer.call_masked(x, mask)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(mask, MASK)


def test_masked_float64_stays_float64():
    layer = built_layer(GRU(4, return_sequences=True), 3, np.random.default_rng(30))
    x = np.random.default_rng(31).standard_normal((5, 6, 3))
    out = layer.call_masked(x, MASK)
    assert out.dtype == np.float64
    expected, _ = run_masked_reference(gru_cell(float64_weights(layer)), x, MASK, return_sequences=True)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


# -- initial states: Keras computes without the mask --------------------------------
@pytest.mark.parametrize("go_backwards, return_sequences", DIRECTIONS)
@pytest.mark.parametrize("make_layer, make_cell", CASES, ids=CASE_IDS)
def test_initial_states_compute_as_without_a_mask(make_layer, make_cell, go_backwards, return_sequences):
    rng = np.random.default_rng(32)
    layer = built_layer(make_layer(go_backwards=go_backwards, return_sequences=return_sequences,
                                   return_state=True, zero_output_for_mask=True), 3, rng)
    x = rng.standard_normal((len(MASK), 6, 3)).astype(np.float32)
    initial = [rng.standard_normal((len(MASK), 5)).astype(np.float32) for _ in layer.state_names]
    result = layer.call_masked([x, *initial], [MASK, *[None] * len(initial)])
    for got, want in zip(result, layer([x, *initial])):
        np.testing.assert_array_equal(got, want)
    expected, states = run_masked_reference(make_cell(float64_weights(layer)), x, np.ones_like(MASK),
                                            go_backwards, return_sequences, initial=initial)
    check_all(result, expected, states)
    # The output mask still follows the sequence's.
    masks = layer.compute_mask([x, *initial], [MASK, *[None] * len(initial)])
    assert masks[0] is (MASK if return_sequences else None) and masks[1:] == [None] * len(initial)


# -- through models ------------------------------------------------------------------
TOKENS = np.array([
    [5, 3, 0, 7, 2, 9, 0, 0],
    [1, 2, 3, 4, 5, 6, 7, 8],
    [0, 0, 4, 4, 0, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0],
], np.int64)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_embedding_mask_reaches_lstm_then_gru(go_backwards):
    model = layerspec.loads(
        "input: [8]\n"
        "layers:\n"
        "  - {type: Embedding, input_dim: 10, output_dim: 3, mask_zero: true}\n"
        f"  - {{type: LSTM, units: 5, return_sequences: true, go_backwards: {str(go_backwards).lower()}}}\n"
        "  - {type: GRU, units: 4, reset_after: false}\n")
    model.init(seed=3)
    out = model.predict(TOKENS)
    mask = TOKENS != 0
    embedded = model.get_weights()["embedding/embeddings"].astype(np.float64)[TOKENS]
    sequence, _ = run_masked_reference(lstm_cell(model_weights(model, model.layers[1])), embedded, mask,
                                       go_backwards, return_sequences=True)
    # The LSTM's output sequence keeps the mask as it is (not flipped with go_backwards), as Keras's.
    expected, _ = run_masked_reference(gru_cell(model_weights(model, model.layers[2]), reset_after=False),
                                       sequence, mask)
    assert out.dtype == np.float32 and out.shape == (4, 4)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(out[3], 0)
    # Without the mask the padded steps count.
    plain = layerspec.loads(
        "input: [8]\n"
        "layers:\n"
        "  - {type: Embedding, input_dim: 10, output_dim: 3}\n"
        f"  - {{type: LSTM, units: 5, return_sequences: true, go_backwards: {str(go_backwards).lower()}}}\n"
        "  - {type: GRU, units: 4, reset_after: false}\n")
    plain.set_weights(model.get_weights())
    assert not np.allclose(plain.predict(TOKENS)[0], out[0], rtol=RTOL, atol=ATOL)


def test_masking_layer_with_zero_output_for_mask():
    model = layerspec.loads(
        "input: [5, 2]\n"
        "layers:\n"
        "  - {type: Masking, mask_value: -1.0}\n"
        "  - {type: SimpleRNN, units: 3, return_sequences: true, zero_output_for_mask: true}\n")
    model.init(seed=4)
    x = np.random.default_rng(33).standard_normal((3, 5, 2)).astype(np.float32)
    x[0, 3:] = -1
    x[1, 1] = -1
    x[2, 0, 0] = -1  # one feature alone does not mask the step
    out = model.predict(x)
    mask = np.any(x != -1, axis=-1)
    expected, _ = run_masked_reference(simple_rnn_cell(model_weights(model, model.layers[1])),
                                       np.where(mask[..., None], x, 0), mask, return_sequences=True,
                                       zero_output=True)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(out[0, 3:], 0)
    np.testing.assert_array_equal(out[1, 1], 0)


def test_spec_initial_states_ignore_the_mask_but_pass_it_on():
    model = layerspec.loads(
        "inputs:\n"
        "  ids: [6]\n"
        "  h0: [4]\n"
        "  c0: [4]\n"
        "layers:\n"
        "  - {type: Embedding, input_dim: 10, output_dim: 3, mask_zero: true, inputs: ids}\n"
        "  - {type: LSTM, units: 4, return_sequences: true, inputs: [embedding, h0, c0]}\n"
        "  - {type: GRU, units: 2}\n"
        "outputs: gru\n")
    model.init(seed=5)
    rng = np.random.default_rng(34)
    ids = np.array([[1, 2, 3, 0, 0, 0], [0, 4, 0, 5, 6, 7]], np.int64)
    h0, c0 = (rng.standard_normal((2, 4)).astype(np.float32) for _ in range(2))
    out = model.predict({"ids": ids, "h0": h0, "c0": c0})
    embedded = model.get_weights()["embedding/embeddings"].astype(np.float64)[ids]
    mask = ids != 0
    # The LSTM computes every step (Keras passes it no mask) ...
    sequence, _ = run_masked_reference(lstm_cell(model_weights(model, model.layers[1])), embedded,
                                       np.ones_like(mask), return_sequences=True, initial=[h0, c0])
    # ... and its output carries the ids' mask on to the GRU.
    expected, _ = run_masked_reference(gru_cell(model_weights(model, model.layers[2])), sequence, mask)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


# -- mask shapes ----------------------------------------------------------------------
@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_mask_shapes_follow_return_sequences_and_return_state(layer_class):
    states = len(layer_class.state_names)
    assert layer_class.supports_masking and layer_class.uses_mask
    assert layer_class(3).compute_mask_shape((None, 7, 2), (None, 7)) is None
    assert layer_class(3, return_sequences=True).compute_mask_shape((None, 7, 2), (None, 7)) == (None, 7)
    assert layer_class(3, return_sequences=True).compute_mask_shape((None, None, 2), (None, None)) == (None, None)
    assert layer_class(3, return_state=True).compute_mask_shape((None, 7, 2), (None, 7)) == [None] * (1 + states)
    assert layer_class(3, return_sequences=True, return_state=True).compute_mask_shape(
        (None, 7, 2), (None, 7)) == [(None, 7)] + [None] * states
    # No mask in, none out.
    assert layer_class(3, return_sequences=True, return_state=True).compute_mask_shape((None, 7, 2), None) is None
    # Given initial states, the sequence's mask is the one that counts.
    shapes = [(None, 7, 2)] + [(None, 3)] * states
    layer = layer_class(3, return_sequences=True)
    assert layer.compute_mask_shape(shapes, [(None, 7)] + [None] * states) == (None, 7)
    assert layer.compute_mask_shape(shapes, [None] + [(None,)] * states) is None


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_compute_mask_agrees_with_the_mask_shape(layer_class):
    x = np.zeros((5, 6, 3), np.float32)
    states = len(layer_class.state_names)
    assert layer_class(3).compute_mask(x, MASK) is None
    assert layer_class(3).compute_mask(x, None) is None
    assert layer_class(3, return_sequences=True).compute_mask(x, MASK) is MASK
    assert layer_class(3, return_sequences=True, return_state=True).compute_mask(x, MASK) == \
        [MASK] + [None] * states


@pytest.mark.parametrize("mask_shape, message", [
    ((None, 7, 2), "takes a mask of one flag per sample and time step, shape (None, 7) for its input "
                   "(None, 7, 2); got a mask of shape (None, 7, 2) (a mask made for another input, e.g. by a "
                   "Masking layer over more axes, or by an Embedding over more than (batch, timesteps) indices)"),
    ((None,), "takes a mask of one flag per sample and time step, shape (None, 7) for its input (None, 7, 2); "
              "got a mask of shape (None,) (a mask made for another input, e.g. by a Masking layer over more "
              "axes, or by an Embedding over more than (batch, timesteps) indices)"),
    ((None, 8), "takes a mask of one flag per sample and time step, shape (None, 7) for its input (None, 7, 2); "
                "got a mask of shape (None, 8)"),
])
def test_a_mask_of_another_shape_is_refused(mask_shape, message):
    with pytest.raises(ShapeError) as caught:
        LSTM(3).compute_mask_shape((None, 7, 2), mask_shape)
    assert caught.value.message == message


def test_a_mask_of_another_shape_is_refused_at_run_time():
    layer = built_layer(GRU(3), 2, np.random.default_rng(0))
    x = np.zeros((2, 4, 2), np.float32)
    for call in (layer.call_masked, layer.compute_mask):
        with pytest.raises(ShapeError) as caught:
            call(x, np.ones((2, 5), bool))
        assert caught.value.message == ("takes a mask of one flag per sample and time step, shape (2, 4) for its "
                                        "input (2, 4, 2); got a mask of shape (2, 5)")


class FlattenKeepingMask(Layer):
    """Merges the last two axes but passes its input's mask on unchanged, as no Keras layer does."""

    supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-2]) + (input_shape[-2] * input_shape[-1],)

    def call(self, inputs):
        return inputs.reshape(inputs.shape[:-2] + (-1,))


def test_a_mask_over_more_axes_is_a_model_error_naming_the_layer():
    # An Embedding over (steps, 2) indices masks each index: (batch, steps, 2), not one flag per step.
    model = Sequential([Embedding(10, 3, mask_zero=True), FlattenKeepingMask(), LSTM(4)], input_shape=(6, 2))
    with pytest.raises(ShapeError) as caught:
        model.build()
    assert caught.value.message == (
        "layer 3 'lstm' (LSTM): takes a mask of one flag per sample and time step, shape (None, 6) for its input "
        "(None, 6, 6); got a mask of shape (None, 6, 2) (a mask made for another input, e.g. by a Masking layer "
        "over more axes, or by an Embedding over more than (batch, timesteps) indices)")


# -- the argument ---------------------------------------------------------------------
@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_zero_output_for_mask_is_a_checked_argument(layer_class):
    assert layer_class(3).get_config()["zero_output_for_mask"] is False
    assert layer_class(3, zero_output_for_mask=True).zero_output_for_mask is True
    with pytest.raises(ArgumentError) as caught:
        layer_class(3, zero_output_for_mask="yes")
    assert caught.value.argument == "zero_output_for_mask"


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_zero_output_for_mask_changes_nothing_without_a_mask(layer_class):
    rng = np.random.default_rng(35)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    plain = Sequential([built_layer(layer_class(4, return_sequences=True), 2, np.random.default_rng(1))])
    zeroed = Sequential([built_layer(layer_class(4, return_sequences=True, zero_output_for_mask=True), 2,
                                     np.random.default_rng(1))])
    np.testing.assert_array_equal(plain.predict(x), zeroed.predict(x))
