"""Labelled real files for the core calibration path, and commissioning a machine from its healthy recording.

* :func:`read_labelled` (``App.read_labelled``; ``edgeinv bearing-wear calibrate DATA --labels L``):
  a labels table (``file`` or ``local_file``; ``fault`` or ``fault_location``; optional
  ``defect_size_mm``, ``fs_hz``, ``rpm``, ``bearing``, ``group`` or ``rig``) naming recordings in
  DATA. Every analysis window of a recording becomes one labelled sample with the recording as its
  group, so windows of one file never sit on both sides of the hold-out split.
* :func:`commission` (``edgeinv bearing-wear commission MACHINE HEALTHY...``): the seed's "pre-train
  on physics, adapt at the edge". The machine's own healthy recordings are the background; simulated
  fault responses (every fault type, sizes 0.1–3 mm, SNR −6…+18 dB against that background, the
  impulse responses and modulations of :mod:`.simulate`, low-passed at the recording's usable top)
  are added to its windows, and the shipped teacher is fine-tuned on those plus the untouched healthy
  windows through the core path (:func:`edgeinv.common.calibrate.calibrate`; simulations mixed in
  against forgetting). The result is a release folder used with ``--model``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import tempfile
from pathlib import Path

import numpy as np
from scipy import signal as sps

from edgeinv.common.errors import InvalidInputError

from . import features as F
from .physics import FAULTS
from .realeval import bearing_spec
from .simulate import _fault_component, _resonance_ir, draw_conditions, size_gain

SIZE_UNKNOWN = ("", "unknown", "nan", "none")


def _num(v):
    try:
        f = float(str(v).split()[0])
        return f if math.isfinite(f) else None
    except (TypeError, ValueError, IndexError):
        return None


def read_labelled(app, data, labels) -> list:
    data, labels = Path(data), Path(labels)
    with open(labels, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise InvalidInputError(f"{labels}: no rows")
    key_file = "file" if "file" in rows[0] else "local_file" if "local_file" in rows[0] else None
    key_fault = "fault" if "fault" in rows[0] else "fault_location" if "fault_location" in rows[0] else None
    if key_file is None or key_fault is None:
        raise InvalidInputError(f"{labels}: needs a 'file' (or 'local_file') and a 'fault' (or 'fault_location') column")
    base = data if data.is_dir() else data.parent
    pairs = []
    for i, row in enumerate(rows, 2):
        rel = row[key_file]
        path = base / rel
        if not path.is_file():  # labels relative to the data folder's parent (../shared/realdata layout)
            path = base / Path(*Path(rel).parts[1:]) if len(Path(rel).parts) > 1 else path
        if not path.is_file() or (data.is_file() and path != data):
            continue
        fault = (row[key_fault] or "none").strip()
        if fault not in FAULTS:
            raise InvalidInputError(f"{labels} line {i}: fault {fault!r} is not one of {', '.join(FAULTS)}")
        meta = {k: _num(row.get(k)) for k in ("fs_hz", "rpm")}
        rec = None
        for attempt in ({}, {k: v for k, v in meta.items() if v}):
            try:
                rec = app.read(path, filename=path.name, bearing=bearing_spec(row.get("bearing", "")) or row.get("bearing") or None,
                               **attempt)
                break
            except InvalidInputError:
                if attempt:
                    raise
        size = _num(row.get("defect_size_mm")) if str(row.get("defect_size_mm", "")).strip().lower() not in SIZE_UNKNOWN else None
        if fault in ("none", "cage"):
            size = 0.0
        label = {"fault": fault, "defect_size_mm": float("nan") if size is None else size,
                 "_group": row.get("group") or rel}
        for s, e in F.split_windows(len(rec.signal), fs_hz=rec.fs_hz, rpm=rec.rpm):
            pairs.append((dataclasses.replace(rec, signal=rec.signal[s:e]), dict(label)))
    return pairs


def inject_fault(window: np.ndarray, *, fs_hz: float, rpm: float, geometry, fault: str, size_mm: float,
                 snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """A real (healthy) window plus a simulated fault response at ``snr_db`` against the window's own power."""
    n = len(window)
    cond = draw_conditions(rng=rng, fault=fault, defect_size_mm=size_mm if fault not in ("none", "cage") else 0.0,
                           rpm=rpm, fs_hz=fs_hz, geometry=geometry, snr_db=snr_db, rpm_error_frac=0.0)
    h = _resonance_ir(fs_hz=fs_hz, rng=rng)
    train, low = _fault_component(cond, n, h, rng)
    comp = sps.fftconvolve(train, h, mode="full")[:n] + low
    x = np.asarray(window, dtype=np.float64)
    _, top = F.usable_band_hz(np.fft.rfft(x - x.mean()), n=n, fs_hz=fs_hz)
    if top < 0.49 * fs_hz:  # the recorder would have filtered the fault response too
        comp = sps.sosfiltfilt(sps.butter(8, top, fs=fs_hz, output="sos"), comp)
    gain = size_gain(cond.defect_size_mm, geometry) if fault != "cage" else 1.0
    p = np.mean((x - x.mean()) ** 2) * 10 ** (snr_db / 10) * gain**2
    comp *= math.sqrt(p / (np.mean(comp**2) + 1e-30))
    return (x + comp).astype(np.float32)


def commission(app, machine: str, recordings: list, out_dir, *, settings, injections: int = 8,
               seed: int = 0, options=None, progress: bool = True) -> dict:
    """Fine-tune the shipped model to one machine from its healthy recordings (see the module docstring)."""
    from edgeinv.common.calibrate import CalibrationOptions, calibrate

    rng = np.random.default_rng(seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for r_i, rec in enumerate(recordings):
            for w_i, (s, e) in enumerate(F.split_windows(len(rec.signal), fs_hz=rec.fs_hz, rpm=rec.rpm)):
                win = rec.signal[s:e]
                cases = [("none", 0.0, None)] + [
                    (FAULTS[1 + int(rng.integers(len(FAULTS) - 1))], float(rng.uniform(0.1, 3.0)), float(rng.uniform(-6, 18)))
                    for _ in range(injections)]
                for c_i, (fault, size, snr) in enumerate(cases):
                    x = win if fault == "none" else inject_fault(win, fs_hz=rec.fs_hz, rpm=rec.rpm, geometry=rec.geometry,
                                                                 fault=fault, size_mm=size, snr_db=snr, rng=rng)
                    name = f"r{r_i}_w{w_i}_{c_i}.npz"
                    np.savez(tmp / name, signal=np.asarray(x, np.float32), fs_hz=rec.fs_hz, rpm=rec.rpm)
                    rows.append({"file": name, "fault": fault, "defect_size_mm": "" if fault in ("none", "cage") else f"{size:.3f}",
                                 "bearing": _spec(rec.geometry), "group": f"r{r_i}_w{w_i}"})
        with open(tmp / "labels.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        opts = options or CalibrationOptions(epochs=15, lr=3e-4, n_sim=1000, seed=seed)
        report = calibrate(app, tmp, tmp / "labels.csv", Path(out_dir), settings=settings, config="default",
                           options=opts, progress=progress)
    report["machine"] = machine
    report["healthy_recordings"] = [getattr(r, "source", "") for r in recordings]
    report["injected_per_window"] = injections
    return report


def _spec(g) -> str:
    return f"n={g.n_elements},d={g.element_diameter_mm},D={g.pitch_diameter_mm},angle={g.contact_angle_deg}"
