"""One entity flow for every app: create, edit, delete, upload, result, history, trend, CSV — HTML and JSON.

An *entity* is what a user manages and uploads files for: bearing-wear's machine, leaf-nitrogen's field,
veg-cover's flight. Every app gets the same pages and API from :func:`entity_blueprint`, mounted at
``/<app>/``; the app supplies an :class:`EntityFlow` (its noun, settings schema with physical ranges,
how a file becomes a stored result, which summary fields and plots to show).

URL scheme (the same for every app; ``<app>`` is ``bearing-wear``, ``leaf-nitrogen`` or ``veg-cover``)::

    GET  /<app>/                                   entities + a form for a new one          (HTML)
    POST /<app>/entities                           create -> 302 to its page
    GET  /<app>/entities/<id>                      settings, upload form, history, trend
    POST /<app>/entities/<id>                      edit settings
    POST /<app>/entities/<id>/delete               delete it with its results
    POST /<app>/entities/<id>/uploads              analyse a file -> 302 to the result
    GET  /<app>/results/<id>                       one result: the app's summary and plots
    POST /<app>/results/<id>/delete                delete one result
    GET  /<app>/results/<id>/files/<name>          a stored file (overlay, GeoTIFF, mission ...)

    GET    /<app>/api/schema                       the entity noun, settings and upload fields with ranges
    GET    /<app>/api/entities                     {"entities": [entity, ...]}
    POST   /<app>/api/entities                     JSON or form -> 201 entity
    GET    /<app>/api/entities/<id>                entity + "history" rows + "trend"
    POST|PATCH /<app>/api/entities/<id>            edit settings (and name) -> entity
    DELETE /<app>/api/entities/<id>                -> {"deleted": {"kind", "id"}}
    POST   /<app>/api/entities/<id>/uploads        file (multipart ``file`` or raw body + ?filename=) -> 201 result
    GET    /<app>/api/entities/<id>/history[.csv]  {"entity_id", "columns", "rows", "trend"} or CSV
    GET    /<app>/api/results/<id>                 result
    DELETE /<app>/api/results/<id>                 -> {"deleted": {"kind": "result", "id"}}
    GET    /<app>/api/results/<id>/files/<name>    a stored file (attachment)

JSON shapes: an *entity* is ``{"id", "app", "kind", "name", "created", "updated", "settings"}``; a
*result* is ``{"id", "app", "entity": {"id", "kind", "name"}, "created", "measured_at", "filename",
"summary", "files": {name: url}}`` where ``summary`` holds the app's result (``to_dict()``) with
``parameters`` (value and source — file, entity default, form — of every operating parameter).
Upload parameters come as form fields or query parameters; ``measured_at`` (ISO 8601) dates a
recording taken earlier. Every upload goes through :func:`edgeinv.common.analysis.analyse`, the call
the CLI's ``predict`` and the MQTT ingester make too.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
from dataclasses import dataclass, field

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for

from ..analysis import analyse
from ..errors import InvalidInputError, NotFoundError
from ..options import OptionSpec
from .forms import request_payload
from .latch import ACK_KEY, latched_alarm
from .plot import line_plot_svg


@dataclass(frozen=True)
class Column:
    """One history column: ``path`` is a dotted path into the result summary (default: ``key``)."""

    key: str
    label: str
    path: str = ""
    digits: int | None = None
    unit: str = ""

    def value(self, summary: dict):
        cur = summary
        for part in (self.path or self.key).split("."):
            if not isinstance(cur, dict):
                return None
            cur = cur.get(part)
        return cur


@dataclass
class Stored:
    """What an app's :meth:`EntityFlow.analyse` gives the store: the summary, files, and settings to update."""

    summary: dict
    blobs: dict = field(default_factory=dict)
    entity_update: dict | None = None


UPLOAD_KEYS = {"filename", "measured_at", "csrf_token"}  # taken by every upload besides the app's options


