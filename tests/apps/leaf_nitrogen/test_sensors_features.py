"""Sensor configs, band-response resampling, instrument noise, simulation prior and preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinv.apps.leaf_nitrogen import features, sensors, simulate
from edgeinv.apps.leaf_nitrogen.io import LeafSpectrum
from edgeinv.common.errors import ConfigError, InvalidInputError


@pytest.mark.parametrize("config", sensors.CONFIG_ORDER)
def test_band_responses_are_normalised_gaussians(config):
    w = sensors.band_response_matrix(config)
    c = sensors.get_config(config)
    assert w.shape == (len(c.grid_nm), int(c.max_nm - c.min_nm) + 1)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    fine = sensors.fine_grid_nm(config)
    mid = len(c.grid_nm) // 2
    # an interior band is centred on its grid wavelength and its FWHM is the config's
    assert fine[np.argmax(w[mid])] == c.grid_nm[mid]
    half = fine[w[mid] >= w[mid].max() / 2]
    assert half[-1] - half[0] == pytest.approx(c.grid_fwhm_nm, abs=1.0)


def test_resampling_keeps_constants_and_linear_slopes():
    wl = np.arange(395.0, 2505.0, 0.7)  # irregular relative to the grid
    flat = sensors.resample_to_grid(wavelength_nm=wl, values=np.full_like(wl, 0.42), config="full")
    np.testing.assert_allclose(flat, 0.42, atol=1e-12)
    slope = sensors.resample_to_grid(wavelength_nm=wl, values=1e-4 * wl, config="full")
    grid = sensors.get_config("full").grid_nm
    np.testing.assert_allclose(slope[2:-2], 1e-4 * grid[2:-2], atol=1e-9)  # symmetric SRFs away from the ends


@pytest.mark.parametrize("lo,hi,expected", [(350, 2500, "full"), (400, 2500, "full"), (500, 2400, "trimmed"),
                                             (450, 2450, "trimmed"), (400, 1000, "vnir"), (398, 1700, "vnir")])
def test_config_chosen_from_range(lo, hi, expected):
    assert sensors.choose_config(np.arange(lo, hi + 1.0)) == expected


@pytest.mark.parametrize("lo,hi", [(500, 1000), (400, 900), (1000, 2500), (600, 2400)])
def test_unsupported_ranges_say_what_is_needed(lo, hi):
    with pytest.raises(InvalidInputError, match="no model supports") as exc:
        sensors.choose_config(np.arange(lo, hi + 1.0))
    assert "400-1000" in str(exc.value)


def test_unknown_config():
    with pytest.raises(ConfigError, match="full, trimmed, vnir"):
        sensors.get_config("swir")


def test_noise_is_larger_at_the_range_ends():
    inst = sensors.FIELD_SPECTROMETER
    sd = sensors.noise_sd(wavelength_nm=np.array([400, 450, 1200, 2100, 2450, 2500]), inst=inst)
    assert sd[0] > sd[1] > sd[2] and sd[5] > sd[4] > sd[3]
    assert sd[2] == pytest.approx(inst.noise_floor, rel=0.01)


def test_measurement_noise_statistics(rng):
    truth = np.full((400, 2101), 0.3)
    out = sensors.measure(reflectance_1nm=truth, config="full", rng=rng, noise_scale=np.ones(400))
    wl = out[0][0]
    r = np.stack([o[1] for o in out])
    # deviations: multiplicative gain/splices (~1.5 %) plus additive noise; ends noisier than the middle
    dev = r - 0.3
    mid = (wl > 1100) & (wl < 1300)
    end = wl > 2480
    assert np.std(dev[:, end] - dev[:, end].mean(axis=1, keepdims=True)) > 3 * np.std(
        dev[:, mid] - dev[:, mid].mean(axis=1, keepdims=True))
    assert abs(np.mean(dev)) < 0.003 and 0.002 < np.std(dev[:, mid].mean(axis=1)) < 0.01


def test_vnir_instrument_samples_irregularly(rng):
    out = sensors.measure(reflectance_1nm=np.full((3, 2101), 0.3), config="vnir", rng=rng)
    for wl, r in out:
        assert 399.9 < wl[0] < 402.5 and 999 < wl[-1] <= 1002 and len(wl) == len(r)
        assert 0.4 <= np.median(np.diff(wl)) <= 1.6
    shared = sensors.measure(reflectance_1nm=np.full((2, 2101), 0.3), config="vnir", rng=rng, same_sampling=True)
    np.testing.assert_array_equal(shared[0][0], shared[1][0])


def test_prior_is_correlated_and_within_bounds(rng):
    t = simulate.sample_traits(5000, rng=rng)
    for k, (lo, hi) in simulate.BOUNDS.items():
        key = k
        assert t[key].min() >= lo - 1e-12 and t[key].max() <= hi + 1e-12, k
    np.testing.assert_allclose(t["lma_g_cm2"], t["protein_g_cm2"] + t["cbc_g_cm2"], rtol=1e-12)
    n_area = t["protein_g_cm2"] * 1e4 / 4.43
    assert np.corrcoef(n_area, t["chlorophyll_ug_cm2"])[0, 1] > 0.7
    assert np.corrcoef(t["lma_g_cm2"], t["ewt_g_cm2"])[0, 1] > 0.7
    assert 1.0 < np.median(n_area) < 2.5  # crop leaves: about 1-2.5 g N/m2


def test_chlorophyll_from_nitrogen_by_hand():
    # 1 g N/m2 = 71.39 mmol N/m2; x 3.5 mmol Chl/mol N = 0.2499 mmol/m2 = 223.3 mg/m2 = 22.33 ug/cm2
    assert simulate.chlorophyll_from_nitrogen(nitrogen_g_m2=1.0, chl_per_n_mmol_mol=3.5) == pytest.approx(22.33, abs=0.01)


@pytest.mark.parametrize("config", sensors.CONFIG_ORDER)
def test_preprocess_shape_and_invariance_to_gain(config, rng):
    (leaf,) = simulate.simulate_leaves(1, rng=rng, config=config)
    x = features.preprocess(leaf, config=config)
    n = len(sensors.get_config(config).grid_nm)
    assert x.shape == (2 * n,) and x.dtype == np.float32 and np.all(np.isfinite(x))
    brighter = LeafSpectrum("b", leaf.wavelength_nm, leaf.reflectance * 1.05)
    xb = features.preprocess(brighter, config=config)
    # a calibration gain shifts the absorbance by a constant and leaves its derivative unchanged
    np.testing.assert_allclose(xb[n:], x[n:], atol=1e-4)
    np.testing.assert_allclose(xb[:n] - x[:n], -np.log(1.05), atol=1e-4)


def test_preprocess_refuses_what_it_cannot_use():
    wl = np.arange(400.0, 2501.0, 25.0)
    with pytest.raises(InvalidInputError, match="too coarse"):
        features.preprocess(LeafSpectrum("x", wl, np.full_like(wl, 0.3)), config="full")
    wl = np.arange(400.0, 1001.0)
    with pytest.raises(InvalidInputError, match="needs 400-2500"):
        features.preprocess(LeafSpectrum("x", wl, np.full_like(wl, 0.3)), config="full")
    bad = np.full_like(wl, 0.3)
    bad[10] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        features.preprocess(LeafSpectrum("x", wl, bad), config="vnir")
