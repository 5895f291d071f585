"""A diagram as text for other programs to draw: Graphviz DOT and Mermaid.

DOT is for Graphviz (``dot -Tpng``) and the many tools that read it;
Mermaid is for Markdown that GitHub renders, so a pull request can show a
model (``summary --format markdown --diagram``). Both draw what
:mod:`layerspec.diagram` builds, with the labels of
:func:`~layerspec.diagram.box_lines` and the colours of
:data:`~layerspec.diagram.FAMILY_COLOURS`, as the SVG does.

Every name (a layer's may hold any character) is escaped for the format:
DOT labels are HTML-like labels with entities; Mermaid labels are quoted
strings in which the characters Mermaid would read (quotes, ``#``, ``<``,
``|``...) are written as its ``#NN;`` entity codes.
"""

from __future__ import annotations

from .diagram import (FAMILY_COLOURS, FRAME_COLOURS, HIGHLIGHT_COLOURS, TEXT_COLOUR, Box, Diagram,
                      box_lines, frame_contents, frame_title)
from .errors import ArgumentError

#: The directions a diagram may flow in: top to bottom, left to right, and back.
DIRECTIONS = ("TB", "LR", "BT", "RL")
#: What ``highlight`` may mark a box as (a diff's statuses).
HIGHLIGHTS = tuple(HIGHLIGHT_COLOURS)


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ArgumentError(f"the direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}",
                            argument="direction")


