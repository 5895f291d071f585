"""layerspec/keras_weights.py: Keras's HDF5 weight paths ↔ our weight keys.

Ground truth: the 13 real Keras 3 archives in tests/fixtures/keras and the
hand-written specs and mappings of tests/test_keras_fixtures*.py; for layer
types no fixture has, the paths Keras's saving_lib.py gives (a table per
type below); legacy Keras 2 ``.h5`` files are built here with h5py in the
layout of keras/src/legacy/saving/legacy_h5_format.py.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import textwrap

import numpy as np
import pytest

import layerspec
from layerspec import registry
from layerspec.errors import WeightsError
from layerspec.keras_weights import (KERAS_LAYOUT, LEGACY_CLASSES, WRAPPERS, keras_layer_entries,
                                     keras_saveable_names, layer_slots, weights_from_keras, weights_to_keras)
from layerspec.layers.base import Layer
from tests import test_keras_fixtures_attention as attention_fixtures
from tests import test_keras_fixtures_prep as prep_fixtures
from tests import test_keras_fixtures_recurrent as recurrent_fixtures
from tests.conftest import SPECS
from tests.keras_fixtures import fixture_dir, fixture_names, keras_weights, load_fixture, spec_model
from tests.test_keras_fixtures import FIXTURE_SPECS

h5py = pytest.importorskip("h5py")


@dataclasses.dataclass
class ModelFile:
    """What keras_archive.read_model_file returns (KerasModelFile's fields),
    made here so these tests need only this module."""

    config: dict
    weights: dict | None
    layout: str = "keras3"
    keras_version: str | None = "3.15.1"
    legacy_layer_names: list | None = None
    legacy_weight_names: dict | None = None
    saveable_names: dict | None = None


def fixture_file(name: str, **changes) -> ModelFile:
    fixture = load_fixture(name)
    return ModelFile(fixture.config, dict(fixture.h5), **changes)


def built(spec: str, seed: int | None = None):
    model = layerspec.loads(textwrap.dedent(spec))
    if seed is not None:
        model.init(seed=seed)
    return model


def assert_same_arrays(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for key in expected:
        assert got[key].dtype == expected[key].dtype, key
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


# --------------------------------------------------------------------------
# the fixtures: the hand mappings are the truth

#: Every hand-written spec of a fixture and its mapping (our key -> dataset),
#: from tests/test_keras_fixtures*.py.
HAND_MAPPINGS = {
    **{name: (spec, mapping) for name, (spec, mapping) in FIXTURE_SPECS.items()},
    "recurrent_wrappers, automatic names": (recurrent_fixtures.SPEC, recurrent_fixtures.mapping()),
    "transformer_block, attention file": (attention_fixtures.TRANSFORMER_BLOCK, {
        **attention_fixtures.attention_mapping(),
        **{f"{name}/{weight}": f"layers/{name}/vars/{number}" for name in ("layer_normalization",
                                                                              "layer_normalization_1")
           for number, weight in enumerate(("gamma", "beta"))},
        **{f"{name}/{weight}": f"layers/{name}/vars/{number}" for name in ("dense", "dense_1")
           for number, weight in enumerate(("kernel", "bias"))}}),
    "cross_attention, attention file": (attention_fixtures.CROSS_ATTENTION, attention_fixtures.attention_mapping()),
    "seq_cnn, augmented": (prep_fixtures.AUGMENTED, prep_fixtures.WEIGHTS),
    "seq_cnn, normalized": (prep_fixtures.NORMALIZED, prep_fixtures.WEIGHTS),
}


def fixture_of(case: str) -> str:
    return case.split(",")[0]


def test_every_fixture_has_a_hand_mapping():
    assert {fixture_of(case) for case in HAND_MAPPINGS} == set(fixture_names())


@pytest.mark.parametrize("case", sorted(HAND_MAPPINGS))
def test_weights_from_keras_gives_what_the_hand_mapping_gives(case):
    spec, mapping = HAND_MAPPINGS[case]
    fixture = load_fixture(fixture_of(case))
    model = spec_model(spec)
    got = weights_from_keras(model, ModelFile(fixture.config, dict(fixture.h5)))
    expected = keras_weights(fixture, mapping)
    assert list(got) == [key for key, _ in model.weight_items()]
    assert sorted(got) == sorted(expected)
    for key in got:
        assert got[key] is expected[key], key  # the file's arrays, untouched


@pytest.mark.parametrize("case", sorted(HAND_MAPPINGS))
def test_weights_to_keras_after_weights_from_keras_gives_the_files_datasets(case):
    spec, _ = HAND_MAPPINGS[case]
    fixture = load_fixture(fixture_of(case))
    model = spec_model(spec)
    model.set_weights(weights_from_keras(model, ModelFile(fixture.config, dict(fixture.h5))))
    back = weights_to_keras(model, fixture.config)
    assert sorted(back) == sorted(fixture.h5)
    for path, array in back.items():
        assert array.dtype == fixture.h5[path].dtype and array.shape == fixture.h5[path].shape, path
        np.testing.assert_array_equal(array, fixture.h5[path], err_msg=path)


def test_weights_to_keras_follows_the_configs_layer_order():
    fixture = load_fixture("func_resnet")
    model = spec_model(FIXTURE_SPECS["func_resnet"][0], keras_weights(fixture, FIXTURE_SPECS["func_resnet"][1]))
    assert list(weights_to_keras(model, fixture.config)) == [
        "layers/conv2d/vars/0", "layers/conv2d/vars/1", "layers/conv2d_1/vars/0", "layers/conv2d_1/vars/1",
        "layers/conv2d_2/vars/0", "layers/conv2d_2/vars/1", "layers/dense/vars/0", "layers/dense/vars/1"]
    assert weights_to_keras(model, fixture.config)["layers/conv2d/vars/0"] is model.get_weights()["stem/kernel"]


def test_read_through_keras_archive_with_its_layer_names():
    """The real reader's KerasModelFile, whose vars groups' names are checked
    against the config's order."""
    from layerspec.keras_archive import read_model_file

    file = read_model_file(fixture_dir() / "func_resnet.keras")
    assert file.saveable_names["layers/conv2d"] == "stem"
    spec, mapping = FIXTURE_SPECS["func_resnet"]
    model = spec_model(spec)
    got = weights_from_keras(model, file)
    expected = keras_weights(load_fixture("func_resnet"), mapping)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


def test_a_stored_name_that_contradicts_the_order_is_refused():
    file = fixture_file("func_resnet", saveable_names={"layers/conv2d": "conv2d", "layers/conv2d_1": "stem"})
    with pytest.raises(WeightsError) as error:
        weights_from_keras(spec_model(FIXTURE_SPECS["func_resnet"][0]), file)
    assert error.value.message == ("layers[1] 'stem' (Conv2D): model.weights.h5 keeps layer 'conv2d' at "
                                   "'layers/conv2d', where the config's layer order puts 'stem'")


# --------------------------------------------------------------------------
# the config walk


def test_groups_follow_class_and_order_not_names():
    entries = keras_layer_entries(load_fixture("func_resnet").config)
    assert [(entry.keras_name, entry.group) for entry in entries] == [
        ("stem", "layers/conv2d"), ("conv2d", "layers/conv2d_1"), ("conv2d_1", "layers/conv2d_2"),
        ("add", "layers/add"), ("re_lu", "layers/re_lu"),
        ("global_average_pooling2d", "layers/global_average_pooling2d"), ("dense", "layers/dense")]
    assert entries[0].where == "layers[1] 'stem' (Conv2D)"


def test_a_nested_models_layers_are_a_level_down():
    entries = keras_layer_entries(load_fixture("nested").config)
    assert [(entry.path, entry.group, entry.containers) for entry in entries] == [
        ("block/dense", "layers/sequential/layers/dense", ("block",)),
        ("block/dense_1", "layers/sequential/layers/dense_1", ("block",)),
        ("add", "layers/add", ()),
        ("layer_normalization", "layers/layer_normalization", ()),
        ("dense_2", "layers/dense", ())]
    assert entries[1].where == "layers[1] 'block' (Sequential) > layers[2] 'dense_1' (Dense)"


def test_a_nested_model_imported_as_a_block_finds_its_weights_by_path():
    fixture = load_fixture("nested")
    model = built("""
        blocks:
          block:
            layers:
              - {type: Dense, units: 12, activation: relu}
              - {type: Dense, units: 12}
        inputs: {x: [12]}
        layers:
          - {type: block, inputs: x}
          - {type: Add, inputs: [x, block]}
          - {type: LayerNormalization}
          - {type: Dense, units: 3, name: dense_2}
        outputs: dense_2
    """)
    got = weights_from_keras(model, ModelFile(fixture.config, dict(fixture.h5)))
    assert got["block/dense_1/kernel"] is fixture.h5["layers/sequential/layers/dense_1/vars/0"]
    assert got["dense_2/kernel"] is fixture.h5["layers/dense/vars/0"]
    model.set_weights(got)
    assert sorted(weights_to_keras(model, fixture.config)) == sorted(fixture.h5)


def test_names_map_keras_paths_onto_other_layer_names():
    fixture = load_fixture("shared_layer")
    model = spec_model(FIXTURE_SPECS["shared_layer"][0].replace("encoder", "projection"))
    with pytest.raises(WeightsError, match="the model's layer 'projection' \\(Dense\\) has weights but no layer"):
        weights_from_keras(model, ModelFile(fixture.config, dict(fixture.h5)))
    got = weights_from_keras(model, ModelFile(fixture.config, dict(fixture.h5)), names={"encoder": "projection"})
    assert got["projection/bias"] is fixture.h5["layers/dense/vars/1"]


def test_operations_and_input_layers_take_no_group():
    config = {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"name": "x"}},
        {"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "add"}},
        {"module": "keras.layers", "class_name": "Add", "config": {"name": "add_1"}},
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d"}}]}}
    assert [(entry.keras_name, entry.group) for entry in keras_layer_entries(config)] == [
        ("add_1", "layers/add"), ("d", "layers/dense")]
    assert keras_saveable_names(config) == {"": "m", "layers/input_layer": "x", "layers/add": "add_1",
                                            "layers/dense": "d"}


def test_a_config_without_layers_is_refused():
    with pytest.raises(WeightsError, match="^the model: a Keras model config needs a 'layers' list$"):
        keras_layer_entries({"class_name": "Sequential", "config": {"name": "m"}})
    with pytest.raises(WeightsError, match=r"^layers\[0\]: a Keras layer needs a 'class_name' and a name$"):
        keras_layer_entries({"class_name": "Sequential", "config": {"layers": [{"config": {}}]}})


@pytest.mark.parametrize("name", fixture_names())
def test_saveable_names_are_the_ones_keras_wrote(name):
    from layerspec.keras_archive import read_model_file

    file = read_model_file(fixture_dir() / f"{name}.keras")
    assert keras_saveable_names(file.config) == file.saveable_names


# --------------------------------------------------------------------------
# every layer type with weights: its Keras paths, both ways


def keras_config(model, class_name: str = "Functional") -> dict:
    """A Keras config listing the model's layers (class and name): all the
    weights mapping reads of a config."""
    inputs = [{"module": "keras.layers", "class_name": "InputLayer", "config": {"name": name}}
              for name in model.input_names]
    layers = [{"module": "keras.layers", "class_name": type(layer).__name__, "config": {"name": layer.name}}
              for layer in model.layers]
    return {"module": "keras", "class_name": class_name, "config": {"name": model.name, "layers": inputs + layers}}


def dense_paths(layer: str, group: str, names=("kernel", "bias")) -> dict:
    return {f"{layer}/{name}": f"{group}/vars/{number}" for number, name in enumerate(names)}


#: Layer type -> (a small spec using it, our weight key -> Keras dataset path).
TYPE_CASES = {
    "Dense": ("input: [4]\nlayers:\n  - {type: Dense, units: 3}\n  - {type: Dense, units: 2, use_bias: false}",
              {**dense_paths("dense", "layers/dense"), "dense_1/kernel": "layers/dense_1/vars/0"}),
    "EinsumDense": ("input: [5, 4]\nlayers:\n  - {type: EinsumDense, equation: 'abc,cd->abd', output_shape: "
                    "[null, 3], bias_axes: d}", dense_paths("einsum_dense", "layers/einsum_dense")),
    "Conv1D": ("input: [8, 2]\nlayers:\n  - {type: Conv1D, filters: 3, kernel_size: 2}",
               dense_paths("conv1d", "layers/conv1d")),
    "Conv2D": ("input: [6, 6, 2]\nlayers:\n  - {type: Conv2D, filters: 3, kernel_size: 2, use_bias: false}\n"
               "  - {type: Conv2D, filters: 3, kernel_size: 2, name: second}",
               {"conv2d/kernel": "layers/conv2d/vars/0", **dense_paths("second", "layers/conv2d_1")}),
    "Conv3D": ("input: [4, 4, 4, 1]\nlayers:\n  - {type: Conv3D, filters: 2, kernel_size: 2}",
               dense_paths("conv3d", "layers/conv3d")),
    "Conv1DTranspose": ("input: [5, 2]\nlayers:\n  - {type: Conv1DTranspose, filters: 3, kernel_size: 2}",
                        dense_paths("conv1d_transpose", "layers/conv1d_transpose")),
    "Conv2DTranspose": ("input: [4, 4, 2]\nlayers:\n  - {type: Conv2DTranspose, filters: 3, kernel_size: 2}",
                        dense_paths("conv2d_transpose", "layers/conv2d_transpose")),
    "DepthwiseConv1D": ("input: [6, 2]\nlayers:\n  - {type: DepthwiseConv1D, kernel_size: 2}",
                        dense_paths("depthwise_conv1d", "layers/depthwise_conv1d")),
    "DepthwiseConv2D": ("input: [5, 5, 2]\nlayers:\n  - {type: DepthwiseConv2D, kernel_size: 2, depth_multiplier: 2}",
                        dense_paths("depthwise_conv2d", "layers/depthwise_conv2d")),
    "SeparableConv1D": ("input: [6, 2]\nlayers:\n  - {type: SeparableConv1D, filters: 3, kernel_size: 2}",
                        dense_paths("separable_conv1d", "layers/separable_conv1d",
                                    ("depthwise_kernel", "pointwise_kernel", "bias"))),
    "SeparableConv2D": ("input: [5, 5, 2]\nlayers:\n  - {type: SeparableConv2D, filters: 3, kernel_size: 2, "
                        "use_bias: false}",
                        dense_paths("separable_conv2d", "layers/separable_conv2d",
                                    ("depthwise_kernel", "pointwise_kernel"))),
    "Embedding": ("input: [5]\nlayers:\n  - {type: Embedding, input_dim: 10, output_dim: 3}",
                  {"embedding/embeddings": "layers/embedding/vars/0"}),
    "PositionEmbedding": ("input: [5, 3]\nlayers:\n  - {type: PositionEmbedding, sequence_length: 8}",
                          {"position_embedding/embeddings": "layers/position_embedding/vars/0"}),
    # center false: gamma, then the moving statistics move up.
    "BatchNormalization": ("input: [3]\nlayers:\n  - {type: BatchNormalization, center: false}",
                           dense_paths("batch_normalization", "layers/batch_normalization",
                                       ("gamma", "moving_mean", "moving_variance"))),
    "LayerNormalization": ("input: [3]\nlayers:\n  - {type: LayerNormalization, scale: false}",
                           {"layer_normalization/beta": "layers/layer_normalization/vars/0"}),
    "GroupNormalization": ("input: [4]\nlayers:\n  - {type: GroupNormalization, groups: 2}",
                           dense_paths("group_normalization", "layers/group_normalization", ("gamma", "beta"))),
    "Normalization": ("input: [3]\nlayers:\n  - {type: Normalization}",
                      dense_paths("normalization", "layers/normalization", ("mean", "variance", "count"))),
    "PReLU": ("input: [3]\nlayers:\n  - {type: PReLU}", {"p_re_lu/alpha": "layers/p_re_lu/vars/0"}),
    "Attention": ("inputs: {q: [3, 4], v: [5, 4]}\nlayers:\n  - {type: Attention, use_scale: true, score_mode: "
                  "concat, inputs: [q, v]}",
                  dense_paths("attention", "layers/attention", ("scale", "concat_score_weight"))),
    "AdditiveAttention": ("inputs: {q: [3, 4], v: [5, 4]}\nlayers:\n  - {type: AdditiveAttention, inputs: [q, v]}",
                          {"additive_attention/scale": "layers/additive_attention/vars/0"}),
    "SimpleRNN": ("input: [5, 2]\nlayers:\n  - {type: SimpleRNN, units: 3}",
                  dense_paths("simple_rnn", "layers/simple_rnn/cell", ("kernel", "recurrent_kernel", "bias"))),
    "LSTM": ("input: [5, 2]\nlayers:\n  - {type: LSTM, units: 3, use_bias: false}",
             dense_paths("lstm", "layers/lstm/cell", ("kernel", "recurrent_kernel"))),
    "GRU": ("input: [5, 2]\nlayers:\n  - {type: GRU, units: 3}",
            dense_paths("gru", "layers/gru/cell", ("kernel", "recurrent_kernel", "bias"))),
    "ConvLSTM1D": ("input: [3, 5, 2]\nlayers:\n  - {type: ConvLSTM1D, filters: 2, kernel_size: 2}",
                   dense_paths("conv_lstm1d", "layers/conv_lstm1d/cell", ("kernel", "recurrent_kernel", "bias"))),
    "ConvLSTM2D": ("input: [3, 4, 4, 2]\nlayers:\n  - {type: ConvLSTM2D, filters: 2, kernel_size: 2}",
                   dense_paths("conv_lstm2d", "layers/conv_lstm2d/cell", ("kernel", "recurrent_kernel", "bias"))),
    "ConvLSTM3D": ("input: [2, 3, 3, 3, 1]\nlayers:\n  - {type: ConvLSTM3D, filters: 2, kernel_size: 2}",
                   dense_paths("conv_lstm3d", "layers/conv_lstm3d/cell", ("kernel", "recurrent_kernel", "bias"))),
    # The gate has no public property in Keras: saved under its attribute.
    "MultiHeadAttention": ("inputs: {q: [3, 4], v: [5, 4]}\nlayers:\n  - {type: MultiHeadAttention, num_heads: 2, "
                           "key_dim: 3, use_gate: true, inputs: [q, v]}",
                           {**dense_paths("multi_head_attention/query", "layers/multi_head_attention/query_dense"),
                            **dense_paths("multi_head_attention/key", "layers/multi_head_attention/key_dense"),
                            **dense_paths("multi_head_attention/gate", "layers/multi_head_attention/_gate_dense"),
                            **dense_paths("multi_head_attention/value", "layers/multi_head_attention/value_dense"),
                            **dense_paths("multi_head_attention/attention_output",
                                          "layers/multi_head_attention/output_dense")}),
    "Bidirectional": ("input: [5, 2]\nlayers:\n  - {type: Bidirectional, layer: {type: SimpleRNN, units: 3}}",
                      {**dense_paths("bidirectional/forward_simple_rnn",
                                     "layers/bidirectional/forward_layer/cell",
                                     ("kernel", "recurrent_kernel", "bias")),
                       **dense_paths("bidirectional/backward_simple_rnn",
                                     "layers/bidirectional/backward_layer/cell",
                                     ("kernel", "recurrent_kernel", "bias"))}),
    # Wrappers inside wrappers: the attribute groups nest, as our sublayer names do.
    "TimeDistributed": ("input: [2, 5, 3]\nlayers:\n  - {type: TimeDistributed, layer: {type: Dense, units: 2}}\n"
                        "  - type: TimeDistributed\n    layer: {type: Bidirectional, layer: {type: GRU, units: 2}}",
                        {**dense_paths("time_distributed/dense", "layers/time_distributed/layer"),
                         **dense_paths("time_distributed_1/bidirectional/forward_gru",
                                       "layers/time_distributed_1/layer/forward_layer/cell",
                                       ("kernel", "recurrent_kernel", "bias")),
                         **dense_paths("time_distributed_1/bidirectional/backward_gru",
                                       "layers/time_distributed_1/layer/backward_layer/cell",
                                       ("kernel", "recurrent_kernel", "bias"))}),
}


@pytest.mark.parametrize("kind", sorted(TYPE_CASES))
def test_each_type_maps_both_ways(kind):
    spec, expected = TYPE_CASES[kind]
    model = built(spec, seed=5)
    config = keras_config(model)
    ours = model.get_weights()
    theirs = weights_to_keras(model, config)
    assert sorted(theirs) == sorted(expected.values())
    assert {key: theirs[path].shape for key, path in expected.items()} == \
        {key: array.shape for key, array in ours.items()}
    back = weights_from_keras(built(spec), ModelFile(config, theirs))
    assert list(back) == list(ours)
    for key, path in expected.items():
        np.testing.assert_array_equal(back[key], ours[key])
        if kind != "Normalization":
            assert theirs[path] is ours[key]  # nothing copied or converted


def test_normalizations_count_is_written_as_keras_int():
    model = built(TYPE_CASES["Normalization"][0], seed=0)
    model.set_weights({"normalization/mean": np.zeros(3, np.float32),
                       "normalization/variance": np.ones(3, np.float32),
                       "normalization/count": np.array(7, np.float32)})
    theirs = weights_to_keras(model, keras_config(model))
    assert theirs["layers/normalization/vars/2"].dtype == np.int32
    assert theirs["layers/normalization/vars/2"] == 7
    back = weights_from_keras(built(TYPE_CASES["Normalization"][0]), ModelFile(keras_config(model), theirs))
    assert back["normalization/count"].dtype == np.float32 and back["normalization/count"] == 7


def test_every_layer_type_with_weights_has_a_keras_layout_and_a_case():
    """A registered class whose code declares weights (add_weight, or a
    wrapper's sublayers) is in the table and tested above; the table holds
    registered classes only."""
    with_weights = set()
    for cls in registry.classes().values():  # aliases too: the same classes
        if any(("add_weight" in source or "_build_sublayer" in source)
               for source in _own_sources(cls)):
            with_weights.add(cls.__name__)
    assert with_weights == set(KERAS_LAYOUT) | set(WRAPPERS) == set(TYPE_CASES)


def _own_sources(cls) -> list[str]:
    """The source of each class between ``cls`` and Layer."""
    return [inspect.getsource(klass) for klass in cls.__mro__
            if issubclass(klass, Layer) and klass is not Layer and klass.__module__.startswith("layerspec")]


def test_layer_slots_of_an_lstm():
    model = built("input: [5, 2]\nlayers:\n  - {type: LSTM, units: 3}")
    assert layer_slots(model.layers[0]) == [("kernel", "cell/vars/0"), ("recurrent_kernel", "cell/vars/1"),
                                            ("bias", "cell/vars/2")]


# --------------------------------------------------------------------------
# refusals, each naming what is at fault


def test_a_missing_dataset_is_named():
    file = fixture_file("seq_mlp")
    del file.weights["layers/dense_2/vars/1"]
    with pytest.raises(WeightsError) as error:
        weights_from_keras(spec_model(FIXTURE_SPECS["seq_mlp"][0]), file)
    assert error.value.message == ("layers[4] 'dense_2' (Dense): no dataset 'layers/dense_2/vars/1' in "
                                   "model.weights.h5 for weight 'dense_2/bias' (4,)")


def test_a_wrong_shape_names_both():
    file = fixture_file("seq_mlp")
    file.weights["layers/dense/vars/0"] = np.zeros((20, 31), np.float32)
    with pytest.raises(WeightsError) as error:
        weights_from_keras(spec_model(FIXTURE_SPECS["seq_mlp"][0]), file)
    assert error.value.message == ("layers[1] 'dense' (Dense): dataset 'layers/dense/vars/0' has shape (20, 31); "
                                   "weight 'dense/kernel' has shape (20, 32)")


def test_a_variable_our_layer_lacks_is_refused():
    file = fixture_file("seq_mlp")
    file.weights["layers/dense_1/vars/1"] = np.zeros(16, np.float32)  # a bias the spec says is not there
    with pytest.raises(WeightsError) as error:
        weights_from_keras(spec_model(FIXTURE_SPECS["seq_mlp"][0]), file)
    assert error.value.message == ("layers[3] 'dense_1' (Dense): dataset 'layers/dense_1/vars/1' in "
                                   "model.weights.h5 is a variable the model's layer does not have")


def test_a_dataset_of_no_layer_is_refused():
    file = fixture_file("seq_mlp")
    file.weights["layers/dense_7/vars/0"] = np.zeros(3, np.float32)
    file.weights["layers/dense_8/vars/0"] = np.zeros(3, np.float32)
    with pytest.raises(WeightsError) as error:
        weights_from_keras(spec_model(FIXTURE_SPECS["seq_mlp"][0]), file)
    assert error.value.message == ("dataset 'layers/dense_7/vars/0' in model.weights.h5 belongs to no layer of "
                                   "the config (and 1 more)")


def test_training_state_outside_layers_is_ignored():
    file = fixture_file("seq_mlp")
    file.weights["optimizer/vars/0"] = np.array(10, np.int64)
    file.weights["optimizer/vars/1"] = np.zeros((20, 32), np.float32)
    got = weights_from_keras(spec_model(FIXTURE_SPECS["seq_mlp"][0]), file)
    assert len(got) == 5


def test_keras_2_13_archives_name_the_top_group_otherwise():
    fixture = load_fixture("seq_mlp")
    renamed = {path.replace("layers", "_layer_checkpoint_dependencies"): array for path, array in fixture.h5.items()}
    got = weights_from_keras(spec_model(FIXTURE_SPECS["seq_mlp"][0]), ModelFile(fixture.config, renamed))
    assert got["dense_2/bias"] is fixture.h5["layers/dense_2/vars/1"]


def test_a_layer_of_another_class_is_refused():
    fixture = load_fixture("seq_mlp")
    spec = FIXTURE_SPECS["seq_mlp"][0].replace("{type: Dense, units: 32, activation: relu, name: dense}",
                                               "{type: EinsumDense, equation: 'ab,bc->ac', output_shape: 32, "
                                               "bias_axes: c, name: dense}")
    with pytest.raises(WeightsError) as error:
        weights_from_keras(spec_model(spec), ModelFile(fixture.config, dict(fixture.h5)))
    assert error.value.message == "layers[1] 'dense' (Dense): the model's layer 'dense' is a EinsumDense, not a Dense"


def test_a_weighted_layer_missing_from_the_config_is_named():
    fixture = load_fixture("seq_mlp")
    spec = FIXTURE_SPECS["seq_mlp"][0] + "      - {type: Dense, units: 2, name: extra}\n"
    with pytest.raises(WeightsError) as error:
        weights_to_keras(spec_model(spec).init(seed=0), fixture.config)
    assert error.value.message == ("the model's layer 'extra' (Dense) has weights but no layer of the Keras config "
                                   "is it (the config's layers: 'dense', 'dropout', 'dense_1', 'dense_2')")


def test_a_layer_class_without_a_layout_is_refused_by_name():
    class Scaled(Layer):
        def build(self, input_shape):
            self.factor = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="factor")

        def call(self, inputs):
            return inputs * self.factor

    model = layerspec.Sequential([Scaled(name="scaled")], input_shape=(3,))
    model.build()
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "Scaled", "config": {"name": "scaled"}}]}}
    with pytest.raises(WeightsError) as error:
        weights_to_keras(model.init(seed=0), config)
    assert error.value.message == ("layers[0] 'scaled' (Scaled): layer 'scaled' (Scaled): layerspec does not know "
                                   "where Keras stores the weights of a Scaled")


