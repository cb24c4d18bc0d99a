"""Login, API credentials and cross-site request protection for the web UI.

Policy
------
* Bound to loopback (``127.0.0.1``, ``localhost``, ``::1``): no login — only the person at the device
  can reach it.
* Bound to anything else: every page except ``/healthz``, ``/login`` and static files needs a login.
  Browsers log in once per session (a signed, HttpOnly, SameSite=Lax cookie; 12 h). API clients such
  as sensor gateways send the same password as HTTP Basic (any user name) or ``Authorization: Bearer
  <password>``. The password comes from ``settings.password``; if that is empty, one is generated at
  first start, its scrypt hash stored in ``<data_dir>/ui_password.hash`` (mode 0600) and the password
  printed once to stderr. Delete that file to get a new one.
* Cross-site request forgery, two layers:
  1. every unsafe request (POST, PUT, PATCH, DELETE), on any host, is refused (403) when the browser
     says it comes from another site (``Sec-Fetch-Site`` other than ``same-origin``/``none``, or an
     ``Origin`` that is not this server). Clients that send neither header (curl, gateways) pass —
     they cannot be driven by a foreign web page.
  2. off loopback, a request authenticated by the session cookie must also carry the per-session
     token (form field ``csrf_token`` or header ``X-CSRF-Token``). ``base.html`` adds it to every
     POST form and same-origin ``fetch`` automatically; templates may also write ``{{ csrf_field() }}``.
     Basic/Bearer requests are exempt: browsers never attach those on their own here, because the 401
     challenge is ``Bearer`` (no browser password prompt, so no cached Basic credentials).
* Failed logins are throttled per client address (10 per 10 minutes).

The Flask secret key is ``settings.secret_key`` or a random key persisted in
``<data_dir>/secret_key`` (mode 0600) so sessions survive restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, session, url_for
from markupsafe import Markup, escape
from werkzeug.security import check_password_hash, generate_password_hash

from ..config import Settings
from ..errors import AuthError, ConfigError
from .context import wants_json
from .errors import CsrfError

PASSWORD_FILE = "ui_password.hash"
SECRET_FILE = "secret_key"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FAILURES, FAILURE_WINDOW_S = 10, 600
_OPEN_ENDPOINTS = {"static", "auth.login", "healthz"}


def _write_private(path: Path, text: str) -> bool:
    """Create ``path`` with mode 0600 holding ``text``; False if it already exists (another process won)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return True


