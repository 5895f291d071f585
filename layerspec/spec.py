"""Spec files → validated spec objects → built models, every problem placed.

``read_spec`` checks a file's structure and every layer argument, collecting
all the problems it can find (not only the first) into one
:class:`SpecErrors`. ``build_model`` turns a spec into a built
:class:`Sequential`, pointing shape errors at the layer (or argument) at
fault.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from .arguments import describe_value, suggest, unknown_argument_message
from .blocks import Expansion, Origin, Settings
from .errors import LayerspecError, Position, SpecError, SpecErrors, flatten
from .spec_inputs import InputDecl, check_unique_input_names, is_input_entry, read_input_entry, read_top_level_inputs
from .wiring import Entry, Wiring, wire
from .yamlread import YamlList, YamlMap, key_position, load, position_of, read_text

TOP_LEVEL_KEYS = ("name", "input", "inputs", "outputs", "dtype", "args", "variants", "blocks", "layers", "expect")
EXPECT_KEYS = ("output_shape", "output_shapes", "params", "trainable_params", "macs", "max_params")
DTYPES = ("float32", "float64")
DEFAULT_TYPE = "Dense"


@dataclass
class LayerSpec:
    """One entry of ``layers``: its class, explicit name and arguments.

    An entry with ``reuse`` applies a layer above again (sharing its
    weights): it has no class of its own and no arguments.
    """

    index: int
    type_name: str
    layer_class: type | None
    name: str | None
    arguments: dict[str, Any]
    source: YamlMap
    #: How messages name the layer, e.g. "layer 2 'dense_1' (Dense)".
    label: str = ""
    #: The written ``inputs`` and ``reuse`` values (None when absent).
    inputs: Any = None
    reuse: Any = None
    #: The name references use: explicit, or automatic once labelled.
    final_name: str = ""
    #: Where the entry comes from (its number in the list it is written
    #: in, the block applications around it); see :mod:`layerspec.blocks`.
    origin: Origin = None

    def __post_init__(self):
        if self.origin is None:
            self.origin = Origin(self.index + 1)

    @property
    def title(self) -> str:
        """How messages name the entry before its name is known: ``layer 3``,
        ``layer 2 in block 'residual' used at model.yaml:31:5``."""
        return f"layer {self.origin.number}{self.origin.where}"

    @property
    def position(self) -> Position:
        return self.source.position

    def argument_position(self, argument: str | None) -> Position:
        """Where ``argument``'s value is written (the layer if it is not)."""
        if argument and argument in self.source:
            return position_of(self.source, argument)
        return self.position


@dataclass
class Spec:
    """A checked spec file.

    ``layers`` holds the entries that are layers (``Input`` entries declare
    model inputs instead); ``wiring`` says which tensors each one reads.
    """

    path: str
    name: str
    inputs: list[InputDecl]
    dtype: str
    layers: list[LayerSpec]
    expect: dict[str, Any] = field(default_factory=dict)
    source: YamlMap | None = None
    wiring: Wiring | None = None
    #: The model arguments in effect and the variant chosen (specs with
    #: ``args``); flat entry name → block application, for outputs that
    #: are a block's result.
    args: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None
    output_aliases: dict[str, str] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple | None:
        """The one input's per-sample shape (None if unknown, or if several)."""
        return self.inputs[0].shape if len(self.inputs) == 1 else None

    @input_shape.setter
    def input_shape(self, shape: tuple | None) -> None:
        self.inputs[0].shape = shape

    @property
    def is_graph(self) -> bool:
        """Whether the spec names inputs, outputs or reuses (else it is a plain stack)."""
        return self.wiring is not None and self.wiring.is_graph

    def key_value_position(self, key: str) -> Position:
        """Where top-level ``key``'s value is written (the file if absent)."""
        if self.source is not None and key in self.source:
            return position_of(self.source, key)
        return Position(self.path, 1, 1)


