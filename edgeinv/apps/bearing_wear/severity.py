"""Damage severity index (0–10) that ranks damage on one machine and trends over time; amplitude-free.

A spall of arc length ``L`` is struck as an **entry event and an exit impact** ``L / v`` apart (``v`` the
ball-to-race surface speed, the same on both races under rolling, :func:`physics.rolling_speed_m_s`; Sawalhi &
Randall, MSSP 25 (2011) 846–870). The squared envelope's autocorrelation, already on a spall-length axis in the
model input (:func:`features.envelope_acf_size_axis`, averaged over all impacts of a window), shows that pair
as a bump at lag ``L`` — independent of the amplitude, of the transmission path and of the speed
(the same bump in mm at every speed). :func:`entry_exit` reads it explicitly: the most prominent
local maximum beyond the resolvable limit (``v * max(4 / fs, ring-down)``,
:func:`decision.size_resolvability`), accepted when its prominence exceeds what spurious bumps reach
on simulated *healthy* recordings (the :data:`PROMINENCE_QUANTILE` quantile, ``entry_exit_prominence`` in
``data/calibration.json``, :func:`healthy_prominences`; never set on real files; the quantile was chosen on
simulated size sweeps, ``docs/apps/bearing_wear.md``).

The index (:func:`damage`):

* spall faults (outer race, inner race, ball): ``10 * L / 3 mm`` from the entry/exit bump where
  the recording resolves one, with the spall's **arc** in mm (interval: where the bump stays above half
  its prominence) and in degrees of its race (:func:`physics.race_radius_mm`); otherwise "not resolvable"
  with the limit, and the model's spall-size output mapped below the limit (:func:`below_limit`), so an
  unresolved spall ranks below every resolved one of the same machine;
* cage faults: mean line height (dB) / 4; a healthy call: 0.

Validation on simulations (:func:`study`, ``edgeinv bearing-wear severity-check``): machines drawn
at random (speed, rate, geometry, resonances and damping, SNR, background, worn or sharp-edged spalls),
each recorded with five spall sizes 0.3–2.8 mm and everything else the same; the Spearman rank correlation
of the index with the true size per machine, and by SNR, speed, ring-down and race. Figures in
``docs/apps/bearing_wear.md`` (severity section).
"""

from __future__ import annotations

import numpy as np

from . import decision as _decision
from .features import SIZE_AXIS_MM
from .physics import race_radius_mm

SIZE_INDEX_TOP_MM = 3.0
PROMINENCE_DEFAULT = 0.071  # data/calibration.json "entry_exit_prominence" overrides it (simulated healthy, q90)
PROMINENCE_QUANTILE = 0.9  # of the strongest spurious bump on simulated healthy recordings (see study)
SPALL_FAULTS = ("outer_race", "inner_race", "ball")
PREVIOUS_THRESHOLD = 0.181  # the rule before issue 10's stop 21 (99th percentile), kept for the study's comparison
PAIR_MAX = 0.5  # the largest autocorrelation an entry/exit pair gives at its lag (see entry_exit)


def prominence_threshold() -> float:
    return float(_decision.calibration().get("entry_exit_prominence", PROMINENCE_DEFAULT))


def acf_profile(analyses) -> np.ndarray:
    """Squared-envelope autocorrelation on the spall-length axis (1 at lag 0), median over the windows."""
    if len(analyses) == 1:  # the median of one row is the row (issue 13: no stack/median of a single window)
        return np.asarray(analyses[0].x[-2], dtype=float) / 4.0
    return np.median(np.stack([np.asarray(a.x[-2], dtype=float) for a in analyses]), axis=0) / 4.0


