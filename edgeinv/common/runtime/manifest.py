"""The one owner of a models folder's ``manifest.json``: load, verify, atomic save, and a typed view.

Edge side (no torch). Nothing else in the project opens ``manifest.json``:

* :func:`load_manifest` -> :class:`Manifest`, a frozen, typed view (``Manifest.configs[c].variants[v]``)
  that every reader uses (CLI ``apps``, the web's model status, bench, self-test, calibration,
  ``variant_path``); unknown keys stay reachable through ``.raw`` (read-only).
* :func:`verify_release` recomputes every listed file's sha256.
* :func:`read_manifest` returns the plain dict, for writers only: they change it through
  :func:`update_manifest` (read, change, :func:`save_manifest`), so a crash or a full disk never leaves
  half a manifest behind (temporary file in the same folder, fsync, rename).

Top-level sections::

    app, title, preprocessing_version, created, git_commit, git_dirty   provenance of the build
    configs{<config>: {...}}                                             one entry per shipped config
    real{...}                                                            figures on real labelled data
                                                                         (``edgeinv <app> evaluate-real --record``)

A config entry has ``chosen`` (the build machine's pick), ``accurate``, ``variants{<name>: {file, sha256,
format, size_bytes, metrics, latency_ms, parity, cpu_classes, quantization ...}}``, ``heldout`` and
``baseline`` metrics, the ``search`` record, the teacher checkpoint and may carry ``golden`` (``file``,
``sha256``, ``n``, per-variant reference deviations): the golden set that ``edgeinv selftest`` runs on the
device (see :mod:`.selftest`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from ..errors import ModelError, ModelIntegrityError
from ..jsonutil import jsonable

__all__ = ["MANIFEST_NAME", "Manifest", "ConfigEntry", "VariantRecord", "load_manifest", "read_manifest",
           "verify_release", "manifest_files", "sha256_file", "clean_json", "save_manifest", "update_manifest",
           "load_or_empty"]

MANIFEST_NAME = "manifest.json"
_HINT = "run `make models` (or `edgeinv <app> compress`) to build them"


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


@dataclass(frozen=True)
class VariantRecord:
    """One shipped ONNX variant of a config."""

    name: str
    file: str
    sha256: str
    format: str | None
    size_bytes: int | None
    cpu_classes: tuple[str, ...] | None
    metrics: Mapping[str, Any]
    raw: Mapping[str, Any]

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any], *, where: str) -> "VariantRecord":
        if not isinstance(d, Mapping) or "file" not in d or "sha256" not in d:
            raise ModelIntegrityError(f"manifest variant {where}/{name} lacks file or sha256")
        classes = d.get("cpu_classes")
        return cls(name=name, file=str(d["file"]), sha256=str(d["sha256"]), format=d.get("format"),
                   size_bytes=d.get("size_bytes"), cpu_classes=tuple(classes) if classes is not None else None,
                   metrics=_frozen(d.get("metrics") or {}), raw=_frozen(dict(d)))


@dataclass(frozen=True)
class ConfigEntry:
    """One shipped config (model input layout) and its variants."""

    name: str
    chosen: str | None
    accurate: str | None
    variants: Mapping[str, VariantRecord]
    golden: Mapping[str, Any] | None
    heldout: Mapping[str, Any]
    baseline: Mapping[str, Any]
    raw: Mapping[str, Any]

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> "ConfigEntry":
        if not isinstance(d, Mapping):
            raise ModelIntegrityError(f"manifest config {name!r} is not an object")
        variants = d.get("variants") or {}
        if not isinstance(variants, Mapping):
            raise ModelIntegrityError(f"manifest config {name!r}: 'variants' is not an object")
        golden = d.get("golden")
        if golden and ("file" not in golden or "sha256" not in golden):
            raise ModelIntegrityError(f"manifest golden set of {name} lacks file or sha256")
        return cls(name=name, chosen=d.get("chosen"), accurate=d.get("accurate"),
                   variants=MappingProxyType({v: VariantRecord.from_dict(v, rec, where=name)
                                              for v, rec in variants.items()}),
                   golden=_frozen(golden) if golden else None, heldout=_frozen(d.get("heldout") or {}),
                   baseline=_frozen(d.get("baseline") or {}), raw=_frozen(dict(d)))

    def variant(self, name: str) -> VariantRecord:
        from ..errors import NotFoundError

        if name not in self.variants:
            raise NotFoundError(f"{self.name} has no variant {name!r}; shipped: {', '.join(self.variants) or 'none'}")
        return self.variants[name]


@dataclass(frozen=True)
class Manifest:
    """The typed, read-only view of one app's ``manifest.json``."""

    folder: Path
    app: str | None
    title: str | None
    preprocessing_version: str | None
    created: str | None
    git_commit: str | None
    configs: Mapping[str, ConfigEntry]
    real: Mapping[str, Any] | None
    raw: Mapping[str, Any]

    @classmethod
    def from_dict(cls, folder: str | Path, d: Mapping[str, Any]) -> "Manifest":
        pv = d.get("preprocessing_version")
        return cls(folder=Path(folder), app=d.get("app"), title=d.get("title"),
                   preprocessing_version=None if pv is None else str(pv), created=d.get("created"),
                   git_commit=d.get("git_commit"),
                   configs=MappingProxyType({c: ConfigEntry.from_dict(c, e) for c, e in d["configs"].items()}),
                   real=_frozen(d["real"]) if d.get("real") else None, raw=_frozen(dict(d)))

    def config(self, name: str) -> ConfigEntry:
        if name not in self.configs:
            raise ModelError(f"{self.app or self.folder.name}: no released model for config {name!r}", hint=_HINT)
        return self.configs[name]

    def chosen(self) -> dict[str, str | None]:
        """``{config: the build machine's chosen variant}``."""
        return {c: e.chosen for c, e in self.configs.items()}


