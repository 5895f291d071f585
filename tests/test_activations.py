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


@pytest.mark.parametrize("value, shown", [(3, "integer 3"), (["relu"], "a list"), (2.5, "number 2.5")])
def test_get_wrong_type(value, shown):
    with pytest.raises(ArgumentError) as info:
        activations.get(value)
    assert str(info.value) == ("expected an activation name such as 'relu' or a mapping {name: NAME, ...arguments}, "
                               f"got {shown}")


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
    # Keras cannot apply it by name either; the mapping form gives them.
    with pytest.raises(ArgumentError) as info:
        activations.get("threshold")
    assert str(info.value) == ("activation 'threshold' needs the arguments threshold and default_value, which a "
                               "name alone cannot give (Keras cannot use it by name either): write it as a "
                               "mapping, e.g. {name: threshold, threshold: 0.0, default_value: -1.0}")
    assert "threshold" not in activations.names() and "threshold" in activations.mapping_names()


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


# --- activation arguments: the mapping form {name: NAME, ...arguments} ---------

#: The keyword arguments of Keras 3.15.1's activation functions and their
#: defaults, copied from the signatures in keras/src/activations/activations.py.
#: Every other activation takes none.
KERAS_SIGNATURES = {
    "relu": {"negative_slope": 0.0, "max_value": None, "threshold": 0.0},
    "leaky_relu": {"negative_slope": 0.2},
    "softmax": {"axis": -1},
    "elu": {"alpha": 1.0},
    "soft_shrink": {"threshold": 0.5},
    "squareplus": {"b": 4},
    "gelu": {"approximate": False},
    "celu": {"alpha": 1.0},
    "glu": {"axis": -1},
    "hard_shrink": {"threshold": 0.5},
    "threshold": {"threshold": activations.REQUIRED, "default_value": activations.REQUIRED},
    "log_softmax": {"axis": -1},
    "sparsemax": {"axis": -1},
}


def test_arguments_are_keras_signatures_in_keras_order():
    for name in activations.mapping_names():
        assert activations.arguments(name) == KERAS_SIGNATURES.get(name, {}), name
        assert list(activations.arguments(name)) == list(KERAS_SIGNATURES.get(name, {})), name


def ref_gelu_tanh(v):
    """0.5 v (1 + tanh z), z = sqrt(2/pi) (v + 0.044715 v^3); for z < 0 written
    as the equal v e^2z / (1 + e^2z), as 1 + tanh z cancels there."""
    z = math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)
    if z >= 0:
        return 0.5 * v * (1 + math.tanh(z))
    return v * math.exp(2 * z) / (1 + math.exp(2 * z))


def test_gelu_tanh_reference_is_the_textbook_formula_where_it_does_not_cancel():
    for v in (-2.0, -0.5, 0.3, 1.7, 4.0):
        textbook = 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
        assert ref_gelu_tanh(v) == pytest.approx(textbook, rel=1e-13)


