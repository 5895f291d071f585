"""quiet: NumPy's floating-point warnings off around a call, by either mechanism."""

import warnings

import numpy as np
import pytest

from layerspec import quiet


def overflowing_sum(x):
    return x + x  # float32 max + itself: overflow


@pytest.fixture(params=["context variable", "errstate"])
def quietly(request):
    if request.param == "errstate":
        return quiet._quietly_by_errstate
    if quiet._STATE is None:
        pytest.skip("this NumPy keeps no error-state context variable")
    return quiet._quietly_by_variable


def test_the_numpy_in_use_takes_the_cheap_mechanism():
    # NumPy 2 (which the tests run on) has the context variable; if it moves,
    # this fails instead of silently falling back to the slower errstate.
    assert int(np.__version__.split(".")[0]) < 2 or quiet.quietly is quiet._quietly_by_variable


def test_warnings_are_off_inside_and_restored_after(quietly):
    big = np.full(3, np.finfo(np.float32).max, np.float32)
    before = np.geterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = quietly(overflowing_sum, big)
        assert np.isinf(result).all()
        assert np.geterr() == before
        with pytest.raises(RuntimeWarning, match="overflow"):
            overflowing_sum(big)


def test_the_state_is_restored_when_the_call_raises(quietly):
    before = np.geterr()

    def failing(_):
        raise KeyError("boom")

    with pytest.raises(KeyError):
        quietly(failing, None)
    assert np.geterr() == before


def test_the_state_inside_is_errstates_own(quietly):
    with np.errstate(all="ignore"):
        expected = np.geterr()
    assert quietly(lambda _: np.geterr(), None) == expected


def test_a_callers_own_errstate_is_restored(quietly):
    with np.errstate(over="raise", invalid="warn"):
        inside = np.geterr()
        quietly(overflowing_sum, np.full(2, 3e38, np.float32))
        assert np.geterr() == inside
