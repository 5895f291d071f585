"""A model as a diagram: boxes, the edges between them, block frames.

What ``layerspec plot`` draws (SVG, DOT, Mermaid) and what ``summary
--format markdown --diagram`` and ``diff --format markdown --diagram``
embed, made from a summary (the JSON summary's data), so that every picture
shows exactly the names, shapes and counts the summary prints.

- One box per layer, in spec order; a layer applied again (``reuse``) is
  the same box, with an edge in from each application's input and out to
  each application's readers.
- One box per model input; the model's outputs are marked.
- Blocks (docs/design.md §9) are frames around their layers; ``depth``
  folds every application deeper than it into one box of its own (as
  ``summary --depth`` folds rows).
- Each edge carries the shape of the tensor it carries.

The renderers only draw: layout and styling live in :mod:`layerspec.plot_svg`
and :mod:`layerspec.plot_text`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .layers.base import format_shape
from .registry import normalize
from .summary import check_depth

#: What colours a box: a layer type's family. Types not listed are "other".
FAMILIES = ("input", "dense", "conv", "pool", "norm", "recurrent", "attention", "embedding", "merge",
            "reshape", "activation", "regularization", "preprocessing", "block", "other")


@dataclass
class Box:
    """One box: a model input, a layer (all its applications) or a folded
    block application.

    Attributes:
        id: a short identifier unique in the diagram, safe in every output
            format (``n0``, ``n1``, ...).
        name: the layer's (or input's, or application's path) name.
        type: the layer type (``Conv2D``), ``Input``, or the block's name.
        shape: the output shape as the summary prints it, ``(None, 28, 28, 6)``
            (several outputs: their shapes joined by ``, ``).
        params: the parameter count (0 for an input; a folded block's total).
        family: one of :data:`FAMILIES`.
        frame: the id of the innermost frame drawn around the box, or None.
        is_output: whether the box's result is a model output.
        applications: how many times the layer is applied (``reuse``): 1
            for most.
    """

    id: str
    name: str
    type: str
    shape: str
    params: int
    family: str
    frame: str | None = None
    is_output: bool = False
    applications: int = 1


@dataclass
class Edge:
    """A tensor from one box to another, labelled with its shape."""

    source: str
    target: str
    label: str


@dataclass
class Frame:
    """A block application drawn open, as a frame around its boxes.

    Attributes:
        id: unique identifier (``f0``, ...).
        name: the application's path name (``conv2/projection_block``).
        block: the block's name.
        parent: the enclosing frame's id, or None.
    """

    id: str
    name: str
    block: str
    parent: str | None = None


@dataclass
class Diagram:
    """A model's boxes, in spec order (model inputs first), its edges and
    frames.

    Every edge goes from an earlier box to a later one, except an edge into
    a reused layer's box, which may come from a later box or from the box
    itself (a layer applied to its own result). Edges are unique per
    (source, target) pair.
    """

    name: str
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)

    def box(self, box_id: str) -> Box:
        """The box with id ``box_id``."""
        for box in self.boxes:
            if box.id == box_id:
                return box
        raise KeyError(box_id)


# -- families and colours -------------------------------------------------------
#: Every built-in layer type (aliases included) by family. A type not listed
#: (a plugin's, say) is "other". Listed per family rather than matched by
#: patterns so that each type's family is a decision one can read, and the
#: tests check that every registered built-in type has one.
_TYPES_BY_FAMILY = {
    "dense": ("Dense", "EinsumDense"),
    "conv": ("Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D",
             "Conv1DTranspose", "Conv2DTranspose", "Convolution1DTranspose", "Convolution2DTranspose",
             "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
             "SeparableConvolution1D", "SeparableConvolution2D"),
    "pool": ("AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
             "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D",
             "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
             "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
             "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
             "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D"),
    # SpectralNormalization wraps a layer to normalise its kernel: a norm.
    "norm": ("BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
             "SpectralNormalization"),
    "recurrent": ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "Bidirectional"),
    "attention": ("Attention", "AdditiveAttention", "MultiHeadAttention"),
    "embedding": ("Embedding", "PositionEmbedding"),
    "merge": ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"),
    "reshape": ("Flatten", "Reshape", "Permute", "RepeatVector", "Cropping1D", "Cropping2D", "Cropping3D",
                "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "UpSampling1D", "UpSampling2D", "UpSampling3D"),
    "activation": ("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"),
    "regularization": ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
                       "GaussianDropout", "GaussianNoise", "ActivityRegularization"),
    # Normalization (no prefix) is Keras's preprocessing layer of adapted
    # means and variances, unlike the normalisations above.
    "preprocessing": ("Rescaling", "Normalization", "Resizing", "CenterCrop", "CategoryEncoding", "CutMix",
                      "MixUp", "Solarization", "RandomBrightness", "RandomColorDegeneration", "RandomContrast",
                      "RandomCrop", "RandomFlip", "RandomGrayscale", "RandomHue", "RandomInvert", "RandomRotation",
                      "RandomSaturation", "RandomSharpness", "RandomShear", "RandomTranslation", "RandomZoom"),
    # Layers that could be anything (Lambda), wrap anything (TimeDistributed)
    # or only pass data on (Identity, Masking) have no family of their own.
    "other": ("Identity", "Lambda", "Masking", "TimeDistributed"),
}

#: Layer type → family, for every built-in type.
LAYER_FAMILIES: dict[str, str] = {layer_type: family for family, types in _TYPES_BY_FAMILY.items()
                                  for layer_type in types}

#: ``(fill, stroke)`` per family, shared by every renderer so that a layer
#: has one colour in SVG, DOT and Mermaid. Pale fills keep black text
#: readable (also on GitHub's dark theme, which keeps a node's own fill);
#: saturated green, amber and red are left to a diff's added, changed and
#: removed layers (:data:`HIGHLIGHT_COLOURS`).
FAMILY_COLOURS: dict[str, tuple[str, str]] = {
    "input": ("#e2e8f0", "#475569"),
    "dense": ("#dbeafe", "#2563eb"),
    "conv": ("#ccfbf1", "#0f766e"),
    "pool": ("#e0e7ff", "#4338ca"),
    "norm": ("#f3e8ff", "#7e22ce"),
    "recurrent": ("#fce7f3", "#be185d"),
    "attention": ("#fae8ff", "#a21caf"),
    "embedding": ("#cffafe", "#0e7490"),
    "merge": ("#e7e5e4", "#57534e"),
    "reshape": ("#f1f5f9", "#64748b"),
    "activation": ("#fef9c3", "#a16207"),
    "regularization": ("#f5f5f5", "#a3a3a3"),
    "preprocessing": ("#e0f2fe", "#0369a1"),
    "block": ("#ede9fe", "#6d28d9"),
    "other": ("#ffffff", "#404040"),
}

#: ``(fill, stroke)`` of a diff's highlighted boxes, by status.
HIGHLIGHT_COLOURS: dict[str, tuple[str, str]] = {
    "added": ("#bbf7d0", "#15803d"),
    "changed": ("#fde68a", "#b45309"),
    "removed": ("#fecaca", "#b91c1c"),
}

#: The colour of text on every box (all fills are pale).
TEXT_COLOUR = "#111827"
#: ``(fill, stroke)`` of a frame: paler than any box, its border grey and dashed.
FRAME_COLOURS = ("#f8fafc", "#94a3b8")


def family_of(layer_type: str) -> str:
    """The family of a layer type (``Conv2D`` → ``conv``); "other" for a
    type not built in. Matched as type names are: ignoring case and
    underscores."""
    return _FAMILIES_BY_KEY.get(normalize(layer_type), "other")


_FAMILIES_BY_KEY = {normalize(layer_type): family for layer_type, family in LAYER_FAMILIES.items()}


# -- labels -----------------------------------------------------------------------
def shape_text(shape) -> str:
    """A shape as the summary's table prints it; several shapes (a layer with
    several outputs, a block with several results) joined by ``, ``."""
    if shape and isinstance(shape[0], list):
        return ", ".join(format_shape(item) for item in shape)
    return format_shape(shape)


def box_lines(diagram: Diagram, box: Box) -> list[str]:
    """A box's label, one line each: name, type, shape, parameters (an
    input has no parameter line). Inside a frame the name is shown
    relative to it (``conv``, not ``stage_1/residual/conv``), as the
    summary's table shows it. Every renderer draws these lines."""
    name = _relative(box.name, diagram, box.frame)
    if box.family == "input":
        return [name, box.type, box.shape]
    kind = box.type
    if box.family == "block":
        kind = f"{box.type} (block)"
    elif box.applications > 1:
        kind = f"{box.type}, applied {box.applications} times"  # a shared layer (reuse)
    return [name, kind, box.shape, f"{box.params:,} params"]


