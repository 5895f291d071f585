"""``layerspec export --to onnx``: a built model as an ONNX model.

The model's graph is walked in computing order; each node's layer is
written by its converter (:mod:`layerspec.onnx_convert`) and its result
named after the node, so the ONNX graph's values carry the names the
summary shows. The batch axis is dynamic (``batch``), and so is every size
the spec leaves ``null``.

The opset is the lowest that expresses the model (:data:`MIN_OPSET` unless
a layer needs a newer operator): the model is converted once to learn what
it needs, then again in the opset chosen. Every export is checked by
construction: ``onnx.checker`` with shape inference passes, and the shapes
ONNX infers for the layers' results equal layerspec's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .errors import LayerspecError
from .graph import pick, split_source
from .onnx_builder import MAX_OPSET, MIN_OPSET, ExportError, GraphBuilder, Requirement, onnx_type

#: The extra that brings onnx (the distribution is named layerspec-yaml).
ONNX_HINT = "pip install 'layerspec-yaml[onnx]'"

#: The name of the dynamic batch axis.
BATCH_AXIS = "batch"


@dataclass
class OnnxExport:
    """What :func:`export_onnx` made.

    Attributes:
        model: the ``onnx.ModelProto`` (weights inside).
        opset: the opset it is written in.
        requirements: what raised the opset above :data:`MIN_OPSET`.
        shapes: per layer result name, the shape ONNX infers (batch as None).
    """

    model: object
    opset: int
    requirements: list[Requirement] = field(default_factory=list)
    shapes: dict[str, tuple] = field(default_factory=dict)


def import_onnx(action: str):
    """The ``onnx`` package, or the error naming the extra that brings it."""
    try:
        import onnx
    except ImportError:
        raise LayerspecError(f"{action} needs the onnx package: {ONNX_HINT}", code="missing-dependency") from None
    return onnx


def export_onnx(model, opset: int | None = None) -> OnnxExport:
    """``model`` (built, weights set) as an ONNX model, checked.

    Args:
        opset: the opset to write; default the lowest that expresses the model.

    Raises:
        ExportError: a layer ONNX cannot express (naming it), or an
            ``opset`` too old for the model (naming what needs a newer one).
    """
    import_onnx("exporting to ONNX")
    if opset is not None and not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(f"--opset {opset}: layerspec writes opsets {MIN_OPSET} to {MAX_OPSET}")
    probe = _convert(model, MAX_OPSET)
    needed = max([MIN_OPSET] + [requirement.opset for requirement in probe.builder.requirements])
    if opset is None:
        opset = needed
    elif opset < needed:
        raise ExportError(_too_old_message(opset, probe.builder.requirements))
    converted = probe if opset == MAX_OPSET else _convert(model, opset)
    proto = converted.model_proto()
    shapes = check_exported(proto, converted)
    raised = [requirement for requirement in converted.builder.requirements if requirement.opset > MIN_OPSET]
    return OnnxExport(proto, opset, raised, shapes)


def _too_old_message(opset: int, requirements: list[Requirement]) -> str:
    newer = [requirement for requirement in requirements if requirement.opset > opset]
    lowest = max(requirement.opset for requirement in newer)
    return (f"--opset {opset} cannot express this model: {'; '.join(describe_requirements(newer))}; "
            f"use --opset {lowest} or leave --opset out")


def describe_requirements(requirements: list[Requirement]) -> list[str]:
    """One line per thing that needs a newer opset, the newest first:
    ``the LayerNormalization operator needs opset 17, for layer 'ln'
    (LayerNormalization) and 24 more``."""
    by_what: dict[tuple, list[str]] = {}
    for requirement in sorted(requirements, key=lambda item: -item.opset):
        layers = by_what.setdefault((requirement.what, requirement.opset), [])
        if requirement.layer not in layers:
            layers.append(requirement.layer)
    lines = []
    for (what, needed), layers in by_what.items():
        where = layers[0] + (f" and {len(layers) - 1} more" if len(layers) > 1 else "")
        lines.append(f"{what} needs opset {needed}" + (f", for {where}" if where else ""))
    return lines


class _Converted:
    """One conversion of a model in one opset: the builder and the names
    of the model's inputs, outputs and layer results."""

    def __init__(self, model, opset: int):
        self.model = model
        self.builder = GraphBuilder(opset, model.dtype)
        self.input_infos: list = []
        self.output_names: list[str] = []
        #: (ONNX name, layerspec's full shape, NumPy dtype) of each layer result.
        self.results: list[tuple[str, tuple, np.dtype]] = []
        #: Integer model inputs cast to floats (see :func:`_as_taken`).
        self.float_inputs: dict[str, str] = {}

    def model_proto(self, weightless: bool = False):
        """The ``onnx.ModelProto``; ``weightless``, with the weights declared
        as inputs instead (see :meth:`GraphBuilder.graph_proto`)."""
        from onnx import helper

        from . import __version__

        inputs = [helper.make_tensor_value_info(name, onnx_type(dtype), _dims(shape, name))
                  for name, shape, dtype in self.input_infos]
        # The outputs' sizes are left for ONNX to infer, then compared with
        # layerspec's like every layer result's, and written in from those
        # (see :func:`check_exported`): declared here, a wrong converter
        # would fail as a clash inside ONNX's inference instead.
        known = {name: (shape, dtype) for name, shape, dtype in self.results}
        outputs = [helper.make_tensor_value_info(name, onnx_type(known[name][1]), [None] * len(known[name][0]))
                   for name in self.output_names]
        graph = self.builder.graph_proto(self.model.name, inputs, outputs, weightless=weightless)
        opsets = [helper.make_opsetid("", self.builder.opset)]
        proto = helper.make_model(graph, opset_imports=opsets, producer_name="layerspec",
                                  producer_version=__version__, doc_string=f"{self.model.name}, exported by layerspec")
        # The oldest IR version the opset allows, so older runtimes load it.
        proto.ir_version = helper.find_min_ir_version_for(opsets)
        return proto


