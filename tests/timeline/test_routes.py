"""The timeline API as the PWA uses it: the PO view, tenancy, roles, uploads, errors."""
from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest

from server.timeline.models import MILESTONE_KINDS
from server.timeline.service import today_utc
from tests.support.tenants import PASSWORD, make_other_tenant

TODAY = today_utc()


@pytest.fixture
def as_manager(demo, login):
    return login("manager@demo.lineside.test", "demo-manager")


def po_url(demo, rest=""):
    return f"/api/v1/purchase-orders/{demo('po:42')}{rest}"


def test_timeline_lists_milestones_in_order_with_attention_first(client, demo, as_reviewer):
    r = client.get(po_url(demo, "/timeline"), headers=as_reviewer)
    assert r.status_code == 200
    body = r.get_json()
    kinds = [m["kind"] for m in body["milestones"]]
    assert kinds == sorted(kinds, key=MILESTONE_KINDS.index)
    assert {m["status"] for m in body["milestones"]} <= {"done", "late", "at_risk", "on_track", "not_planned"}
    start = next(m for m in body["milestones"] if m["kind"] == "production_start")
    assert start["status"] == "done" and start["actual_date"] == (TODAY - timedelta(days=10)).isoformat()
    cartons = next(m for m in body["milestones"] if m["subject"] == "Printed export cartons")
    assert cartons["details"]["eta"] == (TODAY + timedelta(days=6)).isoformat()
    complete = next(m for m in body["milestones"] if m["kind"] == "production_complete")
    assert complete["forecast_date"] == body["forecast"]["completion_date"]
    severities = [a["severity"] for a in body["attention"]]
    order = {"critical": 0, "high": 1, "warning": 2, "medium": 2, "info": 3, "low": 3}
    assert severities == sorted(severities, key=order.get)
    assert body["attention"][0]["kind"] == "delay_risk"
    assert body["shipments"][0]["packing"]["lines"][0]["status"] == "short"


def test_another_tenants_po_answers_404(client, demo, login):
    other = make_other_tenant()
    h = login("reviewer@other.test", PASSWORD)
    assert client.get(po_url(demo, "/timeline"), headers=h).status_code == 404
    assert client.post(po_url(demo, "/issues"), headers=h, json={"type": "other", "title": "x"}).status_code == 404
    assert client.get(f"/api/v1/issues/{demo('timeline:issue:cartons')}", headers=h).status_code == 404
    rows = client.get("/api/v1/purchase-orders/risk", headers=h).get_json()
    assert [row["purchase_order"]["id"] for row in rows] == [str(other["purchase_order"])]


def test_inspector_reads_their_part_only_and_cannot_write(client, demo, as_inspector):
    r = client.get(po_url(demo, "/timeline"), headers=as_inspector)
    assert r.status_code == 200
    body = r.get_json()
    assert body["alerts"] == [] and body["issues"] == [] and body["shipments"] == []
    assert {i["id"] for i in body["inspections"]} == {str(demo("inspection:inline:A")), str(demo("inspection:final:B"))}
    r = client.post(po_url(demo, "/progress"), headers=as_inspector,
                    json={"po_line_id": str(demo("po:42:line:1")), "report_date": TODAY.isoformat(),
                          "units_produced": 10})
    assert r.status_code == 403
    assert client.get(f"/api/v1/issues/{demo('timeline:issue:cartons')}", headers=as_inspector).status_code == 404


