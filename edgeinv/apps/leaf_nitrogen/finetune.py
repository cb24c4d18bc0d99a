"""Fine-tuning the shipped teacher on a handful of real labelled leaves (training side: imports torch).

"Pre-train centrally, fine-tune on small local data": the teacher checkpoint of a release
(``models/leaf_nitrogen/<config>/teacher.pt``) is trained a little further with the core's loop
(:func:`edgeinv.common.train.fit`, small learning rate, few epochs, early stopping) on the labelled
leaves mixed with fresh PROSPECT-PRO simulations, so that it adapts to the local crop and instrument
without forgetting what the simulations taught. Targets a label file does not give (e.g. water
when only nitrogen was measured) keep the teacher's own prediction for those leaves as their target
(pseudo-labels), so only what was measured moves. The result is exported with
:func:`edgeinv.common.export.export_onnx` into ``DIR/leaf_nitrogen/<config>/finetuned_fp32.onnx``
with a manifest, which ``edgeinv leaf-nitrogen predict --model DIR`` then uses.

``LABELS.csv``: a ``sample`` column matching the spectra's column names and ``nitrogen_g_m2``
(measured leaf N per area, g/m2); optional columns named like the targets (``chlorophyll_ug_cm2``,
``ewt_g_cm2``, ``lma_g_cm2``, ``protein_g_cm2``...).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io as _io
import json
from pathlib import Path

import numpy as np

from edgeinv.common.app import Dataset
from edgeinv.common.errors import ConfigError, InvalidInputError

from .physics import DEFAULT_N_TO_PROTEIN, nitrogen_area_g_m2, protein_from_nitrogen_g_cm2

VARIANT = "finetuned_fp32"
MIN_LEAVES = 3
VAL_FRACTION = 0.25


def read_labels(path, *, target_names, n_to_protein: float = DEFAULT_N_TO_PROTEIN) -> dict[str, dict[str, float]]:
    """``{sample: {target: value}}`` from a labels CSV (protein derived from ``nitrogen_g_m2``)."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"no such labels file: {p}")
    text = p.read_text(encoding="utf-8-sig", errors="replace")
    rows = [r for r in csv.reader(_io.StringIO(text), delimiter=";" if text.count(";") > text.count(",") else ",")
            if r and any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    if len(rows) < 2:
        raise InvalidInputError(f"{p.name}: needs a header and at least one labelled leaf")
    header = [h.strip() for h in rows[0]]
    if "sample" not in header:
        raise InvalidInputError(f"{p.name}: no 'sample' column (header: {', '.join(header)})")
    if "nitrogen_g_m2" not in header and "protein_g_cm2" not in header:
        raise InvalidInputError(f"{p.name}: needs a 'nitrogen_g_m2' column (measured leaf N per area, g/m2)")
    known = set(target_names) | {"nitrogen_g_m2"}
    labels: dict[str, dict[str, float]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InvalidInputError(f"{p.name} line {line}: {len(row)} fields where the header has {len(header)}")
        rec = dict(zip(header, (c.strip() for c in row)))
        sample = rec.pop("sample")
        if not sample:
            raise InvalidInputError(f"{p.name} line {line}: empty sample name")
        if sample in labels:
            raise InvalidInputError(f"{p.name} line {line}: sample {sample!r} labelled twice")
        values = {}
        for k, v in rec.items():
            if k not in known or v == "":
                continue
            try:
                x = float(v)
            except ValueError:
                raise InvalidInputError(f"{p.name} line {line}, column {k!r}: {v!r} is not a number") from None
            if not (np.isfinite(x) and x >= 0):
                raise InvalidInputError(f"{p.name} line {line}, column {k!r}: {v!r} must be a finite value >= 0")
            values[k] = x
        if "nitrogen_g_m2" in values:
            values["protein_g_cm2"] = float(protein_from_nitrogen_g_cm2(nitrogen_g_m2=values.pop("nitrogen_g_m2"),
                                                                        n_to_protein=n_to_protein))
        if "protein_g_cm2" not in values:
            raise InvalidInputError(f"{p.name} line {line}: sample {sample!r} has no nitrogen_g_m2 value")
        labels[sample] = values
    return labels


def _teacher(app, settings, config: str):
    from edgeinv.common.calibrate import load_shipped_teacher

    teacher, entry, _ = load_shipped_teacher(app, settings, config)
    return teacher, app.models_dir(settings) / entry["teacher_checkpoint"], entry.get("teacher_checkpoint_sha256")


def _n_errors(app, pred: dict, y: dict, factor: float) -> dict:
    t = nitrogen_area_g_m2(protein_g_cm2=y["protein_g_cm2"], n_to_protein=factor)
    p = nitrogen_area_g_m2(protein_g_cm2=pred["protein_g_cm2"], n_to_protein=factor)
    return {"n": int(len(t)), "nitrogen_rmse_g_m2": float(np.sqrt(np.mean((p - t) ** 2))),
            "nitrogen_bias_g_m2": float(np.mean(p - t)),
            "nitrogen_nrmse_percent": float(100 * np.sqrt(np.mean((p - t) ** 2)) / np.mean(t))}


def finetune(app, spectra, labels, out_dir, *, settings, config: str | None = None, epochs: int = 30,
             lr: float = 1e-4, n_sim: int = 3000, seed: int = 0, holdout_fraction: float = 0.0,
             n_to_protein: float | None = None, progress: bool = True) -> dict:
    """Fine-tune the shipped teacher on labelled leaves and write an ONNX release into ``out_dir``.

    Returns a report: errors on the labelled leaves before/after (in-sample), on the held-out
    labelled leaves when ``holdout_fraction > 0``, and on fresh simulations (forgetting check).
    """
    import torch

    from edgeinv.common.export import export_onnx, predict_physical
    from edgeinv.common.pipeline import git_commit
    from edgeinv.common.runtime.bundle import sha256_file
    from edgeinv.common.train import fit

    torch.set_num_threads(1)
    factor = float(n_to_protein or DEFAULT_N_TO_PROTEIN)
    if not 0.0 <= holdout_fraction < 1.0:
        raise ConfigError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    if epochs < 1 or lr <= 0 or n_sim < 0:
        raise ConfigError("epochs must be >= 1, lr > 0 and n_sim >= 0")
    leaves = app.read_many(spectra, filename=Path(spectra).name)
    lab = read_labels(labels, target_names=[t.name for t in app.targets], n_to_protein=factor)
    names = {leaf.sample for leaf in leaves}
    missing = sorted(set(lab) - names)
    if missing:
        raise InvalidInputError(f"labels for samples not in the spectra file: {', '.join(missing[:10])}")
    leaves = [leaf for leaf in leaves if leaf.sample in lab]
    if len(leaves) < MIN_LEAVES:
        raise InvalidInputError(f"only {len(leaves)} labelled leaves; fine-tuning needs at least {MIN_LEAVES}")
    if config is None:
        configs = {app.config_for(leaf) for leaf in leaves}
        if len(configs) != 1:
            raise InvalidInputError(f"the leaves need different models ({', '.join(sorted(configs))}); give --config")
        config = configs.pop()
    config = app.check_config(config)
    teacher, ckpt_path, ckpt_sha = _teacher(app, settings, config)

    x = np.stack([app.preprocess(leaf, config=config) for leaf in leaves])
    before = predict_physical(teacher, app, x)
    y = {t.name: before[t.name].astype(np.float32).copy() for t in app.targets}  # pseudo-labels
    measured = {t.name: np.zeros(len(leaves), bool) for t in app.targets}
    for i, leaf in enumerate(leaves):
        for k, v in lab[leaf.sample].items():
            if k in y:
                y[k][i], measured[k][i] = v, True
    data = Dataset(x=x.astype(np.float32), y=y, samples=leaves)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(leaves))
    n_hold = int(round(holdout_fraction * len(leaves)))
    hold, rest = order[:n_hold], order[n_hold:]
    # Early stopping and the best epoch are chosen on labelled leaves the model does not train on
    # (it used to validate on its own training leaves). A quarter of the remaining leaves, at least one.
    n_val = max(1, int(round(VAL_FRACTION * len(rest))))
    val_idx, train_idx = rest[:n_val], rest[n_val:]
    if len(train_idx) < MIN_LEAVES:
        raise InvalidInputError(f"holdout and validation leave only {len(train_idx)} leaves to train on; "
                                f"need {MIN_LEAVES}", hint=f"label at least {MIN_LEAVES + 1 + n_hold} leaves")
    lab_train = data.subset(train_idx)
    sim = app.simulate(n_sim, rng=rng, config=config) if n_sim else None
    sim_check = app.simulate(300, rng=np.random.default_rng(seed + 991), config=config)
    parts = [lab_train]
    if sim is not None:
        reps = max(1, int(round(0.25 * n_sim / len(train_idx))))
        parts = [sim] + [lab_train] * reps
    strip = [dataclasses.replace(p, samples=None) for p in parts]
    train = Dataset.concat(strip)
    val = dataclasses.replace(data.subset(val_idx), samples=None)
    recipe = dataclasses.replace(app.recipe(config), epochs=int(epochs), lr=float(lr), seed=int(seed),
                                 patience=max(4, int(epochs) // 3))
    module = teacher.module
    baseline_sim = predict_physical(teacher, app, sim_check.x)
    tuned = fit(module, train, val, app, recipe=recipe, norm=teacher.norm, progress=progress, desc="finetune")
    after = predict_physical(tuned, app, x)

    def errs(pred, idx):
        sub = {k: v[idx] for k, v in pred.items()}
        return _n_errors(app, sub, {"protein_g_cm2": y["protein_g_cm2"][idx]}, factor)

    report = {"config": config, "labelled_leaves": len(leaves), "trained_on": int(len(train_idx)),
              "validated_on": int(len(val_idx)),
              "held_out": int(n_hold), "simulated_mixed_in": int(n_sim), "epochs_run": len(tuned.history),
              "best_epoch": tuned.best_epoch, "lr": float(lr), "n_to_protein": factor,
              "measured_targets": sorted(k for k, m in measured.items() if m.any()),
              "train_before": errs(before, train_idx), "train_after": errs(after, train_idx),
              "validation_before": errs(before, val_idx), "validation_after": errs(after, val_idx)}
    if n_hold:
        report["heldout_before"] = errs(before, hold)
        report["heldout_after"] = errs(after, hold)
    sim_after = predict_physical(tuned, app, sim_check.x)
    report["simulated_check"] = {"before": _n_errors(app, baseline_sim, sim_check.y, factor),
                                 "after": _n_errors(app, sim_after, sim_check.y, factor)}

    root = Path(out_dir) / app.package_name
    path = root / config / f"{VARIANT}.onnx"
    parity = export_onnx(tuned, app, config, path, example_x=x, variant=VARIANT,
                         extra_metadata={"finetuned_from": str(ckpt_sha or ckpt_path.name)})
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    configs = {c: e for c, e in manifest.get("configs", {}).items() if c in app.configs}
    configs[config] = {"chosen": VARIANT, "accurate": VARIANT,
                       "variants": {VARIANT: {"file": f"{config}/{VARIANT}.onnx", "sha256": sha256_file(path),
                                              "format": "fp32", "size_bytes": path.stat().st_size,
                                              "params": int(sum(p.numel() for p in tuned.module.parameters()))}},
                       "finetune": report, "base_checkpoint_sha256": ckpt_sha,
                       "parity": {k: parity[k] for k in ("max_abs", "max_rel", "ok") if k in parity}}
    manifest = {"app": app.name, "title": f"{app.title} (fine-tuned)",
                "preprocessing_version": str(app.preprocessing_version),
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "git_commit": git_commit()["commit"], "configs": configs}
    manifest_path.write_text(json.dumps(manifest, indent=1, allow_nan=False) + "\n")
    report["out"] = str(Path(out_dir))
    report["text"] = _text(report)
    return report


def _text(r: dict) -> str:
    lines = [f"fine-tuned the {r['config']} teacher on {r['trained_on']} labelled leaves "
             f"(+{r['simulated_mixed_in']} simulated), {r['epochs_run']} epochs; model in {r['out']}"]
    for what in ("train", "heldout"):
        if f"{what}_before" in r:
            b, a = r[f"{what}_before"], r[f"{what}_after"]
            label = "labelled leaves used" if what == "train" else f"held-out labelled leaves (n={b['n']})"
            lines.append(f"  {label}: N RMSE {b['nitrogen_rmse_g_m2']:.3f} -> {a['nitrogen_rmse_g_m2']:.3f} g/m2, "
                         f"bias {b['nitrogen_bias_g_m2']:+.3f} -> {a['nitrogen_bias_g_m2']:+.3f} g/m2")
    s = r["simulated_check"]
    lines.append(f"  simulated check (forgetting): N RMSE {s['before']['nitrogen_rmse_g_m2']:.3f} -> "
                 f"{s['after']['nitrogen_rmse_g_m2']:.3f} g/m2")
    lines.append(f"  use it: edgeinv leaf-nitrogen predict FILE.csv --model {r['out']}")
    return "\n".join(lines)
