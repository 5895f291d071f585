"""ONNX export of the merge layers (layerspec/onnx_convert/merging.py) and
of the masks they combine."""

from __future__ import annotations

import numpy as np
import pytest

from layerspec.onnx_builder import MAX_OPSET
from tests.onnx_helpers import assert_onnx_matches, model_of, onnx_masks

OPSETS = [None, MAX_OPSET]


def two_inputs(layer: str, a: str, b: str) -> str:
    """A spec merging inputs ``a`` and ``b`` (per-sample shapes) with ``layer``
    (a flow mapping's inside, without ``inputs``)."""
    return f"inputs: {{a: {a}, b: {b}}}\nlayers:\n  - {{{layer}, inputs: [a, b]}}\n"


def op_types(export) -> list[str]:
    return [node.op_type for node in export.model.graph.node]


def exported_masks(monkeypatch, spec: str, names: list[str], inputs: list, opset=None) -> tuple[dict, dict]:
    """The output masks of the nodes ``names``: layerspec's (its masked
    forward pass on ``inputs``) and ONNX Runtime's (the mask tensors the
    mask converters made, added to the exported model's outputs)."""
    model = model_of(spec)
    made = onnx_masks(monkeypatch, model, inputs, opset)
    expected = {}
    for node in model.graph.nodes:
        if node.name in names:
            def keep(values, mask, _name=node.name, _compute=node.layer.compute_mask):
                expected[_name] = _compute(values, mask)
                return expected[_name]
            monkeypatch.setattr(node.layer, "compute_mask", keep)
    model.predict(inputs if len(inputs) > 1 else inputs[0])
    return expected, {name: made[name] for name in names}


def ids(*shape, seed=0, high=4) -> np.ndarray:
    """Token ids in [0, high) with some zeros (padding)."""
    return np.random.default_rng(seed).integers(0, high, size=shape).astype(np.int64)


# -- elementwise merges ---------------------------------------------------------

ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("kind", ELEMENTWISE)
@pytest.mark.parametrize("a, b", [("[3, 4]", "[3, 4]"), ("[3, 4]", "[4]"), ("[1, 4]", "[3, 1]"),
                                  ("[2, 3, 4]", "[4]"), ("[null, 4]", "[null, 4]")])
def test_elementwise_merges_broadcast_as_keras(kind, a, b, opset):
    # (3, 4) with (4,): Keras's rule puts the missing axis after the batch.
    export = assert_onnx_matches(two_inputs(f"type: {kind}", a, b), opset=opset)
    assert export.opset == (opset or 13)


@pytest.mark.parametrize("kind, op", [("Add", "Add"), ("Multiply", "Mul"), ("Average", "Add")])
def test_merges_of_three_combine_left_to_right_exactly(kind, op):
    spec = f"inputs: {{a: [4], b: [4], c: [4]}}\nlayers:\n  - {{type: {kind}, inputs: [a, b, c]}}\n"
    rng = np.random.default_rng(3)
    inputs = [(rng.standard_normal((5, 4)) * 10.0 ** rng.integers(-3, 4, (5, 4))).astype(np.float32) for _ in range(3)]
    export = assert_onnx_matches(spec, inputs=inputs, rtol=0, atol=0)
    assert op_types(export).count(op) == 2


def test_average_divides_by_the_count():
    export = assert_onnx_matches("inputs: {a: [2], b: [2]}\nlayers:\n  - {type: Average, inputs: [a, b]}",
                                 inputs=[np.array([[1.0, 3.0]], np.float32), np.array([[2.0, 6.0]], np.float32)])
    assert "Div" in op_types(export)


def test_maximum_and_minimum_are_one_node():
    spec = "inputs: {a: [4], b: [4], c: [4]}\nlayers:\n  - {type: Maximum, inputs: [a, b, c]}\n" \
           "  - {type: Minimum, inputs: [a, b, c, maximum]}\n"
    export = assert_onnx_matches(spec)
    assert op_types(export).count("Max") == 1 and op_types(export).count("Min") == 1


def test_nan_spreads_through_maximum_and_minimum_as_in_layerspec():
    a = np.array([[np.nan, 1, 2]], np.float32)
    b = np.array([[0, np.nan, 3]], np.float32)
    assert_onnx_matches(two_inputs("type: Maximum", "[3]", "[3]"), inputs=[a, b])
    assert_onnx_matches(two_inputs("type: Minimum", "[3]", "[3]"), inputs=[a, b])


def test_a_merge_of_one_input_is_that_input():
    export = assert_onnx_matches("input: [3]\nlayers:\n  - {type: Add, inputs: [input]}")
    assert op_types(export) == ["Identity"]


# -- Concatenate ------------------------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("a, b, axis", [("[3, 4]", "[3, 2]", -1), ("[3, 4]", "[2, 4]", 1), ("[3, 4]", "[2, 4]", -2),
                                        ("[null, 4]", "[null, 2]", 2), ("[2, 3, 4]", "[2, 5, 4]", 2)])
def test_concatenate_along_its_axis(a, b, axis, opset):
    export = assert_onnx_matches(two_inputs(f"type: Concatenate, axis: {axis}", a, b), opset=opset)
    concat = next(node for node in export.model.graph.node if node.op_type == "Concat")
    assert concat.attribute[0].i == axis % (len(a.split(",")) + 1)


