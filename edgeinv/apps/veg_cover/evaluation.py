"""Cover error per zone, for the model and both baselines on the same scenes (numpy, edge side).

A zone's error is the absolute difference between its mean estimated and mean true cover: what
matters to the operator (is this zone sparse?), and what the pixel error does not tell (noise that
averages out). Reported as MAE, RMSE and 95th percentile over all zones, plus the pixel MAE and how
often the truth falls within one predicted standard deviation (calibration of the uncertainty).
"""

from __future__ import annotations

import numpy as np

from . import baseline


def zone_means(maps: np.ndarray, *, zone_px: int) -> np.ndarray:
    """(n, H, W) -> (n, H // zone_px, W // zone_px) block means (NaN-aware; partial blocks dropped)."""
    n, h, w = maps.shape
    zh, zw = h // zone_px, w // zone_px
    if zh == 0 or zw == 0:
        return np.nanmean(maps.reshape(n, -1), axis=1)[:, None, None]
    blocks = maps[:, :zh * zone_px, :zw * zone_px].reshape(n, zh, zone_px, zw, zone_px)
    with np.errstate(invalid="ignore"):
        return np.nanmean(blocks, axis=(2, 4))


def zone_errors(pred: np.ndarray, truth: np.ndarray, *, zone_px: int) -> dict:
    """Per-zone absolute error statistics between predicted and true cover maps (n, H, W)."""
    err = np.abs(zone_means(np.asarray(pred, np.float64), zone_px=zone_px)
                 - zone_means(np.asarray(truth, np.float64), zone_px=zone_px)).ravel()
    err = err[np.isfinite(err)]
    pix = np.abs(np.asarray(pred, np.float64) - truth)
    return {"zone_mae": float(err.mean()), "zone_rmse": float(np.sqrt(np.mean(err ** 2))),
            "zone_p95": float(np.percentile(err, 95)), "pixel_mae": float(np.nanmean(pix)), "n_zones": int(err.size)}


def evaluate(outputs: dict, truth: np.ndarray, *, zone_px: int) -> dict:
    """Zone errors of the given cover maps (a model's, or a baseline's in the same layout) and, when they
    carry a standard deviation, how often the truth lies within it. Scores only what it is given: the
    baselines are scored by :func:`evaluate_baselines` (once per data set, not once per model variant)."""
    pred = np.clip(np.asarray(outputs["cover_fraction"], np.float64), 0.0, 1.0)
    report = {"zone_px": int(zone_px), "model": zone_errors(pred, truth, zone_px=zone_px)}
    std = outputs.get("cover_fraction_std")
    if std is not None:
        inside = np.abs(pred - truth) <= np.asarray(std, np.float64)
        report["model"]["within_1std"] = float(np.mean(inside))
    return report


def evaluate_baselines(samples, truth: np.ndarray, *, zone_px: int) -> dict:
    """``{"baseline_<name>": zone errors}`` of every classical method (:data:`baseline.METHODS`) on the samples."""
    return {f"baseline_{name}": zone_errors(np.stack([method(s)["cover_fraction"] for s in samples]), truth,
                                            zone_px=zone_px)
            for name, method in baseline.METHODS.items()}
