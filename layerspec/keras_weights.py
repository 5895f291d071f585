"""Keras's HDF5 weight paths ↔ layerspec's weight keys.

Our weight names and layouts are Keras's (docs/design.md §4-5), so moving
weights between a Keras file and a model is a matter of *where* Keras
stores each variable, never of reshaping it.

Keras 3 (``model.weights.h5`` inside a ``.keras`` archive), as
``keras/src/saving/saving_lib.py`` writes it:

- ``_walk_saveable`` yields a Sequential's or Functional's ``layers`` first,
  and ``_save_container_state`` names each one's group
  ``snake_case(class name)`` plus a counter within its container
  (``_get_unique_name``), in ``model.layers`` order — the order of the
  config's ``"layers"`` list, *not* the layers' names: a Conv2D named
  ``stem`` is stored under ``layers/conv2d``, the next Conv2D under
  ``layers/conv2d_1``. A nested model is such a layer, with its own layers
  under ``layers/sequential/layers/...``.
- ``Layer.save_own_variables`` stores ``_trainable_variables +
  _non_trainable_variables`` as ``vars/0``, ``vars/1``, ... in creation order
  (a BatchNormalization: gamma, beta, moving_mean, moving_variance). A
  variable a layer does not create (a bias with ``use_bias: false``) takes
  no number.
- Sublayers held in attributes get groups named after the attribute:
  an RNN's ``cell``, Bidirectional's ``forward_layer``/``backward_layer``,
  TimeDistributed's ``layer``, MultiHeadAttention's ``query_dense``,
  ``key_dense``, ``value_dense`` and ``output_dense``.
- ``visited_saveables``: a layer applied several times (shared) is stored
  once, under its place in ``model.layers``.
- Anything outside the top-level ``layers/`` group (``optimizer/vars/...``,
  metrics) is training state; import ignores it.

Legacy Keras 2 ``.h5`` (``keras/src/legacy/saving/legacy_h5_format.py``):
group ``model_weights`` with attribute ``layer_names``; one group per layer
*name*, whose attribute ``weight_names`` lists its variables in the order
``trainable_weights + non_trainable_weights`` (``dense/kernel:0``,
``lstm/lstm_cell/kernel:0``, ``bidirectional/forward_lstm/lstm_cell/kernel:0``),
each a dataset at ``model_weights/<layer>/<weight name>``. Keras's own
loader matches layers by position; we match them by name (a full-model file
holds the config the spec was made from, so the names are the same) and
variables by position, as Keras does, checking counts and shapes.

:data:`KERAS_LAYOUT` and :data:`WRAPPERS` are the table: for each layer
class layerspec supports with weights, which of our weights Keras stores in
which group, in which order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from .errors import WeightsError
from .layers.base import Layer, snake_case

#: For each layer class with weights of its own: the groups Keras stores
#: them in, each ``(group under the layer's group, the prefix of our weight
#: names in it, the variables' names in Keras's order)``. Keras numbers the
#: variables a layer actually has (``vars/0``, ``vars/1``, ...), so a bias
#: left out by ``use_bias: false`` shifts nothing before it. The orders come
#: from each Keras layer's ``build`` (``add_weight`` calls, trainable ones
#: first: ``Layer.save_own_variables``).
KERAS_LAYOUT: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    # core/dense.py, core/einsum_dense.py: kernel, then bias if use_bias.
    "Dense": (("", "", ("kernel", "bias")),),
    "EinsumDense": (("", "", ("kernel", "bias")),),
    # convolutional/base_conv.py, base_conv_transpose.py, base_depthwise_conv.py.
    "Conv1D": (("", "", ("kernel", "bias")),),
    "Conv2D": (("", "", ("kernel", "bias")),),
    "Conv3D": (("", "", ("kernel", "bias")),),
    "Conv1DTranspose": (("", "", ("kernel", "bias")),),
    "Conv2DTranspose": (("", "", ("kernel", "bias")),),
    "DepthwiseConv1D": (("", "", ("kernel", "bias")),),
    "DepthwiseConv2D": (("", "", ("kernel", "bias")),),
    # convolutional/base_separable_conv.py: depthwise, pointwise, bias.
    "SeparableConv1D": (("", "", ("depthwise_kernel", "pointwise_kernel", "bias")),),
    "SeparableConv2D": (("", "", ("depthwise_kernel", "pointwise_kernel", "bias")),),
    # core/embedding.py; keras_hub's PositionEmbedding (add_weight name "embeddings").
    "Embedding": (("", "", ("embeddings",)),),
    "PositionEmbedding": (("", "", ("embeddings",)),),
    # normalization/*.py: gamma if scale, beta if center (trainable), then
    # BatchNormalization's moving statistics (non-trainable).
    "BatchNormalization": (("", "", ("gamma", "beta", "moving_mean", "moving_variance")),),
    "LayerNormalization": (("", "", ("gamma", "beta")),),
    "GroupNormalization": (("", "", ("gamma", "beta")),),
    # preprocessing/normalization.py: without a given mean and variance
    # (all three non-trainable; count is an int variable in Keras).
    "Normalization": (("", "", ("mean", "variance", "count")),),
    # activations/prelu.py.
    "PReLU": (("", "", ("alpha",)),),
    # attention/attention.py: scale if use_scale, concat_score_weight if
    # score_mode is concat; additive_attention.py: scale.
    "Attention": (("", "", ("scale", "concat_score_weight")),),
    "AdditiveAttention": (("", "", ("scale",)),),
    # rnn/*.py: the layer holds its weights in its cell (attribute `cell`).
    "SimpleRNN": (("cell", "", ("kernel", "recurrent_kernel", "bias")),),
    "LSTM": (("cell", "", ("kernel", "recurrent_kernel", "bias")),),
    "GRU": (("cell", "", ("kernel", "recurrent_kernel", "bias")),),
    "ConvLSTM1D": (("cell", "", ("kernel", "recurrent_kernel", "bias")),),
    "ConvLSTM2D": (("cell", "", ("kernel", "recurrent_kernel", "bias")),),
    "ConvLSTM3D": (("cell", "", ("kernel", "recurrent_kernel", "bias")),),
    # attention/multi_head_attention.py: EinsumDense sublayers, saved under
    # the public properties' names (query_dense, ...) — _walk_saveable visits
    # public attributes first — except the gate (use_gate), which has no
    # property and is saved under its attribute, _gate_dense. Our keys:
    # query/, key/, gate/, value/, attention_output/.
    "MultiHeadAttention": (("query_dense", "query/", ("kernel", "bias")),
                           ("key_dense", "key/", ("kernel", "bias")),
                           ("_gate_dense", "gate/", ("kernel", "bias")),
                           ("value_dense", "value/", ("kernel", "bias")),
                           ("output_dense", "attention_output/", ("kernel", "bias"))),
}

#: Layers made of a layer: ``(Keras's attribute, and so group, holding the
#: sublayer; our layer's attribute holding it)``, in Keras's order. Our keys
#: nest the sublayer's *name* (``bidirectional/forward_lstm/kernel``), Keras's
#: groups the attribute (``bidirectional/forward_layer/cell/vars/0``).
WRAPPERS: dict[str, tuple[tuple[str, str], ...]] = {
    "Bidirectional": (("forward_layer", "forward_layer"), ("backward_layer", "backward_layer")),
    "TimeDistributed": (("layer", "layer"),),
}

#: Classes of Keras 3 configs that are models: their layers are a level of
#: groups, ``layers/<snake class>/layers/...``.
MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})

#: Variables Keras creates with another dtype than the layer's: ours are
#: floats, Keras's Normalization ``count`` an int (int32 on JAX and torch).
KERAS_DTYPES: dict[tuple[str, str], str] = {("Normalization", "count"): "int32"}

#: Layer classes whose legacy Keras 2 ``.h5`` weights we read: their
#: ``weight_names`` order is the Keras 3 order above (trainable weights
#: first, a wrapper's forward layer before its backward one). Others with
#: weights are refused by name rather than guessed.
LEGACY_CLASSES = frozenset({"Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
                            "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "BatchNormalization",
                            "LayerNormalization", "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional",
                            "TimeDistributed"})

#: The legacy file's group holding the layers' groups.
LEGACY_ROOT = "model_weights"

#: Keras 2.13's ``.keras`` files call the top-level group this instead of
#: ``layers`` (H5IOStore.get's "Fix for 2.13 compatibility").
KERAS_213_LAYERS = "_layer_checkpoint_dependencies"


@dataclass(frozen=True)
class KerasLayerEntry:
    """One layer of a Keras config and the HDF5 group Keras stores it in.

    Attributes:
        keras_class: the config's ``class_name`` (``"Conv2D"``).
        keras_name: the layer's name in the config (``"stem"``).
        containers: the names of the nested models it sits in, outermost
            first (``()`` at the top).
        group: its group in ``model.weights.h5`` (``"layers/conv2d"``,
            ``"layers/sequential/layers/dense_1"``).
        where: its place in the config, for messages:
            ``layers[1] 'block' (Sequential) > layers[2] 'dense' (Dense)``.
    """

    keras_class: str
    keras_name: str
    containers: tuple[str, ...]
    group: str
    where: str

    @property
    def path(self) -> str:
        """The layer's path by names: ``block/dense`` (our layer name for a nested model's layer)."""
        return "/".join(self.containers + (self.keras_name,))


@dataclass(frozen=True)
class _Placed:
    """One of our weights and the dataset Keras keeps it in."""

    key: str  # our weight key: "dense/kernel"
    path: str  # the HDF5 dataset: "layers/dense/vars/0"
    weight: object  # the model's Weight
    entry: KerasLayerEntry  # the Keras layer holding it


# --------------------------------------------------------------------------
# the API


def weights_from_keras(model, file, names: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """The weights of a Keras model file, under our keys and in our layouts.

    Args:
        model: the layerspec model built from the spec imported from the same
            file (its layer names are the config's; a nested model's layers
            are named by path, ``block/dense``).
        file: a :class:`layerspec.keras_archive.KerasModelFile`: its
            ``config``, ``weights`` (dataset path → array), ``layout``
            (``"keras3"`` or ``"legacy"``) and, for a legacy file,
            ``legacy_layer_names`` and ``legacy_weight_names``.
        names: optional, a Keras layer path (:attr:`KerasLayerEntry.path`)
            → our layer's name, where the spec names a layer otherwise;
            without it a Keras layer is our layer of the same path, or else
            of the same name.

    Returns:
        Our weight key → the file's array (its dtype kept), every weight of
        the model once, in the model's weight order.

    Raises:
        WeightsError: the file holds no weights; a dataset is missing or of
            another shape than our weight (both named); a dataset no layer
            of the model claims; a layer whose weights Keras stores in a way
            we do not know.
    """
    if file.weights is None:
        raise WeightsError("the file holds no weights (a JSON config is the architecture only)")
    _ensure_built(model)
    if file.layout == "legacy":
        return _from_legacy(model, file)
    if file.layout != "keras3":
        raise WeightsError(f"unknown weights layout '{file.layout}': expected 'keras3' or 'legacy'")
    return _from_keras3(model, file.config, file.weights, names, getattr(file, "saveable_names", None))


def weights_to_keras(model, config: dict, names: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """The inverse of :func:`weights_from_keras`, for export: our weights
    under the Keras 3 dataset paths (``layers/dense/vars/0``) of ``config``,
    the Keras config made for this model (``keras_export.config_from_model``).

    Args:
        model: a built model whose weights are set (initialised or loaded).
        config: the model's Keras config (``{"class_name": ..., "config":
            {"layers": [...]}}``).
        names: as for :func:`weights_from_keras`.

    Returns:
        Dataset path → array, in the config's layer order; every weight of
        the model once (a shared layer's under its one group).

    Raises:
        WeightsError: a layer of the model has no place in the config, or a
            weight has no value yet.
    """
    _ensure_built(model)
    arrays = {}
    for placed in _place(model, config, names):
        value = placed.weight.value
        if value is None:
            raise WeightsError(f"weight '{placed.key}' has no value yet: initialise or load the weights first")
        dtype = KERAS_DTYPES.get((placed.entry.keras_class, placed.key.rsplit("/", 1)[-1]))
        arrays[placed.path] = np.rint(value).astype(dtype) if dtype is not None else np.asarray(value)
    return arrays


def keras_layer_entries(config: dict) -> list[KerasLayerEntry]:
    """Every layer of a Keras 3 model config that is stored in a group of its
    own, nested models' layers included (the models themselves are not
    entries), in the order Keras saves them.

    InputLayers and bare operation nodes (``keras.src.ops``: not layers, so
    not in ``model.layers``) hold no variables and are left out.

    Raises:
        WeightsError: the config has no ``layers`` list where a model needs one.
    """
    entries: list[KerasLayerEntry] = []
    _walk_config(config, "", (), "", entries)
    return entries


def keras_saveable_names(config: dict) -> dict[str, str]:
    """The ``vars`` groups Keras 3 creates for a model of ``config``, each
    owner's path → the name Keras records on it (``H5IOStore.make(path,
    metadata={"name": ...})``, one for every layer, weights or not): ``""``
    → the model's name, ``"layers/conv2d"`` → ``"stem"``, ``"layers/lstm/cell"``
    → ``"lstm_cell"``, a Functional's InputLayers too (``model.layers`` has
    them; a Sequential's leaves its InputLayer out). For
    :func:`layerspec.keras_archive.write_keras_archive`'s ``saveable_names``:
    Keras's loader does not need them, they make the file look as Keras's.

    The names of a MultiHeadAttention's inner softmax and dropout are Keras's
    automatic ones in a fresh session (``softmax``, ``dropout``).
    """
    names = {"": _config_name(config, "the model")}
    _saveables_of_model(config, "", names)
    return names


def layer_slots(layer: Layer) -> list[tuple[str, str]]:
    """Where Keras keeps each weight of one layer: ``(our weight name,
    path under the layer's group)`` in Keras's order, e.g. for an LSTM
    ``[("kernel", "cell/vars/0"), ("recurrent_kernel", "cell/vars/1"),
    ("bias", "cell/vars/2")]``; ``[]`` for a layer without weights.

    Raises:
        WeightsError: a layer with weights whose class the table does not
            know, or a weight the table does not place.
    """
    if not layer.weights:
        return []
    slots = _slots(layer, "")
    placed = {name for name, _ in slots}
    stray = [weight.name for weight in layer.weights if weight.name not in placed]
    if stray:
        raise WeightsError(f"layer '{layer.name}' ({type(layer).__name__}): weight '{stray[0]}' has no place in "
                           "Keras's layout for this class")
    return slots


# --------------------------------------------------------------------------
# Keras 3


def _from_keras3(model, config: dict, datasets: dict, names, stored_names) -> dict[str, np.ndarray]:
    lookup = _dataset_lookup(datasets)
    found: dict[str, np.ndarray] = {}
    claimed: set[str] = set()
    entries = keras_layer_entries(config)
    for placed in _place(model, config, names, entries):
        where = placed.entry.where
        _check_stored_name(placed.entry, stored_names)
        stored = lookup(placed.path)
        if stored is None:
            raise WeightsError(f"{where}: no dataset '{placed.path}' in model.weights.h5 for weight "
                               f"'{placed.key}' {_shape_text(placed.weight.shape)}")
        path, array = stored
        found[placed.key] = _as_ours(_checked_shape(array, path, placed.key, placed.weight, where), placed)
        claimed.add(path)
    _refuse_unclaimed(datasets, claimed, entries)
    return {key: found[key] for key, _ in model.weight_items()}


def _as_ours(array: np.ndarray, placed: _Placed) -> np.ndarray:
    """A variable Keras keeps as an int (:data:`KERAS_DTYPES`) back in our
    weight's float dtype, when that is exact (Normalization's count, which
    Keras 3 leaves at 0); any other array as the file has it."""
    if (placed.entry.keras_class, placed.key.rsplit("/", 1)[-1]) in KERAS_DTYPES and array.dtype.kind in "iu":
        converted = array.astype(placed.weight.dtype)
        if np.array_equal(converted, array):
            return converted
    return array


def _check_stored_name(entry: KerasLayerEntry, stored_names) -> None:
    """Keras records each layer's name on its ``vars`` group: where the file
    says, it must be the name the config's order puts there (else the file
    and the config are of different models, or the order rule was broken)."""
    stored = (stored_names or {}).get(entry.group)
    if stored is not None and stored != entry.keras_name:
        raise WeightsError(f"{entry.where}: model.weights.h5 keeps layer '{stored}' at '{entry.group}', where the "
                           f"config's layer order puts '{entry.keras_name}'")


def _dataset_lookup(datasets: dict):
    """A function path → (the path found, its array) or None, reading a Keras
    2.13 file's ``_layer_checkpoint_dependencies`` where ``layers`` is missing."""

    def lookup(path: str):
        if path in datasets:
            return path, datasets[path]
        alias = path.replace("layers", KERAS_213_LAYERS)
        if alias in datasets:
            return alias, datasets[alias]
        return None

    return lookup


