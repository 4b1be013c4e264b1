"""What operators rely on: liveness and readiness, request ids in answers and logs, JSON logs,
503 with Retry-After when storage is down, and analyses kept pending while the broker is down.
"""
from __future__ import annotations

import json
import logging
import socket
import uuid

import pytest

from tests.inspect.photo_flow import declare_photo, demo_photo, photo_row, upload_photo


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- probes --------------------------------------------------------------------------------------

def test_livez_touches_nothing_and_readyz_checks_database_storage_and_broker(client):
    r = client.get("/livez")
    assert r.status_code == 200 and r.get_json()["status"] == "ok"
    for path in ("/readyz", "/healthz"):  # /healthz stays as the same check for existing monitors
        r = client.get(path)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert (body["status"], body["database"], body["storage"], body["broker"]) == ("ok", True, True, "in-process")


@pytest.fixture
def app_config(app_config, request):
    marker = request.node.get_closest_marker("config")
    return {**app_config, **(marker.args[0] if marker else {})}


@pytest.mark.config({"CELERY_BROKER_URL": f"redis://127.0.0.1:{_closed_port()}/0"})
def test_a_broker_that_does_not_answer_is_reported_but_keeps_the_instance_ready(app, client):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json()["broker"] is False and r.get_json()["status"] == "degraded"
    app.config["HEALTH_REQUIRE_BROKER"] = True
    assert client.get("/readyz").status_code == 503
    assert client.get("/livez").status_code == 200


# -- request ids ---------------------------------------------------------------------------------

def test_every_answer_carries_a_request_id_and_problems_repeat_it(client, as_inspector, caplog):
    caplog.set_level(logging.INFO, logger="lineside.request")
    r = client.get("/api/v1/sync/pull", query_string={"cursor": "not-a-cursor"}, headers=as_inspector)
    assert r.status_code == 422
    rid = r.headers["X-Request-Id"]
    assert rid and r.get_json()["request_id"] == rid
    [line] = [rec for rec in caplog.records if rec.name == "lineside.request" and rec.request_id == rid]
    assert (line.method, line.path, line.status) == ("GET", "/api/v1/sync/pull", 422)
    assert line.duration_ms >= 0 and line.user_id != "-"  # the signed-in inspector
    other = client.get("/livez")
    assert other.headers["X-Request-Id"] != rid


def test_a_sane_request_id_from_the_proxy_is_kept_and_a_strange_one_replaced(client):
    assert client.get("/livez", headers={"X-Request-Id": "lb-1234.abc_Z"}).headers["X-Request-Id"] == "lb-1234.abc_Z"
    r = client.get("/nowhere", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert r.status_code == 404
    assert r.headers["X-Request-Id"] != "<script>alert(1)</script>" and r.get_json()["request_id"] == \
        r.headers["X-Request-Id"]


def test_json_log_lines_carry_request_fields():
    from server.requestlog import JsonFormatter

    rec = logging.LogRecord("lineside.request", logging.INFO, __file__, 1, "GET /x 200", (), None)
    rec.request_id, rec.method, rec.path, rec.status, rec.duration_ms, rec.user_id = "r1", "GET", "/x", 200, 1.5, "-"
    out = json.loads(JsonFormatter().format(rec))
    assert {k: out[k] for k in ("level", "logger", "message", "request_id", "status", "duration_ms")} == \
        {"level": "INFO", "logger": "lineside.request", "message": "GET /x 200", "request_id": "r1", "status": 200,
         "duration_ms": 1.5}


def test_an_unknown_log_format_is_refused(tmp_path):
    from server import create_app

    with pytest.raises(ValueError, match="LOG_FORMAT"):
        create_app({"LOG_FORMAT": "xml", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})


# -- storage down --------------------------------------------------------------------------------

@pytest.mark.config({"STORAGE_URL": "s3://lineside-down/photos", "S3_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}",
                     "S3_PATH_STYLE": True})
def test_unreachable_storage_answers_503_with_retry_after_on_upload_and_complete(app, client, as_inspector,
                                                                                  monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(k, v)
    photo_id = declare_photo(demo_photo("in_tolerance"))
    for step in ("upload", "complete"):
        r = client.post(f"/api/v1/blobs/{photo_id}/{step}", headers=as_inspector)
        assert r.status_code == 503, (step, r.get_json())
        assert r.mimetype == "application/problem+json" and r.get_json()["code"] == "unavailable"
        assert int(r.headers["Retry-After"]) > 0
    assert photo_row(photo_id).upload_state == "declared"
    r = client.get("/readyz")
    assert r.status_code == 503 and r.get_json()["storage"] is False


# -- broker down ---------------------------------------------------------------------------------

@pytest.mark.config({"CELERY_BROKER_URL": f"redis://127.0.0.1:{_closed_port()}/0"})
def test_a_photo_completed_while_the_broker_is_down_waits_pending_and_the_sweep_queues_it(app, client, as_inspector,
                                                                                          runner, monkeypatch):
    app.extensions["celery"].conf.broker_connection_timeout = 1
    app.extensions["celery"].conf.broker_connection_max_retries = 0
    data = demo_photo("in_tolerance")
    photo_id = declare_photo(data)
    r = upload_photo(client, as_inspector, photo_id, data)
    assert r.status_code == 200, r.get_json()  # the upload is safe whatever the broker does
    assert photo_row(photo_id).upload_state == "stored"

    result = runner.invoke(args=["sweep-analyses", "--older-than-seconds", "0"])
    assert result.exit_code == 1 and "broker is unreachable" in result.output
    assert photo_row(photo_id).upload_state == "stored"  # still pending, nothing lost

    sent = []
    monkeypatch.setattr("server.inspect.jobs.analyse_photo_task.delay", lambda pid, **kw: sent.append(pid))
    result = runner.invoke(args=["sweep-analyses", "--older-than-seconds", "0"])  # the broker is back
    assert result.exit_code == 0, result.output
    assert sent == [str(photo_id)] and "queued 1" in result.output
    sent.clear()
    assert runner.invoke(args=["sweep-analyses"]).exit_code == 0  # not yet pending for 5 minutes
    assert sent == []


def test_the_sweep_leaves_analysed_and_declared_photos_alone(app, demo, runner, monkeypatch):
    from server.extensions import db
    from server.inspect.models import Photo

    declared = declare_photo(demo_photo("in_tolerance"))
    analysed = declare_photo(demo_photo("in_tolerance"), unit_index=2)
    db.session.get(Photo, analysed).upload_state = "analysed"
    db.session.commit()
    sent = []
    monkeypatch.setattr("server.inspect.jobs.analyse_photo_task.delay", lambda pid, **kw: sent.append(pid))
    assert runner.invoke(args=["sweep-analyses", "--older-than-seconds", "0"]).exit_code == 0
    assert sent == [] and uuid.UUID(str(declared))
