"""From simulator to shipped release: train, compress, export, evaluate, search, write the manifest.

Training side (imports torch through train/export/compress). ``build_release`` runs for one app
config::

    simulate train/val (seeds s, s+1) and a held-out set (seed s + HELDOUT_SEED_OFFSET)
    -> fit teacher -> export teacher_fp32 (+ teacher.pt)
    -> static INT8 QDQ / dynamic INT8 / FP16 of the teacher
    -> structured prune + fine-tune -> pruned_fp32, pruned_int8
    -> distil student -> student_fp32, student_int8
    -> score every variant and the app's baseline on the held-out set, time them interleaved
    -> accuracy-aware search -> manifest entry merged into ``out_dir/manifest.json``

A variant whose step fails is skipped with the reason recorded. Files are built in a scratch
folder and moved into ``out_dir/<config>/`` at the end; only what the manifest lists is shipped.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from .app import Dataset, ModelSize, TrainRecipe
from .compress.quantize import QuantSettings, convert_fp16, quantize_dynamic_int8, quantize_static_int8
from .compress.search import SearchSettings, measure_variants, select_variant
from .config import REPO_ROOT
from .errors import EdgeinvError, ModelError
from .metrics import score, stack_outputs
from .runtime.manifest import load_manifest, sha256_file, verify_release
from .runtime.selftest import GOLDEN_NAME, write_golden

__all__ = ["HELDOUT_SEED_OFFSET", "VARIANT_FORMATS", "VARIANT_PLAN", "VariantSpec", "simulate_splits", "train_teacher", "build_release",
           "add_golden", "git_commit"]

HELDOUT_SEED_OFFSET = 100_003
VARIANT_FORMATS = {"teacher_fp32": "fp32", "teacher_int8": "int8", "teacher_dynint8": "int8-dynamic",
                   "teacher_fp16": "fp16", "pruned_fp32": "pruned-fp32", "pruned_int8": "pruned-int8",
                   "student_fp32": "distilled-fp32", "student_int8": "distilled-int8"}


def _log(progress: bool, msg: str) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


def _simulate(app, config, n, seed, progress, what) -> Dataset:
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    chunk = 256
    parts = []
    with tqdm(total=n, desc=f"{app.name} simulate {what}", file=sys.stderr, disable=not progress, leave=False) as bar:
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            parts.append(app.simulate(k, rng=rng, config=config))
            bar.update(k)
    return parts[0] if len(parts) == 1 else Dataset.concat(parts)


def simulate_splits(app, config: str, recipe: TrainRecipe, *, progress: bool = True) -> tuple[Dataset, Dataset, Dataset]:
    """(train, val, held-out) simulated with seeds ``seed``, ``seed + 1``, ``seed + HELDOUT_SEED_OFFSET``."""
    s = int(recipe.seed)
    return (_simulate(app, config, recipe.n_train, s, progress, "train"),
            _simulate(app, config, recipe.n_val, s + 1, progress, "val"),
            _simulate(app, config, recipe.n_test, s + HELDOUT_SEED_OFFSET, progress, "held-out"))


def git_commit() -> dict:
    """The repository's HEAD commit and whether the work tree had uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": head or "unknown", "dirty": dirty}


def _clean(obj):
    """JSON-safe copy (see :func:`edgeinv.common.jsonutil.jsonable`)."""
    from .jsonutil import jsonable

    return jsonable(obj)


def _train_teacher(app, config, train, val, recipe, progress):
    from .train import build_seeded, fit

    model = build_seeded(app, config, ModelSize.TEACHER, seed=recipe.seed)
    return fit(model, train, val, app, recipe=recipe, progress=progress, desc="teacher")


