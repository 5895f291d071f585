"""ReLU, LeakyReLU, PReLU, ELU, Softmax and Identity: Keras 3's formulas
against plain loops, parameters, costs, edge values, errors."""

import contextlib
import itertools
import math
import warnings

import numpy as np
import pytest

from layerspec import registry
from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers.activation_layers import ELU, Identity, LeakyReLU, PReLU, ReLU, Softmax
from layerspec.layers.base import snake_case

INF = float("inf")
EDGES = np.array([-INF, -1000.0, -1.0, 0.0, 1.0, 1000.0, INF], np.float32)


def relu_reference(value: float, max_value=None, negative_slope=0.0, threshold=0.0) -> float:
    """Keras 3's ``relu`` for one value, step by step as it computes it."""
    if negative_slope != 0 and max_value is None and threshold == 0:
        return value if value > 0 else negative_slope * value
    positive = value if value > threshold else 0.0
    if threshold == 0:
        positive = max(value, 0.0)
    if max_value is not None:
        positive = min(max(positive, 0.0), max_value)
    if negative_slope != 0:
        positive -= negative_slope * max(threshold - value, 0.0)
    return positive


def elementwise_reference(function, x: np.ndarray) -> np.ndarray:
    out = np.empty(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = function(float(x[index]))
    return out


@contextlib.contextmanager
def no_warnings():
    """Any NumPy warning (overflow, invalid value) fails the test."""
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        yield


# --------------------------------------------------------------------------
# ReLU


@pytest.mark.parametrize("kwargs, expected", [
    # Keras's documented examples on [-10, -5, 0, 5, 10].
    ({}, [0, 0, 0, 5, 10]),
    ({"negative_slope": 0.5}, [-5, -2.5, 0, 5, 10]),
    ({"max_value": 5.0}, [0, 0, 0, 5, 5]),
    ({"threshold": 5.0}, [0, 0, 0, 0, 10]),
    ({"max_value": 10, "negative_slope": 0.5, "threshold": 0}, [-5, -2.5, 0, 5, 10]),
    # The slope applies below the threshold, measured from it; 0 just above 0 up to it.
    ({"negative_slope": 0.5, "threshold": 5.0}, [-7.5, -5, -2.5, 0, 10]),
    # A ceiling below the threshold: Keras jumps from 0 to max_value.
    ({"max_value": 2.0, "threshold": 5.0}, [0, 0, 0, 0, 2]),
])
def test_relu_keras_examples(kwargs, expected):
    out = ReLU(**kwargs).call(np.array([-10, -5, 0.0, 5, 10], np.float32))
    np.testing.assert_array_equal(out, np.array(expected, np.float32))


@pytest.mark.parametrize("kwargs", [
    {}, {"negative_slope": 0.3}, {"negative_slope": 2.0}, {"max_value": 6.0}, {"max_value": 1.5},
    {"threshold": 0.7}, {"negative_slope": 0.1, "threshold": 0.5}, {"negative_slope": 0.2, "max_value": 1.0},
    {"negative_slope": 0.2, "max_value": 1.0, "threshold": 0.25}, {"max_value": 0.0},
])
def test_relu_matches_plain_loops(kwargs):
    x = np.random.default_rng(3).standard_normal((4, 3, 5)).astype(np.float32) * 2
    out = ReLU(**kwargs).call(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, elementwise_reference(lambda v: relu_reference(v, **kwargs), x),
                               rtol=1e-6, atol=1e-7)
    with no_warnings():
        edges = ReLU(**kwargs).call(EDGES)
    np.testing.assert_allclose(edges, elementwise_reference(lambda v: relu_reference(v, **kwargs), EDGES),
                               rtol=1e-6)


@pytest.mark.parametrize("kwargs, expected", [
    ({}, [0, 0, 0, 0, 1, 1000, INF]),
    ({"negative_slope": 0.5}, [-INF, -500, -0.5, 0, 1, 1000, INF]),
    ({"max_value": 6.0}, [0, 0, 0, 0, 1, 6, 6]),
    ({"negative_slope": 0.5, "threshold": 1.0}, [-INF, -500.5, -1, -0.5, 0, 1000, INF]),
    ({"negative_slope": 0.5, "max_value": 6.0}, [-INF, -500, -0.5, 0, 1, 6, 6]),
])
def test_relu_edge_values(kwargs, expected):
    with no_warnings():
        out = ReLU(**kwargs).call(EDGES)
    np.testing.assert_array_equal(out, np.array(expected, np.float32))


@pytest.mark.parametrize("kwargs, message", [
    ({"max_value": -1}, "argument 'max_value' must be a number >= 0 or null, got integer -1"),
    ({"negative_slope": -0.1}, "argument 'negative_slope' must be a number >= 0, got number -0.1"),
    ({"threshold": None}, "argument 'threshold' must be a number >= 0, got null"),
    ({"threshold": float("nan")}, "argument 'threshold' must be a number >= 0, got number .nan (not finite)"),
    ({"alpha": 0.1}, "unknown argument 'alpha'"),
])
def test_relu_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        ReLU(**kwargs)
    assert caught.value.message == message


# --------------------------------------------------------------------------
# LeakyReLU and ELU


def test_leaky_relu_default_slope_is_keras_3s():
    out = LeakyReLU().call(np.array([-10, -5, 0.0, 5, 10], np.float32))
    np.testing.assert_allclose(out, [-3, -1.5, 0, 5, 10], rtol=1e-7)
    assert LeakyReLU().negative_slope == 0.3


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.3, 1.0, 2.5])
def test_leaky_relu_matches_plain_loops(slope):
    x = np.random.default_rng(4).standard_normal((3, 7)).astype(np.float32)
    reference = elementwise_reference(lambda v: v if v > 0 else slope * v, x)
    np.testing.assert_allclose(LeakyReLU(negative_slope=slope).call(x), reference, rtol=1e-6, atol=1e-7)
    with no_warnings():
        edges = LeakyReLU(negative_slope=slope).call(EDGES)
    # At -inf with slope 0 the limit is 0 (Keras's 0 * -inf would be NaN).
    expected = [0.0 if slope == 0 else -INF, -1000 * slope, -slope, 0, 1, 1000, INF]
    np.testing.assert_allclose(edges, np.array(expected, np.float32), rtol=1e-7)


