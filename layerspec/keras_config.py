"""Keras 3 model configs ↔ specs (docs/design.md §10).

Import (:func:`spec_from_config`) reads the model config Keras writes
(``config.json`` of a ``.keras`` archive, ``model.to_json()``, or the
``model_config`` of a Keras 2 ``.h5`` file) — Sequential and Functional
models, nested models, shared layers, bare ``keras.src.ops`` nodes — and
writes a spec that reads like a hand-written one. Nothing runs Keras: the
config is data, read key by key against the tables below.

Export (:func:`config_from_model`) writes the config Keras itself would write
for a built layerspec model: every key Keras 3.15 writes for each layer
class, with Keras's values for what layerspec leaves at its defaults, the
``build_config`` of each layer, and the functional wiring. A block
application (``residual_1/conv2d``) becomes a nested model named after it,
so Keras's variable paths are layerspec's weight keys.

Both directions read one table per Keras class (:data:`KERAS_CLASSES`): the
keys its ``get_config`` writes, in order (keras/src/layers/*, each class's
``get_config``), whether it writes a ``build_config`` (a class that overrides
``build`` and is not built in ``__init__``, layer.py ``build_wrapper`` and
``_build_at_init``) and how it is called (its ``call`` signature, for the
node arguments Keras records: layer.py ``__call__`` steps 5 and 6). A key
of a class that is no layerspec argument is in :data:`KERAS_ONLY_KEYS`,
with the values layerspec accepts and why it may leave the key out.

Import writes the spec text by building layerspec models from what it read
and asking :mod:`layerspec.writing` to write them, so the rules of a natural
spec (names left implicit, defaults omitted, ``inputs`` only where a layer
does not read the one above) are the ones ``model.to_yaml()`` follows. An
argument is omitted when layerspec's default exports to the same Keras
value (``strides`` of a pooling layer equal to its ``pool_size``,
``data_format: channels_last``, ``activation: linear``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import LayerspecError

#: The Keras version whose configs this module writes.
KERAS_VERSION = "3.15.1"


class KerasConfigError(LayerspecError):
    """A Keras model config layerspec cannot read, or a model it cannot write
    as one; the message names the layer and its place in the config."""

    code = "invalid-model"


def _refuse(message: str) -> KerasConfigError:
    """An error for what layerspec cannot take (or Keras cannot hold)."""
    return KerasConfigError(message, code="unsupported-keras")


@dataclass
class KerasLayerInfo:
    """One entry of a Keras model config's ``layers`` lists, and what the
    imported spec calls it.

    Attributes:
        keras_class: the entry's ``class_name`` (``"Dense"``; ``"InputLayer"``;
            ``"Sequential"`` for a nested model; ``"Add"`` for an operation).
        keras_name: its name in the config (``"dense_1"``, ``"stem"``).
        our_name: its name in the written spec's model: a layer's name, a
            path inside a nested model (``"sequential/dense"``), the model
            input's name for an ``InputLayer``.
        container: the nested models it sits in, outermost first, by their
            names in the spec (``()`` at the top).
        keras_module: the entry's ``module`` (``"keras.layers"``;
            ``"keras.src.ops.numpy"`` for an operation node, which has no
            weights and no group in Keras's weights file).
    """

    keras_class: str
    keras_name: str
    our_name: str
    container: tuple[str, ...] = ()
    keras_module: str = "keras.layers"


# --------------------------------------------------------------------------
# the tables


@dataclass(frozen=True)
class KerasClass:
    """What Keras 3.15 writes for one layer class and how it calls it.

    Attributes:
        keys: the keys of its ``get_config`` after ``name``, ``trainable``
            and ``dtype``, in Keras's order (keys Keras writes only when set,
            such as ``lora_rank``, left out).
        build: the ``build_config`` it writes: ``"input_shape"``,
            ``"recurrent"`` (``sequences_shape`` and initial states),
            ``"attention"`` (``query_shape``, ``value_shape``,
            ``key_shape``), or None (built at construction: none).
        call: how its call takes tensors: ``"one"``, ``"list"`` (merges,
            Attention), ``"attention"`` (query, value, key), ``"recurrent"``
            (a sequence and ``initial_state``).
        mask: whether its ``call`` takes ``mask`` (Keras then records
            ``mask: null`` in a node with one tensor argument).
        training: the default of its ``call``'s ``training`` (recorded in a
            node when not None).
        module, registered_name: how Keras names the class in a config.
    """

    keys: tuple
    build: str | None = "input_shape"
    call: str = "one"
    mask: bool = False
    training: bool | None = None
    module: str = "keras.layers"
    registered_name: str | None = None


def _k(keys: str = "", build: str | None = "input_shape", **kwargs) -> KerasClass:
    """A :class:`KerasClass` from its keys written in one string."""
    return KerasClass(tuple(keys.split()), build, **kwargs)


_CONV = ("kernel_size strides padding data_format dilation_rate groups activation use_bias kernel_initializer "
         "bias_initializer kernel_regularizer bias_regularizer activity_regularizer kernel_constraint "
         "bias_constraint")
_CONV_TRANSPOSE = ("filters kernel_size strides padding output_padding data_format dilation_rate activation use_bias "
                   "kernel_initializer bias_initializer kernel_regularizer bias_regularizer activity_regularizer "
                   "kernel_constraint bias_constraint")
_DEPTHWISE = ("depth_multiplier kernel_size strides padding data_format dilation_rate activation use_bias "
              "depthwise_initializer bias_initializer depthwise_regularizer bias_regularizer activity_regularizer "
              "depthwise_constraint bias_constraint")
_SEPARABLE = ("depth_multiplier filters kernel_size strides padding data_format dilation_rate activation use_bias "
              "depthwise_initializer pointwise_initializer bias_initializer depthwise_regularizer "
              "pointwise_regularizer bias_regularizer activity_regularizer depthwise_constraint pointwise_constraint "
              "bias_constraint")
_RNN = "return_sequences return_state go_backwards stateful unroll zero_output_for_mask"
_RNN_PENALTIES = ("kernel_regularizer recurrent_regularizer bias_regularizer activity_regularizer kernel_constraint "
                  "recurrent_constraint bias_constraint")
_CONV_LSTM = (f"{_RNN} filters kernel_size strides padding data_format dilation_rate activation recurrent_activation "
              f"use_bias kernel_initializer recurrent_initializer bias_initializer unit_forget_bias {_RNN_PENALTIES} "
              "dropout recurrent_dropout seed")
_POOLING = "pool_size padding strides data_format"
_RECURRENT = dict(build="recurrent", call="recurrent", mask=True, training=False)
_AUGMENTING = dict(training=True)  # random image layers: training defaults to True in their call

#: Every Keras class layerspec reads and writes, by ``class_name``. Read
#: from Keras 3.15.1's sources (keras/src/layers/...): each class's
#: ``get_config`` and its bases', its ``build`` and ``__init__`` (for
#: ``build_config``) and its ``call`` signature.
KERAS_CLASSES: dict[str, KerasClass] = {
    "Activation": _k("activation", None),
    "ActivityRegularization": _k("l1 l2", None),
    "Add": _k("", call="list"),
    "AdditiveAttention": _k("use_scale dropout seed", call="list", mask=True, training=False),
    "AlphaDropout": _k("rate seed noise_shape", None, training=False),
    "Attention": _k("use_scale score_mode dropout seed", call="list", mask=True, training=False),
    "Average": _k("", call="list"),
    "AveragePooling1D": _k(_POOLING, None),
    "AveragePooling2D": _k(_POOLING, None),
    "AveragePooling3D": _k(_POOLING, None),
    "BatchNormalization": _k("axis momentum epsilon center scale beta_initializer gamma_initializer "
                             "moving_mean_initializer moving_variance_initializer beta_regularizer gamma_regularizer "
                             "beta_constraint gamma_constraint synchronized renorm renorm_clipping renorm_momentum",
                             mask=True),
    "Bidirectional": _k("merge_mode layer backward_layer", build="recurrent", call="recurrent", mask=True),
    "CategoryEncoding": _k("num_tokens output_mode"),
    "CenterCrop": _k("data_format height width", **_AUGMENTING),
    "Concatenate": _k("axis", call="list"),
    "Conv1D": _k("filters " + _CONV),
    "Conv1DTranspose": _k(_CONV_TRANSPOSE),
    "Conv2D": _k("filters " + _CONV),
    "Conv2DTranspose": _k(_CONV_TRANSPOSE),
    "Conv3D": _k("filters " + _CONV),
    "ConvLSTM1D": _k(_CONV_LSTM, **_RECURRENT),
    "ConvLSTM2D": _k(_CONV_LSTM, **_RECURRENT),
    "ConvLSTM3D": _k(_CONV_LSTM, **_RECURRENT),
    "Cropping1D": _k("cropping"),
    "Cropping2D": _k("cropping data_format"),
    "Cropping3D": _k("cropping data_format"),
    "CutMix": _k("data_format factor seed", **_AUGMENTING),
    "Dense": _k("units activation use_bias kernel_initializer bias_initializer kernel_regularizer bias_regularizer "
                "kernel_constraint bias_constraint quantization_config"),
    "DepthwiseConv1D": _k(_DEPTHWISE),
    "DepthwiseConv2D": _k(_DEPTHWISE),
    "Dot": _k("axes normalize", call="list"),
    "Dropout": _k("rate seed noise_shape", None, training=False),
    "ELU": _k("", None),
    "EinsumDense": _k("output_shape equation activation bias_axes kernel_initializer bias_initializer "
                      "kernel_regularizer bias_regularizer activity_regularizer kernel_constraint bias_constraint "
                      "quantization_config"),
    "Embedding": _k("input_dim output_dim embeddings_initializer embeddings_regularizer activity_regularizer "
                    "embeddings_constraint mask_zero quantization_config"),
    "Flatten": _k("data_format"),
    "GRU": _k(f"{_RNN} units activation recurrent_activation use_bias kernel_initializer recurrent_initializer "
              f"bias_initializer {_RNN_PENALTIES} dropout recurrent_dropout reset_after seed", **_RECURRENT),
    "GaussianDropout": _k("rate seed", None, training=False),
    "GaussianNoise": _k("stddev seed", None, training=False),
    "GlobalAveragePooling1D": _k("data_format keepdims", None, mask=True),
    "GlobalAveragePooling2D": _k("data_format keepdims", None),
    "GlobalAveragePooling3D": _k("data_format keepdims", None),
    "GlobalMaxPooling1D": _k("data_format keepdims", None),
    "GlobalMaxPooling2D": _k("data_format keepdims", None),
    "GlobalMaxPooling3D": _k("data_format keepdims", None),
    "GroupNormalization": _k("groups axis epsilon center scale beta_initializer gamma_initializer beta_regularizer "
                             "gamma_regularizer beta_constraint gamma_constraint"),
    "Identity": _k("", None),
    "LSTM": _k(f"{_RNN} units activation recurrent_activation use_bias kernel_initializer recurrent_initializer "
               f"bias_initializer unit_forget_bias {_RNN_PENALTIES} dropout recurrent_dropout seed", **_RECURRENT),
    "LayerNormalization": _k("axis epsilon center scale rms_scaling beta_initializer gamma_initializer "
                             "beta_regularizer gamma_regularizer beta_constraint gamma_constraint"),
    "LeakyReLU": _k("negative_slope", None),
    "Masking": _k("mask_value", None),
    "MaxPooling1D": _k(_POOLING, None),
    "MaxPooling2D": _k(_POOLING, None),
    "MaxPooling3D": _k(_POOLING, None),
    "Maximum": _k("", call="list"),
    "Minimum": _k("", call="list"),
    "MixUp": _k("data_format alpha seed", **_AUGMENTING),
    "MultiHeadAttention": _k("num_heads key_dim value_dim dropout use_bias use_gate output_shape attention_axes "
                             "sliding_window kernel_initializer bias_initializer kernel_regularizer bias_regularizer "
                             "activity_regularizer kernel_constraint bias_constraint seed",
                             build="attention", call="attention"),
    "Multiply": _k("", call="list"),
    "Normalization": _k("axis invert mean variance"),
    "PReLU": _k("alpha_initializer alpha_regularizer alpha_constraint shared_axes"),
    "Permute": _k("dims"),
    # keras_hub's, not Keras's (keras_hub/src/layers/modeling/position_embedding.py).
    "PositionEmbedding": _k("sequence_length initializer", module="keras_hub.src.layers.modeling.position_embedding",
                            registered_name="keras_hub>PositionEmbedding"),
    "RandomBrightness": _k("data_format factor value_range seed", **_AUGMENTING),
    "RandomColorDegeneration": _k("data_format factor value_range seed", **_AUGMENTING),
    "RandomContrast": _k("data_format factor value_range seed", **_AUGMENTING),
    "RandomCrop": _k("data_format height width seed", **_AUGMENTING),
    "RandomFlip": _k("data_format seed mode", **_AUGMENTING),
    "RandomGrayscale": _k("data_format factor", **_AUGMENTING),
    "RandomHue": _k("data_format factor value_range seed", **_AUGMENTING),
    "RandomInvert": _k("data_format factor value_range seed", **_AUGMENTING),
    "RandomRotation": _k("data_format factor fill_mode fill_value interpolation seed", **_AUGMENTING),
    "RandomSaturation": _k("data_format factor value_range seed", **_AUGMENTING),
    "RandomSharpness": _k("data_format factor value_range seed", **_AUGMENTING),
    "RandomShear": _k("data_format x_factor y_factor fill_mode interpolation seed fill_value", **_AUGMENTING),
    "RandomTranslation": _k("data_format height_factor width_factor fill_mode interpolation seed fill_value",
                            **_AUGMENTING),
    "RandomZoom": _k("data_format height_factor width_factor fill_mode interpolation seed fill_value", **_AUGMENTING),
    "ReLU": _k("max_value negative_slope threshold", None),
    "RepeatVector": _k("n"),
    "Rescaling": _k("scale offset"),
    "Reshape": _k("target_shape", None),
    "Resizing": _k("data_format height width interpolation crop_to_aspect_ratio pad_to_aspect_ratio fill_mode "
                   "fill_value antialias", **_AUGMENTING),
    "SeparableConv1D": _k(_SEPARABLE),
    "SeparableConv2D": _k(_SEPARABLE),
    "SimpleRNN": _k(f"{_RNN} units activation use_bias kernel_initializer recurrent_initializer bias_initializer "
                    f"{_RNN_PENALTIES} dropout recurrent_dropout", **_RECURRENT),
    "Softmax": _k("axis", None, mask=True),
    "Solarization": _k("data_format value_range addition_factor threshold_factor seed", **_AUGMENTING),
    "SpatialDropout1D": _k("rate seed", None, training=False),
    "SpatialDropout2D": _k("rate seed data_format", None, training=False),
    "SpatialDropout3D": _k("rate seed data_format", None, training=False),
    "SpectralNormalization": _k("layer power_iterations", training=False),
    "Subtract": _k("", call="list"),
    "TimeDistributed": _k("layer", mask=True),
    "UnitNormalization": _k("axis", None),
    "UpSampling1D": _k("size"),
    "UpSampling2D": _k("size data_format interpolation"),
    "UpSampling3D": _k("size data_format"),
    "ZeroPadding1D": _k("padding data_format"),
    "ZeroPadding2D": _k("padding data_format"),
    "ZeroPadding3D": _k("padding data_format"),
}

_PENALTY = "a training-time penalty or weight clip: layerspec does not train, and Keras applies none at inference"
_ANY = object()

#: Keras config keys that are no layerspec argument, by key (or by
#: ``(class_name, key)`` for one class): ``(accepted values, the value
#: export writes, why layerspec may leave the key out)``. Accepted values
#: are a tuple, or ``_ANY``. Keys ending ``_regularizer`` and
#: ``_constraint`` are :data:`_PENALTY` keys, accepted only null.
KERAS_ONLY_KEYS: dict[Any, tuple[Any, Any, str]] = {
    "quantization_config": ((None,), None, "a quantized layer keeps integer weights layerspec does not read"),
    "lora_rank": ((None,), None, "LoRA adapters are weights layerspec does not read"),
    "lora_alpha": (_ANY, None, "LoRA's scale; it only matters with lora_rank, which must be null"),
    "gptq_unpacked_column_size": ((None,), None, "GPTQ-quantized weights are not read by layerspec"),
    "renorm": ((False,), False, "batch renormalization changes only training"),
    "renorm_clipping": (_ANY, None, "used only with renorm, which must be false"),
    "renorm_momentum": (_ANY, 0.99, "used only with renorm, which must be false"),
    "bounding_box_format": (_ANY, None, "bounding boxes are no input of a layerspec model"),
    "hierarchical_alpha": (_ANY, None, "keras_hub uses it only past sequence_length, where layerspec refuses the "
                                       "input"),
    ("ConvLSTM1D", "zero_output_for_mask"): ((False,), False, "a ConvLSTM here outputs its last output on masked "
                                                              "steps, as Keras with false"),
    ("ConvLSTM2D", "zero_output_for_mask"): ((False,), False, "as ConvLSTM1D"),
    ("ConvLSTM3D", "zero_output_for_mask"): ((False,), False, "as ConvLSTM1D"),
    ("RandomBrightness", "data_format"): (_ANY, "channels_last", "the layer is the identity at inference"),
    ("RandomContrast", "data_format"): (_ANY, "channels_last", "the layer is the identity at inference"),
    ("Solarization", "data_format"): (_ANY, "channels_last", "the layer is the identity at inference"),
    # Keras 2's keys (legacy .h5 and tf.keras JSON configs).
    "time_major": ((False,), False, "Keras 2's time-major layout; only batch-major (false) is read"),
    "implementation": (_ANY, None, "Keras 2's choice of how to schedule the recurrent products: same numbers"),
    "input_length": (_ANY, None, "Keras 2 fixed the sequence length here; the model input gives it"),
    "batch_input_shape": (_ANY, None, "Keras 2 declared the model input here; it becomes the spec's input"),
    ("MultiHeadAttention", "query_shape"): (_ANY, None, "Keras 2 recorded the built shapes here; the wiring gives "
                                                        "them"),
    ("MultiHeadAttention", "key_shape"): (_ANY, None, "as query_shape"),
    ("MultiHeadAttention", "value_shape"): (_ANY, None, "as query_shape"),
}

#: Layerspec arguments Keras's config has no key for, by ``(class, name)``
#: or by name: the value export accepts (``_ANY`` = drop whatever it is),
#: and why.
OURS_ONLY_ARGUMENTS: dict[Any, tuple[Any, str]] = {
    "use_cudnn": (_ANY, "a speed choice Keras does not save (rnn.py get_config)"),
    "weights": ((None,), "Keras's Bidirectional does not save initial weights"),
    "use_causal_mask": (_ANY, "a call argument in Keras: written in the layer's node"),
    ("SimpleRNN", "seed"): (_ANY, "Keras 3.15's SimpleRNN does not save its dropout seed"),
    ("RandomGrayscale", "seed"): (_ANY, "Keras 3.15's RandomGrayscale does not save its seed"),
    ("CategoryEncoding", "sparse"): ((False,), "Keras 3.15's CategoryEncoding does not save sparse"),
    ("ELU", "alpha"): ((1.0,), "Keras 3.15's ELU does not save alpha (elu.py has no get_config), so Keras would "
                               "load it with alpha 1.0"),
}

#: Activations as Keras writes a function's name (activations.serialize):
#: an alias is saved as the function it names.
KERAS_ACTIVATION_NAMES = {"swish": "silu", "hard_swish": "hard_silu"}

#: Registered activation functions outside Keras (``registered_name`` →
#: the layerspec activation they compute): keras_hub's tanh-approximated
#: gelu, which its GPT-2 uses (keras_hub/src/utils/keras_utils.py, registered
#: under keras_hub and, formerly, keras_nlp). Export writes the first.
REGISTERED_ACTIVATIONS = {
    "keras_hub>gelu_approximate": {"name": "gelu", "approximate": True},
    "keras_nlp>gelu_approximate": {"name": "gelu", "approximate": True},
}
_REGISTERED_MODULES = {"keras_hub>gelu_approximate": "keras_hub.src.utils.keras_utils"}

#: ``keras.src.ops`` operation classes a functional config may hold, as
#: the activation they compute (their config's other keys are its
#: arguments: ``LeakyRelu``'s ``negative_slope``).
OP_ACTIVATIONS = {
    "Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus",
    "Softsign": "softsign", "Silu": "silu", "Gelu": "gelu", "Elu": "elu", "Selu": "selu",
    "HardSigmoid": "hard_sigmoid", "HardSilu": "hard_silu", "LeakyRelu": "leaky_relu", "Softmax": "softmax",
    "LogSoftmax": "log_softmax", "Exp": "exponential", "LogSigmoid": "log_sigmoid", "Celu": "celu", "Glu": "glu",
    "HardTanh": "hard_tanh", "SoftShrink": "soft_shrink", "HardShrink": "hard_shrink", "TanhShrink": "tanh_shrink",
    "SparsePlus": "sparse_plus", "SparseSigmoid": "sparse_sigmoid", "Squareplus": "squareplus",
    "Sparsemax": "sparsemax", "Mish": "mish",
}
#: Defaults of those operations that differ from the activation's own
#: (keras/src/ops/nn.py: ``Gelu(approximate=True)``).
OP_DEFAULTS = {"Gelu": {"approximate": True}}
#: Binary ``keras.src.ops.numpy`` operations of two tensors of one rank,
#: as the merge layer computing the same.
OP_MERGES = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply", "Maximum": "Maximum",
             "Minimum": "Minimum"}

#: Initializer classes: Keras's class name → layerspec's name, and the
#: keys of Keras 3.15's ``get_config`` for it (initializers/*.py), in order.
INITIALIZERS = {
    "Zeros": ("zeros", ()),
    "Ones": ("ones", ()),
    "Constant": ("constant", ("value",)),
    "RandomNormal": ("random_normal", ("seed", "mean", "stddev")),
    "RandomUniform": ("random_uniform", ("seed", "minval", "maxval")),
    "TruncatedNormal": ("truncated_normal", ("seed", "mean", "stddev")),
    "VarianceScaling": ("variance_scaling", ("seed", "scale", "mode", "distribution", "input_axes",
                                             "output_axes")),
    "GlorotUniform": ("glorot_uniform", ("seed", "input_axes", "output_axes")),
    "GlorotNormal": ("glorot_normal", ("seed", "input_axes", "output_axes")),
    "HeUniform": ("he_uniform", ("seed", "input_axes", "output_axes")),
    "HeNormal": ("he_normal", ("seed", "input_axes", "output_axes")),
    "LecunUniform": ("lecun_uniform", ("seed", "input_axes", "output_axes")),
    "LecunNormal": ("lecun_normal", ("seed", "input_axes", "output_axes")),
    "Orthogonal": ("orthogonal", ("seed", "gain")),
}
_INITIALIZER_CLASSES = {ours: keras for keras, (ours, _) in INITIALIZERS.items()}

#: Model classes (nested models too).
MODEL_CLASSES = ("Sequential", "Functional", "Model")
#: Layer classes refused by name, and why.
REFUSED_CLASSES = {
    "Lambda": "it holds Python code, which a spec cannot carry: write the function as a plugin layer (README "
              "'Custom layers')",
    "TFOpLambda": "it is a TensorFlow operation (Keras 2), which layerspec does not run",
    "SlicingOpLambda": "it is a TensorFlow slicing operation (Keras 2), which layerspec does not run",
}


# --------------------------------------------------------------------------
# import: reading a config


@dataclass(eq=False)
class _KInput:
    """A model input: an ``InputLayer`` entry (or a Sequential's first
    layer's ``batch_input_shape``)."""

    keras_name: str
    shape: tuple | None
    dtype: str | None  # None: the model's float dtype
    name: str = ""  # its name in the spec


@dataclass(eq=False)
class _KLayer:
    """One entry of a config's ``layers``: a layer, an operation or a nested model."""

    index: int
    keras_class: str
    keras_name: str
    module: str
    where: str
    kind: str  # "layer", "op" or "model"
    our_class: type | None = None
    arguments: dict = field(default_factory=dict)
    #: The input shape Keras built it for (its build_config), if known.
    shape: Any = None
    nested: "_KModel | None" = None
    calls: list = field(default_factory=list)
    #: Keras counts a nested Functional's calls from 1 (functional.py get_config).
    node_offset: int = 0


@dataclass(eq=False)
class _KCall:
    """One call of a layer: the tensors it reads, in layerspec's order."""

    layer: _KLayer
    number: int
    sources: list  # of (producer, call number, output index)
    causal: bool | None = None


@dataclass(eq=False)
class _KModel:
    """A Sequential or Functional config, read."""

    name: str
    kind: str
    where: str
    inputs: list
    entries: list  # every entry of 'layers', in order (_KInput or _KLayer)
    calls: list  # computing order
    outputs: list  # of (producer, call number, output index)


def _where(prefix: str, index: int, name: Any, class_name: Any) -> str:
    """How messages name a config entry: ``layers[3] 'conv2d_1' (Conv2D)``."""
    return f"{prefix}layers[{index}] '{name}' ({class_name})"


def _model_body(config: Any, where: str) -> tuple[str, dict]:
    """``(class_name, inner config)`` of a model's config, checked."""
    if not isinstance(config, dict):
        raise KerasConfigError(f"{where or 'the model config'} must be a JSON object, got {type(config).__name__}")
    if "class_name" not in config and isinstance(config.get("layers"), list):
        # model.get_config() alone: a Functional model lists its inputs
        config = {"class_name": "Functional" if "input_layers" in config else "Sequential", "config": config}
    class_name = config.get("class_name")
    inner = config.get("config")
    if class_name not in MODEL_CLASSES:
        if isinstance(class_name, str) and isinstance(inner, dict) and "layers" not in inner:
            raise _refuse(f"{where or 'the model'}: a {class_name} model keeps its layers in Python code (a "
                          "subclassed model), which its config does not describe; save a Sequential or Functional "
                          "model")
        raise KerasConfigError(f"{where or 'the model config'}: 'class_name' must be one of "
                               f"{', '.join(MODEL_CLASSES)}, got {class_name!r}")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise KerasConfigError(f"{where or 'the model config'}: 'config' must be an object with a 'layers' list")
    return class_name, inner


class _Reader:
    """Reads a model config into :class:`_KModel` objects (nested ones too)."""

    def __init__(self):
        #: Every dtype policy met, with where: the model's dtype follows.
        self.policies: list[tuple[str, str]] = []
        #: Whether the model being read is frozen (trainable: false).
        self.frozen = False

    def model(self, config: dict, where: str = "", frozen: bool = False) -> _KModel:
        """Read a Sequential or Functional model's config (``where``: its place, for messages)."""
        class_name, inner = _model_body(config, where)
        name = inner.get("name") if isinstance(inner.get("name"), str) else "model"
        # A frozen model freezes every layer in it (Keras's trainable setter);
        # a spec says so on each layer.
        frozen = frozen or inner.get("trainable") is False
        saved, self.frozen = self.frozen, frozen
        try:
            if class_name == "Sequential":
                return self._sequential(name, inner, where)
            return self._functional(name, class_name, inner, where)
        finally:
            self.frozen = saved

    # -- one entry --------------------------------------------------------
    def _entry(self, entry: Any, index: int, prefix: str, legacy_nodes: bool = False):
        """One entry of ``layers``: an input, a layer, an operation or a nested model."""
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
            raise KerasConfigError(f"{prefix}layers[{index}] must be an object with a 'class_name', got "
                                   f"{_shown(entry)}")
        class_name = entry["class_name"]
        config = entry.get("config", {})
        if not isinstance(config, dict):
            raise KerasConfigError(f"{prefix}layers[{index}] ({class_name}): 'config' must be an object")
        name = config.get("name", entry.get("name"))
        if not isinstance(name, str) or not name:
            raise KerasConfigError(f"{prefix}layers[{index}] ({class_name}): it has no name")
        if "/" in name:
            raise KerasConfigError(f"{_where(prefix, index, name, class_name)}: a name must not contain '/'")
        where = _where(prefix, index, name, class_name)
        module = entry.get("module") if isinstance(entry.get("module"), str) else "keras.layers"
        if class_name == "InputLayer":
            return self._input_layer(config, name, where)
        if class_name in MODEL_CLASSES and isinstance(config.get("layers"), list):
            nested = self.model(entry, f"{where} > ", self.frozen)
            offset = 1 if class_name != "Sequential" or legacy_nodes else 0
            return _KLayer(index, class_name, name, module, where, "model", nested=nested, node_offset=offset)
        if module.startswith("keras.src.ops") or module.startswith("keras.ops"):
            self._note_policy(config.get("dtype"), where, optional=True)
            return _KLayer(index, class_name, name, module, where, "op", arguments=dict(config))
        if class_name in REFUSED_CLASSES:
            raise _refuse(f"{where}: layerspec cannot import a {class_name} layer: {REFUSED_CLASSES[class_name]}")
        if class_name not in KERAS_CLASSES:
            raise _refuse(f"{where}: unknown or unsupported Keras layer class '{class_name}' (module {module}); "
                          "`layerspec layers` lists the supported ones")
        self._note_policy(config.get("dtype"), where)
        our_class, arguments = _read_arguments(class_name, config, where)
        if self.frozen:
            arguments["trainable"] = False
        layer = _KLayer(index, class_name, name, module, where, "layer", our_class, arguments)
        layer.shape = _built_shape(entry.get("build_config"))
        if layer.shape is None:
            layer.shape = config.get("query_shape")  # Keras 2's MultiHeadAttention kept it in its config
        return layer

    def _input_layer(self, config: dict, name: str, where: str) -> _KInput:
        """An ``InputLayer``: a model input of a dense float or integer tensor."""
        batch_shape = config.get("batch_shape", config.get("batch_input_shape"))
        if batch_shape is None and isinstance(config.get("shape"), list):
            batch_shape = [None, *config["shape"]]
        for key, accepted in (("sparse", (False, None)), ("ragged", (False, None)), ("optional", (False, None))):
            if config.get(key) not in accepted:
                raise _refuse(f"{where}: '{key}: {_shown(config[key])}' inputs are not supported (dense inputs "
                              "only)")
        return _KInput(name, _per_sample(batch_shape, where), _input_dtype(config.get("dtype"), where))

    def _note_policy(self, value: Any, where: str, optional: bool = False) -> None:
        """Keep a layer's dtype policy (float32 or float64; others refused)."""
        if value is None and optional:
            return
        name = _policy_name(value, where)
        self.policies.append((name, where))

    # -- Sequential ---------------------------------------------------------
    def _sequential(self, name: str, inner: dict, where: str) -> _KModel:
        """A Sequential model: each layer called once on the one above."""
        entries, inputs, calls = [], [], []
        previous = None
        for index, raw in enumerate(inner["layers"]):
            entry = self._entry(raw, index, where)
            entries.append(entry)
            if isinstance(entry, _KInput):
                if inputs or calls:
                    raise KerasConfigError(f"{_where(where, index, entry.keras_name, 'InputLayer')}: a Sequential "
                                           "model's InputLayer must come first")
                inputs.append(entry)
                previous = (entry, 0, 0)
                continue
            if not inputs:  # Keras 2 declared the input on the first layer
                declared = raw.get("config", {}).get("batch_input_shape") if isinstance(raw, dict) else None
                if declared is None:
                    declared = inner.get("build_input_shape")
                shape = _per_sample(declared, entry.where) if declared is not None else None
                inputs.append(_KInput("input", shape, None))
                previous = (inputs[0], 0, 0)
            call = _KCall(entry, 0, [previous])
            entry.calls.append(call)
            calls.append(call)
            previous = (entry, 0, 0)
        if not calls:
            raise KerasConfigError(f"{where or 'the model'}: the Sequential model '{name}' has no layers")
        return _KModel(name, "Sequential", where, inputs, entries, calls, [previous])

    # -- Functional ---------------------------------------------------------
    def _functional(self, name: str, class_name: str, inner: dict, where: str) -> _KModel:
        """A Functional model: its layers, their calls in order, inputs and outputs."""
        raw_entries = inner["layers"]
        legacy = any(isinstance(node, list) for raw in raw_entries if isinstance(raw, dict)
                     for node in (raw.get("inbound_nodes") or []))
        entries, by_name = [], {}
        for index, raw in enumerate(raw_entries):
            entry = self._entry(raw, index, where, legacy_nodes=legacy)
            if entry.keras_name in by_name:
                raise KerasConfigError(f"{_where(where, index, entry.keras_name, raw['class_name'])}: the name is "
                                       "taken by another layer of the model")
            entries.append(entry)
            by_name[entry.keras_name] = entry
        pending = {}
        for raw, entry in zip(raw_entries, entries):
            nodes = raw.get("inbound_nodes") or []
            if not isinstance(nodes, list):
                raise KerasConfigError(f"{entry.where if isinstance(entry, _KLayer) else where}: 'inbound_nodes' "
                                       "must be a list")
            if isinstance(entry, _KLayer):
                if not nodes:
                    raise KerasConfigError(f"{entry.where}: it is never called (no inbound node)")
                pending[entry] = [_parse_node(entry, node) for node in nodes]
        calls = _order_calls(entries, pending, by_name, where)
        for entry in entries:
            if isinstance(entry, _KLayer):
                _apply_causal(entry)
        inputs = [self._model_input(ref, by_name, where, "input_layers") for ref in
                  _structure_refs(inner.get("input_layers"), f"{where}input_layers")]
        outputs = [_resolve(ref, by_name, f"{where or 'the model'}: output_layers") for ref in
                   _structure_refs(inner.get("output_layers"), f"{where}output_layers")]
        if not inputs or not outputs:
            raise KerasConfigError(f"{where or 'the model'}: the Functional model '{name}' needs 'input_layers' and "
                                   "'output_layers'")
        return _KModel(name, class_name, where, inputs, entries, calls, outputs)

    def _model_input(self, ref, by_name: dict, where: str, key: str) -> _KInput:
        """The model input an ``input_layers`` reference names."""
        producer = by_name.get(ref[0])
        if not isinstance(producer, _KInput):
            raise KerasConfigError(f"{where or 'the model'}: {key} names '{ref[0]}', which is no InputLayer")
        return producer


def _apply_causal(layer: _KLayer) -> None:
    """Keras passes ``use_causal_mask`` to an attention layer's call;
    layerspec's layer takes it as an argument, one value for all its calls."""
    flags = {bool(call.causal) for call in layer.calls}
    if len(flags) > 1:
        raise _refuse(f"{layer.where}: it is called both with and without use_causal_mask; layerspec's "
                      f"{layer.keras_class} takes one value for all its calls")
    if flags == {True}:
        layer.arguments["use_causal_mask"] = True


def _structure_refs(value: Any, where: str) -> list[tuple]:
    """``input_layers``/``output_layers``: one ``[name, node, tensor]`` or a
    list or dict of them, flattened in order."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and \
            all(isinstance(item, int) and not isinstance(item, bool) for item in value[1:]):
        return [tuple(value)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _structure_refs(item, where)]
    if isinstance(value, list):
        return [ref for item in value for ref in _structure_refs(item, where)]
    raise KerasConfigError(f"{where}: expected [layer name, node index, tensor index] entries, got {_shown(value)}")


def _resolve(ref: tuple, by_name: dict, where: str) -> tuple:
    """A ``(name, node, tensor)`` reference as ``(producer, call, output)``."""
    producer = by_name.get(ref[0])
    if producer is None:
        raise KerasConfigError(f"{where}: refers to '{ref[0]}', which is no layer of the model"
                               f"{_suggestion(ref[0], by_name)}")
    if isinstance(producer, _KInput):
        if ref[1] != 0 or ref[2] != 0:
            raise KerasConfigError(f"{where}: refers to input '{ref[0]}' with node {ref[1]}, tensor {ref[2]}; an "
                                   "input has one tensor (0, 0)")
        return producer, 0, 0
    call = ref[1] - producer.node_offset
    if not 0 <= call < len(producer.calls):
        raise KerasConfigError(f"{where}: refers to call {ref[1]} of '{ref[0]}', which is called "
                               f"{len(producer.calls)} time{'s' * (len(producer.calls) != 1)}")
    if ref[2] < 0:
        raise KerasConfigError(f"{where}: refers to output {ref[2]} of '{ref[0]}'")
    return producer, call, ref[2]


def _suggestion(name: str, names) -> str:
    """``; did you mean 'x'?`` for the closest of ``names``, or nothing."""
    from .arguments import suggest

    return suggest(name, list(names))


def _order_calls(entries: list, pending: dict, by_name: dict, where: str) -> list:
    """The calls in a computing order that reads like the model was written:
    each layer's first call in the config's order, after what it reads;
    a shared layer's later call just before the first call that reads it
    (Keras itself makes all of a layer's calls at once when it loads a
    config, functional.py ``functional_from_config``; any order computing
    each call after its inputs is the same model)."""
    calls: dict = {}
    for layer, nodes in pending.items():
        layer.calls = [None] * len(nodes)
        for number, (refs, causal) in enumerate(nodes):
            calls[(layer.keras_name, number)] = (layer, number, refs, causal)
    order: list = []
    done: set = set()
    active: set = set()

    def emit(key, reader: str) -> None:
        """Place call ``key`` after the calls it reads."""
        if key in done or key not in calls:
            return  # made, or a reference to nothing (which _resolve reports)
        if key in active:
            raise KerasConfigError(f"{reader}: the graph has a loop through '{key[0]}'")
        active.add(key)
        layer, number, refs, causal = calls[key]
        for ref in refs:
            producer = by_name.get(ref[0])
            if isinstance(producer, _KLayer):
                emit((producer.keras_name, ref[1] - producer.node_offset), layer.where)
        sources = [_resolve(ref, by_name, layer.where) for ref in refs]
        call = _KCall(layer, number, sources, causal)
        layer.calls[number] = call
        order.append(call)
        active.discard(key)
        done.add(key)

    for entry in entries:
        if isinstance(entry, _KLayer) and pending.get(entry):
            emit((entry.keras_name, 0), entry.where)
    for key in calls:
        emit(key, where or "the model")
    return order


# -- inbound nodes ------------------------------------------------------------


class _Mask:
    """A mask Keras attached to a tensor itself (no layer made it): layerspec
    derives the same from Embedding(mask_zero) or Masking."""


def _tensor_ref(value: Any):
    """A Keras 3 ``__keras_tensor__`` as ``(name, node, tensor)`` (a
    :class:`_Mask` when it has no history); None for anything else."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = (value.get("config") or {}).get("keras_history")
        if history is None:
            return _Mask()
        if isinstance(history, list) and len(history) == 3 and isinstance(history[0], str):
            return _Ref(history, (value.get("config") or {}).get("shape"))
        raise KerasConfigError(f"a tensor's keras_history must be [layer, node, tensor], got {_shown(history)}")
    return None


class _Ref(tuple):
    """A reference ``(layer name, node index, tensor index)`` to a tensor,
    with the tensor's shape where the config gives it."""

    def __new__(cls, items, shape=None):
        ref = super().__new__(cls, tuple(items))
        ref.shape = shape
        return ref


def _legacy_ref(value: Any):
    """A Keras 2 ``[layer, node, tensor(, kwargs)]`` as a reference, else None."""
    if isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) and \
            all(isinstance(item, int) for item in value[1:3]):
        return _Ref(value[:3])
    return None


