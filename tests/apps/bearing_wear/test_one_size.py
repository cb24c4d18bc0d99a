"""One defect size per result: the spall arc read from the recording's entry/exit delay, else null with the
limit — never the model's size output next to a different arc (JSON, CLI text, web result page)."""

import json

import numpy as np
import pytest

from edgeinv.apps.bearing_wear import APP
from edgeinv.apps.bearing_wear import decision as D
from edgeinv.apps.bearing_wear import severity as S
from edgeinv.apps.bearing_wear.physics import FAULTS, PRESETS
from edgeinv.apps.bearing_wear.simulate import draw_conditions

from tests.apps.bearing_wear.test_ood_severity import _acf

G6205 = PRESETS["6205-2rs"]
MODEL_MM = 0.77  # what the fake model says: must never show up as the size


class Runner:
    def __call__(self, x):
        p = np.full((len(x), 5), 0.025, np.float32)
        p[:, FAULTS.index("outer_race")] = 0.9
        return {"fault": p, "defect_size_mm": np.full(len(x), MODEL_MM, np.float32),
                "defect_size_mm_std": np.full(len(x), 0.05, np.float32)}


@pytest.fixture(scope="module")
def rec():
    rng = np.random.default_rng(11)
    cond = draw_conditions(rng=rng, fault="outer_race", rpm=1500.0, fs_hz=25600.0, geometry=G6205, snr_db=15.0,
                           rpm_error_frac=0.0, defect_size_mm=1.0)
    return APP.simulate_recording(cond, rng=rng, duration_s=3.0)


def _predict(rec, monkeypatch, acf):
    """The recording's autocorrelation replaced by ``acf`` (a bump = an entry/exit pair at that lag)."""
    monkeypatch.setattr(S, "acf_profile", lambda analyses: acf)
    return APP.predict(rec, Runner())


def test_a_resolved_arc_is_the_one_size_with_its_interval_and_source(rec, monkeypatch):
    res = _predict(rec, monkeypatch, _acf(2.4, height=S.prominence_threshold() + 0.1))
    assert res.fault == "outer_race"
    assert res.defect_size_mm == pytest.approx(2.4, abs=0.03)
    lo, hi = res.defect_size_interval_mm
    assert lo < 2.4 < hi and hi - lo < 0.5
    assert res.size["status"] == "resolved" and res.size["source"] == D.SIZE_SOURCE
    assert res.size["interval_kind"] == D.SIZE_INTERVAL and res.size["degrees"] == pytest.approx(5.85, abs=0.1)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert "arc" not in d["damage"] and d["damage"]["bump"]["read_as_arc"]
    assert d["damage"]["bump"]["lag_mm"] == d["defect_size_mm"] == d["size"]["value_mm"]
    assert d["severity_index"] == pytest.approx(10 * d["defect_size_mm"] / 3, abs=0.05)
    text = res.summary()
    size_line = next(line for line in text.splitlines() if line.startswith("defect size:"))
    assert f"{res.defect_size_mm:.2f} mm" in size_line and "entry/exit delay" in size_line and "deg of the outer race" in size_line
    assert f"{MODEL_MM:.2f}" not in text and f"{MODEL_MM:.1f} mm" not in text  # the model's size is nowhere
    assert any(f"~{res.defect_size_mm:.1f} mm" in r for r in res.alarm_reasons)  # the alarm uses the same size


def test_no_arc_read_gives_null_with_the_limit_and_the_index(rec, monkeypatch):
    res = _predict(rec, monkeypatch, _acf(2.4, height=S.prominence_threshold() * 0.5))  # bump too weak to read
    limit = res.size["resolvable_limit_mm"]
    assert res.defect_size_mm is None and res.defect_size_interval_mm is None
    assert res.size["status"] == "not_resolvable" and res.size["reason"].startswith(f"not resolvable below {limit:.2f} mm")
    assert "severity index" in res.size["reason"] and 0 < res.severity_index < 10 * limit / 3
    d = res.to_dict()
    assert not d["damage"]["bump"]["read_as_arc"] and "arc" not in d["damage"]
    assert f"{MODEL_MM:.2f}" not in res.summary()
    line = next(x for x in res.summary().splitlines() if x.startswith("defect size:"))
    assert f"not resolvable below {limit:.2f} mm" in line


def test_the_baseline_reports_the_same_arc(rec, monkeypatch):
    monkeypatch.setattr(S, "acf_profile", lambda analyses: _acf(2.4, height=S.prominence_threshold() + 0.1))
    model = APP.predict(rec, Runner())
    base = APP.predict_baseline(rec)
    assert base.fault == "outer_race"  # the size belongs to the recording, not to the method
    assert base.defect_size_mm == model.defect_size_mm and base.size["source"] == D.SIZE_SOURCE


def test_raw_outputs_say_the_size_is_the_models():
    from edgeinv.apps.bearing_wear.interpret import MODEL_SOURCE, combine
    from edgeinv.apps.bearing_wear.io import Recording

    rec = Recording(np.zeros(10, np.float32), 12000.0, 1797.0, G6205, source="r.wav", channel="0")
    out = {k: v[0] for k, v in Runner()(np.zeros((1, 1))).items()}
    r = combine([out], rec, velocity_rms_mm_s=0.5)
    assert r.defect_size_mm == pytest.approx(MODEL_MM) and r.size["source"] == MODEL_SOURCE


def test_the_web_result_page_shows_the_one_size(client, monkeypatch, tmp_path):
    APP.write_example(tmp_path / "r.wav", np.random.default_rng(2), fault="outer_race", size_mm=1.0, rpm=1797,
                      fs=12000, duration=3.0)
    runner = Runner()
    monkeypatch.setattr(client.application.extensions["edgeinv"], "runner", lambda a, config: runner)
    monkeypatch.setattr(S, "acf_profile", lambda analyses: _acf(2.4, height=S.prominence_threshold() + 0.1))
    real = D.size_resolvability  # this short 12 kHz file's own limit may lie above 2.4 mm
    monkeypatch.setattr(D, "size_resolvability", lambda **kw: {**real(**kw), "resolvable_limit_mm": 0.3})
    r = client.post("/bearing-wear/api/entities", json={"name": "P", "bearing": "6205-2rs", "rpm": 1797, "fs_hz": 12000})
    mid = r.get_json()["id"]
    r = client.post(f"/bearing-wear/api/entities/{mid}/uploads?filename=r.wav", data=(tmp_path / "r.wav").read_bytes(),
                    content_type="application/octet-stream")
    doc = r.get_json()
    size = doc["summary"]["defect_size_mm"]
    assert doc["summary"]["fault"] == "outer_race"
    html = client.get(f"/bearing-wear/results/{doc['id']}").get_data(as_text=True)
    cell = html[html.index('id="size"'):]
    cell = cell[:cell.index("</dd>")]
    assert f"{size:.2f} mm" in cell and "entry/exit delay" in cell and f"{MODEL_MM:.2f}" not in html
