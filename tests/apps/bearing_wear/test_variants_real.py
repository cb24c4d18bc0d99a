"""Real-data figures for every shipped variant, and a self-test that never switches to one worse on real data."""

import shutil

import numpy as np
import pytest

from edgeinv.apps.bearing_wear import APP
from edgeinv.common.config import load_settings
from edgeinv.common.runtime import selftest as st
from edgeinv.common.runtime.bundle import load_runner
from edgeinv.common.runtime.manifest import read_manifest, update_manifest

from tests.apps.bearing_wear.test_decision import _labelled_folder

SHIPPED = load_settings(env={}).models_dir


@pytest.fixture
def device(tmp_path):
    root = tmp_path / "models"
    shutil.copytree(SHIPPED / APP.package_name, root / APP.package_name)
    return load_settings(env={}, models_dir=root, data_dir=tmp_path / "data")


def test_evaluate_real_scores_every_shipped_variant(tmp_path, rng):
    settings = load_settings(env={}, data_dir=tmp_path / "data")
    entry = read_manifest(settings.models_dir / APP.package_name)["configs"]["default"]
    folder = _labelled_folder(tmp_path, rng)
    (folder / "labels.csv").write_text((folder / "labels.csv").read_text().replace("file,", "local_file,", 1))
    out = APP.evaluate_real(folder, lambda config, variant=None: load_runner(APP, settings, config=config,
                                                                             variant=variant or entry["chosen"]))
    assert out["variant"] == entry["chosen"] and out["config"] == "default"
    assert set(out["variants"]) == set(entry["variants"])
    for v in out["variants"].values():
        assert set(v["totals"]) == {"calls_right", "healthy_right", "severity_groups_ordered", "stable_under_speed_error_1pct"}
        assert v["n"]["calls_right"] == 2 and v["n"]["healthy_right"] == 1
    assert out["variants"][entry["chosen"]]["totals"]["calls_right"] == out["summary"]["overall"]["right"]
    assert "every shipped variant" in out["text"]
    # a runner_for that names no variants (a fine-tuned folder, tests): the one runner only
    one = APP.evaluate_real(folder, lambda config: load_runner(APP, settings, config=config, variant=entry["chosen"]))
    assert list(one["variants"]) == [entry["chosen"]]


def test_worse_on_real_compares_every_count_with_the_chosen():
    real = {"config": "default", "variants": {
        "a": {"totals": {"calls_right": 42, "stable": 42}}, "b": {"totals": {"calls_right": 42, "stable": 41}},
        "c": {"totals": {"calls_right": 43, "stable": 42}}}}
    assert set(st.worse_on_real(real, "default", "a")) == {"b"} and "stable 41 < 42" in st.worse_on_real(real, "default", "a")["b"]
    assert st.worse_on_real(real, "other", "a") == {} and st.worse_on_real(None, "default", "a") == {}
    assert st.worse_on_real(real, "default", "missing") == {}


def test_selftest_does_not_switch_to_a_faster_variant_that_is_worse_on_real_data(device, monkeypatch):
    folder = device.models_dir / APP.package_name
    chosen = read_manifest(folder)["configs"]["default"]["chosen"]
    fast = "teacher_fp32" if chosen != "teacher_fp32" else "student_fp32"

    def timing(models, x1, repeats):  # the other variant is 5x faster on this "device"
        return {n: (0.1 if n == fast else 0.5) for n in models}

    monkeypatch.setattr(st, "_time", timing)
    totals = {"calls_right": 42, "healthy_right": 4, "severity_groups_ordered": 8, "stable_under_speed_error_1pct": 42}

    def real_section(fast_totals):
        def change(m):
            variants = m["configs"]["default"]["variants"]
            m["real"] = {"config": "default", "variants": {v: {"totals": dict(totals)} for v in variants}}
            m["real"]["variants"][fast]["totals"].update(fast_totals)
        return change

    update_manifest(folder, real_section({}))  # as good on real data: the faster one is taken
    assert st.run_selftest(APP, device, repeats=1)["configs"]["default"]["chosen"] == fast
    update_manifest(folder, real_section({"stable_under_speed_error_1pct": 41}))  # one call less stable: kept out
    c = st.run_selftest(APP, device, repeats=1)["configs"]["default"]
    assert c["chosen"] == chosen and "worse on real recordings" in c["variants"][fast]["real_data"]


def test_an_accurate_variant_worse_on_real_data_is_not_served_when_idle(device, monkeypatch):
    """The accurate/light switch serves the accurate variant when idle: it must not be one worse on real data."""
    folder = device.models_dir / APP.package_name
    entry = read_manifest(folder)["configs"]["default"]
    chosen, accurate = entry["chosen"], entry["accurate"]
    assert chosen != accurate
    totals = {"calls_right": 42, "stable_under_speed_error_1pct": 42}

    def real_section(acc_stable):
        def change(m):
            m["real"] = {"config": "default", "variants": {v: {"totals": dict(totals)} for v in entry["variants"]}}
            m["real"]["variants"][accurate]["totals"]["stable_under_speed_error_1pct"] = acc_stable
        return change

    update_manifest(folder, real_section(42))  # as good: the manifest's accurate variant stays
    assert st.device_choice(APP, device, "default")["accurate"] == accurate
    assert st.run_selftest(APP, device, repeats=1)["configs"]["default"]["accurate"] == accurate
    update_manifest(folder, real_section(41))
    assert st.device_choice(APP, device, "default")["accurate"] == chosen  # no self-test yet: the manifest's rule
    c = st.run_selftest(APP, device, repeats=1)["configs"]["default"]
    # the self-test may pick another fast variant by its latency here (a loaded machine): whichever it picks, the
    # variant worse on real data is not served when idle, the chosen one is
    assert c["accurate"] == c["chosen"] != accurate and "not served as the accurate" in c["variants"][accurate]["real_data"]
