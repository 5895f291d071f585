"""Streaming `run`: batch sizes, memory budget, progress, interruption."""

import io
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import layerspec
from layerspec.runner import MAX_AUTO_BATCH, choose_batch_size, run_model, working_bytes_per_sample
from tests.conftest import REPO, SPECS
from tests.test_arrays import FifoReader

MLP = str(SPECS / "mnist_mlp.yaml")


@pytest.fixture
def rows(tmp_path):
    x = np.random.default_rng(0).standard_normal((2500, 784)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return x


def test_working_memory_per_sample_is_the_largest_layer_input_plus_output():
    model = layerspec.load(MLP)
    assert working_bytes_per_sample(model, (784,)) == (784 + 512) * 4


def test_batch_size_follows_the_budget():
    model = layerspec.load(MLP)
    assert choose_batch_size(model, (784,), rows=10**6) == MAX_AUTO_BATCH
    assert choose_batch_size(model, (784,), rows=10**6, max_memory=2**20) == 2**20 // ((784 + 512) * 4)
    assert choose_batch_size(model, (784,), rows=10**6, max_memory=10) == 1
    assert choose_batch_size(model, (784,), rows=7) == 7


def test_streamed_output_equals_an_unbatched_run(rows, tmp_path):
    result = run_model(MLP, str(tmp_path / "x.npy"), output=str(tmp_path / "y.npy"), max_memory=2**20)
    assert result.batch_size == 202 and result.output is None
    model = layerspec.load(MLP).init(seed=0)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(rows), rtol=1e-5, atol=1e-7)


def test_zero_rows_give_a_zero_row_file(cli, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((0, 784), np.float32))
    result = cli("run", MLP, tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert result.exit_code == 0
    out = np.load(tmp_path / "y.npy")
    assert out.shape == (0, 10) and out.dtype == np.float32


def test_max_memory_option_and_its_errors(cli, rows, tmp_path):
    assert cli("run", MLP, tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--max-memory", "1M").exit_code == 0
    bad = cli("run", MLP, tmp_path / "x.npy", "--max-memory", "lots")
    assert bad.exit_code == 2 and "expected a size like 512M or 2G" in bad.stderr


def test_progress_is_silent_without_a_terminal_unless_asked(cli, rows, tmp_path):
    quiet = cli("run", MLP, tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--batch-size", "100", "--seed", "0")
    assert quiet.stderr == f"wrote {tmp_path / 'y.npy'}: shape (2500, 10), dtype float32\n"
    loud = cli("run", MLP, tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--batch-size", "100", "--seed", "0",
               "--progress")
    lines = loud.stderr.splitlines()
    assert lines[0].startswith("rows 100/2,500 (4%), ")
    assert lines[-2].startswith("rows 2,500/2,500 (100%), ") and lines[-2].endswith(" rows/s")


def test_interrupted_run_leaves_no_file_and_exits_130(cli, rows, tmp_path, monkeypatch):
    from layerspec.model import Model

    calls = []
    forward = Model._walk_forward

    def interrupted(self, batches):
        calls.append(len(batches[0]))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return forward(self, batches)

    monkeypatch.setattr(Model, "_walk_forward", interrupted)
    (tmp_path / "y.npy").write_bytes(b"keep me")
    result = cli("run", MLP, tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--batch-size", "100")
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert (tmp_path / "y.npy").read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]


def test_ctrl_c_on_a_real_process(tmp_path):
    plugin = tmp_path / "slow.py"
    plugin.write_text(textwrap.dedent("""
        import time
        import layerspec

        @layerspec.register
        class Slow(layerspec.Layer):
            def compute_output_shape(self, input_shape):
                return input_shape

            def call(self, x):
                time.sleep(0.05)
                return x
    """))
    spec = tmp_path / "slow.yaml"
    spec.write_text("input: [4]\nlayers:\n  - type: Slow\n")
    np.save(tmp_path / "x.npy", np.zeros((1000, 4), np.float32))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "layerspec", "run", str(spec), str(tmp_path / "x.npy"),
                                "--plugin", str(plugin), "-o", str(tmp_path / "y.npy"), "--batch-size", "10"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               # A shell's background job starts with SIGINT ignored, and a child
                               # inherits that: give it Ctrl-C's default meaning, as a terminal would.
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 20
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    assert b"Traceback" not in stderr and b"interrupted" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.py", "slow.yaml", "x.npy"]


# --------------------------------------------------------------------------
# Outputs that are not regular files


class WriteLog(io.BytesIO):
    """A binary stream that records the size of every write."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def write(self, data):
        self.sizes.append(memoryview(data).nbytes)
        return super().write(data)


def expected_output(x: np.ndarray) -> np.ndarray:
    return layerspec.load(MLP).init(seed=0).predict(x)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_run_streams_batches_into_a_fifo(rows, tmp_path):
    reader = FifoReader(tmp_path / "y.npy")
    result = run_model(MLP, str(tmp_path / "x.npy"), output=str(tmp_path / "y.npy"), batch_size=1000)
    assert result.output is None and result.shape == (2500, 10)
    received = np.load(io.BytesIO(reader.received()))
    np.testing.assert_allclose(received, expected_output(rows), rtol=1e-5, atol=1e-7)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "y.npy").st_mode)
    assert sorted(os.listdir(tmp_path)) == ["x.npy", "y.npy"]


def test_run_writes_each_batch_to_a_stream_as_it_is_computed(rows, tmp_path):
    stream = WriteLog()
    run_model(MLP, str(tmp_path / "x.npy"), output=stream, batch_size=1000)
    header = 128  # a .npy 1.0 header is padded to a multiple of 64 bytes
    assert sum(stream.sizes[:-3]) == header
    assert stream.sizes[-3:] == [1000 * 10 * 4, 1000 * 10 * 4, 500 * 10 * 4]
    np.testing.assert_allclose(np.load(io.BytesIO(stream.getvalue())), expected_output(rows),
                               rtol=1e-5, atol=1e-7)


def test_run_writes_one_unbatched_sample_to_a_stream(tmp_path):
    sample = np.linspace(-1, 1, 784, dtype=np.float32)
    np.save(tmp_path / "x.npy", sample)
    stream = io.BytesIO()
    result = run_model(MLP, str(tmp_path / "x.npy"), output=stream)
    assert result.shape == (10,)
    received = np.load(io.BytesIO(stream.getvalue()))
    np.testing.assert_allclose(received, expected_output(sample[None])[0], rtol=1e-5, atol=1e-7)


def test_run_replaces_a_symlinks_target_and_keeps_the_link(rows, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "y.npy").write_bytes(b"old")
    (tmp_path / "link").symlink_to("out/y.npy")
    run_model(MLP, str(tmp_path / "x.npy"), output=str(tmp_path / "link"), batch_size=1000)
    assert os.readlink(tmp_path / "link") == "out/y.npy"
    np.testing.assert_allclose(np.load(tmp_path / "out" / "y.npy"), expected_output(rows), rtol=1e-5, atol=1e-7)
    assert os.listdir(tmp_path / "out") == ["y.npy"]
