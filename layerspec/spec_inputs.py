"""A spec's model inputs: ``input``, ``inputs``, or ``Input`` entries.

Three ways to declare them, one at a time:

- ``input: [28, 28, 1]``: one input, named ``input``;
- ``inputs: {image: [64, 64, 3], ids: {shape: [16], dtype: int32}}``:
  several, in order;
- ``{type: Input, shape: [784], name: pixels}`` (or ``InputLayer``) in the
  layer list, where a Keras user would write it.

Without any, the model has one input of unknown shape, which ``run`` takes
from the data and ``summary`` from ``--input-shape``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .arguments import describe_value, suggest
from .errors import Position
from .yamlread import YamlMap, key_position, position_of

#: Dtypes a model input may have: the model's floats, or integer ids.
INPUT_DTYPES = ("float32", "float64", "int32", "int64")
#: Keys of an ``inputs:`` entry written as a mapping.
INPUT_KEYS = ("shape", "dtype")
#: Keys of an ``Input``/``InputLayer`` entry in the layer list.
INPUT_ENTRY_KEYS = ("type", "shape", "dtype", "name", "batch_shape")
INPUT_TYPES = ("input", "inputlayer")


@dataclass
class InputDecl:
    """One declared model input.

    Attributes:
        name: its name, which layers' ``inputs`` refer to.
        shape: per-sample shape (no batch axis), None when not given.
        dtype: its dtype, None for the model's.
        position: where it is declared (for errors about it).
    """

    name: str
    shape: tuple | None
    dtype: str | None
    position: Position | None


def is_input_entry(entry: Any) -> bool:
    """Whether a layer-list entry declares a model input (``type: Input``)."""
    type_name = entry.get("type") if isinstance(entry, dict) else None
    return isinstance(type_name, str) and type_name.replace("_", "").lower() in INPUT_TYPES


def read_top_level_inputs(document: YamlMap, problems) -> list[InputDecl] | None:
    """The inputs declared by ``input`` or ``inputs``; None when neither is."""
    if "input" in document and "inputs" in document:
        problems.add("give either 'input' (one input) or 'inputs' (named inputs), not both",
                     key_position(document, "inputs"), "invalid-spec")
    if "inputs" in document:
        return _read_named_inputs(document["inputs"], position_of(document, "inputs"), problems)
    if "input" not in document or document["input"] is None:
        return None
    shape = _read_shape(document["input"], "'input'", position_of(document, "input"), problems)
    return [InputDecl("input", shape, None, position_of(document, "input"))]


def _read_named_inputs(value: Any, position: Position | None, problems) -> list[InputDecl]:
    if not isinstance(value, dict) or not value:
        problems.add("'inputs' must map each input's name to its shape, e.g. {image: [32, 32, 3], "
                     f"meta: [8]}}, got {describe_value(value)}", position, "invalid-value")
        return []
    declared = []
    for name, written in value.items():
        where = position_of(value, name)
        if not name or "/" in name:
            problems.add(f"input name {describe_value(name)} must be non-empty and without '/'",
                         key_position(value, name), "invalid-value")
            continue
        if isinstance(written, dict):
            declared.append(_read_input_mapping(name, written, where, problems))
        else:
            declared.append(InputDecl(name, _read_shape(written, f"input '{name}'", where, problems), None,
                                      key_position(value, name)))
    return declared


def _read_input_mapping(name: str, written: dict, position: Position | None, problems) -> InputDecl:
    for key in written:
        if key not in INPUT_KEYS:
            problems.add(f"input '{name}': unknown key '{key}'{suggest(key, INPUT_KEYS)} (an input takes "
                         "'shape' and 'dtype')", key_position(written, key), "unknown-key")
    if "shape" not in written:
        problems.add(f"input '{name}': missing 'shape'", position, "missing-key")
        shape = None
    else:
        shape = _read_shape(written["shape"], f"input '{name}'", position_of(written, "shape"), problems)
    dtype = _read_input_dtype(written, f"input '{name}'", problems)
    return InputDecl(name, shape, dtype, position)


def read_input_entry(index: int, entry: YamlMap, problems) -> InputDecl:
    """An ``{type: Input, shape: [...], name: ..., dtype: ...}`` entry of the layer list."""
    label = f"layer {index + 1} (Input)"
    for key in entry:
        if key not in INPUT_ENTRY_KEYS:
            problems.add(f"{label}: unknown argument '{key}'{suggest(key, INPUT_ENTRY_KEYS)} (an Input takes "
                         "shape, dtype and name)", key_position(entry, key), "unknown-argument")
    name = entry.get("name", "")  # unnamed inputs are numbered once all are read
    if not isinstance(name, str) or "/" in name or ("name" in entry and not name):
        problems.add(f"{label}: 'name' must be a non-empty string without '/', got {describe_value(name)}",
                     position_of(entry, "name"), "invalid-value")
        name = ""
    shape = None
    if "batch_shape" in entry:
        shape = _read_batch_shape(entry["batch_shape"], label, position_of(entry, "batch_shape"), problems)
        if "shape" in entry:
            problems.add(f"{label}: give 'shape' or 'batch_shape', not both", key_position(entry, "shape"),
                         "invalid-value")
    elif "shape" in entry:
        shape = _read_shape(entry["shape"], f"{label}: 'shape'", position_of(entry, "shape"), problems)
    else:
        problems.add(f"{label}: missing 'shape' (the per-sample shape, e.g. [28, 28, 1])", entry.position,
                     "missing-argument")
    return InputDecl(name, shape, _read_input_dtype(entry, label, problems), entry.position)


def _read_batch_shape(value: Any, label: str, position: Position | None, problems) -> tuple | None:
    if isinstance(value, list) and value and value[0] is not None:
        problems.add(f"{label}: a fixed batch size ({describe_value(value[0])}) is not supported: write "
                     "null first, or use 'shape'", position, "invalid-value")
        return None
    return _read_shape(value[1:] if isinstance(value, list) else value, f"{label}: 'batch_shape' after the batch",
                       position, problems)


def _read_shape(value: Any, what: str, position: Position | None, problems) -> tuple | None:
    from .spec import read_shape_list

    message = read_shape_list(value)
    if message:
        problems.add(f"{what} {message}", position, "invalid-value")
        return None
    return tuple(value)


def _read_input_dtype(written: dict, label: str, problems) -> str | None:
    dtype = written.get("dtype")
    if dtype is None:
        return None
    if dtype not in INPUT_DTYPES:
        problems.add(f"{label}: 'dtype' must be one of {', '.join(INPUT_DTYPES)}, got {describe_value(dtype)}",
                     position_of(written, "dtype"), "invalid-value")
        return None
    return dtype


def check_unique_input_names(declared: list[InputDecl], problems) -> None:
    """Two inputs with one name cannot both be referred to."""
    seen: set[str] = set()
    for item in declared:
        if item.name in seen:
            problems.add(f"duplicate input name '{item.name}'", item.position, "duplicate-name")
        seen.add(item.name)
