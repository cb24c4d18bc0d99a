"""`edgeinv bundle`: one signed archive per app (code as a wheel, models, unit); verified whole before use;
models encrypted at rest for one device; offline wheels for a target."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from edgeinv.common import cli
from edgeinv.common.app import get_app
from edgeinv.common.config import REPO_ROOT
from edgeinv.common.errors import ConfigError, InvalidInputError, ModelIntegrityError
from edgeinv.common.release import build_bundle, edge_requirements, read_bundle_info
from edgeinv.common.update.verify import _verify_pure, public_key_bytes, verify_bundle

pytest.importorskip("cryptography")
APP = "bearing-wear"


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    """A private copy of one app's shipped models (others may be rebuilding theirs meanwhile)."""
    src = REPO_ROOT / "models" / "bearing_wear"
    if not (src / "manifest.json").is_file():
        pytest.skip("no shipped bearing-wear models")
    root = tmp_path_factory.mktemp("models")
    shutil.copytree(src, root / "bearing_wear", ignore=shutil.ignore_patterns("*.pt"))
    manifest = json.loads((root / "bearing_wear" / "manifest.json").read_text())
    for entry in manifest["configs"].values():
        entry.pop("teacher_checkpoint_sha256", None)
    (root / "bearing_wear" / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    assert cli.main(["keygen", str(d / "pub")]) == 0
    assert cli.main(["keygen", str(d / "other")]) == 0
    return d


def _settings(settings, models_root):
    return settings.replace(models_dir=models_root)


def _rebuild(src: Path, top: str, out: Path, change) -> Path:
    x = out.with_suffix(".d")
    with tarfile.open(src) as tar:
        tar.extractall(x, filter="data")
    change(x / top)
    with tarfile.open(out, "w:gz") as tar:
        tar.add(x / top, arcname=top)
    return out


def test_edge_requirements_never_hold_training_packages():
    reqs = edge_requirements()
    assert reqs and not any(r.lower().startswith(("torch", "onnx>", "onnx=", "onnxscript", "prosail")) for r in reqs)
    assert any(r.startswith("onnxruntime") for r in reqs)


def test_pure_python_ed25519_matches_cryptography(keys):
    from cryptography.hazmat.primitives import serialization

    priv = serialization.load_pem_private_key((keys / "pub" / "signing.pem").read_bytes(), None)
    raw = public_key_bytes((keys / "pub" / "signing.pub.pem").read_bytes())
    sig = priv.sign(b"edgeinv")
    assert _verify_pure(raw, b"edgeinv", sig)
    assert not _verify_pure(raw, b"edgeinx", sig)
    assert not _verify_pure(raw, b"edgeinv", sig[:-1] + bytes([sig[-1] ^ 1]))
    with pytest.raises(InvalidInputError, match="Ed25519 public key"):
        public_key_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_signed_bundle_covers_the_whole_artifact(settings, models_root, keys, tmp_path, capsys):
    out = tmp_path / "dev.tar.gz"
    code = cli.main(["--json", "--models-dir", str(models_root), "bundle", APP, "--out", str(out), "--sign-key",
                     str(keys / "pub" / "signing.pem"), "--version", "1.2.0"])
    doc = json.loads(capsys.readouterr().out)  # exactly one JSON document
    assert code == 0 and doc["signed"] and doc["version"] == "1.2.0" and doc["size_bytes"] == out.stat().st_size
    pub = (keys / "pub" / "signing.pub.pem").read_bytes()
    info = verify_bundle(out, pub)
    names = set(info["files"])
    assert {"requirements-edge.txt", "deploy/edgeinv.service", "models/bearing_wear/manifest.json",
            "models/bearing_wear/manifest.json.sig"} <= names
    assert not any(n.endswith((".py", ".pt")) or "__pycache__" in n for n in names)  # code only as a wheel
    wheel = next(n for n in names if n.startswith("wheels/edgeinv-"))
    with tarfile.open(out) as tar:
        data = tar.extractfile(f"{info['top']}/{wheel}").read()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        eps = zf.read(next(n for n in zf.namelist() if n.endswith("entry_points.txt"))).decode()
        assert "bearing-wear = edgeinv.apps.bearing_wear:APP" in eps
        assert "edgeinv/common/update/verify.py" in zf.namelist()
    with pytest.raises(ModelIntegrityError, match="does not verify"):
        verify_bundle(out, (keys / "other" / "signing.pub.pem").read_bytes())
    with pytest.raises(InvalidInputError, match="no publisher key"):
        verify_bundle(out, None)

    top = info["top"]
    # a code edit inside the wheel, an added setup.py, a re-hashed BUNDLE.json: all refused
    edited = _rebuild(out, top, tmp_path / "e1.tar.gz",
                      lambda d: (d / wheel).write_bytes((d / wheel).read_bytes()[:-20] + b"\0" * 20))
    with pytest.raises(ModelIntegrityError, match="altered"):
        verify_bundle(edited, pub)
    added = _rebuild(out, top, tmp_path / "e2.tar.gz", lambda d: (d / "setup.py").write_text("import os\n"))
    with pytest.raises(ModelIntegrityError, match="setup.py is not listed"):
        verify_bundle(added, pub)

    def rehash(d):
        (d / "deploy" / "install.sh").write_text("#!/bin/sh\nrm -rf /\n")
        meta = json.loads((d / "BUNDLE.json").read_text())
        import hashlib
        meta["files"]["deploy/install.sh"] = hashlib.sha256((d / "deploy" / "install.sh").read_bytes()).hexdigest()
        (d / "BUNDLE.json").write_text(json.dumps(meta))
    with pytest.raises(ModelIntegrityError, match="signature does not verify"):
        verify_bundle(_rebuild(out, top, tmp_path / "e3.tar.gz", rehash), pub)

    def link(d):
        os.symlink("/etc/passwd", d / "models" / "evil")
    with pytest.raises(ModelIntegrityError, match="unsafe member"):
        verify_bundle(_rebuild(out, top, tmp_path / "e4.tar.gz", link), pub)


def test_unsigned_bundles_need_allow_unsigned(settings, models_root, tmp_path):
    out = tmp_path / "u.tar.gz"
    build_bundle(get_app(APP), _settings(settings, models_root), out)
    with pytest.raises(InvalidInputError, match="not signed"):
        verify_bundle(out, b"")
    assert read_bundle_info(out)["signed"] is False
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(InvalidInputError, match="not an edgeinv bundle"):
        read_bundle_info(tmp_path / "junk.tar.gz")
    with pytest.raises(InvalidInputError, match="must end in .tar.gz"):
        build_bundle(get_app(APP), _settings(settings, models_root), tmp_path / "b.zip")
    with pytest.raises(InvalidInputError, match="--target"):
        build_bundle(get_app(APP), _settings(settings, models_root), out, target="windows-arm")
    with pytest.raises(InvalidInputError, match="release version"):
        build_bundle(get_app(APP), _settings(settings, models_root), out, version="v2-beta")


def test_encrypted_bundle_is_not_onnx_on_disk_and_runs_with_the_device_key(settings, models_root, keys, tmp_path,
                                                                             monkeypatch, capsys):
    import numpy as np
    import onnxruntime as ort

    from edgeinv.common.runtime.bundle import verify_release
    from edgeinv.common.runtime.session import OnnxModel

    assert cli.main(["keygen", "--device", str(tmp_path / "dev")]) == 0
    capsys.readouterr()
    key = tmp_path / "dev" / "device.key"
    assert (key.stat().st_mode & 0o777) == 0o600
    out = tmp_path / "enc.tar.gz"
    assert cli.main(["--models-dir", str(models_root), "bundle", APP, "--out", str(out),
                     "--encrypt-for", str(tmp_path / "dev" / "device.pub.pem")]) == 0
    x = tmp_path / "x"
    with tarfile.open(out) as tar:
        tar.extractall(x, filter="data")
    models = next(x.iterdir()) / "models"
    encs = list((models / "bearing_wear").rglob("*.onnx.enc"))
    assert encs and not list((models / "bearing_wear").rglob("*.onnx"))
    for f in encs:
        with pytest.raises(Exception):
            ort.InferenceSession(str(f))
        with pytest.raises(Exception):
            ort.InferenceSession(f.read_bytes())
    verify_release(models / "bearing_wear")
    manifest = json.loads((models / "bearing_wear" / "manifest.json").read_text())
    rec = manifest["configs"]["default"]["variants"]["teacher_fp32"]
    enc_path = models / "bearing_wear" / rec["file"]
    plain_path = models_root / "bearing_wear" / rec["file"].removesuffix(".enc")
    xin = np.load(models / "bearing_wear" / "default" / "golden.npz")["x"][:4]
    monkeypatch.setenv("EDGEINV_DEVICE_KEY", str(tmp_path / "missing.key"))
    with pytest.raises(ConfigError, match="device key .* is missing"):
        OnnxModel(enc_path)
    loose = tmp_path / "loose.key"
    shutil.copy(key, loose)
    loose.chmod(0o644)
    monkeypatch.setenv("EDGEINV_DEVICE_KEY", str(loose))
    with pytest.raises(ConfigError, match="chmod 600"):
        OnnxModel(enc_path)
    assert cli.main(["keygen", "--device", str(tmp_path / "dev2")]) == 0
    monkeypatch.setenv("EDGEINV_DEVICE_KEY", str(tmp_path / "dev2" / "device.key"))
    with pytest.raises(ConfigError, match="another device"):
        OnnxModel(enc_path)
    monkeypatch.setenv("EDGEINV_DEVICE_KEY", str(key))
    got, want = OnnxModel(enc_path)(xin), OnnxModel(plain_path)(xin)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_unit_caps_resources_and_installer_parses(tmp_path):
    unit = (REPO_ROOT / "deploy" / "edgeinv.service").read_text()
    for needle in ("CPUQuota=", "MemoryMax=", "TasksMax=", "EDGEINV_THREADS=1", "edgeinv-supervisor"):
        assert needle in unit
    subprocess.run(["bash", "-n", str(REPO_ROOT / "deploy" / "install.sh")], check=True)
    if shutil.which("systemd-analyze"):
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "edgeinv-supervisor").write_text("#!/bin/sh\n")
        (tmp_path / "bin" / "edgeinv-supervisor").chmod(0o755)
        rendered = tmp_path / "edgeinv.service"
        rendered.write_text(unit.replace("@PREFIX@", str(tmp_path)))
        run = subprocess.run(["systemd-analyze", "verify", str(rendered)], capture_output=True, text=True)
        assert run.returncode == 0 and not run.stderr.strip(), run.stderr


