"""`layerspec plot` and the `--diagram` of summary and diff on the command
line. What the pictures hold is tested in test_diagram.py, test_plot_svg.py,
test_plot_layout.py, test_plot_text.py and test_diagram_markdown.py."""

from __future__ import annotations

import re

import pydot
import pytest

from tests.conftest import SPECS
from tests.mermaid_check import parse_flowchart
from tests.svg_check import check_geometry, check_structure, read_picture

SIAMESE = SPECS / "siamese.yaml"


def ok(cli, *arguments):
    result = cli(*arguments)
    assert result.exit_code == 0, result.stderr
    return result


def test_plot_writes_svg_to_standard_output_by_default(cli):
    text = ok(cli, "plot", SIAMESE).stdout
    check_structure(text)
    check_geometry(read_picture(text))


@pytest.mark.parametrize("name, kind", [("m.svg", "svg"), ("m.dot", "dot"), ("m.gv", "dot"), ("m.mmd", "mermaid")])
def test_plot_takes_the_format_from_the_extension(cli, tmp_path, name, kind):
    result = ok(cli, "plot", SIAMESE, "-o", tmp_path / name)
    shown = {"svg": "SVG", "dot": "Graphviz DOT", "mermaid": "Mermaid"}[kind]
    assert result.stderr == f"wrote {tmp_path / name}: {shown}, 6 boxes, 5 edges\n"
    text = (tmp_path / name).read_text(encoding="utf-8")
    if kind == "svg":
        check_structure(text)
    elif kind == "dot":
        (graph,) = pydot.graph_from_dot_data(text)
        assert graph.get_type() == "digraph"
    else:
        chart = parse_flowchart(text)
        assert len(chart.nodes) == 6  # two inputs, four layers (the reused two drawn once)


def test_plot_format_overrides_the_extension_and_depth_folds_blocks(cli):
    full = parse_flowchart(ok(cli, "plot", SPECS / "zoo" / "resnet50.yaml", "--format", "mermaid").stdout)
    folded = parse_flowchart(ok(cli, "plot", SPECS / "zoo" / "resnet50.yaml", "--format", "mermaid",
                                "--depth", "0").stdout)
    assert len(folded.nodes) < 20 < len(full.nodes)
    assert "conv2" in [node.lines[0] for node in folded.nodes.values()]


def test_plot_left_to_right(cli):
    chart = parse_flowchart(ok(cli, "plot", SIAMESE, "--format", "mermaid", "--direction", "LR").stdout)
    assert chart.direction == "LR"
    check_geometry(read_picture(ok(cli, "plot", SIAMESE, "--direction", "LR").stdout))


@pytest.mark.parametrize("arguments, message", [
    (["-o", "m.txt"], "cannot tell the format from 'm.txt': give --format svg|dot|mermaid"),
    (["--direction", "up"], "Invalid value for '--direction'"),
    (["--depth", "-1"], "Invalid value for '--depth'"),
])
def test_plot_usage_errors(cli, tmp_path, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    result = cli("plot", SIAMESE, *arguments)
    assert result.exit_code == 2
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_plot_of_a_broken_spec_points_into_it_and_writes_nothing(cli, write_spec, tmp_path):
    spec = write_spec("input: [4]\nlayers:\n  - {units: 0}\n")
    result = cli("plot", spec, "-o", tmp_path / "m.svg")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{spec}:3:")
    assert not (tmp_path / "m.svg").exists()


def test_plot_refuses_to_write_over_the_spec(cli, write_spec):
    spec = write_spec("input: [4]\nlayers:\n  - {units: 2}\n", name="model.svg")
    before = open(spec).read()
    assert cli("plot", spec, "-o", spec).exit_code == 1
    assert open(spec).read() == before


def test_summary_markdown_with_a_diagram_appends_mermaid_after_the_table(cli):
    text = ok(cli, "summary", SIAMESE, "--format", "markdown", "--diagram").stdout
    table, fence, rest = text.partition("```mermaid\n")
    assert table == ok(cli, "summary", SIAMESE, "--format", "markdown").stdout.rstrip("\n") + "\n\n"
    chart = parse_flowchart(rest[:rest.index("```")])
    assert len(chart.nodes) == 6


def test_diff_markdown_with_a_diagram_highlights_the_changed_layer(cli):
    text = ok(cli, "diff", SPECS / "mnist_mlp.yaml", SPECS.parent / "examples" / "mnist_mlp_v2.yaml",
              "--format", "markdown", "--diagram").stdout
    chart = parse_flowchart(re.search(r"```mermaid\n(.*?)```", text, re.S).group(1))
    changed = [node_id for node_id, classes in chart.node_classes.items() if "changed" in classes]
    assert [chart.nodes[node_id].lines[0] for node_id in changed] == ["logits"]


@pytest.mark.parametrize("command", [["summary", SIAMESE], ["diff", SIAMESE, SIAMESE]])
def test_diagram_goes_with_markdown_only(cli, command):
    result = cli(*command, "--diagram")
    assert result.exit_code == 2
    assert "--diagram goes with --format markdown" in result.stderr


def test_plot_dash_o_dash_is_standard_output(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = ok(cli, "plot", SIAMESE, "-o", "-", "--format", "mermaid").stdout
    assert len(parse_flowchart(text).nodes) == 6
    assert list(tmp_path.iterdir()) == []
