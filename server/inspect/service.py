"""Inspection rules: checklist templates, inspections, AQL plans, rows, verdicts, audit trail.

Reads are scoped with :func:`visible_inspections` / :func:`visible_templates`; a row outside
the caller's scope is ``NotFound``, exactly like a missing one. The same rules apply to rows
written through the API and to rows pushed by phones: the sync service calls
:func:`prepare_sync_fields` before applying each upsert and :func:`after_sync` once the batch
is applied; neither commits (they run inside the caller's transaction).
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import uuid
from collections import namedtuple
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Iterable

from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError

from ..accounts.models import Membership, OrgKind, Organisation, User
from ..audit import record_audit
from ..auth import Action, Principal, roles_granting
from ..catalog.models import Batch, DimensionSpec, Product, PurchaseOrder
from ..catalog.service import reference_golden_sample
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..jsontext import jsonable_deep
from ..models import utcnow
from ..sync.models import AuditEvent
from . import aql, defects, measure, verdict
from .models import (DEFECT_CLASSES, ChecklistResponse, ChecklistTemplate, Defect, Inspection, Measurement, Photo,
                     ReviewDecision, SwitchingStateRecord)

#: Statuses in which the inspector declares the whole sample inspected.
COMPLETE_STATUSES = ("submitted", "signed_off")
#: Inspector status transitions (phone or API). ``signed_off`` and ``cancelled`` are final.
INSPECTOR_TRANSITIONS = {
    "assigned": {"in_progress", "submitted", "signed_off"},
    "in_progress": {"submitted", "signed_off"},
    "submitted": {"in_progress", "signed_off"},
    "signed_off": set(),
    "cancelled": set(),
}
#: Inspection fields a phone may set (issue 4); everything else on an inspection is server-owned.
PHONE_INSPECTION_FIELDS = ("status", "started_at", "notes", "lot_size")
SYNC_ENTITIES = ("inspection", "response", "measurement", "defect", "photo", "comment", "decision")
#: The golden-sample confirmation every pre-production checklist carries.
GOLDEN_SAMPLE_SECTION = {"key": "golden_sample", "title": "Golden sample confirmation", "items": [
    {"key": "gs_materials", "kind": "yes_no_na", "label": "Materials match the golden sample", "required": True},
    {"key": "gs_colours", "kind": "yes_no_na", "label": "Colours and finishes consistent with the golden sample",
     "required": True},
    {"key": "gs_packaging", "kind": "yes_no_na", "label": "Packaging specs correct", "required": True},
    {"key": "gs_tooling", "kind": "yes_no_na", "label": "Tooling or moulds final", "required": True},
]}


# -- helpers ------------------------------------------------------------------------------

def _apply(row: Any, values: dict[str, Any]) -> dict[str, list]:
    """Set attributes and return the changes as ``{field: [old, new]}``."""
    changes = {}
    for key, new in values.items():
        old = getattr(row, key, None)
        if old != new:
            changes[key] = [old, new]
            setattr(row, key, new)
    return changes


def _as_uuid(value: Any, field: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise ValidationFailed(errors={field: ["Not a valid UUID."]}) from None


def _as_datetime(value: Any, field: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValidationFailed(errors={field: ["Give a time zone (UTC)."]})
        return value
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(errors={field: ["Not an ISO 8601 date-time."]}) from None
    if parsed.tzinfo is None:
        raise ValidationFailed(errors={field: ["Give a time zone (UTC)."]})
    return parsed


def _int(value: Any, field: str, *, minimum: int = 0, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationFailed(errors={field: [f"Must be an integer of at least {minimum}."]})
    return value


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ValidationFailed(errors={field: ["Must be a finite number."]})
    return float(value)


def _text(value: Any, field: str, max_len: int = 5000) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_len:
        raise ValidationFailed(errors={field: [f"Must be text of at most {max_len} characters."]})
    return value


# -- scope --------------------------------------------------------------------------------

def visible_inspections(p: Principal) -> Select:
    """Inspections the principal may see: their brands', their managed factories', and those assigned
    to them (in a factory where they only inspect, that is all they see)."""
    q = (select(Inspection).join(PurchaseOrder, Inspection.purchase_order_id == PurchaseOrder.id)
         .where(Inspection.deleted.is_(False)))
    if p.is_platform_admin:
        return q
    conds = [Inspection.inspector_id == p.id]
    if p.brand_ids:
        conds.append(PurchaseOrder.brand_id.in_(p.brand_ids))
    if p.managed_factory_ids:
        conds.append(PurchaseOrder.factory_id.in_(p.managed_factory_ids))
    return q.where(or_(*conds))


def inspection_or_404(p: Principal, inspection_id: uuid.UUID) -> Inspection:
    """The inspection with this id if the principal may see it. Raises ``NotFound``."""
    insp = db.session.scalar(visible_inspections(p).where(Inspection.id == inspection_id))
    if insp is None:
        raise NotFound("No such inspection.")
    return insp


def _po(insp: Inspection) -> PurchaseOrder:
    return db.session.get(PurchaseOrder, insp.purchase_order_id)


def _require_brand_editor(p: Principal, brand_id: uuid.UUID) -> None:
    p.check(Action.edit_brand, brand_id, "Only the brand's admins and reviewers may do this.")


def _may_write_rows(p: Principal, insp: Inspection) -> bool:
    """The assigned inspector, the factory's managers and platform admins write inspection rows."""
    if p.is_platform_admin or insp.inspector_id == p.id:
        return True
    po = _po(insp)
    return p.may(Action.manage_factory, po.factory_id)


def visible_templates(p: Principal) -> Select:
    """Templates of the principal's brands, plus (factory users) those their inspections use."""
    q = select(ChecklistTemplate).where(ChecklistTemplate.deleted.is_(False))
    if p.is_platform_admin:
        return q
    conds = [ChecklistTemplate.id.in_(visible_inspections(p).with_only_columns(Inspection.template_id))]
    if p.brand_ids:
        conds.append(ChecklistTemplate.brand_id.in_(p.brand_ids))
    return q.where(or_(*conds))


