"""ONNX export of the reshaping layers (layerspec/onnx_convert/reshaping.py)."""

from __future__ import annotations

import numpy as np
import pytest

from layerspec.onnx_builder import MAX_OPSET
from tests.onnx_helpers import assert_onnx_matches

OPSETS = [None, MAX_OPSET]


def one_layer(input_shape: str, layer: str, dtype: str = "float32") -> str:
    return f"dtype: {dtype}\ninput: {input_shape}\nlayers:\n  - {{{layer}}}\n"


def op_types(export) -> list[str]:
    return [node.op_type for node in export.model.graph.node]


def counting(*shape) -> np.ndarray:
    """0, 1, 2, ... in ``shape``: where each value lands shows."""
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


# Layers that only move values: ONNX Runtime must give layerspec's values exactly.
MOVING = [
    ("[3, 4]", "type: Flatten"),
    ("[null, 4]", "type: Flatten"),
    ("[3, 4]", "type: Reshape, target_shape: [2, -1]"),
    ("[null, 4]", "type: Reshape, target_shape: [-1, 2]"),
    ("[12]", "type: Reshape, target_shape: [3, 2, 2]"),
    ("[3, 4, 2]", "type: Permute, dims: [3, 1, 2]"),
    ("[null, 4]", "type: Permute, dims: [2, 1]"),
    ("[4]", "type: RepeatVector, n: 3"),
    ("[5, 4]", "type: ZeroPadding1D"),
    ("[5, 4]", "type: ZeroPadding1D, padding: [1, 2]"),
    ("[null, 4]", "type: ZeroPadding1D, padding: [0, 3]"),
    ("[3, 4, 2]", "type: ZeroPadding2D, padding: [[1, 0], [2, 3]]"),
    ("[3, 4, 2]", "type: ZeroPadding2D, padding: [2, 1]"),
    ("[null, null, 2]", "type: ZeroPadding2D"),
    ("[6, 4]", "type: Cropping1D"),
    ("[6, 4]", "type: Cropping1D, cropping: [2, 0]"),
    ("[null, 4]", "type: Cropping1D, cropping: [0, 1]"),
    ("[5, 6, 2]", "type: Cropping2D, cropping: [[1, 0], [2, 3]]"),
    ("[5, 6, 2]", "type: Cropping2D, cropping: [1, 2]"),
    ("[null, null, 2]", "type: Cropping2D, cropping: [[1, 0], [0, 1]]"),
    ("[3, 4]", "type: UpSampling1D"),
    ("[null, 4]", "type: UpSampling1D, size: 3"),
    ("[3, 4, 2]", "type: UpSampling2D"),
    ("[3, 4, 2]", "type: UpSampling2D, size: [2, 3]"),
    ("[3, 4, 2]", "type: UpSampling2D, size: [1, 3]"),
    ("[null, 4, 2]", "type: UpSampling2D, size: [3, 2]"),
    ("[null, null, 2]", "type: UpSampling2D, size: [1, 3]"),  # the height keeps its place: Reshape's 0
]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("input_shape, layer", MOVING)
def test_layers_that_move_values_are_exact(input_shape, layer, opset):
    export = assert_onnx_matches(one_layer(input_shape, layer), opset=opset, rtol=0, atol=0)
    assert export.opset == (opset or 13)


def test_values_land_where_layerspec_puts_them():
    # Counting inputs: any misplaced value would show as a different number.
    for input_shape, layer, data in [("[3, 4]", "type: UpSampling1D, size: 2", counting(2, 3, 4)),
                                     ("[2, 3, 2]", "type: UpSampling2D, size: [2, 3]", counting(2, 2, 3, 2)),
                                     ("[3, 4, 2]", "type: Permute, dims: [2, 3, 1]", counting(1, 3, 4, 2)),
                                     ("[3, 4, 2]", "type: Flatten", counting(2, 3, 4, 2))]:
        assert_onnx_matches(one_layer(input_shape, layer), inputs=[data], rtol=0, atol=0)


