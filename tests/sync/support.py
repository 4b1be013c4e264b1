"""A phone for tests: a local store, an outbox, and push/pull the way the PWA does them.

``SyncClient`` talks to the Flask test client or, through :class:`HttpTransport`, to a real
server on loopback. Edits go to the outbox with the revision the phone edited from; an
outbox entry leaves only when the server has answered for it.
"""
from __future__ import annotations

import uuid
from typing import Any

import requests


def new_id() -> str:
    return str(uuid.uuid4())


class HttpTransport:
    """The Flask test client's ``post``/``get`` over real HTTP (``requests``)."""

    class _Resp:
        def __init__(self, r: requests.Response) -> None:
            self.status_code = r.status_code
            self._r = r

        def get_json(self):
            return self._r.json()

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def post(self, path: str, json=None, headers=None, data=None):
        return self._Resp(self.session.post(self.base_url + path, json=json, data=data, headers=headers,
                                            timeout=self.timeout))

    def get(self, path: str, query_string=None, headers=None):
        return self._Resp(self.session.get(self.base_url + path, params=query_string, headers=headers,
                                           timeout=self.timeout))


class SyncClient:
    """One phone: ``store`` maps (entity, id) -> {"rev", "deleted", "fields"}; ``outbox`` holds mutations."""

    def __init__(self, http, headers: dict[str, str], client_id: str | None = None) -> None:
        self.http = http
        self.headers = headers
        self.client_id = client_id or new_id()
        self.cursor: str | None = None
        self.store: dict[tuple[str, str], dict[str, Any]] = {}
        self.outbox: list[dict] = []
        self.resyncs = 0
        self.authored: set[tuple[str, str]] = set()  # records this phone changed (the PWA's local_at)
        self.reoffered: list[dict] = []  # answers to re-offers after 410 history_diverged

    # -- local edits --
    def mutation(self, entity: str, id_: str, fields: dict | None = None, op: str = "upsert",
                 base_rev: Any = "auto") -> dict:
        """A mutation as the phone would make it, with ``base_rev`` from the local store."""
        if base_rev == "auto":
            base_rev = (self.store.get((entity, id_)) or {}).get("rev")
        return {"mutation_id": new_id(), "entity": entity, "id": id_, "op": op, "base_rev": base_rev,
                "fields": fields or {}}

    def edit(self, entity: str, id_: str, **fields) -> dict:
        """Change a record locally and queue the mutation."""
        m = self.mutation(entity, id_, fields)
        rec = self.store.setdefault((entity, id_), {"rev": None, "deleted": False, "fields": {}})
        rec["fields"].update(fields)
        self.outbox.append(m)
        self.authored.add((entity, id_))
        return m

    def delete(self, entity: str, id_: str) -> dict:
        m = self.mutation(entity, id_, op="delete")
        if (entity, id_) in self.store:
            self.store[(entity, id_)]["deleted"] = True
        self.outbox.append(m)
        self.authored.add((entity, id_))
        return m

    # -- network --
    def push(self, mutations: list[dict] | None = None, protocol: int = 1):
        """POST a batch (the outbox by default) and return the raw response."""
        body = {"client_id": self.client_id, "protocol": protocol,
                "mutations": self.outbox if mutations is None else mutations}
        return self.http.post("/api/v1/sync/push", json=body, headers=self.headers)

    def push_outbox(self) -> list[dict]:
        """Push the outbox; drop what the server answered for; remember the revisions. Returns the results."""
        if not self.outbox:
            return []
        r = self.push()
        assert r.status_code == 200, r.get_json()
        results = r.get_json()["results"]
        for m, res in zip(list(self.outbox), results, strict=True):  # one answer per mutation
            assert res["mutation_id"] == m["mutation_id"]
            self.outbox.remove(m)
            rec = self.store.get((m["entity"], m["id"]))
            if rec is not None and res.get("rev") is not None:
                rec["rev"] = max(rec["rev"] or 0, res["rev"])
        return results

    def pull_page(self, limit: int | None = None):
        q = {"cursor": self.cursor} if self.cursor else {}
        if limit:
            q["limit"] = limit
        return self.http.get("/api/v1/sync/pull", query_string=q, headers=self.headers)

    def pull_all(self, limit: int | None = None) -> list[dict]:
        """Pull until ``has_more`` is false; on 410, start again from scratch. Returns every change seen."""
        seen = []
        while True:
            r = self.pull_page(limit)
            if r.status_code == 410:
                assert r.get_json()["must_resync"] is True
                if r.get_json()["reason"] == "history_diverged":
                    self.reoffer()
                self.resyncs += 1
                self.cursor = None
                pending = {(m["entity"], m["id"]) for m in self.outbox}
                self.store = {k: v for k, v in self.store.items() if k in pending}
                continue
            assert r.status_code == 200, r.get_json()
            page = r.get_json()
            for ch in page["changes"]:
                self.apply(ch)
            seen += page["changes"]
            self.cursor = page["cursor"]
            if not page["has_more"]:
                return seen

    def reoffer(self, batch: int = 200) -> list[dict]:
        """After 410 ``history_diverged``: offer again every record this phone changed, as it holds it."""
        pending = {(m["entity"], m["id"]) for m in self.outbox}
        mutations = []
        for key in sorted(self.authored - pending):
            rec = self.store.get(key)
            if rec is None:
                continue
            m = self.mutation(key[0], key[1], None if rec["deleted"] else dict(rec["fields"]),
                              op="delete" if rec["deleted"] else "upsert", base_rev=rec["rev"])
            mutations.append({**m, "reoffer": True})
        # creations first: an inspection's rows, photos, defects before what refers to them
        order = {"response": 0, "defect": 1, "photo": 2, "measurement": 3, "comment": 4, "decision": 5}
        mutations.sort(key=lambda m: (m["op"] == "delete", order.get(m["entity"], 9)))
        results = []
        for i in range(0, len(mutations), batch):
            r = self.push(mutations[i:i + batch])
            assert r.status_code == 200, r.get_json()
            results += r.get_json()["results"]
        self.reoffered += results
        return results

    def apply(self, ch: dict) -> None:
        """Adopt a pulled change, keeping local edits still waiting in the outbox on top."""
        key = (ch["entity"], ch["id"])
        pending = [m for m in self.outbox if (m["entity"], m["id"]) == key]
        rec = {"rev": ch["rev"], "deleted": ch["deleted"], "fields": dict(ch["fields"])}
        for m in pending:
            if m["op"] == "delete":
                rec["deleted"] = True
            else:
                rec["fields"].update(m["fields"])
        self.store[key] = rec

    def sync(self, limit: int | None = None) -> list[dict]:
        """Push the outbox, then pull everything new."""
        results = self.push_outbox()
        self.pull_all(limit)
        return results

    def get(self, entity: str, id_: str) -> dict | None:
        return self.store.get((entity, id_))


