"""Offline map views for the app pages: an image footprint with zones and a flight path drawn in the
image's own CRS (no tiles, no network), and the colour scale of a coloured map. Inline SVG, escaped text,
:class:`markupsafe.Markup` like :mod:`.plot` (whose axis and text helpers they share)."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from .plot import _CLIP_IDS, _finite, _frame_open, _nice, _text

__all__ = ["map_svg", "colour_scale_svg"]


def map_svg(*, extent, zones=(), path=(), crs_label: str = "", title: str = "", width: int = 640,
            units: str = "m") -> Markup:
    """An offline map (no tiles) in the image's own CRS: the image footprint, zones and a flight path.

    Parameters
    ----------
    extent : ``(x0, y0, x1, y1)`` of the image in CRS units (north up: y grows upwards).
    zones : ``{"bounds": (x0, y0, x1, y1), "label": str, "flagged": bool}`` rectangles.
    path : ``[(x, y), ...]`` waypoints in the same CRS, drawn as a numbered line (1 = first).
    crs_label : e.g. ``"EPSG:32631"``, written under the map with the scale bar.
    units : CRS units for the axis labels and the scale bar (``m``; ``°`` for geographic CRSs).
    """
    x0, y0, x1, y1 = (float(v) for v in extent)
    pts = [(float(a), float(b)) for a, b in path if _finite(a) and _finite(b)]
    xs = [x0, x1] + [p[0] for p in pts]
    ys = [y0, y1] + [p[1] for p in pts]
    bx0, bx1, by0, by1 = min(xs), max(xs), min(ys), max(ys)
    span = max(bx1 - bx0, by1 - by0) or 1.0
    pad = 0.05 * span
    bx0, bx1, by0, by1 = bx0 - pad, bx1 + pad, by0 - pad, by1 + pad
    left, right, top, bottom = 12, 12, (30 if title else 12), 40
    pw = width - left - right
    scale = pw / (bx1 - bx0)  # px per CRS unit, the same on both axes (no distortion)
    ph = max(60.0, (by1 - by0) * scale)
    if ph > 1.4 * pw:  # very tall: shrink to keep the page usable
        scale *= 1.4 * pw / ph
        ph = 1.4 * pw
    height = int(top + ph + bottom)

    def px(x):
        return left + (x - bx0) * scale

    def py(y):
        return top + ph - (y - by0) * scale

    out = _frame_open(width, height, title)
    if title:
        out.append(_text(left, 18, title, anchor="start", size=13, fill="#111", weight="600"))
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph:.1f}" fill="#f4f6f2" stroke="#bbb"/>')
    out.append(f'<rect x="{px(x0):.1f}" y="{py(y1):.1f}" width="{(x1 - x0) * scale:.1f}" height="{(y1 - y0) * scale:.1f}" '
               f'fill="#e4eddc" stroke="#2e7d32" stroke-width="1.5"><title>image footprint</title></rect>')
    for z in zones or []:
        b = z.get("bounds")
        if not b or not all(_finite(v) for v in b):
            continue
        a0, b0, a1, b1 = (float(v) for v in b)
        flagged = bool(z.get("flagged"))
        fill, op = ("#b00020", 0.35) if flagged else ("#2e7d32", 0.08)
        label = escape(str(z.get("label") or ""))
        out.append(f'<rect x="{px(a0):.1f}" y="{py(b1):.1f}" width="{(a1 - a0) * scale:.1f}" height="{(b1 - b0) * scale:.1f}" '
                   f'fill="{fill}" fill-opacity="{op}" stroke="{fill}" stroke-width="{1 if flagged else 0.4}">'
                   f'<title>{label}</title></rect>')
    if pts:
        line = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in pts)
        out.append(f'<polyline points="{line}" fill="none" stroke="#0b6e99" stroke-width="1.8"/>')
        for i, (a, b) in enumerate(pts):
            r = 4 if i in (0, len(pts) - 1) else 2.5
            out.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="{r}" fill="#0b6e99" stroke="#fff"/>')
        out.append(_text(px(pts[0][0]) + 6, py(pts[0][1]) - 6, "1", anchor="start", size=10, fill="#0b6e99"))
        if len(pts) > 1:
            out.append(_text(px(pts[-1][0]) + 6, py(pts[-1][1]) - 6, str(len(pts)), anchor="start", size=10,
                             fill="#0b6e99"))
    # north arrow and a scale bar of a nice length (about a fifth of the width)
    nx, ny = left + pw - 16, top + 8
    out.append(f'<path d="M{nx},{ny} l6,16 l-6,-4 l-6,4 z" fill="#333"/>')
    out.append(_text(nx, ny + 28, "N", size=10))
    bar = _nice((bx1 - bx0) / 5, round_=True)
    bpx = bar * scale
    sy = top + ph + 16
    out.append(f'<line x1="{left}" y1="{sy}" x2="{left + bpx:.1f}" y2="{sy}" stroke="#333" stroke-width="3"/>')
    blabel = f"{bar:g} {units}" if units != "m" or bar < 1000 else f"{bar / 1000:g} km"
    out.append(_text(left + bpx + 6, sy + 4, blabel, anchor="start", size=10))
    out.append(_text(left + pw, sy + 4, crs_label, anchor="end", size=10, fill="#666"))
    out.append("</svg>")
    return Markup("".join(out))


def colour_scale_svg(stops, colours, *, label: str, ticks=None, tick_format: str = "{:.0%}", width: int = 320) -> Markup:
    """A horizontal colour bar with numbered ticks (the legend of a coloured map).

    ``stops``: values 0..1 along the bar; ``colours``: ``(r, g, b)`` per stop (the map's own ramp);
    ``ticks``: values to label (default: the stops), written with ``tick_format``.
    """
    stops = [float(v) for v in stops]
    lo, hi = min(stops), max(stops)
    gid = f"edgeinv-ramp-{next(_CLIP_IDS)}"
    height, left, right, bar_h = 46, 10, 24, 14
    pw = width - left - right
    out = _frame_open(width, height, label)
    out.append(f'<defs><linearGradient id="{gid}" x1="0" x2="1" y1="0" y2="0">')
    for v, (r, g, b) in zip(stops, colours):
        out.append(f'<stop offset="{(v - lo) / ((hi - lo) or 1):.4f}" stop-color="rgb({int(r)},{int(g)},{int(b)})"/>')
    out.append("</linearGradient></defs>")
    out.append(_text(left, 12, label, anchor="start", size=11, fill="#333"))
    out.append(f'<rect x="{left}" y="16" width="{pw}" height="{bar_h}" fill="url(#{gid})" stroke="#999"/>')
    for t in (stops if ticks is None else ticks):
        x = left + (float(t) - lo) / ((hi - lo) or 1) * pw
        out.append(f'<line x1="{x:.1f}" y1="{16 + bar_h}" x2="{x:.1f}" y2="{20 + bar_h}" stroke="#333"/>')
        out.append(_text(x, 42, tick_format.format(float(t)), size=10))
    out.append("</svg>")
    return Markup("".join(out))
