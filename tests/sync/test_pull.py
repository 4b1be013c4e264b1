"""Pull: what a phone may see, in commit order, page by page, and when it must start again."""
from __future__ import annotations

import base64
import json
import os
import random
import threading
import time
import uuid

import pytest
from sqlalchemy import func, select

from server.extensions import db
from server.inspect.models import ChecklistResponse, Inspection
from server.sync.revisions import current_revision, restart_revisions
from tests.support.databases import in_ci
from tests.sync.support import (HttpTransport, SyncClient, add_inspection, add_inspector, gunicorn_server, new_id,
                                response_fields)


def entities(changes):
    return {c["entity"] for c in changes}


def test_an_inspector_pulls_their_inspections_and_what_they_need(client, as_inspector, demo):
    phone = SyncClient(client, as_inspector)
    changes = phone.pull_all()
    assert {"inspection", "template", "product", "dimension_spec", "colour_standard", "golden_sample",
            "purchase_order", "po_line", "batch"} <= entities(changes)
    inspections = {c["id"] for c in changes if c["entity"] == "inspection"}
    assert inspections == {str(demo("inspection:inline:A")), str(demo("inspection:final:B"))}
    insp = phone.get("inspection", str(demo("inspection:inline:A")))["fields"]
    assert insp["factory_name"] == "Demo Factory (Dongguan)" and insp["po_number"] == "PO-2026-0042"
    assert insp["product_name"].startswith("Enamel tray")
    po = phone.get("purchase_order", str(demo("po:42")))["fields"]
    assert po["brand_name"] == "Demo Brand" and po["factory_name"] == "Demo Factory (Dongguan)"


def test_changes_come_in_ascending_revision_with_the_row_shape(client, as_inspector):
    changes = SyncClient(client, as_inspector).pull_all()
    revs = [c["rev"] for c in changes]
    assert revs == sorted(revs) and len(set(revs)) == len(revs)
    c = changes[0]
    assert set(c) == {"entity", "id", "rev", "deleted", "fields"}
    assert "rev" not in c["fields"] and "id" not in c["fields"] and "field_revs" not in c["fields"]
    uuid.UUID(c["id"])
    assert c["fields"]["updated_at"].endswith("Z")


def test_an_inspector_does_not_see_another_inspectors_inspection(app, client, as_inspector, demo):
    other = add_inspector("other@demo.lineside.test")
    theirs = str(add_inspection(other.id))
    changes = SyncClient(client, as_inspector).pull_all()
    assert theirs not in {c["id"] for c in changes}


def test_a_reviewer_pulls_the_brands_inspections_and_rows(client, as_reviewer, as_inspector, insp):
    phone = SyncClient(client, as_inspector)
    rid = new_id()
    phone.edit("response", rid, **response_fields(insp))
    phone.push_outbox()
    reviewer = SyncClient(client, as_reviewer)
    reviewer.pull_all()
    assert reviewer.get("response", rid) is not None and reviewer.get("inspection", insp) is not None


def test_pages_fetch_limit_and_report_has_more(client, as_inspector):
    everything = SyncClient(client, as_inspector).pull_all()
    paged = SyncClient(client, as_inspector)
    first = paged.pull_page(limit=3).get_json()
    assert len(first["changes"]) == 3 and first["has_more"] is True
    paged.cursor = first["cursor"]
    rest = paged.pull_all(limit=3)
    assert [c["id"] for c in first["changes"] + rest] == [c["id"] for c in everything]


def test_an_up_to_date_cursor_gets_an_empty_page(client, as_inspector):
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    page = phone.pull_page().get_json()
    assert page["changes"] == [] and page["has_more"] is False


def test_a_cursor_the_server_never_gave_is_refused(client, as_inspector):
    r = client.get("/api/v1/sync/pull", query_string={"cursor": "bm9wZQ"}, headers=as_inspector)
    assert r.status_code == 422 and "cursor" in r.get_json()["errors"]
    r = client.get("/api/v1/sync/pull", query_string={"limit": 0}, headers=as_inspector)
    assert r.status_code == 422


