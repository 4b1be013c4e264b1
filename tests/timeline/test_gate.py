"""The shipment release gate: every missing item, every waiver, tenancy, and the departure rules."""
from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.extensions import db
from server.inspect.models import Inspection
from server.models import utcnow
from server.timeline.models import PoAlert, Shipment
from server.timeline.service import today_utc
from tests.support.tenants import PASSWORD, make_other_tenant

TODAY = today_utc()
PDF = b"%PDF-1.7 export document"


@pytest.fixture
def as_manager(demo, login):
    return login("manager@demo.lineside.test", "demo-manager")


def gate(client, demo, h):
    r = client.get(f"/api/v1/shipments/{demo('timeline:shipment:1')}/gate", headers=h)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def items(body, key="missing"):
    return {(i["item"], i["subject"]) for i in body[key]}


def finish_production(client, demo, h, units=None):
    done = sum(r["units_produced"] for r in client.get(f"/api/v1/purchase-orders/{demo('po:42')}/progress",
                                                       headers=h).get_json())
    r = client.post(f"/api/v1/purchase-orders/{demo('po:42')}/progress", headers=h, json={
        "po_line_id": str(demo("po:42:line:1")), "report_date": TODAY.isoformat(),
        "units_produced": units if units is not None else 5000 - done})
    assert r.status_code == 201, r.get_json()


def sign_off_final(demo, batch: str, verdict: str) -> Inspection:
    base = db.session.get(Inspection, demo("inspection:final:B"))
    insp = Inspection(id=uuid.uuid4(), kind="final", purchase_order_id=base.purchase_order_id,
                      batch_id=demo(f"batch:{batch}"), product_id=base.product_id, template_id=base.template_id,
                      inspector_id=base.inspector_id, status="signed_off", verdict=verdict, verdict_reasons=[],
                      lot_size=2500, signed_off_at=utcnow())
    db.session.add(insp)
    db.session.commit()
    return insp


def full_packing_list(client, demo, h, height_cm=28, count=1, container="20GP"):
    line = str(demo("po:42:line:1"))
    ship = f"/api/v1/shipments/{demo('timeline:shipment:1')}"
    r = client.put(f"{ship}/packing-list", headers=h, json={"cartons": [
        {"carton_count": 208, "contents": [{"po_line_id": line, "units": 24}], "length_cm": 62, "width_cm": 42,
         "height_cm": height_cm, "gross_kg": 7.4},
        {"carton_count": 1, "contents": [{"po_line_id": line, "units": 8}], "length_cm": 62, "width_cm": 42,
         "height_cm": 28, "gross_kg": 2.9}]})
    assert r.status_code == 200, r.get_json()
    r = client.patch(ship, headers=h, json={"packing_list_complete": True, "container_type": container,
                                            "container_count": count})
    assert r.status_code == 200, r.get_json()


def approve_all_documents(client, demo, reviewer, manager):
    shipment = db.session.get(Shipment, demo("timeline:shipment:1"))
    for doc_id in [d.id for d in shipment.documents]:
        r = client.put(f"/api/v1/documents/{doc_id}/file", headers=manager, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(PDF), "doc.pdf", "application/pdf")})
        assert r.status_code == 200, r.get_json()
        assert client.patch(f"/api/v1/documents/{doc_id}", headers=reviewer,
                            json={"status": "approved"}).status_code == 200


def test_gate_lists_every_missing_item_of_the_demo_shipment(client, demo, as_reviewer):
    body = gate(client, demo, as_reviewer)
    assert body["ready"] is False and body["released"] is False and body["waived"] == []
    missing = items(body)
    line = str(demo("po:42:line:1"))
    assert ("production_incomplete", line) in missing
    assert ("final_inspection_not_passed", f"batch:{demo('batch:A')}") in missing
    assert ("final_inspection_not_passed", f"batch:{demo('batch:B')}") in missing
    docs = {s for kind, s in missing if kind == "document_missing"}
    assert docs == {"commercial_invoice", "packing_list", "certificate_of_origin", "bill_of_lading",
                    "eu_declaration_of_conformity", "reach_statement"}
    assert ("packing_list_incomplete", "") in missing
    assert not {("container_not_booked", ""), ("container_too_small", "")} & missing  # 20GP booked, cargo fits
    prod = next(i for i in body["missing"] if i["item"] == "production_incomplete")
    assert prod["details"]["ordered_units"] == 5000 and prod["details"]["produced_units"] < 5000
    assert "%" in prod["message"]


