"""ONNX export of the preprocessing, augmentation and regularization layers
(layerspec/onnx_convert/preprocessing.py)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

import layerspec.onnx_convert as onnx_convert
from layerspec import registry
from layerspec.layers import preprocessing as prep
from layerspec.onnx_builder import MAX_OPSET, ExportError, GraphBuilder
from layerspec.onnx_convert.preprocessing import lambda_layer
from layerspec.onnx_export import export_onnx
from tests.onnx_helpers import assert_onnx_matches, model_of, session_of

OPSETS = [None, MAX_OPSET]


def one_layer(layer: str, shape: str, dtype: str = "float32") -> str:
    return f"dtype: {dtype}\ninput: {shape}\nlayers:\n  - {layer}\n"


def op_types(export) -> list[str]:
    return [node.op_type for node in export.model.graph.node]


def test_every_layer_class_has_a_converter():
    registry.load_builtin_layers()
    onnx_convert._load()
    classes = [cls for cls in registry._classes.values() if cls.__module__ == prep.__name__]
    assert len(classes) >= 30
    assert [cls.__name__ for cls in classes if cls not in onnx_convert._CONVERTERS] == []


# -- the identity at inference -------------------------------------------------------

@pytest.mark.parametrize("layer, shape", [
    ("{type: ActivityRegularization, l1: 0.01}", "[5]"), ("{type: AlphaDropout, rate: 0.1}", "[5]"),
    ("{type: GaussianDropout, rate: 0.1}", "[5]"), ("{type: GaussianNoise, stddev: 0.1}", "[5]"),
    ("{type: SpatialDropout1D, rate: 0.1}", "[5, 3]"), ("{type: SpatialDropout2D, rate: 0.1}", "[4, 4, 3]"),
    ("{type: SpatialDropout3D, rate: 0.1}", "[2, 4, 4, 3]"), ("{type: RandomFlip}", "[4, 4, 3]"),
    ("{type: RandomRotation, factor: 0.1}", "[4, 4, 3]"), ("{type: RandomZoom, height_factor: 0.1}", "[4, 4, 3]"),
    ("{type: RandomTranslation, height_factor: 0.1, width_factor: 0.1}", "[4, 4, 3]"),
    ("{type: RandomContrast, factor: 0.1}", "[4, 4, 3]"), ("{type: RandomBrightness, factor: 0.1}", "[4, 4, 3]"),
    ("{type: RandomGrayscale}", "[4, 4, 3]"), ("{type: RandomHue, factor: 0.1}", "[4, 4, 3]"),
    ("{type: RandomSaturation, factor: 0.1}", "[4, 4, 3]"), ("{type: RandomSharpness, factor: 0.1}", "[4, 4, 3]"),
    ("{type: RandomColorDegeneration, factor: 0.1}", "[4, 4, 3]"), ("{type: RandomInvert}", "[4, 4, 3]"),
    ("{type: RandomShear, x_factor: 0.1}", "[4, 4, 3]"), ("{type: Solarization}", "[4, 4, 3]"),
    ("{type: CutMix}", "[4, 4, 3]"), ("{type: MixUp}", "[4, 4, 3]"), ("{type: RandomFlip}", "[null, null, 3]"),
])
def test_training_only_layers_are_the_identity(layer, shape):
    export = assert_onnx_matches(one_layer(layer, shape))
    assert op_types(export) == ["Identity"]  # only the renaming to the layer's name


def test_lambda_is_refused():
    # A spec cannot hold a Lambda (its constructor refuses), but a layer
    # made otherwise still meets a clear refusal.
    conversion = onnx_convert.Conversion(GraphBuilder(13), SimpleNamespace(name="fn", index=0),
                                         object.__new__(prep.Lambda),
                                         ["x"], [(None, 3)], [None])
    with pytest.raises(ExportError, match=r"^layer 'fn' \(Lambda\) cannot be exported to ONNX: its function is Python "
                                          r"code, which ONNX cannot hold"):
        lambda_layer(conversion)


# -- Rescaling, Normalization ---------------------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("layer, ops", [
    ("{type: Rescaling, scale: 0.5, offset: -1.0}", ["Mul", "Add"]),
    ("{type: Rescaling, scale: 0.00392156862745098}", ["Mul"]),
    ("{type: Rescaling, scale: [1.0, 2.0, 3.0]}", ["Mul"]),
    ("{type: Rescaling, scale: [[1.0], [2.0], [3.0], [4], [5]], offset: [1, 2, 3]}", ["Mul", "Add"]),
])
def test_rescaling(layer, ops, opset):
    export = assert_onnx_matches(one_layer(layer, "[5, 3]"), opset=opset)
    assert op_types(export) == ops


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("layer, shape", [
    ("{type: Normalization, mean: [1.0, 2.0, 3.0], variance: [1.0, 4.0, 0.0]}", "[5, 3]"),  # 0: divides by 1e-7
    ("{type: Normalization, mean: 2.0, variance: 4.0, axis: null}", "[5, 3]"),
    ("{type: Normalization, mean: [1.0, 2.0, 3.0], variance: [1.0, 4.0, 9.0], invert: true}", "[5, 3]"),
    ("{type: Normalization, mean: [[1.0], [2.0]], variance: [[1.0], [4.0]], axis: [1, 2]}", "[2, 3]"),
    ("{type: Normalization}", "[null, 3]"),
    ("{type: Normalization, axis: 1}", "[5, 3]"),
    ("{type: Normalization, axis: [1, 2], invert: true}", "[5, 3]"),
])
def test_normalization(layer, shape, opset, dtype):
    model = model_of(one_layer(layer, shape, dtype))
    rng = np.random.default_rng(4)
    weights = model.get_weights()
    for key in weights:  # adapted statistics, as a trained model has them
        if key.endswith("/mean"):
            weights[key] = rng.standard_normal(weights[key].shape).astype(dtype)
        elif key.endswith("/variance"):
            weights[key] = rng.uniform(0.0, 3.0, weights[key].shape).astype(dtype)
    model.set_weights(weights)
    export = assert_onnx_matches(model, opset=opset)
    assert op_types(export) == (["Mul", "Add"] if "invert" in layer else ["Sub", "Div"])


# -- CategoryEncoding ------------------------------------------------------------------------

CATEGORY_IDS = np.array([[0, 5, 5, 2], [3, 3, 3, 3], [1, 0, 4, 5]])


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("mode, shape, ids, expected", [
    ("multi_hot", "[4]", CATEGORY_IDS, None), ("binary", "[4]", CATEGORY_IDS, None),
    ("count", "[4]", CATEGORY_IDS, [[1, 0, 1, 0, 0, 2], [0, 0, 0, 4, 0, 0], [1, 1, 0, 0, 1, 1]]),
    ("one_hot", "[4]", CATEGORY_IDS, None), ("one_hot", "[1]", CATEGORY_IDS[:, :1], [[1, 0, 0, 0, 0, 0],
                                                                                      [0, 0, 0, 1, 0, 0],
                                                                                      [0, 1, 0, 0, 0, 0]]),
])
def test_category_encoding(mode, shape, ids, expected, opset):
    spec = f"inputs: {{ids: {{shape: {shape}, dtype: int64}}}}\nlayers:\n" \
           f"  - {{type: CategoryEncoding, num_tokens: 6, output_mode: {mode}}}\n"
    export = assert_onnx_matches(spec, inputs=[ids.astype(np.int64)], opset=opset)
    if expected is not None:
        got = session_of(export).run(None, {"ids": ids.astype(np.int64)})[0]
        np.testing.assert_array_equal(got, expected)


def test_category_encoding_takes_int32_ids():
    spec = "inputs: {ids: {shape: [4], dtype: int32}}\nlayers:\n  - {type: CategoryEncoding, num_tokens: 6}\n"
    assert_onnx_matches(spec, inputs=[CATEGORY_IDS.astype(np.int32)])


def test_category_encoding_gives_zeros_for_an_id_out_of_range():
    # layerspec refuses such an id; ONNX cannot, and gives Keras's zeros.
    spec = "inputs: {ids: {shape: [2], dtype: int64}}\nlayers:\n  - {type: CategoryEncoding, num_tokens: 3, " \
           "output_mode: count}\n"
    export = export_onnx(model_of(spec))
    got = session_of(export).run(None, {"ids": np.array([[-1, 1], [3, 9]], np.int64)})[0]
    np.testing.assert_array_equal(got, [[0, 1, 0], [0, 0, 0]])


# -- Resizing ----------------------------------------------------------------------------------

def resizing(height: int, width: int, interpolation: str = "bilinear", extra: str = "") -> str:
    return f"{{type: Resizing, height: {height}, width: {width}, interpolation: {interpolation}{extra}}}"


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"])
@pytest.mark.parametrize("height, width", [(12, 7), (3, 4), (6, 9)])
@pytest.mark.parametrize("antialias", [False, True])
def test_resizing_with_known_sizes(interpolation, height, width, antialias):
    layer = resizing(height, width, interpolation, f", antialias: {str(antialias).lower()}")
    export = assert_onnx_matches(one_layer(layer, "[6, 9, 2]"))
    ops = op_types(export)
    if (height, width) == (6, 9):
        assert ops == ["Identity"]  # JAX leaves an unchanged size alone
    elif interpolation == "nearest":
        assert set(ops) == {"Gather", "Identity"} or set(ops) == {"Gather"}
    elif interpolation.startswith("lanczos") or interpolation == "bicubic" or antialias:  # all shrink an axis
        assert "MatMul" in ops and "Resize" not in ops
    else:
        assert "Resize" in ops


@pytest.mark.parametrize("layer, ops", [
    (resizing(12, 18, "bicubic"), "Resize"),  # enlarging: ONNX's cubic Resize
    (resizing(12, 7, "bicubic"), "MatMul"),  # shrinking the width: ONNX Runtime's cubic Resize fails there
    (resizing(3, 4, "bilinear", ", antialias: true"), "MatMul"),  # ONNX's antialias filter differs from JAX's
    (resizing(12, 18, "bilinear", ", antialias: true"), "Resize"),  # enlarging: antialias changes nothing
])
def test_resizing_picks_resize_where_it_is_exact(layer, ops):
    assert ops in op_types(assert_onnx_matches(one_layer(layer, "[6, 9, 2]")))


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("extra", [", crop_to_aspect_ratio: true", ", pad_to_aspect_ratio: true, fill_value: 2.0"])
@pytest.mark.parametrize("shape", ["[6, 9, 2]", "[9, 6, 2]", "[4, 4, 2]"])
def test_resizing_to_the_aspect_ratio(extra, shape, opset):
    for interpolation in ("bilinear", "nearest"):
        assert_onnx_matches(one_layer(resizing(4, 5, interpolation, extra), shape), opset=opset)


def assert_images_match(spec: str, sizes, opset=None):
    """Export ``spec`` (an input of unknown height and width) once and
    compare on images of each of ``sizes``."""
    model = model_of(spec)
    export = export_onnx(model, opset)
    session = session_of(export)
    for number, (height, width) in enumerate(sizes):
        x = np.random.default_rng(number).standard_normal((2, height, width, 2)).astype(np.float32)
        np.testing.assert_allclose(session.run(None, {"input": x})[0], model.predict(x), rtol=1e-4, atol=1e-5,
                                   err_msg=f"{height}x{width}")
    return export


SIZES = [(6, 9), (9, 6), (4, 5), (2, 2), (13, 3)]


@pytest.mark.parametrize("extra", ["", ", crop_to_aspect_ratio: true", ", pad_to_aspect_ratio: true, fill_value: -1.0"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resizing_sizes_unknown_until_run_time(interpolation, extra):
    export = assert_images_match(one_layer(resizing(4, 5, interpolation, extra), "[null, null, 2]"), SIZES)
    assert export.shapes["resizing"] == (None, 4, 5, 2)
    assert export.opset == 13


def test_resizing_bicubic_with_antialias_on_sizes_unknown_until_run_time_needs_opset_18():
    spec = one_layer(resizing(4, 5, "bicubic", ", antialias: true"), "[null, null, 2]")
    assert assert_images_match(spec, SIZES).opset == 18
    with pytest.raises(ExportError, match="^" + re.escape(
            "--opset 17 cannot express this model: the Resize operator's antialias (bicubic, antialias: true, on "
            "sizes unknown until run time) needs opset 18, for layer 'resizing' (Resizing); use --opset 18 or leave "
            "--opset out") + "$"):
        export_onnx(model_of(spec), 17)


@pytest.mark.parametrize("interpolation, antialias, why", [
    ("lanczos3", False, "ONNX's Resize has no lanczos3 kernel"),
    ("lanczos5", True, "ONNX's Resize has no lanczos5 kernel"),
    ("bicubic", False, "ONNX Runtime's cubic Resize fails to shrink an image (once its layout optimisation makes it "
                       "channels-last)"),
    ("bilinear", True, "ONNX's Resize antialiases linear resampling with another filter than Keras's (JAX's)"),
])
def test_resizing_refuses_what_needs_the_sizes(interpolation, antialias, why):
    spec = one_layer(resizing(4, 5, interpolation, f", antialias: {str(antialias).lower()}"), "[null, 9, 2]")
    shown = f"interpolation '{interpolation}'{' with antialias' if antialias else ''}"
    with pytest.raises(ExportError, match="^" + re.escape(
            f"layer 'resizing' (Resizing) cannot be exported to ONNX: {shown} needs the input's height and width, "
            f"unknown until run time: {why}, and layerspec's resampling matrices depend on the sizes (give the input "
            "a fixed height and width)") + "$") as caught:
        export_onnx(model_of(spec))
    assert caught.value.argument == "interpolation"


# -- CenterCrop, RandomCrop ----------------------------------------------------------------------

@pytest.mark.parametrize("shape, ops", [
    ("[6, 9, 2]", ["Slice"]),  # large enough: the centre window
    ("[3, 9, 2]", ["Slice", "Transpose", "Shape", "Slice", "Concat", "Resize", "Transpose"]),  # smart_resize
    ("[4, 5, 2]", ["Identity"]),
])
def test_center_crop_with_known_sizes(shape, ops):
    assert op_types(assert_onnx_matches(one_layer("{type: CenterCrop, height: 4, width: 5}", shape))) == ops


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("shape", ["[null, null, 2]", "[null, 9, 2]", "[null, 3, 2]"])
def test_center_crop_chooses_at_run_time(shape, opset):
    spec = one_layer("{type: CenterCrop, height: 4, width: 5}", shape)
    width = None if "null, null" in shape else int(shape.split(",")[1])
    sizes = [(height, width or size) for height, size in SIZES]
    export = assert_images_match(spec, sizes, opset)
    assert ("If" in op_types(export)) == (shape != "[null, 3, 2]")  # 3 columns: always smart_resize


@pytest.mark.parametrize("shape", ["[6, 9, 2]", "[4, 5, 2]", "[2, 2, 2]", "[null, null, 2]"])
def test_random_crop_is_smart_resize(shape):
    spec = one_layer("{type: RandomCrop, height: 4, width: 5}", shape)
    if "null" in shape:
        assert_images_match(spec, SIZES)
    else:
        assert_onnx_matches(spec)


@pytest.mark.parametrize("layer, shape", [
    (resizing(4, 5), "[6, 9, 2]"), (resizing(12, 15, "bicubic"), "[6, 9, 2]"),
    (resizing(4, 5, "bilinear", ", pad_to_aspect_ratio: true"), "[null, null, 2]"),
    (resizing(4, 5, "nearest", ", crop_to_aspect_ratio: true"), "[null, null, 2]"),
    ("{type: CenterCrop, height: 4, width: 5}", "[null, null, 2]"),
])
def test_float64_images(layer, shape):
    # ONNX Runtime's Resize is float32 only: known sizes take layerspec's
    # matrices, unknown ones a Resize in float32 (within the tolerance).
    export = assert_onnx_matches(one_layer(layer, shape, "float64"), lengths=(6, 3))
    assert ("Resize" in all_op_types(export.model.graph)) == ("null" in shape and "nearest" not in layer)


def all_op_types(graph) -> list[str]:
    """The op types of ``graph``'s nodes and of its subgraphs' (an If's branches)."""
    found = []
    for node in graph.node:
        found.append(node.op_type)
        for attribute in node.attribute:
            if attribute.HasField("g"):
                found += all_op_types(attribute.g)
    return found
