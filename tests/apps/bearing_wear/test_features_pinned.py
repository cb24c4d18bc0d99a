"""The edge preprocessing's outputs pinned to a stored reference (issue 13: faster at equal results).

Inputs: synthetic windows built here with plain numpy (independent of the app's simulator, so a
simulator change does not move them) at the bench's operating points (12 kHz / 1797 rpm,
48 kHz / 600 rpm, 48 kHz / 3600 rpm, ...) and, when ``../shared/realdata/bearing-wear`` is present, the
first windows of one HIT-SM and one MFPT recording. For each: the model input, the chosen bands, the
usable top, the refined fault orders, the ring-down, the velocity RMS, the indicators, the raw
squared-envelope spectrum of the chosen band, both order spectra behind the fault views, the
whole-window indicators and velocity of the public helpers, and the window's envelope-line evidence
are compared with ``data/pinned_features.npz``.

The reference was written (``python tests/apps/bearing_wear/test_features_pinned.py --regenerate``)
by preprocessing version 6 (issue 13, stop 24: the lean per-window path; version 5's reference, commit 79a01e7,
equal to 388986c's outputs, was retired with it). Version 6's outputs are bit-identical on x86-64 CPUs with
and without AVX2 / AVX-512 (checked under ``qemu-x86_64 -cpu Nehalem`` / ``-cpu Haswell`` and natively), so
the tolerances below hold on any build machine.

Tolerances (stated in issue 13's terms): model input max |diff| <= 1e-5 (the channels are ``log1p``
ratios of 0–10; float32 keeps ~1e-6 of that), band edges, levels and refined orders identical
(relative 1e-12), spectral kurtosis, indicators, velocity and ring-down relative 1e-9, spectra
relative 1e-9 (plus 1e-12 of their peak), line heights 0.11 dB (they are rounded to 0.1 dB), the
refined speed relative 1e-9. A deliberate change of the features bumps ``PREPROCESSING_VERSION`` and
regenerates the reference; the test refuses a reference of another version.
"""


from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeinv.apps.bearing_wear import decision as D
from edgeinv.apps.bearing_wear import features as F
from edgeinv.apps.bearing_wear.physics import get_geometry, impact_order

REF = Path(__file__).parent / "data" / "pinned_features.npz"
REAL = Path(__file__).resolve().parents[3].parent / "shared" / "realdata" / "bearing-wear"
SYNTH = {  # name: (fs, rpm, fault, resonance Hz, seed)
    "12k_1797_outer": (12000.0, 1797.0, "outer_race", 3100.0, 1),
    "48k_600_inner": (48000.0, 600.0, "inner_race", 9000.0, 2),
    "25k6_1200_ball": (25600.0, 1200.0, "ball", 5200.0, 3),
    "51k2_900_healthy": (51200.0, 900.0, None, 0.0, 4),
    "48k_3600_outer": (48000.0, 3600.0, "outer_race", 11000.0, 5),
}
REAL_FILES = {  # name: (path under REAL, read options)
    "hitsm_OR5_900": ("hit_sm/mfs/OR5_900.mat", {"rpm": 900.0, "fs_hz": 51200.0, "bearing": "6205"}),
    "mfpt_outer_1": ("mfpt/OuterRaceFault_vload_1.mat", {}),
}


def synthetic_window(fs: float, rpm: float, fault: str | None, f_res: float, seed: int) -> np.ndarray:
    """Decaying resonance bursts at the fault's impact rate (inner race: shaft-rate modulated) + 1x + noise."""
    rng = np.random.default_rng(seed)
    g = get_geometry("6205")
    n = F.window_length(fs_hz=fs, rpm=rpm)
    t = np.arange(n) / fs
    shaft = rpm / 60.0
    x = 0.05 * np.sin(2 * np.pi * shaft * t + 0.3) + 0.02 * rng.standard_normal(n)
    if fault is not None:
        rate = impact_order(fault=fault, geometry=g) * shaft * 0.99
        ring = np.exp(-2 * np.pi * 0.03 * f_res * t[: int(0.004 * fs)]) * np.sin(2 * np.pi * f_res * t[: int(0.004 * fs)])
        imp = np.zeros(n)
        times = np.arange(0.0, n / fs, 1.0 / rate) + rng.uniform(0, 1e-4, size=len(np.arange(0.0, n / fs, 1.0 / rate)))
        amp = 1.0 + (0.6 * np.cos(2 * np.pi * shaft * times) if fault == "inner_race" else 0.0)
        idx = np.minimum((times * fs).astype(int), n - 1)
        np.add.at(imp, idx, amp * rng.uniform(0.7, 1.0, len(idx)))
        x += 0.3 * np.convolve(imp, ring)[:n]
    return x


