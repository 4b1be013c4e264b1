"""Configuration: defaults, environment parsing, the secret key, and gunicorn's worker guard."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def test_embedded_defaults_use_the_instance_folder(tmp_path):
    cfg = load_config(tmp_path, environ={})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'lineside.sqlite3'}"
    assert cfg["STORAGE_URL"] == f"file://{tmp_path / 'photos'}"
    assert cfg["CELERY_EAGER"] is True
    assert cfg["TOKEN_TTL_SECONDS"] == 30 * 24 * 3600


def test_secret_key_is_generated_once_and_kept(tmp_path):
    first = load_config(tmp_path, environ={})["SECRET_KEY"]
    second = load_config(tmp_path, environ={})["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_environment_values_are_typed_and_postgres_urls_use_psycopg(tmp_path):
    cfg = load_config(tmp_path, environ={"TOKEN_TTL_SECONDS": "60", "S3_PATH_STYLE": "true",
                                         "DATABASE_URL": "postgres://u:p@db/lineside",
                                         "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"})
    assert cfg["TOKEN_TTL_SECONDS"] == 60 and cfg["S3_PATH_STYLE"] is True
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db/lineside"
    assert cfg["CELERY_EAGER"] is False


def test_a_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ValueError, match="TOKEN_TTL_SECONDS"):
        load_config(tmp_path, environ={"TOKEN_TTL_SECONDS": "a week"})


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app):
    from sqlalchemy import text

    from server.extensions import db

    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_gunicorn_refuses_several_workers_without_a_secret_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(WEB_CONCURRENCY="2", PORT="0", LINESIDE_INSTANCE_PATH=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "SECRET_KEY" in proc.stdout + proc.stderr
