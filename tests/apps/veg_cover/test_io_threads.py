"""Background I/O threads of the tiled path (issue 13): same outputs, bounded look-ahead, errors reach the caller."""

import threading

import numpy as np
import pytest
import rasterio

from edgeinv.apps.veg_cover import tiling
from edgeinv.apps.veg_cover.outputs import CoverGeoTiff, read_cover
from edgeinv.common.errors import InvalidInputError


@pytest.fixture
def big_scene(tmp_path, write_tif):
    """A 300 x 420 px 5-band field in 256 px blocks (as test_tiling's): many 64 px tiles."""
    rng = np.random.default_rng(5)
    h, w = 300, 420
    veg = np.clip(np.cumsum(rng.normal(0, 0.08, (h, w)), axis=1) % 1.0, 0, 1)
    soil = np.array([0.12, 0.15, 0.19, 0.21, 0.25])[:, None, None]
    leaf = np.array([0.03, 0.08, 0.04, 0.20, 0.45])[:, None, None]
    bands = (soil * (1 - veg) + leaf * veg + rng.normal(0, 0.004, (5, h, w))).clip(0, 1).astype(np.float32)
    return write_tif(tmp_path / "field.tif", bands, descriptions=["blue", "green", "red", "rededge", "nir"], tiled=True)


def _io_threads_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in ("edgeinv-read", "edgeinv-write")]


