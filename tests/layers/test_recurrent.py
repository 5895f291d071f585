"""SimpleRNN, LSTM and GRU: shapes, weights, counts, and values against step-by-step cells."""

import math
import warnings

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers.recurrent import GRU, LSTM, SimpleRNN, UnitForgetBias
from layerspec.model import Sequential
from layerspec.spec import build_model, loads_spec

RTOL, ATOL = 2e-4, 2e-5


# -- reference cells: one sample, one step at a time, in float64 ----------------
def sigmoid(v):
    return np.array([1 / (1 + math.exp(-a)) if a >= 0 else math.exp(a) / (1 + math.exp(a)) for a in v])


def softmax(v):
    e = np.exp(v - np.max(v))
    return e / e.sum()


def sparsemax(v):
    """Textbook sparsemax of one vector (Martins & Astudillo, 2016)."""
    ordered = sorted(v, reverse=True)
    k = max(j for j in range(1, len(v) + 1) if 1 + j * ordered[j - 1] > sum(ordered[:j]))
    tau = (sum(ordered[:k]) - 1) / k
    return np.maximum(np.asarray(v) - tau, 0)


REFERENCE_ACTIVATIONS = {
    # The axis-wise ones see one gate's vector at a time, as the cells below pass it.
    "softmax": softmax,
    "log_softmax": lambda v: np.log(softmax(v)),
    "sparsemax": sparsemax,
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "relu": lambda v: np.maximum(v, 0),
    "hard_sigmoid": lambda v: np.clip(v / 6 + 0.5, 0, 1),
    "softsign": lambda v: v / (1 + np.abs(v)),
    None: lambda v: v,
}


def simple_rnn_cell(weights, activation="tanh"):
    kernel, recurrent, bias = weights["kernel"], weights["recurrent_kernel"], weights.get("bias")
    act = REFERENCE_ACTIVATIONS[activation]
    units = recurrent.shape[0]

    def step(x, state):
        (h,) = state
        z = x @ kernel + h @ recurrent + (0 if bias is None else bias)
        h = act(z)
        return h, (h,)

    return step, (np.zeros(units),)


def lstm_cell(weights, activation="tanh", recurrent_activation="sigmoid"):
    kernel, recurrent, bias = weights["kernel"], weights["recurrent_kernel"], weights.get("bias")
    act, ract = REFERENCE_ACTIVATIONS[activation], REFERENCE_ACTIVATIONS[recurrent_activation]
    u = recurrent.shape[0]

    def step(x, state):
        h, c = state
        z = x @ kernel + h @ recurrent + (0 if bias is None else bias)
        i, f, g, o = ract(z[:u]), ract(z[u:2 * u]), act(z[2 * u:3 * u]), ract(z[3 * u:])
        c = f * c + i * g
        h = o * act(c)
        return h, (h, c)

    return step, (np.zeros(u), np.zeros(u))


def gru_cell(weights, activation="tanh", recurrent_activation="sigmoid", reset_after=True):
    kernel, recurrent, bias = weights["kernel"], weights["recurrent_kernel"], weights.get("bias")
    act, ract = REFERENCE_ACTIVATIONS[activation], REFERENCE_ACTIVATIONS[recurrent_activation]
    u = recurrent.shape[0]
    if bias is None:
        input_bias, recurrent_bias = np.zeros(3 * u), np.zeros(3 * u)
    elif reset_after:
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = bias, np.zeros(3 * u)

    def step(x, state):
        (h,) = state
        xz = x @ kernel + input_bias
        z = ract(xz[:u] + h @ recurrent[:, :u] + recurrent_bias[:u])
        r = ract(xz[u:2 * u] + h @ recurrent[:, u:2 * u] + recurrent_bias[u:2 * u])
        if reset_after:
            candidate = act(xz[2 * u:] + r * (h @ recurrent[:, 2 * u:] + recurrent_bias[2 * u:]))
        else:
            candidate = act(xz[2 * u:] + (r * h) @ recurrent[:, 2 * u:])
        h = z * h + (1 - z) * candidate
        return h, (h,)

    return step, (np.zeros(u),)


