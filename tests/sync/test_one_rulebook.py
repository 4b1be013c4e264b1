"""One rulebook: the API and a sync push decide the same, and one bad value rejects only its mutation.

Each test here pins a disagreement found between the paths (issue 12): who may write,
the sign-off freeze, status moves inside one push, field limits, and values that used to
fail a whole push with a 500.
"""
from __future__ import annotations

import uuid

import pytest

from server.extensions import db
from server.inspect.models import Defect, Inspection
from server.sync.models import ConflictRecord
from tests.sync.support import SyncClient, count, new_id, response_fields

API = "/api/v1"


@pytest.fixture
def as_manager(demo, login):
    return login("manager@demo.lineside.test", "demo-manager")


def _set_status(insp: str, status: str) -> None:
    row = db.session.get(Inspection, uuid.UUID(insp))
    row.status = status
    db.session.commit()


def _stored(insp: str) -> Inspection:
    db.session.expire_all()
    return db.session.get(Inspection, uuid.UUID(insp))


# -- who may write -------------------------------------------------------------------------------

def test_the_factory_manager_adds_a_defect_through_the_api_and_through_sync_alike(client, insp, as_manager):
    before = count(Defect, Defect.inspection_id == uuid.UUID(insp))
    via_api = client.post(f"{API}/inspections/{insp}/defects", headers=as_manager,
                          json={"code": "scratch", "defect_class": "minor"})
    assert via_api.status_code == 201, via_api.get_json()
    phone = SyncClient(client, as_manager)
    result = phone.push([phone.mutation("defect", new_id(), {"inspection_id": insp, "code": "scratch",
                                                             "defect_class": "minor"})]).get_json()["results"][0]
    assert result["status"] == "applied", result
    assert count(Defect, Defect.inspection_id == uuid.UUID(insp)) == before + 2


def test_the_brand_reviewer_is_refused_a_defect_on_both_paths(client, insp, as_reviewer):
    via_api = client.post(f"{API}/inspections/{insp}/defects", headers=as_reviewer,
                          json={"code": "scratch", "defect_class": "minor"})
    assert via_api.status_code == 403
    phone = SyncClient(client, as_reviewer)
    result = phone.push([phone.mutation("defect", new_id(), {"inspection_id": insp, "code": "scratch",
                                                             "defect_class": "minor"})]).get_json()["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "forbidden"


# -- the freeze ----------------------------------------------------------------------------------

def test_a_cancelled_inspection_is_frozen_for_sync_as_for_the_api(client, insp, as_inspector):
    _set_status(insp, "cancelled")
    phone = SyncClient(client, as_inspector)
    results = phone.push([phone.mutation("response", new_id(), response_fields(insp)),
                          phone.mutation("inspection", insp, {"notes": "late"})]).get_json()["results"]
    assert [r["reason"] for r in results] == ["signed_off", "signed_off"], results
    via_api = client.post(f"{API}/inspections/{insp}/defects", headers=as_inspector,
                          json={"code": "scratch", "defect_class": "minor"})
    assert via_api.status_code == 422
    assert _stored(insp).notes != "late"


# -- status moves inside one push ------------------------------------------------------------------

def test_a_second_status_change_in_one_push_is_checked_against_the_first(client, insp, as_inspector):
    _set_status(insp, "submitted")
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    results = phone.push([phone.mutation("inspection", insp, {"status": "in_progress"}),
                          phone.mutation("inspection", insp, {"status": "submitted"})]).get_json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied"], results
    assert results[1]["rev"] > results[0]["rev"]
    assert _stored(insp).status == "submitted"
    assert count(ConflictRecord) == 0


def test_a_move_that_is_only_valid_from_the_batch_start_is_refused(client, insp, as_inspector):
    _set_status(insp, "in_progress")
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    # in_progress -> submitted -> assigned: the second move starts from submitted, which cannot go back to assigned
    results = phone.push([phone.mutation("inspection", insp, {"status": "submitted"}),
                          phone.mutation("inspection", insp, {"status": "assigned"})]).get_json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected"], results
    assert "status" in results[1]["errors"]
    assert _stored(insp).status == "submitted"


# -- field limits ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "ok"), [
    ({"code": "scratch", "defect_class": "minor", "note": "n" * 7000}, True),
    ({"code": "scratch", "defect_class": "minor", "note": "n" * 10_001}, False),
    ({"code": "scratch", "defect_class": "minor", "count": 0}, False),
    ({"code": "scratch", "defect_class": "minor", "count": 500_000}, False),
    ({"code": "sharp_edge"}, True),  # the class comes from the defect library on both paths
    ({"code": "gremlins"}, False),  # not in the library: a class must be given
])
def test_defect_field_limits_are_the_same_through_the_api_and_sync(client, insp, as_inspector, fields, ok):
    via_api = client.post(f"{API}/inspections/{insp}/defects", headers=as_inspector, json=fields)
    assert (via_api.status_code == 201) is ok, via_api.get_json()
    phone = SyncClient(client, as_inspector)
    result = phone.push([phone.mutation("defect", new_id(), {"inspection_id": insp, **fields})]
                        ).get_json()["results"][0]
    assert (result["status"] == "applied") is ok, result
    if ok and "defect_class" not in fields:
        classes = {d.defect_class for d in db.session.scalars(db.select(Defect).where(Defect.code == fields["code"]))}
        assert classes == {"major"} or len(classes) == 1


