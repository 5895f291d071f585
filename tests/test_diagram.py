"""Diagrams built from summaries (layerspec/diagram.py): boxes, edges and
their labels, shared layers, outputs, block frames folded at each depth,
and the family of every built-in layer type."""

import json
import re
import textwrap

import pytest

import layerspec
from layerspec import registry
from layerspec.diagram import (FAMILIES, FAMILY_COLOURS, HIGHLIGHT_COLOURS, LAYER_FAMILIES, Box, Diagram,
                               box_lines, diagram_from_summary, family_of, frame_title)
from layerspec.errors import ArgumentError
from layerspec.summary import render_json, summarize
from tests.conftest import REPO, SPECS


def summary_of(text: str) -> dict:
    return summarize(layerspec.loads(textwrap.dedent(text)))


def diagram_of(text: str, depth=None) -> Diagram:
    return diagram_from_summary(summary_of(text), depth)


def boxes(diagram: Diagram) -> list[tuple]:
    """Each box as (name, type, shape, params, family, frame name, is_output, applications)."""
    frames = {frame.id: frame.name for frame in diagram.frames}
    return [(box.name, box.type, box.shape, box.params, box.family, frames.get(box.frame), box.is_output,
             box.applications) for box in diagram.boxes]


def edges(diagram: Diagram) -> list[tuple[str, str, str]]:
    """Each edge as (source name, target name, label)."""
    return [(diagram.box(edge.source).name, diagram.box(edge.target).name, edge.label) for edge in diagram.edges]


@pytest.fixture(scope="module")
def resnet50():
    return summarize(layerspec.load(str(SPECS / "zoo" / "resnet50.yaml")))


@pytest.fixture(scope="module")
def gpt2():
    return summarize(layerspec.load(str(SPECS / "zoo" / "gpt2.yaml")))


# -- boxes, edges, labels -----------------------------------------------------------
SEQUENTIAL = """
    name: mlp
    input: [784]
    layers:
      - {units: 32, activation: relu}
      - {type: Dropout, rate: 0.1}
      - {units: 10, activation: softmax, name: probs}
    """


def test_a_sequential_model_is_a_column_of_boxes():
    diagram = diagram_of(SEQUENTIAL)
    assert diagram.name == "mlp"
    assert [box.id for box in diagram.boxes] == ["n0", "n1", "n2", "n3"]
    assert boxes(diagram) == [
        ("input", "Input", "(None, 784)", 0, "input", None, False, 1),
        ("dense", "Dense", "(None, 32)", 25120, "dense", None, False, 1),
        ("dropout", "Dropout", "(None, 32)", 0, "regularization", None, False, 1),
        ("probs", "Dense", "(None, 10)", 330, "dense", None, True, 1),
    ]
    assert edges(diagram) == [("input", "dense", "(None, 784)"), ("dense", "dropout", "(None, 32)"),
                              ("dropout", "probs", "(None, 32)")]
    assert diagram.frames == []


def test_the_json_summary_gives_the_same_diagram():
    summary = summary_of(SEQUENTIAL)
    assert diagram_from_summary(json.loads(render_json(summary))) == diagram_from_summary(summary)


def test_a_summary_without_named_inputs_has_one_input_named_input():
    data = json.loads(render_json(summary_of(SEQUENTIAL)))
    del data["inputs"]
    assert boxes(diagram_from_summary(data))[0] == ("input", "Input", "(None, 784)", 0, "input", None, False, 1)


def test_a_shared_layer_is_one_box_with_an_edge_from_each_input():
    diagram = diagram_from_summary(summarize(layerspec.load(str(SPECS / "siamese.yaml"))))
    assert boxes(diagram) == [
        ("left", "Input", "(None, 32)", 0, "input", None, False, 1),
        ("right", "Input", "(None, 32)", 0, "input", None, False, 1),
        ("hidden", "Dense", "(None, 64)", 2112, "dense", None, False, 2),
        ("embedding", "Dense", "(None, 16)", 1040, "dense", None, False, 2),
        ("cosine", "Dot", "(None, 1)", 0, "merge", None, False, 1),
        ("match", "Dense", "(None, 1)", 2, "dense", None, True, 1),
    ]
    # hidden → embedding twice (once per application), cosine's two inputs from one box: one edge each.
    assert edges(diagram) == [("left", "hidden", "(None, 32)"), ("hidden", "embedding", "(None, 64)"),
                              ("right", "hidden", "(None, 32)"), ("embedding", "cosine", "(None, 16)"),
                              ("cosine", "match", "(None, 1)")]


