"""A JSON Schema (draft 2020-12) of the spec format, read from the layer registry.

``layerspec schema`` prints :func:`spec_schema`, so editors running the YAML
language server complete and check specs as they are typed: top-level keys,
layer type names, each type's arguments with their kinds, defaults and
descriptions, activation and initializer names.

The schema mirrors :mod:`layerspec.spec` as far as JSON Schema can:

- a layer's ``type`` is matched ignoring case and underscores, like
  :func:`layerspec.registry.normalize`: an ``enum`` lists the spellings
  people write (for completion), a pattern accepts every other one;
- a layer without ``type`` is a ``Dense`` (``DEFAULT_TYPE``);
- one ``if``/``then`` per layer class applies that class's definition
  (``$defs/layer.NAME``), whose ``additionalProperties: false`` flags a
  misspelled argument.

What it cannot express is left to ``layerspec check``: shapes fitting
through the stack, unique layer names, the cross-argument rules a layer
checks in its constructor, and (JSON having one number type) that ``2.0``
is not an integer.
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from . import initializers, registry
from .arguments import ActivationName, InitializerName, LayerArgument, Optional, any_case_pattern
from .catalog import _yaml_value, catalog
from .layers.base import snake_case
from .spec import DEFAULT_TYPE, DTYPES, EXPECT_KEYS
from .spec_inputs import INPUT_DTYPES, INPUT_TYPES

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:layerspec:spec"

#: Where a layer class's definition lives: ``#/$defs/layer.Conv2D``.
LAYER_DEF_PREFIX = "layer."

_EXPECT_DESCRIPTIONS = {
    "output_shape": "The model's per-sample output shape (batch axis left out), e.g. [10].",
    "output_shapes": "Each output's per-sample shape by output name, for models with several outputs.",
    "params": "The total number of parameters.",
    "trainable_params": "The number of trainable parameters.",
    "macs": "The multiply-accumulates per sample.",
    "max_params": "A budget: at most this many parameters.",
}

#: The values initializer arguments take (see ``layerspec.initializers``).
_INITIALIZER_ARGUMENTS = {
    "value": {"type": "number"},
    "mean": {"type": "number"},
    "stddev": {"type": "number", "minimum": 0},
    "minval": {"type": "number"},
    "maxval": {"type": "number"},
    "gain": {"type": "number"},
    "scale": {"type": "number", "exclusiveMinimum": 0},
    "seed": {"type": ["integer", "null"], "minimum": 0},
}


@dataclass(frozen=True)
class LayerType:
    """One registered layer class, with every name a spec may call it by."""

    name: str
    layer_class: type
    summary: str
    #: Display names, lower case and Keras's snake_case, aliases included.
    spellings: tuple[str, ...]
    #: The registry keys (``normalize``d names) of the class and its aliases.
    keys: tuple[str, ...]

    @property
    def ref(self) -> str:
        return _ref(LAYER_DEF_PREFIX + self.name)


def spec_schema() -> dict:
    """The JSON Schema of a spec, for every layer type registered now.

    Plugins registered before the call (``--plugin``, ``LAYERSPEC_PLUGINS``,
    entry points, ``@layerspec.register``) are included.
    """
    layer_types = registered_layer_types()
    definitions = {
        "layer": _layer_schema(layer_types),
        "layerOrBlock": {"anyOf": [{"$ref": "#/$defs/layer"}, {"$ref": "#/$defs/blockUse"}],
                         "description": "A layer, or the use of a block defined in `blocks`."},
        "blockUse": _block_use_schema(),
        "block": _block_schema(),
        "expression": {"type": "string", "pattern": r"\$\{",
                       "description": "An ${EXPR}: model and block arguments, numbers, + - * / // %, "
                                      "parentheses, min, max, round."},
        "repeat": {**_or_expression({"type": "integer", "minimum": 1}),
                   "description": "Apply the entry this many times in a row, each copy fed by the one before."},
        "layerType": _type_name_schema(layer_types),
        "layerName": _layer_name_schema(),
        "reference": _reference_schema(),
        "references": {"anyOf": [{"$ref": "#/$defs/reference"},
                                 {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/reference"}}]},
        "shape": {"type": "array", "items": {"$ref": "#/$defs/size"}, "minItems": 1},
        "size": {**_or_expression({"type": ["integer", "null"], "minimum": 1}),
                 "description": "A positive size, or null for one not known in advance."},
        "activation": _activation_schema(),
        "initializer": _initializer_schema(),
        "initializerName": _initializer_name_schema(),
        "initializerMapping": _initializer_mapping_schema(),
    }
    for layer_type in layer_types:
        definitions[LAYER_DEF_PREFIX + layer_type.name] = _layer_type_schema(layer_type)
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID,
        "title": "layerspec spec",
        "description": "A neural network as a stack of layers, each listing what it outputs "
                       "(units, filters, activation); layerspec infers every shape.",
        "type": "object",
        "properties": _top_level_properties(),
        "required": ["layers"],
        "additionalProperties": False,
        # Without `blocks` every entry is a layer of a registered type (so an
        # editor flags a misspelt type); with them, an entry may use a block.
        "if": {"required": ["blocks"]},
        "then": {"properties": {"layers": {"items": {"$ref": "#/$defs/layerOrBlock"}}}},
        "else": {"properties": {"layers": {"items": {"$ref": "#/$defs/layer"}}}},
        "$defs": definitions,
    }


def registered_layer_types() -> list[LayerType]:
    """Every registered layer class once (aliases folded in), sorted by name."""
    layer_types = []
    for entry in catalog():
        displays = [entry["type"], *entry["aliases"]]
        layer_types.append(LayerType(
            name=entry["type"],
            layer_class=registry.lookup(entry["type"]),
            summary=_sentence(entry["summary"]),
            spellings=_spellings(displays),
            keys=tuple(dict.fromkeys(registry.normalize(display) for display in displays)),
        ))
    return layer_types


def _spellings(displays: list[str]) -> tuple[str, ...]:
    """``MaxPooling2D`` → ``MaxPooling2D``, ``maxpooling2d``, ``max_pooling2d``."""
    spellings = []
    for display in displays:
        spellings += [display, display.lower(), snake_case(display)]
    return tuple(dict.fromkeys(spellings))


def _ref(definition: str) -> str:
    """A ``$ref`` to ``#/$defs/definition``, escaped as JSON Pointer and URI."""
    pointer = definition.replace("~", "~0").replace("/", "~1")
    return "#/$defs/" + quote(pointer, safe="~!$&'()*+,;=:@.-_")


