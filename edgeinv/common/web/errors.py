"""One error handler for the web UI and API: JSON for API clients, a friendly page for browsers.

Every failure of a request ends here: an :class:`~edgeinv.common.errors.EdgeinvError` (status from its
class), an HTTP error raised by Flask/Werkzeug (404, 405, 413, ...) or an unexpected exception (500,
logged with its traceback under a short incident id; the user sees the id, never the traceback).
API paths (``/api/``) and clients preferring JSON get ``{"error", "message", "status"}`` (plus
``hint`` when the error has one); browsers get ``error.html`` with a link back.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from ..errors import AuthError, EdgeinvError, PayloadTooLargeError
from .context import current_ctx, wants_json
from .upload import limit_message

log = logging.getLogger("edgeinv.web")

_TITLES = {400: "Invalid input", 401: "Login required", 403: "Not allowed", 404: "Not found",
           405: "Method not allowed", 413: "File too large", 415: "Unsupported file format",
           409: "Already in progress", 429: "Too many attempts", 500: "Something went wrong",
           503: "Busy, try again shortly", 504: "Took too long", 507: "Disk full"}


class CsrfError(AuthError):
    """A form POST without a valid token, or from another site (HTTP 403)."""

    status = 403


class ThrottledError(AuthError):
    """Too many failed password attempts (HTTP 429 with Retry-After)."""

    status = 429

    def __init__(self, message: str, *, retry_after_s: float, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class HostNotAllowedError(EdgeinvError):
    """The request's Host header is not a name of this device (HTTP 400; DNS-rebinding defence)."""

    status = 400


class ConflictError(EdgeinvError):
    """The same Idempotency-Key is being processed by another request (HTTP 409)."""

    status = 409


def _http_name(exc: HTTPException) -> str:
    return "".join(w.capitalize() for w in (exc.name or "HTTPError").replace("-", " ").split()) or "HTTPError"


def error_response(status: int, name: str, message: str, *, hint: str | None = None, headers=None):
    """Render one error as JSON or HTML depending on the request."""
    if wants_json():
        body = {"error": name, "message": message, "status": status}
        if hint:
            body["hint"] = hint
        resp = jsonify(body)
    else:
        first = request.path.strip("/").split("/", 1)[0]
        back = f"/{first}/" if first and first in _app_names() else "/"
        resp = make_response(render_template("error.html", status=status, title=_TITLES.get(status, "Error"),
                                             message=message, hint=hint, back=back))
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _app_names() -> set[str]:
    try:
        return set(current_ctx().app_names)
    except (KeyError, AttributeError, RuntimeError):
        return set()


def register_error_handlers(flask_app: Flask) -> None:
    """Install the handlers on ``flask_app`` (done by ``create_app``)."""

    @flask_app.errorhandler(EdgeinvError)
    def _edgeinv(exc: EdgeinvError):
        headers = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="edgeinv"'
        if getattr(exc, "retry_after_s", None):
            headers["Retry-After"] = str(int(max(1, exc.retry_after_s)))
        if exc.status >= 500:
            log.error("%s %s failed: %s", request.method, request.path, exc)
        return error_response(exc.status, type(exc).__name__, exc.message, hint=exc.hint, headers=headers)

    @flask_app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.code == 413:
            limit = int(flask_app.config.get("EDGEINV_MAX_UPLOAD_BYTES") or 0)
            err = PayloadTooLargeError(limit_message(limit) if limit else "the upload is too large")
            return error_response(413, type(err).__name__, err.message)
        headers = {}
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(exc.valid_methods)
        message = exc.description or exc.name
        if exc.code == 404:
            message = f"There is no page at {request.path}."
        return error_response(exc.code or 500, _http_name(exc), message, headers=headers)

    @flask_app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        incident = secrets.token_hex(4)
        log.exception("incident %s: %s %s raised %s", incident, request.method, request.path, type(exc).__name__)
        return error_response(500, "InternalError",
                              f"An unexpected error happened (incident {incident}). It has been logged on the "
                              "device; please try again or report the incident id.")