def _refuse_unclaimed(datasets: dict, claimed: set[str], entries: list[KerasLayerEntry]) -> None:
    """Every dataset under the top ``layers`` group belongs to a weight of
    ours: one left over is a variable the model would silently drop."""
    stray = [path for path in datasets if _is_layer_state(path) and path not in claimed]
    if not stray:
        return
    first, more = stray[0], _more(len(stray) - 1)
    owner = max((entry for entry in entries if first.startswith(entry.group + "/")),
                key=lambda entry: len(entry.group), default=None)
    if owner is None:
        raise WeightsError(f"dataset '{first}' in model.weights.h5 belongs to no layer of the config{more}")
    raise WeightsError(f"{owner.where}: dataset '{first}' in model.weights.h5 is a variable the model's layer "
                       f"does not have{more}")


def _is_layer_state(path: str) -> bool:
    """Whether a dataset holds a layer's state (not an optimizer's or a metric's)."""
    return path.startswith("layers/") or path.startswith(KERAS_213_LAYERS + "/")


# --------------------------------------------------------------------------
# placing our weights on a config


def _place(model, config: dict, names, entries: list[KerasLayerEntry] | None = None) -> list[_Placed]:
    """Each weight of the model with its dataset path in ``config``'s file, in
    the config's order; every weighted layer of the model placed once."""
    if entries is None:
        entries = keras_layer_entries(config)
    layers = {layer.name: layer for layer in model.layers}
    taken: dict[str, KerasLayerEntry] = {}
    placed: list[_Placed] = []
    for entry in entries:
        layer = _our_layer(entry, layers, taken, names)
        if layer is None or not layer.weights:
            continue
        ours = type(layer).__name__
        if ours != entry.keras_class:
            raise WeightsError(f"{entry.where}: the model's layer '{layer.name}' is a {ours}, not a "
                               f"{entry.keras_class}")
        taken[layer.name] = entry
        weights = {weight.name: weight for weight in layer.weights}
        for name, relative in _checked_slots(layer, entry.where):
            placed.append(_Placed(f"{layer.name}/{name}", f"{entry.group}/{relative}", weights[name], entry))
    missing = [layer for layer in model.layers if layer.weights and layer.name not in taken]
    if missing:
        layer = missing[0]
        known = ", ".join(f"'{entry.path}'" for entry in entries) or "none"
        raise WeightsError(f"the model's layer '{layer.name}' ({type(layer).__name__}) has weights but no layer "
                           f"of the Keras config is it (the config's layers: {known})")
    return placed


