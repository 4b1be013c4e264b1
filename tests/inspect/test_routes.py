"""The inspection API end to end: create and assign, rows, verdict, override, sign-off, audit, sync push."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from server.accounts.models import OrgKind, Organisation, Role
from server.accounts.service import add_membership, create_user
from server.extensions import db
from server.inspect.models import Inspection, Measurement

API = "/api/v1"


def other_brand_headers(client, login) -> dict[str, str]:
    """Sign-in headers of a reviewer of another brand (a different tenant)."""
    org = Organisation(name="Other Brand", slug="other-brand", kind=OrgKind.brand)
    db.session.add(org)
    user = create_user("rival@other.test", "rival-password", "Rival Reviewer")
    add_membership(user, org, Role.brand_reviewer)
    db.session.commit()
    return login("rival@other.test", "rival-password")


def other_factory_inspector(login):
    org = Organisation(name="Other Factory", slug="other-factory", kind=OrgKind.factory)
    db.session.add(org)
    user = create_user("insp@other.test", "other-password", "Otto Other")
    add_membership(user, org, Role.inspector)
    db.session.commit()
    return user, login("insp@other.test", "other-password")


@pytest.fixture
def new_inspection(client, as_reviewer, demo):
    """Create and assign a final inspection of lot B through the API; returns its JSON."""
    r = client.post(f"{API}/inspections", json={
        "kind": "final", "purchase_order_id": str(demo("po:42")), "batch_id": str(demo("batch:B")),
        "template_id": str(demo("template:tray:1")), "inspector_id": str(demo("user:inspector"))},
        headers=as_reviewer)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _detail(client, headers, insp_id):
    r = client.get(f"{API}/inspections/{insp_id}", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_reviewer_creates_and_assigns_an_inspection_with_its_plan(client, as_reviewer, new_inspection, demo):
    assert new_inspection["lot_size"] == 2500 and new_inspection["severity"] == "normal"
    assert new_inspection["aql"] == {"critical": 0, "major": 2.5, "minor": 4.0}
    d = _detail(client, as_reviewer, new_inspection["id"])
    assert d["plans"]["major"] == {"lot_size": 2500, "aql": "2.5", "level": "II", "inspection": "normal",
                                   "lot_code_letter": "K", "code_letter": "K", "sample_size": 125,
                                   "accept": 7, "reject": 8, "whole_lot": False}
    assert d["template"]["version"] == 1 and d["verdict"] == "pending"


def test_assigning_an_inspector_of_another_factory_is_refused(client, as_reviewer, demo, login):
    outsider, _ = other_factory_inspector(login)
    before = db.session.scalar(select(func.count()).select_from(Inspection))
    r = client.post(f"{API}/inspections", json={
        "kind": "final", "purchase_order_id": str(demo("po:42")), "template_id": str(demo("template:tray:1")),
        "inspector_id": str(outsider.id)}, headers=as_reviewer)
    assert r.status_code == 422 and "inspector_id" in r.get_json()["errors"]
    assert db.session.scalar(select(func.count()).select_from(Inspection)) == before


def test_inspector_cannot_create_inspections(client, as_inspector, demo):
    before = db.session.scalar(select(func.count()).select_from(Inspection))
    r = client.post(f"{API}/inspections", json={"kind": "final", "purchase_order_id": str(demo("po:42")),
                                                 "template_id": str(demo("template:tray:1"))}, headers=as_inspector)
    assert r.status_code == 403 and r.get_json()["code"] == "forbidden", r.get_json()
    assert db.session.scalar(select(func.count()).select_from(Inspection)) == before


def test_switching_state_of_another_brands_product_is_404_like_a_missing_one(client, demo, login):
    from tests.support.tenants import make_other_tenant

    other = make_other_tenant()
    manager = login("manager@demo.lineside.test", "demo-manager")
    query = {"factory_id": str(demo("org:factory"))}
    own = client.get(f"{API}/switching-state", query_string={**query, "product_id": str(demo("product:tray"))},
                     headers=manager)
    assert own.status_code == 200
    theirs = client.get(f"{API}/switching-state", query_string={**query, "product_id": str(other["product"])},
                        headers=manager)
    missing = client.get(f"{API}/switching-state", query_string={**query, "product_id": new_uuid()},
                         headers=manager)
    assert (theirs.status_code, missing.status_code) == (404, 404)
    # Everything but the request's own id is the same: nothing tells the two apart.
    a, b = dict(theirs.get_json()), dict(missing.get_json())
    assert a.pop("request_id") != b.pop("request_id")
    assert a == b


def test_another_brands_inspection_is_not_found(client, login, demo):
    headers = other_brand_headers(client, login)
    assert client.get(f"{API}/inspections/{demo('inspection:inline:A')}", headers=headers).status_code == 404
    assert client.get(f"{API}/inspections", headers=headers).get_json() == []
    assert client.get(f"{API}/inspections/{demo('inspection:inline:A')}/report", headers=headers).status_code == 404


def test_list_filters_by_status_and_batch(client, as_reviewer, demo):
    r = client.get(f"{API}/inspections", query_string={"status": "submitted"}, headers=as_reviewer)
    assert [i["id"] for i in r.get_json()] == [str(demo("inspection:inline:A"))]
    r = client.get(f"{API}/inspections", query_string={"batch_id": str(demo("batch:B"))}, headers=as_reviewer)
    assert [i["id"] for i in r.get_json()] == [str(demo("inspection:final:B"))]


def test_inspector_sees_only_their_inspections(client, as_inspector, demo, login):
    _, other = other_factory_inspector(login)
    assert len(client.get(f"{API}/inspections", headers=as_inspector).get_json()) == 2
    assert client.get(f"{API}/inspections", headers=other).get_json() == []


def test_measurement_through_the_api_is_converted_and_summarised(client, as_inspector, demo):
    iid = demo("inspection:final:B")
    r = client.post(f"{API}/inspections/{iid}/measurements", json={
        "dimension_spec_id": str(demo("spec:length")), "unit_index": 0, "value_entered": 4.8, "unit_entered": "in"},
        headers=as_inspector)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["value_si"] == pytest.approx(121.92) and r.get_json()["in_tolerance"] is False
    summary = client.get(f"{API}/inspections/{iid}/measurements/summary", headers=as_inspector).get_json()
    length = next(s for s in summary if s["name"] == "length")
    assert length["count"] == 1 and length["out_of_tolerance"] == 1 and length["mean"] == pytest.approx(121.92)


def test_bad_measurement_is_422_and_writes_nothing(client, as_inspector, demo):
    iid = demo("inspection:final:B")
    r = client.post(f"{API}/inspections/{iid}/measurements", json={
        "dimension_spec_id": str(demo("spec:length")), "unit_index": 0, "value_entered": 4.8, "unit_entered": "lb"},
        headers=as_inspector)
    assert r.status_code == 422 and "unit_entered" in r.get_json()["errors"]
    assert db.session.scalar(select(func.count()).select_from(Measurement).where(
        Measurement.inspection_id == iid)) == 0


def test_critical_defect_fails_the_inspection_with_a_reason(client, as_inspector, as_reviewer, demo):
    iid = demo("inspection:final:B")
    r = client.post(f"{API}/inspections/{iid}/defects", json={"code": "sharp_edge", "unit_index": 4},
                    headers=as_inspector)
    assert r.status_code == 201 and r.get_json()["defect_class"] == "critical"
    d = _detail(client, as_reviewer, iid)
    assert d["verdict"] == "fail" and d["final_verdict"] == "fail"
    assert d["verdict_reasons"] == ["critical: 1 found, rejected at 1 (Ac 0, Re 1, n 125)"]
    # deleting the defect recomputes the verdict
    client.delete(f"{API}/inspections/{iid}/defects/{r.get_json()['id']}", headers=as_inspector)
    assert _detail(client, as_reviewer, iid)["verdict"] == "pending"


def test_reviewer_overrides_the_verdict_with_a_recorded_reason(client, as_reviewer, as_inspector, demo):
    iid = demo("inspection:inline:A")
    r = client.post(f"{API}/inspections/{iid}/verdict-override", json={"verdict": "fail", "reason": "Chip is on the "
                                                                      "food contact surface"}, headers=as_reviewer)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["final_verdict"] == "fail" and r.get_json()["verdict"] == "pass"
    audit = client.get(f"{API}/inspections/{iid}/audit", headers=as_reviewer).get_json()
    override = [e for e in audit if e["action"] == "override"]
    assert override and override[0]["user_id"] == str(demo("user:reviewer"))
    assert override[0]["changes"]["verdict_override"][1]["reason"].startswith("Chip")


def test_inspector_cannot_override_the_verdict(client, as_inspector, demo):
    r = client.post(f"{API}/inspections/{demo('inspection:inline:A')}/verdict-override",
                    json={"verdict": "pass", "reason": "Looks fine to me"}, headers=as_inspector)
    assert r.status_code == 403


def test_override_without_a_reason_is_refused(client, as_reviewer, demo):
    r = client.post(f"{API}/inspections/{demo('inspection:inline:A')}/verdict-override", json={"verdict": "pass"},
                    headers=as_reviewer)
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]["json"]


def test_sign_off_freezes_the_inspection_and_records_the_lot(client, as_inspector, as_reviewer, demo):
    iid = demo("inspection:inline:A")
    r = client.post(f"{API}/inspections/{iid}/sign-off", headers=as_inspector)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "signed_off" and r.get_json()["signed_off_at"]
    r = client.post(f"{API}/inspections/{iid}/defects", json={"code": "scratch"}, headers=as_inspector)
    assert r.status_code == 422
    state = client.get(f"{API}/switching-state", query_string={"product_id": str(demo("product:tray")),
                                                               "factory_id": str(demo("org:factory"))},
                       headers=as_reviewer).get_json()
    assert state["inspection"] == "normal" and state["state"]["lots"] == 1
    assert state["history"][0]["inspection_id"] == str(iid) and state["history"][0]["accepted"] is True


def test_reviewer_reassigns_and_the_audit_says_so(client, as_reviewer, demo):
    iid = demo("inspection:final:B")
    r = client.patch(f"{API}/inspections/{iid}", json={"inspector_id": str(demo("user:manager"))}, headers=as_reviewer)
    assert r.status_code == 200, r.get_json()
    audit = client.get(f"{API}/inspections/{iid}/audit", headers=as_reviewer).get_json()
    assert audit[-1]["action"] == "assign"
    assert audit[-1]["changes"]["inspector_id"] == [str(demo("user:inspector")), str(demo("user:manager"))]


def test_audit_is_for_the_brand_and_managers_not_inspectors(client, as_inspector, login, demo):
    iid = demo("inspection:inline:A")
    assert client.get(f"{API}/inspections/{iid}/audit", headers=as_inspector).status_code == 403
    manager = login("manager@demo.lineside.test", "demo-manager")
    assert client.get(f"{API}/inspections/{iid}/audit", headers=manager).status_code == 200


def test_defect_library_serves_each_category(client, as_inspector):
    r = client.get(f"{API}/defect-library", query_string={"category": "apparel"}, headers=as_inspector)
    codes = {e["code"]: e["default_class"] for e in r.get_json()}
    assert codes["broken_stitch"] == "major" and codes["stain"] == "minor"
    assert client.get(f"{API}/defect-library", query_string={"category": "toys"},
                      headers=as_inspector).status_code == 422


def test_defect_library_file_is_served_for_offline_caching(client):
    with client.get("/data/defect_library.json") as r:  # a file response holds the file open until closed
        assert r.status_code == 200 and "damaged_carton" in r.get_data(as_text=True)


def _push(client, headers, mutations):
    body = {"client_id": str(uuid.uuid4()), "protocol": 1, "mutations": mutations}
    return client.post(f"{API}/sync/push", json=body, headers=headers)


def test_sync_push_of_rows_changes_the_verdict(app, client, as_inspector, as_reviewer, demo):
    if not any(r.rule == "/api/v1/sync/push" for r in app.url_map.iter_rules()):
        pytest.skip("the sync push endpoint is not in this build")
    iid = str(demo("inspection:final:B"))

    def m(entity, fields, id_=None):
        return {"mutation_id": str(uuid.uuid4()), "entity": entity, "id": id_ or str(uuid.uuid4()), "op": "upsert",
                "base_rev": None, "fields": fields}

    r = _push(client, as_inspector, [
        m("inspection", {"status": "in_progress"}, iid),
        m("measurement", {"inspection_id": iid, "dimension_spec_id": str(demo("spec:width")), "unit_index": 0,
                          "value_entered": 8.0, "unit_entered": "cm"}),
        m("response", {"inspection_id": iid, "item_key": "surface", "value": "yes"}),
        m("defect", {"inspection_id": iid, "code": "crack", "defect_class": "critical", "unit_index": 1}),
        m("response", {"inspection_id": iid, "item_key": "nope", "value": "yes"}),
    ])
    assert r.status_code == 200, r.get_json()
    results = r.get_json()["results"]
    assert [x["status"] for x in results] == ["applied"] * 4 + ["rejected"]
    d = _detail(client, as_reviewer, iid)
    assert d["status"] == "in_progress" and d["verdict"] == "fail"
    assert d["measurements"][0]["value_si"] == pytest.approx(80.0) and d["measurements"][0]["in_tolerance"]
    assert d["defects"][0]["defect_class"] == "critical"
    assert any(e["mutation_id"] for e in client.get(f"{API}/inspections/{iid}/audit", headers=as_reviewer).get_json())


def test_patching_a_measurement_changes_only_the_fields_given(client, as_inspector, demo):
    iid = demo("inspection:final:B")
    r = client.post(f"{API}/inspections/{iid}/measurements", json={
        "dimension_spec_id": str(demo("spec:width")), "unit_index": 3, "value_entered": 8.0, "unit_entered": "cm"},
        headers=as_inspector)
    r = client.patch(f"{API}/inspections/{iid}/measurements/{r.get_json()['id']}", json={"value_entered": 8.2},
                     headers=as_inspector)
    assert r.status_code == 200, r.get_json()
    m = r.get_json()
    assert m["unit_entered"] == "cm" and m["value_si"] == pytest.approx(82.0) and m["in_tolerance"] is False


def test_sync_edit_of_an_answer_recomputes_passed_and_the_verdict(app, client, as_inspector, as_reviewer, demo):
    if not any(r.rule == "/api/v1/sync/push" for r in app.url_map.iter_rules()):
        pytest.skip("the sync push endpoint is not in this build")
    iid, rid = str(demo("inspection:final:B")), str(uuid.uuid4())
    first = _push(client, as_inspector, [{"mutation_id": str(uuid.uuid4()), "entity": "response", "id": rid,
                                          "op": "upsert", "base_rev": None,
                                          "fields": {"inspection_id": iid, "item_key": "barcode", "value": "yes"}}])
    rev = first.get_json()["results"][0]["rev"]
    r = _push(client, as_inspector, [{"mutation_id": str(uuid.uuid4()), "entity": "response", "id": rid,
                                      "op": "upsert", "base_rev": rev, "fields": {"value": "no", "passed": True}}])
    assert r.get_json()["results"][0]["status"] == "applied", r.get_json()
    d = _detail(client, as_reviewer, iid)
    assert d["responses"][0]["passed"] is False  # the server decides, not the phone
    assert d["verdict_detail"]["classes"]["major"]["found"] == 1


def new_uuid() -> str:
    import uuid

    return str(uuid.uuid4())