def _names_pattern(keys, skip: str = "") -> str:
    """A regex for any of ``keys`` in any case (with ``skip`` anywhere)."""
    return "^(?:" + "|".join(any_case_pattern(key, skip) for key in keys) + ")$"


# -- top level --------------------------------------------------------------
def _top_level_properties() -> dict:
    return {
        "name": {"type": "string", "minLength": 1,
                 "description": "The model's name; default: the spec file's name without extension."},
        "input": {"type": ["array", "null"], "items": {"$ref": "#/$defs/size"}, "minItems": 1,
                  "description": "The per-sample input shape, batch axis left out, e.g. [28, 28, 1]; null "
                                 "for an unknown size. Left out: taken from --input-shape or the data."},
        "inputs": {"type": "object", "minProperties": 1,
                   "additionalProperties": {"anyOf": [
                       {"$ref": "#/$defs/shape"},
                       {"type": "object", "required": ["shape"], "additionalProperties": False,
                        "properties": {"shape": {"$ref": "#/$defs/shape"},
                                       "dtype": {"type": "string", "enum": list(INPUT_DTYPES)}}}]},
                   "description": "Named model inputs in order, each its per-sample shape, or {shape, dtype} "
                                  "(int32 token ids beside float images). Instead of `input`."},
        "outputs": {"$ref": "#/$defs/references",
                    "description": "The layer (or list of layers) whose results the model returns; "
                                   "default: the last layer."},
        "dtype": {"type": "string", "enum": list(DTYPES), "default": DTYPES[0],
                  "description": "The model's floating-point type."},
        "args": {"type": "object", "propertyNames": {"pattern": IDENTIFIER},
                 "description": "Model arguments and their values, used as ${NAME} in the spec; "
                                "overridable with --set NAME=VALUE and variants."},
        "variants": {"type": "object", "additionalProperties": {
                         "type": "object", "propertyNames": {"pattern": IDENTIFIER},
                         "properties": {"expect": _expect_schema()}},
                     "description": "Named sets of argument values (--variant NAME); `expect` inside one "
                                    "replaces the spec's expectations for that variant."},
        "blocks": {"type": "object", "propertyNames": {"pattern": IDENTIFIER},
                   "additionalProperties": {"$ref": "#/$defs/block"},
                   "description": "Named, parameterised sub-graphs, used as a layer type."},
        "layers": {"type": "array", "minItems": 1,
                   "description": "The layers, first to last: each a mapping of a `type` "
                                  f"(default {DEFAULT_TYPE}) and that type's Keras arguments."},
        "expect": _expect_schema(),
    }


