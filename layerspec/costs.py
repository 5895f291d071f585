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


def stack_costs(model) -> list[LayerCost]:
    """Costs of every layer of a built model, per sample."""
    from .model import infer_output_shape

    unknown = [axis for axis, size in enumerate(model.input_shape) if size is None]
    if len(unknown) == 1 and all(_has_shape_rule(layer) for layer in model.layers):
        try:
            return _per_step_costs(model, unknown[0], infer_output_shape)
        except LayerspecError:
            pass  # some layer cannot take those sizes (a Reshape to a fixed size): costs stay unknown
    return [LayerCost(layer.count_macs(inp), layer.count_flops(inp), _elements(out))
            for layer, (inp, out) in zip(model.layers, model.shapes)]


def known_once_sized(model) -> bool:
    """Whether every cost of a model with unknown input sizes would be known
    once those sizes are given (so a ``?`` is for want of sizes, not of a
    layer's cost rule)."""
    from .model import infer_output_shape

    if None not in model.input_shape or not all(_has_shape_rule(layer) for layer in model.layers):
        return False
    shape = (None,) + tuple(PROBE_SIZES[0] if size is None else size for size in model.input_shape)
    try:
        costs = _concrete_costs(model.layers, shape, infer_output_shape)
    except LayerspecError:
        return False
    return all(None not in cost for cost in costs)


def _per_step_costs(model, axis: int, infer) -> list[LayerCost]:
    runs = []
    for size in PROBE_SIZES:
        shape = list(model.input_shape)
        shape[axis] = size
        runs.append(_concrete_costs(model.layers, (None,) + tuple(shape), infer))
    return [_combine(first, second) for first, second in zip(*runs)]


def _has_shape_rule(layer) -> bool:
    # A layer without compute_output_shape would be probed by running it,
    # which must not happen at sizes in the millions.
    from .layers.base import Layer

    return type(layer).compute_output_shape is not Layer.compute_output_shape


def _concrete_costs(layers, shape, infer) -> list[tuple]:
    costs = []
    for layer in layers:
        output = infer(layer, shape)
        costs.append((layer.count_macs(shape), layer.count_flops(shape), _elements(output)))
        shape = output
    return costs


def _combine(first: tuple, second: tuple) -> LayerCost:
    return LayerCost(*(_affine(a, b) for a, b in zip(first, second)))


def _affine(at_first, at_second):
    if at_first is None or at_second is None:
        return None
    if at_first == at_second:
        return at_first
    low, high = PROBE_SIZES
    slope = Fraction(at_second - at_first, high - low)
    return PerStep(slope, at_first - slope * low)


def _elements(shape):
    sizes = shape[1:]
    return None if any(size is None for size in sizes) else math.prod(sizes)


def inference_memory(params_bytes: int, activation_bytes: list, batch_size: int):
    """Parameters plus the largest two consecutive activations of a batch.

    ``activation_bytes`` lists the input's bytes per sample, then each
    layer's output. A forward pass that frees each activation once the next
    exists needs about this much (an estimate: temporaries inside a layer,
    such as convolution windows, come on top).
    """
    if any(value is None or isinstance(value, PerStep) for value in activation_bytes):
        return None
    pairs = [a + b for a, b in zip(activation_bytes, activation_bytes[1:])] or activation_bytes
    return params_bytes + batch_size * max(pairs)
