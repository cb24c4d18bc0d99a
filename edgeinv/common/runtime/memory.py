"""Give freed heap memory back to the operating system (a serving process's resident set after a peak).

glibc keeps memory freed by Python, numpy and ONNX Runtime in its heaps (one arena per thread) and
returns it only when the top of a heap is free, so a serving process's RSS stays at its highest point:
the start-up self-test runs every shipped variant once (veg-cover: 362 MB resident afterwards, 137 MB
after :func:`release_memory`), and each analysis thread keeps its own arena. ``malloc_trim(0)`` walks
every arena and releases its free pages (a few ms). Not glibc (musl, macOS): nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _trim():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def release_memory() -> bool:
    """Return free heap pages to the OS (glibc ``malloc_trim``); True if anything was released."""
    fn = _trim()
    return bool(fn(0)) if fn is not None else False
