"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector."""

from __future__ import annotations

import numpy as np

from ..arguments import Choice, Integer, IntList, Optional
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape
from .core import known_product


@register
class Flatten(Layer):
    """Flattens every axis but the batch axis.

    Args:
        data_format: ``channels_last`` (the only layout layerspec uses).

    Input shape:
        ``(batch, ...)``. Output shape: ``(batch, product of the rest)``;
        unknown if any size is unknown.
    """

    def __init__(self, data_format: Optional(Choice("channels_last")) = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format

    def compute_output_shape(self, input_shape):
        return (input_shape[0], known_product(input_shape[1:]))

    def call(self, inputs):
        return inputs.reshape(len(inputs), -1)


@register
class Reshape(Layer):
    """Reshapes each sample to ``target_shape``; one size may be ``-1``.

    Args:
        target_shape: the per-sample output shape; ``-1`` is inferred.

    Input shape:
        ``(batch, ...)``. Output shape: ``(batch, *target_shape)``.
    """

    def __init__(self, target_shape: IntList(min=-1, description="a list of sizes (one may be -1)"), **kwargs):
        super().__init__(**kwargs)
        if any(size == 0 for size in target_shape):
            raise ArgumentError(f"argument 'target_shape' sizes must be >= 1 or -1, got {list(target_shape)}",
                                argument="target_shape")
        if list(target_shape).count(-1) > 1:
            raise ArgumentError(f"argument 'target_shape' may contain -1 only once, got {list(target_shape)}",
                                argument="target_shape")
        self.target_shape = tuple(target_shape)

    def compute_output_shape(self, input_shape):
        total = known_product(input_shape[1:])
        known = known_product(size for size in self.target_shape if size != -1)
        if -1 in self.target_shape:
            if total is None:
                inferred = None
            elif total % known:
                raise ShapeError(self._mismatch(input_shape))
            else:
                inferred = total // known
            return (input_shape[0],) + tuple(inferred if size == -1 else size for size in self.target_shape)
        if total is not None and total != known:
            raise ShapeError(self._mismatch(input_shape))
        return (input_shape[0],) + self.target_shape

    def _mismatch(self, input_shape) -> str:
        return (f"cannot reshape {format_shape(input_shape)} ({known_product(input_shape[1:])} values per sample) "
                f"into target_shape {list(self.target_shape)}")

    def call(self, inputs):
        return inputs.reshape((len(inputs),) + self.target_shape)


@register
class Permute(Layer):
    """Permutes the axes of each sample (the batch axis stays first).

    Args:
        dims: a permutation of ``1..rank``, numbering axes from 1 as Keras
            does (``[2, 1]`` swaps the two axes of a sequence).

    Input shape:
        ``(batch, d1, ..., dn)``. Output shape: the axes reordered.
    """

    def __init__(self, dims: IntList(min=1, description="a permutation of 1..n"), **kwargs):
        super().__init__(**kwargs)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ArgumentError(f"argument 'dims' must be a permutation of 1..{len(dims)}, got {list(dims)}",
                                argument="dims")
        self.dims = tuple(dims)

    def build(self, input_shape):
        if len(input_shape) - 1 != len(self.dims):
            raise ShapeError(f"dims {list(self.dims)} permute {len(self.dims)} axes, but the input "
                             f"{format_shape(input_shape)} has {len(input_shape) - 1}", argument="dims")

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs):
        return np.transpose(inputs, (0,) + self.dims)


@register
class RepeatVector(Layer):
    """Repeats a vector ``n`` times: ``(batch, features)`` → ``(batch, n, features)``.

    Args:
        n: how many times to repeat.
    """

    def __init__(self, n: Integer(min=1), **kwargs):
        super().__init__(**kwargs)
        self.n = n

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ShapeError(f"needs an input of shape (batch, features), got {format_shape(input_shape)}")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs):
        return np.repeat(inputs[:, np.newaxis, :], self.n, axis=1)
