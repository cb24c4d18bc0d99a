"""The core large-image bench (`edgeinv veg-cover bench-large`) on small rasters: figures present, Dask split agrees."""

import numpy as np
import pytest

from edgeinv.common.config import load_settings
from edgeinv.common.errors import ConfigError, InvalidInputError
from edgeinv.common.runtime import largebench


@pytest.fixture(scope="module")
def settings(vc_app):
    s = load_settings(env={})
    if not (vc_app.models_dir(s) / "manifest.json").is_file():
        pytest.fail("models/veg_cover/manifest.json is missing: run `make models`")
    return s


def _quick_orthomosaic(path, *, size, rng):
    """A fast stand-in for the app's simulated orthomosaic (same format: 5-band uint16 x 10,000, tiled)."""
    import time

    import rasterio
    from affine import Affine

    soil = np.array([0.12, 0.15, 0.19, 0.21, 0.25])[:, None, None]
    leaf = np.array([0.03, 0.08, 0.04, 0.20, 0.45])[:, None, None]
    veg = rng.random((size, size)) ** 2
    bands = np.round((soil * (1 - veg) + leaf * veg) * 10_000).astype(np.uint16)
    t0 = time.perf_counter()
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=5, dtype="uint16", tiled=True,
                       blockxsize=256, blockysize=256, crs="EPSG:32631",
                       transform=Affine(0.05, 0, 680000.0, 0, -0.05, 5762000.0)) as ds:
        ds.write(bands)
        ds.scales = (1e-4,) * 5
        for i, b in enumerate(("blue", "green", "red", "rededge", "nir"), start=1):
            ds.set_band_description(i, b)
    return {"file_mb": round(path.stat().st_size / 2**20, 1), "write_seconds": round(time.perf_counter() - t0, 1)}


def test_bench_large_reports_throughput_memory_and_a_dask_split(vc_app, settings, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(vc_app, "write_large_example", _quick_orthomosaic)  # the harness is what is tested here
    rep = largebench.run(vc_app, settings, size=512, small=256, tile_px=128, work_dir=tmp_path, keep=True,
                         scheduler="local", workers=[2])
    runs = rep["runs"]
    assert [(r["size_px"], r["workers"]) for r in runs] == [(256, None), (512, None), (512, 2)]
    for r in runs:
        assert r["seconds"] > 0 and r["mp_per_s"] > 0 and r["peak_rss_mb"] > r["rss_before_model_mb"] > 0
        assert r["cpu_seconds"] > 0 and r["mp_per_cpu_s"] > 0
        assert r["output_mb"] and r["zones"] >= 1
        assert 0 < r["main_thread_cpu_s"] <= r["cpu_seconds"] + 0.01 and r["cores_used"] > 0
        here = {"write", "zones", "other"} | ({"read", "model"} if not r["workers"] else set())  # Dask: caller's
        assert here <= set(r["stage_share"])  # the app's stages, in --json too
        assert sum(r["stage_share"].values()) == pytest.approx(1.0, abs=0.01)
    assert len(runs[2]["worker_peak_rss_mb"]) == 2 and runs[2]["cluster_start_s"] > 0
    assert rep["split"]["same_result_as_one_process"] is True
    assert runs[2]["fvc_mean"] == runs[1]["fvc_mean"]
    assert "2 worker(s)" in rep["text"] and "peak RSS" in rep["text"] and "MP/CPU-s" in rep["text"]
    assert "CPU shares: " in rep["text"] and "main CPU s" in rep["text"]
    assert sorted(p.name for p in tmp_path.glob("large_*.tif"))[:2] == ["large_256.tif", "large_256_out.tif"]


def test_bench_large_arguments(vc_app, settings):
    assert largebench.parse_workers("1,2,4") == [1, 2, 4]
    for bad in ("0", "a,b", ","):
        with pytest.raises(InvalidInputError):
            largebench.parse_workers(bad)
    with pytest.raises(ConfigError):
        largebench.run(vc_app, settings, size=300, small=400)
    with pytest.raises(InvalidInputError, match="LocalCluster"):
        largebench.run(vc_app, settings, size=512, small=256, scheduler="tcp://127.0.0.1:1")


def test_apps_without_a_large_raster_say_so(tmp_path):
    from edgeinv.common.app import get_app

    with pytest.raises(InvalidInputError, match="no large-image bench"):
        get_app("bearing-wear").write_large_example(tmp_path / "x.wav", size=10, rng=np.random.default_rng(0))


def test_stage_times_split_the_predict_call_and_leave_the_code_as_it_was(settings, tmp_path):
    from edgeinv.apps.veg_cover import bench_large, features, interpret, outputs

    before = (features.channels, interpret.ZoneGrid.add, outputs.CoverGeoTiff.write)
    _quick_orthomosaic(tmp_path / "r.tif", size=384, rng=np.random.default_rng(1))
    row = bench_large.stage_times(str(tmp_path / "r.tif"), str(tmp_path / "out.tif"), io_threads=1)
    stages = row["stages_cpu_s"]
    assert {"read", "features", "model", "zones", "write", "overviews", "overlay", "other"} <= set(stages)
    assert all(v >= 0 for v in stages.values()) and stages["model"] > 0 and stages["read"] > 0
    assert sum(stages.values()) == pytest.approx(row["predict_cpu_s"], abs=0.01)
    assert sum(row["stage_share"].values()) == pytest.approx(1.0, abs=0.01)
    assert (features.channels, interpret.ZoneGrid.add, outputs.CoverGeoTiff.write) == before


def test_shipped_variants_are_timed_on_the_predict_tile(settings):
    from edgeinv.apps.veg_cover import shape_bench

    rows = shape_bench.shipped("multispectral5", reps=1, tile=48)
    assert {"student_int8", "teacher_fp32"} <= set(rows)
    assert rows["teacher_fp32"]["x_teacher_fp32"] == 1.0 and all(r["ms"] > 0 for r in rows.values())
