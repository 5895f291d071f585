"""layerspec: describe neural networks in YAML; summarise, check and run them.

The public API: :class:`Layer` (subclass it for your own layers),
:func:`register`, :class:`Sequential`, :class:`Model` and :func:`Input`
(Keras's functional API), :func:`load` / :func:`loads` for specs, and the ``activations`` and ``initializers`` modules.
"""

__version__ = "0.1.0"

__all__ = ["Layer", "Sequential", "Model", "Input", "register", "load", "loads", "activations", "initializers",
           "layers", "__version__"]


def __getattr__(name):
    # Imported on first use so `layerspec --help` does not pay for NumPy.
    if name in ("Layer", "Weight"):
        from .layers import base

        return getattr(base, name)
    if name in ("Sequential", "Model"):
        from . import model

        return getattr(model, name)
    if name == "Input":
        from .functional import Input

        return Input
    if name == "register":
        from .registry import register

        return register
    if name in ("load", "loads"):
        from . import api

        return getattr(api, name)
    if name in ("activations", "initializers", "errors", "layers"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'layerspec' has no attribute {name!r}")
