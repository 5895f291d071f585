"""Summary rendering: columns, widths, footers, memory estimates."""

import json

import numpy as np
import pytest

import layerspec
from layerspec.summary import render_markdown, render_table, summarize
from tests.conftest import SPECS


@pytest.fixture(scope="module")
def mlp():
    return layerspec.load(str(SPECS / "mnist_mlp.yaml"))


def test_footer_has_params_costs_and_activations(mlp):
    footer = str(mlp.summary_data()).splitlines()[-6:]
    assert footer == [
        " Total params: 669,706 (2.55 MB)",
        " Trainable params: 669,706 (2.55 MB)",
        " Non-trainable params: 0 (0.00 B)",
        " Total MACs: 668,672 (668.67K) per sample",
        # 2 * MACs + bias and activation per output of each Dense (512, 512, 10).
        f" Total FLOPs: {2 * 668672 + 2 * (512 + 512 + 10):,} (1.34M) per sample",
        " Activations: 8.04 KB per sample",
    ]


def test_inference_memory_estimate_for_a_batch(mlp):
    summary = summarize(mlp, batch_size=32)
    # Parameters + 32 x the largest consecutive pair: input (784) + first Dense (512), float32.
    assert summary["inference_memory_bytes"] == 669706 * 4 + 32 * (784 + 512) * 4
    assert str(summary).splitlines()[-1] == (" Estimated inference memory at batch size 32: 2.71 MB "
                                             "(parameters + the largest two consecutive activations)")


@pytest.mark.parametrize("input_shape, wanted", [
    ((None, 4), "depends on the unknown input size; give it with --input-shape"),
    ((None, None, 4), "depends on the 2 unknown input sizes; give them with --input-shape"),
])
def test_inference_memory_over_unknown_sizes_asks_for_them(input_shape, wanted):
    model = layerspec.Sequential([layerspec.layers.Dense(2)], input_shape=input_shape)
    model.build()
    summary = summarize(model, batch_size=8)
    assert summary["inference_memory_bytes"] is None
    assert str(summary).splitlines()[-1] == f" Estimated inference memory at batch size 8: ? ({wanted})"


def test_columns_are_chosen(mlp):
    text = render_table(mlp.summary_data(), ("input_shape", "trainable", "activation_bytes"))
    header = text.splitlines()[2]
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == ["Layer (type)", "Input Shape", "Trainable",
                                                                  "Activations"]
    first = [cell.strip() for cell in text.splitlines()[4].split("│")[1:-1]]
    assert first == ["dense (Dense)", "(None, 784)", "Y", "2.00 KB"]
    dropout = [cell.strip() for cell in text.splitlines()[6].split("│")[1:-1]]
    assert dropout[2] == "-"


@pytest.mark.parametrize("width", [60, 70, 90])
def test_table_fits_the_width_without_wrapping_rows(mlp, width):
    text = render_table(mlp.summary_data(), ("input_shape", "output_shape", "params", "macs"), max_width=width)
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│├└"]
    assert len({len(line) for line in table}) == 1  # every row one line, all aligned
    assert all(len(line) <= width for line in table)
    assert any("…" in line for line in table) == (width < 90)


def test_unlimited_width_keeps_keras_column_widths(mlp):
    line = str(mlp.summary_data()).splitlines()[4]
    assert line == "│ dense (Dense)                   │ (None, 512)            │       401,920 │       401,408 │"


def test_markdown_columns(mlp):
    lines = render_markdown(mlp.summary_data(), ("output_shape", "trainable")).splitlines()
    assert lines[2] == "| Layer (type) | Output Shape | Trainable |"
    assert lines[4] == "| `dense (Dense)` | `(None, 512)` | Y |"


def test_cli_summary_options(cli):
    spec = SPECS / "sensor_tcn.yaml"
    result = cli("summary", spec, "--columns", "output_shape,trainable,params", "--width", "80",
                 "--batch-size", "8")
    assert result.exit_code == 0
    assert all(len(line) <= 80 for line in result.stdout.splitlines() if line[:1] in "┏┃┡│├└")
    assert "Estimated inference memory at batch size 8" in result.stdout
    bad = cli("summary", spec, "--columns", "output_shape,colour")
    assert bad.exit_code == 2 and "choose from input_shape, output_shape" in bad.stderr


