"""Weights in the form a forward pass wants them, computed once per weights value.

A fast forward pass often needs a layer's weights rearranged: a transposed
kernel, LSTM gates reordered, a convolution kernel laid out as a banded
matrix. Rearranging on every call would cost as much as a small batch's
arithmetic, so :func:`derived` caches the result on the layer and computes
it again only when a weight of the layer gets a new array, as
``Sequential.init``, ``set_weights``, ``load_weights`` and ``Weight.assign``
give it.

A weight is recognised as changed by the identity of its array (the cache
holds the arrays it was computed from, so an identity is never reused while
cached) and, where the ``Weight`` carries one, by its ``version`` counter,
which also catches an array changed in place and assigned again. Writing
into ``weight.value`` directly, without assigning, is not seen.
"""

from __future__ import annotations

from typing import Callable

_SLOT = "_derived_weights"


class _Derived:
    """The arrays a layer's derived forms were computed from, and the forms."""

    __slots__ = ("weights", "sources", "versions", "forms")

    def __init__(self, weights):
        self.weights = tuple(weights)
        self.sources = tuple(weight.value for weight in weights)
        self.versions = tuple(getattr(weight, "version", None) for weight in weights)
        self.forms: dict = {}


def _current(state: _Derived | None, weights: list) -> bool:
    if state is None or len(weights) != len(state.weights):
        return False
    for weight, known, source, version in zip(weights, state.weights, state.sources, state.versions):
        if weight is not known or weight.value is not source or getattr(weight, "version", None) != version:
            return False
    return True


def derived(layer, key, make: Callable[[], object]):
    """``make()``, cached on ``layer`` under ``key`` until its weights change.

    Args:
        layer: the layer whose weights the result is computed from.
        key: names the form (and whatever else it depends on, such as a
            dtype or an input width), e.g. ``("kernel.T", "float32")``.
        make: computes the form from the layer's current weights.
    """
    state = layer.__dict__.get(_SLOT)
    weights = layer._weights
    if not _current(state, weights):
        state = layer.__dict__[_SLOT] = _Derived(weights)
    form = state.forms.get(key)
    if form is None:
        form = state.forms[key] = make()
    return form


def forget(layer) -> None:
    """Drop every cached form of ``layer`` (the next call recomputes them)."""
    layer.__dict__.pop(_SLOT, None)
