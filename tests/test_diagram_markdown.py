"""Mermaid diagrams in Markdown reviews (layerspec/diagram_markdown.py): a
summary's, and a diff's with its added, changed and removed layers
highlighted; each chart read back with tests/mermaid_check.py."""

import textwrap

import pytest

import layerspec
from layerspec import diagram_markdown
from layerspec.diagram import diagram_from_summary
from layerspec.diagram_markdown import LEGEND, diff_diagram_markdown, summary_diagram_markdown
from layerspec.diff import diff_summaries
from layerspec.errors import ArgumentError
from layerspec.summary import summarize
from tests.conftest import SPECS
from tests.mermaid_check import Flowchart, parse_flowchart


def summary_of(text: str) -> dict:
    return summarize(layerspec.loads(textwrap.dedent(text)))


def chart_of(markdown: str) -> tuple[Flowchart, list[str]]:
    """The chart in a Markdown text's one ``mermaid`` fence, and the lines after the fence."""
    lines = markdown.split("\n")
    assert lines[0] == "```mermaid"
    end = lines.index("```")
    assert "```" not in lines[end + 1:]
    return parse_flowchart("\n".join(lines[1:end])), lines[end + 1:]


def names(chart: Flowchart) -> dict[str, str]:
    """Node id → the name on its label's first line."""
    return {node.id: node.lines[0] for node in chart.nodes.values()}


def marked(chart: Flowchart) -> dict[str, set[str]]:
    """Highlight status → the names of the nodes given it."""
    found: dict[str, set[str]] = {}
    for node_id, classes in chart.node_classes.items():
        for name in classes:
            if name in ("added", "changed", "removed"):
                found.setdefault(name, set()).add(names(chart)[node_id])
    return found


# -- a summary's ------------------------------------------------------------------------
def test_a_summary_diagram_is_one_mermaid_fence_of_the_model():
    summary = summarize(layerspec.load(str(SPECS / "two_tower.yaml")))
    chart, after = chart_of(summary_diagram_markdown(summary))
    assert after == []
    diagram = diagram_from_summary(summary)
    assert list(names(chart).values()) == [box.name for box in diagram.boxes]
    assert [(edge.source, edge.target, edge.label) for edge in chart.edges] == [
        (edge.source, edge.target, edge.label) for edge in diagram.edges]
    assert marked(chart) == {}


def test_a_summary_diagram_folds_at_the_depth_given():
    summary = summarize(layerspec.load(str(SPECS / "zoo" / "resnet50.yaml")))
    chart, after = chart_of(summary_diagram_markdown(summary, depth=0))
    assert len(chart.nodes) == 13 and chart.subgraphs == {} and after == []
    with pytest.raises(ArgumentError, match="depth"):
        summary_diagram_markdown(summary, depth=-1)


def test_a_diagram_past_mermaids_limits_is_folded_with_a_note(monkeypatch):
    summary = summarize(layerspec.load(str(SPECS / "zoo" / "resnet50.yaml")))
    full = summary_diagram_markdown(summary)
    assert len(chart_of(full)[0].nodes) == 177
    # Fitting below the full diagram (26,000 characters) and the depth-2 one (9,000), above depth 1's (3,700).
    monkeypatch.setattr(diagram_markdown, "MAX_TEXT", 5_000)
    chart, after = chart_of(summary_diagram_markdown(summary))
    assert len(chart.nodes) == 25
    assert after == ["", "*Blocks folded at depth 1: the full diagram is past Mermaid's limits "
                         "(5,000 characters, 500 edges).*"]
    monkeypatch.setattr(diagram_markdown, "MAX_EDGES", 10)  # depth 0 has 12 edges
    assert summary_diagram_markdown(summary) == (
        "*No diagram: even folded, this model is past Mermaid's limits (5,000 characters, 10 edges); "
        "draw it with `layerspec plot`.*")


