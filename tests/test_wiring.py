"""Graph wiring in specs (layerspec/wiring.py, spec_inputs.py): every mistake
in ``inputs``, ``outputs``, ``reuse`` and model inputs is an error at the
reference at fault, ``PATH:LINE:COL: error: MESSAGE``, exit 1."""

import re

import pytest

from tests.conftest import SPECS


def errors_of(cli, path, command="summary") -> list[str]:
    """The error lines of ``layerspec summary PATH`` (which must fail)."""
    result = cli(command, path)
    assert result.exit_code == 1, result.stdout
    return result.stderr.splitlines()


def error_at(path: str, line: int, col: int, message: str) -> str:
    return f"{path}:{line}:{col}: error: {message}"


# -- references in `inputs` -------------------------------------------------------
def test_reference_to_a_later_layer_names_its_line(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3, name: a}
          - {units: 3, inputs: b}
          - {units: 3, name: b}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 24, "layer 2 'dense' (Dense): 'b' is defined below (line 5); "
                                                          "a layer can only take inputs from layers above it")]


def test_reference_to_itself(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3, name: a}
          - {units: 3, inputs: b, name: b}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 24, "layer 2 'b' (Dense): a layer cannot take its own output "
                                                          "as input")]


def test_reference_to_nothing_suggests_a_name(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3, name: encoder}
          - {units: 3, inputs: encodr}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 24, "layer 2 'dense' (Dense): no layer or input named "
                                                          "'encodr'; did you mean 'encoder'?")]


def test_reference_in_a_list_is_placed_at_its_item(cli, write_spec):
    path = write_spec("""
        inputs: {left: [4], right: [4]}
        layers:
          - {units: 3, inputs: left, name: a}
          - {type: Add, inputs: [a, rihgt]}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 29, "layer 2 'add' (Add): no layer or input named 'rihgt'; "
                                                          "did you mean 'right'?")]


def test_offset_past_the_first_layer(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3}
          - {units: 3, inputs: -3}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 24, "layer 2 'dense_1' (Dense): offset -3 reaches above the "
                                                          "first layer; name a model input instead (input)")]


@pytest.mark.parametrize("offset", [0, 1])
def test_offset_must_be_negative(cli, write_spec, offset):
    path = write_spec(f"""
        input: [4]
        layers:
          - {{units: 3}}
          - {{units: 3, inputs: {offset}}}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 24, "layer 2 'dense_1' (Dense): an offset counts back through "
                                                          "the layers above and is negative (-1 is the layer just "
                                                          f"above), got {offset}")]


def test_a_reference_is_a_name_or_an_offset(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3}
          - {units: 3, inputs: [1.5]}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 25, "layer 2 'dense_1' (Dense): an input reference is a layer "
                                                          "or input name or a negative offset like -1, got number 1.5")]


def test_an_empty_inputs_list(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3}
          - {type: Add, inputs: []}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 25, "layer 2 'add' (Add): 'inputs' must name at least one "
                                                          "input")]


def test_every_broken_reference_is_reported_at_once(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4], b: [4]}
        layers:
          - {units: 3, inputs: a, name: enc}
          - {type: Add, inputs: [enc, later]}
          - {units: 2, name: later, inputs: -9}
          - {units: 2, inputs: ennc}
        """)
    assert errors_of(cli, path) == [
        error_at(path, 4, 31, "layer 2 'add' (Add): 'later' is defined below (line 5); a layer can only take "
                              "inputs from layers above it"),
        error_at(path, 5, 37, "layer 3 'later' (Dense): offset -9 reaches above the first layer; name a model "
                              "input instead (a, b)"),
        error_at(path, 6, 24, "layer 4 'dense' (Dense): no layer or input named 'ennc'; did you mean 'enc'?"),
    ]


# -- what reaches the outputs ------------------------------------------------------
def test_a_dead_branch_is_an_error_at_the_layer(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3, name: a}
          - {units: 5, name: unused}
          - {units: 2, inputs: a}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 5, "layer 2 'unused' (Dense): its result reaches no model "
                                                         "output; use it as an input below, list it in 'outputs', or "
                                                         "remove it")]


def test_a_dead_branch_listed_in_outputs_is_an_output(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3, name: a}
          - {units: 5, name: unused}
          - {units: 2, inputs: a}
        outputs: [unused, dense]
        """)
    assert cli("summary", path).exit_code == 0


def test_an_unused_input_is_an_error_at_its_name(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4], b: [4]}
        layers:
          - {units: 3, inputs: a}
        """)
    assert errors_of(cli, path) == [error_at(path, 1, 18, "model input 'b' reaches no model output: no layer reads "
                                                          "it")]


# -- how many inputs a layer takes ---------------------------------------------------
def test_several_inputs_to_a_single_input_layer(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4], b: [4]}
        layers:
          - {units: 3, inputs: [a, b]}
        """)
    assert errors_of(cli, path) == [error_at(path, 3, 24, "layer 1 'dense' (Dense) takes one input, but 'inputs' "
                                                          "gives 2")]


