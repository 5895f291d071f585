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

from .arguments import suggest
from .arrays import refuse_overwriting_inputs
from .errors import DataError, LayerspecError
from .spec import build_located, build_model, locate, locate_layer, read_spec

#: Memory for one batch's activations when --max-memory is not given.
DEFAULT_MEMORY_BUDGET = 256 * 2**20
#: More rows per batch than this gains no speed; fewer costs per-call overhead.
MAX_AUTO_BATCH = 4096


@dataclass
class RunResult:
    """What a run produced.

    ``outputs`` maps each output's name to its array (None once written to
    a file) and ``shapes`` to its shape; ``output`` and ``shape`` are the
    first output's, for one-output models.
    """

    outputs: dict[str, np.ndarray | None]
    shapes: dict[str, tuple]
    dtype: np.dtype
    batch_size: int
    rows: int

    @property
    def output(self) -> np.ndarray | None:
        return next(iter(self.outputs.values()))

    @property
    def shape(self) -> tuple:
        return next(iter(self.shapes.values()))


def working_bytes_per_sample(model, sample_shapes) -> int:
    """The largest memory one sample needs while any layer runs.

    While a node runs, the walker holds its inputs, its result and every
    result still awaited below (docs/design.md §8), plus the layer's own
    workspace (a convolution's window matrix, a recurrent layer's projected
    steps).

    Args:
        sample_shapes: per-sample shape of the one input, or a list with
            one per input.
    """
    from .model import infer_output_shape

    if sample_shapes and not isinstance(sample_shapes[0], (tuple, list)):
        sample_shapes = [sample_shapes]
    itemsize = np.dtype(model.dtype).itemsize
    elements, workspace = [math.prod(shape) for shape in sample_shapes], []

    def measure(node, shape):
        output = infer_output_shape(node.layer, shape)
        elements.append(math.prod(output[1:]))
        workspace.append(node.layer.count_workspace(shape) or 0)
        return output

    model.graph.walk([(None,) + tuple(shape) for shape in sample_shapes], measure)
    held = model.graph.live_after(elements)
    largest = max((live + extra for live, extra in zip(held, workspace)), default=0)
    return max(largest * itemsize, 1)


def choose_batch_size(model, sample_shapes, rows: int, max_memory: int | None = None) -> int:
    """Rows per batch so that one batch's working memory fits the budget."""
    budget = DEFAULT_MEMORY_BUDGET if max_memory is None else max_memory
    per_sample = working_bytes_per_sample(model, sample_shapes)
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


def run_model(spec_path: str, inputs, weights: str | None = None, seed: int = 0,
              output: str | os.PathLike | BinaryIO | None = None, batch_size: int | None = None,
              dtype: str | None = None, max_memory: int | None = None, progress=None,
              allow_nonfinite: bool = False, settings=None, engine: str = "numpy") -> RunResult:
    """Run the model of ``spec_path`` on input files.

    Args:
        inputs: the ``.npy`` file of a one-input model; for several inputs a
            list of ``.npy`` files in input order, a dict of them by input
            name, or one ``.npz`` keyed by input name.
        output: write the result there, batch by batch: a path (a regular
            file or a symbolic link's target is replaced atomically; an
            existing FIFO or device is written in place, in order) or a
            writable binary file such as ``sys.stdout.buffer`` (written in
            order). A model with several outputs writes one ``.npz`` keyed
            by output name, once every batch is done. Without ``output`` the
            result is returned in memory.
        batch_size: rows per batch; chosen from ``max_memory`` if not given.
        max_memory: the budget in bytes for one batch's activations.
        progress: called as ``progress(total_rows, batch_count)``; returns a
            callback taking the rows done per batch and a ``close()`` method,
            or None for no progress display.
        allow_nonfinite: accept NaN and infinities in the input and weights.
        settings: the variant and argument values (``--variant``, ``--set``).
        engine: ``numpy`` (the layers) or ``onnxruntime`` (the model exported
            to ONNX and run in ONNX Runtime; see :mod:`layerspec.onnx_engine`).
    """
    spec = read_spec(spec_path, settings)
    if dtype is not None:
        spec.dtype = dtype
    model = build_model(spec, require_input=False)
    names = [decl.name for decl in spec.inputs]
    paths, sources = _input_files(inputs, names)
    refuse_overwriting_inputs(output, paths)
    arrays = _read_arrays(inputs, paths, names)
    if not model.built:
        for array, source in zip(arrays, sources):
            if array.ndim < 1:
                raise DataError(f"{source}: expected a batch of samples, got a 0-d array")
        build_located(model, spec, [tuple(array.shape[1:]) for array in arrays])
    check_weights_fit(model)
    model.check_finite_inputs = not allow_nonfinite
    _set_weights(model, spec, weights, seed, allow_nonfinite)
    if engine == "onnxruntime":
        model.engine = _onnx_runtime_engine(model, spec)
    try:
        batched, single = model.as_batches(arrays if len(arrays) > 1 else arrays[0], sources)
    except LayerspecError as error:
        raise _about_files(error, sources) from None
    rows = len(batched[0])
    batch_size = batch_size or choose_batch_size(model, [tuple(array.shape[1:]) for array in batched], rows,
                                                 max_memory)
    shapes = [(rows,) + shape for shape in model.runtime_output_shapes([array.shape for array in batched],
                                                                       sources[0])]
    final_shapes = dict(zip(model.output_names, [shape[1:] if single else shape for shape in shapes]))
    _refuse_npy_for_several_outputs(output, final_shapes)
    on_batch = progress(rows, math.ceil(rows / batch_size)) if progress and rows else None
    feed = batched if len(batched) > 1 else batched[0]
    try:
        outputs = _predict_into(model, feed, output, final_shapes, single, batch_size, on_batch, sources)
    finally:
        if on_batch is not None:
            on_batch.close()
    return RunResult(outputs, final_shapes, np.dtype(model.dtype), batch_size, rows)


