"""A catalogue of bad inputs: each a clear error, exit code 1 (2 for misuse),
no traceback, and no output file created or changed."""

import errno
import io
import os
import pickle
import re
import zipfile

import numpy as np
import pytest

from tests.conftest import SPECS

MLP = str(SPECS / "mnist_mlp.yaml")
ORIGINAL = b"original output, must survive"


@pytest.fixture
def workdir(tmp_path):
    """A directory with a good input and an existing output to protect."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((3, 784)).astype(np.float32))
    (tmp_path / "out.npy").write_bytes(ORIGINAL)
    return tmp_path


def assert_refused(result, workdir, *mentions, exit_code=1):
    assert result.exit_code == exit_code, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for mention in mentions:
        assert mention in result.stderr, (mention, result.stderr)
    assert (workdir / "out.npy").read_bytes() == ORIGINAL
    leftovers = [p.name for p in workdir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


# -- specs ------------------------------------------------------------------
def billion_laughs() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for level in range(1, 9):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    return text


SPEC_CASES = {
    "python tag": ("input: [784]\nlayers:\n  - units: !!python/object/apply:os.system [echo hi]\n",
                   ":3:12: error: YAML tags (!!python/object/apply:os.system) are not allowed"),
    "billion laughs": (billion_laughs(), ":1:4: error: YAML anchors (&a) are not allowed"),
    "self-referencing list": ("input: [784]\nlayers: &x [*x]\n", ":2:9: error: YAML anchors (&x) are not allowed"),
    "alias": ("input: [784]\nlayers:\n  - {units: 3}\n  - *x\n", ":4:5: error: YAML aliases (*x) are not allowed"),
    "deep flow nesting": ("input: [784]\nlayers: " + "[" * 5000 + "]" * 5000 + "\n", "nesting deeper than 64 levels"),
    "deep block nesting": ("input: [784]\nlayers:\n  " + "- " * 3000 + "x\n", "nesting deeper than 64 levels"),
    "empty file": ("", ":1:1: error: empty spec"),
    "multi-document": ("input: [784]\nlayers: [{units: 2}]\n---\ninput: [3]\n",
                       ":3:1: error: more than one YAML document in a spec"),
    "tabs": ("input: [784]\nlayers:\n\t- units: 2\n", ":3:1: error: invalid YAML: found character '\\t'"),
    "duplicate key": ("input: [784]\nlayers: []\ninput: [3]\n", ":3:1: error: duplicate key 'input'"),
    "1 beside true": ("input: [784]\nlayers:\n  - {1: a, true: b}\n", ":3:6: error: keys must be strings, got integer 1"),
    "units true": ("input: [784]\nlayers:\n  - units: true\n", ":3:12: error: layer 1 'dense' (Dense): argument "
                   "'units' must be an integer >= 1, got boolean true"),
    "units 010": ("input: [784]\nlayers:\n  - units: 010\n", "got string '010'"),
    "units 3:3": ("input: [784]\nlayers:\n  - units: 3:3\n", "got string '3:3'"),
    "units 1e400": ("input: [784]\nlayers:\n  - units: 1e400\n", "got number .inf"),
    "rate .nan": ("input: [784]\nlayers:\n  - {type: Dropout, rate: .nan}\n", "got number .nan (not finite)"),
    "thousands of digits": ("input: [784]\nlayers:\n  - units: " + "7" * 5000 + "\n",
                            ":3:12: error: integer with 5000 digits is too large"),
    "date for a number": ("input: [784]\nlayers:\n  - units: 2024-01-31\n", "got string '2024-01-31'"),
    "layer is a list": ("input: [784]\nlayers:\n  - [units, 3]\n", ":3:5: error: layer 1 must be a mapping"),
    "layer is a string": ("input: [784]\nlayers:\n  - Dense\n", ":3:5: error: layer 1 must be a mapping"),
    "layers empty": ("input: [784]\nlayers: []\n", ":2:9: error: 'layers' must be a non-empty list"),
    "parameters past 2^63 (run)": ("input: [784]\nlayers:\n  - units: 4294967296\n  - units: 4294967296\n",
                                   "the model's weights need"),
}


@pytest.mark.parametrize("name", SPEC_CASES)
def test_bad_specs(cli, workdir, name):
    text, message = SPEC_CASES[name]
    spec = workdir / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    result = cli("run", spec, workdir / "x.npy", "-o", workdir / "out.npy")
    where = "" if message.startswith(":") or "weights need" in message else f"{spec}:"
    assert_refused(result, workdir, (str(spec) + message) if message.startswith(":") else message)
    assert re.match(rf"^{re.escape(str(spec))}(:\d+:\d+)?: error: |^error: ", result.stderr)
    assert where is not None


def test_invalid_utf8_nul_and_size_limit(cli, workdir):
    cases = {
        b"input: [784]\nlayers: [{units: 2, name: \"\xff\"}]\n": ":2:28: error: invalid UTF-8 byte 0xff",
        b"input: [784]\nlayers: [{units: 2}]\x00\n": ":2:21: error: NUL byte in spec",
        b"#" * (1024 * 1024 + 1): ": error: spec is 1048577 bytes, more than the limit of 1048576",
    }
    for data, message in cases.items():
        spec = workdir / "spec.yaml"
        spec.write_bytes(data)
        assert_refused(cli("run", spec, workdir / "x.npy", "-o", workdir / "out.npy"), workdir, str(spec) + message)


def test_spec_that_is_a_directory_or_a_fifo(cli, workdir):
    (workdir / "dir.yaml").mkdir()
    os.mkfifo(workdir / "fifo.yaml")
    for spec, message in ((workdir / "dir.yaml", "is a directory"), (workdir / "fifo.yaml", "is not a regular file")):
        assert_refused(cli("summary", spec), workdir, f"{spec}: error: {message}")


def test_summary_of_counts_past_2_63_is_exact(cli, workdir):
    spec = workdir / "spec.yaml"
    spec.write_text("input: [4294967296]\nlayers:\n  - units: 4294967296\n  - units: 4294967296\n")
    result = cli("summary", spec, "--format", "json")
    assert result.exit_code == 0
    assert f'"total_params": {2 * (2**64 + 2**32)}' in result.stdout  # exact, past 2^63


# -- input arrays -----------------------------------------------------------
def npy_with_header(header: str, payload: bytes = b"") -> bytes:
    header = header + " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1") + payload


def saved(array, **kwargs) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **kwargs)
    return buffer.getvalue()


GOOD = saved(np.zeros((2, 784), np.float32))
ARRAY_CASES = {
    "pickle": (pickle.dumps({"x": 1}), "not an .npy file: it is a Python pickle"),
    "random bytes": (bytes(range(256)) * 4, "not an .npy file"),
    "object dtype": (saved(np.array([{}, 1], dtype=object), allow_pickle=True), "arrays of Python objects"),
    "header too long": (b"\x93NUMPY\x02\x00" + (20000).to_bytes(4, "little") + b"{" + b" " * 19999,
                        "more than the 10000 allowed"),
    "claims more data": (npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 784), }"),
                         "the file is truncated"),
    "negative size": (npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 784), }"),
                      "malformed .npy header"),
    "boolean size": (npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (True, 784), }"),
                     "malformed .npy header"),
    "enormous size": (npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000000000000000000000, 784), }"),
                      "the file is truncated"),
    "truncated": (GOOD[:-100], "the file is truncated"),
    "trailing garbage": (GOOD + b"junk", "4 unexpected bytes after the array data"),
    "complex": (saved(np.zeros((2, 784), np.complex64)), "expected a float array (float32), got complex64"),
    "string": (saved(np.full((2, 784), "a")), "expected a float array (float32), got string (<U1)"),
    "structured": (saved(np.zeros((2, 784), [("a", "<f4")])), "expected a float array (float32), got structured"),
    "inexact integers": (saved(np.full((2, 784), 2**25, np.int64)), "integer 33554432 at index (0, 0) cannot be "
                         "represented exactly as float32"),
    "0-d": (saved(np.float32(1)), "input has shape (), expected (batch, 784)"),
    "wrong shape": (saved(np.zeros((2, 783), np.float32)), "input has shape (2, 783), expected (batch, 784)"),
    "nan": (saved(np.where(np.arange(2 * 784).reshape(2, 784) == 900, np.nan, 0).astype(np.float32)),
            "non-finite value nan at index (1, 116); pass --allow-nonfinite to accept it"),
}


@pytest.mark.parametrize("name", ARRAY_CASES)
def test_bad_input_arrays(cli, workdir, name):
    data, message = ARRAY_CASES[name]
    (workdir / "bad.npy").write_bytes(data)
    result = cli("run", MLP, workdir / "bad.npy", "-o", workdir / "out.npy")
    assert_refused(result, workdir, str(workdir / "bad.npy"), message)


def test_input_that_is_a_directory_or_a_fifo(cli, workdir):
    (workdir / "dir.npy").mkdir()
    os.mkfifo(workdir / "fifo.npy")
    assert_refused(cli("run", MLP, workdir / "dir.npy", "-o", workdir / "out.npy"), workdir, "it is a directory")
    assert_refused(cli("run", MLP, workdir / "fifo.npy", "-o", workdir / "out.npy"), workdir, "it is a FIFO")


@pytest.mark.parametrize("convert", [
    lambda x: x.astype(np.float16), lambda x: x.astype(">f4"), lambda x: np.asfortranarray(x),
    lambda x: (x * 8).round().astype(np.int32), lambda x: x.astype(np.float64)])
def test_accepted_conversions_give_the_same_result(cli, workdir, convert):
    x = np.load(workdir / "x.npy")
    np.save(workdir / "as_is.npy", convert(x).astype(np.float32))
    np.save(workdir / "converted.npy", convert(x))
    assert cli("run", MLP, workdir / "as_is.npy", "-o", workdir / "a.npy").exit_code == 0
    assert cli("run", MLP, workdir / "converted.npy", "-o", workdir / "b.npy").exit_code == 0
    np.testing.assert_array_equal(np.load(workdir / "a.npy"), np.load(workdir / "b.npy"))


def test_nonfinite_inputs_and_weights_with_allow_nonfinite(cli, workdir):
    x = np.load(workdir / "x.npy")
    x[2, 5] = np.inf
    np.save(workdir / "inf.npy", x)
    assert_refused(cli("run", MLP, workdir / "inf.npy", "-o", workdir / "out.npy", "--batch-size", "2"), workdir,
                   f"{workdir / 'inf.npy'}: non-finite value inf at index (2, 5)")
    assert cli("run", MLP, workdir / "inf.npy", "-o", workdir / "y.npy", "--allow-nonfinite").exit_code == 0
    assert cli("init", MLP, "-o", workdir / "w.npz").exit_code == 0
    with np.load(workdir / "w.npz") as stored:
        weights = dict(stored)
    weights["dense_1/bias"][7] = np.nan
    np.savez(workdir / "nan.npz", **weights)
    assert_refused(cli("run", MLP, workdir / "x.npy", "--weights", workdir / "nan.npz", "-o", workdir / "out.npy"),
                   workdir, "weight 'dense_1/bias': non-finite value nan at index (7,)")


def test_zero_length_batch_is_a_valid_empty_result(cli, workdir):
    np.save(workdir / "empty.npy", np.zeros((0, 784), np.float32))
    assert cli("run", MLP, workdir / "empty.npy", "-o", workdir / "y.npy").exit_code == 0
    assert np.load(workdir / "y.npy").shape == (0, 10)


# -- weights ----------------------------------------------------------------
@pytest.fixture
def weights(cli, workdir):
    assert cli("init", MLP, "-o", workdir / "w.npz").exit_code == 0
    with np.load(workdir / "w.npz") as stored:
        return dict(stored)


def write_zip(path, members: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_bad_weights(cli, workdir, weights):
    bad = workdir / "bad.npz"

    def refused(*mentions):
        result = cli("run", MLP, workdir / "x.npy", "--weights", bad, "-o", workdir / "out.npy")
        assert_refused(result, workdir, str(bad), *mentions)

    np.savez(bad, **{k: v for k, v in weights.items() if k != "logits/bias"})
    refused("missing weight 'logits/bias' (expected shape (10,))")
    np.savez(bad, **weights, **{"extra/kernel": np.zeros(3, np.float32)})
    refused("unexpected weight 'extra/kernel' with shape (3,)")
    np.savez(bad, **{**weights, "dense/kernel": weights["dense/kernel"].T})
    refused("weight 'dense/kernel' has shape (512, 784), expected (784, 512)")
    write_zip(bad, {**{f"{k}.npy": saved(v) for k, v in weights.items()}, "notes.npy": b"just text"})
    refused("member 'notes.npy'", "not an .npy file")
    write_zip(bad, {"../evil.npy": saved(np.zeros(3))})
    refused("member '../evil.npy' contains a '..' path part")
    write_zip(bad, {"dense/kernel.npy": b"\0" * (200 * 2**20)}, zipfile.ZIP_DEFLATED)
    refused("more than the", "allowed for this")
    bad.write_bytes(b"PK\x03\x04 definitely not a zip")
    refused("not a valid .npz (zip) archive")


# -- outputs ----------------------------------------------------------------
def test_output_equal_to_input_is_refused(cli, workdir):
    before = (workdir / "x.npy").read_bytes()
    result = cli("run", MLP, workdir / "x.npy", "-o", workdir / "x.npy")
    assert_refused(result, workdir, "the output would overwrite the input file")
    assert (workdir / "x.npy").read_bytes() == before


def test_output_in_a_directory_that_cannot_be_written(cli, workdir):
    result = cli("run", MLP, workdir / "x.npy", "-o", workdir / "missing" / "y.npy")
    assert_refused(result, workdir, f"cannot write {workdir / 'missing' / 'y.npy'}")
    (workdir / "afile").write_text("")
    result = cli("run", MLP, workdir / "x.npy", "-o", workdir / "afile" / "y.npy")
    assert_refused(result, workdir, "cannot write", "Not a directory")


def test_disk_full_leaves_no_file(cli, workdir, monkeypatch):
    from layerspec import arrays

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(arrays, "_reserve", full)
    result = cli("run", MLP, workdir / "x.npy", "-o", workdir / "out.npy")
    assert_refused(result, workdir, f"cannot write {workdir / 'out.npy'}: No space left on device")


def test_output_without_npy_suffix_is_written_exactly_as_given(cli, workdir):
    assert cli("run", MLP, workdir / "x.npy", "-o", workdir / "result.bin").exit_code == 0
    assert np.load(workdir / "result.bin").shape == (3, 10)
    assert not (workdir / "result.bin.npy").exists()


@pytest.mark.parametrize("args", [["run", MLP], ["run", MLP, "x.npy", "--batch-size", "0"],
                                  ["summary", MLP, "--input-shape", "-3"], ["run", MLP, "x.npy", "--seed", "x"]])
def test_command_line_misuse_exits_2(cli, workdir, args):
    result = cli(*args)
    assert result.exit_code == 2 and "Traceback" not in result.stderr


# -- found by fuzzing ---------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("input: [4, 6]\nlayers:\n  - {type: MaxPooling1D, pool_size: 2147483647, padding: same}\n",
     ":3:37: error: layer 1 'max_pooling1d' (MaxPooling1D): pool_size (2147483647,) reaches 2147483647 cells, "
     "far more than its input (4,)"),
    ("input: [4, 1]\nlayers:\n  - {type: Conv1D, filters: 1, kernel_size: 2, dilation_rate: 1099511627776, "
     "padding: same}\n", "argument 'dilation_rate' must be an integer >= 1"),
    ("input: [8, 2]\nlayers:\n  - {type: Conv1D, filters: 3, kernel_size: 2, strides: 9223372036854775807}\n",
     "(at most 2147483647)"),
    ('name: "\\U00110000"\nlayers: [{units: 1}]\n', ": error: invalid YAML: chr() arg not in range(0x110000)"),
    ("input: [4]\nlayers:\n  - {units: 2, kernel_initializer: {type: random_normal, stddev: 1.0e+39}}\n",
     "the initializer of weight 'kernel' gives values that do not fit float32"),
])
def test_fuzzing_finds(cli, workdir, text, message):
    spec = workdir / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    np.save(workdir / "x4.npy", np.zeros((2,) + ((4, 6) if "[4, 6]" in text else (4, 1) if "[4, 1]" in text
                                                 else (8, 2) if "[8, 2]" in text else (4,)), np.float32))
    result = cli("run", spec, workdir / "x4.npy", "-o", workdir / "out.npy")
    assert_refused(result, workdir, message)


def test_npz_member_with_an_empty_name(cli, workdir):
    import struct
    import zlib

    crc = zlib.crc32(b"")
    local = struct.pack("<4s5H3L2H", b"PK\3\4", 20, 0, 0, 0, 0, crc, 0, 0, 0, 0)
    central = struct.pack("<4s6H3L5H2L", b"PK\1\2", 20, 20, 0, 0, 0, 0, crc, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    end = struct.pack("<4s4H2LH", b"PK\5\6", 0, 0, 1, 1, len(central), len(local), 0)
    (workdir / "w.npz").write_bytes(local + central + end)
    result = cli("run", MLP, workdir / "x.npy", "--weights", workdir / "w.npz", "-o", workdir / "out.npy")
    assert_refused(result, workdir, f"{workdir / 'w.npz'}: a member has an empty name")


def test_initializer_that_cannot_fill_its_weight_points_at_the_layer(cli, workdir):
    spec = workdir / "spec.yaml"
    spec.write_text("input: [784]\nlayers:\n  - units: 3\n  - {units: 2, bias_initializer: orthogonal}\n")
    message = (f"{spec}:4:5: error: layer 2 'dense_1' (Dense): weight 'bias': initializer 'orthogonal' needs a "
               "weight of rank >= 2, got shape (2,)")
    assert_refused(cli("run", spec, workdir / "x.npy", "-o", workdir / "out.npy"), workdir, message)
    assert_refused(cli("init", spec, "-o", workdir / "out.npy"), workdir, message)