def test_leaky_relu_argument_errors():
    with pytest.raises(ArgumentError) as caught:
        LeakyReLU(negative_slope=-1)
    assert caught.value.message == "argument 'negative_slope' must be a number >= 0, got integer -1"


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0, -1.0])
def test_elu_matches_plain_loops(alpha):
    x = np.random.default_rng(5).standard_normal((3, 7)).astype(np.float32) * 3
    reference = elementwise_reference(lambda v: v if v > 0 else alpha * math.expm1(v), x)
    out = ELU(alpha=alpha).call(x) if alpha != 1.0 else ELU().call(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference, rtol=1e-6, atol=1e-7)
    with no_warnings():
        edges = ELU(alpha=alpha).call(EDGES)
    np.testing.assert_allclose(edges, elementwise_reference(
        lambda v: v if v > 0 else alpha * math.expm1(max(v, -1e4)), EDGES), rtol=1e-6)
    assert edges[0] == -alpha  # the limit at -inf


def test_arguments_beyond_float32_become_infinite_silently_as_in_keras():
    x = np.array([-INF, -1.0, 2.0, INF], np.float32)
    with no_warnings():
        np.testing.assert_array_equal(ReLU(max_value=1e300).call(x), [0, 0, 2, INF])  # no ceiling
        np.testing.assert_array_equal(ReLU(threshold=1e300).call(x), [0, 0, 0, 0])  # nothing above inf
        np.testing.assert_array_equal(LeakyReLU(negative_slope=1e300).call(x), [-INF, -INF, 2, INF])
        np.testing.assert_array_equal(ELU(alpha=1e300).call(x), [-INF, -INF, 2, INF])
        assert ReLU(max_value=1e300).call(x).dtype == np.float32


