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
