"""Field declarations: one value type with its limits and default, read by every path.

A domain declares each field a client may write once, as a :class:`FieldSpec`
(``server/inspect/rules.py``, ``server/timeline/rules.py``). The sync planner cleans pushed
values with :meth:`FieldSpec.clean`, the API's marshmallow schemas are built with
:meth:`FieldSpec.marshmallow`, and the generated rules page (``docs/rules.md``) prints
:meth:`FieldSpec.describe`; none restates a limit. Plain code: no Flask, no database.

Cleaning never raises anything but :class:`FieldError` for a value that came from a client,
however odd (a year that leaves the calendar when moved to UTC, an integer no float can
hold, a list nested a thousand levels deep): one bad value rejects one mutation, never a
whole push.
"""
from __future__ import annotations

import functools
import math
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from marshmallow import fields as ma_fields
from marshmallow import validate as ma_validate

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: The deepest nesting a JSON value may have (a checklist answer or a photo location is shallow).
MAX_JSON_DEPTH = 16
_NO_DEFAULT = object()


class FieldError(ValueError):
    """A value does not fit its field."""


@dataclass(frozen=True)
class FieldSpec:
    """One client-writable field: its type, limits and default.

    ``kind`` is one of ``str``, ``int``, ``float``, ``bool``, ``uuid``, ``datetime``, ``date``, ``json``.
    ``ref`` names the entity an id must point to (checked for existence and scope by the service).
    ``create_only`` fields may be given when the row is created and never changed afterwards.
    ``max_days_ahead`` bounds a ``date`` to at most that many days after today (UTC).
    ``default`` is what a new row gets when the field is not given (``None`` when nullable).
    ``derived`` says the value is worked out by the domain when not given (``doc`` says how).
    """

    kind: str
    required: bool = False
    nullable: bool = False
    max_len: int | None = None
    min_len: int = 0
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: re.Pattern | None = None
    ref: str | None = None
    create_only: bool = False
    max_days_ahead: int | None = None
    default: Any = _NO_DEFAULT
    derived: bool = False
    doc: str = ""

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    def clean(self, value: Any) -> Any:
        """Return ``value`` converted to its Python type. Raises ``FieldError`` when it does not fit."""
        if value is None:
            if self.nullable:
                return None
            raise FieldError("May not be null.")
        return _CLEANERS[self.kind](self, value)

    def _range(self, value: float) -> None:
        if self.minimum is not None and value < self.minimum:
            raise FieldError(f"Must be at least {self.minimum:g}.")
        if self.maximum is not None and value > self.maximum:
            raise FieldError(f"Must be at most {self.maximum:g}.")

    # -- the same declaration, read by the API's schemas and the rules page --
    def marshmallow(self, **kw: Any) -> ma_fields.Field:
        """A marshmallow field with this declaration's type, limits and default (``kw`` adds metadata)."""
        opts: dict[str, Any] = {"allow_none": self.nullable, "required": self.required and not self.has_default}
        if self.has_default and self.default is not None:
            opts["load_default"] = self.default
        elif self.nullable and not self.required:
            opts["load_default"] = None
        validators = []
        if self.kind == "str":
            validators.append(ma_validate.Length(min=self.min_len, max=self.max_len))
            if self.choices is not None:
                validators.append(ma_validate.OneOf(self.choices))
        if self.kind in ("int", "float") and (self.minimum is not None or self.maximum is not None):
            validators.append(ma_validate.Range(min=self.minimum, max=self.maximum))
        if validators:
            opts["validate"] = validators
        if self.doc:
            kw.setdefault("metadata", {"description": self.doc})
        factory = {"str": ma_fields.String, "int": ma_fields.Integer, "bool": ma_fields.Boolean,
                   "uuid": ma_fields.UUID, "datetime": ma_fields.AwareDateTime, "date": ma_fields.Date,
                   "json": ma_fields.Raw}.get(self.kind)
        if self.kind == "float":
            return ma_fields.Float(allow_nan=False, **opts, **kw)
        return factory(**opts, **kw)

    def describe(self) -> str:
        """One line for the rules page: type, limits, default."""
        parts = [self.kind]
        if self.required:
            parts.append("required")
        if self.nullable:
            parts.append("may be null")
        if self.kind == "str" and self.max_len is not None:
            parts.append(f"{self.min_len}–{self.max_len} characters" if self.min_len else
                         f"at most {self.max_len} characters")
        if self.kind == "json" and self.max_len is not None:
            parts.append(f"at most {self.max_len} characters, {MAX_JSON_DEPTH} levels deep")
        if self.choices:
            parts.append("one of " + ", ".join(f"`{c}`" for c in self.choices))
        if self.minimum is not None or self.maximum is not None:
            parts.append(f"{_g(self.minimum)}…{_g(self.maximum)}")
        if self.ref:
            parts.append(f"id of a `{self.ref}`")
        if self.create_only:
            parts.append("fixed once created")
        if self.max_days_ahead is not None:
            parts.append(f"at most {self.max_days_ahead} day(s) ahead")
        if self.has_default:
            parts.append(f"default `{self.default!r}`")
        if self.doc:
            parts.append(self.doc)
        return "; ".join(parts)


