"""Signing off over sync, and what may still arrive afterwards (late photos, the reviewers' word)."""
from __future__ import annotations

import uuid

from server.extensions import db
from server.inspect.models import Comment, Inspection, Photo, ReviewDecision
from tests.sync.support import SyncClient, count, new_id, response_fields


def photo_fields(insp: str, **extra) -> dict:
    return {"inspection_id": insp, "sha256": "e" * 64, "size_bytes": 1234, "content_type": "image/jpeg", **extra}


def sign_off(phone, insp: str) -> dict:
    return phone.push([phone.mutation("inspection", insp, {"status": "signed_off"})]).get_json()["results"][0]


def stored_inspection(insp: str) -> Inspection:
    db.session.expire_all()
    row = db.session.get(Inspection, uuid.UUID(insp))
    db.session.rollback()
    return row


def test_the_assigned_inspector_signs_off_from_the_phone(phone, insp):
    assert sign_off(phone, insp)["status"] == "applied"
    row = stored_inspection(insp)
    assert row.status == "signed_off" and row.signed_off_at is not None
    # the switching rules counted this lot once, in the same push
    assert row.switching_recorded_at is not None
    phone.pull_all()
    assert phone.get("inspection", insp)["fields"]["status"] == "signed_off"


def test_rows_after_the_sign_off_in_the_same_batch_are_refused(phone, insp):
    results = phone.push([phone.mutation("response", new_id(), response_fields(insp)),
                          phone.mutation("inspection", insp, {"status": "signed_off"}),
                          phone.mutation("response", new_id(), response_fields(insp, item_key="remarks", value="fine"))]
                         ).get_json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied", "rejected"]
    assert results[2]["reason"] == "signed_off"


def test_a_manager_cannot_sign_off_for_the_inspector(client, demo, login, insp):
    manager = SyncClient(client, login("manager@demo.lineside.test", "demo-manager"))
    result = sign_off(manager, insp)
    assert result["status"] == "rejected" and result["reason"] == "forbidden"
    assert stored_inspection(insp).status != "signed_off"


def test_photo_metadata_arriving_after_the_sign_off_is_accepted(phone, insp):
    assert sign_off(phone, insp)["status"] == "applied"
    pid = new_id()
    created = phone.push([phone.mutation("photo", pid, photo_fields(insp, item_key="surface"))]).get_json()
    assert created["results"][0]["status"] == "applied"
    edited = phone.push([phone.mutation("photo", pid, {"location": {"lat": 22.9, "lng": 113.7}},
                                        base_rev=created["results"][0]["rev"])]).get_json()
    assert edited["results"][0]["status"] == "applied"
    assert count(Photo, Photo.id == uuid.UUID(pid)) == 1


def test_a_photo_cannot_be_deleted_after_the_sign_off(phone, insp):
    pid = new_id()
    phone.edit("photo", pid, **photo_fields(insp))
    phone.push_outbox()
    assert sign_off(phone, insp)["status"] == "applied"
    result = phone.push([phone.mutation("photo", pid, op="delete")]).get_json()["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "signed_off"
    assert count(Photo, Photo.id == uuid.UUID(pid), Photo.deleted.is_(False)) == 1


def test_reviewers_comment_and_decide_after_the_sign_off(client, as_reviewer, phone, insp):
    pid = new_id()
    phone.edit("photo", pid, **photo_fields(insp))
    phone.push_outbox()
    assert sign_off(phone, insp)["status"] == "applied"
    reviewer = SyncClient(client, as_reviewer)
    results = reviewer.push([
        reviewer.mutation("comment", new_id(), {"inspection_id": insp, "photo_id": pid, "body": "Glaze run, fine."}),
        reviewer.mutation("decision", new_id(), {"inspection_id": insp, "photo_id": pid, "decision": "accept"}),
    ]).get_json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied"]
    assert count(ReviewDecision, ReviewDecision.photo_id == uuid.UUID(pid)) == 1


def test_the_inspector_cannot_comment_after_the_sign_off(phone, insp):
    assert sign_off(phone, insp)["status"] == "applied"
    cid = new_id()
    result = phone.push([phone.mutation("comment", cid, {"inspection_id": insp, "body": "one more thing"})]
                        ).get_json()["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "signed_off"
    assert count(Comment, Comment.id == uuid.UUID(cid)) == 0
