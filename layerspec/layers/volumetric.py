"""Volumetric (3D) layers, channels_last, as in Keras 3: Conv3D, MaxPooling3D,
AveragePooling3D, GlobalAveragePooling3D, GlobalMaxPooling3D, ZeroPadding3D,
Cropping3D and UpSampling3D.

Inputs are ``(batch, depth, height, width, channels)``. Each layer is its
1D/2D sibling with a third spatial axis: the shape rules, weights, costs and
padding arithmetic are shared with :mod:`.conv`, :mod:`.pooling`,
:mod:`.reshaping` and :mod:`.windows`; only the convolution's forward pass
is its own.

Conv3D's forward pass is an im2col product done a chunk at a time, as
Conv2D's plain path is: a chunk of volumes is padded into a reused buffer,
every window of it is copied from a strided view into one matrix (with a
column of ones when there is a bias), and one BLAS product with the kernel
matrix (the bias its last row) writes the chunk's output in place. A volume
too large for one chunk is done a few output depth slices (or rows) at a
time, so the matrix stays in cache. Measured (float32, CPU time with one
BLAS thread, 3x3x3 kernels, ``same``), against ``np.tensordot`` on the
strided windows and against 27 products of shifted input slices, one per
kernel cell: (32, 16, 16, 16, 8) → 16 filters 25 / 73 / 87 ms;
(8, 32, 32, 32, 1) → 8 filters 34 / 42 / 254 ms; (4, 16, 64, 64, 16) → 32
filters 182 / 288 / 505 ms; (64, 8, 8, 8, 32) → 64 filters 70 / 102 / 116 ms.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .. import activations
from ..arguments import (ActivationName, Boolean, Choice, DataFormat, InitializerName, Integer, IntTuple,
                         Optional)
from ..registry import register
from .conv import (CHUNK_BYTES, DENSE_GROUPS_LIMIT, _Conv, all_finite, block_diagonal, kept_chunk_buffers,
                   strided_view)
from .pooling import _GlobalPooling, _Pooling
from .prepared import derived
from .reshaping import PaddingAmounts, _Cropping, _Padding, _pair, _UpSampling
from .windows import padding_amounts

VOLUME_LAYOUT = "(batch, depth, height, width, channels)"

#: Fewest im2col rows a chunk holds, however wide its rows.
MIN_CHUNK_ROWS = 128


# -- Conv3D -------------------------------------------------------------------
class VolumePlan:
    """How a Conv3D runs on one input size: padding, output size and chunking.

    A chunk is several whole volumes when one volume's im2col matrix fits in
    ``CHUNK_BYTES``; otherwise one volume, a few output depth slices at a
    time, or a few output rows of one slice when even a slice is too large.
    Built once per input size.
    """

    def __init__(self, layer: "Conv3D", spatial: tuple, channels: int, itemsize: int):
        kernel_size, strides, dilation = layer.kernel_size, layer.strides, layer.dilation_rate
        self.pads = [padding_amounts(n, k, s, d, layer.padding)
                     for n, k, s, d in zip(spatial, kernel_size, strides, dilation)]
        self.spatial, self.channels = tuple(spatial), channels
        self.kernel_size, self.strides, self.dilation = kernel_size, strides, dilation
        self.padded = tuple(n + before + after for n, (before, after) in zip(spatial, self.pads))
        self.output = tuple((n - (k - 1) * d - 1) // s + 1
                            for n, k, s, d in zip(self.padded, kernel_size, strides, dilation))
        #: Columns of the im2col matrix (without the bias's column of ones).
        self.cells = math.prod(kernel_size) * channels
        out_d, out_h, out_w = self.output
        # Output positions (im2col rows) per chunk.
        target = max(CHUNK_BYTES // ((self.cells + 1) * itemsize), MIN_CHUNK_ROWS)
        per_slice = out_h * out_w
        self.images, self.slices, self.rows = 1, out_d, out_h
        if out_d * per_slice <= target:
            self.images = max(1, target // (out_d * per_slice))
        elif per_slice <= target:
            self.slices = target // per_slice
        else:
            self.slices, self.rows = 1, max(1, target // out_w)
        self._local = threading.local()

    def buffers(self, dtype, with_bias: bool) -> tuple:
        """``(im2col matrix, padded block or None)`` for a chunk, reused by this thread.

        The matrix has its column of ones (with a bias) and the padded block
        its zero border already; a call overwrites only the rest. Kept
        between calls when small, as Conv2D's are.
        """
        rows = self.images * self.slices * self.rows * self.output[2]
        return kept_chunk_buffers(self, dtype, with_bias, rows, self.cells)

    def windows(self, block: np.ndarray) -> np.ndarray:
        """Every window of ``block`` (padded, C-contiguous) as a view
        ``(volumes, out_d, out_h, out_w, kd, kh, kw, channels)``."""
        volume, *axes, channel = block.strides
        shape = (len(block),) + self.output + self.kernel_size + (self.channels,)
        strides = ((volume,) + tuple(b * s for b, s in zip(axes, self.strides))
                   + tuple(b * d for b, d in zip(axes, self.dilation)) + (channel,))
        return strided_view(block, shape, strides)


@register
class Conv3D(_Conv):
    """3D convolution over volumes (depth, height, width).

    Cross-correlates ``filters`` kernels with the input over its three
    spatial axes, adds a bias and applies ``activation``.

    Args:
        filters: number of output channels.
        kernel_size: depth, height and width of the window (int or list of
            3).
        strides: step between windows (int or list of 3). ``strides > 1``
            cannot be combined with ``dilation_rate > 1``.
        padding: ``valid`` (no padding) or ``same`` (pads so each output
            size is ``ceil(size / strides)``; an odd total padding puts the
            extra cell at the end of its axis).
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells (int or list of 3).
        groups: splits the input channels into this many groups, each
            convolved with ``filters / groups`` filters; both ``filters`` and
            the input channels must be divisible by it.
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of ``kernel``.
        bias_initializer: initializer of ``bias``.

    Weights:
        ``kernel`` ``(kernel_depth, kernel_height, kernel_width, channels /
        groups, filters)``, ``bias`` ``(filters,)``.

    Input shape:
        ``(batch, depth, height, width, channels)``.
    Output shape:
        ``(batch, new_depth, new_height, new_width, filters)``; ``filters /
        2`` channels with ``activation: glu``, which halves the last axis.
    """

    rank = 3

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(3), strides: IntTuple(3) = (1, 1, 1),
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None,
                 dilation_rate: IntTuple(3) = (1, 1, 1), groups: Integer(min=1) = 1,
                 activation: ActivationName() = None, use_bias: Boolean() = True,
                 kernel_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, **kwargs)

    def call(self, inputs):
        if self.groups > DENSE_GROUPS_LIMIT:
            return self._call_by_group(inputs)
        dtype = self.kernel.dtype
        if inputs.dtype == dtype and inputs.flags.c_contiguous:
            x = inputs
        else:
            dtype = np.result_type(inputs.dtype, dtype)
            x = np.ascontiguousarray(inputs, dtype=dtype)
        if self.groups > 1 and not all_finite(x):
            # The block-diagonal kernel holds zeros between groups; 0 * inf is
            # NaN, so an inf or NaN would reach the other groups' outputs.
            return self._call_by_group(x)
        plan = self._volume_plan(x.shape[1:-1], x.shape[-1], dtype.itemsize)
        outputs = np.empty((len(x),) + plan.output + (self.filters,), dtype)
        # An activation that changes the shape (glu) or works along another axis
        # than the last runs once, on the whole output.
        reshaping = activations.needs_whole_output(self.activation)
        if len(x):
            matrix = derived(self, ("matrix3d", dtype.str), lambda: self._volume_matrix(dtype))
            self._convolve_volumes(x, plan, matrix, outputs, activations.linear if reshaping else self.activation)
        return self.activation(outputs) if reshaping else outputs

    def _volume_plan(self, spatial: tuple, channels: int, itemsize: int) -> VolumePlan:
        plans = self.__dict__.setdefault("_volume_plans", {})
        key = (spatial, channels, itemsize)
        plan = plans.get(key)
        if plan is None:
            self.compute_output_shape((None,) + tuple(spatial) + (channels,))  # a ShapeError if it cannot run
            plan = plans[key] = VolumePlan(self, spatial, channels, itemsize)
        return plan

    def _volume_matrix(self, dtype) -> np.ndarray:
        """The kernel as ``(kd * kh * kw * in (+ 1 for the bias), filters)``."""
        kernel = self.kernel.value
        if self.groups > 1:
            kernel = block_diagonal(kernel, self.groups)
        matrix = kernel.reshape(-1, self.filters)
        if self.bias is not None:
            matrix = np.concatenate([matrix, self.bias.value[np.newaxis]])
        return np.ascontiguousarray(matrix, dtype=dtype)

    def _convolve_volumes(self, x: np.ndarray, plan: VolumePlan, matrix: np.ndarray, outputs: np.ndarray,
                          activation) -> None:
        """Fill ``outputs`` chunk by chunk: pad, im2col, one product, ``activation``."""
        batch = len(x)
        middle = (slice(None),) + tuple(slice(before, before + n) for n, (before, _) in zip(plan.spatial, plan.pads))
        columns, padded = plan.buffers(x.dtype, len(matrix) == plan.cells + 1)
        images = min(plan.images, batch)
        out_d, out_h, out_w = plan.output
        for start in range(0, batch, images):
            count = min(images, batch - start)
            if padded is not None:
                block = padded[:count]
                block[middle] = x[start:start + count]
            else:
                block = x[start:start + count]
            windows = plan.windows(block)
            for first_slice in range(0, out_d, plan.slices):
                last_slice = min(first_slice + plan.slices, out_d)
                for first_row in range(0, out_h, plan.rows):
                    last_row = min(first_row + plan.rows, out_h)
                    part = windows[:, first_slice:last_slice, first_row:last_row]
                    rows = count * (last_slice - first_slice) * (last_row - first_row) * out_w
                    im2col = columns[:rows]
                    # Splitting axes of a view never copies: the copy fills the buffer.
                    np.copyto(im2col[:, :plan.cells].reshape(part.shape), part)
                    # Contiguous: a chunk spans several volumes only whole, several
                    # slices only whole-sliced, and rows within one slice.
                    chunk = outputs[start:start + count, first_slice:last_slice, first_row:last_row]
                    np.matmul(im2col, matrix, out=chunk.reshape(rows, self.filters))
                    result = activations.apply_inplace(activation, chunk)
                    if result is not chunk:
                        chunk[...] = result


# -- pooling ------------------------------------------------------------------
@register
class MaxPooling3D(_Pooling):
    """Max pooling over the depth, height and width of volumes.

    Each output is the largest value in its window; padding never wins.

    Args:
        pool_size: depth, height and width of the pooling window (int or
            list of 3; default 2).
        strides: step between windows (int or list of 3); null means
            ``pool_size``.
        padding: ``valid`` (no padding) or ``same`` (pads so each output
            size is ``ceil(size / strides)``; an odd padding puts the extra
            cell at the end of its axis).
        data_format: ``channels_last`` or null (the only layout supported).

    Input shape:
        ``(batch, depth, height, width, channels)``.
    Output shape:
        ``(batch, pooled_depth, pooled_height, pooled_width, channels)``.
    """

    rank = 3
    mode = "max"

    def __init__(self, pool_size: IntTuple(3) = (2, 2, 2), strides: Optional(IntTuple(3)) = None,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@register
class AveragePooling3D(_Pooling):
    """Average pooling over the depth, height and width of volumes.

    Each output is the mean of its window; with ``same`` padding, a window
    at the border is averaged over its real cells only, as in Keras.

    Args:
        pool_size: depth, height and width of the pooling window (int or
            list of 3); required (unlike max pooling, Keras gives it no
            default).
        strides: step between windows (int or list of 3); null means
            ``pool_size``.
        padding: ``valid`` (no padding) or ``same`` (pads so each output
            size is ``ceil(size / strides)``; an odd padding puts the extra
            cell at the end of its axis).
        data_format: ``channels_last`` or null (the only layout supported).

    Input shape:
        ``(batch, depth, height, width, channels)``.
    Output shape:
        ``(batch, pooled_depth, pooled_height, pooled_width, channels)``.
    """

    rank = 3
    mode = "average"

    def __init__(self, pool_size: IntTuple(3), strides: Optional(IntTuple(3)) = None,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@register
class GlobalAveragePooling3D(_GlobalPooling):
    """Global average pooling: the mean over depth, height and width, per channel.

    Args:
        data_format: ``channels_last`` or null (the only layout supported).
        keepdims: keep the three spatial axes, with size 1.

    Input shape:
        ``(batch, depth, height, width, channels)``.
    Output shape:
        ``(batch, channels)``, or ``(batch, 1, 1, 1, channels)`` with
        ``keepdims``.
    """

    rank = 3
    mode = "average"


@register
class GlobalMaxPooling3D(_GlobalPooling):
    """Global max pooling: the largest value over depth, height and width, per channel.

    Args:
        data_format: ``channels_last`` or null (the only layout supported).
        keepdims: keep the three spatial axes, with size 1.

    Input shape:
        ``(batch, depth, height, width, channels)``.
    Output shape:
        ``(batch, channels)``, or ``(batch, 1, 1, 1, channels)`` with
        ``keepdims``.
    """

    rank = 3
    mode = "max"


# -- padding, cropping, upsampling -------------------------------------------
class VolumeAmounts(PaddingAmounts):
    """How much to pad (or crop) before and after each of three spatial axes.

    As in Keras: an integer (the same everywhere), or a list of 3 items, one
    per axis, each an integer (symmetric) or a pair ``(before, after)``:
    ``((1, 1), (2, 2), (3, 3))``, ``(1, 2, 3)`` or a mix. ``check`` returns
    three pairs.
    """

    def __init__(self):
        super().__init__(3)
        self.expected = "an integer >= 0 or a list of 3 (each an integer >= 0 or a pair of them)"

    def _normalise(self, value):
        if not isinstance(value, (list, tuple)):
            return (_pair(value),) * 3 if _pair(value) is not None else None
        if len(value) != 3:
            return None
        pairs = tuple(_pair(item) for item in value)
        return None if None in pairs else pairs

    def json_schema(self):
        amount = {"type": "integer", "minimum": 0}
        pair = {"type": "array", "items": amount, "minItems": 2, "maxItems": 2}
        per_axis = {"anyOf": [amount, pair]}
        return {"anyOf": [amount, {"type": "array", "items": per_axis, "minItems": 3, "maxItems": 3}]}


@register
class ZeroPadding3D(_Padding):
    """Pads a volume with zeros on its six faces.

    Args:
        padding: an integer (the same on every face), a list of 3 integers
            (symmetric per axis: depth, height, width), or a list of 3 pairs
            ``((front, back), (top, bottom), (left, right))``; the items may
            be mixed.
        data_format: ``channels_last`` (the only layout layerspec uses).

    Input shape:
        ``(batch, depth, height, width, channels)``.
    Output shape:
        each spatial size grown by its two amounts.
    """

    layout = VOLUME_LAYOUT

    def __init__(self, padding: VolumeAmounts() = ((1, 1), (1, 1), (1, 1)), data_format: DataFormat() = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.padding = padding
        self.amounts = padding
        self.data_format = data_format


@register
class Cropping3D(_Cropping):
    """Removes slices, rows and columns at the borders of a volume.

    Args:
        cropping: an integer (the same on every face), a list of 3 integers
            (symmetric per axis: depth, height, width), or a list of 3 pairs
            ``((front, back), (top, bottom), (left, right))``; the items may
            be mixed. Default 1 on every face, as in Keras.
        data_format: ``channels_last`` (the only layout layerspec uses).

    Input shape:
        ``(batch, depth, height, width, channels)``.
    Output shape:
        each spatial size less its two amounts; at least one slice, row and
        column must remain.
    """

    layout = VOLUME_LAYOUT
    axis_nouns = ("slices", "rows", "columns")

    def __init__(self, cropping: VolumeAmounts() = ((1, 1), (1, 1), (1, 1)), data_format: DataFormat() = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.cropping = cropping
        self.amounts = cropping
        self.data_format = data_format


@register
class UpSampling3D(_UpSampling):
    """Enlarges a volume by repeating its slices, rows and columns (nearest neighbour).

    Args:
        size: an integer or a list of 3 ``(depth, height, width)``: how many
            times each slice, row and column is repeated.
        data_format: ``channels_last`` (the only layout layerspec uses).

    Input shape:
        ``(batch, depth, height, width, channels)``.
    Output shape:
        ``(batch, depth * size[0], height * size[1], width * size[2],
        channels)``.
    """

    layout = VOLUME_LAYOUT

    def __init__(self, size: IntTuple(3, min=1) = (2, 2, 2), data_format: DataFormat() = None, **kwargs):
        super().__init__(**kwargs)
        self.size = size
        self.factors = size
        self.data_format = data_format


# Keras's short names for the same classes.
for _alias, _class in (("Convolution3D", Conv3D), ("MaxPool3D", MaxPooling3D), ("AvgPool3D", AveragePooling3D),
                       ("GlobalAvgPool3D", GlobalAveragePooling3D), ("GlobalMaxPool3D", GlobalMaxPooling3D)):
    register(name=_alias)(_class)
