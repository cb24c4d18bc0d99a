"""veg-cover's large raster for the core large-image bench (``edgeinv veg-cover bench-large``).

:func:`make_orthomosaic` writes a 5-band tiled GeoTIFF of ``size`` x ``size`` pixels window by window
(uint16 reflectance x 10,000 with a GDAL scale tag, deflate; its content is simulated scenes, flipped
and rotated, so the model sees realistic pixels); :meth:`VegCoverApp.write_large_example` hands it to
:mod:`edgeinv.common.runtime.largebench`, which processes it exactly as ``predict`` does in a fresh
process and records throughput and peak memory (and Dask splits with ``--scheduler local``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

CAMERA = "multispectral5"
GSD_M = 0.05
SCALE = 10_000


def make_orthomosaic(path: str | Path, *, size: int, rng: np.random.Generator, block: int = 512,
                     pool: int = 6) -> dict:
    """Write a ``size`` x ``size`` x 5 tiled GeoTIFF window by window (never holding more than a block)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    from .cameras import get_camera
    from .sim.scene import render

    cam = get_camera(CAMERA)
    half = block // 2
    tiles = [render(camera=cam, shape_px=(half, half), rng=rng, gsd_m=GSD_M)[0] for _ in range(pool)]
    tiles = [np.clip(np.round(t * SCALE), 0, 65535).astype(np.uint16) for t in tiles]
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 5, "dtype": "uint16", "tiled": True,
               "blockxsize": block, "blockysize": block, "compress": "deflate", "predictor": 2, "BIGTIFF": "YES",
               "crs": "EPSG:32631", "transform": Affine(GSD_M, 0.0, 680000.0, 0.0, -GSD_M, 5762000.0)}
    t0 = time.perf_counter()
    with rasterio.open(path, "w", **profile) as ds:
        for i, b in enumerate(cam.bands, start=1):
            ds.set_band_description(i, b)
        ds.scales = (1.0 / SCALE,) * 5
        for r in range(0, size, block):
            for c in range(0, size, block):
                h, w = min(block, size - r), min(block, size - c)
                quad = [[np.rot90(tiles[rng.integers(pool)], k=int(rng.integers(4)), axes=(1, 2))
                         for _ in range(2)] for _ in range(2)]
                win = np.concatenate([np.concatenate(row, axis=2) for row in quad], axis=1)
                ds.write(win[:, :h, :w], window=Window(c, r, w, h))
    return {"path": str(path), "size_px": size, "bands": 5, "dtype": "uint16",
            "file_mb": round(Path(path).stat().st_size / 2**20, 1), "write_seconds": round(time.perf_counter() - t0, 1)}
