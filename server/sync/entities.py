"""The entity registry: which records sync, which fields phones may write, and their types.

Every protocol entity name maps to a model. Pushable entities list the fields a phone may
write with their type; everything else on the row (``rev``, ``upload_state``,
``storage_key``, ``analysis``, ``flagged``, ``review_state``, derived values ...) is owned by
the server and a mutation that tries to set it is rejected. Pull-only entities are served
read-only.
"""
from __future__ import annotations

import functools
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from ..catalog.models import Batch, ColourStandard, DimensionSpec, GoldenSample, POLine, Product, PurchaseOrder
from ..inspect.models import (DEFECT_CLASSES, ChecklistResponse, ChecklistTemplate, Comment, Defect, Inspection,
                              Measurement, Photo, ReviewDecision)
from .models import ConflictRecord

_MISSING = object()
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FieldError(ValueError):
    """A value does not fit its field."""


@dataclass(frozen=True)
class FieldSpec:
    """One phone-writable field: its type and limits.

    ``kind`` is one of ``str``, ``int``, ``float``, ``bool``, ``uuid``, ``datetime``, ``date``, ``json``.
    ``ref`` names the entity an id must point to (checked for existence and scope by the service).
    ``create_only`` fields may be given when the row is created and never changed afterwards.
    ``max_days_ahead`` bounds a ``date`` to at most that many days after today (UTC).
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

    def clean(self, value: Any) -> Any:
        """Return ``value`` converted to its Python type. Raises ``FieldError`` when it does not fit."""
        if value is None:
            if self.nullable:
                return None
            raise FieldError("May not be null.")
        kind = self.kind
        if kind == "str":
            if not isinstance(value, str):
                raise FieldError("Not a string.")
            if len(value) < self.min_len:
                raise FieldError(f"Shorter than minimum length {self.min_len}.")
            if self.max_len is not None and len(value) > self.max_len:
                raise FieldError(f"Longer than maximum length {self.max_len}.")
            if self.choices is not None and value not in self.choices:
                raise FieldError(f"Must be one of: {', '.join(self.choices)}.")
            if self.pattern is not None and not self.pattern.match(value):
                raise FieldError("Not in the expected format.")
            return value
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise FieldError("Not a valid integer.")
            self._range(value)
            return value
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise FieldError("Not a valid number.")
            self._range(value)
            return float(value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise FieldError("Not a valid boolean.")
            return value
        if kind == "uuid":
            parsed = parse_uuid(value) if isinstance(value, str) else None
            if parsed is None:
                raise FieldError("Not a valid UUID.")
            return parsed
        if kind == "datetime":
            if not isinstance(value, str):
                raise FieldError("Not a valid ISO 8601 datetime.")
            try:
                dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise FieldError("Not a valid ISO 8601 datetime.") from None
            if dt.tzinfo is None:
                raise FieldError("Give the time zone (e.g. 'Z').")
            return dt.astimezone(timezone.utc)
        if kind == "date":
            if not isinstance(value, str) or not _ISO_DATE.match(value):
                raise FieldError("Not a valid date (YYYY-MM-DD).")
            try:
                d = date.fromisoformat(value)
            except ValueError:
                raise FieldError("Not a valid date (YYYY-MM-DD).") from None
            if self.max_days_ahead is not None and \
                    d > datetime.now(timezone.utc).date() + timedelta(days=self.max_days_ahead):
                raise FieldError("Cannot be a future day.")
            return d
        if kind == "json":
            if self.max_len is not None and len(repr(value)) > self.max_len:
                raise FieldError(f"Larger than {self.max_len} characters.")
            if not isinstance(value, (dict, list, str, int, float, bool)):
                raise FieldError("Not a JSON value.")
            return value
        raise AssertionError(kind)  # pragma: no cover

    def _range(self, value: float) -> None:
        if self.minimum is not None and value < self.minimum:
            raise FieldError(f"Must be at least {self.minimum:g}.")
        if self.maximum is not None and value > self.maximum:
            raise FieldError(f"Must be at most {self.maximum:g}.")


@functools.lru_cache(maxsize=8192)
def parse_uuid(text: str) -> uuid.UUID | None:
    """``text`` as a UUID, or None. Cached: a batch names the same ids several times."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Entity:
    """A protocol entity: its name, model, and (for pushable ones) the writable fields."""

    name: str
    model: type
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    pushable: bool = False
    creatable: bool = True
    #: fields the server fills on create: name -> f(principal)
    server_set: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    @property
    def table(self):
        return self.model.__table__

    def clean(self, raw: Any, *, creating: bool) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Validate a mutation's ``fields``: only known, writable fields of the right type.

        Returns ``(clean_fields, errors)``; ``errors`` maps field -> messages and is empty
        when everything fits. On create, required fields must be present.
        """
        if not isinstance(raw, dict):
            return {}, {"fields": ["Must be an object."]}
        clean: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for name, value in raw.items():
            spec = self.fields.get(name)
            if spec is None:
                known = name in self.table.c
                errors[name] = ["Set by the server; phones may not write it." if known else "Unknown field."]
                continue
            try:
                clean[name] = spec.clean(value)
            except FieldError as exc:
                errors[name] = [str(exc)]
        if creating:
            for name, spec in self.fields.items():
                if spec.required and name not in raw:
                    errors.setdefault(name, ["Missing data for required field."])
        return clean, errors


def _s(max_len: int, **kw) -> FieldSpec:
    return FieldSpec("str", max_len=max_len, **kw)


_INSPECTION_REF = FieldSpec("uuid", required=True, ref="inspection", create_only=True)
_UNIT_INDEX = FieldSpec("int", nullable=True, minimum=0, maximum=100_000)
_NOTE = _s(10_000)

ENTITIES: dict[str, Entity] = {}


def _register(e: Entity) -> None:
    ENTITIES[e.name] = e


_register(Entity("inspection", Inspection, pushable=True, creatable=False, fields={
    # Inspections are assigned by the office; the phone moves them along and takes notes.
    "status": _s(20, choices=("assigned", "in_progress", "submitted", "signed_off")),
    "started_at": FieldSpec("datetime", nullable=True),
    "notes": _NOTE,
    "lot_size": FieldSpec("int", nullable=True, minimum=2, maximum=10_000_000),
    "signature": FieldSpec("json", nullable=True, max_len=200_000),  # given with status signed_off
}))
_register(Entity("response", ChecklistResponse, pushable=True, fields={
    "inspection_id": _INSPECTION_REF,
    "item_key": _s(80, required=True, min_len=1),
    "unit_index": _UNIT_INDEX,
    "value": FieldSpec("json", nullable=True, max_len=20_000),
    "passed": FieldSpec("bool", nullable=True),
    "note": _NOTE,
}))
_register(Entity("measurement", Measurement, pushable=True, fields={
    "inspection_id": _INSPECTION_REF,
    "dimension_spec_id": FieldSpec("uuid", required=True, ref="dimension_spec"),
    "unit_index": FieldSpec("int", required=True, minimum=0, maximum=100_000),
    "value_entered": FieldSpec("float", required=True, minimum=-1e9, maximum=1e9),
    "unit_entered": _s(8, min_len=1),
    "source": _s(10, choices=("manual", "photo")),
    "photo_id": FieldSpec("uuid", nullable=True, ref="photo"),
}))
_register(Entity("defect", Defect, pushable=True, fields={
    "inspection_id": _INSPECTION_REF,
    "code": _s(60, required=True, min_len=1),
    "defect_class": _s(10, required=True, choices=DEFECT_CLASSES),
    "count": FieldSpec("int", minimum=0, maximum=1_000_000),
    "unit_index": _UNIT_INDEX,
    "note": _NOTE,
}))
_register(Entity("photo", Photo, pushable=True, fields={
    "inspection_id": _INSPECTION_REF,
    "item_key": _s(80, nullable=True),
    "defect_id": FieldSpec("uuid", nullable=True, ref="defect"),
    "unit_index": _UNIT_INDEX,
    # The bytes are content-addressed: what was declared never changes (a retake is a new photo).
    "sha256": _s(64, required=True, pattern=_HEX64, create_only=True),
    "size_bytes": FieldSpec("int", required=True, minimum=1, maximum=2**31 - 1, create_only=True),
    "content_type": _s(40, required=True, min_len=1, create_only=True),
    "taken_at": FieldSpec("datetime", nullable=True),  # data only: never used for ordering
    "location": FieldSpec("json", nullable=True, max_len=2_000),
    "flagged_by_inspector": FieldSpec("bool"),
    "sequence": FieldSpec("int", nullable=True, minimum=0, maximum=1_000_000),
}))
_register(Entity("comment", Comment, pushable=True, fields={
    "inspection_id": _INSPECTION_REF,
    "photo_id": FieldSpec("uuid", nullable=True, ref="photo"),
    "body": _s(10_000, required=True, min_len=1),
}, server_set={"author_id": lambda p: p.id}))
_register(Entity("decision", ReviewDecision, pushable=True, fields={
    "inspection_id": _INSPECTION_REF,
    "photo_id": FieldSpec("uuid", required=True, ref="photo", create_only=True),
    "decision": _s(10, required=True, choices=("accept", "reject", "retake")),
    "comment": _s(10_000),
    "resolved": FieldSpec("bool"),
}, server_set={"reviewer_id": lambda p: p.id}))

try:
    from ..timeline.models import ProgressReport
except ImportError:  # pragma: no cover - the timeline package is optional
    ProgressReport = None
if ProgressReport is not None:
    # A factory's daily progress (docs/timeline.md): not an inspection row; scoped by its PO.
    _register(Entity("progress", ProgressReport, pushable=True, fields={
        "purchase_order_id": FieldSpec("uuid", required=True, ref="purchase_order", create_only=True),
        "po_line_id": FieldSpec("uuid", required=True, ref="po_line", create_only=True),
        # one day of slack for time zones east of UTC, as the timeline API allows
        "report_date": FieldSpec("date", required=True, max_days_ahead=1),
        "units_produced": FieldSpec("int", required=True, minimum=0, maximum=10_000_000),
        "note": _s(2000),
    }, server_set={"reported_by_id": lambda p: p.id}))

for _name, _model in (("template", ChecklistTemplate), ("product", Product), ("dimension_spec", DimensionSpec),
                      ("colour_standard", ColourStandard), ("golden_sample", GoldenSample),
                      ("purchase_order", PurchaseOrder), ("po_line", POLine), ("batch", Batch),
                      ("conflict", ConflictRecord)):
    _register(Entity(_name, _model))

#: Rows of an inspection (everything pushable but the inspection itself).
INSPECTION_ROWS = ("response", "measurement", "defect", "photo", "comment", "decision")
#: Columns never sent to phones: the server's merge bookkeeping.
HIDDEN_COLUMNS = frozenset({"field_revs"})
#: Columns at the top level of a pulled change rather than in ``fields``.
TOP_LEVEL = frozenset({"id", "rev", "deleted"})


def entity(name: Any) -> Entity | None:
    """The registered entity called ``name``, or None."""
    return ENTITIES.get(name) if isinstance(name, str) else None


def column_default(column) -> Any:
    """The Python-side default of a column (scalar or callable), or None."""
    d = column.default
    if d is None:
        return None
    if d.is_scalar:
        return d.arg
    if d.is_callable:
        return d.arg(None)
    return None  # pragma: no cover - SQL expression defaults are not used on synced tables
