"""ConvLSTM1D/2D/3D: shapes and parameters as Keras's, values against a plain-loop float64 cell."""

import itertools
import math

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from layerspec.model import Sequential
from layerspec.spec import build_model, loads_spec

RTOL, ATOL = 2e-4, 2e-5
CLASSES = {1: ConvLSTM1D, 2: ConvLSTM2D, 3: ConvLSTM3D}


# -- the reference: one sample, one output cell at a time, float64 -----------------
def conv_reference(x, kernel, strides, padding, dilation):
    """Cross-correlation of one sample ``x`` (*spatial, C) with ``kernel`` (*k, C, F)."""
    spatial, ksize = x.shape[:-1], kernel.shape[:-2]
    if padding == "same":
        outs = [-(-n // s) for n, s in zip(spatial, strides)]
        totals = [max((o - 1) * s + (k - 1) * d + 1 - n, 0)
                  for o, s, k, d, n in zip(outs, strides, ksize, dilation, spatial)]
        pads = [(t // 2, t - t // 2) for t in totals]
    else:
        outs = [(n - (k - 1) * d - 1) // s + 1 for n, k, d, s in zip(spatial, ksize, dilation, strides)]
        pads = [(0, 0)] * len(spatial)
    padded = np.pad(x, pads + [(0, 0)])
    out = np.zeros(tuple(outs) + (kernel.shape[-1],))
    for position in itertools.product(*(range(o) for o in outs)):
        total = np.zeros(kernel.shape[-1])
        for cell in itertools.product(*(range(k) for k in ksize)):
            where = tuple(p * s + c * d for p, s, c, d in zip(position, strides, cell, dilation))
            total += padded[where] @ kernel[cell]
        out[position] = total
    return out


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def run_reference(layer, x, initial=None):
    """``[output, h, c]`` of ``layer`` computed step by step, sample by sample."""
    kernel, recurrent = (w.value.astype(np.float64) for w in (layer.kernel, layer.recurrent_kernel))
    bias = np.zeros(kernel.shape[-1]) if layer.bias is None else layer.bias.value.astype(np.float64)
    f = layer.filters
    ones = (1,) * layer.rank
    outputs, hs, cs = [], [], []
    for number, sample in enumerate(np.asarray(x, np.float64)):
        out_spatial = conv_reference(sample[0], kernel, layer.strides, layer.padding, layer.dilation_rate).shape[:-1]
        if initial is None:
            h, c = np.zeros(out_spatial + (f,)), np.zeros(out_spatial + (f,))
        else:
            h, c = (np.asarray(s[number], np.float64) for s in initial)
        sequence = []
        for x_t in (sample[::-1] if layer.go_backwards else sample):
            z = conv_reference(x_t, kernel, layer.strides, layer.padding, layer.dilation_rate) + bias \
                + conv_reference(h, recurrent, ones, "same", ones)
            i, fg, g, o = sigmoid(z[..., :f]), sigmoid(z[..., f:2 * f]), np.tanh(z[..., 2 * f:3 * f]), \
                sigmoid(z[..., 3 * f:])
            c = fg * c + i * g
            h = o * np.tanh(c)
            sequence.append(h)
        outputs.append(np.array(sequence) if layer.return_sequences else h)
        hs.append(h)
        cs.append(c)
    return [np.array(outputs), np.array(hs), np.array(cs)]


def built(layer, input_shape, rng, scale=0.4):
    layer.build_for(input_shape)
    for weight in layer.weights:
        weight.assign((rng.standard_normal(weight.shape) * scale).astype(np.float32))
    return layer


# -- shapes, weights, counts ---------------------------------------------------------
@pytest.mark.parametrize("layer, input_shape, expected", [
    (ConvLSTM2D(4, 3), (None, 5, 8, 8, 2), (None, 6, 6, 4)),
    (ConvLSTM2D(4, 3), (None, None, 8, 8, 2), (None, 6, 6, 4)),
    (ConvLSTM2D(4, 3, return_sequences=True), (None, 5, 8, 8, 2), (None, 5, 6, 6, 4)),
    (ConvLSTM2D(4, 3, return_sequences=True), (None, None, 8, 8, 2), (None, None, 6, 6, 4)),
    (ConvLSTM2D(4, 3, padding="same"), (None, 5, 8, 8, 2), (None, 8, 8, 4)),
    (ConvLSTM2D(4, 3, strides=2, padding="same"), (None, 5, 7, 8, 2), (None, 4, 4, 4)),
    (ConvLSTM2D(4, (2, 3), dilation_rate=2), (None, 5, 8, 8, 2), (None, 6, 4, 4)),
    (ConvLSTM1D(3, 2), (None, 5, 7, 2), (None, 6, 3)),
    (ConvLSTM1D(3, 3, strides=2, return_sequences=True), (None, 4, 9, 1), (None, 4, 4, 3)),
    (ConvLSTM3D(2, 2), (None, 3, 4, 5, 6, 1), (None, 3, 4, 5, 2)),
])
def test_output_shapes(layer, input_shape, expected):
    assert layer.compute_output_shape(input_shape) == expected
    layer.build_for(input_shape)
    x = np.zeros((2, input_shape[1] or 3) + input_shape[2:], np.float32)
    want = tuple(x.shape[1] if size is None and axis == 1 else size for axis, size in enumerate(expected))
    assert layer(x).shape == (2,) + want[1:]


@pytest.mark.parametrize("layer, input_shape, weights, params", [
    # Keras: kernel k*k*C*4f, recurrent k*k*f*4f, bias 4f: 4*4*(3*3*2 + 3*3*4) + 4*4
    (ConvLSTM2D(4, 3), (None, 5, 8, 8, 2), {"kernel": (3, 3, 2, 16), "recurrent_kernel": (3, 3, 4, 16),
                                             "bias": (16,)}, 880),
    (ConvLSTM2D(4, 3, use_bias=False), (None, 5, 8, 8, 2), {"kernel": (3, 3, 2, 16),
                                                             "recurrent_kernel": (3, 3, 4, 16)}, 864),
    # 2*2*12 + 2*3*12 + 12
    (ConvLSTM1D(3, 2), (None, 5, 7, 2), {"kernel": (2, 2, 12), "recurrent_kernel": (2, 3, 12), "bias": (12,)}, 132),
    # 8*1*8 + 8*2*8 + 8
    (ConvLSTM3D(2, 2), (None, 3, 4, 5, 6, 1), {"kernel": (2, 2, 2, 1, 8), "recurrent_kernel": (2, 2, 2, 2, 8),
                                                "bias": (8,)}, 200),
])
def test_weights_and_parameters_match_keras(layer, input_shape, weights, params):
    model = Sequential([layer], input_shape=input_shape[1:]).init(seed=0)
    name = layer.name
    assert {key: value.shape for key, value in model.get_weights().items()} == {
        f"{name}/{weight}": shape for weight, shape in weights.items()}
    assert model.count_params() == params


def test_automatic_names_follow_keras():
    assert [cls(2, 2).name for cls in CLASSES.values()] == ["conv_lstm1d", "conv_lstm2d", "conv_lstm3d"]


def test_macs_per_sample():
    layer = ConvLSTM2D(4, 3)
    layer.build_for((None, 5, 8, 8, 2))
    # steps * positions * 4 gates * filters * cells * (channels + filters)
    assert layer.count_macs((None, 5, 8, 8, 2)) == 5 * 36 * 4 * 4 * 9 * (2 + 4)
    assert layer.count_macs((None, None, 8, 8, 2)) is None
    assert layer.count_elementwise((None, 5, 8, 8, 2)) == 5 * 36 * 4 * (4 + 5 + 4)


def test_unknown_timesteps_summarise_per_step():
    model = layerspec.loads("input: [null, 8, 8, 2]\nlayers:\n  - {type: ConvLSTM2D, filters: 4, kernel_size: 3}\n")
    assert model.output_shape == (None, 6, 6, 4)
    assert model.count_params() == 880
    assert model.layers[0].count_macs((None, None, 8, 8, 2)) is None


def test_unit_forget_bias_initialisation():
    model = Sequential([ConvLSTM1D(2, 2, name="clstm")], input_shape=(3, 4, 1)).init(seed=0)
    np.testing.assert_array_equal(model.get_weights()["clstm/bias"], [0, 0, 1, 1, 0, 0, 0, 0])


# -- values --------------------------------------------------------------------------
@pytest.mark.parametrize("make, input_shape", [
    (lambda **kw: ConvLSTM2D(3, 3, **kw), (2, 4, 5, 6, 2)),
    (lambda **kw: ConvLSTM2D(3, (2, 3), padding="same", **kw), (2, 3, 5, 4, 2)),
    (lambda **kw: ConvLSTM2D(2, 3, strides=2, padding="same", **kw), (2, 3, 7, 6, 3)),
    (lambda **kw: ConvLSTM2D(2, 2, strides=(2, 1), **kw), (2, 3, 5, 4, 1)),
    (lambda **kw: ConvLSTM2D(2, 2, dilation_rate=2, padding="same", **kw), (2, 3, 5, 5, 2)),
    (lambda **kw: ConvLSTM2D(2, 1, use_bias=False, **kw), (2, 3, 3, 2, 2)),
    (lambda **kw: ConvLSTM1D(3, 3, padding="same", **kw), (3, 5, 6, 2)),
    (lambda **kw: ConvLSTM1D(2, 2, strides=2, **kw), (2, 4, 7, 1)),
    (lambda **kw: ConvLSTM3D(2, 2, padding="same", **kw), (2, 3, 3, 2, 3, 1)),
], ids=["2d-valid", "2d-same-rect", "2d-strided-same", "2d-strided-valid", "2d-dilated", "2d-1x1-nobias",
        "1d-same", "1d-strided", "3d-same"])
@pytest.mark.parametrize("go_backwards, return_sequences", [(False, False), (False, True), (True, False),
                                                             (True, True)])
def test_values_match_a_plain_loop(make, input_shape, go_backwards, return_sequences):
    rng = np.random.default_rng(21)
    layer = built(make(go_backwards=go_backwards, return_sequences=return_sequences, return_state=True),
                  (None,) + input_shape[1:], rng)
    x = rng.standard_normal(input_shape).astype(np.float32)
    result = layer(x)
    expected = run_reference(layer, x)
    assert len(result) == 3
    for got, want in zip(result, expected):
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    # Without return_state the output alone, the same values.
    layer.return_state = False
    np.testing.assert_array_equal(layer(x), result[0])


def test_initial_states_are_used():
    rng = np.random.default_rng(22)
    layer = built(ConvLSTM2D(3, 3, padding="same", return_sequences=True, return_state=True), (None, 4, 5, 4, 2),
                  rng)
    x = rng.standard_normal((2, 4, 5, 4, 2)).astype(np.float32)
    initial = [rng.standard_normal((2, 5, 4, 3)).astype(np.float32) for _ in range(2)]
    given = [state.copy() for state in initial]
    result = layer([x, *given])
    for got, want in zip(result, run_reference(layer, x, initial)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    for before, after in zip(initial, given):
        np.testing.assert_array_equal(before, after)
    assert layer.compute_output_shape([(None, 4, 5, 4, 2), (None, 5, 4, 3), (None, 5, 4, 3)]) == \
        [(None, 4, 5, 4, 3), (None, 5, 4, 3), (None, 5, 4, 3)]


def test_zero_length_sequence_gives_the_initial_state():
    layer = built(ConvLSTM1D(2, 2, return_state=True), (None, None, 4, 1), np.random.default_rng(0))
    initial = [np.full((1, 3, 2), 0.25, np.float32), np.full((1, 3, 2), 0.5, np.float32)]
    out = layer([np.zeros((1, 0, 4, 1), np.float32), *initial])
    for got, want in zip(out, [initial[0], *initial]):
        np.testing.assert_array_equal(got, want)


def test_float64_model_computes_in_float64():
    rng = np.random.default_rng(3)
    model = Sequential([ConvLSTM2D(2, 2, return_sequences=True)], input_shape=(3, 4, 4, 1), dtype="float64")
    model.init(seed=1)
    x = rng.standard_normal((2, 3, 4, 4, 1))
    out = model.predict(x)
    assert out.dtype == np.float64
    layer = model.layers[0]
    layer.return_state = False
    np.testing.assert_allclose(out, run_reference(layer, x)[0], rtol=1e-12, atol=1e-12)


def test_large_inputs_give_no_warnings():
    rng = np.random.default_rng(4)
    layer = built(ConvLSTM2D(3, 3, padding="same"), (None, 4, 5, 5, 2), rng, scale=1.0)
    x = rng.choice(np.array([-1000.0, 1000.0], np.float32), size=(2, 4, 5, 5, 2))
    with np.errstate(all="raise"):
        out = layer(x)
    assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1)


# -- errors ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message, argument", [
    ({"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
     "strides > 1 not supported in conjunction with dilation_rate > 1, got strides (2, 2) and dilation_rate (2, 2)",
     "dilation_rate"),
    ({"filters": 0, "kernel_size": 3}, "argument 'filters' must be an integer >= 1, got integer 0", "filters"),
    ({"filters": 2, "kernel_size": [3, 3, 3]},
     "argument 'kernel_size' must be an integer >= 1 or a list of 2 integers >= 1, got a list (3 items)",
     "kernel_size"),
    ({"filters": 2, "kernel_size": 3, "padding": "causal"},
     "argument 'padding' must be one of 'valid', 'same', got string 'causal'", "padding"),
    ({"filters": 2, "kernel_size": 3, "stateful": True},
     "argument 'stateful' must be false: layerspec runs stateless inference, carrying no state from one batch to "
     "the next (each batch starts from the zero or given initial state)", "stateful"),
    ({"filters": 2, "kernel_size": 3, "data_format": "channels_first"},
     "argument 'data_format': 'channels_first' is not supported; layerspec uses channels_last, with channels on the "
     "last axis", "data_format"),
    ({"filters": 2, "kernel_size": 3, "activation": "glu"},
     "argument 'activation': activation 'glu' halves the last axis, but a recurrent layer's gates and state keep "
     "'units' values", "activation"),
])
def test_argument_errors(kwargs, message, argument):
    with pytest.raises(ArgumentError) as caught:
        ConvLSTM2D(**kwargs)
    assert (caught.value.message, caught.value.argument) == (message, argument)


@pytest.mark.parametrize("shape, message", [
    ((None, 5, 8, 2), "needs an input of shape (batch, timesteps, height, width, channels), got (None, 5, 8, 2)"),
    ((None, 5, None, 8, 2), "needs known spatial sizes (only timesteps may be unknown), got (None, 5, None, 8, 2)"),
    ((None, 5, 8, 8, None), "needs a known number of channels (the last axis), got (None, 5, 8, 8, None)"),
    ((None, 5, 2, 8, 2), "kernel_size (3, 3) is larger than its input (2, 8) with padding 'valid'"),
])
def test_shape_errors(shape, message):
    for method in (ConvLSTM2D(4, 3).compute_output_shape, ConvLSTM2D(4, 3).build_for):
        with pytest.raises(ShapeError) as caught:
            method(shape)
        assert caught.value.message == message


def test_initial_state_shape_is_checked():
    with pytest.raises(ShapeError) as caught:
        ConvLSTM2D(4, 3).compute_output_shape([(None, 5, 8, 8, 2), (None, 8, 8, 4), (None, 6, 6, 4)])
    assert caught.value.message == "initial state 1 (state_h) must have shape (None, 6, 6, 4), got (None, 8, 8, 4)"


def test_spec_runs_a_conv_lstm_stack():
    model = layerspec.loads(
        "input: [4, 6, 6, 1]\n"
        "layers:\n"
        "  - {type: ConvLSTM2D, filters: 3, kernel_size: 3, padding: same, return_sequences: true, name: first}\n"
        "  - {type: conv_lstm_2d, filters: 2, kernel_size: 2, name: second}\n"
        "  - {type: Flatten}\n")
    assert model.output_shape == (None, 5 * 5 * 2)
    assert model.count_params() == (9 * 1 * 12 + 9 * 3 * 12 + 12) + (4 * 3 * 8 + 4 * 2 * 8 + 8)
    model.init(seed=0)
    out = model.predict(np.ones((2, 4, 6, 6, 1), np.float32))
    assert out.shape == (2, 50) and out.dtype == np.float32 and math.isfinite(float(out.sum()))


# -- masks: refused ------------------------------------------------------------------
def test_a_masked_sequence_is_refused_naming_the_cause():
    # Keras's loop would broadcast each step's mask against the (batch, rows, cols, filters) states wrongly.
    text = ("input: [4, 5, 5, 2]\n"
            "layers:\n"
            "  - {type: Masking}\n"
            "  - {type: ConvLSTM2D, filters: 3, kernel_size: 3}\n")
    with pytest.raises(ShapeError) as caught:
        build_model(loads_spec(text, "specs/video.yaml"))
    assert str(caught.value) == (
        "specs/video.yaml:4:5: layer 2 'conv_lstm2d' (ConvLSTM2D): ConvLSTM2D cannot take a mask: its input "
        "sequence carries one of shape (None, 4, 5, 5) (from a Masking layer or an Embedding with mask_zero "
        "upstream), and Keras's recurrent loop would broadcast each step's mask against the (None, 3, 3, 3) "
        "states along the wrong axes (the batch axis meeting a spatial one), giving wrong values or failing; "
        "remove the mask upstream (no Masking, mask_zero: false)")


def test_an_embedding_mask_is_refused_by_conv_lstm1d():
    model = Sequential([layerspec.layers.Embedding(10, 2, mask_zero=True), ConvLSTM1D(3, 2, padding="same")],
                       input_shape=(4, 6))
    with pytest.raises(ShapeError) as caught:
        model.build()
    assert caught.value.message.startswith(
        "layer 2 'conv_lstm1d' (ConvLSTM1D): ConvLSTM1D cannot take a mask: its input sequence carries one of "
        "shape (None, 4, 6) (from a Masking layer or an Embedding with mask_zero upstream), and Keras's recurrent "
        "loop would broadcast each step's mask against the (None, 6, 3) states")


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_lstm_without_a_mask_has_none(rank):
    layer = CLASSES[rank](2, 1, return_sequences=True, return_state=True)
    shape = (None, 3) + (4,) * rank + (1,)
    assert not layer.supports_masking and not layer.uses_mask
    assert layer.compute_mask_shape(shape, None) is None
    # A mask on an initial state alone means nothing to Keras's computation: dropped.
    state = (None,) + (4,) * rank + (2,)
    assert layer.compute_mask_shape([shape, state, state], [None, (None,), None]) is None
    with pytest.raises(ShapeError):
        layer.compute_mask_shape([shape, state, state], [(None, 3), None, None])
