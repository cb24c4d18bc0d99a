"""bearing-wear's hooks for the core entity flow (:mod:`edgeinv.common.web.entities`): machines.

The pages and the API are the core's (``/bearing-wear/entities/<id>``, ``/bearing-wear/api/entities``
...); this module says what a machine is (bearing, nominal speed, sensor rate, ISO class, alarm size),
what its history shows (fault, size, severity, zone, alarm; the defect-size trend with its forecast)
and how a result page plots the envelope spectrum. Extra: ``GET /api/bearings`` (presets, classes).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json

import numpy as np
from flask import jsonify, request
from markupsafe import Markup

from edgeinv.common.errors import NotFoundError
from edgeinv.common.options import OptionSpec
from edgeinv.common.web.entities import Column, EntityFlow, Stored
from edgeinv.common.web.plot import as_days, line_plot_svg, zoom_xlim

from .baseline import severity_table
from .features import defect_lines_hz
from .pageplots import defect_markers, fit_band, velocity_spectrum_plot_data, waveform_plot_data
from .physics import PRESETS, get_geometry
from .trend import trend_forecast

ALARM_CSS = {"ok": "ok", "watch": "warn", "alert": "warn", "danger": "bad"}
THRESHOLD = OptionSpec(name="threshold_mm", kind="number", default=2.0, unit="mm", low=0.05, high=10.0,
                       label="Alarm at spall size (mm)", help="the trend alarm's defect size")


INTRO = ("Upload accelerometer recordings of a motor or pump bearing: the model locates the defect (outer race, "
         "inner race, ball, cage, or none); the spall size in mm is read from the entry/exit delay where the "
         "recording resolves it (else a severity index to trend), and each machine's history is kept.")
UPLOAD_HELP = ("WAV, CSV (one column, or time + value), .npy/.npz, or MATLAB .mat (CWRU layout X097_DE_time + "
               "X097RPM, an MFPT bearing struct, or one signal variable). Speed and rate left empty come from the "
               "file, else from the machine.")


class MachineFlow(EntityFlow):
    kind, plural, upload_noun, accept = "machine", "machines", "recording", ".wav,.flac,.csv,.txt,.npy,.npz,.mat"
    intro, upload_help = INTRO, UPLOAD_HELP
    columns = (Column("fault", "Fault"), Column("defect_size_mm", "Size", digits=2, unit="mm"),
               Column("interval", "Size interval", path="defect_size_interval_mm"),
               Column("severity_index", "Severity index (0–10)", digits=1), Column("zone", "Zone", path="severity.zone"),
               Column("velocity", "Velocity RMS", path="severity.velocity_rms_mm_s", digits=2, unit="mm/s"),
               Column("rms_g", "Acceleration RMS", path="indicators.rms_g", digits=3, unit="g"),
               Column("kurtosis", "Kurtosis", path="indicators.kurtosis", digits=2),
               Column("alarm", "Alarm"))
    latch = ("alarm", ("ok", "watch", "alert", "danger"))
    files = {"envelope.json": "Envelope spectrum (JSON)", "waveform.json": "Raw waveform, reduced (JSON)",
             "velocity.json": "Velocity spectrum, ISO band (JSON)"}
    result_template = "bearing_wear/result.html"

    def settings(self) -> list[OptionSpec]:
        table = severity_table()
        by_name = {s.name: s for s in super().settings()}
        return [dataclasses.replace(by_name["bearing"], kind="text", default="6205-2rs", choices=tuple(PRESETS),
                                    labels=tuple(g.name for g in PRESETS.values())),
                dataclasses.replace(by_name["rpm"], required=True),
                by_name["fs_hz"],
                dataclasses.replace(by_name["machine_class"], default=table["default_class"],
                                    labels=tuple(c["description"] for c in table["classes"].values())),
                THRESHOLD]

    def parse_settings(self, form: dict, base: dict | None = None) -> dict:
        data = super().parse_settings(form, base)
        data["bearing_name"] = get_geometry(str(data["bearing"])).name  # validates presets and custom geometries
        return data

    def upload_fields(self, entity: dict) -> list[OptionSpec]:
        specs = {s.name: s for s in self.app.options_type.specs()}
        md = entity["data"]
        return [dataclasses.replace(specs["rpm"], label="Speed (rpm)", help=f"from the file or {md.get('rpm', 0):.0f}"),
                dataclasses.replace(specs["fs_hz"], label="Sampling rate (Hz)",
                                    help="from the file" + (f" or {md['fs_hz']:.0f}" if md.get("fs_hz") else "")),
                dataclasses.replace(specs["channel"], help="DE")]

    def store_analysis(self, entity: dict, analysis, *, data, params: dict) -> Stored:
        result = analysis.results[0]
        blobs = {}
        if result.envelope:
            blobs["envelope.json"] = ("application/json", json.dumps(result.envelope).encode())
        rec = analysis.samples[0] if analysis.samples else None
        if rec is not None:  # what the technician checks next to the alarm: the waveform, the ISO velocity lines
            blobs["waveform.json"] = ("application/json", json.dumps(waveform_plot_data(rec.signal, fs_hz=rec.fs_hz)).encode())
            blobs["velocity.json"] = ("application/json",
                                      json.dumps(velocity_spectrum_plot_data(rec.signal, fs_hz=rec.fs_hz)).encode())
        return Stored(summary=analysis.to_dict(), blobs=blobs)

    def trend(self, entity: dict, rows: list[dict]) -> dict:
        policy = severity_table()["alarm"]
        days = np.array([r["days"] for r in rows], dtype=float)
        sizes = np.array([r["defect_size_mm"] if r["defect_size_mm"] is not None else np.nan for r in rows], dtype=float)
        trend = trend_forecast(days=days, sizes_mm=sizes,
                               threshold_mm=float(entity["data"].get("threshold_mm", policy["trend_threshold_mm"])),
                               horizon_days=float(policy["trend_horizon_days"]))
        prefix = "Alarm: " if trend["status"] in ("crossed", "predicted") else ""
        css = {"crossed": "bad", "predicted": "warn"}.get(trend["status"], "ok")
        return {**trend, "message": prefix + trend["message"], "css": css}

    def trend_svg(self, entity: dict, rows: list[dict], trend: dict | None):
        if not rows:
            return None
        size = self._size_trend_svg(entity, rows, trend)
        size = Markup(f"{size or ''}{_indicator_trend_svg(rows)}")
        vel = [r for r in rows if r.get("velocity") is not None]
        if not vel:
            return size
        table = severity_table()
        cls = entity["data"].get("machine_class") or table["default_class"]
        limits = table["classes"].get(cls, {}).get("limits_mm_s", [])
        hl = [{"y": v, "label": f"zone {a}/{b}", "color": c} for v, (a, b), c in
              zip(limits, (("A", "B"), ("B", "C"), ("C", "D")), ("#1b7f3b", "#a86400", "#b00020"))]
        velocity = line_plot_svg([{"x": [r["measured_at"] for r in vel], "y": [r["velocity"] for r in vel],
                                   "label": "velocity RMS", "points": True}], xlabel="date measured (UTC)",
                                 ylabel="velocity RMS (mm/s)", xdates=True, nonneg=True, hlines=hl, height=260,
                                 title="Overall vibration over time, with the ISO zone limits of this machine's class")
        return Markup(f"{size or ''}{velocity}")

    def _size_trend_svg(self, entity: dict, rows: list[dict], trend: dict | None):
        sized = [r for r in rows if r["defect_size_mm"] is not None]
        indexed = [r for r in rows if r.get("severity_index") is not None]
        index_svg = ""
        if indexed:  # the damage index trends whether or not a size in mm is resolvable
            index_svg = line_plot_svg([{"x": [r["measured_at"] for r in indexed], "y": [r["severity_index"] for r in indexed],
                                        "label": "severity index", "points": True}],
                                      xlabel="date measured (UTC)", ylabel="severity index (0-10)", xdates=True, nonneg=True,
                                      title="Severity index over time" + ("" if any(r["defect_size_mm"] for r in sized)
                                                                          else " (sizes not resolvable)"))
        if not any(r["defect_size_mm"] for r in sized) and indexed:  # no size in mm anywhere: the index alone
            return index_svg
        series = []
        if sized:
            iv = [r["interval"] or [r["defect_size_mm"]] * 2 for r in sized]
            series.append({"x": [r["measured_at"] for r in sized], "y": [r["defect_size_mm"] for r in sized],
                           "label": "defect size (spall arc, entry/exit delay)", "points": True, "y_low": [i[0] for i in iv], "y_high": [i[1] for i in iv]})
        fit = (trend or {}).get("fit")
        if fit:  # the fit's days count from the first recording: back to calendar dates
            t0 = _dt.datetime.fromisoformat(rows[0]["measured_at"])
            band = fit_band([r["days"] for r in sized], [r["defect_size_mm"] for r in sized], fit["days"],
                            model=trend["model"])
            series.append({"x": [(t0 + _dt.timedelta(days=float(d))).isoformat() for d in fit["days"]],
                           "y": fit["size_mm"], "label": f"{trend['model']} fit" + (" (90 % band)" if band else ""),
                           "dash": True, **({"y_low": band["low"], "y_high": band["high"]} if band else {})})
        thr = float(entity["data"].get("threshold_mm", 2.0))
        markers = []
        left = (trend or {}).get("days_to_threshold")
        if fit and left is not None and trend.get("status") == "predicted":  # the forecast as a calendar date
            t0 = _dt.datetime.fromisoformat(rows[0]["measured_at"])
            when = _dt.datetime.fromisoformat(rows[-1]["measured_at"]) + _dt.timedelta(days=float(left))
            markers = [{"x": (when - t0).total_seconds() / 86400.0 + as_days([t0.isoformat()])[0],
                        "label": f"{thr:g} mm ~{when:%Y-%m-%d}", "color": "#b00020"}]
        return Markup(line_plot_svg(series, xlabel="date measured (UTC)", ylabel="defect size (mm)", xdates=True, nonneg=True,
                                    hlines=[{"y": thr, "label": f"alarm {thr:g} mm"}], markers=markers,
                                    title="Defect size over time" + (f": {thr:g} mm forecast for about {when:%Y-%m-%d}"
                                                                     if markers else ""))) + Markup(index_svg)

    def result_context(self, result: dict, store) -> dict:
        try:
            env = json.loads(store.get_blob(result["id"], "envelope.json")[1])
        except NotFoundError:
            env = None
        out = {"env_svg": _envelope_svg(result["summary"], env, xlim=zoom_xlim(request.args, "env")),
               "env_zoomed": zoom_xlim(request.args, "env") is not None}
        for name in ("waveform", "velocity"):
            try:
                out[name] = json.loads(store.get_blob(result["id"], f"{name}.json")[1])
            except NotFoundError:
                out[name] = None
        out["waveform_svg"] = _waveform_svg(out["waveform"])
        out["velocity_svg"] = _velocity_svg(out["velocity"], result["summary"])
        return out

    def page_context(self) -> dict:
        return {"alarm_css": ALARM_CSS}

    def extra_routes(self, bp, ctx) -> None:
        @bp.get("/api/bearings")
        def api_bearings():
            return jsonify({"presets": {k: g.to_dict() for k, g in PRESETS.items()},
                            "machine_classes": list(severity_table()["classes"])})


INDICATOR_PLOTS = (("rms_g", "acceleration RMS (g)", "Acceleration RMS over time (whole recording)", ()),
                   ("kurtosis", "kurtosis", "Kurtosis over time (3 = no impacts; spalls raise it, then it falls as damage spreads)",
                    ({"y": 3.0, "label": "3 (Gaussian)", "color": "#1b7f3b"},)))


def _indicator_trend_svg(rows: list[dict]) -> str:
    """The time-domain indicators of each recording (RMS, kurtosis) against calendar dates; '' if none stored."""
    out = []
    for key, ylabel, title, hl in INDICATOR_PLOTS:
        pts = [r for r in rows if r.get(key) is not None]
        if pts:
            out.append(line_plot_svg([{"x": [r["measured_at"] for r in pts], "y": [r[key] for r in pts], "label": ylabel,
                                       "points": True}], xlabel="date measured (UTC)", ylabel=ylabel, xdates=True,
                                     nonneg=True, hlines=hl, height=240, title=title))
    return "".join(str(s) for s in out)


MARKER_COLOURS = {"BPFO": "#d55e00", "BPFI": "#7a1fa2", "BSF": "#009e73", "FTF": "#0072b2"}


def _envelope_svg(summary: dict, env: dict | None, xlim=None):
    if not env:
        return None
    shaft = float(env["shaft_hz"])
    freqs = (np.asarray(env["order"]) * shaft).tolist()
    op = summary["operating_point"]
    lines = op.get("defect_frequencies_hz") or defect_lines_hz(geometry=get_geometry(op["geometry"]), rpm=op["rpm"])
    markers = []
    for k, v in lines.items():
        if k == "1x":
            continue
        # 2x and 3x harmonics for every defect line; shaft sidebands around BPFI (an inner race turns
        # through the load zone once per revolution, so its lines are modulated at the shaft rate)
        markers += defect_markers(k, v, shaft_hz=shaft, harmonics=3, sidebands=2 if k == "BPFI" else 0,
                                  color=MARKER_COLOURS.get(k))
    lo, hi = env.get("band_hz", [0, 0])
    return line_plot_svg([{"x": freqs, "y": env["amplitude"], "label": "squared-envelope spectrum"}],
                         xlabel="frequency (Hz)", ylabel="amplitude (g²)", markers=markers, nonneg=True,
                         zoom="env", xlim=xlim, width=960, height=340,
                         title=f"Envelope spectrum, band {lo:.0f}–{hi:.0f} Hz (kurtogram)")


def _waveform_svg(w: dict | None):
    if not w or not w.get("t"):
        return None
    return line_plot_svg([{"x": w["t"], "y": w["y"], "label": ""}], xlabel="time (s)", ylabel="acceleration (g)",
                         title="Raw waveform (min/max per pixel: every impact kept)", width=960, height=240)


def _velocity_svg(v: dict | None, summary: dict):
    if not v or not v.get("f"):
        return None
    sev = summary.get("severity") or {}
    zone = f", ISO zone {sev['zone']}" if sev.get("zone") else ""
    lo, hi = v["band_hz"]
    return line_plot_svg([{"x": v["f"], "y": v["v"], "label": ""}], xlabel="frequency (Hz)",
                         ylabel="velocity (mm/s RMS per line)", nonneg=True, width=960, height=260,
                         title=f"Velocity spectrum {lo:.0f}–{hi:.0f} Hz: {v['rms_mm_s']:.2f} mm/s RMS in total{zone}",
                         markers=[{"x": float(summary["operating_point"]["rpm"]) / 60.0, "label": "1x"}]
                         if summary.get("operating_point", {}).get("rpm") else ())

