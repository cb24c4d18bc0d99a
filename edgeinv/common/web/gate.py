"""Bounded analysis: uploads run in a small worker pool with a queue limit and a time limit.

Pages and ``/healthz`` are answered by the server's own threads; a request that analyses an upload
is handed to :class:`AnalysisGate`'s pool of ``analysis_workers`` threads instead:

* at most ``analysis_workers + analysis_queue`` analyses are admitted; one more is answered at once
  with **503** and ``Retry-After`` (no growing backlog);
* each admitted request has ``analysis_timeout_s`` (waiting included). When it passes, the client gets
  **504** at once; the analysis thread is stopped (an exception raised in it; code stuck inside a C
  call stops when the call returns) and it can no longer store anything. A request that already began
  writing its result is waited for instead, so an answer always matches what was stored. A stopped
  analysis keeps its slot until its thread really ends, so the pool stays bounded;
* the server gets ``workers + queue + page_threads`` threads, so ``page_threads`` always remain for
  pages and health checks whatever the uploads do.

Which requests are analyses: POST/PUT requests to an endpoint whose view reads an upload
(:func:`find_upload_endpoints` looks for ``read_upload`` in the view and the functions it uses, and
``WebContext.read_upload`` adds any endpoint it is called from), or with a ``multipart/form-data`` /
``application/octet-stream`` body. The apps' blueprints need no change.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import types
from concurrent.futures import CancelledError, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from werkzeug.exceptions import HTTPException

from ..errors import EdgeinvError
from . import scope as store_mod

log = logging.getLogger("edgeinv.web")
ENVIRON_KEY = "edgeinv.analysis"
_HEAVY_TYPES = ("multipart/form-data", "application/octet-stream")


class BusyError(EdgeinvError):
    """Every analysis slot and queue place is taken (HTTP 503 with Retry-After)."""

    status = 503


class AnalysisTimeoutError(EdgeinvError):
    """The analysis did not finish within its time limit (HTTP 504)."""

    status = 504


def release_memory() -> None:
    from ..runtime.memory import release_memory as trim

    trim()


class _Task:
    def __init__(self, fn):
        self.fn = fn
        self.ident: int | None = None
        self.started = threading.Event()
        self.lock = threading.Lock()
        self.finished = False

    def run(self):
        store_mod.reset_thread()
        with self.lock:
            self.ident = threading.get_ident()
        self.started.set()
        try:
            return self.fn()
        finally:
            with self.lock:
                self.finished = True
                # a stop requested just before the end and not yet raised must not fire later in the pool's code
                _set_async_exc(self.ident, None)


def _set_async_exc(ident: int, exc) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc) if exc else None)


class AnalysisGate:
    """The worker pool, its admission limit and the per-request time limit (see the module docstring)."""

    def __init__(self, *, workers: int, queue: int, timeout_s: float, retry_after_s: int = 5):
        self.workers, self.queue, self.timeout_s = int(workers), int(queue), float(timeout_s)
        self.retry_after_s = int(retry_after_s)
        self._slots = threading.BoundedSemaphore(self.workers + self.queue)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="edgeinv-analysis")
        self._count_lock = threading.Lock()
        self.admitted = 0
        self.stats = {"admitted": 0, "refused_busy": 0, "timed_out": 0}

    def busy_error(self) -> BusyError:
        err = BusyError(f"the device is analysing {self.workers + self.queue} uploads already; "
                        f"try again in {self.retry_after_s} s", hint="retry with the same Idempotency-Key")
        err.retry_after_s = self.retry_after_s
        return err

    def admit(self) -> bool:
        """Take an admission slot without waiting; False when all are taken."""
        ok = self._slots.acquire(blocking=False)
        with self._count_lock:
            if ok:
                self.admitted += 1
                self.stats["admitted"] += 1
            else:
                self.stats["refused_busy"] += 1
        return ok

    def release(self) -> None:
        with self._count_lock:
            self.admitted -= 1
        self._slots.release()

    def run(self, fn):
        """Run ``fn()`` (after :meth:`admit`) in the pool; its result, or BusyError/AnalysisTimeoutError."""
        task = _Task(fn)

        def work():
            try:
                return task.run()
            finally:
                self.release()
                release_memory()  # an analysis's arrays are freed: return the pages (RSS stays near the idle level)

        try:
            future = self._executor.submit(work)
        except RuntimeError:  # the pool was shut down: the server is stopping
            self.release()
            raise self.busy_error() from None
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            pass
        if future.cancel():  # still queued: it never ran
            self.release()
            with self._count_lock:
                self.stats["timed_out"] += 1
            raise AnalysisTimeoutError(f"the analysis waited more than {self.timeout_s:g} s for a free worker; "
                                       "try again later") from None
        task.started.wait()
        if not store_mod.cancel_unless_writing(task.ident):
            try:  # it is storing its result: the answer must say so
                return future.result()
            except CancelledError:  # pragma: no cover - cannot be cancelled once running
                raise AnalysisTimeoutError("the analysis was stopped") from None
        with task.lock:
            if not task.finished:
                _set_async_exc(task.ident, store_mod.RequestCancelled)
        with self._count_lock:
            self.stats["timed_out"] += 1
        log.warning("analysis stopped after %.0f s (time limit)", self.timeout_s)
        raise AnalysisTimeoutError(f"the analysis took longer than the limit of {self.timeout_s:g} s and was "
                                   "stopped; nothing was stored (setting EDGEINV_ANALYSIS_TIMEOUT_S)")

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _code_uses_upload(fn, depth: int = 0, seen=None) -> bool:
    seen = set() if seen is None else seen
    fn = getattr(fn, "__wrapped__", fn)
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen or depth > 4:
        return False
    seen.add(id(code))
    if getattr(fn, "_edgeinv_analysis", False) or "read_upload" in code.co_names:
        return True
    inner = [c.cell_contents for c in (fn.__closure__ or ()) if _cell_ok(c)]
    glb = getattr(fn, "__globals__", {})
    inner += [glb.get(n) for n in code.co_names]
    return any(isinstance(f, types.FunctionType) and _code_uses_upload(f, depth + 1, seen) for f in inner)


def _cell_ok(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
        return True
    except ValueError:
        return False


def find_upload_endpoints(flask_app) -> set[str]:
    """Endpoints of POST/PUT rules whose view (or a function it calls) reads an upload."""
    out = set()
    for rule in flask_app.url_map.iter_rules():
        if not ({"POST", "PUT"} & set(rule.methods or ())):
            continue
        view = flask_app.view_functions.get(rule.endpoint)
        if view is not None and _code_uses_upload(view):
            out.add(rule.endpoint)
    return out


def analysis(view):
    """Decorator marking a view as an analysis (for views the automatic detection misses)."""
    view._edgeinv_analysis = True
    return view


class AnalysisMiddleware:
    """WSGI middleware sending analysis requests through the :class:`AnalysisGate`."""

    def __init__(self, flask_app, wsgi_app, gate: AnalysisGate, endpoints: set[str]):
        self.flask_app, self.wsgi_app, self.gate, self.endpoints = flask_app, wsgi_app, gate, endpoints

    def is_analysis(self, environ) -> bool:
        if environ.get("REQUEST_METHOD") not in ("POST", "PUT"):
            return False
        try:
            endpoint, _ = self.flask_app.url_map.bind_to_environ(environ).match()
        except HTTPException:
            return False
        except Exception:  # noqa: BLE001 - a malformed request is Flask's to answer
            return False
        if endpoint in self.endpoints:
            return True
        ctype = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        return endpoint not in ("auth.login", "auth.logout") and ctype in _HEAVY_TYPES

    def __call__(self, environ, start_response):
        if not self.is_analysis(environ):
            return self.wsgi_app(environ, start_response)
        if not self.gate.admit():
            return self._error(environ, start_response, self.gate.busy_error())
        environ[ENVIRON_KEY] = True

        def task():
            captured = {}

            def sr(status, headers, exc_info=None):
                captured["status"], captured["headers"] = status, headers
                return lambda data: captured.setdefault("early", []).append(data)

            it = self.wsgi_app(environ, sr)
            try:
                body = b"".join(it)
            finally:
                if hasattr(it, "close"):
                    it.close()
            return captured["status"], captured["headers"], b"".join(captured.get("early", [])) + body

        try:
            status, headers, body = self.gate.run(task)
        except EdgeinvError as exc:
            return self._error(environ, start_response, exc)
        start_response(status, headers)
        return [body]

    def _error(self, environ, start_response, exc: EdgeinvError):
        from .errors import error_response

        with self.flask_app.request_context(environ):
            headers = {}
            if getattr(exc, "retry_after_s", None):
                headers["Retry-After"] = str(exc.retry_after_s)
            resp = error_response(exc.status, type(exc).__name__, exc.message, hint=exc.hint, headers=headers)
            resp = self.flask_app.process_response(resp)  # security headers, as on every response
        return resp(environ, start_response)
