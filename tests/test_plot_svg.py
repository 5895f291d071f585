"""The SVG picture (layerspec.plot_svg): valid SVG 1.1 structure and a
readable geometry for every spec, read back from the SVG itself
(tests/svg_check.py); golden files for two small models.

The golden files were looked at, rendered to PNG, before being committed.
After a deliberate change to the picture, write them again with
``LAYERSPEC_UPDATE_GOLDEN=1 python -m pytest tests/test_plot_svg.py`` and
look at them again.
"""

from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ElementTree

import pytest

from layerspec.api import load, loads
from layerspec.diagram import FAMILY_COLOURS, Box, Diagram, Edge, Frame, diagram_from_summary
from layerspec.plot_layout import layout
from layerspec.plot_svg import render_svg
from layerspec.summary import summarize
from tests.conftest import REPO, SPECS
from tests.svg_check import SVG_NAMESPACE, check_geometry, check_structure, read_picture

NS = "{" + SVG_NAMESPACE + "}"
GOLDEN = REPO / "tests" / "golden"
EXAMPLES = REPO / "examples"
SPEC_FILES = sorted(SPECS.glob("*.yaml")) + sorted((SPECS / "zoo").glob("*.yaml")) + \
    [EXAMPLES / "tiny_resnet.yaml", EXAMPLES / "residual_blocks.yaml"]


@functools.lru_cache(maxsize=None)
def summary_of(path) -> dict:
    return summarize(load(str(path)))


def frame_boxes(diagram: Diagram) -> dict[str, set[str]]:
    """Frame id → every box inside it, nested frames' boxes too (from the diagram)."""
    parent = {frame.id: frame.parent for frame in diagram.frames}
    inside = {frame.id: set() for frame in diagram.frames}
    for box in diagram.boxes:
        frame = box.frame
        while frame is not None:
            inside[frame].add(box.id)
            frame = parent[frame]
    return inside


def picture_of(diagram: Diagram, direction: str = "TB"):
    """Render, check the structure and read the picture back; check its geometry."""
    text = render_svg(diagram, layout(diagram, direction))
    picture = read_picture(text)
    check_geometry(picture, {key: boxes for key, boxes in frame_boxes(diagram).items() if key in picture.frames})
    return text, picture


# -- every spec ---------------------------------------------------------------------
@pytest.mark.parametrize("depth", [None, 0, 1])
@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda path: path.stem)
def test_every_spec_draws_valid_readable_svg(path, depth):
    diagram = diagram_from_summary(summary_of(path), depth)
    _, picture = picture_of(diagram)
    assert set(picture.boxes) == {box.id for box in diagram.boxes}
    assert sorted((s, t) for s, t, _ in picture.edges) == sorted((e.source, e.target) for e in diagram.edges)
    assert set(picture.frames) == {frame for frame, boxes in frame_boxes(diagram).items() if boxes}
    assert_ranks_follow_the_edges(diagram, picture, "TB")
    labelled = {(edge.source, edge.label) for edge in diagram.edges}
    assert sorted(label[4] for label in picture.labels) == sorted(label for _, label in labelled)


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda path: path.stem)
def test_every_spec_draws_left_to_right_too(path):
    diagram = diagram_from_summary(summary_of(path), None)
    _, picture = picture_of(diagram, "LR")
    assert_ranks_follow_the_edges(diagram, picture, "LR")


def assert_ranks_follow_the_edges(diagram: Diagram, picture, direction: str) -> None:
    """Every edge from an earlier box to a later one goes down (TB) or right (LR)."""
    order = {box.id: position for position, box in enumerate(diagram.boxes)}
    axis = 1 if direction == "TB" else 0
    for edge in diagram.edges:
        if order[edge.source] < order[edge.target]:
            source, target = picture.boxes[edge.source], picture.boxes[edge.target]
            assert source[axis] + source[axis + 2] < target[axis], f"{edge} goes against the ranks"


