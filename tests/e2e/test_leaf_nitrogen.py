"""Browser test of leaf-nitrogen against the shipped models: field -> upload -> result -> advice -> history."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def spectra(tmp_path_factory):
    from edgeinv.apps.leaf_nitrogen.io import write_leaves_csv
    from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves

    folder = tmp_path_factory.mktemp("leafn")
    field = simulate_leaves(6, rng=np.random.default_rng(11), config="full", prefix="leaf")
    strip = simulate_leaves(5, rng=np.random.default_rng(12), config="full", prefix="strip")
    return (write_leaves_csv(folder / "field.csv", field), field), (write_leaves_csv(folder / "strip.csv", strip), strip)


def test_upload_result_advice_history(page, live_server, spectra, new_entity):
    (field_csv, field_leaves), (strip_csv, _) = spectra
    field_url = new_entity("leaf-nitrogen", "E2E maize", ("#crop_stage", "maize/V6"), ("#reference_n_g_m2", "3.0"))
    assert page.locator("h1").inner_text() == "E2E maize"
    assert "3.0 g/m²" in page.locator("#setting-reference_n_g_m2").inner_text()

    # upload the field's leaves -> result page with spectra, per-leaf estimates and the advice card
    page.set_input_files("#file", str(field_csv))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/leaf-nitrogen/results/*")
    headline = page.locator("#advice-headline").inner_text()
    assert "top-dress" in headline.lower() and "kg N/ha" in headline  # or "Borderline: top-dress ..."
    rate = float(page.locator("#advice-rate").inner_text().split()[0])
    assert 15 <= rate <= 120  # maize cap
    assert page.locator("#spectra figure svg").count() == 1 and "PROSPECT-PRO" in page.locator("#spectra figure").inner_text()
    rows = page.locator("#leaves tbody tr")
    assert rows.count() == len(field_leaves)
    # the shipped model's leaf N is close to the simulated truth of each leaf
    truth = {leaf.sample: leaf.truth["protein_g_cm2"] * 1e4 / 4.43 for leaf in field_leaves}
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        name, n_est = cells.nth(0).inner_text(), float(cells.nth(1).inner_text().split()[0])
        assert abs(n_est - truth[name]) < 0.3 * truth[name] + 0.15, (name, n_est, truth[name])

    # the reference strip, then the history shows both measurements and the trend
    page.goto(field_url)
    page.set_input_files("#file", str(strip_csv))
    page.check("#upload-reference")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/leaf-nitrogen/results/*")
    assert "reference" in page.locator("#advice-headline").inner_text()
    page.get_by_role("link", name="← E2E maize").click()
    page.wait_for_url(field_url)
    history = page.locator("#history-table tbody tr")
    assert history.count() == 2
    strip, field = history.nth(0).inner_text(), history.nth(1).inner_text()
    assert "strip.csv" in strip and strip.rstrip().endswith("yes")  # the reference-strip column
    assert "top-dress" in field.lower() and field.rstrip().endswith("no")
    assert page.locator("#history figure svg").count() == 1
    assert "3.0 g/m²" not in page.locator("#setting-reference_n_g_m2").inner_text()  # now the strip's mean N
