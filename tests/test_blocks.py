"""Blocks, repeats and model arguments (layerspec/blocks.py): what a spec
expands to, the names and weight keys, the wiring, and every problem at
its line, with the block's use site."""

import json

import numpy as np
import pytest

import layerspec
from layerspec.blocks import Settings
from layerspec.errors import LayerspecError, flatten
from layerspec.model import Sequential
from layerspec.spec import build_model, loads_spec, read_spec

#: DESIGN §9's example.
RESIDUAL = """\
args: {width: 64, classes: 10}
variants: {small: {width: 32}, large: {width: 128}}
blocks:
  residual:
    args: {filters: null, strides: 1}
    layers:
      - type: Conv2D
        filters: ${filters}
        kernel_size: 3
        strides: ${strides}
        padding: same
        activation: relu
      - {type: Conv2D, filters: "${filters}", kernel_size: 3, padding: same, name: main}
      - {type: Conv2D, filters: "${filters}", kernel_size: 1, strides: "${strides}", inputs: in, name: shortcut}
      - {type: Add, inputs: [main, shortcut]}
      - {type: Activation, activation: relu}
input: [32, 32, 3]
layers:
  - {type: Conv2D, filters: "${width}", kernel_size: 3, padding: same}
  - {type: residual, filters: "${width}", repeat: 2}
  - {type: residual, filters: "${2 * width}", strides: 2}
  - {type: GlobalAveragePooling2D}
  - {units: "${classes}", activation: softmax}
"""


def conv(k, c_in, filters):
    return k * k * c_in * filters + filters


def residual_params(c_in, filters):
    return conv(3, c_in, filters) + conv(3, filters, filters) + conv(1, c_in, filters)


def model_of(text, settings=None, path="m.yaml"):
    return build_model(loads_spec(text, path, settings))


def problems(text, settings=None) -> list[str]:
    with pytest.raises(LayerspecError) as caught:
        build_model(loads_spec(text, "m.yaml", settings), require_input=False)
    return [str(error) for error in flatten(caught.value)]


# -- the design's example -------------------------------------------------------------
def test_block_applications_are_named_from_their_block_and_their_layers_by_path():
    model = model_of(RESIDUAL)
    names = [node.name for node in model.nodes]
    assert names[:7] == ["conv2d", "residual/conv2d", "residual/main", "residual/shortcut", "residual/add",
                         "residual/activation", "residual_1/conv2d"]
    assert names[-3:] == ["residual_2/activation", "global_average_pooling2d", "dense"]
    keys = [key for key, _ in model.weight_items()]
    assert keys[:4] == ["conv2d/kernel", "conv2d/bias", "residual/conv2d/kernel", "residual/conv2d/bias"]


def test_parameters_follow_the_arguments():
    expected = conv(3, 3, 64) + 2 * residual_params(64, 64) + residual_params(64, 128) + 128 * 10 + 10
    assert model_of(RESIDUAL).count_params() == expected == 388874


def test_the_shortcut_reads_the_block_input_and_strides_apply():
    model = model_of(RESIDUAL)
    by_name = {node.name: node for node in model.nodes}
    assert [model.graph.tensor_name(source) for source in by_name["residual_1/shortcut"].sources] == \
        ["residual/activation"]
    assert by_name["residual_2/conv2d"].output_shape == (None, 16, 16, 128)
    assert by_name["residual_2/shortcut"].output_shape == (None, 16, 16, 128)


def test_nodes_know_their_block_application():
    model = model_of(RESIDUAL)
    by_name = {node.name: node for node in model.nodes}
    assert by_name["conv2d"].scope == ()
    assert by_name["residual_1/main"].scope == (("residual_1", "residual"),)


