"""Checklist templates through the API: strict sections, versions, copies, archive, tenant scope."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from server.demo import demo_template_sections
from server.extensions import db
from server.inspect.models import ChecklistTemplate, Inspection

URL = "/api/v1/checklist-templates"


@pytest.fixture
def body(demo):
    return {"brand_id": str(demo("org:brand")), "name": "Tray final", "inspection_kind": "final",
            "sections": demo_template_sections()}


def _count():
    return db.session.scalar(select(func.count()).select_from(ChecklistTemplate))


def test_brand_reviewer_creates_a_checklist(client, as_reviewer, body):
    r = client.post(URL, json=body, headers=as_reviewer)
    assert r.status_code == 201, r.get_json()
    t = r.get_json()
    assert t["version"] == 1 and t["is_current"] and t["family_id"] != t["id"]
    assert [s["key"] for s in t["sections"]] == ["visual", "measurement", "functional", "packaging", "labeling"]


@pytest.mark.parametrize("breakage,field", [
    (lambda s: s[0]["items"].append(dict(s[0]["items"][0])), "sections"),              # duplicate item key
    (lambda s: s.append(copy.deepcopy(s[0])), "sections"),                                # duplicate section
    (lambda s: s[1]["items"][0].pop("tolerance"), "sections"),                            # number without tolerance
    (lambda s: s[0]["items"][2].pop("choices"), "sections"),                               # choice without choices
    (lambda s: s[0]["items"][0].update(kind="slider"), "sections"),                       # unknown kind
    (lambda s: s[1]["items"][0].update(unit="furlong"), "sections"),                      # unknown unit
    (lambda s: s[0]["items"][0].update(colour="red"), "sections"),                        # unknown key
    (lambda s: s[0].update(key="vibes"), "sections"),                                     # unknown section
])
def test_bad_sections_are_refused_and_nothing_is_written(client, as_reviewer, body, breakage, field):
    before = _count()
    breakage(body["sections"])
    r = client.post(URL, json=body, headers=as_reviewer)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["errors"]["json"]
    assert _count() == before


def test_pre_production_checklist_gets_the_golden_sample_confirmation(client, as_reviewer, body):
    body["inspection_kind"] = "pre_production"
    t = client.post(URL, json=body, headers=as_reviewer).get_json()
    golden = [s for s in t["sections"] if s["key"] == "golden_sample"]
    assert [i["key"] for i in golden[0]["items"]] == ["gs_materials", "gs_colours", "gs_packaging", "gs_tooling"]


def test_editing_makes_a_new_version_and_inspections_keep_theirs(client, as_reviewer, demo):
    tid = demo("template:tray:1")
    sections = demo_template_sections()
    sections[0]["items"][0]["label"] = "Surface flawless"
    r = client.patch(f"{URL}/{tid}", json={"sections": sections}, headers=as_reviewer)
    assert r.status_code == 201, r.get_json()
    new = r.get_json()
    assert new["version"] == 2 and new["id"] != str(tid)
    old = client.get(f"{URL}/{tid}", headers=as_reviewer).get_json()
    assert old["is_current"] is False and old["sections"][0]["items"][0]["label"].startswith("Surface free")
    insp = client.get(f"/api/v1/inspections/{demo('inspection:final:B')}", headers=as_reviewer).get_json()
    assert insp["template"]["id"] == str(tid) and insp["template"]["version"] == 1
    listed = client.get(URL, headers=as_reviewer).get_json()
    assert [t["version"] for t in listed if t["family_id"] == new["family_id"]] == [2]


def test_copy_starts_a_new_family(client, as_reviewer, demo):
    r = client.post(f"{URL}/{demo('template:tray:1')}/copy", json={"name": "Tray (copy)"}, headers=as_reviewer)
    assert r.status_code == 201, r.get_json()
    t = r.get_json()
    assert t["version"] == 1 and t["family_id"] != str(demo("template:tray"))
    assert t["copied_from_id"] == str(demo("template:tray:1")) and t["sections"] == demo_template_sections()


def test_archived_checklist_is_hidden_and_not_used_for_new_inspections(client, as_reviewer, demo):
    tid = demo("template:tray:1")
    assert client.delete(f"{URL}/{tid}", headers=as_reviewer).status_code == 200
    assert client.get(URL, headers=as_reviewer).get_json() == []
    assert client.get(f"{URL}/{tid}", headers=as_reviewer).status_code == 200
    r = client.post("/api/v1/inspections", json={"kind": "final", "purchase_order_id": str(demo("po:42")),
                                                 "template_id": str(tid)}, headers=as_reviewer)
    assert r.status_code == 422 and "template_id" in r.get_json()["errors"]


def test_inspector_may_read_but_not_create_checklists(client, as_inspector, body, demo):
    assert client.get(f"{URL}/{demo('template:tray:1')}", headers=as_inspector).status_code == 200
    assert client.post(URL, json=body, headers=as_inspector).status_code == 403


def test_template_edits_are_audited(client, as_reviewer, demo):
    from server.sync.models import AuditEvent

    client.patch(f"{URL}/{demo('template:tray:1')}", json={"name": "Tray v2"}, headers=as_reviewer)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.entity == "template"))
    assert event.action == "update" and event.changes["name"] == ["Enamel tray inspection", "Tray v2"]
    assert event.user_id == demo("user:reviewer")


def test_another_brands_checklist_is_not_found(client, demo, login, body):
    from tests.inspect.test_routes import other_brand_headers

    headers = other_brand_headers(client, login)
    assert client.get(f"{URL}/{demo('template:tray:1')}", headers=headers).status_code == 404
    assert client.patch(f"{URL}/{demo('template:tray:1')}", json={"name": "x"}, headers=headers).status_code == 404
    assert client.post(URL, json=body, headers=headers).status_code == 403


def test_editing_a_checklist_never_touches_inspections_under_way(client, as_reviewer, demo):
    before = {i.id: i.template_id for i in db.session.scalars(select(Inspection))}
    client.patch(f"{URL}/{demo('template:tray:1')}", json={"name": "Renamed"}, headers=as_reviewer)
    db.session.expire_all()
    assert {i.id: i.template_id for i in db.session.scalars(select(Inspection))} == before


def test_unknown_verdict_rule_keys_are_refused(client, as_reviewer, body):
    body["verdict_rule"] = {"failed_item_class": "major", "failed_items_are_fine": True}
    r = client.post(URL, json=body, headers=as_reviewer)
    assert r.status_code == 422 and "verdict_rule" in r.get_json()["errors"]["json"]


def test_defect_library_has_every_category_with_valid_classes():
    from server.inspect import defects

    entries = defects.entries()
    assert {e["category"] for e in entries} == {"apparel", "hard_goods", "packaging"}
    assert {e["default_class"] for e in entries} == {"critical", "major", "minor"}
    for category in ("apparel", "hard_goods", "packaging"):
        codes = [e["code"] for e in defects.entries(category)]
        assert len(codes) == len(set(codes)) and "missing_component" in codes
    assert defects.default_class("damaged_carton", "apparel") == "major"  # found in another category
