"""Activation functions with Keras 3's names, formulas and defaults.

Every function takes an array and returns one of the same floating dtype:
float32 work stays in float32, as it does in Keras, so results agree with it
to float32 precision. Integer or boolean input is computed in float32, like
Keras's default ``floatx``.

All of them are safe on any input: no NumPy warning at +-1000 or +-inf, NaN
in gives NaN out. Where Keras's formula would produce ``inf - inf`` or
``inf * 0`` but the mathematical limit exists, the limit is returned (e.g.
``silu(-inf) == 0``, ``softsign(inf) == 1``, a softmax row holding ``+inf``
puts all its weight on the infinite entries). A softmax row that is entirely
``-inf`` has no limit and gives NaN, as in Keras.

Every function keeps its input's shape but ``glu``, which halves the last
axis (:func:`output_shape` gives the rule). Most work value by value; the
few that work along an axis (softmax, log_softmax, sparsemax, glu) must see
one gate at a time where a layer keeps several side by side
(:func:`is_elementwise`).

Use :func:`get` to turn a spec's ``activation:`` value into a function.
"""

from __future__ import annotations

import difflib
import functools
import math
from typing import Callable

import numpy as np

from layerspec.errors import ArgumentError, ShapeError

__all__ = [
    "apply_inplace",
    "in_place_form",
    "changes_shape",
    "is_elementwise",
    "output_shape",
    "celu",
    "elu",
    "exponential",
    "gelu",
    "get",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "names",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh",
    "tanh_shrink",
]

Activation = Callable[[np.ndarray], np.ndarray]

# Keras's SELU constants to full precision (the docstring rounds them to
# 1.67326324 and 1.05070098; the difference is far below float32 precision).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# --------------------------------------------------------------------------
# helpers


def _as_float(x) -> np.ndarray:
    """``x`` as a floating array, without copying one that already is."""
    x = np.asarray(x)
    if x.dtype.kind == "f":
        return x
    return x.astype(np.float32)


def _elementwise(fn):
    """Wrap an elementwise activation to take any array-like input.

    The wrapped function sees a floating array of rank >= 1, so it may work
    in place (a 0-d array would turn into a NumPy scalar after the first
    operation); the result has the input's shape, 0-d included.
    """

    @functools.wraps(fn)
    def activation(x, *args, **kwargs):
        x = _as_float(x)
        if x.ndim == 0:
            return fn(x.reshape(1), *args, **kwargs).reshape(())
        return fn(x, *args, **kwargs)

    return activation


def _no_neg_inf(x: np.ndarray) -> np.ndarray:
    """``x`` with -inf replaced by the most negative finite number.

    Gated activations (``x * gate(x)``) have gate 0 at -inf, and ``-inf * 0``
    is NaN with a warning; the limit of the product is 0, which is what the
    finite stand-in gives.
    """
    return np.maximum(x, np.finfo(x.dtype).min)


# --------------------------------------------------------------------------
# erf / erfc without scipy

