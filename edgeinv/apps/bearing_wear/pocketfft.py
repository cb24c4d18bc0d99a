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
import math
import threading

import numpy as np
import scipy.fft as sfft

try:  # scipy >= 1.4 keeps its pocketfft binding here (the module scipy.fft's own backend calls)
    from scipy.fft._pocketfft import pypocketfft as _pp
except ImportError:  # pragma: no cover - a scipy without it: the public functions
    _pp = None


def _private_binding_agrees() -> bool:
    """The private binding's calls, as used below, against scipy.fft's public functions on small arrays: a scipy
    release that keeps the module but changes its signature or meaning falls back to the public functions (pyproject
    pins only ``scipy>=1.11``) instead of failing or answering differently."""
    x = np.linspace(-1.0, 1.0, 12) ** 3
    try:
        z = np.asarray(_pp.r2c(x, (0,), True, 0, None, 1))
        ok = z.shape == (7,) and np.array_equal(z, sfft.rfft(x))
        ok = ok and np.array_equal(_pp.c2r(z, (0,), 12, False, 2, None, 1), sfft.irfft(z, n=12))
        w = z.astype(np.complex128)
        ok = ok and np.array_equal(_pp.c2c(w.copy(), (0,), False, 0, None, 1), sfft.ifft(w, norm="forward"))
        ok = ok and np.array_equal(_pp.c2c(w.copy(), (0,), True, 0, None, 1), sfft.fft(w))
    except Exception:  # noqa: BLE001 - any failure of a private API means: do not use it
        return False
    return bool(ok)


if _pp is not None and not _private_binding_agrees():  # pragma: no cover - depends on the installed scipy
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


def fft_(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``scipy.fft.fft(z, axis=axis, overwrite_x=True)`` of a complex array, in place (``z`` holds the result)."""
    if _pp is None:
        return sfft.fft(z, axis=axis, overwrite_x=True)
    return _pp.c2c(z, (axis,), True, 0, z, 1)


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
def next_fast_len_real(n: int) -> int:
    """``scipy.fft.next_fast_len(n, real=True)``, kept per length."""
    return sfft.next_fast_len(int(n), real=True)


@functools.lru_cache(maxsize=64)
def prev_fast_len_real(n: int) -> int:
    """``scipy.fft.prev_fast_len(n, real=True)``, kept per length."""
    return sfft.prev_fast_len(int(n), real=True)


# ---- per-thread scratch arrays (issue 13, stop 25) ------------------------------------------------------------------
# A window's temporaries (its samples in double and single precision, its rfft and power spectrum, the envelopes)
# are up to a few hundred kB each at 48 kHz: fresh ones each window cost page faults (glibc returns freed memory
# to the system above its trim threshold), which doubled the time of the window's rfft at 48 kHz / 600 rpm. The
# temporaries that do not leave a call live in a few scratch arrays per thread instead, named by role and shared by
# temporaries whose lifetimes do not overlap (fewer distinct buffers: a smaller cache footprint): "in64" a float64
# copy of the input (the window, the 1x search's samples, a whole recording's indicators), "x64" the centred samples,
# "X"/"P" the window's rfft and power spectrum, "Xk" the kurtogram's rfft of the first samples, "f32a".."f32c",
# "cA"/"cB", "f64t" transient envelope and autocorrelation arrays (features.py says which), "bool" the clipping test,
# "zoom_blocks" the 1x search's zero-padded last block ("zoom_blocks"/"f64t" also build its Hann window, orders.py).
_SCRATCH = threading.local()
SCRATCH_MAX_BYTES = 4 << 20  # larger temporaries (windows of > 500 000 samples) are allocated afresh
# Memory: a thread keeps its buffers at the size of the largest window it analysed (~5 MB for 153 600-sample windows,
# 48 kHz / 600 rpm; ~0.5 MB at 12 kHz / 1797 rpm); a thread that ends frees them, a pool's threads keep theirs.


def scratch(name: str, shape, dtype) -> np.ndarray:
    """An uninitialised array of ``shape``/``dtype`` reused per ``name`` by this thread: the caller's result must not
    keep it (the next call with the same name overwrites it)."""
    try:  # the common case first: a view handed out before (~20 calls per window; issue 13, stop 26)
        v = _SCRATCH.views.get((name, shape, dtype))
    except AttributeError:  # this thread's first call
        _SCRATCH.views, _SCRATCH.pool = {}, {}
        v = None
    return v if v is not None else _new_scratch(name, shape, dtype)


def _new_scratch(name: str, shape, dtype) -> np.ndarray:
    """:func:`scratch` for a name/shape/dtype without a view yet: a view of the name's buffer (grown if too small;
    the views of the old buffer are dropped with it, so every kept view is of its name's current buffer)."""
    views, pool = _SCRATCH.views, _SCRATCH.pool
    shp = tuple(shape) if isinstance(shape, (tuple, list)) else (int(shape),)
    dt = np.dtype(dtype)
    size = dt.itemsize * math.prod(shp)
    if size > SCRATCH_MAX_BYTES:
        return np.empty(shp, dt)
    held = pool.get(name)
    if held is None or held.nbytes < size:
        held = pool[name] = np.empty(max(size, 1), np.uint8)
        for k in [k for k in views if k[0] == name]:  # the old buffer's views: dropped with it
            del views[k]
    if len(views) > 4096:  # shapes vary by machine (~20 per machine; the bench's stream: 50 machines, stop 26)
        views.clear()
    v = held[:size].view(dt).reshape(shp)
    views[(name, shape, dtype)] = v
    return v


def centred_copy(x: np.ndarray) -> np.ndarray:
    """``x - x.mean()`` in double precision (the mean as ``np.mean``'s sum / n) in a scratch array: a non-double ``x``
    is copied into ``"in64"`` and centred there, a double one is centred into ``"x64"`` (the caller's array is never
    written)."""
    n = len(x)
    if x.dtype != np.float64:  # np.asarray(x, dtype=np.float64)
        buf = scratch("in64", n, np.float64)
        np.copyto(buf, x, casting="unsafe")
        buf -= np.add.reduce(buf) / n
        return buf
    return np.subtract(x, np.add.reduce(x) / n, out=scratch("x64", n, np.float64))


def rfft_into(a: np.ndarray, out_name: str) -> np.ndarray:
    """:func:`rfft` of a real array along its last axis into the scratch array ``out_name``."""
    shape = a.shape[:-1] + (a.shape[-1] // 2 + 1,)
    out = scratch(out_name, shape, np.complex64 if a.dtype == np.float32 else np.complex128)
    if _pp is None:
        out[...] = sfft.rfft(a, axis=-1)
        return out
    return _pp.r2c(a, (a.ndim - 1,), True, 0, out, 1)


def irfft_into(a: np.ndarray, n: int, out_name: str) -> np.ndarray:
    """:func:`irfft` of a complex 1-D array into the scratch array ``out_name``."""
    out = scratch(out_name, int(n), np.float32 if a.dtype == np.complex64 else np.float64)
    if _pp is None:
        out[...] = sfft.irfft(a, n=n)
        return out
    return _pp.c2r(a, (0,), int(n), False, 2, out, 1)