def _dims(shape: tuple, name: str) -> list:
    """ONNX dims: the batch axis and unknown sizes symbolic."""
    dims = []
    for axis, size in enumerate(shape):
        if axis == 0:
            dims.append(BATCH_AXIS)
        elif size is None:
            dims.append(f"{name}_dim{axis}")
        else:
            dims.append(int(size))
    return dims


def _convert(model, opset: int) -> _Converted:
    from .onnx_convert import Conversion, converter_of, mask_converter_of

    converted = _Converted(model, opset)
    builder = converted.builder
    graph = model.graph
    values: list = []
    masks: list = []
    for number, graph_input in enumerate(graph.inputs):
        name = builder.claim(graph_input.name)
        dtype = _input_dtype(model, number)
        converted.input_infos.append((name, (None,) + tuple(graph_input.shape), dtype))
        values.append(name)
        masks.append(None)
    for node in graph.nodes:
        convert = converter_of(node.layer)
        if convert is None:
            raise ExportError(f"layer '{node.name}' ({type(node.layer).__name__}) cannot be exported to ONNX: "
                              f"layerspec has no ONNX form for {type(node.layer).__name__}", layer_index=node.index)
        inputs = [_as_taken(builder, node, pick(values, source), converted, source) for source in node.sources]
        input_masks = [pick(masks, source) if masks[split_source(source)[0]] is not None else None
                       for source in node.sources]
        shapes = node.input_shape if node.several_inputs else [node.input_shape]
        conversion = Conversion(builder, node, node.layer, inputs, [tuple(shape) for shape in shapes], input_masks)
        with builder.scoped(node.name):
            start = len(builder.nodes)
            result = convert(conversion)
            result = _named_results(builder, node, result, start)
            mask = None
            if node.output_mask is not None:
                make_mask = mask_converter_of(node.layer)
                mask = make_mask(conversion) if make_mask is not None else input_masks[0]
        values.append(result)
        masks.append(mask)
        _record_results(converted, node, result)
    converted.output_names = [pick(values, source) for source in graph.outputs]
    return converted


def _as_taken(builder: GraphBuilder, node, name: str, converted: _Converted, source) -> str:
    """``name`` as ``node``'s layer takes it: a model input of integers read
    by a layer computing in floats (``dtype: int32`` into a Dense) cast to
    the model's dtype once, as layerspec's layers compute on it in floats."""
    tensor, _ = split_source(source)
    if tensor >= len(converted.input_infos) or node.layer.input_kind == "int":
        return name
    dtype = converted.input_infos[tensor][2]
    if dtype.kind == "f":
        return name
    cast = converted.float_inputs.get(name)
    if cast is None:
        with builder.scoped(name):
            cast = converted.float_inputs[name] = builder.to_float(name, hint="as_float")
    return cast


def _input_dtype(model, number: int) -> np.dtype:
    declared = model.graph.inputs[number].dtype
    if declared is not None:
        return np.dtype(declared)
    return np.dtype(np.int64) if model._integer_input(number) else np.dtype(model.dtype)


def _named_results(builder: GraphBuilder, node, result, start: int):
    """The node's result(s) under the names the summary uses: the node's
    name, or ``name.output`` for each output of a layer with several."""
    several = isinstance(result, (list, tuple))
    if several:
        wanted = [f"{node.name}.{output}" for output in node.layer.output_names]
    else:
        wanted = [node.name]
    produced = list(result) if several else [result]
    named = []
    for made, name in zip(produced, wanted):
        if not builder.rename_output(made, name, start):
            builder.op("Identity", [made], [name])
        named.append(name)
    return named if several else named[0]


