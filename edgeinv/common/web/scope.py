"""The request scope the web layer sets on a thread while it serves a request, read by the store.

* the request's idempotency key: results and entities it stores are tagged ``key#1``, ``key#2``...
  (see :mod:`.idempotency`);
* whether its time limit passed (:mod:`.gate`): a request that began writing is never stopped, one that
  was stopped can no longer begin writing (``RequestCancelled``).
"""

from __future__ import annotations

import threading

# Per-thread request scope set by the web layer: the idempotency key of the request being served
# (results written are tagged with it) and whether the request was cancelled by its timeout.
_scope = threading.local()
_write_guard = threading.Lock()
_writing: set[int] = set()     # threads that began a write transaction in their current request
_cancelled: set[int] = set()   # threads whose request timed out: they must not start writing


class RequestCancelled(BaseException):
    """Raised in a request thread whose time limit passed, before it could write anything."""


def reset_thread() -> None:
    """Forget this thread's writing/cancelled state (the analysis pool calls it before each request)."""
    ident = threading.get_ident()
    with _write_guard:
        _writing.discard(ident)
        _cancelled.discard(ident)


def begin_request_scope(idem_key: str | None = None) -> None:
    """Start a request on this thread: results it stores get ``idem_key`` (``key#1``, ``key#2``...)."""
    _scope.key, _scope.count, _scope.active = idem_key, 0, True


def end_request_scope() -> None:
    with _write_guard:
        _writing.discard(threading.get_ident())
    _scope.key, _scope.count, _scope.active = None, 0, False


def cancel_unless_writing(ident: int) -> bool:
    """Mark thread ``ident``'s request cancelled unless it already began writing; True if cancelled."""
    with _write_guard:
        if ident in _writing:
            return False
        _cancelled.add(ident)
        return True


def next_idem_key() -> str | None:
    key = getattr(_scope, "key", None)
    if not key:
        return None
    _scope.count = getattr(_scope, "count", 0) + 1
    return f"{key}#{_scope.count}"




def enter_write() -> None:
    """Called when a write transaction begins: RequestCancelled if this thread's request was stopped."""
    ident = threading.get_ident()
    with _write_guard:
        if ident in _cancelled:
            raise RequestCancelled("the request's time limit passed before it was stored")
        _writing.add(ident)
