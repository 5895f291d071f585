"""The SVG text of a laid-out diagram: what ``layerspec plot`` writes.

:func:`render_svg` draws what :func:`layerspec.plot_layout.layout` placed,
as standalone SVG 1.1 that a browser, an image viewer or a Markdown page
shows at 100 %: presentation attributes only (no style sheet, no script),
monospaced text whose width the layout measured, colours by layer family
from :data:`layerspec.diagram.FAMILY_COLOURS`. Layers are drawn back to
front: frames, edges, edge labels, boxes. Every box, edge and frame has an
``id`` (``n3``, ``e-n2-n3`` from box ``n2`` to ``n3``, ``f0``) and a
``<title>`` that a browser shows as a tooltip. The same diagram and layout
always give the same text.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from .diagram import FAMILY_COLOURS, TEXT_COLOUR, Diagram
from .plot_layout import (BOX_PAD_X, FONT_FAMILY, FONT_SIZE, FRAME_FONT_SIZE, LABEL_HEIGHT, LINE_HEIGHT,
                          SMALL_FONT_SIZE, TAG_HEIGHT, TITLE_FONT_SIZE, BoxPlace, EdgeRoute, FramePlace,
                          Layout, layout as make_layout, tag_width)

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
EDGE_COLOUR = "#64748b"
LABEL_TEXT_COLOUR = "#334155"
FRAME_COLOUR = "#94a3b8"
FRAME_TEXT_COLOUR = "#475569"
#: Tag pills: (fill, text colour).
TAG_COLOURS = {"input": ("#475569", "#ffffff"), "output": ("#111827", "#ffffff"), "shared": ("#b45309", "#ffffff")}
ARROW_ID = "arrow"
#: A text baseline sits this far below the top of its line (ascent of the
#: monospaced fonts, about 0.76 em, rounded).
BASELINE = 0.78


def render_svg(diagram: Diagram, layout: Layout | None = None) -> str:
    """The SVG document of ``diagram`` as ``layout`` places it (laid out
    top to bottom when no layout is given)."""
    if layout is None:
        layout = make_layout(diagram)
    boxes = {box.id: box for box in diagram.boxes}
    parts = [_header(layout)]
    parts.append('<g class="frames" fill="#64748b" fill-opacity="0.05" stroke="%s" stroke-width="1" '
                 'stroke-dasharray="6 4">' % FRAME_COLOUR)
    parts += [_frame(frame) for frame in layout.frames]
    parts.append("</g>")
    parts.append('<g class="edges" fill="none" stroke="%s" stroke-width="1.4" stroke-linejoin="round">' % EDGE_COLOUR)
    parts += [_edge(edge, boxes) for edge in layout.edges]
    parts.append("</g>")
    parts.append('<g class="labels" font-size="%d" fill="%s" text-anchor="middle">'
                 % (SMALL_FONT_SIZE, LABEL_TEXT_COLOUR))
    parts += [_label(edge) for edge in layout.edges if edge.label_box is not None]
    parts.append("</g>")
    parts.append('<g class="boxes" font-size="%d" fill="%s">' % (FONT_SIZE, TEXT_COLOUR))
    parts += [_box(place, boxes[place.id]) for place in layout.boxes]
    parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _num(value: float) -> str:
    """A coordinate as short as it is exact to 0.01: ``12``, ``12.5``."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text(value: str) -> str:
    return escape(value)


def _attr(value: str) -> str:
    return quoteattr(value)


def _header(layout: Layout) -> str:
    width, height = _num(layout.width), _num(layout.height)
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="{SVG_NAMESPACE}" version="1.1" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family={_attr(FONT_FAMILY)}>',
        f"<title>{_text(layout.title)}</title>",
        "<desc>Drawn by layerspec plot.</desc>",
        "<defs>",
        f'<marker id="{ARROW_ID}" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" '
        f'markerWidth="9" markerHeight="9" orient="auto">',
        f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{EDGE_COLOUR}"/>',
        "</marker>",
        "</defs>",
        f'<rect class="background" x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text class="title" x="{_num(layout.title_x)}" y="{_num(layout.title_y + BASELINE * TITLE_FONT_SIZE)}" '
        f'font-size="{TITLE_FONT_SIZE}" font-weight="bold" fill="{TEXT_COLOUR}">{_text(layout.title)}</text>',
    ])


