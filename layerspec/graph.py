"""A model's structure: layer applications wired to tensors, and the one walker.

A model is a list of :class:`Node` objects in computing order. Each node
applies one layer to one or more *tensors*: the model's inputs, or the
results of nodes above it. Tensors are numbered in one sequence, so the
walker can keep them in a plain list: the model's inputs first
(``0 .. len(inputs) - 1``), then one per node.

Everything that goes through a model goes through :meth:`Graph.walk`: shape
inference, costs, memory and the forward pass, as Keras runs everything
through one traversal of its functional graph. A sequential stack is the
graph whose every node takes the tensor just above it.

The walker frees each tensor after its last consumer (model outputs stay to
the end), so the memory a forward pass holds, and the figure the summary
reports for it, follow one rule: :meth:`Graph.live_after`. The forward pass
alone may run a node and the next as one call where the first layer offers
it (``Layer.fused_with``: a convolution and its pooling) and nothing
else reads the first's result; it then holds less than that figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


@dataclass
class GraphInput:
    """A model input: its name, per-sample shape (no batch axis) and dtype.

    ``shape`` is None while unknown (``run`` takes it from the data); a size
    inside it may be None. ``dtype`` None means the model's float dtype, or
    integers when every layer reading the input takes integer ids.
    """

    name: str
    shape: tuple | None = None
    dtype: str | None = None


@dataclass(eq=False)
class Node:
    """One application of ``layer`` to the tensors numbered ``sources``.

    Attributes:
        layer: the layer applied.
        sources: tensor numbers of its inputs, in the order the layer takes
            them (several only for layers with ``takes_several_inputs``). A
            source may be ``(tensor, k)``: output ``k`` of a node with several
            outputs (an LSTM's ``return_state``).
        name: what references call this application's result; the layer's
            own name for its first application.
        reuses: the node whose layer (and weights) this one applies again,
            or None.
        index: the node's position in the model (its row, its spec entry).
    """

    layer: Any
    sources: tuple
    name: str = ""
    reuses: "Node | None" = None
    index: int = 0
    #: The number messages give the node ("layer 3"): its entry in the spec;
    #: 0 means its position in the model.
    number: int = 0
    #: For a node inside a block application: where it comes from, as
    #: messages add it (`` in block 'residual' used at model.yaml:31:5``),
    #: and the applications around it, outermost first, as ``(application
    #: name, block name)`` pairs (the summary's tree).
    where: str = ""
    scope: tuple = ()
    #: Full shapes (batch axis first), set when the model is built: one
    #: shape, or a list for a layer taking several inputs.
    input_shape: Any = None
    output_shape: tuple | None = None
    #: Tensors whose last consumer is this node (freed once it has run).
    frees: tuple[int, ...] = field(default=(), repr=False)
    #: Mask shapes, set with the shapes: the input's mask (None, or a list
    #: for several inputs) and the output's (None for no mask; a list for a
    #: layer with several outputs). See :meth:`Graph.plan_masks`.
    input_mask: Any = None
    output_mask: Any = None

    @property
    def drops_mask(self) -> bool:
        """Whether a mask reaches this node and goes no further because its
        layer does not support masking (Keras warns of it)."""
        masks = self.input_mask if isinstance(self.input_mask, list) else [self.input_mask]
        return any(mask is not None for mask in masks) and not self.layer.supports_masking

    @property
    def several_inputs(self) -> bool:
        """Whether the layer takes its inputs as a list."""
        return bool(getattr(self.layer, "takes_several_inputs", False))


class Graph:
    """Nodes in computing order over numbered tensors, and the walker.

    Args:
        inputs: the model's inputs.
        nodes: the applications, each reading only tensors numbered below
            its own.
        outputs: the tensor numbers of the model's outputs.
    """

    def __init__(self, inputs: Sequence[GraphInput], nodes: Sequence[Node], outputs: Sequence[int]):
        self.inputs = list(inputs)
        self.nodes = list(nodes)
        self.outputs = tuple(outputs)
        for index, node in enumerate(self.nodes):
            node.index = index
        self.refresh()

    def refresh(self) -> None:
        """Recompute what follows from the wiring (after sources change)."""
        self.__dict__.pop("_walk_plan", None)
        self.__dict__.pop("_forward_plan", None)
        self._plan_frees()

    #: Whether any tensor carries a mask: then the forward pass carries
    #: masks beside the values (set by :meth:`plan_masks`).
    carries_masks = False

    def plan_masks(self, mask_shape: Callable[[Node, Any], Any]) -> None:
        """Find which tensors carry a mask, in computing order.

        ``mask_shape(node, input_mask)`` gives a node's output mask shape
        from its input's (None, or a list for several inputs); the model's
        inputs carry none. Sets each node's ``input_mask`` and
        ``output_mask``, and :attr:`carries_masks`.
        """
        masks: list = [None] * (len(self.inputs) + len(self.nodes))
        for node in self.nodes:
            sources = [pick(masks, source) if masks[split_source(source)[0]] is not None else None
                       for source in node.sources]
            node.input_mask = sources if node.several_inputs else sources[0]
            node.output_mask = mask_shape(node, node.input_mask)
            masks[self.tensor_of(node)] = node.output_mask
        self.carries_masks = any(mask is not None for mask in masks)

    def tensor_of(self, node: Node) -> int:
        """The tensor number of ``node``'s result."""
        return len(self.inputs) + node.index

    def producer(self, tensor: int) -> GraphInput | Node:
        """The model input or node whose result is ``tensor``."""
        if tensor < len(self.inputs):
            return self.inputs[tensor]
        return self.nodes[tensor - len(self.inputs)]

    def tensor_name(self, source) -> str:
        """The name a reference uses for a tensor, or ``name.output`` for one
        output of a node with several."""
        tensor, index = split_source(source)
        producer = self.producer(tensor)
        if index is None:
            return producer.name
        return f"{producer.name}.{producer.layer.output_names[index]}"

    def consumers(self) -> list[list[Node]]:
        """For each tensor, the nodes that read it, in order."""
        readers: list[list[Node]] = [[] for _ in range(len(self.inputs) + len(self.nodes))]
        for node in self.nodes:
            for tensor in dict.fromkeys(split_source(source)[0] for source in node.sources):
                readers[tensor].append(node)
        return readers

    def _plan_frees(self) -> None:
        last_reader: dict[int, Node] = {}
        for node in self.nodes:
            for source in node.sources:
                last_reader[split_source(source)[0]] = node
        kept = {split_source(source)[0] for source in self.outputs}
        frees: dict[int, list[int]] = {}
        for tensor, node in last_reader.items():
            if tensor not in kept:
                frees.setdefault(node.index, []).append(tensor)
        for node in self.nodes:
            node.frees = tuple(sorted(frees.get(node.index, ())))

    # -- the walker -------------------------------------------------------
    def walk(self, inputs: Sequence, apply: Callable[[Node, Any], Any] | None,
             observe: Callable[[Node, list], None] | None = None) -> list:
        """Run ``apply(node, value)`` for every node in order; return the outputs.

        With ``apply`` None each node runs its layer's ``call(value)``: the
        forward pass.

        ``value`` is the node's one input, or the list of its inputs for a
        layer taking several. Each tensor is dropped after its last reader
        has run. ``observe(node, tensors)``, if given, sees the list of
        tensors held right after ``node`` ran, before any is freed (the
        moment of the node's peak).
        """
        if apply is None and self.carries_masks:
            return self._walk_masked(inputs, observe)
        values = list(inputs) + [None] * len(self.nodes)
        for node, sources, several, picks, slot, frees, fused in self._plan(apply is None and observe is None):
            if picks:  # some input is one output of a node with several
                argument = [values[tensor] if index is None else values[tensor][index] for tensor, index in picks]
                argument = argument if several else argument[0]
            else:
                argument = [values[source] for source in sources] if several else values[sources[0]]
            if fused is not None:
                values[slot] = fused(argument)
            else:
                # ``apply`` None: the forward pass, the layer's own call (one
                # Python call less per node, which a batch-1 pass notices).
                values[slot] = node.layer.call(argument) if apply is None else apply(node, argument)
            if observe is not None:
                observe(node, values)
            for tensor in frees:
                values[tensor] = None
        return [pick(values, source) for source in self.outputs]

    def _walk_masked(self, inputs: Sequence, observe) -> list:
        """The forward pass carrying masks beside the values: a layer that
        uses masks gets its input's (``call_masked``), and each node's output
        mask comes from ``compute_mask`` where the plan says it has one."""
        values = list(inputs) + [None] * len(self.nodes)
        masks: list = [None] * len(values)
        for node, sources, several, _, slot, frees, _ in self._plan():
            argument = [pick(values, source) for source in sources]
            mask = [pick(masks, source) if masks[split_source(source)[0]] is not None else None
                    for source in sources]
            if not several:
                argument, mask = argument[0], mask[0]
            layer = node.layer
            given = mask is not None and (not several or any(item is not None for item in mask))
            values[slot] = layer.call_masked(argument, mask) if given and layer.uses_mask else layer.call(argument)
            if node.output_mask is not None:
                masks[slot] = layer.compute_mask(argument, mask)
            if observe is not None:
                observe(node, values)
            for tensor in frees:
                values[tensor] = masks[tensor] = None
        return [pick(values, source) for source in self.outputs]

    def _plan(self, fused: bool = False) -> list[tuple]:
        """Per node, what the walker reads, made once: a batch-1 forward pass
        is short enough for attribute look-ups per node to show.

        ``fused``: the forward pass's plan, where a node whose result only
        the next node reads, and whose layer offers to run together with
        that node's (:meth:`Layer.fused_with`), makes one entry of both: it
        reads the first node's inputs, writes the second's result and frees
        what either frees. Its last item is then the call doing both (None
        elsewhere).
        """
        key = "_forward_plan" if fused else "_walk_plan"
        plan = self.__dict__.get(key)
        if plan is None:
            plan = self._fused_entries() if fused else [self._entry(node) for node in self.nodes]
            self.__dict__[key] = plan
        return plan

    def _entry(self, node: Node, slot_node: Node | None = None, frees: tuple | None = None,
               call: Callable | None = None) -> tuple:
        picks = [split_source(source) for source in node.sources] if _has_picks(node.sources) else None
        slot_node = slot_node or node
        return (node, node.sources, node.several_inputs, picks, len(self.inputs) + slot_node.index,
                node.frees if frees is None else frees, call)

    def _fused_entries(self) -> list[tuple]:
        readers, kept = self.consumers(), {split_source(source)[0] for source in self.outputs}
        entries, index = [], 0
        while index < len(self.nodes):
            node = self.nodes[index]
            following = self.nodes[index + 1] if index + 1 < len(self.nodes) else None
            tensor = self.tensor_of(node)
            call = None
            if following is not None and following.sources == (tensor,) and readers[tensor] == [following] \
                    and tensor not in kept:
                offer = getattr(node.layer, "fused_with", None)  # any object with ``call`` can be a layer here
                call = offer(following.layer) if offer is not None else None
            if call is None:
                entries.append(self._entry(node))
                index += 1
            else:
                entries.append(self._entry(node, following, node.frees + following.frees, call))
                index += 2
        return entries

    def live_after(self, sizes: Sequence) -> list:
        """The total of ``sizes`` held at each node's peak, by the walker's rule.

        ``sizes`` gives one figure per tensor (model inputs, then nodes), or
        None where unknown. While a node runs, its inputs and every tensor
        still awaited by a later node are held, plus its own result.
        """
        totals = []
        live = set(range(len(self.inputs)))
        first = len(self.inputs)
        for node in self.nodes:
            live.add(first + node.index)
            values = [sizes[tensor] for tensor in live]
            totals.append(None if any(value is None for value in values) else sum(values))
            live.difference_update(node.frees)
        return totals


def split_source(source) -> tuple[int, int | None]:
    """``(tensor, output index or None)`` of a node's source or a model output."""
    return (source[0], source[1]) if isinstance(source, tuple) else (source, None)


def pick(values: list, source):
    """The value a source names: a tensor, or one output of a node with several."""
    tensor, index = split_source(source)
    return values[tensor] if index is None else values[tensor][index]


def _has_picks(sources) -> bool:
    return any(isinstance(source, tuple) for source in sources)


def chain(layers: Sequence, input_name: str = "input") -> Graph:
    """The graph of a sequential stack: each layer reads the one above."""
    nodes = [Node(layer, (index,)) for index, layer in enumerate(layers)]
    return Graph([GraphInput(input_name)], nodes, (len(nodes),) if nodes else (0,))
