"""CAPA on issues: steps with owners from the responsible organisation, evidence, overdue alerts, closing."""
from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.sync.models import AuditEvent
from server.timeline.models import CAPA_STEPS
from server.timeline.service import today_utc
from tests.support.tenants import PASSWORD, make_other_tenant

TODAY = today_utc()
PDF = b"%PDF-1.7 drop test report"


@pytest.fixture
def as_manager(demo, login):
    return login("manager@demo.lineside.test", "demo-manager")


@pytest.fixture
def issue_id(client, demo, as_reviewer):
    """A new issue of the demo PO with no CAPA yet, owned by the factory."""
    r = client.post(f"/api/v1/purchase-orders/{demo('po:42')}/issues", headers=as_reviewer, json={
        "type": "packaging_defect", "severity": "high", "title": "Labels peel off in humidity",
        "owner_user_id": str(demo("user:manager"))})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def capa_url(issue_id, rest=""):
    return f"/api/v1/issues/{issue_id}/capa{rest}"


def put_step(client, issue_id, h, step, **body):
    return client.put(capa_url(issue_id, f"/{step}"), headers=h, json=body)


def test_steps_come_in_order_with_owners_from_the_responsible_organisation(client, demo, issue_id, as_manager, as_reviewer):
    body = client.get(capa_url(issue_id), headers=as_reviewer).get_json()
    assert [s["step"] for s in body["steps"]] == list(CAPA_STEPS)
    assert {s["status"] for s in body["steps"]} == {"not_started"} and body["closable"] is True
    assert body["responsible_org_id"] == str(demo("org:factory"))
    manager, reviewer = str(demo("user:manager")), str(demo("user:reviewer"))
    r = put_step(client, issue_id, as_manager, "containment", description="Quarantine cartons in stock",
                 owner_user_id=manager, due_date=(TODAY + timedelta(days=2)).isoformat(), status="in_progress")
    assert r.status_code == 200, r.get_json()
    containment = r.get_json()["steps"][0]
    assert containment["owner_user_id"] == manager and containment["status"] == "in_progress"
    r = put_step(client, issue_id, as_reviewer, "corrective_action", owner_user_id=reviewer)
    assert r.status_code == 422 and "owner_user_id" in r.get_json()["errors"]
    r = put_step(client, issue_id, as_manager, "containment", five_whys=["why"])
    assert r.status_code == 422 and "five_whys" in r.get_json()["errors"]
    whys = ["Cartons crush", "Board too weak", "3-ply ordered", "Spec not updated", "No change control"]
    r = put_step(client, issue_id, as_manager, "root_cause", five_whys=whys, description="Board spec")
    assert r.status_code == 200 and r.get_json()["steps"][1]["five_whys"] == whys
    assert put_step(client, issue_id, as_manager, "root_cause", five_whys=whys + ["sixth"]).status_code == 422
    assert put_step(client, issue_id, as_manager, "root_cause", status="finished").status_code == 422
    assert put_step(client, issue_id, as_manager, "no_such_step", description="x").status_code == 404


def test_issue_owner_must_belong_to_the_responsible_organisation(client, demo, issue_id, as_reviewer):
    url = f"/api/v1/purchase-orders/{demo('po:42')}/issues"
    reviewer = str(demo("user:reviewer"))
    r = client.post(url, headers=as_reviewer, json={"type": "other", "title": "x", "owner_user_id": reviewer})
    assert r.status_code == 422 and "owner_user_id" in r.get_json()["errors"]  # the factory is responsible
    r = client.post(url, headers=as_reviewer, json={"type": "other", "title": "x", "owner_user_id": reviewer,
                                                    "owner_org_id": str(demo("org:brand"))})
    assert r.status_code == 201
    issue = f"/api/v1/issues/{issue_id}"
    r = client.patch(issue, headers=as_reviewer, json={"owner_user_id": reviewer})
    assert r.status_code == 422 and "owner_user_id" in r.get_json()["errors"]
    r = client.patch(issue, headers=as_reviewer, json={"owner_org_id": str(demo("org:brand"))})
    assert r.status_code == 422  # the current owner (the factory's manager) is not a brand member


def test_evidence_and_comment_attachments_can_be_downloaded(client, demo, issue_id, as_manager, as_reviewer, login):
    assert client.post(capa_url(issue_id, "/containment/evidence"), headers=as_manager,
                       content_type="multipart/form-data",
                       data={"files": [(io.BytesIO(PDF), "report.pdf", "application/pdf")]}).status_code == 404
    put_step(client, issue_id, as_manager, "containment", description="Quarantine")
    r = client.post(capa_url(issue_id, "/containment/evidence"), headers=as_manager, content_type="multipart/form-data",
                    data={"files": [(io.BytesIO(PDF), "report.pdf", "application/pdf")]})
    assert r.status_code == 201, r.get_json()
    [evidence] = r.get_json()["steps"][0]["evidence"]
    assert evidence["filename"] == "report.pdf" and evidence["storage_key"].startswith("attachments/")
    assert client.post(capa_url(issue_id, "/containment/evidence"), headers=as_manager,
                       content_type="multipart/form-data", data={}).status_code == 422
    got = client.get(capa_url(issue_id, "/containment/evidence/0"), headers=as_reviewer)
    assert got.status_code == 302 and got.headers["Location"]
    assert client.get(capa_url(issue_id, "/containment/evidence/1"), headers=as_reviewer).status_code == 404

    issue = f"/api/v1/issues/{issue_id}"
    r = client.post(f"{issue}/comments", headers=as_manager, content_type="multipart/form-data",
                    data={"body": "photos", "files": [(io.BytesIO(PDF), "a.pdf", "application/pdf")]})
    assert r.status_code == 201
    comment = r.get_json()["id"]
    got = client.get(f"{issue}/comments/{comment}/attachments/0", headers=as_reviewer)
    assert got.status_code == 302 and got.headers["Location"]
    assert client.get(f"{issue}/comments/{comment}/attachments/1", headers=as_reviewer).status_code == 404

    make_other_tenant()
    other = login("reviewer@other.test", PASSWORD)
    assert client.get(capa_url(issue_id), headers=other).status_code == 404
    assert client.get(capa_url(issue_id, "/containment/evidence/0"), headers=other).status_code == 404
    assert client.get(f"{issue}/comments/{comment}/attachments/0", headers=other).status_code == 404
    assert put_step(client, issue_id, other, "containment", description="x").status_code == 404