def run_reference(cell_and_state, x, go_backwards=False, return_sequences=False):
    """Loop over samples, then over time steps, in processing order."""
    step, initial = cell_and_state
    units = initial[0].shape[0]
    outputs = []
    for sample in np.asarray(x, np.float64):
        state, sequence = initial, []
        for x_t in (sample[::-1] if go_backwards else sample):
            h, state = step(x_t, state)
            sequence.append(h)
        if return_sequences:
            outputs.append(np.array(sequence).reshape(len(sequence), units))
        else:
            outputs.append(sequence[-1] if sequence else np.zeros(units))
    return np.array(outputs)


def built_layer(layer, features, rng, scale=0.5):
    """Build ``layer`` for ``features`` inputs and give it random float32 weights."""
    layer.build_for((None, None, features))
    for weight in layer.weights:
        weight.assign((rng.standard_normal(weight.shape) * scale).astype(np.float32))
    return layer


def float64_weights(layer):
    return {weight.name: weight.value.astype(np.float64) for weight in layer.weights}


# -- shapes ----------------------------------------------------------------------
@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("input_shape, return_sequences, expected", [
    ((None, 10, 8), False, (None, 6)),
    ((None, 10, 8), True, (None, 10, 6)),
    ((None, None, 8), False, (None, 6)),
    ((None, None, 8), True, (None, None, 6)),
    ((None, 1, 1), True, (None, 1, 6)),
])
def test_output_shapes(layer_class, input_shape, return_sequences, expected):
    layer = layer_class(6, return_sequences=return_sequences)
    assert layer.compute_output_shape(input_shape) == expected
    layer.build_for(input_shape)
    steps = input_shape[1] or 3
    x = np.zeros((2, steps, input_shape[2]), np.float32)
    assert layer(x).shape == ((2, steps, 6) if return_sequences else (2, 6))


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_unknown_timesteps_in_a_model(layer_class):
    model = Sequential([layer_class(5, return_sequences=True), layer_class(3)], input_shape=(None, 4))
    model.build()
    # A recurrent layer takes a list [sequence, *initial states]; a stack gives it the sequence alone.
    assert model.shapes == [([(None, None, 4)], (None, None, 5)), ([(None, None, 5)], (None, 3))]
    assert [layer.count_macs(shape) for layer, (shape, _) in zip(model.layers, model.shapes)] == [None, None]
    model.init(seed=1)
    for steps in (1, 7):
        out = model.predict(np.ones((2, steps, 4), np.float32))
        assert out.shape == (2, 3) and out.dtype == np.float32


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_zero_length_sequence_gives_the_zero_state(layer_class):
    layer = built_layer(layer_class(4), 3, np.random.default_rng(0))
    out = layer(np.zeros((2, 0, 3), np.float32))
    assert out.shape == (2, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out, 0)
    layer.return_sequences = True
    assert layer(np.zeros((2, 0, 3), np.float32)).shape == (2, 0, 4)


# -- weights, parameters, MACs --------------------------------------------------
@pytest.mark.parametrize("layer, weights, params", [
    # Keras: in*u + u*u + u
    (SimpleRNN(16), {"kernel": (8, 16), "recurrent_kernel": (16, 16), "bias": (16,)}, 8 * 16 + 16 * 16 + 16),
    (SimpleRNN(16, use_bias=False), {"kernel": (8, 16), "recurrent_kernel": (16, 16)}, 8 * 16 + 16 * 16),
    # Keras: 4 * (in*u + u*u + u)
    (LSTM(16), {"kernel": (8, 64), "recurrent_kernel": (16, 64), "bias": (64,)}, 1600),
    (LSTM(16, use_bias=False), {"kernel": (8, 64), "recurrent_kernel": (16, 64)}, 4 * (8 * 16 + 16 * 16)),
    # Keras, reset_after: 3 * (in*u + u*u) + 2 * 3u
    (GRU(16), {"kernel": (8, 48), "recurrent_kernel": (16, 48), "bias": (2, 48)}, 3 * (8 * 16 + 16 * 16) + 2 * 48),
    # Keras, reset_after false: 3 * (in*u + u*u + u)
    (GRU(16, reset_after=False), {"kernel": (8, 48), "recurrent_kernel": (16, 48), "bias": (48,)},
     3 * (8 * 16 + 16 * 16 + 16)),
    (GRU(16, use_bias=False), {"kernel": (8, 48), "recurrent_kernel": (16, 48)}, 3 * (8 * 16 + 16 * 16)),
])
def test_weights_and_parameter_counts_match_keras(layer, weights, params):
    model = Sequential([layer], input_shape=(10, 8))
    model.init(seed=0)
    name = layer.name
    assert {key: value.shape for key, value in model.get_weights().items()} == {
        f"{name}/{weight}": shape for weight, shape in weights.items()}
    assert all(value.dtype == np.float32 for value in model.get_weights().values())
    assert model.count_params() == layer.count_params() == params


