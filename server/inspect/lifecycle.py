"""An inspection's life through the API: created and assigned by the brand, moved along by its
inspector, cancelled or overridden by the brand. The rules it applies are in ``rules.py``."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select

from ..accounts.models import Membership
from ..auth import Action, Principal, roles_granting
from ..catalog.models import Batch, Product, PurchaseOrder
from ..catalog.service import reference_golden_sample
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..models import utcnow
from .audit import apply_values, record_audit
from .models import ChecklistTemplate, Inspection
from . import rules
from .rules import InspectionState
from .scope import po_of, require_brand_editor, visible_inspections
from .switching import advance_switching, current_severity, effective_aqls, plans_for
from .verdicts import after_sync, recompute_verdict

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
    require_brand_editor(p, po.brand_id)
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


def update_inspection(p: Principal, insp: Inspection, data: dict[str, Any]) -> Inspection:
    """Assign, reschedule, change lot size or level, or cancel an inspection (brand editors).

    Raises ``Forbidden`` for non-editors, ``Conflict`` once signed off or cancelled,
    ``ValidationFailed`` for an inspector outside the PO's factory.
    """
    po = po_of(insp)
    try:
        rules.check_write(p, "inspection", "assign", InspectionState(insp, po.brand_id, po.factory_id))
    except rules.Frozen as exc:
        raise Conflict(exc.detail) from None
    if data.get("inspector_id"):
        _check_inspector(data["inspector_id"], po.factory_id)
    changes = apply_values(insp, data)
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
    po = po_of(insp)
    require_brand_editor(p, po.brand_id)
    old = insp.verdict_override
    insp.verdict_override = {"verdict": data["verdict"], "reason": data["reason"], "by": str(p.id),
                             "by_name": p.user.name, "at": utcnow().isoformat(), "computed": insp.verdict}
    record_audit("inspection", insp.id, insp.id, "override", {"verdict_override": [old, insp.verdict_override]},
                 p.id)
    if insp.status == "signed_off" and insp.switching_recorded_at is None:
        advance_switching(insp, recompute_verdict(insp))
    db.session.commit()
    return insp


def change_status(p: Principal, insp: Inspection, status: str) -> Inspection:
    """Start, submit or sign off an inspection through the API (its inspector); same rules as sync."""
    from .rows import prepare_sync_fields

    fields = prepare_sync_fields("inspection", {"status": status}, insp, p)
    changes = apply_values(insp, fields)
    if changes:
        record_audit("inspection", insp.id, insp.id, "update", changes, p.id)
    after_sync({insp.id}, p)
    db.session.commit()
    return insp