def _parse_node(layer: _KLayer, node: Any) -> tuple[list, bool | None]:
    """An inbound node as ``(references in layerspec's order, use_causal_mask)``."""
    if isinstance(node, list):  # Keras 2: [[name, node, tensor, kwargs], ...]
        refs = [_legacy_ref(item) for item in node]
        if not refs or any(ref is None for ref in refs):
            raise KerasConfigError(f"{layer.where}: an inbound node must list [layer, node, tensor, kwargs] "
                                   f"entries, got {_shown(node)}")
        kwargs = node[0][3] if len(node[0]) == 4 and isinstance(node[0][3], dict) else {}
        kwargs = {key: _legacy_kwarg(value) for key, value in kwargs.items()}
        kind = _call_kind(layer)
        args = [refs] if kind in ("list", "model") and len(refs) > 1 or kind == "list" else refs
        return _node_sources(layer, args, kwargs)
    if not isinstance(node, dict):
        raise KerasConfigError(f"{layer.where}: an inbound node must be an object with 'args' and 'kwargs', got "
                               f"{_shown(node)}")
    args = _map_tensors(node.get("args", []), layer)
    kwargs = _map_tensors(node.get("kwargs", {}), layer)
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise KerasConfigError(f"{layer.where}: an inbound node's 'args' must be a list and its 'kwargs' an object")
    return _node_sources(layer, args, kwargs)


