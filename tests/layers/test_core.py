"""Dense, Activation and Dropout: shapes, values against plain loops."""

import numpy as np
import pytest

from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers import core
from layerspec.layers.core import Activation, Dense, Dropout, Masking, relu_in_place


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


# -- glu: an activation that halves the last axis -----------------------------------
def glu_reference(values):
    """Plain loops: the first half of the last axis times sigmoid of the second."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1, values.shape[-1])
    half = flat.shape[1] // 2
    out = np.zeros((flat.shape[0], half))
    for row in range(flat.shape[0]):
        for j in range(half):
            out[row, j] = flat[row, j] / (1 + np.exp(-flat[row, half + j]))
    return out.reshape(values.shape[:-1] + (half,))


def test_dense_with_glu_outputs_half_its_units():
    # Keras's Dense computes glu(x @ kernel + bias) too: (..., units / 2), although
    # its compute_output_shape says (..., units); ours says what the layer computes.
    rng = np.random.default_rng(3)
    layer = Dense(6, activation="glu")
    layer.build_for((None, 4))
    layer.kernel.assign(rng.standard_normal((4, 6)).astype(np.float32))
    layer.bias.assign(rng.standard_normal(6).astype(np.float32))
    x = rng.standard_normal((5, 4)).astype(np.float32)
    out = layer(x)
    assert out.shape == (5, 3) and out.dtype == np.float32
    assert layer.compute_output_shape((None, 4)) == (None, 3)
    linear = dense_reference(x, layer.kernel.value, layer.bias.value)
    np.testing.assert_allclose(out, glu_reference(linear), rtol=1e-5, atol=1e-6)


def test_dense_with_glu_needs_even_units():
    with pytest.raises(ShapeError) as caught:
        Dense(5, activation="glu").compute_output_shape((None, 4))
    assert (caught.value.message, caught.value.argument) == (
        "activation 'glu' splits the last axis in two halves, so its size must be even, got 5", "activation")


def test_activation_layer_with_glu_halves_the_last_axis():
    layer = Activation("glu")
    assert layer.compute_output_shape((None, 3, 8)) == (None, 3, 4)
    assert layer.compute_output_shape((None, None)) == (None, None)
    x = np.random.default_rng(4).standard_normal((2, 3, 8)).astype(np.float32)
    np.testing.assert_allclose(layer(x), glu_reference(x), rtol=1e-6, atol=1e-7)
    with pytest.raises(ShapeError, match="so its size must be even, got 7"):
        layer.compute_output_shape((None, 7))


def test_a_spec_with_glu_infers_the_halved_shape_and_runs():
    import layerspec

    model = layerspec.loads("input: [4]\nlayers:\n  - {units: 6, activation: glu}\n  - {units: 2}\n").init(seed=0)
    assert [shape[1] for shape in model.shapes] == [(None, 3), (None, 2)]
    assert model.get_weights()["dense_1/kernel"].shape == (3, 2)
    assert model.predict(np.ones((2, 4), np.float32)).shape == (2, 2)


# -- Dropout noise_shape ------------------------------------------------------------------
@pytest.mark.parametrize("noise_shape, input_shape", [
    ([None, 1, 8], (None, 5, 8)),   # Keras's documented idiom: one mask for every step
    ((32, 1, 8), (None, 5, 8)),      # a fixed batch size is not checked (known only at run time)
    ([None, None, None], (None, None, 8)),
    ([None, 7, 1], (None, None, 8)),  # an unknown size takes any mask size
    ([1, 1], (None, 4)),
])
def test_dropout_accepts_a_noise_shape_that_fits_the_input(noise_shape, input_shape):
    layer = Dropout(0.3, noise_shape=noise_shape)
    assert layer.noise_shape == tuple(noise_shape)
    layer.build_for(input_shape)
    assert layer.compute_output_shape(input_shape) == input_shape
    x = np.ones((2,) + tuple(size or 3 for size in input_shape[1:]), np.float32)
    assert layer(x) is x  # the identity at inference


@pytest.mark.parametrize("noise_shape, input_shape, message", [
    ([None, 8], (None, 5, 8), "noise_shape [null, 8] has 2 axes, but the input (None, 5, 8) has 3 (the batch "
                              "axis included)"),
    ([None, 2, 8], (None, 5, 8), "noise_shape [null, 2, 8]: size 2 on axis 1 must be 1, null or the input's 5; "
                                 "the input is (None, 5, 8)"),
    ([None, 1, 4], (None, 5, 8), "noise_shape [null, 1, 4]: size 4 on axis 2 must be 1, null or the input's 8; "
                                 "the input is (None, 5, 8)"),
])
def test_dropout_noise_shape_that_does_not_fit_is_an_error_at_the_argument(noise_shape, input_shape, message):
    with pytest.raises(ShapeError) as caught:
        Dropout(0.3, noise_shape=noise_shape).build_for(input_shape)
    assert (caught.value.message, caught.value.argument) == (message, "noise_shape")


@pytest.mark.parametrize("noise_shape, shown", [
    ([], "a list"), ([None, 0], "a list"), ([None, 1.5], "a list"), ([True], "a list"), ("8", "string '8'"),
    (8, "integer 8"),
])
def test_dropout_noise_shape_must_be_positive_integers_or_null(noise_shape, shown):
    with pytest.raises(ArgumentError) as caught:
        Dropout(0.3, noise_shape=noise_shape)
    assert (caught.value.message, caught.value.argument) == (
        "argument 'noise_shape' must be a list of integers >= 1 or null, one per input axis (the batch axis "
        f"first) or null, got {shown}", "noise_shape")


def test_dropout_noise_shape_in_a_spec_points_at_the_argument():
    from layerspec.errors import LayerspecError
    from layerspec.spec import build_model, loads_spec

    text = "input: [5, 8]\nlayers:\n  - {type: Dropout, rate: 0.2, noise_shape: [null, 1, 8]}\n"
    assert build_model(loads_spec(text, path="d.yaml")).shapes[-1][1] == (None, 5, 8)
    text = "input: [5, 8]\nlayers:\n  - {type: Dropout, rate: 0.2, noise_shape: [null, 3, 8]}\n"
    with pytest.raises(LayerspecError) as caught:
        build_model(loads_spec(text, path="d.yaml"))
    assert str(caught.value) == ("d.yaml:3:45: layer 1 'dropout' (Dropout): noise_shape [null, 3, 8]: size 3 on "
                                 "axis 1 must be 1, null or the input's 5; the input is (None, 5, 8)")


# --------------------------------------------------------------------------
# Masking


def masking_reference(x, mask_value):
    """Plain loops: a step is kept when some feature differs from mask_value;
    kept steps pass, masked ones become 0."""
    steps = x.reshape(-1, x.shape[-1])
    kept = np.zeros(len(steps), bool)
    out = np.zeros_like(steps)
    for row, values in enumerate(steps):
        kept[row] = any(value != mask_value for value in values)
        if kept[row]:
            out[row] = values
    return out.reshape(x.shape), kept.reshape(x.shape[:-1])


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking_zeroes_and_masks_the_padded_steps(mask_value):
    x = np.array([[[1, 2], [mask_value, mask_value], [mask_value, 3], [mask_value, mask_value]],
                  [[mask_value, mask_value]] * 4], np.float32)
    layer = Masking(mask_value=mask_value)
    out, mask = layer.call(x), layer.compute_mask(x, None)
    expected, expected_mask = masking_reference(x, mask_value)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(mask, expected_mask)
    assert out.dtype == np.float32 and mask.dtype == bool


def test_masking_shapes_costs_and_an_incoming_mask_replaced():
    layer = Masking()
    assert layer.compute_output_shape((None, 7, 3)) == (None, 7, 3)
    assert layer.compute_mask_shape((None, 7, 3), (None, 7)) == (None, 7)
    assert layer.compute_mask_shape((None, 2, 7, 3), None) == (None, 2, 7)
    assert layer.count_macs((None, 7, 3)) == 0 and layer.count_elementwise((None, 7, 3)) == 42
    assert layer.count_elementwise((None, None, 3)) is None
    with pytest.raises(ShapeError, match=r"Masking needs inputs with a feature axis, got \(None,\)"):
        layer.compute_output_shape((None,))


def test_masking_argument_errors():
    with pytest.raises(ArgumentError, match="argument 'mask_value' must be a number"):
        Masking(mask_value="zero")


def test_dense_dropout_and_activation_pass_a_mask_on():
    for layer in (Dense(3), Dropout(0.5), Activation("relu")):
        assert layer.supports_masking and not layer.uses_mask
        assert layer.compute_mask_shape((None, 4, 2), (None, 4)) == (None, 4)
        mask = np.array([[True, False, True, True]])
        assert layer.compute_mask(np.zeros((1, 4, 2)), mask) is mask


# -- relu against an array of zeros ----------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", [(1, 7), (5, 3), (4, 3, 2), (0, 3)])
def test_relu_in_place_is_numpys_maximum_with_zero_bit_for_bit(dtype, order, shape):
    rng = np.random.default_rng(0)
    x = np.asarray(rng.standard_normal(shape), dtype=dtype, order=order)
    special = [np.nan, -np.inf, np.inf, -0.0, 0.0, -1e-45]
    x.reshape(-1, order="A")[:len(special)] = special[:x.size]
    expected = np.maximum(x, 0)
    out = relu_in_place(x)
    assert out is x
    np.testing.assert_array_equal(np.ascontiguousarray(out).view(np.uint8),  # -0.0 and NaN bits too
                                  np.ascontiguousarray(expected).view(np.uint8))


def test_relu_in_place_beyond_the_zeros_limit_and_on_strided_arrays(monkeypatch):
    monkeypatch.setattr(core, "ZEROS_LIMIT", 10)
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(relu_in_place(x.copy()), np.maximum(x, 0))
    strided = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)[:, ::2]
    expected = np.maximum(strided, 0)
    np.testing.assert_array_equal(relu_in_place(strided), expected)


@pytest.mark.parametrize("rows", [1, 3, 40])  # the plain product, the transposed one (Fortran order), plain again
def test_dense_relu_matches_plain_loops(rows):
    rng = np.random.default_rng(5)
    layer = Dense(32, activation="relu")
    layer.build_for((None, 600))  # a kernel of 19200 values: the transposed product from 2 rows on
    layer.kernel.assign((rng.standard_normal((600, 32)) * 0.05).astype(np.float32))
    layer.bias.assign(rng.standard_normal(32).astype(np.float32))
    x = rng.standard_normal((rows, 600)).astype(np.float32)
    expected = np.maximum(dense_reference(x, layer.kernel.value, layer.bias.value), 0)
    out = layer(x)
    assert out.dtype == np.float32 and (out >= 0).all()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