def template_or_404(p: Principal, template_id: uuid.UUID) -> ChecklistTemplate:
    """One template version the principal may see. Raises ``NotFound``."""
    t = db.session.scalar(visible_templates(p).where(ChecklistTemplate.id == template_id))
    if t is None:
        raise NotFound("No such checklist template.")
    return t


# -- checklist templates ------------------------------------------------------------------

def normalise_sections(sections: list[dict], inspection_kind: str | None) -> list[dict]:
    """Sections as stored: JSON-ready, with the golden-sample confirmation on pre-production checklists.

    Raises ``ValidationFailed`` when a pre-production checklist's own golden-sample section
    would clash with the standard item keys.
    """
    out = jsonable_deep([{**s, "items": [dict(i) for i in s["items"]]} for s in sections])
    if inspection_kind == "pre_production" and not any(s["key"] == "golden_sample" for s in out):
        keys = {i["key"] for s in out for i in s["items"]}
        clash = keys & {i["key"] for i in GOLDEN_SAMPLE_SECTION["items"]}
        if clash:
            raise ValidationFailed(errors={"sections": [f"Item keys reserved for the golden-sample section: "
                                                        f"{', '.join(sorted(clash))}."]})
        out.append(jsonable_deep(GOLDEN_SAMPLE_SECTION))
    return out


def list_templates(p: Principal, args: dict[str, Any]) -> Select:
    """Templates the principal may see; current versions of live families unless asked otherwise."""
    q = visible_templates(p)
    if not args.get("all_versions"):
        q = q.where(ChecklistTemplate.is_current.is_(True))
    if not args.get("include_archived"):
        q = q.where(ChecklistTemplate.archived_at.is_(None))
    for key in ("brand_id", "family_id", "inspection_kind"):
        if key in args:
            q = q.where(getattr(ChecklistTemplate, key) == args[key])
    return q.order_by(ChecklistTemplate.name, ChecklistTemplate.version.desc())


def create_template(p: Principal, data: dict[str, Any]) -> ChecklistTemplate:
    """Create version 1 of a new checklist family. Raises ``Forbidden`` outside the caller's brands."""
    _require_brand_editor(p, data["brand_id"])
    brand = db.session.get(Organisation, data["brand_id"])
    if brand is None or brand.kind != OrgKind.brand:
        raise ValidationFailed(errors={"brand_id": ["No brand with this id."]})
    t = ChecklistTemplate(id=uuid.uuid4(), brand_id=data["brand_id"], family_id=uuid.uuid4(), version=1,
                          name=data["name"], inspection_kind=data.get("inspection_kind"),
                          sections=normalise_sections(data["sections"], data.get("inspection_kind")),
                          verdict_rule=data.get("verdict_rule"), is_current=True, created_by_id=p.id)
    db.session.add(t)
    db.session.flush()
    record_audit("template", t.id, None, "create", {"name": [None, t.name], "version": [None, 1]}, p.id)
    db.session.commit()
    return t


def _current_of_family(family_id: uuid.UUID) -> ChecklistTemplate | None:
    return db.session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.family_id == family_id)
                             .order_by(ChecklistTemplate.version.desc()).with_for_update())


def edit_template(p: Principal, t: ChecklistTemplate, data: dict[str, Any]) -> ChecklistTemplate:
    """Edit a checklist: adds a new version; earlier versions (and inspections using them) stay as they are.

    Raises ``Forbidden`` outside the caller's brands, ``Conflict`` for an archived family or a
    concurrent edit.
    """
    _require_brand_editor(p, t.brand_id)
    latest = _current_of_family(t.family_id)
    if latest.archived_at is not None:
        raise Conflict("This checklist is archived; copy it to start a new one.")
    kind = data.get("inspection_kind", latest.inspection_kind)
    sections = data["sections"] if "sections" in data else latest.sections
    new = ChecklistTemplate(id=uuid.uuid4(), brand_id=latest.brand_id, family_id=latest.family_id,
                            version=latest.version + 1, name=data.get("name", latest.name), inspection_kind=kind,
                            sections=normalise_sections(sections, kind),
                            verdict_rule=data.get("verdict_rule", latest.verdict_rule),
                            copied_from_id=latest.copied_from_id, is_current=True, created_by_id=p.id)
    for old in db.session.scalars(select(ChecklistTemplate).where(ChecklistTemplate.family_id == t.family_id,
                                                                   ChecklistTemplate.is_current.is_(True))):
        old.is_current = False
    db.session.add(new)
    db.session.flush()
    record_audit("template", new.id, None, "update",
                 {"version": [latest.version, new.version],
                  **{k: [getattr(latest, k), getattr(new, k)] for k in ("name", "inspection_kind", "sections",
                                                                        "verdict_rule")
                     if getattr(latest, k) != getattr(new, k)}}, p.id)
    try:
        db.session.commit()
    except IntegrityError:  # someone else added this version number first
        db.session.rollback()
        raise Conflict("Someone edited this checklist at the same time; reload it and edit again.") from None
    return new


def copy_template(p: Principal, t: ChecklistTemplate, data: dict[str, Any]) -> ChecklistTemplate:
    """Copy a template version into a new family (version 1), in the same or another brand the caller edits."""
    brand_id = data.get("brand_id") or t.brand_id
    _require_brand_editor(p, brand_id)
    new = ChecklistTemplate(id=uuid.uuid4(), brand_id=brand_id, family_id=uuid.uuid4(), version=1,
                            name=data["name"], inspection_kind=t.inspection_kind, sections=jsonable_deep(t.sections),
                            verdict_rule=t.verdict_rule, copied_from_id=t.id, is_current=True, created_by_id=p.id)
    db.session.add(new)
    db.session.flush()
    record_audit("template", new.id, None, "create", {"copied_from_id": [None, t.id], "name": [None, new.name]},
                 p.id)
    db.session.commit()
    return new


