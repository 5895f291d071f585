"""Pure functions: a built model → summary data → table, JSON or Markdown."""

from __future__ import annotations

import json
import re
from fractions import Fraction

from .costs import PerStep, inference_memory, known_once_sized, node_costs, peak_activation_bytes, total
from .graph import split_source
from .layers.base import format_shape

#: Columns ``--columns`` can choose, with their headers; the first column
#: (layer name and type) is always shown.
COLUMNS = {
    "input_shape": "Input Shape",
    "output_shape": "Output Shape",
    "params": "Param #",
    "trainable": "Trainable",
    "macs": "MACs",
    "activation_bytes": "Activations",
    "connected_to": "Connected to",
}
DEFAULT_COLUMNS = ("output_shape", "params", "macs")
RIGHT_ALIGNED = {"params", "macs", "activation_bytes"}
#: Keras's column widths, used while they fit.
PREFERRED_WIDTHS = {"layer": 31, "input_shape": 22, "output_shape": 22, "params": 13, "trainable": 9, "macs": 13,
                    "activation_bytes": 11, "connected_to": 20}
#: How narrow a shrinkable column may become before the table just overflows.
MIN_SHRUNK_WIDTH = 8
#: ASCII stand-ins for every non-ASCII character layerspec itself prints, for
#: output streams that cannot encode them (cp1252 or ASCII: Windows' default
#: when output is redirected). Box drawing maps one to one, so a table keeps
#: its alignment; the renderers take ``ascii_only`` to lay out the rest.
ASCII_FALLBACK = str.maketrans({
    **dict.fromkeys("┏┓┡┩└┘┳╇┴├┤┼", "+"), "━": "=", "─": "-", "┃": "|", "│": "|",
    "…": "...", "→": "->", "←": "<-", "—": "--", "–": "-", "×": "x", "·": "*", "≤": "<=", "≥": ">=",
    "‘": "'", "’": "'", "“": '"', "”": '"', "²": "^2", "√": "sqrt",
})


def to_ascii(text: str) -> str:
    """``text`` with layerspec's own non-ASCII characters spelled in ASCII."""
    return text.translate(ASCII_FALLBACK)


class Summary(dict):
    """The summary as data (docs/design.md §3); ``str()`` gives the table."""

    #: How many unknown input sizes leave costs at ``?`` that giving the
    #: sizes would make known (0: none, or a layer has no cost rule). For
    #: the table's footer; not part of the JSON.
    sizes_wanted = 0
    #: Whether the model is a graph (named inputs, several inputs or
    #: outputs, reuse): the table then shows its inputs and a "Connected
    #: to" column, as Keras's functional summary does. Not part of the JSON.
    is_graph = False

    def __str__(self) -> str:
        return render_table(self)

    # A REPL or notebook shows the table, as for a pandas DataFrame;
    # ``dict(summary)`` shows the data.
    __repr__ = __str__

    def to_json(self) -> str:
        """The JSON contract text."""
        return render_json(self)

    def to_markdown(self) -> str:
        """A Markdown table for pull requests."""
        return render_markdown(self)