def frame_title(diagram: Diagram, frame: Frame) -> str:
    """What a frame's title says: the application's name relative to the
    frame around it, and its block: ``projection_block (projection_block)``."""
    return f"{_relative(frame.name, diagram, frame.parent)} ({frame.block})"


def _relative(name: str, diagram: Diagram, frame_id: str | None) -> str:
    """``name`` without the path of the frame ``frame_id`` (if it prefixes it)."""
    if frame_id is None:
        return name
    path = next(frame.name for frame in diagram.frames if frame.id == frame_id)
    return name[len(path) + 1:] if name.startswith(path + "/") else name


def frame_contents(diagram: Diagram) -> dict[str | None, list[Box | Frame]]:
    """Each frame's contents (None: the top level), boxes and frames in
    order of their first box. A frame with no box (its only layer a reuse
    of one drawn outside it) is left out: there is nothing to draw in it."""
    frames = {frame.id: frame for frame in diagram.frames}
    children: dict[str | None, list[Box | Frame]] = {None: []}
    for box in diagram.boxes:
        chain = []
        frame_id = box.frame
        while frame_id is not None:
            chain.append(frames[frame_id])
            frame_id = frames[frame_id].parent
        parent = None
        for frame in reversed(chain):  # outermost first
            if frame.id not in children:
                children[frame.id] = []
                children[parent].append(frame)
            parent = frame.id
        children[parent].append(box)
    return children