# -- data helpers (need an app context) ------------------------------------------------------

def add_inspector(email: str, name: str = "Other Inspector", password: str = "other-inspector-pw"):
    """A second inspector in the demo factory; returns the user."""
    from server.accounts.models import Organisation
    from server.accounts.service import add_membership, create_user
    from server.accounts.models import Role
    from server.demo import demo_id
    from server.extensions import db

    user = create_user(email, password, name)
    add_membership(user, db.session.get(Organisation, demo_id("org:factory")), Role.inspector)
    db.session.commit()
    return user


def add_inspection(inspector_id, name: str = "inspection:other"):
    """Another inspection on the demo PO, assigned to ``inspector_id``; returns its id."""
    from server.demo import demo_id
    from server.extensions import db
    from server.inspect.models import Inspection

    insp = Inspection(id=demo_id(name), kind="inline", purchase_order_id=demo_id("po:42"),
                      batch_id=demo_id("batch:A"), product_id=demo_id("product:tray"),
                      template_id=demo_id("template:tray:1"), inspector_id=inspector_id,
                      golden_sample_id=demo_id("golden:tray:1"), lot_size=2500)
    db.session.add(insp)
    db.session.commit()
    return insp.id


def response_fields(inspection_id, item_key: str = "surface", value="yes", **extra) -> dict:
    return {"inspection_id": str(inspection_id), "item_key": item_key, "value": value, **extra}


def count(model, *where) -> int:
    from sqlalchemy import func, select

    from server.extensions import db

    n = db.session.scalar(select(func.count()).select_from(model).where(*where))
    db.session.rollback()  # end the read: on SQLite every transaction holds the write lock
    return n


# -- real servers on loopback -----------------------------------------------------------------

import contextlib  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def live_server(app):
    """Serve ``app`` with werkzeug's threaded server on a free loopback port; yields the base URL."""
    from werkzeug.serving import make_server

    from server.extensions import db

    db.session.rollback()  # on SQLite an open transaction here would hold the write lock
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base_url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(base_url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no healthy server at {base_url}")


@contextlib.contextmanager
def gunicorn_server(database_url: str, app: str = "server:create_app()", **env):
    """A real gunicorn (one gthread worker) serving ``app`` on a free loopback port; yields ``(process, base_url)``."""
    from server.extensions import db

    db.session.rollback()  # on SQLite an open transaction here would hold the write lock
    port = free_port()
    full_env = {**os.environ, "DATABASE_URL": database_url, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1",
                **{k: str(v) for k, v in env.items()}}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app],
                            cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base)
        yield proc, base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn master's child processes (its workers)."""
    path = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []
