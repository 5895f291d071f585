"""The zoo specs ResNet-50, DenseNet-121 and U-Net (specs/zoo/).

ResNet-50 and DenseNet-121 are compared layer by layer with the independent
reference lists of tests/zoo_references.py (Keras 3.15.1's application code,
in creation order) and with the totals Keras prints for its applications;
U-Net with a layer list derived by hand from the paper's architecture below.
"""

import re

import numpy as np
import pytest

from layerspec.blocks import Settings
from layerspec.spec import build_model, read_spec
from tests import zoo_references as zoo
from tests.conftest import SPECS

ZOO = SPECS / "zoo"
RESNET50 = ZOO / "resnet50.yaml"
DENSENET121 = ZOO / "densenet121.yaml"
UNET = ZOO / "unet.yaml"


def model_of(path, variant=None, **values):
    """The model a spec builds, as `--variant VARIANT --set NAME=VALUE ...` would."""
    return build_model(read_spec(str(path), Settings(variant, values)))


def signature_of(model):
    return zoo.signature_from_summary(model.summary_data())


def random_image(model):
    """One float32 sample of the model's input shape, drawn with seed 0."""
    return np.random.default_rng(0).standard_normal((1,) + tuple(model.input_shape)).astype(np.float32)


# --- every spec: check, size of the page ---------------------------------------------------


@pytest.mark.parametrize("path", [RESNET50, DENSENET121, UNET], ids=lambda path: path.name)
def test_check_passes_with_the_defaults_and_every_variant(cli, path):
    result = cli("check", path)
    assert (result.exit_code, result.stdout) == (0, "1 spec checked, 0 failed, 0 errors\n")


@pytest.mark.parametrize("path", [RESNET50, DENSENET121, UNET], ids=lambda path: path.name)
def test_each_spec_is_a_short_page(path):
    """Under 60 lines: ResNet-50's limit, and one screen for the others."""
    assert len(path.read_text(encoding="utf-8").splitlines()) < 60


# --- ResNet-50 (keras/src/applications/resnet.py) ------------------------------------------


def resnet_records(stage_blocks):
    """keras.applications.ResNet50/101/152: the reference with these stage depths."""
    return zoo.resnet50(stage_blocks=stage_blocks)


def test_resnet50_totals_are_keras_figures():
    model = model_of(RESNET50)
    data = model.summary_data()
    assert (data["total_params"], data["trainable_params"], data["non_trainable_params"]) == \
        (25_636_712, 25_583_592, 53_120)
    assert model.output_shape == (None, 1000)


def test_resnet50_matches_keras_layer_by_layer():
    assert signature_of(model_of(RESNET50)) == zoo.signature(zoo.resnet50())


@pytest.mark.parametrize("variant, stage_blocks, total", [
    (None, (3, 4, 6, 3), 25_636_712),
    ("resnet101", (3, 4, 23, 3), 44_707_176),
    ("resnet152", (3, 8, 36, 3), 60_419_944),
])
def test_resnet_variants_are_keras_resnet101_and_152(variant, stage_blocks, total):
    model = model_of(RESNET50, variant)
    records = resnet_records(stage_blocks)
    assert model.count_params() == zoo.total_params(records) == total
    assert signature_of(model) == zoo.signature(records)


def keras_resnet_name(path: str) -> str:
    """Keras's flat name of a ResNet layer named by path: the projection block is
    ``block1``, identity_block_N is ``block{N + 2}``, the bottleneck level drops out:
    ``conv3/identity_block_1/bottleneck/2_conv`` → ``conv3_block3_2_conv``."""
    parts = path.split("/")
    if len(parts) == 1:
        return path
    stage, block, suffix = parts[0], parts[1], parts[-1]
    if block == "projection_block":
        number = 1
    else:
        copy = re.fullmatch(r"identity_block(?:_(\d+))?", block).group(1)
        number = 2 + int(copy or 0)
    return f"{stage}_block{number}_{suffix}"


def test_resnet50_layers_map_one_to_one_onto_keras_names():
    ours = [keras_resnet_name(layer["name"]) for layer in model_of(RESNET50).summary_data()["layers"]]
    assert ours == [record.name for record in zoo.resnet50()[1:]]  # Keras's input_layer has no row here


def test_resnet50_follows_keras_arguments():
    model = model_of(RESNET50)
    configs = {node.name: node.layer.get_config() for node in model.nodes}
    assert configs["conv1_pad"]["padding"] == ((3, 3), (3, 3))
    assert {config["epsilon"] for name, config in configs.items() if "bn" in name.split("/")[-1]} == {1.001e-5}
    assert configs["conv2/projection_block/0_conv"]["use_bias"] is True  # ResNet (v1) keeps its biases
    assert model.summary_data()["layers"][6]["name"] == "conv2/projection_block/0_conv"  # shortcut first


def test_resnet50_weight_keys_follow_the_block_paths():
    shapes = {key: tuple(weight.shape) for key, weight in model_of(RESNET50).weight_items()}
    assert shapes["conv2/projection_block/0_conv/kernel"] == (1, 1, 64, 256)
    assert shapes["conv3/identity_block_2/bottleneck/2_conv/kernel"] == (3, 3, 128, 128)
    assert shapes["conv5/identity_block_1/bottleneck/3_bn/moving_variance"] == (2048,)
    assert len(shapes) == 320  # 53 convolutions x 2, 53 batch norms x 4, the classifier's 2


