"""Health of a release: the self-test on this CPU before the switch, ``/healthz`` after a boot.

Standard library only. ``/healthz`` counts as healthy when it answers 200 with status ``ok`` -- or
``degraded`` only because apps that are *not installed on this device* have no models: every installed
app must have its models present and verified and a usable self-test choice, the store must answer and
no app may be broken. A slow or silent server is unhealthy.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .slots import checkpoint, die_with_parent


def selftest_slot(slot_dir: Path, check_dir: Path, *, timeout: float = 600) -> tuple[bool, str]:
    """``edgeinv selftest`` of a staged slot (every installed app, golden sets on this CPU)."""
    check_dir.mkdir(parents=True, exist_ok=True)
    cmd = [str(slot_dir / "bin" / "edgeinv"), "--data-dir", str(check_dir), "--json", "selftest", "--repeats", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent())
    checkpoint("health")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return False, f"self-test did not finish in {timeout:.0f} s"
    if proc.returncode == 0:
        return True, "self-test passed"
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")] or err.strip().splitlines()[-1:] or ["?"]
    why = lines[-1].removeprefix("error: ")
    try:  # the first reason a variant was rejected says what is wrong (e.g. the device key)
        doc = json.loads(out[:out.rindex("}") + 1] if "}" in out else "{}")
        reasons = [r for a in doc.get("apps", []) for c in a.get("configs", {}).values()
                   for v in c.get("variants", {}).values() for r in v.get("reasons", [])]
        if reasons:
            why += f" (first reason: {reasons[0]})"
    except ValueError:
        pass
    return False, f"self-test failed (exit {proc.returncode}): {why}"


def judge(body: dict, installed_apps: list[str]) -> tuple[bool, str]:
    """Whether a ``/healthz`` document means healthy for a device with ``installed_apps``."""
    status = body.get("status")
    if status == "error":
        return False, "healthz status error"
    if not (body.get("db") or {}).get("ok"):
        return False, "the store does not answer"
    if body.get("broken_apps"):
        return False, f"broken apps: {', '.join(body['broken_apps'])}"
    apps = body.get("apps") or {}
    for name in installed_apps:
        a = apps.get(name)
        if a is None:
            return False, f"{name} is not served"
        if not a.get("models_present") or a.get("models_verified") is False:
            return False, f"{name}: models missing or not verified"
        if (a.get("selftest") or {}).get("usable") is False:
            return False, f"{name}: no variant usable on this CPU"
    if status not in ("ok", "degraded"):
        return False, f"healthz status {status!r}"
    return True, f"healthz {status}"


def fetch_healthz(url: str, timeout: float = 5) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def wait_healthy(url: str, proc: subprocess.Popen, installed_apps: list[str], *, timeout: float) -> tuple[bool, str]:
    """Poll ``/healthz`` until it is healthy, the server exits, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False, f"the server exited with status {proc.returncode} ({last})"
        code, body = fetch_healthz(url)
        if code:
            ok, last = judge(body, installed_apps)
            if ok:
                return True, last
            if code == 503 or body.get("status") == "error":
                return False, last
        time.sleep(0.5)
    return False, f"not healthy within {timeout:.0f} s ({last})"
