"""Notifications: an event when an entity's state changes, POSTed to webhooks (HMAC-signed) and published on MQTT.

What changes (read from a stored result's summary, first match wins): a machine's ``alarm`` level
(bearing-wear), a field's ``advice.status`` (leaf-nitrogen), a flight's number of flagged zones
``n_flagged`` (veg-cover). :func:`change_event` compares a result with the entity's previous one and
returns the event, or None. A first result makes an event only when its state is not a quiet one
(``ok``, ``sufficient``, no flagged zone).

Delivery is at least once per target, from a durable outbox (SQLite ``<data dir>/ingest/outbox.db``):
each (event, target) row is tried until the target answers 2xx, with exponential backoff
(``backoff_s * 2**(attempt-1)``, capped, +0-20 % jitter); a 4xx other than 408/429 or
``max_attempts`` failures move it to the dead letters (state ``dead`` with the last error, listed
by :meth:`Notifier.dead_letters`). The event ``id`` is deterministic (app, entity, result), so an
event is queued once even when the result path runs twice, and a receiver can drop repeats.

Webhook requests carry ``X-Edgeinv-Event`` (type), ``X-Edgeinv-Event-Id``, ``X-Edgeinv-Timestamp``
(Unix seconds) and ``X-Edgeinv-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` with
the shared secret; :func:`verify_signature` is the receiver's check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from ..errors import ConfigError
from ..web.store import utcnow_iso

log = logging.getLogger("edgeinv.notify")

QUIET = {"ok", "sufficient", "unknown", "0", "none"}
MQTT_TARGET = "mqtt"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    event_id   TEXT NOT NULL,
    target     TEXT NOT NULL,
    event      TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending',
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    REAL NOT NULL,
    last_error TEXT,
    created    TEXT NOT NULL,
    updated    TEXT NOT NULL,
    PRIMARY KEY (event_id, target)
)
"""


# ---- what changed ----------------------------------------------------------------------------


def state_of(summary: dict) -> tuple[str, str] | None:
    """``(what, value)`` of a result summary: ``("alarm", "watch")``, ``("advice", "deficient")``, ``("zones", "3")``."""
    if not isinstance(summary, dict):
        return None
    if isinstance(summary.get("alarm"), str):
        return "alarm", summary["alarm"]
    advice = summary.get("advice")
    if isinstance(advice, dict) and isinstance(advice.get("status"), str):
        return "advice", advice["status"]
    if isinstance(summary.get("n_flagged"), int):
        return "zones", str(summary["n_flagged"])
    return None


def change_event(store, app_name: str, result_id: int) -> dict | None:
    """The event for stored result ``result_id`` if its entity's state changed with it, else None."""
    result = store.get_result(result_id, app=app_name)
    now = state_of(result["summary"])
    if now is None or result.get("entity_id") is None:
        return None
    earlier = [r for r in store.list_results(app_name, result["entity_id"]) if r["id"] < result["id"]]
    earlier.sort(key=lambda r: r["id"])
    before = state_of(earlier[-1]["summary"]) if earlier else None
    if before is not None and before[1] == now[1]:
        return None
    if before is None and now[1] in QUIET:
        return None
    what, value = now
    s = result["summary"]
    return {
        "id": f"{app_name}/{result['entity_kind']}/{result['entity_id']}/result/{result['id']}/{what}",
        "type": f"{what}.changed",
        "app": app_name,
        "entity": {"id": result["entity_id"], "kind": result["entity_kind"], "name": result["entity_name"]},
        "result_id": result["id"],
        "previous": before[1] if before else None,
        "current": value,
        "measured_at": s.get("measured_at") or result["created"],
        "reasons": s.get("alarm_reasons") or ([s["advice"].get("headline")] if isinstance(s.get("advice"), dict) else []),
    }


