"""Normalization layers as ONNX: BatchNormalization, LayerNormalization,
GroupNormalization, UnitNormalization, SpectralNormalization (refused).

Every epsilon is written into the graph (folded into BatchNormalization's
constants, an attribute of the LayerNormalization operator, a constant
elsewhere); none is left to an operator's default.
"""

from __future__ import annotations

import numpy as np

from ..layers.normalization import (UNIT_EPSILON, BatchNormalization, GroupNormalization, LayerNormalization,
                                    SpectralNormalization, UnitNormalization, broadcast_shape, resolve_axes)
from . import Conversion, converts
from .reshaping import RunTime, reshape_to, size_of

#: The opset of ONNX's LayerNormalization operator.
LAYER_NORMALIZATION_OPSET = 17


def _over_input(shape: tuple, axes: tuple) -> tuple:
    """The shape laying a weight spanning ``axes`` over an input of
    ``shape`` (batch first): its sizes there, 1 elsewhere."""
    return broadcast_shape(axes, (1,) + tuple(shape[1:]))


# -- BatchNormalization ---------------------------------------------------------

@converts(BatchNormalization)
def batch_normalization(conversion: Conversion) -> str:
    """Inference form, ``x * scale + shift``: layerspec's own folding
    (``scale = gamma / sqrt(moving_variance + epsilon)``, ``shift = beta -
    moving_mean * scale``, computed by the layer in NumPy), so the constants
    are the very numbers layerspec multiplies with. One Mul and one Add
    broadcast along ``axis``, in the channels-last layout: no Transpose
    around ONNX's channels-first BatchNormalization operator, and engines
    fuse a Mul/Add after a Conv as they fuse BatchNormalization."""
    layer, builder = conversion.layer, conversion.builder
    (axis,) = resolve_axes((layer.axis,), conversion.shape)
    shape = _over_input(conversion.shape, (axis,))
    scale = conversion.derived_weight("folded_scale", lambda: layer._folded()[0].reshape(shape))
    shift = conversion.derived_weight("folded_shift", lambda: layer._folded()[1].reshape(shape))
    return builder.op("Add", [builder.op("Mul", [conversion.x, scale], hint="scaled"), shift])


# -- LayerNormalization -----------------------------------------------------------

@converts(LayerNormalization)
def layer_normalization(conversion: Conversion) -> str:
    """Over trailing axes (``-1``, or ``[-2, -1]``...), ONNX's
    LayerNormalization operator (opset 17), ``epsilon`` an attribute;
    over any other set of axes, composed from ReduceMean (any opset).

    ``gamma`` and ``beta`` are laid over the input by a reshape onto the
    axes in increasing order, as layerspec does (Keras 3.15 sorts the list
    as written, so an unsorted list's weights keep their stored order).

    The operator is what engines fuse, and what the issue asks for (the
    model then needs opset 17). Its single pass over the statistics is less
    exact than layerspec's two for inputs far from zero: ONNX Runtime is
    off by about 2.5e-4 on ``1e4 + N(0, 1)`` over 64 features, where the
    composed form (used for every other axis list) keeps to 1e-5.
    """
    layer = conversion.layer
    axes = tuple(sorted(resolve_axes(layer.axes, conversion.shape)))
    rank = len(conversion.shape)
    if axes == tuple(range(axes[0], rank)) and conversion.builder.dtype == np.float32:
        return _layer_normalization_operator(conversion, axes)
    return _normalized(conversion, conversion.x, axes, layer.epsilon, _affine_weights(conversion, axes))


def _affine_weights(conversion: Conversion, axes: tuple) -> tuple:
    """``(gamma, beta)`` initializers shaped to broadcast over the input
    (None where the layer has none)."""
    shape = _over_input(conversion.shape, axes)
    layer = conversion.layer
    gamma = conversion.derived_weight("gamma_over_input", lambda: layer.gamma.value.reshape(shape)) \
        if layer.gamma is not None else None
    beta = conversion.derived_weight("beta_over_input", lambda: layer.beta.value.reshape(shape)) \
        if layer.beta is not None else None
    return gamma, beta


def _layer_normalization_operator(conversion: Conversion, axes: tuple) -> str:
    """LayerNormalization(axis = first normalised axis): Scale and B span the
    normalised axes (ones where ``scale`` is off, B left out where ``center``
    is). Used for float32 models only: the operator's default ``stash_type``
    keeps its statistics in float32, and a float64 model deserves float64."""
    conversion.require(LAYER_NORMALIZATION_OPSET, "the LayerNormalization operator")
    layer = conversion.layer
    normalized_shape = tuple(conversion.shape[axes[0]:])
    gamma = conversion.derived_weight("gamma_normalized", lambda: layer.gamma.value.reshape(normalized_shape)) \
        if layer.gamma is not None else conversion.derived_weight("ones", lambda: np.ones(normalized_shape))
    inputs = [conversion.x, gamma]
    if layer.beta is not None:
        inputs.append(conversion.derived_weight("beta_normalized", lambda: layer.beta.value.reshape(normalized_shape)))
    return conversion.builder.op("LayerNormalization", inputs, axis=axes[0], epsilon=float(layer.epsilon))


