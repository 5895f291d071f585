"""Core layers: Dense, Activation, Dropout, Masking."""

from __future__ import annotations

import math

import numpy as np

from .. import activations
from ..arguments import ActivationName, ArgumentKind, Boolean, InitializerName, Integer, Number, Optional, \
    describe_value
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape
from .prepared import derived

#: Dense multiplies ``(kernel.T @ x.T).T``, with ``kernel.T`` stored
#: contiguous, when ``x`` has at least 2 rows but fewer than the layer has
#: units, and either at least ``TRANSPOSED_MIN_ROWS`` rows or a kernel of
#: at least ``TRANSPOSED_MIN_SIZE`` values: OpenBLAS runs that product
#: faster there (784x1024 kernel: 0.16 vs 0.21 ms at 8 rows, 0.27 vs 0.35 ms
#: at 32; 400x120 at 32 rows: 22-27 vs 33-38 us), and slower on small
#: kernels with few rows (256x256 at 8 rows: 16 vs 11 us). At 1 row the
#: plain product stays: alone, with the kernel in cache, the transposed one
#: is up to 2x faster (784x1024: 28 vs 56 us), but in a chain whose weights
#: come from L3 (the 784-1024-1024-10 MLP) it was 4 % slower (168 vs 162 us).
TRANSPOSED_MIN_ROWS = 32
TRANSPOSED_MIN_SIZE = 1 << 18
#: Above this size a kernel is not copied in transposed form: the copy
#: would double the memory of a large model's weights.
TRANSPOSED_KERNEL_LIMIT = 1 << 28


#: The largest array ``relu_in_place`` runs against an array of zeros
#: (elements); larger ones take the scalar form.
ZEROS_LIMIT = 1 << 20
_zeros: dict = {}


