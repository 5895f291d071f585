"""Attention layers as ONNX: MultiHeadAttention, Attention, AdditiveAttention.

Everything is MatMul, Transpose, Reshape, Softmax and elementwise operators
(no Einsum: TensorRT lacks it), following :mod:`layerspec.layers.attention`
step by step so the float32 roundings agree:

- MultiHeadAttention: each projection is Keras's ``EinsumDense`` kernel
  ``(dim, heads, size)`` flattened to a MatMul ``(dim, heads * size)``,
  reshaped back to ``(..., heads, size)`` and transposed to
  ``(batch, *other axes, heads, *attention axes, size)`` (the key's and
  value's attention axes flattened into one when there are several); the
  query is scaled by
  ``1 / sqrt(key_dim)`` before the product, as layerspec (and Keras) does.
  Masked scores are *replaced* by :data:`MASKED_SCORE` (-1e9), so a row with
  every key masked gets equal weights, the mean of the values: Keras 3.15's
  fused path. Where layerspec zeroes masked weights after the softmax
  (dropout set, or inputs of rank above 3: Keras's non-fused path) a Where
  does the same, and such a row gives zeros.
- Attention / AdditiveAttention: masked scores *lose* :data:`MASK_OFFSET`
  (1e9) as Keras's ``_apply_scores`` subtracts it; output rows of masked
  queries are zeros.

The causal and sliding-window masks are built from the lengths at run time
(Shape, Range, comparisons) where the spec leaves a length ``null``, from
constant lengths otherwise: never a constant ``(T, T)`` table.

Input masks arrive as boolean tensors ``(batch, positions)``. Every layer
here passes the query's mask on (layerspec's ``compute_mask``).
"""

from __future__ import annotations

import math

import numpy as np

from ..layers.attention import MASK_OFFSET, MASKED_SCORE, AdditiveAttention, Attention, MultiHeadAttention
from . import Conversion, converts, converts_mask


# --------------------------------------------------------------------------
# shared pieces


def _roles(conversion: Conversion) -> tuple[list[str], list[tuple]]:
    """``([query, value, key], [their full shapes])``: the value defaults to
    the query (one input: self-attention), the key to the value."""
    names, shapes = list(conversion.inputs), list(conversion.input_shapes)
    if len(names) == 1:
        names, shapes = names * 2, shapes * 2
    if len(names) == 2:
        names, shapes = names + names[1:], shapes + shapes[1:]
    return names, shapes


def _int_scalar(builder, value: int) -> str:
    """An int64 scalar (shape ``()``), as Range wants its inputs: squeezed
    from a 1-D constant, since the builder's constants come out 1-D at the
    least (``np.ascontiguousarray`` makes a 0-d array 1-D)."""
    return builder.squeeze(builder.ints([value]), [0], hint="scalar")


def _length(builder, tensor: str, axis: int, size: int | None) -> str:
    """The length of ``tensor`` on ``axis`` as an int64 scalar: a constant
    when the spec knows ``size``, else read at run time (Shape, Gather)."""
    if size is not None:
        return _int_scalar(builder, size)
    shape = builder.op("Shape", [tensor], hint="shape")
    return builder.op("Gather", [shape, _int_scalar(builder, axis)], axis=0, hint="length")


def _position_masks(builder, query_length: str, key_length: str, causal: bool, window: int | None) -> str:
    """Which ``(query, key)`` scores the causal mask (key after query) and
    the sliding window (``|query - key| >= window``) mask, as a bool
    ``(Tq, Tk)`` tensor made with Range from the (run-time) lengths."""
    zero, one = _int_scalar(builder, 0), _int_scalar(builder, 1)
    queries = builder.unsqueeze(builder.op("Range", [zero, query_length, one], hint="query_positions"), [1])
    keys = builder.unsqueeze(builder.op("Range", [zero, key_length, one], hint="key_positions"), [0])
    masked = None
    if causal:
        masked = builder.op("Greater", [keys, queries], hint="causal")
    if window is not None:
        distance = builder.op("Abs", [builder.op("Sub", [queries, keys])], hint="distance")
        # |i - j| >= window as Not(Less): Less exists in every opset written.
        outside = builder.op("Not", [builder.op("Less", [distance, builder.ints([window])])],
                             hint="outside_window")
        masked = outside if masked is None else builder.op("Or", [masked, outside])
    return masked


def _either(builder, first: str | None, second: str | None) -> str | None:
    """The Or of two bool masks where either may be absent."""
    if first is None:
        return second
    if second is None:
        return first
    return builder.op("Or", [first, second], hint="masked")


