"""`edgeinv veg-cover simulate | predict | plan` end to end with the shipped models."""

import json

import numpy as np
import pytest
import rasterio

from edgeinv.common.cli import main

MS = ["blue", "green", "red", "rededge", "nir"]


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def field(tmp_path, write_tif, ms_bands):
    return write_tif(tmp_path / "field.tif", np.tile(ms_bands, (1, 4, 4)), descriptions=MS)


def test_simulate_writes_a_georeferenced_example(capsys, tmp_path):
    pytest.importorskip("prosail")
    out = tmp_path / "sim.tif"
    code, stdout, _ = _run(capsys, "veg-cover", "simulate", "--out", str(out), "--camera", "red_nir", "--gsd-cm",
                           "3", "--size", "64", "--truth", "--json")
    assert code == 0
    info = json.loads(stdout)["written"][0]
    assert info["camera"] == "red_nir" and info["gsd_m"] == pytest.approx(0.03)
    with rasterio.open(out) as ds:
        assert ds.descriptions == ("red", "nir") and ds.crs.to_epsg() == 32631 and ds.res == (0.03, 0.03)
    assert (tmp_path / "sim_truth.tif").is_file()


def test_predict_json_and_cover_file(capsys, field, tmp_path):
    out = tmp_path / "c.tif"
    code, stdout, stderr = _run(capsys, "veg-cover", "predict", str(field), "--out", str(out), "--zone-m", "2",
                                "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert 0 <= doc["fvc_mean"] <= 1 and doc["pixels"] == 160 * 192 and doc["zones"]
    assert {"fvc_mean", "flags", "bounds"} <= set(doc["zones"][0])
    assert doc["outputs"]["cover_geotiff"] == str(out) and out.is_file() and out.with_suffix(".png").is_file()


def test_predict_writes_nothing_without_out(capsys, field):
    before = sorted(field.parent.iterdir())
    code, stdout, _ = _run(capsys, "veg-cover", "predict", str(field))
    assert code == 0 and "mean vegetation cover" in stdout
    assert sorted(field.parent.iterdir()) == before  # the input's folder is left alone


def test_predict_errors_are_one_line(capsys, field, tmp_path):
    code, _, stderr = _run(capsys, "veg-cover", "predict", str(field), "--bands", "red,nir")
    assert code == 2 and stderr.startswith("error:") and "has 5 band" in stderr and "Traceback" not in stderr
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage")
    code, _, stderr = _run(capsys, "veg-cover", "predict", str(bad))
    assert code == 2 and "GeoTIFF" in stderr


def test_plan_writes_qgroundcontrol_and_geojson(capsys, field, tmp_path):
    plan = tmp_path / "resurvey.plan"
    code, stdout, stderr = _run(capsys, "veg-cover", "plan", str(field), "--zone-m", "2", "--target-gsd-cm", "0.5",
                                "--out", str(plan), "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert doc["mission"]["n_waypoints"] >= 1 and doc["mission"]["gsd_cm"] == pytest.approx(0.5, abs=0.2)
    assert json.loads(plan.read_text())["fileType"] == "Plan"
    assert json.loads(plan.with_suffix(".geojson").read_text())["type"] == "FeatureCollection"


def test_plan_watch_once(capsys, field, tmp_path):
    folder = field.parent
    code, stdout, stderr = _run(capsys, "veg-cover", "plan", "--watch", str(folder), "--once", "--zone-m", "2",
                                "--out", str(tmp_path / "w.plan"), "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert doc["processed"] == ["field.tif"] and doc["mission"]["n_waypoints"] >= 1


def test_plan_refuses_frames_without_coordinates(capsys, tmp_path):
    import cv2

    frame = tmp_path / "f.png"
    cv2.imwrite(str(frame), np.full((32, 32, 3), 120, np.uint8))
    code, _, stderr = _run(capsys, "veg-cover", "plan", str(frame), "--out", str(tmp_path / "x.plan"))
    assert code == 2 and "georeferenced" in stderr