def train_teacher(app, config: str, out_dir: str | Path, *, recipe: TrainRecipe | None = None,
                  progress: bool = True) -> dict:
    """Train the FP32 teacher and export it to ``out_dir/<config>/teacher_fp32.onnx`` (+ teacher.pt)."""
    import torch

    from .export import export_onnx, save_checkpoint

    torch.set_num_threads(1)
    app.check_config(config)
    recipe = recipe or app.recipe(config)
    train, val, test = simulate_splits(app, config, recipe, progress=progress)
    teacher = _train_teacher(app, config, train, val, recipe, progress)
    folder = Path(out_dir) / config
    path = folder / "teacher_fp32.onnx"
    parity = export_onnx(teacher, app, config, path, example_x=val.x, variant="teacher_fp32")
    save_checkpoint(teacher, app, config, folder / "teacher.pt")
    from .export import predict_physical

    metrics = score(app, predict_physical(teacher, app, test.x), test.y)
    return _clean({"file": str(path), "checkpoint": str(folder / "teacher.pt"), "training": teacher.summary(),
                   "parity": {k: parity[k] for k in ("max_abs", "max_rel", "ok")}, "heldout_metrics": metrics})


def _baseline(app, heldout: Dataset, n: int | None, progress: bool) -> dict:
    from tqdm.auto import tqdm

    if heldout.samples is None:
        return {"metrics": {}, "n": 0, "note": "held-out set has no raw samples"}
    idx = np.arange(len(heldout) if n is None else min(n, len(heldout)))
    rows, failures = [], 0
    t0 = time.perf_counter()
    for i in tqdm(idx, desc=f"{app.name} baseline", file=sys.stderr, disable=not progress, leave=False):
        try:
            rows.append(app.baseline(heldout.samples[i]))
        except EdgeinvError:
            rows.append({})
            failures += 1
    secs = time.perf_counter() - t0
    if not any(rows):
        return {"metrics": {}, "n": int(len(idx)), "failures": failures}
    out = stack_outputs(rows)
    sub = heldout.subset(idx)
    result = {"metrics": score(app, out, sub.y), "n": int(len(idx)), "failures": failures,
              "ms_per_sample": 1e3 * secs / max(1, len(idx))}
    try:  # app-specific metrics, when the baseline estimates what app.evaluate needs
        result["extra"] = app.evaluate(out, sub) or {}
    except (KeyError, ValueError, IndexError, EdgeinvError) as exc:
        result["extra_note"] = f"app.evaluate not applicable to the baseline ({type(exc).__name__})"
    return result


@dataclasses.dataclass(frozen=True)
class VariantSpec:
    """One shipped variant: ``name``, how it is made (``export`` of a trained model, or ``int8`` static QDQ /
    ``dynint8`` / ``fp16`` of an exported variant) and from what (a trained model or another variant)."""

    name: str
    make: str
    source: str


# The release's variants, in build order: a trained model's FP32 export comes before what is derived from it.
# Pruning runs only when the recipe asks for it; a step that fails skips its variant (and its dependants).
VARIANT_PLAN: tuple[VariantSpec, ...] = (
    VariantSpec("teacher_fp32", "export", "teacher"),
    VariantSpec("teacher_int8", "int8", "teacher_fp32"),
    VariantSpec("teacher_dynint8", "dynint8", "teacher_fp32"),
    VariantSpec("teacher_fp16", "fp16", "teacher_fp32"),
    VariantSpec("pruned_fp32", "export", "pruned"),
    VariantSpec("pruned_int8", "int8", "pruned_fp32"),
    VariantSpec("student_fp32", "export", "student"),
    VariantSpec("student_int8", "int8", "student_fp32"),
)