def test_weights_without_values_are_refused_on_export():
    model = spec_model(FIXTURE_SPECS["seq_mlp"][0])
    with pytest.raises(WeightsError, match="^weight 'dense/kernel' has no value yet: initialise or load the "
                                           "weights first$"):
        weights_to_keras(model, load_fixture("seq_mlp").config)


def test_a_file_without_weights_is_refused():
    with pytest.raises(WeightsError, match=r"^the file holds no weights \(a JSON config is the architecture only\)$"):
        weights_from_keras(spec_model(FIXTURE_SPECS["seq_mlp"][0]), ModelFile(load_fixture("seq_mlp").config, None))


# --------------------------------------------------------------------------
# legacy Keras 2 .h5, built here in Keras 2's layout


def write_legacy_h5(path, layers: dict[str, list[tuple[str, np.ndarray]]], extra=()) -> None:
    """A Keras 2 full-model file: ``model_weights`` with attribute
    ``layer_names``, one group per layer with ``weight_names``, each weight a
    dataset at ``model_weights/<layer>/<weight name>`` (names like
    ``dense/kernel:0`` make nested groups)."""
    with h5py.File(path, "w") as file:
        file.attrs["keras_version"] = b"2.15.0"
        file.attrs["backend"] = b"tensorflow"
        file.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": []}}).encode()
        root = file.create_group("model_weights")
        root.attrs["layer_names"] = [name.encode() for name in layers]
        for name in sorted(layers):  # Keras writes the groups sorted by name
            group = root.create_group(name)
            group.attrs["weight_names"] = [weight.encode() for weight, _ in layers[name]]
            for weight, array in layers[name]:
                group.create_dataset(weight, data=array)
        for path_inside, array in extra:
            file.create_dataset(path_inside, data=array)


