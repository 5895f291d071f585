"""Tests of layerspec.activations against plain-Python references (math only)."""

import math
import warnings

import numpy as np
import pytest

from layerspec import activations
from layerspec.activations import _erf
from layerspec.errors import ArgumentError

VALUES = [0.0, 0.5, -0.5, 3.0, -3.0, 20.0, -20.0]

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def ref_sigmoid(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def ref_softplus(v):
    return math.log1p(math.exp(v))


def ref_hard_sigmoid(v):
    return min(max(v / 6 + 0.5, 0.0), 1.0)


def ref_gelu(v):
    # 0.5 * v * (1 + erf(v / sqrt2)), written with erfc(-z) = 1 + erf(z) so
    # that the reference itself stays exact for negative v.
    return 0.5 * v * math.erfc(-v / math.sqrt(2))


ELEMENTWISE = {
    "relu": lambda v: max(v, 0.0),
    "sigmoid": ref_sigmoid,
    "tanh": math.tanh,
    "linear": lambda v: v,
    "elu": lambda v: v if v > 0 else math.expm1(v),
    "selu": lambda v: SELU_SCALE * (v if v > 0 else SELU_ALPHA * math.expm1(v)),
    "gelu": ref_gelu,
    "silu": lambda v: v * ref_sigmoid(v),
    "swish": lambda v: v * ref_sigmoid(v),
    "softplus": ref_softplus,
    "softsign": lambda v: v / (1 + abs(v)),
    "leaky_relu": lambda v: v if v >= 0 else 0.2 * v,
    "relu6": lambda v: min(max(v, 0.0), 6.0),
    "hard_sigmoid": ref_hard_sigmoid,
    "hard_silu": lambda v: v * ref_hard_sigmoid(v),
    "hard_swish": lambda v: v * ref_hard_sigmoid(v),
    "mish": lambda v: v * math.tanh(ref_softplus(v)),
    "exponential": math.exp,
}

# Expected results at 1000, -1000, inf, -inf (exponential(1000) overflows to
# inf, as documented; everything else is the finite value or the limit).
EXTREMES = [1000.0, -1000.0, math.inf, -math.inf]
AT_EXTREMES = {
    "relu": [1000, 0, math.inf, 0],
    "sigmoid": [1, 0, 1, 0],
    "tanh": [1, -1, 1, -1],
    "linear": [1000, -1000, math.inf, -math.inf],
    "elu": [1000, -1, math.inf, -1],
    "selu": [SELU_SCALE * 1000, -SELU_SCALE * SELU_ALPHA, math.inf, -SELU_SCALE * SELU_ALPHA],
    "gelu": [1000, 0, math.inf, 0],
    "silu": [1000, 0, math.inf, 0],
    "swish": [1000, 0, math.inf, 0],
    "softplus": [1000, 0, math.inf, 0],
    "softsign": [1000 / 1001, -1000 / 1001, 1, -1],
    "leaky_relu": [1000, -200, math.inf, -math.inf],
    "relu6": [6, 0, 6, 0],
    "hard_sigmoid": [1, 0, 1, 0],
    "hard_silu": [1000, 0, math.inf, 0],
    "hard_swish": [1000, 0, math.inf, 0],
    "mish": [1000, 0, math.inf, 0],
    "exponential": [math.inf, 0, math.inf, 0],
}


@pytest.fixture(autouse=True)
def warnings_are_errors():
    """Any NumPy warning (overflow, invalid value, ...) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_every_name_is_tested():
    assert set(ELEMENTWISE) | {"softmax", "log_softmax"} == set(activations.names())


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_float64_matches_reference(name):
    out = activations.get(name)(np.array(VALUES, dtype=np.float64))
    assert out.dtype == np.float64
    expected = [ELEMENTWISE[name](v) for v in VALUES]
    assert out.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_float32_matches_reference_and_stays_float32(name):
    out = activations.get(name)(np.array(VALUES, dtype=np.float32))
    assert out.dtype == np.float32
    expected = [ELEMENTWISE[name](v) for v in VALUES]
    # abs: gelu(-20) ~ -5.5e-88 is below float32's range and comes out as 0.
    assert out.tolist() == pytest.approx(expected, rel=1e-6, abs=1e-30)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extremes_give_limits_without_warnings(name, dtype):
    out = activations.get(name)(np.array(EXTREMES, dtype=dtype))
    assert out.dtype == dtype
    assert out.tolist() == pytest.approx(AT_EXTREMES[name], rel=1e-6)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_passes_through(name, dtype):
    out = activations.get(name)(np.array([np.nan, 1.0], dtype=dtype))
    assert np.isnan(out[0]) and not np.isnan(out[1])


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_zero_dim_and_shape_preserved(name):
    fn = activations.get(name)
    scalar = fn(np.array(-0.5, dtype=np.float32))
    assert isinstance(scalar, np.ndarray) and scalar.shape == () and scalar.dtype == np.float32
    assert float(scalar) == pytest.approx(ELEMENTWISE[name](-0.5), rel=1e-6)
    block = fn(np.full((2, 3, 4), -0.5, dtype=np.float32))
    assert block.shape == (2, 3, 4)


def test_integer_input_is_computed_in_float32():
    out = activations.relu(np.array([1, -2]))
    assert out.dtype == np.float32 and out.tolist() == [1.0, 0.0]


def test_parameters_keep_dtype():
    x = np.array([-1.0, 2.0], dtype=np.float32)
    assert activations.leaky_relu(x, negative_slope=np.float64(0.5)).tolist() == [-0.5, 2.0]
    assert activations.leaky_relu(x, negative_slope=np.float64(0.5)).dtype == np.float32
    assert activations.leaky_relu(x, negative_slope=2.0).tolist() == [-2.0, 2.0]
    assert activations.elu(x, alpha=np.float64(2.0)).dtype == np.float32
    assert activations.elu(x, alpha=2.0).tolist() == pytest.approx([2 * math.expm1(-1), 2.0])


# --- gelu and erf -----------------------------------------------------------


def test_gelu_float64_matches_erf_formula():
    # Where 1 + erf(x/sqrt2) does not cancel badly, the textbook formula is
    # itself accurate to ~1e-14 and gelu must agree with it.
    xs = np.linspace(-3, 8, 221)
    out = activations.gelu(xs)
    expected = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in xs]
    assert out.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_gelu_float32_within_float32_precision():
    xs = np.linspace(-10, 10, 4001, dtype=np.float32)
    out = activations.gelu(xs)
    assert out.dtype == np.float32
    expected = [ref_gelu(float(v)) for v in xs]
    assert out.tolist() == pytest.approx(expected, rel=2e-6, abs=1e-37)


def test_erf_float64_is_math_erf():
    xs = np.linspace(-6, 6, 241)
    assert _erf(xs).tolist() == [math.erf(v) for v in xs]


def test_erf_float32_accuracy():
    xs = np.concatenate([np.linspace(-6, 6, 2401), [1e-8, -1e-6, 0.4999, 0.5, 0.5001]]).astype(np.float32)
    out = _erf(xs)
    assert out.dtype == np.float32
    expected = [math.erf(float(v)) for v in xs]
    assert out.tolist() == pytest.approx(expected, rel=5e-7, abs=1e-30)


def test_erf_float32_extremes():
    out = _erf(np.array([0.0, math.inf, -math.inf, 1000.0, -1000.0, math.nan], dtype=np.float32))
    assert out[:5].tolist() == [0.0, 1.0, -1.0, 1.0, -1.0]
    assert np.isnan(out[5])


# --- softmax / log_softmax -----------------------------------------------------

ROWS = [[0.0, 0.5, -0.5], [3.0, -3.0, 20.0], [-20.0, 0.0, 0.0], [1.0, 1.0, 1.0]]


def ref_softmax(row):
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    return [e / sum(exps) for e in exps]


def ref_log_softmax(row):
    top = max(row)
    lse = top + math.log(sum(math.exp(v - top) for v in row))
    return [v - lse for v in row]


@pytest.mark.parametrize("dtype, rel", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_softmax_matches_reference(dtype, rel):
    out = activations.softmax(np.array(ROWS, dtype=dtype))
    assert out.dtype == dtype
    for got, row in zip(out.tolist(), ROWS):
        assert got == pytest.approx(ref_softmax(row), rel=rel, abs=1e-30)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_log_softmax_matches_reference(dtype, tol):
    out = activations.log_softmax(np.array(ROWS, dtype=dtype))
    assert out.dtype == dtype
    for got, row in zip(out.tolist(), ROWS):
        # Absolute as well: log(sum) with sum = 1 + 4e-8 (row 2) is only
        # accurate to the precision of 1, as in Keras's formula.
        assert got == pytest.approx(ref_log_softmax(row), rel=tol, abs=tol)


def test_softmax_rows_sum_to_one():
    x = np.random.default_rng(0).normal(scale=30, size=(50, 17)).astype(np.float32)
    out = activations.softmax(x)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-6)
    assert (out >= 0).all()


def test_softmax_axis():
    x = np.array(ROWS, dtype=np.float64)
    np.testing.assert_allclose(activations.softmax(x, axis=0), activations.softmax(x.T).T, rtol=1e-15)
    np.testing.assert_allclose(activations.log_softmax(x, axis=0), activations.log_softmax(x.T).T, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_large_values(dtype):
    x = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, -1000.0, -1000.0]], dtype=dtype)
    out = activations.softmax(x)
    assert out[0].tolist() == [0.5, 0.5, 0.0]
    assert out[1].tolist() == pytest.approx([1 / 3] * 3, rel=1e-6)
    log = activations.log_softmax(x)
    assert log[0].tolist() == pytest.approx([-math.log(2), -math.log(2), -2000 - math.log(2)], rel=1e-6)
    assert log[1].tolist() == pytest.approx([-math.log(3)] * 3, rel=1e-6)


@pytest.mark.parametrize("fn", [activations.softmax, activations.log_softmax])
def test_all_neg_inf_row_is_nan_without_warning(fn):
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, 0.0, -np.inf]], dtype=np.float32)
    out = fn(x)
    assert np.isnan(out[0]).all()
    expected = [0.5, 0.5, 0.0] if fn is activations.softmax else [-math.log(2), -math.log(2), -math.inf]
    assert out[1].tolist() == pytest.approx(expected, rel=1e-6)


def test_softmax_pos_inf_row_takes_the_limit():
    x = np.array([[np.inf, 1.0, np.inf, -np.inf]], dtype=np.float32)
    assert activations.softmax(x).tolist() == [[0.5, 0.0, 0.5, 0.0]]
    assert activations.log_softmax(x).tolist()[0] == pytest.approx(
        [-math.log(2), -math.inf, -math.log(2), -math.inf], rel=1e-6
    )


@pytest.mark.parametrize("fn", [activations.softmax, activations.log_softmax])
def test_softmax_nan_row(fn):
    out = fn(np.array([[1.0, np.nan, 2.0], [1.0, 1.0, 1.0]], dtype=np.float32))
    assert np.isnan(out[0]).all() and not np.isnan(out[1]).any()


@pytest.mark.parametrize("name", sorted(ELEMENTWISE) + ["softmax", "log_softmax"])
def test_rows_do_not_depend_on_the_batch(name):
    # run --batch-size must not change results: no SIMD-tail or blocking effects.
    fn = activations.get(name)
    x = np.random.default_rng(1).normal(scale=4, size=(37, 13)).astype(np.float32)
    full = fn(x)
    for i in range(len(x)):
        np.testing.assert_array_equal(full[i], fn(x[i]))


def test_softmax_of_a_lone_value():
    assert activations.softmax(np.float32(3.0)).tolist() == 1.0
    assert activations.log_softmax(np.array(2.0)).tolist() == 0.0


# --- get / names ----------------------------------------------------------------


def test_get_known_names_and_aliases():
    assert activations.get("relu") is activations.relu
    assert activations.get("swish") is activations.silu
    assert activations.get("hard_swish") is activations.hard_silu
    assert activations.get("log_softmax") is activations.log_softmax


@pytest.mark.parametrize("identifier", [None, "linear"])
def test_get_linear(identifier):
    assert activations.get(identifier) is activations.linear


def test_get_callable_is_returned_as_is():
    def custom(x):
        return x * 2

    assert activations.get(custom) is custom


@pytest.mark.parametrize(
    "name, message",
    [
        ("nope", "unknown activation 'nope'"),
        ("tanhh", "unknown activation 'tanhh'; did you mean 'tanh'?"),
        ("ReLU", "unknown activation 'ReLU'; did you mean 'relu'?"),
        ("softmx", "unknown activation 'softmx'; did you mean 'softmax'?"),
    ],
)
def test_get_unknown_name(name, message):
    with pytest.raises(ArgumentError) as info:
        activations.get(name)
    assert str(info.value) == message


@pytest.mark.parametrize("value, type_name", [(3, "int"), (["relu"], "list"), ({"type": "relu"}, "dict")])
def test_get_wrong_type(value, type_name):
    with pytest.raises(ArgumentError) as info:
        activations.get(value)
    assert str(info.value) == f"expected an activation name such as 'relu', got {type_name}"


def test_names():
    assert activations.names() == [
        "elu",
        "exponential",
        "gelu",
        "hard_sigmoid",
        "hard_silu",
        "hard_swish",
        "leaky_relu",
        "linear",
        "log_softmax",
        "mish",
        "relu",
        "relu6",
        "selu",
        "sigmoid",
        "silu",
        "softmax",
        "softplus",
        "softsign",
        "swish",
        "tanh",
    ]


@pytest.mark.parametrize("name", sorted(ELEMENTWISE) + ["softmax", "log_softmax"])
def test_every_public_function_has_a_docstring(name):
    assert activations.get(name).__doc__