def archive_template(p: Principal, t: ChecklistTemplate) -> ChecklistTemplate:
    """Archive a checklist family: no new inspections use it; every version stays readable."""
    _require_brand_editor(p, t.brand_id)
    now = utcnow()
    for version in db.session.scalars(select(ChecklistTemplate).where(ChecklistTemplate.family_id == t.family_id)):
        if version.archived_at is None:
            version.archived_at = now
    record_audit("template", t.id, None, "update", {"archived_at": [None, now]}, p.id)
    db.session.commit()
    return t


def template_items(t: ChecklistTemplate) -> dict[str, dict]:
    """Item key -> item (with its ``section``) of one template version."""
    return {i["key"]: {**i, "section": s["key"]} for s in (t.sections or []) for i in s.get("items", [])}


#: Inside :func:`sync_batch`: template id -> its items, so a batch reads each checklist version once.
_BATCH_ITEMS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("inspect_batch_items", default=None)


@contextlib.contextmanager
def sync_batch():
    """Scope of one sync batch: each checklist version's items are built once and reused.

    Templates do not change while a batch is being applied, so the memo is safe; it ends
    with the block.
    """
    token = _BATCH_ITEMS.set({})
    try:
        yield
    finally:
        _BATCH_ITEMS.reset(token)


def _items_of(insp: Inspection) -> dict[str, dict]:
    """The items of the inspection's checklist version (memoised inside :func:`sync_batch`)."""
    cache = _BATCH_ITEMS.get()
    if cache is not None and insp.template_id in cache:
        return cache[insp.template_id]
    items = template_items(insp.template or db.session.get(ChecklistTemplate, insp.template_id))
    if cache is not None:
        cache[insp.template_id] = items
    return items


# -- AQL and switching ------------------------------------------------------------------------

def effective_aqls(po: PurchaseOrder, product: Product) -> dict[str, float]:
    """AQL per defect class: the defaults, then the product's overrides, then the PO's (PO wins)."""
    out = dict(aql.DEFAULT_CLASS_AQLS)
    for source in (product.aql, po.aql):
        for cls, value in (source or {}).items():
            if cls in out and value is not None:
                out[cls] = value
    return out


def switching_record(product_id: uuid.UUID, factory_id: uuid.UUID, *, lock: bool = False
                     ) -> SwitchingStateRecord | None:
    """The stored switching state of a product stream, if any lot was recorded."""
    q = select(SwitchingStateRecord).where(SwitchingStateRecord.product_id == product_id,
                                           SwitchingStateRecord.factory_id == factory_id)
    return db.session.scalar(q.with_for_update() if lock else q)


def current_severity(product_id: uuid.UUID, factory_id: uuid.UUID) -> str:
    """Severity for the next lot of a stream: normal, tightened or reduced (discontinued -> tightened)."""
    rec = switching_record(product_id, factory_id)
    state = rec.inspection if rec else "normal"
    return "tightened" if state == "discontinued" else state


def plans_for(insp: Inspection) -> dict[str, aql.Plan] | None:
    """Sampling plan per defect class of an inspection, or None while the lot size is unknown.

    Raises ``ValidationFailed`` when the stored AQLs or level have no plan.
    """
    if not insp.lot_size:
        return None
    severity = insp.severity if insp.severity in aql.INSPECTIONS else "tightened"
    try:
        return aql.plans_for_classes(insp.lot_size, insp.aql or dict(aql.DEFAULT_CLASS_AQLS),
                                     insp.inspection_level or "II", severity)
    except ValueError as exc:
        raise ValidationFailed(errors={"aql": [str(exc)]}) from None


def _advance_switching(insp: Inspection, outcome: dict[str, Any]) -> None:
    """Record this lot in its stream's switching state (once) and pass the new severity to open inspections."""
    if insp.switching_recorded_at is not None:
        return
    final = (insp.verdict_override or {}).get("verdict") or insp.verdict
    plans = plans_for(insp)
    if final not in ("pass", "fail") or not plans:
        return
    po = _po(insp)
    rec = switching_record(insp.product_id, po.factory_id, lock=True)
    if rec is None:
        rec = SwitchingStateRecord(id=uuid.uuid4(), product_id=insp.product_id, factory_id=po.factory_id,
                                   inspection="normal", state=aql.SwitchingState().to_dict(), history=[])
        db.session.add(rec)
    # The lot result of the class that governs switching: accepted only if every class is;
    # switching score from the major class (the usual reference AQL), Ac of its plan.
    main = "major" if "major" in plans else next(iter(plans))
    found = outcome.get("classes", {}).get(main, {}).get("found", 0)
    result = aql.lot_result(plans[main], found)
    result["accepted"] = final == "pass"
    result["reinstate_normal"] = bool(outcome.get("normal_reinstated"))
    result["resumed"] = rec.inspection == "discontinued"
    new_state = aql.next_state(aql.SwitchingState.from_dict(rec.state or {}), result)
    previous = rec.inspection
    rec.state = new_state.to_dict()
    rec.inspection = new_state.inspection
    rec.history = [*(rec.history or []), {"inspection_id": str(insp.id), "accepted": result["accepted"],
                                          "from": previous, "to": new_state.inspection,
                                          "at": utcnow().isoformat()}][-50:]
    insp.switching_recorded_at = utcnow()
    severity = "tightened" if new_state.inspection == "discontinued" else new_state.inspection
    waiting = db.session.scalars(
        select(Inspection).join(PurchaseOrder, Inspection.purchase_order_id == PurchaseOrder.id)
        .where(Inspection.product_id == insp.product_id, PurchaseOrder.factory_id == po.factory_id,
               Inspection.status == "assigned", Inspection.id != insp.id, Inspection.deleted.is_(False)))
    for other in waiting:
        if other.severity != severity:
            other.severity = severity
            recompute_verdict(other)


def _factory_makes(product: Product, factory_id: uuid.UUID) -> bool:
    from ..catalog.models import POLine

    return switching_record(product.id, factory_id) is not None or db.session.scalar(
        select(POLine.id).join(PurchaseOrder, POLine.purchase_order_id == PurchaseOrder.id)
        .where(POLine.product_id == product.id, PurchaseOrder.factory_id == factory_id,
               PurchaseOrder.brand_id == product.brand_id, PurchaseOrder.deleted.is_(False)).limit(1)) is not None