def text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_legacy_h5(path) -> ModelFile:
    """What keras_archive reads from such a file (datasets by path under
    the root, the two name attributes)."""
    weights = {}
    with h5py.File(path, "r") as file:
        file.visititems(lambda name, item: weights.__setitem__(name, item[()])
                        if isinstance(item, h5py.Dataset) else None)
        root = file["model_weights"]
        layer_names = [text(name) for name in root.attrs["layer_names"]]
        weight_names = {name: [text(weight) for weight in root[name].attrs["weight_names"]]
                        for name in layer_names}
    return ModelFile({"class_name": "Sequential", "config": {"layers": []}}, weights, layout="legacy",
                     keras_version="2.15.0", legacy_layer_names=layer_names, legacy_weight_names=weight_names)


LEGACY_SPEC = """
    input: [6, 6, 2]
    layers:
      - {type: Conv2D, filters: 3, kernel_size: 3}
      - {type: BatchNormalization}
      - {type: Reshape, target_shape: [4, 12]}
      - {type: LSTM, units: 4, return_sequences: true}
      - {type: Bidirectional, layer: {type: GRU, units: 2, return_sequences: true}}
      - {type: SimpleRNN, units: 3}
      - {type: Dropout, rate: 0.5}
      - {type: Dense, units: 2}
"""

