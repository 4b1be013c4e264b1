"""Quality dashboard: each figure against a fixture computed by hand, filters, tenancy, CSV and SVG."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest

from server.extensions import db
from server.inspect.models import Defect, Inspection
from server.models import utcnow
from server.timeline.service import today_utc
from tests.support.tenants import PASSWORD, make_other_tenant

TODAY = today_utc()


@pytest.fixture
def as_manager(demo, login):
    return login("manager@demo.lineside.test", "demo-manager")


@pytest.fixture
def fixture_inspections(demo):
    """Three signed-off final inspections of the demo PO (lots of 2,500: ISO 2859-1 letter K, n = 125).

    LOT-A: failed first (3 scratches major, 1 dent minor), passed on re-inspection (1 scratch major).
    LOT-B: passed first time, no defect. Hand-computed: 3 inspections, 2 passed (66.67 %), first-time
    pass 1 of 2 lots (50 %), 5 defects in 375 sampled units = 1.33 per 100; Pareto scratch/major 4
    (80 %), dent/minor 1 (100 % cumulative).
    """
    base = db.session.get(Inspection, demo("inspection:final:B"))

    def make(batch, verdict, days_ago, defects):
        insp = Inspection(id=uuid.uuid4(), kind="final", purchase_order_id=base.purchase_order_id,
                          batch_id=demo(f"batch:{batch}"), product_id=base.product_id, template_id=base.template_id,
                          inspector_id=base.inspector_id, status="signed_off", verdict=verdict, verdict_reasons=[],
                          lot_size=2500, inspection_level="II", severity="normal", aql=base.aql,
                          signed_off_at=utcnow() - timedelta(days=days_ago))
        db.session.add(insp)
        db.session.flush()
        for code, cls, n in defects:
            db.session.add(Defect(id=uuid.uuid4(), inspection_id=insp.id, code=code, defect_class=cls, count=n))
        return insp

    rows = [make("A", "fail", 5, [("scratch", "major", 3), ("dent", "minor", 1)]),
            make("A", "pass", 3, [("scratch", "major", 1)]),
            make("B", "pass", 2, [])]
    db.session.commit()
    return rows


def get(client, h, **query):
    r = client.get("/api/v1/dashboard/quality", headers=h, query_string=query)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_figures_match_the_hand_computed_fixture(client, demo, as_reviewer, fixture_inspections):
    body = get(client, as_reviewer, brand_id=str(demo("org:brand")))
    s = body["summary"]
    assert (s["inspections"], s["passed"], s["pass_rate"]) == (3, 2, 0.6667)
    assert (s["first_time_lots"], s["first_time_passed"], s["first_time_pass_rate"]) == (2, 1, 0.5)
    assert (s["units_sampled"], s["defects"], s["defects_per_100_units"]) == (375, 5, 1.33)
    assert body["pareto"] == [
        {"code": "scratch", "defect_class": "major", "count": 4, "share": 0.8, "cumulative_share": 0.8},
        {"code": "dent", "defect_class": "minor", "count": 1, "share": 0.2, "cumulative_share": 1.0}]
    # The demo PO has one open issue (the packaging issue) plus none other open: its age is known.
    assert s["open_issues"] == 1 and s["open_issue_max_age_days"] == 0
    [factory] = body["factory_scorecard"]
    assert factory["factory_id"] == str(demo("org:factory")) and factory["inspections"] == 3
    assert factory["first_time_pass_rate"] == 0.5 and factory["open_issues"] == 1


def test_period_and_filters_narrow_the_figures(client, demo, as_reviewer, fixture_inspections):
    recent = get(client, as_reviewer, **{"from": (TODAY - timedelta(days=3)).isoformat(), "to": TODAY.isoformat()})
    s = recent["summary"]
    assert (s["inspections"], s["passed"], s["defects"], s["first_time_pass_rate"]) == (2, 2, 1, 1.0)
    other_product = get(client, as_reviewer, product_id=str(uuid.uuid4()))["summary"]
    assert other_product["inspections"] == 0 and other_product["pass_rate"] is None
    r = client.get("/api/v1/dashboard/quality", headers=as_reviewer,
                   query_string={"from": TODAY.isoformat(), "to": (TODAY - timedelta(days=1)).isoformat()})
    assert r.status_code == 422


def test_tenancy_roles_csv_and_svg(client, demo, as_reviewer, as_manager, as_inspector, login, fixture_inspections):
    assert get(client, as_manager)["summary"]["inspections"] == 3  # the factory sees its own scorecard
    assert client.get("/api/v1/dashboard/quality", headers=as_inspector).status_code == 403
    make_other_tenant()
    other = get(client, login("reviewer@other.test", PASSWORD), brand_id=str(demo("org:brand")))
    assert other["summary"]["inspections"] == 0 and other["pareto"] == []
    r = client.get("/api/v1/dashboard/quality", headers=as_reviewer, query_string={"format": "csv", "table": "pareto"})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [(x["code"], x["count"]) for x in rows] == [("scratch", "4"), ("dent", "1")]
    svg = client.get("/api/v1/dashboard/quality/pareto.svg", headers=as_reviewer)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    text = svg.get_data(as_text=True)
    assert text.startswith("<svg") and "scratch (major)" in text and text.count("<rect") == 2


def test_on_time_milestones_and_shipments(client, demo, as_reviewer):
    """Demo milestones set by hand: production start on its planned day (on time), production
    scheduled a day after plan (late). Shipments added here: one departed after its ETD, one before."""
    from server.timeline.models import Shipment

    db.session.add_all([
        Shipment(purchase_order_id=demo("po:42"), reference="S-LATE", etd=TODAY - timedelta(days=3),
                 departed_on=TODAY - timedelta(days=1)),
        Shipment(purchase_order_id=demo("po:42"), reference="S-EARLY", etd=TODAY - timedelta(days=1),
                 departed_on=TODAY - timedelta(days=2))])
    db.session.commit()
    s = get(client, as_reviewer)["summary"]
    assert (s["milestones_done"], s["milestones_on_time"], s["on_time_milestone_rate"]) == (2, 1, 0.5)
    assert (s["shipments_departed"], s["shipments_on_time"], s["on_time_shipment_rate"]) == (2, 1, 0.5)
    recent = get(client, as_reviewer, **{"from": (TODAY - timedelta(days=1)).isoformat()})["summary"]
    assert (recent["milestones_done"], recent["shipments_departed"], recent["shipments_on_time"]) == (0, 1, 0)
