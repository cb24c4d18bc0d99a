"""One JSON sanitiser for the whole core: results, manifests, device state, the store, ``--json`` output."""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from .errors import InvalidInputError

__all__ = ["jsonable"]


def jsonable(obj: Any) -> Any:
    """Turn numpy scalars/arrays, tuples, sets, paths, enums, dates and objects with ``to_dict`` into JSON
    types; NaN and inf become None. Anything else is an InvalidInputError (never silently dropped)."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):  # dict, and the read-only views of the typed manifest
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return jsonable(obj.to_dict())
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return jsonable(obj.tolist())
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "value") and hasattr(type(obj), "__members__"):  # enum
        return jsonable(obj.value)
    raise InvalidInputError(f"cannot express a value of type {type(obj).__name__} as JSON")