#: The model's layers with the weight names tf.keras 2 gives them, in its order.
LEGACY_WEIGHT_NAMES = {
    "conv2d": ["conv2d/kernel:0", "conv2d/bias:0"],
    "batch_normalization": ["batch_normalization/gamma:0", "batch_normalization/beta:0",
                            "batch_normalization/moving_mean:0", "batch_normalization/moving_variance:0"],
    "reshape": [],
    "lstm": ["lstm/lstm_cell/kernel:0", "lstm/lstm_cell/recurrent_kernel:0", "lstm/lstm_cell/bias:0"],
    "bidirectional": [f"bidirectional/{direction}_gru/gru_cell/{weight}:0" for direction in ("forward", "backward")
                      for weight in ("kernel", "recurrent_kernel", "bias")],
    "simple_rnn": ["simple_rnn/simple_rnn_cell/kernel:0", "simple_rnn/simple_rnn_cell/recurrent_kernel:0",
                   "simple_rnn/simple_rnn_cell/bias:0"],
    "dropout": [],
    "dense": ["dense/kernel:0", "dense/bias:0"],
}


def legacy_layers(model) -> dict:
    """Each layer's (weight name, array) in Keras 2's order: our weights,
    trainable ones first (a BatchNormalization's moving statistics last)."""
    weights = model.get_weights()
    ours = {"conv2d": ["kernel", "bias"], "batch_normalization": ["gamma", "beta", "moving_mean", "moving_variance"],
            "lstm": ["kernel", "recurrent_kernel", "bias"],
            "bidirectional": [f"{direction}_gru/{weight}" for direction in ("forward", "backward")
                              for weight in ("kernel", "recurrent_kernel", "bias")],
            "simple_rnn": ["kernel", "recurrent_kernel", "bias"], "dense": ["kernel", "bias"]}
    return {layer: [(h5_name, weights[f"{layer}/{ours[layer][number]}"])
                    for number, h5_name in enumerate(names)]
            for layer, names in LEGACY_WEIGHT_NAMES.items()}


