"""Core layers as ONNX: Dense, Activation, Dropout, Masking."""

from __future__ import annotations

import numpy as np

from ..layers.core import Activation, Dense, Dropout, Masking
from . import Conversion, converts, converts_mask
from .activations import apply_activation


@converts(Dense)
def dense(conversion: Conversion) -> str:
    """``x @ kernel + bias`` along the last axis (MatMul broadcasts over the
    leading ones), then the activation."""
    layer, builder = conversion.layer, conversion.builder
    y = builder.op("MatMul", [conversion.x, conversion.weight("kernel")])
    if layer.use_bias:
        y = builder.op("Add", [y, conversion.weight("bias")])
    return apply_activation(conversion, y, layer.activation)


@converts(Activation)
def activation(conversion: Conversion) -> str:
    """The layer's activation on its input (whose shape it reads: glu's
    output has half the last axis)."""
    return apply_activation(conversion, conversion.x, conversion.layer.activation, conversion.shape)


@converts(Dropout)
def dropout(conversion: Conversion) -> str:
    """The identity: dropout acts in training only."""
    return conversion.x


@converts(Masking)
def masking(conversion: Conversion) -> str:
    """``where(kept, x, 0)``, ``kept`` true where some feature of a step
    differs from ``mask_value`` (NaN differs from everything, as in NumPy)."""
    return conversion.builder.op("Where", [_kept(conversion), conversion.x, conversion.builder.scalar(0.0)])


@converts_mask(Masking)
def masking_mask(conversion: Conversion) -> str:
    """The steps kept: ``Masking.compute_mask``, the input's mask ignored."""
    return conversion.builder.squeeze(_kept(conversion), [-1], hint="mask")


def _kept(conversion: Conversion) -> str:
    """``any(x != mask_value, axis=-1, keepdims=True)`` as a bool tensor, made
    once per conversion (the layer's result and its mask both read it).

    ONNX has no ReduceAny: opset 20's ReduceMax takes bools, and before it
    the comparison is cast to the model's float type and its maximum taken.
    """
    cached = conversion.__dict__.get("_masking_kept")
    if cached is not None:
        return cached
    builder = conversion.builder
    value = builder.constant(_in_dtype(conversion.layer.mask_value, builder.dtype))
    differs = builder.op("Not", [builder.op("Equal", [conversion.x, value])])
    if builder.opset >= 20:
        kept = builder.reduce("ReduceMax", differs, [-1], keepdims=True, hint="kept")
    else:
        kept = builder.cast(builder.reduce("ReduceMax", builder.to_float(differs), [-1], keepdims=True), bool,
                            hint="kept")
    conversion.__dict__["_masking_kept"] = kept
    return kept


def _in_dtype(number: float, dtype):
    """``number`` as a 0-d array of ``dtype`` (as layerspec compares it)."""
    with np.errstate(over="ignore"):
        return np.asarray(number, dtype=np.float64).astype(dtype)
