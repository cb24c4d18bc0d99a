"""Reading one uploaded file from a request: multipart form field or raw body, size-checked.

Browsers send ``multipart/form-data`` (the file in a form field, ``file`` by default). Sensor gateways
may do the same (``curl -F file=@rec.wav``) or POST the raw bytes with any other content type
(``curl --data-binary @rec.wav -H 'Content-Type: application/octet-stream'``), naming the file with
``?filename=rec.wav`` or an ``X-Filename`` header so the reader can pick the format by extension.
"""

from __future__ import annotations

import unicodedata

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from ..errors import InvalidInputError, PayloadTooLargeError

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def limit_message(max_bytes: int) -> str:
    return f"the upload is larger than the limit of {max_bytes / 2**20:.3g} MB (setting max_upload_mb)"


MAX_NAME_CHARS = 200


def clean_filename(name: str | None) -> str:
    """The file's own name as the user gave it, minus what could not be a name.

    Folder parts (``/`` or ``\\``), control characters and leading dots/spaces go; everything else
    (``@``, ``#``, spaces, accents, any script) is kept, so the name shown is the name of the file on
    the user's disk. Pages escape it when they show it; it is never used as a server-side path.
    Longer than :data:`MAX_NAME_CHARS`: shortened in the middle, keeping the extension.
    """
    if not name:
        return ""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().lstrip(". ")
    if len(base) > MAX_NAME_CHARS:
        stem, dot, ext = base.rpartition(".")
        ext = dot + ext if dot and 0 < len(ext) <= 16 else ""
        base = base[: MAX_NAME_CHARS - len(ext) - 1] + "…" + ext
    return base or "upload"


_clean_name = clean_filename


def read_upload(*, field: str = "file", max_bytes: int) -> tuple[bytes, str]:
    """``(bytes, filename)`` of the uploaded file in ``field`` (or the raw request body).

    Raises
    ------
    PayloadTooLargeError : the request or the file is larger than ``max_bytes`` (HTTP 413).
    InvalidInputError : no file was sent, or it is empty (HTTP 400).
    """
    if request.content_length is not None and request.content_length > max_bytes + 64 * 1024:
        raise PayloadTooLargeError(limit_message(max_bytes))
    mimetype = request.mimetype or ""
    named = request.args.get("filename") or request.headers.get("X-Filename")
    try:
        if mimetype == "application/x-www-form-urlencoded" and (
                named or not request.get_data(cache=True).startswith(f"{field}=".encode())):
            # `curl --data-binary @rec.wav` sends raw bytes under this content type by default; a
            # urlencoded form can carry no file anyway, so anything but `file=...` is the file itself.
            mimetype = "application/octet-stream"
        if mimetype in _FORM_TYPES:
            storage = request.files.get(field)
            if storage is None:
                if field in request.form:
                    raise InvalidInputError(f"the form field {field!r} holds no file; choose a file to upload "
                                            "(the form needs enctype=\"multipart/form-data\")")
                raise InvalidInputError(f"no file uploaded: choose a file (form field {field!r})")
            filename = _clean_name(storage.filename)
            data = storage.stream.read(max_bytes + 1)
        else:
            data = request.get_data(cache=False)
            filename = _clean_name(named)
    except RequestEntityTooLarge:
        raise PayloadTooLargeError(limit_message(max_bytes)) from None
    if len(data) > max_bytes:
        raise PayloadTooLargeError(limit_message(max_bytes))
    if not data:
        if mimetype in _FORM_TYPES:
            raise InvalidInputError(f"the uploaded file {filename or '(unnamed)'} is empty")
        raise InvalidInputError(f"no file uploaded: send it in the form field {field!r} or as the request body")
    return data, filename or "upload"
