"""What layer types exist and what they take, read from the classes themselves.

Feeds ``layerspec layers`` (and the JSON Schema): every argument's name,
kind, default and the first line of the class docstring.
"""

from __future__ import annotations

import inspect
import json

from .errors import SpecError


def _summary_line(layer_class: type) -> str:
    # The class's own docstring only: a user layer without one should not
    # show Layer's.
    doc = inspect.cleandoc(layer_class.__dict__.get("__doc__") or "")
    return doc.strip().splitlines()[0] if doc.strip() else ""


def catalog(names=()) -> list[dict]:
    """One entry per layer class (aliases folded in), sorted by name.

    Args:
        names: only these types (matched like spec types); all by default.
    """
    from . import registry

    by_class: dict[type, list[str]] = {}
    for display, layer_class in registry.classes().items():
        by_class.setdefault(layer_class, []).append(display)
    wanted = {registry.lookup(name) for name in names} if names else None
    entries = []
    for layer_class, displays in by_class.items():
        if wanted is not None and layer_class not in wanted:
            continue
        primary = layer_class.__name__ if layer_class.__name__ in displays else sorted(displays)[0]
        entries.append({
            "type": primary,
            "aliases": sorted(d for d in displays if d != primary),
            "origin": registry.origin_of(primary),
            "summary": _summary_line(layer_class),
            "arguments": [_argument_entry(info) for info in registry.arguments_of(layer_class).values()],
        })
    if names and not entries:
        raise SpecError(f"no layer type matches {', '.join(names)}")
    return sorted(entries, key=lambda entry: entry["type"].lower())


def _argument_entry(info) -> dict:
    return {"name": info.name, "expected": info.expected, "required": info.required,
            "default": _jsonable(info.default)}


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return repr(value)


def _yaml_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    return str(value)


def render_catalog_text(entries: list[dict]) -> str:
    """A readable listing: type, origin, summary, then one line per argument."""
    blocks = []
    for entry in entries:
        title = entry["type"]
        if entry["aliases"]:
            title += f" (also {', '.join(entry['aliases'])})"
        if entry["origin"] and entry["origin"] != "built-in":
            title += f" [plugin {entry['origin']}]"
        lines = [title]
        if entry["summary"]:
            lines.append(f"  {entry['summary']}")
        width = max((len(a["name"]) for a in entry["arguments"]), default=0)
        for argument in entry["arguments"]:
            default = "required" if argument["required"] else f"default {_yaml_value(argument['default'])}"
            lines.append(f"    {argument['name'].ljust(width)}  {argument['expected']}; {default}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_catalog_json(entries: list[dict]) -> str:
    """The listing as JSON."""
    return json.dumps(entries, indent=2)
