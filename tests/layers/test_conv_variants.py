"""Conv1D/2DTranspose, DepthwiseConv1D/2D, SeparableConv1D/2D: shapes, values
against plain loops, non-finite values, costs, weights, errors."""

import importlib.util
import itertools
import math
import pathlib

import numpy as np
import pytest

import layerspec
from layerspec.errors import ArgumentError, ShapeError
from layerspec.layers import conv_variants
from layerspec.layers.conv import Conv2D
from layerspec.layers.conv_variants import (Conv1DTranspose, Conv2DTranspose, DepthwiseConv1D, DepthwiseConv2D,
                                            SeparableConv1D, SeparableConv2D)
from layerspec.model import Sequential
from layerspec.registry import lookup
from layerspec.spec import build_model, loads_spec

TOLERANCE = {"rtol": 2e-5, "atol": 2e-5}


# -- plain-loop references, float64 ----------------------------------------------
def keras_transpose_pads(kernel, stride, dilation, padding, output_padding):
    """(lo, hi): Keras 3's _convert_conv_transpose_padding_args_from_keras_to_jax, written out."""
    k = (kernel - 1) * dilation + 1
    if padding == "valid":
        if output_padding is None:
            output_padding = max(k, stride) - k
        return k - 1, k - 1 + output_padding
    pad_len = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, k - 1)
    return left, pad_len - left


def transpose2d_reference(x, kernel, bias, strides, padding, output_padding, dilation):
    """What lax.conv_transpose computes for Keras: the input with strides-1 zeros between its cells,
    padded with Keras's (lo, hi), cross-correlated with the spatially flipped kernel, by loops."""
    batch, height, width, channels = x.shape
    kh, kw, filters, _ = kernel.shape
    extras = output_padding or (None, None)
    (lo_h, hi_h), (lo_w, hi_w) = (keras_transpose_pads(k, s, d, padding, e)
                                  for k, s, d, e in zip((kh, kw), strides, dilation, extras))
    dilated_h, dilated_w = (height - 1) * strides[0] + 1, (width - 1) * strides[1] + 1
    padded = np.zeros((batch, lo_h + dilated_h + hi_h, lo_w + dilated_w + hi_w, channels))
    padded[:, lo_h:lo_h + dilated_h:strides[0], lo_w:lo_w + dilated_w:strides[1]] = x
    span_h, span_w = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    out_h, out_w = padded.shape[1] - span_h + 1, padded.shape[2] - span_w + 1
    out = np.zeros((batch, out_h, out_w, filters))
    for b in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                for f in range(filters):
                    total = 0.0 if bias is None else float(bias[f])
                    for a in range(kh):
                        for c in range(kw):
                            for ch in range(channels):
                                total += padded[b, i + a * dilation[0], j + c * dilation[1], ch] * \
                                    float(kernel[kh - 1 - a, kw - 1 - c, f, ch])
                    out[b, i, j, f] = total
    return out


def transpose1d_scatter_reference(x, kernel, bias, stride, padding, output_padding, dilation):
    """The same by its other definition: input step i adds x[i]·kernel[j] at i·s + j·d of the full
    output (length (n-1)·s + k'); Keras's output starts k' - 1 - lo cells into it."""
    batch, steps, channels = x.shape
    k, filters, _ = kernel.shape
    span = (k - 1) * dilation + 1
    lo, hi = keras_transpose_pads(k, stride, dilation, padding, output_padding)
    length = (steps - 1) * stride + 1 + lo + hi - span + 1
    crop = span - 1 - lo
    full = np.zeros((batch, max((steps - 1) * stride + span, crop + length), filters))
    for b in range(batch):
        for i in range(steps):
            for j in range(k):
                full[b, i * stride + j * dilation] += kernel[j].astype(np.float64) @ x[b, i].astype(np.float64)
    out = full[:, crop:crop + length]
    return out if bias is None else out + bias


