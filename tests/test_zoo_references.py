"""Tests of the reference layer lists in tests/zoo_references.py.

Totals are the figures Keras prints for its applications (Total,
Trainable and Non-trainable params of their summaries) and keras_hub's GPT-2
presets; layer counts are len(model.layers) as counted from the application
code; per-layer values are worked out by hand in the tests.
"""

import pytest

from tests import zoo_references as zoo
from tests.zoo_references import LayerRecord


def by_name(records):
    return {record.name: record for record in records}


def assert_layer(records, name, class_name, shape, params, inputs=None):
    record = by_name(records)[name]
    assert (record.class_name, record.output_shape, record.params) == (class_name, shape, params)
    if inputs is not None:
        assert record.inputs == inputs


# --- arithmetic -----------------------------------------------------------------------------


@pytest.mark.parametrize("length, kernel, stride, padding, expected", [
    (224, 3, 2, "same", 112), (113, 3, 2, "same", 57), (7, 1, 1, "same", 7),
    (230, 7, 2, "valid", 112), (114, 3, 2, "valid", 56), (56, 2, 2, "valid", 28), (None, 3, 2, "valid", None),
])
def test_conv_output_length(length, kernel, stride, padding, expected):
    assert zoo.conv_output_length(length, kernel, stride, padding) == expected


def test_conv_output_length_rejects_an_unknown_padding():
    with pytest.raises(ValueError, match="unknown padding 'causal'"):
        zoo.conv_output_length(10, 3, 1, "causal")


def test_parameter_formulas():
    assert zoo.conv2d_params(7, 3, 64) == 7 * 7 * 3 * 64 + 64
    assert zoo.conv2d_params(1, 64, 256, use_bias=False) == 16384
    assert zoo.depthwise_conv2d_params(3, 96, use_bias=False) == 864
    assert zoo.depthwise_conv2d_params(5, 10, multiplier=2) == 5 * 5 * 20 + 20
    assert zoo.batch_norm_params(64) == (128, 128)
    assert zoo.normalization_params(3) == 7  # mean (3,), variance (3,), count ()
    assert zoo.dense_params(2048, 1000) == 2049000
    assert zoo.layer_norm_params(768) == 1536
    assert zoo.multi_head_attention_params(768, 12, 64) == 4 * 768 * 768 + 4 * 768


@pytest.mark.parametrize("value, expected", [(32, 32), (16 * 1.0, 16), (32 * 0.35, 16), (1280 * 1.4, 1792), (20, 24)])
def test_make_divisible(value, expected):
    # 11.2 rounds to 8, more than 10% below, so up to 16; 20 rounds half up to 24.
    assert zoo.make_divisible(value) == expected


@pytest.mark.parametrize("size, kernel, expected", [
    ((112, 112), 3, ((0, 1), (0, 1))), ((113, 113), 3, ((1, 1), (1, 1))),
    ((56, 56), 5, ((1, 2), (1, 2))), ((None, None), 3, ((0, 1), (0, 1))),
])
def test_correct_pad(size, kernel, expected):
    assert zoo.correct_pad(size, kernel) == expected


@pytest.mark.parametrize("class_name, expected", [
    ("InputLayer", "input_layer"), ("ZeroPadding2D", "zero_padding2d"),
    ("GlobalAveragePooling2D", "global_average_pooling2d"), ("Rescaling", "rescaling"),
])
def test_to_snake_case(class_name, expected):
    assert zoo.to_snake_case(class_name) == expected


def test_network_numbers_auto_names_per_class_and_rejects_duplicates():
    net = zoo.Network()
    x = net.input((8, 8, 3))
    x = net.zero_padding2d(x, ((1, 1), (1, 1)))
    x = net.zero_padding2d(x, ((0, 1), (0, 1)))
    assert [r.name for r in net.records] == ["input_layer", "zero_padding2d", "zero_padding2d_1"]
    assert net.shape(x) == (11, 11, 3)
    with pytest.raises(ValueError, match="duplicate layer name 'zero_padding2d'"):
        net.rescaling(x, name="zero_padding2d")


