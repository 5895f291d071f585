"""`layerspec run --engine onnxruntime`: the same run, computed by ONNX Runtime."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from layerspec.onnx_engine import OnnxRuntimeEngine
from tests.conftest import SPECS
from tests.onnx_helpers import model_of

MLP = """
input: [8]
layers:
  - {units: 16, activation: relu}
  - {units: 4, activation: softmax}
"""


def run(cli, *arguments):
    result = cli("run", *arguments)
    assert result.exit_code == 0, result.stderr
    return result


def test_the_engine_stands_in_for_the_layers():
    model = model_of(MLP)
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    expected = model.predict(x)
    model.engine = OnnxRuntimeEngine(model)
    got = model.predict(x, batch_size=2)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert got.dtype == np.float32


@pytest.mark.parametrize("batch_size", ["1", "3", "1000"])
def test_run_streams_through_onnx_runtime_as_through_numpy(cli, write_spec, tmp_path, batch_size):
    spec = write_spec(MLP)
    x = np.random.default_rng(1).standard_normal((7, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    run(cli, spec, tmp_path / "x.npy", "--seed", "2", "-o", tmp_path / "numpy.npy")
    result = run(cli, spec, tmp_path / "x.npy", "--seed", "2", "-o", tmp_path / "ort.npy", "--engine", "onnxruntime",
                 "--batch-size", batch_size)
    assert result.stderr == f"wrote {tmp_path / 'ort.npy'}: shape (7, 4), dtype float32\n"
    np.testing.assert_allclose(np.load(tmp_path / "ort.npy"), np.load(tmp_path / "numpy.npy"), rtol=1e-5, atol=1e-6)


def test_run_checks_the_input_before_onnx_runtime_sees_it(cli, write_spec, tmp_path):
    spec = write_spec(MLP)
    np.save(tmp_path / "x.npy", np.zeros((2, 9), dtype=np.float32))
    result = cli("run", spec, tmp_path / "x.npy", "--engine", "onnxruntime")
    assert result.exit_code == 1
    assert "x.npy" in result.stderr and "Traceback" not in result.stderr


def test_run_converts_the_input_as_numpy_does(cli, write_spec, tmp_path):
    spec = write_spec(MLP)
    x = np.random.default_rng(1).standard_normal((3, 8))  # float64 into a float32 model
    np.save(tmp_path / "x.npy", x)
    run(cli, spec, tmp_path / "x.npy", "--seed", "0", "-o", tmp_path / "a.npy")
    run(cli, spec, tmp_path / "x.npy", "--seed", "0", "-o", tmp_path / "b.npy", "--engine", "onnxruntime")
    np.testing.assert_allclose(np.load(tmp_path / "b.npy"), np.load(tmp_path / "a.npy"), rtol=1e-5, atol=1e-6)


def test_run_of_several_inputs_and_outputs_through_onnx_runtime(cli, tmp_path):
    spec = SPECS / "two_tower.yaml"
    rng = np.random.default_rng(4)
    model = model_of(spec.read_text())
    arrays = {graph_input.name: rng.standard_normal((4,) + tuple(graph_input.shape)).astype(np.float32)
              for graph_input in model.graph.inputs}
    np.savez(tmp_path / "in.npz", **arrays)
    run(cli, spec, tmp_path / "in.npz", "--seed", "0", "-o", tmp_path / "a.npz")
    run(cli, spec, tmp_path / "in.npz", "--seed", "0", "-o", tmp_path / "b.npz", "--engine", "onnxruntime")
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-4, atol=1e-5)


def test_without_onnx_runtime_the_error_names_the_extra(cli, write_spec, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    spec = write_spec(MLP)
    np.save(tmp_path / "x.npy", np.zeros((2, 8), dtype=np.float32))
    result = cli("run", spec, tmp_path / "x.npy", "--engine", "onnxruntime", "-o", tmp_path / "y.npy")
    assert result.exit_code == 1
    assert result.stderr == ("error: --engine onnxruntime needs ONNX Runtime: "
                             "pip install 'layerspec-yaml[onnxruntime]'\n")
    assert not (tmp_path / "y.npy").exists()


@pytest.mark.parametrize("bad", [-3, 10000])
def test_ids_outside_the_table_are_refused_as_numpy_refuses_them(cli, tmp_path, bad):
    # ONNX's Gather would read -3 from the end of the table.
    np.save(tmp_path / "ids.npy", np.array([[1, 2, 3, 4], [5, 6, bad, 7]]))
    messages = set()
    for engine in ("numpy", "onnxruntime"):
        result = cli("run", SPECS / "text_lstm.yaml", tmp_path / "ids.npy", "--seed", "0", "--engine", engine)
        assert result.exit_code == 1
        messages.add(result.stderr)
    assert messages == {f"error: Embedding 'embedding': index {bad} at index (1, 2) is outside [0, 10000)\n"}
