"""Running NumPy code with its floating-point warnings off, cheaply.

A forward pass lets overflow become infinity and NaN flow through, as
Keras does; NumPy's RuntimeWarnings about them are noise, so ``predict``
runs each forward pass inside ``np.errstate(all="ignore")``.

How, matters at batch 1, where a pass takes ~200 us and every Python step
after matrix products that have flushed the caches costs several times its
micro-benchmark time. ``with np.errstate(...)`` builds an object and runs
its ``__init__``, ``__enter__`` and ``__exit__`` every time; one instance
cannot be reused (NumPy 2 refuses to enter it twice). Used as a decorator,
``np.errstate`` wraps the function once and each call only sets and resets
the error state (thread-safe, nestable): about half the ``with`` form's
cost, 1.7-3.9 us against 3.5-6.5 us right after a batch-1 MLP pass
(``benchmarks/quiet_overhead.py`` measures both). Setting NumPy's private
error-state context variable directly was cheaper still (0.2-1.1 us) but
could break with any NumPy release.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import numpy as np

T = TypeVar("T")


@np.errstate(all="ignore")
def quietly(function: Callable[..., T], argument) -> T:
    """``function(argument)`` with NumPy's floating-point warnings off,
    as inside ``np.errstate(all="ignore")``; the caller's state is
    restored afterwards, also when ``function`` raises."""
    return function(argument)
