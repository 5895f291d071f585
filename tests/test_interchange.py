"""`layerspec import` and `layerspec export --to keras` end to end: every
Keras fixture imports and computes Keras's outputs, every spec survives
export → import, broken files are refused with nothing written."""

import io
import json
import sys
import zipfile

import numpy as np
import pytest

import layerspec
from tests.conftest import SPECS
from tests.keras_fixtures import assert_matches_keras, fixture_dir, fixture_names, load_fixture, read_index

pytest.importorskip("h5py")


def import_fixture(cli, tmp_path, name):
    spec, weights = tmp_path / f"{name}.yaml", tmp_path / f"{name}.npz"
    result = cli("import", fixture_dir() / f"{name}.keras", "-o", spec, "--weights-out", weights)
    assert result.exit_code == 0, result.stderr
    return spec, weights


def predict(spec, weights, inputs):
    model = layerspec.load(str(spec))
    model.load_weights(str(weights))
    given = inputs if len(inputs) > 1 else next(iter(inputs.values()))
    outputs = model.predict(given)
    if isinstance(outputs, list):
        return dict(zip(model.output_names, outputs))
    return outputs


@pytest.mark.parametrize("name", fixture_names())
def test_every_fixture_imports_and_computes_what_keras_computes(cli, tmp_path, name):
    fixture = load_fixture(name)
    spec, weights = import_fixture(cli, tmp_path, name)
    assert layerspec.load(str(spec)).count_params() == read_index()["fixtures"][name]["params"]
    assert_matches_keras(fixture, predict(spec, weights, fixture.inputs))


def test_an_imported_sequential_reads_like_a_hand_written_spec(cli, tmp_path):
    spec, _ = import_fixture(cli, tmp_path, "seq_mlp")
    assert spec.read_text() == """\
name: seq_mlp
input: [20]
layers:
  - {type: Dense, units: 32, activation: relu}
  - {type: Dropout, rate: 0.3}
  - {type: Dense, units: 16, activation: tanh, use_bias: false}
  - {type: Dense, units: 4, activation: softmax}
"""


def test_an_imported_functional_model_names_only_what_it_must(cli, tmp_path):
    spec, _ = import_fixture(cli, tmp_path, "func_two_inputs")
    assert spec.read_text() == """\
name: func_two_inputs
inputs:
  image: [8, 8, 2]
  meta: [6]
layers:
  - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu, inputs: image}
  - {type: Flatten}
  - {type: Concatenate, inputs: [flatten, meta]}
  - {type: Dense, units: 16, activation: relu}
  - {type: Dense, name: cls, units: 3, activation: softmax}
  - {type: Dense, name: reg, units: 1, inputs: dense}
outputs: [cls, reg]
"""


def test_a_nested_model_becomes_a_block(cli, tmp_path):
    spec, _ = import_fixture(cli, tmp_path, "nested")
    text = spec.read_text()
    assert "blocks:\n  block:\n    layers:\n" in text and "  - {type: block}\n" in text


def test_the_json_config_imports_without_weights(cli, tmp_path):
    with zipfile.ZipFile(fixture_dir() / "seq_mlp.keras") as archive:
        (tmp_path / "config.json").write_bytes(archive.read("config.json"))
    result = cli("import", tmp_path / "config.json", "-o", tmp_path / "m.yaml")
    assert result.exit_code == 0, result.stderr
    assert layerspec.load(str(tmp_path / "m.yaml")).count_params() == 1252
    refused = cli("import", tmp_path / "config.json", "-o", tmp_path / "n.yaml", "--weights-out", tmp_path / "w.npz")
    assert refused.exit_code == 1 and not (tmp_path / "n.yaml").exists() and not (tmp_path / "w.npz").exists()


# -- export -> import ------------------------------------------------------------------
ROUND_TRIP_SPECS = sorted(SPECS.glob("*.yaml")) + sorted((SPECS / "zoo").glob("*.yaml"))


@pytest.mark.parametrize("path", ROUND_TRIP_SPECS, ids=lambda path: path.relative_to(SPECS).as_posix())
def test_export_then_import_gives_back_the_model_and_its_weights(cli, tmp_path, path):
    original = layerspec.load(str(path))
    archive, spec, weights = tmp_path / "m.keras", tmp_path / "back.yaml", tmp_path / "back.npz"
    init = cli("init", path, "-o", tmp_path / "w.npz", "--seed", "3")
    assert init.exit_code == 0, init.stderr
    exported = cli("export", path, "--to", "keras", "-o", archive, "--weights", tmp_path / "w.npz")
    assert exported.exit_code == 0, exported.stderr
    back = cli("import", archive, "-o", spec, "--weights-out", weights)
    assert back.exit_code == 0, back.stderr
    again = layerspec.load(str(spec))
    assert [(node.name, type(node.layer).__name__, node.output_shape) for node in again.nodes] == \
        [(node.name, type(node.layer).__name__, node.output_shape) for node in original.nodes]
    assert again.count_params() == original.count_params()
    ours, theirs = dict(np.load(tmp_path / "w.npz")), dict(np.load(weights))
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        np.testing.assert_array_equal(theirs[key], ours[key], err_msg=key)


