"""Combining windows into one result, the interval, the alarm policy and the JSON layout."""

import json

import numpy as np
import pytest

from edgeinv.apps.bearing_wear.interpret import Z90, alarm_level, combine
from edgeinv.apps.bearing_wear.io import Recording
from edgeinv.apps.bearing_wear.physics import FAULTS, PRESETS

REC = Recording(np.zeros(10, np.float32), 12000.0, 1797.0, PRESETS["6205-2rs"], source="r.wav", channel="0")


def _win(fault, size, std):
    p = np.full(5, 0.025, np.float32)
    p[FAULTS.index(fault)] = 0.9
    return {"fault": p, "defect_size_mm": np.float32(size), "defect_size_mm_std": np.float32(std)}


def test_windows_are_combined_with_agreement_and_interval():
    wins = [_win("outer_race", 1.0, 0.2), _win("outer_race", 1.2, 0.2), _win("inner_race", 1.4, 0.2)]
    r = combine(wins, REC, velocity_rms_mm_s=1.0)
    assert r.fault == "outer_race" and r.windows["n"] == 3
    assert r.windows["agreement"] == pytest.approx(2 / 3, abs=1e-3)
    assert r.windows["per_window_faults"] == {"outer_race": 2, "inner_race": 1}
    assert r.probabilities["outer_race"] == pytest.approx((0.9 + 0.9 + 0.025) / 3)
    assert r.defect_size_mm == pytest.approx(1.2)
    sigma = np.sqrt(0.04 + np.var([1.0, 1.2, 1.4]))
    assert r.defect_size_interval_mm == pytest.approx([1.2 - Z90 * sigma, 1.2 + Z90 * sigma], rel=1e-5)


def test_to_dict_has_the_issue_keys_and_is_json():
    r = combine([_win("ball", 0.8, 0.1)], REC, velocity_rms_mm_s=0.5)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert {"fault", "probabilities", "defect_size_mm", "defect_size_interval_mm", "severity", "alarm"} <= set(d)
    assert d["fault"] in FAULTS and set(d["probabilities"]) == set(FAULTS)
    assert d["severity"]["zone"] == "A" and d["alarm"] == "watch"
    assert "ball" in r.summary()


def test_healthy_and_cage_sizes():
    none = combine([_win("none", 0.4, 0.3)], REC, velocity_rms_mm_s=0.5)
    assert none.defect_size_mm == 0.0 and none.defect_size_interval_mm is None and none.alarm == "ok"
    cage = combine([_win("cage", 0.4, 0.3)], REC, velocity_rms_mm_s=0.5)
    assert cage.defect_size_mm is None and cage.alarm == "alert" and cage.notes
    base = combine([{"fault": _win("inner_race", 0, 0)["fault"]}], REC, velocity_rms_mm_s=0.5, method="baseline")
    assert base.defect_size_mm is None and base.method == "baseline"


@pytest.mark.parametrize("fault, p, size, zone, agree, level", [
    ("none", 0.9, 0.0, "A", 1.0, "ok"),
    ("none", 0.9, 0.0, "C", 1.0, "alert"),
    ("none", 0.9, 0.0, "D", 1.0, "danger"),
    ("outer_race", 0.9, 0.5, "A", 1.0, "watch"),
    ("outer_race", 0.9, 1.5, "B", 1.0, "alert"),
    ("inner_race", 0.9, 2.5, "A", 1.0, "danger"),
    ("inner_race", 0.4, 2.5, "A", 1.0, "watch"),
    ("cage", 0.9, None, "A", 1.0, "alert"),
    ("ball", 0.9, 0.3, "A", 0.4, "watch"),
])
def test_alarm_policy(fault, p, size, zone, agree, level):
    assert alarm_level(fault=fault, probability=p, size_mm=size, zone=zone, agreement=agree)[0] == level
