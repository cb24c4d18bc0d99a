"""Windowed, tiled processing of a raster of any size: read a tile plus a margin, infer, crop, write.

A fully-convolutional model sees ``margin_px`` pixels beyond each tile, at least its receptive
field radius, and only the tile's core is kept ("crop margins"). At the raster edge there is no
margin, as in whole-image processing, so tiled output equals whole-image output (up to floating
point). Memory is bounded by the tile size: one tile of input, features and output at a time,
plus the zone statistics (one number per sub-cell of a zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from edgeinv.common.errors import ConfigError

TILE_PX = 256
# >= the receptive-field radius of every shipped network (4 px; checked by tests/apps/veg_cover/test_tiling.py),
# twice it for slack. Was 16: a 288 px model input for a 256 px core (1.27x the pixels); 8 gives 272 px
# (1.13x), and the model is ~a third of the large-orthomosaic path (issue 13).
MARGIN_PX = 8
# Tiles and margins are rounded up to a multiple of this, so every read window starts at an even pixel: the
# coarse nets work on 2 x 2 pixel groups (space-to-depth, ``model.CoverNet``), whose phase follows the
# window's origin; tiled output then equals whole-image output.
ALIGN_PX = 2


@dataclass(frozen=True)
class Tile:
    """One tile: the core window written out, and the (larger) window read with its margins."""

    row: int
    col: int
    height: int
    width: int
    read_row: int
    read_col: int
    read_height: int
    read_width: int

    @property
    def crop(self) -> tuple[slice, slice]:
        """Where the core sits inside the read window."""
        r, c = self.row - self.read_row, self.col - self.read_col
        return slice(r, r + self.height), slice(c, c + self.width)


def tiles(*, height: int, width: int, tile_px: int = TILE_PX, margin_px: int = MARGIN_PX,
          group_px: int | None = None, band_groups: int | None = None) -> Iterator[Tile]:
    """Tiles covering the raster, each with its margin clipped to the raster.

    ``tile_px`` and ``margin_px`` are rounded up to a multiple of :data:`ALIGN_PX` (window origins even).
    Row-major; with ``group_px`` (the source's block size, a multiple of ``tile_px``) the tiles of
    one source block come one after the other, so the block is still in GDAL's (capped) block
    cache for all of them. With ``band_groups`` as well, the blocks go in vertical bands of that many
    block columns, top to bottom within a band: a tile's margins reach into the neighbouring blocks,
    and a band is narrow enough for its previous, current and next block rows to stay in the cache
    (:func:`band_for_cache`), where row-major order over a wide raster evicted each block row before
    the next one needed its edge and so decompressed most blocks three times (issue 13: reading was
    30 % of the 400 MP bench).
    """
    if tile_px < 1 or margin_px < 0:
        raise ConfigError(f"tile size must be >= 1 and margin >= 0, got {tile_px}, {margin_px}")
    tile_px, margin_px = -(-tile_px // ALIGN_PX) * ALIGN_PX, -(-margin_px // ALIGN_PX) * ALIGN_PX
    g = group_px if group_px and group_px > tile_px and group_px % tile_px == 0 else tile_px
    band = g * band_groups if band_groups and band_groups > 0 and g > tile_px else width
    for bc in range(0, width, band):
        for gr in range(0, height, g):
            for gc in range(bc, min(bc + band, width), g):
                for r in range(gr, min(gr + g, height), tile_px):
                    for c in range(gc, min(gc + g, width), tile_px):
                        h, w = min(tile_px, height - r), min(tile_px, width - c)
                        r0, c0 = max(0, r - margin_px), max(0, c - margin_px)
                        r1, c1 = min(height, r + h + margin_px), min(width, c + w + margin_px)
                        yield Tile(r, c, h, w, r0, c0, r1 - r0, c1 - c0)


def band_for_cache(block_bytes: int | None, cache_bytes: int | None = None) -> int | None:
    """Block columns per band so that three block rows of a band (+1 block each side) fit GDAL's cache.

    ``cache_bytes``: default the ``GDAL_CACHEMAX`` in force (bytes, or MB when under 100,000, as GDAL
    reads it), else 64 MB. None when the blocks are unknown.
    """
    if not block_bytes:
        return None
    if cache_bytes is None:
        try:
            from rasterio.env import get_gdal_config

            value = get_gdal_config("GDAL_CACHEMAX")
            cache_bytes = int(value) if value is not None else 64 * 2**20
            if cache_bytes < 100_000:
                cache_bytes *= 2**20
        except (ImportError, TypeError, ValueError):
            cache_bytes = 64 * 2**20
    return max(1, int(cache_bytes // (3 * block_bytes)) - 2)


def run_tiles(source, infer: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]],
              tiles_: list[Tile]) -> Iterator[dict]:
    """Read each tile with its margin, ``infer(bands, valid) -> (cover, std)``, crop: one window per tile.

    A window is ``{"row", "col", "cover", "std", "valid"}`` (the tile's core; ``std`` may be None),
    the keyword arguments sinks' ``add`` takes. Runs in this process, or on a Dask worker for a
    group of tiles (:meth:`~.app.VegCoverApp.predict_windows`).
    """
    for t in tiles_:
        bands, valid = source.read_window(t.read_row, t.read_col, t.read_height, t.read_width)
        cover, std = infer(bands, valid)
        sl = t.crop
        yield {"row": t.row, "col": t.col, "cover": cover[sl], "std": None if std is None else std[sl],
               "valid": valid[sl]}


def process(source, infer: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]], *,
            sinks: list, tile_px: int = TILE_PX, margin_px: int = MARGIN_PX,
            progress: Callable[[int, int], None] | None = None,
            windows: Callable[[list[Tile]], Iterator[dict]] | None = None) -> None:
    """Run ``infer(bands, valid) -> (cover, std)`` over ``source`` tile by tile.

    ``sinks`` receive ``add(row=, col=, cover=, std=, valid=)`` for each cropped core window (a
    :class:`~.interpret.ZoneGrid`, a :class:`~.outputs.CoverGeoTiff` adapter, an in-memory map), in
    tile order (:func:`tiles`: by source block, in bands of blocks; the sinks take any order). ``windows(tiles)`` computes the windows elsewhere and yields them in that order
    (:func:`edgeinv.common.dask_windows.split_windows`: Dask workers); default: :func:`run_tiles` here.
    """
    all_tiles = list(tiles(height=source.height, width=source.width, tile_px=tile_px, margin_px=margin_px,
                           group_px=getattr(source, "block_px", None),
                           band_groups=band_for_cache(getattr(source, "block_bytes", None))))
    produced = run_tiles(source, infer, all_tiles) if windows is None else windows(all_tiles)
    for i, w in enumerate(produced):
        for sink in sinks:
            sink.add(**w)
        if progress is not None:
            progress(i + 1, len(all_tiles))


class MemorySink:
    """Collects the cover map and its std in memory (images small enough to hold)."""

    def __init__(self, *, height: int, width: int):
        self.cover = np.full((height, width), np.nan, np.float32)
        self.std = np.full((height, width), np.nan, np.float32)
        self.has_std = False

    def add(self, *, row, col, cover, std, valid):
        h, w = cover.shape
        self.cover[row:row + h, col:col + w] = np.where(valid, cover, np.nan)
        if std is not None:
            self.has_std = True
            self.std[row:row + h, col:col + w] = np.where(valid, std, np.nan)


class GeoTiffSink:
    """Adapter: streams the cropped windows into a :class:`~.outputs.CoverGeoTiff`."""

    def __init__(self, writer):
        self.writer = writer

    def add(self, *, row, col, cover, std, valid):
        self.writer.write(row=row, col=col, cover=cover, std=std, valid=valid)
