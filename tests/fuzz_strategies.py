"""Hypothesis strategies for ``tests/test_fuzz.py``.

- :func:`spec_documents`: spec mappings generated from the layer registry,
  each argument's value drawn from its declared kind;
- :func:`mutated_documents`: the same, then broken in 1-3 places (dropped
  keys, junk values, unknown keys, extreme sizes);
- :func:`spec_texts` / :func:`almost_yaml`: YAML text, and YAML text with
  characters inserted, deleted or replaced;
- :func:`npy_files` / :func:`npz_files`: ``.npy`` and ``.npz`` bytes, valid
  ones mutated and hand-written headers of every odd kind.

Nothing here asserts anything; the properties live in the test module.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
import zipfile

import numpy as np
import yaml
from hypothesis import strategies as st

from layerspec import activations, initializers, registry
from layerspec.arguments import (
    ActivationName,
    Boolean,
    Choice,
    InitializerName,
    Integer,
    IntList,
    IntTuple,
    Number,
    Optional,
    Text,
)

# --------------------------------------------------------------------------
# The registry, read once


def builtin_layers() -> list[tuple[type, list[str]]]:
    """``(class, [type names])`` for every built-in layer, aliases merged.

    The class's own display name comes first; aliases follow. Layers that
    plugins registered (by other tests, or the environment) are left out.
    """
    by_class: dict[type, list[str]] = {}
    for name, layer_class in registry.classes().items():
        if registry.origin_of(name) != "built-in":
            continue
        if getattr(layer_class, "takes_several_inputs", False):
            continue  # merges need 'inputs' naming what they merge: not a plain stack's layer
        by_class.setdefault(layer_class, []).append(name)
    layers = []
    for layer_class, names in by_class.items():
        names.sort(key=lambda n: (n != layer_class.__name__, n))
        layers.append((layer_class, names))
    layers.sort(key=lambda item: item[0].__name__)
    return layers


BUILTIN_LAYERS = builtin_layers()
ARGUMENTS = {layer_class: registry.arguments_of(layer_class) for layer_class, _ in BUILTIN_LAYERS}

#: Per-sample input rank a layer needs (absent: any rank), a hint that makes
#: generated stacks fit more often; it never decides what is valid.
_NEEDS_RANK = {
    "Conv1D": 2, "MaxPooling1D": 2, "AveragePooling1D": 2, "GlobalAveragePooling1D": 2,
    "GlobalMaxPooling1D": 2, "ZeroPadding1D": 2, "Cropping1D": 2, "UpSampling1D": 2,
    "SimpleRNN": 2, "LSTM": 2, "GRU": 2,
    "Conv2D": 3, "MaxPooling2D": 3, "AveragePooling2D": 3, "GlobalAveragePooling2D": 3,
    "GlobalMaxPooling2D": 3, "ZeroPadding2D": 3, "Cropping2D": 3, "UpSampling2D": 3,
    "Conv3D": 4, "MaxPooling3D": 4, "AveragePooling3D": 4, "GlobalAveragePooling3D": 4,
    "GlobalMaxPooling3D": 4, "ZeroPadding3D": 4, "Cropping3D": 4, "UpSampling3D": 4,
    "Conv1DTranspose": 2, "DepthwiseConv1D": 2, "SeparableConv1D": 2,
    "Conv2DTranspose": 3, "DepthwiseConv2D": 3, "SeparableConv2D": 3,
    "RepeatVector": 1,
}


def needed_rank(layer_class: type) -> int | None:
    return _NEEDS_RANK.get(layer_class.__name__)


def output_rank(layer_class: type, arguments: dict, rank: int) -> int:
    """The per-sample rank after ``layer_class`` (a hint, as above)."""
    name = layer_class.__name__
    if name.startswith("Global"):
        return rank if arguments.get("keepdims") is True else 1
    if name in ("SimpleRNN", "LSTM", "GRU"):
        return 2 if arguments.get("return_sequences") is True else 1
    if name == "Flatten":
        return 1
    if name == "Embedding":
        return rank + 1
    if name == "RepeatVector":
        return 2
    if name == "Reshape":
        target = arguments.get("target_shape")
        return len(target) if isinstance(target, list) and target else rank
    return rank


# --------------------------------------------------------------------------
# Values for each argument kind


def any_case(text: str) -> st.SearchStrategy[str]:
    """``text`` with each letter in either case (mostly as written)."""
    return st.one_of(
        st.just(text),
        st.lists(st.booleans(), min_size=len(text), max_size=len(text)).map(
            lambda flips: "".join(c.upper() if f else c for c, f in zip(text, flips))),
    )


def small_ints(minimum: int | None, maximum: int | None, span: int = 5) -> st.SearchStrategy[int]:
    low = minimum if minimum is not None else -3
    high = maximum if maximum is not None else max(low, 0) + span
    return st.integers(low, max(low, min(high, low + span + 3)))


def finite_numbers(kind: Number) -> st.SearchStrategy[float]:
    low = kind.min if kind.min is not None else -5.0
    high = kind.max if kind.max is not None else low + 5.0
    floats = st.floats(low, high, exclude_min=kind.min_exclusive, exclude_max=kind.max_exclusive,
                       allow_nan=False, allow_infinity=False)
    ints = st.integers(math.ceil(low), math.floor(high)).filter(
        lambda i: not (kind.min_exclusive and i == low) and not (kind.max_exclusive and i == high))
    return st.one_of(floats, ints) if math.floor(high) >= math.ceil(low) else floats


#: Names a spec may give a layer; arbitrary text now and then.
NAMES = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    st.text(min_size=1, max_size=8),
)

_INITIALIZER_ARGUMENTS = {
    "mean": st.floats(-1, 1), "stddev": st.floats(0, 1), "minval": st.floats(-1, 0),
    "maxval": st.floats(0, 1), "value": st.floats(-2, 2), "gain": st.floats(-2, 2),
    "scale": st.floats(0.01, 3), "seed": st.none() | st.integers(0, 2**31),
    "mode": st.sampled_from(["fan_in", "fan_out", "fan_avg"]),
    "distribution": st.sampled_from(["truncated_normal", "untruncated_normal", "uniform", "normal"]),
}


@st.composite
def initializer_mappings(draw) -> dict:
    """``{type: NAME, ...}`` with some of that initializer's arguments."""
    name = draw(st.sampled_from(initializers.names()))
    mapping = {"type": name}
    for argument in initializers.get(name)._ARGS:
        if argument in _INITIALIZER_ARGUMENTS and draw(st.booleans()):
            mapping[argument] = draw(_INITIALIZER_ARGUMENTS[argument])
    return mapping


