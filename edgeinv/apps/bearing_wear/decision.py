"""What makes a call trustworthy: envelope-line evidence, the evidence gate, out-of-distribution score, honest size.

* **Evidence** (:func:`line_evidence`): for each fault hypothesis, the heights (dB above the local
  background) of the first three harmonics of its impact order in the window-averaged envelope
  spectra, after the slip / speed-error search of :func:`features.refine_hypotheses`. A fault is named
  only if its first three harmonics (a harmonic family, :func:`gate_score`; two where the third is
  beyond the order axis) all stand :data:`GATE_DB` above the background (the threshold
  is set on simulated healthy recordings, :mod:`.calibrate`, not on real files); otherwise the
  model's mass for it goes to "none" and the result says which fault was suspected and why it was
  not named.
* **Out of distribution**: :func:`summary_features` summarises the model inputs; the score, its
  calibration and the input checks are in :mod:`.ood`.
* **Size** (:func:`size_resolvability`, :func:`size_decision`): the spall length shows up as the entry-to-exit
  delay ``L / v`` (Sawalhi & Randall 2011). It can be resolved only if that delay exceeds both a few
  samples and the ring-down of the excited resonance, so the resolvable limit is
  ``L_min = v * max(4 / fs, ring-down)`` (ring-down measured on the recording: the 1/e width of its
  squared-envelope autocorrelation). A result reports **one** size: the arc read from the entry/exit
  delay (:mod:`.severity`) with the bump's half-prominence width as its interval; where none is read
  beyond the limit — or when the bearing's scale is unknown — the size is ``null`` with the reason and
  the limit, and the severity index follows the damage.
* **Severity index**: :mod:`.severity` (entry/exit delay where resolvable, else the model's size output).
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources

import numpy as np

from .features import HYPOTHESES, N_BINS, N_REV, N_VC, SCALARS, refine_hypotheses
from .physics import BearingGeometry, rolling_speed_m_s

BALL_SIDEBAND_DB = 6.0  # default; data/calibration.json overrides it (set on simulated ball faults)
GATE_DB = 5.0  # default; data/calibration.json overrides it (set on simulated healthy windows)
MIN_SAMPLES_PER_EVENT = 4
GATE_HARMONICS = 3  # a fault is named only if its first three harmonics stand out (see gate_score)


@functools.lru_cache(maxsize=1)
def calibration() -> dict:
    """Gate threshold, probability temperature and OOD statistics from ``data/calibration.json`` (or defaults)."""
    try:
        return json.loads(resources.files(__package__).joinpath("data/calibration.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def line_db(heights: np.ndarray) -> np.ndarray:
    """Line heights (ratio of the squared-envelope amplitude to its local background) in dB."""
    return 20.0 * np.log10(np.maximum(np.asarray(heights, dtype=float), 1e-3))


def line_evidence(analyses, *, geometry: BearingGeometry) -> dict:
    """Per hypothesis: refined order, slip, harmonic line heights (dB) and the gate score (:func:`gate_score`)."""
    if len(analyses) == 1:  # the mean of one spectrum is that spectrum (the same doubles; issue 13)
        spec = (analyses[0].spec_band + analyses[0].spec_energy) / 2.0
    else:
        spec = np.mean([a.spec_band + a.spec_energy for a in analyses], axis=0) / 2.0
    kin, refined, heights = refine_hypotheses(spec, geometry=geometry)
    out = {}
    for h, o, o_ref, db in zip(HYPOTHESES, kin.tolist(), refined.tolist(), line_db(heights).tolist()):
        out[h] = {"order": round(o_ref, 4), "slip": round(o_ref / o - 1.0, 4),
                  "lines_db": [round(v, 1) for v in db], "gate_db": round(gate_score(db, order=o_ref, n_bins=len(spec)), 1)}
    ftf = out["cage"]["order"]
    out["ball"]["ftf_sidebands_db"] = round(sideband_db(spec, order=out["ball"]["order"], spacing=ftf), 1)
    return out


def gate_score(lines_db, *, order: float, n_bins: int) -> float:
    """The evidence a fault's lines give (dB): the lowest of its first :data:`GATE_HARMONICS` harmonics.

    A localised defect strikes as a train of short impacts, whose squared envelope holds a whole
    family of harmonics of the impact rate of similar height (they fall off only over ~1/ring-down,
    far above the third harmonic); a single tone or a sinusoidal modulation from other machinery
    gives one strong line and weak harmonics. So every harmonic up to the third must stand out
    (Randall & Antoni, MSSP 25 (2011) 485–520, section 3: diagnosis by a harmonic series at the
    fault frequency). A third harmonic beyond the order axis is not asked for (the first two always are).
    """
    k_max = max(2, sum(1 for k in range(1, GATE_HARMONICS + 1) if int(round(k * order * N_REV)) + 1 < n_bins))
    return float(min(lines_db[:k_max]))


def sideband_db(spec: np.ndarray, *, order: float, spacing: float) -> float:
    """Mean height (dB over local background) of the sidebands ``k * order +- spacing``, k = 1, 2."""
    idx = [i for i in (int(round((k * order + sgn * spacing) * N_REV)) for k in (1, 2) for sgn in (-1, 1))
           if 3 <= i < len(spec) - 1]
    if not idx:
        return 0.0
    # each sideband's bins i-1, i, i+1 in one gather, the maximum over a leading axis (issue 13, stop 26: the same
    # maxima as four slices' .max())
    vals = np.maximum.reduce(spec.take(np.array(idx)[None, :] + _NEIGHBOURS), axis=0)
    return float(np.add.reduce(line_db(vals)) / len(vals))  # np.mean: sum / count


_NEIGHBOURS = np.arange(-1, 2)[:, None]


_CONSTANTS: list = [None, None]  # (the calibration dict they were read from, the constants)


def _constants() -> dict:
    """The decision constants of :func:`calibration`, read once per calibration dict (issue 13: the gate reads them
    a dozen times per recording)."""
    cal = calibration()
    if _CONSTANTS[0] is not cal:
        q = cal.get("gate_healthy_quantiles_db")
        _CONSTANTS[:] = [cal, {"gate_db": float(cal.get("gate_db", GATE_DB)),
                               "scale_db": max((q[2] - q[0]) / 2.326, 0.5) if q and len(q) == 3 else 2.0,
                               "ball_sideband_db": float(cal.get("ball_sideband_db", BALL_SIDEBAND_DB)),
                               "temperature": float(cal.get("temperature", 1.0))}]
    return _CONSTANTS[1]


def gate_threshold() -> float:
    return _constants()["gate_db"]


def apply_gate(probs: dict[str, float], evidence: dict) -> tuple[dict[str, float], list[str], dict]:
    """Move the probability of faults without envelope-line evidence to "none", weigh confirmed faults by their
    evidence and "none" by :func:`none_weight`; returns (probs, notes, status)."""
    thr = gate_threshold()
    p = dict(probs)
    notes, status = [], {}
    sb_thr = ball_sideband_threshold()
    for h in HYPOTHESES:
        ok = evidence[h]["gate_db"] >= thr
        status[h] = "confirmed" if ok else "no line"
        if ok and h == "ball" and evidence[h].get("ftf_sidebands_db", sb_thr) < sb_thr:
            ok = False  # a ball spall passes in and out of the load zone with the cage: FTF sidebands
            status[h] = "no FTF sidebands"
            if p.get(h, 0.0) >= max(p.values()):
                notes.append(f"lines at 2xBSF but no cage-rate (FTF) sidebands around them "
                             f"({evidence[h]['ftf_sidebands_db']:.1f} dB < {sb_thr:.1f} dB): not named a ball fault")
        if not ok and p.get(h, 0.0) > 0:
            if p[h] >= max(p.values()) and status[h] == "no line":
                notes.append(f"the model suggested {h.replace('_', ' ')} (p={p[h]:.2f}) but its envelope lines stand only "
                             f"{evidence[h]['gate_db']:.1f} dB over the background (< {thr:.1f} dB): not named")
            p["none"] = p.get("none", 0.0) + p[h]
            p[h] = 0.0
        elif ok:  # confirmed: weight by how far its lines clear the gate (no mass moved to "none")
            p[h] = p.get(h, 0.0) * evidence_weight(evidence[h]["gate_db"])
    p["none"] = p.get("none", 0.0) * none_weight(evidence, status)
    total = sum(p.values()) or 1.0
    return {k: v / total for k, v in p.items()}, notes, status


def none_weight(evidence: dict, status: dict) -> float:
    """How well "no fault" explains the strongest confirmed line family: ``1 - evidence_weight`` of it (1 if none).

    Above the gate, spurious line families of healthy machines thin out like ``exp(-(g - gate) / scale)``
    (:func:`gate_scale_db`, fitted on simulated healthy recordings), so a family far above the gate
    is unlikely without a fault: "none" is weighed down by that factor. A fault's lines standing
    20 dB out then name it even where the model leaned to another fault whose lines are missing,
    instead of moving that model's mass to "none".
    """
    conf = [evidence_weight(evidence[h]["gate_db"]) for h in HYPOTHESES if status.get(h) == "confirmed"]
    return 1.0 - max(conf, default=0.0)


def gate_scale_db() -> float:
    """Spread of the strongest spurious line on simulated healthy recordings: (q99 - q50) / 2.326 (dB)."""
    return _constants()["scale_db"]


def evidence_weight(gate_db: float) -> float:
    """0 at the gate, -> 1 as the lines clear it by several times the spread of spurious lines.

    ``1 - exp(-(gate_db - gate) / scale)``: a fault whose lines barely clear the gate counts less
    than one whose lines stand far above it, so the model's call is weighed against the evidence
    (e.g. a harmonic of one fault falling on another fault's line family).
    """
    c = _constants()
    return float(1.0 - math.exp(-max(gate_db - c["gate_db"], 0.0) / c["scale_db"]))


def ball_sideband_threshold() -> float:
    return _constants()["ball_sideband_db"]


def temperature() -> float:
    return _constants()["temperature"]


def calibrate_probs(probs: np.ndarray, *, t: float | None = None) -> np.ndarray:
    """Temperature scaling (Guo et al. 2017) of class probabilities; ``t`` fitted on simulated held-out windows."""
    t = temperature() if t is None else t
    logp = np.log(np.minimum(np.maximum(np.asarray(probs, dtype=float), 1e-12), 1.0)) / t  # np.clip's selection
    logp -= logp.max(axis=-1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(axis=-1, keepdims=True)


def summary_features(x: np.ndarray) -> np.ndarray:
    """A compact summary of model inputs ``(n, 18, 256)`` -> ``(n, k)`` for the OOD score."""
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[None]
    u = slice(N_BINS // 8, N_BINS - N_BINS // 8)
    # only the entries used, in float64 (the same values as converting the whole input first)
    views = x[:, _VIEW_ROWS, u].astype(float)  # band and energy views
    m = views.shape[2] // 2  # an even count: the median is the mean of the two middle values (np.median's, by partition)
    mid = np.partition(views, (m - 1, m), axis=2)
    peak_median = np.stack([views.max(axis=2), (mid[..., m - 1] + mid[..., m]) / 2.0], axis=2).reshape(len(x), -1)
    acf = np.add.reduce(x[:, len(HYPOTHESES) * N_VC, :64].astype(float), axis=1, keepdims=True) / 64  # early ACF
    # level (.mean(axis=1): the same sums / 64)
    return np.concatenate([x[:, -1, : len(SCALARS)].astype(float), peak_median, acf], axis=1)


_VIEW_ROWS = [i * N_VC + c for i in range(len(HYPOTHESES)) for c in (0, 1)]


def size_resolvability(*, geometry: BearingGeometry, rpm: float, fs_hz: float, ringdown_s: float,
                       scale_known: bool = True) -> dict:
    """The smallest spall length this recording can resolve (mm) and why."""
    v = rolling_speed_m_s(geometry=geometry, shaft_hz=rpm / 60.0)
    sample_limit = v * MIN_SAMPLES_PER_EVENT / fs_hz * 1e3
    ring_limit = v * ringdown_s * 1e3
    limit = max(sample_limit, ring_limit)
    why = "the resonance's ring-down" if ring_limit >= sample_limit else "the sampling rate"
    return {"resolvable_limit_mm": round(limit, 2), "limited_by": why, "rolling_speed_m_s": round(v, 3),
            "ringdown_ms": round(ringdown_s * 1e3, 2), "scale_known": bool(scale_known)}


SIZE_SOURCE = "spall arc from the entry/exit delay read on this recording (squared-envelope autocorrelation)"
SIZE_INTERVAL = "where the entry/exit bump stays above half its prominence"


def size_decision(*, fault: str, arc: dict | None, resolv: dict) -> dict:
    """The one defect size a result reports: the spall arc read from the recording's entry/exit delay
    (:func:`severity.damage`) when it resolves one, else ``null`` with the reason and the limit.

    The model's size output is not reported as a size (on real rigs it follows the SNR, not the spall; it ranks
    unresolved spalls inside the severity index only). ``arc``: the ``arc`` of :func:`severity.damage`."""
    limit = resolv["resolvable_limit_mm"]
    base = {"resolvable_limit_mm": limit, "limited_by": resolv["limited_by"]}
    if fault == "none":
        return {"status": "no_fault", "value_mm": None, "reason": "no fault named", **base}
    if fault == "cage":
        return {"status": "not_applicable", "value_mm": None, "reason": "a cage fault has no spall length", **base}
    if arc and arc.get("status") == "resolved":
        where = {k: arc[k] for k in ("race", "degrees", "interval_deg") if k in arc}
        if not resolv["scale_known"] or "length_mm" not in arc:
            deg = f": the spall arc is {arc['degrees']:.1f} deg of its race" if "degrees" in arc else ""
            return {"status": "not_resolvable", "value_mm": None, "source": SIZE_SOURCE, **where,
                    "reason": f"the bearing's dimensions are not known (only its defect frequencies){deg}; "
                              "give --bearing for a size in mm", **base}
        return {"status": "resolved", "value_mm": arc["length_mm"], "interval_mm": list(arc["interval_mm"]),
                "interval_kind": SIZE_INTERVAL, "source": SIZE_SOURCE, **where,
                "reason": f"entry/exit delay read beyond the resolvable limit {limit:.2f} mm", **base}
    return {"status": "not_resolvable", "value_mm": None,
            "reason": (f"not resolvable below {limit:.2f} mm: no entry/exit delay read beyond that limit (entry and exit "
                       f"events merge in the ring-down or the entry is too weak; limited by {resolv['limited_by']}, "
                       f"ring-down {resolv['ringdown_ms']:.1f} ms); follow the severity index"), **base}


def evidence_text(evidence: dict, fault: str, *, shaft_hz: float) -> str:
    if fault not in evidence:
        best = max(evidence, key=lambda h: evidence[h]["gate_db"])
        g = evidence[best]["gate_db"]
        if g >= gate_threshold() and best == "ball":
            return (f"no fault confirmed: ball lines {g:.1f} dB but no FTF sidebands "
                    f"({evidence[best].get('ftf_sidebands_db', 0.0):.1f} dB < {ball_sideband_threshold():.1f} dB)")
        return f"no fault line: strongest {best.replace('_', ' ')} {g:.1f} dB (gate {gate_threshold():.1f} dB)"
    e = evidence[fault]
    hz = e["order"] * shaft_hz
    lines = "/".join(f"{v:.0f}" for v in e["lines_db"])
    return f"{fault.replace('_', ' ')} lines at {hz:.1f} Hz x1,2,3: {lines} dB (slip {e['slip'] * 100:+.1f} %)"
