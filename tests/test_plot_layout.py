"""The layout of a diagram: ranks, lanes, routes, frames (layerspec.plot_layout).

Diagrams are built by hand here, so that each test shows the shape it lays
out; tests/test_plot_svg.py checks the pictures of every spec.
"""

from __future__ import annotations

import pytest

from layerspec.diagram import Box, Diagram, Edge, Frame
from layerspec.errors import ArgumentError
from layerspec.plot_layout import (ARROW_ROOM, BOX_MIN_WIDTH, FRAME_PAD, FRAME_TITLE_BAND, HEADER, LABEL_HEIGHT,
                                   LABEL_SEP, LANE_GAP, MARGIN, TRACK_SEP, box_size, box_text, frame_title,
                                   label_size, layout, relative_name, text_width)


def box(number: int, name: str, type_: str = "Dense", params: int = 10, family: str = "dense", **extra) -> Box:
    return Box(f"n{number}", name, type_, "(None, 8)", params, family, **extra)


def source(number: int = 0, name: str = "x") -> Box:
    return Box(f"n{number}", name, "Input", "(None, 8)", 0, "input")


def diagram(boxes: list[Box], pairs: list[tuple[int, int]], frames: list[Frame] = (), labels: dict = None) -> Diagram:
    """A diagram of ``boxes`` with an edge per (source number, target number)."""
    labels = labels or {}
    edges = [Edge(f"n{a}", f"n{b}", labels.get((a, b), "(None, 8)")) for a, b in pairs]
    return Diagram("test", list(boxes), edges, list(frames))


def places(result):
    return {place.id: place for place in result.boxes}


def route(result, a: int, b: int):
    return next(edge for edge in result.edges if (edge.source, edge.target) == (f"n{a}", f"n{b}"))


def right(place) -> float:
    return place.x + place.width


def centre(place) -> float:
    return place.x + place.width / 2


# -- text -------------------------------------------------------------------------
def test_text_is_measured_per_character_of_the_monospaced_font():
    assert text_width("abc") == 21.96                # 3 × 12 px × 0.61
    assert text_width("abc", 10) == 18.3
    assert label_size("(None, 8)") == (62.9, 14)     # 9 characters at 10 px, 4 px each side


def test_a_box_shows_name_type_shape_and_params_but_not_zero_params():
    assert box_text(box(1, "dense"), None) == (["dense", "Dense", "(None, 8)", "10 params"], [])
    assert box_text(box(1, "relu", "ReLU", 0, "activation"), None) == (["relu", "ReLU", "(None, 8)"], [])
    assert box_text(Box("n2", "big", "Dense", "(None, 8)", 1234567, "dense"), None)[0][3] == "1,234,567 params"


def test_inputs_outputs_and_shared_layers_are_tagged():
    assert box_text(source(), None) == (["x", "Input", "(None, 8)"], ["input"])
    assert box_text(box(1, "head", is_output=True, applications=3), None)[1] == ["output", "×3"]


def test_a_folded_block_says_so_and_names_inside_frames_are_relative():
    folded = Box("n1", "conv2/identity_block", "identity_block", "(None, 4)", 99, "block", frame="f0")
    assert box_text(folded, "conv2")[0][:2] == ["identity_block", "identity_block (block)"]
    assert relative_name("conv2/identity_block/add", "conv2/identity_block") == "add"
    assert relative_name("conv2_extra/add", "conv2") == "conv2_extra/add"
    assert relative_name("add", None) == "add"


def test_a_box_is_as_wide_as_its_widest_line_and_never_narrower_than_the_minimum():
    assert box_size(["a", "Dense", "(None, 8)"], []) == (BOX_MIN_WIDTH, 3 * 16 + 16)
    # The first line holds the name and the tags: 30 characters (219.6 px), an "output" pill (44.6 px) and
    # the 6 px before it, 10 px of padding each side.
    assert box_size(["n" * 30, "Dense", "(None, 8)", "10 params"], ["output"]) == (290, 4 * 16 + 16)
    assert box_size(["a", "x" * 40], []) == (313, 2 * 16 + 16)


def test_a_frame_title_gives_the_block_unless_the_name_says_it():
    assert frame_title(Frame("f0", "conv2", "stage"), None) == "conv2 (stage)"
    assert frame_title(Frame("f1", "conv2/identity_block_1", "identity_block", "f0"), "conv2") == "identity_block_1"
    assert frame_title(Frame("f1", "conv2/projection_block", "projection_block", "f0"), "conv2") == "projection_block"
    assert frame_title(Frame("f1", "conv2/unit_a", "unit", "f0"), "conv2") == "unit_a (unit)"


