"""Simulated data sets and example files: training tiles, held-out scenes, georeferenced GeoTIFF examples.

Training side (PROSAIL via :mod:`.scene`), imported lazily by the app's ``simulate`` and
``write_example``. A training sample is a small scene (``TILE_PX`` square) with its own camera
unit, GSD, sun, soil and layout; held-out sets are independent draws (new layouts, soils, GSDs,
filter perturbations). Example files are larger scenes written the way a photogrammetry tool
writes an orthomosaic: a GeoTIFF in the local UTM zone, band descriptions naming the bands.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeinv.common.app import Dataset
from edgeinv.common.errors import ConfigError, InvalidInputError

from ..cameras import CAMERAS, FINE_CONFIGS, get_camera
from ..io import VegImage
from .layouts import LAYOUT_KINDS

TILE_PX = 32
FINE_FRAME = 3  # segmentation tiles are cut from frames this many tiles wide (levels from the whole frame)
MAX_REDRAWS = 8  # a segmentation frame whose clusters are not vegetation/background is redrawn (this many tries)
META_KEYS = ("gsd_m", "tts_deg", "tto_deg", "ala_deg", "fvc_true_mean", "layout")


def simulate_dataset(app, n: int, *, rng: np.random.Generator, config: str, tile_px: int = TILE_PX) -> Dataset:
    """``n`` simulated scenes for one camera config, preprocessed, with per-pixel ground truth."""
    from .scene import render

    cam = get_camera(config)
    samples = []
    for i in range(int(n)):
        if config in FINE_CONFIGS:
            samples.append(_fine_sample(cam, config, tile_px, rng, i))
            continue
        bands, truth, info = render(camera=cam, shape_px=(tile_px, tile_px), rng=rng)
        # a PROSAIL scene is mixed pixels at any GSD: its edge path is the unmixing one (the bench runs
        # app.predict on these samples with this config's model, whatever the GSD threshold says)
        samples.append(VegImage(bands=bands, band_names=cam.bands, source=f"simulated-{config}-{i}", truth=truth,
                                camera=config, gsd_m=info["gsd_m"], meta=info, options={"path": "unmix"}))
    x = np.stack([app.preprocess(s, config=config) for s in samples]) if samples else \
        np.zeros((0, *app.input_shape(config)), np.float32)
    y = {"cover_fraction": np.stack([s.truth for s in samples]).astype(np.float32) if samples else
         np.zeros((0, tile_px, tile_px), np.float32)}
    meta = {k: np.array([s.meta[k] for s in samples]) for k in META_KEYS}
    return Dataset(x=x.astype(np.float32), y=y, samples=samples, meta=meta)


def _fine_sample(cam, config: str, tile_px: int, rng: np.random.Generator, i: int) -> VegImage:
    """A segmentation-path training tile: a close-range frame of ``FINE_FRAME`` x tile size whose levels
    come from the whole frame (as on a real image), cropped to its centre tile."""
    from .fine_scene import render_fine
    from ..radiometry import image_levels

    side = FINE_FRAME * tile_px
    for _ in range(MAX_REDRAWS):
        bands, truth, info = render_fine(camera=cam, shape_px=(side, side), rng=rng)
        levels = image_levels(bands, cam.bands)
        if _clusters_are_vegetation(bands, truth, levels):
            break
    o = (side - tile_px) // 2
    sl = (slice(o, o + tile_px), slice(o, o + tile_px))
    info["fvc_true_mean"] = float(truth[sl].mean())
    return VegImage(bands=np.ascontiguousarray(bands[(slice(None), *sl)]), band_names=cam.bands,
                    source=f"simulated-{config}-{i}", truth=truth[sl], camera=config, gsd_m=info["gsd_m"],
                    meta=info, levels=levels, options={"path": "segment"})


def _clusters_are_vegetation(bands: np.ndarray, truth: np.ndarray, levels) -> bool:
    """Whether the frame's two clusters are vegetation and background (or no second cluster was found).

    The segmentation model reads a pixel by where it lies between the image's own two levels; it can be
    right only when the upper level *is* the vegetation. A frame where the split separates two
    backgrounds (a white crate from the soil, with a few leaves as a minority) teaches it that the
    vegetation level means nothing, and it then hedges everywhere (P ~ 0.5-0.65 at the vegetation level
    on real frames). Such frames are redrawn; at prediction time the flags (no second cluster, weak
    contrast, pixels unlike both clusters) are what say an image does not fit this assumption.
    """
    from ..radiometry import discriminant

    if not levels.found:
        return True
    upper = discriminant(bands, levels) > 0.5
    return bool(upper.any()) and float(truth[upper].mean()) >= 0.5


def simulate_arguments(parser) -> None:
    """Flags of ``edgeinv veg-cover simulate``."""
    parser.add_argument("--camera", choices=tuple(CAMERAS), default="multispectral5", help="camera class")
    parser.add_argument("--gsd-cm", type=float, help="ground sampling distance in cm (default: random 0.3-12)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--layout", choices=LAYOUT_KINDS, help="field layout (default: random)")
    parser.add_argument("--lat", type=float, default=51.99, help="latitude of the scene's north-west corner")
    parser.add_argument("--lon", type=float, default=5.66, help="longitude of the scene's north-west corner")
    parser.add_argument("--truth", action="store_true", help="also write the true cover as <name>_truth.tif")


def utm_crs(*, lat: float, lon: float) -> str:
    """The WGS 84 / UTM zone CRS (EPSG code) holding a point."""
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def write_example(path, rng: np.random.Generator, *, camera: str = "multispectral5", gsd_cm: float | None = None,
                  size: int = 256, layout: str | None = None, lat: float = 51.99, lon: float = 5.66,
                  truth: bool = False) -> dict:
    """Write a realistic simulated image: a georeferenced GeoTIFF (.tif) or, for RGB, a PNG/JPEG frame."""
    import rasterio
    from affine import Affine
    from rasterio.warp import transform as warp_transform

    from .scene import render

    cam = get_camera(camera)
    path = Path(path)
    suffix = path.suffix.lower()
    if not 8 <= int(size) <= 8192:
        raise ConfigError(f"size must be 8..8192 px, got {size}")
    if gsd_cm is not None and not 0.05 <= float(gsd_cm) <= 50:
        raise ConfigError(f"gsd_cm must be 0.05..50 cm, got {gsd_cm}")
    if not (-80 <= lat <= 84 and -180 <= lon <= 180):
        raise ConfigError(f"lat/lon must be inside the UTM domain, got {lat}, {lon}")
    if suffix not in (".tif", ".tiff", ".png", ".jpg", ".jpeg", ""):
        raise InvalidInputError(f"{path}: write a .tif (GeoTIFF) or, for the rgb camera, a .png/.jpg frame")
    if suffix in (".png", ".jpg", ".jpeg") and cam.encoding != "srgb8":
        raise InvalidInputError(f"{path}: a {camera} image is reflectance; write it as a .tif GeoTIFF")
    bands, cover, info = render(camera=cam, shape_px=(int(size), int(size)), rng=rng,
                                gsd_m=None if gsd_cm is None else gsd_cm / 100.0, layout=layout)
    out = {"camera": camera, "bands": list(cam.bands), "gsd_m": info["gsd_m"], "layout": info["layout"],
           "fvc_true_mean": info["fvc_true_mean"], "width": int(size), "height": int(size)}
    if suffix in (".png", ".jpg", ".jpeg"):
        import cv2

        dn = np.clip(np.round(bands * 255), 0, 255).astype(np.uint8)
        cv2.imwrite(str(path), np.moveaxis(dn[::-1], 0, 2))  # RGB -> OpenCV's BGR
        return out
    crs = utm_crs(lat=lat, lon=lon)
    xs, ys = warp_transform("EPSG:4326", crs, [lon], [lat])
    gsd = info["gsd_m"]
    transform = Affine(gsd, 0.0, round(xs[0], 2), 0.0, -gsd, round(ys[0], 2))
    dtype = "uint8" if cam.encoding == "srgb8" else "float32"
    data = np.clip(np.round(bands * 255), 0, 255).astype(np.uint8) if dtype == "uint8" else bands.astype(np.float32)
    profile = {"driver": "GTiff", "width": int(size), "height": int(size), "count": len(cam.bands), "dtype": dtype,
               "crs": crs, "transform": transform, "tiled": True, "blockxsize": 256, "blockysize": 256,
               "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        for i, b in enumerate(cam.bands, start=1):
            ds.set_band_description(i, b)
        ds.update_tags(camera=camera, gsd_m=f"{gsd:.5f}", simulated="edgeinv veg-cover scene simulator")
    out["crs"] = crs
    if truth:
        tpath = path.with_name(f"{path.stem}_truth.tif")
        with rasterio.open(tpath, "w", **{**profile, "count": 1, "dtype": "float32"}) as ds:
            ds.write(cover[None].astype(np.float32))
            ds.set_band_description(1, "cover_fraction_true")
        out["truth"] = str(tpath)
    return out
