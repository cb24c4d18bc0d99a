"""The decision layer: evidence gate, honest size, OOD score, speed refinement, usable band, real-data table."""

import numpy as np
import pytest

from edgeinv.apps.bearing_wear import APP
from edgeinv.apps.bearing_wear import decision as D
from edgeinv.apps.bearing_wear import features as F
from edgeinv.apps.bearing_wear.physics import FAULTS, PRESETS
from edgeinv.apps.bearing_wear.realeval import bearing_spec
from edgeinv.apps.bearing_wear.simulate import draw_conditions

G6205 = PRESETS["6205-2rs"]


def _rec(rng, fault, *, snr_db=10.0, rpm=1500.0, fs=25600.0, seconds=4.0):
    cond = draw_conditions(rng=rng, fault=fault, rpm=rpm, fs_hz=fs, geometry=G6205, snr_db=snr_db, rpm_error_frac=0.0,
                           defect_size_mm=None if fault not in ("none", "cage") else 0.0)
    return APP.simulate_recording(cond, rng=rng, duration_s=seconds)


class Runner:
    """Always says ``fault`` with p = 0.9."""

    def __init__(self, fault):
        self.fault = fault

    def __call__(self, x):
        p = np.full((len(x), 5), 0.025, np.float32)
        p[:, FAULTS.index(self.fault)] = 0.9
        return {"fault": p, "defect_size_mm": np.full(len(x), 0.4, np.float32),
                "defect_size_mm_std": np.full(len(x), 0.1, np.float32)}


def test_a_fault_without_envelope_lines_is_not_named(rng):
    rec = _rec(rng, "none")
    res = APP.predict(rec, Runner("inner_race"))
    assert res.fault == "none"
    assert any("not named" in n for n in res.notes)
    assert res.evidence["per_fault"]["inner_race"]["status"] == "no line"


def test_a_fault_with_lines_is_named_with_evidence(rng):
    rec = _rec(rng, "outer_race", snr_db=15.0)
    res = APP.predict(rec, Runner("outer_race"))
    assert res.fault == "outer_race"
    assert res.evidence["per_fault"]["outer_race"]["gate_db"] >= D.gate_threshold()
    assert "outer race lines" in res.evidence["text"] and res.severity_index > 0
    d = res.to_dict()
    assert {"evidence", "ood", "size", "severity_index"} <= set(d)


def test_small_spall_size_is_null_with_reason_and_limit(rng):
    rec = _rec(rng, "outer_race", snr_db=15.0)
    res = APP.predict(rec, Runner("outer_race"))  # the runner says 0.4 mm
    assert res.defect_size_mm is None
    assert res.size["status"] == "not_resolvable" and res.size["resolvable_limit_mm"] > 0.4
    assert "merge" in res.size["reason"]


def test_resolvable_limit_follows_fs_and_speed():
    a = D.size_resolvability(geometry=G6205, rpm=1800, fs_hz=12000, ringdown_s=0.0)
    b = D.size_resolvability(geometry=G6205, rpm=1800, fs_hz=48000, ringdown_s=0.0)
    c = D.size_resolvability(geometry=G6205, rpm=900, fs_hz=12000, ringdown_s=0.0)
    assert a["resolvable_limit_mm"] == pytest.approx(4 * b["resolvable_limit_mm"], rel=0.05)
    assert c["resolvable_limit_mm"] == pytest.approx(a["resolvable_limit_mm"] / 2, rel=0.05)
    ring = D.size_resolvability(geometry=G6205, rpm=1800, fs_hz=48000, ringdown_s=0.002)
    assert ring["limited_by"] == "the resonance's ring-down" and ring["resolvable_limit_mm"] > 2.0


def test_unknown_bearing_scale_withholds_size():
    r = D.size_resolvability(geometry=G6205, rpm=1800, fs_hz=48000, ringdown_s=0.0, scale_known=False)
    arc = {"status": "resolved", "race": "outer_race", "degrees": 6.7, "interval_deg": [6.1, 7.3]}  # no mm: scale unknown
    out = D.size_decision(fault="outer_race", arc=arc, resolv=r)
    assert out["value_mm"] is None and "--bearing" in out["reason"] and out["degrees"] == 6.7


