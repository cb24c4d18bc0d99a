"""Idempotency keys: a retried upload (same ``Idempotency-Key`` header) gets the first answer, stored once.

A gateway that sends a file and loses the answer (timeout, reset, power cut on either side) retries
with the same key. For POST/PUT/PATCH requests carrying ``Idempotency-Key`` (1–200 visible ASCII
characters), scoped to the method and path:

1. a stored answer to that key is replayed (same status and body, header ``Idempotent-Replayed:
   true``) without running the request again;
2. the same key arriving while the first request still runs gets **409** with ``Retry-After``;
3. otherwise the request runs; every result it stores is tagged with the key in the same transaction
   (unique), so even if the server dies after storing and before answering, the retry finds that
   result instead of adding a second one; its answer (2xx, 3xx, and 400/413/415/422 — answers that
   would not change on a retry) is kept for 24 h.

Requests without the header behave as before.
"""

from __future__ import annotations

import hashlib
import threading

from flask import Flask, Response, g, request

from ..errors import InvalidInputError
from . import scope as store_mod
from .errors import ConflictError

HEADER = "Idempotency-Key"
_METHODS = frozenset({"POST", "PUT", "PATCH"})
_KEEP = frozenset({400, 413, 415, 422})
_REPLAY_HEADERS = ("Location", "Content-Disposition")


def scoped_key(method: str, path: str, key: str) -> str:
    return hashlib.sha256(f"{method} {path}\n{key}".encode()).hexdigest()


def install_idempotency(flask_app: Flask, store) -> None:
    """Register the before/after/teardown hooks (after the login gate, so a replay needs a login too)."""
    inflight: set[str] = set()
    lock = threading.Lock()

    @flask_app.before_request
    def _idem_begin():
        g.idem_key = None
        raw = request.headers.get(HEADER)
        if raw is None or request.method not in _METHODS:
            store_mod.begin_request_scope(None)
            return None
        raw = raw.strip()
        if not (0 < len(raw) <= 200 and raw.isascii() and raw.isprintable()):
            raise InvalidInputError(f"the {HEADER} header must be 1-200 visible ASCII characters")
        key = scoped_key(request.method, request.path, raw)
        stored = store.get_response(key)
        if stored is not None:
            resp = Response(stored["body"], status=stored["status"], mimetype=stored["mime"])
            for name, value in stored["headers"].items():
                resp.headers[name] = value
            resp.headers["Idempotent-Replayed"] = "true"
            return resp
        with lock:
            if key in inflight:
                err = ConflictError(f"a request with this {HEADER} is still being processed; retry in a moment")
                err.retry_after_s = 1
                raise err
            inflight.add(key)
        g.idem_key = key
        g.idem_release = lambda: _discard(key)
        store_mod.begin_request_scope(key)
        return None

    def _discard(key):
        with lock:
            inflight.discard(key)

    @flask_app.after_request
    def _idem_save(resp):
        key = g.get("idem_key")
        if key and (200 <= resp.status_code < 400 or resp.status_code in _KEEP) and not resp.is_streamed:
            headers = {h: resp.headers[h] for h in _REPLAY_HEADERS if h in resp.headers}
            store.save_response(key, resp.status_code, resp.mimetype or "application/octet-stream",
                                resp.get_data(), headers)
        return resp

    @flask_app.teardown_request
    def _idem_end(_exc=None):
        release = g.pop("idem_release", None)
        if release is not None:
            release()
        g.idem_key = None
        store_mod.end_request_scope()
