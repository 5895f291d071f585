"""MultiHeadAttention speed: layerspec against direct NumPy formulations.

A model of one self-attention layer (8 heads of 32, model width 256, batch
8 by default) at sequence lengths 128 and 512: ``model.predict`` against
hand-written NumPy versions of the same computation with the same weights
(each checked to give the same result), timed in turn, round after round,
in one process. Each figure is the median of the rounds; the ratio is
layerspec's median over the fastest reference's. Issue 14's target: at
most 1.15. The last column gives the same ratio from each function's
fastest round: on a shared machine a two-thread OpenBLAS can stall for a
whole scheduler time slice when another process holds a core, and such
stalls land on whichever function runs then.

    python benchmarks/attention.py
    python benchmarks/attention.py --lengths 128 --batch 4 --rounds 5 --causal

The references (projections as one 2-D matrix product each, the query
scaled by 1/sqrt(key_dim) before the scores, a stable softmax in place):

    ``einsum``: Keras's einsum strings (``np.einsum``, ``optimize=True``).
    ``matmul``: the heads copied to contiguous ``(batch, heads, T, size)``
    blocks, every score at once with batched ``np.matmul``, the softmax
    along the rows.
    ``matmul views``: the same on strided views of the projections, no
    copies (NumPy's matmul then runs slower per product).
    ``blocked``: layerspec's own formulation written out: scores transposed
    (keys by queries), the softmax down the columns, 1 MiB of scores per
    block of (sample, head) pairs.

Measured on a 2-core AVX-512 machine shared with other jobs (OpenBLAS
0.3.31, 2 threads; NumPy 2.4), 2026-11-29, medians of 9 rounds, three
quiet runs (ms, layerspec / best reference):

    length 128: layerspec 10.4-11.0, blocked 10.1-10.7, matmul views
    11.4-12.0, matmul 11.5-11.9, einsum 12.7-13.3: ratio 1.02-1.03.
    length 512: layerspec 90.7-92.0, blocked 87.8-90.7, matmul views
    118.9-123.5, matmul 117.6-123.6, einsum 131-138: ratio 1.00-1.05.
    ``--causal``: 1.02 (128) and 1.09 (512); one BLAS thread: 1.01 and
    1.04. Runs while another process held a core showed stalls of up to
    50x on any of the functions (see the last column).
"""

from __future__ import annotations

import argparse
import math
import pathlib
import statistics
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # _common, and layerspec from this checkout
from _common import best_time, clean_blas_environment, print_table  # noqa: E402

import numpy as np  # noqa: E402

import layerspec  # noqa: E402

TARGET = 1.15
#: Scores per block in the ``blocked`` reference (as the layer's).
BLOCK = 1 << 18


def make_model(length: int, width: int, heads: int, key_dim: int, causal: bool):
    """The one-layer self-attention model, weights drawn with a fixed seed."""
    spec = (f"name: attention_bench\ninput: [{length}, {width}]\nlayers:\n"
            f"  - {{type: MultiHeadAttention, num_heads: {heads}, key_dim: {key_dim}, "
            f"use_causal_mask: {'true' if causal else 'false'}, name: mha}}\n")
    model = layerspec.loads(spec)
    model.init(seed=0)
    return model


