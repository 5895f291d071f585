"""Convolutional LSTMs as ONNX: ConvLSTM1D, ConvLSTM2D and ConvLSTM3D.

ONNX has no convolutional LSTM operator, so the layer is a ``Scan`` over
time whose body holds one step (layers/conv_recurrent.py)::

    z = Conv(x_t, kernel) + bias + Conv(h, recurrent_kernel)
    i, f, o = recurrent_activation(z_i, z_f, z_o); g = activation(z_c)
    c = f * c + i * g;  h = o * activation(c)

ONNX's Conv is channels-first: the sequence is transposed once to
``(time, batch, channels, *spatial)`` before the Scan, the states stay
channels-first inside it, and the outputs are transposed back to
layerspec's channels-last layout after it. Pads are explicit, as
layerspec's ``padding_amounts`` gives them ('same': the extra one after);
the recurrent convolution is always stride 1, 'same'. Gates are reordered
from Keras's i, f, c, o to i, f, o, c so one activation call serves the
three gates. ConvLSTM takes no mask (layerspec refuses one when the model
is built), so the Scan has none. A float64 model is written in float64,
which ONNX allows, but ONNX Runtime's CPU provider has no float64 Conv.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import activations
from ..layers.conv_recurrent import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from ..layers.windows import output_spatial, padding_amounts
from . import Conversion, converts
from .activations import apply_activation
from .recurrent import check_activations, distinct, value_info, zero_state

#: Keras's gates i, f, c, o in the Scan's order i, f, o, c.
_SCAN_ORDER = (0, 1, 3, 2)


def _onnx_kernel(value: np.ndarray, rank: int) -> np.ndarray:
    """A Keras kernel ``(*kernel_size, in, 4 * filters)`` as ONNX's ``(4 *
    filters, in, *kernel_size)``, gates in the Scan's order."""
    kernel = np.transpose(value, (rank + 1, rank) + tuple(range(rank)))
    blocks = np.split(kernel, 4, axis=0)
    return np.ascontiguousarray(np.concatenate([blocks[k] for k in _SCAN_ORDER], axis=0))


def _conv_pads(sizes, kernel_size, strides, dilations, padding) -> list[int]:
    """ONNX's ``pads`` (every axis's start, then every axis's end)."""
    amounts = [padding_amounts(n, k, s, d, padding) for n, k, s, d in zip(sizes, kernel_size, strides, dilations)]
    return [before for before, _ in amounts] + [after for _, after in amounts]


def conv(builder, x: str, kernel: str, bias: str | None, kernel_size, strides, dilations, pads) -> str:
    """A channels-first Conv with explicit pads."""
    inputs = [x, kernel] + ([bias] if bias else [])
    return builder.op("Conv", inputs, kernel_shape=list(kernel_size), strides=list(strides),
                      dilations=list(dilations), pads=list(pads), hint="conv")


def _to_channels_last(builder, x: str, rank: int, leading: int) -> str:
    """``(*leading axes, channels, *spatial)`` → ``(*leading, *spatial, channels)``."""
    perm = list(range(leading)) + [leading + 1 + k for k in range(rank)] + [leading]
    return builder.transpose(x, perm, hint="channels_last")


def _to_channels_first(builder, x: str, rank: int, leading: int) -> str:
    """``(*leading axes, *spatial, channels)`` → ``(*leading, channels, *spatial)``."""
    perm = list(range(leading)) + [leading + rank] + [leading + k for k in range(rank)]
    return builder.transpose(x, perm, hint="channels_first")


def _activate(conversion: Conversion, x: str, function, filters: int, gates: int, spatial: tuple) -> str:
    """``function`` on ``gates`` gate blocks along the channels of a
    channels-first ``x``. One that works along an axis (softmax) sees each
    gate's filters alone, at each position, as layerspec's channels-last
    ``activate_gates``: it runs on a channels-last copy of each gate."""
    rank = len(spatial)
    if activations.is_elementwise(function):
        return apply_activation(conversion, x, function, (None, gates * filters) + spatial)
    builder = conversion.builder
    pieces = builder.split(x, [filters] * gates, axis=1, hint="gate") if gates > 1 else [x]
    done = []
    for piece in pieces:
        last = _to_channels_last(builder, piece, rank, 1)
        last = apply_activation(conversion, last, function, (None,) + spatial + (filters,))
        done.append(_to_channels_first(builder, last, rank, 1))
    return builder.concat(done, axis=1, hint="gates")


