"""Browser test (390 px phone): a field's N applications and an upload's date and location (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.e2e.test_screens import check_page, shot

pytestmark = pytest.mark.e2e


def test_applications_and_where_when_on_a_phone(page, live_server, tmp_path, new_entity):
    from edgeinv.apps.leaf_nitrogen.io import write_leaves_csv
    from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves

    csv = write_leaves_csv(tmp_path / "east.csv", simulate_leaves(4, rng=np.random.default_rng(5), config="full", prefix="leaf"))
    page.set_viewport_size({"width": 390, "height": 844})
    new_entity("leaf-nitrogen", "East field", ("#crop_stage", "maize/V6"), ("#reference_n_g_m2", "2.5"))
    for day, kg, product in (("2026-04-20", "50", "CAN 27 %"), ("2026-05-10", "30", "UAN 28 % with a long note")):
        page.fill("#application-date", day)
        page.fill("#application-kg_n_ha", kg)
        page.fill("#application-product", product)
        page.click("#application-form button[type=submit]")
        page.wait_for_url("**#applications")
    assert page.locator("#applications-table tbody tr").count() == 2
    assert page.locator("#applications-total").inner_text() == "80"
    check_page(page, 390, "field page with N applications")
    shot(page, "leaf-nitrogen", 390, "applications")
    page.set_input_files("#file", str(csv))
    page.fill("#upload-measured_at", "2026-05-20T07:45")
    page.fill("#upload-location", "52.0907, 5.1214")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/leaf-nitrogen/results/*")
    assert "2026-05-20 07:45" in page.locator("#measured").inner_text()
    assert page.locator("#location").inner_text() == "at 52.090700, 5.121400"
    assert "sum of 2 recorded application(s)" in page.locator("#advice").inner_text()
    check_page(page, 390, "result page with date and location")
