"""Wheels for a bundle: edgeinv itself as a pure wheel (built here, no build step on the device) and
every edge dependency for the device's platform (``pip download --only-binary=:all:``).

Targets are ``linux-x86_64`` and ``linux-aarch64`` (glibc >= 2.17 up to 2.31 wheels: Debian 11+,
Ubuntu 20.04+, Raspberry Pi OS bullseye+). Downloads go to a cache folder
(``EDGEINV_WHEEL_CACHE``, default ``~/.cache/edgeinv/wheels/<target>-cp<py>``) that is tried offline
first, so a build machine without internet reuses what it fetched before.
"""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from ..errors import ConfigError, InvalidInputError

TARGETS = {"linux-x86_64": "x86_64", "linux-aarch64": "aarch64"}
_MANYLINUX = ("manylinux2014", "manylinux_2_17", "manylinux_2_24", "manylinux_2_27", "manylinux_2_28",
              "manylinux_2_31")
_PKG_DATA = (".py", ".txt", ".json", ".csv", ".html", ".css", ".js", ".md")
_EPOCH = (1980, 1, 1, 0, 0, 0)


def this_target() -> str:
    """The target name of the machine running this (``linux-x86_64`` / ``linux-aarch64``)."""
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    return f"{sys.platform}-{machine}"


def check_target(target: str, python: str) -> tuple[str, str]:
    if target not in TARGETS:
        raise InvalidInputError(f"--target {target!r}: choose one of {', '.join(TARGETS)}")
    parts = python.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or (int(parts[0]), int(parts[1])) < (3, 11):
        raise InvalidInputError(f"--python {python!r}: give the device's Python as MAJOR.MINOR, 3.11 or newer")
    return target, python


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_edge_wheel(root: Path, out_dir: Path, version: str) -> Path:
    """``edgeinv-<version>-py3-none-any.whl`` of the package under ``root`` (pure Python, reproducible)."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    name = "edgeinv"
    dist = f"{name}-{version}.dist-info"
    files: list[tuple[str, bytes]] = []
    for p in sorted((root / "edgeinv").rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in _PKG_DATA:
            files.append((p.relative_to(root).as_posix(), p.read_bytes()))
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
            f"Summary: {project.get('description', '')}", f"Requires-Python: {project.get('requires-python', '')}"]
    meta += [f"Requires-Dist: {d}" for d in project.get("dependencies", [])]
    eps = ["[console_scripts]"] + [f"{k} = {v}" for k, v in project.get("scripts", {}).items()]
    for group, entries in project.get("entry-points", {}).items():
        eps += ["", f"[{group}]"] + [f"{k} = {v}" for k, v in entries.items()]
    files += [(f"{dist}/METADATA", ("\n".join(meta) + "\n").encode()),
              (f"{dist}/WHEEL", b"Wheel-Version: 1.0\nGenerator: edgeinv-release\nRoot-Is-Purelib: true\n"
                                b"Tag: py3-none-any\n"),
              (f"{dist}/entry_points.txt", ("\n".join(eps) + "\n").encode()),
              (f"{dist}/top_level.txt", b"edgeinv\n")]
    record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d in files) + f"{dist}/RECORD,,\n"
    files.append((f"{dist}/RECORD", record.encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in files:
            info = zipfile.ZipInfo(n, _EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, d)
    return path


def cache_dir(target: str, python: str) -> Path:
    base = os.environ.get("EDGEINV_WHEEL_CACHE") or Path.home() / ".cache" / "edgeinv" / "wheels"
    return Path(base) / f"{target}-cp{python.replace('.', '')}"


def _pip_download(requirements: Path, dest: Path, target: str, python: str, *, offline: bool) -> subprocess.CompletedProcess:
    arch = TARGETS[target]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:",
           "--python-version", python, "--implementation", "cp", "--abi", f"cp{python.replace('.', '')}",
           "-d", str(dest), "-r", str(requirements)]
    for tag in _MANYLINUX:
        cmd += ["--platform", f"{tag}_{arch}"]
    if offline:
        cmd += ["--no-index", "--find-links", str(dest)]
    env = {**os.environ, "PIP_NO_INPUT": "1"}
    if offline:
        env.pop("PIP_FIND_LINKS", None)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)


def download_wheels(requirements: list[str], target: str, python: str, dest: Path) -> list[Path]:
    """Wheels of ``requirements`` and their dependencies for ``target``/``python`` copied into ``dest``.

    Raises InvalidInputError naming the dependency when one has no wheel for the target (no sdist is
    ever taken: nothing gets compiled on the device).
    """
    check_target(target, python)
    cache = cache_dir(target, python)
    cache.mkdir(parents=True, exist_ok=True)
    req = cache / "requirements-edge.txt"
    req.write_text("\n".join(requirements) + "\n")
    run = _pip_download(req, cache, target, python, offline=True)
    if run.returncode != 0:
        run = _pip_download(req, cache, target, python, offline=False)
    if run.returncode != 0:
        lines = [ln for ln in (run.stderr or "").splitlines() if "ERROR" in ln or "No matching" in ln]
        why = lines[0] if lines else (run.stderr.strip().splitlines() or ["pip failed"])[-1]
        offline = any(w in (run.stderr or "") for w in ("NewConnectionError", "ConnectionError", "Temporary failure",
                                                         "Network is unreachable", "ProxyError", "timed out"))
        if not offline and ("from versions: none" in why or "No matching distribution" in why):
            raise InvalidInputError(f"a dependency has no wheel for {target} / Python {python}: {why.replace('ERROR: ', '')}")
        raise ConfigError(f"cannot fetch the wheels for {target} / Python {python} (PyPI unreachable and not in "
                          f"{cache}?): {why.replace('ERROR: ', '')}")
    # pip -d writes only what this requirement set resolved to, but the cache may hold older versions:
    # ask pip (offline) which files it would use.
    report = _resolved(req, cache, target, python)
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name in report:
        src = cache / name
        if not name.endswith(".whl"):
            raise InvalidInputError(f"{name} is not a wheel; refusing to ship a source build")
        try:
            os.link(src, dest / name)
        except OSError:
            shutil.copyfile(src, dest / name)
        out.append(dest / name)
    return out


def _resolved(req: Path, cache: Path, target: str, python: str) -> list[str]:
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rep = Path(tmp) / "report.json"
        arch = TARGETS[target]
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--dry-run",
               "--ignore-installed", "--report", str(rep), "--only-binary=:all:", "--python-version", python,
               "--implementation", "cp", "--abi", f"cp{python.replace('.', '')}", "--target", str(Path(tmp) / "t"),
               "--no-index", "--find-links", str(cache), "-r", str(req)]
        for tag in _MANYLINUX:
            cmd += ["--platform", f"{tag}_{arch}"]
        env = {k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"}
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if run.returncode != 0:
            raise ConfigError(f"the wheel cache {cache} does not resolve the edge requirements: "
                              f"{(run.stderr.strip().splitlines() or ['?'])[-1]}")
        doc = json.loads(rep.read_text())
    return sorted(Path(item["download_info"]["url"].split("://", 1)[1]).name for item in doc["install"])
