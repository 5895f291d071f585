"""Layer and node names, as Keras gives them, and how messages name a layer.

Keras numbers each layer type's unnamed layers per model (``dense``,
``dense_1``, ...); an explicit name equal to one of those numbers is a
duplicate, which Keras refuses. A node that applies a layer again (a shared
layer) is named after it: ``encoder_reuse``.

A wrapped layer (``TimeDistributed(Dense(8))``) is constructed before its
wrapper, with the same counters, so in ``[Dense, TimeDistributed(Dense),
Dense]`` the layers are ``dense``, ``dense_1`` (inside), ``time_distributed``
and ``dense_2``. A wrapper says which of its arguments hold such layers
(``wrapped_arguments``, in the order user code constructs them) and, as an
object, gives them (``wrapped_layers()``) and takes their names
(``name_wrapped(names)``); see :mod:`layerspec.layers.wrappers`.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from .layers.base import snake_case

#: A layer for numbering: ``(class, explicit name or None)``, or with a third
#: item, the entries of the layers it wraps, in construction order.
Entry = tuple


def layer_entry(layer) -> Entry:
    """A layer object's entry: its class, explicit name and wrapped layers."""
    wrapped = getattr(layer, "wrapped_layers", None)
    inner = [layer_entry(item) for item in wrapped()] if callable(wrapped) else []
    return type(layer), layer.name if layer.has_explicit_name else None, inner


def spec_entry(layer_class: type, name: str | None, arguments: dict[str, Any]) -> Entry:
    """A spec entry's entry for numbering, its wrapped layers read from its
    arguments as written (``layer: {type: LSTM, ...}``); a wrapped layer of
    an unknown type is left out (its own error reports it)."""
    return layer_class, name, _wrapped_entries(layer_class, arguments)


def _wrapped_entries(layer_class: type, arguments: dict[str, Any]) -> list[Entry]:
    from .errors import LayerspecError
    from .layers.base import Layer
    from .registry import lookup

    entries = []
    for argument in getattr(layer_class, "wrapped_arguments", ()):
        value = arguments.get(argument)
        if isinstance(value, Layer):
            entries.append(layer_entry(value))
            continue
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            continue
        try:
            inner_class = lookup(value["type"])
        except LayerspecError:
            continue
        name = value.get("name")
        entries.append(spec_entry(inner_class, name if isinstance(name, str) and name else None, value))
    return entries


def _flatten(layers: Iterable[Entry]) -> list[tuple[type, str | None, int | None]]:
    """Every layer in construction order, wrapped layers before their wrapper:
    ``(class, explicit name, index among the given layers or None)``."""
    flat: list = []

    def add(entry: Entry, index: int | None) -> None:
        for inner in (entry[2] if len(entry) > 2 else ()):
            add(inner, None)
        flat.append((entry[0], entry[1], index))

    for index, entry in enumerate(layers):
        add(entry, index)
    return flat


def _numbered(layers: list[Entry]) -> list[str | None]:
    """The name of every layer of :func:`_flatten`'s list: explicit names
    kept, the others numbered per type. A model layer whose number is a
    model layer's explicit name (an invalid model, see :func:`name_clashes`)
    moves on to the next free number, so that messages still tell its
    layers apart; wrapped layers never do (Keras only compares the model's
    own layers' names)."""
    flat = _flatten(layers)
    taken = {name for _, name, index in flat if name and index is not None}
    counters: dict[str, int] = {}
    names: list[str | None] = []
    for layer_class, explicit, index in flat:
        if explicit:
            names.append(explicit)
            continue
        base = snake_case(layer_class.__name__)
        while True:
            count = counters.get(base, 0)
            counters[base] = count + 1
            candidate = base if count == 0 else f"{base}_{count}"
            if index is None or candidate not in taken:
                break
        if index is not None:
            taken.add(candidate)
        names.append(candidate)
    return names


