"""MQTT ingest: subscribe to sensor-gateway topics, run each recording through the app, store and publish the result.

``edgeinv ingest mqtt --broker HOST:PORT --topic 'plant/+/bearing/+' [--app bearing-wear]`` (needs the
``ingest`` extra: paho-mqtt). One message = one file (WAV, NPY, CSV, GeoTIFF/JPEG ... whatever the app
reads), with its metadata either

* in MQTT v5 user properties (``fs``/``fs_hz``, ``rpm``, ``machine``, ``measured_at``, ``filename``,
  ``message-id``, and any other reader option such as ``bearing`` or ``channel``), the payload being
  the file's bytes; or
* in a JSON envelope (payload starting with ``{``): ``{"id": ..., "machine": ..., "fs_hz": ...,
  "rpm": ..., "measured_at": ..., "filename": ..., "data_b64": "<base64 file>"}`` or ``"samples":
  [numbers]`` instead of ``data_b64`` (stored as a ``.npy`` recording).

The entity (machine, field, flight) is the ``machine``/``entity`` metadata, else the topic levels
matched by the filter's wildcards joined with ``/`` (``plant/p1/bearing/m7`` -> ``p1/m7``), else the
topic's last level; unknown entities are created or refused (``--unknown``).

Exactly once: QoS 1 subscriptions in a persistent session (fixed client id, clean start off, session
expiry), manual acknowledgements, and the :class:`~.ledger.Ledger`: a message is acknowledged only
after its result is stored *and* published (or its rejection published), so the broker redelivers
whatever an ingester crash or broker restart interrupted, and the ledger makes the redelivery store
nothing new (the stored summary carries ``ingest.message_key``). The ingester also subscribes to its
own result topics: after a crash between the broker's acknowledgement of a result message and the
ledger write, that result's echo (queued in the session) says it went out, so it is not published
twice. Results go to ``<result prefix>/<topic>``, rejections (with the reason) to
``<error prefix>/<topic>``; both carry ``message_key``. A bad payload never stops the ingester.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, EdgeinvError, InvalidInputError, ModelError, PayloadTooLargeError
from ..web.store import Store, jsonable
from . import analyse as _an
from .ledger import Ledger
from .notify import Notifier, change_event

log = logging.getLogger("edgeinv.ingest")


class TransientError(Exception):
    """The message could not be handled *now* (store locked, broker gone): keep it and try again."""


def _paho():
    try:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
    except ImportError:
        raise ConfigError("MQTT ingest needs paho-mqtt: pip install 'edgeinv[ingest]'") from None
    return mqtt, Properties, PacketTypes


def parse_broker(text: str) -> tuple[str, int]:
    host, _, port = str(text).strip().rpartition(":")
    if not host:
        host, port = port, "1883"
    try:
        p = int(port)
        if not 0 < p < 65536:
            raise ValueError
    except ValueError:
        raise InvalidInputError(f"--broker must be HOST:PORT, got {text!r}") from None
    return host.strip("[]"), p


def topic_matches(filter_: str, topic: str) -> list[str] | None:
    """The levels matched by ``+``/``#`` if ``topic`` matches ``filter_``, else None."""
    f, t = filter_.split("/"), topic.split("/")
    found = []
    for i, level in enumerate(f):
        if level == "#":
            found.append("/".join(t[i:]))
            return found
        if i >= len(t):
            return None
        if level == "+":
            found.append(t[i])
        elif level != t[i]:
            return None
    return found if len(f) == len(t) else None


@dataclass
class IngestOptions:
    """What ``edgeinv ingest mqtt`` was told (validated in :class:`Ingester`)."""

    broker: str = "127.0.0.1:1883"
    topics: list[str] = field(default_factory=lambda: ["plant/+/bearing/+"])
    app: str = "bearing-wear"
    client_id: str = ""
    unknown: str = "create"
    result_prefix: str = "edgeinv/results"
    error_prefix: str = "edgeinv/errors"
    event_prefix: str = "edgeinv/events"
    session_expiry_s: int = 7 * 86400
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = None
    tls: bool = False
    cafile: str | None = None
    entity_defaults: dict = field(default_factory=dict)