def measured_at_iso(raw) -> str:
    """An ISO 8601 time in UTC (seconds); now if ``raw`` is empty. InvalidInputError otherwise."""
    if raw in (None, ""):
        return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    try:
        t = _dt.datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        return t.astimezone(_dt.timezone.utc).isoformat(timespec="seconds")
    except (ValueError, OverflowError):  # OverflowError: a valid time whose UTC falls past year 9999
        raise InvalidInputError(f"measured_at must be an ISO 8601 time, got {raw!r}") from None


class EntityFlow:
    """What an app supplies to the entity flow (subclass it in ``apps/<app>/web.py``).

    Class attributes: ``kind`` (store kind and noun, ``machine``), ``plural``, ``intro`` (one line under
    the title), ``upload_noun`` (``recording``), ``accept`` (file input's accept list), ``upload_help``,
    ``columns`` (history columns), ``trend_key``/``trend_label`` (the column plotted over time),
    ``files`` (stored files offered for download: name -> label), ``result_template`` (the app's result
    body, a template extending ``entities/result.html``).
    """

    kind = "item"
    plural = "items"
    intro = ""
    upload_noun = "file"
    accept = ""
    upload_help = ""
    columns: tuple[Column, ...] = ()
    trend_key: str | None = None
    trend_label = ""
    files: dict[str, str] = {}
    result_template = "entities/result.html"
    #: an app section on the entity page (e.g. leaf-nitrogen's N applications), included above the history
    entity_template: str | None = None
    #: ``(history column, levels from best to worst)``: that column's alarm stays raised until acknowledged
    latch: tuple[str, tuple[str, ...]] | None = None

    def __init__(self, app):
        self.app = app

    # ---- schema --------------------------------------------------------------------------------
    def settings(self) -> list[OptionSpec]:
        """The entity's settings (form fields, with ranges): by default the options marked ``setting``."""
        return [s for s in self.app.options_type.specs() if s.setting]

    def upload_fields(self, entity: dict) -> list[OptionSpec]:
        """Fields of the upload form besides the file (per-upload parameters). Default: none."""
        return []

    def schema(self) -> dict:
        return {"app": self.app.name, "kind": self.kind, "plural": self.plural,
                "settings": [s.to_dict() for s in self.settings()],
                "options": [s.to_dict() for s in self.app.options_type.specs()],
                "history_columns": [{"key": c.key, "label": c.label, "unit": c.unit} for c in self.columns],
                "files": dict(self.files)}

    def parse_settings(self, form: dict, base: dict | None = None) -> dict:
        """Validated settings from a form or JSON body (missing fields keep ``base``'s values)."""
        data = dict(base or {})
        for spec in self.settings():
            if spec.name in form:
                v = spec.convert(form.get(spec.name))
                if v is not None:
                    data[spec.name] = v
                elif spec.default is not None:  # emptied: back to the default
                    data[spec.name] = spec.default
                else:
                    data.pop(spec.name, None)
            elif spec.default is not None:
                data.setdefault(spec.name, spec.default)
            if spec.required and data.get(spec.name) is None:
                raise InvalidInputError(f"{spec.name} is required ({spec.rule()})")
        return data

    # ---- analysis --------------------------------------------------------------------------------
    def analyse(self, entity: dict, data, *, filename: str, params: dict, runner_for, source: str = "form") -> Stored:
        """One file for ``entity`` -> what to store. Default: :func:`analyse` with the entity's settings as
        defaults; the summary is the result (or ``{"results": [...]}``) with ``parameters``."""
        analysis = analyse(self.app, data, filename=filename, runner_for=runner_for, given=params, source=source,
                           defaults=entity.get("data") or {})
        return self.store_analysis(entity, analysis, data=data, params=params)

    def store_analysis(self, entity: dict, analysis, *, data, params: dict) -> Stored:
        """The stored form of an analysis (apps add plots and files here). Default: its dict, no files."""
        return Stored(summary=analysis.to_dict())

    # ---- history and trend --------------------------------------------------------------------
    def history_row(self, result: dict) -> dict:
        s = result["summary"]
        row = {"id": result["id"], "measured_at": s.get("measured_at") or result["created"],
               "filename": s.get("filename", "")}
        row.update({c.key: c.value(s) for c in self.columns})
        return row

    def history(self, entity: dict, results: list[dict]) -> list[dict]:
        rows = [self.history_row(r) for r in results]
        rows.sort(key=lambda r: r["measured_at"])
        if rows:
            t0 = _dt.datetime.fromisoformat(rows[0]["measured_at"])
            for r in rows:
                r["days"] = round((_dt.datetime.fromisoformat(r["measured_at"]) - t0).total_seconds() / 86400.0, 4)
        return rows

    def trend(self, entity: dict, rows: list[dict]) -> dict | None:
        """JSON trend information (e.g. a forecast) for the history; default none."""
        return None

    def trend_svg(self, entity: dict, rows: list[dict], trend: dict | None) -> str | None:
        """The history plot: ``trend_key`` over days since the first result (None if nothing to plot)."""
        pts = [r for r in rows if self.trend_key and r.get(self.trend_key) is not None]
        if not pts:
            return None
        col = next((c for c in self.columns if c.key == self.trend_key), None)
        label = self.trend_label or (col.label if col else self.trend_key)
        return line_plot_svg([{"x": [r["measured_at"] for r in pts], "y": [r[self.trend_key] for r in pts],
                               "label": label, "points": True}], xlabel="date measured (UTC)", ylabel=label,
                             title=f"{label} over time", height=260, xdates=True)

    # ---- pages ---------------------------------------------------------------------------------
    def index_row(self, entity: dict, rows: list[dict]) -> dict:
        """What the index lists per entity: the last history row (``last``) and the latched alarm."""
        return {"last": rows[-1] if rows else None, "latched": self.latched(entity, rows)}

    def latched(self, entity: dict, rows: list[dict]) -> dict | None:
        """The alarm held until acknowledged (:mod:`.latch`), or None for apps without one."""
        if not self.latch:
            return None
        key, levels = self.latch
        return latched_alarm(rows, key=key, levels=levels, acknowledged_id=(entity.get("data") or {}).get(ACK_KEY))

    def result_context(self, result: dict, store) -> dict:
        """Extra template values for the result page (plots from stored files, ...)."""
        return {}

    def page_context(self) -> dict:
        """Extra template values for every page (presets, crops ...)."""
        return {}

    def extra_routes(self, bp: Blueprint, ctx) -> None:
        """App-specific extra routes (e.g. ``/api/bearings``)."""


