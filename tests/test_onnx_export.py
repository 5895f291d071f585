"""The ONNX exporter itself: names, dynamic axes, opset choice, checks,
writing, and `layerspec export --to onnx` on the command line. What each
layer becomes is tested in tests/onnx_convert/."""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import layerspec
from layerspec import onnx_export
from layerspec.cli import main
from layerspec.errors import LayerspecError
from layerspec.onnx_builder import MAX_OPSET, MIN_OPSET, ExportError
from layerspec.onnx_export import describe_requirements, export_onnx, write_onnx
from tests.conftest import SPECS
from tests.onnx_helpers import assert_onnx_matches, model_of

MLP = """
name: mlp
input: [8]
layers:
  - {units: 16, activation: relu}
  - {units: 4, name: logits}
"""


def dims(value_info) -> list:
    return [dim.dim_param or dim.dim_value for dim in value_info.type.tensor_type.shape.dim]


def test_inputs_outputs_and_layer_results_carry_the_spec_names():
    export = export_onnx(model_of(MLP))
    graph = export.model.graph
    assert [item.name for item in graph.input] == ["input"]
    assert [item.name for item in graph.output] == ["logits"]
    assert export.shapes == {"dense": (None, 16), "logits": (None, 4)}
    # The layer's result is its last node's output: no Identity is added.
    assert [node.op_type for node in graph.node] == ["MatMul", "Add", "Relu", "MatMul", "Add"]
    assert sorted(tensor.name for tensor in graph.initializer) == [
        "dense/bias", "dense/kernel", "logits/bias", "logits/kernel"]


def test_the_batch_axis_and_null_sizes_are_dynamic():
    export = export_onnx(model_of("""
        inputs:
          tokens: [null, 6]
        layers:
          - {units: 3, name: out}
        """))
    assert dims(export.model.graph.input[0]) == ["batch", "tokens_dim1", 6]
    assert dims(export.model.graph.output[0]) == ["batch", "tokens_dim1", 3]
    assert_onnx_matches(model_of("""
        inputs:
          tokens: [null, 6]
        layers:
          - {units: 3, name: out}
        """))


def test_the_default_opset_is_the_oldest_layerspec_writes_and_the_ir_version_its_oldest():
    export = export_onnx(model_of(MLP))
    assert export.opset == MIN_OPSET == 13
    assert export.requirements == []
    assert [(item.domain, item.version) for item in export.model.opset_import] == [("", 13)]
    assert export.model.ir_version == 7
    assert export.model.producer_name == "layerspec"


@pytest.mark.parametrize("opset", [MIN_OPSET, 17, 18, MAX_OPSET])
def test_any_opset_in_the_range_can_be_asked_for(opset):
    export = assert_onnx_matches(MLP, opset=opset)
    assert export.opset == opset


@pytest.mark.parametrize("opset", [12, 24])
def test_an_opset_outside_the_range_is_refused(opset):
    with pytest.raises(ExportError, match=rf"^--opset {opset}: layerspec writes opsets 13 to 23$"):
        export_onnx(model_of(MLP), opset)


def test_the_command_line_range_is_the_builders():
    from layerspec.cli import export

    option = next(param for param in export.params if param.name == "opset")
    assert (option.type.min, option.type.max) == (MIN_OPSET, MAX_OPSET)


LAYER_NORM = """
input: [6]
layers:
  - {units: 4}
  - {type: LayerNormalization, name: ln}
"""


def test_a_layer_needing_a_newer_operator_raises_the_opset_and_says_why():
    export = export_onnx(model_of(LAYER_NORM))
    assert export.opset == 17
    assert [(requirement.opset, requirement.what, requirement.layer) for requirement in export.requirements] == [
        (17, "the LayerNormalization operator", "layer 'ln' (LayerNormalization)")]


def test_an_opset_too_old_for_the_model_names_what_needs_a_newer_one():
    with pytest.raises(ExportError) as caught:
        export_onnx(model_of(LAYER_NORM), 16)
    assert caught.value.message == (
        "--opset 16 cannot express this model: the LayerNormalization operator needs opset 17, for layer 'ln' "
        "(LayerNormalization); use --opset 17 or leave --opset out")


