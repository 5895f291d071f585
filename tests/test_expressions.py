"""``${EXPR}`` expressions: values against Python's own arithmetic, types,
interpolation, positions, every error message and its column, limits, and
a Hypothesis fuzz (random text and random well-formed expressions)."""

from __future__ import annotations

import gc
import math
import operator
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerspec.errors import Position, SpecError, SpecErrors
from layerspec.expressions import (
    MAX_DEPTH,
    MAX_INTEGER,
    MAX_LENGTH,
    MAX_TEXT,
    ExpressionError,
    evaluate,
    has_expression,
    is_expression,
    substitute,
)
from layerspec.yamlread import YamlList, YamlMap, load

from .conftest import FUZZ_LONG

NAMES = {"width": 64, "ratio": 0.25, "depth": 3, "act": "relu", "flag": True, "off": False, "nothing": None,
         "sizes": [1, 2], "options": {"a": 1}, "neg": -7, "inf": math.inf, "nan": math.nan, "big": 2**70}


def value_of(text: str, names=None):
    return evaluate(text, NAMES if names is None else names)


def error_of(text: str, names=None) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        evaluate(text, NAMES if names is None else names, Position("m.yaml", 1, 1), source=text)
    return caught.value


def same(actual, expected) -> bool:
    """Equal in type and value, -0.0 apart from 0.0."""
    return type(actual) is type(expected) and repr(actual) == repr(expected)


# --------------------------------------------------------------------------
# Values


@pytest.mark.parametrize("text, expected", [
    ("${0}", 0), ("${12}", 12), ("${9223372036854775807}", 2**63 - 1),
    ("${0.5}", 0.5), ("${.5}", 0.5), ("${1.}", 1.0), ("${1e-3}", 0.001), ("${2.5E+3}", 2500.0), ("${1e3}", 1000.0),
    ("${1.e2}", 100.0), ("${0e0}", 0.0),
])
def test_literals_are_decimal_ints_and_floats(text, expected):
    assert same(value_of(text), expected)


OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
             "//": operator.floordiv, "%": operator.mod}
OPERANDS = [(7, 2), (-7, 2), (7, -2), (-7, -2), (6, 3), (0, 5), (7.5, 2), (-7.5, 2), (7, 0.5), (-7.25, -0.5),
            (1e-3, 3), (3, 1e300)]


@pytest.mark.parametrize("symbol", list(OPERATORS))
@pytest.mark.parametrize("left, right", OPERANDS)
def test_every_operator_computes_as_python_does(symbol, left, right):
    # A negative operand is written as a unary minus on its literal, as Python reads it too.
    text = f"${{{left!r} {symbol} {right!r}}}"
    assert same(value_of(text), OPERATORS[symbol](left, right))


