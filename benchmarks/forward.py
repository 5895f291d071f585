"""Forward-pass speed: layerspec against the best direct NumPy formulation measured.

For each model and batch size this times ``model.predict`` and several
hand-written NumPy versions of the same computation with the same weights
(each checked to give the same result), in turn, round after round, in one
process, and prints layerspec's time over the *fastest* reference's time,
naming that reference, and in the ``target`` column the ratio each goal is
set on (``TARGETS``). Each time is the fastest of the rounds (see
``time_alternately``). Every reference gets its weights rearranged once,
outside the timing, as layerspec does.

    python benchmarks/forward.py            # every model at its own batch sizes
    python benchmarks/forward.py --models cnn,lstm --batch-sizes 32
    python benchmarks/forward.py --models mha128,mha512,conv_transpose,depthwise

The rows: mlp, cnn and lstm at batch sizes 1, 32 and 1024 (issue 7's
targets); issue 14's one-layer models, their references imported from the
scripts that study them: ``mha128`` and ``mha512``, MultiHeadAttention
self-attention as benchmarks/attention.py times it (8 heads of 32, width
256, batch 8, lengths 128 and 512); ``conv_transpose`` (Conv2DTranspose,
16x16x32 to 32x32x16, kernel 3, strides 2) and ``depthwise``
(DepthwiseConv2D, 56x56x32, kernel 3), both padding same, relu and bias,
batch 32, as benchmarks/conv_variants.py times them. Those scripts'
docstrings describe the references and the ones they measured and dropped.
A default run takes about 1.3 minutes on a quiet machine; under load it
stretches with every function's time.

The references, with their times on a 2-core AVX-512 machine (OpenBLAS
0.3.31, 2 threads; NumPy 2.4) at batch sizes 1 / 32 / 1024, two runs:

mlp (784-1024-1024-10, relu, relu, softmax), bias, activation and softmax
in place in both:
    ``xW``: ``h = h @ W``, the textbook chain. 0.18-0.20 / 0.94-1.19 /
    14.7-15.7 ms.
    ``transposed``: ``h.T = W.T @ h.T``, ``W.T`` stored contiguous.
    0.18-0.20 / 0.76-1.03 / 14.8-16.3 ms: OpenBLAS runs this product
    faster for a few rows. (Alone, with its kernel in cache, the 784x1024
    product is 2x faster this way even at 1 row: 30 vs 66 us.)
cnn (specs/lenet5.yaml):
    ``im2col``: per convolution, strided windows, one reshape copy and one
    matrix product for the whole batch; bias and tanh in place; 2x2 average
    pooling as two folds of strided slices (rows, then columns); the ``xW``
    dense chain. 0.14 / 2.0-2.1 / 81-90 ms.
    ``banded``: per convolution, a chunk of images at a time (256 KiB of
    im2col) so it stays in cache: pad into a reused buffer, copy the input
    rows under 14 (first layer) or 5 (second) neighbouring outputs into an
    im2col matrix with a ones column, one product with a banded kernel
    matrix (bias as its last row), tanh in place; pooling as above; each
    dense layer with the faster of ``xW`` and ``transposed`` for its rows
    (the rule layerspec's Dense uses). 0.077-0.083 / 0.85-0.89 / 26-29 ms.
    Measured per convolution and dropped: ``np.tensordot`` on
    ``sliding_window_view`` (2.3-4x slower than im2col); whole-batch im2col
    chunked by images (1.1-1.6x faster than whole-batch, slower than
    banded); 25 shifted multiply-adds for the one-channel first layer
    (10-21x slower); banded widths 1, 2, 4, 7, 28 for the first layer
    (1.0-3.7x slower than 14). Pooling by ``reshape(b, h/2, 2, w/2, 2,
    c).mean(axis=(2, 4))`` is 4-7x slower than the slice folds; the column
    fold as a matrix product (1024 rows: 2.6 vs 3.8 ms) was not kept.
lstm (specs/text_lstm.yaml at 100 steps: embedding 64, LSTM 64, dense 1),
gates reordered i, f, o, c with the i, f, o columns halved so one ``tanh``
serves all four (``sigmoid(a) = (1 + tanh(a/2)) / 2``), all in place:
    ``hoisted``: the input projection of every step in one product, gates
    a (batch, 256) block per step. 0.68-0.73 / 4.2-5.4 / 122 ms.
    ``fused``: one product per step of ``[x_t, h, 1]`` with ``[W; U; b]``;
    from 4 rows on, one contiguous (batch, 64) block per gate (a product
    per gate), as NumPy's elementwise work runs 4x faster on contiguous
    blocks than on column slices of a (batch, 256) block. 0.69-0.76 /
    2.8-3.8 / 72-74 ms. The hoisted projection with per-gate blocks took
    1.1 / 3.4 / 108 ms: at 1024 rows, its (1024, 100, 256) result does not
    fit in cache.
Issue 14's rows, fastest of 15 rounds, two quiet runs (ms; layerspec / the
fastest reference; 2026-11-30):
    mha128 (batch 8): layerspec 6.9-9.5, ``blocked`` 6.9-9.3 (``matmul
    views`` 7.9-10.0, ``matmul`` 8.0-10.3, ``einsum`` 8.6-11.2): ratio
    1.00-1.03.
    mha512 (batch 8): layerspec 59-61, ``blocked`` 61-62 (``matmul views``
    83-85, ``matmul`` 85, ``einsum`` 90-93): ratio 0.97-0.99.
    conv_transpose (batch 32): layerspec 1.6-1.7, ``subpixel`` 1.6
    (``subpixel_rows`` 1.8-1.9, ``scatter`` 3.4): ratio 1.03-1.07.
    depthwise (batch 32): layerspec 21-23, ``tiled_taps`` 31-34 (``einsum``
    32-34, ``taps`` 37-40): ratio 0.62-0.75.
    A run while other jobs held the cores (load average 4) took 8 minutes
    instead of 1.3 and read mha128 at 28.1 / 24.1 ms, 1.17.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # _common, and layerspec from this checkout
from _common import best_time, clean_blas_environment, print_table  # noqa: E402

import numpy as np  # noqa: E402

import attention  # noqa: E402  (its MultiHeadAttention model and references)
import conv_variants  # noqa: E402  (its Conv2DTranspose and DepthwiseConv2D references)
import layerspec  # noqa: E402

SPECS = HERE.parent / "specs"
#: Issue 7's targets (mlp, cnn, lstm) and issue 14's (the rest): (the
#: reference the ratio is taken against, the most it may be). The MLP's is
#: the textbook ``x @ W + b`` chain; the others' the fastest formulation
#: measured (None).
TARGETS = {"mlp": ("xW", 1.10), "cnn": (None, 1.25), "lstm": (None, 1.25),
           "mha128": (None, 1.15), "mha512": (None, 1.15),
           "conv_transpose": (None, 1.25), "depthwise": (None, 1.25)}
#: Batch sizes of each model's rows when ``--batch-sizes`` is not given.
BATCH_SIZES = {"mlp": (1, 32, 1024), "cnn": (1, 32, 1024), "lstm": (1, 32, 1024),
               "mha128": (8,), "mha512": (8,), "conv_transpose": (32,), "depthwise": (32,)}
SEQUENCE_LENGTH = 100
#: The attention rows' layer, as benchmarks/attention.py times it: self-
#: attention of ``MHA_WIDTH``-wide steps, ``MHA_HEADS`` heads of ``MHA_KEY_DIM``.
MHA_WIDTH, MHA_HEADS, MHA_KEY_DIM = 256, 8, 32
#: The convolution rows' layers, as benchmarks/conv_variants.py times them
#: (kernel 3, padding same, relu, bias): input shapes and filters.
CONV_TRANSPOSE_INPUT, CONV_TRANSPOSE_FILTERS = (16, 16, 32), 16
DEPTHWISE_INPUT = (56, 56, 32)
#: im2col bytes per chunk of images in the ``banded`` CNN reference.
CHUNK_BYTES = 1 << 18


# -- pieces written directly in NumPy -------------------------------------
def softmax_(h):
    """Softmax over the last axis, in place (rows hold no infinities here)."""
    h -= np.maximum.reduce(h, axis=-1, keepdims=True)
    np.exp(h, out=h)
    h /= np.add.reduce(h, axis=-1, keepdims=True)
    return h


def sigmoid_(h):
    """Stable sigmoid in place: exp(min(h, 0)) / (1 + exp(-|h|))."""
    den = np.abs(h)
    np.negative(den, out=den)
    np.exp(den, out=den)
    den += 1
    np.minimum(h, 0, out=h)
    np.exp(h, out=h)
    h /= den
    return h


ACTIVATIONS = {"relu": lambda h: np.maximum(h, 0, out=h), "tanh": lambda h: np.tanh(h, out=h),
               "softmax": softmax_, "sigmoid": sigmoid_}


def dense_xw(h, layers):
    """``act(h @ W + b)`` layer after layer; ``layers`` is ``[(W, b, act), ...]``."""
    for kernel, bias, act in layers:
        h = h @ kernel
        h += bias
        h = ACTIVATIONS[act](h)
    return h


def dense_transposed(h, layers):
    """The same chain as ``h.T = W.T @ h.T``, ``layers`` holding contiguous ``W.T``."""
    h = h.T
    for kernel_t, bias, act in layers[:-1]:
        h = kernel_t @ h
        h += bias[:, np.newaxis]
        ACTIVATIONS[act](h)
    kernel_t, bias, act = layers[-1]
    h = (kernel_t @ h).T
    h += bias
    return ACTIVATIONS[act](h)


def dense_mixed(h, xw_layers, transposed_layers):
    """The chain with each layer's faster product for this many rows.

    ``h.T = W.T @ h.T`` for 2 to ``units - 1`` rows when the rows are at
    least 32 or the kernel has at least 2**18 values, else ``h @ W``; the
    same rule as layerspec's Dense (its measurements are there).
    """
    rows = len(h)
    for (kernel, bias, act), (kernel_t, _, _) in zip(xw_layers, transposed_layers):
        if 1 < rows < kernel.shape[1] and (rows >= 32 or kernel.size >= 1 << 18):
            h = (kernel_t @ h.T).T
        else:
            h = h @ kernel
        h += bias
        h = ACTIVATIONS[act](h)
    return h


def dense_layers(w, names, acts, transposed):
    return [(np.ascontiguousarray(w[f"{name}/kernel"].T) if transposed else w[f"{name}/kernel"], w[f"{name}/bias"],
             act) for name, act in zip(names, acts)]


def avg_pool2(x):
    """2x2 average pooling: fold row pairs (whole rows), then column pairs."""
    rows = x[:, 0::2] + x[:, 1::2]
    out = np.add(rows[:, :, 0::2], rows[:, :, 1::2])
    out *= 0.25
    return out


def conv_im2col_tanh(x, kernel2d, bias, kh, kw, pad):
    """Conv (stride 1) + bias + tanh: strided windows, one reshape copy, one product."""
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    b, hp, wp, c = x.shape
    ho, wo = hp - kh + 1, wp - kw + 1
    s = x.strides
    windows = np.lib.stride_tricks.as_strided(x, (b, ho, wo, kh, kw, c), (s[0], s[1], s[2], s[1], s[2], s[3]),
                                              writeable=False)
    out = windows.reshape(b * ho * wo, kh * kw * c) @ kernel2d
    out += bias
    np.tanh(out, out=out)
    return out.reshape(b, ho, wo, -1)


def banded_matrix(kernel, bias, width):
    """Kernel (kh, kw, c, f) as a banded (kh * (width + kw - 1) * c + 1, width * f) matrix, bias last."""
    kh, kw, c, f = kernel.shape
    band = np.zeros((kh, width + kw - 1, c, width, f), kernel.dtype)
    for j in range(width):
        band[:, j:j + kw, :, j, :] = kernel
    return np.vstack([band.reshape(-1, width * f), np.tile(bias, width)])


def conv_banded_tanh(x, matrix, kh, kw, width, pad):
    """Conv (stride 1) + bias + tanh, ``width`` output columns per im2col row, by chunks of images."""
    b, h, w, c = x.shape
    hp, wp = h + 2 * pad, w + 2 * pad
    ho, wo = hp - kh + 1, wp - kw + 1
    tiles, span, depth = wo // width, width + kw - 1, matrix.shape[0] - 1
    filters = matrix.shape[1] // width
    images = max(1, min(b, CHUNK_BYTES // (ho * tiles * (depth + 1) * 4)))
    columns = np.empty((images * ho * tiles, depth + 1), x.dtype)
    columns[:, -1] = 1
    padded = np.zeros((images, hp, wp, c), x.dtype)
    out = np.empty((b, ho, wo, filters), x.dtype)
    s = padded.strides
    for start in range(0, b, images):
        n = min(images, b - start)
        padded[:n, pad:pad + h, pad:pad + w] = x[start:start + n]
        rows = np.lib.stride_tricks.as_strided(padded, (n, ho, tiles, kh, span * c),
                                               (s[0], s[1], s[2] * width, s[1], s[3]), writeable=False)
        im2col = columns[:n * ho * tiles]
        np.copyto(im2col[:, :depth].reshape(rows.shape), rows)
        chunk = out[start:start + n]
        np.matmul(im2col, matrix, out=chunk.reshape(-1, width * filters))
        np.tanh(chunk, out=chunk)
    return out


# -- the references -------------------------------------------------------
MLP_DENSE = (("dense", "dense_1", "dense_2"), ("relu", "relu", "softmax"))
LENET_DENSE = (("dense", "dense_1", "dense_2"), ("tanh", "tanh", "softmax"))


def mlp_references(w):
    xw = dense_layers(w, *MLP_DENSE, transposed=False)
    transposed = dense_layers(w, *MLP_DENSE, transposed=True)
    return {"xW": lambda x: dense_xw(x, xw), "transposed": lambda x: dense_transposed(x, transposed)}


def cnn_references(w):
    k1, k2 = w["conv2d/kernel"], w["conv2d_1/kernel"]
    im2col = (k1.reshape(-1, 6), w["conv2d/bias"], k2.reshape(-1, 16), w["conv2d_1/bias"])
    banded = (banded_matrix(k1, w["conv2d/bias"], 14), banded_matrix(k2, w["conv2d_1/bias"], 5))
    xw = dense_layers(w, *LENET_DENSE, transposed=False)
    transposed = dense_layers(w, *LENET_DENSE, transposed=True)

    def run_im2col(x):
        h = avg_pool2(conv_im2col_tanh(x, im2col[0], im2col[1], 5, 5, 2))
        h = avg_pool2(conv_im2col_tanh(h, im2col[2], im2col[3], 5, 5, 0))
        return dense_xw(h.reshape(len(h), -1), xw)

    def run_banded(x):
        h = avg_pool2(conv_banded_tanh(x, banded[0], 5, 5, 14, 2))
        h = avg_pool2(conv_banded_tanh(h, banded[1], 5, 5, 5, 0))
        return dense_mixed(h.reshape(len(h), -1), xw, transposed)

    return {"im2col": run_im2col, "banded": run_banded}


def lstm_matrices(w):
    """``[W; U; b]`` with gates i, f, o (halved), c: rows (64 + 64 + 1), columns 4 * 64."""
    u = w["lstm/recurrent_kernel"].shape[0]
    stacked = np.vstack([w["lstm/kernel"], w["lstm/recurrent_kernel"], w["lstm/bias"]])
    i, f, c, o = np.split(stacked, 4, axis=1)
    return np.hstack([i * np.float32(0.5), f * np.float32(0.5), o * np.float32(0.5), c]), u


def lstm_references(w):
    matrix, u = lstm_matrices(w)
    features = w["lstm/kernel"].shape[0]
    kernel, recurrent, bias = matrix[:features], np.ascontiguousarray(matrix[features:-1]), matrix[-1]
    by_gate = np.ascontiguousarray(matrix.reshape(len(matrix), 4, u).transpose(1, 0, 2))
    table, head = w["embedding/embeddings"], (w["positive/kernel"], w["positive/bias"], "sigmoid")

    def hoisted(ids):
        x = np.take(table, ids, axis=0)
        batch, steps, _ = x.shape
        projected = x.reshape(batch * steps, features) @ kernel
        projected += bias
        projected = projected.reshape(batch, steps, 4 * u)
        h, c = np.zeros((batch, u), np.float32), np.zeros((batch, u), np.float32)
        gates, tmp = np.empty((batch, 4 * u), np.float32), np.empty((batch, u), np.float32)
        sig, i, f, o, g = gates[:, :3 * u], gates[:, :u], gates[:, u:2 * u], gates[:, 2 * u:3 * u], gates[:, 3 * u:]
        for t in range(steps):
            np.matmul(h, recurrent, out=gates)
            gates += projected[:, t]
            np.tanh(gates, out=gates)
            sig *= 0.5
            sig += 0.5
            c *= f
            np.multiply(i, g, out=tmp)
            c += tmp
            np.tanh(c, out=tmp)
            np.multiply(o, tmp, out=h)
        return dense_xw(h, [head])

    def fused(ids):
        x = np.take(table, ids, axis=0)
        batch, steps, _ = x.shape
        blocks = batch >= 4
        z = np.zeros((batch, len(matrix)), np.float32)
        z[:, -1] = 1
        xt, h = z[:, :features], z[:, features:features + u]
        c, tmp = np.zeros((batch, u), np.float32), np.empty((batch, u), np.float32)
        if blocks:
            gates = np.empty((4, batch, u), np.float32)
            i, f, o, g = gates
            sig = gates[:3]
        else:
            gates = np.empty((batch, 4 * u), np.float32)
            sig, i, f = gates[:, :3 * u], gates[:, :u], gates[:, u:2 * u]
            o, g = gates[:, 2 * u:3 * u], gates[:, 3 * u:]
        product = by_gate if blocks else matrix
        for t in range(steps):
            np.copyto(xt, x[:, t])
            np.matmul(z, product, out=gates)
            np.tanh(gates, out=gates)
            sig *= 0.5
            sig += 0.5
            c *= f
            np.multiply(i, g, out=tmp)
            c += tmp
            np.tanh(c, out=tmp)
            np.multiply(o, tmp, out=h)
        return dense_xw(h.copy(), [head])

    return {"hoisted": hoisted, "fused": fused}


def mha_references(w):
    """benchmarks/attention.py's references (einsum, matmul, matmul views, blocked)."""
    return attention.make_references(w, MHA_HEADS, MHA_KEY_DIM, causal=False)


