"""What the graph walker costs: ``predict`` against the same layer calls written out.

Every model runs through one walker (docs/design.md §8). This benchmark
times ``model.predict`` against a hand-written function that calls the
same layer objects' ``call`` in order, holding the skip tensors itself: the
same arithmetic with no walker, no checks and no batching around it.

Models: an MLP stack (784-1024-1024-10) as a plain spec, the same stack
written as a graph (named input, every layer naming its input), and a
residual MLP (four Dense blocks with Add skips). Batch 1 shows the walker's
per-call overhead most, batch 32 and 256 how it fades.

Run: ``python benchmarks/graph_overhead.py [--rounds N]``. The goal is a
ratio of at most 1.03: a graph adds no measurable overhead.
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
    inputs = len(model.graph.inputs)
    output = model.graph.outputs[0]

    def forward(batch):
        values = [batch]
        for call, sources, several in calls:
            values.append(call([values[s] for s in sources]) if several else call(values[sources[0]]))
        return values[output - inputs + 1] if inputs == 1 else values[output]

    return forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds per figure (median)")
    args = parser.parse_args()
    for note in clean_blas_environment():
        print(note)
    import layerspec

    rows = []
    for label, text in (("MLP stack", CHAIN), ("MLP stack as a graph", CHAIN_AS_GRAPH),
                        ("residual MLP", RESIDUAL)):
        model = layerspec.loads(text)
        model.init(seed=0)
        forward = written_out(model)
        width = model.input_shapes[0][0]
        for batch in (1, 32, 256):
            x = np.random.default_rng(0).standard_normal((batch, width)).astype(np.float32)
            np.testing.assert_allclose(model.predict(x), forward(x), rtol=1e-5, atol=1e-6)
            ours, reference, ratio = interleaved_ratio(lambda: model.predict(x), lambda: forward(x),
                                                       rounds=args.rounds)
            rows.append([label, str(batch), f"{ours * 1e6:.1f}", f"{reference * 1e6:.1f}", f"{ratio:.3f}"])
    print_table(["model", "batch", "predict (us)", "written out (us)", "ratio"], rows)
    print("ratio = predict / the same layer calls written out (goal: <= 1.03)")


if __name__ == "__main__":
    main()