def test_automatic_names_follow_keras():
    model = Sequential([SimpleRNN(2, return_sequences=True), LSTM(2, return_sequences=True), GRU(2)])
    assert [layer.name for layer in model.layers] == ["simple_rnn", "lstm", "gru"]


@pytest.mark.parametrize("layer, expected", [
    (SimpleRNN(16), 10 * (8 * 16 + 16 * 16)),
    (LSTM(16), 10 * 4 * (8 * 16 + 16 * 16)),
    (GRU(16), 10 * 3 * (8 * 16 + 16 * 16)),
    (GRU(16, reset_after=False, use_bias=False), 10 * 3 * (8 * 16 + 16 * 16)),
])
def test_macs_per_sample(layer, expected):
    layer.build_for((None, 10, 8))
    assert layer.count_macs((None, 10, 8)) == expected
    assert layer.count_macs((None, None, 8)) is None


def test_counting_a_huge_layer_allocates_nothing():
    layer = LSTM(10**5)
    layer.build_for((None, 10**6, 10**5))
    assert all(weight.value is None for weight in layer.weights)
    assert layer.count_params() == 4 * (10**10 + 10**10 + 10**5)
    assert layer.count_macs((None, 10**6, 10**5)) == 10**6 * 4 * 2 * 10**10


def test_lstm_unit_forget_bias_initialisation():
    model = Sequential([LSTM(3, return_sequences=True), LSTM(3, unit_forget_bias=False, return_sequences=True,
                                                             name="plain"),
                        LSTM(3, bias_initializer="ones", name="ones")], input_shape=(4, 2))
    weights = model.init(seed=0).get_weights()
    np.testing.assert_array_equal(weights["lstm/bias"], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(weights["plain/bias"], np.zeros(12))
    np.testing.assert_array_equal(weights["ones/bias"], np.ones(12))
    assert weights["lstm/bias"].dtype == np.float32
    # The recurrent kernel (u, 4u) is orthogonal: orthonormal rows.
    recurrent = weights["lstm/recurrent_kernel"].astype(np.float64)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-5)


def test_unit_forget_bias_keeps_the_other_quarters_from_bias_initializer():
    layer = LSTM(50, bias_initializer={"type": "random_uniform", "minval": 2.0, "maxval": 3.0})
    model = Sequential([layer], input_shape=(4, 2)).init(seed=3)
    bias = model.get_weights()["lstm/bias"]
    np.testing.assert_array_equal(bias[50:100], 1)
    others = np.concatenate([bias[:50], bias[100:]])
    assert others.min() >= 2.0 and others.max() < 3.0
    assert UnitForgetBias("zeros").describe() == "unit_forget_bias(base='zeros')"
    with pytest.raises(ArgumentError, match=r"needs a shape \(4 \* units,\), got \(6,\)"):
        UnitForgetBias()((6,), np.float32, np.random.default_rng(0))


# -- values against the step-by-step cells ----------------------------------------
DIRECTIONS = [(False, False), (False, True), (True, False), (True, True)]


