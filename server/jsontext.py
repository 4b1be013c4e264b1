"""Fast JSON text for the hot paths (JSON columns, the sync push body and answer), through orjson.

orjson is several times faster than :mod:`json` on the small documents Lineside stores and
syncs. Where the two differ, :mod:`json` takes over, so nothing that parsed or stored
before is refused now: an integer beyond 64 bits, or ``NaN`` in stored text. NaN and
infinities are written as ``null`` (JSON has no spelling for them, and PostgreSQL refuses
``NaN``).
"""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

import orjson


def json_dumps(value: Any) -> str:
    """A JSON column's value as text: orjson, several times faster than :mod:`json` on small documents.

    NaN and infinities become ``null`` (JSON has no spelling for them, and PostgreSQL refuses
    ``NaN``). What orjson refuses (an integer beyond 64 bits, say) goes through :mod:`json`.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def json_loads(text: str | bytes) -> Any:
    """A JSON column's text as a value (orjson, or :mod:`json` for what orjson refuses, such as ``NaN``)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            return json.loads(text)
        except RecursionError:  # nested deeper than the interpreter's stack: not a value anyone stores
            raise ValueError("JSON nested too deep") from None


def dumps_bytes(value: Any) -> bytes:
    """``value`` as UTF-8 JSON bytes, for a response body.

    Besides plain JSON values it takes UUIDs (as their string), datetimes (ISO 8601, UTC as
    ``Z``) and dates (``YYYY-MM-DD``), and raises ``TypeError`` for anything else. Integers
    beyond 64 bits go through :mod:`json`.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)
    except TypeError:
        return json.dumps(value, default=_as_json).encode()


_JSON_PLAIN = frozenset({str, int, float, bool, type(None), dict, list})


def jsonable(value: Any) -> Any:
    """A column value as JSON: UUIDs as strings, datetimes as ISO 8601 UTC (``Z``), dates as ``YYYY-MM-DD``.

    Anything else is answered as it is.
    """
    if type(value) in _JSON_PLAIN:
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def jsonable_deep(value: Any) -> Any:
    """:func:`jsonable` through dicts (keys as strings), lists and tuples: a value ready for a JSON column."""
    if isinstance(value, dict):
        return {str(k): jsonable_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable_deep(v) for v in value]
    return jsonable(value)


def _as_json(value: Any) -> Any:
    out = jsonable(value)
    if out is value:
        raise TypeError(f"{type(value).__name__} is not JSON")
    return out
