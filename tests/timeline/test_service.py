"""Timeline rules against the database: golden samples, the production gate, alerts, issues, freight."""
from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.catalog.models import GoldenSample
from server.errors import Conflict, Forbidden, ValidationFailed
from server.extensions import db
from server.inspect.models import Inspection
from server.timeline import service
from server.timeline.models import MILESTONE_KINDS, Issue, PoAlert, ProgressReport

TODAY = service.today_utc()


def open_alerts(po):
    return {(a.kind, a.subject): a for a in service.open_alerts(po)}


def scheduled_po(make_po, principal, *, cutoff_in_days: int | None):
    """10,000 units at 400 a day with 6,000 done by yesterday: completion is 10 days from today."""
    po = make_po()
    manager = principal("manager")
    service.set_schedule(manager, po, {"planned_units_per_day": 400, "slot_start": TODAY - timedelta(days=15),
                                       "final_inspection_days": 1})
    line = po.lines[0]
    for i in range(1, 16):
        service.report_progress(manager, po, {"po_line_id": line.id, "report_date": TODAY - timedelta(days=i),
                                              "units_produced": 400})
    if cutoff_in_days is not None:
        service.create_shipment(manager, po, {"reference": "S1", "cargo_cutoff": TODAY + timedelta(days=cutoff_in_days)})
    return po


# -- golden samples -----------------------------------------------------------------------------

def test_approval_adds_a_golden_sample_version_and_keeps_the_old_one(demo, principal):
    from server.catalog.models import PurchaseOrder

    po = db.session.get(PurchaseOrder, demo("po:42"))
    sub = service.submit_golden_sample(principal("manager"), po, {
        "product_id": demo("product:tray"), "measured": {"lab": [61.0, -17.5, 12.2], "length_mm": 120.2},
        "reference_photos": ["photos/abc"], "discrepancies": [{"category": "dimension_change", "description": "+0.2"}]})
    service.decide_golden_sample(principal("reviewer"), sub, po, "approve", "Good")
    versions = {g.version: g for g in db.session.scalars(select(GoldenSample)
                                                         .where(GoldenSample.product_id == demo("product:tray")))}
    assert versions[1].status == "superseded" and versions[1].measured["lab"] == [62.0, -18.0, 12.0]
    assert versions[2].status == "approved" and versions[2].measured["lab"] == [61.0, -17.5, 12.2]
    assert versions[2].reference_photos == ["photos/abc"]
    # an analysis made against version 1 still points at it
    assert db.session.get(Inspection, demo("inspection:inline:A")).golden_sample_id == versions[1].id
    assert sub.golden_sample_id == versions[2].id


def test_rejection_needs_a_comment_and_only_the_brand_decides(demo, principal, make_po):
    po = make_po()
    sub = service.submit_golden_sample(principal("manager"), po, {"product_id": po.lines[0].product_id})
    with pytest.raises(Forbidden):
        service.decide_golden_sample(principal("manager"), sub, po, "approve", "")
    with pytest.raises(ValidationFailed):
        service.decide_golden_sample(principal("reviewer"), sub, po, "reject", "  ")
    service.decide_golden_sample(principal("reviewer"), sub, po, "reject", "Wrong shade")
    assert sub.status == "rejected"
    assert service.products_without_golden_sample(po) == [po.lines[0].product.sku]


def test_production_start_is_refused_without_an_approved_golden_sample(demo, principal, make_po):
    po = make_po()
    with pytest.raises(Conflict) as exc:
        service.set_milestone(principal("manager"), po, "production_start", {"actual_date": TODAY})
    assert exc.value.extra["missing_golden_samples"] == [po.lines[0].product.sku]
    with pytest.raises(Forbidden):
        service.set_milestone(principal("manager"), po, "production_start",
                              {"actual_date": TODAY, "override_reason": "Brand said so by phone"})


def test_brand_user_overrides_the_golden_sample_gate_with_a_reason(demo, principal, make_po):
    po = make_po()
    row = service.set_milestone(principal("reviewer"), po, "production_start",
                                {"actual_date": TODAY, "override_reason": "Sample approved by video call"})
    assert row.actual_date == TODAY
    assert service.schedule_of(po).start_override_reason == "Sample approved by video call"


def test_production_start_passes_once_the_sample_is_approved(demo, principal, make_po):
    po = make_po()
    sub = service.submit_golden_sample(principal("manager"), po, {"product_id": po.lines[0].product_id})
    service.decide_golden_sample(principal("reviewer"), sub, po, "approve", "ok")
    assert service.set_milestone(principal("manager"), po, "production_start", {"actual_date": TODAY}).actual_date


# -- delay forecast and alerts ------------------------------------------------------------------

def test_delay_risk_alert_is_raised_when_completion_misses_the_cutoff(demo, principal, make_po):
    po = scheduled_po(make_po, principal, cutoff_in_days=12)  # needs completion by day 9; forecast day 10
    alert = open_alerts(po)[("delay_risk", "production_completion")]
    assert alert.severity == "high"
    assert alert.details["completion_date"] == (TODAY + timedelta(days=10)).isoformat()


