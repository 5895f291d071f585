"""Merge layers as ONNX: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate, Dot, and the masks they make.

The elementwise merges follow Keras's merge rule (layerspec.layers.merging):
an input with fewer axes gets size-1 axes right after its batch axis, and
the rest is NumPy broadcasting, which ONNX's binary operators share. They
combine their inputs left to right, one binary node per input, as
layerspec's ``_reduce_into`` does, so float rounding agrees (the variadic
``Sum`` leaves the order to the engine).
"""

from __future__ import annotations

import numpy as np

from ..layers.merging import (NORM_EPSILON, Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply,
                              Subtract)
from . import Conversion, converts, converts_mask
from .reshaping import reshape_to, size_of


# -- elementwise merges -------------------------------------------------------

def _aligned(conversion: Conversion) -> list[str]:
    """The inputs, each with size-1 axes inserted right after its batch axis
    up to the output's rank (Keras's rule for inputs with fewer axes)."""
    rank = len(conversion.output_shape)
    aligned = []
    for name, shape in zip(conversion.inputs, conversion.input_shapes):
        missing = rank - len(shape)
        aligned.append(conversion.builder.unsqueeze(name, list(range(1, 1 + missing)), hint="aligned")
                       if missing else name)
    return aligned


def _left_to_right(conversion: Conversion, op_type: str) -> str:
    """``op(op(op(x0, x1), x2), ...)`` over the aligned inputs; a single
    input is the result itself."""
    inputs = _aligned(conversion)
    result = inputs[0]
    for other in inputs[1:]:
        result = conversion.builder.op(op_type, [result, other])
    return result


@converts(Add)
def add(conversion: Conversion) -> str:
    """``x0 + x1 + ...``: a chain of Add."""
    return _left_to_right(conversion, "Add")


@converts(Subtract)
def subtract(conversion: Conversion) -> str:
    """``x0 - x1``: Sub."""
    return _left_to_right(conversion, "Sub")


@converts(Multiply)
def multiply(conversion: Conversion) -> str:
    """``x0 * x1 * ...``: a chain of Mul."""
    return _left_to_right(conversion, "Mul")


@converts(Average)
def average(conversion: Conversion) -> str:
    """``(x0 + ... + xn-1) / n``: the Add chain, then a true Div by ``n`` (as
    Keras divides, not a multiplication by ``1/n``, which rounds otherwise)."""
    total = _left_to_right(conversion, "Add")
    return conversion.builder.op("Div", [total, conversion.builder.scalar(float(len(conversion.inputs)))])


@converts(Maximum)
def maximum(conversion: Conversion) -> str:
    """The elementwise maximum: one variadic Max (exact in any order)."""
    inputs = _aligned(conversion)
    return inputs[0] if len(inputs) == 1 else conversion.builder.op("Max", inputs)


@converts(Minimum)
def minimum(conversion: Conversion) -> str:
    """The elementwise minimum: one variadic Min (exact in any order)."""
    inputs = _aligned(conversion)
    return inputs[0] if len(inputs) == 1 else conversion.builder.op("Min", inputs)


@converts_mask(Add, Subtract, Multiply, Average, Maximum, Minimum)
def elementwise_mask(conversion: Conversion) -> str:
    """Keras's elementwise merge mask: the OR of the inputs' masks, NumPy
    broadcasting them (which ONNX's Or does). Called only when every input
    has one (otherwise the output has none)."""
    result = conversion.masks[0]
    for other in conversion.masks[1:]:
        result = conversion.builder.op("Or", [result, other], hint="mask")
    return result


# -- Concatenate ------------------------------------------------------------------

@converts(Concatenate)
def concatenate(conversion: Conversion) -> str:
    """Concat along ``axis`` (made non-negative: ONNX's would be too, but the
    name then reads as layerspec's summary)."""
    axis = conversion.layer.axis % len(conversion.shape)
    return conversion.builder.concat(conversion.inputs, axis)


@converts_mask(Concatenate)
def concatenate_mask(conversion: Conversion) -> str:
    """Keras's Concatenate mask: each input's mask widened to the input's
    shape (a mask one axis short repeated along the last axis, a missing
    mask all True), the widened masks concatenated along ``axis``, then
    reduced over the last axis with OR.

    When every input has a mask one axis short (an Embedding's ``(batch,
    steps)``), that is the masks concatenated along ``axis`` or, along the
    last axis, their OR: written so. Otherwise the rule is written as it
    stands, the OR over the last axis being a ReduceMax of the masks as
    uint8 (ONNX's ReduceMax takes no booleans before opset 20).
    """
    builder = conversion.builder
    rank = len(conversion.shape)
    axis = conversion.layer.axis % rank
    planned = conversion.node.input_mask
    if all(mask is not None and len(planned[k]) == rank - 1 for k, mask in enumerate(conversion.masks)):
        if axis != rank - 1:
            return builder.concat(conversion.masks, axis, hint="mask")
        result = conversion.masks[0]
        for other in conversion.masks[1:]:
            result = builder.op("Or", [result, other], hint="mask")
        return result
    widened = []
    for k, (name, mask) in enumerate(zip(conversion.inputs, conversion.masks)):
        if mask is None:
            bits = builder.constant(np.ones((1,) * rank, dtype=np.uint8), "true")
        else:
            bits = builder.cast(mask, np.uint8, hint="mask_bits")
            if len(planned[k]) < rank:
                bits = builder.unsqueeze(bits, [rank - 1], hint="mask_bits")
        full_shape = builder.op("Shape", [name], hint="shape")
        widened.append(builder.op("Expand", [bits, full_shape], hint="mask_widened"))
    joined = builder.concat(widened, axis, hint="mask_joined")
    reduced = builder.reduce("ReduceMax", joined, [rank - 1], keepdims=False, hint="mask_any")
    return builder.cast(reduced, np.bool_, hint="mask")