def test_a_layer_applied_to_its_own_result_has_an_edge_to_itself():
    diagram = diagram_of("""
        name: twice
        inputs: {x: [4]}
        layers:
          - {units: 4, name: square, inputs: x}
          - {reuse: square, inputs: square, name: again}
        outputs: again
        """)
    assert boxes(diagram) == [("x", "Input", "(None, 4)", 0, "input", None, False, 1),
                              ("square", "Dense", "(None, 4)", 20, "dense", None, True, 2)]
    assert edges(diagram) == [("x", "square", "(None, 4)"), ("square", "square", "(None, 4)")]


STATES = """
    name: enc_dec
    inputs: {src: [10, 8], tgt: [12, 6]}
    layers:
      - {type: LSTM, units: 16, return_state: true, name: encoder, inputs: src}
      - {type: Dense, units: 5, inputs: encoder.state_c, name: from_c}
      - {type: GRU, units: 16, return_sequences: true, inputs: [tgt, encoder.state_h], name: decoder}
      - {type: Dense, units: 3, name: head}
    outputs: [head, from_c, encoder.state_h]
    """


def test_one_output_of_several_is_labelled_with_its_own_shape():
    # The LSTM's outputs are [output, state_h, state_c]; the GRU reads state_h as its initial state.
    diagram = diagram_of(STATES)
    assert boxes(diagram)[2] == ("encoder", "LSTM", "(None, 16), (None, 16), (None, 16)", 1600, "recurrent", None,
                                 True, 1)
    assert edges(diagram) == [("src", "encoder", "(None, 10, 8)"), ("encoder", "from_c", "(None, 16)"),
                              ("tgt", "decoder", "(None, 12, 6)"), ("encoder", "decoder", "(None, 16)"),
                              ("decoder", "head", "(None, 12, 16)")]
    assert [box.name for box in diagram.boxes if box.is_output] == ["encoder", "from_c", "head"]


def test_tensors_of_different_shapes_between_two_boxes_share_one_edge_listing_both():
    diagram = diagram_of("""
        name: multi
        blocks:
          split:
            outputs: [left, right]
            layers:
              - {units: 4, name: left}
              - {units: 3, inputs: in, name: right}
        inputs: {x: [5]}
        layers:
          - {type: split, inputs: x}
          - {type: Concatenate, inputs: [split.left, split.right]}
          - {units: 2, name: tail}
        outputs: [tail, split.right]
        """, depth=0)
    assert boxes(diagram) == [("x", "Input", "(None, 5)", 0, "input", None, False, 1),
                              ("split", "split", "(None, 4), (None, 3)", 42, "block", None, True, 1),
                              ("concatenate", "Concatenate", "(None, 7)", 0, "merge", None, False, 1),
                              ("tail", "Dense", "(None, 2)", 16, "dense", None, True, 1)]
    assert edges(diagram) == [("x", "split", "(None, 5)"), ("split", "concatenate", "(None, 4), (None, 3)"),
                              ("concatenate", "tail", "(None, 7)")]


def test_an_input_that_is_an_output_is_marked():
    diagram = diagram_of("""
        name: passthrough
        inputs: {x: [3], y: [2]}
        layers:
          - {units: 2, inputs: x, name: proj}
        outputs: [proj, y]
        """)
    assert [(box.name, box.is_output) for box in diagram.boxes] == [("x", False), ("y", True), ("proj", True)]


# -- blocks ------------------------------------------------------------------------
TWO_LEVEL = """
    name: two_level
    blocks:
      unit:
        args: {filters: null}
        layers:
          - {type: Conv2D, filters: "${filters}", kernel_size: 3, padding: same, name: conv}
          - {type: BatchNormalization, name: bn}
          - {type: Add, inputs: [bn, in], name: add}
      stage:
        args: {filters: null}
        layers:
          - {type: unit, filters: "${filters}", repeat: 2}
          - {type: Activation, activation: relu, name: act}
    input: [8, 8, 4]
    layers:
      - {type: Conv2D, filters: 4, kernel_size: 1, name: stem}
      - {type: stage, filters: 4, name: s1}
      - {type: stage, filters: 4}
      - {type: GlobalAveragePooling2D, name: pool}
      - {type: Dense, units: 3, name: head}
    outputs: [head, s1]
    """
