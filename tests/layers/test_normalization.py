"""BatchNormalization and LayerNormalization: weights, values against plain loops."""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, ShapeError, WeightsError
from layerspec.layers.normalization import SMALLEST_EPSILON, BatchNormalization, LayerNormalization
from layerspec.model import Sequential
from layerspec.spec import build_model, loads_spec


def positions(shape):
    """Every index of an array of ``shape``, in row-major order."""
    return itertools.product(*(range(size) for size in shape))


def batch_norm_reference(x, axis, gamma, beta, mean, variance, epsilon):
    """Plain loops: y = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c], c = index on ``axis``."""
    out = np.zeros(x.shape)
    for index in positions(x.shape):
        c = index[axis]
        normalised = (float(x[index]) - float(mean[c])) / np.sqrt(float(variance[c]) + epsilon)
        scale = 1.0 if gamma is None else float(gamma[c])
        out[index] = normalised * scale + (0.0 if beta is None else float(beta[c]))
    return out


def layer_norm_reference(x, axes, gamma, beta, epsilon):
    """Plain loops over each group of values sharing the indices off ``axes``."""
    kept = [a for a in range(x.ndim) if a not in axes]
    out = np.zeros(x.shape)
    for outer in positions([x.shape[a] for a in kept]):
        group = []
        for inner in positions([x.shape[a] for a in axes]):
            index = [0] * x.ndim
            for a, i in zip(kept, outer):
                index[a] = i
            for a, i in zip(axes, inner):
                index[a] = i
            group.append((tuple(index), inner))
        values = [float(x[index]) for index, _ in group]
        # An exact mean and exactly rounded sums keep the reference exact far from zero.
        mean = sum(Fraction(v) for v in values) / len(values)
        deviations = [float(Fraction(v) - mean) for v in values]
        variance = math.fsum(d * d for d in deviations) / len(values)
        for (index, inner), deviation in zip(group, deviations):
            y = deviation / np.sqrt(variance + epsilon)
            scale = 1.0 if gamma is None else float(gamma[inner])
            out[index] = y * scale + (0.0 if beta is None else float(beta[inner]))
    return out


def assign_random(layer, rng, positive=()):
    for weight in layer.weights:
        values = rng.standard_normal(weight.shape)
        if weight.name in positive:
            values = np.abs(values) + 0.1
        weight.assign(values.astype(weight.dtype))


# -- BatchNormalization -----------------------------------------------------
def test_batch_norm_weights_in_keras_order_and_param_counts():
    model = Sequential([BatchNormalization()], input_shape=(8, 8, 16)).init(seed=0)
    weights = model.get_weights()
    assert [(key, array.shape) for key, array in weights.items()] == [
        ("batch_normalization/gamma", (16,)), ("batch_normalization/beta", (16,)),
        ("batch_normalization/moving_mean", (16,)), ("batch_normalization/moving_variance", (16,))]
    np.testing.assert_array_equal(weights["batch_normalization/gamma"], np.ones(16))
    np.testing.assert_array_equal(weights["batch_normalization/moving_variance"], np.ones(16))
    np.testing.assert_array_equal(weights["batch_normalization/beta"], np.zeros(16))
    layer = model.layers[0]
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
    # Keras: 4 * channels params; gamma and beta trainable, moving statistics not.
    row = model.summary_data()["layers"][0]
    assert (row["params"], row["trainable_params"], row["non_trainable_params"]) == (64, 32, 32)
    assert row["macs"] == 8 * 8 * 16


def test_batch_norm_without_center_and_scale_keeps_only_moving_statistics():
    layer = BatchNormalization(center=False, scale=False)
    layer.build_for((None, 5))
    assert [(w.name, w.shape, w.trainable) for w in layer.weights] == [
        ("moving_mean", (5,), False), ("moving_variance", (5,), False)]
    assert layer.count_params() == 10


@pytest.mark.parametrize("shape, axis", [((4, 5), -1), ((3, 4, 5), -1), ((2, 3, 4, 5), -1), ((2, 3, 4, 5), 3),
                                         ((3, 4, 5), 1), ((2, 3, 4, 5), -3), ((2, 3, 4, 5), 2)])
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False), (False, False)])
def test_batch_norm_values_match_plain_loops(shape, axis, center, scale):
    rng = np.random.default_rng(1)
    layer = BatchNormalization(axis=axis, center=center, scale=scale, epsilon=0.01)
    layer.build_for((None,) + shape[1:])
    assign_random(layer, rng, positive=("moving_variance",))
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape == shape
    gamma = layer.gamma.value if scale else None
    beta = layer.beta.value if center else None
    expected = batch_norm_reference(x, axis % len(shape), gamma, beta, layer.moving_mean.value,
                                    layer.moving_variance.value, 0.01)
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=2e-6)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:]


