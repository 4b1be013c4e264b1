"""The analysis task: bad input never sticks a photo, storage trouble is retried or recorded,
and a real Celery worker on a real Redis broker analyses what a completed upload enqueues.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.inspect.photo_flow import demo_photo, declare_photo, photo_row, store_photo, upload_photo
from tests.support.databases import in_ci

REPO = Path(__file__).resolve().parents[2]


def _enqueue(photo_id):
    from server.extensions import db
    from server.inspect.jobs import enqueue_analysis

    db.session.rollback()
    enqueue_analysis(photo_id)


# -- bad input (eager, in-process) -----------------------------------------------------------------

@pytest.mark.parametrize(("name", "make"), [
    ("truncated jpeg", lambda: demo_photo("in_tolerance")[:60_000]),
    ("zero bytes", lambda: b""),
    ("not an image", lambda: b"%PDF-1.4\n" + b"not a photo at all\n" * 200),
])
def test_bad_bytes_through_the_task_end_unusable_with_a_reason(app, demo, name, make):
    photo_id = store_photo(make())
    _enqueue(photo_id)
    photo = photo_row(photo_id)
    assert (photo.upload_state, photo.analysis_status) == ("analysed", "unusable"), name
    assert photo.flagged and photo.flag_reasons == ["unusable"]
    assert photo.analysis["reasons"] and all(isinstance(r, str) and r for r in photo.analysis["reasons"])
    assert photo.overlay_key is None or photo.overlay_key.startswith("overlays/")


def test_unreadable_storage_ends_unusable_in_process_instead_of_waiting(app, demo, monkeypatch):
    from server.storage.backends import get_storage

    photo_id = store_photo(demo_photo("in_tolerance"))

    def down(*a, **kw):
        raise ConnectionError("storage is down")

    monkeypatch.setattr(get_storage(), "open", down)
    _enqueue(photo_id)
    photo = photo_row(photo_id)
    assert photo.analysis_status == "unusable"
    assert "could not read the photo from storage" in photo.analysis["reasons"][0]


def test_a_malformed_photo_id_is_dropped_without_error(app):
    from server.inspect.jobs import analyse_photo_task

    assert analyse_photo_task.apply(args=["not-a-uuid"]).get() is None


def test_an_unknown_photo_is_skipped(app):
    from server.inspect.jobs import analyse_photo_task

    assert analyse_photo_task.apply(args=[str(uuid.uuid4())]).get() is None


# -- a real worker on a real broker ----------------------------------------------------------------

@pytest.fixture
def redis_url():
    url = os.environ.get("TEST_REDIS_URL", "")
    if not url:
        if in_ci():
            pytest.fail("TEST_REDIS_URL is not set: the Celery worker test must run in CI")
        pytest.skip("TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15)")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        if in_ci():
            pytest.fail(f"Redis at TEST_REDIS_URL is unreachable: {exc}")
        pytest.skip(f"Redis at TEST_REDIS_URL is unreachable: {exc}")
    return url


@pytest.fixture
def queue_name():
    """A queue of this test's own, so no other worker on the same Redis takes its tasks."""
    return f"lineside-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def app_config(app_config, request):
    """Tests with a ``worker`` send tasks to the broker; the others run them in-process."""
    if "worker" in request.fixturenames or "redis_url" in request.fixturenames:
        return {**app_config, "CELERY_BROKER_URL": request.getfixturevalue("redis_url")}
    return app_config


def _start_worker(app, redis_url, queue_name, tmp_path, name="worker", **env):
    """A real ``celery worker`` process on the test's database, storage and broker queue; answers (proc, log path)."""
    celery = app.extensions["celery"]
    assert not celery.conf.task_always_eager
    celery.conf.task_default_queue = queue_name
    celery.conf.task_routes = {"inspect.analyse_photo": {"queue": queue_name}}
    full_env = {**os.environ, "DATABASE_URL": app.config["DATABASE_URL"], "STORAGE_URL": app.config["STORAGE_URL"],
                "CELERY_BROKER_URL": redis_url, "SECRET_KEY": app.config["SECRET_KEY"],
                "LINESIDE_INSTANCE_PATH": str(tmp_path / f"{name}-instance"), "PYTHONPATH": str(REPO),
                **{k: str(v) for k, v in env.items()}}
    log_path = tmp_path / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "server.tasks:celery_app", "worker", "--pool", "solo",
         "--queues", queue_name, "--without-heartbeat", "--without-gossip", "--without-mingle",
         "--loglevel", "INFO", "--hostname", f"{name}-{queue_name}@%h"],
        cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc, log_path


