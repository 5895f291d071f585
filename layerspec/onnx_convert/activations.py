"""Keras activations as ONNX operators (layerspec.activations' formulas).

:func:`apply_activation` writes any activation of :mod:`layerspec.activations`
(every name, every mapping argument) after a layer's nodes;
:func:`rnn_activation` says how ONNX's RNN, GRU and LSTM operators name one.

Each activation is written in the form that equals layerspec's function to
float32 precision over the whole real line, infinities included where
layerspec defines a limit:

- the gated ones (silu, hard_silu, gelu, mish) compute ``x * gate(x)`` with
  ``x`` clamped at the most negative finite number, so ``-inf`` gives the
  limit 0 rather than ``-inf * 0 = NaN`` (layerspec's ``_no_neg_inf``);
- softsign clamps to the finite range, so ``+-inf`` gives ``+-1``;
- softplus, log_sigmoid and squareplus never overflow.

An operator native to the opset (Gelu from 20, Mish from 18, HardSwish from
14, Softplus, Elu, Selu, Celu, LeakyRelu, HardSigmoid) is used where
it equals the formula. ONNX Runtime implements most of those for float32
only, so a float64 model gets the same formula composed from operators it
runs in float64 (Relu, Exp, Log, Min, Max, Where...); its exact gelu goes
through a float32 Erf (ONNX Runtime has no float64 Erf).

The softmax family follows ONNX's Softmax/LogSoftmax, which agree with
layerspec for every finite input; a row holding ``+inf`` (to which layerspec
gives the limit) comes out NaN, as in Keras.
"""

from __future__ import annotations

import math

import numpy as np

from .. import activations
from ..onnx_builder import GraphBuilder
from . import Conversion

#: Operators ONNX Runtime's CPU provider runs in float64. The others an
#: activation could use (Erf, Softplus, Softsign, LeakyRelu, Elu, Selu, Celu,
#: HardSigmoid, HardSwish, Gelu, PRelu) have float32 kernels only, so a
#: float64 model composes them from these. (Mish has a float64 kernel up to
#: opset 21 only; Clip has one, but ONNX Runtime's Relu-Clip fusion fails on
#: it, so float64 clips with Max and Min.)
FLOAT64_OPS = frozenset({"Relu", "Sigmoid", "Tanh", "Exp", "Log", "Abs", "Neg", "Sqrt", "Max", "Min", "Softmax",
                         "LogSoftmax"})

#: The opset that brought each native activation operator used here.
NATIVE_SINCE = {"Gelu": 20, "Mish": 18, "HardSwish": 14}


def apply_activation(conversion: Conversion, x: str, function, shape: tuple | None = None,
                     builder: GraphBuilder | None = None, argument: str = "activation") -> str:
    """``function`` (a layer's activation) applied to the tensor ``x`` of
    full shape ``shape`` (default: the node's output shape).

    Args:
        conversion: the layer being converted (for its error messages).
        x: the tensor's ONNX name.
        function: the activation, as layerspec holds it.
        shape: ``x``'s full shape, batch first (only sparsemax needs its
            sizes; every activation but glu keeps the shape).
        builder: where to write (default ``conversion.builder``): a Scan or
            Loop body's builder, say.
        argument: the layer argument holding ``function``, which a refusal
            points at (``recurrent_activation``, say).

    Raises:
        ExportError: for an activation ONNX cannot express (a Python callable
            of a user's), naming the layer.
    """
    name, arguments = activations.describe(function)
    if name is None:
        raise conversion.refuse(f"its {argument} is a Python function, which ONNX cannot hold", argument=argument)
    writer = _Writer(builder or conversion.builder)
    if shape is None:  # every activation keeps the rank, the only thing glu reads
        shape = conversion.output_shape
    write = _WRITERS.get(name)
    if write is None:
        raise conversion.refuse(f"activation '{name}' has no ONNX form", argument=argument)
    if name in _ALONG_AXIS:
        return write(writer, x, tuple(shape), **arguments)
    return write(writer, x, **arguments)