def test_batch_norm_in_float64_model_stays_float64_and_matches_tightly():
    rng = np.random.default_rng(2)
    model = Sequential([BatchNormalization()], input_shape=(3, 4), dtype="float64").init(seed=0)
    assign_random(model.layers[0], rng, positive=("moving_variance",))
    x = rng.standard_normal((2, 3, 4))
    out = model.predict(x)
    layer = model.layers[0]
    assert out.dtype == np.float64
    expected = batch_norm_reference(x, 2, layer.gamma.value, layer.beta.value, layer.moving_mean.value,
                                    layer.moving_variance.value, 1e-3)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_batch_norm_macs():
    layer = BatchNormalization()
    layer.build_for((None, 10, 7))
    assert layer.count_macs((None, 10, 7)) == 70
    assert layer.count_macs((None, None, 7)) is None


@pytest.mark.parametrize("axis, shape, message", [
    (3, (None, 5, 4), "axis 3 is out of range for the input (None, 5, 4), which has 3 axes"),
    (-4, (None, 5, 4), "axis -4 is out of range for the input (None, 5, 4), which has 3 axes"),
    (0, (None, 5, 4), "axis 0 is the batch axis of the input (None, 5, 4); normalise a feature axis such as -1"),
    (-3, (None, 5, 4), "axis -3 is the batch axis of the input (None, 5, 4); normalise a feature axis such as -1"),
    (-1, (None,), "axis -1 is the batch axis of the input (None,); normalise a feature axis such as -1"),
    (-1, (None, 5, None), "needs a known size on axis 2 (axis -1), got (None, 5, None)"),
])
def test_batch_norm_axis_errors(axis, shape, message):
    layer = BatchNormalization(axis=axis)
    with pytest.raises(ShapeError) as caught:
        layer.build_for(shape)
    assert caught.value.message == message
    assert caught.value.argument == "axis"
    with pytest.raises(ShapeError):
        layer.compute_output_shape(shape)


@pytest.mark.parametrize("kwargs, message", [
    ({"momentum": 1.5}, "argument 'momentum' must be a number >= 0 and <= 1, got number 1.5"),
    ({"epsilon": 0}, "argument 'epsilon' must be a number >= 1.1754943508222875e-38 (float32's smallest normal number), got integer 0"),
    ({"axis": [1, 2]}, "argument 'axis' must be an integer, got a list"),
    ({"center": "yes"}, "argument 'center' must be true or false, got string 'yes'"),
    ({"gamma_initializer": "glorot_unifrom"},
     "argument 'gamma_initializer': unknown initializer 'glorot_unifrom'; did you mean 'glorot_uniform'?"),
    ({"beta_regularizer": None},
     "argument 'beta_regularizer' is a Keras training option that layerspec does not support (it runs inference only)"),
])
def test_batch_norm_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        BatchNormalization(**kwargs)
    assert caught.value.message == message


def test_batch_norm_refuses_a_negative_moving_variance():
    layer = BatchNormalization(name="bn")
    layer.build_for((None, 3))
    for weight in layer.weights:
        weight.assign(np.ones(3, np.float32))
    layer.moving_variance.assign(np.array([1.0, -2.0, 1.0], np.float32))
    with pytest.raises(WeightsError) as caught:
        layer(np.zeros((1, 3), np.float32))
    assert caught.value.message == "BatchNormalization 'bn': moving_variance[1] is -2.0; a variance cannot be negative"


def test_batch_norm_takes_a_negative_variance_that_epsilon_outweighs():
    # Keras computes 1 / sqrt(-1e-4 + 1e-3): no NaN, so no error either.
    layer = BatchNormalization(epsilon=1e-3)
    layer.build_for((None, 1))
    for weight in layer.weights:
        weight.assign(np.ones(1, np.float32))
    layer.moving_variance.assign(np.array([-1e-4], np.float32))
    np.testing.assert_allclose(layer(np.full((1, 1), 2.0, np.float32)), [[1 + 1 / math.sqrt(9e-4)]], rtol=1e-5)


def test_an_initializer_drawing_a_negative_variance_points_at_itself(cli, write_spec, tmp_path):
    spec = write_spec("""
        input: [3]
        layers:
          - type: BatchNormalization
            moving_variance_initializer: {type: constant, value: -0.5}
        """)
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    message = (f"{spec}:4:34: error: layer 1 'batch_normalization' (BatchNormalization): weight "
               "'moving_variance' as initialised: moving_variance[0] is -0.5; a variance cannot be negative\n")
    for command in (["run", spec, tmp_path / "x.npy"], ["init", spec, "-o", tmp_path / "w.npz"]):
        result = cli(*command)
        assert (result.exit_code, result.stderr) == (1, message)
    assert not (tmp_path / "w.npz").exists()