def test_no_alert_when_on_track(demo, principal, make_po):
    po = scheduled_po(make_po, principal, cutoff_in_days=13)
    assert open_alerts(po) == {}


def test_alert_resolves_when_the_cutoff_moves_and_stays_single(demo, principal, make_po):
    po = scheduled_po(make_po, principal, cutoff_in_days=12)
    service.refresh_alerts(po)
    service.refresh_alerts(po)
    assert db.session.query(PoAlert).filter_by(purchase_order_id=po.id, status="open").count() == 1
    shipment = db.session.scalars(select(service.Shipment).where(service.Shipment.purchase_order_id == po.id)).one()
    service.update_shipment(principal("manager"), shipment, po, {"cargo_cutoff": TODAY + timedelta(days=20)})
    rows = db.session.scalars(select(PoAlert).where(PoAlert.purchase_order_id == po.id)).all()
    assert [(a.status, a.open_key) for a in rows] == [("resolved", None)]


def test_database_refuses_a_second_unresolved_alert_for_the_same_subject(demo, principal, make_po):
    po = scheduled_po(make_po, principal, cutoff_in_days=12)
    db.session.add(PoAlert(purchase_order_id=po.id, kind="delay_risk", subject="production_completion",
                           open_key="delay_risk:production_completion"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_material_eta_after_production_start_raises_an_alert(demo, principal, make_po):
    po = make_po()
    manager = principal("manager")
    service.set_schedule(manager, po, {"slot_start": TODAY + timedelta(days=10), "planned_units_per_day": 500})
    m = service.add_material(manager, po, {"name": "Frit", "supplier": "F", "eta": TODAY + timedelta(days=14)})
    assert ("delay_risk", "material:Frit") in open_alerts(po)
    service.update_material(manager, m, po, {"eta": TODAY + timedelta(days=8)})
    assert open_alerts(po) == {}


def test_open_issue_delay_moves_the_forecast_into_an_alert_and_resolving_clears_it(demo, principal, make_po):
    po = scheduled_po(make_po, principal, cutoff_in_days=13)
    issue = service.create_issue(principal("reviewer"), po, {"type": "raw_material_shortage", "title": "Frit short",
                                                             "expected_delay_days": 2})
    assert ("delay_risk", "production_completion") in open_alerts(po)
    service.update_issue(principal("manager"), issue, po, {"status": "resolved"})
    assert open_alerts(po) == {}


def test_overdue_issue_is_flagged_with_an_alert(demo, principal, make_po):
    po = make_po()
    issue = service.create_issue(principal("reviewer"), po, {"type": "other", "title": "Late answer",
                                                             "due_date": TODAY - timedelta(days=1)})
    assert ("issue_overdue", f"issue:{issue.id}") in open_alerts(po)


def test_progress_replay_with_the_same_id_changes_nothing(demo, principal, make_po):
    po = make_po()
    rid = uuid.uuid4()
    body = {"id": rid, "po_line_id": po.lines[0].id, "report_date": TODAY, "units_produced": 300}
    first, created = service.report_progress(principal("manager"), po, dict(body))
    again, created_again = service.report_progress(principal("manager"), po, dict(body))
    assert (created, created_again, first.id, again.id) == (True, False, rid, rid)
    assert db.session.query(ProgressReport).count() > 0
    with pytest.raises(Conflict):
        service.report_progress(principal("manager"), po, {**body, "units_produced": 301})


def test_progress_for_a_line_of_another_po_writes_nothing(demo, principal, make_po):
    po, other = make_po(), make_po(number="PO-T-2")
    before = db.session.query(ProgressReport).count()
    with pytest.raises(ValidationFailed) as exc:
        service.report_progress(principal("manager"), po, {"po_line_id": other.lines[0].id, "report_date": TODAY,
                                                           "units_produced": 1})
    assert "po_line_id" in exc.value.errors
    assert db.session.query(ProgressReport).count() == before


# -- issues -------------------------------------------------------------------------------------

def test_issue_flow_open_progress_resolved_verified(demo, principal, make_po):
    po = make_po()
    issue = service.create_issue(principal("reviewer"), po, {"type": "packaging_defect", "title": "Crushed"})
    with pytest.raises(Conflict):
        service.update_issue(principal("manager"), issue, po, {"status": "verified"})
    service.update_issue(principal("manager"), issue, po, {"status": "in_progress"})
    service.update_issue(principal("manager"), issue, po, {"status": "resolved"})
    with pytest.raises(Forbidden):
        service.update_issue(principal("manager"), issue, po, {"status": "verified"})
    service.update_issue(principal("reviewer"), issue, po, {"status": "verified"})
    assert issue.status == "verified" and issue.verified_at is not None


def test_wont_fix_needs_a_reason(demo, principal, make_po):
    po = make_po()
    issue = service.create_issue(principal("reviewer"), po, {"type": "other", "title": "Scuff on base"})
    with pytest.raises(ValidationFailed):
        service.update_issue(principal("reviewer"), issue, po, {"status": "wont_fix"})
    service.update_issue(principal("reviewer"), issue, po, {"status": "wont_fix", "wont_fix_reason": "Not visible"})
    assert issue.status == "wont_fix"


def test_failed_inspection_opens_one_quality_issue(demo, principal):
    insp = db.session.get(Inspection, demo("inspection:inline:A"))
    with pytest.raises(Conflict):
        service.issue_from_inspection(principal("reviewer"), insp.id)
    insp.verdict, insp.verdict_reasons = "fail", [{"message": "3 major defects, Ac 2"}]
    db.session.commit()
    issue, created = service.issue_from_inspection(principal("reviewer"), insp.id)
    again, created_again = service.issue_from_inspection(principal("manager"), insp.id)
    assert (created, created_again, again.id) == (True, False, issue.id)
    assert (issue.type, issue.batch_id, issue.description) == ("quality_failure", insp.batch_id, "3 major defects, Ac 2")


def test_alert_opens_an_issue_and_is_acknowledged(demo, principal, make_po):
    po = scheduled_po(make_po, principal, cutoff_in_days=12)
    alert = open_alerts(po)[("delay_risk", "production_completion")]
    issue, created = service.issue_from_alert(principal("reviewer"), alert, po)
    assert created and issue.alert_id == alert.id and issue.type == "partial_production_delay"
    assert alert.status == "acknowledged"


def test_issue_links_must_belong_to_the_po(demo, principal, make_po):
    po = make_po()
    with pytest.raises(ValidationFailed) as exc:
        service.create_issue(principal("reviewer"), po, {"type": "other", "title": "x",
                                                         "batch_id": demo("batch:A"),
                                                         "inspection_id": demo("inspection:inline:A")})
    assert set(exc.value.errors) == {"batch_id", "inspection_id"}
    assert db.session.query(Issue).filter_by(purchase_order_id=po.id).count() == 0


# -- freight ------------------------------------------------------------------------------------

def test_packing_list_cannot_be_completed_while_short(demo, principal, make_po):
    po = make_po(quantity=100)
    manager = principal("manager")
    shipment = service.create_shipment(manager, po, {"reference": "S1"})
    line = str(po.lines[0].id)
    service.replace_packing_list(manager, shipment, po, [
        {"carton_count": 9, "contents": [{"po_line_id": line, "units": 10}], "length_cm": 50, "width_cm": 40,
         "height_cm": 30, "gross_kg": 8}])
    with pytest.raises(Conflict):
        service.update_shipment(manager, shipment, po, {"packing_list_complete": True})
    service.replace_packing_list(manager, shipment, po, [
        {"carton_count": 10, "contents": [{"po_line_id": line, "units": 10}], "length_cm": 50, "width_cm": 40,
         "height_cm": 30, "gross_kg": 8}])
    service.update_shipment(manager, shipment, po, {"packing_list_complete": True})
    assert shipment.packing_list_completed_on == TODAY


def test_missing_documents_near_cutoff_raise_a_freight_alert(demo, principal, make_po):
    po = make_po(quantity=100)
    shipment = service.create_shipment(principal("manager"), po, {"reference": "S1",
                                                                  "cargo_cutoff": TODAY + timedelta(days=5)})
    kinds = {k for k, _ in open_alerts(po)}
    assert {"freight_documents", "freight_packing_list"} <= kinds
    assert "Certificate of origin" in open_alerts(po)[("freight_documents", "shipment:S1")].message
    assert [d.kind for d in shipment.documents][:3] == ["commercial_invoice", "packing_list", "certificate_of_origin"]


def test_document_upload_is_content_addressed(demo, principal, make_po, app):
    po = make_po(quantity=100)
    shipment = service.create_shipment(principal("manager"), po, {"reference": "S1"})
    doc = shipment.documents[0]
    data = b"%PDF-1.4 invoice"
    service.upload_document(principal("manager"), doc, po, io.BytesIO(data), "invoice.pdf", "application/pdf")
    import hashlib

    assert doc.storage_key == f"documents/{hashlib.sha256(data).hexdigest()}"
    assert doc.status == "uploaded" and doc.size_bytes == len(data)


# -- the PO view and the demo -------------------------------------------------------------------

def test_demo_po_forecast_flags_the_cutoff_before_it_is_missed(demo, principal):
    from server.catalog.models import PurchaseOrder

    po = db.session.get(PurchaseOrder, demo("po:42"))
    view = service.po_timeline(principal("reviewer"), po)
    assert view["forecast"]["completion_date"] > view["forecast"]["needed_by"] > TODAY
    assert view["attention"][0]["type"] == "alert"
    kinds = [m["kind"] for m in view["milestones"]]
    assert kinds == sorted(kinds, key=MILESTONE_KINDS.index)
    assert set(kinds) == set(MILESTONE_KINDS)
    assert ("issue_overdue", f"issue:{demo('timeline:issue:cartons')}") in open_alerts(po)


def test_refresh_alerts_command_reports_what_changed(demo, runner):
    r = runner.invoke(args=["refresh-alerts"])
    assert r.exit_code == 0, r.output
    assert "purchase orders" in r.output
