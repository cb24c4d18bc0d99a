"""The Flask app factory: mounts every app's blueprint, the index page, /healthz, errors and auth.

``create_app(settings)`` builds one Flask application for the installed apps (or the ones given):
each ``app.blueprint(ctx)`` is mounted at ``/<app.name>/`` with its own ``templates/`` folder, next to
the core templates (``base.html``, ``index.html``, ``error.html``, ``login.html``) and ``static/``.
"""

from __future__ import annotations

import copy
import datetime
import logging
import math
import os
from pathlib import Path

from flask import Flask, g, jsonify, render_template, request

from .. import app as app_registry
from ..config import Settings
from ..errors import EdgeinvError
from .auth import init_auth, is_logged_in
from .labels import init_labels
from .context import EXTENSION_KEY, WebContext
from .errors import register_error_handlers
from .gate import AnalysisGate, AnalysisMiddleware, find_upload_endpoints
from .hosts import install_host_check
from .idempotency import install_idempotency
from .limits import WebLimits
from .retention import RetentionTimer

log = logging.getLogger("edgeinv.web")

# Scripts only from files served here (no inline scripts, no eval); inline style attributes stay allowed.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                           "script-src 'self'; connect-src 'self'; font-src 'self'; "
                           "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
_status_cache: dict[str, tuple[tuple, dict]] = {}
_selftest_cache: dict[tuple, tuple[tuple, dict]] = {}


def _as_list(apps) -> list:
    if apps is None:
        apps = app_registry.all_apps()
    if isinstance(apps, dict):
        apps = apps.values()
    return list(apps)


def _files_key(folder: Path) -> tuple:
    entries = []
    for root, _dirs, files in os.walk(folder):
        for f in files:
            st = os.stat(os.path.join(root, f))
            entries.append((os.path.join(root, f), st.st_mtime_ns, st.st_size))
    return tuple(sorted(entries))


def model_status(app, settings: Settings) -> dict:
    """Whether ``app``'s models are shipped and match their manifest (sha256), cached by file stats.

    ``{"present": bool, "verified": bool | None, "configs": {config: chosen variant}, "message": str}``;
    ``verified`` is None when the runtime package is not available to check.
    """
    folder = app.models_dir(settings)
    if not (folder / "manifest.json").is_file():
        return {"present": False, "verified": False, "configs": {},
                "message": f"no models shipped in {folder.name}/ (run `make models`)"}
    key = _files_key(folder)
    cached = _status_cache.get(str(folder))
    if cached and cached[0] == key:
        return cached[1]
    try:
        from ..runtime.manifest import load_manifest, verify_release
    except ImportError as exc:  # runtime not installed: report what we can
        return {"present": True, "verified": None, "configs": {}, "message": f"cannot verify: {exc}"}
    status = {"present": True, "verified": True, "configs": {}, "message": "models verified"}
    try:
        status["configs"] = load_manifest(folder).chosen()
        verify_release(folder)
    except EdgeinvError as exc:
        status.update(verified=False, message=str(exc))
    _status_cache[str(folder)] = (key, status)
    return status


def _cpu() -> dict:
    from ..runtime.cpu import cpu_features

    return cpu_features()


def selftest_status(app, settings: Settings) -> dict:
    """This device's self-test of ``app``: which variant each config uses here, and which were rejected.

    Cached until the app's model files or the stored self-test change (``/healthz`` under load must not
    parse every manifest each time).
    """
    from ..runtime.selftest import device_state_path

    folder, state = app.models_dir(settings), device_state_path(settings)
    try:
        st = state.stat()
        state_key = (st.st_mtime_ns, st.st_size)
    except OSError:
        state_key = None
    key = (_files_key(folder), state_key)
    cached = _selftest_cache.get((app.name, str(folder), str(state)))
    if cached and cached[0] == key:
        return copy.deepcopy(cached[1])
    out = _selftest_status(app, settings)
    _selftest_cache[(app.name, str(folder), str(state))] = (key, out)
    return copy.deepcopy(out)


def _selftest_status(app, settings: Settings) -> dict:
    from ..runtime.manifest import load_manifest
    from ..runtime.selftest import device_choice, device_report

    report = device_report(app, settings)
    out = {"ran": report is not None, "ran_at": report.get("ran_at") if report else None, "configs": {},
           "rejected": {}, "usable": True}
    for config in load_manifest(app.models_dir(settings)).configs:
        try:
            choice = device_choice(app, settings, config)
        except EdgeinvError as exc:
            out["configs"][config] = {"chosen": None, "error": str(exc)}
            out["usable"] = False
            continue
        out["configs"][config] = {"chosen": choice["chosen"], "accurate": choice["accurate"], "source": choice["source"]}
        if report and config in report.get("configs", {}):
            for name, why in (report["configs"][config].get("rejected") or {}).items():
                out["rejected"][f"{config}/{name}"] = why
    if not out["ran"]:
        out["note"] = "no self-test on this CPU yet: the manifest's choice is used (run `edgeinv selftest`)"
    return out