def test_variants_and_set_change_the_arguments():
    small = model_of(RESIDUAL, Settings("small"))
    assert small.count_params() == conv(3, 3, 32) + 2 * residual_params(32, 32) + residual_params(32, 64) + 650
    assert (small.args, small.variant) == ({"width": 32, "classes": 10}, "small")
    tuned = model_of(RESIDUAL, Settings("small", {"classes": 3}))
    assert tuned.args == {"width": 32, "classes": 3} and tuned.output_shape == (None, 3)


def test_the_forward_pass_equals_the_same_model_written_out():
    """The expansion changes nothing but how the model is written."""
    flat = """
input: [8, 8, 3]
layers:
  - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, name: stem}
  - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, activation: relu, name: r_conv}
  - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, name: r_main}
  - {type: Conv2D, filters: 4, kernel_size: 1, inputs: stem, name: r_short}
  - {type: Add, inputs: [r_main, r_short]}
"""
    blocked = """
blocks:
  res:
    layers:
      - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, activation: relu}
      - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, name: main}
      - {type: Conv2D, filters: 4, kernel_size: 1, inputs: in, name: short}
      - {type: Add, inputs: [main, short]}
input: [8, 8, 3]
layers:
  - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, name: stem}
  - {type: res}
"""
    one, two = layerspec.loads(flat).init(seed=1), layerspec.loads(blocked)
    renamed = dict(zip(["stem", "res/conv2d", "res/main", "res/short"], ["stem", "r_conv", "r_main", "r_short"]))
    two.set_weights({f"{ours}/{weight}": one.get_weights()[f"{theirs}/{weight}"]
                     for ours, theirs in renamed.items() for weight in ("kernel", "bias")})
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(two.predict(x), one.predict(x))


# -- repeat ---------------------------------------------------------------------------
def test_repeated_layers_stay_a_plain_stack_numbered_as_usual():
    model = model_of("input: [4]\nlayers:\n  - {units: 8, repeat: 3, activation: relu}\n  - {units: 2}\n")
    assert isinstance(model, Sequential) and not model.is_graph
    assert [layer.name for layer in model.layers] == ["dense", "dense_1", "dense_2", "dense_3"]
    assert model.count_params() == 40 + 72 + 72 + 18


def test_repeat_with_a_name_numbers_the_copies():
    model = model_of("input: [4]\nlayers:\n  - {units: 8, repeat: 3, name: hidden}\n  - {units: 2}\n")
    assert [layer.name for layer in model.layers] == ["hidden", "hidden_1", "hidden_2", "dense"]


def test_a_repeated_entry_counts_once_for_offsets():
    model = model_of("input: [4]\nlayers:\n  - {units: 5, name: a}\n  - {units: 8, repeat: 3}\n"
                     "  - {type: Concatenate, inputs: [-1, -2]}\n")
    concatenate = model.nodes[-1]
    assert [model.graph.tensor_name(source) for source in concatenate.sources] == ["dense_2", "a"]
    assert concatenate.output_shape == (None, 13)


def test_repeat_may_be_an_expression():
    model = model_of("args: {depth: 4}\ninput: [4]\nlayers:\n  - {units: 3, repeat: '${depth - 1}'}\n")
    assert len(model.layers) == 3


def test_repeated_blocks_feed_each_other_and_share_no_weights():
    model = model_of(RESIDUAL)
    by_name = {node.name: node for node in model.nodes}
    assert [model.graph.tensor_name(source) for source in by_name["residual_1/conv2d"].sources] == \
        ["residual/activation"]
    assert by_name["residual_1/conv2d"].layer is not by_name["residual/conv2d"].layer


# -- several inputs and outputs, reuse ------------------------------------------------
GATED = """\
blocks:
  gate:
    inputs: [x, g]
    layers:
      - {type: Dense, units: 8, inputs: x, name: proj}
      - {type: Dense, units: 8, activation: sigmoid, inputs: g}
      - {type: Multiply, inputs: [proj, -1]}
    outputs: [proj, multiply]
inputs: {a: [4], b: [6]}
layers:
  - {type: gate, inputs: [a, b]}
  - {reuse: gate, inputs: [a, b]}
  - {type: Add, inputs: [gate.proj, gate_reuse.multiply, gate.multiply]}
outputs: [add, gate]
"""