def _cases():
    cases = {}
    for name, (fs, rpm, fault, f_res, seed) in SYNTH.items():
        cases[name] = (synthetic_window(fs, rpm, fault, f_res, seed), fs, rpm, get_geometry("6205"))
    if REAL.is_dir():
        from edgeinv.apps.bearing_wear.app import APP

        for name, (rel, opts) in REAL_FILES.items():
            rec = APP.read(REAL / rel, **opts)
            s, e = F.split_windows(len(rec.signal), fs_hz=rec.fs_hz, rpm=rec.rpm, max_windows=1)[0]
            cases[name] = (rec.signal[s:e], rec.fs_hz, rec.rpm, rec.geometry)
    return cases


def _outputs(x, fs, rpm, geometry) -> dict:
    a = F.analyse_window(x, fs_hz=fs, rpm=rpm, geometry=geometry)
    ev = D.line_evidence([a], geometry=geometry)
    return {
        "x": a.x,
        "bands": np.array([a.band.level, a.band.f_lo_hz, a.band.f_hi_hz, a.band.sk,
                           a.energy.level, a.energy.f_lo_hz, a.energy.f_hi_hz, a.energy.sk, a.usable_top_hz]),
        "orders": np.array([a.refined_orders[h] for h in F.HYPOTHESES]),
        "scalars": np.array([a.ringdown_s, a.velocity_rms_mm_s, *[a.indicators[k] for k in sorted(a.indicators)]]),
        "lines_db": np.array([ev[h]["lines_db"] + [ev[h]["gate_db"]] for h in F.HYPOTHESES] + [[ev["ball"]["ftf_sidebands_db"]] * 4]),
        "rpm_refined": np.array(F.refine_rpm(x, fs_hz=fs, rpm=rpm)[0]),
        "env": np.stack([a.env_freqs_hz, a.env_spec]),
        "order_spectra": np.stack([a.spec_band, a.spec_energy]),
        "whole": np.array([F.velocity_rms_mm_s(x, fs_hz=fs), *[v for _, v in sorted(F.time_indicators(x).items())]]),
    }


def regenerate() -> None:
    arrays = {"version": np.array(F.PREPROCESSING_VERSION)}
    for name, case in _cases().items():
        for k, v in _outputs(*case).items():
            arrays[f"{name}/{k}"] = v
    REF.parent.mkdir(exist_ok=True)
    np.savez_compressed(REF, **arrays)
    print(f"wrote {REF} ({len(arrays)} arrays, cases: {sorted({k.split('/')[0] for k in arrays if '/' in k})})")


@pytest.fixture(scope="module")
def reference():
    ref = np.load(REF)
    assert str(ref["version"]) == F.PREPROCESSING_VERSION, (
        "preprocessing version changed: regenerate the pinned reference deliberately (see this module's docstring)")
    return ref


