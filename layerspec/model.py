"""Models: a graph of layer applications, its shapes, its weights, its forward pass.

:class:`Model` is any directed acyclic graph of layers (skip connections,
several inputs and outputs, shared layers), built as in Keras's functional
API or from a spec. :class:`Sequential` is the chain case: the same class,
the same walker, a graph whose every node reads the one above.
"""

from __future__ import annotations

import functools
import math
import zlib
from typing import Any, Iterable

import numpy as np

from .errors import ArgumentError, DataError, LayerspecError, ShapeError, ValueAtIndexError, WeightsError
from .graph import Graph, GraphInput, Node, chain, split_source
from .layers.base import Layer, format_shape
from .naming import (automatic_name_holder, auto_names, layer_entry, name_clashes, name_wrapped_layers, node_label,
                     reuse_names)
from .quiet import quietly

FLOAT_DTYPES = ("float32", "float64")


def weight_key(layer: Layer, weight) -> str:
    """A weight's key in weights files (docs/design.md §4): ``LAYER/WEIGHT``."""
    return f"{layer.name}/{weight.name}"


class Model:
    """A graph of layers between inputs and outputs, as Keras's functional ``Model``.

    Made from symbolic tensors, as in Keras::

        inputs = layerspec.Input((32,))
        hidden = layerspec.layers.Dense(16, activation="relu")(inputs)
        model = layerspec.Model(inputs, layerspec.layers.Dense(1)(hidden))

    Args:
        inputs: the model's inputs (from :func:`layerspec.Input`): one, a
            list, or a dict keyed by name.
        outputs: symbolic tensors the model computes: one, a list or a dict
            (``predict`` answers in the same form).
        name: the model's name.
        dtype: ``"float32"`` (default) or ``"float64"``.
        graph: instead of ``inputs``/``outputs``, a ready
            :class:`~layerspec.graph.Graph` (how specs build models).
        is_graph: whether summaries show it as a graph (input rows and a
            "Connected to" column); default true.
    """

    def __init__(self, inputs=None, outputs=None, name: str = "model", dtype: str = "float32", *,
                 graph: Graph | None = None, is_graph: bool = True):
        output_form: Any = "list"
        if graph is None:
            from .functional import graph_from_tensors

            if inputs is None or outputs is None:
                raise LayerspecError("Model needs inputs and outputs (symbolic tensors from layerspec.Input)")
            graph, output_form = graph_from_tensors(inputs, outputs)
        self.name = name
        self.dtype = _check_dtype(dtype)
        self.is_graph = is_graph
        self._output_form = output_form
        self.built = False
        #: Refuse NaN and infinities in inputs, naming the first. Off in the
        #: Python API (NaN flows through, as in Keras); ``run`` turns it on
        #: for files unless --allow-nonfinite.
        self.check_finite_inputs = False
        #: ``(per-sample shape, dtype)`` of the input ``predict`` passes
        #: straight to the layers; set once the weights are known to be set.
        self._direct_input: tuple | None = None
        #: A spec's model arguments in effect and its variant (``args``,
        #: ``--variant``, ``--set``), which summaries show.
        self.args: dict[str, Any] = {}
        self.variant: str | None = None
        #: Output names given by the spec where a model output is a block
        #: application's result (its layer's name → the application's).
        self.output_aliases: dict[str, str] = {}
        #: What computes a batch instead of the layers, or None for the
        #: layers themselves: a callable taking one batch per input and
        #: returning the list of outputs (``run --engine onnxruntime``; see
        #: :mod:`layerspec.onnx_engine`).
        self.engine = None
        self._set_graph(graph)

    #: Whether a big batch may be split across threads, one per core
    #: (:mod:`layerspec.parallel`); False: every pass runs on the caller's
    #: thread.
    parallel = True

    def _set_graph(self, graph: Graph) -> None:
        #: Per-sample input shapes → (MACs per sample, steps in Python,
        #: output elements per sample), for
        #: deciding how to split a batch (:meth:`_workers_for`).
        self._split_facts: dict = {}
        _pick_first_outputs(graph)
        self.graph = graph
        self._layers = _unique_layers(graph.nodes)
        self._name_nodes()

    # -- structure ----------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        """The layer applications, in computing order."""
        return self.graph.nodes

    @property
    def layers(self) -> list[Layer]:
        """Every layer once, in the order of its first application."""
        return list(self._layers)

    @property
    def input_names(self) -> list[str]:
        return [item.name for item in self.graph.inputs]

    @property
    def output_names(self) -> list[str]:
        names = [self.graph.tensor_name(tensor) for tensor in self.graph.outputs]
        return [self.output_aliases.get(name, name) for name in names]

    def _name_nodes(self) -> None:
        """Keras's automatic names for unnamed layers; reuse nodes named after their layer."""
        layers = self._layers
        given = [layer_entry(layer) for layer in layers]  # with the layers they wrap, which Keras numbers too
        for node in self.nodes:
            if node.reuses is None:
                node.name = node.layer.name  # for messages until the automatic names are known
        for explicit, automatic in name_clashes(given):
            layer = layers[explicit]
            raise LayerspecError(f"{self._label_of(layer)}: duplicate layer name '{layer.name}' "
                                 f"({automatic_name_holder(self._first_node(layers[automatic]).index, type(layers[automatic]))})",
                                 argument="name", layer_index=self._first_node(layer).index, code="duplicate-name")
        for layer, name in zip(layers, auto_names(given)):
            if not layer.has_explicit_name:
                layer._auto_name = name
        name_wrapped_layers(layers)
        repeats = [node for node in self.nodes if node.reuses is not None]
        taken = {layer.name for layer in layers} | set(self.input_names)
        names = reuse_names([(node.reuses.layer.name, node.name or None) for node in repeats], taken)
        for node, name in zip(repeats, names):
            node.name = name
        for node in self.nodes:
            if node.reuses is None:
                node.name = node.layer.name
        self._refuse_duplicate_names()

    def _refuse_duplicate_names(self) -> None:
        seen = {name: None for name in self.input_names}
        for node in self.nodes:
            if node.name in seen:
                other = seen[node.name]
                holder = f"{node_label(other)} has it" if other is not None else "a model input has it"
                raise LayerspecError(f"{node_label(node)}: duplicate layer name '{node.name}' ({holder})",
                                     argument="name", layer_index=node.index, code="duplicate-name")
            seen[node.name] = node

    def _first_node(self, layer: Layer) -> Node:
        return next(node for node in self.nodes if node.layer is layer)

    def _label_of(self, layer: Layer) -> str:
        return node_label(self._first_node(layer))

    # -- shapes -------------------------------------------------------------
    @property
    def input_shapes(self) -> list[tuple | None]:
        """Each input's per-sample shape (None while unknown)."""
        return [item.shape for item in self.graph.inputs]

    @property
    def input_shape(self) -> tuple | None:
        """The per-sample input shape of a one-input model (None while unknown)."""
        self._require_one("input", self.graph.inputs)
        return self.graph.inputs[0].shape

    @property
    def output_shapes(self) -> list[tuple]:
        """Each output's shape, batch axis (``None``) first."""
        self._require_built()
        return [self._tensor_shape(tensor) for tensor in self.graph.outputs]

    @property
    def output_shape(self) -> tuple:
        """The output shape of a one-output model, batch axis (``None``) first."""
        self._require_one("output", self.graph.outputs)
        return self.output_shapes[0]

    @property
    def shapes(self) -> list[tuple]:
        """``(input shape(s), output shape)`` per node, batch axis first."""
        self._require_built()
        return [(node.input_shape, node.output_shape) for node in self.nodes]

    def _tensor_shape(self, source) -> tuple:
        tensor, index = split_source(source)
        producer = self.graph.producer(tensor)
        if isinstance(producer, GraphInput):
            return (None,) + tuple(producer.shape)
        return producer.output_shape if index is None else producer.output_shape[index]

    def _require_one(self, what: str, items) -> None:
        if len(items) != 1:
            raise LayerspecError(f"model '{self.name}' has {len(items)} {what}s; use {what}_shapes")

    def build(self, input_shape=None) -> None:
        """Infer every node's shapes from per-sample input shapes.

        Args:
            input_shape: for a one-input model its shape; else a list (in
                input order) or a dict (by name). Default: the shapes the
                inputs were declared with.

        Raises:
            ShapeError: naming the layer that cannot take its input.
        """
        shapes = self._resolve_input_shapes(input_shape)
        if not self.nodes:
            raise ShapeError("the model has no layers")
        if self.built:
            if shapes != self.input_shapes:
                raise ShapeError(f"the model is built for input {_shapes_text(self.input_shapes)}, "
                                 f"got {_shapes_text(shapes)}")
            return
        for item, shape in zip(self.graph.inputs, shapes):
            item.shape = shape
        try:
            self.graph.walk([(None,) + shape for shape in shapes], self._build_node)
            self.graph.plan_masks(_mask_shape)
        except LayerspecError:
            for node in self.nodes:
                node.input_shape = node.output_shape = node.input_mask = node.output_mask = None
            raise
        self.built = True

    def _resolve_input_shapes(self, given) -> list[tuple]:
        declared = self.input_shapes
        if given is None:
            shapes = declared
        elif isinstance(given, dict):
            unknown = [name for name in given if name not in self.input_names]
            if unknown:
                raise ShapeError(f"the model has no input named '{unknown[0]}' (inputs: "
                                 f"{', '.join(self.input_names)})")
            shapes = [given.get(name, shape) for name, shape in zip(self.input_names, declared)]
        elif len(declared) == 1 and not (given and isinstance(given[0], (tuple, list))):
            shapes = [given]
        else:
            shapes = list(given)
            if len(shapes) != len(declared):
                raise ShapeError(f"the model has {len(declared)} inputs, got {len(shapes)} shapes")
        missing = [name for name, shape in zip(self.input_names, shapes) if shape is None]
        if missing:
            what = "input shape is" if len(declared) == 1 else f"input '{missing[0]}' has no shape: its shape is"
            raise ShapeError(f"the model's {what} unknown: give it in the spec ('input: [...]'), "
                             "with --input-shape, or call the model on data")
        return [tuple(shape) for shape in shapes]

    def _build_node(self, node: Node, shape):
        layer = node.layer
        try:
            if node.reuses is None:
                layer.dtype = self.dtype
                layer.build_for(shape)
            else:
                check_reuse_fits(layer, shape)
            output = infer_output_shape(layer, shape)
        except LayerspecError as error:
            error.message = f"{node_label(node)}: {error.message}"
            error.layer_index = node.index
            raise
        except Exception as error:  # a user layer's own exception
            raise ShapeError(f"{node_label(node)}: {type(error).__name__}: {error}",
                             layer_index=node.index) from error
        node.input_shape, node.output_shape = shape, output
        return output

    def _require_built(self) -> None:
        if not self.built:
            self.build()

    def concrete_output_shapes(self, input_shapes: list[tuple]) -> list[tuple]:
        """Per-sample output shapes for concrete batch shapes (one per input).

        Raises:
            ShapeError: naming the layer, when a size that was unknown at
                build time turns out not to fit (a Reshape that does not
                divide, a kernel longer than the sequence).
        """
        if all(None not in shape for shape in self.input_shapes):
            return [shape[1:] for shape in self.output_shapes]

        def infer(node, shape):
            try:
                return infer_output_shape(node.layer, shape)
            except LayerspecError as error:
                raise ShapeError(f"{node_label(node)}: {error.message}", layer_index=node.index) from None

        outputs = self.graph.walk([(None,) + tuple(shape[1:]) for shape in input_shapes], infer)
        return [tuple(shape[1:]) for shape in outputs]

    def concrete_output_shape(self, input_shape: tuple) -> tuple:
        """:meth:`concrete_output_shapes` of a one-input, one-output model."""
        return self.concrete_output_shapes([input_shape])[0]

    def runtime_output_shapes(self, input_shapes: list[tuple], source: str) -> list[tuple]:
        """:meth:`concrete_output_shapes`, a misfit reported as a DataError about ``source``."""
        try:
            return self.concrete_output_shapes(input_shapes)
        except ShapeError as error:
            raise DataError(f"{source}: {error.message}") from None

    def runtime_output_shape(self, input_shape: tuple, source: str) -> tuple:
        """:meth:`runtime_output_shapes` of a one-input, one-output model."""
        return self.runtime_output_shapes([input_shape], source)[0]

    # -- weights ------------------------------------------------------------
    def weight_items(self):
        """``(key, weight)`` for every weight, keys ``LAYER/WEIGHT``; a shared
        layer's weights once."""
        self._require_built()
        for layer in self._layers:
            for weight in layer.weights:
                yield weight_key(layer, weight), weight

    def count_params(self) -> int:
        """Total parameters (exact; nothing is allocated); a shared layer's once."""
        self._require_built()
        return sum(layer.count_params() for layer in self._layers)

    def init(self, seed: int | None = 0) -> "Model":
        """Draw every weight from its initializer.

        Each weight gets its own generator seeded from ``seed`` and its key,
        so a layer's initial weights do not change when another layer is
        added or removed.
        """
        self._require_built()
        for layer in self._layers:
            node = self._first_node(layer)
            for weight in layer.weights:
                key = weight_key(layer, weight)
                try:
                    weight.initialize(np.random.default_rng(_weight_seed(seed, key)))
                except LayerspecError as error:
                    # e.g. orthogonal asked of a bias: name the layer so a spec can point at it.
                    raise ShapeError(f"{node_label(node)}: weight '{weight.name}': {error.message}",
                                     layer_index=node.index) from None
            self._refuse_initialised(node)
        return self

    def _refuse_initialised(self, node: Node) -> None:
        """Raise if a layer's initializers drew values it cannot compute with,
        pointing at the initializer argument (``moving_variance_initializer``)."""
        layer = node.layer
        problem = layer.weight_problem({weight.name: weight.value for weight in layer.weights})
        if problem is None:
            return
        name, reason = problem
        argument = f"{name}_initializer"
        raise ArgumentError(f"{node_label(node)}: weight '{name}' as initialised: {reason}",
                            argument=argument if hasattr(layer, argument) else None, layer_index=node.index)

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
        for layer in self._layers:
            problem = layer.weight_problem({weight.name: converted[weight_key(layer, weight)]
                                            for weight in layer.weights})
            if problem is not None:
                name, reason = problem
                raise WeightsError(f"{source}: weight '{layer.name}/{name}': {reason}")
        for key, weight in expected.items():
            weight.assign(converted[key])

    def load_weights(self, path, allow_nonfinite: bool = False) -> None:
        """Load a weights ``.npz`` (docs/design.md §4) written by ``init`` or Keras."""
        from .arrays import read_npz

        self.set_weights(read_npz(path), source=str(path), allow_nonfinite=allow_nonfinite)

    def save_weights(self, path) -> None:
        """Write every weight to ``path`` (a file name or a binary stream) as an ``.npz``, atomically."""
        from .arrays import write_npz

        write_npz(path, self.get_weights())

    def _ensure_weights(self) -> None:
        for layer in self._layers:
            for weight in layer._weights:
                if weight.value is None:
                    # Like Keras: a model used before init gets fresh random weights.
                    self.init(seed=None)
                    return

    # -- forward pass -------------------------------------------------------
    def __call__(self, inputs):
        return self.predict(inputs)

    def forward(self, inputs):
        """One batch through every layer; no checks, no conversion.

        Args:
            inputs: the batch of a one-input model, or a list with one batch
                per input.
        Returns:
            The output batch, or a list of them for several outputs.
        """
        batches = [inputs] if len(self.graph.inputs) == 1 else inputs
        outputs = self._walk_forward(batches)
        return outputs[0] if len(outputs) == 1 else outputs

    def predict(self, inputs, batch_size: int | None = None, out=None, on_batch=None, source="input"):
        """Run the forward pass, ``batch_size`` rows at a time.

        Args:
            inputs: for a one-input model an array of shape
                ``(batch, *input_shape)`` (or a single sample without the
                batch axis, which is batched and unbatched again); for
                several inputs a list in input order or a dict by name.
            batch_size: rows per step; all at once by default.
            out: optional preallocated output (e.g. a memory-mapped file);
                a list of them for several outputs.
            on_batch: called with the number of rows after each batch.
            source: how error messages name the inputs (a file name); a list
                with one per input for several.

        Returns:
            The output array; for several outputs a list (or a dict, when
            the model's outputs were given as one).

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
        sources = self._sources(source)
        arrays, single = self.as_batches(inputs, sources)
        self._ensure_weights()
        if self._direct_input is None:
            self._direct_input = self._direct_input_form()
        rows = len(arrays[0])
        step = max(batch_size or rows, 1)
        output_shapes = self.runtime_output_shapes([array.shape for array in arrays], sources[0])
        prepares = [self._batch_preparation(number, array, name)
                    for number, (array, name) in enumerate(zip(arrays, sources))]
        if out is None and 0 < rows <= step:
            # One batch: its result is the output, with no copy into a buffer.
            results = self._forward_rows(arrays, 0, sources, prepares)
            if on_batch is not None:
                on_batch(rows)
            return self._answer(results, single)
        outs = [out] if out is not None and len(output_shapes) == 1 and not isinstance(out, (list, tuple)) else out
        if outs is None:
            outs = [np.empty((rows,) + shape, dtype=self.dtype) for shape in output_shapes]
        for start in range(0, rows, step):
            stop = min(start + step, rows)
            results = self._forward_rows([array[start:stop] for array in arrays], start, sources, prepares)
            for target, result in zip(outs, results):
                target[start:stop] = result
            if on_batch is not None:
                on_batch(stop - start)
        return self._answer(outs, single)

    def _sources(self, source) -> list[str]:
        """How messages name each input."""
        if isinstance(source, (list, tuple)):
            return list(source)
        if len(self.graph.inputs) == 1:
            return [source]
        return [f"{source} '{name}'" for name in self.input_names]

    def _answer(self, results: list, single: bool):
        """The outputs in the form the model's outputs were given."""
        if single:
            results = [result[0] for result in results]
        if len(results) == 1 and self._output_form in ("one", "list") and len(self.graph.outputs) == 1:
            return results[0]
        if isinstance(self._output_form, tuple):
            return dict(zip(self._output_form, results))
        return results

    def _direct_input_form(self) -> tuple | None:
        """``(per-sample shape, dtype)`` of inputs that need no check or
        conversion; None where every input does (unknown sizes, integer ids,
        several inputs or outputs)."""
        if len(self.graph.inputs) != 1 or len(self.graph.outputs) != 1:
            return None
        shape = self.input_shapes[0]
        if None in shape or self._integer_input(0):
            return None
        return shape, np.dtype(self.dtype)

    def _forward_direct(self, batch: np.ndarray, source: str) -> np.ndarray:
        """:meth:`forward` on a ready batch, errors as in :meth:`_forward_rows`."""
        try:
            return quietly(self.forward, batch)
        except LayerspecError:
            raise
        except Exception as error:
            raise _failed_forward_pass(source, batch, error) from error

    def _forward_rows(self, arrays: list, offset: int, sources: list[str], prepares: list) -> list:
        """One batch (rows from row ``offset`` of each input), each input
        prepared by its ``prepares`` entry (see :meth:`_batch_preparation`),
        then the forward pass; the outputs as a list."""
        try:
            batches = [rows if prepare is None else prepare(rows) for rows, prepare in zip(arrays, prepares)]
            # Overflow to inf (or NaN flowing through, when allowed) is the
            # result, as in Keras; NumPy's warnings about it are noise.
            results = quietly(self._walk_forward, batches)
        except ValueAtIndexError as error:
            # Errors name the row in the whole input, not in this batch.
            raise error.shifted(offset) from None
        except LayerspecError:
            raise
        except Exception as error:
            raise _failed_forward_pass(sources[0], arrays[0], error) from error
        return results

    def _walk_forward(self, batches: list) -> list:
        if self.engine is not None:
            return self.engine(batches)
        workers = self._workers_for(batches)
        if workers > 1:
            from .parallel import walk_in_slices

            return walk_in_slices(self._walk_layers, batches, workers)
        return self.graph.walk(batches, None)

    def _walk_layers(self, batches: list) -> list:
        return self.graph.walk(batches, None)

    def _workers_for(self, batches: list) -> int:
        """How many threads share this batch (see :mod:`layerspec.parallel`);
        1 for batches too small to split, decided before anything else."""
        rows = len(batches[0])
        if rows < 32 or not self.parallel:  # two slices of parallel.MIN_ROWS_PER_WORKER
            return 1
        from .parallel import steps_in_python, workers_for

        sample_shapes = tuple(tuple(batch.shape[1:]) for batch in batches)
        known = self._split_facts.get(sample_shapes)
        if known is None:
            from .costs import work_per_sample

            macs, elements = work_per_sample(self, list(sample_shapes))
            known = self._split_facts[sample_shapes] = (macs, steps_in_python(self), elements)
        macs, recurrent, elements = known
        return workers_for(rows, macs, recurrent, elements=elements)

    def as_batches(self, inputs, sources: list[str] | None = None) -> tuple[list[np.ndarray], bool]:
        """``(one batch per input, whether a single sample was given)``.

        Builds the model from the inputs' shapes if its input shapes are
        unknown. Raises DataError naming the input whose shape does not fit,
        or when the inputs' row counts differ.
        """
        sources = sources or self._sources("input")
        arrays = [value if isinstance(value, np.ndarray) else np.asarray(value)
                  for value in self._inputs_in_order(inputs)]
        if not self.built and any(shape is None for shape in self.input_shapes):
            for array, name in zip(arrays, sources):
                if array.ndim < 1:
                    raise DataError(f"{name}: input must have a batch axis; got a 0-d array")
            self.build([tuple(array.shape[1:]) for array in arrays])
        self._require_built()
        batched = [_as_batch(array, expected, name) for array, expected, name in
                   zip(arrays, self.input_shapes, sources)]
        singles = {single for _, single in batched}
        if len(singles) > 1:
            raise DataError("give every input a batch axis, or none (one sample)")
        arrays = [array for array, _ in batched]
        rows = {len(array) for array in arrays}
        if len(rows) > 1:
            counts = ", ".join(f"{name}: {len(array)}" for name, array in zip(sources, arrays))
            raise DataError(f"the inputs have different numbers of rows ({counts})")
        return arrays, singles.pop()

    def as_batch(self, inputs) -> tuple[np.ndarray, bool]:
        """:meth:`as_batches` of a one-input model: ``(batch, single)``."""
        arrays, single = self.as_batches(inputs)
        return arrays[0], single

    def _inputs_in_order(self, inputs) -> list:
        names = self.input_names
        if isinstance(inputs, dict):
            unknown = [name for name in inputs if name not in names]
            if unknown:
                raise DataError(f"no model input named '{unknown[0]}' (inputs: {', '.join(names)})")
            missing = [name for name in names if name not in inputs]
            if missing:
                raise DataError(f"missing input '{missing[0]}' (the model's inputs: {', '.join(names)})")
            return [inputs[name] for name in names]
        if len(names) == 1:
            return [inputs]
        if not isinstance(inputs, (list, tuple)) or len(inputs) != len(names):
            raise DataError(f"the model takes {len(names)} inputs ({', '.join(names)}): give a list or a dict")
        return list(inputs)

    def _integer_input(self, number: int) -> bool:
        """Whether input ``number`` holds integer ids: declared so, or read
        only by layers that take ids (an Embedding)."""
        dtype = self.graph.inputs[number].dtype
        if dtype is not None:
            return np.dtype(dtype).kind in "iu"
        readers = self.graph.consumers()[number]
        return bool(readers) and all(node.layer.input_kind == "int" for node in readers)

    def _batch_preparation(self, number: int, inputs: np.ndarray, source: str):
        """What each batch of input ``number`` needs before the layers,
        decided once per call: ``prepare(rows) -> batch`` (conversion to what
        the layers take, then the NaN check if asked for), or None for nothing.

        An input dtype the model cannot take at all (complex, strings) is
        refused here, before the first batch, even when there are no rows;
        values (an integer too large to be exact, NaN) can only be checked
        batch by batch, as each batch is converted.
        """
        integer_ids = self._integer_input(number)
        check_finite = self.check_finite_inputs and not integer_ids  # converted ids cannot be NaN
        convert = self._batch_converter(number, inputs, integer_ids)
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

    def _batch_converter(self, number: int, inputs: np.ndarray, integer_ids: bool):
        """``convert(rows, source)`` for batches of ``inputs``, or None when
        every batch already is what the layers take (the right dtype,
        C-ordered: then so is every run of its rows)."""
        convert_floats, convert_integers = _converters()
        declared = self.graph.inputs[number].dtype
        target = np.dtype(declared if declared is not None else (np.int64 if integer_ids else self.dtype))
        if inputs.dtype == target and inputs.flags.c_contiguous:
            return None
        if integer_ids:
            return convert_integers
        return lambda rows, source: convert_floats(rows, target, source)

    # -- reporting ----------------------------------------------------------
    def to_yaml(self) -> str:
        """The model as a spec that loads back into the same model: the same
        layers, names and weight keys (defaults and automatic names left out)."""
        from .writing import to_yaml

        return to_yaml(self)

    def summary(self, print_fn=None, depth: int | None = None) -> None:
        """Print the summary table, as Keras's ``model.summary()`` does.

        Args:
            print_fn: called with the table's text instead of ``print``
                (``logger.info``, say), as in Keras.
            depth: fold block applications deeper than this into their
                block's row (``layerspec summary --depth``); default: all.

        The summary as data (the JSON summary's fields) is
        :meth:`summary_data`.
        """
        from .summary import render_table

        (print_fn or print)(render_table(self.summary_data(), depth=depth))

    def summary_data(self, batch_size: int | None = None):
        """The summary as data: a dict with the JSON summary's fields, whose
        ``str()`` is the table.

        Args:
            batch_size: also estimate the inference memory for this batch size.
        """
        from .summary import summarize

        return summarize(self, batch_size=batch_size)


