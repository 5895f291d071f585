"""Shared fixtures: writing specs to files and running the CLI."""

from __future__ import annotations

import os
import pathlib
import textwrap

import pytest
from click.testing import CliRunner
from hypothesis import settings

from layerspec.cli import main

REPO = pathlib.Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"

#: ``LAYERSPEC_FUZZ=long``: the long, random property runs (see test_fuzz.py).
FUZZ_LONG = os.environ.get("LAYERSPEC_FUZZ", "").lower() == "long"

# Hypothesis draws the same examples on every default run (derandomize: a
# seed from each test's own code), so a CI failure reproduces on any machine
# and a pass does not depend on the day's draw. The long run draws fresh
# examples each time, to find new failures.
settings.register_profile("layerspec", derandomize=True)
settings.register_profile("layerspec-long", derandomize=False)
settings.load_profile("layerspec-long" if FUZZ_LONG else "layerspec")


@pytest.fixture
def write_spec(tmp_path):
    """Write dedented YAML text to a file and return its path as a string."""

    def write(text: str, name: str = "model.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return str(path)

    return write


class CliResult:
    """What a CLI run printed and returned."""

    def __init__(self, result):
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exception = result.exception


@pytest.fixture
def cli():
    """Run ``layerspec ARGS...`` in-process; stdout and stderr apart."""

    def run(*args, input=None) -> CliResult:
        result = CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=True)
        assert "Traceback" not in result.stdout + result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"unexpected exception: {result.exception!r}") from result.exception
        return CliResult(result)

    return run


@pytest.fixture
def clean_registry():
    """Undo layer registrations and plugin loads made by a test."""
    from layerspec import plugins, registry

    registry._load_builtins()
    saved = (dict(registry._classes), dict(registry._display_names), dict(registry._origins), set(plugins._loaded),
             plugins._environment_loaded, plugins._entry_points_loaded)
    yield
    registry._classes.clear()
    registry._classes.update(saved[0])
    registry._display_names.clear()
    registry._display_names.update(saved[1])
    registry._origins.clear()
    registry._origins.update(saved[2])
    plugins._loaded.clear()
    plugins._loaded.update(saved[3])
    plugins._environment_loaded, plugins._entry_points_loaded = saved[4], saved[5]
