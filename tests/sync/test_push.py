"""Push: records in, one result per mutation, each mutation standing alone."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from server.extensions import db
from server.inspect.models import ChecklistResponse, Comment, Defect, Inspection, ReviewDecision
from server.sync.models import AuditEvent
from tests.sync.support import (SyncClient, add_inspection, add_inspector, count, new_id, response_fields)


def test_new_records_are_applied_and_come_back_on_pull(phone, insp):
    rid, did = new_id(), new_id()
    phone.edit("response", rid, **response_fields(insp, note="scratch-free"))
    phone.edit("defect", did, inspection_id=insp, code="scratch", defect_class="minor", count=2)
    results = phone.push_outbox()
    assert [r["status"] for r in results] == ["applied", "applied"]
    assert results[0]["rev"] < results[1]["rev"]
    other = SyncClient(phone.http, phone.headers)
    other.pull_all()
    assert other.get("response", rid)["fields"]["note"] == "scratch-free"
    assert other.get("defect", did)["fields"]["count"] == 2


def test_a_bad_mutation_is_rejected_alone_and_the_rest_apply(phone, insp):
    good, bad = new_id(), new_id()
    ms = [phone.mutation("response", good, response_fields(insp)),
          phone.mutation("defect", bad, {"inspection_id": insp, "code": "x", "defect_class": "cosmetic"}),
          phone.mutation("comment", new_id(), {"inspection_id": insp, "body": "ok"})]
    results = phone.push(ms).get_json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected", "applied"]
    assert results[1]["reason"] == "invalid" and "defect_class" in results[1]["errors"]
    assert db.session.get(Defect, __import__("uuid").UUID(bad)) is None
    # the rejection is recorded, so the phone can drop it and a replay answers the same
    again = phone.push(ms[1:2]).get_json()["results"][0]
    assert again["status"] == "duplicate" and again["original_status"] == "rejected"


@pytest.mark.parametrize("field, value", [("upload_state", "stored"), ("storage_key", "x"), ("flagged", True),
                                          ("review_state", "accepted"), ("rev", 99), ("analysis", {})])
def test_server_owned_photo_fields_are_not_writable(phone, insp, field, value):
    fields = {"inspection_id": insp, "sha256": "a" * 64, "size_bytes": 10, "content_type": "image/jpeg",
              field: value}
    r = phone.push([phone.mutation("photo", new_id(), fields)]).get_json()["results"][0]
    assert r["status"] == "rejected" and field in r["errors"]


def test_wrong_field_types_are_rejected_with_per_field_errors(phone, insp):
    fields = {"inspection_id": insp, "code": 5, "defect_class": "minor", "count": "two", "unit_index": -1}
    r = phone.push([phone.mutation("defect", new_id(), fields)]).get_json()["results"][0]
    assert r["status"] == "rejected"
    assert set(r["errors"]) == {"code", "count", "unit_index"}


def test_unknown_and_read_only_entities_are_rejected(phone, demo):
    ms = [phone.mutation("gizmo", new_id(), {}),
          phone.mutation("product", str(demo("product:tray")), {"name": "Cheap tray"})]
    results = phone.push(ms).get_json()["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected"]


def test_an_unknown_protocol_asks_the_phone_to_update(phone, insp):
    r = phone.push([phone.mutation("response", new_id(), response_fields(insp))], protocol=2)
    assert r.status_code == 409 and r.get_json()["code"] == "protocol_outdated"
    assert count(AuditEvent, AuditEvent.mutation_id.isnot(None)) == 0


def test_too_many_mutations_answer_413(app, phone, insp):
    app.config["SYNC_PUSH_MAX_MUTATIONS"] = 3
    r = phone.push([phone.mutation("response", new_id(), response_fields(insp)) for _ in range(4)])
    assert r.status_code == 413 and r.get_json()["code"] == "payload_too_large"
    assert count(ChecklistResponse, ChecklistResponse.note == "big") == 0 and count(AuditEvent, AuditEvent.mutation_id.isnot(None)) == 0


def test_a_body_over_the_byte_limit_answers_413(app, phone, insp):
    app.config["SYNC_PUSH_MAX_BYTES"] = 2000
    m = phone.mutation("response", new_id(), response_fields(insp, note="n" * 3000))
    r = phone.push([m])
    assert r.status_code == 413 and "bytes" in r.get_json()["detail"]
    assert count(AuditEvent, AuditEvent.mutation_id.isnot(None)) == 0


def test_a_malformed_envelope_answers_422_and_writes_nothing(client, as_inspector, insp):
    r = client.post("/api/v1/sync/push", headers=as_inspector,
                    json={"protocol": 1, "mutations": [{"mutation_id": new_id()}]})
    assert r.status_code == 422 and "client_id" in r.get_json()["errors"]
    r = client.post("/api/v1/sync/push", headers={**as_inspector, "Content-Type": "application/json"},
                    data="{not json")
    assert r.status_code == 422
    assert count(AuditEvent, AuditEvent.mutation_id.isnot(None)) == 0


def test_push_needs_a_signed_in_user(client, insp):
    r = client.post("/api/v1/sync/push", json={"client_id": new_id(), "protocol": 1, "mutations": []})
    assert r.status_code == 401


def test_a_reviewer_may_comment_and_decide_but_not_answer_the_checklist(client, as_reviewer, insp, demo):
    reviewer = SyncClient(client, as_reviewer)
    ms = [reviewer.mutation("response", new_id(), response_fields(insp)),
          reviewer.mutation("comment", new_id(), {"inspection_id": insp, "body": "Please re-measure unit 3."})]
    results = reviewer.push(ms).get_json()["results"]
    assert [r["status"] for r in results] == ["rejected", "applied"]
    assert results[0]["reason"] == "forbidden"
    assert db.session.scalar(select(Comment.author_id)) == demo("user:reviewer")


def test_an_inspector_cannot_change_a_reviewers_decision(client, as_reviewer, phone, insp):
    photo_id, dec_id = new_id(), new_id()
    phone.edit("photo", photo_id, inspection_id=insp, sha256="b" * 64, size_bytes=100, content_type="image/jpeg")
    assert phone.push_outbox()[0]["status"] == "applied"
    reviewer = SyncClient(client, as_reviewer)
    r = reviewer.push([reviewer.mutation("decision", dec_id, {"inspection_id": insp, "photo_id": photo_id,
                                                              "decision": "retake"})]).get_json()["results"][0]
    assert r["status"] == "applied"
    phone.pull_all()
    results = phone.push([phone.mutation("decision", dec_id, {"decision": "accept"})]).get_json()["results"]
    assert [x["reason"] for x in results] == ["forbidden"]
    assert db.session.scalar(select(ReviewDecision.decision)) == "retake"


def test_another_inspectors_inspection_is_not_found(app, client, login, phone, demo):
    other = add_inspector("other@demo.lineside.test")
    theirs = str(add_inspection(other.id))
    r = phone.push([phone.mutation("response", new_id(), response_fields(theirs))]).get_json()["results"][0]
    assert r["status"] == "rejected" and r["reason"] == "not_found"


def test_a_signed_off_inspection_rejects_changes(phone, insp, demo):
    rid = new_id()
    phone.edit("response", rid, **response_fields(insp))
    phone.push_outbox()
    db.session.get(Inspection, demo("inspection:inline:A")).status = "signed_off"
    db.session.commit()
    results = phone.push([phone.mutation("response", rid, {"note": "late"}),
                          phone.mutation("response", new_id(), response_fields(insp))]).get_json()["results"]
    assert [r["reason"] for r in results] == ["signed_off", "signed_off"]


def test_a_reference_outside_the_inspection_is_rejected(phone, insp, demo):
    fields = {"inspection_id": insp, "dimension_spec_id": new_id(), "unit_index": 0, "value_entered": 120.0}
    r = phone.push([phone.mutation("measurement", new_id(), fields)]).get_json()["results"][0]
    assert r["status"] == "rejected" and "dimension_spec_id" in r["errors"]


def test_a_measurement_gets_its_value_in_mm_and_tolerance(phone, insp, demo):
    mid = new_id()
    phone.edit("measurement", mid, inspection_id=insp, dimension_spec_id=str(demo("spec:length")), unit_index=0,
               value_entered=12.5, unit_entered="cm")
    assert phone.push_outbox()[0]["status"] == "applied"
    phone.pull_all()
    fields = phone.get("measurement", mid)["fields"]
    assert fields["value_si"] == pytest.approx(125.0) and fields["in_tolerance"] is False


def test_every_applied_mutation_leaves_an_audit_event(phone, insp):
    rid = new_id()
    m1 = phone.edit("response", rid, **response_fields(insp, note="a"))
    phone.push_outbox()
    phone.pull_all()
    m2 = phone.edit("response", rid, note="b")
    phone.push_outbox()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.record_id == __import__("uuid").UUID(rid))
                                .order_by(AuditEvent.at)).all()
    assert [e.action for e in events] == ["create", "update"]
    assert events[1].changes == {"note": ["a", "b"]}
    assert [str(e.mutation_id) for e in events] == [m1["mutation_id"], m2["mutation_id"]]
    assert str(events[1].client_id) == phone.client_id


def test_results_are_valid_json_in_request_order(phone, insp):
    ms = [phone.mutation("response", new_id(), response_fields(insp)) for _ in range(5)]
    body = phone.push(ms).get_json()
    assert [r["mutation_id"] for r in body["results"]] == [m["mutation_id"] for m in ms]
    json.dumps(body)


def test_several_edits_of_one_record_in_a_batch_end_at_the_last_revision(client, as_inspector, phone, insp):
    rid = new_id()
    phone.edit("response", rid, **response_fields(insp))
    phone.edit("response", rid, note="one")
    phone.edit("response", rid, value="no")
    phone.edit("response", rid, note="three")
    results = phone.push_outbox()
    row = db.session.get(ChecklistResponse, __import__("uuid").UUID(rid))
    assert (row.rev, row.note, row.value) == (results[-1]["rev"], "three", "no")
    # another phone that saw the last revision edits the note without any conflict
    other = SyncClient(client, as_inspector)
    other.pull_all()
    other.edit("response", rid, note="four")
    assert other.push_outbox()[0]["status"] == "applied"


def test_the_inspector_marks_a_retake_done(client, as_reviewer, phone, insp):
    photo_id, dec_id = new_id(), new_id()
    phone.edit("photo", photo_id, inspection_id=insp, sha256="d" * 64, size_bytes=100, content_type="image/jpeg")
    phone.push_outbox()
    reviewer = SyncClient(client, as_reviewer)
    reviewer.push([reviewer.mutation("decision", dec_id, {"inspection_id": insp, "photo_id": photo_id,
                                                          "decision": "retake"})])
    phone.pull_all()
    phone.edit("decision", dec_id, resolved=True)
    assert phone.push_outbox()[0]["status"] == "applied"
    assert db.session.scalar(select(ReviewDecision.resolved)) is True


def _stored_and_fresh_verdict(insp_id: str) -> tuple[tuple, tuple, dict]:
    """The verdict the push stored, the one a full read of the stored rows gives now, and its detail."""
    import uuid

    from server.inspect.service import recompute_verdict

    db.session.rollback()
    row = db.session.get(Inspection, uuid.UUID(insp_id), populate_existing=True)
    stored = (row.verdict, list(row.verdict_reasons or []))
    outcome = recompute_verdict(row)
    db.session.rollback()
    return stored, (outcome["verdict"], outcome["reasons"]), outcome


def test_the_verdict_after_each_batch_is_what_all_stored_rows_say(phone, insp):
    # The push recomputes from the rows it holds plus the others read back: edits, deletes and
    # rows created and changed within one batch must come out as a full read would.
    kept, fixed, gone = new_id(), new_id(), new_id()
    phone.edit("response", kept, **response_fields(insp, value="no", unit_index=0))
    phone.edit("response", fixed, **response_fields(insp, item_key="barcode", value="no", unit_index=1))
    phone.edit("defect", gone, inspection_id=insp, code="scratch", defect_class="critical", count=1, unit_index=2)
    phone.push_outbox()
    stored, fresh, outcome = _stored_and_fresh_verdict(insp)
    assert stored == fresh and stored[0] == "fail"
    assert outcome["classes"]["critical"]["found"] == 1
    minor_before = outcome["classes"]["minor"]["found"]

    phone.pull_all()
    phone.edit("response", fixed, value="yes")  # a failing answer put right
    phone.delete("defect", gone)  # the critical defect was a mistake
    late = new_id()
    phone.edit("defect", late, inspection_id=insp, code="scratch", defect_class="minor", count=1, unit_index=3)
    phone.edit("defect", late, count=3)  # created and changed in the same batch
    results = phone.push_outbox()
    assert {r["status"] for r in results} == {"applied"}
    stored, fresh, outcome = _stored_and_fresh_verdict(insp)
    assert stored == fresh
    assert outcome["classes"]["critical"]["found"] == 0
    assert outcome["classes"]["minor"]["found"] == minor_before + 3