# -- building -------------------------------------------------------------------------
def diagram_from_summary(summary: dict, depth: int | None = None) -> Diagram:
    """The diagram of a summary (``summarize(model)`` or the parsed JSON of
    ``summary --format json``).

    Boxes: the model inputs, then one per layer row in order; a row that
    ``reuses`` a layer adds none, its edges attach to the layer's box and
    the box's ``applications`` counts it. Edges come from each row's
    ``inputs``, labelled with the tensor's shape (read from the reading
    row's ``input_shape``, which also holds the shape of one output of
    several, ``lstm.state_h``); they are unique per (source, target), a
    pair carrying tensors of different shapes listing them all.

    Blocks: each application drawn open is a frame. ``depth`` (0 or more;
    None: no folding) folds every application at that depth into one box
    named by its path, typed by its block, with its totals and the shape
    of what leaves it; edges inside it are dropped, edges in and out kept.
    Applications above ``depth`` stay frames, as in ``summary --depth``.
    """
    check_depth(depth, "diagram")
    return _Builder(summary, depth).build()


def model_inputs(summary: dict) -> dict:
    """Model input name → shape; a summary written before ``inputs`` existed
    has one input, named ``input``."""
    if "inputs" in summary:
        return summary["inputs"]
    return {"input": summary["input_shape"]}


class BoxNames:
    """Where each tensor and each row of a summary is drawn, at a depth:
    the name of its box (a layer's, a model input's or a folded block
    application's path)."""

    def __init__(self, summary: dict, depth: int | None):
        self.depth = depth
        self.rows = {row["name"]: row for row in summary["layers"]}
        self.inputs = model_inputs(summary)

    def producer(self, tensor: str) -> str:
        """The row or input name whose result ``tensor`` is (``lstm.state_h``: ``lstm``)."""
        if tensor in self.rows or tensor in self.inputs:
            return tensor
        base = tensor.rsplit(".", 1)[0]
        if base in self.rows or base in self.inputs:
            return base
        raise KeyError(tensor)

    def of_tensor(self, tensor: str) -> str:
        """The box drawing the node that gives ``tensor``."""
        name = self.producer(tensor)
        return name if name in self.inputs else self.of_row(self.rows[name])

    def folded(self, name: str) -> str | None:
        """The path of the folded application holding row ``name``, or None."""
        if self.depth is None or name.count("/") <= self.depth:
            return None
        return "/".join(name.split("/")[:self.depth + 1])

    def of_row(self, row: dict) -> str:
        """The box drawing a row: its folded application's, its reused
        layer's, or its own."""
        folded = self.folded(row["name"])
        if folded is not None:
            return folded
        if row.get("reuses") in self.rows:
            return self.of_row(self.rows[row["reuses"]])
        return row["name"]


