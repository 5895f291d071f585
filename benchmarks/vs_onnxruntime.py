"""layerspec's NumPy forward pass against ONNX Runtime running the same model.

The goal (issue 19) is set as ratios of layerspec's time to ONNX Runtime's
on the same machine in the same run: the MLP within 1.10x at batch 1, 32
and 1024; the CNNs within 2.5x at batch 1 and 2.0x at 32 and 1024; the LSTM
within 2.0x at batch 1 and 1.2x at 32 and 1024.

Each row builds the model with seeded weights, exports it to ONNX with
layerspec's own exporter (``layerspec.onnx_export``) and loads that into an
ONNX Runtime session with its default options (every core, all graph
optimisations). Both are checked to give the same outputs, then timed in
alternating rounds in one process (``--rounds``, default 15), each round
the mean of enough calls to last 50 ms; the table gives the minimum and the
median of the rounds for each, their ratio (minimum over minimum, the
figure the goals use) and the share of the machine's CPU that other
processes used while the row ran (from /proc/stat, Linux only), since these
machines are shared.

The models:

- ``mlp``: 784-1024-1024-10, relu, relu, softmax (benchmarks/forward.py's).
- ``cnn``: LeNet-5 (specs/lenet5.yaml: 5x5 convolutions with tanh, average
  pooling), forward.py's CNN.
- ``convnet``: the Keras MNIST example convnet the issue measured: Conv2D
  32 3x3 relu, MaxPooling 2, Conv2D 64 3x3 relu, MaxPooling 2, Flatten,
  Dropout, Dense 10 softmax.
- ``lstm``: specs/text_lstm.yaml at 100 steps (Embedding 64, LSTM 64, Dense 1).

    python benchmarks/vs_onnxruntime.py
    python benchmarks/vs_onnxruntime.py --models convnet --batch-sizes 1024 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import best_time, clean_blas_environment, print_table  # noqa: E402
from forward import make_case  # noqa: E402

import layerspec  # noqa: E402
from layerspec.onnx_engine import OnnxRuntimeEngine  # noqa: E402

CONVNET_SPEC = """
name: convnet
input: [28, 28, 1]
layers:
  - {type: Conv2D, filters: 32, kernel_size: 3, activation: relu}
  - {type: MaxPooling2D, pool_size: 2}
  - {type: Conv2D, filters: 64, kernel_size: 3, activation: relu}
  - {type: MaxPooling2D, pool_size: 2}
  - {type: Flatten}
  - {type: Dropout, rate: 0.5}
  - {units: 10, activation: softmax}
"""

MODELS = ("mlp", "cnn", "convnet", "lstm")
BATCH_SIZES = (1, 32, 1024)
#: The goals: the largest ratio (layerspec / ONNX Runtime) allowed per model and batch size.
GOALS = {"mlp": {1: 1.10, 32: 1.10, 1024: 1.10}, "cnn": {1: 2.5, 32: 2.0, 1024: 2.0},
         "convnet": {1: 2.5, 32: 2.0, 1024: 2.0}, "lstm": {1: 2.0, 32: 1.2, 1024: 1.2}}


def make_model(name: str, batch: int, rng: np.random.Generator):
    """``(model with weights, input batch)`` for one row."""
    if name == "convnet":
        model = layerspec.loads(CONVNET_SPEC)
        x = rng.standard_normal((batch, 28, 28, 1)).astype(np.float32)
    else:
        model, _, x = make_case(name, batch, rng)
    model.init(seed=0)
    return model, x


class CpuShare:
    """The share of the machine's CPU time used by other processes between
    :meth:`start` and :meth:`stop` (None where /proc is not there)."""

    def start(self) -> None:
        self._begin = self._read()

    def stop(self) -> float | None:
        end = self._read()
        if self._begin is None or end is None:
            return None
        total = end[0] - self._begin[0]
        others = (end[1] - self._begin[1]) - (end[2] - self._begin[2])
        return max(others, 0) / total if total > 0 else None

    @staticmethod
    def _read():
        """(all jiffies, busy jiffies, this process's jiffies)."""
        try:
            with open("/proc/stat") as file:
                fields = [int(value) for value in file.readline().split()[1:]]
            with open("/proc/self/stat") as file:
                own = file.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        # utime and stime, fields 14 and 15 of /proc/PID/stat (11 and 12 after the name).
        return sum(fields), sum(fields) - idle, int(own[11]) + int(own[12])


#: Seconds to wait before timing each function. ONNX Runtime's pool threads
#: and OpenBLAS's spin for a while after a run, waiting for the next (OpenBLAS
#: for about 2^28 cycles, ~0.1 s); timed at once after the other, each engine
#: would share the cores with the other's spinning threads (measured: up to
#: 2-3x slower at batch 1 and 32).
SETTLE_SECONDS = 0.3


def alternate(functions: dict, rounds: int) -> dict:
    """Per function, the seconds per call of each round, timed in turn."""
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            time.sleep(SETTLE_SECONDS)
            times[name].append(best_time(function, 0.05, repeats=1))
    return times


def row(name: str, batch: int, rounds: int) -> list[str]:
    model, x = make_model(name, batch, np.random.default_rng(0))
    # The session alone, as a user serving the exported file would call it.
    session = OnnxRuntimeEngine(model).session
    feed = {session.get_inputs()[0].name: x.astype(np.int64) if x.dtype.kind in "iu" else x}
    expected = model.predict(x)
    np.testing.assert_allclose(session.run(None, feed)[0], expected, rtol=1e-4, atol=1e-5)
    serial = make_model(name, batch, np.random.default_rng(0))[0]
    serial.parallel = False  # every pass on one thread: layerspec before batches were split
    share = CpuShare()
    share.start()
    times = alternate({"layerspec": lambda: model.predict(x), "serial": lambda: serial.predict(x),
                       "onnxruntime": lambda: session.run(None, feed)}, rounds)
    others = share.stop()
    ours, alone, theirs = times["layerspec"], times["serial"], times["onnxruntime"]
    ratio = min(ours) / min(theirs)
    goal = GOALS[name][batch] if batch in GOALS[name] else None
    verdict = "" if goal is None else f"<= {goal:.2f} {'met' if ratio <= goal else 'MISSED'}"
    return [name, str(batch), f"{min(ours) * 1e3:.3f}", f"{statistics.median(ours) * 1e3:.3f}",
            f"{min(theirs) * 1e3:.3f}", f"{statistics.median(theirs) * 1e3:.3f}", f"{ratio:.2f}", verdict,
            f"{min(alone) / min(theirs):.2f}", str(model._workers_for([x if x.dtype.kind == "f" else x])),
            "?" if others is None else f"{100 * others:.0f}%"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    for note in clean_blas_environment():
        print(note)
    import onnxruntime

    print(f"ONNX Runtime {onnxruntime.__version__} (default threads), NumPy {np.__version__}, "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}")
    rows = [row(name, int(batch), args.rounds) for name in args.models.split(",")
            for batch in args.batch_sizes.split(",")]
    print_table(["model", "batch", "layerspec min ms", "median", "onnxruntime min ms", "median", "ratio", "goal",
                 "one thread", "threads", "other CPU"], rows)
    print("ratio: layerspec's minimum over ONNX Runtime's; one thread: the same with the batch never split "
          "(model.parallel = False); threads: slices layerspec cut the batch into")


if __name__ == "__main__":
    main()
