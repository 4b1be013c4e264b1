"""The foundation: health, auth, errors as problem+json, migrations matching the models."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select


def test_healthz_reports_version_and_dependencies(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["database"] is True and body["storage"] is True and body["version"]


@pytest.mark.parametrize("url", ["sqlite:////nonexistent-lineside-dir/db.sqlite3",
                                 "postgresql://postgres@127.0.0.1:1/lineside"])
def test_healthz_answers_503_when_the_database_is_down(tmp_path, url):
    from server import create_app

    down = create_app({"DATABASE_URL": url, "TESTING": True, "STORAGE_URL": f"file://{tmp_path / 'storage'}"})
    r = down.test_client().get("/healthz")
    assert r.status_code == 503
    assert (r.get_json()["database"], r.get_json()["storage"], r.get_json()["status"]) == (False, True, "degraded")


def test_demo_logins_work_and_tokens_are_stored_hashed(client, demo):
    from server.accounts.models import ApiToken, User
    from server.extensions import db

    for email, password in [("admin@demo.lineside.test", "demo-admin"),
                            ("reviewer@demo.lineside.test", "demo-reviewer"),
                            ("inspector@demo.lineside.test", "demo-inspector")]:
        r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200
        token = r.get_json()["token"]
        assert r.get_json()["user"]["email"] == email
        stored = db.session.scalars(select(ApiToken.token_hash)).all()
        assert token not in stored
        assert hashlib.sha256(token.encode()).hexdigest() in stored
    user = db.session.scalar(select(User).where(User.email == "admin@demo.lineside.test"))
    assert user.password_hash.startswith("$argon2id$")


def test_logout_revokes_the_token(client, as_reviewer):
    assert client.get("/api/v1/me", headers=as_reviewer).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=as_reviewer).status_code == 204
    r = client.get("/api/v1/me", headers=as_reviewer)
    assert r.status_code == 401 and r.content_type == "application/problem+json"


def test_wrong_password_is_401_and_repeated_failures_are_rate_limited(app, client, demo):
    app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 3
    for _ in range(3):
        r = client.post("/api/v1/auth/login", json={"email": "reviewer@demo.lineside.test", "password": "nope"})
        assert r.status_code == 401 and r.get_json()["code"] == "unauthenticated"
    r = client.post("/api/v1/auth/login", json={"email": "reviewer@demo.lineside.test", "password": "demo-reviewer"})
    assert r.status_code == 429 and r.get_json()["code"] == "rate_limited"


def test_rate_limit_per_address(app, client, demo):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 2
    for i in range(2):
        client.post("/api/v1/auth/login", json={"email": f"nobody{i}@x.test", "password": "nope"})
    r = client.post("/api/v1/auth/login", json={"email": "admin@demo.lineside.test", "password": "demo-admin"})
    assert r.status_code == 429


def test_expired_token_is_refused(app, client, demo, login):
    from datetime import timedelta

    from server.accounts.models import ApiToken
    from server.extensions import db
    from server.models import utcnow

    headers = login("reviewer@demo.lineside.test", "demo-reviewer")
    for t in db.session.scalars(select(ApiToken)):
        t.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_token_lifetime_defaults_to_thirty_days(client, demo):
    r = client.post("/api/v1/auth/login", json={"email": "inspector@demo.lineside.test", "password": "demo-inspector"})
    assert r.get_json()["expires_in_seconds"] == 30 * 24 * 3600


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 413, 422, 500])
def test_every_error_is_problem_json_without_a_stack_trace(app, client, as_reviewer, monkeypatch, status):
    if status == 400:
        r = client.post("/api/v1/products", data="{not json", headers={**as_reviewer,
                                                                       "Content-Type": "application/json"})
    elif status == 401:
        r = client.get("/api/v1/products")
    elif status == 403:
        r = client.post("/api/v1/organisations", json={"name": "X", "kind": "brand", "slug": "x"},
                        headers=as_reviewer)
    elif status == 404:
        r = client.get("/api/v1/products/00000000-0000-0000-0000-000000000000", headers=as_reviewer)
    elif status == 405:
        r = client.delete("/api/v1/me", headers=as_reviewer)
    elif status == 409:
        brand = client.get("/api/v1/me", headers=as_reviewer).get_json()["memberships"][0]["organisation_id"]
        r = client.post("/api/v1/products", json={"brand_id": brand, "sku": "TRAY-120-SAGE", "name": "dup"},
                        headers=as_reviewer)
    elif status == 413:
        r = client.post("/api/v1/products", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
                        headers={**as_reviewer, "Content-Type": "application/json"})
    elif status == 422:
        r = client.post("/api/v1/products", json={"sku": 5}, headers=as_reviewer)
    else:
        from server.catalog import service

        def boom(*_a, **_k):
            raise RuntimeError("secret internals")

        monkeypatch.setattr(service, "visible_products", boom)
        r = client.get("/api/v1/products", headers=as_reviewer)
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.content_type == "application/problem+json"
    body = r.get_json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert body["status"] == status
    text = r.get_data(as_text=True)
    assert "Traceback" not in text and "secret internals" not in text and "<html" not in text.lower()
    if status == 422:
        assert "sku" in body["errors"]["json"]


def test_openapi_lists_the_endpoints(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/auth/login", "/api/v1/products", "/api/v1/purchase-orders", "/api/v1/batches"):
        assert path in spec["paths"]


def test_models_and_migrations_agree(app):
    """Autogenerate against the migrated database finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from server.extensions import db

    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == []


