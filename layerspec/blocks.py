"""Blocks, repeats and model arguments: a spec's layer list expanded into
the flat list of layer entries the rest of layerspec reads.

A spec may define named, parameterised sub-graphs (``blocks:``), apply an
entry several times in a row (``repeat: N``), and compute values from model
arguments (``args:``, ``variants:``, ``--set``, ``--variant``) with
``${EXPR}`` (see :mod:`layerspec.expressions`). Everything is expanded here,
before the layers are read, into plain layer entries:

- every value is substituted, each entry keeping the positions it was
  written at, so a problem inside a block points at the block's own line;
- a block application's layers are named by path (``residual_1/conv2d``),
  numbered within their application as a model numbers its layers, so
  weight keys follow (``residual_1/conv2d/kernel``);
- references are rewritten into what the wiring reads: a reference to a
  tensor made by the expansion becomes a negative offset counting back
  through the flat list, or the path name of its layer; names written at the
  top level stay as written.

Each flat entry carries an :class:`Origin`: its number in the list it was
written in, the block applications around it (for the summary's tree) and
where it came from ("in block 'residual' used at model.yaml:31:5"), which
messages about it add.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .arguments import describe_value, suggest
from .errors import LayerspecError, Position, SpecError, flatten
from .yamlread import YamlList, YamlMap, key_position, position_of

#: The keys of a block definition.
BLOCK_KEYS = ("args", "inputs", "layers", "outputs")
#: The keys of an entry that are about the graph, not a block's arguments.
ENTRY_KEYS = ("type", "name", "inputs", "repeat", "reuse")
#: The name a block's single input has inside it.
BLOCK_INPUT = "in"
#: Most copies ``repeat`` may make: a typo (``repeat: 1000000``) should be
#: an error, not a minute of expansion.
MAX_REPEAT = 10_000
#: Most flat entries a spec may expand to.
MAX_ENTRIES = 200_000

#: Report a problem: ``(message, position, code)``.
Report = Callable[[str, "Position | None", str], None]


@dataclass
class Origin:
    """Where a flat entry comes from.

    Attributes:
        number: its number (from 1) in the list it is written in: the
            spec's ``layers`` or a block's.
        where: for an entry inside a block application, what messages add:
            `` in block 'residual' used at model.yaml:31:5`` (innermost
            application first); empty at the top level.
        scope: the block applications it sits in, outermost first, as
            ``(application name, block name)`` pairs.
        generated_name: its name was made by the expansion (a path, or the
            numbered name of a repeated copy), not written.
    """

    number: int
    where: str = ""
    scope: tuple = ()
    generated_name: bool = False


@dataclass
class Settings:
    """What the command line sets: a variant and argument values
    (``--variant``, ``--set NAME=VALUE``, values already read as YAML)."""

    variant: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Expansion:
    """A spec's layer list expanded.

    Attributes:
        layers: the flat entries (Input entries stay where written).
        origins: one :class:`Origin` per flat entry.
        outputs: the top-level ``outputs`` with block applications
            rewritten to the layers giving their results (None if absent).
        output_aliases: flat entry name → the block application it is the
            result of, for outputs named after their block.
        args: the model arguments in effect, by name.
        variant: the variant chosen, if any.
        expect: ``expect`` overrides of the chosen variant.
    """

    layers: YamlList
    origins: list[Origin]
    outputs: Any = None
    output_aliases: dict[str, str] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None
    expect: dict[str, Any] = field(default_factory=dict)


def needs_expansion(document: YamlMap) -> bool:
    """Whether the spec uses blocks, repeats, arguments or expressions (a
    spec that uses none is read exactly as before)."""
    if any(key in document for key in ("blocks", "args", "variants")):
        return True
    layers = document.get("layers")
    if isinstance(layers, list) and any(isinstance(entry, dict) and "repeat" in entry for entry in layers):
        return True
    return _mentions_expression(document)


def _mentions_expression(value: Any) -> bool:
    from .expressions import has_expression

    if isinstance(value, str):
        return has_expression(value)
    if isinstance(value, dict):
        return any(_mentions_expression(item) for item in value.values())
    if isinstance(value, list):
        return any(_mentions_expression(item) for item in value)
    return False


# --------------------------------------------------------------------------
# references


@dataclass(frozen=True)
class Ref:
    """A tensor the expansion knows: made by the flat entry ``index`` (named
    ``name`` if the expansion named it), or written text passed to the
    wiring as it is (a top-level layer's name, a model input, ``lstm.state_h``)."""

    index: int | None = None
    name: str | None = None
    text: Any = None
    #: The model's first input, as the wiring feeds it to a first layer
    #: that names no input (so a spec starting with a block stays a stack).
    implicit: bool = False

    def written_at(self, reader: int) -> Any:
        """The reference as the entry at flat index ``reader`` writes it."""
        if self.index is None:
            return self.text
        return self.index - reader  # a negative offset through the flat list

    def as_output(self) -> Any:
        """The reference as ``outputs`` writes it (a name; offsets are not allowed there)."""
        return self.text if self.index is None else self.name


@dataclass
class _Block:
    """A checked block definition."""

    name: str
    source: YamlMap
    args: YamlMap
    inputs: list[str]
    layers: YamlList
    outputs: Any
    order: int


@dataclass
class _Scope:
    """Where entries are being expanded: the names expressions see, the path
    prefix of generated names, and what references may name."""

    names: dict[str, Any]
    path: str = ""
    where: str = ""
    scope: tuple = ()
    block: _Block | None = None
    #: The block's inputs by name (``in`` for a single one).
    inputs: dict[str, Ref] = field(default_factory=dict)
    #: Names written in this list → the references to their results
    #: (a block application: one per output, the first being its result).
    local: dict[str, list[Ref]] = field(default_factory=dict)
    #: Output names of each block application here: application → names.
    output_names: dict[str, list[str]] = field(default_factory=dict)
    #: Leaf names of each block application here, in order (for reuse).
    leaves: dict[str, list[str]] = field(default_factory=dict)
    #: Bound arguments of each block application here (for reuse).
    bound: dict[str, tuple[_Block, dict]] = field(default_factory=dict)
    #: Names of entries here that failed: references to them are not
    #: reported again.
    failed: set = field(default_factory=set)

    @property
    def top(self) -> bool:
        return self.block is None


@dataclass
class _Prepared:
    """One written entry, substituted and read."""

    written_index: int
    entry: YamlMap | None
    repeat: int = 1
    block: _Block | None = None
    names: list[str | None] = field(default_factory=list)
    layer_class: type | None = None
    is_input: bool = False
    skip: bool = False


class Expander:
    """Expands one spec document; problems go to ``report``."""

    def __init__(self, document: YamlMap, path: str, report: Report, settings: Settings | None = None):
        self.document = document
        self.path = path
        self.report = report
        self.settings = settings or Settings()
        self.flat = YamlList(position_of(document, "layers") or Position(path, 1, 1))
        self.origins: list[Origin] = []
        self.blocks: dict[str, _Block] = {}
        self.failed = False
        self._told: set = set()
        self._last_application: str | None = None
        #: The spec's text, for expression errors' exact columns.
        self.text = getattr(document, "source_text", None)
        #: Leaf names being emitted for the application currently recorded.
        self._leaf_log: list[list[str]] = []

    # -- entry point ----------------------------------------------------------
    def expand(self) -> Expansion:
        """The flat layer list and everything the spec needs from the expansion."""
        args, variant, expect = self._model_arguments()
        self._read_blocks(args)
        scope = _Scope(names=args)
        layers = self.document.get("layers")
        outputs = None
        aliases: dict[str, str] = {}
        if isinstance(layers, list):
            try:
                results = self._expand_list(layers, scope, None)
            except _TooLarge:
                return Expansion(YamlList(self.flat.position), [], None, {}, args, variant, expect)
            outputs, aliases = self._top_outputs(scope, results)
        return Expansion(self.flat, self.origins, outputs, aliases, args, variant, expect)

    # -- model arguments --------------------------------------------------------
    def _model_arguments(self) -> tuple[dict[str, Any], str | None, dict]:
        """The model's arguments: its ``args`` with the chosen variant's and
        ``--set``'s values, each evaluated in order (one may use those above)."""
        from .expressions import substitute

        written = self.document.get("args", {})
        if not isinstance(written, dict):
            self._problem(f"'args' must map argument names to values, got {describe_value(written)}",
                          position_of(self.document, "args"), "invalid-value")
            written = YamlMap(position_of(self.document, "args"))
        for name in written:
            self._check_identifier(name, "model argument", key_position(written, name))
        raw: dict[str, tuple[Any, Any]] = {name: (value, written) for name, value in written.items()}
        variant, expect = self._apply_variant(raw)
        for name, value in self.settings.values.items():
            if name not in raw:
                known = list(raw)
                raise SpecError(f"--set {name}: the spec has no argument '{name}'{suggest(name, known)}"
                                f"{' (its arguments: ' + ', '.join(known) + ')' if known else ' (it has none)'}",
                                None, code="unknown-argument")
            raw[name] = (value, None)
        args: dict[str, Any] = {}
        for name, (value, container) in raw.items():
            try:
                args[name] = substitute(value, args, position_of(container, name) if container else None,
                                        self.text)
            except LayerspecError as error:
                self._add_error(error)
                args[name] = None
        return args, variant, expect

    def _apply_variant(self, raw: dict) -> tuple[str | None, dict]:
        variants = self.document.get("variants", {})
        if not isinstance(variants, dict):
            self._problem(f"'variants' must map variant names to argument values, got {describe_value(variants)}",
                          position_of(self.document, "variants"), "invalid-value")
            variants = {}
        for name, values in variants.items():
            self._check_variant(name, values, raw, variants)
        chosen = self.settings.variant
        if chosen is None:
            return None, {}
        if chosen not in variants:
            known = list(variants)
            raise SpecError(f"--variant {chosen}: the spec has no variant '{chosen}'{suggest(chosen, known)}"
                            f"{' (its variants: ' + ', '.join(known) + ')' if known else ' (it has none)'}",
                            None, code="unknown-argument")
        values = variants[chosen] if isinstance(variants[chosen], dict) else {}
        for name, value in values.items():
            if name != "expect" and name in raw:
                raw[name] = (value, values)
        expect = values.get("expect", {})
        return chosen, expect if isinstance(expect, dict) else {}

    def _check_variant(self, name: str, values: Any, raw: dict, variants: YamlMap) -> None:
        if not isinstance(values, dict):
            self._problem(f"variant '{name}' must map argument names to values, got {describe_value(values)}",
                          position_of(variants, name), "invalid-value")
            return
        for key in values:
            if key == "expect":
                continue
            if key not in raw:
                known = list(raw)
                self._problem(f"variant '{name}': the spec has no argument '{key}'{suggest(key, known)} (a variant "
                              "sets model arguments declared in 'args', and may hold 'expect')",
                              key_position(values, key), "unknown-argument")

    # -- block definitions ------------------------------------------------------
    def _read_blocks(self, args: dict) -> None:
        from .registry import lookup

        written = self.document.get("blocks", {})
        if not isinstance(written, dict):
            self._problem(f"'blocks' must map block names to definitions, got {describe_value(written)}",
                          position_of(self.document, "blocks"), "invalid-value")
            return
        for order, (name, definition) in enumerate(written.items()):
            where = key_position(written, name)
            if not self._check_identifier(name, "block", where):
                continue
            if name == BLOCK_INPUT or name in args:
                self._problem(f"block '{name}': the name is taken by "
                              f"{'a block input' if name == BLOCK_INPUT else 'a model argument'}", where,
                              "duplicate-name")
                continue
            try:
                lookup(name)
            except LayerspecError:
                pass
            else:
                self._problem(f"block '{name}' shadows the layer type of that name; name the block otherwise",
                              where, "duplicate-name")
                continue
            block = self._read_block(name, definition, position_of(written, name), order)
            if block is not None:
                self.blocks[name] = block

    def _read_block(self, name: str, definition: Any, position: Position | None, order: int) -> _Block | None:
        if not isinstance(definition, dict):
            self._problem(f"block '{name}' must be a mapping with 'layers', got {describe_value(definition)}",
                          position, "invalid-value")
            return None
        for key in definition:
            if key not in BLOCK_KEYS:
                self._problem(f"block '{name}': unknown key '{key}'{suggest(key, BLOCK_KEYS)}",
                              key_position(definition, key), "unknown-key")
        layers = definition.get("layers")
        if not isinstance(layers, list) or not layers:
            self._problem(f"block '{name}': 'layers' must be a non-empty list of layers, got "
                          f"{describe_value(layers)}", position_of(definition, "layers") if "layers" in definition
                          else position, "missing-key" if layers is None else "invalid-value")
            return None
        args = definition.get("args", YamlMap(position))
        if not isinstance(args, dict):
            self._problem(f"block '{name}': 'args' must map argument names to defaults (null: required), got "
                          f"{describe_value(args)}", position_of(definition, "args"), "invalid-value")
            args = YamlMap(position)
        for arg in args:
            if self._check_identifier(arg, f"block '{name}' argument", key_position(args, arg)) and \
                    arg in ENTRY_KEYS:
                self._problem(f"block '{name}': argument '{arg}' would be read as the entry's own '{arg}' key; "
                              "name it otherwise", key_position(args, arg), "invalid-value")
        inputs = self._block_inputs(name, definition)
        return _Block(name, definition, args, inputs, layers, definition.get("outputs"), order)

    def _block_inputs(self, name: str, definition: YamlMap) -> list[str]:
        written = definition.get("inputs")
        if written is None:
            return [BLOCK_INPUT]
        names = written if isinstance(written, list) else [written]
        if not names or not all(isinstance(item, str) and item for item in names) or len(set(names)) < len(names):
            self._problem(f"block '{name}': 'inputs' must list distinct input names, e.g. [a, b], got "
                          f"{describe_value(written)}", position_of(definition, "inputs"), "invalid-value")
            return [BLOCK_INPUT]
        return list(names)

    def _check_identifier(self, name: Any, what: str, position: Position | None) -> bool:
        if isinstance(name, str) and name.isidentifier():
            return True
        self._problem(f"{what} name {describe_value(name)} must be a name of letters, digits and underscores "
                      "(not starting with a digit)", position, "invalid-value")
        return False

    # -- expanding a list -------------------------------------------------------
    def _expand_list(self, entries: list, scope: _Scope, first_input: list[Ref] | None) -> list[list[Ref] | None]:
        """Expand ``entries`` (a spec's or a block's) in ``scope``; returns
        each written entry's results (None for an entry that failed).

        ``first_input``: what the first entry reads when it names no input
        (a block's input); None at the top level, where the wiring feeds
        the first layer the model's first input.
        """
        prepared = [self._prepare(index, entry, scope) for index, entry in enumerate(entries)]
        self._name_entries(prepared, scope)
        results: list[list[Ref] | None] = []
        for item in prepared:
            results.append(self._emit(item, scope, results, first_input))
        return results

    def _prepare(self, index: int, entry: Any, scope: _Scope) -> _Prepared:
        from .expressions import substitute
        from .spec_inputs import is_input_entry

        if not isinstance(entry, dict):
            if not scope.top:
                self._problem(f"layer {index + 1}{scope.where} must be a mapping of arguments (e.g. "
                              f"'{{units: 10}}'), got {describe_value(entry)}", position_of(scope.block.layers, index),
                              "invalid-layer")
            return _Prepared(index, entry, skip=not scope.top)
        if is_input_entry(entry):
            if not scope.top:
                self._problem(f"layer {index + 1}{scope.where}: a block takes its inputs from where it is used "
                              f"({', '.join(scope.block.inputs)}); it cannot declare an Input",
                              entry.position, "invalid-layer")
                return _Prepared(index, None, skip=True)
            return _Prepared(index, entry, is_input=True)
        try:
            entry = substitute(entry, scope.names, entry.position, self.text)
        except LayerspecError as error:
            self._add_error(error, scope.where)
            name = entry.get("name")
            if isinstance(name, str):
                scope.failed.add(name)
            return _Prepared(index, None, skip=True)
        item = _Prepared(index, entry)
        item.repeat = self._repeat_count(entry, index, scope)
        type_name = entry.get("type")
        if "reuse" not in entry and isinstance(type_name, str) and type_name in self.blocks:
            item.block = self.blocks[type_name]
            if scope.block is not None and item.block.order >= scope.block.order:
                self._problem(f"layer {index + 1}{scope.where}: block '{scope.block.name}' uses block "
                              f"'{type_name}', which is not defined above it (a block may only use blocks defined "
                              "before it, so none can contain itself)", position_of(entry, "type"), "invalid-layer")
                item.skip = True
        elif "reuse" not in entry:
            item.layer_class = _layer_class(type_name)
        return item

    def _repeat_count(self, entry: YamlMap, index: int, scope: _Scope) -> int:
        if "repeat" not in entry:
            return 1
        count = entry["repeat"]
        position = position_of(entry, "repeat")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_REPEAT:
            self._problem(f"layer {index + 1}{scope.where}: 'repeat' must be an integer from 1 to {MAX_REPEAT:,}, "
                          f"got {describe_value(count)}", position, "invalid-value")
            return 1
        if "reuse" in entry:
            self._problem(f"layer {index + 1}{scope.where}: an entry with 'reuse' applies one layer again; it "
                          "cannot repeat", key_position(entry, "repeat"), "invalid-value")
            return 1
        return count

    # -- names --------------------------------------------------------------------
    def _name_entries(self, prepared: list[_Prepared], scope: _Scope) -> None:
        """Every copy's name: explicit ``X`` gives ``X``, ``X_1``, ...; an
        unnamed block application its block's name, numbered per block; an
        unnamed layer inside a block its automatic name, numbered within the
        application (at the top level the spec numbers layers itself)."""
        from .naming import auto_names, spec_entry

        counters: dict[str, int] = {}
        plain: list[tuple[_Prepared, int]] = []
        for item in prepared:
            if item.skip or item.entry is None or item.is_input:
                continue
            explicit = item.entry.get("name")
            explicit = explicit if isinstance(explicit, str) and explicit else None
            if explicit is not None and "/" in explicit:
                continue  # reported as the layer's own error
            if explicit is not None:
                item.names = [explicit if copy == 0 else f"{explicit}_{copy}" for copy in range(item.repeat)]
            elif item.block is not None:
                for _ in range(item.repeat):
                    count = counters.get(item.block.name, 0)
                    counters[item.block.name] = count + 1
                    item.names.append(item.block.name if count == 0 else f"{item.block.name}_{count}")
            elif "reuse" in item.entry:
                item.names = [None]
            else:
                item.names = [None] * item.repeat
                plain.extend((item, copy) for copy in range(item.repeat))
        if scope.top or not plain:
            return
        numbered = auto_names(spec_entry(item.layer_class or _Unknown, None, item.entry) for item, _ in plain)
        for (item, copy), name in zip(plain, numbered):
            item.names[copy] = name

    # -- emitting -----------------------------------------------------------------
    def _emit(self, item: _Prepared, scope: _Scope, results: list,
              first_input: list[Ref] | None) -> list[Ref] | None:
        if item.is_input or (scope.top and not item.skip and not isinstance(item.entry, dict)):
            # Input entries and entries that are no mapping stay in the list as
            # written; the spec reports the latter.
            index = self._append(item.entry, Origin(item.written_index + 1))
            return [Ref(index)]
        if item.skip or item.entry is None:
            return None
        if scope.top:  # the last top-level entry, if a block application, names the default output
            self._last_application = item.names[-1] if item.block is not None and item.names else None
        reads = self._reads(item, scope, results, first_input)
        if reads is False:
            return None
        if "reuse" in item.entry:
            return self._emit_reuse(item, scope, reads)
        copies: list[Ref] | None = None
        for copy in range(item.repeat):
            current = reads if copy == 0 else copies[:1]
            if item.block is not None:
                copies = self._apply_block(item, copy, scope, current)
            else:
                copies = [self._emit_layer(item, copy, scope, current)]
            if copies is None:
                return None
        return copies

    def _reads(self, item: _Prepared, scope: _Scope, results: list, first_input: list[Ref] | None):
        """What the entry's first copy reads: a list of references, None for
        "the entry above as the wiring finds it", False after a problem."""
        entry = item.entry
        if "inputs" not in entry:
            above = _previous(results, item.written_index)
            if above is not None:
                return above[:1]
            if item.written_index == 0 or not scope.top:
                return first_input  # a block's input; None at the top: the model's first input
            return None
        written = entry["inputs"]
        position = position_of(entry, "inputs")
        references = ([(value, position_of(written, at)) for at, value in enumerate(written)]
                      if isinstance(written, list) else [(written, position)])
        resolved = [self._resolve(value, where, item, scope, results) for value, where in references]
        if any(ref is None for ref in resolved):
            return False
        return resolved

    def _resolve(self, value: Any, position: Position | None, item: _Prepared, scope: _Scope,
                 results: list) -> Ref | None:
        """The tensor a reference written in ``scope`` names."""
        if isinstance(value, int) and not isinstance(value, bool):
            if value >= 0:
                return Ref(text=value) if scope.top else self._bad_offset(value, position, item, scope)
            above = item.written_index + value
            while above >= 0 and results[above] is None:
                above -= 1  # a failed entry above: the wiring's rule (skip it) keeps messages consistent
            if above < 0:
                if scope.top:
                    return Ref(text=value)  # the wiring reports it, naming the model inputs
                return self._bad_offset(value, position, item, scope)
            return results[above][0]
        if not isinstance(value, str):
            return Ref(text=value)  # the wiring reports it
        found = self._named(value, scope)
        if found is not None:
            return found
        if value in scope.failed or value.split(".", 1)[0] in scope.failed:
            return None  # its own error is reported
        if scope.top:
            return Ref(text=value)
        known = list(scope.inputs) + [name for name in scope.local]
        self._problem(f"layer {item.written_index + 1}{scope.where}: no layer or input named '{value}' in block "
                      f"'{scope.block.name}'{suggest(value, known)} (a block reads its inputs "
                      f"({', '.join(scope.block.inputs)}) and its own layers above)", position, "unknown-reference")
        return None

    def _bad_offset(self, value: int, position, item: _Prepared, scope: _Scope) -> None:
        self._problem(f"layer {item.written_index + 1}{scope.where}: offset {value} must be negative and stay "
                      f"within block '{scope.block.name}' (-1 is the layer just above; name the block's input "
                      f"{', '.join(repr(name) for name in scope.block.inputs)} to read it)", position,
                      "invalid-reference")
        return None

    def _named(self, value: str, scope: _Scope) -> Ref | None:
        if value in scope.inputs:
            return scope.inputs[value]
        if value in scope.local:
            return scope.local[value][0]
        if "." in value:
            owner, part = value.split(".", 1)
            if owner in scope.output_names:  # one output of a block application
                names = scope.output_names[owner]
                if part in names:
                    return scope.local[owner][names.index(part)]
            elif owner in scope.local and not scope.top:  # one output of a layer inside a block
                ref = scope.local[owner][0]
                return Ref(text=f"{ref.name}.{part}")
        return None

    def _emit_layer(self, item: _Prepared, copy: int, scope: _Scope, reads: list[Ref] | None) -> Ref:
        entry = YamlMap(item.entry.position)
        _copy_into(entry, item.entry, skip=("repeat", "inputs", "name"))
        name = item.names[copy] if copy < len(item.names) else None
        generated = False
        if name is not None:
            full = scope.path + name
            generated = full != item.entry.get("name")
            _put(entry, "name", full, item.entry, "name")
        index = len(self.flat)
        self._set_inputs(entry, item.entry, reads, index)
        self._append(entry, Origin(item.written_index + 1, scope.where, scope.scope, generated))
        ref = Ref(index, scope.path + name if name is not None else None)
        if name is not None:
            scope.local.setdefault(name, [ref])
        return ref

    def _set_inputs(self, entry: YamlMap, written: YamlMap, reads: list[Ref] | None, index: int) -> None:
        """Write what the flat entry at ``index`` reads, only where the wiring
        would not find it alone (the entry just above), so that a repeated
        plain stack stays a plain stack."""
        if reads is None:
            return
        if "inputs" not in written and len(reads) == 1 and (
                reads[0].index == index - 1 or (reads[0].implicit and index == 0)):
            return
        values = [ref.written_at(index) for ref in reads]
        where = position_of(written, "inputs") if "inputs" in written else written.position
        if len(values) == 1 and not isinstance(written.get("inputs"), list):
            _put_value(entry, "inputs", values[0], where)
            return
        listed = YamlList(where)
        items = written.get("inputs") if isinstance(written.get("inputs"), list) else []
        for at, value in enumerate(values):
            listed.append(value)
            listed.item_positions.append(position_of(items, at) if at < len(items) else where)
        _put_value(entry, "inputs", listed, where)

    # -- block applications -----------------------------------------------------
    def _apply_block(self, item: _Prepared, copy: int, scope: _Scope, reads: list[Ref] | None) -> list[Ref] | None:
        block = item.block
        name = item.names[copy]
        where = f" in block '{block.name}' used at {_shown(item.entry.position)}{scope.where}"
        bound = self._bind(block, item, scope, where)
        if bound is None:
            return None
        inputs = self._block_reads(block, item, scope, reads, where)
        if inputs is None:
            return None
        inner = _Scope(names={**scope.names, **bound}, path=f"{scope.path}{name}/", where=where,
                       scope=scope.scope + ((scope.path + name, block.name),), block=block, inputs=inputs)
        self._leaf_log.append([])
        # A first layer naming no input reads the block's (first) input.
        results = self._expand_list(block.layers, inner, [inputs[block.inputs[0]]])
        leaves = self._leaf_log.pop()
        if self._leaf_log:
            self._leaf_log[-1].extend(leaves)
        outputs, names = self._block_outputs(block, inner, results, where)
        if outputs is None:
            return None
        scope.local.setdefault(name, outputs)
        scope.output_names[name] = names
        scope.leaves[name] = leaves
        scope.bound[name] = (block, bound)
        return outputs

    def _bind(self, block: _Block, item: _Prepared, scope: _Scope, where: str) -> dict | None:
        """The block's arguments for this use: given values, else defaults
        (evaluated in order, seeing the model's arguments and those before)."""
        from .expressions import substitute

        given = {key: value for key, value in item.entry.items() if key not in ENTRY_KEYS}
        ok = True
        for key in given:
            if key not in block.args:
                known = list(block.args)
                self._problem(f"layer {item.written_index + 1}{scope.where}: block '{block.name}' has no argument "
                              f"'{key}'{suggest(key, known)}"
                              f"{' (its arguments: ' + ', '.join(known) + ')' if known else ' (it takes none)'}",
                              key_position(item.entry, key), "unknown-argument")
                ok = False
        bound: dict[str, Any] = {}
        for arg, default in block.args.items():
            if arg in given:
                bound[arg] = given[arg]
                continue
            if default is None:
                self._problem(f"layer {item.written_index + 1}{scope.where}: block '{block.name}' needs argument "
                              f"'{arg}'", item.entry.position, "missing-argument")
                ok = False
                continue
            try:
                bound[arg] = substitute(default, {**scope.names, **bound}, position_of(block.args, arg), self.text)
            except LayerspecError as error:
                self._add_error(error, where)
                ok = False
        return bound if ok else None

    def _block_reads(self, block: _Block, item: _Prepared, scope: _Scope, reads: list[Ref] | None,
                     where: str) -> dict[str, Ref] | None:
        """The block's inputs by name, from what its use reads."""
        if reads is None:  # the model's first input, as the wiring would feed it
            reads = [self._first_model_input()]
        if len(reads) != len(block.inputs):
            self._problem(f"layer {item.written_index + 1}{scope.where}: block '{block.name}' takes "
                          f"{len(block.inputs)} input{'s' * (len(block.inputs) != 1)} "
                          f"({', '.join(block.inputs)}), but it is given {len(reads)}",
                          position_of(item.entry, "inputs") if "inputs" in item.entry else item.entry.position,
                          "too-many-inputs" if len(reads) > len(block.inputs) else "missing-inputs")
            return None
        return dict(zip(block.inputs, reads))

    def _first_model_input(self) -> Ref:
        document = self.document
        if isinstance(document.get("inputs"), dict) and document["inputs"]:
            return Ref(text=next(iter(document["inputs"])), implicit=True)
        return Ref(text="input", implicit=True)

    def _block_outputs(self, block: _Block, inner: _Scope, results: list, where: str):
        """The references to a block application's results, and their names."""
        written = block.outputs
        if written is None:
            last = _previous(results, len(results))
            if last is None:
                return None, []
            return last, [str(number) for number in range(len(last))]
        position = position_of(block.source, "outputs")
        items = written if isinstance(written, list) else [written]
        outputs, names = [], []
        for at, value in enumerate(items):
            where_item = position_of(written, at) if isinstance(written, list) else position
            ref = self._named(value, inner) if isinstance(value, str) else None
            if ref is None:
                known = list(inner.local) + list(inner.inputs)
                self._problem(f"block '{block.name}': 'outputs' names no layer of the block: "
                              f"{describe_value(value)}{suggest(value, known) if isinstance(value, str) else ''}"
                              f"{where}", where_item, "unknown-reference")
                return None, []
            outputs.append(ref)
            names.append(value)
        return outputs, names

    # -- reuse ------------------------------------------------------------------
    def _emit_reuse(self, item: _Prepared, scope: _Scope, reads) -> list[Ref] | None:
        target = item.entry.get("reuse")
        if isinstance(target, str) and target in scope.bound:
            return self._reuse_block(item, scope, reads, target)
        entry = YamlMap(item.entry.position)
        _copy_into(entry, item.entry, skip=("inputs", "name", "reuse"))
        if not scope.top and isinstance(target, str) and target in scope.local:
            _put(entry, "reuse", scope.local[target][0].name, item.entry, "reuse")
        else:
            _put(entry, "reuse", target, item.entry, "reuse")
        name = item.entry.get("name") or (f"{target}_reuse" if not scope.top and isinstance(target, str) else None)
        if name is not None and not scope.top:
            name = _free(f"{name}", scope.local)
            _put(entry, "name", scope.path + name, item.entry, "name")
        elif name is not None:
            _put(entry, "name", name, item.entry, "name")
        index = len(self.flat)
        self._set_inputs(entry, item.entry, reads, index)
        self._append(entry, Origin(item.written_index + 1, scope.where, scope.scope, not scope.top))
        ref = Ref(index, scope.path + name if name is not None else None)
        if name is not None:
            scope.local.setdefault(name, [ref])
        return [ref]

    def _reuse_block(self, item: _Prepared, scope: _Scope, reads, target: str) -> list[Ref] | None:
        """A block application applied again, sharing every weight: each of its
        layers becomes a reuse of the original's."""
        block, bound = scope.bound[target]
        name = item.entry.get("name") or _free(f"{target}_reuse", scope.local)
        where = f" in block '{block.name}' used at {_shown(item.entry.position)}{scope.where}"
        inputs = self._block_reads(block, item, scope, reads, where)
        if inputs is None:
            return None
        inner = _Scope(names={**scope.names, **bound}, path=f"{scope.path}{name}/", where=where,
                       scope=scope.scope + ((scope.path + name, block.name),), block=block, inputs=inputs)
        originals = iter(scope.leaves[target])
        start = len(self.flat)
        self._leaf_log.append([])
        results = self._expand_list(block.layers, inner, [inputs[block.inputs[0]]])
        self._leaf_log.pop()
        for index in range(start, len(self.flat)):
            entry = self.flat[index]
            original = next(originals, None)
            if original is None:
                break
            shared = YamlMap(entry.position)
            shared.key_positions, shared.value_positions = entry.key_positions, entry.value_positions
            for key in ("name", "inputs"):
                if key in entry:
                    shared[key] = entry[key]
            shared["reuse"] = original
            self.flat[index] = shared
        outputs, names = self._block_outputs(block, inner, results, where)
        if outputs is None:
            return None
        scope.local.setdefault(name, outputs)
        scope.output_names[name] = names
        return outputs

    # -- top-level outputs -------------------------------------------------------
    def _top_outputs(self, scope: _Scope, results: list) -> tuple[Any, dict[str, str]]:
        """``outputs`` with block applications rewritten to the layers giving
        their results; a default output that is a block application's result."""
        aliases: dict[str, str] = {}
        written = self.document.get("outputs")
        if written is None:
            last = _previous(results, len(results))
            if last is not None and self._last_application is not None and last[0].name is not None:
                aliases[last[0].name] = self._last_application  # the output is named after its block
            if last is not None and last[0].index is not None and last[0].index != len(self.flat) - 1:
                return last[0].as_output(), aliases
            return None, aliases
        items = written if isinstance(written, list) else [written]
        rewritten = YamlList(position_of(self.document, "outputs")) if isinstance(written, list) else None
        for at, value in enumerate(items):
            ref = self._named(value, scope) if isinstance(value, str) else None
            shown = ref.as_output() if ref is not None else value
            if ref is not None and ref.index is not None and "." not in value:
                aliases[ref.name] = value
            if rewritten is None:
                return shown, aliases
            rewritten.append(shown)
            rewritten.item_positions.append(position_of(written, at))
        return rewritten, aliases

    # -- bookkeeping -----------------------------------------------------------------
    def _append(self, entry: Any, origin: Origin) -> int:
        if len(self.flat) >= MAX_ENTRIES:  # repeats inside repeats: stop now, not after 10^8 layers
            self._problem(f"the spec expands to more than {MAX_ENTRIES:,} layers; check its 'repeat' counts",
                          getattr(entry, "position", None), "invalid-value")
            raise _TooLarge
        self.flat.append(entry)
        self.flat.item_positions.append(getattr(entry, "position", None))
        self.origins.append(origin)
        if self._leaf_log and isinstance(entry, dict):
            self._leaf_log[-1].append(entry.get("name"))
        return len(self.flat) - 1

    def _problem(self, message: str, position: Position | None, code: str) -> None:
        self.failed = True
        # A block used several times repeats its problems: each is told once.
        key = (message, position)
        if key not in self._told:
            self._told.add(key)
            self.report(message, position, code)

    def _add_error(self, error: LayerspecError, where: str = "") -> None:
        for single in flatten(error):
            self._problem(single.message + where, single.position, single.code or "invalid-expression")


class _Unknown:
    """Stands for an unknown layer type in numbering (its own error reports it)."""


class _TooLarge(Exception):
    """The expansion passed MAX_ENTRIES (reported where it happened)."""


def _layer_class(type_name: Any) -> type | None:
    from .registry import lookup

    if type_name is None:
        type_name = "Dense"
    if not isinstance(type_name, str):
        return None
    try:
        return lookup(type_name)
    except LayerspecError:
        return None


def _previous(results: list, index: int) -> list[Ref] | None:
    """The results of the nearest entry above ``index`` that has any."""
    for above in range(index - 1, -1, -1):
        if results[above] is not None:
            return results[above]
    return None


def _free(name: str, taken: dict) -> str:
    if name not in taken:
        return name
    number = 1
    while f"{name}_{number}" in taken:
        number += 1
    return f"{name}_{number}"


def _shown(position: Position | None) -> str:
    if position is None or position.line is None:
        return "?"
    return f"{position.path}:{position.line}:{position.col}"


def _copy_into(target: YamlMap, source: YamlMap, skip: tuple) -> None:
    for key, value in source.items():
        if key in skip:
            continue
        target[key] = value
        target.key_positions[key] = key_position(source, key)
        target.value_positions[key] = position_of(source, key)


def _put(target: YamlMap, key: str, value: Any, source: YamlMap, from_key: str) -> None:
    where = position_of(source, from_key) if from_key in source else source.position
    target[key] = value
    target.key_positions[key] = key_position(source, from_key) if from_key in source else source.position
    target.value_positions[key] = where


def _put_value(target: YamlMap, key: str, value: Any, where: Position | None) -> None:
    target[key] = value
    target.key_positions[key] = where
    target.value_positions[key] = where
