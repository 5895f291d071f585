"""Embedding: integer indices → rows of a learned table."""

from __future__ import annotations

import numpy as np

from ..arguments import Boolean, InitializerName, Integer
from ..errors import ValueAtIndexError
from ..registry import register
from .base import Layer


@register
class Embedding(Layer):
    """Turns integer indices into dense vectors: row ``i`` of ``embeddings``.

    An index outside ``[0, input_dim)`` is an error (naming the index and
    where it is), never a silently wrong row.

    Args:
        input_dim: size of the vocabulary: indices run from 0 to
            ``input_dim - 1``.
        output_dim: size of each vector.
        embeddings_initializer: initializer of ``embeddings`` (Keras's
            ``uniform``: uniform in [-0.05, 0.05]).
        mask_zero: treat index 0 as padding: the output carries a mask,
            True where the index is not 0, which later layers follow (an
            RNN skips the padded steps). Index 0 still looks up its row.

    Input shape:
        ``(batch, ...)`` integer indices (float arrays holding whole numbers
        are accepted).
    Output shape:
        ``(batch, ..., output_dim)``.
    """

    has_macs = False

    input_kind = "int"

    def __init__(self, input_dim: Integer(min=1), output_dim: Integer(min=1),
                 embeddings_initializer: InitializerName() = "uniform", mask_zero: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        # Keras: only an Embedding that makes a mask supports masking.
        self.supports_masking = mask_zero
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = embeddings_initializer
        self.mask_zero = mask_zero

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer, name="embeddings")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask_shape(self, input_shape, mask_shape):
        return tuple(input_shape) if self.mask_zero else None

    def compute_mask(self, inputs, mask):
        return np.not_equal(inputs, 0) if self.mask_zero else None

    def call(self, inputs):
        if inputs.dtype.kind != "i":
            from ..arrays import convert_integers

            inputs = convert_integers(inputs, f"Embedding '{self.name}' input")
        self._check_indices(inputs)
        return np.take(self.embeddings.value, inputs, axis=0)

    def _check_indices(self, indices: np.ndarray) -> None:
        # Two reductions are cheap; locating the culprit is only needed on failure.
        if indices.size == 0 or (indices.min() >= 0 and indices.max() < self.input_dim):
            return
        outside = (indices < 0) | (indices >= self.input_dim)
        position = tuple(int(i) for i in np.unravel_index(int(np.argmax(outside)), indices.shape))
        raise ValueAtIndexError(f"Embedding '{self.name}'", f"index {int(indices[position])}", position,
                                f" is outside [0, {self.input_dim})")
