"""Crash durability: SIGKILL the server >= 20 times during a stream of uploads; nothing acknowledged is lost.

Uploader threads send bearing-wear recordings, each with its own Idempotency-Key, and retry a request
(same key) until it is answered — as a gateway does after a lost connection. The server is killed with
SIGKILL at random moments and restarted. At the end every result whose request was answered 201 is in
the database with its key, each key is stored exactly once (retries never duplicate), and ``PRAGMA
integrity_check`` is ok. ``EDGEINV_DURABILITY_KILLS`` sets the number of kills (default 20).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import sqlite3
import threading
import time

import pytest

from .harness import ServerProcess, create_entity, make_samples, upload

pytestmark = pytest.mark.load

KILLS = int(os.environ.get("EDGEINV_DURABILITY_KILLS", "20"))
UPLOADERS = 4


def test_sigkill_during_uploads_loses_nothing_acknowledged(tmp_path):
    sample = next(s for s in make_samples(tmp_path / "samples") if s.app == "bearing-wear")
    server = ServerProcess(tmp_path / "data", apps=["bearing-wear"])
    server.start()
    acked: dict[str, int] = {}  # key -> result id of the 201 answer
    attempts = {"sent": 0, "connection_errors": 0, "replayed": 0}
    failures: list = []
    lock = threading.Lock()
    stop = threading.Event()
    up = threading.Event()
    up.set()
    mid = create_entity(server.port, sample)

    def uploader(k: int):
        n = 0
        while not stop.is_set():
            n += 1
            key = f"u{k}-{n}"
            while True:  # retry with the same key until answered
                up.wait(60)
                try:
                    status, headers, body = upload(server.port, sample, mid, key, timeout=60)
                except (OSError, http.client.HTTPException):  # refused, reset, or an answer cut by the kill
                    with lock:
                        attempts["connection_errors"] += 1
                    time.sleep(0.05)
                    continue
                with lock:
                    attempts["sent"] += 1
                if status == 201:
                    with lock:
                        acked[key] = int(json.loads(body)["id"])
                        attempts["replayed"] += headers.get("idempotent-replayed") == "true"
                    break
                if status in (503, 409):
                    time.sleep(0.1)
                    continue
                with lock:
                    failures.append((key, status, body[:300]))
                return

    threads = [threading.Thread(target=uploader, args=(k,), daemon=True) for k in range(UPLOADERS)]
    for t in threads:
        t.start()
    rng = random.Random(7)
    t0 = time.monotonic()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 0.8))
            up.clear()
            server.kill()
            server.start()
            up.set()
        time.sleep(0.5)
    finally:
        stop.set()
        up.set()
        for t in threads:
            t.join(120)
        server.stop()
    elapsed = time.monotonic() - t0

    conn = sqlite3.connect(tmp_path / "data" / "edgeinv.sqlite3")
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    rows = conn.execute("SELECT id, idem_key FROM results WHERE app = 'bearing-wear'").fetchall()
    conn.close()
    by_id = {rid: key for rid, key in rows}
    lost = [k for k, rid in acked.items() if rid not in by_id]
    untagged = [k for k, rid in acked.items() if rid in by_id and not by_id[rid]]
    keys_stored = [key for _, key in rows]
    report = {"failures": [(k, st, b.decode(errors="replace")) for k, st, b in failures][:5], "kills": KILLS, "seconds": round(elapsed, 1), "acknowledged": len(acked), "lost": len(lost),
              "stored": len(rows), "duplicates": len(keys_stored) - len(set(keys_stored)), "integrity": integrity,
              **attempts}
    print("DURABILITY " + json.dumps(report))
    assert failures == []
    assert integrity == "ok"
    assert lost == [] and untagged == []
    assert len(set(acked.values())) == len(acked)  # each acknowledged key has its own result
    assert len(rows) == len(acked)  # every key was retried until answered: stored = acknowledged, once each
    assert len(acked) >= KILLS
