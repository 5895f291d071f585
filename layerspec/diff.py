"""Pure functions: two summaries → a layer-by-layer diff → text, Markdown or JSON.

``diff_summaries(old, new)`` compares two summary dicts (docs/design.md §3, what
``model.summary()`` returns or ``summary --format json`` prints) and returns
plain JSON-able data::

    {"old": {"name", "input_shape", "output_shape", "dtype"}, "new": {...},
     "layers": [entry, ...],
     "counts": {"added": 1, "removed": 0, "changed": 2, "unchanged": 3},
     "totals": {"total_params": {"old", "new", "delta"}, "trainable_params": ...,
                "non_trainable_params": ..., "total_macs": ..., "params_bytes": ...,
                "input_shape": {"old", "new", "changed"}, "output_shape": {...}}}

Each entry of ``layers`` is ``{"status", "name", "type", "old", "new",
"changes", "argument_changes"}``: ``status`` is ``added``, ``removed``,
``changed`` or ``unchanged``; ``name`` and ``type`` are the new layer's (the
old one's when removed); ``old`` and ``new`` are the layer's rows of the two
summaries, unaltered (``null`` on the side where the layer does not exist),
so a renamed layer shows both names; ``changes`` lists what differs, in the
order ``name, type, output_shape, params, trainable_params,
non_trainable_params, macs, weights, arguments`` (empty for added and removed
layers); ``argument_changes`` maps each constructor argument that differs to
``{"old", "new"}`` (``activation: relu`` becoming ``tanh``, a Dropout's
``rate``), in the new layer's argument order (empty unless ``arguments`` is
in ``changes``). Deltas are ``new - old``, and ``null`` when either side is
unknown (MACs of a layer that cannot count them).

What counts as a change:

- A layer's input shape is not compared: it is the previous layer's output
  shape (or the model's input), which is reported there already.
- Every constructor argument is compared (the rows' ``arguments``, defaults
  included), so a change that moves no shape or count — an activation, a
  dropout rate — is still a change. Arguments are compared only between
  layers of the same type, and only when both rows carry them (summaries
  written before rows had ``arguments`` compare as before).
- A name counts only when the user chose one: ``dense_1`` becoming
  ``dense_2`` because a Dense layer was inserted before it is Keras's
  automatic numbering, not a change of that layer (its weights-file keys do
  follow the new name). A name is automatic when it is its type's snake-case
  name, optionally with ``_N`` (``dense``, ``max_pooling2d_3``). A layer
  inside block applications is named by path (``stage_1/residual/main``);
  each part is compared alone, and an application's part is automatic when
  it is its block's name, optionally with ``_N`` (the summaries' ``blocks``
  say which block), so a block inserted before ``stage_1`` renames nothing.

How layers are aligned (by name, then position), in order:

1. Common start and end: layers identical apart from automatic names are
   paired from both ends inward.
2. Names: among the rest, a name the user chose that appears in both specs
   pins those two layers together (the longest run of such names that keeps
   their order; a name that moved across others is left to step 3).
3. Position: between two pinned layers, layers are paired in order (never
   crossing) so as to maximise a similarity score over the pairs: 4 for
   identical layers (automatic names aside), 3 for the same type and output
   shape, 2 for the same type; layers of different types are never paired
   here. So an inserted or removed layer leaves everything around it paired
   with its counterpart, and a layer whose units changed stays paired with
   its old self, as do the layers after it whose shapes or parameter counts
   changed as a consequence.
4. Replacement: where exactly one old and one new layer are left unpaired
   between the same two paired neighbours, they are the same position with
   a different type: paired, reported as ``changed`` with ``type`` in
   ``changes``. Anything else left over is ``removed`` (listed first) or
   ``added``.
"""

from __future__ import annotations

import json
import re

from .layers.base import format_shape, snake_case
from .summary import format_value, is_graph_summary, render_json, to_ascii

STATUSES = ("added", "removed", "changed", "unchanged")
COMPARED_FIELDS = ("name", "type", "output_shape", "params", "trainable_params", "non_trainable_params", "macs",
                   "weights", "arguments")
