"""Store upkeep: idempotent responses, server-side login sessions, retention and online backup.

Mixed into :class:`~edgeinv.common.web.store.Store` (same connection handling and transactions):

* ``idempotency`` — the first response to a request carrying an ``Idempotency-Key`` (status, MIME
  type, a few headers, body), replayed to retries; kept ``IDEMPOTENCY_TTL_S`` (24 h);
* ``web_sessions`` — one row per logged-in browser (the sha256 of its random session id): logout
  deletes the row, a password change deletes them all, so a captured cookie stops working;
* :meth:`apply_retention` — results older than ``max_age_days`` are deleted, and when the blobs
  (uploaded files, rasters, plans) exceed ``max_blob_bytes`` the oldest results lose their blobs
  (their summaries stay, so trends survive; ``summary.blobs_pruned`` says so);
* :meth:`backup` — a consistent copy of the live database (SQLite online backup API), checked with
  ``PRAGMA integrity_check`` before it replaces the destination.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

from ..errors import ConfigError

IDEMPOTENCY_TTL_S = 24 * 3600
MAX_STORED_RESPONSE_BYTES = 4 * 2**20


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(str(sid).encode()).hexdigest()


class StoreOps:
    """Idempotency records, sessions, retention and backup (see the module docstring)."""

    # ---- idempotency --------------------------------------------------------------------------
    def get_response(self, key: str) -> dict | None:
        """The stored response for ``key`` (``{"status", "mime", "headers", "body"}``), or None."""
        rows = self._read("SELECT status, mime, headers, body, created FROM idempotency WHERE key = ?", (key,))
        if not rows or time.time() - rows[0]["created"] > IDEMPOTENCY_TTL_S:
            return None
        r = rows[0]
        return {"status": r["status"], "mime": r["mime"], "headers": json.loads(r["headers"]), "body": bytes(r["body"])}

    def save_response(self, key: str, status: int, mime: str, body: bytes, headers: dict | None = None) -> bool:
        """Keep the response to ``key`` (first one wins); False if it is too large to keep."""
        if len(body) > MAX_STORED_RESPONSE_BYTES:
            return False
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO idempotency (key, status, mime, headers, body, created) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (key, int(status), str(mime), json.dumps(headers or {}), bytes(body), time.time()))
        return True

    # ---- sessions -----------------------------------------------------------------------------
    def create_session(self, sid: str, pwv: str, lifetime_s: float) -> None:
        now = time.time()
        with self.transaction() as conn:
            conn.execute("DELETE FROM web_sessions WHERE expires < ?", (now,))
            conn.execute("INSERT OR REPLACE INTO web_sessions (sid_hash, pwv, created, expires) VALUES (?, ?, ?, ?)",
                         (_sid_hash(sid), str(pwv), now, now + float(lifetime_s)))

    def session_valid(self, sid: str | None, pwv: str) -> bool:
        if not sid:
            return False
        rows = self._read("SELECT pwv, expires FROM web_sessions WHERE sid_hash = ?", (_sid_hash(sid),))
        return bool(rows) and rows[0]["pwv"] == pwv and rows[0]["expires"] > time.time()

    def revoke_session(self, sid: str | None) -> None:
        if sid:
            with self.transaction() as conn:
                conn.execute("DELETE FROM web_sessions WHERE sid_hash = ?", (_sid_hash(sid),))

    def revoke_sessions(self, *, keep_pwv: str | None = None) -> int:
        """Delete every session (or those of another password version than ``keep_pwv``); how many."""
        with self.transaction() as conn:
            if keep_pwv is None:
                return conn.execute("DELETE FROM web_sessions").rowcount
            return conn.execute("DELETE FROM web_sessions WHERE pwv != ?", (keep_pwv,)).rowcount

    # ---- retention ----------------------------------------------------------------------------
    def blob_bytes(self) -> int:
        return int(self._read("SELECT coalesce(sum(size), 0) FROM blobs")[0][0])

    def apply_retention(self, *, max_blob_bytes: int | None = None, max_age_days: float | None = None,
                        batch: int = 50) -> dict:
        """Apply the retention policy; returns ``{"results_deleted", "blobs_pruned", "blob_bytes"}``.

        Works in short transactions of ``batch`` results so request threads never wait long.
        """
        now = time.time()
        deleted = pruned = 0
        with self.transaction() as conn:
            conn.execute("DELETE FROM idempotency WHERE created < ?", (now - IDEMPOTENCY_TTL_S,))
            conn.execute("DELETE FROM web_sessions WHERE expires < ?", (now,))
        if max_age_days:
            cutoff = (_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(days=float(max_age_days))).isoformat(
                timespec="seconds")
            while True:
                with self.transaction() as conn:
                    ids = [r[0] for r in conn.execute("SELECT id FROM results WHERE created < ? ORDER BY id LIMIT ?",
                                                      (cutoff, batch))]
                    conn.executemany("DELETE FROM results WHERE id = ?", [(i,) for i in ids])
                deleted += len(ids)
                if len(ids) < batch:
                    break
        if max_blob_bytes is not None:
            total = self.blob_bytes()
            while total > max_blob_bytes:
                with self.transaction() as conn:
                    rows = conn.execute("SELECT result_id, sum(size) AS n FROM blobs GROUP BY result_id "
                                        "ORDER BY result_id LIMIT ?", (batch,)).fetchall()
                    if not rows:
                        break
                    for row in rows:
                        if total <= max_blob_bytes:
                            break
                        conn.execute("DELETE FROM blobs WHERE result_id = ?", (row["result_id"],))
                        conn.execute("UPDATE results SET summary = json_set(summary, '$.blobs_pruned', json('true')) "
                                     "WHERE id = ?", (row["result_id"],))
                        total -= int(row["n"])
                        pruned += 1
        return {"results_deleted": deleted, "blobs_pruned": pruned, "blob_bytes": self.blob_bytes()}

    # ---- backup and checks --------------------------------------------------------------------
    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` of the database: ``"ok"`` or SQLite's first complaint."""
        return str(self._read("PRAGMA integrity_check")[0][0])

    def backup(self, dest: str | Path) -> dict:
        """Copy the live database to ``dest`` (a file, or a folder for a time-stamped file).

        Uses SQLite's online backup API (consistent while the server keeps writing), checks the copy
        with ``integrity_check`` and moves it into place atomically. Returns ``{"path", "bytes",
        "results", "entities", "integrity"}``; ConfigError if the copy cannot be written or is not ok.
        """
        dest = Path(dest)
        if dest.is_dir():
            stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            dest = dest / f"edgeinv-{stamp}.sqlite3"
        tmp = dest.with_name(dest.name + ".part")
        src = self._connect()
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.unlink(missing_ok=True)
            out = sqlite3.connect(str(tmp))
            try:
                src.backup(out, pages=-1)  # one step: a consistent snapshot (WAL: writers go on)
                out.execute("PRAGMA journal_mode = DELETE")
                integrity = str(out.execute("PRAGMA integrity_check").fetchone()[0])
                counts = {t: int(out.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in ("results", "entities")}
            finally:
                out.close()
            if integrity != "ok":
                tmp.unlink(missing_ok=True)
                raise ConfigError(f"the backup copy failed its integrity check: {integrity}")
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
            dir_fd = os.open(dest.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except (OSError, sqlite3.Error) as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"cannot write the backup {dest}: {exc}") from None
        return {"path": str(dest), "bytes": dest.stat().st_size, **counts, "integrity": integrity}
