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

A wrong speed or sampling rate leaves a recording-like signal whose inputs stay within the training range;
:func:`speed_check` catches it from the spectrum's shaft-line family instead (flagged, and a named fault's
location marked unreliable), except errors of exactly 2x or 1/2, which a strong 2x line or half orders
cannot be told from. A clear 1x line missing at the given speed is reported as a note (``speed_note``), not
a flag, because 16 % of the simulated recordings have no clear 1x line either.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft as sfft

from . import decision as _decision
from .features import HYPOTHESES, SCALARS, welch_psd
from .physics import defect_orders
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
    one = len(d) == 1  # one window: its own median, no np.median round trip (issue 13)
    dist = float(d[0] if one else np.median(d))
    return {"score": round(float(frac[0] if one else np.median(frac)), 3), "distance": round(dist, 2), "flag_distance": round(flag_d, 2),
            "flag": bool(dist >= flag_d)}


def _centred(signal, n: int | None = None) -> np.ndarray:
    """The first ``n`` samples (all if None) in float64 with their mean removed (shared by the checks, issue 13)."""
    x = np.array(signal if n is None else signal[:n], dtype=float)  # a copy: centred in place, no second array
    x -= float(np.mean(x))
    return x


def input_checks(signal, *, fs_hz: float, centred: np.ndarray | None = None, keep: dict | None = None) -> list[dict]:
    """Clipping, flat spectrum, single tone: each ``{"check", "value", "limit", "failed", "text"}``.
    ``centred``: :func:`_centred` of ``signal`` when the caller has it already; ``keep`` receives the single-tone
    check's power spectrum and how many samples it read (``tone_power``, ``tone_samples``)."""
    x = _centred(signal) if centred is None else centred
    out = []
    hi, lo = float(x.max()), float(x.min())
    rng = hi - lo
    n = len(x)  # counts / n: the same doubles as np.mean of the boolean arrays, without their float conversion
    clip = max(int(np.count_nonzero(x >= hi - CLIP_TOL * rng)) / n,
               int(np.count_nonzero(x <= lo + CLIP_TOL * rng)) / n) if rng > 0 else 1.0  # Python floats, as before
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
    if keep is not None:
        keep.update(tone_power=X, tone_samples=len(xt))
    total = float(X[1:].sum()) + 1e-300
    k = int(np.argmax(X[1:])) + 1
    share = float(X[max(k - 3, 1):k + 4].sum()) / total
    out.append({"check": "single_tone", "value": round(share, 3), "limit": TONE_SHARE, "failed": share >= TONE_SHARE,
                "text": f"one tone at {k * fs_hz / len(xt):.1f} Hz carries {share:.0%} of the power: "
                        "a signal generator or pick-up, not a machine's vibration"})
    return out


def assess(x: np.ndarray, signal, *, fs_hz: float, speed_source: str | None = None, rpm: float | None = None,
           geometry=None, centred: np.ndarray | None = None) -> dict:
    """The ``ood`` part of a result: the model-input score, the input checks, the speed check (with ``rpm``), the
    flag and its text. ``centred``: :func:`_centred` of ``signal`` when the caller has it."""
    out = score(x) if x is not None else {"score": None, "distance": None, "flag": False}
    centred = _centred(signal) if centred is None else centred
    kept: dict = {}
    checks = input_checks(signal, fs_hz=fs_hz, centred=centred, keep=kept)
    failed = [c for c in checks if c["failed"]]
    out["checks"] = {c["check"]: {k: (bool(v) if k == "failed" else v) for k, v in c.items() if k not in ("check", "text")}
                     for c in checks}
    flag = bool(out.get("flag")) or bool(failed)
    reasons = [c["text"] for c in failed]
    if rpm is not None and not failed:
        # the speed check reads the first SPEED_SECONDS: the same centred samples when the recording is no longer, and
        # the tone check's very spectrum when that read them all at a 5-smooth length (issue 13: one FFT, not two)
        whole = len(centred) <= int(SPEED_SECONDS * fs_hz)
        same = whole and kept.get("tone_samples") == len(centred) == sfft.next_fast_len(len(centred), real=True)
        sc = speed_check(signal, fs_hz=fs_hz, rpm=rpm, geometry=geometry, centred=centred if whole else None,
                         power=kept["tone_power"] if same else None)
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
SPEED_SECONDS = 8.0


