"""Sync bookkeeping: the revision counter, conflicts and the audit trail (which is also the mutation log)."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import IdMixin, SyncMixin, UTCDateTime, utcnow


class SyncCounter(db.Model):
    """One row (id = 1): on SQLite the last revision handed out; on PostgreSQL revisions
    come from the sequence ``sync_rev_seq`` instead (:mod:`server.sync.revisions`).

    ``purged_through`` is the highest revision whose tombstones may have been purged.

    ``history_id`` names this database's history of revisions; ``flask --app server restore``
    gives it a new one after a restore from a backup, so every cursor from before answers 410
    ``history_diverged`` (:mod:`server.sync.history`). ``history_started_rev`` is the counter's
    value at that restore (the fork point; ``None`` while no restore was recorded), and
    ``restored_at`` when it happened.
    """

    __tablename__ = "sync_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    purged_through: Mapped[int] = mapped_column(BigInteger, default=0)
    history_id: Mapped[str] = mapped_column(String(32), default="initial", server_default="initial")
    history_started_rev: Mapped[int | None] = mapped_column(BigInteger)
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncCommit(db.Model):
    """One transaction's revisions ``first_rev..last_rev`` and a random token: the fingerprint a cursor carries.

    A cursor at revision ``r`` remembers the token of the commit that took ``r``. After a
    restore from a backup, new commits take the same revision numbers again with other tokens,
    so the cursor's fingerprint no longer matches and the pull answers 410 ``history_diverged``
    instead of skipping rows (also when nobody ran ``flask --app server restore``).
    """

    __tablename__ = "sync_commits"

    last_rev: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_rev: Mapped[int] = mapped_column(BigInteger, index=True)  # the fingerprint looks up by it
    token: Mapped[str] = mapped_column(String(16))


class SyncScopeSet(db.Model):
    """The inspections and POs an inspector or factory user saw under one scope key (a hash of
    them, as pull cursors carry it), written once when a cursor first names the key. When the
    scope grows (a new assignment), the pull compares the cursor's set with today's and streams
    the older rows the additions bring instead of asking for a full resync."""

    __tablename__ = "sync_scope_sets"

    key: Mapped[str] = mapped_column(String(24), primary_key=True)
    base: Mapped[str] = mapped_column(String(24))  # hash of the organisations and roles
    inspections: Mapped[list] = mapped_column(JSON)
    purchase_orders: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConflictRecord(SyncMixin, db.Model):
    """A value that lost a merge: kept so nothing is silently lost and a reviewer can see it.

    A :class:`~server.models.SyncMixin` row, so phones pull it (entity ``conflict``) in
    revision order like everything else.
    """

    __tablename__ = "sync_conflicts"
    __table_args__ = (Index("ix_sync_conflicts_entity_record", "entity", "record_id"),)

    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    field: Mapped[str] = mapped_column(String(80))
    kept_value: Mapped[dict | list | str | float | bool | None] = mapped_column(JSON)
    lost_value: Mapped[dict | list | str | float | bool | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(40))  # both_changed | deleted
    mutation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(IdMixin, db.Model):
    """Who changed what and when, for inspections and their rows; also the sync mutation log.

    A pushed mutation leaves exactly one event, written in the same transaction as its
    change, whose ``id`` is the mutation's id (so the primary key makes it once only, also
    when two requests race) and whose ``result`` lets a replay answer ``duplicate`` with the
    original answer. ``status`` is the mutation's (applied, conflict
    or rejected); a mutation that changed nothing (rejected, an edit that matched the row,
    an edit of a tombstone) has ``action`` ``"none"`` and is left out of the audit trail that
    people read. Events written by the API have no mutation, status or result.
    """

    __tablename__ = "audit_events"
    # Indexed by inspection only: every write pays for an index, and the trail is read per inspection.

    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    action: Mapped[str] = mapped_column(String(20))  # create | update | delete | override | decision | none | ...
    changes: Mapped[dict] = mapped_column(JSON, default=dict)  # field -> [old, new]
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    client_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    mutation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # = id for a pushed mutation's event
    status: Mapped[str | None] = mapped_column(String(12))  # a mutation's: applied | conflict | rejected
    result: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # a mutation's answer, for replays
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    #: Actions that are not changes: left out of the audit trail people read.
    NO_CHANGE = "none"


# -- per-field revisions ------------------------------------------------------------------
# Registered after the revision hook (imported just above), so ``rev`` is already set.
from sqlalchemy import event, inspect as sa_inspect  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from . import revisions  # noqa: E402,F401  (registers the revision hook first)

#: Columns that never count as a field change.
BOOKKEEPING = frozenset({"id", "rev", "created_at", "updated_at", "field_revs"})
#: ``session.info`` key naming the client whose writes are being flushed (set by the push service).
CLIENT_KEY = "lineside.sync_client_id"


@event.listens_for(Session, "before_flush")
def _record_field_revisions(session: Session, flush_context, instances) -> None:
    """Stamp each changed column of a changed synced row with the row's new revision.

    ``field_revs`` maps field -> ``[rev, client_id or None]``; a new row starts empty (every
    field dates from its creation). Any writer is covered, not only sync: a verdict that the
    server recomputes counts as a server-side change when a phone's edit is merged.
    """
    client = session.info.get(CLIENT_KEY)
    for obj in session.dirty:
        if not isinstance(obj, SyncMixin) or obj in session.new:
            continue
        state = sa_inspect(obj)
        changed = [a.key for a in state.mapper.column_attrs
                   if a.key not in BOOKKEEPING and state.attrs[a.key].history.has_changes()]
        if not changed:
            continue
        revs = dict(obj.field_revs or {})
        for name in changed:
            revs[name] = [obj.rev, client]
        obj.field_revs = revs
