"""Keras model configs → specs (layerspec/keras_import.py).

Every Keras fixture's config becomes a spec that builds, has Keras's
parameter count and, with the fixture's weights, computes Keras's outputs;
two imported specs read exactly as hand-written ones; Keras 2 configs, bare
operation nodes and nested models import; what layerspec cannot take is
refused by name and place.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import layerspec
from layerspec.errors import LayerspecError
from layerspec.keras_config import KerasConfigError, KerasLayerInfo
from layerspec.keras_import import spec_from_config
from tests import test_keras_fixtures as fixtures_module
from tests.keras_fixtures import assert_matches_keras, fixture_names, keras_weights, load_fixture
from tests.test_keras_config import dedent


def imported(name: str) -> str:
    """The spec text a fixture's config imports as."""
    return spec_from_config(load_fixture(name).config)[0]


def refusal(config: dict) -> str:
    with pytest.raises(KerasConfigError) as caught:
        spec_from_config(config)
    return caught.value.message


# ------------------------------------------------------------------------------
# every fixture imports


@pytest.mark.parametrize("name", fixture_names())
def test_every_fixture_imports_and_has_keras_parameter_count(name):
    fixture = load_fixture(name)
    text, _ = spec_from_config(fixture.config)
    model = layerspec.loads(text)
    assert model.count_params() == fixture.params


#: Our weight keys → h5 datasets for the imported specs: the hand-written
#: specs' mappings (test_keras_fixtures.py), the nested model's layers under
#: its block's path.
def imported_mapping(name: str) -> dict:
    mapping = dict(fixtures_module.FIXTURE_SPECS[name][1])
    if name == "nested":
        for layer in ("dense", "dense_1"):
            for weight in ("kernel", "bias"):
                mapping[f"block/{layer}/{weight}"] = mapping.pop(f"{layer}/{weight}")
    return mapping


@pytest.mark.parametrize("name", fixture_names())
def test_every_imported_fixture_computes_what_keras_computes(name):
    fixture = load_fixture(name)
    model = layerspec.loads(spec_from_config(fixture.config)[0])
    model.set_weights(keras_weights(fixture, imported_mapping(name)))
    inputs = fixture.inputs
    if len(model.input_names) == 1:
        inputs = next(iter(inputs.values()))
    outputs = model.predict(inputs)
    if len(model.output_names) > 1:
        outputs = dict(zip(model.output_names, outputs))
    assert_matches_keras(fixture, outputs)


# ------------------------------------------------------------------------------
# the imported specs read as written by hand


def test_seq_cnn_reads_as_written_by_hand():
    """Defaults left out: pooling strides equal to pool_size, padding valid,
    BatchNormalization's momentum and epsilon, the Rescaling offset 0."""
    assert imported("seq_cnn") == dedent("""
        name: seq_cnn
        input: [28, 28, 1]
        layers:
          - {type: Rescaling, scale: 0.00392156862745098}
          - {type: Conv2D, filters: 8, kernel_size: 3, activation: relu}
          - {type: BatchNormalization}
          - {type: MaxPooling2D}
          - {type: Conv2D, filters: 16, kernel_size: 3, strides: 2, padding: same, activation: relu}
          - {type: GlobalAveragePooling2D}
          - {type: Dense, units: 10, activation: softmax}
        """)


def test_func_resnet_reads_as_written_by_hand():
    """A named input keeps its name; only the stem (named by the author) and
    the skip connection are named; a chain reads the layer above."""
    assert imported("func_resnet") == dedent("""
        name: func_resnet
        inputs:
          image: [16, 16, 3]
        layers:
          - {type: Conv2D, name: stem, filters: 8, kernel_size: 3, padding: same, activation: relu}
          - {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu}
          - {type: Conv2D, filters: 8, kernel_size: 3, padding: same}
          - {type: Add, inputs: [stem, conv2d_1]}
          - {type: ReLU}
          - {type: GlobalAveragePooling2D}
          - {type: Dense, units: 5, activation: softmax}
        """)