def _train_models(app, config, teacher, train, val, recipe, progress, tag) -> tuple[dict, dict, dict]:
    """The compressed trained models next to the teacher: ``({name: trained}, training reports, skipped)``."""
    from .compress.distill import distill
    from .compress.prune import prune_and_finetune

    trained, training, skipped = {"teacher": teacher}, {"teacher": teacher.summary()}, {}
    steps = []
    if recipe.prune_ratio and recipe.prune_ratio > 0:
        steps.append(("pruned", f"pruning {recipe.prune_ratio:.0%} of channels, fine-tuning",
                      lambda: prune_and_finetune(teacher, app, train, val, recipe=recipe, progress=progress)))
    steps.append(("student", "distilling the student",
                  lambda: distill(teacher, app, config, train, val, recipe=recipe, progress=progress)))
    for name, what, fit in steps:
        _log(progress, f"{tag} {what}")
        try:
            trained[name], training[name] = fit()
        except Exception as exc:  # a failing compression skips its variants, recorded
            skipped[name] = f"{type(exc).__name__}: {exc}"
            _log(progress, f"{tag} {name} skipped: {exc}")
    return trained, training, skipped


def _make_variant(spec: VariantSpec, out: Path, *, app, config, trained: dict, paths: dict, val, calib,
                  quant: QuantSettings) -> dict:
    """Write one variant to ``out``; return what the manifest records about how it was made."""
    from .export import export_onnx

    if spec.make == "export":
        parity = export_onnx(trained[spec.source], app, config, out, example_x=val.x, variant=spec.name)
        return {"parity": {k: v for k, v in parity.items() if k != "outputs"}}
    src = paths[spec.source]
    if spec.make == "int8":
        return {"quantized_ops": quantize_static_int8(src, out, calib, settings=quant, variant=spec.name)}
    if spec.make == "dynint8":
        return {"quantized_ops": quantize_dynamic_int8(src, out, variant=spec.name)}
    if spec.make == "fp16":
        return {"ops": convert_fp16(src, out, variant=spec.name)}
    raise ValueError(f"unknown variant step {spec.make!r}")


def _build_variants(app, config, trained, skipped, scratch, val, calib, quant, progress, tag) -> tuple[dict, dict]:
    """Every :data:`VARIANT_PLAN` variant whose source exists: ``({name: path}, {name: build info})``."""
    paths: dict[str, Path] = {}
    info: dict[str, dict] = {}
    for spec in VARIANT_PLAN:
        if spec.source not in trained and spec.source not in paths:
            if spec.source in skipped:  # its source failed: say so
                skipped.setdefault(spec.name, f"not built: {spec.source} is missing")
            continue
        try:
            info[spec.name] = _make_variant(spec, scratch / f"{spec.name}.onnx", app=app, config=config,
                                            trained=trained, paths=paths, val=val, calib=calib, quant=quant) or {}
            paths[spec.name] = scratch / f"{spec.name}.onnx"
        except Exception as exc:  # a failing step skips that variant, recorded
            skipped[spec.name] = f"{type(exc).__name__}: {exc}"
            _log(progress, f"{tag} skipped {spec.name}: {skipped[spec.name]}")
            if os.environ.get("EDGEINV_DEBUG"):
                traceback.print_exc()
    if "teacher_fp32" not in paths:
        raise ModelError(f"{tag} exporting the teacher failed: {skipped.get('teacher_fp32')}")
    return paths, info


def _variant_records(config, paths, info, measures) -> dict:
    records = {}
    for name, path in paths.items():
        m = measures[name]
        records[name] = {"file": f"{config}/{path.name}", "sha256": sha256_file(path),
                         "format": VARIANT_FORMATS.get(name, "fp32"), "params": m.params, "flops": m.flops,
                         "size_bytes": m.size_bytes, "metrics": {**m.metrics, "extra": m.extra},
                         "latency_ms": {k: m.latency_ms[k] for k in ("p50", "p95", "p99")},
                         **info.get(name, {}), **_cpu_record(path)}
    return records


def _baseline_with_reference(app, heldout, n_baseline, teacher_path, progress) -> dict:
    """The baseline's held-out scores; on a subset, the teacher's scores on the same samples beside them."""
    base = _baseline(app, heldout, n_baseline, progress)
    if n_baseline is not None and base.get("n", 0) < len(heldout):
        from .metrics import predict_batched
        from .runtime.session import OnnxModel

        sub = heldout.subset(np.arange(base["n"]))
        base["teacher_fp32_same_samples"] = score(app, predict_batched(OnnxModel(teacher_path), sub.x), sub.y)
    return base


