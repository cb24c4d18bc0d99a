"""Flask UI and JSON API of bearing-wear: machines, recording uploads, results and defect-size history.

HTML (mounted at ``/bearing-wear/``): ``/`` machines and a form to add one; ``/machines/<id>`` the
machine, its upload form and history (trend plot, trend alarm); ``/results/<id>`` one estimate with
the envelope spectrum and the defect-frequency markers.

JSON API: ``GET|POST /api/machines``, ``GET /api/machines/<id>`` (with history and trend),
``POST /api/machines/<id>/recordings`` (multipart field ``file`` or the raw body; query parameters
``fs``, ``rpm``, ``channel``, ``units``, ``filename``, ``measured_at`` ISO time), ``GET /api/results/<id>``,
``GET /api/bearings``. Views stay thin: parse, call the app, render.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from edgeinv.common.errors import InvalidInputError, MissingMetadataError, NotFoundError
from edgeinv.common.web.forms import form_number, request_payload
from edgeinv.common.web.plot import line_plot_svg

from .baseline import severity_table
from .features import defect_lines_hz
from .physics import PRESETS, get_geometry
from .trend import trend_forecast

KIND = "machine"
ALARM_CSS = {"ok": "ok", "watch": "warn", "alert": "warn", "danger": "bad"}


def machine_data(form) -> tuple[str, dict]:
    """Validate a machine form / JSON body -> (name, data)."""
    name = str(form.get("name", "")).strip()
    if not name:
        raise InvalidInputError("a machine needs a name")
    bearing = str(form.get("bearing") or "6205-2rs").strip()
    geometry = get_geometry(bearing)
    data = {"bearing": bearing, "bearing_name": geometry.name}
    for key, lo, hi in (("rpm", 30.0, 30000.0), ("fs_hz", 4000.0, 1e6), ("threshold_mm", 0.05, 10.0)):
        v = form_number(form, key, low=lo, high=hi, required=(key == "rpm"))
        if v is not None:
            data[key] = v
    table = severity_table()
    cls = str(form.get("machine_class") or table["default_class"])
    if cls not in table["classes"]:
        raise InvalidInputError(f"machine_class must be one of {', '.join(table['classes'])}; got {cls!r}")
    data["machine_class"] = cls
    data.setdefault("threshold_mm", float(table["alarm"]["trend_threshold_mm"]))
    return name, data


def _measured_at(raw) -> str:
    if not raw:
        return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    try:
        t = _dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        return t.astimezone(_dt.timezone.utc).isoformat(timespec="seconds")
    except (ValueError, OverflowError):  # OverflowError: a valid time whose UTC falls past year 9999
        raise InvalidInputError(f"measured_at must be an ISO 8601 time, got {raw!r}") from None


def analyse_upload(app, ctx, machine: dict, data: bytes, filename: str, params) -> dict:
    """Read an upload for a machine (its nominal fs/rpm fill what the file lacks), predict, store."""
    md = machine["data"]
    meta = {}
    for key, dest, conv in (("fs", "fs_hz", float), ("rpm", "rpm", float), ("channel", "channel", str), ("units", "units", str)):
        raw = params.get(key)
        if raw not in (None, ""):
            try:
                meta[dest] = conv(raw)
            except ValueError:
                raise InvalidInputError(f"{key} must be a number, got {raw!r}") from None
    measured_at = _measured_at(params.get("measured_at"))
    kwargs = {"filename": filename, "bearing": md.get("bearing"), "machine_class": md.get("machine_class"), **meta}
    for _ in range(3):  # fill in the machine's nominal values for what the file lacks
        try:
            rec = app.read(data, **kwargs)
            break
        except MissingMetadataError as exc:
            key = "fs_hz" if "sampling rate" in exc.message else "rpm"
            if kwargs.get(key) is not None or md.get(key) is None:
                raise
            kwargs[key] = md[key]
    result = app.predict(rec, ctx.runner(app, app.config_for(rec)))
    summary = {**result.to_dict(), "filename": filename, "measured_at": measured_at, "envelope": result.envelope}
    rid = ctx.store.add_result(app.name, machine["id"], summary)
    return {"id": rid, **summary}


def history(ctx, app, machine: dict) -> dict:
    """The machine's results (oldest first) and the defect-size trend."""
    rows = ctx.store.list_results(app.name, machine["id"])
    items = []
    for r in rows:
        s = r["summary"]
        items.append({"id": r["id"], "measured_at": s.get("measured_at", r["created"]), "fault": s.get("fault"),
                      "defect_size_mm": s.get("defect_size_mm"), "interval": s.get("defect_size_interval_mm"),
                      "alarm": s.get("alarm"), "zone": (s.get("severity") or {}).get("zone"),
                      "severity_index": s.get("severity_index"),
                      "filename": s.get("filename", "")})
    items.sort(key=lambda i: i["measured_at"])
    times = [_dt.datetime.fromisoformat(i["measured_at"]) for i in items]
    t0 = times[0] if times else None
    days = np.array([(t - t0).total_seconds() / 86400.0 for t in times])
    sizes = np.array([i["defect_size_mm"] if i["defect_size_mm"] is not None else np.nan for i in items], dtype=float)
    policy = severity_table()["alarm"]
    trend = trend_forecast(days=days, sizes_mm=sizes, threshold_mm=float(machine["data"].get("threshold_mm", policy["trend_threshold_mm"])),
                           horizon_days=float(policy["trend_horizon_days"]))
    return {"results": items, "days": days.tolist(), "start": t0.isoformat() if t0 else None, "trend": trend}