def test_an_empty_diagram_is_a_canvas_with_its_title():
    result = layout(Diagram("empty"))
    assert (result.boxes, result.edges, result.frames) == ([], [], [])
    assert (result.width, result.height) == (MARGIN + 42.7 + MARGIN, HEADER + MARGIN)   # 5 characters at 14 px


def test_an_unknown_direction_is_refused():
    with pytest.raises(ArgumentError, match="TB or LR"):
        layout(diagram([source()], []), "BT")


# -- ranks and lanes ----------------------------------------------------------------
def test_a_chain_is_one_column_with_exact_positions():
    result = layout(diagram([source(), box(1, "dense")], [(0, 1)]))
    x, dense = places(result)["n0"], places(result)["n1"]
    # The title above; the gap above the first rank holds only the arrowheads' room.
    assert (x.x, x.y, x.width, x.height) == (MARGIN, HEADER + ARROW_ROOM, 150, 64)
    labels = LABEL_SEP + LABEL_HEIGHT + LABEL_SEP
    assert (dense.x, dense.y, dense.width, dense.height) == (MARGIN, x.y + 64 + labels + ARROW_ROOM, 150, 80)
    edge = route(result, 0, 1)
    assert edge.points == [(95, x.y + 64), (95, dense.y)]
    assert edge.label_box == (95 - 62.9 / 2, x.y + 64 + LABEL_SEP, 62.9, 14)
    assert (result.width, result.height) == (MARGIN + 150 + MARGIN, dense.y + 80 + MARGIN)
    assert (result.title, result.title_x, result.title_y) == ("test", MARGIN, 10)


def test_boxes_of_one_rank_share_its_height():
    result = layout(diagram([source(0, "a"), source(1, "b"), box(2, "add", "Add", 0, "merge"), box(3, "d")],
                            [(0, 2), (1, 2), (2, 3)]))
    boxes = places(result)
    assert boxes["n0"].y == boxes["n1"].y and boxes["n0"].height == boxes["n1"].height == 64
    assert boxes["n1"].x == right(boxes["n0"]) + LANE_GAP["TB"]


def test_the_longest_path_is_the_main_column_and_a_branch_takes_the_lane_beside_it():
    # x feeds a short branch (s, listed first) and a long one (a, b, c); both meet at add.
    boxes = [source(), box(1, "s"), box(2, "a"), box(3, "b"), box(4, "c"), box(5, "add", "Add", 0, "merge")]
    result = layout(diagram(boxes, [(0, 1), (0, 2), (2, 3), (3, 4), (1, 5), (4, 5)]))
    placed = places(result)
    main = {centre(placed[key]) for key in ("n0", "n2", "n3", "n4", "n5")}
    assert main == {95}
    assert placed["n1"].x == right(placed["n0"]) + LANE_GAP["TB"]
    assert placed["n1"].y == placed["n2"].y          # s beside a: both one step from x


def test_ranks_follow_the_longest_path_and_spec_order():
    boxes = [source(), box(1, "a"), box(2, "b"), box(3, "c")]
    result = layout(diagram(boxes, [(0, 1), (1, 2), (0, 3), (2, 3)]))
    ys = [places(result)[f"n{k}"].y for k in range(4)]
    assert ys == sorted(ys) and len(set(ys)) == 4


def test_a_skip_connection_runs_down_a_lane_beside_the_column_and_enters_beside_the_main_edge():
    boxes = [source(), box(1, "stem"), box(2, "c1"), box(3, "c2"), box(4, "add", "Add", 0, "merge")]
    result = layout(diagram(boxes, [(0, 1), (1, 2), (2, 3), (1, 4), (3, 4)]))
    placed = places(result)
    stem, add = placed["n1"], placed["n4"]
    skip = route(result, 1, 4)
    lane = right(stem) + LANE_GAP["TB"]              # the next lane, which holds no box: a channel
    assert [x for x, _ in skip.points] == [95, 95, lane, lane, 95 + 75 / 2, 95 + 75 / 2]
    ys = [y for _, y in skip.points]
    assert ys[0] == stem.y + stem.height and ys[-1] == add.y
    assert ys[1] == ys[2] and ys[3] == ys[4] and ys[2] < placed["n2"].y and ys[3] > right_below(placed["n3"])
    # The main edge goes straight into the middle of add; the skip enters to its right.
    assert route(result, 3, 4).points == [(95, placed["n3"].y + placed["n3"].height), (95, add.y)]


def right_below(place) -> float:
    return place.y + place.height


def test_nested_skips_take_lanes_inside_out():
    # A U: e1 → e2 → mid → d2 → d1, with skips e2 → d2 (inner) and e1 → d1 (outer).
    boxes = [source(), box(1, "e1"), box(2, "e2"), box(3, "mid"), box(4, "d2", "Add", 0, "merge"),
             box(5, "d1", "Add", 0, "merge")]
    result = layout(diagram(boxes, [(0, 1), (1, 2), (2, 3), (3, 4), (2, 4), (4, 5), (1, 5)]))
    inner = max(x for x, _ in route(result, 2, 4).points)
    outer = max(x for x, _ in route(result, 1, 5).points)
    assert 170 < inner < outer


def test_a_long_residual_chain_needs_one_side_lane_however_long():
    boxes, pairs = [source()], []
    for block in range(100):
        first = 1 + 3 * block
        boxes += [box(first, f"a{block}"), box(first + 1, f"b{block}"),
                  box(first + 2, f"add{block}", "Add", 0, "merge")]
        pairs += [(first - 1, first), (first, first + 1), (first + 1, first + 2), (first - 1, first + 2)]
    result = layout(diagram(boxes, pairs))
    assert {centre(place) for place in result.boxes} == {95}
    assert len({x for edge in result.edges for x, _ in edge.points}) == 3   # centre, the side lane, the in-port


def test_a_back_edge_into_a_reused_layer_goes_up_a_lane_beside_both():
    # shared (applied twice) reads x, then b's result: the edge b → shared goes back up.
    boxes = [source(), box(1, "shared", applications=2), box(2, "b")]
    result = layout(diagram(boxes, [(0, 1), (1, 2), (2, 1)]))
    placed = places(result)
    back = route(result, 2, 1)
    xs, ys = [x for x, _ in back.points], [y for _, y in back.points]
    assert ys[0] == right_below(placed["n2"]) and ys[-1] == placed["n1"].y
    assert max(xs) > max(right(place) for place in result.boxes)
    assert min(ys) < placed["n1"].y                  # it comes in from above, like every edge


def test_a_layer_applied_to_its_own_result_loops_beside_its_box():
    result = layout(diagram([source(), box(1, "square", applications=2)], [(0, 1), (1, 1)]))
    square = places(result)["n1"]
    loop = route(result, 1, 1)
    assert loop.points[0] == (centre(square), right_below(square))
    assert loop.points[-1][1] == square.y
    assert max(x for x, _ in loop.points) > right(square)
    assert len(loop.points) == 6


def test_edges_from_one_output_share_a_stub_and_one_label():
    boxes = [source(), box(1, "a"), box(2, "b")]
    result = layout(diagram(boxes, [(0, 1), (0, 2)]))
    assert [edge.label_box is not None for edge in result.edges] == [True, False]
    assert route(result, 0, 1).points[0] == route(result, 0, 2).points[0]


def test_edges_carrying_different_tensors_leave_from_different_stubs():
    boxes = [source(), box(1, "lstm", "LSTM", 99, "recurrent"), box(2, "a"), box(3, "b")]
    labels = {(1, 2): "(None, 16)", (1, 3): "(None, 4, 16)"}
    result = layout(diagram(boxes, [(0, 1), (1, 2), (1, 3)], labels=labels))
    lstm = places(result)["n1"]
    starts = [route(result, 1, 2).points[0], route(result, 1, 3).points[0]]
    assert starts == [(lstm.x + lstm.width / 3, right_below(lstm)), (lstm.x + lstm.width * 2 / 3, right_below(lstm))]
    assert all(route(result, 1, k).label_box is not None for k in (2, 3))


# -- frames -------------------------------------------------------------------------
def framed(outer: str = "outer", inner: str = "inner") -> Diagram:
    """x → [outer: a → [inner: b → c] → d] → e."""
    frames = [Frame("f0", outer, "stage"), Frame("f1", f"{outer}/{inner}", "unit", "f0")]
    boxes = [source(), box(1, f"{outer}/a", frame="f0"), box(2, f"{outer}/{inner}/b", frame="f1"),
             box(3, f"{outer}/{inner}/c", frame="f1"), box(4, f"{outer}/d", frame="f0"), box(5, "e")]
    return diagram(boxes, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)], frames)


def test_frames_hold_their_boxes_with_a_title_row_and_nest():
    result = layout(framed("o", "i"))   # titles short enough to fit left of the line into a
    placed = places(result)
    outer, inner = result.frames
    assert (outer.id, outer.title, inner.id, inner.title) == ("f0", "o (stage)", "f1", "i (unit)")
    assert inner.x == outer.x + FRAME_PAD and inner.x + inner.width == outer.x + outer.width - FRAME_PAD
    assert placed["n1"].y == outer.y + FRAME_PAD + FRAME_TITLE_BAND
    assert placed["n2"].y == inner.y + FRAME_PAD + FRAME_TITLE_BAND
    assert inner.y + inner.height == right_below(placed["n3"]) + FRAME_PAD
    assert outer.y + outer.height == right_below(placed["n4"]) + FRAME_PAD
    assert placed["n1"].x == inner.x + FRAME_PAD == outer.x + 2 * FRAME_PAD
    assert all(place.x == placed["n1"].x for place in result.boxes if place.id != "n0")
    assert placed["n2"].lines[0] == "b" and placed["n1"].lines[0] == "a"   # names inside their frames


