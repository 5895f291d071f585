"""The JSON Schema of the spec format: valid, true to the examples, strict on mistakes.

Every broken spec here is also refused by layerspec itself, and every
accepted variant is also accepted by it, so the schema and ``spec.py`` are
checked against each other, not only against these expectations.
"""

import json

import jsonschema
import pytest
import yaml

import layerspec
from layerspec import registry
from layerspec.errors import LayerspecError
from layerspec.plugins import load_plugin
from layerspec.schema import spec_schema
from layerspec.spec import parse_spec
from tests.conftest import REPO, SPECS

EXAMPLE_SPECS = sorted(SPECS.glob("*.yaml"))


@pytest.fixture(scope="module")
def schema():
    return spec_schema()


@pytest.fixture(scope="module")
def validator(schema):
    return jsonschema.Draft202012Validator(schema)


def problems(validator, document) -> list[tuple[list, str]]:
    """(path, failing keyword) of every error, sorted."""
    return sorted(((list(error.absolute_path), error.validator) for error in validator.iter_errors(document)),
                  key=repr)


def spec(*layers, **top) -> dict:
    return {"input": [4], "layers": list(layers), **top}


def test_schema_is_valid_draft_2020_12(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:layerspec:spec"
    assert schema["title"] == "layerspec spec"
    assert schema["required"] == ["layers"]
    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == ["name", "input", "inputs", "outputs", "dtype", "args", "variants", "blocks",
                                          "layers", "expect"]
    assert all(prop["description"] for prop in schema["properties"].values())
    assert json.loads(json.dumps(schema)) == schema  # plain JSON: no tuples, no objects


@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=lambda p: p.name)
def test_every_example_spec_validates(validator, path):
    assert problems(validator, yaml.safe_load(path.read_text(encoding="utf-8"))) == []


def test_there_are_example_specs():
    assert len(EXAMPLE_SPECS) >= 10


BROKEN = {
    "misspelled argument": (spec({"units": 3, "activaton": "relu"}), [(["layers", 0], "additionalProperties")]),
    "unknown type": (spec({"type": "Conv4D", "filters": 3}), [(["layers", 0, "type"], "anyOf")]),
    "units not a number": (spec({"units": "ten"}), [(["layers", 0, "units"], "type")]),
    "units 0": (spec({"units": 0}), [(["layers", 0, "units"], "minimum")]),
    "units 2.5": (spec({"units": 2.5}), [(["layers", 0, "units"], "type")]),
    "missing required argument": (spec({"type": "Activation"}), [(["layers", 0], "required")]),
    "no type, no units": (spec({"activation": "relu"}), [(["layers", 0], "required")]),
    "unknown top-level key": ({"input": [4], "layres": [], "layers": [{"units": 2}]}, [([], "additionalProperties")]),
    "rate above 1": (spec({"type": "Dropout", "rate": 1.5}), [(["layers", 0, "rate"], "maximum")]),
    "bad padding": (spec({"type": "Conv2D", "filters": 2, "kernel_size": 3, "padding": "sme"}),
                    [(["layers", 0, "padding"], "anyOf")]),
    "causal padding in 2D": (spec({"type": "Conv2D", "filters": 2, "kernel_size": 3, "padding": "causal"}),
                             [(["layers", 0, "padding"], "anyOf")]),
    "kernel_size of 3 items in 2D": (spec({"type": "Conv2D", "filters": 2, "kernel_size": [3, 3, 3]}),
                                     [(["layers", 0, "kernel_size"], "anyOf")]),
    "expect key typo": (spec({"units": 2}, expect={"output_shap": [2]}), [(["expect"], "additionalProperties")]),
    "expect negative params": (spec({"units": 2}, expect={"params": -1}), [(["expect", "params"], "minimum")]),
    "layers empty": (spec(), [(["layers"], "minItems")]),
    "layers missing": ({"input": [4]}, [([], "required")]),
    "layer not a mapping": (spec("Dense"), [(["layers", 0], "type")]),
    "input size 0": (spec({"units": 2}, input=[0]), [(["input", 0], "minimum")]),
    "input empty": (spec({"units": 2}, input=[]), [(["input"], "minItems")]),
    "unknown dtype": (spec({"units": 2}, dtype="float16"), [(["dtype"], "enum")]),
    "unknown activation": (spec({"units": 2, "activation": "rleu"}), [(["layers", 0, "activation"], "anyOf")]),
    "yes is not a boolean": (spec({"units": 2, "use_bias": "yes"}), [(["layers", 0, "use_bias"], "type")]),
    "unknown initializer": (spec({"units": 2, "kernel_initializer": "glorot"}),
                            [(["layers", 0, "kernel_initializer"], "anyOf")]),
    "initializer argument typo": (spec({"units": 2, "kernel_initializer": {"type": "random_normal", "stdev": 1}}),
                                  [(["layers", 0, "kernel_initializer"], "anyOf")]),
    "another type's argument": (spec({"type": "Dropout", "rate": 0.1, "units": 3}),
                                [(["layers", 0], "additionalProperties")]),
    "slash in a layer name": (spec({"units": 2, "name": "a/b"}), [(["layers", 0, "name"], "pattern")]),
    "type null": (spec({"type": None, "units": 2}), [(["layers", 0, "type"], "type")]),
    "cropping of 3 items": (spec({"type": "Cropping1D", "cropping": [1, 2, 3]}),
                            [(["layers", 0, "cropping"], "anyOf")]),
    "error in the second layer only": (spec({"units": 2}, {"type": "dropout", "rate": -0.5}),
                                       [(["layers", 1, "rate"], "minimum")]),
}


