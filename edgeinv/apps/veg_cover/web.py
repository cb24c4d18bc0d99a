"""Flask UI and JSON API of veg-cover: flights, image uploads, cover overlay, flagged zones, mission downloads.

Pages (under ``/veg-cover/``): ``/`` flights and a form for a new one; ``/flights/<id>`` the upload
form, the flight's history (trend of mean cover) and its images; ``/results/<id>`` the cover overlay
with flagged zones, statistics, the zone table and download links (cover GeoTIFF, QGroundControl
plan, GeoJSON). Files: ``/results/<id>/files/<name>``.
API (JSON): ``GET|POST /api/flights``, ``GET /api/flights/<id>`` (with history),
``POST /api/flights/<id>/images`` (multipart ``file`` or raw body with ``?filename=``; ``?bands=``),
``GET /api/results/<id>``, ``GET /api/results/<id>/files/<name>``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for

from edgeinv.common.errors import InvalidInputError, NotFoundError
from edgeinv.common.web.forms import form_number, request_payload
from edgeinv.common.web.plot import line_plot_svg

from .cameras import CAMERAS
from .service import MIME, analyse_upload

KIND = "flight"


def flight_settings(form: dict) -> dict:
    """Validated flight settings from a form or JSON body."""
    data = {}
    for key in ("camera", "survey_camera"):
        v = (form.get(key) or "").strip() if isinstance(form.get(key), str) else form.get(key)
        if v:
            if not isinstance(v, str) or v not in CAMERAS:  # JSON may send a list or a number
                raise InvalidInputError(f"{key} must be one of {', '.join(CAMERAS)}, got {v!r}")
            data[key] = v
    for key, lo, hi in (("zone_m", 0.1, 1000.0), ("target_gsd_cm", 0.05, 100.0), ("low_cover", 0.0, 1.0)):
        v = form_number(form, key, low=lo, high=hi)
        if v is not None:
            data[key] = v
    if form.get("bands"):
        data["bands"] = str(form["bands"]).strip()
    return data


def history(store, app_name: str, flight_id: int) -> list[dict]:
    rows = []
    for i, r in enumerate(store.list_results(app_name, flight_id), start=1):
        s = r["summary"]
        rows.append({"id": r["id"], "n": i, "created": r["created"], "filename": s.get("filename"),
                     "fvc_mean": s.get("fvc_mean"), "pixels": s.get("pixels"), "n_zones": s.get("n_zones"),
                     "n_flagged": s.get("n_flagged"), "config": s.get("config"),
                     "georeferenced": s.get("georeferenced"), "files": sorted(r.get("blobs", {}))})
    return rows


def trend_svg(rows: list[dict]):
    pts = [r for r in rows if r["fvc_mean"] is not None]
    if not pts:
        return None
    series = [{"x": [r["n"] for r in pts], "y": [r["fvc_mean"] for r in pts], "label": "mean cover",
               "points": True}]
    return line_plot_svg(series, xlabel="image number in this flight", ylabel="mean vegetation cover (0-1)",
                         title="Mean cover per image", height=240)


def make_blueprint(app, ctx) -> Blueprint:
    bp = Blueprint("veg_cover", __name__, template_folder="templates")
    store = ctx.store

    def get_flight(flight_id: int) -> dict:
        return store.get_entity(flight_id, app=app.name, kind=KIND)

    def get_result(result_id: int) -> dict:
        return store.get_result(result_id, app=app.name)

    def create(form: dict) -> int:
        name = str(form.get("name") or "").strip()
        if not name:
            raise InvalidInputError("give the flight a name")
        return store.add_entity(app.name, KIND, name, flight_settings(form))

    def upload(flight_id: int, bands: str | None) -> int:
        flight = get_flight(flight_id)
        data, filename = ctx.read_upload()
        summary, blobs = analyse_upload(app, data, filename, lambda config: ctx.runner(app, config),
                                        flight=flight["data"], bands=bands or None)
        return store.add_result(app.name, flight_id, summary, blobs)

    def file_response(result_id: int, name: str, *, inline: bool):
        get_result(result_id)
        if name not in MIME:
            raise NotFoundError(f"no file {name!r}; files are {', '.join(MIME)}")
        mime, data = store.get_blob(result_id, name)
        disp = "inline" if inline else "attachment"
        return Response(data, mimetype=mime,
                        headers={"Content-Disposition": f'{disp}; filename="result-{result_id}-{name}"'})

    def urls(result: dict) -> dict:
        return {name: url_for(".result_file", result_id=result["id"], name=name) for name in result.get("blobs", {})}

    # ---- HTML ----------------------------------------------------------------------------
    @bp.get("/")
    def index():
        flights = []
        for f in store.list_entities(app.name, KIND):
            rows = history(store, app.name, f["id"])
            flights.append({**f, "n_images": len(rows), "last": rows[-1] if rows else None})
        return render_template("veg_cover/index.html", flights=flights, cameras=CAMERAS)

    @bp.post("/flights")
    def create_flight():
        return redirect(url_for(".flight_page", flight_id=create(request_payload())))

    @bp.get("/flights/<int:flight_id>")
    def flight_page(flight_id: int):
        flight = get_flight(flight_id)
        rows = history(store, app.name, flight_id)
        return render_template("veg_cover/flight.html", flight=flight, rows=rows, trend=trend_svg(rows),
                               cameras=CAMERAS)

    @bp.post("/flights/<int:flight_id>/upload")
    def upload_page(flight_id: int):
        rid = upload(flight_id, request.form.get("bands"))
        return redirect(url_for(".result_page", result_id=rid))

    @bp.get("/results/<int:result_id>")
    def result_page(result_id: int):
        result = get_result(result_id)
        flight = get_flight(result["entity_id"]) if result.get("entity_id") else None
        s = result["summary"]
        return render_template("veg_cover/result.html", result=result, s=s, flight=flight, files=urls(result),
                               flagged=[z for z in s.get("zones", []) if z.get("flags")])

    @bp.get("/results/<int:result_id>/files/<name>")
    def result_file(result_id: int, name: str):
        return file_response(result_id, name, inline=name.endswith(".png"))

    # ---- JSON API ----------------------------------------------------------------------------
    @bp.get("/api/flights")
    def api_flights():
        return jsonify(store.list_entities(app.name, KIND))

    @bp.post("/api/flights")
    def api_create_flight():
        return jsonify(get_flight(create(request_payload()))), 201

    @bp.get("/api/flights/<int:flight_id>")
    def api_flight(flight_id: int):
        return jsonify({**get_flight(flight_id), "history": history(store, app.name, flight_id)})

    @bp.post("/api/flights/<int:flight_id>/images")
    def api_upload(flight_id: int):
        rid = upload(flight_id, request.args.get("bands"))
        result = get_result(rid)
        return jsonify({**result, "files": urls(result)}), 201

    @bp.get("/api/results/<int:result_id>")
    def api_result(result_id: int):
        result = get_result(result_id)
        return jsonify({**result, "files": urls(result)})

    @bp.get("/api/results/<int:result_id>/files/<name>")
    def api_result_file(result_id: int, name: str):
        return file_response(result_id, name, inline=False)

    return bp
