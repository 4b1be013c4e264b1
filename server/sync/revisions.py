"""Server revisions for synced rows, and the highest revision a pull may safely serve.

Every new or changed :class:`~server.models.SyncMixin` row gets a revision: the push
service takes them for its batch, a ``before_flush`` hook for every other writer.

PostgreSQL: no global lock
    Revisions come from the sequence ``sync_rev_seq``, which hands out numbers without
    waiting for anyone, so transactions commit in any order. Before a transaction takes
    revisions (``sync_take_revisions(n)``) it *announces* the lowest one it can get: it
    reads the sequence's last value ``L`` and takes a shared transaction-level advisory lock
    whose key encodes ``L + 1``; only then does it call ``nextval``. The lock lives until
    the transaction ends (commit or rollback) and is visible to every session in
    ``pg_locks``; PostgreSQL releases it only after the commit is visible to new snapshots.

    A pull asks ``sync_safe_revision()``, which reads first the sequence's highest handed-out
    value ``S`` and then the smallest announced revision ``M`` still held, and serves
    ``cursor < rev <= V`` with ``V = min(S, M - 1)``. Why no committed change is ever skipped:
    take a revision ``r <= V`` of a transaction ``T``. ``T`` announced ``a <= r`` before its
    ``nextval`` returned ``r``, and that ``nextval`` came before the pull read ``S`` (else
    ``r > S >= V``). So when the pull read ``pg_locks``, ``T`` either still held its
    announcement (then ``M <= a <= r``, so ``V < r``: contradiction), or had ended: rolled
    back (nothing to serve) or committed, and then visible to the pull's queries, which
    start after. The next cursor is at most ``V``, so a revision above it is served by a
    later pull. ``V`` never goes down: a later announcement is above every ``S`` read
    before it. Revisions are not consecutive (a rollback leaves a gap); nothing relies on that.

SQLite
    One writer at a time (``BEGIN IMMEDIATE``), so revisions come from the single
    ``sync_counter`` row with ``UPDATE ... RETURNING`` and the committed counter is the
    safe bound. Pulls read in deferred transactions (see :func:`reading`), so they do not
    wait behind writers.

Per owner
    Rows of one owner (an inspection, a PO for progress reports) are written by one
    transaction at a time: the push locks its owners before it takes revisions, and the hook
    locks the owners of the rows it numbers. A writer therefore sees every
    earlier writer's rows of its inspections, and its revisions are above theirs (the verdict
    relies on it).
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

from sqlalchemy import Table, event, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..models import SyncMixin
from .history import record_commit

#: Advisory lock keys announcing revisions: ``ANNOUNCE_BASE + rev`` (revisions stay below 2**48).
ANNOUNCE_BASE = 0x5359 << 48

_NEXT_SQLITE = text("UPDATE sync_counter SET value = value + :n WHERE id = 1 RETURNING value")
_TAKE_PG = text("SELECT sync_take_revisions(:n)")
_SAFE_PG = text("SELECT sync_safe_revision()")
_LAST_PG = text("SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM sync_rev_seq")
_COUNTER = text("SELECT value FROM sync_counter WHERE id = 1")

_reading: contextvars.ContextVar[bool] = contextvars.ContextVar("lineside_sync_reading", default=False)


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def take_revisions(session: Session, n: int) -> list[int]:
    """Reserve ``n`` new revisions, ascending (not necessarily consecutive on PostgreSQL)."""
    if n <= 0:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        revs = list(conn.execute(_TAKE_PG, {"n": n}).scalar_one())
    else:
        last = conn.execute(_NEXT_SQLITE, {"n": n}).scalar_one()
        revs = list(range(last - n + 1, last + 1))
    record_commit(conn, revs[0], revs[-1])  # the fingerprint cursors at these revisions carry
    return revs


def current_revision(session: Session) -> int:
    """The highest revision handed out so far (committed or not)."""
    conn = session.connection()
    return conn.execute(_LAST_PG if conn.dialect.name == "postgresql" else _COUNTER).scalar_one()


def safe_revision(session: Session) -> int:
    """The highest revision ``V`` such that every revision up to ``V`` that will ever commit has committed."""
    conn = session.connection()
    return conn.execute(_SAFE_PG if conn.dialect.name == "postgresql" else _COUNTER).scalar_one()


def restart_revisions(session: Session, last: int) -> None:
    """Set the last handed-out revision to ``last`` (what restoring an older backup does)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT setval('sync_rev_seq', :v, :called)"), {"v": max(last, 1), "called": last > 0})
    else:
        conn.execute(text("UPDATE sync_counter SET value = :v WHERE id = 1"), {"v": last})


