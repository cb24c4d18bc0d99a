"""PROSAIL table, illumination, soil and band integration: hand-checked values and physical sense."""

import numpy as np
import pytest

from edgeinv.apps.veg_cover.sim import physics
from edgeinv.apps.veg_cover.cameras import get_camera

pytest.importorskip("prosail")


def test_sky_fraction_formula_by_hand():
    # skyl = 0.847 - 1.61 s + 1.04 s^2 with s = sin(90 - tts): tts = 0 -> 0.277; tts = 90 -> 0.847
    assert physics.sky_fraction(tts_deg=0) == pytest.approx(0.277)
    assert physics.sky_fraction(tts_deg=90) == pytest.approx(0.847)
    s = np.sin(np.deg2rad(60))
    assert physics.sky_fraction(tts_deg=30) == pytest.approx(0.847 - 1.61 * s + 1.04 * s * s)


def test_gap_fraction_follows_beer_lambert_for_near_spherical_leaves():
    """4SAIL's too at nadir ~ exp(-G LAI) with G ~ 0.5 for an average leaf angle of 57 deg (Nilson 1971)."""
    import prosail

    _, r, t = prosail.run_prospect(1.5, 40.0, 10.0, 0.0, 0.012, 0.005, prospect_version="D")
    for lai in (0.5, 2.0, 4.0):
        out = prosail.run_sail(r, t, lai, 57.3, 0.05, 30.0, 0.0, 90.0, typelidf=2, rsoil0=np.full(2101, 0.2),
                               factor="ALLALL")
        g_view = -np.log(out[1]) / lai
        g_sun = -np.log(out[0]) * np.cos(np.deg2rad(30.0)) / lai
        assert 0.47 < g_view < 0.55 and 0.47 < g_sun < 0.55


@pytest.fixture(scope="module")
def optics():
    srf = get_camera("multispectral5").srf(physics.WAVELENGTH_NM)
    return physics.scene_optics(srf, ala_deg=55.0, rsoil=0.9, psoil=0.5, tts_deg=37.5, tto_deg=0.0)


def test_bare_canopy_is_the_soil(optics):
    """At LAI 0 the canopy table must reproduce the soil mixture (same spectra, same band weights)."""
    canopy_lai0 = optics.canopy[0, 2]
    soil = physics.soil_pixels(optics, rsoil=np.float32(0.9), psoil=np.float32(0.5))
    np.testing.assert_allclose(canopy_lai0, soil, rtol=0.02, atol=1e-3)
    assert optics.cover[0] == pytest.approx(0.0, abs=1e-6)


def test_cover_and_ndvi_grow_with_lai(optics):
    assert np.all(np.diff(optics.cover) > 0) and optics.cover[-1] > 0.95
    assert np.all(np.diff(optics.shade) > 0)
    red, nir = optics.canopy[:, 2, 2], optics.canopy[:, 2, 4]
    ndvi = (nir - red) / (nir + red)
    assert np.all(np.diff(ndvi) > 0)
    assert ndvi[0] < 0.3 and ndvi[-1] > 0.85


def test_more_chlorophyll_darkens_red_and_red_edge(optics):
    dense = optics.canopy[-2]  # LAI 5.5, Cab 10..80
    assert np.all(np.diff(dense[:, 2]) < 0) and np.all(np.diff(dense[:, 3]) < 0)


def test_band_weights_integrate_a_flat_spectrum_to_itself():
    srf = get_camera("rgb").srf(physics.WAVELENGTH_NM)
    w = physics.band_weights(srf, tts_deg=40.0)
    np.testing.assert_allclose(w @ np.full(physics.WAVELENGTH_NM.size, 0.37), 0.37, rtol=1e-12)


def test_shadow_keeps_more_blue_than_nir(optics):
    """The sky is blue: a shadow loses a smaller share of the blue band than of the NIR band."""
    assert 0 < optics.direct[0] < optics.direct[4] < 1


def test_canopy_pixels_bilinear_and_clipped(optics):
    from scipy.interpolate import RegularGridInterpolator

    ax = physics.LUT_AXES
    lai = np.array([[0.0, 0.3, 2.5, 6.0, 9.0]], np.float32)
    cab = np.array([[5.0, 30.0, 47.0, 70.0, 80.0]], np.float32)
    got = physics.canopy_pixels(optics, lai=lai, cab_ug_cm2=cab)
    pts = np.stack([np.clip(lai[0], 0, 7), np.clip(cab[0], 10, 80)], axis=1)
    ref = RegularGridInterpolator((ax["lai"], ax["cab_ug_cm2"]), optics.canopy)(pts)
    np.testing.assert_allclose(got[0], ref, atol=1e-6)


def test_lut_is_built_once_per_process():
    assert physics.canopy_lut() is physics.canopy_lut()