# -- collecting -------------------------------------------------------------
def summarize(model, batch_size: int | None = None) -> Summary:
    """Shapes, parameters and costs of a built model, per sample.

    One row per node (layer application): a layer applied a second time
    (``reuse``) has a row of its own with its MACs and 0 parameters, which
    count once, at the layer.

    Args:
        model: a :class:`layerspec.Model` (or ``Sequential``); built here if
            needed.
        batch_size: also estimate the inference memory for this batch size.
    """
    model._require_built()
    itemsize = 8 if model.dtype == "float64" else 4
    costs = node_costs(model)
    rows = [_node_row(model, node, cost, itemsize) for node, cost in zip(model.nodes, costs)]
    summary = Summary({"name": model.name})
    if len(model.input_names) == 1:
        summary["input_shape"] = [None] + list(model.input_shapes[0])
    if len(model.output_names) == 1:
        summary["output_shape"] = _shape_data(model.output_shapes[0])
    summary.update({
        "layers": rows,
        "total_params": sum(row["params"] for row in rows),
        "trainable_params": sum(row["trainable_params"] for row in rows),
        "non_trainable_params": sum(row["non_trainable_params"] for row in rows),
    })
    _put_cost(summary, "total_macs", total(cost.macs for cost in costs))
    summary["params_bytes"] = summary["total_params"] * itemsize
    summary["dtype"] = model.dtype
    _put_cost(summary, "total_flops", total(cost.flops for cost in costs))
    _put_cost(summary, "activation_bytes", total(_times(cost.output_elements, itemsize) for cost in costs))
    if batch_size is not None:
        input_bytes = [_times(_elements(shape), itemsize) for shape in model.input_shapes]
        output_bytes = [_times(cost.output_elements, itemsize) for cost in costs]
        summary["batch_size"] = batch_size
        summary["inference_memory_bytes"] = inference_memory(
            summary["params_bytes"], peak_activation_bytes(model, input_bytes, output_bytes), batch_size)
    summary["inputs"] = {name: [None] + list(shape) for name, shape in zip(model.input_names, model.input_shapes)}
    summary["outputs"] = {name: list(shape) for name, shape in zip(model.output_names, model.output_shapes)}
    if summary["total_flops"] is None and known_once_sized(model):
        summary.sizes_wanted = sum(shape.count(None) for shape in model.input_shapes)
    summary.is_graph = model.is_graph
    _put_model_arguments(summary, model)
    blocks = block_entries(model, rows, costs, itemsize)
    if blocks:
        summary["blocks"] = blocks
    return summary


def _put_model_arguments(summary: dict, model) -> None:
    """``args`` and ``variant``, when the spec has model arguments or a variant was built."""
    arguments = getattr(model, "args", None)
    if arguments:
        summary["args"] = {str(name): _jsonable(value) for name, value in arguments.items()}
    variant = getattr(model, "variant", None)
    if variant is not None:
        summary["variant"] = variant


# -- block applications ---------------------------------------------------------
class _Application:
    """One block application's totals, gathered from the nodes inside it."""

    def __init__(self, path: str, block: str, depth: int):
        self.path, self.block, self.depth = path, block, depth
        self.rows: list[dict] = []
        self.costs: list = []
        self.last_node = None
        #: What feeds it, by tensor name (first reader's order): name → shape.
        self.inputs: dict[str, object] = {}
        #: The output shapes of the nodes inside whose results leave it.
        self.leaving: list = []

    def add(self, node, row: dict, cost) -> None:
        self.rows.append(row)
        self.costs.append(cost)
        self.last_node = node

    def data(self, itemsize: int) -> dict:
        """The application's entry of the summary's ``blocks``."""
        inputs = list(self.inputs.values())
        leaving = self.leaving or [self.last_node.output_shape]  # nothing leaves: its last node's result
        entry = {
            "name": self.path,
            "block": self.block,
            "depth": self.depth,
            "layers": len(self.rows),
            "input_shape": _one_or_list(inputs),
            "output_shape": _one_or_list(leaving),
        }
        for key in ("params", "trainable_params", "non_trainable_params"):
            entry[key] = sum(row[key] for row in self.rows)
        _put_cost(entry, "macs", total(cost.macs for cost in self.costs))
        _put_cost(entry, "flops", total(cost.flops for cost in self.costs))
        _put_cost(entry, "activation_bytes", total(_times(cost.output_elements, itemsize) for cost in self.costs))
        entry["inputs"] = list(self.inputs)
        return entry


def block_entries(model, rows: list[dict], costs: list, itemsize: int) -> list[dict]:
    """The summary's ``blocks``: one entry per block application, in order of
    first appearance (an application before the ones inside it).

    Each entry totals the leaf layers inside the application, at every depth,
    so a block's row can stand for everything it folds. Its ``output_shape``
    is the shape of what leaves it: the result of each node inside that a
    node outside reads or that is a model output (one shape, or a list when
    several leave); when nothing leaves, its last node's. ``input_shape`` and
    ``inputs`` are the tensors from outside that nodes inside read. The work
    is linear in nodes, edges and nesting depth.
    """
    applications: dict[str, _Application] = {}
    chains: list[list[_Application]] = []  # per node, the applications around it, outermost first
    for node, row, cost in zip(model.nodes, rows, costs):
        chain = []
        for depth, (path, block) in enumerate(node.scope):
            application = applications.get(path)
            if application is None:
                application = applications[path] = _Application(path, block, depth)
            application.add(node, row, cost)
            chain.append(application)
        chains.append(chain)
    if not applications:
        return []
    _gather_inputs(model, chains)
    _gather_leaving(model, chains)
    return [application.data(itemsize) for application in applications.values()]


