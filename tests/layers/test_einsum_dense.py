"""EinsumDense: Keras 3's kernel and bias shapes from the equation, values
against a plain-loop einsum, costs, errors, and Keras's own weights."""

import itertools
import math

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers.einsum_dense import EinsumDense
from layerspec.model import Sequential
from layerspec.spec import build_model, loads_spec


def built(layer, shape):
    layer.build_for(shape)
    return layer


def einsum_reference(equation, x, kernel):
    """Plain loops: every combination of label values, the ellipsis's axes
    named by digits; output[out labels] += x[in labels] * kernel[kernel labels]."""
    inputs, output = equation.split("->")
    in_spec, kernel_spec = inputs.split(",")
    elided = x.ndim - len(in_spec.replace("...", ""))
    names = "".join(str(i) for i in range(elided))
    in_spec, output = in_spec.replace("...", names), output.replace("...", names)
    sizes = dict(zip(in_spec, x.shape))
    sizes.update(zip(kernel_spec, kernel.shape))
    out_shape = tuple(sizes[label] for label in output)
    out = np.zeros(out_shape)
    labels = sorted(sizes)
    for values in itertools.product(*(range(sizes[label]) for label in labels)):
        at = dict(zip(labels, values))
        out[tuple(at[label] for label in output)] += (float(x[tuple(at[label] for label in in_spec)])
                                                      * float(kernel[tuple(at[label] for label in kernel_spec)]))
    return out


def assign_random(layer, rng):
    for weight in layer.weights:
        weight.assign(rng.standard_normal(weight.shape).astype(np.float32))


# --------------------------------------------------------------------------
# shapes


@pytest.mark.parametrize("equation, output_shape, bias_axes, input_shape, kernel, bias, output", [
    # Keras's documented examples.
    ("ab,bc->ac", 64, "c", (None, 32), (32, 64), (64,), (None, 64)),
    ("abc,cd->abd", [None, 64], "d", (None, 32, 128), (128, 64), (64,), (None, 32, 64)),
    ("...b,bc->...c", 64, "c", (None, 32, 128), (128, 64), (64,), (None, 32, 64)),
    # MultiHeadAttention's projections (the transformer_block fixture's h5 shapes).
    ("abc,cde->abde", [None, 2, 8], "de", (None, 10, 16), (16, 2, 8), (2, 8), (None, 10, 2, 8)),
    ("abcd,cde->abe", [None, 16], "e", (None, 10, 2, 8), (2, 8, 16), (16,), (None, 10, 16)),
    # A bias over non-adjacent output axes spans from the first: size 1 between.
    ("abc,cde->abde", [5, 3, 4], "be", (None, 5, 6), (6, 3, 4), (5, 1, 4), (None, 5, 3, 4)),
    # An ellipsis on the right: the bias gets a 1 for each of its axes.
    ("ab...,bc->ac...", 7, "c", (None, 4, 3, 2), (4, 7), (7, 1, 1), (None, 7, 3, 2)),
    # A left ellipsis that is only the batch axis.
    ("...b,bc->...c", [6], None, (None, 4), (4, 6), None, (None, 6)),
    # With no ellipsis axes at all: the first label is the batch's.
    ("...ab,bc->...ac", [6], "c", (None, 4), (4, 6), (6,), (None, 6)),
    # A label shared by input, kernel and output (a stack of products).
    ("abc,bcd->abd", [5, 3], "bd", (None, 5, 4), (5, 4, 3), (5, 3), (None, 5, 3)),
    # A label summed away from the input alone.
    ("abc,cd->ad", [3], None, (None, 7, 4), (4, 3), None, (None, 3)),
    # Unknown sizes the kernel does not need.
    ("abc,cd->abd", [None, 8], "d", (None, None, 5), (5, 8), (8,), (None, None, 8)),
])
def test_weights_and_output_shapes_follow_keras(equation, output_shape, bias_axes, input_shape, kernel, bias,
                                                output):
    layer = built(EinsumDense(equation, output_shape, bias_axes=bias_axes), input_shape)
    expected = [("kernel", kernel)] + ([("bias", bias)] if bias is not None else [])
    assert [(w.name, w.shape) for w in layer.weights] == expected
    assert all(w.trainable for w in layer.weights)
    assert layer.compute_output_shape(input_shape) == output
    assert layer.count_params() == math.prod(kernel) + (math.prod(bias) if bias else 0)


