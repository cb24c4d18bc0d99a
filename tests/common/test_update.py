"""OTA end to end in a temporary prefix: publish, install, serve, update, roll back; refusals."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from edgeinv.common import cli
from edgeinv.common.config import REPO_ROOT
from update_helpers import APP, Device, broken_code_root, bundle, copy_models

pytest.importorskip("cryptography")
pytestmark = pytest.mark.skipif(not (REPO_ROOT / "models" / "bearing_wear" / "manifest.json").is_file(),
                                reason="no shipped bearing-wear models")


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """Keys and the bundles, built once: v1, v2, v3 failing its self-test, v3.0.1 whose server crashes."""
    d = tmp_path_factory.mktemp("kit")
    assert cli.main(["keygen", str(d / "keys")]) == 0
    assert cli.main(["keygen", str(d / "other")]) == 0
    key = d / "keys" / "signing.pem"
    good = copy_models(d / "models")
    bad = copy_models(d / "badmodels", break_golden=True)
    b = {"v1": bundle(d / "v1.tar.gz", good, key, "1.0.0"), "v2": bundle(d / "v2.tar.gz", good, key, "2.0.0"),
         "v3": bundle(d / "v3.tar.gz", bad, key, "3.0.0"),
         "v301": bundle(d / "v301.tar.gz", good, key, "3.0.1", root=broken_code_root(d / "broken")),
         "foreign": bundle(d / "foreign.tar.gz", good, d / "other" / "signing.pem", "9.0.0"),
         "v4min": bundle(d / "v4min.tar.gz", good, key, "4.0.0", min_version="2.5.0")}
    return {"dir": d, "key": key, "pub": d / "keys" / "signing.pub.pem", "bundles": b}


def publish(kit, name, channel):
    assert cli.main(["release", "publish", str(kit["bundles"][name]), "--channel", str(channel), "--sign-key",
                     str(kit["key"])]) == 0


@pytest.fixture
def device(kit, tmp_path):
    dev = Device(tmp_path / "P", kit["pub"])
    yield dev
    dev.stop()
    assert dev.leftovers() == []  # the supervisor takes its server (and any self-test) with it


def test_publish_install_update_and_roll_back(kit, device, tmp_path, capsys):
    chan = tmp_path / "channel"
    publish(kit, "v1", chan)
    index = json.loads(json.loads((chan / "index.json").read_text())["signed"])
    rel = index["releases"][APP][0]
    assert index["serial"] == 1 and rel["version"] == "1.0.0" and (chan / rel["file"]).is_file()
    run = device.install(chan / rel["file"])
    assert run.returncode == 0, run.stderr
    device.start()
    device.wait_serving("1.0.0")

    # the served process runs with the thread caps of the unit / launcher
    pids = (open(f"/proc/{device.sup.pid}/task/{device.sup.pid}/children").read().split())
    environ = dict(kv.split("=", 1) for kv in open(f"/proc/{pids[0]}/environ").read().split("\0") if "=" in kv)
    assert environ["EDGEINV_THREADS"] == "1" and environ["OMP_NUM_THREADS"] == "1"
    # another app's models on the device (planted here) must survive this app's update untouched
    other = device.p / "slots" / device.state()["committed"] / "models" / "other_app"
    other.mkdir()
    (other / "manifest.json").write_text("{}")
    publish(kit, "v2", chan)
    run = device.update(chan)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["updates"][0]["result"] == "committed"
    device.wait_serving("2.0.0")
    carried = device.p / "slots" / device.state()["committed"] / "models" / "other_app" / "manifest.json"
    assert carried.stat().st_ino == (other / "manifest.json").stat().st_ino
    assert device.state()["index_serial"] == 2
    schema = device.healthz()[1]["db"]["schema_version"]

    # v3: its models fail the self-test on this CPU -> never switched, v2 keeps serving, the log says why
    publish(kit, "v3", chan)
    run = device.update(chan)
    assert run.returncode != 0 and "failed its health check" in run.stderr and "nothing switched" in run.stderr
    assert device.serving() == "2.0.0" and device.state()["trying"] is None
    refused = [e for e in device.log() if e["event"] == "refused"][-1]
    assert refused["version"] == "3.0.0" and "self-test failed" in refused["reason"]

    # v3.0.1: passes the self-test, migrates the store and crashes at start -> two boots, rollback, the
    # database snapshot restored, v2 serving again with its schema
    publish(kit, "v301", chan)
    run = device.update(chan)
    assert run.returncode != 0 and "rolled back" in run.stderr, run.stderr
    device.wait_serving("2.0.0")
    events = [e["event"] for e in device.log()]
    assert events.count("boot failed") >= 2 and "rolled back" in events
    rb = [e for e in device.log() if e["event"] == "rolled back"][-1]
    assert rb["version"] == "3.0.1" and "did not come up healthy" in rb["reason"] and rb["database_restored"]
    with sqlite3.connect(device.p / "data" / "edgeinv.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema
    assert device.healthz()[1]["db"]["schema_version"] == schema
    assert device.state()["failed"]["version"] == "3.0.1"
    run = device.update(chan)  # the channel still offers 3.0.1: not retried by itself
    assert run.returncode == 0 and json.loads(run.stdout)["updates"][0]["result"] == "skipped"
    assert "rolled back on this device" in run.stdout and device.serving() == "2.0.0"

    # older than what runs: refused unless asked; the status tool shows slots and log
    run = subprocess.run([str(device.p / "bin" / "edgeinv"), "update", "--channel", str(chan), "--version", "1.0.0"],
                         capture_output=True, text=True, env=device.env(), timeout=120)
    assert run.returncode == 2 and "older than the installed 2.0.0" in run.stderr and "Traceback" not in run.stderr
    status = subprocess.run([str(device.p / "bin" / "edgeinv-status")], capture_output=True, text=True)
    doc = json.loads(status.stdout)
    assert doc["slots"][doc["committed"]]["apps"][APP] == "2.0.0"
    assert not list((device.p / "slots").glob(".*.tmp")) and len(list((device.p / "slots").iterdir())) <= 2


def test_tampered_or_replayed_inputs_are_refused_and_change_nothing(kit, device, tmp_path):
    chan = tmp_path / "channel"
    publish(kit, "v1", chan)
    old_index = (chan / "index.json").read_bytes()
    publish(kit, "v2", chan)
    # an unsigned bundle, and a bundle signed by another key, never get in
    unsigned = bundle(tmp_path / "u.tar.gz", copy_models(tmp_path / "m"), None, "1.0.0")
    run = device.install(unsigned)
    assert run.returncode != 0 and "not signed" in run.stderr
    run = device.install(kit["bundles"]["foreign"])
    assert run.returncode != 0 and "does not verify" in run.stderr and not (device.p / "state.json").exists()
    assert device.install(kit["bundles"]["v1"]).returncode == 0
    device.start()
    device.wait_serving("1.0.0")
    before = device.state()

    def refused(expect, **files):
        saved = {n: (chan / n).read_bytes() for n in files}
        for n, data in files.items():
            (chan / n).write_bytes(data)
        try:
            run = device.update(chan)
            assert run.returncode != 0 and expect in run.stderr, run.stderr
            st = device.state()
            assert (st["committed"], st["trying"], st["slots"]) == (before["committed"], None, before["slots"])
            assert device.serving() == "1.0.0"
        finally:
            for n, data in saved.items():
                (chan / n).write_bytes(data)

    good = json.loads((chan / "index.json").read_text())
    forged = json.loads(good["signed"])
    forged["releases"][APP][-1]["version"] = "7.0.0"
    refused("does not verify", **{"index.json": json.dumps({**good, "signed": json.dumps(forged)}).encode()})
    other = tmp_path / "otherchan"
    assert cli.main(["release", "publish", str(kit["bundles"]["foreign"]), "--channel", str(other), "--sign-key",
                     str(kit["dir"] / "other" / "signing.pem")]) == 0
    refused("does not verify", **{"index.json": (other / "index.json").read_bytes()})
    v2file = json.loads(good["signed"])["releases"][APP][-1]["file"]
    data = bytearray((chan / v2file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    refused("does not match the index", **{v2file: bytes(data)})
    assert device.state()["index_serial"] == 2
    refused("older than serial 2", **{"index.json": old_index})
    # after all that, the genuine update goes through
    run = device.update(chan)
    assert run.returncode == 0, run.stderr
    device.wait_serving("2.0.0")
    # a release that needs 2.5.0 installed first is refused on a 2.0.0 device
    publish(kit, "v4min", chan)
    run = device.update(chan)
    assert run.returncode != 0 and "needs 2.5.0 or newer installed first" in run.stderr
    assert device.serving() == "2.0.0"


def test_cli_update_reports_a_missing_channel_clearly(tmp_path, capsys):
    code = cli.main(["update", "--channel", str(tmp_path / "nowhere"), "--prefix", str(tmp_path / "P")])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error:") and "Traceback" not in err
    code = cli.main(["release", "publish", str(tmp_path / "none.tar.gz"), "--channel", str(tmp_path / "c"),
                     "--sign-key", str(tmp_path / "k.pem")])
    assert code == 2 and "cannot read --sign-key" in capsys.readouterr().err


def test_encrypted_release_and_a_models_only_update(kit, device, tmp_path):
    """Models encrypted for this device install, self-test and predict; on disk they are not ONNX. A
    models-only bundle (no code) is a smaller update that keeps the code and the other apps."""
    import onnxruntime as ort

    from update_helpers import bundle as make_bundle

    assert cli.main(["keygen", "--device", str(tmp_path / "dev")]) == 0
    models = copy_models(tmp_path / "m")
    enc = make_bundle(tmp_path / "enc.tar.gz", models, kit["key"], "1.0.0",
                      encrypt_for=(tmp_path / "dev" / "device.pub.pem").read_bytes())
    small = make_bundle(tmp_path / "models-only.tar.gz", models, kit["key"], "1.0.1", models_only=True,
                        encrypt_for=(tmp_path / "dev" / "device.pub.pem").read_bytes())
    assert small.stat().st_size < enc.stat().st_size
    run = device.install(enc)  # no device key on the device yet: the self-test cannot open the models
    assert run.returncode != 0 and "device key" in run.stderr and "nothing switched" in run.stderr
    run = device.install(enc, "--device-key", str(tmp_path / "dev" / "device.key"))
    assert run.returncode == 0, run.stderr
    assert (device.p / "etc" / "device.key").stat().st_mode & 0o777 == 0o600
    device.start()
    device.wait_serving("1.0.0")
    on_disk = list((device.p / "slots").glob("*/models/bearing_wear/*/*.onnx.enc"))
    assert on_disk and not list((device.p / "slots").glob("*/models/bearing_wear/*/*.onnx"))
    with pytest.raises(Exception):
        ort.InferenceSession(str(on_disk[0]))
    sample = tmp_path / "sample.npz"
    edgeinv = str(device.p / "bin" / "edgeinv")
    assert subprocess.run([edgeinv, APP, "simulate", "--out", str(sample)], capture_output=True).returncode == 0
    run = subprocess.run([edgeinv, "--json", APP, "predict", str(sample)], capture_output=True, text=True,
                         env=device.env())
    # (a models/code preprocessing mismatch in a working tree is not an encryption failure)
    assert run.returncode == 0 or "preprocessing v" in run.stderr, run.stderr
    if run.returncode == 0:
        assert json.loads(run.stdout) and "fault" in run.stdout

    chan = tmp_path / "channel"
    assert cli.main(["release", "publish", str(small), "--channel", str(chan), "--sign-key", str(kit["key"])]) == 0
    site_before = (device.p / "slots" / device.state()["committed"] / "site" / "edgeinv" / "__init__.py").stat()
    run = device.update(chan)
    assert run.returncode == 0, run.stderr
    device.wait_serving("1.0.1")
    st = device.state()
    rec = st["slots"][st["committed"]]
    assert rec["bundle"]["kind"] == "models" and rec["code_version"]
    site_after = (device.p / "slots" / st["committed"] / "site" / "edgeinv" / "__init__.py").stat()
    assert site_after.st_ino == site_before.st_ino  # the code is shared (hard links), not shipped again


def test_health_rule_degraded_only_for_apps_not_on_this_device():
    from edgeinv.common.update.health import judge

    ok_app = {"models_present": True, "models_verified": True, "selftest": {"usable": True}}
    missing = {"models_present": False, "models_verified": None}
    body = {"status": "degraded", "db": {"ok": True}, "broken_apps": [], "apps": {APP: ok_app, "veg-cover": missing}}
    assert judge(body, [APP])[0]
    assert not judge(body, [APP, "veg-cover"])[0]  # an installed app without models is not healthy
    assert not judge({**body, "broken_apps": ["veg-cover"]}, [APP])[0]
    assert not judge({**body, "status": "error"}, [APP])[0]
    assert not judge({**body, "db": {"ok": False}}, [APP])[0]
    unusable = {**ok_app, "selftest": {"usable": False}}
    assert "no variant usable" in judge({**body, "apps": {APP: unusable}}, [APP])[1]
