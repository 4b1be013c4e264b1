"""Inspections and the rows phones write while inspecting.

Everything an inspector writes is a :class:`SyncMixin` row with a client-made UUID,
so it can be created offline and pushed later (see :mod:`server.sync`).
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import IdMixin, SyncMixin, TimestampMixin, UTCDateTime, utcnow

SECTIONS = ("visual", "measurement", "functional", "packaging", "labeling", "golden_sample")
ITEM_KINDS = ("yes_no_na", "number", "choice", "text", "photo", "defect_count")
INSPECTION_KINDS = ("pre_production", "inline", "final")
INSPECTION_STATUSES = ("assigned", "in_progress", "submitted", "signed_off", "cancelled")
VERDICTS = ("pending", "pass", "fail")
DEFECT_CLASSES = ("critical", "major", "minor")


class ChecklistTemplate(SyncMixin, db.Model):
    """One version of a checklist. Versions of the same checklist share ``family_id``.

    A version that an inspection uses is never edited: editing makes a new version,
    so inspections under way keep the checklist they started with.
    """

    __tablename__ = "checklist_templates"
    __table_args__ = (UniqueConstraint("family_id", "version"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organisations.id"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    inspection_kind: Mapped[str | None] = mapped_column(String(20))
    # [{"key", "title", "items": [{"key", "kind", "label", "required", "unit", "nominal",
    #   "tolerance", "choices", "photo_required", "dimension_spec_id"}]}]
    sections: Mapped[list] = mapped_column(JSON, default=list)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    # Family metadata: the version this one was copied from (another family), who made it,
    # when the family was archived (no new inspections), and the verdict counting rule
    # (keys of server.inspect.verdict.DEFAULT_RULE; None = the defaults).
    copied_from_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verdict_rule: Mapped[dict | None] = mapped_column(JSON)


class Inspection(SyncMixin, db.Model):
    __tablename__ = "inspections"

    kind: Mapped[str] = mapped_column(String(20))  # pre_production | inline | final
    purchase_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("purchase_orders.id"), index=True)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("batches.id"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"), index=True)
    template_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("checklist_templates.id"))
    inspector_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"), index=True)
    golden_sample_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("golden_samples.id"))
    status: Mapped[str] = mapped_column(String(20), default="assigned")
    verdict: Mapped[str] = mapped_column(String(20), default="pending")
    verdict_reasons: Mapped[list] = mapped_column(JSON, default=list)
    verdict_override: Mapped[dict | None] = mapped_column(JSON)  # {"verdict", "reason", "by", "at"}
    lot_size: Mapped[int | None] = mapped_column(Integer)
    inspection_level: Mapped[str] = mapped_column(String(4), default="II")
    severity: Mapped[str] = mapped_column(String(12), default="normal")  # normal | tightened | reduced
    aql: Mapped[dict | None] = mapped_column(JSON)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The inspector's drawn signature, given with the sign-off: {"name", "signed_at", "width", "height",
    # "strokes": [[[x, y], ...], ...]} in the drawing's own pixels (see _signature in service.py).
    signature: Mapped[dict | None] = mapped_column(JSON)
    notes: Mapped[str] = mapped_column(Text, default="")
    # When this inspection's lot result advanced the (product, factory) switching state;
    # set once, so a replayed sign-off never counts the lot twice.
    switching_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    template: Mapped[ChecklistTemplate] = relationship(lazy="joined")

    @property
    def final_verdict(self) -> str | None:
        """The verdict that stands: the brand's override when there is one, else the computed verdict."""
        return (self.verdict_override or {}).get("verdict") or self.verdict


class ChecklistResponse(SyncMixin, db.Model):
    """The answer to one checklist item (for one sampled unit when the item is per unit)."""

    __tablename__ = "checklist_responses"

    inspection_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("inspections.id"), index=True)
    item_key: Mapped[str] = mapped_column(String(80))
    unit_index: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[dict | list | str | float | bool | None] = mapped_column(JSON)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")


class Measurement(SyncMixin, db.Model):
    """One dimension of one sampled unit, as entered and in SI (mm or g)."""

    __tablename__ = "measurements"

    inspection_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("inspections.id"), index=True)
    dimension_spec_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("dimension_specs.id"))
    unit_index: Mapped[int] = mapped_column(Integer)
    value_entered: Mapped[float] = mapped_column(Float)
    unit_entered: Mapped[str] = mapped_column(String(8), default="mm")
    value_si: Mapped[float] = mapped_column(Float)
    in_tolerance: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(10), default="manual")  # manual | photo
    photo_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class Defect(SyncMixin, db.Model):
    __tablename__ = "defects"

    inspection_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("inspections.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    defect_class: Mapped[str] = mapped_column(String(10))  # critical | major | minor
    count: Mapped[int] = mapped_column(Integer, default=1)
    unit_index: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")


class Photo(SyncMixin, db.Model):
    """A photo's metadata. The bytes live in storage under a content-addressed key."""

    __tablename__ = "photos"

    inspection_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("inspections.id"), index=True)
    item_key: Mapped[str | None] = mapped_column(String(80))
    defect_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    unit_index: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # dedup on upload, storage housekeeping
    size_bytes: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(40))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    location: Mapped[dict | None] = mapped_column(JSON)
    # declared | stored | analysed
    upload_state: Mapped[str] = mapped_column(String(12), default="declared")
    storage_key: Mapped[str | None] = mapped_column(String(200))
    overlay_key: Mapped[str | None] = mapped_column(String(200))
    analysis: Mapped[dict | None] = mapped_column(JSON)
    analysis_status: Mapped[str | None] = mapped_column(String(12))  # pass | fail | unusable
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reasons: Mapped[list] = mapped_column(JSON, default=list)
    flagged_by_inspector: Mapped[bool] = mapped_column(Boolean, default=False)
    review_state: Mapped[str] = mapped_column(String(20), default="none")  # none | open | accepted | rejected | retake
    sequence: Mapped[int | None] = mapped_column(Integer)


class Comment(SyncMixin, db.Model):
    __tablename__ = "comments"

    inspection_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("inspections.id"), index=True)
    photo_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)


class ReviewDecision(SyncMixin, db.Model):
    """A brand reviewer's decision on a flagged photo: accept, reject or request a retake."""

    __tablename__ = "review_decisions"

    inspection_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("inspections.id"), index=True)
    photo_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("photos.id"), index=True)
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(10))  # accept | reject | retake
    comment: Mapped[str] = mapped_column(Text, default="")
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)  # a retake task done on the phone


class SwitchingStateRecord(IdMixin, TimestampMixin, db.Model):
    """The ISO 2859-1 switching state of one product stream: one product made by one factory.

    ``state`` is :meth:`server.inspect.aql.SwitchingState.to_dict`; ``inspection`` repeats
    its severity for queries. Advanced once per signed-off inspection.
    """

    __tablename__ = "switching_states"
    __table_args__ = (UniqueConstraint("product_id", "factory_id"),)

    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"), index=True)
    factory_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organisations.id"), index=True)
    inspection: Mapped[str] = mapped_column(String(12), default="normal")
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    history: Mapped[list] = mapped_column(JSON, default=list)  # [{"inspection_id", "accepted", "to", "at"}]


class ReportShareLink(IdMixin, db.Model):
    """A revocable, expiring link to an inspection report. Only the SHA-256 of the token is kept."""

    __tablename__ = "report_share_links"

    inspection_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("inspections.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
