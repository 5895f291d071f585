"""Where everything goes in the picture of a :class:`~layerspec.diagram.Diagram`.

Geometry only: :func:`layout` places the boxes, routes the edges and draws
the frames; :mod:`layerspec.plot_svg` writes what it places as SVG.

The layout is layered, in spec order:

- **Ranks.** A box's rank is the length of the longest path to it from a
  model input (edges into a reused layer's box from later boxes left out),
  so every edge but those goes to a later rank. Ranks are rows (``TB``) or
  columns (``LR``).
- **Lanes.** Across the ranks, boxes sit in lanes. Each frame (an open
  block application) is laid out first, inside out, as a rectangle of lanes
  × ranks that the enclosing level then places as one piece: so a frame
  holds only its own boxes. At each level the longest path takes lane 0
  (the main column) and the other boxes, in spec order, take the lowest
  lane free at their rank (the lane of the box feeding them first).
- **Edges.** An edge between adjacent ranks runs straight, or jogs sideways
  on a *track* in the gap between the two ranks. An edge spanning several
  ranks (a skip connection) runs down a lane that is free at every rank it
  passes; an edge into a reused layer's box from a later one (a back edge)
  runs back up a lane beside both. Lanes are granted cell by cell (a rank,
  or the gap below it), so no run passes through a box, and two runs never
  share a cell, nor a run a box's stub: lines never lie on top of each
  other. Edges from one output of a box share its stub and its label.
- **Gaps.** Each gap between ranks holds, in order: the bottoms of frames
  ending above it, the labels of the stubs leaving the boxes above, the
  tracks, room for the arrowheads, and the tops (with titles) of frames
  starting below it. So labels, tracks and frame titles never overlap.

Everything is computed in ``(main, cross)`` coordinates — main along the
ranks, cross along the lanes — and turned into ``(x, y)`` at the end, so
``LR`` is the same layout turned. The work is linear in the number of
boxes, edges and the cells their runs cover.

Text is measured for a monospaced font (:data:`FONT_FAMILY`): every
character is :data:`CHAR_EM` of the font size wide.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from .diagram import Box, Diagram, Frame

#: The fonts asked for, in order; all monospaced, so widths are known.
FONT_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, Liberation Mono, monospace"
#: A monospaced character's advance, in ems (DejaVu Sans Mono: 0.602; the
#: others are narrower), rounded up so that text never outgrows its box.
CHAR_EM = 0.61
#: Box text, edge labels and tags, frame titles, the diagram's title.
FONT_SIZE, SMALL_FONT_SIZE, FRAME_FONT_SIZE, TITLE_FONT_SIZE = 12, 10, 11, 14

LINE_HEIGHT = 16          # a box's text lines
BOX_PAD_X, BOX_PAD_Y = 10, 8
BOX_MIN_WIDTH = 150
TAG_HEIGHT, TAG_PAD = 14, 4    # the "input"/"output"/"×2" tags on a box's first line
LABEL_HEIGHT, LABEL_PAD = 14, 4   # an edge's shape label: its white background
LABEL_SEP = 5             # between a label and what is above or below it
TRACK_SEP = 10            # between two tracks in a gap
TRACK_GAP = 10            # the least room between two segments on one track
ARROW_ROOM = 12           # from the last track to a box: the arrowhead
MIN_STUB = 8              # a gap without labels: from a box to the first track
LANE_GAP = {"TB": 36, "LR": 24}   # between two lanes, frames aside
RUN_INSET = 14            # a skip run, from the side of a lane that has boxes
FRAME_PAD = 10            # around a frame's contents, per nesting level
FRAME_TITLE_BAND = 18     # a frame's title row
FRAME_TITLE_INDENT = 8    # a frame's title from its left side
TITLE_CLEARANCE = 5       # a frame's title from a line crossing its row
MARGIN = 20
HEADER = 34               # the diagram's title above everything
TITLE_TOP = 10            # the title's top
PORT_MARGIN = 12          # an edge enters a box no nearer its corner
PORT_SHIFT = 12           # moves an in-port off another net's stub

DIRECTIONS = ("TB", "LR")


# -- the result ---------------------------------------------------------------
@dataclass
class BoxPlace:
    """A placed box: its rectangle and the text it shows.

    Attributes:
        lines: name (drawn bold), type, shape and, for a box with
            parameters, ``1,234 params``.
        tags: marks drawn on the first line's right: ``input``, ``output``,
            ``×2`` (a layer applied twice).
        shape: ``input`` (a model input), ``output`` (a model output) or
            ``layer``: what outline the box gets.
    """

    id: str
    x: float
    y: float
    width: float
    height: float
    lines: list[str]
    tags: list[str]
    shape: str
    family: str


@dataclass
class EdgeRoute:
    """A routed edge: a polyline of orthogonal segments from the source box's
    side to the target box's side (where the arrowhead goes).

    ``label_box`` is the ``(x, y, width, height)`` of the label's background,
    or None when another edge from the same stub already shows the label.
    """

    source: str
    target: str
    points: list[tuple[float, float]]
    label: str
    label_box: tuple[float, float, float, float] | None


@dataclass
class FramePlace:
    """A placed frame: its rectangle, its title and where the title's row
    starts (``title_x``, ``title_y``: the top left of its text)."""

    id: str
    x: float
    y: float
    width: float
    height: float
    title: str
    title_x: float
    title_y: float


@dataclass
class Layout:
    """Where a diagram's boxes, edges and frames go on a ``width`` ×
    ``height`` canvas (pixels, origin top left), and its title's place."""

    direction: str
    width: float
    height: float
    title: str
    title_x: float
    title_y: float
    boxes: list[BoxPlace] = field(default_factory=list)
    edges: list[EdgeRoute] = field(default_factory=list)
    frames: list[FramePlace] = field(default_factory=list)


