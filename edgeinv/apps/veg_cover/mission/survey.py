"""From images to a re-survey mission on disk, once or while frames arrive in a folder (watch mode).

``plan_from_results`` merges the flagged zones of several analysed images into one mission;
``write_mission`` writes the QGroundControl ``.plan`` and the GeoJSON atomically (write a temporary
file, then rename) so a ground station polling the file never reads half of it. ``watch`` polls a
folder: a file is processed once its size and modification time stopped changing between two polls
(a frame still being copied is left for the next round); ``once`` processes what is there and
returns, ``max_files`` stops after that many frames.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

from edgeinv.common.errors import EdgeinvError, MissingMetadataError

from .plan import Mission, MissionSettings, mission_geojson, plan_mission, qgc_plan

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
OUTPUT_MARKERS = ("_cover.tif", "_cover.png", "_truth.tif")


def plan_from_results(results: list, *, settings: MissionSettings, home_latlon=None) -> Mission:
    """One mission over the flagged zones of several georeferenced results (same CRS as the first)."""
    from rasterio.warp import transform_bounds

    geo = [r for r in results if r.georeferenced]
    if not geo:
        raise MissingMetadataError("none of the images is georeferenced: a mission needs map coordinates",
                                   hint="use GeoTIFFs with a CRS (frames carry no map coordinates)")
    crs = geo[0].crs_obj
    zones = []
    for r in geo:
        for z in r.zones:
            if not z["flags"]:
                continue
            b = z["bounds"]
            if r.crs_obj != crs:
                b = list(transform_bounds(r.crs_obj, crs, *b))
            zones.append({**z, "bounds": b, "source": r.source})
    gsds = [r.gsd_m for r in geo if r.gsd_m]
    return plan_mission(zones, crs=crs, settings=settings, image_gsd_m=min(gsds) if gsds else None,
                        home_latlon=home_latlon)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_mission(mission: Mission, *, plan_path: str | Path, geojson_path: str | Path | None = None) -> dict:
    """Write the ``.plan`` (and GeoJSON) files; returns their paths."""
    plan_path = Path(plan_path)
    _atomic_write(plan_path, json.dumps(qgc_plan(mission), indent=2, allow_nan=False))
    out = {"plan": str(plan_path)}
    if geojson_path:
        _atomic_write(Path(geojson_path), json.dumps(mission_geojson(mission), indent=1, allow_nan=False))
        out["geojson"] = str(geojson_path)
    return out


def _candidates(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
             and not p.name.startswith(".") and not any(p.name.endswith(m) for m in OUTPUT_MARKERS)]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def watch(folder: str | Path, analyse: Callable[[Path], object], *, settings: MissionSettings,
          plan_path: str | Path, geojson_path: str | Path | None = None, poll_s: float = 2.0, once: bool = False,
          max_files: int | None = None, timeout_s: float | None = None, home_latlon=None,
          log: Callable[[str], None] = lambda msg: None) -> dict:
    """Process image files as they appear in ``folder`` and keep the mission files up to date.

    ``analyse(path) -> VegCoverResult``. Returns a report: processed and skipped files (with the
    reason), and the last mission summary.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingMetadataError(f"--watch {folder}: not a folder")
    seen: dict[Path, tuple] = {}
    done: set[Path] = set()
    results, processed, skipped = [], [], {}
    mission = None
    t0 = time.monotonic()
    while True:
        for p in _candidates(folder):
            if p in done:
                continue
            st = p.stat()
            sig = (st.st_size, st.st_mtime_ns)
            if not once and seen.get(p) != sig:  # new or still growing: look again next poll
                seen[p] = sig
                continue
            done.add(p)
            try:
                res = analyse(p)
            except EdgeinvError as exc:
                skipped[p.name] = str(exc)
                log(f"skipped {p.name}: {exc}")
                continue
            if not res.georeferenced:
                skipped[p.name] = "not georeferenced: no map coordinates for waypoints"
                log(f"skipped {p.name}: not georeferenced")
                continue
            results.append(res)
            processed.append(p.name)
            mission = plan_from_results(results, settings=settings, home_latlon=home_latlon)
            write_mission(mission, plan_path=plan_path, geojson_path=geojson_path)
            log(f"{p.name}: cover {res.fvc_mean:.3f}, {len(res.flagged)} flagged zone(s); mission now "
                f"{len(mission.waypoints)} waypoints")
            if max_files is not None and len(processed) + len(skipped) >= max_files:
                break
        if once or (max_files is not None and len(processed) + len(skipped) >= max_files):
            break
        if timeout_s is not None and time.monotonic() - t0 > timeout_s:
            break
        time.sleep(poll_s)
    return {"folder": str(folder), "processed": processed, "skipped": skipped,
            "mission": mission.summary() if mission else None,
            "files": {"plan": str(plan_path), **({"geojson": str(geojson_path)} if geojson_path else {})}
            if mission else {}}
