"""PROSPECT-PRO physics: against prosail's PROSPECT-D, against independent quadratures, and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from edgeinv.apps.leaf_nitrogen import physics
from edgeinv.common.errors import InvalidInputError


def test_constants_loaded_as_package_data():
    c = physics.optical_constants()
    assert c.wavelength_nm[0] == 400 and c.wavelength_nm[-1] == 2500 and len(c.wavelength_nm) == 2101
    # proteins absorb in the SWIR only; chlorophyll only in the visible/red edge
    assert np.all(c.k_protein[c.wavelength_nm < 1000] == 0) and c.k_protein.max() > 0
    assert np.all(c.k_chl[c.wavelength_nm > 800] == 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pro_with_zero_proteins_and_cbc_is_prosail_prospect_d(seed):
    prosail = pytest.importorskip("prosail")
    rng = np.random.default_rng(seed)
    for _ in range(5):
        p = dict(n=rng.uniform(1, 3), cab=rng.uniform(0, 90), car=rng.uniform(0, 20), cbrown=rng.uniform(0, 1),
                 cw=rng.uniform(0.001, 0.05), cm=rng.uniform(0.001, 0.03), ant=rng.uniform(0, 10))
        wl, r, t = prosail.run_prospect(p["n"], p["cab"], p["car"], p["cbrown"], p["cw"], p["cm"], ant=p["ant"],
                                        prospect_version="D")
        wl2, r2, t2 = physics.prospect_pro(n_struct=p["n"], chlorophyll_ug_cm2=p["cab"], carotenoid_ug_cm2=p["car"],
                                           anthocyanin_ug_cm2=p["ant"], brown=p["cbrown"], ewt_g_cm2=p["cw"],
                                           lma_g_cm2=p["cm"], protein_g_cm2=0.0, cbc_g_cm2=0.0)
        np.testing.assert_array_equal(wl, wl2)
        np.testing.assert_allclose(r2, r, rtol=0, atol=1e-12)
        np.testing.assert_allclose(t2, t, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1e-4, 0.05, 0.7, 3.0, 12.0])
def test_plate_transmissivity_is_the_isotropic_slab_integral(k):
    # tau(k) = 2 * int_0^1 mu exp(-k/mu) dmu: isotropic light through a slab of optical depth k
    edges = [0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0]  # resolve the sharp rise near mu = 0 for small k
    expected = sum(quad(lambda mu: 2 * mu * np.exp(-k / mu), a, b, epsabs=1e-15, epsrel=1e-12)[0]
                   for a, b in zip(edges[:-1], edges[1:]))
    assert physics.plate_transmissivity(absorption=np.array([k]))[0] == pytest.approx(expected, rel=1e-9, abs=1e-14)


def test_plate_transmissivity_without_absorption_is_one():
    assert physics.plate_transmissivity(absorption=np.zeros(3)).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("nr,alpha", [(1.5, 90.0), (1.4, 40.0), (1.3, 60.0)])
def test_interface_transmissivity_matches_fresnel_average(nr, alpha):
    def fresnel_t(theta):
        st = np.sin(theta) / nr
        ct = np.sqrt(1 - st**2)
        ci = np.cos(theta)
        rs = ((ci - nr * ct) / (ci + nr * ct)) ** 2
        rp = ((ct - nr * ci) / (ct + nr * ci)) ** 2
        return 1 - 0.5 * (rs + rp)

    a = np.deg2rad(alpha)
    num, _ = quad(lambda th: fresnel_t(th) * 2 * np.sin(th) * np.cos(th), 0, a, epsabs=1e-13)
    expected = num / np.sin(a) ** 2
    got = physics.interface_transmissivity(alpha_deg=alpha, refractive_index=np.array([nr]))[0]
    assert got == pytest.approx(expected, rel=1e-6)


def test_without_absorbers_energy_is_conserved():
    _, r, t = physics.prospect_pro(n_struct=1.7, chlorophyll_ug_cm2=0.0)
    np.testing.assert_allclose(r + t, 1.0, atol=1e-12)


def test_single_layer_is_the_plate_model():
    # N = 1: no Stokes pile, R and T are the top plate's (Allen et al. 1969), computed here by hand
    c = physics.optical_constants().subset([550, 1450, 2150])
    k = (40 * c.k_chl + 0.012 * c.k_water + 0.001 * c.k_protein + 0.004 * c.k_cbc) / 1.0
    tau = physics.plate_transmissivity(absorption=k)
    talf = physics.interface_transmissivity(alpha_deg=40.0, refractive_index=c.refractive_index)
    t12 = physics.interface_transmissivity(alpha_deg=90.0, refractive_index=c.refractive_index)
    t21 = t12 / c.refractive_index**2
    r21 = 1 - t21
    ta = talf * tau * t21 / (1 - r21**2 * tau**2)
    ra = (1 - talf) + r21 * tau * ta
    _, r, t = physics.prospect_pro(n_struct=1.0, chlorophyll_ug_cm2=40, ewt_g_cm2=0.012, protein_g_cm2=0.001,
                                   cbc_g_cm2=0.004, wavelength_nm=[550, 1450, 2150])
    np.testing.assert_allclose(r, ra, rtol=1e-12)
    np.testing.assert_allclose(t, ta, rtol=1e-12)


def test_vectorised_over_leaves_equals_one_by_one():
    n = np.array([1.2, 1.8, 2.4])
    prot = np.array([0.0005, 0.001, 0.002])
    _, R, T = physics.prospect_pro(n_struct=n, chlorophyll_ug_cm2=35.0, ewt_g_cm2=0.015, protein_g_cm2=prot,
                                   cbc_g_cm2=0.004)
    assert R.shape == (3, 2101)
    for i in range(3):
        _, r, t = physics.prospect_pro(n_struct=n[i], chlorophyll_ug_cm2=35.0, ewt_g_cm2=0.015,
                                       protein_g_cm2=prot[i], cbc_g_cm2=0.004)
        np.testing.assert_allclose(R[i], r, rtol=1e-13)
        np.testing.assert_allclose(T[i], t, rtol=1e-13)


def test_proteins_darken_the_swir_protein_band_only():
    wl, lo, _ = physics.prospect_pro(n_struct=1.5, chlorophyll_ug_cm2=40, ewt_g_cm2=0.012, protein_g_cm2=0.0005,
                                     cbc_g_cm2=0.004)
    _, hi, _ = physics.prospect_pro(n_struct=1.5, chlorophyll_ug_cm2=40, ewt_g_cm2=0.012, protein_g_cm2=0.0020,
                                    cbc_g_cm2=0.004)
    assert np.all(hi[wl < 1000] == lo[wl < 1000])
    band = (wl >= 2100) & (wl <= 2180)
    assert np.all(hi[band] < lo[band])


def test_subset_wavelengths_match_full_run():
    _, r_all, _ = physics.prospect_pro(n_struct=1.5, chlorophyll_ug_cm2=30, ewt_g_cm2=0.01, lma_g_cm2=0.005)
    wl, r, _ = physics.prospect_pro(n_struct=1.5, chlorophyll_ug_cm2=30, ewt_g_cm2=0.01, lma_g_cm2=0.005,
                                    wavelength_nm=[400, 700, 2500])
    np.testing.assert_allclose(r, r_all[[0, 300, 2100]], rtol=1e-13)


def test_bad_parameters_are_refused():
    with pytest.raises(InvalidInputError, match="not both"):
        physics.prospect_pro(n_struct=1.5, chlorophyll_ug_cm2=30, lma_g_cm2=0.005, protein_g_cm2=0.001)
    with pytest.raises(InvalidInputError, match=">= 0"):
        physics.prospect_pro(n_struct=1.5, chlorophyll_ug_cm2=-1.0)
    with pytest.raises(InvalidInputError, match="NaN"):
        physics.prospect_pro(n_struct=1.5, chlorophyll_ug_cm2=np.nan)
    with pytest.raises(InvalidInputError, match="400"):
        physics.prospect_pro(n_struct=1.5, chlorophyll_ug_cm2=30, wavelength_nm=[350, 500])


def test_nitrogen_from_protein_by_hand():
    # 0.000886 g/cm2 proteins = 8.86 g/m2; / 4.43 = 2.0 g N/m2
    assert physics.nitrogen_area_g_m2(protein_g_cm2=0.000886) == pytest.approx(2.0)
    assert physics.nitrogen_area_g_m2(protein_g_cm2=0.000886, n_to_protein=6.25) == pytest.approx(8.86 / 6.25)
    assert physics.protein_from_nitrogen_g_cm2(nitrogen_g_m2=2.0) == pytest.approx(0.000886)
    # per mass: 2 g N/m2 in a leaf of 50 g/m2 (0.005 g/cm2) is 4 %
    assert physics.nitrogen_mass_percent(protein_g_cm2=0.000886, lma_g_cm2=0.005) == pytest.approx(4.0)
    with pytest.raises(InvalidInputError):
        physics.nitrogen_area_g_m2(protein_g_cm2=0.001, n_to_protein=0)
    with pytest.raises(InvalidInputError):
        physics.nitrogen_mass_percent(protein_g_cm2=0.001, lma_g_cm2=0.0)
