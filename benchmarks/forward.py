"""Forward-pass speed: layerspec against the same arithmetic in plain NumPy.

For each model and batch size this prints the time of ``model.predict`` and
of a hand-written NumPy version of the same computation with the same
weights (checked to give the same result), and their ratio. Both run in
this one process, alternately, so the ratio survives a noisy shared machine.

    python benchmarks/forward.py            # all models, batch sizes 1, 32, 1024
    python benchmarks/forward.py --models cnn,lstm --batch-sizes 32
"""

from __future__ import annotations

import argparse
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # _common, and layerspec from this checkout
from _common import clean_blas_environment, interleaved_ratio, print_table  # noqa: E402

import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

import layerspec  # noqa: E402

SPECS = HERE.parent / "specs"
SEQUENCE_LENGTH = 100


# -- the same arithmetic, written directly in NumPy -----------------------
def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def numpy_mlp(w, x):
    """784-1024-1024-10: two relu layers and a softmax."""
    h = np.maximum(x @ w["dense/kernel"] + w["dense/bias"], 0)
    h = np.maximum(h @ w["dense_1/kernel"] + w["dense_1/bias"], 0)
    return _softmax(h @ w["dense_2/kernel"] + w["dense_2/bias"])


def _conv2d(x, kernel, bias, pad):
    """Cross-correlation: strided windows and one tensor product."""
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        # np.pad keeps the dtype; windows view the padded copy.
    kh, kw = kernel.shape[:2]
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))  # (B, H', W', C, kh, kw)
    return np.tensordot(windows, kernel.transpose(2, 0, 1, 3), axes=3) + bias


def _avg_pool2(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4), dtype=x.dtype)


def numpy_lenet(w, x):
    """specs/lenet5.yaml by hand."""
    h = _avg_pool2(np.tanh(_conv2d(x, w["conv2d/kernel"], w["conv2d/bias"], 2)))
    h = _avg_pool2(np.tanh(_conv2d(h, w["conv2d_1/kernel"], w["conv2d_1/bias"], 0)))
    h = h.reshape(len(h), -1)
    h = np.tanh(h @ w["dense/kernel"] + w["dense/bias"])
    h = np.tanh(h @ w["dense_1/kernel"] + w["dense_1/bias"])
    return _softmax(h @ w["dense_2/kernel"] + w["dense_2/bias"])


def numpy_text_lstm(w, ids):
    """specs/text_lstm.yaml by hand: embedding, LSTM (gates i, f, c, o), dense."""
    x = w["embedding/embeddings"][ids]
    kernel, recurrent, bias = w["lstm/kernel"], w["lstm/recurrent_kernel"], w["lstm/bias"]
    units = recurrent.shape[0]
    batch, steps = ids.shape
    projected = (x.reshape(batch * steps, -1) @ kernel + bias).reshape(batch, steps, 4 * units)
    h = np.zeros((batch, units), x.dtype)
    c = np.zeros((batch, units), x.dtype)
    for t in range(steps):
        gates = projected[:, t] + h @ recurrent
        i = _sigmoid(gates[:, :units])
        f = _sigmoid(gates[:, units:2 * units])
        g = np.tanh(gates[:, 2 * units:3 * units])
        o = _sigmoid(gates[:, 3 * units:])
        c = f * c + i * g
        h = o * np.tanh(c)
    return _sigmoid(h @ w["positive/kernel"] + w["positive/bias"])


MLP_SPEC = """
name: mlp
input: [784]
layers:
  - {units: 1024, activation: relu}
  - {units: 1024, activation: relu}
  - {units: 10, activation: softmax}
"""


def make_case(name: str, batch: int, rng: np.random.Generator):
    """(model, reference function, input) for one benchmark row."""
    if name == "mlp":
        model = layerspec.loads(MLP_SPEC)
        x = rng.standard_normal((batch, 784)).astype(np.float32)
        return model, numpy_mlp, x
    if name == "cnn":
        model = layerspec.load(str(SPECS / "lenet5.yaml"))
        x = rng.standard_normal((batch, 28, 28, 1)).astype(np.float32)
        return model, numpy_lenet, x
    if name == "lstm":
        model = layerspec.load(str(SPECS / "text_lstm.yaml"), input_shape=(SEQUENCE_LENGTH,))
        x = rng.integers(0, 10000, (batch, SEQUENCE_LENGTH))
        return model, numpy_text_lstm, x
    raise SystemExit(f"unknown model {name!r}; choose from mlp, cnn, lstm")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,cnn,lstm")
    parser.add_argument("--batch-sizes", default="1,32,1024")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds per row")
    args = parser.parse_args(argv)
    for note in clean_blas_environment():
        print(note)
    rng = np.random.default_rng(0)
    rows = []
    for name in args.models.split(","):
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            model, reference, x = make_case(name, batch, rng)
            model.init(seed=0)
            weights = model.get_weights()
            ours_out, reference_out = model.predict(x), reference(weights, x)
            np.testing.assert_allclose(ours_out, reference_out, rtol=2e-4, atol=2e-5)
            assert ours_out.dtype == reference_out.dtype == np.float32
            ours, theirs, ratio = interleaved_ratio(lambda: model.predict(x), lambda: reference(weights, x),
                                                    rounds=args.rounds)
            rows.append([name, batch, f"{ours * 1e3:.3f}", f"{theirs * 1e3:.3f}", f"{batch / ours:,.0f}",
                         f"{ratio:.3f}"])
    print_table(["model", "batch", "layerspec ms", "numpy ms", "layerspec rows/s", "ratio"], rows)


if __name__ == "__main__":
    main()
