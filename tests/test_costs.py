"""MACs and FLOPs per layer type against hand counts; per-step costs; exact giants."""

from fractions import Fraction

import pytest

import layerspec
from layerspec.costs import PerStep


def costs(yaml_text: str):
    """(macs, flops) per layer of a spec."""
    summary = layerspec.loads(yaml_text).summary_data()
    return [(row["macs"], row["flops"]) for row in summary["layers"]]


@pytest.mark.parametrize("spec, expected", [
    # Dense: in*units per position; FLOPs 2*MACs + bias + activation per output.
    ("input: [784]\nlayers:\n  - {units: 512, activation: relu}\n", [(784 * 512, 2 * 784 * 512 + 512 + 512)]),
    ("input: [5, 16]\nlayers:\n  - {units: 8, use_bias: false}\n", [(5 * 16 * 8, 2 * 5 * 16 * 8)]),
    # Conv2D: output positions * filters * kernel cells * in/groups.
    ("input: [28, 28, 1]\nlayers:\n  - {type: Conv2D, filters: 6, kernel_size: 5, padding: same, activation: tanh}\n",
     [(28 * 28 * 6 * 25, 2 * 28 * 28 * 6 * 25 + 2 * 28 * 28 * 6)]),
    ("input: [8, 8, 4]\nlayers:\n  - {type: Conv2D, filters: 6, kernel_size: 3, groups: 2, use_bias: false}\n",
     [(6 * 6 * 6 * 9 * 2, 2 * 6 * 6 * 6 * 9 * 2)]),
    ("input: [128, 3]\nlayers:\n  - {type: Conv1D, filters: 16, kernel_size: 3, padding: causal, dilation_rate: 2}\n",
     [(128 * 16 * 3 * 3, 2 * 128 * 16 * 3 * 3 + 128 * 16)]),
    # Pooling: one operation per window cell; averaging divides once per output.
    ("input: [28, 28, 6]\nlayers:\n  - {type: AveragePooling2D, pool_size: 2}\n", [(14 * 14 * 6 * 4, 14 * 14 * 6 * 5)]),
    ("input: [128, 16]\nlayers:\n  - {type: MaxPooling1D}\n", [(64 * 16 * 2, 64 * 16 * 2)]),
    ("input: [64, 16]\nlayers:\n  - {type: GlobalAveragePooling1D}\n", [(64 * 16, 64 * 16 + 16)]),
    ("input: [5, 5, 16]\nlayers:\n  - {type: GlobalMaxPooling2D}\n", [(400, 400)]),
    # Normalisation: its elementwise work, as multiply-adds.
    ("input: [128, 16]\nlayers:\n  - {type: BatchNormalization}\n", [(128 * 16, 2 * 128 * 16)]),
    ("input: [10, 32]\nlayers:\n  - {type: LayerNormalization}\n", [(3 * 320, 6 * 320)]),
    # Recurrent: every step; elementwise per unit and step: SimpleRNN bias+act;
    # LSTM 4 biases + 5 activations + 4 state ops; GRU 3 (or 6) biases + 3 + 5.
    ("input: [10, 8]\nlayers:\n  - {type: SimpleRNN, units: 16}\n", [(3840, 7680 + 10 * 16 * 2)]),
    ("input: [10, 8]\nlayers:\n  - {type: LSTM, units: 16}\n", [(15360, 30720 + 10 * 16 * 13)]),
    ("input: [10, 8]\nlayers:\n  - {type: GRU, units: 16}\n", [(11520, 23040 + 10 * 16 * 14)]),
    ("input: [10, 8]\nlayers:\n  - {type: GRU, units: 16, reset_after: false}\n", [(11520, 23040 + 10 * 16 * 11)]),
    # Activation layers cost one FLOP per element (linear none); data movers nothing.
    ("input: [10]\nlayers:\n  - {type: Activation, activation: softmax}\n"
     "  - {type: Activation, activation: linear}\n", [(0, 10), (0, 0)]),
    ("input: [6]\nlayers:\n  - {type: Embedding, input_dim: 50, output_dim: 4}\n  - {type: Flatten}\n"
     "  - {type: Dropout, rate: 0.5}\n  - {type: Reshape, target_shape: [4, 6]}\n"
     "  - {type: ZeroPadding1D, padding: 1}\n  - {type: Cropping1D, cropping: 1}\n  - {type: UpSampling1D}\n",
     [(0, 0)] * 7),
], ids=lambda value: value.split("type: ")[1].split(",")[0].split("}")[0] if isinstance(value, str) and "type:" in value
    else None)
def test_hand_counted_costs(spec, expected):
    assert costs(spec) == expected


def test_costs_over_an_unknown_length_are_per_step():
    summary = layerspec.loads("input: [null, 4]\nlayers:\n"
                              "  - {type: Conv1D, filters: 8, kernel_size: 3, strides: 2, use_bias: false}\n"
                              "  - {type: LSTM, units: 16}\n  - {units: 2}\n").summary_data()
    conv, lstm, dense = summary["layers"]
    # Conv: floor((L-3)/2)+1 = L/2 - 1 positions, 8*3*4 MACs each.
    assert (conv["macs"], conv["macs_per_step"], conv["macs_constant"]) == (None, 48, -96)
    # LSTM over its input's L/2 - 1 steps.
    assert (lstm["macs_per_step"], lstm["macs_constant"]) == (768, -1536)
    assert dense["macs"] == 32 and "macs_per_step" not in dense
    assert (summary["total_macs"], summary["total_macs_per_step"], summary["total_macs_constant"]) == (
        None, 48 + 768, -96 - 1536 + 32)
    assert conv["activation_bytes_per_step"] == 16 and conv["activation_bytes_constant"] == -32