class _Problems:
    """Collects problems so one pass reports them all.

    A problem either *blocks* building the model (a bad layer, input or
    dtype) or does not (a bad ``expect`` entry, an unknown top-level key):
    ``check`` still builds a spec with only the latter, so that its shape
    errors and the rest of its expectations are reported in the same run.
    """

    def __init__(self):
        self.errors: list[LayerspecError] = []
        self.blocking = False
        #: A block used many times would repeat each problem inside it once
        #: per use: the first is kept, and counts the others.
        self._first: dict[tuple, LayerspecError] = {}
        self._repeats: dict[int, int] = {}

    def add(self, message: str, position: Position | None, code: str, blocks_build: bool = True) -> None:
        self._keep(SpecError(message, position, code=code))
        self.blocking = self.blocking or blocks_build

    def add_error(self, error: LayerspecError, position: Position | None) -> None:
        for single in flatten(error):
            self._keep(single.at(position))
        self.blocking = True

    def _keep(self, error: LayerspecError) -> None:
        key = (error.position, error.code, _USE_SITE.sub("", error.message))
        first = self._first.get(key)
        if first is not None and " in block '" in error.message:
            self._repeats[id(first)] = self._repeats.get(id(first), 0) + 1
            return
        self._first.setdefault(key, error)
        self.errors.append(error)

    def in_file_order(self) -> list[LayerspecError]:
        """The problems as a reader (and an editor's problem list) expects them."""
        for error in self.errors:
            count = self._repeats.pop(id(error), 0)
            if count:
                error.message += f" (and {count} more use{'s' * (count != 1)} of the block)"
        return sorted(self.errors, key=_file_order)

    def raise_if_any(self) -> None:
        if self.errors:
            errors = self.in_file_order()
            raise errors[0] if len(errors) == 1 else SpecErrors(errors)


#: What differs between the same problem in two uses of a block: the layer's
#: path name and where the block is used.
_USE_SITE = re.compile(r" '[^']*/[^']*' \(| used at \S+?:\d+:\d+")


def _file_order(error: LayerspecError) -> tuple:
    position = error.position
    if position is None or position.line is None:
        return (0, 0)
    return (position.line, position.col)


def read_spec(path: str, settings: Settings | None = None) -> Spec:
    """Read and check the spec file at ``path`` (with ``settings``: a variant
    and argument values, as ``--variant`` and ``--set`` give them)."""
    path = str(path)
    return parse_spec(_load(read_text(path), path), path, settings)


def loads_spec(text: str, path: str = "<string>", settings: Settings | None = None) -> Spec:
    """Check a spec given as YAML text."""
    return parse_spec(_load(text, path), path, settings)


def parse_spec(document: Any, path: str, settings: Settings | None = None) -> Spec:
    """Check a parsed YAML document (or a plain dict) as a spec."""
    spec, problems = _parse(document, path, settings)
    problems.raise_if_any()
    return spec


def read_spec_for_check(path: str, settings: Settings | None = None) -> tuple[Spec | None, list[LayerspecError]]:
    """Read the spec at ``path`` for ``check``: every problem found, in file
    order, and the spec unless a problem stops it from being built.

    Unlike :func:`read_spec`, a spec whose only problems are in ``expect``
    (or an unknown top-level key) is returned, holding its valid
    expectations, so that ``check`` reports those problems *and* the
    model's shape errors and failed expectations at once.

    Raises:
        LayerspecError: if the file cannot be read or is not valid YAML.
    """
    path = str(path)
    spec, problems = _parse(_load(read_text(path), path), path, settings)
    return (None if problems.blocking else spec), problems.in_file_order()


def _load(text: str, path: str) -> Any:
    """The YAML document, keeping its text: expression errors point at the
    column of the token at fault, which needs the line as written."""
    document = load(text, path)
    if isinstance(document, YamlMap):
        document.source_text = text
    return document


def _parse(document: Any, path: str, settings: Settings | None = None) -> tuple[Spec | None, _Problems]:
    problems = _Problems()
    if not isinstance(document, dict):
        problems.add(f"a spec must be a mapping with a 'layers' list, got {describe_value(document)}",
                     position_of(document) or Position(path, 1, 1), "invalid-spec")
        return None, problems
    if not isinstance(document, YamlMap):
        document = _locate_plain(document, path)
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            problems.add(f"unknown top-level key '{key}'{suggest(key, TOP_LEVEL_KEYS)}",
                         key_position(document, key), "unknown-key", blocks_build=False)
    expansion = _expand(document, path, problems, settings)
    if expansion is not None:
        document = _expanded_document(document, expansion, problems)
    name = _read_name(document, path, problems)
    declared = read_top_level_inputs(document, problems)
    dtype = _read_dtype(document, problems)
    layers, input_entries = _read_layers(document, path, problems, expansion.origins if expansion else None)
    inputs = _model_inputs(declared, input_entries, document, problems)
    expect = _read_expect(document, problems)
    spec = Spec(path, name, inputs, dtype, layers, expect, document)
    if expansion is not None:
        spec.args, spec.variant, spec.output_aliases = expansion.args, expansion.variant, expansion.output_aliases
    if layers:
        spec.wiring = _wire(spec, input_entries, problems)
        if spec.is_graph and path.startswith("<") and "name" not in document:
            spec.name = "functional"  # Keras's default name for a functional model
    return spec, problems