SHAPE = "(None, 8, 8, 4)"
# Parameters: stem 1*1*4*4+4 = 20; conv 3*3*4*4+4 = 148; bn 4*4 = 16; a unit 164; a stage 328; head 4*3+3 = 15.


@pytest.fixture(scope="module")
def two_level():
    return summary_of(TWO_LEVEL)


def _unit_boxes(stage: str, unit: str) -> list[tuple]:
    frame = f"{stage}/{unit}"
    return [(f"{frame}/conv", "Conv2D", SHAPE, 148, "conv", frame, False, 1),
            (f"{frame}/bn", "BatchNormalization", SHAPE, 16, "norm", frame, False, 1),
            (f"{frame}/add", "Add", SHAPE, 0, "merge", frame, False, 1)]


def test_unfolded_blocks_are_nested_frames(two_level):
    diagram = diagram_from_summary(two_level)
    assert [(frame.id, frame.name, frame.block, frame.parent) for frame in diagram.frames] == [
        ("f0", "s1", "stage", None), ("f1", "s1/unit", "unit", "f0"), ("f2", "s1/unit_1", "unit", "f0"),
        ("f3", "stage", "stage", None), ("f4", "stage/unit", "unit", "f3"), ("f5", "stage/unit_1", "unit", "f3")]
    assert boxes(diagram) == (
        [("input", "Input", SHAPE, 0, "input", None, False, 1), ("stem", "Conv2D", SHAPE, 20, "conv", None, False, 1)]
        + _unit_boxes("s1", "unit") + _unit_boxes("s1", "unit_1")
        # s1 is an output named after its application: its result is s1/act's.
        + [("s1/act", "Activation", SHAPE, 0, "activation", "s1", True, 1)]
        + _unit_boxes("stage", "unit") + _unit_boxes("stage", "unit_1")
        + [("stage/act", "Activation", SHAPE, 0, "activation", "stage", False, 1),
           ("pool", "GlobalAveragePooling2D", "(None, 4)", 0, "pool", None, False, 1),
           ("head", "Dense", "(None, 3)", 15, "dense", None, True, 1)])
    # The skip connections: each unit's add reads the unit's input.
    skips = [(source, target) for source, target, _ in edges(diagram) if target.endswith("/add")]
    assert skips == [("s1/unit/bn", "s1/unit/add"), ("stem", "s1/unit/add"),
                     ("s1/unit_1/bn", "s1/unit_1/add"), ("s1/unit/add", "s1/unit_1/add"),
                     ("stage/unit/bn", "stage/unit/add"), ("s1/act", "stage/unit/add"),
                     ("stage/unit_1/bn", "stage/unit_1/add"), ("stage/unit/add", "stage/unit_1/add")]
    assert len(diagram.edges) == 21


def test_depth_zero_folds_each_top_level_application_into_one_box(two_level):
    diagram = diagram_from_summary(two_level, depth=0)
    assert diagram.frames == []
    assert boxes(diagram) == [("input", "Input", SHAPE, 0, "input", None, False, 1),
                              ("stem", "Conv2D", SHAPE, 20, "conv", None, False, 1),
                              ("s1", "stage", SHAPE, 328, "block", None, True, 1),
                              ("stage", "stage", SHAPE, 328, "block", None, False, 1),
                              ("pool", "GlobalAveragePooling2D", "(None, 4)", 0, "pool", None, False, 1),
                              ("head", "Dense", "(None, 3)", 15, "dense", None, True, 1)]
    # stem feeds s1's first conv and first add: one edge; the edges inside s1 are gone.
    assert edges(diagram) == [("input", "stem", SHAPE), ("stem", "s1", SHAPE), ("s1", "stage", SHAPE),
                              ("stage", "pool", SHAPE), ("pool", "head", "(None, 4)")]