def from_json_schema(schema: dict) -> st.SearchStrategy | None:
    """Values for the simple JSON Schemas custom argument kinds publish."""
    if "anyOf" in schema:
        options = [from_json_schema({**{k: v for k, v in schema.items() if k != "anyOf"}, **option})
                   for option in schema["anyOf"]]
        options = [option for option in options if option is not None]
        return st.one_of(options) if options else None
    if "enum" in schema:
        return st.sampled_from(schema["enum"]).flatmap(lambda v: any_case(v) if isinstance(v, str) else st.just(v))
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return small_ints(schema.get("minimum", -3), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum", -5), schema.get("maximum", 5))
    if kind == "array" and isinstance(schema.get("items"), dict):
        items = from_json_schema(schema["items"])
        if items is None:
            return None
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=schema.get("maxItems", 4))
    return None


def values_for(kind, argument: str, rank: int) -> st.SearchStrategy | None:
    """Values ``kind`` accepts (None: leave the argument at its default)."""
    if isinstance(kind, Optional):
        inner = values_for(kind.kind, argument, rank)
        return st.none() if inner is None else st.none() | inner
    if isinstance(kind, Boolean):
        return st.booleans()
    if isinstance(kind, Integer):
        return small_ints(kind.min, kind.max)
    if isinstance(kind, Number):
        return finite_numbers(kind)
    if isinstance(kind, Choice):
        return st.sampled_from(kind.options).flatmap(any_case)
    if isinstance(kind, IntTuple):
        low = kind.min if kind.min is not None else 0
        item = st.integers(low, low + 2)
        return item | st.lists(item, min_size=kind.length, max_size=kind.length)
    if isinstance(kind, IntList):
        if argument == "dims":  # Permute: a permutation of 1..rank, usually
            return st.permutations(list(range(1, rank + 1))) | st.lists(st.integers(1, 4), min_size=1, max_size=4)
        if argument == "target_shape":  # Reshape: often [-1] or [-1, k]
            return st.one_of(st.just([-1]), st.tuples(st.just(-1), st.integers(1, 4)).map(list),
                             st.lists(st.sampled_from([-1, 1, 2, 3, 4, 5, 6]), min_size=1, max_size=4))
        low = kind.min if kind.min is not None else 0
        return st.lists(st.integers(low, low + 5), min_size=1, max_size=4)
    if isinstance(kind, Text):
        return NAMES
    if isinstance(kind, ActivationName):
        return st.none() | st.sampled_from(activations.names())
    if isinstance(kind, InitializerName):
        return st.sampled_from(initializers.names()) | initializer_mappings()
    if kind is None:
        return None
    try:
        return from_json_schema(kind.json_schema())
    except Exception:  # an unknown kind with an unusual schema: keep its default
        return None