def switching_state_for(p: Principal, product_id: uuid.UUID, factory_id: uuid.UUID) -> dict[str, Any]:
    """The switching state of a product stream, for the brand and the factory's managers.

    Raises ``NotFound`` when the product is not the caller's brand's and the factory not theirs.
    """
    product = db.session.get(Product, product_id)
    if product is None or product.deleted:
        raise NotFound("No such product.")
    allowed = p.sees_whole_po(product.brand_id, factory_id)
    if allowed and not (p.is_platform_admin or product.brand_id in p.brand_ids):
        # A factory's manager sees only products their factory makes (a PO of the product's brand to
        # the factory, or a switching record): another brand's product id answers 404 like a missing one.
        allowed = _factory_makes(product, factory_id)
    if not allowed:
        raise NotFound("No such product.")
    rec = switching_record(product_id, factory_id)
    if rec is None:
        return {"product_id": product_id, "factory_id": factory_id, "inspection": "normal",
                "state": aql.SwitchingState().to_dict(), "history": [], "updated_at": None}
    return {"product_id": product_id, "factory_id": factory_id, "inspection": rec.inspection,
            "state": rec.state, "history": rec.history, "updated_at": rec.updated_at}


# -- inspections --------------------------------------------------------------------------

def _check_inspector(user_id: uuid.UUID, factory_id: uuid.UUID) -> None:
    ok = db.session.scalar(select(Membership.id).where(Membership.user_id == user_id,
                                                       Membership.organisation_id == factory_id,
                                                       Membership.role.in_(roles_granting(Action.inspect))))
    if not ok:
        raise ValidationFailed(errors={"inspector_id": ["Not an inspector of the PO's factory."]})


def create_inspection(p: Principal, data: dict[str, Any]) -> Inspection:
    """Create (and optionally assign) an inspection of a PO or one of its batches (brand editors).

    The AQLs (defaults, product, PO) and the stream's switching severity are fixed at creation;
    the template version is kept for the inspection's life. Raises ``NotFound`` for a PO
    outside the caller's scope, ``Forbidden`` for non-editors, ``ValidationFailed`` for a
    batch, product, template or inspector that does not fit the PO, ``Conflict`` for a
    reused id.
    """
    from ..catalog.service import visible_purchase_orders

    po = db.session.scalar(visible_purchase_orders(p).where(PurchaseOrder.id == data["purchase_order_id"]))
    if po is None:
        raise NotFound("No such purchase order.")
    _require_brand_editor(p, po.brand_id)
    line_products = {line.product_id for line in po.lines if not line.deleted}
    batch = None
    if data.get("batch_id"):
        batch = db.session.get(Batch, data["batch_id"])
        if batch is None or batch.deleted or batch.po_line.purchase_order_id != po.id:
            raise ValidationFailed(errors={"batch_id": ["No such batch on this PO."]})
    product_id = data.get("product_id") or (batch.po_line.product_id if batch else None)
    if product_id is None:
        if len(line_products) != 1:
            raise ValidationFailed(errors={"product_id": ["This PO has several products: say which."]})
        product_id = next(iter(line_products))
    if product_id not in line_products or (batch and batch.po_line.product_id != product_id):
        raise ValidationFailed(errors={"product_id": ["This product is not on the PO (or the batch)."]})
    product = db.session.get(Product, product_id)
    template = db.session.get(ChecklistTemplate, data["template_id"])
    if template is None or template.deleted or template.brand_id != po.brand_id:
        raise ValidationFailed(errors={"template_id": ["No such checklist template for this brand."]})
    if template.archived_at is not None:
        raise ValidationFailed(errors={"template_id": ["This checklist is archived."]})
    if data.get("inspector_id"):
        _check_inspector(data["inspector_id"], po.factory_id)
    if data.get("id") and db.session.get(Inspection, data["id"]) is not None:
        raise Conflict("An inspection with this id already exists.")
    lot_size = data.get("lot_size") or (batch.lot_size if batch else None)
    if lot_size is None:
        lot_size = sum(line.quantity for line in po.lines if line.product_id == product_id and not line.deleted)
    line = batch.po_line if batch else next((ln for ln in po.lines if ln.product_id == product_id and not ln.deleted),
                                            None)
    golden = reference_golden_sample(line, product_id)  # the version this PO is pinned to
    insp = Inspection(id=data.get("id") or uuid.uuid4(), kind=data["kind"], purchase_order_id=po.id,
                      batch_id=batch.id if batch else None, product_id=product_id, template_id=template.id,
                      inspector_id=data.get("inspector_id"), golden_sample_id=golden.id if golden else None,
                      status="assigned", verdict="pending", verdict_reasons=[], lot_size=lot_size,
                      inspection_level=data.get("inspection_level", "II"),
                      severity=current_severity(product_id, po.factory_id), aql=effective_aqls(po, product),
                      scheduled_for=data.get("scheduled_for"), notes=data.get("notes", ""))
    insp.template = template
    db.session.add(insp)
    plans_for(insp)  # fail early on an AQL with no plan
    recompute_verdict(insp)
    db.session.flush()
    record_audit("inspection", insp.id, insp.id, "create",
                 {"kind": [None, insp.kind], "inspector_id": [None, insp.inspector_id],
                  "template_id": [None, template.id], "lot_size": [None, lot_size]}, p.id)
    db.session.commit()
    return insp


def list_inspections(p: Principal, args: dict[str, Any]) -> Select:
    """Inspections the principal may see, filtered by PO, batch, product, inspector, status and kind."""
    q = visible_inspections(p)
    for key in ("purchase_order_id", "batch_id", "product_id", "inspector_id", "status", "kind"):
        if key in args:
            q = q.where(getattr(Inspection, key) == args[key])
    return q.order_by(Inspection.scheduled_for.is_(None), Inspection.scheduled_for, Inspection.created_at)


def _not_frozen(insp: Inspection) -> None:
    if insp.status in ("signed_off", "cancelled"):
        raise Conflict(f"This inspection is {insp.status.replace('_', ' ')}; it can no longer change.")


