"""A convolution and the pooling after it, run as one (``Conv2D.call_pooled``).

The fused path orders the product by cell of the pool window (im2col rows,
and a banded kernel matrix's columns) and pools whole blocks of it,
skipping outputs no window covers; before a max pooling a ReLU runs on the
pooled values. It is checked against the plain-loop references of
test_conv.py and test_pooling.py, against the two calls made one after the
other (to float32 rounding: the products have other row counts, sums
another order), and the cases it must leave to the two calls are checked
to take them.
"""

import numpy as np
import pytest

from layerspec import activations
from layerspec.layers import conv
from layerspec.layers.conv import Conv1D, Conv2D
from layerspec.layers.pooling import AveragePooling1D, AveragePooling2D, MaxPooling1D, MaxPooling2D
from layerspec.layers.volumetric import Conv3D, MaxPooling3D
from tests.layers.concurrency import assert_threads_agree_with_calls_alone
from tests.layers.test_conv import TOLERANCE, bias_of, conv1d_reference, conv2d_reference, random_layer
from tests.layers.test_pooling import pool1d_reference, pool2d_reference


REFERENCE_ACTIVATIONS = {"relu": lambda v: np.maximum(v, 0), "tanh": np.tanh, "linear": lambda v: v,
                         "sigmoid": lambda v: 1 / (1 + np.exp(-v))}


def reference_2d(layer, pool, x):
    expected = conv2d_reference(x, layer.kernel.value, bias_of(layer), layer.strides, layer.padding,
                                layer.dilation_rate, layer.groups)
    expected = REFERENCE_ACTIVATIONS[layer.activation.__name__](expected)
    return pool2d_reference(expected, pool.pool_size, pool.strides, pool.padding, pool.mode)


def fused(layer, pool, x):
    """The fused call, asserting it really fused (no whole convolution output).

    Each image is made a chunk of its own, so a small batch takes several
    chunks, as a big one would: with one chunk only a ReLU (or no
    activation) before a max pooling fuses (see the test below).
    """
    for banded in (True, False):
        layer._plan(x.shape[1:-1], x.shape[-1], x.dtype.itemsize, banded).images = 1
    calls = []
    original = layer._convolve
    layer._convolve = lambda *args: calls.append(args) or original(*args)
    try:
        out = layer.call_pooled(x, pool)
    finally:
        del layer._convolve
    assert not calls, "took the two calls"
    return out


@pytest.fixture(params=[True, False], ids=["cell-major", "window-by-window"])
def cells(request, monkeypatch):
    monkeypatch.setattr(conv, "tile_width", lambda *args: 1)
    monkeypatch.setattr(conv, "cell_major", lambda *args: request.param)
    return request.param


@pytest.mark.parametrize("kwargs, pool, shape", [
    ({"kernel_size": 3, "activation": "relu"}, MaxPooling2D(2), (3, 10, 10, 1)),           # the MNIST convnet's
    ({"kernel_size": 3, "activation": "relu"}, MaxPooling2D(2), (2, 11, 9, 3)),            # odd: last row dropped
    ({"kernel_size": (2, 3), "padding": "same"}, MaxPooling2D((2, 3)), (2, 8, 9, 2)),
    ({"kernel_size": 3, "strides": 2, "use_bias": False, "activation": "relu"}, MaxPooling2D(3), (2, 15, 13, 1)),
    ({"kernel_size": 3, "dilation_rate": 2, "padding": "same"}, MaxPooling2D(2), (2, 9, 9, 2)),
    ({"kernel_size": 3, "groups": 2, "activation": "relu"}, MaxPooling2D(2), (2, 8, 8, 4)),
    ({"kernel_size": 1}, MaxPooling2D(1), (2, 5, 4, 3)),                                   # a one-cell window
    ({"kernel_size": 3, "activation": "tanh"}, MaxPooling2D(2), (2, 9, 9, 2)),             # activated, then pooled
    ({"kernel_size": 3, "activation": "tanh"}, AveragePooling2D(2), (2, 10, 10, 1)),
    ({"kernel_size": (2, 3), "padding": "same", "activation": "sigmoid"}, AveragePooling2D((3, 2)), (2, 9, 8, 2)),
    ({"kernel_size": 3, "activation": "relu"}, AveragePooling2D(2), (3, 11, 9, 3)),
])
def test_fused_conv2d_and_pooling_match_plain_loops(cells, kwargs, pool, shape):
    layer = Conv2D(filters=6, **kwargs)
    x = random_layer(layer, shape)
    out = fused(layer, pool, x)
    expected = reference_2d(layer, pool, x)
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **TOLERANCE)
    np.testing.assert_allclose(out, pool(layer(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs, pool, shape", [
    ({"kernel_size": 3, "activation": "relu"}, MaxPooling1D(2), (3, 13, 1)),
    ({"kernel_size": 2, "padding": "causal", "dilation_rate": 2}, MaxPooling1D(3), (2, 14, 3)),
    ({"kernel_size": 3, "activation": "tanh"}, AveragePooling1D(2), (2, 12, 2)),
])
def test_fused_conv1d_and_pooling_match_plain_loops(cells, kwargs, pool, shape):
    layer = Conv1D(filters=4, **kwargs)
    x = random_layer(layer, shape)
    out = fused(layer, pool, x)
    expected = conv1d_reference(x, layer.kernel.value, bias_of(layer), layer.strides[0], layer.padding,
                                layer.dilation_rate[0], layer.groups)
    expected = REFERENCE_ACTIVATIONS[layer.activation.__name__](expected)
    expected = pool1d_reference(expected, pool.pool_size[0], pool.strides[0], pool.padding, pool.mode)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **TOLERANCE)