def test_the_cursor_is_signed_base64_json(client, as_inspector):
    cursor = SyncClient(client, as_inspector).pull_page().get_json()["cursor"]
    payload, sig = cursor.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert data["v"] == 1 and isinstance(data["rev"], int) and data["scope"] and sig


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("change", [{"rev": 0}, {"since": 2**70}, {"rev": 10**30}, {"rev": -10**30},
                                    {"since": -1}, {"rev": 1.5}, {"rev": True}, {"scope": ["x"]}, {"v": 2},
                                    {"extra": 1}, {"fill": {"from": "x", "through": 2**64, "after": 0}}])
def test_a_forged_or_hand_made_cursor_answers_422(app, client, as_inspector, change):
    from server.sync.pull import _signature

    cursor = SyncClient(client, as_inspector).pull_page().get_json()["cursor"]
    payload, sig = cursor.split(".")
    data = {**json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))), **change}
    forged = _b64(json.dumps(data).encode())
    with app.test_request_context():
        signed = forged + "." + _b64(_signature(forged))  # as if the key had leaked: the values are still checked
    tokens = [forged + "." + sig, forged, signed] if change != {"rev": 0} else [forged + "." + sig, forged]
    for token in tokens + [cursor + "x", payload + ".", "." + sig, cursor.replace(".", ".."), "é." + sig]:
        r = client.get("/api/v1/sync/pull", query_string={"cursor": token}, headers=as_inspector)
        assert r.status_code == 422, (token, r.status_code)
        assert r.mimetype == "application/problem+json" and "cursor" in r.get_json()["errors"]


def test_an_unsigned_cursor_of_an_older_release_answers_410_so_the_phone_resyncs(client, as_inspector):
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    legacy = _b64(json.dumps({"v": 1, "rev": 3, "scope": "abc", "since": None}, separators=(",", ":")).encode())
    r = client.get("/api/v1/sync/pull", query_string={"cursor": legacy}, headers=as_inspector)
    assert r.status_code == 410
    body = r.get_json()
    assert body["must_resync"] is True and body["reason"] == "cursor_unsigned"
    fresh = client.get("/api/v1/sync/pull", headers=as_inspector)  # what the phone does next
    assert fresh.status_code == 200 and fresh.get_json()["changes"]


def test_a_cursor_signed_with_another_key_answers_422(app, client, as_inspector, monkeypatch):
    cursor = SyncClient(client, as_inspector).pull_page().get_json()["cursor"]
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-servers-key")
    r = client.get("/api/v1/sync/pull", query_string={"cursor": cursor}, headers=as_inspector)
    assert r.status_code == 422


def test_an_inspection_reassigned_away_makes_the_next_pull_answer_410(client, as_inspector, demo):
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    other = add_inspector("other@demo.lineside.test")
    db.session.get(Inspection, demo("inspection:final:B")).inspector_id = other.id
    db.session.commit()
    r = phone.pull_page()
    assert r.status_code == 410
    body = r.get_json()
    assert body["code"] == "gone" and body["must_resync"] is True
    phone.pull_all()
    ids = {k[1] for k, v in phone.store.items() if k[0] == "inspection"}
    assert ids == {str(demo("inspection:inline:A"))}


def test_a_new_assignment_brings_the_older_rows_it_needs(client, as_inspector, demo):
    other = add_inspector("other@demo.lineside.test")
    for name in ("inspection:inline:A", "inspection:final:B"):
        db.session.get(Inspection, demo(name)).inspector_id = other.id
    db.session.commit()
    phone = SyncClient(client, as_inspector)
    assert phone.pull_all() == []
    db.session.get(Inspection, demo("inspection:final:B")).inspector_id = demo("user:inspector")
    db.session.commit()
    changes = phone.pull_all()
    assert phone.resyncs == 0 and {"template", "product", "inspection"} <= entities(changes)


