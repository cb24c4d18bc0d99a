"""The leaf-nitrogen blueprint through Flask's test client (a stand-in runner replaces the ONNX model)."""

from __future__ import annotations

import io as _io

import numpy as np
import pytest

from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.physics import prospect_pro, protein_from_nitrogen_g_cm2

WL = np.arange(400, 2501, 2)


def _csv(n_leaves=3, cab=35.0):
    cols = []
    for i in range(n_leaves):
        _, r, _ = prospect_pro(n_struct=1.5 + 0.1 * i, chlorophyll_ug_cm2=cab + 5 * i, carotenoid_ug_cm2=8,
                               ewt_g_cm2=0.014, protein_g_cm2=0.0008, cbc_g_cm2=0.004, wavelength_nm=WL)
        cols.append(r)
    head = "wavelength," + ",".join(f"leaf{i + 1}" for i in range(n_leaves))
    rows = [f"{w}," + ",".join(f"{c[j]:.6f}" for c in cols) for j, w in enumerate(WL)]
    return ("\n".join([head, *rows]) + "\n").encode()


class FakeRunner:
    """Returns fixed physical outputs (N = ``n_g_m2``) for every row, like an exported model would."""

    def __init__(self, n_g_m2):
        self.n_g_m2 = n_g_m2
        self.calls = []

    def __call__(self, x):
        self.calls.append(x.shape)
        n = len(x)
        prot = float(protein_from_nitrogen_g_cm2(nitrogen_g_m2=self.n_g_m2))
        vals = {"protein_g_cm2": prot, "protein_g_cm2_std": prot * 0.05, "chlorophyll_ug_cm2": 38.0,
                "chlorophyll_ug_cm2_std": 1.0, "ewt_g_cm2": 0.014, "ewt_g_cm2_std": 3e-4, "lma_g_cm2": 0.0048,
                "lma_g_cm2_std": 1e-4, "structure_n": 1.55, "carotenoid_ug_cm2": 8.0}
        return {k: np.full(n, v, dtype=np.float32) for k, v in vals.items()}


@pytest.fixture
def fake(app):
    runner = FakeRunner(1.6)
    ctx = app.extensions["edgeinv"]
    ctx.runner = lambda a, config: runner
    return runner


def test_browser_flow_field_upload_result_history(client, fake):
    assert client.get("/leaf-nitrogen/").status_code == 200
    r = client.post("/leaf-nitrogen/entities", data={"name": "North", "crop_stage": "maize/V6",
                                                    "reference_n_g_m2": "2.0", "n_applied_kg_ha": "40"})
    assert r.status_code == 302
    field_url = r.headers["Location"]
    page = client.get(field_url).get_data(as_text=True)
    assert "North" in page and 'id="setting-reference_n_g_m2">2.0 g/m²' in page and "analysed yet" in page
    r = client.post(field_url + "/uploads", data={"file": (_io.BytesIO(_csv()), "north.csv"), "stage": "V6"},
                    content_type="multipart/form-data")
    assert r.status_code == 302 and "/results/" in r.headers["Location"]
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    # NSI 1.6 / 2.0 = 0.8 -> 140 kg/ha remaining * sqrt(0.2 / 0.3) = 114 -> 115 kg N/ha
    assert "Top-dress 115 kg N/ha" in html and "<svg" in html and "PROSPECT-PRO" in html
    assert html.count("<tr>") >= 3 and "leaf3" in html
    assert fake.calls == [(3, APP.input_shape("full")[0])]  # one batch for the whole file
    hist = client.get(field_url).get_data(as_text=True)
    assert "Top-dress 115 kg N/ha" in hist and "0.800" in hist