def test_resnet50_forward_pass():
    model = model_of(RESNET50).init(seed=0)
    output = model.predict(random_image(model))
    assert output.shape == (1, 1000) and np.isfinite(output).all()
    np.testing.assert_allclose(output.sum(), 1.0, rtol=1e-5)  # softmax


# --- DenseNet-121 (keras/src/applications/densenet.py) -------------------------------------


def densenet_records(stage_blocks):
    """keras.applications.DenseNet121/169/201: the reference with these stage depths."""
    return zoo.densenet121(stage_blocks=stage_blocks)


def test_densenet121_totals_are_keras_figures():
    model = model_of(DENSENET121)
    data = model.summary_data()
    assert (data["total_params"], data["trainable_params"], data["non_trainable_params"]) == \
        (8_062_504, 7_978_856, 83_648)
    assert model.output_shape == (None, 1000)


def test_densenet121_matches_keras_layer_by_layer():
    assert signature_of(model_of(DENSENET121)) == zoo.signature(zoo.densenet121())


@pytest.mark.parametrize("variant, stage_blocks, total", [
    (None, (6, 12, 24, 16), 8_062_504),
    ("densenet169", (6, 12, 32, 32), 14_307_880),
    ("densenet201", (6, 12, 48, 32), 20_242_984),
])
def test_densenet_variants_are_keras_densenet169_and_201(variant, stage_blocks, total):
    model = model_of(DENSENET121, variant)
    records = densenet_records(stage_blocks)
    assert model.count_params() == zoo.total_params(records) == total
    assert signature_of(model) == zoo.signature(records)


def keras_densenet_name(path: str) -> str:
    """Keras's flat name of a DenseNet layer named by path:
    ``conv3/conv_block_4/1_conv`` → ``conv3_block5_1_conv``, ``pool2/conv`` → ``pool2_conv``."""
    parts = path.split("/")
    if len(parts) == 3:
        stage, block, suffix = parts
        copy = re.fullmatch(r"conv_block(?:_(\d+))?", block).group(1)
        return f"{stage}_block{1 + int(copy or 0)}_{suffix}"
    return "_".join(parts)


def test_densenet121_layers_map_one_to_one_onto_keras_names():
    ours = [keras_densenet_name(layer["name"]) for layer in model_of(DENSENET121).summary_data()["layers"]]
    # The two auto-named ZeroPadding2D layers are numbered as in a fresh Keras session.
    assert ours == [record.name for record in zoo.densenet121()[1:]]


def test_densenet121_follows_keras_arguments():
    configs = {node.name: node.layer.get_config() for node in model_of(DENSENET121).nodes}
    assert {config["epsilon"] for config in configs.values() if "epsilon" in config} == {1.001e-5}
    assert {config["use_bias"] for config in configs.values() if "use_bias" in config and "filters" in config} \
        == {False}  # every DenseNet convolution, unlike its Dense classifier
    assert configs["pool4/conv"]["filters"] == 512  # int((256 + 24 * 32) * 0.5)


def test_densenet121_forward_pass():
    model = model_of(DENSENET121).init(seed=0)
    output = model.predict(random_image(model))
    assert output.shape == (1, 1000) and np.isfinite(output).all()
    np.testing.assert_allclose(output.sum(), 1.0, rtol=1e-5)


# --- U-Net (Ronneberger et al., 2015, Fig. 1, with 'same' padding) --------------------------


def conv3x3(c_in, filters):
    """A 3×3 convolution with bias: 3·3·c_in·filters + filters."""
    return 3 * 3 * c_in * filters + filters


def up_conv(c_in, filters):
    """The 2×2 up-convolution (Conv2DTranspose, kernel (2, 2, filters, c_in)) with bias."""
    return 2 * 2 * c_in * filters + filters


def conv1x1(c_in, filters):
    return c_in * filters + filters


def unet_signature(base=64, classes=2, size=256, channels=1):
    """(class, per-sample output shape, params) of every U-Net layer, in the spec's order.

    Contracting level l = 0..3 at filters f = base·2^l: conv3x3(c, f), conv3x3(f, f), a 2×2 max pool
    halving the size. Bottom: conv3x3(8·base, 16·base), conv3x3(16·base, 16·base). Expansive level
    l = 3..0 at f = base·2^l: up_conv(2f, f) doubling the size, Concatenate with the contracting
    level (2f channels), conv3x3(2f, f), conv3x3(f, f). Then conv1x1(base, classes).
    """
    rows = [("InputLayer", (size, size, channels), 0)]
    c_in = channels
    for level in range(4):
        f = base * 2 ** level
        rows += [("Conv2D", (size, size, f), conv3x3(c_in, f)), ("Conv2D", (size, size, f), conv3x3(f, f))]
        size //= 2
        rows.append(("MaxPooling2D", (size, size, f), 0))
        c_in = f
    bottom = 16 * base
    rows += [("Conv2D", (size, size, bottom), conv3x3(c_in, bottom)),
             ("Conv2D", (size, size, bottom), conv3x3(bottom, bottom))]
    for level in reversed(range(4)):
        f = base * 2 ** level
        size *= 2
        rows += [("Conv2DTranspose", (size, size, f), up_conv(2 * f, f)), ("Concatenate", (size, size, 2 * f), 0),
                 ("Conv2D", (size, size, f), conv3x3(2 * f, f)), ("Conv2D", (size, size, f), conv3x3(f, f))]
    rows.append(("Conv2D", (size, size, classes), conv1x1(base, classes)))
    return rows


