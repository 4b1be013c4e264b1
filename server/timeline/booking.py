"""Inspection booking: the factory asks for an inspection, the brand confirms, proposes, reschedules.

No Flask request objects here. Who may do what:

* the factory's managers (and brand editors) request an inspection of a PO line or batch with
  the day the goods are ready and the quantity;
* brand editors confirm (inspector, date, checklist) — which creates the
  :class:`~server.inspect.models.Inspection` through ``inspect.service.create_inspection``, so
  it is assigned, scheduled and reaches the inspector's phone on the next sync pull — or
  propose another date, which the factory accepts by requesting again;
* either side reschedules (the inspection's ``scheduled_for`` moves) or cancels (the inspection,
  if it has not started, becomes a tombstone), with a reason. Every step is kept in ``history``.

iCalendar feeds (RFC 5545) list confirmed bookings per inspector or per factory behind an
unguessable token; only the token's SHA-256 is stored.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select

from ..auth import Action, Principal
from ..catalog.models import Batch, POLine, PurchaseOrder
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..inspect.models import Inspection
from ..models import utcnow
from .models import CalendarFeed, InspectionBooking
from .service import _child_or_404, inspector_view, require_brand, require_party

OPEN_BOOKING = ("requested", "proposed", "confirmed")


def _log(b: InspectionBooking, p: Principal, action: str, **extra: Any) -> None:
    entry = {"at": utcnow().isoformat(), "by": str(p.id), "action": action}
    entry.update({k: (v.isoformat() if isinstance(v, date) else v) for k, v in extra.items()})
    b.history = [*(b.history or []), entry]


def booking_or_404(p: Principal, booking_id: uuid.UUID) -> tuple[InspectionBooking, PurchaseOrder]:
    """A booking and its PO (not for inspectors, who see the inspection instead). Raises ``NotFound``."""
    b, po = _child_or_404(p, InspectionBooking, booking_id, "booking")
    if inspector_view(p, po):
        raise NotFound("No such booking.")
    return b, po


def visible_bookings(p: Principal, po: PurchaseOrder) -> list[InspectionBooking]:
    if inspector_view(p, po):
        return []
    return list(db.session.scalars(select(InspectionBooking).where(InspectionBooking.purchase_order_id == po.id)
                                   .order_by(InspectionBooking.ready_date, InspectionBooking.created_at)))


def request_booking(p: Principal, po: PurchaseOrder, data: dict[str, Any]) -> InspectionBooking:
    """The factory asks for an inspection of a PO line or batch (factory managers, brand editors).

    Raises ``Forbidden``, ``ValidationFailed`` (line or batch not of the PO, none given, ready
    date in the past).
    """
    require_party(p, po)
    errors: dict[str, list[str]] = {}
    line = db.session.get(POLine, data["po_line_id"]) if data.get("po_line_id") else None
    batch = db.session.get(Batch, data["batch_id"]) if data.get("batch_id") else None
    if data.get("po_line_id") and (line is None or line.purchase_order_id != po.id or line.deleted):
        errors["po_line_id"] = ["Not a line of this PO."]
    if data.get("batch_id") and (batch is None or batch.deleted or batch.po_line.purchase_order_id != po.id):
        errors["batch_id"] = ["Not a batch of this PO."]
    if not (data.get("po_line_id") or data.get("batch_id")):
        errors["po_line_id"] = ["Name the PO line or the batch to inspect."]
    if batch is not None and line is not None and batch.po_line_id != line.id:
        errors["batch_id"] = ["This batch is not of that line."]
    if data["ready_date"] < utcnow().date():
        errors["ready_date"] = ["The goods cannot be ready in the past."]
    if errors:
        raise ValidationFailed(errors=errors)
    b = InspectionBooking(purchase_order_id=po.id, po_line_id=(line or batch.po_line).id,
                          batch_id=batch.id if batch else None, kind=data.get("kind", "final"),
                          ready_date=data["ready_date"], quantity=data["quantity"], note=data.get("note", ""),
                          status="requested", requested_by_id=p.id, history=[])
    _log(b, p, "requested", date=data["ready_date"], quantity=data["quantity"])
    db.session.add(b)
    db.session.commit()
    return b


def _at_nine(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=timezone.utc)


def confirm_booking(p: Principal, b: InspectionBooking, po: PurchaseOrder, data: dict[str, Any]) -> InspectionBooking:
    """The brand confirms: assigns an inspector and a date and creates the inspection the normal way.

    Raises ``Forbidden`` (not a brand editor), ``Conflict`` (not open, or already confirmed),
    ``ValidationFailed`` (inspector, checklist; a date before the goods are ready).
    """
    from ..inspect.service import create_inspection

    require_brand(p, po)
    if b.status not in ("requested", "proposed"):
        raise Conflict(f"This booking is {b.status}.")
    day = data["date"]
    if day < b.ready_date:
        raise ValidationFailed(errors={"date": ["The goods are only ready on " + b.ready_date.isoformat() + "."]})
    insp = create_inspection(p, {"purchase_order_id": po.id, "kind": b.kind, "batch_id": b.batch_id,
                                 "product_id": db.session.get(POLine, b.po_line_id).product_id,
                                 "template_id": data["template_id"], "inspector_id": data["inspector_id"],
                                 "lot_size": b.quantity, "scheduled_for": _at_nine(day),
                                 "notes": f"Booked: {b.note}".strip()})
    b.status, b.scheduled_date, b.inspector_id, b.inspection_id = "confirmed", day, data["inspector_id"], insp.id
    _log(b, p, "confirmed", date=day, inspector_id=str(data["inspector_id"]), inspection_id=str(insp.id))
    db.session.commit()
    return b


def propose_date(p: Principal, b: InspectionBooking, po: PurchaseOrder, day: date, reason: str) -> InspectionBooking:
    """The brand proposes another date; the factory accepts by re-requesting with it. Brand editors only."""
    require_brand(p, po)
    if b.status not in ("requested", "proposed"):
        raise Conflict(f"This booking is {b.status}.")
    b.status, b.proposed_date = "proposed", day
    _log(b, p, "proposed", date=day, reason=reason)
    db.session.commit()
    return b


def accept_proposal(p: Principal, b: InspectionBooking, po: PurchaseOrder) -> InspectionBooking:
    """The factory accepts the proposed date: the booking is requested again for that day."""
    require_party(p, po)
    if b.status != "proposed" or b.proposed_date is None:
        raise Conflict("There is no proposed date to accept.")
    b.status, b.ready_date = "requested", b.proposed_date
    _log(b, p, "accepted", date=b.proposed_date)
    db.session.commit()
    return b


def _live_inspection(b: InspectionBooking) -> Inspection | None:
    insp = db.session.get(Inspection, b.inspection_id) if b.inspection_id else None
    return insp if insp is not None and not insp.deleted else None


def reschedule(p: Principal, b: InspectionBooking, po: PurchaseOrder, day: date, reason: str) -> InspectionBooking:
    """Move a confirmed inspection to another day (either side, with a reason).

    Raises ``Forbidden``, ``Conflict`` (not confirmed, or the inspection has started),
    ``ValidationFailed`` (no reason).
    """
    require_party(p, po)
    if not reason.strip():
        raise ValidationFailed(errors={"reason": ["Say why the inspection moves."]})
    if b.status != "confirmed":
        raise Conflict("Only a confirmed inspection is rescheduled; change the request instead.")
    insp = _live_inspection(b)
    if insp is not None and insp.status != "assigned":
        raise Conflict("The inspection has started; it can no longer move.")
    old = b.scheduled_date
    b.scheduled_date = day
    if insp is not None:
        insp.scheduled_for = _at_nine(day)  # a synced row: the change reaches the phone on pull
    _log(b, p, "rescheduled", date=day, previous=old.isoformat() if old else None, reason=reason)
    db.session.commit()
    return b


def cancel(p: Principal, b: InspectionBooking, po: PurchaseOrder, reason: str) -> InspectionBooking:
    """Cancel a booking with a reason (either side); an unstarted inspection becomes a tombstone.

    Raises ``Forbidden``, ``Conflict`` (already cancelled, or the inspection has started),
    ``ValidationFailed`` (no reason).
    """
    require_party(p, po)
    if not reason.strip():
        raise ValidationFailed(errors={"reason": ["Say why the booking is cancelled."]})
    if b.status == "cancelled":
        raise Conflict("This booking is already cancelled.")
    insp = _live_inspection(b)
    if insp is not None and insp.status != "assigned":
        raise Conflict("The inspection has started; it cannot be cancelled from the booking.")
    if insp is not None:
        insp.deleted = True
    b.status = "cancelled"
    _log(b, p, "cancelled", reason=reason)
    db.session.commit()
    return b


# -- iCalendar feeds ----------------------------------------------------------------------------

def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_feed(p: Principal, kind: str, subject_id: uuid.UUID | None) -> tuple[CalendarFeed, str]:
    """Make a feed and return it with its token (shown once). Inspectors for themselves, factory
    managers for their factory. Raises ``Forbidden``."""
    if kind == "inspector":
        subject_id = subject_id or p.id
        if subject_id != p.id:
            raise Forbidden("An inspector's calendar is made by the inspector.")
    elif subject_id is None or not p.may(Action.manage_factory, subject_id):
        raise Forbidden("Only the factory's managers make its calendar.")
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed(kind=kind, subject_id=subject_id, token_sha256=token_hash(token), created_by_id=p.id)
    db.session.add(feed)
    db.session.commit()
    return feed, token


def revoke_feed(p: Principal, feed_id: uuid.UUID) -> CalendarFeed:
    feed = db.session.get(CalendarFeed, feed_id)
    if feed is None or feed.created_by_id != p.id:
        raise NotFound("No such calendar feed.")
    feed.revoked_at = feed.revoked_at or utcnow()
    db.session.commit()
    return feed


def feed_bookings(token: str) -> tuple[CalendarFeed, list[tuple[InspectionBooking, PurchaseOrder]]]:
    """The confirmed bookings of a feed's inspector or factory. Raises ``NotFound`` for a bad token."""
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token_sha256 == token_hash(token),
                                                        CalendarFeed.revoked_at.is_(None)))
    if feed is None:
        raise NotFound("No such calendar.")
    q = (select(InspectionBooking, PurchaseOrder).join(PurchaseOrder, PurchaseOrder.id == InspectionBooking.purchase_order_id)
         .where(InspectionBooking.status == "confirmed"))
    q = q.where(InspectionBooking.inspector_id == feed.subject_id) if feed.kind == "inspector" else \
        q.where(PurchaseOrder.factory_id == feed.subject_id)
    return feed, [(b, po) for b, po in db.session.execute(q.order_by(InspectionBooking.scheduled_date)).all()]


