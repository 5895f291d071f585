"""Diagrams as DOT and Mermaid text (layerspec/plot_text.py), checked by
parsing: DOT with pydot, Mermaid with tests/mermaid_check.py (whose own
refusals are tested at the end)."""

import textwrap
import xml.etree.ElementTree as ET

import pydot
import pytest

import layerspec
from layerspec.diagram import FAMILY_COLOURS, HIGHLIGHT_COLOURS, Diagram, box_lines, diagram_from_summary, frame_title
from layerspec.errors import ArgumentError
from layerspec.plot_text import render_dot, render_mermaid
from layerspec.summary import summarize
from tests.conftest import REPO, SPECS
from tests.mermaid_check import MermaidSyntaxError, parse_flowchart

TWO_LEVEL = """
    name: two_level
    blocks:
      unit:
        layers:
          - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, name: conv}
          - {type: Add, inputs: [conv, in], name: add}
      stage:
        layers:
          - {type: unit, repeat: 2}
          - {type: Activation, activation: relu, name: act}
    input: [8, 8, 4]
    layers:
      - {type: Conv2D, filters: 4, kernel_size: 1, name: stem}
      - {type: stage, name: s1}
      - {type: GlobalAveragePooling2D, name: pool}
      - {type: Dense, units: 3, name: head}
    """

# Every character a format could read: quotes, markup, entity and comment
# starters, Mermaid's edge-label bar, a backquote, a style line's ':' and ';'.
AWKWARD = 'a<b>&c "q" #x; |pipe| `tick` style:#3; 50%'
WEIRD = f"""
    name: 'we"ird <model> #1'
    inputs: {{'in "put"': [4]}}
    layers:
      - {{type: Dense, units: 3, name: '{AWKWARD.replace("'", "''")}'}}
      - {{type: Dense, units: 2, name: 'x.y z'}}
    """


def diagram_of(text: str, depth=None) -> Diagram:
    return diagram_from_summary(summarize(layerspec.loads(textwrap.dedent(text))), depth)


@pytest.fixture(scope="module")
def two_level():
    return diagram_of(TWO_LEVEL)


def _frame_ids(diagram: Diagram) -> dict[str | None, list[str]]:
    """Each frame's (None: the top level's) frames, by id, in order."""
    children: dict[str | None, list[str]] = {}
    for frame in diagram.frames:
        children.setdefault(frame.parent, []).append(frame.id)
    return children


# -- DOT ---------------------------------------------------------------------------
def _dot(diagram: Diagram, direction: str = "TB") -> pydot.Dot:
    graphs = pydot.graph_from_dot_data(render_dot(diagram, direction))
    assert len(graphs) == 1
    return graphs[0]


def _unquote(text: str) -> str:
    assert text[0] == text[-1] == '"'
    return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def _html_lines(label: str) -> list[str]:
    """The lines of an HTML-like label ``<<B>name</B><BR/>...>``, parsed as XML."""
    assert label[0] == "<" and label[-1] == ">"
    element = ET.fromstring(f"<label>{label[1:-1]}</label>")
    (name,) = element.findall("B")
    return [name.text] + [br.tail for br in element.findall("BR")]


def _dot_nodes(graph) -> dict[str, dict]:
    """Node name → attributes, over the graph and its clusters (not the defaults)."""
    nodes = {node.get_name(): node.get_attributes() for node in graph.get_nodes()
             if node.get_name() not in ("node", "edge", "graph")}
    for subgraph in graph.get_subgraphs():
        nodes.update(_dot_nodes(subgraph))
    return nodes


def _dot_clusters(graph, parent=None, found=None) -> dict:
    """Cluster name → (label, parent cluster name, its own nodes)."""
    found = {} if found is None else found
    for subgraph in graph.get_subgraphs():
        nodes = [node.get_name() for node in subgraph.get_nodes() if node.get_name() not in ("node", "edge", "graph")]
        found[subgraph.get_name()] = (_unquote(subgraph.get("label")), parent, nodes)
        _dot_clusters(subgraph, subgraph.get_name(), found)
    return found


def test_dot_has_a_node_per_box_with_its_lines_and_colours(two_level):
    graph = _dot(two_level)
    assert graph.get_type() == "digraph"
    assert _unquote(graph.get_name()) == "two_level"
    assert graph.get("rankdir") == "TB"
    nodes = _dot_nodes(graph)
    assert sorted(nodes) == sorted(box.id for box in two_level.boxes)
    for box in two_level.boxes:
        attributes = nodes[box.id]
        assert _html_lines(attributes["label"]) == box_lines(two_level, box)
        fill, stroke = FAMILY_COLOURS[box.family]
        assert (_unquote(attributes["fillcolor"]), _unquote(attributes["color"])) == (fill, stroke)
        assert attributes.get("shape") == ("invhouse" if box.family == "input" else None)
        assert attributes.get("peripheries") == ("2" if box.is_output else None)
    assert [box.name for box in two_level.boxes if box.is_output] == ["head"]


