"""Bulk INSERT for the push hot path: SQLAlchemy's statement and type rules, without its per-row overhead.

A push writes three rows per mutation (the record, the mutation log entry and the audit
event). Through ``Connection.execute(insert(table), rows)`` SQLAlchemy re-derives every
row's parameters generically; most of an executemany's time goes there, not into the
database. Here each column's bind processor (the very one SQLAlchemy would use, from the
column's type and the current dialect) is looked up once per table, and a value shared by
consecutive rows (the batch's one timestamp, the pushing user and client) is converted
once. The statement is SQLAlchemy's own compiled ``INSERT``, sent with the driver's
``executemany`` through ``exec_driver_sql``, so it runs in the session's transaction and
its errors are SQLAlchemy's (``IntegrityError``, ``DataError``).

Every row must give every column (the push service fills defaults itself), so no column
default is silently skipped.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection

_Prepared = tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...], bool]
_CACHE: dict[tuple[str, Table], _Prepared] = {}


def _prepare(conn: Connection, table: Table) -> _Prepared:
    dialect = conn.dialect
    key = (dialect.name, table)
    prepared = _CACHE.get(key)
    if prepared is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=[c.key for c in table.c])
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
        by_name = {c.key: c for c in table.c}
        procs = tuple(by_name[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
        prepared = _CACHE[key] = (compiled.string, names, procs, bool(compiled.positional))
    return prepared


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts holding every column of ``table``) with one driver ``executemany``.

    Raises ``KeyError`` when a row lacks a column, and what the database raises, wrapped
    by SQLAlchemy, for a value it refuses.
    """
    if not rows:
        return
    sql, names, procs, positional = _prepare(conn, table)
    columns = []
    for name, proc in zip(names, procs):
        values = [row[name] for row in rows]
        if proc is not None:
            out, last, last_out = [], object(), None
            for v in values:
                if v is not last:  # shared objects (timestamps, ids of the batch) convert once
                    last, last_out = v, proc(v)
                out.append(last_out)
            values = out
        columns.append(values)
    params: list = list(zip(*columns))
    if conn.dialect.name == "postgresql":
        _copy(conn, table, names, params)
        return
    if not positional:
        params = [dict(zip(names, p)) for p in params]
    conn.exec_driver_sql(sql, params)


def _copy(conn: Connection, table: Table, names: tuple[str, ...], params: list[tuple]) -> None:
    """PostgreSQL: COPY the rows in (psycopg 3), far cheaper per row than INSERT."""
    from sqlalchemy.exc import DBAPIError

    dbapi_conn = conn.connection.driver_connection
    types = _pg_types(dbapi_conn, conn, table, names)
    # Binary when every column's type is known to psycopg (cheaper per value), else text.
    sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN" + (" (FORMAT BINARY)" if types else "")
    try:
        with dbapi_conn.cursor() as cur, cur.copy(sql) as copy:
            if types:
                copy.set_types(types)
            for row in params:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, None, exc, conn.dialect.loaded_dbapi.Error) from exc


_PG_TYPES: dict[Table, list[str] | None] = {}
#: SQLAlchemy's spelling -> PostgreSQL's, where they differ.
_PG_ALIASES = {"float": "float8", "double precision": "float8"}


def _pg_types(dbapi_conn: Any, conn: Connection, table: Table, names: tuple[str, ...]) -> list[str] | None:
    """PostgreSQL type names of ``names`` for a binary COPY, or None when one is not known to psycopg."""
    if table not in _PG_TYPES:
        by_name = {c.key: c for c in table.c}
        types = []
        for n in names:
            spelled = by_name[n].type.compile(dialect=conn.dialect).lower().split("(")[0].strip()
            types.append(_PG_ALIASES.get(spelled, spelled))
        known = all(dbapi_conn.adapters.types.get(t) is not None for t in types)
        _PG_TYPES[table] = types if known else None
    return _PG_TYPES[table]