def _legacy_kwarg(value: Any):
    """A Keras 2 call argument with its tensors (``[layer, node, tensor]``) as references."""
    ref = _legacy_ref(value)
    if ref is not None:
        return ref
    if isinstance(value, list) and value and all(_legacy_ref(item) for item in value):
        return [_legacy_ref(item) for item in value]
    return value


def _map_tensors(value: Any, layer: _KLayer):
    """``value`` with every Keras tensor replaced by its reference."""
    ref = _tensor_ref(value)
    if ref is not None:
        return ref
    if isinstance(value, list):
        return [_map_tensors(item, layer) for item in value]
    if isinstance(value, dict):
        if value.get("class_name") in ("__tensor__", "__numpy__"):
            return _Constant(value)
        return {key: _map_tensors(item, layer) for key, item in value.items()}
    return value


@dataclass
class _Constant:
    """A constant array passed to a call (``__tensor__``, ``__numpy__``)."""

    value: dict


def _is_ref(value: Any) -> bool:
    """Whether a call argument is a tensor reference."""
    return isinstance(value, tuple)


def _call_kind(layer: _KLayer) -> str:
    """How a layer takes tensors (see :class:`KerasClass`): ``model`` and
    ``op`` for nested models and operations."""
    if layer.kind == "model":
        return "model"
    if layer.kind == "op":
        return "op"
    return KERAS_CLASSES[layer.keras_class].call