def test_many_layers_needing_the_same_opset_are_counted_not_listed():
    export = export_onnx(model_of(LAYER_NORM.replace("name: ln}", "name: ln}\n  - {type: LayerNormalization}")))
    assert describe_requirements(export.requirements) == [
        "the LayerNormalization operator needs opset 17, for layer 'ln' (LayerNormalization) and 1 more"]


def test_a_reused_layer_shares_its_weights_in_the_file():
    model = layerspec.load(str(SPECS / "siamese.yaml"))
    model.init(seed=0)
    export = assert_onnx_matches(model)
    names = sorted(tensor.name for tensor in export.model.graph.initializer if tensor.data_type == 1)
    assert [name for name in names if "kernel" in name] == ["embedding/kernel", "hidden/kernel", "match/kernel"]


def test_a_layer_without_an_onnx_form_is_named(monkeypatch):
    from layerspec import onnx_convert
    from layerspec.layers.core import Dense

    onnx_convert.converter_of(model_of(MLP).layers[0])  # load the converters first
    monkeypatch.delitem(onnx_convert._CONVERTERS, Dense)
    with pytest.raises(ExportError) as caught:
        export_onnx(model_of(MLP))
    assert caught.value.message == ("layer 'dense' (Dense) cannot be exported to ONNX: layerspec has no ONNX form "
                                    "for Dense")
    assert caught.value.layer_index == 0


def test_a_converter_whose_shapes_disagree_with_layerspecs_is_caught(monkeypatch):
    from layerspec import onnx_convert
    from layerspec.layers.core import Dense

    def wrong(conversion):  # forgets the kernel: the result keeps 8 columns
        return conversion.builder.op("Relu", [conversion.x])

    one_layer = "input: [8]\nlayers: [{units: 16}]"
    onnx_convert.converter_of(model_of(one_layer).layers[0])
    monkeypatch.setitem(onnx_convert._CONVERTERS, Dense, wrong)
    with pytest.raises(ExportError, match=r"^layer result 'dense': ONNX infers shape \(None, 8\), layerspec "
                                          r"\(None, 16\) \(a layerspec defect\)$"):
        export_onnx(model_of(one_layer))


def test_without_onnx_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(LayerspecError) as caught:
        export_onnx(model_of(MLP))
    assert caught.value.message == "exporting to ONNX needs the onnx package: pip install 'layerspec-yaml[onnx]'"
    assert caught.value.code == "missing-dependency"


def test_a_model_over_the_size_limit_keeps_its_weights_in_a_file_beside_it(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_BYTES", 100)
    model = model_of(MLP.replace("units: 16", "units: 300"))
    export = export_onnx(model)
    written = write_onnx(export, str(tmp_path / "m.onnx"))
    assert written == [str(tmp_path / "m.onnx"), str(tmp_path / "m.onnx.data")]
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_allclose(session.run(None, {"input": x})[0], model.predict(x), rtol=1e-5, atol=1e-6)


# -- the command line --------------------------------------------------------

def test_export_to_onnx_writes_a_checked_file_and_says_what(cli, write_spec, tmp_path):
    spec = write_spec(MLP)
    result = cli("export", spec, "--to", "onnx", "-o", tmp_path / "m.onnx", "--seed", "3")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"wrote {tmp_path / 'm.onnx'}: 2 layers, 212 parameters, opset 13\n"
    model = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(model, full_check=True)
    reference = layerspec.load(spec).init(seed=3)
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], reference.predict(x), rtol=1e-5, atol=1e-6)


def test_export_to_onnx_with_weights_uses_them(cli, write_spec, tmp_path):
    spec = write_spec(MLP)
    assert cli("init", spec, "-o", tmp_path / "w.npz", "--seed", "7").exit_code == 0
    assert cli("export", spec, "--to", "onnx", "-o", tmp_path / "m.onnx", "--weights", tmp_path / "w.npz").exit_code == 0
    kernel = next(tensor for tensor in onnx.load(str(tmp_path / "m.onnx")).graph.initializer
                  if tensor.name == "dense/kernel")
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(kernel), np.load(tmp_path / "w.npz")["dense/kernel"])


