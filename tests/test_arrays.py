"""Tests of layerspec.arrays: safe reading of untrusted files, atomic writing."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import pickle
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import pytest

from layerspec import arrays
from layerspec.arrays import (
    atomic_output,
    check_finite,
    convert_floats,
    convert_integers,
    npy_writer,
    read_npy,
    read_npz,
    same_file,
    write_npy,
    write_npz,
)
from layerspec.errors import DataError, WeightsError

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")


# --------------------------------------------------------------------------
# helpers


def hand_npy(header: str, data: bytes = b"", version=(1, 0)) -> bytes:
    """An .npy file with a hand-written header (no padding, any content)."""
    body = header.encode("latin1") + b"\n"
    length = struct.pack("<H" if version == (1, 0) else "<I", len(body))
    return b"\x93NUMPY" + bytes(version) + length + body + data


def write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def message(excinfo) -> str:
    return str(excinfo.value)


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging forever (e.g. on opening a FIFO)."""
    def hang(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def zip_with(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def npy_bytes(array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, **kwargs)
    return buffer.getvalue()


def patch_central_directory(path, offset_in_entry: int, fmt: str, value: int):
    """Overwrite a field of the (single) central directory entry of a zip."""
    data = bytearray(path.read_bytes())
    entry = data.index(b"PK\x01\x02")
    struct.pack_into(fmt, data, entry + offset_in_entry, value)
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------
# read_npy: good files


def test_read_npy_round_trip(tmp_path):
    expected = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "x.npy", expected)
    result = read_npy(tmp_path / "x.npy")
    assert result.dtype == np.float32
    assert type(result) is np.ndarray
    np.testing.assert_array_equal(result, expected)


def test_read_npy_mmap_is_read_only_memmap(tmp_path):
    expected = np.arange(1000, dtype=np.float64).reshape(100, 10)
    np.save(tmp_path / "x.npy", expected)
    result = read_npy(str(tmp_path / "x.npy"), mmap=True)
    assert isinstance(result, np.memmap)
    assert not result.flags.writeable
    np.testing.assert_array_equal(result, expected)
    with pytest.raises(ValueError):
        result[0, 0] = 1.0


@pytest.mark.parametrize("mmap", [False, True])
def test_read_npy_zero_rows(tmp_path, mmap):
    np.save(tmp_path / "x.npy", np.zeros((0, 3), dtype=np.float32))
    result = read_npy(tmp_path / "x.npy", mmap=mmap)
    assert result.shape == (0, 3)
    assert result.dtype == np.float32
    if mmap:
        assert not result.flags.writeable


@pytest.mark.parametrize("mmap", [False, True])
def test_big_endian_and_fortran_arrays_give_the_same_values(tmp_path, mmap):
    values = np.arange(24, dtype=np.float64).reshape(4, 6) / 7
    np.save(tmp_path / "native.npy", values)
    np.save(tmp_path / "big.npy", values.astype(">f8"))
    np.save(tmp_path / "fortran.npy", np.asfortranarray(values))
    big = read_npy(tmp_path / "big.npy", mmap=mmap)
    fortran = read_npy(tmp_path / "fortran.npy", mmap=mmap)
    assert big.dtype == np.dtype(">f8")
    assert fortran.flags.f_contiguous and not fortran.flags.c_contiguous
    np.testing.assert_array_equal(big, values)
    np.testing.assert_array_equal(fortran, values)
    for array in (big, fortran, read_npy(tmp_path / "native.npy", mmap=mmap)):
        converted = convert_floats(array, np.float32, "x.npy")
        assert converted.dtype == np.dtype("=f4") and converted.flags.c_contiguous
        np.testing.assert_array_equal(converted, values.astype(np.float32))


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_read_npy_accepts_every_format_version(tmp_path, version):
    expected = np.arange(6, dtype=np.int16)
    write_bytes(tmp_path / "x.npy", npy_bytes(expected, version=version))
    np.testing.assert_array_equal(read_npy(tmp_path / "x.npy"), expected)


def test_read_npy_accepts_python2_headers_without_warning(tmp_path):
    path = write_bytes(
        tmp_path / "x.npy",
        hand_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2L,), }",
                 struct.pack("<2q", 5, 7)))
    np.testing.assert_array_equal(read_npy(path), [5, 7])


def test_read_npy_folds_a_subarray_dtype_into_the_shape(tmp_path):
    path = write_bytes(
        tmp_path / "x.npy",
        hand_npy("{'descr': ('<i2', (3,)), 'fortran_order': False, 'shape': (2,), }",
                 struct.pack("<6h", 1, 2, 3, 4, 5, 6)))
    result = read_npy(path)
    assert result.dtype == np.int16
    np.testing.assert_array_equal(result, [[1, 2, 3], [4, 5, 6]])


def test_read_npy_structured_dtype_without_objects_is_fine(tmp_path):
    expected = np.array([(1, 2.5)], dtype=[("a", "<i4"), ("b", "<f8")])
    np.save(tmp_path / "x.npy", expected)
    np.testing.assert_array_equal(read_npy(tmp_path / "x.npy"), expected)


# --------------------------------------------------------------------------
# read_npy: bad files


def test_read_npy_refuses_a_pickle(tmp_path):
    path = tmp_path / "x.npy"
    with open(path, "wb") as file:
        pickle.dump({"evil": True}, file)
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == (
        f"{path}: not an .npy file: it is a Python pickle, which is never loaded")


def test_read_npy_refuses_random_bytes(tmp_path):
    path = write_bytes(tmp_path / "x.npy", bytes(range(7, 256)) * 3)
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == (
        f"{path}: not an .npy file: it does not start with the .npy magic string")


def test_read_npy_refuses_an_empty_file(tmp_path):
    path = write_bytes(tmp_path / "x.npy", b"")
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == f"{path}: not an .npy file: the file is empty"


def test_read_npy_refuses_an_npz(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    path = tmp_path / "x.npz"
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == f"{path}: not an .npy file: it is a zip archive (an .npz?)"


def test_read_npy_refuses_object_arrays(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == (
        f"{path}: arrays of Python objects (dtype object) are refused: "
        "reading them would need unpickling")


def test_read_npy_refuses_a_dtype_containing_objects(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros(2, dtype=[("a", "O"), ("b", "<f8")]), allow_pickle=True)
    with pytest.raises(DataError) as excinfo:
        read_npy(path, mmap=True)
    assert message(excinfo) == (
        f"{path}: arrays of Python objects (dtype [('a', 'O'), ('b', '<f8')]) are refused: "
        "reading them would need unpickling")


@pytest.mark.parametrize("mmap", [False, True])
def test_read_npy_refuses_a_truncated_file(tmp_path, mmap):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(30, dtype="<f4").reshape(10, 3))
    os.truncate(path, path.stat().st_size - 60)
    with pytest.raises(DataError) as excinfo:
        read_npy(path, mmap=mmap)
    assert message(excinfo) == (
        f"{path}: the file is truncated: its header declares shape (10, 3) float32, "
        "which needs 120 bytes of data, but only 60 bytes follow the header")


@pytest.mark.parametrize("mmap", [False, True])
def test_read_npy_refuses_trailing_garbage(tmp_path, mmap):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(6.0))
    with open(path, "ab") as file:
        file.write(b"garbage")
    with pytest.raises(DataError) as excinfo:
        read_npy(path, mmap=mmap)
    assert message(excinfo) == f"{path}: 7 unexpected bytes after the array data"