class Sequential(Model):
    """A linear stack of layers, built on the first input shape it sees.

    The chain case of :class:`Model`: each layer reads the one above.

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
        stack = []
        for layer in layers:
            _check_is_layer(layer)
            stack.append(layer)
        _refuse_merges(stack)
        graph = chain(stack)
        graph.inputs[0].shape = None if input_shape is None else tuple(input_shape)
        super().__init__(name=name, dtype=dtype, graph=graph, is_graph=False)

    def add(self, layer: Layer) -> None:
        """Append a layer, giving it a numbered name if it has none."""
        _check_is_layer(layer)
        if self.built:
            raise LayerspecError("cannot add layers to a model that is already built")
        _refuse_merges([layer], len(self._layers))
        previous = self.graph
        graph = chain(self._layers + [layer])
        graph.inputs[0].shape = previous.inputs[0].shape
        try:
            self._set_graph(graph)
        except LayerspecError:
            self._set_graph(previous)  # a refused layer is not left in the model
            raise


def _mask_shape(node: Node, input_mask):
    """A node's output mask shape (see ``Layer.compute_mask_shape``), an
    impossible mask reported as the node's error."""
    try:
        return node.layer.compute_mask_shape(node.input_shape, input_mask)
    except LayerspecError as error:
        error.message = f"{node_label(node)}: {error.message}"
        error.layer_index = node.index
        raise


