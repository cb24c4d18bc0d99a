"""Writers for the cover map: a scaled-integer GeoTIFF (tiled, compressed, with overviews) and a PNG overlay.

The GeoTIFF has two bands, ``cover_fraction`` and ``cover_fraction_std``, stored as **uint8 with a
GDAL scale tag of** :data:`SCALE` (0.004 = 1/250: value 250 = cover 1.0) and nodata :data:`NODATA` (255),
so readers that apply scale/offset (GDAL ``-unscale``, QGIS, ``rasterio``'s ``ds.scales``) get the
fraction. The rounding error is at most 0.002 (RMS 0.0012), against the shipped models' pixel RMSE of
0.06-0.07: added in quadrature it moves that error in the fifth decimal. Issue 13: float32 until stop 22,
uint16 x 1e-4 until stop 23 (14 noisy bits that barely compressed); uint8 halves the bytes ZSTD and the
overviews go through. It keeps the source CRS and geotransform and is written window by window
(:class:`CoverGeoTiff`), so it never has to be in memory. The overlay is a coloured preview (bare soil
brown -> full cover green), at most ``max_side`` pixels on its long side, with the flagged zones
outlined and numbered in red (a 3 x 5 digit stamp and one-pixel outlines in numpy: Pillow's ImageDraw and
fonts cost the serving process ~1.5 MB, and veg-cover serves within 2 MB of its 150 MB budget), down-sampled
and PNG-encoded with Pillow, which the server already loads to decode JPEG frames (no OpenCV in the serving
process: issue 13, serving memory).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from edgeinv.common.errors import InvalidInputError

BLOCK_PX = 256
# ZSTD level 1 without a predictor: fastest of the codecs and levels measured on the large-orthomosaic
# bench's 16 MP cover map (uint16: 0.31 s write + 0.25 s overviews per 16 MP; level 3 0.57 + 0.36 s for a
# 14 % smaller file; horizontal predictor: no faster, larger). Any GDAL >= 2.3 (QGIS, rasterio, ArcGIS Pro)
# reads it.
COMPRESS = "zstd"
COMPRESS_OPTIONS = {"zstd_level": 1}
# Band-interleaved (each block holds one band): on a 9.4 MP piece of the 400 MP bench's cover map written in
# 256 px windows, 0.105 instead of 0.127 CPU-s and 2.5 % smaller (the cover and its sd compress better
# apart), and the overlay reads the cover band without decompressing the sd (issue 13, fourth round).
INTERLEAVE = "band"
DTYPE = "uint8"
SCALE = 0.004           # stored value x SCALE = cover fraction (and its sd): 1/250
NODATA = 255
MAX_STORED = 254        # values above 1.016 (an sd never gets there: the cover is 0..1) are stored as 1.016
# Overviews from 4x down (4, 8, ... until the map is under half a block): a viewer zoomed out less than 4x reads
# the base, at most 16 stored pixels a screen pixel. The 2x level was half the overview cost (it re-reads the
# whole base and writes a quarter of its pixels) for views that the base serves. Maps too small for a 4x level
# get a 2x one.
FIRST_OVERVIEW = 4
# colour ramp for cover 0 -> 1 (RGB): bare soil, sparse, medium, dense canopy
_RAMP_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_RAMP_RGB = np.array([[140, 100, 60], [200, 170, 80], [180, 200, 60], [90, 170, 50], [20, 110, 30]], float)
ZONE_RGBA = (230, 40, 40, 255)


def to_stored(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Cover (or sd) as stored: round(value / SCALE) as uint8, NODATA where not valid or not finite."""
    with np.errstate(invalid="ignore"):
        q = np.clip(values, 0.0, MAX_STORED * SCALE)  # the one new float array; the rest in place
        q *= np.float32(1.0 / SCALE)
        np.rint(q, out=q)
        out = q.astype(np.uint8)
    out[~(np.asarray(valid, bool) & np.isfinite(values))] = NODATA
    return out


def from_stored(stored: np.ndarray, *, scale: float = SCALE, nodata: float | None = NODATA) -> np.ndarray:
    """The inverse of :func:`to_stored`: float32 fraction, NaN for ``nodata``. ``scale`` / ``nodata``: a file's
    own tags (:func:`read_cover` passes them, so maps written as uint16 x 1e-4 before issue 13's fifth round
    read right too)."""
    out = stored.astype(np.float32) * np.float32(scale)
    if nodata is not None:
        out[stored == nodata] = np.nan
    return out


def overview_factors(width: int, height: int) -> list[int]:
    """Overview levels of a cover map: :data:`FIRST_OVERVIEW`, x2, ... while the level is at least half a block
    on its long side; ``[2]`` for a map too small for a 4x level but not for a 2x one."""
    side = max(int(width), int(height))
    factors, f = [], FIRST_OVERVIEW
    while side / f >= BLOCK_PX / 2:
        factors.append(f)
        f *= 2
    if not factors and side / 2 >= BLOCK_PX / 2:
        factors = [2]
    return factors


