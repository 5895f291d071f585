"""Spec checking: every problem reported at its place in the file."""

import pytest

from layerspec.errors import LayerspecError, flatten
from layerspec.spec import build_model, loads_spec, read_spec, read_spec_for_check


def problems(write_spec, text: str) -> list[str]:
    path = write_spec(text)
    with pytest.raises(LayerspecError) as caught:
        build_model(read_spec(path), require_input=False)
    return [str(error).replace(path, "m.yaml") for error in flatten(caught.value)]


PLUGIN_HINT = (" (custom layers load with --plugin FILE.py|MODULE, the LAYERSPEC_PLUGINS environment variable, "
               "or a package's 'layerspec.layers' entry point)")

BROKEN_SPECS = [
    ("input: [4]\nlayres: []\nlayers:\n  - units: 2\n",
     ["m.yaml:2:1: unknown top-level key 'layres'; did you mean 'layers'?"]),
    ("input: [4]\n", ["m.yaml:1:1: missing 'layers': a spec needs a list of layers"]),
    ("input: [4]\nlayers: []\n", ["m.yaml:2:9: 'layers' must be a non-empty list of layers, got a list"]),
    ("input: [4]\nlayers: Dense\n", ["m.yaml:2:9: 'layers' must be a non-empty list of layers, got string 'Dense'"]),
    ("- units: 3\n", ["m.yaml:1:1: a spec must be a mapping with a 'layers' list, got a list"]),
    ("input: [4]\nlayers:\n  - Dense\n",
     ["m.yaml:3:5: layer 1 must be a mapping of arguments (e.g. '{units: 10}'), got string 'Dense'"]),
    ("input: [4]\nlayers:\n  - [units, 3]\n",
     ["m.yaml:3:5: layer 1 must be a mapping of arguments (e.g. '{units: 10}'), got a list"]),
    ("input: [4]\nlayers:\n  - units: 3\n    activaton: relu\n",
     ["m.yaml:4:5: layer 1 'dense' (Dense): unknown argument 'activaton'; did you mean 'activation'?"]),
    ("input: [4]\nlayers:\n  - units: 0\n",
     ["m.yaml:3:12: layer 1 'dense' (Dense): argument 'units' must be an integer >= 1, got integer 0"]),
    ("input: [4]\nlayers:\n  - units: ten\n",
     ["m.yaml:3:12: layer 1 'dense' (Dense): argument 'units' must be an integer >= 1, got string 'ten'"]),
    ("input: [4]\nlayers:\n  - units: true\n",
     ["m.yaml:3:12: layer 1 'dense' (Dense): argument 'units' must be an integer >= 1, got boolean true"]),
    ("input: [4]\nlayers:\n  - units: 2.5\n",
     ["m.yaml:3:12: layer 1 'dense' (Dense): argument 'units' must be an integer >= 1, got number 2.5"]),
    ("input: [4]\nlayers:\n  - units: 010\n",
     ["m.yaml:3:12: layer 1 'dense' (Dense): argument 'units' must be an integer >= 1, got string '010'"]),
    ("input: [4]\nlayers:\n  - {type: Dropout, rate: 1.5}\n",
     ["m.yaml:3:27: layer 1 'dropout' (Dropout): argument 'rate' must be a number >= 0 and <= 1, "
      "got number 1.5"]),
    ("input: [4]\nlayers:\n  - {type: Dropout, rate: .nan}\n",
     ["m.yaml:3:27: layer 1 'dropout' (Dropout): argument 'rate' must be a number >= 0 and <= 1, "
      "got number .nan (not finite)"]),
    ("input: [4]\nlayers:\n  - units: 3\n    activation: nope\n",
     ["m.yaml:4:17: layer 1 'dense' (Dense): argument 'activation': unknown activation 'nope'"]),
    ("input: [4]\nlayers:\n  - units: 3\n    activation: rleu\n",
     ["m.yaml:4:17: layer 1 'dense' (Dense): argument 'activation': unknown activation 'rleu'; "
      "did you mean 'relu'?"]),
    ("input: [4]\nlayers:\n  - units: 3\n    use_bias: no\n",
     ["m.yaml:4:15: layer 1 'dense' (Dense): argument 'use_bias' must be true or false, got string 'no'"]),
    ("input: [4]\nlayers:\n  - units: 3\n    kernel_initializer: glorot_unifrom\n",
     ["m.yaml:4:25: layer 1 'dense' (Dense): argument 'kernel_initializer': unknown initializer "
      "'glorot_unifrom'; did you mean 'glorot_uniform'?"]),
    ("input: [4]\nlayers:\n  - type: Dens\n    units: 3\n",
     ["m.yaml:3:11: layer 1: unknown layer type 'Dens'; did you mean 'Dense'?" + PLUGIN_HINT]),
    ("input: [4]\nlayers:\n  - type: Activation\n",
     ["m.yaml:3:5: layer 1 'activation' (Activation): missing required argument 'activation'"]),
    ("input: [4]\nlayers:\n  - {units: 3, name: a}\n  - {units: 3, name: a}\n",
     ["m.yaml:4:22: layer 2: duplicate layer name 'a' (layer 1 has it)"]),
    ("input: [4]\nlayers:\n  - {units: 3, name: a/b}\n",
     ["m.yaml:3:22: layer 1: 'name' must be a non-empty string without '/', got string 'a/b'"]),
    ("input: [0]\nlayers:\n  - units: 3\n",
     ["m.yaml:1:8: 'input' must be a list of sizes (positive integers or null), e.g. [28, 28, 1], "
      "got integer 0 in it"]),
    ("input: 784\nlayers:\n  - units: 3\n",
     ["m.yaml:1:8: 'input' must be a list of sizes (positive integers or null), e.g. [28, 28, 1], "
      "got integer 784"]),
    ("input: [4]\ndtype: float16\nlayers:\n  - units: 3\n",
     ["m.yaml:2:8: 'dtype' must be one of float32, float64, got string 'float16'"]),
    ("input: [4]\nlayers:\n  - units: 3\nexpect:\n  param: 3\n",
     ["m.yaml:5:3: unknown key 'param' in 'expect'; did you mean 'params'?"]),
    ("input: [4]\nlayers:\n  - units: 3\nexpect:\n  params: -1\n",
     ["m.yaml:5:11: 'expect.params' must be a non-negative integer, got integer -1"]),
    ("name: 5\ninput: [4]\nlayers:\n  - units: 3\n",
     ["m.yaml:1:7: 'name' must be a non-empty string, got integer 5"]),
]