def _refuse_merges(layers: list[Layer], first_index: int = 0) -> None:
    """A stack feeds each layer the one above alone: a merge has nothing to merge."""
    from .registry import display_name

    for index, layer in enumerate(layers, start=first_index):
        if getattr(layer, "takes_several_inputs", False) and not getattr(layer, "accepts_single_input", False):
            raise LayerspecError(f"layer {index + 1} ({display_name(type(layer))}) takes a list of inputs; a "
                                 "Sequential stack gives each layer only the one above: use layerspec.Model",
                                 layer_index=index, code="missing-inputs")


def _check_is_layer(layer) -> None:
    if not isinstance(layer, Layer):
        raise LayerspecError(f"Sequential takes layerspec.Layer objects, got {type(layer).__name__}")


def _pick_first_outputs(graph: Graph) -> None:
    """A bare reference to a node with several outputs means its first (an
    LSTM's output, not its states), as the layer above in a stack does."""
    def first_if_several(source):
        if isinstance(source, tuple) or source < len(graph.inputs):
            return source
        return (source, 0) if graph.producer(source).layer.output_names else source

    changed = False
    for node in graph.nodes:
        sources = tuple(first_if_several(source) for source in node.sources)
        changed |= sources != node.sources
        node.sources = sources
    outputs = tuple(first_if_several(source) for source in graph.outputs)
    if changed or outputs != graph.outputs:
        graph.outputs = outputs
        graph.refresh()