# -- a diff's -------------------------------------------------------------------------------
OLD = """
    name: classifier
    inputs: {image: [28, 28, 1]}
    layers:
      - {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu, name: stem}
      - {type: Conv2D, filters: 8, kernel_size: 3, padding: same, name: body}
      - {type: Add, inputs: [stem, body], name: skip}
      - {type: MaxPooling2D, name: pool}
      - {type: Dropout, rate: 0.25, name: drop}
      - {type: Flatten, name: flat}
      - {type: Dense, units: 10, activation: softmax, name: probs}
    """
# body_bn and hidden added, drop removed; skip and flat read other layers, probs more features.
NEW = """
    name: classifier
    inputs: {image: [28, 28, 1]}
    layers:
      - {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu, name: stem}
      - {type: Conv2D, filters: 8, kernel_size: 3, padding: same, name: body}
      - {type: BatchNormalization, name: body_bn}
      - {type: Add, inputs: [stem, body_bn], name: skip}
      - {type: MaxPooling2D, name: pool}
      - {type: Flatten, name: flat}
      - {type: Dense, units: 32, activation: relu, name: hidden}
      - {type: Dense, units: 10, activation: softmax, name: probs}
    """


def _diff_markdown(old_text: str, new_text: str, depth=None) -> tuple[Flowchart, list[str], dict]:
    old, new = summary_of(old_text), summary_of(new_text)
    diff = diff_summaries(old, new)
    chart, after = chart_of(diff_diagram_markdown(old, new, diff, depth))
    return chart, after, diff


def test_a_diff_diagram_highlights_exactly_the_changed_layers():
    chart, after, diff = _diff_markdown(OLD, NEW)
    by_status = {}
    for entry in diff["layers"]:
        by_status.setdefault(entry["status"], set()).add(entry["name"])
    assert by_status["added"] == {"body_bn", "hidden"}
    assert by_status["changed"] == {"skip", "flat", "probs"}
    assert by_status["removed"] == {"drop"}
    assert marked(chart) == {status: by_status[status] for status in ("added", "changed", "removed")}
    assert list(names(chart).values()) == ["image", "stem", "body", "body_bn", "skip", "pool", "drop", "flat",
                                           "hidden", "probs"]
    # A highlighted node says what happened to it; the rest keep their family's class.
    lines = {node.lines[0]: node.lines for node in chart.nodes.values()}
    assert lines["drop"] == ["drop", "Dropout", "(None, 14, 14, 8)", "0 params", "removed"]
    assert lines["hidden"][-1] == "added" and lines["probs"][-1] == "changed"
    families = {names(chart)[node]: classes for node, classes in chart.node_classes.items()}
    assert families["stem"] == families["body"] == ["conv"] and families["pool"] == ["pool"]
    assert after == ["", LEGEND]


def test_a_removed_layer_is_wired_where_it_was_with_dotted_edges():
    chart, _, _ = _diff_markdown(OLD, NEW)
    shown = names(chart)
    dotted = [(shown[edge.source], shown[edge.target], edge.label) for edge in chart.edges if edge.dotted]
    assert dotted == [("pool", "drop", "(None, 14, 14, 8)"), ("drop", "flat", "(None, 14, 14, 8)")]
    solid = [(shown[edge.source], shown[edge.target]) for edge in chart.edges if not edge.dotted]
    assert solid == [("image", "stem"), ("stem", "body"), ("body", "body_bn"), ("stem", "skip"),
                     ("body_bn", "skip"), ("skip", "pool"), ("pool", "flat"), ("flat", "hidden"),
                     ("hidden", "probs")]


def test_a_diff_of_identical_models_highlights_nothing():
    chart, after, _ = _diff_markdown(OLD, OLD)
    assert marked(chart) == {} and after == ["", LEGEND]


BLOCKS = """
    name: towers
    blocks:
      res:
        args: {units: 4}
        layers:
          - {units: "${units}", activation: relu, name: inner}
          - {units: 4, name: proj}
          - {type: Add, inputs: [in, proj], name: add}
    inputs: {x: [4]}
    layers:
      - {units: 4, name: stem, inputs: x}
      - {type: res, name: first}
      - {type: res, name: second}
      - {type: res, name: third}
      - {units: 2, name: head}
    """
