"""Parsing what a browser form or an API client sent: one JSON-or-form payload, validated numbers."""

from __future__ import annotations

import math

from flask import request

from ..errors import InvalidInputError


def request_payload() -> dict:
    """The request's JSON object (API clients) or its form fields (browsers), as a plain dict."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInputError("the request body must be a JSON object")
        return body
    return request.form.to_dict()


def form_number(form: dict, key: str, *, low: float = -math.inf, high: float = math.inf,
                low_exclusive: bool = False, required: bool = False) -> float | None:
    """``form[key]`` as a finite float within ``[low, high]`` (``(low, high]`` if ``low_exclusive``).

    Empty or missing gives None, or InvalidInputError naming the field when ``required``.
    """
    raw = form.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise InvalidInputError(f"{key} is required")
        return None
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{key} must be a number, got {raw!r}") from None
    too_low = v <= low if low_exclusive else v < low
    if not math.isfinite(v) or too_low or v > high:
        lo = f"> {low:g}" if low_exclusive else f">= {low:g}"
        rule = lo if high == math.inf else f"between {low:g} and {high:g}" if not low_exclusive else f"{lo} and <= {high:g}"
        raise InvalidInputError(f"{key} must be {rule}, got {raw!r}")
    return v
