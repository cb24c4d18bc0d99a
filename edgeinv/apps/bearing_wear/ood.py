"""Is a recording like the ones the model was trained on? Input checks and a calibrated distance on inputs that transfer.

Two parts, both amplitude-free, shown with every result (``result.ood``):

* **Input checks** (:func:`input_checks`), physical properties no vibration recording of a machine
  has, each with its own message: a **clipped / saturated** signal (at least :data:`CLIP_FRACTION`
  of the samples sit at the recorder's extreme values: an accelerometer signal reaches its peak
  for one sample, not for a plateau), a **flat (white) spectrum** (spectral flatness of the analysed windows'
  summed power in 192 bands above :data:`FLATNESS_MAX`: resonances, the anti-alias filter and shaft lines always
  shape a machine's spectrum; 200 simulated recordings reach 0.84 (Welch's flatness of the same recordings:
  0.85), white noise 0.99), and **one tone carrying** :data:`TONE_SHARE` of the power (a signal generator, not a
  machine). Since preprocessing version 6 every check reads the analysed windows' own spectra
  (``WindowAnalysis.checks``), no transform of its own.
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

A wrong speed or sampling rate leaves a recording-like signal whose inputs stay within the training range;
:func:`speed_check` catches it from the spectrum's shaft-line family instead (flagged, and a named fault's
location marked unreliable), except errors of exactly 2x or 1/2, which a strong 2x line or half orders
cannot be told from. A clear 1x line missing at the given speed is reported as a note (``speed_note``), not
a flag, because 16 % of the simulated recordings have no clear 1x line either.
"""

from __future__ import annotations

import functools

import numpy as np

from . import decision as _decision
from .features import HYPOTHESES, LOW_ORDERS, SCALARS
from .orders import block_background
from .physics import defect_orders

FLAG_QUANTILE = 0.999
CLIP_FRACTION = 1e-3  # >= 0.1 % of the samples within 0.1 % of the range (features.CLIP_TOL) from the max (or the min)
FLATNESS_MAX = 0.85
TONE_SHARE = 0.9

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


@functools.lru_cache(maxsize=4)
def _levels(n: int) -> np.ndarray:
    """``np.linspace(0, 1, n)``: the quantile levels of the distance table (read-only)."""
    out = np.linspace(0, 1, n)
    out.flags.writeable = False
    return out


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
    frac = np.interp(d, q, _levels(len(q)), left=0.0, right=1.0)
    one = len(d) == 1  # one window: its own median, no np.median round trip (issue 13)
    dist = float(d[0] if one else np.median(d))
    return {"score": round(float(frac[0] if one else np.median(frac)), 3), "distance": round(dist, 2), "flag_distance": round(flag_d, 2),
            "flag": bool(dist >= flag_d)}