# -- Dot --------------------------------------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("a, b, arguments", [
    ("[5]", "[5]", "axes: 1"),                                  # (batch, 1)
    ("[5]", "[5]", "axes: -1, normalize: true"),                # cosine similarity
    ("[3, 4]", "[3, 5]", "axes: 1"),                            # (batch, 4, 5)
    ("[3, 4]", "[5, 4]", "axes: 2"),                            # (batch, 3, 5)
    ("[3, 4]", "[4, 5]", "axes: [2, 1]"),                       # a batched matrix product
    ("[4]", "[3, 4]", "axes: [1, 2]"),                          # one side a vector
    ("[3, 4]", "[4]", "axes: [2, 1], normalize: true"),
    ("[2, 3, 4]", "[4, 5]", "axes: [3, 1]"),                    # several axes merged
    ("[2, 3, 4]", "[3, 5, 6]", "axes: [2, 1], normalize: true"),
    ("[null, 4]", "[null, 6]", "axes: 1"),                      # summed over an unknown length
    ("[null, 4]", "[null, 4]", "axes: 2"),                      # (batch, T, T)
])
def test_dot_is_one_batched_matmul(a, b, arguments, opset):
    export = assert_onnx_matches(two_inputs(f"type: Dot, {arguments}", a, b), opset=opset)
    assert op_types(export).count("MatMul") == 1 and "Einsum" not in op_types(export)
    assert export.opset == (opset or 13)


@pytest.mark.parametrize("a, b, axes", [
    ("[null, 3, 4]", "[null, 4]", "[3, 2]"),       # output (batch, T, 3, T): its Reshape target computed
    ("[null, null, null]", "[null, 3]", "[3, 1]"),  # x as (batch, T·T, T): a run-time product (ReduceProd)
])
def test_dot_with_two_unknown_sizes_in_a_reshape_needs_opset_14(a, b, axes):
    spec = two_inputs(f"type: Dot, axes: {axes}", a, b)
    export = assert_onnx_matches(spec)
    assert export.opset == 14
    assert (export.requirements[0].what, export.requirements[0].layer) == (
        "a Reshape to more than one size known only at run time", "layer 'dot' (Dot)")
    # ReduceProd takes its axes as an input from opset 18 on.
    assert_onnx_matches(spec, opset=MAX_OPSET)


def test_dot_normalize_leaves_a_zero_vector_zero():
    zeros, ones = np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)
    assert_onnx_matches(two_inputs("type: Dot, axes: 1, normalize: true", "[3]", "[3]"), inputs=[zeros, ones],
                        rtol=0, atol=0)


# -- masks -------------------------------------------------------------------------------

MASKED = """
inputs: {a: [5], b: [5], c: [5, 3]}
layers:
  - {type: Embedding, input_dim: 4, output_dim: 3, mask_zero: true, inputs: a, name: ea}
  - {type: Embedding, input_dim: 4, output_dim: 3, mask_zero: true, inputs: b, name: eb}
  - {type: Add, inputs: [ea, eb], name: add}
  - {type: Maximum, inputs: [ea, eb, add], name: max}
  - {type: Concatenate, inputs: [ea, eb], name: cat}
  - {type: Concatenate, inputs: [ea, eb], axis: 1, name: cat1}
  - {type: Concatenate, inputs: [add, c], name: mixed}
  - {type: Concatenate, inputs: [c, ea], axis: 1, name: mixed1}
  - {type: Multiply, inputs: [mixed, mixed], name: mul}
  - {type: Dot, axes: 2, inputs: [ea, eb], name: dot}
outputs: [max, cat, cat1, mixed1, mul, dot]
"""


@pytest.mark.parametrize("opset", OPSETS)
def test_merge_masks_equal_layerspecs(monkeypatch, opset):
    """OR for elementwise merges; Concatenate joins the masks along its axis,
    an unmasked input counting as unmasked everywhere."""
    inputs = [ids(3, 5, seed=1), ids(3, 5, seed=2), np.random.default_rng(3).standard_normal((3, 5, 3))
              .astype(np.float32)]
    names = ["add", "max", "cat", "cat1", "mixed", "mixed1", "mul"]
    expected, got = exported_masks(monkeypatch, MASKED, names, inputs, opset)
    for name in names:
        assert got[name].dtype == bool
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    # The padding differs between the inputs, so OR and concatenation are both exercised.
    assert not np.array_equal(expected["add"], expected["cat1"][:, :5])


def test_merges_of_masked_inputs_give_layerspecs_values():
    """The values of merges reading masked Embeddings (Dot ends the mask)."""
    model = model_of(MASKED)
    inputs = [ids(2, 5, seed=4), ids(2, 5, seed=5), np.ones((2, 5, 3), np.float32)]
    assert_onnx_matches(model, inputs=inputs)
    assert model.graph.nodes[-1].output_mask is None


def test_masks_are_not_made_where_an_input_has_none():
    # Add of a masked and an unmasked input has no mask (Keras: None).
    spec = """
    inputs: {a: [5], c: [5, 3]}
    layers:
      - {type: Embedding, input_dim: 4, output_dim: 3, mask_zero: true, inputs: a, name: e}
      - {type: Add, inputs: [e, c]}
    """
    model = model_of(spec)
    assert model.graph.nodes[-1].output_mask is None
    export = assert_onnx_matches(model, inputs=[ids(2, 5), np.ones((2, 5, 3), np.float32)])
    assert "Or" not in op_types(export)