# ---- signing -----------------------------------------------------------------------------------


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, str(int(timestamp)).encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, timestamp: str | int, signature: str, *,
                     tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """True if ``signature`` is the HMAC of this body and timestamp, and the timestamp is recent."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, ts), str(signature or ""))


# ---- delivery --------------------------------------------------------------------------------------


class Notifier:
    """Queue events durably and deliver them to webhooks and MQTT (see the module docstring).

    Parameters
    ----------
    outbox : the SQLite file of the outbox (created if missing).
    urls : webhook URLs (http/https) every event is POSTed to.
    secret : the HMAC key shared with the receivers; required when ``urls`` is not empty.
    publish : ``publish(topic, payload_bytes) -> None`` (raises on failure), e.g. the ingester's MQTT
        client; events then also go to ``<topic_prefix>/<app>/<entity name>``.
    """

    def __init__(self, outbox: str | Path, *, urls=(), secret: str | bytes | None = None,
                 publish: Callable[[str, bytes], None] | None = None, topic_prefix: str = "edgeinv/events",
                 max_attempts: int = 8, backoff_s: float = 2.0, max_backoff_s: float = 600.0, timeout_s: float = 5.0):
        self.urls = [str(u) for u in urls]
        for u in self.urls:
            if not u.startswith(("http://", "https://")):
                raise ConfigError(f"webhook URL must start with http:// or https://, got {u!r}")
        if self.urls and not secret:
            raise ConfigError("webhooks need a shared secret to sign events: set EDGEINV_WEBHOOK_SECRET "
                              "or give --webhook-secret-file")
        if max_attempts < 1 or backoff_s < 0:
            raise ConfigError(f"max_attempts must be >= 1 and backoff_s >= 0, got {max_attempts}, {backoff_s}")
        self.secret, self.publish, self.topic_prefix = secret, publish, topic_prefix.rstrip("/")
        self.max_attempts, self.backoff_s, self.max_backoff_s = int(max_attempts), float(backoff_s), float(max_backoff_s)
        self.timeout_s = float(timeout_s)
        self.path = Path(outbox)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=15.0, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the notification outbox {self.path}: {exc}") from None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def targets(self) -> list[str]:
        return [*self.urls, *([MQTT_TARGET] if self.publish else [])]

    def emit(self, event: dict) -> int:
        """Queue ``event`` for every target (once per event id and target); returns how many rows were new."""
        doc = json.dumps(event, allow_nan=False, separators=(",", ":"), sort_keys=True)
        now, iso = time.time(), utcnow_iso()
        added = 0
        with self._lock:
            for target in self.targets:
                cur = self._conn.execute(
                    "INSERT OR IGNORE INTO outbox (event_id, target, event, next_at, created, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (event["id"], target, doc, now, iso, iso))
                added += cur.rowcount
        self._wake.set()
        return added

    def _send(self, target: str, event: dict, body: bytes) -> tuple[bool, bool, str]:
        """One attempt -> (delivered, permanent_failure, error)."""
        if target == MQTT_TARGET:
            ent = str(event.get("entity", {}).get("name", "")).replace("+", "_").replace("#", "_")
            try:
                self.publish(f"{self.topic_prefix}/{event.get('app')}/{ent}", body)
                return True, False, ""
            except Exception as exc:  # noqa: BLE001 - broker down: retry later
                return False, False, f"MQTT: {exc}"
        ts = int(time.time())
        req = urllib.request.Request(target, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "edgeinv-notify",
            "X-Edgeinv-Event": str(event.get("type", "")), "X-Edgeinv-Event-Id": str(event["id"]),
            "X-Edgeinv-Timestamp": str(ts), "X-Edgeinv-Signature": sign(self.secret, body, ts)})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read(65536)
                return True, False, ""
        except urllib.error.HTTPError as exc:
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 425, 429)
            return False, permanent, f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            return False, False, str(getattr(exc, "reason", exc))

    def deliver_due(self) -> int:
        """Try every row that is due now, once; returns the number of attempts made."""
        now = time.time()
        with self._lock:
            rows = self._conn.execute("SELECT event_id, target, event, attempts FROM outbox WHERE state = 'pending' "
                                      "AND next_at <= ? ORDER BY created, event_id", (now,)).fetchall()
        for event_id, target, doc, attempts in rows:
            event = json.loads(doc)
            ok, permanent, error = self._send(target, event, doc.encode())
            attempts += 1
            if ok:
                state, next_at = "delivered", now
            elif permanent or attempts >= self.max_attempts:
                state, next_at = "dead", now
                log.warning("notification %s to %s given up after %d attempt(s): %s", event_id, target, attempts, error)
            else:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempts - 1)) * (1 + 0.2 * random.random())
                state, next_at = "pending", time.time() + delay
            with self._lock:
                self._conn.execute("UPDATE outbox SET state = ?, attempts = ?, next_at = ?, last_error = ?, updated = ? "
                                   "WHERE event_id = ? AND target = ?",
                                   (state, attempts, next_at, error or None, utcnow_iso(), event_id, target))
        return len(rows)

    def _next_due_in(self) -> float | None:
        with self._lock:
            row = self._conn.execute("SELECT min(next_at) FROM outbox WHERE state = 'pending'").fetchone()
        return None if row[0] is None else max(0.0, row[0] - time.time())

    def rows(self, state: str | None = None) -> list[dict]:
        sql = "SELECT event_id, target, state, attempts, last_error, event FROM outbox"
        with self._lock:
            rows = self._conn.execute(sql + (" WHERE state = ?" if state else "") + " ORDER BY created, event_id",
                                      (state,) if state else ()).fetchall()
        return [{"event_id": r[0], "target": r[1], "state": r[2], "attempts": r[3], "last_error": r[4],
                 "event": json.loads(r[5])} for r in rows]

    def dead_letters(self) -> list[dict]:
        """Deliveries given up on, with the number of attempts and the last error."""
        return self.rows("dead")

    # ---- background worker ----------------------------------------------------------------
    def start(self) -> "Notifier":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="edgeinv-notify", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # noqa: BLE001 - a delivery bug must not stop the ingester
                log.exception("notification delivery failed")
            wait = self._next_due_in()
            self._wake.wait(timeout=30.0 if wait is None else min(wait, 30.0))
            self._wake.clear()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until nothing is pending (delivered or dead); True if so within ``timeout_s``."""
        end = time.time() + timeout_s
        while time.time() < end:
            if not self.rows("pending"):
                return True
            if self._thread is None:
                self.deliver_due()
            time.sleep(0.02)
        return not self.rows("pending")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._lock:
            self._conn.close()


