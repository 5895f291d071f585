"""Weight initializers with Keras 3's names, arguments and formulas.

An initializer is a callable object: ``init(shape, dtype, rng)`` returns a
new array of exactly that shape and dtype, drawn from the NumPy
``Generator`` it is given (so ``--seed`` makes a whole model reproducible).
Random values are generated directly in the target dtype where NumPy can,
so a float32 tensor never passes through a float64 copy.

The values follow Keras's distributions, not its random streams: a seeded
layerspec model does not reproduce the exact numbers Keras would draw.

Use :func:`get` to turn a spec's ``kernel_initializer:`` value (a name or a
``{type: NAME, ...}`` mapping) into an initializer.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from layerspec.errors import ArgumentError

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "compute_fans",
    "get",
    "names",
]

# The std of a standard normal truncated to [-2, 2]; VarianceScaling divides
# by it so that the truncated values have the intended std (Keras's constant).
_TRUNCATED_STD = 0.87962566103423978
_TRUNCATE_AT = 2.0  # in standard deviations, as Keras and TensorFlow do


# --------------------------------------------------------------------------
# argument checks


def _number(owner: str, name: str, value: Any) -> float:
    """A finite real number (bool is not one), as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentError(
            f"initializer {owner!r}: {name} must be a number, got {type(value).__name__}",
            argument=name,
        )
    value = float(value)
    if not math.isfinite(value):
        raise ArgumentError(f"initializer {owner!r}: {name} must be finite, got {value}", argument=name)
    return value


def _non_negative(owner: str, name: str, value: Any) -> float:
    value = _number(owner, name, value)
    if value < 0:
        raise ArgumentError(f"initializer {owner!r}: {name} must be >= 0, got {value}", argument=name)
    return value


def _seed(owner: str, value: Any) -> int | None:
    """None (draw from the model's generator) or a non-negative int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ArgumentError(
            f"initializer {owner!r}: seed must be a non-negative integer or null, got {value!r}",
            argument="seed",
        )
    return int(value)


def _choice(owner: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ArgumentError(
            f"initializer {owner!r}: {name} must be one of {options}, got {value!r}",
            argument=name,
        )
    return value


def _check_shape(shape: Any) -> tuple[int, ...]:
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if dims is None or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0 for d in dims
    ):
        raise ArgumentError(f"a weight shape must be a tuple of non-negative integers, got {shape!r}")
    return tuple(int(d) for d in dims)


def _check_dtype(dtype: Any) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind != "f":
        raise ArgumentError(f"initializers create floating-point arrays, not {dtype}")
    return dtype


# --------------------------------------------------------------------------
# sampling in the target dtype


def _draw_dtype(dtype: np.dtype) -> type:
    """The dtype to draw in: NumPy's generators only make float32 and float64."""
    return np.float64 if dtype == np.float64 else np.float32


def _normal(rng: np.random.Generator, shape, dtype, mean: float, stddev: float) -> np.ndarray:
    out = rng.standard_normal(shape, dtype=_draw_dtype(dtype))
    out *= stddev
    out += mean
    return out.astype(dtype, copy=False)


def _truncated_normal(rng: np.random.Generator, shape, dtype, mean: float, stddev: float) -> np.ndarray:
    """Normal values, those beyond 2 stddev from the mean redrawn (as Keras)."""
    out = rng.standard_normal(shape, dtype=_draw_dtype(dtype))
    flat = out.reshape(-1)  # a view: redraws land in ``out``
    bad = np.flatnonzero(np.abs(flat) > _TRUNCATE_AT)
    # About 4.6% are redrawn per round, so this ends after a few rounds.
    while bad.size:
        flat[bad] = rng.standard_normal(bad.size, dtype=flat.dtype)
        bad = bad[np.abs(flat[bad]) > _TRUNCATE_AT]
    out *= stddev
    out += mean
    return out.astype(dtype, copy=False)


