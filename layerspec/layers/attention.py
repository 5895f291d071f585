"""Attention layers: MultiHeadAttention, Attention (Luong) and
AdditiveAttention (Bahdanau), as Keras 3 computes them.

Each takes a list of inputs, ``[query, value]`` or ``[query, value, key]``
(``key`` defaults to ``value``); MultiHeadAttention may also be fed one
input alone, which is then query, value and key at once (self-attention,
the layer above in a plain stack). ``build``, ``compute_output_shape`` and
the ``count_*`` methods get the list of shapes, ``call`` the list of arrays.

The call argument ``use_causal_mask`` of Keras is a constructor argument
here (a spec key): query position ``i`` attends only to key positions
``j <= i`` (Keras's lower-triangular mask over ``(query, key)`` positions,
top-left aligned when the lengths differ). Masked scores are replaced by
:data:`MASKED_SCORE` before the softmax (Attention and AdditiveAttention
subtract 1e9 from them, as Keras does).

Input masks (an Embedding's ``mask_zero``, a Masking layer), one per input,
``(batch, positions)``, True where a step counts, as Keras 3.15 applies
them: MultiHeadAttention masks the score of query ``i`` and key ``j`` unless
the query's mask holds at ``i`` and the value's (and key's) at ``j``, ANDed
with the causal and sliding-window masks; Attention and AdditiveAttention
mask scores by the value's mask (the key's is ignored, as Keras ignores it)
and zero the output rows of masked queries. All three pass the query's mask
on to their output.

Dropout is accepted (so a Keras config loads) and does nothing at inference.
"""

from __future__ import annotations

import math

import numpy as np

from .. import activations, initializers
from ..arguments import ArgumentKind, Boolean, Choice, InitializerName, Integer, Number, Optional, describe_value
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape

#: What a masked score of MultiHeadAttention becomes before the softmax:
#: Keras's ``_masked_softmax`` (its ``Softmax`` layer's
#: ``_large_negative_number`` for float32 and float64). Keras 3.15's fused
#: JAX path, taken for rank-3 inputs without dropout, puts
#: ``-0.7 * finfo(float32).max`` there instead; both make the masked
#: weights exactly 0 after the softmax, so the outputs agree.
MASKED_SCORE = -1e9

#: Attention and AdditiveAttention subtract this from masked scores (Keras's
#: ``Attention._apply_scores``).
MASK_OFFSET = 1e9

#: MultiHeadAttention computes its scores for a block of (sample, head)
#: pairs at a time, at most this many scores per block (1 MiB in float32;
#: one pair per block when a pair alone has more): the block's softmax
#: then runs in cache. Batch 8, 8 heads of 32, width 256, 2-thread
#: OpenBLAS: 10.1-10.7 ms against 11.5-11.9 ms for all scores at once
#: (heads contiguous) at length 128, 88-91 against 118-124 ms at 512
#: (benchmarks/attention.py, the ``blocked`` and ``matmul`` references).
SCORES_PER_BLOCK = 1 << 18


# --------------------------------------------------------------------------
# argument kinds


class OutputShape(ArgumentKind):
    """MultiHeadAttention's ``output_shape``: the output's last sizes, one
    integer or a non-empty list of them; returned as a tuple."""

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


class AttentionAxes(ArgumentKind):
    """MultiHeadAttention's ``attention_axes``: one axis or a non-empty list
    of axes of the query (batch axis 0; negative counts from the end);
    returned as a tuple. Whether they fit the input is known at build."""

    expected = "an integer or a non-empty list of integers"

    def check(self, value, argument):
        items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(items, (list, tuple)) and items and all(
                isinstance(item, int) and not isinstance(item, bool) for item in items):
            return tuple(items)
        raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                            argument=argument)

    def json_schema(self):
        return {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}, "minItems": 1}]}


# --------------------------------------------------------------------------
# input lists


def _is_one_shape(shape) -> bool:
    return isinstance(shape, (list, tuple)) and all(
        size is None or (isinstance(size, (int, np.integer)) and not isinstance(size, bool)) for size in shape)


def _listed(shapes) -> str:
    shown = [format_shape(shape) for shape in shapes]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _query_value_key(layer: Layer, input_shape, single: bool) -> tuple[tuple, tuple, tuple]:
    """``(query, value, key)`` shapes from what the layer was given.

    Args:
        layer: the attention layer (its type name goes into messages).
        input_shape: a list of 2 or 3 shapes ``[query, value, key]``, or,
            when ``single``, one shape alone or a list of one.
        single: whether one input alone is self-attention.

    Raises:
        ShapeError: for the wrong number of inputs, or known batch sizes
            that differ.
    """
    kind = type(layer).__name__
    wanted = "[query, value] or [query, value, key]" + (" (or one input, attending to itself)" if single else "")
    if input_shape and _is_one_shape(input_shape):  # one shape, not a list of them
        if not single:
            raise ShapeError(f"{kind} takes a list of inputs {wanted}, got one input of shape "
                             f"{format_shape(input_shape)}; name its inputs, e.g. 'inputs: [query, value]'")
        shapes = [tuple(input_shape)]
    elif isinstance(input_shape, (list, tuple)) and all(_is_one_shape(shape) for shape in input_shape):
        shapes = [tuple(shape) for shape in input_shape]
    else:
        raise ShapeError(f"{kind} takes {wanted}, got {input_shape!r}")
    if not (1 if single else 2) <= len(shapes) <= 3:
        got = f"{len(shapes)}: {_listed(shapes)}" if shapes else "an empty list"
        raise ShapeError(f"{kind} takes {wanted}, got {got}")
    batches = [shape[0] for shape in shapes if shape and shape[0] is not None]
    if any(batch != batches[0] for batch in batches):
        raise ShapeError(f"inputs {_listed(shapes)} have different batch sizes")
    query = shapes[0]
    value = shapes[1] if len(shapes) > 1 else query
    key = shapes[2] if len(shapes) > 2 else value
    return query, value, key