def _running(h: np.ndarray, half: int, fn) -> np.ndarray:
    """``fn`` (np.median or np.max) over +-``half`` bins, edges repeated: scipy.ndimage's running filters (mode
    "nearest" = edge padding; the same values as ``fn`` over a sliding window, 4-8x faster; issue 13)."""
    from scipy.ndimage import maximum_filter1d, median_filter

    if fn is np.median:
        return median_filter(h, size=2 * half + 1, mode="nearest")
    if fn is np.max:
        return maximum_filter1d(h, size=2 * half + 1, mode="nearest")
    raise ValueError(f"_running: np.median or np.max, not {fn!r}")


@functools.lru_cache(maxsize=1)
def _ratios() -> np.ndarray:
    """The candidate shaft rates / the given one (a fixed grid, read-only)."""
    r = np.exp(np.arange(np.log(SPEED_RANGE[0]), np.log(SPEED_RANGE[1]), SPEED_STEP))
    r.flags.writeable = False
    return r


@functools.lru_cache(maxsize=16)
def _family_plan(f_g: float, df: float, n_h: int) -> tuple[tuple[int, ...], np.ndarray]:
    """Per harmonic k = 1..5: the running-maximum half-width (a line within +-0.4 %, at least +-1 bin) and the bin of
    k x every candidate rate — kept per (speed, resolution, length): a machine's recordings repeat them (issue 13)."""
    halves = tuple(max(int(round(0.004 * k * f_g / df)), 1) for k in range(1, SPEED_HARMONICS + 1))
    k = np.arange(1, SPEED_HARMONICS + 1, dtype=float)[:, None]
    idx = np.minimum(np.round(k * _ratios() * f_g / df).astype(int), n_h - 1)
    idx.flags.writeable = False
    return halves, idx


LOW_RFFT_MIN = 1 << 16  # below this length the whole FFT is cheap (and cache-resident): computed as is
LOW_RFFT_SPLITS = (16, 15, 12, 10, 9, 8, 6, 5, 4, 3, 2)


