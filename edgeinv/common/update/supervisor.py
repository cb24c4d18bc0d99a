"""A plain process supervisor for one device: boot counting, trial boots, commit, rollback, restarts.

Standard library only; runs from the installed tools (``P/bin/edgeinv-supervisor``, the systemd unit's
main process, or directly in CI). Each start of the server is a *boot*: a slot on trial is counted before
it starts (:func:`~edgeinv.common.update.slots.boot_select`), committed once ``/healthz`` is healthy, and
rolled back -- database snapshot restored -- after ``MAX_BOOTS`` failed boots. A committed release that
exits is restarted with a back-off. The supervisor follows ``state.json``: when an updater puts a slot on
trial, the running server is stopped and the trial boot starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .health import wait_healthy
from .slots import Device, boot_select, commit, die_with_parent

HEALTH_TIMEOUT = float(os.environ.get("EDGEINV_HEALTH_TIMEOUT", "120"))


def _point_current(dev: Device, slot: str) -> None:
    tmp = dev.p / "current.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(dev.slot_dir(slot), tmp)
    os.replace(tmp, dev.p / "current")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def supervise(prefix: str | Path, *, host: str | None = None, port: int | None = None) -> int:
    dev = Device(prefix)
    cfg = dev.config()
    host = host or cfg.get("host", "127.0.0.1")
    port = int(port or cfg.get("port", 8080))
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/healthz"
    (dev.p / "run").mkdir(exist_ok=True)
    (dev.p / "run" / "supervisor.pid").write_text(f"{os.getpid()}\n")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    proc, backoff = None, 1.0
    dev.var.mkdir(parents=True, exist_ok=True)
    try:
        while not stopping:
            slot, trial = boot_select(dev)
            if slot is None:
                time.sleep(1)
                continue
            state = dev.load()
            apps = sorted(((state.get("slots") or {}).get(slot) or {}).get("apps", {}))
            _point_current(dev, slot)
            log_path = dev.var / "serve.log"
            if log_path.is_file() and log_path.stat().st_size > 5_000_000:  # keep one old log, never fill the disk
                os.replace(log_path, log_path.with_name("serve.log.1"))
            with open(log_path, "ab") as log:
                proc = subprocess.Popen([str(dev.slot_dir(slot) / "bin" / "edgeinv"), "serve", "--host", host,
                                         "--port", str(port)], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                        preexec_fn=die_with_parent())
            started = time.monotonic()
            if trial:
                ok, why = wait_healthy(url, proc, apps, timeout=HEALTH_TIMEOUT)
                if not ok:
                    dev.log("boot failed", slot=slot, boot=state.get("boots"), reason=why)
                    _stop(proc)
                    continue
                commit(dev, slot)
            while not stopping:
                time.sleep(0.5)
                if proc.poll() is not None:
                    dev.log("server exited", slot=slot, status=proc.returncode)
                    if time.monotonic() - started > 60:
                        backoff = 1.0
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    break
                st = dev.load()
                want = st.get("trying") or st.get("committed")
                if want != slot:
                    dev.log("restarting for a new slot", running=slot, next=want)
                    _stop(proc)
                    break
    finally:
        _stop(proc)
    return 0


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="edgeinv-supervisor")
    p.add_argument("--prefix", required=True)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    a = p.parse_args(argv)
    return supervise(a.prefix, host=a.host, port=a.port)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