def build_release(app, config: str, out_dir: str | Path, *, recipe: TrainRecipe | None = None, progress: bool = True,
                  quant: QuantSettings = QuantSettings(), search_settings: SearchSettings = SearchSettings(),
                  n_baseline: int | None = None) -> dict:
    """Build, evaluate and ship every variant of :data:`VARIANT_PLAN` for one app config; return its manifest entry.

    Parameters
    ----------
    out_dir : the app's models folder (``models/<pkg>``); variants go to ``out_dir/<config>/``.
    recipe : defaults to ``app.recipe(config)``.
    n_baseline : score the baseline on the first n held-out samples only (slow baselines); all by default.
    """
    import torch

    from .export import save_checkpoint

    torch.set_num_threads(1)
    config = app.check_config(config)
    recipe = recipe or app.recipe(config)
    out_dir = Path(out_dir)
    t_start = time.perf_counter()
    scratch = out_dir / f".build-{config}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    tag = f"[{app.name}/{config}]"
    try:
        train, val, heldout = simulate_splits(app, config, recipe, progress=progress)
        _log(progress, f"{tag} training teacher on {len(train)} samples")
        teacher = _train_teacher(app, config, train, val, recipe, progress)
        save_checkpoint(teacher, app, config, scratch / "teacher.pt")
        trained, training, skipped = _train_models(app, config, teacher, train, val, recipe, progress, tag)
        _log(progress, f"{tag} exporting and quantizing (static INT8 {quant.method.value}, dynamic INT8, FP16)")
        paths, info = _build_variants(app, config, trained, skipped, scratch, val,
                                      train.x[: max(1, int(recipe.n_calibration))], quant, progress, tag)

        _log(progress, f"{tag} evaluating {len(paths)} variants on {len(heldout)} held-out samples, timing them")
        measures = measure_variants(app, paths, heldout, settings=search_settings)
        report = select_variant(app, measures, recipe.budget, settings=search_settings)
        _log(progress, f"{tag} baseline on the held-out set")
        base = _baseline_with_reference(app, heldout, n_baseline, paths["teacher_fp32"], progress)
        variants = _variant_records(config, paths, info, measures)
        _log(progress, f"{tag} golden set for the on-device self-test")
        golden = write_golden(app, config, scratch, heldout.x, paths["teacher_fp32"], paths,
                              description=_golden_description(app, config, recipe))
        entry = {
            "chosen": report["chosen"], "accurate": search_settings.reference, "seed": int(recipe.seed),
            "recipe": dataclasses.asdict(recipe),
            "heldout": {"n": len(heldout), "seed": int(recipe.seed) + HELDOUT_SEED_OFFSET,
                        "description": f"{len(heldout)} samples from {app.name}.simulate(config={config!r}) with "
                                       f"seed {int(recipe.seed) + HELDOUT_SEED_OFFSET}; training used seed "
                                       f"{recipe.seed}, validation seed {int(recipe.seed) + 1}"},
            "baseline": base, "variants": variants, "skipped": skipped,
            "teacher_checkpoint": f"{config}/teacher.pt",
            "teacher_checkpoint_sha256": sha256_file(scratch / "teacher.pt"),
            "input_shape": [int(s) for s in app.input_shape(config)], "output_names": app.output_names(),
            "latency_note": "latency_ms: model only, batch 1, 1 thread, median of interleaved runs in the build "
                            "process; `edgeinv <app> bench` times the whole edge path",
            "search": {k: report[k] for k in ("chosen", "reference", "pareto", "budget", "settings")} | {
                "variants": {n: {k: r[k] for k in ("within_budget", "faster", "speedup", "on_pareto", "reasons")}
                             for n, r in report["variants"].items()}},
            "training": training, "build_seconds": round(time.perf_counter() - t_start, 1),
            "golden": golden,
        }
        entry = _clean(entry)
        _install(out_dir, config, scratch,
                 [Path(v["file"]).name for v in variants.values()] + ["teacher.pt", GOLDEN_NAME])
        _merge_manifest(app, out_dir, config, entry)
        verify_release(out_dir, config=config)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _log(progress, f"{tag} chosen {entry['chosen']} ({len(variants)} variants, {entry['build_seconds']} s)")
    return entry


