"""Strict, safe YAML reading that remembers where every value came from.

The document is built from PyYAML's event stream by an explicit stack (no
recursion, so no depth can crash it), refusing what a spec never needs and
what makes YAML dangerous or surprising:

- tags (``!!python/object``...), anchors and aliases (so no "billion laughs");
- more than one document, more than ``MAX_DEPTH`` levels of nesting, files
  over ``MAX_BYTES``;
- duplicate keys (reported at the second one) and keys that are not strings.

Plain scalars are resolved by our own small rules, close to YAML 1.2's core
schema: ``null``/``~``/empty, ``true``/``false`` only as booleans (``yes``,
``no``, ``on`` stay strings), decimal/``0x``/``0o`` integers, and floats
with or without a dot (``1e-3``), ``.inf``, ``.nan``. Everything else —
dates, ``3:3``, ``010`` — is a string, so a mistaken value gets a type error
from the argument that receives it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .errors import Position, YamlError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_INT_DIGITS = 400


class YamlMap(dict):
    """A mapping that knows the position of itself, its keys and its values."""

    def __init__(self, position: Position):
        super().__init__()
        self.position = position
        self.key_positions: dict[str, Position] = {}
        self.value_positions: dict[str, Position] = {}


class YamlList(list):
    """A sequence that knows the position of itself and of each item."""

    def __init__(self, position: Position):
        super().__init__()
        self.position = position
        self.item_positions: list[Position] = []


def position_of(container: Any, key: Any = None) -> Position | None:
    """Where a value, or the value under ``key``/index in it, was written."""
    if key is None:
        return getattr(container, "position", None)
    if isinstance(container, YamlMap):
        return container.value_positions.get(key, container.position)
    if isinstance(container, YamlList) and 0 <= key < len(container.item_positions):
        return container.item_positions[key]
    return getattr(container, "position", None)


def key_position(mapping: Any, key: str) -> Position | None:
    """Where ``key`` itself was written in ``mapping``."""
    if isinstance(mapping, YamlMap):
        return mapping.key_positions.get(key, mapping.position)
    return None


_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_DECIMAL = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_HEX = re.compile(r"^[-+]?0x[0-9a-fA-F]+$")
_OCTAL = re.compile(r"^[-+]?0o[0-7]+$")
# No leading zeros: "010" is neither 8 (YAML 1.1) nor 10 but text, so that
# the argument receiving it reports a type error instead of guessing.
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


def resolve_plain(text: str, position: Position) -> Any:
    """The value of an unquoted scalar under layerspec's rules."""
    if _NULL.match(text):
        return None
    if _TRUE.match(text):
        return True
    if _FALSE.match(text):
        return False
    if _DECIMAL.match(text) or _HEX.match(text) or _OCTAL.match(text):
        digits = len(text.lstrip("+-"))
        if digits > MAX_INT_DIGITS:
            raise YamlError(f"integer with {digits} digits is too large", position, code="invalid-value")
        return int(text, 0)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


def read_text(path: str) -> str:
    """Read a spec file's text: bounded size, strict UTF-8, no NUL bytes."""
    import os
    import stat

    try:
        info = os.stat(path)
    except OSError as error:
        raise YamlError(f"cannot read spec: {error.strerror}", Position(path), code="unreadable") from None
    if stat.S_ISDIR(info.st_mode):
        raise YamlError("is a directory, not a spec file", Position(path), code="unreadable")
    if not stat.S_ISREG(info.st_mode):
        # A FIFO or device could block forever or never end.
        raise YamlError("is not a regular file", Position(path), code="unreadable")
    if info.st_size > MAX_BYTES:
        raise YamlError(f"spec is {info.st_size} bytes, more than the limit of {MAX_BYTES}", Position(path),
                        code="too-large")
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as error:
        raise YamlError(f"cannot read spec: {error.strerror}", Position(path), code="unreadable") from None
    return decode(data, path)


