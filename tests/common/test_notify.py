"""Alarm notifications: state changes -> HMAC-signed webhook events, retries with backoff, dead letters (loopback receiver)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edgeinv.common.errors import ConfigError
from edgeinv.common.ingest.notify import Notifier, change_event, notifier_from, sign, state_of, verify_signature
from edgeinv.common.web.store import Store

SECRET = "s3cret-shared-with-the-receiver"


class Receiver:
    """A webhook receiver on loopback answering with ``statuses`` in turn (the last one repeats)."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                i = len(owner.requests)
                status = owner.statuses[min(i, len(owner.statuses) - 1)]
                owner.requests.append({"headers": dict(self.headers), "body": body, "status": status,
                                       "at": time.monotonic()})
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[dict]:
        return [r for r in self.requests if r["status"] < 300]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(statuses):
        r = Receiver(statuses)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "edgeinv.db")
    yield s
    s.close()


def _machine_with_alarms(store, levels):
    mid = store.add_entity("bearing-wear", "machine", "pump 7", {"rpm": 1800})
    rids = [store.add_result("bearing-wear", mid, {"alarm": lvl, "alarm_reasons": [f"level {lvl}"],
                                                   "measured_at": f"2026-12-0{i + 1}T08:00:00+00:00"})
            for i, lvl in enumerate(levels)]
    return mid, rids


def test_state_of_reads_alarm_advice_and_flagged_zones():
    assert state_of({"alarm": "watch"}) == ("alarm", "watch")
    assert state_of({"advice": {"status": "deficient"}}) == ("advice", "deficient")
    assert state_of({"n_flagged": 3}) == ("zones", "3")
    assert state_of({"fault": "none"}) is None


def test_change_event_only_when_the_alarm_level_changes(store):
    mid, rids = _machine_with_alarms(store, ["ok", "ok", "watch", "watch", "ok"])
    events = [change_event(store, "bearing-wear", rid) for rid in rids]
    assert [e is not None for e in events] == [False, False, True, False, True]
    e = events[2]
    assert e["type"] == "alarm.changed" and (e["previous"], e["current"]) == ("ok", "watch")
    assert e["entity"] == {"id": mid, "kind": "machine", "name": "pump 7"}
    assert e["id"] == f"bearing-wear/machine/{mid}/result/{rids[2]}/alarm"
    assert e["reasons"] == ["level watch"]
    assert events[4]["previous"] == "watch" and events[4]["current"] == "ok"
    # a first result makes an event only when it is not quiet
    _, (first,) = _machine_with_alarms(store, ["danger"])
    assert change_event(store, "bearing-wear", first)["previous"] is None


def test_signed_event_delivered_once_after_two_failures(tmp_path, store, receiver_factory):
    rx = receiver_factory([500, 502, 200])
    _, rids = _machine_with_alarms(store, ["ok", "alert"])
    event = change_event(store, "bearing-wear", rids[1])
    n = Notifier(tmp_path / "outbox.db", urls=[rx.url], secret=SECRET, backoff_s=0.05, max_backoff_s=0.5).start()
    try:
        assert n.emit(event) == 1
        assert n.emit(event) == 0  # the same event (same id) is queued once
        assert n.flush(timeout_s=15)
    finally:
        n.stop()
    assert [r["status"] for r in rx.requests] == [500, 502, 200]
    assert len(rx.accepted()) == 1
    gaps = [b["at"] - a["at"] for a, b in zip(rx.requests, rx.requests[1:])]
    assert gaps[1] > gaps[0] * 1.2 and gaps[0] >= 0.05  # exponential backoff
    for r in rx.requests:
        h = r["headers"]
        assert h["X-Edgeinv-Event-Id"] == event["id"] and h["X-Edgeinv-Event"] == "alarm.changed"
        assert verify_signature(SECRET, r["body"], h["X-Edgeinv-Timestamp"], h["X-Edgeinv-Signature"])
        assert json.loads(r["body"]) == event
    n2 = Notifier(tmp_path / "outbox.db", urls=[rx.url], secret=SECRET)
    rows = n2.rows()
    n2.stop()
    assert [(r["state"], r["attempts"]) for r in rows] == [("delivered", 3)]


def test_dead_letter_after_max_attempts_and_on_client_errors(tmp_path, receiver_factory):
    down, gone = receiver_factory([503]), receiver_factory([404])
    n = Notifier(tmp_path / "outbox.db", urls=[down.url, gone.url], secret=SECRET, max_attempts=3, backoff_s=0.02)
    n.emit({"id": "e1", "type": "alarm.changed", "app": "bearing-wear", "entity": {"name": "m"}})
    assert n.flush(timeout_s=15)
    dead = {d["target"]: d for d in n.dead_letters()}
    n.stop()
    assert dead[down.url]["attempts"] == 3 and "503" in dead[down.url]["last_error"]
    assert dead[gone.url]["attempts"] == 1 and "404" in dead[gone.url]["last_error"]  # permanent: no retries
    assert len(down.requests) == 3 and len(gone.requests) == 1


