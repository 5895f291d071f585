"""Reading and writing Keras model files, safely.

Three kinds of file hold a Keras model, told apart by their content (the
suffix only chooses the wording of an error):

- a Keras 3 ``.keras`` archive: a zip holding ``config.json`` (the model's
  config), ``metadata.json`` (``keras_version``, ``date_saved``) and
  ``model.weights.h5``, whose datasets sit at ``layers/<name>/vars/<i>``
  (keras/src/saving/saving_lib.py, ``_save_model_to_fileobj`` and
  ``H5IOStore``);
- a JSON model config, ``model.to_json()``'s output: the same dict as
  ``config.json`` (keras/src/models/model.py, ``to_json``);
- a legacy Keras 2 ``.h5`` model from ``model.save("m.h5")``: root attribute
  ``model_config`` (JSON), group ``model_weights`` with attribute
  ``layer_names``, one group per layer with attribute ``weight_names``
  (keras/src/legacy/saving/legacy_h5_format.py).

These files come from anyone, so nothing in them is trusted: zip members are
size-checked before they are inflated and never inflated past their declared
size; HDF5 files are walked link by link, refusing external and soft links,
external or virtual storage, dtypes other than floats and integers, and
datasets that declare more bytes than the file could hold or the machine
could keep. Every problem is a :class:`KerasFileError` naming the file (and
the member, attribute or dataset) — never a traceback, a huge allocation or
a file written outside a temporary directory.

:func:`write_keras_archive` writes the archive Keras itself writes (member
order, stored members, the ``vars`` groups with their ``name`` attribute),
all at once or not at all.

h5py is imported only when an HDF5 file is read or written, so a JSON
config needs nothing beyond the base install.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Mapping

import numpy as np

from .errors import LayerspecError, WeightsError

__all__ = [
    "KerasFileError",
    "KerasModelFile",
    "read_model_file",
    "write_keras_archive",
]

#: What ``layerspec import`` reads, for messages about other files.
ACCEPTED = "a Keras 3 .keras archive, a JSON model config (model.to_json()) or a Keras 2 .h5 model"

#: The extra that brings h5py (the distribution is named layerspec-yaml).
H5PY_HINT = "pip install 'layerspec-yaml[keras]'"

CONFIG_MEMBER = "config.json"
METADATA_MEMBER = "metadata.json"
WEIGHTS_MEMBER = "model.weights.h5"
NPZ_WEIGHTS_MEMBER = "model.weights.npz"

#: Largest model config read, in bytes (config.json, a JSON file, a legacy
#: ``model_config`` attribute). Configs of models with thousands of layers
#: take a few MB.
MAX_CONFIG_BYTES = 64 * 2**20
#: Largest metadata.json read (Keras writes 64 bytes).
MAX_METADATA_BYTES = 2**20

#: Zip-bomb limits for model.weights.h5 in an archive: it may inflate to
#: ``ZIP_MAX_RATIO`` times the archive's size, to at least
#: ``ZIP_MIN_ALLOWANCE`` (small archives of zeros compress well) and never
#: to more than ``MAX_WEIGHT_BYTES``. Keras stores members uncompressed
#: (ratio 1) and refuses ratios above 100 (saving_lib.py,
#: ``_ZIP_MEMBER_MAX_EXPANSION``).
ZIP_MAX_RATIO = 100
ZIP_MIN_ALLOWANCE = 64 * 2**20

#: Limits on the bytes the datasets of an HDF5 file declare, in all: at most
#: ``H5_MAX_EXPANSION`` times the file's size (Keras's own shape-bomb ratio,
#: saving_lib.py ``_H5_DATASET_MAX_EXPANSION``), at least
#: ``H5_MIN_ALLOWANCE``, never more than ``MAX_WEIGHT_BYTES`` nor the
#: machine's physical memory (the arrays are read into memory).
H5_MAX_EXPANSION = 1000
H5_MIN_ALLOWANCE = 64 * 2**20
MAX_WEIGHT_BYTES = 16 * 2**30

_READ_CHUNK = 1 << 20

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# An HDF5 file may start with a user block of 512, 1024, 2048... bytes.
_HDF5_SIGNATURE_OFFSETS = (0,) + tuple(512 << i for i in range(12))

# json.dumps and Keras's H5IOStore write these; a member's date as
# ZipFile.open(name, "w") leaves it (saving_lib.py writes the two JSON
# members that way, model.weights.h5 with writestr and the current time).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_MEMBER_MODE = 0o600 << 16
_DATE_FORMAT = "%Y-%m-%d@%H:%M:%S"


class KerasFileError(LayerspecError):
    """A Keras model file is unreadable, unsafe or not a Keras model."""

    code = "invalid-model"


@dataclass
class KerasModelFile:
    """A Keras model file, read into memory.

    Attributes:
        config: the model's config as ``config.json`` holds it
            (``{"module", "class_name", "config", ...}``; a Keras 2 config
            has no ``module``).
        weights: HDF5 dataset path → array, in the file's order with numbers
            in numeric order (``vars/2`` before ``vars/10``): Keras 3
            ``"layers/dense/vars/0"``; legacy ``"model_weights/dense/dense/kernel:0"``
            (the path under the root). None for a bare JSON config.
        layout: ``"keras3"`` or ``"legacy"`` (Keras 2: a legacy ``.h5``, or
            a JSON config from Keras 2 — ``keras_version`` 2.x, or no
            ``module`` keys).
        keras_version: the version that wrote the file, where it says.
        legacy_layer_names: legacy ``.h5``: ``model_weights``'s attribute
            ``layer_names``, in order.
        legacy_weight_names: legacy ``.h5``: layer name → its group's
            ``weight_names``, in order.
        saveable_names: Keras 3 archive: the ``name`` attribute of each
            ``vars`` group by the path of its owner (``""`` the model,
            ``"layers/dense"``, ``"layers/gru/cell"``): the layer names
            behind Keras's class-named paths.
    """

    config: dict
    weights: dict | None
    layout: str
    keras_version: str | None = None
    legacy_layer_names: list[str] | None = None
    legacy_weight_names: dict[str, list[str]] | None = None
    saveable_names: dict[str, str] | None = None


# --------------------------------------------------------------------------
# Reading: telling the kinds apart


def read_model_file(path: str | os.PathLike) -> KerasModelFile:
    """Read a ``.keras`` archive, a JSON model config or a legacy ``.h5``.

    The kind is told by content: a zip, an HDF5 file, or JSON text.

    Raises:
        KerasFileError: naming ``path`` for any problem with the file.
        LayerspecError: when h5py, needed for weights, is not installed.
    """
    from .arrays import _open_regular  # refuses FIFOs, devices, directories without blocking

    name = os.fspath(path)
    with _open_regular(name, KerasFileError) as fp:
        size = os.fstat(fp.fileno()).st_size
        kind = _sniff(fp, size)
        if kind == "zip":
            return _read_keras_archive(fp, size, name)
        if kind == "hdf5":
            return _read_legacy_h5(fp, size, name)
        if kind == "json" or _suffix(name) == ".json":
            return _read_json_config(fp, size, name)
        raise KerasFileError(_unknown_kind_message(name, size, fp))


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _sniff(fp: BinaryIO, size: int) -> str | None:
    """``"zip"``, ``"hdf5"``, ``"json"`` or None, from the file's first bytes."""
    fp.seek(0)
    start = fp.read(8)
    if start[:4] in _ZIP_MAGICS:
        return "zip"
    for offset in _HDF5_SIGNATURE_OFFSETS:
        if offset + len(_HDF5_SIGNATURE) > size:
            break
        fp.seek(offset)
        if fp.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
            return "hdf5"
    fp.seek(0)
    head = fp.read(4096).lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if head[:1] in (b"{", b"["):
        return "json"
    return None