def load_secret_key(settings: Settings) -> str:
    """``settings.secret_key`` or the key persisted in the data dir (created on first use)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        if not path.exists():
            _write_private(path, secrets.token_hex(32))
        key = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read or create the secret key file {path}: {exc}") from None
    if len(key) < 32:
        raise ConfigError(f"the secret key in {path} is too short; delete the file to generate a new one")
    return key


def load_password_hash(settings: Settings, *, secret_key: str = "", announce=None) -> tuple[str, str]:
    """``(hash, version)`` to check logins against: of ``settings.password``, or stored/generated.

    ``version`` identifies the password without revealing it; sessions carry it, so changing the
    password logs every browser out while restarts with the same password keep them logged in.
    """
    if settings.password:
        version = hmac.new(secret_key.encode(), settings.password.encode(), hashlib.sha256).hexdigest()[:16]
        return generate_password_hash(settings.password), version
    path = Path(settings.data_dir) / PASSWORD_FILE
    try:
        if not path.exists():
            password = secrets.token_urlsafe(12)
            if _write_private(path, generate_password_hash(password) + "\n"):
                print(f"edgeinv: the web UI password is  {password}  (shown only this once; its hash is in "
                      f"{path}; delete that file for a new password, or set EDGEINV_PASSWORD)",
                      file=announce or sys.stderr, flush=True)
        stored = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read or create the password file {path}: {exc}") from None
    if not stored.startswith(("scrypt:", "pbkdf2:")):
        raise ConfigError(f"{path} does not hold a password hash; delete it to generate a new password")
    return stored, hashlib.sha256(stored.encode()).hexdigest()[:16]


class _Guard:
    """Password checks with a failure throttle and a small cache of accepted API credentials."""

    def __init__(self, password_hash: str, version: str):
        self.password_hash = password_hash
        self.version = version
        self._ok_digests: set[bytes] = set()
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked_for_s(self, client: str) -> float:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < FAILURE_WINDOW_S]
            self._failures[client] = recent
            return FAILURE_WINDOW_S - (now - recent[0]) if len(recent) >= MAX_FAILURES else 0.0

    def check(self, password: str, client: str) -> bool:
        digest = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            if any(hmac.compare_digest(digest, d) for d in self._ok_digests):
                return True
        if self.blocked_for_s(client) > 0:
            return False
        ok = check_password_hash(self.password_hash, password)
        with self._lock:
            if ok:
                if len(self._ok_digests) < 8:  # scrypt costs ~0.1 s: remember what passed
                    self._ok_digests.add(digest)
            else:
                self._failures.setdefault(client, []).append(time.monotonic())
        return ok


def _credentials() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            return base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def csrf_field() -> Markup:
    """A hidden form input carrying the CSRF token."""
    return Markup(f'<input type="hidden" name="csrf_token" value="{escape(csrf_token())}">')


def _same_origin() -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return bool(parts.scheme) and parts.netloc == request.host


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def init_auth(flask_app: Flask, settings: Settings) -> None:
    """Install secret key, session cookie policy, login/logout, the login gate and CSRF checks."""
    flask_app.secret_key = load_secret_key(settings)
    flask_app.config.update(SESSION_COOKIE_NAME="edgeinv_session", SESSION_COOKIE_HTTPONLY=True,
                            SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=12 * 3600)
    required = not settings.is_loopback
    guard = _Guard(*load_password_hash(settings, secret_key=flask_app.secret_key)) if required else None
    flask_app.extensions["edgeinv_auth"] = guard
    flask_app.jinja_env.globals.update(csrf_token=csrf_token, csrf_field=csrf_field, login_required=required)
    bp = Blueprint("auth", __name__)

    @bp.route("/login", methods=["GET", "POST"])
    def login():
        nxt = _safe_next(request.values.get("next"))
        if not required:
            return redirect(nxt)
        error, status = None, 200
        if request.method == "POST":
            client = request.remote_addr or "?"
            wait_s = guard.blocked_for_s(client)
            if wait_s > 0:
                error, status = f"Too many failed attempts; try again in {int(wait_s // 60) + 1} min.", 429
            elif guard.check(request.form.get("password", ""), client):
                session.clear()
                session.permanent = True
                session.update(auth=True, pwv=guard.version)
                csrf_token()
                return redirect(nxt)
            else:
                error, status = "Wrong password.", 401
        return render_template("login.html", error=error, next=nxt), status

    @bp.route("/logout", methods=["POST"])
    def logout():
        session.clear()
        return redirect(url_for("auth.login") if required else "/")

    flask_app.register_blueprint(bp)

    @flask_app.before_request
    def _gate():
        g.api_auth = False
        if request.method in UNSAFE_METHODS and not _same_origin():
            raise CsrfError("this request came from another web site and was refused")
        if not required:
            return None
        endpoint = request.endpoint or ""
        if endpoint in _OPEN_ENDPOINTS or endpoint.endswith(".static"):
            return None
        if session.get("auth") and session.get("pwv") == guard.version:
            if request.method in UNSAFE_METHODS:
                sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
                if not hmac.compare_digest(str(sent), str(session.get("csrf", ""))):
                    raise CsrfError("the form has expired or was not sent from this site; reload the page and try again")
            return None
        password = _credentials()
        if password is not None:
            if guard.check(password, request.remote_addr or "?"):
                g.api_auth = True
                return None
            raise AuthError("wrong password")
        if wants_json() or request.method != "GET":
            raise AuthError("login required: send the password as HTTP Basic or 'Authorization: Bearer <password>'")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def is_logged_in() -> bool:
    """True for a logged-in browser session or when no login is needed (for templates)."""
    guard = current_app.extensions.get("edgeinv_auth")
    return guard is None or bool(session.get("auth") and session.get("pwv") == guard.version)