@pytest.mark.parametrize("document, expected", BROKEN.values(), ids=BROKEN.keys())
def test_broken_specs_fail_at_the_right_place(validator, document, expected):
    assert problems(validator, document) == expected
    with pytest.raises(LayerspecError):
        parse_spec(document, "m.yaml")


def test_misspelled_argument_is_named(validator):
    [error] = validator.iter_errors(spec({"units": 3, "activaton": "relu"}))
    assert "'activaton' was unexpected" in error.message


ACCEPTED = {
    "padding in capitals": {"type": "Conv2D", "filters": 2, "kernel_size": 3, "padding": "SAME"},
    "initializer class name": {"units": 2, "kernel_initializer": "GlorotUniform"},
    "initializer without underscores": {"units": 2, "kernel_initializer": "heNormal"},
    "initializer mapping": {"units": 2, "kernel_initializer": {"type": "random_normal", "stddev": 0.1, "seed": 3}},
    "variance scaling mapping": {"units": 2, "kernel_initializer": {"type": "VarianceScaling", "scale": 2.0,
                                                                   "mode": "fan_avg", "distribution": "Normal"}},
    "use_cudnn in capitals": {"type": "LSTM", "units": 2, "use_cudnn": "AUTO"},
    "name null": {"units": 2, "name": None},
    "activation null": {"units": 2, "activation": None},
    "kernel_size as a list": {"type": "Conv2D", "filters": 2, "kernel_size": [3, 1]},
    "pair of pairs": {"type": "ZeroPadding2D", "padding": [[1, 0], 2]},
    "reshape with -1": {"type": "Reshape", "target_shape": [-1, 2]},
    "trainable false": {"units": 2, "trainable": False},
}


