"""The convolution and pooling kernels of issue 19 against plain loops.

Cell-major im2col (one input channel), the ReLU against a kept zero
matrix, chunks counted with their output, im2col rows aligned to cache
lines, and pooling folded a few images at a time. Each fast path is forced
on and off and compared with the plain-loop references of test_conv.py and
test_pooling.py; differently chunked results are compared with a
tolerance, never bit for bit.
"""


import numpy as np
import pytest

from layerspec.layers import conv, windows
from layerspec.layers.conv import Conv1D, Conv2D
from layerspec.layers.pooling import AveragePooling2D, MaxPooling1D, MaxPooling2D
from tests.layers.concurrency import assert_threads_agree_with_calls_alone
from tests.layers.test_conv import TOLERANCE, bias_of, conv1d_reference, conv2d_reference, random_layer
from tests.layers.test_pooling import pool2d_reference, random_input


def activated(layer, expected):
    return np.maximum(expected, 0) if layer.activation.__name__ == "relu" else expected


@pytest.fixture(params=[True, False], ids=["cell-major", "window-by-window"])
def cells(request, monkeypatch):
    """Plain im2col (tile width 1), copied cell-major or window by window."""
    monkeypatch.setattr(conv, "tile_width", lambda *args: 1)
    monkeypatch.setattr(conv, "cell_major", lambda *args: request.param)
    return request.param


@pytest.fixture
def force_cells(monkeypatch):
    monkeypatch.setattr(conv, "tile_width", lambda *args: 1)
    monkeypatch.setattr(conv, "cell_major", lambda *args: True)


# -- cell-major im2col -------------------------------------------------------------
@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 3, "activation": "relu"}, (3, 9, 8, 1)),
    ({"kernel_size": 5, "padding": "same", "activation": "tanh"}, (2, 7, 9, 1)),
    ({"kernel_size": (2, 3), "strides": 2, "padding": "same"}, (2, 7, 7, 1)),
    ({"kernel_size": (3, 2), "strides": (2, 3)}, (2, 8, 11, 1)),
    ({"kernel_size": 3, "dilation_rate": (2, 3), "padding": "same"}, (2, 8, 9, 1)),
    ({"kernel_size": 3, "padding": "same", "use_bias": False, "activation": "relu"}, (2, 6, 6, 3)),
    ({"kernel_size": 3, "groups": 2}, (2, 6, 7, 4)),
])
def test_conv2d_cell_major_and_window_copies_match_plain_loops(cells, kwargs, shape):
    layer = Conv2D(filters=6, **kwargs)
    x = random_layer(layer, shape)
    out = layer(x)
    assert layer._plan(shape[1:3], shape[3], 4).cells is cells
    assert out.dtype == np.float32 and out.flags.c_contiguous
    expected = conv2d_reference(x, layer.kernel.value, bias_of(layer), layer.strides, layer.padding,
                                layer.dilation_rate, layer.groups)
    expected = np.tanh(expected) if layer.activation.__name__ == "tanh" else activated(layer, expected)
    np.testing.assert_allclose(out, expected, **TOLERANCE)


@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 3, "activation": "relu"}, (2, 12, 1)),
    ({"kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (2, 12, 1)),
    ({"kernel_size": 2, "strides": 3, "padding": "same"}, (3, 13, 2)),
])
def test_conv1d_cell_major_and_window_copies_match_plain_loops(cells, kwargs, shape):
    layer = Conv1D(filters=4, **kwargs)
    x = random_layer(layer, shape)
    expected = conv1d_reference(x, layer.kernel.value, bias_of(layer), layer.strides[0], layer.padding,
                                layer.dilation_rate[0], layer.groups)
    np.testing.assert_allclose(layer(x), activated(layer, expected), **TOLERANCE)


@pytest.mark.parametrize("chunk_bytes", [1, 700, 6000, 1 << 18])
def test_cell_major_chunks_by_images_or_by_rows_give_the_same_values(monkeypatch, force_cells, chunk_bytes):
    # 1 byte: one output row of one image per chunk; 700: a few rows;
    # 6000: a few images; 256 KiB: the whole batch.
    monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
    layer = Conv2D(5, 3, padding="same", activation="relu")
    x = random_layer(layer, (5, 7, 9, 1))
    plan = layer._plan((7, 9), 1, 4)
    assert plan.cells
    expected = np.maximum(conv2d_reference(x, layer.kernel.value, layer.bias.value, padding="same"), 0)
    for rows in (5, 1, 3):  # the kept buffers serve smaller batches too
        np.testing.assert_allclose(layer(x[:rows]), expected[:rows], **TOLERANCE)


def test_cell_major_keeps_infinities_and_nan_where_they_belong(force_cells):
    # No structural zeros in the plain kernel matrix, so no finite check is
    # needed: an inf or NaN reaches only the outputs whose windows hold it.
    layer = Conv2D(4, 3, activation="relu")
    x = random_layer(layer, (2, 8, 8, 1))
    assert layer._plan((8, 8), 1, 4).cells
    x[0, 1, 1, 0], x[1, 6, 5, 0], x[1, 0, 7, 0] = np.inf, -np.inf, np.nan
    with np.errstate(invalid="ignore", over="ignore"):
        out = layer(x)
        expected = np.maximum(conv2d_reference(x.astype(np.float64), layer.kernel.value.astype(np.float64),
                                               layer.bias.value.astype(np.float64)), 0)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))
    finite = np.isfinite(expected)
    assert (~finite).any() and finite.any()
    np.testing.assert_allclose(out[finite], expected[finite], **TOLERANCE)