@pytest.mark.parametrize("go_backwards, return_sequences", DIRECTIONS)
@pytest.mark.parametrize("make_layer, make_cell", [
    (lambda **kw: SimpleRNN(5, **kw), lambda w: simple_rnn_cell(w)),
    (lambda **kw: SimpleRNN(5, activation="relu", **kw), lambda w: simple_rnn_cell(w, "relu")),
    (lambda **kw: SimpleRNN(5, activation=None, use_bias=False, **kw), lambda w: simple_rnn_cell(w, None)),
    (lambda **kw: LSTM(5, **kw), lambda w: lstm_cell(w)),
    (lambda **kw: LSTM(5, activation="softsign", recurrent_activation="hard_sigmoid", **kw),
     lambda w: lstm_cell(w, "softsign", "hard_sigmoid")),
    (lambda **kw: LSTM(5, use_bias=False, activation="relu", **kw), lambda w: lstm_cell(w, "relu")),
    (lambda **kw: GRU(5, **kw), lambda w: gru_cell(w)),
    (lambda **kw: GRU(5, reset_after=False, **kw), lambda w: gru_cell(w, reset_after=False)),
    (lambda **kw: GRU(5, activation="relu", recurrent_activation="hard_sigmoid", **kw),
     lambda w: gru_cell(w, "relu", "hard_sigmoid")),
    (lambda **kw: GRU(5, reset_after=False, use_bias=False, activation=None, **kw),
     lambda w: gru_cell(w, None, reset_after=False)),
    (lambda **kw: GRU(5, use_bias=False, **kw), lambda w: gru_cell(w)),
    # Axis-wise activations apply to each gate alone, as Keras's cells do.
    (lambda **kw: SimpleRNN(5, activation="softmax", **kw), lambda w: simple_rnn_cell(w, "softmax")),
    (lambda **kw: LSTM(5, recurrent_activation="softmax", **kw), lambda w: lstm_cell(w, "tanh", "softmax")),
    (lambda **kw: LSTM(5, activation="sparsemax", recurrent_activation="sparsemax", **kw),
     lambda w: lstm_cell(w, "sparsemax", "sparsemax")),
    (lambda **kw: LSTM(5, activation="softmax", **kw), lambda w: lstm_cell(w, "softmax")),
    (lambda **kw: GRU(5, recurrent_activation="softmax", **kw), lambda w: gru_cell(w, "tanh", "softmax")),
    (lambda **kw: GRU(5, reset_after=False, activation="log_softmax", recurrent_activation="sparsemax", **kw),
     lambda w: gru_cell(w, "log_softmax", "sparsemax", reset_after=False)),
], ids=["rnn", "rnn-relu", "rnn-linear-nobias", "lstm", "lstm-softsign-hardsig", "lstm-relu-nobias", "gru",
        "gru-reset-before", "gru-relu-hardsig", "gru-before-linear-nobias", "gru-nobias", "rnn-softmax",
        "lstm-softmax-gates", "lstm-sparsemax", "lstm-softmax", "gru-softmax-gates", "gru-before-logsoftmax-sparse"])
def test_values_match_a_step_by_step_cell(make_layer, make_cell, go_backwards, return_sequences):
    rng = np.random.default_rng(42)
    layer = built_layer(make_layer(go_backwards=go_backwards, return_sequences=return_sequences), 3, rng)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    out = layer(x)
    expected = run_reference(make_cell(float64_weights(layer)), x, go_backwards, return_sequences)
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_gru_softmax_gates_match_keras():
    # Keras 3.15, one step of x = 1: z = softmax([-.75, -.5]), r = softmax([-.25, 0]),
    # h~ = tanh([.25, .5]), h = (1 - z) * h~ = [0.1377, 0.2023]. Softmax over
    # the z and r columns together gave [0.2044, 0.3640].
    layer = GRU(2, recurrent_activation="softmax")
    layer.build_for((None, 1, 1))
    layer.kernel.assign(np.array([[-0.75, -0.5, -0.25, 0.0, 0.25, 0.5]], np.float32))
    layer.recurrent_kernel.assign(np.zeros((2, 6), np.float32))
    layer.bias.assign(np.zeros((2, 6), np.float32))
    z = softmax(np.array([-0.75, -0.5]))
    expected = (1 - z) * np.tanh([0.25, 0.5])
    np.testing.assert_allclose(layer(np.ones((1, 1, 1), np.float32)), [expected], rtol=1e-6)
    np.testing.assert_allclose(expected, [0.1377, 0.2023], atol=1e-4)


@pytest.mark.parametrize("layer_class, argument", [(SimpleRNN, "activation"), (LSTM, "activation"),
                                                    (LSTM, "recurrent_activation"), (GRU, "activation"),
                                                    (GRU, "recurrent_activation")])
def test_glu_cannot_be_a_recurrent_activation(layer_class, argument):
    with pytest.raises(ArgumentError) as caught:
        layer_class(4, **{argument: "glu"})
    assert (caught.value.message, caught.value.argument) == (
        f"argument '{argument}': activation 'glu' halves the last axis, but a recurrent layer's gates and state "
        "keep 'units' values", argument)


@pytest.mark.parametrize("layer_class, cell", [(SimpleRNN, simple_rnn_cell), (LSTM, lstm_cell), (GRU, gru_cell)])
def test_float64_model_computes_in_float64(layer_class, cell):
    rng = np.random.default_rng(7)
    layer = layer_class(4, return_sequences=True)
    model = Sequential([layer], input_shape=(5, 3), dtype="float64").init(seed=2)
    x = rng.standard_normal((3, 5, 3))
    out = model.predict(x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, run_reference(cell(model_weights(model, layer)), x, return_sequences=True),
                               rtol=1e-12, atol=1e-12)


