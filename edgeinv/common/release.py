"""Build the edge archive of one app: code, its released models (optionally signed), edge requirements, unit.

``edgeinv bundle <app> --out FILE.tar.gz [--sign-key KEY.pem]`` writes one archive that
``deploy/install.sh`` installs on a device side by side with the running release (verify, switch
atomically, health-check, roll back)::

    edgeinv-<app>-<version>/
      pyproject.toml README.md edgeinv/...     the package (edge side needs no torch)
      models/<pkg>/                             manifest.json (+ manifest.json.sig) and its files
      requirements-edge.txt                     the edge dependencies, for an offline wheelhouse
      deploy/edgeinv.service deploy/install.sh  systemd unit with CPU/memory caps, installer
      BUNDLE.json                               app, version, git commit, sha256 of every file

The models are verified against their manifest before anything is packed, so a bundle never carries
a release that its own device would refuse.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import tomllib
from pathlib import Path

from .config import REPO_ROOT
from .errors import InvalidInputError, ModelIntegrityError
from .runtime.bundle import sign_release, verify_release

_SKIP_DIRS = {"__pycache__", ".pytest_cache"}


def edge_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The distribution's edge-side dependencies (never torch: it lives in the ``train`` extra)."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    if any(d.split("=")[0].split(">")[0].split("<")[0].strip().lower() == "torch" for d in deps):
        raise InvalidInputError("torch must not be an edge-side dependency")
    return list(deps)


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, ignore=lambda d, names: [n for n in names if n in _SKIP_DIRS or n.endswith(".pyc")])


def build_bundle(app, settings, out: str | Path, *, sign_key_pem: bytes | None = None,
                 root: Path = REPO_ROOT) -> dict:
    """Write the archive for ``app`` to ``out``; returns what BUNDLE.json says (plus ``path``)."""
    from edgeinv import __version__

    models = app.models_dir(settings)
    verify_release(models)  # ModelError / ModelIntegrityError: nothing half-verified is packed
    out = Path(out)
    if not out.name.endswith((".tar.gz", ".tgz")):
        raise InvalidInputError(f"--out must end in .tar.gz or .tgz, got {out.name}")
    top = f"edgeinv-{app.name}-{__version__}"
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / top
        stage.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, stage / name)
        _copy_tree(root / "edgeinv", stage / "edgeinv")
        _copy_tree(root / "deploy", stage / "deploy")
        _copy_tree(models, stage / "models" / app.package_name)
        (stage / "requirements-edge.txt").write_text("\n".join(edge_requirements(root / "pyproject.toml")) + "\n")
        if sign_key_pem is not None:
            sign_release(stage / "models" / app.package_name, sign_key_pem)
        files = {str(p.relative_to(stage)): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(stage.rglob("*")) if p.is_file()}
        manifest = json.loads((models / "manifest.json").read_text())
        info = {"app": app.name, "version": __version__, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(
            timespec="seconds"), "git_commit": manifest.get("git_commit"), "signed": sign_key_pem is not None,
            "files": files}
        (stage / "BUNDLE.json").write_text(json.dumps(info, indent=2) + "\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(stage, arcname=top)
        partial.replace(out)  # never leave a half-written archive under the final name
    return {**{k: v for k, v in info.items() if k != "files"}, "files": len(files), "path": str(out),
            "size_bytes": out.stat().st_size}


def read_bundle_info(archive: str | Path) -> dict:
    """BUNDLE.json of an archive, checking every member against its recorded sha256."""
    try:
        tar = tarfile.open(archive, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise InvalidInputError(f"{archive}: not an edgeinv bundle ({exc})") from None
    with tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name and m.isfile()}
        if "BUNDLE.json" not in members:
            raise InvalidInputError(f"{archive}: no BUNDLE.json inside")
        info = json.load(io.TextIOWrapper(tar.extractfile(members["BUNDLE.json"]), encoding="utf-8"))
        for name, digest in info["files"].items():
            member = members.get(name)
            if member is None or hashlib.sha256(tar.extractfile(member).read()).hexdigest() != digest:
                raise ModelIntegrityError(f"{archive}: {name} is missing or altered")
    return info
