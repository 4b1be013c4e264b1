"""Rows of the post-PO workflow: sample submissions, schedule, progress, freight, issues, alerts.

Only :class:`ProgressReport` is synced from phones (client-made UUID, see ``docs/timeline.md``);
the other rows are written online through the API and carry plain ids and timestamps.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint,
                        Uuid)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import IdMixin, SyncMixin, TimestampMixin, UTCDateTime

# The milestones of a PO, in the order they happen. ``materials_procured`` and
# ``inline_inspection`` may appear several times (per material, per inspection).
MILESTONE_KINDS = (
    "golden_sample_approved", "materials_procured", "production_scheduled", "production_start",
    "inline_inspection", "production_complete", "final_inspection", "packing_list_complete",
    "export_documents_ready", "container_booked", "cargo_cutoff", "departed", "delivered",
)
DISCREPANCY_CATEGORIES = ("material_substitution", "dimension_change", "wrong_packaging_component",
                          "labeling_compliance", "colour", "finish", "tooling", "other")
SAMPLE_CHECKS = ("materials", "colours", "finishes", "packaging", "tooling")
SUBMISSION_STATUSES = ("pending", "approved", "rejected")
ISSUE_TYPES = ("raw_material_shortage", "material_substitution", "dimension_change", "packaging_defect",
               "labeling_compliance_correction", "partial_production_delay", "freight_scheduling_conflict",
               "quality_failure", "other")
ISSUE_SEVERITIES = ("low", "medium", "high", "critical")
ISSUE_STATUSES = ("open", "in_progress", "resolved", "verified", "wont_fix")
ALERT_STATUSES = ("open", "acknowledged", "resolved")
ALERT_SEVERITIES = ("info", "warning", "high", "critical")
CAPA_STEPS = ("containment", "root_cause", "corrective_action", "preventive_action", "verification",
              "effectiveness_check")
CAPA_STATUSES = ("open", "in_progress", "done")
DOCUMENT_STATUSES = ("missing", "uploaded", "approved", "rejected", "not_applicable")


class GoldenSampleSubmission(IdMixin, TimestampMixin, db.Model):
    """A pre-production sample of one product on one PO, waiting for the brand's decision.

    Approval creates the next :class:`~server.catalog.models.GoldenSample` version from
    ``measured`` and ``reference_photos``; earlier versions stay as they were.
    """

    __tablename__ = "golden_sample_submissions"

    purchase_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("purchase_orders.id"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"), index=True)
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("inspections.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    # {"materials": {"ok": bool, "note": str}, "colours": ..., "finishes": ..., "packaging": ..., "tooling": ...}
    checks: Mapped[dict] = mapped_column(JSON, default=dict)
    # [{"category", "description", "severity"}]
    discrepancies: Mapped[list] = mapped_column(JSON, default=list)
    # {"lab": [L, a, b], "length_mm", "width_mm", "dimensions": {name: mm}}
    measured: Mapped[dict] = mapped_column(JSON, default=dict)
    reference_photos: Mapped[list] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    submitted_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    golden_sample_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("golden_samples.id"))


class ProductionSchedule(IdMixin, TimestampMixin, db.Model):
    """The factory's production plan for a PO: line, slot, planned daily rate, working days."""

    __tablename__ = "production_schedules"

    purchase_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("purchase_orders.id"), unique=True)
    production_line: Mapped[str] = mapped_column(String(80), default="")
    slot_start: Mapped[date | None] = mapped_column(Date)
    slot_end: Mapped[date | None] = mapped_column(Date)
    planned_units_per_day: Mapped[int] = mapped_column(Integer, default=0)
    # Working weekdays as digits, Monday = 0: "0123456" every day, "012345" Monday to Saturday.
    work_weekdays: Mapped[str] = mapped_column(String(7), default="0123456")
    final_inspection_days: Mapped[int] = mapped_column(Integer, default=1)
    # Set when production was started without an approved golden sample.
    start_override_reason: Mapped[str] = mapped_column(Text, default="")
    start_override_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))