def model_weights(model, layer):
    prefix = layer.name + "/"
    return {key[len(prefix):]: value for key, value in model.get_weights().items() if key.startswith(prefix)}


def test_go_backwards_returns_the_sequence_in_processing_order():
    # Linear SimpleRNN with kernel 1, recurrent 1, bias 0: a running sum.
    layer = SimpleRNN(1, activation=None, return_sequences=True, go_backwards=True)
    layer.build_for((None, 3, 1))
    for weight, value in zip(layer.weights, ([[1.0]], [[1.0]], [0.0])):
        weight.assign(np.array(value, np.float32))
    x = np.array([[[1.0], [2.0], [3.0]]], np.float32)
    np.testing.assert_array_equal(layer(x)[0, :, 0], [3.0, 5.0, 6.0])  # inputs 3, 2, 1 summed
    layer.go_backwards = False
    np.testing.assert_array_equal(layer(x)[0, :, 0], [1.0, 3.0, 6.0])
    layer.return_sequences = False
    np.testing.assert_array_equal(layer(x), [[6.0]])


@pytest.mark.parametrize("layer", [SimpleRNN(8), LSTM(8), GRU(8), GRU(8, reset_after=False),
                                   LSTM(8, recurrent_activation="hard_sigmoid", activation="relu")])
def test_large_inputs_give_no_warnings_and_stay_bounded(layer):
    rng = np.random.default_rng(3)
    layer = built_layer(layer, 4, rng, scale=1.0)
    x = rng.choice(np.array([-1000.0, 1000.0], np.float32), size=(5, 20, 4))
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out = layer(x)
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    if layer.activation is not None and layer.activation.__name__ == "tanh":
        assert np.all(np.abs(out) <= 1)


def test_saturated_gates_match_the_reference():
    rng = np.random.default_rng(5)
    layer = built_layer(LSTM(3, return_sequences=True), 2, rng)
    x = (rng.standard_normal((2, 4, 2)) * 200).astype(np.float32)
    expected = run_reference(lstm_cell(float64_weights(layer)), x, return_sequences=True)
    np.testing.assert_allclose(layer(x), expected, rtol=RTOL, atol=ATOL)


def test_call_does_not_modify_inputs_or_weights():
    rng = np.random.default_rng(9)
    layer = built_layer(GRU(4, go_backwards=True), 3, rng)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    before = [x.copy()] + [weight.value.copy() for weight in layer.weights]
    first = layer(x)
    np.testing.assert_array_equal(layer(x), first)
    for original, now in zip(before, [x] + [weight.value for weight in layer.weights]):
        np.testing.assert_array_equal(original, now)


# -- errors ---------------------------------------------------------------------
@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("shape, message", [
    ((None, 8), "needs an input of shape (batch, timesteps, features), got (None, 8)"),
    ((None, 4, 4, 2), "needs an input of shape (batch, timesteps, features), got (None, 4, 4, 2)"),
    ((None, 10, None), "needs a known number of features (the last axis), got (None, 10, None)"),
])
def test_shape_errors(layer_class, shape, message):
    with pytest.raises(ShapeError) as caught:
        layer_class(3).build_for(shape)
    assert caught.value.message == message
    with pytest.raises(ShapeError) as caught:
        layer_class(3).compute_output_shape(shape)
    assert caught.value.message == message


STATEFUL = ("argument 'stateful' must be false: layerspec runs stateless inference, carrying no state from one "
            "batch to the next (each batch starts from the zero or given initial state)")


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("kwargs, message, argument", [
    ({"units": 0}, "argument 'units' must be an integer >= 1, got integer 0", "units"),
    ({"units": 2, "stateful": True}, STATEFUL, "stateful"),
    ({"units": 2, "dropout": 1.5}, "argument 'dropout' must be a number >= 0 and <= 1, got number 1.5", "dropout"),
    ({"units": 2, "recurrent_dropout": -0.1},
     "argument 'recurrent_dropout' must be a number >= 0 and <= 1, got number -0.1", "recurrent_dropout"),
    ({"units": 2, "go_backwards": "yes"}, "argument 'go_backwards' must be true or false, got string 'yes'",
     "go_backwards"),
    ({"units": 2, "activation": "tanhh"}, "argument 'activation': unknown activation 'tanhh'; did you mean 'tanh'?",
     "activation"),
    ({"units": 2, "recurrent_initializer": "orthogonl"},
     "argument 'recurrent_initializer': unknown initializer 'orthogonl'; did you mean 'orthogonal'?",
     "recurrent_initializer"),
    ({"units": 2, "return_sequence": True}, "unknown argument 'return_sequence'; did you mean 'return_sequences'?",
     "return_sequence"),
    ({}, "missing required argument 'units'", None),
])
def test_argument_errors(layer_class, kwargs, message, argument):
    with pytest.raises(ArgumentError) as caught:
        layer_class(**kwargs)
    assert caught.value.message == message
    assert caught.value.argument == argument


