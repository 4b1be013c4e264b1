"""The inspections' audit trail as people read it, and the helper that applies and records API changes.

Sync pushes write their own events (one per mutation, :mod:`server.sync.push`); both land
in ``audit_events``.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from ..accounts.models import User
from ..audit import record_audit  # noqa: F401  (the one builder; re-exported for the inspections package)
from ..auth import Principal
from ..errors import Forbidden
from ..extensions import db
from ..sync.models import AuditEvent
from .models import Inspection
from .scope import po_of


def apply_values(row: Any, values: dict[str, Any]) -> dict[str, list]:
    """Set attributes and return the changes as ``{field: [old, new]}``."""
    changes = {}
    for key, new in values.items():
        old = getattr(row, key, None)
        if old != new:
            changes[key] = [old, new]
            setattr(row, key, new)
    return changes


def audit_events(p: Principal, insp: Inspection) -> list[AuditEvent]:
    """The audit trail of an inspection and its rows, oldest first (the brand and the factory's managers).

    Raises ``Forbidden`` for inspectors without a manager role.
    """
    po = po_of(insp)
    if not p.sees_whole_po(po.brand_id, po.factory_id):
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