class Material(IdMixin, TimestampMixin, db.Model):
    """A material or component the factory must procure for a PO, with supplier and ETA."""

    __tablename__ = "po_materials"

    purchase_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("purchase_orders.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    supplier: Mapped[str] = mapped_column(String(200), default="")
    eta: Mapped[date | None] = mapped_column(Date)
    received_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")


class Milestone(IdMixin, TimestampMixin, db.Model):
    """A planned and (once it happened) actual date of one step of a PO. Forecasts are computed."""

    __tablename__ = "po_milestones"
    __table_args__ = (UniqueConstraint("purchase_order_id", "kind", "subject"),)

    purchase_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("purchase_orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(80), default="")
    planned_date: Mapped[date | None] = mapped_column(Date)
    actual_date: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")


class ProgressReport(SyncMixin, db.Model):
    """Units of one PO line produced on one day, reported from the factory floor (synced, offline)."""

    __tablename__ = "progress_reports"

    purchase_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("purchase_orders.id"), index=True)
    po_line_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("po_lines.id"), index=True)
    report_date: Mapped[date] = mapped_column(Date)
    units_produced: Mapped[int] = mapped_column(Integer)
    reported_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")


class PoAlert(IdMixin, TimestampMixin, db.Model):
    """A delay-risk or freight alert on a PO. At most one unresolved alert per (PO, kind, subject).

    ``open_key`` is ``kind:subject`` while the alert is open or acknowledged and NULL once
    resolved; the unique constraint on (PO, open_key) enforces the rule in the database.
    """

    __tablename__ = "po_alerts"
    __table_args__ = (UniqueConstraint("purchase_order_id", "open_key"),)

    purchase_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("purchase_orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(120), default="")
    severity: Mapped[str] = mapped_column(String(12), default="warning")
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="open")
    open_key: Mapped[str | None] = mapped_column(String(170))
    acknowledged_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Shipment(IdMixin, TimestampMixin, db.Model):
    """One shipment of a PO: its booking, packing list and export documents."""

    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("purchase_order_id", "reference"),)

    purchase_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("purchase_orders.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64))
    # Set by the factory when the packing list is final; None while it is a draft.
    packing_list_completed_on: Mapped[date | None] = mapped_column(Date)
    booked_on: Mapped[date | None] = mapped_column(Date)
    forwarder: Mapped[str] = mapped_column(String(200), default="")
    booking_number: Mapped[str] = mapped_column(String(80), default="")
    vessel: Mapped[str] = mapped_column(String(120), default="")
    voyage: Mapped[str] = mapped_column(String(40), default="")
    port_of_loading: Mapped[str] = mapped_column(String(80), default="")
    port_of_discharge: Mapped[str] = mapped_column(String(80), default="")
    container_type: Mapped[str] = mapped_column(String(8), default="")
    # How many containers of ``container_type`` are booked; the release gate checks the cargo fits.
    container_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    cargo_cutoff: Mapped[date | None] = mapped_column(Date)
    etd: Mapped[date | None] = mapped_column(Date)
    eta: Mapped[date | None] = mapped_column(Date)
    departed_on: Mapped[date | None] = mapped_column(Date)
    delivered_on: Mapped[date | None] = mapped_column(Date)

    cartons: Mapped[list[PackingCarton]] = relationship(back_populates="shipment", lazy="selectin",
                                                        order_by="PackingCarton.position",
                                                        cascade="all, delete-orphan")
    documents: Mapped[list[ExportDocument]] = relationship(back_populates="shipment", lazy="selectin",
                                                           order_by="ExportDocument.position",
                                                           cascade="all, delete-orphan")


class PackingCarton(IdMixin, db.Model):
    """One packing-list row: ``carton_count`` identical cartons with their contents per carton."""

    __tablename__ = "packing_cartons"

    shipment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    carton_count: Mapped[int] = mapped_column(Integer)
    # [{"po_line_id": uuid-str, "units": int}] units of each line in ONE carton; 2+ entries = mixed carton
    contents: Mapped[list] = mapped_column(JSON, default=list)
    length_cm: Mapped[float] = mapped_column(Float)
    width_cm: Mapped[float] = mapped_column(Float)
    height_cm: Mapped[float] = mapped_column(Float)
    gross_kg: Mapped[float] = mapped_column(Float)

    shipment: Mapped[Shipment] = relationship(back_populates="cartons")


class ExportDocument(IdMixin, TimestampMixin, db.Model):
    """One entry of a shipment's export-documents checklist, with its uploaded file."""

    __tablename__ = "export_documents"
    __table_args__ = (UniqueConstraint("shipment_id", "kind"),)

    shipment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(120))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="missing")
    storage_key: Mapped[str | None] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(80))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the brand rejected the file (required to reject; cleared by the next upload).
    rejection_reason: Mapped[str] = mapped_column(Text, default="", server_default="")

    shipment: Mapped[Shipment] = relationship(back_populates="documents")


