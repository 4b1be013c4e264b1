"""Load test: simulated phones against the server started as production starts it.

Starts gunicorn with the project's ``gunicorn.conf.py`` (``WEB_CONCURRENCY`` workers x
``GUNICORN_THREADS`` threads, loopback only) on a fresh PostgreSQL database (and, with
``--sqlite``, a SQLite file for comparison), seeds one inspector per phone, each with an
inspection of their own on the demo PO, and runs the phone loop: pull from the cursor until
``has_more`` is false, push 20-50 mutations (new checklist responses, edits of earlier ones),
think 1-5 s. Each level (25, 50, 100, 200, 400 phones by default) is bounded in time and in
requests. Prints per level: pushes/s, mutations/s, push and pull p50/p95/p99 (client side),
errors, the server's memory (RSS of master and workers) and the server's own figures read
from ``/metrics`` (mean push and pull time, conflicts). ``--servers 2`` starts two gunicorns
on the one database and spreads the phones over them.

    python bench/load.py --quick                       # 10 and 25 phones, 20 s each
    python bench/load.py --phones 25,50,100,200,400 --duration 60 [--sqlite] [--servers 2]

Targets (200 phones, PostgreSQL): push p95 < 300 ms, pull p95 < 200 ms, no errors, pushes/s at
least twice the ~37 measured before revisions lost their global lock. The machine may be
shared: the phones (threads in this process) compete with the server for CPU.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LINESIDE_INSTANCE_PATH", tempfile.mkdtemp(prefix="lineside-load-"))
os.environ.setdefault("ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("ARGON2_TIME_COST", "1")

SECRET = "load-bench-secret"
METRICS_TOKEN = "load-bench-metrics"


def seed(url: str, phones: int) -> list[tuple[str, str]]:
    """One inspector per phone with an inspection of their own: ``[(token, inspection id)]``."""
    from server import create_app
    from server.accounts.models import Organisation, Role
    from server.accounts.service import add_membership, create_user, issue_token
    from server.demo import demo_id, seed_demo
    from server.extensions import db
    from server.inspect.models import Inspection

    app = create_app({"DATABASE_URL": url, "TESTING": True, "LOG_LEVEL": "WARNING"})
    out = []
    with app.app_context():
        seed_demo()
        db.session.commit()
        factory = db.session.get(Organisation, demo_id("org:factory"))
        for k in range(phones):
            user = create_user(f"load{k}@bench.lineside.test", "load-bench-password", f"Load {k}")
            add_membership(user, factory, Role.inspector)
            db.session.flush()  # the user's id
            insp = Inspection(id=uuid.uuid4(), kind="inline", purchase_order_id=demo_id("po:42"),
                              batch_id=demo_id("batch:A"), product_id=demo_id("product:tray"),
                              template_id=demo_id("template:tray:1"), inspector_id=user.id,
                              golden_sample_id=demo_id("golden:tray:1"), lot_size=2500)
            db.session.add(insp)
            db.session.flush()
            out.append((issue_token(user, 24 * 3600, "load"), str(insp.id)))
        db.session.commit()
        db.engine.dispose()
    return out


def start_server(url: str, port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers),
           "GUNICORN_THREADS": str(threads), "SECRET_KEY": SECRET, "METRICS_TOKEN": METRICS_TOKEN,
           "LOG_LEVEL": "WARNING"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each server its own (gunicorn.conf.py makes one)
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null",
                             "server:create_app()"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_healthy(base: str, timeout: float = 90) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"no healthy server at {base}")


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(x) for x in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def metric(text: str, name: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


class Phone(threading.Thread):
    def __init__(self, base: str, token: str, inspection: str, deadline: float, budget: list[int],
                 stats: dict, lock: threading.Lock, rng: random.Random) -> None:
        super().__init__(daemon=True)
        import requests

        self.http = requests.Session()
        self.base, self.inspection, self.deadline, self.budget = base, inspection, deadline, budget
        self.headers = {"Authorization": f"Bearer {token}"}
        self.stats, self.lock, self.rng = stats, lock, rng
        self.cursor: str | None = None
        self.client_id = str(uuid.uuid4())
        self.mine: list[tuple[str, int]] = []

    def _take(self) -> bool:
        with self.lock:
            if self.budget[0] <= 0 or time.monotonic() > self.deadline:
                return False
            self.budget[0] -= 1
            return True

    def _record(self, kind: str, seconds: float, ok: bool) -> None:
        with self.lock:
            self.stats[kind].append(seconds)
            if not ok:
                self.stats["errors"] += 1

    def run(self) -> None:
        time.sleep(self.rng.random() * 3)  # phones do not all start at once
        while self._take():
            if not self.pull() or not self._take() or not self.push():
                return
            time.sleep(1 + 4 * self.rng.random())

    def pull(self) -> bool:
        while True:
            q = {"cursor": self.cursor} if self.cursor else {}
            start = time.perf_counter()
            try:
                r = self.http.get(self.base + "/api/v1/sync/pull", params=q, headers=self.headers, timeout=60)
                ok = r.status_code == 200
            except Exception:
                ok = False
            self._record("pull", time.perf_counter() - start, ok)
            if not ok:
                return False
            page = r.json()
            self.cursor = page["cursor"]
            if not page["has_more"] or not self._take():
                return True

    def push(self) -> bool:
        n = self.rng.randint(20, 50)
        muts = []
        for _ in range(n):
            if self.mine and self.rng.random() < 0.3:
                rid, rev = self.rng.choice(self.mine)
                fields, base = {"note": f"edit {self.rng.random():.6f}"}, rev
            else:
                rid, base = str(uuid.uuid4()), None
                fields = {"inspection_id": self.inspection, "item_key": "surface", "value": "yes",
                          "unit_index": self.rng.randint(0, 199), "note": "load"}
            muts.append({"mutation_id": str(uuid.uuid4()), "entity": "response", "id": rid, "op": "upsert",
                         "base_rev": base, "fields": fields})
        body = {"client_id": self.client_id, "protocol": 1, "mutations": muts}
        start = time.perf_counter()
        try:
            r = self.http.post(self.base + "/api/v1/sync/push", json=body, headers=self.headers, timeout=60)
            ok = r.status_code == 200 and all(x["status"] in ("applied", "conflict") for x in r.json()["results"])
        except Exception:
            ok = False
        self._record("push", time.perf_counter() - start, ok)
        if ok:
            with self.lock:
                self.stats["mutations"] += n
            revs = {m["id"]: x["rev"] for m, x in zip(muts, r.json()["results"], strict=True)}
            known = dict(self.mine)
            known.update(revs)
            self.mine = list(known.items())[-200:]
        return ok


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def level(bases: list[str], procs: list[subprocess.Popen], phones: list[tuple[str, str]], duration: float,
          max_requests: int) -> dict:
    import requests

    stats: dict = {"push": [], "pull": [], "errors": 0, "mutations": 0}
    lock = threading.Lock()
    budget = [max_requests]
    before = [requests.get(b + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30).text
              for b in bases]
    start = time.monotonic()
    deadline = start + duration
    threads = [Phone(bases[k % len(bases)], token, insp, deadline, budget, stats, lock, random.Random(k))
               for k, (token, insp) in enumerate(phones)]
    peak = 0.0
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, sum(rss_mib(p.pid) for p in procs))
        time.sleep(0.5)
    elapsed = time.monotonic() - start
    after = [requests.get(b + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30).text
             for b in bases]

    def server(name: str) -> float:
        return sum(metric(a, name) - metric(b, name) for a, b in zip(after, before, strict=True))

    pushes = server("lineside_sync_push_seconds_count")
    pulls = server("lineside_sync_pull_seconds_count")
    return {"phones": len(phones), "seconds": elapsed, "pushes": len(stats["push"]),
            "pushes_s": len(stats["push"]) / elapsed, "mutations_s": stats["mutations"] / elapsed,
            "push_p50": pct(stats["push"], .5), "push_p95": pct(stats["push"], .95), "push_p99": pct(stats["push"], .99),
            "pull_p50": pct(stats["pull"], .5), "pull_p95": pct(stats["pull"], .95), "pull_p99": pct(stats["pull"], .99),
            "errors": stats["errors"], "rss_mib": peak,
            "server_push_ms": 1000 * server("lineside_sync_push_seconds_sum") / pushes if pushes else float("nan"),
            "server_pull_ms": 1000 * server("lineside_sync_pull_seconds_sum") / pulls if pulls else float("nan"),
            "conflicts": server("lineside_sync_conflicts_total")}


def run(kind: str, url: str, counts: list[int], args) -> None:
    from tests.support import databases
    from tests.sync.support import free_port

    databases.migrate(url)
    phones = seed(url, max(counts))
    servers = args.servers if kind == "postgres" else 1
    ports = [free_port() for _ in range(servers)]
    procs = [start_server(url, port, args.workers, args.threads) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for b in bases:
            wait_healthy(b)
        print(f"\n{kind}: {servers} server(s) x {args.workers} workers x {args.threads} threads")
        print(f"{'phones':>6} {'pushes/s':>8} {'mut/s':>7} {'push p50/p95/p99 ms':>21} {'pull p50/p95/p99 ms':>21} "
              f"{'errors':>6} {'RSS MiB':>8} {'srv push/pull ms':>16}")
        for n in counts:
            r = level(bases, procs, phones[:n], args.duration, args.max_requests)
            print(f"{r['phones']:>6} {r['pushes_s']:>8.1f} {r['mutations_s']:>7.0f} "
                  f"{r['push_p50']:>6.0f}/{r['push_p95']:>6.0f}/{r['push_p99']:>6.0f} "
                  f"{r['pull_p50']:>6.0f}/{r['pull_p95']:>6.0f}/{r['pull_p99']:>6.0f} "
                  f"{r['errors']:>6} {r['rss_mib']:>8.0f} {r['server_push_ms']:>7.1f}/{r['server_pull_ms']:<7.1f}",
                  flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phones", default="25,50,100,200,400", help="comma-separated phone counts, one level each")
    ap.add_argument("--duration", type=float, default=60, help="seconds per level (phones stop starting new work)")
    ap.add_argument("--max-requests", type=int, default=20000, help="requests per level at most")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--servers", type=int, default=1, help="gunicorn servers on the one PostgreSQL database")
    ap.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL"), help="PostgreSQL server URL")
    ap.add_argument("--sqlite", action="store_true", help="also run on a SQLite file, for comparison")
    ap.add_argument("--quick", action="store_true", help="10 and 25 phones, 20 s each")
    args = ap.parse_args()
    counts = [10, 25] if args.quick else [int(x) for x in args.phones.split(",")]
    if args.quick:
        args.duration = min(args.duration, 20)
    from tests.support import databases

    if args.pg:
        os.environ["TEST_DATABASE_URL"] = args.pg
        url = databases.create_database("postgres", Path(tempfile.mkdtemp()))
        try:
            run("postgres", url, counts, args)
        finally:
            databases.drop_database("postgres", url)
    if args.sqlite or not args.pg:
        run("sqlite", databases.create_database("sqlite", Path(tempfile.mkdtemp(prefix="lineside-load-"))), counts,
            args)


if __name__ == "__main__":
    main()
