"""Edge-side preprocessing of one vibration window into the model input (numpy/scipy only).

Steps, each a pure function:

1. **Window** of :data:`N_REV` shaft revolutions (:func:`window_length`), so the envelope
   spectrum's bins fall on multiples of ``1 / N_REV`` order whatever the speed and sampling rate.
2. **Band selection** (:mod:`.kurtogram`) by a fast kurtogram (Antoni, "Fast computation of the kurtogram for the
   detection of transient faults", MSSP 21 (2007) 108–124): spectral kurtosis of the complex
   envelope of each band of a 1/2- and 1/3-binary tree, computed from one FFT of the window
   (an FFT filterbank: each level's bands are shifted to baseband and inverse transformed at their
   own reduced rate in one batched FFT). Bands narrower than the envelope orders we need are skipped.
3. **Envelope spectrum** of the selected band and of the upper half band (squared envelope,
   Randall & Antoni 2011 section 3) on the shaft-**order** axis 0–:data:`ORDER_MAX`, divided by its
   median (the background), ``log1p``.
4. **One view per fault hypothesis.** Each envelope spectrum is resampled onto the axis
   ``u = order / impact order`` of each fault (BPFO, BPFI, 2 x BSF, FTF; 0–:data:`U_MAX`), so the
   harmonics of the true fault fall on ``u = 1, 2, 3`` in its own view whatever the bearing
   geometry, speed and sampling rate; the network scores the four views with shared weights. A
   third channel per view marks where the shaft harmonics fall on that axis (lines at integer
   orders come from unbalance or other machinery, not from the bearing), a fourth where the
   fault's own harmonics ``u = 1, 2, 3`` are (a position reference for the convolutions).
5. **Squared-envelope autocorrelation** of the best wide band (kurtogram levels <= 1.6) on an axis
   of spall length in mm (lag x rolling speed): the entry/exit double event of a spall repeats
   ``L / v`` apart (Sawalhi & Randall 2011), which the autocorrelation shows as a bump at ``L``.
6. **Time-domain indicators** (RMS, kurtosis, crest factor, skewness, impulse and shape factors,
   ISO 10816 velocity RMS) and the operating point.

The result is one float32 array of shape :data:`INPUT_SHAPE` = ``(18, 256)``: channels
:data:`CHANNELS`; the last channel carries :data:`SCALARS` in its first entries and zeros after.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from edgeinv.common.errors import InvalidInputError

from . import orders as _orders
from . import pocketfft as _pfft
from .kurtogram import MAX_LEVEL, MIN_BAND_HZ, MIN_BAND_POWER_FRAC, Band, choose_bands, fast_kurtogram  # noqa: F401
from .kurtogram import _band_plan
from .orders import local_background_normalise, refine_rpm, usable_band_hz  # noqa: F401 (re-exported)
from .physics import BearingGeometry, defect_orders, impact_order, rolling_speed_m_s

PREPROCESSING_VERSION = "6"
N_REV = 32
ORDER_MAX = 25.6
ORDER_AXIS = np.arange(int(round(ORDER_MAX * N_REV))) / N_REV
N_BINS = 256
U_MAX = 4.0
U_AXIS = np.arange(N_BINS) * U_MAX / N_BINS
SIZE_AXIS_MAX_MM = 4.0
SIZE_AXIS_MM = np.arange(N_BINS) * SIZE_AXIS_MAX_MM / N_BINS
KURTOGRAM_SAMPLES = 16384  # the kurtogram reads the rfft of the window's first samples (version 6; 1 s before)
HYPOTHESES = ("outer_race", "inner_race", "ball", "cage")
VIEW_CHANNELS = ("band", "energy", "shaft_comb", "harmonic_marks")
N_VC = len(VIEW_CHANNELS)
CHANNELS = tuple(f"{h}_{v}" for h in HYPOTHESES for v in VIEW_CHANNELS) + ("envelope_acf_mm", "scalars")
SCALARS = ("log_usable_top", "log_kurtosis", "log_crest", "skewness", "log_impulse", "log_shape", "log_sk_max",
           "band_centre", "log_band_width", "log_rpm", "log_fs", "log_band_power", "log_low_power",
           "log_env_peak", "n_elements", "diameter_ratio", "slip_outer", "slip_inner", "slip_ball", "slip_cage")
N_POWER_BANDS = 64
SLIP_RANGE = (-0.025, 0.015)  # fault-order search: slip (below) and speed error (either way)
SLIP_STEP = 0.001
INPUT_SHAPE = (len(CHANNELS), N_BINS)
G = 9.80665


def window_length(*, fs_hz: float, rpm: float) -> int:
    """Samples in one analysis window: :data:`N_REV` shaft revolutions."""
    return int(round(N_REV * 60.0 / float(rpm) * float(fs_hz)))


def split_windows(n_samples: int, *, fs_hz: float, rpm: float, max_windows: int = 64) -> list[tuple[int, int]]:
    """(start, stop) of the windows of a recording: back to back, spread evenly if there are too many.

    A recording shorter than one window raises :class:`InvalidInputError`.
    """
    w = window_length(fs_hz=fs_hz, rpm=rpm)
    if n_samples < w:
        raise InvalidInputError(
            f"recording too short: {n_samples} samples ({n_samples / fs_hz:.2f} s) but one analysis window is "
            f"{N_REV} shaft revolutions = {w} samples ({w / fs_hz:.2f} s) at {rpm:g} rpm and {fs_hz:g} Hz"
        )
    count = n_samples // w
    if count <= max_windows:
        starts = [i * w for i in range(count)]
    else:
        starts = np.linspace(0, n_samples - w, max_windows).astype(int).tolist()
    return [(s, s + w) for s in starts]


def _band_bins(band: Band, *, df: float, n_bins: int) -> tuple[int, int]:
    """(first bin, bin count) of ``band`` in a spectrum of ``n_bins`` bins spaced ``df``."""
    k0, k1 = int(math.ceil(band.f_lo_hz / df)), min(int(math.floor(band.f_hi_hz / df)), n_bins - 1)
    return k0, max(k1 - k0, 1)


def _squared_envelopes(X: np.ndarray, *, n: int, bands, points: int) -> np.ndarray:
    """``|c|**2`` of each band's complex envelope (rows), from the rfft ``X`` of an ``n``-sample window, all at
    ``points`` samples (sampling rate ``points * fs / n``) in one batched inverse FFT. The result is a scratch array
    (:func:`pocketfft.scratch`, ``"f32a"``): the callers transform it and keep only what they compute from it."""
    z = _pfft.scratch("cA", (len(bands), points), np.complex64)  # single precision: see analyse_window
    z.fill(0)
    scale = np.float32(1.0 / n)
    for r, (k0, nb) in enumerate(bands):
        np.multiply(X[k0:k0 + nb], scale, out=z[r, :nb])  # the scale on the nb inputs, none in the ifft
    c = _pfft.ifft_forward_norm_(z, axis=1)
    e = np.square(c.real, out=_pfft.scratch("f32a", z.shape, np.float32))
    e += np.square(c.imag, out=_pfft.scratch("f32b", z.shape, np.float32))
    return e


@functools.lru_cache(maxsize=64)  # a gateway's machines (the bench's stream of 50 missed 64 % of calls with 32)
def _hann(n: int) -> np.ndarray:
    """``np.hanning(n)`` (:func:`orders.hann_values`, exact) for the envelope lengths in use (read-only)."""
    w = _orders.hann_values(n, exact=True)
    w.flags.writeable = False
    return w


def envelope_spectra(X: np.ndarray, *, n: int, fs_hz: float, bands, min_points: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Squared-envelope spectra (amplitude, Hann-windowed) of ``bands`` from the rfft ``X`` of an ``n``-sample
    window: (frequencies in Hz, one row per band). Every envelope is sampled at ``m`` points, the 5-smooth length
    of the widest band (or ``min_points``): at least the band's width, not twice it, so ``|c|**2`` folds what lies
    above half that rate (preprocessing version 6: half the points; the order axis ends below that rate)."""
    df = fs_hz / n
    cuts = [_band_bins(b, df=df, n_bins=len(X)) for b in bands]
    m = _pfft.next_fast_len(max(max(nb for _, nb in cuts), int(min_points)))
    e = _squared_envelopes(X, n=n, bands=cuts, points=m)
    # the mean in double, as e.mean(axis=1, dtype=np.float64) computes it (the same sum, divided by m)
    e -= (np.add.reduce(e, axis=1, dtype=np.float64, keepdims=True) / m).astype(np.float32)
    e *= _hann(m)
    E = _pfft.rfft_into(e, "cA")
    spec = np.square(E.real, dtype=np.float64)  # |E| in double from exact squares: numpy's complex abs has
    spec += np.square(E.imag, dtype=np.float64, out=_pfft.scratch("f64t", E.shape, np.float64))  # instruction-
    # set-specific loops (results differed under qemu)
    np.sqrt(spec, out=spec)
    spec *= 2.0 / m
    return _freq_axis(spec.shape[1], df), spec