@pytest.mark.parametrize("text, expected", [
    ("${2 + 3 * 4}", 2 + 3 * 4),
    ("${(2 + 3) * 4}", (2 + 3) * 4),
    ("${10 - 4 - 3}", 10 - 4 - 3),
    ("${10 - (4 - 3)}", 10 - (4 - 3)),
    ("${100 / 10 / 5}", 100 / 10 / 5),
    ("${100 // 7 // 2}", 100 // 7 // 2),
    ("${100 % 7 % 4}", 100 % 7 % 4),
    ("${2 * 3 % 4}", 2 * 3 % 4),
    ("${2 + 3 % 4 * 5}", 2 + 3 % 4 * 5),
    ("${7 - 10 // 3 * 2 + 1}", 7 - 10 // 3 * 2 + 1),
    ("${-7 // 2}", -7 // 2),
    ("${-(7 // 2)}", -(7 // 2)),
    ("${- -3}", - -3),
    ("${--+-3}", -(-(+(-3)))),
    ("${-2 * -3}", -2 * -3),
    ("${3 - -2}", 3 - -2),
    ("${1 + 2 * 3 - 4 / 2 + 5 % 3 - 7 // 2}", 1 + 2 * 3 - 4 / 2 + 5 % 3 - 7 // 2),
    ("${((((1))))}", 1),
    ("${ 2*3 }", 6),
    ("${\t2\n*\r\n3 }", 6),
])
def test_precedence_and_left_associativity_are_pythons(text, expected):
    assert same(value_of(text), expected)


@pytest.mark.parametrize("text, expected", [
    ("${-7 // 2}", -4), ("${-7 % 2}", 1), ("${7 % -2}", -1), ("${-7 % -2}", -1), ("${7 // -2}", -4),
    ("${-7.5 // 2}", -4.0), ("${-7.5 % 2}", 0.5), ("${-1 // 3}", -1), ("${-1 % 3}", 2),
])
def test_floor_division_and_modulo_floor_with_negatives(text, expected):
    assert same(value_of(text), expected)


@pytest.mark.parametrize("text, expected", [
    ("${round(0.5)}", 0), ("${round(1.5)}", 2), ("${round(2.5)}", 2), ("${round(-0.5)}", 0), ("${round(-1.5)}", -2),
    ("${round(-2.5)}", -2), ("${round(2.6)}", 3), ("${round(7)}", 7),
    ("${round(0.125, 2)}", 0.12), ("${round(0.375, 2)}", 0.38), ("${round(2.675, 2)}", 2.67),
    ("${round(25, -1)}", 20), ("${round(35, -1)}", 40), ("${round(1234, 2)}", 1234), ("${round(1.5, 0)}", 2.0),
    ("${round(width / 3)}", 21), ("${round(5, -1000000000)}", 0), ("${round(1.5, 1000000000)}", 1.5),
    ("${round(-1.5, -1000000000)}", -0.0),
])
def test_round_halves_to_even_as_python_does(text, expected):
    assert same(value_of(text), expected)


def test_round_matches_pythons_round_on_the_same_numbers():
    for number in [0.5, 1.5, 2.5, 3.5, -2.5, 1.25, 1.35, 2.345, 1e15 + 0.5]:
        assert same(value_of(f"${{round({number!r})}}"), round(number))
        for digits in [0, 1, 2]:
            assert same(value_of(f"${{round({number!r}, {digits})}}"), round(number, digits))


@pytest.mark.parametrize("text, expected", [
    ("${min(3)}", 3), ("${min(3, 1, 2)}", 1), ("${max(3, 1, 2)}", 3), ("${min(2, 1.5)}", 1.5),
    ("${max(1, 1.0)}", max(1, 1.0)), ("${min(1.0, 1)}", min(1.0, 1)), ("${max(width // 4, 8)}", 16),
    ("${min(max(1, 2), max(0, -1))}", 0), ("${max(-width, neg)}", -7), ("${min ( 4 , 5 )}", 4),
])
def test_min_and_max_take_one_or_more_arguments(text, expected):
    assert same(value_of(text), expected)


def test_names_are_looked_up_and_ints_stay_ints():
    assert same(value_of("${width}"), 64)
    assert same(value_of("${2 * width}"), 128)
    assert same(value_of("${width / 2}"), 32.0)
    assert same(value_of("${width // 3}"), 21)
    assert same(value_of("${width * ratio}"), 16.0)
    assert same(value_of("${_x1 + 1}", {"_x1": 2}), 3)


@pytest.mark.parametrize("text, expected", [
    ("${act}", "relu"), ("${flag}", True), ("${off}", False), ("${nothing}", None), ("${sizes}", [1, 2]),
    ("${options}", {"a": 1}), ("${(act)}", "relu"), ("${ act }", "relu"), ("${big}", 2**70),
])
def test_a_lone_name_keeps_the_type_of_its_value(text, expected):
    assert same(value_of(text), expected)


def test_a_lone_name_gives_the_bound_object_and_never_evaluates_it_again():
    sizes = [1, 2]
    assert value_of("${sizes}", {"sizes": sizes}) is sizes
    assert value_of("${text}", {"text": "${width}"}) == "${width}"


@pytest.mark.parametrize("text, expected", [
    ("stage${depth}_conv", "stage3_conv"),
    ("${depth}${depth}", "33"),
    ("${act}_${depth + 1}", "relu_4"),
    ("r${ratio}", "r0.25"),
    ("x${width / 2}", "x32.0"),
    ("a${1e-5}", "a1e-05"),
    ("n${neg}", "n-7"),
    (" ${depth}", " 3"),
    ("${depth} ", "3 "),
    ("$ {depth} $x }", "$ {depth} $x }"),
    ("plain text", "plain text"),
    ("", ""),
])
def test_expressions_inside_text_are_formatted_into_it(text, expected):
    assert value_of(text) == expected


def test_values_other_than_strings_pass_through_unchanged():
    for value in [3, 2.5, True, None]:
        assert value_of(value) is value


def test_is_expression_and_has_expression():
    assert is_expression("${a}") and is_expression("${ 2 * a }") and is_expression("${}")
    assert not is_expression("${a}${b}") and not is_expression(" ${a}") and not is_expression("${a} ")
    assert not is_expression("x${a}") and not is_expression("${a") and not is_expression(3)
    assert has_expression("x${a}") and has_expression("${") and not has_expression("$a{}") and not has_expression(3)


def test_nothing_reaches_python_objects():
    for text in ["${__import__('os')}", "${().__class__}", "${width.real}", "${abs(-1)}", "${eval(1)}",
                 "${[1][0]}", "${'a'}", "${lambda: 1}", "${width if 1 else 2}"]:
        with pytest.raises(ExpressionError):
            value_of(text)


# --------------------------------------------------------------------------
# Errors: message and the offset of the offending token


@pytest.mark.parametrize("text, message, token", [
    # unknown names and functions
    ("${2 * widht}", "unknown name 'widht'; did you mean 'width'? "
     "(known: act, big, depth, flag, inf, nan, neg, nothing, off, options, ratio, sizes, width)", "widht"),
    ("${foo(1)}", "unknown function 'foo' (known: max, min, round)", "foo"),
    ("${mx(1)}", "unknown function 'mx'; did you mean 'max'? (known: max, min, round)", "mx"),
    ("${width(1)}", "unknown function 'width' (known: max, min, round)", "width"),
    # arguments
    ("${min()}", "min() takes at least 1 argument, got 0", "min"),
    ("${max( )}", "max() takes at least 1 argument, got 0", "max"),
    ("${round()}", "round() takes at least 1 argument, got 0", "round"),
    ("${round(1, 2, 3)}", "round() takes 1 or 2 arguments, got 3", "round"),
    ("${round(2.5, 1.0)}", "round()'s second argument (ndigits) must be an integer, not 1.0", "round"),
    # arithmetic
    ("${1 / 0}", "division by zero", "/"),
    ("${1 // 0.0}", "division by zero", "//"),
    ("${width % (depth - 3)}", "modulo by zero", "%"),
    ("${9223372036854775807 + 1}", "the result of '+' is too large (the limit is 2**63 - 1)", "+"),
    ("${-9223372036854775807 - 2}", "the result of '-' is too large (the limit is 2**63 - 1)", "- 2"),
    ("${3037000500 * 3037000500}", "the result of '*' is too large (the limit is 2**63 - 1)", "*"),
    ("${1e308 * 10}", "the result of '*' is too large (not a finite number)", "*"),
    ("${1e308 // 1e-308}", "the result of '//' is too large (not a finite number)", "//"),
    ("${round(1e19)}", "the result of 'round' is too large (the limit is 2**63 - 1)", "round"),
    ("${round(9000000000000000000, -19)}", "the result of 'round' is too large (the limit is 2**63 - 1)", "round"),
    ("${99999999999999999999}", "integer 99999999999999999999 is too large (the limit is 2**63 - 1)", "9"),
    ("${1" + "0" * 40 + "}", "integer 100000000000...(41 digits) is too large (the limit is 2**63 - 1)", "1"),
    ("${1e999}", "number 1e999 is too large", "1e999"),
    # types
    ("${act * 2}", "'act' is a string ('relu'), not a number", "act"),
    ("${2 * flag}", "'flag' is a boolean (true), not a number", "flag"),
    ("${-off}", "'off' is a boolean (false), not a number", "off"),
    ("${nothing + 1}", "'nothing' is null, not a number", "nothing"),
    ("${sizes // 2}", "'sizes' is a list, not a number", "sizes"),
    ("${min(options)}", "'options' is a mapping, not a number", "options"),
    ("${(act) + 1}", "'act' is a string ('relu'), not a number", "act"),
    ("${inf - 1}", "'inf' is .inf, not a finite number", "inf"),
    ("${nan * 0}", "'nan' is .nan, not a finite number", "nan"),
    ("${big - 1}", "'big' is too large (the limit is 2**63 - 1)", "big"),
    ("x${flag}", "'flag' is a boolean (true); only numbers and strings can be put into text", "flag"),
    ("x${nothing}", "'nothing' is null; only numbers and strings can be put into text", "nothing"),
    ("${sizes}y", "'sizes' is a list; only numbers and strings can be put into text", "sizes"),
    # syntax
    ("${}", "empty expression '${}'", "${"),
    ("${  }", "empty expression '${}'", "${"),
    ("a${}", "empty expression '${}'", "${"),
    ("${width", "unclosed '${': expected '}'", "${"),
    ("${1}${2", "unclosed '${': expected '}'", "${2"),
    ("${(1 + 2}", "unexpected end of expression: expected ')'", "}"),
    ("${min(1, 2}", "unexpected end of expression: expected ')'", "}"),
    ("${(1 2)}", "expected ')', found number 2", "2)"),
    ("${1 +}", "unexpected end of expression: expected a number, a name or '('", "}"),
    ("${-}", "unexpected end of expression: expected a number, a name or '('", "}"),
    ("${* 2}", "expected a number, a name or '(', found '*'", "*"),
    ("${min(1,)}", "expected a number, a name or '(', found ')'", ")"),
    ("${min(,1)}", "expected a number, a name or '(', found ','", ","),
    ("${()}", "expected a number, a name or '(', found ')'", ")"),
    ("${1 2}", "expected an operator or the end of the expression, found number 2", "2"),
    ("${width depth}", "expected an operator or the end of the expression, found name 'depth'", "depth"),
    ("${(1))}", "expected an operator or the end of the expression, found ')'", ")}"),
    ("${1, 2}", "expected an operator or the end of the expression, found ','", ","),
    ("${(1)(2)}", "expected an operator or the end of the expression, found '('", "(2"),
    ("${2 ** 3}", "'**' (power) is not supported", "**"),
    ("${2 & 3}", "unexpected character '&'", "&"),
    ("${'a'}", "unexpected character \"'\"", "'"),
    ("${a.b}", "unexpected character '.'", "."),
    ("${a ${b}}", "unexpected character '$'", "${b"),
    ("${1\x00}", "unexpected character U+0000", "\x00"),
    ("${2x}", "invalid number '2x'", "2x"),
    ("${1.2.3}", "invalid number '1.2.3'", "1.2.3"),
    ("${1e}", "invalid number '1e'", "1e"),
    ("${1_000}", "invalid number '1_000'", "1_000"),
    ("${007}", "invalid number '007' (no leading zeros)", "007"),
    ("${١}", "unexpected character '١'", "١"),
])
def test_errors_say_what_is_wrong_and_point_at_the_offending_token(text, message, token):
    error = error_of(text)
    assert error.message == message
    assert error.code == "invalid-expression" and isinstance(error, SpecError)
    assert error.offset == (text.rindex(token) if token == "}" else text.index(token))
    assert error.position == Position("m.yaml", 1, 1 + error.offset)
    assert error.text == text


def test_an_unknown_name_lists_at_most_twenty_known_names():
    names = {f"n{index:02d}": index for index in range(25)}
    listed = ", ".join(f"n{index:02d}" for index in range(20))
    assert error_of("${x}", names).message == f"unknown name 'x' (known: {listed}, ... (5 more))"
    assert error_of("${x}", {}).message == "unknown name 'x' (no names are defined here)"


def test_the_first_error_in_evaluation_order_is_reported():
    assert error_of("${1 / 0 + act * 2}").message == "division by zero"
    # Syntax and nesting come before values, literals included.
    assert error_of("${99999999999999999999 + (}").message == (
        "unexpected end of expression: expected a number, a name or '('")
    # A syntax error anywhere comes before any evaluation.
    assert error_of("${1 / 0 + (}").message == "unexpected end of expression: expected a number, a name or '('"
    assert error_of("${depth}${1/0}${x}").message == "division by zero"


def test_long_strings_in_messages_are_shortened():
    assert error_of("${s + 1}", {"s": "x" * 100}).message == f"'s' is a string ('{'x' * 37}...'), not a number"


# --------------------------------------------------------------------------
# Limits


def test_expression_length_is_limited():
    assert value_of("${" + "1+" * (MAX_LENGTH // 2 - 1) + "1}") == MAX_LENGTH // 2
    text = "${" + "1+" * (MAX_LENGTH // 2) + "1}"
    error = error_of(text)
    assert error.message == f"expression is {MAX_LENGTH + 1} characters long, more than the limit of {MAX_LENGTH}"
    assert error.offset == 0


def test_nesting_depth_is_limited_for_parentheses_and_calls():
    assert value_of("${" + "(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH + "}") == 1
    assert value_of("${" + "min(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH + "}") == 1
    deep = "${" + "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1) + "}"
    error = error_of(deep)
    assert error.message == f"expression nested deeper than {MAX_DEPTH} levels of parentheses"
    assert error.offset == 2 + MAX_DEPTH
    error = error_of("${" + "max(" * 30 + "(" * 30 + "1" + ")" * 60 + "}")
    assert error.offset == 2 + 4 * 30 + (MAX_DEPTH - 30)


def test_long_flat_chains_and_many_unary_signs_need_no_depth():
    assert value_of("${" + "-" * 999 + "1}") == -1
    assert value_of("${" + "+".join(["1"] * 500) + "}") == 500


def test_integers_are_limited_to_int64_magnitudes():
    assert value_of(f"${{{MAX_INTEGER}}}") == MAX_INTEGER
    assert value_of(f"${{-{MAX_INTEGER}}}") == -MAX_INTEGER
    assert value_of(f"${{{MAX_INTEGER} - 1 + 1}}") == MAX_INTEGER
    assert error_of(f"${{-{MAX_INTEGER} - 1}}").message == "the result of '-' is too large (the limit is 2**63 - 1)"


def test_interpolated_text_is_limited():
    names = {"s": "x" * 3000}
    assert len(evaluate("${s}${s}${s}", names)) == 9000
    error = error_of("${s}${s}${s}${s}", names)
    assert error.message == f"the values put into text are longer than {MAX_TEXT} characters in all"
    assert error.offset == 12
    # Text written in the scalar itself does not count.
    assert evaluate("y" * 20_000 + "${s}", names) == "y" * 20_000 + "x" * 3000


# --------------------------------------------------------------------------
# Positions in a spec file


SPEC = """\
layers:
  - type: Conv2D
    filters: ${2 * widht}
  - {type: Dense, units: "${2 * widht}", name: 'a${1 / 0}'}
  - {type: Dense, units: "\\x24{2 * widht}"}
  - type: Dense
    name: "x ${1 +
      2 + y}"
  - type: Dense
    units: >
      ${widht}
"""


def errors_in(text: str, names: dict, source: str | None) -> list[str]:
    document = load(text, "m.yaml")
    with pytest.raises(SpecErrors) as caught:
        substitute(document, names, source=source)
    return [str(error) for error in caught.value]


def test_errors_point_at_the_token_in_plain_and_quoted_scalars():
    lines = SPEC.splitlines()
    assert errors_in(SPEC, {"width": 1}, SPEC)[:3] == [
        f"m.yaml:3:{lines[2].index('widht') + 1}: unknown name 'widht'; did you mean 'width'? (known: width)",
        f"m.yaml:4:{lines[3].index('widht') + 1}: unknown name 'widht'; did you mean 'width'? (known: width)",
        f"m.yaml:4:{lines[3].index('/') + 1}: division by zero",
    ]


def test_errors_fall_back_to_the_scalar_when_its_text_is_not_on_its_line():
    lines = SPEC.splitlines()
    assert errors_in(SPEC, {"width": 1}, SPEC)[3:] == [
        # An escape in a double-quoted scalar: the error points at the quote.
        f"m.yaml:5:{lines[4].index(chr(34)) + 1}: unknown name 'widht'; did you mean 'width'? (known: width)",
        # A scalar spanning lines, and a block scalar: at the scalar.
        f"m.yaml:7:{lines[6].index(chr(34)) + 1}: unknown name 'y' (known: width)",
        f"m.yaml:10:{lines[9].index('>') + 1}: unknown name 'widht'; did you mean 'width'? (known: width)",
    ]


def test_without_the_source_errors_point_at_the_scalar():
    lines = SPEC.splitlines()
    first = errors_in(SPEC, {"width": 1}, None)[0]
    assert first == f"m.yaml:3:{lines[2].index('$') + 1}: unknown name 'widht'; did you mean 'width'? (known: width)"


def test_lines_are_counted_as_yaml_counts_them():
    text = "a: 1\r\nb: 2\rc: 3\u2028d: '${1 / 0}'\n"
    assert errors_in(text + "e: ${x}\n", {}, text + "e: ${x}\n") == [
        "m.yaml:4:9: division by zero", "m.yaml:5:6: unknown name 'x' (no names are defined here)"]


def test_single_quoted_scalars_point_inside_unless_they_hold_an_escaped_quote():
    text = "a: '${1 / 0}'\nb: 'it''s ${1 / 0}'\n"
    assert errors_in(text, {}, text) == ["m.yaml:1:9: division by zero", "m.yaml:2:4: division by zero"]


def test_an_error_without_a_position_has_none():
    with pytest.raises(ExpressionError) as caught:
        evaluate("${x}", {})
    assert caught.value.position is None and str(caught.value) == "unknown name 'x' (no names are defined here)"


# --------------------------------------------------------------------------
# substitute


def test_substitute_rebuilds_yaml_containers_with_their_positions():
    text = "layers:\n  - {type: Dense, units: '${2 * width}', name: 'd${depth}'}\n  - ${act}\nkeep: 3\n"
    document = load(text, "m.yaml")
    result = substitute(document, {"width": 8, "depth": 2, "act": "relu"}, source=text)
    assert result == {"layers": [{"type": "Dense", "units": 16, "name": "d2"}, "relu"], "keep": 3}
    assert type(result) is YamlMap and type(result["layers"]) is YamlList and type(result["layers"][0]) is YamlMap
    for new, old in [(result, document), (result["layers"][0], document["layers"][0])]:
        assert new is not old and new.position == old.position
        assert new.key_positions == old.key_positions and new.value_positions == old.value_positions
    assert result["layers"].position == document["layers"].position
    assert result["layers"].item_positions == document["layers"].item_positions
    assert document["layers"][0]["units"] == "${2 * width}"  # the input is left as it was


def test_substitute_walks_plain_containers_and_leaves_keys_alone():
    value = {"${k}": ["${n}", ("${n + 1}", 2.5), {"x": None}], "flag": True}
    assert substitute(value, {"n": 1, "k": "key"}) == {"${k}": [1, (2, 2.5), {"x": None}], "flag": True}
    assert substitute("${n}", {"n": 4}) == 4
    assert substitute(7, {}) == 7


def test_substitute_reports_one_error_alone_and_several_together():
    text = "a: ${x}\nb: [1, '${1 % 0}']\n"
    with pytest.raises(ExpressionError) as caught:
        substitute(load(text, "m.yaml"), {"x": 1}, source=text)
    assert str(caught.value) == "m.yaml:2:13: modulo by zero"
    with pytest.raises(SpecErrors) as caught:
        substitute(load(text, "m.yaml"), {}, source=text)
    assert [str(error) for error in caught.value] == [
        "m.yaml:1:6: unknown name 'x' (no names are defined here)", "m.yaml:2:13: modulo by zero"]


def test_substitute_uses_the_position_given_for_a_scalar():
    with pytest.raises(ExpressionError) as caught:
        substitute("${1/0}", {}, Position("m.yaml", 4, 9), source="\n\n\n        ${1/0}\n")
    assert str(caught.value) == "m.yaml:4:12: division by zero"


# --------------------------------------------------------------------------
# Fuzz

# Derandomized by the suite's profile (tests/conftest.py); LAYERSPEC_FUZZ=long draws many fresh examples.
FUZZ = settings(max_examples=5000 if FUZZ_LONG else 300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: CPU time one evaluation may take (thread time: other processes do not count).
SLOW = 0.05

EXPRESSION_CHARACTERS = list("0123456789.eE+-*/%(),_ abxyz${}'\"\\\n\t&") + ["min(", "max(", "round(", "width",
                                                                            "act", "//", "**", "1e308", "9" * 25]


def timed_evaluate(text: str, names=None):
    """evaluate() under the fuzz's rules: a value or an ExpressionError, fast."""
    # A collection of Hypothesis's own garbage may take longer than an
    # evaluation: it is not timed.
    gc.disable()
    start = time.thread_time()
    try:
        return evaluate(text, NAMES if names is None else names, Position("f.yaml", 1, 1), source=text), None
    except ExpressionError as error:
        exact = Position("f.yaml", 1, 1 + error.offset)
        # A scalar on several lines is located at its start.
        one_line = not re.search("[\r\n\x85\u2028\u2029]", text)  # YAML's line breaks
        assert error.position == exact if one_line else error.position in (exact, Position("f.yaml", 1, 1))
        assert 0 <= error.offset <= len(text) and error.message
        return None, error
    finally:
        elapsed = time.thread_time() - start
        gc.enable()
        assert elapsed < SLOW, text


@FUZZ
@given(st.lists(st.sampled_from(EXPRESSION_CHARACTERS), max_size=60).map("".join)
       | st.text(max_size=200) | st.text(max_size=30).map(lambda t: "${" + t + "}"))
def test_any_text_gives_a_value_or_an_expression_error(text):
    value, error = timed_evaluate(text)
    if error is None and not is_expression(text):
        assert isinstance(value, str)
        assert value == text or has_expression(text)


# Random well-formed expressions as trees; the expected value is computed
# from the tree with Python's operators, never from the text.

class Refused(Exception):
    """The reference says the expression breaks a rule (an error is due)."""


FUZZ_NAMES = {"w": 64, "r": 0.5, "n": -3, "h": 2**62, "s": "relu", "t": True}


def checked(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refused
    if isinstance(value, int) and abs(value) > MAX_INTEGER:
        raise Refused
    if isinstance(value, float) and not math.isfinite(value):
        raise Refused
    return value


def reference(node):
    kind = node[0]
    if kind == "number":
        return checked(node[1])
    if kind == "name":
        return FUZZ_NAMES[node[1]]
    if kind == "group":
        return reference(node[1])
    if kind == "unary":
        operand = checked(reference(node[2]))
        return checked(-operand if node[1] == "-" else +operand)
    if kind == "binary":
        left, right = checked(reference(node[2])), checked(reference(node[3]))
        if node[1] in ("/", "//", "%") and right == 0:
            raise Refused
        return checked(OPERATORS[node[1]](left, right))
    arguments = [checked(reference(argument)) for argument in node[2]]
    if node[1] in ("min", "max"):
        return (min if node[1] == "min" else max)(arguments)
    if len(arguments) == 2 and not isinstance(arguments[1], int):
        raise Refused
    if len(arguments) == 1 and isinstance(arguments[0], float) and abs(arguments[0]) > MAX_INTEGER:
        raise Refused
    if len(arguments) == 1:
        return checked(round(arguments[0]))
    # Beyond 400 digits either way the result no longer changes (and Python's
    # round(5, -10**18) would take forever), so the reference stops there too.
    return checked(round(arguments[0], max(-400, min(400, arguments[1]))))


LEVELS = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2}


def render(node) -> tuple[str, int]:
    """The node's text and its precedence level (1 sum, 2 product, 3 unary, 4 atom)."""
    kind = node[0]
    if kind == "number":
        return repr(node[1]), 4
    if kind == "name":
        return node[1], 4
    if kind == "group":
        return f"({render(node[1])[0]})", 4
    if kind == "unary":
        text, level = render(node[2])
        return node[1] + (text if level >= 3 else f"({text})"), 3
    if kind == "binary":
        level = LEVELS[node[1]]
        (left, left_level), (right, right_level) = render(node[2]), render(node[3])
        left = left if left_level >= level else f"({left})"
        right = right if right_level > level else f"({right})"
        return f"{left} {node[1]} {right}", level
    return f"{node[1]}({', '.join(render(argument)[0] for argument in node[2])})", 4


LEAVES = (st.tuples(st.just("number"), st.integers(0, 10**20) | st.integers(0, 100)
                    | st.floats(0, 1e308, allow_nan=False, allow_infinity=False))
          | st.tuples(st.just("name"), st.sampled_from(sorted(FUZZ_NAMES))))


def extend(children):
    return (st.tuples(st.just("unary"), st.sampled_from("+-"), children)
            | st.tuples(st.just("binary"), st.sampled_from(list(OPERATORS)), children, children)
            | st.tuples(st.just("group"), children)
            | st.tuples(st.just("call"), st.sampled_from(["min", "max"]), st.lists(children, min_size=1, max_size=3))
            | st.tuples(st.just("call"), st.just("round"), st.lists(children, min_size=1, max_size=2)))


TREES = st.recursive(LEAVES, extend, max_leaves=40)


def nesting(text: str) -> int:
    deepest = depth = 0
    for character in text:
        depth += character == "("
        depth -= character == ")"
        deepest = max(deepest, depth)
    return deepest


@FUZZ
@given(TREES)
def test_well_formed_expressions_compute_what_python_computes_from_the_tree(tree):
    text = render(tree)[0]
    value, error = timed_evaluate("${" + text + "}", FUZZ_NAMES)
    try:
        expected = reference(tree)
    except Refused:
        assert error is not None, text
        return
    if len(text) > MAX_LENGTH or nesting(text) > MAX_DEPTH:
        assert error is not None, text
    else:
        assert error is None, f"{text}: {error}"
        assert same(value, expected), text


@FUZZ
@given(st.integers(0, 2 * MAX_DEPTH), st.sampled_from(["(", "min(", "round(", "-("]), TREES)
def test_deep_nesting_is_refused_past_the_limit(depth, opening, tree):
    text = opening * depth + render(tree)[0] + ")" * depth
    value, error = timed_evaluate("${" + text + "}", FUZZ_NAMES)
    if nesting(text) > MAX_DEPTH and len(text) <= MAX_LENGTH:
        assert error is not None and error.message == (
            f"expression nested deeper than {MAX_DEPTH} levels of parentheses")


SCALARS = (st.lists(st.sampled_from(EXPRESSION_CHARACTERS), max_size=20).map("".join) | st.integers() | st.none()
           | st.booleans() | st.floats())
VALUES = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4)
                      | st.dictionaries(st.text(max_size=3), children, max_size=4), max_leaves=20)


@FUZZ
@given(VALUES)
def test_substitute_gives_a_value_or_expression_errors(value):
    try:
        result = substitute(value, NAMES)
    except SpecErrors as errors:
        assert all(isinstance(error, ExpressionError) for error in errors) and len(errors.errors) > 1
    except ExpressionError:
        pass
    else:
        assert type(result) is type(value)
