"""Database connection settings: SQLite in WAL mode with foreign keys on; JSON columns through orjson."""
from __future__ import annotations

import os

from flask import Flask
from sqlalchemy import event

from .extensions import db
from .jsontext import json_dumps, json_loads


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _create_private(engine.url.database)
            event.listen(engine, "connect", _sqlite_pragmas)
            # Python's sqlite3 opens transactions lazily; take the write lock at BEGIN instead,
            # so two writers queue instead of failing with "database is locked" mid-transaction.
            # Reads that say so (server.sync.revisions.reading) begin deferred and do not wait.
            from .sync.revisions import sqlite_begin

            event.listen(engine, "begin", sqlite_begin)


def _create_private(path: str | None) -> None:
    """Create the SQLite file readable by its owner only (0600) before SQLite does (it would use the
    umask, often world-readable); its -wal and -shm files take the same mode. An existing file is left."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:  # a directory that does not exist yet: SQLite reports it clearly itself
        pass


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # Let SQLAlchemy issue BEGIN itself (see the "begin" listener above).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()




#: Engine options every database gets (``SQLALCHEMY_ENGINE_OPTIONS``).
ENGINE_OPTIONS = {"pool_pre_ping": True, "json_serializer": json_dumps, "json_deserializer": json_loads}