@functools.lru_cache(maxsize=64)
def _freq_axis(count: int, df: float) -> np.ndarray:
    """``np.arange(count) * df`` (read-only; a machine's windows repeat it)."""
    f = np.arange(count) * df
    f.flags.writeable = False
    return f


def to_order_axis(freqs_hz: np.ndarray, spec: np.ndarray, *, shaft_hz: float) -> np.ndarray:
    """Resample a spectrum onto :data:`ORDER_AXIS`, divide by its median, ``log1p`` (DC bins zeroed)."""
    s = np.interp(ORDER_AXIS, freqs_hz / shaft_hz, spec, right=0.0)
    s[:2] = 0.0
    bg = float(np.median(s[8:])) + 1e-20
    return np.log1p(s / bg)


def fault_view(spec_orders: np.ndarray, *, order: float) -> np.ndarray:
    """An order spectrum seen on the axis ``u = order / impact order`` (:data:`U_AXIS`).

    Where one ``u`` bin spans several order bins it takes their maximum (lines keep their height);
    where it spans less than one it interpolates. Orders beyond :data:`ORDER_MAX` read 0.
    """
    du = U_MAX / N_BINS
    if order * du * N_REV >= 1.0:
        edges = np.round((U_AXIS - du / 2).clip(0) * order * N_REV).astype(np.int64)
        edges = np.minimum(edges, len(spec_orders) - 1)
        out = np.maximum.reduceat(spec_orders, edges)
    else:
        out = np.interp(U_AXIS * order, ORDER_AXIS, spec_orders)
    out[U_AXIS * order > ORDER_MAX] = 0.0
    return out


