"""Serving the web app with waitress, the production WSGI server (`edgeinv serve`, tests' live server).

waitress is pure Python (no compiler on the device), multi-threaded and buffers request bodies
before the app sees them. Analyses run in the app's bounded pool (:mod:`.gate`); waitress gets one
thread per admitted analysis (each waits for its answer) plus ``page_threads`` (4) for pages and
``/healthz``, so health checks are answered while the pool is busy. ONNX Runtime inference itself runs
on ``settings.threads`` intra-op threads.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading

from ..config import Settings
from .factory import _as_list, create_app

WSGI_THREADS = 4  # page threads when the app has no analysis limits (see .limits.WebLimits.server_threads)
log = logging.getLogger("edgeinv.web")


def url_of(host: str, port: int) -> str:
    """The URL to print for a bind address (wildcards shown as this machine's name)."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def _adjustments(settings: Settings, flask_app=None) -> dict:
    limit = int(float(settings.max_upload_mb) * 2**20)
    limits = getattr(flask_app.extensions.get("edgeinv"), "limits", None) if flask_app is not None else None
    threads = limits.server_threads if limits is not None else WSGI_THREADS
    # waitress refuses (plain 413) what is far past the app's limit before buffering it to disk;
    # anything up to twice the limit reaches Flask, which answers with the friendly 413.
    return {"threads": threads, "ident": "edgeinv", "max_request_body_size": max(2 * limit, limit + 2**24),
            "channel_timeout": 120, "clear_untrusted_proxy_headers": True}


def create_server(settings: Settings, apps=None, *, sock: socket.socket | None = None, flask_app=None):
    """A waitress server for the app (not yet running). ``sock``: an already bound listening socket."""
    from waitress import create_server as _create

    flask_app = flask_app if flask_app is not None else create_app(settings, apps)
    if sock is not None:
        return _create(flask_app, sockets=[sock], **_adjustments(settings, flask_app))
    return _create(flask_app, host=settings.host, port=int(settings.port), **_adjustments(settings, flask_app))


def stop_server(server, thread: threading.Thread | None = None, *, timeout_s: float = 10.0) -> None:
    """Stop a server started with ``server.run()`` in ``thread``: close its sockets from its own loop."""
    from waitress import wasyncore

    server.task_dispatcher.shutdown()
    socket_map = getattr(server, "_map", None) or getattr(server, "map", None)
    trigger = getattr(server, "trigger", None)
    woken = False
    if trigger is not None and thread is not None and thread.is_alive():
        try:
            trigger.pull_trigger(lambda: wasyncore.close_all(socket_map))
            woken = True
        except OSError:  # its wake-up pipe is already closed (seen once in CI: EBADF): close from here instead
            pass
    if not woken:
        wasyncore.close_all(socket_map)  # already-closed descriptors (EBADF) are skipped
    if thread is not None:
        thread.join(timeout_s)


def prepare_app(settings: Settings, apps=None):
    """What ``serve`` runs before listening: the quick self-test on this CPU, then the Flask app.

    The self-test (golden sets only, see :mod:`edgeinv.common.runtime.selftest`) stores this device's
    choice of variant per config; a variant that is wrong on this CPU is never used, and the log says
    why in one line. The runners the app builds use that choice.
    """
    from .. import app as app_registry
    from ..runtime.selftest import selftest_apps

    selftest_apps(list(app_registry.all_apps().values()) if apps is None else _as_list(apps), settings, repeats=10,
                  logger=log)
    from ..runtime.memory import release_memory

    release_memory()  # the self-test ran every variant once: give that peak back (veg-cover 362 -> 137 MB RSS)
    return create_app(settings, apps)


def serve(settings: Settings, apps=None) -> None:
    """Serve ``apps`` (default: all) on ``settings.host:settings.port`` until interrupted."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            stream=sys.stderr)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    flask_app = prepare_app(settings, apps)
    try:
        server = create_server(settings, flask_app=flask_app)
    except OSError as exc:
        from ..errors import ConfigError

        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    ctx = flask_app.extensions["edgeinv"]
    ctx.retention.start()
    names = ", ".join(ctx.app_names) or "no apps"
    login = "no login (loopback)" if settings.is_loopback else "login required"
    print(f"edgeinv: serving {names} at {url_of(settings.host, int(settings.port))} ({login}; Ctrl+C to stop)",
          file=sys.stderr, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        pass
    finally:
        server.task_dispatcher.shutdown()
        ctx.retention.stop()
        ctx.gate.shutdown()
        ctx.store.close()