def test_a_block_with_two_inputs_and_two_outputs():
    model = model_of(GATED)
    add = model.nodes[-1]
    assert [model.graph.tensor_name(source) for source in add.sources] == \
        ["gate/proj", "gate_reuse/multiply", "gate/multiply"]


def test_a_model_output_that_is_a_block_gets_the_block_name():
    model = model_of(GATED)
    assert model.output_names == ["add", "gate"]
    model.init(seed=0)
    outputs = model.predict({"a": np.ones((2, 4), np.float32), "b": np.ones((2, 6), np.float32)})
    assert [output.shape for output in outputs] == [(2, 8), (2, 8)]


def test_reusing_a_block_application_shares_every_weight():
    model = model_of(GATED).init(seed=0)
    assert sorted(model.get_weights()) == ["gate/dense/bias", "gate/dense/kernel", "gate/proj/bias",
                                          "gate/proj/kernel"]
    by_name = {node.name: node for node in model.nodes}
    assert by_name["gate_reuse/proj"].reuses is by_name["gate/proj"]
    assert model.count_params() == 40 + 56


def test_blocks_inside_blocks():
    text = """\
blocks:
  unit:
    args: {n: null}
    layers: [{units: "${n}", activation: relu}]
  pair:
    args: {n: 4}
    layers:
      - {type: unit, n: "${n}"}
      - {type: unit, n: "${2 * n}"}
input: [3]
layers:
  - {type: pair, repeat: 2}
"""
    model = model_of(text)
    assert [node.name for node in model.nodes] == ["pair/unit/dense", "pair/unit_1/dense", "pair_1/unit/dense",
                                                   "pair_1/unit_1/dense"]
    assert model.nodes[3].scope == (("pair_1", "pair"), ("pair_1/unit_1", "unit"))
    assert model.output_shape == (None, 8)


def test_model_arguments_in_input_and_expect():
    spec = loads_spec("args: {n: 6}\ninput: ['${n}']\nlayers:\n  - {units: '${n + 1}'}\nexpect: {params: '${7 * n + 7}'}\n")
    assert spec.inputs[0].shape == (6,) and spec.expect == {"params": 49}


def test_a_variant_can_change_what_is_expected():
    text = "args: {n: 2}\nvariants: {wide: {n: 8, expect: {params: 72}}}\ninput: [8]\nlayers:\n  - {units: '${n}'}\n" \
           "expect: {params: 18}\n"
    assert loads_spec(text).expect == {"params": 18}
    assert loads_spec(text, settings=Settings("wide")).expect == {"params": 72}


# -- problems, at their lines ----------------------------------------------------------
def test_an_expression_problem_inside_a_block_names_the_use_site():
    text = RESIDUAL.replace('strides: "${strides}", inputs: in', 'strides: "${strides // 0}", inputs: in')
    assert problems(text) == [
        "m.yaml:14:83: division by zero in block 'residual' used at m.yaml:20:5 (and 1 more use of the block)",
    ]


def test_an_unknown_name_in_a_top_level_expression():
    assert problems(RESIDUAL.replace('"${2 * width}"', '"${2 * widht}"')) == [
        "m.yaml:21:38: unknown name 'widht'; did you mean 'width'? (known: classes, width)"]


def test_a_shape_problem_inside_a_block_points_at_its_layer_and_use():
    text = RESIDUAL.replace("kernel_size: 1, strides: \"${strides}\", inputs: in",
                            "kernel_size: 2, padding: valid, inputs: in")
    assert problems(text) == [
        "m.yaml:15:9: layer 4 'residual/add' (Add) in block 'residual' used at m.yaml:20:5: inputs with shapes "
        "(None, 32, 32, 64) and (None, 31, 31, 64) cannot be added: sizes 32 and 31 on axis -3 differ, and "
        "neither is 1"]


