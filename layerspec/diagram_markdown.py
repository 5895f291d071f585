"""Mermaid diagrams for Markdown reviews: ``summary --format markdown
--diagram`` and ``diff --format markdown --diagram``.

GitHub renders a fenced ``mermaid`` block in a pull-request comment, so a
reviewer sees the model beside its table. A diff's diagram is the new
model's, with added and changed layers highlighted, and each removed layer
drawn where it was, as a red dashed box wired to its old neighbours.

Mermaid refuses a diagram longer than 50,000 characters or with more than
500 edges (its defaults, which GitHub keeps). A diagram past either limit
is folded one block level further at a time, as ``--depth`` would, and a
note says so; one that no folding brings within them is left out, with a
note pointing at ``layerspec plot``.
"""

from __future__ import annotations

from .diagram import Box, BoxNames, Diagram, Edge, Frame, diagram_from_summary, model_inputs
from .plot_text import render_mermaid
from .summary import check_depth

#: Mermaid's default limits on a diagram (``maxTextSize``, ``maxEdges``), which GitHub keeps.
MAX_TEXT = 50_000
MAX_EDGES = 500
LEGEND = "Diagram: green = added, amber = changed, red dashed = removed (with dotted edges where it was)."


def summary_diagram_markdown(summary: dict, depth: int | None = None) -> str:
    """A fenced Mermaid block of the model (blocks folded below ``depth``,
    as ``summary --depth``), to follow :func:`layerspec.summary.render_markdown`'s
    table after a blank line."""
    check_depth(depth, "diagram")
    return _fitted(summary, depth, lambda fold: (diagram_from_summary(summary, fold), {}))


def diff_diagram_markdown(old_summary: dict, new_summary: dict, diff: dict, depth: int | None = None) -> str:
    """A fenced Mermaid block of the new model with the diff's changes
    highlighted, then a legend line.

    ``diff`` is :func:`layerspec.diff.diff_summaries` of the two summaries.
    A box is ``added`` when every layer drawn in it is (a folded block
    application: all its layers), ``changed`` when any of them is added,
    changed or removed; a model input only the new model has is added. An
    old box none of whose layers is left (a removed layer, or a removed
    application when folded) is drawn as ``removed`` just after the box it
    followed, with its old edges in and out attached to what became of its
    neighbours.
    """
    check_depth(depth, "diagram")
    block = _fitted(new_summary, depth, lambda fold: _highlighted(old_summary, new_summary, diff, fold))
    return f"{block}\n\n{LEGEND}"


# -- fitting GitHub's limits ------------------------------------------------------------
def _fitted(summary: dict, depth: int | None, picture) -> str:
    """The Mermaid block at ``depth`` or, past Mermaid's limits, at the
    deepest fold that fits, with a note; a note alone if none does.
    ``picture(depth)`` gives a diagram and its highlights."""
    for fold in _folds(summary, depth):
        diagram, highlight = picture(fold)
        text = render_mermaid(diagram, highlight=highlight)
        if len(text) <= MAX_TEXT and len(diagram.edges) <= MAX_EDGES:
            block = f"```mermaid\n{text}```"
            if fold == depth:
                return block
            return (f"{block}\n\n*Blocks folded at depth {fold}: the full diagram is past Mermaid's limits "
                    f"({MAX_TEXT:,} characters, {MAX_EDGES} edges).*")
    return (f"*No diagram: even folded, this model is past Mermaid's limits ({MAX_TEXT:,} characters, "
            f"{MAX_EDGES} edges); draw it with `layerspec plot`.*")


def _folds(summary: dict, depth: int | None) -> list[int | None]:
    """``depth``, then each shallower fold down to 0 (only levels that exist)."""
    levels = {entry["depth"] for entry in summary.get("blocks") or ()}
    deepest = max(levels) + 1 if levels else 0
    start = deepest if depth is None else min(depth, deepest)
    return [depth] + [fold for fold in range(start - 1, -1, -1)]


