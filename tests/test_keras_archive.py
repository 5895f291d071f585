"""layerspec.keras_archive: reading Keras model files safely, writing .keras archives.

The real archives in tests/fixtures/keras/ are Keras 3.15.1's own output;
legacy Keras 2 ``.h5`` models and every broken file are built here, with
h5py and by hand (zip structures byte by byte where zipfile would refuse
to write them), following keras/src/legacy/saving/legacy_h5_format.py and
keras/src/saving/saving_lib.py.
"""

from __future__ import annotations

import datetime
import functools
import io
import json
import os
import struct
import sys
import warnings
import zipfile
import zlib

import h5py
import numpy as np
import pytest

from layerspec import keras_archive
from layerspec.errors import DataError, LayerspecError, WeightsError
from layerspec.keras_archive import KerasFileError, KerasModelFile, read_model_file, write_keras_archive
from tests.keras_fixtures import fixture_dir, fixture_names, load_fixture

ACCEPTED = "a Keras 3 .keras archive, a JSON model config (model.to_json()) or a Keras 2 .h5 model"

#: The number of weight datasets in each fixture's model.weights.h5.
DATASET_COUNTS = {
    "seq_mlp": 5, "seq_cnn": 10, "seq_text": 9, "func_resnet": 8, "func_two_inputs": 8, "func_unet": 12,
    "mobilenet_block": 16, "transformer_block": 16, "cross_attention": 8, "recurrent_wrappers": 16,
    "nested": 8, "shared_layer": 2, "conv1d_family": 11,
}

#: A small Keras 3 config (what seq_mlp's config.json would be, cut down).
SMALL_CONFIG = {
    "module": "keras", "class_name": "Sequential",
    "config": {"name": "small", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "input_layer"}},
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 2}},
    ]},
}


def fixture_path(name: str) -> str:
    return str(fixture_dir() / f"{name}.keras")


def h5_bytes(build) -> bytes:
    """The bytes of an HDF5 file that ``build(file)`` fills."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as file:
        build(file)
    return buffer.getvalue()


def small_weights(file) -> None:
    """Keras 3's layout for SMALL_CONFIG: model vars, then the Dense's."""
    file.create_group("vars").attrs["name"] = "small"
    file["layers/dense/vars/0"] = np.arange(6, dtype=np.float32).reshape(3, 2)
    file["layers/dense/vars/1"] = np.zeros(2, np.float32)
    file["layers/dense/vars"].attrs["name"] = "dense"


def write_zip(path, members) -> str:
    """A zip of (name, bytes) members, stored, as Keras writes them."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return str(path)


def keras_file(tmp_path, h5: bytes | None = None, config=SMALL_CONFIG, name="model.keras") -> str:
    """A .keras archive with ``config`` and ``h5`` as model.weights.h5."""
    members = [("metadata.json", b'{"keras_version": "3.15.1", "date_saved": "2026-01-02@03:04:05"}'),
               ("config.json", config if isinstance(config, bytes) else json.dumps(config).encode())]
    if h5 is not None:
        members.append(("model.weights.h5", h5))
    return write_zip(tmp_path / name, members)


def read_error(path) -> KerasFileError:
    with pytest.raises(LayerspecError) as info:
        read_model_file(path)
    return info.value


def assert_refused(path, message: str) -> None:
    error = read_error(path)
    assert isinstance(error, KerasFileError)
    assert error.code == "invalid-model"
    assert str(error) == message


# --------------------------------------------------------------------------
# Reading the real Keras 3 fixtures


@pytest.mark.parametrize("name", fixture_names())
def test_reads_every_fixture_as_keras_wrote_it(name):
    fixture = load_fixture(name)
    model = read_model_file(fixture_path(name))
    assert model.layout == "keras3"
    assert model.keras_version == "3.15.1"
    assert model.config == fixture.config
    assert model.config["class_name"] == ("Sequential" if name.startswith("seq_") or name in (
        "recurrent_wrappers", "conv1d_family") else "Functional")
    assert len(model.weights) == DATASET_COUNTS[name]
    assert set(model.weights) == set(fixture.h5)
    for path, array in model.weights.items():
        assert array.dtype == np.float32, path
        np.testing.assert_array_equal(array, fixture.h5[path])
    assert model.legacy_layer_names is None and model.legacy_weight_names is None
    assert model.saveable_names[""] == fixture.config["config"]["name"]


def test_seq_mlp_weights_and_names_exactly():
    model = read_model_file(fixture_path("seq_mlp"))
    assert {path: array.shape for path, array in model.weights.items()} == {
        "layers/dense/vars/0": (20, 32), "layers/dense/vars/1": (32,),
        "layers/dense_1/vars/0": (32, 16),
        "layers/dense_2/vars/0": (16, 4), "layers/dense_2/vars/1": (4,)}
    assert model.saveable_names == {"": "seq_mlp", "layers/dense": "dense", "layers/dense_1": "dense_1",
                                    "layers/dense_2": "dense_2", "layers/dropout": "dropout"}