def _expand(document: YamlMap, path: str, problems: _Problems, settings: Settings | None) -> Expansion | None:
    """Blocks, repeats and arguments expanded (None for a spec using none)."""
    from .blocks import Expander, needs_expansion

    if settings is None and not needs_expansion(document):
        return None
    return Expander(document, path, lambda message, where, code: problems.add(message, where, code),
                    settings).expand()


#: Top-level keys whose values may hold expressions of the model's arguments
#: (``layers`` is substituted by the expansion itself).
SUBSTITUTED_KEYS = ("name", "input", "inputs", "dtype", "outputs", "expect")


def _expanded_document(document: YamlMap, expansion: Expansion, problems: _Problems) -> YamlMap:
    """The document as the rest of the reading sees it: the flat layer list,
    rewritten outputs, the arguments substituted into the other keys, and a
    chosen variant's ``expect`` over the spec's."""
    from .expressions import substitute

    result = YamlMap(document.position)
    result.key_positions, result.value_positions = dict(document.key_positions), dict(document.value_positions)
    for key, value in document.items():
        if key in SUBSTITUTED_KEYS:
            try:
                value = substitute(value, expansion.args, position_of(document, key),
                                   getattr(document, "source_text", None))
            except LayerspecError as error:
                problems.add_error(error, None)
                continue
        result[key] = value
    if "layers" in document:
        result["layers"] = expansion.layers
    if expansion.outputs is not None:
        result["outputs"] = expansion.outputs
    if expansion.expect:
        expect = YamlMap(position_of(result, "expect") or document.position)
        current = result.get("expect")
        if isinstance(current, YamlMap):
            expect.key_positions, expect.value_positions = dict(current.key_positions), dict(current.value_positions)
            expect.update(current)
        for key, value in expansion.expect.items():
            expect[key] = value
            expect.key_positions[key] = key_position(expansion.expect, key)
            expect.value_positions[key] = position_of(expansion.expect, key)
        result["expect"] = expect
    return result


def _model_inputs(declared: list[InputDecl] | None, input_entries: dict[int, InputDecl], document: YamlMap,
                  problems: _Problems) -> list[InputDecl]:
    """The model's inputs, from the top level or from ``Input`` entries (not both)."""
    if declared is not None and input_entries:
        first = next(iter(input_entries.values()))
        problems.add("the spec declares its inputs at the top level ('input'/'inputs') and with an Input "
                     "entry; keep one", first.position, "invalid-spec")
    inputs = declared if declared is not None else list(input_entries.values())
    if not inputs:
        inputs = [InputDecl("input", None, None, None)]
    check_unique_input_names(inputs, problems)
    return inputs


def _wire(spec: Spec, input_entries: dict[int, InputDecl], problems: _Problems) -> Wiring:
    """Resolve every layer's ``inputs`` and ``reuse`` and the spec's ``outputs``."""
    from .registry import display_name

    entries = [Entry(layer.index, layer.final_name, _type_shown(layer), layer.source,
                     None if layer.layer_class is None else bool(getattr(layer.layer_class, "takes_several_inputs",
                                                                          False)),
                     layer.inputs, layer.reuse,
                     single_input_ok=bool(getattr(layer.layer_class, "accepts_single_input", False)),
                     number=layer.origin.number, where=layer.origin.where)
               for layer in spec.layers]
    number_of = {id(decl): number for number, decl in enumerate(spec.inputs)}
    source = spec.source
    wiring = wire(entries, [(decl.name, decl.position) for decl in spec.inputs], source.get("outputs"),
                  position_of(source, "outputs"), lambda message, where, code: problems.add(message, where, code),
                  graph_keys_at_top="inputs" in source or "outputs" in source or len(input_entries) > 1,
                  input_entries={index: number_of[id(decl)] for index, decl in input_entries.items()
                                 if id(decl) in number_of})
    for layer, reused in zip(spec.layers, wiring.reuses):
        if reused is not None:
            original = spec.layers[reused]
            layer.type_name = original.type_name
            layer.label = f"layer {layer.origin.number} '{layer.final_name}' " \
                          f"({display_name(original.layer_class) if original.layer_class else original.type_name})" \
                          f"{layer.origin.where}"
    _check_names_against_inputs(spec, problems)
    return wiring