def test_loaded_weights_with_a_negative_variance_name_the_file_and_key(tmp_path):
    model = Sequential([BatchNormalization()], input_shape=(3,)).init(seed=0)
    before = model.get_weights()
    arrays = dict(before, **{"batch_normalization/moving_variance": np.array([1.0, 1.0, -3.0], np.float32)})
    with pytest.raises(WeightsError) as caught:
        model.set_weights(arrays, source="w.npz")
    assert caught.value.message == ("w.npz: weight 'batch_normalization/moving_variance': moving_variance[2] is "
                                    "-3.0; a variance cannot be negative")
    # Nothing was assigned: the model keeps its weights.
    for key, array in model.get_weights().items():
        np.testing.assert_array_equal(array, before[key])


@pytest.mark.parametrize("layer_class", [BatchNormalization, LayerNormalization])
def test_the_smallest_epsilon_keeps_a_constant_input_finite(layer_class):
    # 1e-46 is 0 in float32: a zero variance would then be divided by zero.
    with pytest.raises(ArgumentError, match="got number 1e-46"):
        layer_class(epsilon=1e-46)
    layer = layer_class(epsilon=SMALLEST_EPSILON)
    x = np.full((2, 4), 0.1, np.float32)
    layer.build_for(x.shape)
    for weight in layer.weights:
        weight.assign(np.zeros(4, np.float32) if "mean" in weight.name or "variance" in weight.name
                      or "beta" in weight.name else np.ones(4, np.float32))
    with np.errstate(all="raise"):
        out = layer(x)
    assert np.isfinite(out).all()


# -- LayerNormalization -----------------------------------------------------
def test_layer_norm_weights_and_param_counts():
    model = Sequential([LayerNormalization()], input_shape=(10, 64)).init(seed=0)
    assert {key: array.shape for key, array in model.get_weights().items()} == {
        "layer_normalization/gamma": (64,), "layer_normalization/beta": (64,)}
    # Keras: 2 * last_dim, all trainable.
    row = model.summary_data()["layers"][0]
    assert (row["params"], row["trainable_params"], row["non_trainable_params"]) == (128, 128, 0)
    assert row["macs"] == 3 * 10 * 64


@pytest.mark.parametrize("axis, shape", [([1, 2], (3, 4)), ([2, 1], (3, 4)), ([-3, -2], (3, 4)),
                                         # Keras 3.15 sorts the list as written: [-2, 1], so (4, 3).
                                         ([1, -2], (4, 3)), ([-2, 1], (4, 3))])
def test_layer_norm_weights_span_the_axes_as_keras_sorts_them(axis, shape):
    layer = LayerNormalization(axis=axis)
    layer.build_for((None, 3, 4, 5))
    assert [(w.name, w.shape) for w in layer.weights] == [("gamma", shape), ("beta", shape)]


def test_layer_norm_weights_span_listed_axes():
    layer = LayerNormalization(axis=[2, 1])
    layer.build_for((None, 2, 3))
    assert [(w.name, w.shape) for w in layer.weights] == [("gamma", (2, 3)), ("beta", (2, 3))]
    layer = LayerNormalization(axis=1, center=False)
    layer.build_for((None, 3, 4))
    assert [(w.name, w.shape) for w in layer.weights] == [("gamma", (3,))]
    layer = LayerNormalization(scale=False, center=False)
    layer.build_for((None, 3, 4))
    assert layer.weights == []


@pytest.mark.parametrize("shape, axis", [((4, 6), -1), ((3, 5, 6), -1), ((3, 5, 6), 2), ((3, 5, 6), 1),
                                         ((3, 5, 6), [1, 2]), ((2, 3, 4, 5), [-2, -1]), ((2, 3, 4, 5), [1, 3]),
                                         ((4, 2, 3), [2, 1]), ((4, 2, 3), [1, -1]), ((4, 2, 3), [-1, -2]),
                                         ((2, 3, 4, 5), [3, 1, 2])])
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False), (False, False)])
def test_layer_norm_values_match_plain_loops(shape, axis, center, scale):
    rng = np.random.default_rng(3)
    layer = LayerNormalization(axis=axis, center=center, scale=scale)
    layer.build_for((None,) + shape[1:])
    assign_random(layer, rng)
    x = (rng.standard_normal(shape) * 2 - 1).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape == shape
    # Keras lays the weights over the normalised axes in increasing order by
    # a reshape (for [1, -1] its (3, 2) weights become (2, 3) row by row).
    axes = sorted(a % len(shape) for a in (axis if isinstance(axis, list) else [axis]))
    sizes = tuple(shape[a] for a in axes)
    expected = layer_norm_reference(x, axes, layer.gamma.value.reshape(sizes) if scale else None,
                                    layer.beta.value.reshape(sizes) if center else None, 1e-3)
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=2e-5)


