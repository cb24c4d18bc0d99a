"""Is a recording like the ones the model was trained on? Input checks and a calibrated distance on inputs that transfer.

Two parts, both amplitude-free, shown with every result (``result.ood``):

* **Input checks** (:func:`input_checks`), physical properties no vibration recording of a machine
  has, each with its own message: a **clipped / saturated** signal (at least :data:`CLIP_FRACTION`
  of the samples sit at the recorder's extreme values: an accelerometer signal reaches its peak
  for one sample, not for a plateau), a **flat (white) spectrum** (Welch spectral flatness above
  :data:`FLATNESS_MAX`: resonances, the anti-alias filter and shaft lines always shape a machine's
  spectrum; simulated recordings reach 0.54, the 42 real rig recordings 0.66, white noise 1.0), and
  **one tone carrying** :data:`TONE_SHARE` of the power (a signal generator, not a machine).
* **Distance of the model inputs from the simulated training windows** (:func:`score`): a robust
  Mahalanobis distance of the summary of :func:`decision.summary_features` (scalars, peak and
  median of the fault views, early autocorrelation) with two changes that make it measure
  "unlike the training data" rather than "unlike a typical simulation":

  - features that measure **fault strength** (kurtosis, crest, impulse and shape factors, the
    largest spectral kurtosis, envelope peak, peak and median of every fault view) count only
    when they are *weaker* than simulated (a one-sided, censored z): real spalls are more
    impulsive, with denser and stronger line families, than most simulations; that is more of
    the evidence the model was trained to read, and every named fault is checked against its own
    envelope lines (:mod:`.decision`), so it is no reason to distrust the call;
  - **skewness** is left out: its sign and size depend on the sensor and its mounting (real rig
    recordings reach skewness z = 12 where the simulator's symmetric impulse responses give ~0),
    a simulator gap (``docs/apps/bearing_wear.md``, OOD section).

  The score is the fraction of simulated training windows closer than the recording (median over
  its windows); the flag fires beyond the :data:`FLAG_QUANTILE` quantile of *held-out* simulated
  windows (``flag_distance`` in ``data/calibration.json``, :mod:`.calibrate`), i.e. beyond
  essentially every training window: with the old 99 % threshold one simulated window in a
  hundred was itself "unlike anything the model was trained on", and real recordings, which
  differ from the simulator mildly in many inputs at once, were flagged 9 times in 10.

What is not caught: a wrong speed or sampling rate that still leaves a recording-like signal (the
inputs of a real recording analysed at 0.6x or 1.5x its speed stay within the training range);
a clear 1x line missing at the given speed is reported as a note (``speed_note``), not a flag,
because 16 % of the simulated recordings have no clear 1x line either.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft as sfft

from . import decision as _decision
from .features import HYPOTHESES, SCALARS, welch_psd
from .orders import hann

FLAG_QUANTILE = 0.999
CLIP_FRACTION = 1e-3  # >= 0.1 % of the samples within 0.1 % of the range from the max (or the min)
CLIP_TOL = 1e-3
FLATNESS_MAX = 0.85
TONE_SHARE = 0.9
CHECK_SAMPLES = 1 << 16  # spectral checks read the first 65 536 samples (1.3 s at 51.2 kHz, 5.5 s at 12 kHz)

SUMMARY_NAMES = tuple(SCALARS) + tuple(f"{h}_{c}_{s}" for h in HYPOTHESES for c in ("band", "energy")
                                       for s in ("max", "median")) + ("acf_early",)
EXCLUDED = ("skewness",)
STRONG_SIDE = ("log_kurtosis", "log_crest", "log_impulse", "log_shape", "log_sk_max", "log_env_peak") + tuple(
    n for n in SUMMARY_NAMES if n.endswith("_max") or n.endswith("_median"))
KEEP = np.array([i for i, n in enumerate(SUMMARY_NAMES) if n not in EXCLUDED])
CENSOR = np.array([SUMMARY_NAMES[i] in STRONG_SIDE for i in KEEP])


def summary(x: np.ndarray) -> np.ndarray:
    """The summary of model inputs ``(n, 18, 256)`` the score uses -> ``(n, len(KEEP))``."""
    return _decision.summary_features(x)[:, KEEP]


def _z(f: np.ndarray, med: np.ndarray, mad: np.ndarray) -> np.ndarray:
    z = (f - med) / mad
    z[:, CENSOR] = np.minimum(z[:, CENSOR], 0.0)  # stronger fault evidence than simulated is not "unlike"
    return z


def distances(f: np.ndarray, med, mad, prec) -> np.ndarray:
    z = _z(f, med, mad)
    return np.sqrt(np.maximum(np.sum((z @ prec) * z, axis=1), 0.0))


def fit(x_fit: np.ndarray, x_held: np.ndarray, *, shrink: float = 0.1) -> dict:
    """Robust centre/scale and shrunk precision on ``x_fit``; distance quantiles; the flag distance from ``x_held``."""
    f = summary(x_fit)
    med = np.median(f, axis=0)
    mad = np.maximum(np.median(np.abs(f - med), axis=0) * 1.4826, 0.1 * np.std(f, axis=0)) + 1e-3
    z = _z(f, med, mad)
    cov = np.cov(z, rowvar=False)
    cov = (1 - shrink) * cov + shrink * np.diag(np.diag(cov)) + 1e-6 * np.eye(len(cov))
    prec = np.linalg.inv(cov)
    d = distances(f, med, mad, prec)
    d_held = distances(summary(x_held), med, mad, prec)
    return {"features": [SUMMARY_NAMES[i] for i in KEEP], "censored": [SUMMARY_NAMES[i] for i in KEEP[CENSOR]],
            "median": med.tolist(), "mad": mad.tolist(), "precision": prec.tolist(),
            "quantiles": np.quantile(d, np.linspace(0, 1, 201)).tolist(),
            "flag_quantile": FLAG_QUANTILE, "flag_distance": float(np.quantile(d_held, FLAG_QUANTILE)),
            "n_fit": int(len(f)), "n_held": int(len(d_held)),
            "held_flagged": float(np.mean(d_held >= np.quantile(d_held, FLAG_QUANTILE)))}


@functools.lru_cache(maxsize=1)
def _shipped():
    st = _decision.calibration().get("ood") or {}
    if "flag_distance" not in st or len(st.get("median", [])) != len(KEEP):
        return None
    return tuple(np.asarray(st[k], dtype=float) for k in ("median", "mad", "precision", "quantiles")) + (float(st["flag_distance"]),)


def score(x: np.ndarray, stats: dict | None = None) -> dict:
    """Score (fraction of training windows closer, median over windows), distance and the flag of model inputs."""
    if stats is None:
        shipped = _shipped()
        if shipped is None:
            return {"score": None, "distance": None, "flag": False}
        med, mad, prec, q, flag_d = shipped
    else:
        med, mad, prec, q = (np.asarray(stats[k], dtype=float) for k in ("median", "mad", "precision", "quantiles"))
        flag_d = float(stats["flag_distance"])
    d = distances(summary(np.asarray(x)), med, mad, prec)
    frac = np.interp(d, q, np.linspace(0, 1, len(q)), left=0.0, right=1.0)
    dist = float(np.median(d))
    return {"score": round(float(np.median(frac)), 3), "distance": round(dist, 2), "flag_distance": round(flag_d, 2),
            "flag": bool(dist >= flag_d)}


def input_checks(signal, *, fs_hz: float) -> list[dict]:
    """Clipping, flat spectrum, single tone: each ``{"check", "value", "limit", "failed", "text"}``."""
    x = np.asarray(signal, dtype=float)
    x = x - float(np.mean(x))
    out = []
    hi, lo = float(x.max()), float(x.min())
    rng = hi - lo
    clip = max(float(np.mean(x >= hi - CLIP_TOL * rng)), float(np.mean(x <= lo + CLIP_TOL * rng))) if rng > 0 else 1.0
    out.append({"check": "clipping", "value": round(clip, 5), "limit": CLIP_FRACTION, "failed": clip >= CLIP_FRACTION,
                "text": f"the signal is clipped: {clip:.2%} of the samples sit at the recorder's extreme value "
                        "(saturated sensor or input range too small) — re-record with a larger range"})
    xs = x[:CHECK_SAMPLES]
    nper = min(1024, len(xs))
    p = welch_psd(xs, fs_hz=fs_hz, nperseg=nper)  # = scipy.signal.welch(...)[1], from batched FFTs (issue 13)
    p = p[1:]
    flat = float(np.exp(np.mean(np.log(p + 1e-300))) / (np.mean(p) + 1e-300))
    out.append({"check": "flat_spectrum", "value": round(flat, 3), "limit": FLATNESS_MAX, "failed": flat >= FLATNESS_MAX,
                "text": f"the spectrum is flat like white noise (flatness {flat:.2f}): no machine vibration "
                        "(resonances, shaft lines) in it — check the sensor and its cable"})
    xt = xs[:sfft.prev_fast_len(len(xs), real=True)]  # a 5-smooth length (a prime one, e.g. a 12 821-sample window,
    X = np.square(np.abs(sfft.rfft(xt * hann(len(xt)))))  # costs ~10x; issue 13); hann: np.hanning kept per length
    total = float(X[1:].sum()) + 1e-300
    k = int(np.argmax(X[1:])) + 1
    share = float(X[max(k - 3, 1):k + 4].sum()) / total
    out.append({"check": "single_tone", "value": round(share, 3), "limit": TONE_SHARE, "failed": share >= TONE_SHARE,
                "text": f"one tone at {k * fs_hz / len(xt):.1f} Hz carries {share:.0%} of the power: "
                        "a signal generator or pick-up, not a machine's vibration"})
    return out


def assess(x: np.ndarray, signal, *, fs_hz: float, speed_source: str | None = None) -> dict:
    """The ``ood`` part of a result: the model-input score, the input checks, the flag and its text."""
    out = score(x) if x is not None else {"score": None, "distance": None, "flag": False}
    checks = input_checks(signal, fs_hz=fs_hz)
    failed = [c for c in checks if c["failed"]]
    out["checks"] = {c["check"]: {k: (bool(v) if k == "failed" else v) for k, v in c.items() if k not in ("check", "text")}
                     for c in checks}
    flag = bool(out.get("flag")) or bool(failed)
    reasons = [c["text"] for c in failed]
    if out.get("flag"):
        reasons.append("the model's inputs lie beyond every simulated training recording")
    if flag:
        text = "unlike anything the model was trained on — check by hand: " + "; ".join(reasons)
    elif out.get("score") is not None:
        text = f"within the training range ({out['score']:.0%} of training windows are closer)"
    else:
        text = "no OOD statistics shipped"
    out["flag"], out["text"], out["reasons"] = flag, text, reasons
    if speed_source == "as given":
        out["speed_note"] = "no clear 1x line at the given speed: check the speed and the sampling rate"
    return out