def _no_mask(value: Any) -> bool:
    """Whether a ``mask`` call argument carries nothing layerspec would not
    derive itself: null, or masks Keras attached to the tensors."""
    if value is None or isinstance(value, _Mask):
        return True
    return isinstance(value, list) and all(_no_mask(item) for item in value)


def _node_sources(layer: _KLayer, args: list, kwargs: dict) -> tuple[list, bool | None]:
    """The tensors a call reads, in layerspec's order (an attention layer's
    query, value, key; a recurrent layer's sequence, then its initial
    states), and its ``use_causal_mask``; every other call argument is one
    layerspec derives itself (``mask``, ``training``) or an error."""
    kind = _call_kind(layer)
    where = layer.where
    causal = None
    states: list = []
    named = {}
    for key, value in kwargs.items():
        if key == "training":
            continue  # Keras's functional call passes the model's own flag (functional.py operation_fn)
        if key in ("mask", "query_mask", "value_mask", "key_mask", "attention_mask"):
            if not _no_mask(value):
                raise _refuse(f"{where}: it is called with '{key}' from another tensor; layerspec derives masks "
                              "from Embedding(mask_zero) and Masking only")
            continue
        if key == "use_causal_mask" and layer.keras_class in ("MultiHeadAttention", "Attention",
                                                              "AdditiveAttention"):
            if not isinstance(value, bool):
                raise KerasConfigError(f"{where}: call argument 'use_causal_mask' must be true or false")
            causal = value
            continue
        if key == "return_attention_scores" and kind in ("attention", "list"):
            if value:
                raise _refuse(f"{where}: 'return_attention_scores: true' is not supported (the scores are no "
                              "output of a layerspec layer)")
            continue
        if key == "initial_state" and kind == "recurrent":
            states = value if isinstance(value, list) else [value]
            continue
        if key in ("query", "value", "key") and kind == "attention":
            named[key] = value
            continue
        raise _refuse(f"{where}: call argument '{key}' is not supported")
    if kind == "op":
        return _op_sources(layer, args), None
    if kind == "attention":
        slots = dict(zip(("query", "value", "key"), args))
        if len(args) > 3:
            raise _refuse(f"{where}: it is called with {len(args)} positional arguments")
        slots.update(named)
        refs = [slots[key] for key in ("query", "value", "key") if slots.get(key) is not None]
        if len(refs) < 2 or "query" not in slots or "value" not in slots:
            raise KerasConfigError(f"{where}: it must be called with a query and a value")
        if all(ref == refs[0] for ref in refs):
            refs = refs[:1]  # self-attention: one input is query, value and key
    elif kind == "recurrent":
        if len(args) > 2:
            raise _refuse(f"{where}: it is called with {len(args)} positional arguments")
        if len(args) == 2:
            states = args[1] if isinstance(args[1], list) else [args[1]]
        refs = args[:1] + list(states)
    elif kind in ("list", "model"):
        if len(args) != 1:
            raise _refuse(f"{where}: it is called with {len(args)} positional arguments; it takes one "
                          f"{'list of tensors' if kind == 'list' else 'tensor or list of tensors'}")
        first = args[0]
        refs = list(first.values()) if isinstance(first, dict) else first if isinstance(first, list) else [first]
    else:
        if len(args) != 1:
            raise _refuse(f"{where}: it is called with {len(args)} positional arguments; it takes one tensor")
        refs = args
    for ref in refs:
        if not _is_ref(ref):
            raise _refuse(f"{where}: it is called with {_shown(ref)} where layerspec reads only tensors made by "
                          "the model")
    return refs, causal


def _op_sources(layer: _KLayer, args: list) -> list:
    """An operation node's tensors; what it computes with them becomes a
    layer (:func:`_op_layer`)."""
    if layer.our_class is not None:
        raise _refuse(f"{layer.where}: an operation called more than once is not supported")
    layer.our_class, layer.arguments = _op_layer(layer, args)
    return [item for item in args if _is_ref(item)]


def _op_layer(layer: _KLayer, args: list) -> tuple[type, dict]:
    """The layer computing what an operation node computes: an activation,
    a merge of two tensors of one rank, or ``x * scale + offset``."""
    from .registry import lookup

    where, name = layer.where, layer.keras_class
    config = {key: value for key, value in layer.arguments.items() if key not in ("name", "dtype")}
    refs = [item for item in args if _is_ref(item)]
    constants = [item for item in args if not _is_ref(item)]
    if any(not _is_number(item) for item in constants):
        raise _refuse(f"{where}: the operation {name} is called with {_shown(constants[0])}; layerspec maps "
                      "operations on tensors and single numbers only")
    if name in OP_ACTIVATIONS and len(args) == 1 and refs:
        activation = {"name": OP_ACTIVATIONS[name], **OP_DEFAULTS.get(name, {}), **config}
        return lookup("Activation"), {"activation": _checked_activation(activation, where)}
    if name in OP_MERGES and len(refs) == 2 and not constants:
        shapes = [ref.shape for ref in refs]
        if None in shapes or len(shapes[0]) != len(shapes[1]):
            raise _refuse(f"{where}: the operation {name} of tensors of shapes {_shown(shapes[0])} and "
                          f"{_shown(shapes[1])} broadcasts across the batch axis, which no layerspec merge does")
        return lookup(OP_MERGES[name]), {}
    if len(args) == 2 and len(refs) == 1 and not config:
        constant = float(constants[0])
        tensor_first = _is_ref(args[0])
        scaled = {"Add": (1.0, constant), "Multiply": (constant, 0.0),
                  "Subtract": (1.0, -constant) if tensor_first else (-1.0, constant)}
        if name in ("Divide", "TrueDivide") and tensor_first and constant != 0:
            scaled[name] = (1.0 / constant, 0.0)
        if name in scaled:
            scale, offset = scaled[name]
            return lookup("Rescaling"), {"scale": scale, "offset": offset}
    if name == "Negative" and len(args) == 1 and refs:
        return lookup("Rescaling"), {"scale": -1.0}
    raise _refuse(f"{where}: the operation {layer.module}.{name} on {len(refs)} tensor"
                  f"{'s' * (len(refs) != 1)} and {len(constants)} number{'s' * (len(constants) != 1)} has no "
                  "layerspec equivalent")


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- arguments ------------------------------------------------------------------


