"""The textbook custom layer, with NumPy in place of TensorFlow.

Use it from a spec with ``layerspec summary --plugin examples/plugins/simple_dense.py
examples/plugins/simple_dense.yaml``, or set ``LAYERSPEC_PLUGINS`` to this file.
"""

import numpy as np  # noqa: F401  (as in the textbook example)

import layerspec


@layerspec.register
class SimpleDense(layerspec.Layer):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = layerspec.activations.get(activation)

    def build(self, input_shape):
        self.W = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", name="W")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, inputs):
        y = inputs @ self.W + self.b
        return y if self.activation is None else self.activation(y)
