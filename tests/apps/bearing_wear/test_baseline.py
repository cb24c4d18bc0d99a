"""Classical baseline: peak-to-background ratios at the defect orders, ISO 10816 zones from data."""

import numpy as np
import pytest

from edgeinv.apps.bearing_wear import APP
from edgeinv.apps.bearing_wear import baseline as B
from edgeinv.apps.bearing_wear import features as F
from edgeinv.apps.bearing_wear.physics import FAULTS, PRESETS
from edgeinv.apps.bearing_wear.simulate import draw_conditions
from edgeinv.common.errors import ConfigError


@pytest.mark.parametrize("v, zone", [(0.5, "A"), (1.12, "B"), (2.0, "B"), (5.0, "C"), (7.1, "D"), (30.0, "D")])
def test_iso_zones_class_ii(v, zone):
    # ISO 10816-1 class II boundaries 1.12 / 2.8 / 7.1 mm/s (a value on a boundary belongs to the worse zone)
    assert B.severity_zone(velocity_rms_mm_s=v, machine_class="iso10816-1:class-II")["zone"] == zone


def test_zone_table_is_data():
    table = B.severity_table()
    assert table["default_class"] in table["classes"]
    for cls in table["classes"].values():
        assert len(cls["limits_mm_s"]) == 3 and np.all(np.diff(cls["limits_mm_s"]) > 0)
    with pytest.raises(ConfigError):
        B.severity_zone(velocity_rms_mm_s=1.0, machine_class="class-V")


def test_peak_to_background_of_a_synthetic_line():
    spec = np.ones(len(F.ORDER_AXIS))
    spec[int(round(3.585 * F.N_REV))] = 10.0  # a BPFO line ten times the background
    pbr = B.peak_to_background_db(spec, order=3.585, n_harmonics=1)
    assert pbr == [pytest.approx(20.0, abs=1e-6)]
    scores = B.fault_scores(spec, geometry=PRESETS["6205-2rs"])
    assert max(scores, key=scores.get) == "outer_race"
    assert scores["outer_race"] == pytest.approx(20.0 / 3)  # mean over 3 harmonics, two of them at 0 dB
    p = B.decide(scores)
    assert p.shape == (5,) and p.sum() == pytest.approx(1.0, abs=1e-6) and FAULTS[int(np.argmax(p))] == "outer_race"
    spec[int(round(3.585 * F.N_REV))] = 5.0  # 14 dB at one harmonic: a mean of 4.7 dB, below the 6 dB rule
    assert FAULTS[int(np.argmax(B.decide(B.fault_scores(spec, geometry=PRESETS["6205-2rs"]))))] == "none"


@pytest.mark.parametrize("fault", ["none", "outer_race", "inner_race", "cage"])
def test_baseline_on_clear_simulations(fault):
    rng = np.random.default_rng(11)
    cond = draw_conditions(rng=rng, fault=fault, defect_size_mm=None if fault in ("none", "cage") else 2.0,
                           rpm=1797, fs_hz=12000, geometry="6205-2rs", snr_db=6.0, rpm_error_frac=0.0)
    rec = APP.simulate_recording(cond, rng=rng, duration_s=3.0)
    out = APP.baseline(rec)
    assert set(out) == {"fault"} and FAULTS[int(np.argmax(out["fault"]))] == fault
    result = APP.predict_baseline(rec)
    assert result.fault == fault and result.method == "baseline" and result.windows["n"] == 2
    assert result.defect_size_mm == (0.0 if fault == "none" else None)


def test_calibrate_threshold_separates_labelled_scores():
    rows = [{"outer_race": s, "inner_race": 0.0, "ball": 0.0, "cage": 0.0} for s in (1, 2, 3, 9, 10, 12)]
    labels = [0, 0, 0, 1, 1, 1]
    thr, acc = B.calibrate_threshold(rows, labels)
    assert 3.0 <= thr < 9.0 and acc == 1.0