def _live(phone: SyncClient) -> dict:
    return {k: (v["rev"], v["fields"]) for k, v in phone.store.items() if not v["deleted"]}


@pytest.mark.parametrize("limit", [3, 500])
def test_a_new_assignment_streams_its_rows_without_a_resync(client, as_inspector, demo, insp, limit):
    """The phone ends with what a fresh phone pulls: the new inspection's older rows, its
    template, product, PO and lines, and whatever changed meanwhile; no 410, no tombstones."""
    other = add_inspector("other@demo.lineside.test")
    final = demo("inspection:final:B")
    db.session.get(Inspection, final).inspector_id = other.id
    db.session.commit()
    # Rows of the other inspection written while it was not this inspector's, one deleted.
    for n in range(5):
        db.session.add(ChecklistResponse(id=uuid.uuid4(), inspection_id=final, item_key="surface", value="yes",
                                         note=f"other {n}"))
    gone = ChecklistResponse(id=uuid.uuid4(), inspection_id=final, item_key="surface", value="no", note="gone")
    db.session.add(gone)
    db.session.commit()
    gone.deleted = True
    db.session.commit()
    old = SyncClient(client, as_inspector)
    old.edit("response", new_id(), **response_fields(insp, note="before"))
    old.push_outbox()
    old.pull_all(limit=limit)
    assert ("inspection", str(final)) not in old.store
    known = max(v["rev"] for v in old.store.values())
    db.session.get(Inspection, final).inspector_id = demo("user:inspector")
    db.session.commit()
    old.edit("response", new_id(), **response_fields(insp, note="after"))
    old.push_outbox()
    changes = old.pull_all(limit=limit)
    assert old.resyncs == 0
    assert any(c["rev"] <= known and c["entity"] == "response" for c in changes)  # older rows were streamed
    fresh = SyncClient(client, as_inspector)
    fresh.pull_all()
    assert _live(old) == _live(fresh)
    assert ("response", str(gone.id)) not in old.store  # a tombstone it never saw alive
    assert {"template", "product", "purchase_order", "po_line"} <= {k[0] for k in old.store}
    # And the phone is in step afterwards: later changes arrive as usual.
    old.edit("response", new_id(), **response_fields(str(final), note="on the new one"))
    old.push_outbox()
    assert [c["fields"]["note"] for c in old.pull_all() if c["entity"] == "response"] == ["on the new one"]


def test_purged_tombstones_make_an_old_cursor_answer_410(runner, client, as_inspector, insp):
    phone = SyncClient(client, as_inspector)
    rid = new_id()
    phone.edit("response", rid, **response_fields(insp))
    phone.push_outbox()
    phone.pull_all()
    phone.delete("response", rid)
    phone.push_outbox()
    result = runner.invoke(args=["purge-tombstones", "--older-than-seconds", "0"])
    assert result.exit_code == 0 and "purged 1 tombstone" in result.output
    assert phone.pull_page().status_code == 410
    fresh = SyncClient(client, as_inspector)
    assert fresh.pull_page().status_code == 200


def test_a_cursor_ahead_of_the_server_asks_for_a_resync(client, as_inspector):
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    restart_revisions(db.session, 1)  # as if restored from an older backup
    db.session.commit()
    r = phone.pull_page()
    assert r.status_code == 410 and r.get_json()["reason"] == "history_diverged"


def test_a_first_pull_skips_tombstones(client, as_inspector, insp):
    phone = SyncClient(client, as_inspector)
    rid = new_id()
    phone.edit("response", rid, **response_fields(insp))
    phone.push_outbox()
    phone.delete("response", rid)
    phone.push_outbox()
    assert rid not in {c["id"] for c in SyncClient(client, as_inspector).pull_all()}