def test_an_overdue_step_raises_an_alert_until_it_is_done(client, demo, issue_id, as_manager):
    alerts = f"/api/v1/purchase-orders/{demo('po:42')}/alerts"
    put_step(client, issue_id, as_manager, "corrective_action", owner_user_id=str(demo("user:manager")),
             due_date=(TODAY - timedelta(days=1)).isoformat())
    capa_alerts = [a for a in client.get(alerts, headers=as_manager).get_json() if a["kind"] == "capa_overdue"]
    assert [a["subject"] for a in capa_alerts] == [f"capa:{issue_id}:corrective_action"]
    assert capa_alerts[0]["details"]["owner_user_id"] == str(demo("user:manager"))
    assert client.get(capa_url(issue_id), headers=as_manager).get_json()["steps"][2]["overdue"] is True
    put_step(client, issue_id, as_manager, "corrective_action", status="done")
    assert not [a for a in client.get(alerts, headers=as_manager).get_json() if a["kind"] == "capa_overdue"]


def test_closing_needs_a_verified_effective_check_or_a_brand_waiver(client, demo, issue_id, as_manager, as_reviewer):
    issue = f"/api/v1/issues/{issue_id}"
    put_step(client, issue_id, as_manager, "effectiveness_check", description="Drop test on 3 production lots")
    assert client.patch(issue, headers=as_manager, json={"status": "resolved"}).status_code == 200
    r = client.patch(issue, headers=as_reviewer, json={"status": "verified"})
    assert r.status_code == 409 and "effectiveness" in r.get_json()["close_blocked_by"]
    verify = capa_url(issue_id, "/effectiveness_check/verification")
    assert client.post(verify, headers=as_reviewer, json={"effective": True}).status_code == 409  # not done yet
    put_step(client, issue_id, as_manager, "effectiveness_check", status="done")
    assert client.post(verify, headers=as_manager, json={"effective": True}).status_code == 403
    r = client.post(verify, headers=as_reviewer, json={"effective": False, "note": "Lot 2 crushed again"})
    assert r.status_code == 200 and r.get_json()["closable"] is False
    r = client.patch(issue, headers=as_reviewer, json={"status": "verified"})
    assert r.status_code == 409 and "not effective" in r.get_json()["close_blocked_by"]
    r = client.post(verify, headers=as_reviewer, json={"effective": True})
    assert r.get_json()["closable"] is True
    r = client.patch(issue, headers=as_reviewer, json={"status": "verified"})
    assert r.status_code == 200 and r.get_json()["status"] == "verified"
    assert put_step(client, issue_id, as_manager, "containment", description="late").status_code == 409


def test_the_brand_may_close_without_a_proven_check_with_an_audited_reason(client, demo, issue_id, as_manager, as_reviewer):
    issue = f"/api/v1/issues/{issue_id}"
    put_step(client, issue_id, as_manager, "containment", description="Quarantine", status="done")
    client.patch(issue, headers=as_manager, json={"status": "resolved"})
    r = client.patch(issue, headers=as_reviewer, json={"status": "verified",
                                                      "capa_waiver_reason": "Supplier replaced; no re-run possible"})
    assert r.status_code == 200 and r.get_json()["capa_waiver_reason"] == "Supplier replaced; no re-run possible"
    from server.extensions import db

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.record_id == uuid.UUID(issue_id),
                                                       AuditEvent.action == "capa_waiver"))
    assert event is not None and event.user_id == demo("user:reviewer")


def test_an_issue_without_capa_closes_as_before(client, demo, issue_id, as_manager, as_reviewer):
    issue = f"/api/v1/issues/{issue_id}"
    assert client.patch(issue, headers=as_manager, json={"status": "resolved"}).status_code == 200
    assert client.patch(issue, headers=as_reviewer, json={"status": "verified"}).status_code == 200


def test_demo_issue_has_a_capa_in_progress(client, demo, as_reviewer):
    body = client.get(f"/api/v1/issues/{demo('timeline:issue:cartons')}/capa", headers=as_reviewer).get_json()
    status = {s["step"]: s["status"] for s in body["steps"]}
    assert status["containment"] == "done" and status["root_cause"] == "in_progress"
    assert status["corrective_action"] == "open" and status["effectiveness_check"] == "not_started"
    assert len(body["steps"][1]["five_whys"]) == 4 and body["closable"] is False
