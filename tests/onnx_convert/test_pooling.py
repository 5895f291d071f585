"""Pooling layers exported to ONNX compute what layerspec computes."""

from __future__ import annotations

import numpy as np
import pytest

from layerspec.onnx_builder import MAX_OPSET
from tests.onnx_helpers import assert_onnx_matches, model_of, one_layer, onnx_output

#: Batch sizes and dynamic lengths covering every remainder mod 2 and 3.
LENGTHS = dict(batches=(2, 1, 3, 1), lengths=(6, 7, 8, 3))






@pytest.mark.parametrize("layer", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool_size,strides", [(2, "null"), (3, "null"), (3, 1), (2, 3), (3, 2), (1, 2)])
@pytest.mark.parametrize("size", [7, "null"])
def test_pooling1d_every_padding_and_stride(layer, padding, pool_size, strides, size):
    spec = one_layer(f"[{size}, 3]", layer, pool_size=pool_size, strides=strides, padding=padding)
    assert_onnx_matches(spec, **LENGTHS)


@pytest.mark.parametrize("layer", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("shape", ["[7, 8, 3]", "[null, 8, 3]", "[null, null, 2]"])
def test_pooling2d_uneven_windows_and_strides(layer, padding, shape):
    spec = one_layer(shape, layer, pool_size="[3, 2]", strides="[2, 3]", padding=padding)
    assert_onnx_matches(spec, **LENGTHS)


@pytest.mark.parametrize("layer", ["MaxPooling2D", "AveragePooling2D"])
def test_pooling2d_default_window_at_max_opset(layer):
    spec = one_layer("[7, 5, 4]", layer, pool_size=2, padding="same")
    assert_onnx_matches(spec)
    assert_onnx_matches(spec, opset=MAX_OPSET)


@pytest.mark.parametrize("size", [3, "null"])
def test_average_same_excludes_the_pad_exactly(size):
    # [1, 2, 3], window 2, 'same': pads one cell after; the last window is [3].
    model = model_of(one_layer(f"[{size}, 1]", "AveragePooling1D", pool_size=2, padding="same"))
    x = np.array([1, 2, 3], np.float32).reshape(1, 3, 1)
    np.testing.assert_array_equal(onnx_output(model, x)[0, :, 0], [1.5, 3])


@pytest.mark.parametrize("size", [3, "null"])
def test_max_same_pad_never_wins(size):
    model = model_of(one_layer(f"[{size}, 1]", "MaxPooling1D", pool_size=2, padding="same"))
    x = np.array([-1, -2, -3], np.float32).reshape(1, 3, 1)
    np.testing.assert_array_equal(onnx_output(model, x)[0, :, 0], [-1, -3])


@pytest.mark.parametrize("layer", ["GlobalAveragePooling1D", "GlobalMaxPooling1D"])
@pytest.mark.parametrize("keepdims", ["false", "true"])
def test_global_pooling1d(layer, keepdims):
    spec = one_layer("[null, 3]", layer, keepdims=keepdims)
    assert_onnx_matches(spec)
    assert_onnx_matches(spec, opset=MAX_OPSET)


@pytest.mark.parametrize("layer", ["GlobalAveragePooling2D", "GlobalMaxPooling2D"])
@pytest.mark.parametrize("keepdims", ["false", "true"])
def test_global_pooling2d(layer, keepdims):
    spec = one_layer("[5, 4, 3]", layer, keepdims=keepdims)
    assert_onnx_matches(spec)
    assert_onnx_matches(spec, opset=MAX_OPSET)


MASKED = """
inputs: {ids: {shape: [null], dtype: int64}}
layers:
  - {type: Embedding, input_dim: 6, output_dim: 3, mask_zero: true}
  - {type: GlobalAveragePooling1D, keepdims: %s}
"""


@pytest.mark.parametrize("keepdims", ["false", "true"])
def test_masked_global_average_averages_the_unmasked_steps(keepdims):
    model = model_of(MASKED % keepdims)
    # Row 0 keeps 2 steps, row 1 all 4, row 2 none (NaN, as Keras gives).
    ids = np.array([[1, 0, 3, 0], [1, 2, 3, 4], [0, 0, 0, 0]], np.int64)
    got = onnx_output(model, ids)
    want = model.predict(ids)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert np.isnan(got[2]).all() and not np.isnan(got[:2]).any()
    table = model.get_weights()["embedding/embeddings"]
    np.testing.assert_allclose(got[0].reshape(-1), (table[1] + table[3]) / 2, rtol=1e-6)
    assert_onnx_matches(model, opset=MAX_OPSET)
