"""bearing-wear's hooks for the core entity flow (:mod:`edgeinv.common.web.entities`): machines.

The pages and the API are the core's (``/bearing-wear/entities/<id>``, ``/bearing-wear/api/entities``
...); this module says what a machine is (bearing, nominal speed, sensor rate, ISO class, alarm size),
what its history shows (fault, size, severity, zone, alarm; the defect-size trend with its forecast)
and how a result page plots the envelope spectrum. Extra: ``GET /api/bearings`` (presets, classes).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
from flask import jsonify

from edgeinv.common.errors import NotFoundError
from edgeinv.common.options import OptionSpec
from edgeinv.common.web.entities import Column, EntityFlow, Stored
from edgeinv.common.web.plot import line_plot_svg

from .baseline import severity_table
from .features import defect_lines_hz
from .physics import PRESETS, get_geometry
from .trend import trend_forecast

ALARM_CSS = {"ok": "ok", "watch": "warn", "alert": "warn", "danger": "bad"}
THRESHOLD = OptionSpec(name="threshold_mm", kind="number", default=2.0, unit="mm", low=0.05, high=10.0,
                       label="Alarm at spall size (mm)", help="the trend alarm's defect size")


class MachineFlow(EntityFlow):
    kind, plural = "machine", "machines"
    intro = ("Upload accelerometer recordings of a motor or pump bearing: the model locates the defect (outer race, "
             "inner race, ball, cage, or none), estimates the spall size in mm and keeps each machine's history.")
    upload_noun = "recording"
    accept = ".wav,.flac,.csv,.txt,.npy,.npz,.mat"
    upload_help = ("WAV, CSV (one column, or time + value), .npy/.npz, or MATLAB .mat in the CWRU layout "
                   "(X097_DE_time, X097RPM). Speed and rate left empty come from the file, else from the machine.")
    columns = (Column("fault", "Fault"), Column("defect_size_mm", "Size", digits=2, unit="mm"),
               Column("interval", "90 % interval", path="defect_size_interval_mm"),
               Column("severity_index", "Severity index (0–10)", digits=1), Column("zone", "Zone", path="severity.zone"),
               Column("alarm", "Alarm"))
    files = {"envelope.json": "Envelope spectrum (JSON)"}
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
        sized = [r for r in rows if r["defect_size_mm"] is not None]
        indexed = [r for r in rows if r.get("severity_index") is not None]
        if not any(r["defect_size_mm"] for r in sized) and indexed:  # no size in mm anywhere: trend the damage index
            return line_plot_svg([{"x": [r["days"] for r in indexed], "y": [r["severity_index"] for r in indexed],
                                   "label": "severity index", "points": True}],
                                 xlabel="days since first recording", ylabel="severity index (0-10)",
                                 title="Severity index over time (sizes not resolvable)")
        series = []
        if sized:
            iv = [r["interval"] or [r["defect_size_mm"]] * 2 for r in sized]
            series.append({"x": [r["days"] for r in sized], "y": [r["defect_size_mm"] for r in sized],
                           "label": "defect size", "points": True, "y_low": [i[0] for i in iv], "y_high": [i[1] for i in iv]})
        fit = (trend or {}).get("fit")
        if fit:
            series.append({"x": fit["days"], "y": fit["size_mm"], "label": f"{trend['model']} fit", "dash": True})
        thr = float(entity["data"].get("threshold_mm", 2.0))
        return line_plot_svg(series, xlabel="days since first recording", ylabel="defect size (mm)",
                             hlines=[{"y": thr, "label": f"alarm {thr:g} mm"}], title="Defect size over time")

    def result_context(self, result: dict, store) -> dict:
        try:
            env = json.loads(store.get_blob(result["id"], "envelope.json")[1])
        except NotFoundError:
            env = None
        return {"env_svg": _envelope_svg(result["summary"], env)}

    def page_context(self) -> dict:
        return {"alarm_css": ALARM_CSS}

    def extra_routes(self, bp, ctx) -> None:
        @bp.get("/api/bearings")
        def api_bearings():
            return jsonify({"presets": {k: g.to_dict() for k, g in PRESETS.items()},
                            "machine_classes": list(severity_table()["classes"])})


def _envelope_svg(summary: dict, env: dict | None):
    if not env:
        return None
    shaft = float(env["shaft_hz"])
    freqs = (np.asarray(env["order"]) * shaft).tolist()
    op = summary["operating_point"]
    lines = op.get("defect_frequencies_hz") or defect_lines_hz(geometry=get_geometry(op["geometry"]), rpm=op["rpm"])
    markers = [{"x": v, "label": k} for k, v in lines.items() if k != "1x"]
    lo, hi = env.get("band_hz", [0, 0])
    return line_plot_svg([{"x": freqs, "y": env["amplitude"], "label": "squared-envelope spectrum"}],
                         xlabel="frequency (Hz)", ylabel="amplitude (g²)", markers=markers,
                         title=f"Envelope spectrum, band {lo:.0f}–{hi:.0f} Hz (kurtogram)")