def test_nothing_to_do_is_an_identity():
    for layer in ["type: ZeroPadding1D, padding: 0", "type: Cropping1D, cropping: 0", "type: UpSampling1D, size: 1"]:
        export = assert_onnx_matches(one_layer("[3, 4]", layer))
        assert op_types(export) == ["Identity"]


def test_padding_is_one_pad_and_cropping_one_slice():
    assert "Pad" in op_types(assert_onnx_matches(one_layer("[3, 4, 2]", "type: ZeroPadding2D, padding: 1")))
    assert op_types(assert_onnx_matches(one_layer("[5, 6, 2]", "type: Cropping2D, cropping: 1"))) == ["Slice"]


def test_nearest_upsampling_of_two_unknown_sizes_needs_opset_14():
    # (batch, 2h, 3w, c): two sizes known only at run time in the Reshape target.
    spec = one_layer("[null, null, 2]", "type: UpSampling2D, size: [2, 3]")
    export = assert_onnx_matches(spec, rtol=0, atol=0)
    assert export.opset == 14
    assert (export.requirements[0].what, export.requirements[0].layer) == (
        "a Reshape to more than one size known only at run time", "layer 'up_sampling2d' (UpSampling2D)")
    assert_onnx_matches(spec, opset=MAX_OPSET, rtol=0, atol=0)


# -- bilinear ------------------------------------------------------------------------

BILINEAR = [("[3, 4, 2]", "[2, 2]"), ("[3, 4, 2]", "[2, 3]"), ("[3, 4, 2]", "[3, 1]"), ("[1, 1, 2]", "[4, 4]"),
            ("[null, null, 2]", "[2, 3]")]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("input_shape, size", BILINEAR)
def test_bilinear_upsampling_is_onnx_resize_half_pixel(input_shape, size, opset):
    export = assert_onnx_matches(one_layer(input_shape, f"type: UpSampling2D, size: {size}, interpolation: bilinear"),
                                 opset=opset, rtol=1e-6, atol=1e-6)
    resize = next(node for node in export.model.graph.node if node.op_type == "Resize")
    attributes = {attribute.name: attribute.s.decode() for attribute in resize.attribute}
    assert attributes == {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    assert export.opset == (opset or 13)


def test_bilinear_upsampling_keeps_the_edge_values():
    # A ramp: the outputs past the first and last centres repeat the edges.
    ramp = np.tile(np.arange(4, dtype=np.float32)[None, :, None, None], (1, 1, 3, 1))
    assert_onnx_matches(one_layer("[4, 3, 1]", "type: UpSampling2D, size: [2, 1], interpolation: bilinear"),
                        inputs=[ramp], rtol=0, atol=1e-6)


@pytest.mark.parametrize("input_shape, size", BILINEAR)
def test_bilinear_upsampling_in_float64_is_composed_and_exact(input_shape, size):
    # ONNX Runtime has no float64 Resize: the same sums, written out.
    export = assert_onnx_matches(one_layer(input_shape, f"type: UpSampling2D, size: {size}, interpolation: bilinear",
                                           dtype="float64"), rtol=1e-12, atol=1e-12)
    assert "Resize" not in op_types(export)
    # Both sizes unknown: the height's interleaving Reshape has two run-time sizes.
    assert export.opset == (14 if input_shape.count("null") == 2 else 13)


def test_upsampling_in_float64_and_a_chain_of_reshaping_layers():
    spec = """
    dtype: float64
    input: [4, 3]
    layers:
      - {type: ZeroPadding1D, padding: [1, 0]}
      - {type: UpSampling1D, size: 2}
      - {type: Cropping1D, cropping: [1, 2]}
      - {type: Reshape, target_shape: [1, -1, 3]}
      - {type: UpSampling2D, size: [2, 2]}
      - {type: Permute, dims: [3, 1, 2]}
      - {type: Flatten}
      - {type: RepeatVector, n: 2}
    """
    assert_onnx_matches(spec, rtol=0, atol=0)
