"""Edge preprocessing: windows, kurtogram band choice, velocity RMS, indicators, model input."""

import math

import numpy as np
import pytest

from edgeinv.apps.bearing_wear import features as F
from edgeinv.apps.bearing_wear.physics import PRESETS, impact_order
from edgeinv.common.errors import InvalidInputError


def test_window_is_n_revolutions():
    assert F.window_length(fs_hz=12000, rpm=1800) == round(32 * 60 / 1800 * 12000)
    spans = F.split_windows(100000, fs_hz=12000, rpm=1800)
    w = F.window_length(fs_hz=12000, rpm=1800)
    assert len(spans) == 100000 // w and all(e - s == w for s, e in spans)
    assert len(F.split_windows(10**7, fs_hz=12000, rpm=1800, max_windows=5)) == 5
    with pytest.raises(InvalidInputError, match="too short"):
        F.split_windows(w - 1, fs_hz=12000, rpm=1800)


def test_velocity_rms_of_a_sine_by_hand():
    fs, f = 12000.0, 50.0
    t = np.arange(int(fs * 2)) / fs
    x = np.sin(2 * np.pi * f * t)  # 1 g peak at 50 Hz
    expected = 9.80665 / (2 * np.pi * f) / math.sqrt(2) * 1e3  # mm/s RMS
    assert F.velocity_rms_mm_s(x, fs_hz=fs) == pytest.approx(expected, rel=0.01)
    assert F.velocity_rms_mm_s(x * 9.80665, fs_hz=fs, units="m/s2") == pytest.approx(expected, rel=0.01)
    # a 5 kHz tone lies outside the ISO 10-1000 Hz band
    assert F.velocity_rms_mm_s(np.sin(2 * np.pi * 5000 * t), fs_hz=fs) < 0.01 * expected


def test_time_indicators_by_hand(rng):
    t = np.arange(12000) / 12000.0
    sine = F.time_indicators(np.sin(2 * np.pi * 50 * t))
    assert sine["crest_factor"] == pytest.approx(math.sqrt(2), rel=1e-3)
    assert sine["kurtosis"] == pytest.approx(1.5, rel=1e-3)
    assert sine["shape_factor"] == pytest.approx(math.pi / (2 * math.sqrt(2)), rel=1e-3)
    gauss = F.time_indicators(rng.standard_normal(200000))
    assert gauss["kurtosis"] == pytest.approx(3.0, abs=0.1)


def test_kurtogram_finds_the_ringing_band(rng):
    fs, n = 24000.0, 24000
    x = 0.3 * rng.standard_normal(n)
    t = np.arange(200) / fs
    ring = np.exp(-600 * t) * np.sin(2 * np.pi * 7000 * t)
    for start in range(100, n - 200, 240):  # impacts at 100 Hz ringing a 7 kHz mode
        x[start:start + 200] += ring
    X = np.fft.rfft(x)
    best, bands = F.fast_kurtogram(X, n=n, fs_hz=fs, min_width_hz=500)
    assert best.f_lo_hz <= 7000 <= best.f_hi_hz and best.sk > 1.0
    assert all(b.width_hz >= 500 for b in bands)
    # pure noise has spectral kurtosis near 0 in every band
    _, noise = F.fast_kurtogram(np.fft.rfft(rng.standard_normal(n)), n=n, fs_hz=fs, min_width_hz=500)
    assert max(abs(b.sk) for b in noise) < 0.5


def test_fault_views_put_harmonics_on_integer_u():
    g = PRESETS["6205-2rs"]
    for fault in F.HYPOTHESES:
        o = impact_order(fault=fault, geometry=g)
        spec = np.zeros(len(F.ORDER_AXIS))
        for k in (1, 2, 3):
            if k * o < F.ORDER_MAX:
                spec[int(round(k * o * F.N_REV))] = 1.0
        view = F.fault_view(spec, order=o)
        per_u = F.N_BINS / F.U_MAX
        for k in (1, 2, 3):
            if k * o < F.ORDER_MAX:
                i = int(round(k * per_u))
                assert view[i - 1:i + 2].max() > 0.4, (fault, k)
        assert view[int(1.5 * per_u)] == 0.0


def test_model_input_layout(rng):
    g = PRESETS["6205-2rs"]
    fs, rpm = 12000.0, 1797.0
    x = rng.standard_normal(F.window_length(fs_hz=fs, rpm=rpm)).astype(np.float32)
    wa = F.analyse_window(x, fs_hz=fs, rpm=rpm, geometry=g)
    assert wa.x.shape == F.INPUT_SHAPE == (18, 256) and wa.x.dtype == np.float32 and np.all(np.isfinite(wa.x))
    scal = wa.x[-1]
    assert np.all(scal[len(F.SCALARS):] == 0)
    assert scal[F.SCALARS.index("log_rpm")] == pytest.approx(math.log10(rpm / 1800))
    assert scal[F.SCALARS.index("n_elements")] == pytest.approx(0.9)


def test_constant_window_is_refused():
    with pytest.raises(InvalidInputError):
        F.analyse_window(np.zeros(12000), fs_hz=12000, rpm=1800, geometry=PRESETS["6205-2rs"])
