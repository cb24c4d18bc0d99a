"""Advice as the pages and the API show it (issue 11 bugs 1-3), with the stand-in runner of test_web."""

from __future__ import annotations

import io as _io

from tests.apps.leaf_nitrogen.test_web import FakeRunner, _csv


def _upload(client, fid, *, reference=False, n=12):
    q = "?reference=1" if reference else ""
    r = client.post(f"/leaf-nitrogen/api/entities/{fid}/uploads{q}", data={"file": (_io.BytesIO(_csv(n)), "f.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _use(app, runner):
    app.extensions["edgeinv"].runner = lambda a, config: runner


def test_reference_upload_is_the_reference_in_result_and_history(app, client):
    # bug 2: the strip's own upload said "no reference strip: judged against a tabulated range" and its
    # history row "No application needed"
    _use(app, FakeRunner(2.2))
    fid = client.post("/leaf-nitrogen/api/entities", json={"name": "W", "crop_stage": "wheat/stem_elongation"}).get_json()["id"]
    res = _upload(client, fid, reference=True)
    adv = res["summary"]["advice"]
    assert adv["status"] == "reference" and adv["method"] == "reference_strip"
    assert not any("no reference strip" in m for m in adv["messages"])
    html = client.get(f"/leaf-nitrogen/results/{res['id']}").get_data(as_text=True)
    assert "Reference strip measured" in html and "no reference strip" not in html
    hist = client.get(f"/leaf-nitrogen/entities/{fid}").get_data(as_text=True)
    assert "No application needed" not in hist and "Reference strip measured" in hist


def test_spent_budget_large_deficit_is_said_on_the_page(app, client):
    # bug 1: wheat, stem elongation, reference strip 2.0 g/m2, 200 kg N/ha applied > 180 planned, low-N leaves
    _use(app, FakeRunner(0.572))
    fid = client.post("/leaf-nitrogen/api/entities", json={"name": "W", "crop_stage": "wheat/stem_elongation",
                                                           "reference_n_g_m2": 2.0, "n_applied_kg_ha": 200}).get_json()["id"]
    res = _upload(client, fid)
    adv = res["summary"]["advice"]
    assert adv["status"] == "budget_spent" and adv["sufficiency_index"] < 0.3
    html = client.get(f"/leaf-nitrogen/results/{res['id']}").get_data(as_text=True)
    assert "budget is spent" in html and "too small to act on" not in html and 'class="alarm bad"' in html


def test_borderline_headline_is_not_green(app, client):
    # bug 3: 1.96 vs 2.0 g/m2 with three leaves: the interval spans 0.95 -> the headline says so, amber
    _use(app, FakeRunner(1.96))
    fid = client.post("/leaf-nitrogen/api/entities", json={"name": "W", "crop_stage": "maize/V6",
                                                           "reference_n_g_m2": 2.0}).get_json()["id"]
    res = _upload(client, fid, n=3)
    adv = res["summary"]["advice"]
    assert adv["borderline"] and adv["headline"].startswith("Borderline")
    html = client.get(f"/leaf-nitrogen/results/{res['id']}").get_data(as_text=True)
    assert 'class="alarm warn" id="advice-headline">Borderline' in html
