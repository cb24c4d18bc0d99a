"""leaf-nitrogen uploads carry their measurement date and location (issue 11): stored, shown, in the history/CSV."""

from __future__ import annotations

import io as _io

import pytest

from tests.apps.leaf_nitrogen.test_web import FakeRunner, _csv


@pytest.fixture
def fid(app, client):
    app.extensions["edgeinv"].runner = lambda a, config: FakeRunner(1.8)
    r = client.post("/leaf-nitrogen/api/entities", json={"name": "North", "crop_stage": "maize/V6"})
    return r.get_json()["id"]


def test_browser_upload_with_date_and_location(client, fid):
    page = client.get(f"/leaf-nitrogen/entities/{fid}").get_data(as_text=True)
    assert 'id="upload-measured_at"' in page and 'id="upload-location"' in page
    r = client.post(f"/leaf-nitrogen/entities/{fid}/uploads",
                    data={"file": (_io.BytesIO(_csv()), "n.csv"), "stage": "V6", "measured_at": "2026-05-03T09:30",
                          "location": "52.0907, 5.1214"}, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "measured 2026-05-03 09:30 UTC" in html and '<span id="location">at 52.090700, 5.121400</span>' in html
    r = client.post(f"/leaf-nitrogen/api/entities/{fid}/uploads?measured_at=2026-05-20&location=west%20headland",
                    data=_csv(), headers={"Content-Type": "text/csv", "X-Filename": "w.csv"})
    assert r.status_code == 201
    assert r.get_json()["summary"]["location"] == {"text": "west headland"}
    rid = r.get_json()["id"]
    got = client.get(f"/leaf-nitrogen/api/results/{rid}").get_json()
    assert got["measured_at"] == "2026-05-20T00:00:00+00:00"
    rows = client.get(f"/leaf-nitrogen/api/entities/{fid}/history").get_json()["rows"]
    assert [(r["measured_at"][:10], r["location"]) for r in rows] == [("2026-05-03", "52.090700, 5.121400"),
                                                                       ("2026-05-20", "west headland")]
    csv = client.get(f"/leaf-nitrogen/api/entities/{fid}/history.csv").get_data(as_text=True).splitlines()
    assert ",Stage,Location," in csv[0] and ',V6,"52.090700, 5.121400",' in csv[1]
    assert "2026-05-20" in csv[2] and ",V6,west headland," in csv[2]
    hist = client.get(f"/leaf-nitrogen/entities/{fid}").get_data(as_text=True)
    assert "west headland" in hist and "2026-05-03 09:30" in hist


@pytest.mark.parametrize("loc, msg", [("91, 5", "out of range"), ("x" * 201, "at most 200")])
def test_bad_location_is_a_clear_error(client, fid, loc, msg):
    r = client.post(f"/leaf-nitrogen/api/entities/{fid}/uploads", query_string={"location": loc},
                    data=_csv(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 400 and msg in r.get_json()["message"]
    assert client.get(f"/leaf-nitrogen/api/entities/{fid}/history").get_json()["rows"] == []
