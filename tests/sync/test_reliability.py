"""Reliability: replays, races, lost answers, killed workers, merges, clocks and tombstones."""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest
import requests
from sqlalchemy import select

from server.extensions import db
from server.inspect.models import ChecklistResponse, Photo
from server.sync.models import AuditEvent, ConflictRecord
from server.sync.revisions import current_revision
from tests.sync.support import (HttpTransport, SyncClient, count, gunicorn_server, live_server, new_id,
                                response_fields, worker_pids)


def snapshot():
    """Everything a push can change: the counter and the rows of the tables it writes.

    On PostgreSQL revisions come from a sequence, which a rolled-back push also moves (a gap
    nobody can see), so there the counter is left out.
    """
    db.session.expire_all()
    rows = sorted((str(r.id), r.rev, r.note, r.deleted) for r in db.session.scalars(select(ChecklistResponse)))
    counter = current_revision(db.session) if db.engine.dialect.name == "sqlite" else None
    return (counter, rows, count(AuditEvent), count(ConflictRecord))


def test_a_push_replayed_three_times_changes_nothing_after_the_first(client, as_inspector, insp):
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    rid = new_id()
    batch = [phone.mutation("response", rid, response_fields(insp, note="a")),
             phone.mutation("response", rid, {"note": "b"}, base_rev=None),
             phone.mutation("defect", new_id(), {"inspection_id": insp, "code": "x", "defect_class": "bogus"})]
    first = phone.push(batch).get_json()["results"]
    after_first = snapshot()
    for _ in range(3):
        again = phone.push(batch).get_json()["results"]
        assert [r["status"] for r in again] == ["duplicate"] * 3
        assert [r["rev"] for r in again] == [r["rev"] for r in first]
        assert [r["original_status"] for r in again] == [r["status"] for r in first]
        assert snapshot() == after_first