def _our_layer(entry: KerasLayerEntry, layers: dict, taken: dict, names) -> Layer | None:
    """Our layer for a Keras layer: the one ``names`` gives, else the one of
    the same path (``block/dense``), else of the same name (a spec that
    wrote a nested model's layers inline); one not already placed."""
    if names is not None and entry.path in names:
        candidates = [names[entry.path]]
    else:
        candidates = [entry.path, entry.keras_name]
    for name in candidates:
        if name in layers and name not in taken:
            return layers[name]
    return None


def _checked_slots(layer: Layer, where: str) -> list[tuple[str, str]]:
    try:
        return layer_slots(layer)
    except WeightsError as error:
        raise WeightsError(f"{where}: {error.message}") from None


def _slots(layer: Layer, prefix: str) -> list[tuple[str, str]]:
    """:func:`layer_slots` of ``layer``, whose weights are named ``prefix +
    NAME`` in its outermost owner (a wrapper renames its sublayers' weights
    ``SUBLAYER/NAME``, see Layer._own_sublayer)."""
    kind = type(layer).__name__
    if kind in WRAPPERS:
        slots = []
        for group, attribute in WRAPPERS[kind]:
            sublayer = getattr(layer, attribute)
            for name, relative in _slots(sublayer, f"{prefix}{sublayer.name}/"):
                slots.append((name, f"{group}/{relative}"))
        return slots
    layout = KERAS_LAYOUT.get(kind)
    if layout is None:
        raise WeightsError(f"layer '{layer.name}' ({kind}): layerspec does not know where Keras stores the "
                           f"weights of a {kind}")
    present = {weight.name for weight in layer.weights}
    slots = []
    for group, ours, variables in layout:
        number = 0
        for variable in variables:
            name = f"{prefix}{ours}{variable}"
            if name in present:
                slots.append((name, f"{group}/vars/{number}" if group else f"vars/{number}"))
                number += 1
    return slots