def test_release_is_refused_with_the_missing_list_and_nothing_changes(client, demo, as_manager):
    url = f"/api/v1/shipments/{demo('timeline:shipment:1')}"
    alerts_before = {a["id"] for a in client.get(f"/api/v1/purchase-orders/{demo('po:42')}/alerts",
                                                 headers=as_manager).get_json()}
    r = client.post(f"{url}/release", headers=as_manager, json={})
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["code"] == "release_blocked"
    assert {i["item"] for i in body["missing"]} >= {"production_incomplete", "final_inspection_not_passed",
                                                   "document_missing", "packing_list_incomplete"}
    # The same gate holds on the plain PATCH, and the other fields of a refused PATCH are not kept.
    r = client.patch(url, headers=as_manager, json={"departed_on": TODAY.isoformat(), "vessel": "Other ship"})
    assert r.status_code == 409 and r.get_json()["code"] == "release_blocked"
    shipment = client.get(url, headers=as_manager).get_json()["shipment"]
    assert shipment["departed_on"] is None and shipment["vessel"] == "MSC Aurora"
    alerts_after = {a["id"] for a in client.get(f"/api/v1/purchase-orders/{demo('po:42')}/alerts",
                                                headers=as_manager).get_json()}
    assert alerts_after == alerts_before and alerts_after


def test_each_item_clears_when_it_is_done_and_the_shipment_releases(client, demo, as_reviewer, as_manager):
    line = str(demo("po:42:line:1"))
    finish_production(client, demo, as_manager, units=1)
    assert ("production_incomplete", line) in items(gate(client, demo, as_reviewer))
    finish_production(client, demo, as_manager)
    assert ("production_incomplete", line) not in items(gate(client, demo, as_reviewer))

    lot_a, lot_b = f"batch:{demo('batch:A')}", f"batch:{demo('batch:B')}"
    sign_off_final(demo, "A", "pass")
    failed = sign_off_final(demo, "B", "fail")
    body = gate(client, demo, as_reviewer)
    assert ("final_inspection_not_passed", lot_a) not in items(body)
    lot_b_item = next(i for i in body["missing"] if i["subject"] == lot_b)
    assert lot_b_item["details"]["verdict"] == "fail" and lot_b_item["details"]["inspection_id"] == str(failed.id)
    failed.verdict_override = {"verdict": "pass", "reason": "re-worked and re-checked"}  # the brand's override
    db.session.commit()
    assert ("final_inspection_not_passed", lot_b) not in items(gate(client, demo, as_reviewer))

    full_packing_list(client, demo, as_manager)
    assert ("packing_list_incomplete", "") not in items(gate(client, demo, as_reviewer))

    approve_all_documents(client, demo, as_reviewer, as_manager)
    body = gate(client, demo, as_reviewer)
    assert body["missing"] == [] and body["ready"] is True

    r = client.post(f"/api/v1/shipments/{demo('timeline:shipment:1')}/release", headers=as_manager, json={})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["released"] is True and r.get_json()["departed_on"] == TODAY.isoformat()
    again = client.post(f"/api/v1/shipments/{demo('timeline:shipment:1')}/release", headers=as_manager, json={})
    assert again.status_code == 409
    audit = client.get(f"/api/v1/shipments/{demo('timeline:shipment:1')}/audit", headers=as_reviewer).get_json()
    assert [e["action"] for e in audit][-1] == "release"
    assert sum(e["action"] == "document" for e in audit) == 6


