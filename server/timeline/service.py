"""Rules of the post-PO workflow. No Flask request objects here; routes parse and call these.

Every function takes the :class:`~server.auth.Principal` and checks role and tenant. POs are
scoped with :func:`server.catalog.service.visible_purchase_orders`: a PO (or a row of a PO)
outside the caller's scope is ``NotFound``. Who may do what:

* brand editors (admin, brand reviewer of the PO's brand): everything, and alone decide golden
  samples, verify issues, approve export documents and override the golden-sample gate;
* factory managers/admins of the PO's factory: schedule, materials, progress, milestones,
  shipments, packing lists, documents, issues and comments;
* inspectors (no manager role): read only, and only what concerns their inspections.

Each change that can move the forecast ends with :func:`refresh_alerts` in the same transaction.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import date, timedelta
from typing import Any, Iterable

from sqlalchemy import func, or_, select

from ..accounts.models import Membership
from ..auth import Action, Principal
from ..catalog.models import Batch, GoldenSample, POLine, PurchaseOrder
from ..catalog.service import (add_golden_sample_version, current_golden_sample, golden_sample_pin,
                               pin_golden_sample, reference_golden_sample, visible_purchase_orders)
from ..errors import Conflict, Forbidden, NotFound, PayloadTooLarge, Unavailable, UnsupportedMedia, ValidationFailed
from ..extensions import db
from ..inspect.models import Defect, Inspection, Photo
from ..models import utcnow
from . import forecast as fc
from . import freight as fr
from .models import (ExportDocument, GoldenSampleSubmission, Issue, IssueComment, Material, Milestone,
                     PackingCarton, PoAlert, ProductionSchedule, ProgressReport, Shipment)

SEVERITY_RANK = {"critical": 0, "high": 1, "warning": 2, "medium": 2, "info": 3, "low": 3}
ALERT_WEIGHT = {"critical": 100, "high": 30, "warning": 10, "info": 1}
ISSUE_WEIGHT = {"critical": 20, "high": 10, "medium": 4, "low": 1}
OPEN_ISSUE_STATUSES = ("open", "in_progress")
ISSUE_TRANSITIONS = {
    "open": {"in_progress", "resolved", "wont_fix"},
    "in_progress": {"open", "resolved", "wont_fix"},
    "resolved": {"verified", "in_progress"},
    "wont_fix": {"open"},
    "verified": set(),
}
FREIGHT_WARN_DAYS = 7
ATTACHMENT_MAX_BYTES = 20 * 1024 * 1024
# Accepted document types and the leading bytes each must start with (checked, not trusted).
ATTACHMENT_TYPES = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
}


def today_utc() -> date:
    """Today's date in UTC: the day every forecast and due date is measured against."""
    return utcnow().date()


# -- scope and roles ---------------------------------------------------------------------------

def po_or_404(p: Principal, po_id: uuid.UUID) -> PurchaseOrder:
    """The PO if the principal may see it. Raises ``NotFound`` otherwise."""
    po = db.session.scalar(visible_purchase_orders(p).where(PurchaseOrder.id == po_id))
    if po is None:
        raise NotFound("No such purchase order.")
    return po


def is_brand_editor(p: Principal, po: PurchaseOrder) -> bool:
    """An admin or reviewer of the PO's brand (or a platform admin)."""
    return p.may(Action.edit_brand, po.brand_id)


def is_factory_editor(p: Principal, po: PurchaseOrder) -> bool:
    """A manager or admin of the PO's factory (or a platform admin)."""
    return p.may(Action.manage_factory, po.factory_id)


def inspector_view(p: Principal, po: PurchaseOrder) -> bool:
    """Whether ``p`` sees the PO only through the inspections assigned to them (an inspector of its
    factory, not a member of its brand nor a manager of its factory)."""
    return not p.sees_whole_po(po.brand_id, po.factory_id)


def require_brand(p: Principal, po: PurchaseOrder) -> None:
    """Raises ``Forbidden`` unless a brand editor of the PO's brand."""
    if not is_brand_editor(p, po):
        raise Forbidden("Only the brand's admins and reviewers may do this.")


def require_party(p: Principal, po: PurchaseOrder) -> None:
    """Raises ``Forbidden`` unless a brand editor or a factory manager of the PO."""
    if not (is_brand_editor(p, po) or is_factory_editor(p, po)):
        raise Forbidden("Only the brand's editors and the factory's managers may change this PO.")


def _child_or_404(p: Principal, model, id_: uuid.UUID, what: str):
    row = db.session.get(model, id_)
    if row is None:
        raise NotFound(f"No such {what}.")
    po_id = row.shipment.purchase_order_id if isinstance(row, ExportDocument) else \
        row.issue.purchase_order_id if isinstance(row, IssueComment) else row.purchase_order_id
    po = db.session.scalar(visible_purchase_orders(p).where(PurchaseOrder.id == po_id))
    if po is None:
        raise NotFound(f"No such {what}.")
    return row, po


def submission_or_404(p: Principal, id_: uuid.UUID) -> tuple[GoldenSampleSubmission, PurchaseOrder]:
    """A golden-sample submission and its PO. Raises ``NotFound`` outside scope."""
    return _child_or_404(p, GoldenSampleSubmission, id_, "golden-sample submission")


def material_or_404(p: Principal, id_: uuid.UUID) -> tuple[Material, PurchaseOrder]:
    return _child_or_404(p, Material, id_, "material")


def shipment_or_404(p: Principal, id_: uuid.UUID) -> tuple[Shipment, PurchaseOrder]:
    return _child_or_404(p, Shipment, id_, "shipment")


def document_or_404(p: Principal, id_: uuid.UUID) -> tuple[ExportDocument, PurchaseOrder]:
    return _child_or_404(p, ExportDocument, id_, "document")


def alert_or_404(p: Principal, id_: uuid.UUID) -> tuple[PoAlert, PurchaseOrder]:
    return _child_or_404(p, PoAlert, id_, "alert")


def issue_or_404(p: Principal, id_: uuid.UUID) -> tuple[Issue, PurchaseOrder]:
    """An issue and its PO; an inspector sees only issues of their inspections. Raises ``NotFound``."""
    issue, po = _child_or_404(p, Issue, id_, "issue")
    if inspector_view(p, po) and issue.inspection_id not in _own_inspection_ids(p, po):
        raise NotFound("No such issue.")
    return issue, po


def _own_inspection_ids(p: Principal, po: PurchaseOrder) -> set[uuid.UUID]:
    return set(db.session.scalars(select(Inspection.id).where(Inspection.purchase_order_id == po.id,
                                                              Inspection.inspector_id == p.id)))


# -- golden samples ---------------------------------------------------------------------------