def test_per_step_costs_print_as_rates():
    text = str(layerspec.load("specs/text_lstm.yaml").summary_data())
    assert "│   32.77K/step │" in text
    assert " Total MACs: 32.77K per step of the unknown size + 64, per sample" in text.splitlines()


def test_per_step_arithmetic():
    step = PerStep(Fraction(3), Fraction(-1))
    assert step + 5 == PerStep(Fraction(3), Fraction(4)) and 5 + step == step + 5
    assert step + None is None


def test_giant_counts_are_exact_integers():
    # 2^63 is about 9.2e18: these totals pass it and stay exact Python ints.
    spec = "input: [10000000, 1000000]\nlayers:\n  - {units: 1000000}\n  - {units: 1000000}\n"
    summary = layerspec.loads(spec).summary_data()
    assert summary["total_params"] == 2 * (10**12 + 10**6)
    assert summary["total_macs"] == 2 * 10**7 * 10**12 > 2**63
    assert summary["total_flops"] == 2 * (2 * 10**19 + 10**13)
    assert summary["activation_bytes"] == 2 * 10**13 * 4
    assert isinstance(summary["total_macs"], int)


def test_summarising_a_giant_spec_allocates_no_weight():
    import tracemalloc

    block = "  - type: LayerNormalization\n  - {units: 49152, activation: gelu}\n  - {units: 12288}\n"
    text = "input: [2048, 12288]\nlayers:\n" + block * 8
    tracemalloc.start()
    try:
        summary = layerspec.loads(text).summary_data()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary["total_params"] == 8 * (2 * 12288 + 12288 * 49152 + 49152 + 49152 * 12288 + 12288)
    assert peak < 5 * 2**20  # a single float32 kernel here would be 2.4 GB


def footer(model) -> dict:
    """The summary table's footer lines, by label."""
    lines = str(model.summary_data()).splitlines()
    return dict(line.strip().split(": ", 1) for line in lines[-6:])


def test_costs_over_two_unknown_sizes_ask_for_the_sizes():
    model = layerspec.loads("input: [null, null, 3]\nlayers:\n"
                            "  - {type: Conv2D, filters: 4, kernel_size: 3, padding: same}\n"
                            "  - {type: GlobalAveragePooling2D}\n")
    summary = model.summary_data()
    assert summary.sizes_wanted == 2
    assert "sizes_wanted" not in summary.to_json()
    wanted = "? (depends on the 2 unknown input sizes; give them with --input-shape)"
    assert footer(model) == {"Total params": "112 (448.00 B)", "Trainable params": "112 (448.00 B)",
                             "Non-trainable params": "0 (0.00 B)", "Total MACs": wanted,
                             "Total FLOPs": wanted, "Activations": wanted}


class NoCostRule(layerspec.Layer):
    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, inputs):
        return inputs


@pytest.mark.parametrize("input_shape, activations", [
    ((3,), "16.00 B per sample"),
    ((None, 3), "16.00 B per step of the unknown size, per sample"),
], ids=["known sizes", "one unknown size"])
def test_a_layer_without_a_cost_rule_is_named_as_the_reason(input_shape, activations):
    model = layerspec.Sequential([layerspec.layers.Dense(2), NoCostRule()], input_shape=input_shape)
    model.build()
    lines = footer(model)
    assert model.summary_data().sizes_wanted == 0
    assert lines["Total MACs"] == lines["Total FLOPs"] == "? (a layer's cost is not known)"
    assert lines["Activations"] == activations


def test_a_cost_quadratic_in_the_unknown_size_is_unknown_not_a_wrong_line():
    # Self-attention over an unknown length: scores grow with length², which no
    # per-step figure describes; the projections alone would be affine.
    summary = layerspec.loads("input: [null, 32]\nlayers:\n"
                              "  - {type: MultiHeadAttention, num_heads: 2, key_dim: 8}\n").summary_data()
    assert summary["layers"][0]["macs"] is None and "macs_per_step" not in summary["layers"][0]
    assert summary["total_macs"] is None
    assert summary["activation_bytes_per_step"] == 128  # the output is still one row per step


def test_a_capped_unknown_length_still_asks_for_the_size():
    """Attention over an unknown length costs length² (no per-step figure);
    giving the length makes every cost known, although the probe size is
    beyond what the position embedding holds."""
    model = layerspec.loads("inputs:\n  ids: {shape: [null], dtype: int32}\nlayers:\n"
                            "  - {type: Embedding, input_dim: 50, output_dim: 8}\n"
                            "  - {type: PositionEmbedding, sequence_length: 16}\n"
                            "  - {type: MultiHeadAttention, num_heads: 2, key_dim: 4}\n")
    text = str(model.summary_data())
    assert "Total MACs: ? (depends on the unknown input size; give it with --input-shape)" in text