def test_saveable_names_give_the_layer_names_behind_keras_paths():
    """Keras names h5 groups by class and counter; the vars groups' ``name``
    attribute is the layer's own name (a nested model's too)."""
    model = read_model_file(fixture_path("nested"))
    assert list(model.saveable_names.items()) == [
        ("", "nested"), ("layers/add", "add"), ("layers/dense", "dense_2"), ("layers/input_layer", "x"),
        ("layers/layer_normalization", "layer_normalization"), ("layers/sequential", "block"),
        ("layers/sequential/layers/dense", "dense"), ("layers/sequential/layers/dense_1", "dense_1")]


def test_weights_come_in_natural_order(tmp_path):
    def build(file):
        for index in (10, 2, 0, 1):
            file[f"layers/dense/vars/{index}"] = np.full(1, index, np.float32)

    model = read_model_file(keras_file(tmp_path, h5_bytes(build)))
    assert list(model.weights) == [f"layers/dense/vars/{i}" for i in (0, 1, 2, 10)]


def test_the_kind_is_told_by_content_not_suffix(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(open(fixture_path("seq_mlp"), "rb").read())
    assert read_model_file(path).config["class_name"] == "Sequential"


def test_metadata_json_is_optional(tmp_path):
    path = write_zip(tmp_path / "m.keras", [("config.json", json.dumps(SMALL_CONFIG).encode()),
                                            ("model.weights.h5", h5_bytes(small_weights))])
    model = read_model_file(path)
    assert model.keras_version is None
    assert list(model.weights) == ["layers/dense/vars/0", "layers/dense/vars/1"]


def test_other_members_are_never_read(tmp_path):
    """Keras's assets/ (or anything else) is ignored, so even a bomb there is harmless."""
    path = keras_file(tmp_path, h5_bytes(small_weights))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("assets/notes.txt", b"hello")
    assert read_model_file(path).saveable_names == {"": "small", "layers/dense": "dense"}


# --------------------------------------------------------------------------
# JSON configs


def test_reads_a_json_config(tmp_path):
    with zipfile.ZipFile(fixture_path("func_resnet")) as archive:
        text = archive.read("config.json")
    path = tmp_path / "config.json"
    path.write_bytes(text)
    model = read_model_file(path)
    assert model == KerasModelFile(config=json.loads(text), weights=None, layout="keras3", keras_version=None)


def test_reads_a_json_config_without_h5py(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    path = tmp_path / "model.txt"
    path.write_text("\ufeff \n" + json.dumps(SMALL_CONFIG), encoding="utf-8")
    assert read_model_file(path).config == SMALL_CONFIG


def test_a_keras2_json_config_is_legacy(tmp_path):
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": []},
              "keras_version": "2.15.0", "backend": "tensorflow"}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(config))
    model = read_model_file(path)
    assert (model.layout, model.keras_version, model.weights) == ("legacy", "2.15.0", None)
    del config["keras_version"]
    path.write_text(json.dumps(config))
    assert read_model_file(path).layout == "legacy"  # no "module" keys: Keras 2's format


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "holds a list, not a JSON object (a Keras model config)"),
    ('{"class_name": "Dense",', "is not valid JSON: Expecting property name enclosed in double quotes: "
                                "line 1 column 24 (char 23)"),
    ('{"config": {}}', "is not a Keras model config: it has no 'class_name'"),
    ('{"class_name": "Sequential"}', "is not a Keras model config: 'Sequential' has no 'config' object"),
    ("[" * 100000 + "]" * 100000, "is JSON nested too deeply to read"),
])
def test_broken_json_configs(tmp_path, text, message):
    path = tmp_path / "model.json"
    path.write_text(text)
    assert_refused(path, f"{path} {message}")


def test_a_json_file_that_is_not_json(tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes(b"\xff\xfe junk")
    assert_refused(path, f"{path} is not UTF-8 text: 'utf-8' codec can't decode byte 0xff in position 0: "
                         "invalid start byte")


def test_a_huge_json_config_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(keras_archive, "MAX_CONFIG_BYTES", 100)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(SMALL_CONFIG))
    assert_refused(path, f"{path}: {path.stat().st_size} bytes, more than the 100 bytes a model config may have")


# --------------------------------------------------------------------------
# Legacy Keras 2 .h5 models


LEGACY_CONFIG = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3], "dtype": "float32",
                                            "name": "input_1"}},
    {"class_name": "Dense", "config": {"name": "dense", "units": 2}},
    {"class_name": "Dropout", "config": {"name": "dropout", "rate": 0.5}},
    {"class_name": "Dense", "config": {"name": "dense_1", "units": 1}}]}}

KERNEL = np.arange(6, dtype=np.float32).reshape(3, 2)


