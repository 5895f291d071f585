"""Reading the Keras 3 fixtures in tests/fixtures/keras/ (a test utility, not part of the package).

Each fixture NAME is a model saved by Keras 3 itself (``NAME.keras``: a zip
holding ``config.json``, ``metadata.json`` and ``model.weights.h5``), four
input samples (``NAME.inputs.npz``, keyed by Keras input name) and Keras's
``model.predict`` on them (``NAME.outputs.npz``, keyed by the name of the
layer producing each output). ``index.json`` records each model's parameter
count and the Keras layer classes inside it. The originals and their README
are in /work/shared/keras/; the files are copied here unchanged so the tests
run from a fresh clone.

A fixture test writes the equivalent spec by hand, maps the h5 weights onto
layerspec's weight keys, runs the spec and compares with Keras::

    fixture = load_fixture("seq_mlp")
    weights = keras_weights(fixture, {"dense/kernel": "layers/dense/vars/0", ...})
    assert_matches_keras(fixture, run_spec(SPEC, weights, fixture.inputs))

Keras names the h5 groups by class name and a counter in model order
(``layers/conv2d``, ``layers/conv2d_1``, ...; a nested model's layers under
``layers/sequential/layers/...``), not by layer name, and numbers a layer's
variables in creation order (``vars/0`` is a Dense's kernel, ``vars/1`` its
bias): write each mapping by hand from the config's layer order.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pathlib
import textwrap
import zipfile

import h5py
import numpy as np
from numpy.testing import assert_allclose

import layerspec

#: Tolerances for float32 forward passes against Keras (docs: DESIGN.md §5).
RTOL = 2e-4
ATOL = 2e-5


def fixture_dir() -> pathlib.Path:
    """The directory holding the copied fixtures: tests/fixtures/keras."""
    return pathlib.Path(__file__).resolve().parent / "fixtures" / "keras"


def read_index() -> dict:
    """``index.json`` parsed: ``{"keras_version": ..., "fixtures": {NAME: {...}}}``."""
    return json.loads((fixture_dir() / "index.json").read_text(encoding="utf-8"))


def fixture_names() -> list[str]:
    """Every fixture index.json lists, in its order (not all are copied here)."""
    return list(read_index()["fixtures"])


@dataclasses.dataclass(frozen=True)
class KerasFixture:
    """One fixture, read into memory.

    Attributes:
        name: the fixture's name (``seq_mlp``).
        config: ``config.json`` parsed (the model as Keras describes it).
        h5: every dataset of ``model.weights.h5``, path → array
            (``"layers/dense/vars/0"``).
        inputs: the input samples, Keras input name → array.
        outputs: Keras's outputs for them, output layer name → array.
        params: ``model.count_params()`` as index.json records it.
        layer_classes: the Keras layer classes index.json lists for it.
    """

    name: str
    config: dict
    h5: dict
    inputs: dict
    outputs: dict
    params: int
    layer_classes: list


def load_fixture(name: str) -> KerasFixture:
    """Read fixture ``name`` from :func:`fixture_dir` (the archive is read in
    memory, nothing is extracted to disk)."""
    entries = read_index()["fixtures"]
    if name not in entries:
        raise ValueError(f"no Keras fixture {name!r}; index.json lists: {', '.join(entries)}")
    directory = fixture_dir()
    archive_path = directory / f"{name}.keras"
    if not archive_path.exists():
        raise FileNotFoundError(f"{archive_path} is missing: copy {name}.keras, {name}.inputs.npz and "
                                f"{name}.outputs.npz from /work/shared/keras/")
    with zipfile.ZipFile(archive_path) as archive:
        config = json.loads(archive.read("config.json"))
        weights_file = archive.read("model.weights.h5")
    return KerasFixture(name=name, config=config, h5=_read_h5(weights_file),
                        inputs=_read_npz(directory / f"{name}.inputs.npz"),
                        outputs=_read_npz(directory / f"{name}.outputs.npz"),
                        params=entries[name]["params"], layer_classes=list(entries[name]["layers"]))


def _read_h5(data: bytes) -> dict:
    arrays = {}

    def keep(path, item):
        if isinstance(item, h5py.Dataset):
            arrays[path] = np.asarray(item[()])

    with h5py.File(io.BytesIO(data), "r") as file:
        file.visititems(keep)
    return arrays


def _read_npz(path: pathlib.Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def keras_weights(fixture: KerasFixture, mapping: dict, *, use_all: bool = True) -> dict:
    """Our weights dict from the fixture's h5 arrays.

    Args:
        fixture: from :func:`load_fixture`.
        mapping: our weight key (``"encoder/kernel"``) → h5 dataset path
            (``"layers/dense/vars/0"``).
        use_all: require every h5 dataset to be mapped (so a forgotten
            weight, or two keys mapped to one dataset, is caught here).
    """
    unknown = [path for path in mapping.values() if path not in fixture.h5]
    if unknown:
        raise KeyError(f"{fixture.name}: no h5 dataset {unknown[0]!r}; the datasets are: {', '.join(fixture.h5)}")
    if use_all:
        unused = [path for path in fixture.h5 if path not in mapping.values()]
        if unused:
            raise KeyError(f"{fixture.name}: h5 datasets not mapped: {', '.join(unused)}")
    return {key: fixture.h5[path] for key, path in mapping.items()}


def spec_model(spec_text: str, weights: dict | None = None):
    """The model of a spec (YAML text, dedented), with ``weights`` set if given."""
    model = layerspec.loads(textwrap.dedent(spec_text))
    if weights is not None:
        model.set_weights(weights, source="Keras weights")
    return model


def run_spec(spec_text: str, weights: dict, inputs):
    """Run a spec with the given weights through layerspec.

    Args:
        spec_text: the spec's YAML.
        weights: our weight key → array (see :func:`keras_weights`).
        inputs: an array (one-input model), or a dict by input name (a
            one-entry dict feeds a one-input model whatever its key).

    Returns:
        One array for a one-output model; for several, a dict by output name.
    """
    model = spec_model(spec_text, weights)
    names = model.input_names
    if isinstance(inputs, dict):
        if len(names) == 1 and len(inputs) == 1:
            inputs = next(iter(inputs.values()))
        elif set(inputs) != set(names):
            raise KeyError(f"the spec's inputs are {names}, the arrays' {sorted(inputs)}")
        else:
            inputs = {name: inputs[name] for name in names}
    result = model.predict(inputs)
    if len(model.output_names) == 1:
        return result
    if isinstance(result, dict):
        return result
    return dict(zip(model.output_names, result))


def assert_matches_keras(fixture: KerasFixture, outputs) -> None:
    """Compare :func:`run_spec`'s result with Keras's outputs (rtol 2e-4,
    atol 2e-5): one array for a one-output fixture, else a dict whose keys
    are Keras's output names."""
    if not isinstance(outputs, dict):
        if len(fixture.outputs) != 1:
            raise AssertionError(f"{fixture.name} has outputs {sorted(fixture.outputs)}; got one array")
        outputs = {next(iter(fixture.outputs)): outputs}
    assert sorted(outputs) == sorted(fixture.outputs), (sorted(outputs), sorted(fixture.outputs))
    for name, expected in fixture.outputs.items():
        got = np.asarray(outputs[name])
        assert got.dtype == np.float32, f"{fixture.name} output {name!r}: dtype {got.dtype}"
        assert got.shape == expected.shape, f"{fixture.name} output {name!r}: shape {got.shape} != {expected.shape}"
        assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=f"{fixture.name} output {name!r}")
