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


# (object path, attribute, stage) of the predict path, timed by ``stage_times``
STAGES = (("edgeinv.apps.veg_cover.io:RasterSource", "read_window", "read"),
          ("edgeinv.apps.veg_cover.features", "channels", "features"),
          ("edgeinv.common.runtime.session:OnnxModel", "__call__", "model"),
          ("edgeinv.apps.veg_cover.interpret:ZoneGrid", "add", "zones"),
          ("edgeinv.apps.veg_cover.outputs:CoverGeoTiff", "write", "write"),
          ("edgeinv.apps.veg_cover.outputs:CoverGeoTiff", "close", "overviews"),
          ("edgeinv.apps.veg_cover.outputs", "read_preview", "overlay"),
          ("edgeinv.apps.veg_cover.outputs", "overlay_png", "overlay"))


def stage_times(raster: str, out: str, *, variant: str | None = None, models_dir: str | None = None,
                io_threads: int | None = None) -> dict:
    """The large-bench predict call on ``raster`` with the CPU seconds of each stage (issue 13).

    The row of :func:`edgeinv.common.runtime.largebench.process` (which times :data:`STAGES` for
    ``bench-large`` too): each stage on ``time.thread_time()``, the CPU time of the thread that runs it
    (reading and writing run on a background thread with ``io_threads`` >= 1, the rest on the calling
    one); the predict call on ``time.process_time()`` (all threads), ``other`` the rest (tile loop,
    cropping, sinks, the queues, zone summary); ``main_thread_cpu_s`` the calling thread's CPU time alone.
    Command: ``python -m edgeinv.apps.veg_cover.bench_large stages RASTER OUT.tif [--variant V] [--io-threads N]``.
    """
    from edgeinv.common.runtime import largebench

    row = largebench.process("veg-cover", raster, out, models_dir=models_dir, variant=variant,
                             tile_px=largebench.TILE_PX, io_threads=io_threads, stages=STAGES)
    row["predict_cpu_s"] = row["cpu_seconds"]
    return row


def _main(argv=None) -> int:
    import argparse
    import json

    p = argparse.ArgumentParser(description="veg-cover large bench tools")
    sub = p.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("stages", help="CPU seconds per stage of the predict path on one raster")
    st.add_argument("raster")
    st.add_argument("out")
    st.add_argument("--variant")
    st.add_argument("--models-dir")
    st.add_argument("--io-threads", type=int, choices=(0, 1, 2))
    a = p.parse_args(argv)
    print(json.dumps(stage_times(a.raster, a.out, variant=a.variant, models_dir=a.models_dir,
                                 io_threads=a.io_threads)))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main())
