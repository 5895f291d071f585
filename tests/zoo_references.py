"""Reference layer lists of classic architectures, for testing the zoo specs (a test utility).

Each builder walks an architecture exactly as its Keras 3.15.1 source builds it
and returns one :class:`LayerRecord` per Keras layer: class name, Keras layer
name, output shape per sample (batch axis left out), trainable and
non-trainable parameter counts, and the names of the layers feeding it.

- :func:`resnet50`, :func:`mobilenet_v2`, :func:`efficientnet_b0`,
  :func:`densenet121` follow ``keras/src/applications/{resnet,mobilenet_v2,
  efficientnet,densenet}.py`` (tag v3.15.1) with ``include_top=True``,
  1000 classes, 224×224×3 input and ``weights="imagenet"`` (which, for
  EfficientNet, adds a second ``Rescaling`` after ``Normalization``).
- :func:`gpt2_backbone` follows keras_hub's ``GPT2Backbone`` (its
  ``TransformerDecoder`` is one Keras layer); :func:`gpt2_layers` is the same
  network with each decoder expanded into the plain layers it holds, which is
  how a layerspec block writes it.

Shapes and parameter counts come from the small arithmetic below (conv
output lengths, BatchNormalization's 4×C with 2×C non-trainable, ...), never
from layerspec, which is what these lists test.

Order. A builder returns its layers in *creation order*: the order the
functional code calls them, which is also the order a spec written by
following that code lists them. Keras's ``model.layers`` is a different
topological order — ``keras/src/ops/function.py:map_graph`` sorts the layers
by their longest distance to the output (farthest first) and breaks ties by
a depth-first walk from the output — so in ResNet50 ``conv2_block1_0_conv``
(the shortcut) comes after ``conv2_block1_2_relu``, and in GPT-2 the
``padding_mask`` input comes after ``embeddings_dropout``.
:func:`keras_model_order` reproduces that order from a creation-order list.

Comparing a layerspec model with a reference::

    summary = layerspec.load("specs/zoo/resnet50.yaml").summary_data()
    # or json.loads of `layerspec summary specs/zoo/resnet50.yaml --format json`
    assert signature_from_summary(summary) == signature(resnet50())

A *signature* is the sequence of ``(class name, output shape, params)`` in
order, ``InputLayer`` first (a model's inputs are rows of their own in Keras;
:func:`signature_from_summary` adds them from the summary's ``inputs`` /
``input_shape``, and drops the batch axis from every shape). Names are left
out on purpose: Keras's names are flat (``conv2_block1_1_conv``) while a
layerspec block names its layers by path (``conv2_block1/conv``). When the
spec does not list its layers in the builder's order, compare
``sorted(signature(...))`` or match records by name instead. Totals:
:func:`total_params`, :func:`trainable_params`, :func:`non_trainable_params`.

Names of auto-named layers (``input_layer``, ``zero_padding2d_1``,
``global_average_pooling2d``, ``rescaling_1``) are those of a fresh Keras
session: Keras numbers them with a counter global to the process.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Iterable, Sequence

Shape = tuple  # per sample: ints, or None for an unknown length


@dataclasses.dataclass(frozen=True)
class LayerRecord:
    """One Keras layer of a reference model."""

    class_name: str
    name: str
    output_shape: Shape
    trainable_params: int = 0
    non_trainable_params: int = 0
    inputs: tuple[str, ...] = ()

    @property
    def params(self) -> int:
        """All parameters, as Keras's summary counts them."""
        return self.trainable_params + self.non_trainable_params


# --- shape and parameter arithmetic -------------------------------------------------------


def conv_output_length(length: int | None, kernel: int, stride: int, padding: str) -> int | None:
    """Output length of a convolution or pooling window along one axis (dilation 1)."""
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    if padding == "valid":
        return (length - kernel) // stride + 1
    raise ValueError(f"unknown padding {padding!r}")


def conv2d_params(kernel: int, in_channels: int, filters: int, use_bias: bool = True) -> int:
    """Parameters of a square-kernel Conv2D: kernel weights plus one bias per filter."""
    return kernel * kernel * in_channels * filters + (filters if use_bias else 0)


def depthwise_conv2d_params(kernel: int, channels: int, multiplier: int = 1, use_bias: bool = True) -> int:
    """Parameters of a square-kernel DepthwiseConv2D: one k×k filter per channel and multiplier."""
    return kernel * kernel * channels * multiplier + (channels * multiplier if use_bias else 0)


