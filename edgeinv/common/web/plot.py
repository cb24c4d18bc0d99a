"""Inline SVG plots for the app pages (spectra, trends, class probabilities); no JS, no external assets.

``line_plot_svg`` draws line series with nice tick labels (steps of 1, 2 or 5 times a power of ten,
after Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990), a legend, vertical markers (defect frequencies, absorption bands) and horizontal
reference lines (alarm thresholds), optional shaded bands (uncertainty intervals) and an optional log
y axis. Long series (an envelope spectrum of thousands of bins) are reduced per pixel column to their
first/min/max/last points, so peaks survive and the SVG stays small. NaN and inf split a line; series
without finite points produce an empty frame saying "no data". All text is HTML-escaped; the functions
return :class:`markupsafe.Markup` (a ``str``) so templates can insert it with ``{{ svg }}``.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
from html import escape

import numpy as np
from markupsafe import Markup

PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")  # Okabe & Ito
MAX_LEGEND = 8  # more labelled series than this: a short legend, thinner lines
FONT = "system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_CHAR_W = 6.2  # approximate width of one 11 px character
_CLIP_IDS = itertools.count(1)  # clip-path ids unique within the process (several plots on a page)


def _nice(value: float, *, round_: bool) -> float:
    """Heckbert's nice number: 1, 2, 5 or 10 times a power of ten close to ``value``."""
    exp = math.floor(math.log10(value))
    f = value / 10**exp
    if round_:
        nf = 1 if f < 1.5 else 2 if f < 3 else 5 if f < 7 else 10
    else:
        nf = 1 if f <= 1 else 2 if f <= 2 else 5 if f <= 5 else 10
    return nf * 10**exp


def nice_ticks(lo: float, hi: float, *, n: int = 5, tight: bool = False) -> tuple[float, float, list[float]]:
    """Axis limits and tick positions for data in ``[lo, hi]``.

    ``tight=False`` widens the limits to the outer ticks (y axes); ``tight=True`` keeps the data
    range and only places ticks inside it (x axes).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    step = _nice((hi - lo) / max(n - 1, 1), round_=True)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    if tight:
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    ticks = [k * step for k in range(first, last + 1)]
    if not tight:
        lo, hi = first * step, last * step
    return lo, hi, ticks


def _fmt(v: float, step: float) -> str:
    if v == 0 or abs(v) < step * 1e-6:
        return "0"
    if abs(v) >= 1e5 or step < 1e-4:
        return f"{v:.3g}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{v:.{decimals}f}"


def _fmt_log(v: float) -> str:
    k = math.log10(v)
    if -3 <= k <= 4:
        return f"{v:g}" if v >= 1 else f"{v:.{max(0, -math.floor(k + 1e-9))}f}".rstrip("0").rstrip(".")
    return f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-")


def _text(x, y, s, *, anchor="middle", size=11, fill="#333", weight=None, rotate=None, extra="") -> str:
    attrs = f'x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if rotate is not None:
        attrs += f' transform="rotate({rotate} {x:.1f} {y:.1f})"'
    return f"<text {attrs}{extra}>{escape(str(s))}</text>"


def _as_float(values) -> np.ndarray:
    try:
        return np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        return np.full(len(values), np.nan)


def _decimate(x: np.ndarray, y: np.ndarray, *, x0: float, x1: float, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep first, min, max and last point per pixel column (x must be increasing)."""
    if len(x) <= 3 * columns or not np.all(np.diff(x) >= 0):
        return x, y
    col = np.clip(((x - x0) / (x1 - x0) * columns).astype(int), 0, columns)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    ends = np.r_[starts[1:], len(x)]
    keep = []
    for s, e in zip(starts, ends):
        seg = y[s:e]
        keep += [s, s + int(np.argmin(seg)), s + int(np.argmax(seg)), e - 1]
    idx = np.unique(keep)
    return x[idx], y[idx]


def zoom_xlim(args, name: str) -> tuple[float, float] | None:
    """The x range a zoomable plot was zoomed to: ``?<name>=lo,hi`` in ``args`` (a request's query), or None.

    Anything unreadable (not two finite numbers, ``lo >= hi``) is ignored: the plot shows its full range.
    """
    raw = (args or {}).get(name) if hasattr(args, "get") else None
    if not raw or not isinstance(raw, str) or len(raw) > 64:
        return None
    try:
        lo, hi = (float(v) for v in raw.split(","))
    except ValueError:
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) and lo < hi else None