def _read_arguments(class_name: str, config: dict, where: str, wrapper: str | None = None) -> tuple[type, dict]:
    """A layer's Keras config as ``(layerspec class, arguments)``; every key
    is an argument, a Keras-only key with an accepted value, or an error."""
    from .registry import arguments_of, lookup

    our_class = lookup(class_name)
    accepted = arguments_of(our_class)
    arguments: dict[str, Any] = {}
    for key, value in config.items():
        if key in ("name", "dtype"):
            continue
        if key == "trainable":
            if not isinstance(value, bool):
                raise KerasConfigError(f"{where}: 'trainable' must be true or false, got {_shown(value)}")
            arguments["trainable"] = value
        elif key in ("layer", "backward_layer") and key in accepted:
            arguments[key] = None if value is None else _wrapped_mapping(value, f"{where} > {key}", class_name, key)
        elif key not in accepted and _keras_only(class_name, key) is not None:
            _check_keras_only(class_name, key, value, where)
        elif key == "zero_output_for_mask" and wrapper == "Bidirectional":
            continue  # Bidirectional sets it from return_sequences (bidirectional.py force_zero_output_for_mask)
        elif key in accepted:
            arguments[key] = _import_value(key, value, f"{where}: argument '{key}'")
        else:
            raise _refuse(f"{where}: argument '{key}' is not supported by layerspec's {class_name}")
    return our_class, arguments


def _keras_only(class_name: str, key: str):
    """The :data:`KERAS_ONLY_KEYS` entry of a key of a class, or None."""
    entry = KERAS_ONLY_KEYS.get((class_name, key), KERAS_ONLY_KEYS.get(key))
    if entry is None and key.endswith(("_regularizer", "_constraint")):
        entry = ((None,), None, _PENALTY)
    return entry


def _check_keras_only(class_name: str, key: str, value: Any, where: str) -> None:
    """Refuse a Keras-only key whose value layerspec cannot leave out."""
    accepted, _, reason = _keras_only(class_name, key)
    if accepted is _ANY or any(value is item or (type(value) is type(item) and value == item) for item in accepted):
        return
    shown = " or ".join("null" if item is None else str(item).lower() if isinstance(item, bool) else str(item)
                        for item in accepted)
    raise _refuse(f"{where}: argument '{key}' must be {shown}, got {_shown(value)} ({reason})")


def _wrapped_mapping(config: Any, where: str, wrapper: str, argument: str) -> dict:
    """A wrapped layer's serialized config as the mapping a spec writes
    (``{type: LSTM, units: 6, name: lstm, ...}``): Bidirectional's forward
    layer named after the layer it copies (``forward_lstm`` → ``lstm``)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise KerasConfigError(f"{where}: must be a serialized layer with a 'class_name'")
    class_name = config["class_name"]
    inner = config.get("config", {})
    if not isinstance(inner, dict):
        raise KerasConfigError(f"{where} ({class_name}): 'config' must be an object")
    name = inner.get("name")
    where = f"{where} '{name}' ({class_name})"
    if class_name in REFUSED_CLASSES:
        raise _refuse(f"{where}: layerspec cannot import a {class_name} layer: {REFUSED_CLASSES[class_name]}")
    if class_name not in KERAS_CLASSES:
        raise _refuse(f"{where}: unknown or unsupported Keras layer class '{class_name}'")
    our_class, arguments = _read_arguments(class_name, inner, where, wrapper)
    if wrapper == "Bidirectional" and argument == "layer" and isinstance(name, str):
        name = name.removeprefix("forward_")
    mapping = {"type": class_name, **arguments}
    if isinstance(name, str) and name:
        mapping["name"] = name
    mapping["__shape__"] = _built_shape(config.get("build_config"))
    return mapping


def _import_value(key: str, value: Any, where: str):
    """A Keras config value as a layerspec argument (checked later by the
    layer's own argument kinds)."""
    if key.endswith("_initializer") or key == "initializer":
        return _import_initializer(value, where)
    if key in ("activation", "recurrent_activation"):
        return _import_activation(value, where)
    return _plain(value, where)


def _plain(value: Any, where: str):
    """A config value as plain data (``__numpy__`` arrays as lists)."""
    if isinstance(value, dict):
        if value.get("class_name") == "__numpy__" and isinstance(value.get("config"), dict):
            return _plain(value["config"].get("value"), where)
        if value.get("class_name") == "__tuple__" and isinstance(value.get("config"), dict):
            return [_plain(item, where) for item in value["config"].get("value", [])]
        if "class_name" in value:
            raise _refuse(f"{where}: a serialized {value['class_name']} object is not supported")
        return {key: _plain(item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, where) for item in value]
    return value


def _import_initializer(value: Any, where: str):
    """``{"class_name": "GlorotUniform", "config": {...}}`` → ``"glorot_uniform"``,
    or ``{type: random_normal, stddev: 0.1}`` when an argument differs from
    the initializer's default."""
    from . import initializers

    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise KerasConfigError(f"{where}: expected an initializer, got {_shown(value)}")
    class_name = value["class_name"]
    known = INITIALIZERS.get(class_name)
    if known is None:
        snake = {ours: keras for keras, (ours, _) in INITIALIZERS.items()}
        known = INITIALIZERS.get(snake.get(class_name, ""))
    if known is None:
        raise _refuse(f"{where}: initializer {class_name} is not supported (layerspec has "
                      f"{', '.join(sorted(INITIALIZERS))})")
    ours, _ = known
    config = value.get("config") or {}
    if not isinstance(config, dict):
        raise KerasConfigError(f"{where}: the initializer's 'config' must be an object")
    defaults = initializers.get(ours).config()
    for key, item in config.items():
        if key in ("input_axes", "output_axes"):
            if item is not None:
                raise _refuse(f"{where}: initializer {class_name} with {key} {_shown(item)} is not supported "
                              "(layerspec takes the fans from the weight's shape)")
        elif key not in defaults:
            raise _refuse(f"{where}: initializer {class_name} has no argument '{key}' in layerspec")
    arguments = {key: _plain(config[key], where) for key in defaults  # in layerspec's order
                 if key in config and not _same_value(config[key], defaults[key])}
    return ours if not arguments else {"type": ours, **arguments}


def _same_value(a: Any, b: Any) -> bool:
    """Equal as config values: numbers by value (``1`` and ``1.0``), others
    by type and value (``True`` is not ``1``)."""
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _import_activation(value: Any, where: str):
    """A Keras activation: its name, or a registered function layerspec knows."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        name = value.get("registered_name") or value.get("config")
        if name in REGISTERED_ACTIVATIONS:
            return dict(REGISTERED_ACTIVATIONS[name])
        raise _refuse(f"{where}: activation {_shown(name)} is a custom function, which layerspec does not have "
                      "(a Keras activation is saved by name)")
    raise KerasConfigError(f"{where}: expected an activation name, got {_shown(value)}")


def _checked_activation(mapping: dict, where: str):
    """An activation mapping, normalised, or a refusal naming the layer."""
    from . import activations
    from .errors import ArgumentError

    try:
        return activations.normalise(mapping)
    except ArgumentError as error:
        raise _refuse(f"{where}: {error.message}") from None


def _built_shape(build_config: Any):
    """The input shape Keras built a layer for: the first (query,
    sequence) shape of its ``build_config``, or None."""
    if not isinstance(build_config, dict):
        return None
    if "input_shape" in build_config:
        return build_config["input_shape"]
    shapes = build_config.get("shapes_dict")
    if isinstance(shapes, dict):
        for key in ("query_shape", "sequences_shape", "inputs_shape"):
            if key in shapes:
                return shapes[key]
    return None


def _per_sample(batch_shape: Any, where: str) -> tuple | None:
    """``[null, 28, 28, 1]`` → ``(28, 28, 1)``."""
    if batch_shape is None:
        return None
    if not isinstance(batch_shape, list) or not batch_shape or any(
            item is not None and (not isinstance(item, int) or isinstance(item, bool) or item < 0)
            for item in batch_shape):
        raise KerasConfigError(f"{where}: the input shape must be a list of sizes (null for unknown), got "
                               f"{_shown(batch_shape)}")
    return tuple(batch_shape[1:])


def _input_dtype(value: Any, where: str) -> str | None:
    """An input's dtype: None for floats (the model's), int32 or int64."""
    name = _policy_name(value, where) if isinstance(value, dict) else value
    if name in (None, "float32", "float64"):
        return None
    if name in ("int32", "int64"):
        return name
    raise _refuse(f"{where}: input dtype {_shown(name)} is not supported (float32, float64, int32 or int64)")


def _policy_name(value: Any, where: str) -> str:
    """A layer's dtype policy: ``float32`` or ``float64``; others refused."""
    name = value
    if isinstance(value, dict):
        config = value.get("config")
        name = config.get("name") if isinstance(config, dict) else None
    if name is None:
        return "float32"
    if name in ("float32", "float64"):
        return name
    raise _refuse(f"{where}: dtype policy {_shown(name)} is not supported: layerspec computes in float32 or "
                  "float64 throughout (no mixed precision)")


def _shown(value: Any) -> str:
    """A value in a message, cut short."""
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------------------
# one layer's Keras config (export, and the comparisons import makes)


def _policy(dtype: str) -> dict:
    """A layer's ``dtype`` as Keras 3.15 writes it."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}, "registered_name": None}


def _keras_class(layer, where: str) -> str:
    """The Keras class of a layerspec layer (built-in layers only)."""
    name = type(layer).__name__
    if name not in KERAS_CLASSES or not type(layer).__module__.startswith("layerspec."):
        raise _refuse(f"{where}: Keras has no layer like layerspec's {name}")
    return name


def _layer_config(layer, keras_class: str, input_shape: Any, dtype: str, where: str) -> dict:
    """``layer``'s config as Keras's ``get_config`` would write it for the
    same layer built for ``input_shape`` (a full shape, or a list for a
    layer taking several inputs; None when unknown)."""
    spec = KERAS_CLASSES[keras_class]
    ours = layer.get_config()
    for key, value in ours.items():
        if key in ("name", "trainable") or key in spec.keys:
            continue
        rule = OURS_ONLY_ARGUMENTS.get((keras_class, key), OURS_ONLY_ARGUMENTS.get(key))
        if rule is None:
            raise _refuse(f"{where}: argument '{key}' has no place in Keras's {keras_class} config")
        accepted, reason = rule
        if accepted is not _ANY and not any(_same_value(value, item) for item in accepted):
            raise _refuse(f"{where}: argument '{key}' is {_shown(_json(value))}, which Keras cannot hold: {reason}")
    config: dict[str, Any] = {"name": layer.name, "trainable": layer.trainable, "dtype": _policy(dtype)}
    for key in spec.keys:
        if key in ours:
            config[key] = _keras_value(keras_class, key, ours, layer, input_shape, dtype, where)
        else:
            config[key] = _keras_only(keras_class, key)[1]
    return config


def _keras_value(keras_class: str, key: str, ours: dict, layer, input_shape: Any, dtype: str, where: str):
    """One value of a Keras config from layerspec's argument (what Keras's
    constructor and ``build`` make of the same argument)."""
    value = ours[key]
    if key in ("activation", "recurrent_activation"):
        return _keras_activation(value, f"{where}: argument '{key}'")
    if key.endswith("_initializer") or key == "initializer":
        return _keras_initializer(value, f"{where}: argument '{key}'")
    if key == "data_format":
        return "channels_last" if value is None else value  # standardize_data_format(None)
    if key == "strides" and keras_class.startswith(("MaxPooling", "AveragePooling")) and value is None:
        return _json(ours["pool_size"])  # base_pooling.py: strides default to pool_size
    if keras_class == "LayerNormalization" and key == "axis":  # build() keeps a sorted list
        return sorted(value) if isinstance(value, (list, tuple)) else [value]
    if keras_class == "MultiHeadAttention" and key == "value_dim" and value is None:
        return ours["key_dim"]
    if keras_class == "MultiHeadAttention" and key == "attention_axes" and value is None:
        query = _first_shape(input_shape)  # _build_attention: every axis but batch, heads and features
        return None if query is None else list(range(1, len(query) - 1))
    if keras_class == "PReLU" and key == "shared_axes" and isinstance(value, int):
        return [value]
    if key in ("layer", "backward_layer"):
        return _wrapped_config(layer, keras_class, key, input_shape, dtype, where)
    return _json(value)


def _first_shape(shape: Any):
    """The first of a list of shapes (a query's, a sequence's), or the one shape."""
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return shape[0]
    return shape


def _wrapped_config(layer, keras_class: str, key: str, input_shape: Any, dtype: str, where: str):
    """A wrapped layer serialized as Keras serializes it: Bidirectional's
    built directions (``forward_lstm``, ``backward_lstm``, returning zeros on
    masked steps when they return sequences), TimeDistributed's layer built
    for one step."""
    sequence = _first_shape(input_shape)
    if keras_class == "Bidirectional":
        inner = layer.forward_layer if key == "layer" else layer.backward_layer
        overrides = {}
        if hasattr(inner, "zero_output_for_mask"):
            overrides["zero_output_for_mask"] = bool(inner.return_sequences)
        return _serialized(inner, sequence, dtype, f"{where} > {key}", overrides)
    inner = getattr(layer, key)
    step = None if sequence is None else (sequence[0], *sequence[2:])
    return _serialized(inner, step, dtype, f"{where} > {key}")


def _serialized(layer, input_shape: Any, dtype: str, where: str, overrides: dict | None = None,
                with_build: bool = True) -> dict:
    """``{"module", "class_name", "config", "registered_name", "build_config"}``
    of a layer, as ``serialize_keras_object`` writes it."""
    keras_class = _keras_class(layer, where)
    spec = KERAS_CLASSES[keras_class]
    config = _layer_config(layer, keras_class, input_shape, dtype, where)
    config.update(overrides or {})
    entry = {"module": spec.module, "class_name": keras_class, "config": config,
             "registered_name": spec.registered_name}
    build = _build_config(spec, input_shape) if with_build else None
    if build is not None:
        entry["build_config"] = build
    return entry


def _build_config(spec: KerasClass, input_shape: Any) -> dict | None:
    """What ``get_build_config`` writes: the shapes ``build`` was called with."""
    if spec.build is None or input_shape is None:
        return None
    shapes = [list(shape) for shape in input_shape] if _is_shape_list(input_shape) else None
    if spec.build == "attention":
        shapes = shapes or [list(input_shape)]
        if len(shapes) == 1:
            shapes = shapes * 2  # self-attention: Keras calls it with (x, x)
        names = ("query_shape", "value_shape", "key_shape")
        return {"shapes_dict": dict(zip(names, shapes))}
    if spec.build == "recurrent" and shapes is not None:
        if len(shapes) == 1:
            return {"input_shape": shapes[0]}
        return {"shapes_dict": {"sequences_shape": shapes[0], "initial_state_shape": shapes[1:]}}
    return {"input_shape": shapes if shapes is not None else list(input_shape)}


def _is_shape_list(shape: Any) -> bool:
    """Whether ``shape`` is a list of shapes (a layer taking several inputs)."""
    return isinstance(shape, list) and bool(shape) and isinstance(shape[0], (list, tuple))


def _keras_activation(value: Any, where: str):
    """An activation as ``activations.serialize`` writes it: a name, or a
    registered function's entry."""
    from .activations import BoundActivation

    if value is None:
        return "linear"
    if isinstance(value, str):
        return KERAS_ACTIVATION_NAMES.get(value, value)
    shown = value.identifier if isinstance(value, BoundActivation) else value
    for registered, module in _REGISTERED_MODULES.items():
        if shown == REGISTERED_ACTIVATIONS[registered]:  # activations.serialize of a registered function
            return {"module": module, "class_name": "function", "config": registered, "registered_name": registered}
    raise _refuse(f"{where}: activation {_shown(_json(shown) if not callable(shown) else repr(shown))} has no Keras "
                  "config form: Keras saves an activation by its name, without arguments (a LeakyReLU, ReLU or ELU "
                  "layer holds some)")


