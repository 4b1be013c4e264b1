"""Sync services other than push and pull: the conflict log, tombstone housekeeping.

Push lives in :mod:`server.sync.push`, pull in :mod:`server.sync.pull`; the entities and the
rules that decide a push of them are registered by the domains (:mod:`server.sync.registry`).
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..auth import Principal
from ..errors import NotFound
from ..extensions import db
from ..models import utcnow
from .models import ConflictRecord, SyncCounter
from .pull import _scope
from .push import (PROTOCOL_VERSION, body_may_hold_unstorable_text, check_envelope, lock_counter,  # noqa: F401
                   push)
from .registry import ENTITIES, log_owner


# -- conflicts and housekeeping --------------------------------------------------------------

def conflicts_for_inspection(p: Principal, inspection_id: uuid.UUID) -> list[ConflictRecord]:
    """The conflict log of one inspection, newest first. Raises ``NotFound`` outside the caller's scope."""
    owner = log_owner()
    visible = db.session.scalar(select(owner.table.c.id).where(owner.table.c.id == inspection_id,
                                                               _scope(p)[owner.name] if not p.is_platform_admin
                                                               else True))
    if visible is None:
        raise NotFound("No such inspection.")
    return list(db.session.scalars(select(ConflictRecord).where(ConflictRecord.inspection_id == inspection_id)
                                   .order_by(ConflictRecord.rev.desc())))


def _purge_order() -> list:
    """Tables of the registered entities whose tombstones may be purged, children first (so a purged
    tombstone is not still referenced by another purged one)."""
    purgeable = {e.table for e in ENTITIES.values() if e.purge}
    return [t for t in reversed(db.metadata.sorted_tables) if t in purgeable]


def purge_tombstones(older_than_seconds: int | None = None) -> tuple[int, int]:
    """Delete tombstones older than the retention and raise ``purged_through``.

    Returns ``(rows deleted, purged_through)``. A table whose tombstones are still
    referenced by a live row keeps them (and they are not counted).
    """
    s = db.session
    seconds = current_app.config["SYNC_TOMBSTONE_RETENTION_SECONDS"] if older_than_seconds is None \
        else older_than_seconds
    cutoff = utcnow() - timedelta(seconds=seconds)
    lock_counter()
    total, high = 0, 0
    for t in _purge_order():
        cond = (t.c.deleted.is_(True), t.c.updated_at < cutoff)
        top = s.scalar(select(func.max(t.c.rev)).where(*cond))
        if top is None:
            continue
        try:
            with s.begin_nested():
                total += s.execute(sa_delete(t).where(*cond)).rowcount
            high = max(high, top)
        except IntegrityError:
            continue
    if high:
        s.execute(update(SyncCounter).where(SyncCounter.id == 1, SyncCounter.purged_through < high)
                  .values(purged_through=high))
    s.commit()
    return total, s.scalar(select(SyncCounter.purged_through).where(SyncCounter.id == 1))