def test_document_states_each_block_and_rejecting_needs_a_reason(client, demo, as_reviewer, as_manager):
    doc = demo("timeline:document:commercial_invoice")
    r = client.put(f"/api/v1/documents/{doc}/file", headers=as_manager, content_type="multipart/form-data",
                   data={"file": (io.BytesIO(PDF), "invoice.pdf", "application/pdf")})
    assert r.status_code == 200
    assert ("document_not_approved", "commercial_invoice") in items(gate(client, demo, as_reviewer))
    r = client.patch(f"/api/v1/documents/{doc}", headers=as_reviewer, json={"status": "rejected"})
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]
    r = client.patch(f"/api/v1/documents/{doc}", headers=as_reviewer,
                     json={"status": "rejected", "reason": "Wrong consignee address"})
    assert r.status_code == 200 and r.get_json()["rejection_reason"] == "Wrong consignee address"
    rejected = next(i for i in gate(client, demo, as_reviewer)["missing"] if i["subject"] == "commercial_invoice")
    assert rejected["item"] == "document_rejected" and "Wrong consignee address" in rejected["message"]
    assert client.patch(f"/api/v1/documents/{doc}", headers=as_manager,
                        json={"status": "approved"}).status_code == 403
    # Not applicable is the brand's decision, with a reason; then the document no longer blocks.
    reach = demo("timeline:document:reach_statement")
    assert client.patch(f"/api/v1/documents/{reach}", headers=as_reviewer,
                        json={"status": "not_applicable"}).status_code == 422
    assert client.patch(f"/api/v1/documents/{reach}", headers=as_reviewer,
                        json={"status": "not_applicable", "reason": "No SVHC in enamel"}).status_code == 200
    assert "reach_statement" not in {s for _, s in items(gate(client, demo, as_reviewer))}
    audit = client.get(f"/api/v1/shipments/{demo('timeline:shipment:1')}/audit", headers=as_manager).get_json()
    reasons = [e["changes"].get("reason", [None, None])[1] for e in audit if e["action"] == "document"]
    assert "Wrong consignee address" in reasons and "No SVHC in enamel" in reasons


def test_container_not_booked_and_too_small_are_flagged_by_gate_and_alert(client, demo, as_reviewer, as_manager):
    ship = f"/api/v1/shipments/{demo('timeline:shipment:1')}"
    po_alerts = f"/api/v1/purchase-orders/{demo('po:42')}/alerts"
    assert client.patch(ship, headers=as_manager, json={"container_type": ""}).status_code == 200
    assert ("container_not_booked", "") in items(gate(client, demo, as_reviewer))
    # 208 cartons 62 × 42 × 80 cm = 43.3 m³: more than a 20' holds (33.2 m³ × 85 % = 28.22 m³ usable).
    full_packing_list(client, demo, as_manager, height_cm=80)
    body = gate(client, demo, as_reviewer)
    too_small = next(i for i in body["missing"] if i["item"] == "container_too_small")
    assert too_small["details"]["needed"] == 2 and too_small["details"]["booked"] == 1
    assert too_small["details"]["needed_by_volume"] == 2 and too_small["details"]["needed_by_weight"] == 1
    alert = next(a for a in client.get(po_alerts, headers=as_manager).get_json() if a["kind"] == "freight_container")
    assert alert["severity"] == "high" and alert["details"]["needed"] == 2
    assert client.patch(ship, headers=as_manager, json={"container_count": 2}).status_code == 200
    assert "container_too_small" not in {i for i, _ in items(gate(client, demo, as_reviewer))}
    assert not [a for a in client.get(po_alerts, headers=as_manager).get_json() if a["kind"] == "freight_container"]
    assert client.patch(ship, headers=as_manager, json={"container_type": "40HC", "container_count": 1}
                        ).status_code == 200
    assert "container_too_small" not in {i for i, _ in items(gate(client, demo, as_reviewer))}


