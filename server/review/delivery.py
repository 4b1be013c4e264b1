"""Delivering alert events: signed webhooks and e-mail.

Webhooks
--------
Each event becomes one :class:`~server.review.models.WebhookDelivery` per subscribed endpoint,
written with the event (an outbox). :func:`attempt_delivery` sends it once: a JSON POST with
``Lineside-Signature: t=<unix seconds>,v1=<HMAC-SHA256>`` (:mod:`server.inspect.signing`),
``Lineside-Event`` and ``Lineside-Delivery`` headers, a timeout of
``WEBHOOK_TIMEOUT_SECONDS`` and no redirects. Any 2xx is delivered; anything else is logged
as an attempt row and retried with capped exponential back-off until
``WEBHOOK_MAX_ATTEMPTS``.

SSRF
----
A webhook URL makes the server send requests where a tenant asks, so a URL pointing inside
the network (cloud metadata at 169.254.169.254, the database, Redis, admin consoles) would let
a brand user probe or reach internal services. :func:`check_url` allows only http and https,
resolves the host, and refuses link-local, metadata, multicast, unspecified and reserved
addresses always, and private, loopback and shared addresses unless ``WEBHOOK_ALLOW_PRIVATE``
is set (tests, on-premises receivers). The check runs when the endpoint is saved and again
before every attempt (DNS can change); redirects are not followed. Each attempt resolves the
name once, checks every address, and connects to the checked address itself (the ``Host``
header and TLS SNI and certificate check keep the name), so a DNS answer that changes between
the check and the connection (rebinding) cannot reach another address.

The delivery log keeps coarse outcomes only (delivered, not delivered, refused with the URL
check's reason): an HTTP status or a connection error per attempt would let a tenant map which
ports answer on the addresses a webhook may reach.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import re
import smtplib
import socket
import time
import uuid
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from .. import metrics
from ..inspect.signing import backoff_seconds, sign
from ..models import utcnow

log = logging.getLogger(__name__)

USER_AGENT = "Lineside-Webhooks/1"
#: What the delivery log says of every failed attempt, whatever the status or network error.
NOT_DELIVERED = "not delivered: no 2xx answer in time"
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class UnsafeUrl(ValueError):
    """A webhook URL that the server refuses to call."""


def check_url(url: str, *, allow_private: bool, resolve: bool = True) -> list[str]:
    """Refuse URLs that are not http(s) or that point at addresses the server must not call.

    Answers the addresses the host resolved to (all checked; empty when ``resolve`` is False).
    Raises :class:`UnsafeUrl` with a reason a user can act on.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("Use an http:// or https:// URL.")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The URL has no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl("The URL's port is not valid.") from None
    if not resolve:
        return []
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl("The host name does not resolve.") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        if ip in _METADATA or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
            raise UnsafeUrl("The URL points at a link-local, metadata or reserved address.")
        if not allow_private and not ip.is_global:
            raise UnsafeUrl("The URL points at a private or loopback address.")
    return [info[4][0].split("%", 1)[0] for info in infos]


def post_pinned(url: str, address: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body`` to ``url`` over a connection to ``address`` (already checked), never re-resolving
    the name; ``Host``, TLS SNI and the certificate check use the URL's host. No redirects.
    Answers the HTTP status. Raises ``urllib3.exceptions.HTTPError`` or ``OSError`` on network failures.
    """
    import certifi
    import urllib3

    parts = urlsplit(url)
    host = parts.hostname or ""
    default_port = 443 if parts.scheme == "https" else 80
    port = parts.port or default_port
    host_header = (f"[{host}]" if ":" in host else host) + ("" if port == default_port else f":{port}")
    kw: dict[str, Any] = {"timeout": urllib3.Timeout(connect=timeout, read=timeout), "retries": False, "maxsize": 1}
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(address, port, server_hostname=host, assert_hostname=host,
                                           cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(), **kw)
    else:
        pool = urllib3.HTTPConnectionPool(address, port, **kw)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        resp = pool.urlopen("POST", path, body=body, headers={**headers, "Host": host_header}, redirect=False,
                            assert_same_host=False, preload_content=False)
        try:
            resp.read(64 * 1024, decode_content=False)  # enough to end the exchange; the body is not kept
        finally:
            resp.release_conn()
        return resp.status
    finally:
        pool.close()


def event_body(event_id: uuid.UUID, event_type: str, data: dict[str, Any]) -> str:
    """The exact JSON text that is signed and sent for an event."""
    return json.dumps({"id": str(event_id), "type": event_type, "created_at": utcnow().isoformat(),
                       "data": data}, separators=(",", ":"), sort_keys=True)


@metrics.outcome_of(metrics.DELIVERIES, outcome=lambda r: r[0], channel="webhook")
def attempt_delivery(delivery_id: str, *, jitter: float = 0.0) -> tuple[str, float | None]:
    """Send one delivery once and log the attempt.

    Returns ``(status, retry_in_seconds)``: ``delivered``, ``failed`` (gave up, or the endpoint
    is gone or disabled) or ``retrying`` with the back-off before the next attempt. No database
    transaction stays open during the HTTP request (SQLite would hold its write lock). Commits.
    Never raises for network errors. Delivery is at least once: receivers should ignore a
    ``Lineside-Delivery`` id they have already processed.
    """
    from ..extensions import db
    from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

    did = uuid.UUID(str(delivery_id))
    d = db.session.get(WebhookDelivery, did)
    if d is None or d.status in ("delivered", "failed"):
        status = d.status if d else "failed"
        db.session.rollback()
        return status, None
    ep = db.session.get(WebhookEndpoint, d.endpoint_id)
    usable = ep is not None and ep.active
    url, secret = (ep.url, ep.secret) if usable else ("", "")
    body, event_type = d.body.encode("utf-8"), d.event_type
    db.session.rollback()  # end the read transaction before the network

    cfg = current_app.config
    status_code, error, ok = None, "", False
    started = time.monotonic()
    if not usable:
        error = "refused: endpoint removed or disabled"
    else:
        try:
            addresses = check_url(url, allow_private=cfg["WEBHOOK_ALLOW_PRIVATE"])
            headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                       "Lineside-Signature": sign(secret, int(time.time()), body),
                       "Lineside-Event": event_type, "Lineside-Delivery": str(did)}
            answered = post_pinned(url, addresses[0], body, headers, cfg["WEBHOOK_TIMEOUT_SECONDS"])
            ok = 200 <= answered < 300
            status_code = answered if ok else None
        except UnsafeUrl as exc:
            error = f"refused: {exc}"
        except Exception as exc:  # network failures of every kind: logged here in full, coarse in the table
            log.info("webhook delivery %s: %s: %s", did, type(exc).__name__, exc)
        if not ok and not error:
            error = NOT_DELIVERED
    duration_ms = int((time.monotonic() - started) * 1000)

    d = db.session.get(WebhookDelivery, did)
    if d is None:  # the endpoint was deleted meanwhile, with its log
        db.session.rollback()
        return "failed", None
    d.attempts += 1
    attempt = WebhookAttempt(delivery_id=d.id, attempt=d.attempts, status_code=status_code, error=error,
                             duration_ms=duration_ms)
    retry_in = None
    if ok:
        d.status, d.delivered_at, d.next_retry_at = "delivered", utcnow(), None
    elif d.attempts >= cfg["WEBHOOK_MAX_ATTEMPTS"] or error.startswith("refused"):
        d.status, d.next_retry_at = "failed", None
    else:
        retry_in = backoff_seconds(d.attempts, jitter=jitter)
        d.status = "retrying"
        d.next_retry_at = attempt.next_retry_at = utcnow() + timedelta(seconds=retry_in)
    db.session.add(attempt)
    db.session.commit()
    if not ok:
        log.info("webhook delivery %s attempt %s failed: %s", did, attempt.attempt, error)
    return d.status, retry_in


def header_safe(value: str) -> str:
    """``value`` fit for a mail header: control characters (CR, LF, NUL ...) become single spaces."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", value).strip()


