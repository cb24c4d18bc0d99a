"""Flask UI and JSON API of leaf-nitrogen: fields, spectrometer uploads, results, advice, history.

Pages (under ``/leaf-nitrogen/``): ``/`` fields and a form for a new one; ``/fields/<id>`` the
field's settings, upload form and history (trend of mean leaf N); ``/results/<id>`` the measured
spectra with the model's reconstructed spectra, per-leaf estimates and the advice card.
API (JSON): ``GET|POST /api/fields``, ``GET|POST /api/fields/<id>`` (read / update settings),
``POST /api/fields/<id>/spectra`` (multipart ``file`` or raw body; ``?reference=1`` marks the
well-fertilized reference strip), ``GET /api/fields/<id>/history``, ``GET /api/results/<id>``,
``GET /api/crops``. Views are thin: parse, call :mod:`analysis`/:mod:`advice`, render.
"""

from __future__ import annotations

import datetime as _dt
import json

from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from edgeinv.common.errors import InvalidInputError, NotFoundError
from edgeinv.common.web.forms import form_number, request_payload
from edgeinv.common.web.plot import line_plot_svg

from .advice import check_crop_stage, crops
from .analysis import analyse
from .interpret import DISPLAY
from .physics import DEFAULT_N_TO_PROTEIN

