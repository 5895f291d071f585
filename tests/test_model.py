"""Sequential: naming, shape inference, weights in and out, forward pass."""

import warnings

import numpy as np
import pytest

import layerspec
from layerspec.errors import DataError, LayerspecError, ShapeError, WeightsError
from layerspec.layers.base import Layer
from layerspec.layers.core import Dense, Dropout
from layerspec.layers.reshaping import Flatten
from layerspec.model import Sequential, auto_names


def small_model():
    return Sequential([Dense(4, activation="relu"), Dropout(0.1), Dense(2)], name="small", input_shape=(3,))


def test_auto_names():
    assert auto_names([(Dense, None), (Dense, None), (Dropout, None), (Dense, "dense_2"), (Dense, None)]) == [
        "dense", "dense_1", "dropout", "dense_2", "dense_3"]


def test_duplicate_explicit_names_are_refused():
    with pytest.raises(LayerspecError, match="layer 2 'a' \\(Dense\\): duplicate layer name 'a'"):
        Sequential([Dense(2, name="a"), Dense(2, name="a")])


def test_shapes_are_inferred_through_the_stack():
    model = small_model()
    model.build()
    assert model.shapes == [((None, 3), (None, 4)), ((None, 4), (None, 4)), ((None, 4), (None, 2))]
    assert model.output_shape == (None, 2)
    assert model.count_params() == 3 * 4 + 4 + 4 * 2 + 2


def test_shape_error_names_layer_position_name_and_type():
    model = Sequential([Flatten(), Dense(2)], input_shape=(None, 3))
    with pytest.raises(ShapeError) as caught:
        model.build()
    assert caught.value.message == "layer 2 'dense' (Dense): needs a known size on the last axis, got (None, None)"
    assert caught.value.layer_index == 1


def test_init_is_deterministic_per_seed_and_per_layer():
    a, b = small_model().init(seed=3), small_model().init(seed=3)
    for key, value in a.get_weights().items():
        np.testing.assert_array_equal(value, b.get_weights()[key])
    assert not np.array_equal(small_model().init(seed=4).get_weights()["dense/kernel"],
                              a.get_weights()["dense/kernel"])
    # Adding a layer in front does not change another layer's draw.
    longer = Sequential([Dense(3, name="pre"), Dense(4, activation="relu"), Dropout(0.1), Dense(2)],
                        input_shape=(3,)).init(seed=3)
    np.testing.assert_array_equal(longer.get_weights()["dense_1/kernel"], a.get_weights()["dense_1/kernel"])


def test_weights_round_trip_through_npz(tmp_path):
    model = small_model().init(seed=1)
    path = tmp_path / "w.npz"
    model.save_weights(str(path))
    with np.load(path) as stored:
        assert sorted(stored.files) == ["dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel"]
        assert stored["dense/kernel"].shape == (3, 4) and stored["dense/kernel"].dtype == np.float32
    other = small_model()
    other.load_weights(str(path))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_array_equal(model(x), other(x))


def test_set_weights_errors_name_the_key_and_shapes():
    model = small_model()
    weights = small_model().init(0).get_weights()
    missing = {k: v for k, v in weights.items() if k != "dense/bias"}
    with pytest.raises(WeightsError, match=r"w.npz: missing weight 'dense/bias' \(expected shape \(4,\)\)"):
        model.set_weights(missing, source="w.npz")
    with pytest.raises(WeightsError, match=r"w.npz: unexpected weight 'extra/kernel' with shape \(2,\)"):
        model.set_weights({**weights, "extra/kernel": np.zeros(2)}, source="w.npz")
    transposed = {**weights, "dense/kernel": weights["dense/kernel"].T}
    with pytest.raises(WeightsError, match=r"w.npz: weight 'dense/kernel' has shape \(4, 3\), expected \(3, 4\)"):
        model.set_weights(transposed, source="w.npz")


def test_forward_pass_equals_plain_numpy_and_batches_agree():
    model = small_model().init(seed=2)
    w = model.get_weights()
    x = np.random.default_rng(1).standard_normal((7, 3)).astype(np.float32)
    expected = np.maximum(x @ w["dense/kernel"] + w["dense/bias"], 0) @ w["dense_1/kernel"] + w["dense_1/bias"]
    # Float32 sums of 3 and 4 products of O(1) values: BLAS may order them
    # another way for another batch size (or kernel), ~1e-7 absolute; atol
    # covers outputs near 0, where rtol alone would ask for near bit equality.
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=3), model.predict(x), rtol=1e-5, atol=1e-6)
    assert model.predict(x).dtype == np.float32


def test_single_sample_is_batched_and_unbatched():
    model = small_model().init(seed=2)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(model.predict(x[0]), model.predict(x[:1])[0])  # the same 1-row product
    # A 1-row and a 2-row product may be summed in another order: float32 precision.
    np.testing.assert_allclose(model.predict(x[0]), model.predict(x)[0], rtol=1e-5, atol=1e-6)