def relu_in_place(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)`` written over ``x`` (a C- or Fortran-contiguous float array).

    Against an array of zeros of ``x``'s own layout rather than the scalar
    0, whose loop NumPy does not vectorise: the same values, bit for bit,
    in about half the time (2026-11-30, float32: 32x1024 5.0 vs 9.6 us;
    512x1024 77 vs 137 us; the 784-1024-1024-10 MLP, whose time is its
    products, gains 0-3 % at batch 32). The zeros are shared and never
    written.
    """
    if x.size > ZEROS_LIMIT or not (x.flags.c_contiguous or x.flags.f_contiguous):
        return np.maximum(x, 0, out=x)
    zeros = _zeros.get(x.dtype)
    if zeros is None or zeros.size < x.size:
        zeros = _zeros[x.dtype] = np.zeros(max(x.size, 1 << 16), x.dtype)
    zeros = zeros[:x.size]
    zeros = zeros.reshape(x.shape) if x.flags.c_contiguous else zeros.reshape(x.shape[::-1]).T
    return np.maximum(x, zeros, out=x)


def known_product(sizes) -> int | None:
    """The product of ``sizes``, or None if any is unknown."""
    sizes = list(sizes)
    if any(size is None for size in sizes):
        return None
    return math.prod(sizes)


@register
class Dense(Layer):
    """Densely connected layer: ``activation(x @ kernel + bias)``.

    Applied on the last axis of an input of any rank, like Keras.

    Args:
        units: size of the output's last axis.
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of ``kernel``.
        bias_initializer: initializer of ``bias``.

    Input shape:
        ``(batch, ..., input_dim)``.
    Output shape:
        ``(batch, ..., units)``; ``(batch, ..., units / 2)`` with
        ``activation: glu``, which halves the last axis (Keras computes
        that too, although its ``compute_output_shape`` says ``units``).
    """

    supports_masking = True  # a mask passes through, as in Keras

    def __init__(self, units: Integer(min=1), activation: ActivationName() = None, use_bias: Boolean() = True,
                 kernel_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ShapeError(f"needs an input with a feature axis, got {format_shape(input_shape)}")
        if input_shape[-1] is None:
            raise ShapeError(f"needs a known size on the last axis, got {format_shape(input_shape)}")
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer=self.kernel_initializer,
                                      name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer,
                                    name="bias") if self.use_bias else None

    def compute_output_shape(self, input_shape):
        return activations.output_shape(self.activation, tuple(input_shape[:-1]) + (self.units,))

    def count_macs(self, input_shape):
        positions = known_product(input_shape[1:-1])
        return None if positions is None else positions * input_shape[-1] * self.units

    def count_elementwise(self, input_shape):
        outputs = known_product(input_shape[1:-1])
        return None if outputs is None else outputs * self.units * (self.use_bias + activations.cost(self.activation))

    def call(self, inputs):
        kernel = self.kernel.value
        rows = len(inputs) if inputs.ndim == 2 else 0
        if 1 < rows < self.units and (rows >= TRANSPOSED_MIN_ROWS or kernel.size >= TRANSPOSED_MIN_SIZE) \
                and kernel.nbytes <= TRANSPOSED_KERNEL_LIMIT:
            # The faster BLAS call here (see TRANSPOSED_MIN_ROWS). Its result
            # is the transpose of a C-ordered array: Fortran order.
            transposed = derived(self, "kernel.T", kernel.T.copy)
            outputs = (transposed @ inputs.T).T
        else:
            outputs = np.matmul(inputs, kernel)
        if self.bias is not None:
            outputs += self.bias.value
        # ``outputs`` is a fresh floating array: no need for apply_inplace's checks.
        if self.activation is activations.relu:
            return relu_in_place(outputs)
        return activations.in_place_form(self.activation)(outputs)


@register
class Activation(Layer):
    """Applies an activation function elementwise.

    Args:
        activation: activation name (``relu``, ``softmax``, ...).

    Input shape:
        any. Output shape: the same, but for ``glu``, which halves the last
        axis (its size must be even).
    """

    supports_masking = True  # a mask passes through, as in Keras

    has_macs = False

    def __init__(self, activation: ActivationName(), **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def count_elementwise(self, input_shape):
        elements = known_product(input_shape[1:])
        return None if elements is None else elements * activations.cost(self.activation)

    def compute_output_shape(self, input_shape):
        return activations.output_shape(self.activation, tuple(input_shape))

    def call(self, inputs):
        return self.activation(inputs)


class NoiseShape(ArgumentKind):
    """A dropout mask's shape: a list of integers >= 1 or nulls, batch axis first.

    ``null`` takes the input's size on that axis, ``1`` shares the mask
    along it (Keras's ``noise_shape: [null, 1, features]`` drops the same
    features at every time step). Returned as a tuple.
    """

    expected = "a list of integers >= 1 or null, one per input axis (the batch axis first)"

    def check(self, value, argument):
        if isinstance(value, (list, tuple)) and value and all(
                item is None or (isinstance(item, int) and not isinstance(item, bool) and item >= 1)
                for item in value):
            return tuple(value)
        raise ArgumentError(f"argument '{argument}' must be {self.expected}, got {describe_value(value)}",
                            argument=argument)

    def json_schema(self):
        return {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
                "minItems": 1}


def show_noise_shape(noise_shape: tuple) -> str:
    """A noise shape as the spec writes it: ``[null, 1, 8]``."""
    return "[" + ", ".join("null" if size is None else str(size) for size in noise_shape) + "]"


@register
class Dropout(Layer):
    """Randomly zeroes inputs during training; the identity at inference.

    layerspec only runs inference, so this layer passes its input through;
    its arguments are still checked so a spec stays valid for Keras.

    Args:
        rate: fraction of inputs to drop, in [0, 1].
        noise_shape: shape of the dropout mask, one entry per input axis
            (batch axis first): ``null`` for the input's size, ``1`` to
            share the mask along that axis, e.g. ``[null, 1, 8]`` drops
            the same features at every step of a ``(steps, 8)`` input. Each
            size other than the batch's must be 1 or the input's size.
        seed: random seed (checked, unused).

    Input shape:
        any. Output shape: the same.
    """

    supports_masking = True  # a mask passes through, as in Keras

    has_macs = False

    def __init__(self, rate: Number(min=0, max=1), noise_shape: Optional(NoiseShape()) = None,
                 seed: Optional(Integer(min=0)) = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.noise_shape = noise_shape
        self.seed = seed

    def build(self, input_shape):
        self.check_noise_shape(input_shape)

    def check_noise_shape(self, input_shape) -> None:
        """Refuse a ``noise_shape`` whose mask could not broadcast over the input."""
        if self.noise_shape is None:
            return
        shown = show_noise_shape(self.noise_shape)
        if len(self.noise_shape) != len(input_shape):
            raise ShapeError(f"noise_shape {shown} has {len(self.noise_shape)} axes, but the input "
                             f"{format_shape(input_shape)} has {len(input_shape)} (the batch axis included)",
                             argument="noise_shape")
        # The batch size is only known at run time, so its entry is not checked.
        for axis, (size, known) in enumerate(zip(self.noise_shape[1:], input_shape[1:]), start=1):
            if size not in (None, 1) and known is not None and size != known:
                raise ShapeError(f"noise_shape {shown}: size {size} on axis {axis} must be 1, null or the "
                                 f"input's {known}; the input is {format_shape(input_shape)}",
                                 argument="noise_shape")

    def compute_output_shape(self, input_shape):
        self.check_noise_shape(input_shape)
        return tuple(input_shape)

    def call(self, inputs):
        return inputs


@register
class Masking(Layer):
    """Marks steps as padding: a step whose every feature equals
    ``mask_value`` is masked, and later layers skip it (an RNN keeps its
    state there, GlobalAveragePooling1D leaves it out).

    As Keras's: the output is the input with masked steps set to 0, and the
    mask is True where some feature differs from ``mask_value``.

    Args:
        mask_value: the value a padded step holds in every feature.

    Input shape:
        ``(batch, ..., features)``, rank >= 2. Output shape: the same; the
        mask's is the input's without its last axis.

    Costs: two operations per element (the comparison and the select).
    """

    supports_masking = True
    has_macs = False

    def __init__(self, mask_value: Number() = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ShapeError(f"Masking needs inputs with a feature axis, got {format_shape(input_shape)}")
        return tuple(input_shape)

    def count_elementwise(self, input_shape):
        elements = known_product(input_shape[1:])
        return None if elements is None else 2 * elements

    def compute_mask_shape(self, input_shape, mask_shape):
        return tuple(input_shape[:-1])

    def compute_mask(self, inputs, mask):
        return self._kept(inputs)[..., 0]

    def call(self, inputs):
        kept = self._kept(inputs)
        return np.where(kept, inputs, inputs.dtype.type(0))

    def _kept(self, inputs: np.ndarray) -> np.ndarray:
        """True (keeping a size-1 feature axis) where a step is not padding."""
        return np.not_equal(inputs, inputs.dtype.type(self.mask_value)).any(axis=-1, keepdims=True)
