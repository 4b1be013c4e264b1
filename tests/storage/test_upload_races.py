"""Photo upload races, over real HTTP with real concurrency, on both databases and both storage backends.

* two completes of one photo at once answer the same success, and the analysis is enqueued once;
* a complete racing a push that edits the same photo neither deadlocks nor fails;
* a PUT arriving on the upload URL while complete runs never reaches the content-addressed key;
* a complete that failed after checking the bytes can be retried without uploading again;
* a body cut off mid-upload is not stored by the local backend.
"""
from __future__ import annotations

import hashlib
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from server.storage.backends import get_storage
from tests.storage import test_uploads as _uploads
from tests.storage.test_uploads import photo_row as _photo_row
from tests.storage.test_uploads import png, stored_objects
from tests.support.s3 import s3_bucket, s3_server  # noqa: F401
from tests.sync.support import HttpTransport, SyncClient, live_server, new_id

ROUNDS = 6
# the upload tests' fixtures: both storage backends, analysis calls recorded instead of run
analysis_calls, app_config, storage_kind = _uploads.analysis_calls, _uploads.app_config, _uploads.storage_kind


def photo_row(photo_id: str):
    """The photo's row as plain values; the read transaction ends at once (on SQLite it holds the write lock)."""
    from types import SimpleNamespace

    from server.extensions import db

    row = _photo_row(photo_id)
    values = SimpleNamespace(**{k: getattr(row, k) for k in ("upload_state", "storage_key", "flagged_by_inspector",
                                                              "sequence")})
    db.session.rollback()
    return values


def declare_by_push(phone, insp: str, data: bytes) -> str:
    pid = new_id()
    phone.edit("photo", pid, inspection_id=insp, sha256=hashlib.sha256(data).hexdigest(),
               size_bytes=len(data), content_type="image/png")
    result = phone.push_outbox()[0]
    assert result["status"] == "applied", result
    return pid


def put_bytes(base: str, target: dict, data: bytes) -> int:
    url = target["url"] if urlsplit(target["url"]).hostname not in (None, "localhost") else base + urlsplit(
        target["url"]).path
    return requests.put(url, data=data, headers=target["headers"], timeout=30).status_code


def content_bytes_match_their_key(app) -> None:
    """Every content-addressed object holds bytes whose sha256 is its name."""
    storage = get_storage(app)
    for key in storage.list_keys("photos/sha256/"):
        data = b"".join(storage.iter_chunks(key))
        assert hashlib.sha256(data).hexdigest() == key.rsplit("/", 1)[1], key


@pytest.fixture
def http(app, as_inspector, insp):
    with live_server(app) as base:
        phone = SyncClient(HttpTransport(base), as_inspector)
        phone.pull_all()
        yield base, phone


def test_two_completes_at_once_answer_the_same_success(app, http, as_inspector, insp, analysis_calls):
    base, phone = http
    for _ in range(ROUNDS):
        data = png()
        pid = declare_by_push(phone, insp, data)
        target = requests.post(f"{base}/api/v1/blobs/{pid}/upload", headers=as_inspector, timeout=30).json()
        assert put_bytes(base, target, data) == 200
        barrier = threading.Barrier(4)

        def complete(barrier=barrier, pid=pid):
            barrier.wait()
            r = requests.post(f"{base}/api/v1/blobs/{pid}/complete", headers=as_inspector, timeout=60)
            return r.status_code, r.json()

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: complete(), range(4)))
        assert [a[0] for a in answers] == [200] * 4, answers
        assert all(a[1] == answers[0][1] for a in answers)
        assert answers[0][1]["stored"] is True
        assert photo_row(pid).upload_state == "stored"
        assert analysis_calls.count(uuid.UUID(pid)) == 1
    assert not [k for k in stored_objects(app) if "uploads/" in k]  # no staging copy or snapshot left
    content_bytes_match_their_key(app)


def test_complete_racing_a_push_that_edits_the_photo(app, http, as_inspector, insp):
    base, phone = http
    statuses = []
    for i in range(ROUNDS * 2):
        data = png()
        pid = declare_by_push(phone, insp, data)
        target = requests.post(f"{base}/api/v1/blobs/{pid}/upload", headers=as_inspector, timeout=30).json()
        assert put_bytes(base, target, data) == 200
        barrier = threading.Barrier(2)

        def complete(barrier=barrier, pid=pid):
            barrier.wait()
            return requests.post(f"{base}/api/v1/blobs/{pid}/complete", headers=as_inspector, timeout=60).status_code

        def edit(barrier=barrier, pid=pid, i=i):
            barrier.wait()
            phone.edit("photo", pid, flagged_by_inspector=True, sequence=i)
            return phone.push_outbox()[0]["status"]

        with ThreadPoolExecutor(2) as pool:
            done, pushed = pool.submit(complete), pool.submit(edit)
            statuses.append((done.result(), pushed.result()))
        row = photo_row(pid)
        assert (row.upload_state, row.flagged_by_inspector, row.sequence) == ("stored", True, i)
    assert statuses == [(200, "applied")] * len(statuses)


