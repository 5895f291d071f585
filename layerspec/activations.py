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

Use :func:`get` to turn a spec's ``activation:`` value into a function: a
name (``relu``), or a mapping that gives a Keras activation its keyword
arguments, ``{name: gelu, approximate: true}`` (see :func:`arguments`; the
result is a :class:`BoundActivation`). :func:`normalise` gives the shortest
equivalent identifier, which is what a layer's ``get_config`` records.
"""

from __future__ import annotations

import difflib
import functools
import math
from typing import Callable

import numpy as np

from layerspec.arguments import ArgumentKind, Boolean, Integer, Number, Optional, describe_value, suggest
from layerspec.errors import ArgumentError, ShapeError

__all__ = [
    "BoundActivation",
    "apply_inplace",
    "arguments",
    "in_place_form",
    "changes_shape",
    "describe",
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
    "mapping_names",
    "names",
    "needs_whole_output",
    "normalise",
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
    "threshold",
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
def relu(x, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0):
    """``max(x, 0)``; with Keras's arguments, its general rectifier.

    As Keras 3 computes it: only ``negative_slope`` given is
    :func:`leaky_relu`; otherwise the positive part is ``x`` where ``x >
    threshold`` (else 0), clipped to ``[0, max_value]`` when a ``max_value``
    is given, minus ``negative_slope * max(threshold - x, 0)``.
    """
    if negative_slope == 0 and max_value is None and threshold == 0:
        return np.maximum(x, 0)
    return _general_relu(x, negative_slope, max_value, threshold)


def _general_relu(x: np.ndarray, negative_slope: float, max_value: float | None, threshold: float) -> np.ndarray:
    """Keras 3.15's ``ReLU.static_call``, step by step, in ``x``'s dtype.

    One difference: NaN stays NaN (Keras's ``where(x > threshold, x, 0)``
    turns it into 0), as everywhere in this module.
    """
    slope, limit = _scalar(negative_slope, x.dtype), _scalar(threshold, x.dtype)
    if slope != 0 and max_value is None and limit == 0:
        return leaky_relu(x, slope)
    if limit != 0:
        out = np.where(x <= limit, x.dtype.type(0), x)  # NaN compares False: kept
    else:
        out = np.maximum(x, 0)
    if max_value is not None:  # Keras's clip(x, 0, max_value): the lower bound matters below a negative threshold
        np.maximum(out, 0, out=out)
        np.minimum(out, _scalar(max_value, x.dtype), out=out)
    if slope != 0:
        with np.errstate(over="ignore"):  # huge parameters overflow to +-inf, the right limit
            below = limit - x
            np.maximum(below, 0, out=below)
            below *= slope  # slope != 0, below finite or +inf: no inf * 0
        out -= below  # out is finite where below is +inf (x = -inf): no inf - inf
    return out


def _scalar(value, dtype):
    """``value`` in ``dtype``; one too large for it becomes +-inf silently."""
    with np.errstate(over="ignore"):
        return np.dtype(dtype).type(value)


@_elementwise
def relu6(x):
    """``min(max(x, 0), 6)``."""
    out = np.maximum(x, 0)
    return np.minimum(out, 6, out=out)


@_elementwise
def leaky_relu(x, negative_slope: float = 0.2):
    """``x`` if ``x >= 0`` else ``negative_slope * x`` (Keras default 0.2)."""
    slope = x.dtype.type(negative_slope)  # a NumPy float64 slope must not upcast
    if 0 < slope <= 1:
        # The common case, in two passes. Not for a zero slope: inf * 0 is
        # NaN, which the maximum would keep at +inf.
        return np.maximum(x, x * slope)
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
def gelu(x, approximate: bool = False):
    """Exact GELU: ``0.5 * x * (1 + erf(x / sqrt(2)))``, i.e. ``x * Phi(x)``.

    ``approximate=True`` is the tanh form (GPT-2's): ``0.5 * x * (1 +
    tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``.
    """
    out = _gelu_tanh_gate(x) if approximate else _normal_cdf(x)
    out *= _no_neg_inf(x)
    return out


#: Beyond this |x| the tanh gate of approximate GELU is 0 or 1 in float64
#: too, so clipping there changes nothing, and the cube cannot overflow.
_GELU_CLIP = 1e5
_GELU_CUBIC = 0.044715
_TWO_SQRT_2_OVER_PI = 2 * math.sqrt(2 / math.pi)


def _gelu_tanh_gate(x: np.ndarray) -> np.ndarray:
    """``0.5 * (1 + tanh(z))``, ``z = sqrt(2/pi) * (x + 0.044715 x**3)``.

    Computed as the equal ``sigmoid(2 z)``: ``1 + tanh(z)`` cancels for
    negative ``x`` (in float32 it is only a few ulps of 1 near x = -5),
    while the sigmoid keeps its relative accuracy. The values agree with
    Keras's ``0.5 * (1 + tanh(z))`` to its own precision.
    """
    dtype = x.dtype.type
    clipped = np.clip(x, -_GELU_CLIP, _GELU_CLIP)  # NaN stays NaN
    z = clipped * clipped
    z *= clipped
    z *= dtype(_GELU_CUBIC)
    z += clipped
    z *= dtype(_TWO_SQRT_2_OVER_PI)
    return sigmoid(z)


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
def threshold(x, threshold: float, default_value: float):
    """``x`` where ``x > threshold``, else ``default_value`` (both required, as in Keras).

    NaN is kept (Keras's ``where(x > threshold, ...)`` replaces it).
    """
    return np.where(x <= _scalar(threshold, x.dtype), _scalar(default_value, x.dtype), x)


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
    # The ufuncs' own reductions: np.max and np.sum cost 1.3 and 2.8 us more
    # a call in Python, which a batch-1 softmax notices (12.5 us in all).
    top = np.maximum.reduce(x, axis=axis, keepdims=True)
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
        e /= np.add.reduce(e, axis=axis, keepdims=True)
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
#: be used (``Dense(activation="threshold")`` fails in Keras when called);
#: the mapping form gives them.
THRESHOLD_MESSAGE = ("activation 'threshold' needs the arguments threshold and default_value, which a name "
                     "alone cannot give (Keras cannot use it by name either): write it as a mapping, e.g. "
                     "{name: threshold, threshold: 0.0, default_value: -1.0}")


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

#: Marks an argument without a default (threshold's two).
REQUIRED = object()

#: The keyword arguments of Keras 3.15's activation functions
#: (keras/src/activations/activations.py), with Keras's defaults, in
#: signature order, and the kind of value each accepts. Every other
#: activation takes none. Bounds beyond Keras's are where its formula
#: breaks down: celu divides by alpha, squareplus takes sqrt(b), and the
#: shrinks' threshold is a half-width.
_ARGUMENTS: dict[str, dict[str, tuple[ArgumentKind, object]]] = {
    "relu": {"negative_slope": (Number(), 0.0), "max_value": (Optional(Number()), None),
             "threshold": (Number(), 0.0)},
    "leaky_relu": {"negative_slope": (Number(), 0.2)},
    "softmax": {"axis": (Integer(), -1)},
    "elu": {"alpha": (Number(), 1.0)},
    "soft_shrink": {"threshold": (Number(min=0), 0.5)},
    "squareplus": {"b": (Number(min=0), 4.0)},
    "gelu": {"approximate": (Boolean(), False)},
    "celu": {"alpha": (Number(min=0, min_exclusive=True), 1.0)},
    "glu": {"axis": (Integer(), -1)},
    "hard_shrink": {"threshold": (Number(min=0), 0.5)},
    "threshold": {"threshold": (Number(), REQUIRED), "default_value": (Number(), REQUIRED)},
    "log_softmax": {"axis": (Integer(), -1)},
    "sparsemax": {"axis": (Integer(), -1)},
}

#: Activations usable only with arguments, in the mapping form.
_NEEDS_ARGUMENTS: dict[str, Activation] = {"threshold": threshold}

#: The activations that work along an axis (a softmax row), not value by
#: value: applied to several gates side by side, they must see each gate
#: alone (see :func:`is_elementwise`).
_ALONG_AXIS = frozenset(id(fn) for fn in (softmax, log_softmax, sparsemax, glu))
# By identity: a user's callable need not be hashable.
_BUILT_IN = frozenset(id(fn) for fn in [*_ACTIVATIONS.values(), *_NEEDS_ARGUMENTS.values()])


class BoundActivation:
    """A Keras activation with some of its keyword arguments fixed.

    What a mapping such as ``{name: gelu, approximate: true}`` stands for:
    calling it calls ``function(x, **arguments)``. ``name`` is the name as
    written (an alias stays an alias) and ``identifier`` the mapping that
    makes it again. Two are equal when they compute the same thing.
    """

    def __init__(self, name: str, function: Activation, arguments: dict):
        self.name = name
        self.function = function
        self.arguments = dict(arguments)
        self.__name__ = function.__name__

    @property
    def identifier(self) -> dict:
        """``{name: NAME, ...arguments}``, as a spec writes it."""
        return {"name": self.name, **self.arguments}

    def __call__(self, x):
        x = _as_float(x)
        axis = self.arguments.get("axis")
        if axis is not None and not -x.ndim <= axis < x.ndim:
            raise ShapeError(f"activation '{self.__name__}' works along axis {axis}, but its input has "
                             f"{x.ndim} axes")
        # Huge parameters (a slope of 1e30) overflow to +-inf, the right limit.
        with np.errstate(over="ignore"):
            return self.function(x, **self.arguments)

    def __eq__(self, other):
        if not isinstance(other, BoundActivation):
            return NotImplemented
        return self.function is other.function and self.arguments == other.arguments

    def __hash__(self):
        return hash((id(self.function), tuple(sorted(self.arguments.items()))))

    def __repr__(self):
        shown = ", ".join(f"{key}={value!r}" for key, value in self.arguments.items())
        return f"<activation {self.name}({shown})>"


def _parts(function) -> tuple:
    """``(the plain function, its fixed arguments)`` of an activation."""
    if isinstance(function, BoundActivation):
        return function.function, function.arguments
    return function, {}


def describe(function) -> tuple[str | None, dict]:
    """``(name, arguments)`` of an activation of this module: the plain
    function's name (an alias gives its function's: ``swish`` → ``silu``)
    and the keyword arguments fixed on it (``{}`` for none). The name is
    None for any other callable. What an exporter writes an activation from.
    """
    base, fixed = _parts(function)
    if id(base) not in _BUILT_IN:
        return None, {}
    return base.__name__, dict(fixed)


def is_elementwise(function) -> bool:
    """Whether ``function`` maps each value on its own (``relu``), so that it
    may run on several arrays joined side by side at once.

    False for the axis-wise activations (``softmax``, ``log_softmax``,
    ``sparsemax``, ``glu``, whatever their axis) and for any callable that
    is not one of this module's activations (nothing is known about it).
    """
    base, _ = _parts(function)
    return id(base) not in _ALONG_AXIS and id(base) in _BUILT_IN


def changes_shape(function) -> bool:
    """Whether ``function``'s result has another shape than its input (``glu``)."""
    return _parts(function)[0] is glu


def needs_whole_output(function) -> bool:
    """Whether ``function`` must see a layer's whole output at once.

    True for one that changes the shape (``glu``) and for an axis-wise
    activation along another axis than the last (``{name: softmax, axis:
    1}``): a layer that applies its activation to pieces of its output
    (a convolution, row block by row block) must apply such a one to the
    whole output instead. False for every activation that works value by
    value or along the last axis only.
    """
    base, arguments = _parts(function)
    return base is glu or (id(base) in _ALONG_AXIS and arguments.get("axis", -1) != -1)


def output_shape(function, shape: tuple) -> tuple:
    """The shape ``function`` gives an input of ``shape``; None marks an unknown size.

    Every activation keeps the shape but ``glu``, which halves its axis
    (the last by default). A ShapeError, pointing at ``activation``, when
    that size is odd, or when an axis-wise activation's ``axis`` is not an
    axis of the input or is its batch axis (the result would depend on how
    the samples are batched).
    """
    base, arguments = _parts(function)
    if "axis" in arguments:
        axis = _checked_axis(base.__name__, arguments["axis"], len(shape))
    elif base is glu:
        axis = -1
    else:
        return tuple(shape)
    if base is not glu:
        return tuple(shape)
    size = shape[axis] if shape else 0
    if size is not None and size % 2:
        where = "the last axis" if axis == -1 else f"axis {axis}"
        raise ShapeError(f"activation 'glu' splits {where} in two halves, so its size must be even, "
                         f"got {size}", argument="activation")
    shape = list(shape)
    shape[axis] = None if size is None else size // 2
    return tuple(shape)


def _checked_axis(name: str, axis: int, rank: int) -> int:
    """``axis`` of an input of ``rank`` axes (batch included), or a ShapeError."""
    if not -rank <= axis < rank:
        raise ShapeError(f"activation '{name}' works along axis {axis}, but its input has {rank} axes "
                         "(batch included)", argument="activation")
    if axis % rank == 0:
        raise ShapeError(f"activation '{name}' cannot work along axis {axis}, the batch axis: its result "
                         "would depend on how the samples are batched", argument="activation")
    return axis


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
    """All activation names usable alone, aliases included, sorted.

    ``threshold`` is not among them: it needs arguments (see
    :func:`mapping_names`).
    """
    return sorted(_ACTIVATIONS)


def mapping_names() -> list[str]:
    """All names a mapping ``{name: NAME, ...}`` accepts (``threshold`` too), sorted."""
    return sorted([*_ACTIVATIONS, *_NEEDS_ARGUMENTS])


def arguments(name: str) -> dict:
    """The keyword arguments activation ``name`` takes, with Keras's defaults
    (:data:`REQUIRED` for none), in Keras's order; ``{}`` for none."""
    return {argument: default for argument, (_, default) in _ARGUMENTS.get(name, {}).items()}


def argument_kinds(name: str) -> dict[str, ArgumentKind]:
    """The kind of value each of activation ``name``'s arguments accepts."""
    return {argument: kind for argument, (kind, _) in _ARGUMENTS.get(name, {}).items()}


def get(identifier) -> Activation:
    """The activation function an identifier stands for.

    Args:
        identifier: ``None`` or ``"linear"`` (the identity), a Keras
            activation name such as ``"relu"`` (matched exactly), a mapping
            ``{"name": NAME, ...keyword arguments}`` (``{"name": "gelu",
            "approximate": True}``; a :class:`BoundActivation`, or the plain
            function when every argument has its default), or a callable,
            which is returned as is.

    Raises:
        ArgumentError: for an unknown name or argument (suggesting the
            closest known one), an argument of the wrong kind, a missing
            required one, or a value that is none of the above.
    """
    return _resolve(identifier)[0]


def normalise(identifier):
    """The shortest identifier equivalent to ``identifier``, checked.

    A name stays as written; a mapping loses the arguments that have their
    default, and becomes the bare name when none is left (``{name: gelu,
    approximate: false}`` → ``"gelu"``), its numbers as floats; a
    :class:`BoundActivation` becomes its mapping; ``None`` and any other
    callable are returned as they are. What a layer's ``get_config``
    records, so that a model written back as a spec reloads identically.

    Raises:
        ArgumentError: as :func:`get`.
    """
    return _resolve(identifier)[1]


def _resolve(identifier) -> tuple:
    """``(function, normalised identifier)``."""
    if identifier is None:
        return linear, None
    if isinstance(identifier, str):
        try:
            return _ACTIVATIONS[identifier], identifier
        except KeyError:
            raise ArgumentError(_unknown_name_message(identifier)) from None
    if isinstance(identifier, BoundActivation):
        return identifier, identifier.identifier
    if isinstance(identifier, dict):
        return _from_mapping(identifier)
    if callable(identifier):
        return identifier, identifier
    raise ArgumentError(
        "expected an activation name such as 'relu' or a mapping {name: NAME, ...arguments}, got "
        f"{describe_value(identifier)}"
    )


def _from_mapping(mapping: dict) -> tuple:
    """``(function, normalised identifier)`` of ``{name: NAME, ...arguments}``."""
    name = _mapping_name(mapping)
    function = _ACTIVATIONS.get(name) or _NEEDS_ARGUMENTS[name]
    kinds = _ARGUMENTS.get(name, {})
    given = {key: value for key, value in mapping.items() if key != "name"}
    for key in given:
        if key not in kinds:
            raise ArgumentError(_unknown_argument_message(name, key, kinds))
    chosen = {}
    for argument, (kind, default) in kinds.items():  # Keras's order
        if argument not in given:
            if default is REQUIRED:
                missing = [key for key, (_, value) in kinds.items() if value is REQUIRED and key not in given]
                raise ArgumentError(f"activation '{name}' needs the argument{'s' if len(missing) > 1 else ''} "
                                    + " and ".join(f"'{key}'" for key in missing))
            continue
        try:
            value = kind.check(given[argument], argument)
        except ArgumentError as error:
            raise ArgumentError(f"activation '{name}': {error.message}") from None
        if default is REQUIRED or value != default:
            chosen[argument] = value
    if not chosen:
        return function, name
    bound = BoundActivation(name, function, chosen)
    return bound, bound.identifier


def _mapping_name(mapping: dict) -> str:
    """The activation a mapping names, checked."""
    if "name" not in mapping:
        hint = " (not 'type', as for an initializer)" if "type" in mapping else ""
        raise ArgumentError(f"an activation mapping needs a 'name'{hint}, e.g. {{name: gelu, approximate: true}}")
    name = mapping["name"]
    if not isinstance(name, str):
        raise ArgumentError(f"an activation mapping's 'name' must be an activation name, got {describe_value(name)}")
    if name not in _ACTIVATIONS and name not in _NEEDS_ARGUMENTS:
        raise ArgumentError(_unknown_name_message(name))
    return name


def _unknown_argument_message(name: str, argument, kinds: dict) -> str:
    if not kinds:
        return f"activation '{name}' takes no arguments, got '{argument}'"
    return f"activation '{name}' has no argument '{argument}'{suggest(str(argument), kinds)}"


def _unknown_name_message(name: str) -> str:
    if name == "threshold":
        return THRESHOLD_MESSAGE
    message = f"unknown activation {name!r}"
    # Lower-case first, so that 'ReLU' suggests 'relu'.
    close = difflib.get_close_matches(name.lower(), mapping_names(), n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message


def cost(function) -> int:
    """Operations per element a FLOP count charges for ``function``.

    A counting convention, not a measurement: every activation but
    ``linear`` costs one operation per element.
    """
    return 0 if _parts(function)[0] is linear else 1