def batch_norm_params(channels: int) -> tuple[int, int]:
    """(trainable, non-trainable) of a BatchNormalization: gamma and beta train, the moving mean and variance don't."""
    return 2 * channels, 2 * channels


def normalization_params(channels: int) -> int:
    """Non-trainable parameters of an un-adapted ``Normalization(axis=-1)``: mean and
    variance per channel, plus the scalar ``count`` Keras keeps for old saved models."""
    return 2 * channels + 1


def dense_params(in_features: int, units: int, use_bias: bool = True) -> int:
    """Parameters of a Dense layer."""
    return in_features * units + (units if use_bias else 0)


def layer_norm_params(features: int) -> int:
    """Parameters of a LayerNormalization over the last axis: gamma and beta."""
    return 2 * features


def multi_head_attention_params(model_dim: int, num_heads: int, key_dim: int) -> int:
    """Parameters of a self-attention MultiHeadAttention with biases and value_dim = key_dim:
    query, key and value projections model_dim → heads×key_dim, and the output projection back."""
    projected = num_heads * key_dim
    return 3 * (model_dim * projected + projected) + projected * model_dim + model_dim


def make_divisible(value: float, divisor: int = 8) -> int:
    """The channel rounding of MobileNetV2's ``_make_divisible`` and EfficientNet's
    ``round_filters``: nearest multiple of ``divisor``, never more than 10% below ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def correct_pad(size: Sequence[int | None], kernel: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``imagenet_utils.correct_pad``: the zero padding before a stride-2 'valid' convolution
    that makes it match TensorFlow's 'same' (one less on top/left for an even size)."""
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    half = kernel // 2
    return (half - adjust[0], half), (half - adjust[1], half)