def test_layer_norm_loads_keras_weights_for_unsorted_axes(tmp_path):
    # Keras 3 shapes the weights of axis [2, 1] on a (2, 3) input (2, 3) and
    # refuses (3, 2); gamma[i, j] multiplies x[:, i, j].
    model = layerspec.loads("input: [2, 3]\nlayers:\n  - {type: LayerNormalization, axis: [2, 1], center: false}\n")
    gamma = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)
    model.set_weights({"layer_normalization/gamma": gamma})
    x = np.array([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]], np.float32)
    expected = layer_norm_reference(x, [1, 2], gamma, None, 1e-3)
    np.testing.assert_allclose(model.predict(x), expected, rtol=2e-5, atol=2e-5)
    with pytest.raises(layerspec.errors.LayerspecError, match=r"\(2, 3\)"):
        model.set_weights({"layer_normalization/gamma": gamma.reshape(3, 2)})


def test_layer_norm_keeps_precision_far_from_zero():
    # 1e4 + noise of size 1: E[x²] - E[x]² would subtract two numbers near 1e8,
    # whose float32 spacing (8) exceeds the variance (1) itself.
    rng = np.random.default_rng(4)
    x = (1e4 + rng.standard_normal((4, 3, 64))).astype(np.float32)
    layer = LayerNormalization(epsilon=1e-6)
    layer.build_for((None, 3, 64))
    layer.gamma.assign(np.ones(64, np.float32))
    layer.beta.assign(np.zeros(64, np.float32))
    out = layer(x)
    expected = layer_norm_reference(x, [2], None, None, 1e-6)
    assert out.dtype == np.float32
    # Tight: float32 rounding of the outputs, not of the offset (one centring
    # pass alone is off by 1e-3 here: the mean itself is rounded to 1e4's spacing).
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=2e-6)
    # The cancelling formula is far off on the same data: the test has teeth.
    naive_variance = np.mean(x * x, axis=-1, keepdims=True) - np.mean(x, axis=-1, keepdims=True) ** 2
    reference_variance = np.var(x.astype(np.float64), axis=-1, keepdims=True)
    assert np.max(np.abs(naive_variance - reference_variance)) > 0.5


def test_layer_norm_large_offset_in_float64():
    rng = np.random.default_rng(5)
    x = 1e8 + rng.standard_normal((2, 16)) * 1e-3
    model = Sequential([LayerNormalization(epsilon=1e-12)], input_shape=(16,), dtype="float64").init(seed=0)
    out = model.predict(x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, layer_norm_reference(x, [1], None, None, 1e-12), rtol=1e-12, atol=1e-12)


def test_layer_norm_accepts_unknown_sizes_off_the_normalised_axes():
    layer = LayerNormalization()
    layer.build_for((None, None, 4))
    assert layer.compute_output_shape((None, None, 4)) == (None, None, 4)
    assert layer.count_macs((None, None, 4)) is None
    assert layer.count_macs((None, 7, 4)) == 84


@pytest.mark.parametrize("axis, shape, message", [
    (3, (None, 5, 4), "axis 3 is out of range for the input (None, 5, 4), which has 3 axes"),
    ([1, 3], (None, 5, 4), "axis 3 is out of range for the input (None, 5, 4), which has 3 axes"),
    (0, (None, 5, 4), "axis 0 is the batch axis of the input (None, 5, 4); normalise a feature axis such as -1"),
    ([2, -1], (None, 5, 4), "axis [2, -1] names axis 2 of the input (None, 5, 4) twice"),
    (1, (None, None, 4), "needs a known size on axis 1 (axis 1), got (None, None, 4)"),
    ([1, 2], (None, None, 4), "needs a known size on axis 1 (axis [1, 2]), got (None, None, 4)"),
])
def test_layer_norm_axis_errors(axis, shape, message):
    with pytest.raises(ShapeError) as caught:
        LayerNormalization(axis=axis).build_for(shape)
    assert caught.value.message == message
    assert caught.value.argument == "axis"


