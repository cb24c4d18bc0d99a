"""Waveform and velocity-spectrum plot data of a recording (issue 11: what the ISO zone comes from)."""

import numpy as np
import pytest

from edgeinv.apps.bearing_wear.features import G, velocity_rms_mm_s
from edgeinv.apps.bearing_wear.pageplots import velocity_spectrum_plot_data, waveform_plot_data


def test_velocity_spectrum_sums_to_the_iso_velocity_rms():
    fs, rng = 12000.0, np.random.default_rng(3)
    t = np.arange(int(fs * 4)) / fs
    # 2 mm/s RMS at 29.95 Hz (shaft) in g, plus broadband noise
    v_amp = 2e-3 * np.sqrt(2)
    acc_g = v_amp * 2 * np.pi * 29.95 * np.cos(2 * np.pi * 29.95 * t) / G + 0.002 * rng.standard_normal(t.size)
    d = velocity_spectrum_plot_data(acc_g, fs_hz=fs)
    ref = velocity_rms_mm_s(acc_g, fs_hz=fs)
    assert d["rms_mm_s"] == pytest.approx(ref, rel=0.05)
    assert d["f"][0] >= 10.0 and d["f"][-1] <= 1000.0 and d["df_hz"] <= 1.5
    peak = d["f"][int(np.argmax(d["v"]))]
    assert abs(peak - 29.95) <= 1.5 and max(d["v"]) == pytest.approx(2.0, rel=0.2)
    assert velocity_spectrum_plot_data(np.zeros(4), fs_hz=fs)["rms_mm_s"] is None


def test_waveform_keeps_impacts_and_is_bounded():
    fs = 48000.0
    x = np.zeros(int(fs * 10))
    x[123457] = 25.0  # one impact of 25 g
    d = waveform_plot_data(x, fs_hz=fs, points=2000)
    assert len(d["t"]) <= 2000 and max(d["y"]) == 25.0
    assert d["t"][0] == 0.0 and d["t"][-1] <= 10.0 and np.all(np.diff(d["t"]) >= 0)
    small = waveform_plot_data(np.arange(10.0), fs_hz=10.0)
    assert small["y"] == list(np.arange(10.0)) and small["t"][1] == 0.1


def test_fit_band_widens_away_from_the_data_and_covers_the_fit():
    from edgeinv.apps.bearing_wear.pageplots import fit_band
    days, sizes = [0, 10, 20, 30], [0.5, 1.05, 1.45, 2.05]
    grid = np.linspace(0, 40, 9)
    b = fit_band(days, sizes, grid, model="linear")
    mid = np.polyval(np.polyfit(days, sizes, 1), grid)
    assert np.all(np.array(b["low"]) <= mid) and np.all(mid <= np.array(b["high"]))
    width = np.array(b["high"]) - np.array(b["low"])
    assert width[-1] > width[4]  # wider at 40 days (extrapolated) than at 20 (the middle of the data)
    assert fit_band([0, 1], [1, 2], grid, model="linear") is None
    e = fit_band(days, sizes, grid, model="exponential")
    assert min(e["low"]) > 0
