"""The forward pass's fast paths: weights prepared once and refreshed, in-place
activations, banded and chunked convolutions, the LSTM's fused step, Dense's
transposed product. Values are checked against the plain-loop references."""


import numpy as np
import pytest

import layerspec
from layerspec import activations
from layerspec.layers import conv, core
from layerspec.layers.conv import Conv1D, Conv2D
from layerspec.layers.core import Dense
from layerspec.layers.normalization import BatchNormalization
from layerspec.layers.prepared import derived, forget
from layerspec.layers.recurrent import LSTM
from tests.layers.concurrency import assert_threads_agree_with_calls_alone
from tests.layers.test_conv import TOLERANCE, bias_of, conv1d_reference, conv2d_reference, random_layer
from tests.layers.test_recurrent import built_layer, float64_weights, lstm_cell, run_reference

RTOL, ATOL = 2e-4, 2e-5


# -- weights prepared once, refreshed when they change ---------------------------
CACHING_MODELS = {
    "dense": ("""
        input: [6]
        layers:
          - {units: 40, activation: relu}
          - {units: 3, activation: softmax}
        """, (8, 6)),
    "conv": ("""
        input: [9, 9, 2]
        layers:
          - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, activation: tanh}
          - {type: BatchNormalization}
          - {type: Flatten}
          - {units: 2}
        """, (3, 9, 9, 2)),
    "lstm": ("""
        input: [5, 3]
        layers:
          - {type: LSTM, units: 4}
        """, (6, 5, 3)),
    "lstm-one-row": ("""
        input: [5, 3]
        layers:
          - {type: LSTM, units: 4, return_sequences: true}
        """, (1, 5, 3)),
}


def cached_model(name):
    text, shape = CACHING_MODELS[name]
    model = layerspec.loads(text).init(seed=1)
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    return model, x


def fresh_predict(model, x):
    """What the model computes once every prepared form is dropped."""
    for layer in model.layers:
        forget(layer)
    return model.predict(x)


@pytest.mark.parametrize("name", sorted(CACHING_MODELS))
def test_set_weights_with_new_arrays_refreshes_prepared_weights(name):
    model, x = cached_model(name)
    before = model.predict(x)
    changed = {key: value * np.float32(1.5) + np.float32(0.1) for key, value in model.get_weights().items()}
    model.set_weights(changed)
    after = model.predict(x)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, fresh_predict(model, x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", sorted(CACHING_MODELS))
def test_load_weights_and_init_refresh_prepared_weights(name, tmp_path):
    model, x = cached_model(name)
    other, _ = cached_model(name)
    other.init(seed=7)
    path = tmp_path / "w.npz"
    other.save_weights(path)
    before = model.predict(x)
    model.load_weights(path)
    loaded = model.predict(x)
    assert not np.allclose(loaded, before)
    np.testing.assert_allclose(loaded, other.predict(x), rtol=RTOL, atol=ATOL)
    model.init(seed=1)
    np.testing.assert_allclose(model.predict(x), before, rtol=RTOL, atol=ATOL)


def test_assigning_one_weight_refreshes_prepared_weights():
    model, x = cached_model("dense")
    before = model.predict(x)
    kernel = model.layers[0].kernel
    kernel.assign(np.ascontiguousarray(kernel.value[::-1]))
    after = model.predict(x)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, fresh_predict(model, x), rtol=RTOL, atol=ATOL)


def test_an_array_changed_in_place_and_assigned_again_refreshes_prepared_weights():
    model, x = cached_model("lstm")
    before = model.predict(x)
    weights = model.get_weights()  # the live arrays
    weights["lstm/kernel"] *= np.float32(-1)
    model.set_weights(weights)
    after = model.predict(x)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, fresh_predict(model, x), rtol=RTOL, atol=ATOL)


def test_derived_is_computed_once_per_weights_value():
    layer = Dense(3)
    layer.build_for((None, 2))
    layer.kernel.assign(np.ones((2, 3), np.float32))
    layer.bias.assign(np.zeros(3, np.float32))
    calls = []

    def make():
        calls.append(1)
        return layer.kernel.value.sum()

    assert derived(layer, "total", make) == 6
    assert derived(layer, "total", make) == 6
    assert len(calls) == 1
    layer.kernel.assign(np.full((2, 3), 2, np.float32))
    assert derived(layer, "total", make) == 12
    assert len(calls) == 2