def test_inspection_notes_have_one_limit(client, insp, as_inspector):
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    results = phone.push([phone.mutation("inspection", insp, {"notes": "n" * 10_000}),
                          phone.mutation("inspection", insp, {"notes": "n" * 10_001})]).get_json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected"], results
    assert len(_stored(insp).notes) == 10_000


# -- a bad value rejects only its own mutation --------------------------------------------------------

def photo_fields(insp: str, **extra) -> dict:
    return {"inspection_id": insp, "sha256": "e" * 64, "size_bytes": 1234, "content_type": "image/jpeg", **extra}


@pytest.mark.parametrize(("entity", "fields", "field"), [
    ("photo", {"taken_at": "0001-01-01T00:00:00+08:00"}, "taken_at"),
    ("photo", {"taken_at": "9999-12-31T23:00:00-05:00"}, "taken_at"),
    ("inspection", {"started_at": "0001-01-01T00:00:00+08:00"}, "started_at"),
    ("inspection", {"started_at": "9999-12-31T23:00:00-05:00"}, "started_at"),
    ("response", {"item_key": "weight", "value": {"value": 1e307, "unit": "kg"}}, "value"),
    ("response", {"item_key": "weight", "value": 10 ** 400}, "value"),
    ("measurement", {"value_entered": 10 ** 400}, "value_entered"),
    ("response", {"item_key": "remarks", "value": "x", "note": None}, None),
])
def test_an_out_of_range_value_rejects_only_its_mutation(client, insp, demo, as_inspector, entity, fields, field):
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    rid = insp if entity == "inspection" else new_id()
    if entity == "photo":
        fields = photo_fields(insp, **fields)
    elif entity == "response":
        fields = response_fields(insp, **fields)
    elif entity == "measurement":
        fields = {"inspection_id": insp, "dimension_spec_id": str(demo("spec:length")), "unit_index": 0,
                  "unit_entered": "in", **fields}
    good = phone.mutation("response", new_id(), response_fields(insp, item_key="barcode"))
    r = phone.push([phone.mutation(entity, rid, fields), good])
    assert r.status_code == 200, r.get_json()
    results = r.get_json()["results"]
    assert results[1]["status"] == "applied"
    assert results[0]["status"] == "rejected", results[0]
    if field is not None:
        assert field in results[0]["errors"], results[0]


def test_a_number_that_overflows_when_converted_rejects_only_its_mutation(client, insp, demo, as_inspector):
    phone = SyncClient(client, as_inspector)
    spec = str(demo("spec:length"))
    bad = [phone.mutation("response", new_id(), response_fields(insp, item_key="weight",
                                                                value={"value": 1e307, "unit": "lb"})),
           phone.mutation("measurement", new_id(), {"inspection_id": insp, "dimension_spec_id": spec,
                                                    "unit_index": 0, "value_entered": 1e307, "unit_entered": "in"})]
    good = phone.mutation("response", new_id(), response_fields(insp, item_key="barcode"))
    r = phone.push([*bad, good])
    assert r.status_code == 200, r.get_json()
    assert [x["status"] for x in r.get_json()["results"]] == ["rejected", "rejected", "applied"]


def test_a_value_nested_a_thousand_levels_deep_rejects_only_its_mutation(client, insp, as_inspector):
    import json

    deep = "[" * 1000 + '"x"' + "]" * 1000  # written by hand: the test client's encoder would recurse too deep
    phone = SyncClient(client, as_inspector)
    mutations = [phone.mutation("response", new_id(), response_fields(insp, item_key="remarks", value="DEEP")),
                 phone.mutation("photo", new_id(), photo_fields(insp, location={"a": "DEEP"})),
                 phone.mutation("response", new_id(), response_fields(insp, item_key="barcode"))]
    body = json.dumps({"client_id": phone.client_id, "protocol": 1, "mutations": mutations})
    r = client.post(f"{API}/sync/push", data=body.replace('"DEEP"', deep), content_type="application/json",
                    headers=as_inspector)
    assert r.status_code == 200, r.get_json()
    results = r.get_json()["results"]
    assert [x["status"] for x in results] == ["rejected", "rejected", "applied"], results
    assert "levels" in results[0]["errors"]["value"][0]


@pytest.mark.parametrize("mutations", [5, True, "x", {"a": 1}, None])
def test_a_malformed_envelope_answers_422(client, as_inspector, mutations):
    r = client.post(f"{API}/sync/push", headers=as_inspector,
                    json={"client_id": new_id(), "protocol": 1, "mutations": mutations})
    assert r.status_code == 422, r.get_json()
    assert r.headers["Content-Type"].startswith("application/problem+json")
