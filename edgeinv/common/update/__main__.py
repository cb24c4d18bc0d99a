"""``python -m edgeinv.common.update install|update|status|supervise|verify`` (the device tools)."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import EdgeinvError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="edgeinv-device", description="install, update and supervise edgeinv")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("install", help="install a bundle file into a prefix")
    s.add_argument("bundle")
    s.add_argument("--prefix", required=True)
    s.add_argument("--pubkey", help="the publisher's signing.pub.pem (installed once as the trust anchor)")
    s.add_argument("--device-key", help="X25519 device key for encrypted models (copied with mode 0600)")
    s.add_argument("--python", help="interpreter the device runs with (default: this one)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--threads", type=int)
    s.add_argument("--allow-unsigned", action="store_true")
    s.add_argument("--wait", type=float, default=0, help="seconds to wait for the supervisor to commit")
    s = sub.add_parser("update", help="update from a channel (URL or folder)")
    s.add_argument("--prefix", required=True)
    s.add_argument("--channel", required=True)
    s.add_argument("--app")
    s.add_argument("--version")
    s.add_argument("--allow-downgrade", action="store_true")
    s.add_argument("--allow-unsigned", action="store_true")
    s.add_argument("--wait", type=float, default=300)
    s = sub.add_parser("status")
    s.add_argument("--prefix", required=True)
    s = sub.add_parser("supervise")
    s.add_argument("--prefix", required=True)
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s = sub.add_parser("verify")
    s.add_argument("bundle")
    s.add_argument("--key")
    s.add_argument("--allow-unsigned", action="store_true")
    a = p.parse_args(argv)
    try:
        if a.cmd == "install":
            from .device import install

            out = install(a.prefix, a.bundle, allow_unsigned=a.allow_unsigned, wait=a.wait, python=a.python,
                          pubkey=a.pubkey, device_key=a.device_key, host=a.host, port=a.port, threads=a.threads)
        elif a.cmd == "update":
            from .channel import update

            out = update(a.prefix, a.channel, app=a.app, version=a.version, allow_downgrade=a.allow_downgrade,
                         allow_unsigned=a.allow_unsigned, wait=a.wait)
        elif a.cmd == "status":
            from .device import status

            out = status(a.prefix)
        elif a.cmd == "supervise":
            from .supervisor import supervise

            return supervise(a.prefix, host=a.host, port=a.port)
        else:
            from .verify import main as verify_main

            return verify_main([a.bundle] + (["--key", a.key] if a.key else []) +
                               (["--allow-unsigned"] if a.allow_unsigned else []))
    except EdgeinvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the device tools never print a traceback by default
        import os

        if os.environ.get("EDGEINV_DEBUG"):
            raise
        print(f"error: internal error ({type(exc).__name__}: {exc}); rerun with EDGEINV_DEBUG=1", file=sys.stderr)
        return 70
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