class _Builder:
    """Builds one diagram (see :func:`diagram_from_summary`)."""

    def __init__(self, summary: dict, depth: int | None):
        self.summary, self.depth = summary, depth
        self.names = BoxNames(summary, depth)
        self.blocks = {entry["name"]: entry for entry in summary.get("blocks") or ()}
        self.diagram = Diagram(summary["name"])
        self.box_by_name: dict[str, Box] = {}
        self.frame_by_path: dict[str, Frame] = {}
        #: The shapes each (source, target) pair carries, in order of first use.
        self.labels: dict[tuple[str, str], list[str]] = {}

    def build(self) -> Diagram:
        self._add_frames()
        for name, shape in model_inputs(self.summary).items():
            self._add_box(name, "Input", shape_text(shape), 0, "input")
        for row in self.summary["layers"]:
            self._add_row_box(row)
        for row in self.summary["layers"]:
            self._add_row_edges(row)
        self.diagram.edges = [Edge(source, target, ", ".join(labels))
                              for (source, target), labels in self.labels.items()]
        for name in self.summary.get("outputs", {}):
            self.box_by_name[self._output_box(name)].is_output = True
        return self.diagram

    # -- frames ---------------------------------------------------------------
    def _add_frames(self) -> None:
        # Entries come outermost first, so a frame's parent exists before it.
        for entry in self.summary.get("blocks") or ():
            if self.depth is not None and entry["depth"] >= self.depth:
                continue
            parent = self._innermost_frame(entry["name"])
            frame = Frame(f"f{len(self.diagram.frames)}", entry["name"], entry["block"], parent)
            self.diagram.frames.append(frame)
            self.frame_by_path[entry["name"]] = frame

    def _innermost_frame(self, name: str) -> str | None:
        """The id of the innermost frame around ``name`` (a path), or None."""
        parts = name.split("/")
        for end in range(len(parts) - 1, 0, -1):
            frame = self.frame_by_path.get("/".join(parts[:end]))
            if frame is not None:
                return frame.id
        return None

    # -- boxes ------------------------------------------------------------------
    def _add_box(self, name: str, box_type: str, shape: str, params: int, family: str) -> Box:
        box = Box(f"n{len(self.diagram.boxes)}", name, box_type, shape, params, family,
                  frame=None if family == "input" else self._innermost_frame(name))
        self.diagram.boxes.append(box)
        self.box_by_name[name] = box
        return box

    def _add_row_box(self, row: dict) -> None:
        name = self.names.of_row(row)
        box = self.box_by_name.get(name)
        if box is not None:
            # A reuse drawn in its layer's box (not one folded away) is one more application of it.
            if "reuses" in row and self.names.folded(row["name"]) is None and box.family != "block":
                box.applications += 1
            return
        if name == row["name"]:
            self._add_box(name, row["type"], shape_text(row["output_shape"]), row["params"],
                          family_of(row["type"]))
        else:
            entry = self.blocks[name]
            self._add_box(name, entry["block"], shape_text(entry["output_shape"]), entry["params"], "block")

    # -- edges ------------------------------------------------------------------
    def _add_row_edges(self, row: dict) -> None:
        target = self.box_by_name[self.names.of_row(row)]
        for position, tensor in enumerate(row.get("inputs", ())):
            source = self.box_by_name[self.names.of_tensor(tensor)]
            if source is target and target.family == "block":
                continue  # inside a folded application
            self._add_edge(source.id, target.id, self._tensor_shape(row, position, tensor))

    def _add_edge(self, source: str, target: str, label: str) -> None:
        labels = self.labels.setdefault((source, target), [])
        if label not in labels:
            labels.append(label)

    def _tensor_shape(self, row: dict, position: int, tensor: str) -> str:
        """The shape of the ``position``-th tensor a row reads, from its input shapes."""
        shape = row.get("input_shape")
        if shape and isinstance(shape[0], list):
            return shape_text(shape[position])
        if shape is not None:
            return shape_text(shape)
        producer = self.names.producer(tensor)  # an older summary without input shapes
        if producer in self.names.inputs:
            return shape_text(self.names.inputs[producer])
        return shape_text(self.names.rows[producer]["output_shape"])

    # -- outputs ------------------------------------------------------------------
    def _output_box(self, name: str) -> str:
        """The box giving a model output: a tensor's, or for an output named
        after a block application, the box of the application's result."""
        try:
            return self.names.of_tensor(name)
        except KeyError:
            return self.names.of_row(self._application_result(name))

    def _application_result(self, path: str) -> dict:
        """The row giving an application's result: the last row inside it
        that no row inside it reads."""
        inside = [row for row in self.summary["layers"] if row["name"].startswith(path + "/")]
        read = {self.names.producer(tensor) for row in inside for tensor in row.get("inputs", ())}
        return [row for row in inside if row["name"] not in read][-1]