# -- DOT ------------------------------------------------------------------------
def render_dot(diagram: Diagram, direction: str = "TB") -> str:
    """The diagram as a Graphviz ``digraph``: a filled, rounded box per
    layer with an HTML-like label (name in bold, type, shape, parameters),
    coloured by family; inputs drawn as houses, outputs with a double
    border; a ``cluster`` per frame; edges labelled with shapes."""
    _check_direction(direction)
    lines = [f"digraph {_dot_string(diagram.name)} {{",
             f"  rankdir={direction};",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9, color="#64748b", fontcolor="#334155"];']
    tree = frame_contents(diagram)
    lines.extend(_dot_contents(diagram, tree, None, "  "))
    for edge in diagram.edges:
        lines.append(f"  {edge.source} -> {edge.target} [label={_dot_string(edge.label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_contents(diagram: Diagram, tree: dict, parent: str | None, indent: str) -> list[str]:
    lines = []
    for item in tree[parent]:
        if isinstance(item, Box):
            lines.append(indent + _dot_node(diagram, item))
            continue
        lines.append(f"{indent}subgraph cluster_{item.id} {{")
        lines.append(f'{indent}  label={_dot_string(frame_title(diagram, item))}; style="rounded,dashed,filled"; '
                     f'fillcolor="{FRAME_COLOURS[0]}"; color="{FRAME_COLOURS[1]}"; fontname="Helvetica"; fontsize=10;')
        lines.extend(_dot_contents(diagram, tree, item.id, indent + "  "))
        lines.append(f"{indent}}}")
    return lines


def _dot_node(diagram: Diagram, box: Box) -> str:
    fill, stroke = FAMILY_COLOURS.get(box.family, FAMILY_COLOURS["other"])
    name, *rest = box_lines(diagram, box)
    label = "<B>" + _html(name) + "</B>" + "".join("<BR/>" + _html(line) for line in rest)
    attributes = [f"label=<{label}>", f'fillcolor="{fill}"', f'color="{stroke}"', f'fontcolor="{TEXT_COLOUR}"']
    if box.family == "input":
        attributes.append("shape=invhouse")
    if box.is_output:
        attributes.append("peripheries=2")
    return f"{box.id} [{', '.join(attributes)}];"


def _dot_string(text: str) -> str:
    """A DOT quoted string (only ``"`` and ``\\`` are special in one)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _html(text: str) -> str:
    """Text for an HTML-like label: markup characters as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# -- Mermaid ----------------------------------------------------------------------
#: Characters Mermaid would read inside a label, and their entity codes:
#: quotes end the string; ``#`` starts an entity; ``<``, ``>`` and ``&``
#: are HTML; ``|`` ends an edge label; a backquote starts Markdown text;
#: ``%`` could start a comment; ``:`` would let Mermaid's pre-pass take a
#: label for a ``style`` line (one that has ``:``, ``#`` and ``;``); a line
#: break would end the statement.
_MERMAID_ESCAPES = {char: f"#{ord(char)};" for char in '"#<>&|`%:\n\r'}
#: The line break inside a Mermaid label.
MERMAID_BREAK = "<br/>"


def mermaid_text(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label."""
    return "".join(_MERMAID_ESCAPES.get(char, char) for char in text)


def render_mermaid(diagram: Diagram, direction: str = "TB", highlight: dict[str, str] | None = None) -> str:
    """The diagram as a Mermaid ``flowchart`` (GitHub renders it in Markdown).

    Nodes are the boxes (ids ``n0``...; inputs as stadiums, outputs as
    double-sided boxes), edges are labelled with shapes, a ``subgraph`` per
    frame, a ``classDef`` per family in use. ``highlight`` maps box names
    to ``added``, ``changed`` or ``removed``: such a box takes that class
    instead of its family's (green, amber, red; removed dashed, its edges
    dotted) and its label says so.
    """
    _check_direction(direction)
    highlight = _checked_highlight(diagram, highlight or {})
    name = " ".join(diagram.name.splitlines())  # a comment ends at the line's end; nothing else in it is read
    lines = [f"flowchart {direction}", f"  %% {name}"]
    tree = frame_contents(diagram)
    lines.extend(_mermaid_contents(diagram, tree, None, "  ", highlight))
    removed = {box.id for box in diagram.boxes if highlight.get(box.name) == "removed"}
    for edge in diagram.edges:
        arrow = "-.->" if {edge.source, edge.target} & removed else "-->"
        lines.append(f'  {edge.source} {arrow}|"{mermaid_text(edge.label)}"| {edge.target}')
    lines.extend(_mermaid_classes(diagram, highlight))
    return "\n".join(lines) + "\n"


def _checked_highlight(diagram: Diagram, highlight: dict[str, str]) -> dict[str, str]:
    names = {box.name for box in diagram.boxes}
    for name, status in highlight.items():
        if status not in HIGHLIGHTS:
            raise ArgumentError(f"a highlight is one of {', '.join(HIGHLIGHTS)}, got {status!r} for {name!r}",
                                argument="highlight")
        if name not in names:
            raise ArgumentError(f"cannot highlight {name!r}: the diagram has no box of that name",
                                argument="highlight")
    return highlight


def _mermaid_contents(diagram: Diagram, tree: dict, parent: str | None, indent: str,
                      highlight: dict[str, str]) -> list[str]:
    lines = []
    for item in tree[parent]:
        if isinstance(item, Box):
            lines.append(indent + _mermaid_node(diagram, item, highlight.get(item.name)))
            continue
        lines.append(f'{indent}subgraph {item.id} ["{mermaid_text(frame_title(diagram, item))}"]')
        lines.extend(_mermaid_contents(diagram, tree, item.id, indent + "  ", highlight))
        lines.append(f"{indent}end")
    return lines


def _mermaid_node(diagram: Diagram, box: Box, status: str | None) -> str:
    lines = box_lines(diagram, box) + ([status] if status else [])
    label = '"' + MERMAID_BREAK.join(mermaid_text(line) for line in lines) + '"'
    if box.family == "input":
        return f"{box.id}([{label}])"
    if box.is_output:
        return f"{box.id}[[{label}]]"
    return f"{box.id}[{label}]"


def _mermaid_classes(diagram: Diagram, highlight: dict[str, str]) -> list[str]:
    """``classDef`` lines for the families and highlights in use, a
    ``class`` line each, and a ``style`` line per frame drawn."""
    members: dict[str, list[str]] = {}
    for box in diagram.boxes:
        members.setdefault(highlight.get(box.name) or box.family, []).append(box.id)
    lines = []
    for name, ids in members.items():
        if name in HIGHLIGHT_COLOURS:
            fill, stroke = HIGHLIGHT_COLOURS[name]
            extra = ",stroke-width:3px" + (",stroke-dasharray:6 4" if name == "removed" else "")
        else:
            fill, stroke = FAMILY_COLOURS.get(name, FAMILY_COLOURS["other"])
            extra = ""
        lines.append(f"  classDef {name} fill:{fill},stroke:{stroke},color:{TEXT_COLOUR}{extra}")
        lines.append(f"  class {','.join(ids)} {name}")
    tree = frame_contents(diagram)
    for frame in diagram.frames:
        if frame.id in tree:
            fill, stroke = FRAME_COLOURS
            lines.append(f"  style {frame.id} fill:{fill},stroke:{stroke},stroke-dasharray:4 3")
    return lines
