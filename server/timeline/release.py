"""Rules of the shipment release gate: gather the gate's input, waive items, release a shipment.

No Flask request objects here. The checks themselves are pure (:mod:`server.timeline.gate`);
this module reads the database and enforces who may do what:

* anyone who may see the PO (not inspectors) reads the gate;
* brand editors of the PO's brand alone waive an item (with a reason) or revoke a waiver;
* the factory's managers and the brand's editors release a shipment, only through the gate.

Waivers, revocations, releases and the brand's document decisions are written to the audit trail
(``AuditEvent`` with ``entity="shipment"`` and the shipment's id as ``record_id``).
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from ..audit import record_audit
from ..auth import Principal
from ..catalog.models import Batch, PurchaseOrder
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..inspect.models import Inspection
from ..models import utcnow
from ..sync.models import AuditEvent
from . import gate as gt
from .models import GateWaiver, ProgressReport, Shipment
from .service import (_child_or_404, inspector_view, packing_check, refresh_alerts, require_brand, require_party,
                      today_utc)


class ReleaseBlocked(Conflict):
    """409 with ``missing``: the gate items that keep a shipment from being released."""

    code, title = "release_blocked", "Not ready to release"


def record_shipment_event(shipment: Shipment, action: str, changes: dict[str, Any], user_id: uuid.UUID | None) -> None:
    """Add an audit event about the shipment (no commit)."""
    record_audit("shipment", shipment.id, None, action, changes, user_id)


def _shipment_lines(shipment: Shipment, po: PurchaseOrder) -> list:
    """The PO lines the shipment carries: those on its packing list, or every line without one."""
    packed = {str(c["po_line_id"]) for row in shipment.cartons for c in row.contents if c.get("units")}
    lines = [line for line in po.lines if not line.deleted]
    return [line for line in lines if str(line.id) in packed] or lines


def _lot_states(po: PurchaseOrder, lines: list) -> list[gt.LotState]:
    finals = db.session.scalars(select(Inspection).where(
        Inspection.purchase_order_id == po.id, Inspection.kind == "final", Inspection.deleted.is_(False),
        Inspection.status == "signed_off")).all()
    finals = sorted(finals, key=lambda i: (i.signed_off_at is not None, i.signed_off_at or i.created_at))

    def latest(match) -> Inspection | None:
        found = [i for i in finals if match(i)]
        return found[-1] if found else None

    out = []
    for line in lines:
        batches = db.session.scalars(select(Batch).where(Batch.po_line_id == line.id, Batch.deleted.is_(False))
                                     .order_by(Batch.sequence, Batch.code)).all()
        if batches:
            for b in batches:
                insp = latest(lambda i, b=b: i.batch_id == b.id)
                out.append(gt.LotState(f"batch:{b.id}", f"Lot {b.code} ({line.product.sku})",
                                       insp.final_verdict if insp else None, str(insp.id) if insp else None))
        else:
            insp = latest(lambda i, line=line: i.batch_id is None and i.product_id == line.product_id)
            out.append(gt.LotState(f"line:{line.id}", f"{line.product.sku} (whole line)",
                                   insp.final_verdict if insp else None, str(insp.id) if insp else None))
    return out


def gate_input(shipment: Shipment, po: PurchaseOrder) -> gt.GateInput:
    """Everything the gate needs about ``shipment``, read from the database."""
    lines = _shipment_lines(shipment, po)
    produced: dict[uuid.UUID, int] = {}
    for r in db.session.scalars(select(ProgressReport).where(ProgressReport.purchase_order_id == po.id,
                                                             ProgressReport.deleted.is_(False))):
        produced[r.po_line_id] = produced.get(r.po_line_id, 0) + r.units_produced
    check = packing_check(shipment, po)
    return gt.GateInput(
        lines=[gt.LineState(str(line.id), line.product.sku, line.quantity, produced.get(line.id, 0)) for line in lines],
        lots=_lot_states(po, lines),
        documents=[gt.DocumentState(d.kind, d.title, d.required, d.status, d.rejection_reason or "")
                   for d in shipment.documents],
        packing_list_complete=shipment.packing_list_completed_on is not None,
        packing_ok=bool(shipment.cartons) and check.ok, booking_number=shipment.booking_number or "",
        container_type=shipment.container_type or "", container_count=shipment.container_count or 0,
        fits=check.fits)


def active_waivers(shipment: Shipment) -> list[GateWaiver]:
    return list(db.session.scalars(select(GateWaiver).where(GateWaiver.shipment_id == shipment.id,
                                                            GateWaiver.revoked_at.is_(None))
                                   .order_by(GateWaiver.created_at)))


def _item_json(i: gt.GateItem, waiver: GateWaiver | None = None) -> dict[str, Any]:
    out = {"item": i.item, "subject": i.subject, "message": i.message, "details": i.details}
    if waiver is not None:
        out["waiver"] = {"id": str(waiver.id), "reason": waiver.reason, "waived_by_id": str(waiver.waived_by_id),
                         "waived_at": waiver.created_at.isoformat()}
    return out


def evaluate(shipment: Shipment, po: PurchaseOrder) -> dict[str, Any]:
    """``{shipment_id, released, ready, missing: [...], waived: [...]}`` for ``shipment`` as it is now."""
    items = gt.gate_items(gate_input(shipment, po))
    waivers = {(w.item, w.subject): w for w in active_waivers(shipment)}
    missing, waived = gt.split_waived(items, waivers)
    return {"shipment_id": shipment.id, "reference": shipment.reference,
            "released": shipment.departed_on is not None, "departed_on": shipment.departed_on,
            "ready": not missing, "missing": [_item_json(i) for i in missing],
            "waived": [_item_json(i, waivers[(i.item, i.subject)]) for i in waived]}


def shipment_gate(p: Principal, shipment: Shipment, po: PurchaseOrder) -> dict[str, Any]:
    """The release gate of a shipment (brand and factory; inspectors get ``NotFound``)."""
    if inspector_view(p, po):
        raise NotFound("No such shipment.")
    return evaluate(shipment, po)


def check_release(shipment: Shipment, po: PurchaseOrder, departed_on: date) -> None:
    """Raise ``ReleaseBlocked`` (with ``missing``) unless the gate passes; ``ValidationFailed`` for a future date."""
    if departed_on > today_utc() + timedelta(days=1):  # one day of slack for time zones east of UTC
        raise ValidationFailed(errors={"departed_on": ["A shipment cannot be marked departed on a future day."]})
    result = evaluate(shipment, po)
    if result["missing"]:
        raise ReleaseBlocked(f"Shipment {shipment.reference} cannot be released: "
                             f"{len(result['missing'])} item(s) missing.", missing=result["missing"])


def release_shipment(p: Principal, shipment: Shipment, po: PurchaseOrder, departed_on: date | None) -> dict[str, Any]:
    """Mark the shipment departed through the gate (factory managers, brand editors).

    Raises ``Forbidden``, ``Conflict`` when it already departed, ``ReleaseBlocked`` with the
    missing items, ``ValidationFailed`` for a future date.
    """
    require_party(p, po)
    if shipment.departed_on is not None:
        raise Conflict(f"Shipment {shipment.reference} departed on {shipment.departed_on.isoformat()}.")
    departed_on = departed_on or today_utc()
    check_release(shipment, po, departed_on)
    waived = evaluate(shipment, po)["waived"]
    shipment.departed_on = departed_on
    record_shipment_event(shipment, "release", {"departed_on": [None, departed_on.isoformat()],
                                                "waived": [None, [[w["item"], w["subject"]] for w in waived]]}, p.id)
    refresh_alerts(po)
    db.session.commit()
    return evaluate(shipment, po)


def waive_item(p: Principal, shipment: Shipment, po: PurchaseOrder, data: dict[str, Any]) -> GateWaiver:
    """Waive one missing gate item with a reason (brand editors). Audited.

    Raises ``Forbidden``, ``ValidationFailed`` (no reason, or the item is not missing now),
    ``Conflict`` when the shipment already departed or the item is already waived.
    """
    require_brand(p, po)
    reason = (data.get("reason") or "").strip()
    if not reason:
        raise ValidationFailed(errors={"reason": ["Say why the shipment may leave without this."]})
    if shipment.departed_on is not None:
        raise Conflict("The shipment has already departed.")
    subject = data.get("subject") or ""
    items = {(i.item, i.subject) for i in gt.gate_items(gate_input(shipment, po))}
    if (data["item"], subject) not in items:
        raise ValidationFailed(errors={"item": ["This item is not missing on the shipment's gate."]})
    if any((w.item, w.subject) == (data["item"], subject) for w in active_waivers(shipment)):
        raise Conflict("This item is already waived.")
    w = GateWaiver(shipment_id=shipment.id, item=data["item"], subject=subject, reason=reason, waived_by_id=p.id)
    db.session.add(w)
    db.session.flush()
    record_shipment_event(shipment, "waive", {"item": [None, data["item"]], "subject": [None, subject],
                                              "reason": [None, reason], "waiver_id": [None, str(w.id)]}, p.id)
    db.session.commit()
    return w


def waiver_or_404(p: Principal, waiver_id: uuid.UUID) -> tuple[GateWaiver, Shipment, PurchaseOrder]:
    w = db.session.get(GateWaiver, waiver_id)
    if w is None:
        raise NotFound("No such waiver.")
    shipment, po = _child_or_404(p, Shipment, w.shipment_id, "waiver")
    return w, shipment, po


def revoke_waiver(p: Principal, w: GateWaiver, shipment: Shipment, po: PurchaseOrder) -> GateWaiver:
    """Revoke a waiver (brand editors), before the shipment departs. Audited."""
    require_brand(p, po)
    if w.revoked_at is not None:
        raise Conflict("This waiver was already revoked.")
    if shipment.departed_on is not None:
        raise Conflict("The shipment has already departed.")
    w.revoked_at, w.revoked_by_id = utcnow(), p.id
    record_shipment_event(shipment, "revoke_waiver", {"waiver_id": [str(w.id), None], "item": [w.item, None],
                                                      "subject": [w.subject, None]}, p.id)
    db.session.commit()
    return w


def shipment_audit(p: Principal, shipment: Shipment, po: PurchaseOrder) -> list[AuditEvent]:
    """The shipment's audit trail (waivers, releases, document decisions), oldest first."""
    if inspector_view(p, po):
        raise Forbidden("The audit trail is for the brand and the factory's managers.")
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.entity == "shipment",
                                                            AuditEvent.record_id == shipment.id)
                                   .order_by(AuditEvent.at, AuditEvent.id)))
