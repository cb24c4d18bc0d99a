"""Browser test of veg-cover: create a flight, upload a georeferenced image, see the map, download the mission."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scene_tif(tmp_path_factory):
    pytest.importorskip("prosail")
    from edgeinv.common.app import get_app

    path = tmp_path_factory.mktemp("vc") / "north_field.tif"
    get_app("veg-cover").write_example(path, np.random.default_rng(11), camera="multispectral5", gsd_cm=2.0,
                                       size=192, layout="rows")
    return path


def test_upload_map_and_plan_download(page, live_server, scene_tif, new_entity):
    # low_cover 0.95 flags (nearly) every zone so the mission is never empty
    new_entity("veg-cover", "North field, June", ("#zone_m", "1"), ("#low_cover", "0.95"))
    assert page.locator("h1").inner_text() == "North field, June"

    page.set_input_files("#file", str(scene_tif))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/veg-cover/results/*")
    overlay = page.locator("#overlay")
    overlay.wait_for()
    assert page.evaluate("document.querySelector('#overlay').complete && "
                         "document.querySelector('#overlay').naturalWidth") == 192
    fvc = float(page.locator("#fvc-mean").inner_text())
    assert 0.0 <= fvc <= 1.0
    assert page.locator("#zones-table tbody tr").count() >= 1

    with page.expect_download() as dl:
        page.click("#download-plan")
    plan = json.loads(open(dl.value.path(), encoding="utf-8").read())
    assert plan["fileType"] == "Plan" and plan["mission"]["items"][0]["command"] == 22
    assert any(item["command"] == 16 for item in plan["mission"]["items"])
    with page.expect_download() as dl:
        page.click("#download-cover")
    assert open(dl.value.path(), "rb").read(4) in (b"II*\x00", b"II+\x00")

    page.get_by_role("link", name="← North field, June").click()
    page.wait_for_url("**/veg-cover/entities/*")
    assert page.locator("#history-table tbody tr").count() == 1
    assert page.locator("#history svg").count() == 1