@metrics.outcome_of(metrics.DELIVERIES, outcome=lambda n: "sent" if n else "no_recipients", channel="email")
def send_alert_email(alert_id: str, event_type: str, audience: str = "brand") -> int:
    """E-mail an alert event through SMTP to the brand's reviewers and admins (``audience="brand"``)
    or to the managers and admins of the factory whose batch drifts (``"factory"``).

    Does nothing (returns 0) without ``SMTP_HOST`` or recipients. Returns the number of
    recipients. Raises ``smtplib.SMTPException`` or ``OSError`` when the server fails, so the
    task can retry.
    """
    from ..extensions import db
    from .models import DriftAlert
    from .service import alert_payload, brand_recipients, factory_of_alert, factory_recipients

    cfg = current_app.config
    if not cfg["SMTP_HOST"]:
        return 0
    alert = db.session.get(DriftAlert, uuid.UUID(str(alert_id)))
    if alert is None:
        return 0
    to = factory_recipients(factory_of_alert(alert)) if audience == "factory" else brand_recipients(alert.brand_id)
    if not to:
        return 0
    data = alert_payload(alert)
    resolved = event_type == "drift.alert.resolved"
    what = {"drift.alert.opened": "New", "drift.alert.escalated": "Escalated",
            "drift.alert.resolved": "Resolved"}.get(event_type, "Update")
    # A resolved alert says so: the message of the firing rule ("moving away from the golden
    # sample") is no longer true and must not be the headline.
    headline = (f"Back in control: {alert.standard_name} ({alert.kind}) of batch {data['batch_code']}"
                if resolved else alert.message)
    msg = EmailMessage()
    # Header values come from what users typed (a batch code): CR/LF would end the header (and
    # EmailMessage refuses them, which stopped every alert e-mail of the batch).
    msg["Subject"] = header_safe(f"[Lineside] {what} {alert.level}: {headline}")[:200]
    msg["From"] = cfg["SMTP_FROM"]
    msg["To"] = ", ".join(to)
    msg["Message-ID"] = f"<{uuid.uuid4()}@lineside>"
    base = (cfg.get("PUBLIC_BASE_URL") or "").rstrip("/")
    lines = [headline, "",
             f"Batch: {data['batch_code']}", f"Standard: {alert.standard_name} ({alert.kind})",
             f"Rule: {alert.rule}, level {alert.level}, status {alert.status}"]
    if alert.direction and not resolved:
        lines.append(f"Direction: {alert.direction}")
    if "delta_e" in (alert.details or {}):
        lines.append(f"Latest ΔE00 to the golden sample: {alert.details['delta_e']}")
    if base:
        lines += ["", f"Open the alert: {base}/#/review/alerts/{alert.id}"]
    msg.set_content("\n".join(lines))
    db.session.rollback()  # end the read transaction before the network
    with smtplib.SMTP(cfg["SMTP_HOST"], int(cfg["SMTP_PORT"]), timeout=cfg["SMTP_TIMEOUT_SECONDS"]) as smtp:
        if cfg["SMTP_STARTTLS"]:
            smtp.starttls()
        if cfg["SMTP_USERNAME"]:
            smtp.login(cfg["SMTP_USERNAME"], cfg["SMTP_PASSWORD"])
        smtp.send_message(msg)
    return len(to)
