"""First install of a device prefix and its status: trust anchor, tools in ``P/lib``, first slot.

Standard library only, run from a trusted copy of edgeinv (the checkout ``deploy/install.sh`` sits in),
never from the bundle being installed: the bundle is verified with this code before any of it is used.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..errors import ConfigError, InvalidInputError
from .slots import Device, refresh_lib, write_atomic

SCRIPT = """#!/bin/sh
# {what} (written by the edgeinv installer)
PYTHONPATH="{lib}"; export PYTHONPATH
exec "{python}" -P -m edgeinv.common.update {cmd} --prefix "{prefix}" "$@"
"""


def _write_exec(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, path)


def prepare(prefix: str | Path, *, python: str | None = None, pubkey: str | Path | None = None,
            device_key: str | Path | None = None, host: str | None = None, port: int | None = None,
            threads: int | None = None) -> Device:
    """Create the prefix layout, install the trust anchor and the tools; idempotent."""
    dev = Device(prefix)
    for d in (dev.etc, dev.var, dev.p / "slots", dev.p / "run"):
        d.mkdir(parents=True, exist_ok=True)
    dev.data.mkdir(mode=0o750, exist_ok=True)
    if pubkey:
        new = Path(pubkey).read_bytes()
        from .verify import public_key_bytes

        public_key_bytes(new)
        if dev.pubkey.is_file() and dev.pubkey.read_bytes() != new:
            raise ConfigError(f"{dev.pubkey} holds another publisher key; the trust anchor is not replaced by an "
                              "installer run (remove it by hand to re-key the device)")
        write_atomic(dev.pubkey, new.decode())
    if device_key:
        src = Path(device_key)
        dst = dev.etc / "device.key"
        fd = os.open(dst.with_name("device.key.tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(src.read_bytes())
        os.replace(dst.with_name("device.key.tmp"), dst)
    cfg_path = dev.etc / "device.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    py = python or cfg.get("python") or sys.executable
    if not Path(py).is_file():
        raise InvalidInputError(f"--python {py}: no such interpreter")
    cfg.update(python=str(py), host=host or cfg.get("host", "127.0.0.1"), port=int(port or cfg.get("port", 8080)),
               threads=int(threads or cfg.get("threads", 1)))
    write_atomic(cfg_path, json.dumps(cfg, indent=1) + "\n")
    if not (dev.p / "lib").is_dir():  # the tools this trusted copy brings; later refreshed on commit only
        import edgeinv

        refresh_lib(dev, Path(edgeinv.__file__).resolve().parent.parent)
    for name, cmd, what in (("edgeinv-update", "update", "check the channel and update this device"),
                            ("edgeinv-supervisor", "supervise", "the process supervisor (systemd runs this)"),
                            ("edgeinv-status", "status", "slots, versions and the update log")):
        _write_exec(dev.p / "bin" / name, SCRIPT.format(what=what, lib=dev.p / "lib", python=cfg["python"], cmd=cmd,
                                                        prefix=dev.p))
    _write_exec(dev.p / "bin" / "edgeinv", f'#!/bin/sh\nexec "{dev.p}/current/bin/edgeinv" "$@"\n')
    return dev


def install(prefix: str | Path, bundle: str | Path, *, allow_unsigned: bool = False, wait: float = 0, **kw) -> dict:
    """Install a bundle file on this device (first install or a manual update)."""
    from .channel import install_archive

    dev = prepare(prefix, **kw)
    if not dev.pubkey.is_file() and not allow_unsigned:
        raise InvalidInputError(f"no publisher key at {dev.pubkey}: give --pubkey signing.pub.pem (or --allow-unsigned)")
    path = Path(bundle)
    if not path.is_file():
        raise InvalidInputError(f"no such bundle: {bundle}")
    with dev.lock("update", wait=False):
        return install_archive(dev, path, allow_unsigned=allow_unsigned, wait=wait)


def status(prefix: str | Path, n: int = 10) -> dict:
    dev = Device(prefix)
    st = dev.load()
    return {"prefix": str(dev.p), "committed": st.get("committed"), "trying": st.get("trying"),
            "boots": st.get("boots", 0), "index_serial": st.get("index_serial", 0), "failed": st.get("failed"),
            "slots": st.get("slots", {}), "log": dev.read_log(n)}