def conv_transpose_references(w):
    """benchmarks/conv_variants.py's references (scatter, subpixel, subpixel_rows)."""
    return conv_variants.transpose_references(w["conv/kernel"], w["conv/bias"])


def depthwise_references(w):
    """benchmarks/conv_variants.py's references (taps, tiled_taps, einsum)."""
    return conv_variants.depthwise_references(w["conv/kernel"], w["conv/bias"], DEPTHWISE_INPUT[1])


MLP_SPEC = """
name: mlp
input: [784]
layers:
  - {units: 1024, activation: relu}
  - {units: 1024, activation: relu}
  - {units: 10, activation: softmax}
"""


def make_case(name: str, batch: int, rng: np.random.Generator):
    """(model, references factory, input) for one benchmark row."""
    if name == "mlp":
        model = layerspec.loads(MLP_SPEC)
        x = rng.standard_normal((batch, 784)).astype(np.float32)
        return model, mlp_references, x
    if name == "cnn":
        model = layerspec.load(str(SPECS / "lenet5.yaml"))
        x = rng.standard_normal((batch, 28, 28, 1)).astype(np.float32)
        return model, cnn_references, x
    if name == "lstm":
        model = layerspec.load(str(SPECS / "text_lstm.yaml"), input_shape=(SEQUENCE_LENGTH,))
        x = rng.integers(0, 10000, (batch, SEQUENCE_LENGTH))
        return model, lstm_references, x
    if name in ("mha128", "mha512"):
        length = int(name[3:])
        model = attention.make_model(length, MHA_WIDTH, MHA_HEADS, MHA_KEY_DIM, causal=False)
        x = rng.standard_normal((batch, length, MHA_WIDTH)).astype(np.float32)
        return model, mha_references, x
    if name == "conv_transpose":
        model = layerspec.loads(conv_spec(name, CONV_TRANSPOSE_INPUT, "Conv2DTranspose",
                                          f"filters: {CONV_TRANSPOSE_FILTERS}, strides: 2, "))
        x = rng.standard_normal((batch, *CONV_TRANSPOSE_INPUT)).astype(np.float32)
        return model, conv_transpose_references, x
    if name == "depthwise":
        model = layerspec.loads(conv_spec(name, DEPTHWISE_INPUT, "DepthwiseConv2D", ""))
        x = rng.standard_normal((batch, *DEPTHWISE_INPUT)).astype(np.float32)
        return model, depthwise_references, x
    raise SystemExit(f"unknown model {name!r}; choose from {', '.join(TARGETS)}")


