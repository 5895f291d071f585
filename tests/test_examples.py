"""Every example in specs/ summarises, meets its `expect` block and runs."""

import json

import numpy as np
import pytest

import layerspec
from layerspec.spec import read_spec
from tests.conftest import SPECS

EXAMPLES = sorted(SPECS.glob("*.yaml"))
UNKNOWN_SIZE = 7  # stands in for `null` sizes when making sample inputs


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


def sample_input(spec_path, rows=3):
    spec = read_spec(str(spec_path))
    shape = tuple(UNKNOWN_SIZE if size is None else size for size in spec.input_shape)
    rng = np.random.default_rng(0)
    first = spec.layers[0].layer_class
    if getattr(first, "input_kind", "float") == "int":
        return rng.integers(0, spec.layers[0].arguments["input_dim"], (rows,) + shape)
    return rng.standard_normal((rows,) + shape).astype(np.float32)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_summary_meets_expectations(cli, path):
    spec = read_spec(str(path))
    for output_format in ("table", "markdown"):
        assert cli("summary", path, "--format", output_format).exit_code == 0
    data = json.loads(cli("summary", path, "--format", "json").stdout)
    expect = spec.expect
    assert expect, f"{path.name} should state what it expects"
    if "output_shape" in expect:
        assert data["output_shape"][1:] == expect["output_shape"]
    if "params" in expect:
        assert data["total_params"] == expect["params"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_run_gives_the_summarised_shape_and_the_api_values(cli, path, tmp_path):
    x = sample_input(path)
    np.save(tmp_path / "x.npy", x)
    result = cli("run", path, tmp_path / "x.npy", "--seed", "1", "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    y = np.load(tmp_path / "y.npy")
    model = layerspec.load(str(path))
    expected_shape = tuple(UNKNOWN_SIZE if s is None else s for s in model.output_shape[1:])
    assert y.shape == (len(x),) + expected_shape
    assert y.dtype == np.float32 and np.all(np.isfinite(y))
    np.testing.assert_allclose(y, model.init(seed=1).predict(x), rtol=1e-5, atol=1e-6)
