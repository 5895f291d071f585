"""Embedding: integer indices → rows of a learned table; PositionEmbedding: a learned row per position."""

from __future__ import annotations

import numpy as np

from ..arguments import Boolean, InitializerName, Integer
from ..errors import DataError, ShapeError
from ..registry import register
from .base import Layer, format_shape, refuse_ids_outside


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
        self.check_ids(inputs)
        return np.take(self.embeddings.value, inputs, axis=0)

    def check_ids(self, ids: np.ndarray) -> None:
        """Refuse ids outside ``[0, input_dim)``, naming the first (an engine
        that would read past the table, or wrap a negative id, checks with this)."""
        refuse_ids_outside(ids, self.input_dim, f"Embedding '{self.name}'", "index")


@register
class PositionEmbedding(Layer):
    """A learned position embedding (keras_hub's ``PositionEmbedding``).

    Only the input's shape is used: the output is row ``t`` of
    ``embeddings`` at every sequence position ``t``, the same for every
    sample (and every other axis), i.e. the first ``seq`` rows broadcast to
    the input's shape. It is *not* added to the input; add it with an
    ``Add`` layer, as keras_hub's models do (GPT-2: token embedding +
    position embedding).

    Like keras_hub's layer it does not support masking: a mask on its input
    is dropped. keras_hub's ``start_index`` is a call argument for cached
    decoding, not a constructor one, so a spec has none (positions start at
    0); newer keras_hub versions' ``hierarchical_alpha`` (positions beyond
    ``sequence_length``) is not supported.

    Args:
        sequence_length: the longest sequence the layer takes (rows of
            ``embeddings``).
        initializer: initializer of ``embeddings`` (keras_hub's default
            ``glorot_uniform``).

    Input shape:
        ``(batch, ..., sequence, features)``, rank >= 3, with ``sequence <=
        sequence_length`` and ``features`` known.
    Output shape:
        the input's shape.
    """

    has_macs = False  # a copy: no arithmetic, no elementwise work

    def __init__(self, sequence_length: Integer(min=1), initializer: InitializerName() = "glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length
        self.initializer = initializer

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        if input_shape[-1] is None:
            raise ShapeError(f"needs a known size on the last (feature) axis, got {format_shape(input_shape)}")
        self.embeddings = self.add_weight(shape=(self.sequence_length, input_shape[-1]),
                                          initializer=self.initializer, name="embeddings")

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 3:
            raise ShapeError("needs an input (batch, ..., sequence, features) of rank >= 3, got "
                             f"{format_shape(input_shape)}")
        steps = input_shape[-2]
        if steps is not None and steps > self.sequence_length:
            raise ShapeError(self._too_long_message(steps))
        return tuple(input_shape)

    def _too_long_message(self, steps: int) -> str:
        return (f"the input has {steps} positions on its sequence axis (-2), more than sequence_length "
                f"{self.sequence_length}")

    def call(self, inputs):
        table = self.embeddings.value
        if inputs.ndim < 3 or inputs.shape[-1] != table.shape[1]:
            raise ShapeError(f"is built for inputs (batch, ..., sequence, {table.shape[1]}), got shape "
                             f"{tuple(inputs.shape)}")
        steps = inputs.shape[-2]
        if steps > self.sequence_length:  # only a size unknown when the model was built can get here
            raise DataError(f"PositionEmbedding '{self.name}': {self._too_long_message(steps)}")
        # A real array, not a read-only broadcast view: a later layer may
        # work in place on what it is given.
        out = np.empty(inputs.shape, table.dtype)
        out[...] = table[:steps]
        return out
