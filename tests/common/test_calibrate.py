"""The core calibration path: a shipped toy release adapted to a simulated "other site" with a few labels."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from edgeinv.common.calibrate import VARIANT, CalibrationOptions, calibrate  # noqa: E402
from edgeinv.common.config import load_settings  # noqa: E402
from edgeinv.common.errors import ConfigError, InvalidInputError  # noqa: E402
from edgeinv.common.runtime.bundle import load_runner, read_manifest, verify_release  # noqa: E402
from edgeinv.common.runtime.selftest import run_selftest  # noqa: E402

from toyapp import SIGNAL, tiny_recipe  # noqa: E402

SITE_GAIN = 1.5  # the other site's sensor reads 1.5x louder: the shipped model overestimates amp_mm


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    from edgeinv.common.compress.search import SearchSettings
    from edgeinv.common.pipeline import build_release

    root = tmp_path_factory.mktemp("models")
    build_release(SIGNAL, "default", root / SIGNAL.package_name, recipe=tiny_recipe(prune_ratio=0),
                  progress=False, search_settings=SearchSettings(warmup=1, rounds=2, per_round=1))
    return root


def _site(tmp_path, n=60, seed=5):
    """Labelled recordings of another site: same physics, a sensor gain the simulator never saw."""
    sim = SIGNAL.simulate(n, rng=np.random.default_rng(seed))
    np.savez(tmp_path / "site.npz", x=sim.x * SITE_GAIN)
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "amp_mm", "fault", "_group"])
        for i in range(n):
            w.writerow([i, f"{sim.y['amp_mm'][i]:.4f}", int(sim.y["fault"][i]), "north" if i % 3 else "south"])
    return tmp_path / "site.npz", tmp_path / "labels.csv"


def test_calibration_improves_held_out_samples_and_ships_a_release(shipped, tmp_path):
    settings = load_settings(env={}, models_dir=shipped, data_dir=tmp_path / "data")
    data, labels = _site(tmp_path)
    out = tmp_path / "calibrated"
    rep = calibrate(SIGNAL, data, labels, out, settings=settings, progress=False,
                    options=CalibrationOptions(epochs=30, lr=3e-3, n_sim=300, holdout_fraction=0.3))
    assert rep["held_out"] == 18 and rep["trained_on"] + rep["validated_on"] == 42
    before, after = rep["heldout"]["before"]["amp_mm"], rep["heldout"]["after"]["amp_mm"]
    assert before["bias"] > 0.2  # the gain shows as a bias on samples never trained on
    assert after["rmse"] < 0.6 * before["rmse"], (before, after)
    assert rep["heldout"]["after"]["fault"]["accuracy"] >= rep["heldout"]["before"]["fault"]["accuracy"] - 0.1
    # a release like the shipped one: verified, golden set, usable by predict --model and the self-test
    folder = out / SIGNAL.package_name
    verify_release(folder)
    entry = read_manifest(folder)["configs"]["default"]
    assert entry["chosen"] == VARIANT and entry["calibration"]["held_out"] == 18 and entry["golden"]["n"] >= 8
    cal_settings = settings.replace(models_dir=out)
    runner = load_runner(SIGNAL, cal_settings, config="default")
    assert runner.variant == VARIANT
    assert run_selftest(SIGNAL, cal_settings, repeats=1)["configs"]["default"]["chosen"] == VARIANT
    assert "held out" in rep["text"] and json.dumps(rep["options"])


def test_hold_out_a_whole_group(shipped, tmp_path):
    settings = load_settings(env={}, models_dir=shipped, data_dir=tmp_path / "data")
    data, labels = _site(tmp_path)
    rep = calibrate(SIGNAL, data, labels, tmp_path / "c", settings=settings, progress=False,
                    options=CalibrationOptions(epochs=2, n_sim=0, holdout_group="south"))
    assert rep["held_out"] == 20 and rep["groups"] == ["north", "south"] and rep["holdout"] == "group 'south'"
    with pytest.raises(InvalidInputError, match="no such group.*north, south"):
        calibrate(SIGNAL, data, labels, tmp_path / "d", settings=settings, progress=False,
                  options=CalibrationOptions(epochs=1, n_sim=0, holdout_group="east"))


def test_too_few_labels_and_bad_options_are_clear_errors(shipped, tmp_path):
    settings = load_settings(env={}, models_dir=shipped, data_dir=tmp_path / "data")
    data, labels = _site(tmp_path, n=3)
    with pytest.raises(InvalidInputError, match="need at least 2"):
        calibrate(SIGNAL, data, labels, tmp_path / "c", settings=settings, progress=False,
                  options=CalibrationOptions(epochs=1, n_sim=0))
    with pytest.raises(ConfigError, match="holdout-fraction"):
        CalibrationOptions(holdout_fraction=1.0)
