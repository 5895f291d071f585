"""Merge layers: shapes by Keras's merge rule, exact errors, values against
plain loops, costs."""

import itertools
import math
import warnings

import numpy as np
import pytest

from layerspec import registry
from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers.merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract,
                                      l2_normalize)

ELEMENTWISE = [Add, Subtract, Multiply, Average, Maximum, Minimum]
SEVERAL = [Add, Multiply, Average, Maximum, Minimum]  # any number of inputs

#: The operation of each elementwise merge on Python floats, in Keras's order.
REDUCTIONS = {
    Add: lambda values: _fold(lambda a, b: a + b, values),
    Subtract: lambda values: values[0] - values[1],
    Multiply: lambda values: _fold(lambda a, b: a * b, values),
    Average: lambda values: _fold(lambda a, b: a + b, values) / len(values),
    Maximum: lambda values: _fold(max, values),
    Minimum: lambda values: _fold(min, values),
}


def _fold(operation, values):
    result = values[0]
    for value in values[1:]:
        result = operation(result, value)
    return result


def merge_reference(layer_class, arrays):
    """Plain loops: each output index reads every input at the index the
    merge rule gives it (per-sample axes lined up from the right, size-1
    axes read at 0)."""
    rank = max(x.ndim for x in arrays)
    sizes = [max(x.shape[x.ndim - rank + axis] if axis >= rank - x.ndim + 1 else 1 for x in arrays)
             for axis in range(1, rank)]
    out = np.zeros((len(arrays[0]),) + tuple(sizes))
    for index in itertools.product(*(range(n) for n in out.shape)):
        values = []
        for x in arrays:
            own = [0 if x.shape[axis] == 1 else index[axis + rank - x.ndim] for axis in range(1, x.ndim)]
            values.append(float(x[(index[0],) + tuple(own)]))
        out[index] = REDUCTIONS[layer_class](values)
    return out


def built(layer, shapes):
    layer.build_for(shapes)
    return layer


# --------------------------------------------------------------------------
# elementwise merges: shapes


@pytest.mark.parametrize("shapes, expected", [
    ([(None, 4), (None, 4)], (None, 4)),
    ([(None, 3, 4), (None, 4)], (None, 3, 4)),          # fewer axes: lined up from the right
    ([(None, 4), (None, 3, 4)], (None, 3, 4)),
    ([(None, 1, 4), (None, 3, 1)], (None, 3, 4)),       # size 1 broadcasts
    ([(None, None, 4), (None, 3, 4)], (None, None, 4)),  # unknown stays unknown (Keras's rule)
    ([(None, 1), (None, None)], (None, None)),
    ([(None, 5), (None, None)], (None, None)),
    ([(None,), (None, 3)], (None, 3)),                  # a batch-only input
    ([(2, 4), (None, 4)], (2, 4)),                      # a known batch size is kept
    ([(None, 2, 1, 4), (None, 3, 1)], (None, 2, 3, 4)),
])
@pytest.mark.parametrize("layer_class", ELEMENTWISE)
def test_elementwise_output_shapes(layer_class, shapes, expected):
    layer = built(layer_class(), shapes)
    assert layer.compute_output_shape(shapes) == expected
    assert layer.compute_output_shape([list(shape) for shape in shapes]) == expected  # lists too (JSON)
    assert layer.takes_several_inputs is True


@pytest.mark.parametrize("shapes, expected", [
    ([(None, 4)], (None, 4)),                           # Keras 3 merges a list of at least 1
    ([(None, 1, 4), (None, 3, 1), (None, 4)], (None, 3, 4)),
    ([(None, 4), (None, 4), (None, 4), (None, 4)], (None, 4)),
])
@pytest.mark.parametrize("layer_class", SEVERAL)
def test_merges_of_one_or_several_inputs(layer_class, shapes, expected):
    assert built(layer_class(), shapes).compute_output_shape(shapes) == expected


@pytest.mark.parametrize("layer_class, verb", [
    (Add, "added"), (Subtract, "subtracted"), (Multiply, "multiplied"), (Average, "averaged"),
    (Maximum, "merged by Maximum"), (Minimum, "merged by Minimum"),
])
def test_incompatible_shapes_name_both_shapes(layer_class, verb):
    with pytest.raises(ShapeError) as caught:
        layer_class().build_for([(None, 4), (None, 5)])
    assert caught.value.message == (f"inputs with shapes (None, 4) and (None, 5) cannot be {verb}: "
                                    "sizes 4 and 5 on axis -1 differ, and neither is 1")


