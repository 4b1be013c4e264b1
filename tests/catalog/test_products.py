"""Products keep the dimension specs and colour standards they are created or changed with."""
from __future__ import annotations

import pytest

from tests.support.tenants import demo_ids

SPECS = [{"name": "length", "nominal_mm": 120.0, "tolerance_mm": 1.5},
         {"name": "width", "nominal_mm": 80.0, "tolerance_mm": 1.0}]
COLOURS = [{"name": "body", "lab": [62.0, -12.5, 18.0], "delta_e_tolerance": 2.5}]


def _create(client, headers, sku="NEW-1", **extra):
    body = {"brand_id": str(demo_ids()["brand"]), "sku": sku, "name": "New tray", **extra}
    return client.post("/api/v1/products", json=body, headers=headers)


def test_created_product_keeps_its_specs_and_colours(client, as_reviewer):
    r = _create(client, as_reviewer, dimension_specs=SPECS, colour_standards=COLOURS)
    assert r.status_code == 201, r.get_json()
    stored = client.get(f"/api/v1/products/{r.get_json()['id']}", headers=as_reviewer).get_json()
    assert [(d["name"], d["nominal_mm"], d["tolerance_mm"]) for d in stored["dimension_specs"]] == [
        ("length", 120.0, 1.5), ("width", 80.0, 1.0)]
    assert [(c["name"], c["lab"], c["delta_e_tolerance"]) for c in stored["colour_standards"]] == [
        ("body", [62.0, -12.5, 18.0], 2.5)]
    assert r.get_json()["dimension_specs"] == stored["dimension_specs"]


def test_patch_replaces_specs_and_colours(client, as_reviewer):
    pid = _create(client, as_reviewer, dimension_specs=SPECS, colour_standards=COLOURS).get_json()["id"]
    r = client.patch(f"/api/v1/products/{pid}", headers=as_reviewer, json={
        "dimension_specs": [{"name": "width", "nominal_mm": 81.0, "tolerance_mm": 0.5},
                            {"name": "height", "nominal_mm": 30.0, "tolerance_mm": 0.8}],
        "colour_standards": [{"name": "lid", "lab": [40.0, 2.0, -3.0]}]})
    assert r.status_code == 200, r.get_json()
    stored = client.get(f"/api/v1/products/{pid}", headers=as_reviewer).get_json()
    live = {d["name"]: (d["nominal_mm"], d["tolerance_mm"]) for d in stored["dimension_specs"]}
    assert live == {"width": (81.0, 0.5), "height": (30.0, 0.8)}
    assert {c["name"]: c["lab"] for c in stored["colour_standards"]} == {"lid": [40.0, 2.0, -3.0]}


def test_patch_adds_specs_to_a_product_created_without(client, as_reviewer):
    pid = _create(client, as_reviewer).get_json()["id"]
    r = client.patch(f"/api/v1/products/{pid}", headers=as_reviewer, json={"dimension_specs": SPECS[:1]})
    assert r.status_code == 200, r.get_json()
    stored = client.get(f"/api/v1/products/{pid}", headers=as_reviewer).get_json()
    assert [d["name"] for d in stored["dimension_specs"]] == ["length"]


@pytest.mark.parametrize("field,value", [("dimension_specs", SPECS + SPECS[:1]),
                                         ("colour_standards", COLOURS + COLOURS)])
def test_duplicate_names_are_refused_and_nothing_is_written(client, as_reviewer, field, value):
    r = _create(client, as_reviewer, sku="DUP-1", **{field: value})
    assert r.status_code == 422 and field in r.get_json()["errors"]
    listed = client.get("/api/v1/products?sku=DUP-1", headers=as_reviewer).get_json()
    assert listed == []
