"""predict --scheduler: one GeoTIFF's windows on Dask workers give the single-process cover GeoTIFF, bit for bit."""

import numpy as np
import pytest
import rasterio

from edgeinv.common import dask_windows
from edgeinv.common.errors import ConfigError, InvalidInputError

MS = ["blue", "green", "red", "rededge", "nir"]

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """Two one-thread worker processes on loopback (the `local` scheduler builds the same per run)."""
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as c:
        yield c.scheduler_address


@pytest.fixture
def field(tmp_path, write_tif):
    rng = np.random.default_rng(11)
    h, w = 530, 610  # 5 x 5 tiles of 128 px with ragged edges
    veg = np.clip(np.cumsum(rng.normal(0, 0.08, (h, w)), axis=1) % 1.0, 0, 1)
    soil = np.array([0.12, 0.15, 0.19, 0.21, 0.25])[:, None, None]
    leaf = np.array([0.03, 0.08, 0.04, 0.20, 0.45])[:, None, None]
    bands = (soil * (1 - veg) + leaf * veg + rng.normal(0, 0.004, (5, h, w))).clip(0, 1)
    bands[:, 200:260, 300:340] = -1.0  # a nodata hole across tile borders
    return write_tif(tmp_path / "field.tif", bands.astype(np.float32), descriptions=MS, tiled=True, nodata=-1.0)


def _predict(app, runner, path, out, address=None, progress=False):
    sample = app.read(path, filename=path.name, out=str(out), tile_px=128, zone_px=64)
    with dask_windows.scheduler(address, group_tiles=3, progress=progress):
        return app.predict(sample, runner)


def test_two_workers_write_the_single_process_cover_geotiff(vc_app, tiny_runner, field, tmp_path, cluster, capsys):
    one = _predict(vc_app, tiny_runner, field, tmp_path / "one.tif")
    two = _predict(vc_app, tiny_runner, field, tmp_path / "two.tif", address=cluster, progress=True)
    bar = capsys.readouterr().err
    assert "veg-cover windows (2 workers)" in bar and "25/25" in bar, bar  # 25 tiles in 9 tasks on 2 workers
    with rasterio.open(tmp_path / "one.tif") as a, rasterio.open(tmp_path / "two.tif") as b:
        assert (a.width, a.height, a.count) == (b.width, b.height, b.count) == (610, 530, 2)
        assert a.transform == b.transform and a.crs == b.crs
        for band in (1, 2):
            x, y = a.read(band), b.read(band)
            assert (x == a.nodata).sum() == 60 * 40  # the hole stays nodata
            np.testing.assert_array_equal(x, y)  # bit-identical
    assert np.count_nonzero(np.isfinite(one.cover)) > 0
    d1, d2 = one.to_dict(), two.to_dict()
    d1.pop("outputs", None), d2.pop("outputs", None)
    assert d1 == d2  # zones, flags, means, uncertainty: the same numbers
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()


def test_a_failing_window_is_reported_with_its_place(vc_app, tiny_runner, field, tmp_path, cluster):
    """A corrupt block in the middle of the file (the reader checks only the first and last ones)."""
    with rasterio.open(field) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))  # block row 1, col 1: px 256-511
        size = int(ds.get_tag_item("BLOCK_SIZE_1_1", "TIFF", bidx=1))
    raw = bytearray(field.read_bytes())
    raw[offset:offset + size] = b"\xff" * size
    bad = tmp_path / "bad.tif"
    bad.write_bytes(bytes(raw))
    # uncompressed blocks of 0xff read as valid (huge) floats: the reader refuses values that are not reflectance
    out = tmp_path / "bad_cover.tif"
    with pytest.raises(InvalidInputError) as err:
        _predict(vc_app, tiny_runner, bad, out, address=cluster)
    msg = str(err.value)
    assert msg.startswith("window rows ") and "failed" in msg, msg
    assert not out.exists()  # no half-written cover GeoTIFF


def test_scheduler_arguments_are_checked_before_any_work(vc_app):
    with pytest.raises(InvalidInputError, match="--scheduler must be"):
        with dask_windows.scheduler("localhost:8786"):
            pass
    with pytest.raises(InvalidInputError, match="--workers"):
        with dask_windows.scheduler("local", 0):
            pass
    with dask_windows.scheduler(None):
        assert dask_windows.active_split(vc_app, None, None) is None


def test_apps_that_cannot_split_say_so():
    from edgeinv.common.app import get_app

    bearing = get_app("bearing-wear")
    assert not bearing.splits_windows
    with pytest.raises(ConfigError, match="cannot split"):
        dask_windows.split_windows(bearing, None, None, scheduler="local")


def test_the_device_switcher_travels_as_its_accurate_model(tiny_onnx):
    """A load switcher would mix two models in one map across workers: the split runs its accurate one."""
    import pickle

    from edgeinv.common.runtime.session import OnnxModel
    from edgeinv.common.runtime.switch import ModelSwitcher

    accurate, light = OnnxModel(tiny_onnx), OnnxModel(tiny_onnx, threads=2)
    ref = pickle.loads(pickle.dumps(dask_windows.runner_ref(ModelSwitcher(accurate, light, latency_budget_ms=1.0))))
    assert ref == dask_windows.RunnerRef(str(tiny_onnx), 1)
    assert ref.load().path == accurate.path.resolve()
