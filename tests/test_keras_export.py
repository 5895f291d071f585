"""Built models → Keras model configs (layerspec/keras_export.py).

The config written for each fixture's hand-written spec equals the one
Keras wrote, key by key; export then import gives back every spec in
specs/; what Keras cannot hold is refused by name and place.
"""

from __future__ import annotations

import glob
import json
import pathlib
import textwrap

import pytest
import yaml

import layerspec
from layerspec.keras_config import KerasConfigError
from layerspec.keras_export import config_from_model
from layerspec.keras_import import spec_from_config
from layerspec.writing import to_yaml
from tests import test_keras_fixtures as fixtures_module
from tests.keras_fixtures import fixture_names, load_fixture, spec_model
from tests.test_keras_config import as_json, dedent
from tests.test_keras_import import NESTED_WITH_BLOCK

REPO = pathlib.Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------
# export: the config Keras writes


#: Keys of a Keras config that no model can reproduce: the id of Keras's
#: Python object shared by several layers, and a compiled model's settings.
UNKNOWABLE = ("shared_object_id", "compile_config")


def differences(ours, theirs, path: str = "") -> list[str]:
    """Where two configs differ, key by key; the entries of ``layers`` lists
    matched by name (Keras lists a Functional model's layers in its own
    graph order)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = []
        for key in [*ours, *(key for key in theirs if key not in ours)]:
            if key in UNKNOWABLE:
                continue
            if key not in ours or key not in theirs:
                found.append(f"{path}/{key}: {'missing' if key not in ours else 'not in Keras'}")
            elif key == "layers" and isinstance(ours[key], list):
                found += differences(_by_name(ours[key]), _by_name(theirs[key]), f"{path}/layers")
            else:
                found += differences(ours[key], theirs[key], f"{path}/{key}")
        return found
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [found for index, (a, b) in enumerate(zip(ours, theirs))
                for found in differences(a, b, f"{path}[{index}]")]
    same = ours == theirs and (type(ours) is type(theirs) or {type(ours), type(theirs)} <= {int, float})
    return [] if same else [f"{path}: {json.dumps(ours)} != Keras's {json.dumps(theirs)}"]


def _by_name(layers: list) -> dict:
    return {layer["config"]["name"]: layer for layer in layers}


def hand_written_specs() -> dict:
    """Fixture → the hand-written specs of it in the fixture tests."""
    from tests import test_keras_fixtures_attention as attention
    from tests import test_keras_fixtures_prep as prep
    from tests import test_keras_fixtures_recurrent as recurrent

    specs = {name: [spec] for name, (spec, _) in fixtures_module.FIXTURE_SPECS.items()}
    specs["nested"] = [NESTED_WITH_BLOCK]
    specs["transformer_block"].append(attention.TRANSFORMER_BLOCK)
    specs["cross_attention"].append(attention.CROSS_ATTENTION)
    specs["recurrent_wrappers"].append("name: recurrent_wrappers\n" + textwrap.dedent(recurrent.SPEC))
    specs["seq_cnn"].append(prep.SPEC)
    return specs


#: What a hand-written spec says otherwise than the Keras model: seq_text's
#: spec leaves its token input's dtype to layerspec (ids, as every reader
#: takes ids), which exports as the model's float32; Keras's model was
#: given int32.
EXPECTED_DIFFERENCES = {
    "seq_text": ['/config/layers/input_layer/config/dtype: "float32" != Keras\'s "int32"'],
}


@pytest.mark.parametrize("name, spec", [(name, spec) for name, specs in hand_written_specs().items()
                                        for spec in specs])
def test_hand_written_spec_exports_as_keras_wrote_it(name, spec):
    ours = as_json(config_from_model(spec_model(spec)))
    assert differences(ours, load_fixture(name).config) == EXPECTED_DIFFERENCES.get(name, [])


@pytest.mark.parametrize("name", fixture_names())
def test_imported_spec_exports_back_to_the_fixtures_config(name):
    fixture = load_fixture(name)
    model = layerspec.loads(spec_from_config(fixture.config)[0])
    assert differences(as_json(config_from_model(model)), fixture.config) == []


def test_every_hand_written_fixture_is_compared():
    assert set(hand_written_specs()) == set(fixture_names())


def test_functional_layers_are_listed_inputs_first_then_in_computing_order():
    config = config_from_model(spec_model(fixtures_module.FUNC_TWO_INPUTS))
    assert [layer["name"] for layer in config["config"]["layers"]] == [
        "image", "meta", "conv2d", "flatten", "concatenate", "dense", "cls", "reg"]
    assert config["config"]["input_layers"] == [["image", 0, 0], ["meta", 0, 0]]
    assert config["config"]["output_layers"] == [["cls", 0, 0], ["reg", 0, 0]]


def test_a_chain_is_sequential_with_its_input_layer_first():
    config = config_from_model(layerspec.loads("input: [4]\nlayers:\n  - {units: 2}\n"))
    assert config["class_name"] == "Sequential"
    assert config["config"]["layers"][0] == {
        "module": "keras.layers", "class_name": "InputLayer",
        "config": {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "ragged": False,
                   "name": "input_layer", "optional": False},
        "registered_name": None}
    assert config["config"]["build_input_shape"] == [None, 4]
    assert config["build_config"] == {"input_shape": [None, 4]}


def test_recurrent_calls_record_training_and_mask_as_keras_does():
    """layer.py __call__: `training` from the call's default (False for an
    RNN), then `mask: null` for a call with one tensor argument; initial
    states go to `initial_state` (and then no mask)."""
    model = layerspec.loads(dedent("""
        inputs: {x: [5, 3], h: [4]}
        layers:
          - {type: GRU, units: 4, inputs: x}
          - {type: GRU, units: 4, inputs: [x, h]}
          - {type: Add, inputs: [gru, gru_1]}
        """))
    layers = {layer["name"]: layer for layer in config_from_model(model)["config"]["layers"]}
    assert layers["gru"]["inbound_nodes"][0]["kwargs"] == {"training": False, "mask": None}
    with_state = layers["gru_1"]["inbound_nodes"][0]
    assert [tensor["config"]["keras_history"] for tensor in with_state["args"]] == [["x", 0, 0]]
    assert [tensor["config"]["keras_history"] for tensor in with_state["kwargs"]["initial_state"]] == [["h", 0, 0]]
    assert list(with_state["kwargs"]) == ["initial_state", "training"]
    assert layers["gru_1"]["build_config"] == {"shapes_dict": {"sequences_shape": [None, 5, 3],
                                                               "initial_state_shape": [[None, 4]]}}


def test_causal_attention_is_functional_with_the_mask_in_its_call():
    model = layerspec.loads("input: [6, 8]\nlayers:\n  - {type: MultiHeadAttention, num_heads: 2, key_dim: 4, "
                            "use_causal_mask: true}\n")
    config = config_from_model(model)
    assert config["class_name"] == "Functional"  # Keras's Sequential would call it without the mask
    attention = config["config"]["layers"][1]
    assert attention["inbound_nodes"][0]["kwargs"] == {"use_causal_mask": True}
    assert [tensor["config"]["keras_history"] for tensor in attention["inbound_nodes"][0]["args"]] == \
        [["input_layer", 0, 0], ["input_layer", 0, 0]]
    assert "use_causal_mask" not in attention["config"]


def test_several_outputs_of_a_layer_are_its_tensors():
    model = layerspec.loads(dedent("""
        input: [5, 3]
        layers:
          - {type: LSTM, units: 4, return_state: true}
          - {type: Concatenate, inputs: [lstm.state_h, lstm.state_c]}
        """))
    concatenate = config_from_model(model)["config"]["layers"][2]
    assert [tensor["config"]["keras_history"] for tensor in concatenate["inbound_nodes"][0]["args"][0]] == \
        [["lstm", 0, 1], ["lstm", 0, 2]]
    assert layerspec.loads(spec_from_config(as_json(config_from_model(model)))[0]).to_yaml() == model.to_yaml()


# ------------------------------------------------------------------------------
# export, then import: the same spec


def spec_paths() -> list[str]:
    return sorted(glob.glob(str(REPO / "specs" / "*.yaml"))) + sorted(glob.glob(str(REPO / "specs" / "zoo" / "*.yaml")))


def round_trip(model) -> str:
    return spec_from_config(as_json(config_from_model(model)))[0]


def normalised(text: str) -> dict:
    """A spec's document, one input written either way (``input: X`` is
    ``inputs: {input: X}``, which to_yaml writes for a graph)."""
    document = yaml.safe_load(text)
    if set(document.get("inputs") or {}) == {"input"} and not isinstance(document["inputs"]["input"], dict):
        document = {("input" if key == "inputs" else key): (value["input"] if key == "inputs" else value)
                    for key, value in document.items()}
    return document


@pytest.mark.parametrize("path", spec_paths(), ids=lambda path: pathlib.Path(path).name)
def test_export_then_import_gives_back_the_spec(path):
    model = layerspec.load(path)
    text = round_trip(model)
    back = layerspec.loads(text)
    assert [key for key, _ in back.weight_items()] == [key for key, _ in model.weight_items()]
    assert back.count_params() == model.count_params()
    if any(node.scope for node in model.nodes):
        # Blocks come back one per application, their arguments applied:
        # the same model, each layer with the same Keras config.
        assert as_json(config_from_model(back)) == as_json(config_from_model(model))
    else:
        assert normalised(text) == normalised(to_yaml(model))


def test_a_reimported_spec_keeps_its_hand_written_text():
    text = (REPO / "specs" / "siamese.yaml").read_text(encoding="utf-8")
    layers = [line for line in round_trip(layerspec.load(str(REPO / "specs" / "siamese.yaml"))).splitlines()
              if line.startswith("  - ")]
    assert layers == [
        "  - {type: Dense, name: hidden, units: 64, activation: relu, inputs: left}",
        "  - {type: Dense, name: embedding, units: 16}",
        "  - {reuse: hidden, inputs: right}",
        "  - {reuse: embedding}",
        "  - {type: Dot, name: cosine, axes: 1, normalize: true, inputs: [embedding, embedding_reuse]}",
        "  - {type: Dense, name: match, units: 1, activation: sigmoid}",
    ]
    assert "{reuse: embedding}" in text


BLOCK_SPECS = {
    "two inputs": """
        name: pair
        blocks:
          mix:
            inputs: [a, b]
            layers:
              - {type: Dense, units: 4, inputs: a, name: pa}
              - {type: Dense, units: 4, inputs: b, name: pb}
              - {type: Add, inputs: [pa, pb]}
        inputs:
          left: [3]
          right: [5]
        layers:
          - {type: mix, inputs: [left, right]}
          - {units: 2}
        """,
    "applied again": """
        name: twin
        blocks:
          tower:
            layers:
              - {units: 8, activation: relu}
              - {units: 4}
        inputs:
          left: [6]
          right: [6]
        layers:
          - {type: tower, inputs: left, name: encoder}
          - {reuse: encoder, inputs: right}
          - {type: Subtract, inputs: [encoder, encoder_reuse]}
        """,
    "two outputs": """
        name: tob
        blocks:
          split:
            layers:
              - {units: 3, name: first}
              - {units: 2, inputs: in, name: second}
            outputs: [first, second]
        input: [5]
        layers:
          - {type: split}
          - {type: Concatenate, inputs: [split.first, split.second]}
        """,
    "in a chain": """
        name: chained
        blocks:
          body:
            layers:
              - {units: 8, activation: relu}
              - {units: 8}
        input: [4]
        layers:
          - {units: 8}
          - {type: body}
          - {units: 1}
        """,
}


@pytest.mark.parametrize("name", BLOCK_SPECS)
def test_block_applications_go_and_come_back_as_nested_models(name):
    model = layerspec.loads(dedent(BLOCK_SPECS[name]))
    config = as_json(config_from_model(model))
    back = layerspec.loads(spec_from_config(config)[0])
    assert as_json(config_from_model(back)) == config
    assert [key for key, _ in back.weight_items()] == [key for key, _ in model.weight_items()]


def test_block_application_is_a_nested_model_named_after_it():
    config = as_json(config_from_model(layerspec.loads(dedent(BLOCK_SPECS["applied again"]))))
    encoder = config["config"]["layers"][2]
    assert (encoder["class_name"], encoder["name"]) == ("Sequential", "encoder")
    assert [layer["config"]["name"] for layer in encoder["config"]["layers"]] == ["input_layer", "dense", "dense_1"]
    # called twice: on left, then on right; the Subtract reads both calls
    assert [node["args"][0]["config"]["keras_history"] for node in encoder["inbound_nodes"]] == \
        [["left", 0, 0], ["right", 0, 0]]
    subtract = config["config"]["layers"][3]
    assert [tensor["config"]["keras_history"] for tensor in subtract["inbound_nodes"][0]["args"][0]] == \
        [["encoder", 0, 0], ["encoder", 1, 0]]


def test_a_nested_functional_model_counts_its_calls_from_one():
    """functional.py get_config: a Functional model's own node comes first."""
    config = as_json(config_from_model(layerspec.loads(dedent(BLOCK_SPECS["two inputs"]))))
    mix = config["config"]["layers"][2]
    assert (mix["class_name"], mix["build_config"]) == ("Functional", {"input_shape": None})
    assert mix["config"]["input_layers"] == [["input_layer", 0, 0], ["input_layer_1", 0, 0]]
    dense = config["config"]["layers"][3]
    assert dense["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == ["mix", 1, 0]


# ------------------------------------------------------------------------------
# what export refuses


def export_refusal(text: str) -> str:
    with pytest.raises(KerasConfigError) as caught:
        config_from_model(layerspec.loads(dedent(text)))
    return caught.value.message


def test_export_needs_the_input_shape():
    assert export_refusal("layers:\n  - {units: 2}\n") == (
        "model 'sequential' is not built: its input shape is needed to write a Keras model (give 'input' in the "
        "spec, or --input-shape)")


def test_export_refuses_what_keras_would_not_save():
    assert export_refusal("input: [3]\nlayers:\n  - {type: ELU, alpha: 0.5}\n") == (
        "layer 1 'elu' (ELU): argument 'alpha' is 0.5, which Keras cannot hold: Keras 3.15's ELU does not save "
        "alpha (elu.py has no get_config), so Keras would load it with alpha 1.0")
    assert export_refusal("input: [3]\nlayers:\n  - {units: 2, activation: {name: leaky_relu, negative_slope: "
                          "0.1}}\n") == (
        "layer 1 'dense' (Dense): argument 'activation': activation {\"name\": \"leaky_relu\", \"negative_slope\": "
        "0.1} has no Keras config form: Keras saves an activation by its name, without arguments (a LeakyReLU, ReLU "
        "or ELU layer holds some)")


def test_approximate_gelu_is_keras_hubs_registered_function():
    """keras_hub's GPT-2 saves it so (keras_hub/src/utils/keras_utils.py);
    Keras loads it with keras_hub imported."""
    model = layerspec.loads("input: [3]\nlayers:\n  - {units: 2, activation: {name: gelu, approximate: true}}\n")
    config = as_json(config_from_model(model))
    assert config["config"]["layers"][1]["config"]["activation"] == {
        "module": "keras_hub.src.utils.keras_utils", "class_name": "function",
        "config": "keras_hub>gelu_approximate", "registered_name": "keras_hub>gelu_approximate"}
    assert "activation: {name: gelu, approximate: true}" in spec_from_config(config)[0]


def test_activation_aliases_are_saved_as_the_function_they_name():
    """activations.serialize saves the function's own name."""
    config = config_from_model(layerspec.loads("input: [3]\nlayers:\n  - {units: 2, activation: swish}\n"))
    assert config["config"]["layers"][1]["config"]["activation"] == "silu"
