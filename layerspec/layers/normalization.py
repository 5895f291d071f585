"""Normalization layers: BatchNormalization (inference), LayerNormalization, GroupNormalization,
UnitNormalization, and SpectralNormalization (refused: it only acts in training)."""

from __future__ import annotations

import math

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


def resolve_axes(axes: tuple, input_shape: tuple, sizes_known: bool = True) -> tuple:
    """Non-negative indices of ``axes`` in ``input_shape`` (batch axis first).

    Raises ShapeError (pointing at ``axis``) for an index out of range, the
    batch axis, an axis named twice, or (with ``sizes_known``, where weights
    span these axes) an axis of unknown size.
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
        if sizes_known and input_shape[axis] is None:
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

    supports_masking = True  # a mask passes through, as in Keras

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

    supports_masking = True  # a mask passes through, as in Keras

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


class GroupCount(ArgumentKind):
    """GroupNormalization's ``groups``: a count >= 1, or -1 for one group per channel."""

    expected = "an integer >= 1, or -1 for one group per channel"

    def check(self, value, argument):
        if isinstance(value, int) and not isinstance(value, bool) and (value >= 1 or value == -1):
            return value
        raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                            argument=argument)

    def json_schema(self):
        return {"anyOf": [{"type": "integer", "minimum": 1}, {"const": -1}]}


@register
class GroupNormalization(Layer):
    """Normalises each sample over groups of channels (Keras 3's GroupNormalization).

    The ``axis`` channels are split into ``groups`` consecutive groups; each
    group of each sample is normalised with the mean and the biased variance
    taken over its channels and every other non-batch axis:
    ``(x - mean) / sqrt(variance + epsilon) * gamma + beta``, ``gamma`` and
    ``beta`` per channel. ``groups: 1`` normalises each sample as a whole,
    ``groups: -1`` (one group per channel) is instance normalisation.

    Args:
        groups: the number of groups; it must divide the number of channels.
        axis: the channels axis (``-1``: the last).
        epsilon: added to the variance so it is never divided by zero.
        center: whether to add the learned offset ``beta``.
        scale: whether to multiply by the learned scale ``gamma``.
        beta_initializer: initializer of ``beta``.
        gamma_initializer: initializer of ``gamma``.

    Input shape:
        any rank >= 2; the size of ``axis`` must be known.
    Output shape:
        the same as the input.
    """

    supports_masking = True  # a mask passes through, as in Keras

    def __init__(self, groups: GroupCount() = 32, axis: Integer() = -1, epsilon: Epsilon() = 1e-3,
                 center: Boolean() = True, scale: Boolean() = True, beta_initializer: InitializerName() = "zeros",
                 gamma_initializer: InitializerName() = "ones", **kwargs):
        super().__init__(**kwargs)
        self.groups = groups
        self.axis = axis
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer

    def _group_count(self, input_shape) -> int:
        """The number of groups for this input, checked against its channels."""
        (axis,) = resolve_axes((self.axis,), input_shape)
        channels = input_shape[axis]
        if self.groups == -1:
            return channels
        if self.groups > channels:
            raise ShapeError(f"groups {self.groups} is more than the {channels} channels on axis {self.axis} of "
                             f"the input {format_shape(input_shape)}", argument="groups")
        if channels % self.groups:
            raise ShapeError(f"the {channels} channels on axis {self.axis} of the input {format_shape(input_shape)} "
                             f"do not split into {self.groups} equal groups", argument="groups")
        return self.groups

    def build(self, input_shape):
        self._group_count(input_shape)
        (axis,) = resolve_axes((self.axis,), input_shape)
        shape = (input_shape[axis],)
        # Keras's order: gamma, then beta.
        self.gamma = self.add_weight(shape=shape, initializer=self.gamma_initializer,
                                     name="gamma") if self.scale else None
        self.beta = self.add_weight(shape=shape, initializer=self.beta_initializer,
                                    name="beta") if self.center else None

    def compute_output_shape(self, input_shape):
        self._group_count(input_shape)
        return tuple(input_shape)

    def count_macs(self, input_shape):
        elements = known_product(input_shape[1:])
        # One multiply-add each for the mean, the variance, the scale-and-shift.
        return None if elements is None else 3 * elements

    def call(self, inputs):
        shape = inputs.shape
        axis = self.axis % inputs.ndim
        channels = shape[axis]
        groups = channels if self.groups == -1 else self.groups
        per_group = channels // groups
        batch = shape[0]
        # (batch, axes before, channels, axes after): the statistics sum over
        # axes 1 and 3 per channel (accumulated in float64), then per group.
        x = inputs.reshape(batch, math.prod(shape[1:axis]), channels, math.prod(shape[axis + 1:]))
        count = x.shape[1] * x.shape[3] * per_group
        if count == 0 or batch == 0:
            return inputs.copy()

        def per_channel(group_values: np.ndarray) -> np.ndarray:
            """(batch, groups, 1) → (batch, 1, channels, 1) in the input's dtype."""
            spread = np.broadcast_to(group_values, (batch, groups, per_group))
            return spread.reshape(batch, 1, channels, 1).astype(inputs.dtype)

        def group_mean(channel_sums: np.ndarray) -> np.ndarray:
            return channel_sums.reshape(batch, groups, per_group).sum(axis=2, keepdims=True) / count

        centred = x - per_channel(group_mean(x.sum(axis=(1, 3), dtype=np.float64)))
        # A second pass removes what rounding left of the mean (inputs far from zero).
        centred -= per_channel(group_mean(centred.sum(axis=(1, 3), dtype=np.float64)))
        # The mean of squared deviations, not E[x²] - E[x]², which cancels.
        variance = group_mean(np.einsum("bpcq,bpcq->bc", centred, centred, dtype=np.float64))
        scale = per_channel(1 / np.sqrt(variance + self.epsilon))
        if self.gamma is not None:
            scale *= self.gamma.value.reshape(1, 1, channels, 1)
        centred *= scale
        if self.beta is not None:
            centred += self.beta.value.reshape(1, 1, channels, 1)
        return centred.reshape(shape)


