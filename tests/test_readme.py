"""The README's examples run as shown, from what a fresh clone has.

The rules, so that a README example can be written to pass:

- A fenced block whose first line starts with ``$ `` is a shell transcript.
  Each ``$ CMD`` line is run by bash, where ``layerspec`` is this checkout's
  ``python -m layerspec`` (through a shim that skips Python's start-up per
  command, see "running" below) and ``python`` the interpreter running the
  tests. Standard output is a pipe, not a terminal (tables are not cut to a
  width), and its encoding UTF-8 unless the command sets
  ``PYTHONIOENCODING``.
- Its output is the lines below it, up to the next ``$ `` line or the
  block's end: what the command writes to stdout and stderr, merged into
  one stream as it is written (as with ``2>&1``). A line ``...`` stands for
  any number of lines (for long JSON or tables); nothing else is fuzzy.
- Every command must exit 0, unless its line ends with a shell comment
  ``# exit N``: then it must exit N. (The comment is shell's, so the line
  still runs as written when pasted.)
- A ``python`` block runs as a script and must exit 0; its output is not
  compared.
- Blocks run in the README's order in one scratch directory holding a copy
  of ``specs/`` and ``examples/``, as a reader following the README would
  run them: a file made by one block (``digits.npy``, ``weights.npz``) is
  there for the next. Nothing is written into the repository.
- A ``yaml`` block with a ``layers`` key is a spec and must pass
  ``layerspec check``.
- The list of check codes holds exactly the codes the package can report.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
README = REPO / "README.md"
#: What of the repository the examples may read (a fresh clone has them).
CLONED_DIRECTORIES = ("specs", "examples")
PROMPT = "$ "
ANY_LINES = "..."
EXIT_COMMENT = re.compile(r"\s#\s*exit\s+(\d+)\s*$")
COMMAND_TIMEOUT = 60

# Transcripts are POSIX shell; the shim passes file descriptors over a Unix socket.
pytestmark = pytest.mark.skipif(os.name != "posix" or shutil.which("bash") is None,
                                reason="the README's transcripts need bash on a POSIX system")


@dataclasses.dataclass
class Block:
    """A fenced code block: its info string, its lines, the line it starts on."""

    language: str
    lines: list[str]
    line: int

    def __repr__(self) -> str:  # short, for pytest's report of a failing block
        return f"<block at README.md:{self.line}>"

    @property
    def is_transcript(self) -> bool:
        return bool(self.lines) and self.lines[0].startswith(PROMPT)


@dataclasses.dataclass
class Command:
    """One ``$`` line of a transcript and the output shown below it."""

    text: str
    expected: list[str]
    exit_code: int
    line: int


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced (```) block of a Markdown text, nested indentation allowed."""
    blocks = []
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        opening = re.match(r"^(\s*)```(.*)$", lines[number])
        if not opening:
            number += 1
            continue
        indent, language = opening.group(1), opening.group(2).strip()
        start = number + 1
        number = start
        while number < len(lines) and lines[number].strip() != "```":
            number += 1
        body = [line[len(indent):] if line.startswith(indent) else line for line in lines[start:number]]
        blocks.append(Block(language, body, start + 1))
        number += 1
    return blocks


def transcript_commands(block: Block) -> list[Command]:
    """The commands of a transcript, each with its expected output and exit code."""
    commands = []
    for offset, line in enumerate(block.lines):
        if line.startswith(PROMPT):
            text = line[len(PROMPT):]
            status = EXIT_COMMENT.search(text)
            commands.append(Command(text, [], int(status.group(1)) if status else 0, block.line + offset))
        else:
            commands[-1].expected.append(line)
    return commands


def output_matches(expected: list[str], actual: str) -> bool:
    """Whether ``actual`` is ``expected``'s lines, with ``...`` for any lines."""
    pattern = "".join("(?:.*\n)*?" if line == ANY_LINES else re.escape(line + "\n") for line in expected)
    text = actual if actual.endswith("\n") or not actual else actual + "\n"
    return re.fullmatch(pattern, text) is not None


BLOCKS = fenced_blocks(README.read_text(encoding="utf-8"))
TRANSCRIPTS = [block for block in BLOCKS if block.is_transcript]
PYTHON_BLOCKS = [block for block in BLOCKS if block.language == "python"]


def _block_id(block: Block) -> str:
    return f"README.md:{block.line}"