def ref_relu(v, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras 3's rectifier as its docstring and code state it, one value at a time."""
    if negative_slope and max_value is None and threshold == 0:
        return v if v >= 0 else negative_slope * v
    out = (v if v > threshold else 0.0) if threshold else max(v, 0.0)
    if max_value is not None:
        out = min(max(out, 0.0), max_value)
    return out - negative_slope * max(threshold - v, 0.0)


SQRT_1000001 = math.sqrt(1000001)
# id: (mapping, plain-math reference, expected at [1000, -1000, inf, -inf])
MAPPED = {
    "gelu approximate": ({"name": "gelu", "approximate": True}, ref_gelu_tanh, [1000, 0, math.inf, 0]),
    "relu slope": ({"name": "relu", "negative_slope": 0.1}, lambda v: ref_relu(v, 0.1),
                   [1000, -100, math.inf, -math.inf]),
    "relu max 6": ({"name": "relu", "max_value": 6}, lambda v: ref_relu(v, max_value=6.0), [6, 0, 6, 0]),
    "relu all three": ({"name": "relu", "negative_slope": 0.3, "max_value": 2.5, "threshold": 1},
                       lambda v: ref_relu(v, 0.3, 2.5, 1.0), [2.5, -300.3, 2.5, -math.inf]),
    "relu negative threshold": ({"name": "relu", "threshold": -1}, lambda v: ref_relu(v, threshold=-1.0),
                                [1000, 0, math.inf, 0]),
    "relu threshold": ({"name": "relu", "threshold": 1.5}, lambda v: ref_relu(v, threshold=1.5),
                       [1000, 0, math.inf, 0]),
    "leaky_relu 0.1": ({"name": "leaky_relu", "negative_slope": 0.1}, lambda v: v if v >= 0 else 0.1 * v,
                       [1000, -100, math.inf, -math.inf]),
    "leaky_relu 1.5": ({"name": "leaky_relu", "negative_slope": 1.5}, lambda v: v if v >= 0 else 1.5 * v,
                       [1000, -1500, math.inf, -math.inf]),
    "elu 0.5": ({"name": "elu", "alpha": 0.5}, lambda v: v if v > 0 else 0.5 * math.expm1(v),
                [1000, -0.5, math.inf, -0.5]),
    "celu 2": ({"name": "celu", "alpha": 2}, lambda v: max(v, 0.0) + 2 * math.expm1(min(v, 0.0) / 2),
               [1000, -2, math.inf, -2]),
    "squareplus 1": ({"name": "squareplus", "b": 1}, lambda v: (v + math.sqrt(v * v + 1)) / 2,
                     [(1000 + SQRT_1000001) / 2, 0.5 / (SQRT_1000001 + 1000), math.inf, 0]),
    "soft_shrink 1": ({"name": "soft_shrink", "threshold": 1}, lambda v: v - 1 if v > 1 else v + 1 if v < -1 else 0.0,
                      [999, -999, math.inf, -math.inf]),
    "hard_shrink 1": ({"name": "hard_shrink", "threshold": 1}, lambda v: v if abs(v) > 1 else 0.0,
                      [1000, -1000, math.inf, -math.inf]),
    "threshold": ({"name": "threshold", "threshold": 0.5, "default_value": -1},
                  lambda v: v if v > 0.5 else -1.0, [1000, -1, math.inf, -1]),
}
MAPPED_VALUES = VALUES + [1.0, -1.0, 1.5, 2.5, 0.1, -0.1]


@pytest.mark.parametrize("mapping, reference", [case[:2] for case in MAPPED.values()], ids=MAPPED.keys())
def test_mapping_float64_matches_reference(mapping, reference):
    out = activations.get(mapping)(np.array(MAPPED_VALUES, dtype=np.float64))
    assert out.dtype == np.float64
    assert out.tolist() == pytest.approx([reference(v) for v in MAPPED_VALUES], rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("mapping, reference", [case[:2] for case in MAPPED.values()], ids=MAPPED.keys())
def test_mapping_float32_matches_reference_and_stays_float32(mapping, reference):
    x = np.array(MAPPED_VALUES, dtype=np.float32)
    out = activations.get(mapping)(x)
    assert out.dtype == np.float32
    assert out.tolist() == pytest.approx([reference(float(v)) for v in x], rel=1e-6, abs=1e-30)


@pytest.mark.parametrize("mapping, expected", [(case[0], case[2]) for case in MAPPED.values()], ids=MAPPED.keys())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mapping_extremes_give_limits_without_warnings(mapping, expected, dtype):
    out = activations.get(mapping)(np.array(EXTREMES + [math.nan], dtype=dtype))
    assert out.dtype == dtype
    assert out[:4].tolist() == pytest.approx(expected, rel=1e-6)
    assert np.isnan(out[4])  # NaN passes through


def test_relu_arguments_give_keras_docstring_examples():
    x = np.array([-10, -5, 0.0, 5, 10], dtype=np.float32)
    assert activations.get({"name": "relu", "negative_slope": 0.5})(x).tolist() == [-5, -2.5, 0, 5, 10]
    assert activations.get({"name": "relu", "max_value": 5})(x).tolist() == [0, 0, 0, 5, 5]
    assert activations.get({"name": "relu", "threshold": 5})(x).tolist() == [0, 0, 0, 0, 10]


def test_gelu_approximate_float32_across_its_range():
    xs = np.linspace(-10, 10, 4001, dtype=np.float32)
    out = activations.gelu(xs, approximate=True)
    assert out.dtype == np.float32
    expected = [ref_gelu_tanh(float(v)) for v in xs]
    # Rounding 2z to float32 costs |2z| * 6e-8 relative in exp(2z): 1e-5 at x = -10, where
    # Keras's 1 + tanh(z) is 0 in float32.
    assert out.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-37)
    assert out[np.abs(xs) <= 3].tolist() == pytest.approx(np.array(expected)[np.abs(xs) <= 3], rel=1e-6)
    huge = activations.gelu(np.array([1e20, -1e20, 3e38, -3e38], dtype=np.float32), approximate=True)
    assert huge.tolist() == [float(np.float32(1e20)), 0.0, float(np.float32(3e38)), 0.0]


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "sparsemax"])
def test_axis_argument_works_along_that_axis(name):
    x = np.random.default_rng(2).normal(scale=3, size=(2, 5, 3))
    along = activations.get({"name": name, "axis": -2})(x)
    np.testing.assert_allclose(along, np.swapaxes(activations.get(name)(np.swapaxes(x, 1, 2)), 1, 2), rtol=1e-15)
    np.testing.assert_array_equal(activations.get({"name": name, "axis": 1})(x), along)


