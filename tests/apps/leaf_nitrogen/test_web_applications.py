"""A field's record of N applications (issue 11): add/list/delete in JSON and HTML, summed by the advice."""

from __future__ import annotations

import pytest

from tests.apps.leaf_nitrogen.test_web import FakeRunner, _csv

BASE = "/leaf-nitrogen"


@pytest.fixture
def use_runner(app):
    app.extensions["edgeinv"].runner = lambda a, config: FakeRunner(1.6)


def _field(client, **settings):
    body = {"name": "North", "crop_stage": "maize/V6", "reference_n_g_m2": 2.0, **settings}
    return client.post(f"{BASE}/api/entities", json=body).get_json()["id"]


def _advice(client, fid, when="2026-06-01"):
    r = client.post(f"{BASE}/api/entities/{fid}/uploads?measured_at={when}", data=_csv(),
                    headers={"Content-Type": "text/csv", "X-Filename": "n.csv"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["summary"]


def test_applications_are_recorded_and_summed_by_the_advice(client, use_runner):
    fid = _field(client, n_applied_kg_ha=40)
    without = _advice(client, fid)  # no applications recorded: the single setting (40 kg/ha) counts
    assert without["field"]["n_applied_kg_ha"] == 40 and without["field"]["n_applied_source"] == "field setting"
    r = client.post(f"{BASE}/api/entities/{fid}/applications", json={"date": "2026-04-10", "kg_n_ha": 60, "product": "CAN 27 %"})
    assert r.status_code == 201 and r.get_json()["added"]["id"] == 1
    r = client.post(f"{BASE}/entities/{fid}/applications", data={"date": "2026-05-01", "kg_n_ha": "40", "product": "UAN"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/entities/{fid}#applications")
    client.post(f"{BASE}/api/entities/{fid}/applications", json={"date": "2026-06-20", "kg_n_ha": 50})  # after the measurement
    doc = client.get(f"{BASE}/api/entities/{fid}/applications").get_json()
    assert [(a["date"], a["kg_n_ha"], a["product"]) for a in doc["applications"]] == [
        ("2026-04-10", 60, "CAN 27 %"), ("2026-05-01", 40, "UAN"), ("2026-06-20", 50, "")]
    page = client.get(f"{BASE}/entities/{fid}").get_data(as_text=True)
    assert 'id="applications-table"' in page and 'id="applications-total">150<' in page and "CAN 27 %" in page
    assert 'id="application-form"' in page
    with_apps = _advice(client, fid)  # measured 2026-06-01: 60 + 40 counted, the 20 June dressing not yet
    assert with_apps["field"]["n_applied_kg_ha"] == 100 and len(with_apps["field"]["n_applications"]) == 2
    assert any("sum of 2 recorded application(s)" in a for a in with_apps["advice"]["assumptions"])
    same = _advice(client, _field(client, name="Twin", n_applied_kg_ha=100))  # the same N as a single number
    assert with_apps["advice"]["rate_kg_ha"] == same["advice"]["rate_kg_ha"] < without["advice"]["rate_kg_ha"]
    r = client.post(f"{BASE}/entities/{fid}/applications/2/delete")
    assert r.status_code == 302
    r = client.delete(f"{BASE}/api/entities/{fid}/applications/1")
    assert r.status_code == 200 and [a["id"] for a in r.get_json()["applications"]] == [3]
    assert client.delete(f"{BASE}/api/entities/{fid}/applications/1").status_code == 404
    assert _advice(client, fid)["field"]["n_applied_kg_ha"] == 0  # only a later dressing left: none counted
    client.patch(f"{BASE}/api/entities/{fid}", json={"n_applied_kg_ha": 30})  # editing settings keeps the record
    assert len(client.get(f"{BASE}/api/entities/{fid}/applications").get_json()["applications"]) == 1


@pytest.mark.parametrize("body, msg", [({"date": "soon", "kg_n_ha": 50}, "date must be a date"),
                                       ({"date": "2026-04-01", "kg_n_ha": 500}, "kg_n_ha must be > 0 and <= 400"),
                                       ({"date": "2026-04-01", "kg_n_ha": "lots"}, "kg_n_ha must be a number"),
                                       ({"date": "2026-04-01", "kg_n_ha": 0}, "kg_n_ha must be > 0")])
def test_bad_applications_are_clear_errors(client, body, msg):
    fid = _field(client)
    r = client.post(f"{BASE}/api/entities/{fid}/applications", json=body)
    assert r.status_code == 400 and msg in r.get_json()["message"]
    assert client.get(f"{BASE}/api/entities/{fid}/applications").get_json()["applications"] == []
    assert client.get(f"{BASE}/api/entities/999/applications").status_code == 404