# -- running ----------------------------------------------------------------
# Each `layerspec` command costs a Python start-up and NumPy's import when
# run as `python -m layerspec` (0.2 s or more), which for thirty commands is
# too slow for the suite. So `layerspec` in a transcript is a small client
# that hands its argument list, directory, environment and standard streams
# (the file descriptors themselves, so pipes and redirections work as in a
# shell) to a server that has imported layerspec once and forks a worker per
# command: the worker runs the command line exactly as `python -m layerspec`
# does (layerspec.cli.main), with fresh sys.stdin/stdout/stderr on the
# descriptors it received, and reports the exit code. `python` stays the real
# interpreter. test_the_shim_prints_what_python_m_layerspec_prints holds
# the shim to a real run.

CLIENT = """\
import json, os, socket, struct, sys
connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
connection.connect({socket_path!r})
request = json.dumps({{"arguments": sys.argv[1:], "cwd": os.getcwd(), "environment": dict(os.environ)}}).encode()
socket.send_fds(connection, [struct.pack("!I", len(request)) + request], [0, 1, 2])
reply = b""
while len(reply) < 4:
    chunk = connection.recv(4 - len(reply))
    if not chunk:
        sys.exit("layerspec test shim: the server went away")
    reply += chunk
sys.exit(struct.unpack("!i", reply)[0])
"""


def serve(socket_path: str) -> None:
    """The server side of the `layerspec` shim: fork a worker per connection."""
    import signal
    import socket
    import traceback

    import layerspec.checker  # noqa: F401  (everything a command needs, imported once)
    import layerspec.cli  # noqa: F401
    import layerspec.diff  # noqa: F401
    import layerspec.layers  # noqa: F401
    import layerspec.runner  # noqa: F401
    import layerspec.schema  # noqa: F401
    import layerspec.spec  # noqa: F401
    import layerspec.summary  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped automatically
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path + ".tmp")
    listener.listen(16)
    os.rename(socket_path + ".tmp", socket_path)  # appears only once it accepts
    while True:
        connection, _ = listener.accept()
        if os.fork() == 0:  # the worker: never returns to the loop
            code = 1
            try:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                code = _work(connection)
            except BaseException:
                traceback.print_exc()  # to the server's log
            finally:
                os._exit(code)
        connection.close()


def _work(connection) -> int:
    """One command: take the client's streams, run the CLI, send the exit code."""
    import socket
    import struct

    message, descriptors, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    while len(message) < 4 or len(message) < 4 + struct.unpack("!I", message[:4])[0]:
        message += connection.recv(1 << 16)
    request = json.loads(message[4:])
    for target, descriptor in enumerate(descriptors):
        os.dup2(descriptor, target)
        os.close(descriptor)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["environment"])
    _fresh_standard_streams(os.environ.get("PYTHONIOENCODING") or "utf-8")
    code = _run_command_line(request["arguments"])
    connection.sendall(struct.pack("!i", code))
    return code


def _fresh_standard_streams(io_encoding: str) -> None:
    """sys.stdin/stdout/stderr as a new interpreter would set them up on fds 0-2."""
    import io

    encoding, _, errors = io_encoding.partition(":")

    def text(descriptor: int, mode: str, default_errors: str, line_buffering: bool):
        raw = io.FileIO(descriptor, mode, closefd=False)
        buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        return io.TextIOWrapper(buffered, encoding=encoding, errors=errors or default_errors,
                                line_buffering=line_buffering)

    sys.stdin = sys.__stdin__ = text(0, "r", "strict", False)
    sys.stdout = sys.__stdout__ = text(1, "w", "strict", os.isatty(1))
    sys.stderr = sys.__stderr__ = text(2, "w", "backslashreplace", True)


def _run_command_line(arguments: list[str]) -> int:
    """``python -m layerspec ARGUMENTS`` in this process: its exit code."""
    import traceback

    from layerspec.cli import main

    sys.argv = ["layerspec", *arguments]
    try:
        main(arguments, prog_name="layerspec")
        code = 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:  # as the interpreter does: a traceback, exit 1
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            code = 120  # what Python exits with when flushing stdout fails at exit
    return code


def _make_commands(bin_directory: pathlib.Path, socket_path: pathlib.Path) -> None:
    """``layerspec`` (the shim) and ``python`` (this interpreter) for the transcripts."""
    bin_directory.mkdir()
    client = bin_directory / "layerspec_client.py"
    client.write_text(CLIENT.format(socket_path=str(socket_path)))
    # -I -S: the client imports nothing beyond the standard library's basics.
    scripts = {"layerspec": f'exec "{sys.executable}" -I -S "{client}" "$@"\n',
               "python": f'exec "{sys.executable}" "$@"\n'}
    for name, body in scripts.items():
        script = bin_directory / name
        script.write_text("#!/bin/sh\n" + body)
        script.chmod(0o755)


