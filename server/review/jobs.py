"""Celery tasks of the review domain: webhook and e-mail deliveries.

Each delivery is its own task, queued after the commit that recorded the event, so one slow
or failing endpoint holds up nothing else. With a broker a failed webhook retries itself with
``countdown = backoff_seconds(attempt)``. In eager mode (no broker, ``make run``) a retry would
run at once, inside the request that caused the event, so it is not retried inline: the
attempt is logged with its ``next_retry_at`` and :func:`retry_due_webhooks` (the
``flask --app server webhooks-retry`` command, e.g. from cron) sends the due ones.
"""
from __future__ import annotations

import logging
import random
import smtplib

from celery import shared_task
from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..inspect.signing import backoff_seconds
from ..models import utcnow

log = logging.getLogger(__name__)

EMAIL_MAX_RETRIES = 5


def _eager(task) -> bool:
    return bool(task.request.is_eager or current_app.config.get("CELERY_EAGER"))


@shared_task(bind=True, name="review.deliver_webhook", ignore_result=True)
def deliver_webhook(self, delivery_id: str) -> str:
    """Send one webhook delivery; with a broker, retry it with back-off until it succeeds or gives up."""
    from .delivery import attempt_delivery

    from ..tasks import longest_countdown

    status, retry_in = attempt_delivery(delivery_id, jitter=random.random())
    if status == "retrying" and not _eager(self):
        if retry_in is not None and retry_in > longest_countdown():
            # Longer than the broker keeps a waiting task unseen (it would be sent twice): the delivery
            # row holds next_retry_at, and beat's retry_due_webhooks sends it when due.
            return status
        raise self.retry(countdown=retry_in, max_retries=None)
    return status


@shared_task(bind=True, name="review.send_alert_email", ignore_result=True)
def send_alert_email(self, alert_id: str, event_type: str, audience: str = "brand") -> int:
    """E-mail an alert event to the brand's reviewers (or the factory's managers); retried with back-off."""
    from .delivery import send_alert_email as send

    try:
        return send(alert_id, event_type, audience)
    except (smtplib.SMTPException, OSError) as exc:
        db.session.rollback()
        log.warning("alert e-mail %s for %s failed: %s", event_type, alert_id, exc)
        if _eager(self) or self.request.retries >= EMAIL_MAX_RETRIES:
            return 0
        from ..tasks import longest_countdown

        countdown = min(backoff_seconds(self.request.retries + 1, jitter=random.random()), longest_countdown())
        raise self.retry(countdown=countdown, max_retries=EMAIL_MAX_RETRIES) from None


@shared_task(name="review.retry_due_webhooks", ignore_result=True)
def retry_due_webhooks() -> int:
    """Attempt every webhook delivery whose next retry is due. Returns how many were attempted."""
    from .delivery import attempt_delivery
    from .models import WebhookDelivery

    due = db.session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.status == "retrying", WebhookDelivery.next_retry_at <= utcnow())
        .order_by(WebhookDelivery.next_retry_at)).all()
    for delivery_id in due:
        try:
            attempt_delivery(str(delivery_id), jitter=random.random())
        except Exception:  # one broken row must not stop the others
            db.session.rollback()
            log.exception("webhook retry %s failed", delivery_id)
    return len(due)


def dispatch(pending: list[tuple]) -> None:
    """Queue the deliveries noted during a committed transaction. Never raises."""
    for item in pending:
        try:
            if item[0] == "webhook":
                deliver_webhook.delay(item[1])
            elif item[0] == "email":
                send_alert_email.delay(*item[1:])
        except Exception:  # a broker hiccup must not fail the request that caused the event
            log.exception("could not queue %s", item)
