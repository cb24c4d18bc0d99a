"""A real `edgeinv` server process for the load and durability tests: waitress on loopback, a given data dir.

``python -m tests.load.serve_main DATA_DIR PORT [APP ...]`` serves the apps (default: all) exactly as
``edgeinv serve`` does, minus the start-up self-test (the runners then use the manifest's choice, as
documented for a device without a stored self-test), so a restart after SIGKILL takes about a second.
Prints ``READY <port>`` on stdout when listening.
"""

from __future__ import annotations

import socket
import sys


def main(argv: list[str]) -> None:
    from edgeinv.common.app import all_apps, get_app
    from edgeinv.common.config import REPO_ROOT, load_settings
    from edgeinv.common.web import create_app
    from edgeinv.common.web.server import create_server

    data_dir, port = argv[0], int(argv[1])
    names = argv[2:]
    apps = [get_app(n) for n in names] if names else list(all_apps().values())
    settings = load_settings(data_dir=data_dir, models_dir=REPO_ROOT / "models", host="127.0.0.1", port=port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    flask_app = create_app(settings, apps)
    server = create_server(settings, sock=sock, flask_app=flask_app)
    flask_app.extensions["edgeinv"].retention.start()
    print(f"READY {sock.getsockname()[1]}", flush=True)
    server.run()


if __name__ == "__main__":
    main(sys.argv[1:])
