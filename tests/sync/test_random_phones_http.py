"""The random-phones scenario over real HTTP: gunicorn with two workers on loopback, several users.

Seeded, bounded in time. Each phone runs in its own thread and owns the rows it creates (so its
own final view is the model of them): it creates, edits and deletes checklist responses, pushes
with random client time-outs and retries, sometimes sends the same batch on two connections at
once, pulls while others push, and mixes in poison mutations (NUL text, wrong types, unknown
codes) that must be rejected one by one. Meanwhile a worker is SIGKILLed at normal speed, twice.
At the end: no answer was a 5xx; every mutation is recorded exactly once (0 lost, 0 duplicated);
the database holds exactly each phone's view of its own rows; and after a last incremental pull
every phone's copy of every row equals the database (a pull that skipped a late commit would
leave a stale copy).
"""
from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid

import pytest
import requests
from sqlalchemy import select

from server.extensions import db
from server.inspect.models import ChecklistResponse
from server.sync.models import AuditEvent
from tests.sync.support import (HttpTransport, SyncClient, add_inspection, add_inspector, gunicorn_server, new_id,
                                worker_pids)

RUN_SECONDS = float(os.environ.get("RANDOM_PHONES_SECONDS", "12"))
FIELDS = {"note": lambda r: f"n{r.randrange(1000)}", "value": lambda r: r.choice(["yes", "no", "na"]),
          "unit_index": lambda r: r.randrange(5)}
FAILURES: list = []  # (method, path, status, body) of every 5xx answer
POISON = [{"note": "nul\x00byte"}, {"unit_index": "abc"}, {"value": ["a", "list"]}, {"note": "x" * 100_000}]


class Flaky(HttpTransport):
    """Real HTTP with a random share of client time-outs; records every HTTP status answered."""

    def __init__(self, base_url: str, rng: random.Random, statuses: list) -> None:
        super().__init__(base_url, timeout=30)
        self.rng, self.statuses = rng, statuses
        self.failures = FAILURES

    def post(self, path, json=None, headers=None, data=None):
        timeout = 0.005 if self.rng.random() < 0.1 else 30  # the phone gives up before the answer
        r = self.session.post(self.base_url + path, json=json, headers=headers, timeout=timeout)
        self.statuses.append(r.status_code)
        if r.status_code >= 500:
            self.failures.append(("POST", path, r.status_code, r.text[:300]))
        return self._Resp(r)

    def get(self, path, query_string=None, headers=None):
        r = self.session.get(self.base_url + path, params=query_string, headers=headers, timeout=30)
        self.statuses.append(r.status_code)
        if r.status_code >= 500:
            self.failures.append(("GET", path, r.status_code, r.text[:300]))
        return self._Resp(r)