def test_dot_has_an_edge_per_diagram_edge_with_its_shape(two_level):
    graph = _dot(two_level)
    found = [(edge.get_source(), edge.get_destination(), _unquote(edge.get("label"))) for edge in graph.get_edges()]
    assert found == [(edge.source, edge.target, edge.label) for edge in two_level.edges]
    assert len(found) == 10


def test_dot_draws_each_frame_as_a_nested_cluster(two_level):
    clusters = _dot_clusters(_dot(two_level))
    expected = {}
    for frame in two_level.frames:
        own = [box.id for box in two_level.boxes if box.frame == frame.id]
        expected[f"cluster_{frame.id}"] = (frame_title(two_level, frame),
                                           None if frame.parent is None else f"cluster_{frame.parent}", own)
    assert clusters == expected
    assert clusters["cluster_f1"] == ("unit (unit)", "cluster_f0", ["n2", "n3"])


def test_dot_direction(two_level):
    assert _dot(two_level, "LR").get("rankdir") == "LR"
    with pytest.raises(ArgumentError, match="direction"):
        render_dot(two_level, "sideways")


def test_dot_escapes_any_name():
    diagram = diagram_of(WEIRD)
    graph = _dot(diagram)
    assert _unquote(graph.get_name()) == 'we"ird <model> #1'
    nodes = _dot_nodes(graph)
    assert [_html_lines(nodes[box.id]["label"])[0] for box in diagram.boxes] == ['in "put"', AWKWARD, "x.y z"]


# -- Mermaid -------------------------------------------------------------------------
def test_mermaid_nodes_carry_the_box_lines(two_level):
    chart = parse_flowchart(render_mermaid(two_level))
    assert chart.direction == "TB"
    assert chart.comments == ["two_level"]
    assert list(chart.nodes) == [box.id for box in two_level.boxes]
    for box in two_level.boxes:
        node = chart.nodes[box.id]
        assert node.lines == box_lines(two_level, box)
        assert node.shape == ("stadium" if box.family == "input" else "subroutine" if box.is_output else "square")
        assert node.subgraph == box.frame


def test_mermaid_edges_carry_the_shapes(two_level):
    chart = parse_flowchart(render_mermaid(two_level))
    assert [(edge.source, edge.target, edge.label, edge.dotted) for edge in chart.edges] == [
        (edge.source, edge.target, edge.label, False) for edge in two_level.edges]


def test_mermaid_subgraphs_are_the_frames(two_level):
    chart = parse_flowchart(render_mermaid(two_level))
    assert {key: (subgraph.title, subgraph.parent) for key, subgraph in chart.subgraphs.items()} == {
        frame.id: (frame_title(two_level, frame), frame.parent) for frame in two_level.frames}
    assert [(key, subgraph.title) for key, subgraph in chart.subgraphs.items()] == [
        ("f0", "s1 (stage)"), ("f1", "unit (unit)"), ("f2", "unit_1 (unit)")]
    assert set(chart.styles) == {"f0", "f1", "f2"}
    assert chart.styles["f1"] == {"fill": "#f8fafc", "stroke": "#94a3b8", "stroke-dasharray": "4 3"}


def test_mermaid_classes_colour_the_families(two_level):
    chart = parse_flowchart(render_mermaid(two_level))
    assert chart.node_classes == {box.id: [box.family] for box in two_level.boxes}
    for family in {box.family for box in two_level.boxes}:
        fill, stroke = FAMILY_COLOURS[family]
        assert chart.classes[family] == {"fill": fill, "stroke": stroke, "color": "#111827"}
    assert set(chart.classes) == {"input", "conv", "merge", "activation", "pool", "dense"}


def test_mermaid_highlights(two_level):
    highlight = {"s1/unit/conv": "changed", "head": "added", "pool": "removed"}
    chart = parse_flowchart(render_mermaid(two_level, "LR", highlight))
    assert chart.direction == "LR"
    by_name = {box.name: box for box in two_level.boxes}
    for name, status in highlight.items():
        box = by_name[name]
        assert chart.node_classes[box.id] == [status]
        assert chart.nodes[box.id].lines == box_lines(two_level, box) + [status]
    unmarked = [box for box in two_level.boxes if box.name not in highlight]
    assert all(chart.node_classes[box.id] == [box.family] for box in unmarked)
    assert chart.classes["removed"] == {"fill": HIGHLIGHT_COLOURS["removed"][0],
                                        "stroke": HIGHLIGHT_COLOURS["removed"][1], "color": "#111827",
                                        "stroke-width": "3px", "stroke-dasharray": "6 4"}
    assert chart.classes["added"] == {"fill": "#bbf7d0", "stroke": "#15803d", "color": "#111827",
                                      "stroke-width": "3px"}
    pool = by_name["pool"].id
    assert [(edge.source, edge.target) for edge in chart.edges if edge.dotted] == [
        (edge.source, edge.target) for edge in two_level.edges if pool in (edge.source, edge.target)]


@pytest.mark.parametrize("highlight, message", [({"head": "new"}, "highlight is one of"),
                                                ({"nothing": "added"}, "no box of that name")])
def test_mermaid_refuses_a_bad_highlight(two_level, highlight, message):
    with pytest.raises(ArgumentError, match=message):
        render_mermaid(two_level, highlight=highlight)


