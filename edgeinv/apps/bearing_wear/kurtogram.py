"""Band choice of the edge preprocessing: the fast kurtogram (Antoni, "Fast computation of the kurtogram for
the detection of transient faults", MSSP 21 (2007) 108–124) and the per-machine band plan.

Spectral kurtosis of the complex envelope of each band of a 1/2- and 1/3-binary tree, from one FFT of
the window (an FFT filterbank: each level's bands are shifted to baseband and inverse transformed at
their own reduced rate in one batched FFT). :func:`choose_bands` picks the bands the features use:
the most impulsive band carrying signal, the most energetic wide band below the usable top and the
most impulsive wide band (for the autocorrelation). Re-exported by :mod:`.features`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from edgeinv.common.errors import InvalidInputError

from . import pocketfft as _pfft
from .orders import median as _median

MAX_LEVEL = 2.6  # the finest level of the tree: 1/6 of the band (preprocessing version 6; 5 before)
MIN_BAND_HZ = 500.0  # bands must start above the shaft / structural region
MIN_BAND_POWER_FRAC = 0.1  # a kurtogram band must carry >= this x the median band power density


@dataclass(frozen=True)
class Band:
    level: float
    f_lo_hz: float
    f_hi_hz: float
    sk: float

    @property
    def centre_hz(self) -> float:
        return 0.5 * (self.f_lo_hz + self.f_hi_hz)

    @property
    def width_hz(self) -> float:
        return self.f_hi_hz - self.f_lo_hz


@functools.lru_cache(maxsize=32)
def _kurtogram_levels(nbins: int, *, df: float, min_width_hz: float, max_level: float) -> tuple[tuple[int, float, int], ...]:
    """(bands per level, level, bins per band) of the 1/2 + 1/3 tree up to ``max_level``, coarse to fine, narrow
    levels skipped."""
    top = int(max_level) + 1
    splits = [(2**k, float(k)) for k in range(top + 1)]
    splits += [(3 * 2 ** (k - 1), k + math.log2(1.5)) for k in range(1, top)]
    out = []
    for div, lev, nb in ((div, lev, (nbins - 1) // div) for div, lev in sorted(splits, key=lambda s: s[1])):
        if lev <= max_level and nb * df >= min_width_hz and nb >= 4:  # all bands of a level: one batched FFT
            out.append((div, lev, nb))
    return tuple(out)


def fast_kurtogram(X: np.ndarray, *, n: int, fs_hz: float, min_width_hz: float, max_level: float = MAX_LEVEL,
                   keep=None) -> tuple[Band, list[Band]]:
    """Spectral kurtosis over a 1/2 + 1/3 binary tree of bands (Antoni 2007); returns (best, all).

    ``SK = <|c|^4> / <|c|^2>^2 - 2`` of each band's complex envelope ``c`` (0 for Gaussian noise,
    -1 for a pure tone, large for repetitive transients). ``keep(f_lo, f_hi)`` (optional; arrays of
    band edges in Hz -> boolean array) says which bands the caller can use: only those are filtered
    (the others are not returned).
    """
    level, lo, hi, sk = _kurtogram_table(X, n=n, fs_hz=fs_hz, min_width_hz=min_width_hz, max_level=max_level, keep=keep)
    bands = [Band(*row) for row in zip(level.tolist(), lo.tolist(), hi.tolist(), sk.tolist())]
    return max(bands, key=lambda b: b.sk), bands


def _kurtogram_table(X: np.ndarray, *, n: int, fs_hz: float, min_width_hz: float, max_level: float = MAX_LEVEL,
                     keep=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fast_kurtogram` as arrays (level, f_lo, f_hi, SK) in the same band order; raises if no band is left."""
    grid = _kurtogram_grid(len(X), fs_hz / n, float(min_width_hz), float(max_level))
    idx = _kept_bands(grid, keep, fs_hz=fs_hz)
    _, lev, lo, hi, _ = grid
    return lev[idx], lo[idx], hi[idx], _band_sk(X, grid, idx)


def _kept_bands(grid, keep, *, fs_hz: float) -> np.ndarray:
    """Indices (into :func:`_kurtogram_grid`'s arrays) of the bands ``keep(f_lo, f_hi)`` accepts (all if None)."""
    _, lev, lo, hi, _ = grid
    idx = np.arange(len(lev)) if keep is None else np.flatnonzero(np.asarray(keep(lo, hi), dtype=bool))
    if not len(idx):
        raise InvalidInputError(f"sampling rate {fs_hz:g} Hz is too low for envelope analysis at this speed")
    return idx