def _type_shown(layer: LayerSpec) -> str:
    from .registry import display_name

    if layer.reuse is not None:
        return ""  # known once 'reuse' is resolved
    return display_name(layer.layer_class) if layer.layer_class else layer.type_name


def _check_names_against_inputs(spec: Spec, problems: _Problems) -> None:
    input_names = {decl.name for decl in spec.inputs}
    for layer in spec.layers:
        if layer.final_name in input_names:
            problems.add(f"{layer.label}: the name '{layer.final_name}' is also a model input's; references "
                         "would be ambiguous", position_of(layer.source, "name") if layer.name else layer.position,
                         "duplicate-name")


def _locate_plain(value: Any, path: str) -> Any:
    """Wrap a plain dict/list tree (the Python API) so positions exist."""
    here = Position(path)
    if isinstance(value, dict):
        located = YamlMap(here)
        for key, item in value.items():
            if not isinstance(key, str):
                raise SpecError(f"keys must be strings, got {describe_value(key)}", here, code="invalid-key")
            located[key] = _locate_plain(item, path)
        return located
    if isinstance(value, (list, tuple)):
        located = YamlList(here)
        for item in value:
            located.append(_locate_plain(item, path))
        return located
    return value


def _read_name(document: YamlMap, path: str, problems: _Problems) -> str:
    # Text and dicts have no file name: Keras's default model name then.
    stem = "sequential" if path.startswith("<") else os.path.splitext(os.path.basename(path))[0] or "sequential"
    name = document.get("name", stem)
    if not isinstance(name, str) or not name:
        problems.add(f"'name' must be a non-empty string, got {describe_value(name)}",
                     position_of(document, "name"), "invalid-value", blocks_build=False)
        return stem
    return name


def read_shape_list(value: Any, allow_empty: bool = False) -> str | None:
    """Why ``value`` is not a list of sizes (positive ints or null), or None."""
    expected = "must be a list of sizes (positive integers or null), e.g. [28, 28, 1]"
    if not isinstance(value, list) or (not value and not allow_empty):
        return f"{expected}, got {describe_value(value)}"
    for size in value:
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            return f"{expected}, got {describe_value(size)} in it"
    return None


def _read_dtype(document: YamlMap, problems: _Problems) -> str:
    dtype = document.get("dtype", "float32")
    if dtype not in DTYPES:
        problems.add(f"'dtype' must be one of {', '.join(DTYPES)}, got {describe_value(dtype)}",
                     position_of(document, "dtype"), "invalid-value")
        return "float32"
    return dtype


def _read_layers(document: YamlMap, path: str, problems: _Problems,
                 origins: list[Origin] | None = None) -> tuple[list[LayerSpec], dict[int, InputDecl]]:
    """The layer entries, and the model inputs declared as ``Input`` entries
    (by list index); ``origins`` says where each entry of an expanded list
    comes from (see :mod:`layerspec.blocks`)."""
    if "layers" not in document:
        problems.add("missing 'layers': a spec needs a list of layers", document.position or Position(path, 1, 1),
                     "missing-key")
        return [], {}
    entries = document["layers"]
    if origins is not None and not entries and problems.errors:
        return [], {}  # every entry failed to expand, each reported
    if not isinstance(entries, list) or not entries:
        problems.add(f"'layers' must be a non-empty list of layers, got {describe_value(entries)}",
                     position_of(document, "layers"), "invalid-value")
        return [], {}
    layers, input_entries = [], {}
    for index, entry in enumerate(entries):
        origin = origins[index] if origins else Origin(index + 1)
        if not isinstance(entry, dict):
            problems.add(f"layer {origin.number}{origin.where} must be a mapping of arguments (e.g. "
                         f"'{{units: 10}}'), got {describe_value(entry)}", position_of(entries, index),
                         "invalid-layer")
        elif is_input_entry(entry):
            input_entries[index] = read_input_entry(origin.number - 1, entry, problems)
        else:
            layers.append(_read_layer_header(index, entry, problems, origin))
    _name_unnamed_inputs(input_entries)
    if not layers and input_entries:
        problems.add("'layers' declares inputs but no layer", position_of(document, "layers"), "invalid-value")
    _check_unique_names(layers, problems)
    _assign_labels(layers)
    _check_reuse_names(layers, problems)
    for layer in layers:
        if layer.layer_class is not None:
            _check_arguments(layer, problems)
    return layers, input_entries