class GateWaiver(IdMixin, TimestampMixin, db.Model):
    """A brand editor's decision to release a shipment without one item of the release gate.

    ``item`` and ``subject`` name the gate item (see :mod:`server.timeline.gate`); a waiver
    covers exactly that item, so a new problem is never waived in advance. Revoking keeps the
    row (``revoked_at``) so the audit trail stays whole.
    """

    __tablename__ = "shipment_gate_waivers"

    shipment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    item: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(120), default="")
    reason: Mapped[str] = mapped_column(Text)
    waived_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))


class Issue(IdMixin, TimestampMixin, db.Model):
    """A problem on a PO with an owner, a due date, links and a status flow."""

    __tablename__ = "po_issues"

    purchase_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("purchase_orders.id"), index=True)
    type: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(12), default="medium")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    wont_fix_reason: Mapped[str] = mapped_column(Text, default="")
    owner_org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("organisations.id"))
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    due_date: Mapped[date | None] = mapped_column(Date)
    expected_delay_days: Mapped[int] = mapped_column(Integer, default=0)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("batches.id"))
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("inspections.id"), index=True)
    defect_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("defects.id"))
    photo_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("photos.id"))
    alert_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("po_alerts.id"))
    opened_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Set when a brand editor closes an issue with a CAPA without a verified effectiveness check.
    capa_waiver_reason: Mapped[str] = mapped_column(Text, default="", server_default="")

    comments: Mapped[list[IssueComment]] = relationship(back_populates="issue", lazy="selectin",
                                                        order_by="IssueComment.created_at")


class IssueComment(IdMixin, TimestampMixin, db.Model):
    """A comment on an issue, with attachments stored content-addressed."""

    __tablename__ = "po_issue_comments"

    issue_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("po_issues.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text, default="")
    # [{"storage_key", "filename", "content_type", "size_bytes", "sha256"}]
    attachments: Mapped[list] = mapped_column(JSON, default=list)

    issue: Mapped[Issue] = relationship(back_populates="comments")


class CapaStep(IdMixin, TimestampMixin, db.Model):
    """One step of an issue's corrective and preventive action (8D style), with owner, due date and evidence.

    Steps, in order: containment, root cause (with a 5-why), corrective action, preventive action,
    verification, effectiveness check. The owner is a member of the issue's responsible organisation.
    """

    __tablename__ = "capa_steps"
    __table_args__ = (UniqueConstraint("issue_id", "step"),)

    issue_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("po_issues.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(Text, default="")
    # root cause only: ["why 1", "why 2", ...] (at most five)
    five_whys: Mapped[list] = mapped_column(JSON, default=list)
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="open")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # effectiveness check only: the brand's verdict
    effective: Mapped[bool | None] = mapped_column(Boolean)
    verified_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # [{"storage_key", "filename", "content_type", "size_bytes", "sha256"}]
    evidence: Mapped[list] = mapped_column(JSON, default=list)


BOOKING_STATUSES = ("requested", "proposed", "confirmed", "cancelled")


class InspectionBooking(IdMixin, TimestampMixin, db.Model):
    """A factory's request for an inspection of a PO line or batch, and the brand's answer.

    Confirming creates the :class:`~server.inspect.models.Inspection` the normal way (assigned to
    the inspector, scheduled on the date), so it reaches the inspector's phone through sync pull.
    ``history`` records every step: ``[{"at", "by", "action", "date", "reason"}]``.
    """

    __tablename__ = "inspection_bookings"

    purchase_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("purchase_orders.id"), index=True)
    po_line_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("po_lines.id"))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("batches.id"))
    kind: Mapped[str] = mapped_column(String(20), default="final")
    ready_date: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="requested")
    proposed_date: Mapped[date | None] = mapped_column(Date)
    scheduled_date: Mapped[date | None] = mapped_column(Date)
    inspector_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("inspections.id"))
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    history: Mapped[list] = mapped_column(JSON, default=list)


class CalendarFeed(IdMixin, TimestampMixin, db.Model):
    """A token-protected iCalendar feed of confirmed inspections, per inspector or per factory.

    Only the token's SHA-256 is stored; the token itself is shown once, when the feed is made.
    """

    __tablename__ = "calendar_feeds"

    kind: Mapped[str] = mapped_column(String(12))  # inspector | factory
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the user or the factory organisation
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
