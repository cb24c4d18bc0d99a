"""Model (or baseline) outputs -> what the technician acts on: fault, size with interval, ISO zone, alarm.

A recording is cut into windows (:func:`features.split_windows`); the per-window outputs are
combined into one result per file: the class probabilities are averaged, the *agreement* is the
fraction of windows whose own top class is the combined one. A result carries **one defect size**
(``defect_size_mm``, ``defect_size_interval_mm`` and ``size`` saying where it comes from): with the
recording's checks (``predict``) it is the spall arc read from the entry/exit delay
(:func:`decision.size_decision`, :mod:`.severity`) with the bump's half-prominence width as its
interval, or ``null`` with "not resolvable below X mm" and the severity index to follow the damage;
the model's size output only ranks unresolved spalls inside that index. Raw model outputs without
those checks (``interpret``: bench, tests) report the model's size, the median of the window
estimates with a 90 % interval from its predictive standard deviation and the spread between
windows (``sigma**2 = mean(std_i**2) + var(size_i)``), and say so in ``size.source``. The ISO 10816
zone comes from the velocity RMS of the whole recording. The alarm policy (``data/severity.json``)
takes the worse of the zone's level and the fault's level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import decision as _decision
from . import severity as _severity
from .baseline import severity_table, severity_zone
from .features import defect_lines_hz, time_indicators
from .physics import FAULTS

Z90 = 1.6448536  # two-sided 90 % interval of a Gaussian
SPALL_FAULTS = ("outer_race", "inner_race", "ball")
MODEL_SOURCE = "the model's size output (raw outputs: the recording's entry/exit delay was not read)"
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
    evidence: dict = field(default_factory=dict)  # envelope lines per hypothesis, gate status, text
    ood: dict = field(default_factory=dict)  # out-of-distribution score of the model inputs
    size: dict = field(default_factory=dict)  # the size's status, source, interval kind (+ reason, limit when null)
    severity_index: float = 0.0  # damage index 0-10 (entry/exit delay or the model's size output), amplitude-free; trends
    damage: dict = field(default_factory=dict)  # the severity index's basis and the entry/exit bump behind it
    indicators: dict = field(default_factory=dict)  # whole-recording RMS (g), kurtosis, crest factor: trended per machine

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
            "evidence": self.evidence,
            "ood": self.ood,
            "size": self.size,
            "severity_index": self.severity_index,
            "damage": self.damage,
            "indicators": self.indicators,
        }

    def summary(self) -> str:
        probs = ", ".join(f"{k} {v:.0%}" for k, v in sorted(self.probabilities.items(), key=lambda kv: -kv[1]))
        sev = self.severity
        sev = self.severity
        op = self.operating_point
        lines = [
            f"{self.source or 'recording'}: {op['bearing']} at {op['rpm']:.0f} rpm, {op['fs_hz']:g} Hz",
            f"fault:       {self.fault}  ({probs})",
            f"defect size: {size_text(self)}",
            f"severity:    zone {sev['zone']} ({sev['velocity_rms_mm_s']:.2f} mm/s RMS, {sev['machine_class']}): {sev['meaning']}",
            f"alarm:       {self.alarm.upper()}" + (f" — {'; '.join(self.alarm_reasons)}" if self.alarm_reasons else ""),
            f"windows:     {self.windows['n']} analysed, {self.windows['agreement']:.0%} agree ({self.method})",
        ]
        if self.evidence.get("text"):
            lines.append(f"evidence:    {self.evidence['text']}")
        basis = f"; {self.damage['basis']}" if self.damage.get("basis") else ""
        lines.append(f"severity index: {self.severity_index:.1f} / 10 (damage index; ranks damage, trend it per machine{basis})")
        if self.indicators:
            ind = self.indicators
            lines.append(f"indicators:  RMS {ind['rms_g']:.4g} g, kurtosis {ind['kurtosis']:.2f}, crest factor {ind['crest_factor']:.2f}")
        if self.ood.get("text"):
            lines.append(f"inputs:      {self.ood['text']}" + (f" (score {self.ood['score']:.2f})" if self.ood.get("score") is not None else ""))
        lines += [f"note:        {n}" for n in self.notes]
        return "\n".join(lines)


def size_text(result: "BearingResult") -> str:
    """The one defect size of a result as the CLI prints it: value, interval and where it comes from, or why not."""
    info = result.size or {}
    if result.defect_size_mm is None:
        if info.get("status") == "not_resolvable":
            return info.get("reason", "not resolvable")
        return f"n/a ({info['reason']})" if info.get("reason") else "n/a"
    if result.fault == "none":
        return "none (no fault named)"
    text = f"{result.defect_size_mm:.2f} mm"
    if result.defect_size_interval_mm:
        lo, hi = result.defect_size_interval_mm
        text += f" ({lo:.2f}–{hi:.2f} mm, {info.get('interval_kind', 'interval')})"
    if info.get("degrees") is not None:
        text += f" = {info['degrees']:.1f} deg of the {str(info.get('race', '')).replace('_', ' ')}"
    return text + (f"; {info['source']}" if info.get("source") else "")


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
            machine_class: str | None = None, method: str = "model", envelope: dict | None = None,
            checks: dict | None = None, speed: dict | None = None, indicators: dict | None = None) -> BearingResult:
    """Combine per-window outputs (model layout, batch axis removed) into one :class:`BearingResult`.

    With ``checks`` (:func:`bearing_wear._decision_inputs`) the model's probabilities are
    temperature-calibrated, faults without envelope-line evidence are not named (their mass goes to
    "none"), the size is the arc read from the recording's entry/exit delay (else null with the limit), and the
    OOD score and severity index are attached. ``indicators``: :func:`recording_indicators` when the caller has
    them (a one-window recording's are its window's), else computed from the recording.
    """
    probs_w = np.stack([np.asarray(o["fault"], dtype=np.float64).reshape(-1) for o in per_window])
    gated = method == "model" and checks is not None
    if gated:
        probs_w = _decision.calibrate_probs(probs_w)
    probs = np.add.reduce(probs_w, axis=0) / len(probs_w)  # .mean(axis=0): the same sums / count
    probs = probs / probs.sum()
    notes = []
    status = {}
    suspected = None
    if gated:
        top = int(np.argmax(probs))
        if top != 0 and probs[top] >= 0.5:
            suspected = (FAULTS[top], float(probs[top]))
        # as Python floats: the same IEEE doubles as numpy's scalars, at a fraction of their cost
        pd, gate_notes, status = _decision.apply_gate(dict(zip(FAULTS, probs.tolist())), checks["evidence"])
        probs = np.array([pd[f] for f in FAULTS])
        notes += gate_notes
        ev = checks["evidence"]
        weight = np.array([_decision.none_weight(ev, status) if f == "none" else (_decision.evidence_weight(ev[f]["gate_db"])
                                                      if status.get(f) == "confirmed" else 0.0) for f in FAULTS])
        probs_w = probs_w * weight
        probs_w[:, 0] += 1e-12
    k = int(probs.argmax())
    fault = FAULTS[k]
    calls = probs_w.argmax(axis=1)
    agreement = np.count_nonzero(calls == k) / len(calls)  # np.mean of the booleans: count / n, the same double
    counts = {f: int(c) for f, c in zip(FAULTS, np.bincount(calls, minlength=len(FAULTS)).tolist()) if c}
    estimate = est_interval = None  # the model's size output: ranks unresolved spalls in the severity index
    if "defect_size_mm" in per_window[0]:
        mu = np.array([float(np.asarray(o["defect_size_mm"]).reshape(-1)[0]) for o in per_window])
        sd = np.array([float(np.asarray(o.get("defect_size_mm_std", 0.0)).reshape(-1)[0]) for o in per_window])
        if len(mu) == 1:  # one window: its own median and mean (the same doubles, no reductions; issue 13)
            centre, sigma = max(float(mu[0]), 0.0), float(np.sqrt((sd**2)[0] + 0.0))
        else:
            centre = max(float(np.median(mu)), 0.0)
            sigma = float(np.sqrt(np.mean(sd**2) + np.var(mu)))
        if fault in SPALL_FAULTS:
            estimate, est_interval = centre, [max(centre - Z90 * sigma, 0.0), centre + Z90 * sigma]
    evidence, ood, sev_index, dmg = {}, {}, 0.0, {}
    resolv = (checks or {}).get("resolvability")
    if checks is not None:
        ev = checks["evidence"]
        shaft_hz = recording.rpm / 60.0
        evidence = {"per_fault": {h: {**v, "status": status.get(h, "")} for h, v in ev.items()},
                    "gate_db": _decision.gate_threshold(),
                    "text": _decision.evidence_text(ev, fault, shaft_hz=shaft_hz),
                    "usable_top_hz": round(checks.get("usable_top_hz", 0.0), 1)}
        if checks.get("acf") is not None and resolv:
            dmg = _severity.damage(checks["acf"], fault=fault, evidence=ev, model_size_mm=estimate,
                                   limit_mm=resolv["resolvable_limit_mm"], geometry=recording.geometry,
                                   scale_known=bool(resolv.get("scale_known", True)))
            sev_index = dmg["index"]
        ood = checks.get("ood") or {}
        if ood.get("flag"):
            notes.append(ood.get("text") or "inputs unlike anything the model was trained on — check by hand")
        if ood.get("speed_note"):
            notes.append(ood["speed_note"])
    size_info: dict = {}
    if resolv:  # one size: the arc read from the recording's entry/exit delay, else null with the limit
        size_info = _decision.size_decision(fault=fault, arc=dmg.pop("arc", None), resolv=resolv)
        size, interval = size_info["value_mm"], size_info.get("interval_mm")
    else:  # raw model outputs without the recording's checks (interpret(): bench, tests): the model's size, said so
        size, interval = estimate, est_interval
        if estimate is not None:
            size_info = {"status": "model_output", "value_mm": round(estimate, 3),
                         "interval_mm": [round(v, 3) for v in est_interval],
                         "interval_kind": "90 % predictive interval of the model", "source": MODEL_SOURCE}
        elif fault in SPALL_FAULTS:
            notes.append("this method gives no defect size")
    if fault == "cage":
        notes.append("a cage fault has no spall size; the trend uses the alarm level instead")
    if fault == "none":
        size = 0.0
    sev = severity_zone(velocity_rms_mm_s=velocity_rms_mm_s, machine_class=machine_class)
    alarm, reasons = alarm_level(fault=fault, probability=float(probs[k]), size_mm=size, zone=sev["zone"], agreement=agreement)
    speed_off = bool((ood.get("speed_check") or {}).get("disagrees"))
    if speed_off and fault != "none":  # the location is read at orders of a speed the spectrum contradicts: marked
        alarm = _level_max(alarm, "watch")
        reasons.append(f"{fault.replace('_', ' ')} location NOT reliable: the spectrum's shaft lines contradict the "
                       "given speed or sampling rate — check both and re-run")
    elif ood.get("flag"):
        alarm = _level_max(alarm, "watch")
        reasons.append("unfamiliar inputs: check by hand")
    elif ood.get("speed_note") and fault != "none":  # a fault's location is read at orders of the given speed
        alarm = _level_max(alarm, "watch")
        reasons.append("speed not confirmed by a 1x line: the fault location depends on it, check the speed")
    if suspected and fault == "none":  # the model saw a fault the envelope does not confirm: say so, watch
        alarm = _level_max(alarm, "watch")
        reasons.append(f"possible {suspected[0].replace('_', ' ')} (model p={suspected[1]:.2f}) without confirming envelope "
                       "evidence: re-measure")
    lines = defect_lines_hz(geometry=recording.geometry, rpm=recording.rpm)
    op = {"fs_hz": float(recording.fs_hz), "rpm": float(recording.rpm), "bearing": recording.geometry.name,
          "geometry": recording.geometry.to_dict(), "channel": recording.channel,
          "duration_s": round(recording.duration_s, 3),
          "defect_frequencies_hz": {k2: round(v, 3) for k2, v in lines.items()}}
    if speed:
        op.update(speed)
    windows = {"n": len(per_window), "agreement": round(agreement, 3), "confidence": round(float(probs[k]) * agreement, 3),
               "per_window_faults": counts}
    return BearingResult(fault, {f: float(p) for f, p in zip(FAULTS, probs)}, size, interval, sev, alarm, reasons,
                         windows, op, method=method, source=recording.source, notes=notes, envelope=envelope,
                         evidence=evidence, ood=ood, size=size_info, severity_index=sev_index, damage=dmg,
                         indicators=recording_indicators(recording.signal) if indicators is None else indicators)


def recording_indicators(signal) -> dict:
    """Whole-recording RMS (g, mean removed), kurtosis (3 for Gaussian noise; impacts raise it) and crest factor;
    ``signal`` may also be :func:`features.time_indicators` of the recording, already computed."""
    if isinstance(signal, dict):
        t = signal
    else:
        x = np.asarray(signal, dtype=float)
        if x.size == 0:
            return {}
        t = time_indicators(x)
    return {"rms_g": round(float(t["rms"]), 6), "kurtosis": round(float(t["kurtosis"]), 4),
            "crest_factor": round(float(t["crest_factor"]), 4)}