def _stop_worker(proc, redis_url, queue_name):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
        proc.wait(timeout=10)
    try:
        import redis

        redis.Redis.from_url(redis_url).delete(queue_name)
    except Exception:  # pragma: no cover
        pass


@pytest.fixture
def worker(app, redis_url, queue_name, tmp_path):
    """A real ``celery worker`` process on the test's database, storage and broker queue."""
    proc, _ = _start_worker(app, redis_url, queue_name, tmp_path)
    try:
        yield proc
    finally:
        _stop_worker(proc, redis_url, queue_name)


def _wait_analysed(photo_ids, proc, log_path, timeout_seconds=120.0):
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        rows = [photo_row(pid) for pid in photo_ids]
        if all(r.upload_state == "analysed" for r in rows):
            return rows
        assert proc.poll() is None, "the worker died:\n" + log_path.read_text(errors="replace")[-4000:]
        time.sleep(0.5)
    raise AssertionError("the worker did not analyse the photos in time:\n"
                         + log_path.read_text(errors="replace")[-4000:])


def test_a_real_worker_analyses_completed_uploads_and_survives_bad_photos(app, client, as_inspector, worker,
                                                                          tmp_path):
    bad_id = store_photo(demo_photo("in_tolerance")[:50_000])  # truncated JPEG
    _enqueue(bad_id)
    data = demo_photo("in_tolerance")
    good_id = declare_photo(data)
    r = upload_photo(client, as_inspector, good_id, data)  # complete enqueues on the broker
    assert r.status_code == 200, r.get_json()
    assert photo_row(good_id).upload_state == "stored"  # not analysed in-process

    bad, good = _wait_analysed([bad_id, good_id], worker, tmp_path / "worker.log")
    assert bad.analysis_status == "unusable" and bad.flag_reasons == ["unusable"]
    assert good.analysis_status == "pass" and not good.flagged
    assert worker.poll() is None  # the worker is still alive


def test_a_worker_killed_mid_analysis_hands_the_task_on_within_the_visibility_timeout(
        app, client, as_inspector, redis_url, queue_name, tmp_path):
    """SIGKILL leaves the task unacknowledged: another worker gets it after CELERY_VISIBILITY_TIMEOUT_SECONDS, not 1 h."""
    visibility = 10
    app.extensions["celery"].conf.broker_transport_options = {"visibility_timeout": visibility}
    first, first_log = _start_worker(app, redis_url, queue_name, tmp_path, "doomed", ANALYSIS_TEST_DELAY_SECONDS=600,
                                     CELERY_VISIBILITY_TIMEOUT_SECONDS=visibility)
    second = None
    try:
        data = demo_photo("in_tolerance")
        photo_id = declare_photo(data)
        assert upload_photo(client, as_inspector, photo_id, data).status_code == 200
        deadline = time.monotonic() + 120
        while "test delay" not in first_log.read_text(errors="replace"):  # the task is running
            assert time.monotonic() < deadline and first.poll() is None, first_log.read_text(errors="replace")
            time.sleep(0.2)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.monotonic()
        assert photo_row(photo_id).upload_state == "stored"
        second, second_log = _start_worker(app, redis_url, queue_name, tmp_path, "rescuer",
                                           CELERY_VISIBILITY_TIMEOUT_SECONDS=visibility)
        [photo] = _wait_analysed([photo_id], second, second_log, timeout_seconds=180)
        waited = time.monotonic() - killed_at
        assert photo.analysis_status == "pass"
        assert waited < 300, f"redelivered after {waited:.0f} s"  # Redis' default would be an hour (3600 s)
    finally:
        if first.poll() is None:
            first.kill()
        if second is not None:
            _stop_worker(second, redis_url, queue_name)


def test_an_unexpected_error_after_the_pipeline_still_ends_unusable(app, demo, monkeypatch):
    def broken(*a, **kw):
        raise KeyError("bug")

    monkeypatch.setattr("server.inspect.analysis.store_overlay", broken)
    photo_id = store_photo(demo_photo("in_tolerance"))
    _enqueue(photo_id)
    photo = photo_row(photo_id)
    assert (photo.upload_state, photo.analysis_status) == ("analysed", "unusable")
    assert photo.analysis["reasons"] == ["analysis failed unexpectedly (KeyError); analyse it again later"]