def _keras_initializer(value: Any, where: str) -> dict:
    """An initializer as ``initializers.serialize`` writes it: Keras's class
    and its whole config."""
    from . import initializers
    from .errors import ArgumentError

    try:
        initializer = initializers.get(value)
    except ArgumentError as error:
        raise _refuse(f"{where}: {error.message}") from None
    keras = _INITIALIZER_CLASSES.get(getattr(initializer, "name", None))
    if keras is None or not isinstance(initializer, initializers.Initializer):
        raise _refuse(f"{where}: initializer {value!r} has no Keras config form")
    ours = initializer.config()
    config = {key: ours.get(key) for key in INITIALIZERS[keras][1]}
    return {"module": "keras.initializers", "class_name": keras, "config": config, "registered_name": None}


def _json(value: Any):
    """A value as JSON data: tuples as lists, NumPy scalars as numbers."""
    if isinstance(value, (list, tuple)):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json(item) for key, item in value.items()}
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


# --------------------------------------------------------------------------
# import: writing the spec


def spec_from_config(config: dict, name: str | None = None) -> tuple[str, list[KerasLayerInfo]]:
    """A Keras model config as spec text, and what the spec calls each layer.

    Args:
        config: the model's config as ``config.json`` holds it (``{"module",
            "class_name": "Sequential"|"Functional", "config": {...}}``),
            a Keras 2 ``model_config``, or ``model.to_json()`` parsed.
        name: the spec's ``name`` (default: the model's).

    Returns:
        ``(spec text, infos)``: the spec reads like a hand-written one (a
        chain is a plain list, names and arguments are written only where
        they differ from layerspec's automatic ones and defaults, a nested
        model is a block named as the model, shared by nested models written
        alike); ``infos`` has one
        :class:`KerasLayerInfo` per entry of the config's ``layers`` lists,
        in order, nested models' entries right after the model's own.

    Raises:
        KerasConfigError: for anything layerspec cannot read, naming the
            layer and its place: ``layers[3] 'conv2d_1' (Conv2D): argument
            'groups' ...``.
    """
    reader = _Reader()
    top = reader.model(config)
    dtype = _model_dtype(reader.policies)
    title = name if name is not None else top.name
    try:
        return _Writer(explicit=False).write(top, dtype, title)
    except _NamesDiffer:
        # Every name written out: longer, but the same model.
        return _Writer(explicit=True).write(top, dtype, title)


def _model_dtype(policies: list[tuple[str, str]]) -> str:
    """float64 when every layer computes in it, float32 when all do in that."""
    names = {name for name, _ in policies}
    if len(names) > 1:
        odd = next(where for name, where in policies if name != policies[0][0])
        raise _refuse(f"{odd}: its dtype policy differs from the other layers' ({policies[0][0]}); a layerspec "
                      "model computes in one dtype")
    return names.pop() if names else "float32"


class _NamesDiffer(Exception):
    """An automatic name layerspec would give is not the one expected."""


class _StandIn:
    """Marks a nested model's application in its container's graph."""


def _stand_in(name: str, block: "_Block"):
    """A layer standing for a nested model in its container's graph, so that
    :mod:`layerspec.writing` writes its entry (then given the block's type)."""
    from .layers.base import Layer

    class NestedModel(Layer, _StandIn):
        """The nested model, as a layer of its container."""

        takes_several_inputs = block.inputs > 1
        accepts_single_input = False
        output_names = block.output_names

    layer = NestedModel(name=name)
    layer.block_name = block.name
    return layer


#: Keras's automatic input names (Keras 3 ``input_layer``, Keras 2 ``input_1``).
_AUTO_INPUT = re.compile(r"input(_layer)?(_\d+)?\Z")


def _is_auto_input(kmodel: _KModel) -> bool:
    """Whether a one-input model's input has the name Keras gives an unnamed
    one: ``input_layer`` (Keras 3), ``input_1`` (Keras 2), or in a Keras 2
    Sequential its first layer's name and ``_input``."""
    name = kmodel.inputs[0].keras_name
    if _AUTO_INPUT.match(name):
        return True
    first = next((entry for entry in kmodel.entries if isinstance(entry, _KLayer)), None)
    return kmodel.kind == "Sequential" and first is not None and name == f"{first.keras_name}_input"


@dataclass
class _Block:
    """A nested model written as a block."""

    name: str
    inputs: int
    output_names: list | None


class _Writer:
    """Writes a read config as a spec: each model (the top one and each
    nested one) built as a layerspec model and written by
    :func:`layerspec.writing.spec_document`."""

    def __init__(self, explicit: bool):
        #: Write every name (when the automatic names would differ).
        self.explicit = explicit
        self.blocks: dict[str, dict] = {}
        self.infos: list[KerasLayerInfo] = []

    def write(self, top: _KModel, dtype: str, title: str) -> tuple[str, list[KerasLayerInfo]]:
        """The spec text of the top model, checked by loading it, and the infos."""
        document, _ = self._model(top, dtype, (), title)
        text = _text(document, self.blocks)
        _verify(text, self.infos, self.explicit)
        return text, self.infos

    # -- one model ------------------------------------------------------------
    def _model(self, kmodel: _KModel, dtype: str, path: tuple, title: str | None) -> tuple[dict, object]:
        """One model (``path``: the nested models it sits in) as a spec document, and the model written."""
        from .graph import Graph, GraphInput, Node
        from .model import Model
        from .writing import spec_document

        top = not path
        prefix = "".join(f"{part}/" for part in path)
        self._name_inputs(kmodel, top)
        prepared: dict[_KLayer, Any] = {}
        for entry in kmodel.entries:
            if isinstance(entry, _KInput):
                self.infos.append(KerasLayerInfo("InputLayer", entry.keras_name, prefix + entry.name, path))
                continue
            self.infos.append(KerasLayerInfo(entry.keras_class, entry.keras_name, prefix + entry.keras_name, path,
                                             entry.module))
            if entry.kind == "model":
                prepared[entry] = self._block(entry, dtype, path + (entry.keras_name,))
            else:
                prepared[entry] = _minimal_arguments(entry)
        names = self._names(kmodel, prepared)
        objects = {entry: self._construct(entry, prepared[entry], names) for entry in prepared}
        inputs = [GraphInput(item.name, item.shape, item.dtype) for item in kmodel.inputs]
        position = {item: index for index, item in enumerate(kmodel.inputs)}
        first: dict[_KLayer, Node] = {}
        nodes = []
        for call in kmodel.calls:
            node = Node(objects[call.layer], tuple(self._source(source, position)
                                                  for source in call.sources))
            if call.number:
                node.reuses = first[call.layer]
            else:
                first[call.layer] = node
            nodes.append(node)
            position[(call.layer, call.number)] = len(inputs) + len(nodes) - 1
        outputs = [self._source(source, position) for source in kmodel.outputs]
        graph = Graph(inputs, nodes, outputs)
        chain = _is_chain(graph)
        plain_input = top and chain and len(inputs) == 1 and inputs[0].name == "input" and inputs[0].dtype is None
        model = Model(graph=graph, name=title or kmodel.name, dtype=dtype, is_graph=not plain_input)
        self._check_names(model, kmodel, names, objects)
        document = spec_document(model)
        self._patch_stand_ins(document, model)
        if top and not plain_input and set(document.get("inputs", {})) == {"input"} and \
                not isinstance(document["inputs"]["input"], dict):
            document = _replace_key(document, "inputs", "input", document["inputs"]["input"])
        return document, model

    def _name_inputs(self, kmodel: _KModel, top: bool) -> None:
        """Model inputs keep their Keras names, but for Keras's automatic
        name of a one-input model (``input``, as ``input:`` names it) and a
        nested model's one input (a block's ``in``)."""
        from .blocks import BLOCK_INPUT

        for item in kmodel.inputs:
            item.name = item.keras_name
        if len(kmodel.inputs) == 1:
            if not top:
                kmodel.inputs[0].name = BLOCK_INPUT
            elif _is_auto_input(kmodel):
                kmodel.inputs[0].name = "input"

    @staticmethod
    def _source(source: tuple, position: dict):
        """A call's source as a graph source: a tensor number, or ``(tensor, output)``."""
        producer, number, output = source
        tensor = position[producer] if isinstance(producer, _KInput) else position[(producer, number)]
        return (tensor, output) if output else tensor

    # -- names ----------------------------------------------------------------
    def _names(self, kmodel: _KModel, prepared: dict) -> dict:
        """Each layer's (and wrapped layer's) name to write, or None where
        layerspec's automatic name is the Keras one. Numbered as a model
        numbers its layers: per type, in the order of first use, wrapped
        layers before their wrapper (:mod:`layerspec.naming`)."""
        from .layers.base import snake_case
        from .registry import lookup

        counters: dict[str, int] = {}
        written: dict = {}

        def decide(key, layer_class: type, wanted: str):
            """Write ``wanted``, or leave it to the counter when it is the next automatic name."""
            base = snake_case(layer_class.__name__)
            count = counters.get(base, 0)
            automatic = base if count == 0 else f"{base}_{count}"
            if wanted == automatic and not self.explicit:
                counters[base] = count + 1
                written[key] = None
            else:
                written[key] = wanted

        for call in kmodel.calls:
            layer = call.layer
            if call.number or layer.kind == "model":
                continue
            _, arguments = prepared[layer]
            for argument in ("layer", "backward_layer"):
                mapping = arguments.get(argument)
                if isinstance(mapping, dict) and isinstance(mapping.get("name"), str):
                    decide((layer, argument), lookup(mapping["type"]), mapping["name"])
            decide(layer, layer.our_class, layer.keras_name)
        return written

    def _construct(self, entry: _KLayer, prepared, names: dict):
        """The layer object of an entry (a stand-in for a nested model)."""
        from .errors import LayerspecError as Error

        if entry.kind == "model":
            return _stand_in(entry.keras_name, prepared)
        layer_class, arguments = prepared
        arguments = dict(arguments)
        for argument in ("layer", "backward_layer"):
            mapping = arguments.get(argument)
            if isinstance(mapping, dict):
                mapping = {key: value for key, value in mapping.items() if key != "name"}
                if names.get((entry, argument)):
                    mapping["name"] = names[(entry, argument)]
                arguments[argument] = mapping
        if names.get(entry):
            arguments["name"] = names[entry]
        try:
            return layer_class(**arguments)
        except Error as error:
            raise _refuse(f"{entry.where}: {error.message}") from None

    def _check_names(self, model, kmodel: _KModel, names: dict, objects: dict) -> None:
        """The names layerspec gave are the Keras ones (else the caller
        writes every name)."""
        for entry, layer in objects.items():
            if entry.kind == "model":
                continue
            if layer.name != entry.keras_name:
                raise _NamesDiffer
            for argument in ("layer", "backward_layer"):
                key = (entry, argument)
                if key in names:
                    wanted = entry.arguments[argument]["name"]
                    if getattr(layer, argument).name != wanted:
                        raise _NamesDiffer

    # -- nested models ------------------------------------------------------------
    def _block(self, entry: _KLayer, dtype: str, path: tuple) -> _Block:
        """Write a nested model as a block, named as the model where it can
        be; nested models written alike share one block."""
        document, model = self._model(entry.nested, dtype, path, None)
        definition: dict[str, Any] = {}
        if len(model.input_names) > 1:
            definition["inputs"] = list(model.input_names)
        definition["layers"] = document["layers"]
        outputs = model.output_names
        if "outputs" in document or len(outputs) > 1:
            definition["outputs"] = document.get("outputs", list(outputs))
        name = next((known for known, written in self.blocks.items() if written == definition), None)
        if name is None:
            name = self._block_name(entry.keras_name)
            self.blocks[name] = definition
        return _Block(name, len(model.input_names), list(outputs) if len(outputs) > 1 else None)

    def _block_name(self, wanted: str) -> str:
        """A free block name like ``wanted``: an identifier, no layer type,
        not ``in``; a second block wanted under one name is ``name_v2``."""
        from .blocks import BLOCK_INPUT
        from .registry import lookup

        base = re.sub(r"\W", "_", wanted)
        if not base or base[0].isdigit():
            base = "m_" + base
        candidate, number = base, 1
        while True:
            taken = candidate in self.blocks or candidate == BLOCK_INPUT
            if not taken:
                try:
                    lookup(candidate)
                    taken = True
                except LayerspecError:
                    pass
            if not taken:
                return candidate
            number += 1
            candidate = f"{base}_v{number}"

    @staticmethod
    def _patch_stand_ins(document: dict, model) -> None:
        """A nested model's entry: ``type:`` its block, ``name:`` only where
        the application's automatic name is not the model's (an unnamed
        application is named after its block, numbered per block:
        blocks.py ``_name_entries``)."""
        layers = document["layers"]
        offset = len(layers) - len(model.nodes)
        counters: dict[str, int] = {}
        for node in model.nodes:
            if not isinstance(node.layer, _StandIn) or node.reuses is not None:
                continue
            entry = layers[offset + node.index]
            block = node.layer.block_name
            count = counters.get(block, 0)
            automatic = entry.get("name") == (block if count == 0 else f"{block}_{count}")
            if automatic:
                counters[block] = count + 1
            patched = {"type": block}
            patched.update((key, value) for key, value in entry.items()
                           if key != "type" and not (key == "name" and automatic))
            layers[offset + node.index] = patched


