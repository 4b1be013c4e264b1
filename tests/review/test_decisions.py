"""Decisions on flagged photos: accept, reject, retake; synced to the phone and audited."""
from __future__ import annotations

from sqlalchemy import func, select

from server.extensions import db
from server.inspect.models import Comment, Photo, ReviewDecision
from server.sync.models import AuditEvent
from tests.review.conftest import add_photo


def _flagged(demo):
    photo = add_photo(demo("inspection:inline:A"), lab=[55, -18, 20], status="fail", flagged=True,
                      reasons=["out_of_tolerance"], delta_e=7.1)
    db.session.commit()
    return photo


def _decide(client, headers, photo, decision, comment=""):
    return client.post(f"/api/v1/review/photos/{photo.id}/decisions", headers=headers,
                       json={"decision": decision, "comment": comment})


def pull_all(client, headers):
    """Every change a phone would pull, following the cursor."""
    changes, cursor = [], None
    for _ in range(50):
        r = client.get("/api/v1/sync/pull", headers=headers, query_string={"cursor": cursor} if cursor else {})
        assert r.status_code == 200, r.get_json()
        page = r.get_json()
        changes += page["changes"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes
    raise AssertionError("pull never finished")


def test_retake_request_reaches_the_inspectors_phone_as_an_open_task_with_the_comment(
        client, as_reviewer, as_inspector, demo):
    photo = _flagged(demo)
    r = _decide(client, as_reviewer, photo, "retake", "Card not flat; retake on the table")
    assert r.status_code == 201
    body = r.get_json()
    assert body["decision"] == "retake" and body["resolved"] is False
    changes = pull_all(client, as_inspector)
    decisions = [c for c in changes if c["entity"] == "decision" and c["id"] == body["id"]]
    assert decisions and decisions[0]["fields"]["resolved"] is False
    comments = [c for c in changes if c["entity"] == "comment"]
    assert any(c["fields"]["body"] == "Card not flat; retake on the table" for c in comments)
    assert db.session.get(Photo, photo.id).review_state == "retake"


def test_decision_goes_into_the_audit_trail(client, as_reviewer, demo):
    photo = _flagged(demo)
    dec_id = _decide(client, as_reviewer, photo, "accept").get_json()["id"]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "decision")).all()
    assert {(e.entity, str(e.record_id)) for e in events} == {("decision", dec_id), ("photo", str(photo.id))}
    assert all(e.user_id == demo("user:reviewer") for e in events)
    photo_event = next(e for e in events if e.entity == "photo")
    assert photo_event.changes == {"review_state": ["open", "accepted"]}


def test_reject_without_a_comment_is_refused_and_writes_nothing(client, as_reviewer, demo):
    photo = _flagged(demo)
    audit_before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    r = _decide(client, as_reviewer, photo, "reject", "   ")
    assert r.status_code == 422 and "comment" in r.get_json()["errors"]
    assert db.session.scalar(select(func.count()).select_from(ReviewDecision)) == 0
    assert db.session.scalar(select(func.count()).select_from(Comment)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before
    assert db.session.get(Photo, photo.id).review_state == "open"


def test_unknown_decision_is_a_422(client, as_reviewer, demo):
    photo = _flagged(demo)
    r = _decide(client, as_reviewer, photo, "maybe", "hmm")
    assert r.status_code == 422


def test_inspector_may_not_decide(client, as_inspector, demo):
    photo = _flagged(demo)
    assert _decide(client, as_inspector, photo, "accept").status_code == 403
    assert db.session.scalar(select(func.count()).select_from(ReviewDecision)) == 0


def test_another_brands_reviewer_gets_404(client, demo, login):
    from tests.support.tenants import PASSWORD, make_other_tenant

    photo = _flagged(demo)
    make_other_tenant()
    other = login("reviewer@other.test", PASSWORD)
    assert _decide(client, other, photo, "accept").status_code == 404
    assert client.post(f"/api/v1/review/photos/{photo.id}/comments", headers=other,
                       json={"body": "hi"}).status_code == 404


def test_comment_without_decision_reaches_the_phone(client, as_reviewer, as_inspector, demo):
    photo = _flagged(demo)
    r = client.post(f"/api/v1/review/photos/{photo.id}/comments", headers=as_reviewer,
                    json={"body": "Is the light on the left a window?"})
    assert r.status_code == 201
    changes = pull_all(client, as_inspector)
    assert any(c["entity"] == "comment" and c["id"] == r.get_json()["id"] for c in changes)
    assert db.session.scalar(select(func.count()).select_from(Comment)) == 1


def test_decision_history_shows_on_the_photo(client, as_reviewer, demo):
    photo = _flagged(demo)
    _decide(client, as_reviewer, photo, "retake", "Blurred")
    _decide(client, as_reviewer, photo, "accept", "Retake is fine")
    d = client.get(f"/api/v1/review/photos/{photo.id}", headers=as_reviewer).get_json()
    assert [x["decision"] for x in d["decisions"]] == ["retake", "accept"]
    assert [c["body"] for c in d["comments"]] == ["Blurred", "Retake is fine"]
    assert d["review_state"] == "accepted"