def test_depth_one_keeps_the_outer_frames_and_folds_the_units(two_level):
    diagram = diagram_from_summary(two_level, depth=1)
    assert [(frame.name, frame.parent) for frame in diagram.frames] == [("s1", None), ("stage", None)]
    assert boxes(diagram) == [("input", "Input", SHAPE, 0, "input", None, False, 1),
                              ("stem", "Conv2D", SHAPE, 20, "conv", None, False, 1),
                              ("s1/unit", "unit", SHAPE, 164, "block", "s1", False, 1),
                              ("s1/unit_1", "unit", SHAPE, 164, "block", "s1", False, 1),
                              ("s1/act", "Activation", SHAPE, 0, "activation", "s1", True, 1),
                              ("stage/unit", "unit", SHAPE, 164, "block", "stage", False, 1),
                              ("stage/unit_1", "unit", SHAPE, 164, "block", "stage", False, 1),
                              ("stage/act", "Activation", SHAPE, 0, "activation", "stage", False, 1),
                              ("pool", "GlobalAveragePooling2D", "(None, 4)", 0, "pool", None, False, 1),
                              ("head", "Dense", "(None, 3)", 15, "dense", None, True, 1)]
    names = [box.name for box in diagram.boxes]
    assert edges(diagram) == [(names[i], names[i + 1], "(None, 4)" if names[i] == "pool" else SHAPE)
                              for i in range(len(names) - 1)]


def test_a_depth_below_the_deepest_level_folds_nothing(two_level):
    assert diagram_from_summary(two_level, depth=2) == diagram_from_summary(two_level)


@pytest.mark.parametrize("depth", [-1, 1.5, True, "1"])
def test_a_bad_depth_is_an_argument_error(two_level, depth):
    with pytest.raises(ArgumentError, match="depth"):
        diagram_from_summary(two_level, depth)


TIED = """
    name: tied
    blocks:
      pair:
        layers:
          - {units: 4, name: first}
          - {reuse: first, name: second}
    input: [4]
    layers:
      - {type: pair}
    """


def test_a_reuse_inside_a_folded_application_adds_no_application():
    diagram = diagram_of(TIED, depth=0)
    assert boxes(diagram)[1] == ("pair", "pair", "(None, 4)", 20, "block", None, True, 1)
    unfolded = diagram_of(TIED)
    assert boxes(unfolded)[1] == ("pair/first", "Dense", "(None, 4)", 20, "dense", "pair", True, 2)
    assert edges(unfolded) == [("input", "pair/first", "(None, 4)"), ("pair/first", "pair/first", "(None, 4)")]


# -- the zoo ---------------------------------------------------------------------------
def _params(diagram: Diagram) -> int:
    return sum(box.params for box in diagram.boxes)


@pytest.mark.parametrize("depth, box_count, edge_count, frame_count", [
    (None, 177, 192, 36),  # 176 layers and the input; 16 adds read two tensors
    (0, 13, 12, 0),  # input, 6 stem layers, 4 stages, pool, predictions: one column
    (1, 25, 24, 4),  # each stage a frame of 3, 4, 6 and 3 residual blocks
    (2, 65, 80, 20),  # each block a frame: bottleneck, add and out (+ 2 shortcut layers in a projection)
    (3, 177, 192, 36),
])
def test_resnet50_at_each_depth(resnet50, depth, box_count, edge_count, frame_count):
    diagram = diagram_from_summary(resnet50, depth)
    assert (len(diagram.boxes), len(diagram.edges), len(diagram.frames)) == (box_count, edge_count, frame_count)
    assert _params(diagram) == resnet50["total_params"] == 25636712
    order = {box.id: index for index, box in enumerate(diagram.boxes)}
    assert all(order[edge.source] < order[edge.target] for edge in diagram.edges)
    assert [box.name for box in diagram.boxes if box.is_output] == ["predictions"]


def test_resnet50_at_depth_one(resnet50):
    diagram = diagram_from_summary(resnet50, 1)
    assert [(frame.name, frame.block) for frame in diagram.frames] == [
        ("conv2", "stage"), ("conv3", "stage"), ("conv4", "stage"), ("conv5", "stage")]
    conv2 = boxes(diagram)[7:10]
    assert conv2 == [
        ("conv2/projection_block", "projection_block", "(None, 56, 56, 256)", 76928, "block", "conv2", False, 1),
        ("conv2/identity_block", "identity_block", "(None, 56, 56, 256)", 71552, "block", "conv2", False, 1),
        ("conv2/identity_block_1", "identity_block", "(None, 56, 56, 256)", 71552, "block", "conv2", False, 1)]
    assert edges(diagram)[6:8] == [("pool1_pool", "conv2/projection_block", "(None, 56, 56, 64)"),
                                   ("conv2/projection_block", "conv2/identity_block", "(None, 56, 56, 256)")]