def test_brand_waives_every_item_with_a_reason_and_then_the_shipment_releases(client, demo, as_reviewer, as_manager):
    ship = f"/api/v1/shipments/{demo('timeline:shipment:1')}"
    full_packing_list(client, demo, as_manager, height_cm=80)  # container too small, packing list complete
    sign_off_final(demo, "A", "fail")
    assert client.patch(f"/api/v1/documents/{demo('timeline:document:commercial_invoice')}", headers=as_reviewer,
                        json={}).status_code == 200
    body = gate(client, demo, as_reviewer)
    kinds = {i["item"] for i in body["missing"]}
    assert kinds == {"production_incomplete", "final_inspection_not_passed", "document_missing",
                     "container_too_small"}
    for item in body["missing"]:
        r = client.post(f"{ship}/gate/waivers", headers=as_reviewer,
                        json={"item": item["item"], "subject": item["subject"], "reason": f"Agreed: {item['item']}"})
        assert r.status_code == 201, r.get_json()
    body = gate(client, demo, as_reviewer)
    assert body["ready"] is True and body["missing"] == []
    assert {i["waiver"]["reason"] for i in body["waived"]} >= {"Agreed: production_incomplete",
                                                               "Agreed: container_too_small"}
    r = client.post(f"{ship}/release", headers=as_manager, json={"departed_on": TODAY.isoformat()})
    assert r.status_code == 200, r.get_json()
    audit = client.get(f"{ship}/audit", headers=as_reviewer).get_json()
    assert sum(e["action"] == "waive" for e in audit) == len(body["waived"])
    release_event = audit[-1]
    assert release_event["action"] == "release" and len(release_event["changes"]["waived"][1]) == len(body["waived"])


def test_waivers_are_the_brands_need_a_reason_and_a_missing_item(client, demo, as_reviewer, as_manager):
    ship = f"/api/v1/shipments/{demo('timeline:shipment:1')}"
    line = str(demo("po:42:line:1"))
    item = {"item": "production_incomplete", "subject": line, "reason": "Short shipment agreed"}
    assert client.post(f"{ship}/gate/waivers", headers=as_manager, json=item).status_code == 403
    r = client.post(f"{ship}/gate/waivers", headers=as_reviewer, json={**item, "reason": " "})
    assert r.status_code == 422
    r = client.post(f"{ship}/gate/waivers", headers=as_reviewer, json={**item, "item": "container_not_booked",
                                                                       "subject": ""})
    assert r.status_code == 422 and "item" in r.get_json()["errors"]
    r = client.post(f"{ship}/gate/waivers", headers=as_reviewer, json={**item, "item": "no_such_item"})
    assert r.status_code == 422
    r = client.post(f"{ship}/gate/waivers", headers=as_reviewer, json=item)
    assert r.status_code == 201
    waiver = r.get_json()
    assert client.post(f"{ship}/gate/waivers", headers=as_reviewer, json=item).status_code == 409
    assert ("production_incomplete", line) in items(gate(client, demo, as_manager), "waived")
    assert client.delete(f"/api/v1/gate-waivers/{waiver['id']}", headers=as_manager).status_code == 403
    r = client.delete(f"/api/v1/gate-waivers/{waiver['id']}", headers=as_reviewer)
    assert r.status_code == 200 and r.get_json()["revoked_at"]
    assert ("production_incomplete", line) in items(gate(client, demo, as_manager))
    listed = client.get(f"{ship}/gate/waivers", headers=as_manager).get_json()
    assert [w["revoked_at"] is not None for w in listed] == [True]
    actions = [e["action"] for e in client.get(f"{ship}/audit", headers=as_reviewer).get_json()]
    assert actions == ["waive", "revoke_waiver"]


