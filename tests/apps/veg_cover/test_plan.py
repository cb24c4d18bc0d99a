"""Re-survey missions: altitude for a GSD, waypoints inside the flagged zones, QGroundControl layout, watch mode."""

import json

import numpy as np
import pytest
from rasterio.crs import CRS
from affine import Affine
from rasterio.warp import transform as warp

from edgeinv.apps.veg_cover.interpret import ZoneGrid, ZoneRules, summarise
from edgeinv.apps.veg_cover.mission.plan import (MissionSettings, Pattern, altitude_for, lawnmower, mission_geojson,
                                         plan_mission, qgc_plan)
from edgeinv.apps.veg_cover.mission.survey import plan_from_results, watch, write_mission
from edgeinv.common.errors import ConfigError, MissingMetadataError

UTM = CRS.from_epsg(32631)


def _result(crs=UTM, transform=None, gsd=0.05, size=400, geo=True, source="a.tif"):
    """A 400 x 400 px cover map, 20 m wide: the north-west quarter bare (flagged), the rest dense."""
    cover = np.full((size, size), 0.8, np.float32)
    cover[: size // 2, : size // 2] = 0.05
    g = ZoneGrid(height=size, width=size, zone_px=size // 2)
    g.add(row=0, col=0, cover=cover, valid=np.ones_like(cover, bool), std=np.full_like(cover, 0.03))
    t = transform or Affine(gsd, 0.0, 680000.0, 0.0, -gsd, 5762000.0)
    return summarise(grid=g, rules=ZoneRules(), source=source, method="model", config="multispectral5",
                     georeferenced=geo, crs=crs if geo else None, transform=t if geo else None, gsd_m=gsd if geo else None)


def test_altitude_for_gsd_by_hand():
    s = MissionSettings(camera="multispectral5")
    # 0.01 m * 5.4 mm * 1280 px / 4.8 mm = 14.4 m
    alt, gsd = altitude_for(camera="multispectral5", gsd_m=0.01, settings=s)
    assert alt == pytest.approx(14.4) and gsd == pytest.approx(0.01)
    alt, gsd = altitude_for(camera="multispectral5", gsd_m=0.001, settings=s)  # 1.44 m: below the 5 m floor
    assert alt == 5.0 and gsd == pytest.approx(5.0 * 4.8 / (5.4 * 1280))


def test_lawnmower_stays_inside():
    pts = lawnmower((0, 0, 10, 6), spacing_m=1.5, inset_m=0.5)
    xs, ys = np.array(pts).T
    assert xs.min() > 0 and xs.max() < 10 and ys.min() > 0 and ys.max() < 6
    assert len(pts) >= 2 * 4 and np.all(np.diff(ys[::2]) > 0)


def _inside(mission, zones, crs):
    lat, lon = np.array(mission.waypoints).T
    xs, ys = warp("EPSG:4326", crs, lon.tolist(), lat.tolist())
    flagged = [z["bounds"] for z in zones if z["flags"]]
    return all(any(b[0] < x < b[2] and b[1] < y < b[3] for b in flagged) for x, y in zip(xs, ys))


@pytest.mark.parametrize("pattern", list(Pattern))
def test_waypoints_lie_inside_flagged_zones(pattern):
    res = _result()
    assert [z["flags"] for z in res.zones] == [["low_cover"], [], [], []]
    s = MissionSettings(camera="multispectral5", target_gsd_m=0.004, pattern=pattern)  # 5.8 m: 5.1 m footprint
    m = plan_mission(res.zones, crs=UTM, settings=s, image_gsd_m=0.05)
    assert m.waypoints and _inside(m, res.zones, UTM)
    if pattern is Pattern.LAWNMOWER:
        assert len(m.waypoints) >= 8  # a 10 m zone, lines 1.5 m apart (70 % side overlap)
    else:
        assert len(m.waypoints) == 1


def test_geographic_raster_is_planned_in_metres():
    t = Affine(2e-6, 0.0, 5.66, 0.0, -2e-6, 51.99)  # ~0.14 m x 0.2 m pixels in degrees
    res = _result(crs=CRS.from_epsg(4326), transform=t, gsd=0.14)
    m = plan_mission(res.zones, crs=CRS.from_epsg(4326), settings=MissionSettings(target_gsd_m=0.02), image_gsd_m=0.14)
    assert m.waypoints and _inside(m, res.zones, CRS.from_epsg(4326))


def test_qgroundcontrol_plan_layout(tmp_path):
    res = _result()
    m = plan_from_results([res], settings=MissionSettings(target_gsd_m=0.02), home_latlon=(51.99, 5.66))
    files = write_mission(m, plan_path=tmp_path / "m.plan", geojson_path=tmp_path / "m.geojson")
    plan = json.loads((tmp_path / "m.plan").read_text())
    assert plan["fileType"] == "Plan" and plan["version"] == 1 and plan["groundStation"] == "QGroundControl"
    mission = plan["mission"]
    assert mission["version"] == 2 and mission["firmwareType"] == 12 and mission["vehicleType"] == 2
    assert mission["plannedHomePosition"][:2] == [51.99, 5.66]
    items = mission["items"]
    cmds = [i["command"] for i in items]
    assert cmds[0] == 22 and cmds[-1] == 20 and cmds.count(16) == len(m.waypoints) and 206 in cmds
    assert [i["doJumpId"] for i in items] == list(range(1, len(items) + 1))
    for it in items:
        assert it["type"] == "SimpleItem" and len(it["params"]) == 7 and it["autoContinue"] is True
        if it["command"] == 16:
            assert it["frame"] == 3 and it["params"][6] == pytest.approx(m.altitude_m, abs=0.01)
            assert 51 < it["params"][4] < 53 and 5 < it["params"][5] < 7
    assert plan["geoFence"]["version"] == 2 and plan["rallyPoints"]["version"] == 2
    gj = json.loads((tmp_path / "m.geojson").read_text())
    kinds = [f["properties"]["kind"] for f in gj["features"]]
    assert kinds.count("zone") == 1 and kinds.count("waypoint") == len(m.waypoints) and "flight_line" in kinds
    ring = gj["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and all(5 < lon < 7 and 51 < lat < 53 for lon, lat in ring)
    assert files == {"plan": str(tmp_path / "m.plan"), "geojson": str(tmp_path / "m.geojson")}
    assert qgc_plan(m) == plan and mission_geojson(m) == gj


def test_no_map_coordinates_no_mission():
    with pytest.raises(MissingMetadataError, match="georeferenced"):
        plan_from_results([_result(geo=False)], settings=MissionSettings())
    with pytest.raises(MissingMetadataError):
        plan_mission(_result().zones, crs=None, settings=MissionSettings(), image_gsd_m=0.05)


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="camera"):
        MissionSettings(camera="thermal")
    with pytest.raises(ConfigError, match="sidelap"):
        MissionSettings(sidelap=0.99)
    with pytest.raises(ConfigError, match="pattern"):
        MissionSettings(pattern="spiral")


def test_watch_processes_frames_as_they_come(tmp_path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    results = {"a.tif": _result(source="a.tif"), "b.png": _result(geo=False, source="b.png")}
    for name in ("a.tif", "b.png", "c.jpg", "a_cover.tif"):
        (folder / name).write_bytes(b"x")

    def analyse(path):
        if path.name == "c.jpg":
            raise MissingMetadataError("c.jpg: broken")
        return results[path.name]

    rep = watch(folder, analyse, settings=MissionSettings(target_gsd_m=0.02), plan_path=tmp_path / "w.plan",
                geojson_path=tmp_path / "w.geojson", once=True)
    assert rep["processed"] == ["a.tif"] and set(rep["skipped"]) == {"b.png", "c.jpg"}
    assert "not georeferenced" in rep["skipped"]["b.png"]
    assert json.loads((tmp_path / "w.plan").read_text())["fileType"] == "Plan"
    assert rep["mission"]["n_waypoints"] > 0


def test_watch_waits_for_a_file_to_settle_and_stops_after_max_files(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.tif").write_bytes(b"x")
    calls = []

    def analyse(path):
        calls.append(path.name)
        return _result(source=path.name)

    rep = watch(folder, analyse, settings=MissionSettings(), plan_path=tmp_path / "p.plan", poll_s=0.01, max_files=1)
    assert calls == ["a.tif"] and rep["processed"] == ["a.tif"]


def test_a_mission_too_large_to_fly_is_refused_before_it_is_built():
    """A 64 x 64 px EPSG:4326 image with 0.02 deg pixels, all bare: 4096 flagged zones of ~2 km used to give
    562 560 waypoints (224 MB .plan, 2.3 GB in memory); now a clear refusal, nothing written."""
    from edgeinv.apps.veg_cover.mission.plan import MAX_WAYPOINTS, NoUsefulMissionError

    size = 64
    cover = np.full((size, size), 0.02, np.float32)
    g = ZoneGrid(height=size, width=size, zone_px=1)
    g.add(row=0, col=0, cover=cover, valid=np.ones_like(cover, bool), std=np.full_like(cover, 0.03))
    t = Affine(0.02, 0.0, 10.0, 0.0, -0.02, 50.0)
    res = summarise(grid=g, rules=ZoneRules(), source="wide.tif", method="model", config="multispectral5",
                    georeferenced=True, crs=CRS.from_epsg(4326), transform=t, gsd_m=1500.0)
    assert sum(1 for z in res.zones if z["flags"]) == size * size
    with pytest.raises(NoUsefulMissionError, match=f"more than {MAX_WAYPOINTS} waypoints"):
        plan_mission(res.zones, crs=CRS.from_epsg(4326), settings=MissionSettings(), image_gsd_m=1500.0)


# ---- issue 11 bug 9: GNSS accuracy, footprint, waypoint spacing, GSD vs the image -----------------
def _flat_result(*, width, height, gsd, zone_px, cover=0.05):
    """A uniformly bare (every zone flagged) georeferenced cover map."""
    c = np.full((height, width), cover, np.float32)
    g = ZoneGrid(height=height, width=width, zone_px=zone_px)
    g.add(row=0, col=0, cover=c, valid=np.ones_like(c, bool), std=np.full_like(c, 0.03))
    t = Affine(gsd, 0.0, 680000.0, 0.0, -gsd, 5762000.0)
    return summarise(grid=g, rules=ZoneRules(), source="frame.tif", method="model", config="multispectral5",
                     georeferenced=True, crs=UTM, transform=t, gsd_m=gsd)


def _steps_m(mission):
    lat, lon = np.array(mission.waypoints).T
    xs, ys = warp("EPSG:4326", UTM, lon.tolist(), lat.tolist())
    return np.hypot(np.diff(xs), np.diff(ys))


def test_frame_of_0_65_by_0_48_m_has_no_useful_mission():
    # the case: a 650 x 480 px frame at 1 mm per pixel, every zone flagged; the 5 m altitude floor
    # gives 3.5 mm per pixel, so a "re-survey" of 24 waypoints 0.12 m apart was offered without a word
    res = _flat_result(width=650, height=480, gsd=0.001, zone_px=100)
    assert len(res.flagged) == len(res.zones) > 20
    from edgeinv.apps.veg_cover.mission.plan import NoUsefulMissionError
    with pytest.raises(NoUsefulMissionError, match=r"3\.5x coarser than the image") as err:
        plan_from_results([res], settings=MissionSettings())
    assert "0.35 cm" in err.value.message and "0.10 cm" in err.value.message and err.value.hint


def test_waypoints_respect_the_minimum_spacing_and_small_zones_merge():
    # 20 m image, 1 m zones all flagged, flown at 28.8 m (2 cm GSD asked): each zone fits one photo, and
    # centres 1 m apart are closer than the 2 m acceptance radius -> merged, never closer than 2 m
    res = _flat_result(width=400, height=400, gsd=0.05, zone_px=20)
    m = plan_from_results([res], settings=MissionSettings(target_gsd_m=0.02), home_latlon=(51.99, 5.66))
    steps = _steps_m(m)
    assert len(m.waypoints) < len(res.flagged) and steps.min() >= 2.0 - 1e-6
    assert any("merged" in n for n in m.notes) and any("every zone" in n for n in m.notes)
    assert m.summary()["min_spacing_m"] == 2.0 and m.summary()["notes"] == m.notes


def test_lines_never_closer_than_the_gnss_can_tell_apart():
    res = _result()  # a 10 m flagged zone
    s = MissionSettings(target_gsd_m=0.004, gnss_accuracy_m=3.0)  # 5.8 m altitude: 1.5 m line spacing asked
    m = plan_mission(res.zones, crs=UTM, settings=s, image_gsd_m=0.05)
    assert _steps_m(m).min() >= 3.0 - 1e-6 and any("side overlap" in n for n in m.notes)
    rtk = plan_mission(res.zones, crs=UTM, settings=MissionSettings(target_gsd_m=0.004, gnss_accuracy_m=0.02,
                                                                   min_waypoint_spacing_m=0.5), image_gsd_m=0.05)
    assert len(rtk.waypoints) > len(m.waypoints) and not rtk.notes


def test_one_photo_only_when_the_footprint_covers_the_zone_and_the_gnss_error():
    res = _result()  # 10 m zone; at 14.4 m (1 cm GSD) one photo covers 12.8 x 9.6 m: not the zone + error
    m = plan_mission(res.zones, crs=UTM, settings=MissionSettings(target_gsd_m=0.01), image_gsd_m=0.05)
    assert len(m.waypoints) > 1
    high = plan_mission(res.zones, crs=UTM, settings=MissionSettings(target_gsd_m=0.03), image_gsd_m=0.05)
    assert len(high.waypoints) == 1  # 38.4 x 28.8 m covers 10 m + 2 x 1.5 m
    with pytest.raises(ConfigError, match="gnss_accuracy_m"):
        MissionSettings(gnss_accuracy_m=0.0)


def test_map_data_puts_the_mission_back_in_the_image_crs():
    from edgeinv.apps.veg_cover.mission.plan import mission_map_data
    from edgeinv.common.web.mapplot import map_svg
    res = _result()
    m = plan_mission(res.zones, crs=UTM, settings=MissionSettings(target_gsd_m=0.004), image_gsd_m=0.05)
    d = mission_map_data(m, crs=UTM, extent=(680000.0, 5761980.0, 680020.0, 5762000.0), zones=res.zones)
    assert len(d["path"]) == len(m.waypoints) and d["crs"] == "EPSG:32631" and d["units"] == "m"
    assert all(680000 < x < 680010 and 5761990 < y < 5762000 for x, y in d["path"])  # inside the flagged zone
    assert [z["flagged"] for z in d["zones"]] == [True, False, False, False]
    svg = str(map_svg(extent=d["extent"], zones=d["zones"], path=d["path"], crs_label=d["crs"]))
    assert "EPSG:32631" in svg and "<polyline" in svg
    assert mission_map_data(None, crs=UTM, extent=d["extent"], zones=res.zones)["path"] == []
    from_json = mission_map_data(mission_geojson(m), crs="EPSG:32631", zones=res.zones)  # as stored with a result
    assert np.allclose(from_json["path"], d["path"]) and from_json["extent"] == [680000.0, 5761980.0, 680020.0, 5762000.0]
