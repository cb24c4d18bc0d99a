"""The device side of delivery: prefix layout, A/B slots, state, switch, commit, rollback, log.

Standard library only. Layout under the prefix ``P`` (``/opt/edgeinv`` on a device, a temporary folder
in CI)::

    P/etc/signing.pub.pem    the publisher's Ed25519 key: the trust anchor, installed once
    P/etc/device.key         optional X25519 key for models encrypted at rest (mode 0600)
    P/etc/device.json        python to run with, host, port, threads
    P/state.json             committed slot, slot being tried + its boot count, last channel serial
    P/slots/a  P/slots/b     one release each: site/ (the edgeinv wheel, unpacked), models/, bin/edgeinv
    P/envs/<id>/             a virtualenv built offline from a bundle's wheels, shared by slots
    P/lib/                   the installed updater, verifier and supervisor (refreshed on commit only)
    P/bin/                   edgeinv (serving slot), edgeinv-update, edgeinv-supervisor
    P/data/                  EDGEINV_DATA_DIR: the SQLite store; P/var/ update.log, snapshots, downloads

``state.json`` is the single source of truth, replaced atomically (write, fsync, rename). A release is
*committed* only after it passed the self-test before the switch **and** came up healthy on a boot run
by the supervisor; each boot of a slot on trial is counted first, so a crash or power loss at any
moment ends either in the committed slot or, after ``MAX_BOOTS`` failed boots, in a rollback that also
restores the database snapshot taken just before the switch.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import ConfigError, InvalidInputError, ModelIntegrityError

MAX_BOOTS = 2
DB_NAME = "edgeinv.sqlite3"
SLOTS = ("a", "b")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Device:
    """Paths and state of one prefix install."""

    def __init__(self, prefix: str | Path):
        self.p = Path(prefix).resolve()

    etc = property(lambda s: s.p / "etc")
    data = property(lambda s: s.p / "data")
    var = property(lambda s: s.p / "var")
    state_path = property(lambda s: s.p / "state.json")
    log_path = property(lambda s: s.p / "var" / "update.log")
    pubkey = property(lambda s: s.p / "etc" / "signing.pub.pem")

    def slot_dir(self, slot: str) -> Path:
        return self.p / "slots" / slot

    def config(self) -> dict:
        try:
            return json.loads((self.etc / "device.json").read_text())
        except (OSError, ValueError):
            raise ConfigError(f"{self.p} is not an edgeinv device prefix (no etc/device.json); run the installer "
                              "first") from None

    # ---- state -------------------------------------------------------------------------------------
    def load(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {"committed": None, "trying": None, "boots": 0, "index_serial": 0, "slots": {}}
        except ValueError:
            raise ConfigError(f"{self.state_path} is corrupt") from None

    def save(self, state: dict) -> None:
        write_atomic(self.state_path, json.dumps(state, indent=1, sort_keys=True) + "\n")

    @contextlib.contextmanager
    def lock(self, name: str = "state", *, wait: bool = True):
        self.p.mkdir(parents=True, exist_ok=True)
        with open(self.p / f".{name}.lock", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise ConfigError(f"another {name} is running on {self.p}") from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def log(self, event: str, **fields) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"time": now(), "event": event, **fields}, sort_keys=True)
        with open(self.log_path, "a") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        print(f"edgeinv-update: {event}: " + ", ".join(f"{k}={v}" for k, v in fields.items()), file=sys.stderr)

    def read_log(self, n: int = 20) -> list[dict]:
        try:
            lines = self.log_path.read_text().splitlines()[-n:]
        except OSError:
            return []
        return [json.loads(x) for x in lines if x.strip()]

    def serving(self, state: dict | None = None) -> str | None:
        st = state or self.load()
        return st.get("committed")

    def installed_version(self, app: str, state: dict | None = None) -> str | None:
        st = state or self.load()
        slot = st.get("committed")
        return ((st.get("slots") or {}).get(slot) or {}).get("apps", {}).get(app) if slot else None


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def inactive_slot(state: dict) -> str:
    return "b" if state.get("committed") == "a" else "a"


def checkpoint(step: str) -> None:
    """Fault injection for the kill tests: ``EDGEINV_UPDATE_KILL_AT=<step>`` SIGKILLs this process here."""
    if os.environ.get("EDGEINV_UPDATE_KILL_AT") == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def die_with_parent():
    """A ``preexec_fn``: the child gets SIGKILL when the process that starts it dies (Linux prctl), also
    when that process dies between the fork and the prctl call (then the child exits at once)."""
    parent = os.getpid()

    def setup() -> None:
        try:
            import ctypes
            import signal

            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:
            os._exit(1)

    return setup


# ---- staging a slot ----------------------------------------------------------------------------------


def _unzip_wheel(wheel: Path, dest: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for n in zf.namelist():
            p = PurePosixPath(n)
            if p.is_absolute() or ".." in p.parts:
                raise ModelIntegrityError(f"{wheel.name}: unsafe path {n!r}")
        zf.extractall(dest)


def _env_for(dev: Device, staged: Path, info: dict, python: str) -> tuple[str, str]:
    """``(env id, python)`` the slot runs with: a venv built offline from the bundle's wheels, or the
    device's Python when the bundle carries no dependency wheels."""
    deps = sorted(w for w in info.get("wheels", []) if not w.startswith("edgeinv-"))
    if not deps:
        return "system", python
    digest = hashlib.sha256("\n".join(f"{w}:{info['files']['wheels/' + w]}" for w in deps).encode()).hexdigest()[:16]
    env = dev.p / "envs" / digest
    if (env / ".complete").is_file():
        return digest, str(env / "bin" / "python")
    shutil.rmtree(env, ignore_errors=True)  # a half-built env (killed mid-install) is rebuilt from scratch
    env.parent.mkdir(parents=True, exist_ok=True)
    made = subprocess.run([python, "-m", "venv", str(env)], capture_output=True, text=True, preexec_fn=die_with_parent())
    if made.returncode != 0:
        shutil.rmtree(env, ignore_errors=True)
        raise ConfigError(f"cannot create a virtualenv with {python}: {(made.stderr.strip().splitlines() or ['?'])[-1]} "
                          "(Debian/Ubuntu: apt install python3-venv)")
    env_vars = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    run = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--only-binary=:all:",
                          "--disable-pip-version-check", "--find-links", str(staged / "wheels"),
                          "-r", str(staged / "requirements-edge.txt")],
                         capture_output=True, text=True, env=env_vars, preexec_fn=die_with_parent())
    if run.returncode != 0:
        shutil.rmtree(env, ignore_errors=True)
        raise InvalidInputError(f"installing the bundle's wheels failed: {(run.stderr.strip().splitlines() or ['?'])[-1]}")
    (env / ".complete").write_text(now() + "\n")
    return digest, str(env / "bin" / "python")