def _normalized(conversion: Conversion, x: str, axes, epsilon: float, weights: tuple) -> str:
    """layerspec's normalisation over ``axes``: the mean subtracted twice
    (the second pass removes what rounding left, for inputs far from zero),
    the biased variance as the mean of squared deviations, the deviations
    times ``1 / sqrt(variance + epsilon)``, then ``* gamma + beta`` where
    given."""
    builder = conversion.builder
    centred = builder.op("Sub", [x, builder.reduce("ReduceMean", x, axes, keepdims=True, hint="mean")],
                         hint="centred")
    centred = builder.op("Sub", [centred, builder.reduce("ReduceMean", centred, axes, keepdims=True,
                                                         hint="residual_mean")], hint="centred")
    squares = builder.op("Mul", [centred, centred], hint="squares")
    variance = builder.reduce("ReduceMean", squares, axes, keepdims=True, hint="variance")
    deviation = builder.op("Sqrt", [builder.op("Add", [variance, builder.scalar(epsilon)], hint="variance_eps")],
                           hint="deviation")
    result = builder.op("Mul", [centred, builder.op("Reciprocal", [deviation], hint="inverse")], hint="normalized")
    gamma, beta = weights
    if gamma is not None:
        result = builder.op("Mul", [result, gamma], hint="scaled")
    if beta is not None:
        result = builder.op("Add", [result, beta], hint="shifted")
    return result


# -- GroupNormalization -----------------------------------------------------------

@converts(GroupNormalization)
def group_normalization(conversion: Conversion) -> str:
    """Composed from Reshape and ReduceMean (ONNX's GroupNormalization
    operator changed meaning between opsets 18 and 21, and wants channels
    first): the input ``(batch, before..., C, after...)`` is reshaped to
    ``(batch, P, G, C/G, Q)``, normalised over axes 1, 3 and 4 (per sample
    and group: every channel of the group at every position), reshaped
    back, then scaled and shifted per channel."""
    layer, x, shape = conversion.layer, conversion.x, conversion.shape
    (axis,) = resolve_axes((layer.axis,), shape)
    channels = shape[axis]
    groups = channels if layer.groups == -1 else layer.groups
    rank = len(shape)
    grouped = reshape_to(conversion, x, [0, size_of(x, shape, range(1, axis)), groups, channels // groups,
                                         size_of(x, shape, range(axis + 1, rank))], hint="grouped")
    normalized = _normalized(conversion, grouped, [1, 3, 4], layer.epsilon, (None, None))
    restored = reshape_to(conversion, normalized, [0] + [size if size is not None else RunTime(x, (number,))
                                                         for number, size in enumerate(shape[1:], start=1)],
                          hint="restored")
    builder = conversion.builder
    over_input = _over_input(shape, (axis,))
    if layer.gamma is not None:
        gamma = conversion.derived_weight("gamma_over_input", lambda: layer.gamma.value.reshape(over_input))
        restored = builder.op("Mul", [restored, gamma], hint="scaled")
    if layer.beta is not None:
        beta = conversion.derived_weight("beta_over_input", lambda: layer.beta.value.reshape(over_input))
        restored = builder.op("Add", [restored, beta], hint="shifted")
    return restored


# -- UnitNormalization, SpectralNormalization ---------------------------------------

@converts(UnitNormalization)
def unit_normalization(conversion: Conversion) -> str:
    """``x * 1 / max(sqrt(sum(x²)), 1e-12)`` over ``axis``, in layerspec's
    order (Sqrt, the maximum, Reciprocal, the product): a zero vector stays
    zero."""
    builder, x = conversion.builder, conversion.x
    axes = resolve_axes(conversion.layer.axes, conversion.shape, sizes_known=False)
    squares = builder.reduce("ReduceSum", builder.op("Mul", [x, x], hint="squares"), list(axes), keepdims=True,
                             hint="sum_squares")
    norm = builder.op("Max", [builder.op("Sqrt", [squares], hint="norm"), builder.scalar(UNIT_EPSILON)],
                      hint="clamped_norm")
    return builder.op("Mul", [x, builder.op("Reciprocal", [norm], hint="inverse_norm")])


@converts(SpectralNormalization)
def spectral_normalization(conversion: Conversion) -> str:
    """Refused, as layerspec refuses the layer itself: at inference it is
    the wrapped layer with its stored kernel, which a spec writes instead."""
    raise conversion.refuse("SpectralNormalization only acts in training (power iteration on the wrapped layer's "
                            "kernel); at inference it is the wrapped layer with its stored kernel: write that "
                            "layer instead")
