"""Property-based fuzzing of specs, spec files and array files (Hypothesis).

Properties:

A. A spec generated from the layer registry either fails to build with an
   error at ``fuzz.yaml:LINE:COL`` (``fuzz.yaml:`` for a missing input), or
   builds; then its summary is well formed and a forward pass on a small
   batch either raises a LayerspecError or returns exactly the shapes (per
   layer and overall) and dtype that shape inference and the summary give,
   row by row the same as batch by batch, with no warning.
B. The same for specs broken in 1-3 places (dropped keys, junk values,
   unknown keys, extreme sizes); big models are only summarised.
C. Any bytes, and almost-valid YAML, read as a spec file raise only
   LayerspecError.
D. Any bytes, and mutated ``.npy``/``.npz`` files, read as arrays raise only
   DataError (``.npy``) or WeightsError (``.npz``), and arrays that are
   returned convert or are refused with DataError.

The default run is short (a few seconds) and derandomized: it tries the same
examples every time, so CI is reproducible. To run it long, with fresh random
examples each time::

    LAYERSPEC_FUZZ=long python -m pytest tests/test_fuzz.py

``LAYERSPEC_FUZZ_EXAMPLES=N`` sets the number of examples per property of
either profile; add ``--hypothesis-show-statistics`` to see timings. In the
long profile, ``--hypothesis-seed=N`` replays a run (the default profile
ignores it), and failures found are saved in ``.hypothesis/`` and tried first
on the next run.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from layerspec.arrays import check_finite, convert_floats, convert_integers, read_npy, read_npz
from layerspec.errors import DataError, LayerspecError, WeightsError, flatten
from layerspec.model import infer_output_shape
from layerspec.spec import build_model, loads_spec, read_spec

from .conftest import FUZZ_LONG
from .fuzz_strategies import (
    almost_yaml,
    dump,
    encode_text,
    mutated_documents,
    npy_files,
    npz_files,
    spec_texts,
)

# --------------------------------------------------------------------------
# Profiles

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
               HealthCheck.large_base_example]
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]  # no slow "explain"
# The default profile is derandomized (the same examples on every run, so CI
# is reproducible; no example database then); the long one draws at random.
settings.register_profile("layerspec-fuzz", max_examples=40, deadline=None, suppress_health_check=_SUPPRESSED,
                          phases=_PHASES, print_blob=True, derandomize=True)
settings.register_profile("layerspec-fuzz-long", max_examples=3000, deadline=None,
                          suppress_health_check=_SUPPRESSED, phases=_PHASES,
                          print_blob=True, derandomize=False)
PROFILE = "layerspec-fuzz-long" if FUZZ_LONG else "layerspec-fuzz"
_EXAMPLES = os.environ.get("LAYERSPEC_FUZZ_EXAMPLES")


with warnings.catch_warnings(), contextlib.suppress(Exception):
    # Hypothesis's pytest plugin imports this to write a patch when a test
    # fails; on some installs that import warns (libcst's DeprecationWarning),
    # and under ``-W error`` the warning would replace the failure report
    # with an INTERNALERROR. Importing it here, quietly, avoids that.
    warnings.simplefilter("ignore")
    import hypothesis.extra._patching  # noqa: F401


def fuzz_settings(share: float = 1.0):
    """This module's profile, with ``share`` of its examples (cheap tests get more)."""
    profile = settings.get_profile(PROFILE)
    examples = int(_EXAMPLES) if _EXAMPLES else max(1, round(profile.max_examples * share))
    return settings(profile, max_examples=examples)


def draws_twice(profile: str) -> tuple[list, list]:
    """What one property draws in two runs under ``profile``."""
    runs = []
    for _ in range(2):
        drawn = []

        @settings(settings.get_profile(profile), max_examples=5, database=None)
        @given(st.binary(min_size=8, max_size=8))
        def record(value):
            drawn.append(value)

        record()
        runs.append(drawn)
    return runs[0], runs[1]


def test_the_default_profiles_draw_the_same_examples_every_run_and_the_long_ones_at_random():
    first, second = draws_twice("layerspec-fuzz")
    assert first == second
    # (Not compared by their draws: --hypothesis-seed would make those equal.)
    assert not settings.get_profile("layerspec-fuzz-long").derandomize
    assert settings.get_profile("layerspec").derandomize and not settings.get_profile("layerspec-long").derandomize
    assert settings.default.derandomize is not FUZZ_LONG  # what conftest.py loaded for every other test


# --------------------------------------------------------------------------
# Checks shared by the properties