def _per_input(layer: Layer, mask, count: int) -> list:
    """The masks of ``count`` inputs: ``mask`` is None, one mask (a mask
    shape tuple or an array, for a layer fed one input alone) or a list of
    one per input (entries None for unmasked inputs)."""
    if mask is None:
        return [None] * count
    several = isinstance(mask, list) or (isinstance(mask, tuple) and not _is_one_shape(mask))
    masks = list(mask) if several else [mask]
    if len(masks) != count:
        raise ShapeError(f"{type(layer).__name__} got {count} input{'s' * (count != 1)} but {len(masks)} "
                         f"mask{'s' * (len(masks) != 1)}")
    return masks


def _check_mask_shape(role: str, mask: tuple, shape: tuple) -> None:
    """A mask shape must be ``(batch, positions)`` of its input (axes 0 and 1)."""
    mask = tuple(mask)
    if len(mask) != 2 or not (_same_size(mask[0], shape[0]) and _same_size(mask[1], shape[1])):
        raise ShapeError(f"the {role}'s mask {format_shape(mask)} does not fit the {role} {format_shape(shape)}: a "
                         f"mask must be (batch, positions), {format_shape(shape[:2])}")


def _mask_array(role: str, mask, shape: tuple) -> np.ndarray:
    """A mask as booleans (Keras casts it to bool), checked against its
    input's ``shape`` as :func:`_check_mask_shape` does at build."""
    mask = np.asarray(mask)
    if mask.shape != tuple(shape[:2]):
        raise ShapeError(f"the {role}'s mask {format_shape(mask.shape)} does not fit the {role} "
                         f"{format_shape(shape)}: a mask must be (batch, positions), {format_shape(shape[:2])}")
    return mask.astype(bool, copy=False)


def _batch(*shapes):
    known = [shape[0] for shape in shapes if shape[0] is not None]
    return known[0] if known else None


def _same_size(first, second) -> bool:
    return first is None or second is None or first == second


def _product(sizes):
    """The product of ``sizes``, or None if any is unknown."""
    sizes = list(sizes)
    return None if any(size is None for size in sizes) else math.prod(sizes)


def _floating(array, dtype) -> np.ndarray:
    """An input as the layer's dtype (Keras casts inputs to its compute dtype)."""
    return np.asarray(array, dtype=dtype)


def _softmax_in_place(scores: np.ndarray, axis: int) -> np.ndarray:
    """Softmax of ``scores`` along ``axis``, overwriting them, stably (the
    maximum subtracted first). As layerspec's ``softmax`` activation: a
    slice holding ``+inf`` shares its weight among its infinite entries, a
    slice of only ``-inf`` (or with a NaN) gives NaN."""
    top = scores.max(axis=axis, keepdims=True)
    if not np.isfinite(top).all():
        positive = top == np.inf
        if positive.any():
            limit = np.where(scores == np.inf, 0, -np.inf).astype(scores.dtype)
            np.copyto(scores, limit, where=positive)
        top[np.isinf(top)] = 0
        scores -= top
        np.exp(scores, out=scores)
        with np.errstate(invalid="ignore", divide="ignore"):  # an all -inf slice: 0 / 0
            scores /= scores.sum(axis=axis, keepdims=True)
        return scores
    scores -= top
    np.exp(scores, out=scores)  # all <= 1: no overflow
    scores /= scores.sum(axis=axis, keepdims=True)
    return scores


class _EinsumKernel(initializers.Initializer):
    """A projection kernel's initializer, drawing as Keras's ``EinsumDense``.

    Keras 3 gives a variance-scaling initializer (glorot_uniform, he_normal,
    ...) the kernel's input and output axes, so the fans of a query kernel
    ``(d, heads, key_dim)`` are ``d`` and ``heads * key_dim``, not those of
    a convolution kernel. Such an initializer draws here for the 2-D shape
    ``(fan_in, fan_out)``, reshaped; any other draws for the real shape.
    """

    name = "einsum_kernel"

    def __init__(self, inner, input_axes: int):
        self.inner = initializers.get(inner)
        self.input_axes = input_axes

    def generate(self, shape, dtype, rng):
        if isinstance(self.inner, initializers.VarianceScaling):
            grouped = (math.prod(shape[:self.input_axes]), math.prod(shape[self.input_axes:]))
            return self.inner(grouped, dtype, rng).reshape(shape)
        return self.inner(shape, dtype, rng)

    def describe(self) -> str:
        return self.inner.describe() if hasattr(self.inner, "describe") else repr(self.inner)

    def config(self):
        return {"inner": self.inner, "input_axes": self.input_axes}


# --------------------------------------------------------------------------
# MultiHeadAttention