# --------------------------------------------------------------------------
# Specs


@st.composite
def layer_entries(draw, rank: int, first: bool) -> tuple[dict, type, int]:
    """One entry of ``layers`` and the rank it (probably) outputs."""
    fitting = [(cls, names) for cls, names in BUILTIN_LAYERS
               if needed_rank(cls) in (None, rank) and (first or cls.__name__ != "Embedding")]
    pool = fitting if fitting and draw(st.integers(0, 9)) < 8 else BUILTIN_LAYERS
    layer_class, names = draw(st.sampled_from(pool))
    entry: dict = {}
    type_name = draw(st.sampled_from(names).flatmap(
        lambda n: st.sampled_from([n, n, n.lower(), registry_snake(n)])))
    if not (layer_class.__name__ == "Dense" and draw(st.booleans())):  # Dense is the default type
        entry["type"] = type_name
    for info in ARGUMENTS[layer_class].values():
        if info.name in ("name", "trainable") and draw(st.integers(0, 3)) > 0:
            continue
        if not info.required and draw(st.integers(0, 9)) < 6:
            continue
        values = values_for(info.kind, info.name, rank)
        if values is None:
            continue
        entry[info.name] = draw(values)
    order = draw(st.permutations(list(entry)))
    entry = {key: entry[key] for key in order}
    return entry, layer_class, output_rank(layer_class, entry, rank)


def registry_snake(name: str) -> str:
    """``MaxPooling2D`` → ``max_pooling_2d``: another spelling the registry accepts."""
    out = []
    for i, char in enumerate(name):
        if i and (char.isupper() or (char.isdigit() and not name[i - 1].isdigit())):
            out.append("_")
        out.append(char.lower())
    return "".join(out)


SIZES = st.integers(1, 8)


@st.composite
def spec_documents(draw, max_layers: int = 4) -> dict:
    """A spec mapping drawn from the registry: input, 1-4 layers, extras."""
    rank = draw(st.integers(1, 4))
    shape = draw(st.lists(SIZES, min_size=rank, max_size=rank))
    if draw(st.integers(0, 3)) == 0:
        shape[draw(st.integers(0, rank - 1))] = None
    document: dict = {}
    if draw(st.integers(0, 4)) == 0:
        document["name"] = draw(NAMES)
    document["input"] = shape
    if draw(st.integers(0, 3)) == 0:
        document["dtype"] = draw(st.sampled_from(["float32", "float64"]))
    layers = []
    for index in range(draw(st.integers(1, max_layers))):
        entry, _, rank = draw(layer_entries(rank, first=index == 0))
        layers.append(entry)
    document["layers"] = layers
    if draw(st.integers(0, 5)) == 0:
        document["expect"] = draw(st.fixed_dictionaries({}, optional={
            "output_shape": st.lists(st.none() | SIZES, max_size=4),
            "params": st.integers(0, 10**6), "macs": st.integers(0, 10**6),
            "trainable_params": st.integers(0, 10**6), "max_params": st.integers(0, 10**6)}))
    order = draw(st.permutations(list(document)))
    return {key: document[key] for key in order}


def dump(document, flow_style: bool | None = False, width: int = 80) -> str:
    """YAML text for a document, as a person might have written it."""
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=flow_style, allow_unicode=True,
                          width=width)


@st.composite
def spec_texts(draw, documents=None) -> str:
    """YAML text of a generated (or given) document in a random layout."""
    document = draw(documents if documents is not None else spec_documents())
    style = draw(st.sampled_from([False, False, None, True]))
    width = draw(st.sampled_from([80, 80, 20, 1000]))
    text = dump(document, style, width)
    if draw(st.integers(0, 5)) == 0:
        text = "# generated by tests/test_fuzz.py\n" + text
    return text


# -- mutations ----------------------------------------------------------------

