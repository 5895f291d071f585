"""Keras 3 model configs ↔ specs (docs/design.md §10): what both directions use.

Import (:mod:`layerspec.keras_import`) reads a Keras model config into a
spec; export (:mod:`layerspec.keras_export`) writes a built model as the
config Keras would write. This module holds what they share: the tables,
the error they raise, :class:`KerasLayerInfo`, and one layer's Keras config
(which export writes and import compares against).

Both directions read one table per Keras class (:data:`KERAS_CLASSES`): the
keys its ``get_config`` writes, in order (keras/src/layers/*, each class's
``get_config``), whether it writes a ``build_config`` (a class that overrides
``build`` and is not built in ``__init__``, layer.py ``build_wrapper`` and
``_build_at_init``) and how it is called (its ``call`` signature, for the
node arguments Keras records: layer.py ``__call__`` steps 5 and 6). A key
of a class that is no layerspec argument is in :data:`KERAS_ONLY_KEYS`,
with the values layerspec accepts and why it may leave the key out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import LayerspecError


class KerasConfigError(LayerspecError):
    """A Keras model config layerspec cannot read, or a model it cannot write
    as one; the message names the layer and its place in the config."""

    code = "invalid-model"


def refuse(message: str) -> KerasConfigError:
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
#: The accepted values of a key that takes any value (in
#: :data:`KERAS_ONLY_KEYS` and :data:`OURS_ONLY_ARGUMENTS`).
ANY = object()

#: Keras config keys that are no layerspec argument, by key (or by
#: ``(class_name, key)`` for one class): ``(accepted values, the value
#: export writes, why layerspec may leave the key out)``. Accepted values
#: are a tuple, or ``ANY``. Keys ending ``_regularizer`` and
#: ``_constraint`` are :data:`_PENALTY` keys, accepted only null.
KERAS_ONLY_KEYS: dict[Any, tuple[Any, Any, str]] = {
    "quantization_config": ((None,), None, "a quantized layer keeps integer weights layerspec does not read"),
    "lora_rank": ((None,), None, "LoRA adapters are weights layerspec does not read"),
    "lora_alpha": (ANY, None, "LoRA's scale; it only matters with lora_rank, which must be null"),
    "gptq_unpacked_column_size": ((None,), None, "GPTQ-quantized weights are not read by layerspec"),
    "renorm": ((False,), False, "batch renormalization changes only training"),
    "renorm_clipping": (ANY, None, "used only with renorm, which must be false"),
    "renorm_momentum": (ANY, 0.99, "used only with renorm, which must be false"),
    "bounding_box_format": (ANY, None, "bounding boxes are no input of a layerspec model"),
    "hierarchical_alpha": (ANY, None, "keras_hub uses it only past sequence_length, where layerspec refuses the "
                                       "input"),
    ("ConvLSTM1D", "zero_output_for_mask"): ((False,), False, "a ConvLSTM here outputs its last output on masked "
                                                              "steps, as Keras with false"),
    ("ConvLSTM2D", "zero_output_for_mask"): ((False,), False, "as ConvLSTM1D"),
    ("ConvLSTM3D", "zero_output_for_mask"): ((False,), False, "as ConvLSTM1D"),
    ("RandomBrightness", "data_format"): (ANY, "channels_last", "the layer is the identity at inference"),
    ("RandomContrast", "data_format"): (ANY, "channels_last", "the layer is the identity at inference"),
    ("Solarization", "data_format"): (ANY, "channels_last", "the layer is the identity at inference"),
    # Keras 2's keys (legacy .h5 and tf.keras JSON configs).
    "time_major": ((False,), False, "Keras 2's time-major layout; only batch-major (false) is read"),
    "implementation": (ANY, None, "Keras 2's choice of how to schedule the recurrent products: same numbers"),
    "input_length": (ANY, None, "Keras 2 fixed the sequence length here; the model input gives it"),
    "batch_input_shape": (ANY, None, "Keras 2 declared the model input here; it becomes the spec's input"),
    ("MultiHeadAttention", "query_shape"): (ANY, None, "Keras 2 recorded the built shapes here; the wiring gives "
                                                        "them"),
    ("MultiHeadAttention", "key_shape"): (ANY, None, "as query_shape"),
    ("MultiHeadAttention", "value_shape"): (ANY, None, "as query_shape"),
}

#: Layerspec arguments Keras's config has no key for, by ``(class, name)``
#: or by name: the value export accepts (``ANY`` = drop whatever it is),
#: and why.
OURS_ONLY_ARGUMENTS: dict[Any, tuple[Any, str]] = {
    "use_cudnn": (ANY, "a speed choice Keras does not save (rnn.py get_config)"),
    "weights": ((None,), "Keras's Bidirectional does not save initial weights"),
    "use_causal_mask": (ANY, "a call argument in Keras: written in the layer's node"),
    ("SimpleRNN", "seed"): (ANY, "Keras 3.15's SimpleRNN does not save its dropout seed"),
    ("RandomGrayscale", "seed"): (ANY, "Keras 3.15's RandomGrayscale does not save its seed"),
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
# one layer's Keras config (export, and the comparisons import makes)


def policy(dtype: str) -> dict:
    """A layer's ``dtype`` as Keras 3.15 writes it."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}, "registered_name": None}


