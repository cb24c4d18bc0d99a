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


def test_shrinkage_moves_only_as_far_as_the_validation_samples_support(shipped, tmp_path):
    """With ``shrink`` the user's validation samples choose how far the weights move from the shipped ones:
    a real site shift is taken (strength > 0, held-out error down); labels that carry nothing the shipped
    model lacks (the simulator's own sensor, labels buried in noise) are not: strength 0, the release
    predicts what the shipped model predicts."""
    settings = load_settings(env={}, models_dir=shipped, data_dir=tmp_path / "data")
    data, labels = _site(tmp_path)
    rep = calibrate(SIGNAL, data, labels, tmp_path / "c", settings=settings, progress=False,
                    options=CalibrationOptions(epochs=30, lr=3e-3, n_sim=300, holdout_fraction=0.3, shrink=True))
    s = rep["shrink"]
    assert s["strength"] > 0 and s["validation_samples"] == rep["validated_on"]
    assert set(s["validation_error"]) == {"0", "0.25", "0.5", "0.75", "1"}
    assert rep["heldout"]["after"]["amp_mm"]["rmse"] < rep["heldout"]["before"]["amp_mm"]["rmse"]
    assert "strength" in rep["text"]

    rows = list(csv.DictReader(open(labels)))
    noise_rng = np.random.default_rng(3)
    amps = [f"{float(r['amp_mm']) + noise_rng.normal(0, 1.0):.4f}" for r in rows]
    noise = tmp_path / "noise.csv"
    with open(noise, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r, a in zip(rows, amps):
            w.writerow({**r, "amp_mm": a, "fault": ""})
    plain = tmp_path / "plain.npz"  # the simulator's own sensor: nothing for the labels to correct
    np.savez(plain, x=np.load(data)["x"] / SITE_GAIN)
    sim_x = SIGNAL.simulate(20, rng=np.random.default_rng(9)).x
    rep = calibrate(SIGNAL, plain, noise, tmp_path / "n", settings=settings,
                    progress=False, options=CalibrationOptions(epochs=30, lr=3e-3, n_sim=0, holdout_fraction=0.3,
                                                               shrink=True))
    assert rep["shrink"]["strength"] == 0.0, rep["shrink"]
    # strength 0: the release is the shipped chosen model itself (what the user ran before), not the teacher
    shipped_runner = load_runner(SIGNAL, settings, config="default")
    cal_runner = load_runner(SIGNAL, settings.replace(models_dir=tmp_path / "n"), config="default")
    assert cal_runner.variant == read_manifest(shipped / SIGNAL.package_name)["configs"]["default"]["chosen"]
    np.testing.assert_array_equal(cal_runner(sim_x)["amp_mm"], shipped_runner(sim_x)["amp_mm"])
    assert rep["heldout"]["after"] == rep["heldout"]["before"]


def test_labels_out_of_scope_leave_the_shipped_model_unchanged(shipped, tmp_path, monkeypatch):
    """``App.calibration_scope`` keeps only the labels that can validate the model (veg-cover: masks from the
    model's own camera); with none left nothing is trained and the release is the shipped chosen model."""
    settings = load_settings(env={}, models_dir=shipped, data_dir=tmp_path / "data")
    data, labels = _site(tmp_path, n=12)
    why = {"reason": "these labels come from another sensor", "used": 0, "left_out": 12}
    monkeypatch.setattr(SIGNAL, "calibration_scope", lambda pairs, config: ([], why), raising=False)
    rep = calibrate(SIGNAL, data, labels, tmp_path / "o", settings=settings, progress=False,
                    options=CalibrationOptions(epochs=30, lr=3e-3, n_sim=50, shrink=False))
    assert rep["scope"] == why and rep["trained_on"] == 0 and rep["epochs_run"] == 0
    assert rep["shrink"]["strength"] == 0.0 and "another sensor" in rep["text"]
    sim_x = SIGNAL.simulate(10, rng=np.random.default_rng(9)).x
    shipped_runner = load_runner(SIGNAL, settings, config="default")
    cal_runner = load_runner(SIGNAL, settings.replace(models_dir=tmp_path / "o"), config="default")
    assert cal_runner.variant == shipped_runner.variant
    np.testing.assert_array_equal(cal_runner(sim_x)["amp_mm"], shipped_runner(sim_x)["amp_mm"])
    # in scope (the default), the same labels train as before
    monkeypatch.undo()
    rep = calibrate(SIGNAL, data, labels, tmp_path / "p", settings=settings, progress=False,
                    options=CalibrationOptions(epochs=2, n_sim=0, shrink=False))
    assert rep["scope"] is None and rep["trained_on"] > 0
