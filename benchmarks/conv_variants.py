"""Conv2DTranspose and DepthwiseConv2D speed: layerspec against direct NumPy formulations.

For each case and batch size this times the layer's forward pass and
several hand-written NumPy versions of the same computation (same weights,
each checked to give the same result), in alternation, round after round,
in one process. Each round times every function for a short while; the
table shows each one's median over the rounds, and ``ratio`` is the median
over the rounds of layerspec's time over the fastest reference's (the
reference with the lowest median), so a burst of load on the shared
machine hits both sides of a ratio.

    python benchmarks/conv_variants.py                  # batch sizes 1, 32, 256
    python benchmarks/conv_variants.py --cases depthwise --batch-sizes 32 --rounds 21

Cases:

transpose: Conv2DTranspose, 16x16x32 → 32x32x16, kernel 3, strides 2,
    padding same, relu, bias. References (weights rearranged once, outside
    the timing, as layerspec does):
    ``scatter``: one product ``x @ kernel`` (every tap's contribution),
    added into a zeroed (33, 33) output through one strided slice per tap,
    cropped to (32, 32); bias and relu in place.
    ``subpixel``: the input padded by one row and column, its 2x2 windows
    copied into one im2col matrix (a column of ones for the bias), one
    product with the (2·2·32 + 1, 2·2·16) phase kernel matrix, the four
    phases interleaved by a transposing copy; relu in place.
    ``subpixel_rows``: the same im2col, one product per row phase written
    straight into the interleaved output (layerspec's formulation, for the
    whole batch at once rather than a cache-sized chunk at a time).
depthwise: DepthwiseConv2D, 56x56x32, kernel 3, padding same, relu, bias.
    ``taps``: ``np.pad``, then the sum over the 9 taps of a strided slice
    times the tap's ``(C,)`` weights (broadcast), bias, relu.
    ``tiled_taps``: the same with each tap's weights tiled along a row
    (``(56·32,)``), so each NumPy call runs along whole rows.
    ``einsum``: ``np.einsum`` of ``sliding_window_view`` with the kernel.

Measured on the shared 2-core machine (OpenBLAS 0.3.31 SkylakeX, 2
threads; NumPy 2.4; load average 3-4 from other jobs), medians of 15
rounds, ms:

    case       batch  layerspec  best reference         ratio
    transpose      1      0.112  subpixel_rows  0.155    0.71
    transpose     32      4.36   subpixel_rows  9.09     0.49
    transpose    256     33.7    subpixel_rows 58.3      0.60
    depthwise      1      1.28   tiled_taps     1.50     0.87
    depthwise     32     35.9    einsum        61.4      0.59
    depthwise    256    371      einsum       505        0.73

``scatter`` took 24 / 199 ms at batch 32 / 256 (its strided adds run in
NumPy inner loops of 16 values), ``subpixel`` 12 / 104 ms (the
interleaving copy), ``taps`` 93 / 979 ms (inner loops of 32 channels).
At batch 1 ``scatter`` and ``subpixel`` read ~12 ms under load: their one
multi-threaded BLAS product waits for a descheduled thread, which the small
per-row products of ``subpixel_rows`` and layerspec do not use. Skipping
the im2col columns before a row phase's first tap (here a quarter of the
multiplications) measured 2-8 % faster than multiplying them by zeros.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # _common, and layerspec from this checkout
from _common import best_time, clean_blas_environment, print_table  # noqa: E402

import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import as_strided, sliding_window_view  # noqa: E402

from layerspec.layers import Conv2DTranspose, DepthwiseConv2D  # noqa: E402


# -- Conv2DTranspose, kernel 3, strides 2, 'same': full output 2n+1, cropped to 2n from the start

def transpose_layer(height: int, width: int, channels: int, filters: int, rng) -> Conv2DTranspose:
    layer = Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu")
    layer.build_for((None, height, width, channels))
    layer.kernel.assign(rng.standard_normal(layer.kernel.shape).astype(np.float32) * 0.1)
    layer.bias.assign(rng.standard_normal(layer.bias.shape).astype(np.float32))
    return layer


def transpose_references(kernel: np.ndarray, bias: np.ndarray) -> dict:
    """kernel (3, 3, filters, in), bias (filters,): the references, weights rearranged once."""
    k, _, filters, channels = kernel.shape
    taps = np.ascontiguousarray(kernel.transpose(3, 0, 1, 2).reshape(channels, k * k * filters))

    def scatter(x):
        batch, height, width, _ = x.shape
        products = (x.reshape(-1, channels) @ taps).reshape(batch, height, width, k, k, filters)
        full = np.zeros((batch, 2 * height + 1, 2 * width + 1, filters), np.float32)
        for a in range(k):
            for b in range(k):
                full[:, a:a + 2 * height - 1:2, b:b + 2 * width - 1:2] += products[:, :, :, a, b]
        out = full[:, :2 * height, :2 * width] + bias
        return np.maximum(out, 0, out=out)

    # Output 2q + p sees tap j = p + 2t of input q - t (t = 0, 1): window
    # cell w = 1 - t of the input padded by one row/column at the start.
    phase = np.zeros((2, 2, channels, 2, 2, filters), np.float32)
    for p_h in range(2):
        for t_h in range(2):
            for p_w in range(2):
                for t_w in range(2):
                    j_h, j_w = p_h + 2 * t_h, p_w + 2 * t_w
                    if j_h < k and j_w < k:
                        phase[1 - t_h, 1 - t_w, :, p_h, p_w, :] = kernel[j_h, j_w].T
    matrix = np.concatenate([phase.reshape(4 * channels, 4 * filters), np.tile(bias, 4)[np.newaxis]])
    by_rows = [np.ascontiguousarray(np.concatenate([phase[:, :, :, p_h].reshape(4 * channels, 2 * filters),
                                                    np.tile(bias, 2)[np.newaxis]])) for p_h in range(2)]

    def im2col(x):
        batch, height, width, _ = x.shape
        padded = np.zeros((batch, height + 1, width + 1, channels), np.float32)
        padded[:, 1:, 1:] = x
        s = padded.strides
        windows = as_strided(padded, (batch, height, width, 2, 2, channels), (s[0], s[1], s[2], s[1], s[2], s[3]))
        columns = np.empty((batch * height * width, 4 * channels + 1), np.float32)
        columns[:, -1] = 1
        columns[:, :-1].reshape(windows.shape)[...] = windows
        return columns

    def subpixel(x):
        batch, height, width, _ = x.shape
        phases = (im2col(x) @ matrix).reshape(batch, height, width, 2, 2, filters)
        out = np.ascontiguousarray(phases.transpose(0, 1, 3, 2, 4, 5)).reshape(batch, 2 * height, 2 * width,
                                                                               filters)
        return np.maximum(out, 0, out=out)

    def subpixel_rows(x):
        batch, height, width, _ = x.shape
        columns = im2col(x).reshape(batch, height, width, 4 * channels + 1)
        out = np.empty((batch, height, 2, width, 2 * filters), np.float32)
        for p_h in range(2):
            np.matmul(columns, by_rows[p_h], out=out[:, :, p_h])
        np.maximum(out, 0, out=out)
        return out.reshape(batch, 2 * height, 2 * width, filters)

    return {"scatter": scatter, "subpixel": subpixel, "subpixel_rows": subpixel_rows}


# -- DepthwiseConv2D, kernel 3, 'same' (one cell of padding on every side)

def depthwise_layer(height: int, width: int, channels: int, rng) -> DepthwiseConv2D:
    layer = DepthwiseConv2D(3, padding="same", activation="relu")
    layer.build_for((None, height, width, channels))
    layer.kernel.assign(rng.standard_normal(layer.kernel.shape).astype(np.float32))
    layer.bias.assign(rng.standard_normal(layer.bias.shape).astype(np.float32))
    return layer


def depthwise_references(kernel: np.ndarray, bias: np.ndarray, width: int) -> dict:
    """kernel (3, 3, C, 1), bias (C,): the references."""
    k, _, channels, _ = kernel.shape
    weights = np.ascontiguousarray(kernel[:, :, :, 0])
    tiled = np.ascontiguousarray(np.tile(weights, (1, 1, width)))  # (3, 3, width·C)
    tiled_bias = np.tile(bias, width)

    def taps(x):
        batch, height, width_, _ = x.shape
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = padded[:, :height, :width_] * weights[0, 0]
        for a in range(k):
            for b in range(k):
                if a or b:
                    out += padded[:, a:a + height, b:b + width_] * weights[a, b]
        out += bias
        return np.maximum(out, 0, out=out)

    def tiled_taps(x):
        batch, height, width_, _ = x.shape
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))).reshape(batch, height + 2, (width_ + 2) * channels)
        out = padded[:, :height, :width_ * channels] * tiled[0, 0]
        for a in range(k):
            for b in range(k):
                if a or b:
                    out += padded[:, a:a + height, b * channels:(b + width_) * channels] * tiled[a, b]
        out += tiled_bias
        np.maximum(out, 0, out=out)
        return out.reshape(batch, height, width_, channels)

    def einsum(x):
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        windows = sliding_window_view(padded, (k, k), axis=(1, 2))  # (batch, h, w, C, 3, 3)
        out = np.einsum("nhwcab,abc->nhwc", windows, weights) + bias
        return np.maximum(out, 0, out=out)

    return {"taps": taps, "tiled_taps": tiled_taps, "einsum": einsum}


def make_case(name: str, batch: int, rng):
    """``(layer, references, x)`` for a case."""
    if name == "transpose":
        layer = transpose_layer(16, 16, 32, 16, rng)
        references = transpose_references(layer.kernel.value, layer.bias.value)
        x = rng.standard_normal((batch, 16, 16, 32)).astype(np.float32)
    elif name == "depthwise":
        layer = depthwise_layer(56, 56, 32, rng)
        references = depthwise_references(layer.kernel.value, layer.bias.value, 56)
        x = rng.standard_normal((batch, 56, 56, 32)).astype(np.float32)
    else:
        raise SystemExit(f"unknown case {name!r}: transpose or depthwise")
    return layer, references, x


def time_alternately(functions: dict, rounds: int, min_seconds: float = 0.1) -> dict:
    """Per function, the seconds per call of every round, timed in turn."""
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            times[name].append(best_time(function, min_seconds, repeats=1))
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="transpose,depthwise")
    parser.add_argument("--batch-sizes", default="1,32,256")
    parser.add_argument("--rounds", type=int, default=15, help="alternating timing rounds per row")
    args = parser.parse_args(argv)
    for note in clean_blas_environment():
        print(note)
    rng = np.random.default_rng(0)
    rows = []
    for name in args.cases.split(","):
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            layer, references, x = make_case(name, batch, rng)
            ours_out = layer(x)
            for reference in references.values():
                reference_out = reference(x)
                assert reference_out.dtype == np.float32
                np.testing.assert_allclose(ours_out, reference_out, rtol=2e-4, atol=2e-4)
            functions = {"layerspec": lambda: layer(x)}
            functions.update({ref: (lambda f=f: f(x)) for ref, f in references.items()})
            times = time_alternately(functions, args.rounds)
            ours = times.pop("layerspec")
            medians = {ref: statistics.median(values) for ref, values in times.items()}
            best = min(medians, key=medians.get)
            ratio = statistics.median(o / r for o, r in zip(ours, times[best]))
            others = "  ".join(f"{ref} {seconds * 1e3:.3f}" for ref, seconds in medians.items())
            rows.append([name, batch, f"{statistics.median(ours) * 1e3:.3f}", f"{medians[best] * 1e3:.3f}", best,
                         f"{ratio:.2f}", "met" if ratio <= 1.25 else "MISSED", others])
    print_table(["case", "batch", "layerspec ms", "best numpy ms", "best", "ratio", "<= 1.25",
                 "every reference (median ms)"], rows)


if __name__ == "__main__":
    main()