# -- text ---------------------------------------------------------------------
def text_width(text: str, size: float = FONT_SIZE) -> float:
    """The width of ``text`` in the monospaced font at ``size`` pixels."""
    return round(len(text) * size * CHAR_EM, 2)


def tag_width(tag: str) -> float:
    """The width of a tag's pill."""
    return text_width(tag, SMALL_FONT_SIZE) + 2 * TAG_PAD


def label_size(label: str) -> tuple[float, float]:
    """``(width, height)`` of an edge label's background."""
    return text_width(label, SMALL_FONT_SIZE) + 2 * LABEL_PAD, LABEL_HEIGHT


def relative_name(name: str, prefix: str | None) -> str:
    """``name`` without its enclosing application's path: inside the frame
    ``conv2/projection_block``, ``conv2/projection_block/add`` is ``add``."""
    if prefix and name.startswith(prefix + "/"):
        return name[len(prefix) + 1:]
    return name


def box_text(box: Box, frame_name: str | None) -> tuple[list[str], list[str]]:
    """A box's text lines and tags (see :class:`BoxPlace`)."""
    kind = f"{box.type} (block)" if box.family == "block" else box.type
    lines = [relative_name(box.name, frame_name), kind, box.shape]
    if box.params:
        lines.append(f"{box.params:,} params")
    tags = []
    if box.family == "input":
        tags.append("input")
    if box.is_output:
        tags.append("output")
    if box.applications > 1:
        tags.append(f"×{box.applications}")
    return lines, tags


def box_size(lines: list[str], tags: list[str]) -> tuple[float, float]:
    """``(width, height)`` of a box showing these lines and tags."""
    first = text_width(lines[0]) + sum(tag_width(tag) + 6 for tag in tags)
    widest = max([first] + [text_width(line) for line in lines[1:]])
    return max(BOX_MIN_WIDTH, round(widest + 2 * BOX_PAD_X)), len(lines) * LINE_HEIGHT + 2 * BOX_PAD_Y


def frame_title(frame: Frame, parent_name: str | None) -> str:
    """A frame's title: its path inside the enclosing frame, and its block
    when the name does not already say it (``conv2 (stage)``, but
    ``identity_block_1``)."""
    name = relative_name(frame.name, parent_name)
    base, _, suffix = name.rpartition("_")
    if name == frame.block or (base == frame.block and suffix.isdigit()):
        return name
    return f"{name} ({frame.block})"


# -- entry point ----------------------------------------------------------------
def layout(diagram: Diagram, direction: str = "TB") -> Layout:
    """Place ``diagram``'s boxes, route its edges and draw its frames.

    Args:
        diagram: what to draw.
        direction: ``TB`` (ranks top to bottom) or ``LR`` (left to right).
    """
    if direction not in DIRECTIONS:
        from .errors import ArgumentError

        raise ArgumentError(f"the direction must be TB or LR, got {direction!r}", argument="direction")
    return _Layouter(diagram, direction).run()


# -- lanes: which cells of the grid are taken ------------------------------------
# A grid row is a rank (row 2r+1) or the gap below rank g (row 2g+2; the gap
# above rank 0 is row 0). A cell holds a box ("B"), a box's stub in a gap
# ("S", shared by the boxes above and below it), a run ("R") or the inside of
# a frame placed as one piece ("F").
def rank_row(rank: int) -> int:
    return 2 * rank + 1


def gap_row(gap: int) -> int:
    return 2 * gap + 2


class _Grid:
    """The cells taken in one frame (or the whole diagram), by lane."""

    def __init__(self):
        self.cells: dict[tuple[int, int], tuple] = {}
        self.lanes = 0

    def box_fits(self, lane: int, rank: int) -> bool:
        if (lane, rank_row(rank)) in self.cells:
            return False
        return all(self.cells.get((lane, row), ("S",))[0] == "S" for row in (rank_row(rank) - 1, rank_row(rank) + 1))

    def put_box(self, lane: int, rank: int, box_id: str) -> None:
        self.cells[(lane, rank_row(rank))] = ("B", box_id)
        for row in (rank_row(rank) - 1, rank_row(rank) + 1):
            self._add_stub(lane, row, {box_id})
        self.lanes = max(self.lanes, lane + 1)

    def _add_stub(self, lane: int, row: int, owners: set) -> None:
        cell = self.cells.get((lane, row))
        self.cells[(lane, row)] = ("S", owners | cell[1]) if cell and cell[0] == "S" else ("S", set(owners))

    def block_fits(self, lane: int, width: int, first: int, last: int) -> bool:
        """Whether a frame of ``width`` lanes over ranks first..last fits at ``lane``."""
        return not any((column, row) in self.cells for column in range(lane, lane + width)
                       for row in range(rank_row(first), rank_row(last) + 1))

    def put_block(self, lane: int, inner: "_Grid", first: int, last: int) -> None:
        """Copy a frame's grid in at ``lane`` and fill the rest of its inside."""
        for (column, row), cell in inner.cells.items():
            if cell[0] == "S":
                self._add_stub(column + lane, row, cell[1])
            else:
                self.cells[(column + lane, row)] = cell
        for column in range(lane, lane + inner.lanes):
            for row in range(rank_row(first), rank_row(last) + 1):
                self.cells.setdefault((column, row), ("F",))
        self.lanes = max(self.lanes, lane + inner.lanes)

    def run_fits(self, lane: int, rows: range, ends: set | None) -> bool:
        """Whether a run may take ``rows`` of ``lane``: each free, or a box's
        stub. A run on the line of its source's or target's stub (``ends``
        given) would lie on another box's stub there, so it may only share
        the stubs of its own ends; a run near the lane's side never meets a
        stub, which is in the middle of a box."""
        for row in rows:
            cell = self.cells.get((lane, row))
            if cell is not None and not (cell[0] == "S" and (ends is None or cell[1] <= ends)):
                return False
        return True

    def put_run(self, lane: int, rows: range, key: int) -> None:
        for row in rows:
            self.cells[(lane, row)] = ("R", key)
        self.lanes = max(self.lanes, lane + 1)