def _name_unnamed_inputs(input_entries: dict[int, InputDecl]) -> None:
    """Unnamed ``Input`` entries: ``input``, ``input_1``, ... (skipping names given)."""
    taken = {decl.name for decl in input_entries.values() if decl.name}
    counter = 0
    for decl in input_entries.values():
        if decl.name:
            continue
        while (candidate := "input" if counter == 0 else f"input_{counter}") in taken:
            counter += 1
        decl.name = candidate
        taken.add(candidate)


#: The keys of an entry that applies a layer above again.
REUSE_KEYS = ("reuse", "inputs", "name")
#: Keys about the graph rather than the layer's constructor.
GRAPH_KEYS = ("type", "name", "inputs", "reuse")


def _read_layer_header(index: int, entry: YamlMap, problems: _Problems, origin: Origin) -> LayerSpec:
    from .registry import lookup

    title = f"layer {origin.number}{origin.where}"
    name = _read_layer_name(title, entry, problems, origin)
    if "reuse" in entry:
        return _read_reuse_entry(index, entry, name, problems, origin)
    type_name = entry.get("type", DEFAULT_TYPE)
    layer_class = None
    if not isinstance(type_name, str) or not type_name:
        problems.add(f"{title}: 'type' must be a layer type name, got {describe_value(type_name)}",
                     position_of(entry, "type"), "invalid-value")
        type_name = str(type_name)
    else:
        try:
            layer_class = lookup(type_name)
        except LayerspecError as error:
            problems.add_error(_prefix(error, f"{title}: "), position_of(entry, "type"))
    arguments = {key: value for key, value in entry.items() if key not in GRAPH_KEYS}
    return LayerSpec(index, type_name, layer_class, name, arguments, entry, inputs=entry.get("inputs"), origin=origin)


def _read_layer_name(title: str, entry: YamlMap, problems: _Problems, origin: Origin) -> str | None:
    name = entry.get("name")
    # A name the expansion made is a path (residual_1/conv2d); a written one has no '/'.
    if name is not None and (not isinstance(name, str) or not name or ("/" in name and not origin.generated_name)):
        problems.add(f"{title}: 'name' must be a non-empty string without '/', "
                     f"got {describe_value(name)}", position_of(entry, "name"), "invalid-value")
        return None
    return name


def _read_reuse_entry(index: int, entry: YamlMap, name: str | None, problems: _Problems,
                      origin: Origin) -> LayerSpec:
    """``{reuse: encoder, inputs: right}``: the layer ``encoder`` applied again, sharing its weights."""
    title = f"layer {origin.number}{origin.where}"
    reuse = entry["reuse"]
    for key in entry:
        if key not in REUSE_KEYS:
            problems.add(f"{title}: an entry with 'reuse' applies a layer above again, with its "
                         f"arguments and weights; it takes only 'inputs' and 'name', not '{key}'",
                         key_position(entry, key), "unknown-argument")
    if not isinstance(reuse, str) or not reuse:
        problems.add(f"{title}: 'reuse' must name a layer above, got {describe_value(reuse)}",
                     position_of(entry, "reuse"), "invalid-value")
        reuse = ""
    return LayerSpec(index, "", None, name, {}, entry, inputs=entry.get("inputs"), reuse=reuse, origin=origin)


def _prefix(error: LayerspecError, prefix: str) -> LayerspecError:
    error.message = prefix + error.message
    return error