def fault_views(spectra: np.ndarray, *, order: float) -> np.ndarray:
    """:func:`fault_view` of each row of ``spectra`` (one pass for the band and energy spectra)."""
    spectra = np.asarray(spectra)
    edges, beyond = _view_bins(float(order), spectra.shape[1])
    if edges is not None:
        out = np.maximum.reduceat(spectra, edges, axis=1)
    else:
        out = np.stack([np.interp(U_AXIS * order, ORDER_AXIS, row) for row in spectra])
    out[:, beyond] = 0.0
    return out


@functools.lru_cache(maxsize=64)
def _view_bins(order: float, n_orders: int):
    """:func:`fault_views`' bin edges on the order axis (None where a view bin spans less than one order bin) and
    the view bins beyond :data:`ORDER_MAX` (kept: the refined orders of a machine repeat)."""
    du = U_MAX / N_BINS
    edges = None
    if order * du * N_REV >= 1.0:
        edges = np.round((U_AXIS - du / 2).clip(0) * order * N_REV).astype(np.int64)
        edges = np.minimum(edges, n_orders - 1)
        edges.flags.writeable = False
    beyond = U_AXIS * order > ORDER_MAX
    beyond.flags.writeable = False
    return edges, beyond


def _fault_views_into(both: np.ndarray, orders: tuple) -> np.ndarray:
    """A fresh model input with every fault's four view channels filled (:func:`fault_views` of ``both`` for each
    of ``orders``, shaft combs, harmonic marks): each view bin the maximum of its order bins (issue 13, stop 25: a
    gather of every bin's few order bins, the last one repeated to a common count, and one maximum over them: the
    maxima ``np.maximum.reduceat`` gave over the same segments, at a fraction of its cost), from each order's own
    tables (:func:`_order_view`; stop 29: the refined orders are a bearing's kinematic orders times one of the slip
    search's 41 steps, so a machine's recordings repeat each order while the set of four differs from one to the next:
    tables kept per set were rebuilt for almost every recording, ~0.15 ms)."""
    feats = np.zeros(INPUT_SHAPE, dtype=np.float32)
    for i, order in enumerate(orders):
        gather, last, comb, first_beyond, at = _order_view(float(order), both.shape[1])
        view = feats[i * N_VC: i * N_VC + 2]
        if gather is not None:
            view[:, :-1] = np.maximum.reduce(both.take(gather, axis=1), axis=1)  # over the (few) bins per view bin
            view[:, -1] = np.maximum.reduce(both[:, last:], axis=1)  # the last view bin runs to the axis' end
        else:
            for r, row in enumerate(both):
                view[r] = np.interp(at, ORDER_AXIS, row)
        view[:, first_beyond:] = 0.0
        feats[i * N_VC + 2] = comb
        feats[i * N_VC + 3] = HARMONIC_MARKS
    return feats


@functools.lru_cache(maxsize=512)  # a few bearings' 4 faults x 41 slips; ~8 kB each
def _order_view(order: float, n_orders: int) -> tuple:
    """One refined order's tables for :func:`_fault_views_into` (read-only), the same elementwise arithmetic as
    :func:`_view_bins` and :func:`_shaft_comb` (a test checks the views and combs against :func:`fault_views` and
    :func:`shaft_comb`): the order bins of each view bin but the last (``(bins per view bin, N_BINS - 1)``: start +
    0, 1, ... up to the segment's last, that one repeated; reduceat's segments of :func:`_view_bins`' edges; None where
    a view bin spans less than one order bin: the view interpolates), the last view bin's start, the shaft comb, the
    first view bin beyond :data:`ORDER_MAX` (they run to the end) and the view's positions on the order axis."""
    gather = last = None
    if order * (U_MAX / N_BINS) * N_REV >= 1.0:
        starts = np.minimum(np.round(_VIEW_BASE * order * N_REV).astype(np.int64), n_orders - 1)
        seg = np.maximum(starts[1:] - starts[:-1], 1)
        gather = starts[:-1] + np.minimum(np.arange(int(seg.max()))[:, None], seg - 1)
        gather.flags.writeable = False
        last = int(starts[-1])
    comb = _shaft_combs(np.array([[order]]))[0]
    at = U_AXIS * order
    comb.flags.writeable = at.flags.writeable = False
    return gather, last, comb, int(np.searchsorted(at, ORDER_MAX, side="right")), at


_VIEW_BASE = (U_AXIS - U_MAX / N_BINS / 2).clip(0)  # _view_bins' (U_AXIS - du / 2).clip(0)


def _shaft_combs(o: np.ndarray) -> np.ndarray:
    """:func:`_shaft_comb` of each order of the column ``o`` (rows; the same arithmetic elementwise)."""
    count = (U_MAX * o).astype(np.int64)  # int(U_MAX * order) of positive orders
    bins = np.arange(N_BINS)
    j = np.clip(np.rint(bins * o * U_MAX / N_BINS), 1, np.maximum(count, 1))
    d = bins - j / o * N_BINS / U_MAX
    out = np.exp(-0.5 * d * d)
    out[count[:, 0] < 1] = 0.0
    return out