def _uniform(rng: np.random.Generator, shape, dtype, minval: float, maxval: float) -> np.ndarray:
    """Uniform values in [minval, maxval)."""
    out = rng.random(shape, dtype=_draw_dtype(dtype))
    out *= maxval - minval
    out += minval
    return out.astype(dtype, copy=False)


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape, as Keras computes them.

    Rank 0: (1, 1); rank 1: (n, n); rank 2: (in, out); higher ranks are
    convolution kernels ``(*kernel_size, in, out)``, whose fans are
    multiplied by the receptive field size ``prod(kernel_size)``.
    """
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


# --------------------------------------------------------------------------
# the base class


class Initializer:
    """Base class of initializers: ``init(shape, dtype, rng) -> ndarray``.

    Subclasses set ``name`` (the Keras snake_case name), ``_ARGS`` (their
    constructor arguments, stored as attributes of the same name) and
    implement :meth:`generate`; ``__call__`` checks its arguments first.
    """

    name: ClassVar[str] = "initializer"
    _ARGS: ClassVar[tuple[str, ...]] = ()
    seed: int | None = None

    def __call__(self, shape, dtype=np.float32, rng: np.random.Generator | None = None) -> np.ndarray:
        """A new array of ``shape`` and ``dtype`` drawn from ``rng``.

        Args:
            shape: tuple of non-negative ints.
            dtype: a floating NumPy dtype (float32 or float64).
            rng: the generator to draw from. An initializer built with a
                ``seed`` ignores it and draws the same values on every call,
                as a seeded Keras initializer does.
        """
        shape = _check_shape(shape)
        dtype = _check_dtype(dtype)
        if self.seed is not None:
            rng = np.random.default_rng(self.seed)
        elif rng is None:
            rng = np.random.default_rng()
        return self.generate(shape, dtype, rng)

    def generate(self, shape: tuple[int, ...], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
        """Make the array; arguments are already checked."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The constructor arguments, by name: ``type(self)(**config())`` is equal."""
        return {arg: getattr(self, arg) for arg in self._ARGS}

    def describe(self) -> str:
        """A short description for listings: ``random_normal(mean=0.0, stddev=0.05)``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if not (k == "seed" and v is None))
        return f"{self.name}({args})" if args else self.name

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.config() == other.config()

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.config().items())))


# --------------------------------------------------------------------------
# constants


class Zeros(Initializer):
    """All zeros."""

    name = "zeros"

    def generate(self, shape, dtype, rng):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    """All ones."""

    name = "ones"

    def generate(self, shape, dtype, rng):
        return np.ones(shape, dtype)


class Constant(Initializer):
    """Every value equal to ``value``.

    Args:
        value: a number (default 0.0).
    """

    name = "constant"
    _ARGS = ("value",)

    def __init__(self, value: float = 0.0):
        self.value = _number(self.name, "value", value)

    def generate(self, shape, dtype, rng):
        return np.full(shape, self.value, dtype)


# --------------------------------------------------------------------------
# plain random distributions


class RandomNormal(Initializer):
    """Normal values with the given mean and standard deviation.

    Args:
        mean: default 0.0.
        stddev: default 0.05; must be >= 0.
        seed: if set, every call draws the same values from this seed.
    """

    name = "random_normal"
    _ARGS = ("mean", "stddev", "seed")

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = _number(self.name, "mean", mean)
        self.stddev = _non_negative(self.name, "stddev", stddev)
        self.seed = _seed(self.name, seed)

    def generate(self, shape, dtype, rng):
        return _normal(rng, shape, dtype, self.mean, self.stddev)


class TruncatedNormal(Initializer):
    """Normal values, those more than 2 stddev from the mean redrawn.

    The values' actual std is about 0.88 * ``stddev``.

    Args:
        mean: default 0.0.
        stddev: default 0.05; must be >= 0.
        seed: if set, every call draws the same values from this seed.
    """

    name = "truncated_normal"
    _ARGS = ("mean", "stddev", "seed")

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = _number(self.name, "mean", mean)
        self.stddev = _non_negative(self.name, "stddev", stddev)
        self.seed = _seed(self.name, seed)

    def generate(self, shape, dtype, rng):
        return _truncated_normal(rng, shape, dtype, self.mean, self.stddev)


class RandomUniform(Initializer):
    """Uniform values in ``[minval, maxval)``.

    Args:
        minval: default -0.05.
        maxval: default 0.05; must be >= minval.
        seed: if set, every call draws the same values from this seed.
    """

    name = "random_uniform"
    _ARGS = ("minval", "maxval", "seed")

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval = _number(self.name, "minval", minval)
        self.maxval = _number(self.name, "maxval", maxval)
        if self.maxval < self.minval:
            raise ArgumentError(
                f"initializer {self.name!r}: maxval ({self.maxval}) must be >= minval ({self.minval})",
                argument="maxval",
            )
        self.seed = _seed(self.name, seed)

    def generate(self, shape, dtype, rng):
        return _uniform(rng, shape, dtype, self.minval, self.maxval)


# --------------------------------------------------------------------------
# variance scaling and its named cases


class VarianceScaling(Initializer):
    """Values whose variance is ``scale / n``, n set by the weight's fans.

    ``n`` is fan_in, fan_out or their mean, per ``mode`` (see
    :func:`compute_fans`). ``truncated_normal``: normal with std
    ``sqrt(scale / n) / 0.8796...`` truncated at 2 std, so the values' std is
    ``sqrt(scale / n)``; ``untruncated_normal``: normal with std
    ``sqrt(scale / n)``; ``uniform``: uniform in ``[-limit, limit)`` with
    ``limit = sqrt(3 * scale / n)``.

    Args:
        scale: positive float, default 1.0.
        mode: ``"fan_in"`` (default), ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"`` (default),
            ``"untruncated_normal"`` or ``"uniform"``; case is ignored and
            ``"normal"`` means ``"truncated_normal"``, as in Keras.
        seed: if set, every call draws the same values from this seed.
    """

    name = "variance_scaling"
    _ARGS = ("scale", "mode", "distribution", "seed")
    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ):
        self.scale = _number(self.name, "scale", scale)
        if self.scale <= 0:
            raise ArgumentError(
                f"initializer {self.name!r}: scale must be > 0, got {self.scale}", argument="scale"
            )
        self.mode = _choice(self.name, "mode", mode, self.MODES)
        if isinstance(distribution, str):
            distribution = distribution.lower()
            if distribution == "normal":
                distribution = "truncated_normal"
        self.distribution = _choice(self.name, "distribution", distribution, self.DISTRIBUTIONS)
        self.seed = _seed(self.name, seed)

    def variance(self, shape: tuple[int, ...]) -> float:
        """The target variance ``scale / n`` of values for ``shape``."""
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return self.scale / max(1.0, n)  # an empty weight has fan 0

    def generate(self, shape, dtype, rng):
        variance = self.variance(shape)
        if self.distribution == "truncated_normal":
            return _truncated_normal(rng, shape, dtype, 0.0, math.sqrt(variance) / _TRUNCATED_STD)
        if self.distribution == "untruncated_normal":
            return _normal(rng, shape, dtype, 0.0, math.sqrt(variance))
        limit = math.sqrt(3.0 * variance)
        return _uniform(rng, shape, dtype, -limit, limit)


class _NamedVarianceScaling(VarianceScaling):
    """A VarianceScaling with fixed arguments; only ``seed`` is settable."""

    _ARGS = ("seed",)
    _FIXED: ClassVar[tuple[float, str, str]]

    def __init__(self, seed: int | None = None):
        scale, mode, distribution = self._FIXED
        super().__init__(scale, mode, distribution, seed)


class GlorotUniform(_NamedVarianceScaling):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    The Keras default for kernels.

    Args:
        seed: if set, every call draws the same values from this seed.
    """

    name = "glorot_uniform"
    _FIXED = (1.0, "fan_avg", "uniform")


