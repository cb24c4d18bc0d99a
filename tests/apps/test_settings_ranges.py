"""Every numeric setting has a physical range, checked on the server (issue 11 bug 4).

Absurd values (an N-to-protein factor of 1e308, 1e12 kg N/ha applied, a reference strip of 99 999 g/m²)
used to be saved and then showed results of 0.00. Each is refused with HTTP 400 and a message that
names the field, the range and the value, on create and on edit, and nothing is saved.
"""

from __future__ import annotations

import pytest

from edgeinv.common.config import load_settings
from edgeinv.common.web import create_app

VALID = {"bearing-wear": {"name": "pump", "rpm": 1797},
         "leaf-nitrogen": {"name": "north", "crop_stage": "wheat/stem_elongation"},
         "veg-cover": {"name": "june"}}
ABSURD = [
    ("leaf-nitrogen", "n_to_protein", 1e308, "between 2 and 8"),
    ("leaf-nitrogen", "n_applied_kg_ha", 1e12, "between 0 and 600 kg/ha"),
    ("leaf-nitrogen", "reference_n_g_m2", 99999, "between 0.2 and 6 g/m²"),
    ("leaf-nitrogen", "n_opt_kg_ha", -5, "between 0 and 600 kg/ha"),
    ("leaf-nitrogen", "field_area_ha", 0, "between 0.01 and 10000 ha"),
    ("bearing-wear", "rpm", 1e9, "between 30 and 30000 rpm"),
    ("bearing-wear", "fs_hz", 10, "Hz"),
    ("bearing-wear", "threshold_mm", 500, "between 0.05 and 10 mm"),
    ("veg-cover", "zone_m", 1e9, "between 0.1 and 1000 m"),
    ("veg-cover", "low_cover", 5, "between 0 and 1"),
    ("veg-cover", "target_gsd_cm", 1e6, "between 0.05 and 100 cm"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ranges")
    return create_app(load_settings(env={}, data_dir=tmp / "data", models_dir=tmp / "models")).test_client()


@pytest.mark.parametrize("app, key, value, rule", ABSURD)
def test_absurd_setting_is_refused_naming_field_range_and_value(client, app, key, value, rule):
    r = client.post(f"/{app}/api/entities", json={**VALID[app], key: value})
    assert r.status_code == 400, r.get_json()
    msg = r.get_json()["message"]
    assert key in msg and rule in msg and float(msg.rsplit("got ", 1)[1].strip("'")) == value
    # the same on edit, and the stored setting stays as it was
    r = client.post(f"/{app}/api/entities", json=VALID[app])
    assert r.status_code == 201
    eid = r.get_json()["id"]
    before = r.get_json()["settings"].get(key)
    r = client.patch(f"/{app}/api/entities/{eid}", json={key: value})
    assert r.status_code == 400 and key in r.get_json()["message"]
    assert client.get(f"/{app}/api/entities/{eid}").get_json()["settings"].get(key) == before


def test_every_numeric_setting_has_a_range(client):
    for app in VALID:
        schema = client.get(f"/{app}/api/schema").get_json()
        for spec in schema["settings"]:
            if spec["kind"] in ("number", "int"):
                assert spec["low"] is not None and spec["high"] is not None, (app, spec["name"])