def update_inspection(p: Principal, insp: Inspection, data: dict[str, Any]) -> Inspection:
    """Assign, reschedule, change lot size or level, or cancel an inspection (brand editors).

    Raises ``Forbidden`` for non-editors, ``Conflict`` once signed off or cancelled,
    ``ValidationFailed`` for an inspector outside the PO's factory.
    """
    po = _po(insp)
    _require_brand_editor(p, po.brand_id)
    _not_frozen(insp)
    if data.get("inspector_id"):
        _check_inspector(data["inspector_id"], po.factory_id)
    changes = _apply(insp, data)
    if {"lot_size", "inspection_level"} & set(changes):
        plans_for(insp)
    if changes:
        recompute_verdict(insp)
        action = "assign" if set(changes) == {"inspector_id"} else "update"
        record_audit("inspection", insp.id, insp.id, action, changes, p.id)
    db.session.commit()
    return insp


def override_verdict(p: Principal, insp: Inspection, data: dict[str, Any]) -> Inspection:
    """A brand reviewer overrides the computed verdict with a reason (recorded in the audit trail).

    Raises ``Forbidden`` for anyone but the brand's admins and reviewers.
    """
    po = _po(insp)
    _require_brand_editor(p, po.brand_id)
    old = insp.verdict_override
    insp.verdict_override = {"verdict": data["verdict"], "reason": data["reason"], "by": str(p.id),
                             "by_name": p.user.name, "at": utcnow().isoformat(), "computed": insp.verdict}
    record_audit("inspection", insp.id, insp.id, "override", {"verdict_override": [old, insp.verdict_override]},
                 p.id)
    if insp.status == "signed_off" and insp.switching_recorded_at is None:
        _advance_switching(insp, recompute_verdict(insp))
    db.session.commit()
    return insp


def change_status(p: Principal, insp: Inspection, status: str) -> Inspection:
    """Start, submit or sign off an inspection through the API (its inspector); same rules as sync."""
    fields = prepare_sync_fields("inspection", {"status": status}, insp, p)
    changes = _apply(insp, fields)
    if changes:
        record_audit("inspection", insp.id, insp.id, "update", changes, p.id)
    after_sync({insp.id}, p)
    db.session.commit()
    return insp


# -- verdict --------------------------------------------------------------------------------

def _live(model, insp_id: uuid.UUID) -> list:
    return list(db.session.scalars(select(model).where(model.inspection_id == insp_id, model.deleted.is_(False))))


def recompute_verdict(insp: Inspection, rows: dict[str, list] | None = None) -> dict[str, Any]:
    """Recompute and store an inspection's verdict and reasons from its stored rows; no commit.

    Counts: defects per class (plus ``defect_count`` answers), failed checklist items,
    sampled units out of tolerance (measurements and number answers tied to a dimension
    spec), required items answered. Units inspected: distinct unit indexes seen, or the
    whole sample once the inspector has submitted. Returns ``compute_verdict``'s result
    (with ``classes`` empty while the lot size is unknown). ``rows`` are the live rows
    preloaded by :func:`_live_rows` (default: read here).
    """
    db.session.flush()
    template = insp.template or db.session.get(ChecklistTemplate, insp.template_id)
    items = template_items(template) if template else {}
    plans = plans_for(insp)
    if plans is None:
        outcome = {"verdict": "pending", "reasons": ["lot size unknown: no sampling plan yet"],
                   "normal_reinstated": False, "classes": {}}
        insp.verdict, insp.verdict_reasons = outcome["verdict"], outcome["reasons"]
        return outcome
    product = None  # read only when a defect-count answer needs the product's category
    if rows is None:
        responses, measurements, found_defects = (_live(ChecklistResponse, insp.id), _live(Measurement, insp.id),
                                                  _live(Defect, insp.id))
        photos = _live(Photo, insp.id)
    else:
        responses, measurements, found_defects, photos = (rows["response"], rows["measurement"], rows["defect"],
                                                          rows["photo"])
    counts = {cls: 0 for cls in plans}
    for d in found_defects:
        if d.defect_class in counts:
            counts[d.defect_class] += d.count
    failed_items = 0
    failed_dimension_answers: list[tuple[Any, bool, None]] = []
    answered: set[str] = set()
    for r in responses:
        item = items.get(r.item_key)
        if item is None:
            continue
        if r.value is not None:
            answered.add(r.item_key)
        if item["kind"] == "defect_count" and isinstance(r.value, int) and not isinstance(r.value, bool):
            if product is None and not item.get("defect_class"):
                product = db.session.get(Product, insp.product_id)
            cls = item.get("defect_class") or defects.default_class(item.get("defect", ""), product.category)
            if cls in counts:
                counts[cls] += r.value
        elif r.passed is False:
            if item.get("dimension_spec_id"):
                failed_dimension_answers.append((r.unit_index, False, None))
            else:
                failed_items += 1
    measured_specs = {str(m.dimension_spec_id) for m in measurements}
    units_out = verdict.units_out_of_tolerance(
        [*failed_dimension_answers, *((m.unit_index, bool(m.in_tolerance), m.photo_id) for m in measurements)],
        [(ph.id, ph.unit_index, ph.analysis_status) for ph in photos])
    for item in items.values():
        if item.get("dimension_spec_id") and item["dimension_spec_id"] in measured_specs:
            answered.add(item["key"])
        if item["kind"] == "photo" and any(ph.item_key == item["key"] for ph in photos):
            answered.add(item["key"])
    required = [k for k, i in items.items() if i.get("required")]
    units = {x.unit_index for x in (*responses, *measurements, *found_defects) if x.unit_index is not None}
    units_inspected = len(units)
    if insp.status in COMPLETE_STATUSES:
        units_inspected = max(units_inspected, max(pl.sample_size for pl in plans.values()))
    rule = dict(template.verdict_rule) if template and template.verdict_rule else None
    if rule:
        for key in ("failed_item_class", "measurement_failure_class"):
            if rule.get(key) is not None and rule[key] not in plans:
                rule[key] = None
    outcome = verdict.compute_verdict(plans, counts, failed_items=failed_items,
                                      measurement_failures=units_out,
                                      answered_items=len(set(required) & answered), required_items=len(required),
                                      units_inspected=units_inspected, rule=rule)
    if insp.verdict != outcome["verdict"]:
        insp.verdict = outcome["verdict"]
    if insp.verdict_reasons != outcome["reasons"]:
        insp.verdict_reasons = outcome["reasons"]
    return outcome


