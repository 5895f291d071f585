"""Dense, Activation and Dropout: shapes, values against plain loops."""

import numpy as np
import pytest

from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers.core import Activation, Dense, Dropout


def dense_reference(x, kernel, bias):
    """Plain loops: out[..., j] = sum_i x[..., i] * kernel[i, j] + bias[j]."""
    flat = x.reshape(-1, x.shape[-1])
    out = np.zeros((flat.shape[0], kernel.shape[1]))
    for row in range(flat.shape[0]):
        for j in range(kernel.shape[1]):
            total = bias[j]
            for i in range(kernel.shape[0]):
                total += float(flat[row, i]) * float(kernel[i, j])
            out[row, j] = total
    return out.reshape(x.shape[:-1] + (kernel.shape[1],))


@pytest.mark.parametrize("shape", [(3, 4), (2, 5, 4), (2, 3, 2, 4)])
def test_dense_applies_to_the_last_axis_of_any_rank(shape):
    rng = np.random.default_rng(0)
    layer = Dense(3)
    layer.build_for((None,) + shape[1:])
    layer.init_weights = None
    layer.kernel.assign(rng.standard_normal((4, 3)).astype(np.float32))
    layer.bias.assign(rng.standard_normal(3).astype(np.float32))
    x = rng.standard_normal(shape).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape == shape[:-1] + (3,)
    np.testing.assert_allclose(out, dense_reference(x, layer.kernel.value, layer.bias.value), rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:-1] + (3,)


def test_dense_declares_weights_without_allocating():
    layer = Dense(10**6)
    layer.build_for((None, 10**6))
    assert [(w.name, w.shape, w.value) for w in layer.weights] == [
        ("kernel", (10**6, 10**6), None), ("bias", (10**6,), None)]
    assert layer.count_params() == 10**12 + 10**6
    assert layer.count_macs((None, 7, 10**6)) == 7 * 10**12


def test_dense_without_bias_and_with_activation():
    layer = Dense(2, activation="relu", use_bias=False)
    layer.build_for((None, 2))
    layer.kernel.assign(np.array([[1.0, -1.0], [2.0, 0.5]], np.float32))
    out = layer(np.array([[1.0, 1.0], [-1.0, 0.0]], np.float32))
    np.testing.assert_array_equal(out, [[3.0, 0.0], [0.0, 1.0]])
    assert [w.name for w in layer.weights] == ["kernel"]


@pytest.mark.parametrize("shape, message", [
    ((None,), "needs an input with a feature axis, got (None,)"),
    ((None, None), "needs a known size on the last axis, got (None, None)"),
])
def test_dense_shape_errors(shape, message):
    with pytest.raises(ShapeError) as caught:
        Dense(3).build_for(shape)
    assert caught.value.message == message


@pytest.mark.parametrize("kwargs, message", [
    ({"units": 0}, "argument 'units' must be an integer >= 1, got integer 0"),
    ({"units": "3"}, "argument 'units' must be an integer >= 1, got string '3'"),
    ({"units": 3, "use_bias": 1}, "argument 'use_bias' must be true or false, got integer 1"),
    ({"units": 3, "bogus": 1}, "unknown argument 'bogus'"),
    ({"units": 3, "unit": 1}, "unknown argument 'unit'; did you mean 'units'?"),
    ({}, "missing required argument 'units'"),
])
def test_dense_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        Dense(**kwargs)
    assert caught.value.message == message


def test_activation_layer_and_dropout_identity():
    x = np.array([[-1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(Activation("relu")(x), [[0.0, 2.0]])
    assert Dropout(0.5)(x) is x
    assert Dropout(0.5).compute_output_shape((None, 3, 4)) == (None, 3, 4)
    with pytest.raises(ArgumentError, match=r"argument 'rate' must be a number >= 0 and <= 1, got number 1.5"):
        Dropout(1.5)