@pytest.mark.parametrize("chunk_bytes", [3000, 20000, 1 << 18])
def test_chunks_of_a_few_images_give_the_same_values(monkeypatch, cells, chunk_bytes):
    monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
    layer, pool = Conv2D(5, 3, activation="relu"), MaxPooling2D(2)
    x = random_layer(layer, (7, 9, 8, 1))
    expected = reference_2d(layer, pool, x)
    for rows in (7, 1, 4):  # the kept buffers serve smaller batches too
        np.testing.assert_allclose(fused(layer, pool, x[:rows]), expected[:rows], **TOLERANCE)


def test_infinities_and_nan_land_where_the_two_calls_put_them(cells):
    layer, pool = Conv2D(4, 3, activation="relu"), MaxPooling2D(2)
    x = random_layer(layer, (2, 9, 9, 1))
    x[0, 1, 1, 0], x[1, 6, 5, 0], x[1, 0, 7, 0] = np.inf, -np.inf, np.nan
    with np.errstate(invalid="ignore", over="ignore"):
        out, expected = fused(layer, pool, x), pool(layer(x))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))
    assert np.isnan(out).any() and np.isinf(out).any()
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer, pool", [
    (Conv2D(4, 3, activation="relu"), MaxPooling2D(3, strides=2)),        # overlapping windows
    (Conv2D(4, 3, activation="relu"), MaxPooling2D(2, padding="same")),   # a pooling that pads (9 -> 7 is odd)
    (Conv2D(4, 3), AveragePooling2D(2, strides=1)),
])
def test_what_cannot_be_fused_takes_the_two_calls(cells, layer, pool):
    x = random_layer(layer, (2, 9, 9, 2))
    assert layer.fused_with(pool) is not None
    np.testing.assert_array_equal(layer.call_pooled(x, pool), pool(layer(x)))


def test_a_batch_of_one_chunk_fuses_only_what_can_be_activated_after_the_pool(cells):
    # One chunk's output stays in cache anyway: only pooling before the
    # activation saves anything then.
    x = random_layer(Conv2D(4, 3, activation="tanh"), (2, 9, 9, 1))
    for activation, pool, fuses in [("relu", MaxPooling2D(2), True), (None, MaxPooling2D(2), True),
                                    ("tanh", MaxPooling2D(2), False), ("relu", AveragePooling2D(2), False)]:
        layer = Conv2D(4, 3, activation=activation)
        random_layer(layer, (2, 9, 9, 1))
        assert layer._plan((9, 9), 1, 4).images >= 2
        assert (layer._pooling(layer._plan((9, 9), 1, 4), pool, 2, np.dtype(np.float32)) is not None) is fuses
        np.testing.assert_allclose(layer.call_pooled(x, pool), pool(layer(x)), rtol=1e-6, atol=1e-6)


def test_a_pool_larger_than_the_convolution_output_gives_what_the_two_calls_give():
    # Nothing: a model refuses such an input before any layer runs (test_graph.py).
    layer, pool = Conv2D(4, 3, activation="relu"), MaxPooling2D(8)
    x = random_layer(layer, (2, 9, 9, 2))
    assert layer.call_pooled(x, pool).shape == pool.call(layer.call(x)).shape == (2, 0, 0, 4)


@pytest.mark.parametrize("pool", [AveragePooling2D(2), MaxPooling2D(2), MaxPooling2D((2, 7))])
def test_a_banded_layer_orders_its_kernel_columns_by_pool_cell(pool):
    # LeNet's first layer is banded: 14 output columns a tile, 7 windows of 2.
    layer = Conv2D(6, 5, padding="same", activation="tanh")
    x = random_layer(layer, (3, 28, 28, 1))
    assert layer._plan((28, 28), 1, 4).width == 14
    out = fused(layer, pool, x)
    np.testing.assert_allclose(out, reference_2d(layer, pool, x), **TOLERANCE)
    np.testing.assert_allclose(out, pool(layer(x)), rtol=1e-6, atol=1e-6)