def test_nested_model_is_a_block_named_as_the_model():
    """Its layers are numbered inside it (dense, dense_1): Keras's global
    numbering made the outer Dense 'dense_2', which is kept."""
    assert imported("nested") == dedent(NESTED_WITH_BLOCK)


def test_shared_layer_calls_are_reuses_where_they_are_read():
    """A shared layer's later call comes just before the layer reading it."""
    assert imported("shared_layer") == dedent("""
        name: shared_layer
        inputs:
          left: [10]
          right: [10]
        layers:
          - {type: Dense, name: encoder, units: 6, activation: tanh, inputs: left}
          - {reuse: encoder, inputs: right}
          - {type: Subtract, inputs: [encoder, encoder_reuse]}
          - {reuse: encoder, inputs: left}
          - {type: Dot, axes: 1, normalize: true, inputs: [subtract, encoder_reuse_1]}
        """)


def test_wrapped_layers_keep_their_names_implicit():
    """Bidirectional's forward_lstm is the LSTM 'lstm' it copies; the
    backward layer Keras made from it is left to layerspec to make; the
    TimeDistributed Dense takes 'dense', so the last Dense is 'dense_1'."""
    assert imported("recurrent_wrappers") == dedent("""
        name: recurrent_wrappers
        input: [9, 4]
        layers:
          - {type: Bidirectional, layer: {type: LSTM, units: 6, return_sequences: true}}
          - {type: TimeDistributed, layer: {type: Dense, units: 5, activation: relu}}
          - {type: Bidirectional, layer: {type: GRU, units: 4}, merge_mode: sum}
          - {type: Dense, units: 2}
        """)


def test_self_attention_and_causal_mask_become_one_input_and_an_argument():
    text = imported("transformer_block")
    assert "  - {type: MultiHeadAttention, num_heads: 2, key_dim: 8, use_causal_mask: true}\n" in text
    assert "value_dim" not in text and "attention_axes" not in text  # value_dim = key_dim, axes [1] for rank 3


def test_integer_input_keeps_its_dtype():
    assert imported("seq_text").startswith("name: seq_text\ninputs:\n  input: {shape: [12], dtype: int32}\n")


def test_infos_list_every_entry_in_config_order_nested_ones_inside():
    _, infos = spec_from_config(load_fixture("nested").config)
    assert infos == [
        KerasLayerInfo("InputLayer", "x", "x", ()),
        KerasLayerInfo("Sequential", "block", "block", (), "keras"),
        KerasLayerInfo("InputLayer", "input_layer", "block/in", ("block",)),
        KerasLayerInfo("Dense", "dense", "block/dense", ("block",)),
        KerasLayerInfo("Dense", "dense_1", "block/dense_1", ("block",)),
        KerasLayerInfo("Add", "add", "add", ()),
        KerasLayerInfo("LayerNormalization", "layer_normalization", "layer_normalization", ()),
        KerasLayerInfo("Dense", "dense_2", "dense_2", ()),
    ]


def test_infos_of_a_sequential_model():
    _, infos = spec_from_config(load_fixture("recurrent_wrappers").config)
    assert [(info.keras_class, info.keras_name, info.our_name) for info in infos] == [
        ("InputLayer", "input_layer", "input"), ("Bidirectional", "bidirectional", "bidirectional"),
        ("TimeDistributed", "time_distributed", "time_distributed"),
        ("Bidirectional", "bidirectional_1", "bidirectional_1"), ("Dense", "dense_1", "dense_1")]


def test_spec_name_may_be_given():
    assert imported_with_name("seq_mlp", "mlp").startswith("name: mlp\ninput: [20]\n")


def imported_with_name(fixture: str, name: str) -> str:
    return spec_from_config(load_fixture(fixture).config, name=name)[0]