def submit_golden_sample(p: Principal, po: PurchaseOrder, data: dict[str, Any]) -> GoldenSampleSubmission:
    """Submit a pre-production sample of a product on the PO for the brand's decision.

    The factory's managers, brand editors and the inspector of the linked pre-production
    inspection may submit. Raises ``ValidationFailed`` (product not on the PO, inspection not a
    pre-production inspection of it), ``Conflict`` while another submission is pending.
    """
    errors: dict[str, list[str]] = {}
    if data["product_id"] not in {line.product_id for line in po.lines if not line.deleted}:
        errors["product_id"] = ["This product is not on the purchase order."]
    inspection = None
    if data.get("inspection_id"):
        inspection = db.session.get(Inspection, data["inspection_id"])
        if (inspection is None or inspection.purchase_order_id != po.id
                or inspection.product_id != data["product_id"] or inspection.kind != "pre_production"):
            errors["inspection_id"] = ["Not a pre-production inspection of this product on this PO."]
            inspection = None
    if errors:
        raise ValidationFailed(errors=errors)
    own_inspection = inspection is not None and inspection.inspector_id == p.id
    if not (is_brand_editor(p, po) or is_factory_editor(p, po) or own_inspection):
        raise Forbidden("Only the factory's managers, the brand's editors or the sample's inspector may submit.")
    pending = db.session.scalar(select(GoldenSampleSubmission.id).where(
        GoldenSampleSubmission.purchase_order_id == po.id, GoldenSampleSubmission.product_id == data["product_id"],
        GoldenSampleSubmission.status == "pending"))
    if pending:
        raise Conflict("A sample of this product is already waiting for the brand's decision.",
                       pending_submission_id=str(pending))
    sub = GoldenSampleSubmission(
        purchase_order_id=po.id, product_id=data["product_id"],
        inspection_id=inspection.id if inspection else None, status="pending", checks=data.get("checks", {}),
        discrepancies=data.get("discrepancies", []), measured=data.get("measured", {}),
        reference_photos=data.get("reference_photos", []), notes=data.get("notes", ""), submitted_by_id=p.id)
    db.session.add(sub)
    db.session.commit()
    return sub


def decide_golden_sample(p: Principal, sub: GoldenSampleSubmission, po: PurchaseOrder, decision: str,
                         comment: str) -> GoldenSampleSubmission:
    """Approve or reject a pending sample (brand editors only).

    Approval adds the next :class:`GoldenSample` version from the submission's measured values
    and reference photos and marks the previous approved version ``superseded`` (rows are never
    rewritten otherwise, so earlier analyses keep their reference). Rejection needs a comment.
    Raises ``Forbidden``, ``Conflict`` when already decided, ``ValidationFailed``.
    """
    require_brand(p, po)
    if sub.status != "pending":
        raise Conflict(f"This sample was already {sub.status}.")
    if decision == "reject" and not comment.strip():
        raise ValidationFailed(errors={"comment": ["Say why the sample is rejected."]})
    sub.decided_by_id, sub.decided_at, sub.decision_comment = p.id, utcnow(), comment
    if decision == "approve":
        gs = add_golden_sample_version(p, sub.product_id, measured=dict(sub.measured or {}),
                                       reference_photos=list(sub.reference_photos or []), notes=comment,
                                       approved_at=sub.decided_at)
        sub.golden_sample_id = gs.id
        sub.status = "approved"
        for line in po.lines:  # the PO that approved the sample is produced against it
            if line.product_id == sub.product_id and not line.deleted:
                pin_golden_sample(line, gs, p.id, "Approved on this PO.")
    else:
        sub.status = "rejected"
    refresh_alerts(po)
    db.session.commit()
    return sub


def products_without_golden_sample(po: PurchaseOrder) -> list[str]:
    """SKUs on the PO whose lines have no golden sample to be produced against (no pin, no approval)."""
    return sorted({line.product.sku for line in po.lines
                   if not line.deleted and reference_golden_sample(line) is None})


def po_golden_samples(p: Principal, po: PurchaseOrder) -> list[dict[str, Any]]:
    """Per PO line: the golden-sample version it is produced and inspected against, and the newest approval."""
    out = []
    for line in po.lines:
        if line.deleted:
            continue
        ref = reference_golden_sample(line)
        latest = current_golden_sample(line.product_id)
        out.append({"po_line_id": line.id, "product_id": line.product_id, "sku": line.product.sku,
                    "golden_sample": ref, "pinned": golden_sample_pin(line.id) is not None,
                    "latest_approved": latest,
                    "newer_version_available": bool(ref and latest and latest.version > ref.version)})
    return out