def test_a_slope_above_one_still_keeps_positive_inputs():
    # max(x, slope * x) would pick slope * x for positive x.
    with no_warnings():
        out = LeakyReLU(negative_slope=3.0).call(EDGES)
    np.testing.assert_array_equal(out, [-INF, -3000, -3, 0, 1, 1000, INF])
    np.testing.assert_array_equal(ReLU(negative_slope=3.0).call(EDGES), out)


# --------------------------------------------------------------------------
# PReLU


@pytest.mark.parametrize("input_shape, shared_axes, alpha_shape", [
    ((None, 8, 8, 3), [1, 2], (1, 1, 3)),
    ((None, 8, 8, 3), None, (8, 8, 3)),
    ((None, 5, 4), 1, (1, 4)),
    ((None, 6), None, (6,)),
    ((None, None, 4), [1], (1, 4)),        # an unknown size on a shared axis is fine
])
def test_prelu_alpha_shape_and_params_as_keras(input_shape, shared_axes, alpha_shape):
    layer = PReLU(shared_axes=shared_axes)
    layer.build_for(input_shape)
    assert [(weight.name, weight.shape, weight.trainable) for weight in layer.weights] == [
        ("alpha", alpha_shape, True)]
    assert layer.count_params() == math.prod(alpha_shape)
    assert layer.compute_output_shape(input_shape) == input_shape


def test_prelu_on_an_8x8x3_map_with_shared_spatial_axes_has_3_params():
    layer = PReLU(shared_axes=[1, 2])
    layer.build_for((None, 8, 8, 3))
    assert layer.count_params() == 3


def test_prelu_alpha_starts_at_zero_like_keras():
    layer = PReLU()
    layer.build_for((None, 4))
    layer.alpha.initialize(np.random.default_rng(0))
    np.testing.assert_array_equal(layer.alpha.value, np.zeros(4, np.float32))
    assert layer.alpha.value.dtype == np.float32


def test_prelu_matches_plain_loops():
    rng = np.random.default_rng(6)
    layer = PReLU(shared_axes=[1])
    layer.build_for((None, 3, 4))
    alpha = rng.uniform(-0.5, 1.5, size=(1, 4)).astype(np.float32)
    layer.alpha.assign(alpha)
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)  # the shared axis may change size
    out = layer.call(x)
    assert out.dtype == np.float32
    for b, t, c in itertools.product(range(2), range(5), range(4)):
        value = float(x[b, t, c])
        assert out[b, t, c] == pytest.approx(value if value >= 0 else float(alpha[0, c]) * value, rel=1e-6)


def test_prelu_edge_values():
    layer = PReLU()
    layer.build_for((None, 3, 7))
    layer.alpha.assign(np.array([[0.0] * 7, [0.25] * 7, [2.0] * 7], np.float32))
    x = np.broadcast_to(EDGES, (1, 3, 7))
    with no_warnings():
        out = layer.call(x)
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0, 0, 1, 1000, INF])  # alpha 0: the limit 0 at -inf
    np.testing.assert_array_equal(out[0, 1], [-INF, -250, -0.25, 0, 1, 1000, INF])
    np.testing.assert_array_equal(out[0, 2], [-INF, -2000, -2, 0, 1, 1000, INF])
    assert np.isnan(layer.call(np.full((1, 3, 7), np.nan, np.float32))).all()


@pytest.mark.parametrize("input_shape, shared_axes, message", [
    ((None, 8, 8, 3), [1, 4],
     "shared_axes [1, 4]: axis 4 is out of range for the input (None, 8, 8, 3), whose axes are 1 to 3 "
     "(0 is the batch)"),
    ((None, None, 4), None, "needs a known size on axis 1, or the axis in shared_axes, got (None, None, 4)"),
    ((None,), None, "needs an input with a feature axis, got (None,)"),
])
def test_prelu_shape_errors(input_shape, shared_axes, message):
    with pytest.raises(ShapeError) as caught:
        PReLU(shared_axes=shared_axes).compute_output_shape(input_shape)
    assert caught.value.message == message
    with pytest.raises(ShapeError):
        PReLU(shared_axes=shared_axes).build_for(input_shape)


