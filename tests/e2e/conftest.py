"""Browser-test fixtures: the whole suite served by waitress in a thread, and headless system Chromium.

* ``live_server`` (session): every installed app on ``127.0.0.1:<free port>`` with a temporary data
  dir and the repo's ``models/``; has ``.url`` (no trailing slash), ``.settings``, ``.app`` (Flask)
  and ``.store``. ``live_server_factory(apps=None, **settings)`` starts more (e.g. one that needs a
  login: ``host="0.0.0.0", password="..."``).
* ``browser`` (session) and ``page`` (per test): Playwright's sync API driving ``/usr/bin/chromium``
  headless, with a fresh context per test whose ``base_url`` is the live server (``page.goto("/")``).
  Every request the page makes is recorded in ``page_requests``; requests to any host but the
  live servers are aborted and fail the test at teardown, so all pages are proven to work offline.

Every test under ``tests/e2e`` is marked ``e2e``. Without ``/usr/bin/chromium`` or Playwright the
browser tests are skipped with the reason (``.ci/run`` installs Chromium, so CI runs them).
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
_LIVE_URLS: set[str] = set()  # every server the fixtures started: the only hosts a page may reach


def _is_live(url: str) -> bool:
    return any(url == u or url.startswith(u + "/") for u in _LIVE_URLS)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@dataclass
class LiveServer:
    url: str
    settings: object
    app: object

    @property
    def store(self):
        return self.app.extensions["edgeinv"].store

    def url_for(self, path: str) -> str:
        return self.url + ("" if path.startswith("/") else "/") + path


def _start(settings, apps=None, bind_host: str = "127.0.0.1"):
    """Serve ``apps`` with waitress on a free port of ``bind_host``; returns (LiveServer, stop)."""
    from edgeinv.common.web import create_app
    from edgeinv.common.web.server import create_server, stop_server

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((bind_host, 0))
    port = sock.getsockname()[1]
    settings = settings.replace(port=port)
    flask_app = create_app(settings, apps)
    server = create_server(settings, sock=sock, flask_app=flask_app)
    thread = threading.Thread(target=server.run, name=f"live-server-{port}", daemon=True)
    thread.start()

    def stop():
        stop_server(server, thread)
        flask_app.extensions["edgeinv"].store.close()

    url = f"http://{bind_host}:{port}"
    _LIVE_URLS.add(url)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5):
                break
        except urllib.error.HTTPError:  # answered (e.g. 503): the server is up
            break
        except OSError:
            if time.monotonic() > deadline:
                stop()
                raise RuntimeError(f"live server on {url} did not answer within 30 s") from None
            time.sleep(0.05)
    return LiveServer(url=url, settings=settings, app=flask_app), stop


@pytest.fixture(scope="session")
def live_server_factory(tmp_path_factory):
    """``start(apps=None, **setting_overrides) -> LiveServer``; servers stop at the end of the session.

    Settings default to a fresh temporary data dir and the repo's models; ``host`` only decides the
    login policy (``host="0.0.0.0"`` requires a login), the server always listens on 127.0.0.1.
    """
    from edgeinv.common.config import load_settings

    stops = []

    def start(apps=None, **overrides):
        base = dict(data_dir=tmp_path_factory.mktemp("live") / "data", models_dir=REPO_ROOT / "models",
                    host="127.0.0.1")
        base.update(overrides)
        server, stop = _start(load_settings(env={}, **base), apps)
        stops.append(stop)
        return server

    yield start
    for stop in stops:
        stop()


@pytest.fixture(scope="session")
def live_server(live_server_factory):
    """Every installed app on 127.0.0.1 (no login), temporary data dir, the repo's models/."""
    return live_server_factory()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium; `make chromium` does it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page_requests() -> list[str]:
    """URLs of every request the test's page made (filled by the ``page`` fixture)."""
    return []


@pytest.fixture
def page(browser, live_server, page_requests):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    blocked: list[str] = []

    def guard(route):
        url = route.request.url
        if _is_live(url):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    pg.on("request", lambda req: page_requests.append(req.url))
    yield pg
    context.close()
    external = [u for u in page_requests + blocked if not _is_live(u) and not u.startswith(("data:", "blob:", "about:"))]
    assert not external, f"the page tried to reach other hosts (must work offline): {external}"


@pytest.fixture
def new_entity(page):
    """Create a machine / field / flight through the app's form: ``new_entity(app, name, (selector, value), ...)``
    fills the name and each setting (a <select> is chosen, any other input typed), submits, waits for the
    entity's page and returns its URL."""

    def create(app: str, name: str, *settings: tuple[str, str]) -> str:
        page.goto(f"/{app}/")
        page.fill("#name", name)
        for selector, value in settings:
            if page.locator(selector).evaluate("e => e.tagName") == "SELECT":
                page.select_option(selector, value)
            else:
                page.fill(selector, value)
        page.click("#new-entity button[type=submit]")
        page.wait_for_url(f"**/{app}/entities/*")
        return page.url

    return create
