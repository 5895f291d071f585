"""Argument kinds: what a layer argument may hold, checked in one place.

A built-in layer annotates its constructor parameters with these kinds,
for example ``def __init__(self, units: Integer(min=1), ...)``. The
annotations are read back by :class:`layerspec.Layer` to check and normalise
every argument before the constructor runs, by the spec reader to report all
bad arguments at their place in the file, and by ``layerspec layers`` and
``layerspec schema`` to describe them. One declaration, four uses.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Iterable

from .errors import ArgumentError


def describe_value(value: Any) -> str:
    """Show a value the way its user wrote it in YAML, with its kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean " + ("true" if value else "false")
    if isinstance(value, int):
        if abs(value) < 10**30:
            return f"integer {value}"
        # Never print thousands of digits into an error message.
        # (str() of a huge int can even raise), so count digits from bits.
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, float):
        return "number " + _format_float(value)
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"string '{shown}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _format_float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return repr(value)


def suggest(word: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean '{lowered[close[0]]}'?" if close else ""


#: Keras constructor arguments that only matter for training (or for
#: Keras's own machinery). A spec using one gets a clear "not supported",
#: not a misleading "did you mean 'kernel_size'?".
TRAINING_ONLY_ARGUMENTS = frozenset({
    "kernel_regularizer", "bias_regularizer", "activity_regularizer", "recurrent_regularizer",
    "beta_regularizer", "gamma_regularizer", "embeddings_regularizer",
    "kernel_constraint", "bias_constraint", "recurrent_constraint", "beta_constraint", "gamma_constraint",
    "embeddings_constraint", "lora_rank", "lora_alpha", "input_shape", "batch_input_shape", "input_dim_ordering",
    "depthwise_regularizer", "pointwise_regularizer", "depthwise_constraint", "pointwise_constraint",
})


def unknown_argument_message(name: str, accepted) -> str:
    """What to say about an argument a layer does not take."""
    if name in TRAINING_ONLY_ARGUMENTS:
        if name in ("input_shape", "batch_input_shape"):
            return f"argument '{name}' is not used by layerspec: give the model's input once, as 'input: [...]'"
        return f"argument '{name}' is a Keras training option that layerspec does not support (it runs inference only)"
    return f"unknown argument '{name}'{suggest(name, accepted)}"


class ArgumentKind:
    """What one argument accepts. Subclasses implement ``convert``."""

    #: Words for messages and listings, e.g. "an integer >= 1".
    expected = "a value"

    def check(self, value: Any, argument: str) -> Any:
        """Return ``value`` normalised, or raise :class:`ArgumentError`."""
        try:
            return self.convert(value)
        except _Reject as reject:
            detail = f" ({reject.reason})" if reject.reason else ""
            raise ArgumentError(
                f"argument '{argument}' must be {self.expected}, got {describe_value(value)}{detail}",
                argument=argument,
            ) from None

    def convert(self, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def json_schema(self) -> dict:
        """A JSON Schema fragment for the values this kind accepts."""
        return {}

    def __repr__(self) -> str:
        return self.expected


class _Reject(Exception):
    """Raised inside ``convert`` to say a value does not fit."""

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.reason = reason


def _bounds_text(minimum, maximum, min_exclusive=False, max_exclusive=False) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if min_exclusive else '>='} {minimum}")
    if maximum is not None:
        parts.append(f"{'<' if max_exclusive else '<='} {maximum}")
    return " and ".join(parts)


class Integer(ArgumentKind):
    """A whole number, optionally bounded. Booleans and floats are refused."""

    def __init__(self, min: int | None = None, max: int | None = None):
        self.min, self.max = min, max
        bounds = _bounds_text(min, max)
        self.expected = "an integer" + (f" {bounds}" if bounds else "")

    def convert(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Reject()
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise _Reject()
        return value

    def json_schema(self):
        schema = {"type": "integer"}
        if self.min is not None:
            schema["minimum"] = self.min
        if self.max is not None:
            schema["maximum"] = self.max
        return schema


class Number(ArgumentKind):
    """A finite real number (an integer is accepted), optionally bounded."""

    def __init__(self, min=None, max=None, min_exclusive=False, max_exclusive=False):
        self.min, self.max = min, max
        self.min_exclusive, self.max_exclusive = min_exclusive, max_exclusive
        bounds = _bounds_text(min, max, min_exclusive, max_exclusive)
        self.expected = "a number" + (f" {bounds}" if bounds else "")

    def convert(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Reject()
        if isinstance(value, int):
            try:
                value = float(value)
            except OverflowError:
                raise _Reject("too large") from None
        if not math.isfinite(value):
            raise _Reject("not finite")
        if self.min is not None and (value < self.min or (self.min_exclusive and value == self.min)):
            raise _Reject()
        if self.max is not None and (value > self.max or (self.max_exclusive and value == self.max)):
            raise _Reject()
        return value

    def json_schema(self):
        schema = {"type": "number"}
        if self.min is not None:
            schema["exclusiveMinimum" if self.min_exclusive else "minimum"] = self.min
        if self.max is not None:
            schema["exclusiveMaximum" if self.max_exclusive else "maximum"] = self.max
        return schema


class Boolean(ArgumentKind):
    """``true`` or ``false`` and nothing else (``yes``/``on`` are strings)."""

    expected = "true or false"

    def convert(self, value):
        if not isinstance(value, bool):
            raise _Reject()
        return value

    def json_schema(self):
        return {"type": "boolean"}


class Text(ArgumentKind):
    """A non-empty string."""

    expected = "a non-empty string"

    def convert(self, value):
        if not isinstance(value, str) or not value:
            raise _Reject()
        return value

    def json_schema(self):
        return {"type": "string", "minLength": 1}


def any_case_pattern(text: str, skip: str = "") -> str:
    """An ECMA-262 (and Python) regex for ``text`` in any letter case.

    JSON Schema patterns have no case-insensitive flag, so each letter
    becomes a class (``[sS][aA][mM][eE]``). ``skip``, one character, may
    also appear any number of times anywhere (``"_"`` for layer type names).
    """
    gap = _escape_regex(skip) + "*" if skip else ""
    parts = [gap]
    for char in text:
        lower, upper = char.lower(), char.upper()
        if lower != upper and len(lower) == len(upper) == 1:
            parts.append(f"[{lower}{upper}]")
        else:
            parts.append(_escape_regex(char))
        parts.append(gap)
    return "".join(parts)


def _escape_regex(text: str) -> str:
    # Only ECMA's syntax characters: with the `u` flag editors use, escaping
    # any other character (even `-` or `_`) is a syntax error.
    return "".join(f"\\{c}" if c in "^$\\.*+?()[]{}|/" else c for c in text)


class Choice(ArgumentKind):
    """One of a few strings, matched ignoring case, returned in lower case."""

    def __init__(self, *options: str):
        self.options = tuple(options)
        self.expected = "one of " + ", ".join(f"'{o}'" for o in options)

    def convert(self, value):
        if not isinstance(value, str):
            raise _Reject()
        lowered = value.lower()
        if lowered not in self.options:
            raise _Reject(suggest(value, self.options).lstrip("; "))
        return lowered

    def json_schema(self):
        # The enum offers editors the spellings to complete; the pattern
        # accepts every case variant, as ``convert`` does.
        pattern = "^(?:" + "|".join(any_case_pattern(option) for option in self.options) + ")$"
        return {"type": "string", "anyOf": [{"enum": list(self.options)}, {"pattern": pattern}]}


class Optional(ArgumentKind):
    """``null`` or whatever the wrapped kind accepts."""

    def __init__(self, kind: ArgumentKind):
        self.kind = kind
        self.expected = f"{kind.expected} or null"

    def check(self, value, argument):
        if value is None:
            return None
        try:
            return self.kind.check(value, argument)
        except ArgumentError as error:
            raise ArgumentError(
                error.message.replace(f"must be {self.kind.expected}", f"must be {self.expected}", 1),
                argument=argument,
            ) from None

    def json_schema(self):
        return {"anyOf": [self.kind.json_schema(), {"type": "null"}]}


class DataFormat(Optional):
    """Keras's ``data_format``: ``channels_last`` or null, the only layout.

    ``channels_first`` is a real Keras value, so it gets its own message
    instead of "did you mean 'channels_last'?".
    """

    def __init__(self):
        super().__init__(Choice("channels_last"))

    def check(self, value, argument):
        if isinstance(value, str) and value.lower() == "channels_first":
            raise ArgumentError(f"argument '{argument}': 'channels_first' is not supported; layerspec uses "
                                "channels_last, with channels on the last axis", argument=argument)
        return super().check(value, argument)


class IntTuple(ArgumentKind):
    """An integer or a list of ``length`` integers; returned as a tuple.

    This is Keras's "int or tuple of ints" for kernel sizes, strides and the
    like: ``3`` means ``(3, 3)`` for a 2D layer.
    """

    #: Larger sizes, strides or dilations mean nothing for real data and
    #: would overflow the byte strides of a window view.
    MAX = 2**31 - 1

    def __init__(self, length: int, min: int | None = 1):
        self.length, self.min = length, min
        bound = f" >= {min}" if min is not None else ""
        noun = "integers" if length > 1 else "integer"
        self.expected = f"an integer{bound} or a list of {length} {noun}{bound}"

    def convert(self, value):
        items = value if isinstance(value, (list, tuple)) else [value] * self.length
        if len(items) != self.length:
            raise _Reject(f"{len(items)} items")
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int):
                raise _Reject()
            if self.min is not None and item < self.min:
                raise _Reject()
            if item > self.MAX:
                raise _Reject(f"at most {self.MAX}")
        return tuple(items)

    def json_schema(self):
        item = {"type": "integer"}
        if self.min is not None:
            item["minimum"] = self.min
        return {"anyOf": [item, {"type": "array", "items": item, "minItems": self.length, "maxItems": self.length}]}


class IntList(ArgumentKind):
    """A non-empty list of integers, each at least ``min``."""

    def __init__(self, min: int | None = None, description: str = "a list of integers"):
        self.min = min
        self.expected = description

    def convert(self, value):
        if not isinstance(value, (list, tuple)) or not value:
            raise _Reject()
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int):
                raise _Reject()
            if self.min is not None and item < self.min:
                raise _Reject()
        return tuple(value)

    def json_schema(self):
        item = {"type": "integer"}
        if self.min is not None:
            item["minimum"] = self.min
        return {"type": "array", "items": item, "minItems": 1}


class ActivationName(ArgumentKind):
    """An activation: a Keras name (``relu``), ``null`` for linear, or a
    mapping that gives its keyword arguments, ``{name: gelu, approximate:
    true}`` (Keras's names and defaults; see :func:`layerspec.activations.arguments`).

    ``check`` returns the shortest equivalent form
    (:func:`layerspec.activations.normalise`): a mapping whose arguments all
    have their defaults becomes the bare name, so ``get_config`` and
    ``to_yaml`` write back what reloads identically. From Python a callable
    is accepted as it is.
    """

    expected = "an activation name or mapping"

    def check(self, value, argument):
        from . import activations

        if value is None or (callable(value) and not isinstance(value, activations.BoundActivation)):
            return value
        if not isinstance(value, (str, dict, activations.BoundActivation)):
            raise ArgumentError(
                f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                argument=argument,
            )
        try:
            return activations.normalise(value)
        except ArgumentError as error:  # unknown name or argument (with a suggestion), a bad value, 'threshold'
            raise ArgumentError(f"argument '{argument}': {error.message}", argument=argument) from None

    def json_schema(self):
        from . import activations

        return {"anyOf": [{"type": "string", "enum": activations.names()}, {"type": "null"},
                          {"type": "object", "anyOf": _activation_mapping_schemas()}]}


#: A ``${...}`` expression where a value is expected (see the spec's ``args``).
_EXPRESSION_SCHEMA = {"type": "string", "pattern": r"\$\{"}


def _activation_mapping_schemas() -> list[dict]:
    """One schema per activation that takes arguments, and one for the rest
    (a mapping with only ``name``), each closed to other keys. An argument
    may also be a ``${...}`` expression (a block's or the model's argument),
    checked once it is computed."""
    from . import activations

    schemas = []
    plain = []
    for name in activations.mapping_names():
        defaults = activations.arguments(name)
        if not defaults:
            plain.append(name)
            continue
        properties = {"name": {"const": name}}
        for key, kind in activations.argument_kinds(name).items():
            schema = {"anyOf": [kind.json_schema(), _EXPRESSION_SCHEMA]}
            if defaults[key] is not activations.REQUIRED:
                schema["default"] = defaults[key]
            properties[key] = schema
        required = ["name"] + [key for key, default in defaults.items() if default is activations.REQUIRED]
        schemas.append({"properties": properties, "required": required, "additionalProperties": False})
    schemas.append({"properties": {"name": {"enum": plain}}, "required": ["name"], "additionalProperties": False})
    return schemas


class InitializerName(ArgumentKind):
    """An initializer: a Keras name, or a mapping ``{type: NAME, ...args}``."""

    expected = "an initializer name or mapping"

    def check(self, value, argument):
        from . import initializers

        if not isinstance(value, (str, dict)) and not isinstance(value, initializers.Initializer):
            raise ArgumentError(
                f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                argument=argument,
            )
        try:
            initializers.get(value)
        except ArgumentError as error:
            raise ArgumentError(f"argument '{argument}': {error.message}", argument=argument) from None
        return value

    def json_schema(self):
        from . import initializers

        return {"anyOf": [{"type": "string", "enum": initializers.names()}, {"type": "object"}]}


class LayerArgument(ArgumentKind):
    """A layer inside a layer (the RNN a ``Bidirectional`` wraps).

    In a spec it is a mapping written like a layer entry, with its ``type``
    required: ``layer: {type: LSTM, units: 16, return_sequences: true}``.
    The type is looked up in the registry (ignoring case and underscores,
    with "did you mean"), each other key is checked by that class's
    argument kinds, and the layer is constructed once so the rules its
    constructor checks are reported here. An error names the argument and
    the inner type: ``argument 'layer': LSTM: argument 'units' must be ...``.

    ``check`` returns the mapping normalised (``type`` as registered, each
    argument as its kind normalises it); from Python a :class:`Layer`
    object is accepted as it is. The wrapper makes its own layer from
    either with :meth:`construct`.
    """

    expected = "a layer: a mapping {type: NAME, ...its arguments}"

    #: Keys of a spec's layer entry that are not a layer's arguments.
    ENTRY_KEYS = ("inputs", "reuse")

    def check(self, value, argument):
        from .layers.base import Layer

        if isinstance(value, Layer):
            return value
        mapping = self._checked_mapping(value, argument)
        self.construct(mapping, argument)  # the constructor's own rules (a GRU's activation 'glu', say)
        return mapping

    def _checked_mapping(self, value, argument) -> dict:
        from . import registry
        from .errors import LayerspecError

        if not isinstance(value, dict):
            raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                                argument=argument)
        if "type" not in value:
            raise ArgumentError(f"argument '{argument}' needs a 'type': the wrapped layer's class, e.g. "
                                f"{{type: LSTM, units: 16}}", argument=argument)
        type_name = value["type"]
        if not isinstance(type_name, str) or not type_name:
            raise ArgumentError(f"argument '{argument}': 'type' must be a layer type name, got "
                                f"{describe_value(type_name)}", argument=argument)
        try:
            layer_class = registry.lookup(type_name)
        except LayerspecError as error:
            raise ArgumentError(f"argument '{argument}': {error.message}", argument=argument) from None
        shown = registry.display_name(layer_class)
        accepted = registry.arguments_of(layer_class)
        mapping = {"type": shown}
        for key, item in value.items():
            if key == "type":
                continue
            prefix = f"argument '{argument}': {shown}: "
            if key in self.ENTRY_KEYS:
                raise ArgumentError(f"{prefix}'{key}' cannot be given to a wrapped layer: it reads what its "
                                    "wrapper reads", argument=argument)
            if key == "name":
                mapping[key] = self._checked_name(item, prefix, argument)
                continue
            info = accepted.get(key)
            if info is None:
                raise ArgumentError(prefix + unknown_argument_message(key, accepted), argument=argument)
            try:
                mapping[key] = item if info.kind is None else info.kind.check(item, key)
            except LayerspecError as error:
                raise ArgumentError(prefix + error.message, argument=argument) from None
        for info in accepted.values():
            if info.required and info.name not in mapping:
                raise ArgumentError(f"argument '{argument}': {shown}: missing required argument '{info.name}'",
                                    argument=argument)
        return mapping

    @staticmethod
    def _checked_name(name, prefix: str, argument: str) -> str:
        if not isinstance(name, str) or not name:
            raise ArgumentError(f"{prefix}argument 'name' must be a non-empty string, got {describe_value(name)}",
                                argument=argument)
        if "/" in name:
            # The name becomes a part of weight keys (bidirectional/forward_lstm/kernel).
            raise ArgumentError(f"{prefix}argument 'name' must not contain '/', got '{name}'", argument=argument)
        return name

    def construct(self, value, argument: str, **changes):
        """A new layer from a checked mapping or from a layer's config, with ``changes`` applied.

        A :class:`Layer` is not used itself: a new one of its class is made
        from its ``get_config()`` (as Keras's ``Bidirectional`` remakes the
        layer it is given), so the caller owns its sublayer outright.
        """
        from . import registry
        from .errors import LayerspecError
        from .layers.base import Layer

        if isinstance(value, Layer):
            layer_class, config = type(value), value.get_config()
            if not value.has_explicit_name:
                del config["name"]  # the copy keeps an automatic name
        else:
            layer_class = registry.lookup(value["type"])
            config = {key: item for key, item in value.items() if key != "type"}
        config.update(changes)
        shown = registry.display_name(layer_class)
        accepted = registry.arguments_of(layer_class)
        # A user layer whose __init__ takes no name or trainable still gets them, as spec entries do.
        attributes = {key: config.pop(key) for key in ("name", "trainable") if key in config and key not in accepted}
        try:
            layer = layer_class(**config)
        except LayerspecError as error:
            raise ArgumentError(f"argument '{argument}': {shown}: {error.message}", argument=argument) from None
        except Exception as error:  # a user layer's constructor failing its own way
            raise ArgumentError(f"argument '{argument}': {shown}: {type(error).__name__}: {error}",
                                argument=argument) from None
        if not isinstance(layer, Layer) or not hasattr(layer, "_weights"):
            raise ArgumentError(f"argument '{argument}': {shown}.__init__ must call super().__init__(**kwargs)",
                                argument=argument)
        if "name" in attributes:
            layer.name = attributes["name"]
        if "trainable" in attributes:
            layer.trainable = attributes["trainable"]
        return layer

    def json_schema(self):
        return {"type": "object", "required": ["type"], "properties": {"type": {"type": "string", "minLength": 1}}}
