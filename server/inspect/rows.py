"""An inspection's rows — responses, measurements, defects, photo metadata, comments, review
decisions — and the inspection's own phone-set fields: checked, normalised and derived the
same way whether they come through the API or a sync push.

:func:`prepare_sync_fields` is the one entry: it asks :mod:`.rules` who may write what in
which state (:func:`~server.inspect.rules.check_write`, :func:`~server.inspect.rules.check_transition`),
cleans each field with its declaration (:data:`~server.inspect.rules.FIELDS`), then applies
what depends on the inspection: the item exists in its checklist version and the value is
of the item's kind, the dimension is one of its product's, the defect's class comes from the
library. The API's :func:`upsert_row` / :func:`delete_row` and the sync planner (through
:mod:`server.inspect.sync`) both call it.
"""
from __future__ import annotations

import math
import uuid
from types import SimpleNamespace
from typing import Any

from ..auth import Principal
from ..catalog.models import DimensionSpec, Product
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from ..fields import FieldError, finite_number, parse_datetime
from ..models import utcnow
from . import defects, measure, rules
from .audit import apply_values, record_audit
from .models import ChecklistResponse, Defect, Inspection, Measurement, Photo, ReviewDecision
from .rules import FIELDS, InspectionState
from .scope import state_of
from .switching import plans_for
from .templates import items_of
from .verdicts import live, recompute_verdict

#: Rows written through ``/inspections/{id}/<rows>``.
ROW_MODELS = {"response": ChecklistResponse, "measurement": Measurement, "defect": Defect}
_MODELS = {**ROW_MODELS, "photo": Photo, "decision": ReviewDecision}