def _gather_inputs(model, chains: list[list[_Application]]) -> None:
    """Record, for each application, the tensors from outside it that nodes inside read."""
    graph = model.graph
    for node, chain in zip(model.nodes, chains):
        if not chain:
            continue
        shapes = node.input_shape if node.several_inputs else [node.input_shape]
        for source, shape in zip(node.sources, shapes):
            producer = graph.producer(split_source(source)[0])
            shared = _shared_depth(node.scope, getattr(producer, "scope", ()))
            name = graph.tensor_name(source)
            for application in chain[shared:]:  # the applications the tensor enters
                application.inputs.setdefault(name, shape)


def _gather_leaving(model, chains: list[list[_Application]]) -> None:
    """Record, for each application, the results of nodes inside it read outside it."""
    graph = model.graph
    outputs = {split_source(source)[0] for source in graph.outputs}
    readers = graph.consumers()
    for node, chain in zip(model.nodes, chains):
        if not chain:
            continue
        tensor = graph.tensor_of(node)
        if tensor in outputs:
            shared = 0
        else:
            shared = min((_shared_depth(node.scope, reader.scope) for reader in readers[tensor]),
                         default=len(chain))
        for application in chain[shared:]:  # the applications the result leaves
            application.leaving.append(node.output_shape)


def _shared_depth(scope: tuple, other: tuple) -> int:
    """How many applications, from the outermost, two scopes share."""
    depth = 0
    for mine, theirs in zip(scope, other):
        if mine != theirs:
            break
        depth += 1
    return depth


def _one_or_list(shapes: list):
    """One shape as JSON data, or a list of them (each tensor's, flattened)."""
    data = [_shape_data(shape) for shape in shapes]
    if len(data) == 1:
        return data[0]
    flat = []
    for shape in data:
        flat.extend(shape if shape and isinstance(shape[0], list) else [shape])
    return flat


def _node_row(model, node, cost, itemsize: int) -> dict:
    """One node's row: the JSON contract's fields, then its extensions."""
    from .registry import display_name

    layer = node.layer
    owns_weights = node.reuses is None  # a reuse's parameters count at the layer
    trainable = sum(weight.size for weight in layer.trainable_weights) if owns_weights else 0
    non_trainable = sum(weight.size for weight in layer.non_trainable_weights) if owns_weights else 0
    row = {
        "name": node.name,
        "type": display_name(type(layer)),
        "input_shape": _shape_data(node.input_shape),
        "output_shape": _shape_data(node.output_shape),
        "params": trainable + non_trainable,
        "trainable_params": trainable,
        "non_trainable_params": non_trainable,
    }
    _put_cost(row, "macs", cost.macs)
    row["weights"] = {weight.name: list(weight.shape) for weight in layer.weights} if owns_weights else {}
    # Extensions of the contract follow its fields.
    row["trainable"] = layer.trainable
    _put_cost(row, "flops", cost.flops)
    _put_cost(row, "activation_bytes", _times(cost.output_elements, itemsize))
    row["arguments"] = layer_arguments(layer)
    row["inputs"] = [model.graph.tensor_name(source) for source in node.sources]
    if node.reuses is not None:
        row["reuses"] = node.reuses.name
    if node.output_mask is not None:
        row["mask"] = _shape_data(node.output_mask)
    notes = [getattr(layer, "inference_note", None), DROPPED_MASK_NOTE if node.drops_mask else None]
    if any(notes):  # what the layer does outside training, where Keras would train; a mask lost
        row["note"] = "; ".join(note for note in notes if note)
    return row


#: The note of a layer that receives a mask it cannot carry (Keras warns).
DROPPED_MASK_NOTE = "drops the mask it receives (the layer does not support masking; later layers see every step)"