def test_read_npy_refuses_a_huge_shape_without_allocating(tmp_path):
    path = write_bytes(
        tmp_path / "x.npy",
        hand_npy("{'descr': '<f8', 'fortran_order': False, "
                 f"'shape': ({10**12}, {10**12}, {2**70}), }}",
                 b"\0" * 16))
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    needs = 8 * 10**24 * 2**70
    assert message(excinfo) == (
        f"{path}: the file is truncated: its header declares shape "
        f"(1000000000000, 1000000000000, {2**70}) float64, "
        f"which needs {needs} bytes of data, but only 16 bytes follow the header")


@pytest.mark.parametrize("shape", ["(-1, 3)", "(True, 3)", "(3, -5)"])
def test_read_npy_refuses_negative_or_boolean_sizes(tmp_path, shape):
    path = write_bytes(
        tmp_path / "x.npy",
        hand_npy(f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}"))
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == (
        f"{path}: malformed .npy header: shape {shape} is not a tuple of non-negative integers")


def test_read_npy_refuses_non_integer_sizes(tmp_path):
    path = write_bytes(
        tmp_path / "x.npy",
        hand_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2.5,), }"))
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == f"{path}: malformed .npy header: shape is not valid: (2.5,)"


def test_read_npy_refuses_an_unsupported_version(tmp_path):
    path = write_bytes(tmp_path / "x.npy", hand_npy("{}", version=(9, 0))[:8] + b"\0" * 20)
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == (
        f"{path}: unsupported .npy format version 9.0 (supported: 1.0, 2.0, 3.0)")


@pytest.mark.parametrize("version, length", [((1, 0), 60000), ((2, 0), 2**31)])
def test_read_npy_refuses_a_too_long_header(tmp_path, version, length):
    fmt = "<H" if version == (1, 0) else "<I"
    path = write_bytes(
        tmp_path / "x.npy", b"\x93NUMPY" + bytes(version) + struct.pack(fmt, length) + b"{")
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == (
        f"{path}: .npy header is {length} bytes long, more than the 10000 allowed")


@pytest.mark.parametrize("header, reason", [
    ("{'descr': '<f8', 'shape': (3,)}",
     "Header does not contain the correct keys: ['descr', 'shape']"),
    ("{'descr': 'zz9', 'fortran_order': False, 'shape': (3,), }",
     "descr is not a valid dtype descriptor: 'zz9'"),
    ("{'descr': '<f8', 'fortran_order': 'no', 'shape': (3,), }",
     "fortran_order is not a valid bool: 'no'"),
    ("[1, 2]", "Header is not a dictionary: [1, 2]"),
    ("{'descr': [('a',)], 'fortran_order': False, 'shape': (3,), }", None),
    ("__import__('os').system('echo pwned')", "it is not a Python literal"),
    ("{{{{{{{{{{", None),
])
def test_read_npy_refuses_a_malformed_header(tmp_path, header, reason):
    path = write_bytes(tmp_path / "x.npy", hand_npy(header, b"\0" * 24))
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    prefix = f"{path}: malformed .npy header: "
    assert message(excinfo).startswith(prefix)
    if reason is not None:
        assert message(excinfo) == prefix + reason


def test_read_npy_refuses_a_header_cut_short(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(3.0))
    os.truncate(path, 20)
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == (
        f"{path}: malformed .npy header: EOF: reading array header, expected 118 bytes got 10")
    os.truncate(path, 9)
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == f"{path}: malformed .npy header: the file ends inside the header"


def test_read_npy_refuses_zero_size_items(tmp_path):
    path = write_bytes(
        tmp_path / "x.npy", hand_npy("{'descr': '|S0', 'fortran_order': False, 'shape': (5,), }"))
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == f"{path}: dtype |S0 has zero-size items"


def test_read_npy_refuses_too_many_dimensions(tmp_path):
    shape = (1,) * 40
    path = write_bytes(
        tmp_path / "x.npy",
        hand_npy(f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}", b"\0" * 8))
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == (
        f"{path}: malformed .npy header: shape has 40 dimensions, more than the 32 supported")


def test_read_npy_refuses_a_directory(tmp_path):
    with pytest.raises(DataError) as excinfo:
        read_npy(tmp_path)
    assert message(excinfo) == f"cannot read {tmp_path}: it is a directory"


def test_read_npy_refuses_a_missing_file(tmp_path):
    path = tmp_path / "missing.npy"
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == f"cannot read {path}: No such file or directory"


@needs_fifo
@pytest.mark.parametrize("mmap", [False, True])
def test_read_npy_refuses_a_fifo_without_hanging(tmp_path, mmap):
    path = tmp_path / "pipe.npy"
    os.mkfifo(path)
    with deadline(5), pytest.raises(DataError) as excinfo:
        read_npy(path, mmap=mmap)
    assert message(excinfo) == f"cannot read {path}: it is a FIFO (named pipe), not a regular file"


def test_read_npy_refuses_a_character_device():
    if not os.path.exists("/dev/zero"):
        pytest.skip("needs /dev/zero")
    with deadline(5), pytest.raises(DataError) as excinfo:
        read_npy("/dev/zero")
    assert message(excinfo) == "cannot read /dev/zero: it is a character device, not a regular file"


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="needs POSIX permissions that apply (not root)")
def test_read_npy_refuses_an_unreadable_file(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros(3))
    path.chmod(0)
    with pytest.raises(DataError) as excinfo:
        read_npy(path)
    assert message(excinfo) == f"cannot read {path}: Permission denied"


# --------------------------------------------------------------------------
# convert_floats


@pytest.mark.parametrize("source_dtype", ["<f2", ">f2", "<f4", ">f4", "<f8", ">f8"])
@pytest.mark.parametrize("target", [np.float32, np.float64])
def test_convert_floats_accepts_floats_of_every_width_and_byte_order(source_dtype, target):
    values = np.array([[0.5, -2.0], [1024.0, 0.0]], dtype=source_dtype)
    result = convert_floats(values, target, "x.npy")
    assert result.dtype == np.dtype(target) and result.dtype.isnative
    assert result.flags.c_contiguous
    np.testing.assert_array_equal(result, values.astype(target))