def _check_unique_names(layers: list[LayerSpec], problems: _Problems) -> None:
    first_seen: dict[str, LayerSpec] = {}
    for layer in layers:
        if layer.name is None:
            continue
        if layer.name in first_seen:
            first = first_seen[layer.name]
            problems.add(f"{layer.title}: duplicate layer name '{layer.name}' "
                         f"({first.title} has it)", position_of(layer.source, "name"), "duplicate-name")
            layer.name = None
        else:
            first_seen[layer.name] = layer
    own = [layer for layer in layers if layer.reuse is None]
    _check_automatic_name_clashes(own, problems)


class _Unknown:
    """Stands for an unknown layer type, which still takes part in numbering."""


def _check_automatic_name_clashes(layers: list[LayerSpec], problems: _Problems) -> None:
    """An explicit name that is another layer's automatic one, which Keras refuses.

    ``name: dense`` on the second Dense of a model whose first Dense is
    unnamed (and so is ``dense``) gives two layers one name.
    """
    from .naming import automatic_name_holder, name_clashes, spec_entry

    for explicit, automatic in name_clashes(spec_entry(layer.layer_class or _Unknown, layer.name, layer.arguments)
                                            for layer in layers):
        named, unnamed = layers[explicit], layers[automatic]
        if unnamed.layer_class is None:
            continue  # an unknown type: its own error says so, and its name is a guess
        problems.add(f"{named.title}: duplicate layer name '{named.name}' "
                     f"({automatic_name_holder(unnamed.origin.number - 1, unnamed.layer_class)})",
                     position_of(named.source, "name"), "duplicate-name")


def _check_reuse_names(layers: list[LayerSpec], problems: _Problems) -> None:
    """A reuse entry's given name must not be a layer's automatic one."""
    automatic = {layer.final_name: layer for layer in layers if layer.reuse is None and layer.name is None}
    for layer in layers:
        if layer.reuse is not None and layer.name in automatic:
            holder = automatic[layer.name]
            problems.add(f"{layer.title}: duplicate layer name '{layer.name}' ({holder.title} "
                         "has it as its automatic name)", position_of(layer.source, "name"), "duplicate-name")


def _assign_labels(layers: list[LayerSpec]) -> None:
    """Give every entry its final name and the label messages use.

    Layers are numbered per type as Keras numbers them; an entry reusing a
    layer is named after it (``encoder_reuse``, ``encoder_reuse_1``) unless
    it has a name, and takes no number from the layers' count.
    """
    from .naming import auto_names, reuse_names, spec_entry
    from .registry import display_name

    own = [layer for layer in layers if layer.reuse is None]
    for layer, name in zip(own, auto_names(spec_entry(layer.layer_class or _Unknown, layer.name, layer.arguments)
                                           for layer in own)):
        layer.final_name = name
        shown_type = display_name(layer.layer_class) if layer.layer_class else layer.type_name
        layer.label = f"layer {layer.origin.number} '{name}' ({shown_type}){layer.origin.where}"
    reused = [layer for layer in layers if layer.reuse is not None]
    taken = {layer.final_name for layer in own}
    for layer, name in zip(reused, reuse_names([(layer.reuse, layer.name) for layer in reused], taken)):
        layer.final_name = name
        layer.label = f"layer {layer.origin.number} '{name}'{layer.origin.where}"  # typed once 'reuse' resolves


def _check_arguments(layer: LayerSpec, problems: _Problems) -> None:
    from .registry import arguments_of

    accepted = arguments_of(layer.layer_class)
    for key, value in layer.arguments.items():
        info = accepted.get(key)
        if info is None:
            problems.add(f"{layer.label}: {unknown_argument_message(key, accepted)}",
                         key_position(layer.source, key), "unknown-argument")
        elif info.kind is not None:
            try:
                layer.arguments[key] = info.kind.check(value, key)
            except LayerspecError as error:
                problems.add_error(_prefix(error, f"{layer.label}: "), position_of(layer.source, key))
    for info in accepted.values():
        if info.required and info.name not in layer.arguments:
            problems.add(f"{layer.label}: missing required argument '{info.name}'", layer.position,
                         "missing-argument")


