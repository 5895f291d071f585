"""`layerspec check`: every problem placed, in three formats, with a tally and exit code."""

import json
import textwrap

import pytest

from layerspec.checker import check_paths, find_specs
from tests.conftest import SPECS

GOOD = "input: [4]\nlayers:\n  - units: 3\nexpect:\n  output_shape: [3]\n  params: 15\n"
BROKEN_ARGUMENTS = textwrap.dedent("""\
    input: [4]
    layers:
      - units: 0
        activaton: relu
""")
BROKEN_SHAPE = textwrap.dedent("""\
    input: [784]
    layers:
      - units: 10
      - {type: Reshape, target_shape: [3, 3]}
""")


@pytest.fixture
def spec_dir(tmp_path):
    root = tmp_path / "specs"
    (root / "nested").mkdir(parents=True)
    (root / "good.yaml").write_text(GOOD)
    (root / "nested" / "arguments.yml").write_text(BROKEN_ARGUMENTS)
    (root / "shape.yaml").write_text(BROKEN_SHAPE)
    (root / "notes.txt").write_text("not a spec")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "skip.yaml").write_text("garbage: [")
    return root


def test_directories_are_searched_recursively_in_order(spec_dir):
    files, empty = find_specs([spec_dir])
    assert [str(p.relative_to(spec_dir)) for p in map(type(spec_dir), files)] == [
        "good.yaml", "nested/arguments.yml", "shape.yaml"]
    assert empty == []


def test_text_format_places_every_problem_and_tallies(cli, spec_dir):
    result = cli("check", spec_dir)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{spec_dir}/nested/arguments.yml:3:12: error: layer 1 'dense' (Dense): argument 'units' must be an "
        "integer >= 1, got integer 0 [invalid-argument]",
        f"{spec_dir}/nested/arguments.yml:4:5: error: layer 1 'dense' (Dense): unknown argument 'activaton'; "
        "did you mean 'activation'? [unknown-argument]",
        f"{spec_dir}/shape.yaml:4:5: error: layer 2 'reshape' (Reshape): cannot reshape (None, 10) "
        "(10 values per sample) into target_shape [3, 3] [shape-mismatch]",
        "3 specs checked, 2 failed, 3 errors",
    ]


def test_github_format_annotates_lines(cli, spec_dir):
    result = cli("check", "--format", "github", spec_dir / "nested")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"::error file={spec_dir}/nested/arguments.yml,line=3,col=12,title=layerspec invalid-argument::"
        "layer 1 'dense' (Dense): argument 'units' must be an integer >= 1, got integer 0",
        f"::error file={spec_dir}/nested/arguments.yml,line=4,col=5,title=layerspec unknown-argument::"
        "layer 1 'dense' (Dense): unknown argument 'activaton'; did you mean 'activation'?",
        "1 spec checked, 1 failed, 2 errors",
    ]


def test_github_format_escapes_its_separators():
    from layerspec.checker import Problem, SpecReport, render_github

    report = SpecReport("a,b:c.yaml", [Problem("a,b:c.yaml", 1, 2, "error", "x", "50% done\nnext")])
    assert render_github([report]).splitlines()[0] == "::error file=a%2Cb%3Ac.yaml,line=1,col=2,title=layerspec x::50%25 done%0Anext"


def test_json_format(cli, spec_dir):
    result = cli("check", "--format", "json", spec_dir / "shape.yaml", spec_dir / "good.yaml")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [{
        "path": str(spec_dir / "shape.yaml"), "line": 4, "col": 5, "severity": "error", "code": "shape-mismatch",
        "message": "layer 2 'reshape' (Reshape): cannot reshape (None, 10) (10 values per sample) into "
                   "target_shape [3, 3]"}]


def test_all_examples_pass(cli):
    result = cli("check", SPECS)
    assert result.exit_code == 0
    assert result.stdout.strip().endswith("0 failed, 0 errors")


def test_missing_path_and_empty_directory_fail(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("check", tmp_path / "empty", tmp_path / "missing.yaml")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{tmp_path / 'empty'}: error: no *.yaml or *.yml files in this directory [no-specs]",
        f"{tmp_path / 'missing.yaml'}: error: no such file or directory [no-specs]",
        "0 specs checked, 2 failed, 2 errors",
    ]
    assert cli("check").exit_code == 2


def test_expectations_catch_a_changed_parameter_count(tmp_path, cli):
    spec = tmp_path / "m.yaml"
    spec.write_text("input: [4]\nlayers:\n  - units: 5\nexpect:\n  output_shape: [3]\n  params: 15\n"
                    "  trainable_params: 15\n  max_params: 20\n")
    assert cli("check", spec).stdout.splitlines() == [
        f"{spec}:5:17: error: expected output_shape [3], got [5] [expect-mismatch]",
        f"{spec}:6:11: error: expected params 15, got 25 (+10) [expect-mismatch]",
        f"{spec}:7:21: error: expected trainable_params 15, got 25 (+10) [expect-mismatch]",
        f"{spec}:8:15: error: 25 parameters exceed the budget max_params 20 [budget-exceeded]",
        "1 spec checked, 1 failed, 4 errors",
    ]