def test_convert_floats_rounds_float64_to_float32():
    result = convert_floats(np.array([0.1, 1 / 3]), np.float32, "x.npy")
    np.testing.assert_array_equal(result, np.array([0.1, 1 / 3], dtype=np.float32))


def test_convert_floats_refuses_float32_overflow():
    values = np.array([[1.0, 2.0], [3.0, -1e300]])
    with pytest.raises(DataError) as excinfo:
        convert_floats(values, np.float32, "x.npy")
    assert message(excinfo) == "x.npy: value -1e+300 at index (1, 1) is too large for float32"


def test_convert_floats_keeps_nonfinite_values_for_check_finite():
    result = convert_floats(np.array([np.nan, np.inf, -np.inf]), np.float32, "x.npy")
    assert np.isnan(result[0]) and result[1] == np.inf and result[2] == -np.inf


def test_convert_floats_makes_fortran_input_c_contiguous():
    values = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    result = convert_floats(values, np.float32, "x.npy")
    assert result.flags.c_contiguous
    np.testing.assert_array_equal(result, values)


def test_convert_floats_does_not_copy_what_is_already_right():
    values = np.arange(6, dtype=np.float32)
    assert np.shares_memory(convert_floats(values, np.float32, "x.npy"), values)


@pytest.mark.parametrize("dtype", [
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", ">i4", ">u8"])
def test_convert_floats_accepts_small_integers(dtype):
    values = np.array([[0, 1], [7, 100]], dtype=dtype)
    result = convert_floats(values, np.float32, "x.npy")
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, [[0, 1], [7, 100]])


def test_convert_floats_accepts_integers_up_to_the_exact_limit():
    edge = np.array([2**24, -(2**24)], dtype=np.int64)
    np.testing.assert_array_equal(convert_floats(edge, np.float32, "x.npy"), edge)
    edge = np.array([2**53, -(2**53)], dtype=np.int64)
    assert convert_floats(edge, np.float64, "x.npy").tolist() == [2.0**53, -(2.0**53)]


@pytest.mark.parametrize("values, dtype, target, expected", [
    ([[0, 2**24 + 1]], "int32", np.float32,
     "x.npy: integer 16777217 at index (0, 1) cannot be represented exactly as float32 "
     "(integers must be between -16777216 and 16777216)"),
    ([5, -(2**24) - 1], ">i8", np.float32,
     "x.npy: integer -16777217 at index (1,) cannot be represented exactly as float32 "
     "(integers must be between -16777216 and 16777216)"),
    ([2**53 + 1], "int64", np.float64,
     "x.npy: integer 9007199254740993 at index (0,) cannot be represented exactly as float64 "
     "(integers must be between -9007199254740992 and 9007199254740992)"),
    ([1, 2**64 - 1], "uint64", np.float64,
     "x.npy: integer 18446744073709551615 at index (1,) cannot be represented exactly as "
     "float64 (integers must be between -9007199254740992 and 9007199254740992)"),
])
def test_convert_floats_refuses_inexact_integers(values, dtype, target, expected):
    with pytest.raises(DataError) as excinfo:
        convert_floats(np.array(values, dtype=dtype), target, "x.npy")
    assert message(excinfo) == expected


def test_convert_floats_accepts_booleans():
    result = convert_floats(np.array([True, False]), np.float64, "x.npy")
    assert result.dtype == np.float64 and result.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("array, described", [
    (np.zeros(2, dtype=np.complex128), "complex128"),
    (np.zeros(2, dtype=">c8"), "complex64 (big-endian)"),
    (np.array(["ab", "c"]), "string (<U2)"),
    (np.array([b"abc"]), "bytes (|S3)"),
    (np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]), "structured [('a', '<i4'), ('b', '<f8')]"),
    (np.zeros(2, dtype="V4"), "raw bytes (|V4)"),
    (np.array([None], dtype=object), "object"),
    (np.zeros(2, dtype="datetime64[s]"), "datetime64[s]"),
    (np.zeros(2, dtype="timedelta64[ns]"), "timedelta64[ns]"),
])
def test_convert_floats_refuses_other_dtypes(array, described):
    with pytest.raises(DataError) as excinfo:
        convert_floats(array, np.float32, "in.npy")
    assert message(excinfo) == f"in.npy: expected a float array (float32), got {described}"


def test_convert_floats_refuses_a_non_float_target():
    with pytest.raises(ValueError):
        convert_floats(np.zeros(2), np.int32, "x.npy")


def test_convert_floats_works_on_memmap_slices(tmp_path):
    values = np.arange(40, dtype=">f8").reshape(10, 4)
    np.save(tmp_path / "x.npy", values)
    mapped = read_npy(tmp_path / "x.npy", mmap=True)
    chunks = [convert_floats(mapped[start:start + 3], np.float32, "x.npy")
              for start in range(0, 10, 3)]
    assert all(chunk.dtype == np.float32 and chunk.flags.c_contiguous for chunk in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), values.astype(np.float32))


def test_convert_floats_names_the_index_within_a_slice(tmp_path):
    values = np.zeros((10, 4), dtype=np.int64)
    values[7, 2] = 2**30
    np.save(tmp_path / "x.npy", values)
    mapped = read_npy(tmp_path / "x.npy", mmap=True)
    convert_floats(mapped[:5], np.float32, "x.npy")
    with pytest.raises(DataError, match=r"^x\.npy: integer 1073741824 at index \(2, 2\) "):
        convert_floats(mapped[5:], np.float32, "x.npy")


# --------------------------------------------------------------------------
# convert_integers


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint16", "uint64", ">i4", ">u2"])
def test_convert_integers_accepts_integers(dtype):
    result = convert_integers(np.array([[3, 0], [1, 9]], dtype=dtype), "ids.npy")
    assert result.dtype == np.int64 and result.dtype.isnative and result.flags.c_contiguous
    np.testing.assert_array_equal(result, [[3, 0], [1, 9]])


def test_convert_integers_does_not_copy_native_int64():
    values = np.arange(5, dtype=np.int64)
    assert np.shares_memory(convert_integers(values, "ids.npy"), values)


def test_convert_integers_refuses_uint64_beyond_int64():
    with pytest.raises(DataError) as excinfo:
        convert_integers(np.array([1, 2**64 - 1], dtype=np.uint64), "ids.npy")
    assert message(excinfo) == (
        "ids.npy: value 18446744073709551615 at index (1,) is outside the int64 range")