#: The nested fixture written with its Sequential as a block (the flat
#: FIXTURE_SPECS one inlines its layers, so Keras would see no nested model).
NESTED_WITH_BLOCK = """
    name: nested
    blocks:
      block:
        layers:
          - {type: Dense, units: 12, activation: relu}
          - {type: Dense, units: 12}
    inputs:
      x: [12]
    layers:
      - {type: block}
      - {type: Add, inputs: [x, block]}
      - {type: LayerNormalization}
      - {type: Dense, name: dense_2, units: 3}
"""


# ------------------------------------------------------------------------------
# Keras 2 configs (a legacy .h5 file's model_config, tf.keras's to_json)


def keras2_dense(name: str, units: int, activation: str = "linear") -> dict:
    return {"class_name": "Dense", "config": {
        "name": name, "trainable": True, "dtype": "float32", "units": units, "activation": activation,
        "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}}


KERAS2_SEQUENTIAL = {"class_name": "Sequential", "keras_version": "2.13.1", "backend": "tensorflow", "config": {
    "name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 784], "dtype": "float32",
                                                "sparse": False, "ragged": False, "name": "dense_input"}},
        keras2_dense("dense", 64, "relu"),
        {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True, "dtype": "float32", "rate": 0.5,
                                             "noise_shape": None, "seed": None}},
        keras2_dense("dense_1", 10, "softmax")]}}


def test_keras2_sequential_imports():
    """Keras 2 named a Sequential's input after its first layer (dense_input):
    an automatic name, so the spec says `input:`."""
    text, infos = spec_from_config(KERAS2_SEQUENTIAL)
    assert text == dedent("""
        name: sequential
        input: [784]
        layers:
          - {type: Dense, units: 64, activation: relu}
          - {type: Dropout, rate: 0.5}
          - {type: Dense, units: 10, activation: softmax}
        """)
    assert [info.our_name for info in infos] == ["input", "dense", "dropout", "dense_1"]


def test_keras2_sequential_may_declare_its_input_on_the_first_layer():
    config = copy.deepcopy(KERAS2_SEQUENTIAL)
    del config["config"]["layers"][0]
    config["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 784]
    assert spec_from_config(config)[0].startswith("name: sequential\ninput: [784]\nlayers:\n")


def test_keras2_functional_nodes_are_lists():
    """Keras 2 wrote a node as [[layer, node, tensor, kwargs], ...], and
    counted a nested model's calls from 1, Sequential ones too."""
    inner = copy.deepcopy(KERAS2_SEQUENTIAL)
    inner["config"]["name"] = "tower"
    config = {"class_name": "Functional", "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 784], "dtype": "float32", "name": "input_1"}},
        {**inner, "name": "tower", "inbound_nodes": [[["input_1", 0, 0, {}]]]},
        {**keras2_dense("head", 10), "name": "head", "inbound_nodes": [[["tower", 1, 0, {}]]]},
        {"class_name": "Add", "config": {"name": "add", "trainable": True, "dtype": "float32"}, "name": "add",
         "inbound_nodes": [[["tower", 1, 0, {}], ["head", 0, 0, {}]]]}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["add", 0, 0]]}}
    text = spec_from_config(config)[0]
    assert text == dedent("""
        name: model
        blocks:
          tower:
            layers:
              - {type: Dense, units: 64, activation: relu}
              - {type: Dropout, rate: 0.5}
              - {type: Dense, units: 10, activation: softmax}
        input: [784]
        layers:
          - {type: tower}
          - {type: Dense, name: head, units: 10}
          - {type: Add, inputs: [tower, head]}
        """)