#: A name of letters, digits and underscores (model and block arguments, blocks).
IDENTIFIER = "^[A-Za-z_][A-Za-z0-9_]*$"


def _block_schema() -> dict:
    return {"type": "object", "required": ["layers"], "additionalProperties": False,
            "properties": {
                "args": {"type": "object", "propertyNames": {"pattern": IDENTIFIER},
                         "description": "The block's arguments and their defaults (null: required)."},
                "inputs": {"anyOf": [{"type": "string", "pattern": IDENTIFIER},
                                     {"type": "array", "minItems": 1, "uniqueItems": True,
                                      "items": {"type": "string", "pattern": IDENTIFIER}}],
                           "description": "The names of the block's inputs (default one, `in`)."},
                "layers": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layerOrBlock"}},
                "outputs": {"$ref": "#/$defs/references",
                            "description": "The layer (or layers) whose results the block gives; "
                                           "default: its last layer."}},
            "description": "A named sub-graph: its arguments, inputs, layers and outputs."}


def _block_use_schema() -> dict:
    return {"type": "object", "required": ["type"],
            "properties": {"type": {"type": "string", "pattern": IDENTIFIER, "not": {"$ref": "#/$defs/layerType"},
                                    "description": "The name of a block defined in `blocks`."},
                           "name": {"$ref": "#/$defs/layerName"},
                           "inputs": {"$ref": "#/$defs/references"},
                           "repeat": {"$ref": "#/$defs/repeat"}},
            "description": "A block applied: its arguments as keys, besides `name`, `inputs` and `repeat`."}


def _expect_schema() -> dict:
    properties = {}
    for key in EXPECT_KEYS:
        if key == "output_shape":
            schema = {"type": "array", "items": {"$ref": "#/$defs/size"}}
        elif key == "output_shapes":
            schema = {"type": "object", "minProperties": 1,
                      "additionalProperties": {"type": "array", "items": {"$ref": "#/$defs/size"}}}
        else:
            schema = {"type": "integer", "minimum": 0}
        properties[key] = {**schema, "description": _EXPECT_DESCRIPTIONS.get(key, "A non-negative integer.")}
    return {"type": ["object", "null"], "properties": properties, "additionalProperties": False,
            "description": "What `layerspec check` verifies about the model (for CI)."}


# -- layers -----------------------------------------------------------------
def _layer_schema(layer_types: list[LayerType]) -> dict:
    """A layer: its ``type`` picks the definition its arguments are checked by."""
    default = registry.lookup(DEFAULT_TYPE)
    untyped = {"if": {"type": "object", "not": {"anyOf": [{"required": ["type"]}, {"required": ["reuse"]}]}},
               "then": {"$ref": next(t.ref for t in layer_types if t.layer_class is default)}}
    reuse = {"if": {"type": "object", "required": ["reuse"]}, "then": _reuse_schema()}
    model_input = {"if": _type_matches(INPUT_TYPES), "then": _input_entry_schema()}
    branches = [untyped, reuse, model_input] + [{"if": _type_matches(t.keys), "then": {"$ref": t.ref}}
                                                for t in layer_types]
    return {
        "type": "object",
        "description": f"A layer: its `type` (default {DEFAULT_TYPE}), an optional unique `name`, "
                       "and the Keras constructor arguments of that type.",
        "properties": {"type": {"$ref": "#/$defs/layerType"}},  # `name` is in each type's definition
        "allOf": branches,
    }


def _reference_schema() -> dict:
    return {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer", "maximum": -1}],
            "description": "A layer's or a model input's name, or a negative offset (-1: the layer above)."}


def _reuse_schema() -> dict:
    return {"type": "object", "required": ["reuse"], "additionalProperties": False,
            "properties": {"reuse": {"type": "string", "minLength": 1,
                                     "description": "A layer above to apply again, sharing its weights."},
                           "inputs": {"$ref": "#/$defs/references"},
                           "name": {"$ref": "#/$defs/layerName"}}}


def _input_entry_schema() -> dict:
    return {"type": "object", "additionalProperties": False,
            "properties": {"type": {"type": "string"}, "shape": {"$ref": "#/$defs/shape"},
                           "batch_shape": {"type": "array", "items": {"$ref": "#/$defs/size"}},
                           "dtype": {"type": "string", "enum": list(INPUT_DTYPES)},
                           "name": {"$ref": "#/$defs/layerName"}},
            "description": "A model input, as Keras's Input: its per-sample shape, dtype and name."}