def test_resnet50_at_depth_two_draws_each_shortcut(resnet50):
    diagram = diagram_from_summary(resnet50, 2)
    frames = {frame.id: frame for frame in diagram.frames}
    projection = [box for box in diagram.boxes if box.frame and frames[box.frame].name == "conv2/projection_block"]
    assert [(box.name, box.type, box.params) for box in projection] == [
        ("conv2/projection_block/0_conv", "Conv2D", 16640), ("conv2/projection_block/0_bn", "BatchNormalization", 1024),
        ("conv2/projection_block/bottleneck", "bottleneck", 59264), ("conv2/projection_block/add", "Add", 0),
        ("conv2/projection_block/out", "Activation", 0)]
    assert frames[projection[0].frame].parent == diagram.frames[0].id == "f0"
    into_add = [(source, label) for source, target, label in edges(diagram)
                if target == "conv2/identity_block/add"]
    assert into_add == [("conv2/projection_block/out", "(None, 56, 56, 256)"),
                        ("conv2/identity_block/bottleneck", "(None, 56, 56, 256)")]


def test_gpt2_unfolded_and_at_depth_zero(gpt2):
    full = diagram_from_summary(gpt2)
    assert (len(full.boxes), len(full.edges), len(full.frames)) == (114, 138, 12)
    assert [frame.name for frame in full.frames] == ["transformer_layer"] + [
        f"transformer_layer_{i}" for i in range(1, 12)]
    assert {frame.parent for frame in full.frames} == {None}
    first = [box for box in full.boxes if box.frame == "f0"]
    assert [(box.name.split("/")[1], box.family) for box in first] == [
        ("self_attention_layer_norm", "norm"), ("self_attention", "attention"),
        ("self_attention_dropout", "regularization"), ("self_attention_residual", "merge"),
        ("feedforward_layer_norm", "norm"), ("feedforward_intermediate_dense", "dense"),
        ("feedforward_output_dense", "dense"), ("feedforward_dropout", "regularization"),
        ("feedforward_residual", "merge")]
    folded = diagram_from_summary(gpt2, 0)
    assert (len(folded.boxes), len(folded.edges), folded.frames) == (18, 18, [])
    assert boxes(folded)[5] == ("transformer_layer", "decoder", "(None, None, 768)", 7087872, "block", None, False, 1)
    assert [box.family for box in folded.boxes[:5]] == ["input", "embedding", "embedding", "merge",
                                                         "regularization"]
    assert [box.name for box in folded.boxes if box.is_output] == ["layer_norm"]
    assert _params(folded) == _params(full) == gpt2["total_params"]


# -- labels --------------------------------------------------------------------------
def test_box_lines_name_type_shape_and_params(two_level):
    diagram = diagram_from_summary(two_level)
    by_name = {box.name: box for box in diagram.boxes}
    assert box_lines(diagram, by_name["input"]) == ["input", "Input", SHAPE]
    assert box_lines(diagram, by_name["stem"]) == ["stem", "Conv2D", SHAPE, "20 params"]
    # Inside a frame, a name is shown relative to it, as the summary's table shows it.
    assert box_lines(diagram, by_name["s1/unit_1/conv"]) == ["conv", "Conv2D", SHAPE, "148 params"]
    assert [frame_title(diagram, frame) for frame in diagram.frames] == [
        "s1 (stage)", "unit (unit)", "unit_1 (unit)", "stage (stage)", "unit (unit)", "unit_1 (unit)"]
    folded = diagram_from_summary(two_level, 1)
    assert box_lines(folded, folded.boxes[2]) == ["unit", "unit (block)", SHAPE, "164 params"]


def test_box_lines_of_a_shared_layer_say_how_often_it_is_applied():
    diagram = diagram_from_summary(summarize(layerspec.load(str(SPECS / "siamese.yaml"))))
    assert box_lines(diagram, diagram.boxes[2]) == ["hidden", "Dense, applied 2 times", "(None, 64)",
                                                    "2,112 params"]


# -- families ------------------------------------------------------------------------
def _builtin_types() -> list[str]:
    return sorted(name for name, cls in registry.classes().items() if cls.__module__.startswith("layerspec."))


