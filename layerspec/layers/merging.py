"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate and Dot.

A merge layer takes several inputs (``takes_several_inputs``): its
``build``, ``compute_output_shape`` and ``count_*`` methods receive a list
of shapes, each with the batch axis first, and ``call`` a list of arrays in
the same order.

The elementwise merges follow Keras 3's merge rule: the per-sample shapes
are lined up from the right, as NumPy broadcasting does, and on each axis
the sizes must be equal or one of them 1; an unknown size (``None``) makes
the output's size unknown there. An input with fewer axes is given size-1
axes right after its batch axis, so ``(batch, 4)`` merges with
``(batch, 3, 4)``.

Masks, as Keras 3.15 combines them: an elementwise merge's output is
masked where every input is (the OR of the masks, or no mask at all when
some input has none); Concatenate joins the masks along its axis (an
unmasked input counts as unmasked everywhere); Dot's output has no mask.
"""

from __future__ import annotations

import math

import numpy as np

from ..arguments import ArgumentKind, Boolean, Integer, describe_value
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape
from .core import known_product

#: ``normalize`` clamps a squared norm at ``NORM_EPSILON ** 2`` before its
#: inverse square root, so a zero vector stays zero rather than NaN. Keras
#: 3 (``ops.normalize``, order 2) uses its ``backend.epsilon()``, 1e-7.
NORM_EPSILON = 1e-7


# --------------------------------------------------------------------------
# input lists


def shape_list(layer: Layer, input_shape, count: int | None = None) -> list[tuple]:
    """The list of input shapes a merge receives, checked.

    Args:
        layer: the merge layer (its type name goes into messages).
        input_shape: a list (or tuple) of shapes, batch axis first.
        count: the exact number of inputs required, if any; otherwise at
            least one.

    Raises:
        ShapeError: for a single shape instead of a list, an empty list, the
            wrong number of inputs, or known batch sizes that differ.
    """
    kind = type(layer).__name__
    if not isinstance(input_shape, (list, tuple)) or not all(
            isinstance(shape, (list, tuple)) for shape in input_shape):
        raise ShapeError(f"{kind} merges a list of inputs, got one input of shape {format_shape(input_shape)}; "
                         f"name its inputs, e.g. 'inputs: [a, b]'")
    shapes = [tuple(shape) for shape in input_shape]
    if not shapes:
        raise ShapeError(f"{kind} takes a list of at least 1 input, got an empty list")
    if count is not None and len(shapes) != count:
        raise ShapeError(f"{kind} takes exactly {count} inputs, got {len(shapes)}: {_listed(shapes)}")
    _check_batch_sizes(shapes)
    return shapes


def _listed(shapes) -> str:
    shown = [format_shape(shape) for shape in shapes]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _check_batch_sizes(shapes: list[tuple]) -> None:
    known = [shape for shape in shapes if shape and shape[0] is not None]
    for shape in known[1:]:
        if shape[0] != known[0][0]:
            raise ShapeError(f"inputs with shapes {format_shape(known[0])} and {format_shape(shape)} have "
                             f"different batch sizes ({known[0][0]} and {shape[0]})")


def _batch_size(shapes: list[tuple]):
    known = {shape[0] for shape in shapes if shape} - {None}
    return known.pop() if known else None


def _floating_arrays(inputs, dtype: str) -> list[np.ndarray]:
    """The inputs as arrays of one dtype: floating inputs in the layer's
    dtype (as Keras casts them to its compute dtype), so a float32 merge
    stays float32 even beside an integer input; integer-only inputs keep
    their common integer type."""
    arrays = [np.asarray(x) for x in inputs]
    if all(x.dtype.kind in "biu" for x in arrays):
        common = np.result_type(*arrays)
    else:
        common = np.dtype(dtype)
    return [x if x.dtype == common else x.astype(common) for x in arrays]


# --------------------------------------------------------------------------
# elementwise merges


class ElementwiseMerge(Layer):
    """Base of the merges that combine inputs elementwise, with broadcasting.

    Subclasses define ``combine(arrays, out)`` and the past participle
    ``verb`` for messages ("inputs ... cannot be added"). Not registered:
    it is not a layer type of its own.

    Costs: no multiply-accumulates; ``count_elementwise`` charges one
    operation per output element for each input after the first.
    """

    takes_several_inputs = True
    has_macs = False
    supports_masking = True
    #: How many inputs the layer takes exactly (None: any number from 1).
    input_count: int | None = None
    verb = "merged"

    def __init__(self, **kwargs):
        # Declared so that ``name`` and ``trainable`` are listed with their kinds.
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        shapes = shape_list(self, input_shape, self.input_count)
        return (_batch_size(shapes),) + self._broadcast(shapes)

    def _broadcast(self, shapes: list[tuple]) -> tuple:
        """The per-sample output shape (Keras's rule, see the module docstring)."""
        result = shapes[0][1:]
        # For each axis of ``result``, the input its size came from: an
        # error names the two inputs that disagree.
        origin = [0] * len(result)
        for index, shape in enumerate(shapes[1:], start=1):
            sizes = shape[1:]
            if len(sizes) > len(result):
                pad = len(sizes) - len(result)
                result, origin = (1,) * pad + result, [index] * pad + origin
            merged = list(result[:len(result) - len(sizes)])
            for axis, (mine, theirs) in enumerate(zip(result[len(result) - len(sizes):], sizes),
                                                  start=len(result) - len(sizes)):
                merged.append(self._merge_sizes(mine, theirs, axis - len(result), shapes[origin[axis]], shape))
                if theirs is not None and theirs != 1 and (mine == 1 or mine is None):
                    origin[axis] = index
            result = tuple(merged)
        return result

    def _merge_sizes(self, mine, theirs, axis: int, first: tuple, second: tuple):
        if mine is None or theirs is None:
            return None
        if mine == 1:
            return theirs
        if theirs == 1 or mine == theirs:
            return mine
        raise ShapeError(f"inputs with shapes {format_shape(first)} and {format_shape(second)} cannot be "
                         f"{self.verb}: sizes {mine} and {theirs} on axis {axis} differ, and neither is 1")

    def count_elementwise(self, input_shape):
        shapes = shape_list(self, input_shape, self.input_count)
        outputs = known_product(self.compute_output_shape(shapes)[1:])
        return None if outputs is None else outputs * self.operations_per_element(len(shapes))

    def operations_per_element(self, inputs: int) -> int:
        """Operations per output element for ``inputs`` inputs."""
        return inputs - 1

    def call(self, inputs):
        arrays = _floating_arrays(inputs, self.dtype)
        # Sizes unknown at build time must still agree (a clear error, not NumPy's).
        output_shape = self.compute_output_shape([x.shape for x in arrays])
        if len(arrays) == 1:
            return arrays[0]
        rank = len(output_shape)
        # Keras's rule for fewer axes: new size-1 axes right after the batch axis.
        arrays = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) if x.ndim < rank else x
                  for x in arrays]
        out = np.empty((len(arrays[0]),) + output_shape[1:], dtype=arrays[0].dtype)
        return self.combine(arrays, out)

    def combine(self, arrays: list[np.ndarray], out: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute_mask_shape(self, input_shape, mask_shape):
        if any(shape is None for shape in mask_shape):
            return None
        try:
            return _broadcast_mask_shapes(mask_shape)
        except ValueError:
            raise ShapeError(f"the inputs' masks {', '.join(format_shape(shape) for shape in mask_shape)} do not "
                             f"broadcast together (Keras combines them elementwise)") from None

    def compute_mask(self, inputs, mask):
        if any(item is None for item in mask):
            return None
        return _reduce_into(np.logical_or, mask, np.empty(np.broadcast_shapes(*(m.shape for m in mask)), bool)) \
            if len(mask) > 1 else mask[0]


def _broadcast_mask_shapes(shapes: list[tuple]) -> tuple:
    """NumPy's broadcast of mask shapes whose sizes may be unknown (None)."""
    rank = max(len(shape) for shape in shapes)
    padded = [(1,) * (rank - len(shape)) + tuple(shape) for shape in shapes]
    result = []
    for sizes in zip(*padded):
        known = {size for size in sizes if size not in (1, None)}
        if len(known) > 1:
            raise ValueError(sizes)
        result.append(known.pop() if known else (None if None in sizes else 1))
    return tuple(result)


def _reduce_into(ufunc, arrays: list[np.ndarray], out: np.ndarray) -> np.ndarray:
    """``ufunc`` applied left to right over ``arrays``, written into ``out``
    (the order Keras applies it in, so rounding agrees)."""
    ufunc(arrays[0], arrays[1], out=out)
    for x in arrays[2:]:
        ufunc(out, x, out=out)
    return out


@register
class Add(ElementwiseMerge):
    """Adds its inputs elementwise: ``inputs[0] + inputs[1] + ...``.

    Input shape:
        a list of at least 1 shape that broadcast together (see the
        module's rule: per-sample shapes lined up from the right, sizes
        equal or 1).
    Output shape:
        the broadcast shape.

    Costs one addition per output element for each input after the first.
    """

    verb = "added"

    def combine(self, arrays, out):
        return _reduce_into(np.add, arrays, out)


@register
class Subtract(ElementwiseMerge):
    """Subtracts its second input from its first: ``inputs[0] - inputs[1]``.

    Input shape:
        a list of exactly 2 shapes that broadcast together.
    Output shape:
        the broadcast shape.

    Costs one subtraction per output element.
    """

    verb = "subtracted"
    input_count = 2

    def combine(self, arrays, out):
        return np.subtract(arrays[0], arrays[1], out=out)


@register
class Multiply(ElementwiseMerge):
    """Multiplies its inputs elementwise: ``inputs[0] * inputs[1] * ...``.

    Input shape:
        a list of at least 1 shape that broadcast together.
    Output shape:
        the broadcast shape.

    Costs one multiplication per output element for each input after the
    first (elementwise work, not multiply-accumulates: nothing is summed).
    """

    verb = "multiplied"

    def combine(self, arrays, out):
        return _reduce_into(np.multiply, arrays, out)


@register
class Average(ElementwiseMerge):
    """Averages its inputs elementwise: ``(inputs[0] + ... + inputs[n-1]) / n``.

    Input shape:
        a list of at least 1 shape that broadcast together.
    Output shape:
        the broadcast shape.

    Costs ``n`` operations per output element: ``n - 1`` additions and one
    division.
    """

    verb = "averaged"

    def operations_per_element(self, inputs):
        return inputs

    def call(self, inputs):
        outputs = super().call(inputs)
        if outputs.dtype.kind != "f":  # integer inputs: the mean is a float
            outputs = outputs.astype(self.dtype)
        elif len(inputs) == 1:
            outputs = outputs.copy()  # the single input itself: do not divide it in place
        # A true division by n, as Keras (not a multiplication by 1/n, which rounds differently).
        outputs /= outputs.dtype.type(len(inputs))
        return outputs

    def combine(self, arrays, out):
        return _reduce_into(np.add, arrays, out)


@register
class Maximum(ElementwiseMerge):
    """The elementwise maximum of its inputs.

    Input shape:
        a list of at least 1 shape that broadcast together.
    Output shape:
        the broadcast shape.

    Costs one comparison per output element for each input after the first.
    """

    verb = "merged by Maximum"

    def combine(self, arrays, out):
        return _reduce_into(np.maximum, arrays, out)


@register
class Minimum(ElementwiseMerge):
    """The elementwise minimum of its inputs.

    Input shape:
        a list of at least 1 shape that broadcast together.
    Output shape:
        the broadcast shape.

    Costs one comparison per output element for each input after the first.
    """

    verb = "merged by Minimum"

    def combine(self, arrays, out):
        return _reduce_into(np.minimum, arrays, out)


# --------------------------------------------------------------------------
# Concatenate


@register
class Concatenate(Layer):
    """Concatenates its inputs along one axis.

    Args:
        axis: the axis to concatenate along (``-1``: the last). The batch
            axis cannot be concatenated: samples stay independent.

    Input shape:
        a list of at least 1 shape, all of the same rank, with equal sizes
        on every axis but ``axis`` (an unknown size matches any).
    Output shape:
        the first input's shape, with the sizes along ``axis`` summed
        (unknown if any of them is unknown).

    Costs nothing but copying: no multiply-accumulates, no elementwise work.
    """

    takes_several_inputs = True
    has_macs = False
    supports_masking = True

    def __init__(self, axis: Integer() = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        shapes = shape_list(self, input_shape)
        first = shapes[0]
        for shape in shapes[1:]:
            if len(shape) != len(first):
                raise ShapeError(f"inputs with shapes {format_shape(first)} and {format_shape(shape)} cannot be "
                                 f"concatenated: they have {len(first)} and {len(shape)} axes")
        axis = self._resolve_axis(first)
        output = list(first)
        sizes = [shape[axis] for shape in shapes]
        output[axis] = None if None in sizes else sum(sizes)
        output[0] = _batch_size(shapes)
        for other in range(1, len(first)):
            if other != axis:
                self._check_axis_matches(shapes, other)
        return tuple(output)

    def _resolve_axis(self, shape: tuple) -> int:
        rank = len(shape)
        if not -rank <= self.axis < rank:
            raise ShapeError(f"axis {self.axis} is out of range for inputs with {rank} axes, such as "
                             f"{format_shape(shape)}", argument="axis")
        if self.axis % rank == 0:
            raise ShapeError(f"axis {self.axis} is the batch axis of the inputs, such as {format_shape(shape)}; "
                             f"concatenate along a feature axis such as -1", argument="axis")
        return self.axis % rank

    def _check_axis_matches(self, shapes: list[tuple], axis: int) -> None:
        known = [shape for shape in shapes if shape[axis] is not None]
        for shape in known[1:]:
            if shape[axis] != known[0][axis]:
                raise ShapeError(f"inputs with shapes {format_shape(known[0])} and {format_shape(shape)} cannot be "
                                 f"concatenated along axis {self.axis}: sizes {known[0][axis]} and {shape[axis]} "
                                 f"on axis {axis} differ")

    def call(self, inputs):
        arrays = _floating_arrays(inputs, self.dtype)
        self.compute_output_shape([x.shape for x in arrays])
        return np.concatenate(arrays, axis=self.axis)

    # Keras's rule: each input's mask widened to the input's shape (an
    # unmasked input: all True; a mask one axis short: repeated along the
    # last axis), the widened masks concatenated along ``axis``, then
    # reduced over the last axis with OR.
    def compute_mask_shape(self, input_shape, mask_shape):
        if all(shape is None for shape in mask_shape):
            return None
        for shape, mask in zip(input_shape, mask_shape):
            if mask is not None and len(mask) not in (len(shape) - 1, len(shape)):
                raise ShapeError(f"an input's mask {format_shape(mask)} does not fit its input {format_shape(shape)}: "
                                 f"Concatenate takes masks with the input's axes, or all but the last")
        return self.compute_output_shape(input_shape)[:-1]

    def compute_mask(self, inputs, mask):
        if all(item is None for item in mask):
            return None
        widened = [np.ones(x.shape, bool) if m is None
                   else np.broadcast_to(m[..., None] if m.ndim < x.ndim else m, x.shape)
                   for x, m in zip(inputs, mask)]
        return np.concatenate(widened, axis=self.axis).any(axis=-1)


# --------------------------------------------------------------------------
# Dot


class DotAxes(ArgumentKind):
    """``Dot``'s ``axes``: one axis for both inputs, or a pair ``[a, b]``;
    a pair becomes a tuple. Whether they fit the inputs is known at build."""

    expected = "an integer or a list of 2 integers"

    def check(self, value, argument):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(
                isinstance(item, int) and not isinstance(item, bool) for item in value):
            return tuple(value)
        raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                            argument=argument)

    def json_schema(self):
        return {"anyOf": [{"type": "integer"},
                          {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}]}


def l2_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """``x * rsqrt(max(sum(x ** 2, axis), NORM_EPSILON ** 2))``: Keras's L2
    normalisation, which leaves a zero vector zero.

    A vector whose sum of squares overflows (entries beyond ~1e19 in
    float32, or infinite ones) gets its direction, the limit, instead of
    Keras's 0 or NaN: see :func:`_direction`.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        squares = np.sum(np.square(x), axis=axis, keepdims=True)
    finite = np.isfinite(squares)
    if finite.all():
        return _scaled_by_inverse_norm(x, squares)
    with np.errstate(invalid="ignore"):  # inf * 0 in the vectors np.where leaves out
        return np.where(finite, _scaled_by_inverse_norm(x, squares), _direction(x, axis))


def _scaled_by_inverse_norm(x: np.ndarray, squares: np.ndarray) -> np.ndarray:
    inverse = np.maximum(squares, x.dtype.type(NORM_EPSILON ** 2))
    np.sqrt(inverse, out=inverse)
    np.reciprocal(inverse, out=inverse)
    return x * inverse


def _direction(x: np.ndarray, axis: int) -> np.ndarray:
    """Unit vectors along ``x`` for vectors too large to square: each is
    divided by its largest magnitude first (an infinite entry counts as
    +-1, the finite entries beside it as 0). A vector holding NaN stays NaN."""
    largest = np.max(np.abs(x), axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):
        scaled = np.where(np.isinf(x), np.copysign(x.dtype.type(1), x), x / largest)
        return scaled / np.sqrt(np.sum(np.square(scaled), axis=axis, keepdims=True))


@register
class Dot(Layer):
    """The dot product of two inputs along one axis of each, per sample.

    Keras's batch dot: the product sums over axis ``axes[0]`` of the first
    input and ``axes[1]`` of the second; the output keeps the first input's
    other axes, then the second's (batch axis first, once). A result with
    no axis besides the batch gets one of size 1: two ``(batch, 5)`` inputs
    give ``(batch, 1)``, ``(batch, 3, 4)`` and ``(batch, 3, 5)`` with
    ``axes: 1`` give ``(batch, 4, 5)``.

    Args:
        axes: the axis to sum over, for both inputs, or a pair ``[a, b]``;
            negative counts from the end. Never the batch axis.
        normalize: L2-normalise each input along its ``axes`` axis first,
            ``x * rsqrt(max(sum(x ** 2), 1e-14))``, so two vectors give
            their cosine similarity.

    Input shape:
        a list of exactly 2 shapes of rank >= 2 whose ``axes`` sizes are
        equal (an unknown size matches any).
    Output shape:
        see above.

    Costs: the products are multiply-accumulates, ``output elements ×
    summed size``. ``normalize`` adds one multiply-accumulate per input
    element (its sum of squares) and elementwise work of one operation per
    input element (the scaling) and one per normalised vector (the
    inverse square root).
    """

    takes_several_inputs = True
    supports_masking = True  # Keras takes masked inputs and gives no mask

    def __init__(self, axes: DotAxes(), normalize: Boolean() = False, **kwargs):
        super().__init__(**kwargs)
        self.axes = axes
        self.normalize = normalize

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def _checked(self, input_shape) -> tuple[tuple, tuple, int, int]:
        """The two shapes and the resolved axis of each; errors if they do not fit."""
        first, second = shape_list(self, input_shape, 2)
        for shape in (first, second):
            if len(shape) < 2:
                raise ShapeError(f"needs inputs with a feature axis (at least 2 axes), got {format_shape(shape)}")
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        axis_x, axis_y = (self._resolve(axis, shape) for axis, shape in zip(pair, (first, second)))
        size_x, size_y = first[axis_x], second[axis_y]
        if size_x is not None and size_y is not None and size_x != size_y:
            raise ShapeError(f"inputs with shapes {format_shape(first)} and {format_shape(second)} cannot be "
                             f"multiplied on axes ({axis_x}, {axis_y}): sizes {size_x} and {size_y} differ")
        return first, second, axis_x, axis_y

    def _resolve(self, axis: int, shape: tuple) -> int:
        shown = list(self.axes) if isinstance(self.axes, tuple) else self.axes
        rank = len(shape)
        if not -rank <= axis < rank:
            raise ShapeError(f"axes {shown}: axis {axis} is out of range for the input {format_shape(shape)}, "
                             f"which has {rank} axes", argument="axes")
        if axis % rank == 0:
            raise ShapeError(f"axes {shown}: axis {axis} is the batch axis of the input {format_shape(shape)}; "
                             f"take the product over a feature axis", argument="axes")
        return axis % rank

    def compute_output_shape(self, input_shape):
        first, second, axis_x, axis_y = self._checked(input_shape)
        rest = _without(first[1:], axis_x - 1) + _without(second[1:], axis_y - 1)
        return (_batch_size([first, second]),) + (rest or (1,))

    def count_macs(self, input_shape):
        first, second, axis_x, _ = self._checked(input_shape)
        outputs = known_product(self.compute_output_shape(input_shape)[1:])
        summed = first[axis_x]
        if outputs is None or summed is None:
            return None
        macs = outputs * summed
        if self.normalize:
            elements = _input_elements(first, second)
            macs = None if elements is None else macs + elements
        return macs

    def count_elementwise(self, input_shape):
        if not self.normalize:
            return 0
        first, second, axis_x, axis_y = self._checked(input_shape)
        elements = _input_elements(first, second)
        vectors = _input_elements(_without(first, axis_x), _without(second, axis_y))
        return None if elements is None or vectors is None else elements + vectors

    def count_workspace(self, input_shape):
        # The inputs rearranged (and normalised) for the matrix product.
        first, second, _, _ = self._checked(input_shape)
        return _input_elements(first, second) or 0

    def call(self, inputs):
        x, y = _floating_arrays(inputs, self.dtype)
        # Sizes unknown at build time must still agree (a clear error, not NumPy's).
        _, _, axis_x, axis_y = self._checked([x.shape, y.shape])
        if self.normalize:
            x, y = l2_normalize(x, axis_x), l2_normalize(y, axis_y)
        # (batch, rest of x, n) @ (batch, n, rest of y): one batched matrix product.
        x = np.moveaxis(x, axis_x, -1)
        y = np.moveaxis(y, axis_y, 1)
        batch, summed = len(x), x.shape[-1]
        rest_x, rest_y = x.shape[1:-1], y.shape[2:]
        product = np.matmul(x.reshape(batch, math.prod(rest_x), summed),
                            y.reshape(batch, summed, math.prod(rest_y)))
        return product.reshape((batch,) + (rest_x + rest_y or (1,)))

    def compute_mask_shape(self, input_shape, mask_shape):
        return None

    def compute_mask(self, inputs, mask):
        return None


def _without(sizes: tuple, index: int) -> tuple:
    return sizes[:index] + sizes[index + 1:]


def _input_elements(first: tuple, second: tuple) -> int | None:
    """Elements per sample of two shapes together (batch axes left out)."""
    sizes = [known_product(first[1:]), known_product(second[1:])]
    return None if None in sizes else sum(sizes)
