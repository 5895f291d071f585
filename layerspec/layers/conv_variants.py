"""Transposed, depthwise and separable convolutions (channels_last), as in Keras 3.

Conv1DTranspose / Conv2DTranspose
    Keras's kernel is ``(*kernel_size, filters, in)``. Every input position
    ``i`` adds ``x[i] · kernel[j]`` at output position ``i·s + j·d`` of a
    "full" output of length ``(n-1)·s + k'`` (``k' = (k-1)·d + 1``); Keras's
    output is a window of it, where JAX's padding (Keras's
    ``_convert_conv_transpose_padding_args_from_keras_to_jax``: ``lo``
    before, ``hi`` after) puts it: it starts ``k' - 1 - lo`` cells in and is
    as long as ``compute_conv_transpose_output_shape`` says (cells past the
    full output hold only the bias).

    Forward pass, "sub-pixel" form: output position ``q·s + p`` (phase
    ``p``) only ever sees the taps ``j`` with ``j·d ≡ p + crop (mod s)``,
    from inputs ``q - t`` with ``t = (j·d - p - crop) / s``. So every phase
    is an ordinary stride-1 convolution of the input with a small window of
    ``T`` cells, and all ``s_h·s_w`` phases come out of one im2col matrix
    (``T_h·T_w·in`` columns and a column of ones): one product per row
    phase with a ``(columns, s_w·filters)`` kernel matrix (bias as its last
    row), written straight into the interleaved output (a product per row
    phase keeps the output's rows contiguous, so no interleaving copy is
    needed). A row phase's product starts at the im2col column of its first
    tap's window row (kernel 3, stride 2: the odd rows skip half the
    columns). A chunk of the batch at a time, so the im2col matrix and the
    output stay in cache. The kernel matrices still hold zeros where a
    phase has no tap at a window cell (kernel 3, stride 2: 9 taps in 12
    slots); ``0 · inf`` would be NaN where Keras has ``inf``, so when there
    are such zeros an input holding inf or NaN takes the scatter form below
    instead (one check of the input; see ``conv.all_finite``).

    Scatter form (non-finite inputs, and strides much larger than the
    kernel, where most of the phase matrix would be zeros): one product
    ``x @ kernel`` gives every tap's contribution, added into a zeroed full
    output with one strided slice per tap, then cropped. Exact, but each
    strided add runs in NumPy inner loops of ``filters`` values.

DepthwiseConv1D / DepthwiseConv2D
    ``kernel`` ``(*kernel_size, C, M)``; output channel ``c·M + m``; bias
    ``(C·M)``. The forward pass is a sum over the kernel's taps of strided
    slices of the padded input times per-channel weights. The weights of a
    tap are tiled along the output row (``(out_w·C·M,)``), so every NumPy
    call runs over whole rows (``out_w·C·M`` values) instead of broadcasting
    a ``(C,)`` vector in inner loops of ``C``; a chunk of the batch (or of
    an image's rows) at a time, so the partial sums stay in cache. Strides
    along the width are handled by storing the padded input's columns by
    phase (column ``u`` at ``[u % s, u // s]``), so every tap still reads
    contiguous rows. ``depth_multiplier > 1`` repeats each input channel
    ``M`` times as it is copied into the padded buffer.

SeparableConv1D / SeparableConv2D
    The depthwise step (no bias) into a chunk-sized buffer, then the
    pointwise ``(C·M, filters)`` product into the output, ``bias``
    (filters) and the activation, chunk by chunk.

Measured (benchmarks/conv_variants.py: 2 cores shared with other jobs,
medians of alternating rounds, ms, layerspec against the fastest NumPy
formulation written there):

- Conv2DTranspose 16x16x32 → 32x32x16 (kernel 3, strides 2, same): 0.11 /
  2.9-4.4 / 16-34 at batch 1 / 32 / 256, 0.49-0.71 of the same sub-pixel
  products done for the whole batch at once; the scatter form took 16-24 ms
  at batch 32. Chunks of ``CHUNK_BYTES`` (1-2 images here) keep the im2col
  matrix and the output in cache.
- DepthwiseConv2D 56x56x32 (kernel 3, same): 1.0-1.3 / 31-36 / 264-371,
  0.59-0.96 of the best of: taps with tiled weights for the whole batch,
  ``np.einsum`` on ``sliding_window_view``; taps broadcasting ``(C,)``
  weights over the whole batch were 1.1-1.5x slower than tiled ones.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .. import activations
from ..arguments import ActivationName, Boolean, Choice, DataFormat, InitializerName, Integer, IntTuple, Optional
from ..errors import ArgumentError, ShapeError
from ..registry import register
from .base import Layer, format_shape
from .conv import CHUNK_BYTES, KEPT_BUFFER_BYTES, all_finite, strided_view
from .core import known_product
from .prepared import derived
from .windows import as_tuple, check_rank, output_spatial, padding_amounts

#: Below this share of useful entries in the phase kernel matrix (taps over
#: phase-by-window slots), a transposed convolution takes the scatter form:
#: strides far larger than the kernel would make the phase matrix mostly zeros.
MIN_PHASE_DENSITY = 0.25

#: Bytes of padded input, partial sums and scratch a depthwise chunk works
#: in; an image larger than this is done a few output rows at a time, with
#: ``DEPTHWISE_ROW_BYTES`` of partial sums per chunk of rows.
DEPTHWISE_CHUNK_BYTES = 1 << 20
DEPTHWISE_ROW_BYTES = 1 << 17


def _strides_and_dilation(strides: tuple, dilation: tuple) -> None:
    if max(strides) > 1 and max(dilation) > 1:
        # Keras refuses this combination for convolutions and transposed ones.
        raise ArgumentError(f"strides > 1 not supported in conjunction with dilation_rate > 1, got strides "
                            f"{format_shape(strides)} and dilation_rate {format_shape(dilation)}",
                            argument="dilation_rate")


def _known_channels(input_shape, rank: int) -> int:
    check_rank(input_shape, rank)
    channels = input_shape[-1]
    if channels is None:
        raise ShapeError(f"needs a known number of channels (the last axis), got {format_shape(input_shape)}")
    return channels


def _as_2d(x: np.ndarray, rank: int) -> np.ndarray:
    """A rank-1 layer's ``(batch, steps, channels)`` as an image of height 1."""
    return x.reshape(x.shape[0], 1, x.shape[1], x.shape[2]) if rank == 1 else x


