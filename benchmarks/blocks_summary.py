"""Summaries of specs with many blocks: GPT-2 large at --depth 1, and
generated residual networks of 100, 200 and 400 block applications.

Issue 15's targets: `layerspec summary specs/zoo/gpt2.yaml --variant large
--depth 1` in under 0.5 s (the whole command, start-up included), and a
100-block model in well under a second, with no step quadratic in the number
of blocks (so 400 blocks take about 4 times as long as 100, less start-up).

Times each command as a fresh process, alternately, and prints the fastest
and the median of the runs, and the bare imports (``python -c "import numpy,
yaml, click"``) for scale.

    python benchmarks/blocks_summary.py [--runs 9]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import command_environment, time_commands_alternately  # noqa: E402

GPT2 = HERE.parent / "specs" / "zoo" / "gpt2.yaml"

#: A residual network of N blocks (five layers each), written with repeat.
RESIDUAL = """\
blocks:
  residual:
    layers:
      - {type: Conv2D, filters: 16, kernel_size: 3, padding: same, activation: relu}
      - {type: Conv2D, filters: 16, kernel_size: 3, padding: same, name: main}
      - {type: Conv2D, filters: 16, kernel_size: 1, inputs: in, name: shortcut}
      - {type: Add, inputs: [main, shortcut]}
      - {type: Activation, activation: relu}
input: [32, 32, 3]
layers:
  - {type: Conv2D, filters: 16, kernel_size: 3, padding: same}
  - {type: residual, repeat: BLOCKS}
  - {type: GlobalAveragePooling2D}
  - {units: 10}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    env = command_environment(HERE.parent)
    layerspec = [sys.executable, "-m", "layerspec", "summary"]
    with tempfile.TemporaryDirectory() as directory:
        commands = {"import numpy, yaml, click": [sys.executable, "-c", "import numpy, yaml, click"],
                    "gpt2 large --depth 1": layerspec + [str(GPT2), "--variant", "large", "--depth", "1"]}
        for blocks in (100, 200, 400):
            path = pathlib.Path(directory) / f"residual_{blocks}.yaml"
            path.write_text(RESIDUAL.replace("BLOCKS", str(blocks)))
            commands[f"{blocks} residual blocks ({5 * blocks + 3} layers)"] = layerspec + [str(path)]
        times = time_commands_alternately(commands, args.runs, env)
    width = max(map(len, commands))
    for name, samples in times.items():
        print(f"{name.ljust(width)}  fastest {min(samples) * 1e3:7.1f} ms  median {statistics.median(samples) * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