def _keras_class(layer, where: str) -> str:
    """The Keras class of a layerspec layer (built-in layers only)."""
    name = type(layer).__name__
    if name not in KERAS_CLASSES or not type(layer).__module__.startswith("layerspec."):
        raise refuse(f"{where}: Keras has no layer like layerspec's {name}")
    return name


def layer_config(layer, keras_class: str, input_shape: Any, dtype: str, where: str) -> dict:
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
            raise refuse(f"{where}: argument '{key}' has no place in Keras's {keras_class} config")
        accepted, reason = rule
        if accepted is not ANY and not any(same_value(value, item) for item in accepted):
            raise refuse(f"{where}: argument '{key}' is {shown_value(json_value(value))}, which Keras cannot hold: "
                         f"{reason}")
    config: dict[str, Any] = {"name": layer.name, "trainable": layer.trainable, "dtype": policy(dtype)}
    for key in spec.keys:
        if key in ours:
            config[key] = _keras_value(keras_class, key, ours, layer, input_shape, dtype, where)
        else:
            config[key] = keras_only(keras_class, key)[1]
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
        return json_value(ours["pool_size"])  # base_pooling.py: strides default to pool_size
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
    return json_value(value)


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
        return serialized(inner, sequence, dtype, f"{where} > {key}", overrides)
    inner = getattr(layer, key)
    step = None if sequence is None else (sequence[0], *sequence[2:])
    return serialized(inner, step, dtype, f"{where} > {key}")


def serialized(layer, input_shape: Any, dtype: str, where: str, overrides: dict | None = None,
               with_build: bool = True) -> dict:
    """``{"module", "class_name", "config", "registered_name", "build_config"}``
    of a layer, as ``serialize_keras_object`` writes it."""
    keras_class = _keras_class(layer, where)
    spec = KERAS_CLASSES[keras_class]
    config = layer_config(layer, keras_class, input_shape, dtype, where)
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
    raise refuse(f"{where}: activation {shown_value(json_value(shown) if not callable(shown) else repr(shown))} has "
                 "no Keras config form: Keras saves an activation by its name, without arguments (a LeakyReLU, ReLU "
                 "or ELU layer holds some)")


def _keras_initializer(value: Any, where: str) -> dict:
    """An initializer as ``initializers.serialize`` writes it: Keras's class
    and its whole config."""
    from . import initializers
    from .errors import ArgumentError

    try:
        initializer = initializers.get(value)
    except ArgumentError as error:
        raise refuse(f"{where}: {error.message}") from None
    keras = _INITIALIZER_CLASSES.get(getattr(initializer, "name", None))
    if keras is None or not isinstance(initializer, initializers.Initializer):
        raise refuse(f"{where}: initializer {value!r} has no Keras config form")
    ours = initializer.config()
    config = {key: ours.get(key) for key in INITIALIZERS[keras][1]}
    return {"module": "keras.initializers", "class_name": keras, "config": config, "registered_name": None}


def json_value(value: Any):
    """A value as JSON data: tuples as lists, NumPy scalars as numbers."""
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


# --------------------------------------------------------------------------
# what import uses too: a Keras-only key's entry, values compared and shown


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def keras_only(class_name: str, key: str):
    """The :data:`KERAS_ONLY_KEYS` entry of a key of a class, or None."""
    entry = KERAS_ONLY_KEYS.get((class_name, key), KERAS_ONLY_KEYS.get(key))
    if entry is None and key.endswith(("_regularizer", "_constraint")):
        entry = ((None,), None, _PENALTY)
    return entry


def same_value(a: Any, b: Any) -> bool:
    """Equal as config values: numbers by value (``1`` and ``1.0``), others
    by type and value (``True`` is not ``1``)."""
    if is_number(a) and is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def shown_value(value: Any) -> str:
    """A value in a message, cut short."""
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