def test_glu_axis_argument_splits_that_axis():
    x = np.random.default_rng(3).normal(size=(2, 4, 3))
    out = activations.get({"name": "glu", "axis": 1})(x)
    assert out.shape == (2, 2, 3)
    for b, i, j in np.ndindex(*out.shape):
        assert out[b, i, j] == pytest.approx(x[b, i, j] * ref_sigmoid(x[b, i + 2, j]), rel=1e-14)


NORMALISED = {
    "defaults only": ({"name": "gelu"}, "gelu"),
    "a default written": ({"name": "gelu", "approximate": False}, "gelu"),
    "number as float": ({"name": "relu", "max_value": 6}, {"name": "relu", "max_value": 6.0}),
    "keras order, defaults dropped": ({"threshold": 1, "name": "relu", "negative_slope": 0.1, "max_value": None},
                                      {"name": "relu", "negative_slope": 0.1, "threshold": 1.0}),
    "alias kept": ({"name": "swish"}, "swish"),
    "required kept": ({"name": "threshold", "default_value": 0, "threshold": 0},
                      {"name": "threshold", "threshold": 0.0, "default_value": 0.0}),
    "axis": ({"name": "softmax", "axis": -2}, {"name": "softmax", "axis": -2}),
    "name": ("relu", "relu"),
    "null": (None, None),
}


@pytest.mark.parametrize("identifier, expected", NORMALISED.values(), ids=NORMALISED.keys())
def test_normalise_gives_the_shortest_equivalent(identifier, expected):
    normalised = activations.normalise(identifier)
    assert normalised == expected and type(normalised) is type(expected)
    assert activations.normalise(normalised) == normalised


def test_a_mapping_with_defaults_only_is_the_plain_function():
    assert activations.get({"name": "tanh"}) is activations.tanh
    assert activations.get({"name": "relu", "negative_slope": 0, "threshold": 0.0}) is activations.relu
    bound = activations.get({"name": "gelu", "approximate": True})
    assert isinstance(bound, activations.BoundActivation) and bound.__name__ == "gelu"
    assert activations.normalise(bound) == {"name": "gelu", "approximate": True}
    assert activations.get(bound) is bound


def test_bound_activations_compare_by_what_they_compute():
    one = activations.get({"name": "relu", "max_value": 6})
    assert one == activations.get({"name": "relu", "max_value": 6.0})
    assert one != activations.get({"name": "relu", "max_value": 5})
    assert one != activations.relu6
    assert len({one, activations.get({"name": "relu", "max_value": 6})}) == 1
    assert repr(one) == "<activation relu(max_value=6.0)>"


