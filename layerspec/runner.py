"""``layerspec run``: spec + input file (+ weights) → output, streamed in batches."""

from __future__ import annotations

import numpy as np

from .errors import DataError, LayerspecError
from .spec import build_located, build_model, read_spec


def run_model(spec_path: str, input_path: str, weights: str | None = None, seed: int = 0,
              output: str | None = None, batch_size: int | None = None, dtype: str | None = None) -> np.ndarray:
    """Run the model of ``spec_path`` on the ``.npy`` at ``input_path``.

    With ``output`` the result is written there batch by batch (atomically)
    and returned as the written memory map's shape holder; without it the
    result is returned in memory.
    """
    from .arrays import npy_writer, read_npy, same_file

    spec = read_spec(spec_path)
    if dtype is not None:
        spec.dtype = dtype
    data = read_npy(input_path, mmap=True)
    if output is not None and same_file(output, input_path):
        raise DataError(f"{output}: the output would overwrite the input file; choose another -o path")
    model = build_model(spec, require_input=False)
    if not model.built:
        if data.ndim < 1:
            raise DataError(f"{input_path}: expected a batch of samples, got a 0-d array")
        build_located(model, spec, tuple(data.shape[1:]))
    if weights is not None:
        model.load_weights(weights)
    else:
        model.init(seed=seed)
    try:
        batched, single = model.as_batch(data)
    except LayerspecError as error:
        raise DataError(f"{input_path}: {error.message}") from None
    out_shape = (len(batched),) + model.concrete_output_shape(batched.shape)
    if output is None:
        result = model.predict(batched, batch_size=batch_size)
        return result[0] if single else result
    final_shape = out_shape[1:] if single else out_shape
    with npy_writer(output, final_shape, model.dtype) as out:
        model.predict(batched, batch_size=batch_size, out=out[np.newaxis] if single else out)
    return _Written(final_shape, model.dtype)


class _Written:
    """What ``run_model`` returns for a file it wrote: its shape and dtype."""

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
