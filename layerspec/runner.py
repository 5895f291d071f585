"""``layerspec run``: spec + input file (+ weights) → output, streamed in batches.

The input is memory-mapped and read a batch at a time; with ``-o`` each
batch's output goes straight into the output: into a memory-mapped temporary
file in the target directory, renamed into place when complete, or, for a
FIFO, a device or standard output, written in order after the header (see
:func:`layerspec.arrays.npy_writer`). Peak memory is the weights plus a few
batches' activations, whatever the input's size.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from .errors import DataError, LayerspecError
from .spec import build_located, build_model, locate, read_spec

#: Memory for one batch's activations when --max-memory is not given.
DEFAULT_MEMORY_BUDGET = 256 * 2**20
#: More rows per batch than this gains no speed; fewer costs per-call overhead.
MAX_AUTO_BATCH = 4096


@dataclass
class RunResult:
    """What a run produced: the output (in memory, or None if written) and its shape."""

    output: np.ndarray | None
    shape: tuple
    dtype: np.dtype
    batch_size: int
    rows: int


def working_bytes_per_sample(model, sample_shape: tuple) -> int:
    """The largest memory one sample needs inside any layer.

    A layer holds its input and output at once, plus its own workspace (a
    convolution's window matrix, a recurrent layer's projected steps).
    """
    from .model import infer_output_shape

    itemsize = np.dtype(model.dtype).itemsize
    shape, largest = (None,) + tuple(sample_shape), 0
    for layer in model.layers:
        output = infer_output_shape(layer, shape)
        elements = math.prod(shape[1:]) + math.prod(output[1:]) + (layer.count_workspace(shape) or 0)
        largest = max(largest, elements * itemsize)
        shape = output
    return max(largest, 1)


def choose_batch_size(model, sample_shape: tuple, rows: int, max_memory: int | None = None) -> int:
    """Rows per batch so that one batch's working memory fits the budget."""
    budget = DEFAULT_MEMORY_BUDGET if max_memory is None else max_memory
    per_sample = working_bytes_per_sample(model, sample_shape)
    return int(max(1, min(budget // per_sample, MAX_AUTO_BATCH, max(rows, 1))))


def check_weights_fit(model) -> None:
    """Refuse, before allocating, weights larger than this machine's memory.

    A spec can describe 10^12 parameters; summarising it is free, but
    running it would fail deep inside NumPy (or be killed), so say why first.
    """
    needed = model.count_params() * np.dtype(model.dtype).itemsize
    available = physical_memory()
    if available is not None and needed > available:
        from .summary import readable_size

        raise DataError(f"the model's weights need {readable_size(needed)}, more than this machine's "
                        f"{readable_size(available)} of memory; 'layerspec summary' can still describe it")


def physical_memory() -> int | None:
    """Total physical memory in bytes, where the system says."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def run_model(spec_path: str, input_path: str, weights: str | None = None, seed: int = 0,
              output: str | os.PathLike | BinaryIO | None = None, batch_size: int | None = None,
              dtype: str | None = None, max_memory: int | None = None, progress=None,
              allow_nonfinite: bool = False) -> RunResult:
    """Run the model of ``spec_path`` on the ``.npy`` at ``input_path``.

    Args:
        output: write the result there, batch by batch: a path (a regular
            file or a symbolic link's target is replaced atomically; an
            existing FIFO or device is written in place, in order) or a
            writable binary file such as ``sys.stdout.buffer`` (written in
            order). Without it the result is returned in memory.
        batch_size: rows per batch; chosen from ``max_memory`` if not given.
        max_memory: the budget in bytes for one batch's activations.
        progress: called as ``progress(total_rows, batch_count)``; returns a
            callback taking the rows done per batch and a ``close()`` method,
            or None for no progress display.
        allow_nonfinite: accept NaN and infinities in the input and weights.
    """
    from .arrays import npy_writer, read_npy, same_file

    spec = read_spec(spec_path)
    if dtype is not None:
        spec.dtype = dtype
    data = read_npy(input_path, mmap=True)
    if isinstance(output, (str, os.PathLike)) and same_file(output, input_path):
        raise DataError(f"{output}: the output would overwrite the input file; choose another -o path")
    model = build_model(spec, require_input=False)
    if not model.built:
        if data.ndim < 1:
            raise DataError(f"{input_path}: expected a batch of samples, got a 0-d array")
        build_located(model, spec, tuple(data.shape[1:]))
    check_weights_fit(model)
    model.check_finite_inputs = not allow_nonfinite
    if weights is not None:
        model.load_weights(weights, allow_nonfinite=allow_nonfinite)
    else:
        try:
            model.init(seed=seed)
        except LayerspecError as error:
            raise locate(error, spec) from None
    try:
        batched, single = model.as_batch(data)
    except LayerspecError as error:
        raise DataError(f"{input_path}: {error.message}") from None
    rows = len(batched)
    sample_shape = tuple(batched.shape[1:])
    batch_size = batch_size or choose_batch_size(model, sample_shape, rows, max_memory)
    out_shape = (rows,) + model.runtime_output_shape(batched.shape, input_path)
    final_shape = out_shape[1:] if single else out_shape
    on_batch = progress(rows, math.ceil(rows / batch_size)) if progress and rows else None
    try:
        if output is None:
            result = model.predict(batched, batch_size=batch_size, on_batch=on_batch, source=input_path)
            return RunResult(result[0] if single else result, final_shape, np.dtype(model.dtype), batch_size, rows)
        with npy_writer(output, final_shape, model.dtype) as out:
            model.predict(batched, batch_size=batch_size, out=out[np.newaxis] if single else out, on_batch=on_batch,
                          source=input_path)
    finally:
        if on_batch is not None:
            on_batch.close()
    return RunResult(None, final_shape, np.dtype(model.dtype), batch_size, rows)
