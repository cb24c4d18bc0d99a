"""One file or message -> the app's edge path -> a stored result, the way an upload is stored.

Used by the MQTT ingester and the batch runner; generic over the App contract
(``read_many`` -> ``config_for`` -> ``predict`` -> ``to_dict``) and the shared
:class:`~edgeinv.common.web.store.Store` (entities per app: a machine, a field, a flight).

Metadata (``fs_hz``, ``rpm``, ``bearing``, ...) reaches ``app.read_many`` as keyword arguments.
Values that arrive as text (MQTT user properties) are converted to numbers for the reader
parameters annotated as numbers. An entity's stored settings fill what a message lacks: its text
settings (bearing, camera, crop ...) are passed up front, its numbers (nominal rpm, sampling rate)
only when the reader says the file lacks them (:class:`MissingMetadataError`), as the upload pages do.

An app may provide ``analyse_for_store(data, *, filename, entity, meta, runner_for) -> (summary,
blobs)`` to store exactly what its upload page stores (plots, advice, overlays); without it the
generic summary is the result's ``to_dict()`` plus ``filename``, ``measured_at`` (and ``ingest``: how
it arrived, added by the caller).
"""

from __future__ import annotations

import datetime as _dt
import inspect
import io
import re
from typing import Any, Callable

import numpy as np

from ..errors import InvalidInputError, MissingMetadataError, NotFoundError

#: the Store ``kind`` of the entity each app's results hang on (what its web pages list)
ENTITY_KINDS = {"bearing-wear": "machine", "leaf-nitrogen": "field", "veg-cover": "flight"}

#: metadata keys that are about the message, not reader arguments
RESERVED = {"id", "message_id", "message-id", "machine", "entity", "field", "flight", "measured_at", "filename",
            "data", "data_b64", "samples", "content_type", "app"}
ALIASES = {"fs": "fs_hz", "machine_class": "machine_class", "n-to-protein": "n_to_protein"}

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


def entity_kind(app) -> str:
    """The Store kind of the app's entities (``machine``, ``field``, ``flight``; ``item`` for others)."""
    return getattr(app, "entity_kind", None) or ENTITY_KINDS.get(app.name, "item")


def measured_at_iso(raw) -> str:
    """An ISO 8601 time in UTC (seconds); now if ``raw`` is empty. InvalidInputError otherwise."""
    if raw in (None, ""):
        return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    try:
        t = _dt.datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        return t.astimezone(_dt.timezone.utc).isoformat(timespec="seconds")
    except (ValueError, OverflowError):
        raise InvalidInputError(f"measured_at must be an ISO 8601 time, got {raw!r}") from None