# A new input and a layer joining it; second's inner layer widened; third removed.
BLOCKS_NEW = """
    name: towers
    blocks:
      res:
        args: {units: 4}
        layers:
          - {units: "${units}", activation: relu, name: inner}
          - {units: 4, name: proj}
          - {type: Add, inputs: [in, proj], name: add}
    inputs: {x: [4], extra: [4]}
    layers:
      - {units: 4, name: stem, inputs: x}
      - {type: res, name: first}
      - {type: res, name: second, units: 8}
      - {type: Concatenate, inputs: [second, extra], name: join}
      - {units: 2, name: head}
    """


def test_a_diff_of_blocks_unfolded():
    chart, _, _ = _diff_markdown(BLOCKS, BLOCKS_NEW)
    assert marked(chart) == {"added": {"extra", "join"}, "changed": {"inner", "proj", "head"},
                             "removed": {"inner", "proj", "add"}}
    titles = {key: (subgraph.title, subgraph.parent) for key, subgraph in chart.subgraphs.items()}
    # The removed application is drawn as its old frame, after second.
    assert titles == {"f0": ("first (res)", None), "f1": ("second (res)", None), "f2": ("third (res)", None)}
    removed = [node for node in chart.nodes.values() if chart.node_classes[node.id] == ["removed"]]
    assert [(node.lines[0], node.subgraph) for node in removed] == [("inner", "f2"), ("proj", "f2"), ("add", "f2")]
    changed = [(node.lines[0], node.subgraph) for node in chart.nodes.values()
               if chart.node_classes[node.id] == ["changed"]]
    assert changed == [("inner", "f1"), ("proj", "f1"), ("head", None)]


def test_a_diff_of_blocks_folded_highlights_whole_applications():
    chart, _, _ = _diff_markdown(BLOCKS, BLOCKS_NEW, depth=0)
    assert list(names(chart).values()) == ["x", "extra", "stem", "first", "second", "third", "join", "head"]
    assert marked(chart) == {"added": {"extra", "join"}, "changed": {"second", "head"}, "removed": {"third"}}
    shown = names(chart)
    assert [(shown[edge.source], shown[edge.target], edge.dotted) for edge in chart.edges] == [
        ("x", "stem", False), ("stem", "first", False), ("first", "second", False), ("second", "join", False),
        ("extra", "join", False), ("join", "head", False), ("second", "third", True), ("third", "head", True)]


def test_a_layer_removed_inside_a_folded_application_marks_it_changed():
    old = textwrap.dedent(BLOCKS).replace(
        "{units: 4, name: proj}\n", "{units: 4, name: proj}\n      - {type: Dropout, rate: 0.1, name: drop}\n")
    chart, _, diff = _diff_markdown(old.replace("inputs: [in, proj]", "inputs: [in, drop]"), BLOCKS, depth=0)
    assert {entry["name"] for entry in diff["layers"] if entry["status"] == "removed"} == {
        "first/drop", "second/drop", "third/drop"}
    # Every application lost a layer (and its add reads another): changed, none removed.
    assert marked(chart) == {"changed": {"first", "second", "third"}}


def test_a_removed_layer_whose_name_is_taken_is_told_apart():
    # dense_1 is removed; the old dense_2 is now called dense_1 (Keras's numbering).
    old = "name: auto\ninput: [4]\nlayers:\n  - {units: 8}\n  - {units: 6}\n  - {units: 2}\n"
    new = "name: auto\ninput: [4]\nlayers:\n  - {units: 8}\n  - {units: 2}\n"
    chart, _, diff = _diff_markdown(old, new)
    assert [(entry["status"], entry["name"]) for entry in diff["layers"]] == [
        ("unchanged", "dense"), ("removed", "dense_1"), ("changed", "dense_1")]
    assert marked(chart) == {"removed": {"dense_1 (old)"}, "changed": {"dense_1"}}
    assert list(names(chart).values()) == ["input", "dense", "dense_1 (old)", "dense_1"]