class GlorotNormal(_NamedVarianceScaling):
    """Truncated normal with std ``sqrt(2 / (fan_in + fan_out))``.

    Args:
        seed: if set, every call draws the same values from this seed.
    """

    name = "glorot_normal"
    _FIXED = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_NamedVarianceScaling):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(6 / fan_in)``.

    Args:
        seed: if set, every call draws the same values from this seed.
    """

    name = "he_uniform"
    _FIXED = (2.0, "fan_in", "uniform")


class HeNormal(_NamedVarianceScaling):
    """Truncated normal with std ``sqrt(2 / fan_in)``.

    Args:
        seed: if set, every call draws the same values from this seed.
    """

    name = "he_normal"
    _FIXED = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_NamedVarianceScaling):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(3 / fan_in)``.

    Args:
        seed: if set, every call draws the same values from this seed.
    """

    name = "lecun_uniform"
    _FIXED = (1.0, "fan_in", "uniform")


class LecunNormal(_NamedVarianceScaling):
    """Truncated normal with std ``sqrt(1 / fan_in)``.

    Args:
        seed: if set, every call draws the same values from this seed.
    """

    name = "lecun_normal"
    _FIXED = (1.0, "fan_in", "truncated_normal")


# --------------------------------------------------------------------------
# orthogonal