@pytest.mark.parametrize("kwargs, message", [
    ({"rms_scaling": True},
     "argument 'rms_scaling': only false is supported by layerspec (Keras's RMS scaling is not implemented)"),
    ({"axis": "last"}, "argument 'axis' must be an integer or a non-empty list of integers, got string 'last'"),
    ({"axis": []}, "argument 'axis' must be an integer or a non-empty list of integers, got a list"),
    ({"axis": [1, 2.0]}, "argument 'axis' must be an integer or a non-empty list of integers, got a list"),
    ({"axis": True}, "argument 'axis' must be an integer or a non-empty list of integers, got boolean true"),
    ({"epsilon": -1e-3}, "argument 'epsilon' must be a number >= 1.1754943508222875e-38 (float32's smallest normal number), got number -0.001"),
    ({"scale": 0}, "argument 'scale' must be true or false, got integer 0"),
])
def test_layer_norm_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        LayerNormalization(**kwargs)
    assert caught.value.message == message


# -- through a spec -----------------------------------------------------------
def test_normalization_layers_in_a_yaml_spec():
    model = layerspec.loads("""
input: [6, 8]
layers:
  - {type: BatchNormalization}
  - {type: layer_normalization, center: false}
  - {units: 3}
""")
    assert [layer.name for layer in model.layers] == ["batch_normalization", "layer_normalization", "dense"]
    assert model.output_shape == (None, 6, 3)
    assert model.count_params() == 4 * 8 + 8 + (8 * 3 + 3)
    model.init(seed=0)
    x = np.random.default_rng(6).standard_normal((2, 6, 8)).astype(np.float32)
    out = model.predict(x)
    assert out.dtype == np.float32 and out.shape == (2, 6, 3)


def test_spec_points_at_a_bad_axis():
    spec = loads_spec("""input: [6, 8]
layers:
  - type: BatchNormalization
    axis: 3
""", path="norm.yaml")
    with pytest.raises(ShapeError) as caught:
        build_model(spec)
    assert str(caught.value) == ("norm.yaml:4:11: layer 1 'batch_normalization' (BatchNormalization): "
                                 "axis 3 is out of range for the input (None, 6, 8), which has 3 axes")


def test_spec_points_at_rms_scaling():
    spec = loads_spec("""input: [8]
layers:
  - type: LayerNormalization
    rms_scaling: true
""", path="norm.yaml")
    with pytest.raises(ArgumentError) as caught:
        build_model(spec)
    assert str(caught.value) == ("norm.yaml:4:18: layer 1 'layer_normalization' (LayerNormalization): "
                                 "argument 'rms_scaling': only false is supported by layerspec "
                                 "(Keras's RMS scaling is not implemented)")


# -- GroupNormalization -------------------------------------------------------
from layerspec.layers.normalization import (GroupNormalization, SpectralNormalization,  # noqa: E402
                                            UnitNormalization, unit_normalize)


def group_norm_reference(x, axis, groups, gamma, beta, epsilon):
    """Plain loops: for each sample and group, the mean and biased variance of
    every value whose channel (index on ``axis``) falls in the group."""
    x = np.asarray(x, np.float64)
    channels = x.shape[axis]
    size = channels // groups
    out = np.zeros(x.shape)
    for sample in range(x.shape[0]):
        for group in range(groups):
            members = [index for index in positions(x.shape)
                       if index[0] == sample and index[axis] // size == group]
            # An exact mean keeps the reference exact far from zero.
            mean = sum(Fraction(float(x[index])) for index in members) / len(members)
            deviations = [float(Fraction(float(x[index])) - mean) for index in members]
            variance = math.fsum(d * d for d in deviations) / len(members)
            for index, deviation in zip(members, deviations):
                c = index[axis]
                y = deviation / math.sqrt(variance + epsilon)
                out[index] = y * (1.0 if gamma is None else float(gamma[c])) + (0.0 if beta is None else float(beta[c]))
    return out


def test_group_norm_weights_in_keras_order_and_param_counts():
    model = Sequential([GroupNormalization(groups=4)], input_shape=(5, 8)).init(seed=0)
    weights = model.get_weights()
    assert [(key, array.shape) for key, array in weights.items()] == [
        ("group_normalization/gamma", (8,)), ("group_normalization/beta", (8,))]
    np.testing.assert_array_equal(weights["group_normalization/gamma"], np.ones(8))
    np.testing.assert_array_equal(weights["group_normalization/beta"], np.zeros(8))
    assert [w.name for w in model.layers[0].trainable_weights] == ["gamma", "beta"]
    row = model.summary_data()["layers"][0]
    assert (row["params"], row["trainable_params"], row["non_trainable_params"]) == (16, 16, 0)
    assert row["macs"] == 3 * 5 * 8
    layer = GroupNormalization(groups=2, center=False)
    layer.build_for((None, 4))
    assert [(w.name, w.shape) for w in layer.weights] == [("gamma", (4,))]
    layer = GroupNormalization(groups=2, scale=False)
    layer.build_for((None, 4))
    assert [(w.name, w.shape) for w in layer.weights] == [("beta", (4,))]


@pytest.mark.parametrize("shape, axis, groups", [
    ((3, 6), -1, 3), ((2, 5, 6), -1, 2), ((2, 4, 6), -1, 1), ((2, 4, 6), -1, 6), ((2, 4, 6), -1, -1),
    ((2, 3, 4, 6), -1, 3), ((2, 6, 3, 4), 1, 2), ((2, 3, 6, 4), -2, 3), ((2, 3, 4, 6), 3, 2)])
@pytest.mark.parametrize("center, scale", [(True, True), (False, False), (True, False)])
def test_group_norm_values_match_plain_loops(shape, axis, groups, center, scale):
    rng = np.random.default_rng(7)
    layer = GroupNormalization(groups=groups, axis=axis, center=center, scale=scale, epsilon=0.01)
    layer.build_for((None,) + shape[1:])
    assign_random(layer, rng)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape == shape
    count = shape[axis] if groups == -1 else groups
    expected = group_norm_reference(x, axis % len(shape), count, layer.gamma.value if scale else None,
                                    layer.beta.value if center else None, 0.01)
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=2e-6)