def low_rfft(x: np.ndarray, nfft: int, k_max: int) -> np.ndarray:
    """``np.fft.rfft(x, n=nfft)[:k_max]`` (the speed check reads only its first ``k_max`` bins, < 0.4 % of them).

    For long transforms (issue 13), by one decimation-in-time step: with ``nfft = P * Q``, bin ``k`` is
    ``sum_p exp(-2 pi i p k / nfft) Y_p[k]``, ``Y_p`` the Q-point rfft of every P-th sample from ``p`` — P short,
    cache-resident transforms and P x k_max products instead of one transform of the whole (1.9 -> 0.6 ms for
    153 600 samples). Equal to the whole transform within ~1e-15 of its largest bin (test), not bit-equal."""
    if nfft < LOW_RFFT_MIN:
        return np.fft.rfft(x, n=nfft)[:k_max]  # numpy's pocketfft: = scipy's, faster padded
    split = next((p for p in LOW_RFFT_SPLITS if nfft % p == 0 and nfft // p // 2 + 1 >= k_max), None)
    if split is None:
        return np.fft.rfft(x, n=nfft)[:k_max]
    q = nfft // split
    xp = np.zeros(nfft)
    xp[: len(x)] = x
    y = sfft.rfft(xp.reshape(q, split).T, axis=1)[:, :k_max]  # row p: the samples p, p + P, p + 2P, ...
    return np.einsum("pk,pk->k", _low_rfft_twiddles(nfft, split, k_max), y)


@functools.lru_cache(maxsize=8)
def _low_rfft_twiddles(nfft: int, split: int, k_max: int) -> np.ndarray:
    """``exp(-2 pi i p k / nfft)``, p < split, k < k_max, from exactly reduced integer phases (read-only)."""
    pk = np.outer(np.arange(split, dtype=np.int64), np.arange(k_max, dtype=np.int64)) % nfft
    w = np.exp(-2j * np.pi * (pk / nfft))
    w.flags.writeable = False
    return w


def shaft_family_scores(signal, *, fs_hz: float, rpm: float, centred: np.ndarray | None = None,
                        power: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score of a shaft-harmonic family (height in dB over the local median spectrum of the weakest three of lines
    1..5) at every
    candidate shaft rate ``SPEED_RANGE`` x the given one: (candidate rates / given rate, scores, height of each
    candidate's own 1x line). ``centred``: :func:`_centred` of the first :data:`SPEED_SECONDS`, ``power``: its
    Hann-windowed power spectrum (length ``next_fast_len``), when the caller has them (:func:`assess`)."""
    f_g = rpm / 60.0
    x = _centred(signal, int(SPEED_SECONDS * fs_hz)) if centred is None else centred
    nfft = sfft.next_fast_len(len(x), real=True)
    df = fs_hz / nfft
    k_max = min(int(SPEED_RANGE[1] * f_g * (SPEED_HARMONICS + 0.5) / df) + 2, nfft // 2 + 1)
    if power is not None and len(power) == nfft // 2 + 1:  # the tone check's spectrum of the same samples (assess)
        spec = power[:k_max]
    else:
        spec = np.square(np.abs(low_rfft(x * hann(len(x)), nfft, k_max)))
    db = 10.0 * np.log10(spec + 1e-30 * (spec.max() + 1e-300))
    bg = _running(db, max(int(0.25 * f_g / df), 5), np.median)
    h = np.clip(db - bg, 0.0, 40.0)
    ratios = _ratios()
    halves, idx = _family_plan(f_g, df, len(h))
    if len(set(halves)) == 1:  # one window of 32 revolutions: +-1 bin for every k, one running maximum (issue 13)
        heights = _running(h, halves[0], np.max)[idx]
    else:
        peaks = {half: _running(h, half, np.max) for half in set(halves)}
        heights = np.stack([peaks[half][i] for half, i in zip(halves, idx)])
    # a family needs most of its lines: the mean of the weakest three of five (one strong tone — hum, a gear
    # mesh — that one harmonic of a candidate happens to hit does not make a shaft family)
    # sorted per candidate on a contiguous (candidates, 5) copy (a strided sort along axis 0 cost ~3x), the weakest
    # three summed in the same order as np.mean over axis 0 did: bit-equal (issue 13)
    low = np.sort(heights.T, axis=1)
    score = low[:, 0] + low[:, 1]
    for j in range(2, SPEED_FAMILY_LINES):
        score += low[:, j]
    return ratios, score / SPEED_FAMILY_LINES, heights[0]


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


def speed_check(signal, *, fs_hz: float, rpm: float, geometry=None, margin_db: float | None = None,
                centred: np.ndarray | None = None, power: np.ndarray | None = None) -> dict:
    """Does the spectrum's shaft-harmonic family sit at the given speed?

    The strongest family (lines 1..5) over 0.35–2.9 x the given speed, leaving out rates the given speed explains
    (:func:`_explained`), is compared with the best one within +-3 % of the given speed; when it stands
    ``margin_db`` higher, the speed — or the sampling rate, which scales every frequency the same way (orders
    depend only on fs/rpm, so the two cannot be told apart) — is off, and every fault location, read at orders of
    the given speed, is unreliable. The recorder's anti-alias roll-off cannot check fs: it sits at the same
    fraction of the sampling rate whatever rate is declared. Errors of exactly 2x or 1/2 are not caught (see
    :func:`_explained`).
    """
    if margin_db is None:
        margin_db = float(_decision.calibration().get("speed_margin_db", SPEED_MARGIN_DB))
    ratios, score, _ = shaft_family_scores(signal, fs_hz=fs_hz, rpm=rpm, centred=centred, power=power)
    near = np.abs(ratios - 1.0) <= SPEED_AGREE
    s_given = float(score[near].max())
    other = np.where(near | _explained(ratios, geometry), -np.inf, score)
    i = int(np.argmax(other))
    s_other, r_other = float(score[i]), float(ratios[i])
    disagrees = bool(s_other - s_given >= margin_db)
    out = {"given_rpm": round(float(rpm), 1), "family_at_given_db": round(s_given, 1),
           "best_other_rpm": round(r_other * rpm, 1), "family_at_other_db": round(s_other, 1),
           "margin_db": round(margin_db, 1), "disagrees": disagrees}
    if disagrees:
        out["text"] = (f"the shaft-line family says ~{r_other * rpm:.0f} rpm ({s_other:.0f} dB over the background), "
                       f"not the given {rpm:.0f} rpm ({s_given:.0f} dB): the speed or the sampling rate is off by "
                       f"~{r_other:.2f}x — check both (fault locations are read at orders of the given speed)")
    return out
