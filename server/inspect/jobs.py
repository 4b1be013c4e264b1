"""Background jobs of the inspect package: the photo analysis task.

:func:`enqueue_analysis` is called by :mod:`server.storage.uploads` after a photo's upload is
complete and committed. With no broker configured (``CELERY_BROKER_URL`` empty) the task runs
at once, in-process (Celery eager mode); with a broker a worker picks it up
(``celery -A server.tasks:celery_app worker``).

The task is safe to run twice: Celery acknowledges it late (a worker that dies mid-analysis
leaves it queued), and :func:`server.inspect.analysis.analyse_photo` writes nothing until
its final transaction and skips photos that are already analysed. Storage or database
trouble is retried with back-off; when the retries run out the photo is recorded
``unusable`` with the reason, so it never waits forever (``flask --app server reanalyse``
analyses it again once the trouble is over).
"""
from __future__ import annotations

import logging
import uuid

from celery import shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from ..extensions import db
from . import analysis

log = logging.getLogger(__name__)

MAX_RETRIES = 5
RETRY_BACKOFF_SECONDS = (5, 30, 120, 600, 1800)
_TRANSIENT = (analysis.AnalysisUnavailable, OperationalError, InterfaceError)


def enqueue_analysis(photo_id: uuid.UUID | str, *, force: bool = False) -> None:
    """Queue the analysis of a stored photo (runs at once in eager mode).

    Call it after the transaction that stored the photo has committed, so the worker sees it.
    """
    photo_id = str(photo_id)
    if analyse_photo_task.app.conf.task_always_eager:
        _end_read_transaction()
    analyse_photo_task.delay(photo_id, force=force)


def _end_read_transaction() -> None:
    """Before an in-process (eager) run: end the caller's read-only transaction, if one is open.

    The task runs in its own app context with its own session and connection. On SQLite every
    transaction takes the write lock at BEGIN (see :mod:`server.db_setup`), so a caller that has
    read anything since its commit (even an expired attribute) would block the task's writes.
    Pending changes are left alone: the caller must have committed before enqueuing.
    """
    session = db.session()  # the caller's Session (not the scoped proxy)
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()


@shared_task(name="inspect.analyse_photo", bind=True, acks_late=True, reject_on_worker_lost=True,
             ignore_result=True, max_retries=MAX_RETRIES)
def analyse_photo_task(self, photo_id: str, force: bool = False) -> str | None:
    """Analyse one photo and store its results; retried with back-off when storage or the database fail."""
    try:
        pid = uuid.UUID(str(photo_id))
    except ValueError:
        log.error("analysis task for a malformed photo id %r dropped", photo_id)
        return None
    try:
        return analysis.analyse_photo(pid, force=force)
    except _TRANSIENT as exc:
        _rollback()
        retries = self.request.retries or 0
        if self.request.is_eager or retries >= MAX_RETRIES:
            log.warning("analysis of photo %s failed (%s); giving up", pid, exc)
            return _give_up(pid, exc)
        countdown = RETRY_BACKOFF_SECONDS[min(retries, len(RETRY_BACKOFF_SECONDS) - 1)]
        log.warning("analysis of photo %s failed (%s); retry %d in %d s", pid, exc, retries + 1, countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc
    except Exception as exc:  # a bug, not the photo's fault: still never leave the photo waiting
        _rollback()
        log.exception("analysis of photo %s failed unexpectedly", pid)
        return _give_up(pid, exc)


def _give_up(photo_id: uuid.UUID, exc: Exception) -> str | None:
    """Record the photo as unusable with the reason, if the database lets us."""
    if isinstance(exc, analysis.AnalysisUnavailable):
        reason = str(exc)
    elif isinstance(exc, (OperationalError, InterfaceError)):
        reason = "the database was unavailable"
    else:
        reason = f"analysis failed unexpectedly ({type(exc).__name__})"
    try:
        return analysis.mark_unusable(photo_id, f"{reason}; analyse it again later")
    except Exception:
        _rollback()
        log.exception("could not record the failed analysis of photo %s; it stays stored", photo_id)
        return None


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # pragma: no cover - the session may be unusable
        pass