def test_prelu_refuses_an_input_alpha_does_not_fit():
    layer = PReLU()
    layer.build_for((None, 4))
    layer.alpha.assign(np.zeros(4, np.float32))
    with pytest.raises(ShapeError) as caught:
        layer.call(np.zeros((2, 5), np.float32))
    assert caught.value.message == "alpha of shape (4,) does not fit the input (2, 5)"


@pytest.mark.parametrize("kwargs, message", [
    ({"shared_axes": 0}, "argument 'shared_axes' must be an integer >= 1 or a non-empty list of integers >= 1 "
                         "or null, got integer 0"),
    ({"shared_axes": []}, "argument 'shared_axes' must be an integer >= 1 or a non-empty list of integers >= 1 "
                          "or null, got a list"),
    ({"alpha_initializer": "zeroes"}, "argument 'alpha_initializer': unknown initializer 'zeroes'; "
                                      "did you mean 'zeros'?"),
])
def test_prelu_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        PReLU(**kwargs)
    assert caught.value.message == message


# --------------------------------------------------------------------------
# Softmax


def softmax_reference(x: np.ndarray, axes: tuple) -> np.ndarray:
    """Plain loops: for every slice along ``axes``, exp(v - max) / sum."""
    x = x.astype(np.float64)
    out = np.empty_like(x)
    others = [axis for axis in range(x.ndim) if axis not in axes]
    for outer in itertools.product(*(range(x.shape[a]) for a in others)):
        cells = []
        for inner in itertools.product(*(range(x.shape[a]) for a in axes)):
            index = [0] * x.ndim
            for axis, i in zip(others, outer):
                index[axis] = i
            for axis, i in zip(axes, inner):
                index[axis] = i
            cells.append(tuple(index))
        top = max(x[cell] for cell in cells)
        total = sum(math.exp(x[cell] - top) for cell in cells)
        for cell in cells:
            out[cell] = math.exp(x[cell] - top) / total
    return out


@pytest.mark.parametrize("axis, axes", [(-1, (3,)), (1, (1,)), (2, (2,)), ([1, 2], (1, 2)), ([-1, 1], (3, 1)),
                                        ([3], (3,))])
def test_softmax_matches_plain_loops(axis, axes):
    x = np.random.default_rng(8).standard_normal((2, 3, 4, 5)).astype(np.float32) * 3
    out = Softmax(axis=axis).call(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, softmax_reference(x, axes), rtol=1e-5, atol=1e-7)
    assert Softmax(axis=axis).compute_output_shape((None, 3, 4, 5)) == (None, 3, 4, 5)


def test_softmax_edge_values_are_stable():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [INF, 1.0, INF], [-INF, 0.0, 1.0]],
                 np.float32)
    with no_warnings():
        out = Softmax().call(x)
    np.testing.assert_allclose(out, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0, 0.5],
                                     [0, 1 / (1 + math.e), math.e / (1 + math.e)]], rtol=1e-6)
    assert out.dtype == np.float32


@pytest.mark.parametrize("axis, message", [
    (0, "axis 0 is the batch axis of the input (None, 3, 4); take the softmax along a feature axis such as -1"),
    (-3, "axis -3 is the batch axis of the input (None, 3, 4); take the softmax along a feature axis such as -1"),
    (3, "axis 3 is out of range for the input (None, 3, 4), which has 3 axes"),
    ([1, -2], "axis [1, -2] names axis 1 of the input (None, 3, 4) twice"),
])
def test_softmax_axis_errors(axis, message):
    with pytest.raises(ShapeError) as caught:
        Softmax(axis=axis).compute_output_shape((None, 3, 4))
    assert caught.value.message == message
    assert caught.value.argument == "axis"


def test_softmax_argument_errors():
    with pytest.raises(ArgumentError) as caught:
        Softmax(axis="last")
    assert caught.value.message == "argument 'axis' must be an integer or a non-empty list of integers, " \
                                   "got string 'last'"


# --------------------------------------------------------------------------
# all of them