def decode(data: bytes, path: str) -> str:
    """Bytes → text, pointing at the first byte that is not valid UTF-8."""
    if len(data) > MAX_BYTES:
        raise YamlError(f"spec is more than the limit of {MAX_BYTES} bytes", Position(path), code="too-large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line, col = _line_col(data[: error.start].decode("utf-8", "replace"))
        raise YamlError(f"invalid UTF-8 byte 0x{data[error.start]:02x}", Position(path, line, col),
                        code="encoding") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _line_col(prefix: str) -> tuple[int, int]:
    """Line and column (from 1) just after ``prefix``."""
    line = prefix.count("\n") + 1
    col = len(prefix) - (prefix.rfind("\n") + 1) + 1
    return line, col


def load(text: str, path: str) -> Any:
    """Parse one YAML document from ``text`` into YamlMap/YamlList/scalars."""
    nul = text.find("\x00")
    if nul >= 0:
        raise YamlError("NUL byte in spec", Position(path, *_line_col(text[:nul])), code="encoding")
    try:
        return _Builder(path).build(yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error, path, text) from None
    except yaml.YAMLError as error:
        raise _reader_error(error, text, path) from None
    except ValueError as error:  # PyYAML's scanner lets a few through, e.g. "\U00110000"
        raise YamlError(f"invalid YAML: {error}", Position(path)) from None


def _syntax_error(error: yaml.MarkedYAMLError, path: str, text: str = "") -> YamlError:
    mark = error.problem_mark or error.context_mark
    expression = _unquoted_flow_expression(error, text, path)
    if expression is not None:
        return expression
    problem = error.problem or "syntax error"
    if "'\\t'" in problem:
        problem += " (YAML does not allow tabs for indentation; use spaces)"
    if error.context:
        problem = f"{problem} ({error.context})"
    position = Position(path, mark.line + 1, mark.column + 1) if mark else Position(path)
    return YamlError(f"invalid YAML: {problem}", position)


def _unquoted_flow_expression(error: yaml.MarkedYAMLError, text: str, path: str) -> YamlError | None:
    """An unquoted ``${...}`` inside ``{...}`` or ``[...]``, where YAML reads
    ``{`` as structure: said as such, at the ``$``, rather than as the bare
    syntax error PyYAML finds at the brace."""
    mark = error.problem_mark
    if mark is None or "flow" not in (error.context or "") or not 0 < mark.index < len(text):
        return None
    if text[mark.index] != "{" or text[mark.index - 1] != "$":
        return None
    end = text.find("}", mark.index)
    shown = text[mark.index - 1:end + 1] if 0 < end < mark.index + 80 else "${...}"
    return YamlError(f"an expression inside a flow collection ({{...}} or [...]) must be quoted, as YAML reads "
                     f"'{{' and '}}' there as structure: quote the value, e.g. \"{shown}\"",
                     Position(path, mark.line + 1, mark.column), code="yaml-syntax")


def _reader_error(error: yaml.YAMLError, text: str, path: str) -> YamlError:
    offset = getattr(error, "position", None)
    if isinstance(offset, int) and 0 <= offset <= len(text):
        position = Position(path, *_line_col(text[:offset]))
    else:
        position = Position(path)
    character = getattr(error, "character", None)
    if isinstance(character, int):  # PyYAML gives the code point of a character it refuses in text
        return YamlError(f"invalid YAML: unacceptable character U+{character:04X}", position, code="encoding")
    # PyYAML's own text ends in a second line naming "<unicode string>": keep the first.
    return YamlError(f"invalid YAML: {str(error).splitlines()[0]}", position)


class _Builder:
    """Turns an event stream into located values with an explicit stack."""

    def __init__(self, path: str):
        self.path = path
        self.stack: list[list] = []  # [container, pending key or _NO_KEY]
        self.root: Any = None
        self.documents = 0

    def position(self, event) -> Position:
        mark = event.start_mark
        return Position(self.path, mark.line + 1, mark.column + 1)

    def build(self, events) -> Any:
        for event in events:
            self.handle(event)
        if self.documents == 0:
            raise YamlError("empty spec: expected a mapping with a 'layers' list", Position(self.path, 1, 1),
                            code="invalid-spec")
        return self.root

    def handle(self, event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise YamlError("more than one YAML document in a spec", self.position(event))
        elif isinstance(event, yaml.AliasEvent):
            raise YamlError(f"YAML aliases (*{event.anchor}) are not allowed", self.position(event))
        elif isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self.check_node_event(event)
            if isinstance(event, yaml.ScalarEvent):
                self.add(self.scalar(event), self.position(event))
            else:
                self.open(event)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            container = self.stack.pop()[0]
            self.add(container, container.position)

    def check_node_event(self, event) -> None:
        if event.anchor is not None:
            raise YamlError(f"YAML anchors (&{event.anchor}) are not allowed", self.position(event))
        tag = event.tag
        if tag is not None and tag != "!" and not (isinstance(event, yaml.ScalarEvent) and tag == "tag:yaml.org,2002:str"):
            raise YamlError(f"YAML tags ({_short_tag(tag)}) are not allowed", self.position(event))

    def scalar(self, event) -> Any:
        quoted = event.style in ("'", '"', "|", ">") or event.tag is not None
        return event.value if quoted else resolve_plain(event.value, self.position(event))

    def open(self, event) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", self.position(event), code="too-deep")
        is_mapping = isinstance(event, yaml.MappingStartEvent)
        if self.stack and isinstance(self.stack[-1][0], YamlMap) and self.stack[-1][1] is _NO_KEY:
            raise YamlError("mapping keys must be plain strings, not collections", self.position(event))
        container = (YamlMap if is_mapping else YamlList)(self.position(event))
        self.stack.append([container, _NO_KEY])

    def add(self, value: Any, position: Position) -> None:
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        container = frame[0]
        if isinstance(container, YamlList):
            container.append(value)
            container.item_positions.append(position)
        elif frame[1] is _NO_KEY:
            self.add_key(frame, value, position)
        else:
            key = frame[1]
            container[key] = value
            container.value_positions[key] = position
            frame[1] = _NO_KEY

    def add_key(self, frame: list, key: Any, position: Position) -> None:
        from .arguments import describe_value

        container = frame[0]
        if not isinstance(key, str):
            raise YamlError(f"keys must be strings, got {describe_value(key)}", position, code="invalid-key")
        if key in container:
            first = container.key_positions[key]
            raise YamlError(f"duplicate key '{key}' (first given at line {first.line})", position,
                            code="duplicate-key")
        container.key_positions[key] = position
        frame[1] = key


class _NoKey:
    def __repr__(self) -> str:
        return "<no key>"


_NO_KEY = _NoKey()


def _short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag
