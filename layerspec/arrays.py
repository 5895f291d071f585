"""Safe reading of untrusted array files, and atomic writing of outputs.

Input ``.npy`` files and ``.npz`` weights archives come from users and may be
anything: a pickle renamed to ``.npy``, a truncated download, a zip bomb, a
FIFO. Everything here validates a file *before* trusting it, so that a bad
file becomes a :class:`~layerspec.errors.DataError` (inputs) or
:class:`~layerspec.errors.WeightsError` (weights) that names the file — never
a traceback, an unpickling, a hang or a huge allocation.

Outputs to files are written to a temporary file in the target's directory
and renamed into place only when complete, so an interrupted or failed
write never leaves a partial file and never damages an existing one. Only
regular files are ever replaced: a symbolic link's target is replaced (the
link stays), a FIFO or device is written into in place, sequentially, and a
directory or socket is refused (see :func:`open_output`).
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import io
import math
import os
import re
import shutil
import stat
import struct
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Mapping

import numpy as np
from numpy.lib import format as npy_format

from layerspec.errors import DataError, ValueAtIndexError, WeightsError

try:  # numpy >= 2: the implementation (with the private helpers) moved here
    from numpy.lib import _format_impl as _npy_format_impl
except ImportError:  # pragma: no cover - numpy 1.x
    _npy_format_impl = npy_format

__all__ = [
    "MAX_HEADER_SIZE",
    "SequentialNpyOutput",
    "atomic_output",
    "check_finite",
    "convert_floats",
    "convert_integers",
    "npy_writer",
    "open_output",
    "read_npy",
    "read_npz",
    "refuse_overwriting_inputs",
    "same_file",
    "write_npy",
    "write_npz",
]

#: Longest ``.npy`` header accepted, in bytes (numpy's own default limit).
#: The header is parsed with ``ast.literal_eval``; bounding it bounds that work.
MAX_HEADER_SIZE = 10_000

# numpy 1.x allows 32 dimensions (2.x: 64); no real input comes near either.
_MAX_DIMS = 32

#: Default zip-bomb limits of :func:`read_npz`: the members may inflate to
#: ``NPZ_MAX_RATIO`` times the archive's size, but always to at least
#: ``NPZ_MIN_ALLOWANCE`` (small archives of zeros compress very well) and
#: never to more than ``NPZ_MAX_BYTES``.
NPZ_MAX_RATIO = 100
NPZ_MIN_ALLOWANCE = 64 * 2**20
NPZ_MAX_BYTES = 16 * 2**30

_READ_CHUNK = 1 << 20

# A fixed timestamp makes ``init --seed N`` write byte-identical archives.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

# Largest integer magnitude up to which every integer is a float of that type.
_EXACT_INT_LIMIT = {np.dtype(np.float32): 2**24, np.dtype(np.float64): 2**53}

_INT64_BOUND = 2.0**63

# numpy >= 1.24 bounds the header it parses; older ones are bounded by our
# own length check alone.
_NUMPY_HAS_MAX_HEADER_SIZE = (
    "max_header_size" in inspect.signature(npy_format.read_array_header_1_0).parameters)


class _BadArray(Exception):
    """Why some bytes are not an acceptable .npy array.

    Raised by the validator shared by .npy files and .npz members; each caller
    prefixes the file (and member) name and picks the public error class.
    """


@dataclass(frozen=True)
class _NpyHeader:
    """A validated .npy header: what the data is and where it starts."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    offset: int  # of the first data byte from the start of the stream

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize

    @property
    def order(self) -> str:
        return "F" if self.fortran_order else "C"


# --------------------------------------------------------------------------
# Opening files that may be anything


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


_NOT_REGULAR = (
    (stat.S_ISDIR, "it is a directory"),
    (stat.S_ISFIFO, "it is a FIFO (named pipe), not a regular file"),
    (stat.S_ISSOCK, "it is a socket, not a regular file"),
    (stat.S_ISCHR, "it is a character device, not a regular file"),
    (stat.S_ISBLK, "it is a block device, not a regular file"),
)


def _irregularity(mode: int) -> str | None:
    """Why a file of this st_mode cannot be read as an array file, if it can't."""
    if stat.S_ISREG(mode):
        return None
    for test, reason in _NOT_REGULAR:
        if test(mode):
            return reason
    return "it is not a regular file"


def _open_nonblocking(path: str, flags: int) -> int:
    # Should a FIFO replace the file between our stat and open, a blocking
    # open would wait forever for a writer; O_NONBLOCK makes it return.
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _open_regular(path: str, error_cls: type[DataError] | type[WeightsError]) -> BinaryIO:
    """Open ``path`` for binary reading, refusing anything but a regular file.

    The file is stat'ed before it is opened, so a FIFO or device is refused
    without ever blocking on it, and fstat'ed after, so a swap in between is
    caught too.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise error_cls(f"cannot read {path}: {_reason(exc)}") from None
    except ValueError as exc:  # e.g. an embedded NUL byte
        raise error_cls(f"cannot read {path!r}: {exc}") from None
    problem = _irregularity(mode)
    if problem:
        raise error_cls(f"cannot read {path}: {problem}")
    try:
        fp = open(path, "rb", opener=_open_nonblocking)
    except OSError as exc:
        raise error_cls(f"cannot read {path}: {_reason(exc)}") from None
    problem = _irregularity(os.fstat(fp.fileno()).st_mode)
    if problem:
        fp.close()
        raise error_cls(f"cannot read {path}: {problem}")
    return fp


# --------------------------------------------------------------------------
# The .npy header validator shared by read_npy and read_npz


def _header_reader(version: tuple[int, int]):
    """numpy's header parser for a format version, or None if unsupported."""
    if version == (1, 0):
        reader = npy_format.read_array_header_1_0
    elif version == (2, 0):
        reader = npy_format.read_array_header_2_0
    elif version == (3, 0) and hasattr(_npy_format_impl, "_read_array_header"):
        # 3.0 is 2.0 with UTF-8 field names; numpy has no public reader for it.
        def reader(fp, **kwargs):
            return _npy_format_impl._read_array_header(fp, (3, 0), **kwargs)
    else:
        return None
    if _NUMPY_HAS_MAX_HEADER_SIZE:
        return lambda fp: reader(fp, max_header_size=MAX_HEADER_SIZE)
    return reader  # pragma: no cover - numpy < 1.24; the length is checked anyway


def _not_npy_reason(start: bytes) -> str:
    """Say what a file that lacks the .npy magic string seems to be."""
    if not start:
        return "not an .npy file: the file is empty"
    if start.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "not an .npy file: it is a zip archive (an .npz?)"
    if len(start) >= 2 and start[0] == 0x80 and 2 <= start[1] <= 5:
        return "not an .npy file: it is a Python pickle, which is never loaded"
    return "not an .npy file: it does not start with the .npy magic string"


def _read_header_fields(fp: BinaryIO, version: tuple[int, int]):
    """Run numpy's parser on the header; any failure is a malformed header."""
    reader = _header_reader(version)
    if reader is None:
        major, minor = version
        raise _BadArray(
            f"unsupported .npy format version {major}.{minor} (supported: 1.0, 2.0, 3.0)")
    length_format = "<H" if version == (1, 0) else "<I"
    raw_length = fp.read(struct.calcsize(length_format))
    if len(raw_length) != struct.calcsize(length_format):
        raise _BadArray("malformed .npy header: the file ends inside the header")
    (header_length,) = struct.unpack(length_format, raw_length)
    # Checked here rather than left to numpy, whose limit (and even whose
    # max_header_size argument) depends on its version.
    if header_length > MAX_HEADER_SIZE:
        raise _BadArray(
            f".npy header is {header_length} bytes long, "
            f"more than the {MAX_HEADER_SIZE} allowed")
    fp.seek(npy_format.MAGIC_LEN)
    try:
        with warnings.catch_warnings():
            # Python 2 era headers ("3L") are fine to read; don't warn on them.
            warnings.filterwarnings("ignore", message="Reading `.npy` or `.npz` file required",
                                    category=UserWarning)
            return reader(fp)
    except Exception as exc:  # numpy's parser can fail in many ways on hostile input
        raise _BadArray(f"malformed .npy header: {_header_failure(exc)}") from None


def _header_failure(exc: Exception) -> str:
    """numpy's reason for refusing a header, fit for a one-line message."""
    text = str(exc)
    if text.startswith("malformed node or string"):
        # ast.literal_eval's wording, with a memory address in it
        return "it is not a Python literal"
    return text.splitlines()[0] if text else type(exc).__name__


def _validate_shape_and_dtype(shape, dtype: np.dtype) -> tuple[tuple[int, ...], np.dtype]:
    """Check the header's shape and dtype; fold a subarray dtype into the shape."""
    # numpy accepts any int, and bool is an int: refuse True and -1 ourselves.
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise _BadArray(
            f"malformed .npy header: shape {shape!r} is not a tuple of non-negative integers")
    if dtype.hasobject:
        raise _BadArray(
            f"arrays of Python objects (dtype {dtype}) are refused: "
            "reading them would need unpickling")
    if dtype.subdtype is not None:
        # As np.empty does: a (float64, (3,)) dtype adds an axis of 3.
        dtype, inner = dtype.subdtype
        shape = shape + inner
    if dtype.itemsize == 0:
        raise _BadArray(f"dtype {dtype} has zero-size items")
    if len(shape) > _MAX_DIMS:
        raise _BadArray(
            f"malformed .npy header: shape has {len(shape)} dimensions, "
            f"more than the {_MAX_DIMS} supported")
    return shape, dtype


def _parse_npy_header(fp: BinaryIO, size: int) -> _NpyHeader:
    """Validate the .npy stream ``fp`` (at position 0, ``size`` bytes long).

    Leaves ``fp`` at the first data byte. Raises ``_BadArray`` unless the
    header is well formed, describes an array without Python objects, and
    the stream holds exactly the data the header declares.
    """
    start = fp.read(npy_format.MAGIC_LEN)
    if len(start) < npy_format.MAGIC_LEN or not start.startswith(npy_format.MAGIC_PREFIX):
        raise _BadArray(_not_npy_reason(start))
    fp.seek(0)
    version = npy_format.read_magic(fp)
    shape, fortran_order, dtype = _read_header_fields(fp, version)
    shape, dtype = _validate_shape_and_dtype(shape, dtype)
    header = _NpyHeader(shape, fortran_order, dtype, fp.tell())
    # Python ints: an absurd shape cannot overflow into a small number.
    available = size - header.offset
    if header.nbytes > available:
        raise _BadArray(
            f"the file is truncated: its header declares shape {shape} {dtype}, "
            f"which needs {header.nbytes} bytes of data, "
            f"but only {available} bytes follow the header")
    if header.nbytes < available:
        raise _BadArray(f"{available - header.nbytes} unexpected bytes after the array data")
    return header


# --------------------------------------------------------------------------
# Reading


def read_npy(path: str | os.PathLike, *, mmap: bool = False) -> np.ndarray:
    """Read an ``.npy`` file that may come from anyone.

    The header is validated before any data is read, and nothing is ever
    unpickled. Big-endian and Fortran-order arrays are returned as they are;
    use :func:`convert_floats` / :func:`convert_integers` to normalise them.

    Args:
        path: the file.
        mmap: map the file read-only instead of loading it, for streaming
            inputs larger than memory. An array of zero bytes (which cannot be
            mapped) comes back as an ordinary read-only empty array.

    Returns:
        The array (a read-only ``np.memmap`` with ``mmap=True``).

    Raises:
        DataError: naming ``path``, if it is missing, not a regular file, or
            not a valid ``.npy`` file of plain (non-object) data that holds
            exactly the bytes its header declares.
    """
    name = os.fspath(path)
    with _open_regular(name, DataError) as fp:
        try:
            header = _parse_npy_header(fp, os.fstat(fp.fileno()).st_size)
        except _BadArray as exc:
            raise DataError(f"{name}: {exc}") from None
        except OSError as exc:
            raise DataError(f"cannot read {name}: {_reason(exc)}") from None
        if mmap:
            return _map_npy_data(fp, header, name)
        return _read_npy_data(fp, header, name)


def _read_npy_data(fp: BinaryIO, header: _NpyHeader, name: str) -> np.ndarray:
    """Load the data that follows a validated header into memory."""
    try:
        flat = np.fromfile(fp, dtype=header.dtype, count=header.count)
    except OSError as exc:
        raise DataError(f"cannot read {name}: {_reason(exc)}") from None
    if flat.size != header.count:  # the file shrank after it was validated
        raise DataError(f"{name}: the file changed while it was being read")
    return flat.reshape(header.shape, order=header.order)


def _map_npy_data(fp: BinaryIO, header: _NpyHeader, name: str) -> np.ndarray:
    """Map the data that follows a validated header, read-only."""
    if header.nbytes == 0:  # mmap cannot map zero bytes
        empty = np.empty(header.shape, dtype=header.dtype, order=header.order)
        empty.flags.writeable = False
        return empty
    try:
        return np.memmap(fp, dtype=header.dtype, mode="r", offset=header.offset,
                         shape=header.shape, order=header.order)
    except (OSError, ValueError) as exc:
        reason = _reason(exc) if isinstance(exc, OSError) else str(exc)
        raise DataError(f"cannot memory-map {name}: {reason}") from None


def read_npz(
    path: str | os.PathLike,
    *,
    max_ratio: float = NPZ_MAX_RATIO,
    max_bytes: int = NPZ_MAX_BYTES,
) -> dict[str, np.ndarray]:
    """Read a weights archive (``.npz``) that may come from anyone.

    Every member must be a safe name ending in ``.npy`` (no absolute paths,
    ``..`` parts or backslashes) holding a valid ``.npy`` array without Python
    objects. To defuse zip bombs, the members' declared uncompressed sizes
    may total at most ``min(max(max_ratio * archive size, 64 MiB),
    max_bytes)``, and no member is read past its declared size.

    Args:
        path: the archive.
        max_ratio: allowed uncompressed size as a multiple of the archive's.
        max_bytes: absolute cap on the total uncompressed size.

    Returns:
        The arrays keyed by member name without ``.npy``
        (``dense/kernel.npy`` -> ``dense/kernel``).

    Raises:
        WeightsError: naming ``path`` (and the member), for any problem.
    """
    name = os.fspath(path)
    with _open_regular(name, WeightsError) as fp:
        archive_size = os.fstat(fp.fileno()).st_size
        try:
            archive = zipfile.ZipFile(fp)
        except Exception as exc:  # zipfile raises a zoo of types on corrupt input
            raise WeightsError(f"{name}: not a valid .npz (zip) archive: {exc}") from None
        with archive:
            members = _npz_members(archive, name)
            limit = min(max(int(max_ratio * archive_size), NPZ_MIN_ALLOWANCE), max_bytes)
            _check_declared_sizes(members, limit, archive_size, name)
            return {member.filename[: -len(".npy")]: _read_npz_member(archive, member, name)
                    for member in members}


def _member_name_problem(member: str) -> str | None:
    """Why a zip member name is unsafe or not an array, if it is."""
    if "\\" in member:
        return "contains a backslash"
    if member.startswith("/") or re.match(r"[A-Za-z]:", member):
        return "is an absolute path"
    if ".." in member.split("/"):
        return "contains a '..' path part"
    if not member.endswith(".npy"):
        return "does not end in .npy"
    if member == ".npy" or member.endswith("/.npy"):
        return "has no name before .npy"
    return None


def _npz_members(archive: zipfile.ZipFile, name: str) -> list[zipfile.ZipInfo]:
    """The archive's array members, after checking every member's name."""
    members, seen = [], set()
    for info in archive.infolist():
        member = info.filename
        if not member:
            raise WeightsError(f"{name}: a member has an empty name")
        problem = _member_name_problem(member)
        if problem and info.is_dir() and problem == "does not end in .npy":
            continue  # a directory entry, as `zip -r` adds: harmless, holds nothing
        if problem:
            raise WeightsError(f"{name}: member {member!r} {problem}")
        if member in seen:
            raise WeightsError(f"{name}: member {member!r} appears more than once")
        if info.flag_bits & 0x1:
            raise WeightsError(f"{name}: member {member!r} is encrypted")
        seen.add(member)
        members.append(info)
    return members


def _check_declared_sizes(members: list[zipfile.ZipInfo], limit: int,
                          archive_size: int, name: str) -> None:
    """Refuse an archive whose members claim to inflate beyond ``limit``."""
    total = 0
    for info in members:
        total += info.file_size
        if total > limit:
            raise WeightsError(
                f"{name}: member {info.filename!r} would bring the uncompressed size to "
                f"{total} bytes, more than the {limit} allowed for this "
                f"{archive_size}-byte archive")


def _read_npz_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> np.ndarray:
    """Inflate one member (never past its declared size) and parse it."""
    where = f"{name}: member {info.filename!r}"
    try:
        data = _read_bounded(archive, info)
    except Exception as exc:  # CRC errors, zlib.error, EOFError, ...
        raise WeightsError(f"{where} is corrupt: {exc}") from None
    if len(data) != info.file_size:
        relation = "more" if len(data) > info.file_size else "fewer"
        raise WeightsError(
            f"{where} is corrupt: it inflates to {relation} bytes "
            f"than the {info.file_size} it declares")
    try:
        header = _parse_npy_header(io.BytesIO(data), len(data))
    except _BadArray as exc:
        raise WeightsError(f"{where}: {exc}") from None
    array = np.frombuffer(data, dtype=header.dtype, count=header.count, offset=header.offset)
    array = array.reshape(header.shape, order=header.order)
    # Hand-written headers can put the data at any offset; give callers
    # aligned arrays so numpy's fast paths apply.
    return array if array.flags.aligned else array.copy(order="K")


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytearray:
    """Read a member, stopping one byte past its declared size at the latest."""
    data = bytearray()
    with archive.open(info) as member:
        while len(data) <= info.file_size:
            chunk = member.read(min(_READ_CHUNK, info.file_size + 1 - len(data)))
            if not chunk:
                break
            data += chunk
    return data


# --------------------------------------------------------------------------
# Conversions and checks of input arrays


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    """Index of the first True of ``mask`` in row-major order."""
    flat = int(np.argmax(mask))  # argmax flattens in C order
    return tuple(int(i) for i in np.unravel_index(flat, mask.shape))


def _dtype_name(dtype: np.dtype) -> str:
    """A dtype as a user would call it: ``complex128``, ``string (<U5)``."""
    if dtype.kind in "biufcmM":
        if dtype.isnative or dtype.byteorder == "|":
            return dtype.name
        endian = "big" if dtype.byteorder == ">" else "little"
        return f"{dtype.newbyteorder('=').name} ({endian}-endian)"
    if dtype.kind == "U":
        return f"string ({dtype.str})"
    if dtype.kind == "S":
        return f"bytes ({dtype.str})"
    if dtype.kind == "V":
        return f"structured {dtype}" if dtype.names else f"raw bytes ({dtype.str})"
    return str(dtype)


def convert_floats(array: np.ndarray, dtype, source: str) -> np.ndarray:
    """Convert an input array to floats by layerspec's documented rule.

    - floats of any width and byte order become native ``dtype``; float64 to
      float32 rounds, but a finite value too large for float32 is an error;
    - integers and booleans are accepted only if every value is exactly
      representable: ``|v| <= 2**24`` for float32, ``2**53`` for float64;
    - complex, string, bytes, structured, object and datetime arrays are
      refused.

    Works on whatever it is given, so a caller streaming a memmap passes one
    slice at a time.

    Args:
        array: the input (or a slice of it).
        dtype: ``np.float32`` or ``np.float64``.
        source: the file name to put in messages.

    Returns:
        A C-contiguous native-endian array of ``dtype``; the input itself
        (or a view of it) when it already is one.

    Raises:
        DataError: ``SOURCE: expected a float array (float32), got complex128``,
            or naming the first value that cannot be converted and its index.
    """
    target = np.dtype(dtype)
    if target not in _EXACT_INT_LIMIT:
        raise ValueError(f"convert_floats: dtype must be float32 or float64, not {target}")
    kind = array.dtype.kind
    if kind == "f":
        return _convert_float_width(array, target, source)
    if kind in "iu":
        _check_exact_integers(array, target, source)
    elif kind != "b":
        raise DataError(
            f"{source}: expected a float array ({target}), got {_dtype_name(array.dtype)}")
    return np.asarray(array, dtype=target, order="C")


