"""The forward-pass benchmark's references compute what layerspec computes.

The timing itself is not tested (figures come from running the script);
these keep its hand-written NumPy formulations honest and runnable, without
calling its main(), which may re-execute the process with another
environment.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"layerspec_benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # forward.py puts benchmarks/ on sys.path for its _common
    return module


forward = _load("forward")


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("name", ["mlp", "cnn", "lstm"])
def test_every_reference_matches_layerspec(name, batch):
    model, make_references, x = forward.make_case(name, batch, np.random.default_rng(batch))
    model.init(seed=1)
    ours = model.predict(x)
    references = make_references(model.get_weights())
    assert len(references) >= 2
    for reference in references.values():
        result = reference(x)
        assert result.dtype == np.float32
        np.testing.assert_allclose(result, ours, rtol=2e-4, atol=2e-5)


def test_target_verdicts_name_the_reference_the_goal_is_set_on():
    times = {"xW": 1.0, "transposed": 0.5}
    assert forward.target_verdict("mlp", 1.05, times) == "1.05 vs xW, <= 1.10 met"
    assert forward.target_verdict("cnn", 0.7, times) == "1.40 vs transposed, <= 1.25 MISSED"


quiet_overhead = _load("quiet_overhead")


def test_one_errstate_instance_cannot_be_entered_twice_on_numpy_2():
    # Why layerspec.quiet decorates once instead of keeping one instance.
    assert quiet_overhead.errstate_instance_reusable() == (int(np.__version__.split(".")[0]) < 2)


def test_every_timed_mechanism_silences_overflow_and_restores_the_state():
    mechanisms = [quiet_overhead.by_errstate, quiet_overhead.quietly]
    old = quiet_overhead.private_contextvar_mechanism()
    if old is not None:
        mechanisms.append(old)
    big = np.full(2, np.finfo(np.float32).max, np.float32)
    with np.errstate(over="raise"):
        for mechanism in mechanisms:
            assert np.isinf(mechanism(lambda x: x + x, big)).all()
            assert np.geterr()["over"] == "raise"


def test_the_cache_flushing_forward_pass_is_the_benchmark_mlp():
    assert quiet_overhead.mlp_forward()().shape == (1, 10)
    assert quiet_overhead.median_call_ns(quiet_overhead.directly, 5) >= 0
