"""Camera geometry (GSD <-> altitude, by hand) and band-role parsing."""

import numpy as np
import pytest

from edgeinv.apps.veg_cover.cameras import CAMERAS, config_for_roles, get_camera, normalise_role
from edgeinv.common.errors import ConfigError


def test_micasense_gsd_at_120_m_is_8_cm():
    # 120 m * 4.8 mm / (5.4 mm * 1280 px) = 0.0833 m (the RedEdge-MX datasheet's 8 cm at 120 m)
    assert get_camera("multispectral5").gsd_m(altitude_m=120) == pytest.approx(0.08333, rel=1e-3)


def test_rgb_gsd_at_100_m_is_2_74_cm():
    # 100 m * 13.2 mm / (8.8 mm * 5472 px) = 0.02741 m
    assert get_camera("rgb").gsd_m(altitude_m=100) == pytest.approx(0.02741, rel=1e-3)


@pytest.mark.parametrize("config", list(CAMERAS))
def test_altitude_inverts_gsd(config):
    cam = get_camera(config)
    assert cam.gsd_m(altitude_m=cam.altitude_m(gsd_m=0.013)) == pytest.approx(0.013)
    across, along = cam.footprint_m(altitude_m=50)
    assert across / along == pytest.approx(cam.image_width_px / cam.image_height_px)


def test_srf_peaks_at_centre_with_given_fwhm():
    cam = get_camera("multispectral5")
    wl = np.arange(400, 1001, 0.5)
    srf = cam.srf(wl)
    for k, (c, f) in enumerate(zip(cam.centre_nm, cam.fwhm_nm)):
        assert wl[np.argmax(srf[k])] == pytest.approx(c, abs=0.5)
        above = wl[srf[k] >= 0.5]
        assert above.max() - above.min() == pytest.approx(f, abs=1.0)


def test_unknown_camera_names_the_choices():
    with pytest.raises(ConfigError, match="multispectral5"):
        get_camera("hyperspectral")


@pytest.mark.parametrize("name,role", [("NIR", "nir"), ("Red Edge", "rededge"), ("red_edge", "rededge"),
                                       ("Band 5 (NIR)", "nir"), ("B", "blue"), ("alpha", "ignore"),
                                       ("Green", "green"), ("Band 1", None)])
def test_role_names(name, role):
    assert normalise_role(name) == role


def test_config_for_roles_prefers_richest():
    assert config_for_roles(["blue", "green", "red", "rededge", "nir"]) == "multispectral5"
    assert config_for_roles(["red", "green", "blue", "nir"]) == "red_nir"
    assert config_for_roles(["red", "green", "blue"]) == "rgb"
    assert config_for_roles(["green", "nir"]) is None