def test_progress_post_is_idempotent_by_client_id(client, demo, as_manager):
    body = {"id": str(uuid.uuid4()), "po_line_id": str(demo("po:42:line:1")), "report_date": TODAY.isoformat(),
            "units_produced": 240}
    first = client.post(po_url(demo, "/progress"), headers=as_manager, json=body)
    again = client.post(po_url(demo, "/progress"), headers=as_manager, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"] == body["id"]
    listed = client.get(po_url(demo, "/progress"), headers=as_manager).get_json()
    assert sum(1 for r in listed if r["id"] == body["id"]) == 1


def test_bad_progress_is_422_per_field_and_writes_nothing(client, demo, as_manager):
    before = len(client.get(po_url(demo, "/progress"), headers=as_manager).get_json())
    r = client.post(po_url(demo, "/progress"), headers=as_manager,
                    json={"po_line_id": str(demo("po:42:line:1")), "report_date": "yesterday", "units_produced": -5})
    assert r.status_code == 422
    assert r.headers["Content-Type"] == "application/problem+json"
    assert set(r.get_json()["errors"]["json"]) == {"report_date", "units_produced"}
    assert len(client.get(po_url(demo, "/progress"), headers=as_manager).get_json()) == before


def test_production_start_gate_answers_409_with_the_missing_skus(client, demo, as_reviewer, as_manager):
    r = client.post("/api/v1/products", headers=as_reviewer, json={"brand_id": str(demo("org:brand")),
                                                                    "sku": "NEW-1", "name": "New"})
    r = client.post("/api/v1/purchase-orders", headers=as_reviewer, json={
        "brand_id": str(demo("org:brand")), "factory_id": str(demo("org:factory")), "po_number": "PO-NEW",
        "lines": [{"product_id": r.get_json()["id"], "quantity": 100}]})
    po_id = r.get_json()["id"]
    r = client.put(f"/api/v1/purchase-orders/{po_id}/milestones/production_start", headers=as_manager,
                   json={"actual_date": TODAY.isoformat()})
    assert r.status_code == 409
    assert r.get_json()["missing_golden_samples"] == ["NEW-1"]
    r = client.put(f"/api/v1/purchase-orders/{po_id}/milestones/production_start", headers=as_reviewer,
                   json={"actual_date": TODAY.isoformat(), "override_reason": "Approved on a video call"})
    assert r.status_code == 200


def test_golden_sample_submission_and_approval_over_http(client, demo, as_manager, as_reviewer):
    r = client.post(po_url(demo, "/golden-sample-submissions"), headers=as_manager, json={
        "product_id": str(demo("product:tray")), "checks": {"materials": {"ok": True}},
        "discrepancies": [{"category": "material_substitution", "description": "201 instead of 304 steel"}],
        "measured": {"lab": [61.5, -18.2, 11.9], "length_mm": 120.1}})
    assert r.status_code == 201, r.get_json()
    sub = r.get_json()
    r = client.post(f"/api/v1/golden-sample-submissions/{sub['id']}/decision", headers=as_manager,
                    json={"decision": "approve"})
    assert r.status_code == 403
    r = client.post(f"/api/v1/golden-sample-submissions/{sub['id']}/decision", headers=as_reviewer,
                    json={"decision": "approve", "comment": "Accepted"})
    assert r.status_code == 200 and r.get_json()["status"] == "approved"
    versions = client.get(f"/api/v1/products/{demo('product:tray')}/golden-samples", headers=as_reviewer).get_json()
    assert [(v["version"], v["status"]) for v in versions] == [(2, "approved"), (1, "superseded")]


def test_unknown_discrepancy_category_is_rejected(client, demo, as_manager):
    r = client.post(po_url(demo, "/golden-sample-submissions"), headers=as_manager, json={
        "product_id": str(demo("product:tray")), "discrepancies": [{"category": "vibes", "description": "x"}]})
    assert r.status_code == 422
    assert "discrepancies" in r.get_json()["errors"]["json"]


def test_document_upload_checks_type_and_stores_the_file(client, demo, as_manager):
    doc_id = demo("timeline:document:commercial_invoice")
    url = f"/api/v1/documents/{doc_id}/file"
    r = client.put(url, headers=as_manager, content_type="multipart/form-data",
                   data={"file": (io.BytesIO(b"MZ not a pdf"), "invoice.pdf", "application/pdf")})
    assert r.status_code == 415
    r = client.put(url, headers=as_manager, content_type="multipart/form-data",
                   data={"file": (io.BytesIO(b"%PDF-1.7 invoice"), "invoice.pdf", "application/pdf")})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "uploaded" and r.get_json()["storage_key"].startswith("documents/")
    download = client.get(url, headers=as_manager)
    assert download.status_code == 302


def test_document_upload_answers_503_when_storage_is_down(client, demo, as_manager, monkeypatch):
    import server.storage.backends as storage

    def broken(*a, **k):
        raise OSError("bucket unreachable")

    monkeypatch.setattr(storage, "get_storage", broken)
    r = client.put(f"/api/v1/documents/{demo('timeline:document:commercial_invoice')}/file", headers=as_manager,
                   content_type="multipart/form-data",
                   data={"file": (io.BytesIO(b"%PDF-1.7"), "invoice.pdf", "application/pdf")})
    assert r.status_code == 503
    assert r.get_json()["code"] == "unavailable"
    shipment = client.get(f"/api/v1/shipments/{demo('timeline:shipment:1')}", headers=as_manager).get_json()
    assert "Commercial invoice" in shipment["missing_documents"]


def test_packing_list_answer_gives_totals_and_container_fit(client, demo, as_manager):
    line = str(demo("po:42:line:1"))
    r = client.put(f"/api/v1/shipments/{demo('timeline:shipment:1')}/packing-list", headers=as_manager, json={
        "cartons": [{"carton_count": 208, "contents": [{"po_line_id": line, "units": 24}], "length_cm": 62,
                     "width_cm": 42, "height_cm": 28, "gross_kg": 7.4},
                    {"carton_count": 1, "contents": [{"po_line_id": line, "units": 8}], "length_cm": 62,
                     "width_cm": 42, "height_cm": 28, "gross_kg": 2.9}]})
    assert r.status_code == 200, r.get_json()
    packing = r.get_json()["packing"]
    assert packing["ok"] and packing["total_units"] == 5000 and packing["total_cartons"] == 209
    assert packing["best_fit"] == "20GP"
    r = client.patch(f"/api/v1/shipments/{demo('timeline:shipment:1')}", headers=as_manager,
                     json={"packing_list_complete": True})
    assert r.status_code == 200 and r.get_json()["shipment"]["packing_list_completed_on"] == TODAY.isoformat()


def test_issue_comment_with_attachment(client, demo, as_manager):
    r = client.post(f"/api/v1/issues/{demo('timeline:issue:cartons')}/comments", headers=as_manager,
                    content_type="multipart/form-data",
                    data={"body": "Drop test photo", "files": [(io.BytesIO(b"\x89PNG\r\n\x1a\nxx"), "drop.png",
                                                                 "image/png")]})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["attachments"][0]["filename"] == "drop.png"
    issue = client.get(f"/api/v1/issues/{demo('timeline:issue:cartons')}", headers=as_manager).get_json()
    assert issue["overdue"] is True
    assert issue["comments"][-1]["body"] == "Drop test photo"


def test_risk_list_puts_the_riskiest_po_first(client, demo, as_reviewer):
    r = client.post("/api/v1/purchase-orders", headers=as_reviewer, json={
        "brand_id": str(demo("org:brand")), "factory_id": str(demo("org:factory")), "po_number": "PO-CALM",
        "lines": [{"product_id": str(demo("product:tray")), "quantity": 10}]})
    assert r.status_code == 201
    rows = client.get("/api/v1/purchase-orders/risk", headers=as_reviewer).get_json()
    assert [row["purchase_order"]["po_number"] for row in rows] == ["PO-2026-0042", "PO-CALM"]
    assert rows[0]["risk"]["score"] > rows[1]["risk"]["score"]
    assert rows[0]["open_alerts"] >= 1 and rows[0]["overdue_issues"] == 1
