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
from .cameras import CAMERAS, CONFIGS, config_for_roles, fine_config_for
from .io import read_image
from .options import VegOptions

# Cover maps up to this size can be kept in memory (web, overlay, real-data checks). A web analysis holds
# the maps, the cover GeoTIFF and the overlay it stores: measured peak RSS of one upload in a fresh process
# (sparse GeoTIFFs through the upload API) 821 MB at 16 MP, 580 MB at 8 MP, 509 MB at 6 MP, within the
# service's 512 MB. Larger images go through `edgeinv veg-cover predict`, which streams them (480 MB at 40 MP).
MEMORY_PIXELS = 6_000_000
# Without a caller asking for the maps (sample.options["keep_maps"]: the web, evaluate-real), only small
# images keep them: a 5 KB sparse GeoTIFF declaring 6300^2 px drove `predict` to 1.2 GB RSS holding its
# cover/std/probability maps; streamed, memory follows the tile.
SMALL_MAP_PIXELS = 4_000_000
GDAL_CACHE_MB = 64          # GDAL's block cache defaults to 5 % of RAM: cap it so memory follows the tile size
ZONE_PX_EVAL = 16           # zone side for the held-out per-zone error of the 32 px training scenes


SEGMENT_MAX_GSD_M = 0.015  # finer than this, leaves span many pixels: pixels are pure, cover is a segmentation
PATHS = ("auto", "segment", "unmix")
# GSD unknown: unmix when fewer than this share of the image's vegetation pixels are interior (all 8 neighbours
# vegetation too, :func:`.radiometry.pure_levels`), i.e. mixed pixels dominate. Set on simulated close-range frames
# area-averaged by k = 1-16 (design seed 300007, docs/apps/veg_cover.md): choosing by it was within 0.03 on 141 / 123
# of 200 frames (red+NIR / RGB) against 135 / 120 always segmenting; the real native frames have 0.65-0.94.
MIXED_MAX_INTERIOR = 0.1


def gsd_m_of(sample) -> float | None:
    """The ground resolution in metres the app goes by: ``--gsd-cm``, else the GeoTIFF's; None if unknown."""
    gsd = (getattr(sample, "options", None) or {}).get("gsd_cm")
    return float(gsd) / 100.0 if gsd is not None else getattr(sample, "gsd_m", None)


def path_for(sample) -> tuple[str, str]:
    """``("segment" | "unmix", why)``: the user's ``--path``, else by ground resolution.

    At a GSD up to :data:`SEGMENT_MAX_GSD_M` (GeoTIFF geotransform or ``--gsd-cm``) the segmentation
    path; coarser, the fractional-cover (unmixing) path. Frames with no known GSD (JPEG/PNG, or a TIFF
    without map coordinates) go by what the image shows: unmixing when mixed pixels dominate (fewer than
    :data:`MIXED_MAX_INTERIOR` of its vegetation pixels interior, :func:`interior_share`), else segmentation
    (hand-held, tripod and low-altitude drone frames resolve single leaves); ``--gsd-cm`` or ``--path`` decide.
    """
    opts = getattr(sample, "options", {}) or {}
    chosen = opts.get("path") or "auto"
    if chosen not in PATHS:
        raise ConfigError(f"path must be one of {', '.join(PATHS)}; got {chosen!r}")
    if chosen != "auto":
        return chosen, "--path"
    gsd = opts.get("gsd_cm")
    gsd_m = gsd_m_of(sample)
    if gsd is not None and not float(gsd) > 0:
        raise ConfigError(f"--gsd-cm must be > 0, got {gsd!r}")
    if gsd_m is None:
        share = interior_share(sample)
        if share is not None and share < MIXED_MAX_INTERIOR:
            return "unmix", (f"GSD unknown; mixed pixels dominate ({100 * share:.0f} % of the vegetation pixels are "
                             f"interior, < {100 * MIXED_MAX_INTERIOR:g} %): unmixing")
        return "segment", "GSD unknown (frame without map coordinates): segmentation by default"
    if gsd_m <= SEGMENT_MAX_GSD_M:
        return "segment", f"GSD {gsd_m * 100:.2g} cm <= {SEGMENT_MAX_GSD_M * 100:g} cm: pure pixels"
    return "unmix", f"GSD {gsd_m * 100:.2g} cm > {SEGMENT_MAX_GSD_M * 100:g} cm: mixed pixels"


