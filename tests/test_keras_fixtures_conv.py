"""Keras 3's transposed, depthwise and separable convolution fixtures, written
by hand as specs: outputs and parameter counts equal Keras's.

func_unet (Conv2DTranspose, UpSampling2D, Concatenate skips), mobilenet_block
(DepthwiseConv2D with strides 2, SeparableConv2D with depth_multiplier 2,
ReLU max_value 6, BatchNormalization, an Add skip) and conv1d_family (causal
dilated Conv1D, Conv1DTranspose, DepthwiseConv1D, SeparableConv1D,
GroupNormalization, LeakyReLU, Softmax). Each spec is written from the
fixture's config.json; the h5 groups are named by class and a counter in
model order, a layer's variables numbered in creation order (a transposed or
depthwise kernel, then the bias; a separable layer's depthwise kernel,
pointwise kernel, bias; a BatchNormalization's gamma, beta, moving mean,
moving variance).
"""

from __future__ import annotations

import pytest

from tests.keras_fixtures import assert_matches_keras, keras_weights, load_fixture, run_spec, spec_model
from tests.test_keras_fixtures import FIXTURE_SPECS

# conv2d_transpose (2x2, strides 2, same) upsamples conv2d_1 back to 16x16
# and joins conv2d; a second branch upsamples conv2d_1 by repetition.
#: Fixture -> (spec, our weight key -> h5 dataset path): the specs written
#: once, in tests/test_keras_fixtures.py, checked further here.
FIXTURES = {name: FIXTURE_SPECS[name] for name in ("func_unet", "mobilenet_block", "conv1d_family")}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_spec_computes_what_keras_computes(name):
    spec, mapping = FIXTURES[name]
    fixture = load_fixture(name)
    assert_matches_keras(fixture, run_spec(spec, keras_weights(fixture, mapping), fixture.inputs))


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_spec_has_keras_parameter_count(name):
    spec, _ = FIXTURES[name]
    assert spec_model(spec).count_params() == load_fixture(name).params


def test_every_intermediate_shape_is_keras():
    """The shapes Keras recorded for each layer's input in config.json are the shapes our layers see."""
    for name in ("func_unet", "mobilenet_block"):  # functional: config.json records every call's input
        spec, _ = FIXTURES[name]
        fixture = load_fixture(name)
        model = spec_model(spec)
        ours = {layer.name: shape for layer, shape in zip(model.layers, model.shapes)}
        checked = 0
        for entry in fixture.config["config"]["layers"]:
            nodes = entry.get("inbound_nodes") or []
            if not nodes or entry["class_name"] == "InputLayer":
                continue
            arguments = nodes[0]["args"][0]
            first = arguments[0] if isinstance(arguments, list) else arguments
            expected = tuple(first["config"]["shape"])
            input_shape = ours[entry["config"]["name"]][0]
            if isinstance(input_shape, list):
                input_shape = input_shape[0]
            assert tuple(input_shape) == expected, (name, entry["config"]["name"])
            checked += 1
        assert checked == len(model.layers)


def test_conv1d_family_shapes():
    # A Sequential's config.json records no call shapes: Keras's, worked out by hand.
    model = spec_model(FIXTURES["conv1d_family"][0])
    assert [shape[1] for shape in model.shapes] == [
        (None, 20, 6), (None, 41, 4), (None, 39, 8), (None, 39, 5), (None, 39, 5), (None, 39, 5), (None, 5),
        (None, 5)]
