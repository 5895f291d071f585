"""A strict parser of the Mermaid flowchart subset layerspec writes.

Tests parse :func:`layerspec.plot_text.render_mermaid`'s output with it and
compare what it finds (nodes, edges, subgraphs, classes) with the diagram,
so grammar is checked by parsing, never by searching the text. It accepts:

- a header ``flowchart DIR`` (TB, TD, BT, RL, LR), before anything but comments;
- comments ``%% ...`` on lines of their own (not ``%%{`` directives);
- node definitions ``ID["label"]``, ``ID(["label"])`` (stadium) and
  ``ID[["label"]]`` (subroutine), each node defined once;
- edges ``A -->|"label"| B``, ``A --> B`` and the dotted ``A -.->``;
- ``subgraph ID ["title"]`` ... ``end``, nested;
- ``classDef NAME key:value,...``, ``class ID,ID NAME`` and
  ``style ID key:value,...``.

A label is a double-quoted string holding no raw ``"``, ``<``, ``>``, ``&``,
backquote or ``|`` except the line break ``<br/>``, in which every ``#``
starts an entity code ``#NN;`` (decoded in the result). Anything else is a
:class:`MermaidSyntaxError` naming the line. Every edge, ``class`` and
``style`` must name a node (or, for ``style``, a subgraph) defined in the
chart, and every class used must have a ``classDef``: Mermaid would quietly
invent them, which for generated text means a bug.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DIRECTIONS = ("TB", "TD", "BT", "RL", "LR")
#: Words Mermaid reserves, which a node id may not be.
KEYWORDS = {"end", "subgraph", "graph", "flowchart", "class", "classDef", "style", "click", "linkStyle",
            "direction", "default"}

_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_LABEL = r'"[^"]*"'
_SHAPES = {"[": ("]", "square"), "([": ("])", "stadium"), "[[": ("]]", "subroutine")}
_NODE = re.compile(rf"(?P<id>{_ID})(?P<open>\(\[|\[\[|\[)(?P<label>{_LABEL})(?P<close>\]\)|\]\]|\])")
_EDGE = re.compile(rf"(?P<source>{_ID}) (?P<arrow>-->|-\.->)(?:\|(?P<label>{_LABEL})\|)? (?P<target>{_ID})")
_SUBGRAPH = re.compile(rf"subgraph (?P<id>{_ID})(?: \[(?P<title>{_LABEL})\])?")
_PROPERTY = r"[a-z-]+:[^,;:]+"
_CLASSDEF = re.compile(rf"classDef (?P<name>{_ID}) (?P<properties>{_PROPERTY}(?:,{_PROPERTY})*)")
_CLASS = re.compile(rf"class (?P<ids>{_ID}(?:,{_ID})*) (?P<name>{_ID})")
_STYLE = re.compile(rf"style (?P<id>{_ID}) (?P<properties>{_PROPERTY}(?:,{_PROPERTY})*)")
_ENTITY = re.compile(r"#(\d+);")
_BREAK = "<br/>"


class MermaidSyntaxError(ValueError):
    """A line outside the subset, with its number (1-based)."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass
class Node:
    """A node: its shape (``square``, ``stadium``, ``subroutine``), its
    label's lines with entities decoded, the subgraph around it."""

    id: str
    shape: str
    lines: list[str]
    subgraph: str | None


@dataclass
class Edge:
    source: str
    target: str
    label: str | None
    dotted: bool


@dataclass
class Subgraph:
    id: str
    title: str | None
    parent: str | None
    nodes: list[str] = field(default_factory=list)


@dataclass
class Flowchart:
    """What a chart holds. ``classes``: class name → its properties;
    ``node_classes``: node id → the classes given to it, in order;
    ``styles``: node or subgraph id → properties."""

    direction: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    subgraphs: dict[str, Subgraph] = field(default_factory=dict)
    classes: dict[str, dict[str, str]] = field(default_factory=dict)
    node_classes: dict[str, list[str]] = field(default_factory=dict)
    styles: dict[str, dict[str, str]] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


def decode_label(quoted: str, line: int) -> list[str]:
    """A quoted label's lines, entities decoded; raw markup is an error."""
    text = quoted[1:-1]
    parts = text.split(_BREAK)
    lines = []
    for part in parts:
        bad = re.search(r"[<>&`|\"]", part)
        if bad:
            raise MermaidSyntaxError(line, f"raw {bad.group()!r} in a label (write an entity code)")
        stray = re.search(r"#(?!\d+;)", part)
        if stray:
            raise MermaidSyntaxError(line, "a '#' in a label that starts no entity code #NN;")
        lines.append(_ENTITY.sub(lambda match: chr(int(match.group(1))), part))
    return lines


def _properties(text: str) -> dict[str, str]:
    return dict(item.split(":", 1) for item in text.split(","))


