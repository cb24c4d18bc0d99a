"""Bearing kinematics checked against published multipliers and hand calculations."""

import math

import pytest

from edgeinv.apps.bearing_wear.physics import (PRESETS, BearingGeometry, ball_drop_depth_mm, defect_frequencies_hz,
                                               defect_orders, entry_exit_delay_s, get_geometry, impact_order,
                                               rolling_speed_m_s)
from edgeinv.common.errors import ConfigError


def test_6205_matches_published_multipliers():
    # The figures (CWRU Bearing Data Center, drive-end SKF 6205-2RS); BSF is the spin frequency.
    o = defect_orders(geometry=get_geometry("6205-2rs"))
    assert o["bpfi"] == pytest.approx(5.415, abs=1e-3)
    assert o["bpfo"] == pytest.approx(3.585, abs=1e-3)
    assert o["bsf"] == pytest.approx(2.357, abs=1e-3)
    assert o["ftf"] == pytest.approx(0.398, abs=1e-3)
    # CWRU tabulates the rolling-element line as 2 x BSF = 4.7135
    assert impact_order(fault="ball", geometry=PRESETS["6205-2rs"]) == pytest.approx(4.7135, abs=1e-3)


def test_6203_matches_cwru_fan_end_multipliers():
    g = get_geometry("SKF 6203")
    assert (g.n_elements, round(g.element_diameter_mm, 3), round(g.pitch_diameter_mm, 2)) == (8, 6.746, 28.5)
    o = defect_orders(geometry=g)
    assert o["bpfi"] == pytest.approx(4.9469, abs=2e-3)
    assert o["bpfo"] == pytest.approx(3.0530, abs=2e-3)
    assert o["ftf"] == pytest.approx(0.3817, abs=1e-3)
    assert 2 * o["bsf"] == pytest.approx(3.9874, abs=2e-3)


def test_hand_computed_custom_geometry():
    # n=8, d=10, D=50, 0 deg: r=0.2 -> BPFO=4*0.8, BPFI=4*1.2, FTF=0.5*0.8, BSF=2.5*(1-0.04)
    o = defect_orders(geometry=get_geometry("n=8,d=10,D=50,angle=0"))
    assert o == pytest.approx({"bpfo": 3.2, "bpfi": 4.8, "ftf": 0.4, "bsf": 2.4})
    # contact angle 60 is refused; 30 deg: r = 0.2 cos 30
    r = 0.2 * math.cos(math.radians(30))
    o30 = defect_orders(geometry=BearingGeometry("x", 8, 10.0, 50.0, 30.0))
    assert o30["bpfo"] == pytest.approx(4 * (1 - r)) and o30["bsf"] == pytest.approx(2.5 * (1 - r * r))


def test_frequencies_in_hz_at_1797_rpm():
    hz = defect_frequencies_hz(geometry=PRESETS["6205-2rs"], shaft_hz=1797 / 60)
    assert hz["bpfi"] == pytest.approx(5.4152 * 29.95, rel=1e-3)  # 162.2 Hz, the CWRU inner-race line
    assert hz["bpfo"] == pytest.approx(107.36, abs=0.05)


def test_rolling_speed_and_entry_exit_delay():
    g = PRESETS["6205-2rs"]
    r = g.diameter_ratio
    v = math.pi * 30.0 * g.pitch_diameter_mm * 1e-3 * (1 - r * r) / 2
    assert rolling_speed_m_s(geometry=g, shaft_hz=30.0) == pytest.approx(v)
    # same speed from the cage: 2 pi FTF (D + d)/2
    ftf = defect_orders(geometry=g)["ftf"] * 30.0
    assert v == pytest.approx(2 * math.pi * ftf * (g.pitch_diameter_mm + g.element_diameter_mm) / 2 * 1e-3)
    assert entry_exit_delay_s(defect_size_mm=2.0, geometry=g, shaft_hz=30.0) == pytest.approx(2e-3 / v)
    # chord geometry: a 2 mm spall under a 7.94 mm ball
    assert ball_drop_depth_mm(defect_size_mm=2.0, geometry=g) == pytest.approx(3.97002 - math.sqrt(3.97002**2 - 1.0), rel=1e-4)


@pytest.mark.parametrize("spec", ["6299", "n=9,d=8", "n=9,d=x,D=39", "n=2,d=1,D=10", "n=9,d=40,D=39", "q=1,d=1,D=9"])
def test_bad_geometry_is_a_config_error(spec):
    with pytest.raises(ConfigError):
        get_geometry(spec)


def test_impact_order_rejects_unknown_fault():
    with pytest.raises(ConfigError):
        impact_order(fault="gear", geometry=PRESETS["6205-2rs"])
