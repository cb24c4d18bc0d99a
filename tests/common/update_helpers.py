"""Helpers of the delivery tests: bundles built once, a device prefix driven through its own tools."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

from edgeinv.common.app import get_app
from edgeinv.common.config import REPO_ROOT, load_settings
from edgeinv.common.release import build_bundle

APP = "bearing-wear"


def copy_models(dest: Path, *, break_golden: bool = False) -> Path:
    """A private copy of the shipped bearing-wear models; ``break_golden`` makes the self-test fail."""
    import hashlib

    src = REPO_ROOT / "models" / "bearing_wear"
    shutil.copytree(src, dest / "bearing_wear", ignore=shutil.ignore_patterns("*.pt"))
    mpath = dest / "bearing_wear" / "manifest.json"
    manifest = json.loads(mpath.read_text())
    for entry in manifest["configs"].values():
        entry.pop("teacher_checkpoint_sha256", None)
        if break_golden and entry.get("golden"):
            g = dest / "bearing_wear" / entry["golden"]["file"]
            z = dict(np.load(g))
            for k in z:
                if k.startswith("out__") and "std" not in k:
                    z[k] = (z[k] + 50.0).astype(z[k].dtype) if z[k].ndim == 1 else np.roll(z[k], 1, axis=1)
            with open(g, "wb") as fh:
                np.savez(fh, **z)
            entry["golden"]["sha256"] = hashlib.sha256(g.read_bytes()).hexdigest()
    mpath.write_text(json.dumps(manifest))
    return dest


def broken_code_root(dest: Path) -> Path:
    """A source tree whose server migrates the store (schema 99) and then crashes at start."""
    shutil.copytree(REPO_ROOT / "edgeinv", dest / "edgeinv", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(REPO_ROOT / "deploy", dest / "deploy")
    factory = dest / "edgeinv" / "common" / "web" / "factory.py"
    factory.write_text(factory.read_text() + (
        "\n\nimport os as _os, sqlite3 as _sq\n"
        "_c = _sq.connect(_os.path.join(_os.environ['EDGEINV_DATA_DIR'], 'edgeinv.sqlite3'))\n"
        "_c.execute('PRAGMA user_version = 99'); _c.commit(); _c.close()\n"
        "raise RuntimeError('this release is broken on purpose')\n"))
    return dest


def bundle(out: Path, models: Path, key: Path | None, version: str, **kw) -> Path:
    settings = load_settings(models_dir=models, data_dir=out.parent / "build-data")
    build_bundle(get_app(APP), settings, out, sign_key_pem=key.read_bytes() if key else None, version=version, **kw)
    return out


def make_kit(d: Path, versions: dict[str, str]) -> dict:
    """Keys and signed bundles ``{name: version}`` of the shipped bearing-wear models."""
    from edgeinv.common import cli

    assert cli.main(["keygen", str(d / "keys")]) == 0
    good = copy_models(d / "models")
    key = d / "keys" / "signing.pem"
    return {"dir": d, "key": key, "pub": d / "keys" / "signing.pub.pem",
            "bundles": {n: bundle(d / f"{n}.tar.gz", good, key, v) for n, v in versions.items()}}


def serve_channel(folder: Path):
    """A static HTTP server with Range support on loopback (what a plant's file server would be)."""
    import functools
    import http.server
    import threading

    ranges: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def send_head(self):
            rng, path = self.headers.get("Range"), self.translate_path(self.path)
            if not rng or not os.path.isfile(path):
                return super().send_head()
            ranges.append(rng)
            start, size = int(rng.split("=")[1].split("-")[0]), os.path.getsize(path)
            if start >= size:
                self.send_error(416)
                return None
            fh = open(path, "rb")
            fh.seek(start)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.send_header("Content-Length", str(size - start))
            self.end_headers()
            return fh

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.ranges = ranges
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Device:
    """One prefix install with its supervisor, driven only through the installed tools."""

    def __init__(self, prefix: Path, pubkey: Path):
        self.p, self.pubkey, self.port, self.sup = prefix, pubkey, free_port(), None

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEINV_")}
        env.update(EDGEINV_HEALTH_TIMEOUT="60", no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost", **extra)
        return env

    def install(self, bundle_path: Path, *extra) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(REPO_ROOT / "deploy" / "install.sh"), str(bundle_path), "--prefix",
                               str(self.p), "--pubkey", str(self.pubkey), "--port", str(self.port),
                               "--python", sys.executable, *extra],
                              capture_output=True, text=True, env=self.env(), timeout=300)

    def start(self) -> None:
        self.sup = subprocess.Popen([str(self.p / "bin" / "edgeinv-supervisor")], env=self.env(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.sup and self.sup.poll() is None:
            self.sup.send_signal(signal.SIGTERM)
            try:
                self.sup.wait(20)
            except subprocess.TimeoutExpired:
                self.sup.kill()
                self.sup.wait()

    def leftovers(self, timeout: float = 15) -> list[int]:
        """Processes still running from this prefix (none may survive their supervisor)."""
        needle = f"EDGEINV_PREFIX={self.p.resolve()}".encode()
        deadline = time.monotonic() + timeout
        while True:
            found = []
            for d in Path("/proc").iterdir():
                if d.name.isdigit():
                    try:
                        if needle in (d / "environ").read_bytes().split(b"\0") and \
                                "Z" not in (d / "stat").read_text().split(")")[-1].split()[0]:
                            found.append(int(d.name))
                    except OSError:
                        pass
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def update(self, channel: Path, *extra, kill_at: str | None = None) -> subprocess.CompletedProcess:
        env = self.env(**({"EDGEINV_UPDATE_KILL_AT": kill_at} if kill_at else {}))
        return subprocess.run([str(self.p / "bin" / "edgeinv-update"), "--channel", str(channel), "--wait", "120",
                               *extra], capture_output=True, text=True, env=env, timeout=300)

    def state(self) -> dict:
        return json.loads((self.p / "state.json").read_text())

    def log(self) -> list[dict]:
        return [json.loads(x) for x in (self.p / "var" / "update.log").read_text().splitlines() if x.strip()]

    def healthz(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except OSError:
            return 0, {}

    def serving(self) -> str | None:
        """Version of APP in the slot the supervisor runs, once /healthz answers 200."""
        code, body = self.healthz()
        if code != 200 or not body.get("apps", {}).get(APP, {}).get("models_verified"):
            return None
        slot = os.path.basename(os.readlink(self.p / "current"))
        return json.loads((self.p / "slots" / slot / "SLOT.json").read_text())["apps"][APP]

    def wait_serving(self, version: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.state()
            if not st.get("trying") and self.serving() == version:
                return
            time.sleep(0.5)
        raise AssertionError(f"{version} not serving after {timeout} s: state {self.state()}, "
                             f"log {self.log()[-3:]}, healthz {self.healthz()}")
