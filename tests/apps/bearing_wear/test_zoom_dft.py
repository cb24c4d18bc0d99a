"""orders.zoom_dft (the 1x speed check's few spectrum bins) equals the zero-padded FFT's bins."""

import numpy as np
import pytest
import scipy.fft as sfft

from edgeinv.apps.bearing_wear import orders as O


@pytest.mark.parametrize("n", [37, 500, 12821, 153600])
def test_zoom_dft_equals_the_padded_fft(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n) + 3.0 * np.sin(0.013 * np.arange(n))
    nfft = sfft.next_fast_len(4 * n, real=True)
    full = sfft.rfft(a, n=nfft)
    scale = np.abs(full).max()
    for k0, m in ((2, 5), (nfft // 400, 27), (nfft // 2 - 30, 30)):  # contiguous bins: the block-moment path
        got = O.zoom_dft(a, np.arange(k0, k0 + m), nfft)
        assert np.max(np.abs(got - full[k0:k0 + m])) <= 1e-12 * scale
    bins = np.array([3, 17, nfft // 7, nfft // 2])  # scattered bins: the plain exponentials
    assert np.max(np.abs(O.zoom_dft(a, bins, nfft) - full[bins])) <= 1e-12 * scale


def _hann_fresh(n: int, block: int = 512) -> np.ndarray:
    """orders.hann_values' angle addition with fresh temporaries (the code before stop 26)."""
    import math

    h = (n + 1) // 2
    phi = 2.0 * math.pi / (n - 1)
    a = phi * block * np.arange(-(-h // block))
    r = phi * np.arange(block)
    c = np.multiply.outer(np.cos(a), np.cos(r))
    c -= np.multiply.outer(np.sin(a), np.sin(r))
    first = 0.5 - 0.5 * c.reshape(-1)[:h]
    return np.concatenate([first, first[::-1][2 * h - n:]])


@pytest.mark.parametrize("n", [2, 3, 511, 512, 513, 1025, 12821, 79093, 153600])
def test_hann_in_scratch_equals_fresh_temporaries(n):
    """The 1x check's Hann window built in scratch arrays and the result itself: the same doubles as with fresh
    temporaries, and the scratch arrays the caller holds (the centred samples) are left alone."""
    from edgeinv.apps.bearing_wear import pocketfft as P

    held = P.centred_copy(np.arange(n, dtype=np.float32))
    keep = held.copy()
    assert np.array_equal(O.hann_values(n), _hann_fresh(n))
    assert np.array_equal(held, keep)


@pytest.mark.parametrize("n, m", [(12821, 28), (27714, 58), (79093, 161)])
def test_zoom_moment_tables_equal_column_by_column_products(n, m):
    """The block moments' powers built row by row: the same doubles as the column-by-column products they replace."""
    nfft = sfft.next_fast_len(4 * n, real=True)
    b, q, w, coef, outer = O._zoom_moments.__wrapped__(n, nfft, nfft // 400, m)
    p_terms = coef.shape[0]
    u = np.arange(b) - (b - 1) / 2.0
    powers = np.empty((b, p_terms))
    powers[:, 0] = 1.0
    for p in range(1, p_terms):
        np.multiply(powers[:, p - 1], u / (b / 2.0), out=powers[:, p])
    two_u = 2 * np.arange(b, dtype=np.int64) - (b - 1)
    rot = np.exp((-2j * np.pi / (4 * nfft)) * (((2 * (nfft // 400) + m - 1) * two_u) % (4 * nfft)))
    want = rot[:, None] * powers
    assert np.array_equal(w, np.concatenate([want.real, want.imag], axis=1))


def _refine_rpm_scipy(x, *, fs_hz, rpm, search=0.025, min_prominence_db=10.0, max_seconds=20.0):
    """orders.refine_rpm's padded-FFT branch as it was until stop 27: the magnitudes of the whole spectrum."""
    import math

    n = min(len(x), int(max_seconds * fs_hz))
    f_r = rpm / 60.0
    nfft = O._next_fast_len_real(4 * n)
    df = fs_hz / nfft
    k0, k1 = int(f_r * (1 - search) / df), int(math.ceil(f_r * (1 + search) / df))
    n0, n1 = int(f_r * 0.9 / df), int(math.ceil(f_r * 1.1 / df))
    assert n * (n1 + 1 - n0) >= 2 * nfft * math.log2(nfft)  # the FFT branch, not the direct DFT
    yw = (x[:n] - np.add.reduce(x[:n]) / n) * O.hann(n)
    spec = np.abs(sfft.rfft(yw, n=nfft))
    k = k0 + int(np.argmax(spec[k0:k1 + 1]))
    bg = O.median(spec[n0:n1 + 1]) + 1e-30
    assert 20 * math.log10(spec[k] / bg + 1e-30) >= min_prominence_db and k not in (k0, k1)
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-30)
    delta = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return float((k + float(np.clip(delta, -0.5, 0.5))) * df * 60.0)


@pytest.mark.parametrize("fs, seconds", [(12000.0, 10.0), (25600.0, 8.0)])
def test_refine_rpm_padded_fft_of_the_read_bins_gives_the_same_bits(fs, seconds):
    """Long recordings at low rates take refine_rpm's padded rfft, now with |X| of the bins it reads only (issue 13,
    stop 27): the refined speed is the same double as from the whole spectrum's magnitudes."""
    rng = np.random.default_rng(int(fs))
    t = np.arange(int(fs * seconds)) / fs
    x = 0.3 * np.sin(2 * np.pi * 29.87 * t) + rng.standard_normal(len(t))
    got, how = O.refine_rpm(x, fs_hz=fs, rpm=1797.0)
    assert how == "1x line" and abs(got - 29.87 * 60) < 0.5
    assert got == _refine_rpm_scipy(x, fs_hz=fs, rpm=1797.0)
