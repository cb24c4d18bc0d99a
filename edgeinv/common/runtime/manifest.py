"""The one place that writes a models folder's ``manifest.json`` (atomically) and merges sections into it.

Edge side (no torch). Readers use :func:`edgeinv.common.runtime.bundle.read_manifest`, which checks the
JSON and the ``configs`` section; writers go through :func:`save_manifest` so a crash or a full disk
never leaves half a manifest behind (write to a temporary file in the same folder, fsync, rename).

Top-level sections::

    app, title, preprocessing_version, created, git_commit, git_dirty   provenance of the build
    configs{<config>: {...}}                                             one entry per shipped config
    real{...}                                                            figures on real labelled data
                                                                         (``edgeinv <app> evaluate-real --record``)

A config entry may carry ``golden`` (``file``, ``sha256``, ``n``, per-variant reference deviations):
the golden set that ``edgeinv selftest`` runs on the device (see :mod:`.selftest`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from ..errors import ModelError
from ..jsonutil import jsonable
from .bundle import MANIFEST_NAME, read_manifest

__all__ = ["clean_json", "save_manifest", "update_manifest", "load_or_empty"]


def clean_json(obj):
    """JSON-safe copy (NaN/inf -> None, numpy -> Python...): :func:`edgeinv.common.jsonutil.jsonable`."""
    return jsonable(obj)


def save_manifest(folder: str | Path, manifest: dict) -> Path:
    """Write ``folder/manifest.json`` atomically (temp file + fsync + rename)."""
    folder = Path(folder)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("configs"), dict):
        raise ModelError("refusing to write a manifest without a 'configs' section")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST_NAME
    tmp = path.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
    data = json.dumps(clean_json(manifest), indent=1, allow_nan=False) + "\n"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load_or_empty(folder: str | Path) -> dict:
    """The manifest of ``folder``, or ``{"configs": {}}`` when there is none yet."""
    if not (Path(folder) / MANIFEST_NAME).is_file():
        return {"configs": {}}
    return read_manifest(folder)


def update_manifest(folder: str | Path, change: Callable[[dict], dict | None]) -> dict:
    """Read, apply ``change(manifest)`` (in place or returning a new dict), save atomically; return it."""
    manifest = load_or_empty(folder)
    new = change(manifest)
    manifest = manifest if new is None else new
    save_manifest(folder, manifest)
    return manifest