class RevisionPool:
    """Revisions for one push, taken in blocks as the batch needs them."""

    def __init__(self, session: Session, hint: int) -> None:
        self.session = session
        self.hint = max(hint, 1)
        self.free: list[int] = []
        self.floor: int | None = None  # every revision this batch writes is above it (once it took any)

    def next(self) -> int:
        if not self.free:  # taken on first use: a batch of replays takes none
            self.free = take_revisions(self.session, self.hint)[::-1]
            if self.floor is None:
                self.floor = self.free[-1] - 1
        return self.free.pop()


def _lock_query(table: Table, ids: list):
    from .ids import any_of

    return select(table.c.id).where(any_of(table.c.id, ids)).order_by(table.c.id)


def lock_for_write(session: Session, table: Table, ids) -> bool:
    """Lock these rows (PostgreSQL, ``FOR UPDATE`` in id order); True when another writer held one.

    The caller's earlier reads of what those rows guard may then be stale. SQLite has one
    writer anyway: always False.
    """
    ids = sorted(set(ids), key=str)
    if not ids or not _pg(session):
        return False
    q = _lock_query(table, ids)
    try:
        with session.begin_nested():
            session.execute(q.with_for_update(nowait=True)).all()
        return False
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
    session.execute(q.with_for_update()).all()
    return True


@contextlib.contextmanager
def reading() -> Iterator[None]:
    """Transactions begun inside only read: on SQLite they start deferred, so they do not wait for writers."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def sqlite_begin(conn) -> None:
    """The ``begin`` listener of SQLite engines: ``BEGIN IMMEDIATE``, or a deferred ``BEGIN`` inside :func:`reading`."""
    conn.exec_driver_sql("BEGIN" if _reading.get() else "BEGIN IMMEDIATE")


@event.listens_for(Session, "before_flush")
def _assign_revisions(session: Session, flush_context, instances) -> None:
    rows = [o for o in session.new if isinstance(o, SyncMixin)]
    rows += [o for o in session.dirty if isinstance(o, SyncMixin) and session.is_modified(o)]
    if not rows:
        return
    if _pg(session):
        _lock_owners(session, rows)
    for obj, rev in zip(rows, take_revisions(session, len(rows)), strict=True):
        obj.rev = rev


def _lock_owners(session: Session, rows: list) -> None:
    """Lock the owners (e.g. inspections) of these rows, as a push does, before they take revisions."""
    from .registry import ENTITIES

    by_table = {e.table: e for e in ENTITIES.values()}
    owners: dict[str, set] = {}
    new_ids = {o.id for o in session.new}
    for obj in rows:
        ent = by_table.get(getattr(obj, "__table__", None))
        if ent is None:
            continue
        if ent.owner is None:
            owner, oid = ent.name, obj.id
        else:
            owner, oid = ent.owner, getattr(obj, ent.owner_field, None)
        if oid is not None and oid not in new_ids:  # a new owner cannot be locked (nor needs to be)
            owners.setdefault(owner, set()).add(oid)
    for name in sorted(owners):
        ids = sorted(owners[name], key=str)
        # Inside a flush: no SAVEPOINT (it would flush), just wait for the lock.
        session.connection().execute(_lock_query(ENTITIES[name].table, ids).with_for_update()).all()