def test_a_put_during_complete_never_reaches_the_content_key(app, http, as_inspector, insp, monkeypatch):
    """The racing PUT lands right after complete took its snapshot (deterministic), and in a loop (threads)."""
    base, phone = http
    storage = get_storage(app)
    data, other = png(body_bytes=30_000), png(body_bytes=30_000)
    assert len(data) == len(other) and data != other
    pid = declare_by_push(phone, insp, data)
    target = requests.post(f"{base}/api/v1/blobs/{pid}/upload", headers=as_inspector, timeout=30).json()
    assert put_bytes(base, target, data) == 200
    real_copy = type(storage).copy
    racing = [True]

    def copy_then_race(self, src, dst, **kw):
        real_copy(self, src, dst, **kw)
        if ".verify-" in dst and racing:  # the snapshot is taken: the phone (or an attacker) PUTs other bytes now
            racing.clear()
            assert put_bytes(base, target, other) == 200

    monkeypatch.setattr(type(storage), "copy", copy_then_race)
    r = requests.post(f"{base}/api/v1/blobs/{pid}/complete", headers=as_inspector, timeout=60)
    assert not racing
    assert r.status_code == 200, r.json()
    row = photo_row(pid)
    assert b"".join(storage.iter_chunks(row.storage_key)) == data
    content_bytes_match_their_key(app)

    # the same, with a thread PUTting the other bytes as fast as it can while complete runs
    for _ in range(ROUNDS):
        data, other = png(body_bytes=30_000), png(body_bytes=30_000)
        pid = declare_by_push(phone, insp, data)
        target = requests.post(f"{base}/api/v1/blobs/{pid}/upload", headers=as_inspector, timeout=30).json()
        assert put_bytes(base, target, data) == 200
        stop = threading.Event()

        def hammer(target=target, other=other, stop=stop):
            while not stop.is_set():
                put_bytes(base, target, other)

        t = threading.Thread(target=hammer)
        t.start()
        try:
            r = requests.post(f"{base}/api/v1/blobs/{pid}/complete", headers=as_inspector, timeout=60)
        finally:
            stop.set()
            t.join(30)
        assert r.status_code in (200, 422), r.json()  # 422: the other bytes were checked, and refused
        row = photo_row(pid)
        if r.status_code == 200:
            assert b"".join(storage.iter_chunks(row.storage_key)) == data
        else:
            assert r.json()["errors"]["sha256"] and row.upload_state == "declared"
        content_bytes_match_their_key(app)


def test_a_complete_that_failed_late_is_retried_without_uploading_again(app, http, as_inspector, insp,
                                                                        monkeypatch, analysis_calls):
    from server.storage import uploads

    base, phone = http
    data = png()
    pid = declare_by_push(phone, insp, data)
    target = requests.post(f"{base}/api/v1/blobs/{pid}/upload", headers=as_inspector, timeout=30).json()
    assert put_bytes(base, target, data) == 200

    real_mark, failures = uploads._mark_stored, [1]

    def broken_once(*a, **kw):
        if failures:
            failures.clear()
            raise RuntimeError("the commit failed")
        return real_mark(*a, **kw)

    monkeypatch.setattr(uploads, "_mark_stored", broken_once)
    first = requests.post(f"{base}/api/v1/blobs/{pid}/complete", headers=as_inspector, timeout=60)
    assert first.status_code == 500 and photo_row(pid).upload_state == "declared"  # an internal failure
    second = requests.post(f"{base}/api/v1/blobs/{pid}/complete", headers=as_inspector, timeout=60)
    assert second.status_code == 200, second.json()
    assert photo_row(pid).upload_state == "stored"
    assert analysis_calls == [uuid.UUID(pid)]
    assert not [k for k in stored_objects(app) if "uploads/" in k]


@pytest.mark.parametrize("storage_kind", ["local"])
def test_a_body_cut_off_mid_upload_is_not_stored(app, http, as_inspector, insp):
    base, phone = http
    data = png(body_bytes=200_000)
    pid = declare_by_push(phone, insp, data)
    target = requests.post(f"{base}/api/v1/blobs/{pid}/upload", headers=as_inspector, timeout=30).json()
    path = urlsplit(target["url"]).path
    host, port = urlsplit(base).hostname, urlsplit(base).port
    with socket.create_connection((host, port), timeout=10) as sock:  # says the whole length, sends half
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/png\r\n"
                     f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data[:len(data) // 2])
        sock.shutdown(socket.SHUT_WR)
        reply = sock.recv(200)
    assert not reply.startswith(b"HTTP/1.1 200") and not reply.startswith(b"HTTP/1.0 200"), reply
    assert not [k for k in stored_objects(app) if "uploads/" in k]
    r = requests.post(f"{base}/api/v1/blobs/{pid}/complete", headers=as_inspector, timeout=60)
    assert r.status_code == 422 and r.json()["errors"]["upload"] == ["incomplete"]
    assert put_bytes(base, target, data) == 200  # the whole file again
    assert requests.post(f"{base}/api/v1/blobs/{pid}/complete", headers=as_inspector, timeout=60).status_code == 200