def built_layers():
    prelu = PReLU()
    prelu.build_for((None, 3, 4))
    prelu.alpha.assign(np.full((3, 4), 0.25, np.float32))
    return [ReLU(), ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5), LeakyReLU(), prelu, ELU(), Softmax(),
            Softmax(axis=[1, 2]), Identity()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept(dtype):
    x = np.random.default_rng(9).standard_normal((2, 3, 4)).astype(dtype)
    for layer in built_layers():
        layer.dtype = np.dtype(dtype).name
        assert layer.call(x).dtype == dtype, layer
        assert layer.call(x).shape == x.shape


def test_integer_input_is_computed_in_the_layer_dtype():
    x = np.arange(24).reshape(2, 3, 4) - 12
    for layer in built_layers()[:-1]:
        assert layer.call(x).dtype == np.float32, layer


def test_costs_one_operation_per_element_and_no_macs():
    shape = (None, 3, 4)
    for layer in built_layers():
        assert layer.has_macs is False
        assert layer.count_macs(shape) == 0
        expected = 0 if isinstance(layer, Identity) else 12
        assert layer.count_elementwise(shape) == expected
        assert layer.count_flops(shape) == expected
    assert ReLU().count_elementwise((None, None, 4)) is None


def test_params_are_keras_counts():
    assert [layer.count_params() for layer in built_layers()] == [0, 0, 0, 12, 0, 0, 0, 0]


def test_identity_passes_the_input_through():
    x = np.arange(6.0).reshape(2, 3)
    layer = Identity()
    assert layer.call(x) is x
    assert layer.compute_output_shape((None, 3)) == (None, 3)
    with pytest.raises(ArgumentError) as caught:
        Identity(axis=1)
    assert caught.value.message == "unknown argument 'axis'"


def test_types_are_registered_with_keras_auto_names():
    for spelling, layer_class, auto_name in [("ReLU", ReLU, "re_lu"), ("leaky_relu", LeakyReLU, "leaky_re_lu"),
                                             ("prelu", PReLU, "p_re_lu"), ("elu", ELU, "elu"),
                                             ("softmax", Softmax, "softmax"), ("identity", Identity, "identity")]:
        assert registry.lookup(spelling) is layer_class
        assert registry.origin_of(spelling) == "built-in"
        assert snake_case(layer_class.__name__) == auto_name


# --------------------------------------------------------------------------
# Softmax with a mask


def masked_softmax_reference(x, mask):
    """Plain loops along the last axis: masked values get weight 0, the rest
    share 1 (a slice masked throughout gives zeros)."""
    out = np.zeros(x.shape)
    for position in np.ndindex(*x.shape[:-1]):
        kept = [j for j in range(x.shape[-1]) if mask[position + (j,)]]
        if not kept:
            continue
        top = max(float(x[position + (j,)]) for j in kept)
        total = sum(math.exp(float(x[position + (j,)]) - top) for j in kept)
        for j in kept:
            out[position + (j,)] = math.exp(float(x[position + (j,)]) - top) / total
    return out


def test_softmax_leaves_out_the_masked_values():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    mask = np.array([[True, False, True, True, False], [False] * 5, [True] * 5])
    layer = Softmax()
    assert layer.supports_masking and layer.uses_mask
    assert layer.compute_mask_shape((None, 5), (None, 5)) == (None, 5)
    out = layer.call_masked(x, mask)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, masked_softmax_reference(x, mask), rtol=1e-6, atol=1e-7)


def test_softmax_refuses_a_mask_that_does_not_broadcast():
    # An Embedding's (batch, steps) mask against (batch, steps, features): Keras refuses it too.
    with pytest.raises(ShapeError, match=r"the mask \(None, 7\) of the input does not broadcast over the input "
                                         r"\(None, 7, 3\) \(Keras refuses it too\)"):
        Softmax().compute_mask_shape((None, 7, 3), (None, 7))
    assert Softmax().compute_mask_shape((None, 7, 3), (None, 1, 3)) == (None, 1, 3)


def test_activation_layers_pass_a_mask_on():
    for layer in (ReLU(), LeakyReLU(), PReLU(), ELU(), Identity()):
        assert layer.supports_masking and not layer.uses_mask
        assert layer.compute_mask_shape((None, 7, 3), (None, 7)) == (None, 7)