def test_keras2_recurrent_keys_are_accepted_when_harmless():
    config = copy.deepcopy(KERAS2_SEQUENTIAL)
    config["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 5, 3]
    config["config"]["layers"][1] = {"class_name": "LSTM", "config": {
        "name": "lstm", "trainable": True, "dtype": "float32", "units": 4, "time_major": False,
        "implementation": 2, "return_sequences": False}}
    assert "  - {type: LSTM, units: 4}\n" in spec_from_config(config)[0]
    config["config"]["layers"][1]["config"]["time_major"] = True
    assert refusal(config) == ("layers[1] 'lstm' (LSTM): argument 'time_major' must be false, got true (Keras 2's "
                               "time-major layout; only batch-major (false) is read)")


def test_keras2_attention_called_with_value_as_keyword():
    """tf.keras recorded MultiHeadAttention(query, value=value) as one entry
    with the value among its kwargs, and the built shapes in the config."""
    config = {"class_name": "Functional", "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 5, 8], "dtype": "float32", "name": "input_1"}},
        {"class_name": "MultiHeadAttention", "name": "mha", "inbound_nodes": [[["input_1", 0, 0, {
            "value": ["input_1", 0, 0]}]]],
         "config": {"name": "mha", "trainable": True, "dtype": "float32", "num_heads": 2, "key_dim": 4,
                    "value_dim": 4, "dropout": 0.0, "use_bias": True, "output_shape": None,
                    "attention_axes": [1], "query_shape": [None, 5, 8], "key_shape": [None, 5, 8],
                    "value_shape": [None, 5, 8]}}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["mha", 0, 0]]}}
    assert spec_from_config(config)[0] == dedent("""
        name: model
        input: [5, 8]
        layers:
          - {type: MultiHeadAttention, name: mha, num_heads: 2, key_dim: 4}
        """)


# ------------------------------------------------------------------------------
# operation nodes (keras.src.ops) in a Functional model


def keras_tensor(layer: str, shape: list, node: int = 0, index: int = 0) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, node, index]}}


def operation(module: str, class_name: str, name: str, args: list, **config) -> dict:
    return {"module": f"keras.src.ops.{module}", "class_name": class_name, "config": {"name": name, **config},
            "registered_name": class_name, "name": name, "inbound_nodes": [{"args": args, "kwargs": {}}]}


def functional(layers: list, output: str, shape: list) -> dict:
    image = {"module": "keras.layers", "class_name": "InputLayer", "name": "image", "inbound_nodes": [],
             "config": {"batch_shape": shape, "dtype": "float32", "sparse": False, "ragged": False,
                        "name": "image", "optional": False}}
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": "ops", "trainable": True, "layers": [image, *layers],
                       "input_layers": ["image", 0, 0], "output_layers": [output, 0, 0]},
            "registered_name": "Functional"}


def keras_layer(class_name: str, name: str, args: list, **config) -> dict:
    return {"module": "keras.layers", "class_name": class_name,
            "config": {"name": name, "trainable": True, "dtype": "float32", **config}, "registered_name": None,
            "name": name, "inbound_nodes": [{"args": args, "kwargs": {}}]}


SHAPE = [None, 8, 8, 4]