SPEC_PATH = "fuzz.yaml"
LOCATED = re.compile(r"^fuzz\.yaml:(\d+):(\d+): ")
LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

BATCH = 2
#: What an unknown (null) size becomes in the test batch.
NULL_SIZE = 3
#: Models bigger than these are only summarised, not run.
MAX_PARAMS_BYTES = 50 * 2**20
MAX_BATCH_ELEMENTS = 2_000_000
MAX_BATCH_MACS = 50_000_000

SEEDS = st.integers(0, 2**32 - 1)
#: How large the test inputs are; most are standard normal.
SCALES = st.sampled_from([1.0, 1.0, 1.0, 0.0, 30.0])


@contextlib.contextmanager
def no_warnings():
    """Turn any warning into an error, as ``python -W error -m pytest`` does."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@contextlib.contextmanager
def memory_cap(extra: int = 2 * 2**30):
    """Let the block allocate at most ``extra`` more bytes (Linux; elsewhere no cap).

    A forward pass that tries to allocate without bound then fails with a
    MemoryError instead of bringing the machine down.
    """
    try:
        import resource

        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = used + extra
    for limit in (soft, hard):
        if limit != resource.RLIM_INFINITY:
            cap = min(cap, limit)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def assert_own(error: LayerspecError) -> None:
    """``error`` is not another exception (a crash inside a built-in layer) in disguise."""
    for single in flatten(error) + [error]:
        cause = single.__cause__
        assert cause is None or isinstance(cause, LayerspecError), (
            f"{type(cause).__name__} inside layerspec, reported as: {single}")


def assert_located(error: LayerspecError, text: str) -> None:
    """Every problem in ``error`` is at a real ``fuzz.yaml:LINE:COL`` of ``text``."""
    assert_own(error)
    lines = LINE_BREAK.split(text)
    for single in flatten(error):
        message = str(single)
        match = LOCATED.match(message)
        if match is None:
            assert single.code == "missing-input" and message.startswith(f"{SPEC_PATH}: "), message
            continue
        line, col = int(match[1]), int(match[2])
        assert 1 <= line <= len(lines) + 1, (message, len(lines))
        assert col >= 1 and (line > len(lines) or col <= len(lines[line - 1]) + 1), (message, lines[line - 1:line])
    assert str(error).startswith(f"{SPEC_PATH}:"), str(error)


def check_text(text: str, seed: int, scale: float) -> str:
    """Properties A and B for one spec text; returns what happened."""
    with no_warnings():
        try:
            model = build_model(loads_spec(text, SPEC_PATH))
        except LayerspecError as error:
            assert_located(error, text)
            return "refused"
        return check_model(model, seed, scale)


def check_summary(model, summary) -> None:
    """The summary is well formed and agrees with the model."""
    assert summary["input_shape"] == [None] + list(model.input_shape)
    assert summary["output_shape"] == list(model.output_shape)
    rows = summary["layers"]
    assert len(rows) == len(model.layers)
    for row in rows:
        for key in ("params", "trainable_params", "non_trainable_params"):
            assert type(row[key]) is int and row[key] >= 0, (key, row)
        assert row["params"] == row["trainable_params"] + row["non_trainable_params"], row
        assert row["params"] == sum(math.prod(shape) for shape in row["weights"].values()), row
        macs = row["macs"]
        # null: per step of the unknown size (with macs_per_step), or not known at all.
        assert macs is None or (type(macs) is int and macs >= 0), row
        assert ("macs_per_step" in row) == ("macs_constant" in row), row
        if "macs_per_step" in row:
            assert macs is None and row["macs_per_step"] >= 0, row
        assert row["output_shape"][0] is None and row["input_shape"][0] is None, row
    for before, after in zip(rows, rows[1:]):
        assert before["output_shape"] == after["input_shape"], (before, after)
    assert rows[0]["input_shape"] == summary["input_shape"]
    assert rows[-1]["output_shape"] == summary["output_shape"]
    assert summary["total_params"] == sum(row["params"] for row in rows) == model.count_params()
    assert json.loads(summary.to_json())["total_params"] == summary["total_params"]
    assert str(summary) and summary.to_markdown()


def batch_cost(summary, shapes: list[tuple]) -> tuple[int, int, int]:
    """``(parameter bytes, largest layer output, MACs)`` for the test batch."""
    itemsize = 8 if summary["dtype"] == "float64" else 4
    largest = max(math.prod(shape) for shape in shapes)
    macs = 0
    for row in summary["layers"]:
        if row["macs"] is not None:
            macs += row["macs"]
        elif "macs_per_step" in row:  # per step of an unknown size: bound the size generously
            macs += math.ceil(row["macs_per_step"] * 64 + row["macs_constant"])
        # (an unknown cost counts as 0: memory_cap still guards the run)
    return summary["total_params"] * itemsize, largest, macs * BATCH


def concrete_shapes(model, batch_shape: tuple) -> list[tuple]:
    """Each layer's output shape for a concrete batch, by shape inference."""
    shapes, shape = [], batch_shape
    for layer in model.layers:
        shape = tuple(infer_output_shape(layer, shape))
        shapes.append(shape)
    return shapes