def _unknown_kind_message(name: str, size: int, fp: BinaryIO) -> str:
    """Why a file of no known kind is refused, worded by its suffix."""
    if size == 0:
        return f"{name}: the file is empty (layerspec import reads {ACCEPTED})"
    fp.seek(0)
    start = fp.read(8)
    suffix = _suffix(name)
    if suffix == ".keras":
        what = "not a zip archive, so not a .keras model"
    elif suffix in (".h5", ".hdf5", ".keras2"):
        what = "not an HDF5 file, so not a Keras .h5 model"
    else:
        what = "not a Keras model file: neither a zip archive, an HDF5 file nor JSON"
    return f"{name}: {what} (it starts with {start!r}; layerspec import reads {ACCEPTED})"


# --------------------------------------------------------------------------
# JSON


def _read_json_config(fp: BinaryIO, size: int, name: str) -> KerasModelFile:
    """A JSON file holding a model config (``model.to_json()``)."""
    if size > MAX_CONFIG_BYTES:
        raise KerasFileError(f"{name}: {size} bytes, more than the {MAX_CONFIG_BYTES} bytes a model config may have")
    fp.seek(0)
    config = _parse_config(fp.read(MAX_CONFIG_BYTES + 1), name)
    version = config.get("keras_version")
    version = version if isinstance(version, str) else None
    return KerasModelFile(config=config, weights=None, layout=_config_layout(config, version),
                          keras_version=version)