@pytest.fixture
def legacy(tmp_path):
    model = built(LEGACY_SPEC, seed=2)
    path = tmp_path / "model.h5"
    write_legacy_h5(path, legacy_layers(model))
    return model, path


def test_legacy_weights_are_read_by_layer_name_in_weight_names_order(legacy):
    model, path = legacy
    file = read_legacy_h5(path)
    assert file.weights["model_weights/bidirectional/bidirectional/backward_gru/gru_cell/bias:0"].shape == (2, 6)
    got = weights_from_keras(built(LEGACY_SPEC), file)
    assert_same_arrays(got, model.get_weights())


def test_legacy_through_keras_archive(legacy):
    from layerspec.keras_archive import read_model_file

    model, path = legacy
    file = read_model_file(path)
    assert file.layout == "legacy"
    assert_same_arrays(weights_from_keras(built(LEGACY_SPEC), file), model.get_weights())


def test_legacy_optimizer_weights_are_ignored(legacy, tmp_path):
    model, _ = legacy
    path = tmp_path / "trained.h5"
    write_legacy_h5(path, legacy_layers(model), extra=[("optimizer_weights/iter:0", np.array(3))])
    assert_same_arrays(weights_from_keras(built(LEGACY_SPEC), read_legacy_h5(path)), model.get_weights())