TOTAL_COUNTS = ("total_params", "trainable_params", "non_trainable_params", "total_macs", "params_bytes")

# Similarity scores for step 3 of the alignment (see the module docstring).
IDENTICAL, SAME_TYPE_AND_SHAPE, SAME_TYPE = 4, 3, 2

_AUTO_SUFFIX = re.compile(r"(_[1-9][0-9]*)?")


# -- comparing ----------------------------------------------------------------
def diff_summaries(old: dict, new: dict) -> dict:
    """Compare two summaries layer by layer (see the module docstring).

    Args:
        old: the summary of the earlier model (``model.summary()``, or the
            object ``summary --format json`` prints).
        new: the summary of the later model.
    Returns:
        The diff as plain data that ``json.dumps`` accepts.
    """
    old_rows, new_rows = list(old.get("layers", [])), list(new.get("layers", []))
    old_names, new_names = name_keys(old_rows, old.get("blocks")), name_keys(new_rows, new.get("blocks"))
    pairs = align_layers(old_rows, new_rows, old.get("blocks"), new.get("blocks"))
    entries = [_entry(None if i is None else old_rows[i], None if j is None else new_rows[j],
                      renamed=i is not None and j is not None and old_names[i] != new_names[j]) for i, j in pairs]
    if is_graph_summary(old) or is_graph_summary(new):
        _compare_connections(entries, pairs, old_rows, new_rows, old, new)
    counts = {status: sum(entry["status"] == status for entry in entries) for status in STATUSES}
    return {
        "old": _model_info(old),
        "new": _model_info(new),
        "layers": entries,
        "counts": counts,
        "totals": _totals(old, new),
    }


def _compare_connections(entries: list[dict], pairs, old_rows, new_rows, old: dict, new: dict) -> None:
    """Mark each aligned layer whose inputs changed: ``inputs`` in its
    changes, old and new names in ``input_changes``. Old inputs are read
    through the alignment (a renamed layer is the same input)."""
    renamed = {name: name for name in old.get("inputs", {})}
    for i, j in pairs:
        if i is not None and j is not None:
            renamed[old_rows[i]["name"]] = new_rows[j]["name"]
    for entry, (i, j) in zip(entries, pairs):
        if i is None or j is None:
            continue
        before = old_rows[i].get("inputs", [])
        after = new_rows[j].get("inputs", [])
        if [renamed.get(name) for name in before] != after:
            entry["changes"].append("inputs")
            entry["input_changes"] = {"old": list(before), "new": list(after)}
            entry["status"] = "changed"


def align_layers(old_rows: list[dict], new_rows: list[dict], old_blocks: list[dict] | None = None,
                 new_blocks: list[dict] | None = None) -> list[tuple[int | None, int | None]]:
    """Pair two lists of summary rows: ``(old_index, new_index)`` in order.

    ``None`` on one side marks a removed (``(i, None)``) or added
    (``(None, j)``) layer. The rule is the module docstring's; the
    summaries' ``blocks`` tell which parts of path names are automatic.
    """
    old_names, new_names = name_keys(old_rows, old_blocks), name_keys(new_rows, new_blocks)
    old_bodies, new_bodies = [_body_key(row) for row in old_rows], [_body_key(row) for row in new_rows]
    old_keys = list(zip(old_bodies, old_names))
    new_keys = list(zip(new_bodies, new_names))
    start = 0
    while start < min(len(old_keys), len(new_keys)) and old_keys[start] == new_keys[start]:
        start += 1
    end_old, end_new = len(old_keys), len(new_keys)
    while end_old > start and end_new > start and old_keys[end_old - 1] == new_keys[end_new - 1]:
        end_old, end_new = end_old - 1, end_new - 1

    ops: list[tuple[int | None, int | None]] = [(i, i) for i in range(start)]
    anchors = _name_anchors(old_names, new_names, range(start, end_old), range(start, end_new))
    low_old, low_new = start, start
    for i, j in anchors:
        ops.extend(_align_by_similarity(old_rows, new_rows, old_bodies, new_bodies, range(low_old, i),
                                        range(low_new, j)))
        ops.append((i, j))
        low_old, low_new = i + 1, j + 1
    ops.extend(_align_by_similarity(old_rows, new_rows, old_bodies, new_bodies, range(low_old, end_old),
                                    range(low_new, end_new)))
    ops.extend(zip(range(end_old, len(old_rows)), range(end_new, len(new_rows))))
    return _pair_replacements(ops)


