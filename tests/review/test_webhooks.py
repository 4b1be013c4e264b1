"""Webhooks: signed deliveries, a delivery log, back-off retries, SSRF refusals, tenant scope."""
from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import select

from server.extensions import db
from server.inspect.signing import verify
from server.review.delivery import NOT_DELIVERED
from server.review.models import WebhookAttempt, WebhookDelivery
from tests.review.conftest import darkening_series, make_webhook, run_drift


def test_alert_reaches_the_webhook_signed_over_timestamp_and_body(client, as_reviewer, demo, receiver):
    hook = make_webhook(client, as_reviewer, receiver.url)
    run_drift(demo, darkening_series())
    opened = [r for r in receiver.requests if r["headers"]["Lineside-Event"] == "drift.alert.opened"]
    assert opened, [r["headers"].get("Lineside-Event") for r in receiver.requests]
    req = opened[0]
    assert verify(hook["secret"], req["headers"]["Lineside-Signature"], req["body"], now=int(time.time()))
    assert not verify("wrong-secret-wrong-secret", req["headers"]["Lineside-Signature"], req["body"],
                      now=int(time.time()))
    alert = json.loads(req["body"])["data"]["alert"]
    assert alert["batch_code"] == "LOT-A" and alert["kind"] == "colour"


def test_endpoint_gets_only_the_event_types_it_chose(client, as_reviewer, demo, receiver):
    make_webhook(client, as_reviewer, receiver.url, events=("drift.alert.resolved",))
    run_drift(demo, darkening_series())
    assert receiver.requests == []


def test_failing_endpoint_is_logged_and_scheduled_for_retry_without_failing_anything(
        client, as_reviewer, demo, receiver):
    receiver.status = 500
    hook = make_webhook(client, as_reviewer, receiver.url)
    photos = run_drift(demo, darkening_series())  # the analysis hook did not raise
    assert photos
    log = client.get(f"/api/v1/review/webhooks/{hook['id']}/deliveries", headers=as_reviewer).get_json()
    assert log and log[-1]["status"] == "retrying"
    first = log[-1]["log"][0]
    # coarse on purpose: a status per attempt would map which ports answer (see delivery.py)
    assert first["status_code"] is None and first["error"] == NOT_DELIVERED and first["next_retry_at"]


def test_due_retries_deliver_once_the_endpoint_recovers(client, as_reviewer, demo, receiver):
    from server.review.jobs import retry_due_webhooks

    receiver.status = 503
    make_webhook(client, as_reviewer, receiver.url)
    run_drift(demo, darkening_series())
    failed = len(receiver.requests)
    assert failed >= 1
    for d in db.session.scalars(select(WebhookDelivery)).all():  # time passes
        d.next_retry_at = d.next_retry_at.replace(year=2000)
    db.session.commit()
    receiver.status = 200
    assert retry_due_webhooks.delay().successful()
    statuses = {d.status for d in db.session.scalars(select(WebhookDelivery)).all()}
    assert statuses == {"delivered"}
    attempts = db.session.scalars(select(WebhookAttempt.attempt)).all()
    assert sorted(set(attempts)) == [1, 2]


def test_with_a_broker_a_failed_delivery_retries_with_exponential_backoff(client, as_reviewer, demo, receiver,
                                                                          monkeypatch, app):
    from server.review import jobs

    receiver.status = 500
    hook = make_webhook(client, as_reviewer, receiver.url)
    r = client.post(f"/api/v1/review/webhooks/{hook['id']}/test", headers=as_reviewer)
    assert r.status_code == 202
    delivery_id = r.get_json()["id"]
    countdowns = []

    class Retry(Exception):
        pass

    def fake_retry(countdown=None, **kw):
        countdowns.append(countdown)
        return Retry()

    monkeypatch.setattr(jobs, "_eager", lambda task: False)
    monkeypatch.setattr(jobs.deliver_webhook, "retry", fake_retry)
    monkeypatch.setattr(jobs.random, "random", lambda: 0.0)
    for _ in range(2):
        with pytest.raises(Retry):
            jobs.deliver_webhook.run(delivery_id)
    assert countdowns == [60.0, 120.0]  # attempts 2 and 3 (attempt 1 was the eager send)


def test_delivery_gives_up_after_the_maximum_attempts(client, as_reviewer, demo, receiver, app):
    from server.review.delivery import attempt_delivery

    receiver.status = 500
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 2
    hook = make_webhook(client, as_reviewer, receiver.url)
    delivery_id = client.post(f"/api/v1/review/webhooks/{hook['id']}/test", headers=as_reviewer).get_json()["id"]
    assert attempt_delivery(delivery_id) == ("failed", None)


def test_unreachable_endpoint_times_out_into_the_log(client, as_reviewer, demo):
    from tests.review.conftest import free_port

    hook = make_webhook(client, as_reviewer, f"http://127.0.0.1:{free_port()}/nobody")
    r = client.post(f"/api/v1/review/webhooks/{hook['id']}/test", headers=as_reviewer)
    assert r.status_code == 202
    assert r.get_json()["status"] == "retrying"
    assert r.get_json()["log"][0]["error"] == NOT_DELIVERED  # the same words as a 500 or a 302: no port oracle
    assert r.get_json()["log"][0]["status_code"] is None


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "ftp://example.com/x",
                                 "http://[fe80::1]/x", "http://0.0.0.0/x"])
