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
* Sessions are also kept server-side (``web_sessions`` in the store, by the sha256 of a random id):
  logout deletes this browser's session (``all=1``: every session), a password change
  (``/password``, or a new ``EDGEINV_PASSWORD`` at restart) deletes every session, so a session
  cookie captured before stops working.
* Failed password checks are throttled per client address and channel (browser login form / API
  credentials: a gateway with a wrong password does not lock the technician's browser out), 10 per
  10 minutes; addresses count per IPv4 address, per IPv6 /64 and all loopback addresses as one.
  A global budget (30 failures per 10 minutes from all addresses together) stops guesses spread over
  many addresses. When throttled: 429 with Retry-After (browser and API); the password that already
  passed from the same client address keeps working (so a gateway is not locked out by a flood).

The Flask secret key is ``settings.secret_key`` or a random key persisted in
``<data_dir>/secret_key`` (mode 0600) so sessions survive restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
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
from .errors import CsrfError, ThrottledError

PASSWORD_FILE = "ui_password.hash"
SECRET_FILE = "secret_key"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FAILURES, FAILURE_WINDOW_S = 10, 600
MAX_GLOBAL_FAILURES = 30
SESSION_LIFETIME_S = 12 * 3600
_OPEN_ENDPOINTS = {"static", "auth.login", "healthz"}


def client_group(addr: str | None) -> str:
    """The throttling bucket of a client address: the IPv4 address, the IPv6 /64, or ``loopback``."""
    try:
        ip = ipaddress.ip_address(addr or "")
    except ValueError:
        return str(addr or "?")
    if ip.is_loopback:
        return "loopback"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return client_group(str(ip.ipv4_mapped))
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


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
    """Password checks with per-client and global failure throttles, and a cache of accepted API passwords."""

    def __init__(self, password_hash: str, version: str):
        self.password_hash = password_hash
        self.version = version
        self._ok_digests: set[tuple[str, bytes]] = set()  # (client group, sha256) that passed
        self._failures: dict[str, list[float]] = {}
        self._global: list[float] = []
        self._lock = threading.Lock()

    def set_password(self, password_hash: str, version: str) -> None:
        with self._lock:
            self.password_hash, self.version = password_hash, version
            self._ok_digests.clear()

    def blocked_for_s(self, client: str, channel: str = "browser") -> float:
        """Seconds until ``client`` (an address) may try a password on ``channel`` again; 0 if now."""
        now = time.monotonic()
        bucket = f"{channel}:{client_group(client)}"
        with self._lock:
            recent = [t for t in self._failures.get(bucket, []) if now - t < FAILURE_WINDOW_S]
            if recent:
                self._failures[bucket] = recent
            else:
                self._failures.pop(bucket, None)
            self._global = [t for t in self._global if now - t < FAILURE_WINDOW_S]
            wait = FAILURE_WINDOW_S - (now - recent[0]) if len(recent) >= MAX_FAILURES else 0.0
            if len(self._global) >= MAX_GLOBAL_FAILURES:
                wait = max(wait, FAILURE_WINDOW_S - (now - self._global[-MAX_GLOBAL_FAILURES]))
            return wait

    def check(self, password: str, client: str, channel: str = "browser") -> bool:
        """True if ``password`` is right; ThrottledError (429) while ``client`` or everyone is throttled."""
        digest = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
        group = client_group(client)
        with self._lock:  # what passed from this client before passes again, even while others are throttled
            if any(g == group and hmac.compare_digest(digest, d) for g, d in self._ok_digests):
                return True
        wait = self.blocked_for_s(client, channel)
        if wait > 0:
            raise ThrottledError(f"too many failed password attempts; try again in {int(wait // 60) + 1} min",
                                 retry_after_s=wait)
        ok = check_password_hash(self.password_hash, password)
        with self._lock:
            if ok:
                if len(self._ok_digests) < 64:  # scrypt costs ~0.1 s: remember what passed, per client
                    self._ok_digests.add((group, digest))
            else:
                now = time.monotonic()
                self._failures.setdefault(f"{channel}:{client_group(client)}", []).append(now)
                self._global.append(now)
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


def _session_ok(guard, store) -> bool:
    if "session_ok" not in g:
        g.session_ok = bool(session.get("auth") and session.get("pwv") == guard.version
                            and store.session_valid(session.get("sid"), guard.version))
    return g.session_ok


def _start_session(guard, store) -> None:
    session.clear()
    session.permanent = True
    sid = secrets.token_urlsafe(32)
    store.create_session(sid, guard.version, SESSION_LIFETIME_S)
    session.update(auth=True, pwv=guard.version, sid=sid)
    csrf_token()


def _write_password_hash(settings: Settings, password: str) -> str:
    """Replace the stored password hash (atomically, mode 0600); returns the new version."""
    path = Path(settings.data_dir) / PASSWORD_FILE
    stored = generate_password_hash(password)
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(stored + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return hashlib.sha256(stored.encode()).hexdigest()[:16]


def init_auth(flask_app: Flask, settings: Settings, store=None) -> None:
    """Install secret key, session cookie policy, login/logout, the login gate and CSRF checks."""
    flask_app.secret_key = load_secret_key(settings)
    flask_app.config.update(SESSION_COOKIE_NAME="edgeinv_session", SESSION_COOKIE_HTTPONLY=True,
                            SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME_S)
    required = not settings.is_loopback
    guard = _Guard(*load_password_hash(settings, secret_key=flask_app.secret_key)) if required else None
    if store is None:
        from .context import EXTENSION_KEY

        store = flask_app.extensions[EXTENSION_KEY].store
    if guard is not None:
        store.revoke_sessions(keep_pwv=guard.version)  # the password changed since: those sessions end
    flask_app.extensions["edgeinv_auth"] = guard
    flask_app.jinja_env.globals.update(csrf_token=csrf_token, csrf_field=csrf_field, login_required=required,
                                       password_changeable=required and not settings.password)
    bp = Blueprint("auth", __name__)

    @bp.route("/login", methods=["GET", "POST"])
    def login():
        nxt = _safe_next(request.values.get("next"))
        if not required:
            return redirect(nxt)
        error, status, headers = None, 200, {}
        if request.method == "POST":
            try:
                if guard.check(request.form.get("password", ""), request.remote_addr or "?", "browser"):
                    _start_session(guard, store)
                    return redirect(nxt)
                error, status = "Wrong password.", 401
            except ThrottledError as exc:
                error, status = f"Too many failed attempts; {exc.message.split('; ', 1)[-1]}.", 429
                headers["Retry-After"] = str(int(max(1, exc.retry_after_s)))
        return render_template("login.html", error=error, next=nxt), status, headers

    @bp.route("/logout", methods=["POST"])
    def logout():
        if required:
            if request.form.get("all") in ("1", "on", "true"):
                store.revoke_sessions()
            else:
                store.revoke_session(session.get("sid"))
        session.clear()
        return redirect(url_for("auth.login") if required else "/")

    @bp.route("/password", methods=["GET", "POST"])
    def change_password():
        if not required:
            return redirect("/")
        if settings.password:
            raise ConfigError("the password is set by EDGEINV_PASSWORD (or the config file); change it there and "
                              "restart — every session then ends")
        error, status = None, 200
        if request.method == "POST":
            current = request.form.get("current", "")
            new, confirm = request.form.get("new", ""), request.form.get("confirm", "")
            if not guard.check(current, request.remote_addr or "?", "browser"):
                error, status = "The current password is wrong.", 401
            elif len(new) < 10:
                error, status = "The new password needs at least 10 characters.", 400
            elif new != confirm:
                error, status = "The two new passwords differ.", 400
            else:
                version = _write_password_hash(settings, new)
                guard.set_password(Path(settings.data_dir, PASSWORD_FILE).read_text().strip(), version)
                store.revoke_sessions()  # every browser logs in again, with the new password
                _start_session(guard, store)
                return redirect("/")
        return render_template("password.html", error=error), status

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
        if _session_ok(guard, store):
            if request.method in UNSAFE_METHODS:
                sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
                if not hmac.compare_digest(str(sent), str(session.get("csrf", ""))):
                    raise CsrfError("the form has expired or was not sent from this site; reload the page and try again")
            return None
        password = _credentials()
        if password is not None:
            if guard.check(password, request.remote_addr or "?", "api"):
                g.api_auth = True
                return None
            raise AuthError("wrong password")
        if wants_json() or request.method != "GET":
            raise AuthError("login required: send the password as HTTP Basic or 'Authorization: Bearer <password>'")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def is_logged_in() -> bool:
    """True for a logged-in browser session or when no login is needed (for templates)."""
    guard = current_app.extensions.get("edgeinv_auth")
    if guard is None:
        return True
    from .context import EXTENSION_KEY

    return _session_ok(guard, current_app.extensions[EXTENSION_KEY].store)
