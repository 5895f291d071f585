"""`layerspec plot` of the zoo: the whole command, and its stages in-process.

Issue 18's targets: `layerspec plot specs/zoo/resnet50.yaml -o resnet50.svg`
in under a second (the whole command, start-up included), and the layout
of ResNet-50 unfolded (177 boxes) in under 0.3 s, growing about linearly
with the number of boxes (DenseNet-121: 429).

Prints, per zoo model: its boxes, edges and frames at full depth; the
in-process time of each stage (building the model and its summary, the
diagram, the layout, the SVG text), the best of several rounds; and the
wall-clock time of the command as a fresh process (fastest and median of
``--runs``, run in turn so that load bursts hit every model alike), beside
the bare imports (``python -c "import numpy, yaml, click"``) for scale.

    python benchmarks/plot.py [--runs 5] [--models resnet50,gpt2]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import best_time, command_environment, print_table, time_commands_alternately  # noqa: E402

ZOO = HERE.parent / "specs" / "zoo"
#: The issue's targets, in seconds: the whole command, and the layout alone.
COMMAND_TARGET = {"resnet50": 1.0}
LAYOUT_TARGET = {"resnet50": 0.3}


def stage_times(path: pathlib.Path) -> dict:
    """Seconds of each stage of drawing one spec, in-process, and the diagram's size."""
    from layerspec.api import load
    from layerspec.diagram import diagram_from_summary
    from layerspec.plot_layout import layout
    from layerspec.plot_svg import render_svg
    from layerspec.summary import summarize

    summary = summarize(load(str(path)))
    diagram = diagram_from_summary(summary)
    placed = layout(diagram)
    return {
        "boxes": len(diagram.boxes), "edges": len(diagram.edges), "frames": len(diagram.frames),
        "model + summary": best_time(lambda: summarize(load(str(path))), 0.2, 3),
        "diagram": best_time(lambda: diagram_from_summary(summary), 0.2, 3),
        "layout": best_time(lambda: layout(diagram), 0.2, 3),
        "svg": best_time(lambda: render_svg(diagram, placed), 0.2, 3),
        "svg bytes": len(render_svg(diagram, placed).encode("utf-8")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", help="comma-separated zoo names (default: all)")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else sorted(path.stem for path in ZOO.glob("*.yaml"))

    rows, misses = [], []
    for name in names:
        times = stage_times(ZOO / f"{name}.yaml")
        rows.append([name, times["boxes"], times["edges"], times["frames"]]
                    + [f"{times[stage] * 1000:.1f}" for stage in ("model + summary", "diagram", "layout", "svg")]
                    + [f"{times['svg bytes'] / 1024:.0f}"])
        if name in LAYOUT_TARGET and times["layout"] > LAYOUT_TARGET[name]:
            misses.append(f"{name}: layout {times['layout']:.3f} s > {LAYOUT_TARGET[name]} s")
    print("In-process, best of 3 rounds (ms):")
    print_table(["model", "boxes", "edges", "frames", "model+summary", "diagram", "layout", "svg", "KiB"], rows)

    env = command_environment(HERE.parent)
    with tempfile.TemporaryDirectory() as directory:
        commands = {"import numpy, yaml, click": [sys.executable, "-c", "import numpy, yaml, click"]}
        for name in names:
            commands[f"plot {name}"] = [sys.executable, "-m", "layerspec", "plot", str(ZOO / f"{name}.yaml"),
                                        "-o", str(pathlib.Path(directory) / f"{name}.svg")]
        times = time_commands_alternately(commands, args.runs, env, quiet=True)
    print(f"\nThe whole command as a fresh process, {args.runs} runs (s):")
    table = []
    for label, seconds in times.items():
        table.append([label, f"{min(seconds):.3f}", f"{statistics.median(seconds):.3f}"])
        name = label.removeprefix("plot ")
        if name in COMMAND_TARGET and statistics.median(seconds) > COMMAND_TARGET[name]:
            misses.append(f"{label}: median {statistics.median(seconds):.3f} s > {COMMAND_TARGET[name]} s")
    print_table(["command", "fastest", "median"], table)
    print("\n" + ("Targets missed: " + "; ".join(misses) if misses else
                  "Targets met: resnet50's plot under 1 s, its layout under 0.3 s."))


if __name__ == "__main__":
    main()