def build_legacy(file, *, chunked_names=False, drop=None) -> None:
    """A model as Keras 2's model.save("m.h5") writes it: root attributes
    model_config, keras_version and backend; model_weights with layer_names,
    a group per layer (sorted by name) with weight_names; optimizer weights."""
    file.attrs["keras_version"] = b"2.15.0"
    file.attrs["backend"] = b"tensorflow"
    file.attrs["model_config"] = json.dumps(LEGACY_CONFIG).encode("utf8")
    weights = file.create_group("model_weights")
    names = [b"dense", b"dropout", b"dense_1"]
    if chunked_names:  # as save_attributes_to_hdf5_group splits long lists
        weights.attrs["layer_names0"] = names[:2]
        weights.attrs["layer_names1"] = names[2:]
    else:
        weights.attrs["layer_names"] = names
    weights.attrs["backend"] = b"tensorflow"
    weights.attrs["keras_version"] = b"2.15.0"
    content = {"dense": {"dense/kernel:0": KERNEL, "dense/bias:0": np.ones(2, np.float32)},
               "dense_1": {"dense_1/kernel:0": np.ones((2, 1), np.float32),
                           "dense_1/bias:0": np.zeros(1, np.float32)},
               "dropout": {}}
    for layer in sorted(content):
        group = weights.create_group(layer)
        group.attrs["weight_names"] = [name.encode("utf8") for name in content[layer]]
        for name, value in content[layer].items():
            if name != drop:
                group.create_dataset(name, data=value)
    optimizer = file.create_group("optimizer_weights")
    optimizer.attrs["weight_names"] = [b"Adam/iter:0"]
    optimizer["Adam/iter:0"] = np.int64(7)


def legacy_file(tmp_path, name="model.h5", **options) -> str:
    path = tmp_path / name
    path.write_bytes(h5_bytes(lambda file: build_legacy(file, **options)))
    return str(path)


def test_reads_a_legacy_h5_model(tmp_path):
    model = read_model_file(legacy_file(tmp_path))
    assert model.layout == "legacy"
    assert model.keras_version == "2.15.0"
    assert model.config == LEGACY_CONFIG
    assert model.legacy_layer_names == ["dense", "dropout", "dense_1"]
    assert model.legacy_weight_names == {"dense": ["dense/kernel:0", "dense/bias:0"], "dropout": [],
                                         "dense_1": ["dense_1/kernel:0", "dense_1/bias:0"]}
    assert list(model.weights) == ["model_weights/dense/dense/bias:0", "model_weights/dense/dense/kernel:0",
                                   "model_weights/dense_1/dense_1/bias:0", "model_weights/dense_1/dense_1/kernel:0"]
    np.testing.assert_array_equal(model.weights["model_weights/dense/dense/kernel:0"], KERNEL)
    assert model.saveable_names is None


def test_reads_chunked_layer_names_and_any_suffix(tmp_path):
    model = read_model_file(legacy_file(tmp_path, name="model.keras", chunked_names=True))
    assert model.legacy_layer_names == ["dense", "dropout", "dense_1"]


def test_reads_keras3s_legacy_writer(tmp_path):
    """Keras 3's save_model_to_hdf5 writes str names without ':0' and a
    top_level_model_weights group."""
    def build(file):
        file.attrs["model_config"] = json.dumps(LEGACY_CONFIG)
        file.attrs["keras_version"] = "3.15.1"
        weights = file.create_group("model_weights")
        weights.attrs["layer_names"] = ["dense"]
        weights.create_group("dense").attrs["weight_names"] = ["dense/kernel"]
        weights["dense/dense/kernel"] = KERNEL
        weights.create_group("top_level_model_weights").attrs["weight_names"] = np.array([], dtype="S1")

    path = tmp_path / "m.h5"
    path.write_bytes(h5_bytes(build))
    model = read_model_file(path)
    assert model.keras_version == "3.15.1"
    assert model.legacy_weight_names == {"dense": ["dense/kernel"]}
    assert list(model.weights) == ["model_weights/dense/dense/kernel"]


def test_a_listed_weight_must_exist(tmp_path):
    path = legacy_file(tmp_path, drop="dense_1/bias:0")
    assert_refused(path, f"{path}: layer 'dense_1' lists weight 'dense_1/bias:0' but there is no dataset "
                         "'model_weights/dense_1/dense_1/bias:0'")


def test_a_listed_layer_must_have_a_group(tmp_path):
    def build(file):
        build_legacy(file)
        file["model_weights"].attrs["layer_names"] = [b"dense", b"ghost"]

    path = tmp_path / "m.h5"
    path.write_bytes(h5_bytes(build))
    assert_refused(path, f"{path}: 'layer_names' lists 'ghost' but there is no group 'model_weights/ghost'")


@pytest.mark.parametrize("build, message", [
    (lambda file: file.attrs.create("layer_names", [b"dense"]),
     "a Keras weights file (model.save_weights) without a model config; import needs the whole model "
     "(model.save('m.h5'), or a .keras archive)"),
    (small_weights, "a Keras 3 weights file (.weights.h5) without a model config; "
                    "import the model's .keras archive instead"),
    (lambda file: file.create_group("data"), "an HDF5 file but not a Keras model: it has no 'model_config' attribute"),
    (lambda file: file.attrs.create("model_config", json.dumps(LEGACY_CONFIG)),
     "no 'model_weights' group, so no weights (model.save writes one)"),
    (lambda file: file.attrs.create("model_config", "{oops"),
     "attribute 'model_config' is not valid JSON: Expecting property name enclosed in double quotes: "
     "line 1 column 2 (char 1)"),
    (lambda file: file.attrs.create("model_config", 3), "attribute 'model_config' is not a UTF-8 string"),
])
def test_hdf5_files_that_are_no_keras_model(tmp_path, build, message):
    path = tmp_path / "m.h5"
    path.write_bytes(h5_bytes(build))
    assert_refused(path, f"{path}: {message}")


