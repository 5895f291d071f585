"""The Python API as the README documents it."""

import json

import numpy as np
import pytest

import layerspec
from layerspec.errors import LayerspecError
from tests.conftest import SPECS

MLP = str(SPECS / "mnist_mlp.yaml")
TEXT = "name: tiny\ninput: [3]\nlayers:\n  - {units: 4, activation: relu}\n  - {units: 2, activation: softmax}\n"


def test_load_loads_and_dict_build_the_same_model():
    as_dict = {"name": "tiny", "input": [3],
               "layers": [{"units": 4, "activation": "relu"}, {"units": 2, "activation": "softmax"}]}
    models = [layerspec.loads(TEXT), layerspec.load(as_dict)]
    for model in models:
        assert model.name == "tiny" and model.output_shape == (None, 2) and model.count_params() == 26


def test_dict_errors_name_the_argument():
    with pytest.raises(LayerspecError) as caught:
        layerspec.load({"input": [3], "layers": [{"units": 0}]})
    assert str(caught.value) == "<dict>: layer 1 'dense' (Dense): argument 'units' must be an integer >= 1, got integer 0"


def test_summary_is_the_json_data_and_prints_as_the_table(cli):
    model = layerspec.load(MLP)
    summary = model.summary_data()
    assert summary == json.loads(cli("summary", MLP, "--format", "json").stdout)
    assert str(summary) == cli("summary", MLP).stdout.rstrip("\n")


def test_init_save_load_and_predict(tmp_path):
    model = layerspec.loads(TEXT).init(seed=0)
    model.save_weights(str(tmp_path / "w.npz"))
    other = layerspec.loads(TEXT)
    other.load_weights(str(tmp_path / "w.npz"))
    x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    np.testing.assert_array_equal(model(x), other(x))  # the same weights and batch: bit for bit
    # Batches of 3 rows against one of 10: BLAS may sum in another order,
    # ~1e-7 absolute on O(1) values; atol for the softmax's outputs near 0.
    np.testing.assert_allclose(other.predict(x, batch_size=3), model(x), rtol=1e-5, atol=1e-6)


def test_sequential_from_layer_objects_builds_on_first_input():
    model = layerspec.Sequential([layerspec.layers.Dense(8, activation="relu"), layerspec.layers.Dense(3)])
    assert not model.built
    out = model(np.ones((2, 5), np.float32))
    assert out.shape == (2, 3) and model.built and model.input_shape == (5,)
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]


def test_public_names():
    assert issubclass(layerspec.layers.Conv2D, layerspec.Layer)
    assert layerspec.activations.get("relu") is layerspec.activations.relu
    with pytest.raises(AttributeError):
        layerspec.no_such_thing  # noqa: B018
