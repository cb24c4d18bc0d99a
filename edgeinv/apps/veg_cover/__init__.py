"""veg-cover: UAV imagery -> per-pixel fractional vegetation cover, zone flags and a re-survey flight plan.

The app object the core drives (``APP``). Edge side only at import time: numpy, scipy, rasterio,
OpenCV. PROSAIL (numba) is imported by the simulator when it first runs, torch by ``build_model``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeinv.common.app import App, ModelSize, Target, TrainRecipe, Budget
from edgeinv.common.errors import ConfigError, InvalidInputError

from . import features, interpret, tiling
from .cameras import CAMERAS, CONFIGS, config_for_roles
from .io import read_image

MEMORY_PIXELS = 40_000_000  # cover maps up to this size are also kept in memory (web, overlay)
GDAL_CACHE_MB = 64          # GDAL's block cache defaults to 5 % of RAM: cap it so memory follows the tile size
ZONE_PX_EVAL = 16           # zone side for the held-out per-zone error of the 32 px training scenes


class VegCoverApp(App):
    name = "veg-cover"
    title = "Vegetation cover from UAV imagery"
    description = ("Per-pixel fractional vegetation cover from multispectral, red+NIR or RGB drone images, "
                   "zones flagged for low cover, patchiness or low confidence, and a re-survey mission.")
    targets = (Target("cover_fraction", unit="fraction", low=0.0, high=1.0, per_pixel=True, uncertainty=True),)
    configs = CONFIGS
    preprocessing_version = "1"
    example_suffix = ".tif"
    latency_tile_px = tiling.TILE_PX + 2 * tiling.MARGIN_PX  # what tiling.process feeds the model

    # ---- physics and data ---------------------------------------------------------------
    def input_shape(self, config: str) -> tuple[int, ...]:
        from .simulate import TILE_PX

        return (features.n_channels(self.check_config(config)), TILE_PX, TILE_PX)

    def simulate(self, n: int, *, rng: np.random.Generator, config: str = "multispectral5"):
        from .simulate import simulate_dataset

        return simulate_dataset(self, n, rng=rng, config=self.check_config(config))

    def write_example(self, path, rng: np.random.Generator, **params) -> dict:
        from .simulate import write_example

        return write_example(path, rng, **params)

    def simulate_arguments(self, parser) -> None:
        from .simulate import simulate_arguments

        simulate_arguments(parser)

    def read(self, source, *, filename: str | None = None, **meta):
        """A GeoTIFF (streamed window by window) or a JPEG/PNG frame; ``meta`` holds the CLI/API options."""
        options = {k: v for k, v in meta.items() if v is not None}
        if options.get("camera") is not None and options["camera"] not in CAMERAS:
            raise ConfigError(f"camera must be one of {', '.join(CAMERAS)}; got {options['camera']!r}")
        sample = read_image(source, filename=filename, bands=options.get("bands"),
                            reflectance_scale=options.get("reflectance_scale"),
                            max_pixels=options.get("max_pixels"), options=options)
        sample.camera = options.get("camera")
        return sample

    def config_for(self, sample) -> str:
        cam = getattr(sample, "camera", None)
        if cam in CAMERAS:
            if set(CAMERAS[cam].bands) <= set(sample.band_names):
                return cam
            raise InvalidInputError(f"--camera {cam} needs bands {', '.join(CAMERAS[cam].bands)}; "
                                    f"the image has {', '.join(sample.band_names)}")
        config = config_for_roles(sample.band_names)
        if config is None:
            raise InvalidInputError(f"no model for bands {', '.join(sample.band_names)}")
        return config

    # ---- edge side ----------------------------------------------------------------------
    def preprocess(self, sample, *, config: str = "multispectral5") -> np.ndarray:
        img = sample.load()
        return features.channels(img.bands, img.band_names, self.check_config(config))

    def _rules(self, options: dict) -> interpret.ZoneRules:
        keys = ("low_cover", "high_patchiness", "low_confidence_std")
        return interpret.ZoneRules(**{k: float(options[k]) for k in keys if options.get(k) is not None})

    def _zones(self, sample):
        opts = getattr(sample, "options", {}) or {}
        geo = bool(sample.georeferenced)
        zone_px, _ = interpret.zone_px_for(georeferenced=geo, gsd_m=sample.gsd_m, zone_m=opts.get("zone_m"),
                                           zone_px=opts.get("zone_px"), height=sample.height, width=sample.width)
        min_sub = int(round(interpret.MIN_SUBCELL_M / sample.gsd_m)) if (geo and sample.gsd_m) else 1
        return interpret.ZoneGrid(height=sample.height, width=sample.width, zone_px=zone_px, min_sub_px=min_sub), geo

    def _summarise(self, grid, geo, sample, method, config):
        return interpret.summarise(grid=grid, rules=self._rules(sample.options), source=sample.source, method=method,
                                   config=config, georeferenced=geo, crs=sample.crs, transform=sample.transform,
                                   gsd_m=sample.gsd_m)

    def interpret(self, outputs: dict[str, np.ndarray], sample):
        """In-memory cover map (and std) of one image -> zones, flags and summary."""
        img = sample.load()
        cover = np.clip(np.asarray(outputs["cover_fraction"], np.float32), 0.0, 1.0)
        std = outputs.get("cover_fraction_std")
        valid = np.isfinite(cover) & (True if img.valid is None else img.valid)
        grid, geo = self._zones(img)
        grid.add(row=0, col=0, cover=np.nan_to_num(cover), std=None if std is None else np.asarray(std), valid=valid)
        method = "model" if std is not None else "baseline"
        result = self._summarise(grid, geo, img, method, getattr(img, "camera", None))
        result.cover = np.where(valid, cover, np.nan).astype(np.float32)
        result.std = None if std is None else np.where(valid, std, np.nan).astype(np.float32)
        return result

    def baseline(self, sample) -> dict[str, np.ndarray]:
        from .baseline import dimidiate_cover

        return dimidiate_cover(sample)

    def evaluate(self, outputs: dict[str, np.ndarray], dataset) -> dict:
        from .evaluation import evaluate

        return evaluate(outputs, dataset.y["cover_fraction"], dataset.samples, zone_px=ZONE_PX_EVAL)

    def predict(self, sample, runner):
        """Tiled edge path: window -> features -> ONNX -> crop -> zone statistics, cover GeoTIFF, overlay."""
        from .outputs import CoverGeoTiff, overlay_png, read_preview

        config = self.config_for(sample)
        opts = sample.options
        grid, geo = self._zones(sample)
        sinks = [grid]
        mem = None
        if sample.height * sample.width <= MEMORY_PIXELS:
            mem = tiling.MemorySink(height=sample.height, width=sample.width)
            sinks.append(mem)
        out = opts.get("out")
        writer = None
        if out and str(out).lower() != "none":
            writer = CoverGeoTiff(out, width=sample.width, height=sample.height,
                                  transform=sample.transform if geo else None, crs=sample.crs if geo else None)
            sinks.append(tiling.GeoTiffSink(writer))
        names = sample.band_names

        def infer(bands, valid):
            x = features.channels(bands, names, config)
            res = runner(x[None])
            cover = np.clip(np.asarray(res["cover_fraction"])[0], 0.0, 1.0)
            std = res.get("cover_fraction_std")
            return cover, None if std is None else np.asarray(std)[0]

        import rasterio

        # rasterio passes GDAL_CACHEMAX to GDAL in bytes (a bare 64 would mean 64 bytes: no cache at all)
        with rasterio.Env(GDAL_CACHEMAX=int(float(opts.get("gdal_cache_mb") or GDAL_CACHE_MB) * 2**20)):
            try:
                tiling.process(sample, infer, sinks=sinks, tile_px=int(opts.get("tile_px") or tiling.TILE_PX))
            except BaseException:
                if writer is not None:
                    writer.abort()
                raise
            if writer is not None:
                writer.close()
        result = self._summarise(grid, geo, sample, "model", config)
        if mem is not None:
            result.cover = mem.cover
            result.std = mem.std if mem.has_std else None
        if writer is not None:
            result.outputs["cover_geotiff"] = str(writer.path)
            if mem is not None:
                preview, scale = mem.cover, 1.0
            else:
                preview, scale = read_preview(writer.path)
            png = writer.path.with_suffix(".png")
            png.write_bytes(overlay_png(preview, zones=result.zones, scale=scale))
            result.outputs["overlay_png"] = str(png)
        return result

    # ---- training side ------------------------------------------------------------------
    def build_model(self, config: str, size: ModelSize):
        from .model import build

        size = size.value if isinstance(size, ModelSize) else str(size)
        return build(in_channels=features.n_channels(self.check_config(config)), size=size, config=config)

    def recipe(self, config: str) -> TrainRecipe:
        """Sized so that `make models` builds all three cameras in about 6 minutes on one core."""
        return TrainRecipe(n_train=1000, n_val=200, n_test=300, epochs=10, batch_size=32, lr=3e-3,
                           patience=6, prune_ratio=0.5, finetune_epochs=2, distill_epochs=8,
                           n_calibration=64, budget=Budget(regression_frac_range=0.01), seed=0)

    # ---- user interfaces ----------------------------------------------------------------
    def predict_arguments(self, parser) -> None:
        parser.add_argument("--bands", help="band order of the file, e.g. red,nir or blue,green,red,rededge,nir")
        parser.add_argument("--camera", choices=tuple(CAMERAS), help="model to use (default: from the bands)")
        parser.add_argument("--out", help="cover GeoTIFF to write, plus a PNG overlay next to it "
                                          "(default: nothing is written)")
        parser.add_argument("--zone-m", dest="zone_m", type=float, help="zone size in metres (georeferenced)")
        parser.add_argument("--zone-px", dest="zone_px", type=int, help="zone size in pixels")
        parser.add_argument("--reflectance-scale", dest="reflectance_scale", type=float,
                            help="stored value that means reflectance 1.0 (default: by data type)")
        parser.add_argument("--tile-px", dest="tile_px", type=int, help=f"tile size (default {tiling.TILE_PX})")
        parser.add_argument("--low-cover", dest="low_cover", type=float, help="flag zones below this cover")
        parser.add_argument("--max-pixels", dest="max_pixels", type=int,
                            help="largest JPEG/PNG frame decoded in memory (default 60 MP; GeoTIFFs stream)")

    def add_cli(self, sub) -> None:
        from .cli import add_commands

        add_commands(self, sub)

    def blueprint(self, ctx):
        from .web import make_blueprint

        return make_blueprint(self, ctx)


APP = VegCoverApp()