def _config_layout(config: dict, version: str | None) -> str:
    """Keras 2 or 3, for a config without weights: by the version it names,
    else by Keras 3's ``module`` keys (serialization_lib.py writes them;
    Keras 2's ``to_json`` did not)."""
    if version is not None:
        return "legacy" if version.startswith(("1.", "2.")) else "keras3"
    return "keras3" if "module" in config else "legacy"


def _parse_json(data: bytes, where: str):
    """JSON text (UTF-8, a BOM allowed) parsed, or a KerasFileError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KerasFileError(f"{where} is not UTF-8 text: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise KerasFileError(f"{where} is not valid JSON: {exc}") from None
    except RecursionError:
        raise KerasFileError(f"{where} is JSON nested too deeply to read") from None


def _json_kind(value) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _parse_config(data: bytes, where: str) -> dict:
    """A model config parsed and checked to look like one: an object with a
    ``class_name`` and a ``config``."""
    config = _parse_json(data, where)
    if not isinstance(config, dict):
        raise KerasFileError(f"{where} holds {_json_kind(config)}, not a JSON object (a Keras model config)")
    if not isinstance(config.get("class_name"), str):
        raise KerasFileError(f"{where} is not a Keras model config: it has no 'class_name'")
    if not isinstance(config.get("config"), (dict, list)):
        raise KerasFileError(f"{where} is not a Keras model config: "
                             f"'{config['class_name']}' has no 'config' object")
    return config


# --------------------------------------------------------------------------
# .keras archives


def _read_keras_archive(fp: BinaryIO, size: int, name: str) -> KerasModelFile:
    """A Keras 3 ``.keras`` zip: config.json, metadata.json, model.weights.h5."""
    fp.seek(0)
    try:
        archive = zipfile.ZipFile(fp)
    except Exception as exc:  # zipfile raises a zoo of types on corrupt input
        raise KerasFileError(f"{name}: not a valid zip archive (truncated or corrupt?): {exc}") from None
    with archive:
        members = _archive_members(archive, name)
        config_info = members.get(CONFIG_MEMBER)
        if config_info is None:
            raise KerasFileError(_no_config_message(archive, name))
        weights_info = members.get(WEIGHTS_MEMBER)
        if weights_info is None:
            raise KerasFileError(_no_weights_message(members, name))
        metadata_info = members.get(METADATA_MEMBER)
        # Every size is checked before anything is inflated.
        _check_member_size(config_info, MAX_CONFIG_BYTES, "a model config may have", name)
        if metadata_info is not None:
            _check_member_size(metadata_info, MAX_METADATA_BYTES, "metadata.json may have", name)
        allowance, why = _weights_member_limit(size)
        _check_member_size(weights_info, allowance, why, name)

        config = _parse_config(_read_member(archive, config_info, name), f"{name}: {CONFIG_MEMBER}")
        version = _archive_version(archive, metadata_info, name)
        h5py = _import_h5py("reading")
        with tempfile.TemporaryFile(prefix="layerspec-keras-") as spool:
            _extract_member(archive, weights_info, spool, name)
            weights, names = _read_keras3_h5(h5py, spool, weights_info.file_size, f"{name}: {WEIGHTS_MEMBER}")
    return KerasModelFile(config=config, weights=weights, layout="keras3", keras_version=version,
                          saveable_names=names)


def _archive_members(archive: zipfile.ZipFile, name: str) -> dict[str, zipfile.ZipInfo]:
    """The members we read, by name, refusing duplicates and encryption."""
    wanted = (CONFIG_MEMBER, METADATA_MEMBER, WEIGHTS_MEMBER, NPZ_WEIGHTS_MEMBER)
    found: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        if info.filename not in wanted:
            continue  # assets/ and anything else: never read
        if info.filename in found:
            raise KerasFileError(f"{name}: member '{info.filename}' appears more than once")
        if info.flag_bits & 0x1:
            raise KerasFileError(f"{name}: member '{info.filename}' is encrypted")
        found[info.filename] = info
    return found


def _no_config_message(archive: zipfile.ZipFile, name: str) -> str:
    names = [info.filename for info in archive.infolist()]
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "") if names else "none"
    return (f"{name}: the archive has no {CONFIG_MEMBER}, so it is not a Keras model "
            f"(a .keras archive holds config.json, metadata.json and model.weights.h5; this one holds: {shown})")


def _no_weights_message(members: dict, name: str) -> str:
    if NPZ_WEIGHTS_MEMBER in members:
        # NpzIOStore saves each layer's variables as a dict, which np.savez pickles.
        return (f"{name}: its weights are in {NPZ_WEIGHTS_MEMBER} (Keras's npz weights format), which "
                f"stores pickled objects and is never read; save the model with the default h5 weights")
    return (f"{name}: the archive has no {WEIGHTS_MEMBER} "
            f"(a .keras archive holds config.json, metadata.json and model.weights.h5)")


def _weights_member_limit(archive_size: int) -> tuple[int, str]:
    """The bytes model.weights.h5 may inflate to in an archive of this size, and why that much."""
    allowance = max(ZIP_MAX_RATIO * archive_size, ZIP_MIN_ALLOWANCE)
    if allowance > MAX_WEIGHT_BYTES:
        return MAX_WEIGHT_BYTES, "layerspec reads from one file"
    return allowance, f"allowed for this {archive_size}-byte archive (a zip bomb?)"


def _check_member_size(info: zipfile.ZipInfo, limit: int, why: str, name: str) -> None:
    """Refuse a member that declares more uncompressed bytes than ``limit``."""
    if info.file_size > limit:
        raise KerasFileError(f"{name}: member '{info.filename}' declares {info.file_size} bytes uncompressed, "
                             f"more than the {limit} bytes {why}")


def _member_chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> Iterator[bytes]:
    """A member's bytes, inflated chunk by chunk, never more than one byte
    past its declared size (a member that lies about its size is stopped
    there and refused)."""
    where = f"{name}: member '{info.filename}'"
    read = 0
    try:
        with archive.open(info) as member:
            while read <= info.file_size:
                chunk = member.read(min(_READ_CHUNK, info.file_size + 1 - read))
                if not chunk:
                    break
                read += len(chunk)
                yield chunk
    except KerasFileError:
        raise
    except Exception as exc:  # CRC errors, zlib.error, EOFError, NotImplementedError (compression)...
        raise KerasFileError(f"{where} is corrupt: {exc}") from None
    if read != info.file_size:
        relation = "more" if read > info.file_size else "fewer"
        raise KerasFileError(f"{where} is corrupt: it inflates to {relation} bytes than the "
                             f"{info.file_size} it declares")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    return b"".join(_member_chunks(archive, info, name))


def _extract_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, spool: BinaryIO, name: str) -> None:
    """Inflate a member into an anonymous temporary file (h5py reads it there)."""
    try:
        for chunk in _member_chunks(archive, info, name):
            spool.write(chunk)
        spool.flush()
    except OSError as exc:
        raise KerasFileError(f"{name}: cannot extract '{info.filename}' to a temporary file: "
                             f"{exc.strerror or exc}") from None


def _archive_version(archive: zipfile.ZipFile, info: zipfile.ZipInfo | None, name: str) -> str | None:
    """``keras_version`` from metadata.json; Keras never reads that member, so
    a missing one is no error (a corrupt one is: the archive is damaged)."""
    if info is None:
        return None
    metadata = _parse_json(_read_member(archive, info, name), f"{name}: {METADATA_MEMBER}")
    version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return version if isinstance(version, str) else None


# --------------------------------------------------------------------------
# HDF5, safely


def _import_h5py(action: str):
    """h5py, or the error that says which extra brings it."""
    try:
        import h5py
    except ImportError:
        raise LayerspecError(f"{action} Keras weights needs h5py: {H5PY_HINT}", code="missing-dependency") from None
    return h5py


def _open_h5(h5py, fp: BinaryIO, where: str):
    fp.seek(0)
    try:
        return h5py.File(fp, "r")
    except Exception as exc:
        raise KerasFileError(f"{where} is not a readable HDF5 file (truncated or corrupt?): {exc}") from None


def _natural_key(name: str):
    """Sort key putting ``vars/2`` before ``vars/10``."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def _walk_h5(h5py, group, prefix: str, where: str, seen: set) -> Iterator[tuple[str, object]]:
    """Every group and dataset below ``group``, as (path, object), parents
    first, names in natural order.

    Only hard links are followed; an object reached twice (a second hard link,
    or a cycle) is refused, so the walk is finite and reads nothing twice.
    """
    for child in sorted(group.keys(), key=_natural_key):
        path = f"{prefix}{child}"
        link = group.get(child, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise KerasFileError(f"{where}: '{path}' is an external link (to '{link.path}' in "
                                 f"'{link.filename}'), refused: it would read another file")
        if isinstance(link, h5py.SoftLink):
            raise KerasFileError(f"{where}: '{path}' is a soft link (to '{link.path}'), refused: "
                                 "Keras never writes links")
        if not isinstance(link, h5py.HardLink):
            raise KerasFileError(f"{where}: '{path}' is a link of an unknown kind, refused")
        item = group[child]
        if item.id in seen:
            raise KerasFileError(f"{where}: '{path}' is a second link to an object already read, refused: "
                                 "Keras never writes hard links")
        seen.add(item.id)
        if isinstance(item, h5py.Group):
            yield path, item
            yield from _walk_h5(h5py, item, f"{path}/", where, seen)
        elif isinstance(item, h5py.Dataset):
            yield path, item
        # A named datatype holds no data; it is ignored.


def _dtype_problem(h5py, dataset) -> str | None:
    """Why a dataset's dtype is not one layerspec reads (floats and
    integers), naming it; None if it is."""
    dtype = dataset.dtype
    if _string_attr(dataset.attrs.get("dtype", None)) == "bfloat16":
        return "bfloat16"  # H5IOStore marks bfloat16 variables with this attribute
    if h5py.check_enum_dtype(dtype) is not None:
        return f"an enumeration of {dtype}"
    if h5py.check_ref_dtype(dtype) is not None:
        return "object references"
    if h5py.check_string_dtype(dtype) is not None:
        return "strings"
    if dtype.kind == "f" and dtype.itemsize in (2, 4, 8):
        return None
    if dtype.kind in "iu" and dtype.itemsize in (1, 2, 4, 8):
        return None
    return str(dtype)


def _storage_problem(dataset) -> str | None:
    """Why a dataset's storage is refused (not in this file, or no data)."""
    if dataset.external:
        files = ", ".join(str(entry[0]) for entry in dataset.external)
        return f"stores its data in external files ({files}), refused: it would read other files"
    if dataset.is_virtual:
        return "is a virtual dataset (its data is in other datasets or files), refused"
    if dataset.shape is None:
        return "has no data (an empty dataspace)"
    return None


def _weight_limit(file_size: int) -> tuple[int, str]:
    """The bytes all datasets of a file of ``file_size`` bytes may declare, and why that much."""
    from .runner import physical_memory

    ratio = max(H5_MAX_EXPANSION * file_size, H5_MIN_ALLOWANCE)
    limits = [(ratio, f"allowed for this {file_size}-byte file (a shape bomb?)"),
              (MAX_WEIGHT_BYTES, "layerspec reads from one file")]
    memory = physical_memory()
    if memory is not None:
        limits.append((memory, "of this machine's memory"))
    return min(limits, key=lambda limit: limit[0])


def _read_datasets(h5py, group, prefix: str, file_size: int, where: str,
                   seen: set) -> tuple[dict, dict]:
    """Every dataset under ``group`` read into memory (path → array), after
    checking them all; and the groups (path → group object)."""
    datasets, groups = [], {}
    for path, item in _walk_h5(h5py, group, prefix, where, seen):
        if isinstance(item, h5py.Group):
            groups[path] = item
        else:
            datasets.append((path, item))
    limit, why = _weight_limit(file_size)
    total = 0
    for path, dataset in datasets:
        problem = _storage_problem(dataset)
        if problem:
            raise KerasFileError(f"{where}: dataset '{path}' {problem}")
        problem = _dtype_problem(h5py, dataset)
        if problem:
            raise KerasFileError(f"{where}: dataset '{path}' has dtype {problem}; "
                                 "layerspec reads float16/32/64 and integer weights only")
        total += math.prod(dataset.shape) * dataset.dtype.itemsize
        if total > limit:
            raise KerasFileError(f"{where}: dataset '{path}' (shape {tuple(dataset.shape)}, {dataset.dtype}) "
                                 f"brings the weights to {total} bytes, more than the {limit} bytes {why}")
    return {path: _read_dataset(dataset, path, where) for path, dataset in datasets}, groups


def _read_dataset(dataset, path: str, where: str) -> np.ndarray:
    try:
        array = np.asarray(dataset[()])
    except Exception as exc:  # a truncated file, an unknown filter, a corrupt chunk
        raise KerasFileError(f"{where}: cannot read dataset '{path}' (truncated or corrupt?): {exc}") from None
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def _string_attr(value) -> str | None:
    """An attribute that is one string (h5py gives str or bytes), decoded."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(value) if isinstance(value, str) else None


def _owner_key(path: str) -> list:
    return [_natural_key(part) for part in path.split("/")] if path else []


def _read_keras3_h5(h5py, fp: BinaryIO, size: int, where: str) -> tuple[dict, dict]:
    """model.weights.h5: its datasets, and the ``name`` of each ``vars`` group."""
    with _open_h5(h5py, fp, where) as file:
        try:
            weights, groups = _read_datasets(h5py, file, "", size, where, set())
            names = {}
            for path, group in groups.items():
                if path == "vars" or path.endswith("/vars"):
                    name = _string_attr(group.attrs.get("name", None))
                    if name is not None:
                        names[path[: -len("vars")].rstrip("/")] = name
            # The model first, then each owner before what it owns.
            names = {owner: names[owner] for owner in sorted(names, key=_owner_key)}
        except LayerspecError:
            raise
        except Exception as exc:  # h5py's errors on a damaged file: OSError, KeyError, RuntimeError...
            raise KerasFileError(f"{where} is not a readable HDF5 file (truncated or corrupt?): {exc}") from None
    return weights, names


# --------------------------------------------------------------------------
# Legacy Keras 2 .h5 models


def _read_legacy_h5(fp: BinaryIO, size: int, name: str) -> KerasModelFile:
    """A whole model saved by Keras 2's ``model.save("m.h5")``."""
    h5py = _import_h5py("reading")
    with _open_h5(h5py, fp, name) as file:
        try:
            return _read_legacy_model(h5py, file, size, name)
        except LayerspecError:
            raise
        except Exception as exc:
            raise KerasFileError(f"{name} is not a readable HDF5 file (truncated or corrupt?): {exc}") from None


def _read_legacy_model(h5py, file, size: int, name: str) -> KerasModelFile:
    raw = file.attrs.get("model_config", None)
    if raw is None:
        raise KerasFileError(_no_model_config_message(file, name))
    text = _string_attr(raw)
    if text is None:
        raise KerasFileError(f"{name}: attribute 'model_config' is not a UTF-8 string")
    if len(text) > MAX_CONFIG_BYTES:
        raise KerasFileError(f"{name}: attribute 'model_config' has {len(text)} characters, more than the "
                             f"{MAX_CONFIG_BYTES} a model config may have")
    config = _parse_config(text.encode("utf-8"), f"{name}: attribute 'model_config'")
    link = file.get("model_weights", getlink=True)
    if not isinstance(link, h5py.HardLink) or not isinstance(file["model_weights"], h5py.Group):
        raise KerasFileError(f"{name}: no 'model_weights' group, so no weights (model.save writes one)")
    group = file["model_weights"]
    version = _string_attr(file.attrs.get("keras_version", None)) or _string_attr(
        group.attrs.get("keras_version", None))
    layer_names = _name_list(group, "layer_names", f"{name}: group 'model_weights'")
    # The optimizer's weights (group optimizer_weights) are never read.
    weights, groups = _read_datasets(h5py, group, "model_weights/", size, name, set())
    weight_names = {}
    extra = [] if "top_level_model_weights" in layer_names else ["top_level_model_weights"]
    for layer in layer_names + extra:
        layer_path = f"model_weights/{layer}"
        if layer_path not in groups:
            if layer in extra:
                continue  # only Keras 3's legacy writer adds it
            raise KerasFileError(f"{name}: 'layer_names' lists '{layer}' but there is no group '{layer_path}'")
        names = _name_list(groups[layer_path], "weight_names", f"{name}: group '{layer_path}'")
        for weight in names:
            if f"{layer_path}/{weight}" not in weights:
                raise KerasFileError(f"{name}: layer '{layer}' lists weight '{weight}' but there is no "
                                     f"dataset '{layer_path}/{weight}'")
        if layer not in extra or names:
            weight_names[layer] = names
    return KerasModelFile(config=config, weights=weights, layout="legacy", keras_version=version,
                          legacy_layer_names=layer_names, legacy_weight_names=weight_names)


def _no_model_config_message(file, name: str) -> str:
    if "layer_names" in file.attrs or "layer_names0" in file.attrs:
        return (f"{name}: a Keras weights file (model.save_weights) without a model config; "
                "import needs the whole model (model.save('m.h5'), or a .keras archive)")
    if "layers" in file or "vars" in file:
        return (f"{name}: a Keras 3 weights file (.weights.h5) without a model config; "
                "import the model's .keras archive instead")
    return f"{name}: an HDF5 file but not a Keras model: it has no 'model_config' attribute"


def _name_list(group, attribute: str, where: str) -> list[str]:
    """A list-of-names attribute, whole or split in chunks ``NAME0``,
    ``NAME1``... as Keras 2 writes long ones (legacy_h5_format.py,
    ``load_attributes_from_hdf5_group``); missing means empty."""
    if attribute in group.attrs:
        parts = [group.attrs[attribute]]
    else:
        parts, chunk = [], 0
        while f"{attribute}{chunk}" in group.attrs:
            parts.append(group.attrs[f"{attribute}{chunk}"])
            chunk += 1
    names = []
    for part in parts:
        values = np.atleast_1d(np.asarray(part))
        for value in values.tolist():
            text = _string_attr(value)
            if text is None:
                raise KerasFileError(f"{where}: attribute '{attribute}' holds {value!r}, not a list of names")
            names.append(text)
    return names


# --------------------------------------------------------------------------
# Writing


def write_keras_archive(path_or_stream, config: dict, weights: Mapping[str, np.ndarray],
                        keras_version: str = "3.15.1", *, saveable_names: Mapping[str, str] | None = None,
                        saved_at: datetime.datetime | None = None) -> None:
    """Write a Keras 3 ``.keras`` archive as ``model.save()`` writes it.

    Members, in Keras's order, stored uncompressed: ``metadata.json``
    (``{"keras_version": ..., "date_saved": "%Y-%m-%d@%H:%M:%S"}``),
    ``config.json`` (``json.dumps(config)``, keys in the order given) and
    ``model.weights.h5``.

    Args:
        path_or_stream: a path (written atomically: a temporary file renamed
            into place; a FIFO or device in place) or a writable binary file.
        config: the model's config (``{"module", "class_name", "config", ...}``).
        weights: dataset path → array (``"layers/dense/vars/0"``); groups are
            created as needed.
        keras_version: for metadata.json.
        saveable_names: owner path → name (``""`` → the model's name,
            ``"layers/dropout"`` → ``"dropout"``): each gets a ``vars``
            group with attribute ``name``, even when it holds no variable,
            as Keras's ``H5IOStore.make(path, metadata={"name": ...})``
            does for every layer. Keras's loader does not need them.
        saved_at: the time recorded (default now): metadata.json's
            ``date_saved`` and the weights member's date.

    Raises:
        KerasFileError: for a config that is not JSON; WeightsError for a
            dataset path or array that cannot be written; DataError if the
            output cannot be written. Nothing is written then.
    """
    from .arrays import open_output

    config_json = _config_json(config)
    saveable_names = dict(saveable_names or {})
    arrays = _checked_weights(weights, saveable_names)
    moment = (saved_at or datetime.datetime.now()).replace(microsecond=0)
    metadata_json = json.dumps({"keras_version": keras_version, "date_saved": moment.strftime(_DATE_FORMAT)})
    h5py = _import_h5py("writing")
    with tempfile.TemporaryFile(prefix="layerspec-keras-") as h5_spool:
        _write_h5(h5py, h5_spool, arrays, saveable_names)
        members = [(METADATA_MEMBER, metadata_json.encode(), _ZIP_EPOCH),
                   (CONFIG_MEMBER, config_json.encode(), _ZIP_EPOCH),
                   (WEIGHTS_MEMBER, h5_spool, moment.timetuple()[:6])]
        with open_output(path_or_stream) as output:
            if _seekable(output):
                _write_zip(output, members)
            else:  # zip writing seeks back; build it aside, then copy in order
                with tempfile.TemporaryFile(prefix="layerspec-keras-") as zip_spool:
                    _write_zip(zip_spool, members)
                    zip_spool.seek(0)
                    shutil.copyfileobj(zip_spool, output, _READ_CHUNK)


def _seekable(file) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _config_json(config) -> str:
    if not isinstance(config, dict):
        raise KerasFileError(f"cannot write a Keras archive: the config is {type(config).__name__}, not a dict")
    try:
        return json.dumps(config)  # as saving_lib.py's _serialize_model_as_json
    except (TypeError, ValueError, RecursionError) as exc:
        raise KerasFileError(f"cannot write a Keras archive: the config is not JSON: {exc}") from None


def _path_problem(path) -> str | None:
    """Why a dataset or group path cannot be written (and read back), if so."""
    if not isinstance(path, str):
        return "is not a string"
    if path == "":
        return "is empty"
    if "\0" in path:
        return "contains a NUL character"
    if path.startswith("/") or path.endswith("/"):
        return "starts or ends with '/'"
    parts = path.split("/")
    if "" in parts:
        return "has an empty part ('//')"
    if "." in parts or ".." in parts:
        return "has a '.' or '..' part"
    return None


def _checked_weights(weights: Mapping, saveable_names: dict) -> dict[str, np.ndarray]:
    """The weights as arrays, every path and dtype checked, no dataset where
    a group must be."""
    arrays = {}
    for path, value in weights.items():
        problem = _path_problem(path)
        if problem:
            raise WeightsError(f"cannot write a Keras archive: dataset path {path!r} {problem}")
        array = np.asarray(value)
        if not ((array.dtype.kind == "f" and array.itemsize in (2, 4, 8))
                or (array.dtype.kind in "iu" and array.itemsize in (1, 2, 4, 8))):
            raise WeightsError(f"cannot write a Keras archive: dataset '{path}' has dtype {array.dtype}; "
                               "only float16/32/64 and integer arrays are written")
        arrays[path] = array
    groups = set()
    for owner, name in saveable_names.items():
        if owner != "" and _path_problem(owner):
            raise WeightsError(f"cannot write a Keras archive: saveable path {owner!r} {_path_problem(owner)}")
        if not isinstance(name, str):
            raise WeightsError(f"cannot write a Keras archive: the name of '{owner}' is not a string")
        groups.add(f"{owner}/vars" if owner else "vars")
    for path in sorted(groups):
        if path in arrays:
            raise WeightsError(f"cannot write a Keras archive: '{path}' is both a dataset and a vars group")
    for path in list(arrays) + sorted(groups):
        parts = path.split("/")
        for end in range(1, len(parts)):
            prefix = "/".join(parts[:end])
            if prefix in arrays:
                raise WeightsError(f"cannot write a Keras archive: '{path}' would need a group where "
                                   f"dataset '{prefix}' is")
    return arrays


def _write_h5(h5py, spool: BinaryIO, arrays: dict, saveable_names: dict) -> None:
    """model.weights.h5 into ``spool``: the named ``vars`` groups first (the
    model's, then its layers' in the order given), then the datasets."""
    try:
        with h5py.File(spool, "w") as file:
            for owner, name in saveable_names.items():
                group = file.require_group(f"{owner}/vars" if owner else "vars")
                group.attrs["name"] = name
            for path, array in arrays.items():
                parent, _, leaf = path.rpartition("/")
                group = file.require_group(parent) if parent else file
                group[leaf] = array  # as H5IOStore.__setitem__: contiguous, uncompressed
        spool.flush()
    except OSError as exc:  # a full disk under the temporary directory
        raise KerasFileError(f"cannot write a Keras archive: building {WEIGHTS_MEMBER} failed: {exc}") from None


def _write_zip(output: BinaryIO, members: list) -> None:
    """The archive's members, stored, in order; a member's data is bytes or
    a file (copied from its start)."""
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for member, data, date in members:
            info = zipfile.ZipInfo(member, date_time=date)
            info.external_attr = _MEMBER_MODE
            if isinstance(data, bytes):
                archive.writestr(info, data)
                continue
            data.seek(0, os.SEEK_END)
            info.file_size = data.tell()
            data.seek(0)
            with archive.open(info, "w") as stream:
                shutil.copyfileobj(data, stream, _READ_CHUNK)