def _command_environment(bin_directory: pathlib.Path) -> dict:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("LAYERSPEC_", "PYTHON")) and key != "COLUMNS"}
    environment["PATH"] = f"{bin_directory}{os.pathsep}{environment.get('PATH', '')}"
    environment["PYTHONPATH"] = str(REPO)
    environment["PYTHONIOENCODING"] = "utf-8"  # tables drawn with box characters, whatever the locale
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment


@dataclasses.dataclass
class Ran:
    """What one command or script printed and how it exited."""

    output: str
    exit_code: int


class Results(dict):
    """Each runnable block's :class:`Ran` list, keyed by the block's first line."""

    def __repr__(self) -> str:  # pytest shows fixture values of a failing test
        return f"<results of {len(self)} README blocks>"


@dataclasses.dataclass
class Shell:
    """Where and how the README's commands run."""

    work: pathlib.Path
    environment: dict

    def run(self, arguments: list[str]) -> Ran:
        done = subprocess.run(arguments, cwd=self.work, env=self.environment, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT)
        return Ran(done.stdout.decode("utf-8", errors="replace"), done.returncode)


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """A scratch copy of the clone, with the `layerspec` shim's server running."""
    scratch = tmp_path_factory.mktemp("readme")
    work = scratch / "clone"
    work.mkdir()
    for name in CLONED_DIRECTORIES:
        shutil.copytree(REPO / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    socket_path = scratch / "layerspec.socket"
    _make_commands(scratch / "bin", socket_path)
    environment = _command_environment(scratch / "bin")
    with open(scratch / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, __file__, "serve", str(socket_path)], env=environment,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while not socket_path.exists():
            assert server.poll() is None, (scratch / "server.log").read_text()
            assert time.monotonic() < deadline, "the layerspec shim's server did not start"
            time.sleep(0.01)
        yield Shell(work, environment)
    finally:
        server.terminate()
        server.wait(COMMAND_TIMEOUT)


@pytest.fixture(scope="module")
def readme_results(shell):
    """Every runnable block's results, keyed by the block's first line: all
    run once, in the README's order, in one scratch copy of the clone."""
    results = Results()
    for block in BLOCKS:
        if block.is_transcript:
            results[block.line] = [shell.run(["bash", "-c", command.text]) for command in transcript_commands(block)]
        elif block.language == "python":
            script = shell.work.parent / f"block_{block.line}.py"
            script.write_text("\n".join(block.lines) + "\n", encoding="utf-8")
            results[block.line] = [shell.run([sys.executable, str(script)])]
    return results


# -- the README's examples ----------------------------------------------------
@pytest.mark.parametrize("block", TRANSCRIPTS, ids=_block_id)
def test_transcript_prints_what_the_readme_shows(block, readme_results):
    for command, ran in zip(transcript_commands(block), readme_results[block.line]):
        where = f"README.md:{command.line}: $ {command.text}"
        assert ran.exit_code == command.exit_code, f"{where}\nexit {ran.exit_code}\n{ran.output}"
        if not output_matches(command.expected, ran.output):
            diff = "\n".join(difflib.unified_diff(command.expected, ran.output.splitlines(), "README", "actual",
                                                  lineterm=""))
            pytest.fail(f"{where}\n{diff}")


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=_block_id)
def test_python_example_runs(block, readme_results):
    (ran,) = readme_results[block.line]
    assert ran.exit_code == 0, f"README.md:{block.line}\n{ran.output}"


@pytest.mark.parametrize("command", [
    "layerspec summary examples/typo.yaml",
    "PYTHONIOENCODING=ascii layerspec diff specs/mnist_mlp.yaml examples/mnist_mlp_v2.yaml",
    "layerspec init specs/mnist_mlp.yaml -o - | wc -c",
    "layerspec --bad-option",
])
def test_the_shim_prints_what_python_m_layerspec_prints(command, shell):
    shimmed = shell.run(["bash", "-c", command])
    real = shell.run(["bash", "-c", command.replace("layerspec", f"{sys.executable} -m layerspec", 1)])
    assert (shimmed.output, shimmed.exit_code) == (real.output, real.exit_code)