def test_legacy_count_mismatch_names_both_lists(legacy, tmp_path):
    model, _ = legacy
    layers = legacy_layers(model)
    layers["dense"] = layers["dense"][:1]
    path = tmp_path / "short.h5"
    write_legacy_h5(path, layers)
    with pytest.raises(WeightsError) as error:
        weights_from_keras(built(LEGACY_SPEC), read_legacy_h5(path))
    assert error.value.message == ("layer 'dense' of the .h5 file (Dense) holds 1 weight (dense/kernel:0); the "
                                   "model's layer has 2 (kernel, bias)")


def test_legacy_wrong_shape_names_both(legacy, tmp_path):
    model, _ = legacy
    layers = legacy_layers(model)
    layers["dense"][1] = ("dense/bias:0", np.zeros(5, np.float32))
    path = tmp_path / "shape.h5"
    write_legacy_h5(path, layers)
    with pytest.raises(WeightsError) as error:
        weights_from_keras(built(LEGACY_SPEC), read_legacy_h5(path))
    assert error.value.message == ("layer 'dense' of the .h5 file: dataset 'model_weights/dense/dense/bias:0' has "
                                   "shape (5,); weight 'dense/bias' has shape (2,)")


def test_legacy_unknown_layer_and_missing_layer(legacy, tmp_path):
    model, _ = legacy
    layers = legacy_layers(model)
    layers["dense_9"] = layers.pop("dense")
    path = tmp_path / "renamed.h5"
    write_legacy_h5(path, layers)
    with pytest.raises(WeightsError) as error:
        weights_from_keras(built(LEGACY_SPEC), read_legacy_h5(path))
    assert error.value.message == "layer 'dense_9' of the .h5 file: the model has no layer of that name"
    del layers["dense_9"]
    write_legacy_h5(path, layers)
    with pytest.raises(WeightsError) as error:
        weights_from_keras(built(LEGACY_SPEC), read_legacy_h5(path))
    assert error.value.message == ("the model's layer 'dense' (Dense) has weights, but the .h5 file holds none for "
                                   "it (no layer of that name with weight_names in model_weights)")


