"""Kill -9 the updater at each step (download, unpack, health check, switch, confirm) and cut the power
during a trial boot: a release always serves afterwards and the next update succeeds."""

from __future__ import annotations

import json
import time

import pytest

from edgeinv.common import cli
from edgeinv.common.config import REPO_ROOT
from update_helpers import Device, make_kit, serve_channel

pytest.importorskip("cryptography")
pytestmark = pytest.mark.skipif(not (REPO_ROOT / "models" / "bearing_wear" / "manifest.json").is_file(),
                                reason="no shipped bearing-wear models")


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    return make_kit(tmp_path_factory.mktemp("kit"), {"v1": "1.0.0", "v2": "2.0.0"})


def test_kill_at_every_step_then_power_loss_during_the_trial_boot(kit, tmp_path):
    chan = tmp_path / "channel"
    for name in ("v1", "v2"):
        assert cli.main(["release", "publish", str(kit["bundles"][name]), "--channel", str(chan), "--sign-key",
                         str(kit["key"])]) == 0
    http = serve_channel(chan)
    dev = Device(tmp_path / "P", kit["pub"])
    try:
        assert dev.install(kit["bundles"]["v1"]).returncode == 0
        dev.start()
        dev.wait_serving("1.0.0")
        current, target = "1.0.0", "2.0.0"
        # each killed run is followed by the next one, which gets further (the download resumes); after
        # every kill the previous release serves and nothing half-done is visible
        for steps in (("download", "unpack", "health"), ("switch",), ("confirm",)):
            args = ("--version", target, "--allow-downgrade")
            for step in steps:
                run = dev.update(http.url, *args, kill_at=step)
                assert run.returncode == -9, (step, run.stderr)
                # killed before the switch: the previous release serves; after it: the new one once committed
                dev.wait_serving(target if step == "confirm" else current)
                if step == "download":
                    assert list((dev.p / "var" / "downloads").glob("*.part"))
            run = dev.update(http.url, *args)
            assert run.returncode == 0, (steps, run.stderr)
            assert json.loads(run.stdout)["updates"][0]["result"] == ("up to date" if steps == ("confirm",)
                                                                       else "committed")
            dev.wait_serving(target)
            current, target = target, current
        assert any(e["event"] == "resuming download" for e in dev.log()) and http.ranges  # HTTP Range resume
        assert not list((dev.p / "slots").glob(".*.tmp"))

        # power loss: the updater dies right after switching, the supervisor dies during the first trial
        # boot; the next start counts a second boot and commits the healthy release
        dev.sup.kill()
        dev.sup.wait()
        run = dev.update(http.url, "--version", target, "--allow-downgrade", kill_at="confirm")
        assert run.returncode == -9 and dev.state()["trying"]
        dev.start()
        deadline = time.monotonic() + 60
        while dev.state().get("boots", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        dev.sup.kill()
        dev.sup.wait()
        assert dev.state()["trying"] and dev.state()["boots"] == 1
        dev.start()
        dev.wait_serving(target)
        assert dev.log()[-1]["event"] == "committed"
        dev.stop()
        assert dev.leftovers() == []  # no server outlived its supervisor, whatever moment it was killed at
    finally:
        dev.stop()
        http.shutdown()