def test_group_norm_float64_and_far_from_zero():
    rng = np.random.default_rng(8)
    x = 1e8 + rng.standard_normal((2, 5, 4)) * 1e-3
    model = Sequential([GroupNormalization(groups=2, epsilon=1e-12)], input_shape=(5, 4), dtype="float64").init(seed=0)
    out = model.predict(x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, group_norm_reference(x, 2, 2, None, None, 1e-12), rtol=1e-9, atol=1e-9)
    x32 = (1e4 + rng.standard_normal((2, 6, 4))).astype(np.float32)
    layer = GroupNormalization(groups=2, epsilon=1e-6, center=False, scale=False)
    out = layer(x32)
    np.testing.assert_allclose(out, group_norm_reference(x32, 2, 2, None, None, 1e-6), rtol=1e-5, atol=1e-5)


def test_group_norm_constant_input_and_unknown_sizes():
    layer = GroupNormalization(groups=2, epsilon=SMALLEST_EPSILON)
    layer.build_for((None, None, 4))
    assert layer.compute_output_shape((None, None, 4)) == (None, None, 4)
    assert layer.count_macs((None, None, 4)) is None
    layer.gamma.assign(np.ones(4, np.float32))
    layer.beta.assign(np.zeros(4, np.float32))
    with np.errstate(all="raise"):
        out = layer(np.full((2, 3, 4), 0.25, np.float32))
    np.testing.assert_array_equal(out, np.zeros((2, 3, 4)))


@pytest.mark.parametrize("kwargs, shape, message", [
    ({"groups": 32}, (None, 5, 16), "groups 32 is more than the 16 channels on axis -1 of the input (None, 5, 16)"),
    ({"groups": 4}, (None, 6), "the 6 channels on axis -1 of the input (None, 6) do not split into 4 equal groups"),
    ({"groups": 2, "axis": 3}, (None, 5, 4), "axis 3 is out of range for the input (None, 5, 4), which has 3 axes"),
    ({"groups": 2, "axis": 0}, (None, 5, 4),
     "axis 0 is the batch axis of the input (None, 5, 4); normalise a feature axis such as -1"),
    ({"groups": 2}, (None, 5, None), "needs a known size on axis 2 (axis -1), got (None, 5, None)"),
])
def test_group_norm_shape_errors(kwargs, shape, message):
    with pytest.raises(ShapeError) as caught:
        GroupNormalization(**kwargs).build_for(shape)
    assert caught.value.message == message
    with pytest.raises(ShapeError):
        GroupNormalization(**kwargs).compute_output_shape(shape)


@pytest.mark.parametrize("kwargs, message", [
    ({"groups": 0}, "argument 'groups' must be an integer >= 1, or -1 for one group per channel, got integer 0"),
    ({"groups": -2}, "argument 'groups' must be an integer >= 1, or -1 for one group per channel, got integer -2"),
    ({"groups": True}, "argument 'groups' must be an integer >= 1, or -1 for one group per channel, "
                       "got boolean true"),
    ({"axis": [1, 2]}, "argument 'axis' must be an integer, got a list"),
    ({"epsilon": 0}, f"argument 'epsilon' must be a number >= {SMALLEST_EPSILON!r} (float32's smallest normal "
                     "number), got integer 0"),
    ({"gamma_regularizer": "l2"}, "argument 'gamma_regularizer' is a Keras training option that layerspec does "
                                  "not support (it runs inference only)"),
])
def test_group_norm_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        GroupNormalization(**kwargs)
    assert caught.value.message == message