def _walk_config(config: dict, group: str, containers: tuple[str, ...], where: str,
                 entries: list[KerasLayerEntry]) -> None:
    layers = config.get("config", {}).get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list):
        place = where.rstrip(" >") or "the model"
        raise WeightsError(f"{place}: a Keras model config needs a 'layers' list")
    counters: dict[str, int] = {}
    for index, entry in enumerate(layers):
        kind = entry.get("class_name") if isinstance(entry, dict) else None
        inner = entry.get("config") if isinstance(entry, dict) else None
        name = (inner.get("name") if isinstance(inner, dict) else None) or \
            (entry.get("name") if isinstance(entry, dict) else None)
        if not isinstance(kind, str) or not isinstance(name, str):
            raise WeightsError(f"{where}layers[{index}]: a Keras layer needs a 'class_name' and a name")
        here = f"{where}layers[{index}] '{name}' ({kind})"
        if kind == "InputLayer" or _is_operation(entry):
            continue
        stored = f"{group}layers/{_unique(snake_case(kind), counters)}"
        if kind in MODEL_CLASSES:
            _walk_config(entry, stored + "/", containers + (name,), here + " > ", entries)
        else:
            entries.append(KerasLayerEntry(kind, name, containers, stored, here))


#: The layers Keras builds inside a layer of these classes: (attribute, and
#: so group, name Keras gives it).
_BUILT_INSIDE: dict[str, tuple[tuple[str, str], ...]] = {
    "SimpleRNN": (("cell", "simple_rnn_cell"),),
    "LSTM": (("cell", "lstm_cell"),),
    "GRU": (("cell", "gru_cell"),),
    "ConvLSTM1D": (("cell", "conv_lstm_cell"),),
    "ConvLSTM2D": (("cell", "conv_lstm_cell"),),
    "ConvLSTM3D": (("cell", "conv_lstm_cell"),),
    "MultiHeadAttention": (("query_dense", "query"), ("key_dense", "key"), ("value_dense", "value"),
                           ("output_dense", "attention_output"), ("_softmax", "softmax"),
                           ("_dropout_layer", "dropout")),
}