def test_seed_demo_is_idempotent(runner, app):
    from sqlalchemy import func

    from server.catalog.models import Product
    from server.extensions import db

    first = runner.invoke(args=["seed-demo"])
    assert "reviewer@demo.lineside.test / demo-reviewer" in first.output
    second = runner.invoke(args=["seed-demo"])
    assert "already present" in second.output
    assert db.session.scalar(select(func.count()).select_from(Product)) == 1


def test_create_user_and_revoke_tokens_commands(runner, client, demo):
    r = runner.invoke(args=["create-user", "--email", "new@x.test", "--name", "New", "--password", "longenough1",
                            "--org", "demo-brand", "--role", "brand_reviewer"])
    assert r.exit_code == 0, r.output
    headers = {"Authorization": "Bearer " + client.post("/api/v1/auth/login", json={
        "email": "new@x.test", "password": "longenough1"}).get_json()["token"]}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    r = runner.invoke(args=["revoke-tokens", "new@x.test"])
    assert "revoked 1" in r.output
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_text_no_database_can_store_is_refused_with_422(client, as_reviewer):
    brand = client.get("/api/v1/me", headers=as_reviewer).get_json()["memberships"][0]["organisation_id"]
    r = client.post("/api/v1/products", headers=as_reviewer,
                    json={"brand_id": brand, "sku": "NUL-1", "name": "bad\u0000name"})
    assert r.status_code == 422 and r.get_json()["errors"]["json"] == {"name": ["Text may not contain NUL characters."]}
    r = client.get("/api/v1/products?q=%00", headers=as_reviewer)
    assert r.status_code == 422
    assert all(p["sku"] != "NUL-1" for p in client.get("/api/v1/products", headers=as_reviewer).get_json())


def test_a_missing_reference_the_service_did_not_check_answers_409(app, client, as_admin, monkeypatch):
    from server.catalog import service

    monkeypatch.setattr(service, "_org", lambda *a, **k: None)  # as if the service forgot its own check
    r = client.post("/api/v1/products", headers=as_admin,
                    json={"brand_id": "00000000-0000-0000-0000-000000000001", "sku": "X", "name": "X"})
    assert r.status_code == 409 and r.content_type == "application/problem+json"
    assert all(p["sku"] != "X" for p in client.get("/api/v1/products", headers=as_admin).get_json())


def test_deactivate_user_signs_them_out_and_blocks_sign_in(runner, client, as_inspector):
    r = runner.invoke(args=["deactivate-user", "inspector@demo.lineside.test"])
    assert r.exit_code == 0 and "deactivated" in r.output
    assert client.get("/api/v1/me", headers=as_inspector).status_code == 401
    r = client.post("/api/v1/auth/login", json={"email": "inspector@demo.lineside.test", "password": "demo-inspector"})
    assert r.status_code == 401
    assert runner.invoke(args=["deactivate-user", "nobody@x.test"]).exit_code != 0


def test_migrations_have_a_single_head_so_plain_db_upgrade_works():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from server import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS_DIR)
    assert len(ScriptDirectory.from_config(cfg).get_heads()) == 1
