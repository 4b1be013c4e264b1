"""Which history of revisions a cursor belongs to (see ``docs/operations.md``, "Restore").

Restoring the database from a backup rewinds the revision counter: the revisions handed out
after the backup are lost, and new changes take the same numbers again. A cursor from before
the restore must then never be served "everything after revision r": r means something else
now. Two checks catch it on every pull:

* **History id.** ``sync_counter.history_id`` names the current history. ``flask --app server
  restore`` (the documented restore step) gives it a new one, so every earlier cursor is
  refused.
* **Fingerprint.** Each transaction that takes revisions leaves one ``sync_commits`` row: its
  range and a random token. A cursor at revision r carries the token of the commit that took r.
  If the database was restored without the restore step and new commits reused r, the token
  differs. A cursor ahead of the counter is refused too.

Either way the pull answers 410 ``history_diverged`` and the phone offers again what it holds
(``reoffer`` mutations, see ``docs/sync-protocol.md``) before pulling from the start.
"""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from ..errors import Gone
from ..models import utcnow

_RECORD = text("INSERT INTO sync_commits (last_rev, first_rev, token) VALUES (:last, :first, :token)")
# The latest commit that started at or below ``rev``. Transactions take revisions concurrently
# (server.sync.revisions), so ranges may interleave; but a cursor's ``rev`` is at most the safe
# revision, below which every commit has ended, so this answer never changes afterwards.
_FINGERPRINT = text("SELECT token FROM sync_commits WHERE first_rev <= :rev ORDER BY first_rev DESC LIMIT 1")


def record_commit(connection, first_rev: int, last_rev: int) -> None:
    """Fingerprint the revisions ``first_rev..last_rev`` this transaction took (as it takes them)."""
    if last_rev >= first_rev:
        connection.execute(_RECORD, {"last": last_rev, "first": first_rev, "token": secrets.token_hex(8)})


def fingerprint(session: Session, rev: int) -> str:
    """The token of the commit that took revision ``rev`` ("" for 0 or a revision without one)."""
    if rev <= 0:
        return ""
    row = session.execute(_FINGERPRINT, {"rev": rev}).first()
    return row.token if row is not None else ""


def check(session: Session, *, rev: int, history: str | None, fp: str | None, upper: int, current: str) -> None:
    """Refuse a cursor from another history. Raises ``Gone`` (410, reason ``history_diverged``).

    ``history``/``fp`` are None in cursors made before this check existed: those are checked
    by revision only.
    """
    diverged = rev > upper or (history is not None and history != current)
    if not diverged and fp is not None and fingerprint(session, rev) != fp:
        diverged = True
    if diverged:
        raise Gone("This server's history is not the one your copy came from (it was restored from a backup): "
                   "offer your records again, then pull from the start.",
                   must_resync=True, reason="history_diverged", reoffer=True)


def rotate(session: Session) -> tuple[str, int, datetime]:
    """Start a new history after a restore; answers ``(history_id, started_rev, restored_at)``. Commits."""
    from .models import SyncCounter

    from .revisions import current_revision

    session.execute(select(SyncCounter.value).where(SyncCounter.id == 1).with_for_update())
    value = current_revision(session)
    new_id, now = secrets.token_hex(16), utcnow()
    session.execute(update(SyncCounter).where(SyncCounter.id == 1)
                    .values(history_id=new_id, history_started_rev=value, restored_at=now))
    session.commit()
    return new_id, value, now
