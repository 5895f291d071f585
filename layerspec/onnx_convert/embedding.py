"""Embedding and PositionEmbedding as ONNX.

Embedding is a Gather of the table's rows. layerspec refuses an index
outside ``[0, input_dim)``; ONNX has no way to raise an error, and ONNX
Runtime refuses an index at or beyond ``input_dim`` but reads a negative
one from the end of the table (Gather's documented meaning): the exported
model is for valid ids, as the model is.
"""

from __future__ import annotations

import numpy as np

from ..layers.embedding import Embedding, PositionEmbedding
from . import Conversion, converts, converts_mask


def _ids(conversion: Conversion) -> str:
    """The Embedding's input as int64 ids.

    The input is int64 when it is a model input read only by Embeddings (the
    exporter declares it so), int32 when the spec declares that, or floats
    holding whole numbers (a layer's result): a Conversion does not say
    which, so it is always cast. A Cast to the type a tensor already has
    is removed by ONNX Runtime's graph optimisations. The cast value is
    shared by the layer's output and its mask.
    """
    builder = conversion.builder
    cache = builder.root.__dict__.setdefault("_embedding_ids", {})
    key = (conversion.node.name, conversion.x)
    if key not in cache:
        cache[key] = builder.cast(conversion.x, np.int64, hint="ids")
    return cache[key]


@converts(Embedding)
def embedding(conversion: Conversion) -> str:
    """``Gather(embeddings, ids, axis=0)``: row ``ids[...]`` of the table;
    the output's shape is the ids' then ``output_dim``."""
    return conversion.builder.op("Gather", [conversion.weight("embeddings"), _ids(conversion)], axis=0)


@converts_mask(Embedding)
def embedding_mask(conversion: Conversion) -> str:
    """``mask_zero``: ``ids != 0`` (Not of Equal), of the ids' shape."""
    builder = conversion.builder
    zero = builder.constant(np.zeros((), dtype=np.int64), "zero_id")
    return builder.op("Not", [builder.op("Equal", [_ids(conversion), zero], hint="padding")], hint="mask")


@converts(PositionEmbedding)
def position_embedding(conversion: Conversion) -> str:
    """The first ``steps`` rows of the table, expanded to the input's shape.

    With ``steps`` (axis -2) known, the initializer holds only those rows;
    with it unknown until run time, the whole table is held and sliced to
    ``Shape(x)[-2]`` rows. Expand then broadcasts ``(steps, features)`` over
    the leading axes, as layerspec's ``out[...] = table[:steps]``.
    """
    builder, x = conversion.builder, conversion.x
    steps = conversion.shape[-2]
    if steps is not None:
        rows = conversion.derived_weight(f"embeddings_{steps}", lambda: conversion.weight_value("embeddings")[:steps])
    else:
        length = builder.op("Gather", [builder.op("Shape", [x], hint="shape"), builder.ints([-2])], axis=0,
                            hint="steps")
        rows = builder.op("Slice", [conversion.weight("embeddings"), builder.ints([0]), length, builder.ints([0])],
                          hint="rows")
    return builder.op("Expand", [rows, builder.op("Shape", [x], hint="shape")])
