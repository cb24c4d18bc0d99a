"""veg-cover's hooks for the core entity flow (:mod:`edgeinv.common.web.entities`): flights.

A flight holds the camera (or "from the image's bands"), zone size, low-cover threshold, band order
and the re-survey settings. Each uploaded image stores its cover overlay, the cover GeoTIFF and — for
georeferenced images with flagged zones — the re-survey mission (QGroundControl ``.plan``, GeoJSON).
"""

from __future__ import annotations

from edgeinv.common.options import OptionSpec
from edgeinv.common.web.entities import Column, EntityFlow, Stored

from .cameras import CAMERAS
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
    files = {"overlay.png": "Cover overlay (PNG)", "cover.tif": "Cover map (GeoTIFF, float32)",
             "mission.plan": "Re-survey mission (QGroundControl .plan)",
             "mission.geojson": "Zones and waypoints (GeoJSON)"}
    result_template = "veg_cover/result.html"

    def settings(self) -> list[OptionSpec]:
        by_name = {s.name: s for s in super().settings()}
        cam = by_name["camera"]
        import dataclasses

        return [dataclasses.replace(cam, labels=tuple(c.label for c in CAMERAS.values()), default=None),
                by_name["zone_m"], by_name["low_cover"], *EXTRA, by_name["bands"]]

    def upload_fields(self, entity: dict) -> list[OptionSpec]:
        bands = next(s for s in self.app.options_type.specs() if s.name == "bands")
        return [bands]

    def analyse(self, entity: dict, data, *, filename: str, params: dict, runner_for, source: str = "form") -> Stored:
        # the overlay and the stored cover GeoTIFF are made from the whole map: keep it (refused past 6 MP)
        return super().analyse(entity, data, filename=filename, params={**params, "keep_maps": True},
                               runner_for=runner_for, source=source)

    def store_analysis(self, entity: dict, analysis, *, data, params: dict) -> Stored:
        extra, blobs = stored_outputs(analysis.results[0], entity.get("data") or {})
        return Stored(summary={**analysis.to_dict(), **extra}, blobs=blobs)