def push_some(phone: SyncClient, twin: SyncClient | None, sent: set) -> None:
    """Push the outbox (maybe on two connections at once); adopt the answer if one arrives."""
    batch = list(phone.outbox)
    sent.update(m["mutation_id"] for m in batch)
    answers: list = []

    def one(client):
        try:
            answers.append(client.push(batch))
        except requests.RequestException:
            pass

    threads = [threading.Thread(target=one, args=(c,)) for c in ([phone, twin] if twin else [phone])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in answers:
        if r.status_code != 200:
            continue
        results = r.get_json()["results"]
        assert len(results) == len(batch)
        for m, res in zip(batch, results, strict=True):
            assert res["mutation_id"] == m["mutation_id"]
            assert res["status"] in {"applied", "duplicate", "conflict", "rejected"}, res
            if m in phone.outbox:
                phone.outbox.remove(m)
            rec = phone.store.get((m["entity"], m["id"]))
            if rec is not None and res.get("rev") is not None:
                rec["rev"] = max(rec["rev"] or 0, res["rev"])


def run_phone(phone: SyncClient, twin: SyncClient, rng: random.Random, insp: str, mine: list, sent: set,
              poison_ids: list, deadline: float, errors: list) -> None:
    try:
        while time.monotonic() < deadline:
            live = [i for i in mine if not phone.store[("response", i)]["deleted"]]
            action = rng.random()
            if action < 0.2 or not live:
                rid = new_id()
                mine.append(rid)
                phone.edit("response", rid, inspection_id=insp, item_key=rng.choice(["surface", "barcode", "origin"]),
                           **{k: gen(rng) for k, gen in FIELDS.items()})
            elif action < 0.5:
                name = rng.choice(list(FIELDS))
                phone.edit("response", rng.choice(live), **{name: FIELDS[name](rng)})
            elif action < 0.55:
                phone.delete("response", rng.choice(live))
            elif action < 0.6:  # poison: a new row with a value no database should take
                pid = new_id()
                poison_ids.append(pid)
                phone.outbox.append(phone.mutation("response", pid, {"inspection_id": insp, "item_key": "surface",
                                                                     **rng.choice(POISON)}))
            elif action < 0.85:
                push_some(phone, twin if rng.random() < 0.15 else None, sent)
            else:
                try:
                    phone.pull_all()
                except (requests.RequestException, AssertionError):
                    pass  # a worker died under the pull: pull again later from the same cursor
    except Exception as exc:  # surfaced by the test
        errors.append(exc)


@pytest.mark.parametrize("seed", [7])
def test_random_phones_over_http_with_two_workers_and_killed_workers(app, database_urls, backend, demo,
                                                                     as_inspector, login, seed):
    other = add_inspector("second@demo.lineside.test")
    other_insp = str(add_inspection(other.id))
    as_other = login("second@demo.lineside.test", "other-inspector-pw")
    insp = str(demo("inspection:inline:A"))
    statuses: list = []
    with gunicorn_server(database_urls[backend], WEB_CONCURRENCY=2, GUNICORN_THREADS=4) as (proc, base):
        rng = random.Random(seed)
        setups = [(as_inspector, insp)] * 3 + [(as_other, other_insp)]
        phones, twins = [], []
        for headers, _ in setups:
            phone = SyncClient(Flaky(base, random.Random(rng.random()), statuses), headers)
            twin = SyncClient(Flaky(base, random.Random(rng.random()), statuses), headers, client_id=phone.client_id)
            phone.pull_all()
            phones.append(phone)
            twins.append(twin)
        mine: list[list[str]] = [[] for _ in phones]
        sent: set = set()
        poison_ids: list = []
        errors: list = []
        deadline = time.monotonic() + RUN_SECONDS
        threads = [threading.Thread(target=run_phone, args=(p, t, random.Random(rng.random()), setup[1], m, sent,
                                                             poison_ids, deadline, errors))
                   for p, t, setup, m in zip(phones, twins, setups, mine, strict=True)]
        for t in threads:
            t.start()
        killed = 0
        for at in (RUN_SECONDS / 3, 2 * RUN_SECONDS / 3):  # SIGKILL a worker at normal speed, twice
            time.sleep(max(0.0, deadline - RUN_SECONDS + at - time.monotonic()))
            workers = worker_pids(proc.pid)
            if workers:
                os.kill(rng.choice(workers), signal.SIGKILL)
                killed += 1
        for t in threads:
            t.join(RUN_SECONDS + 60)
        assert not errors, errors
        assert killed == 2

        # the network heals: every phone sends what it still holds, then pulls
        heal_until = time.monotonic() + 60
        for phone in phones:
            phone.http.rng = random.Random(0)
            phone.http.rng.random = lambda: 1.0  # no more client time-outs
            while phone.outbox and time.monotonic() < heal_until:
                push_some(phone, None, sent)
            assert not phone.outbox, "the outbox never drained"
        for phone in phones:
            phone.pull_all()

    assert [s for s in statuses if s >= 500] == [], FAILURES
    db.session.rollback()
    db.session.expire_all()
    # 0 lost, 0 duplicated: every mutation sent is recorded, exactly once
    logged = db.session.scalars(select(AuditEvent.mutation_id).where(
        AuditEvent.mutation_id.in_([uuid.UUID(m) for m in sent]))).all()
    assert len(logged) == len(set(logged)) == len(sent)
    # poison never stored
    assert db.session.scalars(select(ChecklistResponse.id).where(
        ChecklistResponse.id.in_([uuid.UUID(i) for i in poison_ids]))).all() == []
    # the database holds each phone's own view of the rows it made
    rows = {str(r.id): r for r in db.session.scalars(select(ChecklistResponse).where(ChecklistResponse.id.in_(
        [uuid.UUID(i) for m in mine for i in m])))}
    for phone, made in zip(phones, mine, strict=True):
        for rid in made:
            local, row = phone.store[("response", rid)], rows[rid]
            assert row.deleted == local["deleted"], rid
            if not row.deleted:
                assert {k: getattr(row, k) for k in FIELDS} == {k: local["fields"][k] for k in FIELDS}, rid
    # no pull skipped a change: every phone's copy of every row it sees equals the database
    for phone in phones:
        for (entity, rid), local in phone.store.items():
            if entity != "response" or rid not in rows:
                continue
            row = rows[rid]
            assert local["deleted"] == row.deleted and local["rev"] == row.rev, (rid, local, row.rev)
    assert sum(len(m) for m in mine) > 20