def _tags(ds) -> dict:
    """``from_stored`` keywords of an open cover GeoTIFF (its band 1 scale and nodata)."""
    return {"scale": float(ds.scales[0]), "nodata": ds.nodata}


class CoverGeoTiff:
    """A cover GeoTIFF being written window by window; ``close()`` adds the overviews."""

    def __init__(self, path: str | Path, *, width: int, height: int, transform=None, crs=None):
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioError

        self.path = Path(path)
        if self.path.suffix.lower() not in (".tif", ".tiff"):
            raise InvalidInputError(f"--out {self.path}: the cover map is a GeoTIFF, use a .tif name")
        if not self.path.parent.exists():
            raise InvalidInputError(f"--out {self.path}: folder {self.path.parent} does not exist")
        profile = {"driver": "GTiff", "width": int(width), "height": int(height), "count": 2, "dtype": DTYPE,
                   "nodata": NODATA, "tiled": True, "blockxsize": BLOCK_PX, "blockysize": BLOCK_PX,
                   "compress": COMPRESS, **COMPRESS_OPTIONS, "interleave": INTERLEAVE, "BIGTIFF": "IF_SAFER"}
        if transform is not None and crs is not None:
            profile.update(transform=transform, crs=crs)
        try:
            with warnings.catch_warnings():  # a frame's cover map has no map coordinates, by design
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._ds = rasterio.open(self.path, "w", **profile)
        except RasterioError as exc:
            raise InvalidInputError(f"cannot write {self.path}: {exc}") from None
        self._ds.set_band_description(1, "cover_fraction")
        self._ds.set_band_description(2, "cover_fraction_std")
        self._ds.scales = (SCALE, SCALE)
        self._ds.offsets = (0.0, 0.0)
        self._ds.update_tags(unit="fraction", software="edgeinv veg-cover",
                             stored_as=f"{DTYPE}, value x {SCALE:g} = fraction, {NODATA} = no data")

    def write(self, *, row: int, col: int, cover: np.ndarray, std: np.ndarray | None, valid: np.ndarray) -> None:
        from rasterio.windows import Window

        h, w = cover.shape
        out = np.empty((2, h, w), DTYPE)
        out[0] = to_stored(cover, valid)
        if std is None:
            out[1] = NODATA
        else:
            out[1] = to_stored(std, valid)
        self._ds.write(out, window=Window(col, row, w, h))

    def close(self, *, overviews: bool = True) -> None:
        from rasterio.enums import Resampling

        ds = self._ds
        if overviews:
            factors = overview_factors(ds.width, ds.height)
            if factors:
                # built in the writing handle, so at the file's ZSTD level 1 (a file reopened later would get
                # GDAL's default overview level 9: 0.55 vs 0.29-0.33 CPU-s on a 16 MP map)
                ds.build_overviews(factors, Resampling.average)
                ds.update_tags(ns="rio_overview", resampling="average")
        ds.close()

    def abort(self) -> None:
        try:
            self._ds.close()
        finally:
            if self.path.exists():
                os.unlink(self.path)


def write_cover_geotiff(path, *, cover: np.ndarray, std: np.ndarray | None, valid: np.ndarray | None = None,
                        transform=None, crs=None) -> Path:
    """Write an in-memory cover map (and its std) as a cover GeoTIFF."""
    valid = np.isfinite(cover) if valid is None else valid
    out = CoverGeoTiff(path, width=cover.shape[1], height=cover.shape[0], transform=transform, crs=crs)
    out.write(row=0, col=0, cover=cover, std=std, valid=valid)
    out.close()
    return out.path


def read_preview(path, *, max_side: int = 1024) -> tuple[np.ndarray, float]:
    """Decimated cover band of a cover GeoTIFF (via its overviews; float32, NaN = no data) and the factor."""
    import rasterio
    from rasterio.enums import Resampling

    with rasterio.open(path) as ds:
        f = max(1.0, max(ds.width, ds.height) / max_side)
        shape = (max(1, int(round(ds.height / f))), max(1, int(round(ds.width / f))))
        return from_stored(ds.read(1, out_shape=shape, resampling=Resampling.average), **_tags(ds)), f


def read_cover(path, *, window=None) -> tuple[np.ndarray, np.ndarray]:
    """Cover and sd (float32, NaN = no data) of a cover GeoTIFF, whole or a ``rasterio`` window."""
    import rasterio

    with rasterio.open(path) as ds:
        tags = _tags(ds)
        return from_stored(ds.read(1, window=window), **tags), from_stored(ds.read(2, window=window), **tags)


def colourise(cover: np.ndarray) -> np.ndarray:
    """Cover 0..1 (NaN = no data) -> RGBA uint8 image, transparent where there is no data."""
    levels = np.linspace(0.0, 1.0, 256)
    lut = np.zeros((257, 4), np.uint8)  # 256 cover levels + a transparent "no data" entry
    lut[:256, :3] = np.round(np.stack([np.interp(levels, _RAMP_STOPS, _RAMP_RGB[:, i]) for i in range(3)], axis=-1))
    lut[:256, 3] = 255
    finite = np.isfinite(cover)
    idx = np.where(finite, np.round(np.clip(np.where(finite, cover, 0.0), 0.0, 1.0) * 255), 256).astype(np.int16)
    return lut[idx]


