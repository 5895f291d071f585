"""ONNX export of ConvLSTM1D/2D/3D (layerspec/onnx_convert/conv_recurrent.py)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper

import layerspec
from layerspec.onnx_builder import MAX_OPSET, ExportError
from layerspec.onnx_export import export_onnx
from tests.onnx_convert.test_recurrent import flags, named, op_types
from tests.onnx_helpers import assert_onnx_matches, model_of

#: Each rank's input (timesteps unknown) and kernel.
RANKS = {"ConvLSTM1D": ("[null, 7, 2]", "3"), "ConvLSTM2D": ("[null, 5, 4, 2]", "[2, 3]"),
         "ConvLSTM3D": ("[null, 3, 4, 3, 1]", "2")}


def conv_lstm_spec(layer: str, input_shape: str | None = None, **arguments) -> str:
    shape, kernel = RANKS[layer]
    arguments.setdefault("kernel_size", kernel)
    written = "".join(f", {key}: {value}" for key, value in arguments.items())
    return f"input: {input_shape or shape}\nlayers:\n  - {{type: {layer}, filters: 3{written}}}\n"


@pytest.mark.parametrize("arguments", flags("return_sequences", "return_state", "go_backwards"), ids=named)
@pytest.mark.parametrize("layer", list(RANKS))
def test_every_output_form_is_a_scan_of_convolutions(layer, arguments):
    export = assert_onnx_matches(conv_lstm_spec(layer, **arguments))
    assert "Scan" in op_types(export)
    body = next(node for node in export.model.graph.node if node.op_type == "Scan").attribute[0].g
    assert [node.op_type for node in body.node].count("Conv") == 2


@pytest.mark.parametrize("layer", list(RANKS))
def test_newest_opset(layer):
    spec = conv_lstm_spec(layer, return_sequences="true", return_state="true", padding="same")
    assert assert_onnx_matches(spec, opset=MAX_OPSET).opset == MAX_OPSET


@pytest.mark.parametrize("arguments", [
    {"padding": "same"},  # odd kernel: pads (1, 1)
    {"padding": "same", "kernel_size": "[2, 2]"},  # even kernel: the extra pad after, on both convolutions
    {"strides": "2"},
    {"strides": "[2, 1]", "padding": "same"},
    {"dilation_rate": "2", "padding": "same", "kernel_size": "[3, 2]"},
    {"dilation_rate": "[1, 2]", "kernel_size": "[2, 2]"},
    {"use_bias": "false"},
    {"unit_forget_bias": "false", "unroll": "true"},
], ids=named)
def test_convolution_arguments(arguments):
    spec = conv_lstm_spec("ConvLSTM2D", "[null, 6, 5, 2]", return_sequences="true", **arguments)
    assert_onnx_matches(spec)


@pytest.mark.parametrize("arguments", [
    {"activation": "relu"},
    {"recurrent_activation": "hard_sigmoid", "activation": "softsign"},
    {"activation": "gelu"},
    # Along the filters of each gate, at each position, as layerspec's channels-last gates.
    {"recurrent_activation": "softmax"},
    {"activation": "softmax"},
], ids=named)
def test_activations(arguments):
    assert_onnx_matches(conv_lstm_spec("ConvLSTM2D", return_sequences="true", padding="same", **arguments))


def test_a_known_length_keeps_its_shapes():
    spec = conv_lstm_spec("ConvLSTM2D", "[4, 5, 4, 2]", return_sequences="true", return_state="true")
    export = assert_onnx_matches(spec)
    assert export.shapes["conv_lstm2d.output"] == (None, 4, 4, 2, 3)
    assert export.shapes["conv_lstm2d.state_c"] == (None, 4, 2, 3)


@pytest.mark.parametrize("arguments", flags("return_sequences", "go_backwards"), ids=named)
def test_initial_states(arguments):
    spec = """
    inputs: {x: [null, 5, 5, 2], h0: [5, 5, 3], c0: [5, 5, 3]}
    layers:
      - {type: ConvLSTM2D, filters: 3, kernel_size: 3, padding: same, return_state: true, inputs: [x, h0, c0], %s}
    """ % ", ".join(f"{key}: {value}" for key, value in arguments.items())
    assert_onnx_matches(spec)


def test_float64_is_written_in_float64():
    # ONNX allows a float64 Conv; ONNX Runtime's CPU provider has no kernel
    # for it, so the model is checked (by the export) but not run.
    model = model_of("dtype: float64\n" + conv_lstm_spec("ConvLSTM1D", return_sequences="true", padding="same"))
    export = export_onnx(model)
    assert {tensor.data_type for tensor in export.model.graph.initializer if tensor.dims[:1] == [12]} == {11}


def test_kernels_are_channels_first_with_gates_i_f_o_c():
    model = model_of(conv_lstm_spec("ConvLSTM1D", "[2, 5, 2]", kernel_size="2").replace("filters: 3", "filters: 1"))
    layer = model.graph.nodes[0].layer
    kernel = np.arange(16, dtype=np.float32).reshape(2, 2, 4)  # (kernel, in, 4 * filters): gates i, f, c, o
    layer.kernel.assign(kernel)
    export = assert_onnx_matches(model)
    found = next(numpy_helper.to_array(tensor) for tensor in export.model.graph.initializer
                 if list(tensor.dims) == [4, 2, 2])
    expected = np.transpose(kernel, (2, 1, 0))[[0, 1, 3, 2]]  # (gates i, f, o, c; in; kernel)
    np.testing.assert_array_equal(found, expected)


def test_a_python_function_as_activation_is_refused():
    model = layerspec.Sequential([layerspec.layers.ConvLSTM1D(2, 3, activation=lambda x: np.tanh(x))])
    model.build((4, 6, 2))
    model.init(0)
    with pytest.raises(ExportError, match="^layer 'conv_lstm1d' \\(ConvLSTM1D\\) cannot be exported to ONNX: its "
                                          "activation is a Python function, which ONNX cannot hold$"):
        export_onnx(model)