def same_pads(size, kernel, stride, dilation, padding):
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        return 0, 0
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def depthwise2d_reference(x, kernel, bias, strides, padding, dilation):
    """Each channel c cross-correlated with kernel[..., c, m] into output channel c·M + m, by loops."""
    batch, height, width, channels = x.shape
    kh, kw, _, multiplier = kernel.shape
    top, _ = same_pads(height, kh, strides[0], dilation[0], padding)
    left, _ = same_pads(width, kw, strides[1], dilation[1], padding)
    if padding == "valid":
        out_h = (height - (kh - 1) * dilation[0] - 1) // strides[0] + 1
        out_w = (width - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    else:
        out_h, out_w = math.ceil(height / strides[0]), math.ceil(width / strides[1])
    out = np.zeros((batch, out_h, out_w, channels * multiplier))
    for b, i, j, c, m in itertools.product(range(batch), range(out_h), range(out_w), range(channels),
                                           range(multiplier)):
        total = 0.0 if bias is None else float(bias[c * multiplier + m])
        for a in range(kh):
            for e in range(kw):
                row, column = i * strides[0] + a * dilation[0] - top, j * strides[1] + e * dilation[1] - left
                if 0 <= row < height and 0 <= column < width:
                    total += float(x[b, row, column, c]) * float(kernel[a, e, c, m])
        out[b, i, j, c * multiplier + m] = total
    return out


def depthwise1d_reference(x, kernel, bias, stride, padding, dilation):
    return depthwise2d_reference(x[:, np.newaxis], kernel[np.newaxis], bias, (1, stride), padding,
                                 (1, dilation))[:, 0]


def separable_reference(x, depthwise, pointwise, bias, strides, padding, dilation):
    """The depthwise loops, then the pointwise sum over the C·M channels, then the bias."""
    steps = depthwise2d_reference(x, depthwise, None, strides, padding, dilation)
    matrix = pointwise.reshape(pointwise.shape[-2], pointwise.shape[-1]).astype(np.float64)
    out = np.einsum("bhwk,kf->bhwf", steps, matrix)
    return out if bias is None else out + bias


def random_layer(layer, input_shape, seed=0):
    """Build ``layer`` for ``input_shape``, give it random float32 weights, return a random input."""
    rng = np.random.default_rng(seed)
    layer.build_for((None,) + tuple(input_shape[1:]))
    for weight in layer.weights:
        weight.assign(rng.standard_normal(weight.shape).astype(np.float32))
    return rng.standard_normal(input_shape).astype(np.float32)


def bias_of(layer):
    return None if layer.bias is None else layer.bias.value


def reference_of(layer, x):
    if isinstance(layer, Conv2DTranspose):
        return transpose2d_reference(x, layer.kernel.value, bias_of(layer), layer.strides, layer.padding,
                                     layer.output_padding, layer.dilation_rate)
    if isinstance(layer, Conv1DTranspose):
        return transpose1d_scatter_reference(x, layer.kernel.value, bias_of(layer), layer.strides[0],
                                             layer.padding, None if layer.output_padding is None
                                             else layer.output_padding[0], layer.dilation_rate[0])
    if isinstance(layer, DepthwiseConv2D):
        return depthwise2d_reference(x, layer.kernel.value, bias_of(layer), layer.strides, layer.padding,
                                     layer.dilation_rate)
    if isinstance(layer, DepthwiseConv1D):
        return depthwise1d_reference(x, layer.kernel.value, bias_of(layer), layer.strides[0], layer.padding,
                                     layer.dilation_rate[0])
    if isinstance(layer, SeparableConv2D):
        return separable_reference(x, layer.depthwise_kernel.value, layer.pointwise_kernel.value, bias_of(layer),
                                   layer.strides, layer.padding, layer.dilation_rate)
    return separable_reference(x[:, np.newaxis], layer.depthwise_kernel.value[np.newaxis],
                               layer.pointwise_kernel.value, bias_of(layer), (1,) + layer.strides, layer.padding,
                               (1,) + layer.dilation_rate)[:, 0]


def test_the_two_transposed_references_agree():
    """The lax definition and the scatter definition are one computation (checked on 1D cases)."""
    rng = np.random.default_rng(3)
    for k, s, d, padding, extra in [(3, 2, 1, "same", None), (4, 3, 1, "valid", 2), (3, 1, 2, "same", 0),
                                    (2, 2, 1, "same", 1), (5, 2, 1, "valid", None), (1, 3, 1, "same", None)]:
        x = rng.standard_normal((2, 5, 3))
        kernel = rng.standard_normal((k, 4, 3))
        scattered = transpose1d_scatter_reference(x, kernel, None, s, padding, extra, d)
        lax = transpose2d_reference(x[:, np.newaxis], kernel[np.newaxis], None, (1, s), padding,
                                    None if extra is None else (0, extra), (1, d))[:, 0]
        np.testing.assert_allclose(scattered, lax, rtol=1e-12, atol=1e-12)


# -- registration -------------------------------------------------------------------------
def test_types_and_keras_aliases_are_registered():
    assert lookup("Conv2DTranspose") is Conv2DTranspose and lookup("Convolution2DTranspose") is Conv2DTranspose
    assert lookup("Conv1DTranspose") is Conv1DTranspose and lookup("Convolution1DTranspose") is Conv1DTranspose
    assert lookup("DepthwiseConv2D") is DepthwiseConv2D and lookup("depthwise_conv_1d") is DepthwiseConv1D
    assert lookup("SeparableConvolution2D") is SeparableConv2D and lookup("SeparableConv1D") is SeparableConv1D
    assert layerspec.layers.Conv2DTranspose is Conv2DTranspose


# -- output shapes ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, size, expected", [
    # Keras's docstring: Conv1DTranspose(32, 3, 2) on 10 steps gives 21.
    ({"kernel_size": 3, "strides": 2}, 10, 21),
    ({"kernel_size": 3}, 5, 7),                                             # (n-1)s + k
    ({"kernel_size": 2, "strides": 3}, 5, 15),                              # + max(k, s) - k = 1
    ({"kernel_size": 3, "dilation_rate": 2}, 5, 9),                         # k' = 5
    ({"kernel_size": 3, "strides": 2, "output_padding": 1}, 5, 12),
    ({"kernel_size": 1, "strides": 2, "output_padding": 0}, 5, 9),
    ({"kernel_size": 1, "strides": 2}, 5, 10),
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, 5, 10),           # n·s
    ({"kernel_size": 4, "strides": 3, "padding": "same"}, 5, 15),
    ({"kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1}, 5, 10),  # (n-1)s + k'%2 + op
    ({"kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 0}, 5, 9),
    ({"kernel_size": 4, "strides": 2, "padding": "same", "output_padding": 1}, 5, 9),
    ({"kernel_size": 3, "padding": "same", "dilation_rate": 3}, 5, 5),
    ({"kernel_size": 3, "strides": 2}, None, None),
    ({"kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1}, None, None),
])
def test_conv1d_transpose_output_shapes(kwargs, size, expected):
    layer = Conv1DTranspose(filters=4, **kwargs)
    layer.build_for((None, size, 3))
    assert layer.compute_output_shape((None, size, 3)) == (None, expected, 4)


@pytest.mark.parametrize("kwargs, spatial, expected", [
    # Keras's docstring: Conv2DTranspose(32, 2, 2) on (10, 8) gives (20, 16).
    ({"kernel_size": 2, "strides": 2}, (10, 8), (20, 16)),
    ({"kernel_size": (3, 2), "strides": (2, 3), "padding": "same"}, (5, 4), (10, 12)),
    ({"kernel_size": 3, "strides": (2, 1), "output_padding": (1, 0)}, (4, 4), (10, 6)),
    ({"kernel_size": 5, "dilation_rate": (1, 2), "padding": "same"}, (6, 7), (6, 7)),
    ({"kernel_size": 3, "strides": 2}, (None, 4), (None, 9)),
])
def test_conv2d_transpose_output_shapes(kwargs, spatial, expected):
    layer = Conv2DTranspose(filters=6, **kwargs)
    layer.build_for((None,) + spatial + (2,))
    assert layer.compute_output_shape((None,) + spatial + (2,)) == (None,) + expected + (6,)


@pytest.mark.parametrize("layer, input_shape, expected", [
    # Keras's docstring: DepthwiseConv2D(kernel_size=3) on (10, 10, 12) gives (8, 8, 12).
    (DepthwiseConv2D(3), (None, 10, 10, 12), (None, 8, 8, 12)),
    (DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=3), (None, 7, 8, 2), (None, 4, 4, 6)),
    (DepthwiseConv2D((3, 1), dilation_rate=2), (None, 9, None, 4), (None, 5, None, 4)),
    (DepthwiseConv1D(3, strides=2, depth_multiplier=3), (None, 10, 12), (None, 4, 36)),
    (DepthwiseConv1D(4, padding="same"), (None, None, 5), (None, None, 5)),
    (SeparableConv2D(4, 3, strides=2), (None, 10, 10, 12), (None, 4, 4, 4)),
    (SeparableConv2D(8, 3, padding="same", depth_multiplier=2), (None, 8, 8, 8), (None, 8, 8, 8)),
    (SeparableConv1D(4, 3, strides=3, padding="same"), (None, 10, 12), (None, 4, 4)),
    (SeparableConv1D(5, 3, activation="glu"), (None, 6, 2), None),   # glu halves an odd 5: an error below
])
def test_depthwise_and_separable_output_shapes(layer, input_shape, expected):
    if expected is None:
        with pytest.raises(ShapeError):
            layer.compute_output_shape(input_shape)
        return
    layer.build_for(input_shape)
    assert layer.compute_output_shape(input_shape) == expected


def test_glu_halves_the_filters():
    layer = Conv2DTranspose(6, 2, strides=2, activation="glu")
    x = random_layer(layer, (2, 3, 3, 2))
    out = layer(x)
    assert out.shape == layer.compute_output_shape((2, 3, 3, 2)) == (2, 6, 6, 3)
    linear = reference_of(layer, x)
    np.testing.assert_allclose(out, linear[..., :3] / (1 + np.exp(-linear[..., 3:])), **TOLERANCE)


# -- values: transposed ------------------------------------------------------------------------
TRANSPOSE_2D_CASES = [
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, (2, 4, 5, 3)),          # 9 taps in 16 phase slots
    ({"kernel_size": 2, "strides": 2, "padding": "same"}, (2, 4, 3, 2)),          # one tap per phase (U-Net)
    ({"kernel_size": 3, "strides": 2}, (2, 3, 4, 2)),                             # valid: 2n + 1, cropped grid
    ({"kernel_size": (4, 3), "strides": (3, 2), "padding": "same"}, (1, 3, 4, 2)),
    ({"kernel_size": (3, 2), "strides": (2, 3), "output_padding": (1, 2)}, (2, 3, 3, 2)),
    ({"kernel_size": 4, "strides": 2, "padding": "same", "output_padding": (0, 1)}, (1, 4, 3, 2)),
    ({"kernel_size": 3, "padding": "same", "dilation_rate": (2, 1)}, (2, 5, 4, 2)),  # stride 1: a plain conv
    ({"kernel_size": 3, "dilation_rate": 2, "use_bias": False}, (1, 3, 3, 2)),
    ({"kernel_size": 1, "strides": 3}, (1, 3, 2, 2)),                             # gaps between the taps
    ({"kernel_size": 1, "strides": (3, 2), "padding": "same", "output_padding": (2, 0)}, (1, 2, 3, 1)),
    ({"kernel_size": 5, "strides": 2, "padding": "same"}, (1, 1, 1, 3)),          # kernel wider than the output
    ({"kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"}, (1, 7, 1, 3)),
]


@pytest.mark.parametrize("kwargs, shape", TRANSPOSE_2D_CASES)
def test_conv2d_transpose_matches_plain_loops(kwargs, shape):
    layer = Conv2DTranspose(filters=3, **kwargs)
    x = random_layer(layer, shape)
    out = layer(x)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    expected = reference_of(layer, x)
    if layer.activation is not layerspec.activations.linear:
        expected = np.maximum(expected, 0)
    assert out.shape == expected.shape == (shape[0],) + layer.compute_output_shape(shape)[1:]
    np.testing.assert_allclose(out, expected, **TOLERANCE)


@pytest.mark.parametrize("kwargs, shape", TRANSPOSE_2D_CASES[:6])
def test_conv2d_transpose_scatter_form_matches_too(kwargs, shape, monkeypatch):
    # Strides much larger than the kernel take the scatter form; force it here.
    monkeypatch.setattr(conv_variants, "MIN_PHASE_DENSITY", 2.0)
    layer = Conv2DTranspose(filters=3, **kwargs)
    x = random_layer(layer, shape, seed=1)
    assert not layer._plan(shape[1:3], shape[3], 4).use_phases
    expected = reference_of(layer, x)
    if layer.activation is not layerspec.activations.linear:
        expected = np.maximum(expected, 0)
    np.testing.assert_allclose(layer(x), expected, **TOLERANCE)


@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 3, "strides": 2}, (2, 9, 3)),
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, (2, 7, 2)),
    ({"kernel_size": 4, "strides": 3, "padding": "same", "output_padding": 2}, (2, 5, 2)),
    ({"kernel_size": 3, "dilation_rate": 3, "padding": "same"}, (1, 6, 2)),
    ({"kernel_size": 2, "strides": 4}, (2, 4, 1)),
    ({"kernel_size": 5, "strides": 2, "padding": "same", "output_padding": 0, "use_bias": False}, (1, 3, 3)),
])
def test_conv1d_transpose_matches_the_scatter_definition(kwargs, shape):
    layer = Conv1DTranspose(filters=4, **kwargs)
    x = random_layer(layer, shape)
    out = layer(x)
    expected = reference_of(layer, x)
    assert out.dtype == np.float32 and out.shape == expected.shape
    assert out.shape == (shape[0],) + layer.compute_output_shape(shape)[1:]
    np.testing.assert_allclose(out, expected, **TOLERANCE)