@pytest.mark.parametrize("dtype", ["<f2", "<f4", ">f8"])
def test_convert_integers_accepts_integral_floats(dtype):
    result = convert_integers(np.array([[1.0, 0.0], [-3.0, 2048.0]], dtype=dtype), "ids.npy")
    assert result.dtype == np.int64
    np.testing.assert_array_equal(result, [[1, 0], [-3, 2048]])


@pytest.mark.parametrize("values, expected", [
    ([[1.0, 2.5]], "ids.npy: value 2.5 at index (0, 1) is not an integer"),
    ([[1.0, 2.0], [np.nan, 1.0]], "ids.npy: value nan at index (1, 0) is not an integer"),
    ([np.inf], "ids.npy: value inf at index (0,) is not an integer"),
    ([-np.inf], "ids.npy: value -inf at index (0,) is not an integer"),
    ([1.0, 1e19], "ids.npy: value 1e+19 at index (1,) is outside the int64 range"),
    ([-1e300], "ids.npy: value -1e+300 at index (0,) is outside the int64 range"),
])
def test_convert_integers_refuses_non_integral_floats(values, expected):
    with pytest.raises(DataError) as excinfo:
        convert_integers(np.array(values), "ids.npy")
    assert message(excinfo) == expected


@pytest.mark.parametrize("array, described", [
    (np.array([True]), "bool"),
    (np.zeros(2, dtype=np.complex64), "complex64"),
    (np.array(["1"]), "string (<U1)"),
    (np.array([b"1"]), "bytes (|S1)"),
    (np.array([None], dtype=object), "object"),
    (np.zeros(1, dtype=[("a", "<i4")]), "structured [('a', '<i4')]"),
    (np.zeros(1, dtype="datetime64[D]"), "datetime64[D]"),
])
def test_convert_integers_refuses_other_dtypes(array, described):
    with pytest.raises(DataError) as excinfo:
        convert_integers(array, "ids.npy")
    assert message(excinfo) == f"ids.npy: expected an integer array, got {described}"


# --------------------------------------------------------------------------
# check_finite


def test_check_finite_names_the_first_index_and_value():
    values = np.zeros((6, 20), dtype=np.float32)
    values[5, 0] = np.inf
    values[3, 17] = np.nan
    with pytest.raises(DataError) as excinfo:
        check_finite(values, "in.npy")
    assert message(excinfo) == (
        "in.npy: non-finite value nan at index (3, 17); pass --allow-nonfinite to accept it")


@pytest.mark.parametrize("value, shown", [(np.inf, "inf"), (-np.inf, "-inf")])
def test_check_finite_reports_infinities(value, shown):
    values = np.ones(4, dtype=">f8")
    values[2] = value
    with pytest.raises(DataError) as excinfo:
        check_finite(values, "in.npy")
    assert message(excinfo) == (
        f"in.npy: non-finite value {shown} at index (2,); pass --allow-nonfinite to accept it")


def test_check_finite_scalar_index_is_an_empty_tuple():
    with pytest.raises(DataError, match=r"^in\.npy: non-finite value nan at index \(\);"):
        check_finite(np.array(np.nan), "in.npy")


def test_check_finite_passes_finite_and_integer_arrays():
    assert check_finite(np.arange(5.0), "in.npy") is None
    assert check_finite(np.arange(5), "in.npy") is None
    assert check_finite(np.zeros((0, 3)), "in.npy") is None


# --------------------------------------------------------------------------
# read_npz / write_npz


def test_write_npz_round_trips_through_read_npz_and_np_load(tmp_path):
    path = tmp_path / "w.npz"
    weights = {
        "dense/kernel": np.arange(12, dtype=np.float32).reshape(3, 4),
        "dense/bias": np.zeros(4, dtype=np.float32),
        "embedding/embeddings": np.ones((2, 2), dtype=np.float64),
        "scalar": np.array(3.5),
    }
    write_npz(path, weights)
    result = read_npz(path)
    assert list(result) == list(weights)
    for key, expected in weights.items():
        assert result[key].dtype == expected.dtype
        np.testing.assert_array_equal(result[key], expected)
    with np.load(path) as loaded:
        assert sorted(loaded.files) == sorted(weights)
        for key, expected in weights.items():
            np.testing.assert_array_equal(loaded[key], expected)
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == [f"{key}.npy" for key in weights]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())


def test_write_npz_is_deterministic(tmp_path):
    weights = {"a/kernel": np.arange(3.0)}
    write_npz(tmp_path / "1.npz", weights)
    write_npz(tmp_path / "2.npz", weights)
    assert (tmp_path / "1.npz").read_bytes() == (tmp_path / "2.npz").read_bytes()


def test_write_npz_refuses_keys_that_would_not_read_back(tmp_path):
    path = tmp_path / "w.npz"
    with pytest.raises(WeightsError) as excinfo:
        write_npz(path, {"ok": np.zeros(1), "../x": np.zeros(1)})
    assert message(excinfo) == f"cannot write {path}: key '../x' contains a '..' path part"
    assert os.listdir(tmp_path) == []


def test_read_npz_reads_np_savez_and_savez_compressed(tmp_path):
    values = {"a": np.arange(5), "b": np.eye(3, dtype=np.float32)}
    np.savez(tmp_path / "plain.npz", **values)
    np.savez_compressed(tmp_path / "packed.npz", **values)
    for name in ("plain.npz", "packed.npz"):
        result = read_npz(tmp_path / name)
        assert sorted(result) == ["a", "b"]
        for key in values:
            np.testing.assert_array_equal(result[key], values[key])


def test_read_npz_skips_directory_entries(tmp_path):
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("dense/"), b"")
        archive.writestr("dense/bias.npy", npy_bytes(np.arange(2.0)))
    assert list(read_npz(path)) == ["dense/bias"]


def test_read_npz_refuses_a_missing_file(tmp_path):
    path = tmp_path / "w.npz"
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == f"cannot read {path}: No such file or directory"


def test_read_npz_refuses_a_directory(tmp_path):
    with pytest.raises(WeightsError) as excinfo:
        read_npz(tmp_path)
    assert message(excinfo) == f"cannot read {tmp_path}: it is a directory"


@needs_fifo
def test_read_npz_refuses_a_fifo_without_hanging(tmp_path):
    path = tmp_path / "w.npz"
    os.mkfifo(path)
    with deadline(5), pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == f"cannot read {path}: it is a FIFO (named pipe), not a regular file"


@pytest.mark.parametrize("content", [b"", b"this is not a zip file at all" * 10])
def test_read_npz_refuses_a_non_zip(tmp_path, content):
    path = write_bytes(tmp_path / "w.npz", content)
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == f"{path}: not a valid .npz (zip) archive: File is not a zip file"


