"""The WebContext handed to every app blueprint: settings, the shared store, model runners, uploads.

``ctx.runner(app, config)`` builds the model runner once per process and serves it to all request
threads: a :class:`~edgeinv.common.runtime.switch.ModelSwitcher` over this device's ``accurate`` and
``chosen`` variants (the self-test's choice on this CPU, see :mod:`edgeinv.common.runtime.selftest`; just one
model when they are the same). The runtime is imported lazily so that
importing the web package stays cheap and torch-free.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from flask import current_app, g, request

from ..config import Settings
from .store import Store
from .upload import read_upload

EXTENSION_KEY = "edgeinv"


def wants_json() -> bool:
    """True when the current request is an API call or prefers JSON over HTML.

    API paths (containing ``/api/``) always get JSON; otherwise the ``Accept`` header decides
    (``application/json`` ranked above ``text/html``). A browser or a bare ``curl`` gets HTML.
    """
    if "/api/" in request.path or request.path.endswith("/api"):
        return True
    accept = request.accept_mimetypes
    best = accept.best_match(["text/html", "application/json"])
    return best == "application/json" and accept["application/json"] > accept["text/html"]


class WebContext:
    """What the core gives each app's blueprint.

    Attributes
    ----------
    settings : the deployment's :class:`~edgeinv.common.config.Settings`.
    store : the shared :class:`~edgeinv.common.web.store.Store` (``settings.db_path``).
    """

    def __init__(self, settings: Settings, store: Store | None = None):
        self.settings = settings
        self.store = store if store is not None else Store(settings.db_path)
        self._runners: dict[tuple[str, str], Callable] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def max_upload_bytes(self) -> int:
        return int(float(self.settings.max_upload_mb) * 2**20)

    def runner(self, app, config: str) -> Callable[[Any], dict]:
        """The model runner for ``app``/``config``, built once per process (thread-safe).

        A ModelSwitcher over this device's ``accurate`` and ``chosen`` variants, with
        ``latency_budget_ms`` from the settings; the chosen variant alone if they are the same or the
        manifest names no accurate variant. Raises ModelError (with a ``make models`` hint) when the
        models are missing; a failure is not cached, so shipping the models later fixes it.
        """
        config = app.check_config(config)
        key = (app.name, config)
        cached = self._runners.get(key)
        if cached is not None:
            return cached
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._runners:
                self._runners[key] = self._build_runner(app, config)
            return self._runners[key]

    def _build_runner(self, app, config: str) -> Callable:
        from ..analysis import device_runner

        return device_runner(app, self.settings, config)

    def read_upload(self, field: str = "file") -> tuple[bytes, str]:
        """``(bytes, filename)`` of the current request's upload (see :mod:`.upload`).

        InvalidInputError if missing or empty, PayloadTooLargeError past ``settings.max_upload_mb``.
        """
        self._bound_analysis()
        return read_upload(field=field, max_bytes=self.max_upload_bytes)

    def _bound_analysis(self) -> None:
        """An upload read outside the analysis pool (a view the detection missed): learn its endpoint
        for the next requests and count this one against the same admission limit."""
        gate = getattr(self, "gate", None)
        if gate is None or request.environ.get("edgeinv.analysis") or g.get("analysis_slot"):
            return
        if request.endpoint:
            self.upload_endpoints.add(request.endpoint)
        if not gate.admit():
            raise gate.busy_error()
        g.analysis_slot = True

    @staticmethod
    def wants_json() -> bool:
        return wants_json()


def current_ctx() -> WebContext:
    """The WebContext of the running Flask app (inside a request or app context)."""
    return current_app.extensions[EXTENSION_KEY]
