"""Start-up cost: `layerspec summary` of a small spec against bare imports.

Times, alternately and many times over, ``python -c "import numpy, yaml,
click"``, ``layerspec --help`` and ``layerspec summary specs/mnist_mlp.yaml``
(each as ``python -m layerspec``), and prints medians and ratios. Target:
summary within 1.5x of the bare imports.

With PYTHONDONTWRITEBYTECODE set, an editable install never caches
bytecode; an installed package has it (pip compiles on install), so this
script compiles layerspec's bytecode first and says so.

    python benchmarks/startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import compileall
import os
import pathlib
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE = HERE.parent / "layerspec"
SPEC = HERE.parent / "specs" / "mnist_mlp.yaml"


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if sys.dont_write_bytecode:
        print("PYTHONDONTWRITEBYTECODE is set: compiling layerspec's bytecode first, as pip install does")
    compileall.compile_dir(str(PACKAGE), quiet=1)
    env = {**os.environ, "PYTHONPATH": str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    commands = {
        "import numpy, yaml, click": [sys.executable, "-c", "import numpy, yaml, click"],
        "layerspec --help": [sys.executable, "-m", "layerspec", "--help"],
        "layerspec summary (small spec)": [sys.executable, "-m", "layerspec", "summary", str(SPEC)],
    }
    times = {name: [] for name in commands}
    for _ in range(args.runs):  # alternate, so load bursts hit every command alike
        for name, command in commands.items():
            times[name].append(timed(command, env))
    baseline = statistics.median(times["import numpy, yaml, click"])
    width = max(map(len, commands))
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name.ljust(width)}  {median * 1e3:7.1f} ms  ({median / baseline:.2f}x the bare imports)")


if __name__ == "__main__":
    main()
