"""The command line end to end: outputs, exit codes 0/1/2, no tracebacks."""

import json

import numpy as np
import pytest

import layerspec
from tests.conftest import SPECS

MLP = str(SPECS / "mnist_mlp.yaml")


def test_version_and_help(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"layerspec, version {layerspec.__version__}"
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("summary", "run", "init"):
        assert command in result.stdout


def test_summary_table_matches_keras_shapes_and_counts(cli):
    result = cli("summary", MLP)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == 'Model: "mnist_mlp"'
    rows = [line for line in lines if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == [
        "dense (Dense)", "dropout (Dropout)", "dense_1 (Dense)", "dropout_1 (Dropout)", "logits (Dense)"]
    assert [row.split("│")[2].strip() for row in rows] == [
        "(None, 512)", "(None, 512)", "(None, 512)", "(None, 512)", "(None, 10)"]
    assert [row.split("│")[3].strip() for row in rows] == ["401,920", "0", "262,656", "0", "5,130"]
    assert " Total params: 669,706 (2.55 MB)" in lines
    assert " Trainable params: 669,706 (2.55 MB)" in lines
    assert " Non-trainable params: 0 (0.00 B)" in lines


def test_summary_json_contract(cli):
    data = json.loads(cli("summary", MLP, "--format", "json").stdout)
    assert data["name"] == "mnist_mlp"
    assert data["input_shape"] == [None, 784] and data["output_shape"] == [None, 10]
    contract = {
        "name": "dense", "type": "Dense", "input_shape": [None, 784], "output_shape": [None, 512],
        "params": 401920, "trainable_params": 401920, "non_trainable_params": 0, "macs": 401408,
        "weights": {"kernel": [784, 512], "bias": [512]}}
    # The contract's fields, in its order, then extensions.
    assert list(data["layers"][0])[:len(contract)] == list(contract)
    assert {key: data["layers"][0][key] for key in contract} == contract
    assert data["layers"][0]["flops"] == 2 * 401408 + 2 * 512  # bias and relu per output
    assert data["layers"][0]["activation_bytes"] == 512 * 4
    assert (data["total_params"], data["trainable_params"], data["non_trainable_params"]) == (669706, 669706, 0)
    assert data["total_macs"] == 401408 + 262144 + 5120
    assert data["params_bytes"] == 669706 * 4


def test_summary_markdown(cli):
    out = cli("summary", MLP, "--format", "markdown").stdout.splitlines()
    assert out[2] == "| Layer (type) | Output Shape | Param # | MACs |"
    assert out[4] == "| `dense (Dense)` | `(None, 512)` | 401,920 | 401,408 |"


def test_misspelled_argument_exits_1_with_position_and_suggestion(cli, write_spec):
    path = write_spec("input: [4]\nlayers:\n  - units: 3\n    activaton: relu\n")
    result = cli("summary", path)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (f"{path}:4:5: error: layer 1 'dense' (Dense): unknown argument 'activaton'; "
                             "did you mean 'activation'?\n")


def test_input_shape_option(cli, write_spec):
    path = write_spec("layers:\n  - units: 3\n")
    assert "(None, 7, 3)" in cli("summary", path, "--input-shape", "7,5").stdout
    result = cli("summary", path)
    assert result.exit_code == 1 and "pass --input-shape" in result.stderr
    result = cli("summary", path, "--input-shape", "7,x")
    assert result.exit_code == 2 and "expected sizes separated by commas" in result.stderr


@pytest.mark.parametrize("args", [["summary"], ["summary", MLP, "--format", "xml"], ["nope"], ["run", MLP]])
def test_usage_errors_exit_2(cli, args):
    assert cli(*args).exit_code == 2


def test_missing_spec_file_exits_1(cli, tmp_path):
    result = cli("summary", tmp_path / "missing.yaml")
    assert result.exit_code == 1
    assert result.stderr == f"{tmp_path / 'missing.yaml'}: error: cannot read spec: No such file or directory\n"


def test_init_then_run_equals_python_api(cli, tmp_path):
    weights, out = tmp_path / "w.npz", tmp_path / "out.npy"
    x = np.random.default_rng(0).standard_normal((6, 784)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert cli("init", MLP, "-o", weights, "--seed", "5").exit_code == 0
    result = cli("run", MLP, tmp_path / "x.npy", "--weights", weights, "-o", out, "--batch-size", "4")
    assert result.exit_code == 0 and result.stdout == ""
    model = layerspec.load(MLP)
    model.load_weights(str(weights))
    # BLAS may sum in another order for another batch size: float32 precision.
    np.testing.assert_allclose(np.load(out), model.predict(x), rtol=1e-5, atol=1e-7)
    # Without --weights, --seed gives the same weights as init with that seed.
    seeded = tmp_path / "seeded.npy"
    assert cli("run", MLP, tmp_path / "x.npy", "--seed", "5", "-o", seeded).exit_code == 0
    np.testing.assert_allclose(np.load(seeded), np.load(out), rtol=1e-5, atol=1e-7)


def test_run_prints_output_without_o(cli, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 784), np.float32))
    result = cli("run", MLP, tmp_path / "x.npy")
    assert result.exit_code == 0
    assert result.stdout.startswith("# output shape (2, 10), dtype float32\n[[")


def test_run_accepts_one_unbatched_sample(cli, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(784, np.float32))
    result = cli("run", MLP, tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert result.exit_code == 0 and np.load(tmp_path / "y.npy").shape == (10,)


def test_run_wrong_input_shape_names_file_and_shapes(cli, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 783), np.float32))
    result = cli("run", MLP, tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path / 'x.npy'}: input has shape (2, 783), expected (batch, 784)\n"
    assert not (tmp_path / "y.npy").exists()


