"""The graph core (layerspec/graph.py): numbering, the walker, what it frees
and when, and the memory figure that follows the same rule."""

import numpy as np
import pytest

import layerspec
from layerspec.errors import DataError
from layerspec.graph import Graph, GraphInput, Node, chain
from tests.conftest import SPECS


class One:
    """A stand-in layer taking one input."""

    takes_several_inputs = False


class Merge:
    """A stand-in layer taking a list of inputs."""

    takes_several_inputs = True


def node(name: str, *sources: int, several: bool = False) -> Node:
    return Node(Merge() if several else One(), tuple(sources), name=name)


def diamond() -> Graph:
    """x → a → (b, c) → d: tensors x=0, a=1, b=2, c=3, d=4."""
    return Graph([GraphInput("x")], [node("a", 0), node("b", 1), node("c", 1), node("d", 2, 3, several=True)], [4])


def skip() -> Graph:
    """x → a → b → c, and d = [a, c]: a is held across b and c."""
    return Graph([GraphInput("x")], [node("a", 0), node("b", 1), node("c", 2), node("d", 1, 3, several=True)], [4])


def two_inputs() -> Graph:
    """p → a, q → b, c = [a, b]; outputs a (also read by c) and c."""
    return Graph([GraphInput("p"), GraphInput("q")],
                 [node("a", 0), node("b", 1), node("c", 2, 3, several=True)], [2, 4])


def describe(graph_node: Node, value) -> str:
    """A node's result as text naming what it received: ``b(a(x))``."""
    if isinstance(value, list):
        return f"{graph_node.name}[{', '.join(value)}]"
    return f"{graph_node.name}({value})"


# -- structure -----------------------------------------------------------------
def test_tensors_are_numbered_inputs_first_then_one_per_node():
    graph = two_inputs()
    assert [graph.tensor_of(item) for item in graph.nodes] == [2, 3, 4]
    assert [item.index for item in graph.nodes] == [0, 1, 2]
    assert [graph.tensor_name(tensor) for tensor in range(5)] == ["p", "q", "a", "b", "c"]
    assert graph.producer(1) is graph.inputs[1]
    assert graph.producer(3) is graph.nodes[1]


def test_consumers_lists_each_reader_once_in_order():
    graph = Graph([GraphInput("x")], [node("a", 0), node("b", 1, 1, several=True), node("c", 1, 2, several=True)],
                  [3])
    assert [[reader.name for reader in readers] for readers in graph.consumers()] == [["a"], ["b", "c"], ["c"], []]


def test_several_inputs_comes_from_the_layer():
    assert node("m", 0, 0, several=True).several_inputs
    assert not node("n", 0).several_inputs


def test_chain_reads_the_layer_above():
    layers = [One(), One(), One()]
    graph = chain(layers)
    assert [item.sources for item in graph.nodes] == [(0,), (1,), (2,)]
    assert [item.layer for item in graph.nodes] == layers
    assert [item.name for item in graph.inputs] == ["input"]
    assert graph.outputs == (3,)
    assert [item.frees for item in graph.nodes] == [(0,), (1,), (2,)]


def test_chain_of_nothing_outputs_its_input():
    assert chain([]).outputs == (0,)


# -- frees ---------------------------------------------------------------------
def test_diamond_frees_each_tensor_after_its_last_reader():
    # x after a; a after c (its second reader), not after b; b and c after d.
    assert [item.frees for item in diamond().nodes] == [(0,), (), (1,), (2, 3)]


def test_skip_holds_the_skipped_tensor_until_the_merge():
    assert [item.frees for item in skip().nodes] == [(0,), (), (2,), (1, 3)]


def test_outputs_are_never_freed():
    # a is read by c but is also an output: kept to the end.
    assert [item.frees for item in two_inputs().nodes] == [(0,), (1,), (3,)]


def test_a_tensor_read_twice_by_one_node_is_freed_once():
    graph = Graph([GraphInput("x")], [node("a", 0), node("b", 1, 1, several=True)], [2])
    assert [item.frees for item in graph.nodes] == [(0,), (1,)]


# -- the walker ----------------------------------------------------------------
def test_walker_runs_nodes_in_order_and_returns_the_outputs():
    seen = []

    def apply(graph_node, value):
        seen.append(graph_node.name)
        return describe(graph_node, value)

    assert diamond().walk(["x"], apply) == ["d[b(a(x)), c(a(x))]"]
    assert seen == ["a", "b", "c", "d"]


def test_walker_gives_several_inputs_as_a_list_in_the_order_written():
    graph = Graph([GraphInput("x")], [node("a", 0), node("b", 1), node("m", 2, 1, 2, several=True)], [3])
    assert graph.walk(["x"], describe) == ["m[b(a(x)), a(x), b(a(x))]"]