def rnn_activation(function) -> tuple[str, float | None, float | None] | None:
    """``(ONNX name, alpha, beta)`` of ``function`` as ONNX's RNN, GRU and
    LSTM operators take it in their ``activations`` (alpha and beta None
    where the function has none), or None where they have no exact form.

    Softplus is left out: ONNX Runtime's recurrent operators compute
    ``log(1 + exp(x))``, infinite from x = 89 on where Keras's is ``x``.
    """
    name, arguments = activations.describe(function)
    if name in _RNN_PLAIN and not arguments:
        return _RNN_PLAIN[name]
    if name == "leaky_relu":
        return "LeakyRelu", float(arguments.get("negative_slope", 0.2)), None
    if name == "elu":
        return "Elu", float(arguments.get("alpha", 1.0)), None
    if name == "relu":
        slope, ceiling, threshold = (arguments.get("negative_slope", 0.0), arguments.get("max_value"),
                                     arguments.get("threshold", 0.0))
        if ceiling is None and threshold == 0 and slope != 0:
            return "LeakyRelu", float(slope), None  # Keras: relu with only a slope is leaky_relu
        if ceiling is None and slope == 0 and threshold != 0:
            return "ThresholdedRelu", float(threshold), None  # x where x > threshold, else 0
        return None
    if name == "threshold" and arguments["default_value"] == 0:
        return "ThresholdedRelu", float(arguments["threshold"]), None
    return None


#: Activations ONNX's recurrent operators name as they are.
_RNN_PLAIN = {
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None),
    "linear": ("Affine", 1.0, 0.0),
    # Keras: clip(x / 6 + 0.5, 0, 1); ONNX: max(0, min(1, alpha * x + beta)).
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),
    "softsign": ("Softsign", None, None),
}


# --------------------------------------------------------------------------
# writing


class _Writer:
    """A builder with the few helpers the formulas below share."""

    def __init__(self, builder: GraphBuilder):
        self.builder = builder
        self.dtype = builder.dtype

    def op(self, op_type: str, *inputs: str, **attributes) -> str:
        return self.builder.op(op_type, list(inputs), **attributes)

    def const(self, value) -> str:
        """``value`` as a scalar of the model's dtype; beyond its range it is
        +-inf, as layerspec's cast makes it."""
        with np.errstate(over="ignore"):
            return self.builder.constant(np.asarray(value, dtype=np.float64).astype(self.dtype))

    def value(self, number):
        """``number`` in the model's dtype (a NumPy scalar)."""
        with np.errstate(over="ignore"):
            return self.dtype.type(number)

    def native(self, op_type: str) -> bool:
        """Whether the operator ``op_type`` may be used: the opset has it and
        ONNX Runtime runs it in the model's dtype."""
        if self.builder.opset < NATIVE_SINCE.get(op_type, 0):
            return False
        return self.dtype == np.float32 or op_type in FLOAT64_OPS

    def finite_below(self, x: str) -> str:
        """``max(x, lowest finite)``: ``-inf`` becomes a finite stand-in, so
        ``x * gate(x)`` has the limit 0 there instead of NaN (NaN stays NaN)."""
        return self.op("Max", x, self.const(np.finfo(self.dtype).min))

    def clip(self, x: str, low, high) -> str:
        """``min(max(x, low), high)`` (NaN stays NaN)."""
        if self.dtype == np.float32:
            return self.op("Clip", x, self.const(low), self.const(high))
        return self.op("Min", self.op("Max", x, self.const(low)), self.const(high))

    def relu(self, x: str) -> str:
        return self.op("Relu", x)

    def negative_part(self, x: str) -> str:
        return self.op("Min", x, self.const(0.0))


# --------------------------------------------------------------------------
# value by value


def _linear(w: _Writer, x: str) -> str:
    return x


def _relu(w: _Writer, x: str, negative_slope=0.0, max_value=None, threshold=0.0) -> str:
    """Keras 3.15's general rectifier, as layerspec's ``_general_relu``."""
    if negative_slope == 0 and max_value is None and threshold == 0:
        return w.relu(x)
    return general_relu(w.builder, x, negative_slope, max_value, threshold)


