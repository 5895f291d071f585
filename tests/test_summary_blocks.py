"""Summaries of specs with blocks (layerspec/summary.py): the block tree,
``--depth``, the JSON ``blocks``, model arguments in the header; and diffs
of such specs (layerspec/diff.py: path names, automatic application names)."""

import json

import pytest

import layerspec
from layerspec.diff import diff_summaries, name_keys
from layerspec.errors import ArgumentError
from layerspec.summary import render_markdown, render_table, summarize

# A plain layer first, so that the model stays a sequential stack (no
# "Connected to"). Parameters, by Dense's in * out + out: stack/mlp/dense
# 3*4+4 = 16, stack/mlp/proj 4*4+4 = 20, stack/mlp_1/* 20 each, head 4*2+2
# = 10; the first dense 3*3+3 = 12. MACs are in * out.
TINY = """
    name: tiny
    args: {width: 4}
    variants: {wide: {width: 6}}
    blocks:
      mlp:
        args: {units: null}
        layers:
          - {units: "${units}", activation: relu}
          - {units: "${units}", name: proj}
      stack:
        layers:
          - {type: mlp, units: "${width}", repeat: 2}
    input: [3]
    layers:
      - {units: 3}
      - {type: stack}
      - {units: 2, name: head}
    """

# A graph: each residual adds its input to a Dense of it (3*3+3 = 12 params, 9 MACs).
SKIP = """
    name: skip
    blocks:
      residual:
        layers:
          - {units: 3, activation: relu}
          - {type: Add, inputs: [in, -1]}
    input: [3]
    layers:
      - {type: residual, repeat: 2}
      - {units: 1}
    """

TINY_FOOTER = (
    "└─────────────────────────────────┴────────────────────────┴───────────────┴───────────────┘\n"
    " Total params: 98 (392.00 B)\n"
    " Trainable params: 98 (392.00 B)\n"
    " Non-trainable params: 0 (0.00 B)\n"
    " Total MACs: 77 per sample\n"
    # 2 x MACs + a bias add per output (3 + 4 + 4 + 4 + 4 + 2) + a ReLU per output of each mlp's first Dense (4 + 4).
    " Total FLOPs: 183 per sample\n"
    " Activations: 84.00 B per sample"
)
TINY_HEAD = (
    'Model: "tiny" (width=4)\n'
    "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓\n"
    "┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃          MACs ┃\n"
    "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩\n"
    "│ dense (Dense)                   │ (None, 3)              │            12 │             9 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┼───────────────┤\n"
    "│ stack (stack)                   │ (None, 4)              │            76 │            60 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┼───────────────┤\n"
)
RULE = "├─────────────────────────────────┼────────────────────────┼───────────────┼───────────────┤\n"
HEAD_ROW = "│ head (Dense)                    │ (None, 2)              │            10 │             8 │\n"


@pytest.fixture(scope="module")
def tiny():
    return summarize(layerspec.loads(TINY))


@pytest.fixture(scope="module")
def skip():
    return summarize(layerspec.loads(SKIP))


# -- the table ---------------------------------------------------------------------
def test_table_shows_every_level_by_default(tiny):
    assert str(tiny) == render_table(tiny) == TINY_HEAD + (
        "│   mlp (mlp)                     │ (None, 4)              │            36 │            28 │\n" + RULE +
        "│     dense (Dense)               │ (None, 4)              │            16 │            12 │\n" + RULE +
        "│     proj (Dense)                │ (None, 4)              │            20 │            16 │\n" + RULE +
        "│   mlp_1 (mlp)                   │ (None, 4)              │            40 │            32 │\n" + RULE +
        "│     dense (Dense)               │ (None, 4)              │            20 │            16 │\n" + RULE +
        "│     proj (Dense)                │ (None, 4)              │            20 │            16 │\n" + RULE +
        HEAD_ROW + TINY_FOOTER)


def test_depth_one_folds_the_layers_into_their_blocks(tiny):
    assert render_table(tiny, depth=1) == TINY_HEAD + (
        "│   mlp (mlp)                     │ (None, 4)              │            36 │            28 │\n" + RULE +
        "│   mlp_1 (mlp)                   │ (None, 4)              │            40 │            32 │\n" + RULE +
        HEAD_ROW + TINY_FOOTER)