def test_hard_swish_operations_become_layers():
    """MobileNetV3's hard-swish: x * relu6(x + 3) / 6, with `+ 3` and `* (1/6)`
    as bare operations."""
    config = functional([
        operation("numpy", "Add", "add", [keras_tensor("image", SHAPE), 3.0]),
        keras_layer("ReLU", "re_lu", [keras_tensor("add", SHAPE)], max_value=6.0, negative_slope=0.0,
                    threshold=0.0),
        operation("numpy", "Multiply", "multiply", [keras_tensor("re_lu", SHAPE), 0.16666666666666666]),
        keras_layer("Multiply", "multiply_1", [[keras_tensor("image", SHAPE), keras_tensor("multiply", SHAPE)]]),
        operation("nn", "Gelu", "gelu", [keras_tensor("multiply_1", SHAPE)]),
        operation("numpy", "Subtract", "subtract", [1.0, keras_tensor("gelu", SHAPE)]),
        operation("numpy", "Add", "add_1", [keras_tensor("subtract", SHAPE), keras_tensor("image", SHAPE)]),
    ], "add_1", SHAPE)
    text, infos = spec_from_config(config)
    assert text == dedent("""
        name: ops
        inputs:
          image: [8, 8, 4]
        layers:
          - {type: Rescaling, name: add, scale: 1.0, offset: 3.0}
          - {type: ReLU, max_value: 6.0}
          - {type: Rescaling, name: multiply, scale: 0.16666666666666666}
          - {type: Multiply, name: multiply_1, inputs: [image, multiply]}
          - {type: Activation, name: gelu, activation: {name: gelu, approximate: true}}
          - {type: Rescaling, name: subtract, scale: -1.0, offset: 1.0}
          - {type: Add, name: add_1, inputs: [subtract, image]}
        """)
    assert [(info.keras_class, info.keras_module) for info in infos][1:3] == \
        [("Add", "keras.src.ops.numpy"), ("ReLU", "keras.layers")]
    x = np.linspace(-8, 8, 4 * 256, dtype=np.float32).reshape(4, 8, 8, 4)
    hard_swish = x * np.clip(x + 3, 0, 6) / 6
    gelu = 0.5 * hard_swish * (1 + np.tanh(np.sqrt(2 / np.pi) * (hard_swish + 0.044715 * hard_swish ** 3)))
    np.testing.assert_allclose(layerspec.loads(text).init(0).predict(x), 1 - gelu + x, rtol=1e-5, atol=1e-5)


def test_operations_without_a_layer_are_refused_by_name():
    config = functional([operation("numpy", "Sqrt", "sqrt", [keras_tensor("image", SHAPE)])], "sqrt", SHAPE)
    assert refusal(config) == ("layers[1] 'sqrt' (Sqrt): the operation keras.src.ops.numpy.Sqrt on 1 tensor and 0 "
                               "numbers has no layerspec equivalent")
    config = functional([operation("numpy", "Add", "add", [keras_tensor("image", SHAPE), keras_tensor(
        "image", [None, 4])])], "add", SHAPE)
    assert refusal(config) == ("layers[1] 'add' (Add): the operation Add of tensors of shapes [null, 8, 8, 4] and "
                               "[null, 4] broadcasts across the batch axis, which no layerspec merge does")


# ------------------------------------------------------------------------------
# what layerspec refuses, by name and place


def changed(fixture: str, change) -> dict:
    config = copy.deepcopy(load_fixture(fixture).config)
    change(config["config"]["layers"])
    return config


