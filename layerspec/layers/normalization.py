"""Normalization layers: BatchNormalization (inference) and LayerNormalization."""

from __future__ import annotations

import numpy as np

from ..arguments import ArgumentKind, Boolean, InitializerName, Integer, Number, describe_value
from ..errors import ArgumentError, ShapeError, WeightsError
from ..registry import register
from .base import Layer, format_shape
from .core import known_product
from .prepared import derived


#: The smallest ``epsilon`` accepted: float32's smallest normal number. A
#: much smaller one is 0 in float32 (1e-46 is), and a constant input or a
#: zero moving variance is then divided by zero.
SMALLEST_EPSILON = float(np.finfo(np.float32).tiny)


class Epsilon(Number):
    """The small positive number added to a variance before dividing by its root."""

    def __init__(self):
        super().__init__(min=SMALLEST_EPSILON)
        self.expected = f"a number >= {SMALLEST_EPSILON!r} (float32's smallest normal number)"


class AxisOrAxes(ArgumentKind):
    """An axis index, or a non-empty list of them; a list becomes a tuple.

    Negative indices count from the end, as in Keras. Whether an index fits
    the input is only known at build time.
    """

    expected = "an integer or a non-empty list of integers"

    def check(self, value, argument):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(item, int) and not isinstance(item, bool) for item in value):
            return tuple(value)
        raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                            argument=argument)

    def json_schema(self):
        return {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}, "minItems": 1}]}


def resolve_axes(axes: tuple, input_shape: tuple) -> tuple:
    """Non-negative indices of ``axes`` in ``input_shape`` (batch axis first).

    Raises ShapeError (pointing at ``axis``) for an index out of range, the
    batch axis, an axis named twice, or an axis of unknown size: the
    weights span these axes, so their sizes must be known.
    """
    rank = len(input_shape)
    shown = list(axes) if len(axes) > 1 else axes[0]
    resolved = []
    for axis in axes:
        if not -rank <= axis < rank:
            raise ShapeError(f"axis {axis} is out of range for the input {format_shape(input_shape)}, "
                             f"which has {rank} axes", argument="axis")
        axis %= rank
        if axis == 0:
            raise ShapeError(f"axis {shown} is the batch axis of the input {format_shape(input_shape)}; "
                             f"normalise a feature axis such as -1", argument="axis")
        if axis in resolved:
            raise ShapeError(f"axis {shown} names axis {axis} of the input {format_shape(input_shape)} twice",
                             argument="axis")
        if input_shape[axis] is None:
            raise ShapeError(f"needs a known size on axis {axis} (axis {shown}), got {format_shape(input_shape)}",
                             argument="axis")
        resolved.append(axis)
    return tuple(resolved)


def broadcast_shape(axes: tuple, input_shape: tuple) -> tuple:
    """Shape that lines a weight spanning ``axes`` up with the input."""
    shape = [1] * len(input_shape)
    for axis in axes:
        shape[axis] = input_shape[axis]
    return tuple(shape)


