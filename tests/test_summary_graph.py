"""Summaries and diffs of graphs (layerspec/summary.py, diff.py): input rows,
"Connected to", JSON ``inputs``/``outputs``, reuse rows, changed connections."""

import json

import pytest

import layerspec
from layerspec.summary import render_markdown, render_table
from tests.conftest import SPECS

PAIR = """
    name: pair
    inputs: {left: [4], right: [4]}
    layers:
      - {units: 3, inputs: left, name: encoder}
      - {reuse: encoder, inputs: right}
      - {type: Concatenate, inputs: [encoder, encoder_reuse]}
      - {units: 2, activation: softmax, name: head}
    """


@pytest.fixture
def pair(write_spec):
    return write_spec(PAIR, "pair.yaml")


def summary_json(cli, path, *options) -> dict:
    result = cli("summary", path, "--format", "json", *options)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# -- the table -------------------------------------------------------------------
def test_table_of_a_graph(cli, pair):
    result = cli("summary", pair)
    assert result.exit_code == 0
    assert result.stdout == (
        'Model: "pair"\n'
        "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┓\n"
        "┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃          MACs ┃ Connected to           ┃\n"
        "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━┩\n"
        "│ left (InputLayer)               │ (None, 4)              │             0 │             0 │ -                      │\n"
        "├─────────────────────────────────┼────────────────────────┼───────────────┼───────────────┼────────────────────────┤\n"
        "│ right (InputLayer)              │ (None, 4)              │             0 │             0 │ -                      │\n"
        "├─────────────────────────────────┼────────────────────────┼───────────────┼───────────────┼────────────────────────┤\n"
        "│ encoder (Dense)                 │ (None, 3)              │            15 │            12 │ left                   │\n"
        "├─────────────────────────────────┼────────────────────────┼───────────────┼───────────────┼────────────────────────┤\n"
        "│ encoder_reuse (Dense)           │ (None, 3)              │             0 │            12 │ right                  │\n"
        "├─────────────────────────────────┼────────────────────────┼───────────────┼───────────────┼────────────────────────┤\n"
        "│ concatenate (Concatenate)       │ (None, 6)              │             0 │             0 │ encoder, encoder_reuse │\n"
        "├─────────────────────────────────┼────────────────────────┼───────────────┼───────────────┼────────────────────────┤\n"
        "│ head (Dense)                    │ (None, 2)              │            14 │            12 │ concatenate            │\n"
        "└─────────────────────────────────┴────────────────────────┴───────────────┴───────────────┴────────────────────────┘\n"
        " Total params: 29 (116.00 B)\n"
        " Trainable params: 29 (116.00 B)\n"
        " Non-trainable params: 0 (0.00 B)\n"
        " Total MACs: 36 per sample\n"
        # 2 x MACs, a bias add per output of each Dense (3, 3, 2), and the softmax's 2.
        " Total FLOPs: 82 per sample\n"
        # Results only: 3 + 3 + 6 + 2 float32 values.
        " Activations: 56.00 B per sample\n"
    )


def test_plain_stack_has_no_input_rows_or_connections(cli):
    result = cli("summary", SPECS / "mnist_mlp.yaml")
    assert "InputLayer" not in result.stdout and "Connected to" not in result.stdout


