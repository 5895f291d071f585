"""Preprocessing, augmentation and regularization layers as ONNX.

- The noise, dropout, regularization and random augmentation layers act in
  training only: at inference they are the identity (no node).
- Rescaling and Normalization: one multiply and one add (or subtract and
  divide) with their constants.
- CategoryEncoding: ids compared with ``0..num_tokens-1`` (an id outside
  that range gives a row of zeros, as in Keras; layerspec's own forward
  pass refuses it instead).
- Resizing, CenterCrop and RandomCrop resample as Keras 3 with JAX does
  (layerspec's ``resize_images``): half-pixel centres, edge pixels repeated.
  ONNX's Resize (``half_pixel``; ``cubic`` with ``cubic_coeff_a = -0.5`` and
  ``exclude_outside``, which renormalises the weights at the edges as JAX
  does) is exact for bilinear, and for bicubic when enlarging (ONNX
  Runtime's cubic Resize cannot shrink, see :func:`_resample`);
  ``nearest`` gathers the pixels JAX picks, ``floor((i + 0.5) * in /
  out)`` (no Resize rounding mode computes that for every size). Lanczos
  kernels, bicubic shrinking and antialiased bilinear shrinking (whose
  filter ONNX's differs from) multiply by layerspec's own resampling
  matrices, so they need the input's height and width; other sizes unknown
  until run time are computed with Shape arithmetic (CenterCrop's choice
  between cropping and resizing with an If).
- Lambda holds Python code: refused.
"""

from __future__ import annotations

import numpy as np

from ..layers import preprocessing as prep
from ..onnx_builder import GraphBuilder, onnx_type
from . import Conversion, converts

#: The layers that only act in training: the identity at inference.
IDENTITY_LAYERS = (prep.ActivityRegularization, prep.AlphaDropout, prep.GaussianDropout, prep.GaussianNoise,
                   prep.SpatialDropout1D, prep.SpatialDropout2D, prep.SpatialDropout3D, prep.RandomFlip,
                   prep.RandomRotation, prep.RandomZoom, prep.RandomTranslation, prep.RandomContrast,
                   prep.RandomBrightness, prep.RandomGrayscale, prep.RandomHue, prep.RandomSaturation,
                   prep.RandomSharpness, prep.RandomColorDegeneration, prep.RandomInvert, prep.RandomShear,
                   prep.Solarization, prep.CutMix, prep.MixUp)


@converts(*IDENTITY_LAYERS)
def identity(conversion: Conversion) -> str:
    """The input, unchanged: what these layers do at inference."""
    return conversion.x


@converts(prep.Lambda)
def lambda_layer(conversion: Conversion) -> str:
    """Refused: a Lambda's function is Python code."""
    raise conversion.refuse("its function is Python code, which ONNX cannot hold; write it as a plugin layer "
                            "with a converter, or with layers ONNX can express")


# --------------------------------------------------------------------------
# Rescaling, Normalization


@converts(prep.Rescaling)
def rescaling(conversion: Conversion) -> str:
    """``x * scale + offset``, the constants broadcast from the right (an
    offset of 0 is left out)."""
    layer, builder = conversion.layer, conversion.builder
    scale = builder.constant(prep._array_of(layer.scale, builder.dtype), "scale")
    y = builder.op("Mul", [conversion.x, scale])
    offset = prep._array_of(layer.offset, builder.dtype)
    if np.any(offset != 0):
        y = builder.op("Add", [y, builder.constant(offset, "offset")])
    return y


@converts(prep.Normalization)
def normalization(conversion: Conversion) -> str:
    """``(x - mean) / max(sqrt(variance), 1e-7)`` (``invert``: ``mean + x *
    deviation``), the statistics computed as the layer computes them and
    shaped to broadcast over the input."""
    layer, builder = conversion.layer, conversion.builder
    shape = (None,) + tuple(conversion.shape[1:])
    rank = len(shape)

    def statistics():
        return layer._statistics(shape, builder.dtype)

    mean = conversion.derived_weight(f"mean_{rank}d", lambda: statistics()[0])
    deviation = conversion.derived_weight(f"deviation_{rank}d", lambda: statistics()[1])
    if layer.invert:
        return builder.op("Add", [builder.op("Mul", [conversion.x, deviation]), mean])
    return builder.op("Div", [builder.op("Sub", [conversion.x, mean]), deviation])