def _frame_open(width, height, title, zoom_attrs: str = "") -> list[str]:
    label = escape(title or "plot")
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{label}"{zoom_attrs} '
            f'style="max-width:100%;height:auto" font-family="{escape(FONT)}">',
            f"<title>{label}</title>",
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>']


def line_plot_svg(series, *, xlabel: str, ylabel: str, title: str = "", markers=(), width: int = 720,
                  height: int = 300, logy: bool = False, hlines=(), xlim=None, ylim=None,
                  nonneg: bool = False, xdates: bool = False, max_legend: int = MAX_LEGEND,
                  zoom: str | None = None) -> Markup:
    """An inline SVG line plot.

    Parameters
    ----------
    series : list of ``{"x": [...], "y": [...], "label": str}``; optional keys ``color``,
        ``dash`` (bool), ``points`` (bool: draw a dot per point, e.g. a trend of a few results) and
        ``y_low``/``y_high`` (same length as ``y``: a shaded band, e.g. an uncertainty interval).
    xlabel, ylabel : axis titles, with units (``"frequency (Hz)"``).
    title : drawn above the plot and used as the accessible name.
    markers : list of ``{"x": float, "label": str}`` (optional ``color``) drawn as vertical dashed
        lines with their labels staggered so neighbours do not overlap; markers outside the x range
        are left out.
    hlines : list of ``{"y": float, "label": str}`` (optional ``color``): horizontal reference lines.
    logy : logarithmic y axis; values <= 0 are left out.
    xlim, ylim : optional ``(lo, hi)`` overriding the automatic ranges.
    nonneg : the quantity cannot be negative (power, cover, reflectance, a size): the y axis and the
        shaded bands stop at 0. Without it the axis still does not cross 0 when no value is negative.
    xdates : x values are times (ISO strings, ``datetime``, or POSIX seconds): the axis shows calendar
        dates at day/week/month steps.
    max_legend : with more labelled series than this (e.g. many leaves) only the first ones get a legend
        entry (plus "+ N more"), and lines get thinner and translucent so the bundle stays readable.
    zoom : name of a query parameter: the SVG carries its x mapping (``data-zoom``, ``data-x0`` ...) so
        ``static/plotzoom.js`` zooms by dragging across it (reloading with ``?<zoom>=lo,hi``; double-click
        resets); the view passes :func:`zoom_xlim` of the request back as ``xlim``.
    """
    series = list(series or [])
    data = []
    many = sum(1 for s in series if s.get("label")) > max_legend
    for i, s in enumerate(series):
        x = as_days(s.get("x", [])) if xdates else _as_float(s.get("x", []))
        y = _as_float(s.get("y", []))
        n = min(len(x), len(y))
        x, y = x[:n], y[:n]
        lo = _as_float(s["y_low"])[:n] if s.get("y_low") is not None else None
        hi = _as_float(s["y_high"])[:n] if s.get("y_high") is not None else None
        if logy:
            y = np.where(y > 0, y, np.nan)
            lo = None if lo is None else np.where(lo > 0, lo, np.nan)
            hi = None if hi is None else np.where(hi > 0, hi, np.nan)
        elif nonneg:
            lo = None if lo is None else np.maximum(lo, 0.0)
        data.append({"x": x, "y": y, "lo": lo, "hi": hi, "label": str(s.get("label", "") or ""),
                     "color": str(s.get("color") or PALETTE[i % len(PALETTE)]),
                     "dash": bool(s.get("dash")), "points": bool(s.get("points")),
                     "width": 1.0 if many else 1.6, "opacity": 0.65 if many else 1.0})
    hlines = [h for h in (hlines or []) if _finite(h.get("y")) and (not logy or float(h["y"]) > 0)]

    xs = np.concatenate([d["x"][np.isfinite(d["x"]) & np.isfinite(d["y"])] for d in data] or [np.empty(0)])
    ys = np.concatenate([v[np.isfinite(v) & np.isfinite(d["x"])] for d in data
                         for v in (d["y"], d["lo"], d["hi"]) if v is not None] or [np.empty(0)])
    ys = np.concatenate([ys, [float(h["y"]) for h in hlines]])
    empty = xs.size == 0

    # ---- layout ------------------------------------------------------------------------------
    legend = [d for d in data if d["label"]]
    if len(legend) > max_legend:
        more = len(legend) - max_legend
        legend = legend[:max_legend] + [{"label": f"+ {more} more", "color": "#999", "dash": False, "more": True}]
    left, right, bottom = 64, 16, 44
    top = 30 if title else 12
    legend_rows = _legend_rows(legend, width - left - right)
    top += 16 * len(legend_rows)
    pw, ph = max(width - left - right, 10), max(height - top - bottom, 10)

    x0, x1 = (float(np.min(xs)), float(np.max(xs))) if not empty else (0.0, 1.0)
    if xlim is not None:
        x0, x1 = map(float, xlim)
    if xdates:  # as many calendar labels as fit side by side (a date is ~70 px, a date and time ~110 px)
        x0, x1, xticks, xlabels = date_ticks(x0, x1, n=max(2, int(pw // 110)))
        if len(xticks) > 1 and len(xlabels[0]) <= 10 and (pw / len(xticks)) < 72:
            xticks, xlabels = xticks[::2], xlabels[::2]
    else:
        x0, x1, xticks = nice_ticks(x0, x1, tight=not empty or xlim is not None)
        xstep = xticks[1] - xticks[0] if len(xticks) > 1 else (x1 - x0)
        xlabels = [_fmt(t, xstep) for t in xticks]
    if logy:
        y_lo, y_hi = (float(np.min(ys)), float(np.max(ys))) if ys.size else (1.0, 10.0)
        if ylim is not None:
            y_lo, y_hi = (max(float(v), 1e-300) for v in ylim)
        d0, d1 = math.floor(math.log10(y_lo)), math.ceil(math.log10(y_hi))
        if d1 <= d0:
            d1 = d0 + 1
        y0, y1 = float(d0), float(d1)
        mult = (1, 2, 5) if d1 - d0 <= 2 else (1,)
        yticks = [math.log10(m * 10**k) for k in range(d0, d1 + 1) for m in mult if math.log10(m * 10**k) <= d1 + 1e-9]
        ylabels = [_fmt_log(10**t) for t in yticks]
    else:
        y_lo, y_hi = (float(np.min(ys)), float(np.max(ys))) if ys.size else (0.0, 1.0)
        if ylim is not None:
            y_lo, y_hi = map(float, ylim)
        if ylim is None and ys.size:  # head-room so peaks and threshold labels are not on the frame
            span = (y_hi - y_lo) or abs(y_hi) or 1.0
            floor0 = nonneg or y_lo >= 0  # never invent negative values for a quantity that has none
            y_lo, y_hi = (y_lo if y_lo == 0 else y_lo - 0.04 * span), y_hi + 0.06 * span
            if floor0:
                y_lo = max(y_lo, 0.0)
        elif nonneg and not ys.size:
            y_lo = max(y_lo, 0.0)
        y0, y1, yticks = nice_ticks(y_lo, y_hi, tight=ylim is not None)
        ystep = yticks[1] - yticks[0] if len(yticks) > 1 else (y1 - y0)
        ylabels = [_fmt(t, ystep) for t in yticks]

    def px(v):
        return left + (v - x0) / (x1 - x0) * pw

    def py(v):
        v = np.log10(v) if logy else v
        return top + ph - (v - y0) / (y1 - y0) * ph

    zattrs = ""
    if zoom and not xdates:
        zattrs = (f' data-zoom="{escape(zoom)}" data-x0="{x0:.6g}" data-x1="{x1:.6g}" data-left="{left}" '
                  f'data-pw="{pw}" data-top="{top}" data-ph="{ph}"' + (' data-zoomed="1"' if xlim is not None else ""))
    out = _frame_open(width, height, title, zattrs)
    if title:
        out.append(_text(left, 18, title, anchor="start", size=13, fill="#111", weight="600"))
    for r, row in enumerate(legend_rows):
        lx = left
        ly = (30 if title else 12) + 16 * r + 2
        for d in row:
            dash = ' stroke-dasharray="5 3"' if d["dash"] else ""
            if not d.get("more"):
                out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 18}" y2="{ly}" stroke="{escape(d["color"])}" stroke-width="2.5"{dash}/>')
            out.append(_text(lx + 23, ly + 4, d["label"], anchor="start"))
            lx += 32 + _CHAR_W * len(d["label"])
    # grid and ticks
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#bbb"/>')
    for t, lab in zip(yticks, ylabels):
        yy = top + ph - (t - y0) / (y1 - y0) * ph
        out.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + pw}" y2="{yy:.1f}" stroke="#e4e4e4"/>')
        out.append(_text(left - 6, yy + 4, lab, anchor="end"))
    for t, lab in zip(xticks, xlabels):
        xx = px(t)
        out.append(f'<line x1="{xx:.1f}" y1="{top}" x2="{xx:.1f}" y2="{top + ph}" stroke="#e4e4e4"/>')
        out.append(_text(xx, top + ph + 15, lab))
    out.append(_text(left + pw / 2, height - 8, xlabel))
    out.append(_text(14, top + ph / 2, ylabel, rotate=-90))
    clip = f"edgeinv-clip-{next(_CLIP_IDS)}"
    out.append(f'<clipPath id="{clip}"><rect x="{left}" y="{top}" width="{pw}" height="{ph}"/></clipPath>')
    out.append(f'<g clip-path="url(#{clip})">')
    # bands, lines, points
    for d in data:
        if d["lo"] is not None and d["hi"] is not None:
            ok = np.isfinite(d["x"]) & np.isfinite(d["lo"]) & np.isfinite(d["hi"])
            for run in _runs(ok):
                fwd = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(d["x"][run], d["hi"][run]))
                back = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(d["x"][run][::-1], d["lo"][run][::-1]))
                out.append(f'<polygon points="{fwd} {back}" fill="{escape(d["color"])}" fill-opacity="0.18" stroke="none"/>')
    for d in data:
        ok = np.isfinite(d["x"]) & np.isfinite(d["y"])
        color = escape(d["color"])
        dash = ' stroke-dasharray="5 3"' if d["dash"] else ""
        for run in _runs(ok):
            rx, ry = _decimate(d["x"][run], d["y"][run], x0=x0, x1=x1, columns=int(pw))
            if len(rx) == 1 and not d["points"]:
                out.append(f'<circle cx="{px(rx[0]):.1f}" cy="{py(ry[0]):.1f}" r="2.5" fill="{color}"/>')
                continue
            pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(rx, ry))
            fade = f' stroke-opacity="{d["opacity"]:g}"' if d["opacity"] < 1 else ""
            out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="{d["width"]:g}" '
                       f'stroke-linejoin="round"{dash}{fade}/>')
        if d["points"]:
            for a, b in zip(d["x"][ok], d["y"][ok]):
                out.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3" fill="{color}" stroke="#fff"/>')
    for h in hlines:
        color = escape(str(h.get("color") or "#b00020"))
        yy = py(float(h["y"]))
        out.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + pw}" y2="{yy:.1f}" stroke="{color}" '
                   f'stroke-width="1.2" stroke-dasharray="6 3"/>')
    out.append("</g>")
    for h in hlines:
        if h.get("label") and top <= py(float(h["y"])) <= top + ph:
            color = escape(str(h.get("color") or "#b00020"))
            out.append(_text(left + pw - 4, py(float(h["y"])) - 4, h["label"], anchor="end", size=10, fill=color))
    out += _markers(markers, px=px, x0=x0, x1=x1, top=top, ph=ph)
    if empty:
        out.append(_text(left + pw / 2, top + ph / 2, "no data", size=13, fill="#888"))
    out.append("</svg>")
    return Markup("".join(out))


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def as_days(values) -> np.ndarray:
    """Times (ISO strings, ``datetime``/``date``, POSIX seconds) as days since 1970-01-01 UTC; NaN if unreadable."""
    out = []
    for v in list(values):
        try:
            if isinstance(v, str):
                v = _dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
            if isinstance(v, _dt.date) and not isinstance(v, _dt.datetime):
                v = _dt.datetime(v.year, v.month, v.day)
            if isinstance(v, _dt.datetime):
                v = (v if v.tzinfo else v.replace(tzinfo=_dt.timezone.utc)).timestamp()
            out.append(float(v) / 86400.0)
        except (TypeError, ValueError, OverflowError):
            out.append(math.nan)
    return np.asarray(out, dtype=float)


