"""Helpers of the load and durability tests: a server subprocess, sample uploads per app, an HTTP client.

Everything runs on loopback. The server is a real process (``tests/load/serve_main.py``, waitress, the
repo's models) so that SIGKILL, restarts and contention behave as on a device.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m tests.load.serve_main DATA PORT [APPS]`` with start/kill/stop."""

    def __init__(self, data_dir: Path, apps=(), env=None):
        self.data_dir, self.apps = Path(data_dir), list(apps)
        self.port = free_port()
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log = open(self.data_dir.parent / f"server-{self.port}.log", "ab")

    def start(self, timeout_s: float = 120.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.load.serve_main", str(self.data_dir), str(self.port),
                                      *self.apps], cwd=REPO_ROOT, env=self.env, stdout=subprocess.PIPE,
                                     stderr=self.log)
        deadline = time.monotonic() + timeout_s
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY"):
            self.kill()
            raise RuntimeError(f"server did not start: {line!r} (log: {self.log.name})")
        while time.monotonic() < deadline:
            try:
                status, _, _ = request("127.0.0.1", self.port, "GET", "/healthz", timeout=10)
                if status in (200, 503):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not answer /healthz")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def request(host: str, port: int, method: str, path: str, body: bytes | None = None, headers=None,
            timeout: float = 60.0) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@dataclass
class Sample:
    app: str
    create_path: str
    create_body: dict
    upload_path: str  # with {id}
    data: bytes
    filename: str
    query: str = ""


def make_samples(folder: Path) -> list[Sample]:
    """One small valid upload per app (simulated recording, spectra CSV, 5-band GeoTIFF)."""
    from edgeinv.common.app import get_app

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    bw = get_app("bearing-wear")
    bw.write_example(folder / "rec.wav", np.random.default_rng(1), fault="outer_race", size_mm=1.0, rpm=1797,
                     fs=12000, duration=1.5)
    out.append(Sample("bearing-wear", "/bearing-wear/api/entities", {"name": "pump 1", "rpm": 1797},
                      "/bearing-wear/api/entities/{id}/uploads", (folder / "rec.wav").read_bytes(), "rec.wav"))
    from edgeinv.apps.leaf_nitrogen.io import write_leaves_csv
    from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves

    write_leaves_csv(folder / "leaves.csv", simulate_leaves(1, rng=np.random.default_rng(1), config="full", prefix="leaf"))
    out.append(Sample("leaf-nitrogen", "/leaf-nitrogen/api/entities", {"name": "north", "crop": "wheat", "stage": "tillering"},
                      "/leaf-nitrogen/api/entities/{id}/uploads", (folder / "leaves.csv").read_bytes(), "leaves.csv"))
    import rasterio
    from rasterio.transform import from_origin

    arr = np.random.default_rng(0).uniform(500, 5000, (5, 64, 64)).astype(np.uint16)
    with rasterio.open(folder / "field.tif", "w", driver="GTiff", width=64, height=64, count=5, dtype="uint16",
                       crs="EPSG:32631", transform=from_origin(500000, 5000000, 0.05, 0.05)) as dst:
        dst.write(arr)
        for i, name in enumerate(["blue", "green", "red", "rededge", "nir"], 1):
            dst.set_band_description(i, name)
    out.append(Sample("veg-cover", "/veg-cover/api/entities", {"name": "june", "camera": "multispectral5"},
                      "/veg-cover/api/entities/{id}/uploads", (folder / "field.tif").read_bytes(), "field.tif"))
    return out


def create_entity(port: int, sample: Sample) -> int:
    status, _, body = request("127.0.0.1", port, "POST", sample.create_path, json.dumps(sample.create_body).encode(),
                              {"Content-Type": "application/json"})
    assert status == 201, (status, body[:300])
    return int(json.loads(body)["id"])


def upload(port: int, sample: Sample, entity_id: int, key: str | None, timeout: float = 120.0):
    headers = {"Content-Type": "application/octet-stream"}
    if key:
        headers["Idempotency-Key"] = key
    path = sample.upload_path.format(id=entity_id) + f"?filename={sample.filename}" + sample.query
    return request("127.0.0.1", port, "POST", path, sample.data, headers, timeout=timeout)


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")