def test_run_with_wrong_weights_leaves_existing_output_untouched(cli, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 784), np.float32))
    (tmp_path / "y.npy").write_bytes(b"precious")
    np.savez(tmp_path / "w.npz", **{"dense/kernel": np.zeros((784, 512), np.float32)})
    result = cli("run", MLP, tmp_path / "x.npy", "--weights", tmp_path / "w.npz", "-o", tmp_path / "y.npy")
    assert result.exit_code == 1
    assert "missing weight 'dense/bias' (expected shape (512,))" in result.stderr
    assert (tmp_path / "y.npy").read_bytes() == b"precious"


def test_run_takes_input_shape_from_data_when_spec_has_none(cli, write_spec, tmp_path):
    path = write_spec("layers:\n  - units: 3\n")
    np.save(tmp_path / "x.npy", np.ones((4, 5), np.float32))
    result = cli("run", path, tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert result.exit_code == 0 and np.load(tmp_path / "y.npy").shape == (4, 3)


def test_python_module_entry_point():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "layerspec", "summary", MLP, "--format", "json"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and json.loads(result.stdout)["total_params"] == 669706


# --------------------------------------------------------------------------
# -o that is not a regular file: standard output, FIFOs, devices, links
# (imported here, as the tests above are kept as they are)

import io  # noqa: E402
import os  # noqa: E402
import stat  # noqa: E402


def invoke_binary(*args):
    """Run ``layerspec ARGS...`` in-process, keeping stdout's bytes
    (``result.stdout_bytes``); the ``cli`` fixture decodes them as text."""
    from click.testing import CliRunner

    from layerspec.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    return result


def mlp_reference(x: np.ndarray, seed: int = 0) -> np.ndarray:
    return layerspec.load(MLP).init(seed=seed).predict(x)


@pytest.fixture
def five_rows(tmp_path, monkeypatch):
    """x.npy with 5 MLP inputs; the working directory is tmp_path, so a
    stray file named '-' would show."""
    monkeypatch.chdir(tmp_path)
    x = np.random.default_rng(1).standard_normal((5, 784)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return x


def test_run_dash_o_streams_the_npy_to_stdout_and_messages_to_stderr(five_rows, tmp_path):
    result = invoke_binary("run", MLP, tmp_path / "x.npy", "-o", "-", "--batch-size", "2")
    assert result.exit_code == 0
    np.testing.assert_allclose(np.load(io.BytesIO(result.stdout_bytes)), mlp_reference(five_rows),
                               rtol=1e-5, atol=1e-7)
    assert result.stderr.splitlines()[-1] == "wrote standard output: shape (5, 10), dtype float32"
    assert sorted(os.listdir(tmp_path)) == ["x.npy"]


def test_init_dash_o_writes_the_same_npz_bytes_as_a_file(five_rows, tmp_path):
    result = invoke_binary("init", MLP, "-o", "-", "--seed", "3")
    assert result.exit_code == 0
    assert result.stderr == "wrote standard output: 6 arrays, 669,706 parameters\n"
    assert invoke_binary("init", MLP, "-o", tmp_path / "w.npz", "--seed", "3").exit_code == 0
    assert result.stdout_bytes == (tmp_path / "w.npz").read_bytes()
    weights = np.load(io.BytesIO(result.stdout_bytes))
    assert sorted(weights) == ["dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel",
                               "logits/bias", "logits/kernel"]
    assert sorted(os.listdir(tmp_path)) == ["w.npz", "x.npy"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_run_and_init_write_into_a_fifo_and_leave_it_a_fifo(five_rows, tmp_path):
    from tests.test_arrays import FifoReader

    reader = FifoReader(tmp_path / "y.npy")
    result = invoke_binary("run", MLP, tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--batch-size", "2")
    assert result.exit_code == 0
    np.testing.assert_allclose(np.load(io.BytesIO(reader.received())), mlp_reference(five_rows),
                               rtol=1e-5, atol=1e-7)
    reader = FifoReader(tmp_path / "w.npz")
    assert invoke_binary("init", MLP, "-o", tmp_path / "w.npz").exit_code == 0
    assert sorted(np.load(io.BytesIO(reader.received()))) == [
        "dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel", "logits/bias", "logits/kernel"]
    assert all(stat.S_ISFIFO(os.lstat(tmp_path / name).st_mode) for name in ("y.npy", "w.npz"))
    assert sorted(os.listdir(tmp_path)) == ["w.npz", "x.npy", "y.npy"]


def test_run_and_init_write_into_a_character_device(five_rows, tmp_path):
    from tests.test_arrays import make_char_device

    make_char_device(tmp_path / "null")
    assert invoke_binary("run", MLP, tmp_path / "x.npy", "-o", tmp_path / "null").exit_code == 0
    assert invoke_binary("init", MLP, "-o", tmp_path / "null").exit_code == 0
    assert stat.S_ISCHR(os.lstat(tmp_path / "null").st_mode)
    assert sorted(os.listdir(tmp_path)) == ["null", "x.npy"]


def test_run_and_init_replace_a_symlink_chains_target(five_rows, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "middle").symlink_to("out/y.npy")  # dangling until the run
    (tmp_path / "y.npy").symlink_to("middle")
    assert invoke_binary("run", MLP, tmp_path / "x.npy", "-o", tmp_path / "y.npy").exit_code == 0
    np.testing.assert_allclose(np.load(tmp_path / "out" / "y.npy"), mlp_reference(five_rows), rtol=1e-5, atol=1e-7)
    (tmp_path / "w.npz").symlink_to("out/w.npz")
    assert invoke_binary("init", MLP, "-o", tmp_path / "w.npz").exit_code == 0
    assert len(np.load(tmp_path / "out" / "w.npz")) == 6
    assert [os.readlink(tmp_path / name) for name in ("y.npy", "middle", "w.npz")] == [
        "middle", "out/y.npy", "out/w.npz"]
    assert sorted(os.listdir(tmp_path / "out")) == ["w.npz", "y.npy"]


@pytest.mark.parametrize("command", [["run", MLP, "x.npy", "--seed", "0"], ["init", MLP]])
def test_run_and_init_refuse_a_directory_output(five_rows, tmp_path, command):
    (tmp_path / "out").mkdir()
    result = invoke_binary(*command, "-o", tmp_path / "out")
    assert result.exit_code == 1 and result.stdout_bytes == b""
    assert result.stderr == f"error: cannot write {tmp_path / 'out'}: it is a directory\n"
    assert os.listdir(tmp_path / "out") == []


@pytest.mark.parametrize("command", [["run", MLP, "x.npy"], ["init", MLP]])
def test_dash_o_refuses_a_terminal_before_any_work(five_rows, tmp_path, command):
    import pty
    import subprocess
    import sys

    from tests.conftest import REPO

    kind = ".npy" if command[0] == "run" else ".npz"
    controller, terminal = pty.openpty()
    try:
        process = subprocess.run([sys.executable, "-m", "layerspec", *command, "-o", "-"], cwd=tmp_path,
                                 env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=terminal,
                                 stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(terminal)
        os.close(controller)
    assert process.returncode == 1
    assert process.stderr.splitlines()[-1] == (
        f"error: -o -: standard output is a terminal; redirect it to a file or a pipe to receive "
        f"the {kind} data, or give -o a file name")
    assert sorted(os.listdir(tmp_path)) == ["x.npy"]


def test_dash_o_to_a_reader_that_leaves_is_one_clean_error(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    np.save(tmp_path / "x.npy", np.zeros((5000, 784), np.float32))  # 200 kB out: more than a pipe holds
    process = subprocess.Popen([sys.executable, "-m", "layerspec", "run", MLP, "x.npy", "-o", "-",
                                "--batch-size", "100"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.read(100)[:6] == b"\x93NUMPY"
    process.stdout.close()  # as `| head -c 100` does
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert stderr.splitlines()[-1] == "error: cannot write standard output: Broken pipe"
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert sorted(os.listdir(tmp_path)) == ["x.npy"]


# -- defects found by trying every documented command (issue 12, item 4) ---------
def test_short_version_option_and_bare_command_print_to_stdout_and_exit_0(cli):
    version = cli("-V")
    assert (version.exit_code, version.stdout) == (0, f"layerspec, version {layerspec.__version__}\n")
    bare = cli()
    assert (bare.exit_code, bare.stderr) == (0, "")
    assert bare.stdout.startswith("Usage: ") and "-V, --version" in bare.stdout and "summary" in bare.stdout


def test_init_refuses_weights_larger_than_memory_before_allocating_them(cli, tmp_path, monkeypatch):
    from layerspec import runner
    from layerspec.model import Sequential

    monkeypatch.setattr(runner, "physical_memory", lambda: 2**20)
    monkeypatch.setattr(Sequential, "init", lambda *args, **kwargs: pytest.fail("weights were allocated"))
    result = cli("init", MLP, "-o", tmp_path / "w.npz")  # 669,706 float32 parameters: 2.55 MB
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == ("error: the model's weights need 2.55 MB, more than this machine's 1.00 MB of memory; "
                             "'layerspec summary' can still describe it\n")
    assert not (tmp_path / "w.npz").exists()


def test_out_of_memory_advises_batch_size_only_where_there_is_one(cli, tmp_path, monkeypatch):
    from layerspec.model import Sequential

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Sequential, "init", exhausted)
    result = cli("init", MLP, "-o", tmp_path / "w.npz")
    assert (result.exit_code, result.stderr) == (1, "error: out of memory\n")
    np.save(tmp_path / "x.npy", np.zeros((2, 784), np.float32))
    result = cli("run", MLP, tmp_path / "x.npy", "--seed", "1")
    assert (result.exit_code, result.stderr) == (1, "error: out of memory (try a smaller --batch-size or --max-memory)\n")


def test_run_without_weights_notes_the_random_weights_once(cli, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 784), np.float32))
    out = tmp_path / "y.npy"
    result = cli("run", MLP, tmp_path / "x.npy", "-o", out, "--batch-size", "1")
    assert result.exit_code == 0
    assert result.stderr == (f"note: no --weights given: using random weights (seed 0)\n"
                             f"wrote {out}: shape (3, 10), dtype float32\n")
    # An explicit seed says the user knows; so do weights.
    assert cli("run", MLP, tmp_path / "x.npy", "-o", out, "--seed", "0").stderr == (
        f"wrote {out}: shape (3, 10), dtype float32\n")
    assert cli("init", MLP, "-o", tmp_path / "w.npz").exit_code == 0
    assert "note:" not in cli("run", MLP, tmp_path / "x.npy", "-o", out, "--weights", tmp_path / "w.npz").stderr
    # A run stopped by an error says only the error.
    np.save(tmp_path / "bad.npy", np.zeros((3, 5), np.float32))
    assert cli("run", MLP, tmp_path / "bad.npy").stderr == (
        f"error: {tmp_path / 'bad.npy'}: input has shape (3, 5), expected (batch, 784)\n")


def run_with_encoding(encoding: str, *args, cwd=None):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": encoding}
    env.pop("LAYERSPEC_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "layerspec", *map(str, args)], capture_output=True, cwd=cwd,
                          env=env, check=False)


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_output_to_a_stream_that_cannot_encode_box_drawing_falls_back_to_ascii(encoding, tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("input: [8]\nlayers:\n  - {units: 4, activation: relu}\n  - {type: RepeatVector, n: 2}\n")
    new = tmp_path / "new.yaml"
    new.write_text("input: [8]\nlayers:\n  - {units: 4, activation: tanh}\n  - {type: RepeatVector, n: 2}\n")
    commands = {
        "summary": ["summary", MLP, "--width", "40"], "markdown": ["summary", MLP, "--format", "markdown"],
        "diff": ["diff", old, new], "diff markdown": ["diff", old, new, "--format", "markdown"],
        "check": ["check", old], "layers": ["layers"],
    }
    outputs = {}
    for name, command in commands.items():
        result = run_with_encoding(encoding, *command)
        assert (result.returncode, result.stderr) == (0, b""), name
        outputs[name] = result.stdout.decode("ascii")  # nothing but ASCII: it would fail otherwise
    table = outputs["summary"].splitlines()
    assert table[1:5] == ["+==========+==========+=========+=========+", "| Layer... | Outpu... | Param # |    MACs |",
                          "+==========+==========+=========+=========+", "| dense... | (None... | 401,920 | 401,408 |"]
    assert outputs["diff"].splitlines()[3:6] == [
        "  Layer (type)                  Output Shape  Param #",
        "~ dense (Dense)                 (None, 4)          36  activation: relu -> tanh",
        "  repeat_vector (RepeatVector)  (None, 2, 4)        0"]
    assert "| changed | `dense (Dense)` | `(None, 4)` | 36 (activation: relu -> tanh) |" in outputs["diff markdown"]
    from layerspec.summary import to_ascii

    assert outputs["layers"] == to_ascii(run_with_encoding("utf-8", "layers").stdout.decode("utf-8"))


def test_errors_in_a_stream_that_cannot_encode_them_are_escaped_not_a_crash(tmp_path):
    spec = tmp_path / "modèle→.yaml"
    spec.write_text("input: [4]\nlayers:\n  - units: 0\n", encoding="utf-8")
    result = run_with_encoding("ascii", "summary", spec.name, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.decode("ascii") == ("mod\\xe8le->.yaml:3:12: error: layer 1 'dense' (Dense): argument 'units' "
                                             "must be an integer >= 1, got integer 0\n")
