"""specs/zoo/mobilenet_v2.yaml and specs/zoo/efficientnet_b0.yaml: the
published totals, every layer against the references in
tests/zoo_references.py (which follow Keras's application code), MobileNetV2's
width multiplier, EfficientNet's Dropout schedule, and forward passes checked
against NumPy written here."""

import numpy as np
import pytest

import layerspec
from layerspec.blocks import Settings
from layerspec.spec import build_model, loads_spec, read_spec
from tests.conftest import SPECS
from tests.zoo_references import (
    efficientnet_b0,
    make_divisible,
    mobilenet_v2,
    non_trainable_params,
    signature,
    signature_from_summary,
    total_params,
)

MOBILENET_V2 = SPECS / "zoo" / "mobilenet_v2.yaml"
EFFICIENTNET_B0 = SPECS / "zoo" / "efficientnet_b0.yaml"
#: Keras's printed totals for MobileNetV2 (alpha 1.0) and EfficientNetB0.
PUBLISHED = {"mobilenet_v2": 3_538_984, "efficientnet_b0": 5_330_571}
#: The widths Keras has ImageNet weights for: the spec's variants.
KERAS_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)


def mobilenet(variant=None, **values):
    return build_model(read_spec(str(MOBILENET_V2), Settings(variant, values)))


def with_outputs(path, outputs):
    """The spec with ``outputs`` added, so a block's result can be looked at."""
    text = path.read_text() + f"outputs: [{', '.join(outputs)}]\n"
    return build_model(loads_spec(text, str(path)))


# -- check and totals ----------------------------------------------------------------------
def test_check_passes_for_both_specs_and_every_variant(cli):
    result = cli("check", MOBILENET_V2, EFFICIENTNET_B0)
    assert result.exit_code == 0, result.stdout
    assert result.stdout.strip() == "2 specs checked, 0 failed, 0 errors"


def test_the_published_totals():
    assert mobilenet().count_params() == PUBLISHED["mobilenet_v2"] == total_params(mobilenet_v2())
    efficientnet = build_model(read_spec(str(EFFICIENTNET_B0)))
    assert efficientnet.count_params() == PUBLISHED["efficientnet_b0"] == total_params(efficientnet_b0())
    # Keras's split: the BatchNormalization statistics and Normalization's mean, variance and count.
    assert efficientnet.summary_data()["non_trainable_params"] == 42_023 == non_trainable_params(efficientnet_b0())
    assert mobilenet().summary_data()["non_trainable_params"] == 34_112 == non_trainable_params(mobilenet_v2())


def test_each_page_fits_on_two_screens():
    for path in (MOBILENET_V2, EFFICIENTNET_B0):
        assert len(path.read_text().splitlines()) <= 110, path.name


# -- MobileNetV2 --------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", KERAS_ALPHAS)
def test_mobilenet_v2_layer_by_layer_for_each_variant(alpha):
    """Class, output shape and parameters of all 156 layers, in Keras's creation order."""
    model = mobilenet(str(alpha))
    assert signature_from_summary(model.summary_data()) == signature(mobilenet_v2(alpha))
    assert model.output_shape == (None, 1000)


def test_the_variants_totals_are_the_references():
    totals = {alpha: total_params(mobilenet_v2(alpha)) for alpha in KERAS_ALPHAS}
    assert totals == {0.35: 1_691_208, 0.5: 1_987_224, 0.75: 2_663_064, 1.0: 3_538_984, 1.3: 5_431_048,
                      1.4: 6_156_712}
    for alpha, total in totals.items():
        assert mobilenet(str(alpha)).count_params() == total


def keras_channels(alpha):
    """Keras's channel counts for ``alpha``: _make_divisible of 32·alpha for the stem, of
    int(c·alpha) for each stage, and 1280 at the top unless alpha > 1."""
    channels = {"c_stem": make_divisible(32 * alpha)}
    channels.update({f"c{c}": make_divisible(int(c * alpha)) for c in (16, 24, 32, 64, 96, 160, 320)})
    channels["c_top"] = make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    return channels


@pytest.mark.parametrize("alpha", [round(0.05 * step, 2) for step in range(1, 61)] + [0.35, 1.3, 1.4, 0.27, 0.28])
def test_the_channel_expressions_are_kerass_make_divisible(alpha):
    args = read_spec(str(MOBILENET_V2), Settings(values={"alpha": alpha})).args
    channels = {name: value for name, value in args.items() if name not in ("alpha", "classes")}
    assert channels == keras_channels(alpha)
    assert all(type(value) is int for value in channels.values())