def test_a_stack_that_only_declares_outputs_is_shown_as_a_graph(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3}
        outputs: dense
        """)
    lines = cli("summary", path).stdout.splitlines()
    assert lines[2].split("┃")[-2].strip() == "Connected to"
    assert lines[4].split("│")[1].strip() == "input (InputLayer)"


def test_inference_memory_of_a_graph_says_how_it_is_held(cli, pair):
    last = cli("summary", pair, "--batch-size", "2").stdout.splitlines()[-1]
    # 116 parameter bytes + 2 x 48: encoder, encoder_reuse and concatenate
    # held at once (the inputs are freed after their one reader).
    assert last == (" Estimated inference memory at batch size 2: 212.00 B (parameters + the activations held at "
                    "once at the peak, each freed after its last use)")


def test_inference_memory_of_a_graph_with_an_unknown_size(cli, write_spec):
    path = write_spec("""
        inputs: {steps: [null, 4], meta: [4]}
        layers:
          - {type: GlobalAveragePooling1D, inputs: steps}
          - {type: Add, inputs: [-1, meta]}
        """)
    result = cli("summary", path, "--batch-size", "2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(" Estimated inference memory at batch size 2: ? (")


def test_columns_can_be_chosen_for_a_graph(cli, pair):
    lines = cli("summary", pair, "--columns", "input_shape,params").stdout.splitlines()
    assert [cell.strip() for cell in lines[2].split("┃")[1:-1]] == ["Layer (type)", "Input Shape", "Param #",
                                                                    "Connected to"]
    concatenate = [cell.strip() for cell in lines[12].split("│")[1:-1]]
    assert concatenate == ["concatenate (Concatenate)", "(None, 3), (None, 3)", "0", "encoder, encoder_reuse"]


def test_connected_to_is_a_column_to_choose(cli):
    lines = cli("summary", SPECS / "mnist_mlp.yaml", "--columns", "connected_to").stdout.splitlines()
    assert [cell.strip() for cell in lines[2].split("┃")[1:-1]] == ["Layer (type)", "Connected to"]
    assert [cell.strip() for cell in lines[4].split("│")[1:-1]] == ["dense (Dense)", "input"]


def test_markdown_of_a_graph(cli, pair):
    result = cli("summary", pair, "--format", "markdown")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:10] == [
        "**Model: `pair`**",
        "",
        "| Layer (type) | Output Shape | Param # | MACs | Connected to |",
        "| --- | --- | ---: | ---: | --- |",
        "| `left (InputLayer)` | `(None, 4)` | 0 | 0 | - |",
        "| `right (InputLayer)` | `(None, 4)` | 0 | 0 | - |",
        "| `encoder (Dense)` | `(None, 3)` | 15 | 12 | left |",
        "| `encoder_reuse (Dense)` | `(None, 3)` | 0 | 12 | right |",
        "| `concatenate (Concatenate)` | `(None, 6)` | 0 | 0 | encoder, encoder_reuse |",
        "| `head (Dense)` | `(None, 2)` | 14 | 12 | concatenate |",
    ]


def test_markdown_of_a_graph_with_chosen_columns(pair):
    model = layerspec.load(pair)
    lines = render_markdown(model.summary_data(), ("input_shape",)).splitlines()
    assert lines[2] == "| Layer (type) | Input Shape | Connected to |"
    assert lines[8] == "| `concatenate (Concatenate)` | `(None, 3), (None, 3)` | encoder, encoder_reuse |"


def test_a_narrow_graph_table_keeps_its_rows_on_one_line(pair):
    text = render_table(layerspec.load(pair).summary_data(), max_width=70)
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│├└"]
    assert len({len(line) for line in table}) == 1 and all(len(line) <= 70 for line in table)


# -- JSON --------------------------------------------------------------------------
def test_json_layers_name_their_inputs(cli, pair):
    data = summary_json(cli, pair)
    assert [(row["name"], row["inputs"]) for row in data["layers"]] == [
        ("encoder", ["left"]), ("encoder_reuse", ["right"]), ("concatenate", ["encoder", "encoder_reuse"]),
        ("head", ["concatenate"])]


def test_json_top_level_inputs_and_outputs(cli, pair):
    data = summary_json(cli, pair)
    assert data["inputs"] == {"left": [None, 4], "right": [None, 4]}
    assert data["outputs"] == {"head": [None, 2]}
    assert "input_shape" not in data  # several inputs
    assert data["output_shape"] == [None, 2]  # one output


def test_json_of_several_outputs_has_no_output_shape(cli):
    data = summary_json(cli, SPECS / "two_tower.yaml")
    assert data["outputs"] == {"class": [None, 5], "score": [None, 1]}
    assert data["inputs"] == {"image": [None, 32, 32, 3], "meta": [None, 8]}
    assert "output_shape" not in data and "input_shape" not in data


def test_json_of_a_plain_stack_gains_inputs_too(cli):
    data = summary_json(cli, SPECS / "mnist_mlp.yaml")
    assert [row["inputs"] for row in data["layers"]] == [["input"], ["dense"], ["dropout"], ["dense_1"],
                                                         ["dropout_1"]]
    assert data["inputs"] == {"input": [None, 784]}
    assert data["outputs"] == {"logits": [None, 10]}
    assert data["input_shape"] == [None, 784] and data["output_shape"] == [None, 10]


def test_a_merge_row_has_a_list_of_input_shapes(cli, pair):
    rows = {row["name"]: row for row in summary_json(cli, pair)["layers"]}
    assert rows["concatenate"]["input_shape"] == [[None, 3], [None, 3]]
    assert rows["head"]["input_shape"] == [None, 6]


def test_a_reuse_row(cli, pair):
    rows = {row["name"]: row for row in summary_json(cli, pair)["layers"]}
    reuse = rows["encoder_reuse"]
    assert (reuse["type"], reuse["reuses"], reuse["params"], reuse["trainable_params"],
            reuse["non_trainable_params"], reuse["weights"]) == ("Dense", "encoder", 0, 0, 0, {})
    assert reuse["macs"] == 4 * 3  # its own application's cost
    assert "reuses" not in rows["encoder"]


def test_a_shared_layer_counts_its_params_once(cli, pair):
    data = summary_json(cli, pair)
    assert data["total_params"] == (4 * 3 + 3) + (6 * 2 + 2)
    assert data["total_macs"] == 12 + 12 + 12


def test_reusing_a_weightless_layer_and_a_normalisation(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4, 4, 2], b: [4, 4, 2]}
        layers:
          - {type: BatchNormalization, inputs: a, name: norm}
          - {reuse: norm, inputs: b}
          - {type: Add, inputs: [norm, -1]}
        """)
    data = summary_json(cli, path)
    assert data["total_params"] == 4 * 2
    assert data["non_trainable_params"] == 2 * 2
    rows = {row["name"]: row for row in data["layers"]}
    assert (rows["norm_reuse"]["params"], rows["norm_reuse"]["non_trainable_params"]) == (0, 0)


