"""Browser test of bearing-wear against the shipped models: machine -> upload -> result -> history."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    from edgeinv.apps.bearing_wear import APP

    folder = tmp_path_factory.mktemp("bearing")
    outer, healthy = folder / "outer.wav", folder / "healthy.csv"
    APP.write_example(outer, np.random.default_rng(21), fault="outer_race", size_mm=2.0, rpm=1797, fs=12000,
                      duration=4.0, snr_db=6.0)
    APP.write_example(healthy, np.random.default_rng(22), fault="none", rpm=1797, fs=12000, duration=4.0)
    return outer, healthy


def test_machine_upload_result_history(page, live_server, recordings, new_entity):
    outer, healthy = recordings
    machine_url = new_entity("bearing-wear", "E2E pump", ("#bearing", "6205-2rs"), ("#rpm", "1797"), ("#fs_hz", "12000"))
    assert page.locator("h1").inner_text() == "E2E pump"
    assert "No recording analysed yet" in page.locator("#history").inner_text()

    # an outer-race spall: the result page names it, gives a size with an interval and plots the
    # envelope spectrum with the defect-frequency markers
    page.set_input_files("#file", str(outer))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/bearing-wear/results/*")
    assert "outer race" in page.locator("#fault").inner_text()
    size_text = page.locator("#size").inner_text()  # a size with its interval, or "not resolvable" + the limit
    assert ("mm" in size_text and "interval" in size_text) or ("not resolvable" in size_text and "limit" in size_text)
    assert "outer race lines" in page.locator("#evidence").inner_text()
    assert page.locator("#severity-index").count() == 1 and page.locator("#ood").count() == 1
    assert page.locator("#envelope svg").count() == 1
    assert "BPFO" in page.locator("#envelope").inner_text()
    assert page.locator("#alarm").inner_text().startswith("Alarm:")

    # a healthy recording (CSV with a time column) from the machine page, then the history
    page.goto(machine_url)
    page.set_input_files("#file", str(healthy))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/bearing-wear/results/*")
    assert "none" in page.locator("#fault").inner_text()
    page.get_by_role("link", name="← E2E pump: history").click()
    page.wait_for_url(machine_url)
    rows = page.locator("#history-table tbody tr")
    assert rows.count() == 2
    assert "none" in rows.nth(0).inner_text() and "outer race" in rows.nth(1).inner_text()
    assert page.locator("#history svg").count() >= 1
    assert "trend needs" in page.locator("#trend-status").inner_text()
