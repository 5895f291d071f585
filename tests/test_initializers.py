"""Tests of layerspec.initializers: shapes, dtypes, statistics, lookup."""

import math
import warnings

import numpy as np
import pytest

from layerspec import initializers
from layerspec.errors import ArgumentError
from layerspec.initializers import (
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    Initializer,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    compute_fans,
)

ALL_NAMES = [
    "constant",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "one",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "zero",
    "zeros",
]

CONV = (3, 3, 16, 32)  # fan_in = 3*3*16 = 144, fan_out = 3*3*32 = 288


@pytest.fixture(autouse=True)
def warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def rng(seed=0):
    return np.random.default_rng(seed)


def draw(identifier, shape, dtype=np.float32, seed=0):
    return initializers.get(identifier)(shape, dtype, rng(seed))


# --- shapes and dtypes ----------------------------------------------------------


def test_names():
    assert initializers.names() == ALL_NAMES


@pytest.mark.parametrize(
    "name, shape",
    [
        (name, shape)
        for name in ALL_NAMES
        for shape in [(7,), (4, 6), CONV, (2, 0)]
        if not (name == "orthogonal" and len(shape) < 2)  # tested below
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_and_dtype(name, shape, dtype):
    out = draw(name, shape, dtype)
    assert out.shape == shape and out.dtype == dtype


@pytest.mark.parametrize("name", sorted(set(ALL_NAMES) - {"orthogonal"}))
def test_scalar_shape(name):
    out = draw(name, (), np.float64)
    assert out.shape == () and out.dtype == np.float64


@pytest.mark.parametrize(
    "shape, fans",
    [((), (1, 1)), ((5,), (5, 5)), ((4, 6), (4, 6)), (CONV, (144, 288)), ((5, 8, 3), (40, 15))],
)
def test_compute_fans(shape, fans):
    assert compute_fans(shape) == fans


def test_constants():
    assert draw("zeros", (2, 3)).tolist() == [[0.0] * 3] * 2
    assert draw("ones", (2,), np.float64).tolist() == [1.0, 1.0]
    assert draw({"type": "constant", "value": 2.5}, (3,)).tolist() == [2.5] * 3
    assert draw("constant", (2,)).tolist() == [0.0, 0.0]


# --- exact values from the generator --------------------------------------------


def test_random_normal_draws_in_float32_from_the_generator():
    out = RandomNormal(mean=1.0, stddev=2.0)((50, 3), np.float32, rng(5))
    expected = rng(5).standard_normal((50, 3), dtype=np.float32) * np.float32(2) + np.float32(1)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def test_random_uniform_draws_in_float64_from_the_generator():
    out = RandomUniform(minval=-1.0, maxval=3.0)((40,), np.float64, rng(6))
    np.testing.assert_array_equal(out, rng(6).random(40) * 4.0 - 1.0)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_same_seed_same_values(name):
    np.testing.assert_array_equal(draw(name, CONV, seed=3), draw(name, CONV, seed=3))


@pytest.mark.parametrize(
    "name", ["glorot_uniform", "glorot_normal", "random_normal", "orthogonal", "truncated_normal"]
)
def test_different_seed_different_values(name):
    assert not np.array_equal(draw(name, CONV, seed=3), draw(name, CONV, seed=4))


def test_seeded_initializer_ignores_rng_and_repeats():
    init = initializers.get({"type": "glorot_uniform", "seed": 7})
    first = init((20, 10), np.float32, rng(1))
    np.testing.assert_array_equal(first, init((20, 10), np.float32, rng(2)))
    np.testing.assert_array_equal(first, GlorotUniform()((20, 10), np.float32, rng(7)))


def test_consecutive_draws_from_one_generator_differ():
    generator = rng(0)
    init = GlorotUniform()
    assert not np.array_equal(init((8, 8), np.float32, generator), init((8, 8), np.float32, generator))


# --- statistics -----------------------------------------------------------------


def uniform_limit(fan):
    return math.sqrt(3.0 / fan)


@pytest.mark.parametrize(
    "name, shape, limit",
    [
        ("glorot_uniform", (400, 600), math.sqrt(6 / (400 + 600))),
        ("glorot_uniform", CONV, math.sqrt(6 / (144 + 288))),
        ("he_uniform", CONV, math.sqrt(6 / 144)),
        ("lecun_uniform", CONV, math.sqrt(3 / 144)),
        ("random_uniform", (500, 500), 0.05),
        ("uniform", (500, 500), 0.05),
    ],
)
def test_uniform_bounds_and_std(name, shape, limit):
    for dtype in (np.float32, np.float64):
        out = draw(name, shape, dtype)
        bound = float(np.asarray(limit, dtype))  # the limit as the dtype rounds it
        assert out.min() >= -bound and out.max() <= bound
        assert out.max() > 0.99 * limit and out.min() < -0.99 * limit
        assert out.std() == pytest.approx(limit / math.sqrt(3), rel=0.03)
        assert abs(out.mean()) < 0.02 * limit


@pytest.mark.parametrize(
    "name, shape, std",
    [
        ("glorot_normal", (400, 600), math.sqrt(2 / (400 + 600))),
        ("glorot_normal", CONV, math.sqrt(2 / (144 + 288))),
        ("he_normal", CONV, math.sqrt(2 / 144)),
        ("lecun_normal", CONV, math.sqrt(1 / 144)),
        ("variance_scaling", (500, 400), math.sqrt(1 / 500)),
    ],
)
def test_truncated_variance_scaling(name, shape, std):
    out = draw(name, shape).astype(np.float64)
    # The drawn normal has std = target / 0.8796...; truncation at 2 of its
    # std brings the values' std back to the target.
    cut = 2 * std / 0.87962566103423978
    assert np.abs(out).max() <= cut * (1 + 1e-6)
    assert np.abs(out).max() > 0.99 * cut
    assert out.std() == pytest.approx(std, rel=0.03)
    assert abs(out.mean()) < 0.02 * std


def test_truncated_normal_bounds_and_moments():
    out = draw({"type": "truncated_normal", "mean": 1.0, "stddev": 0.5}, (1000, 500), np.float64)
    assert out.min() >= 0.0 and out.max() <= 2.0
    assert out.min() < 0.01 and out.max() > 1.99
    assert out.mean() == pytest.approx(1.0, abs=0.002)
    assert out.std() == pytest.approx(0.5 * 0.87962566103423978, rel=0.01)


def test_random_normal_moments():
    out = draw({"type": "random_normal", "mean": -2.0, "stddev": 3.0}, (1000, 1000))
    assert out.mean() == pytest.approx(-2.0, abs=0.01)
    assert out.std() == pytest.approx(3.0, rel=0.01)
    assert np.abs(out + 2).max() > 4 * 3.0  # not truncated


def test_random_normal_default_std():
    out = draw("normal", (1000, 1000), np.float64)
    assert out.std() == pytest.approx(0.05, rel=0.01)


@pytest.mark.parametrize(
    "config, std",
    [
        ({"mode": "fan_out", "distribution": "untruncated_normal", "scale": 2.0}, math.sqrt(2 / 288)),
        ({"mode": "fan_avg", "distribution": "uniform"}, math.sqrt(1 / 216)),
        ({"mode": "fan_in", "distribution": "Normal"}, math.sqrt(1 / 144)),  # Keras: normal = truncated
    ],
)
def test_variance_scaling_modes(config, std):
    out = draw({"type": "variance_scaling", **config}, (30, 30, 16, 32), np.float64)
    # fans of (30, 30, 16, 32) are 100x those of CONV: the std is 10x smaller
    assert out.std() == pytest.approx(std / 10, rel=0.02)


def test_empty_weight_has_no_division_by_zero():
    assert draw("he_uniform", (0, 5)).shape == (0, 5)
    assert draw("glorot_normal", (0,)).shape == (0,)


# --- orthogonal ---------------------------------------------------------------


@pytest.mark.parametrize("dtype, atol", [(np.float32, 2e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (16, 16), CONV, (3, 3, 32, 4)])
def test_orthogonal(shape, dtype, atol):
    out = draw("orthogonal", shape, dtype)
    assert out.shape == shape and out.dtype == dtype
    q = out.reshape(-1, shape[-1]).astype(np.float64)
    rows, cols = q.shape
    gram = q.T @ q if rows >= cols else q @ q.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=atol)


def test_orthogonal_gain():
    q = draw({"type": "orthogonal", "gain": 2.0}, (30, 10), np.float64)
    np.testing.assert_allclose(q.T @ q, 4 * np.eye(10), atol=1e-12)


def test_orthogonal_is_sign_corrected_qr_of_a_normal_draw():
    a = rng(9).standard_normal((30, 10))
    q, r = np.linalg.qr(a)
    expected = q * np.sign(np.diag(r))
    np.testing.assert_allclose(Orthogonal()((30, 10), np.float64, rng(9)), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(Orthogonal()((10, 30), np.float64, rng(9)), expected.T, rtol=1e-12, atol=1e-15)


def test_orthogonal_needs_rank_2():
    with pytest.raises(ArgumentError) as info:
        draw("orthogonal", (5,))
    assert str(info.value) == "initializer 'orthogonal' needs a weight of rank >= 2, got shape (5,)"


# --- call arguments -----------------------------------------------------------


def test_call_rejects_bad_dtype_and_shape():
    with pytest.raises(ArgumentError, match="floating-point arrays, not int32"):
        GlorotUniform()((2, 2), np.int32, rng())
    with pytest.raises(ArgumentError, match=r"non-negative integers, got \(2, -1\)"):
        GlorotUniform()((2, -1), np.float32, rng())


def test_call_accepts_a_list_shape_and_float16():
    out = HeNormal()([4, 5], np.float16, rng())
    assert out.shape == (4, 5) and out.dtype == np.float16


# --- get ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identifier, cls",
    [
        ("glorot_uniform", GlorotUniform),
        ("GlorotUniform", GlorotUniform),
        ("glorotuniform", GlorotUniform),
        ("HE_NORMAL", HeNormal),
        ("RandomNormal", RandomNormal),
        ("normal", RandomNormal),
        ("uniform", RandomUniform),
        ("TruncatedNormal", TruncatedNormal),
        ("VarianceScaling", VarianceScaling),
        ("Orthogonal", Orthogonal),
    ],
)
def test_get_by_name(identifier, cls):
    assert type(initializers.get(identifier)) is cls


def test_get_aliases_have_keras_defaults():
    assert initializers.get("uniform") == RandomUniform(minval=-0.05, maxval=0.05)
    assert initializers.get("normal") == RandomNormal(mean=0.0, stddev=0.05)


def test_get_instance_class_and_callable():
    init = RandomNormal(stddev=0.3)
    assert initializers.get(init) is init
    assert initializers.get(GlorotNormal) == GlorotNormal()

    def custom(shape, dtype, rng):
        return np.full(shape, 3.0, dtype)

    assert initializers.get(custom) is custom


def test_get_mapping():
    init = initializers.get({"type": "random_normal", "stddev": 0.1})
    assert init == RandomNormal(mean=0.0, stddev=0.1)
    assert initializers.get({"type": "VarianceScaling", "scale": 2, "mode": "fan_out"}).config() == {
        "scale": 2.0,
        "mode": "fan_out",
        "distribution": "truncated_normal",
        "seed": None,
    }


EXPECTED_INITIALIZER = (
    "expected an initializer name such as 'glorot_uniform' or a mapping with a 'type' key, got "
)


@pytest.mark.parametrize(
    "identifier, message, argument",
    [
        ("glorot_unifrom", "unknown initializer 'glorot_unifrom'; did you mean 'glorot_uniform'?", None),
        ("GlorotUnifrom", "unknown initializer 'GlorotUnifrom'; did you mean 'glorot_uniform'?", None),
        ("nope", "unknown initializer 'nope'", None),
        (
            {"type": "random_normal", "stdev": 0.1},
            "initializer 'random_normal' has no argument 'stdev'; did you mean 'stddev'?",
            "stdev",
        ),
        (
            {"type": "glorot_uniform", "scale": 2},
            "initializer 'glorot_uniform' has no argument 'scale' (it takes seed)",
            "scale",
        ),
        (
            {"type": "zeros", "value": 1},
            "initializer 'zeros' has no argument 'value' (it takes none)",
            "value",
        ),
        (
            {"stddev": 0.1},
            "an initializer mapping needs a 'type' key, e.g. {type: random_normal, stddev: 0.1}",
            None,
        ),
        ({"type": 3}, "an initializer type must be a name, got int", "type"),
        (
            {"type": "random_normal", "stddev": -1},
            "initializer 'random_normal': stddev must be >= 0, got -1.0",
            "stddev",
        ),
        (
            {"type": "truncated_normal", "mean": "0"},
            "initializer 'truncated_normal': mean must be a number, got str",
            "mean",
        ),
        (
            {"type": "constant", "value": True},
            "initializer 'constant': value must be a number, got bool",
            "value",
        ),
        (
            {"type": "constant", "value": float("nan")},
            "initializer 'constant': value must be finite, got nan",
            "value",
        ),
        (
            {"type": "random_uniform", "minval": 1, "maxval": 0},
            "initializer 'random_uniform': maxval (0.0) must be >= minval (1.0)",
            "maxval",
        ),
        (
            {"type": "variance_scaling", "mode": "fan_inn"},
            "initializer 'variance_scaling': mode must be one of "
            "'fan_in', 'fan_out', 'fan_avg', got 'fan_inn'",
            "mode",
        ),
        (
            {"type": "variance_scaling", "distribution": "gaussian"},
            "initializer 'variance_scaling': distribution must be one of "
            "'truncated_normal', 'untruncated_normal', 'uniform', got 'gaussian'",
            "distribution",
        ),
        (
            {"type": "variance_scaling", "scale": 0},
            "initializer 'variance_scaling': scale must be > 0, got 0.0",
            "scale",
        ),
        (
            {"type": "he_normal", "seed": -1},
            "initializer 'he_normal': seed must be a non-negative integer or null, got -1",
            "seed",
        ),
        (3, EXPECTED_INITIALIZER + "int", None),
        (None, EXPECTED_INITIALIZER + "NoneType", None),
    ],
)
def test_get_errors(identifier, message, argument):
    with pytest.raises(ArgumentError) as info:
        initializers.get(identifier)
    assert str(info.value) == message
    assert info.value.argument == argument


# --- config / describe ----------------------------------------------------------


@pytest.mark.parametrize(
    "identifier, description",
    [
        ("random_normal", "random_normal(mean=0.0, stddev=0.05)"),
        ("uniform", "random_uniform(minval=-0.05, maxval=0.05)"),
        ("truncated_normal", "truncated_normal(mean=0.0, stddev=0.05)"),
        ("glorot_uniform", "glorot_uniform"),
        ({"type": "glorot_uniform", "seed": 3}, "glorot_uniform(seed=3)"),
        ("zeros", "zeros"),
        ("constant", "constant(value=0.0)"),
        ("orthogonal", "orthogonal(gain=1.0)"),
        ("variance_scaling", "variance_scaling(scale=1.0, mode='fan_in', distribution='truncated_normal')"),
    ],
)
def test_describe(identifier, description):
    assert initializers.get(identifier).describe() == description


@pytest.mark.parametrize("name", ALL_NAMES)
def test_config_round_trips(name):
    init = initializers.get(name)
    assert isinstance(init, Initializer)
    assert type(init)(**init.config()) == init
    assert initializers.get({"type": name, **init.config()}) == init


def test_config_values():
    assert RandomNormal(mean=1, stddev=2).config() == {"mean": 1.0, "stddev": 2.0, "seed": None}
    assert Constant(3).config() == {"value": 3.0}
    assert GlorotUniform(seed=5).config() == {"seed": 5}
    assert repr(RandomUniform()) == "RandomUniform(minval=-0.05, maxval=0.05, seed=None)"
