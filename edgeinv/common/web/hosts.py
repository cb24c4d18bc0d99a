"""Host header validation: only names of this device are answered (DNS-rebinding defence), in every mode.

A web page on another site can make a browser send requests to the device under the attacker's
domain name (DNS rebinding): same origin for the browser, so cookies and CSRF checks do not help;
only the ``Host`` header tells. Allowed:

* bound to loopback: ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``);
* bound to anything else: any IP address literal (a rebinding attack needs a domain name), this
  machine's host name (also ``<name>.local`` for mDNS and its FQDN), ``localhost``, the bind address;
* always: the names in ``EDGEINV_ALLOWED_HOSTS`` (``device.lan``; ``.farm.lan`` for a whole domain;
  ``*`` turns the check off).

Anything else gets 400 before the login gate, on every path including ``/healthz``. A request with no
``Host`` at all (HTTP/1.0 tools) passes: browsers, and so rebinding pages, always send one.
"""

from __future__ import annotations

import ipaddress
import socket

from flask import Flask, request

from .errors import HostNotAllowedError


def _split_host(host: str) -> str:
    host = (host or "").strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.rsplit(":", 1)[0]
    return host


def _ip(name: str):
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def allowed_names(settings, extra=()) -> tuple[set[str], bool]:
    """``(names, any_ip)``: host names allowed, and whether any IP literal is allowed."""
    names = {"localhost", "localhost."}
    any_ip = not settings.is_loopback
    if not settings.is_loopback:
        for n in (socket.gethostname(), socket.getfqdn()):
            if n:
                n = n.lower()
                names.update({n, n + ".", n.split(".")[0] + ".local"})
        if settings.host not in ("0.0.0.0", "::", ""):
            names.add(settings.host.lower())
    names.update(h for h in extra if h)
    return names, any_ip


def host_allowed(host: str, names: set[str], any_ip: bool) -> bool:
    name = _split_host(host)
    if not name:
        return False
    if "*" in names or name in names:
        return True
    if any(n.startswith(".") and (name.endswith(n) or name == n[1:]) for n in names):
        return True
    ip = _ip(name)
    if ip is not None:
        return any_ip or ip.is_loopback
    return False


def install_host_check(flask_app: Flask, settings, extra=()) -> None:
    """Refuse requests whose Host is not one of this device's names (register before the login gate)."""
    names, any_ip = allowed_names(settings, extra)
    flask_app.extensions["edgeinv_allowed_hosts"] = (names, any_ip)

    @flask_app.before_request
    def _check_host():
        if not request.environ.get("HTTP_HOST"):  # HTTP/1.0 without Host: no browser sends that
            return
        if not host_allowed(request.host, names, any_ip):
            raise HostNotAllowedError(
                f"this device does not answer to the host name {_split_host(request.host)[:100]!r}",
                hint="add it to EDGEINV_ALLOWED_HOSTS if it is a real name of this device")