#: Wrappers' sublayers in their configs: (attribute, and so group; config key).
_WRAPPED_CONFIGS: dict[str, tuple[tuple[str, str], ...]] = {
    "Bidirectional": (("forward_layer", "layer"), ("backward_layer", "backward_layer")),
    "TimeDistributed": (("layer", "layer"),),
}


def _saveables_of_model(config: dict, group: str, names: dict[str, str]) -> None:
    layers = config.get("config", {}).get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list):
        raise WeightsError(f"'{group or 'the model'}': a Keras model config needs a 'layers' list")
    counters: dict[str, int] = {}
    sequential = config.get("class_name") == "Sequential"
    for entry in layers:
        kind = entry.get("class_name") if isinstance(entry, dict) else None
        if not isinstance(kind, str) or _is_operation(entry) or (kind == "InputLayer" and sequential):
            continue
        _saveables_of_layer(entry, f"{group}layers/{_unique(snake_case(kind), counters)}", names)


def _saveables_of_layer(entry: dict, group: str, names: dict[str, str]) -> None:
    """A layer's group and, depth first in _walk_saveable's attribute order
    (public before private, alphabetical), those of the layers inside it."""
    kind = entry.get("class_name")
    names[group] = _config_name(entry, group)
    if kind in MODEL_CLASSES:
        _saveables_of_model(entry, group + "/", names)
        return
    inner = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    children: list[tuple[str, dict | str]] = list(_BUILT_INSIDE.get(kind, ()))
    if kind == "MultiHeadAttention" and inner.get("use_gate"):
        children.append(("_gate_dense", "gate"))
    for attribute, key in _WRAPPED_CONFIGS.get(kind, ()):
        wrapped = inner.get(key)
        if isinstance(wrapped, dict):
            children.append((attribute, wrapped))
        elif attribute == "backward_layer":  # Bidirectional made it: named after the forward layer
            forward = inner.get("layer")
            name = _config_name(forward, group) if isinstance(forward, dict) else "layer"
            children.append((attribute, "backward_" + name.removeprefix("forward_")))
    for attribute, child in sorted(children, key=lambda item: _attribute_order(item[0])):
        if isinstance(child, dict):
            _saveables_of_layer(child, f"{group}/{attribute}", names)
        else:
            names[f"{group}/{attribute}"] = child