def _floating_input(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``x`` C-contiguous in the dtype the product runs in (the weights', or wider)."""
    if x.dtype == dtype and x.flags.c_contiguous:
        return x
    return np.ascontiguousarray(x, dtype=np.result_type(x.dtype, dtype))


def _chunks(batch: int, rows: int, per_image: int, per_row: int, budget: int):
    """``(first image, images, first row, last row)`` chunks of a batch.

    As many images as fit ``budget`` bytes (``per_image`` each), or, for an
    image larger than that, one image a few rows at a time (``per_row``
    bytes each). Rows are only split with one image per chunk, so a chunk
    of a C-contiguous ``(batch, rows, ...)`` array is itself contiguous.
    """
    if per_image <= budget or rows <= 1:
        images = max(1, budget // max(per_image, 1))
        for start in range(0, batch, images):
            yield start, min(images, batch - start), 0, rows
        return
    step = max(1, min(rows, budget // max(per_row, 1)))
    for start in range(batch):
        for first in range(0, rows, step):
            yield start, 1, first, min(rows, first + step)


def _activate_in_place(activation, values: np.ndarray, channels: int) -> None:
    """``activation`` over ``values`` in place, seeing cells of ``channels`` values.

    ``values`` keeps several cells side by side on its last axis (a row of
    pixels, or a pixel's phases); an activation along the channels (softmax)
    must see each cell alone, so the last axis is split (a view) first.
    """
    cells = values.reshape(values.shape[:-1] + (values.shape[-1] // channels, channels))
    result = activations.apply_inplace(activation, cells)
    if result is not cells:
        cells[...] = result


class _Kept:
    """Scratch buffers kept between calls, per thread, when they are small."""

    def __init__(self):
        self._local = threading.local()

    def get(self, key, make):
        kept = getattr(self._local, "buffers", None)
        if kept is not None and kept[0] == key:
            return kept[1]
        made = make()
        if sum(buffer.nbytes for buffer in made if buffer is not None) <= KEPT_BUFFER_BYTES:
            self._local.buffers = (key, made)
        return made


# ----------------------------------------------------------------------------
# transposed convolutions


def transpose_pads(kernel: int, stride: int, dilation: int, padding: str, output_padding) -> tuple[int, int]:
    """JAX's ``(lo, hi)`` padding of the stride-dilated input, as Keras 3 computes it.

    ``lax.conv_transpose`` dilates the input by ``stride``, pads it with
    ``lo`` and ``hi`` zeros and cross-correlates it with the flipped kernel.
    """
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return span - 1, span - 1 + extra
    total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    before = min(total // 2 + total % 2, span - 1)
    return before, total - before


def transpose_output_size(size, kernel: int, stride: int, dilation: int, padding: str, output_padding):
    """Output length of one axis (Keras's ``compute_conv_transpose_output_shape``); None stays None."""
    if size is None:
        return None
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return (size - 1) * stride + span + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + span % 2 + output_padding


class _PhaseAxis:
    """One spatial axis of a transposed convolution, as ``stride`` phases.

    Output position ``o = q·stride + p`` is full-output position ``o +
    crop``; it gets tap ``j`` of input ``q - t`` whenever ``j·d - p - crop =
    t·stride``. Window cell ``w = (t_max - t) / d`` of output ``q`` reads
    padded input ``q + w·d`` (the input starts ``before = t_max`` cells into
    the padded buffer).
    """

    def __init__(self, size: int, kernel: int, stride: int, dilation: int, padding: str, output_padding):
        span = (kernel - 1) * dilation + 1
        before, _ = transpose_pads(kernel, stride, dilation, padding, output_padding)
        self.size, self.kernel, self.stride, self.dilation = size, kernel, stride, dilation
        self.crop = span - 1 - before
        self.output = transpose_output_size(size, kernel, stride, dilation, padding, output_padding)
        self.grid = -(-self.output // stride)
        found = [(phase, tap, (tap * dilation - phase - self.crop) // stride)
                 for phase in range(stride) for tap in range(kernel)
                 if (tap * dilation - phase - self.crop) % stride == 0]
        highest = max(shift for _, _, shift in found)
        lowest = min(shift for _, _, shift in found)
        self.cells = (highest - lowest) // dilation + 1
        #: (phase, kernel tap, window cell) of every tap.
        self.taps = [(phase, tap, (highest - shift) // dilation) for phase, tap, shift in found]
        self.before = highest
        self.reads = self.grid + (self.cells - 1) * dilation
        self.padded = max(self.reads, self.before + size)
        #: The full output's length: enough for every tap and for the crop.
        self.full = max((size - 1) * stride + span, self.crop + self.output)

    @property
    def slots(self) -> int:
        return self.stride * self.cells


class TransposePlan:
    """How a transposed convolution runs on one input size (a rank-1 layer as height 1)."""

    def __init__(self, layer: "_ConvTranspose", spatial: tuple, channels: int, itemsize: int):
        axes = [_PhaseAxis(size, *arguments, layer.padding, padding)
                for size, arguments, padding in zip(spatial, zip(layer.kernel_size, layer.strides,
                                                                  layer.dilation_rate),
                                                    layer.output_padding or (None,) * layer.rank)]
        if layer.rank == 1:
            axes.insert(0, _PhaseAxis(1, 1, 1, 1, "valid", None))
        self.rows, self.columns = axes
        self.channels, self.filters = channels, layer.filters
        self.spatial = (self.rows.size, self.columns.size)
        self.output = (self.rows.output, self.columns.output)
        self.depth = self.rows.cells * self.columns.cells * channels
        # Row phase p's product starts at the window row of its first tap
        # (the im2col columns before it would meet only zeros); a phase
        # without taps gets the bias alone (the ones column).
        row_cells = {phase: [cell for p, _, cell in self.rows.taps if p == phase]
                     for phase in range(self.rows.stride)}
        per_cell_row = self.columns.cells * channels
        self.offsets = [min(cells) * per_cell_row if cells else self.depth for cells in row_cells.values()]
        used = sum(self.rows.cells - min(cells) for cells in row_cells.values() if cells) * self.columns.slots
        taps = len(self.rows.taps) * len(self.columns.taps)
        #: Whether the phase kernel matrices hold no zeros that meet an input
        #: (then an inf or NaN input is safe: no 0 · inf).
        self.complete = taps == used
        self.use_phases = taps >= MIN_PHASE_DENSITY * self.rows.slots * self.columns.slots
        self.padding = (self.rows.before, self.columns.before) != (0, 0) or \
            (self.rows.padded, self.columns.padded) != self.spatial
        self.kept = _Kept()
        # A chunk: im2col rows of whole phase-grid rows, and their output.
        row_bytes = self.columns.grid * ((self.depth + 1) + self.rows.stride * self.columns.stride
                                         * self.filters) * itemsize
        self.per_row, self.per_image = row_bytes, row_bytes * self.rows.grid

    def buffers(self, dtype, images: int, rows: int) -> tuple:
        """``(im2col matrix with its ones column, zero-bordered padded block or None)``."""

        def make():
            columns = np.empty((images * rows * self.columns.grid, self.depth + 1), dtype)
            columns[:, -1] = 1
            padded = None
            if self.padding:
                padded = np.zeros((images, self.rows.padded, self.columns.padded, self.channels), dtype)
            return columns, padded

        return self.kept.get((dtype.str, images, rows), make)

    def windows(self, block: np.ndarray) -> np.ndarray:
        """``(images, grid_h, grid_w, cells_h, cells_w, in)``: every window, a strided view."""
        image, row, column, channel = block.strides
        shape = (len(block), self.rows.grid, self.columns.grid, self.rows.cells, self.columns.cells,
                 self.channels)
        strides = (image, row, column, row * self.rows.dilation, column * self.columns.dilation, channel)
        return strided_view(block, shape, strides)


def phase_matrices(kernel: np.ndarray, bias: np.ndarray | None, plan: TransposePlan, dtype) -> list[np.ndarray]:
    """The kernel ``(kh, kw, filters, in)`` as one matrix per row phase.

    Row ``(w_h, w_w, c)`` of the im2col matrix meets column ``(p_w, f)`` of
    row phase ``p_h`` with ``kernel[j_h, j_w, f, c]`` where window cells
    ``w`` hold tap ``j`` for phase ``p``, zero elsewhere; the last row is
    the bias (or zeros). Row phase ``p_h``'s matrix starts at im2col column
    ``plan.offsets[p_h]``: the window rows before its first tap would only
    meet zeros.
    """
    rows, columns = plan.rows, plan.columns
    filters, channels = kernel.shape[2], kernel.shape[3]
    matrix = np.zeros((rows.cells, columns.cells, channels, rows.stride, columns.stride, filters), dtype)
    for phase_h, tap_h, cell_h in rows.taps:
        for phase_w, tap_w, cell_w in columns.taps:
            matrix[cell_h, cell_w, :, phase_h, phase_w, :] = kernel[tap_h, tap_w].T
    matrix = matrix.reshape(plan.depth, rows.stride, columns.stride * filters)
    last = np.zeros((1, columns.stride * filters), dtype)
    if bias is not None:
        last[0] = np.tile(bias, columns.stride)
    return [np.ascontiguousarray(np.concatenate([matrix[offset:, phase], last]), dtype=dtype)
            for phase, offset in enumerate(plan.offsets)]


class _ConvTranspose(Layer):
    """What Conv1DTranspose and Conv2DTranspose share; ``rank`` spatial axes."""

    rank = 2

    def __init__(self, filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                 activation, use_bias, kernel_initializer, bias_initializer, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = as_tuple(kernel_size, self.rank)
        self.strides = as_tuple(strides, self.rank)
        self.padding = padding
        self.output_padding = None if output_padding is None else as_tuple(output_padding, self.rank)
        self.data_format = data_format
        self.dilation_rate = as_tuple(dilation_rate, self.rank)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        if self.output_padding is not None:
            for axis, (extra, stride) in enumerate(zip(self.output_padding, self.strides)):
                if extra >= stride:
                    # Keras 3's rule (output_padding < strides), axis by axis.
                    raise ArgumentError(f"output_padding must be less than strides on every axis, got "
                                        f"output_padding {format_shape(self.output_padding)} and strides "
                                        f"{format_shape(self.strides)} (axis {axis}: {extra} >= {stride})",
                                        argument="output_padding")
        _strides_and_dilation(self.strides, self.dilation_rate)

    # -- shapes -----------------------------------------------------------
    def _output_spatial(self, input_shape) -> tuple:
        _known_channels(input_shape, self.rank)
        spatial = tuple(input_shape[1:-1])
        if any(size is not None and size < 1 for size in spatial):
            raise ShapeError(f"needs at least one cell on every spatial axis, got {format_shape(input_shape)}")
        extras = self.output_padding or (None,) * self.rank
        sizes = tuple(transpose_output_size(n, k, s, d, self.padding, extra) for n, k, s, d, extra
                      in zip(spatial, self.kernel_size, self.strides, self.dilation_rate, extras))
        if any(size is not None and size <= 0 for size in sizes):
            # Only 'same' with an explicit output_padding can get here
            # ((n-1)·s + k' % 2 + output_padding with n = 1, an even k' and 0).
            raise ShapeError(f"output_padding {format_shape(self.output_padding)} with kernel_size "
                             f"{format_shape(self.kernel_size)} and padding 'same' leaves an empty output (spatial "
                             f"size {format_shape(sizes)}) for the input {format_shape(input_shape)}",
                             argument="output_padding")
        return sizes

    def build(self, input_shape):
        channels = _known_channels(input_shape, self.rank)
        self.compute_output_shape(input_shape)
        self.kernel = self.add_weight(shape=self.kernel_size + (self.filters, channels),
                                      initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer=self.bias_initializer,
                                    name="bias") if self.use_bias else None

    def compute_output_shape(self, input_shape):
        spatial = self._output_spatial(input_shape)
        return activations.output_shape(self.activation, (input_shape[0],) + spatial + (self.filters,))

    def count_macs(self, input_shape):
        # Every input position meets every tap, input channel and filter.
        self.compute_output_shape(input_shape)
        positions = known_product(input_shape[1:-1])
        if positions is None:
            return None
        return positions * math.prod(self.kernel_size) * input_shape[-1] * self.filters

    def count_elementwise(self, input_shape):
        positions = known_product(self._output_spatial(input_shape))
        return None if positions is None else positions * self.filters * (
            self.use_bias + activations.cost(self.activation))

    def count_workspace(self, input_shape):
        """Per sample: the padded input, one image's im2col rows (at most a
        chunk's) and the phase grid beyond the output; or, on the scatter
        path, a chunk's tap products and the full output. The larger."""
        spatial = tuple(input_shape[1:-1])
        if any(size is None for size in spatial) or input_shape[-1] is None:
            return 0
        self.compute_output_shape(input_shape)
        plan = TransposePlan(self, spatial, input_shape[-1], 4)
        rows, columns, filters = plan.rows, plan.columns, self.filters
        grid = rows.grid * rows.stride * columns.grid * columns.stride * filters
        output = rows.output * columns.output * filters
        phases = (rows.padded * columns.padded * plan.channels
                  + min(rows.grid * columns.grid * (plan.depth + 1), CHUNK_BYTES // 4) + grid - output)
        products = rows.size * columns.size * rows.kernel * columns.kernel * filters
        scatter = min(products, CHUNK_BYTES // 4) + rows.full * columns.full * filters
        return int(max(phases, scatter))

    # -- computing --------------------------------------------------------
    def _plan(self, spatial: tuple, channels: int, itemsize: int) -> TransposePlan:
        plans = self.__dict__.setdefault("_plans", {})
        key = (spatial, channels, itemsize)
        plan = plans.get(key)
        if plan is None:
            self.compute_output_shape((None,) + tuple(spatial) + (channels,))  # a ShapeError if it cannot run
            plan = plans[key] = TransposePlan(self, spatial, channels, itemsize)
        return plan

    def call(self, inputs):
        x = _floating_input(np.asarray(inputs), self.kernel.dtype)
        dtype = x.dtype
        plan = self._plan(tuple(x.shape[1:-1]), x.shape[-1], dtype.itemsize)
        reshaping = activations.needs_whole_output(self.activation)
        activation = activations.linear if reshaping else self.activation
        x = _as_2d(x, self.rank)
        if plan.use_phases and (plan.complete or all_finite(x)):
            outputs = self._by_phases(x, plan, dtype, activation)
        else:
            outputs = self._by_scatter(x, plan, dtype, activation)
        if self.rank == 1:
            outputs = outputs.reshape(len(outputs), outputs.shape[2], self.filters)
        return self.activation(outputs) if reshaping else outputs

    def _by_phases(self, x: np.ndarray, plan: TransposePlan, dtype, activation) -> np.ndarray:
        """Every phase from one im2col matrix: a product per row phase into the interleaved grid."""
        rows, columns = plan.rows, plan.columns
        batch = len(x)
        grid = np.empty((batch, rows.grid, rows.stride, columns.grid, columns.stride * self.filters), dtype)
        matrices = derived(self, ("phases", dtype.str), lambda: phase_matrices(
            self._kernel(), None if self.bias is None else self.bias.value, plan, dtype))
        chunks = list(_chunks(batch, rows.grid, plan.per_image, plan.per_row, CHUNK_BYTES))
        if chunks:
            images, first, last = chunks[0][1], chunks[0][2], chunks[0][3]
            columns_buffer, padded = plan.buffers(dtype, images, last - first)
        for start, count, first, last in chunks:
            if first == 0:  # a new block of images: pad it (the border stays zero)
                if padded is not None:
                    block = padded[:count]
                    block[:, rows.before:rows.before + rows.size, columns.before:columns.before + columns.size] \
                        = x[start:start + count]
                else:
                    block = x[start:start + count]
                windows = plan.windows(block)
            height = last - first
            im2col = columns_buffer[:count * height * columns.grid]
            np.copyto(im2col[:, :plan.depth].reshape((count, height) + windows.shape[2:]), windows[:, first:last])
            target = grid[start:start + count, first:last]
            if rows.stride == 1:
                np.matmul(im2col[:, plan.offsets[0]:], matrices[0], out=target.reshape(-1, target.shape[-1]))
            else:
                left = im2col.reshape(count, height, columns.grid, plan.depth + 1)
                for phase, offset in enumerate(plan.offsets):
                    np.matmul(left[..., offset:], matrices[phase], out=target[:, :, phase])
            _activate_in_place(activation, target, self.filters)
        outputs = grid.reshape(batch, rows.grid * rows.stride, columns.grid * columns.stride, self.filters)
        if outputs.shape[1:3] != plan.output:  # a grid of whole strides, longer than the output
            outputs = np.ascontiguousarray(outputs[:, :plan.output[0], :plan.output[1]])
        return outputs

    def _by_scatter(self, x: np.ndarray, plan: TransposePlan, dtype, activation) -> np.ndarray:
        """Every tap's product added into a zeroed full output through strided slices, then cropped."""
        rows, columns = plan.rows, plan.columns
        batch, filters = len(x), self.filters
        kernel = derived(self, ("scatter", dtype.str), lambda: np.ascontiguousarray(
            self._kernel().transpose(3, 0, 1, 2).reshape(plan.channels, -1), dtype=dtype))
        outputs = np.empty((batch,) + plan.output + (filters,), dtype)
        bias = None if self.bias is None else self.bias.value.astype(dtype, copy=False)
        per_row = columns.size * rows.kernel * columns.kernel * filters * dtype.itemsize
        full_bytes = rows.full * columns.full * filters * dtype.itemsize
        images = max(1, CHUNK_BYTES // max(per_row * rows.size + full_bytes, 1))
        step = max(1, CHUNK_BYTES // max(per_row, 1))
        reach_w = (columns.size - 1) * columns.stride + 1
        for start in range(0, batch, images):
            count = min(images, batch - start)
            full = np.zeros((count, rows.full, columns.full, filters), dtype)
            for first in range(0, rows.size, step):
                last = min(rows.size, first + step)
                part = x[start:start + count, first:last]
                products = (part.reshape(-1, plan.channels) @ kernel).reshape(
                    part.shape[:3] + (rows.kernel, columns.kernel, filters))
                offset = first * rows.stride
                height = (last - first - 1) * rows.stride + 1
                for tap_h in range(rows.kernel):
                    top = offset + tap_h * rows.dilation
                    for tap_w in range(columns.kernel):
                        left = tap_w * columns.dilation
                        full[:, top:top + height:rows.stride, left:left + reach_w:columns.stride] \
                            += products[:, :, :, tap_h, tap_w]
            chunk = outputs[start:start + count]
            window = full[:, rows.crop:rows.crop + rows.output, columns.crop:columns.crop + columns.output]
            if bias is None:
                chunk[...] = window
            else:
                np.add(window, bias, out=chunk)
            _activate_in_place(activation, chunk, filters)
        return outputs

    def _kernel(self) -> np.ndarray:
        """The kernel as ``(kh, kw, filters, in)`` (height 1 for a rank-1 layer)."""
        kernel = self.kernel.value
        return kernel[np.newaxis] if self.rank == 1 else kernel


@register
class Conv1DTranspose(_ConvTranspose):
    """1D transposed convolution (sometimes called deconvolution).

    The gradient of a Conv1D with the same arguments: each input step adds
    ``x · kernel`` at ``strides`` spacing into a longer output, adds a bias
    and applies ``activation``.

    Args:
        filters: number of output channels.
        kernel_size: length of the window (int or list of 1).
        strides: step between the input steps' windows in the output.
            ``strides > 1`` cannot be combined with ``dilation_rate > 1``.
        padding: ``valid`` or ``same`` (see Output shape).
        output_padding: extra output steps at the end, each less than
            ``strides``; null (default) lets the padding decide.
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells.
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of ``kernel``.
        bias_initializer: initializer of ``bias``.

    Weights:
        ``kernel`` ``(kernel_size, filters, channels)`` (Keras's layout),
        ``bias`` ``(filters,)``.

    Input shape:
        ``(batch, steps, channels)``.
    Output shape:
        ``(batch, new_steps, filters)``, with ``k' = (kernel_size - 1) *
        dilation_rate + 1``: ``valid``: ``(steps - 1) * strides + k' + p``,
        ``p`` = output_padding or ``max(k', strides) - k'``; ``same``:
        ``steps * strides``, or ``(steps - 1) * strides + k' % 2 +
        output_padding`` when it is given.
    """

    rank = 1

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(1), strides: IntTuple(1) = 1,
                 padding: Choice("valid", "same") = "valid", output_padding: Optional(IntTuple(1, min=0)) = None,
                 data_format: DataFormat() = None, dilation_rate: IntTuple(1) = 1,
                 activation: ActivationName() = None, use_bias: Boolean() = True,
                 kernel_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, **kwargs)


@register
class Conv2DTranspose(_ConvTranspose):
    """2D transposed convolution (sometimes called deconvolution).

    The gradient of a Conv2D with the same arguments: each input pixel adds
    ``x · kernel`` at ``strides`` spacing into a larger output, adds a bias
    and applies ``activation``; a learnt upsampling.

    Args:
        filters: number of output channels.
        kernel_size: height and width of the window (int or list of 2).
        strides: step between the input pixels' windows in the output (int
            or list of 2). ``strides > 1`` cannot be combined with
            ``dilation_rate > 1``.
        padding: ``valid`` or ``same`` (see Output shape).
        output_padding: extra output rows/columns at the end of each axis,
            each less than its stride (int or list of 2); null (default)
            lets the padding decide.
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells (int or list of 2).
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of ``kernel``.
        bias_initializer: initializer of ``bias``.

    Weights:
        ``kernel`` ``(kernel_height, kernel_width, filters, channels)``
        (Keras's layout), ``bias`` ``(filters,)``.

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, new_height, new_width, filters)``, per axis with ``k' =
        (kernel_size - 1) * dilation_rate + 1``: ``valid``: ``(size - 1) *
        strides + k' + p``, ``p`` = output_padding or ``max(k', strides) -
        k'``; ``same``: ``size * strides``, or ``(size - 1) * strides + k' %
        2 + output_padding`` when it is given.
    """

    rank = 2

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(2), strides: IntTuple(2) = 1,
                 padding: Choice("valid", "same") = "valid", output_padding: Optional(IntTuple(2, min=0)) = None,
                 data_format: DataFormat() = None, dilation_rate: IntTuple(2) = 1,
                 activation: ActivationName() = None, use_bias: Boolean() = True,
                 kernel_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, **kwargs)


# ----------------------------------------------------------------------------
# depthwise and separable convolutions


class DepthwisePlan:
    """How a depthwise step runs on one input size (a rank-1 layer as height 1).

    The padded input is stored with its columns by phase of the width
    stride: ``(images, padded_h, stride_w, ceil(padded_w / stride_w), C·M)``,
    column ``u`` at ``[u % stride_w, u // stride_w]``, each input channel
    repeated ``M`` times; tap ``(a, b)`` then reads rows ``a·d_h + stride_h
    · r`` and, in phase ``(b·d_w) % stride_w``, the contiguous columns from
    ``(b·d_w) // stride_w``.
    """

    def __init__(self, layer: "_Depthwise", spatial: tuple, channels: int, itemsize: int):
        rank = layer.rank
        kernel_size, strides, dilation = layer.kernel_size, layer.strides, layer.dilation_rate
        if rank == 1:
            spatial, kernel_size, strides, dilation = ((1,) + tuple(spatial), (1,) + kernel_size, (1,) + strides,
                                                       (1,) + dilation)
        self.spatial, self.kernel_size, self.strides, self.dilation = tuple(spatial), kernel_size, strides, dilation
        self.channels, self.multiplier = channels, layer.depth_multiplier
        self.width = channels * layer.depth_multiplier
        self.pads = [padding_amounts(n, k, s, d, layer.padding) for n, k, s, d in zip(spatial, kernel_size,
                                                                                          strides, dilation)]
        self.output = tuple((n + before + after - (k - 1) * d - 1) // s + 1 for n, (before, after), k, s, d
                            in zip(spatial, self.pads, kernel_size, strides, dilation))
        padded_h = spatial[0] + sum(self.pads[0])
        padded_w = spatial[1] + sum(self.pads[1])
        self.phases = strides[1]
        self.phase_width = -(-padded_w // self.phases)
        self.padded = (padded_h, self.phases, self.phase_width)
        self.direct = (self.pads == [(0, 0), (0, 0)] and self.phases == 1 and self.multiplier == 1)
        row = self.output[1] * self.width * itemsize
        padded_bytes = 0 if self.direct else padded_h * self.phases * self.phase_width * self.width * itemsize
        # Partial sums and the scratch of one tap, per output row.
        self.per_row = 2 * row
        self.per_image = padded_bytes + self.per_row * self.output[0]
        self.kept = _Kept()

    def padded_buffer(self, dtype, images: int) -> np.ndarray:
        return self.kept.get(("padded", dtype.str, images),
                             lambda: (np.zeros((images,) + self.padded + (self.width,), dtype),))[0]

    def fill(self, block: np.ndarray, x: np.ndarray) -> None:
        """Copy ``x`` ``(images, h, w, C)`` into the middle of ``block``, by column phase, channels repeated."""
        (top, _), (left, _) = self.pads
        height, width = self.spatial
        for phase in range(self.phases):
            first = (phase - left) % self.phases
            if first >= width:
                continue
            start = (first + left) // self.phases
            count = len(range(first, width, self.phases))
            target = block[:, top:top + height, phase, start:start + count]
            source = x[:, :, first::self.phases] if self.phases > 1 else x
            if self.multiplier == 1:
                target[...] = source
            else:
                target.reshape(target.shape[:-1] + (self.channels, self.multiplier))[...] = source[..., np.newaxis]

    def tap_view(self, block: np.ndarray, tap_h: int, tap_w: int, first: int, last: int) -> np.ndarray:
        """Tap ``(tap_h, tap_w)``'s inputs for output rows ``first:last``, ``(images, rows, out_w·C·M)``."""
        start = tap_h * self.dilation[0] + first * self.strides[0]
        stop = start + (last - first - 1) * self.strides[0] + 1
        offset = tap_w * self.dilation[1]
        column = offset // self.phases
        part = block[:, start:stop:self.strides[0], offset % self.phases, column:column + self.output[1]]
        return part.reshape(part.shape[0], part.shape[1], -1)


class _Depthwise(Layer):
    """The depthwise step Depthwise and Separable convolutions share."""

    rank = 2

    def _depthwise_init(self, kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate,
                        activation, use_bias, depthwise_initializer, bias_initializer):
        self.kernel_size = as_tuple(kernel_size, self.rank)
        self.strides = as_tuple(strides, self.rank)
        self.padding = padding
        self.depth_multiplier = depth_multiplier
        self.data_format = data_format
        self.dilation_rate = as_tuple(dilation_rate, self.rank)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = depthwise_initializer
        self.bias_initializer = bias_initializer

    def _depthwise_spatial(self, input_shape) -> tuple:
        _known_channels(input_shape, self.rank)
        return output_spatial(tuple(input_shape[1:-1]), self.kernel_size, self.strides, self.dilation_rate,
                              self.padding, "kernel_size")

    def _depthwise_macs(self, input_shape) -> int | None:
        positions = known_product(self._depthwise_spatial(input_shape))
        if positions is None:
            return None
        return positions * math.prod(self.kernel_size) * input_shape[-1] * self.depth_multiplier

    def _depthwise_workspace(self, input_shape, steps: int) -> int:
        """Per sample: the padded (repeated) input and ``steps`` arrays of the depthwise output's size."""
        spatial = self._depthwise_spatial(input_shape)
        if any(size is None for size in spatial + tuple(input_shape[1:-1])):
            return 0
        pads = [sum(padding_amounts(n, k, s, d, self.padding)) for n, k, s, d
                in zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)]
        width = input_shape[-1] * self.depth_multiplier
        sizes = [n + pad for n, pad in zip(input_shape[1:-1], pads)]
        sizes[-1] = -(-sizes[-1] // self.strides[-1]) * self.strides[-1]  # the columns stored by stride phase
        return int(math.prod(sizes) * width + steps * math.prod(spatial) * width)

    def _plan(self, spatial: tuple, channels: int, itemsize: int) -> DepthwisePlan:
        plans = self.__dict__.setdefault("_plans", {})
        key = (spatial, channels, itemsize)
        plan = plans.get(key)
        if plan is None:
            self._depthwise_spatial((None,) + tuple(spatial) + (channels,))  # a ShapeError if it cannot run
            plan = plans[key] = DepthwisePlan(self, spatial, channels, itemsize)
        return plan

    def _tiled(self, plan: DepthwisePlan, dtype) -> np.ndarray:
        """Each tap's weights ``(C·M,)`` repeated along an output row: ``(kh, kw, out_w·C·M)``."""

        def make():
            kernel = self._depthwise_kernel().value
            if self.rank == 1:
                kernel = kernel[np.newaxis]
            kernel_h, kernel_w = kernel.shape[:2]
            weights = kernel.reshape(kernel_h, kernel_w, 1, plan.width)
            return np.ascontiguousarray(np.broadcast_to(weights, (kernel_h, kernel_w, plan.output[1], plan.width))
                                        .reshape(kernel_h, kernel_w, -1), dtype=dtype)

        return derived(self, ("tiled", plan.output[1], dtype.str), make)

    def _depthwise(self, x: np.ndarray, plan: DepthwisePlan, dtype, target, finish) -> None:
        """Run the depthwise step chunk by chunk.

        For each chunk ``(start, count, first, last)`` (images, output
        rows), ``target(...)`` gives the ``(count, rows, out_w·C·M)`` array
        to write the sums into, and ``finish(..., sums)`` takes them on.
        """
        weights = self._tiled(plan, dtype)
        kernel_h, kernel_w = plan.kernel_size
        batch, out_h = len(x), plan.output[0]
        chunks = list(_chunks(batch, out_h, plan.per_image, plan.per_row, DEPTHWISE_CHUNK_BYTES))
        images = chunks[0][1] if chunks else 0
        scratch = block = None
        for start, count, first, last in chunks:
            if first == 0:  # a new block of images
                if plan.direct:
                    part = x[start:start + count]
                    block = part.reshape(count, part.shape[1], 1, part.shape[2], plan.width)
                else:
                    block = plan.padded_buffer(dtype, images)[:count]
                    plan.fill(block, x[start:start + count])
            sums = target(start, count, first, last)
            if scratch is None or scratch.shape[0] < count or scratch.shape[1] < last - first:
                scratch = np.empty((count, last - first, sums.shape[2]), dtype)
            product = scratch[:count, :last - first]
            np.multiply(plan.tap_view(block, 0, 0, first, last), weights[0, 0], out=sums)
            for tap_h in range(kernel_h):
                for tap_w in range(kernel_w):
                    if tap_h or tap_w:
                        np.multiply(plan.tap_view(block, tap_h, tap_w, first, last), weights[tap_h, tap_w],
                                    out=product)
                        sums += product
            finish(start, count, first, last, sums)

    def _finish_in_place(self, values: np.ndarray, bias_row, activation, channels: int) -> None:
        """Add the (tiled) bias and apply ``activation`` to ``values`` (rows of ``channels``-long cells), in place."""
        if bias_row is not None:
            values += bias_row
        _activate_in_place(activation, values, channels)


class _DepthwiseConv(_Depthwise):
    """What DepthwiseConv1D and DepthwiseConv2D share."""

    def __init__(self, kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                 use_bias, depthwise_initializer, bias_initializer, **kwargs):
        super().__init__(**kwargs)
        self._depthwise_init(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate,
                             activation, use_bias, depthwise_initializer, bias_initializer)

    def _depthwise_kernel(self):
        return self.kernel

    def build(self, input_shape):
        channels = _known_channels(input_shape, self.rank)
        self.compute_output_shape(input_shape)
        self.kernel = self.add_weight(shape=self.kernel_size + (channels, self.depth_multiplier),
                                      initializer=self.depthwise_initializer, name="kernel")
        self.bias = self.add_weight(shape=(channels * self.depth_multiplier,), initializer=self.bias_initializer,
                                    name="bias") if self.use_bias else None

    def compute_output_shape(self, input_shape):
        spatial = self._depthwise_spatial(input_shape)
        return activations.output_shape(self.activation, (input_shape[0],) + spatial
                                        + (input_shape[-1] * self.depth_multiplier,))

    def count_macs(self, input_shape):
        return self._depthwise_macs(input_shape)

    def count_elementwise(self, input_shape):
        positions = known_product(self._depthwise_spatial(input_shape))
        return None if positions is None else positions * input_shape[-1] * self.depth_multiplier * (
            self.use_bias + activations.cost(self.activation))

    def count_workspace(self, input_shape):
        return self._depthwise_workspace(input_shape, 1)

    def call(self, inputs):
        x = _floating_input(np.asarray(inputs), self.kernel.dtype)
        dtype = x.dtype
        plan = self._plan(tuple(x.shape[1:-1]), x.shape[-1], dtype.itemsize)
        x = _as_2d(x, self.rank)
        batch = len(x)
        out_h, out_w = plan.output
        outputs = np.empty((batch, out_h, out_w * plan.width), dtype)
        reshaping = activations.needs_whole_output(self.activation)
        activation = activations.linear if reshaping else self.activation
        bias_row = None if self.bias is None else derived(
            self, ("bias row", out_w, dtype.str), lambda: np.tile(self.bias.value, out_w).astype(dtype))
        self._depthwise(x, plan, dtype, lambda start, count, first, last: outputs[start:start + count, first:last],
                        lambda start, count, first, last, sums: self._finish_in_place(sums, bias_row, activation,
                                                                                       plan.width))
        outputs = outputs.reshape((batch,) + ((out_w,) if self.rank == 1 else (out_h, out_w)) + (plan.width,))
        return self.activation(outputs) if reshaping else outputs


@register
class DepthwiseConv1D(_DepthwiseConv):
    """1D depthwise convolution: each input channel convolved on its own.

    Every channel is cross-correlated with ``depth_multiplier`` kernels of
    its own (no mixing between channels), giving ``channels *
    depth_multiplier`` outputs; a bias is added and ``activation`` applied.

    Args:
        kernel_size: length of the window (int or list of 1).
        strides: step between windows.
        padding: ``valid`` (no padding) or ``same`` (pads so the output has
            ``ceil(steps / strides)`` steps; the odd cell goes at the end).
        depth_multiplier: output channels per input channel.
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells.
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector.
        depthwise_initializer: initializer of ``kernel``.
        bias_initializer: initializer of ``bias``.

    Weights:
        ``kernel`` ``(kernel_size, channels, depth_multiplier)`` (output
        channel ``c * depth_multiplier + m`` uses ``kernel[:, c, m]``),
        ``bias`` ``(channels * depth_multiplier,)``.

    Input shape:
        ``(batch, steps, channels)``.
    Output shape:
        ``(batch, new_steps, channels * depth_multiplier)``.
    """

    rank = 1

    def __init__(self, kernel_size: IntTuple(1), strides: IntTuple(1) = 1, padding: Choice("valid", "same") = "valid",
                 depth_multiplier: Integer(min=1) = 1, data_format: DataFormat() = None,
                 dilation_rate: IntTuple(1) = 1, activation: ActivationName() = None, use_bias: Boolean() = True,
                 depthwise_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, **kwargs)


@register
class DepthwiseConv2D(_DepthwiseConv):
    """2D depthwise convolution: each input channel convolved on its own.

    Every channel is cross-correlated with ``depth_multiplier`` kernels of
    its own (no mixing between channels), giving ``channels *
    depth_multiplier`` outputs; a bias is added and ``activation`` applied.
    The first step of a depthwise separable convolution (MobileNet).

    Args:
        kernel_size: height and width of the window (int or list of 2).
        strides: step between windows (int or list of 2).
        padding: ``valid`` (no padding) or ``same`` (pads so each output
            size is ``ceil(size / strides)``; an odd total padding puts the
            extra cell at the bottom/right).
        depth_multiplier: output channels per input channel.
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells (int or list of 2).
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector.
        depthwise_initializer: initializer of ``kernel``.
        bias_initializer: initializer of ``bias``.

    Weights:
        ``kernel`` ``(kernel_height, kernel_width, channels,
        depth_multiplier)`` (output channel ``c * depth_multiplier + m``
        uses ``kernel[:, :, c, m]``), ``bias`` ``(channels *
        depth_multiplier,)``.

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, new_height, new_width, channels * depth_multiplier)``.
    """

    rank = 2

    def __init__(self, kernel_size: IntTuple(2), strides: IntTuple(2) = 1, padding: Choice("valid", "same") = "valid",
                 depth_multiplier: Integer(min=1) = 1, data_format: DataFormat() = None,
                 dilation_rate: IntTuple(2) = 1, activation: ActivationName() = None, use_bias: Boolean() = True,
                 depthwise_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, **kwargs)


class _SeparableConv(_Depthwise):
    """What SeparableConv1D and SeparableConv2D share."""

    def __init__(self, filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                 activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer, **kwargs):
        super().__init__(**kwargs)
        self._depthwise_init(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate,
                             activation, use_bias, depthwise_initializer, bias_initializer)
        self.filters = filters
        self.pointwise_initializer = pointwise_initializer

    def _depthwise_kernel(self):
        return self.depthwise_kernel

    def build(self, input_shape):
        channels = _known_channels(input_shape, self.rank)
        self.compute_output_shape(input_shape)
        self.depthwise_kernel = self.add_weight(shape=self.kernel_size + (channels, self.depth_multiplier),
                                                initializer=self.depthwise_initializer, name="depthwise_kernel")
        self.pointwise_kernel = self.add_weight(shape=(1,) * self.rank + (channels * self.depth_multiplier,
                                                                          self.filters),
                                                initializer=self.pointwise_initializer, name="pointwise_kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer=self.bias_initializer,
                                    name="bias") if self.use_bias else None

    def compute_output_shape(self, input_shape):
        spatial = self._depthwise_spatial(input_shape)
        return activations.output_shape(self.activation, (input_shape[0],) + spatial + (self.filters,))

    def count_macs(self, input_shape):
        depthwise = self._depthwise_macs(input_shape)
        positions = known_product(self._depthwise_spatial(input_shape))
        if depthwise is None or positions is None:
            return None
        return depthwise + positions * input_shape[-1] * self.depth_multiplier * self.filters

    def count_elementwise(self, input_shape):
        positions = known_product(self._depthwise_spatial(input_shape))
        return None if positions is None else positions * self.filters * (
            self.use_bias + activations.cost(self.activation))

    def count_workspace(self, input_shape):
        # The depthwise step's output too, before the pointwise product.
        return self._depthwise_workspace(input_shape, 2)

    def call(self, inputs):
        x = _floating_input(np.asarray(inputs), self.depthwise_kernel.dtype)
        dtype = x.dtype
        plan = self._plan(tuple(x.shape[1:-1]), x.shape[-1], dtype.itemsize)
        x = _as_2d(x, self.rank)
        batch = len(x)
        out_h, out_w = plan.output
        outputs = np.empty((batch, out_h, out_w * self.filters), dtype)
        reshaping = activations.needs_whole_output(self.activation)
        activation = activations.linear if reshaping else self.activation
        pointwise = derived(self, ("pointwise", dtype.str), lambda: np.ascontiguousarray(
            self.pointwise_kernel.value.reshape(plan.width, self.filters), dtype=dtype))
        bias_row = None if self.bias is None else derived(
            self, ("bias row", out_w, dtype.str), lambda: np.tile(self.bias.value, out_w).astype(dtype))
        buffers = {}

        def target(start, count, first, last):
            shape = (count, last - first, out_w * plan.width)
            buffer = buffers.get(shape)
            if buffer is None:
                buffer = buffers[shape] = np.empty(shape, dtype)
            return buffer

        def finish(start, count, first, last, sums):
            chunk = outputs[start:start + count, first:last]
            np.matmul(sums.reshape(-1, plan.width), pointwise, out=chunk.reshape(-1, self.filters))
            self._finish_in_place(chunk, bias_row, activation, self.filters)

        self._depthwise(x, plan, dtype, target, finish)
        outputs = outputs.reshape((batch,) + ((out_w,) if self.rank == 1 else (out_h, out_w)) + (self.filters,))
        return self.activation(outputs) if reshaping else outputs


@register
class SeparableConv1D(_SeparableConv):
    """1D depthwise separable convolution.

    A depthwise step (each input channel cross-correlated on its own with
    ``depth_multiplier`` kernels) followed by a pointwise step (a 1-wide
    convolution mixing the ``channels * depth_multiplier`` results into
    ``filters``), then a bias and ``activation``.

    Args:
        filters: number of output channels.
        kernel_size: length of the depthwise window (int or list of 1).
        strides: step between windows.
        padding: ``valid`` or ``same`` (pads so the output has
            ``ceil(steps / strides)`` steps).
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells.
        depth_multiplier: depthwise outputs per input channel.
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector (after the pointwise step).
        depthwise_initializer: initializer of ``depthwise_kernel``.
        pointwise_initializer: initializer of ``pointwise_kernel``.
        bias_initializer: initializer of ``bias``.

    Weights:
        ``depthwise_kernel`` ``(kernel_size, channels, depth_multiplier)``,
        ``pointwise_kernel`` ``(1, channels * depth_multiplier, filters)``,
        ``bias`` ``(filters,)``.

    Input shape:
        ``(batch, steps, channels)``.
    Output shape:
        ``(batch, new_steps, filters)``.
    """

    rank = 1

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(1), strides: IntTuple(1) = 1,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None,
                 dilation_rate: IntTuple(1) = 1, depth_multiplier: Integer(min=1) = 1,
                 activation: ActivationName() = None, use_bias: Boolean() = True,
                 depthwise_initializer: InitializerName() = "glorot_uniform",
                 pointwise_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                         **kwargs)


@register
class SeparableConv2D(_SeparableConv):
    """2D depthwise separable convolution.

    A depthwise step (each input channel cross-correlated on its own with
    ``depth_multiplier`` kernels) followed by a pointwise step (a 1x1
    convolution mixing the ``channels * depth_multiplier`` results into
    ``filters``), then a bias and ``activation``.

    Args:
        filters: number of output channels.
        kernel_size: height and width of the depthwise window (int or list
            of 2).
        strides: step between windows (int or list of 2).
        padding: ``valid`` or ``same`` (pads so each output size is
            ``ceil(size / strides)``).
        data_format: ``channels_last`` or null (the only layout supported).
        dilation_rate: spacing between kernel cells (int or list of 2).
        depth_multiplier: depthwise outputs per input channel.
        activation: activation name; ``null`` for linear.
        use_bias: whether to add a bias vector (after the pointwise step).
        depthwise_initializer: initializer of ``depthwise_kernel``.
        pointwise_initializer: initializer of ``pointwise_kernel``.
        bias_initializer: initializer of ``bias``.

    Weights:
        ``depthwise_kernel`` ``(kernel_height, kernel_width, channels,
        depth_multiplier)``, ``pointwise_kernel`` ``(1, 1, channels *
        depth_multiplier, filters)``, ``bias`` ``(filters,)``.

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, new_height, new_width, filters)``.
    """

    rank = 2

    def __init__(self, filters: Integer(min=1), kernel_size: IntTuple(2), strides: IntTuple(2) = 1,
                 padding: Choice("valid", "same") = "valid", data_format: DataFormat() = None,
                 dilation_rate: IntTuple(2) = 1, depth_multiplier: Integer(min=1) = 1,
                 activation: ActivationName() = None, use_bias: Boolean() = True,
                 depthwise_initializer: InitializerName() = "glorot_uniform",
                 pointwise_initializer: InitializerName() = "glorot_uniform",
                 bias_initializer: InitializerName() = "zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                         **kwargs)


for _alias, _class in (("Convolution1DTranspose", Conv1DTranspose), ("Convolution2DTranspose", Conv2DTranspose),
                       ("SeparableConvolution1D", SeparableConv1D), ("SeparableConvolution2D", SeparableConv2D)):
    register(name=_alias)(_class)
