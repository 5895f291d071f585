"""Layer type names → layer classes, and what arguments each one takes.

Type names match ignoring case and underscores, so ``Conv2D``, ``conv2d``
and ``conv_2d`` name the same class. Built-in layers register themselves when
``layerspec.layers`` is imported; user layers register with
``@layerspec.register``.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Any

from .arguments import ArgumentKind, Boolean, Text, suggest
from .errors import ArgumentError, SpecError

_classes: dict[str, type] = {}
_display_names: dict[str, str] = {}
_origins: dict[str, str] = {}
_builtins_loaded = False
#: The plugin being imported, so its registrations can be attributed.
_current_origin: str | None = None


@contextlib.contextmanager
def attributed_to(origin: str):
    """Attribute layers registered inside the block to ``origin`` (a plugin)."""
    global _current_origin
    previous, _current_origin = _current_origin, origin
    try:
        yield
    finally:
        _current_origin = previous


def normalize(type_name: str) -> str:
    """The key a type name is matched by: lower case, no underscores."""
    return type_name.replace("_", "").lower()


def register(cls=None, *, name: str | None = None):
    """Register a layer class under its class name (or ``name``).

    Usable bare (``@register``) or with a name (``@register(name="Foo")``).
    Registering a different class under a name already taken is an error.
    """

    def add(layer_class):
        from .layers.base import Layer

        if not (isinstance(layer_class, type) and issubclass(layer_class, Layer)):
            raise ArgumentError(f"only subclasses of layerspec.Layer can be registered, got {layer_class!r}")
        display = name or layer_class.__name__
        key = normalize(display)
        existing = _classes.get(key)
        if existing is not None and existing is not layer_class and not _same_definition(existing, layer_class):
            raise ArgumentError(f"layer type '{display}' is already taken by {describe_origin(key)}")
        _classes[key] = layer_class
        _display_names[key] = display
        if key not in _origins:
            _origins[key] = _origin_of_class(layer_class)
        return layer_class

    return add if cls is None else add(cls)


def _origin_of_class(layer_class: type) -> str:
    # A built-in layer is built-in even when a plugin's import is what
    # first imported layerspec.layers.
    if layer_class.__module__.startswith("layerspec."):
        return "built-in"
    return _current_origin or layer_class.__module__


def describe_origin(key: str) -> str:
    """Who registered a type: "the built-in Dense" or "plugin 'x.py' (SimpleDense)"."""
    layer_class, origin = _classes[key], _origins.get(key, "")
    if origin == "built-in":
        return f"the built-in layer {layer_class.__name__}"
    return f"{layer_class.__qualname__} from plugin '{origin}'"


def origin_of(type_name: str) -> str:
    """"built-in", or the plugin (file, module or entry point) a type came from."""
    return _origins.get(normalize(type_name), "")


def _same_definition(a: type, b: type) -> bool:
    # Re-importing the same module (e.g. a plugin loaded twice) re-creates
    # the class; that is the same layer, not a clash.
    return a.__module__ == b.__module__ and a.__qualname__ == b.__qualname__


def load_builtin_layers() -> None:
    """Register the built-in layers (once), before any plugin can take their names."""
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        from . import layers  # noqa: F401  (registers the built-in layers)


def _load_builtins() -> None:
    load_builtin_layers()
    from .plugins import load_from_environment

    load_from_environment()  # once; later calls return at once


def lookup(type_name: str) -> type:
    """The class registered for ``type_name``; an error with a suggestion if none.

    Installed packages' entry points are only imported when a name is not
    found otherwise, so specs of built-in layers never pay for scanning them.
    """
    _load_builtins()
    layer_class = _classes.get(normalize(type_name))
    if layer_class is None:
        from .plugins import HOW_TO_LOAD, load_entry_points

        load_entry_points()
        layer_class = _classes.get(normalize(type_name))
    if layer_class is None:
        raise SpecError(f"unknown layer type '{type_name}'{suggest(type_name, _display_names.values())} "
                        f"({HOW_TO_LOAD})", code="unknown-layer")
    return layer_class


def type_names() -> list[str]:
    """Every registered type name as it is displayed, sorted (plugins included)."""
    from .plugins import load_entry_points

    _load_builtins()
    load_entry_points()
    return sorted(_display_names.values())


def classes() -> dict[str, type]:
    """Display name → class for every registered type (aliases included)."""
    type_names()
    return {_display_names[key]: layer_class for key, layer_class in _classes.items()}


def display_name(layer_class: type) -> str:
    """The name a class is registered under (its class name otherwise)."""
    for key, registered in _classes.items():
        if registered is layer_class:
            return _display_names[key]
    return layer_class.__name__


@dataclass(frozen=True)
class ArgumentInfo:
    """One constructor argument of a layer type."""

    name: str
    kind: ArgumentKind | None
    default: Any
    required: bool

    @property
    def expected(self) -> str:
        return self.kind.expected if self.kind is not None else "any value"


#: Arguments every layer takes (from ``Layer.__init__``), besides its own.
COMMON_ARGUMENTS = (
    ArgumentInfo("name", Text(), None, False),
    ArgumentInfo("trainable", Boolean(), True, False),
)


def arguments_of(layer_class: type) -> dict[str, ArgumentInfo]:
    """The arguments a spec may give ``layer_class``, read from its signature
    (once per class: a spec of hundreds of layers asks for each)."""
    return dict(_arguments_of(layer_class))


@functools.lru_cache(maxsize=None)
def _arguments_of(layer_class: type) -> dict[str, ArgumentInfo]:
    from .layers.base import evaluated_signature

    signature = evaluated_signature(layer_class.__init__)
    arguments = {}
    takes_extra = False
    for parameter in list(signature.parameters.values())[1:]:
        if parameter.kind is parameter.VAR_KEYWORD:
            takes_extra = True
            continue
        if parameter.kind is parameter.VAR_POSITIONAL:
            continue
        kind = parameter.annotation if isinstance(parameter.annotation, ArgumentKind) else None
        required = parameter.default is parameter.empty
        arguments[parameter.name] = ArgumentInfo(parameter.name, kind, None if required else parameter.default,
                                                 required)
    if takes_extra:
        # ``**kwargs`` goes to Layer.__init__, which takes these.
        for common in COMMON_ARGUMENTS:
            arguments.setdefault(common.name, common)
    return arguments
