"""Test databases: made fresh per session, migrated with Alembic, emptied between tests."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def create_database(backend: str, tmp: Path) -> str:
    """Return the URL of a new, empty database for ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'test.sqlite3'}"
    base = os.environ["TEST_DATABASE_URL"]
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1)
                   if base.startswith("postgresql://") else base)
    name = f"lineside_test_{uuid.uuid4().hex[:10]}"
    try:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:  # pragma: no cover - depends on the machine
        msg = f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(backend: str, url: str) -> None:
    if backend != "postgres":
        return
    u = make_url(url)
    engine = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    engine.dispose()


def migrate(url: str) -> None:
    """Build the schema the way production does: ``flask db upgrade``."""
    from flask_migrate import upgrade

    from server import create_app

    app = create_app({"DATABASE_URL": url, "TESTING": True})
    with app.app_context():
        upgrade()
        from server.extensions import db

        db.engine.dispose()


def truncate_all(engine) -> None:
    """Empty every table but Alembic's and reset the sync counter's row (and sequence)."""
    from server.extensions import db

    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name != "sync_counter"]
    with engine.begin() as conn:
        # DELETE is much faster than TRUNCATE on the handful of rows a test leaves.
        for t in tables:
            conn.execute(t.delete())
        conn.execute(text("UPDATE sync_counter SET value = 0, purged_through = 0, history_started_rev = NULL, "
                          "restored_at = NULL WHERE id = 1"))
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('sync_rev_seq', 1, false)"))