def _read_expect(document: YamlMap, problems: _Problems) -> dict[str, Any]:
    """The valid expectations; each invalid one is a problem that does not block building."""
    expect = document.get("expect")
    if expect is None:
        return {}
    if not isinstance(expect, dict):
        problems.add(f"'expect' must be a mapping, got {describe_value(expect)}", position_of(document, "expect"),
                     "invalid-value", blocks_build=False)
        return {}
    valid = {}
    for key, value in expect.items():
        problem = _expectation_problem(key, value)
        if problem is None:
            valid[key] = value
        else:
            message, code = problem
            where = key_position(expect, key) if code == "unknown-key" else position_of(expect, key)
            problems.add(message, where, code, blocks_build=False)
    return valid


def _expectation_problem(key: str, value: Any) -> tuple[str, str] | None:
    """``(message, code)`` if ``key: value`` is not a valid expectation."""
    if key not in EXPECT_KEYS:
        return f"unknown key '{key}' in 'expect'{suggest(key, EXPECT_KEYS)}", "unknown-key"
    if key == "output_shape":
        message = read_shape_list(value, allow_empty=True)
        return (f"'expect.output_shape' {message}", "invalid-value") if message else None
    if key == "output_shapes":
        if not isinstance(value, dict) or not value:
            return (f"'expect.output_shapes' must map output names to shapes, got {describe_value(value)}",
                    "invalid-value")
        for name, shape in value.items():
            message = read_shape_list(shape, allow_empty=True)
            if message:
                return f"'expect.output_shapes.{name}' {message}", "invalid-value"
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return f"'expect.{key}' must be a non-negative integer, got {describe_value(value)}", "invalid-value"
    return None


# -- building ---------------------------------------------------------------
def resolve_input_shape(spec: Spec, override: tuple | None) -> tuple | None:
    """The spec's input shape, with ``null`` sizes filled from ``override``.

    The spec's own sizes win; an override that contradicts one is an error
    pointing at the spec's ``input``.
    """
    if spec.input_shape is None or override is None:
        return spec.input_shape if spec.input_shape is not None else override
    if len(override) != len(spec.input_shape) or any(
            s is not None and o is not None and s != o for s, o in zip(spec.input_shape, override)):
        raise SpecError(f"--input-shape {_shape_text(override)} does not match the spec's input "
                        f"{_shape_text(spec.input_shape)}", spec.key_value_position("input"), code="shape-mismatch")
    return tuple(s if s is not None else o for s, o in zip(spec.input_shape, override))


def _shape_text(shape: tuple) -> str:
    return "[" + ", ".join("null" if s is None else str(s) for s in shape) + "]"


def build_model(spec: Spec, input_shape: tuple | None = None, require_input: bool = True):
    """Construct the spec's layers and infer shapes through them.

    A plain stack becomes a :class:`~layerspec.model.Sequential`; a spec
    that names inputs, outputs or reuses a layer, a
    :class:`~layerspec.model.Model` over its graph.

    Args:
        spec: a checked spec.
        input_shape: fills or confirms the spec's input (``--input-shape``,
            or the data's shape for ``run``); one-input specs only.
        require_input: without any input shape, raise (``summary``) or
            return the model unbuilt (``run`` builds it from the data).
    """
    nodes = _nodes(spec)
    outputs = _name_picks(spec, nodes)
    try:
        model = _model_of(spec, nodes, outputs)
    except LayerspecError as error:
        raise locate(error, spec) from None
    shapes = _input_shapes(spec, input_shape)
    if any(shape is None for shape in shapes):
        if require_input:
            raise SpecError(_missing_input_message(spec, shapes), Position(spec.path), code="missing-input")
        return model
    build_located(model, spec, shapes)
    return model


def _nodes(spec: Spec) -> list:
    """A node per layer entry; a ``reuse`` entry applies its layer's object again."""
    from .graph import Node

    nodes = []
    for entry, sources, reused in zip(spec.layers, spec.wiring.sources, spec.wiring.reuses):
        origin = entry.origin
        if reused is None:
            node = Node(_construct(entry), tuple(sources), number=origin.number)
        else:
            original = nodes[reused]
            node = Node(original.layer, tuple(sources), name=entry.name or "", reuses=original, number=origin.number)
        node.where, node.scope = origin.where, origin.scope
        nodes.append(node)
    return nodes


