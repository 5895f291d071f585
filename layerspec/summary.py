"""Pure functions: a built model → summary data → table, JSON or Markdown."""

from __future__ import annotations

import json
import re

from .layers.base import format_shape


class Summary(dict):
    """The summary as data (DESIGN §3); ``str()`` gives the table."""

    def __str__(self) -> str:
        return render_table(self)

    def to_json(self) -> str:
        """The JSON contract text."""
        return render_json(self)

    def to_markdown(self) -> str:
        """A Markdown table for pull requests."""
        return render_markdown(self)


def _json_shape(shape) -> list:
    return list(shape)


def summarize(model) -> Summary:
    """Collect shapes, parameter counts and MACs of a built model."""
    from .registry import display_name

    model._require_built()
    rows = []
    for layer, (input_shape, output_shape) in zip(model.layers, model.shapes):
        trainable = sum(weight.size for weight in layer.trainable_weights)
        non_trainable = sum(weight.size for weight in layer.non_trainable_weights)
        rows.append({
            "name": layer.name,
            "type": display_name(type(layer)),
            "input_shape": _json_shape(input_shape),
            "output_shape": _json_shape(output_shape),
            "params": trainable + non_trainable,
            "trainable_params": trainable,
            "non_trainable_params": non_trainable,
            "macs": layer.count_macs(input_shape),
            "weights": {weight.name: list(weight.shape) for weight in layer.weights},
        })
    total_trainable = sum(row["trainable_params"] for row in rows)
    total_non_trainable = sum(row["non_trainable_params"] for row in rows)
    macs = [row["macs"] for row in rows]
    itemsize = 8 if model.dtype == "float64" else 4
    return Summary({
        "name": model.name,
        "input_shape": _json_shape(model.shapes[0][0]),
        "output_shape": _json_shape(model.shapes[-1][1]),
        "layers": rows,
        "total_params": total_trainable + total_non_trainable,
        "trainable_params": total_trainable,
        "non_trainable_params": total_non_trainable,
        "total_macs": None if None in macs else sum(macs),
        "params_bytes": (total_trainable + total_non_trainable) * itemsize,
        "dtype": model.dtype,
    })


_FLAT_LIST = re.compile(r"\[\s+([^\[\]{}]*?)\s+\]")


def render_json(summary: dict) -> str:
    """The summary as indented JSON, with shapes kept on one line."""
    text = json.dumps(summary, indent=2)
    return _FLAT_LIST.sub(lambda match: "[" + re.sub(r"\s*\n\s*", " ", match.group(1)) + "]", text)


def readable_size(num_bytes: float) -> str:
    """Bytes in Keras's units (powers of 1024, labelled B, KB, MB...)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if num_bytes / 1024 < 1:
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.2f} PB"


def _count(value) -> str:
    return "?" if value is None else f"{value:,}"


def _table_rows(summary: dict) -> list[list[str]]:
    return [[f"{row['name']} ({row['type']})", format_shape(row["output_shape"]), _count(row["params"]),
             _count(row["macs"])] for row in summary["layers"]]


HEADERS = ["Layer (type)", "Output Shape", "Param #", "MACs"]
RIGHT_ALIGNED = {2, 3}
MIN_WIDTHS = [31, 22, 13, 13]  # Keras's column widths


def _footer(summary: dict) -> list[str]:
    itemsize = summary["params_bytes"] // summary["total_params"] if summary["total_params"] else 4
    lines = []
    for label, key in (("Total params", "total_params"), ("Trainable params", "trainable_params"),
                       ("Non-trainable params", "non_trainable_params")):
        count = summary[key]
        lines.append(f"{label}: {count:,} ({readable_size(count * itemsize)})")
    lines.append(f"Total MACs: {_count(summary['total_macs'])} per sample")
    return lines


def render_table(summary: dict) -> str:
    """Keras 3's summary layout, with a MACs column."""
    rows = _table_rows(summary)
    widths = [max([minimum, len(header)] + [len(row[i]) for row in rows])
              for i, (header, minimum) in enumerate(zip(HEADERS, MIN_WIDTHS))]

    def line(left, fill, middle, right):
        return left + middle.join(fill * (width + 2) for width in widths) + right

    def cells(values, edge):
        padded = [value.rjust(width) if i in RIGHT_ALIGNED else value.ljust(width)
                  for i, (value, width) in enumerate(zip(values, widths))]
        return edge + edge.join(f" {cell} " for cell in padded) + edge

    out = [f'Model: "{summary["name"]}"', line("┏", "━", "┳", "┓"), cells(HEADERS, "┃"),
           line("┡", "━", "╇", "┩")]
    for index, row in enumerate(rows):
        if index:
            out.append(line("├", "─", "┼", "┤"))
        out.append(cells(row, "│"))
    out.append(line("└", "─", "┴", "┘"))
    out.extend(" " + text for text in _footer(summary))
    return "\n".join(out)


def render_markdown(summary: dict) -> str:
    """A GitHub-flavoured Markdown table with the same content."""
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    out = [f"**Model: `{summary['name']}`**", "",
           "| " + " | ".join(HEADERS) + " |",
           "| " + " | ".join("---:" if i in RIGHT_ALIGNED else "---" for i in range(len(HEADERS))) + " |"]
    for row in _table_rows(summary):
        cells = [f"`{escape(cell)}`" if i < 2 else cell for i, cell in enumerate(row)]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.extend(f"- {text}" for text in _footer(summary))
    return "\n".join(out)
