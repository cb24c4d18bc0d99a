"""Build the signed device bundle of one app: wheels (edgeinv + edge deps for a target), models, unit.

``edgeinv bundle <app> --out FILE.tar.gz [--sign-key KEY.pem] [--target linux-aarch64 --python 3.11]
[--encrypt-for DEVICE.pub.pem] [--models-only] [--version 1.4.2]`` writes one archive::

    edgeinv-<app>-<version>/
      BUNDLE.json  BUNDLE.sig                  app, version, kind, target, sha256 of every other member;
                                               Ed25519 signature over BUNDLE.json (the whole artifact)
      wheels/edgeinv-<code>-py3-none-any.whl   the code, as a wheel (nothing is built on the device)
      wheels/*.whl                             with --target: every edge dependency for that platform
      models/<pkg>/                            manifest.json (+ .sig), variants (*.onnx, or *.onnx.enc and
                                               model_key.json with --encrypt-for), golden sets; no teacher.pt
      requirements-edge.txt deploy/...         the edge requirements, systemd unit, supervisor, installer

The models are verified against their manifest before anything is packed. A ``--models-only`` bundle
carries models and no code (a smaller update; it needs the device to run code ``>= min_code_version``).
The device checks the signature with the verifier it already has (:mod:`edgeinv.common.update.verify`)
before extracting or running anything.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import tomllib
from pathlib import Path

from .config import REPO_ROOT
from .errors import ConfigError, InvalidInputError
from .runtime.bundle import MANIFEST_NAME, sign_release, verify_release
from .update.verify import INFO_NAME, SIG_NAME, verify_bundle, version_key

_SKIP_DIRS = {"__pycache__", ".pytest_cache"}
BUNDLE_FORMAT = 2


def edge_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The distribution's edge-side dependencies (never torch: it lives in the ``train`` extra)."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    banned = {"torch", "onnx", "onnxscript", "torch-pruning", "prosail"}
    if any(d.split("=")[0].split(">")[0].split("<")[0].split("[")[0].strip().lower() in banned for d in deps):
        raise InvalidInputError("training packages (torch, onnx, ...) must not be edge-side dependencies")
    return list(deps)


def _stage_models(models: Path, dst: Path, *, encrypt_for: bytes | None) -> bool:
    """Copy a verified models folder without training files; encrypt the ONNX files for one device."""
    from .runtime.bundle import wrap_content_key, encrypt_file, sha256_file

    manifest = json.loads((models / MANIFEST_NAME).read_text())
    dst.mkdir(parents=True)
    listed = set()
    for entry in manifest.get("configs", {}).values():
        entry.pop("teacher_checkpoint", None)  # training side only (torch); never on a device
        entry.pop("teacher_checkpoint_sha256", None)
        for rec in [*entry.get("variants", {}).values(), entry.get("golden") or {}]:
            if rec.get("file"):
                listed.add(rec["file"])
    for rel in sorted(listed):
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(models / rel, dst / rel)
    if encrypt_for is not None:
        content_key = os.urandom(32)
        for entry in manifest["configs"].values():
            for rec in entry.get("variants", {}).values():
                plain = dst / rec["file"]
                enc = encrypt_file(plain, content_key)
                plain.unlink()
                rec.update(file=rec["file"] + ".enc", plain_sha256=rec["sha256"], sha256=sha256_file(enc))
        (dst / "model_key.json").write_text(json.dumps(wrap_content_key(content_key, encrypt_for), indent=2) + "\n")
        manifest["encrypted"] = {"scheme": "X25519-HKDF-SHA256 + AES-256-GCM", "key_file": "model_key.json"}
    (dst / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
    return encrypt_for is not None


def build_bundle(app, settings, out: str | Path, *, sign_key_pem: bytes | None = None, root: Path = REPO_ROOT,
                 target: str | None = None, python: str = "3.11", encrypt_for: bytes | None = None,
                 models_only: bool = False, version: str | None = None, min_version: str | None = None) -> dict:
    """Write the bundle for ``app`` to ``out``; returns BUNDLE.json's summary (plus ``path``, sizes)."""
    from edgeinv import __version__

    from .update.wheelhouse import build_edge_wheel, check_target, download_wheels

    out = Path(out)
    if not out.name.endswith((".tar.gz", ".tgz")):
        raise InvalidInputError(f"--out must end in .tar.gz or .tgz, got {out.name}")
    version = version or __version__
    version_key(version)
    if min_version:
        version_key(min_version)
    if target is not None:
        check_target(target, python)
        if models_only:
            raise InvalidInputError("--models-only carries no code or wheels; drop --target")
    models = app.models_dir(settings)
    verify_release(models)  # ModelError / ModelIntegrityError: nothing half-verified is packed
    if sign_key_pem is not None:
        _private_key(sign_key_pem)
    top = f"edgeinv-{app.name}-{version}"
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / top
        stage.mkdir()
        encrypted = _stage_models(models, stage / "models" / app.package_name, encrypt_for=encrypt_for)
        if sign_key_pem is not None:
            sign_release(stage / "models" / app.package_name, sign_key_pem)
        wheels = []
        if not models_only:
            reqs = edge_requirements(root / "pyproject.toml")
            (stage / "requirements-edge.txt").write_text("\n".join(reqs) + "\n")
            wheels.append(build_edge_wheel(root, stage / "wheels", __version__).name)
            if target is not None:
                wheels += [p.name for p in download_wheels(reqs, target, python, stage / "wheels")]
            for name in ("edgeinv.service", "install.sh", "edgeinv-supervisor"):
                if (root / "deploy" / name).is_file():
                    (stage / "deploy").mkdir(exist_ok=True)
                    shutil.copy2(root / "deploy" / name, stage / "deploy" / name)
        files = {p.relative_to(stage).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(stage.rglob("*")) if p.is_file()}
        manifest = json.loads((models / MANIFEST_NAME).read_text())
        info = {"format": BUNDLE_FORMAT, "app": app.name, "package": app.package_name, "version": version,
                "kind": "models" if models_only else "full", "code_version": None if models_only else __version__,
                "min_code_version": __version__ if models_only else None,
                "min_version": min_version, "target": target, "python": python if target else None,
                "wheels": wheels, "encrypted": encrypted,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "git_commit": manifest.get("git_commit"), "signed": sign_key_pem is not None, "files": files}
        raw = (json.dumps(info, indent=1, sort_keys=True) + "\n").encode()
        (stage / INFO_NAME).write_bytes(raw)
        if sign_key_pem is not None:
            (stage / SIG_NAME).write_bytes(_private_key(sign_key_pem).sign(raw).hex().encode() + b"\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        with tarfile.open(partial, "w:gz", compresslevel=1 if target else 6) as tar:  # wheels are zips already
            tar.add(stage, arcname=top, filter=_normalise)
        partial.replace(out)  # never leave a half-written archive under the final name
    size = out.stat().st_size
    return {**{k: v for k, v in info.items() if k not in ("files", "wheels")}, "files": len(files),
            "wheels": len(wheels), "path": str(out), "size_bytes": size, "size_mb": round(size / 1e6, 1)}


def _normalise(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    ti.mode = 0o755 if ti.isdir() or ti.name.endswith((".sh", "supervisor")) else 0o644
    return ti


def _private_key(pem: bytes):
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise ConfigError("signing needs the 'cryptography' package") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"not a PEM private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError("the signing key must be an Ed25519 private key (edgeinv keygen)")
    return key


def read_bundle_info(archive: str | Path, public_pem: bytes | None = None) -> dict:
    """BUNDLE.json of an archive after checking every member (and the signature when a key is given)."""
    return verify_bundle(archive, public_pem, allow_unsigned=public_pem is None)
