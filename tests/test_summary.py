"""Summary rendering: columns, widths, footers, memory estimates."""

import pytest

import layerspec
from layerspec.summary import render_markdown, render_table, summarize
from tests.conftest import SPECS


@pytest.fixture(scope="module")
def mlp():
    return layerspec.load(str(SPECS / "mnist_mlp.yaml"))


def test_footer_has_params_costs_and_activations(mlp):
    footer = str(mlp.summary()).splitlines()[-6:]
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
    text = render_table(mlp.summary(), ("input_shape", "trainable", "activation_bytes"))
    header = text.splitlines()[2]
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == ["Layer (type)", "Input Shape", "Trainable",
                                                                  "Activations"]
    first = [cell.strip() for cell in text.splitlines()[4].split("│")[1:-1]]
    assert first == ["dense (Dense)", "(None, 784)", "Y", "2.00 KB"]
    dropout = [cell.strip() for cell in text.splitlines()[6].split("│")[1:-1]]
    assert dropout[2] == "-"


@pytest.mark.parametrize("width", [60, 70, 90])
def test_table_fits_the_width_without_wrapping_rows(mlp, width):
    text = render_table(mlp.summary(), ("input_shape", "output_shape", "params", "macs"), max_width=width)
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│├└"]
    assert len({len(line) for line in table}) == 1  # every row one line, all aligned
    assert all(len(line) <= width for line in table)
    assert any("…" in line for line in table) == (width < 90)


def test_unlimited_width_keeps_keras_column_widths(mlp):
    line = str(mlp.summary()).splitlines()[4]
    assert line == "│ dense (Dense)                   │ (None, 512)            │       401,920 │       401,408 │"


def test_markdown_columns(mlp):
    lines = render_markdown(mlp.summary(), ("output_shape", "trainable")).splitlines()
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
                              "  - {units: 2, trainable: false}\n").summary()
    assert [(r["params"], r["trainable_params"], r["non_trainable_params"]) for r in summary["layers"]] == [
        (16, 8, 8), (10, 0, 10)]
    assert (summary["trainable_params"], summary["non_trainable_params"]) == (8, 18)