def test_legacy_refuses_classes_whose_keras_2_order_is_not_known(tmp_path):
    model = built("input: [3, 4]\nlayers:\n  - {type: MultiHeadAttention, num_heads: 1, key_dim: 2}", seed=0)
    weights = model.get_weights()
    path = tmp_path / "mha.h5"
    write_legacy_h5(path, {"multi_head_attention": [(f"multi_head_attention/{key.split('/', 1)[1]}:0", array)
                                                    for key, array in weights.items()]})
    with pytest.raises(WeightsError) as error:
        weights_from_keras(built("input: [3, 4]\nlayers:\n  - {type: MultiHeadAttention, num_heads: 1, key_dim: 2}"),
                           read_legacy_h5(path))
    supported = ", ".join(sorted(LEGACY_CLASSES))
    assert error.value.message == (f"layer 'multi_head_attention' of the .h5 file (MultiHeadAttention): reading a "
                                   f"MultiHeadAttention's weights from a legacy Keras 2 .h5 is not supported "
                                   f"(supported: {supported}); save the model with Keras 3 as .keras")


def test_legacy_refuses_a_wrapped_class_it_does_not_know(tmp_path):
    spec = "input: [2, 3, 4]\nlayers:\n  - {type: TimeDistributed, layer: {type: LayerNormalization}}"
    path = tmp_path / "td.h5"
    model = built("input: [2, 3, 4]\nlayers:\n  - {type: TimeDistributed, layer: {type: PReLU}}", seed=0)
    write_legacy_h5(path, {"time_distributed": [("time_distributed/alpha:0", model.get_weights()[
        "time_distributed/p_re_lu/alpha"])]})
    with pytest.raises(WeightsError, match=r"\(TimeDistributed\): reading a PReLU's weights from a legacy"):
        weights_from_keras(built(spec.replace("LayerNormalization", "PReLU")), read_legacy_h5(path))