def _copy(value):
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


#: Values that are wrong for (nearly) every argument, or extreme for sizes
#: (copied on each draw: a mutation must never change a shared list or mapping).
JUNK = st.one_of(
    st.sampled_from([
        10**30, -(10**30), 2**40, 2**63, -(2**63), 2**31, -5, -1, 0, 1, 10**400,
        float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, 0.5, -0.0, 1e-300,
        True, False, None, "", " ", "null", "yes", "no", "on", "1e3", "0x10", "010", "~",
        "channels_first", "same", "relu", "glorot_uniform", "Dense", "\u00e9\u4e2d\U0001f600",
        "a" * 300, [], {}, [None], [[]], [1, [2, [3]]], {"type": "zeros"}, {"type": 1},
        {"type": "random_normal", "stddev": 1e308}, {"type": "constant", "value": float("nan")},
        {"type": "orthogonal", "gain": 10**30}, {"type": "variance_scaling", "scale": 0},
    ]),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.lists(st.integers(-3, 10) | st.none() | st.text(max_size=3), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers() | st.text(max_size=4), max_size=2),
).map(_copy)

EXTREME_SIZES = st.sampled_from([2**40, 2**31, 2**31 - 1, 2**32, 2**63 - 1, 2**63, 2**64, 10**30, 10**6,
                                 65536, 0, -1, -5, -(2**63)])


def _paths(value, prefix=()) -> list[tuple]:
    """Every path (keys and indices) to a value inside ``value``."""
    paths = []
    if isinstance(value, dict):
        for key, item in value.items():
            paths.append(prefix + (key,))
            paths.extend(_paths(item, prefix + (key,)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths.append(prefix + (index,))
            paths.extend(_paths(item, prefix + (index,)))
    return paths


def _parent(document, path):
    node = document
    for step in path[:-1]:
        node = node[step]
    return node


@st.composite
def mutated_documents(draw) -> object:
    """A generated spec mapping broken in 1-3 places."""
    document = _copy(draw(spec_documents()))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document) if isinstance(document, (dict, list)) else []
        operation = draw(st.sampled_from(["drop", "junk", "junk", "unknown_key", "extreme", "extreme", "whole"]))
        if operation == "whole" or not paths:
            if draw(st.integers(0, 3)) == 0:
                document = draw(JUNK)
            elif isinstance(document, dict):
                key = draw(st.sampled_from(["input", "layers", "name", "dtype", "expect"]))
                document[key] = draw(JUNK)
            continue
        if operation == "extreme":
            numeric = [p for p in paths if isinstance(_parent(document, p)[p[-1]], int)
                       and not isinstance(_parent(document, p)[p[-1]], bool)]
            if numeric:
                path = draw(st.sampled_from(numeric))
                _parent(document, path)[path[-1]] = draw(EXTREME_SIZES)
                continue
            operation = "junk"
        if operation == "unknown_key":
            mappings = [()] + [p for p in paths if isinstance(_parent(document, p)[p[-1]], dict)]
            path = draw(st.sampled_from(mappings))
            target = document if path == () else _parent(document, path)[path[-1]]
            if isinstance(target, dict):
                key = draw(st.text(max_size=10) | st.sampled_from(
                    ["unit", "activaton", "input_shape", "kernel_regularizer", "layer", "inputs", "type_", "Type"]))
                target[key] = draw(JUNK | st.integers(1, 5))
            continue
        path = draw(st.sampled_from(paths))
        parent = _parent(document, path)
        if operation == "drop":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JUNK)
    return document


# -- almost YAML ----------------------------------------------------------------

YAML_TRICKS = [
    "\t", "\x00", "&a ", "*a", "&anchor [1, 2]", "!!python/object/apply:os.system ['true'] ", "!!str ",
    "!custom ", "---\n", "...\n", "--- ", "\ufeff", "\u00e9", "\u4e2d", "\U0001f600", "{", "}", "[", "]",
    ":", ": ", "- ", "#", "'", '"', "\\", "%YAML 1.2\n", "%TAG ! tag:x,2000:\n", "? ", "|", ">", "\r",
    "\r\n", "\x85", "\u2028", "\x1b", "\x7f", "\ud800", "<<: ", ",", "@", "`", "%", "\n", "  ", "null",
    "~", ".inf", ".nan", "1e400", "9" * 50, "0x", "0o9", "-", "[" * 70, "{a: " * 70, "\xa0",
]


