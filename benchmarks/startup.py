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
import pathlib
import statistics
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import command_environment, time_commands_alternately  # noqa: E402

SPEC = HERE.parent / "specs" / "mnist_mlp.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    env = command_environment(HERE.parent)
    commands = {
        "import numpy, yaml, click": [sys.executable, "-c", "import numpy, yaml, click"],
        "layerspec --help": [sys.executable, "-m", "layerspec", "--help"],
        "layerspec summary (small spec)": [sys.executable, "-m", "layerspec", "summary", str(SPEC)],
    }
    times = time_commands_alternately(commands, args.runs, env)
    baseline = statistics.median(times["import numpy, yaml, click"])
    width = max(map(len, commands))
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name.ljust(width)}  {median * 1e3:7.1f} ms  ({median / baseline:.2f}x the bare imports)")


if __name__ == "__main__":
    main()
