"""Interchange: ``layerspec import`` and ``layerspec export --to keras|onnx``.

This module ties three others together, one concern each:

- :mod:`layerspec.keras_archive` reads and writes the files (a ``.keras``
  zip, a JSON config, a legacy Keras 2 ``.h5``), safely;
- :mod:`layerspec.keras_import` turns a Keras model config into a readable
  spec and :mod:`layerspec.keras_export` a built model back into a Keras
  config (their tables in :mod:`layerspec.keras_config`);
- :mod:`layerspec.keras_weights` maps Keras's HDF5 weight paths onto our
  weight keys and back.

ONNX goes one way, out: :mod:`layerspec.onnx_export` writes a model
through the converters of :mod:`layerspec.onnx_convert`.

Everything is computed and checked before anything is written: a spec that
would not read back, weights of the wrong shape, a layer layerspec cannot
express each stop the command with no output file.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass

import numpy as np

from .errors import LayerspecError


@dataclass
class Imported:
    """What :func:`import_model` made: the spec's text, the model it
    describes and, when the file held weights, the weights by our keys."""

    spec_text: str
    model: object
    weights: dict[str, np.ndarray] | None
    #: The file it was read from.
    source: str = ""


def import_model(path: str) -> Imported:
    """Read a Keras model file (``.keras``, JSON config or legacy ``.h5``)
    into a spec and, if it has any, weights — checked by building the
    spec's model and setting the weights on it.

    Raises:
        LayerspecError: an unreadable or unsupported file, naming the layer
            and its place in the config where one is at fault.
    """
    from .keras_archive import read_model_file
    from .keras_import import spec_from_config
    from .spec import build_model, loads_spec

    file = read_model_file(path)
    with _naming_the_file(path):
        text, _ = spec_from_config(file.config)
    try:
        model = build_model(loads_spec(text, path="<imported spec>"), require_input=False)
    except LayerspecError as error:  # the conversion wrote something layerspec refuses
        raise LayerspecError(f"{path}: the spec made from its config does not build: {error}") from None
    weights = None
    if file.weights is not None:
        from .keras_weights import weights_from_keras

        with _naming_the_file(path):
            weights = weights_from_keras(model, file)
        model.set_weights(weights, source=str(path))
    return Imported(text, model, weights, str(path))


@contextlib.contextmanager
def _naming_the_file(path: str):
    """Errors about a layer of the config ("layers[3] 'conv2d' ...") name
    the file they are in, too."""
    try:
        yield
    except LayerspecError as error:
        if error.position is None and not error.message.startswith(str(path)):
            error.message = f"{path}: {error.message}"
        raise


def write_import(imported: Imported, spec_out: str, weights_out: str | None) -> None:
    """Write the spec (and the weights, to ``weights_out``), each all at once."""
    from .arrays import open_output, refuse_overwriting_inputs, write_npz

    refuse_overwriting_inputs(spec_out, [imported.source], "-o")
    if weights_out is not None:
        refuse_overwriting_inputs(weights_out, [imported.source, spec_out], "--weights-out")
        if os.path.abspath(weights_out) == os.path.abspath(spec_out):
            raise LayerspecError(f"{weights_out}: --weights-out names the spec's -o file; choose another path")
    if weights_out is not None and imported.weights is None:
        raise LayerspecError("--weights-out: the file holds no weights (a JSON config is the architecture only)")
    if weights_out is not None:
        write_npz(weights_out, imported.weights)
    with open_output(spec_out) as file:
        file.write(imported.spec_text.encode("utf-8"))


def export_model(spec_path: str, output, weights: str | None = None, seed: int = 0, settings=None):
    """A spec as a Keras model: a ``.keras`` archive (config and weights) or
    a ``.json`` config alone (``output`` a path ending in ``.json``); to a
    writable binary stream, the archive.

    Without ``weights`` an archive carries freshly initialised weights
    (``seed``), drawn from the layers' Keras initializers: Keras's loader
    needs a weights file. A ``.json`` config has none; Keras's
    ``model_from_json`` initialises the model itself.

    Returns:
        The built model.
    """
    from .keras_archive import write_keras_archive
    from .keras_export import config_from_model
    from .spec import build_model, read_spec

    from .arrays import refuse_overwriting_inputs

    is_path = isinstance(output, (str, os.PathLike))
    if is_path:
        refuse_overwriting_inputs(output, [spec_path] + ([weights] if weights is not None else []))
    config_only = is_path and str(output).endswith(".json")
    if config_only and weights is not None:
        raise LayerspecError(f"{output}: a .json config holds no weights; write a .keras archive to keep them")
    model = build_model(read_spec(spec_path, settings))
    config = config_from_model(model)
    if config_only:
        _write_json(output, config)
        return model
    _set_weights(model, weights, seed)
    from .keras_weights import keras_saveable_names, weights_to_keras

    # The names let the archive hold the (empty) groups Keras writes for
    # layers without weights, so its layout is Keras's own.
    write_keras_archive(output, config, weights_to_keras(model, config),
                        saveable_names=keras_saveable_names(config))
    return model


def export_onnx_file(spec_path: str, output: str, weights: str | None = None, seed: int = 0,
                     opset: int | None = None, settings=None):
    """A spec as an ONNX model file, with ``weights`` (a ``.npz``) or
    freshly initialised ones (``seed``).

    Returns:
        ``(model, export, files)``: the built model, the
        :class:`~layerspec.onnx_export.OnnxExport` and the files written
        (the model, and for one over 1 GiB of weights its data file).
    """
    from .arrays import refuse_overwriting_inputs
    from .onnx_export import export_onnx, import_onnx, write_onnx
    from .spec import build_model, locate_layer, read_spec

    import_onnx("exporting to ONNX")
    if isinstance(output, (str, os.PathLike)):
        refuse_overwriting_inputs(output, [spec_path] + ([weights] if weights is not None else []))
    spec = read_spec(spec_path, settings)
    model = build_model(spec)
    _set_weights(model, weights, seed)
    try:
        export = export_onnx(model, opset)
    except LayerspecError as error:  # a layer ONNX cannot express: its entry in the spec
        raise locate_layer(error, spec) from None
    return model, export, write_onnx(export, output)


def _set_weights(model, weights: str | None, seed: int) -> None:
    """Load ``weights`` into the model, or draw them from ``seed``."""
    if weights is not None:
        model.load_weights(weights)
    else:
        model.init(seed=seed)


def _write_json(output: str, config: dict) -> None:
    from .arrays import open_output

    with open_output(output) as file:
        file.write(json.dumps(config, indent=2).encode("utf-8") + os.linesep.encode())
