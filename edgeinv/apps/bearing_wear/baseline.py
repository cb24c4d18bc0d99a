"""The classical method: envelope analysis with peak-to-background ratios, and ISO 10816 severity zones.

Fault decision (Randall & Antoni 2011, section 3; the "benchmark" procedure of Smith & Randall,
"Rolling element bearing diagnostics using the Case Western Reserve University data: a benchmark
study", MSSP 64–65 (2015) 100–131): band-pass the signal in the band picked by the kurtogram, take
the squared-envelope spectrum, and for each fault look at the first harmonics of its impact order
(BPFO, BPFI, 2 x BSF, FTF). The peak within +-2 % of each harmonic is compared with the median
spectrum level within +-1 order around it (peak-to-background ratio, dB). A fault's score is the
mean over its first three harmonics; the highest score wins if it exceeds :data:`DETECT_DB`,
otherwise the bearing is called healthy. No size is estimated: envelope line heights depend on the
transmission path and the resonance excited, not on spall length, so any size from them would be
a guess.

Severity: broadband velocity RMS 10–1000 Hz (ISO 10816-1 / 20816-1) placed in the zones A–D of the
machine class; the zone limits are data (``data/severity.json``), not code.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
from importlib import resources

import numpy as np

from edgeinv.common.errors import ConfigError

from .features import N_REV, ORDER_AXIS, ORDER_MAX, analyse_window, split_windows, velocity_rms_mm_s
from .physics import FAULTS, BearingGeometry, impact_order

#: A fault is called when its mean peak-to-background ratio exceeds this (dB). 6 dB (twice the
#: background) is the usual rule of thumb; :func:`calibrate_threshold` re-derives it on simulations.
DETECT_DB = 6.0
#: Softmax temperature (dB) turning scores into the pseudo-probabilities of the output layout.
TEMPERATURE_DB = 2.0
MAX_BASELINE_WINDOWS = 8


@functools.lru_cache(maxsize=1)
def severity_table() -> dict:
    """The ISO zone table and alarm policy from ``data/severity.json``."""
    return json.loads(resources.files(__package__).joinpath("data/severity.json").read_text())


def severity_zone(*, velocity_rms_mm_s: float, machine_class: str | None = None) -> dict:
    """ISO 10816 evaluation zone (A–D) of a velocity RMS for a machine class."""
    table = severity_table()
    cls = machine_class or table["default_class"]
    if cls not in table["classes"]:
        raise ConfigError(f"machine_class must be one of {', '.join(table['classes'])}; got {cls!r}")
    limits = table["classes"][cls]["limits_mm_s"]
    zone = "ABCD"[bisect.bisect_right(limits, float(velocity_rms_mm_s))]  # np.searchsorted(side="right") of a list
    return {"zone": zone, "velocity_rms_mm_s": round(float(velocity_rms_mm_s), 3), "machine_class": cls,
            "limits_mm_s": limits, "meaning": table["zones"][zone]}


def order_spectrum(freqs_hz: np.ndarray, spec: np.ndarray, *, shaft_hz: float) -> np.ndarray:
    """Raw squared-envelope spectrum amplitude on :data:`features.ORDER_AXIS`."""
    return np.interp(ORDER_AXIS, freqs_hz / shaft_hz, spec, right=0.0)


def peak_to_background_db(spec_orders: np.ndarray, *, order: float, n_harmonics: int = 3) -> list[float]:
    """Peak-to-background ratio (dB) at the first ``n_harmonics`` multiples of ``order``."""
    out = []
    bins = np.arange(len(spec_orders))
    for k in range(1, n_harmonics + 1):
        centre = k * order
        if centre > ORDER_MAX - 1.0:
            break
        c = centre * N_REV
        half = max(2.0, 0.02 * c)
        peak_sel = np.abs(bins - c) <= half
        bg_sel = (np.abs(bins - c) <= N_REV) & ~(np.abs(bins - c) <= half + 2) & (bins >= 3)
        if not peak_sel.any() or bg_sel.sum() < 4:
            continue
        peak = float(spec_orders[peak_sel].max())
        bg = float(np.median(spec_orders[bg_sel])) + 1e-30
        out.append(20.0 * math.log10(max(peak, 1e-30) / bg))
    return out


def fault_scores(spec_orders: np.ndarray, *, geometry: BearingGeometry) -> dict[str, float]:
    """Mean peak-to-background ratio (dB) per fault over its first three impact harmonics."""
    scores = {}
    for fault in FAULTS[1:]:
        pbr = peak_to_background_db(spec_orders, order=impact_order(fault=fault, geometry=geometry))
        scores[fault] = float(np.mean(pbr)) if pbr else 0.0
    return scores


def decide(scores: dict[str, float], *, detect_db: float = DETECT_DB) -> np.ndarray:
    """Scores -> pseudo-probabilities over :data:`physics.FAULTS` (healthy scores ``detect_db``)."""
    logits = np.array([detect_db] + [scores[f] for f in FAULTS[1:]]) / TEMPERATURE_DB
    p = np.exp(logits - logits.max())
    return (p / p.sum()).astype(np.float32)


def mean_order_spectrum(recording, *, max_windows: int = MAX_BASELINE_WINDOWS) -> np.ndarray:
    """Envelope spectrum on the order axis averaged over (up to ``max_windows``) windows."""
    spans = split_windows(len(recording.signal), fs_hz=recording.fs_hz, rpm=recording.rpm, max_windows=max_windows)
    acc = np.zeros(len(ORDER_AXIS))
    for s, e in spans:
        wa = analyse_window(recording.signal[s:e], fs_hz=recording.fs_hz, rpm=recording.rpm, geometry=recording.geometry)
        acc += order_spectrum(wa.env_freqs_hz, wa.env_spec, shaft_hz=recording.rpm / 60.0)
    return acc / len(spans)


def baseline_outputs(recording, *, detect_db: float = DETECT_DB) -> dict[str, np.ndarray]:
    """The baseline's outputs in the model layout (``{"fault": probabilities}``)."""
    spec = mean_order_spectrum(recording)
    return {"fault": decide(fault_scores(spec, geometry=recording.geometry), detect_db=detect_db)}


def recording_velocity_rms(recording) -> float:
    """ISO broadband velocity RMS (mm/s) of the whole recording."""
    return velocity_rms_mm_s(recording.signal, fs_hz=recording.fs_hz)


def calibrate_threshold(score_rows: list[dict[str, float]], labels: list[int], *, grid=np.arange(2.0, 15.01, 0.25)) -> tuple[float, float]:
    """The detection threshold (dB) that maximises accuracy on labelled scores; returns (threshold, accuracy)."""
    best = (DETECT_DB, -1.0)
    for thr in grid:
        pred = [int(np.argmax(decide(s, detect_db=float(thr)))) for s in score_rows]
        acc = float(np.mean(np.asarray(pred) == np.asarray(labels)))
        if acc > best[1]:
            best = (float(thr), acc)
    return best