def test_the_conflict_log_is_tenant_scoped(client, as_inspector, as_reviewer, insp, demo, login):
    a, b = SyncClient(client, as_inspector), SyncClient(client, as_inspector)
    rid = new_id()
    a.edit("response", rid, **response_fields(insp, note="first"))
    a.push_outbox()
    b.pull_all()
    a.pull_all()
    a.edit("response", rid, note="from a")
    a.push_outbox()
    b.edit("response", rid, note="from b")
    b.push_outbox()
    r = client.get("/api/v1/sync/conflicts", query_string={"inspection_id": insp}, headers=as_reviewer)
    assert r.status_code == 200
    assert [(c["field"], c["lost_value"], c["kept_value"]) for c in r.get_json()] == [("note", "from a", "from b")]
    other = add_inspector("other@demo.lineside.test")
    headers = login("other@demo.lineside.test", "other-inspector-pw")
    r = client.get("/api/v1/sync/conflicts", query_string={"inspection_id": insp}, headers=headers)
    assert r.status_code == 404 and other


# -- concurrent writers and pullers (PostgreSQL) ---------------------------------------------

def _require_postgres(backend):
    if backend != "postgres":
        if not os.environ.get("TEST_DATABASE_URL"):
            if in_ci():
                pytest.fail("TEST_DATABASE_URL must be set under CI for the PostgreSQL-only tests")
            pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
        pytest.skip("runs on the PostgreSQL backend only")