def _step(conversion: Conversion, weights: dict, h: str, c: str, x_t: str, spatial: tuple, out_spatial: tuple):
    """One ConvLSTM step on channels-first tensors: ``(h, c)``."""
    layer, builder = conversion.layer, conversion.builder
    rank, filters = layer.rank, layer.filters
    ones = (1,) * rank
    z = conv(builder, x_t, weights["kernel"], weights.get("bias"), layer.kernel_size, layer.strides,
             layer.dilation_rate, _conv_pads(spatial, layer.kernel_size, layer.strides, layer.dilation_rate,
                                             layer.padding))
    recurrent = conv(builder, h, weights["recurrent"], None, layer.kernel_size, ones, ones,
                     _conv_pads(out_spatial, layer.kernel_size, ones, ones, "same"))
    z = builder.op("Add", [z, recurrent], hint="z")
    sigmoid_part, candidate = builder.split(z, [3 * filters, filters], axis=1, hint="z")
    gates = _activate(conversion, sigmoid_part, layer.recurrent_activation, filters, 3, out_spatial)
    input_gate, forget_gate, output_gate = builder.split(gates, [filters] * 3, axis=1, hint="gate")
    candidate = _activate(conversion, candidate, layer.activation, filters, 1, out_spatial)
    c = builder.op("Add", [builder.op("Mul", [forget_gate, c]), builder.op("Mul", [input_gate, candidate])], hint="c")
    h = builder.op("Mul", [output_gate, _activate(conversion, c, layer.activation, filters, 1, out_spatial)], hint="h")
    return h, c


def _weights(conversion: Conversion) -> dict[str, str]:
    layer, dtype = conversion.layer, conversion.builder.dtype
    rank = layer.rank

    def kernel(weight):
        return lambda: _onnx_kernel(np.asarray(weight.numpy(), dtype), rank)

    # Read through the layer's attributes: inside a Bidirectional the
    # weights are named after the direction (forward_conv_lstm2d/kernel).
    names = {"kernel": conversion.derived_weight("onnx_kernel", kernel(layer.kernel)),
             "recurrent": conversion.derived_weight("onnx_recurrent_kernel", kernel(layer.recurrent_kernel))}
    if layer.bias is not None:
        def bias():
            blocks = np.split(np.asarray(layer.bias.numpy(), dtype), 4)
            return np.concatenate([blocks[k] for k in _SCAN_ORDER])
        names["bias"] = conversion.derived_weight("onnx_bias", bias)
    return names


def _step_graph(conversion: Conversion, weights: dict, channels: int, spatial: tuple, out_spatial: tuple):
    """The Scan's body: ``(h, c, x_t)`` channels-first → the new ``h`` and
    ``c``, and the step's output with ``return_sequences``. Returns
    ``(GraphProto, number of outputs)``."""
    layer, body = conversion.layer, conversion.builder.subgraph()
    dtype, state_dims = body.dtype, [None, layer.filters, *out_spatial]
    h_in, c_in, x_in = body.fresh("state_h_in"), body.fresh("state_c_in"), body.fresh("x_t")
    h, c = _step(replace(conversion, builder=body), weights, h_in, c_in, x_in, spatial, out_spatial)
    outputs = [h, c]
    if layer.return_sequences:
        outputs.append(body.op("Identity", [h], hint="output_t"))
    graph = body.graph_proto(f"{conversion.node.name}_step",
                             [value_info(h_in, dtype, state_dims), value_info(c_in, dtype, state_dims),
                              value_info(x_in, dtype, [None, channels, *spatial])],
                             [value_info(name, dtype, state_dims) for name in outputs])
    return graph, len(outputs)


@converts(ConvLSTM1D, ConvLSTM2D, ConvLSTM3D)
def conv_lstm(conversion: Conversion):
    """The ConvLSTM as a Scan over time (see the module's docstring); the
    sequence (``return_sequences``) or the last ``h``, then with
    ``return_state`` the final ``h`` and ``c``."""
    check_activations(conversion)
    layer, builder = conversion.layer, conversion.builder
    rank, sequence_shape = layer.rank, conversion.input_shapes[0]
    spatial = tuple(sequence_shape[2:-1])
    out_spatial = output_spatial(spatial, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding,
                                 "kernel_size")
    # Time-major and channels-first: the Scan runs over axis 0 (see
    # recurrent.emit_scan: ONNX Runtime crashes on an empty axis 1).
    x = builder.transpose(conversion.x, [1, 0, rank + 2] + [2 + k for k in range(rank)], hint="time_major")
    initial = [_to_channels_first(builder, state, rank, 1) for state in conversion.inputs[1:]] \
        or [zero_state(builder, conversion.x, [layer.filters, *out_spatial])] * 2
    graph, count = _step_graph(conversion, _weights(conversion), sequence_shape[-1], spatial, out_spatial)
    results = builder.op("Scan", initial + [x], count, hint="scan", body=graph, num_scan_inputs=1,
                         scan_input_directions=[int(layer.go_backwards)])
    if not layer.return_sequences and not layer.return_state:
        return _to_channels_last(builder, results[0], rank, 1)
    states = [_to_channels_last(builder, state, rank, 1) for state in results[:2]] if layer.return_state else []
    if layer.return_sequences:  # (time, batch, filters, *spatial) → (batch, time, *spatial, filters)
        output = builder.transpose(results[2], [1, 0] + [3 + k for k in range(rank)] + [2], hint="sequence")
    else:
        output = states[0]
    return distinct(builder, [output, *states]) if layer.return_state else output