MAPPING_ERRORS = {
    "unknown argument": ({"name": "gelu", "aproximate": True},
                         "activation 'gelu' has no argument 'aproximate'; did you mean 'approximate'?"),
    "no arguments": ({"name": "tanh", "alpha": 1.0}, "activation 'tanh' takes no arguments, got 'alpha'"),
    "type, not name": ({"type": "gelu"}, "an activation mapping needs a 'name' (not 'type', as for an initializer), "
                                         "e.g. {name: gelu, approximate: true}"),
    "no name": ({}, "an activation mapping needs a 'name', e.g. {name: gelu, approximate: true}"),
    "name not a string": ({"name": 3}, "an activation mapping's 'name' must be an activation name, got integer 3"),
    "unknown name": ({"name": "gelux"}, "unknown activation 'gelux'; did you mean 'gelu'?"),
    "one required missing": ({"name": "threshold", "threshold": 0.5},
                             "activation 'threshold' needs the argument 'default_value'"),
    "both required missing": ({"name": "threshold"},
                              "activation 'threshold' needs the arguments 'threshold' and 'default_value'"),
    "boolean": ({"name": "gelu", "approximate": "yes"},
                "activation 'gelu': argument 'approximate' must be true or false, got string 'yes'"),
    "optional number": ({"name": "relu", "max_value": "6"},
                        "activation 'relu': argument 'max_value' must be a number or null, got string '6'"),
    "integer axis": ({"name": "softmax", "axis": 1.0},
                     "activation 'softmax': argument 'axis' must be an integer, got number 1.0"),
    "celu alpha 0": ({"name": "celu", "alpha": 0}, "activation 'celu': argument 'alpha' must be a number > 0, got integer 0"),
    "squareplus b < 0": ({"name": "squareplus", "b": -1},
                         "activation 'squareplus': argument 'b' must be a number >= 0, got integer -1"),
    "not finite": ({"name": "elu", "alpha": math.nan},
                   "activation 'elu': argument 'alpha' must be a number, got number .nan (not finite)"),
    "boolean slope": ({"name": "leaky_relu", "negative_slope": True},
                      "activation 'leaky_relu': argument 'negative_slope' must be a number, got boolean true"),
}


@pytest.mark.parametrize("mapping, message", MAPPING_ERRORS.values(), ids=MAPPING_ERRORS.keys())
def test_mapping_errors(mapping, message):
    with pytest.raises(ArgumentError) as info:
        activations.get(mapping)
    assert info.value.message == message


def test_predicates_of_bound_activations():
    relu6_like = activations.get({"name": "relu", "max_value": 6})
    along_rows = activations.get({"name": "softmax", "axis": -2})
    glu_rows = activations.get({"name": "glu", "axis": 1})
    assert activations.is_elementwise(relu6_like)
    assert not activations.is_elementwise(along_rows) and not activations.is_elementwise(glu_rows)
    assert activations.changes_shape(glu_rows) and not activations.changes_shape(along_rows)
    assert [activations.needs_whole_output(f) for f in (relu6_like, along_rows, glu_rows)] == [False, True, True]
    assert [activations.needs_whole_output(f) for f in (activations.softmax, activations.glu)] == [False, True]
    assert activations.cost(relu6_like) == 1


@pytest.mark.parametrize("mapping, shape, expected", [
    ({"name": "glu", "axis": 1}, (None, 4, 6), (None, 2, 6)),
    ({"name": "glu", "axis": -2}, (None, None, 6), (None, None, 6)),
    ({"name": "softmax", "axis": -2}, (None, 3, 5), (None, 3, 5)),
    ({"name": "relu", "max_value": 1}, (None, 3), (None, 3)),
])
def test_output_shape_of_bound_activations(mapping, shape, expected):
    assert activations.output_shape(activations.get(mapping), shape) == expected


@pytest.mark.parametrize("mapping, shape, message", [
    ({"name": "glu", "axis": -2}, (None, 3, 4), "activation 'glu' splits axis -2 in two halves, so its size must be "
                                                "even, got 3"),
    ({"name": "softmax", "axis": 3}, (None, 3, 4), "activation 'softmax' works along axis 3, but its input has 3 "
                                                   "axes (batch included)"),
    ({"name": "sparsemax", "axis": 0}, (None, 3), "activation 'sparsemax' cannot work along axis 0, the batch axis: "
                                                  "its result would depend on how the samples are batched"),
    ({"name": "log_softmax", "axis": -3}, (None, 3, 4), "activation 'log_softmax' cannot work along axis -3, the "
                                                        "batch axis: its result would depend on how the samples are "
                                                        "batched"),
])
def test_output_shape_refuses_axes_it_cannot_use(mapping, shape, message):
    with pytest.raises(ShapeError) as info:
        activations.output_shape(activations.get(mapping), shape)
    assert (info.value.message, info.value.argument) == (message, "activation")