def _ics_text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 3.3.11)."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1)."""
    out, raw = [], line.encode()
    while len(raw) > 75:
        cut = 75 if not out else 74
        while cut > 0 and (raw[cut] & 0xC0) == 0x80:  # never split a UTF-8 sequence
            cut -= 1
        out.append(raw[:cut].decode())
        raw = raw[cut:]
    out.append(raw.decode())
    return "\r\n ".join(out)


def to_ics(feed: CalendarFeed, rows: list[tuple[InspectionBooking, PurchaseOrder]]) -> str:
    """The feed as an iCalendar document: one all-day VEVENT per confirmed inspection."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Lineside//Inspections//EN", "CALSCALE:GREGORIAN",
             f"X-WR-CALNAME:{_ics_text('Lineside inspections')}"]
    for b, po in rows:
        day = b.scheduled_date
        summary = "{} inspection {}".format(b.kind.replace("_", " ").capitalize(), po.po_number)
        description = f"{b.quantity} units; ready {b.ready_date.isoformat()}. {b.note}".strip()
        lines += ["BEGIN:VEVENT", f"UID:{b.id}@lineside", f"DTSTAMP:{stamp}",
                  f"DTSTART;VALUE=DATE:{day.strftime('%Y%m%d')}",
                  f"DTEND;VALUE=DATE:{(day + timedelta(days=1)).strftime('%Y%m%d')}",
                  f"SUMMARY:{_ics_text(summary)}", f"DESCRIPTION:{_ics_text(description)}", "STATUS:CONFIRMED",
                  "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"