class Ingester:
    """The MQTT ingest loop (see the module docstring). ``run()`` blocks; ``stop()`` from another thread."""

    def __init__(self, app, settings, options: IngestOptions, *, runner_for=None, notifier: Notifier | None = None,
                 store: Store | None = None):
        self.app, self.settings, self.opt = app, settings, options
        self.host, self.port = parse_broker(options.broker)
        if not options.topics:
            raise InvalidInputError("give at least one --topic")
        for t in options.topics:
            if not t or t.startswith((options.result_prefix, options.error_prefix, options.event_prefix)):
                raise InvalidInputError(f"--topic {t!r} overlaps the result/error/event topics")
        self.client_id = options.client_id or f"edgeinv-ingest-{socket.gethostname()}-{app.package_name}"
        self.store = store or Store(settings.db_path)
        self.ledger = Ledger(Path(settings.data_dir) / "ingest" / "ledger.db")
        self.entities = _an.EntityResolver(self.store, app, unknown=options.unknown, defaults=options.entity_defaults)
        self._runners: dict = {}
        self._runner_for = runner_for
        self.notifier = notifier
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._client = None
        self.max_bytes = int(float(settings.max_upload_mb) * 1e6)
        self.status_path = Path(settings.data_dir) / "ingest" / "status.json"
        self.sync_prefix = f"{options.result_prefix}-sync/" + "".join("_" if ch in "+#/" else ch for ch in self.client_id)
        self._sync_waiters: dict[str, threading.Event] = {}

    # ---- model -------------------------------------------------------------------------------
    def runner_for(self, config: str):
        if self._runner_for is not None:
            return self._runner_for(config)
        if config not in self._runners:  # the device's runner, as for an upload (same numbers)
            from ..analysis import device_runner

            self._runners[config] = device_runner(self.app, self.settings, config)
        return self._runners[config]

    # ---- MQTT plumbing ---------------------------------------------------------------------------
    def _connect(self):
        mqtt, Properties, PacketTypes = _paho()
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if self.opt.username:
            client.username_pw_set(self.opt.username, self.opt.password)
        if self.opt.tls or self.opt.cafile:
            try:
                client.tls_set(ca_certs=self.opt.cafile)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot set up TLS to the broker (--cafile {self.opt.cafile}): {exc}") from None
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = lambda c, u, flags, rc, props: log.warning("disconnected from the broker (%s)", rc)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = int(self.opt.session_expiry_s)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        try:
            client.connect(self.host, self.port, keepalive=int(self.opt.keepalive_s), clean_start=False, properties=props)
        except OSError as exc:
            raise ConfigError(f"cannot reach the MQTT broker {self.host}:{self.port}: {exc}") from None
        self._client = client
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        # our own result messages come back in the persistent session (see _on_echo), then the sync markers
        client.subscribe([(t, 1) for t in self.opt.topics] + [(f"{self.opt.result_prefix}/#", 1),
                                                               (f"{self.sync_prefix}/#", 1)])
        log.info("connected to %s:%d as %s (session present: %s); subscribed to %s", self.host, self.port,
                 self.client_id, flags.session_present, ", ".join(self.opt.topics))
        self.status_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "client_id": self.client_id, "topics": self.opt.topics,
                                   "session_present": bool(flags.session_present), "at": time.time()}))
        tmp.replace(self.status_path)

    def _on_message(self, client, userdata, msg):
        if msg.topic.startswith((f"{self.opt.result_prefix}/", f"{self.sync_prefix}/")):
            self._on_echo(msg)
            client.ack(msg.mid, msg.qos)
            return
        self._queue.put(msg)

    def _on_echo(self, msg) -> None:
        """A result message we published came back: the broker has it, so the ledger may say ``published``.

        This closes the gap between the broker's PUBACK of a result and the ledger write: after a crash
        there, the echo (queued in the persistent session) tells the restarted ingester not to publish again.
        """
        try:
            if msg.topic.startswith(f"{self.sync_prefix}/"):
                waiter = self._sync_waiters.get(msg.topic.rsplit("/", 1)[-1])
                if waiter is not None:
                    waiter.set()
                return
            doc = json.loads(msg.payload)
            key = doc.get("message_key") if isinstance(doc, dict) else None
            if key and (self.ledger.get(key) or {}).get("state") == "stored":
                self.ledger.set(key, str(doc.get("topic") or ""), "published")
        except Exception:  # noqa: BLE001 - someone else's message on our result topics
            log.debug("ignored a message on %s", msg.topic)

    def _sync_echoes(self, timeout_s: float = 10.0) -> bool:
        """Wait until every result message queued for us before now has come back (a marker round trip)."""
        token = uuid.uuid4().hex
        waiter = self._sync_waiters[token] = threading.Event()
        try:
            self.publish(f"{self.sync_prefix}/{token}", b"{}")
            ok = waiter.wait(timeout_s)
        finally:
            self._sync_waiters.pop(token, None)
        if not ok:
            log.warning("no echo from the broker within %g s; publishing the result again if needed", timeout_s)
        return ok

    def publish(self, topic: str, payload: bytes, *, timeout_s: float = 30.0) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK (raises if it does not come)."""
        info = self._client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=timeout_s)
        if not info.is_published():
            raise ConnectionError(f"the broker did not acknowledge {topic} within {timeout_s:g} s")

    # ---- one message --------------------------------------------------------------------------------
    def decode(self, topic: str, payload: bytes, properties=None) -> tuple[bytes, dict, str]:
        """``(file bytes, metadata, message key)`` of a message; InvalidInputError for a bad one."""
        meta: dict = {}
        for k, v in (getattr(properties, "UserProperty", None) or []):
            meta[str(k).strip().lower()] = v
        content_type = str(getattr(properties, "ContentType", "") or "")
        data = bytes(payload)
        if len(data) > self.max_bytes:
            raise PayloadTooLargeError(f"message of {len(data) / 1e6:.1f} MB is larger than the "
                                       f"{self.settings.max_upload_mb:g} MB limit")
        if content_type.startswith("application/json") or data.lstrip()[:1] == b"{":
            try:
                env = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidInputError(f"the JSON envelope does not parse: {exc}") from None
            if not isinstance(env, dict):
                raise InvalidInputError("the JSON envelope must be an object")
            if isinstance(env.get("data_b64") or env.get("data"), str):
                try:
                    data = base64.b64decode(env.get("data_b64") or env["data"], validate=True)
                except (binascii.Error, ValueError):
                    raise InvalidInputError("'data_b64' is not valid base64") from None
            elif "samples" in env:
                data = _an.samples_to_npy(env["samples"])
                env.setdefault("filename", "samples.npy")
            else:
                raise InvalidInputError("the JSON envelope has no 'data_b64' (base64 file) or 'samples' (numbers)")
            meta.update({str(k).lower(): v for k, v in env.items() if k not in ("data", "data_b64", "samples")})
        if not data:
            raise InvalidInputError("the message is empty")
        ident = meta.get("message-id") or meta.get("message_id") or meta.get("id")
        if ident not in (None, ""):
            key = f"{self.app.name}|id|{ident}"
        else:
            h = hashlib.sha256(topic.encode() + b"\0" + data + b"\0" +
                               json.dumps(sorted((k, str(v)) for k, v in meta.items())).encode())
            key = f"{self.app.name}|sha256|{h.hexdigest()}"
        return data, meta, key

    def entity_name(self, topic: str, meta: dict) -> str:
        for k in ("machine", "entity", _an.entity_kind(self.app)):
            if meta.get(k) not in (None, ""):
                return str(meta[k])
        for f in self.opt.topics:
            levels = topic_matches(f, topic)
            if levels:
                return "/".join(levels)
        return topic.rsplit("/", 1)[-1]

    def _find_stored(self, entity: dict, key: str) -> dict | None:
        for r in reversed(self.store.list_results(self.app.name, entity["id"])):
            if (r["summary"].get("ingest") or {}).get("message_key") == key:
                return r
        return None

    def handle(self, topic: str, payload: bytes, properties=None) -> dict:
        """Process one message up to (not including) the broker ack; returns what was published."""
        key = None
        try:
            data, meta, key = self.decode(topic, payload, properties)
            seen = self.ledger.get(key)
            if seen and seen["state"] in ("published", "rejected"):
                log.info("duplicate of %s (%s): acknowledged, nothing stored", key, seen["state"])
                return {"duplicate": True, **(seen["payload"] or {})}
            if not (seen and seen["state"] == "stored"):
                out = self._store(topic, data, meta, key, recovering=seen is not None)
            else:  # stored, maybe published before a crash: let the echoes of our results come in first
                out = seen["payload"]
                if self._client is not None and self._sync_echoes() and \
                        (self.ledger.get(key) or {}).get("state") == "published":
                    log.info("%s was published before a restart: acknowledged, not published again", key)
                    return {"duplicate": True, **out}
            self._notify(out)
            self.publish(f"{self.opt.result_prefix}/{topic}", json.dumps(out, allow_nan=False).encode())
            self.ledger.set(key, topic, "published")
            log.info("%s -> result %s (%s)", topic, out["result_id"], out["entity"]["name"])
            return out
        except sqlite3.OperationalError as exc:  # locked or full store: try the message again later
            raise TransientError(f"the result store is not writable now: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a bad payload is rejected, never fatal
            if isinstance(exc, (ConnectionError, TransientError)):
                raise  # broker trouble: the message stays unacknowledged and is tried again
            return self._reject(topic, key, exc)

    def _store(self, topic: str, data: bytes, meta: dict, key: str, *, recovering: bool) -> dict:
        self.ledger.set(key, topic, "claimed")
        rmeta = _an.reader_meta(self.app, meta)
        entity = self.entities.resolve(self.entity_name(topic, meta), meta=rmeta,
                                       origin={"via": "mqtt", "topic": topic})
        stored = self._find_stored(entity, key) if recovering else None
        if stored is None:
            filename = _an.safe_filename(meta.get("filename"), data, default_stem=topic.rsplit("/", 1)[-1] or "message")
            updates: list = []
            summary, blobs = _an.analyse(self.app, data, filename=filename, meta=rmeta, runner_for=self.runner_for,
                                         entity=entity, measured_at=meta.get("measured_at"), updates=updates)
            summary["ingest"] = {"via": "mqtt", "topic": topic, "message_key": key}
            rid = self.store.add_result(self.app.name, entity["id"], summary, blobs or None)
            for update in updates:
                _an.apply_update(self.store, entity["id"], update)
        else:
            rid, summary = stored["id"], stored["summary"]
        out = {"message_key": key, "topic": topic, "app": self.app.name,
               "entity": {"id": entity["id"], "kind": entity["kind"], "name": entity["name"]},
               "result_id": rid, "measured_at": summary.get("measured_at"), "result": jsonable(summary)}
        self.ledger.set(key, topic, "stored", result_id=rid, payload=out)
        return out

    def _notify(self, out: dict) -> None:
        if self.notifier is None:
            return
        try:
            event = change_event(self.store, self.app.name, out["result_id"])
            if event:
                self.notifier.emit(event)
        except EdgeinvError as exc:  # the result is stored and goes out anyway
            log.warning("no notification for result %s: %s", out.get("result_id"), exc)

    def _reject(self, topic: str, key: str | None, exc: Exception) -> dict:
        status = getattr(exc, "status", 400 if isinstance(exc, (ValueError, KeyError, TypeError)) else 500)
        doc = {"message_key": key, "topic": topic, "error": type(exc).__name__,
               "reason": getattr(exc, "message", None) or str(exc), "status": status}
        if not isinstance(exc, (EdgeinvError, ValueError)):
            log.exception("unexpected failure on %s", topic)
        else:
            log.warning("rejected %s: %s", topic, doc["reason"])
        self.publish(f"{self.opt.error_prefix}/{topic}", json.dumps(doc).encode())
        if key:
            self.ledger.set(key, topic, "rejected", payload=doc)
        return doc

    # ---- loop -------------------------------------------------------------------------------------------
    def check_models(self) -> list[str]:
        """Load the app's models before subscribing: a device without usable models fails at start, not per message."""
        loaded, errors = [], []
        for config in self.app.configs:
            try:
                self.runner_for(config)
                loaded.append(config)
            except EdgeinvError as exc:
                errors.append(f"{config}: {exc}")
        if not loaded:
            raise ModelError(f"{self.app.name}: no model loads, so the ingester would reject every message "
                             f"({'; '.join(errors)})", hint="run `make models` or check --models-dir")
        for e in errors:
            log.warning("%s config %s", self.app.name, e)
        return loaded

    def run(self, *, max_messages: int | None = None) -> dict:
        """Connect, subscribe and work until :meth:`stop` (or ``max_messages`` handled); returns counts."""
        if self._runner_for is None:
            self.check_models()
        self.ledger.prune()
        client = self._connect()
        client.loop_start()
        if self.notifier is not None:
            self.notifier.start()
        handled, retries = 0, 0
        try:
            while not self._stop.is_set() and (max_messages is None or handled < max_messages):
                try:
                    msg = self._queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                if msg.topic.startswith((self.opt.result_prefix, self.opt.error_prefix, self.opt.event_prefix)):
                    client.ack(msg.mid, msg.qos)
                    continue
                try:
                    self.handle(msg.topic, msg.payload, getattr(msg, "properties", None))
                except (ConnectionError, TransientError) as exc:
                    retries += 1
                    delay = min(30.0, 0.5 * 2 ** min(retries, 6))
                    log.error("%s; trying the message again in %.0f s", exc, delay)
                    self._stop.wait(delay)
                    self._queue.put(msg)  # unacknowledged: after a reconnect the broker sends it again too
                    continue
                except Exception:  # noqa: BLE001 - last line of defence: the ingester keeps going
                    log.exception("could not handle a message on %s", msg.topic)
                    continue
                client.ack(msg.mid, msg.qos)
                handled, retries = handled + 1, 0
            counts = self.ledger.counts()
        finally:
            client.disconnect()
            client.loop_stop()
            if self.notifier is not None:
                self.notifier.stop()
            self.ledger.close()
        return {"handled": handled, **counts}

    def stop(self) -> None:
        self._stop.set()