def _onnx_runtime_engine(model, spec):
    """The model in ONNX Runtime; a layer ONNX cannot express is an error
    pointing at its entry in the spec."""
    from .onnx_engine import OnnxRuntimeEngine

    try:
        return OnnxRuntimeEngine(model)
    except LayerspecError as error:
        raise locate_layer(error, spec) from None


def _input_files(inputs, names: list[str]) -> tuple[list[str], list[str]]:
    """``(the file of each input, how messages name each input)``, in the
    model's input order; one ``.npz`` serves every input."""
    if _is_npz_path(inputs):
        return [str(inputs)] * len(names), [f"{inputs}[{name}]" for name in names]
    if isinstance(inputs, dict):
        paths = _in_input_order(inputs, names, what="file given for input")
    else:
        paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
        if len(paths) != len(names):
            raise DataError(f"the model has {len(names)} input{'s' if len(names) != 1 else ''} "
                            f"({', '.join(names)}), got {len(paths)} file{'s' if len(paths) != 1 else ''}: give one "
                            "per input in order, NAME=FILE.npy pairs, or one .npz keyed by input name")
    paths = [str(path) for path in paths]
    return paths, [path if len(names) == 1 else f"{path} (input '{name}')" for path, name in zip(paths, names)]


def _read_arrays(inputs, paths: list[str], names: list[str]) -> list[np.ndarray]:
    """Each input's array: ``.npy`` files memory-mapped, so a batch is read
    only when it runs; the members of an ``.npz`` read whole."""
    from .arrays import read_npy, read_npz

    if _is_npz_path(inputs):
        members = read_npz(inputs)
        extra = [key for key in members if key not in names]
        if extra:
            raise DataError(f"{inputs}: '{extra[0]}' is not an input of the model (inputs: {', '.join(names)})")
        return _in_input_order(members, names, what="array for input", where=f"{inputs}: ",
                               listing=f"the model's inputs: {', '.join(names)}; "
                                       f"the file has: {', '.join(members) or 'nothing'}")
    return [read_npy(path, mmap=True) for path in paths]


def _in_input_order(by_name: dict, names: list[str], what: str, where: str = "", listing: str = "") -> list:
    """``by_name``'s values in input order; a name that is no input, or an
    input without a value, is an error saying which."""
    unknown = [name for name in by_name if name not in names]
    if unknown:
        raise DataError(f"{where}no model input named '{unknown[0]}'{suggest(unknown[0], names)} "
                        f"(inputs: {', '.join(names)})")
    missing = [name for name in names if name not in by_name]
    if missing:
        raise DataError(f"{where}no {what} '{missing[0]}' ({listing or 'inputs: ' + ', '.join(names)})")
    return [by_name[name] for name in names]


def _set_weights(model, spec, weights, seed: int, allow_nonfinite: bool) -> None:
    if weights is not None:
        model.load_weights(weights, allow_nonfinite=allow_nonfinite)
        return
    try:
        model.init(seed=seed)
    except LayerspecError as error:
        raise locate(error, spec) from None


def _is_npz_path(output) -> bool:
    return isinstance(output, (str, os.PathLike)) and str(output).endswith(".npz")


def _refuse_npy_for_several_outputs(output, shapes: dict) -> None:
    """Several outputs go to one .npz; refused before any work is done."""
    names = list(shapes)
    if len(names) > 1 and output is not None and not _is_npz_path(output):
        raise DataError(f"{_shown(output)}: the model has {len(names)} outputs ({', '.join(names)}); write them to "
                        "one .npz keyed by output name (-o OUT.npz)")


def _shown(output) -> str:
    return str(output) if isinstance(output, (str, os.PathLike)) else "standard output"


def _about_files(error: LayerspecError, sources: list[str]) -> DataError:
    """An input-shape error, naming the file when there is one input."""
    if len(sources) == 1 and not error.message.startswith(sources[0]):
        return DataError(f"{sources[0]}: {error.message}")
    return DataError(error.message)


def _predict_into(model, feed, output, shapes: dict[str, tuple], single: bool, batch_size: int, on_batch,
                  sources: list[str]) -> dict[str, np.ndarray | None]:
    """Run the forward pass into memory or into ``output``."""
    from .arrays import npy_writer, write_npz

    names = list(shapes)
    source = sources if len(sources) > 1 else sources[0]
    if output is None or _is_npz_path(output):
        result = model.predict(feed, batch_size=batch_size, on_batch=on_batch, source=source)
        results = result if isinstance(result, list) else [result]
        outputs = dict(zip(names, results))
        if output is None:
            return outputs
        write_npz(output, outputs)
        return dict.fromkeys(names)
    with npy_writer(output, shapes[names[0]], model.dtype) as out:
        model.predict(feed, batch_size=batch_size, out=out[np.newaxis] if single else out, on_batch=on_batch,
                      source=source)
    return dict.fromkeys(names)