def test_a_banded_tile_splitting_windows_and_images_chunked_by_rows_take_the_two_calls(monkeypatch):
    # LeNet's second layer is banded 5 columns a tile: a 2-wide window would straddle tiles.
    layer, pool = Conv2D(16, 5, activation="tanh"), AveragePooling2D(2)
    x = random_layer(layer, (2, 14, 14, 6))
    assert layer._plan((14, 14), 6, 4).width == 5
    np.testing.assert_array_equal(layer.call_pooled(x, pool), pool(layer(x)))
    monkeypatch.setattr(conv, "CHUNK_BYTES", 1)  # one output row of one image per chunk
    narrow = Conv2D(6, 3, activation="relu")
    x = random_layer(narrow, (2, 9, 9, 3))
    assert narrow._plan((9, 9), 3, 4).rows < 7
    np.testing.assert_array_equal(narrow.call_pooled(x, MaxPooling2D(2)), MaxPooling2D(2)(narrow(x)))


def test_an_infinite_input_to_a_banded_layer_takes_plain_im2col_and_still_fuses():
    # The band's structural zeros would make 0 * inf = NaN of outputs that never see the inf.
    layer, pool = Conv2D(6, 5, padding="same"), AveragePooling2D(2)
    x = random_layer(layer, (2, 28, 28, 1))
    x[1, 3, 4, 0] = np.inf
    with np.errstate(invalid="ignore", over="ignore"):
        out, expected = fused(layer, pool, x), pool(layer(x))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))  # +inf and -inf meet in a window
    assert np.isfinite(out[0]).all() and not np.isfinite(out[1, :3, 1:4]).any() and np.isfinite(out[1, 4:]).all()
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-6, atol=1e-6)


def test_only_a_pooling_of_the_same_rank_after_a_plain_convolution_is_offered():
    layer = Conv2D(4, 3, activation="relu")
    assert layer.fused_with(MaxPooling2D(2)) is not None
    assert layer.fused_with(AveragePooling2D(2)) is not None
    assert Conv2D(4, 3, activation="tanh").fused_with(MaxPooling2D(2)) is not None
    assert layer.fused_with(MaxPooling1D(2)) is None
    assert Conv1D(4, 3).fused_with(MaxPooling1D(2)) is not None
    assert Conv2D(4, 3, activation="glu").fused_with(MaxPooling2D(2)) is None  # halves the channels: whole output

    class Shifted(Conv2D):  # a user's subclass may compute something else
        def call(self, inputs):
            return super().call(inputs) + 1

    class Minimum(MaxPooling2D):
        def call(self, inputs):
            return -super().call(-inputs)

    assert Shifted(4, 3).fused_with(MaxPooling2D(2)) is None
    assert layer.fused_with(Minimum(2)) is None
    assert Conv3D(4, 3).fused_with(MaxPooling3D(2)) is None  # its own call


def test_an_activation_set_after_the_offer_is_the_one_applied():
    layer, pool = Conv2D(4, 3, activation="relu"), MaxPooling2D(2)
    x = random_layer(layer, (2, 8, 8, 1))
    fused_call = layer.fused_with(pool)
    layer.activation = activations.tanh
    np.testing.assert_allclose(fused_call(x), pool(layer(x)), rtol=1e-6, atol=1e-6)
    layer.activation = activations.get("glu")  # needs the whole output: the two calls
    np.testing.assert_array_equal(fused_call(x), pool(layer(x)))


def test_an_empty_batch():
    layer, pool = Conv2D(4, 3, activation="relu"), MaxPooling2D(2)
    random_layer(layer, (1, 8, 8, 1))
    assert layer.call_pooled(np.zeros((0, 8, 8, 1), np.float32), pool).shape == (0, 3, 3, 4)


def test_from_several_threads_at_once(cells):
    # Each thread has its own im2col matrix and product buffer.
    layer, pool = Conv2D(8, 3, activation="relu"), MaxPooling2D(2)
    random_layer(layer, (1, 12, 12, 2))

    class Fused:
        def __call__(self, x):
            return layer.call_pooled(x, pool)

    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((9, 12, 12, 2)).astype(np.float32) for _ in range(4)]
    assert_threads_agree_with_calls_alone(Fused(), inputs, most_rows=9, calls=40)


@pytest.mark.parametrize("activation, pool", [("relu", MaxPooling2D(2)), ("tanh", AveragePooling2D(2))])
def test_a_float64_layer_pools_in_float64(activation, pool):
    layer = Conv2D(4, 3, activation=activation)
    x = random_layer(layer, (5, 10, 10, 2)).astype(np.float64)
    for weight in layer.weights:
        weight.assign(weight.value.astype(np.float64))
    out = fused(layer, pool, x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, reference_2d(layer, pool, x), rtol=1e-12, atol=1e-12)