def _unique_layers(nodes: list[Node]) -> list[Layer]:
    seen: dict[int, Layer] = {}
    for node in nodes:
        seen.setdefault(id(node.layer), node.layer)
    return list(seen.values())


def check_reuse_fits(layer: Layer, shape) -> None:
    """A shared layer takes only inputs like the one it was built for."""
    built_for = layer.input_shape

    def fits(given, expected) -> bool:
        if isinstance(expected, (list, tuple)) and expected and isinstance(expected[0], (list, tuple)):
            return (isinstance(given, (list, tuple)) and len(given) == len(expected)
                    and all(fits(g, e) for g, e in zip(given, expected)))
        return len(given) == len(expected) and all(
            g is None or e is None or g == e for g, e in zip(given[1:], expected[1:]))

    if built_for is not None and not fits(shape, built_for):
        raise ShapeError(f"'{layer.name}' is built for input {_shapes_text(built_for)}; applied again to "
                         f"{_shapes_text(shape)}, its weights would not fit", argument="inputs")


def _shapes_text(shape) -> str:
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return ", ".join(format_shape(item) for item in shape)
    if isinstance(shape, list) and shape and shape[0] is None:
        return "?"
    return format_shape(shape) if shape is not None else "?"


def _as_batch(array: np.ndarray, expected: tuple, source: str) -> tuple[np.ndarray, bool]:
    """``(batch, single)`` for one input; a DataError if its shape does not fit."""
    if array.ndim == len(expected) + 1 and array.shape[1:] == expected:  # the common case
        return array, False
    if array.ndim == len(expected) and _fits(array.shape, expected):
        return array[np.newaxis], True
    if array.ndim != len(expected) + 1 or not _fits(array.shape[1:], expected):
        where = "input" if source == "input" else f"{source}: input"
        raise DataError(f"{where} has shape {tuple(array.shape)}, expected (batch, "
                        f"{', '.join('None' if s is None else str(s) for s in expected)})".replace(", )", ")"))
    return array, False


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