def _band_sk(X: np.ndarray, grid, idx: np.ndarray) -> np.ndarray:
    """Spectral kurtosis of the bands ``idx`` (sorted indices into :func:`_kurtogram_grid`'s arrays): each level's
    selected bands are inverse transformed in one batched FFT, unscaled and in place (SK is scale-free), zero-padded
    to a 5-smooth length (a 2 133-bin band, 3^3 * 79, costs 3x more than 2 160 points; the padding interpolates the
    envelope, the SK of the interpolated envelope is the definition since preprocessing version 6)."""
    levels, _, _, _, rows = grid
    s2, s4, count = np.empty(len(idx)), np.empty(len(idx)), np.empty(len(idx))  # per band: sums of |c|^2, |c|^4, m
    cuts = np.searchsorted(idx, [start for *_, start in levels] + [len(grid[1])]).tolist()
    for (div, _, nb, _), a, b in zip(levels, cuts[:-1], cuts[1:]):
        if a == b:
            continue
        m = _pfft.next_fast_len(nb)
        # the selected bands, zero-padded to m, transformed in place (what scipy.fft.ifft(..., n=m) does)
        c = np.zeros((b - a, m), dtype=X.dtype)
        c[:, :nb] = X[: div * nb].reshape(div, nb)[rows[idx[a:b]]]
        c = _pfft.ifft_forward_norm_(c, axis=1)
        p = np.square(c.real, dtype=np.float64)  # sums in double (the transform may be single precision)
        p += np.square(c.imag, dtype=np.float64)
        np.add.reduce(p, axis=1, out=s2[a:b])
        np.einsum("ij,ij->i", p, p, out=s4[a:b])
        count[a:b] = m
    # the few bands' arithmetic once for all levels (issue 13, stop 26; elementwise, the same doubles as per level)
    m2 = s2 / count
    sk = s4 / count / np.maximum(m2 * m2, 1e-300) - 2.0
    sk[m2 <= 0] = -2.0
    return sk


@dataclass(frozen=True)
class _BandPlan:
    """The kurtogram bands a window's band choice can use and where they fall in the window's power spectrum.

    Depends only on the sampling rate, the window and kurtogram lengths, the speed and the usable top
    (one of :data:`N_POWER_BANDS` values), so a machine's windows share a few plans (:func:`_band_plan`).
    """

    grid: tuple  # _kurtogram_grid(...)
    idx: np.ndarray  # kept bands (indices into the grid's arrays)
    lev: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    width_bins: np.ndarray  # max(b1 - b0, 1): bins of the band in the window's spectrum
    seg_starts: np.ndarray  # reduceat starts over P: cumulative sums at every edge below come from these segments
    at_hi: np.ndarray  # positions in [0, cumulative sums...] of cum[b1], cum[min(b0, b1 - 1)], cum[b0], cum[1 kHz]
    at_lo: np.ndarray
    at_b0: np.ndarray
    at_1k: int
    wide_sel: np.ndarray  # bands of the energy view (levels 1.5-2.6 above the structural region), else all
    le_16: np.ndarray  # levels <= 1.6 (wide bands for the autocorrelation)


def _band_plan(nk_bins: int, dfk: float, n_bins: int, df: float, min_width: float, lim: float, fs_hz: float) -> _BandPlan:
    """:class:`_BandPlan` of a window: usable bands below ``lim`` and above the structural region (else below
    ``lim``, else all); raises :class:`InvalidInputError` if the rate leaves no band at all.

    Kept per window shape and usable top with ``min_width`` replaced by :func:`_level_floor`'s (the same levels, so
    the same plan): ``min_width`` follows the speed, which differs a little in every recording of a machine, while
    the window lengths are 5-smooth and the tops one of a few band edges (issue 13, stop 29: a machine's recordings
    rebuilt the plan every time, ~0.15 ms)."""
    return _band_plan_kept(nk_bins, dfk, n_bins, df, _level_floor(nk_bins, dfk, float(min_width), MAX_LEVEL), lim, fs_hz)


def _level_floor(nbins: int, df: float, min_width_hz: float, max_level: float) -> float:
    """The narrowest band width (``nb * df``) of the levels :func:`_kurtogram_levels` keeps for ``min_width_hz``:
    as ``min_width_hz`` it keeps the same levels (the levels' widths fall with their level, so those kept are the
    ones at least as wide as the narrowest kept); ``inf`` if none is kept."""
    widths = [nb * df for *_, nb in _kurtogram_levels(nbins, df=df, min_width_hz=0.0, max_level=max_level)]
    kept = [w for w in widths if w >= min_width_hz]
    return min(kept) if kept else math.inf