def test_read_npz_refuses_a_truncated_zip(tmp_path):
    path = tmp_path / "w.npz"
    write_npz(path, {"a": np.arange(100.0)})
    os.truncate(path, path.stat().st_size - 30)
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo).startswith(f"{path}: not a valid .npz (zip) archive: ")


def test_read_npz_refuses_a_crc_error(tmp_path):
    path = zip_with(tmp_path / "w.npz", {"a.npy": npy_bytes(np.zeros(50))})
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF  # inside the stored member's array data
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == f"{path}: member 'a.npy' is corrupt: Bad CRC-32 for file 'a.npy'"


@pytest.mark.parametrize("member, problem", [
    ("../evil.npy", "contains a '..' path part"),
    ("dense/../../evil.npy", "contains a '..' path part"),
    ("/etc/evil.npy", "is an absolute path"),
    ("C:/evil.npy", "is an absolute path"),
    ("dense\\kernel.npy", "contains a backslash"),
    ("notes.txt", "does not end in .npy"),
    ("dense/.npy", "has no name before .npy"),
])
def test_read_npz_refuses_bad_member_names(tmp_path, member, problem):
    path = zip_with(tmp_path / "w.npz", {"good.npy": npy_bytes(np.zeros(2)),
                                         member: npy_bytes(np.zeros(2))})
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == f"{path}: member {member!r} {problem}"


def test_read_npz_refuses_a_member_that_is_not_npy(tmp_path):
    path = zip_with(tmp_path / "w.npz", {"x.npy": b"just some text\n"})
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == (
        f"{path}: member 'x.npy': not an .npy file: it does not start with the .npy magic string")


def test_read_npz_refuses_a_pickled_member(tmp_path):
    path = zip_with(tmp_path / "w.npz", {"x.npy": pickle.dumps([1, 2, 3])})
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == (
        f"{path}: member 'x.npy': not an .npy file: it is a Python pickle, which is never loaded")


def test_read_npz_refuses_an_object_member(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, a=np.arange(2), b=np.array([{"x": 1}], dtype=object))
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == (
        f"{path}: member 'b.npy': arrays of Python objects (dtype object) are refused: "
        "reading them would need unpickling")


def test_read_npz_refuses_a_member_with_trailing_garbage(tmp_path):
    path = zip_with(tmp_path / "w.npz", {"a.npy": npy_bytes(np.zeros(2)) + b"xyz"})
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == f"{path}: member 'a.npy': 3 unexpected bytes after the array data"


def test_read_npz_refuses_duplicate_members(tmp_path):
    path = tmp_path / "w.npz"
    with pytest.warns(UserWarning, match="Duplicate name"):
        zip_with(path, {"a.npy": npy_bytes(np.zeros(2))})
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("a.npy", npy_bytes(np.ones(2)))
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == f"{path}: member 'a.npy' appears more than once"


def test_read_npz_refuses_an_encrypted_member(tmp_path):
    path = zip_with(tmp_path / "w.npz", {"a.npy": npy_bytes(np.zeros(2))})
    patch_central_directory(path, 8, "<H", 0x1)  # general purpose flag: encrypted
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == f"{path}: member 'a.npy' is encrypted"


def test_read_npz_refuses_a_zip_bomb(tmp_path):
    path = zip_with(tmp_path / "w.npz",
                    {"bomb.npy": npy_bytes(np.zeros(10 * 2**20, dtype=np.uint8))},
                    compression=zipfile.ZIP_DEFLATED)
    size = path.stat().st_size
    assert size < 100_000
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path, max_bytes=2**20)
    assert message(excinfo) == (
        f"{path}: member 'bomb.npy' would bring the uncompressed size to {10 * 2**20 + 128} "
        f"bytes, more than the 1048576 allowed for this {size}-byte archive")
    assert read_npz(path)["bomb"].shape == (10 * 2**20,)  # the default limit allows 64 MiB


def test_read_npz_refuses_a_member_declaring_a_huge_size(tmp_path):
    path = zip_with(tmp_path / "w.npz", {"a.npy": npy_bytes(np.zeros(4))})
    patch_central_directory(path, 24, "<I", 0xFFFFFFF0)  # uncompressed size
    size = path.stat().st_size
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == (
        f"{path}: member 'a.npy' would bring the uncompressed size to {0xFFFFFFF0} bytes, "
        f"more than the {64 * 2**20} allowed for this {size}-byte archive")


def test_read_npz_size_limit_counts_all_members(tmp_path):
    path = zip_with(tmp_path / "w.npz", {"a.npy": npy_bytes(np.zeros(100)),
                                         "b.npy": npy_bytes(np.zeros(100))})
    size = path.stat().st_size
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path, max_bytes=1000)
    assert message(excinfo) == (
        f"{path}: member 'b.npy' would bring the uncompressed size to 1856 bytes, "
        f"more than the 1000 allowed for this {size}-byte archive")


def test_read_npz_size_limit_grows_with_the_archive(tmp_path):
    path = zip_with(tmp_path / "w.npz", {"a.npy": npy_bytes(np.zeros(4))})
    patch_central_directory(path, 24, "<I", 0xFFFFFFF0)  # uncompressed size
    size = path.stat().st_size
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path, max_ratio=1_000_000)
    assert message(excinfo) == (
        f"{path}: member 'a.npy' would bring the uncompressed size to {0xFFFFFFF0} bytes, "
        f"more than the {1_000_000 * size} allowed for this {size}-byte archive")


def test_read_npz_stops_at_the_declared_size(tmp_path):
    path = zip_with(tmp_path / "w.npz", {"a.npy": npy_bytes(np.zeros(1000))},
                    compression=zipfile.ZIP_DEFLATED)
    patch_central_directory(path, 24, "<I", 200)  # claims to inflate to 200 bytes only
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == f"{path}: member 'a.npy' is corrupt: Bad CRC-32 for file 'a.npy'"


def test_read_npz_stops_reading_a_member_past_its_declared_size(tmp_path, monkeypatch):
    """Even if zipfile itself did not stop, at most declared + 1 bytes are read."""
    path = zip_with(tmp_path / "w.npz", {"a.npy": npy_bytes(np.zeros(1000))})
    requested = []

    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def read(self, n=-1):
            requested.append(n)
            return b"\0" * n

    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info: Endless())
    with pytest.raises(WeightsError) as excinfo:
        read_npz(path)
    assert message(excinfo) == (
        f"{path}: member 'a.npy' is corrupt: it inflates to more bytes than the 8128 it declares")
    assert sum(requested) == 8129


def test_read_npz_empty_archive(tmp_path):
    write_npz(tmp_path / "w.npz", {})
    assert read_npz(tmp_path / "w.npz") == {}


# --------------------------------------------------------------------------
# atomic_output