def test_gate_is_tenant_scoped_and_hidden_from_inspectors(client, demo, login, as_inspector):
    make_other_tenant()
    other = login("reviewer@other.test", PASSWORD)
    ship = f"/api/v1/shipments/{demo('timeline:shipment:1')}"
    assert client.get(f"{ship}/gate", headers=other).status_code == 404
    assert client.post(f"{ship}/release", headers=other, json={}).status_code == 404
    assert client.post(f"{ship}/gate/waivers", headers=other,
                       json={"item": "packing_list_incomplete", "reason": "x"}).status_code == 404
    assert client.get(f"{ship}/audit", headers=other).status_code == 404
    assert client.get(f"{ship}/gate", headers=as_inspector).status_code == 404
    assert client.post(f"{ship}/release", headers=as_inspector, json={}).status_code == 403
    assert client.get(f"{ship}/gate").status_code == 401


def test_departure_cannot_be_in_the_future_nor_set_by_hand(client, demo, as_reviewer, as_manager):
    ship = f"/api/v1/shipments/{demo('timeline:shipment:1')}"
    r = client.post(f"{ship}/release", headers=as_manager,
                    json={"departed_on": (TODAY + timedelta(days=5)).isoformat()})
    assert r.status_code == 422 and "departed_on" in r.get_json()["errors"]
    for kind in ("departed", "cargo_cutoff"):
        r = client.put(f"/api/v1/purchase-orders/{demo('po:42')}/milestones/{kind}", headers=as_reviewer,
                       json={"actual_date": TODAY.isoformat()})
        assert r.status_code == 409
    r = client.post(f"/api/v1/purchase-orders/{demo('po:42')}/shipments", headers=as_manager,
                    json={"reference": "SHP-NEW", "departed_on": TODAY.isoformat()})
    assert r.status_code == 422


def test_a_waived_release_before_the_cutoff_does_not_show_the_cutoff_done_and_keeps_po_alerts(
        client, demo, as_reviewer, as_manager):
    ship = f"/api/v1/shipments/{demo('timeline:shipment:1')}"
    for item in gate(client, demo, as_reviewer)["missing"]:
        assert client.post(f"{ship}/gate/waivers", headers=as_reviewer,
                           json={"item": item["item"], "subject": item["subject"], "reason": "test"}).status_code == 201
    assert client.post(f"{ship}/release", headers=as_manager, json={}).status_code == 200
    timeline = client.get(f"/api/v1/purchase-orders/{demo('po:42')}/timeline", headers=as_reviewer).get_json()
    cutoff = next(m for m in timeline["milestones"] if m["kind"] == "cargo_cutoff")
    assert cutoff["planned_date"] == (TODAY + timedelta(days=16)).isoformat()
    assert cutoff["status"] != "done" and cutoff["actual_date"] is None
    departed = next(m for m in timeline["milestones"] if m["kind"] == "departed")
    assert departed["status"] == "done" and departed["actual_date"] == TODAY.isoformat()
    # The overdue packaging issue still raises its alert after the shipment left.
    kinds = {a.kind for a in db.session.scalars(select(PoAlert).where(
        PoAlert.purchase_order_id == demo("po:42"), PoAlert.status != "resolved"))}
    assert "issue_overdue" in kinds


def test_marking_the_po_shipped_keeps_its_alerts_while_a_shipment_waits(client, demo, as_reviewer, runner):
    before = {a.id for a in db.session.scalars(select(PoAlert).where(
        PoAlert.purchase_order_id == demo("po:42"), PoAlert.status != "resolved"))}
    assert before
    r = client.patch(f"/api/v1/purchase-orders/{demo('po:42')}", headers=as_reviewer, json={"status": "shipped"})
    assert r.status_code == 200, r.get_json()
    out = runner.invoke(args=["refresh-alerts"])
    assert out.exit_code == 0 and "\n1 purchase orders:" in out.output, out.output
    finish_production(client, demo, as_reviewer, units=1)  # any change refreshes the PO's alerts too
    after = {a.id for a in db.session.scalars(select(PoAlert).where(
        PoAlert.purchase_order_id == demo("po:42"), PoAlert.status != "resolved"))}
    assert after == before  # the shipment has not left: nothing vanishes