@functools.lru_cache(maxsize=64)
def _band_plan_kept(nk_bins: int, dfk: float, n_bins: int, df: float, min_width: float, lim: float,
                    fs_hz: float) -> _BandPlan:
    """:func:`_band_plan`, kept per argument (``min_width`` one of the levels' widths)."""
    grid = _kurtogram_grid(nk_bins, dfk, float(min_width), MAX_LEVEL)
    for keep in (lambda lo, hi: (hi <= lim) & (lo >= MIN_BAND_HZ * 0.5), lambda lo, hi: hi <= lim, None):
        try:
            idx = _kept_bands(grid, keep, fs_hz=fs_hz)
            break
        except InvalidInputError:
            if keep is None:
                raise
    lev, lo, hi = (a[idx] for a in grid[1:4])
    last = n_bins - 1
    b0 = (lo / df).astype(np.int64)
    b1 = np.minimum(np.maximum((hi / df).astype(np.int64), b0 + 1), last)
    k_1k = min(int(1000.0 / df), last)
    # cum[k] = sum(P[1:k + 1]) at every edge: segment sums between the distinct edges, then their cumulative sum
    edges = np.unique(np.concatenate((b1, np.minimum(b0, b1 - 1), b0, [k_1k])))
    inner = edges[edges > 0]
    starts = np.concatenate(([1], inner + 1))
    starts = starts[starts < n_bins]

    def at(k):  # position of cum[k] in [0.0, cumsum of the segment sums...]
        return np.searchsorted(inner, k) + 1 - (np.asarray(k) == 0)

    wide_sel = (lev >= 1.5) & (lev <= 2.6) & (lo >= MIN_BAND_HZ * 0.5)
    plan = _BandPlan(grid, idx, lev, lo, hi, np.maximum(b1 - b0, 1), starts, at(b1), at(np.minimum(b0, b1 - 1)),
                     at(b0), int(at(k_1k)), wide_sel if wide_sel.any() else np.ones(len(lev), dtype=bool), lev <= 1.6)
    for arr in (idx, lev, lo, hi, plan.width_bins, starts, plan.at_hi, plan.at_lo, plan.at_b0, plan.wide_sel, plan.le_16):
        arr.flags.writeable = False
    return plan


@functools.lru_cache(maxsize=32)
def _kurtogram_grid(nbins: int, df: float, min_width_hz: float, max_level: float):
    """All bands of :func:`_kurtogram_levels` as arrays, level by level (kept: a machine's windows repeat them):
    ((bands per level, level, bins per band, first index), level, f_lo, f_hi, band index within its level)."""
    levels, lev, lo, hi, rows = [], [], [], [], []
    start = 0
    for div, lv, nb in _kurtogram_levels(nbins, df=df, min_width_hz=min_width_hz, max_level=max_level):
        r = np.arange(div)
        levels.append((div, lv, nb, start))
        lev.append(np.full(div, lv))
        lo.append(r * nb * df)
        hi.append((r + 1) * nb * df)
        rows.append(r)
        start += div
    out = [np.concatenate(a) if a else np.zeros(0) for a in (lev, lo, hi)] + [
        np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)]
    for arr in out:
        arr.flags.writeable = False
    return (tuple(levels), *out)


@dataclass(frozen=True)
class BandChoice:
    """The bands a window's features use and the chosen band's share of the window's power."""

    best: Band  # most impulsive band carrying >= MIN_BAND_POWER_FRAC x the median band power density
    energy: Band  # most energetic band of levels 1.5-2.6 above the structural region (second envelope view)
    wide: Band  # most impulsive band of levels <= 1.6 (the autocorrelation's), else ``best``
    band_power: float  # power in the best band's bins / total (DC left out)
    low_power: float  # power below 1 kHz / total


def choose_bands(P: np.ndarray, Xk: np.ndarray, plan: _BandPlan) -> BandChoice:
    """:class:`BandChoice` from the window's power spectrum ``P`` and the rfft ``Xk`` of its first second."""
    lev, lo, hi = plan.lev, plan.lo, plan.hi
    # mean power density of each band: cumulative sums of the window's power spectrum at the band edges
    cum = np.zeros(len(plan.seg_starts) + 1)
    np.cumsum(np.add.reduceat(P, plan.seg_starts), out=cum[1:])
    total = float(cum[-1]) + 1e-30
    dens = (cum[plan.at_hi] - cum[plan.at_lo]) / plan.width_bins
    ref = _median(dens) + 1e-300

    def first_max(values, sel):  # the first band of the selection with the largest value (as max() over a list)
        i = np.flatnonzero(sel)
        return int(i[np.argmax(values[i])]) if len(i) else None

    strong = dens >= MIN_BAND_POWER_FRAC * ref
    if not strong.any():
        strong = np.ones(len(lev), dtype=bool)
    i_energy = first_max(dens, plan.wide_sel)
    # spectral kurtosis only of the bands the choice below reads: strong ones, wide ones, the energy band
    need = strong | plan.le_16
    need[i_energy] = True
    sk = np.full(len(lev), -np.inf)
    sk[need] = _band_sk(Xk, plan.grid, plan.idx[need])

    def band(i):
        return Band(float(lev[i]), float(lo[i]), float(hi[i]), float(sk[i]))

    i_best, i_wide = first_max(sk, strong), first_max(sk, plan.le_16)
    best = band(i_best)
    return BandChoice(best, band(i_energy), best if i_wide is None else band(i_wide),
                      band_power=float((cum[plan.at_hi[i_best]] - cum[plan.at_b0[i_best]]) / total),
                      low_power=float(cum[plan.at_1k] / total))