def test_atomic_output_writes_the_file(tmp_path):
    path = tmp_path / "out.bin"
    with atomic_output(path) as file:
        file.write(b"hello")
        temps = [name for name in os.listdir(tmp_path) if name != "out.bin"]
        assert len(temps) == 1
        assert temps[0].startswith(".out.bin.") and temps[0].endswith(".tmp")
        assert not path.exists()
    assert path.read_bytes() == b"hello"
    assert os.listdir(tmp_path) == ["out.bin"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_atomic_output_gives_the_usual_mode_of_a_new_file(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    with atomic_output(tmp_path / "out.bin") as file:
        file.write(b"x")
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("exception", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_output_leaves_the_target_unchanged_on_error(tmp_path, exception):
    path = tmp_path / "out.npy"
    path.write_bytes(b"original contents")
    with pytest.raises(type(exception)):
        with atomic_output(path) as file:
            file.write(b"partial")
            file.flush()
            raise exception
    assert path.read_bytes() == b"original contents"
    assert os.listdir(tmp_path) == ["out.npy"]


def test_atomic_output_leaves_no_file_on_error_without_a_target(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(tmp_path / "out.npy") as file:
            file.write(b"partial")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_atomic_output_refuses_a_missing_directory(tmp_path):
    path = tmp_path / "missing" / "out.npy"
    with pytest.raises(DataError) as excinfo:
        with atomic_output(path):
            pass
    assert message(excinfo) == f"cannot write {path}: No such file or directory"


def test_atomic_output_refuses_a_parent_that_is_a_file(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    path = tmp_path / "file" / "out.npy"
    with pytest.raises(DataError) as excinfo:
        write_npy(path, np.zeros(2))
    assert message(excinfo) == f"cannot write {path}: Not a directory"


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_atomic_output_refuses_an_unwritable_directory(tmp_path):
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        with pytest.raises(DataError) as excinfo:
            write_npy(directory / "out.npy", np.zeros(2))
        assert message(excinfo) == f"cannot write {directory / 'out.npy'}: Permission denied"
    finally:
        directory.chmod(0o700)


def test_atomic_output_reports_permission_denied(tmp_path, monkeypatch):
    """The same failure simulated, so that it is tested when running as root."""
    def denied(**kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(arrays.tempfile, "mkstemp", denied)
    with pytest.raises(DataError) as excinfo:
        write_npy(tmp_path / "out.npy", np.zeros(2))
    assert message(excinfo) == f"cannot write {tmp_path / 'out.npy'}: Permission denied"


def test_atomic_output_refuses_a_directory_target(tmp_path):
    (tmp_path / "out.npy").mkdir()
    with pytest.raises(DataError) as excinfo:
        with atomic_output(tmp_path / "out.npy"):
            pass
    assert message(excinfo) == f"cannot write {tmp_path / 'out.npy'}: it is a directory"
    assert os.listdir(tmp_path) == ["out.npy"]


def test_atomic_output_turns_a_full_disk_into_a_data_error(tmp_path):
    path = tmp_path / "out.npy"
    path.write_bytes(b"original")
    with pytest.raises(DataError) as excinfo:
        with atomic_output(path) as file:
            file.write(b"some")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert message(excinfo) == f"cannot write {path}: No space left on device"
    assert path.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["out.npy"]


class FullDisk(io.BufferedWriter):
    """A file whose every write fails as on a full disk."""

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("writer", [
    lambda path: write_npy(path, np.arange(1000.0)),
    lambda path: write_npz(path, {"a/b": np.arange(1000.0)}),
])
def test_writers_turn_a_full_disk_into_a_data_error(tmp_path, monkeypatch, writer):
    path = tmp_path / "out"
    path.write_bytes(b"original")
    real_fdopen = os.fdopen

    def full_disk_fdopen(fd, mode="r", *args, **kwargs):
        if mode == "wb":
            return FullDisk(io.FileIO(fd, "w"))
        return real_fdopen(fd, mode, *args, **kwargs)

    monkeypatch.setattr(arrays.os, "fdopen", full_disk_fdopen)
    with pytest.raises(DataError) as excinfo:
        writer(path)
    monkeypatch.undo()
    assert message(excinfo) == f"cannot write {path}: No space left on device"
    assert path.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["out"]


# --------------------------------------------------------------------------
# write_npy


def test_write_npy_uses_the_path_exactly_as_given(tmp_path):
    path = tmp_path / "result.out"
    values = np.arange(6, dtype=">f4").reshape(2, 3)
    write_npy(path, values)
    assert os.listdir(tmp_path) == ["result.out"]
    np.testing.assert_array_equal(np.load(path), values)
    np.testing.assert_array_equal(read_npy(path), values)


def test_write_npy_replaces_an_existing_file(tmp_path):
    path = tmp_path / "out.npy"
    path.write_bytes(b"old")
    write_npy(path, np.arange(3))
    np.testing.assert_array_equal(read_npy(path), [0, 1, 2])


def test_write_npy_refuses_objects_and_leaves_the_target_alone(tmp_path):
    path = tmp_path / "out.npy"
    path.write_bytes(b"original")
    with pytest.raises(ValueError):
        write_npy(path, np.array([{}], dtype=object))
    assert path.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["out.npy"]


# --------------------------------------------------------------------------
# npy_writer


def test_npy_writer_streams_batches(tmp_path):
    path = tmp_path / "out.npy"
    expected = np.arange(50, dtype=np.float32).reshape(10, 5)
    with npy_writer(path, (10, 5), np.float32) as output:
        assert not path.exists()
        assert output.shape == (10, 5) and output.dtype == np.float32
        for start in range(0, 10, 4):
            output[start:start + 4] = expected[start:start + 4]
    np.testing.assert_array_equal(read_npy(path), expected)
    np.testing.assert_array_equal(np.load(path), expected)
    assert os.listdir(tmp_path) == ["out.npy"]


@pytest.mark.parametrize("exception", [RuntimeError("boom"), KeyboardInterrupt()])
def test_npy_writer_removes_the_temporary_file_on_error(tmp_path, exception):
    path = tmp_path / "out.npy"
    path.write_bytes(b"original")
    with pytest.raises(type(exception)):
        with npy_writer(path, (100, 3), np.float64) as output:
            output[:50] = 1.0
            raise exception
    assert path.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["out.npy"]


@pytest.mark.parametrize("shape", [(0, 4), (0,), (3, 0, 2)])
def test_npy_writer_zero_rows(tmp_path, shape):
    path = tmp_path / "out.npy"
    with npy_writer(path, shape, np.float32) as output:
        assert output.shape == shape
    result = read_npy(path)
    assert result.shape == shape and result.dtype == np.float32
    assert np.load(path).shape == shape


def test_npy_writer_scalar_and_other_dtypes(tmp_path):
    with npy_writer(tmp_path / "a.npy", (), np.int64) as output:
        output[()] = 42
    assert read_npy(tmp_path / "a.npy")[()] == 42
    with npy_writer(tmp_path / "b.npy", [3], ">f8") as output:
        output[:] = [1.5, 2.5, 3.5]
    assert read_npy(tmp_path / "b.npy").tolist() == [1.5, 2.5, 3.5]


def test_npy_writer_refuses_a_missing_directory(tmp_path):
    path = tmp_path / "missing" / "out.npy"
    with pytest.raises(DataError) as excinfo:
        with npy_writer(path, (2,), np.float32):
            pass
    assert message(excinfo) == f"cannot write {path}: No such file or directory"


def test_npy_writer_refuses_object_dtype(tmp_path):
    with pytest.raises(ValueError):
        with npy_writer(tmp_path / "out.npy", (2,), object):
            pass
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------
# same_file


def test_same_file(tmp_path):
    first = tmp_path / "a.npy"
    first.write_bytes(b"a")
    other = tmp_path / "b.npy"
    other.write_bytes(b"a")
    assert same_file(first, first)
    assert same_file(first, tmp_path / "." / "a.npy")
    assert not same_file(first, other)
    assert not same_file(first, tmp_path / "missing.npy")
    assert not same_file(tmp_path / "missing.npy", tmp_path / "missing.npy")
    if hasattr(os, "symlink"):
        (tmp_path / "link.npy").symlink_to(first)
        assert same_file(tmp_path / "link.npy", first)
    if hasattr(os, "link"):
        os.link(first, tmp_path / "hard.npy")
        assert same_file(tmp_path / "hard.npy", first)


# --------------------------------------------------------------------------
# Outputs that are not regular files: FIFOs, devices, links, streams


class FifoReader:
    """A FIFO made at ``path``, with a ``cat`` process copying what is
    written to it into an anonymous file, so the writer never blocks on it
    and a writer that never opens it cannot hang the test."""

    def __init__(self, path):
        os.mkfifo(path)
        self._sink = tempfile.TemporaryFile()
        self._process = subprocess.Popen(["cat", str(path)], stdout=self._sink)

    def received(self, timeout: float = 10) -> bytes:
        """Everything written, once the writer has closed the FIFO."""
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # the writer never came
            self._process.kill()
            self._process.wait()
        self._sink.seek(0)
        data = self._sink.read()
        self._sink.close()
        return data


def make_char_device(path) -> None:
    """A character device with /dev/null's numbers (1, 3) at ``path``; the
    real /dev/null is never touched. Skips the test unless root may do it."""
    if not hasattr(os, "mknod") or os.geteuid() != 0:
        pytest.skip("creating a device file needs root")
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:  # a container without CAP_MKNOD
        pytest.skip("this system does not let root create device files")


def load_bytes(data: bytes):
    return np.load(io.BytesIO(data))


def write_through(path) -> None:
    """Fill a 2 x 2 output batch by batch through :func:`npy_writer`."""
    with npy_writer(path, (2, 2), np.float32) as output:
        output[:1] = [[1, 2]]
        output[1:] = [[3, 4]]


@needs_fifo
def test_write_npy_writes_into_a_fifo_in_place(tmp_path):
    path = tmp_path / "out.npy"
    reader = FifoReader(path)
    values = np.arange(300_000, dtype=np.float32).reshape(1000, 300)  # more than a pipe buffer
    write_npy(path, values)
    np.testing.assert_array_equal(load_bytes(reader.received()), values)
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert os.listdir(tmp_path) == ["out.npy"]


@needs_fifo
def test_write_npz_to_a_fifo_sends_the_bytes_of_a_file(tmp_path):
    weights = {"dense/kernel": np.arange(12.0).reshape(3, 4), "dense/bias": np.ones(4, np.float32)}
    write_npz(tmp_path / "file.npz", weights)
    path = tmp_path / "out.npz"
    reader = FifoReader(path)
    write_npz(path, weights)
    assert reader.received() == (tmp_path / "file.npz").read_bytes()
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["file.npz", "out.npz"]


@needs_fifo
def test_npy_writer_streams_rows_into_a_fifo_in_order(tmp_path):
    path = tmp_path / "out.npy"
    reader = FifoReader(path)
    expected = np.arange(60_000, dtype=np.float64).reshape(20_000, 3)
    with npy_writer(path, expected.shape, np.float64) as output:
        assert isinstance(output, arrays.SequentialNpyOutput)
        assert output.shape == (20_000, 3) and output.dtype == np.float64 and len(output) == 20_000
        for start in range(0, 20_000, 7_000):
            output[start:start + 7_000] = expected[start:start + 7_000]
    np.testing.assert_array_equal(load_bytes(reader.received()), expected)
    assert stat.S_ISFIFO(os.lstat(path).st_mode)


def test_npy_writer_to_a_stream_converts_rows_and_fills_the_rest_with_zeros():
    stream = io.BytesIO()
    with npy_writer(stream, (4, 2), ">f8") as output:
        output[0:1] = [[1, 2]]  # ints, converted as NumPy assignment would
        output[1:2] = np.float32(3.5)  # broadcast
    assert not stream.closed
    result = load_bytes(stream.getvalue())
    assert result.dtype == np.dtype(">f8")
    assert result.tolist() == [[1.0, 2.0], [3.5, 3.5], [0.0, 0.0], [0.0, 0.0]]


def test_npy_writer_to_a_stream_takes_a_leading_axis_and_0d_outputs():
    stream = io.BytesIO()
    with npy_writer(stream, (3,), np.float32) as output:
        output[None][0:1] = [[1, 2, 3]]  # as run fills one unbatched sample
    assert load_bytes(stream.getvalue()).tolist() == [1.0, 2.0, 3.0]
    stream = io.BytesIO()
    with npy_writer(stream, (), np.int64) as output:
        output[()] = 42
    assert load_bytes(stream.getvalue())[()] == 42


@pytest.mark.parametrize("shape", [(0, 4), (3, 0, 2)])
def test_npy_writer_to_a_stream_without_data_writes_the_header(shape):
    stream = io.BytesIO()
    with npy_writer(stream, shape, np.float32):
        pass
    assert load_bytes(stream.getvalue()).shape == shape


def test_npy_writer_to_a_stream_refuses_rows_out_of_order():
    stream = io.BytesIO()
    with pytest.raises(ValueError) as excinfo:
        with npy_writer(stream, (10, 2), np.float32) as output:
            output[0:4] = 1.0
            output[5:6] = 2.0
    assert message(excinfo) == "an output written in order takes rows in order: rows 5:6 given after 4 rows"
    with pytest.raises(TypeError):
        with npy_writer(io.BytesIO(), (10, 2), np.float32) as output:
            output[0:4:2] = 1.0


def test_npy_writer_to_a_stream_writes_nothing_before_the_first_rows():
    stream = io.BytesIO()
    with pytest.raises(RuntimeError):
        with npy_writer(stream, (10, 2), np.float32):
            raise RuntimeError("the first batch failed")
    assert stream.getvalue() == b""


def test_write_npy_and_npz_write_to_an_open_binary_stream():
    stream = io.BytesIO()
    write_npy(stream, np.arange(6).reshape(2, 3))
    assert not stream.closed and load_bytes(stream.getvalue()).tolist() == [[0, 1, 2], [3, 4, 5]]
    stream = io.BytesIO()
    write_npz(stream, {"a/b": np.arange(3.0)})
    with zipfile.ZipFile(io.BytesIO(stream.getvalue())) as archive:
        assert archive.namelist() == ["a/b.npy"]
    assert load_bytes(stream.getvalue())["a/b"].tolist() == [0.0, 1.0, 2.0]


def test_write_npy_refuses_objects_before_writing_to_a_stream():
    stream = io.BytesIO()
    with pytest.raises(ValueError):
        write_npy(stream, np.array([{}], dtype=object))
    assert stream.getvalue() == b""


def test_a_failing_stream_is_a_data_error_naming_it():
    class Gone(io.BytesIO):
        name = "<reader>"

        def write(self, data):
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    with pytest.raises(DataError) as excinfo:
        write_npy(Gone(), np.zeros(3))
    assert message(excinfo) == "cannot write <reader>: Broken pipe"


@pytest.mark.parametrize("writer", [
    lambda path: write_npy(path, np.arange(5.0)),
    lambda path: write_npz(path, {"a": np.arange(5.0)}),
    lambda path: write_through(path),
])
def test_writers_write_into_a_character_device_without_replacing_it(tmp_path, writer):
    path = tmp_path / "null"
    make_char_device(path)
    device = os.lstat(path)
    writer(path)
    assert stat.S_ISCHR(os.lstat(path).st_mode) and os.lstat(path).st_rdev == device.st_rdev
    assert os.listdir(tmp_path) == ["null"]


@needs_fifo
def test_atomic_output_refuses_what_it_cannot_replace(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    with pytest.raises(DataError) as excinfo:
        with atomic_output(path):
            pass
    assert message(excinfo) == (f"cannot write {path}: it is a FIFO (named pipe), not a regular file, "
                                "so it cannot be replaced atomically")
    assert stat.S_ISFIFO(os.lstat(path).st_mode) and os.listdir(tmp_path) == ["fifo"]


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
@pytest.mark.parametrize("writer", [
    lambda path: write_npy(path, np.arange(5.0)),
    lambda path: write_npz(path, {"a": np.arange(5.0)}),
    lambda path: write_through(path),
])
def test_writers_refuse_a_socket_and_leave_it(tmp_path, writer):
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(DataError) as excinfo:
            writer(path)
        assert message(excinfo) == f"cannot write {path}: it is a socket, which cannot be opened as a file"
        assert stat.S_ISSOCK(os.lstat(path).st_mode) and os.listdir(tmp_path) == ["sock"]


@pytest.mark.parametrize("writer", [
    lambda path: write_npy(path, np.arange(5.0)),
    lambda path: write_npz(path, {"a": np.arange(5.0)}),
    lambda path: write_through(path),
])
def test_writers_refuse_a_directory_and_write_nothing(tmp_path, writer):
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError) as excinfo:
        writer(tmp_path / "out")
    assert message(excinfo) == f"cannot write {tmp_path / 'out'}: it is a directory"
    assert os.listdir(tmp_path) == ["out"] and os.listdir(tmp_path / "out") == []


@pytest.mark.parametrize("writer, check", [
    (lambda path: write_npy(path, np.arange(3.0)), lambda path: read_npy(path).tolist() == [0.0, 1.0, 2.0]),
    (lambda path: write_npz(path, {"a": np.arange(3.0)}), lambda path: read_npz(path)["a"].tolist() == [0.0, 1.0, 2.0]),
    (write_through, lambda path: read_npy(path).tolist() == [[1.0, 2.0], [3.0, 4.0]]),
])
def test_writers_replace_a_symlinks_target_and_keep_the_link(tmp_path, writer, check):
    target = tmp_path / "target.npy"
    target.write_bytes(b"old")
    (tmp_path / "link").symlink_to("target.npy")
    with pytest.raises(KeyboardInterrupt):  # an interrupted write changes nothing
        with npy_writer(tmp_path / "link", (10,), np.float32) as output:
            output[:5] = 1.0
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["link", "target.npy"]
    writer(tmp_path / "link")
    assert os.readlink(tmp_path / "link") == "target.npy"
    assert check(target)
    assert sorted(os.listdir(tmp_path)) == ["link", "target.npy"]


def test_a_symlink_chain_is_followed_to_its_end(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "target.npy").write_bytes(b"old")
    (tmp_path / "middle").symlink_to("data/target.npy")
    (tmp_path / "first").symlink_to("middle")
    write_npy(tmp_path / "first", np.arange(4))
    assert os.readlink(tmp_path / "first") == "middle" and os.readlink(tmp_path / "middle") == "data/target.npy"
    assert read_npy(tmp_path / "data" / "target.npy").tolist() == [0, 1, 2, 3]
    assert os.listdir(tmp_path / "data") == ["target.npy"]


def test_a_dangling_symlink_creates_its_target(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data" / "new.npz")
    write_npz(tmp_path / "link", {"a": np.ones(2)})
    assert os.path.islink(tmp_path / "link")
    assert read_npz(tmp_path / "data" / "new.npz")["a"].tolist() == [1.0, 1.0]
    assert os.listdir(tmp_path / "data") == ["new.npz"]


def test_a_dangling_symlink_into_a_missing_directory_is_a_clear_error(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "missing" / "new.npy")
    with pytest.raises(DataError) as excinfo:
        write_npy(tmp_path / "link", np.ones(2))
    assert message(excinfo) == (f"cannot write {tmp_path / 'link'}: No such file or directory "
                                f"({tmp_path / 'link'} is a symbolic link to {tmp_path / 'missing' / 'new.npy'})")
    assert os.listdir(tmp_path) == ["link"]


def test_a_symlink_loop_is_a_clear_error(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(DataError) as excinfo:
        write_npy(tmp_path / "a", np.ones(2))
    assert message(excinfo) == f"cannot write {tmp_path / 'a'}: Too many levels of symbolic links"
    assert os.readlink(tmp_path / "a") == "b" and os.readlink(tmp_path / "b") == "a"
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]

