"""Re-survey missions over flagged zones: waypoints, altitude for a wanted GSD, QGroundControl .plan and GeoJSON.

The flight altitude that gives a ground sampling distance follows the pinhole camera,
``H = GSD * f * W / s_w`` (focal length f, image width W in pixels, sensor width s_w), with the
camera figures of :mod:`.cameras`; it is clipped to a safe band (default 5-120 m above take-off,
120 m being the EU/US open-category ceiling) and the GSD actually reached is reported. Each
flagged zone gets either a lawnmower pattern (lines spaced by the image footprint times
``1 - sidelap``, inset so every waypoint lies inside the zone) or one waypoint at its centre;
zones are visited nearest-first from home. Waypoints are planned in metres (the raster's projected
CRS, else the local UTM zone) and transformed to WGS 84 with ``rasterio.warp.transform``.

What a drone can actually fly is respected, and when nothing useful can be flown the planner says so
(:class:`NoUsefulMissionError`) instead of offering a plan:

* **GSD vs the image**: a re-survey flown coarser than the image it re-surveys (the altitude floor
  keeps the drone higher than the wanted GSD needs) shows less than the image already does; refused,
  naming both GSDs and the ratio.
* **Camera footprint and GNSS accuracy**: a zone gets one photo at its centre only if the footprint
  covers the zone plus the GNSS error on every side; otherwise a lawnmower over it.
* **Minimum waypoint spacing**: no two consecutive waypoints closer than
  ``max(min_waypoint_spacing_m, gnss_accuracy_m)`` (2 m: the default waypoint acceptance radius of
  PX4 ``NAV_ACC_RAD`` and ArduPilot ``WPNAV_RADIUS``; closer waypoints count as reached at once and a
  GNSS fix cannot tell them apart). Lines are spread (less side overlap) or the drone climbs to keep it;
  a zone line shorter than it becomes one waypoint; waypoints of neighbouring zones that fall closer
  are merged.
* **Whole image flagged, image within one footprint**: one photo re-takes the whole scene, said so in
  the plan's notes.

The ``.plan`` layout is QGroundControl's JSON plan file (fileType "Plan", version 1, mission
version 2 of SimpleItems with MAVLink commands: 22 NAV_TAKEOFF, 16 NAV_WAYPOINT, 206
DO_SET_CAM_TRIGG_DIST, 20 NAV_RETURN_TO_LAUNCH; frame 3 = global, altitude relative to home).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from edgeinv.common.errors import ConfigError, InvalidInputError, MissingMetadataError

from ..cameras import get_camera

MAV_CMD_NAV_WAYPOINT, MAV_CMD_NAV_TAKEOFF, MAV_CMD_NAV_RTL, MAV_CMD_DO_SET_CAM_TRIGG_DIST = 16, 22, 20, 206
MAV_FRAME_GLOBAL_RELATIVE_ALT, MAV_FRAME_MISSION = 3, 2
FIRMWARE = {"px4": 12, "ardupilot": 3}
VEHICLE_MULTIROTOR = 2
# Flight controllers hold a few hundred to ~2000 mission items (ArduPilot boards from 700, PX4 on an SD card
# more); 1000 waypoints is also hours of flying for a re-survey. Above it there is no useful mission: the
# planner says so instead of writing a .plan of 500 000 waypoints (224 MB, 2.3 GB in memory, seen).
MAX_WAYPOINTS = 1000


class NoUsefulMissionError(InvalidInputError):
    """The flagged zones cannot be re-surveyed by one flyable mission (too many waypoints)."""


class Pattern(enum.Enum):
    LAWNMOWER = "lawnmower"
    CENTROID = "centroid"


@dataclass(frozen=True)
class MissionSettings:
    """How the re-survey is flown."""

    camera: str = "multispectral5"
    target_gsd_m: float | None = None  # None: half the GSD of the analysed image
    pattern: Pattern = Pattern.LAWNMOWER
    sidelap: float = 0.7
    frontlap: float = 0.75
    min_altitude_m: float = 5.0
    max_altitude_m: float = 120.0
    cruise_speed_ms: float = 5.0
    hover_speed_ms: float = 3.0
    firmware: str = "px4"
    #: horizontal GNSS accuracy of the drone (m): ~1.5 m for a consumer multi-constellation receiver
    #: (u-blox M9, DJI hover spec), 0.02-0.05 m with RTK
    gnss_accuracy_m: float = 1.5
    #: smallest distance between consecutive waypoints (m); 2 m = PX4 NAV_ACC_RAD / ArduPilot WPNAV_RADIUS
    min_waypoint_spacing_m: float = 2.0

    def __post_init__(self):
        get_camera(self.camera)
        if not isinstance(self.pattern, Pattern):
            raise ConfigError(f"pattern must be one of {[p.value for p in Pattern]}, got {self.pattern!r}")
        if self.target_gsd_m is not None and not 0.0005 <= self.target_gsd_m <= 1.0:
            raise ConfigError(f"target GSD must be 0.05-100 cm, got {self.target_gsd_m * 100:g} cm")
        for name in ("sidelap", "frontlap"):
            if not 0.0 <= getattr(self, name) < 0.95:
                raise ConfigError(f"{name} must be in [0, 0.95), got {getattr(self, name)}")
        if not 0 < self.min_altitude_m <= self.max_altitude_m:
            raise ConfigError(f"need 0 < min_altitude_m <= max_altitude_m, got {self.min_altitude_m}, "
                              f"{self.max_altitude_m}")
        if not 0.01 <= self.gnss_accuracy_m <= 50.0:
            raise ConfigError(f"gnss_accuracy_m must be between 0.01 and 50 m, got {self.gnss_accuracy_m:g} m")
        if not 0.1 <= self.min_waypoint_spacing_m <= 100.0:
            raise ConfigError(f"min_waypoint_spacing_m must be between 0.1 and 100 m, got "
                              f"{self.min_waypoint_spacing_m:g} m")
        if self.firmware not in FIRMWARE:
            raise ConfigError(f"firmware must be one of {', '.join(FIRMWARE)}, got {self.firmware!r}")


@dataclass
class Mission:
    """A planned re-survey: waypoints (lat, lon) at one altitude, and the zones they cover."""

    altitude_m: float
    gsd_m: float
    camera: str
    waypoints: list[tuple[float, float]]          # (lat, lon)
    waypoint_zone: list[str]                      # zone key per waypoint
    zones: list[dict]                             # flagged zones with "polygon_lonlat"
    home: tuple[float, float]
    trigger_distance_m: float
    settings: MissionSettings = field(default_factory=MissionSettings)
    notes: list[str] = field(default_factory=list)  # what the planner changed or merged, in words
    min_spacing_m: float = 0.0  # smallest distance between consecutive waypoints (m)
    footprint_m: tuple[float, float] = (0.0, 0.0)  # one photo on the ground (across, along), m

    def summary(self) -> dict:
        return {"altitude_m": round(self.altitude_m, 2), "gsd_cm": round(self.gsd_m * 100, 3),
                "camera": self.camera, "n_waypoints": len(self.waypoints), "n_zones": len(self.zones),
                "pattern": self.settings.pattern.value, "trigger_distance_m": round(self.trigger_distance_m, 2),
                "home": list(self.home), "min_spacing_m": round(self.min_spacing_m, 2),
                "footprint_m": [round(v, 2) for v in self.footprint_m],
                "gnss_accuracy_m": self.settings.gnss_accuracy_m, "notes": list(self.notes)}


def altitude_for(*, camera: str, gsd_m: float, settings: MissionSettings) -> tuple[float, float]:
    """(altitude m, GSD reached m) for the wanted GSD, within the allowed altitude band."""
    cam = get_camera(camera)
    alt = float(np.clip(cam.altitude_m(gsd_m=gsd_m), settings.min_altitude_m, settings.max_altitude_m))
    return alt, cam.gsd_m(altitude_m=alt)


def _metric_crs(crs, x: float, y: float):
    """A metric CRS to plan in: the raster's own if projected in metres, else the local UTM zone."""
    from rasterio.crs import CRS
    from rasterio.warp import transform as warp

    if crs.is_projected and abs(crs.linear_units_factor[1] - 1.0) < 1e-9:
        return crs
    lon, lat = warp(crs, "EPSG:4326", [x], [y])
    zone = int((lon[0] + 180) // 6) + 1
    return CRS.from_epsg((32600 if lat[0] >= 0 else 32700) + zone)


def lawnmower(bounds, *, spacing_m: float, inset_m: float) -> list[tuple[float, float]]:
    """Back-and-forth lines (east-west) over a rectangle, strictly inside it; [(x, y), ...]."""
    x0, y0, x1, y1 = bounds
    w, h = x1 - x0, y1 - y0
    inset = min(inset_m, 0.25 * w, 0.25 * h)
    n = max(1, int(math.ceil((h - 2 * inset) / max(spacing_m, 1e-6))) + 1) if h > 2 * inset else 1
    ys = [y0 + h / 2] if n == 1 else list(np.linspace(y0 + inset, y1 - inset, n))
    pts = []
    for i, yy in enumerate(ys):
        a, b = (x0 + inset, x1 - inset) if i % 2 == 0 else (x1 - inset, x0 + inset)
        pts += [(a, yy), (b, yy)]
    return pts


def plan_mission(zones: list[dict], *, crs, settings: MissionSettings, image_gsd_m: float | None,
                 home_latlon: tuple[float, float] | None = None) -> Mission:
    """Waypoints over the flagged zones (each with ``bounds`` in ``crs`` units); see the module doc."""
    from rasterio.warp import transform as warp

    if crs is None:
        raise MissingMetadataError("the image is not georeferenced: a mission needs map coordinates",
                                   hint="use a GeoTIFF with a CRS (e.g. the orthomosaic)")
    flagged = [z for z in zones if z.get("flags") and z.get("bounds")]
    gsd_goal = settings.target_gsd_m or (image_gsd_m / 2 if image_gsd_m else 0.01)
    alt, gsd = altitude_for(camera=settings.camera, gsd_m=gsd_goal, settings=settings)
    cam = get_camera(settings.camera)
    notes: list[str] = []
    if flagged and image_gsd_m and gsd > 1.05 * gsd_goal and gsd > 1.05 * image_gsd_m:
        raise NoUsefulMissionError(
            f"no useful re-survey: at the lowest allowed altitude ({settings.min_altitude_m:g} m) the {cam.label} "
            f"sees {gsd * 100:.2f} cm per pixel, {gsd / image_gsd_m:.1f}x coarser than the image it would re-survey "
            f"({image_gsd_m * 100:.2f} cm per pixel): the flight would show less than the image already does",
            hint="re-take this scene from closer (hand-held or a lower minimum altitude where that is safe and "
                 "allowed), or analyse a coarser image (an orthomosaic) for a mission")
    min_spacing = max(settings.min_waypoint_spacing_m, settings.gnss_accuracy_m)
    across, along = cam.footprint_m(altitude_m=alt)
    spacing = across * (1 - settings.sidelap)
    if spacing < min_spacing:  # lines closer than a GNSS fix / the acceptance radius can tell apart
        if across < min_spacing:  # even without side overlap: climb until one strip is that wide
            alt = cam.altitude_m(gsd_m=gsd) * min_spacing / across
            if alt > settings.max_altitude_m:
                raise NoUsefulMissionError(
                    f"no flyable re-survey: lines {min_spacing:g} m apart need more than the highest allowed "
                    f"altitude ({settings.max_altitude_m:g} m)", hint="lower min_waypoint_spacing_m (RTK)")
            gsd = cam.gsd_m(altitude_m=alt)
            across, along = cam.footprint_m(altitude_m=alt)
            notes.append(f"flown at {alt:.1f} m ({gsd * 100:.2f} cm per pixel) so that survey lines are at least "
                         f"{min_spacing:g} m apart")
        notes.append(f"survey lines {min_spacing:g} m apart (the minimum waypoint spacing): side overlap "
                     f"{100 * max(0.0, 1 - min_spacing / across):.0f} % instead of {100 * settings.sidelap:.0f} %")
        spacing = min_spacing
    if not flagged:
        hx, hy = home_latlon or (0.0, 0.0)
        return Mission(alt, gsd, settings.camera, [], [], [], (hx, hy), along * (1 - settings.frontlap), settings,
                       notes, min_spacing, (across, along))
    if len(flagged) == len([z for z in zones if z.get("bounds")]) and len(flagged) > 1:
        notes.append(f"every zone of the image is flagged ({len(flagged)}): check the zone rules before flying "
                     "(a uniformly bare or uncertain scene flags everything)")
    cx = float(np.mean([(z["bounds"][0] + z["bounds"][2]) / 2 for z in flagged]))
    cy = float(np.mean([(z["bounds"][1] + z["bounds"][3]) / 2 for z in flagged]))
    mcrs = _metric_crs(crs, cx, cy)
    per_zone = []
    for z in flagged:
        x0, y0, x1, y1 = z["bounds"]
        xs, ys = warp(crs, mcrs, [x0, x1, x1, x0], [y0, y0, y1, y1])
        mb = (min(xs), min(ys), max(xs), max(ys))
        margin = 2 * settings.gnss_accuracy_m  # the photo lands up to the GNSS error off the waypoint
        one_shot = (mb[2] - mb[0]) + margin <= across and (mb[3] - mb[1]) + margin <= along
        if settings.pattern is Pattern.CENTROID or one_shot:
            pts = [((mb[0] + mb[2]) / 2, (mb[1] + mb[3]) / 2)]
        else:
            pts = _min_spaced_lines(lawnmower(mb, spacing_m=spacing,
                                              inset_m=min(across / 2, 0.1 * (mb[2] - mb[0]))), min_spacing)
        lon, lat = warp(crs, "EPSG:4326", [x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])
        per_zone.append((z, pts, [[a, b] for a, b in zip(lon, lat)]))
        total = sum(len(p[1]) for p in per_zone)
        if total > MAX_WAYPOINTS:  # checked while building: the output stays bounded whatever the image says
            raise NoUsefulMissionError(
                f"no flyable re-survey: {len(flagged)} flagged zones need more than {MAX_WAYPOINTS} waypoints at "
                f"{alt:.0f} m ({gsd * 100:.1f} cm GSD, lines {spacing:.1f} m apart)",
                hint="raise --target-gsd-cm, use larger zones (--zone-m), the centroid pattern, or plan a smaller area")
    if home_latlon is None:
        hx, hy = warp(mcrs, "EPSG:4326", [per_zone[0][1][0][0]], [per_zone[0][1][0][1]])
        home_latlon = (hy[0], hx[0])
    hxm, hym = warp("EPSG:4326", mcrs, [home_latlon[1]], [home_latlon[0]])
    order, pos, left = [], (hxm[0], hym[0]), list(range(len(per_zone)))
    while left:  # nearest zone first
        j = min(left, key=lambda i: math.dist(pos, per_zone[i][1][0]))
        order.append(j)
        left.remove(j)
        pos = per_zone[j][1][-1]
    waypoints, wzone, zinfo, merged, last = [], [], [], 0, None
    for j in order:
        z, pts, poly = per_zone[j]
        key = f"{z.get('source', '')}#{z['id']}"
        kept = []
        for p in pts:  # a waypoint closer than the minimum spacing to the one before: that one covers it
            if last is not None and math.dist(p, last) < min_spacing:
                merged += 1
                continue
            kept.append(p)
            last = p
        if kept:
            lon, lat = warp(mcrs, "EPSG:4326", [p[0] for p in kept], [p[1] for p in kept])
            waypoints += list(zip(lat, lon))
            wzone += [key] * len(kept)
        zinfo.append({**{k: v for k, v in z.items() if k != "pixel_bounds"}, "key": key, "polygon_lonlat": poly})
    if merged:
        notes.append(f"{merged} waypoint(s) less than {min_spacing:g} m from the previous one merged into it")
    return Mission(alt, gsd, settings.camera, [(float(a), float(b)) for a, b in waypoints], wzone, zinfo,
                   (float(home_latlon[0]), float(home_latlon[1])), along * (1 - settings.frontlap), settings,
                   notes, min_spacing, (across, along))


def _min_spaced_lines(pts: list[tuple[float, float]], min_spacing: float) -> list[tuple[float, float]]:
    """Lawnmower line ends; a line shorter than ``min_spacing`` becomes one waypoint at its middle."""
    out = []
    for a, b in zip(pts[::2], pts[1::2]):
        if math.dist(a, b) < min_spacing:
            out.append(((a[0] + b[0]) / 2, (a[1] + b[1]) / 2))
        else:
            out += [a, b]
    return out


def _item(seq: int, command: int, params: list, *, frame: int = MAV_FRAME_GLOBAL_RELATIVE_ALT, alt=None) -> dict:
    item = {"autoContinue": True, "command": command, "doJumpId": seq, "frame": frame, "params": params,
            "type": "SimpleItem"}
    if alt is not None:
        item.update({"AMSLAltAboveTerrain": None, "Altitude": alt, "AltitudeMode": 1})
    return item


def qgc_plan(mission: Mission) -> dict:
    """The mission as a QGroundControl ``.plan`` document (a JSON-serialisable dict)."""
    s, alt = mission.settings, round(mission.altitude_m, 2)
    lat0, lon0 = mission.home
    items, seq = [], 1
    items.append(_item(seq, MAV_CMD_NAV_TAKEOFF, [0, 0, 0, None, lat0, lon0, alt], alt=alt))
    seq += 1
    if mission.waypoints:
        items.append(_item(seq, MAV_CMD_DO_SET_CAM_TRIGG_DIST, [round(mission.trigger_distance_m, 2), 0, 1, 0, 0, 0, 0],
                           frame=MAV_FRAME_MISSION))
        seq += 1
    for lat, lon in mission.waypoints:
        items.append(_item(seq, MAV_CMD_NAV_WAYPOINT, [0, 0, 0, None, lat, lon, alt], alt=alt))
        seq += 1
    if mission.waypoints:
        items.append(_item(seq, MAV_CMD_DO_SET_CAM_TRIGG_DIST, [0, 0, 0, 0, 0, 0, 0], frame=MAV_FRAME_MISSION))
        seq += 1
    items.append(_item(seq, MAV_CMD_NAV_RTL, [0, 0, 0, 0, 0, 0, 0], frame=MAV_FRAME_MISSION))
    return {
        "fileType": "Plan", "version": 1, "groundStation": "QGroundControl",
        "mission": {"version": 2, "firmwareType": FIRMWARE[s.firmware], "vehicleType": VEHICLE_MULTIROTOR,
                    "cruiseSpeed": s.cruise_speed_ms, "hoverSpeed": s.hover_speed_ms, "globalPlanAltitudeMode": 1,
                    "plannedHomePosition": [lat0, lon0, 0], "items": items},
        "geoFence": {"version": 2, "circles": [], "polygons": []},
        "rallyPoints": {"version": 2, "points": []},
    }


def mission_geojson(mission: Mission) -> dict:
    """Flagged zones (polygons), the flight line and the waypoints as a GeoJSON FeatureCollection (WGS 84)."""
    feats = []
    for z in mission.zones:
        props = {k: z.get(k) for k in ("key", "id", "row", "col", "flags", "fvc_mean", "fvc_patchiness",
                                       "confidence_std", "valid_fraction")}
        feats.append({"type": "Feature", "properties": {"kind": "zone", **props},
                      "geometry": {"type": "Polygon", "coordinates": [z["polygon_lonlat"]]}})
    if mission.waypoints:
        line = [[lon, lat] for lat, lon in mission.waypoints]
        feats.append({"type": "Feature", "properties": {"kind": "flight_line", **mission.summary()},
                      "geometry": {"type": "LineString", "coordinates": line if len(line) > 1 else line * 2}})
    for i, ((lat, lon), key) in enumerate(zip(mission.waypoints, mission.waypoint_zone)):
        feats.append({"type": "Feature", "properties": {"kind": "waypoint", "seq": i + 1, "zone": key,
                                                        "altitude_m": round(mission.altitude_m, 2)},
                      "geometry": {"type": "Point", "coordinates": [lon, lat]}})
    return {"type": "FeatureCollection", "features": feats}


def mission_map_data(mission, *, crs, extent=None, zones: list[dict]) -> dict:
    """What the offline map view draws, all in the image's CRS: ``{"extent", "zones", "path", "crs"}``.

    ``mission``: a :class:`Mission`, its GeoJSON (:func:`mission_geojson`, as stored with a result) or
    None; ``zones``: the result's zones (``bounds`` in the CRS, ``flags``); ``extent``: the image's
    bounds (default: the zones' union). The path is the waypoints transformed back from WGS 84.
    Feed it to ``common.web.mapplot.map_svg``.
    """
    from rasterio.crs import CRS
    from rasterio.warp import transform as warp

    if isinstance(crs, str):
        crs = CRS.from_user_input(crs)
    if isinstance(mission, dict):  # the stored GeoJSON
        pts = [f["geometry"]["coordinates"] for f in mission.get("features", [])
               if f.get("properties", {}).get("kind") == "waypoint"]
        waypoints = [(lat, lon) for lon, lat in pts]
    else:
        waypoints = list(mission.waypoints) if mission is not None else []
    if extent is None:
        b = [z["bounds"] for z in zones if z.get("bounds")]
        extent = (min(v[0] for v in b), min(v[1] for v in b), max(v[2] for v in b), max(v[3] for v in b)) if b else (0, 0, 1, 1)
    path = []
    if waypoints and crs is not None:
        lat, lon = zip(*waypoints)
        xs, ys = warp("EPSG:4326", crs, list(lon), list(lat))
        path = [(float(x), float(y)) for x, y in zip(xs, ys)]
    shown = [{"bounds": z["bounds"], "flagged": bool(z.get("flags")),
              "label": f"zone {z['id']}" + (f": {', '.join(z['flags'])}" if z.get("flags") else "")}
             for z in zones if z.get("bounds")]
    label = crs.to_string() if hasattr(crs, "to_string") else str(crs or "")
    geographic = bool(getattr(crs, "is_geographic", False))
    return {"extent": [float(v) for v in extent], "zones": shown, "path": path, "crs": label,
            "units": "°" if geographic else "m"}