def _family_by_rule(layer_type: str) -> str:
    """The brief's rules, written independently of the table, as an oracle."""
    rules = [
        ("preprocessing", r"Rescaling|Normalization|Resizing|CenterCrop|CategoryEncoding|CutMix|MixUp"
                          r"|Solarization|Random.*"),
        ("recurrent", r"LSTM|GRU|SimpleRNN|ConvLSTM.*|Bidirectional"),
        ("dense", r"Dense|EinsumDense"),
        ("conv", r".*Conv.*"),
        ("pool", r".*Pool.*"),
        ("norm", r".*Normalization"),
        ("attention", r".*Attention"),
        ("embedding", r"Embedding|PositionEmbedding"),
        ("merge", r"Add|Subtract|Multiply|Average|Maximum|Minimum|Concatenate|Dot"),
        ("reshape", r"Flatten|Reshape|Permute|RepeatVector|Cropping.D|ZeroPadding.D|UpSampling.D"),
        ("activation", r"Activation|ReLU|LeakyReLU|PReLU|ELU|Softmax"),
        ("regularization", r".*Dropout.*|GaussianNoise|ActivityRegularization"),
    ]
    return next((family for family, pattern in rules if re.fullmatch(pattern, layer_type)), "other")


def test_every_built_in_type_has_a_family():
    types = _builtin_types()
    assert len(types) == 120
    assert sorted(LAYER_FAMILIES) == types
    assert {name: family_of(name) for name in types} == {name: _family_by_rule(name) for name in types}


def test_families_of_some_types():
    assert [family_of(name) for name in ("Conv2DTranspose", "SeparableConv1D", "DepthwiseConv2D", "ConvLSTM2D",
                                         "GlobalAvgPool1D", "Normalization", "LayerNormalization",
                                         "SpectralNormalization", "RandomFlip", "TimeDistributed", "Lambda",
                                         "Masking", "Identity", "Dot", "Softmax")] == [
        "conv", "conv", "conv", "recurrent", "pool", "preprocessing", "norm", "norm", "preprocessing", "other",
        "other", "other", "other", "merge", "activation"]


def test_a_type_name_matches_as_specs_match_it_and_an_unknown_type_is_other():
    assert family_of("conv_2d") == family_of("CONV2D") == "conv"
    assert family_of("SimpleDense") == "other"  # a plugin's


def test_a_plugin_layer_is_other():
    summary = {"name": "p", "inputs": {"input": [None, 3]}, "outputs": {"mine": [None, 3]},
               "layers": [{"name": "mine", "type": "SimpleDense", "input_shape": [None, 3],
                           "output_shape": [None, 3], "params": 12, "inputs": ["input"]}]}
    assert diagram_from_summary(summary).boxes[1] == Box("n1", "mine", "SimpleDense", "(None, 3)", 12, "other",
                                                         is_output=True)


def test_every_family_has_colours():
    assert set(LAYER_FAMILIES.values()) | {"input", "block"} == set(FAMILIES)
    assert list(FAMILY_COLOURS) == list(FAMILIES)
    assert list(HIGHLIGHT_COLOURS) == ["added", "changed", "removed"]
    colours = [colour for pair in [*FAMILY_COLOURS.values(), *HIGHLIGHT_COLOURS.values()] for colour in pair]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", colour) for colour in colours)
    fills = [fill for fill, _ in FAMILY_COLOURS.values()]
    assert len(set(fills)) == len(fills)


def test_the_examples_and_specs_all_make_diagrams():
    # Every box but the inputs is fed, and the parameters add up, for each spec shipped.
    paths = sorted(SPECS.glob("*.yaml")) + sorted((SPECS / "zoo").glob("*.yaml")) + [
        REPO / "examples" / "tiny_resnet.yaml", REPO / "examples" / "residual_blocks.yaml"]
    for path in paths:
        summary = summarize(layerspec.load(str(path)))
        for depth in (None, 0):
            diagram = diagram_from_summary(summary, depth)
            fed = {edge.target for edge in diagram.edges}
            assert {box.id for box in diagram.boxes if box.family != "input"} <= fed, path
            assert _params(diagram) == summary["total_params"], path
            assert sum(box.is_output for box in diagram.boxes) >= 1, path
