"""``Sequential``: a stack of layers, its shapes, its weights, its forward pass."""

from __future__ import annotations

import functools
import math
import sys
import zlib
from typing import Iterable

import numpy as np

from .errors import ArgumentError, DataError, LayerspecError, ShapeError, ValueAtIndexError, WeightsError
from .layers.base import Layer, format_shape, snake_case
from .quiet import quietly

FLOAT_DTYPES = ("float32", "float64")


def auto_names(layers: Iterable[tuple[type, str | None]]) -> list[str]:
    """Keras-style names, counted per model: ``dense``, ``dense_1``, ...

    ``layers`` gives each layer's class and its explicit name (or None).
    Explicit names are kept; each type's unnamed layers are numbered in
    order, as Keras numbers them. An explicit name that is one of those
    numbers makes the model invalid (see :func:`name_clashes`: Keras refuses
    it); here the automatic name then moves on to the next free number, so
    that messages about such a model still tell its layers apart.
    """
    layers = list(layers)
    taken = {name for _, name in layers if name}
    counters: dict[str, int] = {}
    names = []
    for layer_class, explicit in layers:
        if explicit:
            names.append(explicit)
            continue
        base = snake_case(layer_class.__name__)
        while True:
            count = counters.get(base, 0)
            counters[base] = count + 1
            candidate = base if count == 0 else f"{base}_{count}"
            if candidate not in taken:
                break
        taken.add(candidate)
        names.append(candidate)
    return names


def name_clashes(layers: Iterable[tuple[type, str | None]]) -> list[tuple[int, int]]:
    """Where an explicit name is the automatic name Keras gives another layer.

    Keras numbers each type's unnamed layers without regard to the names
    given to others, so ``[Dense(), Dense(name="dense")]`` holds two layers
    called ``dense``, and Keras refuses the model ("should have unique
    names"). ``layers`` is as for :func:`auto_names`.

    Returns:
        ``(explicit index, automatic index)`` pairs, by explicit index.
    """
    layers = list(layers)
    explicit_index: dict[str, int] = {}
    for index, (_, explicit) in enumerate(layers):
        if explicit:
            explicit_index.setdefault(explicit, index)
    counters: dict[str, int] = {}
    clashes = []
    for index, (layer_class, explicit) in enumerate(layers):
        if explicit:
            continue
        base = snake_case(layer_class.__name__)
        count = counters.get(base, 0)
        counters[base] = count + 1
        name = base if count == 0 else f"{base}_{count}"
        if name in explicit_index:
            clashes.append((explicit_index[name], index))
    return sorted(clashes)


def weight_key(layer: Layer, weight) -> str:
    """A weight's key in weights files (docs/design.md §4): ``LAYER/WEIGHT``."""
    return f"{layer.name}/{weight.name}"


def automatic_name_holder(index: int, layer_class: type) -> str:
    """``layer 1 (Dense) has it as its automatic name``: the other side of a name clash."""
    from .registry import display_name

    return f"layer {index + 1} ({display_name(layer_class)}) has it as its automatic name"


def layer_label(index: int, layer: Layer) -> str:
    """How messages name a layer: ``layer 2 'dense_1' (Dense)``."""
    from .registry import display_name

    return f"layer {index + 1} '{layer.name}' ({display_name(type(layer))})"