def load_manifest(models_dir_of_app: str | Path) -> Manifest:
    """The typed manifest of one app's models folder (see :func:`read_manifest` for the errors)."""
    return Manifest.from_dict(models_dir_of_app, read_manifest(models_dir_of_app))


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(models_dir_of_app: str | Path) -> dict:
    """The parsed ``manifest.json`` of one app's models folder.

    Raises
    ------
    ModelError : no manifest there (with a hint to build the models).
    ModelIntegrityError : the manifest is not valid JSON or lacks ``configs``.
    """
    path = Path(models_dir_of_app) / MANIFEST_NAME
    if not path.is_file():
        raise ModelError(f"no released models in {Path(models_dir_of_app)} ({MANIFEST_NAME} missing)", hint=_HINT)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelIntegrityError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("configs"), dict):
        raise ModelIntegrityError(f"{path} has no 'configs' section")
    return manifest


def _resolve(folder: Path, rel: str) -> Path:
    path = (folder / rel).resolve()
    if folder.resolve() not in path.parents:
        raise ModelIntegrityError(f"manifest entry {rel!r} points outside {folder}")
    return path


def manifest_files(manifest: dict, *, config: str | None = None) -> list[tuple[str, str]]:
    """``(relative path, sha256)`` of every file the manifest lists (optionally for one config)."""
    files: list[tuple[str, str]] = []
    for cname, entry in manifest.get("configs", {}).items():
        if config is not None and cname != config:
            continue
        for vname, v in entry.get("variants", {}).items():
            if "file" not in v or "sha256" not in v:
                raise ModelIntegrityError(f"manifest variant {cname}/{vname} lacks file or sha256")
            files.append((v["file"], v["sha256"]))
        if entry.get("teacher_checkpoint") and entry.get("teacher_checkpoint_sha256"):
            files.append((entry["teacher_checkpoint"], entry["teacher_checkpoint_sha256"]))
        golden = entry.get("golden")
        if golden:
            if "file" not in golden or "sha256" not in golden:
                raise ModelIntegrityError(f"manifest golden set of {cname} lacks file or sha256")
            files.append((golden["file"], golden["sha256"]))
    return files


def verify_release(models_dir_of_app: str | Path, *, config: str | None = None) -> dict[str, str]:
    """Recompute the sha256 of every listed file; return ``{relative path: sha256}`` when all match.

    Raises
    ------
    ModelIntegrityError : a file is missing, escapes the folder, or its hash differs.
    """
    folder = Path(models_dir_of_app)
    manifest = read_manifest(folder)
    checked: dict[str, str] = {}
    for rel, expected in manifest_files(manifest, config=config):
        path = _resolve(folder, rel)
        if not path.is_file():
            raise ModelIntegrityError(f"{rel} is listed in the manifest but missing", hint=_HINT)
        actual = sha256_file(path)
        if actual != expected:
            raise ModelIntegrityError(f"{rel}: sha256 {actual[:12]}... does not match the manifest's {expected[:12]}...",
                                      hint="the file was modified or corrupted; reinstall the release")
        checked[rel] = actual
    return checked


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
