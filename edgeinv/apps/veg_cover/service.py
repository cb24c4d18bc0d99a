"""veg-cover's output files: the cover GeoTIFF and overlay of a result, and a flight's stored files and mission.

Separate from ``predict`` (which writes nothing): :func:`write_outputs` is the explicit step behind
``edgeinv veg-cover predict --out DIR``; :func:`stored_outputs` is what an upload, an MQTT message or a
batch stores for a flight (overlay, cover GeoTIFF and, for georeferenced images with flagged zones, the
re-survey mission as a QGroundControl plan and GeoJSON).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from edgeinv.common.errors import InvalidInputError

from .mission.plan import MissionSettings, NoUsefulMissionError, Pattern, mission_geojson, qgc_plan
from .mission.survey import plan_from_results
from .outputs import overlay_png, write_cover_geotiff

MIME = {"overlay.png": "image/png", "cover.tif": "image/tiff", "mission.plan": "application/json",
        "mission.geojson": "application/geo+json"}


def _maps(result):
    if getattr(result, "cover", None) is None:
        raise InvalidInputError("the cover map of this image was not kept in memory (more than the in-memory "
                                "limit); no cover GeoTIFF or overlay can be written from it")
    return result.cover


def write_outputs(result, out: Path) -> dict[str, str]:
    """The cover GeoTIFF (cover and sd, georeferenced when the image is) and its overlay PNG.

    ``out``: a ``.tif`` path (the overlay goes beside it, same stem, ``.png``) or a folder (``cover.tif``
    and ``overlay.png`` in it). An image too large to keep its map in memory had them streamed there by
    ``predict`` (``VegOptions.apply``). Returns ``{"cover_geotiff": path, "overlay_png": path}``.
    """
    from .options import cover_path

    streamed = getattr(result, "outputs", None) or {}
    if streamed.get("cover_geotiff"):  # a large image: predict streamed them there already (options._outputs)
        return {k: streamed[k] for k in ("cover_geotiff", "overlay_png") if k in streamed}
    tif_path = cover_path(out)
    png = tif_path.with_suffix(".png") if tif_path.name != "cover.tif" else tif_path.with_name("overlay.png")
    cover = _maps(result)
    tif = write_cover_geotiff(tif_path, cover=cover, std=result.std,
                              transform=result.transform if result.georeferenced else None,
                              crs=result.crs_obj if result.georeferenced else None)
    png.write_bytes(overlay_png(cover, zones=result.zones))
    return {"cover_geotiff": str(tif), "overlay_png": str(png)}


def stored_outputs(result, flight: dict) -> tuple[dict, dict]:
    """``(summary additions, blobs)`` of one analysed image for a flight with settings ``flight``."""
    blobs = {"overlay.png": (MIME["overlay.png"], overlay_png(_maps(result), zones=result.zones))}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_cover_geotiff(Path(tmp) / "cover.tif", cover=result.cover, std=result.std,
                                   transform=result.transform if result.georeferenced else None,
                                   crs=result.crs_obj if result.georeferenced else None)
        blobs["cover.tif"] = (MIME["cover.tif"], path.read_bytes())
    extra = {"mission": None}
    if result.georeferenced and result.flagged:
        gsd = flight.get("target_gsd_cm")
        settings = MissionSettings(camera=flight.get("survey_camera") or result.config,
                                   target_gsd_m=float(gsd) / 100 if gsd else None, pattern=Pattern.LAWNMOWER)
        try:
            mission = plan_from_results([result], settings=settings)
        except NoUsefulMissionError as exc:  # the cover analysis stands; the page says why there is no mission
            extra["mission_note"] = str(exc)
        else:
            blobs["mission.plan"] = (MIME["mission.plan"], json.dumps(qgc_plan(mission), indent=2).encode())
            blobs["mission.geojson"] = (MIME["mission.geojson"], json.dumps(mission_geojson(mission)).encode())
            extra["mission"] = mission.summary()
    elif not result.georeferenced:
        extra["mission_note"] = "no mission: the image carries no map coordinates (upload a GeoTIFF)"
    else:
        extra["mission_note"] = "no mission needed: no zone is flagged"
    return extra, blobs