# --------------------------------------------------------------------------
# MultiHeadAttention


def _project(conversion: Conversion, x: str, rank: int, sublayer: str) -> str:
    """``x @ kernel + bias`` of the ``sublayer`` projection (``query``...):
    ``(..., dim)`` → ``(..., heads, size)``, as one MatMul over the kernel
    ``(dim, heads, size)`` flattened to ``(dim, heads * size)``."""
    builder, layer = conversion.builder, conversion.layer
    dim, heads, size = conversion.weight_value(f"{sublayer}/kernel").shape
    kernel = conversion.derived_weight(
        f"{sublayer}/kernel_2d", lambda: conversion.weight_value(f"{sublayer}/kernel").reshape(dim, heads * size))
    projected = builder.op("MatMul", [x, kernel], hint=sublayer)
    if layer.use_bias:
        bias = conversion.derived_weight(f"{sublayer}/bias_1d",
                                         lambda: conversion.weight_value(f"{sublayer}/bias").reshape(-1))
        projected = builder.op("Add", [projected, bias], hint=sublayer)
    # 0 keeps the batch and position sizes, dynamic ones included.
    return builder.reshape(projected, [0] * (rank - 1) + [heads, size], hint=f"{sublayer}_heads")


def _input_masks(conversion: Conversion, others: int) -> str | None:
    """Which scores the inputs' masks mask, bool, broadcasting against the
    scores ``(batch, *others, heads, Tq, Tk)``: the query's mask masks rows,
    the value's and the key's columns (one input alone is ``mha(x, x)``:
    its mask is the query's and the value's), as layerspec's
    ``_sample_masks``. None when no input has a mask."""
    builder = conversion.builder
    masks = list(conversion.masks)
    query_mask = masks[0]
    value_mask = masks[1] if len(masks) > 1 else query_mask
    key_mask = masks[2] if len(masks) > 2 else None
    middle = list(range(1, others + 2))  # the other axes and the heads' axis
    inverted = {}  # one Not per mask (self-attention's is the query's and the value's)

    def masked_where(mask: str, axes: list, hint: str) -> str:
        if mask not in inverted:
            inverted[mask] = builder.op("Not", [mask], hint="unmasked")
        return builder.unsqueeze(inverted[mask], axes, hint=hint)

    masked = None
    if query_mask is not None:  # rows: (batch, 1..., Tq, 1)
        masked = masked_where(query_mask, middle + [others + 3], "query_masked")
    for keys_mask in (value_mask, key_mask):
        if keys_mask is not None:  # columns: (batch, 1..., 1, Tk)
            masked = _either(builder, masked, masked_where(keys_mask, middle + [others + 2], "key_masked"))
    return masked


def _per_head(conversion: Conversion, names: list, rank: int, axes: tuple, others: list) -> tuple[str, str, str]:
    """The scaled queries ``(batch, *others, heads, *attention axes,
    key_dim)``, the keys transposed ``(batch, *others, heads, key_dim, Lk)``
    and the values ``(batch, *others, heads, Lk, value_dim)``.

    With several attention axes the key's and value's are flattened into
    one (Reshape's -1) and axes of 1 stand for the query's extra ones, so
    MatMul broadcasts them and the queries keep their shape: no run-time
    reshape back, whose shape ONNX cannot infer before opset 15.
    """
    layer, builder = conversion.layer, conversion.builder
    query, value, key = names
    lead = [0] * (len(others) + 2)  # batch, other axes, heads: kept by Reshape's 0
    order = (0, *others, rank - 1, *axes, rank)
    queries = _project(conversion, query, rank, "query")
    # As layerspec: the scale a Python float cast to the model's dtype, per element.
    queries = builder.op("Mul", [queries, builder.scalar(1.0 / math.sqrt(float(layer.key_dim)))],
                         hint="scaled_query")
    queries = builder.transpose(queries, order, hint="query_per_head")
    keys = builder.transpose(_project(conversion, key, rank, "key"), (0, *others, rank - 1, rank, *axes),
                             hint="key_per_head")
    values = builder.transpose(_project(conversion, value, rank, "value"), order, hint="value_per_head")
    if len(axes) > 1:
        extra = list(range(len(lead), len(lead) + len(axes) - 1))
        keys = builder.unsqueeze(builder.reshape(keys, lead + [layer.key_dim, -1], hint="key_flat"), extra)
        values = builder.unsqueeze(builder.reshape(values, lead + [-1, layer.value_dim], hint="value_flat"), extra)
    return queries, keys, values