@pytest.mark.parametrize("shapes, message", [
    ([(None, 3, 4), (None, 5, 4)],
     "inputs with shapes (None, 3, 4) and (None, 5, 4) cannot be added: sizes 3 and 5 on axis -2 differ, "
     "and neither is 1"),
    # The third input clashes with the first, whose 3 the second (size 1) did not change.
    ([(None, 3, 4), (None, 1, 4), (None, 5, 4)],
     "inputs with shapes (None, 3, 4) and (None, 5, 4) cannot be added: sizes 3 and 5 on axis -2 differ, "
     "and neither is 1"),
    # The 3 came from the second input.
    ([(None, 1, 4), (None, 3, 4), (None, 5, 4)],
     "inputs with shapes (None, 3, 4) and (None, 5, 4) cannot be added: sizes 3 and 5 on axis -2 differ, "
     "and neither is 1"),
    # Different ranks: the longer shape's extra axis came from the new input.
    ([(None, 4), (None, 3, 4), (None, 2, 4)],
     "inputs with shapes (None, 3, 4) and (None, 2, 4) cannot be added: sizes 3 and 2 on axis -2 differ, "
     "and neither is 1"),
    ([(None, 2, 3), (None, 3, 2)],
     "inputs with shapes (None, 2, 3) and (None, 3, 2) cannot be added: sizes 2 and 3 on axis -2 differ, "
     "and neither is 1"),
    ([(2, 4), (3, 4)], "inputs with shapes (2, 4) and (3, 4) have different batch sizes (2 and 3)"),
    ((None, 4), "Add merges a list of inputs, got one input of shape (None, 4); name its inputs, "
                "e.g. 'inputs: [a, b]'"),
    ([], "Add takes a list of at least 1 input, got an empty list"),
])
def test_add_shape_errors(shapes, message):
    with pytest.raises(ShapeError) as caught:
        Add().compute_output_shape(shapes)
    assert caught.value.message == message


@pytest.mark.parametrize("shapes, message", [
    ([(None, 4)] * 3, "Subtract takes exactly 2 inputs, got 3: (None, 4), (None, 4) and (None, 4)"),
    ([(None, 4)], "Subtract takes exactly 2 inputs, got 1: (None, 4)"),
])
def test_subtract_takes_exactly_two_inputs(shapes, message):
    for attempt in (lambda: Subtract().build_for(shapes), lambda: Subtract().compute_output_shape(shapes)):
        with pytest.raises(ShapeError) as caught:
            attempt()
        assert caught.value.message == message
    with pytest.raises(ShapeError) as caught:
        Subtract().call([np.zeros((1,) + shape[1:], np.float32) for shape in shapes])
    assert caught.value.message == message.replace("None", "1")  # the arrays' own shapes


def test_merges_take_only_the_standard_arguments():
    with pytest.raises(ArgumentError) as caught:
        Add(axis=1)
    assert caught.value.message == "unknown argument 'axis'"
    assert Add(name="skip").name == "skip"
    assert {name for name in registry.arguments_of(Add)} == {"name", "trainable"}


# --------------------------------------------------------------------------
# elementwise merges: values