def interior_share(sample) -> float | None:
    """Share of the image's vegetation pixels that are interior (:func:`.radiometry.pure_levels`; computed once and
    kept on the sample); None without two clusters or without the red+NIR / RGB bands."""
    if "interior_share" not in sample.derived:
        from .radiometry import native_windows, pure_levels

        config = config_for_roles(sample.band_names)
        fine = fine_config_for(config) if config else None
        share = None
        if fine and set(features.FEATURES[fine][0]) <= set(sample.band_names):
            bands, valid = native_windows(sample)
            pl = pure_levels(features.select_bands(bands, sample.band_names, fine), features.FEATURES[fine][0], valid)
            share = None if pl is None else pl.n_pure_veg / max(pl.n_veg, 1)
        sample.derived["interior_share"] = share
    return sample.derived["interior_share"]


class VegCoverApp(App):
    name = "veg-cover"
    title = "Vegetation cover from UAV imagery"
    description = ("Per-pixel fractional vegetation cover from multispectral, red+NIR or RGB drone images, "
                   "zones flagged for low cover, patchiness or low confidence, and a re-survey mission.")
    targets = (Target("cover_fraction", unit="fraction", low=0.0, high=1.0, per_pixel=True, uncertainty=True),)
    configs = CONFIGS
    preprocessing_version = "1"
    example_suffix = ".tif"
    options_type = VegOptions
    # calibration on a user's masks moves only as far as the user's own validation masks support
    # (edgeinv.common.calibrate: interpolation toward the shipped model, one-standard-error rule)
    calibration_shrink = True
    latency_tile_px = tiling.read_px()  # what tiling.process feeds the model (inner tiles)
    splits_windows = True  # predict --scheduler: a raster's tiles on Dask workers (predict_windows)

    # ---- physics and data ---------------------------------------------------------------
    def input_shape(self, config: str) -> tuple[int, ...]:
        from .sim.simulate import TILE_PX

        return (features.n_channels(self.check_config(config)), TILE_PX, TILE_PX)

    def simulate(self, n: int, *, rng: np.random.Generator, config: str = "multispectral5"):
        from .sim.simulate import simulate_dataset

        return simulate_dataset(self, n, rng=rng, config=self.check_config(config))

    def write_example(self, path, rng: np.random.Generator, **params) -> dict:
        from .sim.simulate import write_example

        return write_example(path, rng, **params)

    def simulate_arguments(self, parser) -> None:
        from .sim.simulate import simulate_arguments

        simulate_arguments(parser)

    def write_large_example(self, path, *, size: int, rng: np.random.Generator) -> dict:
        """A 5-band uint16 tiled orthomosaic of simulated scenes, written window by window (``bench-large``)."""
        from .bench_large import make_orthomosaic

        return make_orthomosaic(path, size=size, rng=rng)

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
        """The model for this image: camera class from the bands (or --camera), path from the GSD (:func:`path_for`)."""
        cam = getattr(sample, "camera", None)
        if cam in CAMERAS:
            if not set(CAMERAS[cam].bands) <= set(sample.band_names):
                raise InvalidInputError(f"--camera {cam} needs bands {', '.join(CAMERAS[cam].bands)}; "
                                        f"the image has {', '.join(sample.band_names)}")
            config = cam
        else:
            config = config_for_roles(sample.band_names)
            if config is None:
                raise InvalidInputError(f"no model for bands {', '.join(sample.band_names)}")
        path, _ = path_for(sample)
        return fine_config_for(config) if path == "segment" else config

    # ---- edge side ----------------------------------------------------------------------
    def preprocess(self, sample, *, config: str = "multispectral5") -> np.ndarray:
        img = sample.load()
        config = self.check_config(config)
        if config in features.FINE:  # the same three coordinates from whichever fine band set the image has
            config = features.fine_input_config(img.band_names, config)
        levels = self.levels_for(sample, config) if config in features.FINE else None
        return features.channels(img.bands, img.band_names, config, levels=levels)

    def levels_for(self, sample, config: str):
        """The image's background/vegetation levels over the bands ``config`` uses (computed once, kept)."""
        from .radiometry import image_levels, sample_pixels

        needed = features.FEATURES[config][0]
        lv = getattr(sample, "levels", None)
        if lv is None or tuple(lv.bands) != tuple(needed):
            bands, valid = sample_pixels(sample)
            lv = image_levels(features.select_bands(bands, sample.band_names, config), needed, valid)
            sample.levels = lv
        return lv

    def pure_levels_for(self, sample, config: str):
        """Unmixing path on camera counts: the image's pure soil and vegetation levels (:func:`.radiometry.pure_levels`)
        over the bands of ``config``'s camera (red + NIR, or RGB), computed once and kept; None for reflectance input,
        or when the image has no two clusters (the net then runs, flagged)."""
        from .cameras import fine_config_for
        from .radiometry import native_windows, pure_levels

        if sample.meta.get("radiometry") != "dn" or config in features.FINE:
            return None
        if "pure_levels" not in sample.derived:
            needed = features.FEATURES[fine_config_for(config)][0]
            bands, valid = native_windows(sample)  # the image's own GSD: interiors of a decimated view are less pure
            sample.derived["pure_levels"] = (
                pure_levels(features.select_bands(bands, sample.band_names, fine_config_for(config)), needed, valid)
                if set(needed) <= set(sample.band_names) else None)
        return sample.derived["pure_levels"]

    def _rules(self, options: dict, config: str | None = None) -> interpret.ZoneRules:
        keys = ("low_cover", "high_patchiness", "low_confidence_std")
        given = {k: float(options[k]) for k in keys if options.get(k) is not None}
        if config in features.FINE:  # a mask: pixel sd 0.5 on ambiguous pixels, 0 elsewhere (confidence.SegmentSink)
            given.setdefault("low_confidence_std", interpret.SEGMENT_LOW_CONFIDENCE_STD)
        return interpret.ZoneRules(**given)

    def _zones(self, sample):
        opts = getattr(sample, "options", {}) or {}
        geo = bool(sample.georeferenced)
        zone_px, _ = interpret.zone_px_for(georeferenced=geo, gsd_m=sample.gsd_m, zone_m=opts.get("zone_m"),
                                           zone_px=opts.get("zone_px"), height=sample.height, width=sample.width)
        min_sub = int(round(interpret.MIN_SUBCELL_M / sample.gsd_m)) if (geo and sample.gsd_m) else 1
        return interpret.ZoneGrid(height=sample.height, width=sample.width, zone_px=zone_px, min_sub_px=min_sub), geo

    def _summarise(self, grid, geo, sample, method, config):
        return interpret.summarise(grid=grid, rules=self._rules(sample.options, config), source=sample.source,
                                   method=method,
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

    def read_labelled(self, data, labels) -> list:
        """Images + vegetation masks for the core ``calibrate`` path (see :func:`real_eval.read_labelled`)."""
        from .real_eval import read_labelled

        return read_labelled(self, data, labels)

    def calibration_scope(self, pairs: list, config: str) -> tuple[list, dict | None]:
        """Masks may change only the model of the camera (band set) they come from (``calibrate``).

        Both segmentation models read the same three coordinates, so any camera's masks *can* train either; but a
        check on one camera's masks cannot see what the change does to the other camera's images (measured: CWFID's
        red+NIR masks, whose validation supported a strong change, made both RGB sets worse). So the samples whose
        image does not carry ``config``'s own bands are left out; with none left the release is the shipped model.
        """
        needed = tuple(features.FEATURES[config][0] if config in features.FEATURES else CAMERAS[config].bands)
        kept = [(s, lab) for s, lab in pairs if set(needed) <= set(s.band_names)]
        left = [s for s, _ in pairs if not set(needed) <= set(s.band_names)]
        if not left:
            return kept, None
        cams = sorted({"+".join(s.band_names) for s in left})
        reason = (f"{len(left)} of {len(pairs)} labelled image(s) come from a camera without the {config} model's bands "
                  f"({', '.join(needed)}; they have {'; '.join(cams)}): they cannot validate a change to this model "
                  "for its own camera's images, so they are left out"
                  + ("" if kept else f"; none left: the release is the shipped {config} model, unchanged"))
        return kept, {"model_bands": list(needed), "used": len(kept), "left_out": len(left),
                      "left_out_bands": cams, "reason": reason}

    def evaluate_real(self, data_dir: Path, runner_for, *, progress: bool = False, gsd_sweep: bool = True) -> dict:
        """Zero-shot cover on real labelled images, per image and data set, index baselines side by side; with
        ``gsd_sweep`` also the frames area-averaged to coarser GSDs, both paths (:mod:`.real_gsd`)."""
        from .real_eval import evaluate_real

        return evaluate_real(self, Path(data_dir), runner_for, progress=progress, gsd_sweep=gsd_sweep)

    def evaluate(self, outputs: dict[str, np.ndarray], dataset) -> dict:
        from .evaluation import evaluate

        return evaluate(outputs, dataset.y["cover_fraction"], zone_px=ZONE_PX_EVAL)

    def predict(self, sample, runner, options=None):
        """Tiled edge path: window -> features -> ONNX -> crop -> zone statistics (and the maps if kept)."""
        sample = self.with_options(sample, options)
        # rasterio passes GDAL_CACHEMAX to GDAL in bytes (a bare 64 would mean 64 bytes: no cache at all).
        # The whole call runs under the cap, the image levels' decimated read included: outside it GDAL's
        # default cache (5 % of RAM) filled with a sparse 6300^2 GeoTIFF's zero blocks (+270 MB).
        with self._gdal_env(sample):
            return self._predict(sample, runner)

    def _gdal_env(self, sample):
        import rasterio

        return rasterio.Env(GDAL_CACHEMAX=int(float(sample.options.get("gdal_cache_mb") or GDAL_CACHE_MB) * 2**20))

    def _infer(self, sample, runner, config, levels, pure=None):
        """``infer(bands, valid) -> (cover, std)`` of one window: features -> ONNX -> clip; with ``pure`` (camera counts
        on the unmixing path) the linear unmixing of the counts between the image's pure levels instead of the net."""
        from .confidence import SUBPIXEL_MIN_GSD_M, saturated, subpixel_fraction

        names = sample.band_names
        if pure is not None:
            from .cameras import fine_config_for
            from .radiometry import unmix_counts

            lin = fine_config_for(config)

            def infer_counts(bands, valid):
                cover = unmix_counts(features.select_bands(bands, names, lin), features.FEATURES[lin][0], pure)
                return cover, np.full(cover.shape, pure.sd, np.float32)

            return infer_counts
        fine = config in features.FINE
        counts = sample.meta.get("radiometry") == "dn"
        gsd = gsd_m_of(sample) if fine else None
        mixed = gsd is not None and gsd >= SUBPIXEL_MIN_GSD_M  # boundary pixels count by their leaf fraction

        def infer(bands, valid):
            x = features.channels(bands, names, config, levels=levels)
            res = runner(x[None])
            cover = np.clip(np.asarray(res["cover_fraction"])[0], 0.0, 1.0)
            if fine:  # segmentation: 0.5 where the brightness and colour cues disagree (confidence.SegmentSink)
                unsure = features.cue_conflict(x)
                if counts:  # and where every channel clipped: no colour was measured there
                    unsure[saturated(features.select_bands(bands, names, config))] = 0.5
                if mixed:  # the sink's trailing plane: the cover with the mask's boundary unmixed
                    return cover, np.stack([unsure, subpixel_fraction(cover, x[0])], axis=-1)
                return cover, unsure
            std = res.get("cover_fraction_std")
            return cover, None if std is None else np.asarray(std)[0]

        return infer

    @staticmethod
    def _tile_px(sample) -> int:
        return int(sample.options.get("tile_px") or tiling.TILE_PX)

    def _plan_tiles(self, sample, runner, config, pure) -> None:
        """On an image of at least :data:`tiling.PLAN_MIN_TILES` tiles a side (inner tiles of one shape, tile and
        margins, make up most of it) prepare the model for that shape (``OnnxModel.prepare``: 1.1-1.8x per tile for
        the shipped nets, built in 2-4 ms once per process, issue 13)."""
        tile_px = self._tile_px(sample)
        prepare = getattr(runner, "prepare", None)
        if pure is None and min(sample.height, sample.width) >= tiling.PLAN_MIN_TILES * tile_px and prepare is not None:
            prepare((1, features.n_channels(config)) + (tiling.read_px(tile_px),) * 2)

    def predict_windows(self, sample, runner, tiles) -> list[dict]:
        """The cropped windows of ``tiles`` (a Dask worker's share of a split predict, see ``tiling.run_tiles``)."""
        with self._gdal_env(sample):
            config = self.config_for(sample)
            levels = self.levels_for(sample, config) if config in features.FINE else None  # kept on the sample
            pure = self.pure_levels_for(sample, config)
            self._plan_tiles(sample, runner, config, pure)
            return list(tiling.run_tiles(sample, self._infer(sample, runner, config, levels, pure), tiles))

    def _predict(self, sample, runner):
        from .outputs import CoverGeoTiff, overlay_png, read_preview

        from .confidence import SegmentSink, assess

        config = self.config_for(sample)
        opts = sample.options
        fine = config in features.FINE
        levels = self.levels_for(sample, config) if fine else None
        pure = self.pure_levels_for(sample, config)
        grid, geo = self._zones(sample)
        sinks = [grid]
        mem = None
        npx = sample.height * sample.width
        if npx <= SMALL_MAP_PIXELS or (opts.get("keep_maps") and npx <= MEMORY_PIXELS):
            mem = tiling.MemorySink(height=sample.height, width=sample.width)
            sinks.append(mem)
        out = opts.get("out")
        writer = None
        if out and str(out).lower() != "none":
            writer = CoverGeoTiff(out, width=sample.width, height=sample.height,
                                  transform=sample.transform if geo else None, crs=sample.crs if geo else None)
            sinks.append(tiling.GeoTiffSink(writer))
        self._plan_tiles(sample, runner, config, pure)
        infer = self._infer(sample, runner, config, levels, pure)
        stats = None
        if fine:  # the model gives P(vegetation); the maps and zones get the mask (P > 0.5)
            stats = SegmentSink(sinks, keep_shape=None if mem is None else (sample.height, sample.width))
            sinks = [stats]

        try:
            from edgeinv.common.dask_windows import active_split

            tiling.process(sample, infer, sinks=sinks, tile_px=self._tile_px(sample),
                           windows=active_split(self, sample, runner),  # None: this process
                           io_threads=opts.get("io_threads"))
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if writer is not None:
            writer.close()
        # on camera counts the unmixing path runs no model (``pure``: linear unmixing between the image's levels)
        result = self._summarise(grid, geo, sample, "model" if pure is None else "linear_unmixing", config)
        result.extra = assess(result, sample=sample, config=config, levels=levels, stats=stats, pure=pure)
        if mem is not None:
            result.cover = mem.cover
            result.std = mem.std if mem.has_std else None
            result.probability = None if stats is None else stats.probability
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
        # the coarse (space-to-depth) nets see a quarter of the positions per scene: 3x the epochs (issue 13;
        # 10 epochs left the student at 0.071 held-out RMSE, 30 at 0.059; training is seconds, simulation minutes)
        coarse = self.check_config(config) in ("multispectral5", "red_nir")  # model.ARCH's space-to-depth nets
        return TrainRecipe(n_train=1000, n_val=200, n_test=300, epochs=30 if coarse else 10, batch_size=32, lr=3e-3,
                           patience=6, prune_ratio=0.5, finetune_epochs=2, distill_epochs=24 if coarse else 8,
                           n_calibration=64, seed=0,
                           # space-to-depth teachers are already ~2x the former students' speed: a variant may
                           # cost at most 0.25 % of the cover range (the 1 % budget shipped a red_nir student
                           # 0.004 worse in RMSE than the student shipped before)
                           budget=Budget(regression_frac_range=0.0025 if coarse else 0.01))

    # ---- user interfaces ----------------------------------------------------------------
    def predict_arguments(self, parser) -> None:
        parser.add_argument("--bands", help="band order of the file, e.g. red,nir or blue,green,red,rededge,nir")
        parser.add_argument("--camera", choices=tuple(CAMERAS), help="model to use (default: from the bands)")
        parser.add_argument("--zone-m", dest="zone_m", type=float, help="zone size in metres (georeferenced)")
        parser.add_argument("--zone-px", dest="zone_px", type=int, help="zone size in pixels")
        parser.add_argument("--reflectance-scale", dest="reflectance_scale", type=float,
                            help="stored value that means reflectance 1.0 (default: by data type)")
        parser.add_argument("--gsd-cm", dest="gsd_cm", type=float,
                            help="ground sampling distance in cm (default: from the GeoTIFF; unknown for frames)")
        parser.add_argument("--path", choices=PATHS, help="segment (pure pixels, fine GSD) or unmix (mixed "
                            f"pixels); default auto: segment up to {SEGMENT_MAX_GSD_M * 100:g} cm GSD; when unknown, "
                            "unmix if mixed pixels dominate the image")
        parser.add_argument("--tile-px", dest="tile_px", type=int, help=f"tile size (default {tiling.TILE_PX})")
        parser.add_argument("--io-threads", dest="io_threads", type=int, choices=(0, 1, 2),
                            help=f"background threads reading ahead and writing while the model runs (0 none, "
                                 f"1 one for both, 2 one each; default {tiling.IO_THREADS} above "
                                 f"{tiling.IO_MIN_PIXELS / 1e6:g} MP on two or more cores, else 0)")
        parser.add_argument("--low-cover", dest="low_cover", type=float, help="flag zones below this cover")
        parser.add_argument("--max-pixels", dest="max_pixels", type=int,
                            help="largest JPEG/PNG frame decoded in memory (default 60 MP; GeoTIFFs stream)")

    def write_outputs(self, result, folder: Path) -> dict[str, str]:
        """The cover GeoTIFF and the overlay PNG of a result into ``folder`` (``predict --out DIR``)."""
        from .service import write_outputs

        return write_outputs(result, folder)

    def add_cli(self, sub) -> None:
        from .cli import add_commands

        add_commands(self, sub)

    def entity_flow(self):
        from .web import FlightFlow

        return FlightFlow(self)


APP = VegCoverApp()
