"""Restoring the database from a backup: phones lose nothing, nothing is duplicated, nobody skips a row.

The end-to-end test runs on PostgreSQL with the real tools: ``pg_dump`` of the live database,
more pushes from two phones (records, edits, a delete, a photo uploaded and confirmed, a photo
only declared), ``pg_restore`` into a fresh database, ``flask --app server restore``, more pushes
that take the same revision numbers again, then the phones and a reviewer come back.
"""
from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import make_url

from tests.inspect.photo_flow import demo_photo, photo_row, push_photo, upload_photo
from tests.support import databases
from tests.sync.support import SyncClient, add_inspection, add_inspector, new_id, response_fields

PUSHABLE = ("response", "defect", "photo", "measurement", "comment", "decision")


def _libpq(url: str) -> str:
    u = make_url(url)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def _server_state(insp_ids) -> dict:
    """Every pushable row of the given inspections: (entity, id) -> (deleted, the fields phones write)."""
    from server.extensions import db
    from server.sync.entities import ENTITIES

    out = {}
    for name in PUSHABLE:
        ent = ENTITIES[name]
        t = ent.table
        for row in db.session.execute(select(t).where(t.c.inspection_id.in_(insp_ids))).mappings():
            out[(name, str(row["id"]))] = (row["deleted"], {k: row[k] for k in ent.fields if not row["deleted"]})
    db.session.rollback()
    return out


def _store_view(phone: SyncClient) -> dict:
    return {k: (v["rev"], v["deleted"], v["fields"]) for k, v in phone.store.items()}


def test_after_a_restore_phones_recover_with_nothing_lost_duplicated_or_skipped(backend, app, app_config, client, demo,
                                                                                  login, as_reviewer, insp, tmp_path):
    if backend != "postgres":
        pytest.skip("the backup and restore run with pg_dump and pg_restore on PostgreSQL")
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.fail("pg_dump and pg_restore are needed (install postgresql-client)")
    from server import create_app
    from server.extensions import db
    from server.inspect.models import Photo
    from server.storage.backends import get_storage
    from server.storage.uploads import content_key
    from server.sync.models import ConflictRecord

    other = add_inspector("other@demo.lineside.test")
    other_insp = str(add_inspection(other.id))
    a = SyncClient(client, login("inspector@demo.lineside.test", "demo-inspector"))
    b = SyncClient(client, login("other@demo.lineside.test", "other-inspector-pw"))
    reviewer = SyncClient(client, as_reviewer)
    for phone in (a, b, reviewer):
        phone.pull_all()

    # -- before the backup
    a_old = [new_id() for _ in range(3)]
    for i, rid in enumerate(a_old):
        a.edit("response", rid, **response_fields(insp, "surface", unit_index=i + 1))
    a_defect = new_id()
    a.edit("defect", a_defect, inspection_id=insp, code="scratch", defect_class="minor", count=1)
    b_old = new_id()
    b.edit("response", b_old, **response_fields(other_insp, "surface", unit_index=1))
    for phone in (a, b, reviewer):
        phone.sync()

    dump = tmp_path / "backup.dump"
    db.session.remove()
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), _libpq(app.config["DATABASE_URL"])], check=True,
                   capture_output=True)

    # -- after the backup: new records, edits, a delete, photos
    a_new = [new_id() for _ in range(2)]
    for i, rid in enumerate(a_new):
        a.edit("response", rid, **response_fields(insp, "colour_match", value="no", unit_index=i + 1, note=f"after {i}"))
    a.edit("response", a_old[0], note="edited after the backup")
    a.delete("defect", a_defect)
    b_new = new_id()
    b.edit("defect", b_new, inspection_id=other_insp, code="dent", defect_class="major", count=2)
    b.edit("response", b_old, note="b edited after the backup")
    for phone in (a, b):
        phone.sync()
    kept_bytes = demo_photo("in_tolerance")  # uploaded and confirmed: the phone drops its copy
    p1 = push_photo(a, kept_bytes)
    assert upload_photo(client, a.headers, p1, kept_bytes).status_code == 200
    held_bytes = demo_photo("out_of_tolerance")  # only declared: the phone still holds the bytes
    p2 = push_photo(a, held_bytes, unit_index=2)
    for phone in (a, b, reviewer):
        phone.pull_all()
    lost_overlay = photo_row(p1).overlay_key
    assert photo_row(p1).upload_state == "analysed" and lost_overlay
    expected = _server_state([uuid.UUID(insp), uuid.UUID(other_insp)])
    assert ("response", a_new[0]) in expected and expected[("defect", a_defect)][0] is True

    # -- restore into a fresh database; the restore step; servers back
    restored_url = databases.create_database("postgres", tmp_path)
    try:
        subprocess.run(["pg_restore", "--no-owner", "-d", _libpq(restored_url), str(dump)], check=True,
                       capture_output=True)
        restored = create_app({**app_config, "DATABASE_URL": restored_url})
        with restored.app_context():
            _recover_and_check(restored, a, b, reviewer, insp, other_insp, a_new, a_old, b_new, a_defect, p1, p2,
                               held_bytes, lost_overlay, expected, Photo, ConflictRecord, get_storage, content_key)
            db.session.remove()
            db.engine.dispose()
    finally:
        databases.drop_database("postgres", restored_url)