def general_relu(builder: GraphBuilder, x: str, negative_slope, max_value, threshold, layer: bool = False) -> str:
    """Keras's rectifier with a slope, a ceiling and a threshold: the
    ``relu`` activation's form (layerspec's ``_general_relu``) or, with
    ``layer``, the ReLU layer's (which keeps ``x`` where ``x > threshold``,
    so NaN becomes 0, and clips to the ceiling only from above).

    The positive part is ``x`` above the threshold (else 0), clipped to the
    ceiling; ``negative_slope * relu(threshold - x)`` is subtracted from it.
    """
    w = _Writer(builder)
    slope, limit = w.value(negative_slope), w.value(threshold)
    if slope != 0 and max_value is None and limit == 0:
        return leaky(builder, x, negative_slope, layer=layer)
    if limit != 0:
        if layer:
            out = w.op("Where", w.op("Greater", x, w.const(limit)), x, w.const(0.0))
        else:  # where(x <= t, 0, x): NaN compares False and is kept
            out = w.op("Where", w.op("LessOrEqual", x, w.const(limit)), w.const(0.0), x)
    else:
        out = w.relu(x)
    if max_value is not None:
        ceiling = w.value(max_value)
        if layer:
            out = w.op("Min", out, w.const(ceiling))
        elif ceiling >= 0:
            out = w.clip(out, 0.0, ceiling)
        else:  # Clip's bounds may not cross; max then min, as layerspec
            out = w.op("Min", w.op("Max", out, w.const(0.0)), w.const(ceiling))
    if slope != 0:
        below = w.op("Mul", w.relu(w.op("Sub", w.const(limit), x)), w.const(slope))
        out = w.op("Sub", out, below)
    return out


def leaky(builder: GraphBuilder, x: str, negative_slope, layer: bool = False) -> str:
    """``x`` if ``x >= 0`` else ``negative_slope * x``: ONNX's LeakyRelu for a
    finite slope; the activation's ``max(x, slope * x)`` / ``min(x, 0) *
    slope + relu(x)`` or the layer's ``where(x > 0, x, slope * x)``
    otherwise (a slope beyond float32's range, or a float64 model)."""
    w = _Writer(builder)
    slope = w.value(negative_slope)
    if np.isfinite(slope) and w.native("LeakyRelu"):
        return w.op("LeakyRelu", x, alpha=float(slope))
    if 0 <= slope <= 1:
        return w.op("Max", x, w.op("Mul", x, w.const(slope)))
    if layer:
        return w.op("Where", w.op("Greater", x, w.const(0.0)), x, w.op("Mul", x, w.const(slope)))
    return w.op("Add", w.op("Mul", w.negative_part(x), w.const(slope)), w.relu(x))


def _leaky_relu(w: _Writer, x: str, negative_slope=0.2) -> str:
    return leaky(w.builder, x, negative_slope)


def _relu6(w: _Writer, x: str) -> str:
    return w.clip(x, 0.0, 6.0)