def conv_spec(name: str, input_shape: tuple, layer_type: str, arguments: str) -> str:
    """A one-layer model: ``layer_type`` with kernel 3, padding same, relu, bias, named ``conv``."""
    return (f"name: {name}\ninput: {list(input_shape)}\nlayers:\n"
            f"  - {{type: {layer_type}, {arguments}kernel_size: 3, padding: same, activation: relu, name: conv}}\n")


def time_alternately(functions: dict, rounds: int, min_seconds: float = 0.05) -> dict:
    """Seconds per call of each function: the fastest of ``rounds`` rounds, timed in turn.

    Each round times every function for ``min_seconds`` (the mean of as
    many calls as that takes). The fastest round, not the median: on a
    shared machine, load only ever adds time, and arrives in bursts of a
    few seconds that would otherwise land on one function and not another;
    many short rounds give each function some quiet ones.
    """
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            times[name].append(best_time(function, min_seconds, repeats=1))
    return {name: min(values) for name, values in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(TARGETS), help=f"comma-separated, from {', '.join(TARGETS)}")
    parser.add_argument("--batch-sizes", help="comma-separated, for every model (default: each model's own, "
                        + "; ".join(f"{name} {','.join(map(str, sizes))}" for name, sizes in BATCH_SIZES.items())
                        + ")")
    parser.add_argument("--rounds", type=int, default=15, help="alternating timing rounds per row")
    args = parser.parse_args(argv)
    for note in clean_blas_environment():
        print(note)
    rng = np.random.default_rng(0)
    rows = []
    names = args.models.split(",")
    for name in names:
        if name not in TARGETS:
            raise SystemExit(f"unknown model {name!r}; choose from {', '.join(TARGETS)}")
    for name in names:
        sizes = BATCH_SIZES[name] if args.batch_sizes is None else (int(b) for b in args.batch_sizes.split(","))
        for batch in sizes:
            model, make_references, x = make_case(name, batch, rng)
            model.init(seed=0)
            references = make_references(model.get_weights())
            ours_out = model.predict(x)
            assert ours_out.dtype == np.float32
            for reference in references.values():
                reference_out = reference(x)
                np.testing.assert_allclose(ours_out, reference_out, rtol=2e-4, atol=2e-5)
                assert reference_out.dtype == np.float32
            functions = {"layerspec": lambda: model.predict(x)}
            functions.update({ref: (lambda f=f: f(x)) for ref, f in references.items()})
            times = time_alternately(functions, args.rounds)
            ours = times.pop("layerspec")
            best = min(times, key=times.get)
            others = "  ".join(f"{ref} {seconds * 1e3:.3f}" for ref, seconds in times.items())
            rows.append([name, batch, f"{ours * 1e3:.3f}", f"{times[best] * 1e3:.3f}", best,
                         f"{batch / ours:,.0f}", f"{ours / times[best]:.3f}", target_verdict(name, ours, times),
                         others])
    print_table(["model", "batch", "layerspec ms", "best numpy ms", "best", "layerspec rows/s", "ratio",
                 "target", "every reference (ms)"], rows)


def target_verdict(name: str, ours: float, times: dict) -> str:
    """E.g. ``1.05 vs xW, <= 1.10 met``: the ratio the target is set on."""
    reference, limit = TARGETS[name]
    reference = reference or min(times, key=times.get)
    ratio = ours / times[reference]
    return f"{ratio:.2f} vs {reference}, <= {limit:.2f} {'met' if ratio <= limit else 'MISSED'}"


if __name__ == "__main__":
    main()