def test_block_arguments_unknown_and_missing():
    assert problems(RESIDUAL.replace('{type: residual, filters: "${width}", repeat: 2}',
                                     "{type: residual, filtres: 3, repeat: 2}")) == [
        "m.yaml:20:5: layer 2: block 'residual' needs argument 'filters'",
        "m.yaml:20:22: layer 2: block 'residual' has no argument 'filtres'; did you mean 'filters'? "
        "(its arguments: filters, strides)",
    ]


def test_an_argument_problem_inside_a_block():
    text = RESIDUAL.replace("kernel_size: 3\n        strides", "kernel_size: 0\n        strides")
    assert problems(text) == [
        "m.yaml:9:22: layer 1 'residual/conv2d' (Conv2D) in block 'residual' used at m.yaml:20:5: argument "
        "'kernel_size' must be an integer >= 1 or a list of 2 integers >= 1, got integer 0 (and 2 more uses of the "
        "block)"]


@pytest.mark.parametrize("layers, message", [
    ("      - {units: 2, inputs: nowhere}\n",
     "m.yaml:4:28: layer 1 in block 'b' used at m.yaml:7:5: no layer or input named 'nowhere' in block 'b' "
     "(a block reads its inputs (in) and its own layers above)"),
    ("      - {units: 2, inputs: -1}\n",
     "m.yaml:4:28: layer 1 in block 'b' used at m.yaml:7:5: offset -1 must be negative and stay within block "
     "'b' (-1 is the layer just above; name the block's input 'in' to read it)"),
    ("      - {type: b}\n",
     "m.yaml:4:16: layer 1 in block 'b' used at m.yaml:7:5: block 'b' uses block 'b', which is not defined above "
     "it (a block may only use blocks defined before it, so none can contain itself)"),
])
def test_references_inside_a_block(layers, message):
    text = "blocks:\n  b:\n    layers:\n" + layers + "input: [3]\nlayers:\n  - {type: b}\n"
    assert problems(text) == [message]


def test_block_names_that_cannot_be():
    assert problems("blocks:\n  dense: {layers: [{units: 2}]}\ninput: [3]\nlayers:\n  - {units: 2}\n") == [
        "m.yaml:2:3: block 'dense' shadows the layer type of that name; name the block otherwise"]
    assert problems("blocks:\n  b: {layers: [{units: 2}], extra: 1}\ninput: [3]\nlayers:\n  - {type: b}\n") == [
        "m.yaml:2:29: block 'b': unknown key 'extra'"]


def test_a_block_given_the_wrong_number_of_inputs():
    text = GATED.replace("  - {type: gate, inputs: [a, b]}", "  - {type: gate, inputs: a}")
    assert problems(text)[0] == ("m.yaml:11:26: layer 1: block 'gate' takes 2 inputs (x, g), but it is given 1")


def test_repeat_must_be_a_positive_integer():
    assert problems("input: [3]\nlayers:\n  - {units: 2, repeat: 0}\n") == [
        "m.yaml:3:24: layer 1: 'repeat' must be an integer from 1 to 10,000, got integer 0"]


def test_set_and_variant_must_exist():
    with pytest.raises(LayerspecError, match=r"--set widht: the spec has no argument 'widht'; did you mean 'width'\? "
                                             r"\(its arguments: width, classes\)"):
        loads_spec(RESIDUAL, settings=Settings(None, {"widht": 3}))
    with pytest.raises(LayerspecError, match=r"--variant big: the spec has no variant 'big' \(its variants: small, "
                                             r"large\)"):
        loads_spec(RESIDUAL, settings=Settings("big"))