def test_legacy_nested_models_are_refused(tmp_path):
    spec = """
        blocks:
          inner:
            layers:
              - {type: Dense, units: 2}
        input: [3]
        layers:
          - {type: inner}
    """
    model = built(spec, seed=0)
    path = tmp_path / "nested.h5"
    write_legacy_h5(path, {"inner": [("dense/kernel:0", model.get_weights()["inner/dense/kernel"]),
                                     ("dense/bias:0", model.get_weights()["inner/dense/bias"])]})
    with pytest.raises(WeightsError) as error:
        weights_from_keras(built(spec), read_legacy_h5(path))
    assert error.value.message == ("layer 'inner' of the .h5 file: a nested model's weights in a legacy .h5 are "
                                   "not supported")


def test_legacy_stray_datasets_are_refused(legacy, tmp_path):
    model, _ = legacy
    path = tmp_path / "stray.h5"
    write_legacy_h5(path, legacy_layers(model), extra=[("model_weights/dense/dense/extra:0", np.zeros(2))])
    with pytest.raises(WeightsError) as error:
        weights_from_keras(built(LEGACY_SPEC), read_legacy_h5(path))
    assert error.value.message == ("dataset 'model_weights/dense/dense/extra:0' in the .h5 file belongs to no "
                                   "layer's weight_names")


# --------------------------------------------------------------------------
# every spec of the repository: blocks as nested models, both ways


def nested_config(model) -> dict:
    """A Keras config with each block application as a nested Functional
    model named after it (``residual_1/conv2d`` is layer ``conv2d`` of model
    ``residual_1``), as export writes blocks."""

    def model_entry(name: str) -> dict:
        return {"module": "keras", "class_name": "Functional", "config": {"name": name, "layers": []}}

    top = model_entry(model.name)
    top["config"]["layers"] = [{"module": "keras.layers", "class_name": "InputLayer", "config": {"name": name}}
                               for name in model.input_names]
    for layer in model.layers:
        *blocks, name = layer.name.split("/")
        holder = top
        for block in blocks:
            layers = holder["config"]["layers"]
            if not layers or layers[-1]["config"]["name"] != block or layers[-1]["class_name"] != "Functional":
                layers.append(model_entry(block))
            holder = layers[-1]
        holder["config"]["layers"].append({"module": "keras.layers", "class_name": type(layer).__name__,
                                           "config": {"name": name}})
    return top


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")) + sorted((SPECS / "zoo").glob("*.yaml")),
                         ids=lambda path: path.relative_to(SPECS).as_posix())
def test_every_spec_maps_both_ways(path):
    model = layerspec.load(str(path)).init(seed=1)
    config = nested_config(model)
    theirs = weights_to_keras(model, config)
    assert len(theirs) == len(model.get_weights())
    back = weights_from_keras(layerspec.load(str(path)), ModelFile(config, theirs))
    assert_same_arrays(back, model.get_weights())


def test_block_applications_are_nested_models_in_the_paths():
    model = built("""
        blocks:
          down:
            layers:
              - {type: Conv2D, filters: 2, kernel_size: 3, padding: same}
              - {type: Conv2D, filters: 2, kernel_size: 3, padding: same, use_bias: false}
        input: [8, 8, 1]
        layers:
          - {type: Conv2D, filters: 2, kernel_size: 1, name: stem}
          - {type: down}
          - {type: down}
    """, seed=0)
    theirs = weights_to_keras(model, nested_config(model))
    weights = model.get_weights()
    assert {path: next(key for key in weights if weights[key] is array) for path, array in theirs.items()} == {
        "layers/conv2d/vars/0": "stem/kernel", "layers/conv2d/vars/1": "stem/bias",
        "layers/functional/layers/conv2d/vars/0": "down/conv2d/kernel",
        "layers/functional/layers/conv2d/vars/1": "down/conv2d/bias",
        "layers/functional/layers/conv2d_1/vars/0": "down/conv2d_1/kernel",
        "layers/functional_1/layers/conv2d/vars/0": "down_1/conv2d/kernel",
        "layers/functional_1/layers/conv2d/vars/1": "down_1/conv2d/bias",
        "layers/functional_1/layers/conv2d_1/vars/0": "down_1/conv2d_1/kernel"}