# -- diff ------------------------------------------------------------------------------
GRAPH = """
    inputs: {a: [4], b: [4]}
    layers:
      - {units: 3, inputs: a, name: left}
      - {units: 3, inputs: b, name: right}
      - {type: Add, inputs: [left, right]}
      - {units: 2, name: head}
    """


def test_diff_reports_a_changed_connection(cli, write_spec):
    old = write_spec(GRAPH, "old.yaml")
    new = write_spec(GRAPH.replace("[left, right]", "[right, left]"), "new.yaml")
    result = cli("diff", old, new)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ['Model: "old" → "new"', "1 layer changed, 0 added, 0 removed; params unchanged"]
    assert lines[6] == "~ add (Add)      (None, 3)           0  inputs: left, right → right, left"


def test_diff_json_has_input_changes(cli, write_spec):
    old = write_spec(GRAPH, "old.yaml")
    new = write_spec(GRAPH.replace("{units: 2, name: head}", "{units: 2, name: head, inputs: left}")
                     + "outputs: [head, add]\n", "new.yaml")
    result = cli("diff", old, new, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    changed = [entry for entry in data["layers"] if entry["status"] == "changed"]
    assert [(entry["name"], entry["changes"], entry["input_changes"]) for entry in changed] == [
        ("head", ["inputs"], {"old": ["add"], "new": ["left"]})]
    assert data["counts"] == {"added": 0, "removed": 0, "changed": 1, "unchanged": 3}


def test_diff_of_an_unchanged_graph_has_no_input_changes(cli, write_spec):
    old = write_spec(GRAPH, "old.yaml")
    data = json.loads(cli("diff", old, old, "--format", "json").stdout)
    assert all("input_changes" not in entry for entry in data["layers"])
    assert data["counts"]["unchanged"] == 4


def test_diff_reads_a_renamed_input_through_the_alignment(cli, write_spec):
    old = write_spec(GRAPH, "old.yaml")
    new = write_spec(GRAPH.replace("name: left}", "name: first}").replace("[left, right]", "[first, right]"),
                     "new.yaml")
    data = json.loads(cli("diff", old, new, "--format", "json").stdout)
    add = next(entry for entry in data["layers"] if entry["name"] == "add")
    assert add["status"] == "unchanged" and "input_changes" not in add


@pytest.mark.parametrize("output_format", ["text", "markdown"])
def test_diff_of_models_with_several_outputs(cli, tmp_path, output_format):
    changed = (SPECS / "two_tower.yaml").read_text().replace("units: 64, activation: relu, name: joint",
                                                             "units: 32, activation: relu, name: joint")
    (tmp_path / "two_tower.yaml").write_text(changed)
    result = cli("diff", SPECS / "two_tower.yaml", tmp_path / "two_tower.yaml", "--format", output_format)
    assert result.exit_code == 0, result.stderr
    assert "joint (Dense)" in result.stdout


def test_diff_from_one_output_to_two(cli, write_spec):
    old = write_spec(GRAPH, "old.yaml")
    new = write_spec(GRAPH + "outputs: [head, add]\n", "new.yaml")
    result = cli("diff", old, new)
    assert result.exit_code == 0, result.stderr


# -- masks -----------------------------------------------------------------------
MASKED = """
    name: masked
    input: [6]
    layers:
      - {type: Embedding, input_dim: 10, output_dim: 4, mask_zero: true}
      - {type: Dense, units: 3}
      - {type: Conv1D, filters: 2, kernel_size: 1}
      - {type: GlobalAveragePooling1D}
    """


def test_json_rows_give_the_mask_a_layer_outputs(cli, write_spec):
    rows = summary_json(cli, write_spec(MASKED))["layers"]
    assert [row.get("mask") for row in rows] == [[None, 6], [None, 6], None, None]


def test_a_layer_that_drops_a_mask_gets_a_note(cli, write_spec):
    path = write_spec(MASKED)
    rows = summary_json(cli, path)["layers"]
    assert [row.get("note") for row in rows] == [None, None, (
        "drops the mask it receives (the layer does not support masking; later layers see every step)"), None]
    result = cli("summary", path)
    assert ("Note: conv1d (Conv1D): drops the mask it receives (the layer does not support masking; later layers "
            "see every step)") in result.stdout
