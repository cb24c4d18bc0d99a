"""The ingest ledger: what became of each message, so a redelivered message is never stored twice.

MQTT QoS 1 delivers a message *at least* once: after an ingester crash (or a broker restart) the
broker sends again every message whose PUBACK it did not get. The ledger (SQLite, WAL, its own file
``<data dir>/ingest/ledger.db`` next to the result store) records per message identity:

``claimed``   work started; the result may or may not be stored (a crash happened in between: the
              result store is searched for the message key before analysing again);
``stored``    the result is in the store (``result_id``), its JSON is kept for publishing;
``published`` the result went out on the result topic and the broker acknowledged it;
``rejected``  the payload was bad; the reason went out on the error topic.

The message is acknowledged to the broker only after ``published``/``rejected`` is recorded, so every
message ends in exactly one stored result (or one rejection) and one published message.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from ..errors import ConfigError
from ..web.store import utcnow_iso

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    key       TEXT PRIMARY KEY,
    topic     TEXT NOT NULL,
    state     TEXT NOT NULL,
    result_id INTEGER,
    payload   TEXT,
    updated   TEXT NOT NULL
)
"""

STATES = ("claimed", "stored", "published", "rejected")


class Ledger:
    """Per-message state (see the module docstring). Thread-safe; one connection per instance."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=15.0, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the ingest ledger {self.path}: {exc}") from None
        self._lock = threading.Lock()

    def prune(self, *, older_than_days: float = 30.0) -> int:
        """Forget finished messages older than the broker could redeliver (sessions expire after 7 days)."""
        import datetime as _dt

        cutoff = (_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(days=older_than_days)).isoformat(timespec="seconds")
        with self._lock:
            return self._conn.execute("DELETE FROM messages WHERE state IN ('published', 'rejected') AND updated < ?",
                                      (cutoff,)).rowcount

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._conn.execute("SELECT key, topic, state, result_id, payload FROM messages WHERE key = ?",
                                     (key,)).fetchone()
        if row is None:
            return None
        return {"key": row[0], "topic": row[1], "state": row[2], "result_id": row[3],
                "payload": json.loads(row[4]) if row[4] else None}

    def set(self, key: str, topic: str, state: str, *, result_id: int | None = None, payload: dict | None = None) -> None:
        if state not in STATES:
            raise ValueError(f"ledger state must be one of {STATES}, got {state!r}")
        doc = None if payload is None else json.dumps(payload, allow_nan=False, separators=(",", ":"))
        with self._lock:
            self._conn.execute(
                "INSERT INTO messages (key, topic, state, result_id, payload, updated) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET state = excluded.state, "
                "result_id = COALESCE(excluded.result_id, messages.result_id), "
                "payload = COALESCE(excluded.payload, messages.payload), updated = excluded.updated",
                (key, topic, state, result_id, doc, utcnow_iso()))

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall()
        return {s: 0 for s in STATES} | {r[0]: int(r[1]) for r in rows}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