def test_speed_is_refined_from_the_1x_line(rng):
    fs, true_rpm = 12000.0, 1512.0
    t = np.arange(int(fs * 5)) / fs
    x = np.sin(2 * np.pi * true_rpm / 60 * t) + 0.1 * rng.standard_normal(len(t))
    rpm, how = F.refine_rpm(x, fs_hz=fs, rpm=1500.0)
    assert how == "1x line" and rpm == pytest.approx(true_rpm, abs=0.5)
    rpm, how = F.refine_rpm(0.1 * rng.standard_normal(len(t)), fs_hz=fs, rpm=1500.0)
    assert how == "as given" and rpm == 1500.0


def test_usable_band_stops_at_the_anti_alias_cut_off(rng):
    from scipy import signal

    fs = 48000.0
    x = signal.sosfilt(signal.butter(10, 0.4 * fs, fs=fs, output="sos"), rng.standard_normal(96000))
    x = x + 1e-5 * rng.standard_normal(len(x))
    X = np.fft.rfft(x)
    _, top = F.usable_band_hz(X, n=len(x), fs_hz=fs)
    assert 0.38 * fs <= top <= 0.45 * fs


def test_order_search_absorbs_slip():
    spec = np.ones(len(F.ORDER_AXIS))
    o = 3.5848 * 0.985  # 1.5 % slip
    for k in (1, 2, 3):
        spec[int(round(k * o * F.N_REV))] = 20.0
    o_ref, h = F.refine_order(spec, order=3.5848)
    assert o_ref == pytest.approx(o, rel=0.002) and np.all(h >= 20.0)


def test_features_are_amplitude_free(rng):
    rec = _rec(rng, "inner_race", snr_db=5.0, seconds=2.5)
    s, e = F.split_windows(len(rec.signal), fs_hz=rec.fs_hz, rpm=rec.rpm, max_windows=1)[0]
    a = F.analyse_window(rec.signal[s:e], fs_hz=rec.fs_hz, rpm=rec.rpm, geometry=rec.geometry).x
    b = F.analyse_window(100.0 * rec.signal[s:e], fs_hz=rec.fs_hz, rpm=rec.rpm, geometry=rec.geometry).x
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_temperature_scaling_keeps_the_ranking():
    p = np.array([[0.7, 0.2, 0.05, 0.03, 0.02]])
    q = D.calibrate_probs(p, t=2.0)
    assert np.argmax(q) == 0 and q[0, 0] < 0.7 and q.sum() == pytest.approx(1.0)


def test_bearing_spec_of_label_rows():
    assert bearing_spec("NICE, n=8, d=0.235 in, D=1.245 in, contact 0 deg") == "n=8,d=5.9690,D=31.6230,angle=0"
    assert bearing_spec("6205 (stated); catalog geometry") == "6205"
    assert bearing_spec("not stated") is None


def _labelled_folder(tmp_path, rng):
    rows = ["file,fault_location,size_label,defect_size_mm,fs_hz,rpm,bearing"]
    for name, fault in (("h.npz", "none"), ("o.npz", "outer_race")):
        rec = _rec(rng, fault, snr_db=12.0, seconds=3.0)
        np.savez(tmp_path / name, signal=rec.signal)
        rows.append(f"{name},{fault},,{'' if fault == 'none' else '1.0'},{rec.fs_hz},{rec.rpm},6205")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_read_labelled_gives_one_sample_per_window_grouped_by_file(tmp_path, rng):
    folder = _labelled_folder(tmp_path, rng)
    pairs = APP.read_labelled(folder, folder / "labels.csv")
    assert len(pairs) >= 4 and {p[1]["_group"] for p in pairs} == {"h.npz", "o.npz"}
    assert all(APP.preprocess(s).shape == F.INPUT_SHAPE for s, _ in pairs[:2])
    assert {p[1]["fault"] for p in pairs} == {"none", "outer_race"}


