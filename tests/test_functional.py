"""The functional API (layerspec/functional.py): ``layerspec.Input``, layers
called on symbolic tensors, ``layerspec.Model(inputs, outputs)``."""

import numpy as np
import pytest

import layerspec
from layerspec.errors import LayerspecError, ShapeError
from layerspec.functional import SymbolicTensor
from layerspec.layers import Add, Concatenate, Conv2D, Dense, Dropout


def relu(x):
    return np.maximum(x, 0)


# -- Input and symbolic calls -----------------------------------------------------
def test_input_is_a_symbolic_tensor_with_a_batch_axis():
    x = layerspec.Input((28, 28, 1), name="pixels")
    assert isinstance(x, SymbolicTensor)
    assert (x.shape, x.dtype, x.name) == ((None, 28, 28, 1), None, "pixels")
    assert repr(x) == "<SymbolicTensor shape=(None, 28, 28, 1) from 'pixels'>"


def test_input_keeps_unknown_sizes_and_its_dtype():
    ids = layerspec.Input([None], name="ids", dtype="int32")
    assert (ids.shape, ids.dtype) == ((None, None), "int32")


@pytest.mark.parametrize("shape, message", [
    ((0,), "Input: sizes must be positive, got (0,)"),
    (("a",), "Input: shape must be a tuple of sizes, got ('a',)"),
    (5, "Input: shape must be a tuple of sizes, got 5"),
])
def test_input_refuses_a_bad_shape(shape, message):
    with pytest.raises(LayerspecError) as caught:
        layerspec.Input(shape)
    assert caught.value.message == message


@pytest.mark.parametrize("name", ["", "a/b", 3])
def test_input_refuses_a_bad_name(name):
    with pytest.raises(LayerspecError) as caught:
        layerspec.Input((3,), name=name)
    assert caught.value.message == f"Input: name must be a non-empty string without '/', got {name!r}"


def test_a_layer_called_on_a_symbolic_tensor_infers_the_shape():
    x = layerspec.Input((28, 28, 1))
    y = Conv2D(8, 3, padding="same")(x)
    z = Dense(4)(y)
    assert isinstance(y, SymbolicTensor) and y.shape == (None, 28, 28, 8)
    assert z.shape == (None, 28, 28, 4)


def test_a_merge_takes_a_list_of_symbolic_tensors():
    a, b = layerspec.Input((4, 3)), layerspec.Input((4, 5))
    assert Concatenate()([a, b]).shape == (None, 4, 8)


def test_a_misfit_is_reported_at_the_call_naming_the_layer():
    x = layerspec.Input((28, 28, 1))
    with pytest.raises(ShapeError) as caught:
        Conv2D(4, 30, name="big")(x)
    assert caught.value.message == ("layer 'big' (Conv2D): kernel_size (30, 30) is larger than its input (28, 28) "
                                    "with padding 'valid'")


def test_a_single_input_layer_refuses_several_symbolic_tensors():
    a, b = layerspec.Input((4,)), layerspec.Input((4,))
    with pytest.raises(ShapeError) as caught:
        Dense(3, name="d")([a, b])
    assert caught.value.message == "layer 'd' (Dense) takes one input, got 2"


def test_mixing_arrays_and_symbolic_tensors_is_an_error():
    a = layerspec.Input((4,))
    with pytest.raises(LayerspecError) as caught:
        Add(name="sum")([a, np.zeros((1, 4))])
    assert caught.value.message == "layer 'sum' (Add): cannot mix symbolic tensors and arrays in one call"


def test_layers_still_compute_on_arrays():
    layer = Dense(2, kernel_initializer="ones")
    np.testing.assert_array_equal(layer(np.ones((1, 3), np.float32)), [[3.0, 3.0]])