# --------------------------------------------------------------------------
# CategoryEncoding


@converts(prep.CategoryEncoding)
def category_encoding(conversion: Conversion) -> str:
    """``ids[..., None] == arange(num_tokens)`` as floats (one_hot), summed
    over the ids of a sample (count) or their maximum taken (multi_hot).

    The ids are cast to int64 first (a float id is truncated; layerspec
    refuses one that is not whole). An id outside ``[0, num_tokens)``
    matches nothing: a row of zeros, as in Keras.
    """
    layer, builder = conversion.layer, conversion.builder
    ids = builder.cast(conversion.x, np.int64, hint="ids")
    if layer.output_mode == "one_hot" and len(conversion.shape) > 1 and conversion.shape[-1] == 1:
        ids = builder.squeeze(ids, [-1])  # Keras replaces a last axis of 1 by the one-hot axis
    tokens = builder.constant(np.arange(layer.num_tokens, dtype=np.int64), "tokens")
    hot = builder.to_float(builder.op("Equal", [builder.unsqueeze(ids, [-1]), tokens]), hint="one_hot")
    if layer.output_mode == "one_hot":
        return hot
    if layer.output_mode == "count":
        return builder.reduce("ReduceSum", hot, [1], keepdims=False, hint="count")
    return builder.reduce("ReduceMax", hot, [1], keepdims=False, hint="multi_hot")


# --------------------------------------------------------------------------
# Resizing, CenterCrop, RandomCrop


class _Image:
    """A ``(batch, height, width, channels)`` tensor and its height and
    width: Python ints when known at export, else int64 tensors of one
    element (Shape arithmetic)."""

    def __init__(self, name: str, height, width, channels):
        self.name, self.height, self.width, self.channels = name, height, width, channels

    @property
    def static(self) -> bool:
        return isinstance(self.height, int) and isinstance(self.width, int)


def _image(conversion: Conversion) -> _Image:
    _, height, width, channels = conversion.shape
    image = _Image(conversion.x, height, width, channels)
    if height is None or width is None:
        sizes = conversion.builder.slice(conversion.builder.op("Shape", [conversion.x]), [1], [3], [0],
                                         hint="size")
        heights, widths = conversion.builder.split(sizes, [1, 1], 0, hint="size")
        image.height = heights if height is None else height
        image.width = widths if width is None else width
    return image


@converts(prep.Resizing)
def resizing(conversion: Conversion) -> str:
    """Resizing: crop to the target's aspect ratio (``crop_to_aspect_ratio``)
    or pad towards it (``pad_to_aspect_ratio``), then resample."""
    layer = conversion.layer
    image = _image(conversion)
    if layer.crop_to_aspect_ratio:
        image = _aspect_crop(conversion.builder, image, layer.height, layer.width)
    elif layer.pad_to_aspect_ratio:
        image = _aspect_pad(conversion, image)
    return _resample(conversion, image, layer.height, layer.width, layer.interpolation, layer.antialias)


@converts(prep.RandomCrop)
def random_crop(conversion: Conversion) -> str:
    """RandomCrop at inference: Keras's ``smart_resize`` (the largest centred
    window with the target's aspect ratio, resized bilinearly)."""
    layer = conversion.layer
    return _smart_resize(conversion, _image(conversion), layer.height, layer.width)


@converts(prep.CenterCrop)
def center_crop(conversion: Conversion) -> str:
    """CenterCrop: the centre window of an image at least the target's size
    on both axes, else ``smart_resize``. Where that depends on sizes known
    only at run time, an If chooses."""
    layer, builder = conversion.layer, conversion.builder
    height, width = layer.height, layer.width
    image = _image(conversion)
    fits = [_at_least(builder, size, target) for size, target in ((image.height, height), (image.width, width))]
    if False in fits:
        return _smart_resize(conversion, image, height, width)
    if all(fit is True for fit in fits):
        return _centre_window(builder, image, height, width)
    flags = [fit for fit in fits if fit is not True]
    condition = flags[0] if len(flags) == 1 else builder.op("And", flags)
    branches = {}
    for key, make in (("then_branch", lambda child: _centre_window(child, image, height, width)),
                      ("else_branch", lambda child: _smart_resize(conversion, image, height, width, child))):
        child = builder.subgraph()
        result = make(child)
        branches[key] = _branch_graph(child, result, key, (None, height, width, image.channels))
    return builder.op("If", [condition], hint="cropped", **branches)