@pytest.mark.parametrize("shapes", [
    [(2, 3, 4), (2, 3, 4)],
    [(2, 3, 4), (2, 4)],
    [(2, 4), (2, 3, 4)],
    [(2, 1, 4), (2, 3, 1)],
    [(2,), (2, 3)],
    [(2, 2, 1, 3), (2, 4, 1), (2, 3)],
    [(3, 2), (3, 2), (3, 2), (3, 2)],
])
@pytest.mark.parametrize("layer_class", ELEMENTWISE)
def test_elementwise_values_match_plain_loops(layer_class, shapes):
    if layer_class is Subtract and len(shapes) != 2:
        return
    rng = np.random.default_rng(len(shapes))
    arrays = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    layer = built(layer_class(), [(None,) + shape[1:] for shape in shapes])
    out = layer.call(arrays)
    assert out.dtype == np.float32
    assert out.shape == (2 if shapes[0][0] == 2 else 3,) + layer.compute_output_shape(
        [(None,) + shape[1:] for shape in shapes])[1:]
    np.testing.assert_allclose(out, merge_reference(layer_class, arrays), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer_class", SEVERAL)
def test_a_single_input_merges_to_itself(layer_class):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = layer_class().call([x])
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(x, np.arange(6).reshape(2, 3))  # Average did not divide x in place


def test_average_divides_by_the_count_as_keras_does():
    rng = np.random.default_rng(0)
    x, y, z = (rng.standard_normal((1, 1000)).astype(np.float32) for _ in range(3))
    expected = ((x + y) + z) / np.float32(3)
    scaled = ((x + y) + z) * (np.float32(1) / np.float32(3))
    assert (expected != scaled).any()  # a multiplication by 1/3 would round differently
    np.testing.assert_array_equal(Average().call([x, y, z]), expected)


def test_dtypes_float32_stays_float32_and_integers_stay_integers():
    x32 = np.ones((2, 3), np.float32)
    ints = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert Add().call([x32, ints]).dtype == np.float32  # not NumPy's float64 promotion
    assert Add().call([ints, ints]).dtype == np.int32
    np.testing.assert_array_equal(Add().call([ints, ints]), 2 * ints)
    mean = Average().call([ints, ints + 1])
    assert mean.dtype == np.float32
    np.testing.assert_array_equal(mean, ints + 0.5)
    layer = Add()
    layer.dtype = "float64"
    assert layer.call([x32, x32]).dtype == np.float64


def test_sizes_unknown_at_build_must_agree_when_called():
    layer = built(Add(), [(None, None), (None, None)])
    with pytest.raises(ShapeError) as caught:
        layer.call([np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)])
    assert caught.value.message == ("inputs with shapes (2, 3) and (2, 4) cannot be added: sizes 3 and 4 on "
                                    "axis -1 differ, and neither is 1")
    with pytest.raises(ShapeError) as caught:
        layer.call([np.zeros((2, 3), np.float32), np.zeros((5, 3), np.float32)])
    assert caught.value.message == "inputs with shapes (2, 3) and (5, 3) have different batch sizes (2 and 5)"


