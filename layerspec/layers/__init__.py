"""Built-in layers, one family per module; importing this registers them."""

from .base import Layer, Weight  # noqa: F401
from . import core, reshaping  # noqa: F401  (registration side effect)
