"""Shared benchmark plumbing: a clean BLAS environment and steady timings.

These machines may set OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (older
OpenBLAS builds need them), which can halve a current NumPy's matrix-product
speed. A benchmark calls :func:`clean_blas_environment` first: it re-executes
the script once without those two variables and says so. Tests and CI never
change them.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_MARK = "LAYERSPEC_BENCH_REEXEC"


def clean_blas_environment() -> list[str]:
    """Re-run this script without the OpenBLAS overrides; return notes to print."""
    present = [name for name in BLAS_VARIABLES if name in os.environ]
    if present and not os.environ.get(_MARK):
        env = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES}
        env[_MARK] = ",".join(f"{name}={os.environ[name]}" for name in present)
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    notes = []
    if os.environ.get(_MARK):
        notes.append(f"unset for this run: {os.environ[_MARK]}")
    notes.append(blas_report())
    return notes


def blas_report() -> str:
    """Which BLAS kernel NumPy uses, as threadpoolctl reports it."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: threadpoolctl not installed (it is a dependency of layerspec: pip install .)"
    parts = []
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            parts.append(f"{pool.get('internal_api')} {pool.get('version')} "
                         f"kernel={pool.get('architecture')} threads={pool.get('num_threads')}")
    return "BLAS: " + ("; ".join(parts) if parts else "none reported")


def best_time(function, min_seconds: float = 0.3, repeats: int = 5) -> float:
    """Seconds per call: the median of ``repeats`` rounds of enough calls.

    Each round runs the function enough times to last ``min_seconds`` so
    short calls are not lost in timer noise; the median resists the other
    jobs of a shared machine.
    """
    function()  # warm up caches and lazy initialisation
    start = time.perf_counter()
    function()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, int(min_seconds / once))
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        rounds.append((time.perf_counter() - start) / calls)
    return statistics.median(rounds)


def interleaved_ratio(ours, reference, rounds: int = 5, min_seconds: float = 0.2) -> tuple[float, float, float]:
    """``(our seconds, reference seconds, ratio)``, timed in alternation.

    Alternating the two in one process means a burst of load on the shared
    machine hits both, so the ratio is steadier than either time.
    """
    ours_times, reference_times = [], []
    for _ in range(rounds):
        ours_times.append(best_time(ours, min_seconds, repeats=1))
        reference_times.append(best_time(reference, min_seconds, repeats=1))
    ours_s, reference_s = statistics.median(ours_times), statistics.median(reference_times)
    return ours_s, reference_s, ours_s / reference_s


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A plain aligned text table on stdout."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))))


def command_environment(package_dir) -> dict:
    """The environment for timing ``python -m layerspec`` as a fresh process:
    layerspec's bytecode compiled first (pip compiles on install; with
    PYTHONDONTWRITEBYTECODE an editable install never would, which would
    time the compiler), and the checkout importable."""
    import compileall

    if sys.dont_write_bytecode:
        print("PYTHONDONTWRITEBYTECODE is set: compiling layerspec's bytecode first, as pip install does")
    compileall.compile_dir(str(package_dir / "layerspec"), quiet=1)
    return {**os.environ, "PYTHONPATH": str(package_dir) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def timed_command(command: list[str], env: dict, quiet: bool = False) -> float:
    """Wall-clock seconds of one run of ``command`` (its output discarded;
    with ``quiet``, its stderr too)."""
    import subprocess

    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL if quiet else None)
    return time.perf_counter() - start


def time_commands_alternately(commands: dict, runs: int, env: dict, quiet: bool = False) -> dict:
    """Seconds of each of ``commands`` (name → argv) over ``runs`` rounds,
    run in turn so that load bursts hit every command alike."""
    times = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(timed_command(command, env, quiet))
    return times