def _body_key(row: dict) -> str:
    """Everything compared about a layer except its name, as one hashable value."""
    return json.dumps({field: row.get(field) for field in COMPARED_FIELDS if field != "name"}, sort_keys=True)


def name_keys(rows: list[dict], blocks: list[dict] | None) -> list[tuple]:
    """Each row's name as the diff compares it: its parts (one per block
    application around it, then its own), each automatic part as None.

    ``stage_1/residual/main`` inside automatically named applications is
    ``(None, None, "main")``: renumbering an application (a block inserted
    before it) is no change of name, as for ``dense_1`` becoming ``dense_2``,
    and such a name does not pin layers. A flat automatic name is ``(None,)``.
    """
    automatic = {entry["name"] for entry in blocks or () if _is_auto_part(entry["name"], entry["block"])}
    keys = []
    for row in rows:
        name = row.get("name")
        if not isinstance(name, str):
            keys.append((name,))
            continue
        parts = name.split("/")
        paths = ["/".join(parts[:end]) for end in range(1, len(parts))]
        key = [None if path in automatic else part for part, path in zip(parts, paths)]
        key.append(None if is_auto_name({"name": parts[-1], "type": row.get("type")}) else parts[-1])
        keys.append(tuple(key))
    return keys


def _is_auto_part(path: str, base: str) -> bool:
    """Whether an application's own name (the last part of its path) is its block's automatic one."""
    own = path.rsplit("/", 1)[-1]
    return own.startswith(base) and _AUTO_SUFFIX.fullmatch(own[len(base):]) is not None


def is_auto_name(row: dict) -> bool:
    """Whether a row's name is its type's automatic one (``dense``, ``dense_3``)."""
    name, layer_type = row.get("name"), row.get("type")
    if not isinstance(name, str) or not isinstance(layer_type, str):
        return False
    base = snake_case(layer_type)
    return name.startswith(base) and _AUTO_SUFFIX.fullmatch(name[len(base):]) is not None


def _name_anchors(old_names: list[tuple], new_names: list[tuple], old_range: range,
                  new_range: range) -> list[tuple[int, int]]:
    """Pairs of layers with the same chosen name (no automatic part), the
    longest order-keeping set."""
    new_by_name = {new_names[j]: j for j in new_range if None not in new_names[j]}
    candidates = [(i, new_by_name[old_names[i]]) for i in old_range
                  if None not in old_names[i] and old_names[i] in new_by_name]
    # Longest increasing run of new positions, in old order (k is small: O(k²)).
    best: list[list[tuple[int, int]]] = []
    for index, (i, j) in enumerate(candidates):
        before = [chain for chain in best[:index] if chain[-1][1] < j]
        best.append(max(before, key=len, default=[]) + [(i, j)])
    return max(best, key=len, default=[])


def _similarity(old_row: dict, new_row: dict, old_body: str, new_body: str) -> int:
    if old_row.get("type") != new_row.get("type"):
        return 0
    if old_body == new_body:
        return IDENTICAL
    if old_row.get("output_shape") == new_row.get("output_shape"):
        return SAME_TYPE_AND_SHAPE
    return SAME_TYPE