def _type_matches(keys) -> dict:
    """An ``if``: an object whose ``type`` is one of ``keys``, in any case, with any underscores."""
    # `"type": "object"`: for anything else `properties` and `required` hold
    # vacuously, and every branch would apply.
    return {"type": "object", "required": ["type"],
            "properties": {"type": {"type": "string", "pattern": _names_pattern(keys, "_")}}}


def _type_name_schema(layer_types: list[LayerType]) -> dict:
    spellings = sorted({s for t in layer_types for s in t.spellings} | {"Input", "InputLayer"},
                       key=lambda s: (s.lower(), s))
    keys = [key for t in layer_types for key in t.keys] + list(INPUT_TYPES)
    return {
        "type": "string",
        "description": "The layer's Keras class name (Dense, Conv2D, MaxPooling2D, LSTM, ...), "
                       f"matched ignoring case and underscores; default {DEFAULT_TYPE}.",
        "anyOf": [{"enum": spellings}, {"pattern": _names_pattern(keys, "_")}],
    }


def _layer_name_schema() -> dict:
    # ``null`` is the same as leaving the name out (spec._read_layer_header).
    return {"type": ["string", "null"], "minLength": 1, "pattern": "^[^/]*$",
            "description": "A name unique in the model, without '/'; default: Keras's snake_case "
                           "type name, numbered per model (dense, dense_1, ...)."}


