"""EinsumDense: a dense layer written as an einsum equation (Keras 3's)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .. import activations, initializers
from ..arguments import ActivationName, ArgumentKind, InitializerName, Optional, describe_value
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape
from .core import known_product
from .prepared import derived

#: Keras's three forms of equation: ``ab,bc->ac``, ``...b,bc->...c`` (the
#: ellipsis on the left, holding the batch axis and any others) and
#: ``ab...,bc->ac...`` (on the right, after at least the batch label and one
#: more).
_PLAIN = re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)")
_LEFT = re.compile(r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)")
_RIGHT = re.compile(r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\.")


@dataclass(frozen=True)
class Equation:
    """A parsed EinsumDense equation: ``form`` is "plain", "left" or "right"."""

    text: str
    form: str
    input: str
    kernel: str
    output: str


def parse_equation(text: str) -> Equation:
    """Parse and check an equation; ArgumentError (at ``equation``) if it is not one EinsumDense takes."""
    for form, pattern in (("plain", _PLAIN), ("left", _LEFT), ("right", _RIGHT)):
        match = pattern.fullmatch(text)
        if match:
            break
    else:
        raise ArgumentError(f"argument 'equation': '{text}' is not an EinsumDense equation; write INPUT,KERNEL->"
                            "OUTPUT in letters, e.g. 'ab,bc->ac', '...b,bc->...c' or 'abc...,cd->abd...'",
                            argument="equation")
    equation = Equation(text, form, *match.groups())
    for name, labels in (("input", equation.input), ("kernel", equation.kernel), ("output", equation.output)):
        repeated = next((label for label in labels if labels.count(label) > 1), None)
        if repeated:
            raise ArgumentError(f"argument 'equation': label '{repeated}' appears twice in the {name} "
                                f"'{labels}' of '{text}'", argument="equation")
    for label in equation.output:
        if label not in equation.input and label not in equation.kernel:
            raise ArgumentError(f"argument 'equation': output label '{label}' of '{text}' is in neither the "
                                f"input '{equation.input}' nor the kernel '{equation.kernel}'", argument="equation")
    for label in equation.kernel:
        if label not in equation.input and label not in equation.output:
            raise ArgumentError(f"argument 'equation': kernel label '{label}' of '{text}' is in neither the "
                                f"input '{equation.input}' nor the output '{equation.output}', so its size is "
                                "unknown", argument="equation")
    if form != "left":
        batch = equation.input[0]
        if equation.output[0] != batch:
            raise ArgumentError(f"argument 'equation': the output '{equation.output}' of '{text}' must start with "
                                f"the batch label '{batch}', as the input does", argument="equation")
        if batch in equation.kernel:
            raise ArgumentError(f"argument 'equation': the kernel '{equation.kernel}' of '{text}' cannot hold "
                                f"the batch label '{batch}'", argument="equation")
    return equation


class EquationText(ArgumentKind):
    """An EinsumDense equation (checked when the layer is made)."""

    expected = "an einsum equation such as 'ab,bc->ac'"

    def check(self, value, argument):
        if not isinstance(value, str) or not value:
            raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                                argument=argument)
        return value

    def json_schema(self):
        return {"type": "string", "minLength": 1}


class PartialShape(ArgumentKind):
    """EinsumDense's ``output_shape``: the output's sizes after the batch
    axis (and after a left ellipsis), an integer or a list of integers >= 1
    or nulls (null: the size the input gives); returned as a tuple."""

    expected = "an integer >= 1 or a list of integers >= 1 or nulls"

    def check(self, value, argument):
        items = value if isinstance(value, (list, tuple)) else [value]
        if all(item is None or (isinstance(item, int) and not isinstance(item, bool) and item >= 1)
               for item in items) and (not isinstance(value, (list, tuple)) or value) and value is not None:
            return tuple(items)
        raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                            argument=argument)

    def json_schema(self):
        item = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}
        return {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "array", "items": item, "minItems": 1}]}


class BiasAxes(ArgumentKind):
    """The output labels a bias spans, e.g. ``"d"``."""

    expected = "a string of output labels"

    def check(self, value, argument):
        if isinstance(value, str) and value and value.isascii() and value.isalpha():
            return value
        raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                            argument=argument)

    def json_schema(self):
        return {"type": "string", "pattern": "^[a-zA-Z]+$"}


@dataclass(frozen=True)
class _Shapes:
    kernel: tuple
    bias: tuple | None
    output: tuple
    #: Every label's size (the batch's is None), for the MACs.
    sizes: dict
    #: The sizes the ellipsis stands for, batch axis included when left.
    elided: tuple


class _FanAxes(initializers.Initializer):
    """A VarianceScaling initializer drawing with Keras's EinsumDense fans:
    ``fan_in`` the product of the kernel's input-only sizes, ``fan_out``
    that of its output sizes (so a ``(d, heads, key_dim)`` kernel is drawn as
    a ``(d, heads * key_dim)`` matrix)."""

    name = "variance_scaling"

    def __init__(self, inner, fan_in: int, fan_out: int):
        self.inner, self.fan_in, self.fan_out = inner, fan_in, fan_out
        self.seed = None  # the inner initializer seeds itself

    def __call__(self, shape, dtype=np.float32, rng=None):
        return self.inner((self.fan_in, self.fan_out), dtype, rng).reshape(shape)

    def describe(self):
        return self.inner.describe()


@register
class EinsumDense(Layer):
    """A dense layer given by an einsum equation, as Keras 3's EinsumDense.

    ``activation(einsum(equation, x, kernel) + bias)``.

    The equation names the input's axes, the kernel's and the output's with
    letters: ``ab,bc->ac`` is Dense; ``abc,cde->abde`` projects each step to
    ``(heads, size)`` as MultiHeadAttention does. An ellipsis stands for
    axes passed through: ``...b,bc->...c`` (on the left, batch included) or
    ``ab...,bc->ac...`` (on the right). The kernel's sizes come from the
    input or from ``output_shape``; its shape, the bias's and the weight
    names are Keras's, so Keras's weights load as they are.

    Args:
        equation: the einsum equation, in one of the three forms above.
        output_shape: the output's sizes after the batch label (after the
            ellipsis when it is on the left); an integer for one axis; null
            entries take the input's size.
        activation: activation name; ``null`` for linear.
        bias_axes: the output labels the bias spans (null: no bias); the
            bias covers the output axes from the first of them to the last,
            size 1 on the axes not listed.
        kernel_initializer: initializer of ``kernel``; a variance-scaling
            one (the default ``glorot_uniform``) counts fans as Keras does,
            from the kernel's input and output labels.
        bias_initializer: initializer of ``bias``.

    Input shape:
        rank = the number of input labels (more with an ellipsis).
    Output shape:
        the output labels' sizes, the batch first. Where ``output_shape``
        has null for a size the input gives, it is the input's (Keras's
        own shape would say None).
    """

    def __init__(self, equation: EquationText(), output_shape: PartialShape(), activation: ActivationName() = None,
                 bias_axes: Optional(BiasAxes()) = None, kernel_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(**kwargs)
        self.parsed = parse_equation(equation)
        if bias_axes is not None:
            for label in bias_axes:
                if label not in self.parsed.output:
                    raise ArgumentError(f"argument 'bias_axes': label '{label}' is not in the output "
                                        f"'{self.parsed.output}' of '{equation}'", argument="bias_axes")
            if self.parsed.form != "left" and self.parsed.output[0] in bias_axes:
                raise ArgumentError(f"argument 'bias_axes': '{self.parsed.output[0]}' is the batch label of "
                                    f"'{equation}'; a bias cannot span the batch", argument="bias_axes")
        self.equation = equation
        self.partial_output_shape = output_shape
        self.activation = activations.get(activation)
        self.bias_axes = bias_axes
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    # -- shapes ---------------------------------------------------------------
    def _shapes(self, input_shape) -> _Shapes:
        """Kernel, bias and output shapes for ``input_shape``, as Keras's
        ``_analyze_einsum_string`` derives them."""
        eq = self.parsed
        input_shape = tuple(input_shape)
        rank = len(input_shape)
        elided = rank - len(eq.input)
        if eq.form == "plain" and elided != 0:
            raise ShapeError(f"equation '{eq.text}' takes inputs of rank {len(eq.input)} (the batch axis "
                             f"included), got {format_shape(input_shape)}")
        if elided < 0:
            raise ShapeError(f"equation '{eq.text}' takes inputs of rank {len(eq.input)} or more (the batch axis "
                             f"included), got {format_shape(input_shape)}")
        if eq.form == "left":
            positions = input_shape[elided:]
            elided_sizes = input_shape[:elided]
        else:
            positions = input_shape[:len(eq.input)]
            elided_sizes = input_shape[len(eq.input):]
        input_sizes = dict(zip(eq.input, positions))
        # The labels output_shape sizes: all of them after a left ellipsis
        # holding the batch axis, all but the first (the batch's) otherwise.
        skip = 0 if eq.form == "left" and elided > 0 else 1
        sized = eq.output[skip:]
        if len(self.partial_output_shape) != len(sized):
            raise ShapeError(f"output_shape {_show(self.partial_output_shape)} has {len(self.partial_output_shape)} "
                             f"sizes, but the output '{eq.output}' of '{eq.text}' needs {len(sized)}, for "
                             f"{', '.join(repr(label) for label in sized) or 'no label'}"
                             + (" (the first label is the batch's)" if skip else ""), argument="output_shape")
        sizes = {label: input_sizes.get(label) for label in eq.input}
        if skip:
            sizes[eq.output[0]] = input_shape[0]
        for label, given in zip(sized, self.partial_output_shape):
            known = input_sizes.get(label)
            if given is not None and known is not None and given != known:
                raise ShapeError(f"output_shape gives label '{label}' size {given}, but the input "
                                 f"{format_shape(input_shape)} has {known} there", argument="output_shape")
            sizes[label] = given if given is not None else known
        kernel = []
        for label in eq.kernel:
            size = sizes.get(label)
            if size is None:
                where = "output_shape" if label in eq.output else "the input"
                raise ShapeError(f"the kernel needs the size of label '{label}', which {where} leaves unknown "
                                 f"(input {format_shape(input_shape)}, output_shape "
                                 f"{_show(self.partial_output_shape)})",
                                 argument="output_shape" if label in eq.output else None)
            kernel.append(size)
        bias = None
        if self.bias_axes is not None:
            first = min(eq.output.index(label) for label in self.bias_axes)
            bias = []
            for label in eq.output[first:]:
                if label in self.bias_axes:
                    if sizes[label] is None:
                        raise ShapeError(f"the bias needs the size of label '{label}', which is unknown (input "
                                         f"{format_shape(input_shape)})", argument="bias_axes")
                    bias.append(sizes[label])
                else:
                    bias.append(1)
            if eq.form == "right":
                bias += [1] * elided
        body = tuple(sizes[label] for label in eq.output)
        if eq.form == "left":
            output = tuple(elided_sizes) + body if elided > 0 else body
        else:
            output = body + tuple(elided_sizes)
        return _Shapes(tuple(kernel), None if bias is None else tuple(bias), output, sizes, tuple(elided_sizes))

    def build(self, input_shape):
        shapes = self._shapes(input_shape)
        self.kernel = self.add_weight(shape=shapes.kernel, initializer=self._kernel_initializer(shapes.kernel),
                                      name="kernel")
        self.bias = self.add_weight(shape=shapes.bias, initializer=self.bias_initializer,
                                    name="bias") if shapes.bias is not None else None

    def _kernel_initializer(self, kernel_shape):
        initializer = initializers.get(self.kernel_initializer)
        if not isinstance(initializer, initializers.VarianceScaling):
            return self.kernel_initializer
        eq = self.parsed
        fan_in = math.prod(size for label, size in zip(eq.kernel, kernel_shape) if label not in eq.output)
        fan_out = math.prod(size for label, size in zip(eq.kernel, kernel_shape) if label in eq.output)
        return _FanAxes(initializer, fan_in, fan_out)

    def compute_output_shape(self, input_shape):
        return activations.output_shape(self.activation, self._shapes(input_shape).output)

    # -- costs ----------------------------------------------------------------
    def count_macs(self, input_shape):
        shapes = self._shapes(input_shape)
        batch_label = None if self.parsed.form == "left" and shapes.elided else self.parsed.input[0]
        labels = [size for label, size in shapes.sizes.items() if label != batch_label]
        # A left ellipsis holds the batch axis first: the others count.
        passed = shapes.elided[1:] if self.parsed.form == "left" else shapes.elided
        return known_product(labels + list(passed))

    def count_elementwise(self, input_shape):
        outputs = known_product(self._shapes(input_shape).output[1:])
        if outputs is None:
            return None
        return outputs * ((self.bias_axes is not None) + activations.cost(self.activation))

    # -- computing --------------------------------------------------------------
    def _contraction(self, ndim: int) -> _Contraction:
        """How this equation runs as one matrix product, for inputs of ``ndim`` axes."""
        eq = self.parsed
        passed = [f"...{i}" for i in range(ndim - len(eq.input))]  # the ellipsis's axes
        if eq.form == "left":
            in_labels, out_labels = passed + list(eq.input), passed + list(eq.output)
        else:
            in_labels, out_labels = list(eq.input) + passed, list(eq.output) + passed
        kernel_labels = list(eq.kernel)
        # Labels in the input, the kernel and the output index a stack of
        # products; those in the input and kernel only are summed over.
        stacked = [label for label in kernel_labels if label in in_labels and label in out_labels]
        contracted = [label for label in kernel_labels if label in in_labels and label not in out_labels]
        kernel_free = [label for label in kernel_labels if label not in in_labels]
        summed = [label for label in in_labels if label not in out_labels and label not in kernel_labels]
        kept = [label for label in in_labels if label not in summed]
        input_free = [label for label in kept if label not in kernel_labels]
        order = stacked + input_free + contracted
        product_labels = stacked + input_free + kernel_free
        return _Contraction(
            summed_axes=tuple(in_labels.index(label) for label in summed),
            input_order=tuple(kept.index(label) for label in order),
            kernel_order=tuple(kernel_labels.index(label) for label in stacked + contracted + kernel_free),
            counts=(len(stacked), len(input_free), len(contracted), len(kernel_free)),
            output_order=tuple(product_labels.index(label) for label in out_labels))

    def _prepared_kernel(self, plan: _Contraction) -> np.ndarray:
        """The kernel as ``(stack, contracted, free)`` (or 2-D without a stack)."""
        kernel = np.transpose(self.kernel.value, plan.kernel_order)
        stacked, _, contracted, free = plan.counts
        shape = kernel.shape
        rows = math.prod(shape[stacked:stacked + contracted])
        columns = math.prod(shape[stacked + contracted:])
        if stacked:
            return np.ascontiguousarray(kernel.reshape(math.prod(shape[:stacked]), rows, columns))
        return np.ascontiguousarray(kernel.reshape(rows, columns))

    def call(self, inputs):
        plan = derived(self, ("plan", inputs.ndim), lambda: self._contraction(inputs.ndim))
        kernel = derived(self, ("kernel", inputs.ndim), lambda: self._prepared_kernel(plan))
        x = inputs.sum(axis=plan.summed_axes) if plan.summed_axes else inputs
        x = np.transpose(x, plan.input_order)
        stacked, free, contracted, _ = plan.counts
        stack_sizes = x.shape[:stacked]
        free_sizes = x.shape[stacked:stacked + free]
        rows = math.prod(free_sizes)
        depth = math.prod(x.shape[stacked + free:])
        if stacked:
            x = x.reshape(math.prod(stack_sizes), rows, depth)
        else:
            x = x.reshape(rows, depth)
        outputs = np.matmul(x, kernel)
        kernel_sizes = tuple(self.kernel.shape[axis] for axis in plan.kernel_order[stacked + contracted:])
        outputs = outputs.reshape(stack_sizes + free_sizes + kernel_sizes)
        if plan.output_order != tuple(range(outputs.ndim)):
            outputs = np.ascontiguousarray(np.transpose(outputs, plan.output_order))
        if self.bias is not None:
            outputs += self.bias.value
        return activations.in_place_form(self.activation)(outputs)


@dataclass(frozen=True)
class _Contraction:
    """An equation as one matrix product: sum the input over ``summed_axes``,
    transpose it to ``(stacked, free, contracted)`` and the kernel to
    ``(stacked, contracted, free)``, multiply, and transpose the product's
    ``(stacked, input free, kernel free)`` axes by ``output_order``."""

    summed_axes: tuple
    input_order: tuple
    kernel_order: tuple
    counts: tuple  # numbers of stacked, input free, contracted and kernel free labels
    output_order: tuple


def _show(sizes: tuple) -> str:
    return "[" + ", ".join("null" if size is None else str(size) for size in sizes) + "]"
