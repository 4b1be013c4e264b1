"""Access matrix: each role × each endpoint × its own and another tenant's resource.

Another tenant's resource answers 404 — never its data, never a 403 that tells it exists.
A role that may read but not change answers 403 on its own tenant's resource.
"""
from __future__ import annotations

import pytest

from tests.support.snapshots import database_snapshot
from tests.support.tenants import PASSWORD, demo_ids, make_other_tenant

USERS = {
    "platform_admin": ("admin@demo.lineside.test", "demo-admin"),
    "reviewer": ("reviewer@demo.lineside.test", "demo-reviewer"),
    "inspector": ("inspector@demo.lineside.test", "demo-inspector"),
    "manager": ("manager@demo.lineside.test", "demo-manager"),
    "other_reviewer": ("reviewer@other.test", PASSWORD),
    "other_inspector": ("inspector@other.test", PASSWORD),
}

# (method, path template, body or None) -> which id the template takes
READS = [
    ("GET", "/api/v1/products/{product}"),
    ("GET", "/api/v1/products/{product}/golden-samples"),
    ("GET", "/api/v1/purchase-orders/{purchase_order}"),
    ("GET", "/api/v1/batches/{batch}"),
]
WRITES = [
    ("PATCH", "/api/v1/products/{product}", {"name": "Renamed"}),
    ("PATCH", "/api/v1/purchase-orders/{purchase_order}", {"destination": "Hamburg"}),
    ("POST", "/api/v1/products/{product}/golden-samples", {"measured": {"lab": [50, 0, 0]}}),
]

# Who reads the demo tenant's rows: everyone in it; nobody from the other tenant.
READ_OWN = {"platform_admin": 200, "reviewer": 200, "inspector": 200, "manager": 200,
            "other_reviewer": 404, "other_inspector": 404}
# Who changes the demo brand's setup data: its admins and reviewers only.
WRITE_OWN = {"platform_admin": (200, 201), "reviewer": (200, 201), "inspector": (403,), "manager": (403,),
             "other_reviewer": (404,), "other_inspector": (404,)}


@pytest.fixture
def world(demo, app):
    return {"own": demo_ids(), "other": make_other_tenant()}


@pytest.fixture
def headers_for(world, login):
    cache = {}

    def _h(who):
        if who not in cache:
            cache[who] = login(*USERS[who])
        return cache[who]

    return _h


@pytest.mark.parametrize("who", list(USERS))
@pytest.mark.parametrize("method,path", READS)
def test_reads_stay_inside_the_tenant(client, world, headers_for, who, method, path):
    own = client.open(path.format(**world["own"]), method=method, headers=headers_for(who))
    assert own.status_code == READ_OWN[who], own.get_json()
    other = client.open(path.format(**world["other"]), method=method, headers=headers_for(who))
    # The other tenant's people read their own rows: its inspector through the inspection assigned to them.
    expected_other = 200 if who in ("platform_admin", "other_reviewer", "other_inspector") else 404
    assert other.status_code == expected_other, other.get_json()
    if other.status_code == 404:
        assert "Other" not in other.get_data(as_text=True)


@pytest.mark.parametrize("who", list(USERS))
@pytest.mark.parametrize("method,path,body", WRITES)
def test_writes_need_the_brand_role_and_the_tenant(client, world, headers_for, who, method, path, body):
    headers = headers_for(who)
    before = database_snapshot()
    r = client.open(path.format(**world["own"]), method=method, json=body, headers=headers)
    assert r.status_code in WRITE_OWN[who], r.get_json()
    # A refused write created and changed nothing; an allowed one did change something.
    assert (database_snapshot() == before) is (r.status_code >= 400)


@pytest.mark.parametrize("who", ["reviewer", "inspector", "manager", "other_reviewer"])
def test_lists_show_only_the_tenants_rows(client, world, headers_for, who):
    h = headers_for(who)
    own_po = str(world["own"]["purchase_order"])
    other_po = str(world["other"]["purchase_order"])
    pos = {p["id"] for p in client.get("/api/v1/purchase-orders", headers=h).get_json()}
    products = {p["sku"] for p in client.get("/api/v1/products", headers=h).get_json()}
    batches = {b["code"] for b in client.get("/api/v1/batches", headers=h).get_json()}
    if who == "other_reviewer":
        assert pos == {other_po} and products == {"OTHER-1"} and batches == {"O-1"}
    else:
        assert pos == {own_po} and products == {"TRAY-120-SAGE"} and batches == {"LOT-A", "LOT-B"}