def test_webhook_urls_to_link_local_metadata_or_odd_schemes_are_refused(client, as_reviewer, demo, url):
    r = client.post("/api/v1/review/webhooks", headers=as_reviewer, json={
        "brand_id": str(demo("org:brand")), "url": url, "event_types": ["drift.alert.opened"]})
    errors = r.get_json()["errors"]
    assert r.status_code == 422 and "url" in errors.get("json", errors)


def test_private_addresses_are_refused_unless_allowed(client, as_reviewer, demo, app):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    for url in ("http://127.0.0.1:8080/x", "http://10.1.2.3/x", "http://localhost/x"):
        r = client.post("/api/v1/review/webhooks", headers=as_reviewer, json={
            "brand_id": str(demo("org:brand")), "url": url, "event_types": ["drift.alert.opened"]})
        assert r.status_code == 422, url


def test_secret_is_shown_once_and_never_listed(client, as_reviewer, demo, receiver):
    hook = make_webhook(client, as_reviewer, receiver.url)
    assert hook["secret"].startswith("whsec_")
    listed = client.get("/api/v1/review/webhooks", headers=as_reviewer).get_json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]


def test_another_brand_cannot_see_or_change_a_webhook(client, as_reviewer, demo, login, receiver):
    from tests.support.tenants import PASSWORD, make_other_tenant

    hook = make_webhook(client, as_reviewer, receiver.url)
    make_other_tenant()
    other = login("reviewer@other.test", PASSWORD)
    assert client.get(f"/api/v1/review/webhooks/{hook['id']}", headers=other).status_code == 404
    assert client.patch(f"/api/v1/review/webhooks/{hook['id']}", headers=other,
                        json={"active": False}).status_code == 404
    assert client.delete(f"/api/v1/review/webhooks/{hook['id']}", headers=other).status_code == 404
    r = client.post("/api/v1/review/webhooks", headers=other, json={
        "brand_id": str(demo("org:brand")), "url": receiver.url, "event_types": ["drift.alert.opened"]})
    assert r.status_code == 404
    assert client.get("/api/v1/review/webhooks", headers=other).get_json() == []


def test_inspector_may_not_manage_webhooks(client, as_inspector, demo, receiver):
    r = client.post("/api/v1/review/webhooks", headers=as_inspector, json={
        "brand_id": str(demo("org:brand")), "url": receiver.url, "event_types": ["drift.alert.opened"]})
    assert r.status_code == 403


def test_disabling_then_deleting_a_webhook_stops_deliveries_and_removes_its_log(client, as_reviewer, demo,
                                                                               receiver):
    hook = make_webhook(client, as_reviewer, receiver.url)
    assert client.post(f"/api/v1/review/webhooks/{hook['id']}/test", headers=as_reviewer).status_code == 202
    r = client.patch(f"/api/v1/review/webhooks/{hook['id']}", headers=as_reviewer, json={"active": False})
    assert r.status_code == 200 and r.get_json()["active"] is False
    run_drift(demo, darkening_series())
    assert len(receiver.requests) == 1  # only the test event
    assert client.delete(f"/api/v1/review/webhooks/{hook['id']}", headers=as_reviewer).status_code == 204
    assert db.session.scalars(select(WebhookDelivery)).all() == []
    assert client.get(f"/api/v1/review/webhooks/{hook['id']}", headers=as_reviewer).status_code == 404


def test_webhooks_retry_command_sends_due_deliveries(client, as_reviewer, demo, receiver, runner):
    receiver.status = 500
    hook = make_webhook(client, as_reviewer, receiver.url)
    client.post(f"/api/v1/review/webhooks/{hook['id']}/test", headers=as_reviewer)
    db.session.commit()  # end the test's read transaction (SQLite: the write lock) before the command
    assert "0 delivery attempt(s)" in runner.invoke(args=["webhooks-retry"]).output  # not due yet
    for d in db.session.scalars(select(WebhookDelivery)).all():
        d.next_retry_at = d.next_retry_at.replace(year=2000)
    db.session.commit()
    receiver.status = 204
    assert "1 delivery attempt(s)" in runner.invoke(args=["webhooks-retry"]).output
    assert db.session.scalars(select(WebhookDelivery.status)).all() == ["delivered"]


def test_a_redirect_is_not_followed_and_logged_like_any_failure(client, as_reviewer, demo, receiver):
    receiver.status = 302
    hook = make_webhook(client, as_reviewer, receiver.url)
    r = client.post(f"/api/v1/review/webhooks/{hook['id']}/test", headers=as_reviewer)
    assert r.status_code == 202
    first = r.get_json()["log"][0]
    assert (first["status_code"], first["error"]) == (None, NOT_DELIVERED)