@pytest.mark.parametrize("alpha", [0.28, 0.6, 1.1, 2.0])
def test_other_widths_are_kerass_network_too(alpha):
    assert signature_from_summary(mobilenet(alpha=alpha).summary_data()) == signature(mobilenet_v2(alpha))


def test_below_alpha_0_28_keras_adds_a_shortcut_around_block_0_which_the_spec_lacks():
    # 32 * 0.27 and int(16 * 0.27) both round to 8 channels: block 0 keeps its shape,
    # so Keras adds expanded_conv_add. The spec's header says so.
    reference = mobilenet_v2(0.27)
    assert [record.name for record in reference if record.class_name == "Add"][0] == "expanded_conv_add"
    ours = signature_from_summary(mobilenet(alpha=0.27).summary_data())
    assert len(ours) == len(reference) - 1
    assert ours == signature([record for record in reference if record.name != "expanded_conv_add"])


def test_mobilenet_v2_names_follow_kerass():
    model = mobilenet()
    names = [node.name for node in model.nodes]
    assert names[:9] == ["Conv1", "bn_Conv1", "Conv1_relu", "expanded_conv/depthwise/conv",
                         "expanded_conv/depthwise/BN", "expanded_conv/depthwise/relu",
                         "expanded_conv/project/conv", "expanded_conv/project/BN", "downsample/expand/conv"]
    assert "downsample/pad" in names and "residual/add" in names and "residual_9/add" in names
    assert names[-5:] == ["Conv_1", "Conv_1_bn", "out_relu", "global_average_pooling2d", "predictions"]
    assert "widen_1/project/BN/moving_variance" in [key for key, _ in model.weight_items()]


# -- EfficientNetB0 -----------------------------------------------------------------------------
def test_efficientnet_b0_layer_by_layer():
    """All 241 layers, Rescaling / Normalization / Rescaling first, in Keras's creation order."""
    model = build_model(read_spec(str(EFFICIENTNET_B0)))
    assert signature_from_summary(model.summary_data()) == signature(efficientnet_b0())
    assert model.output_shape == (None, 1000)


def test_efficientnet_b0_blocks_are_named_as_kerass_and_drop_on_its_schedule():
    model = build_model(read_spec(str(EFFICIENTNET_B0)))
    blocks = ["block1a", "block2a", "block2b", "block3a", "block3b", "block4a", "block4b", "block4c", "block5a",
              "block5b", "block5c", "block6a", "block6b", "block6c", "block6d", "block7a"]
    named = {node.name.split("/")[0]: node for node in model.nodes}
    assert [name for name in named if name.startswith("block")] == blocks
    dropouts = {node.name: node.layer for node in model.nodes if type(node.layer).__name__ == "Dropout"}
    # Keras: Dropout(drop_connect_rate * b / 16, noise_shape=(None, 1, 1, 1)) in block b when it adds.
    expected = {f"{name}/drop": 0.2 * index / 16.0 for index, name in enumerate(blocks)
                if name[-1] != "a"}
    assert {name: layer.rate for name, layer in dropouts.items() if name != "top_dropout"} == expected
    assert {layer.noise_shape for name, layer in dropouts.items() if name != "top_dropout"} == {(None, 1, 1, 1)}
    assert dropouts["top_dropout"].rate == 0.2 and dropouts["top_dropout"].noise_shape is None


def test_efficientnet_b0_keeps_kerass_initializers_and_input_scaling():
    model = build_model(read_spec(str(EFFICIENTNET_B0)))
    layers = {node.name: node.layer for node in model.nodes}
    conv_init = {"type": "variance_scaling", "scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}
    assert dict(layers["block2a/mbconv/se_reduce"].kernel_initializer) == conv_init
    assert dict(layers["block2a/mbconv/dwconv"].depthwise_initializer) == conv_init
    assert dict(layers["predictions"].kernel_initializer) == {"type": "variance_scaling", "scale": 1.0 / 3.0,
                                                              "mode": "fan_out", "distribution": "uniform"}
    assert layers["rescaling"].scale == 1.0 / 255.0
    assert list(layers["rescaling_1"].scale) == [1.0 / np.sqrt(std) for std in (0.229, 0.224, 0.225)]


# -- forward passes ------------------------------------------------------------------------------
@pytest.mark.parametrize("path, low, high", [(MOBILENET_V2, -1.0, 1.0), (EFFICIENTNET_B0, 0.0, 255.0)])
def test_a_forward_pass_at_224(path, low, high):
    model = layerspec.load(str(path)).init(seed=0)
    image = np.random.default_rng(0).uniform(low, high, (1, 224, 224, 3)).astype(np.float32)
    probabilities = model.predict(image)
    assert probabilities.shape == (1, 1000) and probabilities.dtype == np.float32
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)


