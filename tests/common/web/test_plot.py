"""Inline SVG plots: nice ticks, escaping, markers, NaN gaps, decimation that keeps peaks, log axes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from edgeinv.common.web.plot import bar_plot_svg, line_plot_svg, nice_ticks

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))  # well-formed XML or this raises


def texts(root) -> list[str]:
    return [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize("lo, hi, ticks, limits", [
    (0.0, 9.3, [0, 2, 4, 6, 8, 10], (0, 10)),
    (0.013, 0.087, [0.0, 0.02, 0.04, 0.06, 0.08, 0.1], (0.0, 0.1)),
    (12.0, 17.5, [12, 13, 14, 15, 16, 17, 18], (12, 18)),
    (-3.0, 3.0, [-4, -2, 0, 2, 4], (-4, 4)),
])
def test_nice_ticks_loose(lo, hi, ticks, limits):
    a, b, t = nice_ticks(lo, hi)
    np.testing.assert_allclose(t, ticks, atol=1e-12)
    np.testing.assert_allclose((a, b), limits, atol=1e-12)


def test_nice_ticks_tight_and_degenerate():
    a, b, t = nice_ticks(400.0, 2500.0, tight=True)
    assert (a, b) == (400.0, 2500.0)
    assert t == [500.0, 1000.0, 1500.0, 2000.0, 2500.0]
    a, b, t = nice_ticks(5.0, 5.0)
    assert a < 5.0 < b and len(t) >= 2
    assert nice_ticks(float("nan"), 1.0)[:2] == (0.0, 1.0)


def test_line_plot_structure_labels_and_escaping():
    f = np.linspace(0, 500, 501)
    svg = line_plot_svg([{"x": f, "y": np.exp(-f / 100), "label": "envelope <b>&</b>"}],
                        xlabel="frequency (Hz)", ylabel="amplitude (g)", title="Pump <3>",
                        markers=[{"x": 107.4, "label": "BPFO"}, {"x": 162.2, "label": "BPFI"},
                                 {"x": 9999.0, "label": "outside"}],
                        hlines=[{"y": 0.5, "label": "alarm"}])
    assert str(svg).startswith("<svg") and "<script" not in svg and "<b>" not in svg
    root = parse(svg)
    labels = texts(root)
    assert "envelope <b>&</b>" in labels and "Pump <3>" in labels  # escaped in the markup, intact as text
    assert {"frequency (Hz)", "amplitude (g)", "BPFO", "BPFI", "alarm"} <= set(labels)
    assert "outside" not in labels  # markers beyond the x range are left out
    assert {"0", "100", "200", "300", "400", "500"} <= set(labels)  # x tick labels
    assert root.get("aria-label") == "Pump <3>"
    dashed = [e for e in root.iter("{http://www.w3.org/2000/svg}line") if e.get("stroke-dasharray") == "3 3"]
    assert len(dashed) == 2  # one vertical line per marker in range
    xs = {float(e.get("x1")) for e in dashed}
    assert all(e.get("x1") == e.get("x2") for e in dashed) and len(xs) == 2


def test_nan_splits_line_and_empty_data_says_so():
    svg = line_plot_svg([{"x": [0, 1, 2, 3, 4, 5], "y": [1, 2, np.nan, 3, np.inf, 4], "label": "y"}],
                        xlabel="t", ylabel="v")
    root = parse(svg)
    polylines = list(root.iter("{http://www.w3.org/2000/svg}polyline"))
    assert len(polylines) == 1  # points 0-1; NaN at 2 and inf at 4 are gaps
    assert len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == 2  # points 3 and 5 stand alone as dots
    assert "no data" not in texts(root)
    for series in ([], [{"x": [], "y": [], "label": "e"}], [{"x": [1, 2], "y": [np.nan, np.nan]}]):
        root = parse(line_plot_svg(series, xlabel="t", ylabel="v"))
        assert "no data" in texts(root)


def test_long_series_is_decimated_but_keeps_the_peak():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1000, 100_000)
    y = rng.uniform(0, 0.1, x.size)
    y[61_234] = 5.0  # one sharp line, like a defect frequency in an envelope spectrum
    svg = line_plot_svg([{"x": x, "y": y, "label": "s"}], xlabel="f", ylabel="a", width=600, height=300)
    root = parse(svg)
    (poly,) = list(root.iter("{http://www.w3.org/2000/svg}polyline"))
    pts = np.array([[float(v) for v in p.split(",")] for p in poly.get("points").split()])
    assert len(pts) < 4 * 600  # at most first/min/max/last per pixel column
    top = pts[np.argmin(pts[:, 1])]  # smallest SVG y = largest value
    x_px = 64 + (x[61_234] - 0) / 1000 * (600 - 64 - 16)
    assert abs(top[0] - x_px) < 1.0
    assert len(str(svg)) < 120_000


def test_log_axis_and_nonpositive_values():
    x = np.arange(1, 6)
    svg = line_plot_svg([{"x": x, "y": [1e-3, 1e-2, 0.0, 1e-1, 1.0]}], xlabel="x", ylabel="y", logy=True)
    labels = texts(parse(svg))
    assert {"0.001", "0.01", "0.1", "1"} <= set(labels)
    assert len(list(parse(svg).iter("{http://www.w3.org/2000/svg}polyline"))) == 2  # 0 cannot be drawn


def test_band_points_and_hline():
    t = np.arange(5.0)
    svg = line_plot_svg([{"x": t, "y": t, "y_low": t - 0.5, "y_high": t + 0.5, "label": "size", "points": True}],
                        xlabel="day", ylabel="mm", hlines=[{"y": 6.0, "label": "alarm 6 mm"}])
    root = parse(svg)
    assert len(list(root.iter("{http://www.w3.org/2000/svg}polygon"))) == 1
    assert len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == 5
    assert "alarm 6 mm" in texts(root)  # the threshold is inside the y range even above the data
    ticks = [float(s) for s in texts(root) if s and re.fullmatch(r"-?[\d.]+", s)]
    assert max(ticks) >= 6.0


def test_bar_plot():
    svg = bar_plot_svg([{"label": "none", "value": 0.1}, {"label": "outer_race", "value": 0.85},
                        {"label": "<ball>", "value": float("nan")}], ylabel="probability", ymax=1.0,
                       highlight="outer_race", title="Fault")
    root = parse(svg)
    rects = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") not in ("#fff",)]
    assert len(rects) == 2  # n/a bar is not drawn
    heights = sorted(float(r.get("height")) for r in rects)
    assert heights[1] / heights[0] == pytest.approx(8.5, rel=0.02)
    assert {"0.85", "0.10", "n/a", "<ball>", "1.0"} <= set(texts(root))
    assert "no data" in texts(parse(bar_plot_svg([], ylabel="p")))


# ---- issue 11: non-negative axes, calendar dates, harmonics/sidebands, many series, distribution ----
def _ytick_values(svg) -> list[float]:
    root = parse(svg)
    vals = []
    for t in root.iter("{http://www.w3.org/2000/svg}text"):
        if t.get("text-anchor") == "end" and t.text and re.fullmatch(r"-?[0-9.e+-]+", t.text):
            vals.append(float(t.text))
    return vals


def test_non_negative_quantities_get_no_negative_axis():
    f = np.linspace(0, 500, 400)
    env = 0.001 + 0.1 * np.exp(-((f - 160) / 3) ** 2)  # an envelope spectrum: power, never negative
    ticks = _ytick_values(line_plot_svg([{"x": f, "y": env}], xlabel="f (Hz)", ylabel="g²"))
    assert ticks and min(ticks) == 0.0
    refl = [{"x": [400, 500, 600], "y": [0.05, 0.5, 0.3], "y_low": [-0.2, 0.4, 0.2], "y_high": [0.3, 0.6, 0.4]}]
    assert min(_ytick_values(line_plot_svg(refl, xlabel="nm", ylabel="reflectance", nonneg=True))) == 0.0
    # a signed quantity keeps its negative side
    assert min(_ytick_values(line_plot_svg([{"x": [0, 1], "y": [-0.3, 0.5]}], xlabel="t", ylabel="g"))) < 0


def test_trend_axis_shows_calendar_dates():
    when = ["2026-05-01T08:00:00", "2026-05-09T09:30:00", "2026-05-20T07:15:00+00:00"]
    root = parse(line_plot_svg([{"x": when, "y": [1.0, 1.2, 1.4], "points": True}], xlabel="date",
                               ylabel="mm", xdates=True))
    labels = [t for t in texts(root) if t and t.startswith("2026-05")]
    assert len(labels) >= 2 and all(re.fullmatch(r"2026-05-\d\d", t) for t in labels)
    assert not any(t and "e-0" in t for t in texts(root))
    # a year of monthly points: month labels; a single point: still dated
    year = [f"2026-{m:02d}-15" for m in range(1, 13)]
    months = [t for t in texts(parse(line_plot_svg([{"x": year, "y": list(range(12))}], xlabel="d", ylabel="v",
                                                   xdates=True))) if t and re.fullmatch(r"2026-\d\d", t)]
    assert len(months) >= 3
    one = texts(parse(line_plot_svg([{"x": ["2026-05-01T12:00"], "y": [2.0]}], xlabel="d", ylabel="v", xdates=True)))
    assert any(t and t.startswith("2026-0") for t in one)


def test_harmonic_and_sideband_markers():
    from edgeinv.apps.bearing_wear.pageplots import defect_markers
    m = defect_markers("BPFI", 162.2, shaft_hz=29.95, harmonics=3, sidebands=1)
    xs = sorted(round(d["x"], 2) for d in m)
    assert [d["label"] for d in m if not d.get("faint")] == ["BPFI", "2×BPFI", "3×BPFI"]
    assert round(162.2 - 29.95, 2) in xs and round(2 * 162.2 + 29.95, 2) in xs and len(m) == 9
    f = np.linspace(0, 600, 600)
    root = parse(line_plot_svg([{"x": f, "y": np.ones_like(f)}], xlabel="f", ylabel="a", markers=m, width=900))
    assert {"BPFI", "2×BPFI", "3×BPFI"} <= set(texts(root))
    assert defect_markers("BPFO", float("nan")) == []


def test_many_series_stay_legible():
    wl = np.arange(400, 2500, 10)
    series = [{"x": wl, "y": 0.3 + 0.001 * i + 0 * wl, "label": f"leaf {i}"} for i in range(40)]
    root = parse(line_plot_svg(series, xlabel="nm", ylabel="reflectance"))
    t = texts(root)
    assert "+ 32 more" in t and "leaf 39" not in t and "leaf 0" in t
    lines = list(root.iter("{http://www.w3.org/2000/svg}polyline"))
    assert len(lines) == 40 and all(float(p.get("stroke-width")) <= 1.0 and p.get("stroke-opacity") for p in lines)


def test_distribution_plot():
    from edgeinv.common.web.plot import histogram_svg
    rng = np.random.default_rng(0)
    v = np.r_[rng.normal(2.0, 0.2, 200), np.nan]
    root = parse(histogram_svg(v, xlabel="leaf N (g/m²)", title="leaf N", marks=[{"x": 1.9, "label": "threshold"}]))
    t = texts(root)
    assert "count" in t and "threshold" in t and any("1 without a value" in (s or "") for s in t)
    assert min(_ytick_values(histogram_svg(v, xlabel="x"))) == 0.0
    assert "no data" in texts(parse(histogram_svg([np.nan], xlabel="x")))


def test_zoomable_plot_carries_its_x_mapping_and_reads_the_zoom_back():
    from edgeinv.common.web.plot import zoom_xlim
    f = np.linspace(0, 500, 501)
    root = parse(line_plot_svg([{"x": f, "y": f}], xlabel="f", ylabel="a", zoom="env"))
    assert root.get("data-zoom") == "env" and float(root.get("data-x1")) == 500.0 and root.get("data-zoomed") is None
    assert zoom_xlim({"env": "100,250.5"}, "env") == (100.0, 250.5)
    for bad in ("250,100", "a,b", "1,2,3", "nan,4", "", None):
        assert zoom_xlim({"env": bad}, "env") is None
    zoomed = parse(line_plot_svg([{"x": f, "y": 0 * f + 1}], xlabel="f", ylabel="a", zoom="env", xlim=(100, 250)))
    assert zoomed.get("data-zoomed") == "1" and float(zoomed.get("data-x0")) == 100.0
    assert "100" in texts(zoomed) and "400" not in texts(zoomed)


def test_offline_map_in_the_image_crs():
    from edgeinv.common.web.mapplot import map_svg
    extent = (680000.0, 5761980.0, 680020.0, 5762000.0)  # 20 m x 20 m
    zones = [{"bounds": (680000, 5761990, 680010, 5762000), "label": "zone 0: low cover", "flagged": True},
             {"bounds": (680010, 5761990, 680020, 5762000), "label": "zone 1", "flagged": False}]
    path = [(680002.0, 5761992.0), (680008.0, 5761992.0), (680008.0, 5761998.0)]
    root = parse(map_svg(extent=extent, zones=zones, path=path, crs_label="EPSG:32631", title="Map <x>"))
    t = texts(root)
    assert "EPSG:32631" in t and "N" in t and "1" in t and "3" in t and any(s and s.endswith(" m") for s in t)
    rects = list(root.iter("{http://www.w3.org/2000/svg}rect"))
    zone_rects = [r for r in rects if r.find("{http://www.w3.org/2000/svg}title") is not None]
    assert len(zone_rects) == 3  # footprint + 2 zones
    w = [float(r.get("width")) for r in zone_rects]
    h = [float(r.get("height")) for r in zone_rects]
    assert w[0] == pytest.approx(h[0]) and w[1] == pytest.approx(w[0] / 2)  # equal scale on both axes
    line = root.find(".//{http://www.w3.org/2000/svg}polyline")
    assert len(line.get("points").split()) == 3


def test_colour_scale_has_numbers():
    from edgeinv.common.web.mapplot import colour_scale_svg
    root = parse(colour_scale_svg([0, 0.5, 1], [(140, 100, 60), (180, 200, 60), (20, 110, 30)],
                                  label="vegetation cover", ticks=[0, 0.25, 0.5, 0.75, 1]))
    assert texts(root) == ["vegetation cover", "0%", "25%", "50%", "75%", "100%"]
    assert len(list(root.iter("{http://www.w3.org/2000/svg}stop"))) == 3
