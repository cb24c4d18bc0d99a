"""One file or message -> the app's edge path -> a stored result, the way an upload is stored.

Used by the MQTT ingester and the batch runner; generic over the App contract
(``read_many`` -> ``config_for`` -> ``predict`` -> ``to_dict``) and the shared
:class:`~edgeinv.common.web.store.Store` (entities per app: a machine, a field, a flight).

Metadata (``fs_hz``, ``rpm``, ``bearing``, ...) become the app's predict options
(``App.options_type``; text values converted and range-checked there, source ``message``). An
entity's stored settings fill what a message lacks exactly as on the upload page: analysis settings
(bearing, ISO class, zone size ...) up front, file parameters (nominal rpm, sampling rate) only when
the reader says the file lacks them (``MissingMetadataError.field``). What is stored is what the
app's entity flow stores for an upload (``App.entity_flow()``: advice, plots, overlays, missions),
plus ``filename``, ``measured_at`` (and ``ingest``: how it arrived, added by the caller).
"""

from __future__ import annotations

import datetime as _dt
import io
import re
from typing import Any, Callable

import numpy as np

from ..errors import EdgeinvError, InvalidInputError, NotFoundError
from ..web.entities import measured_at_iso

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


def reader_meta(app, raw: dict[str, Any]) -> dict[str, Any]:
    """Message metadata -> the app's option values (aliases such as ``fs`` renamed, reserved keys dropped).

    Text values (MQTT user properties) of the app's options are converted and checked by the options'
    specs (a bad one names the option, its range and the value); other keys are kept as they came.
    """
    specs = {spec.name: spec for spec in app.options_type.specs()}
    meta = {}
    for key, value in app.options_type.canonical(raw).items():
        key = ALIASES.get(key, key)
        if key in RESERVED or key.replace("_", "-") in RESERVED or value is None or value == "":
            continue
        if isinstance(value, (dict, list)):
            raise InvalidInputError(f"{key} must be a single value, got {type(value).__name__}")
        meta[key] = specs[key].convert(value) if key in specs else value
    return meta


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
            entity: dict | None = None, measured_at: str | None = None, source: str = "message",
            updates: list | None = None) -> tuple[dict, dict]:
    """Read, predict and summarise one payload -> ``(summary, blobs)`` ready for ``Store.add_result``.

    The same call as an upload: the app's entity flow (``App.entity_flow().analyse``: advice, plots,
    overlays, mission files) over :func:`edgeinv.common.analysis.analyse`, with the entity's settings
    filling what the message lacks. ``data`` is the file's bytes or its path (readers stream big files
    from a path). ``source``: ``message`` (MQTT) or ``flag`` (batch on the command line). ``updates``: a
    list that receives the entity's settings to change once the result is stored (a leaf-nitrogen
    reference strip becomes the field's reference), as an upload does; :func:`apply_update` applies one.
    """
    when = measured_at_iso(measured_at)
    entity = entity or {"id": None, "data": {}}
    flow = app.entity_flow()
    if flow is not None:
        stored = flow.analyse(entity, data, filename=filename, params=meta, runner_for=runner_for, source=source)
        summary, blobs = dict(stored.summary), dict(stored.blobs or {})
        if updates is not None and stored.entity_update:
            updates.append(dict(stored.entity_update))
    else:
        from ..analysis import analyse as core_analyse

        done = core_analyse(app, data, filename=filename, runner_for=runner_for, given=meta, source=source,
                            defaults=entity.get("data") or {})
        summary, blobs = done.to_dict(), {}
    summary.update(filename=filename, measured_at=when)
    return summary, blobs


def apply_update(store, entity_id: int, update: dict | None) -> None:
    """Merge ``update`` into the stored entity's settings (after its result is stored, as an upload does)."""
    if update:
        store.update_entity(entity_id, {**store.get_entity(entity_id)["data"], **update})


def results_equal_view(summary: dict) -> dict:
    """The part of a summary that depends on the model only (no file name, time or ingest record; of the
    parameters their values, not where they came from: an entity's setting and the file may agree)."""
    out = {k: v for k, v in summary.items() if k not in ("filename", "measured_at", "ingest", "parameters")}
    if isinstance(summary.get("parameters"), dict):
        out["parameters"] = {k: p.get("value") if isinstance(p, dict) else p for k, p in summary["parameters"].items()}
    return out


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
        flow = self.app.entity_flow()
        if flow is not None:  # checked as the settings form checks them (ranges, required, choices)
            try:
                data = flow.parse_settings(data)
            except EdgeinvError as exc:
                raise InvalidInputError(f"cannot create {self.kind} {name!r} from the message and the defaults: "
                                        f"{exc.message}", hint="give its settings with --defaults '{...}' "
                                        "or create it in the UI") from None
        data["created_by"] = {**(origin or {}), "at": measured_at_iso(None)}
        eid = self.store.add_entity(self.app.name, self.kind, name, data)
        self._ids[name] = eid
        return self.store.get_entity(eid)