def test_evaluate_real_table_with_baseline(tmp_path, rng):
    folder = _labelled_folder(tmp_path, rng)
    (folder / "labels.csv").write_text((folder / "labels.csv").read_text().replace("file,", "local_file,", 1))
    out = APP.evaluate_real(folder, lambda config: Runner("outer_race"))
    assert out["summary"]["overall"]["n"] == 2 and "baseline" in out and len(out["rows"]) == 2
    row = {r["file"]: r for r in out["rows"]}
    assert row["o.npz"]["call"] == "outer_race" and row["h.npz"]["call"] == "none"  # the gate stops the fake model
    assert "baseline_call" in row["o.npz"] and "evidence" in row["o.npz"] and "model" in out["text"]
    assert out["summary"]["ood"]["n"] == 2 and "OOD score on these files" in out["text"]
    assert "severity_basis" in row["o.npz"] and "entry/exit delay" in out["text"]


def test_injected_fault_keeps_length_and_shows_lines(rng):
    from edgeinv.apps.bearing_wear.commission import inject_fault

    rec = _rec(rng, "none", seconds=2.5)
    s, e = F.split_windows(len(rec.signal), fs_hz=rec.fs_hz, rpm=rec.rpm, max_windows=1)[0]
    x = inject_fault(rec.signal[s:e], fs_hz=rec.fs_hz, rpm=rec.rpm, geometry=rec.geometry, fault="inner_race",
                     size_mm=1.0, snr_db=15.0, rng=rng)
    assert len(x) == e - s
    a = F.analyse_window(x, fs_hz=rec.fs_hz, rpm=rec.rpm, geometry=rec.geometry)
    ev = D.line_evidence([a], geometry=rec.geometry)
    assert ev["inner_race"]["gate_db"] >= D.gate_threshold()


def test_gate_asks_for_a_harmonic_family():
    """A fault's evidence is its weakest of the first three harmonics: an impact train has a family of
    lines, a single modulation tone one strong line; a third harmonic beyond the order axis is not asked for."""
    n_bins = len(F.ORDER_AXIS)
    assert D.gate_score([20.0, 18.0, 17.0], order=3.58, n_bins=n_bins) == 17.0
    assert D.gate_score([17.0, 10.0, 5.0], order=5.5, n_bins=n_bins) == 5.0  # one tone + weak harmonics
    assert D.gate_score([20.0, 18.0, -60.0], order=10.0, n_bins=n_bins) == 18.0  # 3rd at order 30: off the axis
    assert D.gate_score([20.0, -60.0, -60.0], order=13.0, n_bins=n_bins) == -60.0  # the first two always count


def test_a_line_family_far_over_the_gate_outweighs_no_fault():
    """The model leans to cage, cage has no line family, inner-race lines stand 20 dB over the gate:
    inner race is named (before: the cage mass went to "none" and "none" won)."""
    thr = D.gate_threshold()

    def ev(gate):
        return {"order": 1.0, "slip": 0.0, "lines_db": [gate] * 3, "gate_db": gate}

    evidence = {"outer_race": ev(0.0), "inner_race": ev(thr + 20.0), "ball": {**ev(0.0), "ftf_sidebands_db": 0.0},
                "cage": ev(thr - 3.0)}
    probs = {"none": 0.05, "outer_race": 0.01, "inner_race": 0.04, "ball": 0.0, "cage": 0.9}
    p, _, status = D.apply_gate(probs, evidence)
    assert status["inner_race"] == "confirmed" and status["cage"] == "no line"
    assert max(p, key=p.get) == "inner_race" and p["cage"] == 0.0
    # lines just over the gate leave "none" almost untouched
    evidence["inner_race"] = ev(thr + 0.2)
    p, _, _ = D.apply_gate(probs, evidence)
    assert max(p, key=p.get) == "none"
    assert D.none_weight(evidence, {h: "no line" for h in evidence}) == 1.0