@pytest.mark.parametrize("layer_class", [LSTM, GRU])
def test_use_cudnn_is_checked_and_accepted(layer_class):
    assert layer_class(2, use_cudnn=False).use_cudnn is False
    assert layer_class(2, use_cudnn="AUTO").use_cudnn == "auto"
    with pytest.raises(ArgumentError) as caught:
        layer_class(2, use_cudnn="yes")
    assert caught.value.message == "argument 'use_cudnn' must be true, false or 'auto', got string 'yes'"


def test_layer_specific_arguments():
    with pytest.raises(ArgumentError) as caught:
        SimpleRNN(2, recurrent_activation="sigmoid")
    assert caught.value.message == ("unknown argument 'recurrent_activation'; "
                                    "did you mean 'recurrent_initializer'?")
    with pytest.raises(ArgumentError) as caught:
        GRU(2, reset_after=1)
    assert caught.value.message == "argument 'reset_after' must be true or false, got integer 1"
    with pytest.raises(ArgumentError) as caught:
        LSTM(2, unit_forget_bias="true")
    assert caught.value.message == "argument 'unit_forget_bias' must be true or false, got string 'true'"
    # Inference ignores these; they are accepted so Keras specs stay valid.
    layer = LSTM(2, dropout=0.5, recurrent_dropout=0.25, seed=3, unroll=True)
    assert (layer.dropout, layer.recurrent_dropout, layer.seed, layer.unroll) == (0.5, 0.25, 3, True)


# -- through a spec ---------------------------------------------------------------
def test_spec_with_recurrent_layers_summarises_and_runs():
    model = layerspec.loads(
        "input: [12, 8]\n"
        "layers:\n"
        "  - {type: LSTM, units: 16, return_sequences: true}\n"
        "  - {type: gru, units: 4, reset_after: false, go_backwards: true, return_sequences: true}\n"
        "  - {type: simple_rnn, units: 2}\n")
    assert [layer.name for layer in model.layers] == ["lstm", "gru", "simple_rnn"]
    assert model.output_shape == (None, 2)
    assert model.count_params() == 1600 + 3 * (16 * 4 + 4 * 4 + 4) + (4 * 2 + 2 * 2 + 2)
    model.init(seed=0)
    out = model.predict(np.ones((3, 12, 8), np.float32))
    assert out.shape == (3, 2) and out.dtype == np.float32


def test_spec_error_points_at_the_recurrent_layer_given_a_rank_2_input():
    text = (
        "input: [8]\n"
        "layers:\n"
        "  - units: 4\n"
        "  - type: LSTM\n"
        "    units: 3\n")
    with pytest.raises(ShapeError) as caught:
        build_model(loads_spec(text, "specs/rnn.yaml"))
    assert str(caught.value) == ("specs/rnn.yaml:4:5: layer 2 'lstm' (LSTM): "
                                 "needs an input of shape (batch, timesteps, features), got (None, 4)")


def test_spec_error_points_at_stateful():
    text = (
        "input: [5, 8]\n"
        "layers:\n"
        "  - type: GRU\n"
        "    units: 3\n"
        "    stateful: true\n")
    with pytest.raises(ArgumentError) as caught:
        build_model(loads_spec(text, "specs/gru.yaml"))
    assert str(caught.value) == f"specs/gru.yaml:5:15: layer 1 'gru' (GRU): {STATEFUL}"


# -- return_state and initial states -------------------------------------------------
CELLS = {SimpleRNN: simple_rnn_cell, LSTM: lstm_cell, GRU: gru_cell}


