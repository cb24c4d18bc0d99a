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

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Buffers up to this size come from the heap, not from fresh mmap pages (glibc's largest allowed value on 64-bit),
# and up to this much free memory may stay at the heap's top between two tiles.
STEADY_MMAP_BYTES = 32 * 2**20
STEADY_TRIM_BYTES = 32 * 2**20


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim, opt = libc.malloc_trim, libc.mallopt
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    opt.argtypes, opt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return libc


def _trim():
    libc = _libc()
    return libc.malloc_trim if libc is not None else None


@functools.lru_cache(maxsize=1)
def steady_heap() -> bool:
    """Keep freed tile-sized buffers in the heap for the next tile (a process streaming a large raster).

    By default glibc serves each buffer above a threshold (128 KiB, raised as large buffers are freed) with
    fresh ``mmap`` pages and returns the heap's free top to the OS above twice that: a tile loop whose
    buffers are 0.7-2.6 MB (a 272 px window of 5 bands, its 7 feature maps, GDAL's 512 px blocks, ONNX
    Runtime's activations) then faults in and zeroes fresh pages for most of them, every tile. With both
    thresholds fixed at 32 MiB the freed buffers are reused: the 49 MP bench raster took 43 000 page faults
    instead of 159 000 (``perf stat -e page-faults``, issue 13, stop 26). The peak stays the tile's working
    set; :func:`release_memory` gives it back afterwards. Process-wide and once (glibc has no way back to its
    adaptive thresholds), so only the large-raster path calls it (``tiling.process`` above
    ``IO_MIN_PIXELS``; a serving process's uploads stay below). True if set (glibc only).
    """
    libc = _libc()
    if libc is None:
        return False
    mmap_set = libc.mallopt(M_MMAP_THRESHOLD, STEADY_MMAP_BYTES)
    return bool(mmap_set and libc.mallopt(M_TRIM_THRESHOLD, STEADY_TRIM_BYTES))


def release_memory() -> bool:
    """Return free heap pages to the OS (glibc ``malloc_trim``); True if anything was released."""
    fn = _trim()
    return bool(fn(0)) if fn is not None else False
