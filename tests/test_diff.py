"""`diff`: layer alignment, exactly the changed layers, the three renderings."""

import json
import textwrap

import pytest

import layerspec
from layerspec.diff import (align_layers, diff_summaries, headline, is_auto_name, render_diff_json,
                            render_diff_markdown, render_diff_text)

MLP = """
name: mnist_mlp
input: [784]
layers:
  - {units: 512, activation: relu}
  - {type: Dropout, rate: 0.2}
  - {units: 512, activation: relu}
  - {type: Dropout, rate: 0.2}
  - {type: Dense, units: 10, activation: softmax, name: logits}
"""


def summary(text: str) -> dict:
    return layerspec.loads(textwrap.dedent(text)).summary_data()


def mlp(*layers: str, name: str = "mnist_mlp", input_shape: str = "[784]") -> dict:
    """A model from one flow-style mapping per layer."""
    return summary(f"name: {name}\ninput: {input_shape}\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers))


BASE = ["{units: 512, activation: relu}", "{type: Dropout, rate: 0.2}", "{units: 512, activation: relu}",
        "{type: Dropout, rate: 0.2}", "{type: Dense, units: 10, activation: softmax, name: logits}"]


def statuses(diff: dict) -> list[tuple]:
    """(status, old name, new name, changes) per entry."""
    return [(entry["status"], entry["old"] and entry["old"]["name"], entry["new"] and entry["new"]["name"],
             entry["changes"]) for entry in diff["layers"]]


def test_identical_specs_all_unchanged_with_zero_deltas():
    diff = diff_summaries(summary(MLP), summary(MLP))
    assert statuses(diff) == [("unchanged", name, name, []) for name in
                              ("dense", "dropout", "dense_1", "dropout_1", "logits")]
    assert diff["counts"] == {"added": 0, "removed": 0, "changed": 0, "unchanged": 5}
    for key in ("total_params", "trainable_params", "non_trainable_params", "total_macs", "params_bytes"):
        assert diff["totals"][key]["delta"] == 0
    assert diff["totals"]["total_params"] == {"old": 669706, "new": 669706, "delta": 0}
    assert diff["totals"]["output_shape"] == {"old": [None, 10], "new": [None, 10], "changed": False}
    assert headline(diff) == "0 layers changed, 0 added, 0 removed; params unchanged"
    assert render_diff_text(diff) == textwrap.dedent("""\
        Model: "mnist_mlp"
        0 layers changed, 0 added, 0 removed; params unchanged

          Layer (type)         Output Shape  Param #
          dense (Dense)        (None, 512)   401,920
          dropout (Dropout)    (None, 512)         0
          dense_1 (Dense)      (None, 512)   262,656
          dropout_1 (Dropout)  (None, 512)         0
          logits (Dense)       (None, 10)      5,130

        Total params: 669,706 (unchanged)
        Trainable params: 669,706 (unchanged)
        Non-trainable params: 0 (unchanged)
        Total MACs: 668,672 per sample (unchanged)
        Output shape: (None, 10) (unchanged)""")


def test_units_change_reports_that_layer_and_exactly_its_consequences():
    new = mlp("{units: 1024, activation: relu}", *BASE[1:])
    diff = diff_summaries(summary(MLP), new)
    assert statuses(diff) == [
        ("changed", "dense", "dense", ["output_shape", "params", "trainable_params", "macs", "weights", "arguments"]),
        ("changed", "dropout", "dropout", ["output_shape"]),
        ("changed", "dense_1", "dense_1", ["params", "trainable_params", "macs", "weights"]),
        ("unchanged", "dropout_1", "dropout_1", []),
        ("unchanged", "logits", "logits", []),
    ]
    first = diff["layers"][0]
    assert first["name"] == "dense" and first["type"] == "Dense"
    assert first["old"]["output_shape"] == [None, 512] and first["new"]["output_shape"] == [None, 1024]
    assert (first["old"]["params"], first["new"]["params"]) == (401920, 803840)
    assert first["old"]["weights"] == {"kernel": [784, 512], "bias": [512]}
    assert diff["totals"]["total_params"] == {"old": 669706, "new": 1333770, "delta": 664064}
    assert diff["totals"]["total_macs"] == {"old": 668672, "new": 1332224, "delta": 663552}
    assert render_diff_text(diff) == textwrap.dedent("""\
        Model: "mnist_mlp"
        3 layers changed, 0 added, 0 removed; params +664,064 (+99.16%)

          Layer (type)         Output Shape                                     Param #
        ~ dense (Dense)        (None, 512) → (None, 1024)  401,920 → 803,840 (+401,920)  units: 512 → 1024
        ~ dropout (Dropout)    (None, 512) → (None, 1024)                             0
        ~ dense_1 (Dense)      (None, 512)                 262,656 → 524,800 (+262,144)
          dropout_1 (Dropout)  (None, 512)                                            0
          logits (Dense)       (None, 10)                                         5,130

        Total params: 669,706 → 1,333,770 (+664,064)
        Trainable params: 669,706 → 1,333,770 (+664,064)
        Non-trainable params: 0 (unchanged)
        Total MACs: 668,672 → 1,332,224 (+663,552) per sample
        Output shape: (None, 10) (unchanged)""")
    assert render_diff_markdown(diff) == textwrap.dedent("""\
        **`mnist_mlp`: 3 layers changed, 0 added, 0 removed; params +664,064 (+99.16%)**

        | | Layer (type) | Output Shape | Param # |
        | --- | --- | --- | ---: |
        | changed | `dense (Dense)` | `(None, 512)` → `(None, 1024)` | 401,920 → 803,840 (+401,920) (units: 512 → 1024) |
        | changed | `dropout (Dropout)` | `(None, 512)` → `(None, 1024)` | 0 |
        | changed | `dense_1 (Dense)` | `(None, 512)` | 262,656 → 524,800 (+262,144) |
        | | *2 unchanged layers* | | |

        - Total params: 669,706 → 1,333,770 (+664,064)
        - Trainable params: 669,706 → 1,333,770 (+664,064)
        - Non-trainable params: 0 (unchanged)
        - Total MACs: 668,672 → 1,332,224 (+663,552) per sample
        - Output shape: (None, 10) (unchanged)""")


def test_inserted_layer_is_the_only_change_although_auto_names_shift():
    # A Dropout in front renumbers every later dropout: dropout → dropout_1 → dropout_2.
    new = mlp("{type: Dropout, rate: 0.1}", *BASE)
    diff = diff_summaries(summary(MLP), new)
    assert statuses(diff) == [
        ("added", None, "dropout", []),
        ("unchanged", "dense", "dense", []),
        ("unchanged", "dropout", "dropout_1", []),
        ("unchanged", "dense_1", "dense_1", []),
        ("unchanged", "dropout_1", "dropout_2", []),
        ("unchanged", "logits", "logits", []),
    ]
    assert diff["counts"] == {"added": 1, "removed": 0, "changed": 0, "unchanged": 5}
    lines = render_diff_text(diff).splitlines()
    assert lines[1] == "0 layers changed, 1 added, 0 removed; params unchanged"
    assert lines[4] == "+ dropout (Dropout)                (None, 784)         0"
    assert lines[6] == "  dropout → dropout_1 (Dropout)    (None, 512)         0"


def test_inserted_dense_in_the_middle():
    # The inserted Dense has no activation; the old relu Dense pairs with its
    # identical new self (renumbered dense_2), not with the newcomer.
    new = mlp(*BASE[:2], "{units: 512}", *BASE[2:])
    diff = diff_summaries(summary(MLP), new)
    assert statuses(diff) == [
        ("unchanged", "dense", "dense", []), ("unchanged", "dropout", "dropout", []), ("added", None, "dense_1", []),
        ("unchanged", "dense_1", "dense_2", []), ("unchanged", "dropout_1", "dropout_1", []),
        ("unchanged", "logits", "logits", [])]
    added = diff["layers"][2]
    assert (added["name"], added["type"], added["old"], added["new"]["params"]) == ("dense_1", "Dense", None, 262656)
    assert diff["totals"]["total_params"]["delta"] == 262656
    assert headline(diff) == "0 layers changed, 1 added, 0 removed; params +262,656 (+39.22%)"
    assert render_diff_markdown(diff).splitlines()[4:7] == [
        "| | *2 unchanged layers* | | |",
        "| added | `dense_1 (Dense)` | `(None, 512)` | 262,656 |",
        "| | *3 unchanged layers* | | |",
    ]


def test_removed_layer():
    new = mlp(*BASE[:2], *BASE[3:])
    diff = diff_summaries(summary(MLP), new)
    assert statuses(diff) == [
        ("unchanged", "dense", "dense", []),
        ("unchanged", "dropout", "dropout", []),
        ("removed", "dense_1", None, []),
        ("unchanged", "dropout_1", "dropout_1", []),
        ("unchanged", "logits", "logits", []),
    ]
    assert diff["layers"][2]["name"] == "dense_1" and diff["layers"][2]["new"] is None
    assert render_diff_text(diff).splitlines()[6] == "- dense_1 (Dense)      (None, 512)   262,656"


def test_explicit_rename_is_a_change_of_that_layer_only():
    new = mlp("{units: 512, activation: relu, name: hidden}", *BASE[1:4],
              "{type: Dense, units: 10, activation: softmax, name: head}")
    diff = diff_summaries(summary(MLP), new)
    assert statuses(diff) == [
        ("changed", "dense", "hidden", ["name"]),
        ("unchanged", "dropout", "dropout", []),
        # Only Keras's numbering moved (the first Dense took a name): not a change.
        ("unchanged", "dense_1", "dense", []),
        ("unchanged", "dropout_1", "dropout_1", []),
        ("changed", "logits", "head", ["name"]),
    ]
    assert render_diff_text(diff).splitlines()[4:9] == [
        "~ dense → hidden (Dense)   (None, 512)   401,920",
        "  dropout (Dropout)        (None, 512)         0",
        "  dense_1 → dense (Dense)  (None, 512)   262,656",
        "  dropout_1 (Dropout)      (None, 512)         0",
        "~ logits → head (Dense)    (None, 10)      5,130",
    ]


def test_automatic_renumbering_is_not_a_change():
    assert is_auto_name({"name": "dense_12", "type": "Dense"})
    assert is_auto_name({"name": "max_pooling2d", "type": "MaxPooling2D"})
    assert not is_auto_name({"name": "dense_01", "type": "Dense"})
    assert not is_auto_name({"name": "dense", "type": "Conv2D"})
    assert not is_auto_name({"name": "logits", "type": "Dense"})


def test_type_changed_at_a_position():
    new = mlp(BASE[0], "{type: BatchNormalization}", *BASE[2:])
    diff = diff_summaries(summary(MLP), new)
    assert statuses(diff) == [
        ("unchanged", "dense", "dense", []),
        ("changed", "dropout", "batch_normalization",
         ["type", "params", "trainable_params", "non_trainable_params", "macs", "weights"]),
        ("unchanged", "dense_1", "dense_1", []),
        ("unchanged", "dropout_1", "dropout", []),
        ("unchanged", "logits", "logits", []),
    ]
    changed = diff["layers"][1]
    assert (changed["name"], changed["type"]) == ("batch_normalization", "BatchNormalization")
    assert diff["totals"]["non_trainable_params"] == {"old": 0, "new": 1024, "delta": 1024}
    assert render_diff_text(diff).splitlines()[5] == (
        "~ dropout (Dropout) → batch_normalization (BatchNormalization)  (None, 512)   0 → 2,048 (+2,048)")


def test_completely_different_models():
    cnn = summary("""
        name: tiny_cnn
        input: [28, 28, 1]
        layers:
          - {type: Conv2D, filters: 8, kernel_size: 3}
          - {type: MaxPooling2D}
          - {type: Flatten}
          - {units: 10, activation: softmax}
        """)
    diff = diff_summaries(summary(MLP), cnn)
    # The one Dense producing the same output shape as old `logits` stays paired with it.
    assert statuses(diff) == [
        ("removed", "dense", None, []), ("removed", "dropout", None, []), ("removed", "dense_1", None, []),
        ("removed", "dropout_1", None, []),
        ("added", None, "conv2d", []), ("added", None, "max_pooling2d", []), ("added", None, "flatten", []),
        ("changed", "logits", "dense", ["name", "params", "trainable_params", "macs", "weights"])]
    assert diff["old"] == {"name": "mnist_mlp", "input_shape": [None, 784], "output_shape": [None, 10],
                           "dtype": "float32"}
    assert diff["totals"]["input_shape"] == {"old": [None, 784], "new": [None, 28, 28, 1], "changed": True}
    text = render_diff_text(diff).splitlines()
    assert text[0] == 'Model: "mnist_mlp" → "tiny_cnn"'
    assert "Input shape: (None, 784) → (None, 28, 28, 1)" in text
    assert render_diff_markdown(diff).splitlines()[0] == (
        "**`mnist_mlp` → `tiny_cnn`: 1 layer changed, 3 added, 4 removed; params -656,096 (-97.97%)**")


def test_chosen_names_pin_layers_before_position():
    old = mlp("{units: 8, name: a}", "{units: 8, name: b}", input_shape="[8]")
    new = mlp("{units: 8, name: b}", input_shape="[8]")
    assert statuses(diff_summaries(old, new)) == [("removed", "a", None, []), ("unchanged", "b", "b", [])]
    # Without names the first of two identical layers pairs, the second is the removed one.
    old = mlp("{units: 8}", "{units: 8}", input_shape="[8]")
    new = mlp("{units: 8}", input_shape="[8]")
    assert statuses(diff_summaries(old, new)) == [("unchanged", "dense", "dense", []),
                                                  ("removed", "dense_1", None, [])]


def test_a_named_layer_moved_across_another_is_removed_and_added():
    old = mlp("{units: 8, name: a}", "{units: 8, name: b}", input_shape="[8]")
    new = mlp("{units: 8, name: b}", "{units: 8, name: a}", input_shape="[8]")
    assert statuses(diff_summaries(old, new)) == [
        ("added", None, "b", []), ("unchanged", "a", "a", []), ("removed", "b", None, [])]


def test_trainability_change_is_named_in_the_row():
    old = mlp("{units: 4}", "{units: 2}", input_shape="[3]")
    new = mlp("{units: 4, trainable: false}", "{units: 2}", input_shape="[3]")
    diff = diff_summaries(old, new)
    assert statuses(diff)[0] == ("changed", "dense", "dense", ["trainable_params", "non_trainable_params"])
    assert diff["totals"]["trainable_params"] == {"old": 26, "new": 10, "delta": -16}
    assert render_diff_text(diff).splitlines()[4] == (
        "~ dense (Dense)    (None, 4)          16  changed: trainable_params, non_trainable_params")
    assert render_diff_markdown(diff).splitlines()[4] == (
        "| changed | `dense (Dense)` | `(None, 4)` | 16 (changed: trainable_params, non_trainable_params) |")


def test_unknown_macs_are_null_safe():
    old, new = summary(MLP), summary(MLP)
    new["layers"][0]["macs"] = None
    new["total_macs"] = None
    diff = diff_summaries(old, new)
    assert diff["layers"][0]["changes"] == ["macs"]
    assert diff["totals"]["total_macs"] == {"old": 668672, "new": None, "delta": None}
    assert "Total MACs: 668,672 → ? per sample" in render_diff_text(diff).splitlines()
    assert render_diff_text(diff).splitlines()[4].endswith("401,920  changed: macs")


def test_json_round_trips_and_works_from_summary_json():
    old, new = summary(MLP), mlp("{units: 1024, activation: relu}", *BASE[1:])
    diff = diff_summaries(old, new)
    text = render_diff_json(diff)
    assert json.loads(text) == diff
    assert '"output_shape": [null, 1024]' in text  # shapes stay on one line
    # Summaries read back from `summary --format json` give the same diff.
    assert diff_summaries(json.loads(old.to_json()), json.loads(new.to_json())) == diff
    entry = json.loads(text)["layers"][1]
    assert list(entry) == ["status", "name", "type", "old", "new", "changes", "argument_changes"]


@pytest.mark.parametrize("old_rows, new_rows, expected", [
    ([], [], []),
    ([], [{"name": "dense", "type": "Dense"}], [(None, 0)]),
    ([{"name": "dense", "type": "Dense"}], [], [(0, None)]),
    # A lone removed and a lone added layer between the same neighbours: a replacement.
    ([{"name": "x", "type": "A"}], [{"name": "y", "type": "B"}], [(0, 0)]),
    # Two for two of other types are not paired by position.
    ([{"name": "x", "type": "A"}, {"name": "y", "type": "A"}],
     [{"name": "z", "type": "B"}, {"name": "w", "type": "B"}], [(0, None), (1, None), (None, 0), (None, 1)]),
])
def test_align_layers_edge_cases(old_rows, new_rows, expected):
    assert align_layers(old_rows, new_rows) == expected


def test_diff_command_exits_0_in_every_format(cli, tmp_path):
    from tests.conftest import SPECS

    old = SPECS / "mnist_mlp.yaml"
    new = tmp_path / "v2.yaml"
    new.write_text(old.read_text().replace("units: 10, activation: softmax", "units: 12, activation: softmax"))
    text = cli("diff", old, new)
    assert text.exit_code == 0
    assert text.stdout.splitlines()[1] == "1 layer changed, 0 added, 0 removed; params +1,026 (+0.15%)"
    assert ("~ logits (Dense)       (None, 10) → (None, 12)  5,130 → 6,156 (+1,026)  units: 10 → 12"
            in text.stdout.splitlines())
    markdown = cli("diff", old, new, "--format", "markdown")
    assert markdown.exit_code == 0 and "| | *4 unchanged layers* | | |" in markdown.stdout
    data = json.loads(cli("diff", old, new, "--format", "json").stdout)
    assert [entry["status"] for entry in data["layers"]] == ["unchanged"] * 4 + ["changed"]
    same = cli("diff", old, old)
    assert same.exit_code == 0 and "0 layers changed, 0 added, 0 removed" in same.stdout


def test_diff_of_a_broken_spec_exits_1(cli, tmp_path):
    from tests.conftest import SPECS

    broken = tmp_path / "broken.yaml"
    broken.write_text("input: [4]\nlayers:\n  - units: 0\n")
    result = cli("diff", SPECS / "mnist_mlp.yaml", broken)
    assert result.exit_code == 1 and f"{broken}:3:12: error:" in result.stderr


def test_argument_changes_are_changes_shown_old_and_new():
    # relu → tanh and a dropout rate move no shape and no count, yet they change the model.
    old = mlp("{units: 4, activation: relu}", "{type: Dropout, rate: 0.5}", "{units: 2}", input_shape="[8]")
    new = mlp("{units: 4, activation: tanh}", "{type: Dropout, rate: 0.1}", "{units: 2}", input_shape="[8]")
    diff = diff_summaries(old, new)
    assert statuses(diff) == [("changed", "dense", "dense", ["arguments"]),
                              ("changed", "dropout", "dropout", ["arguments"]),
                              ("unchanged", "dense_1", "dense_1", [])]
    assert [entry["argument_changes"] for entry in diff["layers"]] == [
        {"activation": {"old": "relu", "new": "tanh"}}, {"rate": {"old": 0.5, "new": 0.1}}, {}]
    assert diff["counts"] == {"added": 0, "removed": 0, "changed": 2, "unchanged": 1}
    assert render_diff_text(diff).splitlines()[1:7] == [
        "2 layers changed, 0 added, 0 removed; params unchanged",
        "",
        "  Layer (type)       Output Shape  Param #",
        "~ dense (Dense)      (None, 4)          36  activation: relu → tanh",
        "~ dropout (Dropout)  (None, 4)           0  rate: 0.5 → 0.1",
        "  dense_1 (Dense)    (None, 2)          10",
    ]
    assert render_diff_markdown(diff).splitlines()[4:7] == [
        "| changed | `dense (Dense)` | `(None, 4)` | 36 (activation: relu → tanh) |",
        "| changed | `dropout (Dropout)` | `(None, 4)` | 0 (rate: 0.5 → 0.1) |",
        "| | *1 unchanged layer* | | |",
    ]
    data = json.loads(render_diff_json(diff))
    assert data["layers"][0]["argument_changes"] == {"activation": {"old": "relu", "new": "tanh"}}
    assert (data["layers"][0]["old"]["arguments"]["activation"], data["layers"][0]["new"]["arguments"]["activation"]) \
        == ("relu", "tanh")


def test_several_argument_changes_in_one_row_with_spec_spelling():
    old = mlp("{type: Conv2D, filters: 4, kernel_size: 3, padding: same}", "{type: Flatten}",
              input_shape="[6, 6, 1]")
    new = mlp("{type: Conv2D, filters: 4, kernel_size: 3, padding: same, use_bias: false, strides: 2}",
              "{type: Flatten}", input_shape="[6, 6, 1]")
    entry = diff_summaries(old, new)["layers"][0]
    assert entry["argument_changes"] == {"strides": {"old": [1, 1], "new": [2, 2]},
                                         "use_bias": {"old": True, "new": False}}
    assert render_diff_text(diff_summaries(old, new)).splitlines()[4].endswith(
        "strides: [1, 1] → [2, 2]; use_bias: true → false")


def test_arguments_written_differently_but_meaning_the_same_are_unchanged():
    # kernel_size 3 is (3, 3); strides left out is its default (1, 1), written out or not.
    old = mlp("{type: Conv2D, filters: 4, kernel_size: 3}", "{type: MaxPooling2D}", input_shape="[8, 8, 1]")
    new = mlp("{type: Conv2D, filters: 4, kernel_size: [3, 3], strides: 1}", "{type: MaxPooling2D, pool_size: 2}",
              input_shape="[8, 8, 1]")
    assert [entry["status"] for entry in diff_summaries(old, new)["layers"]] == ["unchanged", "unchanged"]


def test_arguments_of_another_type_or_of_old_summaries_are_not_compared():
    old, new = summary(MLP), mlp(BASE[0], "{type: BatchNormalization}", *BASE[2:])
    changed = diff_summaries(old, new)["layers"][1]
    assert "arguments" not in changed["changes"] and changed["argument_changes"] == {}
    # Summaries written before rows carried arguments still diff as they did.
    new = mlp(BASE[0].replace("relu", "tanh"), *BASE[1:])
    for row in old["layers"]:
        del row["arguments"]
    assert [entry["status"] for entry in diff_summaries(old, new)["layers"]] == ["unchanged"] * 5


def test_ascii_rendering_keeps_the_columns_aligned():
    old = mlp("{units: 4, activation: relu}", "{units: 2}", input_shape="[8]")
    new = mlp("{units: 5, activation: tanh}", "{units: 2}", input_shape="[8]")
    diff = diff_summaries(old, new)
    text = render_diff_text(diff, ascii_only=True)
    assert text.isascii()
    assert text.splitlines()[3:6] == [
        "  Layer (type)     Output Shape                  Param #",
        "~ dense (Dense)    (None, 4) -> (None, 5)  36 -> 45 (+9)  units: 4 -> 5; activation: relu -> tanh",
        "~ dense_1 (Dense)  (None, 2)               10 -> 12 (+2)",
    ]
    assert text.splitlines()[7] == "Total params: 46 -> 57 (+11)"
    markdown = render_diff_markdown(diff, ascii_only=True)
    assert markdown.isascii() and "`(None, 4)` -> `(None, 5)`" in markdown
