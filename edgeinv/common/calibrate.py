"""Calibration on a user's own labelled real files: the core's one path for every app (training side, torch).

"Pre-train centrally on physics, adapt locally on a few real labels": the shipped teacher checkpoint
(``models/<pkg>/<config>/teacher.pt``) is trained a little further with the core's loop
(:func:`edgeinv.common.train.fit`: small learning rate, few epochs, early stopping) on the user's
labelled samples mixed with fresh simulations (against forgetting). Apps supply only how to read labels
(:meth:`edgeinv.common.app.App.read_labelled`): ``[(sample, {target: value, "_group": name})]``.

* Targets a label does not give keep the teacher's own prediction for that sample (pseudo-label), so only
  what was measured moves.
* The labelled samples (whole files: all crops of one image stay together) are split three ways: **held out** (never trained on or used for stopping: a
  whole group with ``holdout_group``, else a random fraction), **validation** (early stopping and the
  best epoch), **training**. Before/after errors are reported on the held-out samples, on the training
  samples and on fresh simulations (the forgetting check).
* Per-pixel targets (maps): each labelled image is cut into training crops of the app's input size.
* **Shrinkage toward the shipped model** (``shrink``; on by default for apps that set
  ``calibration_shrink``, e.g. veg-cover): the user's own validation samples decide how far to move.
  The fit then runs on the training samples alone (its best epoch picked on them, not on validation),
  and the weights are interpolated between the shipped teacher's and the fitted ones (``theta0 + a *
  (theta1 - theta0)``, a in :data:`SHRINK_GRID`; weight-space interpolation as in WiSE-FT, Wortsman et
  al. 2022, CVPR). A strength ``a > 0`` is taken only where its error on the validation samples beats the
  **shipped release's chosen model** (what the user runs today, e.g. a distilled student) by more than one
  standard error of the per-sample differences (the one-standard-error rule); otherwise the calibrated
  release *is* the shipped chosen model, copied unchanged (strength 0). "Before" figures are then that
  model's. The choice and the error at every strength are reported.
* The result is a release folder ``OUT/<pkg>/`` (``calibrated_fp32.onnx``, its own golden set, a manifest
  written through :mod:`edgeinv.common.runtime.manifest`) that ``predict --model OUT``, ``serve
  --models-dir OUT`` and ``bundle`` use like the shipped one.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .app import Dataset
from .errors import ConfigError, InvalidInputError, ModelError, ModelIntegrityError
from .metrics import score

VARIANT = "calibrated_fp32"
MIN_TRAIN = 2
GROUP_KEY = "_group"
SHRINK_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)  # interpolation strengths between the shipped and the fitted weights

__all__ = ["VARIANT", "CalibrationOptions", "calibrate", "load_shipped_teacher"]


@dataclasses.dataclass(frozen=True)
class CalibrationOptions:
    """How to calibrate. ``holdout_group`` holds out one whole group (site, species, source) instead of
    ``holdout_fraction`` of the samples; ``val_fraction`` of the rest choose the epoch."""

    epochs: int = 30
    lr: float = 1e-4
    n_sim: int = 2000
    seed: int = 0
    holdout_fraction: float = 0.25
    holdout_group: str | None = None
    val_fraction: float = 0.25
    crops_per_image: int = 16
    shrink: bool | None = None  # None: the app's ``calibration_shrink`` (False unless an app opts in)

    def __post_init__(self):
        if int(self.epochs) < 1:
            raise ConfigError(f"--epochs must be >= 1, got {self.epochs}")
        if not float(self.lr) > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        if int(self.n_sim) < 0:
            raise ConfigError(f"--n-sim must be >= 0, got {self.n_sim}")
        if not 0.0 <= float(self.holdout_fraction) < 1.0:
            raise ConfigError(f"--holdout-fraction must be in [0, 1), got {self.holdout_fraction}")
        if not 0.0 < float(self.val_fraction) < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")


def load_shipped_teacher(app, settings, config: str):
    """The shipped teacher checkpoint of ``app``/``config`` (sha256 checked): ``(trained, entry, manifest sha256)``."""
    from .export import load_checkpoint
    from .runtime.manifest import load_manifest, sha256_file

    folder = app.models_dir(settings)
    configs = load_manifest(folder).configs
    entry = configs[config].raw if config in configs else None
    if not entry or not entry.get("teacher_checkpoint"):
        raise ModelError(f"no teacher checkpoint shipped for {app.name}/{config}", hint="run `make models`")
    path = folder / entry["teacher_checkpoint"]
    if not path.is_file():
        raise ModelError(f"teacher checkpoint {path} is missing", hint="run `make models`")
    expected = entry.get("teacher_checkpoint_sha256")
    if expected and sha256_file(path) != expected:
        raise ModelIntegrityError(f"{path.name}: sha256 does not match the manifest")
    return load_checkpoint(app, config, path), entry, sha256_file(folder / "manifest.json")


def _crops(x: np.ndarray, ys: dict, size: tuple[int, int], n: int, rng) -> tuple[list, list]:
    """Up to ``n`` random crops of ``size`` from one image ``x`` (C, H, W) and its label maps."""
    h, w = x.shape[-2:]
    ch, cw = size
    if h < ch or w < cw:
        raise InvalidInputError(f"a labelled image of {h}x{w} px is smaller than the model's {ch}x{cw} px input")
    xs, yl = [], []
    for _ in range(n):
        i, j = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        xs.append(x[..., i:i + ch, j:j + cw])
        yl.append({k: (v[i:i + ch, j:j + cw] if np.ndim(v) == 2 else v) for k, v in ys.items()})
    return xs, yl


def _labelled(app, pairs, config: str, opts: CalibrationOptions, rng) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """Preprocessed inputs, labels with NaN / -1 where not measured, the group and the source sample of every
    row (crops of one image share it, so they are never split between training and hold-out)."""
    per_pixel = any(t.per_pixel for t in app.targets)
    xs, labels, groups, origin = [], [], [], []
    for k, (sample, lab) in enumerate(pairs):
        lab = dict(lab)
        group = str(lab.pop(GROUP_KEY, "")) or None
        unknown = set(lab) - {t.name for t in app.targets}
        if unknown:
            raise InvalidInputError(f"labels for unknown targets {sorted(unknown)}; {app.name} estimates "
                                    f"{', '.join(t.name for t in app.targets)}")
        x = np.asarray(app.preprocess(sample, config=config), dtype=np.float32)
        if per_pixel:
            cx, cl = _crops(x, lab, tuple(app.input_shape(config)[-2:]), int(opts.crops_per_image), rng)
            xs += cx
            labels += cl
            groups += [group] * len(cx)
            origin += [k] * len(cx)
        else:
            xs.append(x)
            labels.append(lab)
            groups.append(group)
            origin.append(k)
    if not xs:
        raise InvalidInputError("no labelled samples")
    x = np.stack(xs)
    y = {}
    for t in app.targets:
        shape = x.shape[-2:] if t.per_pixel else ()
        fill = -1 if t.is_classification else np.nan
        col = np.full((len(x), *shape), fill, dtype=np.int64 if t.is_classification else np.float32)
        for i, lab in enumerate(labels):
            if t.name in lab and lab[t.name] is not None:
                v = lab[t.name]
                if t.is_classification:
                    v = t.classes.index(v) if isinstance(v, str) else int(v)
                col[i] = v
        y[t.name] = col
    return Dataset(x=x, y=y), np.asarray([g or "" for g in groups], dtype=object), np.asarray(origin)


def _measured(t, col) -> np.ndarray:
    col = np.asarray(col)
    m = col >= 0 if t.is_classification else np.isfinite(col)
    return m.reshape(len(col), -1).any(axis=1)


def _errors(app, pred: dict, data: Dataset, idx) -> dict:
    """Per measured target: metrics on the samples (and pixels) where it was measured."""
    out = {}
    for t in app.targets:
        col = data.y[t.name][idx]
        rows = _measured(t, col)
        if not rows.any():
            continue
        p = {k: np.asarray(v)[idx][rows] for k, v in pred.items()}
        truth = col[rows]
        if t.per_pixel:
            keep = np.isfinite(truth)
            p = {k: v[keep] for k, v in p.items() if np.shape(v) == np.shape(truth)}
            truth = truth[keep]
        out.update(score(app, p, {t.name: truth}))
        out[t.name]["n"] = int(rows.sum())
    return out


def _split(groups: np.ndarray, origin: np.ndarray, opts: CalibrationOptions, rng):
    """Row indices (held out, validation, training), split by source sample: all crops of an image go together."""
    samples = np.unique(origin)
    order = samples[rng.permutation(len(samples))]
    group_of = {int(k): groups[origin == k][0] for k in samples}
    if opts.holdout_group is not None:
        hold_s = np.asarray([k for k in order if group_of[int(k)] == opts.holdout_group], dtype=int)
        if not len(hold_s):
            have = sorted({g for g in groups if g})
            raise InvalidInputError(f"--holdout-group {opts.holdout_group!r}: no such group"
                                    + (f"; groups: {', '.join(have)}" if have else "; the labels carry no groups"))
        rest_s = np.asarray([k for k in order if group_of[int(k)] != opts.holdout_group], dtype=int)
    else:
        n_hold = int(round(float(opts.holdout_fraction) * len(samples)))
        hold_s, rest_s = order[:n_hold], order[n_hold:]
    n_val = max(1, int(round(float(opts.val_fraction) * len(rest_s))))
    val_s, train_s = rest_s[:n_val], rest_s[n_val:]
    if len(train_s) < MIN_TRAIN:
        raise InvalidInputError(f"{len(samples)} labelled samples leave {len(train_s)} to train on after hold-out and "
                                f"validation; need at least {MIN_TRAIN}",
                                hint="label more samples or lower --holdout-fraction")

    def rows(ks):
        return np.flatnonzero(np.isin(origin, ks))

    return rows(hold_s), rows(val_s), rows(train_s)


def calibrate(app, data, labels, out_dir, *, settings, config: str | None = None,
              options: CalibrationOptions = CalibrationOptions(), progress: bool = True) -> dict:
    """Calibrate the shipped teacher of ``app`` on labelled real files; write a release into ``out_dir``."""
    import torch

    from .export import export_onnx, predict_physical
    from .pipeline import _cpu_record, git_commit
    from .runtime.manifest import sha256_file, verify_release
    from .runtime.manifest import update_manifest
    from .runtime.selftest import write_golden
    from .train import fit

    torch.set_num_threads(1)
    pairs = app.read_labelled(data, labels)
    if not pairs:
        raise InvalidInputError("the labels match no sample in the data")
    if config is None:
        configs = {app.config_for(s) for s, _ in pairs}
        if len(configs) != 1:
            raise InvalidInputError(f"the samples need different models ({', '.join(sorted(configs))}); give --config")
        config = configs.pop()
    config = app.check_config(config)
    # only what the labels can validate may change (App.calibration_scope); none of it: the shipped model, unchanged
    scoped, scope = app.calibration_scope(pairs, config)
    frozen = not scoped
    pairs = pairs if frozen else scoped
    rng = np.random.default_rng(int(options.seed))
    teacher, base_entry, base_sha = load_shipped_teacher(app, settings, config)
    data_set, groups, origin = _labelled(app, pairs, config, options, rng)
    hold, val_idx, train_idx = _split(groups, origin, options, rng)

    shrink = frozen or bool(app.calibration_shrink if options.shrink is None else options.shrink)
    shipped = None
    if shrink:  # the comparison is what the user runs today: the shipped release's chosen variant
        from .runtime.bundle import load_runner

        shipped = load_runner(app, settings, config=config)
        before = {k: np.asarray(v) for k, v in shipped(data_set.x).items()}
    else:
        before = predict_physical(teacher, app, data_set.x)
    filled = {}
    for t in app.targets:  # pseudo-labels where nothing was measured
        col = data_set.y[t.name].copy()
        pred = before[t.name]
        if t.is_classification:
            col[col < 0] = np.argmax(pred, axis=1)[col < 0]
        else:
            miss = ~np.isfinite(col)
            col[miss] = np.asarray(pred, dtype=np.float32)[miss]
        filled[t.name] = col
    train_lab = Dataset(x=data_set.x[train_idx], y={k: v[train_idx] for k, v in filled.items()})
    val = Dataset(x=data_set.x[val_idx], y={k: v[val_idx] for k, v in filled.items()})
    parts = [train_lab]
    if options.n_sim and not frozen:
        sim = app.simulate(int(options.n_sim), rng=rng, config=config)
        reps = max(1, int(round(0.25 * int(options.n_sim) / len(train_idx))))
        parts = [dataclasses.replace(sim, samples=None, meta={})] + [train_lab] * reps
    train = Dataset.concat(parts)
    sim_check = app.simulate(200, rng=np.random.default_rng(int(options.seed) + 991), config=config)
    recipe = dataclasses.replace(app.recipe(config), epochs=int(options.epochs), lr=float(options.lr),
                                 seed=int(options.seed), patience=max(4, int(options.epochs) // 3))
    sim_before = predict_physical(teacher, app, sim_check.x) if shipped is None else \
        {k: np.asarray(v) for k, v in shipped(sim_check.x).items()}
    theta0 = copy.deepcopy(teacher.module.state_dict())
    # with shrinkage the validation samples only choose the strength: the fit never sees them
    if frozen:  # nothing trained: the report says why (scope)
        tuned = teacher
        shrink_report = {"strength": 0.0, "validation_samples": 0, "shipped_variant_at_0": True, "validation_error": {},
                         "rule": "out of scope: " + str((scope or {}).get("reason", "the labels cannot validate this model"))}
    else:
        tuned = fit(teacher.module, train, train_lab if shrink else val, app, recipe=recipe, norm=teacher.norm,
                    progress=progress, desc=f"{app.name} calibrate")
        shrink_report = None
    if shrink and not frozen:
        val_true = Dataset(x=data_set.x[val_idx], y={k: v[val_idx] for k, v in data_set.y.items()})
        tuned, shrink_report = _shrink(app, theta0, tuned, val_true, origin[val_idx],
                                       {k: v[val_idx] for k, v in before.items()})
    keep_shipped = shrink and shrink_report["strength"] == 0.0
    after = before if keep_shipped else predict_physical(tuned, app, data_set.x)
    sim_after = sim_before if keep_shipped else predict_physical(tuned, app, sim_check.x)

    report = {"config": config, "labelled_samples": len(pairs), "rows": int(len(data_set)),
              "trained_on": 0 if frozen else int(len(np.unique(origin[train_idx]))), "validated_on": 0 if frozen else int(len(np.unique(origin[val_idx]))),
              "held_out": int(len(np.unique(origin[hold]))), "rows_trained_on": int(len(train_idx)),
              "holdout": (f"group {options.holdout_group!r}" if options.holdout_group is not None
                          else f"random {options.holdout_fraction:.0%}"),
              "groups": sorted({g for g in groups if g}), "simulated_mixed_in": 0 if frozen else int(options.n_sim),
              "epochs_run": len(tuned.history), "best_epoch": tuned.best_epoch,
              "options": dataclasses.asdict(options), "shrink": shrink_report, "scope": scope,
              "measured_targets": sorted(t.name for t in app.targets if _measured(t, data_set.y[t.name]).any()),
              "train": {"before": _errors(app, before, data_set, train_idx),
                        "after": _errors(app, after, data_set, train_idx)},
              "simulated_check": {"before": score(app, sim_before, sim_check.y), "after": score(app, sim_after, sim_check.y)}}
    if len(hold):
        report["heldout"] = {"before": _errors(app, before, data_set, hold), "after": _errors(app, after, data_set, hold)}

    root = Path(out_dir) / app.package_name
    folder = root / config
    folder.mkdir(parents=True, exist_ok=True)
    variant, fmt = VARIANT, "fp32"
    if keep_shipped:  # nothing the user's masks support: the release is the shipped chosen model, unchanged
        variant = base_entry["chosen"]
        record = base_entry["variants"][variant]
        fmt = record.get("format", "fp32")
        shutil.copyfile(app.models_dir(settings) / record["file"], folder / f"{variant}.onnx")
        parity = {"ok": True}
    else:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            tmp_path = Path(tmp) / f"{VARIANT}.onnx"
            parity = export_onnx(tuned, app, config, tmp_path, example_x=data_set.x, variant=VARIANT,
                                 extra_metadata={"calibrated_from": base_sha})
            shutil.move(str(tmp_path), folder / f"{VARIANT}.onnx")
    path = folder / f"{variant}.onnx"
    golden = write_golden(app, config, folder, sim_check.x, path, {variant: path},
                          description="simulated inputs and the calibrated model's own outputs on them")
    git = git_commit()

    def change(manifest):
        configs = {c: e for c, e in manifest.get("configs", {}).items() if c in app.configs}
        configs[config] = {
            "chosen": variant, "accurate": variant, "seed": int(options.seed),
            "recipe": {"budget": dataclasses.asdict(app.recipe(config).budget)},
            "variants": {variant: {"file": f"{config}/{variant}.onnx", "sha256": sha256_file(path), "format": fmt,
                                   "size_bytes": path.stat().st_size,
                                   **({} if keep_shipped else
                                      {"params": int(sum(p.numel() for p in tuned.module.parameters()))}),
                                   **_cpu_record(path)}},
            "search": {"variants": {variant: {"within_budget": True}}},
            "golden": golden, "calibration": report, "calibrated_from": {"manifest_sha256": base_sha,
                                                                         "teacher_checkpoint": base_entry.get("teacher_checkpoint")},
            "parity": {k: parity[k] for k in ("max_abs", "max_rel", "ok") if k in parity}}
        return {"app": app.name, "title": f"{app.title} (calibrated)", "preprocessing_version": str(app.preprocessing_version),
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "git_commit": git["commit"], "git_dirty": git["dirty"],
                "configs": {c: configs[c] for c in app.configs if c in configs}}

    update_manifest(root, change)
    verify_release(root)
    report["out"] = str(Path(out_dir))
    report["text"] = _text(app, report)
    return report


def _interpolated(tuned, theta0: dict, a: float):
    """A copy of ``tuned`` whose weights are ``theta0 + a * (tuned - theta0)`` (integer buffers: the tuned ones)."""
    theta1 = tuned.module.state_dict()
    sd = {k: (v0 + a * (theta1[k] - v0)) if v0.is_floating_point() else theta1[k] for k, v0 in theta0.items()}
    module = copy.deepcopy(tuned.module)
    module.load_state_dict(sd)
    return dataclasses.replace(tuned, module=module)


def _sample_errors(app, pred: dict, data: Dataset, origin: np.ndarray, norm: dict) -> np.ndarray:
    """Per source sample (crops of one file pooled): the mean squared error of the measured regression targets
    in units of the target's training spread, plus the error rate of the measured class targets."""
    samples = np.unique(origin)
    err = np.zeros(len(samples))
    for t in app.targets:
        col = np.asarray(data.y[t.name])
        p = np.asarray(pred[t.name])
        for i, k in enumerate(samples):
            rows = origin == k
            if t.is_classification:
                y = col[rows]
                keep = y >= 0
                if keep.any():
                    err[i] += float(np.mean(np.argmax(p[rows], axis=1)[keep] != y[keep]))
                continue
            y = col[rows]
            keep = np.isfinite(y)
            if keep.any():
                sd = float(norm.get(t.name, {}).get("std", 1.0)) or 1.0
                err[i] += float(np.mean(((p[rows][keep] - y[keep]) / sd) ** 2))
    return err