class Sequential:
    """A linear stack of layers, built on the first input shape it sees.

    Args:
        layers: the layers, first to last.
        name: the model's name.
        input_shape: per-sample input shape (no batch axis); ``None`` sizes
            are unknown. Optional: without it the model builds on the first
            input it is called on.
        dtype: ``"float32"`` (default) or ``"float64"``: weights and
            computation.
    """

    def __init__(self, layers: Iterable[Layer] = (), name: str = "sequential", input_shape=None,
                 dtype: str = "float32"):
        self.layers: list[Layer] = []
        self.name = name
        self.dtype = _check_dtype(dtype)
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.built = False
        #: Refuse NaN and infinities in inputs, naming the first. Off in the
        #: Python API (NaN flows through, as in Keras); ``run`` turns it on
        #: for files unless --allow-nonfinite.
        self.check_finite_inputs = False
        #: ``(input_shape, output_shape)`` per layer, batch axis first.
        self.shapes: list[tuple[tuple, tuple]] = []
        #: ``(per-sample shape, dtype)`` of the inputs ``predict`` passes
        #: straight to the layers; set once the weights are known to be set.
        self._direct_input: tuple | None = None
        for layer in layers:
            self._append(layer)
        self._name_layers()  # once for all: naming per added layer would be quadratic

    def add(self, layer: Layer) -> None:
        """Append a layer, giving it a numbered name if it has none."""
        self._append(layer)
        try:
            self._name_layers()
        except LayerspecError:
            self.layers.pop()  # a refused layer is not left in the model
            raise

    def _append(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise LayerspecError(f"Sequential takes layerspec.Layer objects, got {type(layer).__name__}")
        if self.built:
            raise LayerspecError("cannot add layers to a model that is already built")
        self.layers.append(layer)

    def _name_layers(self) -> None:
        given = [(type(layer), layer._name if layer.has_explicit_name else None) for layer in self.layers]
        for explicit, automatic in name_clashes(given):
            layer = self.layers[explicit]
            raise LayerspecError(f"{layer_label(explicit, layer)}: duplicate layer name '{layer.name}' "
                                 f"({automatic_name_holder(automatic, type(self.layers[automatic]))})",
                                 argument="name", layer_index=explicit, code="duplicate-name")
        names = auto_names(given)
        seen = set()
        for index, (layer, name) in enumerate(zip(self.layers, names)):
            if name in seen:
                raise LayerspecError(f"{layer_label(index, layer)}: duplicate layer name '{name}'",
                                     argument="name", layer_index=index, code="duplicate-name")
            seen.add(name)
            if not layer.has_explicit_name:
                layer._auto_name = name

    # -- shapes -----------------------------------------------------------
    def build(self, input_shape=None) -> None:
        """Infer every layer's shapes from a per-sample ``input_shape``.

        Raises:
            ShapeError: naming the layer that cannot take its input.
        """
        if input_shape is not None:
            input_shape = tuple(input_shape)
        else:
            input_shape = self.input_shape
        if input_shape is None:
            raise ShapeError("the model's input shape is unknown: give it in the spec ('input: [...]'), "
                             "with --input-shape, or call the model on data")
        if not self.layers:
            raise ShapeError("the model has no layers")
        if self.built:
            if input_shape != self.input_shape:
                raise ShapeError(f"the model is built for input {format_shape(self.input_shape)}, "
                                 f"got {format_shape(input_shape)}")
            return
        shape = (None,) + input_shape
        shapes = []
        for index, layer in enumerate(self.layers):
            output = self._infer_layer(index, layer, shape)
            shapes.append((shape, output))
            shape = output
        self.input_shape = input_shape
        self.shapes = shapes
        self.built = True

    def _infer_layer(self, index: int, layer: Layer, shape: tuple) -> tuple:
        layer.dtype = self.dtype
        try:
            layer.build_for(shape)
            output = infer_output_shape(layer, shape)
        except LayerspecError as error:
            error.message = f"{layer_label(index, layer)}: {error.message}"
            error.layer_index = index
            raise
        except Exception as error:  # a user layer's own exception
            raise ShapeError(f"{layer_label(index, layer)}: {type(error).__name__}: {error}",
                             layer_index=index) from error
        return output

    @property
    def output_shape(self) -> tuple:
        """Output shape with the batch axis (``None``) first."""
        self._require_built()
        return self.shapes[-1][1]

    def _require_built(self) -> None:
        if not self.built:
            self.build()

    # -- weights ----------------------------------------------------------
    def weight_items(self):
        """``(key, weight)`` for every weight, keys ``LAYER/WEIGHT``."""
        self._require_built()
        for layer in self.layers:
            for weight in layer.weights:
                yield weight_key(layer, weight), weight

    def count_params(self) -> int:
        """Total parameters (exact; nothing is allocated)."""
        self._require_built()
        return sum(layer.count_params() for layer in self.layers)

    def init(self, seed: int | None = 0) -> "Sequential":
        """Draw every weight from its initializer.

        Each weight gets its own generator seeded from ``seed`` and its key,
        so a layer's initial weights do not change when another layer is
        added or removed.
        """
        self._require_built()
        for index, layer in enumerate(self.layers):
            for weight in layer.weights:
                key = weight_key(layer, weight)
                try:
                    weight.initialize(np.random.default_rng(_weight_seed(seed, key)))
                except LayerspecError as error:
                    # e.g. orthogonal asked of a bias: name the layer so a spec can point at it.
                    raise ShapeError(f"{layer_label(index, layer)}: weight '{weight.name}': {error.message}",
                                     layer_index=index) from None
            self._refuse_initialised(index, layer)
        return self

    def _refuse_initialised(self, index: int, layer: Layer) -> None:
        """Raise if ``layer``'s initializers drew values it cannot compute with,
        pointing at the initializer argument (``moving_variance_initializer``)."""
        problem = layer.weight_problem({weight.name: weight.value for weight in layer.weights})
        if problem is None:
            return
        name, reason = problem
        argument = f"{name}_initializer"
        raise ArgumentError(f"{layer_label(index, layer)}: weight '{name}' as initialised: {reason}",
                            argument=argument if hasattr(layer, argument) else None, layer_index=index)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Every weight's array by key; initialises nothing."""
        return {key: weight.numpy() for key, weight in self.weight_items()}

    def set_weights(self, arrays: dict, source: str = "weights", allow_nonfinite: bool = False) -> None:
        """Assign arrays by key. Every key must be present with its shape.

        Raises:
            WeightsError: naming the missing, extra or wrongly shaped key.
        """
        from .arrays import check_finite, convert_floats

        expected = dict(self.weight_items())
        missing = [key for key in expected if key not in arrays]
        if missing:
            weight = expected[missing[0]]
            raise WeightsError(f"{source}: missing weight '{missing[0]}' (expected shape {weight.shape})"
                               + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
        extra = [key for key in arrays if key not in expected]
        if extra:
            raise WeightsError(f"{source}: unexpected weight '{extra[0]}' with shape {tuple(np.shape(arrays[extra[0]]))}"
                               f"; the model's weights are: {', '.join(expected)}")
        converted = {}
        for key, weight in expected.items():
            array = arrays[key]
            if tuple(array.shape) != weight.shape:
                raise WeightsError(f"{source}: weight '{key}' has shape {tuple(array.shape)}, "
                                   f"expected {weight.shape}")
            array = convert_floats(array, weight.dtype, f"{source}: weight '{key}'")
            if not allow_nonfinite:
                check_finite(array, f"{source}: weight '{key}'")
            converted[key] = array
        for layer in self.layers:
            problem = layer.weight_problem({weight.name: converted[weight_key(layer, weight)]
                                            for weight in layer.weights})
            if problem is not None:
                name, reason = problem
                raise WeightsError(f"{source}: weight '{layer.name}/{name}': {reason}")
        for key, weight in expected.items():
            weight.assign(converted[key])

    def load_weights(self, path: str, allow_nonfinite: bool = False) -> None:
        """Load a weights ``.npz`` (docs/design.md §4) written by ``init`` or Keras."""
        from .arrays import read_npz

        self.set_weights(read_npz(path), source=str(path), allow_nonfinite=allow_nonfinite)

    def save_weights(self, path: str) -> None:
        """Write every weight to ``path`` as an ``.npz``, atomically."""
        from .arrays import write_npz

        write_npz(path, self.get_weights())

    def _ensure_weights(self) -> None:
        for layer in self.layers:
            for weight in layer._weights:
                if weight.value is None:
                    # Like Keras: a model used before init gets fresh random weights.
                    self.init(seed=None)
                    return

    # -- forward pass -----------------------------------------------------
    def __call__(self, inputs) -> np.ndarray:
        return self.predict(inputs)

    def predict(self, inputs, batch_size: int | None = None, out: np.ndarray | None = None,
                on_batch=None, source: str = "input") -> np.ndarray:
        """Run the forward pass, ``batch_size`` rows at a time.

        Args:
            inputs: an array of shape ``(batch, *input_shape)`` (or a single
                sample without the batch axis, which is batched and
                unbatched again).
            batch_size: rows per step; all at once by default.
            out: optional preallocated output (e.g. a memory-mapped file).
            on_batch: called with the number of rows after each batch.
            source: how error messages name the inputs (a file name).

        Raises:
            DataError: for values that do not convert to the model's dtype,
                or NaN/infinity when ``check_finite_inputs`` is set, naming
                the first bad index in the whole input.
        """
        direct = self._direct_input
        if (direct is not None and out is None and on_batch is None and type(inputs) is np.ndarray
                and inputs.shape[1:] == direct[0] and inputs.dtype == direct[1]
                and 0 < len(inputs) <= (batch_size or len(inputs)) and inputs.flags.c_contiguous
                and not self.check_finite_inputs):
            # The common call: one batch of the model's own dtype and fixed
            # input shape, C-ordered, no NaN check, weights set (only then is
            # ``_direct_input`` set). It skips the general path, whose checks
            # cost a batch-1 MLP a tenth of its time: Python run right after
            # matrix products that have flushed the caches is several times
            # slower than in a micro-benchmark.
            return self._forward_direct(inputs, source)
        inputs, single = self.as_batch(inputs)
        self._ensure_weights()
        if self._direct_input is None:
            self._direct_input = self._direct_input_form()
        rows = inputs.shape[0]
        step = max(batch_size or rows, 1)
        output_shape = self.runtime_output_shape(inputs.shape, source)
        prepare = self._batch_preparation(inputs, source)
        if out is None and 0 < rows <= step:
            # One batch: its result is the output, with no copy into a buffer.
            out = self._forward_rows(inputs, 0, source, prepare)
            if on_batch is not None:
                on_batch(rows)
            return out[0] if single else out
        if out is None:
            out = np.empty((rows,) + output_shape, dtype=self.dtype)
        for start in range(0, rows, step):
            stop = min(start + step, rows)
            out[start:stop] = self._forward_rows(inputs[start:stop], start, source, prepare)
            if on_batch is not None:
                on_batch(stop - start)
        return out[0] if single else out

    def _direct_input_form(self) -> tuple | None:
        """``(per-sample shape, dtype)`` of inputs that need no check or
        conversion; None where every input does (unknown sizes, integer ids)."""
        if None in self.input_shape or self.layers[0].input_kind == "int":
            return None
        return self.input_shape, np.dtype(self.dtype)

    def _forward_direct(self, batch: np.ndarray, source: str) -> np.ndarray:
        """:meth:`forward` on a ready batch, errors as in :meth:`_forward_rows`."""
        try:
            return quietly(self.forward, batch)
        except LayerspecError:
            raise
        except Exception as error:
            raise _failed_forward_pass(source, batch, error) from error

    def _forward_rows(self, rows: np.ndarray, offset: int, source: str, prepare) -> np.ndarray:
        """One batch (``rows`` from row ``offset`` of the input): prepared by
        ``prepare`` (see :meth:`_batch_preparation`), then the forward pass."""
        try:
            batch = rows if prepare is None else prepare(rows)
            # Overflow to inf (or NaN flowing through, when allowed) is the
            # result, as in Keras; NumPy's warnings about it are noise.
            return quietly(self.forward, batch)
        except ValueAtIndexError as error:
            # Errors name the row in the whole input, not in this batch.
            raise error.shifted(offset) from None
        except LayerspecError:
            raise
        except Exception as error:
            raise _failed_forward_pass(source, rows, error) from error

    def runtime_output_shape(self, input_shape: tuple, source: str) -> tuple:
        """:meth:`concrete_output_shape`, a misfit reported as a DataError about ``source``."""
        try:
            return self.concrete_output_shape(input_shape)
        except ShapeError as error:
            raise DataError(f"{source}: {error.message}") from None

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """One batch through every layer; no checks, no conversion."""
        for layer in self.layers:
            batch = layer.call(batch)
        return batch

    def as_batch(self, inputs) -> tuple[np.ndarray, bool]:
        """``(batched inputs, whether a single sample was given)``.

        Builds the model from the inputs' shape if it has no input shape.
        Raises DataError if the shape does not fit the model's input.
        """
        inputs = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
        if not self.built and self.input_shape is None:
            if inputs.ndim < 1:
                raise DataError("input must have a batch axis; got a 0-d array")
            self.build(tuple(inputs.shape[1:]))
        self._require_built()
        expected = self.input_shape
        if inputs.ndim == len(expected) + 1 and inputs.shape[1:] == expected:  # the common case
            return inputs, False
        if inputs.ndim == len(expected) and _fits(inputs.shape, expected):
            return inputs[np.newaxis], True
        if inputs.ndim != len(expected) + 1 or not _fits(inputs.shape[1:], expected):
            raise DataError(f"input has shape {tuple(inputs.shape)}, expected (batch, "
                            f"{', '.join('None' if s is None else str(s) for s in expected)})"
                            .replace(", )", ")"))
        return inputs, False

    def _batch_preparation(self, inputs: np.ndarray, source: str):
        """What each batch of ``inputs`` needs before the layers, decided once
        per call: ``prepare(rows) -> batch`` (conversion to what the first
        layer takes, then the NaN check if asked for), or None for nothing.

        An input dtype the model cannot take at all (complex, strings) is
        refused here, before the first batch, even when there are no rows;
        values (an integer too large to be exact, NaN) can only be checked
        batch by batch, as each batch is converted.
        """
        integer_ids = self.layers[0].input_kind == "int"
        check_finite = self.check_finite_inputs and not integer_ids  # converted ids cannot be NaN
        convert = self._batch_converter(inputs, integer_ids)
        if convert is not None:
            convert(inputs[:0], source)  # the dtype's own checks, on no values
        elif not check_finite:
            return None

        def prepare(rows: np.ndarray) -> np.ndarray:
            batch = rows if convert is None else convert(rows, source)
            if check_finite:
                _check_finite_batch(batch, source)
            return batch

        return prepare

    def _batch_converter(self, inputs: np.ndarray, integer_ids: bool):
        """``convert(rows, source)`` for batches of ``inputs``, or None when
        every batch already is what the first layer takes (the right dtype,
        C-ordered: then so is every run of its rows)."""
        convert_floats, convert_integers = _converters()
        target = np.dtype(np.int64 if integer_ids else self.dtype)
        if inputs.dtype == target and inputs.flags.c_contiguous:
            return None
        if integer_ids:
            return convert_integers
        return lambda rows, source: convert_floats(rows, target, source)

    def concrete_output_shape(self, input_shape: tuple) -> tuple:
        """Per-sample output shape for a concrete batch shape.

        Raises:
            ShapeError: naming the layer, when a size that was unknown at
                build time turns out not to fit (a Reshape that does not
                divide, a kernel longer than the sequence).
        """
        shape = (None,) + tuple(input_shape[1:])
        if None not in self.input_shape:
            return tuple(self.output_shape[1:])
        for index, layer in enumerate(self.layers):
            try:
                shape = infer_output_shape(layer, shape)
            except LayerspecError as error:
                raise ShapeError(f"{layer_label(index, layer)}: {error.message}", layer_index=index) from None
        return tuple(shape[1:])

    # -- reporting --------------------------------------------------------
    def summary(self, print_fn=None):
        """Show the summary table, as Keras does, and return the summary as data.

        ``model.summary()`` on a line of its own prints the table, as in
        Keras. Where the result is used instead — printed, assigned, indexed
        (``model.summary()["total_params"]``) — nothing is printed here, so
        ``print(model.summary())`` shows the table once. In a REPL or a
        notebook the returned object displays as the table.

        Args:
            print_fn: Keras's argument: print the table with this function
                (``logger.info``, say), whether or not the result is used.
        Returns:
            A :class:`~layerspec.summary.Summary`: a dict with the JSON
            summary's fields, whose ``str()`` is the table.
        """
        from .summary import summarize

        data = summarize(self)
        if print_fn is not None:
            print_fn(str(data))
        elif _result_discarded(sys._getframe(1)):
            print(data)
        return data


def _result_discarded(frame) -> bool:
    """Whether the call ``frame`` is making is an expression statement whose
    value is thrown away (the next instruction pops it): ``model.summary()``
    alone on a line of a script, where Keras's summary prints."""
    import dis

    following = next((instruction for instruction in dis.get_instructions(frame.f_code)
                      if instruction.offset > frame.f_lasti), None)
    return following is not None and following.opname == "POP_TOP"


@functools.lru_cache(maxsize=None)
def _converters():
    """``(convert_floats, convert_integers)``, imported once: an import
    statement inside the per-batch path costs microseconds every batch."""
    from .arrays import convert_floats, convert_integers

    return convert_floats, convert_integers


def _check_finite_batch(batch: np.ndarray, source: str) -> None:
    """Refuse NaN and infinities, naming the first; one reduction when there are none."""
    with np.errstate(all="ignore"):
        # A sum of finite values may overflow: then the exact check decides.
        if np.isfinite(batch.sum()):
            return
    from .arrays import check_finite

    check_finite(batch, source)


def _failed_forward_pass(source: str, batch: np.ndarray, error: Exception) -> DataError:
    """The error for a user layer's ``call`` failing its own way."""
    return DataError(f"{source}: the forward pass failed on a batch of shape {tuple(batch.shape)}: "
                     f"{type(error).__name__}: {error}")


def _fits(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(e is None or s == e for s, e in zip(shape, expected))


def _weight_seed(seed: int | None, key: str):
    if seed is None:
        return None
    return [seed, zlib.crc32(key.encode("utf-8"))]


def _check_dtype(dtype) -> str:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in FLOAT_DTYPES:
        raise LayerspecError(f"dtype must be float32 or float64, got '{dtype}'", code="invalid-value")
    return name


def infer_output_shape(layer: Layer, input_shape: tuple) -> tuple:
    """``layer.compute_output_shape``, or a probe run if the layer has none."""
    try:
        return tuple(layer.compute_output_shape(tuple(input_shape)))
    except NotImplementedError:
        return probe_output_shape(layer, tuple(input_shape))


def probe_output_shape(layer: Layer, input_shape: tuple) -> tuple:
    """Infer an output shape by running ``layer`` on small zero batches.

    Unknown sizes are tried at two lengths; output axes whose size follows
    them are reported as unknown (``None``). Weights without values get
    zeros for the probe and are reset afterwards, so nothing stays allocated.
    """
    outputs = [_probe_once(layer, input_shape, fill) for fill in (2, 3)]
    first, second = (out.shape for out in outputs)
    if len(first) != len(second):
        raise ShapeError("output rank depends on the input size; give the layer a compute_output_shape")
    return (None,) + tuple(a if a == b else None for a, b in zip(first[1:], second[1:]))


def _probe_once(layer: Layer, input_shape: tuple, fill: int) -> np.ndarray:
    shape = tuple(fill if size is None else size for size in input_shape)
    if math.prod(shape) > 10_000_000:
        raise ShapeError(f"cannot infer the output shape of a layer without compute_output_shape on input "
                         f"{format_shape(input_shape)}: the probe batch would be too large")
    dtype = np.int64 if layer.input_kind == "int" else layer.dtype
    unset = [weight for weight in layer.weights if weight.value is None]
    for weight in unset:
        weight.value = np.zeros(weight.shape, weight.dtype)
    try:
        result = np.asarray(layer.call(np.zeros(shape, dtype=dtype)))
    finally:
        for weight in unset:
            weight.value = None
    return result
