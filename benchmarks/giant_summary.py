"""Summarising a 10^11-parameter spec: time and memory stay small.

Generates a GPT-3-sized stack — 96 blocks of LayerNormalization, Dense 49152
(gelu) and Dense 12288 on a (2048, 12288) input, about 1.16e11 parameters —
runs ``layerspec summary`` on it in a fresh process, and prints that
process's CPU time and peak resident memory, next to a bare
``import numpy, yaml, click`` for scale, and the exact totals against
hand-derived formulas. Targets: under 1 s of CPU time, under 150 MB.

    python benchmarks/giant_summary.py
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

BLOCKS, SEQUENCE, WIDTH, HIDDEN = 96, 2048, 12288, 49152
CPU_LIMIT_S, MEMORY_LIMIT_MB = 1.0, 150.0
REPO = pathlib.Path(__file__).resolve().parent.parent


def giant_spec() -> str:
    block = (f"  - type: LayerNormalization\n"
             f"  - {{units: {HIDDEN}, activation: gelu}}\n"
             f"  - {{units: {WIDTH}}}\n")
    return f"name: giant\ninput: [{SEQUENCE}, {WIDTH}]\nlayers:\n" + block * BLOCKS


def expected_totals() -> dict:
    """The same counts derived by hand, as exact integers."""
    params = BLOCKS * (2 * WIDTH + (WIDTH * HIDDEN + HIDDEN) + (HIDDEN * WIDTH + WIDTH))
    macs = BLOCKS * (3 * SEQUENCE * WIDTH + 2 * SEQUENCE * WIDTH * HIDDEN)
    return {"total_params": params, "total_macs": macs}


# Runs the command as its only child and reports that child's rusage, so
# each figure covers exactly one command.
LAUNCHER = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
           "stdout": done.stdout, "stderr": done.stderr, "code": done.returncode}, sys.stdout)
"""


def measure(command: list[str]) -> tuple[float, float, str]:
    """(CPU seconds, peak RSS in MB, stdout) of one command."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    launched = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True,
                              env=env, check=True)
    result = json.loads(launched.stdout)
    if result["code"]:
        raise SystemExit(f"{' '.join(command)} failed:\n{result['stderr']}")
    return result["cpu"], result["peak_mb"], result["stdout"]


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = pathlib.Path(directory) / "giant.yaml"
        path.write_text(giant_spec())
        # Each measurement in its own interpreter started by a tiny launcher,
        # so rusage covers exactly that command.
        baseline_cpu, baseline_mb, _ = measure([sys.executable, "-c", "import numpy, yaml, click"])
        cpu, peak_mb, out = measure([sys.executable, "-m", "layerspec", "summary", str(path), "--format", "json"])
    summary = json.loads(out)
    expected = expected_totals()
    print(f"spec: {BLOCKS} x (LayerNormalization, Dense {HIDDEN} gelu, Dense {WIDTH}) on ({SEQUENCE}, {WIDTH})")
    print(f"parameters: {summary['total_params']:,} (expected {expected['total_params']:,})")
    print(f"MACs per sample: {summary['total_macs']:,} (expected {expected['total_macs']:,})")
    print(f"FLOPs per sample: {summary['total_flops']:,}")
    print(f"import numpy, yaml, click: {baseline_cpu:.3f} s CPU, {baseline_mb:.1f} MB peak")
    print(f"layerspec summary:         {cpu:.3f} s CPU, {peak_mb:.1f} MB peak")
    ok = (summary["total_params"] == expected["total_params"] and summary["total_macs"] == expected["total_macs"]
          and cpu < CPU_LIMIT_S and peak_mb < MEMORY_LIMIT_MB)
    print(f"targets (< {CPU_LIMIT_S:g} s CPU, < {MEMORY_LIMIT_MB:g} MB, exact totals): {'met' if ok else 'MISSED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
