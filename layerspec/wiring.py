"""Spec references → the tensors a graph's nodes read, every problem placed.

A layer entry reads the entry above it unless it names ``inputs``: a layer
name, a model input name, or a negative offset counting back through the
list (-1 is the entry just above). References point only upward, so a spec
cannot hold a cycle. ``outputs`` names the model's results (default: the
last entry). Problems are collected, each at the position of the reference
at fault, so one pass reports them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .arguments import describe_value, suggest
from .errors import Position
from .yamlread import YamlMap, position_of

#: Report a problem: ``(message, position, code)``.
Report = Callable[[str, "Position | None", str], None]


@dataclass
class Entry:
    """What wiring needs of one layer entry.

    Attributes:
        index: position in the spec's ``layers`` list.
        name: the entry's final name (explicit or automatic).
        type_shown: its layer type as messages show it ("Add").
        source: the entry's mapping in the file, for positions.
        several_inputs: whether its layer takes a list of inputs (None when
            the layer type is unknown: then any count is let through).
        inputs: the raw ``inputs`` value, or None when not written.
        reuse: the raw ``reuse`` value, or None.
    """

    index: int
    name: str
    #: The layer type as messages show it; for a reuse entry, its layer's
    #: type once ``reuse`` is resolved.
    type_shown: str
    source: YamlMap
    several_inputs: bool | None
    inputs: Any = None
    reuse: Any = None
    #: Whether a layer taking several inputs may be fed the one above
    #: alone (self-attention); merges may not.
    single_input_ok: bool = False
    #: Position among the nodes (entries that are layers; ``Input`` entries
    #: and broken ones are not nodes).
    node: int = 0
    #: Its number in the list it is written in (default: ``index + 1``), and
    #: for an entry inside a block application where it comes from
    #: (`` in block 'residual' used at model.yaml:31:5``).
    number: int | None = None
    where: str = ""

    @property
    def label(self) -> str:
        """How messages name the entry: ``layer 3 'add' (Add)``."""
        shown = f" ({self.type_shown})" if self.type_shown else ""
        number = self.index + 1 if self.number is None else self.number
        return f"layer {number} '{self.name}'{shown}{self.where}"


@dataclass
class Wiring:
    """The resolved graph of a spec, in tensor numbers (inputs first)."""

    sources: list[tuple[int, ...]]
    #: Per entry: the node whose layer it applies again, or None.
    reuses: list[int | None]
    outputs: tuple[int, ...]
    #: Whether the spec is a graph (names inputs, outputs or reuses); a
    #: plain stack keeps the sequential summary.
    is_graph: bool = False
    #: Positions of the ``name.output`` references, in the order they appear
    #: in ``sources`` (entry by entry) and then ``outputs``.
    picks: list = field(default_factory=list, repr=False)


def wire(entries: list[Entry], inputs: list[tuple[str, "Position | None"]], outputs: Any,
         outputs_position: Position | None, report: Report, graph_keys_at_top: bool = False,
         input_entries: dict[int, int] | None = None) -> Wiring:
    """Resolve every entry's ``inputs`` and ``reuse`` and the model's ``outputs``.

    Args:
        entries: the layer entries in order.
        inputs: the model inputs' names, in order, with where each is declared.
        outputs: the raw top-level ``outputs`` value, or None.
        outputs_position: where ``outputs`` is written.
        report: called for each problem.
        graph_keys_at_top: the spec declares ``inputs`` or ``outputs`` at
            its top level (so it is a graph even if no layer names inputs).
        input_entries: model inputs declared as ``Input`` entries of the
            layer list: their list index → their input number.
    """
    for node, entry in enumerate(entries):
        entry.node = node
    resolver = _Resolver(entries, [name for name, _ in inputs], report, input_entries or {})
    sources, reuses = [], []
    for entry in entries:
        reuses.append(resolver.reuse_of(entry))
        sources.append(resolver.sources_of(entry))
    output_tensors = resolver.outputs(outputs, outputs_position)
    is_graph = graph_keys_at_top or any(entry.inputs is not None or entry.reuse is not None for entry in entries)
    wiring = Wiring(sources, reuses, output_tensors, is_graph, picks=resolver.picks)
    if output_tensors and not resolver.failed:  # with a broken reference, what is dead is not known
        _report_dead_ends(wiring, entries, inputs, report)
    return wiring


class _Resolver:
    """Turns references into tensor numbers for one spec."""

    def __init__(self, entries: list[Entry], input_names: list[str], report: Report, input_entries: dict[int, int]):
        self.entries = entries
        self.by_index = {entry.index: entry for entry in entries}
        self.input_entries = input_entries
        self.input_names = input_names
        self._report = report
        #: Problems reported so far.
        self.failed = 0
        self.first_layer_tensor = len(input_names)
        self.tensor_by_name = {name: number for number, name in enumerate(input_names)}
        #: Where each ``name.output`` reference is written, in resolution order.
        self.picks: list = []
        #: Reuse entries' targets by list index (None where it failed).
        self.reused: dict[int, Entry | None] = {}
        self.entry_by_name: dict[str, Entry] = {}
        for entry in entries:
            self.entry_by_name.setdefault(entry.name, entry)

    def report(self, message: str, position: Position | None, code: str) -> None:
        self.failed += 1
        self._report(message, position, code)

    def tensor(self, entry: Entry) -> int:
        return self.first_layer_tensor + entry.node

    def at_index(self, index: int) -> int | None:
        """The tensor of the list item at ``index`` (a layer or an ``Input``
        entry), skipping items that are neither (broken entries) upward;
        None above the first item."""
        while index >= 0:
            if index in self.by_index:
                return self.tensor(self.by_index[index])
            if index in self.input_entries:
                return self.input_entries[index]
            index -= 1
        return None

    # -- inputs -------------------------------------------------------------
    def sources_of(self, entry: Entry) -> tuple[int, ...]:
        if entry.inputs is None:
            if entry.several_inputs and not entry.single_input_ok:
                self.report(f"{entry.label} takes a list of inputs: name them, e.g. 'inputs: [a, b]'",
                            entry.source.position, "missing-inputs")
                return ()
            # The item above; the first layer reads the first model input.
            above = self.at_index(entry.index - 1)
            return (0 if above is None else above,)
        written = entry.inputs
        position = position_of(entry.source, "inputs")
        if isinstance(written, list):
            if not written:
                self.report(f"{entry.label}: 'inputs' must name at least one input", position, "invalid-value")
                return ()
            references = [(item, position_of(written, at)) for at, item in enumerate(written)]
        else:
            references = [(written, position)]
        resolved = [self.resolve(entry, reference, where) for reference, where in references]
        if any(tensor is None for tensor in resolved):
            return ()
        several = entry.several_inputs
        if entry.reuse is not None and self.reused.get(entry.index) is not None:
            several = self.reused[entry.index].several_inputs
        if len(resolved) > 1 and several is False:
            self.report(f"{entry.label} takes one input, but 'inputs' gives {len(resolved)}", position,
                        "too-many-inputs")
            return ()
        return tuple(resolved)

    def resolve(self, entry: Entry, reference: Any, position: Position | None):
        """The tensor ``reference`` (written in ``entry``) names, or None after a report.

        ``lstm.state_h`` names one output of a layer with several: it
        resolves to ``(tensor, "state_h")``, and building the model checks
        the output's name (see :attr:`Wiring.picks`).
        """
        if isinstance(reference, bool) or not isinstance(reference, (str, int)):
            self.report(f"{entry.label}: an input reference is a layer or input name or a negative offset "
                        f"like -1, got {describe_value(reference)}", position, "invalid-reference")
            return None
        if isinstance(reference, int):
            return self._offset(entry, reference, position)
        if reference in self.tensor_by_name:
            return self.tensor_by_name[reference]
        target = self.entry_by_name.get(reference)
        if target is None and "." in reference and reference.rsplit(".", 1)[0] in self.entry_by_name:
            name, output = reference.rsplit(".", 1)
            tensor = self.resolve(entry, name, position)
            if tensor is None:
                return None
            self.picks.append(position)
            return (tensor, output)
        if target is None:
            known = list(self.tensor_by_name) + [other.name for other in self.entries if other.index < entry.index]
            self.report(f"{entry.label}: no layer or input named '{reference}'{suggest(reference, known)}",
                        position, "unknown-reference")
            return None
        if target.index == entry.index:
            self.report(f"{entry.label}: a layer cannot take its own output as input", position,
                        "forward-reference")
            return None
        if target.index > entry.index:
            self.report(f"{entry.label}: '{reference}' is defined below (line {target.source.position.line}); "
                        "a layer can only take inputs from layers above it", position, "forward-reference")
            return None
        return self.tensor(target)

    def _offset(self, entry: Entry, offset: int, position: Position | None) -> int | None:
        if offset >= 0:
            self.report(f"{entry.label}: an offset counts back through the layers above and is negative "
                        f"(-1 is the layer just above), got {offset}", position, "invalid-reference")
            return None
        tensor = self.at_index(entry.index + offset)
        if tensor is None:
            self.report(f"{entry.label}: offset {offset} reaches above the first layer; "
                        f"name a model input instead ({', '.join(self.input_names) or 'none declared'})",
                        position, "invalid-reference")
        return tensor

    # -- reuse --------------------------------------------------------------
    def reuse_of(self, entry: Entry) -> int | None:
        if entry.reuse is None:
            return None
        target = self._reuse_target(entry)
        self.reused[entry.index] = target
        if target is not None:
            entry.type_shown = target.type_shown
        return None if target is None else target.node

    def _reuse_target(self, entry: Entry) -> Entry | None:
        position = position_of(entry.source, "reuse")
        target = self.entry_by_name.get(entry.reuse) if isinstance(entry.reuse, str) else None
        if target is None or target.index >= entry.index:
            layers_above = [other.name for other in self.entries if other.index < entry.index and other.reuse is None]
            if target is None:
                hint = suggest(entry.reuse, layers_above) if isinstance(entry.reuse, str) else ""
                self.report(f"{entry.label}: 'reuse' names a layer above whose weights to share; "
                            f"no layer named '{entry.reuse}'{hint}", position, "unknown-reference")
            else:
                self.report(f"{entry.label}: 'reuse' can only share a layer defined above; '{target.name}' is "
                            f"defined below (line {target.source.position.line})", position, "forward-reference")
            return None
        while target.reuse is not None:  # reusing a reuse shares the original layer
            target = self.reused.get(target.index)
            if target is None:
                return None
        return target

    # -- outputs ------------------------------------------------------------
    def outputs(self, written: Any, position: Position | None) -> tuple[int, ...]:
        if not self.entries:
            return ()
        if written is None:
            return (self.tensor(self.entries[-1]),)
        references = ([(item, position_of(written, at)) for at, item in enumerate(written)]
                      if isinstance(written, list) else [(written, position)])
        if not references:
            self.report("'outputs' must name at least one layer", position, "invalid-value")
            return ()
        end = _EndOfModel(self.entries[-1].index + 1, self.entries[-1].source)
        resolved = []
        for reference, where in references:
            if isinstance(reference, int) and not isinstance(reference, bool):
                self.report(f"'outputs' names layers or inputs, got {reference}", where, "invalid-reference")
                continue
            tensor = self.resolve(end, reference, where)
            if tensor is not None:
                if tensor in resolved:
                    self.report(f"'outputs' names '{reference}' twice", where, "duplicate-name")
                    continue
                resolved.append(tensor)
        return tuple(resolved) if len(resolved) == len(references) else ()


@dataclass
class _EndOfModel:
    """Stands for "below every layer" when resolving ``outputs``."""

    index: int
    source: YamlMap
    label: str = "outputs"
    name: str = ""


def _report_dead_ends(wiring: Wiring, entries: list[Entry], inputs: list[tuple[str, "Position | None"]],
                      report: Report) -> None:
    """Report entries (and model inputs) whose result reaches no output."""
    first = len(inputs)
    needed = set(wiring.outputs)
    needed = {source[0] if isinstance(source, tuple) else source for source in needed}
    for entry in reversed(entries):
        if first + entry.node in needed:
            needed.update(source[0] if isinstance(source, tuple) else source for source in wiring.sources[entry.node])
    for entry in entries:
        if first + entry.node not in needed:
            report(f"{entry.label}: its result reaches no model output; use it as an input below, list it in "
                   "'outputs', or remove it", entry.source.position, "dead-branch")
    for number, (name, position) in enumerate(inputs):
        if number not in needed:
            report(f"model input '{name}' reaches no model output: no layer reads it", position, "dead-branch")