def test_network_rejects_mismatched_merges():
    net = zoo.Network()
    a = net.input((4, 4, 3), name="a")
    b = net.input((4, 5, 3), name="b")
    with pytest.raises(ValueError, match="Add of different shapes"):
        net.add([a, b])
    with pytest.raises(ValueError, match=r"Concatenate of mismatched shapes \[\(4, 4, 3\), \(4, 5, 3\)\]"):
        net.concatenate([a, b])
    with pytest.raises(ValueError, match=r"cannot reshape \(4, 4, 3\) to \(1, 1, 47\)"):
        net.reshape(a, (1, 1, 47))


# --- the four applications: totals, counts, final shapes -----------------------------------

APPLICATIONS = {
    # builder: (total, trainable, non-trainable, len(model.layers)) as Keras reports them.
    "resnet50": (zoo.resnet50, 25_636_712, 25_583_592, 53_120, 177),
    "mobilenet_v2": (zoo.mobilenet_v2, 3_538_984, 3_504_872, 34_112, 156),
    "efficientnet_b0": (zoo.efficientnet_b0, 5_330_571, 5_288_548, 42_023, 241),
    "densenet121": (zoo.densenet121, 8_062_504, 7_978_856, 83_648, 429),
}


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_application_totals_and_layer_count(name):
    build, total, trainable, non_trainable, count = APPLICATIONS[name]
    records = build()
    assert zoo.total_params(records) == total
    assert zoo.trainable_params(records) == trainable
    assert zoo.non_trainable_params(records) == non_trainable
    assert len(records) == count


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_application_input_and_output(name):
    records = APPLICATIONS[name][0]()
    first, last = records[0], records[-1]
    assert (first.class_name, first.name, first.output_shape) == ("InputLayer", "input_layer", (224, 224, 3))
    assert (last.class_name, last.name, last.output_shape) == ("Dense", "predictions", (1000,))


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_application_is_well_formed(name):
    records = APPLICATIONS[name][0]()
    seen = set()
    for record in records:
        assert record.name not in seen
        assert set(record.inputs) <= seen, f"{record.name} is fed by a later layer"
        assert bool(record.inputs) == (record.class_name != "InputLayer")
        seen.add(record.name)


def block_params(records, prefix):
    return sum(r.params for r in records if r.name.startswith(prefix))


def test_resnet50_block_sums():
    records = zoo.resnet50()
    # conv4 identity block: convs 1024*256+256, 9*256*256+256, 256*1024+1024; BNs 4*(256+256+1024).
    assert block_params(records, "conv4_block2_") == 262400 + 590080 + 263168 + 6144
    # conv5 first block adds the projection 1024*2048+2048 and its BN 4*2048.
    assert block_params(records, "conv5_block1_") == (
        1024 * 512 + 512 + 9 * 512 * 512 + 512 + 512 * 2048 + 2048 + 4 * (512 + 512 + 2048)
        + 1024 * 2048 + 2048 + 4 * 2048)


# --- spot checks by hand ---------------------------------------------------------------------


def test_resnet50_layers():
    records = zoo.resnet50()
    assert_layer(records, "conv1_pad", "ZeroPadding2D", (230, 230, 3), 0)
    assert_layer(records, "conv1_conv", "Conv2D", (112, 112, 64), 7 * 7 * 3 * 64 + 64)
    assert_layer(records, "conv1_bn", "BatchNormalization", (112, 112, 64), 256)
    assert_layer(records, "pool1_pad", "ZeroPadding2D", (114, 114, 64), 0)
    assert_layer(records, "pool1_pool", "MaxPooling2D", (56, 56, 64), 0)
    assert_layer(records, "conv2_block1_0_conv", "Conv2D", (56, 56, 256), 64 * 256 + 256, ("pool1_pool",))
    assert_layer(records, "conv2_block1_2_conv", "Conv2D", (56, 56, 64), 9 * 64 * 64 + 64)
    assert_layer(records, "conv2_block1_add", "Add", (56, 56, 256), 0, ("conv2_block1_0_bn", "conv2_block1_3_bn"))
    assert_layer(records, "conv3_block1_1_conv", "Conv2D", (28, 28, 128), 256 * 128 + 128)
    assert_layer(records, "conv4_block1_0_conv", "Conv2D", (14, 14, 1024), 512 * 1024 + 1024)
    assert_layer(records, "conv5_block3_out", "Activation", (7, 7, 2048), 0)
    assert_layer(records, "avg_pool", "GlobalAveragePooling2D", (2048,), 0)
    assert_layer(records, "predictions", "Dense", (1000,), 2048 * 1000 + 1000, ("avg_pool",))
    bn = by_name(records)["conv1_bn"]
    assert (bn.trainable_params, bn.non_trainable_params) == (128, 128)


