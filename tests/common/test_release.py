"""`edgeinv bundle`: one archive per app with code, verified (signed) models, edge requirements, unit."""

from __future__ import annotations

import json
import tarfile

import pytest

from edgeinv.common import cli
from edgeinv.common.app import all_apps
from edgeinv.common.errors import InvalidInputError, ModelIntegrityError
from edgeinv.common.release import build_bundle, edge_requirements, read_bundle_info

pytest.importorskip("cryptography")


def _shipped_app(settings):
    for app in all_apps().values():
        if (app.models_dir(settings) / "manifest.json").is_file():
            return app
    pytest.skip("no shipped models in models/")


def test_edge_requirements_never_hold_torch():
    reqs = edge_requirements()
    assert reqs and not any(r.lower().startswith("torch") for r in reqs)
    assert any(r.startswith("onnxruntime") for r in reqs)


def test_signed_bundle_round_trip(settings, tmp_path, capsys):
    from edgeinv.common.runtime.bundle import verify_signature

    app = _shipped_app(settings)
    assert cli.main(["keygen", str(tmp_path / "keys")]) == 0
    assert cli.main(["keygen", str(tmp_path / "keys")]) != 0  # never overwrites a signing key
    capsys.readouterr()
    out = tmp_path / "dev.tar.gz"
    assert cli.main(["--json", "bundle", app.name, "--out", str(out), "--sign-key",
                     str(tmp_path / "keys" / "signing.pem")]) == 0
    doc = json.loads(capsys.readouterr().out)  # exactly one JSON document
    assert doc["signed"] and doc["app"] == app.name
    info = read_bundle_info(out)
    names = set(info["files"])
    pkg = app.package_name
    assert {"pyproject.toml", "requirements-edge.txt", "deploy/edgeinv.service", "deploy/install.sh",
            f"models/{pkg}/manifest.json", f"models/{pkg}/manifest.json.sig"} <= names
    assert not any("__pycache__" in n for n in names)
    with tarfile.open(out) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    folder = next((tmp_path / "x").iterdir()) / "models" / pkg
    verify_signature(folder, (tmp_path / "keys" / "signing.pub.pem").read_bytes())
    # a device with another publisher's key refuses the release
    cli.main(["keygen", str(tmp_path / "other")])
    with pytest.raises(ModelIntegrityError, match="does not verify"):
        verify_signature(folder, (tmp_path / "other" / "signing.pub.pem").read_bytes())


def test_tampered_archive_is_refused(settings, tmp_path):
    app = _shipped_app(settings)
    out = tmp_path / "b.tar.gz"
    build_bundle(app, settings, out)
    x = tmp_path / "x"
    with tarfile.open(out) as tar:
        tar.extractall(x, filter="data")
    top = next(x.iterdir())
    (top / "requirements-edge.txt").write_text("torch\n")
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    with pytest.raises(ModelIntegrityError, match="requirements-edge.txt"):
        read_bundle_info(bad)
    with pytest.raises(InvalidInputError, match="not an edgeinv bundle"):
        read_bundle_info(tmp_path / "missing.tar.gz")
    with pytest.raises(InvalidInputError, match="must end in .tar.gz"):
        build_bundle(app, settings, tmp_path / "b.zip")


def test_installer_script_parses():
    import subprocess

    from edgeinv.common.config import REPO_ROOT

    subprocess.run(["bash", "-n", str(REPO_ROOT / "deploy" / "install.sh")], check=True)
