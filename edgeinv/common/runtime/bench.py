"""Benchmark a released app config on this machine: latency, throughput, size, FLOPs, memory, error.

Edge side: this module never imports torch (the torch-eager row imports it inside its own worker
process). For every shipped variant of a config, for torch-eager FP32 of the teacher
(``teacher.pt`` loaded into ``app.build_model``) and for the app's classical baseline, one row:

* batch-1 latency p50/p95/p99 (ms) of the **whole edge path** on raw held-out samples --
  ``app.predict(sample, runner)`` = preprocess -> model -> interpret (baseline: ``app.baseline`` ->
  ``interpret``) -- one thread, after warm-up, in the row's own process;
* ``model_latency_ms`` and ``path_latency_ms`` (p50/p99) timed **interleaved** across all variants in
  one process (model only on the device's input size, and the whole path), with speed-ups against
  ``teacher_fp32`` and torch eager from that same run (``speedup_vs_fp32``/``speedup_vs_torch``);
* per config, ``stages``: where one call of the chosen variant spends its time (read of a real file of
  the app's format, preprocess, model, interpret) and each stage's share; an app whose ``predict``
  does more than ``preprocess`` -> model -> ``interpret`` sets ``stages_from_predict = True``: its own
  ``predict`` runs on the example file just read and is timed around the model calls (preprocess = until
  the model runs, interpret = after), so the four stages are those of one file;
* batched throughput (samples/s) of the model on preprocessed inputs (baseline: per sample);
* size on disk, parameters and FLOPs from the ONNX graph (:mod:`.graphstats`);
* peak memory: each row runs in a **fresh subprocess** and reports its peak resident set
  (``VmHWM`` of /proc/self/status on Linux -- ``ru_maxrss`` would include the parent's RSS at
  fork time -- else ``resource.getrusage().ru_maxrss``): interpreter + numpy + onnxruntime (+ torch for the torch row)
  + the held-out samples + the model), and the RSS before the model was loaded, so the difference
  is what the model and its inference add;
* the error per target on the same fixed held-out set (the manifest's held-out seed, first ``n``).

The per-row processes run one after another (their p95/p99 move with other load on the machine); the
interleaved columns are the ones to compare rows by. Nothing here is asserted in unit tests as a
wall-clock threshold.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import EdgeinvError, ModelError
from .manifest import load_manifest, verify_release
from ..metrics import latency_percentiles
from .graphstats import graph_stats

__all__ = ["bench_app", "format_table", "MEMORY_METHOD", "peak_rss_mb"]

MEMORY_METHOD = ("peak_rss_mb = peak resident set (Linux VmHWM, else ru_maxrss) of a fresh subprocess per row (Python + numpy + onnxruntime [+ torch for "
                 "the torch row] + held-out samples + model); model_rss_mb = peak minus RSS before the model loaded")


def peak_rss_mb() -> float:
    """Peak resident set of this process in MiB.

    Linux: ``VmHWM`` from /proc/self/status (reset at exec, unlike ``ru_maxrss``, which a child
    inherits from the parent it was forked from); elsewhere ``resource.getrusage().ru_maxrss``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


_rss_mb = peak_rss_mb  # the fuzz harness's name for it


