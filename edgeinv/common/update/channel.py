"""The OTA channel: publish signed indexes, fetch and check them, download with resume, update a device.

A channel is a folder any static HTTP server (or a shared folder) can serve::

    index.json                 {"signed": "<index JSON text>", "signature": "<Ed25519 hex>"}
    bundles/<bundle>.tar.gz    the signed bundles

The index lists per app the releases (version, kind, sha256, size, target, minimum versions) and a
``serial`` that grows with every publication; a device remembers the highest serial it accepted and
refuses an older index (replay). The chain a device checks: publisher key -> index signature -> bundle
sha256 -> bundle signature -> every member's sha256 -> models' manifest.

:func:`update` (``edgeinv update --channel URL|DIR``) runs: fetch + verify the index, pick the newest
release (downgrades refused unless asked), download (resumes a partial file), verify the bundle with the
installed verifier, install it into the inactive slot, self-test it on this CPU, switch (snapshot the
store, put the slot on trial) and wait for the supervisor's boot to commit or roll back.
Standard library only on the device; publishing needs ``cryptography``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import ConfigError, InvalidInputError, ModelIntegrityError, NotFoundError
from .slots import Device, checkpoint, now, stage_slot, switch, write_atomic
from .verify import verify_bundle, verify_index, version_key

INDEX_NAME = "index.json"
CHUNK = 256 * 1024


# ---- publisher side ----------------------------------------------------------------------------------


def publish(bundle: str | Path, channel: str | Path, private_pem: bytes) -> dict:
    """Add a signed bundle to a channel folder and re-sign its index (serial + 1)."""
    from cryptography.hazmat.primitives import serialization

    from ..release import _private_key

    key = _private_key(private_pem)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    bundle, channel = Path(bundle), Path(channel)
    info = verify_bundle(bundle, public)  # only what this key signed goes out
    if not info.get("signature_checked"):
        raise InvalidInputError(f"{bundle} is not signed; sign it with the channel's key (bundle --sign-key)")
    (channel / "bundles").mkdir(parents=True, exist_ok=True)
    index = {"serial": 0, "releases": {}}
    if (channel / INDEX_NAME).is_file():
        env = json.loads((channel / INDEX_NAME).read_text())
        index = verify_index(env["signed"].encode(), env["signature"].encode(), public)
    digest = _sha256(bundle)
    name = f"edgeinv-{info['app']}-{info['version']}-{info.get('kind', 'full')}-{digest[:12]}.tar.gz"
    tmp = channel / "bundles" / (name + ".tmp")
    shutil.copyfile(bundle, tmp)
    os.replace(tmp, channel / "bundles" / name)
    entry = {"version": info["version"], "kind": info.get("kind", "full"), "file": f"bundles/{name}",
             "sha256": digest, "size": bundle.stat().st_size, "target": info.get("target"),
             "python": info.get("python"), "min_version": info.get("min_version"),
             "min_code_version": info.get("min_code_version"), "encrypted": bool(info.get("encrypted")),
             "published": now()}
    rels = [r for r in index["releases"].get(info["app"], []) if r["version"] != info["version"] or
            r["kind"] != entry["kind"] or r.get("target") != entry["target"]]
    index["releases"][info["app"]] = sorted(rels + [entry], key=lambda r: version_key(r["version"]))
    index.update(serial=int(index["serial"]) + 1, published=now())
    raw = json.dumps(index, indent=1, sort_keys=True)
    write_atomic(channel / INDEX_NAME, json.dumps({"signed": raw, "signature": key.sign(raw.encode()).hex()}) + "\n")
    return {"channel": str(channel), "serial": index["serial"], "app": info["app"], "version": info["version"],
            "file": entry["file"], "size_bytes": entry["size"]}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- device side -------------------------------------------------------------------------------------


def _is_url(channel: str) -> bool:
    return channel.startswith(("http://", "https://", "file://"))


def _read(channel: str, rel: str, timeout: float = 30) -> bytes:
    if _is_url(channel):
        try:
            with urllib.request.urlopen(channel.rstrip("/") + "/" + rel, timeout=timeout) as resp:
                return resp.read()
        except (urllib.error.URLError, OSError) as exc:
            raise NotFoundError(f"cannot read {rel} from the channel {channel}: {exc}") from None
    try:
        return (Path(channel) / rel).read_bytes()
    except OSError as exc:
        raise NotFoundError(f"cannot read {rel} from the channel {channel}: {exc.strerror}") from None


def fetch_index(dev: Device, channel: str, *, allow_unsigned: bool = False) -> dict:
    raw = _read(channel, INDEX_NAME)
    try:
        env = json.loads(raw)
        signed, sig = env["signed"].encode(), (env.get("signature") or "").encode() or None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ModelIntegrityError(f"{channel}: {INDEX_NAME} is not a signed edgeinv channel index") from None
    pub = dev.pubkey.read_bytes() if dev.pubkey.is_file() else None
    index = verify_index(signed, sig, pub, allow_unsigned=allow_unsigned)
    seen = int(dev.load().get("index_serial", 0))
    if int(index["serial"]) < seen:
        raise ModelIntegrityError(f"the channel index has serial {index['serial']}, older than serial {seen} this "
                                  "device already accepted (a replayed or stale index); refused")
    return index


def download(dev: Device, channel: str, entry: dict) -> Path:
    """The bundle of ``entry`` in ``P/var/downloads``; a partial file from an interrupted run is resumed."""
    folder = dev.var / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{entry['sha256']}.tar.gz"
    if final.is_file() and _sha256(final) == entry["sha256"]:
        return final
    part = folder / f"{entry['sha256']}.part"
    have = part.stat().st_size if part.is_file() else 0
    if have > int(entry["size"]):
        part.unlink()
        have = 0
    if have:
        dev.log("resuming download", file=entry["file"], at_bytes=have)
    if _is_url(channel):
        req = urllib.request.Request(channel.rstrip("/") + "/" + entry["file"],
                                     headers={"Range": f"bytes={have}-"} if have else {})
        try:
            resp = urllib.request.urlopen(req, timeout=60)
        except urllib.error.HTTPError as exc:
            if exc.code != 416:
                raise NotFoundError(f"cannot download {entry['file']}: HTTP {exc.code}") from None
            resp = None
        except (urllib.error.URLError, OSError) as exc:
            raise NotFoundError(f"cannot download {entry['file']}: {exc}") from None
        if resp is not None and resp.status == 200:
            have = 0  # the server ignored the range: start over
        src = resp
    else:
        try:
            src = open(Path(channel) / entry["file"], "rb")
        except OSError as exc:
            raise NotFoundError(f"cannot read {entry['file']} from the channel: {exc.strerror}") from None
        src.seek(have)
    if src is not None:
        with src, open(part, "r+b" if have else "wb") as out:
            out.seek(have)
            out.truncate()
            for block in iter(lambda: src.read(CHUNK), b""):
                out.write(block)
                out.flush()
                checkpoint("download")
            os.fsync(out.fileno())
    if _sha256(part) != entry["sha256"]:
        part.unlink(missing_ok=True)
        raise ModelIntegrityError(f"{entry['file']}: the download does not match the index's sha256; deleted, "
                                  "run the update again")
    os.replace(part, final)
    return final


def _candidates(index: dict, app: str) -> list[dict]:
    from .wheelhouse import this_target

    rels = index["releases"].get(app) or []
    return [r for r in rels if r.get("target") in (None, this_target())]


def install_archive(dev: Device, archive: Path, *, allow_unsigned: bool, wait: float, expect_sha: str | None = None,
                    current: str | None = None, allow_downgrade: bool = False) -> dict:
    """Verify, stage, self-test, switch; then wait up to ``wait`` s for the supervisor's verdict."""
    from .health import selftest_slot

    pub = dev.pubkey.read_bytes() if dev.pubkey.is_file() else None
    info = verify_bundle(archive, pub, allow_unsigned=allow_unsigned)  # the installed verifier, nothing run yet
    sha = _sha256(archive)
    if expect_sha and sha != expect_sha:
        raise ModelIntegrityError(f"{archive}: sha256 differs from the channel index")
    from .wheelhouse import this_target

    if info.get("target") and info["target"] != this_target():
        raise InvalidInputError(f"the bundle is for {info['target']}; this device is {this_target()}")
    if info.get("encrypted") and not (dev.etc / "device.key").is_file() and not os.environ.get("EDGEINV_DEVICE_KEY"):
        raise ConfigError(f"the models of this bundle are encrypted for a device, but this device has no device key "
                          f"at {dev.etc / 'device.key'} (install --device-key DEVICE.key); nothing switched")
    state = dev.load()
    if state.get("trying"):
        raise ConfigError(f"slot {state['trying']} is on trial; wait for the supervisor to commit or roll it back")
    installed = current or dev.installed_version(info["app"], state)
    if installed and version_key(info["version"]) < version_key(installed) and not allow_downgrade:
        raise InvalidInputError(f"{info['app']} {info['version']} is older than the installed {installed}; refused "
                                "(pass --allow-downgrade to install it)")
    dev.log("installing", app=info["app"], version=info["version"], kind=info.get("kind"), bundle=sha[:12])
    rec = stage_slot(dev, archive, info, sha)
    ok, why = selftest_slot(dev.slot_dir(rec["slot"]), dev.var / "check")
    if not ok:
        dev.log("refused", app=info["app"], version=info["version"], reason=f"health check before switching: {why}")
        shutil.rmtree(dev.slot_dir(rec["slot"]), ignore_errors=True)
        raise ConfigError(f"{info['app']} {info['version']} failed its health check on this device; nothing "
                          f"switched, still serving {installed or 'nothing'}: {why}")
    switch(dev, rec["slot"], rec)
    checkpoint("confirm")
    return {**_wait(dev, rec["slot"], wait), "app": info["app"], "version": info["version"], "slot": rec["slot"]}