# -- sync contract ----------------------------------------------------------------------------

_RESPONSE_FIELDS = frozenset({"item_key", "unit_index", "value", "note", "deleted"})


def _response_fields(fields: dict[str, Any], insp: Inspection, base: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **fields}
    items = _items_of(insp)
    key = merged.get("item_key")
    if not isinstance(key, str) or key not in items:
        raise ValidationFailed(errors={"item_key": ["No such item in this inspection's checklist version."]})
    item = items[key]
    out = {k: v for k, v in fields.items() if k in _RESPONSE_FIELDS}
    if "unit_index" in fields:
        out["unit_index"] = _int(fields["unit_index"], "unit_index")
    if "note" in fields:
        out["note"] = _text(fields["note"], "note")
    value = merged.get("value")
    kind = item["kind"]
    passed = None
    if value is None:
        passed = None
    elif kind == "yes_no_na":
        if value is True or value is False:
            value = "yes" if value else "no"
        if value not in ("yes", "no", "na"):
            raise ValidationFailed(errors={"value": ["Answer yes, no or na."]})
        passed = {"yes": True, "no": False, "na": None}[value]
    elif kind == "number":
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
        value = {"value": number, "unit": unit} if isinstance(value, dict) else number
        passed = measure.in_tolerance(measure.to_base(number, unit), measure.to_base(item["nominal"], item["unit"]),
                                      measure.to_base(item["tolerance"], item["unit"]),
                                      None if item.get("tolerance_minus") is None
                                      else measure.to_base(item["tolerance_minus"], item["unit"]))
    elif kind == "choice":
        if value not in item.get("choices", []):
            raise ValidationFailed(errors={"value": [f"Choose one of {', '.join(item.get('choices', []))}."]})
        passed = (value in item["pass_choices"]) if item.get("pass_choices") else None
    elif kind == "text":
        value = _text(value, "value")
    elif kind == "photo":
        ids = value if isinstance(value, list) else [value]
        for v in ids:
            _as_uuid(v, "value")
        value = [str(v) for v in ids] if isinstance(value, list) else str(value)
    elif kind == "defect_count":
        value = _int(value, "value")
    if "value" in fields:
        out["value"] = value
    out["passed"] = passed
    return out


def _measurement_fields(fields: dict[str, Any], insp: Inspection, base: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **fields}
    if merged.get("dimension_spec_id") is None:
        raise ValidationFailed(errors={"dimension_spec_id": ["Missing data for required field."]})
    spec_id = _as_uuid(merged["dimension_spec_id"], "dimension_spec_id")
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
    if merged.get("value_entered") is None:
        raise ValidationFailed(errors={"value_entered": ["Missing data for required field."]})
    value = _number(merged["value_entered"], "value_entered")
    value_mm = measure.to_mm(value, unit)
    source = merged.get("source") or "manual"
    if source not in ("manual", "photo"):
        raise ValidationFailed(errors={"source": ["Use manual or photo."]})
    out = {"dimension_spec_id": spec_id, "unit_index": _int(merged.get("unit_index"), "unit_index",
                                                             allow_none=False),
           "value_entered": value, "unit_entered": unit, "value_si": value_mm, "source": source,
           "in_tolerance": measure.in_tolerance(value_mm, spec.nominal_mm, spec.tolerance_mm)}
    if merged.get("photo_id") is not None:
        out["photo_id"] = _as_uuid(merged["photo_id"], "photo_id")
    elif "photo_id" in fields:
        out["photo_id"] = None
    if "deleted" in fields:
        out["deleted"] = bool(fields["deleted"])
    return out


def _defect_fields(fields: dict[str, Any], insp: Inspection, base: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **fields}
    code = merged.get("code")
    if not isinstance(code, str) or not 1 <= len(code) <= 60:
        raise ValidationFailed(errors={"code": ["Give a defect code (1-60 characters)."]})
    cls = merged.get("defect_class")
    if cls is None:
        product = db.session.get(Product, insp.product_id)
        cls = defects.default_class(code, product.category if product else None)
        if cls is None:
            raise ValidationFailed(errors={"defect_class": ["Not in the defect library: give a class."]})
    if cls not in DEFECT_CLASSES:
        raise ValidationFailed(errors={"defect_class": ["Use critical, major or minor."]})
    out = {"code": code, "defect_class": cls,
           "count": _int(merged.get("count", 1), "count", minimum=1, allow_none=False),
           "unit_index": _int(merged.get("unit_index"), "unit_index"), "note": _text(merged.get("note"), "note")}
    if "deleted" in fields:
        out["deleted"] = bool(fields["deleted"])
    return out


def _inspection_fields(fields: dict[str, Any], insp: Inspection, p: Principal) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "status" in fields and fields["status"] != insp.status:
        status = fields["status"]
        if status not in INSPECTOR_TRANSITIONS.get(insp.status, set()):
            raise ValidationFailed(errors={"status": [f"Cannot go from {insp.status} to {status}."]})
        if status == "signed_off" and not (p.is_platform_admin or insp.inspector_id == p.id):
            raise Forbidden("Only the assigned inspector signs off.")
        out["status"] = status
        if status != "assigned" and insp.started_at is None and "started_at" not in fields:
            out["started_at"] = utcnow()
        if status == "signed_off":
            out["signed_off_at"] = utcnow()
    if "started_at" in fields:
        out["started_at"] = _as_datetime(fields["started_at"], "started_at")
    if "notes" in fields:
        out["notes"] = _text(fields["notes"], "notes", 20000)
    if "lot_size" in fields:
        out["lot_size"] = _int(fields["lot_size"], "lot_size", minimum=2)
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
    signed_at = _as_datetime(value.get("signed_at"), "signature")
    if signed_at is None:
        raise bad("Give the time of signing (signed_at).")
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
    if fields.get("id") is None:
        return None
    model = ROW_MODELS.get(entity)
    if model is None:
        return None
    return db.session.get(model, _as_uuid(fields["id"], "id"))