def _convert_float_width(array: np.ndarray, target: np.dtype, source: str) -> np.ndarray:
    """Floats to ``target``, refusing finite values that would become inf."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, by index; NaN stays NaN
        result = np.asarray(array, dtype=target, order="C")
    if array.dtype.itemsize > target.itemsize:
        overflowed = np.isinf(result) & np.isfinite(array)
        if overflowed.any():
            index = _first_index(overflowed)
            raise ValueAtIndexError(source, f"value {array[index]}", index, f" is too large for {target}")
    return result


def _check_exact_integers(array: np.ndarray, target: np.dtype, source: str) -> None:
    """Refuse integers that ``target`` cannot represent exactly."""
    limit = _EXACT_INT_LIMIT[target]
    info = np.iinfo(array.dtype)
    if -limit <= info.min and info.max <= limit:
        return  # e.g. int16 -> float32: every value fits, skip the pass
    inexact = array > limit
    if info.min < 0:
        inexact |= array < -limit
    if inexact.any():
        index = _first_index(inexact)
        raise ValueAtIndexError(source, f"integer {array[index]}", index, f" cannot be represented exactly as "
                                f"{target} (integers must be between -{limit} and {limit})")


def convert_integers(array: np.ndarray, source: str) -> np.ndarray:
    """Convert an input array to integer indices (e.g. for ``Embedding``).

    Integer arrays are accepted as they are; float arrays only if every value
    is finite and integral; anything else is refused.

    Args:
        array: the input (or a slice of it).
        source: the file name to put in messages.

    Returns:
        A C-contiguous native int64 array; the input itself (or a view of it)
        when it already is one.

    Raises:
        DataError: ``SOURCE: expected an integer array, got complex128``, or
            naming the first value that is not an int64 integer and its index.
    """
    kind = array.dtype.kind
    if kind == "u" and np.iinfo(array.dtype).max > np.iinfo(np.int64).max:
        _check_int64_range(array > np.iinfo(np.int64).max, array, source)
    elif kind == "f":
        _check_integral(array, source)
    elif kind != "i" and kind != "u":
        raise DataError(
            f"{source}: expected an integer array, got {_dtype_name(array.dtype)}")
    return np.asarray(array, dtype=np.int64, order="C")


def _check_integral(array: np.ndarray, source: str) -> None:
    """Refuse float values that are not integers that fit in int64."""
    with np.errstate(invalid="ignore"):  # NaN and inf are reported below, not warned about
        fractional = ~np.isfinite(array) | (np.trunc(array) != array)
    if fractional.any():
        index = _first_index(fractional)
        raise ValueAtIndexError(source, f"value {array[index]}", index, " is not an integer")
    if float(np.finfo(array.dtype).max) >= _INT64_BOUND:  # float16 cannot even hold the bound
        _check_int64_range((array < -_INT64_BOUND) | (array >= _INT64_BOUND), array, source)


def _check_int64_range(outside: np.ndarray, array: np.ndarray, source: str) -> None:
    if outside.any():
        index = _first_index(outside)
        raise ValueAtIndexError(source, f"value {array[index]}", index, " is outside the int64 range")


def check_finite(array: np.ndarray, source: str) -> None:
    """Refuse NaN and infinite values.

    Args:
        array: the input (or a slice of it); arrays that are neither float
            nor complex cannot hold such values and pass unchecked.
        source: the file name to put in messages.

    Raises:
        DataError: ``SOURCE: non-finite value nan at index (3, 17); pass
            --allow-nonfinite to accept it``, for the first one in row-major
            order.
    """
    if array.dtype.kind not in "fc":
        return
    finite = np.isfinite(array)
    if finite.all():
        return
    index = _first_index(~finite)
    with np.errstate(all="ignore"):  # printing a complex NaN can warn
        shown = str(array[index])
    raise ValueAtIndexError(source, f"non-finite value {shown}", index, "; pass --allow-nonfinite to accept it")


# --------------------------------------------------------------------------
# Writing outputs
#
# What is at an output's path decides how it is written:
# - nothing, or a regular file: atomically, through a temporary file in the
#   same directory renamed onto the path when complete;
# - a symbolic link (a chain of them, a dangling one): its final target, as
#   above; the link stays a link;
# - an existing FIFO, character or block device: opened and written in
#   place, sequentially. Replacing it by a regular file would break the
#   system (``/dev/null``) or the reader (a FIFO), and it can be neither
#   renamed onto atomically nor memory-mapped;
# - a directory or a socket: refused, nothing written.
# A writable binary file object (``sys.stdout.buffer``) is written
# sequentially too, flushed and left open.

#: Kinds of file a path may name that can hold no output, and why.
_UNWRITABLE = (
    (stat.S_ISDIR, "it is a directory"),
    (stat.S_ISSOCK, "it is a socket, which cannot be opened as a file"),
)

_IN_PLACE = (stat.S_ISFIFO, stat.S_ISCHR, stat.S_ISBLK)


@dataclass(frozen=True)
class _Destination:
    """Where an output goes, examined before anything is written."""

    name: str  # for messages: the path as given, or "standard output"
    path: str | None = None  # the file to write (symlinks followed); None for a stream
    stream: BinaryIO | None = None  # a file object, written as it is
    mode: int | None = None  # st_mode of what is at ``path``, None if nothing is

    @property
    def atomic(self) -> bool:
        """Whether the output replaces ``path`` by rename (else it is written in order)."""
        return self.stream is None and (self.mode is None or stat.S_ISREG(self.mode))


def _destination(destination: str | os.PathLike | BinaryIO) -> _Destination:
    """Classify an output path or stream, refusing what cannot hold an output.

    Raises:
        DataError: for a directory, a socket, a symbolic link loop, or
            another kind of file that is neither regular nor a FIFO or device.
        TypeError: for an object that is neither a path nor writable.
    """
    if not isinstance(destination, (str, bytes, os.PathLike)):
        if not callable(getattr(destination, "write", None)):
            raise TypeError(f"an output must be a path or a writable binary file, "
                            f"not {type(destination).__name__}")
        return _Destination(_stream_name(destination), stream=destination)
    name = os.fspath(destination)
    target = _final_target(name)
    try:
        mode = os.stat(target).st_mode
    except (OSError, ValueError):  # nothing there (or unreadable): creating it will tell
        return _Destination(name, path=target)
    for test, reason in _UNWRITABLE:
        if test(mode):
            raise DataError(f"cannot write {name}: {reason}")
    if not stat.S_ISREG(mode) and not any(test(mode) for test in _IN_PLACE):
        raise DataError(f"cannot write {name}: {_irregularity(mode)}")
    return _Destination(name, path=target, mode=mode)


def _stream_name(stream) -> str:
    if stream is getattr(sys.stdout, "buffer", None):
        return "standard output"
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) else "the output stream"


def _final_target(path: str) -> str:
    """The file ``path`` names once symbolic links are followed.

    ``path`` itself unless it is a link; a chain is followed to its end, and
    a dangling link gives the path it points to (which writing creates).
    """
    if not os.path.islink(path):
        return path
    target = os.path.realpath(path)
    if os.path.islink(target):  # realpath stops where a loop begins
        raise DataError(f"cannot write {path}: {os.strerror(errno.ELOOP)}")
    return target


def _open_destination(destination: _Destination):
    """The context manager that writes to ``destination`` the way it needs."""
    if destination.stream is not None:
        return _sequential_output(destination.stream, destination.name, close=False)
    if destination.atomic:
        return _atomic_file(destination.path, destination.name)
    return _in_place_file(destination.path, destination.name)


@contextlib.contextmanager
def open_output(destination: str | os.PathLike | BinaryIO) -> Iterator[BinaryIO]:
    """Open an output for writing from start to end, as fits what it is.

    - a path where nothing is, or a regular file: see :func:`atomic_output`
      (all at once or not at all);
    - a symbolic link, also a chain or a dangling link whose target's
      directory exists: its final target is replaced atomically, and the
      link stays a link;
    - an existing FIFO, character or block device: written in place — opened
      for writing (a FIFO waits for a reader, as a shell's ``>`` does),
      never created, truncated, renamed onto or replaced by a file. Nothing
      can make that atomic: an error midway leaves the bytes already written
      with the reader;
    - a writable binary file object (e.g. ``sys.stdout.buffer``): written as
      it is, flushed at the end and left open.

    Raises:
        DataError: ``cannot write NAME: REASON`` for a directory or socket
            (nothing is written), a symbolic link loop, a path that cannot be
            opened or created, and any OSError raised while the block writes
            (a full disk, a reader that went away).
    """
    with _open_destination(_destination(destination)) as file:
        yield file


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Write a file all at once or not at all.

    Yields a binary file object for a temporary file in the target's
    directory (so the final rename never crosses file systems). On normal
    exit the file is flushed, fsync'ed and renamed onto ``path``, replacing
    any file there. On any exception, KeyboardInterrupt included, the
    temporary file is removed and the exception re-raised: an existing file at
    ``path`` stays byte-for-byte unchanged and no partial file is left.

    A symbolic link at ``path`` is followed (through a chain, and when it
    dangles) and its final target is replaced; the link stays a link.
    Only regular files are ever replaced: a FIFO or device is refused here
    (:func:`open_output` writes into it in place).

    The new file gets the usual mode of a new file (0o666 minus the umask);
    nothing of a replaced file (mode, owner, links) is preserved.

    Raises:
        DataError: ``cannot write PATH: REASON`` if ``path`` is a directory,
            a socket, a FIFO or device, a symbolic link loop, or cannot be
            created, and for any OSError (a full disk, say) raised while the
            block writes.
    """
    destination = _destination(path)
    if destination.stream is not None:
        raise TypeError("atomic_output needs a path; use open_output for a file object")
    if not destination.atomic:
        raise DataError(f"cannot write {destination.name}: {_irregularity(destination.mode)}, "
                        "so it cannot be replaced atomically")
    with _atomic_file(destination.path, destination.name) as file:
        yield file


def _current_umask() -> int:
    # The umask can only be read by setting it; restore it at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _discard(file: BinaryIO, temp: str) -> None:
    """Close and delete a temporary file, whatever state it is in."""
    with contextlib.suppress(OSError):
        file.close()
    with contextlib.suppress(FileNotFoundError):
        os.remove(temp)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; a best effort (not possible everywhere).
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _link_note(name: str, target: str) -> str:
    # "No such file or directory" about a link that exists needs its target.
    return f" ({name} is a symbolic link to {target})" if target != name else ""


def _check_still_replaceable(target: str) -> None:
    """Refuse to rename onto what became a FIFO, device or directory meanwhile."""
    try:
        mode = os.lstat(target).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise _Unreplaceable(_irregularity(mode))


class _Unreplaceable(Exception):
    """The target changed kind while its replacement was being written."""


@contextlib.contextmanager
def _atomic_file(target: str, name: str) -> Iterator[BinaryIO]:
    """:func:`atomic_output` onto ``target``, messages naming ``name``."""
    directory = os.path.dirname(target) or os.curdir
    try:
        fd, temp = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except OSError as exc:
        raise DataError(f"cannot write {name}: {_reason(exc)}{_link_note(name, target)}") from None
    file = os.fdopen(fd, "wb")
    try:
        if hasattr(os, "fchmod"):  # mkstemp's 0o600 would surprise users
            os.fchmod(file.fileno(), 0o666 & ~_current_umask())
        yield file
        file.flush()
        os.fsync(file.fileno())
        file.close()
        _check_still_replaceable(target)
        os.replace(temp, target)
    except BaseException as exc:
        _discard(file, temp)
        if isinstance(exc, _Unreplaceable):
            raise DataError(f"cannot write {name}: {exc}") from None
        if isinstance(exc, OSError):
            raise DataError(f"cannot write {name}: {_reason(exc)}") from exc
        raise
    _fsync_directory(directory)


@contextlib.contextmanager
def _in_place_file(target: str, name: str) -> Iterator[BinaryIO]:
    """Write into the existing FIFO or device ``target``, sequentially."""
    try:
        # No O_CREAT or O_TRUNC: the file is used as it is. O_NOCTTY: a
        # terminal device must not become our controlling terminal.
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise DataError(f"cannot write {name}: {_reason(exc)}") from None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        # Swapped for a regular file since it was examined: writing into it
        # without truncating would leave old bytes behind, so stop.
        os.close(fd)
        raise DataError(f"cannot write {name}: it changed while it was being opened")
    with _sequential_output(os.fdopen(fd, "wb"), name, close=True) as file:
        yield file


@contextlib.contextmanager
def _sequential_output(file: BinaryIO, name: str, *, close: bool) -> Iterator[BinaryIO]:
    """Yield ``file``, flush it at the end, turn OSErrors into DataErrors."""
    try:
        yield file
        file.flush()
    except OSError as exc:
        raise DataError(f"cannot write {name}: {_reason(exc)}") from exc
    finally:
        if close:
            with contextlib.suppress(OSError):  # e.g. unflushed bytes to a reader that left
                file.close()


def write_npy(destination: str | os.PathLike | BinaryIO, array: np.ndarray) -> None:
    """Write ``array`` as ``.npy`` to a path (atomically) or an open binary file.

    A path is used exactly as given (``np.save`` would append ``.npy``) and
    written by :func:`open_output`'s rules: a regular file is replaced
    atomically, a symbolic link's target too, a FIFO or device is written
    in place, a directory is refused.

    Raises:
        DataError: if the file cannot be written (see :func:`open_output`).
        ValueError: for an array of Python objects, which is never pickled
            (refused before anything is opened or written).
    """
    array = np.asanyarray(array)
    if array.dtype.hasobject:  # numpy would write the header before refusing
        raise ValueError(f"write_npy: cannot write dtype {array.dtype} (Python objects are never pickled)")
    target = _destination(destination)
    if target.atomic:
        with _atomic_file(target.path, target.name) as file:
            npy_format.write_array(file, array, allow_pickle=False)
        return
    # numpy's writer asks a real file for its position, which a FIFO has not.
    with _sequential_npy(target, array.shape, array.dtype) as output:
        output[...] = array


def write_npz(destination: str | os.PathLike | BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    """Write a weights archive, that :func:`read_npz` reads back, to a path
    (atomically) or an open binary file.

    The archive is uncompressed, like ``np.savez``, so ``np.load`` reads it
    too; key ``dense/kernel`` is stored as member ``dense/kernel.npy``.
    Timestamps are fixed, so equal arrays give byte-identical files. A path
    is written by :func:`open_output`'s rules. For a FIFO, device or file
    object the archive is first built in an anonymous temporary file (zip
    writing needs to seek back) and then copied, so every destination gets
    the same bytes and an error while building it writes nothing there.

    Raises:
        WeightsError: for a key that would not read back (absolute, with a
            ``..`` part or a backslash, or empty).
        DataError: if the file cannot be written (see :func:`open_output`).
    """
    destination = _destination(destination)
    members = []
    for key, array in arrays.items():
        member = f"{key}.npy"
        problem = _member_name_problem(member)
        if problem:
            raise WeightsError(f"cannot write {destination.name}: key {key!r} {problem}")
        members.append((member, np.asanyarray(array)))
    if destination.atomic:
        with _atomic_file(destination.path, destination.name) as file:
            _write_zip(file, members)
        return
    with _spooled_zip(members, destination.name) as spool:
        with _open_destination(destination) as file:
            shutil.copyfileobj(spool, file, _READ_CHUNK)


def _write_zip(file: BinaryIO, members: list[tuple[str, np.ndarray]]) -> None:
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for member, array in members:
            info = zipfile.ZipInfo(member, date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            with archive.open(info, mode="w", force_zip64=True) as stream:
                npy_format.write_array(stream, array, allow_pickle=False)


@contextlib.contextmanager
def _spooled_zip(members: list[tuple[str, np.ndarray]], name: str) -> Iterator[BinaryIO]:
    """The archive built in an anonymous temporary file, rewound for reading.

    The file has no name (it is unlinked at once), so it disappears however
    the process ends.
    """
    with tempfile.TemporaryFile() as spool:
        try:
            _write_zip(spool, members)
            spool.seek(0)
        except OSError as exc:
            raise DataError(f"cannot write {name}: {_reason(exc)} (while building the archive "
                            f"in {tempfile.gettempdir()})") from exc
        yield spool


def _write_npy_header(file: BinaryIO, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Write the header of a C-order .npy of this shape and dtype."""
    fields = {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    try:
        npy_format.write_array_header_1_0(file, fields)
    except ValueError:  # too long for 1.0 (huge structured dtypes); nothing written
        npy_format.write_array_header_2_0(file, fields)


def _reserve(file: BinaryIO, size: int) -> None:
    """Give the file its final size, allocating the disk space up front.

    Writing through a memory map into a sparse file on a full disk kills the
    process with SIGBUS; reserving the blocks turns that into ENOSPC now.
    """
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(file.fileno(), 0, size)
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    file.truncate(size)


@contextlib.contextmanager
def npy_writer(destination: str | os.PathLike | BinaryIO, shape, dtype
               ) -> Iterator[np.ndarray | SequentialNpyOutput]:
    """Stream an ``.npy`` output batch by batch.

    To a regular file (or a new path, or a symbolic link's target), atomically:
    yields a writable array of the full ``shape`` — a memory map of a
    temporary file in the target's directory — for the caller to fill. On
    normal exit the data is flushed and the file renamed onto the path; on
    any exception, KeyboardInterrupt included, the temporary file is removed
    and the path left as it was. A zero-byte shape (e.g. 0 rows) works: the
    file is just the header.

    To a FIFO, a device or a file object (``sys.stdout.buffer``), which can
    be neither memory-mapped nor renamed onto, sequentially: yields a
    :class:`SequentialNpyOutput`, which takes rows in order along the first
    axis (``out[start:stop] = rows``, each write starting where the last
    stopped) and writes them at once after the header. On an exception the
    bytes already written stay with the reader (the header is written with
    the first rows, so an error before them writes nothing).

    Args:
        destination: the output path, used exactly as given, or a writable
            binary file object.
        shape: the full output shape.
        dtype: the output dtype (no Python objects).

    Raises:
        DataError: if the output cannot be written (see :func:`open_output`).
        ValueError: for a negative size or an object dtype.
    """
    shape = tuple(int(n) for n in shape)
    dtype = np.dtype(dtype)
    if any(n < 0 for n in shape):
        raise ValueError(f"npy_writer: negative size in shape {shape}")
    if dtype.hasobject:
        raise ValueError(f"npy_writer: cannot stream dtype {dtype} (Python objects)")
    target = _destination(destination)
    if not target.atomic:
        with _sequential_npy(target, shape, dtype) as output:
            yield output
        return
    with _atomic_file(target.path, target.name) as file:
        _write_npy_header(file, shape, dtype)
        file.flush()
        offset = file.tell()
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes == 0:  # mmap cannot map zero bytes; the header is the file
            yield np.empty(shape, dtype=dtype)
            return
        _reserve(file, offset + nbytes)
        output = np.memmap(file, dtype=dtype, mode="r+", offset=offset, shape=shape)
        yield output
        output.flush()


@contextlib.contextmanager
def _sequential_npy(target: _Destination, shape: tuple[int, ...], dtype: np.dtype
                    ) -> Iterator[SequentialNpyOutput]:
    """:func:`npy_writer` for a destination written in order."""
    with _open_destination(target) as file:
        stream = _NpyStream(file, shape, dtype)
        yield SequentialNpyOutput(stream, shape)
        stream.finish()


@dataclass
class _NpyStream:
    """One ``.npy`` written from start to end: its file and how far it got."""

    file: BinaryIO
    shape: tuple[int, ...]
    dtype: np.dtype
    written: int = 0  # bytes of data, after the header
    started: bool = False  # whether the header is written

    def write(self, data: np.ndarray) -> None:
        """Append ``data`` (C-contiguous, of the stream's dtype)."""
        self._start()
        # A byte view of the rows, so they are written without a copy.
        self.file.write(memoryview(data.reshape(-1).view(np.uint8)))
        self.written += data.nbytes

    def finish(self) -> None:
        """Complete the file: rows never written are zeros, as in a memory map."""
        self._start()
        remaining = math.prod(self.shape) * self.dtype.itemsize - self.written
        zeros = memoryview(bytes(min(remaining, _READ_CHUNK)))
        while remaining > 0:
            chunk = zeros[:remaining]
            self.file.write(chunk)
            self.written += len(chunk)
            remaining -= len(chunk)

    def _start(self) -> None:
        if not self.started:
            _write_npy_header(self.file, self.shape, self.dtype)
            self.started = True


class SequentialNpyOutput:
    """What :func:`npy_writer` yields for an output written in order.

    A FIFO, a device or a stream can be neither memory-mapped nor sought in,
    so this stands in for the memory map with what filling an output batch
    by batch needs:

    - ``out[start:stop] = rows`` writes rows along the first axis, converted
      to the output's dtype as NumPy assignment would; each write must start
      where the previous one stopped (``out[...] = value`` writes it all,
      ``out[()] = value`` fills a 0-d output);
    - ``out[None]`` (``out[np.newaxis]``) is the same output seen with a
      leading axis of 1, as ``run`` fills the output of a single sample;
    - ``shape``, ``dtype``, ``ndim`` and ``len()``.
    """

    def __init__(self, stream: _NpyStream, shape: tuple[int, ...]):
        self._stream = stream
        self.shape = shape
        self.dtype = stream.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d output")
        return self.shape[0]

    def __getitem__(self, key):
        if key is None:
            return SequentialNpyOutput(self._stream, (1,) + self.shape)
        raise TypeError("an output written in order cannot be read; it takes out[start:stop] = rows "
                        "and out[None]")

    def __setitem__(self, key, value) -> None:
        start, stop = self._row_range(key)
        shape = (stop - start,) + self.shape[1:]
        row_bytes = math.prod(self.shape[1:]) * self.dtype.itemsize
        if stop <= start or row_bytes == 0:
            return  # nothing to write, whatever the position
        if start * row_bytes != self._stream.written:
            raise ValueError(f"an output written in order takes rows in order: rows {start}:{stop} "
                             f"given after {self._stream.written // row_bytes} rows")
        self._stream.write(self._as_rows(value, shape))

    def _row_range(self, key) -> tuple[int, int]:
        if not self.shape:
            if key == () or key is Ellipsis:
                return 0, 1  # a 0-d output is one "row" of one value
            raise TypeError(f"a 0-d output takes out[()] = value, not out[{key!r}]")
        if key is Ellipsis:
            key = slice(None)
        if not isinstance(key, slice):
            raise TypeError(f"an output written in order takes out[start:stop] = rows, not out[{key!r}]")
        start, stop, step = key.indices(self.shape[0])
        if step != 1:
            raise TypeError("an output written in order takes rows with step 1")
        return start, stop

    def _as_rows(self, value, shape: tuple[int, ...]) -> np.ndarray:
        """``value`` as C-contiguous rows of the output's dtype and ``shape``."""
        if (isinstance(value, np.ndarray) and value.dtype == self.dtype and value.shape == shape
                and value.flags.c_contiguous):
            return value  # a batch's output as it is: no copy
        rows = np.empty(shape, dtype=self.dtype)
        rows[...] = value
        return rows


def refuse_overwriting_inputs(output, paths, option: str = "-o") -> None:
    """Refuse an output path that names one of the input files (``run -o``
    on its own input, ``import -o`` on the archive it reads)."""
    if not isinstance(output, (str, os.PathLike)):
        return
    for path in dict.fromkeys(paths):
        if os.path.exists(path) and same_file(output, path):
            raise DataError(f"{output}: the output would overwrite the input file; choose another {option} path")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same existing file (e.g. ``-o`` = input).

    False when either does not exist or cannot be examined.
    """
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False
