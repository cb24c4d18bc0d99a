"""Two ONNX sessions timed on the same tiles of a raster, inside the tile loop (issue 13, stop 25).

    python docs/apps/veg_cover_trials/model_ab_tiles.py RASTER A.onnx B.onnx [--tiles N] [--arena-b] [--touch-mb M]

Reads the raster's tiles in ``predict``'s order (``tiling.tiles`` with its bands of source blocks), computes the
multispectral5 features of each, and runs session A and session B on it in alternating order (A first on even
tiles), each timed with ``time.thread_time()``; before each call ``--touch-mb`` MB of memory are written, as the
other stages of the predict call do to the caches between two model calls (0: none). ``--arena-b``: session B with
ONNX Runtime's CPU memory arena on (A and B may then be the same file). Prints the mean ms per tile and A/B.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("raster")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--tiles", type=int, default=400)
    p.add_argument("--arena-b", action="store_true")
    p.add_argument("--touch-mb", type=float, default=8.0)
    args = p.parse_args(argv)

    import rasterio

    from edgeinv.apps.veg_cover import features, tiling
    from edgeinv.common.app import get_app
    from edgeinv.common.runtime.session import OnnxModel

    sessions = {"A": OnnxModel(args.a, threads=1), "B": OnnxModel(args.b, threads=1)}
    if args.arena_b:  # the session options of OnnxModel with the arena on
        import onnxruntime as ort

        o = ort.SessionOptions()
        o.intra_op_num_threads, o.inter_op_num_threads = 1, 1
        o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        o.log_severity_level = 3
        o.enable_cpu_mem_arena = True
        o.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sessions["B"].session = ort.InferenceSession(args.b, o, providers=["CPUExecutionProvider"])
    src = get_app("veg-cover").read(args.raster)
    tiles = list(tiling.tiles(height=src.height, width=src.width, group_px=src.block_px,
                              band_groups=tiling.band_for_cache(src.block_bytes, 64 * 2**20)))[:args.tiles]
    junk = np.ones(max(1, int(args.touch_mb * 2**20 / 4)), np.float32)
    spent = {"A": 0.0, "B": 0.0}
    with rasterio.Env(GDAL_CACHEMAX=64 * 2**20):
        for i, t in enumerate(tiles):
            bands, _ = src.read_window(t.read_row, t.read_col, t.read_height, t.read_width)
            x = features.channels(bands, src.band_names, "multispectral5")[None]
            for k in ("A", "B") if i % 2 == 0 else ("B", "A"):
                if args.touch_mb > 0:
                    junk += 1.0
                t0 = time.thread_time()
                sessions[k](x)
                spent[k] += time.thread_time() - t0
    n = len(tiles)
    print(f"{n} tiles: A {spent['A'] / n * 1e3:.3f} ms, B {spent['B'] / n * 1e3:.3f} ms per tile, "
          f"A/B {spent['A'] / spent['B']:.3f}")


if __name__ == "__main__":
    main()
