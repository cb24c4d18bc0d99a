"""scipy.fft's pocketfft transforms without scipy.fft's per-call dispatch (issue 13, stop 25).

``scipy.fft.rfft`` and friends go through the array-API/uarray backend machinery, argument checks and copies
before they reach pocketfft: about 3-5 us per call, against 1-10 us for the transforms of a window's envelopes.
These wrappers call the same compiled pocketfft functions scipy.fft ends in (``scipy.fft._pocketfft.pypocketfft``,
same arguments scipy passes: one thread, the same normalisation and in-place rules), so the results are the
same bits (``tests/apps/bearing_wear/test_pocketfft.py`` compares them with scipy.fft's). If a scipy release
moves that module, the public functions are used instead. Inputs must be native-endian, aligned arrays of a
float or complex dtype (what the callers in this package make).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft as sfft

try:  # scipy >= 1.4 keeps its pocketfft binding here (the module scipy.fft's own backend calls)
    from scipy.fft._pocketfft import pypocketfft as _pp
except ImportError:  # pragma: no cover - a scipy without it: the public functions
    _pp = None


def rfft(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """``scipy.fft.rfft(a, axis=axis)`` of a real array."""
    if _pp is None:
        return sfft.rfft(a, axis=axis)
    return _pp.r2c(a, (axis,), True, 0, None, 1)


def ifft_forward_norm_(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``scipy.fft.ifft(z, axis=axis, norm="forward", overwrite_x=True)`` of a complex array: unscaled, in place
    (``z`` holds the result, which is returned)."""
    if _pp is None:
        return sfft.ifft(z, axis=axis, norm="forward", overwrite_x=True)
    return _pp.c2c(z, (axis,), False, 0, z, 1)


def irfft(a: np.ndarray, n: int, axis: int = -1) -> np.ndarray:
    """``scipy.fft.irfft(a, n=n, axis=axis)`` of an array with ``n // 2 + 1`` entries along ``axis`` (a real one is
    made complex as scipy.fft does: ``a + 0j``)."""
    if _pp is None:
        return sfft.irfft(a, n=n, axis=axis)
    if a.dtype.kind != "c":
        a = a + 0.j
    return _pp.c2r(a, (axis,), int(n), False, 2, None, 1)


@functools.lru_cache(maxsize=256)
def next_fast_len(n: int) -> int:
    """``scipy.fft.next_fast_len(n)`` (complex transforms), kept per length."""
    return sfft.next_fast_len(int(n))


@functools.lru_cache(maxsize=64)
def prev_fast_len_real(n: int) -> int:
    """``scipy.fft.prev_fast_len(n, real=True)``, kept per length."""
    return sfft.prev_fast_len(int(n), real=True)
