"""One uploaded image -> cover map, overlay, mission files and a summary to store (what the web UI runs).

Kept apart from the Flask views so the views stay thin: parse the request, call
:func:`analyse_upload`, store, render.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from edgeinv.common.errors import PayloadTooLargeError

from .outputs import overlay_png, write_cover_geotiff
from .mission.plan import MissionSettings, NoUsefulMissionError, Pattern, mission_geojson, qgc_plan
from .mission.survey import plan_from_results

MIME = {"overlay.png": "image/png", "cover.tif": "image/tiff", "mission.plan": "application/json",
        "mission.geojson": "application/geo+json"}


def analyse_upload(app, data: bytes, filename: str, runner_for, *, flight: dict, bands: str | None = None) -> tuple[dict, dict]:
    """Run the edge path on uploaded bytes; return ``(summary, blobs)`` for the result store.

    ``runner_for(config)`` gives the model runner; ``flight`` holds the flight's settings
    (``camera``, ``zone_m``, ``low_cover``, ``target_gsd_cm``, ``survey_camera``).
    """
    opts = {k: flight.get(k) for k in ("camera", "zone_m", "low_cover") if flight.get(k) not in (None, "")}
    from .app import MEMORY_PIXELS

    sample = app.read(data, filename=filename, bands=bands or flight.get("bands") or None, **opts)
    try:
        if sample.height * sample.width > MEMORY_PIXELS:  # the overlay and stored cover map need it in memory
            raise PayloadTooLargeError(f"{filename}: {sample.width} x {sample.height} px is more than the web UI "
                                       f"analyses ({MEMORY_PIXELS / 1e6:g} MP)",
                                       hint="run `edgeinv veg-cover predict`, which streams it window by window")
        config = app.config_for(sample)
        sample.options["keep_maps"] = True  # the overlay and the stored cover GeoTIFF are made from them
        result = app.predict(sample, runner_for(config))
    finally:
        if hasattr(sample, "close"):
            sample.close()
    blobs = {"overlay.png": (MIME["overlay.png"], overlay_png(result.cover, zones=result.zones))}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_cover_geotiff(Path(tmp) / "cover.tif", cover=result.cover, std=result.std,
                                   transform=result.transform if result.georeferenced else None,
                                   crs=result.crs_obj if result.georeferenced else None)
        blobs["cover.tif"] = (MIME["cover.tif"], path.read_bytes())
    summary = result.to_dict()
    summary["filename"] = filename
    summary["mission"] = None
    if result.georeferenced and result.flagged:
        gsd = flight.get("target_gsd_cm")
        settings = MissionSettings(camera=flight.get("survey_camera") or config,
                                   target_gsd_m=float(gsd) / 100 if gsd else None, pattern=Pattern.LAWNMOWER)
        try:
            mission = plan_from_results([result], settings=settings)
        except NoUsefulMissionError as exc:  # the cover analysis stands; the page says why there is no mission
            summary["mission_note"] = str(exc)
        else:
            blobs["mission.plan"] = (MIME["mission.plan"], json.dumps(qgc_plan(mission), indent=2).encode())
            blobs["mission.geojson"] = (MIME["mission.geojson"], json.dumps(mission_geojson(mission)).encode())
            summary["mission"] = mission.summary()
    elif not result.georeferenced:
        summary["mission_note"] = "no mission: the image carries no map coordinates (upload a GeoTIFF)"
    else:
        summary["mission_note"] = "no mission needed: no zone is flagged"
    return summary, blobs
