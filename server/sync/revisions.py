"""Server revisions for synced rows, handed out in commit order.

A ``before_flush`` hook gives every new or changed :class:`~server.models.SyncMixin`
row the next revision from :class:`~server.sync.models.SyncCounter`. The
``UPDATE ... RETURNING`` locks the counter row until the transaction ends, so a
transaction that takes revisions later also commits later (PostgreSQL row lock;
SQLite has one writer anyway). Pull can then serve "revision > cursor" without
ever skipping a change that commits late.
"""
from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from ..models import SyncMixin
from .history import record_commit

_NEXT = text("UPDATE sync_counter SET value = value + :n WHERE id = 1 RETURNING value")


def take_revisions(session: Session, n: int) -> range:
    """Reserve ``n`` consecutive revisions and return them. Locks the counter until commit."""
    conn = session.connection()
    last = conn.execute(_NEXT, {"n": n}).scalar_one()
    record_commit(conn, last - n + 1, last)  # the fingerprint cursors at these revisions carry
    return range(last - n + 1, last + 1)


def current_revision(session: Session) -> int:
    """The highest revision handed out so far (committed or not)."""
    return session.connection().execute(text("SELECT value FROM sync_counter WHERE id = 1")).scalar_one()


@event.listens_for(Session, "before_flush")
def _assign_revisions(session: Session, flush_context, instances) -> None:
    rows = [o for o in session.new if isinstance(o, SyncMixin)]
    rows += [o for o in session.dirty if isinstance(o, SyncMixin) and session.is_modified(o)]
    if not rows:
        return
    for obj, rev in zip(rows, take_revisions(session, len(rows)), strict=True):
        obj.rev = rev
