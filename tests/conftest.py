"""Shared fixtures: an app per database backend, a client, a CLI runner, demo data, sign-in.

The schema always comes from the Alembic migrations (``flask db upgrade``), never from
``create_all``. Every test that uses ``app`` runs once per backend: SQLite always, and
PostgreSQL when ``TEST_DATABASE_URL`` is set. Under CI (``CI=true``) an unreachable
PostgreSQL fails the run instead of skipping.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

_INSTANCE = tempfile.mkdtemp(prefix="lineside-test-instance-")
os.environ["LINESIDE_INSTANCE_PATH"] = _INSTANCE
os.environ.setdefault("SECRET_KEY", "test-secret-key")
# Cheaper Argon2 parameters for speed; production keeps the defaults (see server/accounts/service.py).
os.environ.setdefault("ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("ARGON2_TIME_COST", "1")

from tests.support import databases  # noqa: E402

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory):
    """One migrated database per backend for the whole session: ``{"sqlite": url, "postgres": url}``."""
    urls = {}
    made = []
    for backend in BACKENDS:
        url = databases.create_database(backend, tmp_path_factory.mktemp("db"))
        made.append((backend, url))
        databases.migrate(url)
        urls[backend] = url
    yield urls
    for backend, url in made:
        databases.drop_database(backend, url)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def app_config(tmp_path):
    """Config overrides for the test app; tests may change it before asking for ``app``."""
    return {"TESTING": True, "STORAGE_URL": f"file://{tmp_path / 'storage'}",
            "LOGIN_MAX_FAILURES_PER_ADDRESS": 1000}


@pytest.fixture
def app(backend, database_urls, app_config):
    from server import create_app
    from server.extensions import db

    cfg = {"DATABASE_URL": database_urls[backend], **app_config}
    application = create_app(cfg)
    with application.app_context():
        yield application
        db.session.remove()
        databases.truncate_all(db.engine)
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def demo(app):
    """The demo seed, with its well-known ids."""
    from server.demo import demo_id, seed_demo

    seed_demo()
    return demo_id


@pytest.fixture
def login(client):
    """``login(email, password)`` -> headers with a bearer token."""

    def _login(email: str, password: str) -> dict[str, str]:
        r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.get_json()
        return {"Authorization": f"Bearer {r.get_json()['token']}"}

    return _login


@pytest.fixture
def as_reviewer(demo, login):
    return login("reviewer@demo.lineside.test", "demo-reviewer")


@pytest.fixture
def as_inspector(demo, login):
    return login("inspector@demo.lineside.test", "demo-inspector")


@pytest.fixture
def as_admin(demo, login):
    return login("admin@demo.lineside.test", "demo-admin")


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(os.environ.get("TEST_ARTIFACTS_DIR", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_id() -> str:
    return str(uuid.uuid4())
