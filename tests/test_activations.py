"""Tests of layerspec.activations against plain-Python references (math only)."""

import math
import warnings

import numpy as np
import pytest

from layerspec import activations
from layerspec.activations import _erf
from layerspec.errors import ArgumentError, ShapeError

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
    # Keras 3's newer activations, from their textbook formulas.
    "hard_tanh": lambda v: min(max(v, -1.0), 1.0),
    "log_sigmoid": lambda v: -math.log1p(math.exp(-v)) if v >= 0 else v - math.log1p(math.exp(v)),
    "celu": lambda v: v if v > 0 else math.expm1(v),  # alpha 1
    "squareplus": lambda v: (v + math.sqrt(v * v + 4)) / 2,
    "sparse_plus": lambda v: 0.0 if v <= -1 else (v + 1) ** 2 / 4 if v < 1 else v,
    "sparse_sigmoid": lambda v: 0.0 if v <= -1 else 1.0 if v >= 1 else (v + 1) / 2,
    "soft_shrink": lambda v: v - 0.5 if v > 0.5 else v + 0.5 if v < -0.5 else 0.0,
    "hard_shrink": lambda v: v if abs(v) > 0.5 else 0.0,
    "tanh_shrink": lambda v: v - math.tanh(v),
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
    "hard_tanh": [1, -1, 1, -1],
    "log_sigmoid": [0, -1000, 0, -math.inf],
    "celu": [1000, -1, math.inf, -1],
    "squareplus": [(1000 + math.sqrt(1000004)) / 2, 4 / (2 * (math.sqrt(1000004) + 1000)), math.inf, 0],
    "sparse_plus": [1000, 0, math.inf, 0],
    "sparse_sigmoid": [1, 0, 1, 0],
    "soft_shrink": [999.5, -999.5, math.inf, -math.inf],
    "hard_shrink": [1000, -1000, math.inf, -math.inf],
    "tanh_shrink": [999, -999, math.inf, -math.inf],
}


