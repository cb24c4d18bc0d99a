"""MQTT ingest against a real mosquitto on loopback: exactly one stored and one published result per message,
across an ingester killed mid-stream and restarted; bad payloads go to the error topic and never stop it."""

from __future__ import annotations

import base64
import collections
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("paho.mqtt", reason="MQTT ingest needs paho-mqtt (extra 'ingest')")

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from edgeinv.common.app import get_app  # noqa: E402
from edgeinv.common.config import load_settings  # noqa: E402
from edgeinv.common.errors import ModelError  # noqa: E402
from edgeinv.common.ingest.mqtt import Ingester, IngestOptions, topic_matches  # noqa: E402
from edgeinv.common.web.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")
                                               if os.access(p, os.X_OK)), None)
FILTER = "plant/+/bearing/+"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(pred, timeout_s: float, what: str):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


@pytest.fixture
def broker(tmp_path):
    if MOSQUITTO is None:
        pytest.skip("the mosquitto binary is not installed (apt-get install mosquitto; .ci/run does it)")
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    (tmp_path / "mq").mkdir()
    user = f"user {getpass.getuser()}\n" if os.geteuid() == 0 else ""  # root: mosquitto would switch to 'mosquitto'
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {tmp_path / 'mq'}/\nlog_dest stderr\n{user}")
    log = open(tmp_path / "mosquitto.log", "wb")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=_die_with_parent)

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    _wait(up, 10, "mosquitto to listen")
    info = {"host": "127.0.0.1", "port": port, "proc": proc}
    try:
        yield info
    finally:
        for p in {proc, info["proc"]}:  # the broker-restart test replaces the process
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        log.close()