@pytest.mark.parametrize("text, expected", BROKEN_SPECS, ids=[str(i) for i in range(len(BROKEN_SPECS))])
def test_broken_specs_are_reported_at_the_exact_position(write_spec, text, expected):
    assert problems(write_spec, text) == expected


def test_every_problem_in_a_file_is_reported_in_file_order(write_spec):
    text = """\
        input: [4]
        layer: 1
        layers:
          - units: 0
            activaton: relu
          - type: Dropot
          - {type: Dropout, rate: 2}
    """
    assert problems(write_spec, text) == [
        "m.yaml:2:1: unknown top-level key 'layer'; did you mean 'layers'?",
        "m.yaml:4:12: layer 1 'dense' (Dense): argument 'units' must be an integer >= 1, got integer 0",
        "m.yaml:5:5: layer 1 'dense' (Dense): unknown argument 'activaton'; did you mean 'activation'?",
        "m.yaml:6:11: layer 2: unknown layer type 'Dropot'; did you mean 'Dropout'?" + PLUGIN_HINT,
        "m.yaml:7:27: layer 3 'dropout' (Dropout): argument 'rate' must be a number >= 0 and <= 1, got integer 2",
    ]


@pytest.mark.parametrize("type_name", ["Dense", "dense", "DENSE", "de_nse"])
def test_type_names_match_ignoring_case_and_underscores(type_name):
    spec = loads_spec(f"input: [4]\nlayers:\n  - {{type: {type_name}, units: 3}}\n")
    assert spec.layers[0].layer_class.__name__ == "Dense"


def test_max_pooling_style_names_normalise():
    from layerspec.registry import normalize

    assert normalize("max_pooling_2d") == normalize("MaxPooling2D")


def test_shape_errors_point_at_the_layer(write_spec):
    text = "input: [784]\nlayers:\n  - units: 10\n  - type: Reshape\n    target_shape: [3, 3]\n"
    assert problems(write_spec, text) == [
        "m.yaml:4:5: layer 2 'reshape' (Reshape): cannot reshape (None, 10) (10 values per sample) "
        "into target_shape [3, 3]"]


def test_unknown_size_cannot_feed_dense(write_spec):
    text = "input: [null, 8]\nlayers:\n  - type: Flatten\n  - units: 4\n"
    assert problems(write_spec, text) == [
        "m.yaml:4:5: layer 2 'dense' (Dense): needs a known size on the last axis, got (None, None)"]


def test_missing_input_shape_says_how_to_give_it(write_spec):
    path = write_spec("layers:\n  - units: 3\n")
    with pytest.raises(LayerspecError) as caught:
        build_model(read_spec(path))
    assert str(caught.value) == (f"{path}: the model's input shape is unknown: add 'input: [...]' to the spec "
                                 "or pass --input-shape (e.g. --input-shape 28,28,1)")