def test_macs_are_the_product_of_every_label_size_per_sample():
    assert built(EinsumDense("ab,bc->ac", 64), (None, 32)).count_macs((None, 32)) == 32 * 64
    layer = EinsumDense("abc,cde->abde", [None, 2, 8], bias_axes="de")
    assert layer.count_macs((None, 10, 16)) == 10 * 16 * 2 * 8
    assert layer.count_elementwise((None, 10, 16)) == 10 * 2 * 8
    assert EinsumDense("...b,bc->...c", 6).count_macs((None, 3, 5, 4)) == 3 * 5 * 4 * 6
    assert EinsumDense("ab...,bc->ac...", 7).count_macs((None, 4, 3, 2)) == 4 * 7 * 3 * 2
    assert EinsumDense("abc,cd->ad", 3).count_macs((None, 7, 4)) == 7 * 4 * 3
    assert EinsumDense("abc,cd->abd", [None, 8]).count_macs((None, None, 5)) is None
    relu = EinsumDense("ab,bc->ac", 4, activation="relu", bias_axes="c")
    assert relu.count_elementwise((None, 3)) == 4 * 2


# --------------------------------------------------------------------------
# values


@pytest.mark.parametrize("equation, output_shape, bias_axes, x_shape", [
    ("ab,bc->ac", 5, "c", (3, 4)),
    ("abc,cd->abd", [None, 5], "d", (2, 3, 4)),
    ("abc,cde->abde", [None, 2, 3], "de", (2, 3, 4)),
    ("abcd,cde->abe", [None, 5], "e", (2, 3, 2, 4)),
    ("abc,bcd->abd", [None, 3], "bd", (2, 4, 5)),
    ("abc,cd->ad", 3, "d", (2, 3, 4)),
    ("abcd,dbe->aec", [3, None], "ec", (2, 4, 5, 3)),  # output axes transposed
    ("abc,cd->adb", [2, None], None, (2, 3, 4)),
    ("...b,bc->...c", 3, "c", (2, 3, 2, 4)),
    ("...ab,bc->...ac", [4, 3], "c", (2, 3, 4, 5)),
    ("ab...,bc->ac...", 3, "c", (2, 4, 3, 2)),
])
def test_values_match_a_plain_loop_einsum(equation, output_shape, bias_axes, x_shape):
    rng = np.random.default_rng(0)
    layer = built(EinsumDense(equation, output_shape, bias_axes=bias_axes), (None,) + x_shape[1:])
    assign_random(layer, rng)
    x = rng.standard_normal(x_shape).astype(np.float32)
    out = layer(x)
    expected = einsum_reference(equation, x, layer.kernel.value)
    if layer.bias is not None:
        expected = expected + layer.bias.value
    assert out.dtype == np.float32 and out.shape == expected.shape
    assert out.shape == (x_shape[0],) + layer.compute_output_shape((None,) + x_shape[1:])[1:]
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=2e-5)