def _output(conversion: Conversion, heads_out: str, query: str, rank: int) -> str:
    """The heads' outputs ``(batch, *positions, heads, value_dim)``, gated
    if ``use_gate`` (sigmoid of the query's ``gate`` projection), projected
    to ``output_shape`` by one MatMul over the heads flattened."""
    layer, builder = conversion.layer, conversion.builder
    if layer.use_gate:
        gate = builder.op("Sigmoid", [_project(conversion, query, rank, "gate")], hint="gate")
        heads_out = builder.op("Mul", [heads_out, gate], hint="gated")
    width = layer.num_heads * layer.value_dim
    flat = builder.reshape(heads_out, [0] * (rank - 1) + [width], hint="heads_flat")
    out_sizes = list(conversion.weight_value("attention_output/kernel").shape[2:])
    kernel = conversion.derived_weight(
        "attention_output/kernel_2d", lambda: conversion.weight_value("attention_output/kernel").reshape(width, -1))
    outputs = builder.op("MatMul", [flat, kernel], hint="output")
    if layer.use_bias:
        bias = conversion.derived_weight("attention_output/bias_1d",
                                         lambda: conversion.weight_value("attention_output/bias").reshape(-1))
        outputs = builder.op("Add", [outputs, bias], hint="output")
    if len(out_sizes) > 1:
        outputs = builder.reshape(outputs, [0] * (rank - 1) + out_sizes, hint="output_shaped")
    return outputs


@converts(MultiHeadAttention)
def multi_head_attention(conversion: Conversion) -> str:
    """Projections (MatMul), per-head scores (MatMul of the scaled queries
    with the transposed keys), masks (Where), Softmax over the keys, the
    values weighted (MatMul), the optional gate (Sigmoid, Mul) and the
    output projection (MatMul over the heads flattened)."""
    layer, builder = conversion.layer, conversion.builder
    names, (query_shape, _, key_shape) = _roles(conversion)
    rank = len(query_shape)
    axes = layer._attention_axes(rank)
    if any(mask is not None for mask in conversion.masks) and axes != (1,):
        # layerspec refuses such a model when it builds; kept for safety.
        raise conversion.refuse(f"an input mask needs attention over axis 1 alone; attention_axes is {list(axes)}",
                                argument="attention_axes")
    others = [axis for axis in range(1, rank - 1) if axis not in axes]
    queries, keys, values = _per_head(conversion, names, rank, axes, others)
    scores = builder.op("MatMul", [queries, keys], hint="scores")
    masked = None
    if layer.masked:  # attention over axis 1 alone (layerspec checks): Tq and Tk are axis 1's
        query_length = _length(builder, scores, -2, query_shape[1])
        key_length = _length(builder, scores, -1, key_shape[1])
        masked = _position_masks(builder, query_length, key_length, layer.use_causal_mask, layer.sliding_window)
    masked = _either(builder, masked, _input_masks(conversion, len(others)))
    if masked is not None:
        # Replaced, not subtracted: an all-masked row gets equal weights.
        scores = builder.op("Where", [masked, builder.scalar(MASKED_SCORE), scores], hint="masked_scores")
    weights = builder.op("Softmax", [scores], axis=-1, hint="weights")
    if masked is not None and (layer.dropout > 0 or rank != 3):
        # Keras 3.15's non-fused path zeroes masked weights after the softmax.
        weights = builder.op("Where", [masked, builder.scalar(0.0), weights], hint="masked_weights")
    heads_out = builder.op("MatMul", [weights, values], hint="heads")
    # Back to (batch, *positions, heads, value_dim).
    order = (0, *others, rank - 1, *axes, rank)
    heads_out = builder.transpose(heads_out, [int(axis) for axis in np.argsort(order)], hint="heads_per_position")
    return _output(conversion, heads_out, names[0], rank)


# --------------------------------------------------------------------------
# Attention and AdditiveAttention


def _pairs(conversion: Conversion, query: str, key: str, rank: int) -> tuple[str, str]:
    """The query ``(..., Tq, 1, dim)`` and the key ``(..., 1, Tv, dim)``,
    whose sum is every ``q_i + k_j`` (layerspec's ``_sums_of_tanh``)."""
    builder = conversion.builder
    return builder.unsqueeze(query, [rank - 1], hint="query_rows"), builder.unsqueeze(key, [rank - 2],
                                                                                      hint="key_columns")


