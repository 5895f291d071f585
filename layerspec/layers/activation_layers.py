"""Activation layers with arguments: ReLU, LeakyReLU, PReLU, ELU, Softmax, and
Identity.

(The layer that applies an activation by name, ``Activation``, lives in
``core``.) Each is elementwise (Softmax along its axes) and keeps its
input's shape and floating dtype: float32 stays float32.

Costs follow the activations' counting convention: no multiply-accumulates,
one elementwise operation per element (Identity: none).

At infinite inputs each layer returns the limit of its function where one
exists, as the activation functions do: ``PReLU`` with ``alpha`` 0 gives 0 at
``-inf`` (Keras's ``-alpha * relu(-x)`` would give ``0 * inf``, NaN).
"""

from __future__ import annotations

import numpy as np

from .. import activations
from ..arguments import ArgumentKind, InitializerName, Number, Optional, describe_value
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape
from .core import known_product
from .normalization import AxisOrAxes


def as_floating(inputs, dtype: str) -> np.ndarray:
    """``inputs`` as a floating array: a floating one keeps its dtype (no
    copy), any other becomes the layer's dtype."""
    x = np.asarray(inputs)
    return x if x.dtype.kind == "f" else x.astype(dtype)


def scalar(value: float, dtype: np.dtype):
    """``value`` in ``dtype``, so float32 work stays float32; beyond the
    dtype's range it is infinite, as Keras's cast makes it (silently)."""
    with np.errstate(over="ignore"):
        return dtype.type(value)


def leaky(x: np.ndarray, slope) -> np.ndarray:
    """``x`` if ``x > 0`` else ``slope * x``, for ``slope > 0``, as Keras's
    kernel computes it."""
    if slope <= 1:
        return activations.leaky_relu(x, slope)  # max(x, slope * x): exact at +-inf
    # A steep slope: max(x, slope * x) would pick the wrong side.
    with np.errstate(over="ignore", invalid="ignore"):  # x * inf at x = 0: NaN, as in Keras
        return np.where(x > 0, x, x * slope)


class ElementwiseActivation(Layer):
    """Base of the layers below: shape unchanged, one operation per element.

    Not registered: it is not a layer type of its own.
    """

    has_macs = False
    supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def count_elementwise(self, input_shape):
        return known_product(input_shape[1:])


@register
class ReLU(ElementwiseActivation):
    """Rectified linear unit, with Keras's ceiling, slope and threshold.

    ``f(x) = min(x, max_value)`` above ``threshold``, ``negative_slope * (x -
    threshold)`` below it. Exactly as Keras 3 computes it: the positive part
    is ``x`` only where ``x > threshold`` (else 0), clipped to ``[0,
    max_value]``, and ``negative_slope * relu(threshold - x)`` is subtracted
    from it (so with a ``max_value`` below ``threshold`` the output jumps
    from 0 to ``max_value`` at the threshold, as in Keras).

    Args:
        max_value: the largest output; ``null`` for no limit.
        negative_slope: slope below the threshold (>= 0).
        threshold: where the linear part starts (>= 0).

    Input shape:
        any. Output shape: the same.
    """

    def __init__(self, max_value: Optional(Number(min=0)) = None, negative_slope: Number(min=0) = 0.0,
                 threshold: Number(min=0) = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold

    def call(self, inputs):
        x = as_floating(inputs, self.dtype)
        # Parameters in the input's dtype: float32 work stays float32.
        slope, threshold = scalar(self.negative_slope, x.dtype), scalar(self.threshold, x.dtype)
        if slope != 0 and self.max_value is None and threshold == 0:
            return leaky(x, slope)
        if threshold != 0:
            outputs = np.where(x > threshold, x, scalar(0, x.dtype))
        else:
            outputs = np.maximum(x, 0)
        if self.max_value is not None:
            np.minimum(outputs, scalar(self.max_value, x.dtype), out=outputs)
        if slope != 0:
            negative = threshold - x
            np.maximum(negative, 0, out=negative)
            with np.errstate(over="ignore", invalid="ignore"):  # inf * 0 where x >= threshold = inf: NaN, as Keras
                negative *= slope
            outputs -= negative
        return outputs


@register
class LeakyReLU(ElementwiseActivation):
    """Leaky rectified linear unit: ``x`` if ``x > 0``, else ``negative_slope * x``.

    Args:
        negative_slope: slope for negative inputs (>= 0; Keras's default 0.3).

    Input shape:
        any. Output shape: the same.
    """

    def __init__(self, negative_slope: Number(min=0) = 0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def call(self, inputs):
        x = as_floating(inputs, self.dtype)
        slope = scalar(self.negative_slope, x.dtype)
        if slope == 0:
            # max(x, 0 * x) would be NaN at -inf; the limit is 0.
            return activations.relu(x)
        return leaky(x, slope)


class SharedAxes(ArgumentKind):
    """PReLU's ``shared_axes``: an axis (>= 1, the batch axis being 0) or a
    non-empty list of them; returned as a tuple."""

    expected = "an integer >= 1 or a non-empty list of integers >= 1"

    def check(self, value, argument):
        items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(items, (list, tuple)) and items and all(
                isinstance(item, int) and not isinstance(item, bool) and item >= 1 for item in items):
            return tuple(items)
        raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                            argument=argument)

    def json_schema(self):
        item = {"type": "integer", "minimum": 1}
        return {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]}


