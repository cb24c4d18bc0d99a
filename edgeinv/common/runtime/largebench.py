"""Large-image bench of per-pixel apps: throughput and peak memory on rasters far larger than a tile.

``edgeinv <app> bench-large`` for every app with a per-pixel target. The app writes the rasters
(:meth:`App.write_large_example`: veg-cover a 5-band uint16 tiled orthomosaic of simulated scenes,
written window by window); this harness processes each in a **fresh process** exactly as ``edgeinv
<app> predict FILE --out COVER.tif`` does (read -> preprocess -> model, one ONNX Runtime thread ->
output GeoTIFF), and records that process's wall and CPU seconds and its peak resident set (``VmHWM``,
see :func:`.bench.peak_rss_mb`). A small and a large raster: equal peaks mean memory follows the tile,
not the raster. MP/s are whole-path figures (read, decode, infer, write).

With ``--scheduler local --workers 1,2`` the large raster is processed again with its windows split
across a Dask LocalCluster of each size (``predict --scheduler``, :mod:`edgeinv.common.dask_windows`),
started before the clock; the report gives the wall-clock ratio between the worker counts from that
one run, each worker's peak RSS, and whether the result equals the single-process one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import ConfigError, InvalidInputError, ModelError
from .bench import peak_rss_mb

TILE_PX = 256


@contextlib.contextmanager
def stage_timers(stages) -> Iterator[dict]:
    """Wrap each ``(\"module[:Class]\", attribute, stage)`` function with a ``time.thread_time()`` timer while
    the block runs; yields ``{stage: CPU seconds}``, the CPU time of whichever thread ran each call (reading
    and writing may run on a background I/O thread), so neither other processes on a shared machine nor
    other threads enter; the wrappers cost microseconds a call. Stages must not nest."""
    import functools
    import importlib
    import threading

    spent: dict[str, float] = {}
    lock = threading.Lock()
    undo = []
    try:
        for target, attr, stage in stages:
            mod, _, cls = target.partition(":")
            owner = getattr(importlib.import_module(mod), cls) if cls else importlib.import_module(mod)
            original = owner.__dict__[attr] if cls else getattr(owner, attr)

            def timed(*a, _f=original, _s=stage, **k):
                t0 = time.thread_time()
                try:
                    return _f(*a, **k)
                finally:
                    with lock:
                        spent[_s] = spent.get(_s, 0.0) + time.thread_time() - t0

            setattr(owner, attr, functools.wraps(original)(timed))
            undo.append((owner, attr, original))
        yield spent
    finally:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)


def app_stages(app) -> tuple:
    """The stages an app declares for this bench: ``STAGES`` of its ``bench_large`` module, if it has one."""
    import importlib

    try:
        mod = importlib.import_module(f"edgeinv.apps.{app.package_name}.bench_large")
    except ImportError:
        return ()
    return tuple(getattr(mod, "STAGES", ()))


def process(app_name: str, raster: str, out: str, *, models_dir: str | None, variant: str | None, tile_px: int,
            workers: int | None = None, io_threads: int | None = None, stages=None) -> dict:
    """Run the predict path on ``raster`` in this process (``workers``: on a LocalCluster of that many).

    ``io_threads``: the app's background I/O threads (veg-cover ``--io-threads``; None: its default). The
    row gives the process's CPU seconds (every thread), the calling thread's alone (``main_thread_cpu_s``:
    features, model, zones — what one core must carry) and ``cores_used`` = CPU / wall seconds. With the
    app's ``stages`` (default :func:`app_stages`) also ``stages_cpu_s`` and ``stage_share`` of the predict
    call's CPU seconds (:func:`stage_timers`; ``other`` = the rest: tile loop, queues, zone summary).
    """
    from ..app import get_app
    from ..config import load_settings
    from .bundle import load_runner

    app = get_app(app_name)
    settings = load_settings(models_dir=models_dir, threads=1)
    rss0 = peak_rss_mb()
    sample = app.read(raster, filename=Path(raster).name, out=out, tile_px=tile_px, io_threads=io_threads)
    config = app.config_for(sample)
    runner = load_runner(app, settings, config=config, variant=variant)
    row = {"size_px": sample.width, "megapixels": round(sample.width * sample.height / 1e6, 1), "config": config,
           "variant": variant or "chosen", "tile_px": tile_px, "workers": workers, "io_threads": io_threads,
           "rss_before_model_mb": round(rss0, 1)}
    with stage_timers(app_stages(app) if stages is None else stages) as spent:
        cpu0, main0 = time.process_time(), time.thread_time()
        if workers is None:
            t0 = time.perf_counter()
            result = app.predict(sample, runner)
            secs = time.perf_counter() - t0
        else:
            result, secs = _process_split(app, sample, runner, workers, row)
        cpu = time.process_time() - cpu0  # this process only, all its threads (with workers: the caller's share)
        main = time.thread_time() - main0
    if spent:
        spent["other"] = max(0.0, cpu - sum(spent.values()))
        row["stages_cpu_s"] = {k: round(v, 3) for k, v in spent.items()}
        row["stage_share"] = {k: round(v / cpu, 3) for k, v in spent.items()} if cpu else {}
    row.update(seconds=round(secs, 2), mp_per_s=round(sample.width * sample.height / 1e6 / secs, 3),
               cpu_seconds=round(cpu, 2), mp_per_cpu_s=round(sample.width * sample.height / 1e6 / cpu, 3),
               main_thread_cpu_s=round(main, 2), cores_used=round(cpu / secs, 2),
               peak_rss_mb=round(peak_rss_mb(), 1), fvc_mean=getattr(result, "fvc_mean", None),
               zones=len(getattr(result, "zones", []) or []), flagged=len(getattr(result, "flagged", []) or []),
               output_mb=round(Path(out).stat().st_size / 2**20, 1) if Path(out).is_file() else None)
    return row


def _load_app(name: str) -> None:
    from ..app import get_app

    get_app(name)


def _process_split(app, sample, runner, workers: int, row: dict):
    from dask.distributed import Client

    from ..dask_windows import local_cluster, scheduler

    t0 = time.perf_counter()
    with local_cluster(workers) as cluster, Client(cluster) as client:
        client.run(_load_app, app.name)  # imports before the clock
        row["cluster_start_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        with scheduler(cluster.scheduler_address, progress=False):
            result = app.predict(sample, runner)
        secs = time.perf_counter() - t0
        row["worker_peak_rss_mb"] = sorted(round(v, 1) for v in client.run(peak_rss_mb).values())
    return result, secs


def _process_isolated(app, raster, out, *, models_dir, variant, tile_px, workers=None, io_threads=None) -> dict:
    cmd = [sys.executable, "-m", "edgeinv.common.runtime.largebench", app.name, str(raster), str(out),
           "--tile-px", str(tile_px)]
    if models_dir:
        cmd += ["--models-dir", str(models_dir)]
    if variant:
        cmd += ["--variant", variant]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if io_threads is not None:
        cmd += ["--io-threads", str(io_threads)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise ModelError(f"bench-large worker failed: {(proc.stderr or '').strip().splitlines()[-1:]}")
    return json.loads(proc.stdout)


def parse_workers(text: str | None) -> list[int]:
    """``"1,2"`` -> ``[1, 2]`` (worker counts for ``--scheduler local``)."""
    if not text:
        return [1, 2]
    try:
        counts = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(f"--workers must be worker counts such as 1,2; got {text!r}") from None
    if not counts or min(counts) < 1:
        raise InvalidInputError(f"--workers must be worker counts >= 1, got {text!r}")
    return counts


def run(app, settings, *, size: int = 20000, small: int = 7000, tile_px: int = TILE_PX, work_dir=None,
        keep: bool = False, variant: str | None = None, seed: int = 0, scheduler: str | None = None,
        workers: list[int] | None = None, io_threads: int | None = None) -> dict:
    """Write a small and a large raster, process each in a fresh process, compare peak memory (and Dask splits)."""
    if not 256 <= small <= size:
        raise ConfigError(f"need 256 <= --small <= --size, got {small}, {size}")
    if scheduler not in (None, "none", "local"):
        raise InvalidInputError("bench-large measures LocalClusters only: --scheduler local (or none)")
    counts = parse_workers(",".join(map(str, workers)) if workers else None) if scheduler == "local" else []
    folder = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix=f"{app.package_name}-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    runs, rasters = [], []
    try:
        for side in (small, size) if small != size else (size,):
            raster = folder / f"large_{side}.tif"
            info = app.write_large_example(raster, size=side, rng=rng)
            print(f"wrote {raster} ({info['file_mb']} MB in {info['write_seconds']} s); processing", file=sys.stderr,
                  flush=True)
            jobs = [None] + (counts if side == size else [])
            for n in jobs:
                res = _process_isolated(app, raster, folder / f"large_{side}_out{n or ''}.tif",
                                        models_dir=str(settings.models_dir), variant=variant, tile_px=tile_px,
                                        workers=n, io_threads=io_threads)
                runs.append({**res, "raster_file_mb": info["file_mb"], "raster_write_seconds": info["write_seconds"]})
                print(f"  {'one process' if n is None else f'{n} Dask worker(s)'}: {res['seconds']} s", file=sys.stderr,
                      flush=True)
            rasters.append(str(raster))
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    report = {"app": app.name, "runs": runs, "tile_px": tile_px, "kept": rasters if keep else [],
              "scheduler": scheduler or "none", "io_threads": io_threads}
    split = [r for r in runs if r.get("workers")]
    if split:
        single = next(r for r in runs if r["size_px"] == size and not r.get("workers"))
        base = split[0]
        report["split"] = {
            "wall_ratio": {f"{base['workers']}->{r['workers']} workers": round(base["seconds"] / r["seconds"], 2)
                           for r in split[1:]},
            "same_result_as_one_process": all(r["fvc_mean"] == single["fvc_mean"] and r["zones"] == single["zones"]
                                              and r["flagged"] == single["flagged"] for r in split)}
    report["text"] = format_report(report)
    return report


def format_report(report: dict) -> str:
    lines = [f"{'raster':>13} {'MP':>7} {'run':>12} {'seconds':>8} {'MP/s':>6} {'CPU s':>7} {'MP/CPU-s':>8} "
             f"{'main CPU s':>10} {'cores':>5} {'peak RSS MB':>12} {'workers MB':>12}"]
    for r in report["runs"]:
        how = "one process" if not r.get("workers") else f"{r['workers']} worker(s)"
        wk = "/".join(f"{v:.0f}" for v in r.get("worker_peak_rss_mb", [])) or "-"
        lines.append(f"{r['size_px']:>6} x {r['size_px']:<6}{r['megapixels']:>6} {how:>12} {r['seconds']:>8} "
                     f"{r['mp_per_s']:>6} {r.get('cpu_seconds', '-'):>7} {r.get('mp_per_cpu_s', '-'):>8} "
                     f"{r.get('main_thread_cpu_s', '-'):>10} {r.get('cores_used', '-'):>5} "
                     f"{r['peak_rss_mb']:>12} {wk:>12}")
        if r.get("stage_share"):
            lines.append("    CPU shares: " + ", ".join(f"{k} {v:.0%}" for k, v in sorted(
                r["stage_share"].items(), key=lambda kv: -kv[1])))
    io = report.get("io_threads")
    lines.append(f"tiles of {report['tile_px']} px, one ONNX Runtime thread per process, "
                 f"{'the app default' if io is None else io} background I/O thread(s), whole path (read -> "
                 f"preprocess -> model -> output GeoTIFF + overviews + PNG); CPU s = CPU time of the processing "
                 f"process in that call, all its threads (on a shared machine the steadier figure; Dask runs: the "
                 f"caller's share only); main CPU s = its calling thread's alone (model, features, zones, overviews: "
                 f"what one core carries); cores = CPU s / seconds; peak RSS = VmHWM of the processing process (Dask runs: of the calling process, and of "
                 f"each worker)")
    sp = report.get("split")
    if sp:
        starts = ", ".join(f"{r['workers']}: {r['cluster_start_s']} s" for r in report["runs"] if r.get("workers"))
        lines.append(f"Dask LocalCluster wall-clock ratio {', '.join(f'{k} {v}x' for k, v in sp['wall_ratio'].items())}"
                     f" (cluster start before the clock, {starts}); same summary as one process: "
                     f"{sp['same_result_as_one_process']}")
    return "\n".join(lines)


def add_command(sub, app) -> None:
    """``edgeinv <app> bench-large`` for apps with a per-pixel target."""
    p = sub.add_parser("bench-large", help="throughput and peak memory on a large raster (and Dask splits)")
    p.add_argument("--size", type=int, default=20000, help="raster side in pixels (default 20000)")
    p.add_argument("--small", type=int, default=7000, help="side of the comparison raster (default 7000)")
    p.add_argument("--tile-px", dest="tile_px", type=int, default=TILE_PX)
    p.add_argument("--dir", help="work folder (default: a temporary folder, removed afterwards)")
    p.add_argument("--keep", action="store_true", help="keep the rasters")
    p.add_argument("--variant", help="model variant (default: the chosen one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scheduler", choices=("none", "local"), help="also split the large raster on a Dask LocalCluster")
    p.add_argument("--workers", help="with --scheduler local: worker counts to compare (default 1,2)")
    p.add_argument("--io-threads", dest="io_threads", type=int, choices=(0, 1, 2),
                   help="background I/O threads of the processing process (default: the app's)")
    p.set_defaults(func=lambda args, ctx: run(app, ctx.settings, size=args.size, small=args.small,
                                              tile_px=args.tile_px, work_dir=args.dir, keep=args.keep,
                                              variant=args.variant, seed=args.seed, scheduler=args.scheduler,
                                              workers=parse_workers(args.workers) if args.workers else None,
                                              io_threads=args.io_threads))


def _main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="bench-large worker: process one raster, print JSON")
    p.add_argument("app")
    p.add_argument("raster")
    p.add_argument("out")
    p.add_argument("--models-dir")
    p.add_argument("--variant")
    p.add_argument("--tile-px", type=int, default=TILE_PX)
    p.add_argument("--workers", type=int)
    p.add_argument("--io-threads", type=int, choices=(0, 1, 2))
    a = p.parse_args(argv)
    print(json.dumps(process(a.app, a.raster, a.out, models_dir=a.models_dir, variant=a.variant, tile_px=a.tile_px,
                             workers=a.workers, io_threads=a.io_threads)))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
