"""Benchmark the sync protocol against a baseline measured in the same run.

Pushes 10,000 checklist responses in batches of 500 through the real push endpoint (Flask
test client: routing, auth, validation, merge, the audit log that is also the mutation log,
the inspections hooks) and pulls them back in pages, then measures in the same database:

* push baseline: inserting the same 10,000 rows with SQLAlchemy Core ``executemany`` (the
  ratio that counts), and for information the same rows plus the 10,000 audit events (the
  mutation log) a push also writes;
* pull baseline: a plain ``SELECT`` of the same rows, serialised to JSON.

The phone's side of a push (making the mutations, encoding the JSON) happens before the
clock starts. The machine may be shared: every figure, pushes and baselines alike, is the
best of five rounds (each push round fills new inspections; the pull reads back the last
round's 10,000 changes).
Prints mutations (changes) per second and the ratio to the baseline. Targets: push >= 0.25,
pull >= 0.5. Runs on a temporary SQLite file and, when reachable (``TEST_DATABASE_URL`` or
``--pg URL``), on a temporary PostgreSQL database.

    python bench/sync.py [--n 10000] [--batch 500] [--pg postgresql://...]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LINESIDE_INSTANCE_PATH", tempfile.mkdtemp(prefix="lineside-bench-"))
os.environ.setdefault("SECRET_KEY", "bench-secret-key")
os.environ.setdefault("ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("ARGON2_TIME_COST", "1")

PUSH_TARGET, PULL_TARGET = 0.25, 0.5
ROUNDS = 5


def run(url: str, n: int, batch: int) -> dict[str, float]:
    import logging

    from sqlalchemy import insert, select

    from server import create_app
    from server.demo import demo_id, seed_demo
    from server.extensions import db
    from server.inspect.models import ChecklistResponse
    from server.models import utcnow
    from server.jsontext import jsonable
    from tests.support import databases

    databases.migrate(url)
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SYNC_PAGE_MAX_LIMIT": 2000, "LOG_LEVEL": "WARNING"})
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with app.app_context():
        seed_demo()
        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={"email": "inspector@demo.lineside.test",
                                                        "password": "demo-inspector"}).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        # Phones sync one inspection at a time: each batch fills one inspection (500 rows, a
        # large AQL sample), so the verdict recomputed after each batch covers a realistic size.
        from server.inspect.models import Inspection

        inspections = []
        for _ in range(ROUNDS * n // batch + 2):
            i = Inspection(kind="inline", purchase_order_id=demo_id("po:42"), batch_id=demo_id("batch:A"),
                           product_id=demo_id("product:tray"), template_id=demo_id("template:tray:1"),
                           inspector_id=demo_id("user:inspector"), golden_sample_id=demo_id("golden:tray:1"),
                           lot_size=2500)
            db.session.add(i)
            inspections.append(i)
        db.session.commit()
        inspection_ids = [str(i.id) for i in inspections]
        items = ["surface", "colour_match", "stacks_flat", "carton_marks", "barcode", "origin"]

        def fields(i: int) -> dict:
            return {"inspection_id": inspection_ids[i // batch], "item_key": items[i % len(items)], "unit_index": i, "value": "yes",
                    "note": f"unit {i}"}

        def catch_up(token_=None) -> str:
            """Pull to the end; the cursor there."""
            while True:
                page = client.get("/api/v1/sync/pull", query_string={"cursor": token_ or "", "limit": 2000},
                                  headers=headers).get_json()
                token_ = page["cursor"]
                if not page["has_more"]:
                    return token_

        client_id = str(uuid.uuid4())
        from server.sync.revisions import current_revision

        def push_all(offset: int) -> float:
            # The phone's work (making the mutations and encoding the JSON) is done before the
            # clock starts; the clock times the server: parsing, applying, answering.
            bodies = []
            for start in range(0, n, batch):
                ms = [{"mutation_id": str(uuid.uuid4()), "entity": "response", "id": str(uuid.uuid4()),
                       "op": "upsert", "base_rev": None, "fields": fields(offset + i)}
                      for i in range(start, min(n, start + batch))]
                bodies.append(json.dumps({"client_id": client_id, "protocol": 1, "mutations": ms}).encode())
            answers = []
            t0 = time.perf_counter()
            for body in bodies:
                answers.append(client.post("/api/v1/sync/push", headers=headers, data=body,
                                           content_type="application/json"))
            elapsed = time.perf_counter() - t0
            for r in answers:
                assert r.status_code == 200, r.get_json()
                assert all(x["status"] == "applied" for x in r.get_json()["results"]), r.get_json()["results"][:3]
            return elapsed

        def pull_all() -> float:
            t0 = time.perf_counter()
            got, token_ = 0, start_cursor
            while True:
                r = client.get("/api/v1/sync/pull", query_string={"cursor": token_, "limit": 2000}, headers=headers)
                page = r.get_json()
                got += sum(1 for c in page["changes"] if c["entity"] == "response")
                token_ = page["cursor"]
                if not page["has_more"]:
                    break
            assert got == n, got
            return time.perf_counter() - t0

        # The machine may be shared: each figure is the best of a few rounds, measured alike.
        # Each push round fills new inspections; the pull reads back the last round's n changes.
        push_s = min(push_all(k * n) for k in range(ROUNDS - 1))
        start_cursor = catch_up()
        start_rev = current_revision(db.session)
        db.session.rollback()
        push_s = min(push_s, push_all((ROUNDS - 1) * n))
        pull_n = n
        pull_s = min(pull_all() for _ in range(ROUNDS))

        # baseline push: the same rows with Core executemany
        table = ChecklistResponse.__table__
        now = utcnow()
        rows = [{"id": uuid.uuid4(), "rev": 0, "created_at": now, "updated_at": now, "deleted": False,
                 "field_revs": {}, "passed": True, **{
                     k: (uuid.UUID(v) if k == "inspection_id" else v) for k, v in fields(i).items()}} for i in range(n)]
        db.session.rollback()

        def base_push(rows) -> float:
            t0 = time.perf_counter()
            for start in range(0, n, batch):
                with db.engine.begin() as conn:
                    conn.execute(insert(table), rows[start:start + batch])
            return time.perf_counter() - t0

        base_push_s = min(base_push([{**r, "id": uuid.uuid4()} for r in rows]) for _ in range(ROUNDS))

        # baseline push, every row a push writes: the records and their audit events (the mutation log)
        from server.sync.models import AuditEvent

        user_id = demo_id("user:inspector")
        rows2 = [{**r, "id": uuid.uuid4()} for r in rows]
        events = [{"id": uuid.uuid4(), "entity": "response", "record_id": r["id"], "inspection_id": r["inspection_id"],
                   "action": "create", "changes": {"note": [None, r["note"]]}, "user_id": user_id,
                   "client_id": uuid.UUID(client_id), "mutation_id": uuid.uuid4(), "status": "applied",
                   "result": {"mutation_id": "x", "status": "applied", "rev": 1}, "at": now} for r in rows2]
        t0 = time.perf_counter()
        for start in range(0, n, batch):
            with db.engine.begin() as conn:
                conn.execute(insert(table), rows2[start:start + batch])
                conn.execute(insert(AuditEvent.__table__), events[start:start + batch])
        base_push_all_s = time.perf_counter() - t0  # once: information only

        # baseline pull: SELECT the same n pushed rows and serialise them to JSON
        pushed = select(table).where(table.c.rev > start_rev).order_by(table.c.rev)

        def base_pull() -> float:
            t0 = time.perf_counter()
            with db.engine.connect() as conn:
                result = conn.execute(pushed).mappings().all()
            body = json.dumps([{k: jsonable(v) for k, v in r.items()} for r in result])
            assert len(result) == pull_n and body
            return time.perf_counter() - t0

        base_pull_s = min(base_pull() for _ in range(ROUNDS))
        db.session.remove()
        db.engine.dispose()
    return {"push_per_s": n / push_s, "base_push_per_s": n / base_push_s, "base_push_all_per_s": n / base_push_all_s,
            "pull_per_s": pull_n / pull_s, "base_pull_per_s": pull_n / base_pull_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", ""))
    ap.add_argument("--only", default="sqlite,postgres", help="comma-separated backends to run")
    ap.add_argument("--without-inspection-hooks", action="store_true",
                    help="measure the protocol alone: skip the inspections' push rules (decide, after_batch)")
    args = ap.parse_args()
    if args.without_inspection_hooks:
        from server.inspect.sync import InspectionPushRules

        InspectionPushRules.decide = lambda self, principal, rows, change: change.fields
        InspectionPushRules.after_batch = lambda self, *args, **kwargs: None
    from tests.support import databases

    backends = [("sqlite", None)] if "sqlite" in args.only else []
    if args.pg and "postgres" in args.only:
        os.environ["TEST_DATABASE_URL"] = args.pg
        backends.append(("postgres", None))
    ok = True
    for backend, _ in backends:
        tmp = Path(tempfile.mkdtemp(prefix="lineside-bench-db-"))
        try:
            url = databases.create_database(backend, tmp)
        except BaseException as exc:  # pytest.skip inside create_database when unreachable
            print(f"{backend}: skipped ({exc})")
            continue
        try:
            r = run(url, args.n, args.batch)
        finally:
            databases.drop_database(backend, url)
        push_ratio = r["push_per_s"] / r["base_push_per_s"]
        pull_ratio = r["pull_per_s"] / r["base_pull_per_s"]
        print(f"{backend:8} push {r['push_per_s']:9.0f} mutations/s   baseline executemany "
              f"{r['base_push_per_s']:9.0f} rows/s   ratio {push_ratio:.2f} (target {PUSH_TARGET})")
        print(f"{backend:8}                                   baseline incl. audit log "
              f"{r['base_push_all_per_s']:6.0f} rows/s   ratio {r['push_per_s'] / r['base_push_all_per_s']:.2f}")
        print(f"{backend:8} pull {r['pull_per_s']:9.0f} changes/s     baseline SELECT+JSON "
              f"{r['base_pull_per_s']:9.0f} rows/s   ratio {pull_ratio:.2f} (target {PULL_TARGET})")
        ok &= push_ratio >= PUSH_TARGET and pull_ratio >= PULL_TARGET
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
