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

Nothing waits on the broker alone: a photo whose task was never queued (the broker was down
when the upload completed) or was lost stays ``stored`` in the database, and the sweep
(:func:`sweep_pending`, every ``ANALYSIS_SWEEP_INTERVAL_SECONDS`` from Celery beat, or
``flask --app server sweep-analyses`` from cron) queues again every photo stored longer than
``ANALYSIS_SWEEP_AFTER_SECONDS`` and not analysed yet. A worker killed mid-task leaves its
message unacknowledged; the broker hands it out again after ``CELERY_VISIBILITY_TIMEOUT_SECONDS``
(Redis). Retries wait at most a little less than that timeout, so a waiting retry is never
handed out twice. Running an analysis twice is harmless: the second one finds it done.
"""
from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from celery import shared_task
from flask import current_app
from sqlalchemy import select
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
    delay = current_app.config.get("ANALYSIS_TEST_DELAY_SECONDS") or 0
    if delay:  # tests only: a task long enough to kill its worker in the middle
        log.info("analysis of photo %s: test delay %.1f s", pid, delay)
        time.sleep(delay)
    try:
        return analysis.analyse_photo(pid, force=force)
    except _TRANSIENT as exc:
        _rollback()
        retries = self.request.retries or 0
        if self.request.is_eager or retries >= MAX_RETRIES:
            log.warning("analysis of photo %s failed (%s); giving up", pid, exc)
            return _give_up(pid, exc)
        countdown = min(RETRY_BACKOFF_SECONDS[min(retries, len(RETRY_BACKOFF_SECONDS) - 1)], _longest_wait())
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


def _longest_wait() -> int:
    """The longest retry countdown: under the broker's visibility timeout, else Redis hands the retry out twice."""
    from ..tasks import longest_countdown

    return longest_countdown()


def pending_photos(older_than_seconds: int, newer_than_seconds: int | None = None) -> list[uuid.UUID]:
    """Photos stored (bytes verified) but not analysed, stored more than ``older_than_seconds`` ago.

    ``newer_than_seconds`` leaves out what has waited longer than that (a photo that keeps
    killing workers must not be queued for ever; ``reanalyse --pending`` takes those).
    """
    from ..models import utcnow
    from .models import Photo

    now = utcnow()
    q = select(Photo.id).where(Photo.upload_state == "stored", Photo.deleted.is_(False),
                               Photo.updated_at < now - timedelta(seconds=older_than_seconds))
    if newer_than_seconds:
        q = q.where(Photo.updated_at >= now - timedelta(seconds=newer_than_seconds))
    try:
        return list(db.session.scalars(q.order_by(Photo.updated_at, Photo.id)))
    finally:
        db.session.rollback()


def sweep_pending(older_than_seconds: int | None = None) -> tuple[int, int]:
    """Queue again the analyses pending longer than ``older_than_seconds`` (``ANALYSIS_SWEEP_AFTER_SECONDS``).

    Returns ``(queued, failed)``: ``failed`` counts photos the broker did not take (still down;
    the next sweep tries again). Photos pending longer than ``ANALYSIS_SWEEP_MAX_AGE_HOURS`` are
    left out and logged: run ``flask --app server reanalyse --pending`` for them.
    """
    from ..storage.restore import adopt_restored

    cfg = current_app.config
    after = int(cfg["ANALYSIS_SWEEP_AFTER_SECONDS"] if older_than_seconds is None else older_than_seconds)
    adopted = adopt_restored()  # photos offered again after a restore whose bytes are in storage
    max_age = int(cfg["ANALYSIS_SWEEP_MAX_AGE_HOURS"]) * 3600
    ids = adopted + [pid for pid in pending_photos(after, max_age) if pid not in set(adopted)]
    stale = len(pending_photos(max_age)) if max_age else 0
    if stale:
        log.error("analysis sweep: %d photo(s) pending for more than %d h are no longer queued automatically; "
                  "run 'flask --app server reanalyse --pending'", stale, max_age // 3600)
    queued = failed = 0
    for pid in ids:
        try:
            analyse_photo_task.delay(str(pid))
            queued += 1
        except Exception as exc:  # the broker is down: the photo stays pending, the next sweep retries
            failed += 1
            log.warning("analysis sweep: could not queue photo %s (%s: %s)", pid, type(exc).__name__, exc)
            break
    failed += len(ids) - queued - failed
    if ids:
        log.info("analysis sweep: %d pending photo(s) queued again, %d not queued (broker down)", queued, failed)
    return queued, failed


@shared_task(name="inspect.sweep_pending", ignore_result=True)
def sweep_pending_task() -> int:
    """Celery beat's entry for :func:`sweep_pending`."""
    return sweep_pending()[0]