def _base(row: Any, names: Iterable[str]) -> dict[str, Any]:
    return {n: getattr(row, n) for n in names} if row is not None else {}


def prepare_sync_fields(entity: str, fields: dict, inspection: Inspection, principal: Principal,
                        existing: Any = None) -> dict:
    """Check and normalise the fields of one upsert of ``entity`` on ``inspection``; return those to apply.

    Called by the sync service (and by the API) before applying the change, inside the
    caller's transaction; never commits. ``existing`` is the row being updated (looked up by
    ``fields["id"]`` when not given), so partial updates are checked against the whole row.
    Derived fields are computed here: a measurement's ``value_si`` and ``in_tolerance``, a
    response's ``passed``, a defect's class from the library. Phones may set on an inspection
    only ``status`` (inspector transitions), ``started_at``, ``notes`` and ``lot_size``;
    other inspection fields are server-owned and dropped.

    Raises ``ValidationFailed`` (``errors={field: [msg]}``) for values that can never be valid
    (unknown item key or unit, a dimension spec of another product, a wrong kind of value,
    a change to a signed-off inspection), ``Forbidden`` when the principal may not write
    these rows.
    """
    if entity not in SYNC_ENTITIES:
        raise ValidationFailed(errors={"entity": [f"Unknown entity {entity!r}."]})
    fields = dict(fields or {})
    given_insp = fields.get("inspection_id")
    if entity != "inspection" and given_insp is not None and _as_uuid(given_insp, "inspection_id") != inspection.id:
        raise ValidationFailed(errors={"inspection_id": ["Does not match the inspection."]})
    if entity in ("comment", "decision"):
        return _review_fields(entity, fields, inspection, principal, existing)
    if not _may_write_rows(principal, inspection):
        raise Forbidden("Only the assigned inspector and the factory's managers write inspection rows.")
    if entity != "photo" and inspection.status in ("signed_off", "cancelled"):
        raise ValidationFailed(errors={"inspection_id": [f"The inspection is {inspection.status.replace('_', ' ')}; "
                                                         "it can no longer change."]})
    if existing is None:
        existing = _existing(entity, fields)
    if existing is not None and _as_uuid(getattr(existing, "inspection_id", None) or inspection.id,
                                         "id") != inspection.id:
        raise ValidationFailed(errors={"id": ["This row belongs to another inspection."]})
    if entity == "inspection":
        return _inspection_fields(fields, inspection, principal)
    if entity == "response":
        return _response_fields(fields, inspection, _base(existing, ("item_key", "unit_index", "value", "note")))
    if entity == "measurement":
        return _measurement_fields(fields, inspection, _base(existing, (
            "dimension_spec_id", "unit_index", "value_entered", "unit_entered", "source", "photo_id")))
    if entity == "defect":
        return _defect_fields(fields, inspection, _base(existing, (
            "code", "defect_class", "count", "unit_index", "note")))
    # photo: metadata only; the blob flow owns the bytes and upload state
    if fields.get("item_key") is not None:
        items = _items_of(inspection)
        if fields["item_key"] not in items:
            raise ValidationFailed(errors={"item_key": ["No such item in this inspection's checklist version."]})
    return fields


# What the assigned inspector may change on a reviewer's decision: marking a retake task done.
_INSPECTOR_DECISION_FIELDS = {"id", "resolved", "inspection_id", "photo_id"}


def _review_fields(entity: str, fields: dict[str, Any], insp: Inspection, p: Principal,
                   existing: Any = None) -> dict[str, Any]:
    if entity == "decision":
        if existing is None and fields.get("id") is not None:
            existing = db.session.get(ReviewDecision, _as_uuid(fields["id"], "id"))
        if (existing is not None and insp.inspector_id == p.id and set(fields) <= _INSPECTOR_DECISION_FIELDS
                and existing.decision == "retake"):
            return {k: v for k, v in fields.items() if k == "resolved"}
        _require_brand_editor(p, _po(insp).brand_id)
        return {**fields, "reviewer_id": p.id}
    if "body" in fields:
        fields["body"] = _text(fields["body"], "body", 10000)
        if not fields["body"].strip():
            raise ValidationFailed(errors={"body": ["Write something."]})
    return {**fields, "author_id": p.id}


def after_sync(inspection_ids: set, principal: Principal, *, written: dict[uuid.UUID, dict[str, list[dict]]]
               | None = None, written_after_rev: int | None = None) -> None:
    """Recompute the verdicts of these inspections; advance switching for those now signed off.

    Called after a batch's mutations are applied, before the caller commits; never commits.
    Idempotent: a lot advances its stream's switching state once.

    ``written`` spares reading back what the caller just wrote: for each inspection, per
    entity (response, measurement, defect, photo), every row of it whose revision is above
    ``written_after_rev``, as the caller holds them (dicts of column values, tombstones
    included). The other rows are read from the database.
    """
    ids = sorted(inspection_ids, key=str)
    db.session.flush()
    insps: dict[uuid.UUID, Inspection] = {}
    for chunk in _chunks(ids):
        insps.update((i.id, i) for i in db.session.scalars(select(Inspection).where(Inspection.id.in_(chunk))))
    if written is None:
        rows = _live_rows(ids)
    else:
        rows = _live_rows(ids, through_rev=written_after_rev)
        for insp_id, by_entity in written.items():
            mine = rows.setdefault(insp_id, {n: [] for n in _VERDICT_COLUMNS})
            for name, written_rows in by_entity.items():
                shape = _VERDICT_ROW.get(name)
                if shape is None:  # comments and decisions play no part in the verdict
                    continue
                mine[name].extend(shape(*(r[c] for c in shape._fields)) for r in written_rows if not r["deleted"])
    for insp_id in ids:
        insp = insps.get(insp_id)
        if insp is None or insp.deleted:
            continue
        outcome = recompute_verdict(insp, rows.get(insp_id) or _NO_ROWS)
        if insp.status == "signed_off" and insp.switching_recorded_at is None:
            _advance_switching(insp, outcome)