def test_mermaid_escapes_any_name():
    diagram = diagram_of(WEIRD)
    chart = parse_flowchart(render_mermaid(diagram))
    assert [node.lines[0] for node in chart.nodes.values()] == ['in "put"', AWKWARD, "x.y z"]
    assert chart.comments == ['we"ird <model> #1']


def test_mermaid_of_every_spec_parses():
    paths = sorted(SPECS.glob("*.yaml")) + sorted((SPECS / "zoo").glob("*.yaml")) + [
        REPO / "examples" / "residual_blocks.yaml"]
    for path in paths:
        for depth in (None, 1):
            diagram = diagram_from_summary(summarize(layerspec.load(str(path))), depth)
            chart = parse_flowchart(render_mermaid(diagram))
            assert (len(chart.nodes), len(chart.edges)) == (len(diagram.boxes), len(diagram.edges)), path


def test_dot_of_the_small_specs_parses():
    # Not the zoo's: pydot takes seconds to parse a graph of hundreds of nodes.
    for path in sorted(SPECS.glob("*.yaml")):
        diagram = diagram_from_summary(summarize(layerspec.load(str(path))))
        graph = _dot(diagram)
        assert len(_dot_nodes(graph)) == len(diagram.boxes), path
        assert len(graph.get_edges()) == len(diagram.edges), path


# -- the checker itself ----------------------------------------------------------------
GOOD = """flowchart TB
  %% a comment
  n0(["input<br/>(None, 3)"])
  subgraph f0 ["outer"]
    n1["a #35;1#59;"]
  end
  n2[["out"]]
  n0 -->|"(None, 3)"| n1
  n1 -.-> n2
  classDef dense fill:#dbeafe,stroke:#2563eb
  class n1,n2 dense
  style f0 fill:#f8fafc,stroke-dasharray:4 3
"""


def test_the_checker_reads_a_good_chart():
    chart = parse_flowchart(GOOD)
    assert [(node.id, node.shape, node.lines, node.subgraph) for node in chart.nodes.values()] == [
        ("n0", "stadium", ["input", "(None, 3)"], None), ("n1", "square", ["a #1;"], "f0"),
        ("n2", "subroutine", ["out"], None)]
    assert [(edge.source, edge.target, edge.label, edge.dotted) for edge in chart.edges] == [
        ("n0", "n1", "(None, 3)", False), ("n1", "n2", None, True)]
    assert chart.node_classes == {"n1": ["dense"], "n2": ["dense"]}
    assert chart.styles == {"f0": {"fill": "#f8fafc", "stroke-dasharray": "4 3"}}


@pytest.mark.parametrize("old, new, message", [
    ("flowchart TB", "graph TB", "expected 'flowchart DIR'"),
    ("flowchart TB", "flowchart UP", "expected 'flowchart DIR'"),
    ('n1["a #35;1#59;"]', 'n1["a "quoted""]', "not a statement"),
    ('n1["a #35;1#59;"]', 'n1["a <b>"]', "raw '<'"),
    ('n1["a #35;1#59;"]', 'n1["a #1"]', "starts no entity"),
    ('n1["a #35;1#59;"]', 'n1["a `b`"]', "raw '`'"),
    ('n1["a #35;1#59;"]', 'n1["a #35;1#59;")', "not a statement"),
    ('n1["a #35;1#59;"]', 'n1(["a"]]', "closed by"),
    ('n1["a #35;1#59;"]', 'end["a"]', "keyword"),
    ('n2[["out"]]', 'n0[["out"]]', "defined twice"),
    ("  end\n", "", "not closed"),
    ("  end\n", "  end\n  end\n", "closes no subgraph"),
    ("n1 -.-> n2", "n1 -.-> n9", "no node 'n9'"),
    ("n1 -.-> n2", "n1 --> n2 --> n0", "not a statement"),
    ("n1 -.-> n2", 'n1 -->|"a|b"| n2', "raw '|'"),
    ("n1 -.-> n2", 'n1 -->|"a<br/>b"| n2', "one line"),
    ("class n1,n2 dense", "class n1,n2 sparse", "no class 'sparse'"),
    ("class n1,n2 dense", "class n1,n7 dense", "no node 'n7'"),
    ("style f0", "style f9", "no node or subgraph 'f9'"),
    ("classDef dense fill:#dbeafe,stroke:#2563eb", "classDef dense fill:#dbeafe;", "not a statement"),
    ("%% a comment", "%%{init: {}}%%", "directives"),
    ("%% a comment", "n5 -- n0", "not a statement"),
])
def test_the_checker_refuses_a_bad_chart(old, new, message):
    assert old in GOOD
    with pytest.raises(MermaidSyntaxError, match=message):
        parse_flowchart(GOOD.replace(old, new, 1))


def test_the_checker_wants_a_header():
    with pytest.raises(MermaidSyntaxError, match="no 'flowchart DIR' header"):
        parse_flowchart("%% only a comment\n")
    with pytest.raises(MermaidSyntaxError, match="line 1: expected"):
        parse_flowchart('n0["a"]\n')