def _recover_and_check(restored, a, b, reviewer, insp, other_insp, a_new, a_old, b_new, a_defect, p1, p2, held_bytes,
                       lost_overlay, expected, Photo, ConflictRecord, get_storage, content_key):
    from server.extensions import db

    client = restored.test_client()
    runner = restored.test_cli_runner()
    out = runner.invoke(args=["restore", "--yes"])
    assert out.exit_code == 0, out.output
    assert "1/3 sync history" in out.output and "2/3 photos" in out.output and "3/3 storage: 1 photo object" in out.output
    for phone in (a, b, reviewer):
        phone.http = client

    # What the restore lost is really gone from the database ...
    lost = _server_state([uuid.UUID(insp), uuid.UUID(other_insp)])
    assert ("response", a_new[0]) not in lost and ("defect", b_new) not in lost
    # ... and a change made before the phones return takes the lost revision numbers again.
    b_after = new_id()
    b.edit("response", b_after, **response_fields(other_insp, "finish", value="matte", unit_index=1))
    b.push_outbox()

    # The reviewer's cursor predates the restore: never 200, whatever the revision numbers say.
    r = reviewer.pull_page()
    assert r.status_code == 410 and r.get_json()["reason"] == "history_diverged" and r.get_json()["reoffer"] is True

    for phone in (a, b, reviewer):
        phone.pull_all()
        assert phone.resyncs == 1
    assert not reviewer.reoffered  # the reviewer changed nothing: nothing to offer
    statuses = {res["status"] for res in a.reoffered + b.reoffered}
    assert statuses <= {"applied"}, [res for res in a.reoffered + b.reoffered if res["status"] != "applied"]

    # The photo the phone still held is uploaded again; the confirmed one adopts its bytes in storage.
    r = client.post(f"/api/v1/blobs/{p2}/upload", headers=a.headers)
    assert r.status_code == 200 and r.get_json()["already_stored"] is False
    from urllib.parse import urlsplit

    url = urlsplit(r.get_json()["url"])
    assert client.put(url.path + "?" + url.query, data=held_bytes,
                      headers=r.get_json()["headers"]).status_code == 200
    assert client.post(f"/api/v1/blobs/{p2}/complete", headers=a.headers).status_code == 200
    sweep = runner.invoke(args=["sweep-analyses"])
    assert sweep.exit_code == 0, sweep.output
    for pid in (p1, p2):
        photo = db.session.get(Photo, pid)
        assert photo.upload_state == "analysed" and photo.storage_key == content_key(photo.sha256), pid
    db.session.rollback()

    # 0 lost: every record the phones had synced is back, as they last had it.
    now = _server_state([uuid.UUID(insp), uuid.UUID(other_insp)])
    missing = [k for k in expected if k not in now]
    assert not missing
    changed = [k for k in expected if now[k] != expected[k]]
    assert not changed, [(k, expected[k], now[k]) for k in changed]
    assert now[("response", a_old[0])][1]["note"] == "edited after the backup"
    assert now[("defect", a_defect)][0] is True
    # 0 duplicated: exactly those records plus the one made after the restore, no conflict noise.
    extra = set(now) - set(expected) - {("response", b_after)}
    # ... and the measurements of the photo analysed only now (it had never been uploaded before)
    assert extra and all(k[0] == "measurement" and str(now[k][1]["photo_id"]) == str(p2) for k in extra), extra
    assert db.session.scalar(select(func.count()).select_from(ConflictRecord)) == 0
    db.session.rollback()

    # 0 skipped: each phone and the reviewer hold exactly what a fresh pull gives.
    for phone in (a, b, reviewer):
        phone.pull_all()  # the uploads and analyses since their last pull
        assert phone.resyncs == 1  # no second resync: the cursors made after the restore are good
        fresh = SyncClient(client, phone.headers)
        fresh.pull_all()
        assert _store_view(phone) == _store_view(fresh)
    assert ("response", b_after) in reviewer.store and ("response", a_new[1]) in reviewer.store

    # purge-blobs keeps what was stored before the restore (here: the overlay of the lost analysis).
    from server.storage.gc import purge_blobs
    from server.storage.restore import restore_keep_before

    keep = restore_keep_before()
    assert keep is not None
    report = purge_blobs(get_storage(), grace=timedelta(hours=1), dry_run=True,
                         now=datetime.now(timezone.utc) + timedelta(hours=3), keep_before=keep)
    assert report.kept_restore >= 1 and report.deleted["photo"] == 0
    assert get_storage().head(lost_overlay) is not None