#: What the verdict reads of each row kind (light Core rows instead of ORM objects).
_VERDICT_COLUMNS = {
    "response": (ChecklistResponse, ("item_key", "value", "passed", "unit_index")),
    "measurement": (Measurement, ("dimension_spec_id", "in_tolerance", "unit_index", "photo_id")),
    "defect": (Defect, ("defect_class", "count", "unit_index")),
    "photo": (Photo, ("item_key", "id", "unit_index", "analysis_status")),
}
_NO_ROWS: dict[str, list] = {name: [] for name in _VERDICT_COLUMNS}
#: One verdict row of each kind, for rows the caller holds in memory.
_VERDICT_ROW = {name: namedtuple(f"Verdict{name.title()}", columns) for name, (_, columns) in _VERDICT_COLUMNS.items()}


def _chunks(items: list, size: int = 500) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _live_rows(inspection_ids: list, through_rev: int | None = None) -> dict[uuid.UUID, dict[str, list]]:
    """Live rows of these inspections for the verdict (those at revisions up to ``through_rev``, if given).

    One query per table, and per inspection when there are only a few.
    """
    out: dict[uuid.UUID, dict[str, list]] = {}
    for name, (model, columns) in _VERDICT_COLUMNS.items():
        t = model.__table__
        cols = [t.c[c] for c in columns]
        live = [t.c.deleted.is_(False)] + ([t.c.rev <= through_rev] if through_rev is not None else [])
        if len(inspection_ids) <= _FEW_INSPECTIONS:
            # A push usually touches one inspection: no need to read each row's inspection id back.
            for insp_id in inspection_ids:
                rows = db.session.execute(select(*cols).where(t.c.inspection_id == insp_id, *live)).all()
                out.setdefault(insp_id, {n: [] for n in _VERDICT_COLUMNS})[name] = rows
            continue
        for chunk in _chunks(inspection_ids):
            q = select(t.c.inspection_id, *cols).where(t.c.inspection_id.in_(chunk), *live)
            for row in db.session.execute(q):
                out.setdefault(row.inspection_id, {n: [] for n in _VERDICT_COLUMNS})[name].append(row)
    return out


_FEW_INSPECTIONS = 4


# -- rows through the API ---------------------------------------------------------------------

ROW_MODELS = {"response": ChecklistResponse, "measurement": Measurement, "defect": Defect}


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
    changes = _apply(row, fields)
    if changes or action == "create":
        record_audit(entity, row.id, insp.id, action, changes, p.id)
    if insp.status == "assigned":
        insp.status, insp.started_at = "in_progress", insp.started_at or utcnow()
    recompute_verdict(insp)
    db.session.commit()
    return row


def delete_row(p: Principal, insp: Inspection, entity: str, row_id: uuid.UUID) -> None:
    """Tombstone a row of an inspection (its inspector); recomputes the verdict."""
    model = ROW_MODELS[entity]
    row = db.session.get(model, row_id)
    if row is None or row.inspection_id != insp.id or row.deleted:
        raise NotFound(f"No such {entity} on this inspection.")
    prepare_sync_fields(entity, {"deleted": True}, insp, p, existing=row)
    row.deleted = True
    record_audit(entity, row.id, insp.id, "delete", {"deleted": [False, True]}, p.id)
    recompute_verdict(insp)
    db.session.commit()


def inspection_detail(insp: Inspection) -> SimpleNamespace:
    """An inspection with its template version, plans, verdict detail and live rows (for the API)."""
    from .schemas import InspectionSchema

    outcome = recompute_verdict(insp)
    plans = plans_for(insp) or {}
    photos = _live(Photo, insp.id)
    data = {name: getattr(insp, name) for name in InspectionSchema().fields if hasattr(insp, name)}
    defects_rows = _live(Defect, insp.id)
    for d in defects_rows:
        d.photo_ids = [ph.id for ph in photos if ph.defect_id == d.id]
    data.update(template=insp.template, plans={k: v.to_dict() for k, v in plans.items()},
                verdict_detail=outcome, responses=_live(ChecklistResponse, insp.id),
                measurements=sorted(_live(Measurement, insp.id),
                                    key=lambda m: (m.unit_index, str(m.dimension_spec_id))),
                defects=defects_rows, photos=photos)
    return SimpleNamespace(**data)


def measurement_summary(insp: Inspection) -> list[dict[str, Any]]:
    """Per dimension spec of the product: count, mean, min, max, stdev and units out of tolerance (mm)."""
    product = db.session.get(Product, insp.product_id)
    rows = _live(Measurement, insp.id)
    out = []
    for spec in product.dimension_specs:
        if spec.deleted:
            continue
        values = [m.value_si for m in rows if m.dimension_spec_id == spec.id]
        stats = measure.spec_stats(values, spec.nominal_mm, spec.tolerance_mm)
        out.append({"dimension_spec_id": spec.id, "name": spec.name, "unit": "mm", "nominal": spec.nominal_mm,
                    "tolerance": spec.tolerance_mm, **stats})
    return out


def audit_events(p: Principal, insp: Inspection) -> list[AuditEvent]:
    """The audit trail of an inspection and its rows, oldest first (the brand and the factory's managers).

    Raises ``Forbidden`` for inspectors without a manager role.
    """
    po = _po(insp)
    allowed = p.sees_whole_po(po.brand_id, po.factory_id)
    if not allowed:
        raise Forbidden("The audit trail is for the brand and the factory's managers.")
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.inspection_id == insp.id,
                                                            AuditEvent.action != AuditEvent.NO_CHANGE)
                                   .order_by(AuditEvent.at, AuditEvent.id)))


def user_name(user_id: uuid.UUID | None) -> str | None:
    """A user's display name, or None."""
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    return user.name if user else None

