"""Streaming `run` over an input larger than 2 GB: anonymous memory stays flat.

Writes a float32 input of at least 2 GB (700,000 rows of 784, chunk by
chunk), runs ``layerspec run specs/mnist_mlp.yaml x.npy -o y.npy
--batch-size 1024`` in a child process and samples the child's anonymous
resident memory (RssAnon in /proc: heap and NumPy buffers, not the
memory-mapped input and output files) every 10 ms. Then checks the streamed
output against one unbatched forward pass. Target: under 500 MB.

    python benchmarks/run_memory.py [--rows 700000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from _common import clean_blas_environment  # noqa: E402

import numpy as np  # noqa: E402

import layerspec  # noqa: E402

SPEC = HERE.parent / "specs" / "mnist_mlp.yaml"
LIMIT_MB = 500
CHUNK = 50_000


def write_input(path: pathlib.Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, 784))
    for start in range(0, rows, CHUNK):
        stop = min(start + CHUNK, rows)
        out[start:stop] = rng.random((stop - start, 784), dtype=np.float32)
    out.flush()
    del out


def anonymous_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_and_sample(command: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RssAnon in KB) of one child process."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, anonymous_kb(process.pid) or 0)
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(f"run failed:\n{process.stderr.read().decode()}")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=700_000)
    parser.add_argument("--keep", help="directory for the files (default: a temporary one, removed)")
    args = parser.parse_args()
    for note in clean_blas_environment():
        print(note)
    with tempfile.TemporaryDirectory(dir=args.keep) as directory:
        folder = pathlib.Path(directory)
        x_path, y_path, w_path = folder / "x.npy", folder / "y.npy", folder / "w.npz"
        write_input(x_path, args.rows)
        model = layerspec.load(str(SPEC)).init(seed=0)
        model.save_weights(str(w_path))
        size_gb = x_path.stat().st_size / 1e9
        command = [sys.executable, "-m", "layerspec", "run", str(SPEC), str(x_path), "--weights", str(w_path),
                   "-o", str(y_path), "--batch-size", "1024"]
        seconds, peak_kb = run_and_sample(command)
        streamed = np.load(y_path, mmap_mode="r")
        unbatched = model.predict(np.load(x_path))
        worst = float(np.max(np.abs(streamed - unbatched)))
        equal = np.allclose(streamed, unbatched, rtol=1e-5, atol=1e-6)
    print(f"input: {args.rows:,} rows x 784 float32 = {size_gb:.2f} GB; model {SPEC.name}; batch 1024")
    print(f"layerspec run: {seconds:.1f} s, {args.rows / seconds:,.0f} rows/s")
    print(f"peak anonymous memory (RssAnon) of the run process: {peak_kb / 1024:.1f} MB (limit {LIMIT_MB} MB)")
    print(f"streamed output vs one unbatched forward pass: max |difference| {worst:.2e}, "
          f"{'equal within float32 tolerance' if equal else 'DIFFERENT'}")
    sys.exit(0 if equal and peak_kb / 1024 < LIMIT_MB and size_gb >= 2 else 1)


if __name__ == "__main__":
    main()