@pytest.mark.parametrize("kernel_size, strides, padding, dilation, spatial", [
    (3, 2, "same", 1, (4, 5)),
    (4, 2, "same", 1, (3, 3)),
    (2, 3, "valid", 1, (3, 4)),
    (3, 1, "same", 2, (5, 4)),
    (5, 3, "same", 1, (2, 3)),
])
def test_conv_transpose_is_the_gradient_of_conv(kernel_size, strides, padding, dilation, spatial):
    """<Conv(z), x> = <z, ConvTranspose(x)> with the same kernel and arguments (output_padding null):
    an independent check of where Keras's padding puts the output."""
    transpose = Conv2DTranspose(4, kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
                                use_bias=False)
    x = random_layer(transpose, (1,) + spatial + (3,)).astype(np.float64)
    transpose.dtype = "float64"
    y = transpose(x)
    conv = Conv2D(3, kernel_size, strides=strides, padding=padding, dilation_rate=dilation, use_bias=False)
    conv.dtype = "float64"
    conv.build_for((None,) + y.shape[1:])
    conv.kernel.assign(transpose.kernel.value.astype(np.float64))  # (k, k, filters, in): conv's (k, k, in, out)
    z = np.random.default_rng(2).standard_normal(y.shape)
    assert conv(z).shape == x.shape
    assert np.sum(conv(z) * x) == pytest.approx(np.sum(z * y), rel=1e-9)


