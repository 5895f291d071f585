"""EinsumDense as ONNX: the equation lowered to ReduceSum, Transpose, Reshape
and one MatMul (no Einsum operator: TensorRT has none).

The labels of the equation fall in five groups, as in the layer's own
``_contraction``: *summed* (in the input only: summed away first),
*input free* (input and output: the batch, steps...), *contracted* (input
and kernel), *kernel free* (kernel and output) and *stacked* (all three:
one product per index). The input is put in the order ``(input free...,
stacked..., contracted...)`` and its contracted axes merged into one of
size ``D``; the kernel becomes ``(stacked..., D, F)``, ``F`` its free sizes
merged. MatMul then broadcasts over the leading input-free axes, so sizes
unknown until run time (the batch, a ``null`` length) stay dynamic: every
Reshape copies them with 0. With stacked labels each product is a ``(1, D)
x (D, F)`` one, broadcast over the input-free axes.
"""

from __future__ import annotations

import math

import numpy as np

from ..layers.einsum_dense import EinsumDense
from . import Conversion, converts
from .activations import apply_activation


@converts(EinsumDense)
def einsum_dense(conversion: Conversion) -> str:
    """``activation(einsum(equation, x, kernel) + bias)``, as one MatMul."""
    layer, builder = conversion.layer, conversion.builder
    plan = _Plan(layer.parsed, len(conversion.shape))
    kernel_shape = conversion.weight_value("kernel").shape
    size = {label: kernel_shape[plan.kernel_labels.index(label)] for label in plan.kernel_labels}
    x = _arranged_input(builder, conversion.x, plan, size)
    kernel = conversion.derived_weight("kernel_matrix", lambda: _kernel_matrix(conversion, plan, size))
    y = _arranged_output(builder, builder.op("MatMul", [x, kernel]), plan, size)
    if layer.bias is not None:
        y = builder.op("Add", [y, conversion.weight("bias")])  # Keras's bias shape broadcasts from the right
    shape = (None,) + tuple(layer._shapes(conversion.shape).output[1:])
    return apply_activation(conversion, y, layer.activation, shape)


def _arranged_input(builder, x: str, plan: "_Plan", size: dict) -> str:
    """The input summed over its summed labels, transposed to ``(input
    free..., stacked..., contracted...)`` and its contracted axes merged:
    ``(input free..., D)``, or ``(input free..., stacked..., 1, D)``."""
    if plan.summed_axes:
        x = builder.reduce("ReduceSum", x, plan.summed_axes, keepdims=False, hint="summed")
    perm = [plan.kept.index(label) for label in plan.input_free + plan.stacked + plan.contracted]
    if perm != sorted(perm):
        x = builder.transpose(x, perm)
    depth = math.prod(size[label] for label in plan.contracted)
    keep = [0] * len(plan.input_free)  # Reshape's 0: the input's size, known or not
    if plan.stacked:
        return builder.reshape(x, keep + [size[label] for label in plan.stacked] + [1, depth])
    if len(plan.contracted) != 1:
        return builder.reshape(x, keep + [depth])
    return x


def _arranged_output(builder, y: str, plan: "_Plan", size: dict) -> str:
    """The product ``(input free..., [stacked..., 1,] F)`` with ``F`` split
    into the kernel's free sizes and its axes put in the output's order."""
    keep = [0] * len(plan.input_free)
    if plan.stacked or len(plan.kernel_free) != 1:
        y = builder.reshape(y, keep + [size[label] for label in plan.stacked + plan.kernel_free])
    produced = plan.input_free + plan.stacked + plan.kernel_free
    perm = [produced.index(label) for label in plan.out_labels]
    if perm != sorted(perm):
        y = builder.transpose(y, perm)
    return y


class _Plan:
    """The label groups of an equation for inputs of ``ndim`` axes (an
    ellipsis's axes named ``...0``, ``...1``)."""

    def __init__(self, equation, ndim: int):
        passed = [f"...{i}" for i in range(ndim - len(equation.input))]
        if equation.form == "left":
            in_labels, self.out_labels = passed + list(equation.input), passed + list(equation.output)
        else:
            in_labels, self.out_labels = list(equation.input) + passed, list(equation.output) + passed
        self.kernel_labels = list(equation.kernel)
        kernel, out = self.kernel_labels, self.out_labels
        self.stacked = [label for label in kernel if label in in_labels and label in out]
        self.contracted = [label for label in kernel if label in in_labels and label not in out]
        self.kernel_free = [label for label in kernel if label not in in_labels]
        summed = [label for label in in_labels if label not in out and label not in kernel]
        self.summed_axes = [in_labels.index(label) for label in summed]
        self.kept = [label for label in in_labels if label not in summed]
        self.input_free = [label for label in self.kept if label not in kernel]


def _kernel_matrix(conversion: Conversion, plan: _Plan, size: dict) -> np.ndarray:
    """The kernel as ``(stacked..., D, F)``."""
    kernel = conversion.weight_value("kernel")
    order = plan.stacked + plan.contracted + plan.kernel_free
    kernel = np.transpose(kernel, [plan.kernel_labels.index(label) for label in order])
    depth = math.prod(size[label] for label in plan.contracted)
    columns = math.prod(size[label] for label in plan.kernel_free)
    return np.ascontiguousarray(kernel.reshape([size[label] for label in plan.stacked] + [depth, columns]))