def test_walker_returns_every_output_in_order():
    assert two_inputs().walk(["p", "q"], describe) == ["a(p)", "c[a(p), b(q)]"]


def test_walker_with_no_apply_calls_each_layer():
    class Double:
        takes_several_inputs = False

        def call(self, value):
            return 2 * value

    graph = chain([Double(), Double()])
    assert graph.walk([3], None) == [12]


class Producer:
    """A stand-in layer offering to run together with a ``Consumer`` after it."""

    takes_several_inputs = False

    def __init__(self):
        self.calls = []

    def call(self, value):
        self.calls.append("call")
        return f"p({value})"

    def fused_with(self, following):
        if not isinstance(following, Consumer):
            return None
        return lambda value: self.calls.append("fused") or f"c(p({value}))"


class Consumer(One):
    def call(self, value):
        return f"c({value})"


def test_the_forward_pass_runs_a_layer_and_the_next_together_where_offered():
    producer = Producer()
    graph = chain([producer, Consumer(), One()])
    graph.nodes[2].layer.call = lambda value: f"o({value})"
    assert graph.walk(["x"], None) == ["o(c(p(x)))"]
    assert producer.calls == ["fused"]
    # The entry writes the consumer's tensor and frees what both free.
    fused_entry = graph._plan(fused=True)[0]
    assert fused_entry[4] == 2 and fused_entry[5] == (0, 1)
    assert len(graph._plan(fused=True)) == 2 and len(graph._plan()) == 3


def test_apply_and_observe_see_every_node():
    producer = Producer()
    graph = chain([producer, Consumer()])
    assert graph.walk(["x"], lambda graph_node, value: f"{type(graph_node.layer).__name__}({value})") == \
        ["Consumer(Producer(x))"]
    assert graph.walk(["x"], None, observe=lambda node, values: None) == ["c(p(x))"]
    assert producer.calls == ["call"]


@pytest.mark.parametrize("graph", [
    # the producer's result is read again further down
    Graph([GraphInput("x")], [Node(Producer(), (0,)), Node(Consumer(), (1,)), node("m", 1, 2, several=True)], [3]),
    # it is a model output
    Graph([GraphInput("x")], [Node(Producer(), (0,)), Node(Consumer(), (1,))], [1, 2]),
    # the consumer reads something else too
    Graph([GraphInput("x")], [Node(Producer(), (0,)), Node(Consumer(), (1, 0))], [2]),
    # the consumer is not the next node
    Graph([GraphInput("x")], [Node(Producer(), (0,)), node("b", 0), Node(Consumer(), (1,))], [2, 3]),
], ids=["read-twice", "an-output", "two-sources", "not-adjacent"])
def test_a_result_anything_else_needs_is_never_fused_away(graph):
    entries = graph._plan(fused=True)
    assert all(entry[6] is None for entry in entries) and len(entries) == len(graph.nodes)


def test_a_model_fuses_its_convolutions_and_poolings_and_computes_the_same(monkeypatch):
    model = layerspec.loads("""
input: [12, 12, 1]
layers:
  - {type: Conv2D, filters: 8, kernel_size: 3, activation: relu}
  - {type: MaxPooling2D, pool_size: 2}
  - {type: Conv2D, filters: 4, kernel_size: 2, activation: relu}
  - {type: MaxPooling2D, pool_size: 2}
  - {type: Flatten}
  - {units: 3}
""").init(seed=0)
    x = np.random.default_rng(0).standard_normal((5, 12, 12, 1)).astype(np.float32)
    entries = model.graph._plan(fused=True)
    assert [entry[6] is not None for entry in entries] == [True, True, False, False]
    expected = x
    for layer in model.layers:
        expected = layer.call(expected)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6, atol=1e-6)


def test_a_model_refuses_a_too_small_input_before_a_fused_pair_runs():
    model = layerspec.loads("""
input: [null, null, 2]
layers:
  - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}
  - {type: MaxPooling2D, pool_size: 8}
""").init(seed=0)
    with pytest.raises(DataError) as caught:
        model.predict(np.zeros((2, 9, 9, 2), np.float32))
    assert str(caught.value) == ("input: layer 2 'max_pooling2d' (MaxPooling2D): pool_size (8, 8) is larger than "
                                 "its input (7, 7) with padding 'valid'")


def held(values) -> list[int]:
    return [number for number, value in enumerate(values) if value is not None]