def _g(x: float | None) -> str:
    if x is None:
        return ""
    return f"{int(x):_}".replace("_", " ") if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _clean_str(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError("Not a string.")
    if len(value) < spec.min_len:
        raise FieldError(f"Shorter than minimum length {spec.min_len}.")
    if spec.max_len is not None and len(value) > spec.max_len:
        raise FieldError(f"Longer than maximum length {spec.max_len}.")
    if spec.choices is not None and value not in spec.choices:
        raise FieldError(f"Must be one of: {', '.join(spec.choices)}.")
    if spec.pattern is not None and not spec.pattern.match(value):
        raise FieldError("Not in the expected format.")
    return value


def _clean_int(spec: FieldSpec, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError("Not a valid integer.")
    spec._range(value)  # exact comparison, however large the integer
    if abs(value) > 2 ** 63 - 1:
        raise FieldError("Out of range.")
    return value


def finite_number(value: Any) -> float:
    """``value`` (an int or a float, not a bool) as a finite float. Raises ``FieldError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError("Not a valid number.")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        raise FieldError("Out of range.") from None
    if not math.isfinite(number):
        raise FieldError("Not a valid number.")
    return number


def _clean_float(spec: FieldSpec, value: Any) -> float:
    number = finite_number(value)
    spec._range(number)
    return number


def _clean_bool(spec: FieldSpec, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FieldError("Not a valid boolean.")
    return value


def _clean_uuid(spec: FieldSpec, value: Any) -> uuid.UUID:
    parsed = parse_uuid(value) if isinstance(value, str) else (value if isinstance(value, uuid.UUID) else None)
    if parsed is None:
        raise FieldError("Not a valid UUID.")
    return parsed


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 date-time with a zone, in UTC. Raises ``FieldError`` (also when UTC leaves the calendar)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FieldError("Not a valid ISO 8601 datetime.") from None
    else:
        raise FieldError("Not a valid ISO 8601 datetime.")
    if dt.tzinfo is None:
        raise FieldError("Give the time zone (e.g. 'Z').")
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+08:00 is in year 0 in UTC; 9999-12-31T23:00-05:00 in year 10000
        raise FieldError("Out of range: the time in UTC falls outside years 1–9999.") from None


def _clean_datetime(spec: FieldSpec, value: Any) -> datetime:
    return parse_datetime(value)


def _clean_date(spec: FieldSpec, value: Any) -> date:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise FieldError("Not a valid date (YYYY-MM-DD).")
    try:
        d = date.fromisoformat(value)
    except ValueError:
        raise FieldError("Not a valid date (YYYY-MM-DD).") from None
    if spec.max_days_ahead is not None and \
            d > datetime.now(timezone.utc).date() + timedelta(days=spec.max_days_ahead):
        raise FieldError("Cannot be a future day.")
    return d


def _clean_json(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, (dict, list, str, int, float, bool)):
        raise FieldError("Not a JSON value.")
    check_json(value, spec.max_len)
    return value


def check_json(value: Any, max_len: int | None = None, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse a JSON value deeper than ``max_depth`` or larger than about ``max_len`` characters.

    Walks without recursion (a value nested a thousand levels deep must not exhaust the
    stack) and stops as soon as a limit is passed. Raises ``FieldError``.
    """
    size = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise FieldError(f"Nested deeper than {max_depth} levels.")
        if isinstance(item, dict):
            size += 2
            for k, v in item.items():
                size += len(str(k)) + 4
                stack.append((v, depth + 1))
        elif isinstance(item, list):
            size += 2 + len(item)
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, float) and not math.isfinite(item):
            raise FieldError("Not a valid number.")
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > 2 ** 63 - 1:
            raise FieldError("Out of range.")
        else:
            size += 8
        if max_len is not None and size > max_len:
            raise FieldError(f"Larger than {max_len} characters.")


_CLEANERS = {"str": _clean_str, "int": _clean_int, "float": _clean_float, "bool": _clean_bool,
             "uuid": _clean_uuid, "datetime": _clean_datetime, "date": _clean_date, "json": _clean_json}


@functools.lru_cache(maxsize=8192)
def parse_uuid(text: str) -> uuid.UUID | None:
    """``text`` as a UUID, or None. Cached: a batch names the same ids several times."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