def test_activation_and_float64():
    rng = np.random.default_rng(1)
    model = Sequential([EinsumDense("abc,cd->abd", [None, 4], activation="relu", bias_axes="d")],
                       input_shape=(3, 5), dtype="float64").init(seed=0)
    layer = model.layers[0]
    x = rng.standard_normal((2, 3, 5))
    out = model.predict(x)
    assert out.dtype == np.float64
    expected = np.maximum(einsum_reference("abc,cd->abd", x, layer.kernel.value) + layer.bias.value, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_the_kernel_is_drawn_with_keras_fans():
    """glorot_uniform over a (16, 2, 8) MultiHeadAttention kernel: Keras counts
    fan_in 16 (the input labels) and fan_out 2 * 8 (the output labels), not
    a convolution's receptive field."""
    layer = built(EinsumDense("abc,cde->abde", [None, 2, 8]), (None, 10, 16))
    model = Sequential([layer], input_shape=(10, 16)).init(seed=3)
    kernel = model.get_weights()["einsum_dense/kernel"]
    limit = math.sqrt(6 / (16 + 16))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    seeded = EinsumDense("ab,bc->ac", 3, kernel_initializer={"type": "glorot_uniform", "seed": 5})
    other = EinsumDense("ab,bc->ac", 3, kernel_initializer={"type": "glorot_uniform", "seed": 5})
    a = Sequential([seeded], input_shape=(4,)).init(seed=0).get_weights()["einsum_dense/kernel"]
    b = Sequential([other], input_shape=(4,)).init(seed=1).get_weights()["einsum_dense/kernel"]
    np.testing.assert_array_equal(a, b)
    ones = Sequential([EinsumDense("ab,bc->ac", 3, kernel_initializer="ones")], input_shape=(4,)).init(seed=0)
    np.testing.assert_array_equal(ones.get_weights()["einsum_dense/kernel"], np.ones((4, 3)))


def test_multi_head_attention_projections_compute_what_keras_computes():
    """Keras 3.15's MultiHeadAttention is four EinsumDense layers around a
    softmax: with the cross_attention fixture's h5 weights in ours (query,
    key, value 'abc,cde->abde', output 'abcd,cde->abe'), and the attention
    written here, the result must be Keras's output."""
    from tests.keras_fixtures import ATOL, RTOL, load_fixture

    fixture = load_fixture("cross_attention")
    query, value = fixture.inputs["query"], fixture.inputs["value"]  # (4, 5, 12), (4, 7, 6)

    def projection(name, equation, output_shape, bias_axes, input_shape):
        layer = built(EinsumDense(equation, output_shape, bias_axes=bias_axes, name=name), input_shape)
        layer.kernel.assign(fixture.h5[f"layers/multi_head_attention/{name}/vars/0"])
        layer.bias.assign(fixture.h5[f"layers/multi_head_attention/{name}/vars/1"])
        return layer

    q = projection("query_dense", "abc,cde->abde", [None, 3, 4], "de", (None, 5, 12))(query)
    k = projection("key_dense", "abc,cde->abde", [None, 3, 4], "de", (None, 7, 6))(value)
    v = projection("value_dense", "abc,cde->abde", [None, 3, 4], "de", (None, 7, 6))(value)
    scores = np.einsum("aecd,abcd->acbe", k, q / np.sqrt(4.0))
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    attention = scores / scores.sum(axis=-1, keepdims=True)
    heads = np.einsum("acbe,aecd->abcd", attention, v).astype(np.float32)
    out = projection("output_dense", "abcd,cde->abe", [None, 9], "e", (None, 5, 3, 4))(heads)
    np.testing.assert_allclose(out, fixture.outputs["multi_head_attention"], rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("equation, message", [
    ("ab,bc", "argument 'equation': 'ab,bc' is not an EinsumDense equation; write INPUT,KERNEL->OUTPUT in letters, "
              "e.g. 'ab,bc->ac', '...b,bc->...c' or 'abc...,cd->abd...'"),
    ("ab, bc->ac", "argument 'equation': 'ab, bc->ac' is not an EinsumDense equation; write INPUT,KERNEL->OUTPUT in "
                   "letters, e.g. 'ab,bc->ac', '...b,bc->...c' or 'abc...,cd->abd...'"),
    ("a...,bc->c...", "argument 'equation': 'a...,bc->c...' is not an EinsumDense equation; write INPUT,KERNEL->"
                      "OUTPUT in letters, e.g. 'ab,bc->ac', '...b,bc->...c' or 'abc...,cd->abd...'"),
    ("aab,bc->ac", "argument 'equation': label 'a' appears twice in the input 'aab' of 'aab,bc->ac'"),
    ("ab,bc->ad", "argument 'equation': output label 'd' of 'ab,bc->ad' is in neither the input 'ab' nor the kernel "
                  "'bc'"),
    ("ab,bd->a", "argument 'equation': kernel label 'd' of 'ab,bd->a' is in neither the input 'ab' nor the output "
                 "'a', so its size is unknown"),
    ("ab,bc->ca", "argument 'equation': the output 'ca' of 'ab,bc->ca' must start with the batch label 'a', as the "
                  "input does"),
    ("ab,ab->ab", "argument 'equation': the kernel 'ab' of 'ab,ab->ab' cannot hold the batch label 'a'"),
])
def test_equation_errors(equation, message):
    with pytest.raises(ArgumentError) as caught:
        EinsumDense(equation, 3)
    assert caught.value.message == message


@pytest.mark.parametrize("kwargs, message", [
    ({"equation": "ab,bc->ac", "output_shape": 3, "bias_axes": "d"},
     "argument 'bias_axes': label 'd' is not in the output 'ac' of 'ab,bc->ac'"),
    ({"equation": "ab,bc->ac", "output_shape": 3, "bias_axes": "a"},
     "argument 'bias_axes': 'a' is the batch label of 'ab,bc->ac'; a bias cannot span the batch"),
    ({"equation": "ab,bc->ac", "output_shape": 3, "bias_axes": "c1"},
     "argument 'bias_axes' must be a string of output labels or null, got string 'c1'"),
    ({"equation": "ab,bc->ac", "output_shape": 0},
     "argument 'output_shape' must be an integer >= 1 or a list of integers >= 1 or nulls, got integer 0"),
    ({"equation": "ab,bc->ac", "output_shape": []},
     "argument 'output_shape' must be an integer >= 1 or a list of integers >= 1 or nulls, got a list"),
    ({"equation": 5, "output_shape": 3}, "argument 'equation' must be an einsum equation such as 'ab,bc->ac', got "
                                         "integer 5"),
    ({"equation": "ab,bc->ac"}, "missing required argument 'output_shape'"),
    ({"equation": "ab,bc->ac", "output_shape": 3, "lora_rank": 4},
     "argument 'lora_rank' is a Keras training option that layerspec does not support (it runs inference only)"),
])
def test_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        EinsumDense(**kwargs)
    assert caught.value.message == message


@pytest.mark.parametrize("equation, output_shape, input_shape, message", [
    ("ab,bc->ac", 3, (None, 4, 5), "equation 'ab,bc->ac' takes inputs of rank 2 (the batch axis included), got "
                                   "(None, 4, 5)"),
    ("...abc,cd->...abd", [3, 3, 2], (None, 4),
     "equation '...abc,cd->...abd' takes inputs of rank 3 or more (the batch axis included), got (None, 4)"),
    ("ab,bc->ac", [3, 4], (None, 5), "output_shape [3, 4] has 2 sizes, but the output 'ac' of 'ab,bc->ac' needs 1, "
                                     "for 'c' (the first label is the batch's)"),
    ("...b,bc->...c", [3, 4], (None, 2, 5), "output_shape [3, 4] has 2 sizes, but the output 'c' of '...b,bc->...c' "
                                            "needs 1, for 'c'"),
    ("abc,cd->abd", [7, 3], (None, 5, 4), "output_shape gives label 'b' size 7, but the input (None, 5, 4) has 5 "
                                          "there"),
    ("abc,cd->abd", [None, None], (None, 5, 4), "the kernel needs the size of label 'd', which output_shape leaves "
                                                "unknown (input (None, 5, 4), output_shape [null, null])"),
    ("abc,bcd->abd", [None, 3], (None, None, 4), "the kernel needs the size of label 'b', which output_shape leaves "
                                                 "unknown (input (None, None, 4), output_shape [null, 3])"),
    ("abc,cd->abd", [None, 3], (None, 5, None), "the kernel needs the size of label 'c', which the input leaves "
                                                "unknown (input (None, 5, None), output_shape [null, 3])"),
])
def test_shape_errors(equation, output_shape, input_shape, message):
    with pytest.raises(ShapeError) as caught:
        EinsumDense(equation, output_shape).compute_output_shape(input_shape)
    assert caught.value.message == message


def test_bias_over_an_unknown_size_is_refused():
    with pytest.raises(ShapeError) as caught:
        built(EinsumDense("abc,cd->abd", [None, 3], bias_axes="bd"), (None, None, 4))
    assert caught.value.message == "the bias needs the size of label 'b', which is unknown (input (None, None, 4))"


def test_in_a_spec():
    model = layerspec.loads("""
input: [10, 16]
layers:
  - {type: EinsumDense, equation: "abc,cde->abde", output_shape: [null, 2, 8], bias_axes: de}
  - {type: EinsumDense, equation: "abcd,cde->abe", output_shape: [null, 16], bias_axes: e, activation: gelu}
""")
    assert model.output_shape == (None, 10, 16)
    assert model.count_params() == 16 * 16 + 16 + 16 * 16 + 16
    out = model.init(seed=0).predict(np.random.default_rng(2).standard_normal((3, 10, 16)).astype(np.float32))
    assert out.shape == (3, 10, 16) and out.dtype == np.float32
    spec = loads_spec("""input: [4]
layers:
  - type: EinsumDense
    equation: "ab,bc->cd"
    output_shape: 3
""", path="e.yaml")
    with pytest.raises(ArgumentError) as caught:
        build_model(spec)
    assert str(caught.value) == ("e.yaml:4:15: layer 1 'einsum_dense' (EinsumDense): argument 'equation': output "
                                 "label 'd' of 'ab,bc->cd' is in neither the input 'ab' nor the kernel 'bc'")