def test_a_merge_in_a_plain_stack_needs_inputs(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3}
          - {type: Add}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 5, "layer 2 'add' (Add) takes a list of inputs: name them, "
                                                         "e.g. 'inputs: [a, b]'")]


def test_merged_shapes_that_do_not_agree_name_both(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4], b: [5]}
        layers:
          - {units: 2, inputs: a}
          - {type: Add, inputs: [a, b]}
          - {type: Concatenate, inputs: [dense, -1]}
        """)
    # From the layer's own shape rule at build, placed at the layer.
    assert errors_of(cli, path) == [error_at(path, 4, 5, "layer 2 'add' (Add): inputs with shapes (None, 4) and "
                                                         "(None, 5) cannot be added: sizes 4 and 5 on axis -1 differ, "
                                                         "and neither is 1")]


def test_concatenated_shapes_that_do_not_agree(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4, 3], b: [5, 2]}
        layers:
          - {type: Concatenate, inputs: [a, b]}
        """)
    [line] = errors_of(cli, path)
    assert line.startswith(error_at(path, 3, 5, "layer 1 'concatenate' (Concatenate): "))
    assert "(None, 4, 3)" in line and "(None, 5, 2)" in line


# -- model inputs --------------------------------------------------------------------
def test_input_and_inputs_both_given(cli, write_spec):
    path = write_spec("""
        input: [4]
        inputs: {a: [4]}
        layers:
          - {units: 3}
        """)
    assert errors_of(cli, path) == [error_at(path, 2, 1, "give either 'input' (one input) or 'inputs' (named "
                                                         "inputs), not both")]


def test_duplicate_input_names_in_input_entries(cli, write_spec):
    path = write_spec("""
        layers:
          - {type: Input, shape: [4], name: x}
          - {type: Input, shape: [4], name: x}
          - {type: Add, inputs: [-2, -1]}
        """)
    assert errors_of(cli, path) == [error_at(path, 3, 5, "duplicate input name 'x'")]


def test_duplicate_input_names_in_inputs_are_duplicate_keys(cli, write_spec):
    path = write_spec("""
        inputs:
          x: [4]
          x: [4]
        layers:
          - {units: 3}
        """)
    assert errors_of(cli, path) == [error_at(path, 3, 3, "duplicate key 'x' (first given at line 2)")]


def test_a_layer_named_as_an_input(cli, write_spec):
    path = write_spec("""
        inputs: {x: [4]}
        layers:
          - {units: 3, name: x}
        """)
    assert errors_of(cli, path) == [error_at(path, 3, 22, "layer 1 'x' (Dense): the name 'x' is also a model "
                                                          "input's; references would be ambiguous")]


def test_an_input_entry_and_a_top_level_input(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {type: Input, shape: [4]}
          - {units: 3}
        """)
    assert errors_of(cli, path) == [error_at(path, 3, 5, "the spec declares its inputs at the top level "
                                                         "('input'/'inputs') and with an Input entry; keep one")]


# -- reuse -----------------------------------------------------------------------------
def test_reuse_of_a_missing_layer(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4], b: [4]}
        layers:
          - {units: 3, inputs: a, name: encoder}
          - {reuse: encodr, inputs: b}
          - {type: Add, inputs: [encoder, -1]}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 13, "layer 2 'encodr_reuse': 'reuse' names a layer above "
                                                          "whose weights to share; no layer named 'encodr'; did you "
                                                          "mean 'encoder'?")]


def test_reuse_of_a_later_layer(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4], b: [4]}
        layers:
          - {units: 3, inputs: a, name: encoder}
          - {reuse: later, inputs: b}
          - {units: 3, name: later}
          - {type: Add, inputs: [encoder, -1]}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 13, "layer 2 'later_reuse': 'reuse' can only share a layer "
                                                          "defined above; 'later' is defined below (line 5)")]


def test_reuse_with_extra_keys(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4], b: [4]}
        layers:
          - {units: 3, inputs: a, name: encoder}
          - {reuse: encoder, inputs: b, units: 3}
          - {type: Add, inputs: [encoder, -1]}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 33, "layer 2: an entry with 'reuse' applies a layer above "
                                                          "again, with its arguments and weights; it takes only "
                                                          "'inputs' and 'name', not 'units'")]


def test_reuse_on_an_input_of_another_shape(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4], b: [6]}
        layers:
          - {units: 3, inputs: a, name: encoder}
          - {reuse: encoder, inputs: b}
          - {type: Add, inputs: [encoder, -1]}
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 30, "layer 2 'encoder_reuse' (Dense): 'encoder' is built for "
                                                          "input (None, 4); applied again to (None, 6), its weights "
                                                          "would not fit")]


def test_reuse_reading_the_layer_above_of_another_shape_is_placed_at_the_entry(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4], b: [4]}
        layers:
          - {units: 3, inputs: a, name: encoder}
          - {reuse: encoder, inputs: b}
          - {reuse: encoder}
          - {type: Add, inputs: [encoder, -1]}
        """)
    assert errors_of(cli, path) == [error_at(path, 5, 5, "layer 3 'encoder_reuse_1' (Dense): 'encoder' is built "
                                                         "for input (None, 4); applied again to (None, 3), its "
                                                         "weights would not fit")]