def _replace_key(document: dict, old: str, new: str, value: Any) -> dict:
    """``document`` with key ``old`` renamed ``new`` in place, holding ``value``."""
    return {(new if key == old else key): (value if key == old else item) for key, item in document.items()}


def _is_chain(graph) -> bool:
    """Whether every node reads the one above it (the first, the one input),
    none reuses a layer and the last is the one output."""
    if len(graph.inputs) != 1 or not graph.nodes:
        return False
    for node in graph.nodes:
        expected = graph.tensor_of(node) - 1 if node.index else 0
        if node.reuses is not None or node.sources != (expected,):
            return False
    return graph.outputs == (graph.tensor_of(graph.nodes[-1]),)


def _minimal_arguments(entry: _KLayer) -> tuple[type, dict]:
    """``(class, arguments)`` with every argument dropped whose layerspec
    default gives the same Keras config (``strides`` equal to
    ``pool_size``, ``activation: linear``...)."""
    arguments = dict(entry.arguments)
    for argument in ("layer", "backward_layer"):
        mapping = arguments.get(argument)
        if isinstance(mapping, dict):
            arguments[argument] = _minimal_mapping(mapping)
    if "backward_layer" in arguments and isinstance(arguments.get("layer"), dict) and \
            _is_default_backward(arguments["layer"], arguments["backward_layer"]):
        del arguments["backward_layer"]
    keras_class = entry.our_class.__name__
    return entry.our_class, _minimise(entry.our_class, keras_class, arguments, entry.shape)


def _minimal_mapping(mapping: dict) -> dict:
    """A wrapped layer's mapping with its default arguments dropped."""
    from .registry import lookup

    mapping = dict(mapping)
    shape = mapping.pop("__shape__", None)
    name = mapping.pop("name", None)
    layer_class = lookup(mapping["type"])
    arguments = {key: value for key, value in mapping.items() if key != "type"}
    minimal = {"type": mapping["type"], **_minimise(layer_class, layer_class.__name__, arguments, shape)}
    if name is not None:
        minimal["name"] = name
    return minimal


def _is_default_backward(layer: dict, backward: dict | None) -> bool:
    """Whether ``backward_layer`` is the one Keras's Bidirectional makes from
    ``layer`` (bidirectional.py: its config, going backwards, renamed)."""
    if backward is None:
        return True
    made = dict(layer)
    made["go_backwards"] = not layer.get("go_backwards", False)
    if not made["go_backwards"]:
        del made["go_backwards"]
    made["name"] = "backward_" + str(layer.get("name", "")).removeprefix("backward_")
    return made == backward


def _minimise(layer_class: type, keras_class: str, arguments: dict, shape: Any) -> dict:
    """``arguments`` without those whose removal leaves the Keras config of
    the layer (built for ``shape``) as it is."""
    from .errors import LayerspecError as Error

    if keras_class not in KERAS_CLASSES:
        return arguments

    def exported(trial: dict):
        """The Keras config of the layer made with ``trial``, its name left out."""
        layer = layer_class(**trial)
        config = _layer_config(layer, keras_class, shape, "float32", "")
        del config["name"]
        return config

    try:
        target = exported(arguments)
    except Error:
        return arguments
    keys = KERAS_CLASSES[keras_class].keys
    result = dict(arguments)
    for key in list(arguments):
        if key not in keys:
            continue
        trial = {name: value for name, value in result.items() if name != key}
        try:
            if exported(trial) == target:
                result = trial
        except Error:
            continue
    return result


def _text(document: dict, blocks: dict) -> str:
    """The spec as :func:`layerspec.writing.to_yaml` writes one (one layer
    per line), with the blocks nested models became after its name."""
    from .writing import _dump_flow

    lines = []
    for key, value in document.items():
        if key == "layers":
            lines.append("layers:")
            lines.extend(f"  - {_dump_flow(entry)}" for entry in value)
        elif isinstance(value, dict):
            lines.append(f"{key}:")
            lines.extend(f"  {_dump_flow(name)}: {_dump_flow(shape)}" for name, shape in value.items())
        else:
            lines.append(f"{key}: {_dump_flow(value)}")
        if key == "name" and blocks:
            lines.append("blocks:")
            for name, definition in blocks.items():
                lines.append(f"  {name}:")
                for part, content in definition.items():
                    if part == "layers":
                        lines.append("    layers:")
                        lines.extend(f"      - {_dump_flow(entry)}" for entry in content)
                    else:
                        lines.append(f"    {part}: {_dump_flow(content)}")
    return "\n".join(lines) + "\n"


def _verify(text: str, infos: list[KerasLayerInfo], explicit: bool) -> None:
    """Load the written spec: it must build (when its input shapes are known)
    and give each layer the name the infos promise."""
    from .api import loads
    from .errors import LayerspecError as Error

    try:
        model = loads(text)
    except Error as error:
        raise KerasConfigError(f"the model reads, but layerspec cannot build it: {error}") from None
    made = {node.name for node in model.nodes} | set(model.input_names)
    promised = {info.our_name for info in infos if info.keras_class not in ("InputLayer", *MODEL_CLASSES)}
    if not promised <= made:
        if not explicit:
            raise _NamesDiffer
        missing = sorted(promised - made)
        raise KerasConfigError(f"internal error: the written spec has no layer {missing[0]!r}")


# --------------------------------------------------------------------------
# export: a built model as Keras's config


def config_from_model(model) -> dict:
    """The Keras 3 config (``config.json``) of a built layerspec model.

    A chain with one input is a ``Sequential`` (its ``InputLayer`` first, as
    Keras writes it), any other graph a ``Functional`` model. Each block
    application (``residual_1/conv2d``) becomes a nested model named after
    the application, so Keras's variable paths
    (``residual_1/conv2d/kernel``) are layerspec's weight keys; a block
    application applied again (``reuse``) calls the same nested model again.

    Raises:
        KerasConfigError: for a model whose input shape is unknown, a layer
            Keras has no class for, or an argument Keras cannot hold (an
            activation with arguments, ELU's alpha), naming the layer.
    """
    if not model.built:
        raise KerasConfigError(f"model '{model.name}' is not built: its input shape is needed to write a Keras "
                               "model (give 'input' in the spec, or --input-shape)")
    exporter = _Exporter(model)
    return exporter.model_entry(exporter.tree(), None)


@dataclass(eq=False)
class _Container:
    """The top model, or one block application written as a nested model."""

    path: str  # "" at the top, else the application's path ("stage/projection_block")
    items: list = field(default_factory=list)  # Node or _Container, in order
    inputs: list = field(default_factory=list)  # tensors read from outside
    outputs: list = field(default_factory=list)  # tensors read outside, or model outputs
    original: "_Container | None" = None  # for a block applied again: the application it repeats
    repeats: list = field(default_factory=list)  # the applications repeating this one

    @property
    def name(self) -> str:
        """The application's own name (the last part of its path)."""
        return self.path.rsplit("/", 1)[-1]

    def nodes(self) -> list:
        """Every node inside, nested applications' too, in order."""
        found = []
        for item in self.items:
            found.extend(item.nodes() if isinstance(item, _Container) else [item])
        return found