def supervisor_running(dev: Device) -> bool:
    try:
        os.kill(int((dev.p / "run" / "supervisor.pid").read_text().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def _wait(dev: Device, slot: str, wait: float) -> dict:
    deadline = time.monotonic() + wait
    if not supervisor_running(dev):
        return {"result": "on trial", "note": f"no supervisor runs on {dev.p}; start {dev.p}/bin/edgeinv-supervisor "
                                              "(or the edgeinv unit): it commits the slot on its first healthy boot"}
    while time.monotonic() < deadline:
        st = dev.load()
        if st.get("committed") == slot and not st.get("trying"):
            return {"result": "committed"}
        if not st.get("trying"):
            reason = (st.get("failed") or {}).get("reason", "rolled back")
            raise ConfigError(f"the new release was rolled back: {reason}")
        time.sleep(0.5)
    return {"result": "on trial", "note": "switched; the supervisor commits it once it boots healthy"}


def update(prefix: str | Path, channel: str, *, app: str | None = None, version: str | None = None,
           allow_downgrade: bool = False, allow_unsigned: bool = False, wait: float = 300) -> dict:
    """Bring one app (default: every installed app) to the channel's newest release."""
    dev = Device(prefix)
    dev.config()
    with dev.lock("update", wait=False):
        index = fetch_index(dev, str(channel), allow_unsigned=allow_unsigned)
        with dev.lock():
            st = dev.load()
            st["index_serial"] = max(int(st.get("index_serial", 0)), int(index["serial"]))
            dev.save(st)
        apps = [app] if app else sorted(((st.get("slots") or {}).get(st.get("committed")) or {}).get("apps", {}))
        if not apps:
            raise InvalidInputError("nothing is installed on this device; name the app (--app)")
        results = []
        for name in apps:
            rels = _candidates(index, name)
            if version:
                rels = [r for r in rels if r["version"] == version]
            if not rels:
                raise NotFoundError(f"the channel has no release of {name}" + (f" {version}" if version else ""))
            rel = max(rels, key=lambda r: (version_key(r["version"]), r["kind"] == "full"))
            installed = dev.installed_version(name)
            if installed and version_key(rel["version"]) == version_key(installed):
                results.append({"app": name, "version": installed, "result": "up to date"})
                continue
            if installed and version_key(rel["version"]) < version_key(installed) and not allow_downgrade:
                raise InvalidInputError(f"the channel's {name} {rel['version']} is older than the installed "
                                        f"{installed}; refused (pass --allow-downgrade)")
            if rel["sha256"] in (dev.load().get("failed_bundles") or []) and not version:
                results.append({"app": name, "version": rel["version"], "result": "skipped",
                                "note": f"{rel['version']} was rolled back on this device (see the update log); "
                                        "publish a newer release, or pass --version to try it again"})
                continue
            if rel.get("min_version") and installed and version_key(installed) < version_key(rel["min_version"]):
                raise InvalidInputError(f"{name} {rel['version']} needs {rel['min_version']} or newer installed first")
            archive = download(dev, str(channel), rel)
            results.append(install_archive(dev, archive, allow_unsigned=allow_unsigned, wait=wait,
                                           expect_sha=rel["sha256"], current=installed,
                                           allow_downgrade=allow_downgrade))
    return {"prefix": str(dev.p), "channel": str(channel), "serial": index["serial"], "updates": results}