@register
class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention (Vaswani et al., 2017), as Keras 3.

    The query, key and value are projected to ``num_heads`` heads (kernels
    ``(dim, num_heads, key_dim)``, ``value_dim`` for the value); per head,
    the query scaled by ``1 / sqrt(key_dim)`` is multiplied with the keys,
    the scores go through a softmax over the key positions, weight the
    values, and the heads are projected together to the output.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value; default ``key_dim``.
        dropout: dropout rate of the attention weights (checked; inference
            drops nothing).
        use_bias: whether the projections add biases.
        output_shape: the output's last sizes (an integer or a list);
            default the query's last size.
        attention_axes: the query axes attention runs over (batch axis 0;
            negative counts from the end); default every axis between the
            batch and the features. The other axes between them are batch
            axes of the attention: their sizes must match the value's.
        sliding_window: if set, position ``i`` attends only to key
            positions ``j`` with ``|i - j| < sliding_window``.
        kernel_initializer: initializer of the four kernels (a variance
            scaling one counts the fans as Keras's ``EinsumDense``:
            the contracted size in, the projected sizes out).
        bias_initializer: initializer of the biases.
        use_gate: gated attention (Keras 3.14+): a ``gate`` projection of
            the query, ``sigmoid(query @ gate_kernel + gate_bias)`` of shape
            ``(num_heads, value_dim)``, multiplies the heads' outputs
            before the output projection.
        seed: seed of the dropout (checked, unused).
        use_causal_mask: Keras's call argument, written as a spec key:
            position ``i`` attends only to key positions ``j <= i``.

    Input shape:
        ``[query, value]`` or ``[query, value, key]``, or one input for
        self-attention: query ``(batch, *positions, query_dim)``, value
        ``(batch, *value positions, value_dim)``, key like the value but
        its last size; all of the same rank (at least 3), the value and key
        equal on every axis but the last, and the query's sizes equal to the
        value's on the axes attention does not run over.
    Output shape:
        ``(batch, *positions, *output_shape)``.

    Weights (Keras's layout and names, under the layer's name):
    ``query/kernel`` ``(query_dim, num_heads, key_dim)``, ``query/bias``
    ``(num_heads, key_dim)``, ``key/kernel``, ``key/bias``, [``gate/kernel``
    ``(query_dim, num_heads, value_dim)``, ``gate/bias``], ``value/kernel``
    ``(value_dim, num_heads, value_dim)``, ``value/bias``,
    ``attention_output/kernel`` ``(num_heads, value_dim, *output_shape)``,
    ``attention_output/bias`` ``output_shape``.

    Masks (``use_causal_mask``, ``sliding_window``, input masks) need
    attention over axis 1 alone: Keras builds them from the sizes of axis 1.
    An input mask is ``(batch, positions)`` (axes 0 and 1 of its input); as
    Keras's ``mha(query, value, key)``, the query's mask masks the rows of
    the scores, the value's and the key's their columns (one input alone is
    ``mha(x, x)``: its mask is the query's and the value's), and the output
    carries the query's mask. A query row whose keys are all masked (a
    masked query, a sample whose values are all masked, a sliding window
    shorter than the gap between query and key lengths) gets Keras 3.15's
    value: the mean of the values for rank-3 inputs without dropout (its
    fused path), zeros otherwise (its softmax layer zeroes masked weights),
    each then projected to the output.

    Costs: the four projections, ``heads × Tq × Tk × key_dim`` for the
    scores and ``heads × Tq × Tk × value_dim`` for weighting the values are
    multiply-accumulates (all scores, masked or not, as Keras computes
    them); elementwise: the biases, the query's scaling, one operation per
    score for the mask if any, three per score for the softmax
    (exponential, sum, division), and the gate's sigmoid and product. With
    an unknown length any of these is unknown.
    """

    takes_several_inputs = True
    accepts_single_input = True
    supports_masking = True
    uses_mask = True

    def __init__(self, num_heads: Integer(min=1), key_dim: Integer(min=1),
                 value_dim: Optional(Integer(min=1)) = None, dropout: Number(min=0, max=1) = 0.0,
                 use_bias: Boolean() = True, output_shape: Optional(OutputShape()) = None,
                 attention_axes: Optional(AttentionAxes()) = None,
                 sliding_window: Optional(Integer(min=1)) = None,
                 kernel_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", use_gate: Boolean() = False,
                 seed: Optional(Integer(min=0)) = None, use_causal_mask: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self._output_shape = output_shape  # not `output_shape`: Keras keeps that name free too
        self.attention_axes = attention_axes
        self.sliding_window = sliding_window
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.use_gate = use_gate
        self.seed = seed
        self.use_causal_mask = use_causal_mask

    @property
    def masked(self) -> bool:
        """Whether scores are masked (causally or by a sliding window)."""
        return self.use_causal_mask or self.sliding_window is not None

    # -- shapes -------------------------------------------------------------
    def _checked(self, input_shape) -> tuple[tuple, tuple, tuple, tuple]:
        """``(query, value, key, attention axes)``, the axes as sorted
        indices of the query's axes; errors for inputs that do not fit."""
        query, value, key = _query_value_key(self, input_shape, single=True)
        for role, shape in (("query", query), ("value", value), ("key", key)):
            if len(shape) < 3:
                raise ShapeError(f"the {role} needs at least 3 axes (batch, positions..., features), got "
                                 f"{format_shape(shape)}")
            if shape[-1] is None:
                raise ShapeError(f"the {role} needs a known size on its last axis, got {format_shape(shape)}")
        if len(value) != len(query) or len(key) != len(query):
            raise ShapeError(f"query, value and key need the same number of axes, got query "
                             f"{format_shape(query)}, value {format_shape(value)} and key {format_shape(key)}")
        if not all(_same_size(a, b) for a, b in zip(value[1:-1], key[1:-1])):
            raise ShapeError(f"the value {format_shape(value)} and key {format_shape(key)} must have equal sizes "
                             f"on every axis but the last")
        axes = self._attention_axes(len(query))
        for axis in range(1, len(query) - 1):
            if axis not in axes and not _same_size(query[axis], value[axis]):
                raise ShapeError(f"the query {format_shape(query)} and value {format_shape(value)} differ on axis "
                                 f"{axis} ({query[axis]} and {value[axis]}), which attention does not run over "
                                 f"(attention_axes {list(axes)}): it must match", argument="attention_axes")
        if self.masked and axes != (1,):
            what = "use_causal_mask" if self.use_causal_mask else "sliding_window"
            raise ShapeError(f"{what} needs attention over axis 1 alone, as Keras builds the mask from the sizes "
                             f"of axis 1; attention_axes is {list(axes)} for the query {format_shape(query)}",
                             argument="attention_axes")
        return query, value, key, axes

    def _attention_axes(self, rank: int) -> tuple:
        """The attention axes as sorted non-negative query axes, checked."""
        if self.attention_axes is None:
            return tuple(range(1, rank - 1))
        shown = list(self.attention_axes)
        resolved = []
        for axis in self.attention_axes:
            if not -rank <= axis < rank:
                raise ShapeError(f"attention_axes {shown}: axis {axis} is out of range for inputs with {rank} "
                                 f"axes", argument="attention_axes")
            index = axis % rank
            if index in (0, rank - 1):
                which = "batch" if index == 0 else "feature"
                allowed = "axis 1 (or -2)" if rank == 3 else f"axes 1 to {rank - 2} (or -{rank - 1} to -2)"
                raise ShapeError(f"attention_axes {shown}: axis {axis} is the {which} axis of inputs with {rank} "
                                 f"axes; attention runs over {allowed}", argument="attention_axes")
            if index in resolved:
                raise ShapeError(f"attention_axes {shown} names axis {index} twice", argument="attention_axes")
            resolved.append(index)
        return tuple(sorted(resolved))

    def _projected_sizes(self, query) -> tuple:
        return self._output_shape if self._output_shape is not None else (query[-1],)

    def build(self, input_shape):
        query, value, key, _ = self._checked(input_shape)
        heads, key_dim, value_dim = self.num_heads, self.key_dim, self.value_dim
        out = self._projected_sizes(query)

        def kernel(name, shape, input_axes):
            return self.add_weight(shape=shape, initializer=_EinsumKernel(self.kernel_initializer, input_axes),
                                   name=name)

        def bias(name, shape):
            return self.add_weight(shape=shape, initializer=self.bias_initializer, name=name) \
                if self.use_bias else None

        # Keras's order: query, key, gate, value, output.
        self.query_kernel = kernel("query/kernel", (query[-1], heads, key_dim), 1)
        self.query_bias = bias("query/bias", (heads, key_dim))
        self.key_kernel = kernel("key/kernel", (key[-1], heads, key_dim), 1)
        self.key_bias = bias("key/bias", (heads, key_dim))
        if self.use_gate:
            self.gate_kernel = kernel("gate/kernel", (query[-1], heads, value_dim), 1)
            self.gate_bias = bias("gate/bias", (heads, value_dim))
        self.value_kernel = kernel("value/kernel", (value[-1], heads, value_dim), 1)
        self.value_bias = bias("value/bias", (heads, value_dim))
        self.output_kernel = kernel("attention_output/kernel", (heads, value_dim) + out, 2)
        self.output_bias = bias("attention_output/bias", out)

    def compute_output_shape(self, input_shape):
        query, value, key, _ = self._checked(input_shape)
        return (_batch(query, value, key),) + tuple(query[1:-1]) + self._projected_sizes(query)

    # -- costs --------------------------------------------------------------
    def _sizes(self, input_shape):
        """Per-sample sizes the costs need, or None if any is unknown:
        ``(query positions, value positions, attention-batch positions,
        query attention positions, key attention positions, query dim,
        value dim, key dim, output size)``."""
        query, value, key, axes = self._checked(input_shape)
        others = [axis for axis in range(1, len(query) - 1) if axis not in axes]
        sizes = (_product(query[1:-1]), _product(value[1:-1]), _product(query[axis] for axis in others),
                 _product(query[axis] for axis in axes), _product(value[axis] for axis in axes))
        if None in sizes:
            return None
        return sizes + (query[-1], value[-1], key[-1], math.prod(self._projected_sizes(query)))

    def count_macs(self, input_shape):
        sizes = self._sizes(input_shape)
        if sizes is None:
            return None
        tq, tv, batch, aq, ak, d_query, d_value, d_key, out = sizes
        heads, key_dim, value_dim = self.num_heads, self.key_dim, self.value_dim
        macs = (tq * d_query * heads * key_dim + tv * d_key * heads * key_dim + tv * d_value * heads * value_dim
                + batch * heads * aq * ak * (key_dim + value_dim) + tq * heads * value_dim * out)
        if self.use_gate:
            macs += tq * d_query * heads * value_dim
        return macs

    def count_elementwise(self, input_shape):
        sizes = self._sizes(input_shape)
        if sizes is None:
            return None
        tq, tv, batch, aq, ak, _, _, _, out = sizes
        heads, key_dim, value_dim = self.num_heads, self.key_dim, self.value_dim
        scores = batch * heads * aq * ak
        operations = tq * heads * key_dim + scores * (3 + self.masked)
        if self.use_bias:
            operations += tq * heads * key_dim + tv * heads * (key_dim + value_dim) + tq * out
        if self.use_gate:
            operations += tq * heads * value_dim * (2 + self.use_bias)
        return operations

    def count_workspace(self, input_shape):
        sizes = self._sizes(input_shape)
        if sizes is None:
            return 0
        tq, tv = sizes[:2]
        heads, key_dim, value_dim = self.num_heads, self.key_dim, self.value_dim
        # The projections and their per-head copies, the heads' outputs
        # twice (per head, then per position), the gate.
        return 2 * (tq * heads * key_dim + tv * heads * (key_dim + value_dim) + tq * heads * value_dim) \
            + self.use_gate * tq * heads * value_dim

    # -- masks --------------------------------------------------------------
    def _role_masks(self, mask, count: int) -> tuple:
        """``(query, value, key)`` masks from the inputs' (``count`` of
        them): one input alone is Keras's ``mha(x, x)``, its mask the
        query's and the value's; the key has a mask only when given."""
        masks = _per_input(self, mask, count)
        query_mask = masks[0]
        value_mask = masks[1] if count > 1 else query_mask
        key_mask = masks[2] if count > 2 else None
        return query_mask, value_mask, key_mask

    def _refuse_other_axes(self, role: str, axes: tuple, query: tuple) -> None:
        if axes != (1,):
            raise ShapeError(f"a mask on the {role} needs attention over axis 1 alone, as Keras masks the positions "
                             f"of axis 1; attention_axes is {list(axes)} for the query {format_shape(query)}",
                             argument="attention_axes")

    def compute_mask_shape(self, input_shape, mask_shape):
        query, value, key, axes = self._checked(input_shape)
        count = 1 if _is_one_shape(input_shape) else len(input_shape)
        masks = self._role_masks(mask_shape, count)
        for role, mask, shape in zip(("query", "value", "key"), masks, (query, value, key)):
            if mask is not None:
                self._refuse_other_axes(role, axes, query)
                _check_mask_shape(role, mask, shape)
        return None if masks[0] is None else tuple(masks[0])

    def compute_mask(self, inputs, mask):
        count = len(inputs) if isinstance(inputs, (list, tuple)) else 1
        query_mask = self._role_masks(mask, count)[0]
        return None if query_mask is None else np.asarray(query_mask).astype(bool, copy=False)

    def _sample_masks(self, mask, count: int, query, value, key, axes) -> np.ndarray | None:
        """Which scores the masks of the ``count`` inputs mask,
        ``(batch, key, query)``, or None when no input has a mask."""
        masks = self._role_masks(mask, count)
        if all(item is None for item in masks):
            return None
        for role, item in zip(("query", "value", "key"), masks):
            if item is not None:
                self._refuse_other_axes(role, axes, (None,) + query.shape[1:])
        query_mask, value_mask, key_mask = (
            None if item is None else _mask_array(role, item, shape)
            for role, item, shape in zip(("query", "value", "key"), masks, (query.shape, value.shape, key.shape)))
        masked = np.zeros((query.shape[0], key.shape[1], query.shape[1]), dtype=bool)
        if query_mask is not None:
            masked |= ~query_mask[:, None, :]
        for keys_mask in (value_mask, key_mask):
            if keys_mask is not None:
                masked |= ~keys_mask[:, :, None]
        return masked

    # -- computing ----------------------------------------------------------
    def call(self, inputs):
        return self._forward(inputs, None)

    def call_masked(self, inputs, mask):
        return self._forward(inputs, mask)

    def _forward(self, inputs, mask):
        """The output for ``inputs``, with the inputs' ``mask`` (None, one,
        or a list of one per input)."""
        if isinstance(inputs, (list, tuple)):
            arrays = [_floating(x, self.dtype) for x in inputs]
        else:
            arrays = [_floating(inputs, self.dtype)]
        query_shape, value_shape, key_shape, axes = self._checked([x.shape for x in arrays])
        query = arrays[0]
        value = arrays[1] if len(arrays) > 1 else query
        key = arrays[2] if len(arrays) > 2 else value
        for role, x, weight in (("query", query, self.query_kernel), ("value", value, self.value_kernel),
                                ("key", key, self.key_kernel)):
            if x.shape[-1] != weight.shape[0]:
                raise ShapeError(f"'{self.name}' is built for a {role} of last size {weight.shape[0]}, got "
                                 f"{format_shape((None,) + x.shape[1:])}")
        by_inputs = None if mask is None else self._sample_masks(mask, len(arrays), query, value, key, axes)
        rank = query.ndim
        others = [axis for axis in range(1, rank - 1) if axis not in axes]
        # Projected tensors are (batch, *positions, heads, size): rank + 1
        # axes, heads at rank - 1. Per head, attention wants (batch, *other
        # axes, heads, *attention axes, size), flattened to (pairs, length, size).
        order = (0, *others, rank - 1, *axes, rank)
        scale = query.dtype.type(1.0 / math.sqrt(float(self.key_dim)))  # Keras: a Python float, cast
        queries = _per_head(self._project(query, self.query_kernel, self.query_bias), order, scale)
        keys = _per_head(self._project(key, self.key_kernel, self.key_bias), order)
        values = _per_head(self._project(value, self.value_kernel, self.value_bias), order)
        query_length = math.prod(query.shape[axis] for axis in axes)
        key_length = math.prod(key.shape[axis] for axis in axes)
        pairs = math.prod(query.shape[axis] for axis in (0, *others)) * self.num_heads
        queries = queries.reshape(pairs, query_length, self.key_dim)
        keys = keys.reshape(pairs, key_length, self.key_dim)
        values = values.reshape(pairs, key_length, self.value_dim)
        masked = self._mask(query_length, key_length)
        group = None
        if by_inputs is not None:
            if masked is not None:
                by_inputs |= masked
            masked = by_inputs
            # Pairs run (sample, *other axes, head): this many per sample.
            group = math.prod(query.shape[axis] for axis in others) * self.num_heads
        # Keras 3.15 zeroes the weights of masked keys (so an all-masked row
        # gives zeros) on its non-fused path: dropout or inputs of rank > 3.
        zero_masked = masked is not None and (self.dropout > 0 or rank != 3)
        heads_out = _attend(queries, keys, values, masked, zero_masked, group)
        # Back to (batch, *positions, heads, value_dim).
        permuted = tuple(query.shape[axis] for axis in (0, *others)) + (self.num_heads,) \
            + tuple(query.shape[axis] for axis in axes) + (self.value_dim,)
        heads_out = heads_out.reshape(permuted).transpose(np.argsort(order))
        if self.use_gate:
            gate = self._project(query, self.gate_kernel, self.gate_bias)
            heads_out = heads_out * activations.sigmoid(gate)
        flat = np.ascontiguousarray(heads_out).reshape(-1, self.num_heads * self.value_dim)
        kernel = self.output_kernel.value
        outputs = flat @ kernel.reshape(self.num_heads * self.value_dim, -1)
        if self.output_bias is not None:
            outputs += self.output_bias.value.reshape(-1)
        return outputs.reshape(query.shape[:-1] + kernel.shape[2:])

    def _project(self, x: np.ndarray, kernel, bias) -> np.ndarray:
        """``x @ kernel + bias`` over the last axis: (..., d) → (..., heads, size)."""
        kernel = kernel.value
        projected = x.reshape(-1, x.shape[-1]) @ kernel.reshape(kernel.shape[0], -1)
        if bias is not None:
            projected += bias.value.reshape(-1)
        return projected.reshape(x.shape[:-1] + kernel.shape[1:])

    def _mask(self, query_length: int, key_length: int) -> np.ndarray | None:
        """Which scores are masked, as ``(key, query)`` (the layout
        :func:`_attend` computes scores in), or None for no mask."""
        if not self.masked:
            return None
        queries = np.arange(query_length)[None, :]
        keys = np.arange(key_length)[:, None]
        masked = np.zeros((key_length, query_length), dtype=bool)
        if self.use_causal_mask:
            masked |= keys > queries
        if self.sliding_window is not None:
            masked |= np.abs(queries - keys) >= self.sliding_window
        return masked