def fits(shape: tuple, pattern) -> bool:
    """Whether a concrete shape has the summary's known sizes (batch axis aside)."""
    return len(shape) == len(pattern) and all(p is None or s == p for s, p in zip(shape[1:], pattern[1:]))


def make_batch(model, input_shape: tuple, seed: int, scale: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    first = model.layers[0]
    if first.input_kind == "int":
        high = getattr(first, "input_dim", 10)
        return rng.integers(0, high, size=(BATCH,) + input_shape)
    return (rng.standard_normal((BATCH,) + input_shape) * scale).astype(model.dtype)


def check_model(model, seed: int, scale: float) -> str:
    """Summary, then (if small enough) weights and a forward pass."""
    summary = model.summary_data()
    check_summary(model, summary)
    input_shape = tuple(NULL_SIZE if size is None else size for size in model.input_shape)
    batch_shape = (BATCH,) + input_shape
    try:
        shapes = concrete_shapes(model, batch_shape)
    except LayerspecError:
        shapes = None  # the concrete size does not fit (e.g. a null size below a kernel size)
    if shapes is not None:
        for shape, row in zip(shapes, summary["layers"]):
            assert fits(shape, row["output_shape"]), (shape, row["output_shape"], row["name"])
    params_bytes, largest, macs = batch_cost(summary, [batch_shape] + (shapes or [batch_shape]))
    if params_bytes > MAX_PARAMS_BYTES or largest > MAX_BATCH_ELEMENTS or macs > MAX_BATCH_MACS:
        return "summarised only"
    with memory_cap():
        return run_model(model, summary, shapes, input_shape, seed, scale)


def run_model(model, summary, shapes, input_shape: tuple, seed: int, scale: float) -> str:
    """Weights, then a forward pass checked against shape inference."""
    batch_shape = (BATCH,) + input_shape
    try:
        model.init(seed=0)
    except LayerspecError as error:
        assert_own(error)
        return "init refused"
    for row, layer in zip(summary["layers"], model.layers):
        arrays = {weight.name: weight.numpy() for weight in layer.weights}
        assert {name: list(array.shape) for name, array in arrays.items()} == row["weights"], row["name"]
        for name, array in arrays.items():
            assert array.dtype == model.dtype, (row["name"], name, array.dtype)
    x = make_batch(model, input_shape, seed, scale)
    try:
        y = model.predict(x)
    except LayerspecError as error:
        assert_own(error)
        return "predict refused"
    assert shapes is not None, "shape inference refused the batch that predict ran on"
    assert model.concrete_output_shape(batch_shape) == shapes[-1][1:]
    assert y.shape == shapes[-1], (y.shape, shapes[-1])
    assert fits(y.shape, summary["output_shape"]), (y.shape, summary["output_shape"])
    assert y.dtype == model.dtype, y.dtype
    # Layer by layer: the same shapes as inferred, the same dtype throughout.
    # (predict lets values overflow to inf quietly, as Keras does; so does this.)
    batch = x if model.layers[0].input_kind == "int" else x.astype(model.dtype)
    for layer, shape in zip(model.layers, shapes):
        with np.errstate(all="ignore"):
            batch = np.asarray(layer.call(batch))
        assert batch.shape == shape, (layer.name, batch.shape, shape)
        assert batch.dtype == model.dtype, (layer.name, batch.dtype)
    np.testing.assert_array_equal(batch, y)  # the same layers on the same batch: bit for bit
    # Rows are independent: one at a time gives the same result, up to
    # rounding (a 1-row product is summed in another order than a 2-row one,
    # and Dense picks its product by the number of rows). Generated models are
    # deep, unnormalised and fed inputs up to 30x: rounding grows layer by
    # layer, so 1e-3 of the output's scale; a row mixed with another is off by O(1).
    rows = model.predict(x, batch_size=1)
    tolerance = 1e-3 if model.dtype == "float32" else 1e-9
    finite = np.isfinite(y)
    np.testing.assert_allclose(rows[finite], y[finite], rtol=tolerance,
                               atol=tolerance * (1 + float(np.max(np.abs(y[finite]), initial=0))))
    np.testing.assert_array_equal(np.isfinite(rows), finite)
    return "ran"


# --------------------------------------------------------------------------
# A and B: generated specs


@fuzz_settings(1.0)
@given(text=spec_texts(), seed=SEEDS, scale=SCALES)
def test_generated_specs_summarise_and_run_consistently(text, seed, scale):
    event(check_text(text, seed, scale))


@fuzz_settings(1.0)
@given(document=mutated_documents(), style=st.sampled_from([False, None, True]), seed=SEEDS)
def test_mutated_specs_fail_at_a_position_or_run_consistently(document, style, seed):
    event(check_text(dump(document, style), seed, 1.0))


# --------------------------------------------------------------------------
# C: spec files of any bytes

_counter = itertools.count()


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def write(directory, data: bytes, suffix: str) -> str:
    path = directory / f"case_{next(_counter)}{suffix}"
    path.write_bytes(data)
    return str(path)


def check_spec_file(path: str, seed: int) -> str:
    with no_warnings():
        try:
            spec = read_spec(path)
        except LayerspecError as error:
            assert str(error).startswith(path), str(error)
            return "refused"
        try:
            model = build_model(spec)
        except LayerspecError as error:
            assert str(error).startswith(path), str(error)
            assert_own(error)
            return "refused by build"
        return check_model(model, seed, 1.0)


@fuzz_settings(2.0)
@given(data=st.binary(max_size=2000) | st.binary(max_size=20).map(lambda b: b * 50))
def test_any_bytes_as_a_spec_file_raise_only_layerspec_errors(fuzz_dir, data):
    path = write(fuzz_dir, data, ".yaml")
    try:
        event(check_spec_file(path, 0))
    finally:
        os.remove(path)


@fuzz_settings(1.5)
@given(text=almost_yaml(), encoding=st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "latin-1"]), seed=SEEDS)
def test_almost_yaml_spec_files_raise_only_layerspec_errors(fuzz_dir, text, encoding, seed):
    path = write(fuzz_dir, encode_text(text, encoding), ".yaml")
    try:
        event(check_spec_file(path, seed))
    finally:
        os.remove(path)


