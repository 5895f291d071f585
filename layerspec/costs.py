"""What a model costs per sample: MACs, FLOPs and activation memory.

Counting never allocates anything: it runs the layers' pure
``compute_output_shape`` and ``count_*`` methods on shapes only, with exact
Python integers (no float rounding, no int64 overflow).

When one input size is unknown (a sequence of any length, say), a cost that
depends on it is reported per unit of that size: the stack's costs are
evaluated at two large sizes, both multiples of every small stride, where
each cost is exactly ``per_step * size + constant``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .errors import LayerspecError

#: Sizes at which costs are evaluated for an unknown input size: divisible
#: by every stride, pool size and dilation up to 10 (and many beyond), so
#: floor and ceil in shape rules are exact and costs are affine there.
PROBE_SIZES = (2**16 * 3**6 * 5**4 * 7**2, 2 * 2**16 * 3**6 * 5**4 * 7**2)
#: A third size checks that a cost really is affine in the unknown size:
#: self-attention over an unknown length is quadratic in it, and a line
#: through two points would be a wrong formula.
CHECK_SIZE = 3 * PROBE_SIZES[0]


@dataclass(frozen=True)
class PerStep:
    """A cost that grows with the unknown size: ``per_step * size + constant``."""

    per_step: Fraction
    constant: Fraction

    def __add__(self, other):
        if other is None:
            return None
        other = as_per_step(other)
        return PerStep(self.per_step + other.per_step, self.constant + other.constant)

    __radd__ = __add__

    def __mul__(self, factor: int) -> "PerStep":
        return PerStep(self.per_step * factor, self.constant * factor)

    __rmul__ = __mul__


def as_per_step(value) -> PerStep:
    return value if isinstance(value, PerStep) else PerStep(Fraction(0), Fraction(value))


@dataclass
class LayerCost:
    """One layer's costs per sample."""

    macs: object
    flops: object
    output_elements: object


def total(values):
    """Sum of costs; ``None`` if any is unknown."""
    result = 0
    for value in values:
        if value is None:
            return None
        result = value + result if isinstance(value, PerStep) else result + value
    return result


def node_costs(model) -> list[LayerCost]:
    """Costs of every node (layer application) of a built model, per sample."""
    unknown = _unknown_sizes(model)
    if len(unknown) == 1 and all(_has_shape_rule(node.layer) for node in model.nodes):
        try:
            return _per_step_costs(model, unknown[0])
        except LayerspecError:
            pass  # some layer cannot take those sizes (a Reshape to a fixed size): costs stay unknown
    return [LayerCost(node.layer.count_macs(node.input_shape), node.layer.count_flops(node.input_shape),
                      _elements(node.output_shape)) for node in model.nodes]


def _unknown_sizes(model) -> list[tuple[int, int]]:
    """``(input number, axis)`` of every unknown per-sample input size."""
    return [(number, axis) for number, shape in enumerate(model.input_shapes)
            for axis, size in enumerate(shape) if size is None]


def known_once_sized(model) -> bool:
    """Whether every cost of a model with unknown input sizes would be known
    once those sizes are given (so a ``?`` is for want of sizes, not of a
    layer's cost rule)."""
    if not _unknown_sizes(model) or not all(_has_shape_rule(node.layer) for node in model.nodes):
        return False
    # The probe size first; a model that caps a size (a position embedding's
    # sequence_length) is asked at small sizes too.
    for probe in (PROBE_SIZES[0],) + FALLBACK_SIZES:
        shapes = [tuple(probe if size is None else size for size in shape) for shape in model.input_shapes]
        try:
            costs = _concrete_costs(model, shapes)
        except LayerspecError:
            continue
        return all(None not in cost for cost in costs)
    return False


#: Sizes :func:`known_once_sized` tries when the probe size does not fit.
FALLBACK_SIZES = (64, 8, 1)


def _per_step_costs(model, unknown: tuple[int, int]) -> list[LayerCost]:
    number, axis = unknown
    runs = []
    for size in PROBE_SIZES + (CHECK_SIZE,):
        shapes = [list(shape) for shape in model.input_shapes]
        shapes[number][axis] = size
        runs.append(_concrete_costs(model, [tuple(shape) for shape in shapes]))
    return [_combine(*costs) for costs in zip(*runs)]


def _has_shape_rule(layer) -> bool:
    # A layer without compute_output_shape would be probed by running it,
    # which must not happen at sizes in the millions.
    from .layers.base import Layer

    return type(layer).compute_output_shape is not Layer.compute_output_shape


def work_per_sample(model, input_shapes: list[tuple]) -> tuple[int | None, int]:
    """``(multiply-accumulates, elements of layer outputs)`` per sample for
    these per-sample input shapes (sizes known); MACs None if a layer's
    cost is unknown."""
    costs = _concrete_costs(model, input_shapes)
    macs = [cost[0] for cost in costs]
    elements = sum(cost[2] or 0 for cost in costs)
    return (None if any(value is None for value in macs) else int(sum(macs))), int(elements)


def _concrete_costs(model, input_shapes: list[tuple]) -> list[tuple]:
    """Each node's ``(macs, flops, output elements)`` for these per-sample
    input shapes, by the model's walker (shapes only, nothing built)."""
    from .model import infer_output_shape

    costs = []

    def cost_of(node, shape):
        output = infer_output_shape(node.layer, shape)
        costs.append((node.layer.count_macs(shape), node.layer.count_flops(shape), _elements(output)))
        return output

    model.graph.walk([(None,) + tuple(shape) for shape in input_shapes], cost_of)
    return costs


def _combine(first: tuple, second: tuple, check: tuple) -> LayerCost:
    return LayerCost(*(_affine(a, b, c) for a, b, c in zip(first, second, check)))


def _affine(at_first, at_second, at_check):
    """``per_step × size + constant`` through the two probes, or None when
    the third size is off that line (a cost that is not affine)."""
    if at_first is None or at_second is None or at_check is None:
        return None
    if at_first == at_second == at_check:
        return at_first
    low, high = PROBE_SIZES
    slope = Fraction(at_second - at_first, high - low)
    line = PerStep(slope, at_first - slope * low)
    if line.per_step * CHECK_SIZE + line.constant != at_check:
        return None
    return line


def _elements(shape):
    """Elements per sample of a full shape, or the total over a list of them
    (a layer with several outputs); None when a size is unknown."""
    if isinstance(shape, list):
        counts = [_elements(item) for item in shape]
        return None if None in counts else sum(counts)
    sizes = shape[1:]
    return None if any(size is None for size in sizes) else math.prod(sizes)


def peak_activation_bytes(model, input_bytes: list, output_bytes: list):
    """The most activation bytes per sample held at once by a forward pass.

    ``input_bytes`` gives each model input's bytes per sample, ``output_bytes``
    each node's result. The walker holds a node's inputs and result while it
    runs and frees every result after its last reader, so this is the peak
    of :meth:`~layerspec.graph.Graph.live_after` (for a plain stack, the
    largest two consecutive activations). None when a size is unknown.
    """
    sizes = list(input_bytes) + list(output_bytes)
    if any(value is None or isinstance(value, PerStep) for value in sizes):
        return None
    return max(model.graph.live_after(sizes), default=0)


def inference_memory(params_bytes: int, peak_bytes, batch_size: int):
    """Parameters plus a batch's peak activation bytes (an estimate:
    temporaries inside a layer, such as convolution windows, come on top);
    None when the peak is unknown."""
    return None if peak_bytes is None else params_bytes + batch_size * peak_bytes
