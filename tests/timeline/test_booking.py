"""Inspection booking: request, confirm (an inspection on the inspector's phone), propose, reschedule,
cancel; iCalendar feeds behind a hashed token."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from server.extensions import db
from server.inspect.models import Inspection
from server.timeline.models import CalendarFeed
from server.timeline.service import today_utc
from tests.review.test_decisions import pull_all
from tests.support.tenants import PASSWORD, make_other_tenant


def pull_since(client, headers, cursor=None):
    """The changes after ``cursor`` (all pages) and the new cursor, as the phone pulls them."""
    changes = []
    for _ in range(50):
        r = client.get("/api/v1/sync/pull", headers=headers, query_string={"cursor": cursor} if cursor else {})
        assert r.status_code == 200, r.get_json()
        page = r.get_json()
        changes += page["changes"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes, cursor
    raise AssertionError("pull never finished")

TODAY = today_utc()


@pytest.fixture
def as_manager(demo, login):
    return login("manager@demo.lineside.test", "demo-manager")


def request_one(client, demo, h, days=5, **extra):
    r = client.post(f"/api/v1/purchase-orders/{demo('po:42')}/inspection-bookings", headers=h, json={
        "batch_id": str(demo("batch:A")), "ready_date": (TODAY + timedelta(days=days)).isoformat(),
        "quantity": 2500, "note": "Lot A packed", **extra})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def confirm(client, demo, h, booking, days=6):
    return client.post(f"/api/v1/inspection-bookings/{booking['id']}/confirm", headers=h, json={
        "inspector_id": str(demo("user:inspector")), "template_id": str(demo("template:tray:1")),
        "date": (TODAY + timedelta(days=days)).isoformat()})


def test_confirmed_booking_creates_the_inspection_on_the_inspectors_phone(client, demo, as_manager, as_reviewer,
                                                                         as_inspector):
    booking = request_one(client, demo, as_manager)
    assert booking["status"] == "requested" and booking["po_line_id"] == str(demo("po:42:line:1"))
    assert client.post(f"/api/v1/inspection-bookings/{booking['id']}/confirm", headers=as_manager, json={
        "inspector_id": str(demo("user:inspector")), "template_id": str(demo("template:tray:1")),
        "date": (TODAY + timedelta(days=6)).isoformat()}).status_code == 403
    early = confirm(client, demo, as_reviewer, booking, days=4)
    assert early.status_code == 422 and "date" in early.get_json()["errors"]
    r = confirm(client, demo, as_reviewer, booking)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "confirmed" and body["scheduled_date"] == (TODAY + timedelta(days=6)).isoformat()
    insp = db.session.get(Inspection, uuid.UUID(body["inspection_id"]))
    assert insp.inspector_id == demo("user:inspector") and insp.batch_id == demo("batch:A")
    assert insp.kind == "final" and insp.lot_size == 2500 and insp.status == "assigned"
    assert insp.scheduled_for.date() == TODAY + timedelta(days=6)
    pulled = [c for c in pull_all(client, as_inspector) if c["entity"] == "inspection" and c["id"] == str(insp.id)]
    assert pulled and pulled[-1]["fields"]["scheduled_for"].startswith((TODAY + timedelta(days=6)).isoformat())
    assert confirm(client, demo, as_reviewer, booking).status_code == 409
    assert [h["action"] for h in body["history"]] == ["requested", "confirmed"]


def test_proposal_accepted_then_rescheduled_then_cancelled(client, demo, as_manager, as_reviewer, as_inspector):
    booking = request_one(client, demo, as_manager)
    url = f"/api/v1/inspection-bookings/{booking['id']}"
    later = (TODAY + timedelta(days=9)).isoformat()
    assert client.post(f"{url}/propose", headers=as_manager, json={"date": later}).status_code == 403
    r = client.post(f"{url}/propose", headers=as_reviewer, json={"date": later, "reason": "Inspector busy"})
    assert r.status_code == 200 and r.get_json()["status"] == "proposed"
    r = client.post(f"{url}/accept", headers=as_manager)
    assert r.status_code == 200 and r.get_json()["status"] == "requested" and r.get_json()["ready_date"] == later
    body = confirm(client, demo, as_reviewer, r.get_json(), days=9).get_json()
    first, cursor = pull_since(client, as_inspector)
    assert any(c["entity"] == "inspection" and c["id"] == body["inspection_id"] for c in first)
    r = client.post(f"{url}/reschedule", headers=as_manager, json={"date": (TODAY + timedelta(days=11)).isoformat()})
    assert r.status_code == 422  # a reason is required
    r = client.post(f"{url}/reschedule", headers=as_manager,
                    json={"date": (TODAY + timedelta(days=11)).isoformat(), "reason": "Packing delayed"})
    assert r.status_code == 200 and r.get_json()["scheduled_date"] == (TODAY + timedelta(days=11)).isoformat()
    insp = db.session.get(Inspection, uuid.UUID(body["inspection_id"]))
    db.session.refresh(insp)
    assert insp.scheduled_for.date() == TODAY + timedelta(days=11)
    moved, cursor = pull_since(client, as_inspector, cursor)
    moved = [c for c in moved if c["entity"] == "inspection" and c["id"] == str(insp.id)]
    assert moved and moved[-1]["fields"]["scheduled_for"].startswith((TODAY + timedelta(days=11)).isoformat())
    r = client.post(f"{url}/cancel", headers=as_reviewer, json={"reason": "Order reduced"})
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    db.session.refresh(insp)
    assert insp.deleted is True
    later_changes, _ = pull_since(client, as_inspector, cursor)
    pulled = [c for c in later_changes if c["entity"] == "inspection" and c["id"] == str(insp.id)]
    assert pulled and pulled[-1]["deleted"] is True  # the phone drops the withdrawn inspection
    actions = [h["action"] for h in r.get_json()["history"]]
    assert actions == ["requested", "proposed", "accepted", "confirmed", "rescheduled", "cancelled"]
    assert r.get_json()["history"][4]["reason"] == "Packing delayed"
    assert client.post(f"{url}/cancel", headers=as_reviewer, json={"reason": "again"}).status_code == 409


def test_booking_input_and_tenancy(client, demo, as_manager, as_inspector, login):
    url = f"/api/v1/purchase-orders/{demo('po:42')}/inspection-bookings"
    r = client.post(url, headers=as_manager, json={"ready_date": TODAY.isoformat(), "quantity": 10})
    assert r.status_code == 422 and "po_line_id" in r.get_json()["errors"]
    r = client.post(url, headers=as_manager, json={"po_line_id": str(demo("po:42:line:1")), "quantity": 10,
                                                   "ready_date": (TODAY - timedelta(days=2)).isoformat()})
    assert r.status_code == 422 and "ready_date" in r.get_json()["errors"]
    assert client.post(url, headers=as_manager, json={"po_line_id": str(demo("po:42:line:1")), "quantity": 0,
                                                      "ready_date": TODAY.isoformat()}).status_code == 422
    booking = request_one(client, demo, as_manager)
    assert client.post(url, headers=as_inspector, json={"po_line_id": str(demo("po:42:line:1")), "quantity": 5,
                                                        "ready_date": TODAY.isoformat()}).status_code == 403
    assert client.get(f"/api/v1/inspection-bookings/{booking['id']}", headers=as_inspector).status_code == 404
    other = make_other_tenant()
    h = login("reviewer@other.test", PASSWORD)
    assert client.get(url, headers=h).status_code == 404
    assert client.get(f"/api/v1/inspection-bookings/{booking['id']}", headers=h).status_code == 404
    assert confirm(client, demo, h, booking).status_code == 404
    r = client.post(url, headers=as_manager, json={"batch_id": str(other["batch"]), "quantity": 5,
                                                   "ready_date": TODAY.isoformat()})
    assert r.status_code == 422 and "batch_id" in r.get_json()["errors"]


def test_calendar_feeds_per_inspector_and_factory_with_a_hashed_token(client, demo, as_manager, as_reviewer,
                                                                      as_inspector):
    booking = request_one(client, demo, as_manager)
    confirm(client, demo, as_reviewer, booking)
    r = client.post("/api/v1/calendar-feeds", headers=as_inspector, json={"kind": "inspector"})
    assert r.status_code == 201, r.get_json()
    token = r.get_json()["token"]
    feed = db.session.get(CalendarFeed, uuid.UUID(r.get_json()["id"]))
    assert feed.token_sha256 != token and len(feed.token_sha256) == 64 and token not in feed.token_sha256
    ics = client.get(r.get_json()["url"])
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    text = ics.get_data(as_text=True)
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.count("BEGIN:VEVENT") == 1
    assert f"DTSTART;VALUE=DATE:{(TODAY + timedelta(days=6)).strftime('%Y%m%d')}" in text
    assert "PO-2026-0042" in text and f"UID:{booking['id']}@lineside" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert client.get("/api/v1/calendar/not-a-token.ics").status_code == 404
    r = client.post("/api/v1/calendar-feeds", headers=as_inspector,
                    json={"kind": "factory", "subject_id": str(demo("org:factory"))})
    assert r.status_code == 403
    r = client.post("/api/v1/calendar-feeds", headers=as_manager,
                    json={"kind": "factory", "subject_id": str(demo("org:factory"))})
    assert r.status_code == 201
    factory_ics = client.get(r.get_json()["url"]).get_data(as_text=True)
    assert factory_ics.count("BEGIN:VEVENT") == 1
    assert client.delete(f"/api/v1/calendar-feeds/{r.get_json()['id']}", headers=as_manager).status_code == 200
    assert client.get(r.get_json()["url"]).status_code == 404


def test_demo_has_a_requested_final_inspection_and_a_shipment_blocked_at_the_gate(client, demo, as_manager):
    rows = client.get(f"/api/v1/purchase-orders/{demo('po:42')}/inspection-bookings", headers=as_manager).get_json()
    assert [(b["kind"], b["status"], b["batch_id"]) for b in rows] == [("final", "requested", str(demo("batch:B")))]
    gate = client.get(f"/api/v1/shipments/{demo('timeline:shipment:1')}/gate", headers=as_manager).get_json()
    assert gate["ready"] is False and len(gate["missing"]) >= 5