def test_a_restore_without_the_restore_step_still_never_skips(app, client, as_inspector, as_reviewer, insp):
    """The safety net: the history id did not change, but the cursor's fingerprint no longer matches."""
    from server.extensions import db
    from server.sync.entities import ENTITIES
    from server.sync.models import AuditEvent, SyncCommit
    from server.sync.revisions import current_revision, restart_revisions

    phone = SyncClient(client, as_inspector)
    reviewer = SyncClient(client, as_reviewer)
    phone.pull_all()
    reviewer.pull_all()
    backup = current_revision(db.session)
    db.session.rollback()
    for i in range(3):
        phone.edit("response", new_id(), **response_fields(insp, "surface", unit_index=i + 1))
    phone.sync()  # pushes, then pulls: its cursor is past the backup, like the reviewer's
    reviewer.pull_all()
    # "Restore": everything after the backup disappears, the counter goes back.
    responses = ENTITIES["response"].table
    db.session.execute(delete(responses).where(responses.c.rev > backup))
    db.session.execute(delete(AuditEvent).where(AuditEvent.mutation_id.is_not(None)))
    db.session.execute(delete(SyncCommit).where(SyncCommit.last_rev > backup))
    restart_revisions(db.session, backup)
    db.session.commit()
    # New changes take the same revision numbers again.
    other = SyncClient(client, as_inspector)
    for i in range(4):
        other.edit("response", new_id(), **response_fields(insp, "colour_match", value="no", unit_index=i + 1))
    other.push_outbox()
    r = reviewer.pull_page()
    assert r.status_code == 410 and r.get_json()["reason"] == "history_diverged"
    assert db.session.execute(text("SELECT history_started_rev FROM sync_counter")).scalar() is None
    db.session.rollback()
    # The phone offers again what it holds: its lost records come back, nothing that exists is overwritten.
    lost = {k for k in phone.authored}
    phone.pull_all()
    assert {res["status"] for res in phone.reoffered} == {"applied"}
    assert lost <= set(phone.store) and len(lost) == 3
    assert len([k for k in phone.store if k[0] == "response"]) == \
        db.session.scalar(select(func.count()).select_from(responses).where(responses.c.deleted.is_(False)))
    db.session.rollback()


def test_reoffers_take_back_only_what_is_newer_than_the_fork(app, client, as_inspector, insp, runner):
    from server.extensions import db
    from server.sync.models import SyncCounter

    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    rid = new_id()
    phone.edit("response", rid, **response_fields(insp, "surface", note="first"))
    phone.sync()
    assert runner.invoke(args=["restore", "--yes"]).exit_code == 0
    fork = db.session.scalar(select(SyncCounter.history_started_rev))
    db.session.rollback()
    office = SyncClient(client, as_inspector)
    office.pull_all()
    office.edit("response", rid, note="changed after the restore")
    office.push_outbox()
    rec = phone.store[("response", rid)]
    # An old copy (from before the fork) changes nothing.
    old = {**phone.mutation("response", rid, dict(rec["fields"], note="stale"), base_rev=fork), "reoffer": True}
    [res] = phone.push([old]).get_json()["results"]
    assert res["status"] == "applied"
    # A copy newer than the fork merges from the fork: both sides changed the note, the offer wins, the loss is logged.
    newer = {**phone.mutation("response", rid, dict(rec["fields"], note="lost edit"), base_rev=fork + 1000),
             "reoffer": True}
    [res] = phone.push([newer]).get_json()["results"]
    assert res["status"] == "conflict" and res["conflicts"] == [{"field": "note", "reason": "both_changed"}]
    # Server-owned fields in an offer are left out, not refused.
    again = {**phone.mutation("response", new_id(), dict(response_fields(insp, "colour_match", value="no"), rev=5,
                                                          po_number="x", updated_at="2026-01-01T00:00:00Z"),
                              base_rev=None), "reoffer": True}
    [res] = phone.push([again]).get_json()["results"]
    assert res["status"] == "applied", (res.get("detail"), res.get("errors"))