def to_snake_case(class_name: str) -> str:
    """Keras's auto-name stem of a class: ``ZeroPadding2D`` → ``zero_padding2d``."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# --- a recorder of functional-API calls ---------------------------------------------------


class Network:
    """Records layers as Keras functional code creates them.

    A tensor is the name of the layer that produced it; each method computes
    its layer's output shape and parameters from the shapes of its inputs,
    and takes Keras's default name when ``name`` is None.
    """

    def __init__(self):
        self.records: list[LayerRecord] = []
        self._by_name: dict[str, LayerRecord] = {}
        self._auto_name_uses: dict[str, int] = {}

    def shape(self, tensor: str) -> Shape:
        """The per-sample shape of a tensor."""
        return self._by_name[tensor].output_shape

    def channels(self, tensor: str) -> int:
        """The last axis of a tensor."""
        return self.shape(tensor)[-1]

    def _auto_name(self, class_name: str) -> str:
        stem = to_snake_case(class_name)
        uses = self._auto_name_uses.get(stem, 0)
        self._auto_name_uses[stem] = uses + 1
        return stem if uses == 0 else f"{stem}_{uses}"

    def layer(self, class_name: str, name: str | None, inputs: Iterable[str], shape: Shape,
              trainable: int = 0, non_trainable: int = 0) -> str:
        """Records one layer and returns its output tensor."""
        name = name or self._auto_name(class_name)
        if name in self._by_name:
            raise ValueError(f"duplicate layer name {name!r}")
        record = LayerRecord(class_name, name, tuple(shape), trainable, non_trainable, tuple(inputs))
        self.records.append(record)
        self._by_name[name] = record
        return name

    # Layers, with Keras's argument names and defaults.

    def input(self, shape: Shape, name: str | None = None) -> str:
        return self.layer("InputLayer", name, (), shape)

    def conv2d(self, x: str, filters: int, kernel: int, *, strides: int = 1, padding: str = "valid",
               use_bias: bool = True, name: str | None = None) -> str:
        rows, cols, channels = self.shape(x)
        shape = (conv_output_length(rows, kernel, strides, padding),
                 conv_output_length(cols, kernel, strides, padding), filters)
        return self.layer("Conv2D", name, [x], shape, conv2d_params(kernel, channels, filters, use_bias))

    def depthwise_conv2d(self, x: str, kernel: int, *, strides: int = 1, padding: str = "valid",
                         use_bias: bool = True, name: str | None = None) -> str:
        rows, cols, channels = self.shape(x)
        shape = (conv_output_length(rows, kernel, strides, padding),
                 conv_output_length(cols, kernel, strides, padding), channels)
        return self.layer("DepthwiseConv2D", name, [x], shape,
                          depthwise_conv2d_params(kernel, channels, use_bias=use_bias))

    def batch_normalization(self, x: str, name: str | None = None) -> str:
        trainable, non_trainable = batch_norm_params(self.channels(x))
        return self.layer("BatchNormalization", name, [x], self.shape(x), trainable, non_trainable)

    def activation(self, x: str, name: str | None = None) -> str:
        return self.layer("Activation", name, [x], self.shape(x))

    def relu(self, x: str, name: str | None = None) -> str:
        return self.layer("ReLU", name, [x], self.shape(x))

    def zero_padding2d(self, x: str, padding: tuple[tuple[int, int], tuple[int, int]],
                       name: str | None = None) -> str:
        rows, cols, channels = self.shape(x)
        (top, bottom), (left, right) = padding
        return self.layer("ZeroPadding2D", name, [x], (rows + top + bottom, cols + left + right, channels))

    def _pooling2d(self, class_name: str, x: str, pool: int, strides: int, name: str | None) -> str:
        rows, cols, channels = self.shape(x)
        shape = (conv_output_length(rows, pool, strides, "valid"),
                 conv_output_length(cols, pool, strides, "valid"), channels)
        return self.layer(class_name, name, [x], shape)

    def max_pooling2d(self, x: str, pool: int, strides: int, name: str | None = None) -> str:
        return self._pooling2d("MaxPooling2D", x, pool, strides, name)

    def average_pooling2d(self, x: str, pool: int, strides: int, name: str | None = None) -> str:
        return self._pooling2d("AveragePooling2D", x, pool, strides, name)

    def global_average_pooling2d(self, x: str, name: str | None = None) -> str:
        return self.layer("GlobalAveragePooling2D", name, [x], (self.channels(x),))

    def dense(self, x: str, units: int, name: str | None = None, use_bias: bool = True) -> str:
        shape = self.shape(x)[:-1] + (units,)
        return self.layer("Dense", name, [x], shape, dense_params(self.channels(x), units, use_bias))

    def _same_shape_merge(self, class_name: str, xs: Sequence[str], name: str | None) -> str:
        shapes = {self.shape(x) for x in xs}
        if len(shapes) != 1:
            raise ValueError(f"{class_name} of different shapes {sorted(map(str, shapes))}")
        return self.layer(class_name, name, xs, self.shape(xs[0]))

    def add(self, xs: Sequence[str], name: str | None = None) -> str:
        return self._same_shape_merge("Add", xs, name)

    def multiply(self, xs: Sequence[str], name: str | None = None) -> str:
        """Multiply of a map and a (1, 1, C) gate: Keras broadcasts, the output has the map's shape."""
        return self.layer("Multiply", name, xs, self.shape(xs[0]))

    def concatenate(self, xs: Sequence[str], name: str | None = None) -> str:
        leading = {self.shape(x)[:-1] for x in xs}
        if len(leading) != 1:
            raise ValueError(f"Concatenate of mismatched shapes {[self.shape(x) for x in xs]}")
        channels = sum(self.channels(x) for x in xs)
        return self.layer("Concatenate", name, xs, self.shape(xs[0])[:-1] + (channels,))

    def reshape(self, x: str, target: Shape, name: str | None = None) -> str:
        if math.prod(target) != math.prod(self.shape(x)):
            raise ValueError(f"cannot reshape {self.shape(x)} to {target}")
        return self.layer("Reshape", name, [x], target)

    def dropout(self, x: str, name: str | None = None) -> str:
        return self.layer("Dropout", name, [x], self.shape(x))

    def rescaling(self, x: str, name: str | None = None) -> str:
        return self.layer("Rescaling", name, [x], self.shape(x))

    def normalization(self, x: str, name: str | None = None) -> str:
        return self.layer("Normalization", name, [x], self.shape(x),
                          non_trainable=normalization_params(self.channels(x)))

    def layer_normalization(self, x: str, name: str | None = None) -> str:
        return self.layer("LayerNormalization", name, [x], self.shape(x), layer_norm_params(self.channels(x)))


# --- ResNet50 (keras/src/applications/resnet.py) ------------------------------------------