def make_references(weights: dict, heads: int, key_dim: int, causal: bool) -> dict:
    """NumPy versions of the layer: name → function of the input batch."""
    wq, wk, wv, wo = (weights[f"mha/{name}/kernel"] for name in ("query", "key", "value", "attention_output"))
    bq, bk, bv, bo = (weights[f"mha/{name}/bias"] for name in ("query", "key", "value", "attention_output"))
    width = wq.shape[0]
    value_dim = wv.shape[2]
    # Flattened once, outside the timing (the layer's reshapes are views).
    flat = {name: w.reshape(w.shape[0], -1) if name != "o" else w.reshape(-1, w.shape[-1])
            for name, w in (("q", wq), ("k", wk), ("v", wv), ("o", wo))}
    scale = np.float32(1.0 / math.sqrt(key_dim))

    def masked_positions(length, transposed=False):
        rows, cols = np.arange(length)[:, None], np.arange(length)[None, :]
        return (rows > cols) if transposed else (cols > rows)

    def softmax(scores, axis):
        scores -= scores.max(axis=axis, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=axis, keepdims=True)
        return scores

    def project(x, name, bias):
        out = x.reshape(-1, width) @ flat[name]
        out += bias.reshape(-1)
        return out

    def einsum(x):
        q = np.einsum("abc,cde->abde", x, wq, optimize=True) + bq
        q *= scale
        k = np.einsum("abc,cde->abde", x, wk, optimize=True) + bk
        v = np.einsum("abc,cde->abde", x, wv, optimize=True) + bv
        scores = np.einsum("aecd,abcd->acbe", k, q, optimize=True)
        if causal:
            np.copyto(scores, np.float32(-1e9), where=masked_positions(x.shape[1]))
        softmax(scores, -1)
        heads_out = np.einsum("acbe,aecd->abcd", scores, v, optimize=True)
        return np.einsum("abcd,cde->abe", heads_out, wo, optimize=True) + bo

    def per_head(projected, batch, length, size):
        return projected.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

    def matmul(x, views=False):
        batch, length, _ = x.shape
        q, k, v = (per_head(project(x, n, b), batch, length, s)
                   for n, b, s in (("q", bq, key_dim), ("k", bk, key_dim), ("v", bv, value_dim)))
        if not views:
            q, k, v = (np.ascontiguousarray(t) for t in (q, k, v))
        q = q * scale
        scores = np.matmul(q, k.transpose(0, 1, 3, 2))
        if causal:
            np.copyto(scores, np.float32(-1e9), where=masked_positions(length))
        softmax(scores, -1)
        heads_out = np.matmul(scores, v)
        out = heads_out.transpose(0, 2, 1, 3).reshape(batch * length, -1) @ flat["o"]
        out += bo
        return out.reshape(batch, length, -1)

    def blocked(x):
        batch, length, _ = x.shape
        q = np.multiply(per_head(project(x, "q", bq), batch, length, key_dim), scale)
        k = np.ascontiguousarray(per_head(project(x, "k", bk), batch, length, key_dim))
        v = np.ascontiguousarray(per_head(project(x, "v", bv), batch, length, value_dim))
        q, k, v = q.reshape(-1, length, key_dim), k.reshape(-1, length, key_dim), v.reshape(-1, length, value_dim)
        mask = masked_positions(length, transposed=True) if causal else None
        heads_out = np.empty((len(q), length, value_dim), np.float32)
        step = max(1, BLOCK // (length * length))
        qt = q.transpose(0, 2, 1)
        for start in range(0, len(q), step):
            block = slice(start, start + step)
            scores = np.matmul(k[block], qt[block])
            if mask is not None:
                np.copyto(scores, np.float32(-1e9), where=mask)
            softmax(scores, -2)
            np.matmul(scores.transpose(0, 2, 1), v[block], out=heads_out[block])
        heads_out = heads_out.reshape(batch, heads, length, value_dim).transpose(0, 2, 1, 3)
        out = heads_out.reshape(batch * length, -1) @ flat["o"]
        out += bo
        return out.reshape(batch, length, -1)

    return {"einsum": einsum, "matmul": matmul, "matmul views": lambda x: matmul(x, views=True),
            "blocked": blocked}


def time_alternately(functions: dict, rounds: int, min_seconds: float) -> dict:
    """Seconds per call of each function in each of ``rounds`` rounds, each
    round timing every function in turn (so load bursts hit all of them)."""
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            times[name].append(best_time(function, min_seconds, repeats=1))
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="128,512")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--key-dim", type=int, default=32)
    parser.add_argument("--causal", action="store_true", help="use_causal_mask: true")
    parser.add_argument("--rounds", type=int, default=7, help="alternating timing rounds per length")
    parser.add_argument("--min-seconds", type=float, default=0.3, help="timing per function per round")
    args = parser.parse_args(argv)
    for note in clean_blas_environment():
        print(note)
    rng = np.random.default_rng(0)
    rows = []
    for length in (int(n) for n in args.lengths.split(",")):
        model = make_model(length, args.width, args.heads, args.key_dim, args.causal)
        references = make_references(model.get_weights(), args.heads, args.key_dim, args.causal)
        x = rng.standard_normal((args.batch, length, args.width)).astype(np.float32)
        ours_out = model.predict(x)
        for reference in references.values():
            result = reference(x)
            assert result.dtype == np.float32
            np.testing.assert_allclose(result, ours_out, rtol=2e-4, atol=2e-5)
        functions = {"layerspec": lambda: model.predict(x)}
        functions.update({name: (lambda f=f: f(x)) for name, f in references.items()})
        rounds = time_alternately(functions, args.rounds, args.min_seconds)
        times = {name: statistics.median(values) for name, values in rounds.items()}
        fastest = {name: min(values) for name, values in rounds.items()}
        ours, ours_fastest = times.pop("layerspec"), fastest.pop("layerspec")
        best = min(times, key=times.get)
        ratio = ours / times[best]
        others = "  ".join(f"{name} {seconds * 1e3:.1f}" for name, seconds in times.items())
        rows.append([length, f"{ours * 1e3:.1f}", f"{times[best] * 1e3:.1f}", best, f"{ratio:.2f}",
                     "met" if ratio <= TARGET else "MISSED", others,
                     f"{ours_fastest / min(fastest.values()):.2f}"])
    print(f"batch {args.batch}, width {args.width}, {args.heads} heads of {args.key_dim}"
          f"{', causal' if args.causal else ''}; medians of {args.rounds} alternating rounds")
    print_table(["length", "layerspec ms", "best numpy ms", "best", "ratio", f"<= {TARGET}",
                 "every reference (ms)", "ratio, fastest rounds"], rows)


if __name__ == "__main__":
    main()
