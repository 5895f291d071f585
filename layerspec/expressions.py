"""``${EXPR}`` expressions in spec values, by layerspec's own small grammar.

A spec value may compute itself from model and block arguments::

    filters: ${2 * width}            # a whole scalar: the value keeps its type
    name: "stage${i}_conv"           # inside text: the value is put into the text

The language (never Python's ``eval``: no attribute, no string, no call but
the three below can be written in it)::

    expression := sum
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/" | "//" | "%") unary)*
    unary      := ("+" | "-")* primary
    primary    := NUMBER | NAME | NAME "(" sum ("," sum)* ")" | "(" sum ")"

- NUMBER is decimal, as YAML writes numbers: an int (``0``, ``12``; no
  leading zeros, no ``_``) or a float with a dot and/or an exponent
  (``0.5``, ``.5``, ``1.``, ``1e-3``, ``2.5E+3``).
- NAME is ``[A-Za-z_][A-Za-z0-9_]*``, looked up in the names given; the
  functions are ``min(a, ...)``, ``max(a, ...)`` (one or more arguments)
  and ``round(x)`` / ``round(x, ndigits)`` — Python's rounding, halves to
  even; ``round(x)`` gives an int.
- Arithmetic is Python's: ints stay ints, ``/`` always gives a float,
  ``//`` and ``%`` floor (``-7 // 2 == -4``, ``-7 % 2 == 1``).
- Only numbers take part in arithmetic: a name bound to a boolean, a
  string, a list, a mapping or null is a type error there. A lone name
  (``${act}``, or ``${(act)}``: parentheses only group) yields its value,
  whatever it is; that value is not evaluated again.
- Limits, so no expression hangs or explodes: ``MAX_LENGTH`` characters per
  expression, ``MAX_DEPTH`` nested parentheses and calls, integers within
  ``±MAX_INTEGER`` (literals, operands and results), finite floats, and
  ``MAX_TEXT`` characters put into text by interpolation.
- There is no escaping: every ``${`` starts an expression.

Every problem is an :class:`ExpressionError` (a ``SpecError``, code
``invalid-expression``) pointing at the offending token. Given the scalar's
``Position`` (its first character, or its opening quote) and the spec text
it was read from, the column is exact: the token's offset is added to the
scalar's column, plus one for a quoted scalar. Quoting is detected by
comparing the scalar with the source line; when they differ (a scalar
spanning lines, escapes, a block scalar) or no source is given, the error
points at the scalar itself.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .arguments import suggest
from .errors import LayerspecError, Position, SpecError, SpecErrors
from .yamlread import YamlList, YamlMap

#: Longest expression (the text between ``${`` and ``}``), in characters.
MAX_LENGTH = 1000
#: Deepest nesting of parentheses and calls; the parser recurses once per
#: level, so this stays far below Python's recursion limit.
MAX_DEPTH = 50
#: Largest integer magnitude anywhere in an expression: int64's.
MAX_INTEGER = 2**63 - 1
#: Most characters that interpolation may put into one scalar's text (a name
#: bound to a long string, put in many times, must not eat memory).
MAX_TEXT = 10_000
#: How many known names an "unknown name" message lists.
_LISTED_NAMES = 20
#: ``round`` treats any ndigits beyond this as this: the result is the same
#: for every value that passes the limits, and Python's ``round(5, -10**9)``
#: would otherwise compute ``10**(10**9)``.
_ROUND_DIGITS = 400


class ExpressionError(SpecError):
    """An ``${EXPR}`` that cannot be evaluated.

    Besides the message and position, it keeps the ``text`` of the scalar
    and the ``offset`` of the offending token in it, so a caller can point
    at the expression again from elsewhere (a block's use site).
    """

    code = "invalid-expression"

    def __init__(self, message: str, position: Position | None = None, text: str | None = None,
                 offset: int | None = None):
        super().__init__(message, position)
        self.text = text
        self.offset = offset


def has_expression(text: Any) -> bool:
    """Whether ``text`` is a string that contains ``${``."""
    return isinstance(text, str) and "${" in text


def is_expression(text: Any) -> bool:
    """Whether ``text`` is exactly one ``${...}``: its value keeps its type."""
    return isinstance(text, str) and text.startswith("${") and text.find("}", 2) == len(text) - 1


def evaluate(text: Any, names: Mapping[str, Any], position: Position | None = None,
             source: str | None = None) -> Any:
    """The value of a spec scalar under ``names``.

    Args:
        text: the scalar. Exactly ``${EXPR}`` gives the expression's value,
            of its own type; ``${...}`` inside other text gives text with
            each value put in (ints as ints, floats as ``repr``, strings as
            they are); anything else is returned unchanged.
        names: what names in expressions stand for (model and block arguments).
        position: where the scalar was written (its first character, or its
            opening quote).
        source: the spec text the scalar was read from; with it, errors
            point at the offending token's own column.

    Raises:
        ExpressionError: a syntax, name, type, arithmetic or limit problem.
    """
    if not has_expression(text):
        return text
    try:
        if is_expression(text):
            return _evaluate_one(text, 2, len(text) - 1, names).value
        return _interpolate(text, names)
    except _Problem as problem:
        where = _token_position(position, text, problem.offset, source)
        raise ExpressionError(problem.message, where, text, problem.offset) from None


def substitute(value: Any, names: Mapping[str, Any], position: Position | None = None,
               source: str | None = None) -> Any:
    """``value`` with every string scalar in it evaluated (see :func:`evaluate`).

    Mappings and lists are walked and rebuilt: a ``YamlMap``/``YamlList``
    becomes a new container of the same class with the same positions, so
    later errors still point into the file; plain dicts and lists become
    plain ones. Keys are not evaluated. ``position`` is where ``value`` itself
    was written (used when it is a scalar); items use their container's
    positions.

    Raises:
        ExpressionError: the one bad expression; or SpecErrors holding every
            bad expression when there are several.
    """
    errors: list[LayerspecError] = []
    result = _substitute(value, names, position, source, errors)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise SpecErrors(errors)
    return result


def _substitute(value: Any, names: Mapping[str, Any], position: Position | None, source: str | None,
                errors: list[LayerspecError]) -> Any:
    # Recursion is bounded: YAML values nest at most yamlread.MAX_DEPTH deep.
    if isinstance(value, dict):
        return _substitute_mapping(value, names, source, errors)
    if isinstance(value, (list, tuple)):
        return _substitute_sequence(value, names, position, source, errors)
    try:
        return evaluate(value, names, position, source)
    except ExpressionError as error:
        errors.append(error)
        return value


def _substitute_mapping(mapping: dict, names: Mapping[str, Any], source: str | None,
                        errors: list[LayerspecError]) -> dict:
    if isinstance(mapping, YamlMap):
        copy = type(mapping)(mapping.position)
        copy.key_positions = dict(mapping.key_positions)
        copy.value_positions = dict(mapping.value_positions)
    else:
        copy = {}
    for key, item in mapping.items():
        copy[key] = _substitute(item, names, _item_position(mapping, key), source, errors)
    return copy


def _substitute_sequence(sequence: list | tuple, names: Mapping[str, Any], position: Position | None,
                         source: str | None, errors: list[LayerspecError]) -> list | tuple:
    if isinstance(sequence, YamlList):
        copy = type(sequence)(sequence.position)
        copy.item_positions = list(sequence.item_positions)
        position = sequence.position
    else:
        copy = []
    for index, item in enumerate(sequence):
        copy.append(_substitute(item, names, _item_position(sequence, index, position), source, errors))
    return tuple(copy) if isinstance(sequence, tuple) else copy


def _item_position(container: Any, key: Any, default: Position | None = None) -> Position | None:
    if isinstance(container, YamlMap):
        return container.value_positions.get(key, container.position)
    if isinstance(container, YamlList):
        positions = container.item_positions
        return positions[key] if key < len(positions) else container.position
    return default


# --------------------------------------------------------------------------
# Positions


def _token_position(position: Position | None, text: str, offset: int, source: str | None) -> Position | None:
    """Where the character at ``offset`` in the scalar ``text`` is in the file."""
    if position is None or position.line is None or position.col is None or source is None:
        return position
    lines = _lines(source)
    if not 1 <= position.line <= len(lines):
        return position
    written = lines[position.line - 1][position.col - 1:]
    if written.startswith(text):
        return Position(position.path, position.line, position.col + offset)
    quote = written[:1]
    if quote in ("'", '"') and written[1:].startswith(text) and written[1 + len(text):2 + len(text)] == quote:
        return Position(position.path, position.line, position.col + 1 + offset)
    return position


#: Line breaks as YAML counts them, so line numbers agree with PyYAML's marks.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


@functools.lru_cache(maxsize=4)
def _lines(source: str) -> list[str]:
    # Cached: a spec's text is looked up once per scalar; str hashes are cached.
    return _LINE_BREAK.split(source)


# --------------------------------------------------------------------------
# Scalars: one expression, or text with expressions in it


class _Problem(Exception):
    """A problem at ``offset`` in the scalar, before its position is known."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


def _interpolate(text: str, names: Mapping[str, Any]) -> str:
    """Text with each ``${...}`` in it replaced by its formatted value."""
    pieces: list[str] = []
    inserted = 0  # characters put in: only they can grow without bound
    done = 0
    while True:
        start = text.find("${", done)
        if start < 0:
            pieces.append(text[done:])
            break
        end = _closing_brace(text, start)
        value = _format(_evaluate_one(text, start + 2, end, names))
        inserted += len(value)
        if inserted > MAX_TEXT:
            raise _Problem(f"the values put into text are longer than {MAX_TEXT} characters in all", start)
        pieces += [text[done:start], value]
        done = end + 1
    return "".join(pieces)


def _closing_brace(text: str, start: int) -> int:
    end = text.find("}", start + 2)
    if end < 0:
        raise _Problem("unclosed '${': expected '}'", start)
    return end


def _format(result: "_Operand") -> str:
    """A value as it is put into text; only numbers and strings may be."""
    value = result.value
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    # Literals and results are numbers: only a name can hold anything else.
    raise _Problem(f"'{result.name}' is {_kind(value)}; only numbers and strings can be put into text",
                   result.offset)


def _evaluate_one(text: str, begin: int, end: int, names: Mapping[str, Any]) -> "_Operand":
    """The value of the expression ``text[begin:end]`` (inside ``${`` and ``}``)."""
    if end - begin > MAX_LENGTH:
        raise _Problem(f"expression is {end - begin} characters long, more than the limit of {MAX_LENGTH}",
                       begin - 2)
    tokens = _tokenize(text, begin, end)
    if len(tokens) == 1:
        raise _Problem("empty expression '${}'", begin - 2)
    return _run(_Parser(tokens).parse(), names)


# --------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op" or "end"
    text: str
    offset: int  # in the whole scalar

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the expression"
        if self.kind == "name":
            return f"name '{self.text}'"
        if self.kind == "number":
            return f"number {self.text}"
        return f"'{self.text}'"


_SPACE = re.compile(r"[ \t\r\n]+")
# Numbers as YAML writes them (see yamlread._FLOAT): no leading zeros.
_NUMBER = re.compile(r"(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATOR = re.compile(r"\*\*|//|[-+*/%(),]")
# What a number must not run into: "2x", "1.2.3", "007" are one bad word.
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]+")


def _tokenize(text: str, begin: int, end: int) -> list[_Token]:
    tokens = []
    at = begin
    while at < end:
        for pattern, kind in ((_SPACE, None), (_NUMBER, "number"), (_NAME, "name"), (_OPERATOR, "op")):
            match = pattern.match(text, at, end)
            if match:
                break
        else:
            raise _Problem(f"unexpected character {_show_character(text[at])}", at)
        if kind == "number":
            _check_number_end(text, match, end)
        if kind is not None:
            tokens.append(_Token(kind, match.group(), at))
        at = match.end()
    tokens.append(_Token("end", "", end))
    return tokens


def _check_number_end(text: str, match: re.Match, end: int) -> None:
    tail = _NUMBER_TAIL.match(text, match.end(), end)
    if tail:
        word = text[match.start():tail.end()]
        hint = " (no leading zeros)" if re.match(r"0[0-9]", word) else ""
        raise _Problem(f"invalid number '{word}'{hint}", match.start())


def _show_character(character: str) -> str:
    return repr(character) if character.isprintable() else f"U+{ord(character):04X}"


# --------------------------------------------------------------------------
# Parsing into postfix code: ("number", literal, offset), ("name", name,
# offset), ("unary", op, offset), ("binary", op, offset), ("call", function,
# argument count, offset). Running it needs no recursion, so a long chain
# like 1+1+...+1 costs nothing in depth.

_FUNCTIONS = ("max", "min", "round")
_SUM_OPERATORS = ("+", "-")
_PRODUCT_OPERATORS = ("*", "/", "//", "%")


class _Parser:
    """Recursive descent over the tokens; recursion only through "(" (counted)."""

    def __init__(self, tokens: list[_Token]):
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.code: list[tuple] = []

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> list[tuple]:
        self.parse_sum()
        if self.token.kind != "end":
            raise self.unexpected("an operator or the end of the expression")
        return self.code

    def parse_sum(self) -> None:
        self.parse_product()
        while self.token.kind == "op" and self.token.text in _SUM_OPERATORS:
            operator = self.advance()
            self.parse_product()
            self.code.append(("binary", operator.text, operator.offset))

    def parse_product(self) -> None:
        self.parse_unary()
        while self.token.kind == "op" and self.token.text in _PRODUCT_OPERATORS:
            operator = self.advance()
            self.parse_unary()
            self.code.append(("binary", operator.text, operator.offset))

    def parse_unary(self) -> None:
        signs = []
        while self.token.kind == "op" and self.token.text in _SUM_OPERATORS:
            signs.append(self.advance())
        self.parse_primary()
        for sign in reversed(signs):  # the innermost sign applies first
            self.code.append(("unary", sign.text, sign.offset))

    def parse_primary(self) -> None:
        token = self.token
        if token.kind == "number":
            self.advance()
            self.code.append(("number", token.text, token.offset))
        elif token.kind == "name" and self.tokens[self.index + 1].text == "(":
            self.parse_call()
        elif token.kind == "name":
            self.advance()
            self.code.append(("name", token.text, token.offset))
        elif token.text == "(":
            self.enter(self.advance())
            self.parse_sum()
            self.expect_closing()
        else:
            raise self.unexpected("a number, a name or '('")

    def parse_call(self) -> None:
        function = self.advance()
        if function.text not in _FUNCTIONS:
            raise _Problem(f"unknown function '{function.text}'{suggest(function.text, _FUNCTIONS)} "
                           f"(known: {', '.join(_FUNCTIONS)})", function.offset)
        self.enter(self.advance())
        count = 0
        if self.token.text != ")":
            self.parse_sum()
            count = 1
        while self.token.text == ",":
            self.advance()
            self.parse_sum()
            count += 1
        self.expect_closing()
        _check_argument_count(function, count)
        self.code.append(("call", function.text, count, function.offset))

    def enter(self, parenthesis: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Problem(f"expression nested deeper than {MAX_DEPTH} levels of parentheses", parenthesis.offset)

    def expect_closing(self) -> None:
        if self.token.text != ")":
            raise self.unexpected("')'")
        self.advance()
        self.depth -= 1

    def unexpected(self, expected: str) -> _Problem:
        token = self.token
        if token.kind == "end":
            return _Problem(f"unexpected end of expression: expected {expected}", token.offset)
        if token.text == "**":
            return _Problem("'**' (power) is not supported", token.offset)
        return _Problem(f"expected {expected}, found {token.describe()}", token.offset)


def _number(literal: str, offset: int) -> int | float:
    """A literal's value; converted when run, so syntax errors come first."""
    if any(mark in literal for mark in ".eE"):
        value = float(literal)
        if not math.isfinite(value):
            raise _Problem(f"number {literal} is too large", offset)
        return value
    value = int(literal)  # at most MAX_LENGTH digits: Python's int() takes up to 4300
    if value > MAX_INTEGER:
        raise _Problem(f"integer {_short(literal)} is too large (the limit is 2**63 - 1)", offset)
    return value


def _short(digits: str) -> str:
    return digits if len(digits) <= 30 else f"{digits[:12]}...({len(digits)} digits)"


def _check_argument_count(function: _Token, count: int) -> None:
    if count == 0:
        raise _Problem(f"{function.text}() takes at least 1 argument, got 0", function.offset)
    if function.text == "round" and count > 2:
        raise _Problem(f"round() takes 1 or 2 arguments, got {count}", function.offset)


# --------------------------------------------------------------------------
# Running postfix code


@dataclass(frozen=True)
class _Operand:
    value: Any
    name: str | None  # the name it was read from, for messages
    offset: int


def _run(code: list[tuple], names: Mapping[str, Any]) -> _Operand:
    """The result of postfix code, with the name it is read from if it is one."""
    stack: list[_Operand] = []
    for instruction in code:
        kind, offset = instruction[0], instruction[-1]
        if kind == "number":
            stack.append(_Operand(_number(instruction[1], offset), None, offset))
        elif kind == "name":
            stack.append(_Operand(_look_up(instruction[1], names, offset), instruction[1], offset))
        elif kind == "unary":
            operand = _number_of(stack.pop())
            stack.append(_Operand(_checked(-operand if instruction[1] == "-" else +operand, instruction[1], offset),
                                  None, offset))
        elif kind == "binary":
            right = _number_of(stack.pop())
            left = _number_of(stack.pop())
            stack.append(_Operand(_binary(instruction[1], left, right, offset), None, offset))
        else:  # call
            count = instruction[2]
            arguments = [_number_of(operand) for operand in stack[-count:]]
            del stack[-count:]
            stack.append(_Operand(_call(instruction[1], arguments, offset), None, offset))
    return stack[0]


def _look_up(name: str, names: Mapping[str, Any], offset: int) -> Any:
    if name in names:
        return names[name]
    known = sorted(str(key) for key in names)
    if not known:
        raise _Problem(f"unknown name '{name}' (no names are defined here)", offset)
    listed = ", ".join(known[:_LISTED_NAMES])
    if len(known) > _LISTED_NAMES:
        listed += f", ... ({len(known) - _LISTED_NAMES} more)"
    raise _Problem(f"unknown name '{name}'{suggest(name, known)} (known: {listed})", offset)


def _number_of(operand: _Operand) -> int | float:
    """The operand's value, if it is a number arithmetic may use."""
    value = operand.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        # Literals and results are numbers: only a name can hold anything else.
        raise _Problem(f"'{operand.name}' is {_kind(value)}, not a number", operand.offset)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Problem(f"'{operand.name}' is {_kind(value)}, not a finite number", operand.offset)
    if isinstance(value, int) and abs(value) > MAX_INTEGER:
        raise _Problem(f"'{operand.name}' is too large (the limit is 2**63 - 1)", operand.offset)
    return value


def _kind(value: Any) -> str:
    """A value's kind and, where short, the value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ('{shown}')"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        return ".inf" if value > 0 else "-.inf"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}


def _binary(operator: str, left: int | float, right: int | float, offset: int) -> int | float:
    if operator in ("/", "//", "%") and right == 0:
        raise _Problem("modulo by zero" if operator == "%" else "division by zero", offset)
    try:
        result = _BINARY[operator](left, right)
    except (OverflowError, ZeroDivisionError):  # float edge cases Python refuses
        raise _Problem(f"the result of '{operator}' is too large", offset) from None
    return _checked(result, operator, offset)


def _call(function: str, arguments: list, offset: int) -> int | float:
    if function == "min":
        return min(arguments)
    if function == "max":
        return max(arguments)
    return _checked(_round(arguments, offset), "round", offset)


def _round(arguments: list, offset: int) -> int | float:
    if len(arguments) == 1:
        value = arguments[0]
        if isinstance(value, float) and abs(value) > MAX_INTEGER:
            raise _Problem("the result of 'round' is too large (the limit is 2**63 - 1)", offset)
        return round(value)
    value, digits = arguments
    if not isinstance(digits, int):
        raise _Problem(f"round()'s second argument (ndigits) must be an integer, not {digits!r}", offset)
    return round(value, max(-_ROUND_DIGITS, min(_ROUND_DIGITS, digits)))


def _checked(result: int | float, operator: str, offset: int) -> int | float:
    """A result within the limits, or the problem it breaks."""
    if isinstance(result, int) and abs(result) > MAX_INTEGER:
        raise _Problem(f"the result of '{operator}' is too large (the limit is 2**63 - 1)", offset)
    if isinstance(result, float) and not math.isfinite(result):
        raise _Problem(f"the result of '{operator}' is too large (not a finite number)", offset)
    return result