def test_a_frame_title_goes_right_of_a_line_crossing_its_row_when_it_fits_there():
    # The frame holds two lanes (a → b, and s beside them): room for the title right of the line into a.
    frames = [Frame("f0", "branching", "blk")]
    boxes = [source(), box(1, "branching/a", frame="f0"), box(2, "branching/s", frame="f0"),
             box(3, "branching/b", frame="f0"), box(4, "add", "Add", 0, "merge")]
    result = layout(diagram(boxes, [(0, 1), (0, 2), (1, 3), (3, 4), (2, 4)], frames))
    frame, a, s = result.frames[0], places(result)["n1"], places(result)["n2"]
    assert frame.title == "branching (blk)"
    assert frame.title_x == centre(a) + 5
    assert frame.title_x + text_width(frame.title, 11) + 5 < centre(s)
    assert frame.title_y == frame.y + 3.5 and a.x == frame.x + FRAME_PAD      # no room added


def test_a_frame_widens_on_the_left_for_a_title_that_fits_beside_no_line():
    result = layout(framed())
    inner = result.frames[1]
    line = route(result, 1, 2).points[-1][0]
    assert inner.title == "inner (unit)"             # 80.52 px: wider than the 77 px left of the line
    assert inner.title_x == inner.x + 8
    assert inner.title_x + text_width(inner.title, 11) + 5 == line
    assert places(result)["n2"].x == round(inner.x + FRAME_PAD + 8.52, 2)


def test_a_frame_without_boxes_is_not_drawn():
    # A block application whose layers are all reused from another one has no box of its own.
    frames = [Frame("f0", "block", "b"), Frame("f1", "block_1", "b")]
    result = layout(diagram([source(), box(1, "block/a", frame="f0", applications=2)], [(0, 1)], frames))
    assert [frame.id for frame in result.frames] == ["f0"]


def test_a_branch_beside_a_frame_stays_outside_it():
    # x feeds a framed chain (f0: a → b) and, beside it, a plain box s; both meet at add.
    frames = [Frame("f0", "blk", "blk")]
    boxes = [source(), box(1, "blk/a", frame="f0"), box(2, "blk/b", frame="f0"), box(3, "s"),
             box(4, "add", "Add", 0, "merge")]
    result = layout(diagram(boxes, [(0, 1), (1, 2), (0, 3), (2, 4), (3, 4)], frames))
    frame, s = result.frames[0], places(result)["n3"]
    assert s.x >= frame.x + frame.width + LANE_GAP["TB"] - 0.01


# -- direction and determinism -------------------------------------------------------
def test_lr_lays_ranks_left_to_right():
    result = layout(diagram([source(), box(1, "a"), box(2, "b")], [(0, 1), (1, 2)]), "LR")
    placed = places(result)
    middle = HEADER + MARGIN + 40                    # the lane is as high as the highest box, 80 px
    assert {place.y + place.height / 2 for place in result.boxes} == {middle}
    assert placed["n0"].x < placed["n1"].x < placed["n2"].x
    assert {place.width for place in result.boxes} == {150}
    edge = route(result, 0, 1)
    assert edge.points == [(right(placed["n0"]), middle), (placed["n1"].x, middle)]
    x, y, width, height = edge.label_box
    assert (width, height) == (62.9, 14) and right(placed["n0"]) < x < x + width < placed["n1"].x
    assert y == middle - 7


def test_lr_frames_put_their_title_above_their_boxes():
    result = layout(framed(), "LR")
    outer, inner = result.frames
    placed = places(result)
    assert placed["n1"].y == outer.y + FRAME_PAD + FRAME_TITLE_BAND + FRAME_PAD + FRAME_TITLE_BAND
    assert inner.y == outer.y + FRAME_PAD + FRAME_TITLE_BAND


def test_the_same_diagram_gives_the_same_layout():
    assert layout(framed()) == layout(framed())


def test_tracks_keep_crossing_jogs_apart():
    # Two sources at one rank, each feeding the box below the other: their jogs cross the same gap.
    boxes = [source(0, "p"), source(1, "q"), box(2, "a"), box(3, "b"), box(4, "sum", "Add", 0, "merge")]
    result = layout(diagram(boxes, [(0, 3), (1, 2), (0, 2), (1, 3), (2, 4), (3, 4)]))
    jog_heights = {route(result, a, b).points[1][1] for a, b in ((0, 3), (1, 2))}
    assert len(jog_heights) == 2
    assert max(jog_heights) - min(jog_heights) == TRACK_SEP