def _attribute_order(name: str) -> str:
    """saving_lib._name_key: private attributes are visited last."""
    return f"~{name}" if name.startswith("_") else name


def _config_name(entry: dict, where: str) -> str:
    inner = entry.get("config")
    name = (inner.get("name") if isinstance(inner, dict) else None) or entry.get("name")
    if not isinstance(name, str):
        raise WeightsError(f"{where}: a Keras layer config without a name")
    return name


def _is_operation(entry: dict) -> bool:
    """A bare ``keras.src.ops`` node of a Functional config: an Operation,
    not a Layer, so not in ``model.layers`` and never counted."""
    module = entry.get("module")
    return isinstance(module, str) and module.startswith("keras.src.ops")


def _unique(name: str, counters: dict[str, int]) -> str:
    """saving_lib._get_unique_name: ``dense``, then ``dense_1``, ``dense_2``..."""
    if name in counters:
        counters[name] += 1
        return f"{name}_{counters[name]}"
    counters[name] = 0
    return name


# --------------------------------------------------------------------------
# legacy Keras 2 .h5


def _from_legacy(model, file) -> dict[str, np.ndarray]:
    """Weights of a Keras 2 full-model ``.h5``: each layer's group by name,
    its variables in ``weight_names`` order."""
    layers = {layer.name: layer for layer in model.layers}
    weight_names = file.legacy_weight_names or {}
    found: dict[str, np.ndarray] = {}
    for name in file.legacy_layer_names or []:
        stored = list(weight_names.get(name) or [])
        if stored:  # a layer without weights (InputLayer, Dropout) has none listed
            found.update(_legacy_layer(name, stored, layers, file.weights))
    unread = [layer for layer in model.layers
              if layer.weights and f"{layer.name}/{layer.weights[0].name}" not in found]
    if unread:
        layer = unread[0]
        raise WeightsError(f"the model's layer '{layer.name}' ({type(layer).__name__}) has weights, but the .h5 file "
                           "holds none for it (no layer of that name with weight_names in model_weights)")
    claimed = {f"{LEGACY_ROOT}/{name}/{weight}" for name in file.legacy_layer_names or []
               for weight in weight_names.get(name) or []}
    stray = [path for path in file.weights if path.startswith(LEGACY_ROOT + "/") and path not in claimed]
    if stray:
        raise WeightsError(f"dataset '{stray[0]}' in the .h5 file belongs to no layer's weight_names"
                           f"{_more(len(stray) - 1)}")
    return {key: found[key] for key, _ in model.weight_items()}