class _Exporter:
    """Writes a built model's config, one container (model) at a time."""

    def __init__(self, model):
        self.model = model
        self.graph = model.graph
        self.dtype = model.dtype

    # -- the containers ----------------------------------------------------------
    def tree(self) -> _Container:
        """The top container, block applications nested in it as they nest."""
        top = _Container("")
        open_ = [top]
        for node in self.graph.nodes:
            paths = [application for application, _ in node.scope]
            depth = 0
            while depth < len(paths) and depth + 1 < len(open_) and open_[depth + 1].path == paths[depth]:
                depth += 1
            del open_[depth + 1:]
            for path in paths[depth:]:
                container = _Container(path)
                open_[-1].items.append(container)
                open_.append(container)
            open_[-1].items.append(node)
        self._find_repeats(top)
        top.inputs = list(range(len(self.graph.inputs)))
        top.outputs = list(self.graph.outputs)
        nested = self._all(top)[1:]
        for container in nested:
            self._boundaries(container)
        for container in nested:  # an output of a repeat is the original's output at the same place
            for repeat in container.repeats:
                for source in repeat.outputs:
                    twin = self._twin(source, repeat, container)
                    if twin not in container.outputs:
                        container.outputs.append(twin)
            container.outputs.sort(key=_source_order)
        return top

    def _all(self, container: _Container) -> list:
        """``container`` and every container inside it."""
        found = [container]
        for item in container.items:
            if isinstance(item, _Container):
                found.extend(self._all(item))
        return found

    def _boundaries(self, container: _Container) -> None:
        """A container's inputs (what its nodes read from outside, in order)
        and outputs (what is read of it outside, or is a model output)."""
        from .graph import split_source

        inside = set(container.nodes())
        made = {self.graph.tensor_of(node) for node in inside}
        inputs, outputs = [], []
        for node in self.graph.nodes:
            for source in node.sources:
                if node in inside and split_source(source)[0] not in made and source not in inputs:
                    inputs.append(source)
                if node not in inside and split_source(source)[0] in made and source not in outputs:
                    outputs.append(source)
        outputs += [source for source in self.graph.outputs
                    if split_source(source)[0] in made and source not in outputs]
        container.inputs = inputs
        container.outputs = sorted(outputs, key=_source_order)

    def _twin(self, source, repeat: _Container, original: _Container):
        """The source at the same place in ``original`` as ``source`` in ``repeat``."""
        from .graph import split_source

        tensor, index = split_source(source)
        node = original.nodes()[repeat.nodes().index(self.graph.producer(tensor))]
        twin = self.graph.tensor_of(node)
        return twin if index is None else (twin, index)

    def _find_repeats(self, container: _Container) -> None:
        """A block application applied again has only reuse nodes, each
        repeating the node at its place in one earlier application."""
        for item in container.items:
            if not isinstance(item, _Container):
                continue
            nodes = item.nodes()
            if nodes and all(node.reuses is not None for node in nodes):
                originals = [node.reuses for node in nodes]
                owner = next((other for other in self._all(container)
                              if other is not item and other.nodes() == originals), None)
                if owner is None:
                    raise _refuse(f"{_label(nodes[0])}: a block applied again must repeat one application of it, "
                                  "layer for layer, to be written as a Keras nested model called twice")
                item.original = owner
                owner.repeats.append(item)
            else:
                self._find_repeats(item)

    # -- names and references -------------------------------------------------------
    def local(self, node, container: _Container) -> str:
        """A layer's name inside its container (its path cut off)."""
        layer = node.reuses.layer if node.reuses is not None else node.layer
        prefix = container.path + "/" if container.path else ""
        if not layer.name.startswith(prefix):
            raise _refuse(f"{_label(node)}: it reuses layer '{layer.name}' of another block application; Keras "
                          "cannot share a layer between nested models")
        return layer.name[len(prefix):]

    def tensor_shape(self, source) -> list:
        """A tensor's full shape, batch axis first, as JSON data."""
        from .graph import GraphInput, split_source

        tensor, index = split_source(source)
        producer = self.graph.producer(tensor)
        if isinstance(producer, GraphInput):
            return [None, *producer.shape]
        shape = producer.output_shape if index is None else producer.output_shape[index]
        return _json(shape)

    def tensor_dtype(self, source) -> str:
        """A tensor's dtype: an integer input's own, else the model's."""
        from .graph import GraphInput, split_source

        producer = self.graph.producer(split_source(source)[0])
        if isinstance(producer, GraphInput):
            return producer.dtype or self.dtype
        return self.dtype

    def history(self, source, container: _Container, input_names: list) -> list:
        """``[layer, node, tensor]`` of a tensor as seen inside ``container``."""
        from .graph import split_source

        tensor, index = split_source(source)
        for position, item in enumerate(container.inputs):
            if item == source or split_source(item)[0] == tensor and split_source(item)[1] == index:
                return [input_names[position], 0, 0]
        node = self.graph.producer(tensor)
        child = self._child(container, node)
        if not isinstance(child, _Container):
            layer = node.reuses.layer if node.reuses is not None else node.layer
            calls = [other for other in container.items if not isinstance(other, _Container) and
                     (other.reuses.layer if other.reuses is not None else other.layer) is layer]
            return [self.local(node, container), calls.index(node), index or 0]
        owner = child.original or child
        call = 0 if child.original is None else owner.repeats.index(child) + 1
        offset = 0 if self._is_sequential(owner) else 1  # functional.py: a nested Functional counts from 1
        twin = source if child is owner else self._twin(source, child, owner)
        return [owner.name, call + offset, owner.outputs.index(twin)]

    def _child(self, container: _Container, node):
        """The item of ``container`` (a node or a nested container) holding ``node``."""
        for item in container.items:
            if item is node or (isinstance(item, _Container) and node in item.nodes()):
                return item
        raise _refuse(f"{_label(node)}: internal error: no container holds it")

    def keras_tensor(self, source, container: _Container, input_names: list) -> dict:
        """A tensor as a node's argument: ``__keras_tensor__`` with its history."""
        return {"class_name": "__keras_tensor__",
                "config": {"shape": self.tensor_shape(source), "dtype": self.tensor_dtype(source),
                           "keras_history": self.history(source, container, input_names)}}

    # -- Sequential or Functional ------------------------------------------------------
    def _is_sequential(self, container: _Container) -> bool:
        """A chain: one input, each item reading the one above (the first, the
        input) and only that, the last the one output, nothing applied twice,
        and no layer Keras calls with more than a tensor."""
        cached = getattr(container, "_sequential", None)
        if cached is not None:
            return cached
        result = self._chain(container)
        container._sequential = result
        return result

    def _chain(self, container: _Container) -> bool:
        """See :meth:`_is_sequential`."""
        from .graph import split_source

        if len(container.inputs) != 1 or container.original is not None:
            return False
        previous = container.inputs[0]
        for item in container.items:
            if isinstance(item, _Container):
                if item.original is not None or item.repeats or len(item.inputs) != 1 or len(item.outputs) != 1 \
                        or item.inputs[0] != previous:
                    return False
                previous = item.outputs[0]
                continue
            layer = item.layer
            if item.reuses is not None or len(item.sources) != 1 or item.sources[0] != previous or \
                    getattr(layer, "output_names", None):
                return False
            keras_class = type(layer).__name__
            spec = KERAS_CLASSES.get(keras_class)
            if spec is None or spec.call in ("attention", "list") or getattr(layer, "use_causal_mask", False):
                return False
            previous = self.graph.tensor_of(item)
        outputs = container.outputs
        return len(outputs) == 1 and split_source(outputs[0])[0] == split_source(previous)[0]

    # -- writing ----------------------------------------------------------------------
    def model_entry(self, container: _Container, parent: _Container | None) -> dict:
        """A container's config: the whole model's, or a nested model's entry."""
        if self._is_sequential(container):
            return self._sequential(container, parent)
        return self._functional(container, parent)

    def _input_names(self, container: _Container) -> list:
        """The names of a container's InputLayers: the model's inputs' (Keras's ``input_layer`` for
        ``input``), else ``input_layer``, ``input_layer_1``..."""
        taken = {self.local(node, container) for node in container.items if not isinstance(node, _Container)}
        taken |= {item.name for item in container.items if isinstance(item, _Container)}
        if not container.path:
            names = list(self.model.input_names)
            if names == ["input"] and "input_layer" not in taken:
                names = ["input_layer"]  # Keras's automatic name; `input:` in a spec
            return names
        names, number = [], 0
        for _ in container.inputs:
            while (candidate := "input_layer" if number == 0 else f"input_layer_{number}") in taken:
                number += 1
            names.append(candidate)
            number += 1
        return names

    def _input_layer(self, source, name: str) -> dict:
        """An ``InputLayer`` entry for a tensor."""
        dtype = self.tensor_dtype(source)
        return {"module": "keras.layers", "class_name": "InputLayer",
                "config": {"batch_shape": self.tensor_shape(source), "dtype": dtype, "sparse": False,
                           "ragged": False, "name": name, "optional": False},
                "registered_name": None}

    def _sequential(self, container: _Container, parent: _Container | None) -> dict:
        """A chain as Keras's Sequential config."""
        names = self._input_names(container)
        source = container.inputs[0]
        layers = [self._input_layer(source, names[0])]
        for item in container.items:
            if isinstance(item, _Container):
                layers.append(self.model_entry(item, container))
            else:
                layers.append(self._layer_entry(item, container, names, functional=False))
        shape = self.tensor_shape(source)
        config = {"name": container.name or self.model.name, "trainable": True, "dtype": _policy(self.dtype),
                  "layers": layers, "build_input_shape": shape}
        entry = {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None,
                 "build_config": {"input_shape": shape}}
        return self._called(entry, container, parent)

    def _functional(self, container: _Container, parent: _Container | None) -> dict:
        """A graph as Keras's Functional config."""
        names = self._input_names(container)
        layers = []
        for source, name in zip(container.inputs, names):
            entry = self._input_layer(source, name)
            entry.update({"name": name, "inbound_nodes": []})
            layers.append(entry)
        for item in container.items:
            if isinstance(item, _Container):
                if item.original is None:
                    layers.append(self.model_entry(item, container))
            elif item.reuses is None:
                layers.append(self._layer_entry(item, container, names, functional=True))
        inputs = [[name, 0, 0] for name in names]
        outputs = [self.history(source, container, names) for source in container.outputs]
        config = {"name": container.name or self.model.name, "trainable": True, "layers": layers,
                  "input_layers": inputs[0] if len(inputs) == 1 else inputs,
                  "output_layers": outputs[0] if len(outputs) == 1 else outputs}
        entry = {"module": "keras.src.models.functional", "class_name": "Functional", "config": config,
                 "registered_name": "Functional", "build_config": {"input_shape": None}}
        return self._called(entry, container, parent)

    def _called(self, entry: dict, container: _Container, parent: _Container | None) -> dict:
        """A nested model's entry in a Functional parent: its name and calls."""
        if parent is None or self._is_sequential(parent):
            return entry
        parent_names = self._input_names(parent)
        calls = []
        for application in [container, *container.repeats]:
            tensors = [self.keras_tensor(source, parent, parent_names) for source in application.inputs]
            argument = tensors[0] if len(tensors) == 1 else tensors
            calls.append({"args": [argument], "kwargs": {"mask": None if len(tensors) == 1 else [None] * len(tensors)}})
        entry["name"] = container.name
        entry["inbound_nodes"] = calls
        return entry

    def _layer_entry(self, node, container: _Container, input_names: list, functional: bool) -> dict:
        """A layer's entry: its serialized config and, in a Functional model, its calls."""
        where = _label(node)
        layer = node.layer
        entry = _serialized(layer, node.input_shape, self.dtype, where)
        entry["config"]["name"] = self.local(node, container)
        if functional:
            applications = [node] + [other for other in container.items if not isinstance(other, _Container)
                                     and other.reuses is node]
            entry["name"] = entry["config"]["name"]
            entry["inbound_nodes"] = [self._node_data(application, container, input_names)
                                      for application in applications]
        return entry

    def _node_data(self, node, container: _Container, input_names: list) -> dict:
        """The arguments Keras records for one call (layer.py ``__call__``):
        the tensors as its call takes them, then ``training`` where its call
        has a default, then ``mask: null`` for a call with one tensor argument."""
        layer = node.layer
        spec = KERAS_CLASSES[type(layer).__name__]
        tensors = [self.keras_tensor(source, container, input_names) for source in node.sources]
        kwargs: dict[str, Any] = {}
        single = True
        if spec.call == "attention":
            args = tensors * 2 if len(tensors) == 1 else tensors
            single = False
        elif spec.call == "list":
            args = [tensors]
        elif spec.call == "recurrent":
            args = tensors[:1]
            if len(tensors) > 1:
                kwargs["initial_state"] = tensors[1:]
                single = False
        else:
            args = tensors
        if getattr(layer, "use_causal_mask", False):
            kwargs["use_causal_mask"] = True
        if spec.training is not None:
            kwargs["training"] = spec.training
        if spec.mask and single:
            kwargs["mask"] = [None] * len(tensors) if spec.call == "list" else None
        return {"args": args, "kwargs": kwargs}


def _source_order(source) -> tuple:
    """Sort key of a source: its tensor, then which of its outputs."""
    from .graph import split_source

    tensor, index = split_source(source)
    return tensor, -1 if index is None else index


def _label(node) -> str:
    """How export messages name a node: ``layer 3 'conv2d_1' (Conv2D)``."""
    from .naming import node_label

    return node_label(node)