def test_mobilenet_v2_layers():
    records = zoo.mobilenet_v2()
    assert_layer(records, "Conv1", "Conv2D", (112, 112, 32), 3 * 3 * 3 * 32)
    assert_layer(records, "Conv1_relu", "ReLU", (112, 112, 32), 0)
    assert_layer(records, "expanded_conv_depthwise", "DepthwiseConv2D", (112, 112, 32), 9 * 32)
    assert_layer(records, "expanded_conv_project", "Conv2D", (112, 112, 16), 32 * 16)
    assert_layer(records, "block_1_expand", "Conv2D", (112, 112, 96), 16 * 96)
    assert_layer(records, "block_1_pad", "ZeroPadding2D", (113, 113, 96), 0)
    assert_layer(records, "block_1_depthwise", "DepthwiseConv2D", (56, 56, 96), 9 * 96)
    assert_layer(records, "block_2_add", "Add", (56, 56, 24), 0, ("block_1_project_BN", "block_2_project_BN"))
    assert_layer(records, "block_13_pad", "ZeroPadding2D", (15, 15, 576), 0)
    assert_layer(records, "block_16_project", "Conv2D", (7, 7, 320), 960 * 320)
    assert_layer(records, "Conv_1", "Conv2D", (7, 7, 1280), 320 * 1280)
    assert_layer(records, "global_average_pooling2d", "GlobalAveragePooling2D", (1280,), 0)
    assert_layer(records, "predictions", "Dense", (1000,), 1280 * 1000 + 1000)
    names = set(by_name(records))
    assert "expanded_conv_add" not in names and "block_1_add" not in names and "block_16_add" not in names
    assert sum(r.class_name == "Add" for r in records) == 10


def test_mobilenet_v2_alpha_scales_the_widths():
    records = zoo.mobilenet_v2(alpha=0.35)
    # first conv: make_divisible(11.2) = 16; last conv stays 1280 below alpha 1.
    assert by_name(records)["Conv1"].output_shape == (112, 112, 16)
    assert by_name(records)["Conv_1"].output_shape == (7, 7, 1280)


def test_efficientnet_b0_stem_with_imagenet_preprocessing():
    records = zoo.efficientnet_b0()
    assert [(r.class_name, r.name) for r in records[:6]] == [
        ("InputLayer", "input_layer"), ("Rescaling", "rescaling"), ("Normalization", "normalization"),
        ("Rescaling", "rescaling_1"), ("ZeroPadding2D", "stem_conv_pad"), ("Conv2D", "stem_conv")]
    normalization = by_name(records)["normalization"]
    assert (normalization.trainable_params, normalization.non_trainable_params) == (0, 7)
    assert_layer(records, "stem_conv_pad", "ZeroPadding2D", (225, 225, 3), 0)
    assert_layer(records, "stem_conv", "Conv2D", (112, 112, 32), 27 * 32)


def test_efficientnet_b0_without_imagenet_weights_has_one_rescaling():
    records = zoo.efficientnet_b0(imagenet_weights=False)
    assert len(records) == 240
    assert zoo.total_params(records) == 5_330_571
    assert [r.name for r in records[:4]] == ["input_layer", "rescaling", "normalization", "stem_conv_pad"]