@register
class BatchNormalization(Layer):
    """Normalises with the moving mean and variance learned in training.

    layerspec runs inference only, so this is Keras's ``training=False``
    form: ``(x - moving_mean) / sqrt(moving_variance + epsilon) * gamma +
    beta`` along ``axis``, folded into one multiply-add per element.

    Args:
        axis: the feature axis to normalise (``-1``: the channels axis).
        momentum: momentum of the moving statistics (checked; only training
            uses it).
        epsilon: added to the variance so it is never divided by zero.
        center: whether to add the learned offset ``beta``.
        scale: whether to multiply by the learned scale ``gamma``.
        beta_initializer: initializer of ``beta``.
        gamma_initializer: initializer of ``gamma``.
        moving_mean_initializer: initializer of ``moving_mean``.
        moving_variance_initializer: initializer of ``moving_variance``.
        synchronized: synchronise statistics across devices in training
            (checked; no effect at inference).

    Input shape:
        any rank >= 2; the size of ``axis`` must be known.
    Output shape:
        the same as the input.
    """

    def __init__(self, axis: Integer() = -1, momentum: Number(min=0, max=1) = 0.99,
                 epsilon: Epsilon() = 1e-3, center: Boolean() = True,
                 scale: Boolean() = True, beta_initializer: InitializerName() = "zeros",
                 gamma_initializer: InitializerName() = "ones", moving_mean_initializer: InitializerName() = "zeros",
                 moving_variance_initializer: InitializerName() = "ones", synchronized: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.momentum = momentum
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.synchronized = synchronized

    def build(self, input_shape):
        (axis,) = resolve_axes((self.axis,), input_shape)
        shape = (input_shape[axis],)
        # Keras's order, which is also the order of its weights lists.
        self.gamma = self.add_weight(shape=shape, initializer=self.gamma_initializer,
                                     name="gamma") if self.scale else None
        self.beta = self.add_weight(shape=shape, initializer=self.beta_initializer,
                                    name="beta") if self.center else None
        self.moving_mean = self.add_weight(shape=shape, initializer=self.moving_mean_initializer,
                                           name="moving_mean", trainable=False)
        self.moving_variance = self.add_weight(shape=shape, initializer=self.moving_variance_initializer,
                                               name="moving_variance", trainable=False)

    def compute_output_shape(self, input_shape):
        resolve_axes((self.axis,), input_shape)
        return tuple(input_shape)

    def count_macs(self, input_shape):
        return known_product(input_shape[1:])

    def call(self, inputs):
        # Folded once per weights value (see .prepared), not on every batch.
        scale, shift = derived(self, "folded", self._folded)
        axis = self.axis % inputs.ndim
        if axis != inputs.ndim - 1:
            shape = broadcast_shape((axis,), inputs.shape)
            scale, shift = scale.reshape(shape), shift.reshape(shape)
        outputs = inputs * scale
        outputs += shift
        return outputs

    def weight_problem(self, values):
        problem = self._negative_variance(values["moving_variance"])
        return None if problem is None else ("moving_variance", problem)

    def _negative_variance(self, variance: np.ndarray) -> str | None:
        # Below -epsilon, Keras's output is NaN; above, it is computed.
        # (epsilon >= float32's smallest normal, so only a negative variance fails.)
        failing = variance + self.epsilon <= 0
        if not failing.any():
            return None
        channel = int(np.argmax(failing))
        return f"moving_variance[{channel}] is {variance[channel]!s}; a variance cannot be negative"

    def _folded(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scale, shift)`` with ``y = x * scale + shift``, per channel."""
        problem = self._negative_variance(self.moving_variance.value)
        if problem is not None:  # weights assigned one by one, past the model's checks
            raise WeightsError(f"BatchNormalization '{self.name}': {problem}")
        scale = 1 / np.sqrt(self.moving_variance.value + self.epsilon)
        if self.gamma is not None:
            scale *= self.gamma.value
        shift = -self.moving_mean.value * scale
        if self.beta is not None:
            shift += self.beta.value
        return scale, shift


@register
class LayerNormalization(Layer):
    """Normalises each sample over its feature axis (or axes).

    ``(x - mean) / sqrt(variance + epsilon) * gamma + beta``, with the mean
    and the biased variance taken over ``axis`` within each sample.

    Args:
        axis: the axis, or list of axes, to normalise over (``-1``: the
            last). ``gamma`` and ``beta`` span these axes in the order
            Keras 3.15 sorts the list *as written* (``[2, 1]`` on
            ``(batch, 2, 3)`` gives ``(2, 3)``; ``[1, -1]`` sorts to
            ``[-1, 1]`` and gives ``(3, 2)``), and are laid over the input
            by a reshape to the axes in increasing order, as Keras does.
        epsilon: added to the variance so it is never divided by zero.
        center: whether to add the learned offset ``beta``.
        scale: whether to multiply by the learned scale ``gamma``.
        rms_scaling: only ``false`` is supported.
        beta_initializer: initializer of ``beta``.
        gamma_initializer: initializer of ``gamma``.

    Input shape:
        any rank >= 2; the sizes of the ``axis`` axes must be known.
    Output shape:
        the same as the input.
    """

    def __init__(self, axis: AxisOrAxes() = -1, epsilon: Epsilon() = 1e-3,
                 center: Boolean() = True, scale: Boolean() = True, rms_scaling: Boolean() = False,
                 beta_initializer: InitializerName() = "zeros", gamma_initializer: InitializerName() = "ones",
                 **kwargs):
        super().__init__(**kwargs)
        if rms_scaling:
            raise ArgumentError("argument 'rms_scaling': only false is supported by layerspec "
                                "(Keras's RMS scaling is not implemented)", argument="rms_scaling")
        self.axis = axis
        self.axes = axis if isinstance(axis, tuple) else (axis,)
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.rms_scaling = rms_scaling
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer

    def build(self, input_shape):
        # Keras 3.15 sorts the list as written, before making the axes
        # non-negative: [2, 1] gives (size 1, size 2), but [1, -1] sorts to
        # [-1, 1] and gives (size 2, size 1). ``call`` reshapes the weights
        # onto the axes in increasing order, as Keras does, so Keras's weights
        # load and give Keras's outputs even for such a list.
        resolve_axes(self.axes, input_shape)  # refuses axes out of range or named twice
        shape = tuple(input_shape[axis] for axis in sorted(self.axes))
        self.gamma = self.add_weight(shape=shape, initializer=self.gamma_initializer,
                                     name="gamma") if self.scale else None
        self.beta = self.add_weight(shape=shape, initializer=self.beta_initializer,
                                    name="beta") if self.center else None

    def compute_output_shape(self, input_shape):
        resolve_axes(self.axes, input_shape)
        return tuple(input_shape)

    def count_macs(self, input_shape):
        elements = known_product(input_shape[1:])
        # One multiply-add each for the mean, the variance, the scale-and-shift.
        return None if elements is None else 3 * elements

    def call(self, inputs):
        axes = tuple(axis % inputs.ndim for axis in self.axes)
        centred = inputs - np.mean(inputs, axis=axes, keepdims=True)
        # A second pass removes what rounding left of the mean: inputs far from
        # zero (1e4 + noise) would otherwise lose their small variations.
        centred -= np.mean(centred, axis=axes, keepdims=True)
        # The mean of squared deviations, not E[x²] - E[x]², which cancels.
        variance = np.mean(np.square(centred), axis=axes, keepdims=True)
        centred *= 1 / np.sqrt(variance + self.epsilon)
        shape = broadcast_shape(axes, inputs.shape)
        if self.gamma is not None:
            centred *= self.gamma.value.reshape(shape)
        if self.beta is not None:
            centred += self.beta.value.reshape(shape)
        return centred
