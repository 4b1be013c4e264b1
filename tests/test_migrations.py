"""Upgrades on PostgreSQL: one machine migrates at a time, and stepping back one revision keeps the data."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support import databases

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(tmp_path):
    if not os.environ.get("TEST_DATABASE_URL"):
        if databases.in_ci():
            pytest.fail("TEST_DATABASE_URL is not set: the migration tests must run in CI")
        pytest.skip("TEST_DATABASE_URL is not set")
    url = databases.create_database("postgres", tmp_path)
    yield url
    databases.drop_database("postgres", url)


def _flask(url: str, tmp_path: Path, *args: str, log: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "LINESIDE_INSTANCE_PATH": str(tmp_path / "instance"),
           "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "flask", "--app", "server", *args]
    if log is None:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with open(log, "w") as out:  # the child keeps its own copy of the file
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)


def _lock_key() -> int:
    """The key migrations/env.py locks (read from the file: env.py only runs inside Alembic)."""
    source = (ROOT / "migrations" / "env.py").read_text()
    line = next(x for x in source.splitlines() if x.startswith("MIGRATION_LOCK_KEY"))
    return int(line.split("=", 1)[1].split("#")[0].strip(), 0)


def test_upgrades_on_two_machines_at_once_run_one_after_the_other(pg_url, tmp_path):
    engine = create_engine(pg_url)
    try:
        with engine.connect() as holder:
            # Another machine is migrating: it holds the lock.
            holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key()})
            logs = [tmp_path / "first.log", tmp_path / "second.log"]
            procs = [_flask(pg_url, tmp_path, "db", "upgrade", log=log) for log in logs]
            deadline = time.monotonic() + 120
            while not all("waiting for it to finish" in log.read_text() for log in logs):
                assert time.monotonic() < deadline, [log.read_text() for log in logs]
                assert all(p.poll() is None for p in procs), [log.read_text() for log in logs]
                time.sleep(0.2)
            time.sleep(1)
            assert all(p.poll() is None for p in procs), "an upgrade went on while another held the lock"
            with engine.connect() as c:
                assert c.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key()})
            holder.commit()
        for p in procs:
            p.wait(timeout=180)
        outputs = [log.read_text() for log in logs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        with engine.connect() as c:
            heads = c.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert len(heads) == 1
    finally:
        engine.dispose()


def test_downgrading_one_step_keeps_the_data_and_upgrading_again_works(pg_url, tmp_path):
    for args in (("db", "upgrade"), ("seed-demo",)):
        proc = _flask(pg_url, tmp_path, *args)
        out = proc.communicate(timeout=180)[0]
        assert proc.returncode == 0, out
    engine = create_engine(pg_url)
    counts_sql = text("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM inspections), "
                      "(SELECT count(*) FROM checklist_responses), (SELECT value FROM sync_counter WHERE id = 1)")
    try:
        with engine.connect() as c:
            before = tuple(c.execute(counts_sql).one())
            head = c.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert before[0] > 0 and before[1] > 0
        down = _flask(pg_url, tmp_path, "db", "downgrade", "--", "-1")
        out = down.communicate(timeout=180)[0]
        assert down.returncode == 0, out
        with engine.connect() as c:
            assert c.execute(text("SELECT version_num FROM alembic_version")).scalar_one() != head
            assert tuple(c.execute(counts_sql).one()) == before
        up = _flask(pg_url, tmp_path, "db", "upgrade")
        out = up.communicate(timeout=180)[0]
        assert up.returncode == 0, out
        with engine.connect() as c:
            assert c.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
            assert tuple(c.execute(counts_sql).one()) == before
    finally:
        engine.dispose()