def test_efficientnet_b0_layers():
    records = zoo.efficientnet_b0()
    assert_layer(records, "block1a_se_squeeze", "GlobalAveragePooling2D", (32,), 0)
    assert_layer(records, "block1a_se_reshape", "Reshape", (1, 1, 32), 0)
    assert_layer(records, "block1a_se_reduce", "Conv2D", (1, 1, 8), 32 * 8 + 8)
    assert_layer(records, "block1a_se_expand", "Conv2D", (1, 1, 32), 8 * 32 + 32)
    assert_layer(records, "block1a_se_excite", "Multiply", (112, 112, 32), 0,
                 ("block1a_activation", "block1a_se_expand"))
    assert_layer(records, "block2a_dwconv_pad", "ZeroPadding2D", (113, 113, 96), 0)
    assert_layer(records, "block2a_dwconv", "DepthwiseConv2D", (56, 56, 96), 9 * 96)
    assert_layer(records, "block3a_dwconv_pad", "ZeroPadding2D", (59, 59, 144), 0)
    assert_layer(records, "block3a_dwconv", "DepthwiseConv2D", (28, 28, 144), 25 * 144)
    assert_layer(records, "block2b_add", "Add", (56, 56, 24), 0, ("block2b_drop", "block2a_project_bn"))
    assert_layer(records, "block6d_se_reduce", "Conv2D", (1, 1, 48), 1152 * 48 + 48)
    assert_layer(records, "block7a_project_conv", "Conv2D", (7, 7, 320), 1152 * 320)
    assert_layer(records, "top_conv", "Conv2D", (7, 7, 1280), 320 * 1280)
    assert_layer(records, "top_dropout", "Dropout", (1280,), 0)
    names = set(by_name(records))
    assert "block1a_drop" not in names and "block2a_add" not in names
    assert sum(r.class_name == "Dropout" for r in records) == 10  # 9 block drops + top_dropout
    assert [r.name for r in records if r.name.endswith("_project_bn")][-1] == "block7a_project_bn"
    assert len({r.name.split("_")[0] for r in records if r.name.startswith("block")}) == 16


def test_densenet121_layers():
    records = zoo.densenet121()
    assert_layer(records, "zero_padding2d", "ZeroPadding2D", (230, 230, 3), 0, ("input_layer",))
    assert_layer(records, "conv1_conv", "Conv2D", (112, 112, 64), 7 * 7 * 3 * 64)
    assert_layer(records, "zero_padding2d_1", "ZeroPadding2D", (114, 114, 64), 0)
    assert_layer(records, "pool1", "MaxPooling2D", (56, 56, 64), 0)
    assert_layer(records, "conv2_block1_1_conv", "Conv2D", (56, 56, 128), 64 * 128)
    assert_layer(records, "conv2_block1_2_conv", "Conv2D", (56, 56, 32), 9 * 128 * 32)
    assert_layer(records, "conv2_block1_concat", "Concatenate", (56, 56, 96), 0, ("pool1", "conv2_block1_2_conv"))
    assert_layer(records, "conv2_block6_concat", "Concatenate", (56, 56, 256), 0)
    assert_layer(records, "pool2_conv", "Conv2D", (56, 56, 128), 256 * 128)
    assert_layer(records, "pool2_pool", "AveragePooling2D", (28, 28, 128), 0)
    assert_layer(records, "pool3_conv", "Conv2D", (28, 28, 256), 512 * 256)
    assert_layer(records, "pool4_pool", "AveragePooling2D", (7, 7, 512), 0)
    assert_layer(records, "conv5_block16_concat", "Concatenate", (7, 7, 1024), 0)
    assert_layer(records, "bn", "BatchNormalization", (7, 7, 1024), 4 * 1024)
    assert_layer(records, "predictions", "Dense", (1000,), 1024 * 1000 + 1000)


# --- GPT-2 -----------------------------------------------------------------------------------

GPT2 = {
    # size: (total, one block = 12d² + 13d, d)
    "small": (124_439_808, 12 * 768**2 + 13 * 768, 768),
    "medium": (354_823_168, 12 * 1024**2 + 13 * 1024, 1024),
    "large": (774_030_080, 12 * 1280**2 + 13 * 1280, 1280),
}


@pytest.mark.parametrize("size", sorted(GPT2))
def test_gpt2_totals(size):
    total, block, d = GPT2[size]
    assert zoo.gpt2_block_params(size) == block
    assert zoo.gpt2_total_params(size) == total
    assert zoo.total_params(zoo.gpt2_backbone(size)) == total
    assert zoo.total_params(zoo.gpt2_layers(size, 8)) == total
    assert zoo.non_trainable_params(zoo.gpt2_layers(size, 8)) == 0


def test_gpt2_block_values():
    assert [zoo.gpt2_block_params(size) for size in ("small", "medium", "large")] == [7_087_872, 12_596_224, 19_677_440]


