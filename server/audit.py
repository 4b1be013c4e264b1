"""The audit trail: one way to build an event, whoever writes it (API services, the sync push).

An event says who changed what (``changes``: field -> ``[old, new]``) on which record and when.
Values are made JSON by :func:`server.jsontext.jsonable_deep`, the same forms the API and the
sync feed answer (UUIDs as strings, datetimes as ISO 8601 UTC with ``Z``, dates as ``YYYY-MM-DD``).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from .extensions import db
from .jsontext import jsonable_deep
from .models import utcnow
from .sync.models import AuditEvent


def audit_event(entity: str, record_id: uuid.UUID | None, inspection_id: uuid.UUID | None, action: str,
                changes: dict[str, Any], user_id: uuid.UUID | None, *, at: datetime | None = None,
                **log: Any) -> dict[str, Any]:
    """The column values of one audit event. ``log`` adds the sync mutation log's columns
    (``id``, ``client_id``, ``mutation_id``, ``status``, ``result``) for a pushed mutation."""
    return {"entity": entity, "record_id": record_id, "inspection_id": inspection_id, "action": action,
            "changes": jsonable_deep(changes), "user_id": user_id, "at": at or utcnow(), **log}


def record_audit(entity: str, record_id: uuid.UUID | None, inspection_id: uuid.UUID | None, action: str,
                 changes: dict[str, Any], user_id: uuid.UUID | None) -> AuditEvent:
    """Add one audit event to the session (no commit) and return it."""
    event = AuditEvent(**audit_event(entity, record_id, inspection_id, action, changes, user_id))
    db.session.add(event)
    return event