def test_group_norm_in_a_spec_points_at_groups():
    spec = loads_spec("""input: [10, 12]
layers:
  - type: GroupNormalization
    groups: 5
""", path="norm.yaml")
    with pytest.raises(ShapeError) as caught:
        build_model(spec)
    assert str(caught.value) == ("norm.yaml:4:13: layer 1 'group_normalization' (GroupNormalization): the 12 "
                                 "channels on axis -1 of the input (None, 10, 12) do not split into 5 equal groups")


def test_group_norm_matches_keras_in_the_conv1d_family_fixture():
    """Keras 3.15's own GroupNormalization (groups 5 on 5 channels) inside a
    real model: the layers before it are computed here by plain loops from
    the fixture's h5 weights (those layer types are tested elsewhere), ours
    is applied, then LeakyReLU(0.1), the average over steps and softmax must
    give Keras's outputs."""
    from tests.keras_fixtures import ATOL, RTOL, load_fixture

    fixture = load_fixture("conv1d_family")
    h5 = {key: value.astype(np.float64) for key, value in fixture.h5.items()}
    x = fixture.inputs["input_layer"].astype(np.float64)  # (4, 20, 3)
    # Conv1D: causal, dilation 2, kernel 3, relu.
    kernel, bias = h5["layers/conv1d/vars/0"], h5["layers/conv1d/vars/1"]
    padded = np.pad(x, ((0, 0), (4, 0), (0, 0)))
    h = np.zeros((4, 20, 6))
    for t in range(20):
        for j in range(3):
            h[:, t] += padded[:, t + 2 * j] @ kernel[j]
    h = np.maximum(h + bias, 0)
    # Conv1DTranspose: kernel (k, filters, in), stride 2, valid: length (20 - 1) * 2 + 3.
    kernel, bias = h5["layers/conv1d_transpose/vars/0"], h5["layers/conv1d_transpose/vars/1"]
    t_out = np.zeros((4, 41, 4))
    for i in range(20):
        for j in range(3):
            t_out[:, 2 * i + j] += h[:, i] @ kernel[j].T
    h = t_out + bias
    # DepthwiseConv1D: depth_multiplier 2, valid; output channel c * 2 + m.
    kernel, bias = h5["layers/depthwise_conv1d/vars/0"], h5["layers/depthwise_conv1d/vars/1"]
    d_out = np.zeros((4, 39, 8))
    for t in range(39):
        for c in range(4):
            for m in range(2):
                d_out[:, t, 2 * c + m] = sum(h[:, t + j, c] * kernel[j, c, m] for j in range(3))
    h = d_out + bias
    # SeparableConv1D: depthwise (multiplier 1, 'same') then pointwise, one bias.
    depthwise, pointwise = h5["layers/separable_conv1d/vars/0"], h5["layers/separable_conv1d/vars/1"]
    padded = np.pad(h, ((0, 0), (1, 1), (0, 0)))
    s = np.zeros((4, 39, 8))
    for t in range(39):
        s[:, t] = sum(padded[:, t + j] * depthwise[j, :, 0] for j in range(3))
    h = s @ pointwise[0] + h5["layers/separable_conv1d/vars/2"]
    # Ours, with Keras's weights (gamma, beta), in float32 as Keras ran it.
    layer = GroupNormalization(groups=5, axis=-1, epsilon=0.001)
    layer.build_for((None, 39, 5))
    layer.gamma.assign(fixture.h5["layers/group_normalization/vars/0"])
    layer.beta.assign(fixture.h5["layers/group_normalization/vars/1"])
    h = layer(h.astype(np.float32)).astype(np.float64)
    h = np.where(h >= 0, h, 0.1 * h).mean(axis=1)
    h = np.exp(h - h.max(axis=1, keepdims=True))
    np.testing.assert_allclose(h / h.sum(axis=1, keepdims=True), fixture.outputs["softmax"], rtol=RTOL, atol=ATOL)


# -- UnitNormalization ----------------------------------------------------------
def unit_norm_reference(x, axes):
    """Plain loops: each vector (the values sharing the indices off ``axes``)
    divided by max(its L2 norm, 1e-12), summed exactly in float64."""
    x = np.asarray(x, np.float64)
    kept = [a for a in range(x.ndim) if a not in axes]
    out = np.zeros(x.shape)
    for outer in positions([x.shape[a] for a in kept]):
        members = []
        for inner in positions([x.shape[a] for a in axes]):
            index = [0] * x.ndim
            for a, i in zip(kept, outer):
                index[a] = i
            for a, i in zip(axes, inner):
                index[a] = i
            members.append(tuple(index))
        norm = math.sqrt(math.fsum(x[index] ** 2 for index in members))
        for index in members:
            out[index] = x[index] / max(norm, 1e-12)
    return out