def test_api_reference_strip_then_field(client, fake):
    r = client.post("/leaf-nitrogen/api/entities", json={"name": "South", "crop": "wheat", "stage": "tillering"})
    assert r.status_code == 201
    fid = r.get_json()["id"]
    fake.n_g_m2 = 2.0
    r = client.post(f"/leaf-nitrogen/api/entities/{fid}/uploads?reference=1", data=_csv(4),
                    headers={"Content-Type": "text/csv", "X-Filename": "strip.csv"})
    assert r.status_code == 201
    res = r.get_json()
    assert res["summary"]["is_reference"] and res["summary"]["n_leaves"] == 4
    assert client.get(f"/leaf-nitrogen/api/entities/{fid}").get_json()["settings"]["reference_n_g_m2"] == pytest.approx(2.0, rel=1e-3)
    fake.n_g_m2 = 1.96
    r = client.post(f"/leaf-nitrogen/api/entities/{fid}/uploads", data={"file": (_io.BytesIO(_csv(3)), "f.csv")},
                    content_type="multipart/form-data")
    adv = r.get_json()["summary"]["advice"]
    assert adv["status"] == "sufficient" and adv["rate_kg_ha"] == 0 and adv["sufficiency_index"] == pytest.approx(0.98, abs=1e-3)
    leaf = r.get_json()["summary"]["leaves"][0]
    assert leaf["nitrogen_g_m2"] == pytest.approx(1.96, rel=1e-4) and leaf["nitrogen_g_m2_std"] > 0
    hist = client.get(f"/leaf-nitrogen/api/entities/{fid}/history").get_json()["rows"]
    assert [h["is_reference"] for h in hist] == [True, False]
    rid = hist[-1]["id"]
    assert leaf["parameters"]["n_to_protein"] == {"value": 4.43, "source": "entity default"}
    assert client.get(f"/leaf-nitrogen/api/results/{rid}").get_json()["id"] == rid
    assert "maize" in client.get("/leaf-nitrogen/api/crops").get_json()


def test_api_errors_are_json(client, fake):
    fid = client.post("/leaf-nitrogen/api/entities", json={"name": "E", "crop": "maize", "stage": "V6"}).get_json()["id"]
    r = client.post(f"/leaf-nitrogen/api/entities/{fid}/uploads", data=b"wavelength,leaf\n400,0.1\n401,abc\n",
                    headers={"Content-Type": "text/csv"})
    assert r.status_code == 400 and "not a number" in r.get_json()["message"]
    r = client.post(f"/leaf-nitrogen/api/entities/{fid}/uploads", data=b"",
                    headers={"Content-Type": "text/csv"})
    assert r.status_code == 400
    assert client.get("/leaf-nitrogen/api/entities/9999").status_code == 404
    r = client.post("/leaf-nitrogen/api/entities", json={"name": "X", "crop": "banana", "stage": "V6"})
    assert r.status_code == 400 and "crop must be one of" in r.get_json()["message"]
    r = client.post(f"/leaf-nitrogen/api/entities/{fid}", json={"reference_n_g_m2": "lots"})
    assert r.status_code == 400
    wl = np.arange(500, 1001)
    narrow = ("wavelength,a\n" + "\n".join(f"{w},0.3" for w in wl)).encode()
    r = client.post(f"/leaf-nitrogen/api/entities/{fid}/uploads", data=narrow, headers={"Content-Type": "text/csv"})
    assert r.status_code == 400 and "no model supports" in r.get_json()["message"]


def test_settings_update_from_the_page(client, fake):
    r = client.post("/leaf-nitrogen/entities", data={"name": "W", "crop_stage": "rice/tillering"})
    url = r.headers["Location"]
    r = client.post(url, data={"crop_stage": "rice/panicle_initiation", "reference_n_g_m2": "1.8",
                               "n_applied_kg_ha": "30", "n_opt_kg_ha": "", "n_to_protein": "5.0"})
    assert r.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "Panicle initiation" in page and "1.8 g/m²" in page and 'value="5.0"' in page


def test_a_gateway_reference_strip_becomes_the_fields_reference(client, fake, settings):
    """MQTT/batch store what an upload stores, and apply the same settings update (the reference strip)."""
    from edgeinv.common.ingest.analyse import analyse, apply_update, reader_meta
    from edgeinv.common.web.store import Store

    r = client.post("/leaf-nitrogen/api/entities", json={"name": "Gw", "crop": "wheat", "stage": "tillering"})
    fid = r.get_json()["id"]
    store = Store(settings.db_path)
    field = store.get_entity(fid)
    fake.n_g_m2 = 2.2
    updates: list = []
    summary, blobs = analyse(APP, _csv(2), filename="strip.csv", meta=reader_meta(APP, {"reference": "1"}),
                             runner_for=lambda config: fake, entity=field, updates=updates)
    assert summary["is_reference"] and summary["advice"] and set(blobs) >= {"spectra.json"}
    assert summary["leaves"][0]["parameters"]["n_to_protein"]["source"] == "entity default"
    apply_update(store, fid, updates[0])
    assert store.get_entity(fid)["data"]["reference_n_g_m2"] == pytest.approx(2.2, rel=1e-3)
    with pytest.raises(Exception, match="n_to_protein must be between 2 and 8"):
        reader_meta(APP, {"n-to-protein": "40"})