@st.composite
def almost_yaml(draw) -> str:
    """Valid spec text with 1-5 characters or tricky tokens inserted, deleted or replaced."""
    text = draw(spec_texts())
    for _ in range(draw(st.integers(1, 5))):
        position = draw(st.integers(0, len(text)))
        operation = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.sampled_from(YAML_TRICKS) | st.characters() | st.text(max_size=3))
        if operation == "insert":
            text = text[:position] + piece + text[position:]
        elif operation == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 4)):]
        else:
            text = text[:position] + piece + text[position + len(piece):]
    return text


def encode_text(text: str, encoding: str) -> bytes:
    """Bytes of ``text`` in ``encoding``; lone surrogates become invalid UTF-8."""
    return text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")


# --------------------------------------------------------------------------
# .npy and .npz


def npy_of(array: np.ndarray, version=None) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


@st.composite
def small_arrays(draw) -> np.ndarray:
    dtype = draw(st.sampled_from(["<f4", ">f4", "<f8", ">f8", "<f2", "<i1", "<i4", ">i8", "<u8", "|b1",
                                  "<c8", "<U3", "|S2", "<M8[s]", "<m8[ms]", "|V4", "[('a', '<f4'), ('b', '<i2')]"]))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    count = math.prod(shape)
    dt = np.dtype(eval(dtype) if dtype.startswith("[") else dtype)
    raw = draw(st.binary(min_size=count * dt.itemsize, max_size=count * dt.itemsize))
    array = np.frombuffer(raw, dtype=dt, count=count).reshape(shape) if count else np.zeros(shape, dt)
    if draw(st.booleans()) and array.ndim >= 2:
        array = np.asfortranarray(array)
    return array


_DESCRS = ["'<f4'", "'>f4'", "'<f8'", "'<f2'", "'|b1'", "'<i8'", "'>u2'", "'|u1'", "'<c16'", "'|O'", "'O'",
           "'V8'", "'|V0'", "'<U5'", "'|S3'", "'<M8[s]'", "'<m8'", "'f4'", "'float32'", "'<f16'", "'>g'",
           "[('a', '<f4')]", "[('a', '|O')]", "[('', '<f4')]", "[('a', '<f4', (2,))]", "[('a', '<f4'), ('a', '<f4')]",
           "{'names': ['a'], 'formats': ['<f4']}", "'<f4, <i4'", "'(2,)<f4'", "'<f4 (2, 2)'", "'a'", "''",
           "'<q'", "'<Q'", "'<e'", "'>U0'", "'|S0'", "'<i0'", "'x'", "1", "None", "b'<f4'", "'<T'", "'|T'"]
_SHAPES = ["()", "(0,)", "(3,)", "(2, 3)", "(-1,)", "(-3, 2)", "(2**40,)", "(1099511627776,)", "(True,)",
           "(1.5,)", "(9223372036854775807,)", "(9223372036854775808,)", "(4294967296, 4294967296)",
           "[2, 3]", "3", "None", "('3',)", "(2, (3,))", "(" + "1, " * 40 + ")", "(" + "1, " * 70 + ")",
           "(18446744073709551616,)", "(0, 18446744073709551616)", "(10**30,)", "(-0,)", "(1,) * 3"]
_ORDERS = ["False", "True", "0", "1", "None", "'yes'", "2", "False, 'extra': 1"]