def _per_head(projected: np.ndarray, order: tuple, scale=None) -> np.ndarray:
    """A projection rearranged to ``order``, contiguous (scaled on the way)."""
    view = projected.transpose(order)
    out = np.empty(view.shape, dtype=projected.dtype)
    if scale is None:
        np.copyto(out, view)
    else:
        np.multiply(view, scale, out=out)
    return out


def _attend(queries: np.ndarray, keys: np.ndarray, values: np.ndarray, masked, zero_masked: bool,
            group: int | None = None) -> np.ndarray:
    """Per (sample, head) pair: ``softmax(q kᵀ) v``.

    Args:
        queries: ``(pairs, Tq, key_dim)``, already scaled.
        keys: ``(pairs, Tk, key_dim)``.
        values: ``(pairs, Tk, value_dim)``.
        masked: booleans, True where a score is masked: ``(Tk, Tq)`` for
            every pair, or ``(samples, Tk, Tq)`` with ``group``; or None.
        zero_masked: set masked weights to 0 after the softmax.
        group: with a mask per sample, how many consecutive pairs belong
            to one sample.

    The scores are computed transposed, ``(Tk, Tq)`` per pair, and the
    softmax runs down the columns: NumPy reduces across rows with vector
    instructions, along short rows it does not (the maximum of 8 x 8 pairs
    of 128 x 128 scores: 1.6 ms across rows, 3.7 ms along them). Blocks of
    pairs keep the scores in cache (see :data:`SCORES_PER_BLOCK`).
    """
    pairs, query_length, _ = queries.shape
    key_length = keys.shape[1]
    out = np.empty((pairs, query_length, values.shape[2]), dtype=values.dtype)
    if key_length == 0:  # nothing to attend to: Keras's sum over no keys
        out.fill(0)
        return out
    step = max(1, SCORES_PER_BLOCK // max(1, query_length * key_length))
    transposed = queries.transpose(0, 2, 1)
    for start in range(0, pairs, step):
        block = slice(start, start + step)
        scores = np.matmul(keys[block], transposed[block])
        where = masked
        if group is not None:  # each pair the mask of its sample
            first, last = start // group, (start + len(scores) - 1) // group
            where = masked[first] if first == last else masked[np.arange(start, start + len(scores)) // group]
        if where is not None:
            np.copyto(scores, scores.dtype.type(MASKED_SCORE), where=where)
        _softmax_in_place(scores, axis=-2)
        if zero_masked:
            np.copyto(scores, 0, where=where)
        np.matmul(scores.transpose(0, 2, 1), values[block], out=out[block])
    return out


# --------------------------------------------------------------------------
# Attention and AdditiveAttention


class _ScoredAttention(Layer):
    """Base of Attention and AdditiveAttention: scores from query and key,
    a softmax over the value positions, the values weighted. Not registered.

    Masks, as Keras's ``call(inputs, mask=[query_mask, value_mask(,
    key_mask)])``: scores at masked value positions lose 1e9 (ANDed with the
    causal mask), output rows at masked query positions are zeros, and the
    output carries the query's mask. The key's mask is ignored, as Keras
    ignores it. Masks need inputs of 3 axes: Keras would lay a value's mask
    of a longer input across the wrong axes of the scores.
    """

    takes_several_inputs = True
    supports_masking = True
    uses_mask = True

    def _checked(self, input_shape) -> tuple[tuple, tuple, tuple]:
        query, value, key = _query_value_key(self, input_shape, single=False)
        for role, shape in (("query", query), ("value", value), ("key", key)):
            if len(shape) < 3:
                raise ShapeError(f"the {role} needs at least 3 axes (batch, positions, features), got "
                                 f"{format_shape(shape)}")
        if len(value) != len(query) or len(key) != len(query):
            raise ShapeError(f"query, value and key need the same number of axes, got query "
                             f"{format_shape(query)}, value {format_shape(value)} and key {format_shape(key)}")
        for axis in range(1, len(query) - 2):
            if not (_same_size(query[axis], value[axis]) and _same_size(query[axis], key[axis])):
                raise ShapeError(f"query {format_shape(query)}, value {format_shape(value)} and key "
                                 f"{format_shape(key)} must have equal sizes on axis {axis}")
        if not _same_size(value[-2], key[-2]):
            raise ShapeError(f"the value {format_shape(value)} and key {format_shape(key)} must have the same "
                             f"number of positions (axis -2), got {value[-2]} and {key[-2]}")
        if not _same_size(query[-1], key[-1]):
            raise ShapeError(f"the query {format_shape(query)} and key {format_shape(key)} must have the same last "
                             f"size, got {query[-1]} and {key[-1]}")
        return query, value, key

    def compute_output_shape(self, input_shape):
        query, value, key = self._checked(input_shape)
        return (_batch(query, value, key),) + tuple(query[1:-1]) + (value[-1],)

    def _sizes(self, input_shape):
        """``(scores, query dim, value dim)`` per sample, or None if unknown."""
        query, value, _ = self._checked(input_shape)
        scores = _product(query[1:-1] + (value[-2],))
        if scores is None or query[-1] is None or value[-1] is None:
            return None
        return scores, query[-1], value[-1]

    def count_workspace(self, input_shape):
        sizes = self._sizes(input_shape)
        return 0 if sizes is None else sizes[0] * (1 + self.broadcast_scores * sizes[1])

    #: Whether the scores go through a (positions, positions, dim) tensor.
    broadcast_scores = False

    # -- masks --------------------------------------------------------------
    def _used_masks(self, mask, count: int) -> tuple:
        """``(query mask, value mask)`` of the ``count`` inputs (Keras's
        ``mask[0]``, ``mask[1]``; a key's ``mask[2]`` it never reads)."""
        if mask is not None and not isinstance(mask, list) and (isinstance(mask, np.ndarray) or _is_one_shape(mask)):
            raise ShapeError(f"{type(self).__name__} takes a list of masks [query_mask, value_mask] or "
                             f"[query_mask, value_mask, key_mask], got one mask")
        masks = _per_input(self, mask, count)
        return masks[0], masks[1]

    @staticmethod
    def _refuse_long_inputs(role: str, shape: tuple) -> None:
        if len(shape) != 3:
            raise ShapeError(f"a mask on the {role} needs a {role} of 3 axes (batch, positions, features), got "
                             f"{format_shape(shape)}: Keras would lay it across the wrong axes of the scores")

    def compute_mask_shape(self, input_shape, mask_shape):
        shapes = self._checked(input_shape)
        masks = self._used_masks(mask_shape, len(input_shape))
        for role, mask, shape in zip(("query", "value"), masks, shapes):
            if mask is not None:
                self._refuse_long_inputs(role, shape)
                _check_mask_shape(role, mask, shape)
        return None if masks[0] is None else tuple(masks[0])

    def compute_mask(self, inputs, mask):
        query_mask = self._used_masks(mask, len(inputs))[0]
        return None if query_mask is None else np.asarray(query_mask).astype(bool, copy=False)

    # -- computing ----------------------------------------------------------
    def call(self, inputs):
        return self._forward(inputs, None)

    def call_masked(self, inputs, mask):
        return self._forward(inputs, mask)

    def _forward(self, inputs, mask):
        """The output for ``inputs`` with their ``mask`` (None, or a list of
        one per input)."""
        if not isinstance(inputs, (list, tuple)):
            inputs = np.asarray(inputs)
            self._checked((None,) + inputs.shape[1:])  # the error for one input
        arrays = [_floating(x, self.dtype) for x in inputs]
        self._checked([x.shape for x in arrays])
        query = arrays[0]
        value = arrays[1]
        key = arrays[2] if len(arrays) > 2 else value
        query_mask, value_mask = self._used_masks(mask, len(arrays))
        for role, item, x in (("query", query_mask, query), ("value", value_mask, value)):
            if item is not None:
                self._refuse_long_inputs(role, (None,) + x.shape[1:])
        if query_mask is not None:
            query_mask = _mask_array("query", query_mask, query.shape)
        if value_mask is not None:
            value_mask = _mask_array("value", value_mask, value.shape)
        scores = self._scores(query, key)
        masked = None
        if self.use_causal_mask:
            # Keras: position i attends to j <= i; the others lose 1e9.
            query_length, key_length = scores.shape[-2:]
            masked = np.arange(key_length)[None, :] > np.arange(query_length)[:, None]
        if value_mask is not None:
            by_value = ~value_mask[:, None, :]  # (batch, 1, Tv)
            masked = by_value if masked is None else by_value | masked
        if masked is not None:
            np.subtract(scores, scores.dtype.type(MASK_OFFSET), out=scores, where=masked)
        _softmax_in_place(scores, axis=-1)
        outputs = np.matmul(scores, value)
        if query_mask is not None:
            outputs[~query_mask] = 0  # Keras: where(query_mask[..., None], outputs, 0)
        return outputs

    def _scores(self, query: np.ndarray, key: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def _sums_of_tanh(query: np.ndarray, key: np.ndarray, scale=None) -> np.ndarray:
    """``tanh(scale * (q_i + k_j))`` for every pair: ``(..., Tq, Tk, dim)``."""
    pairs = query[..., :, None, :] + key[..., None, :, :]
    if scale is not None:
        pairs *= scale
    return np.tanh(pairs, out=pairs)


@register
class Attention(_ScoredAttention):
    """Dot-product attention (Luong-style), as Keras 3's ``Attention``.

    ``scores = query @ keyᵀ`` (times ``scale`` with ``use_scale``), or with
    ``score_mode: concat``
    ``concat_score_weight * sum(tanh(scale * (query_i + key_j)))``; then a
    softmax over the value positions weights the values.

    Args:
        use_scale: learn a scalar ``scale`` (initialised to 1) multiplying
            the scores (inside the tanh for ``concat``).
        score_mode: ``dot`` or ``concat``; ``concat`` adds a scalar weight
            ``concat_score_weight`` (initialised to 1).
        dropout: dropout rate of the attention weights (checked; inference
            drops nothing).
        seed: seed of the dropout (checked, unused).
        use_causal_mask: Keras's call argument, written as a spec key:
            position ``i`` attends only to value positions ``j <= i`` (the
            others' scores lose 1e9).

    Input shape:
        ``[query, value]`` or ``[query, value, key]``: query
        ``(batch, ..., Tq, dim)``, value ``(batch, ..., Tv, value_dim)``,
        key ``(batch, ..., Tv, dim)`` (default: the value, whose last size
        must then be ``dim``); all of the same rank (at least 3), equal on
        the axes before the last two.
    Output shape:
        ``(batch, ..., Tq, value_dim)``.

    Masks (Keras's ``mask=[query_mask, value_mask]``), ``(batch, positions)``
    with inputs of 3 axes: scores at masked value positions lose 1e9 (with
    the causal mask too), output rows at masked query positions are zeros,
    and the output carries the query's mask. A key's mask is ignored, as
    Keras ignores it.

    Weights: ``scale`` ``()`` with ``use_scale``, then
    ``concat_score_weight`` ``()`` with ``score_mode: concat``.

    Costs: ``dot``: ``Tq × Tv × (dim + value_dim)`` multiply-accumulates;
    ``concat``: ``Tq × Tv × value_dim``, and per score ``dim`` additions,
    tanh and sums (and ``dim`` scalings with ``use_scale``) and one
    weighting as elementwise work. Both: one operation per score for the
    scale (``dot``) and the mask, three for the softmax.
    """

    def __init__(self, use_scale: Boolean() = False, score_mode: Choice("dot", "concat") = "dot",
                 dropout: Number(min=0, max=1) = 0.0, seed: Optional(Integer(min=0)) = None,
                 use_causal_mask: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = use_scale
        self.score_mode = score_mode
        self.dropout = dropout
        self.seed = seed
        self.use_causal_mask = use_causal_mask

    @property
    def broadcast_scores(self) -> bool:
        return self.score_mode == "concat"

    def build(self, input_shape):
        self._checked(input_shape)
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale") if self.use_scale else None
        self.concat_score_weight = self.add_weight(shape=(), initializer="ones", name="concat_score_weight") \
            if self.score_mode == "concat" else None

    def count_macs(self, input_shape):
        sizes = self._sizes(input_shape)
        if sizes is None:
            return None
        scores, dim, value_dim = sizes
        return scores * (value_dim + (dim if self.score_mode == "dot" else 0))

    def count_elementwise(self, input_shape):
        sizes = self._sizes(input_shape)
        if sizes is None:
            return None
        scores, dim, _ = sizes
        if self.score_mode == "dot":
            per_score = self.use_scale
        else:
            per_score = dim * (3 + self.use_scale) + 1
        return scores * (per_score + self.use_causal_mask + 3)

    def _scores(self, query, key):
        if self.score_mode == "dot":
            scores = np.matmul(query, np.swapaxes(key, -1, -2))
            if self.scale is not None:
                scores *= self.scale.value
            return scores
        scale = None if self.scale is None else self.scale.value
        scores = _sums_of_tanh(query, key, scale).sum(axis=-1)
        scores *= self.concat_score_weight.value
        return scores


@register
class AdditiveAttention(_ScoredAttention):
    """Additive attention (Bahdanau-style), as Keras 3's ``AdditiveAttention``.

    ``scores = sum(scale * tanh(query_i + key_j))`` over the features, then a
    softmax over the value positions weights the values.

    Args:
        use_scale: learn a vector ``scale`` ``(dim,)`` (glorot_uniform)
            weighting the features of the tanh; without it they are summed.
        dropout: dropout rate of the attention weights (checked; inference
            drops nothing).
        seed: seed of the dropout (checked, unused).
        use_causal_mask: Keras's call argument, written as a spec key:
            position ``i`` attends only to value positions ``j <= i`` (the
            others' scores lose 1e9).

    Input shape:
        as :class:`Attention`; the query's last size must be known with
        ``use_scale``.
    Output shape:
        ``(batch, ..., Tq, value_dim)``.

    Masks (Keras's ``mask=[query_mask, value_mask]``), ``(batch, positions)``
    with inputs of 3 axes: scores at masked value positions lose 1e9 (with
    the causal mask too), output rows at masked query positions are zeros,
    and the output carries the query's mask. A key's mask is ignored, as
    Keras ignores it.

    Weights: ``scale`` ``(dim,)`` with ``use_scale``.

    Costs: ``Tq × Tv × value_dim`` multiply-accumulates for weighting the
    values, plus ``Tq × Tv × dim`` for the scale's weighted sum; per score
    ``dim`` additions and tanh (and ``dim`` sums without a scale), one
    operation for the mask, three for the softmax, as elementwise work.
    """

    broadcast_scores = True

    def __init__(self, use_scale: Boolean() = True, dropout: Number(min=0, max=1) = 0.0,
                 seed: Optional(Integer(min=0)) = None, use_causal_mask: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = use_scale
        self.dropout = dropout
        self.seed = seed
        self.use_causal_mask = use_causal_mask

    def build(self, input_shape):
        query, _, _ = self._checked(input_shape)
        self.scale = None
        if self.use_scale:
            if query[-1] is None:
                raise ShapeError(f"use_scale needs a known size on the query's last axis, got "
                                 f"{format_shape(query)}", argument="use_scale")
            self.scale = self.add_weight(shape=(query[-1],), initializer="glorot_uniform", name="scale")

    def count_macs(self, input_shape):
        sizes = self._sizes(input_shape)
        if sizes is None:
            return None
        scores, dim, value_dim = sizes
        return scores * (value_dim + (dim if self.use_scale else 0))

    def count_elementwise(self, input_shape):
        sizes = self._sizes(input_shape)
        if sizes is None:
            return None
        scores, dim, _ = sizes
        return scores * (dim * (2 + (not self.use_scale)) + self.use_causal_mask + 3)

    def _scores(self, query, key):
        if self.scale is not None and query.shape[-1] != self.scale.shape[0]:
            raise ShapeError(f"'{self.name}' is built for a query of last size {self.scale.shape[0]}, got "
                             f"{format_shape((None,) + query.shape[1:])}")
        tanh = _sums_of_tanh(query, key)
        if self.scale is None:
            return tanh.sum(axis=-1)
        return np.matmul(tanh, self.scale.value)