@pytest.mark.postgres
def test_pullers_see_every_change_while_writers_commit_late(app, backend, client, as_inspector, insp):
    """4 writers commit with random delays inside their transactions; 2 pullers page all along."""
    _require_postgres(backend)
    rng = random.Random(7)
    stop = threading.Event()
    errors: list[BaseException] = []
    ids = [uuid.uuid4() for _ in range(80)]

    def writer(k: int) -> None:
        try:
            with app.app_context():
                for n in range(k, len(ids), 4):
                    row = db.session.get(ChecklistResponse, ids[n - 4]) if n >= 4 and rng.random() < 0.3 else None
                    if row is not None:
                        row.note = f"edit {n}"
                    else:
                        db.session.add(ChecklistResponse(id=ids[n], inspection_id=uuid.UUID(insp),
                                                         item_key="surface", value="yes", note=""))
                    db.session.flush()  # takes the revision now ...
                    time.sleep(rng.random() * 0.02)  # ... and commits a little later
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def puller(phone: SyncClient) -> None:
        try:
            while not stop.is_set():
                phone.pull_all(limit=7)
            phone.pull_all(limit=7)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    phones = [SyncClient(app.test_client(), as_inspector) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    pullers = [threading.Thread(target=puller, args=(p,)) for p in phones]
    for t in writers + pullers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in pullers:
        t.join()
    assert not errors, errors
    db.session.expire_all()
    truth = {str(i): r for i, r in db.session.execute(select(ChecklistResponse.id, ChecklistResponse.rev))}
    assert len(truth) >= 40
    for phone in phones:
        seen = {k[1]: v["rev"] for k, v in phone.store.items() if k[0] == "response"}
        assert seen == truth
    assert current_revision(db.session) >= max(truth.values())


def test_pulled_ids_times_and_dates_are_written_as_everywhere_else(client, as_inspector, demo, insp):
    from datetime import date, datetime, timezone

    from server.catalog.models import PurchaseOrder
    from server.jsontext import jsonable

    started = datetime(2026, 11, 28, 6, 5, 4, 3210, tzinfo=timezone.utc)
    db.session.get(Inspection, uuid.UUID(insp)).started_at = started
    db.session.get(PurchaseOrder, demo("po:42")).planned_ship_date = date(2027, 2, 3)
    db.session.commit()
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    fields = phone.get("inspection", insp)["fields"]
    assert fields["started_at"] == "2026-11-28T06:05:04.003210Z" == jsonable(started)
    assert fields["purchase_order_id"] == str(demo("po:42"))
    assert fields["created_at"].endswith("Z") and "+00:00" not in fields["created_at"]
    assert phone.get("purchase_order", str(demo("po:42")))["fields"]["planned_ship_date"] == "2027-02-03"


@pytest.mark.postgres
def test_pullers_never_skip_a_commit_under_many_concurrent_pushes(app, backend, database_urls, as_inspector, insp):
    """Through gunicorn (2 workers x 4 threads): eight phones push small batches into four
    inspections (two per inspection, so they queue on its lock), two API-style writers commit
    late all along, three phones pull (pages of 13, 100, 500) all along; afterwards every puller holds exactly
    the committed revision of every row."""
    _require_postgres(backend)
    inspector = db.session.scalar(select(Inspection.inspector_id).where(Inspection.id == uuid.UUID(insp)))
    inspections = [insp] + [str(add_inspection(inspector, f"inspection:load:{k}")) for k in range(3)]
    before = db.session.scalar(select(func.count()).select_from(ChecklistResponse))
    db.session.rollback()
    stop, pushed = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    pushes: list[int] = []
    late = [0, 0]
    rounds, n_pushers = 40, 8

    def pusher(base: str, k: int) -> None:
        try:
            phone = SyncClient(HttpTransport(base), as_inspector)
            mine: list[str] = []
            target = inspections[k % len(inspections)]
            for n in range(rounds):
                for _ in range(3):
                    rid = new_id()
                    mine.append(rid)
                    phone.edit("response", rid, **response_fields(target, note=f"{k}/{n}"))
                for rid in mine[-6:-4]:
                    phone.outbox.append(phone.mutation("response", rid, {"note": f"edit {k}/{n}"}, base_rev=None))
                results = phone.push_outbox()
                assert all(r["status"] in ("applied", "conflict") for r in results), results
                pushes.append(len(results))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def late_writer(k: int) -> None:
        rng = random.Random(k)
        try:
            with app.app_context():
                while not pushed.is_set():  # all along the pushes
                    late[k] += 1
                    db.session.add(ChecklistResponse(id=uuid.uuid4(), inspection_id=uuid.UUID(inspections[k]),
                                                     item_key="surface", value="yes", note="late"))
                    db.session.flush()  # takes the revision now ...
                    time.sleep(rng.random() * 0.02)  # ... and commits a little later
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    def puller(phone: SyncClient, limit: int) -> None:
        try:
            while not stop.is_set():
                phone.pull_all(limit=limit)
            phone.pull_all(limit=limit)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    with gunicorn_server(database_urls[backend], WEB_CONCURRENCY=2, GUNICORN_THREADS=4,
                         SECRET_KEY="concurrency-test-key") as (_, base):
        phones = [SyncClient(HttpTransport(base), as_inspector) for _ in range(3)]
        pushers = [threading.Thread(target=pusher, args=(base, k)) for k in range(n_pushers)]
        writers = [threading.Thread(target=late_writer, args=(k,)) for k in range(2)]
        pullers = [threading.Thread(target=puller, args=(p, limit)) for p, limit in zip(phones, (13, 100, 500), strict=True)]
        started = time.monotonic()
        for t in pushers + writers + pullers:
            t.start()
        for t in pushers:
            t.join()
        pushed.set()
        elapsed = time.monotonic() - started
        for t in writers:
            t.join()
        stop.set()
        for t in pullers:
            t.join()
    assert not errors, errors
    assert sum(pushes) == n_pushers * (3 + (rounds - 1) * 5)
    db.session.expire_all()
    truth = {str(i): r for i, r in db.session.execute(select(ChecklistResponse.id, ChecklistResponse.rev))}
    assert len(truth) - before == n_pushers * rounds * 3 + sum(late), elapsed
    for phone in phones:
        seen = {k[1]: v["rev"] for k, v in phone.store.items() if k[0] == "response" and not v["deleted"]}
        assert seen == truth
        assert phone.resyncs == 0