def test_relu_against_zeros_keeps_nan_as_the_plain_relu_does():
    layer = Conv2D(3, 1, use_bias=False, activation="relu")
    random_layer(layer, (1, 2, 2, 1))
    layer.kernel.assign(np.array([[[[1.0, -1.0, 0.5]]]], np.float32))
    x = np.array([[[[2.0], [np.nan]], [[-3.0], [np.inf]]]], np.float32)
    with np.errstate(invalid="ignore"):
        out = layer(x)
    expected = np.maximum(x * np.array([1.0, -1.0, 0.5], np.float32), 0)
    np.testing.assert_array_equal(out, expected)


def test_cell_major_from_several_threads_at_once(force_cells):
    # Each thread has its own im2col matrix and zero matrix; one shared by
    # mistake shows as another thread's values (off by O(1)).
    layer = Conv2D(8, 3, activation="relu")
    random_layer(layer, (1, 12, 12, 1))
    assert layer._plan((12, 12), 1, 4).cells
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((9, 12, 12, 1)).astype(np.float32) for _ in range(4)]
    assert_threads_agree_with_calls_alone(layer, inputs, most_rows=9, calls=60)


def test_cost_model_picks_cell_major_for_one_channel_only_where_it_pays():
    # The MNIST convnet's first layer: plain, cell-major (banded did 5x the work).
    assert conv.tile_width(26, (3, 3), 1, 32, 1, 1, 4) == 1
    assert conv.cell_major(26, (3, 3), 1, 1, 1)
    # LeNet's first layer keeps its bands; many channels copy window by window.
    assert conv.tile_width(28, (5, 5), 1, 6, 1, 1, 4) == 14
    assert not conv.cell_major(11, (3, 3), 32, 1, 1)
    assert not conv.cell_major(13, (3, 3), 1, 2, 1)  # strided columns are no runs
    layer = Conv2D(32, 3, activation="relu")
    random_layer(layer, (1, 28, 28, 1))
    plan = layer._plan((28, 28), 1, 4)
    assert plan.cells and plan.width == 1
    assert plan.images == 4  # im2col and output of four images fill 2 * CHUNK_BYTES


def test_aligned_im2col_rows_start_on_cache_lines():
    matrix = conv.aligned_rows(5, 289, np.float32)
    assert matrix.shape == (5, 289) and matrix.strides == (304 * 4, 4)
    assert matrix.ctypes.data % 64 == 0
    matrix64 = conv.aligned_rows(3, 9, np.float64)
    assert matrix64.shape == (3, 9) and matrix64.strides == (16 * 8, 8) and matrix64.ctypes.data % 64 == 0


def test_wide_layer_with_aligned_rows_matches_plain_loops():
    layer = Conv2D(64, 3, activation="relu")
    x = random_layer(layer, (3, 9, 9, 20))
    plan = layer._plan((9, 9), 20, 4)
    assert not plan.cells and plan.width == 1
    expected = np.maximum(conv2d_reference(x, layer.kernel.value, layer.bias.value), 0)
    np.testing.assert_allclose(layer(x), expected, rtol=5e-5, atol=5e-5)
    columns, _ = plan.buffers(np.dtype(np.float32), True)
    assert columns.ctypes.data % 64 == 0 and columns.strides[0] % 64 == 0


# -- pooling in chunks of images ---------------------------------------------------
@pytest.mark.parametrize("chunk_bytes", [1, 500, 5000, 1 << 20])
@pytest.mark.parametrize("layer, padding", [(MaxPooling2D(2), "valid"), (MaxPooling2D(3, strides=2, padding="same"),
                                                                         "same"),
                                            (AveragePooling2D(2), "valid"),
                                            (AveragePooling2D(3, strides=2, padding="same"), "same"),
                                            (MaxPooling2D((1, 2)), "valid")])
def test_pooling_in_chunks_of_images_matches_plain_loops(monkeypatch, chunk_bytes, layer, padding):
    monkeypatch.setattr(windows, "POOL_CHUNK_BYTES", chunk_bytes)
    x = random_input((5, 7, 8, 3))
    x[1, 2, 3, 0], x[3, 6, 7, 2], x[4, 0, 0, 1] = np.inf, -np.inf, np.nan
    mode = "max" if isinstance(layer, MaxPooling2D) else "average"
    with np.errstate(invalid="ignore"):
        out = layer(x)
        expected = pool2d_reference(x.astype(np.float64), layer.pool_size, layer.strides, padding, mode)
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], **TOLERANCE)


def test_pooling_of_an_empty_batch_and_a_one_cell_window():
    assert MaxPooling2D(2)(np.zeros((0, 4, 4, 2), np.float32)).shape == (0, 2, 2, 2)
    x = random_input((2, 5, 3))
    np.testing.assert_array_equal(MaxPooling1D(1)(x), x)
    np.testing.assert_array_equal(MaxPooling1D(1, strides=2)(x), x[:, ::2])