def _clean(entity: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``entity`` that are declared, each cleaned by its declaration (others are dropped)."""
    specs = FIELDS[entity]
    out, errors = {}, {}
    for name, value in fields.items():
        spec = specs.get(name)
        if spec is None:
            continue
        try:
            out[name] = spec.clean(value)
        except FieldError as exc:
            errors[name] = [str(exc)]
    if errors:
        raise ValidationFailed(errors=errors)
    return out


def _number(value: Any, field: str) -> float:
    try:
        return finite_number(value)
    except FieldError as exc:
        raise ValidationFailed(errors={field: [str(exc)]}) from None


def _base(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    if row is None:
        return {}
    return {n: (row.get(n) if isinstance(row, dict) else getattr(row, n)) for n in names}


def _answer(item: dict, value: Any) -> tuple[Any, bool | None]:
    """A checklist answer normalised for its item's kind, and whether it passes (None: no judgement)."""
    kind = item["kind"]
    if value is None:
        return None, None
    if kind == "yes_no_na":
        if value is True or value is False:
            value = "yes" if value else "no"
        if value not in ("yes", "no", "na"):
            raise ValidationFailed(errors={"value": ["Answer yes, no or na."]})
        return value, {"yes": True, "no": False, "na": None}[value]
    if kind == "number":
        return _number_answer(item, value)
    if kind == "choice":
        if value not in item.get("choices", []):
            raise ValidationFailed(errors={"value": [f"Choose one of {', '.join(item.get('choices', []))}."]})
        return value, (value in item["pass_choices"]) if item.get("pass_choices") else None
    if kind == "text":
        try:
            return rules.NOTE.clean(value), None
        except FieldError as exc:
            raise ValidationFailed(errors={"value": [str(exc)]}) from None
    if kind == "photo":
        ids = value if isinstance(value, list) else [value]
        for v in ids:
            if not isinstance(v, (str, uuid.UUID)) or (isinstance(v, str) and _uuid_or_none(v) is None):
                raise ValidationFailed(errors={"value": ["Not a valid UUID."]})
        return ([str(v) for v in ids] if isinstance(value, list) else str(value)), None
    if kind == "defect_count":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
            raise ValidationFailed(errors={"value": ["Must be a count from 0 to 100000."]})
        return value, None
    return value, None


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _number_answer(item: dict, value: Any) -> tuple[Any, bool]:
    unit = item["unit"]
    if isinstance(value, dict):
        unit = value.get("unit", unit)
        number = value.get("value")
    else:
        number = value
    number = _number(number, "value")
    try:
        q_item, _ = measure.unit_info(item["unit"])
        q_given, _ = measure.unit_info(unit)
    except ValueError as exc:
        raise ValidationFailed(errors={"value": [str(exc)]}) from None
    if q_item != q_given:
        raise ValidationFailed(errors={"value": [f"Give a {q_item} (unit like {item['unit']})."]})
    base = measure.to_base(number, unit)
    if not math.isfinite(base):
        raise ValidationFailed(errors={"value": [f"Out of range in {unit}."]})
    passed = measure.in_tolerance(base, measure.to_base(item["nominal"], item["unit"]),
                                  measure.to_base(item["tolerance"], item["unit"]),
                                  None if item.get("tolerance_minus") is None
                                  else measure.to_base(item["tolerance_minus"], item["unit"]))
    return ({"value": number, "unit": unit} if isinstance(value, dict) else number), passed


def _response_fields(fields: dict[str, Any], insp: InspectionState, base: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **fields}
    items = items_of(insp)
    key = merged.get("item_key")
    if not isinstance(key, str) or key not in items:
        raise ValidationFailed(errors={"item_key": ["No such item in this inspection's checklist version."]})
    out = {k: v for k, v in fields.items() if k != "passed"}
    value, out["passed"] = _answer(items[key], merged.get("value"))
    if "value" in fields:
        out["value"] = value
    return out


def _measurement_fields(fields: dict[str, Any], insp: InspectionState, base: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **fields}
    spec_id = merged.get("dimension_spec_id")
    if spec_id is None:
        raise ValidationFailed(errors={"dimension_spec_id": ["Missing data for required field."]})
    spec = db.session.get(DimensionSpec, spec_id)
    if spec is None or spec.deleted or spec.product_id != insp.product_id:
        raise ValidationFailed(errors={"dimension_spec_id": ["No such dimension spec for this product."]})
    unit = merged.get("unit_entered") or "mm"
    try:
        quantity, _ = measure.unit_info(unit)
    except ValueError as exc:
        raise ValidationFailed(errors={"unit_entered": [str(exc)]}) from None
    if quantity != "length":
        raise ValidationFailed(errors={"unit_entered": ["Dimensions are lengths: use mm, cm or in."]})
    for name in ("value_entered", "unit_index"):
        if merged.get(name) is None:
            raise ValidationFailed(errors={name: ["Missing data for required field."]})
    value = _number(merged["value_entered"], "value_entered")
    value_mm = measure.to_mm(value, unit)
    out = {"dimension_spec_id": spec_id, "unit_index": merged["unit_index"], "value_entered": value,
           "unit_entered": unit, "value_si": value_mm, "source": merged.get("source") or "manual",
           "in_tolerance": measure.in_tolerance(value_mm, spec.nominal_mm, spec.tolerance_mm)}
    if "photo_id" in fields or merged.get("photo_id") is not None:
        out["photo_id"] = merged.get("photo_id")
    return out


def _defect_fields(fields: dict[str, Any], insp: InspectionState, base: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **fields}
    code = merged.get("code")
    if code is None:
        raise ValidationFailed(errors={"code": ["Missing data for required field."]})
    cls = merged.get("defect_class")
    if cls is None:
        product = db.session.get(Product, insp.product_id)
        cls = defects.default_class(code, product.category if product else None)
        if cls is None:
            raise ValidationFailed(errors={"defect_class": ["Not in the defect library: give a class."]})
    spec = FIELDS["defect"]
    out = {"code": code, "defect_class": cls,
           "count": merged["count"] if merged.get("count") is not None else spec["count"].default,
           "unit_index": merged.get("unit_index"),
           "note": merged["note"] if merged.get("note") is not None else spec["note"].default}
    return out


def _inspection_fields(fields: dict[str, Any], insp: InspectionState, p: Principal) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "status" in fields and fields["status"] != insp.status:
        status = fields["status"]
        rules.check_transition(p, insp, status)
        out["status"] = status
        if status != "assigned" and insp.started_at is None and "started_at" not in fields:
            out["started_at"] = utcnow()
        if status == "signed_off":
            out["signed_off_at"] = utcnow()
    for name in ("started_at", "notes", "lot_size"):
        if name in fields:
            out[name] = fields[name]
    if "signature" in fields:
        if out.get("status") != "signed_off":
            raise ValidationFailed(errors={"signature": ["A signature comes with the sign-off (status signed_off)."]})
        out["signature"] = _signature(fields["signature"])
    return out


SIGNATURE_MAX_STROKES = 200
SIGNATURE_MAX_POINTS = 5000


def _signature(value: Any) -> dict[str, Any]:
    """A drawn signature: the signer's name, when, the pad's size and its strokes as point lists."""
    def bad(msg: str) -> ValidationFailed:
        return ValidationFailed(errors={"signature": [msg]})

    if not isinstance(value, dict):
        raise bad("Give the signature as an object with name, signed_at, width, height and strokes.")
    name = value.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise bad("Give the signer's name (1-200 characters).")
    if value.get("signed_at") is None:
        raise bad("Give the time of signing (signed_at).")
    try:
        signed_at = parse_datetime(value["signed_at"])
    except FieldError as exc:
        raise bad(f"signed_at: {exc}") from None
    width, height = value.get("width"), value.get("height")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 10 <= v <= 4000 for v in (width, height)):
        raise bad("Give the pad's width and height in pixels (10-4000).")
    strokes = value.get("strokes")
    if not isinstance(strokes, list) or not 1 <= len(strokes) <= SIGNATURE_MAX_STROKES:
        raise bad(f"Draw the signature (1-{SIGNATURE_MAX_STROKES} strokes).")
    clean, points = [], 0
    for stroke in strokes:
        if not isinstance(stroke, list) or not stroke:
            raise bad("Each stroke is a list of [x, y] points.")
        line = []
        for pt in stroke:
            if (not isinstance(pt, list) or len(pt) != 2
                    or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in pt)
                    or not (0 <= pt[0] <= width and 0 <= pt[1] <= height)):
                raise bad("Each point is [x, y] inside the pad.")
            line.append([round(float(pt[0]), 1), round(float(pt[1]), 1)])
        points += len(line)
        clean.append(line)
    if points > SIGNATURE_MAX_POINTS:
        raise bad(f"At most {SIGNATURE_MAX_POINTS} points.")
    return {"name": name.strip(), "signed_at": signed_at.isoformat(), "width": width, "height": height,
            "strokes": clean}


