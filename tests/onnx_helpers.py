"""Exporting a model to ONNX and running it in ONNX Runtime, for the tests.

:func:`assert_onnx_matches` is the test of every converter: the spec's model
with seeded weights, exported (which checks the file with ``onnx.checker``
and compares ONNX's inferred shapes with layerspec's), run in ONNX Runtime
on random inputs at two batch sizes (and two lengths, where the spec has a
``null`` size), must give layerspec's outputs.
"""

from __future__ import annotations

import textwrap

import numpy as np
import onnxruntime
from onnx import TensorProto, helper

from layerspec import onnx_convert
from layerspec.onnx_export import export_onnx
from layerspec.spec import build_model, loads_spec

RTOL, ATOL = 1e-4, 1e-5


def model_of(spec_text: str, seed: int = 0):
    """The built model of a spec text, its weights drawn from ``seed``."""
    model = build_model(loads_spec(textwrap.dedent(spec_text), path="<test>"), require_input=True)
    model.init(seed=seed)
    return model


def session_of(export) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session (CPU) of an export's model."""
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(export.model.SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])


def random_inputs(model, batch: int, length: int, seed: int = 1) -> list[np.ndarray]:
    """Inputs for ``model``: normal floats, or ids below the smallest
    vocabulary of the Embeddings reading an integer input; ``length`` for
    every size the spec leaves null."""
    rng = np.random.default_rng(seed)
    arrays = []
    consumers = model.graph.consumers()
    for number, graph_input in enumerate(model.graph.inputs):
        shape = (batch,) + tuple(length if size is None else size for size in graph_input.shape)
        if model._integer_input(number):
            limit = min(getattr(node.layer, "input_dim", 10) or 10 for node in consumers[number])
            arrays.append(rng.integers(0, limit, size=shape).astype(graph_input.dtype or np.int64))
        else:
            arrays.append(rng.standard_normal(shape).astype(model.dtype))
    return arrays


def assert_onnx_matches(spec_or_model, inputs=None, opset=None, batches=(3, 1), lengths=(5, 2), seed=0,
                        rtol=RTOL, atol=ATOL):
    """Export, run in ONNX Runtime, compare with ``model.predict``.

    Args:
        spec_or_model: a spec's YAML text or a built model with weights.
        inputs: the inputs to use (a list, one per model input); default
            random ones at each of ``batches`` (and ``lengths``).

    Returns:
        The export (its ``opset``, ``shapes`` and ``model``).
    """
    model = model_of(spec_or_model, seed) if isinstance(spec_or_model, str) else spec_or_model
    export = export_onnx(model, opset)
    session = session_of(export)
    feeds = [inputs] if inputs is not None else [random_inputs(model, batch, length)
                                                 for batch, length in zip(batches, lengths)]
    for arrays in feeds:
        expected = model.predict(arrays if len(arrays) > 1 else arrays[0])
        expected = expected if isinstance(expected, list) else list(expected.values()) \
            if isinstance(expected, dict) else [expected]
        names = [item.name for item in session.get_inputs()]
        got = session.run(None, dict(zip(names, arrays)))
        assert len(got) == len(expected)
        for number, (value, want) in enumerate(zip(got, expected)):
            assert value.shape == want.shape, f"output {number}: shape {value.shape}, expected {want.shape}"
            np.testing.assert_allclose(value, want, rtol=rtol, atol=atol, err_msg=f"output {number}")
    return export


def onnx_output(model, *arrays) -> np.ndarray:
    """The first output ONNX Runtime computes for ``model`` exported, on
    ``arrays`` (one per model input, in order)."""
    session = session_of(export_onnx(model))
    names = [item.name for item in session.get_inputs()]
    return session.run(None, dict(zip(names, arrays)))[0]


def one_layer(input_shape, layer: str, **arguments) -> str:
    """A spec of one ``layer`` (its type) with ``arguments``, on ``input_shape``."""
    written = ", ".join(f"{key}: {value}" for key, value in arguments.items())
    return f"""
    input: {input_shape}
    layers:
      - {{type: {layer}, {written}}}
    """


def onnx_masks(monkeypatch, model, inputs: list, opset=None) -> dict:
    """The output masks the mask converters make, by node name, as ONNX
    Runtime computes them on ``inputs`` (added to the exported model's
    outputs for the run)."""
    made = {}
    real = onnx_convert.mask_converter_of

    def recording(layer):
        make = real(layer)
        if make is None:
            return None

        def wrapped(conversion):
            made[conversion.node.name] = make(conversion)
            return made[conversion.node.name]
        return wrapped

    monkeypatch.setattr(onnx_convert, "mask_converter_of", recording)
    export = export_onnx(model, opset)
    monkeypatch.setattr(onnx_convert, "mask_converter_of", real)
    for name in made.values():
        export.model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.BOOL, None))
    session = session_of(export)
    got = session.run(list(made.values()), dict(zip([item.name for item in session.get_inputs()], inputs)))
    return dict(zip(made, got))