@pytest.mark.parametrize("size, layers, backbone_layers", [("small", 114, 19), ("medium", 222, 31), ("large", 330, 43)])
def test_gpt2_layer_counts(size, layers, backbone_layers):
    # expanded: input, 4 embedding layers, 9 per block, final LayerNorm; backbone: 2 inputs + 4 + N + 1.
    assert len(zoo.gpt2_layers(size)) == layers
    assert len(zoo.gpt2_backbone(size)) == backbone_layers


def test_gpt2_backbone_layers():
    records = zoo.gpt2_backbone("small")
    assert [(r.class_name, r.name) for r in records[:6]] == [
        ("InputLayer", "token_ids"), ("InputLayer", "padding_mask"),
        ("ReversibleEmbedding", "token_embedding"), ("PositionEmbedding", "position_embedding"),
        ("Add", "embeddings_add"), ("Dropout", "embeddings_dropout")]
    assert_layer(records, "token_ids", "InputLayer", (None,), 0)
    assert_layer(records, "token_embedding", "ReversibleEmbedding", (None, 768), 50257 * 768)
    assert_layer(records, "position_embedding", "PositionEmbedding", (None, 768), 1024 * 768)
    assert_layer(records, "transformer_layer_11", "TransformerDecoder", (None, 768), 7_087_872,
                 ("transformer_layer_10", "padding_mask"))
    assert_layer(records, "layer_norm", "LayerNormalization", (None, 768), 1536)


def test_gpt2_expanded_block():
    records = zoo.gpt2_layers("small", 16)
    block = [r for r in records if r.name.startswith("transformer_layer_3/")]
    d = 768
    assert [(r.class_name, r.name.split("/")[1], r.output_shape, r.params) for r in block] == [
        ("LayerNormalization", "self_attention_layer_norm", (16, d), 2 * d),
        ("MultiHeadAttention", "self_attention", (16, d), 4 * (d * d + d)),
        ("Dropout", "self_attention_dropout", (16, d), 0),
        ("Add", "add", (16, d), 0),
        ("LayerNormalization", "feedforward_layer_norm", (16, d), 2 * d),
        ("Dense", "feedforward_intermediate_dense", (16, 4 * d), d * 4 * d + 4 * d),
        ("Dense", "feedforward_output_dense", (16, d), 4 * d * d + d),
        ("Dropout", "feedforward_dropout", (16, d), 0),
        ("Add", "add_1", (16, d), 0),
    ]
    assert block[3].inputs == ("transformer_layer_3/self_attention_dropout", "transformer_layer_2/add_1")
    assert block[-1].inputs == ("transformer_layer_3/feedforward_dropout", "transformer_layer_3/add")
    assert block[1].inputs == ("transformer_layer_3/self_attention_layer_norm",) * 2


def test_gpt2_expanded_ends():
    records = zoo.gpt2_layers("medium", 1024)
    assert [(r.class_name, r.name, r.output_shape) for r in records[:5]] == [
        ("InputLayer", "token_ids", (1024,)), ("Embedding", "token_embedding", (1024, 1024)),
        ("PositionEmbedding", "position_embedding", (1024, 1024)), ("Add", "embeddings_add", (1024, 1024)),
        ("Dropout", "embeddings_dropout", (1024, 1024))]
    assert (records[-1].name, records[-1].output_shape, records[-1].inputs) == (
        "layer_norm", (1024, 1024), ("transformer_layer_23/add_1",))


@pytest.mark.parametrize("length", [0, 1025])
def test_gpt2_rejects_a_sequence_longer_than_its_position_table(length):
    with pytest.raises(ValueError, match=f"sequence_length {length} is outside 1..1024"):
        zoo.gpt2_layers("small", length)


def test_gpt2_rejects_an_unknown_size():
    with pytest.raises(ValueError, match=r"unknown GPT-2 size 'xl'; expected one of \['large', 'medium', 'small'\]"):
        zoo.gpt2_total_params("xl")


# --- Keras's model.layers order ---------------------------------------------------------------


def record(name, *inputs, class_name="Dense"):
    return LayerRecord(class_name, name, (1,), inputs=tuple(inputs))