def test_depth_zero_shows_top_level_rows_only(tiny):
    assert render_table(tiny, depth=0) == TINY_HEAD + HEAD_ROW + TINY_FOOTER


def test_depth_beyond_the_deepest_level_shows_everything(tiny):
    assert render_table(tiny, depth=2) == render_table(tiny, depth=7) == render_table(tiny)


def test_connected_to_names_the_rows_shown(skip):
    text = render_table(skip, depth=0)
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]
    assert rows == [
        ["input (InputLayer)", "(None, 3)", "0", "0", "-"],
        ["residual (residual)", "(None, 3)", "12", "9", "input"],
        # Fed by residual/add inside the first application: the folded row's name.
        ["residual_1 (residual)", "(None, 3)", "12", "9", "residual"],
        ["dense (Dense)", "(None, 1)", "4", "3", "residual_1"],
    ]


def test_connected_to_keeps_full_paths_when_unfolded(skip):
    rows = [[cell.strip() for cell in line.split("│")[1:-1]]
            for line in render_table(skip).splitlines() if line.startswith("│")]
    assert [(row[0], row[-1]) for row in rows] == [
        ("input (InputLayer)", "-"),
        ("residual (residual)", "input"),
        ("dense (Dense)", "input"),
        ("add (Add)", "input, residual/dense"),
        ("residual_1 (residual)", "residual/add"),
        ("dense (Dense)", "residual/add"),
        ("add (Add)", "residual/add, residual_1/dense"),
        ("dense (Dense)", "residual_1/add"),
    ]


def test_block_rows_in_other_columns():
    # The first Dense is frozen: its 4*8+8 = 40 parameters do not train; the second's 8*4+4 = 36 do.
    model = layerspec.loads("""
        name: seq
        blocks:
          ffn:
            layers:
              - {units: 8, activation: relu, trainable: false}
              - {units: 4}
        input: [null, 4]
        layers:
          - {units: 4}
          - {type: ffn}
        """)
    text = render_table(summarize(model), ("input_shape", "trainable", "macs", "activation_bytes"), depth=0)
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]
    # Per step of the unknown length: MACs 4*8 + 8*4 = 64, outputs (8 + 4) * 4 bytes = 48.
    assert rows[1] == ["ffn (ffn)", "(None, None, 4)", "partly", "64/step", "48.00 B/step"]


def test_ascii_table_keeps_the_indentation(tiny):
    lines = render_table(tiny, ascii_only=True).splitlines()
    assert lines[8] == "|   mlp (mlp)                     | (None, 4)              |            36 |            28 |"
    assert lines[10] == "|     dense (Dense)               | (None, 4)              |            16 |            12 |"


def test_footer_and_top_level_totals_do_not_change_with_depth(tiny):
    footers = {tuple(render_table(tiny, depth=depth).splitlines()[-6:]) for depth in (None, 0, 1, 2)}
    assert len(footers) == 1
    top_rows = [line for line in render_table(tiny, depth=0).splitlines() if line.startswith("│")]
    assert sum(int(line.split("│")[3].replace(",", "")) for line in top_rows) == tiny["total_params"] == 98


@pytest.mark.parametrize("depth", [-1, 1.5, True, "1"])
def test_a_bad_depth_is_an_argument_error(tiny, depth):
    with pytest.raises(ArgumentError, match=r"the summary depth must be a whole number ≥ 0 \(or None for every "
                                             rf"level\), got {depth!r}"):
        render_table(tiny, depth=depth)


# -- Markdown ----------------------------------------------------------------------
def test_markdown_indents_with_non_breaking_spaces(tiny):
    lines = render_markdown(tiny, depth=1).splitlines()
    assert lines[0] == "**Model: `tiny`** (width=4)"
    assert lines[4:9] == [
        "| `dense (Dense)` | `(None, 3)` | 12 | 9 |",
        "| `stack (stack)` | `(None, 4)` | 76 | 60 |",
        "| &nbsp;&nbsp;`mlp (mlp)` | `(None, 4)` | 36 | 28 |",
        "| &nbsp;&nbsp;`mlp_1 (mlp)` | `(None, 4)` | 40 | 32 |",
        "| `head (Dense)` | `(None, 2)` | 10 | 8 |",
    ]