def test_expected_macs_and_unknown_sizes(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("input: [4]\nlayers:\n  - units: 5\nexpect:\n  macs: 20\n")
    assert check_paths([spec])[0].problems == []
    spec.write_text("input: [null, 4]\nlayers:\n  - units: 5\nexpect:\n  macs: 20\n")
    (problem,) = check_paths([spec])[0].problems
    assert (problem.line, problem.col, problem.code) == (5, 9, "expect-unknown")


def test_input_shape_applies_to_every_spec(cli, tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text("layers:\n  - units: 2\n")
    assert cli("check", tmp_path).exit_code == 1
    result = cli("check", tmp_path, "--input-shape", "6")
    assert result.exit_code == 0 and result.stdout.strip() == "2 specs checked, 0 failed, 0 errors"


def test_unreadable_yaml_is_reported_with_its_position(cli, tmp_path):
    (tmp_path / "bad.yaml").write_text("input: [4\nlayers: []\n")
    result = cli("check", tmp_path)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith(f"{tmp_path / 'bad.yaml'}:2:7: error: invalid YAML:")
    assert result.stdout.splitlines()[0].endswith("[yaml-syntax]")


def test_pre_commit_hook_runs_layerspec_check_on_spec_directories():
    import re

    import yaml

    from tests.conftest import REPO

    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert (hook["id"], hook["entry"], hook["language"]) == ("layerspec-check", "layerspec check", "python")
    files = re.compile(hook["files"])
    assert [bool(files.search(path)) for path in ("specs/a.yaml", "ml/models/b.yml", ".github/workflows/ci.yaml")] == [
        True, True, False]


def test_a_bad_expect_key_hides_neither_other_expectations_nor_shape_errors(cli, tmp_path):
    # One run reports the unknown key, the invalid value, and the failed expectation beside them.
    spec = tmp_path / "model.yaml"
    spec.write_text("input: [4]\nlayers:\n  - units: 3\nexpect:\n  paramz: 15\n  params: 99\n  macs: -1\n"
                    "  output_shape: [3]\n")
    result = cli("check", spec)
    assert (result.exit_code, result.stderr) == (1, "")
    assert result.stdout.splitlines() == [
        f"{spec}:5:3: error: unknown key 'paramz' in 'expect'; did you mean 'params'? [unknown-key]",
        f"{spec}:6:11: error: expected params 99, got 15 (-84) [expect-mismatch]",
        f"{spec}:7:9: error: 'expect.macs' must be a non-negative integer, got integer -1 [invalid-value]",
        "1 spec checked, 1 failed, 3 errors",
    ]
    # The model is still built: its shape error is reported with the bad key.
    spec.write_text("input: [784]\nlayers:\n  - units: 10\n  - {type: Reshape, target_shape: [3, 3]}\n"
                    "expect:\n  param: 1\n")
    assert cli("check", spec).stdout.splitlines() == [
        f"{spec}:4:5: error: layer 2 'reshape' (Reshape): cannot reshape (None, 10) (10 values per sample) into "
        "target_shape [3, 3] [shape-mismatch]",
        f"{spec}:6:3: error: unknown key 'param' in 'expect'; did you mean 'params'? [unknown-key]",
        "1 spec checked, 1 failed, 2 errors",
    ]


def test_an_unknown_top_level_key_does_not_stop_the_expectations(tmp_path):
    spec = tmp_path / "model.yaml"
    spec.write_text("input: [4]\nlayers:\n  - units: 3\nexpcet: {}\nexpect:\n  output_shape: [2]\n")
    [report] = check_paths([spec])
    assert [(problem.line, problem.code) for problem in report.problems] == [(4, "unknown-key"), (6, "expect-mismatch")]


def test_findings_go_to_stdout_and_stderr_stays_for_the_run_itself(cli, spec_dir, tmp_path):
    # check's report is its result (as a linter's): stdout, in every format.
    for output_format in ("text", "github", "json"):
        result = cli("check", spec_dir, "--format", output_format)
        assert result.exit_code == 1 and result.stderr == "" and "activaton" in result.stdout
    broken_plugin = tmp_path / "broken.py"
    broken_plugin.write_text("raise RuntimeError('no GPU')\n")
    result = cli("check", spec_dir, "--plugin", broken_plugin)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: plugin '{broken_plugin}' failed to import: RuntimeError: no GPU\n"