def _legacy_layer(name: str, stored: list[str], layers: dict, datasets: dict) -> dict[str, np.ndarray]:
    """One legacy layer's weights by our keys: its ``weight_names`` in order
    onto our weights in Keras's order (Keras's own loader goes by position)."""
    where = f"layer '{name}' of the .h5 file"
    layer = layers.get(name)
    if layer is None:
        nested = any(other.startswith(name + "/") for other in layers)
        raise WeightsError(f"{where}: " + ("a nested model's weights in a legacy .h5 are not supported" if nested
                                           else "the model has no layer of that name"))
    _refuse_legacy_class(layer, where)
    slots = _checked_slots(layer, where)
    if len(slots) != len(stored):
        raise WeightsError(f"{where} ({type(layer).__name__}) holds {_count(len(stored), 'weight')} "
                           f"({', '.join(stored)}); the model's layer has {len(slots)} "
                           f"({', '.join(weight for weight, _ in slots)})")
    weights = {weight.name: weight for weight in layer.weights}
    found = {}
    for (ours, _), h5_name in zip(slots, stored):
        key, path = f"{name}/{ours}", f"{LEGACY_ROOT}/{name}/{h5_name}"
        if path not in datasets:
            raise WeightsError(f"{where}: no dataset '{path}' in the .h5 file for weight '{key}' "
                               f"{_shape_text(weights[ours].shape)}")
        found[key] = _checked_shape(datasets[path], path, key, weights[ours], where)
    return found