def sniff_suffix(data: bytes) -> str:
    """A file suffix from the first bytes (readers need no name, but results show one)."""
    head = bytes(data[:16])
    if head[:4] == b"RIFF":
        return ".wav"
    if head[:6] == b"\x93NUMPY":
        return ".npy"
    if head[:4] == b"PK\x03\x04":
        return ".npz"
    if head[:6] == b"MATLAB":
        return ".mat"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    if head[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    return ".csv"


def safe_filename(name: str | None, data: bytes, default_stem: str = "message") -> str:
    """A plain file name (no folders) for a payload, from ``name`` or the payload's format."""
    if name:
        base = _SAFE_NAME.sub("_", str(name).replace("\\", "/").rsplit("/", 1)[-1]).strip("._")
        if base:
            return base[:120]
    return f"{default_stem}{sniff_suffix(data)}"


def _numeric_params(app) -> set[str]:
    try:
        params = inspect.signature(app.read).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return set()
    out = set()
    for name, p in params.items():
        ann = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", str(p.annotation))
        if ("float" in ann or "int" in ann) and "str" not in ann:
            out.add(name)
    return out


def reader_meta(app, raw: dict[str, Any]) -> dict[str, Any]:
    """Message metadata -> keyword arguments for ``app.read_many`` (aliases, numbers, reserved keys dropped)."""
    numeric = _numeric_params(app)
    meta = {}
    for key, value in raw.items():
        key = ALIASES.get(str(key), str(key).replace("-", "_"))
        if key in RESERVED or value is None or value == "":
            continue
        if key in numeric and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise InvalidInputError(f"{key} must be a number, got {value!r}") from None
        if isinstance(value, (dict, list)):
            raise InvalidInputError(f"{key} must be a single value, got {type(value).__name__}")
        meta[key] = value
    return meta


def _named_params(app) -> set[str]:
    try:
        params = inspect.signature(app.read).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover
        return set()
    return {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def read_samples(app, data, *, filename: str, meta: dict, entity: dict | None = None) -> list:
    """``app.read_many`` with the entity's settings filling what the message lacks (see module docstring)."""
    kwargs, fallback = dict(meta), {}
    named = _named_params(app) - {"filename"}
    for key, value in ((entity or {}).get("data") or {}).items():
        if key in kwargs or key not in named:
            continue
        if isinstance(value, str):
            kwargs[key] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            fallback[key] = value
    try:
        return app.read_many(data, filename=filename, **kwargs)
    except MissingMetadataError:
        if not fallback:
            raise
    return app.read_many(data, filename=filename, **{**fallback, **kwargs})  # nominal values for what is missing


def samples_to_npy(samples) -> bytes:
    """A JSON list of numbers (a gateway's raw samples) as ``.npy`` bytes."""
    try:
        arr = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError("'samples' must be a list of numbers") from None
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(f"'samples' must be a flat, non-empty list of numbers, got shape {arr.shape}")
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def analyse(app, data, *, filename: str, meta: dict, runner_for: Callable[[str], Any],
            entity: dict | None = None, measured_at: str | None = None) -> tuple[dict, dict]:
    """Read, predict and summarise one payload -> ``(summary, blobs)`` ready for ``Store.add_result``.

    ``data`` is the file's bytes or its path (readers stream big files from a path).
    """
    hook = getattr(app, "analyse_for_store", None)
    when = measured_at_iso(measured_at)
    if callable(hook):
        summary, blobs = hook(data, filename=filename, entity=entity, meta=meta, runner_for=runner_for)
        summary = {**summary, "filename": filename}
        summary.setdefault("measured_at", when)
        return summary, dict(blobs or {})
    samples = read_samples(app, data, filename=filename, meta=meta, entity=entity)
    results = [app.predict(s, runner_for(app.config_for(s))) for s in samples]
    if len(results) == 1 and not app.many_samples_per_file:
        summary = dict(results[0].to_dict())
    else:
        summary = {"results": [r.to_dict() for r in results], "n_samples": len(results)}
    summary.update(filename=filename, measured_at=when)
    return summary, {}


def results_equal_view(summary: dict) -> dict:
    """The part of a summary that depends on the model only (no file name, time or ingest record)."""
    return {k: v for k, v in summary.items() if k not in ("filename", "measured_at", "ingest")}


class EntityResolver:
    """Find an app's entity by name, or create it (``unknown='create'``) or refuse it (``'refuse'``)."""

    def __init__(self, store, app, *, unknown: str = "create", defaults: dict | None = None):
        if unknown not in ("create", "refuse"):
            raise InvalidInputError(f"unknown entities: choose 'create' or 'refuse', got {unknown!r}")
        self.store, self.app, self.unknown = store, app, unknown
        self.kind = entity_kind(app)
        self.defaults = dict(defaults or {})
        self._ids: dict[str, int] = {}

    def _lookup(self, name: str) -> dict | None:
        if name in self._ids:
            try:
                return self.store.get_entity(self._ids[name], app=self.app.name, kind=self.kind)
            except NotFoundError:
                self._ids.pop(name, None)
        for e in self.store.list_entities(self.app.name, self.kind):
            self._ids.setdefault(e["name"], e["id"])
        if name in self._ids:
            return self.store.get_entity(self._ids[name])
        return None

    def resolve(self, name: str, *, meta: dict | None = None, origin: dict | None = None) -> dict:
        """The entity called ``name``; created from the defaults and the first message's metadata if allowed."""
        name = str(name or "").strip()
        if not name:
            raise InvalidInputError(f"the message names no {self.kind}")
        found = self._lookup(name)
        if found is not None:
            return found
        if self.unknown == "refuse":
            raise NotFoundError(f"unknown {self.kind} {name!r} (the ingester refuses unknown {self.kind}s; "
                                f"create it in the UI or run with --unknown create)")
        data = {**self.defaults}
        for k, v in (meta or {}).items():
            if isinstance(v, (str, int, float)) and not isinstance(v, bool):
                data.setdefault(k, v)
        data["created_by"] = {**(origin or {}), "at": measured_at_iso(None)}
        eid = self.store.add_entity(self.app.name, self.kind, name, data)
        self._ids[name] = eid
        return self.store.get_entity(eid)