# -- broken files -----------------------------------------------------------------------
def broken_archives(tmp_path) -> dict:
    good = (fixture_dir() / "seq_mlp.keras").read_bytes()
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}

    def zipped(files: dict) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        return buffer.getvalue()

    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["class_name"] = "Dancing"
    return {
        "wrong shape": zipped({**members, "model.weights.h5": _with_wrong_kernel(members["model.weights.h5"])}),
        "not a zip": b"hello, not a model",
        "no config": zipped({key: value for key, value in members.items() if key != "config.json"}),
        "truncated weights": zipped({**members, "model.weights.h5": members["model.weights.h5"][:300]}),
        "unknown layer": zipped({**members, "config.json": json.dumps(config).encode()}),
        "zip bomb": zipped({**members, "model.weights.h5": b"\0" * (1 << 28)}),
    }


def _with_wrong_kernel(weights: bytes) -> bytes:
    """The fixture's weights with the first Dense kernel one row short."""
    import h5py

    buffer = io.BytesIO(weights)
    with h5py.File(buffer, "r+") as file:
        kernel = file["layers/dense/vars/0"][...]
        del file["layers/dense/vars/0"]
        file["layers/dense/vars/0"] = kernel[1:]
    return buffer.getvalue()


@pytest.mark.parametrize("case", ["not a zip", "no config", "truncated weights", "wrong shape", "unknown layer",
                                  "zip bomb"])
def test_broken_archives_are_refused_with_nothing_written(cli, tmp_path, case):
    path = tmp_path / "broken.keras"
    path.write_bytes(broken_archives(tmp_path)[case])
    result = cli("import", path, "-o", tmp_path / "out.yaml", "--weights-out", tmp_path / "out.npz")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}: ") and "Traceback" not in result.stderr
    assert not (tmp_path / "out.yaml").exists() and not (tmp_path / "out.npz").exists()


def test_without_h5py_import_and_export_name_the_extra(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # `import h5py` now fails
    result = cli("import", fixture_dir() / "seq_mlp.keras", "-o", tmp_path / "m.yaml")
    assert result.exit_code == 1 and "pip install 'layerspec-yaml[keras]'" in result.stderr
    result = cli("export", SPECS / "mnist_mlp.yaml", "--to", "keras", "-o", tmp_path / "m.keras")
    assert result.exit_code == 1 and "pip install 'layerspec-yaml[keras]'" in result.stderr
    assert not (tmp_path / "m.yaml").exists() and not (tmp_path / "m.keras").exists()


def test_outputs_that_would_overwrite_an_input_are_refused(cli, tmp_path):
    archive = tmp_path / "m.keras"
    archive.write_bytes((fixture_dir() / "seq_mlp.keras").read_bytes())
    before = archive.read_bytes()
    result = cli("import", archive, "-o", archive)
    assert result.exit_code == 1
    assert result.stderr == f"error: {archive}: the output would overwrite the input file; choose another -o path\n"
    result = cli("import", archive, "-o", tmp_path / "m.yaml", "--weights-out", tmp_path / "m.yaml")
    assert result.exit_code == 1 and "--weights-out names the spec's -o file" in result.stderr
    spec = tmp_path / "s.yaml"
    spec.write_text((SPECS / "mnist_mlp.yaml").read_text())
    assert cli("export", spec, "--to", "keras", "-o", spec).exit_code == 1
    assert archive.read_bytes() == before and spec.read_text() == (SPECS / "mnist_mlp.yaml").read_text()
    assert not (tmp_path / "m.yaml").exists()


def test_export_to_standard_output_writes_the_archive_there(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from layerspec.cli import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["export", str(SPECS / "mnist_mlp.yaml"), "--to", "keras", "-o", "-"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "wrote standard output: 5 layers, 669,706 parameters\n"
    archive = zipfile.ZipFile(io.BytesIO(result.stdout_bytes))
    assert archive.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
    assert not (tmp_path / "-").exists()
