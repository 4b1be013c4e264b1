"""Golden sample pinned per PO: approving on one PO never replaces another PO's reference."""
from __future__ import annotations

import pytest

from server.catalog.models import GoldenSample, POLine, PurchaseOrder
from server.extensions import db
from server.inspect import service as inspect_service
from server.timeline import service
from tests.support.tenants import PASSWORD, make_other_tenant


@pytest.fixture
def as_manager(demo, login):
    return login("manager@demo.lineside.test", "demo-manager")


@pytest.fixture
def po_b(demo):
    """A second PO of the demo product (the tray), same brand and factory."""
    po = PurchaseOrder(brand_id=demo("org:brand"), factory_id=demo("org:factory"), po_number="PO-2026-0043",
                       status="open", destination="Rotterdam, NL")
    po.lines.append(POLine(product_id=demo("product:tray"), quantity=1000))
    db.session.add(po)
    db.session.commit()
    return po


def approve_on(principal, po, lab):
    sub = service.submit_golden_sample(principal("manager"), po, {
        "product_id": po.lines[0].product_id, "measured": {"lab": lab, "length_mm": 120.0, "width_mm": 80.0}})
    service.decide_golden_sample(principal("reviewer"), sub, po, "approve", "New shade")
    return db.session.get(GoldenSample, sub.golden_sample_id)


def new_inspection(principal, demo, po, kind="inline"):
    return inspect_service.create_inspection(principal("reviewer"), {
        "purchase_order_id": po.id, "kind": kind, "template_id": demo("template:tray:1")})


def versions(client, po_id, h):
    r = client.get(f"/api/v1/purchase-orders/{po_id}/golden-samples", headers=h)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_approving_on_one_po_keeps_the_other_pos_reference(client, demo, principal, po_b, as_reviewer):
    v1 = demo("golden:tray:1")
    v2 = approve_on(principal, db.session.get(PurchaseOrder, demo("po:42")), [60.0, -17.0, 11.0])
    assert v2.version == 2
    [b] = versions(client, po_b.id, as_reviewer)
    assert b["golden_sample"]["id"] == str(v1) and b["golden_sample"]["version"] == 1
    assert b["pinned"] is True and b["newer_version_available"] is True
    assert b["latest_approved"]["version"] == 2
    [a] = versions(client, demo("po:42"), as_reviewer)
    assert a["golden_sample"]["version"] == 2 and a["newer_version_available"] is False
    # New inspections follow each PO's own reference.
    assert new_inspection(principal, demo, po_b).golden_sample_id == v1
    assert new_inspection(principal, demo, db.session.get(PurchaseOrder, demo("po:42"))).golden_sample_id == v2.id
    timeline = client.get(f"/api/v1/purchase-orders/{po_b.id}/timeline", headers=as_reviewer).get_json()
    gs = next(m for m in timeline["milestones"] if m["kind"] == "golden_sample_approved")
    assert gs["details"]["golden_sample_version"] == 1


def test_a_po_moves_to_a_newer_version_only_when_it_chooses_it(client, demo, principal, po_b, as_reviewer):
    v2 = approve_on(principal, db.session.get(PurchaseOrder, demo("po:42")), [60.0, -17.0, 11.0])
    before = new_inspection(principal, demo, po_b)
    r = client.put(f"/api/v1/purchase-orders/{po_b.id}/golden-samples", headers=as_reviewer,
                   json={"product_id": str(demo("product:tray")), "golden_sample_id": str(v2.id),
                         "note": "Adopt the corrected shade"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()[0]["golden_sample"]["version"] == 2
    assert new_inspection(principal, demo, po_b).golden_sample_id == v2.id
    db.session.refresh(before)
    assert before.golden_sample_id == demo("golden:tray:1")  # earlier inspections keep their reference
    # And back to version 1 (superseded versions may be chosen too), for one line.
    r = client.put(f"/api/v1/purchase-orders/{po_b.id}/golden-samples", headers=as_reviewer,
                   json={"po_line_id": str(po_b.lines[0].id), "golden_sample_id": str(demo("golden:tray:1"))})
    assert r.status_code == 200 and r.get_json()[0]["golden_sample"]["version"] == 1


def test_a_product_level_approval_moves_no_po(client, demo, po_b, as_reviewer):
    r = client.post(f"/api/v1/products/{demo('product:tray')}/golden-samples", headers=as_reviewer,
                    json={"measured": {"lab": [61.0, -18.0, 12.0]}})
    assert r.status_code == 201, r.get_json()
    assert versions(client, po_b.id, as_reviewer)[0]["golden_sample"]["version"] == 1
    assert versions(client, demo("po:42"), as_reviewer)[0]["golden_sample"]["version"] == 1


def test_choosing_a_version_is_the_brands_and_must_fit_the_product(client, demo, principal, po_b, login,
                                                                   as_reviewer, as_manager):
    url = f"/api/v1/purchase-orders/{po_b.id}/golden-samples"
    body = {"product_id": str(demo("product:tray")), "golden_sample_id": str(demo("golden:tray:1"))}
    assert client.put(url, headers=as_manager, json=body).status_code == 403
    assert client.put(url, headers=as_reviewer, json={"golden_sample_id": body["golden_sample_id"]}).status_code == 422
    other = make_other_tenant()
    foreign = GoldenSample(product_id=other["product"], version=1, status="approved")
    rejected = GoldenSample(product_id=demo("product:tray"), version=9, status="rejected")
    db.session.add_all([foreign, rejected])
    db.session.commit()
    for gs in (foreign, rejected):
        r = client.put(url, headers=as_reviewer, json={**body, "golden_sample_id": str(gs.id)})
        assert r.status_code == 422 and "golden_sample_id" in r.get_json()["errors"]
    h = login("reviewer@other.test", PASSWORD)
    assert client.get(url, headers=h).status_code == 404
    assert client.put(url, headers=h, json=body).status_code == 404


def test_production_gate_accepts_a_pinned_superseded_version(demo, principal, po_b):
    approve_on(principal, db.session.get(PurchaseOrder, demo("po:42")), [60.0, -17.0, 11.0])
    assert service.products_without_golden_sample(po_b) == []