def _align_by_similarity(old_rows, new_rows, old_bodies, new_bodies, old_range: range, new_range: range):
    """Order-keeping pairing of two runs of layers maximising the total similarity."""
    n, m = len(old_range), len(new_range)
    score = [[_similarity(old_rows[i], new_rows[j], old_bodies[i], new_bodies[j]) for j in new_range]
             for i in old_range]
    # best[a][b]: the highest total for old_range[a:] against new_range[b:].
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for a in range(n - 1, -1, -1):
        for b in range(m - 1, -1, -1):
            paired = score[a][b] + best[a + 1][b + 1] if score[a][b] else 0
            best[a][b] = max(paired, best[a + 1][b], best[a][b + 1])
    ops: list[tuple[int | None, int | None]] = []
    a = b = 0
    while a < n or b < m:
        # Ties prefer pairing, then removing: earlier layers pair first.
        if a < n and b < m and score[a][b] and best[a][b] == score[a][b] + best[a + 1][b + 1]:
            ops.append((old_range[a], new_range[b]))
            a, b = a + 1, b + 1
        elif a < n and (b == m or best[a][b] == best[a + 1][b]):
            ops.append((old_range[a], None))
            a += 1
        else:
            ops.append((None, new_range[b]))
            b += 1
    return ops


def _pair_replacements(ops):
    """Pair a lone removed layer with a lone added one between the same neighbours."""
    result: list[tuple[int | None, int | None]] = []
    run: list[tuple[int | None, int | None]] = []

    def flush():
        removed = [i for i, _ in run if i is not None]
        added = [j for _, j in run if j is not None]
        if len(removed) == 1 and len(added) == 1:
            result.append((removed[0], added[0]))
        else:
            result.extend([(i, None) for i in removed] + [(None, j) for j in added])
        run.clear()

    for op in ops:
        if op[0] is None or op[1] is None:
            run.append(op)
        else:
            flush()
            result.append(op)
    flush()
    return result


def _entry(old_row: dict | None, new_row: dict | None, renamed: bool = False) -> dict:
    """``renamed``: whether the names differ in a part the user chose."""
    shown = new_row if new_row is not None else old_row
    if old_row is None or new_row is None:
        status, changes = ("added" if old_row is None else "removed"), []
    else:
        changes = [field for field in COMPARED_FIELDS
                   if (renamed if field == "name" else _differs(field, old_row, new_row))]
        status = "changed" if changes else "unchanged"
    return {
        "status": status,
        "name": shown.get("name"),
        "type": shown.get("type"),
        "old": _plain(old_row),
        "new": _plain(new_row),
        "changes": changes,
        "argument_changes": _argument_changes(old_row, new_row) if "arguments" in changes else {},
    }


def _differs(field: str, old_row: dict, new_row: dict) -> bool:
    if field == "arguments" and not _arguments_comparable(old_row, new_row):
        return False
    return old_row.get(field) != new_row.get(field)


def _arguments_comparable(old_row: dict, new_row: dict) -> bool:
    # Another type's arguments are another vocabulary (the type change says
    # it all); a row without arguments comes from an older summary.
    return (old_row.get("type") == new_row.get("type") and isinstance(old_row.get("arguments"), dict)
            and isinstance(new_row.get("arguments"), dict))


def _argument_changes(old_row: dict, new_row: dict) -> dict:
    """``{argument: {"old", "new"}}`` for each argument that differs (``null`` where one side lacks it)."""
    old_arguments, new_arguments = old_row["arguments"], new_row["arguments"]
    names = list(new_arguments) + [name for name in old_arguments if name not in new_arguments]
    return {name: {"old": _plain(old_arguments.get(name)), "new": _plain(new_arguments.get(name))}
            for name in names if old_arguments.get(name) != new_arguments.get(name)}


def _plain(value):
    """A JSON-only deep copy (dict subclasses and tuples become dicts and lists)."""
    return None if value is None else json.loads(json.dumps(value))


def _model_info(summary: dict) -> dict:
    return {key: _plain(summary.get(key)) for key in ("name", "input_shape", "output_shape", "dtype")}


def _totals(old: dict, new: dict) -> dict:
    totals = {}
    for key in TOTAL_COUNTS:
        before, after = old.get(key), new.get(key)
        delta = None if before is None or after is None else after - before
        totals[key] = {"old": before, "new": after, "delta": delta}
    for key in ("input_shape", "output_shape", "inputs", "outputs"):
        before, after = _plain(old.get(key)), _plain(new.get(key))
        totals[key] = {"old": before, "new": after, "changed": before != after}
    return totals