def notifier_from(settings, *, urls=(), secret_file: str | None = None, env=None, publish=None,
                  **kwargs) -> Notifier | None:
    """The notifier for a command: ``urls`` plus ``EDGEINV_WEBHOOK_URLS`` (comma/space separated), the secret
    from ``secret_file`` or ``EDGEINV_WEBHOOK_SECRET``; None when there is nowhere to send events."""
    import os

    env = os.environ if env is None else env
    all_urls = [*urls, *str(env.get("EDGEINV_WEBHOOK_URLS", "")).replace(",", " ").split()]
    secret = env.get("EDGEINV_WEBHOOK_SECRET") or None
    if secret_file:
        try:
            secret = Path(secret_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the webhook secret file {secret_file}: {exc.strerror}") from None
    if not all_urls and publish is None:
        return None
    return Notifier(Path(settings.data_dir) / "ingest" / "outbox.db", urls=all_urls, secret=secret,
                    publish=publish, **kwargs)


class StoreWatcher:
    """Raise events for results stored by anyone (web uploads too) by polling the store for new result ids.

    The last result id seen per app is kept in the outbox database, so a restart neither repeats nor
    misses events; on the very first run the existing results are taken as seen (no events for history).
    Events are idempotent per result, so results the ingester already notified are not sent twice.
    """

    def __init__(self, store, notifier: Notifier, apps, *, recent: int = 200):
        self.store, self.notifier, self.apps, self.recent = store, notifier, list(apps), int(recent)
        with notifier._lock:
            notifier._conn.execute("CREATE TABLE IF NOT EXISTS watch (app TEXT PRIMARY KEY, last_id INTEGER NOT NULL)")

    def _last(self, app: str) -> int | None:
        with self.notifier._lock:
            row = self.notifier._conn.execute("SELECT last_id FROM watch WHERE app = ?", (app,)).fetchone()
        return None if row is None else int(row[0])

    def _set_last(self, app: str, last_id: int) -> None:
        with self.notifier._lock:
            self.notifier._conn.execute("INSERT INTO watch (app, last_id) VALUES (?, ?) ON CONFLICT(app) DO UPDATE "
                                        "SET last_id = excluded.last_id", (app, int(last_id)))

    def poll(self) -> int:
        """Look at the most recent results once; returns the number of events queued."""
        queued = 0
        for app in self.apps:
            rows = sorted(self.store.list_results(app, limit=self.recent), key=lambda r: r["id"])
            last = self._last(app)
            newest = max([r["id"] for r in rows], default=last or 0)
            if last is not None:
                for r in rows:
                    if r["id"] > last:
                        event = change_event(self.store, app, r["id"])
                        if event:
                            queued += self.notifier.emit(event) > 0
            self._set_last(app, max(newest, last or 0))
        return queued
