"""Running NumPy code with its floating-point warnings off, cheaply.

A forward pass lets overflow become infinity and NaN flow through, as
Keras does; NumPy's RuntimeWarnings about them are noise. ``np.errstate``
silences them, but entering it costs several microseconds when the CPU
caches are cold, as they are after a matrix product has streamed a few
megabytes of weights: about 5 % of a batch-1 MLP's time (8-9 us of
~170 us, measured). On NumPy 2 the error state is a context variable, so
setting that variable to the value ``np.errstate(all="ignore")`` itself
produces (captured once, below) does the same work for a fraction of the
cost; only NumPy's buffer size, which a caller may have changed, is its
default inside. Other NumPy versions take ``np.errstate``.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import numpy as np

T = TypeVar("T")


def _ignore_all_state():
    """``(context variable, its value inside errstate(all="ignore"))``, or None."""
    try:
        from numpy._core._ufunc_config import _extobj_contextvar as variable
    except ImportError:  # NumPy 1.x keeps the state elsewhere
        return None
    with np.errstate(all="ignore"):
        return variable, variable.get()


_STATE = _ignore_all_state()


def _quietly_by_errstate(function: Callable[..., T], argument) -> T:
    with np.errstate(all="ignore"):
        return function(argument)


def _quietly_by_variable(function: Callable[..., T], argument) -> T:
    variable, ignore_all = _STATE
    token = variable.set(ignore_all)
    try:
        return function(argument)
    finally:
        variable.reset(token)


#: ``quietly(function, argument)``: ``function(argument)`` with NumPy's
#: floating-point warnings off, as inside ``np.errstate(all="ignore")``.
quietly = _quietly_by_errstate if _STATE is None else _quietly_by_variable