def _cpu_record(path: Path) -> dict:
    """The quantization settings of a variant file and the CPU classes it computes right on."""
    from .compress.quantize import cpu_classes_for
    from .runtime.session import read_metadata

    quant = read_metadata(path).get("quantization")
    record = {"cpu_classes": cpu_classes_for(quant if isinstance(quant, dict) else None)}
    if isinstance(quant, dict):
        record["quantization"] = quant
    return record


def _golden_description(app, config: str, recipe: TrainRecipe) -> str:
    seed = int(recipe.seed) + HELDOUT_SEED_OFFSET
    return (f"preprocessed inputs from {app.name}.simulate(config={config!r}) with the held-out seed {seed} (never "
            f"used in training), and the FP32 teacher's outputs on them")


def add_golden(app, config: str, out_dir: str | Path, *, progress: bool = True) -> dict:
    """Give an existing release a golden set (and CPU classes per variant) without retraining it.

    The inputs are the release's own held-out simulation (same seed as :func:`build_release`); the
    golden outputs come from its shipped ``teacher_fp32``. The manifest is updated atomically.
    """
    from .runtime.manifest import update_manifest

    out_dir = Path(out_dir)
    config = app.check_config(config)
    configs = load_manifest(out_dir).configs
    if config not in configs:
        raise ModelError(f"{app.name}: no release for config {config!r} in {out_dir}")
    entry = configs[config]
    recipe = app.recipe(config)
    seed = int(entry.raw.get("seed", recipe.seed))
    recipe = dataclasses.replace(recipe, seed=seed)
    heldout = _simulate(app, config, 128, seed + HELDOUT_SEED_OFFSET, progress, "golden")
    folder = out_dir / config
    paths = {n: out_dir / v.file for n, v in entry.variants.items()}
    if "teacher_fp32" not in paths:
        raise ModelError(f"{app.name}/{config}: the release has no teacher_fp32 to take golden outputs from")
    verify_release(out_dir, config=config)
    golden = write_golden(app, config, folder, heldout.x, paths["teacher_fp32"], paths,
                          description=_golden_description(app, config, recipe))

    def change(manifest):
        e = manifest["configs"][config]
        e["golden"] = golden
        for n, v in e.get("variants", {}).items():
            v.update(_cpu_record(out_dir / v["file"]))

    update_manifest(out_dir, change)
    verify_release(out_dir, config=config)
    return golden


def _install(out_dir: Path, config: str, scratch: Path, names: list[str]) -> None:
    final = out_dir / config
    final.mkdir(parents=True, exist_ok=True)
    for old in final.iterdir():
        if old.is_file() and old.name not in names:
            old.unlink()
    for name in names:
        os.replace(scratch / name, final / name)


def _merge_manifest(app, out_dir: Path, config: str, entry: dict) -> None:
    """Put one config's entry into ``out_dir/manifest.json`` (other configs and the ``real`` section kept)."""
    from .runtime.manifest import update_manifest

    def change(manifest: dict) -> dict:
        configs = {c: e for c, e in manifest.get("configs", {}).items() if c in app.configs}
        configs[config] = entry
        git = git_commit()
        new = {"app": app.name, "title": app.title, "preprocessing_version": str(app.preprocessing_version),
               "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "git_commit": git["commit"], "git_dirty": git["dirty"],
               "configs": {c: configs[c] for c in app.configs if c in configs}}
        if "real" in manifest:
            new["real"] = manifest["real"]
        return new

    update_manifest(out_dir, change)
