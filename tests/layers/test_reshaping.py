"""Flatten, Reshape, Permute, RepeatVector: shapes and values."""

import numpy as np
import pytest

from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers.reshaping import Flatten, Permute, RepeatVector, Reshape

X = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)


def test_flatten():
    assert Flatten().compute_output_shape((None, 3, 4)) == (None, 12)
    assert Flatten().compute_output_shape((None, None, 4)) == (None, None)
    out = Flatten()(X)
    assert out.shape == (2, 12)
    assert [out[1, i] for i in range(12)] == [X[1, i // 4, i % 4] for i in range(12)]


@pytest.mark.parametrize("target, input_shape, expected", [
    ([12], (None, 3, 4), (None, 12)),
    ([-1, 2], (None, 3, 4), (None, 6, 2)),
    ([2, -1, 3], (None, 3, 4), (None, 2, 2, 3)),
    ([-1, 4], (None, None, 4), (None, None, 4)),
    ([4, 3], (None, None, 4), (None, 4, 3)),
])
def test_reshape_shapes(target, input_shape, expected):
    assert Reshape(target).compute_output_shape(input_shape) == expected


def test_reshape_values_follow_row_major_order():
    out = Reshape([4, 3])(X)
    assert out.shape == (2, 4, 3)
    flat = [X[1, i // 4, i % 4] for i in range(12)]
    assert [out[1, i // 3, i % 3] for i in range(12)] == flat


@pytest.mark.parametrize("target, message", [
    ([5, -1], "cannot reshape (None, 3, 4) (12 values per sample) into target_shape [5, -1]"),
    ([5], "cannot reshape (None, 3, 4) (12 values per sample) into target_shape [5]"),
])
def test_reshape_mismatch(target, message):
    with pytest.raises(ShapeError) as caught:
        Reshape(target).compute_output_shape((None, 3, 4))
    assert caught.value.message == message


@pytest.mark.parametrize("target, message", [
    ([-1, -1], "argument 'target_shape' may contain -1 only once, got [-1, -1]"),
    ([0, 3], "argument 'target_shape' sizes must be >= 1 or -1, got [0, 3]"),
    ([-2], "argument 'target_shape' must be a list of sizes (one may be -1), got a list"),
])
def test_reshape_argument_errors(target, message):
    with pytest.raises(ArgumentError) as caught:
        Reshape(target)
    assert caught.value.message == message


def test_permute():
    layer = Permute([2, 1])
    layer.build_for((None, 3, 4))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 4, 3)
    out = layer(X)
    assert all(out[b, j, i] == X[b, i, j] for b in range(2) for i in range(3) for j in range(4))
    with pytest.raises(ArgumentError, match=r"must be a permutation of 1..2, got \[1, 3\]"):
        Permute([1, 3])
    with pytest.raises(ShapeError, match=r"dims \[2, 1\] permute 2 axes, but the input \(None, 3, 4, 5\) has 3"):
        Permute([2, 1]).build_for((None, 3, 4, 5))


def test_repeat_vector():
    layer = RepeatVector(3)
    layer.build_for((None, 2))
    x = np.array([[1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(layer(x), [[[1.0, 2.0]] * 3])
    assert layer.compute_output_shape((None, 2)) == (None, 3, 2)
    with pytest.raises(ShapeError, match=r"needs an input of shape \(batch, features\), got \(None, 2, 2\)"):
        RepeatVector(3).build_for((None, 2, 2))