def entry_exit(acf: np.ndarray, *, limit_mm: float) -> dict:
    """The most prominent autocorrelation bump beyond ``limit_mm`` that a pair of events can give:
    ``{"length_mm", "prominence"}`` (None, 0 if none).

    A train of event pairs of energies ``A`` (entry) and ``B`` (exit) has a normalised squared-envelope
    autocorrelation ``A B / (A**2 + B**2) <= 0.5`` at the pair's lag (:data:`PAIR_MAX`; noise and the
    mean removal only lower it). A higher bump comes from a periodic modulation of every impact's
    envelope — two resonances beating — not from a spall's entry and exit; where one is present
    beyond the limit, the beating dominates the autocorrelation and no entry/exit delay is read.
    """
    acf = np.asarray(acf, dtype=float)
    peaks = _peaks(acf)
    peaks = peaks[SIZE_AXIS_MM[peaks] >= limit_mm]  # only these are read: their prominences alone (issue 13)
    if not len(peaks) or (acf[peaks] > PAIR_MAX).any():
        return {"length_mm": None, "prominence": 0.0}
    prominences = _prominences(acf, peaks)
    i = int(np.argmax(prominences))
    return {"length_mm": float(SIZE_AXIS_MM[peaks[i]]), "prominence": float(prominences[i])}


