"""The strict YAML reader: values, positions and refusals."""

import math

import pytest

from layerspec.errors import YamlError
from layerspec.yamlread import MAX_BYTES, MAX_DEPTH, key_position, load, position_of, read_text


def error_of(text: str) -> str:
    with pytest.raises(YamlError) as caught:
        load(text, "m.yaml")
    return str(caught.value)


@pytest.mark.parametrize("text, value", [
    ("1e-3", 0.001), ("1.5", 1.5), ("-2", -2), ("+7", 7), ("0", 0), ("0x1f", 31), ("0o17", 15),
    (".5", 0.5), ("3.", 3.0), ("1E3", 1000.0),
    ("true", True), ("True", True), ("false", False), ("FALSE", False),
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("y", "y"),
    ("null", None), ("~", None), ("", None),
    ("010", "010"), ("3:3", "3:3"), ("2024-01-31", "2024-01-31"), ("'12'", "12"), ('"true"', "true"),
    ("relu", "relu"),
])
def test_plain_scalars_resolve_by_strict_rules(text, value):
    assert load(f"v: {text}\n", "m.yaml")["v"] == value
    assert type(load(f"v: {text}\n", "m.yaml")["v"]) is type(value)


def test_special_floats():
    document = load("a: .inf\nb: -.inf\nc: .nan\nd: 1e400\n", "m.yaml")
    assert document["a"] == math.inf and document["b"] == -math.inf
    assert math.isnan(document["c"]) and document["d"] == math.inf


def test_positions_of_keys_values_and_items():
    document = load("name: x\nlayers:\n  - units: 5\n    activation: relu\n  - {type: Dropout, rate: 0.5}\n",
                    "m.yaml")
    assert str(key_position(document, "layers")) == "m.yaml:2:1"
    layers = document["layers"]
    assert str(position_of(layers, 0)) == "m.yaml:3:5"
    assert str(position_of(layers, 1)) == "m.yaml:5:5"
    assert str(position_of(layers[0], "activation")) == "m.yaml:4:17"
    assert str(key_position(layers[1], "rate")) == "m.yaml:5:21"


@pytest.mark.parametrize("text, message", [
    ("a: 1\nb: 2\na: 3\n", "m.yaml:3:1: duplicate key 'a' (first given at line 1)"),
    ("a: &x 1\nb: *x\n", "m.yaml:1:4: YAML anchors (&x) are not allowed"),
    ("a: [1]\nb: *x\n", "m.yaml:2:4: YAML aliases (*x) are not allowed"),
    ("a: !!python/object/apply:os.system ['ls']\n",
     "m.yaml:1:4: YAML tags (!!python/object/apply:os.system) are not allowed"),
    ("a: !custom 3\n", "m.yaml:1:4: YAML tags (!custom) are not allowed"),
    ("1: a\n", "m.yaml:1:1: keys must be strings, got integer 1"),
    ("a: 1\ntrue: 2\n", "m.yaml:2:1: keys must be strings, got boolean true"),
    ("? [a]\n: 1\n", "m.yaml:1:3: mapping keys must be plain strings, not collections"),
    ("a: 1\n---\nb: 2\n", "m.yaml:2:1: more than one YAML document in a spec"),
    ("", "m.yaml:1:1: empty spec: expected a mapping with a 'layers' list"),
    ("# only a comment\n", "m.yaml:1:1: empty spec: expected a mapping with a 'layers' list"),
    ("a:\n\t- 1\n", "m.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token "
                   "(YAML does not allow tabs for indentation; use spaces) (while scanning for the next token)"),
    ("a: [1, 2\n", "m.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
                   "(while parsing a flow sequence)"),
    ("a: 1\x00\n", "m.yaml:1:5: NUL byte in spec"),
    ("é: 1\nbé: 2\x00\n", "m.yaml:2:6: NUL byte in spec"),  # columns count characters, not bytes
    ("a: " + "9" * 500 + "\n", "m.yaml:1:4: integer with 500 digits is too large"),
])
def test_refusals_point_at_the_problem(text, message):
    assert error_of(text) == message


@pytest.mark.parametrize("text, message", [
    ("a: 1\nb: x\x07y\n", "m.yaml:2:5: invalid YAML: unacceptable character U+0007"),
    ("é: \ufffe\n", "m.yaml:1:4: invalid YAML: unacceptable character U+FFFE"),
])
def test_unprintable_characters_are_named_on_one_line(text, message):
    # PyYAML reports the character as a code point and its own message as
    # two lines; a spec error is one line, with the encoding code.
    with pytest.raises(YamlError) as caught:
        load(text, "m.yaml")
    assert str(caught.value) == message
    assert caught.value.code == "encoding"


def test_nesting_deeper_than_the_limit_is_refused_without_recursion():
    deep = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    assert error_of(deep) == f"m.yaml:1:{3 + MAX_DEPTH}: nesting deeper than {MAX_DEPTH} levels"
    block = "".join(" " * i + "- \n" for i in range(3000))
    assert "nesting deeper than" in error_of(block)


def test_billion_laughs_is_refused_at_the_first_anchor():
    text = 'a: &a ["lol","lol"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n'
    assert error_of(text) == "m.yaml:1:4: YAML anchors (&a) are not allowed"


def test_read_text_checks_size_encoding_and_file_kind(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(YamlError, match=f"spec is {MAX_BYTES + 1} bytes, more than the limit of {MAX_BYTES}"):
        read_text(str(big))
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: x\nlayers: [\xff]\n")
    with pytest.raises(YamlError) as caught:
        read_text(str(bad))
    assert str(caught.value) == f"{bad}:2:10: invalid UTF-8 byte 0xff"
    with pytest.raises(YamlError, match="is a directory"):
        read_text(str(tmp_path))
    with pytest.raises(YamlError, match="cannot read spec: No such file or directory"):
        read_text(str(tmp_path / "missing.yaml"))


def test_fifo_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(YamlError, match="is not a regular file"):
        read_text(str(fifo))


@pytest.mark.parametrize("text, message", [
    ("layers:\n  - {units: ${w}, activation: relu}\n",
     "m.yaml:2:13: an expression inside a flow collection ({...} or [...]) must be quoted, as YAML reads '{' and "
     "'}' there as structure: quote the value, e.g. \"${w}\""),
    ("input: [${n}]\n",
     "m.yaml:1:9: an expression inside a flow collection ({...} or [...]) must be quoted, as YAML reads '{' and "
     "'}' there as structure: quote the value, e.g. \"${n}\""),
])
def test_an_unquoted_expression_in_a_flow_collection_is_told_how_to_write_it(text, message):
    assert error_of(text) == message


def test_expressions_in_block_style_and_quoted_ones_read_as_text():
    assert load("a: ${w}\nb: {c: \"${2 * w}\"}\n", "m.yaml") == {"a": "${w}", "b": {"c": "${2 * w}"}}
