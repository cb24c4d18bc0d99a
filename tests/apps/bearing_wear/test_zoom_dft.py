"""orders.zoom_dft (the 1x speed check's few spectrum bins) equals the zero-padded FFT's bins; refine_rpm built on it
refines the same speed as the whole padded spectrum, rounded."""

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
    for k0, m in ((0, 1), (2, 5), (nfft // 400, 27), (nfft // 7, 301), (nfft // 2 - 29, 30)):
        if k0 + m <= nfft // 2 + 1:
            got = O.zoom_dft(a, k0, m, nfft)
            assert got.shape == (m,) and np.max(np.abs(got - full[k0:k0 + m])) <= 4e-15 * scale


def test_recordings_of_nearby_lengths_share_the_zoom_tables():
    """The tables depend on the padded length, the bins and the block size, not on the length itself: recordings a
    few samples apart (the same padded length and block) reuse them, and each still gets its own padded FFT's bins."""
    n1, n2 = 12821, 12830
    nfft = sfft.next_fast_len(4 * n1, real=True)
    assert sfft.next_fast_len(4 * n2, real=True) == nfft
    p1, p2 = O._zoom_plan(n1, nfft, 116, 28), O._zoom_plan(n2, nfft, 116, 28)
    assert p1[0] == p2[0] and all(a is b for a, b in zip(p1[3:], p2[3:]))  # the same block size, the same arrays
    rng = np.random.default_rng(5)
    for n in (n1, n2):
        a = rng.standard_normal(n)
        full = sfft.rfft(a, n=nfft)
        assert np.max(np.abs(O.zoom_dft(a, 116, 28, nfft) - full[116:144])) <= 4e-15 * np.abs(full).max()


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


def _refine_rpm_scipy(x, *, fs_hz, rpm, search=0.025, min_prominence_db=10.0, max_seconds=20.0):
    """orders.refine_rpm's padded-FFT branch as it was until stop 27: the magnitudes of the whole spectrum."""
    import math

    n = min(len(x), int(max_seconds * fs_hz))
    f_r = rpm / 60.0
    nfft = O.next_fast_len_real(4 * n)
    df = fs_hz / nfft
    k0, k1 = int(f_r * (1 - search) / df), int(math.ceil(f_r * (1 + search) / df))
    n0, n1 = int(f_r * 0.9 / df), int(math.ceil(f_r * 1.1 / df))
    yw = (x[:n] - np.add.reduce(x[:n]) / n) * O.hann_values(n)
    spec = np.abs(sfft.rfft(yw, n=nfft))
    k = k0 + int(np.argmax(spec[k0:k1 + 1]))
    bg = O.median(spec[n0:n1 + 1]) + 1e-30
    assert 20 * math.log10(spec[k] / bg + 1e-30) >= min_prominence_db and k not in (k0, k1)
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-30)
    delta = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return float((k + float(np.clip(delta, -0.5, 0.5))) * df * 60.0)


@pytest.mark.parametrize("fs, seconds", [(12000.0, 1.07), (12000.0, 10.0), (25600.0, 8.0), (51200.0, 3.0)])
def test_refine_rpm_within_its_rounding_of_the_padded_fft(fs, seconds):
    """refine_rpm takes its bins from zoom_dft for every length (issue 13, stop 28; before: the padded rfft for long
    recordings at low rates): the refined speed is the whole padded spectrum's rounded to 10 significant digits."""
    rng = np.random.default_rng(int(fs))
    t = np.arange(int(fs * seconds)) / fs
    x = 0.3 * np.sin(2 * np.pi * 29.87 * t) + rng.standard_normal(len(t))
    got, how = O.refine_rpm(x, fs_hz=fs, rpm=1797.0)
    want = _refine_rpm_scipy(x, fs_hz=fs, rpm=1797.0)
    assert how == "1x line" and abs(got - 29.87 * 60) < 0.5 + 2.0 / seconds  # a 1.07 s window: bins of 14 rpm
    assert abs(got - want) <= 5e-10 * want + 1e-12 * want and got == float(f"{want:.10g}")


def test_hann_half_is_the_window_first_half_kept_within_its_byte_budget(monkeypatch):
    """The 1x check's kept half windows (stop 29) are hann_values' first halves; the cache holds at most
    HANN_CACHE_BYTES, dropping the least recently used length first, and never an entry above the budget."""
    monkeypatch.setattr(O, "_hann_halves", O.OrderedDict())
    monkeypatch.setattr(O, "HANN_CACHE_BYTES", 20_000)
    for n in (0, 1, 2, 3, 999, 1000, 1999, 2000):
        half = O.hann_half(n)
        assert not half.flags.writeable and np.array_equal(half, O.hann_values(n)[: (n + 1) // 2]), n
        assert sum(v.nbytes for v in O._hann_halves.values()) <= O.HANN_CACHE_BYTES
    assert list(O._hann_halves) == [1000, 1999, 2000]  # 4 + 8 + 8 kB: the short ones and 999 were dropped
    assert O.hann_half(1999) is O._hann_halves[1999] and list(O._hann_halves) == [1000, 2000, 1999]
    O.hann_half(7001)  # 28 kB: above the budget, computed and not kept
    assert list(O._hann_halves) == [1000, 2000, 1999]
