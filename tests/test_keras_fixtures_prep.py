"""Keras 3 fixtures of the normalization and preprocessing layers, written
as specs: Keras's weights in, Keras's outputs out (rtol 2e-4, atol 2e-5),
Keras's parameter count.

- seq_cnn (Rescaling, Conv2D, BatchNormalization, pooling). Besides the
  spec written from its config.json, two variants must give the same
  outputs: one with training-only layers inserted (the identity at
  inference, as in Keras), one with the rescaling written as a
  Normalization with the equivalent mean and variance.
- conv1d_family (causal dilated Conv1D, Conv1DTranspose, DepthwiseConv1D,
  SeparableConv1D, GroupNormalization, LeakyReLU, Softmax).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.keras_fixtures import assert_matches_keras, keras_weights, load_fixture, run_spec, spec_model
from tests.test_keras_fixtures import FIXTURE_SPECS


BODY = """
      - {type: Conv2D, filters: 8, kernel_size: 3, padding: valid, activation: relu, name: conv2d}
      - {type: BatchNormalization, axis: -1, momentum: 0.99, epsilon: 0.001, name: batch_normalization}
      - {type: MaxPooling2D, pool_size: 2, strides: 2, padding: valid, name: max_pooling2d}
      - {type: Conv2D, filters: 16, kernel_size: 3, strides: 2, padding: same, activation: relu, name: conv2d_1}
      - {type: GlobalAveragePooling2D, name: global_average_pooling2d}
      - {type: Dense, units: 10, activation: softmax, name: dense}
"""

# From config.json: Rescaling(scale=0.00392156862745098, offset=0.0) on (28, 28, 1).
SPEC = """
    name: seq_cnn
    input: [28, 28, 1]
    layers:
      - {type: Rescaling, scale: 0.00392156862745098, offset: 0.0, name: rescaling}
""" + BODY

AUGMENTED = """
    name: seq_cnn_augmented
    input: [28, 28, 1]
    layers:
      - {type: RandomFlip, mode: horizontal, seed: 1}
      - {type: RandomRotation, factor: 0.1, fill_mode: constant}
      - {type: RandomZoom, height_factor: [-0.1, 0.1]}
      - {type: RandomTranslation, height_factor: 0.1, width_factor: 0.1}
      - {type: RandomContrast, factor: 0.2}
      - {type: RandomBrightness, factor: 0.1}
      - {type: GaussianNoise, stddev: 0.05}
      - {type: Rescaling, scale: 0.00392156862745098, offset: 0.0, name: rescaling}
      - {type: SpatialDropout2D, rate: 0.1}
      - {type: GaussianDropout, rate: 0.1}
""" + BODY

# x / 255 as (x - 0) / max(sqrt(255²), 1e-7).
NORMALIZED = """
    name: seq_cnn_normalized
    input: [28, 28, 1]
    layers:
      - {type: Normalization, axis: null, mean: 0.0, variance: 65025.0, name: rescaling}
""" + BODY

# BatchNormalization's h5 variables are gamma, beta, moving_mean, moving_variance.
WEIGHTS = {
    "conv2d/kernel": "layers/conv2d/vars/0",
    "conv2d/bias": "layers/conv2d/vars/1",
    "batch_normalization/gamma": "layers/batch_normalization/vars/0",
    "batch_normalization/beta": "layers/batch_normalization/vars/1",
    "batch_normalization/moving_mean": "layers/batch_normalization/vars/2",
    "batch_normalization/moving_variance": "layers/batch_normalization/vars/3",
    "conv2d_1/kernel": "layers/conv2d_1/vars/0",
    "conv2d_1/bias": "layers/conv2d_1/vars/1",
    "dense/kernel": "layers/dense/vars/0",
    "dense/bias": "layers/dense/vars/1",
}


@pytest.fixture(scope="module")
def fixture():
    return load_fixture("seq_cnn")


def test_the_spec_follows_the_config(fixture):
    layers = fixture.config["config"]["layers"]
    rescaling = next(layer["config"] for layer in layers if layer["class_name"] == "Rescaling")
    assert (rescaling["scale"], rescaling["offset"]) == (0.00392156862745098, 0.0)
    assert [layer["class_name"] for layer in layers] == ["InputLayer", "Rescaling", "Conv2D", "BatchNormalization",
                                                         "MaxPooling2D", "Conv2D", "GlobalAveragePooling2D", "Dense"]


@pytest.mark.parametrize("spec", [SPEC, AUGMENTED, NORMALIZED], ids=["as_saved", "augmented", "normalized"])
def test_computes_what_keras_computes(fixture, spec):
    outputs = run_spec(spec, keras_weights(fixture, WEIGHTS), fixture.inputs)
    assert_matches_keras(fixture, outputs)


@pytest.mark.parametrize("spec", [SPEC, AUGMENTED, NORMALIZED], ids=["as_saved", "augmented", "normalized"])
def test_has_keras_parameter_count(fixture, spec):
    model = spec_model(spec, keras_weights(fixture, WEIGHTS))
    assert model.count_params() == fixture.params == 1450


def test_the_inputs_are_pixels(fixture):
    """The rescaling matters: Keras's inputs are in [0, 255]."""
    x = fixture.inputs["input_layer"]
    assert x.dtype == np.float32 and x.max() > 1 and x.min() >= 0


# --------------------------------------------------------------------------
# conv1d_family, from its config.json: GroupNormalization groups 5 on the 5
# channels of SeparableConv1D (one group per channel), epsilon 1e-3.

CONV1D_FAMILY, CONV1D_FAMILY_WEIGHTS = FIXTURE_SPECS["conv1d_family"]  # written once, with the others


def test_conv1d_family_follows_its_config():
    fixture = load_fixture("conv1d_family")
    configs = {layer["class_name"]: layer["config"] for layer in fixture.config["config"]["layers"]}
    norm = configs["GroupNormalization"]
    assert (norm["groups"], norm["axis"], norm["epsilon"], norm["center"], norm["scale"]) == (5, -1, 0.001, True, True)


def test_conv1d_family_computes_what_keras_computes():
    fixture = load_fixture("conv1d_family")
    weights = keras_weights(fixture, CONV1D_FAMILY_WEIGHTS)
    assert_matches_keras(fixture, run_spec(CONV1D_FAMILY, weights, fixture.inputs))
    assert spec_model(CONV1D_FAMILY, weights).count_params() == fixture.params == 247
