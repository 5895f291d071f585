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


def sample_inputs(spec_path, rows=3):
    """A random batch for each model input, by name: token ids for an input
    read by a layer that takes ids (an Embedding), floats otherwise."""
    spec = read_spec(str(spec_path))
    rng = np.random.default_rng(0)
    samples = {}
    for number, declared in enumerate(spec.inputs):
        shape = tuple(UNKNOWN_SIZE if size is None else size for size in declared.shape)
        reader = next(layer for layer, sources in zip(spec.layers, spec.wiring.sources) if number in sources)
        if getattr(reader.layer_class, "input_kind", "float") == "int":
            samples[declared.name] = rng.integers(0, reader.arguments["input_dim"], (rows,) + shape)
        else:
            samples[declared.name] = rng.standard_normal((rows,) + shape).astype(np.float32)
    return samples


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
    for name, shape in expect.get("output_shapes", {}).items():
        assert data["outputs"][name][1:] == shape
    assert "output_shape" in expect or "output_shapes" in expect, f"{path.name} should state its output shape"
    if "params" in expect:
        assert data["total_params"] == expect["params"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_run_gives_the_summarised_shape_and_the_api_values(cli, path, tmp_path):
    inputs = sample_inputs(path)
    if len(inputs) == 1:
        np.save(tmp_path / "x.npy", next(iter(inputs.values())))
        given = tmp_path / "x.npy"
    else:  # one .npz keyed by input name
        np.savez(tmp_path / "x.npz", **inputs)
        given = tmp_path / "x.npz"
    model = layerspec.load(str(path))
    several_outputs = len(model.output_names) > 1
    written = tmp_path / ("y.npz" if several_outputs else "y.npy")
    result = cli("run", path, given, "--seed", "1", "-o", written)
    assert result.exit_code == 0, result.stderr
    if several_outputs:
        with np.load(written) as archive:
            outputs = {name: archive[name] for name in archive.files}
    else:
        outputs = {model.output_names[0]: np.load(written)}
    assert list(outputs) == model.output_names
    expected = model.init(seed=1).predict(inputs if len(inputs) > 1 else next(iter(inputs.values())))
    expected = expected if several_outputs else [expected]
    rows = len(next(iter(inputs.values())))
    for (name, y), shape, want in zip(outputs.items(), model.output_shapes, expected):
        assert y.shape == (rows,) + tuple(UNKNOWN_SIZE if s is None else s for s in shape[1:]), name
        assert y.dtype == np.float32 and np.all(np.isfinite(y))
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