def run_reference_states(cell_and_state, x, go_backwards=False, return_sequences=False, initial=None):
    """``(outputs, final states)`` step by step, per sample, from the zero
    state or ``initial`` (one (batch, units) array per state)."""
    step, zero = cell_and_state
    outputs, finals = [], []
    for number, sample in enumerate(np.asarray(x, np.float64)):
        state = zero if initial is None else tuple(np.asarray(s[number], np.float64) for s in initial)
        sequence = []
        for x_t in (sample[::-1] if go_backwards else sample):
            h, state = step(x_t, state)
            sequence.append(h)
        outputs.append(np.array(sequence).reshape(len(sequence), -1) if return_sequences else state[0])
        finals.append(state)
    return np.array(outputs), [np.array([final[k] for final in finals]) for k in range(len(zero))]


@pytest.mark.parametrize("layer_class, names", [(SimpleRNN, ["output", "state_h"]),
                                                (LSTM, ["output", "state_h", "state_c"]),
                                                (GRU, ["output", "state_h"])])
def test_return_state_names_and_shapes(layer_class, names):
    layer = layer_class(6, return_state=True)
    assert layer.output_names == names
    assert layer_class(6).output_names is None
    states = [(None, 6)] * (len(names) - 1)
    assert layer.compute_output_shape((None, 10, 8)) == [(None, 6)] + states
    assert layer.compute_output_shape([(None, None, 8)]) == [(None, 6)] + states
    assert layer.compute_output_shape([(None, 10, 8)] + states) == [(None, 6)] + states
    layer.return_sequences = True
    assert layer.compute_output_shape((None, 10, 8)) == [(None, 10, 6)] + states
    # Parameters and MACs do not change: the states are what the layer computes anyway.
    plain = layer_class(6)
    plain.build_for((None, 10, 8))
    layer.build_for([(None, 10, 8)])
    assert layer.count_params() == plain.count_params()
    assert layer.count_macs([(None, 10, 8)] + states) == plain.count_macs((None, 10, 8))


STATE_CASES = [
    (lambda **kw: SimpleRNN(5, **kw), lambda w: simple_rnn_cell(w)),
    (lambda **kw: LSTM(5, **kw), lambda w: lstm_cell(w)),
    (lambda **kw: GRU(5, **kw), lambda w: gru_cell(w)),
    (lambda **kw: GRU(5, reset_after=False, **kw), lambda w: gru_cell(w, reset_after=False)),
    # LSTM's general path (not tanh and sigmoid)
    (lambda **kw: LSTM(5, activation="softsign", recurrent_activation="hard_sigmoid", **kw),
     lambda w: lstm_cell(w, "softsign", "hard_sigmoid")),
]
STATE_IDS = ["rnn", "lstm", "gru", "gru-reset-before", "lstm-general"]


@pytest.mark.parametrize("go_backwards, return_sequences", DIRECTIONS)
@pytest.mark.parametrize("make_layer, make_cell", STATE_CASES, ids=STATE_IDS)
def test_return_state_gives_the_last_steps_states(make_layer, make_cell, go_backwards, return_sequences):
    rng = np.random.default_rng(11)
    layer = built_layer(make_layer(go_backwards=go_backwards, return_sequences=return_sequences,
                                   return_state=True), 3, rng)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    result = layer(x)
    expected, states = run_reference_states(make_cell(float64_weights(layer)), x, go_backwards, return_sequences)
    assert isinstance(result, list) and len(result) == 1 + len(states) == 1 + len(layer.state_names)
    for got, want in zip(result, [expected] + states):
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    # state_h is the last output (of the last step processed), in an array of its own.
    np.testing.assert_array_equal(result[1], result[0][:, -1] if return_sequences else result[0])
    assert not np.shares_memory(result[0], result[1])