def _make_runner(spec: dict, app, config: str):
    kind = spec["kind"]
    if kind == "onnx":
        from .session import OnnxModel

        return OnnxModel(spec["path"], threads=1)
    if kind == "torch":
        import torch

        from ..export import PhysicalWrapper, load_checkpoint

        torch.set_num_threads(1)
        trained = load_checkpoint(app, config, spec["path"])
        wrapper = PhysicalWrapper(trained.module, app, trained.norm).eval()
        names = app.output_names()

        def run(x):
            with torch.inference_mode():
                outs = wrapper(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
            return {n: o.numpy() for n, o in zip(names, outs)}

        return run
    return None  # baseline


def run_row(spec: dict, app, config: str, samples: list, x: np.ndarray, y: dict, *, warmup: int, repeats: int,
            batch_size: int) -> dict:
    """Measure one row in this process (the worker calls this; see module docstring)."""
    from ..metrics import predict_batched, score, stack_outputs

    rss0 = peak_rss_mb()
    runner = _make_runner(spec, app, config)
    n = len(samples)
    clock = time.perf_counter
    notes = []
    if runner is None:  # the classical baseline: per sample, no batching
        def edge(sample):
            out = app.baseline(sample)
            try:
                app.interpret(out, sample)
            except (KeyError, EdgeinvError) as exc:
                if not notes:
                    notes.append(f"interpret skipped on baseline outputs ({type(exc).__name__})")
            return out

        rows, t0 = [], clock()
        for s in samples:
            try:
                rows.append(app.baseline(s))
            except EdgeinvError:
                rows.append({})
        total = clock() - t0
        outputs = stack_outputs(rows)
        throughput = n / total if total > 0 else float("nan")
    else:
        def edge(sample):
            return app.predict(sample, runner)

        predict_batched(runner, x[:batch_size], batch_size=batch_size)  # warm the batched path
        t0 = clock()
        outputs = predict_batched(runner, x, batch_size=batch_size)
        total = clock() - t0
        throughput = n / total if total > 0 else float("nan")
    for i in range(warmup):
        edge(samples[i % n])
    times = []
    for i in range(repeats):
        s = samples[i % n]
        t0 = clock()
        edge(s)
        times.append((clock() - t0) * 1e3)
    peak = peak_rss_mb()
    return {"latency_ms": latency_percentiles(times), "throughput_sps": float(throughput), "batch_size": int(batch_size),
            "metrics": score(app, outputs, y), "peak_rss_mb": round(peak, 1), "rss_before_model_mb": round(rss0, 1),
            "model_rss_mb": round(peak - rss0, 1), "torch_loaded": "torch" in sys.modules, "notes": notes}


def run_timing(specs: list[dict], app, config: str, samples: list, x: np.ndarray, *, warmup: int,
               repeats: int) -> dict:
    """Interleaved batch-1 timing of every runner in one process: model only and whole edge path.

    Round-robin over the variants (as the release search does), so every row sees the same machine
    load and the ratios between rows are meaningful on a shared machine; each round starts at the next
    variant, so the cost of a sample's first call is shared evenly. Model-only latency runs on
    ``app.latency_input(x)`` (the input the device runs: a full tile for per-pixel apps); the path
    latency is ``app.predict(sample, runner)`` on raw held-out samples.
    """
    clock = time.perf_counter
    runners = {s["name"]: _make_runner(s, app, config) for s in specs if s["kind"] in ("onnx", "torch")}
    x1 = np.ascontiguousarray(app.latency_input(x))
    n = len(samples)
    for name, r in runners.items():
        for i in range(max(1, warmup)):
            r(x1)
            app.predict(samples[i % n], r)
    model = {name: [] for name in runners}
    path = {name: [] for name in runners}
    names = list(runners)
    for i in range(repeats):
        s = samples[i % n]
        # the first variant to see a new sample pays for what the app keeps per input (bearing-wear: Hann windows,
        # band plans of a new machine; ~13 % of its path), so each round starts at the next variant
        for name in names[i % len(names):] + names[:i % len(names)]:
            r = runners[name]
            t0 = clock()
            r(x1)
            model[name].append((clock() - t0) * 1e3)
            t0 = clock()
            app.predict(s, r)
            path[name].append((clock() - t0) * 1e3)
    return {"model": {k: latency_percentiles(v) for k, v in model.items()},
            "path": {k: latency_percentiles(v) for k, v in path.items()}}


def run_stages(spec: dict, app, config: str, samples: list, *, repeats: int, example_file: str | None) -> dict:
    """Where one edge call spends its time: read (a real file of the app's format), preprocess, model,
    interpret — the generic per-sample path (an app with ``stages_from_predict``: its own ``predict`` on the file
    just read), median ms per stage and each stage's share."""
    clock = time.perf_counter
    runner = _make_runner(spec, app, config)
    stages = {"read": [], "preprocess": [], "model": [], "interpret": []}
    notes = []
    n = len(samples)
    whole_file = bool(example_file) and app.stages_from_predict
    for i in range(repeats + 2):
        s = samples[i % n]
        if example_file:
            t0 = clock()
            read = app.read_many(example_file, filename=Path(example_file).name)
            t_read = (clock() - t0) * 1e3
            if whole_file:  # the stages of one file: the recording just read goes through predict
                s = read[0]
        if app.stages_from_predict:  # the app's whole predict, split at its model calls
            marks = []

            def timed(x, marks=marks):
                marks.append(clock())
                out = runner(x)
                marks.append(clock())
                return out

            t0 = clock()
            app.predict(s, timed)
            t3 = clock()
            t2 = marks[-1]  # interpret: after the last model call; work between model calls counts as preprocess
            t1 = t2 - sum(b - a for a, b in zip(marks[::2], marks[1::2]))
        else:
            t0 = clock()
            xi = app.preprocess(s, config=config)[None]
            t1 = clock()
            out = runner(xi)
            t2 = clock()
            try:
                app.interpret({k: v[0] for k, v in out.items()}, s)
            except (EdgeinvError, KeyError, ValueError, TypeError) as exc:
                if not notes:
                    notes.append(f"interpret stage not timed on a preprocessed sample ({type(exc).__name__})")
            t3 = clock()
        if i < 2:
            continue
        if example_file:
            stages["read"].append(t_read)
        stages["preprocess"].append((t1 - t0) * 1e3)
        stages["model"].append((t2 - t1) * 1e3)
        stages["interpret"].append((t3 - t2) * 1e3)
    med = {k: float(np.median(v)) for k, v in stages.items() if v}
    total = sum(med.values()) or float("nan")
    if not example_file:
        notes.append("read stage not timed: the app writes no example file")
    elif whole_file:
        notes.append("stages of one whole example file (app.write_example): read, then the app's own predict on what "
                     "was read, split at its model calls (preprocess = everything before the model, interpret = after)")
    else:
        notes.append("read = parsing one whole example file of the app's format (app.write_example); for apps "
                     "whose files hold many samples or a whole image it covers more than one model call")
    return {"variant": spec["name"], "median_ms": med, "shares": {k: v / total for k, v in med.items()},
            "notes": notes}


def _worker(job_path: str, spec_json: str, out_path: str) -> None:
    with open(job_path, "rb") as fh:
        job = pickle.load(fh)
    app = job["app"]
    if isinstance(app, str):
        from ..app import get_app

        app = get_app(app)
    spec = json.loads(spec_json)
    if spec["kind"] == "timing":
        result = run_timing(spec["specs"], app, job["config"], job["samples"], job["x"], warmup=job["warmup"],
                            repeats=job["repeats"])
    elif spec["kind"] == "stages":
        result = run_stages(spec["spec"], app, job["config"], job["samples"], repeats=job["repeats"],
                            example_file=spec.get("example_file"))
    else:
        result = run_row(spec, app, job["config"], job["samples"], job["x"], job["y"], warmup=job["warmup"],
                         repeats=job["repeats"], batch_size=job["batch_size"])
    Path(out_path).write_text(json.dumps(result, default=float), encoding="utf-8")


def _app_ref(app):
    from ..app import all_apps

    try:
        if all_apps().get(app.name) is app:
            return app.name
    except Exception:  # a broken third-party app must not stop the bench: pickle the object instead
        pass
    return app


def _run_isolated(spec, job_path, timeout_s) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out_path = fh.name
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        proc = subprocess.run([sys.executable, "-m", "edgeinv.common.runtime.bench", "--worker", job_path,
                               json.dumps(spec), out_path], capture_output=True, text=True, timeout=timeout_s, env=env)
        if proc.returncode != 0:
            tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
            return {"error": f"worker failed: {tail[0]}"}
        return json.loads(Path(out_path).read_text(encoding="utf-8"))
    except subprocess.TimeoutExpired:
        return {"error": f"worker timed out after {timeout_s} s"}
    finally:
        Path(out_path).unlink(missing_ok=True)


def _heldout(app, config: str, seed: int, n_max: int, time_budget_s: float | None):
    """The first ``n_max`` samples of the seeded held-out stream (chunks of 8 from one generator),
    stopping early once ``time_budget_s`` of simulation is spent; the prefix is the same every run."""
    from ..app import Dataset

    rng = np.random.default_rng(seed)
    parts, have, t0 = [], 0, time.perf_counter()
    while have < n_max:
        k = min(8, n_max - have)
        parts.append(app.simulate(k, rng=rng, config=config))
        have += k
        if time_budget_s is not None and time.perf_counter() - t0 > time_budget_s:
            break
    return parts[0] if len(parts) == 1 else Dataset.concat(parts)


def bench_app(app, settings, *, config: str, n: int | None = None, repeats: int = 100, warmup: int = 10,
              batch_size: int = 32, quick: bool = False, variants: list[str] | None = None,
              include_torch: bool = True, include_baseline: bool = True, isolate: bool = True,
              timeout_s: float = 900.0, simulate_budget_s: float = 30.0) -> dict:
    """Benchmark every shipped variant of ``config`` plus torch eager and the baseline; return a report.

    Parameters
    ----------
    n : held-out samples (simulated with the manifest's held-out seed) for error and throughput;
        default: up to 200, fewer if simulating them takes more than ``simulate_budget_s``
        (the samples are always a prefix of the same seeded stream, so runs stay comparable).
    repeats, warmup : batch-1 edge-path calls timed / run before timing.
    quick : n <= 50, repeats <= 30, warmup <= 3 (the CLI's ``--quick``).
    variants : restrict to these shipped variants (default: all in the manifest).
    isolate : one fresh subprocess per row (peak memory per row); False runs in this process and
        reports the process-wide peak only.
    """
    n_max = int(n) if n is not None else 200
    budget = None if n is not None else simulate_budget_s
    if quick:
        n_max, repeats, warmup = min(n_max, 50), min(repeats, 30), min(warmup, 3)
        budget = None if budget is None else budget / 3
    config = app.check_config(config)
    folder = app.models_dir(settings)
    configs = load_manifest(folder).configs
    entry = configs[config].raw if config in configs else None  # read-only view of the config's record
    if entry is None:
        raise ModelError(f"{app.name}: no released model for config {config!r}", hint="run `make models`")
    verify_release(folder, config=config)
    seed = int(entry.get("heldout", {}).get("seed", 12345))
    if n_max < 1:
        raise ModelError(f"bench needs at least one held-out sample, got n={n}")
    ds = _heldout(app, config, seed, n_max, budget)
    if ds.samples is None:
        raise ModelError(f"{app.name}.simulate keeps no raw samples; the edge path cannot be benchmarked")
    shipped = entry["variants"]
    names = list(variants) if variants else list(shipped)
    specs = []
    for name in names:
        if name not in shipped:
            raise ModelError(f"{app.name}/{config} has no shipped variant {name!r}; shipped: {', '.join(shipped)}")
        specs.append({"name": name, "kind": "onnx", "path": str(folder / shipped[name]["file"]),
                      "format": shipped[name].get("format", "")})
    notes = [MEMORY_METHOD if isolate else "peak memory: process-wide ru_maxrss (isolate=False)"]
    ckpt = entry.get("teacher_checkpoint")
    if include_torch:
        import importlib.util

        if ckpt and (folder / ckpt).is_file() and importlib.util.find_spec("torch") is not None:
            specs.append({"name": "torch_eager_fp32", "kind": "torch", "path": str(folder / ckpt), "format": "torch"})
        else:
            notes.append("torch eager row skipped: torch not installed or no teacher checkpoint shipped")
    if include_baseline:
        specs.append({"name": "baseline", "kind": "baseline", "path": "", "format": "classical"})
    rows = []
    job = {"app": _app_ref(app), "config": config, "samples": ds.samples, "x": ds.x, "y": ds.y,
           "warmup": int(warmup), "repeats": int(repeats), "batch_size": int(batch_size)}
    with tempfile.TemporaryDirectory() as tmp:
        job_path = Path(tmp) / "job.pkl"
        if isolate:
            with open(job_path, "wb") as fh:
                pickle.dump(job, fh)
        teacher_stats = None
        for spec in specs:
            if isolate:
                res = _run_isolated(spec, str(job_path), timeout_s)
            else:
                res = run_row(spec, app, config, ds.samples, ds.x, ds.y, warmup=warmup, repeats=repeats,
                              batch_size=batch_size)
            row = {"name": spec["name"], "kind": spec["kind"], "format": spec["format"], **res}
            if spec["kind"] == "onnx":
                stats = _stats(spec["path"], shipped[spec["name"]], notes)
                row.update(size_bytes=Path(spec["path"]).stat().st_size, params=stats["params"], flops=stats["flops"],
                           chosen=spec["name"] == entry.get("chosen"))
                if spec["name"] == "teacher_fp32":
                    teacher_stats = stats
            elif spec["kind"] == "torch":
                row.update(size_bytes=Path(spec["path"]).stat().st_size,
                           params=(teacher_stats or {}).get("params"), flops=(teacher_stats or {}).get("flops"))
            rows.append(row)
        timed = [s for s in specs if s["kind"] in ("onnx", "torch")]
        chosen_spec = next((s for s in timed if s["name"] == entry.get("chosen")), timed[0] if timed else None)
        timing = stages = {}
        if timed:
            example = _example_file(app, Path(tmp), ds.samples)
            t_spec = {"kind": "timing", "specs": timed}
            st_spec = {"kind": "stages", "spec": chosen_spec, "example_file": example}
            if isolate:
                timing = _run_isolated(t_spec, str(job_path), timeout_s)
                stages = _run_isolated(st_spec, str(job_path), timeout_s)
            else:
                timing = run_timing(timed, app, config, ds.samples, ds.x, warmup=warmup, repeats=repeats)
                stages = run_stages(chosen_spec, app, config, ds.samples, repeats=repeats, example_file=example)
        _add_ratios(rows, timing, notes)
    return {"app": app.name, "config": config, "n": int(len(ds)), "heldout_seed": seed, "repeats": int(repeats),
            "warmup": int(warmup), "batch_size": int(batch_size), "threads": 1, "chosen": entry.get("chosen"),
            "targets": [{"name": t.name, "unit": t.unit, "kind": t.kind.value} for t in app.targets],
            "rows": rows, "notes": notes, "stages": stages,
            "machine": {"cpu_count": os.cpu_count(), "python": sys.version.split()[0]}}


def _example_file(app, folder: Path, samples: list) -> str | None:
    """A real file in the app's own format (its ``write_example``) for timing the read stage."""
    for suffix in (app.example_suffix, ".wav", ".csv", ".tif", ".npy"):
        if not suffix:
            continue
        path = folder / f"example{suffix}"
        try:
            app.write_example(path, np.random.default_rng(0))
            app.read_many(path, filename=path.name)
            return str(path)
        except Exception:  # noqa: BLE001 - an app without a file format the bench can write: no read stage
            path.unlink(missing_ok=True)
    return None


def _add_ratios(rows: list, timing: dict, notes: list) -> None:
    """Per row: interleaved model-only and path latency (p50/p99) and speed-ups vs FP32 and torch eager."""
    if not timing or "error" in timing:
        if timing:
            notes.append(f"interleaved timing failed: {timing['error']}")
        return
    model, path = timing.get("model", {}), timing.get("path", {})
    base = {"fp32": "teacher_fp32", "torch": "torch_eager_fp32"}
    for r in rows:
        if r["name"] not in model:
            continue
        r["model_latency_ms"] = {k: model[r["name"]][k] for k in ("p50", "p99")}
        r["path_latency_ms"] = {k: path[r["name"]][k] for k in ("p50", "p99")}
        for label, ref in base.items():
            if ref in model:
                r[f"speedup_vs_{label}"] = {"model": model[ref]["p50"] / model[r["name"]]["p50"],
                                            "path": path[ref]["p50"] / path[r["name"]]["p50"]}
    notes.append("model/path ms: batch-1 p50 and p99 timed interleaved across the variants in one process "
                 "(model on the device's input size, path = preprocess -> model -> interpret on raw samples); "
                 "x fp32 / x torch: p50 speed-ups against teacher_fp32 and torch eager from that same run")


def _stats(path, record: dict, notes: list) -> dict:
    """Params/FLOPs from the graph; from the manifest if the onnx package is absent (edge install)."""
    try:
        return graph_stats(path)
    except ImportError:
        msg = "params/FLOPs taken from the manifest (the onnx package is not installed here)"
        if msg not in notes:
            notes.append(msg)
        return {"params": record.get("params"), "flops": record.get("flops")}


def _fmt(v, spec):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return format(v, spec)


def format_table(report: dict) -> str:
    """A fixed-width table of a :func:`bench_app` report for humans."""
    targets = report.get("targets", [])
    head = ["variant", "size kB", "params", "MFLOPs", "model p50", "model p99", "path p50", "path p99",
            "x fp32", "x torch", "samples/s", "peak MB"]
    for t in targets:
        head.append(f"{t['name']} acc%" if t["kind"] == "classification" else f"{t['name']} rmse")
    lines = []
    for r in report["rows"]:
        name = r["name"] + (" *" if r.get("chosen") else "")
        if "error" in r:
            lines.append([name, r["error"]])
            continue
        lat = r["latency_ms"]
        mod = r.get("model_latency_ms") or {}
        pth = r.get("path_latency_ms") or {"p50": lat["p50"], "p99": lat["p99"]}  # baseline: its own run
        cells = [name, _fmt(r.get("size_bytes", 0) / 1e3 if r.get("size_bytes") else None, ".1f"),
                 _fmt(r.get("params"), ",d"), _fmt(r["flops"] / 1e6 if r.get("flops") else None, ".3f"),
                 _fmt(mod.get("p50"), ".3f"), _fmt(mod.get("p99"), ".3f"), _fmt(pth["p50"], ".3f"),
                 _fmt(pth["p99"], ".3f"), _fmt((r.get("speedup_vs_fp32") or {}).get("model"), ".2f"),
                 _fmt((r.get("speedup_vs_torch") or {}).get("model"), ".2f"),
                 _fmt(r.get("throughput_sps"), ",.0f"), _fmt(r.get("peak_rss_mb"), ".0f")]
        for t in targets:
            m = r.get("metrics", {}).get(t["name"])
            if not m:
                cells.append("-")
            elif t["kind"] == "classification":
                cells.append(_fmt(100 * m["accuracy"], ".2f"))
            else:
                cells.append(_fmt(m["rmse"], ".4g") + (f" {t['unit']}" if t["unit"] else ""))
        lines.append(cells)
    widths = [max(len(str(row[i])) for row in [head] + [ln for ln in lines if len(ln) == len(head)])
              for i in range(len(head))]
    out = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    out.append("  ".join("-" * w for w in widths))
    for ln in lines:
        if len(ln) != len(head):
            out.append(f"{ln[0].ljust(widths[0])}  {ln[1]}")
        else:
            out.append("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(ln, widths))))
    out.append("")
    out.append(f"* shipped (chosen). Latency ms: batch 1, 1 thread, {report['repeats']} calls after "
               f"{report['warmup']} warm-up (baseline row: its own whole-path run); samples/s: model on batches "
               f"of {report['batch_size']}; error on {report['n']} held-out samples (seed {report['heldout_seed']}).")
    st = report.get("stages") or {}
    if st.get("median_ms"):
        parts = ", ".join(f"{k} {v:.3f} ms ({100 * st['shares'][k]:.0f} %)" for k, v in st["median_ms"].items())
        out.append(f"where the time goes ({st['variant']}, median per call): {parts}")
        out.extend(st.get("notes", []))
    elif st.get("error"):
        out.append(f"stage timing failed: {st['error']}")
    out.extend(report.get("notes", []))
    return "\n".join(out)


if __name__ == "__main__":  # worker entry: python -m edgeinv.common.runtime.bench --worker JOB SPEC OUT
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: python -m edgeinv.common.runtime.bench --worker JOB SPEC OUT (use `edgeinv <app> bench`)")