def test_a_dependency_without_a_wheel_for_the_target_is_refused_clearly(monkeypatch, tmp_path):
    from edgeinv.common.update import wheelhouse

    def fake(req, dest, target, python, *, offline):
        err = ("ERROR: Could not find a version that satisfies the requirement rasterio>=1.3 (from versions: none)\n"
               "ERROR: No matching distribution found for rasterio>=1.3\n")
        return subprocess.CompletedProcess([], 1, "", err)

    monkeypatch.setenv("EDGEINV_WHEEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(wheelhouse, "_pip_download", fake)
    with pytest.raises(InvalidInputError, match="no wheel for linux-aarch64 / Python 3.11: .*rasterio"):
        wheelhouse.download_wheels(["rasterio>=1.3"], "linux-aarch64", "3.11", tmp_path / "w")
    with pytest.raises(InvalidInputError, match="--python"):
        wheelhouse.check_target("linux-aarch64", "3.9")


def test_offline_bundle_for_this_target_installs_without_an_index(settings, models_root, keys, tmp_path):
    """Every edge dependency as a wheel for this machine's platform: pip resolves the whole requirement set
    from the bundle alone (--no-index). EDGEINV_TEST_OFFLINE_INSTALL=1 also installs it into a prefix and
    self-tests it (about 2 minutes here)."""
    import sys

    from edgeinv.common.update.wheelhouse import TARGETS, this_target

    target, py = this_target(), f"{sys.version_info.major}.{sys.version_info.minor}"
    if target not in TARGETS:
        pytest.skip(f"no wheels are built for {target}")
    out = tmp_path / "offline.tar.gz"
    try:
        info = build_bundle(get_app(APP), _settings(settings, models_root), out, target=target, python=py,
                            sign_key_pem=(keys / "pub" / "signing.pem").read_bytes())
    except ConfigError as exc:
        pytest.skip(f"the wheels for {target} are neither cached nor reachable on PyPI: {exc}")
    assert info["target"] == target and info["wheels"] > 10
    full = verify_bundle(out, (keys / "pub" / "signing.pub.pem").read_bytes())
    wheels = [n.split("/", 1)[1] for n in full["files"] if n.startswith("wheels/")]
    assert any(w.startswith("onnxruntime-") for w in wheels) and any(w.startswith("numpy-") for w in wheels)
    assert not any(w.lower().startswith(("torch-", "onnx-", "onnxscript-", "prosail-")) for w in wheels)
    x = tmp_path / "x"
    with tarfile.open(out) as tar:
        tar.extractall(x, filter="data")
    top = next(x.iterdir())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "-q", "--ignore-installed", "--no-index",
                          "--only-binary=:all:", "--find-links", str(top / "wheels"), "--target", str(tmp_path / "t"),
                          "-r", str(top / "requirements-edge.txt"), str(next((top / "wheels").glob("edgeinv-*.whl")))],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    if os.environ.get("EDGEINV_TEST_OFFLINE_INSTALL"):
        from update_helpers import Device

        dev = Device(tmp_path / "P", keys / "pub" / "signing.pub.pem")
        run = dev.install(out)
        assert run.returncode == 0, run.stderr
        assert list((dev.p / "envs").glob("*/.complete"))


def test_the_installed_verifier_needs_no_third_party_package(settings, models_root, keys, tmp_path):
    """`python -m edgeinv.common.update.verify` with `cryptography` unimportable (a bare device Python)."""
    import sys

    out = build_bundle(get_app(APP), _settings(settings, models_root), tmp_path / "b.tar.gz",
                       sign_key_pem=(keys / "pub" / "signing.pem").read_bytes())["path"]
    code = ("import sys; sys.modules['cryptography'] = None; sys.modules['numpy'] = None; "
            "from edgeinv.common.update.verify import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    ok = subprocess.run([sys.executable, "-P", "-c", code, out, "--key", str(keys / "pub" / "signing.pub.pem")],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and json.loads(ok.stdout)["app"] == APP, ok.stderr
    bad = subprocess.run([sys.executable, "-P", "-c", code, out, "--key", str(keys / "other" / "signing.pub.pem")],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "does not verify" in bad.stderr and "Traceback" not in bad.stderr