def _shape_data(shape):
    """A shape as JSON data; a list of them for a layer taking several inputs
    (or giving several masks, some of them None)."""
    if isinstance(shape, list):
        return [None if item is None else list(item) for item in shape]
    return list(shape)


def layer_arguments(layer) -> dict:
    """A layer's own constructor arguments as JSON data: ``get_config()``
    without ``name`` and ``trainable``, which the row has already."""
    return {name: _jsonable(value) for name, value in layer.get_config().items()
            if name not in ("name", "trainable")}


def _jsonable(value):
    """``value`` as JSON data: tuples become lists; an object (a function given
    as an activation in Python, say) becomes its name."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # a NumPy scalar
        return _jsonable(value.item())
    return getattr(value, "__name__", None) or repr(value)


def _elements(shape):
    import math

    return None if any(size is None for size in shape) else math.prod(shape)


def _times(value, factor: int):
    return None if value is None else value * factor


def _number(value: Fraction):
    return int(value) if value.denominator == 1 else float(value)


def _put_cost(target: dict, key: str, value) -> None:
    """``key: int``; or ``key: null`` with ``key_per_step``/``key_constant``."""
    if isinstance(value, PerStep):
        target[key] = None
        target[f"{key}_per_step"] = _number(value.per_step)
        target[f"{key}_constant"] = _number(value.constant)
    else:
        target[key] = value


def _cost_of(data: dict, key: str):
    if data.get(key) is None and f"{key}_per_step" in data:
        return PerStep(Fraction(data[f"{key}_per_step"]), Fraction(data[f"{key}_constant"]))
    return data.get(key)


# -- text helpers -----------------------------------------------------------
def readable_size(num_bytes: float) -> str:
    """Bytes in Keras's units (powers of 1024, labelled B, KB, MB...)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(num_bytes) / 1024 < 1:
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.2f} EB"