# -- golden files ---------------------------------------------------------------------
@pytest.mark.parametrize("path", [SPECS / "siamese.yaml", EXAMPLES / "tiny_resnet.yaml"], ids=lambda p: p.stem)
def test_golden_pictures(path):
    diagram = diagram_from_summary(summary_of(path))
    text = render_svg(diagram, layout(diagram))
    golden = GOLDEN / f"{path.stem}.svg"
    if os.environ.get("LAYERSPEC_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_the_same_diagram_gives_the_same_text_and_the_default_layout_is_top_to_bottom():
    diagram = diagram_from_summary(summary_of(EXAMPLES / "residual_blocks.yaml"))
    assert render_svg(diagram) == render_svg(diagram, layout(diagram, "TB"))
    assert render_svg(diagram) == render_svg(diagram_from_summary(summary_of(EXAMPLES / "residual_blocks.yaml")))


# -- what the picture shows ---------------------------------------------------------------
def group(root, element_id: str):
    return next(g for g in root.iter(NS + "g") if g.get("id") == element_id)


def texts(element) -> list[str]:
    return [text.text for text in element.iter(NS + "text")]


def test_the_document_is_titled_and_sized_by_its_layout():
    diagram = diagram_from_summary(summary_of(EXAMPLES / "tiny_resnet.yaml"))
    placed = layout(diagram)
    root = check_structure(render_svg(diagram, placed))
    assert root.find(NS + "title").text == "tiny_resnet"
    assert (float(root.get("width")), float(root.get("height"))) == (placed.width, placed.height)
    assert [t.text for t in root.iter(NS + "text") if t.get("class") == "title"] == ["tiny_resnet"]


def test_a_box_shows_its_lines_its_tags_and_its_familys_colours():
    diagram = diagram_from_summary(summary_of(SPECS / "siamese.yaml"))
    root = check_structure(render_svg(diagram))
    ids = {box.name: box.id for box in diagram.boxes}
    hidden = group(root, ids["hidden"])
    assert texts(hidden) == ["hidden", "Dense", "(None, 64)", "2,112 params", "×2"]
    rect = next(r for r in hidden.iter(NS + "rect") if r.get("class") == "box")
    assert (rect.get("fill"), rect.get("stroke")) == FAMILY_COLOURS["dense"]
    assert [t.get("font-weight") for t in hidden.iter(NS + "text")][0] == "bold"
    assert texts(group(root, ids["cosine"])) == ["cosine", "Dot", "(None, 1)"]     # no "0 params"
    assert texts(group(root, ids["left"])) == ["left", "Input", "(None, 32)", "input"]
    assert texts(group(root, ids["match"]))[-1] == "output"
    assert group(root, ids["hidden"]).find(NS + "title").text == "hidden · Dense · (None, 64) · 2,112 params"


def test_inputs_and_outputs_have_outlines_of_their_own():
    diagram = diagram_from_summary(summary_of(SPECS / "siamese.yaml"))
    root = check_structure(render_svg(diagram))
    ids = {box.name: box.id for box in diagram.boxes}

    def rects(name):
        return [(r.get("class"), r.get("rx"), r.get("stroke-width")) for r in group(root, ids[name]).iter(NS + "rect")
                if r.get("class") != "tag"]

    assert rects("left") == [("box", "16", "1.6")]
    assert rects("match") == [("box", "6", "2.6"), ("box-inner", "4", "0.8")]
    assert rects("cosine") == [("box", "6", "1.2")]


def test_edges_have_arrowheads_titles_and_labels_on_white():
    diagram = diagram_from_summary(summary_of(EXAMPLES / "tiny_resnet.yaml"))
    root = check_structure(render_svg(diagram))
    edge = group(root, "e-n1-n4")
    assert edge.find(NS + "title").text == "stem → add: (None, 32, 32, 16)"
    assert edge.find(NS + "path").get("marker-end") == "url(#arrow)"
    labels = [g for g in root.iter(NS + "g") if g.get("class") == "label"]
    assert [texts(label)[0] for label in labels][:2] == ["(None, 32, 32, 3)", "(None, 32, 32, 16)"]
    assert {label.find(NS + "rect").get("fill") for label in labels} == {"#ffffff"}


def test_frames_are_dashed_and_titled():
    diagram = diagram_from_summary(summary_of(EXAMPLES / "residual_blocks.yaml"))
    root = check_structure(render_svg(diagram))
    frames = next(g for g in root.iter(NS + "g") if g.get("class") == "frames")
    assert frames.get("stroke-dasharray") == "6 4"
    assert [texts(frame)[0] for frame in frames] == ["residual", "residual_1", "residual_2"]
    assert [frame.find(NS + "title").text for frame in frames] == ["residual", "residual_1", "residual_2"]


def test_an_empty_diagram_is_valid_svg():
    picture = read_picture(render_svg(Diagram("empty")))
    assert (picture.boxes, picture.edges) == ({}, [])


def test_text_is_escaped():
    name = 'a<b>&"c\''
    diagram = Diagram(name, [Box("n0", "x&y", "Input", "(None, 2)", 0, "input"),
                             Box("n1", "<odd> \"name\"", "Dense", "(None, 2)", 6, "dense", frame="f0")],
                      [Edge("n0", "n1", "(None, 2) & <more>")], [Frame("f0", "b&b", "<blk>")])
    text, picture = picture_of(diagram)
    root = ElementTree.fromstring(text)
    assert root.find(NS + "title").text == name
    assert picture.box_text["n0"][0] == "x&y" and picture.box_text["n1"][0] == '<odd> "name"'
    assert [label[4] for label in picture.labels] == ["(None, 2) & <more>"]
    assert picture.frame_titles["f0"][2] == "b&b (<blk>)"


def test_a_model_with_shared_layers_and_back_edges_draws_readably():
    model = loads("""
        name: back_edges
        inputs: {x: [8], y: [8]}
        layers:
          - {units: 8, name: a, inputs: x}
          - {units: 8, name: b}
          - {reuse: a, inputs: b, name: a_again}
          - {reuse: a, inputs: a_again, name: a_thrice}
          - {units: 8, name: c, inputs: y}
          - {reuse: b, inputs: c, name: b_on_c}
          - {type: Add, inputs: [a_thrice, b_on_c]}
        """)
    diagram = diagram_from_summary(summarize(model))
    for direction in ("TB", "LR"):
        _, picture = picture_of(diagram, direction)
        assert len(picture.edges) == 8
    assert texts(group(check_structure(render_svg(diagram)), "n2"))[-1] == "×3"


def test_a_layer_with_several_outputs_draws_readably():
    model = loads("""
        name: enc_dec
        inputs: {src: [10, 8], tgt: [12, 6]}
        layers:
          - {type: LSTM, units: 16, return_state: true, return_sequences: true, name: encoder, inputs: src}
          - {type: Dense, units: 5, inputs: encoder.state_c, name: from_c}
          - {type: GRU, units: 16, return_sequences: true, inputs: [tgt, encoder.state_h], name: decoder}
          - {type: Dense, units: 3, inputs: encoder, name: from_sequence}
        outputs: [decoder, from_c, from_sequence]
        """)
    diagram = diagram_from_summary(summarize(model))
    for direction in ("TB", "LR"):
        _, picture = picture_of(diagram, direction)
        assert sorted(label[4] for label in picture.labels) == ["(None, 10, 16)", "(None, 10, 8)", "(None, 12, 6)",
                                                                "(None, 16)"]


# -- the checker finds what it is there for -------------------------------------------------
def small_svg() -> str:
    return render_svg(diagram_from_summary(summary_of(EXAMPLES / "tiny_resnet.yaml")))


def edited(change) -> str:
    ElementTree.register_namespace("", SVG_NAMESPACE)
    root = ElementTree.fromstring(small_svg())
    change(root)
    return ElementTree.tostring(root, encoding="unicode")


def box_rect(root, box_id: str):
    return next(r for r in group(root, box_id).iter(NS + "rect") if r.get("class") == "box")


def test_the_checker_accepts_the_unedited_picture():
    check_geometry(read_picture(edited(lambda root: None)))


@pytest.mark.parametrize("change, message", [
    (lambda root: root.set("version", "2"), "version"),
    (lambda root: root.set("viewBox", "0 0 10 10"), "viewBox"),
    (lambda root: box_rect(root, "n2").set("onclick", "x()"), "no attribute 'onclick'"),
    (lambda root: box_rect(root, "n2").set("fill", "blue;x"), "not a colour"),
    (lambda root: root.append(ElementTree.Element(NS + "script")), "unknown element script"),
    (lambda root: box_rect(root, "n2").append(ElementTree.Element(NS + "rect")), "rect is not allowed in rect"),
    (lambda root: group(root, "e-n1-n2").find(NS + "path").set("marker-end", "url(#nothing)"), "names no element"),
    (lambda root: group(root, "e-n1-n2").find(NS + "path").set("d", "M 1 2 C 3 4 5 6 7 8"), "path command"),
    (lambda root: group(root, "n3").set("id", "n2"), "used twice"),
    (lambda root: root.remove(root.find(NS + "title")), "no title"),
], ids=["version", "viewBox", "attribute", "colour", "element", "content", "marker", "path", "id", "title"])
def test_the_checker_refuses_what_svg_1_1_does_not_allow(change, message):
    with pytest.raises(AssertionError, match=message):
        check_structure(edited(change))


def test_the_checker_finds_overlapping_boxes_and_edges_through_boxes():
    def overlap(root):
        box_rect(root, "n2").set("y", str(float(box_rect(root, "n1").get("y")) + 5))

    with pytest.raises(AssertionError, match="overlap"):
        check_geometry(read_picture(edited(overlap)))

    def through(root):   # the skip connection straight down the main column
        path = group(root, "e-n1-n4").find(NS + "path")
        points = path.get("d").split()
        path.set("d", " ".join(points[:3] + ["L", points[1], points[-1]]))

    with pytest.raises(AssertionError, match="crosses box"):
        check_geometry(read_picture(edited(through)))


def test_the_checker_finds_labels_off_the_canvas_and_frames_missing_their_boxes():
    def off(root):
        label = next(g for g in root.iter(NS + "g") if g.get("class") == "label").find(NS + "rect")
        label.set("x", "-30")

    with pytest.raises(AssertionError, match="off the canvas"):
        check_geometry(read_picture(edited(off)))
    diagram = diagram_from_summary(summary_of(EXAMPLES / "residual_blocks.yaml"))
    picture = read_picture(render_svg(diagram))
    boxes = frame_boxes(diagram)
    boxes["f0"] = boxes["f0"] | {diagram.boxes[0].id}
    with pytest.raises(AssertionError, match="does not hold its box"):
        check_geometry(picture, boxes)