@pytest.mark.parametrize("name", [*SYNTH, *REAL_FILES])
def test_preprocessing_equals_the_pinned_reference(name, reference):
    if name in REAL_FILES and not (REAL / REAL_FILES[name][0]).is_file():
        pytest.skip(f"real recording {REAL / REAL_FILES[name][0]} not present (../shared missing)")
    if f"{name}/x" not in reference.files:
        pytest.skip(f"no stored reference for {name}")
    got = _outputs(*_cases()[name])
    ref = {k: reference[f"{name}/{k}"] for k in got}
    assert got["x"].shape == ref["x"].shape == F.INPUT_SHAPE
    assert np.max(np.abs(got["x"] - ref["x"])) <= 1e-5
    np.testing.assert_allclose(got["bands"][[0, 1, 2, 4, 5, 6, 8]], ref["bands"][[0, 1, 2, 4, 5, 6, 8]], rtol=1e-12)
    np.testing.assert_allclose(got["bands"][[3, 7]], ref["bands"][[3, 7]], rtol=1e-9)  # spectral kurtosis
    np.testing.assert_allclose(got["orders"], ref["orders"], rtol=1e-12)
    np.testing.assert_allclose(got["scalars"], ref["scalars"], rtol=1e-9)
    # harmonic line heights and the ball's FTF sidebands (column 4 of the reference, the gate score, is
    # the decision layer's, not preprocessing: see test_decision)
    np.testing.assert_allclose(got["lines_db"][:, :3], ref["lines_db"][:, :3], atol=0.11)
    np.testing.assert_allclose(got["rpm_refined"], ref["rpm_refined"], rtol=1e-9)
    for key in ("env", "order_spectra"):  # the chosen band's envelope spectrum; the spectra behind the views
        assert got[key].shape == ref[key].shape, key
        for g, r in zip(got[key], ref[key]):
            np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12 * np.abs(r).max(), err_msg=key)
    np.testing.assert_allclose(got["whole"], ref["whole"], rtol=1e-9)

def test_the_synthetic_windows_are_not_trivial():
    """The pinned inputs exercise the path: faults give lines at their order, the healthy one does not."""
    for name, (fs, rpm, fault, f_res, seed) in SYNTH.items():
        a = F.analyse_window(synthetic_window(fs, rpm, fault, f_res, seed), fs_hz=fs, rpm=rpm, geometry=get_geometry("6205"))
        ev = D.line_evidence([a], geometry=get_geometry("6205"))
        best = max(F.HYPOTHESES, key=lambda h: ev[h]["gate_db"])
        if fault is None:
            assert ev[best]["gate_db"] < 10.0, json.dumps(ev)
        else:
            assert best == fault, (name, json.dumps(ev))




def test_kept_tables_do_not_leak_between_windows():
    """The band plan, view tables and weights kept per machine give the same results warm as cold, also for
    two windows of one machine whose usable tops differ (one low-pass filtered)."""
    from edgeinv.apps.bearing_wear import kurtogram as K

    fs, rpm, fault, f_res, seed = SYNTH["48k_600_inner"]
    x = synthetic_window(fs, rpm, fault, f_res, seed)
    spec = np.fft.rfft(x)
    spec[int(0.6 * len(spec)):] *= 1e-4  # a recorder with its anti-alias cut-off at 0.3 fs
    x_low = np.fft.irfft(spec, n=len(x))
    g = get_geometry("6205")
    warm = [F.analyse_window(v, fs_hz=fs, rpm=rpm, geometry=g) for v in (x, x_low, x)]
    assert warm[0].usable_top_hz != warm[1].usable_top_hz
    for cache in (K._band_plan_kept, K._kurtogram_grid, F._order_view, F._velocity_weights, F._view_bins,
                  F._shaft_comb):
        cache.cache_clear()
    cold = [F.analyse_window(v, fs_hz=fs, rpm=rpm, geometry=g) for v in (x_low, x)]
    for a, b in ((warm[1], cold[0]), (warm[0], cold[1]), (warm[2], cold[1])):
        assert np.array_equal(a.x, b.x) and a.band == b.band and a.energy == b.energy

@pytest.mark.parametrize("n, nperseg", [(12821, 1024), (153600, 1024), (1000, 1000), (5000, 777)])
def test_welch_psd_equals_scipy_welch(n, nperseg):
    """The batched Welch density (used by the OOD input checks) is scipy.signal.welch's, segment for segment."""
    from scipy import signal as sps

    rng = np.random.default_rng(n)
    x = 0.1 * rng.standard_normal(n) + np.sin(0.3 * np.arange(n)) + 5.0  # a tone, noise and an offset
    ref = sps.welch(x, fs=51200.0, nperseg=nperseg)[1]
    got = F.welch_psd(x, fs_hz=51200.0, nperseg=nperseg)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-10)

if __name__ == "__main__":
    if "--regenerate" in sys.argv:
        regenerate()
