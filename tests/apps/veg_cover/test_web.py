"""Web UI and JSON API with the shipped models: flights, upload, overlay, zones, downloads, history, errors."""

import io
import json

import numpy as np
import pytest

MS = ["blue", "green", "red", "rededge", "nir"]


@pytest.fixture
def field_tif(tmp_path, write_tif, ms_bands):
    return write_tif(tmp_path / "field.tif", np.tile(ms_bands, (1, 4, 4)), descriptions=MS).read_bytes()


def _flight(client, **data):
    r = client.post("/veg-cover/api/entities", json={"name": "North field", **data})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_api_upload_gives_cover_zones_and_mission(client, field_tif):
    fid = _flight(client, zone_m=2.0, target_gsd_cm=1.0)
    r = client.post(f"/veg-cover/api/entities/{fid}/uploads?filename=field.tif", data=field_tif,
                    content_type="application/octet-stream")
    assert r.status_code == 201, r.get_json()
    doc = r.get_json()
    s = doc["summary"]
    assert 0 <= s["fvc_mean"] <= 1 and s["pixels"] == 160 * 192 and s["config"] == "multispectral5"
    assert s["georeferenced"] and s["n_zones"] == len(s["zones"]) > 1 and s["n_flagged"] >= 1
    left = [z for z in s["zones"] if z["col"] == 0]
    assert all("low_cover" in z["flags"] for z in left)  # the soil strip on the left
    assert s["mission"]["n_waypoints"] >= 1 and s["mission"]["gsd_cm"] == pytest.approx(1.0)
    assert set(doc["files"]) == {"overlay.png", "image.png", "cover.tif", "mission.plan", "mission.geojson"}
    plan = client.get(doc["files"]["mission.plan"])
    assert plan.status_code == 200 and json.loads(plan.data)["fileType"] == "Plan"
    assert "attachment" in plan.headers["Content-Disposition"]
    png = client.get(doc["files"]["overlay.png"])
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n" and png.mimetype == "image/png"
    from rasterio.io import MemoryFile

    with MemoryFile(client.get(doc["files"]["cover.tif"]).data) as mf, mf.open() as ds:
        assert ds.crs.to_epsg() == 32631 and ds.count == 2 and ds.dtypes[0] == "uint8"
        assert ds.scales == (0.004, 0.004) and ds.nodata == 255
    hist = client.get(f"/veg-cover/api/entities/{fid}").get_json()["history"]
    assert len(hist) == 1 and hist[0]["fvc_mean"] == pytest.approx(s["fvc_mean"])


def test_html_flow_upload_result_history(client, field_tif):
    r = client.post("/veg-cover/entities", data={"name": "Trial plot", "zone_m": "2"})
    assert r.status_code == 302
    flight_url = r.headers["Location"]
    page = client.get(flight_url)
    assert page.status_code == 200 and b"Upload an image" in page.data
    fid = int(flight_url.rstrip("/").rsplit("/", 1)[1])
    for _ in range(2):
        r = client.post(f"/veg-cover/entities/{fid}/uploads", data={"file": (io.BytesIO(field_tif), "field.tif")},
                        content_type="multipart/form-data")
        assert r.status_code == 302
    res = client.get(r.headers["Location"])
    html = res.data.decode()
    assert res.status_code == 200 and 'id="overlay"' in html and "download-plan" in html and "zones-table" in html
    hist = client.get(flight_url).data.decode()
    assert "history-table" in hist and "<svg" in hist
    assert "Trial plot" in client.get("/veg-cover/").data.decode()


def test_frame_without_coordinates_gets_no_mission(client):
    import cv2

    img = np.zeros((64, 64, 3), np.uint8)
    img[:, 32:] = (60, 140, 50)
    img[:, :32] = (150, 120, 90)
    png = cv2.imencode(".png", img[..., ::-1])[1].tobytes()
    fid = _flight(client)
    r = client.post(f"/veg-cover/api/entities/{fid}/uploads", data={"file": (io.BytesIO(png), "frame.png")},
                    content_type="multipart/form-data")
    assert r.status_code == 201
    s = r.get_json()["summary"]
    # a frame of unknown GSD goes to the segmentation path: half the frame is leaf-green
    assert s["config"] == "rgb_fine" and s["path"] == "segment" and abs(s["fvc_mean"] - 0.5) < 0.05
    assert s["mission"] is None and "map coordinates" in s["mission_note"]
    assert "mission.plan" not in r.get_json()["files"]


@pytest.mark.parametrize("payload,status", [(b"", 400), (b"not an image at all", 415)])
def test_bad_uploads_are_clear_json_errors(client, payload, status):
    fid = _flight(client)
    r = client.post(f"/veg-cover/api/entities/{fid}/uploads?filename=x.tif", data=payload,
                    content_type="application/octet-stream")
    assert r.status_code == status and r.get_json()["message"]


def test_bad_settings_and_missing_things(client):
    assert client.post("/veg-cover/api/entities", json={"name": ""}).status_code == 400
    r = client.post("/veg-cover/api/entities", json={"name": "x", "camera": "thermal"})
    assert r.status_code == 400 and "camera" in r.get_json()["message"]
    assert client.post("/veg-cover/api/entities", json={"name": "x", "low_cover": 3}).status_code == 400
    assert client.get("/veg-cover/api/entities/999").status_code == 404
    assert client.get("/veg-cover/api/results/999").status_code == 404
    fid = _flight(client)
    assert client.get(f"/veg-cover/entities/{fid}").status_code == 200
    assert client.get("/veg-cover/results/12345/files/overlay.png").status_code == 404


def test_result_page_of_a_frame_shows_path_interval_and_confidence(client):
    import cv2

    rng = np.random.default_rng(0)
    img = np.full((96, 128, 3), (150, 110, 80), np.uint8) + rng.integers(0, 6, (96, 128, 3)).astype(np.uint8)
    for _ in range(12):
        cv2.circle(img, (int(rng.integers(0, 128)), int(rng.integers(0, 96))), 6, (70, 150, 50), -1)  # RGB leaves
    png = cv2.imencode(".png", img[..., ::-1])[1].tobytes()
    fid = _flight(client)
    r = client.post(f"/veg-cover/api/entities/{fid}/uploads", data={"file": (io.BytesIO(png), "leaves.png")},
                    content_type="multipart/form-data")
    assert r.status_code == 201
    rid = r.get_json()["id"]
    html = client.get(f"/veg-cover/results/{rid}").get_data(as_text=True)
    assert 'id="fvc-interval"' in html and "segmentation" in html and "uncalibrated camera counts" in html