def _frame(frame: FramePlace) -> str:
    baseline = frame.title_y + BASELINE * FRAME_FONT_SIZE
    return (f'<g class="frame" id="{frame.id}"><title>{_text(frame.title)}</title>'
            f'<rect class="frame" x="{_num(frame.x)}" y="{_num(frame.y)}" width="{_num(frame.width)}" '
            f'height="{_num(frame.height)}" rx="8"/>'
            f'<text x="{_num(frame.title_x)}" y="{_num(baseline)}" font-size="{FRAME_FONT_SIZE}" '
            f'fill="{FRAME_TEXT_COLOUR}" fill-opacity="1" stroke="none">{_text(frame.title)}</text></g>')


def _edge(edge: EdgeRoute, boxes: dict) -> str:
    path = " ".join(f"{'M' if k == 0 else 'L'} {_num(x)} {_num(y)}" for k, (x, y) in enumerate(edge.points))
    tip = f"{boxes[edge.source].name} → {boxes[edge.target].name}: {edge.label}"
    return (f'<g class="edge" id="e-{edge.source}-{edge.target}"><title>{_text(tip)}</title>'
            f'<path class="edge" d="{path}" marker-end="url(#{ARROW_ID})"/></g>')


def _label(edge: EdgeRoute) -> str:
    x, y, width, height = edge.label_box
    baseline = y + (LABEL_HEIGHT - SMALL_FONT_SIZE) / 2 + BASELINE * SMALL_FONT_SIZE
    return (f'<g class="label"><rect class="label" x="{_num(x)}" y="{_num(y)}" width="{_num(width)}" '
            f'height="{_num(height)}" rx="3" fill="#ffffff" fill-opacity="0.92"/>'
            f'<text x="{_num(x + width / 2)}" y="{_num(baseline)}">{_text(edge.label)}</text></g>')


def _box(place: BoxPlace, box) -> str:
    fill, stroke = FAMILY_COLOURS.get(place.family, FAMILY_COLOURS["other"])
    tip = " · ".join(line for line in [box.name] + place.lines[1:])
    outline = {"input": ('rx="16"', "1.6"), "output": ('rx="6"', "2.6"), "layer": ('rx="6"', "1.2")}
    corner, stroke_width = outline[place.shape]
    parts = [f'<g class="box {place.family}" id="{place.id}"><title>{_text(tip)}</title>',
             f'<rect class="box" x="{_num(place.x)}" y="{_num(place.y)}" width="{_num(place.width)}" '
             f'height="{_num(place.height)}" {corner} fill="{fill}" stroke="{stroke}" '
             f'stroke-width="{stroke_width}"/>']
    if place.shape == "output":   # a second, inner outline: a model output stands out
        parts.append(f'<rect class="box-inner" x="{_num(place.x + 3.5)}" y="{_num(place.y + 3.5)}" '
                     f'width="{_num(place.width - 7)}" height="{_num(place.height - 7)}" rx="4" fill="none" '
                     f'stroke="{stroke}" stroke-width="0.8"/>')
    top = place.y + (place.height - LINE_HEIGHT * len(place.lines)) / 2
    for number, line in enumerate(place.lines):
        baseline = top + number * LINE_HEIGHT + (LINE_HEIGHT - FONT_SIZE) / 2 + BASELINE * FONT_SIZE
        weight = ' font-weight="bold"' if number == 0 else ""
        parts.append(f'<text x="{_num(place.x + BOX_PAD_X)}" y="{_num(baseline)}"{weight}>{_text(line)}</text>')
    parts += _tags(place, top)
    parts.append("</g>")
    return "".join(parts)


def _tags(place: BoxPlace, top: float) -> list[str]:
    """The tags on the first line, right-aligned, the last rightmost."""
    parts, right = [], place.x + place.width - 6
    y = top + (LINE_HEIGHT - TAG_HEIGHT) / 2
    for tag in reversed(place.tags):
        width = tag_width(tag)
        right -= width
        fill, colour = TAG_COLOURS["shared" if tag.startswith("×") else tag]
        baseline = y + (TAG_HEIGHT - SMALL_FONT_SIZE) / 2 + BASELINE * SMALL_FONT_SIZE
        parts.append(f'<rect class="tag" x="{_num(right)}" y="{_num(y)}" width="{_num(width)}" '
                     f'height="{TAG_HEIGHT}" rx="7" fill="{fill}"/>'
                     f'<text x="{_num(right + width / 2)}" y="{_num(baseline)}" font-size="{SMALL_FONT_SIZE}" '
                     f'text-anchor="middle" fill="{colour}">{_text(tag)}</text>')
        right -= 6
    return parts
