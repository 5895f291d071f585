"""Attention layers: values against plain float64 loops (per head, per
position), shapes, weights, costs and exact errors."""

import importlib.util
import itertools
import math
import pathlib
import textwrap
import warnings

import numpy as np
import pytest

import layerspec
from layerspec import registry
from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers import attention as attention_module
from layerspec.layers.attention import AdditiveAttention, Attention, MultiHeadAttention

RTOL, ATOL = 1e-4, 1e-5


def random_weights(layer, rng) -> dict:
    """Give every weight of a built layer random values; return them by name."""
    values = {}
    for weight in layer.weights:
        scale = 1.0 if weight.name.endswith("bias") else 0.5
        values[weight.name] = (rng.standard_normal(weight.shape) * scale).astype(weight.dtype)
        weight.assign(values[weight.name])
    return values


def built(layer, shapes, rng=None):
    layer.build_for(shapes)
    if rng is not None:
        random_weights(layer, rng)
    return layer


def floats(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# --------------------------------------------------------------------------
# the reference: MultiHeadAttention in plain float64 loops


def mha_reference(query, value, key, weights, *, heads, key_dim, value_dim, axes=None, causal=False,
                  window=None, zero_masked=False, gate=False):
    """Keras's MultiHeadAttention, one head and one position at a time.

    ``axes``: the attention axes of the query (default every axis between
    batch and features); the masks compare positions on axis 1. A query
    position whose keys are all masked gets zeros with ``zero_masked``,
    else equal weights on every key.
    """
    query, value, key = (np.asarray(x, np.float64) for x in (query, value, key))
    w = {name: np.asarray(array, np.float64) for name, array in weights.items()}
    rank = query.ndim
    axes = tuple(range(1, rank - 1)) if axes is None else axes
    others = [axis for axis in range(1, rank - 1) if axis not in axes]

    def project(x, name):
        kernel, bias = w[f"{name}/kernel"], w.get(f"{name}/bias")
        out = np.zeros(x.shape[:-1] + kernel.shape[1:])
        for index in np.ndindex(*x.shape[:-1]):
            for head in range(heads):
                for channel in range(kernel.shape[2]):
                    total = sum(x[index][d] * kernel[d, head, channel] for d in range(x.shape[-1]))
                    out[index + (head, channel)] = total + (0.0 if bias is None else bias[head, channel])
        return out

    q = project(query, "query") / math.sqrt(key_dim)
    k = project(key, "key")
    v = project(value, "value")
    heads_out = np.zeros(query.shape[:-1] + (heads, value_dim))
    for batch in range(query.shape[0]):
        for other in itertools.product(*(range(query.shape[axis]) for axis in others)):
            def position(at):
                full = [batch] + [0] * (rank - 2)
                for axis, index in zip(others, other):
                    full[axis] = index
                for axis, index in zip(axes, at):
                    full[axis] = index
                return tuple(full)

            query_positions = list(itertools.product(*(range(query.shape[axis]) for axis in axes)))
            key_positions = list(itertools.product(*(range(key.shape[axis]) for axis in axes)))
            for head in range(heads):
                for i, at_query in enumerate(query_positions):
                    scores, allowed = [], []
                    for j, at_key in enumerate(key_positions):
                        scores.append(float(np.dot(q[position(at_query) + (head,)], k[position(at_key) + (head,)])))
                        masked = (causal and j > i) or (window is not None and abs(i - j) >= window)
                        allowed.append(not masked)
                    if any(allowed):
                        top = max(s for s, ok in zip(scores, allowed) if ok)
                        exps = [math.exp(s - top) if ok else 0.0 for s, ok in zip(scores, allowed)]
                        weights_ij = [e / sum(exps) for e in exps]
                    elif zero_masked:
                        weights_ij = [0.0] * len(scores)
                    else:
                        weights_ij = [1.0 / len(scores)] * len(scores)
                    for j, at_key in enumerate(key_positions):
                        heads_out[position(at_query) + (head,)] += weights_ij[j] * v[position(at_key) + (head,)]
    if gate:
        gates = project(query, "gate")
        for index in np.ndindex(*gates.shape):
            heads_out[index] *= sigmoid(gates[index])
    kernel, bias = w["attention_output/kernel"], w.get("attention_output/bias")
    out_shape = kernel.shape[2:]
    out = np.zeros(query.shape[:-1] + out_shape)
    for index in np.ndindex(*query.shape[:-1]):
        for target in np.ndindex(*out_shape):
            total = sum(heads_out[index + (h, c)] * kernel[(h, c) + target]
                        for h in range(heads) for c in range(value_dim))
            out[index + target] = total + (0.0 if bias is None else bias[target])
    return out


def check_mha(rng, shapes, reference_options=None, **arguments):
    """Build a MultiHeadAttention for ``shapes`` with random weights, run it
    on random inputs and compare with :func:`mha_reference`."""
    layer = MultiHeadAttention(**arguments)
    shape_list = [(None,) + tuple(shape) for shape in shapes]
    built(layer, shape_list if len(shapes) > 1 else shape_list[0])
    weights = random_weights(layer, rng)
    inputs = [floats(rng, 2, *shape) for shape in shapes]
    outputs = layer.call(inputs if len(inputs) > 1 else inputs[0])
    query = inputs[0]
    value = inputs[1] if len(inputs) > 1 else query
    key = inputs[2] if len(inputs) > 2 else value
    options = dict(heads=arguments["num_heads"], key_dim=arguments["key_dim"],
                   value_dim=arguments.get("value_dim") or arguments["key_dim"],
                   causal=arguments.get("use_causal_mask", False), window=arguments.get("sliding_window"),
                   gate=arguments.get("use_gate", False))
    if arguments.get("attention_axes") is not None:
        given = arguments["attention_axes"]
        given = (given,) if isinstance(given, int) else tuple(given)
        options["axes"] = tuple(sorted(axis % len(shape_list[0]) for axis in given))
    options.update(reference_options or {})
    expected = mha_reference(query, value, key, weights, **options)
    assert outputs.dtype == np.float32
    assert outputs.shape == expected.shape == layer.compute_output_shape(
        [(2,) + tuple(shape) for shape in shapes])
    np.testing.assert_allclose(outputs, expected, rtol=RTOL, atol=ATOL)
    return layer, outputs


# --------------------------------------------------------------------------
# MultiHeadAttention: values


def test_self_attention_from_one_input():
    check_mha(np.random.default_rng(1), [(5, 6)], num_heads=2, key_dim=3)


def test_one_input_in_a_list_is_self_attention_too():
    rng = np.random.default_rng(2)
    layer = built(MultiHeadAttention(num_heads=2, key_dim=3), [(None, 4, 6)], rng)
    x = floats(rng, 3, 4, 6)
    np.testing.assert_array_equal(layer.call([x]), layer.call(x))
    np.testing.assert_array_equal(layer.call([x]), layer.call([x, x, x]))


def test_cross_attention_with_a_key_of_its_own():
    check_mha(np.random.default_rng(3), [(4, 5), (6, 3), (6, 7)], num_heads=3, key_dim=2, value_dim=4,
              output_shape=[2, 3])


def test_output_shape_as_an_integer_and_value_dim_of_its_own():
    layer, outputs = check_mha(np.random.default_rng(4), [(3, 4), (5, 2)], num_heads=2, key_dim=3, value_dim=5,
                               output_shape=7)
    assert outputs.shape == (2, 3, 7)
    assert layer.output_kernel.shape == (2, 5, 7) and layer.value_kernel.shape == (2, 2, 5)


def test_without_biases():
    layer, _ = check_mha(np.random.default_rng(5), [(4, 6)], num_heads=2, key_dim=3, use_bias=False)
    assert [weight.name for weight in layer.weights] == ["query/kernel", "key/kernel", "value/kernel",
                                                         "attention_output/kernel"]


@pytest.mark.parametrize("lengths", [(5, 5), (3, 6), (6, 3)])
def test_causal_mask_is_lower_triangular_from_the_top_left(lengths):
    query_length, key_length = lengths
    check_mha(np.random.default_rng(6), [(query_length, 4), (key_length, 4)], num_heads=2, key_dim=3,
              use_causal_mask=True)


def test_causal_self_attention_first_position_sees_only_itself():
    rng = np.random.default_rng(7)
    layer = built(MultiHeadAttention(num_heads=1, key_dim=2, use_causal_mask=True), (None, 4, 3), rng)
    x = floats(rng, 1, 4, 3)
    changed = x.copy()
    changed[0, 1:] += 5.0  # later positions change: the first output must not
    np.testing.assert_allclose(layer.call(changed)[0, 0], layer.call(x)[0, 0], rtol=1e-6, atol=1e-6)
    assert not np.allclose(layer.call(changed)[0, 1], layer.call(x)[0, 1])


@pytest.mark.parametrize("window, causal", [(2, False), (2, True), (1, False), (3, True)])
def test_sliding_window(window, causal):
    check_mha(np.random.default_rng(8), [(6, 4)], num_heads=2, key_dim=2, sliding_window=window,
              use_causal_mask=causal)


def test_query_rows_with_every_key_masked_average_the_values_for_rank_3():
    # Keras 3.15's fused path (rank-3 inputs, no dropout): equal weights.
    check_mha(np.random.default_rng(9), [(6, 3), (2, 3)], num_heads=2, key_dim=2, sliding_window=2)


def test_query_rows_with_every_key_masked_are_zero_with_dropout():
    # With dropout Keras takes its softmax layer's path, which zeroes them.
    check_mha(np.random.default_rng(10), [(6, 3), (2, 3)], {"zero_masked": True}, num_heads=2, key_dim=2,
              sliding_window=2, dropout=0.1)


def test_query_rows_with_every_key_masked_are_zero_for_rank_4():
    check_mha(np.random.default_rng(11), [(5, 2, 3), (2, 2, 3)], {"zero_masked": True}, num_heads=1, key_dim=2,
              sliding_window=1, attention_axes=[1])


def test_dropout_changes_nothing_else():
    rng = np.random.default_rng(12)
    plain = built(MultiHeadAttention(num_heads=2, key_dim=3, use_causal_mask=True), (None, 5, 4), rng)
    dropping = built(MultiHeadAttention(num_heads=2, key_dim=3, use_causal_mask=True, dropout=0.5, seed=3),
                     (None, 5, 4))
    for mine, theirs in zip(dropping.weights, plain.weights):
        mine.assign(theirs.numpy())
    x = floats(rng, 3, 5, 4)
    np.testing.assert_allclose(dropping.call(x), plain.call(x), rtol=1e-6, atol=1e-6)


def test_rank_4_attends_over_both_axes_by_default():
    check_mha(np.random.default_rng(13), [(2, 3, 4), (3, 2, 5)], num_heads=2, key_dim=2)


@pytest.mark.parametrize("axes", [1, [2], -2, [-3]])
def test_rank_4_attends_over_one_axis(axes):
    # The other axis is a batch axis of the attention: its sizes match.
    shapes = [(3, 2, 4), (4, 2, 5)] if axes in (1, [-3]) else [(2, 3, 4), (2, 4, 5)]
    check_mha(np.random.default_rng(14), shapes, num_heads=2, key_dim=3, attention_axes=axes)


def test_rank_5_attends_over_two_axes_of_three():
    check_mha(np.random.default_rng(15), [(2, 2, 3, 3)], num_heads=1, key_dim=2, attention_axes=[1, 3])


def test_rank_4_causal_over_axis_1():
    check_mha(np.random.default_rng(16), [(4, 2, 3)], {"zero_masked": True}, num_heads=2, key_dim=2,
              attention_axes=[1], use_causal_mask=True)


def test_gated_attention():
    layer, _ = check_mha(np.random.default_rng(17), [(4, 5), (3, 6)], num_heads=2, key_dim=3, value_dim=2,
                         use_gate=True)
    assert [(weight.name, weight.shape) for weight in layer.weights][4:6] == [("gate/kernel", (5, 2, 2)),
                                                                              ("gate/bias", (2, 2))]


def test_blocks_of_pairs_compute_the_same(monkeypatch):
    # 2 samples x 3 heads = 6 pairs of 4 x 4 scores; blocks of 1, 2 (the last
    # one short: 6 = 2 + 2 + 2, 5 pairs: 2 + 2 + 1) and all at once.
    rng = np.random.default_rng(18)
    layer = built(MultiHeadAttention(num_heads=3, key_dim=2, use_causal_mask=True), (None, 4, 5), rng)
    x = floats(rng, 2, 4, 5)
    whole = layer.call(x)
    for block in (16, 32, 48):
        monkeypatch.setattr(attention_module, "SCORES_PER_BLOCK", block)
        np.testing.assert_allclose(layer.call(x), whole, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(layer.call(x[:1]), whole[:1], rtol=1e-6, atol=1e-6)


def test_float64_model_stays_float64():
    model = layerspec.loads("name: m\ndtype: float64\ninput: [3, 4]\nlayers:\n"
                            "  - {type: MultiHeadAttention, num_heads: 2, key_dim: 2}\n")
    model.init(seed=1)
    weights = model.get_weights()
    assert all(array.dtype == np.float64 for array in weights.values())
    x = np.random.default_rng(19).standard_normal((2, 3, 4))
    out = model.predict(x)
    assert out.dtype == np.float64
    expected = mha_reference(x, x, x, {key.split("/", 1)[1]: array for key, array in weights.items()},
                             heads=2, key_dim=2, value_dim=2)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_inputs_of_other_dtypes_are_cast_to_the_layer_dtype():
    rng = np.random.default_rng(20)
    layer = built(MultiHeadAttention(num_heads=1, key_dim=2), (None, 3, 2), rng)
    x = rng.integers(-3, 3, size=(2, 3, 2))
    assert layer.call(x).dtype == np.float32
    assert layer.call(x.astype(np.float64)).dtype == np.float32
    np.testing.assert_allclose(layer.call(x), layer.call(x.astype(np.float32)))


def test_huge_inputs_give_no_numpy_warnings_through_predict():
    model = layerspec.loads("name: m\ninput: [3, 4]\nlayers:\n"
                            "  - {type: MultiHeadAttention, num_heads: 2, key_dim: 2, use_causal_mask: true}\n")
    model.init(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for value in (1e30, -1e30, np.inf, np.nan):
            model.predict(np.full((2, 3, 4), value, np.float32))


def test_softmax_of_a_slice_with_infinities():
    # As layerspec's softmax activation: +inf entries share the weight, a
    # slice of only -inf is NaN.
    scores = np.array([[1.0, np.inf, 2.0, np.inf], [-np.inf] * 4, [0.0, 1.0, 2.0, 3.0]], np.float32).T.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = attention_module._softmax_in_place(scores, axis=0)
    np.testing.assert_array_equal(result[:, 0], [0, 0.5, 0, 0.5])
    assert np.isnan(result[:, 1]).all()
    expected = np.exp(np.arange(4.0)) / np.exp(np.arange(4.0)).sum()
    np.testing.assert_allclose(result[:, 2], expected, rtol=1e-6)


def test_empty_keys_give_the_output_bias():
    rng = np.random.default_rng(21)
    layer = built(MultiHeadAttention(num_heads=2, key_dim=2), [(None, 3, 4), (None, 0, 4)], rng)
    out = layer.call([floats(rng, 2, 3, 4), np.zeros((2, 0, 4), np.float32)])
    np.testing.assert_allclose(out, np.broadcast_to(layer.output_bias.numpy(), out.shape))


# --------------------------------------------------------------------------
# MultiHeadAttention: weights, shapes, configuration


def test_weights_have_keras_names_layouts_and_order():
    layer = built(MultiHeadAttention(num_heads=4, key_dim=3, value_dim=5, output_shape=[2, 7]),
                  [(None, 6, 10), (None, 8, 11), (None, 8, 12)])
    assert [(weight.name, weight.shape) for weight in layer.weights] == [
        ("query/kernel", (10, 4, 3)), ("query/bias", (4, 3)),
        ("key/kernel", (12, 4, 3)), ("key/bias", (4, 3)),
        ("value/kernel", (11, 4, 5)), ("value/bias", (4, 5)),
        ("attention_output/kernel", (4, 5, 2, 7)), ("attention_output/bias", (2, 7)),
    ]
    assert layer.count_params() == 10 * 12 + 12 + 12 * 12 + 12 + 11 * 20 + 20 + 20 * 14 + 14


def test_weight_keys_nest_under_the_layer_name_and_survive_a_weights_file(tmp_path):
    model = layerspec.loads("name: m\ninput: [3, 4]\nlayers:\n"
                            "  - {type: MultiHeadAttention, num_heads: 2, key_dim: 2, name: mha}\n")
    model.init(seed=3)
    weights = model.get_weights()
    assert sorted(weights) == sorted(f"mha/{part}/{kind}" for part in ("query", "key", "value", "attention_output")
                                     for kind in ("kernel", "bias"))
    path = tmp_path / "w.npz"
    model.save_weights(path)
    again = layerspec.loads("name: m\ninput: [3, 4]\nlayers:\n"
                            "  - {type: MultiHeadAttention, num_heads: 2, key_dim: 2, name: mha}\n")
    again.load_weights(path)
    x = floats(np.random.default_rng(22), 2, 3, 4)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    with np.load(path) as data:
        assert "mha/query/kernel" in data.files


def test_kernels_are_drawn_with_keras_einsum_fans():
    # glorot_uniform: limit sqrt(6 / (fan_in + fan_out)), with Keras 3's
    # EinsumDense fans: (d, heads * key_dim) for the projections,
    # (heads * value_dim, output size) for the output.
    layer = built(MultiHeadAttention(num_heads=8, key_dim=16, value_dim=4), (None, 5, 64))
    rng = np.random.default_rng(23)
    for weight in layer.weights:
        weight.initialize(rng)
    limits = {"query/kernel": math.sqrt(6 / (64 + 128)), "key/kernel": math.sqrt(6 / (64 + 128)),
              "value/kernel": math.sqrt(6 / (64 + 32)), "attention_output/kernel": math.sqrt(6 / (32 + 64))}
    for weight in layer.weights:
        values = weight.numpy()
        if weight.name in limits:
            assert 0.95 * limits[weight.name] < np.abs(values).max() <= limits[weight.name]
        else:
            assert not values.any()  # zeros


def test_other_initializers_draw_for_the_real_shape():
    layer = built(MultiHeadAttention(num_heads=2, key_dim=3, kernel_initializer={"type": "constant", "value": 0.5},
                                     bias_initializer="ones"), (None, 5, 4))
    for weight in layer.weights:
        weight.initialize(np.random.default_rng(0))
    assert (layer.query_kernel.numpy() == 0.5).all() and (layer.query_bias.numpy() == 1).all()


def test_seeded_initializer_draws_the_same_values_every_time():
    layer = built(MultiHeadAttention(num_heads=2, key_dim=3, kernel_initializer={"type": "glorot_uniform",
                                                                                  "seed": 4}), (None, 5, 6))
    for weight in layer.weights:
        weight.initialize(np.random.default_rng())
    # Same seed and shape: Keras's clones of a seeded initializer draw alike.
    np.testing.assert_array_equal(layer.query_kernel.numpy(), layer.key_kernel.numpy())


@pytest.mark.parametrize("shapes, arguments, expected", [
    ((None, 7, 16), {}, (None, 7, 16)),
    ([(None, 7, 16)], {}, (None, 7, 16)),
    ([(4, 5, 12), (None, 9, 6)], {"output_shape": 9}, (4, 5, 9)),
    ([(None, 5, 12), (None, None, 6), (None, None, 3)], {"output_shape": [2, 3]}, (None, 5, 2, 3)),
    ((None, None, 8), {}, (None, None, 8)),
    ([(None, 2, 3, 8), (None, 5, 4, 6)], {}, (None, 2, 3, 8)),
    ([(None, 2, 3, 8), (None, 2, 4, 6)], {"attention_axes": 2}, (None, 2, 3, 8)),
])
def test_output_shapes(shapes, arguments, expected):
    assert MultiHeadAttention(num_heads=2, key_dim=4, **arguments).compute_output_shape(shapes) == expected


def test_get_config_makes_the_same_layer():
    layer = MultiHeadAttention(num_heads=2, key_dim=4, output_shape=9, attention_axes=-2, use_causal_mask=True,
                               name="mha")
    config = layer.get_config()
    assert config["output_shape"] == (9,) and config["attention_axes"] == (-2,) and config["value_dim"] is None
    assert config["use_causal_mask"] is True and config["name"] == "mha"
    assert MultiHeadAttention(**config).get_config() == config


def test_registered_with_every_keras_argument_it_takes():
    names = registry.arguments_of(MultiHeadAttention)
    assert names["num_heads"].required and names["key_dim"].required
    for name in ("num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape", "attention_axes",
                 "sliding_window", "kernel_initializer", "bias_initializer", "use_gate", "seed", "use_causal_mask"):
        assert name in names
    assert registry.lookup("multi_head_attention") is MultiHeadAttention
    assert registry.lookup("Attention") is Attention and registry.lookup("additive_attention") is AdditiveAttention


# --------------------------------------------------------------------------
# MultiHeadAttention: costs


def test_costs_counted_by_hand():
    # query (5, 12), value (7, 6), key (7, 3); 3 heads, key_dim 4, value_dim 2, output 9.
    layer = MultiHeadAttention(num_heads=3, key_dim=4, value_dim=2, output_shape=9, use_causal_mask=True)
    shapes = [(None, 5, 12), (None, 7, 6), (None, 7, 3)]
    projections = 5 * 12 * 12 + 7 * 3 * 12 + 7 * 6 * 6 + 5 * 6 * 9
    scores = 3 * 5 * 7
    assert layer.count_macs(shapes) == projections + scores * (4 + 2)
    biases = 5 * 12 + 7 * 12 + 7 * 6 + 5 * 9
    assert layer.count_elementwise(shapes) == biases + 5 * 12 + scores * (3 + 1)
    assert layer.count_flops(shapes) == 2 * layer.count_macs(shapes) + layer.count_elementwise(shapes)
    assert layer.count_workspace(shapes) == 2 * (5 * 12 + 7 * 12 + 7 * 6 + 5 * 6)


def test_costs_with_gate_without_bias_and_mask():
    layer = MultiHeadAttention(num_heads=2, key_dim=3, use_gate=True, use_bias=False)
    shape = (None, 4, 5)
    projections = 3 * (4 * 5 * 6) + 4 * 6 * 5  # query, key and value; output
    gate = 4 * 5 * 6
    scores = 2 * 4 * 4
    assert layer.count_macs(shape) == projections + gate + scores * (3 + 3)
    assert layer.count_elementwise(shape) == 4 * 6 + scores * 3 + 4 * 6 * 2


def test_costs_over_some_attention_axes():
    # (3, 4) positions, attention over axis 2 only: 3 separate attentions of 4 x 5.
    layer = MultiHeadAttention(num_heads=2, key_dim=2, attention_axes=2, use_bias=False)
    shapes = [(None, 3, 4, 6), (None, 3, 5, 6)]
    assert layer.count_macs(shapes) == 12 * 6 * 4 + 15 * 6 * 4 * 2 + 3 * 2 * 4 * 5 * (2 + 2) + 12 * 4 * 6


def test_costs_are_unknown_with_an_unknown_length():
    layer = MultiHeadAttention(num_heads=2, key_dim=3)
    for shapes in [(None, None, 8), [(None, 4, 8), (None, None, 8)]]:
        assert layer.count_macs(shapes) is None
        assert layer.count_elementwise(shapes) is None
        assert layer.count_flops(shapes) is None
        assert layer.count_workspace(shapes) == 0


def test_cross_attention_costs_per_step_of_an_unknown_key_length(write_spec, cli):
    # Affine in the key length: layerspec's per-step costs are exact.
    path = write_spec("""
        name: cross
        inputs: {q: [5, 16], kv: [null, 16]}
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 8, inputs: [q, kv]}
    """)
    result = cli("summary", path)
    assert result.exit_code == 0, result.stderr
    # Per key position: key and value projections (2 x 16 x 16) and 2 heads x 5 queries x (8 + 8).
    assert "672/step" in result.stdout
    assert "672 per step of the unknown size + 2.56K" in result.stdout


# --------------------------------------------------------------------------
# MultiHeadAttention: errors


@pytest.mark.parametrize("arguments, message, argument", [
    ({"num_heads": 2}, "missing required argument 'key_dim'", None),
    ({"key_dim": 2}, "missing required argument 'num_heads'", None),
    ({"num_heads": 0, "key_dim": 2}, "argument 'num_heads' must be an integer >= 1, got integer 0", "num_heads"),
    ({"num_heads": 2, "key_dim": 2, "value_dim": 0},
     "argument 'value_dim' must be an integer >= 1 or null, got integer 0", "value_dim"),
    ({"num_heads": 2, "key_dim": 2, "output_shape": []}, "argument 'output_shape' must be an integer >= 1 or a "
     "non-empty list of integers >= 1 or null, got a list", "output_shape"),
    ({"num_heads": 2, "key_dim": 2, "output_shape": [3, 0]}, "argument 'output_shape' must be an integer >= 1 or a "
     "non-empty list of integers >= 1 or null, got a list", "output_shape"),
    ({"num_heads": 2, "key_dim": 2, "output_shape": True}, "argument 'output_shape' must be an integer >= 1 or a "
     "non-empty list of integers >= 1 or null, got boolean true", "output_shape"),
    ({"num_heads": 2, "key_dim": 2, "attention_axes": "all"}, "argument 'attention_axes' must be an integer or a "
     "non-empty list of integers or null, got string 'all'", "attention_axes"),
    ({"num_heads": 2, "key_dim": 2, "dropout": 1.5},
     "argument 'dropout' must be a number >= 0 and <= 1, got number 1.5", "dropout"),
    ({"num_heads": 2, "key_dim": 2, "sliding_window": 0},
     "argument 'sliding_window' must be an integer >= 1 or null, got integer 0", "sliding_window"),
    ({"num_heads": 2, "key_dim": 2, "use_causal_mask": 1},
     "argument 'use_causal_mask' must be true or false, got integer 1", "use_causal_mask"),
    ({"num_heads": 2, "key_dim": 2, "return_attention_scores": True},
     "unknown argument 'return_attention_scores'", "return_attention_scores"),
])
def test_bad_arguments(arguments, message, argument):
    with pytest.raises(ArgumentError) as error:
        MultiHeadAttention(**arguments)
    assert error.value.message.startswith(message)
    assert error.value.argument == argument


@pytest.mark.parametrize("arguments, shapes, message, argument", [
    ({}, (None, 8), "the query needs at least 3 axes (batch, positions..., features), got (None, 8)", None),
    ({}, [(None, 4, 8), (None, 8)], "the value needs at least 3 axes (batch, positions..., features), got (None, 8)",
     None),
    ({}, (None, 4, None), "the query needs a known size on its last axis, got (None, 4, None)", None),
    ({}, [(None, 4, 8), (None, 5, 8), (None, 6, 8)],
     "the value (None, 5, 8) and key (None, 6, 8) must have equal sizes on every axis but the last", None),
    ({}, [(None, 4, 8), (None, 5, 3, 8)], "query, value and key need the same number of axes, got query "
     "(None, 4, 8), value (None, 5, 3, 8) and key (None, 5, 3, 8)", None),
    ({}, [(None, 4, 8)] * 4, "MultiHeadAttention takes [query, value] or [query, value, key] (or one input, "
     "attending to itself), got 4: (None, 4, 8), (None, 4, 8), (None, 4, 8) and (None, 4, 8)", None),
    ({}, [], "MultiHeadAttention takes [query, value] or [query, value, key] (or one input, attending to itself), "
     "got an empty list", None),
    ({}, [(2, 4, 8), (3, 5, 8)], "inputs (2, 4, 8) and (3, 5, 8) have different batch sizes", None),
    ({"attention_axes": 0}, (None, 4, 8), "attention_axes [0]: axis 0 is the batch axis of inputs with 3 axes; "
     "attention runs over axis 1 (or -2)", "attention_axes"),
    ({"attention_axes": [1, -1]}, (None, 4, 3, 8), "attention_axes [1, -1]: axis -1 is the feature axis of inputs "
     "with 4 axes; attention runs over axes 1 to 2 (or -3 to -2)", "attention_axes"),
    ({"attention_axes": 4}, (None, 4, 3, 8), "attention_axes [4]: axis 4 is out of range for inputs with 4 axes",
     "attention_axes"),
    ({"attention_axes": [1, -3]}, (None, 4, 3, 8), "attention_axes [1, -3] names axis 1 twice", "attention_axes"),
    ({"attention_axes": 2}, [(None, 4, 3, 8), (None, 5, 6, 8)], "the query (None, 4, 3, 8) and value "
     "(None, 5, 6, 8) differ on axis 1 (4 and 5), which attention does not run over (attention_axes [2]): it must "
     "match", "attention_axes"),
    ({"use_causal_mask": True}, (None, 4, 3, 8), "use_causal_mask needs attention over axis 1 alone, as Keras "
     "builds the mask from the sizes of axis 1; attention_axes is [1, 2] for the query (None, 4, 3, 8)",
     "attention_axes"),
    ({"sliding_window": 2, "attention_axes": 2}, (None, 4, 3, 8), "sliding_window needs attention over axis 1 "
     "alone, as Keras builds the mask from the sizes of axis 1; attention_axes is [2] for the query "
     "(None, 4, 3, 8)", "attention_axes"),
])
def test_inputs_that_do_not_fit(arguments, shapes, message, argument):
    layer = MultiHeadAttention(num_heads=2, key_dim=3, **arguments)
    for method in (layer.compute_output_shape, layer.count_macs, layer.build_for):
        with pytest.raises(ShapeError) as error:
            method(shapes)
        assert error.value.message == message
        assert error.value.argument == argument


def test_lengths_unknown_at_build_must_still_agree_at_run_time():
    rng = np.random.default_rng(24)
    layer = built(MultiHeadAttention(num_heads=1, key_dim=2), [(None, None, 3), (None, None, 3), (None, None, 3)],
                  rng)
    with pytest.raises(ShapeError, match=r"the value \(2, 4, 3\) and key \(2, 5, 3\) must have equal sizes"):
        layer.call([floats(rng, 2, 3, 3), floats(rng, 2, 4, 3), floats(rng, 2, 5, 3)])


def test_called_again_with_another_feature_size():
    rng = np.random.default_rng(25)
    layer = built(MultiHeadAttention(num_heads=1, key_dim=2), (None, 3, 4), rng)
    with pytest.raises(ShapeError) as error:
        layer.call(floats(rng, 2, 3, 5))
    assert error.value.message == "'multi_head_attention' is built for a query of last size 4, got (None, 3, 5)"


def test_spec_errors_point_at_the_argument(write_spec, cli):
    path = write_spec("""
        name: m
        input: [4, 3, 8]
        layers:
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 4, use_causal_mask: true}
    """)
    result = cli("check", path)
    assert result.exit_code != 0
    assert "use_causal_mask needs attention over axis 1 alone" in result.stdout + result.stderr


# --------------------------------------------------------------------------
# MultiHeadAttention in specs


def test_in_a_plain_stack_it_attends_to_the_layer_above():
    model = layerspec.loads(textwrap.dedent("""
        name: m
        input: [6, 4]
        layers:
          - {units: 8, name: embed}
          - {type: MultiHeadAttention, num_heads: 2, key_dim: 4, use_causal_mask: true, name: mha}
          - {type: GlobalAveragePooling1D}
    """))
    model.init(seed=5)
    x = floats(np.random.default_rng(26), 3, 6, 4)
    weights = model.get_weights()
    embedded = x @ weights["embed/kernel"] + weights["embed/bias"]
    expected = mha_reference(embedded, embedded, embedded,
                             {key[4:]: array for key, array in weights.items() if key.startswith("mha/")},
                             heads=2, key_dim=4, value_dim=4, causal=True).mean(axis=1)
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)


def test_a_sequential_model_takes_it():
    model = layerspec.Sequential([layerspec.layers.MultiHeadAttention(num_heads=2, key_dim=2)], input_shape=(3, 4))
    model.init(seed=6)
    assert model.predict(np.zeros((2, 3, 4), np.float32)).shape == (2, 3, 4)


def test_functional_model_with_cross_attention():
    query = layerspec.Input((5, 4), name="q")
    value = layerspec.Input((7, 3), name="v")
    out = layerspec.layers.MultiHeadAttention(num_heads=2, key_dim=2, name="mha")([query, value])
    model = layerspec.Model([query, value], out)
    assert model.output_shape == (None, 5, 4)
    model.init(seed=7)
    rng = np.random.default_rng(27)
    q, v = floats(rng, 2, 5, 4), floats(rng, 2, 7, 3)
    weights = {key[4:]: array for key, array in model.get_weights().items()}
    np.testing.assert_allclose(model.predict([q, v]),
                               mha_reference(q, v, v, weights, heads=2, key_dim=2, value_dim=2),
                               rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------
# Attention and AdditiveAttention: the references


def scored_reference(query, value, key, score, causal=False):
    """Keras's Attention with a given score function of (query vector, key
    vector), per query position: masked scores lose 1e9, softmax, weighted
    values."""
    query, value, key = (np.asarray(x, np.float64) for x in (query, value, key))
    out = np.zeros(query.shape[:-1] + value.shape[-1:])
    for prefix in np.ndindex(*query.shape[:-2]):
        for i in range(query.shape[-2]):
            scores = [score(query[prefix][i], key[prefix][j]) - (1e9 if causal and j > i else 0.0)
                      for j in range(key.shape[-2])]
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            for j, e in enumerate(exps):
                out[prefix][i] += e / sum(exps) * value[prefix][j]
    return out


def dot_score(scale=None):
    return lambda q, k: float(np.dot(q, k)) * (1.0 if scale is None else scale)


def concat_score(weight, scale=None):
    return lambda q, k: weight * sum(math.tanh((1.0 if scale is None else scale) * (a + b)) for a, b in zip(q, k))


def additive_score(scale=None):
    return lambda q, k: sum((1.0 if scale is None else s) * math.tanh(a + b)
                            for a, b, s in zip(q, k, scale if scale is not None else q))


def run_scored(layer, inputs, rng):
    built(layer, [(None,) + x.shape[1:] for x in inputs], rng)
    outputs = layer.call(inputs)
    assert outputs.dtype == np.float32
    assert outputs.shape == layer.compute_output_shape([x.shape for x in inputs])
    return outputs


# --------------------------------------------------------------------------
# Attention: values


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("use_scale", [False, True])
def test_dot_attention(use_scale, causal):
    rng = np.random.default_rng(30)
    q, v, k = floats(rng, 2, 4, 3), floats(rng, 2, 5, 6), floats(rng, 2, 5, 3)
    layer = Attention(use_scale=use_scale, use_causal_mask=causal)
    outputs = run_scored(layer, [q, v, k], rng)
    scale = layer.scale.numpy().item() if use_scale else None
    np.testing.assert_allclose(outputs, scored_reference(q, v, k, dot_score(scale), causal), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("use_scale", [False, True])
def test_concat_attention(use_scale):
    rng = np.random.default_rng(31)
    q, v = floats(rng, 2, 4, 3), floats(rng, 2, 5, 3)
    layer = Attention(use_scale=use_scale, score_mode="concat", use_causal_mask=True)
    outputs = run_scored(layer, [q, v], rng)
    scale = layer.scale.numpy().item() if use_scale else None
    weight = layer.concat_score_weight.numpy().item()
    np.testing.assert_allclose(outputs, scored_reference(q, v, v, concat_score(weight, scale), True),
                               rtol=RTOL, atol=ATOL)


def test_attention_over_rank_4_inputs():
    rng = np.random.default_rng(32)
    q, v = floats(rng, 2, 3, 4, 5), floats(rng, 2, 3, 6, 5)
    outputs = run_scored(Attention(), [q, v], rng)
    assert outputs.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(outputs, scored_reference(q, v, v, dot_score()), rtol=RTOL, atol=ATOL)


def test_attention_weights():
    layer = built(Attention(use_scale=True, score_mode="concat"), [(None, 4, 3), (None, 5, 3)])
    assert [(weight.name, weight.shape) for weight in layer.weights] == [("scale", ()), ("concat_score_weight", ())]
    for weight in layer.weights:
        weight.initialize(np.random.default_rng(0))
        assert weight.numpy() == 1.0  # Keras: ones
    assert built(Attention(), [(None, 4, 3), (None, 5, 3)]).weights == []


def test_attention_causal_mask_subtracts_rather_than_replaces():
    # Keras's `scores - 1e9`: a masked score of 2e9 still wins over 0.
    layer = built(Attention(use_causal_mask=True), [(None, 2, 1), (None, 2, 1)])
    q = np.array([[[1.0], [0.0]]], np.float32)
    k = np.array([[[0.0], [3e9]]], np.float32)
    v = np.array([[[1.0], [5.0]]], np.float32)
    np.testing.assert_allclose(layer.call([q, v, k])[0, 0], [5.0])


# --------------------------------------------------------------------------
# AdditiveAttention: values


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("use_scale", [False, True])
def test_additive_attention(use_scale, causal):
    rng = np.random.default_rng(33)
    q, v, k = floats(rng, 2, 4, 3), floats(rng, 2, 5, 2), floats(rng, 2, 5, 3)
    layer = AdditiveAttention(use_scale=use_scale, use_causal_mask=causal)
    outputs = run_scored(layer, [q, v, k], rng)
    scale = layer.scale.numpy().astype(np.float64) if use_scale else None
    np.testing.assert_allclose(outputs, scored_reference(q, v, k, additive_score(scale), causal),
                               rtol=RTOL, atol=ATOL)


def test_additive_attention_scale_weight():
    layer = built(AdditiveAttention(), [(None, 4, 64), (None, 5, 64)])
    assert [(weight.name, weight.shape) for weight in layer.weights] == [("scale", (64,))]
    layer.scale.initialize(np.random.default_rng(0))
    limit = math.sqrt(6 / (64 + 64))  # glorot_uniform, fans (64, 64)
    assert 0.8 * limit < np.abs(layer.scale.numpy()).max() <= limit
    assert built(AdditiveAttention(use_scale=False), [(None, 4, 3), (None, 5, 3)]).weights == []


# --------------------------------------------------------------------------
# Attention and AdditiveAttention: shapes, costs, errors


@pytest.mark.parametrize("layer_class", [Attention, AdditiveAttention])
def test_output_shape_takes_the_value_size(layer_class):
    layer = layer_class()
    assert layer.compute_output_shape([(None, 4, 3), (None, None, 7), (None, None, 3)]) == (None, 4, 7)
    assert layer.compute_output_shape([(2, None, 3), (None, 6, 3)]) == (2, None, 3)


def test_attention_costs():
    shapes = [(None, 4, 3), (None, 5, 6), (None, 5, 3)]
    dot = Attention(use_scale=True, use_causal_mask=True)
    assert dot.count_macs(shapes) == 20 * (3 + 6)
    assert dot.count_elementwise(shapes) == 20 * (1 + 1 + 3)
    concat = Attention(score_mode="concat")
    assert concat.count_macs(shapes) == 20 * 6
    assert concat.count_elementwise(shapes) == 20 * (3 * 3 + 1 + 3)
    assert concat.count_workspace(shapes) == 20 * (1 + 3)
    assert dot.count_workspace(shapes) == 20
    assert Attention().count_macs([(None, None, 3), (None, 5, 6), (None, 5, 3)]) is None


def test_additive_attention_costs():
    shapes = [(None, 4, 3), (None, 5, 6), (None, 5, 3)]
    assert AdditiveAttention().count_macs(shapes) == 20 * (6 + 3)
    assert AdditiveAttention().count_elementwise(shapes) == 20 * (3 * 2 + 3)
    assert AdditiveAttention(use_scale=False, use_causal_mask=True).count_macs(shapes) == 20 * 6
    assert AdditiveAttention(use_scale=False, use_causal_mask=True).count_elementwise(shapes) == 20 * (3 * 3 + 1 + 3)
    assert AdditiveAttention().count_elementwise([(None, 4, 3), (None, None, 6), (None, None, 3)]) is None


@pytest.mark.parametrize("layer_class", [Attention, AdditiveAttention])
@pytest.mark.parametrize("shapes, message", [
    ((None, 4, 3), "{kind} takes a list of inputs [query, value] or [query, value, key], got one input of shape "
     "(None, 4, 3); name its inputs, e.g. 'inputs: [query, value]'"),
    ([(None, 4, 3)], "{kind} takes [query, value] or [query, value, key], got 1: (None, 4, 3)"),
    ([(None, 4, 3)] * 4, "{kind} takes [query, value] or [query, value, key], got 4: (None, 4, 3), (None, 4, 3), "
     "(None, 4, 3) and (None, 4, 3)"),
    ([(None, 3), (None, 4, 3)], "the query needs at least 3 axes (batch, positions, features), got (None, 3)"),
    ([(None, 4, 3), (None, 5, 2)], "the query (None, 4, 3) and key (None, 5, 2) must have the same last size, "
     "got 3 and 2"),
    ([(None, 4, 3), (None, 5, 2), (None, 6, 3)], "the value (None, 5, 2) and key (None, 6, 3) must have the same "
     "number of positions (axis -2), got 5 and 6"),
    ([(None, 2, 4, 3), (None, 3, 5, 3)], "query (None, 2, 4, 3), value (None, 3, 5, 3) and key (None, 3, 5, 3) "
     "must have equal sizes on axis 1"),
    ([(None, 4, 3), (None, 2, 5, 3)], "query, value and key need the same number of axes, got query (None, 4, 3), "
     "value (None, 2, 5, 3) and key (None, 2, 5, 3)"),
])
def test_scored_attention_inputs_that_do_not_fit(layer_class, shapes, message):
    with pytest.raises(ShapeError) as error:
        layer_class().compute_output_shape(shapes)
    assert error.value.message == message.format(kind=layer_class.__name__)


def test_attention_called_on_one_array_says_it_needs_a_list():
    layer = Attention()
    with pytest.raises(ShapeError, match=r"Attention takes a list of inputs \[query, value\]"):
        layer(np.zeros((2, 4, 3), np.float32))


@pytest.mark.parametrize("layer_class, arguments, message", [
    (Attention, {"score_mode": "add"}, "argument 'score_mode' must be one of 'dot', 'concat', got string 'add'"),
    (Attention, {"use_scale": "yes"}, "argument 'use_scale' must be true or false, got string 'yes'"),
    (Attention, {"dropout": -0.1}, "argument 'dropout' must be a number >= 0 and <= 1, got number -0.1"),
    (AdditiveAttention, {"score_mode": "dot"}, "unknown argument 'score_mode'"),
    (AdditiveAttention, {"seed": -1}, "argument 'seed' must be an integer >= 0 or null, got integer -1"),
])
def test_scored_attention_bad_arguments(layer_class, arguments, message):
    with pytest.raises(ArgumentError) as error:
        layer_class(**arguments)
    assert error.value.message.startswith(message)


def test_additive_attention_needs_a_known_query_size_for_its_scale():
    with pytest.raises(ShapeError) as error:
        AdditiveAttention().build_for([(None, 4, None), (None, 5, None)])
    assert error.value.message == "use_scale needs a known size on the query's last axis, got (None, 4, None)"
    assert error.value.argument == "use_scale"
    AdditiveAttention(use_scale=False).build_for([(None, 4, None), (None, 5, None)])  # no weight: fine


def test_attention_in_a_stack_without_inputs_is_refused(write_spec, cli):
    path = write_spec("""
        name: m
        input: [4, 3]
        layers:
          - {type: Attention}
    """)
    result = cli("check", path)
    assert result.exit_code != 0
    assert "takes a list of inputs: name them" in result.stdout + result.stderr


def test_attention_layers_in_a_spec():
    model = layerspec.loads(textwrap.dedent("""
        name: m
        inputs: {q: [4, 3], v: [6, 3]}
        layers:
          - {type: Attention, use_scale: true, use_causal_mask: true, inputs: [q, v], name: luong}
          - {type: AdditiveAttention, inputs: [q, v, v], name: bahdanau}
          - {type: Concatenate, inputs: [luong, bahdanau]}
    """))
    model.init(seed=8)
    assert model.count_params() == 1 + 3
    assert sorted(model.get_weights()) == ["bahdanau/scale", "luong/scale"]
    rng = np.random.default_rng(34)
    q, v = floats(rng, 2, 4, 3), floats(rng, 2, 6, 3)
    weights = model.get_weights()
    expected = np.concatenate([
        scored_reference(q, v, v, dot_score(weights["luong/scale"].item()), causal=True),
        scored_reference(q, v, v, additive_score(weights["bahdanau/scale"].astype(np.float64)))], axis=-1)
    np.testing.assert_allclose(model.predict({"q": q, "v": v}), expected, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------
# the benchmark's references compute what the layer computes


def _load_benchmark():
    path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "attention.py"
    spec = importlib.util.spec_from_file_location("layerspec_benchmark_attention", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("causal", [False, True])
def test_benchmark_references_match_the_layer(causal, monkeypatch):
    benchmark = _load_benchmark()
    monkeypatch.setattr(benchmark, "BLOCK", 40)  # several blocks at this size
    model = benchmark.make_model(length=6, width=8, heads=2, key_dim=4, causal=causal)
    references = benchmark.make_references(model.get_weights(), heads=2, key_dim=4, causal=causal)
    assert set(references) == {"einsum", "matmul", "matmul views", "blocked"}
    x = floats(np.random.default_rng(35), 3, 6, 8)
    ours = model.predict(x)
    for reference in references.values():
        result = reference(x)
        assert result.dtype == np.float32
        np.testing.assert_allclose(result, ours, rtol=2e-4, atol=2e-5)


def test_scalar_weights_survive_a_weights_file_twice(tmp_path):
    # Attention's `scale` is 0-d, as Keras's: loading must keep it 0-d.
    spec = ("name: m\ninputs: {q: [4, 3], v: [6, 3]}\nlayers:\n"
            "  - {type: Attention, use_scale: true, inputs: [q, v], name: luong}\n")
    model = layerspec.loads(spec)
    model.init(seed=9)
    model.save_weights(tmp_path / "first.npz")
    model.load_weights(tmp_path / "first.npz")
    assert model.get_weights()["luong/scale"].shape == ()
    model.save_weights(tmp_path / "second.npz")
    again = layerspec.loads(spec)
    again.load_weights(tmp_path / "second.npz")
    assert again.get_weights()["luong/scale"].shape == ()
