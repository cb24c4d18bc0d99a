"""Error metrics per target in the targets' own units, shared by training, search, bench and tests.

Edge side (numpy only). Models and baselines are scored by the same code: regression targets get
RMSE, MAE, bias and R² in physical units (per-pixel targets over all pixels) and, when the model
emits ``<name>_std``, the coverage of its 95 % Gaussian interval; classification targets get
accuracy, macro-F1 and the confusion matrix (rows: truth, columns: prediction).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .errors import InvalidInputError

__all__ = ["score", "regression_metrics", "classification_metrics", "predict_batched", "stack_outputs",
           "error_value"]

Z95 = 1.959963984540054


def regression_metrics(pred, truth, std=None) -> dict:
    """RMSE, MAE, bias (mean of pred - truth), R² and, with ``std``, 95 % interval coverage.

    Non-finite predictions are left out of the figures and counted in ``n_nonfinite``.
    """
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(truth, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise InvalidInputError(f"prediction has {p.size} values, truth has {t.size}")
    ok = np.isfinite(p) & np.isfinite(t)
    out: dict = {"n": int(ok.sum()), "n_nonfinite": int((~ok).sum())}
    if not ok.any():
        out.update(rmse=float("nan"), mae=float("nan"), bias=float("nan"), r2=float("nan"))
        return out
    e = p[ok] - t[ok]
    var = float(np.var(t[ok]))
    out["rmse"] = float(np.sqrt(np.mean(e**2)))
    out["mae"] = float(np.mean(np.abs(e)))
    out["bias"] = float(np.mean(e))
    out["r2"] = float(1.0 - np.mean(e**2) / var) if var > 0 else float("nan")
    if std is not None:
        s = np.asarray(std, dtype=np.float64).ravel()[ok]
        out["coverage95"] = float(np.mean(np.abs(e) <= Z95 * s))
        out["mean_std"] = float(np.mean(s))
    return out


def classification_metrics(pred, truth, n_classes: int) -> dict:
    """Accuracy, macro-F1 and confusion from probabilities ``(n, C)`` or class indices ``(n,)``."""
    p = np.asarray(pred)
    if p.ndim == 2:
        valid = np.all(np.isfinite(p), axis=1)
        labels = np.argmax(np.where(np.isfinite(p), p, -np.inf), axis=1)
    elif p.ndim == 1:
        valid = np.isfinite(p.astype(np.float64))
        labels = np.where(valid, p, -1).astype(np.int64)
    else:
        raise InvalidInputError(f"classification output must be (n, C) or (n,), got shape {p.shape}")
    t = np.asarray(truth).astype(np.int64).ravel()
    if labels.shape != t.shape:
        raise InvalidInputError(f"prediction has {labels.size} rows, truth has {t.size}")
    conf = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(conf, (t[valid], labels[valid]), 1)
    n = int(valid.sum())
    f1 = []
    for c in range(n_classes):
        tp, fp, fn = conf[c, c], conf[:, c].sum() - conf[c, c], conf[c, :].sum() - conf[c, c]
        if tp + fp + fn > 0:
            f1.append(2 * tp / (2 * tp + fp + fn))
    return {"n": n, "n_nonfinite": int((~valid).sum()),
            "accuracy": float(np.trace(conf) / n) if n else float("nan"),
            "f1_macro": float(np.mean(f1)) if f1 else float("nan"),
            "confusion": conf.tolist()}


def score(app, outputs: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per-target metrics of batch ``outputs`` (physical units / probabilities) against truth ``y``.

    Targets absent from ``outputs`` (a baseline that estimates only some of them) are skipped.
    """
    result: dict[str, dict] = {}
    for t in app.targets:
        if t.name not in outputs or t.name not in y:
            continue
        if t.is_classification:
            result[t.name] = classification_metrics(outputs[t.name], y[t.name], len(t.classes))
        else:
            std = outputs.get(f"{t.name}_std") if t.uncertainty else None
            result[t.name] = regression_metrics(outputs[t.name], y[t.name], std)
    return result


def latency_percentiles(ms) -> dict:
    """p50/p95/p99/mean (ms) and the count of a list of timings: the one summary bench and search share."""
    a = np.asarray(ms, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99)),
            "mean": float(a.mean()), "n": int(a.size)}


def error_value(target, metrics: dict) -> float:
    """One 'lower is better' error per target: RMSE (unit) or classification error in points."""
    if target.is_classification:
        return 100.0 * (1.0 - float(metrics["accuracy"]))
    return float(metrics["rmse"])


def predict_batched(runner: Callable, x: np.ndarray, *, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Run ``runner`` over ``x`` in batches and concatenate the outputs."""
    parts: list[dict] = []
    for i in range(0, len(x), max(1, int(batch_size))):
        parts.append(runner(x[i:i + batch_size]))
    if not parts:
        raise InvalidInputError("no samples to run")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def stack_outputs(rows: Sequence[dict[str, np.ndarray]], app=None) -> dict[str, np.ndarray]:
    """Per-sample output dicts (batch axis removed, e.g. from ``app.baseline``) -> batch arrays.

    A row that lacks a key (the method failed for that sample) becomes NaN for that key.
    """
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    out: dict[str, np.ndarray] = {}
    for k in keys:
        shape = next(np.shape(r[k]) for r in rows if k in r)
        out[k] = np.stack([np.asarray(r[k], dtype=np.float32) if k in r else np.full(shape, np.nan, np.float32)
                           for r in rows])
    return out
