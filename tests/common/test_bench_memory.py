"""Serving-process memory (issue 13): no heavy module at start-up, the numpy Welch equals scipy's, trim works.

The figures themselves come from ``scripts/serve_rss.py`` (README); these tests pin what keeps them low.
"""

import subprocess
import sys

import numpy as np
import pytest

HEAVY = ("scipy.signal", "scipy.optimize", "scipy.stats", "torch", "numba", "cv2", "sklearn", "onnx", "prosail")


def test_a_server_with_every_app_imports_no_heavy_module_before_it_is_used(tmp_path):
    """Every serving process loads every app (the registry); each heavy module waits for its first use."""
    code = ("import sys, tempfile\n"
            "from edgeinv.common.app import all_apps\n"
            "from edgeinv.common.config import load_settings\n"
            "from edgeinv.common.web import create_app\n"
            f"create_app(load_settings(data_dir={str(tmp_path)!r}), list(all_apps().values()))\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1:] in ([], [""]), f"imported at start-up: {out.stdout.strip()}"


@pytest.mark.parametrize("n,nper", [(48000, 16384), (1000, 256), (999, 999), (5000, 1023), (16, 16)])
def test_numpy_welch_equals_scipy(n, nper):
    from scipy import signal as ss

    from edgeinv.apps.bearing_wear.pageplots import welch_density

    x = np.random.default_rng(n).standard_normal(n) + 3.0
    f1, p1 = ss.welch(x, fs=12000.0, nperseg=nper, window="hann", scaling="density", detrend="constant")
    f2, p2 = welch_density(x, fs_hz=12000.0, nperseg=nper)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_allclose(p2, p1, rtol=1e-12, atol=1e-15 * p1.max())


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmRSS:"))


def test_release_memory_gives_freed_heap_pages_back():
    from edgeinv.common.runtime import memory

    if sys.platform != "linux" or memory._trim() is None:
        pytest.skip("glibc only")
    memory.release_memory()
    blocks = [bytearray(8000) for _ in range(20_000)]  # 160 MB of small heap blocks (below the mmap threshold)
    keep = blocks[-1]  # the heap's top stays in use, so free() alone cannot shrink it
    del blocks
    before = _rss_mb()
    assert memory.release_memory() is True
    assert before - _rss_mb() > 80, "malloc_trim returned less than half of the freed 160 MB"
    del keep


def _minor_faults() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def test_steady_heap_reuses_freed_tile_buffers():
    """After steady_heap a tile loop's buffers (three of 2.6 MB alive at once, as a tile's bands, features and an
    activation, each written whole) come back from the heap. With glibc's adaptive defaults the three freed
    together exceed its trim threshold (twice the largest buffer) and go back to the OS each time: ~113 000
    page faults in this loop, against ~2 000 with the steady heap (the bound: a tenth of every page fresh)."""
    import numpy as np

    from edgeinv.common.runtime import memory

    if sys.platform != "linux" or memory._libc() is None:
        pytest.skip("glibc only")
    assert memory.steady_heap() is True
    n, pages = 60, 3 * 2_621_440 // 4096
    before = _minor_faults()
    for i in range(n):
        bufs = [np.empty(2_621_440, np.uint8) for _ in range(3)]
        for a in bufs:
            a[:] = i  # touch every page
        del bufs, a
    assert _minor_faults() - before < n * pages / 10
    memory.release_memory()
