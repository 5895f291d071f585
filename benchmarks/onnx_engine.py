"""`run --engine onnxruntime` against `run`: ONNX Runtime and layerspec's NumPy layers on the same models.

Two measurements, both as ratios taken in one process (or one shell), so
that load on a shared machine hits both sides alike:

1. **Forward pass**, per batch: ``model.predict(x)`` with layerspec's
   layers against the same call with the exported model in ONNX Runtime
   standing in for them (:class:`layerspec.onnx_engine.OnnxRuntimeEngine`,
   what ``run --engine onnxruntime`` uses), timed in alternating rounds,
   the fastest round each, each engine timed once the other's spinning
   pool threads have settled (benchmarks/vs_onnxruntime.py's rounds). Both
   sides get the same input array and give the same result (checked, rtol
   1e-4).
2. **The whole command**, ``layerspec run SPEC X.npy -o Y.npy`` with and
   without ``--engine onnxruntime`` on ``--rows`` rows (default 8192),
   alternating, each the fastest of ``--runs``: what a user waits for,
   including start-up and, for ONNX Runtime, exporting the model and
   building its session.

The models are forward.py's: ``mlp`` (784-1024-1024-10), ``cnn``
(specs/lenet5.yaml) and ``lstm`` (specs/text_lstm.yaml at 100 steps), at
batch sizes 1, 32 and 1024.

    python benchmarks/onnx_engine.py
    python benchmarks/onnx_engine.py --models lstm --batch-sizes 32 --no-command

ONNX Runtime uses its default thread pool (one thread per physical core);
NumPy's BLAS its own (reported below).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import clean_blas_environment, command_environment, print_table  # noqa: E402
from forward import make_case  # noqa: E402
from vs_onnxruntime import alternate  # noqa: E402

from layerspec.onnx_engine import OnnxRuntimeEngine  # noqa: E402

MODELS = ("mlp", "cnn", "lstm")
BATCH_SIZES = (1, 32, 1024)


def forward_row(name: str, batch: int, rounds: int) -> list[str]:
    """One row of the per-batch comparison."""
    rng = np.random.default_rng(0)
    model, _, x = make_case(name, batch, rng)
    model.init(seed=0)
    expected = model.predict(x)
    engine = OnnxRuntimeEngine(model)
    batches = [x if name != "lstm" else x.astype(np.int64)]

    def numpy_pass():
        return model.predict(x)

    def onnx_pass():
        return engine(batches)[0]

    np.testing.assert_allclose(onnx_pass(), expected, rtol=1e-4, atol=1e-5)
    # vs_onnxruntime.py's rounds: each engine timed once the other's
    # spinning pool threads have settled.
    times = alternate({"numpy": numpy_pass, "onnxruntime": onnx_pass}, rounds)
    numpy_s, onnx_s = min(times["numpy"]), min(times["onnxruntime"])
    return [name, str(batch), f"{numpy_s * 1e3:.3f}", f"{onnx_s * 1e3:.3f}", f"{numpy_s / onnx_s:.2f}",
            _faster(numpy_s, onnx_s)]


def _faster(numpy_s: float, onnx_s: float) -> str:
    if abs(numpy_s / onnx_s - 1) < 0.05:
        return "even (within 5%)"
    return f"onnxruntime, {numpy_s / onnx_s:.1f}x" if onnx_s < numpy_s else f"numpy, {onnx_s / numpy_s:.1f}x"


def command_rows(names: list[str], rows: int, runs: int) -> list[list[str]]:
    """The whole ``layerspec run`` command with each engine, ``rows`` rows."""
    from _common import time_commands_alternately

    env = command_environment(HERE.parent)
    table = []
    with tempfile.TemporaryDirectory() as directory:
        for name in names:
            model, _, x = make_case(name, rows, np.random.default_rng(0))
            spec = os.path.join(directory, f"{name}.yaml")
            _write_spec(name, spec)
            data = os.path.join(directory, f"{name}.npy")
            np.save(data, x)
            base = [sys.executable, "-m", "layerspec", "run", spec, data, "--seed", "0"]
            commands = {engine: base + ["-o", os.path.join(directory, f"{name}.{engine}.npy"), "--engine", engine]
                        for engine in ("numpy", "onnxruntime")}
            times = time_commands_alternately(commands, runs, env, quiet=True)
            numpy_s, onnx_s = min(times["numpy"]), min(times["onnxruntime"])
            np.testing.assert_allclose(np.load(commands["onnxruntime"][-3]), np.load(commands["numpy"][-3]),
                                       rtol=1e-4, atol=1e-5)
            table.append([name, f"{rows:,}", f"{numpy_s:.2f}", f"{onnx_s:.2f}", f"{numpy_s / onnx_s:.2f}",
                          _faster(numpy_s, onnx_s)])
    return table


def _write_spec(name: str, path: str) -> None:
    """The benchmark model of ``name`` as a spec file (the LSTM's length fixed)."""
    import forward

    if name == "mlp":
        text = forward.MLP_SPEC
    elif name == "cnn":
        text = (forward.SPECS / "lenet5.yaml").read_text()
    else:
        text = (forward.SPECS / "text_lstm.yaml").read_text().replace("input: [null]",
                                                                     f"input: [{forward.SEQUENCE_LENGTH}]")
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    parser.add_argument("--rounds", type=int, default=15, help="alternating timing rounds per row")
    parser.add_argument("--rows", type=int, default=8192, help="rows of the whole-command comparison")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs of each command")
    parser.add_argument("--no-command", action="store_true", help="skip the whole-command comparison")
    args = parser.parse_args(argv)
    for note in clean_blas_environment():
        print(note)
    import onnxruntime

    print(f"ONNX Runtime {onnxruntime.__version__}, default threads; NumPy {np.__version__}")
    names = args.models.split(",")
    rows = [forward_row(name, int(batch), args.rounds) for name in names for batch in args.batch_sizes.split(",")]
    print("\nForward pass per batch (ms; ratio = numpy / onnxruntime, above 1 means ONNX Runtime is faster):")
    print_table(["model", "batch", "numpy ms", "onnxruntime ms", "ratio", "faster"], rows)
    if not args.no_command:
        print(f"\nThe whole `layerspec run` command on {args.rows:,} rows (seconds, fastest of {args.runs}):")
        print_table(["model", "rows", "numpy s", "onnxruntime s", "ratio", "faster"],
                    command_rows(names, args.rows, args.runs))


if __name__ == "__main__":
    main()