#: UnitNormalization divides by ``max(norm, UNIT_EPSILON)``: Keras 3 calls
#: ``ops.normalize(x, order=2, epsilon=1e-12)``, ``x * min(rsqrt(sum(x²)),
#: 1 / epsilon)``, so a zero vector stays zero.
UNIT_EPSILON = 1e-12


def _free_axes(axes: tuple, input_shape: tuple) -> tuple:
    """Non-negative indices of ``axes``; unlike :func:`resolve_axes`, sizes may be unknown."""
    return resolve_axes(axes, input_shape, sizes_known=False)


def unit_normalize(x: np.ndarray, axes: tuple) -> np.ndarray:
    """``x / max(sqrt(sum(x ** 2, axes)), 1e-12)``: Keras's UnitNormalization.

    A vector whose sum of squares overflows (entries beyond ~1e19 in
    float32) is divided by its largest magnitude first, so it gets its
    direction rather than Keras's 0 (float32 overflow); an infinite entry
    counts as +-1 and the finite entries beside it as 0. NaN stays NaN.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        squares = np.sum(np.square(x), axis=axes, keepdims=True)
    finite = np.isfinite(squares)
    if finite.all():
        return x * _inverse_norm(squares, x.dtype)
    largest = np.max(np.abs(x), axis=axes, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # in the rows np.where leaves out
        infinite = np.isinf(largest)
        scaled = np.where(infinite, np.where(np.isinf(x), np.sign(x), 0).astype(x.dtype),
                          x / np.where(largest == 0, 1, largest))
        scaled_squares = np.sum(np.square(scaled), axis=axes, keepdims=True)
        return np.where(finite, x * _inverse_norm(squares, x.dtype),
                        scaled * _inverse_norm(scaled_squares, x.dtype))


def _inverse_norm(squares: np.ndarray, dtype) -> np.ndarray:
    norm = np.sqrt(squares)
    np.maximum(norm, np.dtype(dtype).type(UNIT_EPSILON), out=norm)
    return np.reciprocal(norm, out=norm)


@register
class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over ``axis``.

    ``x / max(sqrt(sum(x ** 2)), 1e-12)`` (Keras 3: ``x * min(rsqrt(sum(x
    ** 2)), 1e12)``): a zero vector stays zero. No weights.

    Args:
        axis: the axis, or list of axes, whose values form each vector
            (``-1``: the last); not the batch axis.

    Input shape:
        any rank >= 2; sizes may be unknown.
    Output shape:
        the same as the input.
    """

    supports_masking = True  # a mask passes through, as in Keras

    def __init__(self, axis: AxisOrAxes() = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.axes = axis if isinstance(axis, tuple) else (axis,)

    def compute_output_shape(self, input_shape):
        _free_axes(self.axes, input_shape)
        return tuple(input_shape)

    def count_macs(self, input_shape):
        return known_product(input_shape[1:])  # the sum of squares

    def count_elementwise(self, input_shape):
        return known_product(input_shape[1:])  # the scaling

    def call(self, inputs):
        return unit_normalize(inputs, tuple(axis % inputs.ndim for axis in self.axes))


@register
class SpectralNormalization(Layer):
    """Keras's SpectralNormalization wrapper: refused, with the way to write it.

    The wrapper only acts in training, where each step's power iteration
    divides the wrapped layer's kernel by its largest singular value and
    stores the result in that kernel. At inference Keras applies the wrapped
    layer with the kernel as stored, so a spec writes the wrapped layer
    itself (its weights load under the wrapped layer's name).

    Args:
        layer: the wrapped layer (refused).
        power_iterations: the number of power iterations per training step.
    """

    def __init__(self, layer=None, power_iterations: Integer(min=1) = 1, **kwargs):
        super().__init__(**kwargs)
        raise ArgumentError("SpectralNormalization only changes its layer's kernel during training (power "
                            "iteration); at inference Keras applies the wrapped layer with its stored, already "
                            "normalised kernel: write the wrapped layer itself instead, with that kernel",
                            argument="type")