def _record_results(converted: _Converted, node, result) -> None:
    names = result if isinstance(result, list) else [result]
    shapes = node.output_shape if isinstance(result, list) else [node.output_shape]
    dtype = np.dtype(converted.model.dtype)
    for name, shape in zip(names, shapes):
        converted.results.append((name, tuple(shape), dtype))


# -- checking ---------------------------------------------------------------

def check_exported(proto, converted: _Converted) -> dict[str, tuple]:
    """Run ``onnx.checker`` (with shape inference) and compare the shapes ONNX
    infers for the layers' results with layerspec's.

    Returns:
        Each layer result's inferred shape, the batch axis as None.

    Raises:
        ExportError: when the checker fails or a shape differs: a defect in
            a converter, reported rather than written.
    """
    import onnx

    skeleton = converted.model_proto(weightless=True)
    try:
        # The model itself, weights included, where protobuf can hold it;
        # shape inference (strict: any clash is an error) on the skeleton.
        onnx.checker.check_model(proto if _initializer_bytes(proto) < PROTOBUF_LIMIT else skeleton)
        inferred = onnx.shape_inference.infer_shapes(skeleton, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise ExportError(f"the ONNX model made fails ONNX's checks (a layerspec defect): {error}") from None
    known = {info.name: info for info in list(inferred.graph.value_info) + list(inferred.graph.output)}
    shapes = {}
    for name, expected, _ in converted.results:
        info = known.get(name)
        found = _shape_of(info) if info is not None else None
        if found is None or not _same_shape(found, expected):
            raise ExportError(f"layer result '{name}': ONNX infers shape {_shown(found)}, layerspec {_shown(expected)} "
                              f"(a layerspec defect)")
        shapes[name] = found
    _declare_output_shapes(proto, known)
    return shapes


def _declare_output_shapes(proto, inferred: dict) -> None:
    """Write the outputs' shapes into ``proto`` as ONNX inferred them (the
    same as layerspec's, checked): symbolic sizes keep the names inference
    carried from the inputs (``tokens_dim1``), the batch axis ``batch``."""
    for output in proto.graph.output:
        shape = output.type.tensor_type.shape
        shape.Clear()
        for dim in inferred[output.name].type.tensor_type.shape.dim:
            shape.dim.add().CopyFrom(dim)


def _initializer_bytes(proto) -> int:
    return sum(len(tensor.raw_data) for tensor in proto.graph.initializer)


def _shape_of(info) -> tuple | None:
    tensor_type = info.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return tuple(dim.dim_value if dim.HasField("dim_value") else None for dim in tensor_type.shape.dim)


def _same_shape(found: tuple, expected: tuple) -> bool:
    if len(found) != len(expected):
        return False
    return all(size == want for size, want in zip(found[1:], expected[1:])) and found[0] is None


def _shown(shape) -> str:
    if shape is None:
        return "unknown"
    return "(" + ", ".join("None" if size is None else str(size) for size in shape) + ")"


# -- writing ----------------------------------------------------------------

#: Protobuf's limit on one message (a model over it is checked without its
#: weights, and written with them in a file beside it).
PROTOBUF_LIMIT = (2 << 30) - (64 << 20)

#: Above this many bytes of weights the model is written with its weights in
#: a second file beside it (``MODEL.onnx.data``): protobuf cannot hold 2 GB.
EXTERNAL_DATA_BYTES = 1 << 30


def write_onnx(export: OnnxExport, path) -> list[str]:
    """Write the model to ``path`` (and, for a model over 1 GiB of weights,
    ``path + '.data'``), atomically; ``path`` may also be a binary stream
    (standard output) for a model under 1 GiB. Returns the files written."""
    import onnx

    from .arrays import open_output

    proto = export.model
    if _initializer_bytes(proto) < EXTERNAL_DATA_BYTES:
        with open_output(path) as file:
            file.write(proto.SerializeToString())
        return [path if isinstance(path, (str, os.PathLike)) else "-"]
    if not isinstance(path, (str, os.PathLike)):
        raise LayerspecError("-o -: a model with over 1 GiB of weights is written as two files (the model and "
                             "its weights beside it); give -o a file name")
    return _write_with_external_data(onnx, proto, path)


def _write_with_external_data(onnx, proto, path: str) -> list[str]:
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    data_name = os.path.basename(path) + ".data"
    with tempfile.TemporaryDirectory(dir=directory, prefix=".layerspec-") as staging:
        staged = os.path.join(staging, os.path.basename(path))
        copy = type(proto)()
        copy.CopyFrom(proto)
        onnx.save_model(copy, staged, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data_name, size_threshold=1024)
        # The data file first: a model file is never beside missing data.
        os.replace(os.path.join(staging, data_name), os.path.join(directory, data_name))
        os.replace(staged, os.path.abspath(path))
    return [path, os.path.join(os.path.dirname(path), data_name)]