def _marks(centres_bins: np.ndarray) -> np.ndarray:
    """Gaussian marks, peak 1 and sigma 1 bin, at the given (fractional) bins of a view."""
    if not len(centres_bins):
        return np.zeros(N_BINS)
    return np.max(np.exp(-0.5 * (np.arange(N_BINS)[:, None] - centres_bins) ** 2), axis=1)


HARMONIC_MARKS = _marks(np.arange(1, int(U_MAX)) * N_BINS / U_MAX)  # u = 1, 2, 3


def shaft_comb(*, order: float) -> np.ndarray:
    """Gaussian marks (peak 1, sigma 1 bin) where the shaft harmonics fall on a fault view's axis.

    Equal to ``_marks`` of the centres ``j * N_BINS / (U_MAX * order)``, j = 1 .. int(U_MAX * order):
    the marks are a decreasing function of the distance, so each bin takes only its nearest centre.
    """
    return _shaft_comb(float(order)).copy()


@functools.lru_cache(maxsize=64)
def _shaft_comb(order: float) -> np.ndarray:
    """:func:`shaft_comb`, kept (read-only): the refined orders of a machine repeat."""
    count = int(U_MAX * order)
    if count < 1:
        out = np.zeros(N_BINS)
        out.flags.writeable = False
        return out
    bins = np.arange(N_BINS)
    j = np.clip(np.rint(bins * order * U_MAX / N_BINS), 1, count)
    d = bins - j / order * N_BINS / U_MAX
    out = np.exp(-0.5 * d * d)
    out.flags.writeable = False
    return out