# -- building a Model -----------------------------------------------------------------
def two_input_model(outputs_as="list"):
    """Inputs a and b through one shared Dense, added, then two heads."""
    a, b = layerspec.Input((4,), name="a"), layerspec.Input((4,), name="b")
    shared = Dense(3, activation="relu", name="shared")
    joined = Add()([shared(a), shared(b)])
    first, second = Dense(2, name="first")(joined), Dense(1, name="second")(joined)
    if outputs_as == "dict":
        return layerspec.Model({"a": a, "b": b}, {"cls": first, "score": second})
    return layerspec.Model([a, b], [first, second])


def reference(model, a, b):
    w = model.get_weights()
    joined = relu(a @ w["shared/kernel"] + w["shared/bias"]) + relu(b @ w["shared/kernel"] + w["shared/bias"])
    return [joined @ w["first/kernel"] + w["first/bias"], joined @ w["second/kernel"] + w["second/bias"]]


def test_model_collects_the_nodes_between_inputs_and_outputs():
    model = two_input_model()
    assert model.input_names == ["a", "b"]
    assert model.output_names == ["first", "second"]
    assert [(item.name, item.sources) for item in model.nodes] == [
        ("shared", (0,)), ("shared_reuse", (1,)), ("add", (2, 3)), ("first", (4,)), ("second", (4,))]
    assert [layer.name for layer in model.layers] == ["shared", "add", "first", "second"]


def test_model_leaves_out_layers_the_outputs_do_not_need():
    x = layerspec.Input((4,))
    hidden = Dense(3, name="hidden")(x)
    Dense(9, name="unused")(hidden)
    model = layerspec.Model(x, Dense(1, name="out")(hidden))
    assert [item.name for item in model.nodes] == ["hidden", "out"]


def test_unnamed_inputs_take_dict_keys_else_numbered_names():
    a, b = layerspec.Input((2,)), layerspec.Input((2,))
    assert layerspec.Model({"left": a, "right": b}, Add()([a, b])).input_names == ["left", "right"]
    c, d = layerspec.Input((2,)), layerspec.Input((2,))
    assert layerspec.Model([c, d], Add()([c, d])).input_names == ["input", "input_1"]


def test_a_graph_disconnected_from_the_inputs_is_an_error():
    a, b = layerspec.Input((4,), name="a"), layerspec.Input((4,), name="b")
    out = Dense(2)(Add()([a, b]))
    with pytest.raises(LayerspecError) as caught:
        layerspec.Model(a, out)
    assert caught.value.message == ("the outputs depend on an Input 'b' that is not among the model's inputs "
                                    "(graph disconnected)")


@pytest.mark.parametrize("make, message", [
    (lambda x: (None, None), "Model needs inputs and outputs (symbolic tensors from layerspec.Input)"),
    (lambda x: (x, np.zeros(3)), "Model outputs must be symbolic tensors (one, a list or a dict), got ndarray"),
    (lambda x: (np.zeros(3), x), "Model inputs must be symbolic tensors (one, a list or a dict), got ndarray"),
    (lambda x: (x, []), "Model outputs must be a non-empty collection of symbolic tensors"),
    (lambda x: (x, [x, np.zeros(3)]), "Model outputs must be a non-empty collection of symbolic tensors"),
], ids=["nothing", "array-outputs", "array-inputs", "no-outputs", "mixed-outputs"])
def test_model_refuses_what_is_not_symbolic(make, message):
    with pytest.raises(LayerspecError) as caught:
        layerspec.Model(*make(layerspec.Input((4,))))
    assert caught.value.message == message


def test_model_inputs_must_come_from_input():
    x = layerspec.Input((4,))
    hidden = Dense(3)(x)
    with pytest.raises(LayerspecError) as caught:
        layerspec.Model(hidden, Dense(1)(hidden))
    assert caught.value.message == "Model inputs must be tensors made by layerspec.Input"


# -- predict ------------------------------------------------------------------------
@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal((5, 4)).astype(np.float32)


