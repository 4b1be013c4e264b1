"""Daily production progress over sync: the factory reports offline, the PO's forecast follows."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from server.extensions import db
from server.timeline.models import PoAlert, ProgressReport
from server.timeline.service import today_utc
from tests.support.tenants import PASSWORD, make_other_tenant
from tests.sync.support import SyncClient, count, new_id

TODAY = today_utc()


@pytest.fixture
def as_manager(demo, login):
    return login("manager@demo.lineside.test", "demo-manager")


@pytest.fixture
def manager_phone(client, as_manager):
    p = SyncClient(client, as_manager)
    p.pull_all()
    return p


def report(demo, day=TODAY, units=300, **extra) -> dict:
    return {"purchase_order_id": str(demo("po:42")), "po_line_id": str(demo("po:42:line:1")),
            "report_date": day.isoformat(), "units_produced": units, **extra}


def forecast(client, demo, headers) -> dict:
    r = client.get(f"/api/v1/purchase-orders/{demo('po:42')}/timeline", headers=headers)
    assert r.status_code == 200
    return r.get_json()["forecast"]


def test_progress_pushed_offline_moves_the_po_forecast(client, demo, manager_phone, as_manager):
    before = forecast(client, demo, as_manager)
    today_id, yesterday_id = new_id(), new_id()
    manager_phone.edit("progress", today_id, **report(demo, units=300, note="line 2 back up"))
    manager_phone.edit("progress", yesterday_id, **report(demo, TODAY - timedelta(days=1), units=200))
    sent = list(manager_phone.outbox)
    assert [r["status"] for r in manager_phone.push_outbox()] == ["applied", "applied"]
    # the answer got lost: the phone sends the second one again
    again = manager_phone.push(sent[1:]).get_json()["results"][0]
    assert again["status"] == "duplicate" and again["original_status"] == "applied"
    after = forecast(client, demo, as_manager)
    assert after["produced_units"] == before["produced_units"] + 500
    assert count(ProgressReport, ProgressReport.id.in_([uuid.UUID(today_id), uuid.UUID(yesterday_id)])) == 2


def test_pushed_progress_refreshes_the_po_alerts_in_the_same_push(client, demo, manager_phone):
    # Producing the whole rest of the order today removes the completion delay risk.
    alert = PoAlert.__table__.c
    open_before = count(PoAlert, alert.purchase_order_id == demo("po:42"), alert.subject == "production_completion",
                        alert.status != "resolved")
    assert open_before == 1
    r = manager_phone.push([manager_phone.mutation("progress", new_id(), report(demo, units=5000))])
    assert r.get_json()["results"][0]["status"] == "applied"
    assert count(PoAlert, alert.purchase_order_id == demo("po:42"), alert.subject == "production_completion",
                 alert.status != "resolved") == 0


def test_the_factory_pulls_progress_reports_of_its_pos(client, demo, manager_phone, login):
    rid = new_id()
    manager_phone.edit("progress", rid, **report(demo, units=42))
    manager_phone.push_outbox()
    colleague = SyncClient(client, login("manager@demo.lineside.test", "demo-manager"))
    colleague.pull_all()
    got = colleague.get("progress", rid)
    assert got["fields"]["units_produced"] == 42 and got["fields"]["report_date"] == TODAY.isoformat()
    assert got["fields"]["reported_by_id"] == str(demo("user:manager"))
    assert "field_revs" not in got["fields"]


def test_another_factorys_manager_cannot_report_progress_or_see_it(client, demo, manager_phone, login):
    manager_phone.edit("progress", new_id(), **report(demo))
    manager_phone.push_outbox()
    make_other_tenant()
    other = SyncClient(client, login("manager@other.test", PASSWORD))
    rid = new_id()
    result = other.push([other.mutation("progress", rid, report(demo))]).get_json()["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "not_found"
    assert db.session.get(ProgressReport, uuid.UUID(rid)) is None
    assert not [ch for ch in other.pull_all() if ch["entity"] == "progress"]


def test_an_inspector_may_not_report_progress(client, demo, as_inspector):
    phone = SyncClient(client, as_inspector)
    result = phone.push([phone.mutation("progress", new_id(), report(demo))]).get_json()["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "forbidden"


@pytest.mark.parametrize("fields, bad", [
    ({"report_date": (TODAY + timedelta(days=3)).isoformat()}, "report_date"),
    ({"report_date": "2026-02-30"}, "report_date"),
    ({"report_date": "yesterday"}, "report_date"),
    ({"units_produced": -1}, "units_produced"),
    ({"reported_by_id": new_id()}, "reported_by_id"),
])
def test_bad_progress_is_rejected_per_field(demo, manager_phone, fields, bad):
    result = manager_phone.push([manager_phone.mutation("progress", new_id(), {**report(demo), **fields})]
                                ).get_json()["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "invalid"
    assert set(result["errors"]) == {bad}


def test_a_line_of_another_po_is_rejected(demo, manager_phone):
    other = make_other_tenant()
    result = manager_phone.push([manager_phone.mutation("progress", new_id(),
                                                        report(demo, po_line_id=str(other["po_line"])))]
                                ).get_json()["results"][0]
    assert result["status"] == "rejected" and set(result["errors"]) == {"po_line_id"}


def test_a_manager_corrects_and_deletes_a_report(client, demo, manager_phone, as_manager):
    rid = new_id()
    manager_phone.edit("progress", rid, **report(demo, units=100))
    manager_phone.push_outbox()
    base = forecast(client, demo, as_manager)["produced_units"]
    manager_phone.edit("progress", rid, units_produced=150)
    assert manager_phone.push_outbox()[0]["status"] == "applied"
    assert forecast(client, demo, as_manager)["produced_units"] == base + 50
    manager_phone.delete("progress", rid)
    assert manager_phone.push_outbox()[0]["status"] == "applied"
    assert forecast(client, demo, as_manager)["produced_units"] == base - 100