def envelope_acf_size_axis(X: np.ndarray, *, n: int, fs_hz: float, band: Band, shaft_hz: float,
                           geometry: BearingGeometry) -> np.ndarray:
    """Autocorrelation of the squared envelope of a wide band, on the spall-length axis :data:`SIZE_AXIS_MM`.

    Every impact of a spall is an entry event followed ``L / v`` later by the exit impact
    (Sawalhi & Randall 2011); the squared envelope's autocorrelation, averaged over all impacts of
    the window, shows a bump at that lag. Lags are mapped to mm with the rolling speed ``v``
    (:func:`physics.rolling_speed_m_s`), so the bump sits at the spall length whatever the speed.
    Normalised to 1 at lag 0, mean envelope removed, scaled by 4. The envelope is oversampled 2x (alias-free
    ``|c|**2``) and the autocorrelation circular (version 6: the largest lag, 4 mm of rolling, is < 1 % of a
    window of 32 revolutions, so the wrap-around adds < 1 % of the lag-0 value).
    """
    df = fs_hz / n
    k0, nb = _band_bins(band, df=df, n_bins=len(X))
    m = _pfft.next_fast_len(2 * nb)
    e = _squared_envelopes(X, n=n, bands=[(k0, nb)], points=m)[0]
    env_fs = m * df
    v = rolling_speed_m_s(geometry=geometry, shaft_hz=shaft_hz)
    max_lag = min(int(SIZE_AXIS_MAX_MM * 1e-3 / v * env_fs) + 2, m // 2)
    e -= np.float32(np.add.reduce(e, dtype=np.float64) / m)  # e.mean(dtype=np.float64)
    spec = _pfft.rfft_into(e, "cA")
    power = _pfft.scratch("cB", len(spec), np.complex64)  # |S|**2 as complex (irfft's input: power + 0j)
    pr = np.square(spec.real, out=_pfft.scratch("f32b", len(spec), np.float32))
    pr += np.square(spec.imag, out=_pfft.scratch("f32c", len(spec), np.float32))
    power.real, power.imag = pr, 0.0
    r = _pfft.irfft_into(power, m, "f32a")[:max_lag].astype(np.float64)
    if r[0] <= 0:
        return np.zeros(N_BINS)
    return 4.0 * np.interp(SIZE_AXIS_MM, _lag_axis_mm(max_lag, env_fs, v), r / r[0], right=0.0)


@functools.lru_cache(maxsize=64)
def _lag_axis_mm(max_lag: int, env_fs: float, v: float) -> np.ndarray:
    """The autocorrelation's lags in mm of rolling (read-only; a machine's windows repeat it)."""
    lag_mm = np.arange(max_lag) / env_fs * v * 1e3
    lag_mm.flags.writeable = False
    return lag_mm


def velocity_rms_mm_s(x: np.ndarray, *, fs_hz: float, units: str = "g", band_hz: tuple[float, float] = (10.0, 1000.0)) -> float:
    """Vibration velocity RMS (mm/s) in ``band_hz`` from acceleration, integrated in the frequency domain.

    The band is the ISO 10816-1 / 20816-1 broadband one (10–1000 Hz). ``units``: ``"g"`` or ``"m/s2"``.
    """
    a = np.asarray(x, dtype=float) - np.mean(x)
    nfft = sfft.next_fast_len(len(a), real=True)
    return _velocity_from_spectrum(sfft.rfft(a, n=nfft), nfft=nfft, n=len(a), fs_hz=fs_hz, units=units, band_hz=band_hz)


def _velocity_from_spectrum(A: np.ndarray, *, nfft: int, n: int, fs_hz: float, units: str = "g",
                            band_hz: tuple[float, float] = (10.0, 1000.0), power: np.ndarray | None = None) -> float:
    """:func:`velocity_rms_mm_s` from the rfft ``A`` of the zero-padded window (``power``: ``|A|**2`` if at hand)."""
    k0, w = _velocity_weights(nfft, len(A), float(fs_hz), 1.0 if units != "g" else G, tuple(band_hz))
    p = power[k0:k0 + len(w)] if power is not None else np.square(np.abs(A[k0:k0 + len(w)]))
    # Parseval, one-sided spectrum of the zero-padded signal: sum x^2 = 2 sum |X_k|^2 / nfft
    # products summed by numpy's own reduction, not np.dot: BLAS picks its kernel by the CPU (results differ in the
    # last bits between instruction sets; checked under qemu)
    return float(math.sqrt(2.0 * float(np.multiply(p, w).sum()) / (nfft * n)) * 1e3)


@functools.lru_cache(maxsize=64)  # a gateway's machines (the bench's stream: 50); ~25 kB each at 600 rpm
def _velocity_weights(nfft: int, n_bins: int, fs_hz: float, scale: float, band_hz: tuple[float, float]):
    """First bin and per-bin weights ``(scale / (2 pi f))**2`` of the velocity band (0 outside it; kept per machine)."""
    k0 = max(int(band_hz[0] * nfft / fs_hz) - 1, 0)  # only the bins around the band (same test on each)
    k1 = min(int(band_hz[1] * nfft / fs_hz) + 2, n_bins)
    f = np.arange(k0, k1) * fs_hz / nfft
    sel = (f >= band_hz[0]) & (f <= min(band_hz[1], fs_hz / 2))
    w = np.zeros(len(f))
    w[sel] = (scale / (2.0 * np.pi * f[sel])) ** 2
    w.flags.writeable = False
    return k0, w


_CHUNK = 16000  # samples per block of the whole-window passes (128 kB: below malloc's mmap threshold)


def time_indicators(x: np.ndarray, *, centred: bool = False) -> dict[str, float]:
    """Robust time-domain condition indicators of a window (its mean removed here unless ``centred``).

    One pass over blocks of :data:`_CHUNK` samples (moments 2–4, mean |x|, peak): no temporary of
    the window's size, which for long windows cost more (fresh memory pages) than the arithmetic (so do blocks of
    several chunks: 4 x 128 kB temporaries made this 3x slower, stop 25). The sums are
    numpy reductions, not ``np.dot`` (BLAS picks its kernel by the CPU: results would depend on it).
    """
    x = np.asarray(x)
    n = len(x)
    if x.dtype != np.float64:  # np.asarray(x, dtype=float) in a scratch array (a recording's: no fresh pages)
        buf = _pfft.scratch("in64", n, np.float64)
        np.copyto(buf, x, casting="unsafe")
        x = buf
    if 0 < n <= _CHUNK:  # one block: the same sums (a short recording's own indicators, issue 13)
        if not centred:  # x - np.mean(x), the mean as np.mean's sum / n
            x = np.subtract(x, float(np.add.reduce(x) / n), out=_pfft.scratch("x64", n, np.float64))
        return _centred_indicators(x)[0]
    mean = 0.0 if centred else float(np.mean(x))
    s2 = s3 = s4 = s_abs = peak = 0.0
    buf, sq, tmp = np.empty(min(n, _CHUNK)), np.empty(min(n, _CHUNK)), np.empty(min(n, _CHUNK))
    for i in range(0, n, _CHUNK):
        b = buf[: min(_CHUNK, n - i)]
        c = x[i:i + _CHUNK] if centred else np.subtract(x[i:i + _CHUNK], mean, out=b)  # centred: x - 0.0 is x
        c2 = np.multiply(c, c, out=sq[: len(c)])
        t = tmp[: len(c)]
        s2 += float(np.add.reduce(c2))
        s3 += float(np.add.reduce(np.multiply(c2, c, out=t)))
        s4 += float(np.add.reduce(np.multiply(c2, c2, out=t)))
        a = np.abs(c, out=b)
        s_abs += float(np.add.reduce(a))
        peak = max(peak, float(np.maximum.reduce(a)))
    return _indicators(n, s2, s3, s4, s_abs, peak)


def _centred_indicators(x: np.ndarray) -> tuple[dict[str, float], float, float]:
    """:func:`time_indicators` of a centred window of at most :data:`_CHUNK` samples (the same sums, in one block),
    with the window's max and min (:func:`window_checks` reads them; the peak is the larger of max and -min)."""
    c2 = np.multiply(x, x)
    t = np.multiply(c2, x)
    s2, s3 = float(np.add.reduce(c2)), float(np.add.reduce(t))
    s4 = float(np.add.reduce(np.multiply(c2, c2, out=t)))
    s_abs = float(np.add.reduce(np.abs(x, out=c2)))
    hi, lo = float(x.max()), float(x.min())
    return _indicators(len(x), s2, s3, s4, s_abs, max(hi, -lo)), hi, lo


def _indicators(n: int, s2: float, s3: float, s4: float, s_abs: float, peak: float) -> dict[str, float]:
    """The indicators of :func:`time_indicators` from the window's sums of c^2, c^3, c^4, |c| and its peak |c|."""
    rms = math.sqrt(s2 / n) + 1e-20
    mean_abs = s_abs / n
    return {
        "rms": rms,
        "kurtosis": s4 / n / rms**4,
        "crest_factor": peak / rms,
        "skewness": s3 / n / rms**3,
        "impulse_factor": peak / (mean_abs + 1e-20),
        "shape_factor": rms / (mean_abs + 1e-20),
    }


def welch_psd(x: np.ndarray, *, fs_hz: float, nperseg: int) -> np.ndarray:
    """``scipy.signal.welch(x, fs=fs_hz, nperseg=nperseg)[1]`` (periodic Hann, 50 % overlap, each segment's mean
    removed, one-sided density), equal to it within rounding but from batched FFTs over blocks of segments:
    ``welch`` transforms and detrends its segments one by one, ~10 ms for 2^18 samples.
    """
    x = np.asarray(x, dtype=float)
    step = nperseg - nperseg // 2
    count = (len(x) - nperseg) // step + 1
    if nperseg < 1 or count < 1:
        raise InvalidInputError(f"{len(x)} samples are too few for spectral segments of {nperseg}")
    frames = np.lib.stride_tricks.sliding_window_view(x, nperseg)[::step][:count]
    win = _periodic_hann(nperseg)
    acc = np.zeros(nperseg // 2 + 1)
    for i in range(0, count, 64):  # 64 segments at a time: small temporaries
        seg = frames[i:i + 64] - frames[i:i + 64].mean(axis=1, keepdims=True)
        seg *= win
        spec = sfft.rfft(seg, axis=1, overwrite_x=True)
        p = np.square(spec.real)
        p += np.square(spec.imag)
        acc += p.sum(axis=0)
    acc *= 1.0 / (count * fs_hz * float(np.dot(win, win)))
    acc[1:len(acc) - (nperseg % 2 == 0)] *= 2.0  # one-sided: every bin but DC (and Nyquist) twice
    return acc


@functools.lru_cache(maxsize=8)
def _periodic_hann(n: int) -> np.ndarray:
    """``scipy.signal.get_window("hann", n)``: the periodic Hann window (read-only)."""
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    w.flags.writeable = False
    return w


@dataclass
class WindowAnalysis:
    """Everything computed for one window: the model input and what the UI and baseline show."""

    x: np.ndarray  # model input, INPUT_SHAPE, float32
    band: Band
    env_freqs_hz: np.ndarray
    env_spec: np.ndarray  # squared-envelope spectrum of the selected band (raw amplitude)
    indicators: dict
    velocity_rms_mm_s: float
    energy: Band | None = None  # the most energetic wide band below the usable top (second envelope view)
    usable_top_hz: float = 0.0  # anti-alias cut-off / noise floor found in the spectrum
    spec_band: np.ndarray | None = None  # order spectra (linear, / local background) of both bands
    spec_energy: np.ndarray | None = None
    refined_orders: dict | None = None  # fault orders after the slip search
    ringdown_s: float = 0.0
    wide: Band | None = None  # the autocorrelation's wide band (the severity index re-reads it, issue 10)
    checks: dict | None = None  # what the OOD input and speed checks read of this window (:func:`window_checks`)


def refine_order(spec_norm: np.ndarray, *, order: float, n_harmonics: int = 3) -> tuple[float, np.ndarray]:
    """:func:`orders.refine_order` on this module's order axis (:data:`N_REV` bins per order, :data:`SLIP_RANGE`)."""
    return _orders.refine_order(spec_norm, order=order, bins_per_order=N_REV, slip_range=SLIP_RANGE,
                                slip_step=SLIP_STEP, n_harmonics=n_harmonics)


@functools.lru_cache(maxsize=32)
def _kinematic_orders(geometry: BearingGeometry) -> np.ndarray:
    kin = np.array([impact_order(fault=h, geometry=geometry) for h in HYPOTHESES])
    kin.flags.writeable = False
    return kin


def refine_hypotheses(spec_norm: np.ndarray, *, geometry: BearingGeometry, n_harmonics: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`refine_order` of every fault in :data:`HYPOTHESES` in one search: (kinematic orders, refined orders, heights)."""
    kin = _kinematic_orders(geometry)
    refined, heights = _orders.refine_orders(spec_norm, orders=kin, bins_per_order=N_REV, slip_range=SLIP_RANGE,
                                             slip_step=SLIP_STEP, n_harmonics=n_harmonics)
    return kin, refined, heights


def analyse_window(x: np.ndarray, *, fs_hz: float, rpm: float, geometry: BearingGeometry, units: str = "g") -> WindowAnalysis:
    """Preprocess one window (length :func:`window_length`) into the model input and diagnostics.

    The window's longest 5-smooth prefix is used (<= 0.5 % of a window's samples dropped), so its one rfft,
    which serves the usable top, band powers, kurtogram (windows up to :data:`KURTOGRAM_SAMPLES`), envelopes and
    velocity, is never zero-padded."""
    shaft_hz = rpm / 60.0
    x, x32, X, P = _window_spectra(x)
    n = len(x)
    if n <= _CHUNK:
        ind, *extremes = _centred_indicators(x)
    else:
        ind, extremes = time_indicators(x, centred=True), None
    if ind["rms"] <= 1e-20 and not np.any(x):
        raise InvalidInputError("the window is constant (sensor disconnected or saturated?)")
    _, f_top = usable_band_hz(X, n=n, fs_hz=fs_hz, n_bands=N_POWER_BANDS, power=P)
    n_k = min(n, KURTOGRAM_SAMPLES)  # spectral kurtosis needs a few impacts, not the whole window
    # the first samples' rfft from the window's single-precision copy, into a scratch array (issue 13, stop 26: no
    # fresh copy and spectrum per window; the same transform of the same floats)
    Xk = X if n_k == n else _pfft.rfft_into(x32[:n_k], "Xk")
    df = fs_hz / n
    plan = _band_plan(len(Xk), fs_hz / n_k, len(P), df, max(ORDER_MAX * shaft_hz, 250.0), f_top * 1.02 + df, fs_hz)
    choice = choose_bands(P, Xk, plan)
    best, energy, wide = choice.best, choice.energy, choice.wide
    freqs, spectra = envelope_spectra(X, n=n, fs_hz=fs_hz, bands=(best, energy),
                                      min_points=2 * (int(ORDER_MAX * shaft_hz / df) + 3))
    pos = _order_positions(len(freqs), df, shaft_hz)
    on_orders = np.empty((len(spectra), len(ORDER_AXIS)))
    for r, s_ in enumerate(spectra):
        on_orders[r] = np.interp(ORDER_AXIS, pos, s_, right=0.0)
    lin = local_background_normalise(on_orders, block_bins=2 * N_REV)
    lin_band, lin_energy = lin
    both = np.log1p(lin)
    ch_band = both[0]
    vel = _velocity_from_spectrum(X, nfft=n, n=n, fs_hz=fs_hz, units=units, power=P)
    band_power, low_power = choice.band_power, choice.low_power
    kin, ref_orders, _ = refine_hypotheses(lin_band + lin_energy, geometry=geometry)
    refined = {h: float(o_ref) for h, o_ref in zip(HYPOTHESES, ref_orders)}
    slips = [float(o_ref) / float(o) - 1.0 for o_ref, o in zip(ref_orders, kin)]
    scalars = np.array([
        math.log2(max(f_top, 1.0) / (fs_hz / 2)),
        math.log(ind["kurtosis"]),
        math.log(ind["crest_factor"]),
        min(max(ind["skewness"], -5.0), 5.0) / 5.0,
        math.log(ind["impulse_factor"]),
        math.log(ind["shape_factor"]),
        math.log1p(max(best.sk, 0.0)),
        best.centre_hz / (fs_hz / 2),
        math.log2(best.width_hz / (fs_hz / 2)) / MAX_LEVEL,
        math.log10(rpm / 1800.0),
        math.log10(fs_hz / 24000.0),
        math.log10(band_power + 1e-12),
        math.log10(low_power + 1e-12),
        float(ch_band[8:].max()) / 5.0,
        geometry.n_elements / 10.0,
        geometry.diameter_ratio * 3.0,
        *[50.0 * s_ for s_ in slips],
    ])
    acf = envelope_acf_size_axis(X, n=n, fs_hz=fs_hz, band=wide, shaft_hz=shaft_hz, geometry=geometry)
    feats = _fault_views_into(both, tuple(refined[h] for h in HYPOTHESES))
    feats[-2] = acf
    feats[-1, : len(scalars)] = scalars
    if not math.isfinite(float(feats.sum(dtype=np.float64))):  # any NaN or inf makes the sum non-finite
        raise InvalidInputError("the window gives non-finite features (is the signal constant or all zeros?)")
    return WindowAnalysis(feats, best, freqs, spectra[0], ind, vel, energy=energy, usable_top_hz=f_top,
                          spec_band=lin_band, spec_energy=lin_energy, refined_orders=refined, ringdown_s=_ringdown_s(acf, shaft_hz, geometry),
                          wide=wide, checks=window_checks(x, X, P, fs_hz=fs_hz, rpm=rpm, extremes=extremes))


@functools.lru_cache(maxsize=64)
def _order_positions(count: int, df: float, shaft_hz: float) -> np.ndarray:
    """The envelope spectrum's bins in shaft orders: ``_freq_axis(count, df) / shaft_hz`` (read-only, kept)."""
    pos = _freq_axis(count, df) / shaft_hz
    pos.flags.writeable = False
    return pos


def _window_spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(samples, rfft, power spectrum) of a window: its longest 5-smooth prefix with its mean removed (double), the
    rfft in single precision (pocketfft has no run-time instruction-set dispatch: bit-equal results on any x86-64,
    checked under qemu) and ``|X|**2`` in double (every sum over it is)."""
    x, _, X, P = _window_spectra(x)
    return x, X, P


def _window_spectra(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_window_spectrum` with the single-precision samples its rfft read (a scratch array, ``"f32a"``:
    valid until the envelopes reuse it)."""
    if len(x) < 64:
        raise InvalidInputError(f"window of {len(x)} samples is too short")
    n = _pfft.prev_fast_len_real(len(x))
    # the scratch arrays (issue 13, stop 25) hold what analyse_window reads and drops: the centred window in double
    # and single precision, its rfft and power spectrum (none is kept by the result)
    x = _pfft.centred_copy(np.asarray(x[:n]))
    x32 = _pfft.scratch("f32a", n, np.float32)
    np.copyto(x32, x, casting="same_kind")  # x.astype(np.float32)
    X = _pfft.rfft_into(x32, "X")  # scipy's pocketfft: numpy's single-precision rfft is slower than its double one
    P = np.square(X.real, dtype=np.float64, out=_pfft.scratch("P", len(X), np.float64))
    P += np.square(X.imag, dtype=np.float64, out=_pfft.scratch("f64t", len(X), np.float64))
    return x, x32, X, P


N_FLAT_BANDS = 192  # bands of the flatness check
LOW_ORDERS = 16.0  # the speed check reads the power spectrum up to this order (2.9 x the speed, lines 1..5.5)
CLIP_TOL = 1e-3  # a sample within 0.1 % of the window's range from its max (or min) counts as at the extreme


def window_checks(x: np.ndarray, X: np.ndarray, P: np.ndarray, *, fs_hz: float, rpm: float,
                  extremes: tuple | None = None) -> dict:
    """What the OOD input checks and the speed check (:mod:`.ood`) read of one window, from its centred samples
    ``x``, rfft ``X`` and power spectrum ``P`` (:func:`_window_spectrum`): the fraction of samples at either
    extreme, the powers of :data:`N_FLAT_BANDS` bands above DC, the strongest tone's share of the power and its
    frequency, and the power spectrum below :data:`LOW_ORDERS` orders (bin width ``df``).

    The tone share is read Hann-windowed, as before version 6 (a tone between two bins leaks over many bins of
    the unwindowed spectrum): the Hann window applied in the frequency domain (``X[k] / 2 - (X[k-1] + X[k+1]) / 4``)
    to the bins around the strongest one, its +-3 bins around their peak over 3/8 of the total power (the Hann
    window's mean square: the windowed signal's total power). ``extremes``: ``(x.max(), x.min())`` if at hand."""
    n = len(x)
    hi, lo = extremes if extremes is not None else (float(x.max()), float(x.min()))
    rng = hi - lo
    if rng > 0:
        at = _pfft.scratch("bool", n, bool)
        clip = max(int(np.count_nonzero(np.greater_equal(x, hi - CLIP_TOL * rng, out=at))),
                   int(np.count_nonzero(np.less_equal(x, lo + CLIP_TOL * rng, out=at)))) / n
    else:
        clip = 1.0
    edges = _flat_edges(len(P))
    bands = np.add.reduceat(P, edges)
    total = float(bands.sum()) + 1e-300
    k = int(np.argmax(P[1:])) + 1
    lo, hi = max(k - 4, 1), min(k + 5, len(X) - 1)  # Hann-windowed bins k-4 .. k+4 (the peak is k or a neighbour)
    seg = X[lo - 1:hi + 1].astype(np.complex128)
    xh = 0.5 * seg[1:-1] - 0.25 * (seg[:-2] + seg[2:])
    ph = np.square(xh.real)
    ph += np.square(xh.imag)
    kh = int(np.argmax(ph))
    tone = min(float(ph[max(kh - 3, 0):kh + 4].sum()) / (0.375 * total), 1.0)
    df = fs_hz / n
    k_low = min(int(LOW_ORDERS * rpm / 60.0 / df) + 2, len(P))
    return {"clip": clip, "bands": bands, "tone": tone, "tone_hz": (lo + kh) * df, "low": P[:k_low].copy(), "df": df}


@functools.lru_cache(maxsize=64)
def _flat_edges(n_bins: int) -> np.ndarray:
    """Starts of :data:`N_FLAT_BANDS` equal bands over bins 1.. of an ``n_bins``-bin spectrum (read-only)."""
    e = (1 + np.arange(N_FLAT_BANDS) * (n_bins - 1) // N_FLAT_BANDS).astype(np.int64)
    e = np.unique(e)
    e.flags.writeable = False
    return e


def spectral_windows(signal, *, fs_hz: float, rpm: float, max_windows: int = 64) -> list[dict]:
    """:func:`window_checks` of every window of a recording without the rest of the analysis (the same windows,
    samples and spectra as :func:`analyse_window`; for the calibration's speed margins and the checks' tests)."""
    out = []
    for s, e in split_windows(len(signal), fs_hz=fs_hz, rpm=rpm, max_windows=max_windows):
        x, X, P = _window_spectrum(signal[s:e])
        out.append(window_checks(x, X, P, fs_hz=fs_hz, rpm=rpm))
    return out


def _ringdown_s(acf_mm: np.ndarray, shaft_hz: float, geometry: BearingGeometry) -> float:
    """Time for the squared-envelope autocorrelation to fall to 1/e of its lag-0 value (s): the ring-down."""
    r = acf_mm / 4.0
    below = np.nonzero(r < math.exp(-1.0))[0]
    lag_mm = SIZE_AXIS_MM[below[0]] if len(below) else SIZE_AXIS_MAX_MM
    return float(lag_mm * 1e-3 / rolling_speed_m_s(geometry=geometry, shaft_hz=shaft_hz))


def defect_lines_hz(*, geometry: BearingGeometry, rpm: float) -> dict[str, float]:
    """Shaft rate and the four defect frequencies (Hz), for plot markers."""
    shaft = rpm / 60.0
    o = defect_orders(geometry=geometry)
    return {"1x": shaft, "FTF": o["ftf"] * shaft, "BPFO": o["bpfo"] * shaft, "BPFI": o["bpfi"] * shaft,
            "2xBSF": 2 * o["bsf"] * shaft}
