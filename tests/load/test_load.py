"""Load test: >= 50 concurrent clients mix pages, uploads for every app and health checks on one server.

CI runs it for ``EDGEINV_LOADTEST_S`` seconds (default 20); ``make loadtest`` runs 60 s and prints the
figures. Passes when no request fails (a 503 with Retry-After is back-pressure: the client waits and
retries with the same Idempotency-Key, as a gateway does; it is counted, not an error), the stored
results of every app equal the successful uploads exactly, and ``/healthz`` always answers.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time

import pytest

from .harness import ServerProcess, create_entity, make_samples, percentile, request, upload

pytestmark = pytest.mark.load

CLIENTS = int(os.environ.get("EDGEINV_LOADTEST_CLIENTS", "50"))
DURATION_S = float(os.environ.get("EDGEINV_LOADTEST_S", "20"))


def test_fifty_clients_mixed_traffic(tmp_path):
    samples = make_samples(tmp_path / "samples")
    server = ServerProcess(tmp_path / "data")
    server.start()
    stats = {"requests": 0, "errors": [], "busy_503": 0, "uploads_ok": {s.app: set() for s in samples},
             "health_ms": [], "page_ms": [], "upload_ms": []}
    lock = threading.Lock()
    try:
        port = server.port
        entities = {s.app: create_entity(port, s) for s in samples}
        for s in samples:  # every app analyses its sample before the load starts
            status, _, body = upload(port, s, entities[s.app], key=f"probe-{s.app}")
            assert status == 201, (s.app, status, body[:400])
            stats["uploads_ok"][s.app].add(json.loads(body)["id"])
        pages = ["/", *(f"/{a}/" for a in entities), *(f"/{a}/api/entities" for a in entities),
                 *(f"/{a}/entities/{i}" for a, i in entities.items())]
        stop_at = time.monotonic() + DURATION_S

        def client(k: int):
            rng = random.Random(k)
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                roll = rng.random()
                t0 = time.perf_counter()
                try:
                    if roll < 0.25:
                        status, _, _ = request("127.0.0.1", port, "GET", "/healthz", timeout=60)
                        with lock:
                            stats["requests"] += 1
                            stats["health_ms"].append((time.perf_counter() - t0) * 1000)
                        if status != 200:
                            with lock:
                                stats["errors"].append(("healthz", status))
                    elif roll < 0.65:
                        path = rng.choice(pages)
                        status, _, _ = request("127.0.0.1", port, "GET", path, timeout=60)
                        with lock:
                            stats["requests"] += 1
                            stats["page_ms"].append((time.perf_counter() - t0) * 1000)
                        if status != 200:
                            with lock:
                                stats["errors"].append((path, status))
                    else:
                        s = samples[(k + n) % len(samples)]
                        key = f"c{k}-n{n}"
                        for _attempt in range(30):
                            status, headers, body = upload(port, s, entities[s.app], key)
                            with lock:
                                stats["requests"] += 1
                            if status == 503 and "retry-after" in headers:
                                with lock:
                                    stats["busy_503"] += 1
                                time.sleep(min(float(headers["retry-after"]), 1.0) * rng.uniform(0.5, 1.5))
                                continue
                            break
                        with lock:
                            stats["upload_ms"].append((time.perf_counter() - t0) * 1000)
                            if status == 201:
                                stats["uploads_ok"][s.app].add(json.loads(body)["id"])
                            else:
                                stats["errors"].append((s.app, status, body[:200]))
                except (OSError, http.client.HTTPException) as exc:
                    with lock:
                        stats["errors"].append(("connection", repr(exc)))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        t_start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(DURATION_S + 300)
        elapsed = time.monotonic() - t_start
        _, _, health = request("127.0.0.1", port, "GET", "/healthz")
        analysis = json.loads(health)["analysis"]
        peak_rss_mb = _peak_rss_mb(server.proc.pid)
    finally:
        server.stop()

    from edgeinv.common.web.store import Store

    store = Store(tmp_path / "data" / "edgeinv.sqlite3")
    stored = {s.app: {r["id"] for r in store.list_results(s.app)} for s in samples}
    integrity = store.integrity_check()
    store.close()
    ok = {a: len(v) for a, v in stats["uploads_ok"].items()}
    report = {"clients": CLIENTS, "seconds": round(elapsed, 1), "requests": stats["requests"],
              "errors": len(stats["errors"]), "busy_503_retried": stats["busy_503"], "uploads_ok": ok,
              "stored": {a: len(v) for a, v in stored.items()},
              "healthz_ms_p50": round(percentile(stats["health_ms"], 50), 1),
              "healthz_ms_p95": round(percentile(stats["health_ms"], 95), 1),
              "page_ms_p50": round(percentile(stats["page_ms"], 50), 1),
              "upload_ms_p50": round(percentile(stats["upload_ms"], 50), 1), "server_peak_rss_mb": peak_rss_mb,
              "analysis": analysis}
    print("LOADTEST " + json.dumps(report))
    assert stats["errors"] == [], stats["errors"][:10]
    assert stored == {a: v for a, v in stats["uploads_ok"].items()}  # stored results = successful answers
    assert all(n > 1 for n in ok.values()) and integrity == "ok"


def _peak_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
