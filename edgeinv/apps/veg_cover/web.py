"""veg-cover's hooks for the core entity flow (:mod:`edgeinv.common.web.entities`): flights.

A flight holds the camera (or "from the image's bands"), zone size, low-cover threshold, band order
and the re-survey settings. Each uploaded image stores its cover overlay, the cover GeoTIFF and — for
georeferenced images with flagged zones — the re-survey mission (QGroundControl ``.plan``, GeoJSON).
"""

from __future__ import annotations

import dataclasses
import json

from edgeinv.common.errors import EdgeinvError, NotFoundError
from edgeinv.common.options import OptionSpec
from edgeinv.common.web.entities import Column, EntityFlow, Stored
from edgeinv.common.web.labels import human
from edgeinv.common.web.mapplot import colour_scale_svg, map_svg
from edgeinv.common.web.plot import line_plot_svg

from .cameras import CAMERAS
from .interpret import ZoneRules
from .mission.plan import mission_map_data
from .outputs import _RAMP_RGB, _RAMP_STOPS
from .preview import preview_png
from .service import stored_outputs

EXTRA = (OptionSpec(name="survey_camera", kind="choice", default=None, choices=tuple(CAMERAS),
                    labels=tuple(c.label for c in CAMERAS.values()), label="Re-survey camera",
                    help="the image's camera"),
         OptionSpec(name="target_gsd_cm", kind="number", default=None, low=0.05, high=100.0, unit="cm",
                    label="Re-survey ground sampling distance (cm)", help="half of the image's"))


INTRO = ("Upload drone images of a field: the cover map, the zones worth a second look and a re-survey mission "
         "for QGroundControl, computed on this device.")
UPLOAD_HELP = ("A GeoTIFF orthomosaic or frame (band names in the file, or give them below), or a JPEG/PNG frame. "
               "Georeferenced images also get a re-survey mission.")


class FlightFlow(EntityFlow):
    kind, plural, upload_noun, accept = "flight", "flights", "image", ".tif,.tiff,.png,.jpg,.jpeg,image/tiff,image/png,image/jpeg"
    intro, upload_help = INTRO, UPLOAD_HELP
    columns = (Column("fvc_mean", "Mean cover", digits=3), Column("n_flagged", "Zones flagged"),
               Column("n_zones", "Zones"), Column("config", "Camera model"), Column("pixels", "Valid pixels"),
               Column("georeferenced", "Georeferenced"))
    trend_key = "fvc_mean"
    trend_label = "mean vegetation cover (0-1)"
    files = {"overlay.png": "Cover overlay (PNG)", "image.png": "The image as uploaded, for viewing (PNG)",
             "cover.tif": "Cover map (GeoTIFF: uint8, value × 0.004 = cover, 255 = no data)",
             "mission.plan": "Re-survey mission (QGroundControl .plan)",
             "mission.geojson": "Zones and waypoints (GeoJSON)"}
    result_template = "veg_cover/result.html"

    def settings(self) -> list[OptionSpec]:
        by_name = {s.name: s for s in super().settings()}
        cam = by_name["camera"]
        # the default threshold is a number the page shows (it said "flag below" with nothing after it)
        low = dataclasses.replace(by_name["low_cover"], default=ZoneRules().low_cover)
        return [dataclasses.replace(cam, labels=tuple(c.label for c in CAMERAS.values()), default=None),
                by_name["zone_m"], low, *EXTRA, by_name["bands"]]

    def upload_fields(self, entity: dict) -> list[OptionSpec]:
        bands = next(s for s in self.app.options_type.specs() if s.name == "bands")
        return [bands]

    def analyse(self, entity: dict, data, *, filename: str, params: dict, runner_for, source: str = "form") -> Stored:
        # the overlay and the stored cover GeoTIFF are made from the whole map: keep it (refused past 6 MP)
        return super().analyse(entity, data, filename=filename, params={**params, "keep_maps": True},
                               runner_for=runner_for, source=source)

    def store_analysis(self, entity: dict, analysis, *, data, params: dict) -> Stored:
        extra, blobs = stored_outputs(analysis.results[0], entity.get("data") or {})
        preview = None
        if analysis.samples:
            sample = analysis.samples[0]
            if not hasattr(sample, "bands") and isinstance(data, (bytes, bytearray)):  # a streamed GeoTIFF, closed
                try:  # by now: read the uploaded bytes again for the picture under the cover map
                    sample = self.app.read(bytes(data), filename=analysis.filename,
                                           bands=",".join(sample.band_names) if len(sample.band_names) else None)
                except EdgeinvError:
                    sample = None
            preview = preview_png(sample) if sample is not None else None
        if preview:
            blobs["image.png"] = ("image/png", preview[0])
            extra["image_preview"] = preview[1]
        return Stored(summary={**analysis.to_dict(), **extra}, blobs=blobs)

    def trend_svg(self, entity: dict, rows: list[dict], trend):
        """Mean cover over time, one line per camera model: images of different cameras are not joined."""
        pts = [r for r in rows if r.get("fvc_mean") is not None]
        if not pts:
            return None
        series = []
        for cam in sorted({str(r.get("config")) for r in pts}):
            sel = [r for r in pts if str(r.get("config")) == cam]
            series.append({"x": [r["measured_at"] for r in sel], "y": [r["fvc_mean"] for r in sel],
                           "label": human(cam), "points": True})
        return line_plot_svg(series, xlabel="date measured (UTC)", ylabel=self.trend_label, xdates=True, nonneg=True,
                             title="Mean vegetation cover over time (one line per camera)", height=260)

    def result_context(self, result: dict, store) -> dict:
        s = result["summary"]
        out = {"scale_svg": colour_scale_svg(_RAMP_STOPS.tolist(), _RAMP_RGB.tolist(), label="vegetation cover",
                                             ticks=[0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]),
               "map_svg": None}
        if s.get("georeferenced") and s.get("crs") and s.get("zones"):
            try:
                geo = json.loads(store.get_blob(result["id"], "mission.geojson")[1])
            except NotFoundError:
                geo = None
            d = mission_map_data(geo, crs=s["crs"], zones=s["zones"])
            out["map_svg"] = map_svg(extent=d["extent"], zones=d["zones"], path=d["path"], crs_label=d["crs"],
                                     units=d["units"], title="Map in the image's coordinates (no tiles, offline)")
        return out