def area_resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area-weighted down-sampling of a 2-D array to ``shape`` (rows, cols), float32: each output pixel is
    the mean of the input area it covers (Pillow's BOX filter, as OpenCV's INTER_AREA). Sizes may only shrink."""
    from PIL import Image

    a = np.asarray(a, np.float32)
    if not all(1 <= n <= m for n, m in zip(shape, a.shape)):
        raise ValueError(f"area_resize shrinks only: {a.shape} -> {tuple(shape)}")
    if tuple(shape) == a.shape:
        return a
    return np.asarray(Image.fromarray(a, mode="F").resize((shape[1], shape[0]), Image.Resampling.BOX), np.float32)


# 3 x 5 pixel digits (drawn at 2x): zone numbers on the overlay
_DIGITS = {d: np.array([[c == "#" for c in row] for row in rows.split()], bool) for d, rows in {
    "0": "### #.# #.# #.# ###", "1": ".#. ##. .#. .#. ###", "2": "### ..# ### #.. ###", "3": "### ..# ### ..# ###",
    "4": "#.# #.# ### ..# ..#", "5": "### #.. ### ..# ###", "6": "### #.. ### #.# ###", "7": "### ..# .#. .#. .#.",
    "8": "### #.# ### #.# ###", "9": "### #.# ### ..# ###"}.items()}


def draw_text(rgba: np.ndarray, text: str, row: int, col: int, colour=ZONE_RGBA, scale: int = 2) -> None:
    """Digits of ``text`` into an RGBA image, top-left at (row, col), clipped to the image."""
    h, w = rgba.shape[:2]
    for ch in text:
        glyph = _DIGITS.get(ch)
        if glyph is None:
            continue
        mask = np.kron(glyph, np.ones((scale, scale), bool))
        r1, c1 = min(h, row + mask.shape[0]), min(w, col + mask.shape[1])
        if r1 > max(row, 0) and c1 > max(col, 0):
            sub = mask[max(0, -row):r1 - row, max(0, -col):c1 - col]
            rgba[max(row, 0):r1, max(col, 0):c1][sub] = colour
        col += mask.shape[1] + scale


def draw_rectangle(rgba: np.ndarray, r0: int, c0: int, r1: int, c1: int, colour=ZONE_RGBA) -> None:
    """A one-pixel outline from (r0, c0) to (r1, c1) inclusive, clipped to the image."""
    h, w = rgba.shape[:2]
    ra, rb, ca, cb = max(r0, 0), min(r1, h - 1), max(c0, 0), min(c1, w - 1)
    if ra > rb or ca > cb:
        return
    for r in (r0, r1):
        if 0 <= r < h:
            rgba[r, ca:cb + 1] = colour
    for c in (c0, c1):
        if 0 <= c < w:
            rgba[ra:rb + 1, c] = colour


def encode_png(rgba: np.ndarray, *, level: int = 1) -> bytes:
    """PNG bytes of an (H, W, 4) RGBA or (H, W, 3) RGB uint8 image (Pillow's encoder).

    Level 1 as OpenCV's default: on the bench's 1024^2 overlay about 2.5x faster than level 6 for a
    file ~4 % larger."""
    import io

    from PIL import Image

    img = np.ascontiguousarray(rgba, np.uint8)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"encode_png takes RGB or RGBA images, got shape {img.shape}")
    buf = io.BytesIO()
    Image.fromarray(img, mode="RGBA" if img.shape[2] == 4 else "RGB").save(buf, format="PNG", compress_level=level)
    return buf.getvalue()


def overlay_png(cover: np.ndarray, *, zones: list[dict] = (), scale: float = 1.0, max_side: int = 1024) -> bytes:
    """PNG bytes of the coloured cover map with flagged zones outlined and numbered.

    ``cover`` may already be decimated by ``scale`` (pixel bounds of zones are divided by it).
    """
    f = max(1.0, max(cover.shape) / max_side)
    if f > 1.0:
        shape = (max(1, int(cover.shape[0] / f)), max(1, int(cover.shape[1] / f)))
        valid = area_resize(np.isfinite(cover), shape) > 0.5
        cover = np.where(valid, area_resize(np.nan_to_num(cover, nan=0.0), shape), np.nan)
    scale = scale * f
    rgba = colourise(cover)
    for z in zones:
        if not z.get("flags"):
            continue
        r0, c0, r1, c1 = (int(round(v / scale)) for v in z["pixel_bounds"])
        draw_rectangle(rgba, r0, c0, max(r0, r1 - 1), max(c0, c1 - 1))
        if (c1 - c0) >= 14 and (r1 - r0) >= 12:
            draw_text(rgba, str(z["id"]), r0 + 2, c0 + 2)
    return encode_png(rgba)