def test_observe_sees_what_is_held_right_after_each_node():
    snapshots = []
    skip().walk(["x"], describe, observe=lambda graph_node, values: snapshots.append((graph_node.name, held(values))))
    # Before its frees: a node's inputs, its result and what later nodes await.
    assert snapshots == [("a", [0, 1]), ("b", [1, 2]), ("c", [1, 2, 3]), ("d", [1, 3, 4])]


def test_observe_sees_outputs_kept_to_the_end():
    snapshots = []
    two_inputs().walk(["p", "q"], describe, observe=lambda graph_node, values: snapshots.append(held(values)))
    assert snapshots == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]


def test_observe_sees_the_values_themselves():
    values_after = []
    diamond().walk(["x"], describe, observe=lambda graph_node, values: values_after.append(list(values)))
    assert values_after[2] == [None, "a(x)", "b(a(x))", "c(a(x))", None]


# -- live_after: the memory rule -------------------------------------------------
SIZES = [1, 10, 100, 1000, 10000]


def test_live_after_on_a_diamond():
    # a: x + a; b: a + b; c: a + b + c; d: b + c + d.
    assert diamond().live_after(SIZES) == [11, 110, 1110, 11100]


def test_live_after_on_a_skip():
    # a stays held through b and c, until d.
    assert skip().live_after(SIZES) == [11, 110, 1110, 11010]


def test_live_after_on_two_inputs():
    # Both inputs are held from the start; a (an output) is held to the end.
    assert two_inputs().live_after(SIZES) == [111, 1110, 11100]


def test_live_after_on_a_chain_is_two_consecutive_tensors():
    assert chain([One(), One(), One()]).live_after([1, 10, 100, 1000]) == [11, 110, 1100]


def test_live_after_is_unknown_where_a_held_size_is():
    assert skip().live_after([1, 10, None, 1000, 10000]) == [11, None, None, 11010]


@pytest.mark.parametrize("graph", [diamond(), skip(), two_inputs()], ids=["diamond", "skip", "two_inputs"])
def test_live_after_is_what_the_walker_holds(graph):
    sizes = {"x": 1, "p": 1, "q": 2, "a": 10, "b": 100, "c": 1000, "d": 10000}
    totals = []

    def observe(graph_node, values):
        totals.append(sum(sizes[graph.tensor_name(number)] for number in held(values)))

    graph.walk([graph.inputs[i].name for i in range(len(graph.inputs))], describe, observe)
    assert graph.live_after([sizes[graph.tensor_name(t)] for t in range(len(graph.inputs) + len(graph.nodes))]) \
        == totals


# -- the check: the memory figure is what the forward pass holds -----------
def bytes_held_by_the_forward_pass(model, batch, monkeypatch) -> list[int]:
    """Bytes of the tensors the walker holds right after each node, during
    ``model.predict(batch)``; a buffer held twice counts once."""
    observed = []
    walk = Graph.walk

    def watched_walk(graph, inputs, apply, observe=None):
        if apply is not None:  # shapes, costs: not the forward pass
            return walk(graph, inputs, apply, observe)

        def measure(graph_node, values):
            arrays = {id(value): value for value in values if value is not None}
            observed.append(sum(array.nbytes for array in arrays.values()))

        return walk(graph, inputs, apply, measure)

    monkeypatch.setattr(Graph, "walk", watched_walk)
    model.predict(batch, batch_size=len(batch))
    monkeypatch.undo()
    return observed


@pytest.mark.parametrize("spec", ["resnet_small.yaml", "unet_small.yaml"])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_inference_memory_is_the_peak_the_forward_pass_holds(spec, batch_size, monkeypatch):
    model = layerspec.load(str(SPECS / spec)).init(seed=0)
    batch = np.random.default_rng(0).standard_normal((batch_size,) + model.input_shape).astype(np.float32)
    observed = bytes_held_by_the_forward_pass(model, batch, monkeypatch)
    assert len(observed) == len(model.nodes)
    summary = model.summary_data(batch_size=batch_size)
    assert max(observed) == summary["inference_memory_bytes"] - summary["params_bytes"]


def test_forward_pass_holds_at_each_node_what_live_after_says(monkeypatch):
    model = layerspec.load(str(SPECS / "resnet_small.yaml")).init(seed=0)
    batch = np.zeros((2,) + model.input_shape, np.float32)
    observed = bytes_held_by_the_forward_pass(model, batch, monkeypatch)
    per_sample = [int(np.prod(model.input_shape)) * 4] + [int(np.prod(item.output_shape[1:])) * 4
                                                          for item in model.nodes]
    assert observed == [2 * total for total in model.graph.live_after(per_sample)]


