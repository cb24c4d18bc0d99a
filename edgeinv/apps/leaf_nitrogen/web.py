"""leaf-nitrogen's hooks for the core entity flow (:mod:`edgeinv.common.web.entities`): fields.

A field holds the crop and growth stage, the reference strip's leaf N, the N already applied and
planned, and the nitrogen-to-protein factor. An upload (a spectrometer CSV, one column per leaf) may
name the growth stage now and mark the well-fertilized reference strip (``reference=1``); the result
carries every leaf's estimate, the advice and the measured vs reconstructed spectra
(``spectra.json``). Extra: ``GET /api/crops``.
"""

from __future__ import annotations

import dataclasses
import json
import re

from flask import jsonify, redirect, url_for

from edgeinv.common.analysis import analyse
from edgeinv.common.errors import InvalidInputError, NotFoundError
from edgeinv.common.options import OptionSpec
from edgeinv.common.web.entities import Column, EntityFlow, Stored, measured_at_iso
from edgeinv.common.web.forms import request_payload
from edgeinv.common.web.plot import histogram_svg, line_plot_svg

from .advice import check_crop_stage, crops, n_applied, parse_application
from .analysis import summarise
from .interpret import DISPLAY
from .physics import DEFAULT_N_TO_PROTEIN

PALETTE = ("#0b6e99", "#b35c00", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41", "#546e7a")
_TRUE = ("1", "on", "true", "yes")


def _crop_stage_spec() -> OptionSpec:
    pairs = [(f"{c}/{s}", f"{row['title']} — {st['title']}") for c, row in crops().items()
             for s, st in row["stages"].items()]
    return OptionSpec(name="crop_stage", kind="choice", default=None, required=True, label="Crop and growth stage",
                      choices=tuple(p[0] for p in pairs), labels=tuple(p[1] for p in pairs))


# Physical ranges (issue 11): green crop leaves hold about 0.5-3.5 g N/m2 (a reference strip outside
# 0.2-6 g/m2 is a typing or unit error); seasonal N beyond 600 kg/ha is not applied to any arable crop.
EXTRA = (OptionSpec(name="reference_n_g_m2", kind="number", default=None, low=0.2, high=6.0,
                    unit="g/m²", label="Reference strip leaf N (g/m²)", help="or upload the strip's spectra later"),
         OptionSpec(name="n_applied_kg_ha", kind="number", default=0.0, low=0.0, high=600.0, unit="kg/ha",
                    label="N already applied (kg/ha)"),
         OptionSpec(name="n_opt_kg_ha", kind="number", default=None, low=0.0, high=600.0, unit="kg/ha",
                    label="Planned total N (kg/ha)", help="crop default"),
         OptionSpec(name="field_area_ha", kind="number", default=None, low=0.01, high=10000.0, unit="ha",
                    label="Field area (ha)", help="for the total N to buy"))


def field_settings(form: dict, *, base: dict | None = None, specs=()) -> dict:
    """Validated field settings from a form/JSON dict (``crop_stage`` as ``crop/stage`` or both keys)."""
    data = dict(base or {})
    if form.get("crop_stage"):
        crop, _, stage = str(form["crop_stage"]).partition("/")
    else:
        crop, stage = form.get("crop", data.get("crop")), form.get("stage", data.get("stage"))
    if not crop or not stage or not isinstance(crop, str) or not isinstance(stage, str):  # JSON may send lists
        raise InvalidInputError("choose a crop and growth stage")
    check_crop_stage(crop, stage)
    data.update(crop=crop, stage=stage, crop_stage=f"{crop}/{stage}")
    for spec in specs:
        if spec.name in form:
            data[spec.name] = spec.convert(form.get(spec.name))
    if data.get("n_to_protein") is None:
        data["n_to_protein"] = DEFAULT_N_TO_PROTEIN
    return data


LOCATION = OptionSpec(name="location", kind="text", default=None, label="Location (optional)",
                      help="place, or lat, lon: 52.09, 5.12")
_LATLON = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*[,; ]\s*([-+]?\d+(?:\.\d+)?)\s*$")


def parse_location(raw) -> dict | None:
    """An upload's location: free text, or ``lat, lon`` in decimal degrees (checked: |lat| <= 90, |lon| <= 180).

    Returns ``{"text"}`` or ``{"text", "lat", "lon"}``; None when empty. InvalidInputError for a pair out of range
    or text longer than 200 characters.
    """
    text = LOCATION.convert(raw)
    if text is None:
        return None
    if len(text) > 200:
        raise InvalidInputError(f"location must be at most 200 characters, got {len(text)}")
    m = _LATLON.match(text)
    if not m:
        return {"text": text}
    lat, lon = float(m.group(1)), float(m.group(2))
    if abs(lat) > 90 or abs(lon) > 180:
        raise InvalidInputError(f"location {text!r} reads as lat, lon but is out of range "
                                "(latitude -90..90, longitude -180..180 decimal degrees)")
    return {"text": f"{lat:.6f}, {lon:.6f}", "lat": lat, "lon": lon}


INTRO = ("Measure leaves with a leaf-clip or field spectrometer, upload the spectra for a field, and get each "
         "leaf's nitrogen (from its proteins, PROSPECT-PRO) and a top-dress advice in kg N/ha.")
UPLOAD_HELP = ("CSV with a wavelength column (nm) and one reflectance column per leaf (fraction or %), "
               "400–2500 nm, 500–2400 nm or 400–1000 nm. Columns named leaf_T hold transmittance.")


class FieldFlow(EntityFlow):
    kind, plural, upload_noun, accept = "field", "fields", "spectrometer file", ".csv,.txt,text/csv,text/plain"
    intro, upload_help = INTRO, UPLOAD_HELP
    columns = (Column("mean_n_g_m2", "Mean N", digits=2, unit="g/m²"), Column("headline", "Advice", path="advice.headline"),
               Column("n_leaves", "Leaves"), Column("stage", "Stage", path="field.stage"),
               Column("location", "Location", path="location.text"),
               Column("sufficiency_index", "NSI", path="advice.sufficiency_index", digits=3),
               Column("rate_kg_ha", "Top-dress", path="advice.rate_kg_ha", unit="kg N/ha"),
               Column("status", "Status", path="advice.status"), Column("is_reference", "Reference strip"))
    trend_key = "mean_n_g_m2"
    files = {"spectra.json": "Measured and reconstructed spectra (JSON)", "upload.csv": "The uploaded file"}
    result_template = "leaf_nitrogen/result.html"
    entity_template = "leaf_nitrogen/applications.html"  # the field page's N-application record

    def settings(self) -> list[OptionSpec]:
        factor = next(s for s in super().settings() if s.name == "n_to_protein")
        return [_crop_stage_spec(), *EXTRA, dataclasses.replace(factor, default=DEFAULT_N_TO_PROTEIN)]

    def parse_settings(self, form: dict, base: dict | None = None) -> dict:
        return field_settings(form, base=base, specs=self.settings()[1:])

    def upload_fields(self, entity: dict) -> list[OptionSpec]:
        crop = crops()[entity["data"]["crop"]]
        stages = list(crop["stages"].items())
        return [OptionSpec(name="stage", kind="choice", default=entity["data"]["stage"], required=True,
                           label="Growth stage now", choices=tuple(s for s, _ in stages),
                           labels=tuple(st["title"] for _, st in stages)),
                OptionSpec(name="reference", kind="bool", default=None,
                           label="These leaves are from the well-fertilized reference strip"),
                LOCATION]

    def analyse(self, entity: dict, data, *, filename: str, params: dict, runner_for, source: str = "form") -> Stored:
        settings = dict(entity.get("data") or {})
        if params.get("stage") and settings.get("crop"):
            settings = field_settings({"stage": params["stage"]}, base=settings)
        is_reference = str(params.get("reference", "")).strip().lower() in _TRUE
        location = parse_location(params.get("location"))  # checked before the (slower) analysis
        kg, used, how = n_applied(settings, measured_on=measured_at_iso(params.get("measured_at")))
        analysis = analyse(self.app, data, filename=filename, runner_for=runner_for, given=params, source=source,
                           defaults=settings)
        summary, spectra = summarise(analysis, field={**settings, "n_applied_kg_ha": kg, "is_reference": is_reference})
        summary["field"].update(n_applied_source=how, n_applications=used)
        if summary.get("advice") and settings.get("n_applications"):
            summary["advice"]["assumptions"].append(f"N already applied {kg:g} kg/ha: {how}")
        if location:
            summary["location"] = location
        update = {k: settings[k] for k in ("stage", "crop_stage") if settings.get(k) != entity["data"].get(k)}
        if is_reference and summary["mean_n_g_m2"]:
            update["reference_n_g_m2"] = round(summary["mean_n_g_m2"], 4)
        blobs = {"spectra.json": ("application/json", json.dumps(spectra).encode())}
        if isinstance(data, (bytes, bytearray)):
            blobs["upload.csv"] = ("text/csv", bytes(data))
        return Stored(summary=summary, blobs=blobs, entity_update=update or None)

    def trend_svg(self, entity: dict, rows: list[dict], trend):
        pts = [r for r in rows if r["mean_n_g_m2"] is not None]
        if not pts:
            return None
        series = []
        for label, ref, color in (("field", False, PALETTE[0]), ("reference strip", True, PALETTE[2])):
            sel = [r for r in pts if bool(r["is_reference"]) is ref]
            if sel:
                series.append({"x": [r["measured_at"] for r in sel], "y": [r["mean_n_g_m2"] for r in sel],
                               "label": label, "color": color, "points": True})
        ref_n = entity["data"].get("reference_n_g_m2")
        hlines = []
        if ref_n:
            hlines = [{"y": ref_n, "label": "reference strip", "color": PALETTE[2]},
                      {"y": 0.95 * ref_n, "label": "NSI 0.95", "color": PALETTE[4]}]
        return line_plot_svg(series, xlabel="date measured (UTC)", ylabel="mean leaf N (g/m²)",
                             title="Leaf nitrogen over the season", width=960, height=280, hlines=hlines,
                             xdates=True, nonneg=True)

    def result_context(self, result: dict, store) -> dict:
        try:
            spectra = json.loads(store.get_blob(result["id"], "spectra.json")[1])
        except NotFoundError:
            spectra = {"leaves": []}
        return {"plot": spectra_svg(spectra), "display": DISPLAY, "dist_svg": _distribution_svg(result["summary"])}

    def extra_routes(self, bp, ctx) -> None:
        @bp.get("/api/crops")
        def api_crops():
            return jsonify(crops())

        _application_routes(self, bp, ctx.store)


def applications_doc(entity: dict) -> dict:
    """A field's recorded N applications (by date) and what the next advice counts as applied today."""
    data = entity["data"]
    kg, used, how = n_applied(data)
    return {"entity_id": entity["id"], "applications": sorted(data.get("n_applications") or [], key=lambda a: a["date"]),
            "n_applied_kg_ha": kg, "source": how}


def _application_routes(flow: FieldFlow, bp, store) -> None:
    """``GET|POST /api/entities/<id>/applications``, ``DELETE .../applications/<n>``; HTML forms post to
    ``/entities/<id>/applications`` and ``.../applications/<n>/delete`` and return to the field page."""

    def field(eid: int) -> dict:
        return store.get_entity(eid, app=flow.app.name, kind=flow.kind)

    def add(eid: int, form: dict) -> dict:
        entity = field(eid)
        apps = list(entity["data"].get("n_applications") or [])
        new = parse_application(form, next_id=max((a["id"] for a in apps), default=0) + 1)
        store.update_entity(eid, {**entity["data"], "n_applications": [*apps, new]})
        return new

    def remove(eid: int, aid: int) -> None:
        entity = field(eid)
        apps = list(entity["data"].get("n_applications") or [])
        if not any(a["id"] == aid for a in apps):
            raise NotFoundError(f"no N application {aid} on field {eid}")
        store.update_entity(eid, {**entity["data"], "n_applications": [a for a in apps if a["id"] != aid]})

    @bp.get("/api/entities/<int:eid>/applications")
    def api_applications(eid: int):
        return jsonify(applications_doc(field(eid)))

    @bp.post("/api/entities/<int:eid>/applications")
    def api_add_application(eid: int):
        new = add(eid, request_payload())
        return jsonify({**applications_doc(field(eid)), "added": new}), 201

    @bp.delete("/api/entities/<int:eid>/applications/<int:aid>")
    def api_delete_application(eid: int, aid: int):
        remove(eid, aid)
        return jsonify({**applications_doc(field(eid)), "deleted": {"kind": "application", "id": aid}})

    @bp.post("/entities/<int:eid>/applications")
    def add_application_page(eid: int):
        add(eid, request_payload())
        return redirect(url_for(".entity_page", eid=eid) + "#applications")

    @bp.post("/entities/<int:eid>/applications/<int:aid>/delete")
    def delete_application_page(eid: int, aid: int):
        remove(eid, aid)
        return redirect(url_for(".entity_page", eid=eid) + "#applications")


def spectra_svg(spectra: dict):
    series = []
    for i, leaf in enumerate(spectra.get("leaves", [])):
        color = PALETTE[i % len(PALETTE)]
        series.append({**leaf["measured"], "label": f"{leaf['sample']} measured", "color": color})
        series.append({**leaf["model"], "label": f"{leaf['sample']} PROSPECT-PRO", "color": color, "dash": True})
    return line_plot_svg(series, xlabel="wavelength (nm)", ylabel="reflectance", nonneg=True,
                         title="Measured spectra and the model's reconstruction", width=1000, height=380)


def _distribution_svg(summary: dict):
    values = [leaf.get("nitrogen_g_m2") for leaf in summary.get("leaves", [])]
    if sum(v is not None for v in values) < 3:
        return None
    ref = (summary.get("field") or {}).get("reference_n_g_m2")
    marks = [{"x": ref, "label": "reference strip"}, {"x": 0.95 * ref, "label": "95 %"}] if ref else []
    return histogram_svg([v if v is not None else float("nan") for v in values], xlabel="leaf N (g N/m²)",
                         title=f"{len(values)} leaves", marks=marks, width=720, nonneg=True)