def test_reuse_given_several_inputs_names_the_layer_type(cli, write_spec):
    path = write_spec("""
        inputs: {a: [4], b: [4]}
        layers:
          - {units: 3, inputs: a, name: encoder}
          - {reuse: encoder, inputs: [b, a]}
          - {type: Add, inputs: [encoder, -1]}
        """)
    # Like any other message about the entry, it names the type it applies.
    assert errors_of(cli, path) == [error_at(path, 4, 30, "layer 2 'encoder_reuse' (Dense) takes one input, but "
                                                          "'inputs' gives 2")]


# -- outputs ---------------------------------------------------------------------------
def test_outputs_naming_nothing(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3}
        outputs: dens
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 10, "outputs: no layer or input named 'dens'; did you mean "
                                                          "'dense'?")]


def test_outputs_naming_a_layer_twice(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3}
        outputs: [dense, dense]
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 18, "'outputs' names 'dense' twice")]


def test_outputs_by_offset_is_refused(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3}
        outputs: [-1]
        """)
    assert errors_of(cli, path) == [error_at(path, 4, 11, "'outputs' names layers or inputs, got -1")]


# -- the check command reports them the same way ----------------------------------------
def test_check_reports_wiring_errors_with_their_codes(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - {units: 3, name: a}
          - {units: 5, inputs: b}
          - {units: 2, name: b}
        outputs: [b, b]
        """)
    result = cli("check", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        error_at(path, 4, 24, "layer 2 'dense' (Dense): 'b' is defined below (line 5); a layer can only take "
                              "inputs from layers above it [forward-reference]"),
        error_at(path, 6, 14, "'outputs' names 'b' twice [duplicate-name]"),
        "1 spec checked, 1 failed, 2 errors",
    ]


# -- breaking any one reference of the ResNet example -------------------------------------
def resnet_references() -> list[tuple[int, int, int, str]]:
    """``(line, column, entry number, reference)`` of every reference in
    resnet_small.yaml's ``inputs``, found in its text."""
    references = []
    entry = 0
    for line_number, line in enumerate((SPECS / "resnet_small.yaml").read_text().splitlines(), start=1):
        if not line.startswith("  - "):
            continue
        entry += 1
        match = re.search(r"inputs: (\[([^\]]*)\]|[\w-]+)", line)
        if match is None:
            continue
        if match.group(2) is None:
            references.append((line_number, match.start(1) + 1, entry, match.group(1)))
            continue
        column = match.start(2) + 1
        for item in match.group(2).split(", "):
            references.append((line_number, column, entry, item))
            column += len(item) + 2
    return references


def test_the_resnet_references_are_found():
    assert [reference for _, _, _, reference in resnet_references()] == [
        "-1", "stem", "block1", "block2_main", "-1", "block2", "block3_main", "-1", "block3", "block4_main", "-1"]


@pytest.mark.parametrize("line, column, entry, reference", resnet_references(),
                         ids=[f"{line}:{column}" for line, column, _, _ in resnet_references()])
def test_breaking_one_resnet_reference_gives_one_error_there(cli, tmp_path, line, column, entry, reference):
    lines = (SPECS / "resnet_small.yaml").read_text().splitlines()
    text = lines[line - 1]
    lines[line - 1] = text[:column - 1] + "missing" + text[column - 1 + len(reference):]
    path = tmp_path / "resnet_small.yaml"
    path.write_text("\n".join(lines) + "\n")
    # The merges are the Add layers; the shortcut convolutions are Conv2D
    # layers numbered among the unnamed convolutions.
    layer_type = "Add" if "type: Add" in text else "Conv2D"
    name = {"Add": {9: "add", 18: "add_1", 27: "add_2", 36: "add_3"},
            "Conv2D": {16: "conv2d_5", 25: "conv2d_8", 34: "conv2d_11"}}[layer_type][entry]
    assert errors_of(cli, path) == [error_at(str(path), line, column, f"layer {entry} '{name}' ({layer_type}): no "
                                                                      "layer or input named 'missing'")]
