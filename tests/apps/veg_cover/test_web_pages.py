"""The flight page states its low-cover threshold as a number even when it is the default (issue 11 bug 8)."""


def test_default_low_cover_threshold_is_shown_as_a_number(client):
    r = client.post("/veg-cover/entities", data={"name": "June"})
    assert r.status_code == 302
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert 'id="setting-low_cover">' in page
    shown = page.split('id="setting-low_cover">', 1)[1].split("</dd>", 1)[0]
    assert "0.3" in shown and "not set" not in shown
