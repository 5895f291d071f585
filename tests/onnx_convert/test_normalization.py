"""ONNX export of the normalization layers (layerspec/onnx_convert/normalization.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from layerspec.layers.normalization import SpectralNormalization
from layerspec.onnx_builder import MAX_OPSET, ExportError, GraphBuilder
from layerspec.onnx_convert import Conversion, converter_of
from layerspec.onnx_export import export_onnx
from tests.onnx_helpers import assert_onnx_matches, model_of

OPSETS = [None, MAX_OPSET]


def one_layer(input_shape: str, layer: str, dtype: str = "float32") -> str:
    return f"dtype: {dtype}\ninput: {input_shape}\nlayers:\n  - {{{layer}}}\n"


def randomized(spec: str, seed: int = 0):
    """The spec's model with every weight drawn at random (variances
    positive), so gamma, beta and the moving statistics all matter."""
    model = model_of(spec)
    rng = np.random.default_rng(seed)
    weights = {}
    for key, value in model.get_weights().items():
        drawn = rng.standard_normal(value.shape).astype(value.dtype)
        weights[key] = np.abs(drawn) + 0.1 if key.endswith("variance") else drawn
    model.set_weights(weights)
    return model


def op_types(export) -> list[str]:
    return [node.op_type for node in export.model.graph.node]


# -- BatchNormalization ---------------------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("input_shape, arguments", [
    ("[3, 4]", ""), ("[3, 4]", ", axis: 1"), ("[2, 3, 4]", ", axis: -2, epsilon: 0.1"),
    ("[null, 4]", ", center: false"), ("[4]", ", scale: false"), ("[4]", ", center: false, scale: false"),
])
def test_batch_normalization_is_a_folded_multiply_add(input_shape, arguments, opset):
    export = assert_onnx_matches(randomized(one_layer(input_shape, f"type: BatchNormalization{arguments}")),
                                 opset=opset, rtol=0, atol=0)
    assert op_types(export) == ["Mul", "Add"]
    assert export.opset == (opset or 13)


def test_batch_normalization_epsilon_is_in_the_folded_scale():
    model = model_of(one_layer("[2]", "type: BatchNormalization, epsilon: 0.5"))
    export = export_onnx(model)
    scale = next(tensor for tensor in export.model.graph.initializer if tensor.name.endswith("folded_scale"))
    # moving_variance 1, gamma 1: 1 / sqrt(1 + 0.5).
    np.testing.assert_allclose(np.frombuffer(scale.raw_data, np.float32), [1 / np.sqrt(1.5)] * 2, rtol=1e-7)


def test_batch_normalization_in_float64_and_reused():
    spec = "dtype: float64\ninput: [3, 4]\nlayers:\n  - {type: BatchNormalization, name: bn}\n  - {reuse: bn}\n"
    export = assert_onnx_matches(randomized(spec), rtol=1e-12, atol=1e-12)
    assert len(export.model.graph.initializer) == 2


# -- LayerNormalization -------------------------------------------------------------------

@pytest.mark.parametrize("input_shape, arguments, axis", [
    ("[3, 4]", "", 2), ("[3, 4]", ", axis: [1, -1], epsilon: 0.01", 1), ("[2, 3, 4]", ", axis: [-2, -1]", 2),
    ("[2, 3]", ", axis: [1, -1]", 1),  # sorted as written: gamma (3, 2), laid over (2, 3) by a reshape
    ("[null, 4]", ", scale: false", 2), ("[null, 4]", ", center: false", 2),
    ("[4]", ", center: false, scale: false", 1),
])
def test_layer_normalization_over_trailing_axes_is_the_operator_of_opset_17(input_shape, arguments, axis):
    model = randomized(one_layer(input_shape, f"type: LayerNormalization{arguments}"))
    export = assert_onnx_matches(model)
    assert export.opset == 17
    node = next(node for node in export.model.graph.node if node.op_type == "LayerNormalization")
    attributes = {attribute.name: attribute for attribute in node.attribute}
    assert attributes["axis"].i == axis
    assert attributes["epsilon"].f == pytest.approx(0.01 if "0.01" in arguments else 1e-3)
    assert_onnx_matches(model, opset=MAX_OPSET)


def test_layer_normalization_refuses_an_opset_below_17():
    with pytest.raises(ExportError, match=r"^--opset 16 cannot express this model: the LayerNormalization operator "
                                          r"needs opset 17, for layer 'layer_normalization' \(LayerNormalization\); "
                                          r"use --opset 17 or leave --opset out$"):
        export_onnx(model_of(one_layer("[4]", "type: LayerNormalization")), 16)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("input_shape, arguments", [
    ("[3, 4]", ", axis: 1"),                              # not the last axis
    ("[2, 3, 4]", ", axis: [3, 1], center: false"),       # unsorted, not contiguous
    ("[3, 2, 2]", ", axis: [-1, 1]"),                     # sorted as written: gamma (2, 3), over axes 1 and 3
    ("[null, 4, 2]", ", axis: 2, scale: false"),
])
def test_layer_normalization_over_other_axes_is_composed(input_shape, arguments, opset):
    export = assert_onnx_matches(randomized(one_layer(input_shape, f"type: LayerNormalization{arguments}")),
                                 opset=opset)
    assert "LayerNormalization" not in op_types(export)
    assert export.opset == (opset or 13)


@pytest.mark.parametrize("input_shape, axis, gamma_shape", [("[2, 3]", "[1, -1]", (3, 2)),
                                                            ("[3, 2, 2]", "[3, 1]", (3, 2))])
def test_unsorted_axes_keep_the_weights_stored_order(input_shape, axis, gamma_shape):
    model = randomized(one_layer(input_shape, f"type: LayerNormalization, axis: {axis}"))
    assert model.layers[0].gamma.value.shape == gamma_shape
    assert_onnx_matches(model)


def test_composed_layer_normalization_subtracts_the_mean_twice():
    # Far from zero, a single pass loses the small variations; layerspec's two passes keep them.
    model = randomized(one_layer("[16, 2]", "type: LayerNormalization, axis: 1"))
    data = (1e4 + np.random.default_rng(0).standard_normal((3, 16, 2))).astype(np.float32)
    export = assert_onnx_matches(model, inputs=[data])
    assert op_types(export).count("ReduceMean") == 3


def test_layer_normalization_in_float64_is_composed():
    # The operator keeps its statistics in float32 (stash_type): not for a float64 model.
    export = assert_onnx_matches(randomized(one_layer("[3, 4]", "type: LayerNormalization", dtype="float64")),
                                 rtol=1e-12, atol=1e-12)
    assert export.opset == 13 and "LayerNormalization" not in op_types(export)


# -- GroupNormalization ----------------------------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("input_shape, arguments", [
    ("[3, 4, 6]", "groups: 3"), ("[5, 6]", "groups: 2"), ("[6, 4]", "groups: 2, axis: 1"),
    ("[null, 6]", "groups: -1, center: false"), ("[6]", "groups: 1, epsilon: 0.1"),
    ("[4, 6]", "groups: 6, scale: false"),
    ("[2, 6, 3]", "groups: 3, axis: 2"),
])
def test_group_normalization_is_composed(input_shape, arguments, opset):
    export = assert_onnx_matches(randomized(one_layer(input_shape, f"type: GroupNormalization, {arguments}")),
                                 opset=opset)
    assert "GroupNormalization" not in op_types(export) and "InstanceNormalization" not in op_types(export)
    assert export.opset == (opset or 13)


@pytest.mark.parametrize("input_shape, axis", [("[null, 6, null]", 2), ("[null, null, 6, null]", 3)])
def test_group_normalization_with_several_unknown_sizes_needs_opset_14(input_shape, axis):
    spec = one_layer(input_shape, f"type: GroupNormalization, groups: 2, axis: {axis}")
    export = assert_onnx_matches(randomized(spec))
    assert export.opset == 14
    assert_onnx_matches(randomized(spec), opset=MAX_OPSET)


def test_group_normalization_far_from_zero_and_in_float64():
    model = randomized(one_layer("[8, 4]", "type: GroupNormalization, groups: 2"))
    assert_onnx_matches(model, inputs=[(1e3 + np.random.default_rng(1).standard_normal((2, 8, 4))).astype(np.float32)])
    assert_onnx_matches(randomized(one_layer("[3, 4]", "type: GroupNormalization, groups: 2", dtype="float64")),
                        rtol=1e-12, atol=1e-12)


# -- UnitNormalization, SpectralNormalization ---------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("input_shape, axis", [("[3, 4]", "-1"), ("[3, 4]", "[1, 2]"), ("[null, 4]", "1"),
                                               ("[4]", "-1")])
def test_unit_normalization(input_shape, axis, opset):
    export = assert_onnx_matches(one_layer(input_shape, f"type: UnitNormalization, axis: {axis}"), opset=opset)
    assert export.opset == (opset or 13)


def test_unit_normalization_leaves_a_zero_vector_zero():
    data = np.array([[0, 0, 0], [3, 4, 0]], np.float32)
    assert_onnx_matches(one_layer("[3]", "type: UnitNormalization"), inputs=[data], rtol=0, atol=1e-7)


def test_spectral_normalization_is_refused():
    # layerspec cannot build one (it refuses the layer), but its converter refuses too, naming why.
    layer = object.__new__(SpectralNormalization)
    conversion = Conversion(GraphBuilder(13), SimpleNamespace(name="sn", index=0), layer, ["x"], [(None, 4)], [None])
    with pytest.raises(ExportError, match=r"^layer 'sn' \(SpectralNormalization\) cannot be exported to ONNX: "
                                          r"SpectralNormalization only acts in training \(power iteration on the "
                                          r"wrapped layer's kernel\); at inference it is the wrapped layer with its "
                                          r"stored kernel: write that layer instead$"):
        converter_of(layer)(conversion)