def test_unreachable_receiver_is_retried_then_dead_lettered(tmp_path):
    n = Notifier(tmp_path / "o.db", urls=["http://127.0.0.1:9/hook"], secret=SECRET, max_attempts=2, backoff_s=0.01,
                 timeout_s=1)
    n.emit({"id": "e2", "type": "alarm.changed"})
    assert n.flush(timeout_s=10)
    (dead,) = n.dead_letters()
    n.stop()
    assert dead["attempts"] == 2 and dead["last_error"]


def test_mqtt_target_and_configuration_errors(tmp_path):
    sent = []
    n = Notifier(tmp_path / "o.db", publish=lambda topic, body: sent.append((topic, json.loads(body))),
                 topic_prefix="edgeinv/events")
    n.emit({"id": "e3", "type": "alarm.changed", "app": "bearing-wear", "entity": {"name": "p1/m#7"}})
    assert n.flush(timeout_s=5)
    n.stop()
    assert sent == [("edgeinv/events/bearing-wear/p1/m_7",
                     {"id": "e3", "type": "alarm.changed", "app": "bearing-wear", "entity": {"name": "p1/m#7"}})]
    with pytest.raises(ConfigError, match="secret"):
        Notifier(tmp_path / "x.db", urls=["http://127.0.0.1:1/"])
    with pytest.raises(ConfigError, match="http"):
        Notifier(tmp_path / "x.db", urls=["ftp://host/"], secret="k")


def test_signature_check_rejects_tampering_and_stale_timestamps():
    body, ts = b'{"id":"e"}', int(time.time())
    sig = sign(SECRET, body, ts)
    assert verify_signature(SECRET, body, ts, sig)
    assert not verify_signature(SECRET, body + b" ", ts, sig)
    assert not verify_signature("other", body, ts, sig)
    assert not verify_signature(SECRET, body, ts - 3600, sign(SECRET, body, ts - 3600))
    assert not verify_signature(SECRET, body, "not-a-time", sig)


def test_notifier_from_environment(tmp_path, settings):
    assert notifier_from(settings, env={}) is None
    n = notifier_from(settings, env={"EDGEINV_WEBHOOK_URLS": "http://127.0.0.1:1/a, http://127.0.0.1:1/b",
                                     "EDGEINV_WEBHOOK_SECRET": "k"})
    assert n.urls == ["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"]
    n.stop()
    with pytest.raises(ConfigError, match="secret"):
        notifier_from(settings, env={"EDGEINV_WEBHOOK_URLS": "http://127.0.0.1:1/a"})


def test_store_watcher_notifies_web_uploads_once(tmp_path, settings, receiver_factory):
    from edgeinv.common.ingest.notify import StoreWatcher

    rx = receiver_factory([200])
    store = Store(settings.db_path)
    mid, _ = _machine_with_alarms(store, ["ok", "danger"])  # history before the first look: no events
    n = Notifier(tmp_path / "outbox.db", urls=[rx.url], secret=SECRET)
    w = StoreWatcher(store, n, ["bearing-wear"])
    assert w.poll() == 0
    store.add_result("bearing-wear", mid, {"alarm": "danger"})  # as an upload page stores it: no change
    rid = store.add_result("bearing-wear", mid, {"alarm": "ok"})
    assert w.poll() == 1 and w.poll() == 0
    assert StoreWatcher(store, n, ["bearing-wear"]).poll() == 0  # a restarted watcher remembers
    assert n.flush(timeout_s=10)
    n.stop()
    store.close()
    (req,) = rx.requests
    event = json.loads(req["body"])
    assert (event["result_id"], event["previous"], event["current"]) == (rid, "danger", "ok")


def test_watch_command_once(tmp_path, receiver_factory):
    from edgeinv.common.cli import main

    rx = receiver_factory([200])
    data = tmp_path / "d"
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    args = ["--data-dir", str(data), "ingest", "watch", "--once", "--webhook", rx.url, "--webhook-secret-file", str(secret)]
    assert main(args) == 0
    from edgeinv.common.config import load_settings

    store = Store(load_settings(env={}, data_dir=data).db_path)
    mid = store.add_entity("bearing-wear", "machine", "m", {})
    store.add_result("bearing-wear", mid, {"alarm": "alert"})
    store.close()
    assert main(args) == 0
    (req,) = rx.requests
    assert json.loads(req["body"])["current"] == "alert"
    assert main(["--data-dir", str(data), "ingest", "watch", "--once"]) == 2  # nowhere to send: a clear error