def test_delivery_connects_to_the_address_it_checked_even_if_dns_changes(client, as_reviewer, demo, receiver,
                                                                         app, monkeypatch):
    """DNS rebinding: the name resolves to one address for the checks and to 127.0.0.1 afterwards.
    The attempt must connect to the address it checked, so the loopback receiver never hears from it."""
    import socket

    from server.review import delivery

    port = receiver.server.server_address[1]
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 1
    real, calls = socket.getaddrinfo, []

    def rebinding(host, *a, **kw):
        if host != "rebind.example.test":
            return real(host, *a, **kw)
        calls.append(host)
        if len(calls) <= 2:  # saving the endpoint, then the attempt's own check: a documentation address
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.10", port))]
        return real("127.0.0.1", *a, **kw)  # whoever asks again is sent to loopback

    monkeypatch.setattr(delivery.socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    hook = make_webhook(client, as_reviewer, f"http://rebind.example.test:{port}/hooks/lineside")
    r = client.post(f"/api/v1/review/webhooks/{hook['id']}/test", headers=as_reviewer)
    assert r.status_code == 202, r.get_json()
    assert len(calls) == 2  # resolved once per check, never again for the connection
    assert receiver.requests == []  # nothing reached 127.0.0.1
    assert r.get_json()["log"][0]["error"] == NOT_DELIVERED


def test_webhook_secret_is_encrypted_at_rest_and_still_signs(client, as_reviewer, demo, receiver):
    from sqlalchemy import text

    hook = make_webhook(client, as_reviewer, receiver.url)
    stored = db.session.execute(text("SELECT secret FROM webhook_endpoints")).scalar_one()
    assert stored.startswith("enc:v1:") and hook["secret"] not in stored
    r = client.post(f"/api/v1/review/webhooks/{hook['id']}/test", headers=as_reviewer)
    assert r.status_code == 202 and r.get_json()["status"] == "delivered"
    got = receiver.requests[-1]
    assert verify(hook["secret"], got["headers"]["Lineside-Signature"], got["body"], time.time())


def test_migration_encrypts_existing_plain_secrets(app, demo, monkeypatch):
    import importlib.util
    import pathlib

    import sqlalchemy as sa
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    from server.secretbox import open_sealed

    import uuid
    from datetime import datetime, timezone

    plain = sa.table("webhook_endpoints", sa.column("id", sa.Uuid()), sa.column("brand_id", sa.Uuid()),
                     sa.column("url", sa.String()), sa.column("secret", sa.String()),
                     sa.column("event_types", sa.JSON()), sa.column("description", sa.String()),
                     sa.column("active", sa.Boolean()), sa.column("created_at", sa.DateTime(timezone=True)),
                     sa.column("updated_at", sa.DateTime(timezone=True)))
    now = datetime.now(timezone.utc)
    db.session.execute(plain.insert().values(id=uuid.uuid4(), brand_id=demo("org:brand"), url="https://x.test/h",
                                             secret="whsec_plain_old_secret", event_types=[], description="",
                                             active=True, created_at=now, updated_at=now))
    db.session.commit()
    path = next(pathlib.Path("migrations/versions").glob("0016_harden_*.py"))
    spec = importlib.util.spec_from_file_location("m0016", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with db.engine.begin() as conn:
        monkeypatch.setattr(module, "op", Operations(MigrationContext.configure(conn)))
        module.upgrade()
    stored = db.session.execute(sa.text("SELECT secret FROM webhook_endpoints")).scalar_one()
    assert stored.startswith("enc:v1:")
    assert open_sealed(stored, app.config["SECRET_KEY"]) == "whsec_plain_old_secret"


def test_with_a_broker_a_retry_longer_than_the_visibility_timeout_is_left_to_the_periodic_job(
        client, as_reviewer, demo, receiver, monkeypatch, app):
    """A task waiting for its countdown is unacknowledged: Redis would hand it out again after the
    visibility timeout, and the webhook would be sent once per copy. Long waits go to webhooks-retry."""
    from server.review import jobs

    app.config["CELERY_VISIBILITY_TIMEOUT_SECONDS"] = 120  # retries may wait at most 60 s on the broker
    receiver.status = 500
    hook = make_webhook(client, as_reviewer, receiver.url)
    delivery_id = client.post(f"/api/v1/review/webhooks/{hook['id']}/test", headers=as_reviewer).get_json()["id"]
    countdowns = []

    class Retry(Exception):
        pass

    def fake_retry(countdown=None, **kw):
        countdowns.append(countdown)
        return Retry()

    monkeypatch.setattr(jobs, "_eager", lambda task: False)
    monkeypatch.setattr(jobs.deliver_webhook, "retry", fake_retry)
    monkeypatch.setattr(jobs.random, "random", lambda: 0.0)
    with pytest.raises(Retry):
        jobs.deliver_webhook.run(delivery_id)  # attempt 2: a 60 s wait fits
    assert jobs.deliver_webhook.run(delivery_id) == "retrying"  # attempt 3: 120 s does not; no broker retry
    assert countdowns == [60.0]
    delivery = db.session.get(WebhookDelivery, uuid.UUID(delivery_id))
    assert delivery.status == "retrying" and delivery.next_retry_at is not None
    assert "review.retry_due_webhooks" in {e["task"] for e in app.extensions["celery"].conf.beat_schedule.values()}