def _shrink(app, theta0: dict, tuned, val: Dataset, origin: np.ndarray, shipped_pred: dict):
    """The interpolation strength the validation samples support (one-standard-error rule, see the module
    docstring) and the model at that strength; ``(model, report)``. Strength 0 is scored with
    ``shipped_pred``, the shipped release's chosen model's outputs on the validation samples."""
    from .export import predict_physical

    errors = {a: _sample_errors(app, shipped_pred if a == 0.0 else
                                predict_physical(_interpolated(tuned, theta0, a), app, val.x), val, origin, tuned.norm)
              for a in SHRINK_GRID}
    base = errors[0.0]
    n = base.size
    supported = []
    for a in SHRINK_GRID[1:]:
        d = errors[a] - base
        se = float(np.std(d, ddof=1) / np.sqrt(n)) if n >= 2 else float("inf")
        if float(np.mean(d)) + se < 0:
            supported.append(a)
    chosen = min(supported, key=lambda a: float(np.mean(errors[a]))) if supported else 0.0
    report = {"strength": float(chosen), "validation_samples": int(n), "shipped_variant_at_0": True,
              "validation_error": {f"{a:g}": float(np.mean(e)) for a, e in errors.items()},
              "rule": "largest validation improvement over the shipped model (strength 0) among the strengths whose "
                      "mean per-sample improvement exceeds one standard error; else 0",
              "note": "weights theta0 + strength * (theta_fitted - theta0); error per validation file: mean squared "
                      "error in units of the target's training sd (+ class error rate)"}
    return _interpolated(tuned, theta0, chosen), report