def _refuse_legacy_class(layer: Layer, where: str) -> None:
    """Only the classes whose Keras 2 variable order we know are read."""
    for part in _parts(layer):
        kind = type(part).__name__
        if part.weights and kind not in LEGACY_CLASSES:
            supported = ", ".join(sorted(LEGACY_CLASSES))
            raise WeightsError(f"{where} ({type(layer).__name__}): reading a {kind}'s weights from a legacy Keras "
                               f"2 .h5 is not supported (supported: {supported}); save the model with Keras 3 "
                               "as .keras")


def _parts(layer: Layer) -> Iterable[Layer]:
    """A layer and, for a wrapper, the layers inside it."""
    yield layer
    for _, attribute in WRAPPERS.get(type(layer).__name__, ()):
        yield from _parts(getattr(layer, attribute))


# --------------------------------------------------------------------------
# helpers


def _ensure_built(model) -> None:
    if not model.built:
        model.build()


def _checked_shape(array: np.ndarray, path: str, key: str, weight, where: str) -> np.ndarray:
    if tuple(np.shape(array)) != tuple(weight.shape):
        raise WeightsError(f"{where}: dataset '{path}' has shape {_shape_text(np.shape(array))}; "
                           f"weight '{key}' has shape {_shape_text(weight.shape)}")
    return array


def _shape_text(shape) -> str:
    return str(tuple(int(size) for size in shape))


def _more(count: int) -> str:
    return f" (and {count} more)" if count > 0 else ""


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