def test_truncated_legacy_h5(tmp_path):
    path = legacy_file(tmp_path)
    data = open(path, "rb").read()
    with open(path, "wb") as file:
        file.write(data[: len(data) // 2])
    message = str(read_error(path))
    assert message.startswith(f"{path} is not a readable HDF5 file (truncated or corrupt?): Unable to ")
    assert "truncated file" in message


# --------------------------------------------------------------------------
# Files that are not Keras models at all


@pytest.mark.parametrize("name, content, what", [
    ("model.keras", b"hello world", "not a zip archive, so not a .keras model (it starts with b'hello wo'"),
    ("model.h5", b"hello world", "not an HDF5 file, so not a Keras .h5 model (it starts with b'hello wo'"),
    ("model.onnx", b"\x08\x07\x12\x04", "not a Keras model file: neither a zip archive, an HDF5 file nor JSON "
                                        "(it starts with b'\\x08\\x07\\x12\\x04'"),
])
def test_files_of_unknown_kind(tmp_path, name, content, what):
    path = tmp_path / name
    path.write_bytes(content)
    assert_refused(path, f"{path}: {what}; layerspec import reads {ACCEPTED})")


def test_an_empty_file(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"")
    assert_refused(path, f"{path}: the file is empty (layerspec import reads {ACCEPTED})")


def test_a_missing_file_a_directory_a_fifo(tmp_path):
    assert_refused(tmp_path / "none.keras", f"cannot read {tmp_path / 'none.keras'}: No such file or directory")
    assert_refused(tmp_path, f"cannot read {tmp_path}: it is a directory")
    fifo = tmp_path / "pipe.keras"
    os.mkfifo(fifo)
    assert_refused(fifo, f"cannot read {fifo}: it is a FIFO (named pipe), not a regular file")


# --------------------------------------------------------------------------
# Broken archives


def test_a_truncated_archive(tmp_path):
    data = open(fixture_path("seq_mlp"), "rb").read()
    path = tmp_path / "model.keras"
    path.write_bytes(data[: len(data) // 2])
    assert_refused(path, f"{path}: not a valid zip archive (truncated or corrupt?): File is not a zip file")


def test_an_archive_without_config_json(tmp_path):
    path = write_zip(tmp_path / "model.keras", [("dense/kernel.npy", b"x"), ("dense/bias.npy", b"y")])
    assert_refused(path, f"{path}: the archive has no config.json, so it is not a Keras model (a .keras archive "
                         "holds config.json, metadata.json and model.weights.h5; this one holds: dense/kernel.npy, "
                         "dense/bias.npy)")


def test_an_archive_without_weights(tmp_path):
    path = keras_file(tmp_path)
    assert_refused(path, f"{path}: the archive has no model.weights.h5 (a .keras archive holds config.json, "
                         "metadata.json and model.weights.h5)")


def test_an_archive_with_npz_weights(tmp_path):
    path = keras_file(tmp_path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("model.weights.npz", b"PK")
    assert_refused(path, f"{path}: its weights are in model.weights.npz (Keras's npz weights format), which "
                         "stores pickled objects and is never read; save the model with the default h5 weights")


@pytest.mark.parametrize("config, message", [
    (b"[]", "config.json holds a list, not a JSON object (a Keras model config)"),
    (b"{,}", "config.json is not valid JSON: Expecting property name enclosed in double quotes: "
             "line 1 column 2 (char 1)"),
    (b'"Sequential"', "config.json holds a string, not a JSON object (a Keras model config)"),
    (b'{"name": "m"}', "config.json is not a Keras model config: it has no 'class_name'"),
    (b"\xc3\x28", "config.json is not UTF-8 text: 'utf-8' codec can't decode byte 0xc3 in position 0: "
                  "invalid continuation byte"),
])
def test_config_json_must_be_a_model_config(tmp_path, config, message):
    path = keras_file(tmp_path, h5_bytes(small_weights), config=config)
    assert_refused(path, f"{path}: {message}")


def test_a_corrupt_member(tmp_path):
    path = keras_file(tmp_path, h5_bytes(small_weights))
    data = bytearray(open(path, "rb").read())
    at = data.index(b"\x89HDF") + 200
    data[at] ^= 0xFF  # stored, so the CRC catches it
    open(path, "wb").write(bytes(data))
    assert_refused(path, f"{path}: member 'model.weights.h5' is corrupt: Bad CRC-32 for file 'model.weights.h5'")


def test_a_truncated_weights_file(tmp_path):
    data = h5_bytes(small_weights)
    path = keras_file(tmp_path, data[: len(data) // 2])
    message = str(read_error(path))
    assert message.startswith(f"{path}: model.weights.h5 is not a readable HDF5 file (truncated or corrupt?): "
                              "Unable to ")
    assert "truncated file" in message


def test_weights_that_are_not_hdf5(tmp_path):
    path = keras_file(tmp_path, b"not hdf5 at all")
    message = str(read_error(path))
    assert message.startswith(f"{path}: model.weights.h5 is not a readable HDF5 file (truncated or corrupt?): ")
    assert "file signature not found" in message


def test_an_encrypted_member(tmp_path):
    path = keras_file(tmp_path, h5_bytes(small_weights))
    data = bytearray(open(path, "rb").read())
    for start in _central_entries(data):
        name_length = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46: start + 46 + name_length] == b"config.json":
            entry = start
    data[entry + 8] |= 0x1  # general purpose flag bit 0: encrypted
    open(path, "wb").write(bytes(data))
    assert_refused(path, f"{path}: member 'config.json' is encrypted")


def _central_entries(data: bytes):
    start = data.find(b"PK\x01\x02")
    while start != -1:
        yield start
        start = data.find(b"PK\x01\x02", start + 4)


def test_a_member_appearing_twice(tmp_path):
    path = keras_file(tmp_path, h5_bytes(small_weights))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it writes
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("config.json", b"{}")
    assert_refused(path, f"{path}: member 'config.json' appears more than once")


# --------------------------------------------------------------------------
# Zip bombs: 1 GiB of zeros deflated to about 1 MB


BOMB_SIZE = 2**30


@functools.lru_cache(maxsize=1)
def deflated_zeros() -> tuple[bytes, int]:
    """1 GiB of zeros as a raw deflate stream (about 1 MB) and their CRC-32.

    A full flush resets the compressor, so every 1 MiB block of zeros
    compresses to the same bytes: compress one, repeat it, end the stream
    with an empty final block (what zlib's finish writes here).
    """
    block = b"\0" * 2**20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH) == piece
    crc = 0
    for _ in range(BOMB_SIZE // len(block)):
        crc = zlib.crc32(block, crc)
    return piece * (BOMB_SIZE // len(block)) + b"\x03\x00", crc


def raw_zip(path, members) -> str:
    """A zip written byte by byte: (name, stored data, method, crc, declared
    size) per member, so a member may lie about its size."""
    out, central = bytearray(), bytearray()
    for name, data, method, crc, size in members:
        name = name.encode()
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(data), size, len(name), 0)
        out += name + data
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                               len(name), 0, 0, 0, 0, 0o600 << 16, offset)
        central += name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(out), 0)
    with open(path, "wb") as file:
        file.write(bytes(out + central + end))
    return str(path)


def stored(name: str, data: bytes):
    return name, data, zipfile.ZIP_STORED, zlib.crc32(data), len(data)


def test_a_declared_zip_bomb_is_refused_before_inflating(tmp_path):
    data, crc = deflated_zeros()
    path = raw_zip(tmp_path / "bomb.keras", [
        stored("config.json", json.dumps(SMALL_CONFIG).encode()),
        ("model.weights.h5", data, zipfile.ZIP_DEFLATED, crc, BOMB_SIZE)])
    size = os.path.getsize(path)
    assert size < 1_100_000
    assert_refused(path, f"{path}: member 'model.weights.h5' declares 1073741824 bytes uncompressed, more than "
                         f"the {100 * size} bytes allowed for this {size}-byte archive (a zip bomb?)")


def test_a_config_bomb_is_refused_before_inflating(tmp_path):
    data, crc = deflated_zeros()
    path = raw_zip(tmp_path / "bomb.keras", [("config.json", data, zipfile.ZIP_DEFLATED, crc, BOMB_SIZE),
                                            stored("model.weights.h5", h5_bytes(small_weights))])
    assert_refused(path, f"{path}: member 'config.json' declares 1073741824 bytes uncompressed, more than "
                         "the 67108864 bytes a model config may have")


def test_an_undeclared_zip_bomb_is_cut_at_its_declared_size(tmp_path):
    data, crc = deflated_zeros()
    path = raw_zip(tmp_path / "bomb.keras", [stored("config.json", json.dumps(SMALL_CONFIG).encode()),
                                            ("model.weights.h5", data, zipfile.ZIP_DEFLATED, crc, 1000)])
    assert_refused(path, f"{path}: member 'model.weights.h5' is corrupt: Bad CRC-32 for file 'model.weights.h5'")


def test_a_member_with_fewer_bytes_than_declared(tmp_path):
    path = raw_zip(tmp_path / "short.keras", [
        stored("config.json", json.dumps(SMALL_CONFIG).encode()),
        ("model.weights.h5", zlib.compress(b"abc")[2:-4], zipfile.ZIP_DEFLATED, zlib.crc32(b"abc"), 10)])
    assert_refused(path, f"{path}: member 'model.weights.h5' is corrupt: it inflates to fewer bytes than the "
                         "10 it declares")


# --------------------------------------------------------------------------
# HDF5 features and datasets that are refused


def weights_archive(tmp_path, build) -> str:
    return keras_file(tmp_path, h5_bytes(build))


@pytest.mark.parametrize("build, message", [
    (lambda f: f.__setitem__("layers/dense/vars/0", h5py.ExternalLink("other.h5", "/x")),
     "'layers/dense/vars/0' is an external link (to '/x' in 'other.h5'), refused: it would read another file"),
    (lambda f: (small_weights(f), f.__setitem__("layers/alias", h5py.SoftLink("/layers/dense"))),
     "'layers/alias' is a soft link (to '/layers/dense'), refused: Keras never writes links"),
    (lambda f: (small_weights(f), f.__setitem__("layers/dense/vars/2", f["layers/dense/vars/0"])),
     "'layers/dense/vars/2' is a second link to an object already read, refused: Keras never writes hard links"),
    (lambda f: (small_weights(f), f.__setitem__("layers/dense/vars/loop", f["layers"])),
     "'layers/dense/vars/loop' is a second link to an object already read, refused: Keras never writes hard links"),
    (lambda f: f.create_dataset("layers/dense/vars/0", shape=(4,), dtype="f4", external=[("raw.bin", 0, 16)]),
     "dataset 'layers/dense/vars/0' stores its data in external files (raw.bin), refused: it would read "
     "other files"),
    (lambda f: f.create_dataset("layers/dense/vars/0", data=h5py.Empty("f4")),
     "dataset 'layers/dense/vars/0' has no data (an empty dataspace)"),
])
def test_refused_hdf5_features(tmp_path, build, message):
    path = weights_archive(tmp_path, build)
    assert_refused(path, f"{path}: model.weights.h5: {message}")


def test_a_virtual_dataset_is_refused(tmp_path):
    def build(file):
        layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
        layout[:] = h5py.VirtualSource("other.h5", "x", shape=(4,))
        file.create_virtual_dataset("layers/dense/vars/0", layout)

    path = weights_archive(tmp_path, build)
    assert_refused(path, f"{path}: model.weights.h5: dataset 'layers/dense/vars/0' is a virtual dataset (its data "
                         "is in other datasets or files), refused")


def _bfloat16(file):
    file["layers/dense/vars/0"] = np.zeros(2, np.uint16)
    file["layers/dense/vars/0"].attrs["dtype"] = "bfloat16"


@pytest.mark.parametrize("build, dtype", [
    (lambda f: f.create_dataset("layers/d/vars/0", data=np.array([True])), "bool"),
    (lambda f: f.create_dataset("layers/d/vars/0", data=np.array([1j])), "complex128"),
    (lambda f: f.create_dataset("layers/d/vars/0", data="text"), "strings"),
    (lambda f: f.create_dataset("layers/d/vars/0", data=np.array([f.create_group("g").ref], dtype=h5py.ref_dtype)),
     "object references"),
    (lambda f: f.create_dataset("layers/d/vars/0", data=np.array([1], h5py.enum_dtype({"a": 0, "b": 1}, "i1"))),
     "an enumeration of int8"),
    (lambda f: f.create_dataset("layers/d/vars/0", data=np.zeros(2, [("a", "f4"), ("b", "i4")])),
     "[('a', '<f4'), ('b', '<i4')]"),
    (_bfloat16, "bfloat16"),
])
def test_dtypes_other_than_floats_and_integers_are_refused(tmp_path, build, dtype):
    path = weights_archive(tmp_path, build)
    where = "layers/dense/vars/0" if build is _bfloat16 else "layers/d/vars/0"
    assert_refused(path, f"{path}: model.weights.h5: dataset '{where}' has dtype {dtype}; layerspec reads "
                         "float16/32/64 and integer weights only")


def test_every_float_and_integer_dtype_is_read(tmp_path):
    dtypes = ["float16", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
              "uint64", ">f4", ">i8"]

    def build(file):
        for index, dtype in enumerate(dtypes):
            file[f"layers/d/vars/{index}"] = np.arange(3).astype(dtype)

    weights = read_model_file(weights_archive(tmp_path, build)).weights
    for index, dtype in enumerate(dtypes):
        array = weights[f"layers/d/vars/{index}"]
        assert array.dtype == np.dtype(dtype).newbyteorder("=") and array.dtype.isnative
        assert array.tolist() == [0, 1, 2]


def test_a_shape_bomb_is_refused_before_reading(tmp_path):
    """8 GiB declared in a chunked, compressed dataset that stores nothing."""
    data = h5_bytes(lambda f: f.create_dataset("layers/dense/vars/0", shape=(2**31,), dtype="f4",
                                               chunks=(2**20,), compression="gzip"))
    path = keras_file(tmp_path, data)
    assert_refused(path, f"{path}: model.weights.h5: dataset 'layers/dense/vars/0' (shape (2147483648,), float32) "
                         f"brings the weights to 8589934592 bytes, more than the 67108864 bytes allowed for this "
                         f"{len(data)}-byte file (a shape bomb?)")


def test_the_weights_are_capped_in_all(tmp_path, monkeypatch):
    monkeypatch.setattr(keras_archive, "MAX_WEIGHT_BYTES", 30)
    path = legacy_file(tmp_path)
    assert_refused(path, f"{path}: dataset 'model_weights/dense/dense/kernel:0' (shape (3, 2), float32) brings "
                         "the weights to 32 bytes, more than the 30 bytes layerspec reads from one file")


def test_the_weights_member_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(keras_archive, "MAX_WEIGHT_BYTES", 1000)
    path = weights_archive(tmp_path, small_weights)
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo("model.weights.h5").file_size
    assert_refused(path, f"{path}: member 'model.weights.h5' declares {size} bytes uncompressed, more than the "
                         "1000 bytes layerspec reads from one file")


def test_the_weights_must_fit_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr("layerspec.runner.physical_memory", lambda: 20)
    path = weights_archive(tmp_path, small_weights)
    assert_refused(path, f"{path}: model.weights.h5: dataset 'layers/dense/vars/0' (shape (3, 2), float32) brings "
                         "the weights to 24 bytes, more than the 20 bytes of this machine's memory")


def test_a_corrupt_dataset(tmp_path):
    """A checksummed chunk whose bytes changed fails to read; the message names it."""
    marker = np.full(64, 1234.5678, np.float32)
    data = bytearray(h5_bytes(lambda f: f.create_dataset("layers/dense/vars/0", data=marker, chunks=(64,),
                                                         fletcher32=True)))
    at = data.index(marker.tobytes())
    data[at] ^= 0xFF
    path = keras_file(tmp_path, bytes(data))
    message = str(read_error(path))
    assert message.startswith(f"{path}: model.weights.h5: cannot read dataset 'layers/dense/vars/0' "
                              "(truncated or corrupt?): ")
    assert "filter returned failure" in message


# --------------------------------------------------------------------------
# Without h5py


def test_reading_weights_without_h5py(tmp_path, monkeypatch):
    paths = (fixture_path("seq_mlp"), legacy_file(tmp_path))
    monkeypatch.setitem(sys.modules, "h5py", None)
    for path in paths:
        error = read_error(path)
        assert type(error) is LayerspecError
        assert str(error) == "reading Keras weights needs h5py: pip install 'layerspec-yaml[keras]'"


def test_writing_without_h5py(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(LayerspecError) as info:
        write_keras_archive(tmp_path / "m.keras", SMALL_CONFIG, {})
    assert str(info.value) == "writing Keras weights needs h5py: pip install 'layerspec-yaml[keras]'"
    assert not (tmp_path / "m.keras").exists()


# --------------------------------------------------------------------------
# Writing


def h5_layout(data: bytes) -> list:
    """Every group and dataset of an HDF5 file with its attributes, shape and dtype."""
    items = []
    with h5py.File(io.BytesIO(data), "r") as file:
        file.visititems(lambda path, item: items.append(
            (path, type(item).__name__, dict(item.attrs), getattr(item, "shape", None),
             str(getattr(item, "dtype", "")), getattr(item, "chunks", None), getattr(item, "compression", None))))
    return items


@pytest.mark.parametrize("name", fixture_names())
def test_writes_what_keras_writes(tmp_path, name):
    """Read a fixture and write it back: the same members in the same order,
    stored, with Keras's modes and dates; config.json and metadata.json
    byte for byte; the same HDF5 groups, attributes and datasets."""
    model = read_model_file(fixture_path(name))
    with zipfile.ZipFile(fixture_path(name)) as archive:
        original = {info.filename: (info, archive.read(info)) for info in archive.infolist()}
    saved_at = datetime.datetime.strptime(json.loads(original["metadata.json"][1])["date_saved"],
                                          "%Y-%m-%d@%H:%M:%S")
    path = tmp_path / f"{name}.keras"
    write_keras_archive(path, model.config, model.weights, saveable_names=model.saveable_names, saved_at=saved_at)
    with zipfile.ZipFile(path) as archive:
        written = {info.filename: (info, archive.read(info)) for info in archive.infolist()}
    assert list(written) == list(original) == ["metadata.json", "config.json", "model.weights.h5"]
    for member, (info, data) in written.items():
        keras_info, keras_data = original[member]
        assert (info.compress_type, info.external_attr, info.date_time, info.create_system) == (
            keras_info.compress_type, keras_info.external_attr, keras_info.date_time, keras_info.create_system)
        if member != "model.weights.h5":
            assert data == keras_data
    assert h5_layout(written["model.weights.h5"][1]) == h5_layout(original["model.weights.h5"][1])
    again = read_model_file(path)
    assert again.config == model.config and again.saveable_names == model.saveable_names
    assert list(again.weights) == list(model.weights)
    for key, array in model.weights.items():
        assert again.weights[key].dtype == array.dtype
        np.testing.assert_array_equal(again.weights[key], array)


def test_round_trip_of_every_dtype_and_a_scalar(tmp_path):
    weights = {"layers/a/vars/0": np.arange(4, dtype=np.float16).reshape(2, 2),
               "layers/a/vars/1": np.float64(2.5), "layers/a/vars/2": np.arange(3, dtype=np.uint32),
               "layers/b/vars/0": np.array([-1, 1], np.int8)}
    path = tmp_path / "m.keras"
    write_keras_archive(path, SMALL_CONFIG, weights, keras_version="3.9.0")
    model = read_model_file(path)
    assert model.keras_version == "3.9.0"
    assert model.saveable_names == {}
    for key, array in weights.items():
        assert model.weights[key].dtype == np.asarray(array).dtype
        np.testing.assert_array_equal(model.weights[key], array)


def test_the_same_input_gives_the_same_bytes(tmp_path):
    model = read_model_file(fixture_path("seq_cnn"))
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5)
    outputs = []
    for index in range(2):
        stream = io.BytesIO()
        write_keras_archive(stream, model.config, model.weights, saveable_names=model.saveable_names,
                            saved_at=moment)
        outputs.append(stream.getvalue())
    assert outputs[0] == outputs[1]
    with zipfile.ZipFile(io.BytesIO(outputs[0])) as archive:
        assert json.loads(archive.read("metadata.json")) == {"keras_version": "3.15.1",
                                                             "date_saved": "2026-01-02@03:04:05"}
        # Zip dates count seconds in twos.
        assert archive.getinfo("model.weights.h5").date_time == (2026, 1, 2, 3, 4, 4)


def test_the_date_saved_defaults_to_now(tmp_path):
    before = datetime.datetime.now().replace(microsecond=0)
    write_keras_archive(tmp_path / "m.keras", SMALL_CONFIG, {})
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        saved = datetime.datetime.strptime(json.loads(archive.read("metadata.json"))["date_saved"],
                                           "%Y-%m-%d@%H:%M:%S")
    assert before <= saved <= datetime.datetime.now()


class _Unseekable(io.RawIOBase):
    """A write-only stream that cannot seek, like a pipe."""

    def __init__(self):
        self.data = bytearray()

    def writable(self):
        return True

    def write(self, chunk):
        self.data += chunk
        return len(chunk)


def test_writes_to_an_unseekable_stream(tmp_path):
    stream = _Unseekable()
    weights = {"layers/dense/vars/0": KERNEL}
    write_keras_archive(stream, SMALL_CONFIG, weights, saveable_names={"": "small", "layers/dense": "dense"})
    path = tmp_path / "m.keras"
    path.write_bytes(bytes(stream.data))
    model = read_model_file(path)
    assert model.saveable_names == {"": "small", "layers/dense": "dense"}
    np.testing.assert_array_equal(model.weights["layers/dense/vars/0"], KERNEL)


def test_empty_vars_groups_are_written_for_every_named_saveable(tmp_path):
    path = tmp_path / "m.keras"
    write_keras_archive(path, SMALL_CONFIG, {"layers/dense/vars/0": KERNEL},
                        saveable_names={"": "small", "layers/dense": "dense", "layers/dropout": "dropout"})
    with zipfile.ZipFile(path) as archive:
        layout = h5_layout(archive.read("model.weights.h5"))
    assert [(item[0], item[2]) for item in layout] == [
        ("layers", {}), ("layers/dense", {}), ("layers/dense/vars", {"name": "dense"}),
        ("layers/dense/vars/0", {}), ("layers/dropout", {}), ("layers/dropout/vars", {"name": "dropout"}),
        ("vars", {"name": "small"})]


@pytest.mark.parametrize("weights, names, message", [
    ({"/layers/a": KERNEL}, None, "dataset path '/layers/a' starts or ends with '/'"),
    ({"layers//a": KERNEL}, None, "dataset path 'layers//a' has an empty part ('//')"),
    ({"layers/../a": KERNEL}, None, "dataset path 'layers/../a' has a '.' or '..' part"),
    ({"": KERNEL}, None, "dataset path '' is empty"),
    ({3: KERNEL}, None, "dataset path 3 is not a string"),
    ({"layers/a/vars/0": np.array(["x"])}, None,
     "dataset 'layers/a/vars/0' has dtype <U1; only float16/32/64 and integer arrays are written"),
    ({"layers/a/vars/0": np.array([True])}, None,
     "dataset 'layers/a/vars/0' has dtype bool; only float16/32/64 and integer arrays are written"),
    ({"layers/a": KERNEL, "layers/a/vars/0": KERNEL}, None,
     "'layers/a/vars/0' would need a group where dataset 'layers/a' is"),
    ({"layers/a/vars": KERNEL}, {"layers/a": "a"}, "'layers/a/vars' is both a dataset and a vars group"),
    ({"layers/a": KERNEL}, {"layers/a/b": "b"}, "'layers/a/b/vars' would need a group where dataset 'layers/a' is"),
    ({}, {"layers/a/": "a"}, "saveable path 'layers/a/' starts or ends with '/'"),
    ({}, {"layers/a": 3}, "the name of 'layers/a' is not a string"),
])
def test_weights_that_cannot_be_written(tmp_path, weights, names, message):
    path = tmp_path / "m.keras"
    path.write_bytes(b"old")
    with pytest.raises(WeightsError) as info:
        write_keras_archive(path, SMALL_CONFIG, weights, saveable_names=names)
    assert str(info.value) == f"cannot write a Keras archive: {message}"
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["m.keras"]


@pytest.mark.parametrize("config, message", [
    ({"class_name": "Sequential", "config": {"rate": np.float32(0.5)}},
     "the config is not JSON: Object of type float32 is not JSON serializable"),
    ([SMALL_CONFIG], "the config is list, not a dict"),
])
def test_configs_that_cannot_be_written(tmp_path, config, message):
    with pytest.raises(KerasFileError) as info:
        write_keras_archive(tmp_path / "m.keras", config, {})
    assert str(info.value) == f"cannot write a Keras archive: {message}"
    assert os.listdir(tmp_path) == []


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    path.write_bytes(b"old")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras_archive, "_write_zip", fail)
    with pytest.raises(DataError) as info:
        write_keras_archive(path, SMALL_CONFIG, {"layers/a/vars/0": KERNEL})
    assert str(info.value) == f"cannot write {path}: No space left on device"
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["m.keras"]


def test_writing_into_a_missing_directory(tmp_path):
    path = tmp_path / "none" / "m.keras"
    with pytest.raises(DataError) as info:
        write_keras_archive(path, SMALL_CONFIG, {})
    assert str(info.value) == f"cannot write {path}: No such file or directory"
