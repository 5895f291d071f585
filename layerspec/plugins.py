"""Loading users' own layers: ``--plugin``, ``LAYERSPEC_PLUGINS``, entry points.

A plugin is a Python file or an importable module whose classes register
themselves with ``@layerspec.register``. Nothing is ever imported from a spec
file itself: a spec only names layer types, and code runs only from places
the user chose on the command line, in the environment, or by installing a
package that declares a ``layerspec.layers`` entry point.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from .errors import LayerspecError

ENVIRONMENT_VARIABLE = "LAYERSPEC_PLUGINS"
ENTRY_POINT_GROUP = "layerspec.layers"
HOW_TO_LOAD = ("custom layers load with --plugin FILE.py|MODULE, the LAYERSPEC_PLUGINS environment "
               "variable, or a package's 'layerspec.layers' entry point")

_loaded: set[str] = set()
_environment_loaded = False
_entry_points_loaded = False


class PluginError(LayerspecError):
    """A plugin could not be imported, or registered a name already taken."""

    code = "plugin"


def load_plugin(source: str) -> None:
    """Import one plugin (a ``.py`` path or a module name), once."""
    key = os.path.abspath(source) if _is_file(source) else source
    if key in _loaded:
        return
    from . import registry

    # Built-ins first: a plugin that takes a built-in name is then told the
    # name is the built-in's, and built-ins imported by the plugin's own
    # imports are not attributed to it.
    registry.load_builtin_layers()
    with registry.attributed_to(source):
        try:
            if _is_file(source):
                _import_file(source)
            else:
                importlib.import_module(source)
        except LayerspecError as error:
            raise PluginError(f"plugin '{source}': {error.message}") from None
        except BaseException as error:  # noqa: BLE001  (a plugin may raise anything, even SystemExit)
            if isinstance(error, KeyboardInterrupt):
                raise
            raise PluginError(f"plugin '{source}' failed to import: {type(error).__name__}: {error}") from None
    _loaded.add(key)


def load_plugins(sources) -> None:
    """Import each plugin in order."""
    for source in sources:
        load_plugin(source)


def load_from_environment() -> None:
    """Import the plugins listed in ``LAYERSPEC_PLUGINS`` (os.pathsep-separated), once."""
    global _environment_loaded
    if _environment_loaded:
        return
    _environment_loaded = True
    value = os.environ.get(ENVIRONMENT_VARIABLE, "")
    load_plugins(part for part in value.split(os.pathsep) if part.strip())


def load_entry_points() -> None:
    """Import installed packages' ``layerspec.layers`` entry points, once.

    An entry point may name a module (its classes register themselves) or a
    ``Layer`` subclass (registered here under its class name).
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    from . import registry
    from .layers.base import Layer

    registry.load_builtin_layers()
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        label = f"{entry_point.value} (entry point '{entry_point.name}')"
        with registry.attributed_to(label):
            try:
                loaded = entry_point.load()
                if isinstance(loaded, type) and issubclass(loaded, Layer):
                    registry.register(loaded)
            except LayerspecError as error:
                raise PluginError(f"plugin {label}: {error.message}") from None
            except Exception as error:  # noqa: BLE001
                raise PluginError(f"plugin {label} failed to import: {type(error).__name__}: {error}") from None


def _is_file(source: str) -> bool:
    return source.endswith(".py") or os.sep in source or (os.altsep is not None and os.altsep in source)


def _import_file(path: str) -> None:
    import hashlib

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    absolute = os.path.abspath(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    # A name unique per file, so two plugins both called layers.py coexist.
    digest = hashlib.sha1(absolute.encode("utf-8")).hexdigest()[:10]
    module_name = f"layerspec_plugin_{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, absolute)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