def infer_output_shape(layer: Layer, input_shape) -> tuple:
    """``layer.compute_output_shape``, or a probe run if the layer has none.

    ``input_shape`` is one full shape, or a list of them for a layer taking
    several inputs.
    """
    shape = list(map(tuple, input_shape)) if _is_shape_list(input_shape) else tuple(input_shape)
    try:
        output = layer.compute_output_shape(shape)
        if layer.output_names:  # several outputs: a list of shapes
            return [tuple(item) for item in output]
        return tuple(output)
    except NotImplementedError:
        return probe_output_shape(layer, shape)


def _is_shape_list(shape) -> bool:
    return isinstance(shape, list) and bool(shape) and isinstance(shape[0], (tuple, list))


def probe_output_shape(layer: Layer, input_shape) -> tuple:
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


def _probe_once(layer: Layer, input_shape, fill: int) -> np.ndarray:
    shapes = input_shape if _is_shape_list(input_shape) else [input_shape]
    concrete = [tuple(fill if size is None else size for size in shape) for shape in shapes]
    if sum(math.prod(shape) for shape in concrete) > 10_000_000:
        raise ShapeError(f"cannot infer the output shape of a layer without compute_output_shape on input "
                         f"{_shapes_text(input_shape)}: the probe batch would be too large")
    dtype = np.int64 if layer.input_kind == "int" else layer.dtype
    unset = [weight for weight in layer.weights if weight.value is None]
    for weight in unset:
        weight.value = np.zeros(weight.shape, weight.dtype)
    try:
        zeros = [np.zeros(shape, dtype=dtype) for shape in concrete]
        result = np.asarray(layer.call(zeros if _is_shape_list(input_shape) else zeros[0]))
    finally:
        for weight in unset:
            weight.value = None
    return result