class Orthogonal(Initializer):
    """A random orthogonal matrix (orthonormal rows or columns) times ``gain``.

    The weight is viewed as a matrix ``(prod(shape[:-1]), shape[-1])``; a
    normal matrix is drawn and its QR factor Q (sign-corrected so that the
    result is uniformly distributed) is used, as in Keras. With more rows
    than columns the columns are orthonormal, otherwise the rows are.

    Args:
        gain: multiplier, default 1.0.
        seed: if set, every call draws the same values from this seed.
    """

    name = "orthogonal"
    _ARGS = ("gain", "seed")

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        self.gain = _number(self.name, "gain", gain)
        self.seed = _seed(self.name, seed)

    def generate(self, shape, dtype, rng):
        if len(shape) < 2:
            raise ArgumentError(
                f"initializer {self.name!r} needs a weight of rank >= 2, got shape {shape}"
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        if rows == 0 or cols == 0:
            return np.zeros(shape, dtype)
        # QR of the tall orientation; LAPACK keeps float32 in float32.
        a = rng.standard_normal((max(rows, cols), min(rows, cols)), dtype=_draw_dtype(dtype))
        q, r = np.linalg.qr(a)
        # Q's signs are arbitrary; fixing diag(R) > 0 makes Q Haar-distributed.
        # (Keras multiplies by sign(diag(R)), which would zero a column on an
        # exactly-zero diagonal entry; +1 there keeps Q orthogonal.)
        q *= np.where(np.diagonal(r) < 0, -1, 1).astype(q.dtype)
        if rows < cols:
            q = q.T
        q = np.ascontiguousarray(q).reshape(shape)
        q *= self.gain
        return q.astype(dtype, copy=False)


# --------------------------------------------------------------------------
# lookup

_CLASSES: tuple[type[Initializer], ...] = (
    Zeros,
    Ones,
    Constant,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    Orthogonal,
)
_BY_NAME: dict[str, type[Initializer]] = {cls.name: cls for cls in _CLASSES}
# Keras's aliases.
_BY_NAME.update({"uniform": RandomUniform, "normal": RandomNormal, "one": Ones, "zero": Zeros})


def _key(name: str) -> str:
    """Matching key: 'GlorotUniform', 'glorot_uniform', 'glorotuniform' agree."""
    return name.replace("_", "").lower()


_BY_KEY: dict[str, type[Initializer]] = {_key(n): cls for n, cls in _BY_NAME.items()}


def names() -> list[str]:
    """All snake_case initializer names, aliases included, sorted."""
    return sorted(_BY_NAME)


def get(identifier) -> Initializer:
    """The initializer an identifier stands for.

    Args:
        identifier: a name (``"glorot_uniform"``, or a class name such as
            ``"GlorotUniform"``; case and underscores are ignored), a mapping
            ``{"type": NAME, **arguments}`` such as
            ``{"type": "random_normal", "stddev": 0.1}``, an
            :class:`Initializer` (returned as is) or subclass (instantiated
            with its defaults), or any other callable with the same
            ``(shape, dtype, rng)`` signature (returned as is).

    Raises:
        ArgumentError: for an unknown name (suggesting the closest known
            one), an unknown or invalid argument, or any other value.
    """
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, Mapping):
        return _from_mapping(identifier)
    if callable(identifier):
        return identifier
    raise ArgumentError(
        "expected an initializer name such as 'glorot_uniform' or a mapping "
        f"with a 'type' key, got {type(identifier).__name__}"
    )


def _lookup(name: str) -> type[Initializer]:
    try:
        return _BY_KEY[_key(name)]
    except KeyError:
        pass
    message = f"unknown initializer {name!r}"
    close = _closest(_snake(name), names())
    if close:
        message += f"; did you mean {close!r}?"
    raise ArgumentError(message)


def _from_mapping(mapping: Mapping) -> Initializer:
    kwargs = dict(mapping)
    if "type" not in kwargs:
        raise ArgumentError(
            "an initializer mapping needs a 'type' key, e.g. {type: random_normal, stddev: 0.1}"
        )
    name = kwargs.pop("type")
    if not isinstance(name, str):
        raise ArgumentError(f"an initializer type must be a name, got {type(name).__name__}", argument="type")
    cls = _lookup(name)
    for arg in kwargs:
        if arg not in cls._ARGS:
            raise ArgumentError(_unknown_argument_message(cls, arg), argument=str(arg))
    return cls(**kwargs)


def _unknown_argument_message(cls: type[Initializer], arg: Any) -> str:
    message = f"initializer {cls.name!r} has no argument {arg!r}"
    close = _closest(str(arg), list(cls._ARGS))
    if close:
        return message + f"; did you mean {close!r}?"
    if cls._ARGS:
        return message + f" (it takes {', '.join(cls._ARGS)})"
    return message + " (it takes none)"


def _snake(name: str) -> str:
    """'GlorotUnifrom' -> 'glorot_unifrom', so suggestions work for class names."""
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    while "__" in out:
        out = out.replace("__", "_")
    return out


def _closest(word: str, candidates: list[str]) -> str | None:
    close = difflib.get_close_matches(word, candidates, n=1)
    return close[0] if close else None
