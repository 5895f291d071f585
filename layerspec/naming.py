"""Layer and node names, as Keras gives them, and how messages name a layer.

Keras numbers each layer type's unnamed layers per model (``dense``,
``dense_1``, ...); an explicit name equal to one of those numbers is a
duplicate, which Keras refuses. A node that applies a layer again (a shared
layer) is named after it: ``encoder_reuse``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from .layers.base import snake_case


def auto_names(layers: Iterable[tuple[type, str | None]]) -> list[str]:
    """Keras-style names, counted per model: ``dense``, ``dense_1``, ...

    ``layers`` gives each layer's class and its explicit name (or None).
    Explicit names are kept; each type's unnamed layers are numbered in
    order, as Keras numbers them. An explicit name that is one of those
    numbers makes the model invalid (see :func:`name_clashes`: Keras refuses
    it); here the automatic name then moves on to the next free number, so
    that messages about such a model still tell its layers apart.
    """
    layers = list(layers)
    taken = {name for _, name in layers if name}
    counters: dict[str, int] = {}
    names = []
    for layer_class, explicit in layers:
        if explicit:
            names.append(explicit)
            continue
        base = snake_case(layer_class.__name__)
        while True:
            count = counters.get(base, 0)
            counters[base] = count + 1
            candidate = base if count == 0 else f"{base}_{count}"
            if candidate not in taken:
                break
        taken.add(candidate)
        names.append(candidate)
    return names


def name_clashes(layers: Iterable[tuple[type, str | None]]) -> list[tuple[int, int]]:
    """Where an explicit name is the automatic name Keras gives another layer.

    Keras numbers each type's unnamed layers without regard to the names
    given to others, so ``[Dense(), Dense(name="dense")]`` holds two layers
    called ``dense``, and Keras refuses the model ("should have unique
    names"). ``layers`` is as for :func:`auto_names`.

    Returns:
        ``(explicit index, automatic index)`` pairs, by explicit index.
    """
    layers = list(layers)
    explicit_index: dict[str, int] = {}
    for index, (_, explicit) in enumerate(layers):
        if explicit:
            explicit_index.setdefault(explicit, index)
    counters: dict[str, int] = {}
    clashes = []
    for index, (layer_class, explicit) in enumerate(layers):
        if explicit:
            continue
        base = snake_case(layer_class.__name__)
        count = counters.get(base, 0)
        counters[base] = count + 1
        name = base if count == 0 else f"{base}_{count}"
        if name in explicit_index:
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
    return f"layer {number} '{node.name}' ({display_name(type(node.layer))})"