# -- rendering ----------------------------------------------------------------
MARKERS = {"added": "+", "removed": "-", "changed": "~", "unchanged": " "}
ARROW = " → "
#: Changes the Output Shape and Param # columns do not show.
_HIDDEN_CHANGES = ("trainable_params", "non_trainable_params", "macs", "weights")


def _count(value) -> str:
    return "?" if value is None else f"{value:,}"


def _signed(value: int) -> str:
    return f"{value:+,}"


def headline(diff: dict) -> str:
    """One line: ``2 layers changed, 1 added, 0 removed; params +1,024 (+0.15%)``."""
    counts = diff["counts"]
    noun = "layer" if counts["changed"] == 1 else "layers"
    params = diff["totals"]["total_params"]
    if params["delta"] is None:
        change = f"params {_count(params['old'])} → {_count(params['new'])}"
    elif params["delta"] == 0:
        change = "params unchanged"
    else:
        change = f"params {_signed(params['delta'])}"
        if params["old"]:
            change += f" ({params['delta'] / params['old'] * 100:+.2f}%)"
    return f"{counts['changed']} {noun} changed, {counts['added']} added, {counts['removed']} removed; {change}"


def _model_title(diff: dict) -> str:
    old, new = diff["old"]["name"], diff["new"]["name"]
    return f'"{new}"' if old == new else f'"{old}"{ARROW}"{new}"'


def _layer_cell(entry: dict) -> str:
    old, new = entry["old"], entry["new"]
    if old is None or new is None:
        return f"{entry['name']} ({entry['type']})"
    if old.get("type") != new.get("type"):
        return f"{old.get('name')} ({old.get('type')}){ARROW}{new.get('name')} ({new.get('type')})"
    if old.get("name") != new.get("name"):
        return f"{old.get('name')}{ARROW}{new.get('name')} ({new.get('type')})"
    return f"{new.get('name')} ({new.get('type')})"


def _shape_cell(entry: dict) -> str:
    old, new = entry["old"], entry["new"]
    if old is None or new is None:
        return format_shape((new or old)["output_shape"])
    if old["output_shape"] == new["output_shape"]:
        return format_shape(new["output_shape"])
    return format_shape(old["output_shape"]) + ARROW + format_shape(new["output_shape"])


def _params_cell(entry: dict) -> str:
    old, new = entry["old"], entry["new"]
    if old is None or new is None:
        return _count((new or old).get("params"))
    return _change(old.get("params"), new.get("params"))


def _change(before, after) -> str:
    """``5`` when equal, else ``5 → 7 (+2)`` (no delta when a side is unknown)."""
    if before == after:
        return _count(after)
    text = _count(before) + ARROW + _count(after)
    return text if before is None or after is None else f"{text} ({_signed(after - before)})"


def _note_cell(entry: dict) -> str:
    """Each changed argument, ``old → new``; then, in a row whose shape and
    params columns look the same, what else changed."""
    if entry["status"] != "changed":
        return ""
    notes = [f"{name}: {format_value(change['old'])}{ARROW}{format_value(change['new'])}"
             for name, change in entry.get("argument_changes", {}).items()]
    if "input_changes" in entry:
        inputs = entry["input_changes"]
        notes.append(f"inputs: {', '.join(inputs['old']) or '-'}{ARROW}{', '.join(inputs['new']) or '-'}")
    changes = entry["changes"]
    hidden = [field for field in changes if field in _HIDDEN_CHANGES]
    if hidden and not {"output_shape", "params"} & set(changes):
        notes.append("changed: " + ", ".join(hidden))
    return "; ".join(notes)


def _total_lines(diff: dict) -> list[str]:
    totals = diff["totals"]
    lines = []
    for label, key, unit in (("Total params", "total_params", ""), ("Trainable params", "trainable_params", ""),
                             ("Non-trainable params", "non_trainable_params", ""),
                             ("Total MACs", "total_macs", " per sample")):
        before, after = totals[key]["old"], totals[key]["new"]
        text = f"{_count(after)}{unit} (unchanged)" if before == after else _change(before, after) + unit
        lines.append(f"{label}: {text}")
    for label, key, named in (("Input shape", "input_shape", "inputs"), ("Output shape", "output_shape", "outputs")):
        shape = totals[key]
        if shape["old"] is None or shape["new"] is None:  # several inputs or outputs on a side: by name
            label, shape, show = f"{label[:-6]}s", totals.get(named, {}), _named_shapes
        else:
            show = format_shape
        if shape.get("changed"):
            lines.append(f"{label}: {show(shape['old'])}{ARROW}{show(shape['new'])}")
        elif key == "output_shape" and shape:
            lines.append(f"{label}: {show(shape['new'])} (unchanged)")
    return lines