# ---- JSON shapes ------------------------------------------------------------------------------------


def entity_doc(entity: dict) -> dict:
    return {"id": entity["id"], "app": entity["app"], "kind": entity["kind"], "name": entity["name"],
            "created": entity["created"], "updated": entity["updated"], "settings": entity["data"]}


def result_doc(result: dict, files: dict) -> dict:
    s = result["summary"]
    return {"id": result["id"], "app": result["app"],
            "entity": {"id": result["entity_id"], "kind": result["entity_kind"], "name": result["entity_name"]},
            "created": result["created"], "measured_at": s.get("measured_at") or result["created"],
            "filename": s.get("filename"), "summary": s, "files": files}


def _csv_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        v = " ".join(str(x) for x in v)
    text = str(v)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text  # no spreadsheet formulas


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def history_csv(flow: EntityFlow, rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = ["id", "measured_at", "filename", *[c.key for c in flow.columns]]
    w.writerow([*keys[:3], *[f"{c.label} ({c.unit})" if c.unit else c.label for c in flow.columns]])
    for r in rows:
        w.writerow([_csv_cell(r.get(k)) for k in keys])
    return buf.getvalue()


# ---- the blueprint --------------------------------------------------------------------------------


def entity_blueprint(app, ctx, flow: EntityFlow) -> Blueprint:
    """The Flask blueprint of ``app``'s entity flow (mounted at ``/<app.name>/`` by the factory)."""
    bp = Blueprint(app.package_name, app.__module__, template_folder="templates")
    store, kind = ctx.store, flow.kind
    # the options' own labels name the operating parameters on result pages (as on the forms)
    param_labels = {spec.name: spec.label for spec in app.options_type.specs()} | {"model": "Model"}

    def get_entity(eid: int) -> dict:
        return store.get_entity(eid, app=app.name, kind=kind)

    def get_result(rid: int) -> dict:
        return store.get_result(rid, app=app.name)

    def files_of(result: dict, *, api: bool) -> dict:
        endpoint = ".api_result_file" if api else ".result_file"
        return {n: url_for(endpoint, rid=result["id"], name=n) for n in result.get("blobs", {}) if n in flow.files}

    def history_of(entity: dict) -> tuple[list[dict], dict | None]:
        rows = flow.history(entity, store.list_results(app.name, entity["id"]))
        return rows, flow.trend(entity, rows)

    def create(form: dict) -> int:
        name = str(form.get("name") or "").strip()
        if not name:
            raise InvalidInputError(f"give the {kind} a name")
        return store.add_entity(app.name, kind, name, flow.parse_settings(form))

    def edit(eid: int, form: dict) -> dict:
        entity = get_entity(eid)
        name = form.get("name")
        return store.update_entity(eid, flow.parse_settings(form, base=entity["data"]),
                                   name=str(name) if name not in (None, "") else None)

    def upload(eid: int, params: dict) -> int:
        entity = get_entity(eid)
        known = {*app.options_type.names(), *(s.name for s in flow.upload_fields(entity)), *UPLOAD_KEYS}
        unknown = sorted(k for k in app.options_type.canonical(params) if k not in known)
        if unknown:
            raise InvalidInputError(f"unknown upload parameter(s) {', '.join(unknown)}; "
                                    f"parameters are {', '.join(sorted(known - {'csrf_token'}))}")
        data, filename = ctx.read_upload()
        when = measured_at_iso(params.get("measured_at"))
        out = flow.analyse(entity, data, filename=filename, params=params,
                           runner_for=lambda config: ctx.runner(app, config))
        summary = {**out.summary, "filename": filename, "measured_at": when}
        rid = store.add_result(app.name, eid, summary, out.blobs, created=when)
        if out.entity_update:  # only once the result is stored: a rejected file leaves the entity as it was
            store.update_entity(eid, {**entity["data"], **out.entity_update})
        return rid

    def render(template: str, **values):
        return render_template(template, flow=flow, app=app, kind=kind, **flow.page_context(), **values)

    def file_response(rid: int, name: str, *, inline: bool):
        get_result(rid)
        if name not in flow.files:
            raise NotFoundError(f"no file {name!r}; files are {', '.join(flow.files) or 'none'}")
        mime, data = store.get_blob(rid, name)
        disp = "inline" if inline else "attachment"
        return Response(data, mimetype=mime, headers={"Content-Disposition": f'{disp}; filename="result-{rid}-{name}"'})

    # ---- HTML ----------------------------------------------------------------------------------
    @bp.get("/")
    def index():
        entities = []
        for e in store.list_entities(app.name, kind):
            rows, _ = history_of(e)
            entities.append({**e, "n_results": len(rows), **flow.index_row(e, rows)})
        return render("entities/index.html", entities=entities, settings=flow.settings())

    @bp.post("/entities")
    def create_page():
        return redirect(url_for(".entity_page", eid=create(request_payload())))

    @bp.get("/entities/<int:eid>")
    def entity_page(eid: int):
        entity = get_entity(eid)
        rows, trend = history_of(entity)
        return render("entities/entity.html", entity=entity, rows=rows, trend=trend,
                      trend_svg=flow.trend_svg(entity, rows, trend), settings=flow.settings(),
                      upload_fields=flow.upload_fields(entity), latched=flow.latched(entity, rows))

    @bp.post("/entities/<int:eid>/acknowledge")
    def acknowledge_page(eid: int):
        entity = get_entity(eid)
        rows, _ = history_of(entity)
        if rows:  # the alarm starts again from the results after the newest one seen now
            store.update_entity(eid, {**entity["data"], ACK_KEY: max(int(r["id"]) for r in rows)})
        return redirect(url_for(".entity_page", eid=eid))

    @bp.post("/entities/<int:eid>")
    def edit_page(eid: int):
        edit(eid, request_payload())
        return redirect(url_for(".entity_page", eid=eid))

    @bp.post("/entities/<int:eid>/delete")
    def delete_page(eid: int):
        get_entity(eid)
        store.delete_entity(eid)
        return redirect(url_for(".index"))

    @bp.post("/entities/<int:eid>/uploads")
    def upload_page(eid: int):
        rid = upload(eid, request.form.to_dict())
        return redirect(url_for(".result_page", rid=rid))

    @bp.get("/results/<int:rid>")
    def result_page(rid: int):
        result = get_result(rid)
        entity = get_entity(result["entity_id"]) if result.get("entity_id") else None
        return render(flow.result_template, result=result, s=result["summary"], entity=entity,
                      files=files_of(result, api=False), param_labels=param_labels,
                      **flow.result_context(result, store))

    @bp.post("/results/<int:rid>/delete")
    def delete_result_page(rid: int):
        result = get_result(rid)
        store.delete_result(rid)
        if result.get("entity_id"):
            return redirect(url_for(".entity_page", eid=result["entity_id"]))
        return redirect(url_for(".index"))

    @bp.get("/results/<int:rid>/files/<name>")
    def result_file(rid: int, name: str):
        return file_response(rid, name, inline=name.endswith(".png"))

    # ---- JSON API ------------------------------------------------------------------------------
    @bp.get("/api/schema")
    def api_schema():
        return jsonify(flow.schema())

    @bp.get("/api/entities")
    def api_entities():
        return jsonify({"entities": [entity_doc(e) for e in store.list_entities(app.name, kind)]})

    @bp.post("/api/entities")
    def api_create():
        return jsonify(entity_doc(get_entity(create(request_payload())))), 201

    @bp.get("/api/entities/<int:eid>")
    def api_entity(eid: int):
        entity = get_entity(eid)
        rows, trend = history_of(entity)
        return jsonify({**entity_doc(entity), "history": rows, "trend": trend})

    @bp.route("/api/entities/<int:eid>", methods=["POST", "PATCH"])
    def api_edit(eid: int):
        return jsonify(entity_doc(edit(eid, request_payload())))

    @bp.delete("/api/entities/<int:eid>")
    def api_delete(eid: int):
        get_entity(eid)
        store.delete_entity(eid)
        return jsonify({"deleted": {"kind": kind, "id": eid}})

    @bp.post("/api/entities/<int:eid>/uploads")
    def api_upload(eid: int):
        rid = upload(eid, {**request.args.to_dict(), **request.form.to_dict()})
        result = get_result(rid)
        resp = jsonify(result_doc(result, files_of(result, api=True)))
        resp.headers["Location"] = url_for(".api_result", rid=rid)
        return resp, 201

    @bp.get("/api/entities/<int:eid>/history")
    def api_history(eid: int):
        rows, trend = history_of(get_entity(eid))
        return jsonify({"entity_id": eid, "columns": flow.schema()["history_columns"], "rows": rows, "trend": trend})

    @bp.get("/api/entities/<int:eid>/history.csv")
    def api_history_csv(eid: int):
        entity = get_entity(eid)
        rows, _ = history_of(entity)
        return Response(history_csv(flow, rows), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{app.name}-{kind}-{eid}-history.csv"'})

    @bp.get("/api/results/<int:rid>")
    def api_result(rid: int):
        result = get_result(rid)
        return jsonify(result_doc(result, files_of(result, api=True)))

    @bp.delete("/api/results/<int:rid>")
    def api_delete_result(rid: int):
        get_result(rid)
        store.delete_result(rid)
        return jsonify({"deleted": {"kind": "result", "id": rid}})

    @bp.get("/api/results/<int:rid>/files/<name>")
    def api_result_file(rid: int, name: str):
        return file_response(rid, name, inline=False)

    flow.extra_routes(bp, ctx)
    return bp