def _fmt(app, metrics: dict) -> str:
    parts = []
    for name, m in metrics.items():
        t = app.target(name)
        if t.is_classification:
            parts.append(f"{name} accuracy {100 * m['accuracy']:.1f} %")
        else:
            parts.append(f"{name} RMSE {m['rmse']:.4g} {t.unit} (bias {m['bias']:+.3g})")
    return "; ".join(parts) or "no measured target"


def _text(app, r: dict) -> str:
    lines = [f"calibrated {app.name}/{r['config']} on {r['trained_on']} labelled samples "
             f"(+{r['simulated_mixed_in']} simulated; {r['validated_on']} to choose the "
             f"{'strength' if r.get('shrink') else 'epoch'}), "
             f"{r['epochs_run']} epochs; release in {r['out']}"]
    if r.get("scope"):
        # a scope that left labels out says why; one that kept them all only adds a note (leaf-nitrogen's species counts)
        lines.append(f"  {'scope' if r['scope'].get('left_out') else 'note'}: {r['scope'].get('reason')}")
    if r.get("shrink") and r["shrink"].get("validation_samples"):
        s = r["shrink"]
        errs = ", ".join(f"{a} {e:.4g}" for a, e in s["validation_error"].items())
        lines.append(f"  strength {s['strength']:g} (0 = the shipped model unchanged, 1 = fully fitted), chosen on "
                     f"{s['validation_samples']} validation sample(s); their error by strength: {errs}")
    if "heldout" in r:
        lines.append(f"  held out ({r['held_out']} samples, {r['holdout']}), never trained on:")
        lines.append(f"    before: {_fmt(app, r['heldout']['before'])}")
        lines.append(f"    after:  {_fmt(app, r['heldout']['after'])}")
    else:
        lines.append("  no samples held out (--holdout-fraction 0): the errors below are on training samples")
    lines.append(f"  training samples: before {_fmt(app, r['train']['before'])}")
    lines.append(f"                    after  {_fmt(app, r['train']['after'])}")
    s = r["simulated_check"]
    lines.append(f"  simulated check (forgetting): before {_fmt(app, s['before'])}")
    lines.append(f"                                after  {_fmt(app, s['after'])}")
    lines.append(f"  use it: edgeinv {app.name} predict FILE --model {r['out']}")
    return "\n".join(lines)