# -- Dot ----------------------------------------------------------------------------

@converts(Dot)
def dot(conversion: Conversion) -> str:
    """Keras's batch dot as one batched MatMul.

    ``x`` with its summed axis moved last, reshaped to ``(batch, rest_x, n)``;
    ``y`` with its summed axis moved to 1, reshaped to ``(batch, n,
    rest_y)``; MatMul gives ``(batch, rest_x, rest_y)``, reshaped to the
    output. ``normalize`` scales each input first by ``rsqrt(max(sum(x²),
    1e-14))`` along its summed axis (layerspec's ``l2_normalize``).
    """
    builder, layer = conversion.builder, conversion.layer
    (x, y), (shape_x, shape_y) = conversion.inputs, conversion.input_shapes
    _, _, axis_x, axis_y = layer._checked([shape_x, shape_y])
    if layer.normalize:
        x, y = _l2_normalized(conversion, x, axis_x), _l2_normalized(conversion, y, axis_y)
    order_x = [axis for axis in range(len(shape_x)) if axis != axis_x] + [axis_x]
    order_y = [0, axis_y] + [axis for axis in range(1, len(shape_y)) if axis != axis_y]
    x = _transposed(builder, x, order_x, "x_moved")
    y = _transposed(builder, y, order_y, "y_moved")
    moved_x = [shape_x[axis] for axis in order_x]
    moved_y = [shape_y[axis] for axis in order_y]
    rest_x, rest_y = len(shape_x) - 2, len(shape_y) - 2
    # x: (batch, rest_x..., n) → (batch, rest, n); y: (batch, n, rest_y...) → (batch, n, rest).
    x = _as_matrices(conversion, x, moved_x, list(range(1, 1 + rest_x)), [1 + rest_x], 1, "x_matrix")
    y = _as_matrices(conversion, y, moved_y, [1], list(range(2, 2 + rest_y)), 2, "y_matrix")
    product = builder.op("MatMul", [x, y], hint="product")
    if rest_x == 1 and rest_y == 1:
        return product
    if rest_x == 0 and rest_y == 0:
        return builder.squeeze(product, [2])  # (batch, 1, 1) → (batch, 1)
    target = ([0] + [size_of(conversion.inputs[0], shape_x, [axis]) for axis in order_x[1:-1]]
              + [size_of(conversion.inputs[1], shape_y, [axis]) for axis in order_y[2:]])
    return reshape_to(conversion, product, target)


def _transposed(builder, x: str, order: list[int], hint: str) -> str:
    return x if order == sorted(order) else builder.transpose(x, order, hint=hint)


def _as_matrices(conversion: Conversion, x: str, shape: list, rows: list[int], columns: list[int],
                 missing_at: int, hint: str) -> str:
    """``x`` (of ``shape``) as a batch of matrices: its ``rows`` axes merged
    into one, its ``columns`` axes into the other. Where one side has no
    axis (a vector per sample), a size-1 axis is inserted at ``missing_at``;
    where each side has one, ``x`` already is a batch of matrices."""
    if not rows or not columns:
        return conversion.builder.unsqueeze(x, [missing_at], hint=hint)
    if len(rows) == 1 and len(columns) == 1:
        return x
    return reshape_to(conversion, x, [0, size_of(x, shape, rows), size_of(x, shape, columns)], hint=hint)


def _l2_normalized(conversion: Conversion, x: str, axis: int) -> str:
    """``x * rsqrt(max(sum(x², axis), NORM_EPSILON²))``, in layerspec's
    order: the maximum, Sqrt, Reciprocal, then the product."""
    builder = conversion.builder
    squares = builder.reduce("ReduceSum", builder.op("Mul", [x, x], hint="square"), [axis], keepdims=True,
                             hint="sum_squares")
    clamped = builder.op("Max", [squares, builder.scalar(NORM_EPSILON ** 2)], hint="clamped")
    inverse = builder.op("Reciprocal", [builder.op("Sqrt", [clamped], hint="norm")], hint="inverse_norm")
    return builder.op("Mul", [x, inverse], hint="normalized")