def test_brand_user_cannot_create_rows_for_another_brand(client, world, headers_for):
    r = client.post("/api/v1/products", headers=headers_for("reviewer"),
                    json={"brand_id": str(world["other"]["brand"]), "sku": "X-1", "name": "Sneaky"})
    assert r.status_code == 404
    r = client.post("/api/v1/purchase-orders", headers=headers_for("reviewer"),
                    json={"brand_id": str(world["own"]["brand"]), "factory_id": str(world["own"]["factory"]),
                          "po_number": "PO-X", "lines": [{"product_id": str(world["other"]["product"]),
                                                          "quantity": 5}]})
    assert r.status_code == 422 and "lines" in r.get_json()["errors"]


def test_only_a_platform_admin_creates_organisations(client, world, headers_for):
    body = {"name": "New Brand", "kind": "brand", "slug": "new-brand"}
    assert client.post("/api/v1/organisations", json=body, headers=headers_for("reviewer")).status_code == 403
    assert client.post("/api/v1/organisations", json=body, headers=headers_for("platform_admin")).status_code == 201


def test_users_list_is_limited_to_administered_organisations(client, world, headers_for):
    assert client.get("/api/v1/users", headers=headers_for("reviewer")).status_code == 403
    emails = {u["email"] for u in client.get("/api/v1/users", headers=headers_for("platform_admin")).get_json()}
    assert "reviewer@other.test" in emails


def test_factory_manager_creates_batches_for_own_factory_only(client, world, headers_for):
    h = headers_for("manager")
    ok = client.post("/api/v1/batches", headers=h, json={"po_line_id": str(world["own"]["po_line"]), "code": "LOT-C",
                                                         "lot_size": 500})
    assert ok.status_code == 201
    no = client.post("/api/v1/batches", headers=h, json={"po_line_id": str(world["other"]["po_line"]),
                                                         "code": "LOT-Z", "lot_size": 500})
    assert no.status_code == 422


# Reads across the domain packages. Another tenant's row must answer 404 (or 403 for a role that
# may never use the endpoint) and must not leak; the owning brand's reviewer reads its own.
DOMAIN_READS = [
    ("/api/v1/checklist-templates/{template}", 200),
    ("/api/v1/inspections/{inspection}", 200),
    ("/api/v1/inspections/{inspection}/audit", 200),
    ("/api/v1/inspections/{inspection}/report", 200),
    ("/api/v1/inspections/{inspection}/measurements/summary", 200),
    ("/api/v1/inspections/{inspection}/measurements.csv", 200),
    ("/api/v1/purchase-orders/{purchase_order}/timeline", 200),
    ("/api/v1/review/batches/{batch}/drift", 200),
    ("/api/v1/review/photos/{photo}", 200),
    ("/api/v1/blobs/{photo}/download", 409),  # own photo declared but not uploaded yet
    ("/api/v1/sync/conflicts?inspection_id={inspection}", 200),
]


@pytest.mark.parametrize("who", ["reviewer", "inspector", "manager", "other_inspector"])
@pytest.mark.parametrize("path,own_status", DOMAIN_READS)
def test_domain_reads_never_cross_tenants(client, world, headers_for, who, path, own_status):
    h = headers_for(who)
    other_tenant = "other" if who != "other_inspector" else "own"
    r = client.get(path.format(**world[other_tenant]), headers=h)
    assert r.status_code in (403, 404), (path, who, r.status_code)
    body = r.get_data(as_text=True)
    assert "OTHER-PO-1" not in body and "PO-2026-0042" not in body and "Other checklist" not in body
    if who == "reviewer":
        own = client.get(path.format(**world["own"]), headers=h)
        assert own.status_code == own_status, (path, own.get_data(as_text=True)[:300])