def test_non_trainable_parameters_are_counted_like_keras():
    summary = layerspec.loads("input: [4]\nlayers:\n  - {type: BatchNormalization}\n"
                              "  - {units: 2, trainable: false}\n").summary_data()
    assert [(r["params"], r["trainable_params"], r["non_trainable_params"]) for r in summary["layers"]] == [
        (16, 8, 8), (10, 0, 10)]
    assert (summary["trainable_params"], summary["non_trainable_params"]) == (8, 18)


def test_a_short_total_is_not_repeated_in_parentheses():
    small = layerspec.loads("input: [8]\nlayers:\n  - units: 120\n")  # 960 MACs, 2,040 FLOPs
    footer = str(small.summary_data()).splitlines()[-3:]
    assert footer == [" Total MACs: 960 per sample", " Total FLOPs: 2,040 (2.04K) per sample",
                      " Activations: 480.00 B per sample"]


def test_rows_carry_the_layer_arguments_after_the_existing_fields():
    data = layerspec.loads("input: [6, 6, 1]\nlayers:\n  - {type: Conv2D, filters: 2, kernel_size: 3, "
                           "activation: relu, name: stem}\n  - {type: Dropout, rate: 0.25}\n").summary_data()
    conv, dropout = data["layers"]
    assert list(conv)[-2:] == ["arguments", "inputs"]
    assert conv["arguments"] == {
        "filters": 2, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "data_format": None,
        "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": True,
        "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}
    assert dropout["arguments"] == {"rate": 0.25, "noise_shape": None, "seed": None}
    assert json.loads(data.to_json())["layers"][0]["arguments"] == conv["arguments"]


def test_arguments_given_as_python_objects_become_json_data():
    def scaled_tanh(x):
        return np.tanh(x) * 2

    data = layerspec.Sequential([layerspec.layers.Dense(2, activation=scaled_tanh)], input_shape=(3,)).summary_data()
    assert data["layers"][0]["arguments"]["activation"] == "scaled_tanh"
    json.loads(data.to_json())


def test_ascii_table_keeps_its_layout(mlp):
    unicode_table = render_table(mlp.summary_data(), max_width=50)
    ascii_table = render_table(mlp.summary_data(), max_width=50, ascii_only=True)
    assert ascii_table.isascii()
    assert [len(line) for line in ascii_table.splitlines()] == [len(line) for line in unicode_table.splitlines()]
    assert ascii_table.splitlines()[1:5] == [
        "+=============+==============+=========+=========+",
        "| Layer (t... | Output Shape | Param # |    MACs |",
        "+=============+==============+=========+=========+",
        "| dense (D... | (None, 512)  | 401,920 | 401,408 |",
    ]
    assert ascii_table.splitlines()[-7] == "+-------------+--------------+---------+---------+"


def test_to_ascii_spells_every_character_layerspec_prints():
    from layerspec.summary import to_ascii

    assert to_ascii("┏━┳┓┃┡━╇┩") == "+=++|+=++"
    assert to_ascii("├─┼┤│└─┴┘") == "+-++|+-++"
    assert to_ascii("a → b… 3×3 — ok") == "a -> b... 3x3 -- ok"


def test_summary_displays_as_the_table_in_a_repl(mlp):
    data = mlp.summary_data()
    assert repr(data) == str(data) == render_table(data)
    assert isinstance(data, dict) and data["total_params"] == 669706


def test_augmentation_layers_say_what_they_do_at_inference():
    data = layerspec.loads("input: [8, 8, 3]\nlayers:\n  - {type: RandomFlip}\n"
                           "  - {type: Conv2D, filters: 2, kernel_size: 3}\n").summary_data()
    flip, conv = data["layers"]
    assert flip["note"] == "identity at inference (training-time augmentation)" and "note" not in conv
    assert list(flip)[-1] == "note"  # an extension after the contract's fields
    assert str(data).splitlines()[-1] == " Note: random_flip (RandomFlip): identity at inference (training-time augmentation)"