def test_bound_activation_called_on_too_few_axes():
    with pytest.raises(ShapeError) as info:
        activations.get({"name": "softmax", "axis": 2})(np.zeros((2, 3)))
    assert info.value.message == "activation 'softmax' works along axis 2, but its input has 2 axes"


def test_apply_inplace_of_a_bound_activation_gives_its_values():
    function = activations.get({"name": "elu", "alpha": 0.5})
    x = np.array([[-2.0, 0.5]], dtype=np.float32)
    np.testing.assert_array_equal(activations.apply_inplace(function, x.copy()), function(x))


def test_activation_kind_json_schema_accepts_the_mapping_forms():
    import jsonschema

    from layerspec.arguments import ActivationName

    validator = jsonschema.Draft202012Validator(ActivationName().json_schema())
    good = ["relu", None, {"name": "gelu", "approximate": True}, {"name": "relu", "max_value": None},
            {"name": "tanh"}, {"name": "threshold", "threshold": 0, "default_value": 1}, {"name": "softmax", "axis": -2},
            {"name": "relu", "max_value": "${cap}"}]
    bad = ["threshold", "rleu", {"name": "gelu", "aproximate": True}, {"name": "tanh", "alpha": 1},
           {"name": "threshold", "threshold": 0}, {"name": "gelu", "approximate": "yes"}, {"approximate": True},
           {"name": "celu", "alpha": 0}]
    assert [validator.is_valid(value) for value in good] == [True] * len(good)
    assert [validator.is_valid(value) for value in bad] == [False] * len(bad)


# --- activation arguments through layers ----------------------------------------


