"""Spectrum helpers of the edge preprocessing: where a recording has signal, local background, slip and speed search.

Pure numpy/scipy functions used by :mod:`.features` (which re-exports them with the app's constants).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft


def usable_band_hz(X: np.ndarray, *, n: int, fs_hz: float, floor_db: float = 25.0, n_bands: int = 64) -> tuple[float, float]:
    """(lowest, highest) frequency that carries signal: below the recorder's anti-alias cut-off and noise floor.

    The spectrum is cut into ``n_bands`` bands; the reference is the median band power
    between 500 Hz and 0.4 ``fs``. The top is the upper edge of the highest band whose power is
    within ``floor_db`` of that reference (a steep anti-alias roll-off or a flat quantisation floor
    above it is "empty": a few spikes there give a huge kurtosis but no bearing information).
    """
    p = np.abs(X[1:]) ** 2
    nb = n_bands
    m = len(p) // nb
    if m < 1:
        return 0.0, fs_hz / 2
    bp = p[: m * nb].reshape(nb, m).mean(axis=1)
    edges = np.arange(nb + 1) * m * fs_hz / n
    centre = 0.5 * (edges[:-1] + edges[1:])
    ref_sel = (centre >= 500.0) & (centre <= 0.4 * fs_hz)
    ref = float(np.median(bp[ref_sel])) if ref_sel.any() else float(np.median(bp))
    ok = np.nonzero(bp >= ref * 10 ** (-floor_db / 10))[0]
    top = float(edges[ok[-1] + 1]) if len(ok) else fs_hz / 2
    return 0.0, min(top, 0.49 * fs_hz)


def local_background_normalise(spec: np.ndarray, *, half_width_bins: int = 32) -> np.ndarray:
    """Divide a (linear) order spectrum by its running median over +-``half_width_bins`` (its local background;
    32 bins = one order on the 1/32-order axis)."""
    from scipy.ndimage import median_filter

    bg = median_filter(spec, size=2 * half_width_bins + 1, mode="nearest")
    floor = float(np.median(spec[8:])) * 1e-3 + 1e-30
    out = spec / np.maximum(bg, floor)
    out[:2] = 0.0
    return out


def refine_order(spec_norm: np.ndarray, *, order: float, bins_per_order: int, slip_range: tuple[float, float],
                 slip_step: float = 0.001, n_harmonics: int = 3) -> tuple[float, np.ndarray]:
    """The fault order that best explains lines near ``k * order`` (k = 1..3) of a normalised order spectrum.

    Rolling elements slip (the impact rate runs 1–2 % below kinematics) and the typed speed is off by
    a fraction of a percent, so the comb ``k * order * (1 + s)`` is searched over ``s`` in
    ``slip_range``. Returns the refined order and the line heights (ratio to the local background)
    at its first ``n_harmonics`` harmonics (0 beyond the end of the axis).
    """
    grid = np.arange(slip_range[0], slip_range[1] + 1e-9, slip_step)
    best_s, best_score, best_h = 0.0, -np.inf, np.zeros(n_harmonics)
    nbin = len(spec_norm)
    for s in grid:
        h = np.zeros(n_harmonics)
        centre = 0.0
        for k in range(1, n_harmonics + 1):
            c = k * order * (1 + s) * bins_per_order
            i = int(round(c))
            if i + 1 >= nbin:
                break
            h[k - 1] = spec_norm[max(i - 1, 2): i + 2].max()
            centre += math.log(max(float(spec_norm[i]), 1e-3))  # prefers the comb that hits the lines' own bins
        score = float(np.sum(np.log(np.maximum(h, 1e-3)))) + 0.1 * centre
        if score > best_score + 1e-9 or (abs(score - best_score) <= 1e-9 and abs(s) < abs(best_s)):
            best_s, best_score, best_h = float(s), score, h
    return order * (1 + best_s), best_h


def refine_rpm(x: np.ndarray, *, fs_hz: float, rpm: float, search: float = 0.02, min_prominence_db: float = 10.0,
               max_seconds: float = 20.0) -> tuple[float, str]:
    """The shaft speed from the 1x line of the spectrum, if there is a clear one within +-``search`` of ``rpm``.

    Returns (rpm, how): the refined speed and "1x line" when the peak stands ``min_prominence_db``
    over the median of its +-10 % neighbourhood, else the given speed and "as given". The peak is
    interpolated (quadratic on log magnitude) between bins of a zero-padded spectrum.
    """
    n = min(len(x), int(max_seconds * fs_hz))
    f_r = rpm / 60.0
    y = np.asarray(x[:n], dtype=float) - float(np.mean(x[:n]))
    nfft = sfft.next_fast_len(4 * n, real=True)
    spec = np.abs(sfft.rfft(y * np.hanning(n), n=nfft))
    df = fs_hz / nfft
    k0, k1 = int(f_r * (1 - search) / df), int(math.ceil(f_r * (1 + search) / df))
    n0, n1 = int(f_r * 0.9 / df), int(math.ceil(f_r * 1.1 / df))
    if k1 + 1 >= len(spec) or k0 < 2:
        return float(rpm), "as given"
    k = k0 + int(np.argmax(spec[k0:k1 + 1]))
    bg = float(np.median(spec[n0:n1 + 1])) + 1e-30
    if 20 * math.log10(spec[k] / bg + 1e-30) < min_prominence_db or k in (k0, k1):
        return float(rpm), "as given"
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-30)
    delta = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return float((k + float(np.clip(delta, -0.5, 0.5))) * df * 60.0), "1x line"
