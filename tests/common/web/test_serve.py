"""Serving with waitress: a real server answers and stops; `serve` prints its URL and fails cleanly."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request

import pytest

from edgeinv.common.errors import ConfigError
from edgeinv.common.web import server as serve_mod
from edgeinv.common.web.limits import WebLimits
from edgeinv.common.web.server import create_server, stop_server, url_of


def test_waitress_server_answers_and_stops(web_settings, mini):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = create_server(web_settings.replace(port=port), apps=[mini], sock=sock)
    assert server.adj.threads == WebLimits().server_threads  # analyses + queue + page threads
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
        assert resp.status == 200 and resp.headers["Server"] == "edgeinv"
        assert json.loads(resp.read())["db"]["ok"] is True
    stop_server(server, thread)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_server_stops_when_its_wake_up_pipe_is_gone(web_settings, mini, monkeypatch):
    """A trigger that cannot be pulled (its descriptor already closed: EBADF, seen once in CI) must not leave the
    server running: ``stop_server`` closes the sockets from the calling thread and the loop ends."""
    import errno

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = create_server(web_settings.replace(port=port), apps=[mini], sock=sock)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
        assert resp.status == 200

    def broken(_thunk):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(server.trigger, "pull_trigger", broken)
    stop_server(server, thread)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_serve_prints_url_and_runs(web_settings, mini, monkeypatch, capsys):
    ran = []

    class FakeServer:
        class task_dispatcher:  # noqa: N801 - mimics waitress' attribute
            @staticmethod
            def shutdown():
                ran.append("shutdown")

        def run(self):
            ran.append("run")
            raise KeyboardInterrupt

    monkeypatch.setattr(serve_mod, "create_server", lambda settings, flask_app=None, **kw: FakeServer())
    serve_mod.serve(web_settings.replace(port=8123), apps=[mini])
    err = capsys.readouterr().err
    assert "http://127.0.0.1:8123/" in err and "mini-app" in err and "no login" in err
    assert ran == ["run", "shutdown"]


def test_serve_on_a_busy_port_is_a_config_error(web_settings, mini):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        with pytest.raises(ConfigError, match="cannot listen"):
            serve_mod.serve(web_settings.replace(port=busy.getsockname()[1]), apps=[mini])
    finally:
        busy.close()


def test_url_of():
    assert url_of("127.0.0.1", 8080) == "http://127.0.0.1:8080/"
    assert url_of("::1", 9000) == "http://[::1]:9000/"
    assert url_of("0.0.0.0", 80) == f"http://{socket.gethostname()}:80/"
