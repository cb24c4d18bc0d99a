"""The retention policy, applied by the server at start and every 10 minutes (see :mod:`.storeops`).

Results older than ``EDGEINV_RETENTION_DAYS`` (0: never) are deleted; when the stored blobs pass
``EDGEINV_MAX_BLOB_MB`` the oldest results lose their blobs (summaries, and so trends, stay);
idempotency records (24 h) and expired login sessions are dropped.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("edgeinv.web")
INTERVAL_S = 600.0


class RetentionTimer:
    """Runs ``store.apply_retention`` now and every ``interval_s`` in a daemon thread once started."""

    def __init__(self, store, limits, *, interval_s: float = INTERVAL_S):
        self.store, self.limits, self.interval_s = store, limits, float(interval_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: dict | None = None

    def run_once(self) -> dict:
        self.last = self.store.apply_retention(max_blob_bytes=self.limits.max_blob_bytes,
                                               max_age_days=self.limits.retention_days or None)
        if self.last["results_deleted"] or self.last["blobs_pruned"]:
            log.info("retention: %(results_deleted)d old results deleted, blobs of %(blobs_pruned)d results pruned, "
                     "%(blob_bytes)d blob bytes kept", self.last)
        return self.last

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - upkeep must never take the server down
                log.exception("retention failed")
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="edgeinv-retention", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the loop and wait for a pass in progress to end (the server closes the store next: closing a
        connection another thread is using crashed the process, a segfault in ``apply_retention``)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
