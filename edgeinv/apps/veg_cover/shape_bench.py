"""Time candidate shapes of the cover network in ONNX Runtime, FP32 against static INT8 (issue 13).

Two steps, so the second can run on another CPU or under ``qemu-x86_64 -cpu Haswell`` (AVX2
without VNNI; emulated, so only ratios between models of one run mean anything)::

    python -m edgeinv.apps.veg_cover.shape_bench build DIR   # export + quantise (training side: torch)
    python -m edgeinv.apps.veg_cover.shape_bench time DIR [--reps N]   # numpy + onnxruntime only
    python -m edgeinv.apps.veg_cover.shape_bench shipped [--config C]  # the shipped variants, same timing

Weights are random (batch norm with non-trivial statistics); timing does not depend on them. The
space-to-depth shapes export their per-pixel path as a MatMul (``model.CoverNet._skip_matmul``, since
stop 25), as a release build does; figures taken before that ran it as a 1 x 1 Conv. Each
model runs on one 288 x 288 tile (what ``tiling`` fed the model when the figures in docs/apps/veg_cover.md
were taken: 256 px plus 16 px margins; 272 px since the margin is 8 px -- ``--tile`` to change) on
one thread, interleaved with the others, and is timed with ``time.thread_time()`` -- the CPU time
of the calling thread, where ORT runs with one intra-op thread -- so other processes on a shared
machine do not enter the figures.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

TILE = 272  # tiling.TILE_PX + 2 * tiling.MARGIN_PX: what predict feeds the model
IN_CHANNELS = 7  # multispectral5's feature channels (the bench-large camera)
SHAPES = {  # name -> CoverNet keyword arguments; figures in docs/apps/veg_cover.md
    "w16_121": dict(width=16, dilations=(1, 2, 1)),  # multispectral/red+NIR teachers before space-to-depth
    "w16_12": dict(width=16, dilations=(1, 2)),  # their students before (full resolution; RGB's student now)
    "w16_2_nomix": dict(width=16, dilations=(2,), mix=False),  # full resolution, fewest operators
    "s2d_w16_12": dict(width=16, dilations=(1, 2), s2d=2),  # 2 x 2 groups, no per-pixel path
    "s2d_w16_12_skip": dict(width=16, dilations=(1, 2), s2d=2, pixel_skip=True),  # teachers now
    "s2d_w16_2_skip": dict(width=16, dilations=(2,), s2d=2, pixel_skip=True),  # students now
    "s2d_w16_full_12": dict(width=16, dilations=(1, 2), s2d=2, block="full"),  # ordinary 3x3, not depthwise
    "s2d_w24_12": dict(width=24, dilations=(1, 2), s2d=2),  # not a multiple of 16
    "s2d_w32_12_skip": dict(width=32, dilations=(1, 2), s2d=2, pixel_skip=True),  # the first teachers tried
    # 4 x 4 groups (issue 13, stop 25): one block keeps the receptive radius (4 * 1 + 3 = 7 px) within the 8 px margin
    "s4_w16_1_skip": dict(width=16, dilations=(1,), s2d=4, pixel_skip=True),
    "s4_w32_1_skip": dict(width=32, dilations=(1,), s2d=4, pixel_skip=True),
}


def build(out: Path, *, seed: int = 0) -> None:
    import warnings

    import torch

    from edgeinv.common.app import get_app
    from edgeinv.common.compress.quantize import quantize_static_int8
    from edgeinv.common.export import PhysicalWrapper

    from .model import CoverNet

    app = get_app("veg-cover")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    calib = rng.random((32, IN_CHANNELS, 32, 32)).astype(np.float32)
    for name, kwargs in SHAPES.items():
        net = CoverNet(IN_CHANNELS, **kwargs).eval()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(0.5, 1.5)
        wrapped = PhysicalWrapper(net, app, {"cover_fraction": {"mean": 0.3, "std": 0.4}}).eval()
        fp32 = out / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapped, torch.rand(1, IN_CHANNELS, TILE, TILE), str(fp32), input_names=["x"],
                              output_names=["cover", "std"], dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}},
                              opset_version=17, dynamo=False)
        quantize_static_int8(fp32, out / f"{name}_int8.onnx", calib)
        print(f"built {name}", file=sys.stderr)
    (out / "shapes.json").write_text(json.dumps(SHAPES))


def _interleaved(paths: dict[str, Path], *, reps: int, tile: int, channels: int) -> dict[str, float]:
    """Median thread CPU seconds of one ``tile`` x ``tile`` run of each model, runs interleaved."""
    from edgeinv.common.runtime.session import OnnxModel

    models = {k: OnnxModel(p, threads=1) for k, p in paths.items()}  # the edge runtime's session options
    x = np.random.default_rng(1).random((1, channels, tile, tile)).astype(np.float32)
    for m in models.values():  # warm-up
        m.session.run(None, {m.input_name: x})
    times = {k: [] for k in models}
    for _ in range(reps):
        for k, m in models.items():
            t0 = time.thread_time()
            m.session.run(None, {m.input_name: x})
            times[k].append(time.thread_time() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def shipped(config: str = "multispectral5", *, reps: int = 15, tile: int | None = None,
            models_dir: Path | None = None) -> dict:
    """The shipped variants of ``config`` timed the same way, on the tile ``predict`` feeds the model."""
    from edgeinv.common.app import get_app
    from edgeinv.common.config import load_settings

    from . import features, tiling

    app = get_app("veg-cover")
    folder = (Path(models_dir) if models_dir else app.models_dir(load_settings())) / config
    tile = tile or tiling.TILE_PX + 2 * tiling.MARGIN_PX
    paths = {p.stem: p for p in sorted(folder.glob("*.onnx"))}
    secs = _interleaved(paths, reps=reps, tile=tile, channels=features.n_channels(config))
    ref = secs.get("teacher_fp32")
    return {k: {"ms": round(v * 1e3, 2), "x_teacher_fp32": round(ref / v, 2) if ref else None}
            for k, v in secs.items()}


def run(folder: Path, *, reps: int = 15, tile: int = TILE) -> dict:
    names = list(json.loads((folder / "shapes.json").read_text()))
    paths = {name + suffix: folder / f"{name}{suffix}.onnx" for name in names for suffix in ("", "_int8")}
    secs = _interleaved(paths, reps=reps, tile=tile, channels=IN_CHANNELS)
    times = {k: [v] for k, v in secs.items()}
    rows = {}
    for name in names:
        fp32, int8 = float(np.median(times[name])), float(np.median(times[name + "_int8"]))
        rows[name] = {"fp32_ms": round(fp32 * 1e3, 2), "int8_ms": round(int8 * 1e3, 2),
                      "int8_speedup": round(fp32 / int8, 2), "fp32_mp_per_s": round(tile * tile / fp32 / 1e6, 1)}
    return rows


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="time cover-network shapes, FP32 vs static INT8 (see the module doc)")
    p.add_argument("step", choices=("build", "time", "shipped"))
    p.add_argument("folder", type=Path, nargs="?", help="build/time: the shapes' folder; shipped: a models dir")
    p.add_argument("--config", default="multispectral5", help="shipped: camera config (default multispectral5)")
    p.add_argument("--reps", type=int, default=15, help="timed runs per model (median; default 15)")
    p.add_argument("--tile", type=int, default=TILE, help=f"tile side in px (default {TILE})")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    if a.step == "shipped":
        for name, r in shipped(a.config, reps=a.reps, tile=a.tile if a.tile != TILE else None,
                               models_dir=a.folder).items():
            print(f"{name:18s} {r['ms']:7.2f} ms  x{r['x_teacher_fp32']} teacher_fp32's speed")
        return 0
    if a.folder is None:
        p.error("build and time need a folder")
    if a.step == "build":
        build(a.folder)
        return 0
    rows = run(a.folder, reps=a.reps, tile=a.tile)
    for name, r in rows.items():
        print(f"{name:26s} FP32 {r['fp32_ms']:7.2f} ms  INT8 {r['int8_ms']:7.2f} ms  "
              f"INT8 speed-up x{r['int8_speedup']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
