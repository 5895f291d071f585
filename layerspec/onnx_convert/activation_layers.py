"""Activation layers as ONNX: ReLU, LeakyReLU, PReLU, ELU, Softmax, Identity.

Each follows its layer's ``call`` in layerspec.layers.activation_layers,
which differs from the activation of the same name in places (the ReLU
layer keeps ``x`` where ``x > threshold``; PReLU gives 0 at ``-inf`` for an
``alpha`` of 0).
"""

from __future__ import annotations

import numpy as np

from ..layers.activation_layers import ELU, MASKED_LOGIT, Identity, LeakyReLU, PReLU, ReLU, Softmax
from . import Conversion, converts
from .activations import elu, general_relu, leaky


@converts(ReLU)
def relu(conversion: Conversion) -> str:
    """Relu, or Keras's rectifier with ``max_value``, ``negative_slope`` and
    ``threshold`` in the layer's form."""
    layer, builder = conversion.layer, conversion.builder
    if layer.negative_slope == 0 and layer.max_value is None and layer.threshold == 0:
        return builder.op("Relu", [conversion.x])
    return general_relu(builder, conversion.x, layer.negative_slope, layer.max_value, layer.threshold, layer=True)


@converts(LeakyReLU)
def leaky_relu(conversion: Conversion) -> str:
    """LeakyRelu with the layer's slope; a slope of 0 is Relu (the limit 0
    at ``-inf``, where ``0 * x`` would be NaN)."""
    layer, builder = conversion.layer, conversion.builder
    if builder.dtype.type(layer.negative_slope) == 0:
        return builder.op("Relu", [conversion.x])
    return leaky(builder, conversion.x, layer.negative_slope, layer=True)


@converts(PReLU)
def prelu(conversion: Conversion) -> str:
    """``relu(x) + alpha * min(x, 0)``: ONNX's PRelu, whose slope ``alpha``
    (the input's per-sample shape, 1 on the shared axes) broadcasts from the
    right as in NumPy.

    Where ``alpha`` is 0, layerspec gives the limit 0 at ``-inf`` (not ``0 *
    -inf``): there ``x`` is first raised to the lowest finite number, through
    a per-element floor that is ``-inf`` (no change) wherever ``alpha`` is not 0.
    """
    builder = conversion.builder
    alpha_value = conversion.weight_value("alpha")
    alpha = conversion.weight("alpha")
    x = conversion.x
    if (alpha_value == 0).any():
        floor = conversion.derived_weight("alpha_floor", lambda: np.where(
            alpha_value == 0, np.finfo(builder.dtype).min, -np.inf))
        x = builder.op("Max", [x, floor])
    if builder.dtype == np.float32:
        return builder.op("PRelu", [x, alpha])
    # ONNX Runtime's PRelu is float32 only.
    negative = builder.op("Mul", [builder.op("Min", [x, builder.scalar(0.0)]), alpha])
    return builder.op("Add", [builder.op("Relu", [x]), negative])


@converts(ELU)
def elu_layer(conversion: Conversion) -> str:
    """Elu with the layer's alpha (the select form for an alpha beyond the
    dtype's range, as the layer computes it)."""
    return elu(conversion.builder, conversion.x, conversion.layer.alpha)


@converts(Softmax)
def softmax(conversion: Conversion) -> str:
    """Softmax along the layer's axis (ONNX's Softmax), or jointly along
    several: ``exp(x - max) / sum(exp(x - max))`` over them.

    With a mask (the layer uses it, as Keras's): masked values become -1e9
    before the softmax and 0 after it, the mask broadcasting from the right.
    """
    layer, builder = conversion.layer, conversion.builder
    axes = layer.resolved_axes(conversion.shape)
    x, mask = conversion.x, conversion.mask
    if mask is not None:
        x = builder.op("Where", [mask, x, builder.scalar(MASKED_LOGIT)], hint="masked")
    if len(axes) == 1:
        y = builder.op("Softmax", [x], axis=axes[0])
    else:
        shifted = builder.op("Sub", [x, builder.reduce("ReduceMax", x, axes, keepdims=True)])
        exponentials = builder.op("Exp", [shifted])
        y = builder.op("Div", [exponentials, builder.reduce("ReduceSum", exponentials, axes, keepdims=True)])
    if mask is not None:
        y = builder.op("Where", [mask, y, builder.scalar(0.0)])
    return y


@converts(Identity)
def identity(conversion: Conversion) -> str:
    """The input, unchanged."""
    return conversion.x
