"""Browser test of the core pages: the index lists every app, health answers, errors are friendly, offline."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_index_lists_every_app_offline(page, live_server, page_requests):
    from edgeinv.common.app import all_apps

    response = page.goto("/")
    assert response.status == 200
    assert "edgeinv" in page.title()
    apps = all_apps()
    for name, app in apps.items():
        card = page.locator(f"#app-{name}")
        assert card.is_visible()
        assert app.title in card.inner_text()
        assert card.locator(".models .badge").count() == 1  # models present / verified / missing
    # the offline stylesheet really applied (no CDN involved)
    bg = page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor")
    assert bg == "rgb(22, 50, 74)"
    assert page.evaluate("document.querySelector('meta[name=csrf-token]').content").strip()
    assert page_requests and all(u.startswith(live_server.url) for u in page_requests)
    assert any(u.endswith("/static/style.css") for u in page_requests)


def test_health_endpoint(page, live_server):
    response = page.request.get("/healthz")
    body = response.json()
    assert body["db"]["ok"] is True
    assert body["status"] in ("ok", "degraded")
    assert response.status == 200
    from edgeinv.common.app import all_apps

    assert set(body["apps"]) == set(all_apps())


def test_error_page_is_friendly_and_leads_back(page, live_server):
    response = page.goto("/no-such-page")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert "no page at /no-such-page" in page.locator(".message").inner_text()
    assert "Traceback" not in page.content()
    page.get_by_role("link", name="All apps").click()
    page.wait_for_url(live_server.url + "/")
    assert page.locator("h1").first.inner_text().startswith("What this device can tell you")
    api = page.request.get("/no-such-app/api/x")
    assert api.status == 404
    assert api.json()["error"] == "NotFound" and api.json()["status"] == 404


def test_nav_links_reach_every_app(page, live_server):
    page.goto("/")
    links = page.locator(".topbar nav a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    for href in hrefs:
        response = page.goto(href)
        assert response.status == 200, href
        assert page.locator(".topbar").is_visible()  # the app page extends base.html


@pytest.fixture(scope="module")
def lan_server(live_server_factory):
    """The suite as bound to the network: a login is required."""
    return live_server_factory(host="0.0.0.0", password="field-box-7")


def test_login_and_csrf_protected_posts_in_the_browser(page, lan_server):
    url = lan_server.url
    page.goto(url + "/")
    assert page.url.startswith(url + "/login")
    page.fill("#password", "wrong")
    page.click("button[type=submit]")
    assert "Wrong password" in page.locator(".flash.error").inner_text()
    page.fill("#password", "field-box-7")
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    assert page.get_by_role("button", name="Log out").is_visible()
    # a POST from script without the token (XMLHttpRequest is not wrapped) is refused by the server ...
    status = page.evaluate("""() => new Promise(done => { const x = new XMLHttpRequest();
                                  x.open('POST', '/logout'); x.onload = () => done(x.status); x.send(); })""")
    assert status == 403
    # ... while edgeinv.js adds the session token to same-origin fetch() and to forms built later
    status = page.evaluate("""async () => (await fetch('/no-such-page', {method: 'POST'})).status""")
    assert status == 404  # got past the CSRF check to the router
    page.evaluate("""() => { const f = document.createElement('form'); f.method = 'post'; f.action = '/logout';
                             document.body.appendChild(f); f.requestSubmit(); }""")
    page.wait_for_url(url + "/login")
    page.goto(url + "/")
    assert page.url.startswith(url + "/login")  # logged out