@dataclass
class _Item:
    """What one level of frames places: a box, or a frame as one piece."""

    key: str                 # the box's or the frame's id
    first: int               # its ranks
    last: int
    order: int               # its first box's position in spec order
    width: int = 1           # lanes
    grid: _Grid | None = None   # a frame's own cells
    lane: int = -1


@dataclass
class _Run:
    """A lane granted to an edge: a skip connection or a back edge."""

    edge: int
    lane: int                # global, once the levels are resolved
    back: bool
    group: str | None
    straight: bool           # on the line of its source's stub, or of its target's middle
    cross: float = 0.0


# -- the layout -----------------------------------------------------------------
class _Layouter:
    """Lays out one diagram (see :func:`layout`)."""

    def __init__(self, diagram: Diagram, direction: str):
        self.diagram, self.direction = diagram, direction
        self.tb = direction == "TB"
        self.boxes = {box.id: box for box in diagram.boxes}
        self.order = {box.id: position for position, box in enumerate(diagram.boxes)}
        self.frames = {frame.id: frame for frame in diagram.frames}

    def run(self) -> Layout:
        self._measure()
        self._rank()
        self._frame_tree()
        self._allocate()
        self._ports_out()
        self._columns()
        self._runs_cross()
        self._ports_in()
        self._gaps()
        self._main_positions()
        return self._result()

    # -- sizes ------------------------------------------------------------------
    def _measure(self) -> None:
        self.text, self.size = {}, {}
        for box in self.diagram.boxes:
            frame = self.frames.get(box.frame)
            lines, tags = box_text(box, frame.name if frame else None)
            self.text[box.id] = (lines, tags)
            self.size[box.id] = box_size(lines, tags)

    def main_size(self, box_id: str) -> float:
        width, height = self.size[box_id]
        return height if self.tb else width

    def cross_size(self, box_id: str) -> float:
        width, height = self.size[box_id]
        return width if self.tb else height

    def label_main(self, label: str) -> float:
        width, height = label_size(label)
        return height if self.tb else width

    def label_cross(self, label: str) -> float:
        width, height = label_size(label)
        return width if self.tb else height

    # -- ranks ------------------------------------------------------------------
    def _rank(self) -> None:
        """Longest path from the inputs, in spec order (a topological order
        once the edges into reused boxes from later ones are left out)."""
        self.rank = {box_id: 0 for box_id in self.boxes}
        self.incoming = defaultdict(list)
        for index, edge in enumerate(self.diagram.edges):
            self.incoming[edge.target].append(index)
        for box in self.diagram.boxes:
            for index in self.incoming[box.id]:
                source = self.diagram.edges[index].source
                if self.order[source] < self.order[box.id]:
                    self.rank[box.id] = max(self.rank[box.id], self.rank[source] + 1)
        self.ranks = max(self.rank.values(), default=-1) + 1

    def forward(self, edge) -> bool:
        return self.rank[edge.source] < self.rank[edge.target]

    # -- frames ---------------------------------------------------------------------
    def _frame_tree(self) -> None:
        """Each frame's children, ranks and first box; frames without boxes
        (a block application only reusing layers drawn elsewhere) are not drawn."""
        self.child_boxes = defaultdict(list)
        self.child_frames = defaultdict(list)
        for box in self.diagram.boxes:
            self.child_boxes[box.frame if box.frame in self.frames else None].append(box.id)
        self.span: dict[str, tuple[int, int, int]] = {}   # frame → (first rank, last rank, first box)
        self.boxes_under: dict[str, list[str]] = {}        # frame → every box inside it
        for frame in reversed(self.diagram.frames):   # inner frames come after their parents
            spans = [(self.rank[b], self.rank[b], self.order[b]) for b in self.child_boxes[frame.id]]
            spans += [self.span[f] for f in self.child_frames[frame.id]]
            if not spans:
                continue
            self.boxes_under[frame.id] = self.child_boxes[frame.id] + [
                box_id for child in self.child_frames[frame.id] for box_id in self.boxes_under[child]]
            self.span[frame.id] = (min(s[0] for s in spans), max(s[1] for s in spans), min(s[2] for s in spans))
            parent = frame.parent if frame.parent in self.frames else None
            self.child_frames[parent].append(frame.id)
        for children in self.child_frames.values():
            children.sort(key=lambda f: self.span[f][2])
        self.parent = {frame.id: (frame.parent if frame.parent in self.frames else None)
                       for frame in self.diagram.frames if frame.id in self.span}
        self.drawn = [frame for frame in self.diagram.frames if frame.id in self.span]
        self.titles = {frame.id: frame_title(frame, self.frames[self.parent[frame.id]].name
                                             if self.parent[frame.id] else None) for frame in self.drawn}

    def chain(self, box_id: str) -> list[str | None]:
        """The frames around a box, innermost first, ending with None (the diagram)."""
        frames, frame = [], self.boxes[box_id].frame
        frame = frame if frame in self.span else None
        while frame is not None:
            frames.append(frame)
            frame = self.parent[frame]
        return frames + [None]

    # -- lanes ------------------------------------------------------------------------
    def _allocate(self) -> None:
        """Lanes for every level, inside out, then global lanes."""
        self.grids: dict[str | None, _Grid] = {}
        self.lane_in_parent: dict[str, int] = {}
        self.chains = {box_id: self.chain(box_id) for box_id in self.boxes}
        self.runs: list[_Run] = []
        runs_by_group = self._runs_by_group()
        for frame in self._inside_out():
            self._allocate_level(frame, runs_by_group.get(frame, []))
        self.column = {box_id: self._global_lane(box_id) for box_id in self.boxes}
        for run in self.runs:
            run.lane += self._group_lane(run.group)
        self.frame_lanes = {}
        for frame_id in self.span:
            lane = self._group_lane(frame_id)
            self.frame_lanes[frame_id] = (lane, lane + self.grids[frame_id].lanes - 1)
        self.lanes = max(self.grids[None].lanes, 1)

    def _inside_out(self) -> list[str | None]:
        order = []

        def visit(frame):
            for child in self.child_frames[frame]:
                visit(child)
            order.append(frame)

        visit(None)
        return order

    def _runs_by_group(self) -> dict:
        """Edges needing a lane of their own, by the innermost frame holding both ends."""
        groups = defaultdict(list)
        for index, edge in enumerate(self.diagram.edges):
            if self.rank[edge.target] - self.rank[edge.source] == 1:
                continue
            source_chain, target_chain = self.chains[edge.source], set(self.chains[edge.target])
            group = next(frame for frame in source_chain if frame in target_chain)
            groups[group].append(index)
        return groups

    def _global_lane(self, box_id: str) -> int:
        return self.lane_in_parent[box_id] + self._group_lane(self.chains[box_id][0])

    def _group_lane(self, frame: str | None) -> int:
        lane = 0
        while frame is not None:
            lane += self.lane_in_parent[frame]
            frame = self.parent[frame]
        return lane

    def _lane_in(self, box_id: str, group: str | None) -> int:
        """A box's lane counted inside ``group`` (an enclosing frame, or None)."""
        lane = self.lane_in_parent[box_id]
        for frame in self.chains[box_id]:
            if frame == group:
                return lane
            lane += self.lane_in_parent[frame]
        raise KeyError(group)

    def _allocate_level(self, group: str | None, run_edges: list[int]) -> None:
        items = [_Item(b, self.rank[b], self.rank[b], self.order[b]) for b in self.child_boxes[group]]
        for frame in self.child_frames[group]:
            first, last, order = self.span[frame]
            items.append(_Item(frame, first, last, order, self.grids[frame].lanes, self.grids[frame]))
        items.sort(key=lambda item: item.order)
        grid = _Grid()
        feeders = self._feeders(items)
        for item in self._spine(items, feeders):
            self._place(grid, item, [0])
        for item in items:
            if item.lane < 0:
                self._place(grid, item, self._preferred_lanes(item, feeders))
        for item in items:
            self.lane_in_parent[item.key] = item.lane
        for index in sorted(run_edges, key=self._run_order):
            self._place_run(grid, group, index)
        self.grids[group] = grid

    def _item_of(self, items: list[_Item]) -> dict[str, _Item]:
        """The item of a level that holds each box inside it."""
        item_of = {}
        for item in items:
            if item.grid is None:
                item_of[item.key] = item
            else:
                item_of.update(dict.fromkeys(self.boxes_under[item.key], item))
        return item_of

    def _feeders(self, items: list[_Item]) -> dict[int, list[_Item]]:
        """For each item of the level (by ``id``), the items feeding it
        through forward edges and ending before it starts."""
        item_of = self._item_of(items)
        feeders = defaultdict(list)
        for box_id, target in item_of.items():
            for index in self.incoming[box_id]:
                edge = self.diagram.edges[index]
                source = item_of.get(edge.source)
                if source is None or source is target or not self.forward(edge):
                    continue
                if source.last < target.first and all(f is not source for f in feeders[id(target)]):
                    feeders[id(target)].append(source)
        return feeders

    @staticmethod
    def _latest(items: list[_Item]) -> _Item:
        """The item ending last; of those, the first in spec order."""
        return max(items, key=lambda i: (i.last, -i.order))

    def _spine(self, items: list[_Item], feeders: dict) -> list[_Item]:
        """The level's longest path: from its last-ranked item back along the
        feeding item that ends latest (the main column)."""
        if not items:
            return []
        item = self._latest(items)
        spine = [item]
        while feeders[id(item)]:
            item = self._latest(feeders[id(item)])
            spine.append(item)
        return spine[::-1]

    def _preferred_lanes(self, item: _Item, feeders: dict) -> list[int]:
        """The lane of the placed item feeding this one that ends latest."""
        placed = [source for source in feeders[id(item)] if source.lane >= 0]
        return [self._latest(placed).lane] if placed else []

    def _place(self, grid: _Grid, item: _Item, preferred: list[int]) -> None:
        """Put an item in the first of its preferred lanes that is free, else the lowest."""
        lanes = preferred + list(range(grid.lanes + 1))
        for lane in lanes:
            if item.grid is None and grid.box_fits(lane, item.first):
                grid.put_box(lane, item.first, item.key)
            elif item.grid is not None and grid.block_fits(lane, item.width, item.first, item.last):
                grid.put_block(lane, item.grid, item.first, item.last)
            else:
                continue
            item.lane = lane
            return
        raise AssertionError("a new lane always fits")  # pragma: no cover

    def _run_order(self, index: int):
        """Short skips first, so that they take the lanes nearest the main
        column and longer ones go round them."""
        edge = self.diagram.edges[index]
        return abs(self.rank[edge.target] - self.rank[edge.source]), self.order[edge.source], index

    def _place_run(self, grid: _Grid, group: str | None, index: int) -> None:
        """Grant an edge the cells of a lane from the gap below its source to
        the gap above its target: best its source's or its target's own lane
        (a straight line), else the lowest free; a back edge, the first free
        lane beside both."""
        edge = self.diagram.edges[index]
        source, target = self.rank[edge.source], self.rank[edge.target]
        source_lane, target_lane = self._lane_in(edge.source, group), self._lane_in(edge.target, group)
        back = not self.forward(edge)
        # (lane, whether the run goes on straight from its source's stub or into its target)
        if back:   # up from the gap below the source to the gap above the target
            rows = range(gap_row(target - 1), gap_row(source) + 1)
            candidates = [(lane, False) for lane in range(max(source_lane, target_lane) + 1, grid.lanes + 2)]
        else:
            rows = range(gap_row(source), gap_row(target - 1) + 1)
            candidates = [(source_lane, True), (target_lane, True)] + [(lane, False) for lane in range(grid.lanes + 1)]
        ends = {edge.source, edge.target}
        lane, straight = next((lane, straight) for lane, straight in candidates
                              if grid.run_fits(lane, rows, ends if straight else None))
        grid.put_run(lane, rows, index)
        self.runs.append(_Run(index, lane, back, group, straight))

    # -- ports and columns -----------------------------------------------------------
    def _ports_out(self) -> None:
        """Each box's outputs: edges grouped by label, one stub (and one
        label) per group, spread along the box's leaving side."""
        self.out_groups: dict[str, list[str]] = defaultdict(list)
        for edge in self.diagram.edges:
            if edge.label not in self.out_groups[edge.source]:
                self.out_groups[edge.source].append(edge.label)

    def _columns(self) -> None:
        """Each lane's cross position and width, the gaps between lanes wide
        enough for the frames' borders."""
        width = [0.0] * self.lanes
        for box_id, lane in self.column.items():
            labels = [self.label_cross(label) for label in self.out_groups[box_id]]
            width[lane] = max([width[lane], self.cross_size(box_id)] + labels)
        self.col_width = width
        self._frame_extents()
        end_ext, start_ext = defaultdict(float), defaultdict(float)
        for frame_id, (low, high) in self.frame_lanes.items():
            start_ext[low] = max(start_ext[low], self.ext[frame_id]["cross_start"])
            end_ext[high] = max(end_ext[high], self.ext[frame_id]["cross_end"])
        self.col_left = []
        position = MARGIN + start_ext[0]
        for lane in range(self.lanes):
            self.col_left.append(position)
            position += width[lane] + end_ext[lane] + LANE_GAP[self.direction] + start_ext[lane + 1]
        self.cross_extent = position - LANE_GAP[self.direction] - start_ext[self.lanes] + MARGIN
        self.box_cross = {box_id: self.col_left[lane] + (width[lane] - self.cross_size(box_id)) / 2
                          for box_id, lane in self.column.items()}

    def _frame_extents(self) -> None:
        """How far each frame reaches past its lanes and ranks: a padding per
        level of frames nested at that side, and its title's row."""
        self.ext = {}
        title_main = FRAME_TITLE_BAND if self.tb else 0
        title_cross = 0 if self.tb else FRAME_TITLE_BAND
        for frame in reversed(self.drawn):   # inner frames first
            first, last, _ = self.span[frame.id]
            low, high = self.frame_lanes[frame.id]
            inner = {"main_start": 0.0, "main_end": 0.0, "cross_start": 0.0, "cross_end": 0.0}
            for child in self.child_frames[frame.id]:
                c_first, c_last, _ = self.span[child]
                c_low, c_high = self.frame_lanes[child]
                for side, same in (("main_start", c_first == first), ("main_end", c_last == last),
                                   ("cross_start", c_low == low), ("cross_end", c_high == high)):
                    if same:
                        inner[side] = max(inner[side], self.ext[child][side])
            self.ext[frame.id] = {"main_start": FRAME_PAD + title_main + inner["main_start"],
                                  "main_end": FRAME_PAD + inner["main_end"],
                                  "cross_start": FRAME_PAD + title_cross + inner["cross_start"],
                                  "cross_end": FRAME_PAD + inner["cross_end"]}
            if self.tb:
                self.ext[frame.id]["cross_start"] += self._title_room(frame.id)

    def _title_room(self, frame_id: str) -> float:
        """How much wider a frame's left side must be for its title to fit
        beside the line that most often crosses its title row: the one into
        the middle of its first lane. Nothing when the title fits on either side."""
        low, high = self.frame_lanes[frame_id]
        ext = self.ext[frame_id]
        title = text_width(self.titles[frame_id], FRAME_FONT_SIZE) + TITLE_CLEARANCE
        left = ext["cross_start"] + self.col_width[low] / 2 - FRAME_TITLE_INDENT
        inside = sum(self.col_width[low:high + 1]) + LANE_GAP[self.direction] * (high - low)
        right = inside - self.col_width[low] / 2 + ext["cross_end"] - FRAME_TITLE_INDENT
        return 0.0 if title <= max(left, right) else title - left

    def out_port(self, box_id: str, label: str) -> float:
        groups = self.out_groups[box_id]
        return self.box_cross[box_id] + self.cross_size(box_id) * (groups.index(label) + 1) / (len(groups) + 1)

    def _runs_cross(self) -> None:
        """A run's cross position: straight on from its source's stub or into
        its target when it runs in their lane, else near the lane's side."""
        for run in self.runs:
            edge = self.diagram.edges[run.edge]
            if run.straight and run.lane == self.column[edge.source]:
                run.cross = self.out_port(edge.source, edge.label)
            elif run.straight:
                run.cross = self.box_cross[edge.target] + self.cross_size(edge.target) / 2
            else:
                run.cross = self.col_left[run.lane] + min(RUN_INSET, self.col_width[run.lane] / 2)
        self.run_of = {run.edge: run for run in self.runs}

    def arrival(self, index: int) -> float:
        """Where an edge comes down into the gap above its target."""
        run = self.run_of.get(index)
        if run is not None:
            return run.cross
        edge = self.diagram.edges[index]
        return self.out_port(edge.source, edge.label)

    def _ports_in(self) -> None:
        """Where each edge enters its target: one edge in the middle; of
        several, the one arriving over the box goes straight in and the
        others spread on either side of it, in the order they arrive."""
        above = {(self.column[b], self.rank[b]): b for b in self.boxes}
        self.in_port = {}
        for target, indices in self.incoming.items():
            low = self.box_cross[target]
            high = low + self.cross_size(target)
            if len(indices) == 1:
                ports = {indices[0]: (low + high) / 2}
            else:
                ports = self._spread(sorted(indices, key=lambda i: (self.arrival(i), i)), low, high)
            box_above = above.get((self.column[target], self.rank[target] - 1))
            for index, port in ports.items():
                self.in_port[index] = self._clear_of_stubs(index, port, box_above, low, high)

    def _spread(self, indices: list[int], low: float, high: float) -> dict[int, float]:
        """In-ports of several edges (sorted by where they arrive) along a
        box's side from ``low`` to ``high``."""
        inside = [i for i in indices if low + PORT_MARGIN <= self.arrival(i) <= high - PORT_MARGIN]
        if not inside:
            step = (high - low) / (len(indices) + 1)
            return {index: low + step * (k + 1) for k, index in enumerate(indices)}
        centre = (low + high) / 2
        straight = min(inside, key=lambda i: abs(self.arrival(i) - centre))
        middle = self.arrival(straight)
        split = indices.index(straight)
        before, after = indices[:split], indices[split + 1:]
        ports = {straight: middle}
        step = (middle - low) / (len(before) + 1)
        ports.update({index: low + step * (k + 1) for k, index in enumerate(before)})
        step = (high - middle) / (len(after) + 1)
        ports.update({index: middle + step * (k + 1) for k, index in enumerate(after)})
        return ports

    def _clear_of_stubs(self, index: int, port: float, box_above: str | None, low: float, high: float) -> float:
        """Move an in-port off the stub of the box just above it in its lane
        (when that stub is another net's), so the two lines never overlap."""
        if box_above is None:
            return port
        edge = self.diagram.edges[index]
        stubs = [self.out_port(box_above, label) for label in self.out_groups[box_above]
                 if (box_above, label) != (edge.source, edge.label)]
        for shift in (0, PORT_SHIFT, -PORT_SHIFT, 2 * PORT_SHIFT, -2 * PORT_SHIFT):
            candidate = min(max(port + shift, low + 4), high - 4)
            if all(abs(candidate - stub) > 3 for stub in stubs):
                return candidate
        return port

    # -- gaps: labels, tracks, frame borders --------------------------------------------
    def _gaps(self) -> None:
        """Each gap's nets (the lines of one source's output crossing it),
        their tracks, and the gap's zones."""
        nets = defaultdict(lambda: defaultdict(list))   # gap → (source, label) → [(cross, leg)]
        self.legs = {}                                    # edge → [(gap, cross in, cross out)]
        for index, edge in enumerate(self.diagram.edges):
            key = (edge.source, edge.label)
            start = self.out_port(edge.source, edge.label)
            end = self.in_port[index]
            source, target = self.rank[edge.source], self.rank[edge.target]
            run = self.run_of.get(index)
            if run is None:
                legs = [(source, start, end)]
            else:   # to the run below the source, and from it above the target (down or, for a back edge, up)
                legs = [(source, start, run.cross), (target - 1, run.cross, end)]
            self.legs[index] = legs
            for gap, a, b in legs:
                nets[gap][key] += [a, b]
        self.tracks: dict[tuple[int, tuple], int] = {}
        self.track_count = defaultdict(int)
        for gap, by_net in nets.items():
            self._assign_tracks(gap, by_net)
        self.label_rows = defaultdict(int)
        for box_id, groups in self.out_groups.items():
            self.label_rows[self.rank[box_id]] = max(self.label_rows[self.rank[box_id]], len(groups))
        self.label_main_size = defaultdict(float)
        for box_id, groups in self.out_groups.items():
            for label in groups:
                rank = self.rank[box_id]
                self.label_main_size[rank] = max(self.label_main_size[rank], self.label_main(label))

    def _assign_tracks(self, gap: int, by_net: dict) -> None:
        """Tracks by the left-edge algorithm: nets sorted by where they
        start, each on the first track whose last segment ends well before."""
        spans = []
        for key, crosses in by_net.items():
            low, high = min(crosses), max(crosses)
            if high - low > 0.5:
                spans.append((low, high, key))
        ends: list[float] = []
        for low, high, key in sorted(spans, key=lambda s: (s[0], s[1], str(s[2]))):
            track = next((t for t, end in enumerate(ends) if end + TRACK_GAP < low), len(ends))
            if track == len(ends):
                ends.append(high)
            else:
                ends[track] = high
            self.tracks[(gap, key)] = track
        self.track_count[gap] = len(ends)

    def _zones(self, gap: int) -> dict[str, float]:
        """The sizes of a gap's zones, top to bottom (see the module's docstring)."""
        ending = [self.ext[frame]["main_end"] for frame in self.frames_ending[gap]]
        starting = [self.ext[frame]["main_start"] for frame in self.frames_starting[gap + 1]]
        rows = self.label_rows.get(gap, 0)
        labels = rows * (self.label_main_size[gap] + LABEL_SEP) + LABEL_SEP if rows else MIN_STUB
        return {"frames_end": max(ending, default=0.0), "labels": labels,
                "tracks": self.track_count[gap] * TRACK_SEP, "arrows": ARROW_ROOM,
                "frames_start": max(starting, default=0.0)}

    def _main_positions(self) -> None:
        """Each rank's main position and size, each gap's zones."""
        self.frames_starting, self.frames_ending = defaultdict(list), defaultdict(list)
        for frame_id, (first, last, _) in self.span.items():
            self.frames_starting[first].append(frame_id)
            self.frames_ending[last].append(frame_id)
        row_size = [0.0] * self.ranks
        for box_id, rank in self.rank.items():
            row_size[rank] = max(row_size[rank], self.main_size(box_id))
        self.row_start, self.row_size = [], row_size
        self.zone_start: dict[int, dict[str, float]] = {}
        position = HEADER if self.tb else MARGIN
        for gap in range(-1, self.ranks):
            zones = self._zones(gap)
            if gap == -1:
                zones["labels"] = 0
            if gap == self.ranks - 1:   # below the last rank: only back edges leave from there
                zones["labels"] = zones["labels"] if self.label_rows.get(gap) else 0.0
                zones["arrows"] = MIN_STUB if zones["tracks"] else 0.0
                zones["frames_start"] = 0.0
            starts = {}
            for name in ("frames_end", "labels", "tracks", "arrows", "frames_start"):
                starts[name] = position
                position += zones[name]
            self.zone_start[gap] = starts
            if gap + 1 < self.ranks:
                self.row_start.append(position)
                position += row_size[gap + 1]
        self.main_extent = position + MARGIN

    def track_main(self, gap: int, key) -> float:
        track = self.tracks.get((gap, key))
        start = self.zone_start[gap]["tracks"]
        if track is None:   # a straight line: no track of its own
            return start
        return start + (track + 0.5) * TRACK_SEP

    # -- the result ----------------------------------------------------------------------
    def point(self, main: float, cross: float) -> tuple[float, float]:
        return (round(cross, 2), round(main, 2)) if self.tb else (round(main, 2), round(cross, 2))

    def rect(self, main: float, cross: float, main_size: float, cross_size: float):
        x, y = self.point(main, cross)
        return (x, y, round(cross_size, 2), round(main_size, 2)) if self.tb else \
            (x, y, round(main_size, 2), round(cross_size, 2))

    def _result(self) -> Layout:
        width, height = self.point(self.main_extent, self.cross_extent)
        width = max(width, MARGIN + text_width(self.diagram.name, TITLE_FONT_SIZE) + MARGIN)
        result = Layout(self.direction, round(width, 2), round(height, 2), self.diagram.name, MARGIN, TITLE_TOP)
        if not self.tb:   # the title takes a band above the lanes
            result.height = round(result.height + HEADER, 2)
        for box in self.diagram.boxes:
            result.boxes.append(self._box_place(box))
        labelled = set()
        for index, edge in enumerate(self.diagram.edges):
            result.edges.append(self._edge_route(index, edge, labelled))
        for frame in self.drawn:
            result.frames.append(self._frame_place(frame))
        if not self.tb:
            self._shift(result, HEADER)
        self._place_frame_titles(result)
        return result

    def _box_place(self, box: Box) -> BoxPlace:
        rank = self.rank[box.id]
        x, y, width, height = self.rect(self.row_start[rank], self.box_cross[box.id],
                                        self.row_size[rank], self.cross_size(box.id))
        lines, tags = self.text[box.id]
        shape = "input" if box.family == "input" else "output" if box.is_output else "layer"
        return BoxPlace(box.id, x, y, width, height, lines, tags, shape, box.family)

    def _edge_route(self, index: int, edge, labelled: set) -> EdgeRoute:
        source, target = self.rank[edge.source], self.rank[edge.target]
        key = (edge.source, edge.label)
        start = self.out_port(edge.source, edge.label)
        points = [(self.row_start[source] + self.row_size[source], start)]
        for gap, a, b in self.legs[index]:
            track = self.track_main(gap, key)
            points += [(track, a), (track, b)]
        points.append((self.row_start[target], self.in_port[index]))
        polyline = [self.point(main, cross) for main, cross in _simplify(points)]
        label_box = None
        if key not in labelled:
            labelled.add(key)
            label_box = self._label_box(edge, start)
        return EdgeRoute(edge.source, edge.target, polyline, edge.label, label_box)

    def _label_box(self, edge, cross: float):
        rank = self.rank[edge.source]
        row = self.out_groups[edge.source].index(edge.label)
        main = self.zone_start[rank]["labels"] + LABEL_SEP + row * (self.label_main_size[rank] + LABEL_SEP)
        main_size = self.label_main(edge.label)
        main += (self.label_main_size[rank] - main_size) / 2
        cross_size = self.label_cross(edge.label)
        return self.rect(main, cross - cross_size / 2, main_size, cross_size)

    def _frame_place(self, frame: Frame) -> FramePlace:
        first, last, _ = self.span[frame.id]
        low, high = self.frame_lanes[frame.id]
        ext = self.ext[frame.id]
        main = self.row_start[first] - ext["main_start"]
        main_end = self.row_start[last] + self.row_size[last] + ext["main_end"]
        cross = self.col_left[low] - ext["cross_start"]
        cross_end = self.col_left[high] + self.col_width[high] + ext["cross_end"]
        x, y, width, height = self.rect(main, cross, main_end - main, cross_end - cross)
        return FramePlace(frame.id, x, y, width, height, self.titles[frame.id], x, y)

    @staticmethod
    def _shift(result: Layout, down: float) -> None:
        for box in result.boxes:
            box.y = round(box.y + down, 2)
        for edge in result.edges:
            edge.points = [(x, round(y + down, 2)) for x, y in edge.points]
            if edge.label_box:
                x, y, w, h = edge.label_box
                edge.label_box = (x, round(y + down, 2), w, h)
        for frame in result.frames:
            frame.y = round(frame.y + down, 2)

    @staticmethod
    def _place_frame_titles(result: Layout) -> None:
        """A frame's title goes in its top row, left, or right of the lines
        crossing that row when the title would cover one."""
        band = 256.0   # vertical lines by the bands of height they pass, to find those crossing a row quickly
        verticals = defaultdict(list)
        for edge in result.edges:
            for (x1, y1), (x2, y2) in zip(edge.points, edge.points[1:]):
                if x1 == x2:
                    low, high = min(y1, y2), max(y1, y2)
                    for number in range(int(low // band), int(high // band) + 1):
                        verticals[number].append((x1, low, high))
        for frame in result.frames:
            top = frame.y + (FRAME_TITLE_BAND - FRAME_FONT_SIZE) / 2
            bottom = top + FRAME_FONT_SIZE + 2
            nearby = {line for number in range(int(top // band), int(bottom // band) + 1) for line in verticals[number]}
            crossing = sorted(x for x, y1, y2 in nearby
                              if frame.x < x < frame.x + frame.width and y1 < bottom and y2 > top)
            width = text_width(frame.title, FRAME_FONT_SIZE)
            left = frame.x + FRAME_TITLE_INDENT
            for candidate in [left] + [x + TITLE_CLEARANCE for x in crossing]:
                if candidate + width > frame.x + frame.width - FRAME_TITLE_INDENT:
                    break
                if all(not (candidate - TITLE_CLEARANCE < x < candidate + width + TITLE_CLEARANCE)
                       for x in crossing):
                    left = candidate
                    break
            frame.title_x, frame.title_y = round(left, 2), round(top, 2)


def _simplify(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop repeated points and points in the middle of a straight stretch."""
    kept: list[tuple[float, float]] = []
    for point in points:
        point = (round(point[0], 2), round(point[1], 2))
        if kept and kept[-1] == point:
            continue
        if len(kept) >= 2 and (kept[-2][0] == kept[-1][0] == point[0] or kept[-2][1] == kept[-1][1] == point[1]):
            kept[-1] = point
            continue
        kept.append(point)
    return kept