LAUNCHER = """#!/bin/sh
# edgeinv in slot {slot} of {prefix} (written by the installer)
PYTHONPATH="{site}"; export PYTHONPATH
EDGEINV_MODELS_DIR="{models}"; export EDGEINV_MODELS_DIR
EDGEINV_PREFIX="{prefix}"; export EDGEINV_PREFIX
: "${{EDGEINV_DATA_DIR:={data}}}"; export EDGEINV_DATA_DIR
: "${{EDGEINV_DEVICE_KEY:={etc}/device.key}}"; export EDGEINV_DEVICE_KEY
: "${{EDGEINV_THREADS:={threads}}}"; export EDGEINV_THREADS
OMP_NUM_THREADS="$EDGEINV_THREADS" OPENBLAS_NUM_THREADS="$EDGEINV_THREADS" MKL_NUM_THREADS="$EDGEINV_THREADS"
NUMBA_NUM_THREADS="$EDGEINV_THREADS"; export OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS NUMBA_NUM_THREADS
exec "{python}" -P -m edgeinv.common.cli "$@"
"""


def stage_slot(dev: Device, archive: Path, info: dict, bundle_sha: str) -> dict:
    """Install a verified bundle into the inactive slot (nothing switches); returns the slot record."""
    from .verify import extract_verified, version_key

    state = dev.load()
    cfg = dev.config()
    slot = inactive_slot(state)
    committed = state.get("committed")
    base = dev.slot_dir(committed) if committed else None
    base_rec = (state.get("slots") or {}).get(committed) or {}
    if info.get("kind") == "models":
        if base is None:
            raise InvalidInputError("a models-only bundle needs an installed release; install a full bundle first")
        if version_key(base_rec.get("code_version", "0")) < version_key(info.get("min_code_version") or "0"):
            raise InvalidInputError(f"these models need edgeinv code >= {info['min_code_version']}; the device runs "
                                    f"{base_rec.get('code_version')}")
    final = dev.slot_dir(slot)
    tmp = final.with_name(f".{slot}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)  # the inactive slot: neither committed nor on trial
    extract_verified(archive, info, tmp)
    checkpoint("unpack")
    if info.get("kind") == "models":
        shutil.copytree(base / "site", tmp / "site", copy_function=os.link)
        env_id, python = base_rec["env"], base_rec["python"]
        code_version = base_rec["code_version"]
    else:
        wheel = next(tmp.glob("wheels/edgeinv-*.whl"))
        _unzip_wheel(wheel, tmp / "site")
        env_id, python = _env_for(dev, tmp, info, cfg["python"])
        code_version = info.get("code_version")
        shutil.rmtree(tmp / "wheels")
    apps = {info["app"]: info["version"]}
    if base is not None:  # other apps keep their models and versions untouched
        for folder in (base / "models").iterdir():
            if folder.name != info["package"] and not (tmp / "models" / folder.name).exists():
                shutil.copytree(folder, tmp / "models" / folder.name, copy_function=os.link)
        apps = {**{a: v for a, v in base_rec.get("apps", {}).items() if a != info["app"]}, **apps}
    (tmp / "bin").mkdir()
    launcher = tmp / "bin" / "edgeinv"
    launcher.write_text(LAUNCHER.format(slot=slot, prefix=dev.p, site=final / "site", models=final / "models",
                                        data=dev.data, etc=dev.etc, threads=int(cfg.get("threads", 1)), python=python))
    launcher.chmod(0o755)
    rec = {"slot": slot, "apps": apps, "packages": sorted(p.name for p in (tmp / "models").iterdir()),
           "code_version": code_version, "env": env_id, "python": python, "installed": now(),
           "bundle": {"app": info["app"], "version": info["version"], "kind": info.get("kind", "full"),
                      "sha256": bundle_sha, "encrypted": bool(info.get("encrypted"))}}
    (tmp / "SLOT.json").write_text(json.dumps(rec, indent=1) + "\n")
    os.rename(tmp, final)
    return rec


# ---- switch, commit, rollback -------------------------------------------------------------------------


def snapshot_db(dev: Device, slot: str) -> str | None:
    """A consistent copy of the store (SQLite backup API) before a new slot may migrate it."""
    db = dev.data / DB_NAME
    if not db.is_file():
        return None
    snap = dev.var / "snapshots" / f"before-{slot}.sqlite3"
    snap.parent.mkdir(parents=True, exist_ok=True)
    tmp = snap.with_name(snap.name + ".tmp")
    tmp.unlink(missing_ok=True)
    src, dst = sqlite3.connect(db), sqlite3.connect(tmp)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    os.replace(tmp, snap)
    return str(snap)


def restore_db(dev: Device, snapshot: str | None) -> bool:
    db = dev.data / DB_NAME
    if not snapshot or not Path(snapshot).is_file():
        return False
    tmp = db.with_name(db.name + ".restore")
    shutil.copyfile(snapshot, tmp)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    os.replace(tmp, db)
    return True


def switch(dev: Device, slot: str, rec: dict) -> None:
    """Put ``slot`` on trial: snapshot the store, then one atomic state write. Nothing is committed yet."""
    with dev.lock():
        state = dev.load()
        snap = snapshot_db(dev, slot)
        checkpoint("switch")
        state.setdefault("slots", {})[slot] = rec
        state.update(trying=slot, boots=0, snapshot=snap, trial_started=now())
        dev.save(state)
    dev.log("switched", slot=slot, app=rec["bundle"]["app"], version=rec["bundle"]["version"])


def boot_select(dev: Device) -> tuple[str | None, bool]:
    """What the supervisor starts now: ``(slot, on_trial)``. Counts the boot before it happens."""
    with dev.lock():
        state = dev.load()
        trying = state.get("trying")
        if trying:
            if state.get("boots", 0) >= MAX_BOOTS:
                _rollback_locked(dev, state, f"slot {trying} did not come up healthy in {MAX_BOOTS} boots")
                return state.get("committed"), False
            state["boots"] = state.get("boots", 0) + 1
            dev.save(state)
            return trying, True
        return state.get("committed"), False


def commit(dev: Device, slot: str) -> None:
    with dev.lock():
        state = dev.load()
        if state.get("trying") != slot:
            return
        old = state.get("committed")
        state.update(committed=slot, trying=None, boots=0, snapshot=None, failed=None)
        dev.save(state)
        refresh_lib(dev, dev.slot_dir(slot) / "site")
        prune(dev, state)
    rec = state["slots"][slot]
    dev.log("committed", slot=slot, previous=old, app=rec["bundle"]["app"], version=rec["bundle"]["version"])


def _rollback_locked(dev: Device, state: dict, reason: str) -> None:
    trying = state.get("trying")
    rec = (state.get("slots") or {}).get(trying) or {}
    restored = restore_db(dev, state.get("snapshot"))
    state.update(trying=None, boots=0, snapshot=None,
                 failed={"slot": trying, "version": rec.get("bundle", {}).get("version"), "reason": reason, "at": now(),
                         "app": rec.get("bundle", {}).get("app"), "sha256": rec.get("bundle", {}).get("sha256")})
    sha = rec.get("bundle", {}).get("sha256")
    state["failed_bundles"] = ([b for b in state.get("failed_bundles", []) if b != sha] + [sha])[-20:]
    dev.save(state)
    dev.log("rolled back", slot=trying, to=state.get("committed"), version=rec.get("bundle", {}).get("version"),
            reason=reason, database_restored=restored)


def rollback(dev: Device, reason: str) -> None:
    with dev.lock():
        state = dev.load()
        if state.get("trying"):
            _rollback_locked(dev, state, reason)


def refresh_lib(dev: Device, site: Path) -> None:
    """Copy the updater/verifier/supervisor of a committed release into ``P/lib`` (the installed tools)."""
    lib = dev.p / "lib"
    tmp = dev.p / ".lib.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for rel in ("edgeinv/__init__.py", "edgeinv/common/__init__.py", "edgeinv/common/errors.py"):
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(site / rel, tmp / rel)
    shutil.copytree(site / "edgeinv/common/update", tmp / "edgeinv/common/update",
                    ignore=shutil.ignore_patterns("__pycache__"))
    old = dev.p / ".lib.old"
    shutil.rmtree(old, ignore_errors=True)
    if lib.exists():
        os.rename(lib, old)
    os.rename(tmp, lib)
    shutil.rmtree(old, ignore_errors=True)


def prune(dev: Device, state: dict) -> None:
    """Drop virtualenvs no slot uses, stale temporary folders and downloaded bundles already installed."""
    used = {(state.get("slots") or {}).get(s, {}).get("env") for s in SLOTS if dev.slot_dir(s).is_dir()}
    for env in (dev.p / "envs").glob("*"):
        if env.name not in used:
            shutil.rmtree(env, ignore_errors=True)
    for tmp in (dev.p / "slots").glob(".*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
    for f in (dev.var / "downloads").glob("*.tar.gz"):
        f.unlink(missing_ok=True)