class _Parser:
    def __init__(self):
        self.chart: Flowchart | None = None
        self.open: list[str] = []  # the subgraphs open, outermost first
        self.used: list[tuple[int, str, str]] = []  # (line, kind, id) to check once all is read

    def parse(self, text: str) -> Flowchart:
        number = 0
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw.strip()
            if line:
                self._line(line, number)
        if self.chart is None:
            raise MermaidSyntaxError(number, "no 'flowchart DIR' header")
        if self.open:
            raise MermaidSyntaxError(number, f"subgraph {self.open[-1]} is not closed with 'end'")
        self._check_references()
        return self.chart

    def _line(self, line: str, number: int) -> None:
        if line.startswith("%%"):
            if line.startswith("%%{"):
                raise MermaidSyntaxError(number, "directives are not in the subset")
            if self.chart is not None:
                self.chart.comments.append(line[2:].strip())
            return
        if self.chart is None:
            self._header(line, number)
            return
        for pattern, handler in ((_SUBGRAPH, self._subgraph), (_CLASSDEF, self._classdef), (_CLASS, self._class),
                                 (_STYLE, self._style), (_EDGE, self._edge), (_NODE, self._node)):
            match = pattern.fullmatch(line)
            if match:
                handler(match, number)
                return
        if line == "end":
            if not self.open:
                raise MermaidSyntaxError(number, "'end' closes no subgraph")
            self.open.pop()
            return
        raise MermaidSyntaxError(number, f"not a statement of the subset: {line!r}")

    def _header(self, line: str, number: int) -> None:
        words = line.split(" ")
        if len(words) != 2 or words[0] != "flowchart" or words[1] not in DIRECTIONS:
            raise MermaidSyntaxError(number, f"expected 'flowchart DIR' first, got {line!r}")
        self.chart = Flowchart(words[1])

    def _identifier(self, name: str, number: int) -> str:
        if name in KEYWORDS:
            raise MermaidSyntaxError(number, f"{name!r} is a keyword, not an id")
        return name

    def _node(self, match: re.Match, number: int) -> None:
        node_id = self._identifier(match["id"], number)
        close, shape = _SHAPES[match["open"]]
        if match["close"] != close:
            raise MermaidSyntaxError(number, f"node {node_id}: {match['open']} closed by {match['close']}")
        if node_id in self.chart.nodes or node_id in self.chart.subgraphs:
            raise MermaidSyntaxError(number, f"{node_id} is defined twice")
        parent = self.open[-1] if self.open else None
        self.chart.nodes[node_id] = Node(node_id, shape, decode_label(match["label"], number), parent)
        if parent is not None:
            self.chart.subgraphs[parent].nodes.append(node_id)

    def _edge(self, match: re.Match, number: int) -> None:
        label = match["label"]
        if label is not None:
            lines = decode_label(label, number)
            if len(lines) != 1:
                raise MermaidSyntaxError(number, "an edge label has one line")
            label = lines[0]
        for end in ("source", "target"):
            self.used.append((number, "node", self._identifier(match[end], number)))
        self.chart.edges.append(Edge(match["source"], match["target"], label, match["arrow"] == "-.->"))

    def _subgraph(self, match: re.Match, number: int) -> None:
        subgraph_id = self._identifier(match["id"], number)
        if subgraph_id in self.chart.subgraphs or subgraph_id in self.chart.nodes:
            raise MermaidSyntaxError(number, f"{subgraph_id} is defined twice")
        title = match["title"]
        if title is not None:
            lines = decode_label(title, number)
            if len(lines) != 1:
                raise MermaidSyntaxError(number, "a subgraph title has one line")
            title = lines[0]
        parent = self.open[-1] if self.open else None
        self.chart.subgraphs[subgraph_id] = Subgraph(subgraph_id, title, parent)
        self.open.append(subgraph_id)

    def _classdef(self, match: re.Match, number: int) -> None:
        if match["name"] in self.chart.classes:
            raise MermaidSyntaxError(number, f"class {match['name']} is defined twice")
        self.chart.classes[match["name"]] = _properties(match["properties"])

    def _class(self, match: re.Match, number: int) -> None:
        for node_id in match["ids"].split(","):
            self.used.append((number, "node", node_id))
            self.chart.node_classes.setdefault(node_id, []).append(match["name"])
        self.used.append((number, "class", match["name"]))

    def _style(self, match: re.Match, number: int) -> None:
        self.used.append((number, "node or subgraph", match["id"]))
        self.chart.styles[match["id"]] = _properties(match["properties"])

    def _check_references(self) -> None:
        chart = self.chart
        known = {"node": chart.nodes, "class": chart.classes,
                 "node or subgraph": {**chart.nodes, **chart.subgraphs}}
        for number, kind, name in self.used:
            if name not in known[kind]:
                raise MermaidSyntaxError(number, f"no {kind} {name!r} is defined")


def parse_flowchart(text: str) -> Flowchart:
    """Parse a chart of the subset, or raise :class:`MermaidSyntaxError`."""
    return _Parser().parse(text)