def randomise_batch_norms(model, seed=1):
    """Moving statistics and scales that are not the identity, so the check sees them."""
    rng = np.random.default_rng(seed)
    weights = model.get_weights()
    for key, value in weights.items():
        leaf = key.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance"):
            weights[key] = rng.uniform(0.5, 1.5, value.shape).astype(value.dtype)
        elif leaf in ("beta", "moving_mean"):
            weights[key] = rng.normal(0.0, 0.2, value.shape).astype(value.dtype)
    model.set_weights(weights)
    return weights


def pointwise(x, kernel, bias=None):
    y = x.astype(np.float64) @ kernel[0, 0].astype(np.float64)
    return y if bias is None else y + bias


def depthwise_same(x, kernel):
    """A stride-1 'same' depthwise convolution with an odd kernel, written out."""
    size = kernel.shape[0]
    half = size // 2
    padded = np.pad(x.astype(np.float64), ((0, 0), (half, half), (half, half), (0, 0)))
    rows, cols = x.shape[1:3]
    out = np.zeros(x.shape)
    for i in range(size):
        for j in range(size):
            out += padded[:, i:i + rows, j:j + cols, :] * kernel[i, j, :, 0]
    return out


def batch_norm(x, weights, prefix, epsilon=1e-3):
    w = {name: weights[f"{prefix}/{name}"].astype(np.float64)
         for name in ("gamma", "beta", "moving_mean", "moving_variance")}
    return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + epsilon) * w["gamma"] + w["beta"]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_mobilenet_v2_a_residual_block_computes_what_keras_does():
    """The first identity block (Keras's block_2): expand, ReLU6, depthwise, ReLU6, project, add."""
    model = with_outputs(MOBILENET_V2, ["downsample", "residual", "predictions"]).init(seed=0)
    weights = randomise_batch_norms(model)
    image = np.random.default_rng(2).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
    block_input, block_output, _ = model.predict(image)

    x = np.clip(batch_norm(pointwise(block_input, weights["residual/expand/conv/kernel"]), weights,
                           "residual/expand/BN"), 0, 6)
    x = np.clip(batch_norm(depthwise_same(x, weights["residual/depthwise/conv/kernel"]), weights,
                           "residual/depthwise/BN"), 0, 6)
    x = batch_norm(pointwise(x, weights["residual/project/conv/kernel"]), weights, "residual/project/BN")
    expected = block_input + x
    assert block_output.shape == (1, 56, 56, 24)
    np.testing.assert_allclose(block_output, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_efficientnet_b0_a_residual_block_computes_what_keras_does():
    """block2b: expand, swish, depthwise, swish, squeeze-and-excite, project; Dropout is the
    identity at inference; then the add."""
    model = with_outputs(EFFICIENTNET_B0, ["block2a", "block2b", "predictions"]).init(seed=0)
    weights = randomise_batch_norms(model)
    image = np.random.default_rng(2).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    block_input, block_output, _ = model.predict(image)

    def swish(x):
        return x * sigmoid(x)

    def w(name):
        return weights[f"block2b/{name}"].astype(np.float64)

    x = swish(batch_norm(pointwise(block_input, w("expand/conv/kernel")), weights, "block2b/expand/bn"))
    x = swish(batch_norm(depthwise_same(x, w("mbconv/dwconv/kernel")), weights, "block2b/mbconv/bn"))
    gate = x.mean(axis=(1, 2), keepdims=True)
    gate = swish(pointwise(gate, w("mbconv/se_reduce/kernel"), w("mbconv/se_reduce/bias")))
    gate = sigmoid(pointwise(gate, w("mbconv/se_expand/kernel"), w("mbconv/se_expand/bias")))
    assert w("mbconv/se_reduce/kernel").shape == (1, 1, 144, 6)  # max(1, int(24 * 0.25)) = 6
    x = batch_norm(pointwise(x * gate, w("mbconv/project_conv/kernel")), weights, "block2b/mbconv/project_bn")
    expected = x + block_input
    assert block_output.shape == (1, 56, 56, 24)
    np.testing.assert_allclose(block_output, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
