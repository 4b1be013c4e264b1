"""Several simulated phones, lossy network: the server ends with exactly the merge of what was saved.

A seeded loop interleaves phones that edit, create and delete checklist responses offline,
push whole outboxes or only their newest part first (reordering), lose answers after the
server committed, and have old requests replayed by the network. The server's answers are
checked as they come (a mutation id seen before answers ``duplicate``, never anything
else), and at the end the database must equal a model that applies, in arrival order, every
mutation the server answered as saved, with each field's later write winning and deletes
winning over edits; every phone must converge to it.
"""
from __future__ import annotations

import random
import uuid

import pytest
from sqlalchemy import select

from server.extensions import db
from server.inspect.models import ChecklistResponse
from server.sync.models import AuditEvent
from tests.sync.support import SyncClient, count, new_id

FIELDS = {"note": lambda r: f"n{r.randrange(1000)}", "value": lambda r: r.choice(["yes", "no", "na"]),
          "unit_index": lambda r: r.randrange(5)}


class Dropped(Exception):
    """The server answered, but the answer never reached the phone."""


class LossyNetwork:
    """Wraps the test client: logs every (request, answer) in arrival order and drops some answers."""

    def __init__(self, http, rng: random.Random, drop: float) -> None:
        self.http, self.rng, self.drop = http, rng, drop
        self.log: list[tuple[dict, list[dict]]] = []

    def post(self, path, json=None, headers=None):
        r = self.http.post(path, json=json, headers=headers)
        assert r.status_code == 200, r.get_json()
        self.log.append((json, r.get_json()["results"]))
        if self.rng.random() < self.drop:
            raise Dropped
        return r

    def get(self, path, query_string=None, headers=None):
        return self.http.get(path, query_string=query_string, headers=headers)


def send(phone: SyncClient, mutations: list[dict]) -> None:
    """Push some of the outbox; on an answer, drop those entries from the outbox."""
    try:
        results = phone.push(mutations).get_json()["results"]
    except Dropped:
        return
    for m, res in zip(mutations, results, strict=True):  # one answer per mutation
        phone.outbox.remove(m)
        rec = phone.store.get((m["entity"], m["id"]))
        if rec is not None and res.get("rev") is not None:
            rec["rev"] = max(rec["rev"] or 0, res["rev"])


def model_of(log: list[tuple[dict, list[dict]]]) -> dict[str, dict]:
    """Apply, in arrival order, every mutation the server answered as saved; check the answers on the way."""
    rows: dict[str, dict] = {}
    seen: dict[str, str] = {}
    for body, results in log:
        assert len(results) == len(body["mutations"])
        for m, res in zip(body["mutations"], results, strict=True):
            mid = m["mutation_id"]
            if mid in seen:
                assert res["status"] == "duplicate" and res["original_status"] == seen[mid], (m, res)
                continue
            assert res["status"] in {"applied", "conflict", "rejected"}, res
            seen[mid] = res["status"]
            if res["status"] == "rejected":
                continue
            row = rows.get(m["id"])
            if m["op"] == "delete":
                row["deleted"] = True
            elif row is None:
                rows[m["id"]] = {"deleted": False, **{k: m["fields"].get(k) for k in FIELDS}}
            elif row["deleted"]:
                assert res["status"] == "conflict"  # an edit of a deleted record loses, logged
            else:
                row.update({k: v for k, v in m["fields"].items() if k in FIELDS})
    return rows


@pytest.mark.parametrize("seed", [1, 2])
def test_random_phones_end_with_exactly_the_merge_of_what_was_saved(client, as_inspector, demo, seed):
    rng = random.Random(seed)
    insp = str(demo("inspection:inline:A"))
    net = LossyNetwork(client, rng, drop=0.25)
    phones = [SyncClient(net, as_inspector) for _ in range(3)]
    for phone in phones:
        phone.pull_all()
    made: list[str] = []

    for _step in range(70):
        phone = rng.choice(phones)
        action = rng.random()
        mine = [k[1] for k, v in phone.store.items() if k[0] == "response" and not v["deleted"] and k[1] in made]
        if action < 0.2 or not mine:
            rid = new_id()
            made.append(rid)
            phone.edit("response", rid, inspection_id=insp, item_key=rng.choice(["surface", "barcode", "origin"]),
                       **{k: gen(rng) for k, gen in FIELDS.items()})
        elif action < 0.55:
            name = rng.choice(list(FIELDS))
            phone.edit("response", rng.choice(mine), **{name: FIELDS[name](rng)})
        elif action < 0.6:
            phone.delete("response", rng.choice(mine))
        elif action < 0.63:
            phone.outbox.append(phone.mutation("defect", new_id(), {"inspection_id": insp, "code": "x",
                                                                     "defect_class": "not-a-class"}))
        elif action < 0.8 and phone.outbox:
            if rng.random() < 0.3 and len(phone.outbox) > 1:
                send(phone, phone.outbox[rng.randrange(1, len(phone.outbox)):])  # newest first: reordered
            else:
                send(phone, list(phone.outbox))
        elif action < 0.9:
            phone.pull_all()
        elif net.log:
            body, _ = rng.choice(net.log)  # the network delivers an old request again
            try:
                net.post("/api/v1/sync/push", json=body, headers=phone.headers)
            except Dropped:
                pass

    net.drop = 0.0
    for phone in phones:
        while phone.outbox:
            send(phone, list(phone.outbox))
    for phone in phones:
        phone.pull_all()

    expected = model_of(net.log)
    db.session.expire_all()
    actual = {str(r.id): {"deleted": r.deleted, **{k: getattr(r, k) for k in FIELDS}}
              for r in db.session.scalars(select(ChecklistResponse).where(ChecklistResponse.id.in_(
                  [uuid.UUID(i) for i in made])))}
    assert actual == expected
    processed = {m["mutation_id"] for body, _ in net.log for m in body["mutations"]}
    assert count(AuditEvent, AuditEvent.mutation_id.isnot(None)) == len(processed)  # each mutation recorded once, however often it arrived
    for phone in phones:
        local = {k[1]: {"deleted": v["deleted"], **({f: v["fields"].get(f) for f in FIELDS} if not v["deleted"]
                                                     else {f: expected[k[1]][f] for f in FIELDS})}
                 for k, v in phone.store.items() if k[0] == "response" and k[1] in expected}
        live = {i: r for i, r in expected.items() if not r["deleted"]}
        assert {i: r for i, r in local.items() if not r["deleted"]} == live
