"""Spectrum helpers of the edge preprocessing: where a recording has signal, local background, slip and speed search.

Pure numpy/scipy functions used by :mod:`.features` (which re-exports them with the app's constants).
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict

import numpy as np

from .pocketfft import centred_copy, fft_, next_fast_len_real, scratch


def usable_band_hz(X: np.ndarray, *, n: int, fs_hz: float, floor_db: float = 25.0, n_bands: int = 64,
                   power: np.ndarray | None = None) -> tuple[float, float]:
    """(lowest, highest) frequency that carries signal: below the recorder's anti-alias cut-off and noise floor.

    The spectrum is cut into ``n_bands`` bands; the reference is the median band power
    between 500 Hz and 0.4 ``fs``. The top is the upper edge of the highest band whose power is
    within ``floor_db`` of that reference (a steep anti-alias roll-off or a flat quantisation floor
    above it is "empty": a few spikes there give a huge kurtosis but no bearing information).
    """
    p = (np.abs(X) ** 2 if power is None else power)[1:]  # ``power``: |X|**2 when the caller has it
    nb = n_bands
    m = len(p) // nb
    if m < 1:
        return 0.0, fs_hz / 2
    bp = np.add.reduce(p[: m * nb].reshape(nb, m), axis=1) / m  # .mean(axis=1): the same sums, divided by m
    edges, ref_sel = _usable_plan(m, nb, n, float(fs_hz))
    ref = median(bp[ref_sel]) if ref_sel is not None else median(bp)
    ok = np.nonzero(bp >= ref * 10 ** (-floor_db / 10))[0]
    top = edges[ok[-1] + 1] if len(ok) else fs_hz / 2
    return 0.0, min(top, 0.49 * fs_hz)


@functools.lru_cache(maxsize=64)  # a gateway's machines (the bench's stream: 50); a few hundred bytes each
def _usable_plan(m: int, nb: int, n: int, fs_hz: float) -> tuple[tuple[float, ...], np.ndarray | None]:
    """:func:`usable_band_hz`'s band edges (Hz) and reference bands (None: all), kept per window shape."""
    edges = np.arange(nb + 1) * m * fs_hz / n
    centre = 0.5 * (edges[:-1] + edges[1:])
    ref_sel = (centre >= 500.0) & (centre <= 0.4 * fs_hz)
    ref_sel.flags.writeable = False
    return tuple(edges.tolist()), (ref_sel if ref_sel.any() else None)


def median(a: np.ndarray) -> float:
    """``np.median`` of a 1-D array (same value), without its generic machinery."""
    n = len(a)
    h = n // 2
    if n % 2:
        return float(np.partition(a, h)[h])
    p = np.partition(a, (h - 1, h))
    return float((p[h - 1] + p[h]) / 2.0)


def local_background_normalise(spec: np.ndarray, *, block_bins: int = 64) -> np.ndarray:
    """Divide a (linear) order spectrum by its local background (:func:`block_background` over blocks of
    ``block_bins`` bins: two orders on the 1/32-order axis, as many values as version 5's running median over
    +-1 order, which cost 0.2 ms per window; one-order blocks were tried and gave noisier line heights: ball faults'
    evidence-gate pass rate on simulations 0.49 against 0.62 for version 5 and 0.65 with two-order blocks).
    ``spec`` may hold several spectra as rows, each normalised on its own."""
    spec = np.asarray(spec, dtype=float)
    rows = np.atleast_2d(spec)
    bg = block_backgrounds(rows, int(block_bins))
    # the floor, a thousandth of each row's median, binds only where the background falls below it; the median is at
    # most the row's maximum, so where every background value exceeds a thousandth of that maximum the floor cannot
    # bind and its median is not needed (issue 13, stop 26: the same quotients; a NaN takes the full path)
    if np.all(np.minimum.reduce(bg, axis=1) > np.maximum.reduce(rows[:, 8:], axis=1) * 1e-3 + 1e-30):
        out = np.divide(rows, bg)
    else:
        floor = row_medians(rows[:, 8:]) * 1e-3 + 1e-30
        out = np.divide(rows, np.maximum(bg, floor[:, None]))
    out[:, :2] = 0.0
    return out if spec.ndim > 1 else out[0]


