"""Peak memory and throughput on a large orthomosaic: it must be bounded by the tile, not the raster.

``run`` writes a 5-band tiled GeoTIFF of ``size`` x ``size`` pixels window by window (uint16
reflectance x 10,000 with a GDAL scale tag, deflate; its content is simulated scenes, flipped and
rotated, so the model sees realistic pixels), then processes it with the shipped model exactly as
``edgeinv veg-cover predict`` does (windowed read -> features -> ONNX Runtime, one thread -> cover
GeoTIFF with overviews + PNG overlay) in a fresh process, and records that process's
peak resident set (``VmHWM``; ``ru_maxrss`` is reported too but on Linux it includes the parent's
peak, inherited across fork + exec). The same is done for a smaller raster: equal peaks mean memory does not grow with
the raster. Megapixels per second are whole-path figures (read, decode, infer, write).

Run as ``edgeinv veg-cover bench-large`` (the subprocess is ``python -m
edgeinv.apps.veg_cover.bench_large --process ...``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
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


def peak_rss_mb() -> float:
    """Peak resident set of this process: Linux ``VmHWM`` (reset by exec), else ``ru_maxrss``.

    ``ru_maxrss`` alone is not enough in a worker: Linux carries the parent's peak across fork + exec.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process(raster: str, out: str, *, models_dir: str | None, variant: str | None, tile_px: int) -> dict:
    """Run the predict path on ``raster`` in this process; return timing and this process's peak RSS."""
    from edgeinv.common.app import get_app
    from edgeinv.common.config import load_settings
    from edgeinv.common.runtime.bundle import load_runner

    app = get_app("veg-cover")
    settings = load_settings(models_dir=models_dir, threads=1)
    rss0 = peak_rss_mb()
    runner = load_runner(app, settings, config=CAMERA, variant=variant)
    sample = app.read(raster, filename=Path(raster).name, out=out, tile_px=tile_px)
    t0 = time.perf_counter()
    result = app.predict(sample, runner)
    secs = time.perf_counter() - t0
    mp = sample.width * sample.height / 1e6
    return {"size_px": sample.width, "megapixels": round(mp, 1), "seconds": round(secs, 1),
            "mp_per_s": round(mp / secs, 3), "peak_rss_mb": round(peak_rss_mb(), 1),
            "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_before_model_mb": round(rss0, 1), "fvc_mean": result.fvc_mean, "zones": len(result.zones),
            "flagged": len(result.flagged), "tile_px": tile_px, "variant": variant or "chosen",
            "cover_mb": round(Path(out).stat().st_size / 2**20, 1)}


def _process_isolated(raster, out, *, models_dir, variant, tile_px) -> dict:
    cmd = [sys.executable, "-m", "edgeinv.apps.veg_cover.bench_large", "--process", str(raster), "--out", str(out),
           "--tile-px", str(tile_px)]
    if models_dir:
        cmd += ["--models-dir", str(models_dir)]
    if variant:
        cmd += ["--variant", variant]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        from edgeinv.common.errors import ModelError

        raise ModelError(f"bench-large worker failed: {(proc.stderr or '').strip().splitlines()[-1:]}")
    return json.loads(proc.stdout)


def run(app, settings, *, size: int = 20000, small: int = 7000, tile_px: int = 256, work_dir=None,
        keep: bool = False, variant: str | None = None, seed: int = 0) -> dict:
    """Create a small and a large orthomosaic, process each in a fresh process, compare peak memory."""
    from edgeinv.common.errors import ConfigError

    if not 256 <= small <= size:
        raise ConfigError(f"need 256 <= --small <= --size, got {small}, {size}")
    folder = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="veg-cover-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    runs, rasters = [], []
    try:
        for side in (small, size) if small != size else (size,):
            raster = folder / f"ortho_{side}.tif"
            info = make_orthomosaic(raster, size=side, rng=rng)
            print(f"wrote {raster} ({info['file_mb']} MB in {info['write_seconds']} s); processing", file=sys.stderr,
                  flush=True)
            res = _process_isolated(raster, folder / f"ortho_{side}_cover.tif",
                                    models_dir=str(settings.models_dir), variant=variant, tile_px=tile_px)
            runs.append({**res, "raster_file_mb": info["file_mb"], "raster_write_seconds": info["write_seconds"]})
            rasters.append(str(raster))
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    lines = [f"{'raster':>13} {'MP':>7} {'seconds':>8} {'MP/s':>6} {'peak RSS MB':>12} {'raster MB':>10}"]
    for r in runs:
        lines.append(f"{r['size_px']:>6} x {r['size_px']:<6}{r['megapixels']:>6} {r['seconds']:>8} {r['mp_per_s']:>6} "
                     f"{r['peak_rss_mb']:>12} {r['raster_file_mb']:>10}")
    lines.append(f"5 bands uint16, tiles of {tile_px} px with a 16 px margin, one ONNX Runtime thread, whole path "
                 f"(read -> features -> model -> cover GeoTIFF + overviews + PNG); peak RSS = VmHWM of the "
                 f"processing process (its ru_maxrss would include the parent's peak)")
    return {"runs": runs, "tile_px": tile_px, "camera": CAMERA, "kept": rasters if keep else [],
            "text": "\n".join(lines)}


def _main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="bench-large worker: process one raster, print JSON")
    p.add_argument("--process", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--models-dir")
    p.add_argument("--variant")
    p.add_argument("--tile-px", type=int, default=256)
    a = p.parse_args(argv)
    print(json.dumps(process(a.process, a.out, models_dir=a.models_dir, variant=a.variant, tile_px=a.tile_px)))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