@pytest.mark.parametrize("go_backwards, return_sequences", DIRECTIONS)
@pytest.mark.parametrize("make_layer, make_cell", STATE_CASES, ids=STATE_IDS)
def test_initial_states_are_used(make_layer, make_cell, go_backwards, return_sequences):
    rng = np.random.default_rng(12)
    layer = built_layer(make_layer(go_backwards=go_backwards, return_sequences=return_sequences,
                                   return_state=True), 3, rng)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    initial = [rng.standard_normal((4, 5)).astype(np.float32) for _ in layer.state_names]
    given = [state.copy() for state in initial]
    result = layer([x, *given])
    expected, states = run_reference_states(make_cell(float64_weights(layer)), x, go_backwards, return_sequences,
                                            initial)
    for got, want in zip(result, [expected] + states):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    # The given states are read, never written.
    for before, after in zip(initial, given):
        np.testing.assert_array_equal(before, after)
    # Without them the result differs: they were really used.
    assert not np.allclose(layer(x)[0], result[0])


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_zero_length_sequence_gives_the_initial_state(layer_class):
    layer = built_layer(layer_class(4, return_state=True), 3, np.random.default_rng(0))
    initial = [np.full((2, 4), 0.5 + k, np.float32) for k in range(len(layer.state_names))]
    out = layer([np.zeros((2, 0, 3), np.float32), *initial])
    for got, want in zip(out, [initial[0], *initial]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("layer_class, shapes, message", [
    (LSTM, [(None, 5, 3), (None, 4)],
     "takes its input sequence and, optionally, its 2 initial states (state_h, state_c); got 1 state"),
    (GRU, [(None, 5, 3), (None, 4), (None, 4)],
     "takes its input sequence and, optionally, its 1 initial state (state_h); got 2 states"),
    (LSTM, [(None, 5, 3), (None, 4), (None, 3)], "initial state 2 (state_c) must have shape (None, 4), got (None, 3)"),
    (SimpleRNN, [(None, 5, 3), (None, 4, 1)], "initial state 1 (state_h) must have shape (None, 4), got (None, 4, 1)"),
])
def test_initial_state_shapes_are_checked(layer_class, shapes, message):
    for method in (layer_class(4).compute_output_shape, layer_class(4).build_for):
        with pytest.raises(ShapeError) as caught:
            method(shapes)
        assert (caught.value.message, caught.value.argument) == (message, "inputs")


def test_initial_state_arrays_are_checked_at_call():
    layer = built_layer(LSTM(4), 3, np.random.default_rng(0))
    x = np.zeros((2, 5, 3), np.float32)
    with pytest.raises(ShapeError) as caught:
        layer([x, np.zeros((3, 4), np.float32), np.zeros((2, 4), np.float32)])
    assert caught.value.message == "initial state 1 (state_h) must have shape (2, 4), got (3, 4)"
    with pytest.raises(ShapeError) as caught:
        layer([x, np.zeros((2, 4), np.float32)])
    assert caught.value.message == ("takes its input sequence and, optionally, its 2 initial states "
                                    "(state_h, state_c); got 1 state")


def test_spec_feeds_initial_states_and_reads_them_back():
    model = layerspec.loads(
        "inputs:\n"
        "  x: [5, 3]\n"
        "  h0: [4]\n"
        "  c0: [4]\n"
        "layers:\n"
        "  - {type: LSTM, units: 4, inputs: [x, h0, c0], return_state: true}\n"
        "outputs: lstm\n")
    assert model.count_params() == 4 * (3 * 4 + 4 * 4 + 4)
    model.init(seed=1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 3)).astype(np.float32)
    h0, c0 = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2))
    out = model.predict({"x": x, "h0": h0, "c0": c0})
    expected, _ = run_reference_states(lstm_cell(model_weights(model, model.layers[0])), x, initial=[h0, c0])
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_spec_error_points_at_a_misshapen_initial_state():
    text = (
        "inputs:\n"
        "  x: [5, 3]\n"
        "  h0: [6]\n"
        "layers:\n"
        "  - type: GRU\n"
        "    units: 4\n"
        "    inputs: [x, h0]\n")
    with pytest.raises(ShapeError) as caught:
        build_model(loads_spec(text, "specs/gru.yaml"))
    assert str(caught.value) == ("specs/gru.yaml:7:13: layer 1 'gru' (GRU): initial state 1 (state_h) must have "
                                 "shape (None, 4), got (None, 6)")


def test_unroll_is_accepted_and_changes_nothing():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    rolled = built_layer(LSTM(3), 3, np.random.default_rng(1))
    unrolled = built_layer(LSTM(3, unroll=True), 3, np.random.default_rng(1))
    np.testing.assert_array_equal(rolled(x), unrolled(x))


def test_a_gate_activation_along_another_axis_is_refused():
    with pytest.raises(ArgumentError, match=r"argument 'recurrent_activation': a recurrent layer's gates are "
                                            r"\(batch, units\); an activation along another axis than the last "
                                            r"\(-1\) would run across the batch"):
        LSTM(4, recurrent_activation={"name": "softmax", "axis": 0})