def test_edge_values_as_keras_gives_them():
    inf = np.float32(np.inf)
    x = np.array([[inf, -inf, 1000, -1000, inf]], np.float32)
    y = np.array([[1, 1, 1000, -1000, -inf]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # inf - inf: NaN, as in Keras
        added = Add().call([x, y])
    np.testing.assert_array_equal(added[0, :4], [inf, -inf, 2000, -2000])
    assert np.isnan(added[0, 4])
    np.testing.assert_array_equal(Maximum().call([x, y]), [[inf, 1, 1000, -1000, inf]])
    np.testing.assert_array_equal(Minimum().call([x, y]), [[1, -inf, 1000, -1000, -inf]])
    np.testing.assert_array_equal(Average().call([x[:, 2:4], y[:, 2:4]]), [[1000, -1000]])


@pytest.mark.parametrize("layer_class, shapes, elementwise", [
    (Add, [(None, 3, 4)] * 3, 24),          # 2 additions per output element
    (Add, [(None, 3, 4), (None, 4)], 12),
    (Add, [(None, 4)], 0),
    (Subtract, [(None, 3, 4), (None, 1, 4)], 12),
    (Multiply, [(None, 5)] * 4, 15),
    (Average, [(None, 3, 4)] * 3, 36),      # 2 additions and a division
    (Average, [(None, 4)], 4),
    (Maximum, [(None, 2, 3), (None, 2, 3)], 6),
    (Minimum, [(None, 2, 3), (None, 2, 3)], 6),
    (Add, [(None, None, 4), (None, 1, 4)], None),
])
def test_elementwise_costs(layer_class, shapes, elementwise):
    layer = built(layer_class(), shapes)
    assert layer.has_macs is False
    assert layer.count_macs(shapes) == 0
    assert layer.count_elementwise(shapes) == elementwise
    assert layer.count_flops(shapes) == elementwise
    assert layer.count_params() == 0 and layer.weights == []


# --------------------------------------------------------------------------
# Concatenate


@pytest.mark.parametrize("axis, shapes, expected", [
    (-1, [(None, 3, 4), (None, 3, 5)], (None, 3, 9)),
    (2, [(None, 3, 4), (None, 3, 5), (None, 3, 1)], (None, 3, 10)),
    (1, [(None, 3, 4), (None, 2, 4)], (None, 5, 4)),
    (-2, [(None, 3, 4), (None, 2, 4)], (None, 5, 4)),
    (-1, [(None, 3, 4), (None, 3, None)], (None, 3, None)),   # an unknown part: unknown total
    (-1, [(None, None, 4), (None, 3, 5)], (None, None, 9)),   # None matches 3; the first's size is kept
    (-1, [(None, 3, 4), (None, None, 5)], (None, 3, 9)),
    (-1, [(None, 4)], (None, 4)),
    (-1, [(None, 4), (7, 2)], (7, 6)),
])
def test_concatenate_shapes(axis, shapes, expected):
    layer = built(Concatenate(axis=axis), shapes)
    assert layer.compute_output_shape(shapes) == expected
    assert layer.takes_several_inputs is True


@pytest.mark.parametrize("axis, shapes, message", [
    (-1, [(None, 3, 4), (None, 5, 4)],
     "inputs with shapes (None, 3, 4) and (None, 5, 4) cannot be concatenated along axis -1: sizes 3 and 5 "
     "on axis 1 differ"),
    (-1, [(None, None, 4), (None, 3, 4), (None, 2, 4)],
     "inputs with shapes (None, 3, 4) and (None, 2, 4) cannot be concatenated along axis -1: sizes 3 and 2 "
     "on axis 1 differ"),
    (-1, [(None, 4), (None, 3, 4)],
     "inputs with shapes (None, 4) and (None, 3, 4) cannot be concatenated: they have 2 and 3 axes"),
    (3, [(None, 3, 4), (None, 3, 4)],
     "axis 3 is out of range for inputs with 3 axes, such as (None, 3, 4)"),
    (-4, [(None, 3, 4), (None, 3, 4)],
     "axis -4 is out of range for inputs with 3 axes, such as (None, 3, 4)"),
    (0, [(None, 4), (None, 4)],
     "axis 0 is the batch axis of the inputs, such as (None, 4); concatenate along a feature axis such as -1"),
    (-1, (None, 4),
     "Concatenate merges a list of inputs, got one input of shape (None, 4); name its inputs, "
     "e.g. 'inputs: [a, b]'"),
])
def test_concatenate_errors(axis, shapes, message):
    with pytest.raises(ShapeError) as caught:
        Concatenate(axis=axis).build_for(shapes)
    assert caught.value.message == message
    if "axis" in message.split(" ")[0]:
        assert caught.value.argument == "axis"


def test_concatenate_values_match_plain_loops():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b = rng.standard_normal((2, 2, 4)).astype(np.float32)
    out = built(Concatenate(axis=1), [(None, 3, 4), (None, 2, 4)]).call([a, b])
    assert out.shape == (2, 5, 4) and out.dtype == np.float32
    for sample, row, column in itertools.product(range(2), range(5), range(4)):
        source = a[sample, row] if row < 3 else b[sample, row - 3]
        assert out[sample, row, column] == source[column]
    layer = Concatenate()
    with pytest.raises(ShapeError):  # sizes that were unknown at build must still agree
        layer.call([a, b])


def test_concatenate_costs_nothing_but_copies():
    shapes = [(None, 3, 4), (None, 3, 5)]
    layer = built(Concatenate(), shapes)
    assert layer.has_macs is False
    assert (layer.count_macs(shapes), layer.count_elementwise(shapes), layer.count_params()) == (0, 0, 0)


def test_concatenate_argument_errors():
    with pytest.raises(ArgumentError) as caught:
        Concatenate(axis=1.5)
    assert caught.value.message == "argument 'axis' must be an integer, got number 1.5"


# --------------------------------------------------------------------------
# Dot


@pytest.mark.parametrize("axes, shapes, expected", [
    (1, [(None, 5), (None, 5)], (None, 1)),
    (-1, [(None, 5), (None, 5)], (None, 1)),
    (1, [(None, 3, 4), (None, 3, 5)], (None, 4, 5)),
    (2, [(None, 3, 4), (None, 5, 4)], (None, 3, 5)),
    ([2, 1], [(None, 3, 4), (None, 4, 5)], (None, 3, 5)),
    ([-1, -2], [(None, 3, 4), (None, 4, 5)], (None, 3, 5)),
    ([1, 1], [(None, 4), (None, 4, 5)], (None, 5)),
    ([2, 1], [(None, 3, 4), (None, 4)], (None, 3)),
    (-1, [(None, 3, 4), (None, 4)], (None, 3)),               # -1 resolved for each input
    (1, [(None, None), (None, 5)], (None, 1)),                # an unknown size matches any
    ([1, 2], [(None, 3, 4, 5), (None, 6, 3)], (None, 4, 5, 6)),
])
def test_dot_shapes(axes, shapes, expected):
    layer = built(Dot(axes=axes), shapes)
    assert layer.compute_output_shape(shapes) == expected
    assert layer.takes_several_inputs is True


@pytest.mark.parametrize("axes, shapes, message, argument", [
    (1, [(None, 4), (None, 5)],
     "inputs with shapes (None, 4) and (None, 5) cannot be multiplied on axes (1, 1): sizes 4 and 5 differ", None),
    ([1, 2], [(None, 3, 4), (None, 4, 5)],
     "inputs with shapes (None, 3, 4) and (None, 4, 5) cannot be multiplied on axes (1, 2): sizes 3 and 5 "
     "differ", None),
    (0, [(None, 4), (None, 4)],
     "axes 0: axis 0 is the batch axis of the input (None, 4); take the product over a feature axis", "axes"),
    ([1, -3], [(None, 4), (None, 3, 4)],
     "axes [1, -3]: axis -3 is the batch axis of the input (None, 3, 4); take the product over a feature axis",
     "axes"),
    (2, [(None, 4), (None, 4)],
     "axes 2: axis 2 is out of range for the input (None, 4), which has 2 axes", "axes"),
    (1, [(None,), (None, 4)], "needs inputs with a feature axis (at least 2 axes), got (None,)", None),
    (1, [(None, 4)] * 3, "Dot takes exactly 2 inputs, got 3: (None, 4), (None, 4) and (None, 4)", None),
])
def test_dot_errors(axes, shapes, message, argument):
    with pytest.raises(ShapeError) as caught:
        Dot(axes=axes).build_for(shapes)
    assert caught.value.message == message
    assert caught.value.argument == argument


@pytest.mark.parametrize("kwargs, message", [
    ({}, "missing required argument 'axes'"),
    ({"axes": [1, 2, 3]}, "argument 'axes' must be an integer or a list of 2 integers, got a list"),
    ({"axes": True}, "argument 'axes' must be an integer or a list of 2 integers, got boolean true"),
    ({"axes": 1, "normalize": 1}, "argument 'normalize' must be true or false, got integer 1"),
])
def test_dot_argument_errors(kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        Dot(**kwargs)
    assert caught.value.message == message


def normalized_reference(x: np.ndarray, axis: int) -> np.ndarray:
    """Plain loops: each vector along ``axis`` times rsqrt(max(sum of squares, 1e-14))."""
    moved = np.moveaxis(x.astype(np.float64), axis, -1)
    out = np.empty_like(moved)
    for index in itertools.product(*(range(n) for n in moved.shape[:-1])):
        squares = sum(float(v) ** 2 for v in moved[index])
        out[index] = moved[index] / math.sqrt(max(squares, 1e-14))
    return np.moveaxis(out, -1, axis)


def dot_reference(x, y, axis_x, axis_y, normalize):
    """Plain loops over Keras's batch-dot output: x's other axes, then y's."""
    if normalize:
        x, y = normalized_reference(x, axis_x), normalized_reference(y, axis_y)
    x, y = np.moveaxis(x, axis_x, -1), np.moveaxis(y, axis_y, 1)
    rest_x, rest_y = x.shape[1:-1], y.shape[2:]
    out = np.zeros((len(x),) + rest_x + rest_y)
    for sample in range(len(x)):
        for i in itertools.product(*(range(n) for n in rest_x)):
            for j in itertools.product(*(range(n) for n in rest_y)):
                out[(sample,) + i + j] = sum(float(x[(sample,) + i + (k,)]) * float(y[(sample, k) + j])
                                             for k in range(x.shape[-1]))
    return out.reshape(len(x), -1) if not rest_x + rest_y else out


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("axes, shape_x, shape_y, axis_x, axis_y", [
    (1, (3, 5), (3, 5), 1, 1),
    (1, (3, 3, 4), (3, 3, 5), 1, 1),
    (2, (3, 3, 4), (3, 5, 4), 2, 2),
    ([2, 1], (3, 3, 4), (3, 4, 5), 2, 1),
    ([1, 1], (3, 4), (3, 4, 5), 1, 1),
    ([2, 1], (3, 3, 4), (3, 4), 2, 1),
])
def test_dot_values_match_plain_loops(normalize, axes, shape_x, shape_y, axis_x, axis_y):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape_x).astype(np.float32)
    y = rng.standard_normal(shape_y).astype(np.float32)
    layer = built(Dot(axes=axes, normalize=normalize), [(None,) + shape_x[1:], (None,) + shape_y[1:]])
    out = layer.call([x, y])
    assert out.dtype == np.float32
    assert out.shape == (3,) + layer.compute_output_shape([(None,) + shape_x[1:], (None,) + shape_y[1:]])[1:]
    np.testing.assert_allclose(out, dot_reference(x, y, axis_x, axis_y, normalize), rtol=1e-5, atol=1e-6)


def test_dot_normalize_gives_cosine_similarity():
    x = np.array([[3.0, 4.0], [1.0, 0.0]], np.float32)
    y = np.array([[4.0, 3.0], [0.0, 2.0]], np.float32)
    np.testing.assert_allclose(Dot(axes=1, normalize=True).call([x, y]), [[0.96], [0.0]], rtol=1e-6)


def test_normalize_clamps_the_squared_norm_as_keras_3():
    # Keras 3: x * rsqrt(max(sum(x**2), epsilon**2)), epsilon = 1e-7.
    zero = np.zeros((1, 3), np.float32)
    np.testing.assert_array_equal(l2_normalize(zero, 1), zero)
    tiny = np.array([[5e-8, 0.0]], np.float32)  # sum of squares 2.5e-15 < 1e-14: scaled by 1e7
    np.testing.assert_allclose(l2_normalize(tiny, 1), [[0.5, 0.0]], rtol=1e-6)
    small = np.array([[3e-7, 4e-7]], np.float32)  # norm 5e-7: a unit vector
    np.testing.assert_allclose(l2_normalize(small, 1), [[0.6, 0.8]], rtol=1e-6)
    assert l2_normalize(small, 1).dtype == np.float32


def test_normalize_of_huge_and_infinite_vectors_gives_their_direction():
    x = np.array([[3e30, 4e30], [np.inf, 5.0], [np.inf, -np.inf], [1.0, 2.0], [np.nan, 1.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = l2_normalize(x, 1)
    np.testing.assert_allclose(out[:4], [[0.6, 0.8], [1.0, 0.0], [0.5 ** 0.5, -(0.5 ** 0.5)],
                                         [1 / 5 ** 0.5, 2 / 5 ** 0.5]], rtol=1e-6)
    assert np.isnan(out[4]).all()
    assert out.dtype == np.float32


def test_dot_edge_values():
    x = np.array([[1000.0, -1000.0]], np.float32)
    y = np.array([[1000.0, 1000.0]], np.float32)
    np.testing.assert_array_equal(Dot(axes=1).call([x, y]), [[0.0]])
    np.testing.assert_allclose(Dot(axes=1, normalize=True).call([x, y]), [[0.0]], atol=1e-7)
    np.testing.assert_allclose(Dot(axes=1, normalize=True).call([x, x]), [[1.0]], rtol=1e-6)


def test_dot_sizes_unknown_at_build_must_agree_when_called():
    layer = built(Dot(axes=1), [(None, None), (None, None)])
    with pytest.raises(ShapeError) as caught:
        layer.call([np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)])
    assert caught.value.message == ("inputs with shapes (2, 3) and (2, 4) cannot be multiplied on axes (1, 1): "
                                    "sizes 3 and 4 differ")


@pytest.mark.parametrize("normalize, shapes, macs, elementwise", [
    (False, [(None, 5), (None, 5)], 5, 0),
    (True, [(None, 5), (None, 5)], 5 + 10, 10 + 2),
    (False, [(None, 3, 4), (None, 3, 5)], 4 * 5 * 3, 0),
    # + a multiply-accumulate per input element (the sums of squares); the
    # scaling of each element and one inverse square root per vector (4 + 5).
    (True, [(None, 3, 4), (None, 3, 5)], 60 + 12 + 15, 12 + 15 + 4 + 5),
    (False, [(None, None, 4), (None, 3, 5)], None, 0),
    (False, [(None, 3, None), (None, 3, 5)], None, 0),
])
def test_dot_costs(normalize, shapes, macs, elementwise):
    layer = built(Dot(axes=1, normalize=normalize), shapes)
    assert layer.has_macs is True
    assert layer.count_macs(shapes) == macs
    assert layer.count_elementwise(shapes) == elementwise
    assert layer.count_params() == 0


def test_merges_are_registered_built_in_types():
    for name, layer_class in [("Add", Add), ("subtract", Subtract), ("MULTIPLY", Multiply), ("average", Average),
                              ("maximum", Maximum), ("minimum", Minimum), ("concatenate", Concatenate),
                              ("dot", Dot)]:
        assert registry.lookup(name) is layer_class
        assert registry.origin_of(name) == "built-in"


# --------------------------------------------------------------------------
# masks (Keras 3.15: OR for the elementwise merges, widened and joined for
# Concatenate, none after Dot)


def or_reference(masks):
    """Plain loops: a position counts when it counts in any input."""
    out = np.zeros(masks[0].shape, bool)
    for position in np.ndindex(*out.shape):
        out[position] = any(bool(mask[position]) for mask in masks)
    return out


@pytest.mark.parametrize("merge", SEVERAL)
def test_elementwise_merge_masks_combine_with_or(merge):
    rng = np.random.default_rng(3)
    masks = [rng.random((2, 5)) < 0.5 for _ in range(3)]
    layer = merge()
    assert layer.supports_masking
    assert layer.compute_mask_shape([(None, 5, 4)] * 3, [(None, 5)] * 3) == (None, 5)
    np.testing.assert_array_equal(layer.compute_mask([np.zeros((2, 5, 4))] * 3, masks), or_reference(masks))


def test_an_unmasked_input_leaves_the_merge_without_a_mask():
    layer = Add()
    assert layer.compute_mask_shape([(None, 5, 4)] * 2, [(None, 5), None]) is None
    assert layer.compute_mask([np.zeros((1, 5, 4))] * 2, [np.ones((1, 5), bool), None]) is None


def test_merge_masks_that_do_not_broadcast_are_refused():
    with pytest.raises(ShapeError, match=r"the inputs' masks \(None, 5\), \(None, 6\) do not broadcast together"):
        Add().compute_mask_shape([(None, 5, 4), (None, 6, 4)], [(None, 5), (None, 6)])


def concatenate_mask_reference(inputs, masks, axis):
    """Keras's rule written out: widen each mask to its input (all True when
    absent, repeated along the last axis when one axis short), join along
    ``axis``, then OR over the last axis."""
    widened = []
    for x, mask in zip(inputs, masks):
        full = np.zeros(x.shape, bool)
        for position in np.ndindex(*x.shape):
            full[position] = True if mask is None else bool(mask[position[:mask.ndim]])
        widened.append(full)
    joined = np.concatenate(widened, axis=axis)
    out = np.zeros(joined.shape[:-1], bool)
    for position in np.ndindex(*out.shape):
        out[position] = any(joined[position])
    return out


@pytest.mark.parametrize("axis", [1, -1])
def test_concatenate_masks_as_keras_joins_them(axis):
    rng = np.random.default_rng(5)
    inputs = [np.zeros((2, 4, 3)), np.zeros((2, 4, 3))]
    masks = [rng.random((2, 4)) < 0.5, None]
    layer = Concatenate(axis=axis)
    expected = concatenate_mask_reference(inputs, masks, axis)
    assert layer.compute_mask_shape([(None, 4, 3)] * 2, [(None, 4), None]) == (None,) + expected.shape[1:]
    np.testing.assert_array_equal(layer.compute_mask(inputs, masks), expected)
    assert layer.compute_mask(inputs, [None, None]) is None


def test_concatenate_refuses_a_mask_two_axes_short():
    with pytest.raises(ShapeError, match=r"an input's mask \(None,\) does not fit its input \(None, 4, 3\)"):
        Concatenate().compute_mask_shape([(None, 4, 3)] * 2, [(None,), None])


def test_dot_takes_masks_and_gives_none():
    layer = Dot(axes=-1)
    assert layer.supports_masking
    assert layer.compute_mask_shape([(None, 4, 3)] * 2, [(None, 4), (None, 4)]) is None
    assert layer.compute_mask([np.zeros((1, 4, 3))] * 2, [np.ones((1, 4), bool)] * 2) is None