def row_medians(a: np.ndarray) -> np.ndarray:
    """:func:`median` of each row of a 2-D array (the same values, one partition for all rows)."""
    n = a.shape[1]
    h = n // 2
    if n % 2:
        return np.partition(a, h, axis=1)[:, h]
    p = np.partition(a, (h - 1, h), axis=1)
    return (p[:, h - 1] + p[:, h]) / 2.0


def block_background(row: np.ndarray, block: int) -> np.ndarray:
    """A spectrum's local background: the median of each block of ``block`` bins (the last block takes the
    remainder), interpolated linearly between the blocks' centres (a running median's role at a fraction of its
    cost)."""
    return block_backgrounds(np.asarray(row)[None], block)[0]


def block_backgrounds(rows: np.ndarray, block: int) -> np.ndarray:
    """:func:`block_background` of each row of a 2-D array (the blocks of all rows in one partition)."""
    r, n = rows.shape
    nblk = max(n // block, 1)
    med = np.empty((r, nblk))
    if nblk > 1:
        blk = rows[:, : (nblk - 1) * block].reshape(r, nblk - 1, block)
        h = block // 2
        if block % 2:
            med[:, :-1] = np.partition(blk, h, axis=2)[:, :, h]
        else:
            p = np.partition(blk, (h - 1, h), axis=2)
            med[:, :-1] = 0.5 * (p[:, :, h - 1] + p[:, :, h])
    med[:, -1] = row_medians(rows[:, (nblk - 1) * block:])
    centres, pos = _block_centres(n, block)
    out = np.empty((r, n))
    for i in range(r):
        out[i] = np.interp(pos, centres, med[i])
    return out


@functools.lru_cache(maxsize=64)
def _block_centres(n: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres of :func:`block_background`'s blocks (the last one longer) and the bin positions (read-only)."""
    nblk = max(n // b, 1)
    starts = np.arange(nblk) * b
    ends = np.append(starts[1:], n)
    centres, pos = 0.5 * (starts + ends - 1), np.arange(n, dtype=float)
    centres.flags.writeable = pos.flags.writeable = False
    return centres, pos


def refine_order(spec_norm: np.ndarray, *, order: float, bins_per_order: int, slip_range: tuple[float, float],
                 slip_step: float = 0.001, n_harmonics: int = 3) -> tuple[float, np.ndarray]:
    """The fault order that best explains lines near ``k * order`` (k = 1..3) of a normalised order spectrum.

    Rolling elements slip (the impact rate runs 1–2 % below kinematics) and the typed speed is off by
    a fraction of a percent, so the comb ``k * order * (1 + s)`` is searched over ``s`` in
    ``slip_range``. Returns the refined order and the line heights (ratio to the local background)
    at its first ``n_harmonics`` harmonics (0 beyond the end of the axis). See :func:`refine_orders`.
    """
    refined, heights = refine_orders(spec_norm, orders=[order], bins_per_order=bins_per_order, slip_range=slip_range,
                                     slip_step=slip_step, n_harmonics=n_harmonics)
    return float(refined[0]), heights[0]


def refine_orders(spec_norm: np.ndarray, *, orders, bins_per_order: int, slip_range: tuple[float, float],
                  slip_step: float = 0.001, n_harmonics: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """:func:`refine_order` for several fault orders at once (one vectorised search over orders x slips x harmonics).

    Per order and slip ``s``: the comb bins ``i_k = round(k * order * (1 + s) * bins_per_order)``;
    the height of harmonic ``k`` is the maximum of bins ``i_k - 1 .. i_k + 1`` (bins 0 and 1, the DC
    region, left out); the search stops at the first harmonic off the axis. The score is
    ``sum_k log(max(h_k, 1e-3)) + 0.1 sum_k log(max(spec[i_k], 1e-3))`` (the second term prefers the
    comb that hits the lines' own bins); the best slip wins, ties (within 1e-9) go to the smaller
    ``|s|`` (the first of equal ones). Returns (refined orders, heights ``(len(orders), n_harmonics)``).
    """
    spec = np.asarray(spec_norm, dtype=float)
    o = np.asarray(orders, dtype=float)
    grid, valid, safe, near, all_valid, abs_grid = _comb(
        tuple(o.tolist()), len(spec), int(bins_per_order), float(slip_range[0]), float(slip_range[1]),
        float(slip_step), int(n_harmonics))
    masked = spec.copy()
    masked[:2] = -np.inf
    # the maximum of each comb bin's -1/0/+1 neighbours: the three neighbours are the leading axis of ``near``, so
    # the maximum is elementwise over three arrays (the same maxima as over a trailing axis of 3, ~8x cheaper)
    h = np.maximum.reduce(masked.take(near), axis=0)
    centre = np.log(np.maximum(spec.take(safe), 1e-3))
    if not all_valid:  # harmonics off the axis count 0 (every comb on the usual orders is valid: no masking)
        h = np.where(valid, h, 0.0)
        centre = np.where(valid, centre, 0.0)
    lh = np.log(np.maximum(h, 1e-3))
    # the sums over the harmonics left to right, as numpy's sum over that short trailing axis adds them here (its
    # inner loop runs once per comb there; issue 13, stop 26: the same doubles, test_predict_equal)
    s_h, s_c = lh[..., 0].copy(), centre[..., 0].copy()
    for k in range(1, lh.shape[2]):
        s_h += lh[..., k]
        s_c += centre[..., k]
    score = s_h + 0.1 * s_c
    # among the slips within 1e-9 of the best score (the same comb bins give exactly equal scores), the smallest |s|
    tied = score >= score.max(axis=1, keepdims=True) - 1e-9
    best = np.argmin(np.where(tied, abs_grid, np.inf), axis=1)
    rows = _ARANGE[: len(o)] if len(o) <= len(_ARANGE) else np.arange(len(o))
    return o * (1 + grid[best]), h[rows, best]


@functools.lru_cache(maxsize=64)
def _comb(orders: tuple, nbin: int, bins_per_order: int, s_lo: float, s_hi: float, slip_step: float, n_harmonics: int):
    """Slip grid and comb bins of :func:`refine_orders` (kept: a machine's orders and axis repeat): (grid, valid,
    clipped bins, their -1/0/+1 neighbours along a leading axis, whether every comb is valid, ``|grid|`` as a row),
    the arrays read-only."""
    grid = np.arange(s_lo, s_hi + 1e-9, slip_step)
    o = np.asarray(orders, dtype=float)
    k = np.arange(1, n_harmonics + 1)
    idx = np.rint(((k[None, None, :] * o[:, None, None]) * (1 + grid[None, :, None])) * bins_per_order).astype(np.int64)
    valid = np.cumprod(idx + 1 < nbin, axis=2).astype(bool)  # (orders, slips, harmonics)
    safe = np.minimum(np.maximum(idx, 1), nbin - 2)
    near = safe[None] + np.arange(-1, 2)[:, None, None, None]  # (neighbour, orders, slips, harmonics)
    abs_grid = np.abs(grid)[None, :]
    for arr in (grid, valid, safe, near, abs_grid):
        arr.flags.writeable = False
    return grid, valid, safe, near, bool(valid.all()), abs_grid


_ARANGE = np.arange(64)  # row indices of refine_orders' result (a handful of orders)
_ARANGE.flags.writeable = False


def hann_values(n: int, *, exact: bool = False, block: int = 512) -> np.ndarray:
    """``np.hanning(n)`` within 4e-16 (absolute), ~8x faster for long windows (a new machine's first recording needs
    windows of up to ~10^6 samples; np.hanning spends ~1.5 ms on 153 600). The window is symmetric, so only its
    first half is computed (:func:`_hann_first_half`) and mirrored. ``exact``: np.hanning's own values (its formula
    on the first half, mirrored: its cosines are even), ~2x faster than it."""
    if n < 2:
        return np.hanning(n)
    h = (n + 1) // 2
    w = np.empty(n)
    _hann_first_half(n, w[:h], exact=exact, block=block)
    w[n - h:] = w[:h][::-1]  # overlaps the first half in its middle sample for odd n (numpy buffers it: the same value)
    return w


def _hann_first_half(n: int, first: np.ndarray, *, exact: bool = False, block: int = 512) -> None:
    """The first ``(n + 1) // 2`` values of :func:`hann_values` into ``first`` (``n >= 2``): ``0.5 - 0.5 cos(phi j)``
    with ``phi = 2 pi / (n - 1)``, by angle addition over blocks,
    ``cos(phi (q B + r)) = cos(phi q B) cos(phi r) - sin(phi q B) sin(phi r)`` (two outer products instead of a
    cosine per sample); ``exact``: np.hanning's formula."""
    h = len(first)
    if exact:
        first[:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(1 - n, 1 - n + 2 * h, 2) / (n - 1))
        return
    # the same operations into two scratch arrays and the result itself (issue 13, stop 26: a new machine's window of
    # ~80 000 samples spent ~0.6 ms of ~0.7 on fresh pages for five window-sized temporaries)
    phi = 2.0 * math.pi / (n - 1)
    a = phi * block * np.arange(-(-h // block))
    r = phi * np.arange(block)
    c = np.multiply.outer(np.cos(a), np.cos(r), out=scratch("zoom_blocks", (len(a), block), np.float64))
    c -= np.multiply.outer(np.sin(a), np.sin(r), out=scratch("f64t", (len(a), block), np.float64))
    np.multiply(0.5, c.reshape(-1)[:h], out=first)  # 0.5 - 0.5 * c, in place
    np.subtract(0.5, first, out=first)


HANN_CACHE_BYTES = 16 * 2**20  # the 1x check's half windows kept, in all (a gateway's machines; see hann_half)
_hann_halves: OrderedDict = OrderedDict()
_hann_lock = threading.Lock()


def hann_half(n: int) -> np.ndarray:
    """The first ``(n + 1) // 2`` values of :func:`hann_values` ``(n)`` (within 4e-16 of np.hanning; the rest is
    their mirror image), kept for the recording lengths in use, least recently used first out, up to
    :data:`HANN_CACHE_BYTES` in all (read-only): the 1x speed check's window. Issue 13, stop 29: whole windows were
    kept for 8 lengths (up to 8 MB each for 20 s at 51.2 kHz), so the bench's stream of 50 machines rebuilt one on
    every call; half windows in a byte budget keep ~50 kB for a 12 kHz window, ~0.45 MB for a 51.2 kHz one."""
    with _hann_lock:
        half = _hann_halves.get(n)
        if half is not None:
            _hann_halves.move_to_end(n)
            return half
    if n < 2:
        half = np.hanning(n)
    else:
        half = np.empty((n + 1) // 2)
        _hann_first_half(n, half)
    half.flags.writeable = False
    with _hann_lock:
        if half.nbytes <= HANN_CACHE_BYTES:
            _hann_halves[n] = half
            total = sum(v.nbytes for v in _hann_halves.values())
            while total > HANN_CACHE_BYTES:
                total -= _hann_halves.popitem(last=False)[1].nbytes
    return half


def zoom_dft(a: np.ndarray, k0: int, m: int, nfft: int) -> np.ndarray:
    """Bins ``k0 .. k0 + m - 1`` of ``rfft(a, n=nfft)`` (the zero-padded DFT of a float64 array), computed directly.

    For a few hundred bins of a long, 4x zero-padded transform this is 10-25x cheaper than the FFT. The time axis is cut
    into blocks of ``B`` samples, ``B`` a divisor of ``N = nfft`` near ``sqrt(len(a))`` (``N = B M``), ``t = q B + u``
    with ``u = r_c + v`` (``r_c`` the block's centre) and ``k = k_c + d`` (``k_c`` the bins' centre):
    ``exp(-2 pi i k t / N) = exp(-2 pi i k q / M) exp(-2 pi i k r_c / N) exp(-2 pi i k_c v / N) exp(-2 pi i d v / N)``.
    The last factor's phase is below ``pi m B / (2 N)`` (a few tenths of a radian at most), so its Taylor series in
    ``v / s`` (``s = B / 2``) is exact to double precision after P (8-16) terms, and
    ``X[k] = exp(-2 pi i k r_c / N) sum_p c_p(d) G_p(k)`` with the block moments
    ``mom[q, p] = sum_v a[q B + u] exp(-2 pi i k_c v / N) (v / s)^p`` (a matrix product on a view of ``a``; the last,
    partial block zero-padded on its own) and
    ``G_p(k) = sum_q mom[q, p] exp(-2 pi i k q / M)``: an M-point FFT of each moment column (Q <= M / 4 blocks,
    zero-padded; no Q x m table of exponentials). O(len(a) P) operations in all.

    The last bits depend on the CPU (the matrix product goes to BLAS, whose kernels and sums differ between CPUs, and
    numpy's complex product fuses where the CPU has FMA): :func:`refine_rpm` rounds what it derives from the bins.
    """
    a = np.asarray(a, dtype=np.float64)
    n = len(a)
    b, q, mm, w, coef, rows, phase = _zoom_plan(n, int(nfft), int(k0), int(m))
    full = n // b
    mom = np.empty((q, w.shape[1]))  # (Q, 2P): real | imaginary parts of the block moments
    np.matmul(a[:full * b].reshape(full, b), w, out=mom[:full])
    if q > full:  # the last block, zero-padded (a scratch array of B samples, not a padded copy of the recording)
        tail = scratch("zoom_blocks", b, np.float64)
        tail[:n - full * b] = a[full * b:]
        tail[n - full * b:] = 0.0
        np.matmul(tail, w, out=mom[full])
    p_terms = w.shape[1] // 2
    z = np.zeros((mm, p_terms), dtype=np.complex128)
    z.real[:q] = mom[:, :p_terms]
    z.imag[:q] = mom[:, p_terms:]
    g = fft_(z, axis=0)[rows]  # (m, P): G_p at the bins (k mod M)
    return np.sum(g * coef, axis=1) * phase


@functools.lru_cache(maxsize=64)  # a gateway's machines (the bench's stream: 50)
def _block_size(nfft: int, target: int) -> int:
    """The divisor of ``nfft`` nearest ``target`` (ratio-wise)."""
    best = 1
    for d in range(1, math.isqrt(nfft) + 1):
        if nfft % d == 0:
            for c in (d, nfft // d):
                if abs(math.log(c / target)) < abs(math.log(best / target)):
                    best = c
    return best


def _zoom_plan(n: int, nfft: int, k0: int, m: int):
    """The tables of :func:`zoom_dft` for ``n`` samples and the bins ``k0 .. k0 + m - 1``: (B, Q, M, moment weights
    ``(B, 2P)`` [real | imaginary], Taylor coefficients ``c_p(d)`` ``(m, P)``, the FFT rows of the bins, the bins'
    block-centre phases). Only B and Q depend on ``n``; the tables are kept per (``nfft``, bins, B)
    (:func:`_zoom_tables`), so recordings whose lengths differ a little share them (issue 13, stop 30: with the length
    in the key, every recording of a new length rebuilt them, ~0.05 ms)."""
    b = _block_size(nfft, max(math.isqrt(max(n, 1)), 1))
    return (b, -(-n // b), nfft // b) + _zoom_tables(nfft, k0, m, b)


@functools.lru_cache(maxsize=64)  # a gateway's machines (the bench's stream: 50; with 8, every one missed)
def _zoom_tables(nfft: int, k0: int, m: int, b: int):
    """The tables of :func:`_zoom_plan` for blocks of ``b`` samples (kept: a machine's recordings repeat them;
    ~30 kB for a 12 kHz window, ~65 kB for a 48 kHz / 600 rpm one, ~0.5 MB for 20 s at 51.2 kHz; read-only)."""
    s = b / 2.0
    d = np.arange(m) - (m - 1) / 2.0
    theta = 2.0 * math.pi * float(np.abs(d).max()) * s / nfft  # largest phase of the series' argument
    p_terms, term = 1, 1.0
    while term > 1e-18 and p_terms < 40:  # theta^p / p! below double precision
        term *= theta / p_terms
        p_terms += 1
    # exp(-2 pi i k_c v / N): k_c v = (2 k_c)(2 v) / 4 with 2 v = 2 u - (B - 1) an integer: reduce mod 4N
    two_v = 2 * np.arange(b, dtype=np.int64) - (b - 1)
    rot = np.exp((-2j * np.pi / (4 * nfft)) * (((2 * k0 + m - 1) * two_v) % (4 * nfft)))
    powers = np.empty((p_terms, b))  # (v / s)^p by repeated products, a contiguous row each
    powers[0] = 1.0
    ratio = two_v / float(b)
    for p in range(1, p_terms):
        np.multiply(powers[p - 1], ratio, out=powers[p])
    w = rot * powers
    w = np.ascontiguousarray(np.concatenate([w.real, w.imag]).T)
    fact = np.array([float(math.factorial(p)) for p in range(p_terms)])
    coef = np.ascontiguousarray(((-2j * np.pi * s / nfft * d[:, None]) ** np.arange(p_terms)) / fact)
    k = np.arange(k0, k0 + m, dtype=np.int64)
    phase = np.exp((-1j * np.pi / nfft) * ((k * (b - 1)) % (2 * nfft)))  # exp(-2 pi i k r_c / N), r_c = (B - 1) / 2
    out = (w, coef, k % (nfft // b), phase)
    for arr in out:
        arr.flags.writeable = False
    return out


def refine_rpm(x: np.ndarray, *, fs_hz: float, rpm: float, search: float = 0.025, min_prominence_db: float = 10.0,
               max_seconds: float = 20.0) -> tuple[float, str]:
    """The shaft speed from the 1x line of the spectrum, if there is a clear one within +-``search`` of ``rpm``.

    Returns (rpm, how): the refined speed and "1x line" when the peak stands ``min_prominence_db``
    over the median of its +-10 % neighbourhood, else the given speed and "as given". The peak is
    interpolated (quadratic on log magnitude) between bins of a 4x zero-padded spectrum, of which only the bins
    within +-10 % of the 1x line are computed (:func:`zoom_dft`). The refined speed is rounded to 10 significant
    digits (at most 5e-10 relative, far below what a spectrum resolves), so that the last bits of the bins, the Hann
    window and the logarithm, which differ between CPUs (~1e-15), do not reach the later outputs: a speed differs
    between CPUs only where it lies within ~1e-14 of a rounding edge.
    """
    n = min(len(x), int(max_seconds * fs_hz))
    f_r = rpm / 60.0
    nfft = next_fast_len_real(4 * n)
    df = fs_hz / nfft
    k0, k1 = int(f_r * (1 - search) / df), int(math.ceil(f_r * (1 + search) / df))
    n0, n1 = int(f_r * 0.9 / df), int(math.ceil(f_r * 1.1 / df))
    if k1 + 1 >= nfft // 2 + 1 or k0 < 2:
        return float(rpm), "as given"
    n1 = min(n1, nfft // 2)
    yw = centred_copy(np.asarray(x[:n]))  # mean removed, then the Hann window, in place in a scratch array
    half = hann_half(n)
    h = len(half)
    yw[:h] *= half
    yw[h:] *= half[:n - h][::-1]  # the window's second half: the first one's mirror image
    spec = np.zeros(n1 + 1)  # only bins n0..n1 are read
    spec[n0:] = np.abs(zoom_dft(yw, n0, n1 + 1 - n0, nfft))
    k = k0 + int(np.argmax(spec[k0:k1 + 1]))
    bg = median(spec[n0:n1 + 1]) + 1e-30
    if 20 * math.log10(spec[k] / bg + 1e-30) < min_prominence_db or k in (k0, k1):
        return float(rpm), "as given"
    a, b, c = (math.log(float(v) + 1e-30) for v in spec[k - 1:k + 2])
    delta = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return float(f"{(k + min(max(delta, -0.5), 0.5)) * df * 60.0:.10g}"), "1x line"