def test_transposed_chunks_of_rows_and_images(monkeypatch):
    # Tiny chunks: several images per chunk, then rows of one image per chunk.
    for budget in (4096, 64):
        monkeypatch.setattr(conv_variants, "CHUNK_BYTES", budget)
        layer = Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu")
        x = random_layer(layer, (5, 6, 4, 2))
        np.testing.assert_allclose(layer(x), np.maximum(reference_of(layer, x), 0), **TOLERANCE)
        layer = Conv2DTranspose(3, 3, strides=2, padding="same")
        x = random_layer(layer, (3, 6, 4, 2))
        monkeypatch.setattr(conv_variants, "MIN_PHASE_DENSITY", 2.0)
        np.testing.assert_allclose(layer(x), reference_of(layer, x), **TOLERANCE)
        monkeypatch.setattr(conv_variants, "MIN_PHASE_DENSITY", 0.25)


# -- values: depthwise and separable ---------------------------------------------------------------
DEPTHWISE_2D_CASES = [
    ({"kernel_size": 3, "padding": "same"}, (2, 5, 6, 3)),
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, (2, 7, 8, 2)),            # MobileNet's downsampling
    ({"kernel_size": (2, 3), "strides": (1, 3), "depth_multiplier": 2}, (2, 5, 10, 3)),
    ({"kernel_size": 3, "dilation_rate": 2, "padding": "same", "depth_multiplier": 3}, (1, 6, 5, 2)),
    ({"kernel_size": 3, "strides": 2, "dilation_rate": 2}, (2, 9, 9, 2)),             # both, as JAX computes
    ({"kernel_size": 4, "strides": (3, 2), "padding": "same", "use_bias": False}, (1, 7, 9, 2)),
    ({"kernel_size": 5}, (2, 5, 5, 1)),                                              # the kernel covers the input
    ({"kernel_size": 1, "depth_multiplier": 4}, (1, 2, 3, 2)),
]


@pytest.mark.parametrize("kwargs, shape", DEPTHWISE_2D_CASES)
def test_depthwise_conv2d_matches_plain_loops(kwargs, shape):
    layer = DepthwiseConv2D(**kwargs)
    x = random_layer(layer, shape)
    out = layer(x)
    expected = reference_of(layer, x)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert out.shape == expected.shape == (shape[0],) + layer.compute_output_shape(shape)[1:]
    np.testing.assert_allclose(out, expected, **TOLERANCE)


@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 3}, (2, 9, 3)),
    ({"kernel_size": 4, "strides": 3, "padding": "same", "depth_multiplier": 2}, (2, 10, 2)),
    ({"kernel_size": 3, "dilation_rate": 2, "padding": "same"}, (1, 7, 4)),
])
def test_depthwise_conv1d_matches_plain_loops(kwargs, shape):
    layer = DepthwiseConv1D(**kwargs)
    x = random_layer(layer, shape)
    np.testing.assert_allclose(layer(x), reference_of(layer, x), **TOLERANCE)


@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 3, "padding": "same", "depth_multiplier": 2, "activation": "relu"}, (2, 8, 8, 8)),
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, (2, 7, 6, 3)),
    ({"kernel_size": (2, 3), "dilation_rate": (2, 1), "use_bias": False}, (1, 6, 5, 2)),
])
def test_separable_conv2d_matches_plain_loops(kwargs, shape):
    layer = SeparableConv2D(5, **kwargs)
    x = random_layer(layer, shape)
    expected = reference_of(layer, x)
    if layer.activation is not layerspec.activations.linear:
        expected = np.maximum(expected, 0)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=1e-4)


