"""Volumetric (3D) layers exported to ONNX compute what layerspec computes."""

from __future__ import annotations

import numpy as np
import pytest

from layerspec.onnx_builder import MAX_OPSET
from tests.onnx_helpers import assert_onnx_matches, model_of, one_layer, onnx_output

LENGTHS = dict(batches=(2, 1, 1), lengths=(5, 6, 4))






@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), ("[2, 1, 3]", 1), (1, "[2, 1, 1]")])
def test_conv3d_on_odd_sizes(padding, strides, dilation):
    spec = one_layer("[5, 6, 7, 2]", "Conv3D", filters=3, kernel_size="[3, 2, 3]", strides=strides,
                     dilation_rate=dilation, padding=padding, activation="relu")
    assert_onnx_matches(spec)


def test_conv3d_groups_no_bias_dynamic_sizes_at_max_opset():
    spec = one_layer("[null, 4, null, 4]", "Conv3D", filters=6, kernel_size=3, strides=2, padding="same",
                     groups=2, use_bias="false")
    export = assert_onnx_matches(spec, **LENGTHS)
    assert export.shapes["conv3d"] == (None, None, 2, None, 6)
    assert_onnx_matches(spec, opset=MAX_OPSET)


@pytest.mark.parametrize("layer", ["MaxPooling3D", "AveragePooling3D"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("shape", ["[5, 6, 7, 2]", "[null, 6, null, 2]"])
def test_pooling3d_uneven_windows_and_strides(layer, padding, shape):
    spec = one_layer(shape, layer, pool_size="[2, 3, 2]", strides="[2, 2, 3]", padding=padding)
    assert_onnx_matches(spec, **LENGTHS)


@pytest.mark.parametrize("layer", ["MaxPooling3D", "AveragePooling3D"])
def test_pooling3d_default_strides_at_max_opset(layer):
    spec = one_layer("[5, 4, 3, 2]", layer, pool_size=2, padding="same")
    assert_onnx_matches(spec)
    assert_onnx_matches(spec, opset=MAX_OPSET)


@pytest.mark.parametrize("layer", ["GlobalAveragePooling3D", "GlobalMaxPooling3D"])
@pytest.mark.parametrize("keepdims", ["false", "true"])
def test_global_pooling3d(layer, keepdims):
    spec = one_layer("[3, null, 4, 2]", layer, keepdims=keepdims)
    assert_onnx_matches(spec, **LENGTHS)
    assert_onnx_matches(spec, opset=MAX_OPSET)


@pytest.mark.parametrize("padding", [1, "[1, 0, 2]", "[[0, 2], [1, 0], [3, 1]]"])
@pytest.mark.parametrize("shape", ["[2, 3, 4, 2]", "[null, 3, null, 2]"])
def test_zero_padding3d(padding, shape):
    assert_onnx_matches(one_layer(shape, "ZeroPadding3D", padding=padding), **LENGTHS)


@pytest.mark.parametrize("cropping", [1, "[1, 0, 2]", "[[0, 2], [1, 0], [2, 1]]"])
@pytest.mark.parametrize("shape", ["[5, 6, 7, 2]", "[null, 6, null, 2]"])
def test_cropping3d(cropping, shape):
    assert_onnx_matches(one_layer(shape, "Cropping3D", cropping=cropping), batches=(2, 1), lengths=(5, 6))


@pytest.mark.parametrize("size", ["[2, 1, 3]", 2])
@pytest.mark.parametrize("shape", ["[2, 3, 4, 2]", "[null, 3, 4, 2]", "[null, 3, null, 2]"])
def test_upsampling3d(size, shape):
    export = assert_onnx_matches(one_layer(shape, "UpSampling3D", size=size), **LENGTHS)
    assert export.shapes["up_sampling3d"][2] == (6 if size == 2 else 3)


def test_upsampling3d_repeats_exactly():
    model = model_of(one_layer("[1, 1, 3, 1]", "UpSampling3D", size="[2, 1, 2]"))
    x = np.array([1, 2, 3], np.float32).reshape(1, 1, 1, 3, 1)
    got = onnx_output(model, x)
    np.testing.assert_array_equal(got[0, :, 0, :, 0], [[1, 1, 2, 2, 3, 3]] * 2)


def test_a_volume_pipeline_at_max_opset():
    spec = """
    input: [6, 6, 6, 2]
    layers:
      - {type: ZeroPadding3D}
      - {type: Conv3D, filters: 4, kernel_size: 3, activation: tanh}
      - {type: MaxPooling3D, pool_size: 2}
      - {type: UpSampling3D}
      - {type: Cropping3D, cropping: [[1, 0], 0, [0, 1]]}
      - {type: AveragePooling3D, pool_size: 3, padding: same}
      - {type: GlobalAveragePooling3D}
    """
    assert_onnx_matches(spec)
    assert assert_onnx_matches(spec, opset=MAX_OPSET).opset == MAX_OPSET