@pytest.mark.parametrize("io_threads", [1, 2])
def test_background_io_gives_the_serial_outputs_bit_for_bit(vc_app, tiny_runner, big_scene, tmp_path, io_threads):
    runs = {}
    for n in (0, io_threads):
        out = tmp_path / f"cover{n}.tif"
        res = vc_app.predict(vc_app.read(big_scene, out=str(out), tile_px=64, io_threads=n), tiny_runner)
        with rasterio.open(out) as ds:
            levels = [ds.read(out_shape=(2, ds.height // f, ds.width // f)) for f in ds.overviews(1)]
        runs[n] = (res.to_dict(), read_cover(out), levels, res.cover)
    (a, (ca, sa), la, ma), (b, (cb, sb), lb, mb) = runs[0], runs[io_threads]
    np.testing.assert_array_equal(ma, mb)
    np.testing.assert_array_equal(ca, cb)
    np.testing.assert_array_equal(sa, sb)
    assert len(la) == len(lb) > 0 and all(np.array_equal(x, y) for x, y in zip(la, lb))
    assert a["zones"] == b["zones"] and a["fvc_mean"] == b["fvc_mean"]
    assert not _io_threads_alive()


def test_a_failed_background_write_is_raised_and_leaves_no_half_written_cover(vc_app, tiny_runner, big_scene,
                                                                              tmp_path, monkeypatch):
    calls = []
    original = CoverGeoTiff.write

    def failing(self, **kw):
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise OSError("No space left on device")
        return original(self, **kw)

    monkeypatch.setattr(CoverGeoTiff, "write", failing)
    out = tmp_path / "cover.tif"
    with pytest.raises(OSError, match="No space left"):
        vc_app.predict(vc_app.read(big_scene, out=str(out), tile_px=64, io_threads=1), tiny_runner)
    assert calls[0] == "edgeinv-read"  # written on the background thread (one thread for both with 1)
    assert not out.exists() and not _io_threads_alive()


class _Source:
    """A raster of ones that counts reads; fails at tile ``fail_at`` when given."""

    def __init__(self, height=200, width=260, fail_at=None):
        self.height, self.width, self.fail_at = height, width, fail_at
        self.reads, self.lock = 0, threading.Lock()

    def read_window(self, row, col, height, width):
        with self.lock:
            self.reads += 1
            n = self.reads
        if n == self.fail_at:
            raise InvalidInputError("the GeoTIFF is truncated or corrupt (test)")
        return np.ones((1, height, width), np.float32), np.ones((height, width), bool)


def test_read_ahead_is_bounded_and_read_errors_reach_the_caller():
    src = _Source()
    ahead = []

    def infer(bands, valid):
        ahead.append(src.reads - len(ahead) - 1)  # tiles read beyond the one being inferred
        return bands[0], None

    mem = tiling.MemorySink(height=src.height, width=src.width)
    tiling.process(src, infer, sinks=[mem], tile_px=32, io_threads=1)
    assert np.all(mem.cover == 1.0) and len(ahead) == src.reads > 20
    assert max(ahead) <= tiling.READ_AHEAD and max(ahead) > 0  # read ahead, never more than READ_AHEAD tiles
    with pytest.raises(InvalidInputError, match="truncated"):
        tiling.process(_Source(fail_at=7), infer, sinks=[], tile_px=32, io_threads=2)
    assert not _io_threads_alive()


@pytest.mark.parametrize("bad", [-1, 3])
def test_io_threads_must_be_0_1_or_2(bad):
    from edgeinv.common.errors import ConfigError

    with pytest.raises(ConfigError, match="io_threads"):
        tiling.io_pools(bad)


def test_default_starts_threads_only_for_large_rasters(monkeypatch):
    """Small rasters (the web's uploads) stay on the calling thread unless asked; large ones get the default."""
    started = []
    monkeypatch.setattr(tiling, "io_pools", lambda n: (started.append(n), (None, None))[1])

    def infer(bands, valid):
        return bands[0], None

    tiling.process(_Source(), infer, sinks=[], tile_px=32)
    tiling.process(_Source(), infer, sinks=[], tile_px=32, io_threads=2)
    monkeypatch.setattr(tiling, "IO_MIN_PIXELS", 100)
    monkeypatch.setattr(tiling, "_cores", lambda: 2)
    tiling.process(_Source(), infer, sinks=[], tile_px=32)
    monkeypatch.setattr(tiling, "_cores", lambda: 1)  # one core: no background thread unless asked
    tiling.process(_Source(), infer, sinks=[], tile_px=32)
    tiling.process(_Source(), infer, sinks=[], tile_px=32, io_threads=1)
    assert started == [0, 2, tiling.IO_THREADS, 0, 1]


def test_only_large_rasters_switch_the_heap_to_reusing_tile_buffers(monkeypatch):
    """Above IO_MIN_PIXELS the tile loop asks for the steady heap once and gives the memory back at the end;
    smaller rasters (a serving process's uploads) leave glibc's thresholds alone."""
    calls = []
    monkeypatch.setattr(tiling, "steady_heap", lambda: calls.append("steady"))
    monkeypatch.setattr(tiling, "release_memory", lambda: calls.append("release"))
    src = _Source()
    mem = tiling.MemorySink(height=src.height, width=src.width)
    tiling.process(src, lambda b, v: (b[0], None), sinks=[mem], tile_px=32, io_threads=0)
    assert calls == []
    monkeypatch.setattr(tiling, "IO_MIN_PIXELS", src.height * src.width - 1)
    tiling.process(src, lambda b, v: (b[0], None), sinks=[mem], tile_px=32, io_threads=0)
    assert calls == ["steady", "release"] and np.all(mem.cover == 1.0)


def test_images_of_many_tiles_run_their_inner_tiles_on_a_session_planned_for_them(vc_app, tiny_onnx, big_scene,
                                                                                  tmp_path, monkeypatch):
    """An image at least PLAN_MIN_TILES tiles a side prepares the model for the inner tiles' shape (tile + both
    margins): the same zones and cover map as the general session to float rounding (a stored step at most); a
    smaller one (or a runner without ``prepare``) runs on the general session."""
    from edgeinv.common.runtime.session import OnnxModel

    runs = {}
    for planned in (False, True):
        runner = OnnxModel(tiny_onnx, threads=1)
        if not planned:
            monkeypatch.setattr(runner, "prepare", lambda shape: False)
        out = tmp_path / f"cover{planned}.tif"
        res = vc_app.predict(vc_app.read(big_scene, out=str(out), tile_px=64, io_threads=0), runner)  # 300 x 420 px
        runs[planned] = (res.to_dict(), read_cover(out)[0], list(runner._fixed))
    (a, ca, fa), (b, cb, fb) = runs[False], runs[True]
    assert fa == [] and fb == [(1, 7, tiling.read_px(64), tiling.read_px(64))] and tiling.read_px(64) == 80
    assert np.nanmax(np.abs(ca - cb)) <= 0.0041 and np.mean(ca != cb) < 0.01
    assert abs(a["fvc_mean"] - b["fvc_mean"]) < 1e-5 and len(a["zones"]) == len(b["zones"])
    small = OnnxModel(tiny_onnx, threads=1)  # 300 px is under 4 tiles of 128 px: no planned session
    vc_app.predict(vc_app.read(big_scene, tile_px=128, io_threads=0), small)
    assert small._fixed == {} and 300 < tiling.PLAN_MIN_TILES * 128
