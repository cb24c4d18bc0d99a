"""Defect-size trend of one machine: linear and exponential fits and the days left to a threshold.

Spall growth in rolling-contact fatigue accelerates with size, so degradation models commonly use an
exponential law ``L(t) = a exp(b t)`` (Gebraeel et al., "Residual-life distributions from component
degradation signals: a Bayesian approach", IIE Transactions 37 (2005) 543–557) next to a linear
law for slow wear. Both are fitted by least squares (the exponential in log space) to the sizes of
the machine's spall results; the one with the smaller residual in mm predicts when the size reaches
the alarm threshold. Predictions need at least :data:`MIN_POINTS` results spread over at least
:data:`MIN_SPAN_DAYS`; otherwise only the threshold itself can alarm.
"""

from __future__ import annotations

import math

import numpy as np

MIN_POINTS = 3
MIN_SPAN_DAYS = 1.0
MIN_SIZE_MM = 0.05


def trend_forecast(*, days: np.ndarray, sizes_mm: np.ndarray, threshold_mm: float, horizon_days: float) -> dict:
    """Fit the size history and say whether the threshold is crossed or will be within the horizon.

    Parameters
    ----------
    days : measurement times in days (any origin), shape (n,).
    sizes_mm : estimated spall sizes (mm), shape (n,); NaN for results without a size.
    threshold_mm : the alarm size.
    horizon_days : alarm if the fit reaches the threshold within this many days after the last point.

    Returns
    -------
    dict with ``status`` (``"crossed"``, ``"predicted"``, ``"stable"`` or ``"insufficient"``),
    ``model`` (``"linear"``/``"exponential"``/None), ``days_to_threshold`` (None if not reached),
    ``rate_mm_per_day``, ``fit`` (``{"days": [...], "size_mm": [...]}`` for plotting) and ``message``.
    """
    t = np.asarray(days, dtype=float)
    s = np.asarray(sizes_mm, dtype=float)
    ok = np.isfinite(t) & np.isfinite(s)
    t, s = t[ok], s[ok]
    out = {"status": "insufficient", "model": None, "days_to_threshold": None, "rate_mm_per_day": None,
           "fit": None, "threshold_mm": float(threshold_mm), "horizon_days": float(horizon_days)}
    if len(s) and s[np.argmax(t)] >= threshold_mm:
        out.update(status="crossed", days_to_threshold=0.0,
                   message=f"the latest size {s[np.argmax(t)]:.2f} mm is at or above the {threshold_mm:g} mm threshold")
        return out
    if len(s) < MIN_POINTS or np.ptp(t) < MIN_SPAN_DAYS:
        out["message"] = (f"trend needs at least {MIN_POINTS} sized results over {MIN_SPAN_DAYS:g} day(s); "
                          f"have {len(s)} over {np.ptp(t) if len(t) else 0:.2f} days")
        return out
    fits = {}
    a_lin = np.polyfit(t, s, 1)
    fits["linear"] = (a_lin, float(np.sqrt(np.mean((np.polyval(a_lin, t) - s) ** 2))))
    pos = s > MIN_SIZE_MM
    if pos.sum() >= MIN_POINTS:
        a_exp = np.polyfit(t[pos], np.log(s[pos]), 1)
        fits["exponential"] = (a_exp, float(np.sqrt(np.mean((np.exp(np.polyval(a_exp, t[pos])) - s[pos]) ** 2))))
    model = min(fits, key=lambda k: fits[k][1])
    coef, _ = fits[model]
    t_last = float(t.max())
    now = float(np.polyval(coef, t_last)) if model == "linear" else float(np.exp(np.polyval(coef, t_last)))
    rate = float(coef[0]) if model == "linear" else float(coef[0] * now)
    if model == "linear":
        t_hit = (threshold_mm - coef[1]) / coef[0] if coef[0] > 0 else math.inf
    else:
        t_hit = (math.log(threshold_mm) - coef[1]) / coef[0] if coef[0] > 0 else math.inf
    left = max(t_hit - t_last, 0.0) if math.isfinite(t_hit) else None
    grid = np.linspace(float(t.min()), t_last + (min(left, horizon_days) if left is not None else 0.25 * np.ptp(t)), 40)
    curve = np.polyval(coef, grid) if model == "linear" else np.exp(np.polyval(coef, grid))
    out.update(model=model, rate_mm_per_day=rate, days_to_threshold=left,
               fit={"days": grid.tolist(), "size_mm": np.maximum(curve, 0.0).tolist()})
    if left is not None and left <= horizon_days:
        out.update(status="predicted", message=f"{model} trend reaches {threshold_mm:g} mm in about {left:.1f} days")
    else:
        out.update(status="stable", message=(f"{model} trend: {rate:+.3f} mm/day" +
                                             (f", {threshold_mm:g} mm in about {left:.0f} days" if left is not None else "")))
    return out
