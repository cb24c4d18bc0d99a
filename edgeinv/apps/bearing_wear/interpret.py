"""Model (or baseline) outputs -> what the technician acts on: fault, size with interval, ISO zone, alarm.

A recording is cut into windows (:func:`features.split_windows`); the per-window outputs are
combined into one result per file: the class probabilities are averaged, the *agreement* is the
fraction of windows whose own top class is the combined one, the defect size is the median of the
window estimates with a 90 % interval from the model's predictive standard deviation and the
spread between windows (``sigma**2 = mean(std_i**2) + var(size_i)``). The ISO 10816 zone comes
from the velocity RMS of the whole recording. The alarm policy (``data/severity.json``) takes the
worse of the zone's level and the fault's level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .baseline import severity_table, severity_zone
from .features import defect_lines_hz
from .physics import FAULTS

Z90 = 1.6448536  # two-sided 90 % interval of a Gaussian
SPALL_FAULTS = ("outer_race", "inner_race", "ball")
LEVELS = ("ok", "watch", "alert", "danger")


@dataclass
class BearingResult:
    """The whole-file estimate for one recording."""

    fault: str
    probabilities: dict[str, float]
    defect_size_mm: float | None
    defect_size_interval_mm: list[float] | None
    severity: dict
    alarm: str
    alarm_reasons: list[str]
    windows: dict
    operating_point: dict
    method: str = "model"
    source: str = ""
    notes: list[str] = field(default_factory=list)
    envelope: dict | None = None  # plot data for the UI (order axis, amplitude, band); not in to_dict

    def to_dict(self) -> dict:
        return {
            "fault": self.fault,
            "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
            "defect_size_mm": None if self.defect_size_mm is None else round(float(self.defect_size_mm), 3),
            "defect_size_interval_mm": None if self.defect_size_interval_mm is None
            else [round(float(v), 3) for v in self.defect_size_interval_mm],
            "severity": self.severity,
            "alarm": self.alarm,
            "alarm_reasons": list(self.alarm_reasons),
            "windows": self.windows,
            "operating_point": self.operating_point,
            "method": self.method,
            "source": self.source,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        probs = ", ".join(f"{k} {v:.0%}" for k, v in sorted(self.probabilities.items(), key=lambda kv: -kv[1]))
        if self.defect_size_mm is None:
            size = "n/a"
        elif self.defect_size_interval_mm is None:
            size = f"{self.defect_size_mm:.2f} mm"
        else:
            lo, hi = self.defect_size_interval_mm
            size = f"{self.defect_size_mm:.2f} mm (90 % interval {lo:.2f}–{hi:.2f} mm)"
        sev = self.severity
        op = self.operating_point
        lines = [
            f"{self.source or 'recording'}: {op['bearing']} at {op['rpm']:.0f} rpm, {op['fs_hz']:g} Hz",
            f"fault:       {self.fault}  ({probs})",
            f"defect size: {size}",
            f"severity:    zone {sev['zone']} ({sev['velocity_rms_mm_s']:.2f} mm/s RMS, {sev['machine_class']}): {sev['meaning']}",
            f"alarm:       {self.alarm.upper()}" + (f" — {'; '.join(self.alarm_reasons)}" if self.alarm_reasons else ""),
            f"windows:     {self.windows['n']} analysed, {self.windows['agreement']:.0%} agree ({self.method})",
        ]
        lines += [f"note:        {n}" for n in self.notes]
        return "\n".join(lines)


def _level_max(a: str, b: str) -> str:
    return LEVELS[max(LEVELS.index(a), LEVELS.index(b))]


def alarm_level(*, fault: str, probability: float, size_mm: float | None, zone: str, agreement: float) -> tuple[str, list[str]]:
    """Alarm level and the reasons for it, by the policy in ``data/severity.json``."""
    policy = severity_table()["alarm"]
    level = policy["zone_to_level"][zone]
    reasons = [f"ISO zone {zone}"] if level != "ok" else []
    if fault != "none" and probability >= policy["fault_probability"]:
        if fault == "cage":
            flevel = policy["cage_level"]
            reasons.append("cage fault")
        else:
            flevel = "watch"
            for limit, lev in policy["size_mm_to_level"]:
                if size_mm is not None and size_mm >= limit:
                    flevel = lev
            reasons.append(f"{fault.replace('_', ' ')} spall" + (f" ~{size_mm:.1f} mm" if size_mm is not None else ""))
        level = _level_max(level, flevel)
    elif fault != "none":
        level = _level_max(level, "watch")
        reasons.append(f"possible {fault.replace('_', ' ')} fault (p={probability:.2f})")
    if agreement < policy["low_agreement"] and fault != "none":
        level = _level_max(level, "watch")
        reasons.append(f"windows disagree ({agreement:.0%} agree)")
    return level, reasons


def combine(per_window: list[dict[str, np.ndarray]], recording, *, velocity_rms_mm_s: float,
            machine_class: str | None = None, method: str = "model", envelope: dict | None = None) -> BearingResult:
    """Combine per-window outputs (model layout, batch axis removed) into one :class:`BearingResult`."""
    probs_w = np.stack([np.asarray(o["fault"], dtype=np.float64).reshape(-1) for o in per_window])
    probs = probs_w.mean(axis=0)
    probs = probs / probs.sum()
    k = int(np.argmax(probs))
    fault = FAULTS[k]
    agreement = float(np.mean(np.argmax(probs_w, axis=1) == k))
    counts = {f: int(c) for f, c in zip(FAULTS, np.bincount(np.argmax(probs_w, axis=1), minlength=len(FAULTS))) if c}
    notes = []
    size = interval = None
    if "defect_size_mm" in per_window[0]:
        mu = np.array([float(np.asarray(o["defect_size_mm"]).reshape(-1)[0]) for o in per_window])
        sd = np.array([float(np.asarray(o.get("defect_size_mm_std", 0.0)).reshape(-1)[0]) for o in per_window])
        centre = max(float(np.median(mu)), 0.0)
        sigma = float(np.sqrt(np.mean(sd**2) + (np.var(mu) if len(mu) > 1 else 0.0)))
        if fault in SPALL_FAULTS:
            size, interval = centre, [max(centre - Z90 * sigma, 0.0), centre + Z90 * sigma]
        elif fault == "none":
            size = 0.0
        else:
            notes.append("a cage fault has no spall size; the trend uses the alarm level instead")
    elif fault in SPALL_FAULTS:
        notes.append("this method gives no defect size")
    if fault == "none":
        size = 0.0
    sev = severity_zone(velocity_rms_mm_s=velocity_rms_mm_s, machine_class=machine_class)
    alarm, reasons = alarm_level(fault=fault, probability=float(probs[k]), size_mm=size, zone=sev["zone"], agreement=agreement)
    lines = defect_lines_hz(geometry=recording.geometry, rpm=recording.rpm)
    op = {"fs_hz": float(recording.fs_hz), "rpm": float(recording.rpm), "bearing": recording.geometry.name,
          "geometry": recording.geometry.to_dict(), "channel": recording.channel,
          "duration_s": round(recording.duration_s, 3),
          "defect_frequencies_hz": {k2: round(v, 3) for k2, v in lines.items()}}
    windows = {"n": len(per_window), "agreement": round(agreement, 3), "confidence": round(float(probs[k]) * agreement, 3),
               "per_window_faults": counts}
    return BearingResult(fault, {f: float(p) for f, p in zip(FAULTS, probs)}, size, interval, sev, alarm, reasons,
                         windows, op, method=method, source=recording.source, notes=notes, envelope=envelope)