@st.composite
def npy_header_files(draw) -> bytes:
    """A hand-written .npy header (of any validity) and some data."""
    fields = {
        "descr": draw(st.sampled_from(_DESCRS)),
        "fortran_order": draw(st.sampled_from(_ORDERS)),
        "shape": draw(st.sampled_from(_SHAPES) | st.lists(st.integers(-2, 6), max_size=4).map(
            lambda items: "(" + "".join(f"{i}, " for i in items) + ")")),
    }
    keys = [key for key in draw(st.permutations(list(fields))) if draw(st.integers(0, 9)) > 0]
    body = "{" + " ".join(f"'{key}': {fields[key]}," for key in keys)
    if draw(st.integers(0, 5)) == 0:
        body += " 'extra': 1,"
    body += " }"
    if draw(st.integers(0, 9)) == 0:
        body = draw(st.sampled_from(["[1, 2]", "1", "__import__('os')", "{", "{'descr': '<f4'", "{1: 2}", "set()",
                                     "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'descr': '|O'}"]))
    version = draw(st.sampled_from([(1, 0), (1, 0), (2, 0), (3, 0), (0, 0), (1, 1), (4, 0), (255, 255)]))
    encoded = body.encode("latin1", errors="replace") if version != (3, 0) else body.encode("utf-8")
    pad = draw(st.sampled_from([None, 0, 1, 100]))
    length_width = 2 if version[0] < 2 else 4
    if pad is None:  # numpy's own padding to a multiple of 64
        total = 6 + 2 + length_width + len(encoded) + 1
        encoded += b" " * ((-total) % 64)
    else:
        encoded += b" " * pad
    encoded += draw(st.sampled_from([b"\n", b"\n", b"", b"\r\n", b"\x00"]))
    length = len(encoded) + draw(st.sampled_from([0, 0, 0, 1, -1, 1000, 70000]))
    length_bytes = struct.pack("<I", length % 2**32)[:length_width]
    magic = draw(st.sampled_from([b"\x93NUMPY", b"\x93NUMPY", b"\x93NUMPX", b"PK\x03\x04", b""]))
    data_size = draw(st.sampled_from([0, 1, 3, 4, 8, 12, 24, 48, 100]))
    data = draw(st.binary(min_size=data_size, max_size=data_size))
    return magic + bytes(version) + length_bytes + encoded + data


@st.composite
def mutated_bytes(draw, base: bytes) -> bytes:
    """``base`` with 1-4 byte flips, insertions, deletions, a truncation or trailing bytes."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "flip", "insert", "delete", "truncate", "append", "splice"]))
        position = draw(st.integers(0, len(data)))
        if operation == "flip" and data:
            position = min(position, len(data) - 1)
            data[position] = draw(st.integers(0, 255))
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del data[position:position + draw(st.integers(1, 8))]
        elif operation == "truncate":
            del data[position:]
        elif operation == "append":
            data += draw(st.binary(min_size=1, max_size=16))
        elif operation == "splice":  # rewrite a stretch, e.g. inside the header text
            piece = draw(st.sampled_from([b"-1", b"True", b"'|O'", b"'<c16'", b"'V8'", b"2**40", b"9" * 25,
                                          b"(", b")", b",", b"True", b"'<f4'", b"\x00", b"\xff" * 4]))
            data[position:position + len(piece)] = piece
    return bytes(data)


@st.composite
def npy_files(draw) -> bytes:
    """Bytes that look more or less like an .npy file."""
    source = draw(st.sampled_from(["valid", "mutated", "mutated", "header", "header", "random"]))
    if source == "random":
        return draw(st.binary(max_size=300))
    if source == "header":
        return draw(npy_header_files())
    array = draw(small_arrays())
    try:
        base = npy_of(array, version=draw(st.sampled_from([None, (1, 0), (2, 0), (3, 0)])))
    except ValueError:  # e.g. a version too small for the header
        base = npy_of(array)
    return base if source == "valid" else draw(mutated_bytes(base))


def _zip(members: list[tuple[str, bytes]], compression: int) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" is what we want here
        with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


MEMBER_NAMES = st.one_of(
    st.from_regex(r"[a-z_]{1,6}(/[a-z_]{1,6})?\.npy", fullmatch=True),
    st.sampled_from(["../x.npy", "/abs.npy", "a\\b.npy", "dir/", "x.txt", ".npy", "a/.npy", "C:x.npy", "x.npy.npy",
                     "x.NPY", "dense/kernel.npy", "dense/kernel.npy"]),
    # zipfile cuts names at NUL and cannot encode lone surrogates
    st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), min_size=1, max_size=8),
)


@st.composite
def npz_files(draw) -> bytes:
    """Bytes that look more or less like an .npz archive."""
    source = draw(st.sampled_from(["valid", "mutated", "mutated", "members", "members", "random"]))
    if source == "random":
        return draw(st.binary(max_size=400))
    compression = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                        zipfile.ZIP_LZMA]))
    if source == "members":
        members = draw(st.lists(st.tuples(MEMBER_NAMES, npy_files()), max_size=3))
        return _zip(members, compression)
    arrays = draw(st.lists(st.tuples(st.from_regex(r"[a-z]{1,5}(/[a-z]{1,6})?", fullmatch=True), small_arrays()),
                           min_size=1, max_size=3))
    members = [(f"{key}.npy", npy_of(array)) for key, array in arrays]
    base = _zip(members, compression)
    return base if source == "valid" else draw(mutated_bytes(base))