def auto_names(layers: Iterable[Entry]) -> list[str]:
    """Keras-style names, counted per model: ``dense``, ``dense_1``, ...

    ``layers`` gives each layer's class and its explicit name (or None), and
    optionally the entries of the layers it wraps (see :func:`layer_entry`).
    Explicit names are kept; each type's unnamed layers are numbered in
    construction order, wrapped layers included, as Keras numbers them. An
    explicit name that is one of those numbers makes the model invalid (see
    :func:`name_clashes`: Keras refuses it); here the automatic name then
    moves on to the next free number, so that messages about such a model
    still tell its layers apart.

    Returns:
        the names of the given layers (not of the wrapped ones).
    """
    layers = list(layers)
    flat = _flatten(layers)
    return [name for (_, _, index), name in zip(flat, _numbered(layers)) if index is not None]


def name_wrapped_layers(layers: Sequence) -> None:
    """Give the wrapped layers of a model's layer objects their automatic
    names, counted with the model's (see :func:`auto_names`)."""
    layers = list(layers)
    names = iter(_numbered([layer_entry(layer) for layer in layers]))

    def visit(layer) -> str:
        wrapped = getattr(layer, "wrapped_layers", None)
        if callable(wrapped):
            inner = wrapped()
            layer.name_wrapped([visit(item) for item in inner])
        return next(names)

    for layer in layers:
        visit(layer)


def name_clashes(layers: Iterable[Entry]) -> list[tuple[int, int]]:
    """Where an explicit name is the automatic name Keras gives another layer.

    Keras numbers each type's unnamed layers without regard to the names
    given to others, so ``[Dense(), Dense(name="dense")]`` holds two layers
    called ``dense``, and Keras refuses the model ("should have unique
    names"). Wrapped layers take numbers too (so in ``[Dense(),
    TimeDistributed(Dense()), Dense(), Dense(name="dense_2")]`` the third
    Dense is ``dense_2``), but only the model's own layers must have unique
    names: a wrapped layer may share a model layer's name, as in Keras.
    ``layers`` is as for :func:`auto_names`.

    Returns:
        ``(explicit index, automatic index)`` pairs, by explicit index.
    """
    layers = list(layers)
    explicit_index: dict[str, int] = {}
    for index, entry in enumerate(layers):
        if entry[1]:
            explicit_index.setdefault(entry[1], index)
    counters: dict[str, int] = {}
    clashes = []
    for layer_class, explicit, index in _flatten(layers):
        if explicit:
            continue
        base = snake_case(layer_class.__name__)
        count = counters.get(base, 0)
        counters[base] = count + 1
        name = base if count == 0 else f"{base}_{count}"
        if index is not None and name in explicit_index:
            clashes.append((explicit_index[name], index))
    return sorted(clashes)


def automatic_name_holder(index: int, layer_class: type) -> str:
    """``layer 1 (Dense) has it as its automatic name``: the other side of a name clash."""
    from .registry import display_name

    return f"layer {index + 1} ({display_name(layer_class)}) has it as its automatic name"


def reuse_names(reuses: Sequence[tuple[str, str | None]], taken: set[str]) -> list[str]:
    """Names of the nodes that apply a layer again.

    ``reuses`` gives each such node's reused layer name and its explicit
    name (or None). An unnamed one is called after the layer it reuses:
    ``encoder_reuse``, then ``encoder_reuse_1``, ... skipping names taken.
    """
    taken = set(taken) | {explicit for _, explicit in reuses if explicit}
    names = []
    for reused, explicit in reuses:
        if explicit:
            names.append(explicit)
            continue
        count = 0
        while (candidate := f"{reused}_reuse" if count == 0 else f"{reused}_reuse_{count}") in taken:
            count += 1
        taken.add(candidate)
        names.append(candidate)
    return names


def node_label(node) -> str:
    """How messages name a node: ``layer 2 'dense_1' (Dense)``; its number is
    its entry in the spec (or its position in the model)."""
    from .registry import display_name

    number = node.number or node.index + 1
    return f"layer {number} '{node.name}' ({display_name(type(node.layer))}){node.where}"