def _dot_scores(conversion: Conversion, query: str, key: str, rank: int) -> str:
    """Attention's scores: ``query @ keyᵀ`` (times ``scale``), or with
    ``concat`` ``concat_score_weight * sum(tanh(scale * (q_i + k_j)))``."""
    layer, builder = conversion.layer, conversion.builder
    if layer.score_mode == "dot":
        swapped = list(range(rank - 2)) + [rank - 1, rank - 2]
        scores = builder.op("MatMul", [query, builder.transpose(key, swapped, hint="key_t")], hint="scores")
        if layer.use_scale:
            scores = builder.op("Mul", [scores, conversion.weight("scale")], hint="scaled_scores")
        return scores
    rows, columns = _pairs(conversion, query, key, rank)
    pairs = builder.op("Add", [rows, columns], hint="pairs")
    if layer.use_scale:
        pairs = builder.op("Mul", [pairs, conversion.weight("scale")], hint="scaled_pairs")
    summed = builder.reduce("ReduceSum", builder.op("Tanh", [pairs]), [rank], keepdims=False, hint="scores")
    return builder.op("Mul", [summed, conversion.weight("concat_score_weight")], hint="weighted_scores")


def _additive_scores(conversion: Conversion, query: str, key: str, rank: int) -> str:
    """AdditiveAttention's scores: ``sum(scale * tanh(q_i + k_j))`` over the
    features (a MatMul with the ``scale`` vector), a plain sum without it."""
    layer, builder = conversion.layer, conversion.builder
    rows, columns = _pairs(conversion, query, key, rank)
    tanh = builder.op("Tanh", [builder.op("Add", [rows, columns], hint="pairs")])
    if not layer.use_scale:
        return builder.reduce("ReduceSum", tanh, [rank], keepdims=False, hint="scores")
    return builder.op("MatMul", [tanh, conversion.weight("scale")], hint="scores")


def _scored_attention(conversion: Conversion, make_scores) -> str:
    """The part Attention and AdditiveAttention share (layerspec's
    ``_ScoredAttention._forward``): scores, 1e9 off the masked ones (causal,
    and the value's mask; the key's is ignored, as Keras ignores it),
    Softmax over the values, the values weighted, masked queries' rows
    zeroed."""
    layer, builder = conversion.layer, conversion.builder
    (query, value, key), (query_shape, value_shape, _) = _roles(conversion)
    rank = len(query_shape)
    scores = make_scores(conversion, query, key, rank)
    masked = None
    if layer.use_causal_mask:
        masked = _position_masks(builder, _length(builder, scores, -2, query_shape[-2]),
                                 _length(builder, scores, -1, value_shape[-2]), True, None)
    masks = conversion.masks
    query_mask, value_mask = masks[0], masks[1] if len(masks) > 1 else None
    if value_mask is not None:  # inputs of 3 axes (layerspec checks): (batch, 1, Tv)
        masked = _either(builder, masked, builder.unsqueeze(builder.op("Not", [value_mask]), [1], hint="value_masked"))
    if masked is not None:
        lowered = builder.op("Sub", [scores, builder.scalar(MASK_OFFSET)], hint="lowered_scores")
        scores = builder.op("Where", [masked, lowered, scores], hint="masked_scores")
    weights = builder.op("Softmax", [scores], axis=-1, hint="weights")
    outputs = builder.op("MatMul", [weights, value], hint="weighted")
    if query_mask is not None:
        kept = builder.unsqueeze(query_mask, [2], hint="query_kept")
        outputs = builder.op("Where", [kept, outputs, builder.scalar(0.0)], hint="masked_outputs")
    return outputs


@converts(Attention)
def attention(conversion: Conversion) -> str:
    """Luong-style attention: dot (MatMul) or concat (Add, Tanh, ReduceSum)
    scores, then the shared masked Softmax and MatMul."""
    return _scored_attention(conversion, _dot_scores)


@converts(AdditiveAttention)
def additive_attention(conversion: Conversion) -> str:
    """Bahdanau-style attention: ``tanh(q_i + k_j)`` weighted by ``scale``
    (MatMul) or summed, then the shared masked Softmax and MatMul."""
    return _scored_attention(conversion, _additive_scores)


@converts_mask(MultiHeadAttention, Attention, AdditiveAttention)
def attention_mask(conversion: Conversion) -> str | None:
    """The query's mask, passed on (layerspec's ``compute_mask``)."""
    return conversion.masks[0]
