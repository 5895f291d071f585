"""``layerspec check``: validate many specs and report every problem found.

Each spec is read (every structural and argument problem at once), built
(shape inference stops at the first layer that cannot be built) and held to
its ``expect`` block. Problems are plain records — path, line, column,
severity, code, message — so the CLI can print them as text, GitHub
workflow commands or JSON.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace

from .errors import LayerspecError, Position, flatten

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Problem:
    """One problem in one file, as ``check`` reports it."""

    path: str
    line: int | None
    col: int | None
    severity: str
    code: str
    message: str

    @classmethod
    def from_error(cls, error: LayerspecError, path: str) -> "Problem":
        position = error.position or Position(path)
        return cls(position.path, position.line, position.col, "error", error.code, error.message)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SpecReport:
    """What checking one spec found."""

    path: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(problem.severity == "error" for problem in self.problems)


def find_specs(paths) -> tuple[list[str], list[SpecReport]]:
    """Spec files named by ``paths``, and reports for paths that hold none.

    Files are taken as given, directories are searched for ``*.yaml`` and
    ``*.yml``. A path that does not exist, or a directory without specs, is
    a failed report: an empty selection is never a pass.
    """
    found, empty = [], []
    for path in map(str, paths):
        if os.path.isdir(path):
            below = sorted(_walk_specs(path))
            if below:
                found.extend(below)
            else:
                empty.append(_path_report(path, "no *.yaml or *.yml files in this directory"))
        elif os.path.exists(path):
            found.append(path)
        else:
            empty.append(_path_report(path, "no such file or directory"))
    return list(dict.fromkeys(found)), empty


def _path_report(path: str, message: str) -> SpecReport:
    return SpecReport(path, [Problem(path, None, None, "error", "no-specs", message)])


def _walk_specs(directory: str):
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.endswith(SPEC_SUFFIXES):
                yield os.path.normpath(os.path.join(root, name))


def check_spec(path: str, input_shape: tuple | None = None, settings=None) -> SpecReport:
    """Read, build and hold one spec to its expectations, reporting every problem.

    Problems that do not stop the model from being built (a bad ``expect``
    entry, an unknown top-level key) do not hide the model's shape errors or
    its other expectations: all are reported, in file order.

    A spec with ``variants`` is checked with its default arguments and then
    as each variant, each variant's own problems prefixed with its name;
    ``settings`` (``--variant``, ``--set``) checks that one setting instead.
    """
    from .blocks import Settings

    report = SpecReport(path)
    seen = set()
    variants: list = [None]
    for variant in variants:
        chosen = settings if variant is None else Settings(variant)
        found, spec = _check_one(path, input_shape, chosen)
        if variant is None and settings is None:  # the default check: then each variant
            variants.extend(_variant_names(spec, path))
        for problem in found:
            key = (problem.line, problem.col, problem.code, problem.message)
            if key in seen:
                continue  # the same problem in every variant is told once
            seen.add(key)
            if variant is not None:
                problem = replace(problem, message=f"variant '{variant}': {problem.message}")
            report.problems.append(problem)
    report.problems.sort(key=_file_order)
    return report


def _check_one(path: str, input_shape, settings) -> tuple[list[Problem], object]:
    """The problems of one setting of a spec, and the spec if it was read."""
    from .spec import build_model, read_spec_for_check
    from .summary import summarize

    found: list[Problem] = []
    spec = None

    def add(error: LayerspecError) -> None:
        found.extend(Problem.from_error(single, path) for single in flatten(error))

    try:
        spec, problems = read_spec_for_check(path, settings)
        for problem in problems:
            add(problem)
        if spec is not None:
            found.extend(check_expectations(spec, summarize(build_model(spec, input_shape))))
    except LayerspecError as error:
        add(error)
    return found, spec


def _variant_names(spec, path: str) -> list[str]:
    """The names of a spec's variants, from the spec just read; the file is
    read again only when problems stopped the spec (none if it cannot be
    read at all: the default check reports why)."""
    from .yamlread import load, read_text

    document = spec.source if spec is not None else None
    if document is None:
        try:
            document = load(read_text(path), path)
        except LayerspecError:
            return []
    variants = document.get("variants") if isinstance(document, dict) else None
    return [name for name in variants if isinstance(name, str)] if isinstance(variants, dict) else []


def _file_order(problem: Problem) -> tuple:
    return (problem.line or 0, problem.col or 0)


def check_expectations(spec, summary: dict) -> list[Problem]:
    """Compare the spec's ``expect`` block with the built model's summary."""
    problems = []

    def fail(key: str, code: str, message: str) -> None:
        position = _expect_position(spec, key)
        problems.append(Problem(position.path, position.line, position.col, "error", code, message))

    expect = spec.expect
    outputs = summary["outputs"]
    if "output_shape" in expect:
        if len(outputs) != 1:
            fail("output_shape", "expect-mismatch", f"the model has {len(outputs)} outputs "
                 f"({', '.join(outputs)}); give their shapes as output_shapes: {{NAME: [...]}}")
        else:
            actual = list(summary["output_shape"][1:])
            if actual != list(expect["output_shape"]):
                fail("output_shape", "expect-mismatch",
                     f"expected output_shape {_shape(expect['output_shape'])}, got {_shape(actual)}")
    for name, shape in expect.get("output_shapes", {}).items():
        if name not in outputs:
            fail("output_shapes", "expect-mismatch", f"output_shapes names '{name}', which is not an output "
                 f"of the model (outputs: {', '.join(outputs)})")
        elif list(outputs[name][1:]) != list(shape):
            fail("output_shapes", "expect-mismatch",
                 f"expected output '{name}' of shape {_shape(shape)}, got {_shape(outputs[name][1:])}")
    for key, actual_key in (("params", "total_params"), ("trainable_params", "trainable_params"),
                            ("macs", "total_macs")):
        if key not in expect:
            continue
        actual = summary[actual_key]
        if actual is None:
            fail(key, "expect-unknown", f"{key} cannot be checked: it depends on a size that is unknown (null)")
        elif actual != expect[key]:
            fail(key, "expect-mismatch", f"expected {key} {expect[key]:,}, got {actual:,} "
                                         f"({actual - expect[key]:+,})")
    if "max_params" in expect and summary["total_params"] > expect["max_params"]:
        fail("max_params", "budget-exceeded", f"{summary['total_params']:,} parameters exceed the budget "
                                              f"max_params {expect['max_params']:,}")
    return problems


def _expect_position(spec, key: str) -> Position:
    from .yamlread import position_of

    block = spec.source.get("expect") if spec.source is not None else None
    if isinstance(block, dict) and key in block:
        return position_of(block, key)
    return spec.key_value_position("expect")


def _shape(sizes) -> str:
    return "[" + ", ".join("null" if size is None else str(size) for size in sizes) + "]"


def check_paths(paths, input_shape: tuple | None = None, settings=None) -> list[SpecReport]:
    """Check every spec named by ``paths`` (see :func:`find_specs`)."""
    files, empty = find_specs(paths)
    return empty + [check_spec(path, input_shape, settings) for path in files]


# -- output formats ---------------------------------------------------------
def tally(reports: list[SpecReport]) -> str:
    """``3 specs checked, 1 failed, 2 errors`` (paths without specs count as failed)."""
    specs = sum(not _is_path_report(report) for report in reports)
    failed = sum(report.failed for report in reports)
    errors = sum(len(report.problems) for report in reports)
    return f"{_plural(specs, 'spec')} checked, {failed} failed, {_plural(errors, 'error')}"


def _is_path_report(report: SpecReport) -> bool:
    return any(problem.code == "no-specs" for problem in report.problems)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def render_text(reports: list[SpecReport]) -> str:
    """``PATH:LINE:COL: error: MESSAGE [code]`` per problem, then the tally."""
    lines = []
    for report in reports:
        for problem in report.problems:
            where = problem.path if problem.line is None else f"{problem.path}:{problem.line}:{problem.col}"
            lines.append(f"{where}: {problem.severity}: {problem.message} [{problem.code}]")
    lines.append(tally(reports))
    return "\n".join(lines)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(reports: list[SpecReport]) -> str:
    """GitHub Actions workflow commands, so errors annotate the pull request's lines."""
    lines = []
    for report in reports:
        for problem in report.problems:
            properties = [f"file={_escape_property(problem.path)}"]
            if problem.line is not None:
                properties += [f"line={problem.line}", f"col={problem.col}"]
            properties.append(f"title={_escape_property('layerspec ' + problem.code)}")
            lines.append(f"::{problem.severity} {','.join(properties)}::{_escape_data(problem.message)}")
    lines.append(tally(reports))
    return "\n".join(lines)


def render_json(reports: list[SpecReport]) -> str:
    """A JSON list of ``{path, line, col, severity, code, message}``."""
    import json

    return json.dumps([problem.as_dict() for report in reports for problem in report.problems], indent=2)