def test_zero_rows_give_zero_rows():
    model = small_model().init(seed=2)
    assert model.predict(np.zeros((0, 3), np.float32)).shape == (0, 2)


def test_wrong_input_shape_is_a_data_error():
    with pytest.raises(DataError, match=r"input has shape \(2, 4\), expected \(batch, 3\)"):
        small_model().init(0).predict(np.zeros((2, 4), np.float32))


def test_model_without_input_shape_builds_on_first_call():
    model = layerspec.Sequential([Dense(5), Dense(2)])
    out = model(np.zeros((4, 7), np.float32))
    assert out.shape == (4, 2) and model.input_shape == (7,)
    assert model.layers[0].kernel.shape == (7, 5)


def test_float64_model_stays_float64():
    model = Sequential([Dense(2)], input_shape=(3,), dtype="float64").init(0)
    assert model.get_weights()["dense/kernel"].dtype == np.float64
    assert model(np.ones((1, 3), np.float32)).dtype == np.float64


# -- the direct path: a ready batch goes straight to the layers ------------
def ready_model():
    model = small_model().init(seed=2)
    model.predict(np.zeros((1, 3), np.float32))  # weights checked once: later ready batches go directly
    return model


def general_path_result(model, x):
    """The general path's result, forced by passing ``on_batch``."""
    return model.predict(x, on_batch=lambda rows: None)


def test_direct_path_is_taken_only_once_weights_are_ready():
    model = small_model()
    assert model._direct_input is None
    model.predict(np.zeros((1, 3), np.float32))  # initialises the weights, as Keras does
    assert model._direct_input == ((3,), np.dtype("float32"))


@pytest.mark.parametrize("make_input", [
    lambda x: x,  # ready: direct
    lambda x: np.asfortranarray(x),  # not C-ordered
    lambda x: x.astype(np.float64),  # another dtype
    lambda x: x.tolist(),  # not an array
    lambda x: x[0],  # one sample without a batch axis (compared row-wise below)
], ids=["ready", "fortran", "float64", "list", "single"])
def test_every_input_form_gives_the_general_paths_values(make_input):
    model = ready_model()
    x = np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32)
    given = make_input(x)
    # The single sample is compared with the general path on the same one
    # row (the same shapes, so bit for bit): a 5-row product may round differently.
    rows = x[:1] if np.ndim(given) == 1 else x
    expected = general_path_result(model, rows)
    got = model.predict(given)
    np.testing.assert_array_equal(got, expected[0] if np.ndim(given) == 1 else expected)


@pytest.mark.parametrize("make_input, call, direct", [
    (lambda x: x, {}, True),
    (lambda x: x[1:4], {}, True),  # a C-ordered slice
    (lambda x: x, {"batch_size": 5}, True),
    (lambda x: x, {"batch_size": 2}, False),
    (lambda x: x, {"out": np.empty((5, 2), np.float32)}, False),
    (lambda x: np.asfortranarray(x), {}, False),
    (lambda x: x[:, ::-1], {}, False),
    (lambda x: x.astype(np.float64), {}, False),
    (lambda x: x.tolist(), {}, False),
    (lambda x: x[0], {}, False),
    (lambda x: x[:0], {}, False),
], ids=["ready", "slice", "one-batch", "batches", "out", "fortran", "reversed", "float64", "list", "single", "empty"])
def test_only_ready_batches_take_the_direct_path(monkeypatch, make_input, call, direct):
    model = ready_model()
    taken = []
    original = model._forward_direct
    monkeypatch.setattr(model, "_forward_direct", lambda *args: taken.append(True) or original(*args))
    model.predict(make_input(np.ones((5, 3), np.float32)), **call)
    assert bool(taken) == direct


def test_direct_path_honours_batch_size_and_out():
    model = ready_model()
    x = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    out = np.full((5, 2), np.nan, np.float32)
    assert model.predict(x, out=out) is out
    np.testing.assert_array_equal(out, model.predict(x))  # one batch of 5 rows either way
    # Batches of 2, 2 and 1 rows: bit for bit what those batches give alone,
    # but only float32-close to one 5-row batch (BLAS may sum in another order).
    by_twos = model.predict(x, batch_size=2)
    np.testing.assert_array_equal(by_twos, np.concatenate([model.predict(x[i:i + 2]) for i in (0, 2, 4)]))
    np.testing.assert_allclose(by_twos, out, rtol=1e-5, atol=1e-6)
    seen = []
    model.predict(x, batch_size=2, on_batch=seen.append)
    assert seen == [2, 2, 1]


def test_check_finite_inputs_applies_after_the_direct_path_was_taken():
    model = ready_model()
    x = np.zeros((3, 3), np.float32)
    x[2, 1] = np.nan
    assert np.isnan(model.predict(x)).any()  # NaN flows through by default, as in Keras
    model.check_finite_inputs = True
    with pytest.raises(DataError, match=r"^input: non-finite value nan at index \(2, 1\)"):
        model.predict(x)