def human(count) -> str:
    """A count in decimal units: 1.34M, 12.35K, 2.10T (exact below 1,000)."""
    for unit, scale in (("E", 10**18), ("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(count) >= scale:
            return f"{float(Fraction(count) / scale):.2f}{unit}"
    return f"{float(count):g}" if isinstance(count, Fraction) and count.denominator != 1 else f"{int(count)}"


def format_count(value) -> str:
    """An exact count with separators; per-step costs in decimal units."""
    if value is None:
        return "?"
    if isinstance(value, PerStep):
        return f"{human(value.per_step)}/step"
    return f"{value:,}"


def format_bytes(value) -> str:
    if value is None:
        return "?"
    if isinstance(value, PerStep):
        return f"{readable_size(float(value.per_step))}/step"
    return readable_size(value)


def _cell(row: dict, column: str, depth: int | None = None) -> str:
    """One table cell of a layer row or a block entry (``depth``: the
    table's, for the names "Connected to" shows)."""
    if column in ("input_shape", "output_shape"):
        shape = row[column]
        if shape and isinstance(shape[0], list):  # a layer taking several inputs
            return ", ".join(format_shape(item) for item in shape)
        return format_shape(shape)
    if column == "connected_to":
        shown = dict.fromkeys(shown_name(name, depth) for name in row.get("inputs", ()))
        return ", ".join(shown) or "-"
    if column == "params":
        return f"{row['params']:,}"
    if column == "trainable":
        if "block" in row:
            return _block_trainable(row)
        return "-" if not row["weights"] else ("Y" if row["trainable"] else "N")
    if column == "macs":
        return format_count(_cost_of(row, "macs"))
    return format_bytes(_cost_of(row, "activation_bytes"))


def _footer(summary: dict) -> list[str]:
    itemsize = 8 if summary.get("dtype") == "float64" else 4
    lines = [f"{label}: {summary[key]:,} ({readable_size(summary[key] * itemsize)})"
             for label, key in (("Total params", "total_params"), ("Trainable params", "trainable_params"),
                                ("Non-trainable params", "non_trainable_params"))]
    sizes_wanted = getattr(summary, "sizes_wanted", 0)
    unknown = _unknown_total_text(sizes_wanted)
    for label, key in (("Total MACs", "total_macs"), ("Total FLOPs", "total_flops")):
        lines.append(f"{label}: {_total_text(_cost_of(summary, key), unknown)}")
    activations = _bytes_total_text(_cost_of(summary, "activation_bytes"), unknown if sizes_wanted else "?")
    lines.append(f"Activations: {activations}")
    if "batch_size" in summary:
        memory = summary["inference_memory_bytes"]
        # Unknown only where an input size is.
        held = ("the activations held at once at the peak, each freed after its last use" if is_graph_summary(summary)
                else "the largest two consecutive activations")
        estimate = (f"{readable_size(memory)} (parameters + {held})"
                    if memory is not None else f"? ({_wanting_sizes(_unknown_input_sizes(summary))})")
        lines.append(f"Estimated inference memory at batch size {summary['batch_size']:,}: {estimate}")
    lines.extend(f"Note: {row['name']} ({row['type']}): {row['note']}" for row in summary["layers"] if "note" in row)
    return lines


def _unknown_input_sizes(summary: dict) -> int:
    """How many per-sample input sizes are unknown, over every input."""
    shapes = summary["inputs"].values() if "inputs" in summary else [summary["input_shape"]]
    return sum(list(shape[1:]).count(None) for shape in shapes)


def _unknown_total_text(sizes_wanted: int) -> str:
    """What an unknown total says: why it is unknown."""
    return f"? ({_wanting_sizes(sizes_wanted)})" if sizes_wanted else "? (a layer's cost is not known)"


def _wanting_sizes(count: int) -> str:
    if count == 1:
        return "depends on the unknown input size; give it with --input-shape"
    return f"depends on the {count} unknown input sizes; give them with --input-shape"


def _total_text(value, unknown: str) -> str:
    if value is None:
        return unknown
    if isinstance(value, PerStep):
        return _per_step_text(value, human)
    exact, short = f"{value:,}", human(value)
    return f"{exact} per sample" if short == exact else f"{exact} ({short}) per sample"


def _bytes_total_text(value, unknown: str) -> str:
    if value is None:
        return unknown
    if isinstance(value, PerStep):
        return _per_step_text(value, lambda size: readable_size(float(size)))
    return f"{readable_size(value)} per sample"


def _per_step_text(value: PerStep, show) -> str:
    """``12.35K per step of the unknown size + 64, per sample``."""
    constant = "" if value.constant == 0 else f" {'+' if value.constant > 0 else '-'} {show(abs(value.constant))}"
    return f"{show(value.per_step)} per step of the unknown size{constant}, per sample"


# -- rendering --------------------------------------------------------------
def render_json(summary: dict) -> str:
    """The summary as indented JSON, with shapes kept on one line."""
    text = json.dumps(summary, indent=2)
    return _FLAT_LIST.sub(lambda match: "[" + re.sub(r"\s*\n\s*", " ", match.group(1)) + "]", text)


_FLAT_LIST = re.compile(r"\[\s+([^\[\]{}]*?)\s+\]")


def _fit_widths(columns: list[str], cells: list[list[str]], headers: list[str], max_width: int | None) -> list[int]:
    """Column widths: Keras's where they fit, shrunk to ``max_width`` if given."""
    natural = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]
    preferred = [max(width, PREFERRED_WIDTHS[column]) for width, column in zip(natural, columns)]
    if max_width is None or _table_width(preferred) <= max_width:
        return preferred
    widths = list(natural)
    shrinkable = [i for i, column in enumerate(columns)
                  if column in ("layer", "input_shape", "output_shape", "connected_to")]
    while _table_width(widths) > max_width:
        widest = max(shrinkable, key=lambda i: widths[i])
        if widths[widest] <= MIN_SHRUNK_WIDTH:
            break  # cannot shrink further without losing the table: let it overflow
        widths[widest] -= 1
    return widths


def _table_width(widths: list[int]) -> int:
    return sum(widths) + 3 * len(widths) + 1


def _clip(text: str, width: int, ellipsis: str = "…") -> str:
    return text if len(text) <= width else text[:width - len(ellipsis)] + ellipsis


def _block_trainable(entry: dict) -> str:
    """A block's Trainable cell: whether the weights inside train (``partly``: some do)."""
    if not entry["params"]:
        return "-"
    if entry["trainable_params"] == entry["params"]:
        return "Y"
    return "N" if not entry["trainable_params"] else "partly"


def shown_name(name: str, depth: int | None) -> str:
    """The row a tensor name points at in a table folded at ``depth``: the
    name itself, or the block application at ``depth`` that holds it
    (``stage_1/residual/add`` at depth 0 is ``stage_1``). Names are paths,
    one part per application (a layer's own name cannot hold ``/``)."""
    if depth is None or name.count("/") <= depth:
        return name
    return "/".join(name.split("/")[:depth + 1]).split(".", 1)[0]


class _Line:
    """One row of a table: how deep it sits, its first cell, its data (a
    layer row or a block entry)."""

    __slots__ = ("level", "label", "data")

    def __init__(self, level: int, label: str, data: dict):
        self.level, self.label, self.data = level, label, data


def _tree(rows: list[dict], blocks: list[dict], depth: int | None) -> list[_Line]:
    """The rows in model order with each block application's row before its
    contents, one level deeper per application; rows deeper than ``depth``
    are left out (their block's row stands for them).

    A row belongs to the applications whose paths prefix its name. A name
    inside an application is shown relative to it (``conv2d``, not
    ``stage_1/residual/conv2d``), as Keras's nested summary shows a nested
    layer's own name; "Connected to" keeps full paths.
    """
    by_path = {entry["name"]: entry for entry in blocks}
    opened: set[str] = set()
    lines = []
    for row in rows:
        name = row["name"]
        parts = name.split("/")
        around = [path for path in ("/".join(parts[:end]) for end in range(1, len(parts))) if path in by_path]
        for level, path in enumerate(around):
            if path not in opened and (depth is None or level <= depth):
                opened.add(path)
                entry = by_path[path]
                lines.append(_Line(level, f"{_relative(path, around[:level])} ({entry['block']})", entry))
        if depth is None or len(around) <= depth:
            lines.append(_Line(len(around), f"{_relative(name, around)} ({row['type']})", row))
    return lines


def _relative(name: str, around: list[str]) -> str:
    """``name`` without the path of the innermost application around it."""
    return name[len(around[-1]) + 1:] if around else name


def _displayed(summary: dict, columns, depth: int | None = None) -> tuple[list[str], list[_Line]]:
    """The columns and rows a table shows: a graph's also its inputs, as
    ``InputLayer`` rows, and what feeds each layer ("Connected to"); a
    model with blocks its block tree, folded below ``depth``."""
    check_depth(depth)
    columns = list(columns)
    lines = _tree(summary["layers"], summary.get("blocks") or [], depth)
    if not is_graph_summary(summary):
        return columns, lines
    if "connected_to" not in columns:
        columns.append("connected_to")
    itemsize = 8 if summary.get("dtype") == "float64" else 4
    inputs = [{"name": name, "type": "InputLayer", "input_shape": shape, "output_shape": shape, "params": 0,
               "weights": {}, "trainable": True, "macs": 0, "flops": 0,
               "activation_bytes": _times(_elements(shape[1:]), itemsize), "inputs": []}
              for name, shape in summary["inputs"].items()]
    return columns, [_Line(0, f"{row['name']} ({row['type']})", row) for row in inputs] + lines


def check_depth(depth, what: str = "summary") -> None:
    """Refuse a block depth that is not None or a whole number ≥ 0 (the
    ``what`` depth: the summary's, a diagram's)."""
    if depth is None or (isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0):
        return
    from .errors import ArgumentError

    raise ArgumentError(f"the {what} depth must be a whole number ≥ 0 (or None for every level), got {depth!r}",
                        argument="depth")


def _title(summary: dict) -> str:
    """The model's variant and arguments, for the header: ``variant small;
    width=32, classes=10`` (empty when it has neither)."""
    parts = []
    if summary.get("variant") is not None:
        parts.append(f"variant {summary['variant']}")
    if summary.get("args"):
        parts.append(", ".join(f"{name}={format_value(value)}" for name, value in summary["args"].items()))
    return "; ".join(parts)


def format_value(value) -> str:
    """A value as a spec (or ``--set``) writes it: ``null``, ``true``, ``[3, 3]``, ``relu``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {format_value(item)}" for key, item in value.items()) + "}"
    return str(value)


def is_graph_summary(summary: dict) -> bool:
    """Whether a summary is of a graph: said by a :class:`Summary`, else
    read from its data (several inputs or outputs, a reuse, or a layer not
    fed by the one above it)."""
    if isinstance(summary, Summary):
        return summary.is_graph
    rows = summary["layers"]
    if len(summary.get("inputs", ())) > 1 or len(summary.get("outputs", ())) > 1:
        return True
    expected = list(summary.get("inputs", {"input": None}))[:1]
    for row in rows:
        if "reuses" in row or row.get("inputs", expected) != expected:
            return True
        expected = [row["name"]]
    return False


def render_table(summary: dict, columns=DEFAULT_COLUMNS, max_width: int | None = None,
                 ascii_only: bool = False, depth: int | None = None) -> str:
    """Keras 3's summary layout, with chosen columns, fitted to ``max_width``.

    A cell too long for a shrunk column is cut with "…": a row never wraps.
    ``ascii_only`` draws the box with ``+ - = |`` and cuts with "...", for
    streams that cannot encode box drawing (see :data:`ASCII_FALLBACK`).

    A model with blocks shows each block application as a row (its totals,
    the shape of what leaves it, what feeds it) with its contents beneath,
    indented two spaces per level; ``depth`` (0 or more; None: every level)
    folds deeper levels into their block's row. The footer never changes.
    """
    shown, lines = _displayed(summary, columns, depth)
    columns = ["layer"] + shown
    headers = ["Layer (type)"] + [COLUMNS[column] for column in columns[1:]]
    cells = [["  " * line.level + line.label] + [_cell(line.data, column, depth) for column in columns[1:]]
             for line in lines]
    widths = _fit_widths(columns, cells, headers, max_width)

    def line(left, fill, middle, right):
        return left + middle.join(fill * (width + 2) for width in widths) + right

    def row_text(values, edge):
        clipped = [_clip(value, width, "..." if ascii_only else "…") for value, width in zip(values, widths)]
        padded = [value.rjust(width) if column in RIGHT_ALIGNED else value.ljust(width)
                  for value, width, column in zip(clipped, widths, columns)]
        return edge + edge.join(f" {cell} " for cell in padded) + edge

    title = _title(summary)
    out = [f'Model: "{summary["name"]}"' + (f" ({title})" if title else ""), line("┏", "━", "┳", "┓"),
           row_text(headers, "┃"), line("┡", "━", "╇", "┩")]
    for index, values in enumerate(cells):
        if index:
            out.append(line("├", "─", "┼", "┤"))
        out.append(row_text(values, "│"))
    out.append(line("└", "─", "┴", "┘"))
    out.extend(" " + text for text in _footer(summary))
    text = "\n".join(out)
    return to_ascii(text) if ascii_only else text


#: A Markdown table's indent per block level: spaces that renderers keep.
MARKDOWN_INDENT = "&nbsp;&nbsp;"


def render_markdown(summary: dict, columns=DEFAULT_COLUMNS, depth: int | None = None) -> str:
    """A GitHub-flavoured Markdown table with the same content (``depth``
    as for :func:`render_table`; a level indents by two non-breaking spaces,
    which HTML does not collapse)."""
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    columns, lines = _displayed(summary, columns, depth)
    headers = ["Layer (type)"] + [COLUMNS[column] for column in columns]
    align = ["---"] + ["---:" if column in RIGHT_ALIGNED else "---" for column in columns]
    title = _title(summary)
    out = [f"**Model: `{summary['name']}`**" + (f" ({escape(title)})" if title else ""), "",
           "| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    for line in lines:
        cells = [MARKDOWN_INDENT * line.level + f"`{escape(line.label)}`"]
        for column in columns:
            text = escape(_cell(line.data, column, depth))
            cells.append(f"`{text}`" if column.endswith("shape") else text)
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.extend(f"- {text}" for text in _footer(summary))
    return "\n".join(out)