def test_markdown_of_every_level(tiny):
    rows = [line for line in render_markdown(tiny).splitlines() if line.startswith("| ") and "`" in line]
    assert [row.split(" | ")[0] for row in rows] == [
        "| `dense (Dense)`", "| `stack (stack)`", "| &nbsp;&nbsp;`mlp (mlp)`", "| &nbsp;&nbsp;&nbsp;&nbsp;`dense (Dense)`",
        "| &nbsp;&nbsp;&nbsp;&nbsp;`proj (Dense)`", "| &nbsp;&nbsp;`mlp_1 (mlp)`",
        "| &nbsp;&nbsp;&nbsp;&nbsp;`dense (Dense)`", "| &nbsp;&nbsp;&nbsp;&nbsp;`proj (Dense)`", "| `head (Dense)`"]


# -- JSON ------------------------------------------------------------------------
def test_json_keeps_leaf_rows_and_adds_blocks(cli, write_spec):
    result = cli("summary", write_spec(TINY), "--format", "json", "--depth", "0")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [row["name"] for row in data["layers"]] == [
        "dense", "stack/mlp/dense", "stack/mlp/proj", "stack/mlp_1/dense", "stack/mlp_1/proj", "head"]
    assert data["args"] == {"width": 4}
    assert "variant" not in data
    assert data["blocks"] == [
        {"name": "stack", "block": "stack", "depth": 0, "layers": 4, "input_shape": [None, 3],
         "output_shape": [None, 4], "params": 76, "trainable_params": 76, "non_trainable_params": 0, "macs": 60,
         # 2 x MACs, a bias per output (4 x 4) and the two ReLUs' 4 + 4.
         "flops": 2 * 60 + 16 + 8, "activation_bytes": 4 * 4 * 4, "inputs": ["dense"]},
        {"name": "stack/mlp", "block": "mlp", "depth": 1, "layers": 2, "input_shape": [None, 3],
         "output_shape": [None, 4], "params": 36, "trainable_params": 36, "non_trainable_params": 0, "macs": 28,
         "flops": 2 * 28 + 8 + 4, "activation_bytes": 2 * 4 * 4, "inputs": ["dense"]},
        {"name": "stack/mlp_1", "block": "mlp", "depth": 1, "layers": 2, "input_shape": [None, 4],
         "output_shape": [None, 4], "params": 40, "trainable_params": 40, "non_trainable_params": 0, "macs": 32,
         "flops": 2 * 32 + 8 + 4, "activation_bytes": 2 * 4 * 4, "inputs": ["stack/mlp/proj"]},
    ]
    # --depth folds the table only.
    assert result.stdout == cli("summary", write_spec(TINY), "--format", "json").stdout


def test_json_of_a_variant(cli, write_spec):
    data = json.loads(cli("summary", write_spec(TINY), "--format", "json", "--variant", "wide").stdout)
    assert (data["args"], data["variant"]) == ({"width": 6}, "wide")
    assert data["blocks"][0]["params"] == (3 * 6 + 6) + (6 * 6 + 6) * 3


def test_a_block_with_several_results_shows_each_shape():
    model = layerspec.loads("""
        name: multi
        blocks:
          split:
            outputs: [left, right]
            layers:
              - {units: 4, name: left}
              - {units: 3, inputs: in, name: right}
        inputs: {x: [5]}
        layers:
          - {type: split, inputs: x}
          - {type: Concatenate, inputs: [split.left, split.right]}
        """)
    summary = summarize(model)
    assert summary["blocks"][0]["output_shape"] == [[None, 4], [None, 3]]
    row = [cell.strip() for cell in render_table(summary, depth=0).splitlines()[6].split("│")[1:-1]]
    assert row == ["split (split)", "(None, 4), (None, 3)", "42", "35", "x"]


def test_a_block_output_read_only_inside_shows_what_leaves(skip):
    # residual/dense is read inside residual only; residual/add leaves (read by residual_1).
    assert [entry["output_shape"] for entry in skip["blocks"]] == [[None, 3], [None, 3]]
    assert [entry["inputs"] for entry in skip["blocks"]] == [["input"], ["residual/add"]]


# -- the header ------------------------------------------------------------------
def test_header_with_a_variant_and_arguments(cli, write_spec):
    result = cli("summary", write_spec(TINY), "--variant", "wide")
    assert result.stdout.splitlines()[0] == 'Model: "tiny" (variant wide; width=6)'