@pytest.mark.parametrize("shape, axis", [((3, 5), -1), ((2, 3, 4), 1), ((2, 3, 4), [1, 2]), ((2, 3, 4, 2), [-1, 1]),
                                         ((2, 3, 4, 2), -2)])
def test_unit_norm_values_match_plain_loops(shape, axis):
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape).astype(np.float32)
    layer = UnitNormalization(axis=axis)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape == shape
    axes = [a % len(shape) for a in (axis if isinstance(axis, list) else [axis])]
    np.testing.assert_allclose(out, unit_norm_reference(x, axes), rtol=2e-6, atol=1e-7)
    assert layer.count_params() == 0
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:]


def test_unit_norm_edge_values_without_warnings():
    x = np.array([[0.0, 0.0, 0.0],  # zero stays zero
                  [3e-13, 4e-13, 0.0],  # norm 5e-13 < 1e-12: divided by 1e-12, as Keras
                  [3e30, -4e30, 0.0],  # squares overflow float32: the direction still
                  [np.inf, 1.0, -np.inf],  # infinite entries count as +-1
                  [np.nan, 1.0, 0.0],  # NaN stays NaN
                  [3.0, 4.0, 0.0]], np.float32)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = UnitNormalization()(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], [0, 0, 0])
    np.testing.assert_allclose(out[1], [0.3, 0.4, 0.0], rtol=1e-6)
    np.testing.assert_allclose(out[2], [0.6, -0.8, 0.0], rtol=1e-6)
    np.testing.assert_allclose(out[3], [2 ** -0.5, 0.0, -2 ** -0.5], rtol=1e-6)
    assert np.isnan(out[4]).all()
    np.testing.assert_allclose(out[5], [0.6, 0.8, 0.0], rtol=1e-6)
    # float64 in, float64 out, to its precision.
    x64 = np.random.default_rng(10).standard_normal((3, 7)) * 1e100
    np.testing.assert_allclose(unit_normalize(x64, (1,)), unit_norm_reference(x64, [1]), rtol=1e-14)


def test_unit_norm_costs_and_unknown_sizes():
    layer = UnitNormalization()
    assert layer.compute_output_shape((None, None, 6)) == (None, None, 6)
    assert layer.count_macs((None, 5, 6)) == 30 and layer.count_elementwise((None, 5, 6)) == 30
    assert layer.count_macs((None, None, 6)) is None


@pytest.mark.parametrize("axis, shape, message", [
    (3, (None, 5, 4), "axis 3 is out of range for the input (None, 5, 4), which has 3 axes"),
    (0, (None, 5, 4), "axis 0 is the batch axis of the input (None, 5, 4); normalise a feature axis such as -1"),
    ([1, -2], (None, 5, 4), "axis [1, -2] names axis 1 of the input (None, 5, 4) twice"),
])
def test_unit_norm_axis_errors(axis, shape, message):
    with pytest.raises(ShapeError) as caught:
        UnitNormalization(axis=axis).compute_output_shape(shape)
    assert caught.value.message == message


def test_unit_norm_argument_error():
    with pytest.raises(ArgumentError) as caught:
        UnitNormalization(axis="last")
    assert caught.value.message == ("argument 'axis' must be an integer or a non-empty list of integers, "
                                    "got string 'last'")


# -- SpectralNormalization --------------------------------------------------------
SPECTRAL_MESSAGE = ("SpectralNormalization only changes its layer's kernel during training (power iteration); at "
                    "inference Keras applies the wrapped layer with its stored, already normalised kernel: write "
                    "the wrapped layer itself instead, with that kernel")


def test_spectral_normalization_is_refused_with_the_way_to_write_it():
    with pytest.raises(ArgumentError) as caught:
        SpectralNormalization(layer={"type": "Dense", "units": 3})
    assert caught.value.message == SPECTRAL_MESSAGE
    spec = loads_spec("""input: [4]
layers:
  - type: SpectralNormalization
    layer: {type: Dense, units: 3}
    power_iterations: 2
""", path="sn.yaml")
    with pytest.raises(ArgumentError) as caught:
        build_model(spec)
    assert str(caught.value) == f"sn.yaml:3:11: layer 1 'spectral_normalization' (SpectralNormalization): " \
                                f"{SPECTRAL_MESSAGE}"
    with pytest.raises(ArgumentError) as caught:
        SpectralNormalization(power_iterations=0)
    assert caught.value.message == "argument 'power_iterations' must be an integer >= 1, got integer 0"