def test_batch_normalization_folds_once_and_still_checks_the_variance():
    layer = BatchNormalization()
    layer.build_for((None, 2))
    for weight, value in zip(layer.weights, ([2.0, 1.0], [0.5, 0.0], [1.0, 1.0], [3.0, 0.999])):
        weight.assign(np.array(value, np.float32))
    x = np.array([[1.0, 2.0]], np.float32)
    np.testing.assert_allclose(layer(x), [[0.5, 1.0]], rtol=1e-6)
    layer.moving_variance.assign(np.array([-1.0, 1.0], np.float32))
    with pytest.raises(layerspec.errors.WeightsError, match="moving_variance"):
        layer(x)


# -- in-place activations ---------------------------------------------------------
IN_PLACE = ["linear", "relu", "relu6", "tanh", "sigmoid", "leaky_relu", "hard_sigmoid", "softmax"]
VALUES = np.array([[-1000.0, -7.5, -1.0, -0.0, 0.0, 0.25, 3.0, 6.5, 1000.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", IN_PLACE)
def test_in_place_activations_write_over_their_input_and_match_bit_for_bit(name, dtype):
    function = activations.get(name)
    for values in (VALUES, VALUES.reshape(3, 3), VALUES[:, ::2]):
        x = values.astype(dtype)
        expected = function(x.copy())
        result = activations.apply_inplace(function, x)
        assert result is x
        assert result.dtype == dtype
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("name", ["elu", "gelu", "softplus", "log_softmax", "mish"])
def test_other_activations_are_computed_by_their_pure_function(name):
    function = activations.get(name)
    x = VALUES.astype(np.float32)
    kept = x.copy()
    np.testing.assert_array_equal(activations.apply_inplace(function, x), function(kept))
    np.testing.assert_array_equal(x, kept)


@pytest.mark.parametrize("name", IN_PLACE)
def test_in_place_form_is_the_writing_function(name):
    function = activations.get(name)
    x = VALUES.astype(np.float32)
    expected = function(x.copy())
    result = activations.in_place_form(function)(x)
    assert result is x
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("name", ["elu", "gelu", "softplus"])
def test_in_place_form_of_other_activations_is_the_pure_function(name):
    function = activations.get(name)
    assert activations.in_place_form(function) is function


def test_dense_with_a_non_in_place_activation_matches_its_pure_function():
    layer = layerspec.layers.Dense(3, activation="gelu")
    x = VALUES[:, :4].astype(np.float32) / 100
    out = layer(x)
    w = layer.kernel.numpy()
    np.testing.assert_array_equal(out, activations.gelu(x @ w + layer.bias.numpy()))


def test_read_only_and_integer_arrays_are_left_alone():
    x = VALUES.astype(np.float32)
    x.flags.writeable = False
    np.testing.assert_array_equal(activations.apply_inplace(activations.relu, x), activations.relu(x))
    ints = np.array([[-2, 3]])
    out = activations.apply_inplace(activations.tanh, ints)
    assert out.dtype == np.float32 and ints.tolist() == [[-2, 3]]


def test_in_place_softmax_of_rows_with_infinities_takes_the_careful_path():
    x = np.array([[np.inf, 1.0, np.inf], [-np.inf, 0.0, 0.0], [-np.inf, -np.inf, -np.inf]], np.float32)
    with np.errstate(invalid="ignore"):
        expected = activations.softmax(x.copy())
    np.testing.assert_array_equal(activations.apply_inplace(activations.softmax, x), expected)
    np.testing.assert_array_equal(activations.apply_inplace(activations.softmax, np.array([[np.inf, 0.0]])),
                                  [[1.0, 0.0]])


# -- convolutions: banded kernels, chunks, reused buffers ---------------------------
@pytest.fixture(params=[1, 2, 3, "widest"])
def forced_width(request, monkeypatch):
    """Force the tile width (capped at a divisor of the output width)."""
    wanted = request.param

    def width(output_width, *args):
        if wanted == "widest":
            return output_width
        return max(w for w in range(1, wanted + 1) if output_width % w == 0)

    monkeypatch.setattr(conv, "tile_width", width)
    return wanted


@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 3}, (2, 7, 8, 2)),
    ({"kernel_size": 3, "padding": "same"}, (3, 6, 6, 1)),
    ({"kernel_size": (2, 4), "strides": 2, "padding": "same"}, (2, 7, 7, 2)),
    ({"kernel_size": (3, 2), "strides": (2, 3)}, (2, 7, 11, 2)),
    ({"kernel_size": 3, "dilation_rate": 2}, (2, 7, 10, 2)),
    ({"kernel_size": 3, "dilation_rate": (1, 2), "padding": "same"}, (2, 6, 8, 2)),
    ({"kernel_size": 3, "groups": 2, "padding": "same"}, (2, 5, 6, 4)),
    ({"kernel_size": 3, "use_bias": False, "activation": "relu"}, (1, 5, 8, 2)),
])
def test_conv2d_at_every_tile_width_matches_plain_loops(forced_width, kwargs, shape):
    layer = Conv2D(filters=6, **kwargs)
    x = random_layer(layer, shape)
    out = layer(x)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    expected = conv2d_reference(x, layer.kernel.value, bias_of(layer), layer.strides, layer.padding,
                                layer.dilation_rate, layer.groups)
    if layer.activation is activations.relu:
        expected = np.maximum(expected, 0)
    np.testing.assert_allclose(out, expected, **TOLERANCE)