def input_checks(windows: list[dict]) -> list[dict]:
    """Clipping, flat spectrum, single tone of the analysed windows (``WindowAnalysis.checks``,
    :func:`features.window_checks`): each ``{"check", "value", "limit", "failed", "text"}``. Clipping: the mean
    over the windows of the fraction of samples at a window's extreme; flatness: geometric / arithmetic mean of
    the windows' summed powers in :data:`features.N_FLAT_BANDS` bands; tone: the median over the windows of the
    strongest bin's +-3-bin share of the power (preprocessing version 6: the windows' own spectra; before, a
    Welch density and a Hann-windowed FFT of the first 65 536 samples)."""
    out = []
    clip = float(np.mean([w["clip"] for w in windows])) if len(windows) > 1 else windows[0]["clip"]
    out.append({"check": "clipping", "value": round(clip, 5), "limit": CLIP_FRACTION, "failed": clip >= CLIP_FRACTION,
                "text": f"the signal is clipped: {clip:.2%} of the samples sit at the recorder's extreme value "
                        "(saturated sensor or input range too small) — re-record with a larger range"})
    p = windows[0]["bands"] if len(windows) == 1 else np.sum([w["bands"] for w in windows], axis=0)
    lp = np.log(p + 1e-300)  # np.mean below as its sum / count (the same doubles, without np.mean's machinery)
    flat = float(np.exp(np.add.reduce(lp) / len(lp)) / (np.add.reduce(p) / len(p) + 1e-300))
    out.append({"check": "flat_spectrum", "value": round(flat, 3), "limit": FLATNESS_MAX, "failed": flat >= FLATNESS_MAX,
                "text": f"the spectrum is flat like white noise (flatness {flat:.2f}): no machine vibration "
                        "(resonances, shaft lines) in it — check the sensor and its cable"})
    i = 0 if len(windows) == 1 else int(np.argsort([w["tone"] for w in windows])[len(windows) // 2])  # the median
    # window (upper for even counts)
    share, tone_hz = windows[i]["tone"], windows[i]["tone_hz"]
    out.append({"check": "single_tone", "value": round(share, 3), "limit": TONE_SHARE, "failed": share >= TONE_SHARE,
                "text": f"one tone at {tone_hz:.1f} Hz carries {share:.0%} of the power: "
                        "a signal generator or pick-up, not a machine's vibration"})
    return out


def assess(x: np.ndarray, windows: list[dict], *, speed_source: str | None = None, rpm: float | None = None,
           geometry=None) -> dict:
    """The ``ood`` part of a result: the model-input score, the input checks and the speed check (with ``rpm``) of
    the analysed windows (``WindowAnalysis.checks``), the flag and its text."""
    out = score(x) if x is not None else {"score": None, "distance": None, "flag": False}
    checks = input_checks(windows)
    failed = [c for c in checks if c["failed"]]
    out["checks"] = {c["check"]: {k: (bool(v) if k == "failed" else v) for k, v in c.items() if k not in ("check", "text")}
                     for c in checks}
    flag = bool(out.get("flag")) or bool(failed)
    reasons = [c["text"] for c in failed]
    if rpm is not None and not failed:
        sc = speed_check(windows, rpm=rpm, geometry=geometry)
        out["speed_check"] = {k: v for k, v in sc.items() if k != "text"}
        if sc["disagrees"]:
            flag = True
            reasons.append(sc["text"])
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


# ---- speed / sampling-rate consistency (issue 10: a wrong fs or rpm must not give a confident wrong location) ------
SPEED_RANGE = (0.35, 2.9)  # candidate shaft rates, x the given one (covers a speed off by 1.5x or 0.6x, fs off by 2x)
SPEED_STEP = 0.0025  # relative step of the candidate grid
SPEED_HARMONICS = 5
SPEED_FAMILY_LINES = 3  # the weakest three of the five lines make the family's score
SPEED_AGREE = 0.03  # a family within +-3 % of the given speed confirms it (the 1x refinement searches +-2 %)
SPEED_MARGIN_DB = 6.0  # default; data/calibration.json "speed_margin_db" overrides it (simulations, see speed_check)
assert SPEED_RANGE[1] * (SPEED_HARMONICS + 0.5) <= LOW_ORDERS  # the windows keep the spectrum the search reads
assert (SPEED_HARMONICS, SPEED_FAMILY_LINES) == (5, 3)  # _weakest_three_of_five


def _running_max(h: np.ndarray, half: int) -> np.ndarray:
    """The maximum over +-``half`` bins, edges repeated (scipy.ndimage's ``maximum_filter1d``, mode "nearest"; the
    same values: a maximum is exact, whatever the order; issue 13, stop 25: no scipy.ndimage call)."""
    if half == 0:
        return h
    n = len(h)
    padded = np.concatenate((np.full(half, h[0]), h, np.full(half, h[-1])))
    out = padded[:n].copy()
    for s in range(1, 2 * half + 1):
        np.maximum(out, padded[s:s + n], out=out)
    return out


@functools.lru_cache(maxsize=1)
def _ratios() -> np.ndarray:
    """The candidate shaft rates / the given one (a fixed grid, read-only)."""
    r = np.exp(np.arange(np.log(SPEED_RANGE[0]), np.log(SPEED_RANGE[1]), SPEED_STEP))
    r.flags.writeable = False
    return r


def _family_take(f_g: float, df: float, n_h: int, rows: np.ndarray | None = None) -> tuple[tuple[int, ...], np.ndarray]:
    """Per harmonic k = 1..5 the running-maximum half-width (a line within +-0.4 %, in bins; 0 where a bin is wider:
    windows of 32 revolutions have bins of 1/32 order, so k = 1..3 read their own bin, 4 and 5 +-1 bin): the distinct
    half-widths and, per harmonic and candidate (``rows`` of the grid, all if None), the position of the bin of k x
    the candidate rate in the running maxima of those half-widths laid end to end."""
    halves = tuple(int(round(0.004 * k * f_g / df)) for k in range(1, SPEED_HARMONICS + 1))
    distinct = tuple(sorted(set(halves)))
    k = np.arange(1, SPEED_HARMONICS + 1, dtype=float)[:, None]
    ratios = _ratios() if rows is None else _ratios()[rows]
    idx = np.minimum(np.round(k * ratios * f_g / df).astype(int), n_h - 1)
    idx += np.array([distinct.index(half) * n_h for half in halves])[:, None]
    return distinct, idx


def shaft_family_scores(windows: list[dict], *, rpm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score of a shaft-harmonic family (height in dB over the local median spectrum of the weakest three of lines
    1..5) at every candidate shaft rate ``SPEED_RANGE`` x the given one: (candidate rates / given rate, scores,
    height of each candidate's own 1x line). The spectrum is the sum of the analysed windows' power spectra below
    :data:`features.LOW_ORDERS` (``WindowAnalysis.checks["low"]``; windows of 32 revolutions: bins of 1/32 order;
    preprocessing version 6: before, a Hann-windowed FFT of the first 8 s)."""
    f_g, df, h = _line_heights(windows, rpm=rpm)
    ratios = _ratios()
    distinct, flat = _family_take(f_g, df, len(h))
    heights = _side_by_side_maxima(h, distinct)[flat]
    # a family needs most of its lines: the mean of the weakest three of five (one strong tone — hum, a gear
    # mesh — that one harmonic of a candidate happens to hit does not make a shaft family)
    return ratios, _weakest_three_of_five(heights), heights[0]


def _line_heights(windows: list[dict], *, rpm: float) -> tuple[float, float, np.ndarray]:
    """(given shaft rate, bin width, height in dB over the local median of each bin below the search's top) of the
    windows' summed low spectrum: what :func:`shaft_family_scores` reads the lines from."""
    f_g = rpm / 60.0
    df = windows[0]["df"]
    spec = windows[0]["low"] if len(windows) == 1 else np.sum([w["low"] for w in windows], axis=0)
    k_max = min(int(SPEED_RANGE[1] * f_g * (SPEED_HARMONICS + 0.5) / df) + 2, len(spec))
    spec = spec[:k_max]
    db = 10.0 * np.log10(spec + 1e-30 * (spec.max() + 1e-300))
    bg = block_background(db, 2 * max(int(0.25 * f_g / df), 5) + 1)  # blocks of ~1/2 order (a running median before)
    return f_g, df, np.clip(db - bg, 0.0, 40.0)


def _side_by_side_maxima(h: np.ndarray, distinct: tuple[int, ...]) -> np.ndarray:
    """The running maxima of every half-width in use, side by side (:func:`_family_take`'s positions index them; each
    harmonic's bins are taken from its own half-width's, issue 13)."""
    return np.concatenate([_running_max(h, half) for half in distinct])


@functools.lru_cache(maxsize=64)  # a gateway's machines (the bench's stream: 50)
def _family_take_read(f_g: float, df: float, n_h: int, geometry):
    """:func:`_family_take` of only the candidates :func:`speed_check` reads (:func:`_read_candidates`), with those
    candidates (indices into the grid) and which of them are near the given speed / left out (read-only; kept per
    speed, resolution and length; issue 13, stop 29: only the read candidates' bins are computed, the rest per bearing)."""
    rows, near, left_out = _read_candidates(geometry)
    distinct, flat = _family_take(f_g, df, n_h, rows)
    flat.flags.writeable = False
    return distinct, flat, rows, near, left_out


@functools.lru_cache(maxsize=32)
def _read_candidates(geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates :func:`speed_check` reads (:func:`_given_and_explained`; all if it reads any) and which of them
    are near the given speed / left out (read-only, kept per bearing)."""
    near, left_out, rows = _given_and_explained(geometry)
    rows = np.arange(len(near)) if rows is None else rows
    out = (rows, near[rows], left_out[rows])
    for arr in out:
        arr.flags.writeable = False
    return out


_SORT5 = ((0, 1), (3, 4), (2, 4), (2, 3), (0, 3), (0, 2), (1, 4), (1, 3), (1, 2))  # a sorting network of 5


def _weakest_three_of_five(h: np.ndarray) -> np.ndarray:
    """The mean of the three smallest of the five rows of ``h`` per column, as ``np.partition(h.T, 2, axis=1)[:, :3]
    .sum(axis=1) / 3`` gives it (the three ascending, summed left to right: the same doubles, tested), by a sorting
    network of elementwise minima and maxima (issue 13, stop 25: a partition per candidate cost ~2x more, and its
    order of the three is not fixed by numpy across instruction sets; the network's is). Finite values only."""
    r = list(h)
    for i, j in _SORT5:
        lo = np.minimum(r[i], r[j])
        r[j] = np.maximum(r[i], r[j])
        r[i] = lo
    return ((r[0] + r[1]) + r[2]) / 3


def _explained(ratios: np.ndarray, geometry) -> np.ndarray:
    """:func:`_explained_at`, kept per bearing for the fixed candidate grid."""
    if ratios is _ratios():  # the fixed grid: kept per bearing (issue 13)
        return _explained_grid(geometry)
    return _explained_at(ratios, geometry)


@functools.lru_cache(maxsize=32)
def _explained_grid(geometry) -> np.ndarray:
    near = _explained_at(_ratios(), geometry)
    near.flags.writeable = False
    return near


def _explained_at(ratios: np.ndarray, geometry) -> np.ndarray:
    """Candidate rates the given speed already explains: its harmonics and sub-harmonics (2x, 3x, 1/2, 1/3: a strong
    2x or half orders are misalignment and looseness, and cannot be told from a 2x error of fs or speed) and the
    multiples of the bearing's defect orders (a fault's impacts — cage, ball spin, race passes — put a comb at
    every multiple of their rate into the spectrum: fault lines, not shaft lines)."""
    near = np.zeros(len(ratios), dtype=bool)
    ref = [1 / 3, 0.5, 2.0, 3.0]
    if geometry is not None:  # a fault's impacts put a comb at every multiple of its order into the spectrum
        o = defect_orders(geometry=geometry)
        ref += [m * o[k] for k in ("ftf", "bsf", "bpfo", "bpfi") for m in range(1, 9) if m * o[k] < SPEED_RANGE[1] * 1.05]
    for m in ref:
        near |= np.abs(ratios / m - 1.0) <= SPEED_AGREE
    return near


@functools.lru_cache(maxsize=32)
def _given_and_explained(geometry) -> tuple[np.ndarray, np.ndarray]:
    """Candidates within :data:`SPEED_AGREE` of the given speed, those or the ones it explains (:func:`_explained`),
    and the candidates :func:`speed_check` reads, on the fixed grid (read-only, kept per bearing)."""
    ratios = _ratios()
    near = np.abs(ratios - 1.0) <= SPEED_AGREE
    left_out = near | _explained(ratios, geometry)
    # the candidates speed_check reads: near the given speed or not left out (all if every one is left out: then the
    # tie search below reads any)
    rows = np.flatnonzero(near | ~left_out) if (~left_out).any() else None
    for a in (near, left_out, rows):
        if a is not None:
            a.flags.writeable = False
    return near, left_out, rows


def speed_check(windows: list[dict], *, rpm: float, geometry=None, margin_db: float | None = None) -> dict:
    """Does the spectrum's shaft-harmonic family sit at the given speed?

    The strongest family (lines 1..5) over 0.35–2.9 x the given speed, leaving out rates the given speed explains
    (:func:`_explained`), is compared with the best one within +-3 % of the given speed; when it stands
    ``margin_db`` higher, the speed — or the sampling rate, which scales every frequency the same way (orders
    depend only on fs/rpm, so the two cannot be told apart) — is off, and every fault location, read at orders of
    the given speed, is unreliable. The recorder's anti-alias roll-off cannot check fs: it sits at the same
    fraction of the sampling rate whatever rate is declared. Errors of exactly 2x or 1/2 are not caught (see
    :func:`_explained`). ``windows``: the analysed windows' ``checks`` (:func:`features.window_checks`; for a
    signal alone, :func:`features.spectral_windows`).
    """
    if margin_db is None:
        margin_db = float(_decision.calibration().get("speed_margin_db", SPEED_MARGIN_DB))
    # the family scores (:func:`shaft_family_scores`'s) of only the candidates read below (each candidate's score is
    # its own): those near the given speed or not left out, and all when every one is left out
    f_g, df, h = _line_heights(windows, rpm=rpm)
    distinct, flat, rows, near, left_out = _family_take_read(f_g, df, len(h), geometry)
    score = _weakest_three_of_five(_side_by_side_maxima(h, distinct)[flat])
    s_given = float(score[near].max())
    other = np.where(left_out, -np.inf, score)
    # the middle of the first run of equal best scores: with bins of 1/32 order neighbouring candidates read the same
    # bins, and the first of them sits up to half a bin below the line
    tied = rows[np.flatnonzero(other >= other.max() - 1e-9)]
    gaps = np.diff(tied) > 1
    run = tied[: int(np.argmax(gaps)) + 1] if gaps.any() else tied
    i = int(run[len(run) // 2])
    j = int(np.searchsorted(rows, i))  # its position among the read candidates
    s_other, r_other = float(score[j]), float(_ratios()[i])
    disagrees = bool(s_other - s_given >= margin_db)
    out = {"given_rpm": round(float(rpm), 1), "family_at_given_db": round(s_given, 1),
           "best_other_rpm": round(r_other * rpm, 1), "family_at_other_db": round(s_other, 1),
           "margin_db": round(margin_db, 1), "disagrees": disagrees}
    if disagrees:
        out["text"] = (f"the shaft-line family says ~{r_other * rpm:.0f} rpm ({s_other:.0f} dB over the background), "
                       f"not the given {rpm:.0f} rpm ({s_given:.0f} dB): the speed or the sampling rate is off by "
                       f"~{r_other:.2f}x — check both (fault locations are read at orders of the given speed)")
    return out
