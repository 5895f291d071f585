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

Use :func:`get` to turn a spec's ``activation:`` value into a function.
"""

from __future__ import annotations

import difflib
import functools
import math
from typing import Callable

import numpy as np

from layerspec.errors import ArgumentError

__all__ = [
    "apply_inplace",
    "in_place_form",
    "elu",
    "exponential",
    "gelu",
    "get",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mish",
    "names",
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


def _erfc_f32(x: np.ndarray) -> np.ndarray:
    """erfc(x) for float32 ``x``: erfc(|x|), reflected as 2 - erfc(|x|) for x < 0."""
    out = np.copysign(_erfc_abs_f32(x), x)
    # + 2 where the sign bit is set (np.where is slower); -0.0 gives 1.
    out += np.signbit(x) * np.float32(2)
    return out


@_elementwise
def _erf(x) -> np.ndarray:
    """The error function, elementwise, in the dtype of ``x``.

    float64 uses ``math.erf`` (exact to the last bit); float32 (and float16)
    use a vectorised approximation accurate to float32 precision.
    """
    if x.dtype == np.float64:
        return np.asarray(_math_erf(x), dtype=np.float64)
    return _erf_f32(x.astype(np.float32, copy=False)).astype(x.dtype, copy=False)


@_elementwise
def _erfc(x) -> np.ndarray:
    """The complementary error function 1 - erf(x), in the dtype of ``x``."""
    if x.dtype == np.float64:
        return np.asarray(_math_erfc(x), dtype=np.float64)
    return _erfc_f32(x.astype(np.float32, copy=False)).astype(x.dtype, copy=False)


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


# --------------------------------------------------------------------------
# lookup

_ACTIVATIONS: dict[str, Activation] = {
    fn.__name__: fn
    for fn in (
        elu,
        exponential,
        gelu,
        hard_sigmoid,
        hard_silu,
        leaky_relu,
        linear,
        log_softmax,
        mish,
        relu,
        relu6,
        selu,
        sigmoid,
        silu,
        softmax,
        softplus,
        softsign,
        tanh,
    )
}
# Keras's aliases.
_ACTIVATIONS["swish"] = silu
_ACTIVATIONS["hard_swish"] = hard_silu


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


_IN_PLACE: dict = {
    linear: lambda x: x,
    relu: _relu_,
    relu6: _relu6_,
    tanh: _tanh_,
    sigmoid: _sigmoid_,
    leaky_relu: _leaky_relu_,
    hard_sigmoid: _hard_sigmoid_,
    softmax: _softmax_,
}


def apply_inplace(function: Activation, x: np.ndarray) -> np.ndarray:
    """``function(x)``, written over ``x`` where that is possible.

    For forward passes, on an array the caller owns (a fresh matrix
    product, say): the common activations (linear, relu, relu6, tanh,
    sigmoid, leaky_relu, hard_sigmoid, softmax) overwrite ``x`` and return
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
