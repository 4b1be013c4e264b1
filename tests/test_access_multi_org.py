"""Users of several organisations: a role counts only in the organisation that granted it.

Each user below holds a different role in two organisations of the same kind: in the demo
tenant and in the other one. Every operation is checked in both tenants. A read must answer
exactly what a user with only that one membership gets; a write is allowed only where the
role held in that organisation allows it, and a refused write leaves the database as it was.
"""
from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select

from server.accounts.models import Organisation, Role
from server.accounts.service import add_membership, create_user
from server.extensions import db
from tests.support.snapshots import database_snapshot
from tests.support.tenants import PASSWORD, demo_ids, make_other_tenant

TENANTS = ("own", "other")
# user -> {tenant: (organisation kind, role in that tenant's organisation of that kind)}
SPLIT_USERS = {
    "manager_here_inspector_there": {"own": ("factory", Role.factory_manager), "other": ("factory", Role.inspector)},
    "inspector_here_manager_there": {"own": ("factory", Role.inspector), "other": ("factory", Role.factory_manager)},
    "reviewer_here_inspector_there": {"own": ("brand", Role.brand_reviewer), "other": ("brand", Role.inspector)},
    "inspector_here_reviewer_there": {"own": ("brand", Role.inspector), "other": ("brand", Role.brand_reviewer)},
}

READS = [
    "/api/v1/products/{product}",
    "/api/v1/products/{product}/golden-samples",
    "/api/v1/purchase-orders/{purchase_order}",
    "/api/v1/batches/{batch}",
    "/api/v1/checklist-templates/{template}",
    "/api/v1/inspections/{inspection}",
    "/api/v1/inspections/{inspection}/audit",
    "/api/v1/inspections/{inspection}/report",
    "/api/v1/inspections/{inspection}/measurements/summary",
    "/api/v1/inspections/{inspection}/measurements.csv",
    "/api/v1/inspections/{inspection}/share-links",
    "/api/v1/purchase-orders/{purchase_order}/timeline",
    "/api/v1/purchase-orders/{purchase_order}/schedule",
    "/api/v1/purchase-orders/{purchase_order}/alerts",
    "/api/v1/purchase-orders/{purchase_order}/issues",
    "/api/v1/shipments/{shipment}",
    "/api/v1/shipments/{shipment}/gate",
    "/api/v1/documents/{document}/file",
    "/api/v1/review/batches/{batch}/drift",
    "/api/v1/review/photos/{photo}",
    "/api/v1/blobs/{photo}/download",
    "/api/v1/sync/conflicts?inspection_id={inspection}",
]

BRAND_EDITOR, FACTORY_MANAGER = "brand_editor", "factory_manager"
# (method, path, body, who may) — body may use the tenant's ids
WRITES = [
    ("PATCH", "/api/v1/products/{product}", {"name": "Renamed"}, {BRAND_EDITOR}),
    ("POST", "/api/v1/products/{product}/golden-samples", {"measured": {"lab": [50, 0, 0]}}, {BRAND_EDITOR}),
    ("PATCH", "/api/v1/purchase-orders/{purchase_order}", {"destination": "Hamburg"}, {BRAND_EDITOR}),
    ("POST", "/api/v1/inspections/{inspection}/verdict-override", {"verdict": "fail", "reason": "Seen at the dock"},
     {BRAND_EDITOR}),
    ("POST", "/api/v1/inspections/{inspection}/share-links", {}, {BRAND_EDITOR}),
    ("POST", "/api/v1/review/webhooks", {"brand_id": "{brand}", "url": "http://127.0.0.1:9/hook",
                                         "event_types": ["drift.alert.opened"]}, {BRAND_EDITOR}),
    ("PUT", "/api/v1/purchase-orders/{purchase_order}/schedule", {"production_line": "Line 9"},
     {BRAND_EDITOR, FACTORY_MANAGER}),
    ("PATCH", "/api/v1/shipments/{shipment}", {"vessel": "Somebody Else"}, {BRAND_EDITOR, FACTORY_MANAGER}),
    ("POST", "/api/v1/batches", {"po_line_id": "{po_line}", "code": "LOT-NEW", "lot_size": 50},
     {BRAND_EDITOR, FACTORY_MANAGER}),
]


def _capability(kind: str, role: Role) -> str | None:
    if kind == "brand" and role in (Role.admin, Role.brand_reviewer):
        return BRAND_EDITOR
    if kind == "factory" and role in (Role.admin, Role.factory_manager):
        return FACTORY_MANAGER
    return None


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WEBHOOK_ALLOW_PRIVATE": True}


