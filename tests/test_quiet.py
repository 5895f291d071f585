"""quiet: NumPy's floating-point warnings off around a call, restored after."""

import inspect
import threading
import warnings

import numpy as np
import pytest

from layerspec import quiet
from layerspec.quiet import quietly


def overflowing_sum(x):
    return x + x  # float32 max + itself: overflow


BIG = np.full(3, np.finfo(np.float32).max, np.float32)


def test_only_public_numpy_api_is_used():
    # NumPy's private error-state context variable moved once (numpy.core ->
    # numpy._core) and may move again; np.errstate is the public way.
    source = inspect.getsource(quiet)
    assert "_extobj" not in source and "numpy._core" not in source and "np._core" not in source


def test_warnings_are_off_inside_and_restored_after():
    before = np.geterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = quietly(overflowing_sum, BIG)
        assert np.isinf(result).all()
        assert np.geterr() == before
        with pytest.raises(RuntimeWarning, match="overflow"):
            overflowing_sum(BIG)


def test_the_result_is_the_functions():
    assert quietly(lambda value: value * 2, 21) == 42


def test_the_state_is_restored_when_the_call_raises():
    before = np.geterr()

    def failing(_):
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        quietly(failing, None)
    assert np.geterr() == before


def test_the_state_inside_is_errstates_own():
    with np.errstate(all="ignore"):
        expected = np.geterr()
    assert quietly(lambda _: np.geterr(), None) == expected


def test_a_callers_own_errstate_is_restored():
    with np.errstate(over="raise", invalid="warn"):
        inside = np.geterr()
        quietly(overflowing_sum, np.full(2, 3e38, np.float32))
        assert np.geterr() == inside


def test_calls_nest_and_repeat():
    # One np.errstate instance cannot be entered twice; the decorated
    # function must not share one across calls, nested or in turn.
    before = np.geterr()
    for _ in range(3):
        inner = quietly(lambda _: quietly(lambda __: np.geterr(), None), None)
        assert inner["over"] == "ignore"
    assert np.geterr() == before


def test_other_threads_keep_their_own_state():
    inside = threading.Event()
    release = threading.Event()
    seen = {}

    def hold(_):
        inside.set()
        release.wait(5)

    worker = threading.Thread(target=quietly, args=(hold, None))
    with np.errstate(over="raise"):
        worker.start()
        inside.wait(5)
        seen["main"] = np.geterr()["over"]
        release.set()
        worker.join(5)
    assert seen["main"] == "raise"
