"""What silencing NumPy's floating-point warnings costs per forward pass.

``predict`` runs each forward pass with NumPy's warnings off (overflow to
infinity is a result, as in Keras). This times, per call, the ways to do
that around a function that does nothing:

- ``private contextvar (old)``: setting NumPy 2's private error-state
  context variable to a captured value, as layerspec did (shown only while
  ``numpy._core._ufunc_config._extobj_contextvar`` still imports);
- ``np.errstate per call``: ``with np.errstate(all="ignore"):`` on a new
  instance each call (an instance cannot be entered a second time on NumPy
  2: this checks and says so);
- ``np.errstate decorator (layerspec)``: ``layerspec.quiet.quietly``, a
  function decorated once with ``np.errstate(all="ignore")``.

Each is timed twice: "hot", called in a loop, and "cold", right after a
batch-1 forward pass of the 784-1024-1024-10 MLP in plain NumPy has streamed
its 7 MB of weights through the caches, as in ``predict``. Figures are
medians of many single calls minus the same for calling the function
directly, in microseconds.

    python benchmarks/quiet_overhead.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # _common, and layerspec from this checkout
from _common import clean_blas_environment, print_table  # noqa: E402

import numpy as np  # noqa: E402

from layerspec.quiet import quietly  # noqa: E402

SIZES = (784, 1024, 1024, 10)


def nothing(argument):
    return argument


def directly(function, argument):
    return function(argument)


def by_errstate(function, argument):
    with np.errstate(all="ignore"):
        return function(argument)


def private_contextvar_mechanism():
    """The old mechanism, or None once NumPy no longer has that private name."""
    try:
        from numpy._core._ufunc_config import _extobj_contextvar as variable
    except ImportError:
        return None
    with np.errstate(all="ignore"):
        ignore_all = variable.get()

    def by_variable(function, argument):
        token = variable.set(ignore_all)
        try:
            return function(argument)
        finally:
            variable.reset(token)

    return by_variable


def errstate_instance_reusable() -> bool:
    """Whether one ``np.errstate`` object can be entered again after leaving it."""
    state = np.errstate(all="ignore")
    with state:
        pass
    try:
        with state:
            pass
    except TypeError:
        return False
    return True


def mlp_forward():
    """A batch-1 forward pass of the MLP in plain NumPy: it evicts the caches."""
    rng = np.random.default_rng(0)
    kernels = [rng.standard_normal((a, b)).astype(np.float32) * 0.03 for a, b in zip(SIZES, SIZES[1:])]
    x = rng.standard_normal((1, SIZES[0])).astype(np.float32)

    def forward():
        h = x
        for kernel in kernels:
            h = h @ kernel
            np.maximum(h, 0, out=h)
        return h

    return forward


def median_call_ns(mechanism, calls: int, before=None) -> float:
    """Median nanoseconds of ``mechanism(nothing, None)``, each call after ``before()``."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(calls):
        if before is not None:
            before()
        start = clock()
        mechanism(nothing, None)
        samples.append(clock() - start)
    return statistics.median(samples)


def overheads(mechanisms: dict, calls: int, before=None, rounds: int = 5) -> dict:
    """Microseconds each mechanism adds to a direct call: best of ``rounds`` alternating rounds."""
    found = {name: [] for name in mechanisms}
    for _ in range(rounds):
        base = median_call_ns(directly, calls, before)
        for name, mechanism in mechanisms.items():
            found[name].append((median_call_ns(mechanism, calls, before) - base) / 1e3)
    return {name: min(values) for name, values in found.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls per mechanism per round (hot)")
    args = parser.parse_args(argv)
    for note in clean_blas_environment():
        print(note)
    print(f"NumPy {np.__version__}; one np.errstate instance entered twice: "
          f"{'allowed' if errstate_instance_reusable() else 'TypeError (not reusable)'}")
    mechanisms = {}
    old = private_contextvar_mechanism()
    if old is not None:
        mechanisms["private contextvar (old)"] = old
    mechanisms["np.errstate per call"] = by_errstate
    mechanisms["np.errstate decorator (layerspec)"] = quietly
    hot = overheads(mechanisms, args.calls)
    cold = overheads(mechanisms, max(args.calls // 20, 50), before=mlp_forward())
    print_table(["mechanism", "hot us/call", "cold us/call"],
                [[name, f"{hot[name]:.2f}", f"{cold[name]:.2f}"] for name in mechanisms])


if __name__ == "__main__":
    main()
