"""Dimidiate pixel model and index + Otsu: hand-computed end-members and thresholds."""

import numpy as np
import pytest

from edgeinv.apps.veg_cover import baseline
from edgeinv.apps.veg_cover.io import VegImage


def test_dimidiate_uses_percentile_end_members():
    vi = np.linspace(0.0, 1.0, 101, dtype=np.float32).reshape(1, -1)  # 5th pct 0.05, 95th 0.95
    fvc = baseline.dimidiate(vi)
    assert fvc[0, 50] == pytest.approx((0.5 - 0.05) / 0.9, rel=1e-5)
    assert fvc[0, 0] == 0 and fvc[0, -1] == 1


def test_otsu_splits_a_bimodal_index():
    rng = np.random.default_rng(0)
    vi = np.concatenate([rng.normal(0.1, 0.03, 600), rng.normal(0.8, 0.03, 400)]).astype(np.float32)[None]
    t = baseline.otsu_threshold(vi)
    # every threshold in the empty gap between the modes maximises the between-class variance
    assert vi[0, :600].max() - 1e-4 <= t < vi[0, 600:].min()
    assert baseline.otsu(vi).mean() == pytest.approx(0.4, abs=0.01)


def test_invalid_pixels_stay_nan_and_do_not_shift_end_members():
    vi = np.array([[0.1, 0.9, 50.0]], np.float32)
    valid = np.array([[True, True, False]])
    fvc = baseline.dimidiate(vi, valid=valid)
    assert np.isnan(fvc[0, 2]) and fvc[0, 0] == 0 and fvc[0, 1] == 1


def test_methods_pick_the_index_from_the_bands():
    nir_img = VegImage(bands=np.stack([np.full((4, 4), 0.05, np.float32), np.full((4, 4), 0.4, np.float32)]),
                       band_names=("red", "nir"))
    nir_img.bands[1, :, :2] = 0.06  # left half soil-like
    out = baseline.dimidiate_cover(nir_img)
    assert set(out) == {"cover_fraction"} and out["cover_fraction"].shape == (4, 4)
    assert out["cover_fraction"][:, 2:].min() == 1 and out["cover_fraction"][:, :2].max() == 0
    rgb = VegImage(bands=np.random.default_rng(1).random((3, 5, 5)).astype(np.float32), band_names=("red", "green", "blue"))
    assert baseline.otsu_cover(rgb)["cover_fraction"].shape == (5, 5)
