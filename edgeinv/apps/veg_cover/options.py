"""veg-cover's predict options: band order, camera, radiometric scale, GSD, path, zones and flags.

See :mod:`edgeinv.common.options`. They reach the reader (which keeps them in ``sample.options`` for
``predict``); nothing here writes files — output files are the explicit ``write_outputs`` step.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathlib import Path

from edgeinv.common.errors import PayloadTooLargeError
from edgeinv.common.options import PredictOptions, option

from .cameras import CAMERAS
from .interpret import ZoneRules


def cover_path(out) -> Path:
    """``predict --out``: a ``.tif`` path as given, else ``cover.tif`` in that folder (created)."""
    out = Path(out)
    if out.suffix.lower() in (".tif", ".tiff"):
        out.parent.mkdir(parents=True, exist_ok=True)
        return out
    out.mkdir(parents=True, exist_ok=True)
    return out / "cover.tif"


@dataclass(frozen=True)
class VegOptions(PredictOptions):
    bands: str | None = option(kind="text", reader=True, label="Band order",
                               help="band order of the file, e.g. red,nir or blue,green,red,rededge,nir")
    camera: str | None = option(kind="choice", choices=tuple(CAMERAS), label="Camera",
                                help="model to use (default: from the bands)")
    zone_m: float | None = option(low=0.1, high=1000.0, unit="m", label="Zone size (m)",
                                  help="zone size in metres (georeferenced images)")
    zone_px: int | None = option(kind="int", low=4, high=100000, unit="px", setting=False, label="Zone size (px)",
                                 help="zone size in pixels")
    low_cover: float | None = option(ZoneRules().low_cover, low=0.0, high=1.0, label="Flag zones with mean cover below",
                                     help="flag zones below this cover")
    reflectance_scale: float | None = option(low=0.0, low_exclusive=True, high=1e9, reader=True, setting=False,
                                             label="Reflectance scale",
                                             help="stored value that means reflectance 1.0 (default: by data type)")
    gsd_cm: float | None = option(low=0.0, low_exclusive=True, high=10000.0, unit="cm", reader=True, setting=False,
                                  label="GSD (cm)", help="ground sampling distance (default: from the GeoTIFF)")
    path: str | None = option(kind="choice", choices=("auto", "segment", "unmix"), setting=False, label="Path",
                              help="segment (pure pixels) or unmix (mixed pixels); default auto by GSD")
    tile_px: int | None = option(kind="int", low=32, high=4096, unit="px", setting=False, label="Tile size",
                                 help="model tile size in pixels")
    io_threads: int | None = option(kind="int", low=0, high=2, setting=False, label="I/O threads",
                                    help="background threads reading ahead and writing while the model runs "
                                         "(0 none, 1 one for both, 2 one each; default 1 above 8 MP on two or more cores)")
    max_pixels: int | None = option(kind="int", low=1, setting=False, reader=True, label="Max frame pixels",
                                    help="largest JPEG/PNG frame decoded in memory")
    keep_maps: bool | None = option(kind="bool", setting=False, label="Keep maps",
                                    help="keep the whole cover map in memory (web overlay, --out); up to 6 MP")

    def apply(self, sample):
        from .app import MEMORY_PIXELS

        if not (self.keep_maps or self._outputs):
            return sample
        if sample.height * sample.width <= MEMORY_PIXELS:
            sample.options["keep_maps"] = True  # the output files are written from the maps afterwards
        elif self._outputs:  # predict --out on a large image: the cover GeoTIFF is streamed, window by window
            sample.options["out"] = str(cover_path(self._outputs))
        else:
            raise PayloadTooLargeError(f"{sample.source}: {sample.width} x {sample.height} px is more than a cover "
                                       f"map kept in memory ({MEMORY_PIXELS / 1e6:g} MP)",
                                       hint="run `edgeinv veg-cover predict` (with --out for the cover GeoTIFF): it "
                                            "streams the image window by window")
        return sample

    def provenance(self, sample=None) -> dict:
        out = super().provenance(sample)
        out.pop("keep_maps", None)  # how much is kept in memory, not an operating parameter
        out.pop("io_threads", None)  # which thread does the I/O: the same result with any value
        return out

    def observed(self, sample) -> dict:
        gsd = getattr(sample, "gsd_m", None)
        return {"bands": ",".join(getattr(sample, "band_names", ()) or ()) or None,
                "gsd_cm": None if gsd is None else round(float(gsd) * 100, 4)}
