"""Convolution layers: Conv1D and Conv2D (channels_last), as in Keras 3.

A convolution here is cross-correlation (the kernel is not flipped), like
Keras. The forward pass is an im2col product, done a chunk of the batch at
a time so the copied windows are still in cache when they are multiplied
and the result still in cache when the activation runs:

- a chunk of images is padded into a reused buffer (only the middle is
  written; the border stays zero);
- every window of the chunk is copied from a strided view into one matrix
  (im2col), whose last column is ones when there is a bias;
- one BLAS product with the kernel matrix (the bias as its last row) writes
  the chunk's output in place, and the activation runs on it in place.

The kernel matrix is the plain ``(kh * kw * in, filters)`` reshape or, for
narrow layers, a *banded* one covering ``t`` neighbouring output columns
at once: each im2col row then holds the ``kh`` input rows under those
outputs, and the kernel matrix is ``(kh * span * in, t * filters)``, zero
outside the band. That does up to ``span / kw`` times the multiplications,
but copies less and gives BLAS a product shape it runs several times
faster: at batch 1024, LeNet's first layer (28x28x1 → 6 filters, t = 14)
ran 3.7x faster than plain im2col, its second (14x14x6 → 16, t = 5) 2.5x.
``t`` is chosen by a cost model (:func:`tile_width`); wide layers (64
channels and up) keep plain im2col. Kernel matrices are built once per
weights value (see :mod:`.prepared`).

Plain im2col copies the windows one of two ways. Window by window (kh runs
of ``kw * in`` values each) suits many channels; with one input channel
the runs are a few values long, so the matrix is filled *cell-major*
instead: its transpose ``(kh * kw * in + 1, rows)`` takes one whole output
row per kernel cell, all in one copy, and BLAS multiplies the transpose
back (:func:`cell_major`). That made the MNIST convnet's first layer
(28x28x1 → 32 filters 3x3) about 2x faster than banding it (which did 5x
the multiply-adds). A ReLU runs against an array of zeros
(:func:`layerspec.layers.core.relu_in_place`), about twice as fast as
against the scalar 0 (3.9 against 7.4 us on a (676, 32) float32 chunk, 38
against 90 us on (10816, 32); NumPy 2.4, 2026-11-30).

A pooling right after a convolution runs with it when its windows tile the
output (:meth:`_Conv.call_pooled`, offered to the forward pass by
``fused_with``): the im2col rows (and a banded kernel matrix's columns)
are ordered by the cell of the pool window they fall in, so the product is
one block per cell and the pool is one reduction over the blocks; before a
max pooling a ReLU is the reduction's start value, 0 (it commutes with a
max), other activations run on the chunk's products first. The
convolution's output exists a chunk at a time, in cache; outputs no window
covers are not computed. Measured at batch 32 (2026-11-30): the MNIST
convnet's first convolution and pooling 506 us against 784, its second
1254 against 1570; LeNet's first (banded, tanh, average) 626 against 949.

Measured and not kept: ``np.tensordot`` on the strided windows (2.3-4x
slower than im2col), the whole batch's im2col at once (1.1-1.6x slower
than chunks at batch 32-1024), and for one input channel, 25 shifted
multiply-adds (10-21x slower).
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import activations
from ..arguments import ActivationName, Boolean, Choice, DataFormat, InitializerName, Integer, IntTuple
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape
from .core import known_product, relu_in_place
from .prepared import derived
from .pooling import _Pooling
from .windows import as_tuple, check_rank, output_spatial, pad_spatial, padding_amounts, window_view


#: Up to this many groups, a grouped convolution multiplies by the
#: block-diagonal full kernel: groups times the arithmetic, but one large
#: BLAS product measured 2-4x faster than a batched product of small ones
#: (LeNet-sized, groups 2-128). Beyond it the wasted work grows too large.
DENSE_GROUPS_LIMIT = 32


#: Bytes of im2col matrix per chunk of the batch: small enough that the
#: matrix, and the output it gives, stay in a core's L2 cache between being
#: written and being read. On LeNet's two layers (2 cores, OpenBLAS with 2
#: threads): 256 KiB took 0.84 ms at batch 32 and 23.1 ms at 1024; 64 KiB
#: 1.24 / 38.4 ms; 512 KiB 1.36 / 22.7 ms; 4 MiB 1.45 / 22.5 ms. Conv2D and
#: Conv1D count the output too: their chunk's im2col matrix and output
#: together take up to ``2 * CHUNK_BYTES``. Measured with a batch split
#: across threads (BLAS one thread each, 2026-11-30), per image of a
#: 16-row slice: the MNIST convnet's second layer (3 images a chunk, was
#: 1) took 48-52 us against 55-58, its first (cell-major, 4 images a chunk)
#: 11-13 us against 14-18 at 9 images; LeNet's layers were unchanged.
CHUNK_BYTES = 1 << 18

#: The cost model of :func:`tile_width`, in multiply-adds of an efficient
#: product (about 0.013 ns each here): copying into the im2col matrix costs
#: ``RUN_COST`` per contiguous run of the input and ``VALUE_COST`` per value
#: (NumPy copied (32, 28, 28/t, 5, t + 4) windows at 8.5-9 ns per run of
#: t + 4 values, whatever t), and a product runs at full speed from about
#: ``FULL_SPEED_COLUMNS`` columns and a depth of ``FULL_SPEED_DEPTH``.
RUN_COST = 640
VALUE_COST = 8
FULL_SPEED_COLUMNS = 64
FULL_SPEED_DEPTH = 64

#: Largest im2col and padding buffers a layer keeps between calls, in bytes.
KEPT_BUFFER_BYTES = 1 << 20

#: Largest banded kernel matrix, in bytes.
BANDED_KERNEL_LIMIT = 1 << 21


def product_efficiency(depth: int, columns: int) -> float:
    """Speed of a ``(many, depth) @ (depth, columns)`` product, relative to full speed.

    A rough fit to OpenBLAS sgemm on AVX-512: 6 columns run at about 1/5 of
    full speed, 16 at 2/5, 32 at 3/5; a depth of 25 at 3/5.
    """
    return (min(1.0, columns / FULL_SPEED_COLUMNS) ** 0.7) * (min(1.0, depth / FULL_SPEED_DEPTH) ** 0.5)


def tile_span(width: int, kernel: int, stride: int, dilation: int) -> int:
    """Input columns under ``width`` neighbouring outputs."""
    return (width - 1) * stride + (kernel - 1) * dilation + 1


def tile_width(output_width: int, kernel_size: tuple, channels: int, filters: int, stride: int, dilation: int,
               itemsize: int) -> int:
    """How many neighbouring output columns one im2col row covers (1: plain im2col).

    The divisor of ``output_width`` with the least estimated cost per
    output row: multiply-adds over :func:`product_efficiency`, plus the
    copy into the im2col matrix (``RUN_COST`` per contiguous run,
    ``VALUE_COST`` per value). Width 1 costs the cheaper of its two copies
    (see :func:`cell_major`). LeNet's layers get 14 and 5; the Keras MNIST
    convnet's first layer (28x28x1 → 32 filters 3x3) gets 1, cell-major.
    """
    kernel_h, kernel_w = kernel_size
    best, best_cost = 1, None
    for width in range(1, output_width + 1):
        if output_width % width:
            continue
        span = kernel_w if width == 1 else tile_span(width, kernel_w, stride, dilation)
        depth, columns = kernel_h * span * channels, width * filters
        if width > 1 and (depth + 1) * columns * itemsize > BANDED_KERNEL_LIMIT:
            break
        # A band row is kh runs of span * in values; a window, kh runs of
        # kw * in values, or kh * kw runs of in values when dilated.
        runs = kernel_h * (kernel_w if width == 1 and dilation > 1 else 1)
        copy = output_width // width * (RUN_COST * runs + VALUE_COST * depth)
        if width == 1:
            copy = min(copy, cells_copy_cost(output_width, kernel_size, channels, stride))
        cost = output_width // width * depth * columns / product_efficiency(depth, columns) + copy
        if best_cost is None or cost < best_cost:
            best, best_cost = width, cost
    return best


def cells_copy_cost(output_width: int, kernel_size: tuple, channels: int, stride: int) -> float:
    """The cost model's copy of one output row into a cell-major im2col matrix.

    One run of ``output_width`` values per kernel cell and channel, where
    the input's columns are contiguous (one channel, stride 1); otherwise
    every value is a run of its own, too dear to be chosen.
    """
    cells = kernel_size[0] * kernel_size[1] * channels
    if channels * stride != 1:
        return RUN_COST * cells * output_width
    return cells * (RUN_COST + VALUE_COST * output_width)


def cell_major(output_width: int, kernel_size: tuple, channels: int, stride: int, dilation: int) -> bool:
    """Whether plain im2col (tile width 1) copies cell-major (see :class:`ConvPlan`).

    Per output row, a window copy is ``kh`` (``kh * kw`` dilated) runs of
    ``kw * in`` values per output column; cell-major, ``kh * kw * in`` runs
    of the whole row. With one input channel the second is far fewer runs:
    on the MNIST convnet's first layer (28x28x1, 32 filters 3x3, relu), one
    thread, 2026-11-30: 11-14 us per image against 26-28 us banded (t = 13)
    and 23-31 us with window copies.
    """
    kernel_h, kernel_w = kernel_size
    runs = kernel_h * (kernel_w if dilation > 1 else 1)
    windows = output_width * (RUN_COST * runs + VALUE_COST * kernel_h * kernel_w * channels)
    return cells_copy_cost(output_width, kernel_size, channels, stride) < windows


def kernel_matrix(kernel: np.ndarray, bias: np.ndarray | None, width: int, stride: int, dilation: int,
                  dtype) -> np.ndarray:
    """The kernel ``(kh, kw, in, filters)`` as the matrix an im2col row multiplies.

    ``width`` 1: ``(kh * kw * in, filters)``. Wider: banded, ``(kh * span *
    in, width * filters)``, output column ``j`` of a tile seeing input
    columns ``j * stride + dilation * (0 .. kw-1)`` of its span. The bias,
    if any, is one more row (the im2col matrix's column of ones meets it).
    """
    kernel_h, kernel_w, channels, filters = kernel.shape
    if width == 1:
        matrix = kernel.reshape(-1, filters)
    else:
        span = tile_span(width, kernel_w, stride, dilation)
        band = np.zeros((kernel_h, span, channels, width, filters), dtype)
        reach = (kernel_w - 1) * dilation + 1
        for column in range(width):
            start = column * stride
            band[:, start:start + reach:dilation, :, column, :] = kernel
        matrix = band.reshape(-1, width * filters)
    if bias is not None:
        matrix = np.concatenate([matrix, np.tile(bias, width)[np.newaxis]])
    return np.ascontiguousarray(matrix, dtype=dtype)


def strided_view(block: np.ndarray, shape: tuple, strides: tuple) -> np.ndarray:
    """A view of the C-contiguous ``block`` with ``shape`` and ``strides`` (in bytes).

    ``np.ndarray`` on the block's buffer: the same view as ``as_strided``
    for a fifth of its overhead, which counts at batch size 1.
    """
    try:
        return np.ndarray(shape, block.dtype, block, 0, strides)
    except (TypeError, ValueError, BufferError):  # a block without a usable buffer
        return as_strided(block, shape=shape, strides=strides, writeable=False)


def aligned_rows(rows: int, columns: int, dtype) -> np.ndarray:
    """An uninitialised ``(rows, columns)`` matrix whose rows start on 64-byte boundaries.

    Each row is padded to a whole number of cache lines, so the im2col
    copy writes aligned runs. Measured on the MNIST convnet's second layer
    (3 images of 13x13x32, 3x3 windows into a 289-column matrix, one
    thread, 2026-11-30): 5.6-5.8 us per image copied against 7.1, with the
    product's speed unchanged.
    """
    itemsize = np.dtype(dtype).itemsize
    stride = -(-columns * itemsize // 64) * 64
    raw = np.empty(rows * stride + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start:start + rows * stride].view(dtype).reshape(rows, stride // itemsize)[:, :columns]


def kept_chunk_buffers(plan, dtype, with_bias: bool, rows: int, cells: int, aligned: bool = False,
                       transposed: bool = False) -> tuple:
    """``(im2col matrix of rows × cells (+1 for a bias), padded block or None)``
    for one chunk of ``plan`` (a convolution plan of any rank: it has
    ``images``, ``spatial``, ``padded``, ``channels`` and a thread-local
    ``_local``), reused by this thread. ``aligned``: rows start on cache
    lines (:func:`aligned_rows`); ``transposed``: the matrix is
    ``(cells (+1), rows)``, for a cell-major copy, its last row the ones.

    The matrix has its column of ones (with a bias) and the padded block its
    zero border already; a call overwrites only the rest. Kept between
    calls, per thread, when small: most of a small batch's time is
    otherwise spent allocating them.
    """
    key = (dtype.str, with_bias)
    kept = getattr(plan._local, "buffers", None)
    if kept is not None and kept[0] == key:
        return kept[1]
    if transposed:
        columns = np.empty((cells + with_bias, rows), dtype)
        if with_bias:
            columns[-1] = 1
    else:
        columns = aligned_rows(rows, cells + with_bias, dtype) if aligned else np.empty((rows, cells + with_bias),
                                                                                         dtype)
        if with_bias:
            columns[:, -1] = 1
    padded = None
    if plan.padded != plan.spatial:
        padded = np.zeros((plan.images,) + plan.padded + (plan.channels,), dtype)
    made = (columns, padded)
    if columns.nbytes + (0 if padded is None else padded.nbytes) <= KEPT_BUFFER_BYTES:
        plan._local.buffers = (key, made)
    return made

class ConvPlan:
    """How a convolution runs on one input size, as a 2D convolution.

    A Conv1D is a Conv2D of height 1. Holds the padding, the output size,
    the tile width and the chunking; built once per input size.
    """

    def __init__(self, layer: "_Conv", spatial: tuple, channels: int, itemsize: int, banded: bool = True):
        if layer.rank == 1:
            spatial = (1,) + tuple(spatial)
            kernel_size, strides, dilation = ((1,) + layer.kernel_size, (1,) + layer.strides,
                                              (1,) + layer.dilation_rate)
            pads = [(0, 0), padding_amounts(spatial[1], kernel_size[1], strides[1], dilation[1], layer.padding)]
        else:
            kernel_size, strides, dilation = layer.kernel_size, layer.strides, layer.dilation_rate
            pads = [padding_amounts(n, k, s, d, layer.padding)
                    for n, k, s, d in zip(spatial, kernel_size, strides, dilation)]
        self.spatial, self.pads, self.channels = tuple(spatial), pads, channels
        self.kernel_size, self.strides, self.dilation = kernel_size, strides, dilation
        self.padded = tuple(n + before + after for n, (before, after) in zip(spatial, pads))
        self.output = tuple((n - (k - 1) * d - 1) // s + 1
                            for n, k, s, d in zip(self.padded, kernel_size, strides, dilation))
        self._local = threading.local()
        self._pooled_layouts: dict = {}
        self.width = tile_width(self.output[1], kernel_size, channels, layer.filters, strides[1], dilation[1],
                                itemsize) if banded else 1
        self.cells = self.width == 1 and cell_major(self.output[1], kernel_size, channels, strides[1], dilation[1])
        self.tiles = self.output[1] // self.width
        span = kernel_size[1] if self.width == 1 else tile_span(self.width, kernel_size[1], strides[1], dilation[1])
        self.depth = kernel_size[0] * span * channels
        # Per im2col row: the row and the outputs it gives.
        row_bytes = (self.depth + 1 + self.width * layer.filters) * itemsize
        budget = 2 * CHUNK_BYTES
        per_image = self.output[0] * self.tiles * row_bytes
        if per_image <= budget:
            self.images, self.rows = max(1, budget // per_image), self.output[0]
        else:  # a large image: chunks of output rows of one image
            self.images, self.rows = 1, max(1, min(self.output[0], budget // (self.tiles * row_bytes)))

    def buffers(self, dtype, with_bias: bool) -> tuple:
        """``(im2col matrix, padded block or None)`` for a chunk, reused by this thread.

        The im2col matrix (transposed when cell-major) has its ones (with a
        bias) and the padded block its zero border already; a call only
        overwrites the rest. Kept between calls, per thread, when they are
        small (most of a small batch's time is otherwise spent allocating
        them).
        """
        rows = self.images * self.rows * self.tiles
        return kept_chunk_buffers(self, dtype, with_bias, rows, self.depth, aligned=True, transposed=self.cells)

    def output_buffer(self, size: int, dtype) -> np.ndarray:
        """An uninitialised vector of ``size`` values for a chunk's output, reused by this thread."""
        kept = getattr(self._local, "output", None)
        if kept is None or kept.size < size or kept.dtype != dtype:
            kept = self._local.output = np.empty(size, dtype)
        return kept

    def pooled_windows(self, block: np.ndarray, window: tuple, positions: tuple) -> np.ndarray:
        """The im2col rows of ``block`` under a pool ``window`` (height,
        width) that tiles the output, as a view: ``(pool_h, pool_w, images,
        pooled_h, pooled_w, kh, kw, in)``, each output at its cell of its
        pool window; cell-major, the window axes ``kh, kw, in`` come first
        instead; banded, ``(pool_h, images, pooled_h, tiles, kh, span *
        in)`` (a tile holds whole windows). The layout is worked out once
        per block layout (a batch-1 pass notices the Python)."""
        key = (window, positions, block.strides)
        layout = self._pooled_layouts.get(key)
        if layout is None:
            (kernel_h, kernel_w), (stride_h, stride_w), (dilation_h, dilation_w) = (
                self.kernel_size, self.strides, self.dilation)
            image, row, column, channel = block.strides
            (pool_h, pool_w), (pooled_h, pooled_w) = window, positions
            if self.width > 1:  # a tile holds whole windows: only rows are ordered by cell
                by_cell = ((pool_h, row * stride_h), (0, image), (pooled_h, row * stride_h * pool_h),
                           (self.tiles, column * stride_w * self.width))
                in_window = ((kernel_h, row * dilation_h), (self.depth // kernel_h, channel))
            else:
                by_cell = ((pool_h, row * stride_h), (pool_w, column * stride_w), (0, image),
                           (pooled_h, row * stride_h * pool_h), (pooled_w, column * stride_w * pool_w))
                in_window = ((kernel_h, row * dilation_h), (kernel_w, column * dilation_w),
                             (self.channels, channel))
            axes = in_window + by_cell if self.cells else by_cell + in_window
            layout = self._pooled_layouts[key] = ([size for size, _ in axes], tuple(step for _, step in axes),
                                                  [size for size, _ in axes].index(0))
        shape, strides, images_axis = layout
        shape = shape.copy()
        shape[images_axis] = len(block)
        return strided_view(block, tuple(shape), strides)

    def windows(self, block: np.ndarray) -> np.ndarray:
        """Every im2col row of ``block`` (padded, C-contiguous), as a view.

        ``(images, out_h, out_w, kh, kw, in)`` for width 1, else
        ``(images, out_h, tiles, kh, span * in)``; cell-major, the
        transpose of the first: ``(kh, kw, in, images, out_h, out_w)``.
        """
        (kernel_h, kernel_w), (stride_h, stride_w), (dilation_h, dilation_w) = (self.kernel_size, self.strides,
                                                                                self.dilation)
        image, row, column, channel = block.strides
        out_h, out_w = self.output
        if self.cells:
            shape = (kernel_h, kernel_w, self.channels, len(block), out_h, out_w)
            strides = (row * dilation_h, column * dilation_w, channel, image, row * stride_h, column * stride_w)
        elif self.width == 1:
            shape = (len(block), out_h, out_w, kernel_h, kernel_w, self.channels)
            strides = (image, row * stride_h, column * stride_w, row * dilation_h, column * dilation_w, channel)
        else:
            shape = (len(block), out_h, self.tiles, kernel_h, self.depth // kernel_h)
            strides = (image, row * stride_h, column * stride_w * self.width, row * dilation_h, channel)
        return strided_view(block, shape, strides)


@np.errstate(over="ignore", invalid="ignore")
def all_finite(x: np.ndarray) -> bool:
    """Whether the C-contiguous ``x`` holds no inf or NaN (True: surely none).

    One BLAS pass, ``x · x``, which is inf or NaN if any value is; it also
    overflows for values past ~1e19 (float32), a false alarm that only
    costs the slower path. At LeNet's sizes it took 2-3 us at batch 1 and
    0.16-0.24 ms at batch 1024, half of ``np.isfinite(x).all()`` there. (The
    decorator silences the overflow warning at a third of ``with``'s cost.)
    """
    flat = x.reshape(-1)
    return math.isfinite(np.dot(flat, flat))


def block_diagonal(kernel: np.ndarray, groups: int) -> np.ndarray:
    """A grouped kernel ``(*k, in/g, filters)`` as a full ``(*k, in, filters)`` one.

    Input channel ``c`` of group ``c // (in/g)`` meets only that group's
    filters; every other weight is zero.
    """
    *window, per_group, filters = kernel.shape
    per_filters = filters // groups
    grouped = kernel.reshape(tuple(window) + (per_group, groups, per_filters))
    full = np.zeros(tuple(window) + (groups, per_group, groups, per_filters), dtype=kernel.dtype)
    for group in range(groups):
        full[..., group, :, group, :] = grouped[..., :, group, :]
    return full.reshape(tuple(window) + (groups * per_group, filters))


class _Conv(Layer):
    """What Conv1D and Conv2D share; ``rank`` is the number of spatial axes."""

    rank = 2

    def __init__(self, filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                 use_bias, kernel_initializer, bias_initializer, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = as_tuple(kernel_size, self.rank)
        self.strides = as_tuple(strides, self.rank)
        self.padding = padding
        self.data_format = data_format
        self.dilation_rate = as_tuple(dilation_rate, self.rank)
        self.groups = groups
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        if filters % groups:
            raise ArgumentError(f"filters ({filters}) must be divisible by groups ({groups})", argument="groups")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            # Keras refuses this combination too.
            raise ArgumentError(f"strides > 1 not supported in conjunction with dilation_rate > 1, got strides "
                                f"{format_shape(self.strides)} and dilation_rate {format_shape(self.dilation_rate)}",
                                argument="dilation_rate")

    # -- shapes -----------------------------------------------------------
    def input_channels(self, input_shape) -> int:
        """The input's channel count, checked against rank and groups."""
        check_rank(input_shape, self.rank)
        channels = input_shape[-1]
        if channels is None:
            raise ShapeError(f"needs a known number of channels (the last axis), got {format_shape(input_shape)}")
        if channels % self.groups:
            raise ShapeError(f"input channels ({channels}) must be divisible by groups ({self.groups}); "
                             f"the input is {format_shape(input_shape)}", argument="groups")
        return channels

    def build(self, input_shape):
        channels = self.input_channels(input_shape)
        self.compute_output_shape(input_shape)
        self.kernel = self.add_weight(shape=self.kernel_size + (channels // self.groups, self.filters),
                                      initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer=self.bias_initializer,
                                    name="bias") if self.use_bias else None

    def compute_output_shape(self, input_shape):
        self.input_channels(input_shape)
        spatial = output_spatial(tuple(input_shape[1:-1]), self.kernel_size, self.strides, self.dilation_rate,
                                 self.padding, "kernel_size")
        return activations.output_shape(self.activation, (input_shape[0],) + spatial + (self.filters,))

    def count_macs(self, input_shape):
        positions = known_product(self.compute_output_shape(input_shape)[1:-1])
        if positions is None:
            return None
        per_position = math.prod(self.kernel_size) * (input_shape[-1] // self.groups)
        return positions * self.filters * per_position

    def count_elementwise(self, input_shape):
        positions = known_product(self.compute_output_shape(input_shape)[1:-1])
        # Per filter before the activation (glu halves the channels after it).
        return None if positions is None else positions * self.filters * (
            self.use_bias + activations.cost(self.activation))

    # -- computing --------------------------------------------------------
    def call(self, inputs):
        return self._call(inputs)

    def fused_with(self, following):
        """A pooling right after this convolution runs with it (see :meth:`call_pooled`)."""
        if type(following).call is not _Pooling.call or following.rank != self.rank \
                or type(self).call is not _Conv.call or activations.needs_whole_output(self.activation):
            return None
        return lambda inputs: self.call_pooled(inputs, following)

    def call_pooled(self, inputs, pool):
        """``pool.call(self.call(inputs))`` for a max or average pooling
        ``pool``, the whole convolution output never made: each chunk is
        activated and pooled as soon as its product is written, while it is
        in cache. Before a max pooling, a ReLU or no activation runs on the
        pooled values instead (they commute with a max), a quarter of the
        size under a 2x2 pool. Where that cannot be done (a pooling whose
        windows overlap or pad, chunks of part of an image, a banded tile
        that splits a window) it is the two calls.
        """
        return self._call(inputs, pool)

    def _commutes_with_max(self) -> bool:
        return self.activation is activations.relu or self.activation is activations.linear

    def _call(self, inputs, pool=None):
        if self.groups > DENSE_GROUPS_LIMIT:
            outputs = self._call_by_group(inputs)
            return outputs if pool is None else pool.call(outputs)
        dtype = self.kernel.dtype
        if inputs.dtype == dtype and inputs.flags.c_contiguous:
            x = inputs
        else:
            dtype = np.result_type(inputs.dtype, dtype)
            x = np.ascontiguousarray(inputs, dtype=dtype)
        batch, channels = x.shape[0], x.shape[-1]
        plan = self._plan(x.shape[1:-1], channels, dtype.itemsize)
        if (plan.width > 1 or self.groups > 1) and not all_finite(x):
            # The banded and block-diagonal kernel matrices hold zeros where
            # an output does not see an input; 0 * inf is NaN, so an inf or
            # NaN would spread to outputs that never see it. Such input takes
            # a formulation without structural zeros (one check of the input
            # costs far less than the product).
            if self.groups > 1:
                outputs = self._call_by_group(x)
                return outputs if pool is None else pool.call(outputs)
            plan = self._plan(x.shape[1:-1], channels, dtype.itemsize, banded=False)
        pooling = None if pool is None else self._pooling(plan, pool, batch, dtype)
        if self.rank == 1:
            x = x.reshape(batch, 1, x.shape[1], channels)
        out_h, out_w = plan.output
        # An activation that changes the shape (glu) or works along another
        # axis than the last runs once on the whole output, not on each
        # chunk written into it.
        reshaping = activations.needs_whole_output(self.activation)
        if pooling is not None:
            window = pooling[1]
            matrix = derived(self, ("matrix", plan.width, dtype.str, window[1]),
                             lambda: self._kernel_matrix(plan, dtype, window[1]))
            self._convolve_pooled(x, plan, matrix, pool, *pooling)
            return pooling[0]
        if batch:
            matrix = derived(self, ("matrix", plan.width, dtype.str), lambda: self._kernel_matrix(plan, dtype))
        outputs = np.empty((batch, out_h, out_w, self.filters), dtype)
        if batch:
            self._convolve(x, plan, matrix, outputs, activations.linear if reshaping else self.activation)
        if self.rank == 1:
            outputs = outputs.reshape(batch, out_w, self.filters)
        outputs = self.activation(outputs) if reshaping else outputs
        return outputs if pool is None else pool.call(outputs)

    def _pooling(self, plan: ConvPlan, pool, batch: int, dtype) -> tuple | None:
        """``(pooled output, pool window)`` when ``pool`` can pool each chunk
        as it is made: whole images per chunk, a pooling that pads nothing
        and whose windows tile the output (strides equal to the window), a
        banded tile holding whole windows, an activation that can run on
        pieces, and either more than one chunk of images or a ReLU (or no
        activation) that can run after a max pooling; else None. The window
        is (height, width), height 1 for one spatial axis."""
        if not batch or plan.rows != plan.output[0] or pool.strides != pool.pool_size \
                or activations.needs_whole_output(self.activation):  # checked again: set after the offer?
            return None
        if batch <= plan.images and not (pool.mode == "max" and self._commutes_with_max()):
            # One chunk's output stays in cache anyway, and the pool's own
            # folds are then no slower: fusing saves nothing (LeNet at batch
            # 1: 110-111 us a pass against 117-121 fused).
            return None
        window = pool.pool_size if self.rank == 2 else (1,) + pool.pool_size
        if plan.width > 1 and plan.width % window[1]:
            return None
        pads, _, _, positions = pool.plan_for(plan.output if self.rank == 2 else plan.output[1:])
        if pads is not None or min(positions) < 1:
            return None
        return np.empty((batch,) + positions + (self.filters,), dtype), window

    def _plan(self, spatial: tuple, channels: int, itemsize: int, banded: bool = True) -> ConvPlan:
        """The plan for one input size, made once; ``banded=False``: plain im2col (tile width 1)."""
        plans = self.__dict__.setdefault("_plans", {})
        key = (spatial, channels, itemsize, banded)
        plan = plans.get(key)
        if plan is None:
            self.compute_output_shape((None,) + tuple(spatial) + (channels,))  # a ShapeError if it cannot run
            plan = plans[key] = ConvPlan(self, spatial, channels, itemsize, banded)
        return plan

    def _kernel_matrix(self, plan: ConvPlan, dtype, pool_width: int = 1) -> np.ndarray:
        """The kernel matrix of ``plan``; banded under a pool ``pool_width``
        wide, its output columns ordered by cell of the pool window first
        (see :meth:`_convolve_pooled`)."""
        kernel = self.kernel.value
        if self.groups > 1:
            kernel = block_diagonal(kernel, self.groups)
        if self.rank == 1:
            kernel = kernel[np.newaxis]
        bias = None if self.bias is None else self.bias.value
        matrix = kernel_matrix(kernel, bias, plan.width, plan.strides[1], plan.dilation[1], dtype)
        if plan.width == 1 or pool_width == 1:
            return matrix
        # Tile column j = j' * pool_width + cell goes to block ``cell``, place j'.
        columns = np.arange(plan.width * self.filters).reshape(-1, pool_width, self.filters)
        return np.ascontiguousarray(matrix[:, columns.transpose(1, 0, 2).reshape(-1)])

    def _convolve(self, x: np.ndarray, plan: ConvPlan, matrix: np.ndarray, outputs: np.ndarray,
                  activation) -> None:
        """Fill ``outputs`` chunk by chunk: pad, im2col, one product, ``activation``."""
        batch, (height, width), dtype = len(x), plan.spatial, x.dtype
        (top, _), (left, _) = plan.pads
        padding = plan.padded != plan.spatial
        images, rows = min(plan.images, batch), plan.rows
        columns, padded = plan.buffers(dtype, len(matrix) == plan.depth + 1)
        out_columns = plan.width * self.filters
        relu = activation is activations.relu
        cells = plan.cells
        for start in range(0, batch, images):
            count = min(images, batch - start)
            if padding:
                block = padded[:count]
                block[:, top:top + height, left:left + width] = x[start:start + count]
            else:
                block = x[start:start + count]
            windows = plan.windows(block)
            for first in range(0, plan.output[0], rows):
                last = min(first + rows, plan.output[0])
                matrix_rows = count * (last - first) * plan.tiles
                # Views (splitting axes never copies): the copy fills the buffer.
                if cells:
                    im2col = columns[:, :matrix_rows]
                    part = windows if rows == plan.output[0] else windows[..., first:last, :]
                    np.copyto(im2col[:plan.depth].reshape(part.shape), part)
                    im2col = im2col.T
                else:
                    im2col = columns[:matrix_rows]
                    part = windows if rows == plan.output[0] else windows[:, first:last]
                    np.copyto(im2col[:, :plan.depth].reshape(part.shape), part)
                chunk = outputs[start:start + count] if rows == plan.output[0] else outputs[start:start + count,
                                                                                             first:last]
                product = chunk.reshape(matrix_rows, out_columns)
                np.matmul(im2col, matrix, out=product)
                if relu:
                    relu_in_place(product)
                    continue
                result = activations.apply_inplace(activation, chunk)
                if result is not chunk:
                    chunk[...] = result

    def _convolve_pooled(self, x: np.ndarray, plan: ConvPlan, matrix: np.ndarray, pool, pooled: np.ndarray,
                         window: tuple) -> None:
        """Fill ``pooled`` chunk by chunk: pad, im2col, one product, activation, pool.

        The product comes out as one contiguous block per cell of the pool
        window, so the pool is one reduction over whole blocks (no strided
        passes): plain im2col orders its rows by cell, ``(cells, rows,
        filters)``; a banded one orders its rows by the window's row and
        its kernel matrix's columns by the window's column, ``(pool_h,
        rows, pool_w, columns)``. Outputs no window covers are not
        computed. Before a max pooling a ReLU (or no activation) is the
        reduction's start value, 0, instead of a pass of its own.
        """
        batch, (height, width), dtype = len(x), plan.spatial, x.dtype
        (top, _), (left, _) = plan.pads
        columns, padded = plan.buffers(dtype, len(matrix) == plan.depth + 1)
        per_image = math.prod(pooled.shape[1:-1])
        positions = (1,) + pooled.shape[1:-1] if self.rank == 1 else pooled.shape[1:-1]
        cells, filters = window[0] * window[1], self.filters
        out_columns = plan.width * filters
        after_pool = pool.mode == "max" and self._commutes_with_max()
        reduce = (np.maximum if pool.mode == "max" else np.add).reduce
        start_from = {"initial": 0} if after_pool and self.activation is activations.relu else {}
        buffer = plan.output_buffer(cells * plan.images * per_image * filters, dtype)
        for start in range(0, batch, plan.images):
            count = min(plan.images, batch - start)
            if plan.padded != plan.spatial:
                block = padded[:count]
                block[:, top:top + height, left:left + width] = x[start:start + count]
            else:
                block = x[start:start + count]
            windows = plan.pooled_windows(block, window, positions)
            rows = cells * count * per_image * filters // out_columns
            if plan.cells:
                im2col = columns[:, :rows]
                np.copyto(im2col[:plan.depth].reshape(windows.shape), windows)
                im2col = im2col.T
            else:
                im2col = columns[:rows]
                np.copyto(im2col[:, :plan.depth].reshape(windows.shape), windows)
            products = buffer[:rows * out_columns].reshape(rows, out_columns)
            np.matmul(im2col, matrix, out=products)
            if not after_pool:
                values = products.reshape(-1, filters)  # the activation sees channels last
                result = activations.apply_inplace(self.activation, values)
                if result is not values:
                    values[...] = result
            if plan.width == 1:
                blocks, axes = products.reshape(cells, -1, filters), 0
            else:
                blocks, axes = products.reshape(window[0], rows // window[0], window[1], -1), (0, 2)
            target = pooled[start:start + count].reshape(blocks.shape[1], blocks.shape[-1])
            # One call pools every block (fewer calls hold the GIL less when
            # slices of a batch run in threads: four took 2-3x their time alone).
            reduce(blocks, axis=axes, out=target, **start_from)
            if pool.mode == "average":
                target /= cells

    def _call_by_group(self, inputs):
        """Many groups: strided windows and one batched product over the groups."""
        pads = [padding_amounts(n, k, s, d, self.padding)
                for n, k, s, d in zip(inputs.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)]
        windows = window_view(pad_spatial(inputs, pads, 0), self.kernel_size, self.strides, self.dilation_rate)
        positions = windows.shape[:self.rank + 1]
        outputs = self._multiply_by_group(windows, math.prod(positions), self.kernel.value)
        if self.bias is not None:
            outputs += self.bias.value
        return activations.apply_inplace(self.activation, outputs.reshape(positions + (self.filters,)))

    def _multiply_by_group(self, windows: np.ndarray, rows: int, kernel: np.ndarray) -> np.ndarray:
        """One batched product over the groups (for many groups)."""
        groups, per_group = self.groups, kernel.shape[-2]
        cells = math.prod(self.kernel_size) * per_group
        split = windows.reshape(windows.shape[:-1] + (groups, per_group))
        columns = np.moveaxis(split, -2, 0).reshape(groups, rows, cells)
        kernels = kernel.reshape(-1, per_group, groups, self.filters // groups)
        kernels = kernels.transpose(2, 0, 1, 3).reshape(groups, cells, self.filters // groups)
        # (groups, rows, f/g) → (rows, groups, f/g): filters stay group-major, as in Keras.
        return np.matmul(columns, kernels).transpose(1, 0, 2).reshape(rows, self.filters)


@register
class Conv1D(_Conv):
    """1D convolution (temporal convolution) over a sequence.

    Cross-correlates ``filters`` kernels with the input along its steps,
    adds a bias and applies ``activation``.

    Args:
        filters: number of output channels.
        kernel_size: length of the convolution window (int or list of 1).
        strides: step between windows. ``strides > 1`` cannot be combined
            with ``dilation_rate > 1``.
        padding: ``valid`` (no padding), ``same`` (pads so the output has
            ``ceil(steps / strides)`` steps; the odd cell goes at the end) or
            ``causal`` (pads ``(kernel_size - 1) * dilation_rate`` at the
            start only, so output ``t`` never sees input after ``t``).
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells.
        groups: splits the input channels into this many groups, each
            convolved with ``filters / groups`` filters; both ``filters`` and
            the input channels must be divisible by it.
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of ``kernel``.
        bias_initializer: initializer of ``bias``.

    Weights:
        ``kernel`` ``(kernel_size, channels / groups, filters)``, ``bias``
        ``(filters,)``.

    Input shape:
        ``(batch, steps, channels)``.
    Output shape:
        ``(batch, new_steps, filters)``; ``filters / 2`` channels with
        ``activation: glu``, which halves the last axis.
    """

    rank = 1

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(1), strides: IntTuple(1) = 1,
                 padding: Choice("valid", "same", "causal") = "valid", data_format: DataFormat() = None,
                 dilation_rate: IntTuple(1) = 1, groups: Integer(min=1) = 1, activation: ActivationName() = None,
                 use_bias: Boolean() = True, kernel_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, **kwargs)


@register
class Conv2D(_Conv):
    """2D convolution over images.

    Cross-correlates ``filters`` kernels with the input over its height and
    width, adds a bias and applies ``activation``.

    Args:
        filters: number of output channels.
        kernel_size: height and width of the window (int or list of 2).
        strides: step between windows (int or list of 2). ``strides > 1``
            cannot be combined with ``dilation_rate > 1``.
        padding: ``valid`` (no padding) or ``same`` (pads so each output
            size is ``ceil(size / strides)``; an odd total padding puts the
            extra cell at the bottom/right).
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells (int or list of 2).
        groups: splits the input channels into this many groups, each
            convolved with ``filters / groups`` filters; both ``filters`` and
            the input channels must be divisible by it.
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of ``kernel``.
        bias_initializer: initializer of ``bias``.

    Weights:
        ``kernel`` ``(kernel_height, kernel_width, channels / groups,
        filters)``, ``bias`` ``(filters,)``.

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, new_height, new_width, filters)``; ``filters / 2``
        channels with ``activation: glu``, which halves the last axis.
    """

    rank = 2

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(2), strides: IntTuple(2) = 1,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None,
                 dilation_rate: IntTuple(2) = 1, groups: Integer(min=1) = 1, activation: ActivationName() = None,
                 use_bias: Boolean() = True, kernel_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, **kwargs)


register(name="Convolution1D")(Conv1D)
register(name="Convolution2D")(Conv2D)
