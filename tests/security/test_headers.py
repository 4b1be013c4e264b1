"""Security headers and answers that must not depend on what the request body says."""
from __future__ import annotations

import pytest


def directive(csp: str, name: str) -> list[str]:
    for part in csp.split(";"):
        words = part.split()
        if words and words[0] == name:
            return words[1:]
    raise AssertionError(f"no {name} in {csp}")


def test_csp_allows_images_and_connections_only_from_self_with_local_storage(client):
    with client.get("/") as r:  # closes the served file
        csp = r.headers["Content-Security-Policy"]
    assert directive(csp, "img-src") == ["'self'", "blob:", "data:"]
    assert directive(csp, "connect-src") == ["'self'"]


@pytest.mark.parametrize("cfg,origins", [
    ({"STORAGE_URL": "s3://photos/p", "S3_ENDPOINT_URL": "https://minio.example.com:9000", "S3_PATH_STYLE": True},
     ["https://minio.example.com:9000"]),
    ({"STORAGE_URL": "s3://photos/p", "S3_REGION": "eu-west-1"},
     ["https://photos.s3.eu-west-1.amazonaws.com", "https://s3.eu-west-1.amazonaws.com",
      "https://photos.s3.amazonaws.com"]),
    ({"STORAGE_URL": "s3://photos/p", "STORAGE_PUBLIC_ORIGIN": "https://cdn.example.com"}, ["https://cdn.example.com"]),
])
def test_csp_names_the_configured_storage_origin_and_nothing_else(cfg, origins):
    from server.web import csp_for

    csp = csp_for(cfg)
    assert directive(csp, "img-src") == ["'self'", "blob:", "data:", *origins]
    assert directive(csp, "connect-src") == ["'self'", *origins]
    assert "https:" not in directive(csp, "img-src") and "http:" not in directive(csp, "connect-src")


@pytest.mark.parametrize("method,path,kwargs", [
    ("POST", "/api/v1/sync/push", {"json": {"mutations": "x"}}),
    ("POST", "/api/v1/sync/push", {"data": b"[" * 5000, "content_type": "application/json"}),
    ("GET", "/api/v1/sync/pull", {"query_string": {"limit": "lots"}}),
    ("GET", "/api/v1/review/queue", {"query_string": {"state": "maybe"}}),
    ("POST", "/api/v1/users", {"json": {"email": "not an email"}}),
    ("GET", "/api/v1/review/batches/00000000-0000-0000-0000-000000000000/drift.svg", {}),
])
def test_anonymous_requests_get_401_before_any_field_error(client, method, path, kwargs):
    r = client.open(path, method=method, **kwargs)
    assert r.status_code == 401 and r.get_json()["code"] == "unauthenticated", r.get_json()


def test_sign_in_itself_still_answers_field_errors(client):
    r = client.post("/api/v1/auth/login", json={"email": "x"})
    assert r.status_code == 422 and "password" in r.get_json()["errors"]["json"]


def test_a_very_long_url_is_a_414_problem_not_html(client):
    r = client.get("/api/v1/sync/pull?cursor=" + "x" * 5000)
    assert r.status_code == 414 and r.mimetype == "application/problem+json"
    assert r.get_json()["code"] == "uri_too_long"


def test_instance_folder_and_sqlite_file_are_private(tmp_path):
    import os
    import stat

    from server import create_app

    instance = tmp_path / "instance"
    db_file = tmp_path / "private.sqlite3"
    old = os.umask(0o022)
    try:
        from server.config import load_config

        load_config(instance, {"SECRET_KEY": "k"}, environ={})
        create_app({"DATABASE_URL": f"sqlite:///{db_file}", "TESTING": True})
    finally:
        os.umask(old)
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert stat.S_IMODE(db_file.stat().st_mode) == 0o600