def _name_picks(spec: Spec, nodes: list) -> tuple:
    """``lstm.state_h`` references → ``(tensor, output index)``, now that the
    layers (and so their outputs' names) exist; returns the model's outputs."""
    positions = iter(spec.wiring.picks)
    first = len(spec.inputs)

    def index_of(source):
        if not isinstance(source, tuple):
            return source
        tensor, output = source
        position = next(positions)
        node = nodes[tensor - first]
        names = node.layer.output_names or []
        if output not in names:
            offered = f"its outputs are {', '.join(names)}" if names else "it has one output"
            raise SpecError(f"'{node.name or spec.layers[tensor - first].final_name}' has no output '{output}': "
                            f"{offered}{suggest(output, names)}", position, code="unknown-reference")
        return (tensor, names.index(output))

    for node in nodes:
        node.sources = tuple(index_of(source) for source in node.sources)
    return tuple(index_of(source) for source in spec.wiring.outputs)


def _model_of(spec: Spec, nodes: list, outputs: tuple):
    from .graph import Graph, GraphInput
    from .model import Model, Sequential

    inputs = [GraphInput(decl.name, decl.shape, decl.dtype) for decl in spec.inputs]
    if spec.is_graph:
        model = Model(name=spec.name, dtype=spec.dtype, graph=Graph(inputs, nodes, outputs))
    else:
        model = Sequential([node.layer for node in nodes], name=spec.name, dtype=spec.dtype)
        model.graph.inputs[0] = inputs[0]
        for node, built in zip(model.nodes, nodes):
            node.number, node.where, node.scope = built.number, built.where, built.scope
    model.args, model.variant, model.output_aliases = dict(spec.args), spec.variant, dict(spec.output_aliases)
    return model


def _input_shapes(spec: Spec, override: tuple | None) -> list:
    if override is None:
        return [decl.shape for decl in spec.inputs]
    if len(spec.inputs) != 1:
        raise SpecError(f"--input-shape gives one input's shape, but the model has {len(spec.inputs)} inputs; "
                        "give each its shape in the spec", spec.key_value_position("inputs"), code="shape-mismatch")
    return [resolve_input_shape(spec, override)]


def _missing_input_message(spec: Spec, shapes: list) -> str:
    if len(spec.inputs) == 1:
        return ("the model's input shape is unknown: add 'input: [...]' to the spec "
                "or pass --input-shape (e.g. --input-shape 28,28,1)")
    missing = [decl.name for decl, shape in zip(spec.inputs, shapes) if shape is None]
    return f"input '{missing[0]}' has no shape: give it in the spec"


def build_located(model, spec: Spec, input_shape) -> None:
    """``model.build(input_shape)`` with errors placed in the spec file."""
    try:
        model.build(input_shape)
    except LayerspecError as error:
        raise locate(error, spec) from None


def locate(error: LayerspecError, spec: Spec) -> LayerspecError:
    """Point an error about layer N (and maybe an argument) into the file."""
    if error.position is None and error.layer_index is not None and error.layer_index < len(spec.layers):
        error.position = spec.layers[error.layer_index].argument_position(error.argument)
    elif error.position is None:
        error.position = spec.key_value_position("input")
    return error


def locate_layer(error: LayerspecError, spec: Spec) -> LayerspecError:
    """Point an error about one layer (an exporter's refusal) at its entry;
    any other error is left as it is (:func:`locate` would place it at
    ``input``)."""
    return locate(error, spec) if error.layer_index is not None else error


def _construct(layer: LayerSpec):
    from .layers.base import Layer
    from .registry import arguments_of

    arguments = dict(layer.arguments)
    # A user layer may not pass **kwargs on to Layer; it still gets its name.
    name_by_argument = "name" in arguments_of(layer.layer_class)
    if layer.name is not None and name_by_argument:
        arguments["name"] = layer.name
    try:
        instance = layer.layer_class(**arguments)
    except LayerspecError as error:
        raise _prefix(error, f"{layer.label}: ").at(layer.argument_position(error.argument)) from None
    except Exception as error:  # a user layer's constructor failing its own way
        raise SpecError(f"{layer.label}: {type(error).__name__}: {error}", layer.position,
                        code="invalid-argument") from error
    if not isinstance(instance, Layer) or not hasattr(instance, "_weights"):
        raise SpecError(f"{layer.label}: {layer.layer_class.__name__}.__init__ must call "
                        "super().__init__(**kwargs)", layer.position, code="invalid-layer")
    if layer.name is not None and not name_by_argument:
        instance.name = layer.name
    return instance