def test_predict_with_a_list_answers_with_a_list(batch):
    model = two_input_model().init(seed=0)
    a, b = batch
    result = model.predict([a, b])
    assert isinstance(result, list) and [array.shape for array in result] == [(5, 2), (5, 1)]
    for got, want in zip(result, reference(model, a, b)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_predict_with_a_dict_by_input_name(batch):
    model = two_input_model().init(seed=0)
    a, b = batch
    by_dict = model.predict({"b": b, "a": a})
    for got, want in zip(by_dict, model.predict([a, b])):
        np.testing.assert_array_equal(got, want)


def test_outputs_given_as_a_dict_answer_as_a_dict(batch):
    model = two_input_model("dict").init(seed=0)
    a, b = batch
    result = model.predict({"a": a, "b": b})
    assert list(result) == ["cls", "score"]
    for got, want in zip(result.values(), reference(model, a, b)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_one_output_given_as_a_tensor_answers_with_an_array():
    x = layerspec.Input((4,))
    model = layerspec.Model(x, Dense(2)(x)).init(seed=0)
    assert model.predict(np.zeros((3, 4), np.float32)).shape == (3, 2)


def test_predict_on_single_samples_drops_the_batch_axis(batch):
    model = two_input_model().init(seed=0)
    a, b = batch
    single = model.predict([a[1], b[1]])
    assert [array.shape for array in single] == [(2,), (1,)]
    for got, whole in zip(single, model.predict([a, b])):
        np.testing.assert_allclose(got, whole[1], rtol=1e-6, atol=1e-7)


def test_predict_in_steps_equals_predict_at_once(batch):
    model = two_input_model().init(seed=0)
    for stepped, whole in zip(model.predict(list(batch), batch_size=2), model.predict(list(batch))):
        np.testing.assert_allclose(stepped, whole, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("given, message", [
    ("one", "the model takes 2 inputs (a, b): give a list or a dict"),
    ("three", "the model takes 2 inputs (a, b): give a list or a dict"),
    ("unknown", "no model input named 'c' (inputs: a, b)"),
    ("missing", "missing input 'b' (the model's inputs: a, b)"),
    ("rows", "the inputs have different numbers of rows (input 'a': 5, input 'b': 4)"),
])
def test_predict_names_what_is_wrong_with_the_inputs(batch, given, message):
    model = two_input_model().init(seed=0)
    a, b = batch
    inputs = {"one": a, "three": [a, b, b], "unknown": {"a": a, "b": b, "c": b}, "missing": {"a": a},
              "rows": [a, b[:4]]}[given]
    with pytest.raises(LayerspecError) as caught:
        model.predict(inputs)
    assert caught.value.message == message


# -- a layer called twice ------------------------------------------------------------
def test_a_shared_layer_has_one_set_of_weights():
    model = two_input_model().init(seed=0)
    assert list(model.get_weights()) == ["shared/kernel", "shared/bias", "first/kernel", "first/bias",
                                         "second/kernel", "second/bias"]
    assert model.nodes[0].layer is model.nodes[1].layer
    assert model.nodes[1].reuses is model.nodes[0]


def test_a_shared_layer_counts_its_params_once_and_its_macs_per_application():
    model = two_input_model()
    assert model.count_params() == (4 * 3 + 3) + (3 * 2 + 2) + (3 * 1 + 1)
    rows = {row["name"]: row for row in model.summary_data()["layers"]}
    assert (rows["shared"]["params"], rows["shared"]["macs"]) == (15, 12)
    assert (rows["shared_reuse"]["params"], rows["shared_reuse"]["macs"], rows["shared_reuse"]["reuses"]) == (
        0, 12, "shared")
    assert model.summary_data()["total_macs"] == 12 + 12 + 0 + 6 + 3


def test_a_shared_layer_computes_with_the_same_weights(batch):
    model = two_input_model().init(seed=0)
    a, _ = batch
    # The same input on both sides: the sum is twice one branch.
    first, _ = model.predict([a, a])
    w = model.get_weights()
    branch = relu(a @ w["shared/kernel"] + w["shared/bias"])
    np.testing.assert_allclose(first, 2 * branch @ w["first/kernel"] + w["first/bias"], rtol=1e-5, atol=1e-6)


def test_setting_the_shared_weights_changes_both_applications(batch):
    model = two_input_model().init(seed=0)
    weights = model.get_weights()
    weights["shared/kernel"] = np.zeros_like(weights["shared/kernel"])
    weights["shared/bias"] = np.ones_like(weights["shared/bias"])
    model.set_weights(weights)
    first, _ = model.predict(list(batch))
    np.testing.assert_allclose(first, np.tile(2 * np.ones(3) @ weights["first/kernel"] + weights["first/bias"],
                                              (5, 1)), rtol=1e-6)


def test_a_layer_called_three_times_names_each_application():
    x, y, z = (layerspec.Input((2,), name=name) for name in "xyz")
    shared = Dense(2, name="enc")
    model = layerspec.Model([x, y, z], Add()([shared(x), shared(y), shared(z)]))
    assert [item.name for item in model.nodes] == ["enc", "enc_reuse", "enc_reuse_1", "add"]


@pytest.mark.parametrize("build", [
    lambda x: layerspec.Model(x, Dense(2)(Dense(3, name="dense")(x))),
    lambda x: layerspec.Sequential([Dense(3, name="dense"), Dense(2)]),
], ids=["Model", "Sequential"])
def test_a_name_that_is_another_layers_automatic_one_is_refused_naming_both(build):
    # Keras names the unnamed Dense 'dense' too, and refuses the model.
    with pytest.raises(LayerspecError) as caught:
        build(layerspec.Input((4,)))
    assert caught.value.message == ("layer 1 'dense' (Dense): duplicate layer name 'dense' (layer 2 (Dense) has it "
                                    "as its automatic name)")


def test_a_shared_layer_refuses_an_input_of_another_shape_at_the_call():
    # As Keras does: the second call does not fit the weights built by the first.
    a, b = layerspec.Input((4,)), layerspec.Input((6,))
    shared = Dense(3, name="enc")
    shared(a)
    with pytest.raises(ShapeError) as caught:
        shared(b)
    assert caught.value.message == ("layer 'enc' (Dense): 'enc' is built for input (None, 4); applied again to "
                                    "(None, 6), its weights would not fit")


# -- Sequential is unchanged ---------------------------------------------------------
def test_sequential_is_still_a_plain_stack():
    model = layerspec.Sequential([Dense(3), Dropout(0.5), Dense(2)], input_shape=(4,))
    model.build()
    assert not model.is_graph
    assert model.input_names == ["input"] and model.output_names == ["dense_1"]
    assert [item.sources for item in model.nodes] == [(0,), (1,), (2,)]
    text = str(model.summary_data())
    assert "InputLayer" not in text and "Connected to" not in text
    assert model.to_yaml() == ("name: sequential\ninput: [4]\nlayers:\n  - {type: Dense, units: 3}\n"
                               "  - {type: Dropout, rate: 0.5}\n  - {type: Dense, units: 2}\n")


def test_sequential_refuses_a_merge():
    with pytest.raises(LayerspecError) as caught:
        layerspec.Sequential([Dense(3), Add()])
    assert caught.value.message == ("layer 2 (Add) takes a list of inputs; a Sequential stack gives each layer "
                                    "only the one above: use layerspec.Model")


def test_sequential_add_still_builds_on_first_use():
    model = layerspec.Sequential()
    model.add(Dense(3))
    model.add(Dense(1))
    result = model.predict(np.ones((2, 5), np.float32))
    assert result.shape == (2, 1) and model.input_shape == (5,)


def test_an_input_no_output_depends_on_is_refused_as_in_specs():
    a, b = layerspec.Input((3,), name="a"), layerspec.Input((3,), name="b")
    with pytest.raises(LayerspecError) as caught:
        layerspec.Model([a, b], Dense(2)(a))
    assert caught.value.message == "model input 'b' reaches no model output: no layer reads it"
