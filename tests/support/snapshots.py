"""What the database holds, to check that a refused request created and changed nothing."""
from __future__ import annotations

from sqlalchemy import select

from server.extensions import db

#: Tables any authenticated request may write: sign-in bookkeeping, not data.
BOOKKEEPING_TABLES = frozenset({"api_tokens", "login_attempts", "alembic_version"})


def database_snapshot() -> dict[str, list[str]]:
    """Every row of every data table, as sorted text, per table. Reads through the test's session."""
    db.session.expire_all()
    out: dict[str, list[str]] = {}
    for table in db.metadata.sorted_tables:
        if table.name in BOOKKEEPING_TABLES:
            continue
        out[table.name] = sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
    return out