# Chebyshev-fitted erfc (Numerical Recipes' erfcc): fractional error below
# 1.2e-7 for every argument, i.e. at float32 precision.
_ERFC_COEFFS = (
    -1.26551223,
    1.00002368,
    0.37409196,
    0.09678418,
    -0.18628806,
    0.27886807,
    -1.13520398,
    1.48851587,
    -0.82215223,
    0.17087277,
)
# Maclaurin series of erf(x) * sqrt(pi) / 2 up to x**13: below 3e-8 relative
# for |x| < 0.5, where 1 - erfc(x) would lose digits to cancellation.
_ERF_SERIES = tuple((-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(7))
# Beyond this scale * |x|, erfc is far below float32's smallest subnormal.
_ERFC_CLAMP = 20.0
_SQRT_HALF = math.sqrt(0.5)
_math_erf = np.frompyfunc(math.erf, 1, 1)
_math_erfc = np.frompyfunc(math.erfc, 1, 1)


def _erfc_abs_f32(x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """erfc(scale * |x|) for float32 ``x``, in float32 arithmetic.

    ``scale * scale`` must be exact in float32 (1 or 1/2). The Gaussian
    factor exp(-(scale*x)**2) is where float32 loses accuracy: rounding
    ``scale * x`` or its square costs a relative error of about 2 z**2 eps.
    So |x| is split into a 12-bit head, whose square is exact, and a tail,
    and exp is taken of the two parts of the exponent separately; the
    result stays within about 5e-7 relative everywhere.

    Works in place on a few arrays it owns, as temporaries dominate the
    cost at this size of formula.
    """
    f32 = np.float32
    a = np.abs(x)
    np.minimum(a, f32(_ERFC_CLAMP / scale), out=a)  # also avoids inf - inf below
    t = a * f32(0.5 * scale)  # t = 1 / (1 + z/2), z = scale * |x|
    t += 1
    np.reciprocal(t, out=t)
    poly = np.full_like(t, _ERFC_COEFFS[-1])
    for c in _ERFC_COEFFS[-2::-1]:
        poly *= t
        poly += f32(c)
    head = (a.view(np.uint32) & np.uint32(0xFFFFF000)).view(np.float32)
    sq = f32(scale * scale)
    tail = a - head  # exact
    a += head
    tail *= a  # |x|**2 - head**2, small
    tail *= -sq
    tail += poly
    np.exp(tail, out=tail)
    np.multiply(head, head, out=head)  # exact
    head *= -sq
    np.exp(head, out=head)
    tail *= head
    tail *= t
    return tail


def _erf_f32(x: np.ndarray) -> np.ndarray:
    """erf(x) for float32 ``x``: series near 0, 1 - erfc(|x|) elsewhere."""
    near = np.clip(x, -0.5, 0.5)  # the series is only used there; no overflow
    x2 = near * near
    series = np.full_like(x, _ERF_SERIES[-1])
    for c in _ERF_SERIES[-2::-1]:
        series *= x2
        series += np.float32(c)
    series *= near * np.float32(2.0 / math.sqrt(math.pi))
    far = np.float32(1.0) - _erfc_abs_f32(x)
    return np.where(np.abs(x) < 0.5, series, np.copysign(far, x))


@_elementwise
def _erf(x) -> np.ndarray:
    """The error function, elementwise, in the dtype of ``x``.

    float64 uses ``math.erf`` (exact to the last bit); float32 (and float16)
    use a vectorised approximation accurate to float32 precision.
    """
    if x.dtype == np.float64:
        return np.asarray(_math_erf(x), dtype=np.float64)
    return _erf_f32(x.astype(np.float32, copy=False)).astype(x.dtype, copy=False)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) = (1 + erf(x / sqrt(2))) / 2 = erfc(-x / sqrt(2)) / 2.

    The erfc form keeps full relative accuracy for negative x, where
    1 + erf(...) cancels.
    """
    if x.dtype == np.float64:
        cdf = np.asarray(_math_erfc(x * -_SQRT_HALF), dtype=np.float64)
        cdf *= 0.5
        return cdf
    # With e = erfc(|x|/sqrt2): Phi = e/2 for x < 0 and 1 - e/2 for x >= 0,
    # i.e. (1 - signbit(x)) - copysign(e/2, x), with no np.where.
    x32 = x.astype(np.float32, copy=False)
    cdf = _erfc_abs_f32(x32, _SQRT_HALF)
    np.copysign(cdf, x32, out=cdf)
    cdf *= np.float32(-0.5)
    # Add 1 only where x >= 0 (adding 1 everywhere, then subtracting it
    # again for x < 0, would round e/2 away).
    cdf += ~np.signbit(x32)
    return cdf.astype(x.dtype, copy=False)


# --------------------------------------------------------------------------
# activations


@_elementwise
def linear(x):
    """``x``, unchanged (the identity; what ``activation: null`` means)."""
    return x


@_elementwise
def relu(x):
    """``max(x, 0)``."""
    return np.maximum(x, 0)


@_elementwise
def relu6(x):
    """``min(max(x, 0), 6)``."""
    out = np.maximum(x, 0)
    return np.minimum(out, 6, out=out)


@_elementwise
def leaky_relu(x, negative_slope: float = 0.2):
    """``x`` if ``x >= 0`` else ``negative_slope * x`` (Keras default 0.2)."""
    slope = x.dtype.type(negative_slope)  # a NumPy float64 slope must not upcast
    if 0 <= slope <= 1:
        return np.maximum(x, x * slope)  # the common case, in two passes
    out = np.minimum(x, 0)
    out *= slope
    out += np.maximum(x, 0)
    return out


@_elementwise
def elu(x, alpha: float = 1.0):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    # max(x, 0) + alpha * expm1(min(x, 0)): one of the two terms is always
    # exactly 0, and expm1 only sees x <= 0, so it cannot overflow.
    out = np.minimum(x, 0)
    np.expm1(out, out=out)
    out *= x.dtype.type(alpha)
    out += np.maximum(x, 0)
    return out


@_elementwise
def selu(x):
    """``scale * elu(x, alpha)`` with alpha=1.67326324, scale=1.05070098."""
    out = elu(x, SELU_ALPHA)
    out *= out.dtype.type(SELU_SCALE)
    return out


@_elementwise
def sigmoid(x):
    """``1 / (1 + exp(-x))``, computed without overflow."""
    # exp(min(x, 0)) / (1 + exp(-|x|)) is the same function, but both
    # exponents are <= 0, so exp cannot overflow, and small values for very
    # negative x keep their relative accuracy. It also needs no np.where,
    # which is several times slower than arithmetic on a mixed-sign array.
    out = np.minimum(x, 0)
    np.exp(out, out=out)
    den = np.abs(x)
    np.negative(den, out=den)
    np.exp(den, out=den)
    den += 1
    out /= den
    return out


@_elementwise
def tanh(x):
    """``tanh(x)``."""
    return np.tanh(x)


@_elementwise
def silu(x):
    """``x * sigmoid(x)`` (also called swish)."""
    out = sigmoid(x)
    out *= _no_neg_inf(x)
    return out


swish = silu


@_elementwise
def hard_sigmoid(x):
    """``clip(x / 6 + 0.5, 0, 1)``."""
    out = x / x.dtype.type(6)
    out += x.dtype.type(0.5)
    return np.clip(out, 0, 1, out=out)


@_elementwise
def hard_silu(x):
    """``x * hard_sigmoid(x)`` (also called hard_swish)."""
    out = hard_sigmoid(x)
    out *= _no_neg_inf(x)
    return out


hard_swish = hard_silu


@_elementwise
def gelu(x):
    """Exact GELU: ``0.5 * x * (1 + erf(x / sqrt(2)))``, i.e. ``x * Phi(x)``."""
    out = _normal_cdf(x)
    out *= _no_neg_inf(x)
    return out


@_elementwise
def softplus(x):
    """``log(1 + exp(x))``, computed without overflow."""
    # max(x, 0) + log1p(exp(-|x|)): exp never overflows. (np.logaddexp would
    # do too, but it warns on NaN input.)
    out = np.exp(-np.abs(x))
    np.log1p(out, out=out)
    out += np.maximum(x, 0)
    return out


@_elementwise
def softsign(x):
    """``x / (1 + |x|)``."""
    # Finite stand-ins for +-inf give +-1, the limit, instead of inf / inf.
    info = np.finfo(x.dtype)
    x = np.clip(x, info.min, info.max)
    out = np.abs(x)
    out += 1
    return np.divide(x, out, out=out)


@_elementwise
def mish(x):
    """``x * tanh(softplus(x))``."""
    out = softplus(x)
    np.tanh(out, out=out)
    out *= _no_neg_inf(x)
    return out


@_elementwise
def exponential(x):
    """``exp(x)``; overflows to inf (silently) above ~88.7 in float32."""
    with np.errstate(over="ignore"):
        return np.exp(x)


@_elementwise
def hard_tanh(x):
    """``clip(x, -1, 1)``."""
    return np.clip(x, -1, 1)


@_elementwise
def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, computed without overflow."""
    # min(x, 0) - log1p(exp(-|x|)): exp never overflows, and the result
    # keeps full accuracy both far below 0 (about x) and above (about -exp(-x)).
    out = np.abs(x)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    np.subtract(np.minimum(x, 0), out, out=out)
    return out


@_elementwise
def celu(x, alpha: float = 1.0):
    """``max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)`` (Keras default alpha 1)."""
    alpha = x.dtype.type(alpha)
    out = np.minimum(x, 0)
    out /= alpha
    np.expm1(out, out=out)  # only sees x <= 0: cannot overflow
    out *= alpha
    out += np.maximum(x, 0)
    return out


@_elementwise
def squareplus(x, b: float = 4.0):
    """``(x + sqrt(x**2 + b)) / 2`` (Keras default b 4), computed without overflow.

    ``sqrt(x**2 + b)`` is ``hypot(x, sqrt(b))``, which never overflows; for
    ``x < 0`` the sum cancels, so there it is the equal ``(b / 2) / (sqrt(x**2
    + b) - x)``. Keras's direct formula overflows past ~1.8e19 in float32.
    """
    root_b, half = x.dtype.type(math.sqrt(b)), x.dtype.type(0.5)
    positive = np.maximum(x, 0)
    out = np.hypot(positive, root_b)
    out *= half  # halves first: x + x would overflow near the largest float
    positive *= half
    out += positive
    negative = np.minimum(x, 0)
    below = np.hypot(negative, root_b)
    below -= negative
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 only for b = 0 at x >= 0, not used
        np.divide(x.dtype.type(b / 2), below, out=below)
    # np.where, not arithmetic: one of the two forms is only right on its side.
    return np.where(x < 0, below, out)


@_elementwise
def sparse_plus(x):
    """``0`` for ``x <= -1``, ``(x + 1)**2 / 4`` for ``-1 < x < 1``, ``x`` for ``x >= 1``."""
    # The parabola through clip(x, -1, 1) is >= x everywhere below 1 and is
    # 1 <= x above it, so the largest of the two is the piecewise function.
    out = np.clip(x, -1, 1)
    out += 1
    out *= out
    out *= x.dtype.type(0.25)
    return np.maximum(out, x, out=out)


@_elementwise
def sparse_sigmoid(x):
    """``clip((x + 1) / 2, 0, 1)``: 0 below -1, 1 above 1, linear between."""
    out = x + 1
    out *= x.dtype.type(0.5)
    return np.clip(out, 0, 1, out=out)


@_elementwise
def soft_shrink(x, threshold: float = 0.5):
    """``x - threshold`` above it, ``x + threshold`` below ``-threshold``, else 0 (default 0.5)."""
    # x - clip(x, -t, t): exactly 0 inside, x -+ t outside, no np.where.
    t = x.dtype.type(threshold)
    return np.subtract(x, np.clip(x, -t, t))


@_elementwise
def hard_shrink(x, threshold: float = 0.5):
    """``x`` where ``|x| > threshold``, else 0 (default 0.5)."""
    # NaN is kept (Keras's np.where turns it into 0).
    return np.where(np.abs(x) <= x.dtype.type(threshold), x.dtype.type(0), x)


@_elementwise
def tanh_shrink(x):
    """``x - tanh(x)``."""
    return x - np.tanh(x)


def _shift_by_max(x: np.ndarray, axis: int) -> np.ndarray:
    """``x - max(x, axis)``: the usual guard against overflow in exp.

    A row whose max is infinite would give ``inf - inf``. For a row holding
    +inf the limit of softmax puts equal weight on its +inf entries, so
    those become 0 and the rest -inf. A row of only -inf is left as -inf,
    so its softmax is 0 / 0 = NaN (as in Keras).
    """
    top = np.max(x, axis=axis, keepdims=True)
    infinite = np.isinf(top)
    if not infinite.any():
        return x - top
    shifted = x - np.where(infinite, 0, top).astype(x.dtype, copy=False)
    limit = np.where(x == np.inf, 0, -np.inf).astype(x.dtype, copy=False)
    np.copyto(shifted, limit, where=top == np.inf)
    return shifted


def softmax(x, axis: int = -1):
    """``exp(x) / sum(exp(x), axis)``, stable (the row max is subtracted)."""
    x = _as_float(x)
    if x.ndim == 0:  # a lone value is a row of one
        return softmax(x.reshape(1), axis).reshape(())
    if x.size == 0:
        return x.copy()
    e = _shift_by_max(x, axis)
    np.exp(e, out=e)  # all <= 1: no overflow
    with np.errstate(invalid="ignore"):  # only an all -inf row: 0/0 = NaN
        e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(x, axis: int = -1):
    """``x - log(sum(exp(x), axis))``, stable (the row max is subtracted)."""
    x = _as_float(x)
    if x.ndim == 0:  # a lone value is a row of one
        return log_softmax(x.reshape(1), axis).reshape(())
    if x.size == 0:
        return x.copy()
    shifted = _shift_by_max(x, axis)
    # Only an all -inf row can hit log(0) and -inf - -inf: NaN, as in Keras.
    with np.errstate(divide="ignore", invalid="ignore"):
        shifted -= np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return shifted


def sparsemax(x, axis: int = -1):
    """Sparsemax (Martins & Astudillo, 2016): ``max(x - tau, 0)`` along ``axis``.

    ``tau`` is the threshold that makes the result sum to 1: with the row
    sorted in descending order ``s``, the support is the ``k`` largest
    entries with ``1 + j * s_j > s_1 + ... + s_j``, and ``tau = (s_1 + ...
    + s_k - 1) / k``. Like softmax it is invariant to shifting the row, so
    the row max is subtracted first, and a row holding ``+inf`` puts equal
    weight on its infinite entries (the limit); a row of only ``-inf``
    gives NaN.

    Keras 3.15 takes ``tau`` from the sum of the *cumulative* sums of the
    support, which is only right when ``k == 1`` (its rows then do not sum
    to 1; fixed after 3.15); this is the textbook threshold.
    """
    x = _as_float(x)
    if x.ndim == 0:  # a lone value is a row of one
        return sparsemax(x.reshape(1), axis).reshape(())
    if x.size == 0:
        return x.copy()
    shifted = _shift_by_max(x, axis)
    ordered = -np.sort(-shifted, axis=axis)  # descending; NaN rows are all NaN after the shift
    totals = np.cumsum(ordered, axis=axis)
    ranks = np.arange(1, x.shape[axis] + 1, dtype=x.dtype)
    ranks = ranks.reshape([-1 if a == axis % x.ndim else 1 for a in range(x.ndim)])
    # -inf entries (and NaN) compare False: never in the support.
    with np.errstate(invalid="ignore"):
        support = ordered * ranks > totals - 1
    count = np.sum(support, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # count 0: an all -inf row, NaN
        tau = (np.sum(ordered, axis=axis, keepdims=True, where=support) - 1) / count.astype(x.dtype)
        shifted -= tau
    return np.maximum(shifted, 0, out=shifted)


def glu(x, axis: int = -1):
    """Gated linear unit: ``a * sigmoid(b)``, ``a`` and ``b`` the two halves of ``axis``.

    The result has half the size on ``axis``; an odd size is a ShapeError.
    ``inf * sigmoid(-inf)`` has no limit (the halves are independent) and
    gives NaN, as in Keras, without a warning.
    """
    x = _as_float(x)
    if x.ndim == 0:
        raise ShapeError("activation 'glu' needs an axis to split in two, got a scalar")
    size = x.shape[axis]
    if size % 2:
        raise ShapeError(f"activation 'glu' splits axis {axis} in two halves, so its size must be even, "
                         f"got {size}")
    value, gate = np.split(x, 2, axis=axis)
    out = sigmoid(gate)
    with np.errstate(invalid="ignore"):
        out *= value
    return out


#: Keras 3.15 lists ``threshold(x, threshold, default_value)`` among its
#: activations, but both arguments are required, so the name alone cannot
#: be used (``Dense(activation="threshold")`` fails in Keras when called).
THRESHOLD_MESSAGE = ("activation 'threshold' needs the arguments threshold and default_value, which an "
                     "activation name cannot give (Keras cannot use it by name either); use relu, or "
                     "hard_shrink, or an Activation layer of your own")


# --------------------------------------------------------------------------
# lookup

_ACTIVATIONS: dict[str, Activation] = {
    fn.__name__: fn
    for fn in (
        celu,
        elu,
        exponential,
        gelu,
        glu,
        hard_shrink,
        hard_sigmoid,
        hard_silu,
        hard_tanh,
        leaky_relu,
        linear,
        log_sigmoid,
        log_softmax,
        mish,
        relu,
        relu6,
        selu,
        sigmoid,
        silu,
        soft_shrink,
        softmax,
        softplus,
        softsign,
        sparse_plus,
        sparse_sigmoid,
        sparsemax,
        squareplus,
        tanh,
        tanh_shrink,
    )
}
# Keras's aliases.
_ACTIVATIONS["swish"] = silu
_ACTIVATIONS["hard_swish"] = hard_silu

#: The activations that work along an axis (a softmax row), not value by
#: value: applied to several gates side by side, they must see each gate
#: alone (see :func:`is_elementwise`).
_ALONG_AXIS = frozenset(id(fn) for fn in (softmax, log_softmax, sparsemax, glu))
# By identity: a user's callable need not be hashable.
_BUILT_IN = frozenset(id(fn) for fn in _ACTIVATIONS.values())


def is_elementwise(function) -> bool:
    """Whether ``function`` maps each value on its own (``relu``), so that it
    may run on several arrays joined side by side at once.

    False for the axis-wise activations (``softmax``, ``log_softmax``,
    ``sparsemax``, ``glu``) and for any callable that is not one of this
    module's activations (nothing is known about it).
    """
    return id(function) not in _ALONG_AXIS and id(function) in _BUILT_IN


def changes_shape(function) -> bool:
    """Whether ``function``'s result has another shape than its input (``glu``)."""
    return function is glu


def output_shape(function, shape: tuple) -> tuple:
    """The shape ``function`` gives an input of ``shape``; None marks an unknown size.

    Every activation keeps the shape but ``glu``, which halves the last
    axis (a ShapeError, pointing at ``activation``, when it is odd).
    """
    if function is not glu:
        return tuple(shape)
    size = shape[-1] if shape else 0
    if size is not None and size % 2:
        raise ShapeError(f"activation 'glu' splits the last axis in two halves, so its size must be even, "
                         f"got {size}", argument="activation")
    return tuple(shape[:-1]) + (None if size is None else size // 2,)


# --------------------------------------------------------------------------
# in place, for forward passes


def _relu_(x):
    return np.maximum(x, 0, out=x)


def _relu6_(x):
    np.maximum(x, 0, out=x)
    return np.minimum(x, 6, out=x)


def _tanh_(x):
    return np.tanh(x, out=x)


def _sigmoid_(x):
    # The operations of ``sigmoid``, in the same order, with one scratch
    # array instead of two.
    den = np.abs(x)
    np.negative(den, out=den)
    np.exp(den, out=den)
    den += 1
    np.minimum(x, 0, out=x)
    np.exp(x, out=x)
    x /= den
    return x


def _leaky_relu_(x):
    scaled = x * x.dtype.type(0.2)
    return np.maximum(x, scaled, out=x)


def _hard_sigmoid_(x):
    x /= x.dtype.type(6)
    x += x.dtype.type(0.5)
    return np.clip(x, 0, 1, out=x)


def _softmax_(x):
    if x.ndim == 0 or x.size == 0:
        return softmax(x)
    # The ufuncs' own reductions: np.max and np.sum add microseconds of
    # Python dispatch, which is most of the cost on a batch of one.
    top = np.maximum.reduce(x, axis=-1, keepdims=True)
    # Rows holding an infinity take the careful path (one row: a Python
    # check, several times cheaper than two NumPy calls).
    if math.isinf(top.item()) if top.size == 1 else np.isinf(top).any():
        return softmax(x)
    x -= top
    np.exp(x, out=x)  # all <= 1: no overflow
    x /= np.add.reduce(x, axis=-1, keepdims=True)
    return x


def _hard_tanh_(x):
    return np.clip(x, -1, 1, out=x)


def _sparse_sigmoid_(x):
    x += 1
    x *= x.dtype.type(0.5)
    return np.clip(x, 0, 1, out=x)


def _soft_shrink_(x):
    half = x.dtype.type(0.5)
    x -= np.clip(x, -half, half)
    return x


def _hard_shrink_(x):
    np.copyto(x, 0, where=np.abs(x) <= x.dtype.type(0.5))
    return x


def _tanh_shrink_(x):
    x -= np.tanh(x)
    return x


_IN_PLACE: dict = {
    linear: lambda x: x,
    relu: _relu_,
    relu6: _relu6_,
    tanh: _tanh_,
    sigmoid: _sigmoid_,
    leaky_relu: _leaky_relu_,
    hard_sigmoid: _hard_sigmoid_,
    softmax: _softmax_,
    hard_tanh: _hard_tanh_,
    sparse_sigmoid: _sparse_sigmoid_,
    soft_shrink: _soft_shrink_,
    hard_shrink: _hard_shrink_,
    tanh_shrink: _tanh_shrink_,
}


def apply_inplace(function: Activation, x: np.ndarray) -> np.ndarray:
    """``function(x)``, written over ``x`` where that is possible.

    For forward passes, on an array the caller owns (a fresh matrix
    product, say): the common activations (linear, relu, relu6, tanh,
    sigmoid, leaky_relu, hard_sigmoid, softmax) and a few cheap ones
    (hard_tanh, sparse_sigmoid, soft_shrink, hard_shrink, tanh_shrink) overwrite ``x`` and return
    it, so no new array is allocated; any other function, or an ``x`` that
    is not a writeable floating array, is computed by the pure function
    into a new array. The values are those of the pure function, bit for
    bit.
    """
    if x.dtype.kind != "f" or not x.flags.writeable:
        return function(x)
    return in_place_form(function)(x)


def in_place_form(function: Activation) -> Activation:
    """The form of ``function`` that overwrites its argument, if it has one;
    else ``function`` itself.

    For a caller that knows its array is a fresh, writeable floating array
    (a matrix product's result), so it can skip :func:`apply_inplace`'s
    checks; the values are those of ``function``, bit for bit.
    """
    return _IN_PLACE.get(function, function)


def names() -> list[str]:
    """All accepted activation names, aliases included, sorted."""
    return sorted(_ACTIVATIONS)


def get(identifier) -> Activation:
    """The activation function an identifier stands for.

    Args:
        identifier: ``None`` or ``"linear"`` (the identity), a Keras
            activation name such as ``"relu"`` (matched exactly), or a
            callable, which is returned as is.

    Raises:
        ArgumentError: for an unknown name (suggesting the closest known
            one) or a value that is neither a name nor callable.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        try:
            return _ACTIVATIONS[identifier]
        except KeyError:
            raise ArgumentError(_unknown_name_message(identifier)) from None
    if callable(identifier):
        return identifier
    raise ArgumentError(
        f"expected an activation name such as 'relu', got {type(identifier).__name__}"
    )


def _unknown_name_message(name: str) -> str:
    if name == "threshold":
        return THRESHOLD_MESSAGE
    message = f"unknown activation {name!r}"
    # Lower-case first, so that 'ReLU' suggests 'relu'.
    close = difflib.get_close_matches(name.lower(), names(), n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message


def cost(function) -> int:
    """Operations per element a FLOP count charges for ``function``.

    A counting convention, not a measurement: every activation but
    ``linear`` costs one operation per element.
    """
    return 0 if function is linear else 1