def test_unet_total_worked_out_by_hand():
    """The paper's network (base 64, one input channel, two classes), level by level."""
    contracting = [
        conv3x3(1, 64) + conv3x3(64, 64),        # 640 + 36,928
        conv3x3(64, 128) + conv3x3(128, 128),    # 73,856 + 147,584
        conv3x3(128, 256) + conv3x3(256, 256),   # 295,168 + 590,080
        conv3x3(256, 512) + conv3x3(512, 512),   # 1,180,160 + 2,359,808
    ]
    bottom = conv3x3(512, 1024) + conv3x3(1024, 1024)  # 4,719,616 + 9,438,208
    expansive = [
        up_conv(1024, 512) + conv3x3(1024, 512) + conv3x3(512, 512),  # 2,097,664 + 4,719,104 + 2,359,808
        up_conv(512, 256) + conv3x3(512, 256) + conv3x3(256, 256),    # 524,544 + 1,179,904 + 590,080
        up_conv(256, 128) + conv3x3(256, 128) + conv3x3(128, 128),    # 131,200 + 295,040 + 147,584
        up_conv(128, 64) + conv3x3(128, 64) + conv3x3(64, 64),        # 32,832 + 73,792 + 36,928
    ]
    final = conv1x1(64, 2)  # 130
    assert contracting == [37_568, 221_440, 885_248, 3_539_968]
    assert bottom == 14_157_824
    assert expansive == [9_176_576, 2_294_528, 573_824, 143_552]
    total = sum(contracting) + bottom + sum(expansive) + final
    assert total == 31_030_658 == read_spec(str(UNET)).expect["params"]
    assert model_of(UNET).count_params() == total


@pytest.mark.parametrize("variant, values, expected", [
    (None, {}, dict(base=64, classes=2)),
    ("small", {}, dict(base=16, classes=2)),
    ("binary", {}, dict(base=64, classes=1)),
    (None, {"base": 8, "classes": 5, "size": 64}, dict(base=8, classes=5, size=64)),
])
def test_unet_matches_the_hand_derived_layers(variant, values, expected):
    model = model_of(UNET, variant, **values)
    reference = unet_signature(**expected)
    assert signature_of(model) == reference
    assert model.count_params() == sum(params for _, _, params in reference)


def test_unet_has_the_papers_23_convolutional_layers():
    """"In total the network has 23 convolutional layers" (section 2): 8 contracting, 2 at the
    bottom, 4 up-convolutions and 8 expansive, the final 1x1."""
    classes = [layer["type"] for layer in model_of(UNET).summary_data()["layers"]]
    assert (classes.count("Conv2D"), classes.count("Conv2DTranspose")) == (19, 4)


def test_unet_variant_totals():
    assert [read_spec(str(UNET), Settings(variant)).expect["params"] for variant in (None, "small", "binary")] == \
        [31_030_658, 1_940_834, 31_030_593]
    assert [sum(row[2] for row in unet_signature(base, classes)) for base, classes in ((64, 2), (16, 2), (64, 1))] \
        == [31_030_658, 1_940_834, 31_030_593]


def test_unet_skips_join_the_contracting_level_of_the_same_size():
    model = model_of(UNET)
    by_name = {node.name: node for node in model.nodes}
    sources = [model.graph.tensor_name(source) for source in by_name["up3/concatenate"].sources]
    assert sources == ["down3/conv2d_1", "up3/conv2d_transpose"]  # the copied map first, as in Fig. 1
    assert by_name["up3/concatenate"].output_shape == (None, 64, 64, 512)


def test_unet_size_must_be_a_multiple_of_16(cli):
    result = cli("check", UNET, "--set", "size=100")
    assert result.exit_code == 1
    assert "'up3/concatenate' (Concatenate) in block 'up'" in result.stdout
    assert "sizes 25 and 24 on axis 1 differ" in result.stdout


def test_unet_small_forward_pass_at_full_size():
    model = model_of(UNET, "small").init(seed=0)
    output = model.predict(random_image(model))
    assert output.shape == (1, 256, 256, 2) and np.isfinite(output).all()


def test_unet_forward_pass_at_full_width_on_a_small_tile():
    """The paper's widths (31 M parameters) on a 32×32 tile: the full 256×256 pass costs
    48 GMACs, too slow for the suite."""
    model = model_of(UNET, size=32).init(seed=0)
    output = model.predict(random_image(model))
    assert output.shape == (1, 32, 32, 2) and np.isfinite(output).all()
