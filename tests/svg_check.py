"""Reading layerspec's SVG back, as a viewer would: its structure checked
against SVG 1.1's rules for the elements it uses, its geometry parsed from
the elements' attributes.

- :func:`check_structure` parses the text with ``xml.etree.ElementTree`` and
  checks SVG 1.1's rules for the elements layerspec writes: the root ``svg``
  in the SVG namespace with ``version="1.1"``, ``width``, ``height`` and a
  ``viewBox`` that agrees with them; each element allowed in its parent
  (SVG 1.1's content models, restricted to these elements); only the
  attributes SVG 1.1 defines for each element; presentation attributes of
  the right kind (lengths, colours, opacities, ``url(#id)`` references to
  elements that exist); unique ids; path data of absolute ``M``/``L``
  commands.
- :func:`read_picture` gives the boxes, edges, labels and frames as
  rectangles and polylines, read from the attributes, never from a layout.
- :func:`check_geometry` asserts what a reader needs: no two boxes overlap,
  no edge crosses a box (other than touching its own ends), no two edges
  of different sources lie on one line, every label inside the canvas and
  off every box and every other label, frames around their boxes and
  nested frames, and no frame over a box it does not hold.

Failures are ``AssertionError`` with a message naming the element.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from dataclasses import dataclass, field

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
_NS = "{" + SVG_NAMESPACE + "}"

# SVG 1.1 attribute groups (https://www.w3.org/TR/SVG11/attindex.html), the part used here.
_CORE = {"id", "xml:base", "xml:lang", "xml:space"}
_STYLABLE = {"class", "style"}
_PRESENTATION = {"fill", "fill-opacity", "stroke", "stroke-width", "stroke-dasharray", "stroke-linejoin",
                 "stroke-linecap", "stroke-opacity", "font-family", "font-size", "font-weight", "text-anchor",
                 "marker-end", "marker-start", "marker-mid", "opacity"}
_COMMON = _CORE | _STYLABLE | _PRESENTATION

#: Element → the attributes SVG 1.1 defines for it (beyond the common ones
#: above, for the elements that take presentation attributes).
ATTRIBUTES = {
    "svg": _COMMON | {"version", "width", "height", "viewBox", "x", "y", "preserveAspectRatio", "baseProfile"},
    "g": _COMMON | {"transform"},
    "defs": _COMMON | {"transform"},
    "title": _CORE | _STYLABLE,
    "desc": _CORE | _STYLABLE,
    "marker": _COMMON | {"viewBox", "refX", "refY", "markerUnits", "markerWidth", "markerHeight", "orient",
                         "preserveAspectRatio"},
    "path": _COMMON | {"d", "transform", "pathLength"},
    "rect": _COMMON | {"x", "y", "width", "height", "rx", "ry", "transform"},
    "text": _COMMON | {"x", "y", "dx", "dy", "rotate", "textLength", "lengthAdjust", "transform"},
}

#: Element → the elements SVG 1.1 allows in it, of those above.
_GRAPHICS = {"g", "defs", "title", "desc", "path", "rect", "text", "svg"}
CHILDREN = {
    "svg": _GRAPHICS | {"marker"},
    "g": _GRAPHICS | {"marker"},
    "defs": _GRAPHICS | {"marker"},
    "marker": _GRAPHICS | {"marker"},
    "title": set(), "desc": set(), "path": {"title", "desc"}, "rect": {"title", "desc"},
    "text": {"title", "desc"},
}

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}|none|currentColor|[a-z]+")
_URL = re.compile(r"url\(#([A-Za-z_][\w.\-]*)\)")
_LENGTH_ATTRIBUTES = {"x", "y", "width", "height", "rx", "ry", "refX", "refY", "markerWidth", "markerHeight",
                      "stroke-width", "font-size"}
_OPACITY_ATTRIBUTES = {"fill-opacity", "stroke-opacity", "opacity"}
_KEYWORDS = {"version": {"1.1"}, "markerUnits": {"strokeWidth", "userSpaceOnUse"},
             "text-anchor": {"start", "middle", "end", "inherit"},
             "font-weight": {"normal", "bold", "bolder", "lighter", "100", "200", "300", "400", "500", "600",
                             "700", "800", "900", "inherit"},
             "stroke-linejoin": {"miter", "round", "bevel", "inherit"}}


def _local(tag: str) -> str:
    assert tag.startswith(_NS), f"element {tag} is not in the SVG namespace"
    return tag[len(_NS):]


def _number(value: str, what: str) -> float:
    assert re.fullmatch(_NUMBER, value.strip()), f"{what}: {value!r} is not a number"
    return float(value)


def check_structure(text: str) -> ElementTree.Element:
    """Parse ``text`` and check it against SVG 1.1's rules for the elements
    used (see the module's docstring); return the root element."""
    root = ElementTree.fromstring(text)
    assert root.tag == _NS + "svg", f"the root is {root.tag}, not svg in the SVG namespace"
    assert root.get("version") == "1.1", f"version {root.get('version')!r}, not 1.1"
    width, height = _number(root.get("width", ""), "svg width"), _number(root.get("height", ""), "svg height")
    view_box = [_number(part, "viewBox") for part in root.get("viewBox", "").split()]
    assert view_box == [0, 0, width, height], f"viewBox {view_box} does not match {width} × {height}"
    ids, references = set(), []
    for parent in root.iter():
        parent_name = _local(parent.tag)
        for child in parent:
            child_name = _local(child.tag)
            assert child_name in ATTRIBUTES, f"unknown element {child_name}"
            assert child_name in CHILDREN[parent_name], f"{child_name} is not allowed in {parent_name}"
        if parent_name not in ("title", "desc", "text"):
            assert not (parent.text or "").strip(), f"{parent_name} holds character data"
        for name, value in parent.attrib.items():
            _check_attribute(parent_name, name, value, references)
        if "id" in parent.attrib:
            assert parent.get("id") not in ids, f"id {parent.get('id')} is used twice"
            ids.add(parent.get("id"))
        if parent_name == "path":
            parse_path(parent.get("d", ""))
    for reference in references:
        assert reference in ids, f"url(#{reference}) names no element"
    markers = {m.get("id") for m in root.iter(_NS + "marker")}
    for reference in references:
        assert reference in markers, f"url(#{reference}) is not a marker"
    titles = [child for child in root if child.tag == _NS + "title"]
    assert len(titles) == 1 and titles[0].text, "the document has no title"
    return root


def _check_attribute(element: str, name: str, value: str, references: list) -> None:
    assert name in ATTRIBUTES[element], f"{element} has no attribute {name!r} in SVG 1.1"
    if name in _LENGTH_ATTRIBUTES:
        _number(value, f"{element} {name}")
    elif name in _OPACITY_ATTRIBUTES:
        assert 0 <= _number(value, f"{element} {name}") <= 1, f"{element} {name}={value} is not an opacity"
    elif name in ("fill", "stroke"):
        assert _COLOUR.fullmatch(value), f"{element} {name}={value!r} is not a colour"
    elif name in ("marker-end", "marker-start", "marker-mid"):
        match = _URL.fullmatch(value)
        assert match, f"{element} {name}={value!r} is not url(#id)"
        references.append(match.group(1))
    elif name == "stroke-dasharray":
        for part in value.replace(",", " ").split():
            _number(part, f"{element} {name}")
    elif name == "orient":
        assert value == "auto" or re.fullmatch(_NUMBER, value), f"orient={value!r}"
    elif name in _KEYWORDS:
        assert value in _KEYWORDS[name], f"{element} {name}={value!r}"


def parse_path(d: str) -> list[tuple[float, float]]:
    """The points of path data made of absolute ``M`` then ``L`` commands,
    perhaps closed by ``z`` (the arrowhead)."""
    tokens = re.findall(r"[A-Za-z]|" + _NUMBER, d)
    assert "".join(tokens) == re.sub(r"[\s,]+", "", d), f"path data {d!r} has stray characters"
    if tokens and tokens[-1] in ("z", "Z"):
        tokens.pop()
    points, position = [], 0
    while position < len(tokens):
        command = tokens[position]
        assert command in ("M", "L"), f"path command {command!r} (only absolute M and L are written)"
        assert (command == "M") == (position == 0), f"path {d!r} must start with one M"
        x, y = float(tokens[position + 1]), float(tokens[position + 2])
        points.append((x, y))
        position += 3
    assert len(points) >= 2, f"path {d!r} has fewer than two points"
    return points


# -- the picture ------------------------------------------------------------------
@dataclass
class Picture:
    """What an SVG shows, read back from its elements."""

    width: float
    height: float
    boxes: dict[str, tuple] = field(default_factory=dict)      # id → (x, y, w, h)
    box_text: dict[str, list[str]] = field(default_factory=dict)
    edges: list[tuple[str, str, list]] = field(default_factory=list)   # (source, target, points)
    labels: list[tuple] = field(default_factory=list)          # (x, y, w, h, text)
    frames: dict[str, tuple] = field(default_factory=dict)     # id → (x, y, w, h)
    frame_titles: dict[str, tuple] = field(default_factory=dict)   # id → (x, baseline, text)


def _rect(element) -> tuple[float, float, float, float]:
    return tuple(float(element.get(name)) for name in ("x", "y", "width", "height"))


def _classes(element) -> list[str]:
    return (element.get("class") or "").split()


def read_picture(text: str) -> Picture:
    """The boxes, edges, labels and frames of one of layerspec's SVGs."""
    root = check_structure(text)
    picture = Picture(float(root.get("width")), float(root.get("height")))
    for group in root.iter(_NS + "g"):
        classes = _classes(group)
        if "box" in classes:
            rect = next(r for r in group.iter(_NS + "rect") if "box" in _classes(r))
            picture.boxes[group.get("id")] = _rect(rect)
            picture.box_text[group.get("id")] = [t.text for t in group.iter(_NS + "text")]
        elif "edge" in classes:
            match = re.fullmatch(r"e-(\w+)-(\w+)", group.get("id"))
            assert match, f"edge id {group.get('id')!r}"
            path = next(group.iter(_NS + "path"))
            assert path.get("marker-end"), f"edge {group.get('id')} has no arrowhead"
            picture.edges.append((match.group(1), match.group(2), parse_path(path.get("d"))))
        elif "label" in classes:
            rect, label = next(group.iter(_NS + "rect")), next(group.iter(_NS + "text"))
            picture.labels.append(_rect(rect) + (label.text,))
        elif "frame" in classes:
            picture.frames[group.get("id")] = _rect(next(group.iter(_NS + "rect")))
            title = next(group.iter(_NS + "text"))
            picture.frame_titles[group.get("id")] = (float(title.get("x")), float(title.get("y")), title.text)
    return picture


# -- geometry -----------------------------------------------------------------------
EPSILON = 0.01


def _inside(inner, outer, margin: float = 0.0) -> bool:
    x, y, w, h = inner[:4]
    ox, oy, ow, oh = outer[:4]
    return ox + margin - EPSILON <= x and oy + margin - EPSILON <= y and \
        x + w <= ox + ow - margin + EPSILON and y + h <= oy + oh - margin + EPSILON


def _overlap(a, b, clearance: float = 0.0) -> bool:
    """Whether two rectangles share area (or come nearer than ``clearance``)."""
    ax, ay, aw, ah = a[:4]
    bx, by, bw, bh = b[:4]
    return ax < bx + bw + clearance - EPSILON and bx < ax + aw + clearance - EPSILON and \
        ay < by + bh + clearance - EPSILON and by < ay + ah + clearance - EPSILON


def _segment_enters(p, q, rect) -> bool:
    """Whether an axis-parallel segment passes through a rectangle's inside
    (touching its border is not entering)."""
    x, y, w, h = rect
    (x1, y1), (x2, y2) = p, q
    low_x, high_x, low_y, high_y = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
    return low_x < x + w - EPSILON and high_x > x + EPSILON and low_y < y + h - EPSILON and high_y > y + EPSILON


class _Buckets:
    """Rectangles by horizontal bands, to find those near a segment quickly."""

    SIZE = 256.0

    def __init__(self, rects: dict):
        self.bands = defaultdict(list)
        for key, rect in rects.items():
            for band in range(int(rect[1] // self.SIZE), int((rect[1] + rect[3]) // self.SIZE) + 1):
                self.bands[band].append((key, rect))

    def near(self, low_y: float, high_y: float):
        seen = set()
        for band in range(int(low_y // self.SIZE), int(high_y // self.SIZE) + 1):
            for key, rect in self.bands.get(band, ()):
                if key not in seen:
                    seen.add(key)
                    yield key, rect


def check_geometry(picture: Picture, frame_boxes: dict[str, set[str]] | None = None) -> None:
    """Assert the picture is readable (see the module's docstring).

    ``frame_boxes``: frame id → the ids of every box inside it (nested
    frames' included), from the diagram, to check the frames against.
    """
    canvas = (0.0, 0.0, picture.width, picture.height)
    boxes = picture.boxes
    buckets = _Buckets(boxes)
    for key, rect in boxes.items():
        assert _inside(rect, canvas), f"box {key} {rect} is off the canvas"
        for other, other_rect in buckets.near(rect[1], rect[1] + rect[3]):
            assert other == key or not _overlap(rect, other_rect), f"boxes {key} and {other} overlap"
    _check_edges(picture, buckets)
    label_buckets = _Buckets(dict(enumerate(picture.labels)))
    for number, label in enumerate(picture.labels):
        assert _inside(label, canvas), f"label {label} is off the canvas"
        for key, rect in buckets.near(label[1], label[1] + label[3]):
            assert not _overlap(label, rect), f"label {label[4]!r} covers box {key}"
        for other, rect in label_buckets.near(label[1], label[1] + label[3]):
            assert other == number or not _overlap(label, rect), f"labels {label} and {rect} overlap"
    _check_frames(picture, buckets, frame_boxes)


def _check_edges(picture: Picture, buckets: _Buckets) -> None:
    canvas = (0.0, 0.0, picture.width, picture.height)
    lines = defaultdict(list)   # ("v", x) or ("h", y) → [(low, high, source)]
    for source, target, points in picture.edges:
        name = f"edge {source}→{target}"
        assert source in picture.boxes and target in picture.boxes, f"{name} joins unknown boxes"
        _on_border(points[0], picture.boxes[source], f"{name} does not leave its source's side")
        _on_border(points[-1], picture.boxes[target], f"{name} does not reach its target's side")
        for p, q in zip(points, points[1:]):
            assert p[0] == q[0] or p[1] == q[1], f"{name}: segment {p}–{q} is not orthogonal"
            for point in (p, q):
                assert _inside(point + (0, 0), canvas), f"{name} leaves the canvas at {point}"
            low, high = min(p[1], q[1]), max(p[1], q[1])
            for key, rect in buckets.near(low, high):
                assert not _segment_enters(p, q, rect), f"{name}: segment {p}–{q} crosses box {key}"
            if p[0] == q[0]:
                lines[("v", p[0])].append((low, high, source))
            else:
                lines[("h", p[1])].append((min(p[0], q[0]), max(p[0], q[0]), source))
    for line, stretches in lines.items():
        # A sweep along the line: each stretch against the one reaching furthest so far.
        stretches.sort()
        reach, owner = -1e18, None
        for low, high, source in stretches:
            assert owner in (None, source) or low >= reach - EPSILON, \
                f"edges from {owner} and {source} lie on one line at {line}"
            if high > reach:
                reach, owner = high, source


def _on_border(point, rect, message: str) -> None:
    x, y, w, h = rect
    px, py = point
    on_vertical = abs(px - x) < 0.05 or abs(px - (x + w)) < 0.05
    on_horizontal = abs(py - y) < 0.05 or abs(py - (y + h)) < 0.05
    within = x - 0.05 <= px <= x + w + 0.05 and y - 0.05 <= py <= y + h + 0.05
    assert within and (on_vertical or on_horizontal), f"{message}: {point} vs {rect}"


def _check_frames(picture: Picture, buckets: _Buckets, frame_boxes: dict | None) -> None:
    canvas = (0.0, 0.0, picture.width, picture.height)
    frames = picture.frames
    for key, rect in frames.items():
        assert _inside(rect, canvas), f"frame {key} is off the canvas"
        x, baseline, title = picture.frame_titles[key]
        assert rect[0] <= x and baseline <= rect[1] + rect[3], f"frame {key}'s title {title!r} is outside it"
    for key, rect in frames.items():
        for other, other_rect in frames.items():
            if key < other and _overlap(rect, other_rect):
                assert _inside(rect, other_rect) or _inside(other_rect, rect), f"frames {key} and {other} cross"
    if frame_boxes is None:
        return
    for key, rect in frames.items():
        inside = frame_boxes[key]
        for box in inside:
            assert _inside(picture.boxes[box], rect, margin=1), f"frame {key} does not hold its box {box}"
        for box, box_rect in buckets.near(rect[1], rect[1] + rect[3]):
            if box not in inside:
                assert not _overlap(box_rect, rect), f"frame {key} covers box {box}, which is not in it"