def test_concurrent_requests_with_the_same_mutations_apply_them_once(app, as_inspector, insp):
    before = count(ChecklistResponse, ChecklistResponse.inspection_id == uuid.UUID(insp))
    with live_server(app) as base:
        phones = [SyncClient(HttpTransport(base), as_inspector) for _ in range(2)]
        phones[1].client_id = phones[0].client_id
        batch = [phones[0].mutation("response", new_id(), response_fields(insp, note=str(i)), base_rev=None)
                 for i in range(60)]
        barrier = threading.Barrier(2)
        answers: list = [None, None]

        def send(k):
            barrier.wait()
            answers[k] = phones[k].push(batch)

        threads = [threading.Thread(target=send, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [a.status_code for a in answers] == [200, 200], [a.get_json() for a in answers]
    results = [a.get_json()["results"] for a in answers]
    for one, two in zip(*results, strict=True):
        assert sorted([one["status"], two["status"]]) == ["applied", "duplicate"]
        assert one["rev"] == two["rev"]
    assert count(ChecklistResponse, ChecklistResponse.inspection_id == uuid.UUID(insp)) == before + 60
    # each mutation logged once, as the audit event of the change it made
    assert count(AuditEvent, AuditEvent.mutation_id.isnot(None)) == 60
    assert count(AuditEvent, AuditEvent.mutation_id.isnot(None), AuditEvent.action == "create") == 60


def test_an_answer_lost_after_commit_gets_the_same_result_on_retry(client, as_inspector, insp):
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    rid = new_id()
    phone.edit("response", rid, **response_fields(insp, note="x"))
    lost = phone.push().get_json()["results"]  # the phone never reads this answer
    state = snapshot()
    retry = phone.push_outbox()
    assert [(r["mutation_id"], r["rev"]) for r in retry] == [(r["mutation_id"], r["rev"]) for r in lost]
    assert retry[0]["status"] == "duplicate" and snapshot() == state


def test_a_worker_killed_mid_push_applies_all_or_nothing_and_the_retry_completes(app, database_urls, backend,
                                                                                  as_inspector, insp):
    n = 150
    with gunicorn_server(database_urls[backend], app="tests.sync.slow_app:create_app()",
                         SLOW_PUSH_SECONDS_PER_MUTATION=0.02) as (proc, base):
        phone = SyncClient(HttpTransport(base, timeout=120), as_inspector)
        phone.outbox = [phone.mutation("response", new_id(), response_fields(insp, note=str(i)), base_rev=None)
                        for i in range(n)]
        db.session.rollback()
        failure: list = []

        def push():
            try:
                failure.append(phone.push())
            except requests.RequestException as exc:
                failure.append(exc)

        t = threading.Thread(target=push)
        t.start()
        deadline = time.monotonic() + 30
        workers = []
        while time.monotonic() < deadline and not workers:
            workers = worker_pids(proc.pid)
            time.sleep(0.05)
        time.sleep(1.0)  # the push is now writing, mutation by mutation, inside its transaction
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        t.join(60)
        assert isinstance(failure[0], requests.RequestException), "the kill should have cut the push"
        db.session.expire_all()
        ids = [uuid.UUID(m["id"]) for m in phone.outbox]
        mids = [uuid.UUID(m["mutation_id"]) for m in phone.outbox]
        stored = set(db.session.scalars(select(ChecklistResponse.id).where(ChecklistResponse.id.in_(ids))))
        logged = set(db.session.scalars(select(AuditEvent.mutation_id).where(AuditEvent.mutation_id.in_(mids))))
        # each mutation: its row and its log entry together, or neither
        assert {m["id"] for m in phone.outbox if uuid.UUID(m["mutation_id"]) in logged} == {str(i) for i in stored}
        assert stored == set() and logged == set()  # one transaction, killed before its commit: nothing
        db.session.rollback()
        from tests.sync.support import wait_healthy

        wait_healthy(base)  # the master has started a new worker
        results = phone.push_outbox()
        assert {r["status"] for r in results} <= {"applied", "duplicate"}
        db.session.expire_all()
        assert count(ChecklistResponse, ChecklistResponse.id.in_(ids)) == n
        assert count(AuditEvent, AuditEvent.mutation_id.in_(mids)) == n
        assert count(AuditEvent, AuditEvent.mutation_id.in_(mids), AuditEvent.action == "create") == n


def test_two_phones_editing_different_fields_both_keep_their_change(client, as_inspector, insp):
    a, b = SyncClient(client, as_inspector), SyncClient(client, as_inspector)
    rid = new_id()
    a.edit("response", rid, **response_fields(insp, note="start"))
    a.sync()
    b.pull_all()
    a.edit("response", rid, note="a's note")
    b.edit("response", rid, value="no")
    assert a.push_outbox()[0]["status"] == "applied"
    assert b.push_outbox()[0]["status"] == "applied"
    for phone in (a, b):
        phone.pull_all()
        fields = phone.get("response", rid)["fields"]
        assert (fields["note"], fields["value"]) == ("a's note", "no")
    assert count(ConflictRecord) == 0


def test_the_later_write_wins_a_field_both_changed_and_the_loser_is_logged(client, as_inspector, insp):
    a, b = SyncClient(client, as_inspector), SyncClient(client, as_inspector)
    rid = new_id()
    a.edit("response", rid, **response_fields(insp, note="start"))
    a.sync()
    b.pull_all()
    a.edit("response", rid, note="a's note")
    b.edit("response", rid, note="b's note")
    a.push_outbox()
    result = b.push_outbox()[0]
    assert result["status"] == "conflict" and result["record"]["fields"]["note"] == "b's note"
    a.pull_all()
    assert a.get("response", rid)["fields"]["note"] == "b's note"
    conflicts = [v for k, v in a.store.items() if k[0] == "conflict"]
    assert [(c["fields"]["lost_value"], c["fields"]["kept_value"], c["fields"]["reason"]) for c in conflicts] \
        == [("a's note", "b's note", "both_changed")]


def test_one_phones_own_offline_edits_do_not_conflict_with_each_other(client, as_inspector, insp):
    a = SyncClient(client, as_inspector)
    rid = new_id()
    a.edit("response", rid, **response_fields(insp, note="one"))
    a.edit("response", rid, note="two")
    a.edit("response", rid, note="three")
    assert [r["status"] for r in a.push_outbox()] == ["applied"] * 3
    assert count(ConflictRecord) == 0


def test_a_delete_beats_an_edit_and_the_edit_is_logged(client, as_inspector, insp):
    a, b = SyncClient(client, as_inspector), SyncClient(client, as_inspector)
    rid = new_id()
    a.edit("response", rid, **response_fields(insp, note="start"))
    a.sync()
    b.pull_all()
    a.delete("response", rid)
    b.edit("response", rid, note="b's late edit")
    assert a.push_outbox()[0]["status"] == "applied"
    result = b.push_outbox()[0]
    assert result["status"] == "conflict" and result["record"]["deleted"] is True
    db.session.expire_all()
    assert db.session.get(ChecklistResponse, uuid.UUID(rid)).deleted is True
    lost = db.session.scalars(select(ConflictRecord)).all()
    assert [(c.field, c.lost_value, c.reason) for c in lost] == [("note", "b's late edit", "deleted")]


def test_an_edit_then_a_delete_that_never_saw_it_logs_the_edit(client, as_inspector, insp):
    a, b = SyncClient(client, as_inspector), SyncClient(client, as_inspector)
    rid = new_id()
    a.edit("response", rid, **response_fields(insp, note="start"))
    a.sync()
    b.pull_all()
    a.edit("response", rid, note="a's edit")
    b.delete("response", rid)
    a.push_outbox()
    assert b.push_outbox()[0]["status"] == "conflict"
    lost = db.session.scalars(select(ConflictRecord)).all()
    assert [(c.field, c.lost_value, c.reason) for c in lost] == [("note", "a's edit", "deleted")]


@pytest.mark.parametrize("skew", ["1970-01-01T00:00:00Z", "tomorrow"])
def test_a_phone_clock_far_off_changes_nothing_in_the_ordering(client, as_inspector, insp, skew):
    from datetime import datetime, timedelta, timezone

    stamp = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat() if skew == "tomorrow" else skew
    honest, skewed = SyncClient(client, as_inspector), SyncClient(client, as_inspector)
    rid, pid = new_id(), new_id()
    honest.edit("response", rid, **response_fields(insp, note="start"))
    honest.sync()
    skewed.pull_all()
    honest.edit("response", rid, note="honest, first")
    honest.push_outbox()
    m = skewed.edit("response", rid, note="skewed, second")
    m["client_time"] = stamp  # phones may send their own times; the server never orders by them
    skewed.edit("photo", pid, inspection_id=insp, sha256="c" * 64, size_bytes=5, content_type="image/jpeg",
                taken_at=stamp)
    r = skewed.http.post("/api/v1/sync/push", headers=skewed.headers,
                         json={"client_id": skewed.client_id, "protocol": 1, "sent_at": stamp,
                               "mutations": skewed.outbox}).get_json()["results"]
    assert r[0]["status"] == "conflict"
    honest.pull_all()
    assert honest.get("response", rid)["fields"]["note"] == "skewed, second"
    db.session.expire_all()
    photo = db.session.get(Photo, uuid.UUID(pid))
    response = db.session.get(ChecklistResponse, uuid.UUID(rid))
    assert photo.rev > response.rev - 10 and photo.updated_at.year >= 2026  # server time, not the phone's
    assert response.updated_at.year >= 2026


def test_tombstones_reach_the_other_phones(client, as_inspector, insp):
    a, b = SyncClient(client, as_inspector), SyncClient(client, as_inspector)
    rid = new_id()
    a.edit("response", rid, **response_fields(insp))
    a.sync()
    b.pull_all()
    assert b.get("response", rid)["deleted"] is False
    a.delete("response", rid)
    a.sync()
    changes = b.pull_all()
    assert [(c["id"], c["deleted"]) for c in changes if c["entity"] == "response"] == [(rid, True)]
    assert b.get("response", rid)["deleted"] is True


def test_a_phone_past_retention_resyncs_without_losing_its_unsynced_edits(runner, client, as_inspector, insp):
    a, b = SyncClient(client, as_inspector), SyncClient(client, as_inspector)
    keep, gone = new_id(), new_id()
    a.edit("response", keep, **response_fields(insp, note="start"))
    a.edit("response", gone, **response_fields(insp, item_key="barcode"))
    a.sync()
    b.pull_all()
    a.delete("response", gone)
    a.sync()
    b.edit("response", keep, note="edited offline for months")  # waits in b's outbox
    assert runner.invoke(args=["purge-tombstones", "--older-than-seconds", "0"]).exit_code == 0
    assert b.pull_page().status_code == 410
    # the protocol: push first (push never depends on the cursor), then pull from scratch
    b.sync()
    assert b.resyncs == 0 or b.resyncs == 1
    b.cursor = None
    b.store = {}
    b.pull_all()
    assert b.get("response", keep)["fields"]["note"] == "edited offline for months"
    assert b.get("response", gone) is None


def test_a_database_outage_mid_push_answers_503_and_applies_nothing(client, as_inspector, insp, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import server.sync.push as service

    phone = SyncClient(client, as_inspector)
    written = service._write

    def write_then_fail(plans):
        written(plans)  # the rows are sent ... and then the connection drops
        raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(service, "_write", write_then_fail)
    before = snapshot()
    phone.edit("response", new_id(), **response_fields(insp))
    r = phone.push()
    assert r.status_code == 503 and r.get_json()["code"] == "unavailable"
    assert snapshot() == before
    monkeypatch.setattr(service, "_write", written)
    assert phone.push_outbox()[0]["status"] == "applied"  # the phone's retry goes through