@pytest.mark.parametrize("change, message", [
    (lambda layers: layers[2]["config"].update(kernel_regularizer={"class_name": "L2", "config": {"l2": 0.01}}),
     "layers[2] 'conv2d' (Conv2D): argument 'kernel_regularizer' must be null, got {\"class_name\": \"L2\", "
     "\"config\": {\"l2\": 0.01}} (a training-time penalty or weight clip: layerspec does not train, and Keras "
     "applies none at inference)"),
    (lambda layers: layers[2]["config"].update(lora_rank=4),
     "layers[2] 'conv2d' (Conv2D): argument 'lora_rank' must be null, got 4 (LoRA adapters are weights layerspec "
     "does not read)"),
    (lambda layers: layers[2]["config"].update(foo=1),
     "layers[2] 'conv2d' (Conv2D): argument 'foo' is not supported by layerspec's Conv2D"),
    (lambda layers: layers[2]["config"].update(data_format="channels_first"),
     "layers[2] 'conv2d' (Conv2D): argument 'data_format': 'channels_first' is not supported; layerspec uses "
     "channels_last, with channels on the last axis"),
    (lambda layers: layers[2]["config"]["dtype"]["config"].update(name="mixed_float16"),
     "layers[2] 'conv2d' (Conv2D): dtype policy \"mixed_float16\" is not supported: layerspec computes in float32 "
     "or float64 throughout (no mixed precision)"),
    (lambda layers: layers[2]["config"]["dtype"]["config"].update(name="float64"),
     "layers[2] 'conv2d' (Conv2D): its dtype policy differs from the other layers' (float32); a layerspec model "
     "computes in one dtype"),
    (lambda layers: layers[2].update(class_name="Lambda"),
     "layers[2] 'conv2d' (Lambda): layerspec cannot import a Lambda layer: it holds Python code, which a spec "
     "cannot carry: write the function as a plugin layer (README 'Custom layers')"),
    (lambda layers: layers[2].update(class_name="Hashing"),
     "layers[2] 'conv2d' (Hashing): unknown or unsupported Keras layer class 'Hashing' (module keras.layers); "
     "`layerspec layers` lists the supported ones"),
    (lambda layers: layers[2]["config"].update(activation={"module": "builtins", "class_name": "function",
                                                           "config": "swish2", "registered_name": "my>swish2"}),
     "layers[2] 'conv2d' (Conv2D): argument 'activation': activation \"my>swish2\" is a custom function, which "
     "layerspec does not have (a Keras activation is saved by name)"),
    (lambda layers: layers[2]["config"].update(kernel_initializer={"class_name": "Identity", "config": {}}),
     "layers[2] 'conv2d' (Conv2D): argument 'kernel_initializer': initializer Identity is not supported "
     "(layerspec has Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, LecunNormal, LecunUniform, Ones, "
     "Orthogonal, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling, Zeros)"),
    (lambda layers: layers[2]["config"]["kernel_initializer"]["config"].update(input_axes=[0]),
     "layers[2] 'conv2d' (Conv2D): argument 'kernel_initializer': initializer GlorotUniform with input_axes [0] is "
     "not supported (layerspec takes the fans from the weight's shape)"),
    (lambda layers: layers[2]["config"].update(groups=3),
     "layers[2] 'conv2d' (Conv2D): filters (8) must be divisible by groups (3)"),
    (lambda layers: layers[2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"].__setitem__(0, "stme"),
     "layers[2] 'conv2d' (Conv2D): refers to 'stme', which is no layer of the model; did you mean 'stem'?"),
    (lambda layers: layers[1]["inbound_nodes"][0]["args"][0]["config"].update(keras_history=["conv2d", 0, 0]),
     "layers[2] 'conv2d' (Conv2D): the graph has a loop through 'stem'"),
    (lambda layers: layers[2]["inbound_nodes"][0]["args"][0]["config"].update(keras_history=["stem", 3, 0]),
     "layers[2] 'conv2d' (Conv2D): refers to call 3 of 'stem', which is called 1 time"),
    (lambda layers: layers[2]["inbound_nodes"][0].update(kwargs={"mask": layers[2]["inbound_nodes"][0]["args"][0]}),
     "layers[2] 'conv2d' (Conv2D): it is called with 'mask' from another tensor; layerspec derives masks from "
     "Embedding(mask_zero) and Masking only"),
    (lambda layers: layers[2]["inbound_nodes"][0].update(kwargs={"scale": 2}),
     "layers[2] 'conv2d' (Conv2D): call argument 'scale' is not supported"),
    (lambda layers: layers[2]["config"].update(name="stem"),
     "layers[2] 'stem' (Conv2D): the name is taken by another layer of the model"),
    (lambda layers: layers[0]["config"].update(ragged=True),
     "layers[0] 'image' (InputLayer): 'ragged: true' inputs are not supported (dense inputs only)"),
    (lambda layers: layers[0]["config"].update(dtype="string"),
     "layers[0] 'image' (InputLayer): input dtype \"string\" is not supported (float32, float64, int32 or int64)"),
])
def test_what_layerspec_cannot_take_is_refused_with_its_place(change, message):
    assert refusal(changed("func_resnet", change)) == message


def test_a_refusal_inside_a_nested_model_names_its_path():
    config = changed("nested", lambda layers: layers[1]["config"]["layers"][2]["config"].update(bias_constraint={
        "class_name": "NonNeg", "config": {}}))
    assert refusal(config) == ("layers[1] 'block' (Sequential) > layers[2] 'dense_1' (Dense): argument "
                               "'bias_constraint' must be null, got {\"class_name\": \"NonNeg\", \"config\": {}} (a "
                               "training-time penalty or weight clip: layerspec does not train, and Keras applies "
                               "none at inference)")


def test_a_refusal_inside_a_wrapped_layer_names_it():
    config = changed("recurrent_wrappers", lambda layers: layers[1]["config"]["layer"]["config"].update(
        recurrent_regularizer={"class_name": "L1", "config": {"l1": 0.1}}))
    assert refusal(config).startswith("layers[1] 'bidirectional' (Bidirectional) > layer 'forward_lstm' (LSTM): "
                                      "argument 'recurrent_regularizer' must be null")


def test_attention_calls_layerspec_cannot_take():
    config = changed("transformer_block", lambda layers: layers[2]["inbound_nodes"][0]["kwargs"].update(
        return_attention_scores=True))
    assert refusal(config) == ("layers[2] 'multi_head_attention' (MultiHeadAttention): 'return_attention_scores: "
                               "true' is not supported (the scores are no output of a layerspec layer)")

    def second_call_without_mask(layers):
        call = copy.deepcopy(layers[2]["inbound_nodes"][0])
        call["kwargs"] = {}
        layers[2]["inbound_nodes"].append(call)

    assert refusal(changed("transformer_block", second_call_without_mask)) == (
        "layers[2] 'multi_head_attention' (MultiHeadAttention): it is called both with and without use_causal_mask; "
        "layerspec's MultiHeadAttention takes one value for all its calls")


@pytest.mark.parametrize("config, message", [
    ([1, 2], "the model config must be a JSON object, got list"),
    ({"class_name": "MyModel", "config": {"name": "m"}},
     "the model: a MyModel model keeps its layers in Python code (a subclassed model), which its config does not "
     "describe; save a Sequential or Functional model"),
    ({"class_name": "Sequential", "config": {"name": "s", "layers": []}},
     "the model: the Sequential model 's' has no layers"),
    ({"class_name": "Sequential", "config": {"name": "s", "layers": "dense"}},
     "the model config: 'config' must be an object with a 'layers' list"),
    ({"class_name": "Sequential", "config": {"name": "s", "layers": [{"config": {}}]}},
     "layers[0] must be an object with a 'class_name', got {\"config\": {}}"),
])
def test_a_config_that_is_no_model_is_refused(config, message):
    assert refusal(config) == message


def test_errors_are_layerspec_errors_with_codes():
    with pytest.raises(LayerspecError) as caught:
        spec_from_config({"class_name": "MyModel", "config": {"name": "m"}})
    assert caught.value.code == "unsupported-keras"
    with pytest.raises(LayerspecError) as caught:
        spec_from_config([])
    assert caught.value.code == "invalid-model"


def test_a_frozen_model_freezes_its_layers():
    config = changed("seq_mlp", lambda layers: None)
    config["config"]["trainable"] = False
    model = layerspec.loads(spec_from_config(config)[0])
    assert model.count_params() == 1252 and all(not layer.trainable for layer in model.layers)


def test_a_whole_float64_model_is_a_float64_spec():
    def float64(layers):
        for layer in layers:
            if isinstance(layer["config"].get("dtype"), dict):
                layer["config"]["dtype"]["config"]["name"] = "float64"

    assert "\ndtype: float64\n" in spec_from_config(changed("func_resnet", float64))[0]


def test_a_bare_get_config_imports_too():
    """model.get_config() holds the inner config alone."""
    assert spec_from_config(load_fixture("seq_mlp").config["config"])[0] == imported("seq_mlp")
    assert spec_from_config(load_fixture("func_resnet").config["config"])[0] == imported("func_resnet")