# --------------------------------------------------------------------------
# D: array files of any bytes


def check_array(array: np.ndarray, path: str) -> None:
    """Conversions of a returned array succeed or raise DataError."""
    for convert in (lambda a: convert_floats(a, np.float32, "x"), lambda a: convert_floats(a, np.float64, "x"),
                    lambda a: convert_integers(a, "x"), lambda a: check_finite(a, "x")):
        try:
            convert(array)
        except DataError:
            pass


def reference_load(path: str):
    """What numpy itself reads (None if it refuses)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.load(path, allow_pickle=False)
    except Exception:
        return None


def check_npy_file(path: str) -> str:
    """Property D for one file read as ``.npy`` (loaded and mapped)."""
    outcomes = []
    with no_warnings():
        for mmap in (False, True):
            try:
                array = read_npy(path, mmap=mmap)
            except DataError as error:
                assert path in str(error), str(error)
                outcomes.append("refused")
                continue
            assert not array.dtype.hasobject, array.dtype
            reference = reference_load(path)
            if isinstance(reference, np.ndarray):
                assert reference.shape == array.shape and reference.dtype == array.dtype
                assert reference.tobytes() == np.asarray(array).tobytes()
            check_array(array, path)
            outcomes.append("read")
            del array
    return "/".join(outcomes)


def check_npz_file(path: str) -> str:
    """Property D for one file read as ``.npz``."""
    with no_warnings():
        try:
            arrays = read_npz(path)
        except WeightsError as error:
            assert path in str(error), str(error)
            return "refused"
        for key, array in arrays.items():
            assert isinstance(key, str) and isinstance(array, np.ndarray)
            assert not array.dtype.hasobject, (key, array.dtype)
            check_array(array, path)
    return f"read {min(len(arrays), 2)}+ arrays" if len(arrays) > 1 else f"read {len(arrays)} array(s)"


@fuzz_settings(4.0)
@given(data=npy_files())
def test_any_bytes_as_an_npy_file_raise_only_data_errors(fuzz_dir, data):
    path = write(fuzz_dir, data, ".npy")
    try:
        event(check_npy_file(path))
    finally:
        os.remove(path)


@fuzz_settings(3.0)
@given(data=npz_files())
def test_any_bytes_as_an_npz_file_raise_only_weights_errors(fuzz_dir, data):
    path = write(fuzz_dir, data, ".npz")
    try:
        event(check_npz_file(path))
    finally:
        os.remove(path)