# -- masks ---------------------------------------------------------------------
class Recorder:
    """A stand-in layer that records how it was called and makes, passes or
    drops masks as told."""

    takes_several_inputs = False

    def __init__(self, makes=False, passes=False, uses=False, several=False):
        self.makes, self.supports_masking, self.uses_mask = makes, passes, uses
        self.takes_several_inputs = several
        self.calls = []

    def compute_mask_shape(self, shape, mask):
        if self.makes:
            return ("mask",)
        return (mask[0] if isinstance(mask, list) else mask) if self.supports_masking else None

    def compute_mask(self, x, mask):
        if self.makes:
            return np.asarray(x) > 0
        return (mask[0] if isinstance(mask, list) else mask) if self.supports_masking else None

    def call(self, x):
        self.calls.append(("call", None))
        return self.compute(x)

    def call_masked(self, x, mask):
        self.calls.append(("call_masked", mask))
        return self.compute(x)

    def compute(self, x):
        return x[0] + x[1] if self.takes_several_inputs else x


def masked_graph(*layers):
    nodes = [Node(layer, (index,)) for index, layer in enumerate(layers)]
    graph = Graph([GraphInput("x")], nodes, (len(nodes),))
    graph.plan_masks(lambda node, mask: node.layer.compute_mask_shape(None, mask))
    return graph


def test_a_graph_without_mask_makers_carries_no_masks():
    graph = masked_graph(Recorder(passes=True, uses=True), Recorder(uses=True))
    assert not graph.carries_masks
    assert [(node.input_mask, node.output_mask) for node in graph.nodes] == [(None, None), (None, None)]
    graph.walk([np.ones(2)], None)
    assert graph.nodes[0].layer.calls == [("call", None)]  # the plain walk, call alone


def test_masks_pass_through_layers_that_support_them_and_stop_at_others():
    maker, passer, user, dropper, after = (Recorder(makes=True), Recorder(passes=True), Recorder(passes=True, uses=True),
                                           Recorder(), Recorder(uses=True))
    graph = masked_graph(maker, passer, user, dropper, after)
    assert graph.carries_masks
    assert [node.output_mask for node in graph.nodes] == [("mask",), ("mask",), ("mask",), None, None]
    assert [node.drops_mask for node in graph.nodes] == [False, False, False, True, False]
    x = np.array([[1.0, -1.0, 2.0]])
    (out,) = graph.walk([x], None)
    np.testing.assert_array_equal(out, x)
    assert maker.calls == passer.calls == dropper.calls == [("call", None)]
    ((kind, mask),) = user.calls
    assert kind == "call_masked"
    np.testing.assert_array_equal(mask, [[True, False, True]])
    assert after.calls == [("call", None)]  # the mask was dropped before it


def test_a_merge_gets_the_list_of_its_inputs_masks():
    maker, merge = Recorder(makes=True), Recorder(passes=True, uses=True, several=True)
    nodes = [Node(maker, (0,)), Node(merge, (1, 0))]
    graph = Graph([GraphInput("x")], nodes, (2,))
    graph.plan_masks(lambda node, mask: node.layer.compute_mask_shape(None, mask))
    assert graph.nodes[1].input_mask == [("mask",), None]
    graph.walk([np.array([[2.0, -2.0]])], None)
    ((kind, masks),) = merge.calls
    assert kind == "call_masked" and masks[1] is None
    np.testing.assert_array_equal(masks[0], [[True, False]])


def test_masks_are_freed_with_their_tensors():
    seen = []
    maker, passer = Recorder(makes=True), Recorder(passes=True)
    graph = masked_graph(maker, passer, Recorder())
    graph.walk([np.ones((1, 2))], None, observe=lambda node, values: seen.append(sum(v is not None for v in values)))
    assert seen == [2, 2, 2]  # the input freed after its reader, as without masks


def test_a_spec_model_with_mask_zero_runs_masked_and_reports_the_mask():
    model = layerspec.loads("""
        input: [6]
        layers:
          - {type: Embedding, input_dim: 10, output_dim: 4, mask_zero: true}
          - {type: Dense, units: 3}
          - {type: GlobalAveragePooling1D}
    """.replace("\n        ", "\n"))
    model.init(0)
    ids = np.array([[1, 2, 0, 0, 3, 0]])
    weights = model.get_weights()
    rows = weights["embedding/embeddings"][[1, 2, 3]] @ weights["dense/kernel"] + weights["dense/bias"]
    np.testing.assert_allclose(model.predict(ids), rows.mean(axis=0, keepdims=True), rtol=1e-6)
    assert [node.output_mask for node in model.nodes] == [(None, 6), (None, 6), None]
