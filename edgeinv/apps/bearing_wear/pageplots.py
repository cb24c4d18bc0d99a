"""Plot data a technician expects next to the alarm: the raw waveform and the velocity spectrum the ISO
zone comes from (issue 11). Small JSON-ready dicts, computed once at upload and kept in the result.

* :func:`waveform_plot_data` — the acceleration (g) against time, reduced to at most ``points`` values
  by keeping each block's min and max (impacts survive the reduction).
* :func:`velocity_spectrum_plot_data` — the vibration velocity spectrum (mm/s RMS per frequency line)
  in the ISO 10816 broadband band (10–1000 Hz): the Welch-averaged acceleration PSD integrated once
  (``V(f) = A(f) · g / (2π f)``); the lines' root-sum-square is the broadband velocity RMS that sets the
  ISO zone (:func:`.features.velocity_rms_mm_s` computes the same figure from one FFT).
"""

from __future__ import annotations

import numpy as np

from .features import G, welch_psd

ISO_BAND_HZ = (10.0, 1000.0)


def waveform_plot_data(x, *, fs_hz: float, points: int = 2000) -> dict:
    """``{"t": [s], "y": [g]}`` of the whole recording, min/max per block so peaks are kept."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0 or not fs_hz > 0:
        return {"t": [], "y": []}
    blocks = max(1, int(np.ceil(n / max(2, points // 2))))
    if blocks == 1:
        t, y = np.arange(n) / fs_hz, x
    else:
        m = n // blocks
        xb = x[: m * blocks].reshape(m, blocks)
        lo, hi = xb.argmin(axis=1), xb.argmax(axis=1)
        first = np.minimum(lo, hi)
        second = np.maximum(lo, hi)
        base = np.arange(m) * blocks
        idx = np.column_stack([base + first, base + second]).ravel()
        t, y = idx / fs_hz, x[idx]
    return {"t": [round(float(v), 6) for v in t], "y": [round(float(v), 5) for v in y]}


def welch_density(x: np.ndarray, *, fs_hz: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """One-sided PSD by Welch's method (periodic Hann, half overlap, each segment's mean removed) with its
    frequency axis: ``scipy.signal.welch(x, fs, nperseg=nperseg)`` through ``features.welch_psd`` (scipy.signal
    costs a serving process ~45 MB resident; ``tests/common/test_bench_memory.py`` pins the equality)."""
    return np.fft.rfftfreq(nperseg, 1.0 / fs_hz), welch_psd(x, fs_hz=fs_hz, nperseg=nperseg)


def velocity_spectrum_plot_data(x, *, fs_hz: float, units: str = "g", band_hz=ISO_BAND_HZ,
                                resolution_hz: float = 1.0) -> dict:
    """``{"f": [Hz], "v": [mm/s RMS per line], "rms_mm_s", "band_hz", "df_hz"}`` in the ISO band.

    Welch segments give ``resolution_hz`` lines (coarser when the recording is short); the
    root-sum-square of ``v`` is the band's velocity RMS.
    """
    a = np.asarray(x, dtype=float)
    a = a - a.mean() if a.size else a
    hi = min(float(band_hz[1]), fs_hz / 2.0)
    if a.size < 16 or not fs_hz > 0 or hi <= band_hz[0]:
        return {"f": [], "v": [], "rms_mm_s": None, "band_hz": [float(band_hz[0]), hi], "df_hz": None}
    nper = int(min(a.size, 2 ** np.ceil(np.log2(fs_hz / resolution_hz))))
    f, pa = welch_density(a * (G if units == "g" else 1.0), fs_hz=fs_hz, nperseg=nper)
    df = float(f[1] - f[0])
    sel = (f >= band_hz[0]) & (f <= hi)
    pv = pa[sel] / (2 * np.pi * f[sel]) ** 2  # (m/s)^2 / Hz
    v = np.sqrt(pv * df) * 1e3  # mm/s RMS per line
    return {"f": [round(float(v_), 3) for v_ in f[sel]], "v": [float(f"{x_:.4g}") for x_ in v],
            "rms_mm_s": float(np.sqrt(np.sum(v ** 2))), "band_hz": [float(band_hz[0]), hi], "df_hz": df}


def fit_band(days, sizes_mm, grid_days, *, model: str, level: float = 0.9) -> dict | None:
    """The ``level`` prediction band of a size trend fitted by least squares (:mod:`.trend`).

    ``model``: ``"linear"`` (sizes) or ``"exponential"`` (log sizes). Classical band of a straight-line fit:
    ``ŷ ± t · s · sqrt(1 + 1/n + (x - x̄)² / Sxx)`` with ``n - 2`` degrees of freedom (needs n >= 3),
    transformed back for the exponential model. Returns ``{"low": [...], "high": [...]}`` on ``grid_days``.
    """
    from scipy import stats

    t = np.asarray(days, dtype=float)
    s = np.asarray(sizes_mm, dtype=float)
    ok = np.isfinite(t) & np.isfinite(s) & ((s > 0) if model == "exponential" else True)
    t, s = t[ok], s[ok]
    n = len(t)
    if n < 3 or np.ptp(t) <= 0:
        return None
    y = np.log(s) if model == "exponential" else s
    coef = np.polyfit(t, y, 1)
    resid = y - np.polyval(coef, t)
    sd = float(np.sqrt(np.sum(resid ** 2) / (n - 2)))
    g = np.asarray(grid_days, dtype=float)
    half = stats.t.ppf(0.5 + level / 2, n - 2) * sd * np.sqrt(1 + 1 / n + (g - t.mean()) ** 2 / np.sum((t - t.mean()) ** 2))
    mid = np.polyval(coef, g)
    lo, hi = mid - half, mid + half
    if model == "exponential":
        lo, hi = np.exp(lo), np.exp(hi)
    return {"low": np.maximum(lo, 0.0).tolist(), "high": hi.tolist()}


def defect_markers(name: str, freq_hz: float, *, shaft_hz: float | None = None, harmonics: int = 3,
                   sidebands: int = 0, color: str | None = None) -> list[dict]:
    """Markers for a defect frequency, its harmonics (``2×BPFI``, ``3×BPFI``) and shaft sidebands.

    ``sidebands`` > 0 adds ``f ± k·shaft_hz`` (k = 1..sidebands) around each harmonic, labelled
    ``-1×`` / ``+1×`` and drawn lighter: an inner-race defect is modulated by the shaft as it turns
    through the load zone, so BPFI with sidebands at the shaft rate is its signature.
    """
    if not np.isfinite(float(freq_hz)) or float(freq_hz) <= 0:
        return []
    col = color or "#7a1fa2"
    out = []
    for h in range(1, max(1, int(harmonics)) + 1):
        f = h * float(freq_hz)
        out.append({"x": f, "label": name if h == 1 else f"{h}×{name}", "color": col})
        if sidebands and shaft_hz is not None and np.isfinite(float(shaft_hz)) and float(shaft_hz) > 0:
            for k in range(1, int(sidebands) + 1):
                for sign in (-1, 1):
                    out.append({"x": f + sign * k * float(shaft_hz), "label": f"{'+' if sign > 0 else '−'}{k}×",
                                "color": col, "faint": True})
    return out
