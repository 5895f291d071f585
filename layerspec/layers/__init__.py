"""Built-in layers, one family per module; importing this registers them."""

from .base import Layer, Weight  # noqa: F401
from . import core, reshaping, conv, pooling, normalization, embedding, recurrent  # noqa: F401  (registration)