def test_keras_model_order_sorts_by_depth_then_walk_order():
    # in → a → b ┐
    # in → c ────┴ add([c, b]): the walk from add meets c (index 1), in, b (3), a; c and b are both
    # one step from the output, so c (walked first) precedes b although b was created first.
    records = [record("in", class_name="InputLayer"), record("a", "in"), record("b", "a"),
               record("c", "in"), record("add", "c", "b")]
    assert [r.name for r in zoo.keras_model_order(records)] == ["in", "a", "c", "b", "add"]


def test_keras_model_order_of_a_chain_is_the_chain():
    records = [record("in", class_name="InputLayer"), record("a", "in"), record("b", "a")]
    assert zoo.keras_model_order(records) == records


def test_keras_model_order_of_resnet50_puts_the_shortcut_after_the_main_branch():
    # As Keras's ResNet50 summary lists conv2_block1.
    order = [r.name for r in zoo.keras_model_order(zoo.resnet50())]
    start = order.index("conv2_block1_1_conv")
    assert order[start - 1] == "pool1_pool"
    assert order[start:start + 12] == [
        "conv2_block1_1_conv", "conv2_block1_1_bn", "conv2_block1_1_relu",
        "conv2_block1_2_conv", "conv2_block1_2_bn", "conv2_block1_2_relu",
        "conv2_block1_0_conv", "conv2_block1_3_conv", "conv2_block1_0_bn", "conv2_block1_3_bn",
        "conv2_block1_add", "conv2_block1_out"]
    assert order[0] == "input_layer" and order[-2:] == ["avg_pool", "predictions"]


def test_keras_model_order_of_gpt2_puts_the_padding_mask_after_the_embeddings():
    order = [r.name for r in zoo.keras_model_order(zoo.gpt2_backbone("small"))]
    assert order[:8] == ["token_ids", "token_embedding", "position_embedding", "embeddings_add",
                         "embeddings_dropout", "padding_mask", "transformer_layer_0", "transformer_layer_1"]
    assert order[-1] == "layer_norm"


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_keras_model_order_is_a_topological_permutation(name):
    records = APPLICATIONS[name][0]()
    ordered = zoo.keras_model_order(records)
    assert sorted(r.name for r in ordered) == sorted(r.name for r in records)
    position = {r.name: i for i, r in enumerate(ordered)}
    assert all(position[parent] < position[r.name] for r in ordered for parent in r.inputs)
    assert ordered[0].class_name == "InputLayer"


def test_keras_model_order_of_densenet121_starts_like_its_summary():
    order = [r.name for r in zoo.keras_model_order(zoo.densenet121())]
    assert order[:9] == ["input_layer", "zero_padding2d", "conv1_conv", "conv1_bn", "conv1_relu",
                         "zero_padding2d_1", "pool1", "conv2_block1_0_bn", "conv2_block1_0_relu"]


# --- signatures -------------------------------------------------------------------------------


def test_signature():
    records = zoo.resnet50()
    sig = zoo.signature(records)
    assert sig[0] == ("InputLayer", (224, 224, 3), 0)
    assert sig[-1] == ("Dense", (1000,), 2049000)
    assert len(sig) == 177


def test_signature_from_a_sequential_summary():
    summary = {"input_shape": [None, 784],
               "layers": [{"name": "dense", "type": "Dense", "output_shape": [None, 10], "params": 7850}]}
    assert zoo.signature_from_summary(summary) == [("InputLayer", (784,), 0), ("Dense", (10,), 7850)]


def test_signature_from_a_graph_summary_lists_every_input_first():
    summary = {"inputs": {"token_ids": [None, 16], "mask": [None, 16]},
               "layers": [{"name": "e", "type": "Embedding", "output_shape": [None, 16, 4], "params": 40}]}
    assert zoo.signature_from_summary(summary) == [
        ("InputLayer", (16,), 0), ("InputLayer", (16,), 0), ("Embedding", (16, 4), 40)]


def test_signature_matches_a_summary_built_from_the_records():
    # The round trip a zoo test performs, on a summary shaped as DESIGN.md §3 describes.
    records = zoo.mobilenet_v2()
    summary = {"input_shape": [None, 224, 224, 3],
               "layers": [{"type": r.class_name, "output_shape": [None, *r.output_shape], "params": r.params}
                          for r in records[1:]]}
    assert zoo.signature_from_summary(summary) == zoo.signature(records)