def _resnet_v1_block(net: Network, x: str, filters: int, stride: int, conv_shortcut: bool, name: str) -> str:
    """``residual_block_v1``: 1×1 → 3×3 → 1×1 (×4) bottleneck, a projection shortcut on the first block."""
    if conv_shortcut:
        shortcut = net.conv2d(x, 4 * filters, 1, strides=stride, name=f"{name}_0_conv")
        shortcut = net.batch_normalization(shortcut, name=f"{name}_0_bn")
    else:
        shortcut = x
    x = net.conv2d(x, filters, 1, strides=stride, name=f"{name}_1_conv")
    x = net.batch_normalization(x, name=f"{name}_1_bn")
    x = net.activation(x, name=f"{name}_1_relu")
    x = net.conv2d(x, filters, 3, padding="same", name=f"{name}_2_conv")
    x = net.batch_normalization(x, name=f"{name}_2_bn")
    x = net.activation(x, name=f"{name}_2_relu")
    x = net.conv2d(x, 4 * filters, 1, name=f"{name}_3_conv")
    x = net.batch_normalization(x, name=f"{name}_3_bn")
    x = net.add([shortcut, x], name=f"{name}_add")
    return net.activation(x, name=f"{name}_out")


def _resnet_v1_stack(net: Network, x: str, filters: int, blocks: int, stride1: int, name: str) -> str:
    """``stack_residual_blocks_v1``."""
    x = _resnet_v1_block(net, x, filters, stride1, True, f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _resnet_v1_block(net, x, filters, 1, False, f"{name}_block{i}")
    return x


def resnet50(input_shape: Shape = (224, 224, 3), classes: int = 1000,
             stage_blocks: tuple = (3, 4, 6, 3)) -> list[LayerRecord]:
    """``keras.applications.ResNet50(include_top=True)``, layers in creation order;
    ``stage_blocks`` (3, 4, 23, 3) is ResNet101's, (3, 8, 36, 3) ResNet152's."""
    net = Network()
    x = net.input(input_shape)
    x = net.zero_padding2d(x, ((3, 3), (3, 3)), name="conv1_pad")
    x = net.conv2d(x, 64, 7, strides=2, name="conv1_conv")
    x = net.batch_normalization(x, name="conv1_bn")
    x = net.activation(x, name="conv1_relu")
    x = net.zero_padding2d(x, ((1, 1), (1, 1)), name="pool1_pad")
    x = net.max_pooling2d(x, 3, 2, name="pool1_pool")
    for filters, blocks, stride1, name in zip((64, 128, 256, 512), stage_blocks, (1, 2, 2, 2),
                                              ("conv2", "conv3", "conv4", "conv5")):
        x = _resnet_v1_stack(net, x, filters, blocks, stride1, name)
    x = net.global_average_pooling2d(x, name="avg_pool")
    net.dense(x, classes, name="predictions")
    return net.records


# --- MobileNetV2 (keras/src/applications/mobilenet_v2.py) ---------------------------------

# (filters, stride, expansion) of blocks 0..16, as MobileNetV2() calls _inverted_res_block.
MOBILENET_V2_BLOCKS = (
    (16, 1, 1),
    (24, 2, 6), (24, 1, 6),
    (32, 2, 6), (32, 1, 6), (32, 1, 6),
    (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6),
    (96, 1, 6), (96, 1, 6), (96, 1, 6),
    (160, 2, 6), (160, 1, 6), (160, 1, 6),
    (320, 1, 6),
)


def _inverted_res_block(net: Network, inputs: str, expansion: int, stride: int, alpha: float,
                        filters: int, block_id: int) -> str:
    """``_inverted_res_block``: expand 1×1, depthwise 3×3, project 1×1, identity add when shapes allow."""
    in_channels = net.channels(inputs)
    pointwise_filters = make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = net.conv2d(x, expansion * in_channels, 1, padding="same", use_bias=False, name=f"{prefix}expand")
        x = net.batch_normalization(x, name=f"{prefix}expand_BN")
        x = net.relu(x, name=f"{prefix}expand_relu")
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = net.zero_padding2d(x, correct_pad(net.shape(x), 3), name=f"{prefix}pad")
    x = net.depthwise_conv2d(x, 3, strides=stride, padding="same" if stride == 1 else "valid",
                             use_bias=False, name=f"{prefix}depthwise")
    x = net.batch_normalization(x, name=f"{prefix}depthwise_BN")
    x = net.relu(x, name=f"{prefix}depthwise_relu")
    x = net.conv2d(x, pointwise_filters, 1, padding="same", use_bias=False, name=f"{prefix}project")
    x = net.batch_normalization(x, name=f"{prefix}project_BN")
    if in_channels == pointwise_filters and stride == 1:
        return net.add([inputs, x], name=f"{prefix}add")
    return x


def mobilenet_v2(alpha: float = 1.0, input_shape: Shape = (224, 224, 3), classes: int = 1000) -> list[LayerRecord]:
    """``keras.applications.MobileNetV2(alpha=alpha, include_top=True)``, layers in creation order."""
    net = Network()
    x = net.input(input_shape)
    x = net.conv2d(x, make_divisible(32 * alpha, 8), 3, strides=2, padding="same", use_bias=False, name="Conv1")
    x = net.batch_normalization(x, name="bn_Conv1")
    x = net.relu(x, name="Conv1_relu")
    for block_id, (filters, stride, expansion) in enumerate(MOBILENET_V2_BLOCKS):
        x = _inverted_res_block(net, x, expansion, stride, alpha, filters, block_id)
    last_filters = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = net.conv2d(x, last_filters, 1, use_bias=False, name="Conv_1")
    x = net.batch_normalization(x, name="Conv_1_bn")
    x = net.relu(x, name="out_relu")
    x = net.global_average_pooling2d(x)
    net.dense(x, classes, name="predictions")
    return net.records


# --- EfficientNetB0 (keras/src/applications/efficientnet.py) ------------------------------

# DEFAULT_BLOCKS_ARGS: (kernel_size, repeats, filters_in, filters_out, expand_ratio, strides);
# every stage has id_skip=True and se_ratio=0.25.
EFFICIENTNET_STAGES = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
EFFICIENTNET_SE_RATIO = 0.25
EFFICIENTNET_DROP_CONNECT_RATE = 0.2


def _efficientnet_block(net: Network, inputs: str, drop_rate: float, name: str, filters_in: int,
                        filters_out: int, kernel_size: int, strides: int, expand_ratio: int) -> str:
    """``block``: expand, depthwise, squeeze-and-excite, project, (dropout and) identity add."""
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = net.conv2d(x, filters, 1, padding="same", use_bias=False, name=f"{name}expand_conv")
        x = net.batch_normalization(x, name=f"{name}expand_bn")
        x = net.activation(x, name=f"{name}expand_activation")
    if strides == 2:
        x = net.zero_padding2d(x, correct_pad(net.shape(x), kernel_size), name=f"{name}dwconv_pad")
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = net.depthwise_conv2d(x, kernel_size, strides=strides, padding=conv_pad, use_bias=False,
                             name=f"{name}dwconv")
    x = net.batch_normalization(x, name=f"{name}bn")
    x = net.activation(x, name=f"{name}activation")
    x = _squeeze_excite(net, x, filters, max(1, int(filters_in * EFFICIENTNET_SE_RATIO)), name)
    x = net.conv2d(x, filters_out, 1, padding="same", use_bias=False, name=f"{name}project_conv")
    x = net.batch_normalization(x, name=f"{name}project_bn")
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = net.dropout(x, name=f"{name}drop")
        x = net.add([x, inputs], name=f"{name}add")
    return x


def _squeeze_excite(net: Network, x: str, filters: int, filters_se: int, name: str) -> str:
    se = net.global_average_pooling2d(x, name=f"{name}se_squeeze")
    se = net.reshape(se, (1, 1, filters), name=f"{name}se_reshape")
    se = net.conv2d(se, filters_se, 1, padding="same", name=f"{name}se_reduce")
    se = net.conv2d(se, filters, 1, padding="same", name=f"{name}se_expand")
    return net.multiply([x, se], name=f"{name}se_excite")


def efficientnet_b0(imagenet_weights: bool = True, input_shape: Shape = (224, 224, 3),
                    classes: int = 1000) -> list[LayerRecord]:
    """``keras.applications.EfficientNetB0(include_top=True)``, layers in creation order.

    ``weights="imagenet"`` (the default, ``imagenet_weights=True``) adds a second
    ``Rescaling`` (1/sqrt(stddev) per channel) after the ``Normalization``;
    ``weights=None`` does not.
    """
    net = Network()
    x = net.input(input_shape)
    x = net.rescaling(x)
    x = net.normalization(x)
    if imagenet_weights:
        x = net.rescaling(x)
    x = net.zero_padding2d(x, correct_pad(net.shape(x), 3), name="stem_conv_pad")
    x = net.conv2d(x, make_divisible(32), 3, strides=2, use_bias=False, name="stem_conv")
    x = net.batch_normalization(x, name="stem_bn")
    x = net.activation(x, name="stem_activation")
    x = _efficientnet_stages(net, x)
    x = net.conv2d(x, make_divisible(1280), 1, padding="same", use_bias=False, name="top_conv")
    x = net.batch_normalization(x, name="top_bn")
    x = net.activation(x, name="top_activation")
    x = net.global_average_pooling2d(x, name="avg_pool")
    x = net.dropout(x, name="top_dropout")  # dropout_rate 0.2 > 0
    net.dense(x, classes, name="predictions")
    return net.records


def _efficientnet_stages(net: Network, x: str) -> str:
    """The 16 blocks ``block1a_`` … ``block7a_`` (width and depth coefficients 1.0)."""
    total_blocks = sum(stage[1] for stage in EFFICIENTNET_STAGES)
    block_index = 0
    for stage, (kernel, repeats, filters_in, filters_out, expand, strides) in enumerate(EFFICIENTNET_STAGES):
        for j in range(repeats):
            if j > 0:
                strides, filters_in = 1, filters_out
            drop_rate = EFFICIENTNET_DROP_CONNECT_RATE * block_index / total_blocks
            x = _efficientnet_block(net, x, drop_rate, f"block{stage + 1}{chr(j + 97)}_", make_divisible(filters_in),
                                    make_divisible(filters_out), kernel, strides, expand)
            block_index += 1
    return x


# --- DenseNet121 (keras/src/applications/densenet.py) -------------------------------------

DENSENET121_BLOCKS = (6, 12, 24, 16)
DENSENET_GROWTH_RATE = 32


def _densenet_conv_block(net: Network, x: str, growth_rate: int, name: str) -> str:
    """``conv_block``: BN-ReLU-1×1(4k)-BN-ReLU-3×3(k), concatenated to its input."""
    x1 = net.batch_normalization(x, name=f"{name}_0_bn")
    x1 = net.activation(x1, name=f"{name}_0_relu")
    x1 = net.conv2d(x1, 4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")
    x1 = net.batch_normalization(x1, name=f"{name}_1_bn")
    x1 = net.activation(x1, name=f"{name}_1_relu")
    x1 = net.conv2d(x1, growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")
    return net.concatenate([x, x1], name=f"{name}_concat")


def _densenet_transition(net: Network, x: str, reduction: float, name: str) -> str:
    """``transition_block``: BN-ReLU-1×1 halving the channels, 2×2 average pooling."""
    x = net.batch_normalization(x, name=f"{name}_bn")
    x = net.activation(x, name=f"{name}_relu")
    x = net.conv2d(x, int(net.channels(x) * reduction), 1, use_bias=False, name=f"{name}_conv")
    return net.average_pooling2d(x, 2, 2, name=f"{name}_pool")


def densenet121(input_shape: Shape = (224, 224, 3), classes: int = 1000,
                stage_blocks: tuple = None) -> list[LayerRecord]:
    """``keras.applications.DenseNet121(include_top=True)``, layers in creation order;
    ``stage_blocks`` (6, 12, 32, 32) is DenseNet169's, (6, 12, 48, 32) DenseNet201's."""
    net = Network()
    x = net.input(input_shape)
    x = net.zero_padding2d(x, ((3, 3), (3, 3)))
    x = net.conv2d(x, 64, 7, strides=2, use_bias=False, name="conv1_conv")
    x = net.batch_normalization(x, name="conv1_bn")
    x = net.activation(x, name="conv1_relu")
    x = net.zero_padding2d(x, ((1, 1), (1, 1)))
    x = net.max_pooling2d(x, 3, 2, name="pool1")
    for stage, blocks in enumerate(stage_blocks or DENSENET121_BLOCKS, start=2):
        for i in range(blocks):
            x = _densenet_conv_block(net, x, DENSENET_GROWTH_RATE, f"conv{stage}_block{i + 1}")
        if stage < 5:
            x = _densenet_transition(net, x, 0.5, f"pool{stage}")
    x = net.batch_normalization(x, name="bn")
    x = net.activation(x, name="relu")
    x = net.global_average_pooling2d(x, name="avg_pool")
    net.dense(x, classes, name="predictions")
    return net.records


# --- GPT-2 (keras_hub GPT2Backbone) --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GPT2Size:
    """The hyper-parameters of one GPT-2 preset."""

    hidden_dim: int
    num_layers: int
    num_heads: int
    vocabulary_size: int = 50257
    max_sequence_length: int = 1024

    @property
    def intermediate_dim(self) -> int:
        return 4 * self.hidden_dim

    @property
    def key_dim(self) -> int:
        return self.hidden_dim // self.num_heads


GPT2_SIZES = {
    "small": GPT2Size(hidden_dim=768, num_layers=12, num_heads=12),
    "medium": GPT2Size(hidden_dim=1024, num_layers=24, num_heads=16),
    "large": GPT2Size(hidden_dim=1280, num_layers=36, num_heads=20),
}


def gpt2_size(size: str) -> GPT2Size:
    """The hyper-parameters of ``small``, ``medium`` or ``large``."""
    try:
        return GPT2_SIZES[size]
    except KeyError:
        raise ValueError(f"unknown GPT-2 size {size!r}; expected one of {sorted(GPT2_SIZES)}") from None


def gpt2_block_params(size: str) -> int:
    """Parameters of one pre-norm decoder block: 2 LayerNorms, causal self-attention, the 4d MLP."""
    hp = gpt2_size(size)
    d = hp.hidden_dim
    return (2 * layer_norm_params(d) + multi_head_attention_params(d, hp.num_heads, hp.key_dim)
            + dense_params(d, hp.intermediate_dim) + dense_params(hp.intermediate_dim, d))


def gpt2_total_params(size: str) -> int:
    """Parameters of a GPT2Backbone: token and position embeddings, the blocks, the final LayerNorm
    (the language-model head reuses the token embedding, so it adds none)."""
    hp = gpt2_size(size)
    embeddings = (hp.vocabulary_size + hp.max_sequence_length) * hp.hidden_dim
    return embeddings + hp.num_layers * gpt2_block_params(size) + layer_norm_params(hp.hidden_dim)


def _check_sequence_length(hp: GPT2Size, sequence_length: int | None) -> None:
    if sequence_length is not None and not 1 <= sequence_length <= hp.max_sequence_length:
        raise ValueError(f"sequence_length {sequence_length} is outside 1..{hp.max_sequence_length}")


def _gpt2_embeddings(net: Network, hp: GPT2Size, tokens: str, token_class: str) -> str:
    sequence_length = net.shape(tokens)[0]
    shape = (sequence_length, hp.hidden_dim)
    embedded = net.layer(token_class, "token_embedding", [tokens], shape, hp.vocabulary_size * hp.hidden_dim)
    positions = net.layer("PositionEmbedding", "position_embedding", [embedded], shape,
                          hp.max_sequence_length * hp.hidden_dim)
    x = net.add([embedded, positions], name="embeddings_add")
    return net.dropout(x, name="embeddings_dropout")


def gpt2_backbone(size: str = "small", sequence_length: int | None = None) -> list[LayerRecord]:
    """keras_hub ``GPT2Backbone`` as Keras sees it, in creation order: the ``token_ids`` and
    ``padding_mask`` inputs, embeddings, one ``TransformerDecoder`` layer per block (fed by the
    previous block and the padding mask), the final LayerNormalization. ``sequence_length``
    None is the backbone's own ``(None,)`` inputs."""
    hp = gpt2_size(size)
    _check_sequence_length(hp, sequence_length)
    net = Network()
    tokens = net.input((sequence_length,), name="token_ids")
    padding_mask = net.input((sequence_length,), name="padding_mask")
    x = _gpt2_embeddings(net, hp, tokens, "ReversibleEmbedding")
    for i in range(hp.num_layers):
        x = net.layer("TransformerDecoder", f"transformer_layer_{i}", [x, padding_mask], net.shape(x),
                      gpt2_block_params(size))
    net.layer_normalization(x, name="layer_norm")
    return net.records


def gpt2_layers(size: str = "small", sequence_length: int | None = 1024) -> list[LayerRecord]:
    """GPT-2 with each decoder block expanded into plain layers (a causal spec needs no padding
    mask): ``token_ids`` input, ``Embedding``, ``PositionEmbedding``, ``Add``, ``Dropout``; per
    block ``transformer_layer_i/…`` LayerNormalization, MultiHeadAttention (query = value),
    Dropout, Add (residual), LayerNormalization, Dense 4d (gelu), Dense d, Dropout, Add; then
    ``layer_norm``. Keras's own sub-layer names are kept; the two residual adds, plain tensor
    additions inside Keras's layer, are named ``add`` and ``add_1`` here."""
    hp = gpt2_size(size)
    _check_sequence_length(hp, sequence_length)
    net = Network()
    x = net.input((sequence_length,), name="token_ids")
    x = _gpt2_embeddings(net, hp, x, "Embedding")
    for i in range(hp.num_layers):
        x = _gpt2_decoder_block(net, hp, x, f"transformer_layer_{i}/")
    net.layer_normalization(x, name="layer_norm")
    return net.records


def _gpt2_decoder_block(net: Network, hp: GPT2Size, residual: str, prefix: str) -> str:
    """TransformerDecoder with ``normalize_first=True`` and no cross-attention."""
    x = net.layer_normalization(residual, name=f"{prefix}self_attention_layer_norm")
    x = net.layer("MultiHeadAttention", f"{prefix}self_attention", [x, x], net.shape(x),
                  multi_head_attention_params(hp.hidden_dim, hp.num_heads, hp.key_dim))
    x = net.dropout(x, name=f"{prefix}self_attention_dropout")
    residual = net.add([x, residual], name=f"{prefix}add")
    x = net.layer_normalization(residual, name=f"{prefix}feedforward_layer_norm")
    x = net.dense(x, hp.intermediate_dim, name=f"{prefix}feedforward_intermediate_dense")
    x = net.dense(x, hp.hidden_dim, name=f"{prefix}feedforward_output_dense")
    x = net.dropout(x, name=f"{prefix}feedforward_dropout")
    return net.add([x, residual], name=f"{prefix}add_1")


# --- totals, Keras's model order, signatures ------------------------------------------------


def total_params(records: Iterable[LayerRecord]) -> int:
    """Keras's "Total params"."""
    return sum(record.params for record in records)


def trainable_params(records: Iterable[LayerRecord]) -> int:
    """Keras's "Trainable params"."""
    return sum(record.trainable_params for record in records)


def non_trainable_params(records: Iterable[LayerRecord]) -> int:
    """Keras's "Non-trainable params"."""
    return sum(record.non_trainable_params for record in records)


def keras_model_order(records: Sequence[LayerRecord], outputs: Sequence[str] | None = None) -> list[LayerRecord]:
    """The records in the order of Keras's ``model.layers`` for a functional model with these
    ``outputs`` (default: the last record), as ``map_graph`` computes it: a depth-first walk from
    each output numbers every layer the first time it is reached and lists the layers inputs-first;
    each layer's depth is its longest distance to an output; layers go deepest first, ties in
    walk order. (No layer here is shared, so a layer is one graph node.)"""
    by_name = {record.name: record for record in records}
    outputs = list(outputs) if outputs is not None else [records[-1].name]
    walk_index, inputs_first = _depth_first_walk(by_name, outputs)
    depths: dict[str, int] = {}
    for name in reversed(inputs_first):
        depth = depths.setdefault(name, 0)
        for parent in by_name[name].inputs:
            depths[parent] = max(depth + 1, depths.get(parent, 0))
    ordered = sorted(inputs_first, key=lambda name: (-depths[name], walk_index[name]))
    return [by_name[name] for name in ordered]


def _depth_first_walk(by_name: dict[str, LayerRecord], outputs: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """``_build_map``: (pre-order index of each layer, layers in post-order i.e. inputs first).
    Iterative, as DenseNet's longest path would come close to Python's recursion limit."""
    walk_index: dict[str, int] = {}
    inputs_first: list[str] = []
    finished: set[str] = set()
    for output in outputs:
        stack = [(output, iter(by_name[output].inputs))]
        walk_index.setdefault(output, len(walk_index))
        while stack:
            name, parents = stack[-1]
            parent = next((p for p in parents if p not in finished), None)
            if parent is None:
                stack.pop()
                if name not in finished:
                    finished.add(name)
                    inputs_first.append(name)
                continue
            walk_index.setdefault(parent, len(walk_index))
            stack.append((parent, iter(by_name[parent].inputs)))
    return walk_index, inputs_first


def signature(records: Iterable[LayerRecord]) -> list[tuple[str, Shape, int]]:
    """``(class name, output shape, params)`` of each record, in order."""
    return [(record.class_name, record.output_shape, record.params) for record in records]


def signature_from_summary(summary: dict) -> list[tuple[str, Shape, int]]:
    """The same of a ``layerspec summary --format json`` object (DESIGN.md §3, §8): an
    ``InputLayer`` per model input first, then its layers; the batch axis dropped."""
    if "inputs" in summary:
        input_shapes = list(summary["inputs"].values())
    else:
        input_shapes = [summary["input_shape"]]
    rows = [("InputLayer", tuple(shape[1:]), 0) for shape in input_shapes]
    rows += [(layer["type"], tuple(layer["output_shape"][1:]), layer["params"]) for layer in summary["layers"]]
    return rows