def _die_with_parent():
    """Linux: the broker gets SIGTERM when the test process dies, so a killed test run leaves no broker behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@pytest.fixture
def bearing_settings(tmp_path):
    """Settings with the shipped bearing-wear models; skipped (with the reason) if they do not load here."""
    from edgeinv.common.runtime.bundle import load_runner

    settings = load_settings(env={}, data_dir=tmp_path / "data", models_dir=os.environ.get("EDGEINV_MODELS_DIR"))
    app = get_app("bearing-wear")
    try:
        load_runner(app, settings, config="default")
    except ModelError as exc:
        pytest.skip(f"the bearing-wear models do not load: {exc}")
    return settings


class Collector:
    """A test client subscribed to the result and error topics."""

    def __init__(self, broker, topics=("edgeinv/results/#", "edgeinv/errors/#", "edgeinv/events/#")):
        self.messages: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="",
                                  protocol=mqtt.MQTTv5)
        ready = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: (c.subscribe([(t, 1) for t in topics]), None)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(broker["host"], broker["port"])
        self.client.loop_start()
        assert ready.wait(10), "collector did not subscribe"

    def _on_message(self, client, userdata, msg):
        with self._lock:
            self.messages.append((msg.topic, json.loads(msg.payload)))

    def on(self, prefix: str) -> list[dict]:
        with self._lock:
            return [doc for topic, doc in self.messages if topic.startswith(prefix)]

    def publish(self, topic: str, payload: bytes, **user_props):
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [(k, str(v)) for k, v in user_props.items()]
        info = self.client.publish(topic, payload, qos=1, properties=props)
        info.wait_for_publish(10)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def _recordings(tmp_path, n: int) -> list[bytes]:
    app = get_app("bearing-wear")
    rng = np.random.default_rng(12)
    out = []
    for i in range(n):
        path = tmp_path / f"rec{i}{'.wav' if i % 2 else '.npy'}"
        app.write_example(path, rng, duration=1.5, rpm=1800.0, fs=12000.0)
        out.append(path.read_bytes())
    return out


def _start_ingester(settings, broker, log_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "edgeinv.common.cli", "--data-dir", str(settings.data_dir),
           "--models-dir", str(settings.models_dir), "ingest", "mqtt", "--broker", f"127.0.0.1:{broker['port']}",
           "--topic", FILTER, "--client-id", "test-ingester", "--defaults", '{"bearing": "6205-2rs"}']
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log_path, "ab"), cwd=REPO, env=env)
    status = Path(settings.data_dir) / "ingest" / "status.json"

    def subscribed():
        if proc.poll() is not None:
            raise AssertionError(f"the ingester exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            return json.loads(status.read_text())["pid"] == proc.pid
        except (OSError, ValueError, KeyError):
            return False

    _wait(subscribed, 60, "the ingester to subscribe")
    return proc


def test_topic_filters_give_the_entity():
    assert topic_matches(FILTER, "plant/p1/bearing/m7") == ["p1", "m7"]
    assert topic_matches("plant/#", "plant/a/b") == ["a/b"]
    assert topic_matches(FILTER, "plant/p1/pump/m7") is None
    assert topic_matches(FILTER, "plant/p1/bearing") is None


def test_every_message_stored_and_published_once_across_a_killed_ingester(tmp_path, broker, bearing_settings):
    recs = _recordings(tmp_path, 8)
    rx = Collector(broker)
    log_path = tmp_path / "ingester.log"
    proc = _start_ingester(bearing_settings, broker, log_path)
    expected = set()
    try:
        def send(i):
            key = f"rec-{i}"
            expected.add(f"bearing-wear|id|{key}")
            rx.publish(f"plant/p1/bearing/m{i % 2}", recs[i], **{"message-id": key, "rpm": 1800, "fs": 12000,
                                                               "measured_at": f"2026-12-01T08:0{i}:00Z"})

        for i in range(5):
            send(i)
        rx.publish("plant/p1/bearing/m0", b"\x00\x01 this is not a recording", **{"message-id": "bad-1"})
        _wait(lambda: len(rx.on("edgeinv/results/")) >= 2, 60, "the first results")
        proc.send_signal(signal.SIGKILL)  # mid-stream: messages in flight, unacknowledged
        proc.wait(timeout=10)
        killed_at = len(rx.on("edgeinv/results/"))
        for i in range(5, 8):  # published while the ingester is down: kept in its persistent session
            send(i)
        envelope = {"id": "env-1", "machine": "p1/m1", "rpm": 1800, "fs_hz": 12000,
                    "data_b64": base64.b64encode(recs[0]).decode()}
        expected.add("bearing-wear|id|env-1")
        rx.publish("plant/p1/bearing/m1", json.dumps(envelope).encode())
        proc = _start_ingester(bearing_settings, broker, log_path)

        def all_done():
            keys = {d["message_key"] for d in rx.on("edgeinv/results/")}
            return keys >= expected and rx.on("edgeinv/errors/")

        _wait(all_done, 90, f"all results (log: {log_path})")
        time.sleep(1.0)  # room for any duplicate to arrive
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        rx.close()
    assert code == 0, log_path.read_text()[-2000:]
    assert killed_at < len(expected), "the ingester was not killed mid-stream"
    published = collections.Counter(d["message_key"] for d in rx.on("edgeinv/results/"))
    assert set(published) == expected and set(published.values()) == {1}, published
    (error,) = rx.on("edgeinv/errors/")
    assert error["message_key"] == "bearing-wear|id|bad-1" and error["reason"] and error["topic"] == "plant/p1/bearing/m0"
    store = Store(bearing_settings.db_path)
    results = store.list_results("bearing-wear")
    machines = {m["name"]: m for m in store.list_entities("bearing-wear", "machine")}
    store.close()
    stored = collections.Counter(r["summary"]["ingest"]["message_key"] for r in results)
    assert set(stored) == expected and set(stored.values()) == {1}, stored
    assert set(machines) == {"p1/m0", "p1/m1"}
    assert machines["p1/m0"]["data"]["rpm"] == 1800 and machines["p1/m0"]["data"]["bearing"] == "6205-2rs"
    by_key = {d["message_key"]: d for d in rx.on("edgeinv/results/")}
    r0 = by_key["bearing-wear|id|rec-0"]
    assert r0["entity"]["name"] == "p1/m0" and r0["result"]["alarm"] in ("ok", "watch", "alert", "danger")
    assert r0["measured_at"] == "2026-12-01T08:00:00+00:00"
    assert {r["id"] for r in results} == {d["result_id"] for d in by_key.values()}


@pytest.fixture
def ingester(tmp_path, broker, bearing_settings):
    """An in-process ingester connected to the broker (handle() is called directly)."""
    opts = IngestOptions(broker=f"127.0.0.1:{broker['port']}", topics=[FILTER], client_id="unit-ingester",
                         unknown="refuse")
    ing = Ingester(get_app("bearing-wear"), bearing_settings, opts)
    ing.store.add_entity("bearing-wear", "machine", "p1/m0", {"rpm": 1800.0, "fs_hz": 12000.0, "bearing": "6205-2rs"})
    client = ing._connect()
    client.loop_start()
    yield ing
    client.disconnect()
    client.loop_stop()
    ing.ledger.close()
    ing.store.close()


def _props(**kv):
    p = Properties(PacketTypes.PUBLISH)
    p.UserProperty = [(k, str(v)) for k, v in kv.items()]
    return p


def test_redelivery_after_a_crash_between_store_and_ledger_stores_nothing_new(tmp_path, ingester):
    rec = _recordings(tmp_path, 1)[0]
    topic = "plant/p1/bearing/m0"
    first = ingester.handle(topic, rec, _props(**{"message-id": "x1"}))  # fs and rpm from the machine
    assert first["result_id"] and first["result"]["operating_point"]["rpm"] == pytest.approx(1800, rel=0.03)
    key = first["message_key"]
    assert ingester.handle(topic, rec, _props(**{"message-id": "x1"}))["duplicate"] is True
    ingester.ledger.set(key, topic, "claimed")  # as if killed right after add_result
    again = ingester.handle(topic, rec, _props(**{"message-id": "x1"}))
    ingester.ledger.set(key, topic, "stored")  # as if killed before the publish
    once_more = ingester.handle(topic, rec, _props(**{"message-id": "x1"}))
    assert again["result_id"] == once_more["result_id"] == first["result_id"]
    assert len(ingester.store.list_results("bearing-wear")) == 1
    # without a message id the identity is the payload's hash
    a = ingester.handle(topic, rec, _props(rpm=1800))
    b = ingester.handle(topic, rec, _props(rpm=1800))
    assert b["duplicate"] and a["result_id"] == b["result_id"] and a["message_key"].startswith("bearing-wear|sha256|")


@pytest.mark.parametrize("payload, props, reason", [
    (b"", {}, "empty"),
    (b'{"id": "e", "data_b64": "%%%"}', {}, "base64"),
    (b'{"id": "e2"}', {}, "data_b64"),
    (b"[1, 2", {"message-id": "j"}, "no numeric rows"),
    (b'{"samples": [1, 2, 3], "rpm": "fast"}', {}, "rpm must be a number"),
    (b'{"samples": [0.1, 0.2, 0.3], "machine": "p9/unknown", "rpm": 1800, "fs_hz": 12000}', {}, "unknown machine"),
    (b'{"samples": [0.1, 0.2], "measured_at": "yesterday"}', {}, "ISO 8601"),
])
def test_bad_payloads_are_rejected_with_the_reason(ingester, payload, props, reason):
    out = ingester.handle("plant/p1/bearing/m0", payload, _props(**props))
    assert "result_id" not in out and reason in out["reason"], out
    assert ingester.store.list_results("bearing-wear") == []


def test_results_survive_a_broker_restart(tmp_path, broker, bearing_settings):
    recs = _recordings(tmp_path, 4)
    log_path = tmp_path / "ingester.log"
    proc = _start_ingester(bearing_settings, broker, log_path)
    rx = Collector(broker)
    try:
        for i in range(2):
            rx.publish("plant/p2/bearing/m1", recs[i], **{"message-id": f"b{i}", "rpm": 1800, "fs": 12000})
        _wait(lambda: len(rx.on("edgeinv/results/")) >= 2, 60, "results before the restart")
        rx.close()
        broker["proc"].terminate()  # mosquitto saves its sessions on SIGTERM
        broker["proc"].wait(timeout=10)
        conf = tmp_path / "mosquitto.conf"
        broker["proc"] = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        time.sleep(0.5)
        rx = _wait(lambda: _try_collector(broker), 15, "the restarted broker")
        for i in range(2, 4):
            rx.publish("plant/p2/bearing/m1", recs[i], **{"message-id": f"b{i}", "rpm": 1800, "fs": 12000})
        _wait(lambda: {d["message_key"] for d in rx.on("edgeinv/results/")} >= {"bearing-wear|id|b2", "bearing-wear|id|b3"},
              60, f"results after the restart (log: {log_path})")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        rx.close()
    store = Store(bearing_settings.db_path)
    keys = sorted(r["summary"]["ingest"]["message_key"] for r in store.list_results("bearing-wear"))
    store.close()
    assert keys == [f"bearing-wear|id|b{i}" for i in range(4)]


def _try_collector(broker):
    try:
        return Collector(broker)
    except (OSError, AssertionError):
        return None


def test_alarm_change_is_posted_to_a_signed_webhook(tmp_path, ingester):
    from test_notify import SECRET, Receiver

    from edgeinv.common.ingest.notify import Notifier, verify_signature

    rx = Receiver([500, 200])
    ingester.notifier = Notifier(tmp_path / "outbox.db", urls=[rx.url], secret=SECRET, backoff_s=0.05).start()
    try:
        (machine,) = ingester.store.list_entities("bearing-wear", "machine")
        ingester.store.add_result("bearing-wear", machine["id"], {"alarm": "earlier-level"})
        out = ingester.handle("plant/p1/bearing/m0", _recordings(tmp_path, 1)[0], _props(**{"message-id": "w1"}))
        assert ingester.notifier.flush(timeout_s=15)
    finally:
        ingester.notifier.stop()
        rx.close()
    (ok,) = rx.accepted()
    event = json.loads(ok["body"])
    assert verify_signature(SECRET, ok["body"], ok["headers"]["X-Edgeinv-Timestamp"], ok["headers"]["X-Edgeinv-Signature"])
    assert event["previous"] == "earlier-level" and event["current"] == out["result"]["alarm"]
    assert event["result_id"] == out["result_id"] and event["entity"]["name"] == "p1/m0"


def test_ingester_without_usable_models_fails_at_start(tmp_path, broker):
    empty = tmp_path / "no-models"
    empty.mkdir()
    proc = subprocess.run([sys.executable, "-m", "edgeinv.common.cli", "--data-dir", str(tmp_path / "d"),
                           "--models-dir", str(empty), "ingest", "mqtt", "--broker", f"127.0.0.1:{broker['port']}"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 5 and "no model loads" in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_broker_is_a_clear_error(tmp_path, bearing_settings):
    ing = Ingester(get_app("bearing-wear"), bearing_settings,
                   IngestOptions(broker=f"127.0.0.1:{_free_port()}", client_id="x"), runner_for=lambda c: None)
    with pytest.raises(Exception, match="cannot reach the MQTT broker"):
        ing.run()
