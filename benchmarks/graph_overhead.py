"""What a graph costs: the same MLP as a graph and as a stack, and predict against bare layer calls.

Every model runs through one walker (docs/design.md §8). Two comparisons,
each timed in alternation in one process:

- an MLP (784-1024-1024-10) written as a graph (a named input, every
  layer naming its input, ``outputs``) against the same MLP as a plain
  stack: the issue's goal, a ratio of at most 1.03;
- a residual MLP (four Dense blocks with Add skips) through ``predict``
  against a hand-written function calling the same layers' ``call`` in
  order: what predict's checks, silenced warnings and the walker cost.

Batch 1 shows per-call overhead most; batch 32 and 256 how it fades.
Run: ``python benchmarks/graph_overhead.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import clean_blas_environment, interleaved_ratio, print_table  # noqa: E402

CHAIN = """
input: [784]
layers:
  - {units: 1024, activation: relu}
  - {units: 1024, activation: relu}
  - {units: 10, activation: softmax}
"""

CHAIN_AS_GRAPH = """
inputs: {pixels: [784]}
layers:
  - {units: 1024, activation: relu, inputs: pixels, name: hidden_1}
  - {units: 1024, activation: relu, inputs: hidden_1, name: hidden_2}
  - {units: 10, activation: softmax, inputs: hidden_2, name: logits}
outputs: logits
"""

RESIDUAL = """
input: [256]
layers:
  - {units: 256, activation: relu, name: stem}
  - {units: 256, activation: relu}
  - {type: Add, inputs: [stem, -1], name: add_1}
  - {units: 256, activation: relu}
  - {type: Add, inputs: [add_1, -1], name: add_2}
  - {units: 256, activation: relu}
  - {type: Add, inputs: [add_2, -1], name: add_3}
  - {units: 256, activation: relu}
  - {type: Add, inputs: [add_3, -1]}
  - {units: 10, activation: softmax}
"""


def written_out(model):
    """The model's layer calls in order, no walker: the arithmetic alone."""
    calls = [(node.layer.call, node.sources, node.several_inputs) for node in model.nodes]
    output = model.graph.outputs[0]

    def forward(batch):
        values = [batch]  # numbered as the graph numbers tensors: its one input, then each node
        for call, sources, several in calls:
            values.append(call([values[s] for s in sources]) if several else call(values[sources[0]]))
        return values[output]

    return forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds per figure (median)")
    args = parser.parse_args()
    for note in clean_blas_environment():
        print(note)
    import layerspec

    chain, graph = layerspec.loads(CHAIN), layerspec.loads(CHAIN_AS_GRAPH)
    chain.init(seed=0)
    graph.set_weights({key.replace("dense_1/", "hidden_2/").replace("dense_2/", "logits/").replace("dense/", "hidden_1/"):
                       value.copy() for key, value in chain.get_weights().items()})  # own arrays, as loaded
    residual = layerspec.loads(RESIDUAL)
    residual.init(seed=0)
    rows = []
    for batch in (1, 32, 256):
        x = np.random.default_rng(0).standard_normal((batch, 784)).astype(np.float32)
        np.testing.assert_allclose(graph.predict(x), chain.predict(x), rtol=1e-6, atol=1e-7)
        ours, reference, ratio = interleaved_ratio(lambda: graph.predict(x), lambda: chain.predict(x),
                                                   rounds=args.rounds)
        rows.append(["MLP as a graph / as a stack", str(batch), f"{ours * 1e6:.1f}", f"{reference * 1e6:.1f}",
                     f"{ratio:.3f}"])
    forward = written_out(residual)
    for batch in (1, 32, 256):
        x = np.random.default_rng(0).standard_normal((batch, 256)).astype(np.float32)
        np.testing.assert_allclose(residual.predict(x), forward(x), rtol=1e-6, atol=1e-7)
        ours, reference, ratio = interleaved_ratio(lambda: residual.predict(x), lambda: forward(x),
                                                   rounds=args.rounds)
        rows.append(["residual MLP / its calls written out", str(batch), f"{ours * 1e6:.1f}",
                     f"{reference * 1e6:.1f}", f"{ratio:.3f}"])
    print_table(["comparison", "batch", "ours (us)", "reference (us)", "ratio"], rows)
    print("goal: a graph adds no measurable overhead over a stack (ratio <= 1.03); the second rows show what")
    print("predict costs over bare layer calls (checks, warnings off, the walker) for a graph with skips.")


if __name__ == "__main__":
    main()