def _existing(entity: str, fields: dict[str, Any]) -> Any:
    model = _MODELS.get(entity)
    if fields.get("id") is None or model is None:
        return None
    try:
        return db.session.get(model, uuid.UUID(str(fields["id"])))
    except ValueError:
        raise ValidationFailed(errors={"id": ["Not a valid UUID."]}) from None


def prepare_sync_fields(entity: str, fields: dict, inspection: Inspection | InspectionState, principal: Principal,
                        existing: Any = None, *, op: str | None = None) -> dict:
    """Check and normalise one write of ``entity`` on ``inspection``; return the fields to apply.

    Called by the sync planner and by the API before applying the change, inside the
    caller's transaction; never commits. ``existing`` is the row being changed (looked up by
    ``fields["id"]`` when not given), so partial updates are checked against the whole row;
    ``op`` is ``create``, ``update`` or ``delete`` (default: update when the row exists).
    Derived fields are computed here: a measurement's ``value_si`` and ``in_tolerance``, a
    response's ``passed``, a defect's class from the library, an inspection's ``started_at``
    and ``signed_off_at``. Only the declared fields are kept; others are dropped.

    Raises ``Forbidden`` when the principal may not do this, :class:`~server.inspect.rules.Frozen`
    (a ``ValidationFailed``) for a change to a signed-off or cancelled inspection that the rules
    do not let through, and ``ValidationFailed`` (``errors={field: [msg]}``) for values that
    can never be valid.
    """
    if entity not in FIELDS:
        raise ValidationFailed(errors={"entity": [f"Unknown entity {entity!r}."]})
    insp = state_of(inspection)
    fields = dict(fields or {})
    if entity == "inspection":
        existing = insp.row
    elif existing is None:
        existing = _existing(entity, fields)
    if entity != "inspection":
        given = fields.get("inspection_id")
        if given is not None and str(given) != str(insp.id):
            raise ValidationFailed(errors={"inspection_id": ["Does not match the inspection."]})
        owner = _base(existing, ("inspection_id",)).get("inspection_id") if existing is not None else None
        if owner is not None and owner != insp.id:
            raise ValidationFailed(errors={"id": ["This row belongs to another inspection."]})
    op = op or ("create" if existing is None else "update")
    fields.pop("id", None)
    rules.check_write(principal, entity, op, insp, existing, fields)
    if op == "delete":
        return {"deleted": True}
    fields = _clean(entity, fields)
    return _DERIVE[entity](fields, insp, principal, existing)


def _derive_photo(fields: dict, insp: InspectionState, p: Principal, existing: Any) -> dict:
    if fields.get("item_key") is not None and fields["item_key"] not in items_of(insp):
        raise ValidationFailed(errors={"item_key": ["No such item in this inspection's checklist version."]})
    return fields


def _derive_comment(fields: dict, insp: InspectionState, p: Principal, existing: Any) -> dict:
    if "body" in fields and not fields["body"].strip():
        raise ValidationFailed(errors={"body": ["Write something."]})
    return {**fields, "author_id": p.id} if existing is None else fields