@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 3, "padding": "same"}, (2, 9, 3)),
    ({"kernel_size": 2, "strides": 2, "depth_multiplier": 3}, (2, 9, 2)),
])
def test_separable_conv1d_matches_plain_loops(kwargs, shape):
    layer = SeparableConv1D(4, **kwargs)
    x = random_layer(layer, shape)
    np.testing.assert_allclose(layer(x), reference_of(layer, x), rtol=2e-5, atol=1e-4)


def test_depthwise_chunks_of_rows_and_images(monkeypatch):
    for chunk, rows in ((1 << 12, 1 << 10), (64, 64), (1 << 30, 1 << 30)):
        monkeypatch.setattr(conv_variants, "DEPTHWISE_CHUNK_BYTES", chunk)
        monkeypatch.setattr(conv_variants, "DEPTHWISE_ROW_BYTES", rows)
        for layer in (DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
                      SeparableConv2D(4, 3, padding="same", activation="relu")):
            x = random_layer(layer, (5, 9, 7, 3))
            expected = reference_of(layer, x)
            if isinstance(layer, SeparableConv2D):
                expected = np.maximum(expected, 0)
            np.testing.assert_allclose(layer(x), expected, rtol=2e-5, atol=1e-4)


# -- inputs of every kind -------------------------------------------------------------------------
ALL_LAYERS = [
    (lambda: Conv2DTranspose(3, 3, strides=2, padding="same"), (2, 4, 5, 2)),
    (lambda: Conv2DTranspose(3, 2, strides=2, padding="same"), (2, 4, 5, 2)),
    (lambda: Conv1DTranspose(3, 3, strides=2), (2, 6, 2)),
    (lambda: DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), (2, 6, 5, 2)),
    (lambda: DepthwiseConv1D(3, padding="same"), (2, 6, 2)),
    (lambda: SeparableConv2D(4, 3, padding="same"), (2, 6, 5, 2)),
    (lambda: SeparableConv1D(4, 3, strides=2), (2, 7, 2)),
]


@pytest.mark.parametrize("make, shape", ALL_LAYERS)
def test_empty_batch(make, shape):
    layer = make()
    x = random_layer(layer, (0,) + shape[1:])
    out = layer(x)
    assert out.shape == (0,) + layer.compute_output_shape(shape)[1:] and out.dtype == np.float32


@pytest.mark.parametrize("make, shape", ALL_LAYERS)
def test_non_contiguous_and_float64_inputs(make, shape):
    layer = make()
    x = random_layer(layer, shape)
    flipped = x[:, ::-1]
    np.testing.assert_allclose(layer(flipped), reference_of(layer, np.ascontiguousarray(flipped)), rtol=2e-5,
                               atol=1e-4)
    # A float32 layer fed float64 computes in float64, as conv does.
    assert layer(x.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("make, shape", ALL_LAYERS)
def test_float64_model_stays_float64(make, shape):
    model = Sequential([make()], input_shape=shape[1:], dtype="float64").init(seed=1)
    out = model.predict(np.ones(shape))
    assert out.dtype == np.float64 and out.shape == shape[:1] + model.output_shape[1:]
    assert all(array.dtype == np.float64 for array in model.get_weights().values())


@pytest.mark.parametrize("make, shape", ALL_LAYERS)
def test_one_sample_at_a_time_gives_the_batch_result(make, shape):
    layer = make()
    x = random_layer(layer, (3,) + shape[1:])
    batch = layer(x)
    for row in range(3):
        np.testing.assert_allclose(layer(x[row:row + 1])[0], batch[row], rtol=1e-6, atol=1e-6)


SOFTMAX_CASES = [
    (lambda: Conv2DTranspose(3, 3, strides=2, padding="same", activation="softmax"), (2, 4, 5, 2)),
    (lambda: Conv2DTranspose(3, 3, strides=2, activation="softmax"), (2, 4, 5, 2)),    # a cropped grid
    (lambda: Conv1DTranspose(3, 2, strides=3, activation="log_softmax"), (2, 5, 2)),
    (lambda: DepthwiseConv2D(3, strides=2, depth_multiplier=2, activation="softmax"), (2, 6, 5, 2)),
    (lambda: DepthwiseConv1D(2, depth_multiplier=3, activation="softmax"), (2, 6, 2)),
    (lambda: SeparableConv2D(4, 3, padding="same", activation="softmax"), (2, 6, 5, 2)),
    (lambda: SeparableConv1D(4, 3, activation="log_softmax"), (2, 7, 2)),
]


@pytest.mark.parametrize("make, shape", SOFTMAX_CASES)
def test_an_activation_along_the_channels_sees_each_position_alone(make, shape, monkeypatch):
    # The forward passes keep a row of positions (or a position's phases) side by side.
    layer = make()
    x = random_layer(layer, shape)
    logits = reference_of(layer, x)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    expected = log_probabilities if layer.activation is layerspec.activations.log_softmax else \
        np.exp(log_probabilities)
    np.testing.assert_allclose(layer(x), expected, rtol=2e-5, atol=1e-5)
    if isinstance(layer, (Conv1DTranspose, Conv2DTranspose)):
        monkeypatch.setattr(conv_variants, "MIN_PHASE_DENSITY", 2.0)  # the scatter form too
        layer.__dict__.pop("_plans")
        np.testing.assert_allclose(layer(x), expected, rtol=2e-5, atol=1e-5)


# -- non-finite values stay where Keras puts them ------------------------------------------------------
def assert_same_non_finite(out, expected):
    """NaN and inf exactly where the plain loops put them; finite values close."""
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=2e-5, atol=1e-4)