@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 3}, (2, 12, 3)),
    ({"kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (2, 12, 2)),
    ({"kernel_size": 2, "strides": 3, "padding": "same"}, (2, 13, 2)),
])
def test_conv1d_at_every_tile_width_matches_plain_loops(forced_width, kwargs, shape):
    layer = Conv1D(filters=4, **kwargs)
    x = random_layer(layer, shape)
    expected = conv1d_reference(x, layer.kernel.value, bias_of(layer), layer.strides[0], layer.padding,
                                layer.dilation_rate[0], layer.groups)
    np.testing.assert_allclose(layer(x), expected, **TOLERANCE)


@pytest.mark.parametrize("chunk_bytes", [1, 600, 5000, 1 << 18])
def test_conv_chunks_by_images_or_by_rows_give_the_same_values(monkeypatch, chunk_bytes):
    # 1 byte: one output row of one image per chunk; 600: a few rows;
    # 5000: a few images; 256 KiB: the whole batch.
    monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
    layer = Conv2D(3, 3, padding="same", activation="tanh")
    x = random_layer(layer, (5, 6, 7, 2))
    expected = np.tanh(conv2d_reference(x, layer.kernel.value, layer.bias.value, padding="same"))
    np.testing.assert_allclose(layer(x), expected, **TOLERANCE)


def test_conv_reused_buffers_serve_batches_of_any_size_and_dtype():
    layer = Conv2D(3, 3, padding="same")
    x = random_layer(layer, (7, 6, 6, 2))
    for rows in (7, 1, 3, 7, 0, 2):
        expected = conv2d_reference(x[:rows], layer.kernel.value, layer.bias.value, padding="same")
        np.testing.assert_allclose(layer(x[:rows]), expected.reshape((rows, 6, 6, 3)), **TOLERANCE)
    out = layer(x.astype(np.float64))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, conv2d_reference(x, layer.kernel.value, layer.bias.value, padding="same"),
                               **TOLERANCE)


def test_conv_takes_non_contiguous_and_integer_inputs():
    layer = Conv2D(2, 2)
    x = random_layer(layer, (2, 5, 5, 1))
    transposed = np.ascontiguousarray(x.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    assert not transposed.flags.c_contiguous
    expected = conv2d_reference(x, layer.kernel.value, layer.bias.value)
    np.testing.assert_allclose(layer(transposed), expected, **TOLERANCE)
    ints = np.arange(50).reshape(2, 5, 5, 1) % 3
    np.testing.assert_allclose(layer(ints), conv2d_reference(ints, layer.kernel.value, layer.bias.value),
                               **TOLERANCE)


def test_conv_from_several_threads_at_once():
    # Each thread convolves its own images, so a buffer shared by mistake
    # shows as another thread's values (off by O(1)). Each result is compared
    # with the same call (same rows, so the same shapes and chunks) made alone
    # beforehand, but not bit for bit: how BLAS splits a product over its own
    # threads when several callers run at once is its business. The outputs
    # are sums of 27 products of O(1) values: a reordered float32 sum moves
    # them by ~1e-6 absolute, so rtol 1e-5 with atol 1e-5.
    layer = Conv2D(4, 3, padding="same", activation="relu")
    random_layer(layer, (1, 10, 10, 3))
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((16, 10, 10, 3)).astype(np.float32) for _ in range(4)]
    # With the buffers shared by mistake, this failed in 40 runs out of 40
    # (with 30 calls a thread: 28 of 40).
    assert_threads_agree_with_calls_alone(layer, inputs, most_rows=16, calls=100)


