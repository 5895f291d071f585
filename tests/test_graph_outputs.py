"""Layers with several outputs in graphs: ``name.output`` references, the
first output by default, the functional API's lists, summaries, to_yaml."""

import numpy as np
import pytest

import layerspec
from layerspec import Layer
from layerspec.errors import SpecError


class Split(Layer):
    """Two outputs: the first and second half of the last axis."""

    output_names = ["low", "high"]

    def compute_output_shape(self, input_shape):
        half = input_shape[-1] // 2
        return [input_shape[:-1] + (half,), input_shape[:-1] + (input_shape[-1] - half,)]

    def count_macs(self, input_shape):
        return 0

    def call(self, inputs):
        half = inputs.shape[-1] // 2
        return [inputs[..., :half], inputs[..., half:]]


@pytest.fixture(autouse=True)
def split_registered(clean_registry):
    layerspec.register(Split)


SPEC = """\
input: [6]
layers:
  - {type: Split, name: split}
  - {units: 2, name: a}
  - {units: 2, inputs: split.high, name: b}
  - {type: Add, inputs: [a, b]}
outputs: [add, split.low]
"""


def test_references_pick_outputs_and_the_bare_name_means_the_first():
    model = layerspec.loads(SPEC)
    model.init(seed=0)
    weights = model.get_weights()
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    added, low = model.predict(x)
    expected = (x[:, :3] @ weights["a/kernel"] + weights["a/bias"]) + (x[:, 3:] @ weights["b/kernel"]
                                                                       + weights["b/bias"])
    np.testing.assert_allclose(added, expected, rtol=1e-6)
    np.testing.assert_array_equal(low, x[:, :3])
    assert model.output_names == ["add", "split.low"]


def test_summary_shows_every_output_and_what_each_layer_reads():
    data = layerspec.loads(SPEC).summary_data()
    rows = {row["name"]: row for row in data["layers"]}
    assert rows["split"]["output_shape"] == [[None, 3], [None, 3]]
    assert rows["a"]["inputs"] == ["split.low"] and rows["b"]["inputs"] == ["split.high"]
    assert data["outputs"] == {"add": [None, 2], "split.low": [None, 3]}
    assert data["activation_bytes"] == (3 + 3 + 2 + 2 + 2) * 4
    assert "│ split (Split)                   │ (None, 3), (None, 3)" in str(data)


def test_an_unknown_output_name_is_an_error_at_the_reference():
    with pytest.raises(SpecError) as caught:
        layerspec.loads("input: [6]\nlayers:\n  - {type: Split, name: split}\n  - {units: 2, inputs: split.hgh}\n")
    assert str(caught.value) == ("<string>:4:24: 'split' has no output 'hgh': its outputs are low, high; "
                                 "did you mean 'high'?")
    with pytest.raises(SpecError, match="'dense' has no output 'x': it has one output"):
        layerspec.loads("input: [6]\nlayers:\n  - {units: 2}\n  - {units: 2, inputs: dense.x}\n")


def test_the_functional_api_returns_one_tensor_per_output():
    x = layerspec.Input((6,), name="x")
    low, high = Split(name="split")(x)
    model = layerspec.Model(x, [low, layerspec.layers.Dense(3, name="head")(high)])
    assert model.output_names == ["split.low", "head"]
    outputs = model.predict(np.ones((2, 6), np.float32))
    assert [output.shape for output in outputs] == [(2, 3), (2, 3)]


def test_to_yaml_writes_the_picks_and_loads_back():
    model = layerspec.loads(SPEC)
    text = model.to_yaml()
    assert "  - {type: Dense, name: b, units: 2, inputs: split.high}" in text
    assert text.endswith("outputs: [add, split.low]\n")
    again = layerspec.loads(text)
    assert again.summary_data().to_json() == model.summary_data().to_json()