@pytest.fixture(autouse=True)
def warnings_are_errors():
    """Any NumPy warning (overflow, invalid value, ...) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


ALONG_AXIS = ["softmax", "log_softmax", "sparsemax", "glu"]


def test_every_name_is_tested():
    assert set(ELEMENTWISE) | set(ALONG_AXIS) == set(activations.names())


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


@pytest.mark.parametrize("name", sorted(ELEMENTWISE) + ALONG_AXIS)
def test_rows_do_not_depend_on_the_batch(name):
    # run --batch-size must not change results: no SIMD-tail or blocking effects.
    fn = activations.get(name)
    # 13 values a row (glu: two halves of 13), an odd count for SIMD tails.
    x = np.random.default_rng(1).normal(scale=4, size=(37, 26 if name == "glu" else 13)).astype(np.float32)
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
        "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
        "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu",
        "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
        "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink",
    ]


@pytest.mark.parametrize("name", sorted(ELEMENTWISE) + ALONG_AXIS)
def test_every_public_function_has_a_docstring(name):
    assert activations.get(name).__doc__


# --- Keras 3's newer activations: the ones along an axis, shapes, in-place forms ---


def ref_sparsemax(row):
    """Textbook sparsemax (Martins & Astudillo, 2016), by plain loops: the
    largest k with 1 + k * z_k > z_1 + ... + z_k (sorted descending), then
    tau = (z_1 + ... + z_k - 1) / k."""
    ordered = sorted(row, reverse=True)
    total, k, support_total = 0.0, 0, 0.0
    for j, value in enumerate(ordered, start=1):
        total += value
        if 1 + j * value > total:
            k, support_total = j, total
    tau = (support_total - 1) / k
    return [max(v - tau, 0.0) for v in row]


SPARSE_ROWS = [[0.5, 0.4, -1.0], [1.0, 0.0, 0.0], [0.1, 0.2, 0.3], [3.0, -3.0, 20.0], [1.0, 1.0, 1.0]]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_sparsemax_matches_the_textbook_formula(dtype, tol):
    out = activations.sparsemax(np.array(SPARSE_ROWS, dtype=dtype))
    assert out.dtype == dtype
    for got, row in zip(out.tolist(), SPARSE_ROWS):
        assert got == pytest.approx(ref_sparsemax(row), rel=tol, abs=tol)
    # [0.5, 0.4]: both in the support, tau = -0.05. (Keras 3.15's threshold,
    # from the sum of the cumulative sums, gives [0.3, 0.2], which does not
    # sum to 1; this is the formula of the paper its docstring cites.)
    assert out[0].tolist() == pytest.approx([0.55, 0.45, 0.0], rel=tol)


def test_sparsemax_rows_sum_to_one_and_axis():
    x = np.random.default_rng(2).normal(scale=3, size=(40, 9))
    out = activations.sparsemax(x)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-12)
    assert (out >= 0).all()
    for got, row in zip(out.tolist(), x.tolist()):
        assert got == pytest.approx(ref_sparsemax(row), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(activations.sparsemax(x.T, axis=0), out.T, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparsemax_extremes_without_warnings(dtype):
    x = np.array([[1000.0, -1000.0, 999.5], [np.inf, 1.0, np.inf], [-np.inf, -np.inf, -np.inf],
                  [-np.inf, 2.0, -np.inf], [1.0, np.nan, 2.0]], dtype=dtype)
    out = activations.sparsemax(x)
    assert out.dtype == dtype
    assert out[0].tolist() == pytest.approx([0.75, 0.0, 0.25])
    assert out[1].tolist() == [0.5, 0.0, 0.5]  # the limit: equal weight on the infinite entries
    assert np.isnan(out[2]).all() and np.isnan(out[4]).all()
    assert out[3].tolist() == [0.0, 1.0, 0.0]


def test_sparsemax_of_a_lone_value_and_empty_rows():
    assert activations.sparsemax(np.float32(-3.0)).tolist() == 1.0
    assert activations.sparsemax(np.zeros((0, 3), np.float32)).shape == (0, 3)


def ref_glu(row):
    half = len(row) // 2
    return [a * ref_sigmoid(b) for a, b in zip(row[:half], row[half:])]


@pytest.mark.parametrize("dtype, rel", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_glu_halves_the_last_axis(dtype, rel):
    rows = [[1.0, -2.0, 0.0, 3.0], [20.0, -20.0, -20.0, 20.0]]
    out = activations.glu(np.array(rows, dtype=dtype))
    assert out.dtype == dtype and out.shape == (2, 2)
    for got, row in zip(out.tolist(), rows):
        assert got == pytest.approx(ref_glu(row), rel=rel, abs=1e-30)
    x = np.arange(12.0).reshape(2, 6)
    np.testing.assert_allclose(activations.glu(x, axis=0), activations.glu(x.T).T, rtol=1e-15)


def test_glu_extremes_without_warnings():
    x = np.array([[1000.0, -1000.0, 1000.0, -1000.0], [np.inf, 1.0, -np.inf, 1000.0]], dtype=np.float32)
    out = activations.glu(x)
    assert out[0].tolist() == [1000.0, 0.0]  # -1000 * sigmoid(-1000)
    # inf * sigmoid(-inf): the halves are independent, there is no limit: NaN, as in Keras.
    assert np.isnan(out[1, 0]) and out[1, 1] == 1.0


@pytest.mark.parametrize("x, message", [
    (np.zeros((2, 3)), "activation 'glu' splits axis -1 in two halves, so its size must be even, got 3"),
    (np.float32(1.0), "activation 'glu' needs an axis to split in two, got a scalar"),
])
def test_glu_refuses_what_it_cannot_halve(x, message):
    with pytest.raises(ShapeError) as info:
        activations.glu(x)
    assert str(info.value) == message


def test_squareplus_does_not_overflow_or_cancel():
    x = np.array([-1e30, -1e4, 1e4, 1e30, np.finfo(np.float32).max], dtype=np.float32)
    out = activations.squareplus(x)
    assert out.dtype == np.float32
    # For x < 0 the formula cancels: b / (2 (sqrt(x^2 + b) - x)) keeps it exact.
    expected = [1 / 1e30, 4 / (2 * (math.sqrt(1e8 + 4) + 1e4)), (1e4 + math.sqrt(1e8 + 4)) / 2, 1e30,
                float(np.finfo(np.float32).max)]
    assert out.tolist() == pytest.approx(expected, rel=1e-6)


def test_elementwise_parameters_keep_dtype():
    x = np.array([-2.0, -0.3, 0.3, 2.0], dtype=np.float32)
    assert activations.celu(x, alpha=np.float64(2.0)).dtype == np.float32
    assert activations.celu(x, alpha=2.0).tolist() == pytest.approx(
        [2 * math.expm1(-1), 2 * math.expm1(-0.15), 0.3, 2.0], rel=1e-6)
    assert activations.soft_shrink(x, threshold=0.25).tolist() == pytest.approx([-1.75, -0.05, 0.05, 1.75])
    assert activations.hard_shrink(x, threshold=1.0).tolist() == [-2.0, 0.0, 0.0, 2.0]
    assert activations.squareplus(x, b=0.0).tolist() == pytest.approx([0.0, 0.0, 0.3, 2.0])


def test_threshold_needs_arguments_a_name_cannot_give():
    # Keras 3.15's threshold(x, threshold, default_value) has no defaults, so
    # Keras cannot apply it by name either.
    with pytest.raises(ArgumentError) as info:
        activations.get("threshold")
    assert str(info.value) == ("activation 'threshold' needs the arguments threshold and default_value, which an "
                               "activation name cannot give (Keras cannot use it by name either); use relu, or "
                               "hard_shrink, or an Activation layer of your own")


NEW_IN_PLACE = ["hard_tanh", "sparse_sigmoid", "soft_shrink", "hard_shrink", "tanh_shrink"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NEW_IN_PLACE)
def test_new_in_place_forms_write_over_their_input_bit_for_bit(name, dtype):
    function = activations.get(name)
    x = np.array([[-1000.0, -1.5, -0.5, -0.25, -0.0, 0.0, 0.5, 0.75, 1.0, 3.0, np.inf, -np.inf, np.nan]],
                 dtype=dtype)
    expected = function(x.copy())
    result = activations.apply_inplace(function, x)
    assert result is x
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_activations_say_so(name):
    assert activations.is_elementwise(activations.get(name))


@pytest.mark.parametrize("function", [activations.softmax, activations.log_softmax, activations.sparsemax,
                                      activations.glu, np.tanh, lambda x: x])
def test_axis_wise_and_unknown_activations_are_not_elementwise(function):
    assert not activations.is_elementwise(function)


@pytest.mark.parametrize("function, shape, expected", [
    (activations.relu, (None, 3, 5), (None, 3, 5)),
    (activations.sparsemax, (None, 7), (None, 7)),
    (activations.glu, (None, 3, 8), (None, 3, 4)),
    (activations.glu, (None, None), (None, None)),
])
def test_output_shape(function, shape, expected):
    assert activations.output_shape(function, shape) == expected


def test_output_shape_of_glu_on_an_odd_axis():
    with pytest.raises(ShapeError) as info:
        activations.output_shape(activations.glu, (None, 5))
    assert (info.value.message, info.value.argument) == (
        "activation 'glu' splits the last axis in two halves, so its size must be even, got 5", "activation")