NON_FINITE_CASES = [
    # kernel 3, stride 2: the phase matrices hold zeros, so the scatter form runs
    (lambda: Conv2DTranspose(3, 3, strides=2, padding="same"), (2, 6, 5, 2)),
    # kernel 2, stride 2: no zeros, the phase form runs on inf too
    (lambda: Conv2DTranspose(3, 2, strides=2, padding="same"), (2, 6, 5, 2)),
    (lambda: Conv2DTranspose(2, 3, padding="same", dilation_rate=2), (2, 6, 5, 2)),
    (lambda: Conv1DTranspose(3, 1, strides=3), (2, 8, 2)),
    (lambda: Conv1DTranspose(3, 4, strides=2, padding="same"), (2, 8, 2)),
    (lambda: DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), (2, 9, 8, 2)),
    (lambda: DepthwiseConv1D(3, dilation_rate=2, padding="same"), (2, 12, 2)),
    (lambda: SeparableConv2D(3, 3, padding="same"), (2, 9, 8, 2)),
    (lambda: SeparableConv1D(3, 3, strides=2), (2, 12, 2)),
]


@pytest.mark.parametrize("make, shape", NON_FINITE_CASES)
def test_inf_and_nan_reach_only_the_outputs_that_see_them(make, shape):
    layer = make()
    x = random_layer(layer, shape)
    flat = x.reshape(-1)
    flat[[5, len(flat) // 2]] = np.inf, -np.inf
    flat[-7] = np.nan
    with np.errstate(invalid="ignore"):
        out = layer(x)
        expected = reference_of(layer, x)
    assert np.isfinite(expected).sum() > expected.size // 3  # most outputs never see a non-finite input
    assert_same_non_finite(out, expected)
    clean = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(layer(clean), reference_of(layer, clean), rtol=2e-5, atol=1e-4)


def test_an_infinity_meeting_a_zero_weight_is_nan_as_in_keras():
    # Keras multiplies every input by every tap: inf · 0 is NaN at that tap's output only.
    layer = Conv1DTranspose(1, 3, strides=2, padding="same", use_bias=False)
    layer.build_for((None, 4, 1))
    layer.kernel.assign(np.array([1.0, 0.0, 2.0], np.float32).reshape(3, 1, 1))
    x = np.array([1.0, np.inf, 3.0, 4.0], np.float32).reshape(1, 4, 1)
    with np.errstate(invalid="ignore"):
        out = layer(x)[0, :, 0]
        expected = reference_of(layer, x)[0, :, 0]
    # Output 2i + j gets x[i]·k[j]: input 1 reaches 2 (inf·1), 3 (inf·0) and 4 (inf·2).
    assert np.isnan(out[3]) and np.isinf(out[2]) and np.isinf(out[4])
    assert_same_non_finite(out, expected)


def test_a_model_with_infinite_input_runs_quietly():
    model = Sequential([Conv2DTranspose(2, 3, strides=2, padding="same"), SeparableConv2D(2, 3)],
                       input_shape=(4, 4, 1)).init(seed=0)
    x = np.ones((1, 4, 4, 1), np.float32)
    x[0, 1, 1, 0] = np.inf
    with np.errstate(all="raise"):  # predict silences NumPy's warnings itself
        out = model.predict(x)
    assert np.isfinite(out).any() and not np.isfinite(out).all()


# -- weights, parameters, costs ------------------------------------------------------------------
def test_weight_names_layouts_and_parameters_like_keras():
    model = Sequential([Conv2DTranspose(4, 2, strides=2, name="up"), DepthwiseConv2D(3, depth_multiplier=2,
                                                                                    name="dw"),
                        SeparableConv2D(5, 3, depth_multiplier=3, name="sep", use_bias=False),
                        DepthwiseConv2D(1, use_bias=False, name="dw2")],
                       input_shape=(8, 8, 3)).init(seed=0)
    shapes = {key: array.shape for key, array in model.get_weights().items()}
    assert shapes == {"up/kernel": (2, 2, 4, 3), "up/bias": (4,),
                      "dw/kernel": (3, 3, 4, 2), "dw/bias": (8,),
                      "sep/depthwise_kernel": (3, 3, 8, 3), "sep/pointwise_kernel": (1, 1, 24, 5),
                      "dw2/kernel": (1, 1, 5, 1)}
    assert [layer.count_params() for layer in model.layers] == [
        2 * 2 * 4 * 3 + 4, 3 * 3 * 4 * 2 + 8, 3 * 3 * 8 * 3 + 24 * 5, 5]
    assert [shape[1] for shape in model.shapes] == [(None, 16, 16, 4), (None, 14, 14, 8), (None, 12, 12, 5),
                                                    (None, 12, 12, 5)]
    one_d = Sequential([Conv1DTranspose(4, 3, name="up"), DepthwiseConv1D(2, name="dw"),
                        SeparableConv1D(2, 3, depth_multiplier=2, name="sep")], input_shape=(6, 3))
    assert {key: weight.shape for key, weight in one_d.weight_items()} == {
        "up/kernel": (3, 4, 3), "up/bias": (4,), "dw/kernel": (2, 4, 1), "dw/bias": (4,),
        "sep/depthwise_kernel": (3, 4, 2), "sep/pointwise_kernel": (1, 8, 2), "sep/bias": (2,)}


def test_default_initializers_are_keras():
    model = Sequential([DepthwiseConv2D(3, depthwise_initializer="ones", bias_initializer="ones"),
                        SeparableConv2D(2, 1, pointwise_initializer="zeros")], input_shape=(5, 5, 2)).init(seed=0)
    weights = model.get_weights()
    np.testing.assert_array_equal(weights["depthwise_conv2d/kernel"], np.ones((3, 3, 2, 1)))
    np.testing.assert_array_equal(weights["depthwise_conv2d/bias"], np.ones(2))
    np.testing.assert_array_equal(weights["separable_conv2d/pointwise_kernel"], np.zeros((1, 1, 2, 2)))
    np.testing.assert_array_equal(weights["separable_conv2d/bias"], np.zeros(2))
    assert np.any(weights["separable_conv2d/depthwise_kernel"] != 0)


@pytest.mark.parametrize("layer, input_shape, macs, elementwise", [
    # transposed: every input position meets every tap, input channel and filter
    (Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"), (None, 16, 16, 32),
     16 * 16 * 9 * 32 * 16, 32 * 32 * 16 * 2),
    (Conv1DTranspose(4, 3, strides=2, use_bias=False), (None, 10, 6), 10 * 3 * 6 * 4, 0),
    (Conv1DTranspose(4, 3, strides=2), (None, None, 6), None, None),
    # depthwise: output positions x taps x C x M
    (DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"), (None, 56, 56, 32),
     56 * 56 * 9 * 32 * 2, 56 * 56 * 64 * 2),
    (DepthwiseConv1D(3, strides=2), (None, 9, 4), 4 * 3 * 4, 4 * 4),
    # separable: the depthwise step, then output positions x C x M x filters
    (SeparableConv2D(8, 3, padding="same", depth_multiplier=2, activation="relu"), (None, 16, 16, 8),
     16 * 16 * 9 * 8 * 2 + 16 * 16 * 16 * 8, 16 * 16 * 8 * 2),
    (SeparableConv1D(8, 3), (None, None, 8), None, None),
])
def test_macs_and_elementwise(layer, input_shape, macs, elementwise):
    layer.build_for(input_shape)
    assert layer.count_macs(input_shape) == macs
    assert layer.count_elementwise(input_shape) == elementwise


def test_workspace_counts_the_scratch_per_sample():
    layer = Conv2DTranspose(16, 3, strides=2, padding="same")
    layer.build_for((None, 16, 16, 32))
    # At least the full (33, 33) output of the scatter form, at most a few outputs' worth.
    assert 33 * 33 * 16 <= layer.count_workspace((None, 16, 16, 32)) <= 4 * 32 * 32 * 16
    depthwise = DepthwiseConv2D(3, padding="same", depth_multiplier=2)
    depthwise.build_for((None, 10, 10, 4))
    assert depthwise.count_workspace((None, 10, 10, 4)) == 12 * 12 * 8 + 10 * 10 * 8
    separable = SeparableConv2D(5, 3, padding="same", depth_multiplier=2)
    separable.build_for((None, 10, 10, 4))
    assert separable.count_workspace((None, 10, 10, 4)) == 12 * 12 * 8 + 2 * 10 * 10 * 8
    assert layer.count_workspace((None, None, 16, 32)) == 0 == depthwise.count_workspace((None, 10, None, 4))


def test_get_config_makes_the_same_layer():
    for layer in (Conv2DTranspose(4, 3, strides=2, output_padding=1, activation="relu"),
                  DepthwiseConv1D(3, depth_multiplier=2, padding="same"),
                  SeparableConv2D(4, (3, 2), depth_multiplier=2, dilation_rate=2)):
        config = layer.get_config()
        again = type(layer)(**config)
        assert again.get_config() == config
    assert Conv2DTranspose(4, 3, strides=2, output_padding=1).get_config()["output_padding"] == (1, 1)
    assert Conv1DTranspose(4, 3).get_config()["output_padding"] is None


# -- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layer, input_shape, message, argument", [
    (Conv2DTranspose(4, 2, padding="same", output_padding=0), (None, 1, 3, 2),
     "output_padding (0, 0) with kernel_size (2, 2) and padding 'same' leaves an empty output (spatial size "
     "(0, 2)) for the input (None, 1, 3, 2)", "output_padding"),
    (Conv1DTranspose(4, 2, strides=2, padding="same", output_padding=0), (None, 1, 2),
     "output_padding (0,) with kernel_size (2,) and padding 'same' leaves an empty output (spatial size (0,)) "
     "for the input (None, 1, 2)", "output_padding"),
    (Conv2DTranspose(4, 3), (None, 8, 2), "expects an input of shape (batch, height, width, channels), "
                                          "got (None, 8, 2)", None),
    (Conv2DTranspose(4, 3), (None, 8, 8, None),
     "needs a known number of channels (the last axis), got (None, 8, 8, None)", None),
    (Conv2DTranspose(4, 3), (None, 0, 3, 2), "needs at least one cell on every spatial axis, got (None, 0, 3, 2)",
     None),
    (DepthwiseConv2D(5), (None, 3, 3, 1), "kernel_size (5, 5) is larger than its input (3, 3) with padding 'valid'",
     "kernel_size"),
    (SeparableConv1D(2, 4, dilation_rate=2), (None, 5, 3),
     "kernel_size (4,) with dilation_rate (2,) is larger than its input (5,) with padding 'valid'", "kernel_size"),
    (DepthwiseConv1D(3), (None, 8, 8, 3), "expects an input of shape (batch, steps, channels), got (None, 8, 8, 3)",
     None),
    (SeparableConv2D(3, 3), (None, 8, 8, None),
     "needs a known number of channels (the last axis), got (None, 8, 8, None)", None),
])
def test_shape_errors(layer, input_shape, message, argument):
    with pytest.raises(ShapeError) as caught:
        layer.build_for(input_shape)
    assert (caught.value.message, caught.value.argument) == (message, argument)
    with pytest.raises(ShapeError) as caught:
        layer.compute_output_shape(input_shape)
    assert caught.value.message == message