# -- a diff's highlights ------------------------------------------------------------------
def _highlighted(old: dict, new: dict, diff: dict, depth: int | None) -> tuple[Diagram, dict[str, str]]:
    """The new model's diagram with the removed boxes added, and the highlights."""
    diagram = diagram_from_summary(new, depth)
    old_names, new_names = BoxNames(old, depth), BoxNames(new, depth)
    statuses: dict[str, list[str]] = {}  # new box → the statuses of the rows drawn in it
    kept: dict[str, str] = {}  # old box → the new box its rows went to
    for entry in diff["layers"]:
        old_row, new_row = entry["old"], entry["new"]
        if new_row is not None:
            statuses.setdefault(new_names.of_row(new_row), []).append(entry["status"])
        if old_row is not None and new_row is not None:
            kept.setdefault(old_names.of_row(old_row), new_names.of_row(new_row))
    old_inputs = model_inputs(old)
    for name in model_inputs(new):
        if name in old_inputs:
            kept[name] = name
        else:
            statuses[name] = ["added"]
    highlight = {name: _box_status(seen) for name, seen in statuses.items() if _box_status(seen)}
    for entry in diff["layers"]:
        if entry["status"] == "removed" and old_names.of_row(entry["old"]) in kept:
            highlight.setdefault(kept[old_names.of_row(entry["old"])], "changed")  # lost a layer or an application
    for box in _add_removed_boxes(diagram, diagram_from_summary(old, depth), kept):
        highlight[box.name] = "removed"
    return diagram, highlight


def _box_status(statuses: list[str]) -> str | None:
    if all(status == "added" for status in statuses):
        return "added"
    return "changed" if any(status != "unchanged" for status in statuses) else None


def _add_removed_boxes(diagram: Diagram, old: Diagram, kept: dict[str, str]) -> list[Box]:
    """Copy into ``diagram`` each box of ``old`` that ``kept`` does not map,
    just after the box its predecessor became, in its old frame (copied too
    if the new model has no frame of that name), with the old edges that
    touch it; return the copies."""
    by_name = {box.name: box for box in diagram.boxes}
    frame_of = _FrameCopier(diagram, old)
    now: dict[str, str] = {}  # old box id → id in the diagram
    copies = []
    anchor: str | None = None  # where the previous old box is now
    for box in old.boxes:
        if box.name in kept:
            anchor = now[box.id] = by_name[kept[box.name]].id
            continue
        copy = Box(f"n{len(diagram.boxes)}", _unused_name(box.name, by_name), box.type, box.shape, box.params,
                   box.family, frame_of(box.frame), box.is_output, box.applications)
        position = 0 if anchor is None else [item.id for item in diagram.boxes].index(anchor) + 1
        diagram.boxes.insert(position, copy)
        by_name[copy.name] = copy
        anchor = now[box.id] = copy.id
        copies.append(copy)
    _add_removed_edges(diagram, old, now, {copy.id for copy in copies})
    return copies


class _FrameCopier:
    """The frame of ``diagram`` standing for a frame of ``old``: the one of
    the same name, or a copy added to ``diagram`` (a removed application)."""

    def __init__(self, diagram: Diagram, old: Diagram):
        self.diagram = diagram
        self.old = {frame.id: frame for frame in old.frames}
        self.by_name = {frame.name: frame.id for frame in diagram.frames}

    def __call__(self, old_id: str | None) -> str | None:
        if old_id is None:
            return None
        frame = self.old[old_id]
        if frame.name not in self.by_name:
            copy = Frame(f"f{len(self.diagram.frames)}", frame.name, frame.block, self(frame.parent))
            self.diagram.frames.append(copy)
            self.by_name[frame.name] = copy.id
        return self.by_name[frame.name]


def _unused_name(name: str, taken: dict) -> str:
    """``name``, or ``name (old)`` if a box of the new model has it."""
    return name if name not in taken else _unused_name(f"{name} (old)", taken)


def _add_removed_edges(diagram: Diagram, old: Diagram, now: dict[str, str], copies: set[str]) -> None:
    present = {(edge.source, edge.target) for edge in diagram.edges}
    for edge in old.edges:
        source, target = now[edge.source], now[edge.target]
        if not {source, target} & copies or (source, target) in present:
            continue
        if source == target and edge.source != edge.target:
            continue  # two old boxes that became one
        diagram.edges.append(Edge(source, target, edge.label))
        present.add((source, target))