@pytest.mark.parametrize("layer", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepted_variants_validate(validator, layer):
    document = spec(layer)
    assert problems(validator, document) == []
    parse_spec(document, "m.yaml")


@pytest.mark.parametrize("top", [{"input": None}, {"input": [None, 8]}, {"expect": None},
                                 {"expect": {"output_shape": [], "params": 0, "max_params": 10}},
                                 {"dtype": "float64", "name": "x"}])
def test_accepted_top_level_values(validator, top):
    document = {"layers": [{"units": 2}], **top}
    assert problems(validator, document) == []
    parse_spec(document, "m.yaml")


LISTED_SPELLINGS = ["MaxPooling2D", "maxpooling2d", "max_pooling2d", "MaxPool2D", "maxpool2d", "max_pool2d"]
PATTERN_ONLY_SPELLINGS = ["max_pooling_2d", "MAX_POOL_2D", "_maxPooling2d_"]


@pytest.mark.parametrize("spelling", LISTED_SPELLINGS + PATTERN_ONLY_SPELLINGS)
def test_type_spellings_select_the_class(validator, spelling):
    document = spec({"type": spelling, "pool_size": 2})
    assert problems(validator, document) == []
    parse_spec(document, "m.yaml")
    # ... and its arguments, not Dense's.
    assert problems(validator, spec({"type": spelling, "units": 2})) == [(["layers", 0], "additionalProperties")]


def test_type_enum_offers_the_spellings_people_write(schema):
    enum = schema["$defs"]["layerType"]["anyOf"][0]["enum"]
    assert set(LISTED_SPELLINGS) <= set(enum)
    assert {"Conv2D", "conv2d", "Convolution2D", "convolution2d", "SimpleRNN", "simple_rnn", "LSTM", "lstm",
            "BatchNormalization", "batch_normalization", "GlobalAvgPool1D", "global_avg_pool1d"} <= set(enum)
    assert set(registry.classes()) <= set(enum)
    assert not set(PATTERN_ONLY_SPELLINGS) & set(enum)


@pytest.mark.parametrize("spelling", ["Conv2D", "conv2d", "conv_2d", "Convolution2D", "convolution2d"])
def test_conv2d_spellings(validator, spelling):
    assert problems(validator, spec({"type": spelling, "filters": 2, "kernel_size": 3})) == []


def test_layer_without_type_is_dense(validator):
    assert problems(validator, spec({"units": 2, "activation": "relu"})) == []
    assert problems(validator, spec({"filters": 2})) == [(["layers", 0], "additionalProperties"),
                                                          (["layers", 0], "required")]


def test_every_layer_class_has_a_definition(schema):
    definitions = schema["$defs"]
    for layer_class in set(registry.classes().values()):
        definition = definitions[f"layer.{layer_class.__name__}"]
        assert definition["additionalProperties"] is False
        assert set(registry.arguments_of(layer_class)) | {"type", "name", "inputs", "repeat"} == \
            set(definition["properties"])
    assert "layer.MaxPool2D" not in definitions  # aliases share their class's definition


def test_arguments_carry_kinds_defaults_and_descriptions(schema):
    dense = schema["$defs"]["layer.Dense"]
    assert dense["description"] == "Densely connected layer: `activation(x @ kernel + bias)`."
    assert dense["required"] == ["units"]
    units = dense["properties"]["units"]
    assert units == {"if": {"$ref": "#/$defs/expression"}, "else": {"type": "integer", "minimum": 1},
                     "description": "Size of the output's last axis (an integer >= 1; required)."}
    assert dense["properties"]["kernel_initializer"]["default"] == "glorot_uniform"
    assert dense["properties"]["kernel_initializer"]["else"]["$ref"] == "#/$defs/initializer"
    assert dense["properties"]["activation"]["default"] is None
    assert schema["$defs"]["layer.ZeroPadding1D"]["properties"]["padding"]["default"] == [1, 1]
    assert schema["$defs"]["layer.Dropout"]["properties"]["rate"]["else"]["maximum"] == 1
    assert "required" not in schema["$defs"]["layer.Flatten"]


def test_activation_and_initializer_names_come_from_their_modules(schema):
    activation = schema["$defs"]["activation"]
    assert activation["anyOf"][0]["enum"] == layerspec.activations.names()
    assert activation["anyOf"][1] == {"type": "null"}
    names = schema["$defs"]["initializerName"]["anyOf"][0]["enum"]
    assert set(layerspec.initializers.names()) | {"GlorotUniform", "Zeros", "VarianceScaling"} <= set(names)


@pytest.mark.usefixtures("clean_registry")
def test_a_plugin_layer_registered_now_is_in_the_schema():
    assert "layer.ScaledIdentity" not in spec_schema()["$defs"]

    @layerspec.register
    class ScaledIdentity(layerspec.Layer):
        """Multiplies its input by a constant.

        Args:
            factor: what to multiply by,
                at least ``0``.
            note (any): kept, unused.

        Output shape:
            the input's.
        """

        def __init__(self, factor: layerspec.arguments.Number(min=0), note=None, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

    schema = spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    definition = schema["$defs"]["layer.ScaledIdentity"]
    assert definition["description"] == "Multiplies its input by a constant."
    assert definition["required"] == ["factor"]
    assert definition["properties"]["factor"]["else"]["minimum"] == 0
    assert definition["properties"]["note"] == {"default": None,
                                                "description": "Kept, unused (any value; default null)."}
    assert definition["properties"]["factor"]["description"] == (
        "What to multiply by, at least `0` (a number >= 0; required).")
    assert {"ScaledIdentity", "scaledidentity", "scaled_identity"} <= set(
        schema["$defs"]["layerType"]["anyOf"][0]["enum"])
    validator = jsonschema.Draft202012Validator(schema)
    assert problems(validator, spec({"type": "scaled_identity", "factor": 2, "note": [1]})) == []
    assert problems(validator, spec({"type": "ScaledIdentity", "factor": -1})) == [
        (["layers", 0, "factor"], "minimum")]
    assert problems(validator, spec({"type": "ScaledIdentity", "factr": 2})) == [
        (["layers", 0], "additionalProperties"), (["layers", 0], "required")]


@pytest.mark.usefixtures("clean_registry")
def test_plugin_example_validates_once_its_plugin_is_loaded():
    document = yaml.safe_load((REPO / "examples" / "plugins" / "simple_dense.yaml").read_text(encoding="utf-8"))
    load_plugin(str(REPO / "examples" / "plugins" / "simple_dense.py"))
    assert problems(jsonschema.Draft202012Validator(spec_schema()), document) == []


def test_draft_7_tools_see_the_same_problems(schema, validator):
    # The YAML language server implements draft 7: the schema keeps to what
    # both drafts mean alike ($ref siblings are only annotations).
    draft7 = jsonschema.Draft7Validator(schema)
    for document, _ in BROKEN.values():
        assert problems(draft7, document) == problems(validator, document)


def test_schema_command_prints_the_schema_with_plugins(cli, clean_registry):
    from tests.conftest import REPO

    result = cli("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == spec_schema()
    plugin = REPO / "examples" / "plugins" / "simple_dense.py"
    with_plugin = json.loads(cli("schema", "--plugin", plugin).stdout)
    assert "layer.SimpleDense" in with_plugin["$defs"]
    assert "layer.SimpleDense" not in json.loads(result.stdout)["$defs"]
