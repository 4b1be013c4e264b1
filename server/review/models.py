"""Rows of the review domain: drift alerts, webhook endpoints and their delivery log.

Review decisions and comments are :class:`~server.inspect.models.ReviewDecision` and
:class:`~server.inspect.models.Comment` (synced to phones); this module holds what only
the server and the brand see.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import IdMixin, TimestampMixin, UTCDateTime, utcnow
from ..secretbox import SealedString

ALERT_KINDS = ("colour", "dimension")
ALERT_RULES = ("ewma", "trend")
ALERT_LEVELS = ("warning", "alarm")
ALERT_STATUSES = ("open", "acknowledged", "resolved")
#: Value of :attr:`DriftAlert.open_slot` while an alert is open or acknowledged.
OPEN_SLOT = "open"

EVENT_TYPES = ("drift.alert.opened", "drift.alert.escalated", "drift.alert.acknowledged",
               "drift.alert.resolved", "webhook.test")
DELIVERY_STATUSES = ("pending", "retrying", "delivered", "failed")


class DriftAlert(IdMixin, TimestampMixin, db.Model):
    """A drift rule firing for one batch and one colour standard or dimension spec.

    At most one alert per (batch, standard, rule) is open at a time: ``open_slot`` is
    ``"open"`` while the alert is open or acknowledged and NULL once resolved, and the
    unique key over (batch, standard, rule, open_slot) lets the database refuse a second
    open alert (NULLs never collide, so resolved alerts pile up freely). Portable to SQLite
    and PostgreSQL, unlike a partial index.
    """

    __tablename__ = "drift_alerts"
    __table_args__ = (UniqueConstraint("batch_id", "standard_id", "rule", "open_slot"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organisations.id"), index=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("batches.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # colour | dimension
    # The ColourStandard's or DimensionSpec's id, and its name at the time
    standard_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    standard_name: Mapped[str] = mapped_column(String(80))
    rule: Mapped[str] = mapped_column(String(12))  # ewma | trend
    level: Mapped[str] = mapped_column(String(12))  # warning | alarm
    status: Mapped[str] = mapped_column(String(14), default="open")
    open_slot: Mapped[str | None] = mapped_column(String(8))  # OPEN_SLOT or NULL, always set explicitly
    direction: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    # {"photo_id", "photo_count", "delta_e", "chart", "index"} at the latest evaluation
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledge_note: Mapped[str] = mapped_column(Text, default="")
    # The factory's answer (what it found and does about the drift), with who and when.
    answer: Mapped[str] = mapped_column(Text, default="", server_default="")
    answered_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookEndpoint(IdMixin, TimestampMixin, db.Model):
    """A brand's HTTP endpoint that receives signed events of the chosen types."""

    __tablename__ = "webhook_endpoints"

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organisations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Encrypted at rest with a key derived from SECRET_KEY (the server must read it back to sign).
    secret: Mapped[str] = mapped_column(SealedString(512))
    event_types: Mapped[list] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))


class WebhookDelivery(IdMixin, TimestampMixin, db.Model):
    """One event for one endpoint: the exact body that is signed and sent on every attempt.

    Written in the same transaction as the event (an outbox), sent by a task after commit.
    """

    __tablename__ = "webhook_deliveries"

    endpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
                                                   index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(IdMixin, db.Model):
    """The delivery log: one row per attempt with its HTTP status or error and the next retry."""

    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
                                                   index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
