"""Every core for the whole forward pass: a batch split across threads.

NumPy's matrix products use every core (BLAS has its own threads), but its
elementwise work (activations, biases, pooling folds, window copies) runs
on one, and on the benchmark models that work is a large part of the time.
So a batch big enough is cut into one slice per core, and each slice runs
the whole layer pipeline in a thread (the calling thread is one of them),
while BLAS is held to one thread (``threadpoolctl``): the cores then share
all the work, not only the products. NumPy releases the GIL inside ufuncs and BLAS
calls, so the threads run at once wherever arrays are large; where they
are small (a recurrent step at a small batch) Python's per-call work would
serialise them, which is why :func:`workers_for` decides from the work per
slice (docs/design.md §6; ``benchmarks/vs_onnxruntime.py`` measures it).

Rows are independent in every layer layerspec has (a forward pass never
mixes samples), so slices give the rows the same values as one batch, to
float rounding: BLAS may sum a product in another order for another row
count.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

from .errors import ValueAtIndexError
from .quiet import quietly

#: Rows below which a slice is not worth a thread. Measured 2026-11-30
#: (benchmarks/vs_onnxruntime.py): split in two at batch 32, the convnet
#: took 2.10-2.43x ONNX Runtime's time against 2.31-2.50x whole (1.78
#: against 2.07 in a quieter run); at batch 16 it was even (1.33 against
#: 1.31 ms).
#: At 1024 rows the split took the convnet from 4.6x ONNX Runtime's time to
#: 3.1x, LeNet from 1.42x to 0.91x, the LSTM from 1.34-1.40x to 0.90-0.98x.
MIN_ROWS_PER_WORKER = 16
#: Multiply-adds per output element above which a model's time is its
#: matrix products: the 784-1024-1024-10 MLP (about 900 per element) split
#: in two took 21.7 ms at batch 1024 against 14.8 ms for its products on two
#: BLAS threads (each slice streams every weight again); the convnet (about
#: 70), LeNet (about 50) and the LSTM gain from splitting.
MAX_MACS_PER_ELEMENT = 300
#: Rows a worker computes at once: a longer slice is done in pieces of at
#: most this many, one after another. Measured 2026-11-30: the convnet's
#: first convolution makes 44 MB of fresh output for a 512-row piece, whose
#: allocation and first touch took 7.5 ms against 2.8 ms for memory reused
#: at 64-256 rows; at batch 1024 the convnet was 10-15 % faster in pieces,
#: LeNet unchanged.
MAX_ROWS_PER_PIECE = 256
#: Multiply-accumulates per slice below which splitting costs more than it
#: saves: handing a slice to the pool and back takes 40-80 us on these
#: machines, and two threads making small NumPy calls slow each other (each
#: call hands the GIL over). LeNet at batch 32 (6.8M a slice) was slower
#: split in three runs of four (2.34-2.94x ONNX Runtime against
#: 2.14-2.53x); the convnet (39M a slice) faster in three of four.
MIN_MACS_PER_WORKER = 20_000_000
#: For models with a recurrent layer: rows per slice below which each
#: step's NumPy calls are too small to run outside the GIL.
MIN_RECURRENT_ROWS_PER_WORKER = 256

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_blas_controllers: list | None = None


def cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def workers_for(rows: int, macs_per_row: int | None, recurrent: bool, available: int | None = None,
                elements: int | None = None) -> int:
    """How many slices to cut a batch of ``rows`` into (1: none).

    Args:
        macs_per_row: the model's multiply-accumulates per sample (None when
            unknown: then never split).
        recurrent: whether the model steps through time in Python.
        available: the cores to use (default: :func:`cores`).
        elements: the elements of all layer outputs per sample: a model
            doing more than :data:`MAX_MACS_PER_ELEMENT` multiply-adds per
            output element is its matrix products, which BLAS already runs
            on every core (not split unless recurrent).
    """
    if rows < 2 * MIN_ROWS_PER_WORKER or macs_per_row is None:  # batch 1 returns here, at once
        return 1
    if not recurrent and elements and macs_per_row > MAX_MACS_PER_ELEMENT * elements:
        return 1
    available = cores() if available is None else available
    if available < 2:
        return 1
    workers = min(available, rows // MIN_ROWS_PER_WORKER)
    if recurrent:
        workers = min(workers, rows // MIN_RECURRENT_ROWS_PER_WORKER)
    while workers > 1 and macs_per_row * rows // workers < MIN_MACS_PER_WORKER:
        workers -= 1
    return max(workers, 1)


def steps_in_python(model) -> bool:
    """Whether a layer of ``model`` runs a Python loop over time steps (a
    recurrent layer, alone or wrapped)."""
    from .layers.recurrent import RecurrentBase

    for layer in model.layers:
        inner = [layer] + [getattr(layer, name, None) for name in ("layer", "forward_layer", "backward_layer")]
        if any(isinstance(item, RecurrentBase) for item in inner):
            return True
    return False


def walk_in_slices(walk, batches: list, workers: int) -> list:
    """``walk(batches)`` (a list of outputs) computed on ``workers`` threads
    at once, each taking pieces of rows (at most
    :data:`MAX_ROWS_PER_PIECE`), the outputs joined in order.

    The calling thread is one of the workers (one hand-off to the pool
    fewer: 40-80 us on these machines, which counts at batch 32). Each
    runs with NumPy's warnings off, as the whole pass does; BLAS runs one
    thread per worker meanwhile. After an error no new piece starts, and
    the pieces under way finish before it is raised; an error about a row
    names its index in the whole batch (the first piece's error, if
    several fail).
    """
    rows = len(batches[0])
    pieces = workers * max(1, -(-rows // (workers * MAX_ROWS_PER_PIECE)))
    bounds = [rows * k // pieces for k in range(pieces + 1)]
    slices = [[batch[start:stop] for batch in batches] for start, stop in zip(bounds, bounds[1:])]
    results: list = [None] * pieces
    errors: list = [None] * pieces
    taking = itertools.count()  # next() on it is atomic: each piece is taken once

    def work() -> None:
        # After an error (or Ctrl-C in the caller) no new piece is started.
        while not any(errors) and (piece := next(taking)) < pieces:
            try:
                results[piece] = _walk_slice(walk, slices[piece], bounds[piece])
            except BaseException as error:  # re-raised below, in the caller
                errors[piece] = error

    pool = _thread_pool(workers - 1)
    with one_blas_thread():
        helpers = [pool.submit(work) for _ in range(workers - 1)]
        work()
        for helper in helpers:
            helper.result()
    for error in errors:
        if error is not None:
            raise error
    return [np.concatenate(outputs, axis=0) for outputs in zip(*results)]


def _walk_slice(walk, batches: list, offset: int) -> list:
    try:
        return quietly(walk, batches)
    except ValueAtIndexError as error:
        raise error.shifted(offset) from None


def _thread_pool(workers: int) -> ThreadPoolExecutor:
    """The shared thread pool, grown to ``workers``."""
    global _pool, _pool_size
    with _lock:
        if _pool_size < workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool, _pool_size = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="layerspec"), workers
        return _pool


@contextmanager
def one_blas_thread():
    """BLAS held to one thread inside, its thread counts put back after.

    Costs a few microseconds: threadpoolctl's controller is made once (it
    inspects every loaded library, milliseconds), then only BLAS's getter
    and setter are called. The counts are put back by the thread that
    saved them: once the main thread had lowered the count, OpenBLAS
    (0.3.31) ignored another thread raising it again. BLAS's count is one
    setting for the whole process, so models run from several threads at
    once may leave it at one thread (slower, never wrong).
    """
    libraries = _blas_libraries()
    saved = [(library, library.num_threads) for library in libraries]
    for library in libraries:
        library.set_num_threads(1)
    try:
        yield
    finally:
        for library, threads in saved:
            library.set_num_threads(threads)


def _blas_libraries() -> list:
    """threadpoolctl's controllers of the BLAS libraries loaded (made once)."""
    global _blas_controllers
    with _lock:
        if _blas_controllers is None:
            from threadpoolctl import ThreadpoolController

            _blas_controllers = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas_controllers