def _at_least(builder: GraphBuilder, size, target: int):
    """``size >= target``: a bool when ``size`` is known, else a bool tensor."""
    if isinstance(size, int):
        return size >= target
    return builder.op("Not", [builder.op("Less", [size, builder.ints([target])])])


def _branch_graph(child: GraphBuilder, result: str, name: str, shape: tuple):
    """The GraphProto of an If branch whose one output is ``result``."""
    from onnx import helper

    if not any(result in node.outputs for node in child.nodes):  # an output must be made in the branch
        result = child.op("Identity", [result])
    output = helper.make_tensor_value_info(result, onnx_type(child.dtype), list(shape))
    return child.graph_proto(name, [], [output])


def _centre_window(builder: GraphBuilder, image: _Image, height: int, width: int) -> str:
    """``x[:, top:top + height, left:left + width]``, ``top = (in_height -
    height) // 2`` and likewise ``left``."""
    if image.static:
        if (image.height, image.width) == (height, width):
            return image.name
        top, left = (image.height - height) // 2, (image.width - width) // 2
        return builder.slice(image.name, [top, left], [top + height, left + width], [1, 2])
    starts = builder.concat([_halved_excess(builder, image.height, height),
                             _halved_excess(builder, image.width, width)], 0)
    ends = builder.op("Add", [starts, builder.ints([height, width])])
    return builder.op("Slice", [image.name, starts, ends, builder.ints([1, 2])])  # the If's output declares the shape


