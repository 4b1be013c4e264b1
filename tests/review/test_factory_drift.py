"""The factory whose batch drifts sees the chart and the alarm, answers it and is e-mailed; the PO shows it."""
from __future__ import annotations

from email import message_from_bytes

import pytest

from server.demo import DEMO_LAB
from server.extensions import db
from server.review.models import DriftAlert
from tests.review.conftest import darkening_series, run_drift


@pytest.fixture
def as_manager(demo, login):
    return login("manager@demo.lineside.test", "demo-manager")


def test_factory_manager_sees_the_alarm_and_the_chart_of_its_batch(client, demo, as_manager, as_inspector):
    run_drift(demo, darkening_series())
    alerts = client.get("/api/v1/review/alerts", headers=as_manager)
    assert alerts.status_code == 200
    assert {a["batch_id"] for a in alerts.get_json()} == {str(demo("batch:A"))}
    assert any(a["level"] == "alarm" for a in alerts.get_json())
    drift = client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift", headers=as_manager)
    assert drift.status_code == 200
    svg = client.get(drift.get_json()["series"][0]["svg_url"])
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift.svg", headers=as_manager).status_code == 200
    # Inspectors still do not; the review queue stays the brand's.
    assert client.get("/api/v1/review/alerts", headers=as_inspector).status_code == 403
    assert client.get("/api/v1/review/queue", headers=as_manager).status_code == 403


def test_another_factorys_manager_sees_nothing(client, demo, login):
    from server.accounts.models import Organisation, OrgKind, Role
    from server.accounts.service import add_membership, create_user

    run_drift(demo, darkening_series())
    other = Organisation(name="Other Factory", slug="other-factory", kind=OrgKind.factory)
    db.session.add(other)
    user = create_user("mgr@otherfactory.test", "other-factory-pw", "Otto")
    add_membership(user, other, Role.factory_manager)
    db.session.commit()
    h = login("mgr@otherfactory.test", "other-factory-pw")
    assert client.get("/api/v1/review/alerts", headers=h).get_json() == []
    assert client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift", headers=h).status_code == 404
    alert = db.session.query(DriftAlert).first()
    assert client.post(f"/api/v1/review/alerts/{alert.id}/answer", headers=h, json={"body": "x"}).status_code == 404


def test_factory_acknowledges_and_answers(client, demo, as_manager, as_reviewer):
    run_drift(demo, darkening_series())
    alert = db.session.query(DriftAlert).filter_by(status="open").first()
    url = f"/api/v1/review/alerts/{alert.id}"
    assert client.post(f"{url}/answer", headers=as_manager, json={"body": "  "}).status_code == 422
    r = client.post(f"{url}/answer", headers=as_manager,
                    json={"body": "Frit batch changed on line 3; reverting to lot 2211 from tomorrow."})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["answer"].startswith("Frit batch") and body["answered_by_id"] == str(demo("user:manager"))
    assert body["status"] == "acknowledged"
    seen = client.get(url, headers=as_reviewer).get_json()
    assert seen["answer"] == body["answer"]  # the brand reads the factory's answer
    other = db.session.query(DriftAlert).filter(DriftAlert.id != alert.id, DriftAlert.status == "open").first()
    if other is not None:
        r = client.post(f"/api/v1/review/alerts/{other.id}/acknowledge", headers=as_manager, json={"note": "seen"})
        assert r.status_code == 200 and r.get_json()["status"] == "acknowledged"


def test_the_factory_is_emailed_the_alarm_and_the_resolution_reads_right(demo, smtp_server):
    series = darkening_series()
    run_drift(demo, series)
    factory_mail = [m for m in smtp_server.messages if m.rcpt_tos == ["manager@demo.lineside.test"]]
    assert factory_mail
    assert "alarm" in message_from_bytes(factory_mail[0].content)["Subject"]
    brand_mail = [m for m in smtp_server.messages if "reviewer@demo.lineside.test" in m.rcpt_tos]
    assert brand_mail and all("manager@demo.lineside.test" not in m.rcpt_tos for m in brand_mail)
    before = len(smtp_server.messages)
    back = [[v + 0.05 * ((i % 3) - 1) for v in DEMO_LAB] for i in range(30)]
    run_drift(demo, back, start_sequence=len(series) + 1)
    resolved = [message_from_bytes(m.content) for m in smtp_server.messages[before:]]
    resolved = [m for m in resolved if "Resolved" in m["Subject"]]
    assert resolved
    for msg in resolved:
        text = (msg["Subject"] + msg.get_payload(decode=True).decode()).lower()
        assert "moving away from the golden sample" not in text and "back in control" in text
    assert all(a.status == "resolved" and "back in control" in a.message
               for a in db.session.query(DriftAlert).filter_by(kind="colour"))


def test_drift_alarm_shows_on_the_po_timeline_and_counts_in_its_risk(client, demo, as_manager, as_inspector):
    url = f"/api/v1/purchase-orders/{demo('po:42')}/timeline"
    before = client.get(url, headers=as_manager).get_json()
    assert before["drift_alerts"] == []
    risk_before = next(r for r in client.get("/api/v1/purchase-orders/risk", headers=as_manager).get_json()
                       if r["purchase_order"]["id"] == str(demo("po:42")))
    run_drift(demo, darkening_series())
    after = client.get(url, headers=as_manager).get_json()
    levels = [a["level"] for a in after["drift_alerts"]]
    assert "alarm" in levels
    drift_items = [i for i in after["attention"] if i["type"] == "drift_alert"]
    assert len(drift_items) == len(levels) and drift_items[0]["severity"] == "high"
    weights = {"alarm": 30, "warning": 10}
    assert after["risk"]["score"] - before["risk"]["score"] == sum(weights[lv] for lv in levels)
    risk_after = next(r for r in client.get("/api/v1/purchase-orders/risk", headers=as_manager).get_json()
                      if r["purchase_order"]["id"] == str(demo("po:42")))
    assert risk_after["open_drift_alerts"] == len(levels)
    assert risk_after["risk"]["score"] - risk_before["risk"]["score"] == sum(weights[lv] for lv in levels)
    assert client.get(url, headers=as_inspector).get_json()["drift_alerts"] == []