def test_a_variant_setting_an_unknown_argument():
    assert problems("args: {n: 2}\nvariants: {v: {m: 3}}\ninput: [3]\nlayers:\n  - {units: '${n}'}\n") == [
        "m.yaml:2:16: variant 'v': the spec has no argument 'm' (a variant sets model arguments declared in 'args', "
        "and may hold 'expect')"]


# -- the command line -------------------------------------------------------------------
def test_summary_run_init_take_variant_and_set(cli, write_spec, tmp_path):
    path = write_spec(RESIDUAL)
    data = json.loads(cli("summary", path, "--variant", "small", "--set", "classes=3", "--format", "json").stdout)
    assert data["output_shape"] == [None, 3]
    weights = tmp_path / "w.npz"
    assert cli("init", path, "-o", weights, "--variant", "small").exit_code == 0
    assert "residual_2/main/kernel" in np.load(weights)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 32, 32, 3), np.float32))
    result = cli("run", path, x, "--weights", weights, "--variant", "small", "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    assert cli("run", path, x, "--weights", weights, "-o", tmp_path / "z.npy").exit_code == 1  # width 64 differs


def test_check_checks_every_variant(cli, write_spec):
    text = "args: {n: 2}\nvariants: {wide: {n: 8}, wider: {n: 16, expect: {params: 144}}}\ninput: [8]\n" \
           "layers:\n  - {units: '${n}'}\nexpect: {params: 18}\n"
    result = cli("check", write_spec(text))
    assert result.exit_code == 1
    lines = [line.split(": ", 1)[1] for line in result.stdout.splitlines()[:-1]]
    assert lines == ["error: variant 'wide': expected params 18, got 72 (+54) [expect-mismatch]"]
    assert cli("check", write_spec(text), "--variant", "wider").exit_code == 0


def test_diff_between_two_variants(cli, write_spec):
    path = write_spec(RESIDUAL)
    result = cli("diff", path, path, "--old-variant", "small", "--new-variant", "large")
    assert result.exit_code == 0
    assert "residual_2/main" in result.stdout


def test_to_yaml_refuses_a_model_expanded_from_blocks():
    with pytest.raises(LayerspecError, match=r"'m' was expanded from blocks \(layer 'residual/conv2d'\): write its "
                                             r"spec with its blocks"):
        model_of(RESIDUAL).to_yaml()


def test_to_yaml_of_a_repeated_plain_stack_reloads():
    model = model_of("input: [4]\nlayers:\n  - {units: 8, repeat: 2}\n")
    assert layerspec.loads(model.to_yaml()).count_params() == model.count_params() == 40 + 72


SHARED_FIRST = "blocks:\n  shared:\n    layers:\n      - {units: 4, name: proj}\n      - {units: 3}\n" \
               "input: [5]\nlayers:\n  - {type: shared}\n  - {type: shared}\n"


def test_a_stack_of_blocks_stays_a_stack():
    model = model_of(SHARED_FIRST)
    assert not model.is_graph and isinstance(model, Sequential)
    assert [layer.name for layer in model.layers] == ["shared/proj", "shared/dense", "shared_1/proj",
                                                      "shared_1/dense"]


def test_the_default_output_of_a_model_ending_in_a_block_is_named_after_it():
    assert model_of(SHARED_FIRST).output_names == ["shared_1"]


def test_repeats_inside_repeats_stop_at_the_expansion_limit(monkeypatch):
    """10,000 copies of a block of 10,000 layers: the expansion stops at its
    limit (made small here) instead of building 10^8 entries."""
    import layerspec.blocks

    monkeypatch.setattr(layerspec.blocks, "MAX_ENTRIES", 1000)
    text = "blocks:\n  wide:\n    layers:\n      - {units: 2, repeat: 10000}\ninput: [3]\nlayers:\n" \
           "  - {type: wide, repeat: 10000}\n"
    assert problems(text) == ["m.yaml:4:9: the spec expands to more than 1,000 layers; check its 'repeat' counts"]