def choose_golden_sample(p: Principal, po: PurchaseOrder, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Pin the PO's lines of a product (or one line) to a golden-sample version (brand editors).

    The version must be an approved or superseded version of that product. Raises ``Forbidden``,
    ``ValidationFailed``.
    """
    require_brand(p, po)
    gs = db.session.get(GoldenSample, data["golden_sample_id"])
    lines = [line for line in po.lines if not line.deleted and
             (line.id == data["po_line_id"] if data.get("po_line_id") else line.product_id == data.get("product_id"))]
    errors: dict[str, list[str]] = {}
    if not lines:
        errors["po_line_id" if data.get("po_line_id") else "product_id"] = ["No such line or product on this PO."]
    elif gs is None or gs.product_id != lines[0].product_id or gs.status not in ("approved", "superseded"):
        errors["golden_sample_id"] = ["Not an approved version of this line's product."]
    if errors:
        raise ValidationFailed(errors=errors)
    for line in lines:
        pin_golden_sample(line, gs, p.id, data.get("note", ""))
    refresh_alerts(po)
    db.session.commit()
    return po_golden_samples(p, po)


# -- schedule, materials, milestones ------------------------------------------------------------

def schedule_of(po: PurchaseOrder) -> ProductionSchedule | None:
    return db.session.scalar(select(ProductionSchedule).where(ProductionSchedule.purchase_order_id == po.id))


def set_schedule(p: Principal, po: PurchaseOrder, data: dict[str, Any]) -> ProductionSchedule:
    """Create or change the PO's production schedule (line, slot, planned rate, working days)."""
    require_party(p, po)
    sched = schedule_of(po) or ProductionSchedule(purchase_order_id=po.id)
    merged = {k: data.get(k, getattr(sched, k)) for k in ("slot_start", "slot_end")}
    if merged["slot_start"] and merged["slot_end"] and merged["slot_end"] < merged["slot_start"]:
        raise ValidationFailed(errors={"slot_end": ["The slot must end on or after its start."]})
    for key in ("production_line", "slot_start", "slot_end", "planned_units_per_day", "work_weekdays",
                "final_inspection_days"):
        if key in data:
            setattr(sched, key, data[key])
    db.session.add(sched)
    refresh_alerts(po)
    db.session.commit()
    return sched


def add_material(p: Principal, po: PurchaseOrder, data: dict[str, Any]) -> Material:
    """Add a material to procure, with supplier and ETA (brand editors, factory managers)."""
    require_party(p, po)
    m = Material(purchase_order_id=po.id, **data)
    db.session.add(m)
    refresh_alerts(po)
    db.session.commit()
    return m


def update_material(p: Principal, m: Material, po: PurchaseOrder, data: dict[str, Any]) -> Material:
    """Change a material's supplier, ETA, or record it as received."""
    require_party(p, po)
    for key, value in data.items():
        setattr(m, key, value)
    refresh_alerts(po)
    db.session.commit()
    return m


def set_milestone(p: Principal, po: PurchaseOrder, kind: str, data: dict[str, Any]) -> Milestone:
    """Set a milestone's planned or actual date.

    Marking ``production_start`` done needs an approved golden sample for every product on the
    PO, unless a brand editor gives ``override_reason``. Raises ``Conflict`` (409, with
    ``missing_golden_samples``) when the gate holds, ``Forbidden``, ``ValidationFailed``.
    """
    require_party(p, po)
    if kind in ("departed", "cargo_cutoff") and data.get("actual_date"):
        raise Conflict("A departure is recorded by releasing the shipment through its release gate "
                       "(POST /shipments/{id}/release), not by hand.")
    subject = data.get("subject", "")
    row = db.session.scalar(select(Milestone).where(Milestone.purchase_order_id == po.id, Milestone.kind == kind,
                                                    Milestone.subject == subject))
    if kind == "production_start" and data.get("actual_date") and not (row and row.actual_date):
        missing = products_without_golden_sample(po)
        reason = (data.get("override_reason") or "").strip()
        if missing and not reason:
            raise Conflict("Production cannot start before the golden sample is approved: "
                           f"{', '.join(missing)}. A brand user may override with a reason.",
                           missing_golden_samples=missing)
        if missing:
            if not is_brand_editor(p, po):
                raise Forbidden("Only the brand's admins and reviewers may override the golden-sample gate.")
            sched = schedule_of(po) or ProductionSchedule(purchase_order_id=po.id)
            sched.start_override_reason, sched.start_override_by_id = reason, p.id
            db.session.add(sched)
    if row is None:
        row = Milestone(purchase_order_id=po.id, kind=kind, subject=subject)
        db.session.add(row)
    for key in ("planned_date", "actual_date", "note"):
        if key in data:
            setattr(row, key, data[key])
    if kind == "production_start" and po.status == "open" and row.actual_date:
        po.status = "in_production"
    refresh_alerts(po)
    db.session.commit()
    return row


# -- progress ----------------------------------------------------------------------------------

def report_progress(p: Principal, po: PurchaseOrder, data: dict[str, Any]) -> tuple[ProgressReport, bool]:
    """Record units of a PO line produced on a day (factory managers, brand editors).

    ``id`` is the client-made UUID: sending the same report again changes nothing and returns
    ``(report, False)``; the same id with other values is a ``Conflict``. Raises
    ``ValidationFailed`` for a line not on the PO or a date in the future.
    """
    require_party(p, po)
    errors: dict[str, list[str]] = {}
    line = db.session.get(POLine, data["po_line_id"])
    if line is None or line.purchase_order_id != po.id or line.deleted:
        errors["po_line_id"] = ["This line is not on the purchase order."]
    if data["report_date"] > today_utc() + timedelta(days=1):  # one day of slack for time zones east of UTC
        errors["report_date"] = ["Progress cannot be reported for a future day."]
    if errors:
        raise ValidationFailed(errors=errors)
    rid = data.get("id") or uuid.uuid4()
    existing = db.session.get(ProgressReport, rid)
    if existing is not None:
        same = (existing.purchase_order_id == po.id and existing.po_line_id == line.id
                and existing.report_date == data["report_date"] and existing.units_produced == data["units_produced"])
        if not same:
            raise Conflict("A different progress report already has this id.")
        return existing, False
    report = ProgressReport(id=rid, purchase_order_id=po.id, po_line_id=line.id, report_date=data["report_date"],
                            units_produced=data["units_produced"], note=data.get("note", ""), reported_by_id=p.id)
    db.session.add(report)
    refresh_alerts(po)
    db.session.commit()
    return report, True


def progress_reports(po: PurchaseOrder) -> list[ProgressReport]:
    return list(db.session.scalars(select(ProgressReport).where(ProgressReport.purchase_order_id == po.id,
                                                                ProgressReport.deleted.is_(False))
                                   .order_by(ProgressReport.report_date, ProgressReport.created_at)))


def visible_progress_reports(p: Principal):
    """Select of the progress reports the principal may see: the sync scope rule (see docs)."""
    po_ids = visible_purchase_orders(p).with_only_columns(PurchaseOrder.id)
    return select(ProgressReport).where(ProgressReport.purchase_order_id.in_(po_ids))


# -- freight ------------------------------------------------------------------------------------

def create_shipment(p: Principal, po: PurchaseOrder, data: dict[str, Any]) -> Shipment:
    """Create a shipment with its export-document checklist for the PO's destination."""
    require_party(p, po)
    if db.session.scalar(select(Shipment.id).where(Shipment.purchase_order_id == po.id,
                                                   Shipment.reference == data["reference"])):
        raise Conflict(f"Shipment {data['reference']} already exists on this PO.")
    if data.get("departed_on"):
        # A new shipment has no packing list, documents or inspections yet: it cannot pass the gate.
        raise ValidationFailed(errors={"departed_on": ["Create the shipment first, then release it through the "
                                                       "release gate."]})
    shipment = Shipment(purchase_order_id=po.id, **data)
    if shipment.booking_number and not shipment.booked_on:
        shipment.booked_on = today_utc()
    for i, (kind, title) in enumerate(fr.checklist_for(po.destination or "")):
        shipment.documents.append(ExportDocument(kind=kind, title=title, required=True, position=i))
    db.session.add(shipment)
    refresh_alerts(po)
    db.session.commit()
    return shipment


def update_shipment(p: Principal, shipment: Shipment, po: PurchaseOrder, data: dict[str, Any]) -> Shipment:
    """Change booking details, departure and delivery, or mark the packing list complete.

    ``packing_list_complete: true`` is refused (``Conflict``) while the packing list does not
    match the PO quantities.
    """
    require_party(p, po)
    complete = data.pop("packing_list_complete", None)
    departing = data.get("departed_on") is not None and shipment.departed_on is None
    departed_on = data.pop("departed_on", None) if departing else None
    if shipment.departed_on is not None and "departed_on" in data and data["departed_on"] != shipment.departed_on:
        raise Conflict("The shipment has departed; its departure date is recorded by the release.")
    for key, value in data.items():
        setattr(shipment, key, value)
    if shipment.booking_number and not shipment.booked_on:
        shipment.booked_on = today_utc()
    if complete is True and shipment.packing_list_completed_on is None:
        check = packing_check(shipment, po)
        if not shipment.cartons or not check.ok:
            raise Conflict("The packing list does not match the PO quantities yet.",
                           packing=packing_summary(check))
        shipment.packing_list_completed_on = today_utc()
    elif complete is False:
        shipment.packing_list_completed_on = None
    if departing:
        from .release import check_release, record_shipment_event

        db.session.flush()
        try:
            check_release(shipment, po, departed_on)
        except Conflict:
            db.session.rollback()  # nothing of this request is kept when the gate holds
            raise
        shipment.departed_on = departed_on
        record_shipment_event(shipment, "release", {"departed_on": [None, departed_on.isoformat()]}, p.id)
    refresh_alerts(po)
    db.session.commit()
    return shipment


def replace_packing_list(p: Principal, shipment: Shipment, po: PurchaseOrder, rows: list[dict]) -> Shipment:
    """Replace the shipment's packing list rows; the list goes back to draft.

    Raises ``ValidationFailed`` (per row) when a row names a line that is not on the PO.
    """
    require_party(p, po)
    lines = {str(line.id) for line in po.lines if not line.deleted}
    errors = {}
    for i, row in enumerate(rows):
        bad = [str(c["po_line_id"]) for c in row["contents"] if str(c["po_line_id"]) not in lines]
        if bad:
            errors[str(i)] = {"contents": [f"Not a line of this PO: {', '.join(bad)}."]}
    if errors:
        raise ValidationFailed(errors={"cartons": errors})
    shipment.cartons.clear()
    db.session.flush()
    for i, row in enumerate(rows):
        shipment.cartons.append(PackingCarton(
            position=i, carton_count=row["carton_count"],
            contents=[{"po_line_id": str(c["po_line_id"]), "units": c["units"]} for c in row["contents"]],
            length_cm=row["length_cm"], width_cm=row["width_cm"], height_cm=row["height_cm"],
            gross_kg=row["gross_kg"]))
    shipment.packing_list_completed_on = None
    refresh_alerts(po)
    db.session.commit()
    return shipment


def packing_check(shipment: Shipment, po: PurchaseOrder) -> fr.PackingCheck:
    """Check the shipment's packing list against the PO lines' quantities."""
    ordered = {str(line.id): line.quantity for line in po.lines if not line.deleted}
    rows = [fr.CartonRow(c.carton_count, _contents(c.contents), c.length_cm, c.width_cm, c.height_cm, c.gross_kg)
            for c in shipment.cartons]
    return fr.check_packing_list(ordered, rows)


def _contents(contents: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in contents:
        out[c["po_line_id"]] = out.get(c["po_line_id"], 0) + int(c["units"])
    return out


def packing_summary(check: fr.PackingCheck, skus: dict[str, str] | None = None) -> dict[str, Any]:
    """A packing check as plain JSON-ready values."""
    skus = skus or {}
    best = check.best_fit
    return {
        "ok": check.ok,
        "lines": [{"po_line_id": c.line, "sku": skus.get(c.line, ""), "ordered_units": c.ordered_units,
                   "packed_units": c.packed_units, "difference": c.difference, "status": c.status}
                  for c in check.lines],
        "mixed_carton_rows": list(check.mixed_carton_rows),
        "unknown_lines": list(check.unknown_lines),
        "total_cartons": check.total_cartons, "total_units": check.total_units,
        "total_volume_m3": check.total_volume_m3, "total_gross_kg": check.total_gross_kg,
        "container_fit": [{"code": f.code, "name": f.name, "usable_m3": f.usable_m3, "payload_kg": f.payload_kg,
                           "needed_by_volume": f.needed_by_volume, "needed_by_weight": f.needed_by_weight,
                           "containers_needed": f.containers_needed} for f in check.fits],
        "best_fit": best.code if best else None,
        "usable_volume_factor": fr.USABLE_VOLUME_FACTOR,
    }


def add_document(p: Principal, shipment: Shipment, po: PurchaseOrder, data: dict[str, Any]) -> ExportDocument:
    """Add a document to a shipment's checklist (destination-specific or agreed with the buyer)."""
    require_party(p, po)
    if any(d.kind == data["kind"] for d in shipment.documents):
        raise Conflict(f"The checklist already has {data['kind']}.")
    doc = ExportDocument(kind=data["kind"], title=data["title"], required=data.get("required", True),
                         position=max((d.position for d in shipment.documents), default=-1) + 1)
    shipment.documents.append(doc)
    refresh_alerts(po)
    db.session.commit()
    return doc


def update_document(p: Principal, doc: ExportDocument, po: PurchaseOrder, data: dict[str, Any]) -> ExportDocument:
    """Change a document's status or whether it is required.

    ``approved`` and ``rejected`` are the brand's decisions; ``approved`` needs an uploaded file;
    ``not_applicable`` needs a brand editor too. Raises ``Forbidden``, ``Conflict``.
    """
    require_party(p, po)
    status = data.get("status")
    reason = (data.pop("reason", None) or "").strip()
    if status in ("approved", "rejected", "not_applicable") and not is_brand_editor(p, po):
        raise Forbidden("Only the brand's admins and reviewers approve, reject or waive documents.")
    if status == "approved" and not doc.storage_key:
        raise Conflict("Upload the file before approving the document.")
    if status == "uploaded" and not doc.storage_key:
        raise Conflict("Upload the file first.")
    if status in ("rejected", "not_applicable") and not reason:
        raise ValidationFailed(errors={"reason": ["Say why the document is "
                                                  f"{'rejected' if status == 'rejected' else 'not needed'}."]})
    if "required" in data and data["required"] is False and doc.required and not is_brand_editor(p, po):
        raise Forbidden("Only the brand's admins and reviewers decide that a document is not required.")
    old = {"status": doc.status, "required": doc.required}
    for key, value in data.items():
        setattr(doc, key, value)
    doc.rejection_reason = reason if status == "rejected" else ("" if status else doc.rejection_reason)
    changes = {k: [v, getattr(doc, k)] for k, v in old.items() if v != getattr(doc, k)}
    if changes:
        from .release import record_shipment_event

        if reason:
            changes["reason"] = [None, reason]
        changes["document"] = [None, doc.kind]
        record_shipment_event(doc.shipment, "document", changes, p.id)
    refresh_alerts(po)
    db.session.commit()
    return doc


def store_upload(stream, filename: str, content_type: str, prefix: str) -> dict[str, Any]:
    """Check and store an uploaded file content-addressed (``<prefix>/<sha256>``).

    Raises ``UnsupportedMedia`` (type not accepted, or the bytes are not of the declared type),
    ``PayloadTooLarge``, ``ValidationFailed`` (empty file), ``Unavailable`` when storage is not
    configured or down.
    """
    content_type = (content_type or "").split(";")[0].strip().lower()
    magics = ATTACHMENT_TYPES.get(content_type)
    if magics is None:
        raise UnsupportedMedia(f"Accepted types: {', '.join(sorted(ATTACHMENT_TYPES))}.")
    data = stream.read(ATTACHMENT_MAX_BYTES + 1)
    if len(data) > ATTACHMENT_MAX_BYTES:
        raise PayloadTooLarge(f"Files may be at most {ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB.")
    if not data:
        raise ValidationFailed(errors={"file": ["The file is empty."]})
    if not any(data.startswith(m) for m in magics) or (content_type == "image/webp" and data[8:12] != b"WEBP"):
        raise UnsupportedMedia(f"The file is not a {content_type} file.")
    sha = hashlib.sha256(data).hexdigest()
    key = f"{prefix}/{sha}"
    try:
        from ..storage.backends import get_storage

        storage = get_storage()
        if not storage.exists(key):
            storage.put(key, data, content_type=content_type)
    except ImportError:
        raise Unavailable("File storage is not available in this build.") from None
    except Exception as exc:  # any backend failure: nothing is recorded, the client may retry
        raise Unavailable(f"File storage is unavailable; nothing was saved. Retry later. ({type(exc).__name__})") from None
    return {"storage_key": key, "sha256": sha, "size_bytes": len(data), "content_type": content_type,
            "filename": (filename or "")[:200]}


def upload_document(p: Principal, doc: ExportDocument, po: PurchaseOrder, stream, filename: str,
                    content_type: str) -> ExportDocument:
    """Store a document's file and mark it uploaded (see :func:`store_upload` for the errors)."""
    require_party(p, po)
    stored = store_upload(stream, filename, content_type, "documents")
    for key, value in stored.items():
        setattr(doc, key, value)
    doc.status, doc.uploaded_by_id, doc.uploaded_at = "uploaded", p.id, utcnow()
    doc.rejection_reason = ""
    refresh_alerts(po)
    db.session.commit()
    return doc


def documents_ready_on(shipment: Shipment) -> date | None:
    """The day the last required document arrived, when none is missing any more."""
    required = [d for d in shipment.documents if d.required and d.status != "not_applicable"]
    if any(d.status in ("missing", "rejected") for d in required):
        return None
    dates = [d.uploaded_at.date() for d in required if d.uploaded_at]
    return max(dates) if dates else None


def missing_documents(shipment: Shipment) -> list[str]:
    return [d.title for d in shipment.documents if d.required and d.status in ("missing", "rejected")]


# -- issues -------------------------------------------------------------------------------------

def visible_issues(p: Principal, po: PurchaseOrder):
    """Issues of the PO the principal may see (inspectors: those of their inspections)."""
    q = select(Issue).where(Issue.purchase_order_id == po.id)
    if inspector_view(p, po):
        q = q.where(Issue.inspection_id.in_(select(Inspection.id).where(Inspection.inspector_id == p.id)))
    return q


def _check_links(po: PurchaseOrder, data: dict[str, Any], owner_org=None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    line_ids = {line.id for line in po.lines}
    if data.get("batch_id"):
        b = db.session.get(Batch, data["batch_id"])
        if b is None or b.po_line_id not in line_ids:
            errors["batch_id"] = ["Not a batch of this PO."]
    insp = None
    if data.get("inspection_id"):
        insp = db.session.get(Inspection, data["inspection_id"])
        if insp is None or insp.purchase_order_id != po.id:
            errors["inspection_id"] = ["Not an inspection of this PO."]
    for key, model in (("defect_id", Defect), ("photo_id", Photo)):
        if data.get(key):
            row = db.session.get(model, data[key])
            parent = db.session.get(Inspection, row.inspection_id) if row else None
            if parent is None or parent.purchase_order_id != po.id:
                errors[key] = ["Not from an inspection of this PO."]
    if data.get("alert_id"):
        a = db.session.get(PoAlert, data["alert_id"])
        if a is None or a.purchase_order_id != po.id:
            errors["alert_id"] = ["Not an alert of this PO."]
    if data.get("owner_org_id") and data["owner_org_id"] not in (po.brand_id, po.factory_id):
        errors["owner_org_id"] = ["The owner must be the PO's brand or factory."]
    if data.get("owner_user_id"):
        # The owner belongs to the responsible organisation: the one given, else the issue's, else the factory.
        orgs = [data.get("owner_org_id") or owner_org or po.factory_id]
        member = db.session.scalar(select(Membership.id).where(Membership.user_id == data["owner_user_id"],
                                                               Membership.organisation_id.in_(orgs)))
        if member is None:
            errors["owner_user_id"] = ["The owner must be a member of the owning organisation."]
    return errors


def create_issue(p: Principal, po: PurchaseOrder, data: dict[str, Any]) -> Issue:
    """Open an issue on the PO. Raises ``Forbidden``, ``ValidationFailed`` for links outside the PO."""
    require_party(p, po)
    errors = _check_links(po, data)
    if errors:
        raise ValidationFailed(errors=errors)
    issue = Issue(purchase_order_id=po.id, opened_by_id=p.id, status="open", **data)
    if issue.owner_org_id is None:
        issue.owner_org_id = po.factory_id
    db.session.add(issue)
    refresh_alerts(po)
    db.session.commit()
    return issue


def update_issue(p: Principal, issue: Issue, po: PurchaseOrder, data: dict[str, Any]) -> Issue:
    """Change an issue and move it along open → in progress → resolved → verified (or won't fix).

    Only a brand editor verifies; ``wont_fix`` needs ``wont_fix_reason``. Raises ``Conflict`` for a
    move the flow does not allow, ``Forbidden``, ``ValidationFailed``.
    """
    require_party(p, po)
    waiver = (data.pop("capa_waiver_reason", None) or "").strip()
    errors = _check_links(po, {k: v for k, v in data.items() if k != "status"}, issue.owner_org_id)
    if "owner_org_id" in data and "owner_user_id" not in data and issue.owner_user_id and \
            _check_links(po, {"owner_org_id": data["owner_org_id"], "owner_user_id": issue.owner_user_id}):
        errors["owner_org_id"] = ["The issue's owner is not a member of this organisation: change the owner too."]
    new = data.pop("status", None)
    if new is not None and new != issue.status:
        if new not in ISSUE_TRANSITIONS[issue.status]:
            raise Conflict(f"An issue cannot go from {issue.status} to {new}.")
        if new == "verified" and not is_brand_editor(p, po):
            raise Forbidden("Only the brand verifies a resolution.")
        if new == "verified":
            from .capa import close_blocker, close_with_waiver

            blocker = close_blocker(issue)
            if blocker and not waiver:
                raise Conflict(f"{blocker} A brand editor may close it with capa_waiver_reason.",
                               close_blocked_by=blocker)
            if blocker:
                close_with_waiver(p, issue, po, waiver)
        if new == "wont_fix" and not (data.get("wont_fix_reason") or "").strip():
            errors["wont_fix_reason"] = ["Say why the issue will not be fixed."]
    if errors:
        raise ValidationFailed(errors=errors)
    for key, value in data.items():
        setattr(issue, key, value)
    if new is not None and new != issue.status:
        issue.status = new
        now = utcnow()
        if new == "resolved":
            issue.resolved_at = now
        elif new == "verified":
            issue.verified_at = now
        elif new in ("open", "in_progress"):
            issue.resolved_at = issue.verified_at = None
    refresh_alerts(po)
    db.session.commit()
    return issue


def issue_from_inspection(p: Principal, inspection_id: uuid.UUID) -> tuple[Issue, bool]:
    """Open a quality-failure issue from a failed inspection in one step.

    Returns ``(issue, created)``: an open issue already linked to the inspection is returned as
    it is. Raises ``NotFound`` (not visible), ``Conflict`` (the inspection has not failed).
    """
    insp = db.session.get(Inspection, inspection_id)
    po = db.session.scalar(visible_purchase_orders(p).where(PurchaseOrder.id == insp.purchase_order_id)) \
        if insp is not None else None
    if po is None:
        raise NotFound("No such inspection.")
    require_party(p, po)
    if insp.verdict != "fail":
        raise Conflict("Only a failed inspection opens a quality-failure issue.")
    existing = db.session.scalar(select(Issue).where(Issue.inspection_id == insp.id,
                                                     Issue.status.in_(OPEN_ISSUE_STATUSES)))
    if existing is not None:
        return existing, False
    reasons = "; ".join(str(r.get("message", r)) if isinstance(r, dict) else str(r)
                        for r in (insp.verdict_reasons or []))
    issue = Issue(purchase_order_id=po.id, type="quality_failure", severity="high",
                  title=f"{insp.kind.replace('_', ' ').capitalize()} inspection failed",
                  description=reasons, inspection_id=insp.id, batch_id=insp.batch_id, owner_org_id=po.factory_id,
                  due_date=today_utc() + timedelta(days=3), opened_by_id=p.id, status="open")
    db.session.add(issue)
    refresh_alerts(po)
    db.session.commit()
    return issue, True


ALERT_ISSUE_TYPES = {"delay_risk": "partial_production_delay", "freight_packing_list": "freight_scheduling_conflict",
                     "freight_documents": "freight_scheduling_conflict",
                     "freight_container": "freight_scheduling_conflict"}


def issue_from_alert(p: Principal, alert: PoAlert, po: PurchaseOrder) -> tuple[Issue, bool]:
    """Open an issue from an alert in one step (an open issue for the alert is returned as it is)."""
    require_party(p, po)
    existing = db.session.scalar(select(Issue).where(Issue.alert_id == alert.id,
                                                     Issue.status.in_(OPEN_ISSUE_STATUSES)))
    if existing is not None:
        return existing, False
    kind = "raw_material_shortage" if alert.subject.startswith("material:") else \
        ALERT_ISSUE_TYPES.get(alert.kind, "other")
    issue = Issue(purchase_order_id=po.id, type=kind, severity="high" if alert.severity in ("high", "critical")
                  else "medium", title=alert.message[:200], alert_id=alert.id, owner_org_id=po.factory_id,
                  due_date=today_utc() + timedelta(days=2), opened_by_id=p.id, status="open")
    db.session.add(issue)
    if alert.status == "open":
        alert.status, alert.acknowledged_by_id, alert.acknowledged_at = "acknowledged", p.id, utcnow()
    refresh_alerts(po)
    db.session.commit()
    return issue, True


def add_comment(p: Principal, issue: Issue, po: PurchaseOrder, body: str,
                files: Iterable[tuple[Any, str, str]] = ()) -> IssueComment:
    """Add a comment with attachments (``(stream, filename, content_type)``) to an issue."""
    require_party(p, po)
    attachments = [store_upload(stream, name, ctype, "attachments") for stream, name, ctype in files]
    if not body.strip() and not attachments:
        raise ValidationFailed(errors={"body": ["Write something or attach a file."]})
    comment = IssueComment(issue_id=issue.id, author_id=p.id, body=body, attachments=attachments)
    db.session.add(comment)
    db.session.commit()
    return comment


# -- alerts -------------------------------------------------------------------------------------

def schedule_input(po: PurchaseOrder, today: date) -> fc.ScheduleInput:
    """Gather what the forecast needs about ``po`` from the database."""
    sched = schedule_of(po)
    daily: dict[date, int] = {}
    for r in progress_reports(po):
        daily[r.report_date] = daily.get(r.report_date, 0) + r.units_produced
    start_row = db.session.scalar(select(Milestone).where(Milestone.purchase_order_id == po.id,
                                                          Milestone.kind == "production_start"))
    materials = db.session.scalars(select(Material).where(Material.purchase_order_id == po.id)).all()
    shipments = db.session.scalars(select(Shipment).where(Shipment.purchase_order_id == po.id)).all()
    cutoffs = [s.cargo_cutoff for s in shipments if s.cargo_cutoff and s.departed_on is None]
    delay = db.session.scalar(select(func.coalesce(func.sum(Issue.expected_delay_days), 0)).where(
        Issue.purchase_order_id == po.id, Issue.status.in_(OPEN_ISSUE_STATUSES))) or 0
    planned_start = (start_row.planned_date if start_row and start_row.planned_date else None) or \
        (sched.slot_start if sched else None)
    return fc.ScheduleInput(
        today=today, total_units=sum(line.quantity for line in po.lines if not line.deleted), daily_units=daily,
        planned_units_per_day=sched.planned_units_per_day if sched else 0, planned_start=planned_start,
        actual_start=start_row.actual_date if start_row else None,
        work_weekdays=sched.work_weekdays if sched else "0123456",
        final_inspection_days=sched.final_inspection_days if sched else 1,
        cargo_cutoff=min(cutoffs) if cutoffs else None, planned_ship_date=po.planned_ship_date,
        materials=[fc.MaterialInput(m.name, m.eta, m.received_on is not None, m.supplier) for m in materials],
        issue_delay_days=int(delay))


def wanted_alerts(po: PurchaseOrder, today: date) -> tuple[fc.Forecast, list[fc.AlertSpec]]:
    """The forecast of ``po`` and every alert that should be open on it today."""
    f = fc.forecast(schedule_input(po, today))
    specs = list(f.alerts)
    for s in db.session.scalars(select(Shipment).where(Shipment.purchase_order_id == po.id)):
        if s.departed_on is not None:
            continue
        check = packing_check(s, po)
        specs += fr.freight_alerts(today, s.cargo_cutoff, packing_list_complete=s.packing_list_completed_on is not None,
                                   packing_ok=check.ok, missing_documents=missing_documents(s),
                                   warn_days=FREIGHT_WARN_DAYS, shipment=s.reference)
        if s.booking_number and s.container_type:
            specs += fr.container_alerts(s.container_type, s.container_count or 0, check.fits, shipment=s.reference)
    from .capa import overdue_step_alerts

    specs += overdue_step_alerts(po, today)
    issues = db.session.scalars(select(Issue).where(Issue.purchase_order_id == po.id)).all()
    specs += fc.overdue_issue_alerts(today, [fc.IssueInput(str(i.id), i.title, i.due_date, i.status) for i in issues])
    return f, specs


def refresh_alerts(po: PurchaseOrder, today: date | None = None) -> dict[str, int]:
    """Bring the PO's alerts in line with its schedule: open new ones, update, resolve the rest.

    Runs inside the caller's transaction (the caller commits). At most one unresolved alert per
    (PO, kind, subject): an acknowledged alert stays acknowledged while its cause remains.
    Returns counts ``{"opened", "updated", "resolved"}``.
    """
    today = today or today_utc()
    db.session.flush()
    # Serialise refreshes of one PO (PostgreSQL row lock; SQLite has one writer anyway), so two
    # concurrent reports cannot both open the same alert and trip the unique key.
    db.session.execute(select(PurchaseOrder.id).where(PurchaseOrder.id == po.id).with_for_update())
    if not alerts_apply(po):
        specs: list[fc.AlertSpec] = []
    else:
        _, specs = wanted_alerts(po, today)
    current = {(a.kind, a.subject): a for a in db.session.scalars(
        select(PoAlert).where(PoAlert.purchase_order_id == po.id, PoAlert.status != "resolved"))}
    counts = {"opened": 0, "updated": 0, "resolved": 0}
    for spec in specs:
        row = current.pop((spec.kind, spec.subject), None)
        if row is None:
            db.session.add(PoAlert(purchase_order_id=po.id, kind=spec.kind, subject=spec.subject,
                                   severity=spec.severity, message=spec.message, details=spec.details,
                                   status="open", open_key=f"{spec.kind}:{spec.subject}"[:170]))
            counts["opened"] += 1
        elif (row.severity, row.message, row.details) != (spec.severity, spec.message, spec.details):
            row.severity, row.message, row.details = spec.severity, spec.message, spec.details
            counts["updated"] += 1
    for row in current.values():
        row.status, row.open_key, row.resolved_at = "resolved", None, utcnow()
        counts["resolved"] += 1
    db.session.flush()
    return counts


def acknowledge_alert(p: Principal, alert: PoAlert, po: PurchaseOrder) -> PoAlert:
    """Acknowledge an open alert: it stays listed until its cause goes away."""
    require_party(p, po)
    if alert.status == "resolved":
        raise Conflict("This alert is already resolved.")
    if alert.status == "open":
        alert.status, alert.acknowledged_by_id, alert.acknowledged_at = "acknowledged", p.id, utcnow()
        db.session.commit()
    return alert


def open_alerts(po: PurchaseOrder) -> list[PoAlert]:
    rows = db.session.scalars(select(PoAlert).where(PoAlert.purchase_order_id == po.id,
                                                    PoAlert.status != "resolved")).all()
    return sorted(rows, key=lambda a: (SEVERITY_RANK.get(a.severity, 9), a.status != "open", a.created_at))


def _waiting_shipment(po_id_column):
    return select(Shipment.id).where(Shipment.purchase_order_id == po_id_column,
                                     Shipment.departed_on.is_(None)).exists()


def alerts_apply(po: PurchaseOrder) -> bool:
    """Whether the PO still raises alerts: not closed or cancelled, and not marked shipped while
    every shipment has departed. A PO marked shipped with a shipment still waiting keeps its alerts
    (marking the PO shipped by hand must not make them vanish)."""
    if po.status in ("closed", "cancelled"):
        return False
    return po.status != "shipped" or bool(db.session.scalar(select(_waiting_shipment(po.id))))


def refreshable_purchase_orders():
    """Select of the ids of POs whose alerts the daily refresh recomputes (see :func:`alerts_apply`)."""
    return select(PurchaseOrder.id).where(
        PurchaseOrder.deleted.is_(False), PurchaseOrder.status.notin_(("closed", "cancelled")),
        or_(PurchaseOrder.status != "shipped", _waiting_shipment(PurchaseOrder.id)))


def refresh_all(today: date | None = None, progress=None) -> dict[str, int]:
    """Refresh the alerts of every PO that still raises alerts (:func:`alerts_apply`); commit per PO."""
    ids = list(db.session.scalars(refreshable_purchase_orders()))
    totals = {"purchase_orders": 0, "opened": 0, "updated": 0, "resolved": 0}
    for po_id in ids:
        po = db.session.get(PurchaseOrder, po_id)
        counts = refresh_alerts(po, today)
        db.session.commit()
        totals["purchase_orders"] += 1
        for k, v in counts.items():
            totals[k] += v
        if progress is not None:
            progress(1)
    return totals


# -- the PO view --------------------------------------------------------------------------------

def _status(planned: date | None, forecast: date | None, actual: date | None, today: date) -> str:
    """done | late | at_risk | on_track | not_planned (see docs/timeline.md)."""
    if actual is not None:
        return "done"
    if planned is not None and planned < today:
        return "late"
    if planned is not None and forecast is not None and forecast > planned:
        return "at_risk"
    return "on_track" if (planned or forecast) else "not_planned"


def _milestone(kind: str, subject: str, label: str, planned, forecast, actual, today: date,
               **details) -> dict[str, Any]:
    forecast = forecast if actual is None else None
    details = {k: v.isoformat() if isinstance(v, date) else v for k, v in details.items()}
    return {"kind": kind, "subject": subject, "label": label, "planned_date": planned,
            "forecast_date": forecast or (planned if actual is None else None), "actual_date": actual,
            "status": _status(planned, forecast, actual, today), "details": details}


class _Stored:
    """Hand-set milestone dates of a PO: they win over derived ones."""

    def __init__(self, po: PurchaseOrder) -> None:
        self.rows = {(m.kind, m.subject): m for m in db.session.scalars(
            select(Milestone).where(Milestone.purchase_order_id == po.id))}

    def planned(self, kind: str, default=None, subject: str = ""):
        r = self.rows.get((kind, subject))
        return r.planned_date if r and r.planned_date else default

    def actual(self, kind: str, default=None, subject: str = ""):
        r = self.rows.get((kind, subject))
        return r.actual_date if r and r.actual_date else default


def _day(dt) -> date | None:
    return dt.date() if dt else None


def _early_milestones(po: PurchaseOrder, st: _Stored, sched, f: fc.Forecast, materials, today: date) -> list[dict]:
    """Golden samples, materials, scheduling and the production start."""
    ms: list[dict[str, Any]] = []
    prod_start = st.planned("production_start", sched.slot_start if sched else None)
    for line in po.lines:
        if line.deleted:
            continue
        gs = reference_golden_sample(line)
        sku = line.product.sku
        ms.append(_milestone("golden_sample_approved", sku, f"Golden sample approved: {sku}",
                             st.planned("golden_sample_approved", None, sku) or st.planned("golden_sample_approved"),
                             None, _day(gs.approved_at) if gs else None, today,
                             golden_sample_version=gs.version if gs else None))
    for m in materials:
        ms.append(_milestone("materials_procured", m.name, f"Material: {m.name}", prod_start, m.eta, m.received_on,
                             today, supplier=m.supplier, eta=m.eta))
    scheduled = _day(sched.created_at) if sched and sched.production_line and sched.slot_start else None
    ms.append(_milestone("production_scheduled", "", "Production scheduled", st.planned("production_scheduled"), None,
                         st.actual("production_scheduled", scheduled), today,
                         production_line=sched.production_line if sched else "",
                         slot_start=sched.slot_start if sched else None, slot_end=sched.slot_end if sched else None))
    ms.append(_milestone("production_start", "", "Production start", prod_start, f.start_date,
                         st.actual("production_start"), today,
                         override_reason=sched.start_override_reason if sched else ""))
    return ms


def _production_milestones(st: _Stored, sched, f: fc.Forecast, inspections, today: date) -> list[dict]:
    """Inline inspections, production complete and the final inspections."""
    ms = [_milestone("inline_inspection", str(i.id), "Inline inspection", _day(i.scheduled_for), None,
                     _day(i.signed_off_at), today, inspection_id=str(i.id), verdict=i.final_verdict,
                     inspection_status=i.status)
          for i in inspections if i.kind == "inline"]
    done = f.completion_date if f.remaining_units == 0 and f.produced_units > 0 else None
    ms.append(_milestone("production_complete", "", "Production complete",
                         st.planned("production_complete", sched.slot_end if sched else None), f.completion_date,
                         st.actual("production_complete", done), today, produced_units=f.produced_units,
                         remaining_units=f.remaining_units))
    for i in [i for i in inspections if i.kind == "final"] or [None]:
        ms.append(_milestone("final_inspection", str(i.id) if i else "", "Final inspection",
                             (_day(i.scheduled_for) if i else None) or st.planned("final_inspection"),
                             f.final_inspection_date,
                             (_day(i.signed_off_at) if i else None) or st.actual("final_inspection"),
                             today, inspection_id=str(i.id) if i else None, verdict=i.final_verdict if i else None))
    return ms


def _freight_milestones(po: PurchaseOrder, st: _Stored, f: fc.Forecast, ship: Shipment | None,
                        today: date) -> list[dict]:
    """Packing list, documents, booking, cut-off, departure and delivery of the first shipment."""
    def of(attr):
        return getattr(ship, attr) if ship else None

    ms = [_milestone("packing_list_complete", "", "Packing list complete", st.planned("packing_list_complete"), None,
                     st.actual("packing_list_complete", of("packing_list_completed_on")), today),
          _milestone("export_documents_ready", "", "Export documents ready", st.planned("export_documents_ready"),
                     None, st.actual("export_documents_ready", documents_ready_on(ship) if ship else None), today,
                     missing=missing_documents(ship) if ship else []),
          _milestone("container_booked", "", "Container booked", st.planned("container_booked"), None,
                     st.actual("container_booked", of("booked_on")), today, booking_number=of("booking_number") or "")]
    cutoff = of("cargo_cutoff")
    # The cut-off is done once the cargo left and the day has come, never on a future date.
    ms.append(_milestone("cargo_cutoff", "", "Cargo cut-off", st.planned("cargo_cutoff", cutoff), None,
                         st.actual("cargo_cutoff", cutoff if of("departed_on") and cutoff and cutoff <= today
                                   else None), today))
    etd = st.planned("departed", of("etd") or po.planned_ship_date)
    ready = f.ready_to_ship_date
    ms.append(_milestone("departed", "", "Departed", etd, max(etd, ready) if etd and ready else (etd or ready),
                         st.actual("departed", of("departed_on")), today, vessel=of("vessel") or ""))
    ms.append(_milestone("delivered", "", "Delivered", st.planned("delivered", of("eta")), None,
                         st.actual("delivered", of("delivered_on")), today))
    return ms


def po_drift_alerts(p: Principal, po: PurchaseOrder) -> list:
    """Unresolved drift alerts of the PO's batches (not for inspectors)."""
    if inspector_view(p, po):
        return []
    from ..review.service import drift_alerts_of_po

    return drift_alerts_of_po(po)


def _forecast_json(f: fc.Forecast) -> dict[str, Any]:
    return {"produced_units": f.produced_units, "remaining_units": f.remaining_units,
            "total_units": f.produced_units + f.remaining_units,
            "rate_units_per_day": f.rate_units_per_day, "rate_source": f.rate_source,
            "start_date": f.start_date, "completion_date": f.completion_date,
            "final_inspection_date": f.final_inspection_date, "ready_to_ship_date": f.ready_to_ship_date,
            "needed_by": f.needed_by, "needed_for": f.needed_for, "slack_days": f.slack_days}


def po_timeline(p: Principal, po: PurchaseOrder, today: date | None = None) -> dict[str, Any]:
    """Everything the PO view shows, ready to render: milestones in order, attention items first."""
    today = today or today_utc()
    f, _ = wanted_alerts(po, today)
    sched = schedule_of(po)
    st = _Stored(po)
    inspections = db.session.scalars(select(Inspection).where(Inspection.purchase_order_id == po.id,
                                                              Inspection.deleted.is_(False))
                                     .order_by(Inspection.scheduled_for)).all()
    hidden = inspector_view(p, po)
    if hidden:
        inspections = [i for i in inspections if i.inspector_id == p.id]
    materials = db.session.scalars(select(Material).where(Material.purchase_order_id == po.id)
                                   .order_by(Material.eta)).all()
    shipments = db.session.scalars(select(Shipment).where(Shipment.purchase_order_id == po.id)
                                   .order_by(Shipment.reference)).all()
    ms = (_early_milestones(po, st, sched, f, materials, today) + _production_milestones(st, sched, f, inspections, today)
          + _freight_milestones(po, st, f, shipments[0] if shipments else None, today))
    alerts = [] if hidden else open_alerts(po)
    drift = po_drift_alerts(p, po)
    issues = db.session.scalars(visible_issues(p, po).order_by(Issue.created_at)).all()
    open_issues = [i for i in issues if i.status in OPEN_ISSUE_STATUSES]
    skus = {str(line.id): line.product.sku for line in po.lines}
    return {
        "purchase_order": po, "today": today, "risk": risk_of(alerts, open_issues, f, today, drift),
        "forecast": _forecast_json(f), "attention": attention_items(alerts, open_issues, ms, today, drift),
        "milestones": ms, "inspections": inspections, "alerts": alerts, "issues": open_issues,
        "drift_alerts": [_drift_json(a) for a in drift],
        "progress": [] if hidden else _progress_by_line(po),
        "shipments": [] if hidden else
        [{"shipment": s, "packing": packing_summary(packing_check(s, po), skus),
          "missing_documents": missing_documents(s)} for s in shipments],
    }


DRIFT_SEVERITY = {"alarm": "high", "warning": "warning"}


def _drift_json(a) -> dict[str, Any]:
    return {"id": a.id, "batch_id": a.batch_id, "kind": a.kind, "standard_name": a.standard_name, "rule": a.rule,
            "level": a.level, "status": a.status, "message": a.message, "opened_at": a.opened_at,
            "answer": a.answer, "answered_at": a.answered_at}


def _progress_by_line(po: PurchaseOrder) -> list[dict[str, Any]]:
    produced: dict[uuid.UUID, int] = {}
    for r in progress_reports(po):
        produced[r.po_line_id] = produced.get(r.po_line_id, 0) + r.units_produced
    return [{"po_line_id": line.id, "sku": line.product.sku, "ordered_units": line.quantity,
             "produced_units": produced.get(line.id, 0)} for line in po.lines if not line.deleted]


def attention_items(alerts: list[PoAlert], issues: list[Issue], milestones: list[dict], today: date,
                    drift: Iterable = ()) -> list[dict]:
    """What needs attention, most urgent first: alerts, drift alarms, overdue or severe issues, late milestones."""
    items = [{"type": "alert", "id": a.id, "severity": a.severity, "message": a.message, "kind": a.kind}
             for a in alerts]
    items += [{"type": "drift_alert", "id": d.id, "severity": DRIFT_SEVERITY.get(d.level, "warning"),
               "message": d.message, "kind": f"drift_{d.kind}"} for d in drift]
    for i in issues:
        overdue = fc.is_overdue(today, i.due_date, i.status)
        if overdue or i.severity in ("high", "critical"):
            sev = "high" if overdue and i.severity not in ("critical",) else i.severity
            items.append({"type": "issue", "id": i.id, "severity": sev, "kind": i.type,
                          "message": ("Overdue: " if overdue else "") + i.title})
    for m in milestones:
        if m["status"] in ("late", "at_risk"):
            items.append({"type": "milestone", "id": None, "severity": "high" if m["status"] == "late" else "warning",
                          "kind": m["kind"], "message": f"{m['label']} is {m['status'].replace('_', ' ')}"})
    return sorted(items, key=lambda x: SEVERITY_RANK.get(x["severity"], 9))


def risk_of(alerts: list[PoAlert], issues: list[Issue], f: fc.Forecast, today: date,
            drift: Iterable = ()) -> dict[str, Any]:
    """A score to sort POs by: open alerts, drift alerts and issues weighted by severity, plus days behind."""
    score = sum(ALERT_WEIGHT.get(a.severity, 1) for a in alerts)
    score += sum(ALERT_WEIGHT.get(DRIFT_SEVERITY.get(d.level, "warning"), 1) for d in drift)
    score += sum(ISSUE_WEIGHT.get(i.severity, 1) + (5 if fc.is_overdue(today, i.due_date, i.status) else 0)
                 for i in issues)
    if f.slack_days is not None and f.slack_days < 0:
        score += -f.slack_days * 2
    level = "high" if score >= 30 else "medium" if score >= 10 else "low"
    return {"score": score, "level": level}


def po_risk_list(p: Principal, today: date | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The POs the principal may see that are not closed, riskiest first.

    Uses the stored (refreshed) alerts and computes each PO's forecast; fine for hundreds of
    open POs. TODO: keep the forecast on a row if a tenant has thousands of open POs.
    """
    today = today or today_utc()
    pos = db.session.scalars(visible_purchase_orders(p).where(
        PurchaseOrder.status.notin_(("closed", "cancelled"))).order_by(PurchaseOrder.po_number).limit(limit)).all()
    out = []
    for po in pos:
        f = fc.forecast(schedule_input(po, today))
        alerts = [] if inspector_view(p, po) else open_alerts(po)
        drift = po_drift_alerts(p, po)
        issues = db.session.scalars(visible_issues(p, po).where(Issue.status.in_(OPEN_ISSUE_STATUSES))).all()
        top = attention_items(alerts, issues, [], today, drift)
        out.append({"purchase_order": po, "risk": risk_of(alerts, issues, f, today, drift),
                    "open_drift_alerts": len(drift),
                    "completion_date": f.completion_date, "needed_by": f.needed_by, "slack_days": f.slack_days,
                    "produced_units": f.produced_units, "total_units": f.produced_units + f.remaining_units,
                    "open_alerts": len(alerts), "open_issues": len(issues),
                    "overdue_issues": sum(fc.is_overdue(today, i.due_date, i.status) for i in issues),
                    "top_attention": top[0]["message"] if top else None})
    return sorted(out, key=lambda r: (-r["risk"]["score"], r["purchase_order"].planned_ship_date or date.max,
                                      r["purchase_order"].po_number))