@pytest.mark.parametrize("make, message, argument", [
    (lambda: Conv2DTranspose(4, 3, strides=2, output_padding=2),
     "output_padding must be less than strides on every axis, got output_padding (2, 2) and strides (2, 2) "
     "(axis 0: 2 >= 2)", "output_padding"),
    (lambda: Conv2DTranspose(4, 3, strides=(2, 1), output_padding=(1, 1)),
     "output_padding must be less than strides on every axis, got output_padding (1, 1) and strides (2, 1) "
     "(axis 1: 1 >= 1)", "output_padding"),
    (lambda: Conv1DTranspose(4, 3, dilation_rate=2, output_padding=1),
     "output_padding must be less than strides on every axis, got output_padding (1,) and strides (1,) "
     "(axis 0: 1 >= 1)", "output_padding"),
    (lambda: Conv1DTranspose(4, 3, output_padding=-1),
     "argument 'output_padding' must be an integer >= 0 or a list of 1 integer >= 0 or null, got integer -1",
     "output_padding"),
    (lambda: Conv2DTranspose(4, 3, output_padding=[1, 1, 1]),
     "argument 'output_padding' must be an integer >= 0 or a list of 2 integers >= 0 or null, got a list "
     "(3 items)", "output_padding"),
    (lambda: Conv2DTranspose(4, 3, strides=2, dilation_rate=2),
     "strides > 1 not supported in conjunction with dilation_rate > 1, got strides (2, 2) and dilation_rate (2, 2)",
     "dilation_rate"),
    (lambda: Conv1DTranspose(4, 3, padding="causal"),
     "argument 'padding' must be one of 'valid', 'same', got string 'causal'", "padding"),
    (lambda: DepthwiseConv1D(3, padding="causal"),
     "argument 'padding' must be one of 'valid', 'same', got string 'causal'", "padding"),
    (lambda: DepthwiseConv2D(3, depth_multiplier=0),
     "argument 'depth_multiplier' must be an integer >= 1, got integer 0", "depth_multiplier"),
    (lambda: SeparableConv2D(0, 3), "argument 'filters' must be an integer >= 1, got integer 0", "filters"),
    (lambda: DepthwiseConv2D(3, kernel_initializer="ones"),
     "unknown argument 'kernel_initializer'; did you mean 'depthwise_initializer'?", "kernel_initializer"),
    (lambda: DepthwiseConv2D(3, data_format="channels_first"),
     "argument 'data_format': 'channels_first' is not supported; layerspec uses channels_last, with channels on "
     "the last axis", "data_format"),
    (lambda: Conv2DTranspose(4, 3, kernel_regularizer="l2"),
     "argument 'kernel_regularizer' is a Keras training option that layerspec does not support (it runs "
     "inference only)", "kernel_regularizer"),
])
def test_argument_errors(make, message, argument):
    with pytest.raises(ArgumentError) as caught:
        make()
    assert (caught.value.message, caught.value.argument) == (message, argument)


