"""One error hierarchy for edgeinv; every class knows its HTTP status and matches a builtin.

::

    EdgeinvError (Exception, 500)
    ├── InvalidInputError (ValueError, 400)        bad file, bad value, NaN/inf, wrong shape
    │   ├── UnsupportedFormatError (415)          not a format this reader understands
    │   └── MissingMetadataError (400)            e.g. no sampling rate in the file and no --fs
    ├── PayloadTooLargeError (ValueError, 413)     input larger than the configured limit
    ├── ConfigError (ValueError, 400)              invalid setting (names parameter, allowed, given)
    ├── NotFoundError (LookupError, 404)           unknown app, machine, field, flight, result
    ├── AuthError (PermissionError, 401)           login required or wrong password
    └── ModelError (RuntimeError, 500)             model missing, or failing its checks
        ├── ModelIntegrityError (500)             sha256 or signature does not match the manifest
        └── ExportParityError (500)               ONNX output differs from torch past tolerance

The CLI prints ``error: <message>`` and exits with :attr:`EdgeinvError.exit_code`; the Flask handler
renders JSON for the API and a friendly page for browsers. A user never sees a traceback.
"""

from __future__ import annotations


class EdgeinvError(Exception):
    """Base of all edgeinv errors."""

    status = 500
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"

    def to_dict(self) -> dict:
        d = {"error": type(self).__name__, "message": self.message, "status": self.status}
        if self.hint:
            d["hint"] = self.hint
        return d


class InvalidInputError(EdgeinvError, ValueError):
    status = 400
    exit_code = 2


class UnsupportedFormatError(InvalidInputError):
    status = 415


class MissingMetadataError(InvalidInputError):
    """The file lacks a parameter the analysis needs; ``field`` names it (``fs_hz``, ``rpm``, ``bands``) so
    callers can fill it from an entity's settings (:func:`edgeinv.common.analysis.read_samples`)."""

    status = 400

    def __init__(self, message: str, *, hint: str | None = None, field: str | None = None):
        super().__init__(message, hint=hint)
        self.field = field


class PayloadTooLargeError(EdgeinvError, ValueError):
    status = 413
    exit_code = 2


class ConfigError(EdgeinvError, ValueError):
    status = 400
    exit_code = 2


class NotFoundError(EdgeinvError, LookupError):
    status = 404
    exit_code = 3


class AuthError(EdgeinvError, PermissionError):
    status = 401
    exit_code = 4


class ModelError(EdgeinvError, RuntimeError):
    status = 500
    exit_code = 5


class ModelIntegrityError(ModelError):
    pass


class ExportParityError(ModelError):
    pass


def check_finite(name: str, array) -> None:
    """Raise InvalidInputError if `array` holds NaN or inf (readers call this on what they read)."""
    import numpy as np

    a = np.asarray(array)
    if a.size == 0:
        raise InvalidInputError(f"{name} is empty")
    if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise InvalidInputError(f"{name} holds {bad} NaN or infinite value(s)")