def test_export_names_the_opset_a_layer_needs(cli, write_spec, tmp_path):
    spec = write_spec(LAYER_NORM)
    result = cli("export", spec, "--to", "onnx", "-o", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.endswith(", opset 17; the LayerNormalization operator needs opset 17, for layer 'ln' "
                                  "(LayerNormalization)\n")
    result = cli("export", spec, "--to", "onnx", "-o", tmp_path / "m2.onnx", "--opset", "13")
    assert result.exit_code == 1
    assert "error: --opset 13 cannot express this model: the LayerNormalization operator needs opset 17" in result.stderr
    assert not (tmp_path / "m2.onnx").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--opset", "12"], "Invalid value for '--opset': 12 is not in the range 13<=x<=23."),
    (["--to", "keras", "--opset", "17"], "--opset applies to --to onnx only"),
])
def test_export_usage_errors(cli, write_spec, tmp_path, arguments, message):
    spec = write_spec(MLP)
    base = ["export", spec, "-o", tmp_path / "m.onnx"] + (["--to", "onnx"] if "--to" not in arguments else [])
    result = cli(*base, *arguments)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.usefixtures("clean_registry")
def test_a_layer_without_an_onnx_form_points_into_the_spec(cli, tmp_path):
    plugin = SPECS.parent / "examples" / "plugins" / "simple_dense.py"
    spec = SPECS.parent / "examples" / "plugins" / "simple_dense.yaml"
    result = cli("export", spec, "--plugin", plugin, "--to", "onnx", "-o", tmp_path / "m.onnx")
    assert result.exit_code == 1
    line = next(number for number, text in enumerate(spec.read_text().splitlines(), 1) if "type: SimpleDense" in text)
    assert result.stderr.startswith(f"{spec}:{line}:")
    assert "cannot be exported to ONNX: layerspec has no ONNX form for SimpleDense\n" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_export_refuses_to_write_over_the_spec(cli, write_spec):
    spec = write_spec(MLP)
    before = open(spec).read()
    result = cli("export", spec, "--to", "onnx", "-o", spec)
    assert result.exit_code == 1
    assert open(spec).read() == before


def test_an_integer_input_read_by_float_layers_is_cast_once():
    export = assert_onnx_matches("""
        inputs:
          counts: {shape: [4], dtype: int32}
          scores: [4]
        layers:
          - {type: Add, inputs: [counts, scores]}
          - {type: Multiply, inputs: [counts, -1], name: out}
        """, atol=1e-4)
    graph = export.model.graph
    assert [item.type.tensor_type.elem_type for item in graph.input] == [onnx.TensorProto.INT32, onnx.TensorProto.FLOAT]
    assert [node.op_type for node in graph.node].count("Cast") == 1


def test_every_built_in_layer_type_has_a_converter():
    # Each is tested in tests/onnx_convert/; a type ONNX cannot express has
    # a converter that refuses it by name, never the generic message.
    from layerspec import onnx_convert, registry

    onnx_convert._load()
    missing = {cls.__name__ for cls in registry.classes().values()} - {cls.__name__ for cls in onnx_convert._CONVERTERS}
    assert missing == set()


def test_export_takes_the_specs_variant_and_arguments(cli, tmp_path):
    result = cli("export", SPECS / "zoo" / "gpt2.yaml", "--to", "onnx", "-o", tmp_path / "tiny.onnx",
                 "--set", "n_layer=1", "--set", "d_model=32", "--set", "n_head=2", "--set", "vocabulary=50",
                 "--set", "max_length=16")
    assert result.exit_code == 0, result.stderr
    graph = onnx.load(str(tmp_path / "tiny.onnx")).graph
    assert [(item.name, dims(item)) for item in graph.input] == [("token_ids", ["batch", "token_ids_dim1"])]
    embedding = next(tensor for tensor in graph.initializer if tensor.name.endswith("token_embedding/embeddings"))
    assert list(embedding.dims) == [50, 32]


def test_export_to_standard_output(cli, write_spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = write_spec(MLP)
    result = CliRunner().invoke(main, ["export", spec, "--to", "onnx", "-o", "-"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "wrote standard output: 2 layers, 212 parameters, opset 13\n"
    model = onnx.ModelProto()
    model.ParseFromString(result.stdout_bytes)
    onnx.checker.check_model(model)
    assert not (tmp_path / "-").exists()


def test_a_model_too_big_for_one_file_is_not_sent_to_standard_output(write_spec, monkeypatch):
    import io

    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_BYTES", 100)
    export = export_onnx(model_of(MLP))
    with pytest.raises(LayerspecError, match=r"^-o -: a model with over 1 GiB of weights is written as two files"):
        write_onnx(export, io.BytesIO())
