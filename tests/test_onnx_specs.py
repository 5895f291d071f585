"""Every example spec and every Keras fixture, exported to ONNX and run in
ONNX Runtime, computes what layerspec (and Keras) compute.

The issue's test of done: for every spec in specs/ (the zoo too), ONNX
Runtime's outputs on random inputs equal layerspec's forward pass with the
same weights (rtol 1e-4, atol 1e-5); the exported fixtures equal Keras's own
outputs.
"""

from __future__ import annotations

import numpy as np
import pytest

import layerspec
from layerspec.onnx_export import export_onnx
from layerspec.spec import build_model, read_spec
from tests.conftest import SPECS
from tests.keras_fixtures import assert_matches_keras, fixture_dir, fixture_names, load_fixture
from tests.onnx_helpers import assert_onnx_matches, session_of

EXAMPLES = sorted(SPECS.glob("*.yaml"))
ZOO = sorted((SPECS / "zoo").glob("*.yaml"))


def spec_id(path) -> str:
    return path.relative_to(SPECS).as_posix()


def built(path):
    model = build_model(read_spec(str(path)))
    model.init(seed=0)
    return model


@pytest.mark.parametrize("path", EXAMPLES, ids=spec_id)
def test_every_example_runs_unchanged_in_onnx_runtime(path):
    # Two batch sizes (and two lengths where the spec has a null size): the
    # batch and null axes are dynamic in the file.
    assert_onnx_matches(built(path))


@pytest.mark.parametrize("path", ZOO, ids=spec_id)
def test_every_zoo_model_runs_unchanged_in_onnx_runtime(path):
    # One batch of two: the zoo's models are big enough for one run to cost
    # seconds in NumPy.
    assert_onnx_matches(built(path), batches=(2,), lengths=(7,))


@pytest.mark.parametrize("name", fixture_names())
def test_every_keras_fixture_exported_computes_what_keras_computes(cli, tmp_path, name):
    fixture = load_fixture(name)
    spec, weights = tmp_path / f"{name}.yaml", tmp_path / f"{name}.npz"
    result = cli("import", fixture_dir() / f"{name}.keras", "-o", spec, "--weights-out", weights)
    assert result.exit_code == 0, result.stderr
    model = layerspec.load(str(spec))
    model.load_weights(str(weights))
    session = session_of(export_onnx(model))
    # A one-input model's input is `input` in the imported spec (Keras's
    # automatic `input_layer` is left implicit); several keep their names.
    given = [next(iter(fixture.inputs.values()))] if len(fixture.inputs) == 1 else \
        [fixture.inputs[name] for name in model.input_names]
    feed = {item.name: _as_input(array, item.type) for item, array in zip(session.get_inputs(), given)}
    outputs = session.run(None, feed)
    # As tests/test_interchange.py compares layerspec's own outputs: by the
    # model's output names, which import keeps Keras's.
    assert_matches_keras(fixture, outputs[0] if len(outputs) == 1 else dict(zip(model.output_names, outputs)))


def _as_input(array: np.ndarray, onnx_type: str) -> np.ndarray:
    """A fixture's input in the dtype the ONNX input declares."""
    dtypes = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32}
    return np.asarray(array).astype(dtypes[onnx_type])