def _layer_type_schema(layer_type: LayerType) -> dict:
    """One class's definition: its arguments and nothing else."""
    arguments = registry.arguments_of(layer_type.layer_class)
    docs = argument_docs(layer_type.layer_class)
    properties: dict[str, Any] = {"type": {
        "type": "string",
        "description": layer_type.summary or layer_type.name,
        "anyOf": [{"enum": list(layer_type.spellings)}, {"pattern": _names_pattern(layer_type.keys, "_")}],
    }}
    for info in arguments.values():
        properties[info.name] = _argument_schema(info, docs.get(info.name, ""))
    # The spec reader takes `type`, `name`, `inputs` and `repeat` itself, whatever the signature.
    properties["name"] = {"$ref": "#/$defs/layerName"}
    properties["inputs"] = {"$ref": "#/$defs/references",
                            "description": "What the layer reads: layer or input names, or negative offsets "
                                           "(default: the layer above)."}
    properties["repeat"] = {"$ref": "#/$defs/repeat"}
    schema = {
        "title": layer_type.name,
        "description": layer_type.summary or layer_type.name,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    required = [info.name for info in arguments.values() if info.required and info.name not in ("type", "name")]
    if required:
        schema["required"] = required
    return schema


def _argument_schema(info: registry.ArgumentInfo, doc: str) -> dict:
    schema = _or_expression(_kind_schema(info.kind))
    accepts = f"{info.expected}; " + ("required" if info.required else f"default {_yaml_value(info.default)}")
    schema["description"] = (f"{_sentence(doc).rstrip('.')} ({accepts})." if doc else f"{_sentence(accepts)}.")
    if not info.required and _is_json(info.default):
        schema["default"] = _json_value(info.default)
    return schema


def _or_expression(schema: dict) -> dict:
    """``schema``, or an ${EXPR} computing the value. An ``if``/``else``
    rather than ``anyOf``, so that a bad plain value is reported by the
    keyword it breaks ("0 is less than the minimum of 1"), not as matching
    no alternative."""
    if not schema:
        return {}
    return {"if": {"$ref": "#/$defs/expression"}, "else": schema}


def _kind_schema(kind) -> dict:
    """The kind's own schema; shared definitions for activations and initializers."""
    if kind is None:
        return {}
    if type(kind) is ActivationName:
        return {"$ref": "#/$defs/activation"}
    if type(kind) is InitializerName:
        return {"$ref": "#/$defs/initializer"}
    if type(kind) is LayerArgument:
        # A layer entry with its `type` given, and none of an entry's wiring keys.
        return {"type": "object", "required": ["type"], "allOf": [{"$ref": "#/$defs/layer"}],
                "properties": {key: False for key in LayerArgument.ENTRY_KEYS}}
    if type(kind) is Optional:
        inner = _kind_schema(kind.kind)
        alternatives = inner["anyOf"] if list(inner) == ["anyOf"] else [inner]
        return {"anyOf": [*alternatives, {"type": "null"}]}
    return kind.json_schema()


def _sentence(text: str) -> str:
    """Docstring text for an editor: capitalised, with Markdown code quotes."""
    text = text.replace("``", "`")
    return text[:1].upper() + text[1:]


def _is_json(value) -> bool:
    """Whether ``value`` can be written as JSON (tuples as arrays)."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_is_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item) for key, item in value.items())
    return False


def _json_value(value):
    if isinstance(value, (list, tuple)):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    return value


_ARGS_HEADER = re.compile(r"^(\s*)(?:Args|Arguments):\s*$")
_ARG_ENTRY = re.compile(r"^(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def argument_docs(layer_class: type) -> dict[str, str]:
    """Argument name → its text in the ``Args:`` sections of the class and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(layer_class.__mro__):  # a subclass's text wins
        docs.update(_parse_args_section(klass.__dict__.get("__doc__") or ""))
    return docs


def _parse_args_section(doc: str) -> dict[str, str]:
    """The entries of a Google/Keras-style ``Args:`` section, one line each."""
    docs: dict[str, str] = {}
    header_indent = None  # inside the section when set
    entry_indent = current = None
    for line in inspect.cleandoc(doc).splitlines():
        header = _ARGS_HEADER.match(line)
        if header:
            header_indent, entry_indent, current = len(header.group(1)), None, None
            continue
        if header_indent is None or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= header_indent:
            header_indent = None
            continue
        entry_indent = indent if entry_indent is None else entry_indent
        entry = _ARG_ENTRY.match(line.strip()) if indent == entry_indent else None
        if entry:
            current = entry.group(1)
            docs[current] = entry.group(2)
        elif current is not None and indent > entry_indent:
            docs[current] += " " + line.strip()
    return docs


# -- activations and initializers -------------------------------------------
def _activation_schema() -> dict:
    return {**ActivationName().json_schema(),
            "description": "An activation function's Keras name, or a mapping {name: NAME, ...its Keras keyword "
                           "arguments}, e.g. {name: gelu, approximate: true}; null for linear (none)."}


def _initializer_schema() -> dict:
    return {"description": "An initializer: a Keras name (glorot_uniform, zeros, ...) or a mapping "
                           "{type: NAME, ...arguments}, e.g. {type: random_normal, stddev: 0.1}.",
            "anyOf": [{"$ref": "#/$defs/initializerName"}, {"$ref": "#/$defs/initializerMapping"}]}


def _initializer_classes() -> dict[type, list[str]]:
    """Initializer class → the names it is known by (aliases included)."""
    by_class: dict[type, list[str]] = {}
    for name in initializers.names():
        by_class.setdefault(type(initializers.get(name)), []).append(name)
    return by_class


def _initializer_keys(names) -> list[str]:
    # initializers.get ignores case and underscores, as layer types do.
    return list(dict.fromkeys(registry.normalize(name) for name in names))


def _initializer_name_schema() -> dict:
    by_class = _initializer_classes()
    spellings = initializers.names() + sorted(cls.__name__ for cls in by_class)
    keys = _initializer_keys(name for names in by_class.values() for name in names)
    return {"type": "string",
            "description": "An initializer's Keras name or class name; case and underscores are ignored.",
            "anyOf": [{"enum": spellings}, {"pattern": _names_pattern(keys, "_")}]}


def _initializer_mapping_schema() -> dict:
    branches = [{"if": _type_matches(_initializer_keys(names)),
                 "then": {"title": getattr(cls, "name", names[0]), "properties": _initializer_properties(cls),
                          "additionalProperties": False}}
                for cls, names in _initializer_classes().items()]
    return {"type": "object", "required": ["type"],
            "properties": {"type": {"$ref": "#/$defs/initializerName"}},
            "description": "An initializer with arguments, e.g. {type: random_normal, stddev: 0.1}.",
            "allOf": branches}


def _initializer_properties(cls: type) -> dict:
    """``type`` and the constructor arguments of an initializer class."""
    parameters = inspect.signature(cls.__init__).parameters
    properties: dict[str, Any] = {"type": {"$ref": "#/$defs/initializerName"}}
    for argument in getattr(cls, "_ARGS", ()):
        properties[argument] = dict(_initializer_argument_schema(cls, argument))
        default = parameters[argument].default if argument in parameters else inspect.Parameter.empty
        if default is not inspect.Parameter.empty and _is_json(default):
            properties[argument]["default"] = _json_value(default)
    return properties


def _initializer_argument_schema(cls: type, argument: str) -> dict:
    if argument == "mode" and hasattr(cls, "MODES"):
        return {"type": "string", "enum": list(cls.MODES)}
    if argument == "distribution" and hasattr(cls, "DISTRIBUTIONS"):
        # Case is ignored and "normal" means "truncated_normal", as in Keras.
        options = [*cls.DISTRIBUTIONS, "normal"]
        return {"type": "string", "anyOf": [{"enum": options}, {"pattern": _names_pattern(options)}]}
    return _INITIALIZER_ARGUMENTS.get(argument, {})