KIND = "field"
PALETTE = ("#0b6e99", "#b35c00", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41", "#546e7a")


def field_settings(form: dict, *, base: dict | None = None) -> dict:
    """Validated field settings from a form/JSON dict (``crop_stage`` as ``crop/stage`` or both keys)."""
    data = dict(base or {})
    if form.get("crop_stage"):
        crop, _, stage = str(form["crop_stage"]).partition("/")
    else:
        crop, stage = form.get("crop", data.get("crop")), form.get("stage", data.get("stage"))
    if not crop or not stage or not isinstance(crop, str) or not isinstance(stage, str):  # JSON may send lists
        raise InvalidInputError("choose a crop and growth stage")
    check_crop_stage(crop, stage)
    data.update(crop=crop, stage=stage)
    for key, positive in (("reference_n_g_m2", True), ("n_applied_kg_ha", False), ("n_opt_kg_ha", False),
                          ("n_to_protein", True)):
        if key in form:
            data[key] = form_number(form, key, low=0.0, low_exclusive=positive)
    data.setdefault("n_to_protein", DEFAULT_N_TO_PROTEIN)
    if data.get("n_to_protein") is None:
        data["n_to_protein"] = DEFAULT_N_TO_PROTEIN
    return data


def _days(created: str, first: str) -> float:
    a, b = _dt.datetime.fromisoformat(created), _dt.datetime.fromisoformat(first)
    return round((a - b).total_seconds() / 86400.0, 3)


def history(store, app_name: str, field_id: int) -> list[dict]:
    rows = []
    for r in store.list_results(app_name, field_id):
        s, adv = r["summary"], r["summary"].get("advice", {})
        rows.append({"id": r["id"], "created": r["created"], "mean_n_g_m2": s.get("mean_n_g_m2"),
                     "n_leaves": s.get("n_leaves"), "stage": s.get("field", {}).get("stage"),
                     "is_reference": s.get("is_reference", False), "status": adv.get("status"),
                     "rate_kg_ha": adv.get("rate_kg_ha"), "sufficiency_index": adv.get("sufficiency_index"),
                     "headline": adv.get("headline")})
    return rows


def trend_svg(rows: list[dict], *, reference_n_g_m2: float | None = None):
    pts = [r for r in rows if r["mean_n_g_m2"] is not None]
    if not pts:
        return None
    first = pts[0]["created"]
    series = []
    for label, ref, color in (("field", False, PALETTE[0]), ("reference strip", True, PALETTE[2])):
        sel = [r for r in pts if bool(r["is_reference"]) is ref]
        if sel:
            series.append({"x": [_days(r["created"], first) for r in sel], "y": [r["mean_n_g_m2"] for r in sel],
                           "label": label, "color": color, "points": True})
    hlines = []
    if reference_n_g_m2:
        hlines = [{"y": reference_n_g_m2, "label": "reference strip", "color": PALETTE[2]},
                  {"y": 0.95 * reference_n_g_m2, "label": "NSI 0.95", "color": PALETTE[4]}]
    return line_plot_svg(series, xlabel="days since first measurement", ylabel="mean leaf N (g/m²)",
                         title="Leaf nitrogen over the season", width=960, height=280, hlines=hlines)


def spectra_svg(spectra: dict):
    series = []
    for i, leaf in enumerate(spectra.get("leaves", [])):
        color = PALETTE[i % len(PALETTE)]
        series.append({**leaf["measured"], "label": f"{leaf['sample']} measured", "color": color})
        series.append({**leaf["model"], "label": f"{leaf['sample']} PROSPECT-PRO", "color": color, "dash": True})
    return line_plot_svg(series, xlabel="wavelength (nm)", ylabel="reflectance",
                         title="Measured spectra and the model's reconstruction", width=1000, height=380)


def make_blueprint(app, ctx) -> Blueprint:
    bp = Blueprint("leaf_nitrogen", __name__, template_folder="templates")
    store = ctx.store

    def get_field(field_id: int) -> dict:
        return store.get_entity(field_id, app=app.name, kind=KIND)

    def get_result(result_id: int) -> dict:
        return store.get_result(result_id, app=app.name)

    def upload(field_id: int, *, is_reference: bool, stage: str | None = None) -> int:
        field = get_field(field_id)
        data, filename = ctx.read_upload()
        settings = dict(field["data"])
        if stage:
            settings = field_settings({"stage": stage}, base=settings)
        leaves = app.read_many(data, filename=filename)
        summary, spectra = analyse(app, leaves, lambda config: ctx.runner(app, config),
                                   field={**settings, "is_reference": is_reference})
        summary["filename"] = filename
        blobs = {"spectra.json": ("application/json", json.dumps(spectra).encode()),
                 "upload.csv": ("text/csv", data)}
        rid = store.add_result(app.name, field_id, summary, blobs)
        if is_reference and summary["mean_n_g_m2"]:
            settings = {**settings, "reference_n_g_m2": round(summary["mean_n_g_m2"], 4), "reference_result": rid}
        if settings != field["data"]:  # a new stage or reference only once the upload is stored: a rejected
            store.update_entity(field_id, settings)  # file leaves the field as it was
        return rid

    def crop_choices():
        return [{"crop": c, "title": row["title"],
                 "stages": [{"value": f"{c}/{s}", "title": st["title"]} for s, st in row["stages"].items()]}
                for c, row in crops().items()]

    # ---- HTML ----------------------------------------------------------------------------
    @bp.get("/")
    def index():
        fields = []
        for f in store.list_entities(app.name, KIND):
            rows = history(store, app.name, f["id"])
            fields.append({**f, "last": rows[-1] if rows else None})
        return render_template("leaf_nitrogen/index.html", fields=fields, crops=crop_choices(),
                               default_factor=DEFAULT_N_TO_PROTEIN)

    @bp.post("/fields")
    def create_field():
        form = request_payload()
        name = (form.get("name") or "").strip()
        if not name:
            raise InvalidInputError("give the field a name")
        fid = store.add_entity(app.name, KIND, name, field_settings(form))
        return redirect(url_for(".field_page", field_id=fid))

    @bp.get("/fields/<int:field_id>")
    def field_page(field_id: int):
        field = get_field(field_id)
        rows = history(store, app.name, field_id)
        crop = crops()[field["data"]["crop"]]
        stages = [{"value": s, "title": st["title"]} for s, st in crop["stages"].items()]
        return render_template("leaf_nitrogen/field.html", field=field, crop=crop, stages=stages, rows=rows,
                               trend=trend_svg(rows, reference_n_g_m2=field["data"].get("reference_n_g_m2")),
                               crops=crop_choices())

    @bp.post("/fields/<int:field_id>")
    def update_field(field_id: int):
        field = get_field(field_id)
        store.update_entity(field_id, field_settings(request_payload(), base=field["data"]))
        return redirect(url_for(".field_page", field_id=field_id))

    @bp.post("/fields/<int:field_id>/upload")
    def upload_page(field_id: int):
        rid = upload(field_id, is_reference=request.form.get("reference") in ("1", "on", "true"),
                     stage=request.form.get("stage") or None)
        return redirect(url_for(".result_page", result_id=rid))

    @bp.get("/results/<int:result_id>")
    def result_page(result_id: int):
        result = get_result(result_id)
        field = get_field(result["entity_id"]) if result.get("entity_id") else None
        try:
            spectra = json.loads(store.get_blob(result_id, "spectra.json")[1])
        except NotFoundError:
            spectra = {"leaves": []}
        return render_template("leaf_nitrogen/result.html", result=result, s=result["summary"], field=field,
                               plot=spectra_svg(spectra), display=DISPLAY)

    # ---- JSON API ----------------------------------------------------------------------------
    @bp.get("/api/crops")
    def api_crops():
        return jsonify(crops())

    @bp.get("/api/fields")
    def api_fields():
        return jsonify(store.list_entities(app.name, KIND))

    @bp.post("/api/fields")
    def api_create_field():
        body = request_payload()
        name = str(body.get("name") or "").strip()
        if not name:
            raise InvalidInputError("'name' is required")
        fid = store.add_entity(app.name, KIND, name, field_settings(body))
        return jsonify(get_field(fid)), 201

    @bp.get("/api/fields/<int:field_id>")
    def api_field(field_id: int):
        return jsonify({**get_field(field_id), "history": history(store, app.name, field_id)})

    @bp.post("/api/fields/<int:field_id>")
    def api_update_field(field_id: int):
        field = get_field(field_id)
        return jsonify(store.update_entity(field_id, field_settings(request_payload(), base=field["data"])))

    @bp.post("/api/fields/<int:field_id>/spectra")
    def api_upload(field_id: int):
        rid = upload(field_id, is_reference=request.args.get("reference") in ("1", "true", "yes"),
                     stage=request.args.get("stage") or None)
        return jsonify(get_result(rid)), 201

    @bp.get("/api/fields/<int:field_id>/history")
    def api_history(field_id: int):
        get_field(field_id)
        return jsonify(history(store, app.name, field_id))

    @bp.get("/api/results/<int:result_id>")
    def api_result(result_id: int):
        return jsonify(get_result(result_id))

    return bp