def _add_shipment(po_id: uuid.UUID) -> dict[str, uuid.UUID]:
    from server.timeline.models import ExportDocument, ProductionSchedule, Shipment

    shipment = Shipment(purchase_order_id=po_id, reference="OTHER-SHP-1", etd=date.today())
    shipment.documents = [ExportDocument(kind="commercial_invoice", title="Commercial invoice")]
    db.session.add_all([shipment, ProductionSchedule(purchase_order_id=po_id, production_line="Other line")])
    db.session.flush()
    return {"shipment": shipment.id, "document": shipment.documents[0].id}


@pytest.fixture
def world(demo, app):
    from server.timeline.models import ExportDocument

    own, other = demo_ids(), make_other_tenant()
    own["shipment"] = demo("timeline:shipment:1")
    own["document"] = db.session.scalar(select(ExportDocument.id).where(ExportDocument.shipment_id == own["shipment"])
                                        .order_by(ExportDocument.position))
    other.update(_add_shipment(other["purchase_order"]))
    world = {"own": own, "other": other}
    orgs = {t: {"brand": db.session.get(Organisation, world[t]["brand"]),
                "factory": db.session.get(Organisation, world[t]["factory"])} for t in TENANTS}
    # The split users, and for comparison one user per (tenant, kind, role) with that membership only.
    for name, roles in SPLIT_USERS.items():
        user = create_user(f"{name}@multi.test", PASSWORD, name)
        for tenant, (kind, role) in roles.items():
            add_membership(user, orgs[tenant][kind], role)
    for tenant in TENANTS:
        for kind, role in {r for roles in SPLIT_USERS.values() for r in roles.values()}:
            user = create_user(f"only-{tenant}-{kind}-{role.value}@multi.test", PASSWORD, "single")
            add_membership(user, orgs[tenant][kind], role)
    db.session.commit()
    return world


@pytest.fixture
def headers_for(world, login):
    cache: dict[str, dict] = {}

    def _h(email: str) -> dict:
        if email not in cache:
            cache[email] = login(email, PASSWORD)
        return cache[email]

    return _h


def _fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize("user", list(SPLIT_USERS))
def test_reads_answer_what_that_organisations_role_alone_allows(client, world, headers_for, user, tenant):
    kind, role = SPLIT_USERS[user][tenant]
    single = headers_for(f"only-{tenant}-{kind}-{role.value}@multi.test")
    split = headers_for(f"{user}@multi.test")
    answers = {}
    for path in READS:
        url = path.format(**world[tenant])
        want, got = client.get(url, headers=single), client.get(url, headers=split)
        # Refusals may differ in kind: 404 where the row is outside every organisation the user reviews
        # or manages for, 403 where the user holds no such role anywhere. Neither shows the row.
        refused = {403, 404}
        assert got.status_code == want.status_code or {got.status_code, want.status_code} <= refused, (
            url, want.status_code, got.get_data(as_text=True)[:300])
        if want.status_code == 200 and want.mimetype == "application/json":
            assert _ids(got.get_json()) == _ids(want.get_json()), url
        answers[path] = got.status_code
    # The comparison is not vacuous: what each role may read of its own organisation.
    inspection = answers["/api/v1/inspections/{inspection}"]
    if kind == "brand":
        assert answers["/api/v1/products/{product}"] == 200 and inspection == 200
    elif role == Role.factory_manager:
        assert answers["/api/v1/inspections/{inspection}/report"] == 200 and answers["/api/v1/shipments/{shipment}"] == 200
    else:  # an inspector of the factory with no inspection assigned sees none of its POs, reports, photos, papers
        assert {answers[p] for p in READS if "{inspection}" in p or "{photo}" in p or "{document}" in p
                or "{shipment}" in p or "{purchase_order}" in p} <= {403, 404}


def _ids(body):
    """The ids in an answer (its shape, not its timestamps)."""
    if isinstance(body, dict):
        return sorted({str(v) for k, v in body.items() if k == "id"} | {i for v in body.values() for i in _ids(v)})
    if isinstance(body, list):
        return sorted({i for v in body for i in _ids(v)})
    return []


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize("user", list(SPLIT_USERS))
@pytest.mark.parametrize("method,path,body,allowed", WRITES, ids=[f"{w[0]} {w[1]}" for w in WRITES])
def test_writes_need_the_role_in_that_organisation(client, world, headers_for, user, tenant, method, path, body,
                                                   allowed):
    kind, role = SPLIT_USERS[user][tenant]
    ids = world[tenant]
    before = database_snapshot()
    r = client.open(path.format(**ids), method=method, json=_fill(body, ids), headers=headers_for(f"{user}@multi.test"))
    if _capability(kind, role) in allowed:
        assert r.status_code in (200, 201), r.get_json()
        assert database_snapshot() != before
    else:
        # 422: a row named in the body (the PO line of a batch) is one the user may not see.
        assert r.status_code in (403, 404, 422), r.get_json()
        assert database_snapshot() == before