def test_dense_with_a_mapping_computes_it_and_records_it():
    from layerspec.layers import Dense

    layer = Dense(3, activation={"name": "gelu", "approximate": True})
    layer.build_for((None, 4))
    rng = np.random.default_rng(4)
    layer.kernel.assign(rng.normal(size=(4, 3)).astype(np.float32))
    layer.bias.assign(rng.normal(size=3).astype(np.float32))
    x = rng.normal(scale=2, size=(5, 4)).astype(np.float32)
    pre = x.astype(np.float64) @ layer.kernel.value.astype(np.float64) + layer.bias.value
    expected = [[ref_gelu_tanh(v) for v in row] for row in pre.tolist()]
    out = layer(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert layer.get_config()["activation"] == {"name": "gelu", "approximate": True}
    assert Dense(**layer.get_config()).get_config() == layer.get_config()
    # From Python, a bound activation is recorded as its mapping, so it can be written to a spec.
    bound = activations.get({"name": "elu", "alpha": 0.5})
    assert Dense(2, activation=bound).get_config()["activation"] == {"name": "elu", "alpha": 0.5}
    assert Dense(2, activation={"name": "elu", "alpha": 1}).get_config()["activation"] == "elu"


def test_spec_with_activation_mappings_writes_them_back_and_reloads_identically():
    import layerspec

    text = """input: [6, 4]
layers:
  - {units: 8, activation: {name: gelu, approximate: true}}
  - {type: Conv1D, filters: 4, kernel_size: 3, activation: {name: relu, max_value: 6}}
  - {type: LSTM, units: 3, return_sequences: true, recurrent_activation: {name: hard_sigmoid}}
  - {type: Activation, activation: {name: softmax, axis: -2}}
  - {units: 2, activation: {name: threshold, threshold: 0, default_value: -1}}
"""
    model = layerspec.loads(text).init(seed=0)
    written = model.to_yaml()
    assert "activation: {name: gelu, approximate: true}" in written
    assert "activation: {name: relu, max_value: 6.0}" in written
    assert "recurrent_activation: hard_sigmoid" in written
    assert "activation: {name: softmax, axis: -2}" in written
    assert "activation: {name: threshold, threshold: 0.0, default_value: -1.0}" in written
    again = layerspec.loads(written)
    assert [layer.get_config() for layer in again.layers] == [layer.get_config() for layer in model.layers]
    again.set_weights(model.get_weights())
    x = np.random.default_rng(5).normal(size=(3, 6, 4)).astype(np.float32)
    out = model.predict(x)
    np.testing.assert_array_equal(again.predict(x), out)
    np.testing.assert_allclose(out.min(), -1.0)  # threshold's default_value shows


@pytest.mark.parametrize("layer_type, arguments", [
    ("Conv2D", {"filters": 3, "kernel_size": 2}),
    ("Dense", {"units": 3}),
    ("LSTM", {"units": 3, "return_sequences": True}),
])
def test_relu_with_max_value_6_equals_relu6_in_every_layer(layer_type, arguments):
    import layerspec

    def spec(activation):
        shape = "[5, 5, 2]" if layer_type == "Conv2D" else "[5, 2]"
        flow = ", ".join(f"{key}: {str(value).lower()}" for key, value in arguments.items())
        return f"input: {shape}\nlayers:\n  - {{type: {layer_type}, {flow}, activation: {activation}}}\n"

    plain = layerspec.loads(spec("relu6")).init(seed=1)
    mapped = layerspec.loads(spec("{name: relu, max_value: 6}"))
    mapped.set_weights(plain.get_weights())
    x = np.random.default_rng(6).normal(scale=20, size=(4,) + plain.input_shape).astype(np.float32)
    out = plain.predict(x)
    np.testing.assert_array_equal(mapped.predict(x), out)
    assert layer_type == "LSTM" or ((out == 6).any() and (out == 0).any())  # both bounds are reached


@pytest.mark.parametrize("activation, message", [
    ("{name: gelu, aproximate: true}",
     "argument 'activation': activation 'gelu' has no argument 'aproximate'; did you mean 'approximate'?"),
    ("3", "argument 'activation' must be an activation name or mapping, got integer 3"),
    ("threshold", "argument 'activation': activation 'threshold' needs the arguments threshold and default_value"),
])
def test_spec_errors_name_the_layer_and_the_argument(activation, message):
    import layerspec
    from layerspec.errors import LayerspecError

    with pytest.raises(LayerspecError) as info:
        layerspec.loads(f"input: [4]\nlayers:\n  - {{units: 2, activation: {activation}}}\n")
    assert f"layer 1 'dense' (Dense): {message}" in str(info.value)


@pytest.mark.parametrize("activation, message", [
    ("{name: softmax, axis: 0}", "activation 'softmax' cannot work along axis 0, the batch axis"),
    ("{name: glu, axis: 1}", "activation 'glu' splits axis 1 in two halves, so its size must be even, got 3"),
])
def test_spec_shape_errors_of_axis_arguments(activation, message):
    import layerspec

    with pytest.raises(ShapeError) as info:
        layerspec.loads(f"input: [3, 4]\nlayers:\n  - {{type: Activation, activation: {activation}}}\n")
    assert "layer 1 'activation' (Activation): " + message in str(info.value)


def test_conv2d_applies_an_activation_along_a_spatial_axis_to_its_whole_output():
    import layerspec

    def conv(activation):
        return layerspec.loads("input: [128, 128, 3]\nlayers:\n  - {type: Conv2D, filters: 4, kernel_size: 3, "
                               f"activation: {activation}}}\n")

    linear = conv("linear").init(seed=0)
    along_rows = conv("{name: softmax, axis: 1}")
    along_rows.set_weights(linear.get_weights())
    x = np.random.default_rng(9).normal(size=(2, 128, 128, 3)).astype(np.float32)
    np.testing.assert_allclose(along_rows.predict(x), activations.softmax(linear.predict(x), axis=1), rtol=1e-6,
                               atol=1e-7)


def test_leaky_relu_with_a_zero_slope_keeps_positive_infinity():
    x = np.array([np.inf, 1.0, -2.0], dtype=np.float32)
    with np.errstate(invalid="ignore"):
        result = activations.leaky_relu(x, negative_slope=0.0)
    np.testing.assert_array_equal(result, [np.inf, 1.0, 0.0])