def _derive_decision(fields: dict, insp: InspectionState, p: Principal, existing: Any) -> dict:
    if rules.BRAND_EDITOR in rules.relations(p, insp) or p.is_platform_admin:
        return {**fields, "reviewer_id": p.id}
    return {k: v for k, v in fields.items() if k == "resolved"}  # the inspector marking a retake done


_DERIVE = {
    "inspection": lambda f, insp, p, row: _inspection_fields(f, insp, p),
    "response": lambda f, insp, p, row: _response_fields(f, insp, _base(row, ("item_key", "unit_index", "value",
                                                                              "note"))),
    "measurement": lambda f, insp, p, row: _measurement_fields(f, insp, _base(row, (
        "dimension_spec_id", "unit_index", "value_entered", "unit_entered", "source", "photo_id"))),
    "defect": lambda f, insp, p, row: _defect_fields(f, insp, _base(row, ("code", "defect_class", "count",
                                                                          "unit_index", "note"))),
    "photo": _derive_photo,
    "comment": _derive_comment,
    "decision": _derive_decision,
}


# -- rows through the API ---------------------------------------------------------------------

def upsert_row(p: Principal, insp: Inspection, entity: str, data: dict[str, Any]) -> Any:
    """Create or update a response, measurement or defect of an inspection through the API.

    Same rules as a sync push (:func:`prepare_sync_fields`); writes an audit event and
    recomputes the verdict. Raises what ``prepare_sync_fields`` raises.
    """
    model = ROW_MODELS[entity]
    row = db.session.get(model, data["id"]) if data.get("id") else None
    if row is not None and row.inspection_id != insp.id:
        raise NotFound(f"No such {entity} on this inspection.")
    fields = prepare_sync_fields(entity, {k: v for k, v in data.items() if k != "id"}, insp, p, existing=row)
    action = "update"
    if row is None:
        row = model(id=data.get("id") or uuid.uuid4(), inspection_id=insp.id)
        db.session.add(row)
        action = "create"
    changes = apply_values(row, fields)
    if changes or action == "create":
        record_audit(entity, row.id, insp.id, action, changes, p.id)
    if insp.status == "assigned":
        insp.status, insp.started_at = "in_progress", insp.started_at or utcnow()
    recompute_verdict(insp)
    db.session.commit()
    return row


def delete_row(p: Principal, insp: Inspection, entity: str, row_id: uuid.UUID) -> None:
    """Tombstone a row of an inspection (same rules as a sync delete); recomputes the verdict."""
    model = ROW_MODELS[entity]
    row = db.session.get(model, row_id)
    if row is None or row.inspection_id != insp.id or row.deleted:
        raise NotFound(f"No such {entity} on this inspection.")
    prepare_sync_fields(entity, {}, insp, p, existing=row, op="delete")
    row.deleted = True
    record_audit(entity, row.id, insp.id, "delete", {"deleted": [False, True]}, p.id)
    recompute_verdict(insp)
    db.session.commit()


def inspection_detail(insp: Inspection) -> SimpleNamespace:
    """An inspection with its template version, plans, verdict detail and live rows (for the API)."""
    from .schemas import InspectionSchema

    outcome = recompute_verdict(insp)
    plans = plans_for(insp) or {}
    photos = live(Photo, insp.id)
    data = {name: getattr(insp, name) for name in InspectionSchema().fields if hasattr(insp, name)}
    defects_rows = live(Defect, insp.id)
    for d in defects_rows:
        d.photo_ids = [ph.id for ph in photos if ph.defect_id == d.id]
    data.update(template=insp.template, plans={k: v.to_dict() for k, v in plans.items()},
                verdict_detail=outcome, responses=live(ChecklistResponse, insp.id),
                measurements=sorted(live(Measurement, insp.id),
                                    key=lambda m: (m.unit_index, str(m.dimension_spec_id))),
                defects=defects_rows, photos=photos)
    return SimpleNamespace(**data)


def measurement_summary(insp: Inspection) -> list[dict[str, Any]]:
    """Per dimension spec of the product: count, mean, min, max, stdev and units out of tolerance (mm)."""
    product = db.session.get(Product, insp.product_id)
    rows = live(Measurement, insp.id)
    out = []
    for spec in product.dimension_specs:
        if spec.deleted:
            continue
        values = [m.value_si for m in rows if m.dimension_spec_id == spec.id]
        stats = measure.spec_stats(values, spec.nominal_mm, spec.tolerance_mm)
        out.append({"dimension_spec_id": spec.id, "name": spec.name, "unit": "mm", "nominal": spec.nominal_mm,
                    "tolerance": spec.tolerance_mm, **stats})
    return out