def peak_prominences(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of ``x`` (a plateau counts once, at its middle) and their prominences: what
    ``scipy.signal.find_peaks(x, prominence=0)`` returns (a test checks it), without importing
    scipy.signal (~45 MB resident in a serving process) for a 256-point curve.

    In whole-array steps (issue 13; the sample-by-sample scan it replaces gave the same peaks and bit-equal
    prominences, a test keeps them equal): a peak is a rise followed, after a plateau of equal values, by a
    fall; its prominence is its height over the higher of the two minima between it and the nearest higher
    sample on either side (or the curve's end)."""
    x = np.asarray(x, dtype=float)
    peaks = _peaks(x)
    if not len(peaks):
        return peaks, np.zeros(0)
    return peaks, _prominences(x, peaks)


def _peaks(x: np.ndarray) -> np.ndarray:
    """The local maxima of :func:`peak_prominences` (int64 indices, ascending)."""
    n = len(x)
    if n < 3:
        return np.zeros(0, dtype=np.int64)
    d = np.diff(x)
    rising = np.flatnonzero(d[: n - 2] > 0) + 1  # i in 1 .. n-2 with x[i-1] < x[i]
    change = np.flatnonzero(d != 0)  # k with x[k] != x[k+1]
    pos = np.searchsorted(change, rising)  # the plateau x[i..k] ends at the first change at or after i
    ok = pos < len(change)
    rising, k = rising[ok], change[pos[ok]]
    top = d[k] < 0
    return ((rising[top] + k[top]) // 2).astype(np.int64)


def _prominences(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """The prominences of :func:`peak_prominences` of the given peaks of ``x`` (each computed on its own)."""
    n = len(x)
    j = np.arange(n)
    p = peaks[:, None]
    higher = x[None, :] > x[p]
    left = np.where(higher & (j < p), j, -1).max(axis=1)[:, None]  # the last higher sample before the peak
    right = np.where(higher & (j > p), j, n).min(axis=1)[:, None]  # the first higher sample after it
    lmin = np.where((j > left) & (j <= p), x, np.inf).min(axis=1)
    rmin = np.where((j >= p) & (j < right), x, np.inf).min(axis=1)
    return x[peaks] - np.maximum(lmin, rmin)


def _peak_prominences_scan(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`peak_prominences` sample by sample (the reference the whole-array version is tested against)."""
    x = np.asarray(x, dtype=float).tolist()
    n = len(x)
    peaks = []
    i = 1
    while i < n - 1:
        if x[i - 1] < x[i]:
            j = i + 1
            while j < n - 1 and x[j] == x[i]:
                j += 1
            if x[j] < x[i]:
                peaks.append((i + j - 1) // 2)
                i = j
                continue
        i += 1
    prom = []
    for p in peaks:
        left = right = x[p]
        k = p
        while k >= 0 and x[k] <= x[p]:
            left = min(left, x[k])
            k -= 1
        k = p
        while k < n and x[k] <= x[p]:
            right = min(right, x[k])
            k += 1
        prom.append(x[p] - max(left, right))
    return np.asarray(peaks, dtype=np.int64), np.asarray(prom, dtype=float)


def bump_interval(acf: np.ndarray, length_mm: float, prominence: float) -> tuple[float, float]:
    """Where the bump at ``length_mm`` stays above half its prominence (mm): the reading's interval."""
    acf = np.asarray(acf, dtype=float)
    p = int(np.argmin(np.abs(SIZE_AXIS_MM - length_mm)))
    level = acf[p] - prominence / 2.0
    lo = hi = p
    while lo > 0 and acf[lo - 1] > level:
        lo -= 1
    while hi < len(acf) - 1 and acf[hi + 1] > level:
        hi += 1
    return float(SIZE_AXIS_MM[lo]), float(SIZE_AXIS_MM[hi])


def below_limit(model_size_mm: float, limit_mm: float) -> float:
    """The model's size output mapped monotonically into [0, limit): a spall the recording does not resolve ranks
    below every one it resolves (whose bump lies beyond the limit), and among themselves by the model's output."""
    m = max(float(model_size_mm), 0.0)
    return float(limit_mm) * m / (m + float(limit_mm)) if limit_mm > 0 else 0.0


def _arc(length_mm: float, lo: float, hi: float, *, fault: str, geometry, scale_known: bool) -> dict:
    """The spall's arc in mm (when the bearing's dimensions are known) and in degrees of its race (scale-free:
    the mm axis and the race radius both scale with the bearing)."""
    out: dict = {"status": "resolved", "race": fault}
    if scale_known:
        out.update(length_mm=round(length_mm, 2), interval_mm=[round(lo, 2), round(hi, 2)])
    if geometry is not None:
        k = 180.0 / np.pi / race_radius_mm(geometry=geometry, race=fault)
        out.update(degrees=round(length_mm * k, 1), interval_deg=[round(lo * k, 1), round(hi * k, 1)])
    return out


def damage(acf: np.ndarray, *, fault: str, evidence: dict, limit_mm: float, model_size_mm: float | None,
           geometry=None, scale_known: bool = True) -> dict:
    """Severity index (0–10) with its basis, the spall's arc (mm and degrees of its race, with an interval, or "not
    resolvable" with the limit) and the strongest entry/exit bump found in ``acf`` (:func:`acf_profile`).

    ``arc`` is what the result reports as the defect size (:func:`decision.size_decision`); ``bump`` is the
    diagnostic behind it: the lag of the most prominent bump beyond the limit, its prominence, the threshold and
    whether it was read as the arc (a bump below the threshold is no size)."""
    bump = entry_exit(acf, limit_mm=limit_mm)
    thr = prominence_threshold()
    read = bump["length_mm"] is not None and bump["prominence"] >= thr and fault in SPALL_FAULTS and fault in evidence
    out = {"bump": {"lag_mm": None if bump["length_mm"] is None else round(bump["length_mm"], 2),
                    "prominence": round(bump["prominence"], 3), "threshold": round(thr, 3), "read_as_arc": bool(read)},
           "resolvable_limit_mm": round(float(limit_mm), 2)}
    if fault == "none" or fault not in evidence:
        return {"index": 0.0, "basis": "no fault named", "arc": None, **out}
    if fault == "cage":
        idx = np.mean(evidence[fault]["lines_db"]) / 4.0
        return {"index": round(_clip10(idx), 2), "basis": "cage: mean FTF line height / 4", "arc": None, **out}
    if read:
        length = bump["length_mm"]
        lo, hi = bump_interval(acf, length, bump["prominence"])
        arc = _arc(length, lo, hi, fault=fault, geometry=geometry, scale_known=scale_known)
        basis = "entry/exit delay: 10 x the spall arc (the defect size) / 3 mm"
    else:
        arc = {"status": "not_resolvable", "race": fault, "below_mm": round(float(limit_mm), 2),
               "reason": "no entry/exit delay beyond the resolvable limit (entry and exit merge in the ring-down, "
                         "or the entry event is too weak)"}
        if geometry is not None:
            arc["below_deg"] = round(float(limit_mm) * 180.0 / np.pi / race_radius_mm(geometry=geometry, race=fault), 1)
        if model_size_mm is None:
            idx = np.mean(evidence[fault]["lines_db"]) / 4.0
            return {"index": round(_clip10(idx), 2), "basis": "mean line height / 4 (no size output)",
                    "arc": arc, **out}
        length = below_limit(model_size_mm, limit_mm)
        basis = (f"not resolvable (spall arc below ~{limit_mm:.2f} mm): the model's size output, "
                 "ranked below every resolved arc")
    return {"index": round(_clip10(10.0 * length / SIZE_INDEX_TOP_MM), 2), "basis": basis, "arc": arc, **out}


def _clip10(v) -> float:
    """``float(np.clip(v, 0.0, 10.0))`` of a number (a selection, the same double; issue 13, stop 26: np.clip's
    machinery cost ~4 us per result)."""
    return float(min(max(v, 0.0), 10.0))


# ---- calibration and validation on simulations (training side: imports the simulator) ------------------------

def healthy_prominences(app, *, n: int, rng) -> np.ndarray:
    """Prominence of the strongest autocorrelation bump beyond the resolvable limit on simulated healthy recordings."""
    from .calibrate import _recording

    out = []
    for _ in range(n):
        rec = _recording(rng, fault="none")
        an = app.analyse(rec, max_windows=1)
        out.append(entry_exit(acf_profile(an), limit_mm=_limit(rec, an))["prominence"])
        rec.release()
    return np.asarray(out)


def _limit(rec, analyses) -> float:
    ring = float(np.median([a.ringdown_s for a in analyses]))
    return _decision.size_resolvability(geometry=rec.geometry, rpm=rec.rpm, fs_hz=rec.fs_hz, ringdown_s=ring)["resolvable_limit_mm"]


def sweep_recordings(app, *, n_machines: int, sizes, seed: int, windows: int = 2,
                     entry_rho: tuple[float, float] | None = None):
    """The simulated size sweeps :func:`study` scores: per machine (a random bearing, speed, rate, resonance and noise;
    outer and inner race in turn) one recording of ``windows`` windows per spall size, all drawn with the same noise
    seed. Yields ``(machine, conditions, recording, window analyses)``."""
    from .features import window_length
    from .io import Recording
    from .simulate import Conditions, draw_conditions, simulate_vibration

    rng = np.random.default_rng(seed)
    for m in range(n_machines):
        fault = ("outer_race", "inner_race")[m % 2]
        c0 = draw_conditions(rng=rng, fault=fault, defect_size_mm=1.0)
        s = int(rng.integers(2**63))
        for size in sizes:
            c = Conditions(c0.fault, float(size), c0.rpm, c0.fs_hz, c0.geometry, c0.snr_db, c0.reported_rpm,
                           extra={"entry_rho": tuple(entry_rho)} if entry_rho else {})
            n = window_length(fs_hz=c.fs_hz, rpm=c.reported_rpm)
            x = simulate_vibration(conditions=c, duration_s=(windows + 0.02) * n / c.fs_hz, rng=np.random.default_rng(s))
            rec = Recording(x, c.fs_hz, c.reported_rpm, c.geometry, source="simulated", channel="sim")
            yield m, c, rec, app.analyse(rec)


def study(app, runner, *, n_machines: int = 100, sizes=(0.3, 0.7, 1.2, 1.9, 2.8), seed: int = 7, windows: int = 2,
          progress: bool = False, entry_rho: tuple[float, float] | None = None) -> dict:
    """Within-machine rank correlation of the index with the true spall size on simulated machines (see module doc).

    ``entry_rho``: draw every spall's entry strength (relative to the exit impact) from this range instead of the
    simulator's mix (worn 0.15–0.5 / sharp-edged 0.5–1.0, half each). Besides the shipped index, the previous rule
    (99th-percentile threshold, else the model's output) and the model's output alone are scored the same way."""
    from scipy import stats

    rows = []
    for m, c, rec, an in sweep_recordings(app, n_machines=n_machines, sizes=sizes, seed=seed, windows=windows,
                                          entry_rho=entry_rho):
        fault, size = c.fault, c.defect_size_mm
        ev = _decision.line_evidence(an, geometry=rec.geometry)
        model = float(np.median(np.asarray(runner(np.stack([a.x for a in an]))["defect_size_mm"]).reshape(-1)))
        acf, limit = acf_profile(an), _limit(rec, an)
        dmg = damage(acf, fault=fault, evidence=ev, limit_mm=limit, model_size_mm=model, geometry=rec.geometry)
        old = entry_exit(acf, limit_mm=limit)  # the previous rule: 99th-percentile threshold, else the model's output
        previous = old["length_mm"] if old["length_mm"] is not None and old["prominence"] >= PREVIOUS_THRESHOLD else model
        rows.append({"machine": m, "fault": fault, "size": size, "snr": c.snr_db, "rpm": c.rpm, "index": dmg["index"],
                     "model": model, "previous": previous, "bump": dmg["basis"].startswith("entry/exit"),
                     "bump_mm": dmg["bump"]["lag_mm"], "interval_mm": (dmg["arc"] or {}).get("interval_mm"),
                     "ringdown_ms": float(np.median([a.ringdown_s for a in an])) * 1e3})
        if progress and size == sizes[-1]:
            print(f"severity study: machine {m + 1}/{n_machines}", flush=True)

    def per_machine(key):
        rho, meta = [], []
        for m in range(n_machines):
            pts = [r for r in rows if r["machine"] == m]
            v = [r[key] for r in pts]
            rho.append(0.0 if np.ptp(v) == 0 else float(stats.spearmanr([r["size"] for r in pts], v).statistic))
            meta.append((pts[0]["snr"], pts[0]["rpm"], float(np.median([r["ringdown_ms"] for r in pts])),
                         pts[0]["fault"] == "inner_race"))
        return np.asarray(rho), np.asarray(meta)

    out = {"n_machines": n_machines, "sizes_mm": list(sizes), "seed": seed,
           "entry_strength": list(entry_rho) if entry_rho else "simulator default: worn 0.15-0.5 / sharp-edged 0.5-1.0 "
                                                                "of the exit impact, half each",
           "prominence_threshold": round(prominence_threshold(), 3)}
    for key, name in (("index", "severity_index"), ("previous", "previous_index_q99_else_model"),
                      ("model", "model_size_only")):
        rho, meta = per_machine(key)
        rd_med = float(np.median(meta[:, 2]))
        out[name] = {"mean_spearman": round(float(rho.mean()), 3), "share_at_least_0.8": round(float(np.mean(rho >= 0.8)), 3),
                     "by_snr": {f"{lo}..{hi} dB": round(float(rho[(meta[:, 0] >= lo) & (meta[:, 0] < hi)].mean()), 3)
                                for lo, hi in ((-12, 0), (0, 12), (12, 25))},
                     "by_speed": {"< 1200 rpm": round(float(rho[meta[:, 1] < 1200].mean()), 3),
                                  ">= 1200 rpm": round(float(rho[meta[:, 1] >= 1200].mean()), 3)},
                     "by_ringdown": {f"< {rd_med:.2f} ms": round(float(rho[meta[:, 2] < rd_med].mean()), 3),
                                     f">= {rd_med:.2f} ms": round(float(rho[meta[:, 2] >= rd_med].mean()), 3)},
                     "by_fault": {"outer_race": round(float(rho[meta[:, 3] == 0].mean()), 3),
                                  "inner_race": round(float(rho[meta[:, 3] == 1].mean()), 3)},
                     "pooled_spearman": round(float(stats.spearmanr([r["size"] for r in rows], [r[key] for r in rows]).statistic), 3)}
    bumps = [r for r in rows if r["bump"]]
    out["entry_exit_used"] = {"share": round(len(bumps) / len(rows), 3),
                              "within_30pct_of_true_size": round(float(np.mean([abs(r["bump_mm"] / r["size"] - 1) < 0.3
                                                                                for r in bumps])), 3) if bumps else None,
                              "interval_covers_true_size": round(float(np.mean([r["interval_mm"][0] <= r["size"] <= r["interval_mm"][1]
                                                                                for r in bumps])), 3) if bumps else None}
    return out