def _day(d: float) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(days=float(d))


_DATE_STEPS_D = (1 / 24, 3 / 24, 6 / 24, 12 / 24, 1, 2, 7, 14)


def date_ticks(d0: float, d1: float, *, n: int = 6) -> tuple[float, float, list[float], list[str]]:
    """Calendar ticks for a time axis in days since 1970 UTC: ``(lo, hi, ticks, labels)``.

    Steps of hours, days, weeks (Mondays), months or years, chosen so that about ``n`` ticks fall in the
    range; labels are ``"2026-05-03"`` (with ``"14:00"`` for steps under a day, ``"2026-05"`` for months).
    One point (or one day) gets a range of a day on each side.
    """
    if not (math.isfinite(d0) and math.isfinite(d1)):
        d0 = d1 = _dt.datetime.now(_dt.timezone.utc).timestamp() / 86400.0
    if d1 < d0:
        d0, d1 = d1, d0
    if d1 - d0 < 1 / 24:
        d0, d1 = math.floor(d0) - 1, math.floor(d0) + 2
    span = d1 - d0
    ticks: list[float]
    step = next((s for s in _DATE_STEPS_D if span / s <= n), None)
    if step is not None:
        if step == 7 or step == 14:  # weeks start on Monday (1970-01-01 was a Thursday: offset 4 days)
            first = math.ceil((d0 - 4) / step - 1e-9) * step + 4
        else:
            first = math.ceil(d0 / step - 1e-9) * step
        ticks = list(np.arange(first, d1 + 1e-9, step))
        fmt = "%Y-%m-%d %H:%M" if step < 1 else "%Y-%m-%d"
        labels = [_day(t).strftime(fmt) for t in ticks]
    else:
        months = next((m for m in (1, 2, 3, 6, 12, 24, 60, 120) if span / (30.44 * m) <= n), 120)
        a, b = _day(d0), _day(d1)
        k = (a.year * 12 + a.month - 1 + (a.day > 1 or a.hour > 0)) // 1
        k = math.ceil(k / months) * months
        ticks, labels = [], []
        while True:
            t = _dt.datetime(k // 12, k % 12 + 1, 1, tzinfo=_dt.timezone.utc)
            if t > b:
                break
            ticks.append((t - _EPOCH).total_seconds() / 86400.0)
            labels.append(t.strftime("%Y" if months >= 12 else "%Y-%m"))
            k += months
    if len(ticks) < 2:  # keep at least the two ends labelled
        ticks, labels = [d0, d1], [_day(d0).strftime("%Y-%m-%d"), _day(d1).strftime("%Y-%m-%d")]
    pad = 0.03 * span
    return d0 - pad, d1 + pad, ticks, labels


def histogram_svg(values, *, xlabel: str, title: str = "", bins: int | None = None, width: int = 480,
                  height: int = 220, marks=(), nonneg: bool = False) -> Markup:
    """A distribution plot: counts of ``values`` in equal bins, with optional vertical ``marks``
    (``{"x", "label"}``: a threshold, the field mean). NaN values are left out and counted in the title."""
    v = _as_float(list(values) if values is not None else [])
    finite = v[np.isfinite(v)]
    skipped = int(v.size - finite.size)
    if finite.size == 0:
        return line_plot_svg([], xlabel=xlabel, ylabel="count", title=title, width=width, height=height)
    nb = int(bins or max(5, min(30, math.ceil(math.sqrt(finite.size)) + 1)))
    lo, hi = float(finite.min()), float(finite.max())
    if hi == lo:
        lo, hi = lo - (abs(lo) * 0.05 or 0.5), hi + (abs(hi) * 0.05 or 0.5)
    if nonneg:
        lo = max(lo, 0.0)
    counts, edges = np.histogram(finite, bins=nb, range=(lo, hi))
    xs, ys = [], []
    for c, a, b in zip(counts, edges[:-1], edges[1:]):
        xs += [a, a, b, b]
        ys += [0, c, c, 0]
    label = title + (f" ({skipped} without a value)" if skipped else "")
    return line_plot_svg([{"x": xs, "y": ys, "label": "", "color": PALETTE[0]}], xlabel=xlabel, ylabel="count",
                         title=label, width=width, height=height, markers=marks, nonneg=True)


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _runs(mask: np.ndarray) -> list[np.ndarray]:
    """Index arrays of consecutive True stretches."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1) + 1
    return np.split(idx, breaks)


def _legend_rows(entries, avail: float) -> list[list[dict]]:
    if not entries:
        return []
    rows, row, w = [], [], 0.0
    for d in entries:
        need = 32 + _CHAR_W * len(d["label"])
        if row and w + need > avail:
            rows.append(row)
            row, w = [], 0.0
        row.append(d)
        w += need
    rows.append(row)
    return rows


def _markers(markers, *, px, x0, x1, top, ph) -> list[str]:
    out = []
    valid = sorted((m for m in (markers or []) if _finite(m.get("x")) and x0 <= float(m["x"]) <= x1),
                   key=lambda m: float(m["x"]))
    row_end = [-1e9, -1e9, -1e9]
    pos = [px(float(m["x"])) for m in valid]
    for i, m in enumerate(valid):
        xx = pos[i]
        color = escape(str(m.get("color") or "#7a1fa2"))
        faint = bool(m.get("faint"))
        out.append(f'<line x1="{xx:.1f}" y1="{top}" x2="{xx:.1f}" y2="{top + ph}" stroke="{color}" '
                   f'stroke-width="1" stroke-dasharray="{"1 3" if faint else "3 3"}" opacity="{0.5 if faint else 0.8}"/>')
        label = str(m.get("label") or "")
        gap = min([abs(xx - p) for j, p in enumerate(pos) if j != i] or [1e9])
        if not label or faint and gap < 22:
            continue  # a sideband is labelled only when the axis is zoomed in enough to read it
        w = _CHAR_W * 0.9 * len(label) + 4
        row = next((r for r, end in enumerate(row_end) if end < xx - 1), None)
        if row is None:
            row = int(np.argmin(row_end))
        row_end[row] = xx + w
        yy = top + 11 + 12 * row
        out.append(f'<rect x="{xx + 1:.1f}" y="{yy - 9:.1f}" width="{w:.1f}" height="11" fill="#fff" opacity="0.75"/>')
        out.append(_text(xx + 3, yy, label, anchor="start", size=10, fill=color))
    return out


def bar_plot_svg(bars, *, ylabel: str = "", title: str = "", width: int = 480, height: int = 240,
                 ymax: float | None = None, value_format: str = "{:.2f}", highlight: str | None = None) -> Markup:
    """An inline SVG bar chart (e.g. class probabilities).

    Parameters
    ----------
    bars : list of ``{"label": str, "value": float}`` (optional ``color``); non-finite values are
        drawn as "n/a".
    ymax : top of the value axis (e.g. 1.0 for probabilities); default from the data.
    highlight : label of the bar to emphasise (e.g. the predicted class).
    """
    bars = list(bars or [])
    values = [float(b["value"]) if _finite(b.get("value")) else math.nan for b in bars]
    finite = [v for v in values if math.isfinite(v)]
    lo = min([0.0, *finite])
    hi = float(ymax) if ymax is not None else max([0.0, *finite]) or 1.0
    y0, y1, yticks = nice_ticks(lo, hi, tight=ymax is not None)
    left, right, bottom = 56, 12, 40
    top = 30 if title else 14
    pw, ph = width - left - right, height - top - bottom
    step = yticks[1] - yticks[0] if len(yticks) > 1 else 1.0

    def py(v):
        return top + ph - (min(max(v, y0), y1) - y0) / (y1 - y0) * ph

    out = _frame_open(width, height, title)
    if title:
        out.append(_text(left, 18, title, anchor="start", size=13, fill="#111", weight="600"))
    for t in yticks:
        out.append(f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + pw}" y2="{py(t):.1f}" stroke="#e4e4e4"/>')
        out.append(_text(left - 6, py(t) + 4, _fmt(t, step), anchor="end"))
    out.append(_text(14, top + ph / 2, ylabel, rotate=-90))
    n = max(len(bars), 1)
    slot = pw / n
    bw = min(slot * 0.7, 80)
    for i, (b, v) in enumerate(zip(bars, values)):
        cx = left + slot * (i + 0.5)
        label = str(b.get("label", ""))
        strong = highlight is not None and label == highlight
        color = escape(str(b.get("color") or (PALETTE[1] if strong else PALETTE[0])))
        if math.isfinite(v):
            ya, yb = sorted((py(0.0 if y0 <= 0 <= y1 else y0), py(v)))
            out.append(f'<rect x="{cx - bw / 2:.1f}" y="{ya:.1f}" width="{bw:.1f}" height="{max(yb - ya, 0.5):.1f}" fill="{color}"/>')
            out.append(_text(cx, ya - 4, value_format.format(v), size=10))
        else:
            out.append(_text(cx, top + ph - 4, "n/a", size=10, fill="#888"))
        max_chars = max(int(slot / _CHAR_W), 3)
        short = label if len(label) <= max_chars else label[: max_chars - 1] + "…"
        out.append(_text(cx, top + ph + 15, short, weight="600" if strong else None))
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#888"/>')
    if not bars:
        out.append(_text(left + pw / 2, top + ph / 2, "no data", size=13, fill="#888"))
    out.append("</svg>")
    return Markup("".join(out))