# -- specs -----------------------------------------------------------------------------------------
SPEC = """\
input: [16, 16, 8]
layers:
  - {type: DepthwiseConv2D, kernel_size: 3, strides: 2, padding: same, use_bias: false}
  - {type: SeparableConv2D, filters: 8, kernel_size: 3, padding: same, depth_multiplier: 2, activation: relu}
  - {type: Conv2DTranspose, filters: 4, kernel_size: 3, strides: 2, padding: same, output_padding: 1}
  - {type: Conv1DTranspose, filters: 2, kernel_size: 2}
"""


def test_a_spec_builds_and_runs():
    model = layerspec.loads(SPEC.replace("  - {type: Conv1DTranspose, filters: 2, kernel_size: 2}\n", ""))
    assert model.output_shape == (None, 16, 16, 4)
    assert [layer.name for layer in model.layers] == ["depthwise_conv2d", "separable_conv2d", "conv2d_transpose"]
    assert model.count_params() == 9 * 8 + (9 * 8 * 2 + 16 * 8 + 8) + (9 * 4 * 8 + 4)
    out = model.init(seed=0).predict(np.ones((2, 16, 16, 8), np.float32))
    assert out.shape == (2, 16, 16, 4) and out.dtype == np.float32


def test_a_rank_mistake_is_reported_at_its_layer_in_the_spec():
    with pytest.raises(ShapeError) as caught:
        build_model(loads_spec(SPEC, path="v.yaml"))
    assert str(caught.value) == ("v.yaml:6:5: layer 4 'conv1d_transpose' (Conv1DTranspose): expects an input of "
                                 "shape (batch, steps, channels), got (None, 16, 16, 4)")


def test_a_bad_output_padding_is_reported_at_its_value_in_the_spec():
    text = SPEC.replace("output_padding: 1", "output_padding: 2")
    with pytest.raises(ArgumentError) as caught:
        build_model(loads_spec(text, path="v.yaml"))
    line = text.splitlines()[4]
    column = line.index("output_padding: 2") + len("output_padding: ") + 1
    assert str(caught.value) == (f"v.yaml:5:{column}: layer 3 'conv2d_transpose' (Conv2DTranspose): "
                                 "output_padding must be less than strides on every axis, got output_padding "
                                 "(2, 2) and strides (2, 2) (axis 0: 2 >= 2)")


# -- the benchmark's references compute what the layers compute ------------------------------------------
def _benchmark():
    path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "conv_variants.py"
    spec = importlib.util.spec_from_file_location("layerspec_benchmark_conv_variants", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", ["transpose", "depthwise"])
def test_every_benchmark_reference_matches_the_layer(case):
    benchmark = _benchmark()
    layer, references, x = benchmark.make_case(case, 2, np.random.default_rng(0))
    ours = layer(x)
    assert len(references) >= 3
    for reference in references.values():
        result = reference(x)
        assert result.dtype == np.float32
        np.testing.assert_allclose(result, ours, rtol=2e-4, atol=2e-4)
