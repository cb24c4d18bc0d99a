"""Zones: streaming statistics equal one-shot ones, flags, default sizes, JSON-able results."""

import json

import numpy as np
import pytest

from edgeinv.apps.veg_cover.interpret import ZoneGrid, ZoneRules, flags_for, summarise, zone_px_for
from edgeinv.common.errors import ConfigError


def _maps(h=50, w=70, seed=0):
    rng = np.random.default_rng(seed)
    cover = rng.random((h, w)).astype(np.float32)
    std = (0.05 + 0.1 * rng.random((h, w))).astype(np.float32)
    valid = rng.random((h, w)) > 0.1
    return cover, std, valid


def test_streaming_equals_one_shot():
    cover, std, valid = _maps()
    one = ZoneGrid(height=50, width=70, zone_px=16)
    one.add(row=0, col=0, cover=cover, std=std, valid=valid)
    tiled = ZoneGrid(height=50, width=70, zone_px=16)
    for r in range(0, 50, 13):
        for c in range(0, 70, 29):
            sl = (slice(r, r + 13), slice(c, c + 29))
            tiled.add(row=r, col=c, cover=cover[sl], std=std[sl], valid=valid[sl])
    za, zb = one.zones(rules=ZoneRules()), tiled.zones(rules=ZoneRules())
    assert len(za) == len(zb) == 4 * 5
    for a, b in zip(za, zb):
        for k in ("fvc_mean", "fvc_pixel_std", "fvc_patchiness", "confidence_std"):
            assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-12)
        r0, c0, r1, c1 = a["pixel_bounds"]  # and both equal plain numpy over the zone's valid pixels
        v = valid[r0:r1, c0:c1]
        assert a["pixels"] == v.sum()
        assert a["fvc_mean"] == pytest.approx(float(cover[r0:r1, c0:c1][v].astype(np.float64).mean()), rel=1e-9)
        px = cover[r0:r1, c0:c1][v].astype(np.float64)
        assert a["fvc_pixel_std"] == pytest.approx(float(px.std()), rel=1e-6)
        assert a["confidence_std"] == pytest.approx(float(std[r0:r1, c0:c1][v].astype(np.float64).mean()), rel=1e-9)


def test_zone_statistics_by_hand():
    cover = np.zeros((8, 8), np.float32)
    cover[:, 4:] = 1.0  # left half bare, right half full
    g = ZoneGrid(height=8, width=8, zone_px=8)
    g.add(row=0, col=0, cover=cover, valid=np.ones((8, 8), bool), std=np.full((8, 8), 0.2, np.float32))
    (z,) = g.zones(rules=ZoneRules())
    assert z["fvc_mean"] == pytest.approx(0.5) and z["fvc_pixel_std"] == pytest.approx(0.5)
    assert z["fvc_patchiness"] == pytest.approx(0.5)  # 2 x 2 px sub-cells: half 0, half 1
    assert z["confidence_std"] == pytest.approx(0.2)
    assert set(z["flags"]) == {"high_variance", "low_confidence"}


def test_flags_rules():
    rules = ZoneRules(low_cover=0.3, high_patchiness=0.15, low_confidence_std=0.12)
    base = {"valid_fraction": 1.0, "fvc_mean": 0.6, "fvc_patchiness": 0.05, "confidence_std": 0.05}
    assert flags_for(base, rules) == []
    assert flags_for({**base, "fvc_mean": 0.1}, rules) == ["low_cover"]
    assert flags_for({**base, "confidence_std": 0.2}, rules) == ["low_confidence"]
    assert flags_for({**base, "fvc_mean": 0.1, "valid_fraction": 0.1}, rules) == []
    with pytest.raises(ConfigError, match="low_cover"):
        ZoneRules(low_cover=1.5)


def test_zone_size_defaults():
    assert zone_px_for(georeferenced=True, gsd_m=0.05, zone_m=10.0, zone_px=None, height=5000, width=5000) == (200, 10.0)
    px, _ = zone_px_for(georeferenced=True, gsd_m=0.05, zone_m=None, zone_px=None, height=400, width=300)
    assert px == 75  # 10 m would be 200 px: capped at a quarter of the short side
    assert zone_px_for(georeferenced=False, gsd_m=None, zone_m=None, zone_px=None, height=32, width=32)[0] == 8
    with pytest.raises(ConfigError):
        zone_px_for(georeferenced=True, gsd_m=0.05, zone_m=-1, zone_px=None, height=10, width=10)


def test_result_is_json_and_has_the_promised_keys():
    from rasterio.crs import CRS
    from affine import Affine

    cover, std, valid = _maps()
    g = ZoneGrid(height=50, width=70, zone_px=20)
    g.add(row=0, col=0, cover=cover, std=std, valid=valid)
    res = summarise(grid=g, rules=ZoneRules(), source="x.tif", method="model", config="rgb", georeferenced=True,
                    crs=CRS.from_epsg(32631), transform=Affine(0.5, 0.0, 1000, 0.0, -0.5, 2000), gsd_m=0.5)
    doc = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert 0 <= doc["fvc_mean"] <= 1 and doc["pixels"] == int(valid.sum()) and doc["zones"]
    assert doc["zone_m"] == pytest.approx(10.0) and doc["crs"] == "EPSG:32631"
    z0 = doc["zones"][0]
    assert z0["bounds"] == pytest.approx([1000, 2000 - 10, 1010, 2000])
    assert "mean vegetation cover" in res.summary()


def test_slivers_at_the_edge_are_not_judged():
    """A 70 px wide image in 32 px zones leaves a 6 px sliver: too little of a zone to flag it."""
    cover = np.zeros((64, 70), np.float32)  # bare everywhere: every full zone is low cover
    g = ZoneGrid(height=64, width=70, zone_px=32)
    g.add(row=0, col=0, cover=cover, valid=np.ones_like(cover, bool))
    zones = g.zones(rules=ZoneRules())
    assert [z["col"] for z in zones if z["flags"]] == [0, 1, 0, 1]
    sliver = [z for z in zones if z["col"] == 2]
    assert all(z["valid_fraction"] == pytest.approx(6 * 32 / 32**2) and not z["flags"] for z in sliver)