def test_input_shape_override_fills_unknown_sizes_and_refuses_conflicts(write_spec):
    path = write_spec("input: [null, 8]\nlayers:\n  - units: 3\n")
    model = build_model(read_spec(path), (5, 8))
    assert model.output_shape == (None, 5, 3)
    with pytest.raises(LayerspecError) as caught:
        build_model(read_spec(path), (5, 9))
    assert str(caught.value) == f"{path}:1:8: --input-shape [5, 9] does not match the spec's input [null, 8]"


def test_name_defaults_to_file_stem_and_dtype_to_float32(write_spec):
    spec = read_spec(write_spec("input: [4]\nlayers:\n  - units: 3\n", name="tiny_net.yaml"))
    assert (spec.name, spec.dtype, spec.input_shape) == ("tiny_net", "float32", (4,))


def test_auto_names_are_counted_per_model_over_unnamed_layers():
    # As in Keras, a name given to one layer does not shift the others' numbers.
    spec = loads_spec("input: [4]\nlayers:\n  - units: 3\n  - {units: 3, name: logits}\n  - units: 3\n"
                      "  - {type: Dropout, rate: 0.1}\n")
    model = build_model(spec)
    assert [layer.name for layer in model.layers] == ["dense", "logits", "dense_1", "dropout"]


@pytest.mark.parametrize("layers, expected", [
    # `name: dense` on the second Dense: the first, unnamed, is `dense` too (Keras refuses the model).
    ("  - units: 3\n  - {units: 3, name: dense}\n",
     ["m.yaml:4:22: layer 2: duplicate layer name 'dense' (layer 1 (Dense) has it as its automatic name)"]),
    # Given first, taken later: the third layer is the second unnamed Dense, `dense_1`.
    ("  - {units: 3, name: dense_1}\n  - units: 3\n  - units: 3\n",
     ["m.yaml:3:22: layer 1: duplicate layer name 'dense_1' (layer 3 (Dense) has it as its automatic name)"]),
    ("  - {type: Dropout, rate: 0.1}\n  - {units: 3, name: dropout}\n  - {units: 3, name: dense}\n  - units: 2\n",
     ["m.yaml:4:22: layer 2: duplicate layer name 'dropout' (layer 1 (Dropout) has it as its automatic name)",
      "m.yaml:5:22: layer 3: duplicate layer name 'dense' (layer 4 (Dense) has it as its automatic name)"]),
])
def test_an_explicit_name_equal_to_an_automatic_one_is_refused(write_spec, layers, expected):
    assert problems(write_spec, "input: [4]\nlayers:\n" + layers) == expected


def test_a_name_that_is_no_automatic_one_is_accepted():
    spec = loads_spec("input: [4]\nlayers:\n  - {units: 3, name: dense_1}\n  - units: 3\n"
                      "  - {units: 3, name: dense_2}\n")
    assert [layer.name for layer in build_model(spec).layers] == ["dense_1", "dense", "dense_2"]


def test_check_reading_keeps_a_spec_whose_only_problems_are_in_expect(write_spec):
    path = write_spec("input: [4]\nlayers:\n  - units: 3\nexpcet: 1\nexpect:\n  paramz: 5\n  params: 15\n"
                      "  macs: -1\n")
    spec, found = read_spec_for_check(path)
    assert spec is not None and spec.expect == {"params": 15}
    assert [str(error).replace(path, "m.yaml") for error in found] == [
        "m.yaml:4:1: unknown top-level key 'expcet'; did you mean 'expect'?",
        "m.yaml:6:3: unknown key 'paramz' in 'expect'; did you mean 'params'?",
        "m.yaml:8:9: 'expect.macs' must be a non-negative integer, got integer -1",
    ]
    # The strict reader still refuses it, with the same problems.
    with pytest.raises(LayerspecError) as caught:
        read_spec(path)
    assert [str(error) for error in flatten(caught.value)] == [str(error) for error in found]


def test_check_reading_gives_no_spec_when_a_layer_is_broken(write_spec):
    path = write_spec("input: [4]\nlayers:\n  - units: 0\nexpect:\n  paramz: 5\n")
    spec, found = read_spec_for_check(path)
    assert spec is None
    assert [error.position.line for error in found] == [3, 5]


def test_keras_training_options_are_named_as_unsupported(write_spec):
    text = "input: [4]\nlayers:\n  - units: 3\n    kernel_regularizer: l2\n  - {units: 2, input_shape: [4]}\n"
    assert problems(write_spec, text) == [
        "m.yaml:4:5: layer 1 'dense' (Dense): argument 'kernel_regularizer' is a Keras training option that "
        "layerspec does not support (it runs inference only)",
        "m.yaml:5:16: layer 2 'dense_1' (Dense): argument 'input_shape' is not used by layerspec: give the "
        "model's input once, as 'input: [...]'",
    ]