def test_yaml_specs_in_the_readme_pass_check(tmp_path):
    specs = []
    for block in BLOCKS:
        if block.language != "yaml":
            continue
        document = yaml.safe_load("\n".join(block.lines))
        if isinstance(document, dict) and "layers" in document:
            path = tmp_path / f"readme_{block.line}.yaml"
            path.write_text("\n".join(block.lines) + "\n", encoding="utf-8")
            specs.append(str(path))
    assert len(specs) >= 3
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LAYERSPEC_")}
    done = subprocess.run([sys.executable, "-m", "layerspec", "check", *specs], capture_output=True, text=True,
                          env={**environment, "PYTHONPATH": str(REPO)}, cwd=tmp_path, timeout=COMMAND_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_block_with_a_prompt_is_run_as_a_transcript():
    # A `$ ` line below a first line without one would be silently skipped.
    for block in BLOCKS:
        if any(line.startswith(PROMPT) for line in block.lines):
            assert block.is_transcript, f"README.md:{block.line}: a transcript must start with a '$ ' line"
    assert len(TRANSCRIPTS) >= 10


def test_the_opening_commands_stay_as_they_are():
    text = README.read_text(encoding="utf-8")
    assert "pip install . && layerspec summary specs/mnist_mlp.yaml\n" in text
    assert "pip install '.[test]' && python -m pytest -q\n" in text


# -- the matcher itself -------------------------------------------------------
@pytest.mark.parametrize(("expected", "actual", "matches"), [
    (["a", "b"], "a\nb\n", True),
    (["a", "b"], "a\nb", True),
    (["a", "b"], "a\nb\nc\n", False),
    (["a", "b"], "a\nB\n", False),
    ([], "", True),
    ([], "a\n", False),
    (["a", "...", "d"], "a\nd\n", True),
    (["a", "...", "d"], "a\nb\nc\nd\n", True),
    (["a", "...", "d"], "a\nb\nc\n", False),
    (["...", "x", "..."], "a\nx\nb\n", True),
    (["a.b"], "axb\n", False),
    (["a", "...", "b", "...", "c"], "a\n1\nb\n2\nb\nc\n", True),
])
def test_output_matcher(expected, actual, matches):
    assert output_matches(expected, actual) is matches


def test_transcript_parsing_reads_exit_comments_and_outputs():
    block = Block("", ["$ layerspec check bad.yaml  # exit 1", "bad.yaml:1:1: error: x", "$ echo ok", "ok"], 10)
    commands = transcript_commands(block)
    assert [(c.text, c.expected, c.exit_code, c.line) for c in commands] == [
        ("layerspec check bad.yaml  # exit 1", ["bad.yaml:1:1: error: x"], 1, 10),
        ("echo ok", ["ok"], 0, 12)]


# -- check codes ----------------------------------------------------------------
CODE = re.compile(r"^[a-z]+(?:-[a-z]+)*$")
#: Calls that take a problem's code as their n-th positional argument.
CODE_ARGUMENT = {"add": 2, "report": 2, "fail": 1, "Problem": 4}


@functools.lru_cache(maxsize=None)
def package_codes() -> frozenset[str]:
    """Every code the package's source can give a problem: ``code=`` arguments,
    ``code = ...`` class attributes, the code argument of the problem
    collectors, and ``(message, code)`` tuples returned."""
    codes = set()
    for path in sorted((REPO / "layerspec").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for value in _code_values(node):
                if isinstance(value, ast.Constant) and isinstance(value.value, str) and CODE.match(value.value):
                    codes.add(value.value)
    return frozenset(codes)


def _code_values(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.keyword) and node.arg == "code":
        return [node.value]
    if isinstance(node, ast.ClassDef):
        return [statement.value for statement in node.body if isinstance(statement, ast.Assign)
                and any(isinstance(target, ast.Name) and target.id == "code" for target in statement.targets)]
    if isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        at = CODE_ARGUMENT.get(name)
        return [node.args[at]] if at is not None and len(node.args) > at else []
    if isinstance(node, ast.FunctionDef) and "problem" in node.name:  # returns (message, code)
        return [returned.value.elts[1] for returned in ast.walk(node) if isinstance(returned, ast.Return)
                and isinstance(returned.value, ast.Tuple) and len(returned.value.elts) == 2]
    return []


def readme_codes() -> list[str]:
    """The codes in the README's table of check codes (``| `code` | meaning |``)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Check codes", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.MULTILINE)


def test_the_readme_lists_every_check_code_once():
    listed = readme_codes()
    assert len(listed) == len(set(listed))
    assert set(listed) == package_codes()


def test_package_codes_finds_codes_in_every_form():
    # One of each form the collector reads, so a refactoring that hides
    # codes from it shows here rather than as a silently shorter list.
    assert {"invalid-spec", "invalid-key", "yaml-syntax", "dead-branch", "expect-mismatch", "no-specs",
            "unknown-key", "plugin", "unreadable"} <= package_codes()


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(sys.argv[2])