def test_tile_width_cost_model_picks_bands_for_narrow_layers_only():
    assert conv.tile_width(28, (5, 5), 1, 6, 1, 1, 4) == 14      # LeNet, first layer
    assert conv.tile_width(10, (5, 5), 6, 16, 1, 1, 4) == 5      # LeNet, second layer
    assert conv.tile_width(56, (3, 3), 64, 64, 1, 1, 4) == 1     # wide enough for plain im2col
    assert conv.tile_width(7, (3, 3), 512, 512, 1, 1, 4) == 1


def test_banded_kernel_matrix_layout():
    kernel = np.arange(1, 1 + 1 * 2 * 1 * 1, dtype=np.float32).reshape(1, 2, 1, 1)  # [1, 2]
    matrix = conv.kernel_matrix(kernel, np.array([9.0], np.float32), 3, 1, 1, np.float32)
    # span 4 input columns, 3 outputs, then the bias row.
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [2, 1, 0], [0, 2, 1], [0, 0, 2], [9, 9, 9]])


# -- LSTM: the fused step, by rows and by gate blocks --------------------------------
@pytest.mark.parametrize("batch", [1, 3, 4, 9])
@pytest.mark.parametrize("go_backwards, return_sequences", [(False, False), (True, True), (False, True)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_lstm_fused_step_matches_the_cell_in_both_layouts(batch, go_backwards, return_sequences, use_bias):
    rng = np.random.default_rng(batch)
    layer = built_layer(LSTM(5, go_backwards=go_backwards, return_sequences=return_sequences, use_bias=use_bias),
                        3, rng)
    x = rng.standard_normal((batch, 7, 3)).astype(np.float32)
    out = layer(x)
    expected = run_reference(lstm_cell(float64_weights(layer)), x, go_backwards, return_sequences)
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_lstm_fused_step_on_empty_inputs():
    layer = built_layer(LSTM(4, return_sequences=True), 2, np.random.default_rng(0))
    assert layer(np.zeros((0, 3, 2), np.float32)).shape == (0, 3, 4)
    assert layer(np.zeros((5, 0, 2), np.float32)).shape == (5, 0, 4)
    layer.return_sequences = False
    np.testing.assert_array_equal(layer(np.zeros((5, 0, 2), np.float32)), np.zeros((5, 4)))


def test_lstm_with_other_activations_takes_the_general_path():
    rng = np.random.default_rng(4)
    layer = built_layer(LSTM(3, activation="relu", recurrent_activation="hard_sigmoid"), 2, rng)
    x = rng.standard_normal((5, 4, 2)).astype(np.float32)
    expected = run_reference(lstm_cell(float64_weights(layer), "relu", "hard_sigmoid"), x)
    np.testing.assert_allclose(layer(x), expected, rtol=RTOL, atol=ATOL)


# -- Dense: the transposed product ----------------------------------------------------
@pytest.mark.parametrize("rows", [1, 2, 31, 32, 33, 200])
@pytest.mark.parametrize("order", ["C", "F"])
def test_dense_gives_the_same_values_whichever_product_it_picks(monkeypatch, rows, order):
    monkeypatch.setattr(core, "TRANSPOSED_MIN_SIZE", 64)
    layer = Dense(100, activation="relu")
    layer.build_for((None, 20))
    rng = np.random.default_rng(rows)
    for weight in layer.weights:
        weight.assign(rng.standard_normal(weight.shape).astype(np.float32))
    x = np.asarray(rng.standard_normal((rows, 20)).astype(np.float32), order=order)
    expected = np.maximum(x.astype(np.float64) @ layer.kernel.value + layer.bias.value, 0)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape == (rows, 100)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_dense_on_rank_3_input_and_float64():
    layer = Dense(4, activation="sigmoid")
    layer.build_for((None, 3, 2))
    rng = np.random.default_rng(1)
    for weight in layer.weights:
        weight.assign(rng.standard_normal(weight.shape).astype(np.float32))
    x = rng.standard_normal((5, 3, 2))
    out = layer(x)
    assert out.dtype == np.float64
    expected = 1 / (1 + np.exp(-(x @ layer.kernel.value.astype(np.float64) + layer.bias.value)))
    np.testing.assert_allclose(out, expected, rtol=1e-6)