def format_when(iso: str | None) -> str:
    """Jinja filter ``when``: an ISO timestamp from the store as ``2026-11-29 09:15 UTC``."""
    if not iso:
        return "–"
    try:
        t = datetime.datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if t.tzinfo is not None:
        t = t.astimezone(datetime.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M") + (" UTC" if t.tzinfo is not None else "")


def format_num(value, digits: int = 2) -> str:
    """Jinja filter ``num``: a number with ``digits`` decimals; ``–`` for None, NaN or non-numbers."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    return f"{v:.{int(digits)}f}" if math.isfinite(v) else "–"


def create_app(settings: Settings, apps=None, *, limits: WebLimits | None = None) -> Flask:
    """The Flask application serving ``apps`` (default: every installed app).

    Parameters
    ----------
    settings : deployment settings (data dir, models dir, host for the login policy, upload limit).
    apps : iterable or dict of :class:`~edgeinv.common.app.App`; ``None`` means ``all_apps()``.
    limits : analysis pool, queue, time limit, allowed hosts, retention (default: from the environment,
        see :mod:`.limits`).
    """
    apps = _as_list(apps)
    limits = limits if limits is not None else WebLimits.from_settings(settings)
    flask_app = Flask("edgeinv.common.web", template_folder="templates", static_folder="static")
    ctx = WebContext(settings)
    ctx.limits = limits
    ctx.store.max_result_bytes = int(limits.max_result_mb * 2**20)
    ctx.store.min_free_bytes = int(limits.min_free_mb * 2**20)
    ctx.apps = {a.name: a for a in apps}
    ctx.app_names = list(ctx.apps)
    ctx.broken_blueprints = {}
    flask_app.extensions[EXTENSION_KEY] = ctx
    flask_app.config.update(MAX_CONTENT_LENGTH=ctx.max_upload_bytes + 64 * 1024,
                            EDGEINV_MAX_UPLOAD_BYTES=ctx.max_upload_bytes, JSON_AS_ASCII=False)
    flask_app.json.sort_keys = False
    flask_app.jinja_env.filters.update(when=format_when, num=format_num)
    register_error_handlers(flask_app)
    install_host_check(flask_app, settings, limits.allowed_hosts)  # before the login gate
    init_auth(flask_app, settings, ctx.store)
    init_labels(flask_app, data_store=getattr(ctx.store, "path", None))
    install_idempotency(flask_app, ctx.store)  # after the login gate: a replay needs a login too

    mounted = {}
    for app in apps:
        try:
            bp = app.blueprint(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken app must not take the others down
            log.exception("app %s: building its blueprint failed", app.name)
            ctx.broken_blueprints[app.name] = f"{type(exc).__name__}: {exc}"
            continue
        if bp is not None:
            flask_app.register_blueprint(bp, url_prefix=f"/{app.name}")
            mounted[app.name] = bp.name
    ctx.mounted = mounted
    ctx.gate = AnalysisGate(workers=limits.analysis_workers, queue=limits.analysis_queue,
                            timeout_s=limits.analysis_timeout_s)
    ctx.upload_endpoints = find_upload_endpoints(flask_app)
    flask_app.wsgi_app = AnalysisMiddleware(flask_app, flask_app.wsgi_app, ctx.gate, ctx.upload_endpoints)
    ctx.retention = RetentionTimer(ctx.store, limits)

    @flask_app.teardown_request
    def _release_fallback_slot(_exc=None):
        if g.pop("analysis_slot", False):
            ctx.gate.release()

    def nav_apps():
        return [{"name": a.name, "title": a.title or a.name, "url": f"/{a.name}/", "current": request.blueprint == mounted.get(a.name)}
                for a in apps if a.name in mounted]

    @flask_app.context_processor
    def _globals():
        return {"nav_apps": nav_apps(), "logged_in": is_logged_in()}

    @flask_app.after_request
    def _headers(resp):
        resp.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        return resp

    @flask_app.route("/")
    def index():
        rows = []
        for app in apps:
            rows.append({"name": app.name, "title": app.title or app.name, "description": app.description,
                         "url": f"/{app.name}/" if app.name in mounted else None,
                         "targets": [{"name": t.name, "unit": t.unit} for t in app.targets],
                         "models": model_status(app, settings),
                         "error": ctx.broken_blueprints.get(app.name)})
        return render_template("index.html", apps=rows, broken=dict(app_registry.BROKEN_APPS))

    @flask_app.route("/healthz")
    def healthz():
        db_ok = ctx.store.ping()
        per_app, status = {}, "ok" if db_ok else "error"
        for app in apps:
            m = model_status(app, settings)
            per_app[app.name] = {"models_present": m["present"], "models_verified": m["verified"],
                                 "configs": m["configs"], "ui": app.name in mounted}
            if app.name in ctx.broken_blueprints or m["verified"] is False and m["present"]:
                status = "error"
            elif not m["present"] and status == "ok":
                status = "degraded"
        if app_registry.BROKEN_APPS and status == "ok":
            status = "degraded"
        for app in apps:
            if per_app[app.name]["models_present"] and per_app[app.name]["models_verified"]:
                per_app[app.name]["selftest"] = selftest_status(app, settings)
                if per_app[app.name]["selftest"]["usable"] is False:
                    status = "error"
        gate = ctx.gate
        body = {"status": status, "db": {"ok": db_ok, "schema_version": ctx.store.schema_version if db_ok else None},
                "apps": per_app, "broken_apps": sorted(app_registry.BROKEN_APPS), "cpu": _cpu(),
                "analysis": {"workers": gate.workers, "queue_limit": gate.queue, "in_flight": gate.admitted,
                             "timeout_s": gate.timeout_s, **gate.stats}}
        return jsonify(body), (503 if status == "error" else 200)

    return flask_app