def _named_shapes(shapes: dict | None) -> str:
    """``class (None, 5), score (None, 1)``; ``?`` for an older summary without names."""
    if not shapes:
        return "?"
    return ", ".join(f"{name} {format_shape(shape)}" for name, shape in shapes.items())


TEXT_HEADERS = ["Layer (type)", "Output Shape", "Param #", ""]


def render_diff_text(diff: dict, ascii_only: bool = False) -> str:
    """A plain-text table: one row per layer, marked ``+`` added, ``-`` removed,
    ``~`` changed or blank, with ``old → new`` where a value changed, then the
    totals' changes. ``ascii_only`` writes the arrows ``->``, columns still
    aligned, for streams that cannot encode ``→``."""
    spell = to_ascii if ascii_only else str
    rows = [[spell(cell) for cell in (_layer_cell(e), _shape_cell(e), _params_cell(e), _note_cell(e))]
            for e in diff["layers"]]
    markers = [MARKERS[e["status"]] for e in diff["layers"]]
    widths = [max(len(cells[i]) for cells in rows + [TEXT_HEADERS]) for i in range(len(TEXT_HEADERS))]

    def line(marker: str, cells: list[str]) -> str:
        padded = [cell.rjust(width) if i == 2 else cell.ljust(width)
                  for i, (cell, width) in enumerate(zip(cells, widths))]
        return f"{marker} " + "  ".join(padded).rstrip()

    out = [spell(f"Model: {_model_title(diff)}"), spell(headline(diff)), "", line(" ", TEXT_HEADERS)]
    out.extend(line(marker, cells) for marker, cells in zip(markers, rows))
    out.append("")
    out.extend(spell(text) for text in _total_lines(diff))
    return "\n".join(out)


def render_diff_markdown(diff: dict, ascii_only: bool = False) -> str:
    """A GitHub Markdown comment: a bold headline, a table of the added,
    removed and changed layers in model order (each run of unchanged layers
    collapsed into one ``*N unchanged layers*`` row, keeping its place), and
    the totals as a list. ``ascii_only`` writes the arrows ``->``."""
    def code(text: str) -> str:
        return "`" + text.replace("|", "\\|") + "`"

    def code_arrow(text: str) -> str:  # `old` → `new`, keeping the arrow out of code spans
        return ARROW.join(code(part) for part in text.split(ARROW))

    title = code_arrow(_model_title(diff).replace('"', ""))
    out = [f"**{title}: {headline(diff)}**", "",
           "| | Layer (type) | Output Shape | Param # |", "| --- | --- | --- | ---: |"]
    unchanged = 0

    def collapse():
        nonlocal unchanged
        if unchanged:
            out.append(f"| | *{unchanged} unchanged {'layer' if unchanged == 1 else 'layers'}* | | |")
            unchanged = 0

    for entry in diff["layers"]:
        if entry["status"] == "unchanged":
            unchanged += 1
            continue
        collapse()
        params = _params_cell(entry)
        note = _note_cell(entry).replace("|", "\\|")
        out.append(f"| {entry['status']} | {code_arrow(_layer_cell(entry))} | {code_arrow(_shape_cell(entry))} "
                   f"| {params + (f' ({note})' if note else '')} |")
    collapse()
    out.append("")
    out.extend(f"- {line}" for line in _total_lines(diff))
    text = "\n".join(out)
    return to_ascii(text) if ascii_only else text


def render_diff_json(diff: dict) -> str:
    """The diff as indented JSON, shapes kept on one line (as ``summary``)."""
    return render_json(diff)
