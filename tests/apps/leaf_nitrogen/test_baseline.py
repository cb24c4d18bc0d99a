"""The iterative PROSPECT-PRO inversion over the optimal spectral domains (the classical baseline)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinv.apps.leaf_nitrogen import baseline
from edgeinv.apps.leaf_nitrogen.physics import prospect_pro

TRUTH = dict(n_struct=1.65, chlorophyll_ug_cm2=38.0, carotenoid_ug_cm2=8.0, anthocyanin_ug_cm2=0.5,
             ewt_g_cm2=0.0145, protein_g_cm2=0.0011, cbc_g_cm2=0.0042)


def _leaf(**changes):
    p = {**TRUTH, **changes}
    return prospect_pro(**p)


def test_domains_are_the_published_ones():
    assert baseline.OPTIMAL_DOMAINS_NM["protein"] == ((2100, 2139), (2160, 2179))
    cbc = baseline.OPTIMAL_DOMAINS_NM["cbc"]
    for d in ((1480, 1499), (1560, 1579), (1760, 1799), (2040, 2059), (2120, 2139), (2260, 2279)):
        assert d in cbc
    assert len(baseline._domain_nm("protein")) == 60


def test_reflectance_and_transmittance_recover_the_swir_exactly():
    wl, r, t = _leaf()
    est = baseline.invert(wavelength_nm=wl, reflectance=r, transmittance=t)
    assert est["protein_g_cm2"] == pytest.approx(TRUTH["protein_g_cm2"], rel=1e-3)
    assert est["cbc_g_cm2"] == pytest.approx(TRUTH["cbc_g_cm2"], rel=1e-3)
    assert est["ewt_g_cm2"] == pytest.approx(TRUTH["ewt_g_cm2"], rel=1e-3)
    assert est["lma_g_cm2"] == pytest.approx(TRUTH["protein_g_cm2"] + TRUTH["cbc_g_cm2"], rel=1e-3)
    assert est["n_struct"] == pytest.approx(TRUTH["n_struct"], rel=1e-3)


def test_reflectance_only_uses_the_n_prior_and_stays_close():
    wl, r, _ = _leaf()
    n0 = baseline.n_prior(wavelength_nm=wl, reflectance=r)
    assert abs(n0 - TRUTH["n_struct"]) < 0.2  # Spafford et al. (2021): N from R/(1-R) at 1131 nm
    est = baseline.invert(wavelength_nm=wl, reflectance=r)
    assert est["n_struct"] == n0
    assert est["protein_g_cm2"] == pytest.approx(TRUTH["protein_g_cm2"], rel=0.25)
    assert est["chlorophyll_ug_cm2"] == pytest.approx(TRUTH["chlorophyll_ug_cm2"], rel=0.15)
    assert est["ewt_g_cm2"] == pytest.approx(TRUTH["ewt_g_cm2"], rel=0.15)


def test_more_protein_is_estimated_as_more_protein():
    lows, highs = [], []
    for prot in (0.0006, 0.0018):
        wl, r, t = _leaf(protein_g_cm2=prot)
        (lows if prot < 0.001 else highs).append(baseline.invert(wavelength_nm=wl, reflectance=r)["protein_g_cm2"])
    assert highs[0] > lows[0] * 1.8


def test_vnir_spectrum_gives_chlorophyll_and_structure_only():
    wl, r, _ = _leaf()
    sel = wl <= 1000
    est = baseline.invert(wavelength_nm=wl[sel], reflectance=r[sel])
    assert set(est) == {"chlorophyll_ug_cm2", "n_struct"}
    assert est["chlorophyll_ug_cm2"] == pytest.approx(TRUTH["chlorophyll_ug_cm2"], rel=0.15)


def test_app_baseline_speaks_the_output_layout():
    from edgeinv.apps.leaf_nitrogen import APP
    from edgeinv.apps.leaf_nitrogen.io import LeafSpectrum

    wl, r, _ = _leaf()
    out = APP.baseline(LeafSpectrum("x", wl, r))
    assert set(out) == {"protein_g_cm2", "chlorophyll_ug_cm2", "ewt_g_cm2", "lma_g_cm2", "structure_n"}
    assert all(isinstance(v, np.float32) for v in out.values())
