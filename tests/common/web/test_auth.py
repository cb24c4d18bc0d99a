"""Login off loopback, API credentials, generated password and secret key, CSRF protection."""

from __future__ import annotations

import base64
import re
import stat

import pytest

from edgeinv.common.web.auth import MAX_FAILURES, PASSWORD_FILE, SECRET_FILE

PASSWORD = "correct horse"


@pytest.fixture
def lan_app(make_app):
    return make_app(host="0.0.0.0", password=PASSWORD)


def login(client, password=PASSWORD, next_="/"):
    return client.post("/login", data={"password": password, "next": next_})


def token_of(client):
    html = client.get("/mini-app/").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_loopback_needs_no_login(web_client):
    assert web_client.get("/").status_code == 200
    assert web_client.get("/mini-app/").status_code == 200
    assert web_client.get("/login").status_code == 302  # nothing to log in to
    assert web_client.post("/mini-app/api/echo", data={"a": "1"}).status_code == 200  # e.g. a local gateway


def test_pages_need_login_but_health_and_static_do_not(lan_app):
    client = lan_app.test_client()
    r = client.get("/mini-app/?x=1")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=/mini-app/")
    r = client.get("/mini-app/api/things/1")
    assert r.status_code == 401 and r.get_json()["error"] == "AuthError"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")  # no browser password prompt
    assert client.get("/", headers={"Accept": "application/json"}).status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    page = client.get("/login")
    assert page.status_code == 200 and 'type="password"' in page.get_data(as_text=True)


def test_browser_login_session_and_logout(lan_app):
    client = lan_app.test_client()
    r = login(client, "wrong")
    assert r.status_code == 401 and "Wrong password" in r.get_data(as_text=True)
    r = login(client, next_="/mini-app/")
    assert r.status_code == 302 and r.headers["Location"] == "/mini-app/"
    set_cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    page = client.get("/mini-app/")
    assert page.status_code == 200 and "Log out" in page.get_data(as_text=True)
    token = token_of(client)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/mini-app/").status_code == 302


def test_no_open_redirect_after_login(lan_app):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = login(lan_app.test_client(), next_=target)
        assert r.status_code == 302 and r.headers["Location"] == "/"


def test_csrf_token_required_for_session_posts(lan_app):
    client = lan_app.test_client()
    login(client)
    r = client.post("/mini-app/api/echo", data={"a": "1"})
    assert r.status_code == 403 and r.get_json()["error"] == "CsrfError"
    r = client.post("/mini-app/api/echo", data={"a": "1", "csrf_token": "forged"})
    assert r.status_code == 403
    token = token_of(client)
    assert client.post("/mini-app/api/echo", data={"a": "1", "csrf_token": token}).status_code == 200
    assert client.post("/mini-app/api/echo", data={"a": "1"}, headers={"X-CSRF-Token": token}).status_code == 200


def test_api_basic_and_bearer(lan_app):
    client = lan_app.test_client()
    basic = base64.b64encode(f"gateway:{PASSWORD}".encode()).decode()
    r = client.post("/mini-app/api/echo", data={"a": "1"}, headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200 and r.get_json()["ok"] is True  # no CSRF token needed
    r = client.get("/mini-app/api/things/3", headers={"Authorization": f"Bearer {PASSWORD}"})
    assert r.status_code == 404  # authenticated; the view itself says not found
    r = client.get("/mini-app/api/things/3", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.get_json()["message"] == "wrong password"
    r = client.get("/mini-app/api/things/3", headers={"Authorization": "Basic !!!notbase64"})
    assert r.status_code == 401


def test_failed_logins_are_throttled(lan_app):
    client = lan_app.test_client()
    for _ in range(MAX_FAILURES):
        assert login(client, "guess").status_code == 401
    r = login(client)  # even the right password waits now
    assert r.status_code == 429 and "Too many failed attempts" in r.get_data(as_text=True)


def test_cross_site_posts_are_refused_everywhere(web_client, lan_app):
    r = web_client.post("/mini-app/api/echo", data={"a": "1"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and r.get_json()["error"] == "CsrfError"
    r = web_client.post("/mini-app/api/echo", data={"a": "1"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = web_client.post("/mini-app/api/echo", data={"a": "1"}, headers={"Sec-Fetch-Site": "same-site"})
    assert r.status_code == 403  # another port or subdomain is another site for this purpose
    r = web_client.post("/mini-app/api/echo", data={"a": "1"},
                        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200
    assert web_client.post("/mini-app/api/echo", data={"a": "1"}, headers={"Origin": "http://localhost"}).status_code == 200
    # even valid API credentials do not let a foreign page post
    r = lan_app.test_client().post("/mini-app/api/echo", headers={"Authorization": f"Bearer {PASSWORD}",
                                                                    "Origin": "http://evil.example"})
    assert r.status_code == 403


def test_generated_password_printed_once_and_stored_hashed(make_app, web_settings, capsys):
    flask_app = make_app(host="192.168.1.20")
    err = capsys.readouterr().err
    match = re.search(r"password is\s+(\S+)\s", err)
    assert match, err
    password = match.group(1)
    hash_file = web_settings.data_dir / PASSWORD_FILE
    assert stat.S_IMODE(hash_file.stat().st_mode) == 0o600
    assert password not in hash_file.read_text() and hash_file.read_text().startswith("scrypt:")
    again = make_app(host="192.168.1.20")
    assert "password" not in capsys.readouterr().err  # shown only the first time
    for app_ in (flask_app, again):
        client = app_.test_client()
        assert login(client, password).status_code == 302
        assert client.get("/mini-app/").status_code == 200


def test_secret_key_persisted_private_and_shared_by_instances(make_app, web_settings):
    first, second = make_app(host="0.0.0.0", password=PASSWORD), make_app(host="0.0.0.0", password=PASSWORD)
    key_file = web_settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.secret_key == second.secret_key == key_file.read_text().strip()
    client = first.test_client()
    login(client)
    cookie = client.get_cookie("edgeinv_session")
    other = second.test_client()
    other.set_cookie("edgeinv_session", cookie.value)
    assert other.get("/mini-app/").status_code == 200  # a restart keeps users logged in
    explicit = make_app(secret_key="k" * 40)
    assert explicit.secret_key == "k" * 40


def test_sessions_end_when_the_password_changes(make_app):
    old = make_app(host="0.0.0.0", password=PASSWORD)
    client = old.test_client()
    login(client)
    cookie = client.get_cookie("edgeinv_session").value
    new = make_app(host="0.0.0.0", password="another one")
    c2 = new.test_client()
    c2.set_cookie("edgeinv_session", cookie)
    assert c2.get("/mini-app/").status_code == 302