def test_wrong_shapes_still_fail_after_the_direct_path_was_taken():
    with pytest.raises(DataError, match=r"input has shape \(2, 4\), expected \(batch, 3\)"):
        ready_model().predict(np.zeros((2, 4), np.float32))


def test_overflow_is_silent_on_both_paths():
    model = ready_model()
    x = np.full((2, 3), 3e38, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        direct = model.predict(x)
        general = general_path_result(model, x)
    np.testing.assert_array_equal(direct, general)
    assert not np.isfinite(direct).all()


class Failing(Layer):
    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, inputs):
        raise ZeroDivisionError("the layer's own bug")


def test_a_user_layers_failure_is_a_data_error_on_both_paths():
    model = Sequential([Failing()], input_shape=(3,))
    x = np.zeros((2, 3), np.float32)
    message = r"data.npy: the forward pass failed on a batch of shape \(2, 3\): ZeroDivisionError: the layer's own bug"
    for _ in range(2):  # the first call takes the general path, the second the direct one
        with pytest.raises(DataError, match=message):
            model.predict(x, source="data.npy")
    assert model._direct_input is not None


# -- names as Keras gives them; get_config; summary() printing ------------------
def test_an_explicit_name_equal_to_an_automatic_one_is_refused_as_in_keras():
    # Keras 3's Sequential.add: "All layers added to a Sequential model should have unique names".
    from layerspec.naming import name_clashes

    assert name_clashes([(Dense, None), (Dense, "dense")]) == [(1, 0)]
    assert name_clashes([(Dense, "dense_1"), (Dense, None), (Dropout, "dense_2"), (Dense, None)]) == [(0, 3)]
    assert name_clashes([(Dense, "dense_2"), (Dense, None), (Dropout, None)]) == []
    with pytest.raises(LayerspecError) as caught:
        Sequential([Dense(3), Dense(2, name="dense")])
    assert caught.value.message == ("layer 2 'dense' (Dense): duplicate layer name 'dense' (layer 1 (Dense) has it "
                                    "as its automatic name)")
    assert (caught.value.layer_index, caught.value.argument) == (1, "name")
    model = Sequential([Dense(3)])
    with pytest.raises(LayerspecError, match="duplicate layer name 'dense'"):
        model.add(Dense(2, name="dense"))
    assert [layer.name for layer in model.layers] == ["dense"]  # the refused layer is not left behind


def test_get_config_records_every_constructor_argument_once_for_all_layers():
    from layerspec.layers.conv import Conv2D

    conv = Conv2D(4, 3, padding="SAME", name="stem", trainable=False)
    assert conv.get_config() == {
        "name": "stem", "trainable": False, "filters": 4, "kernel_size": (3, 3), "strides": (1, 1),
        "padding": "same", "data_format": None, "dilation_rate": (1, 1), "groups": 1, "activation": None,
        "use_bias": True, "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}
    assert Conv2D(**conv.get_config()).get_config() == conv.get_config()
    model = Sequential([Dense(2), Dense(3, activation="relu")])
    assert [layer.get_config()["name"] for layer in model.layers] == ["dense", "dense_1"]  # the automatic name
    assert model.layers[1].get_config() == {
        "name": "dense_1", "trainable": True, "units": 3, "activation": "relu", "use_bias": True,
        "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}


def test_get_config_of_a_users_layer_needs_no_code_of_its_own():
    class Scale(Layer):
        def __init__(self, factor, offset=0.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

    class DoubleScale(Scale):
        def __init__(self, **kwargs):
            super().__init__(2.0, offset=1.0, **kwargs)

    class Plain(Layer):
        def call(self, inputs):
            return inputs

    assert Scale(3, name="s").get_config() == {"name": "s", "trainable": True, "factor": 3, "offset": 0.0}
    # The arguments the user wrote are kept, not those the subclass passed on to its parent.
    assert DoubleScale(trainable=False).get_config() == {"name": "double_scale", "trainable": False}
    assert Plain().get_config() == {"name": "plain", "trainable": True}


SUMMARY_SCRIPT = """
import layerspec
model = layerspec.loads("name: tiny\\ninput: [3]\\nlayers:\\n  - units: 2\\n")
{}
"""


@pytest.mark.parametrize("statement, tables", [
    ("model.summary()", 1),  # as in Keras: prints the table, returns None
    ("print(model.summary_data())", 1),  # the data prints as the table
    ("data = model.summary_data()", 0),  # kept as data: nothing printed
    ("total = model.summary_data()['total_params']", 0),
    ("model.summary(print_fn=lambda text: print(text.upper()))", 1),
])
def test_summary_prints_the_table_when_called_as_a_statement(statement, tables, tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    script = tmp_path / "script.py"
    script.write_text(SUMMARY_SCRIPT.format(statement))
    import os

    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"})
    assert result.stdout.upper().count('MODEL: "TINY"') == tables
    if tables:
        assert result.stdout.upper().splitlines()[-1] == " ACTIVATIONS: 8.00 B PER SAMPLE"