def _envelope_svg(summary: dict):
    env = summary.get("envelope")
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


def _trend_svg(hist: dict, machine: dict):
    if not hist["results"]:
        return None
    sized = [(d, r) for d, r in zip(hist["days"], hist["results"]) if r["defect_size_mm"] is not None]
    indexed = [(d, r) for d, r in zip(hist["days"], hist["results"]) if r.get("severity_index") is not None]
    if not any(r["defect_size_mm"] for _, r in sized) and indexed:  # no size in mm anywhere: trend the damage index
        return line_plot_svg([{"x": [d for d, _ in indexed], "y": [r["severity_index"] for _, r in indexed],
                               "label": "severity index", "points": True}],
                             xlabel="days since first recording", ylabel="severity index (0-10)",
                             title="Severity index over time (sizes not resolvable)")
    series = []
    if sized:
        series.append({"x": [d for d, _ in sized], "y": [r["defect_size_mm"] for _, r in sized], "label": "defect size",
                       "points": True,
                       "y_low": [(r["interval"] or [r["defect_size_mm"]] * 2)[0] for _, r in sized],
                       "y_high": [(r["interval"] or [r["defect_size_mm"]] * 2)[1] for _, r in sized]})
    fit = hist["trend"].get("fit")
    if fit:
        series.append({"x": fit["days"], "y": fit["size_mm"], "label": f"{hist['trend']['model']} fit", "dash": True})
    thr = float(machine["data"].get("threshold_mm", 2.0))
    return line_plot_svg(series, xlabel="days since first recording", ylabel="defect size (mm)",
                         hlines=[{"y": thr, "label": f"alarm {thr:g} mm"}], title="Defect size over time")


def make_blueprint(app, ctx) -> Blueprint:
    bp = Blueprint("bearing_wear", __name__, template_folder="templates")
    store = ctx.store

    def get_machine(mid: int) -> dict:
        return store.get_entity(mid, app=app.name, kind=KIND)

    def get_result(rid: int) -> dict:
        r = store.get_result(rid, app=app.name)
        return r

    # ---- HTML ----------------------------------------------------------------------------------
    @bp.get("/")
    def index():
        machines = store.list_entities(app.name, KIND)
        latest = {m["id"]: (store.list_results(app.name, m["id"]) or [None])[-1] for m in machines}
        return render_template("bearing_wear/index.html", machines=machines, latest=latest, presets=PRESETS,
                               classes=severity_table()["classes"], default_class=severity_table()["default_class"],
                               alarm_css=ALARM_CSS)

    @bp.post("/machines")
    def create_machine():
        name, data = machine_data(request.form)
        mid = store.add_entity(app.name, KIND, name, data)
        return redirect(url_for(".machine_page", mid=mid))

    @bp.get("/machines/<int:mid>")
    def machine_page(mid: int):
        machine = get_machine(mid)
        hist = history(ctx, app, machine)
        return render_template("bearing_wear/machine.html", machine=machine, hist=hist,
                               trend_svg=_trend_svg(hist, machine), alarm_css=ALARM_CSS)

    @bp.post("/machines/<int:mid>/recordings")
    def upload_page(mid: int):
        machine = get_machine(mid)
        data, filename = ctx.read_upload()
        out = analyse_upload(app, ctx, machine, data, filename, request.form)
        return redirect(url_for(".result_page", rid=out["id"]))

    @bp.get("/results/<int:rid>")
    def result_page(rid: int):
        r = get_result(rid)
        machine = get_machine(r["entity_id"]) if r.get("entity_id") else None
        return render_template("bearing_wear/result.html", result=r, s=r["summary"], machine=machine,
                               env_svg=_envelope_svg(r["summary"]), alarm_css=ALARM_CSS)

    # ---- JSON API ------------------------------------------------------------------------------
    @bp.get("/api/bearings")
    def api_bearings():
        return jsonify({"presets": {k: g.to_dict() for k, g in PRESETS.items()},
                        "machine_classes": list(severity_table()["classes"])})

    @bp.get("/api/machines")
    def api_machines():
        return jsonify({"machines": store.list_entities(app.name, KIND)})

    @bp.post("/api/machines")
    def api_create_machine():
        name, data = machine_data(request_payload())
        mid = store.add_entity(app.name, KIND, name, data)
        return jsonify(get_machine(mid)), 201

    @bp.get("/api/machines/<int:mid>")
    def api_machine(mid: int):
        machine = get_machine(mid)
        return jsonify({**machine, "history": history(ctx, app, machine)})

    @bp.post("/api/machines/<int:mid>/recordings")
    def api_upload(mid: int):
        machine = get_machine(mid)
        data, filename = ctx.read_upload()
        params = {**request.args.to_dict(), **request.form.to_dict()}
        out = analyse_upload(app, ctx, machine, data, filename, params)
        out.pop("envelope", None)
        return jsonify(out), 201

    @bp.get("/api/results/<int:rid>")
    def api_result(rid: int):
        r = get_result(rid)
        if r.get("entity_id") is None:
            raise NotFoundError(f"no bearing-wear result {rid}")
        return jsonify({"id": r["id"], "machine_id": r["entity_id"], "created": r["created"], **r["summary"]})

    return bp