def test_header_arguments_read_as_set_takes_them(cli, write_spec):
    path = write_spec("""
        name: hdr
        args: {units: 2, act: relu, rate: 0.5, flag: true, none: null, sizes: [1, 2]}
        input: [3]
        layers:
          - {units: "${units}", activation: "${act}"}
        """)
    result = cli("summary", path, "--set", "units=3")
    assert result.stdout.splitlines()[0] == (
        'Model: "hdr" (units=3, act=relu, rate=0.5, flag=true, none=null, sizes=[1, 2])')
    markdown = cli("summary", path, "--format", "markdown").stdout
    assert markdown.splitlines()[0] == "**Model: `hdr`** (units=2, act=relu, rate=0.5, flag=true, none=null, sizes=[1, 2])"


# -- models without blocks -----------------------------------------------------------
def test_a_model_without_blocks_or_arguments_is_unchanged(cli, write_spec):
    path = write_spec("""
        name: plain
        input: [3]
        layers:
          - {units: 2}
        """)
    data = json.loads(cli("summary", path, "--format", "json").stdout)
    assert not {"blocks", "args", "variant"} & set(data)
    table = cli("summary", path).stdout
    assert table.splitlines()[0] == 'Model: "plain"'
    assert cli("summary", path, "--depth", "0").stdout == table
    assert table.splitlines()[4] == "│ dense (Dense)                   │ (None, 2)              │             8 │             6 │"


def test_cli_depth_must_not_be_negative(cli, write_spec):
    result = cli("summary", write_spec(TINY), "--depth", "-1")
    assert result.exit_code == 2
    assert "Invalid value for '--depth': -1 is not in the range x>=0." in result.stderr


def test_cli_depth_folds_markdown(cli, write_spec):
    result = cli("summary", write_spec(TINY), "--format", "markdown", "--depth", "0")
    assert [line.split(" | ")[0] for line in result.stdout.splitlines() if line.startswith("| `")] == [
        "| `dense (Dense)`", "| `stack (stack)`", "| `head (Dense)`"]


# -- diffs of specs with blocks ------------------------------------------------------
UNITS = """
name: units
blocks:
  unit:
    args: {act: relu}
    layers:
      - {units: 8, activation: "${act}"}
      - {units: 8, name: out}
input: [8]
layers:
"""


def units_summary(*entries: str):
    """The summary of UNITS with these top-level layer entries."""
    return summarize(layerspec.loads(UNITS + "".join(f"  - {entry}\n" for entry in entries)))


def test_name_keys_mark_automatic_parts():
    rows = [{"name": "stage_1/residual/main", "type": "Conv2D"}, {"name": "encoder/conv2d_2", "type": "Conv2D"},
            {"name": "logits", "type": "Dense"}, {"name": "dense_3", "type": "Dense"}]
    blocks = [{"name": "stage_1", "block": "stage"}, {"name": "stage_1/residual", "block": "residual"},
              {"name": "encoder", "block": "stage"}]
    assert name_keys(rows, blocks) == [(None, None, "main"), ("encoder", None), ("logits",), (None,)]


def test_a_block_inserted_before_others_renames_nothing():
    old = units_summary("{type: unit, act: relu}", "{type: unit, act: tanh}")
    new = units_summary("{type: unit, act: sigmoid}", "{type: unit, act: relu}", "{type: unit, act: tanh}")
    diff = diff_summaries(old, new)
    assert [(entry["status"], entry["name"], entry["changes"]) for entry in diff["layers"]] == [
        ("added", "unit/dense", []),
        ("added", "unit/out", []),
        # Renumbered (unit → unit_1): not a change of name (a stack: inputs are not compared).
        ("unchanged", "unit_1/dense", []),
        ("unchanged", "unit_1/out", []),
        ("unchanged", "unit_2/dense", []),
        ("unchanged", "unit_2/out", []),
    ]
    assert diff["counts"] == {"added": 2, "removed": 0, "changed": 0, "unchanged": 4}


def test_a_chosen_application_name_that_changes_is_a_change_of_name():
    diff = diff_summaries(units_summary("{type: unit, name: encoder}"), units_summary("{type: unit, name: enc}"))
    # enc/out's input is renamed with its producer: the same connection.
    assert [(entry["status"], entry["name"], entry["changes"]) for entry in diff["layers"]] == [
        ("changed", "enc/dense", ["name"]), ("changed", "enc/out", ["name"])]