def elu(builder: GraphBuilder, x: str, alpha=1.0) -> str:
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``: ONNX's Elu (whose
    ``exp`` only sees ``x <= 0``), or ``relu(x) + alpha * (exp(min(x, 0)) -
    1)``; an alpha beyond the dtype's range takes the ELU layer's select
    (``inf * 0`` at 0 is NaN there, as in Keras)."""
    w = _Writer(builder)
    value = w.value(alpha)
    if not np.isfinite(value):
        negative = w.op("Mul", w.const(value), w.op("Sub", w.op("Exp", w.negative_part(x)), w.const(1.0)))
        return w.op("Where", w.op("Greater", x, w.const(0.0)), x, negative)
    if w.native("Elu"):
        return w.op("Elu", x, alpha=float(value))
    return _expm1_negative(w, x, value, 1.0)


def _expm1_negative(w: _Writer, x: str, alpha, divisor) -> str:
    """``relu(x) + alpha * (exp(min(x, 0) / divisor) - 1)`` (elu, celu)."""
    negative = w.negative_part(x)
    if divisor != 1:
        negative = w.op("Div", negative, w.const(divisor))
    expm1 = w.op("Sub", w.op("Exp", negative), w.const(1.0))
    return w.op("Add", w.relu(x), w.op("Mul", expm1, w.const(alpha)))


def _elu(w: _Writer, x: str, alpha=1.0) -> str:
    return elu(w.builder, x, alpha)


def _selu(w: _Writer, x: str) -> str:
    if w.native("Selu"):
        return w.op("Selu", x, alpha=activations.SELU_ALPHA, gamma=activations.SELU_SCALE)
    return w.op("Mul", _expm1_negative(w, x, activations.SELU_ALPHA, 1.0), w.const(activations.SELU_SCALE))


def _celu(w: _Writer, x: str, alpha=1.0) -> str:
    if w.native("Celu"):  # max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
        return w.op("Celu", x, alpha=float(alpha))
    return _expm1_negative(w, x, alpha, alpha)


def _sigmoid(w: _Writer, x: str) -> str:
    return w.op("Sigmoid", x)


def _tanh(w: _Writer, x: str) -> str:
    return w.op("Tanh", x)


def _exponential(w: _Writer, x: str) -> str:
    return w.op("Exp", x)


def _silu(w: _Writer, x: str) -> str:
    return w.op("Mul", w.finite_below(x), w.op("Sigmoid", x))


def _hard_sigmoid(w: _Writer, x: str) -> str:
    if w.native("HardSigmoid"):  # max(0, min(1, x / 6 + 0.5))
        return w.op("HardSigmoid", x, alpha=1.0 / 6.0, beta=0.5)
    return w.clip(w.op("Add", w.op("Div", x, w.const(6.0)), w.const(0.5)), 0.0, 1.0)


def _hard_silu(w: _Writer, x: str) -> str:
    if w.native("HardSwish"):  # x * max(0, min(1, x / 6 + 0.5))
        return w.op("HardSwish", w.finite_below(x))
    return w.op("Mul", w.finite_below(x), _hard_sigmoid(w, x))


def _hard_tanh(w: _Writer, x: str) -> str:
    return w.clip(x, -1.0, 1.0)


def _softplus(w: _Writer, x: str) -> str:
    """``log(1 + exp(x))``: ONNX Runtime's Softplus is the stable ``max(x, 0)
    + log1p(exp(-|x|))``; composed the same way (``log(1 + u)`` for
    ``log1p``, exact to float64 precision but for a 1e-16 offset)."""
    if w.native("Softplus"):
        return w.op("Softplus", x)
    tail = w.op("Log", w.op("Add", w.const(1.0), w.op("Exp", w.op("Neg", w.op("Abs", x)))))
    return w.op("Add", w.relu(x), tail)


def _log_sigmoid(w: _Writer, x: str) -> str:
    return w.op("Neg", _softplus(w, w.op("Neg", x)))  # log(sigmoid(x)) = -softplus(-x)


def _softsign(w: _Writer, x: str) -> str:
    """``x / (1 + |x|)`` on ``x`` clamped to the finite range: +-inf give +-1,
    the limit (ONNX's Softsign would give inf / inf)."""
    info = np.finfo(w.dtype)
    finite = w.clip(x, float(info.min), float(info.max))
    return w.op("Div", finite, w.op("Add", w.op("Abs", finite), w.const(1.0)))


def _mish(w: _Writer, x: str) -> str:
    if w.native("Mish"):  # x * tanh(softplus(x))
        return w.op("Mish", w.finite_below(x))
    return w.op("Mul", w.finite_below(x), w.op("Tanh", _softplus(w, x)))


def _gelu(w: _Writer, x: str, approximate=False) -> str:
    """Exact: ``x * (1 + erf(x / sqrt 2)) / 2``; approximate: ``x *
    sigmoid(2 z)``, ``z = sqrt(2 / pi) (x + 0.044715 x**3)``, which equals
    Keras's ``x (1 + tanh z) / 2`` without its cancellation for negative x
    (layerspec's form). ONNX's Gelu (opset 20) computes the same two."""
    if w.native("Gelu"):
        return w.op("Gelu", w.finite_below(x), approximate="tanh" if approximate else None)
    if approximate:
        limit = activations._GELU_CLIP  # the cube cannot overflow; the gate is 0 or 1 beyond
        clipped = w.clip(x, -limit, limit)
        z = w.op("Mul", w.op("Mul", clipped, clipped), clipped)
        z = w.op("Add", w.op("Mul", z, w.const(activations._GELU_CUBIC)), clipped)
        gate = w.op("Sigmoid", w.op("Mul", z, w.const(activations._TWO_SQRT_2_OVER_PI)))
        return w.op("Mul", w.finite_below(x), gate)
    scaled = w.op("Mul", x, w.const(math.sqrt(0.5)))
    if w.dtype == np.float32:
        erf = w.op("Erf", scaled)
    else:  # ONNX Runtime's Erf is float32 only
        erf = w.builder.cast(w.op("Erf", w.builder.cast(scaled, np.float32)), w.dtype)
    gate = w.op("Mul", w.op("Add", erf, w.const(1.0)), w.const(0.5))
    return w.op("Mul", w.finite_below(x), gate)


def _soft_shrink(w: _Writer, x: str, threshold=0.5) -> str:
    """``x - clip(x, -t, t)``: ``x -+ t`` outside ``[-t, t]``, 0 inside, NaN
    kept (ONNX's Shrink would make NaN 0)."""
    t = w.value(threshold)
    return w.op("Sub", x, w.clip(x, -t, t))


def _hard_shrink(w: _Writer, x: str, threshold=0.5) -> str:
    """``x`` where ``|x| > t``, else 0 (NaN kept, as layerspec: not Shrink,
    which makes it 0)."""
    inside = w.op("LessOrEqual", w.op("Abs", x), w.const(threshold))
    return w.op("Where", inside, w.const(0.0), x)


def _threshold(w: _Writer, x: str, threshold, default_value) -> str:
    """``x`` where ``x > threshold``, else ``default_value`` (NaN kept)."""
    below = w.op("LessOrEqual", x, w.const(threshold))
    return w.op("Where", below, w.const(default_value), x)


def _tanh_shrink(w: _Writer, x: str) -> str:
    return w.op("Sub", x, w.op("Tanh", x))


def _sparse_sigmoid(w: _Writer, x: str) -> str:
    return w.clip(w.op("Mul", w.op("Add", x, w.const(1.0)), w.const(0.5)), 0.0, 1.0)


def _sparse_plus(w: _Writer, x: str) -> str:
    """``max((clip(x, -1, 1) + 1)**2 / 4, x)``: 0 below -1, the parabola
    between, ``x`` above 1 (layerspec's form)."""
    shifted = w.op("Add", w.clip(x, -1.0, 1.0), w.const(1.0))
    parabola = w.op("Mul", w.op("Mul", shifted, shifted), w.const(0.25))
    return w.op("Max", parabola, x)


def _squareplus(w: _Writer, x: str, b=4.0) -> str:
    """``(x + sqrt(x**2 + b)) / 2``, as layerspec computes it without
    overflow: with ``a = |x|`` and ``h = hypot(a, sqrt b)`` (as ``m *
    sqrt(1 + (n / m)**2)``, m and n the larger and smaller of the two), it
    is ``h / 2 + a / 2`` for ``x >= 0`` and ``(b / 2) / (h + a)`` below 0,
    where the sum would cancel."""
    if b == 0:  # (x + |x|) / 2
        return w.relu(x)
    root = w.const(math.sqrt(b))
    a = w.op("Abs", x)
    larger, smaller = w.op("Max", a, root), w.op("Min", a, root)
    ratio = w.op("Div", smaller, larger)  # larger >= sqrt(b) > 0
    h = w.op("Mul", larger, w.op("Sqrt", w.op("Add", w.op("Mul", ratio, ratio), w.const(1.0))))
    half = w.const(0.5)
    above = w.op("Add", w.op("Mul", h, half), w.op("Mul", a, half))  # halves first: no overflow near the max
    below = w.op("Div", w.const(b / 2), w.op("Add", h, a))
    return w.op("Where", w.op("Less", x, w.const(0.0)), below, above)


# --------------------------------------------------------------------------
# along an axis


def _softmax(w: _Writer, x: str, shape: tuple, axis=-1) -> str:
    return w.op("Softmax", x, axis=axis)


def _log_softmax(w: _Writer, x: str, shape: tuple, axis=-1) -> str:
    return w.op("LogSoftmax", x, axis=axis)


def _glu(w: _Writer, x: str, shape: tuple, axis=-1) -> str:
    """``a * sigmoid(b)``, ``a`` and ``b`` the two halves of ``axis``
    (an equal Split: no size needed)."""
    builder = w.builder
    if builder.opset >= 18:
        value, gate = builder.op("Split", [x], 2, axis=axis, num_outputs=2, hint="half")
    else:
        value, gate = builder.op("Split", [x], 2, axis=axis, hint="half")
    return w.op("Mul", value, w.op("Sigmoid", gate))


def _sparsemax(w: _Writer, x: str, shape: tuple, axis=-1) -> str:
    """Sparsemax as layerspec's ``sparsemax``: the row shifted by its max and
    sorted in descending order (TopK), ``support = 1 + k s_k > cumsum(s)_k``,
    ``tau = (sum of the support - 1) / its size``, ``max(x - tau, 0)``."""
    builder = w.builder
    rank = len(shape)
    axis %= rank
    size = shape[axis]
    shifted = w.op("Sub", x, builder.reduce("ReduceMax", x, [axis], keepdims=True))
    if size is not None:
        count = builder.ints([size])
        ranks = builder.constant(np.arange(1, size + 1, dtype=w.dtype).reshape(
            [size if a == axis else 1 for a in range(rank)]), "ranks")
    else:
        count = builder.slice(builder.op("Shape", [x]), [axis], [axis + 1], [0])
        last = builder.cast(builder.squeeze(count, [0]), w.dtype)
        ranks = builder.op("Range", [w.const(1.0), w.op("Add", last, w.const(1.0)), w.const(1.0)])
        ranks = builder.reshape(ranks, [-1 if a == axis else 1 for a in range(rank)])
    ordered = builder.op("TopK", [shifted, count], 2, axis=axis, largest=1, sorted=1, hint="sorted")[0]
    totals = w.op("CumSum", ordered, builder.constant(np.array(axis, dtype=np.int64)))
    support = w.op("Greater", w.op("Mul", ordered, ranks), w.op("Sub", totals, w.const(1.0)))
    members = builder.reduce("ReduceSum", builder.to_float(support), [axis], keepdims=True)
    kept = w.op("Where", support, ordered, w.const(0.0))
    total = builder.reduce("ReduceSum", kept, [axis], keepdims=True)
    tau = w.op("Div", w.op("Sub", total, w.const(1.0)), members)
    return w.relu(w.op("Sub", shifted, tau))


#: Activations reading a shape (and an axis).
_ALONG_AXIS = frozenset({"softmax", "log_softmax", "glu", "sparsemax"})

_WRITERS = {
    "celu": _celu,
    "elu": _elu,
    "exponential": _exponential,
    "gelu": _gelu,
    "glu": _glu,
    "hard_shrink": _hard_shrink,
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": _hard_silu,
    "hard_tanh": _hard_tanh,
    "leaky_relu": _leaky_relu,
    "linear": _linear,
    "log_sigmoid": _log_sigmoid,
    "log_softmax": _log_softmax,
    "mish": _mish,
    "relu": _relu,
    "relu6": _relu6,
    "selu": _selu,
    "sigmoid": _sigmoid,
    "silu": _silu,
    "soft_shrink": _soft_shrink,
    "softmax": _softmax,
    "softplus": _softplus,
    "softsign": _softsign,
    "sparse_plus": _sparse_plus,
    "sparse_sigmoid": _sparse_sigmoid,
    "sparsemax": _sparsemax,
    "squareplus": _squareplus,
    "tanh": _tanh,
    "tanh_shrink": _tanh_shrink,
    "threshold": _threshold,
}