def _halved_excess(builder: GraphBuilder, size, target: int) -> str:
    """``(size - target) // 2`` as a one-element int64 tensor."""
    if isinstance(size, int):
        return builder.ints([(size - target) // 2])
    return builder.op("Div", [builder.op("Sub", [size, builder.ints([target])]), builder.ints([2])])


def _smart_resize(conversion: Conversion, image: _Image, height: int, width: int,
                  builder: GraphBuilder | None = None) -> str:
    """Keras's ``smart_resize``: aspect crop, then bilinear resampling."""
    builder = builder or conversion.builder
    image = _aspect_crop(builder, image, height, width)
    return _resample(conversion, image, height, width, "bilinear", False, builder)


def _aspect_crop(builder: GraphBuilder, image: _Image, height: int, width: int) -> _Image:
    """The largest centred window with the target's aspect ratio (layerspec's
    ``aspect_crop``: ``crop = max(min(in, other_in * target / other_target),
    1)``, ``top = (in - crop) // 2``; integer division, all sizes >= 0)."""
    if image.static:
        top, left, crop_height, crop_width = prep.aspect_crop(image.height, image.width, height, width)
        window = builder.slice(image.name, [top, left], [top + crop_height, left + crop_width], [1, 2],
                               hint="window")
        return _Image(window, crop_height, crop_width, image.channels)
    in_height, in_width = (_as_tensor(builder, size) for size in (image.height, image.width))
    crop_height = _clamped_ratio(builder, in_height, in_width, height, width)
    crop_width = _clamped_ratio(builder, in_width, in_height, width, height)
    two = builder.ints([2])
    starts = builder.concat([builder.op("Div", [builder.op("Sub", [in_height, crop_height]), two]),
                             builder.op("Div", [builder.op("Sub", [in_width, crop_width]), two])], 0)
    ends = builder.op("Add", [starts, builder.concat([crop_height, crop_width], 0)])
    window = builder.op("Slice", [image.name, starts, ends, builder.ints([1, 2])], hint="window")
    return _Image(_with_channels(builder, window, image.channels), crop_height, crop_width, image.channels)


def _clamped_ratio(builder: GraphBuilder, size: str, other: str, target: int, other_target: int) -> str:
    """``max(min(size, other * target // other_target), 1)``."""
    ratio = builder.op("Div", [builder.op("Mul", [other, builder.ints([target])]), builder.ints([other_target])])
    return builder.op("Max", [builder.op("Min", [size, ratio]), builder.ints([1])])


def _as_tensor(builder: GraphBuilder, size) -> str:
    return builder.ints([size]) if isinstance(size, int) else size


def _aspect_pad(conversion: Conversion, image: _Image) -> _Image:
    """``pad_to_aspect_ratio``: ``fill_value`` rows above and below if any are
    needed, else columns left and right (layerspec's ``_padding``)."""
    layer, builder = conversion.layer, conversion.builder
    fill = builder.constant(np.asarray(layer.fill_value, dtype=np.float64).astype(builder.dtype))
    if image.static:
        rows, columns = layer._padding(image.height, image.width)
        if not rows and not columns:
            return image
        pads = builder.ints([0, rows, columns, 0, 0, rows, columns, 0])
        padded = builder.op("Pad", [image.name, pads, fill], mode="constant", hint="padded")
        return _Image(padded, image.height + 2 * rows, image.width + 2 * columns, image.channels)
    in_height, in_width = (_as_tensor(builder, size) for size in (image.height, image.width))
    two, zero = builder.ints([2]), builder.ints([0])
    target_height = builder.op("Max", [in_height, builder.op("Div", [
        builder.op("Mul", [in_width, builder.ints([layer.height])]), builder.ints([layer.width])])])
    target_width = builder.op("Max", [in_width, builder.op("Div", [
        builder.op("Mul", [in_height, builder.ints([layer.width])]), builder.ints([layer.height])])])
    rows = builder.op("Div", [builder.op("Sub", [target_height, in_height]), two])
    columns = builder.op("Div", [builder.op("Sub", [target_width, in_width]), two])
    columns = builder.op("Where", [builder.op("Greater", [rows, zero]), zero, columns])
    pads = builder.concat([zero, rows, columns, zero, zero, rows, columns, zero], 0)
    padded = _with_channels(builder, builder.op("Pad", [image.name, pads, fill], mode="constant", hint="padded"),
                            image.channels)
    twice = builder.ints([2])
    new_height = builder.op("Add", [in_height, builder.op("Mul", [rows, twice])])
    new_width = builder.op("Add", [in_width, builder.op("Mul", [columns, twice])])
    return _Image(padded, new_height, new_width, image.channels)


def _resample(conversion: Conversion, image: _Image, height: int, width: int, interpolation: str,
              antialias: bool, builder: GraphBuilder | None = None) -> str:
    """``image`` resampled to ``height`` x ``width`` as layerspec's
    ``resize_images``.

    ONNX Runtime runs a Resize channels-last after cancelling the Transposes
    around it, and its channels-last cubic kernel cannot shrink (it fails at
    run time): bicubic takes Resize only to enlarge, and layerspec's
    matrices otherwise. Its Resize has no float64 kernel either: a float64
    model takes the matrices where the sizes are known.
    """
    builder = builder or conversion.builder
    if image.static and (image.height, image.width) == (height, width):
        return image.name  # JAX leaves an axis whose size does not change alone
    if interpolation == "nearest":
        return _nearest(builder, image, height, width)
    if image.static:
        shrinks = image.height > height or image.width > width
        if builder.dtype == np.float32 and (not shrinks and interpolation in ("bilinear", "bicubic")
                                            or interpolation == "bilinear" and not antialias):
            return _resize_operator(conversion, builder, image, height, width, interpolation, False)
        return _resample_by_matrices(builder, image, height, width, interpolation, antialias)
    if interpolation == "bilinear" and not antialias:
        return _resize_operator(conversion, builder, image, height, width, interpolation, False)
    if interpolation == "bicubic" and antialias:
        # Antialiased, ONNX Runtime's channels-last cubic kernel shrinks too.
        conversion.require(18, "the Resize operator's antialias (bicubic, antialias: true, on sizes unknown until "
                               "run time)")
        return _resize_operator(conversion, builder, image, height, width, interpolation, True)
    why = {"bilinear": "ONNX's Resize antialiases linear resampling with another filter than Keras's (JAX's)",
           "bicubic": "ONNX Runtime's cubic Resize fails to shrink an image (once its layout optimisation makes it "
                      "channels-last)"}.get(interpolation, f"ONNX's Resize has no {interpolation} kernel")
    raise conversion.refuse(f"interpolation '{interpolation}'{' with antialias' if antialias else ''} needs "
                            f"the input's height and width, unknown until run time: {why}, and layerspec's "
                            "resampling matrices depend on the sizes (give the input a fixed height and width)",
                            argument="interpolation")


def _resize_operator(conversion: Conversion, builder: GraphBuilder, image: _Image, height: int, width: int,
                     interpolation: str, antialias: bool) -> str:
    """ONNX's Resize on the image turned channels-first, to ``sizes``:
    the batch and channels of the layer's input (computed in the outer
    graph, where shape inference follows them into an If branch), the
    target's height and width. A float64 image is resampled in float32
    (ONNX Runtime's Resize has no float64 kernel)."""
    channels_first = builder.transpose(image.name, [0, 3, 1, 2])
    if builder.dtype != np.float32:
        channels_first = builder.cast(channels_first, np.float32)
    sizes = _resize_sizes(conversion, height, width)
    attributes = {"coordinate_transformation_mode": "half_pixel"}
    if interpolation == "bilinear":
        attributes["mode"] = "linear"
    else:  # Keys's kernel, a = -0.5; the weights of pixels outside renormalised away, as JAX does
        attributes.update(mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1)
    if antialias:
        attributes["antialias"] = 1
    resized = builder.op("Resize", [channels_first, "", "", sizes], hint="resized", **attributes)
    if builder.dtype != np.float32:
        resized = builder.cast(resized, builder.dtype)
    return builder.transpose(resized, [0, 2, 3, 1])


def _resize_sizes(conversion: Conversion, height: int, width: int) -> str:
    """Resize's ``sizes``: ``[batch, channels, height, width]``, the batch
    (and channels, when unknown) read from the layer's input in the outer
    graph, once per conversion."""
    builder = conversion.builder
    shape = conversion.__dict__.get("_input_shape")
    if shape is None:
        shape = conversion.__dict__["_input_shape"] = builder.op("Shape", [conversion.x])
    batch = builder.slice(shape, [0], [1], [0])
    channels = conversion.shape[3]
    if channels is None:
        return builder.concat([batch, builder.slice(shape, [3], [4], [0]), builder.ints([height, width])], 0)
    return builder.concat([batch, builder.ints([channels, height, width])], 0)


def _with_channels(builder: GraphBuilder, name: str, channels) -> str:
    """``name`` reshaped to itself, ``[0, 0, 0, channels]``: a Slice or Pad
    with computed bounds leaves every size unknown to shape inference, and
    the channels, which they keep, are restored for it (free at run time)."""
    if channels is None:
        return name
    return builder.reshape(name, [0, 0, 0, channels])


def _resample_by_matrices(builder: GraphBuilder, image: _Image, height: int, width: int, interpolation: str,
                          antialias: bool) -> str:
    """Each axis whose size changes multiplied by layerspec's ``(out, in)``
    resampling matrix: ``M_h @ x @ M_w.T`` on the channels-first image."""
    y = builder.transpose(image.name, [0, 3, 1, 2])
    if image.height != height:
        rows = prep.resize_matrix(image.height, height, interpolation, antialias).astype(builder.dtype)
        y = builder.op("MatMul", [builder.constant(rows, "rows"), y])
    if image.width != width:
        columns = prep.resize_matrix(image.width, width, interpolation, antialias).T.astype(builder.dtype)
        y = builder.op("MatMul", [y, builder.constant(np.ascontiguousarray(columns), "columns")])
    return builder.transpose(y, [0, 2, 3, 1])


def _nearest(builder: GraphBuilder, image: _Image, height: int, width: int) -> str:
    """Gather the pixels JAX's nearest picks: ``floor((i + 0.5) * in / out)``
    in float32, at most ``in - 1`` (an axis whose size is unchanged is copied)."""
    y = image.name
    for axis, size, target in ((1, image.height, height), (2, image.width, width)):
        if isinstance(size, int):
            if size != target:
                y = builder.op("Gather", [y, builder.constant(prep.nearest_indices(size, target), "nearest")],
                               axis=axis)
            continue
        # The same float32 arithmetic at run time: ((i + 0.5) * in) / out.
        centres = builder.constant(np.arange(target, dtype=np.float32) + np.float32(0.5), "centres")
        offsets = builder.op("Div", [builder.op("Mul", [centres, builder.cast(size, np.float32)]),
                                     builder.constant(np.asarray(target, dtype=np.float32))])
        indices = builder.cast(builder.op("Floor", [offsets]), np.int64)
        indices = builder.op("Min", [indices, builder.op("Sub", [size, builder.ints([1])])])
        y = builder.op("Gather", [y, indices], axis=axis)
    return y