@register
class PReLU(ElementwiseActivation):
    """Parametric ReLU: ``x`` if ``x >= 0``, else ``alpha * x``, with a learned ``alpha``.

    ``alpha`` has the input's per-sample shape, except that the axes in
    ``shared_axes`` have size 1 (one value shared along them): with input
    ``(batch, 8, 8, 3)`` and ``shared_axes: [1, 2]``, ``alpha`` is
    ``(1, 1, 3)``, 3 parameters. Computed as Keras does, ``relu(x) - alpha *
    relu(-x)``; at ``-inf`` with ``alpha`` 0 the result is the limit, 0.

    Args:
        alpha_initializer: initializer of ``alpha`` (Keras's default zeros).
        shared_axes: axis or axes (numbered with the batch axis as 0) along
            which ``alpha`` is shared; ``null`` for none.

    Input shape:
        rank >= 2; every size outside ``shared_axes`` must be known.
    Output shape:
        the same as the input.
    """

    def __init__(self, alpha_initializer: InitializerName() = "zeros", shared_axes: Optional(SharedAxes()) = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer
        self.shared_axes = shared_axes

    def alpha_shape(self, input_shape) -> tuple:
        """The shape of ``alpha`` for ``input_shape`` (batch axis first).

        Raises:
            ShapeError: for a shared axis outside the input, or an unknown
                size that ``alpha`` would span.
        """
        rank = len(input_shape)
        if rank < 2:
            raise ShapeError(f"needs an input with a feature axis, got {format_shape(input_shape)}")
        shared = self.shared_axes or ()
        for axis in shared:
            if axis >= rank:
                raise ShapeError(f"shared_axes {list(shared)}: axis {axis} is out of range for the input "
                                 f"{format_shape(input_shape)}, whose axes are 1 to {rank - 1} (0 is the batch)",
                                 argument="shared_axes")
        shape = tuple(1 if axis in shared else input_shape[axis] for axis in range(1, rank))
        if None in shape:
            axis = shape.index(None) + 1
            raise ShapeError(f"needs a known size on axis {axis}, or the axis in shared_axes, got "
                             f"{format_shape(input_shape)}", argument="shared_axes")
        return shape

    def build(self, input_shape):
        self.alpha = self.add_weight(shape=self.alpha_shape(input_shape), initializer=self.alpha_initializer,
                                     name="alpha")

    def compute_output_shape(self, input_shape):
        self.alpha_shape(input_shape)
        return tuple(input_shape)

    def call(self, inputs):
        x = as_floating(inputs, self.dtype)
        alpha = self.alpha.numpy()
        self._check_fits(x.shape)
        outputs = np.maximum(x, 0)
        negative = np.minimum(x, 0)
        with np.errstate(invalid="ignore"):  # -inf * 0: set to its limit below
            negative *= alpha
        outputs += negative
        zero_alpha = alpha == 0
        if zero_alpha.any():
            np.copyto(outputs, 0, where=zero_alpha & np.isneginf(x))
        return outputs

    def _check_fits(self, shape: tuple) -> None:
        # Sizes along shared axes may differ from the build's; the others may not.
        alpha_shape = self.alpha.shape
        if len(shape) != len(alpha_shape) + 1 or any(
                size != 1 and size != actual for size, actual in zip(alpha_shape, shape[1:])):
            raise ShapeError(f"alpha of shape {format_shape(alpha_shape)} does not fit the input "
                             f"{format_shape(shape)}")


@register
class ELU(ElementwiseActivation):
    """Exponential linear unit: ``x`` if ``x > 0``, else ``alpha * (exp(x) - 1)``.

    Args:
        alpha: scale of the negative part (Keras's default 1.0).

    Input shape:
        any. Output shape: the same.
    """

    def __init__(self, alpha: Number() = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, inputs):
        x = as_floating(inputs, self.dtype)
        alpha = scalar(self.alpha, x.dtype)
        if np.isfinite(alpha):
            return activations.elu(x, alpha)
        # An alpha beyond the dtype's range: the sum form would give inf * 0
        # for positive x; Keras's select gives x there (and NaN at 0).
        with np.errstate(invalid="ignore"):
            return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


@register
class Softmax(ElementwiseActivation):
    """Softmax along an axis, or jointly along several: ``exp(x) / sum(exp(x))``.

    Computed stably (the maximum is subtracted first); a slice holding
    ``+inf`` shares its weight among its infinite entries, as the
    ``softmax`` activation does.

    Args:
        axis: the axis (``-1``: the last), or a list of axes normalised
            together. Never the batch axis: samples stay independent.

    With a mask (True where a value counts), masked values are left out
    and get weight 0, as in Keras: the mask must broadcast over the input
    (NumPy's rule: its axes line up with the input's last ones).

    Input shape:
        rank >= 2. Output shape: the same.
    """

    uses_mask = True

    def __init__(self, axis: AxisOrAxes() = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def resolved_axes(self, input_shape) -> tuple:
        """The non-negative indices of ``axis`` in ``input_shape`` (batch axis first).

        Raises:
            ShapeError: for an axis out of range, the batch axis, or an axis
                named twice.
        """
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        shown = list(axes) if isinstance(self.axis, tuple) else self.axis
        rank = len(input_shape)
        resolved = []
        for axis in axes:
            if not -rank <= axis < rank:
                raise ShapeError(f"axis {shown} is out of range for the input {format_shape(input_shape)}, "
                                 f"which has {rank} axes", argument="axis")
            if axis % rank == 0:
                raise ShapeError(f"axis {shown} is the batch axis of the input {format_shape(input_shape)}; "
                                 f"take the softmax along a feature axis such as -1", argument="axis")
            if axis % rank in resolved:
                raise ShapeError(f"axis {shown} names axis {axis % rank} of the input "
                                 f"{format_shape(input_shape)} twice", argument="axis")
            resolved.append(axis % rank)
        return tuple(resolved)

    def compute_output_shape(self, input_shape):
        self.resolved_axes(input_shape)
        return tuple(input_shape)

    def call(self, inputs):
        x = as_floating(inputs, self.dtype)
        axes = self.resolved_axes(x.shape)
        return activations.softmax(x, axis=axes[0] if len(axes) == 1 else axes)

    def compute_mask_shape(self, input_shape, mask_shape):
        if mask_shape is not None and not _broadcasts(mask_shape, input_shape):
            raise ShapeError(f"the mask {format_shape(mask_shape)} of the input does not broadcast over the input "
                             f"{format_shape(input_shape)} (Keras refuses it too); a Softmax takes a mask of the "
                             f"input's shape or one that broadcasts over it")
        return mask_shape

    def call_masked(self, inputs, mask):
        x = as_floating(inputs, self.dtype)
        # Keras: masked values become -1e9 before the softmax, and 0 after it
        # (so a slice masked throughout gives zeros, not a uniform spread).
        x = np.where(mask, x, x.dtype.type(MASKED_LOGIT))
        return np.where(mask, self.call(x), x.dtype.type(0))


#: What Keras's Softmax layer puts in place of a masked value (float32 and wider).
MASKED_LOGIT = -1e9


def _broadcasts(mask_shape: tuple, input_shape: tuple) -> bool:
    """Whether a mask of ``mask_shape`` broadcasts over ``input_shape``
    without growing it (axes lined up from the right; unknown sizes pass)."""
    if len(mask_shape) > len(input_shape):
        return False
    return all(mine in (1, None) or theirs is None or mine == theirs
               for mine, theirs in zip(reversed(mask_shape), reversed(input_shape)))


@register
class Identity(ElementwiseActivation):
    """Passes its input through unchanged (a placeholder, as in Keras).

    Input shape:
        any. Output shape: the same.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def count_elementwise(self, input_shape):
        return 0

    def call(self, inputs):
        return inputs
