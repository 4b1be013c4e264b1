"""Bulk INSERT for the push hot path: SQLAlchemy's type rules, without its per-row overhead.

A push writes two rows per mutation (the record and its audit event, which is also the
mutation log). Through ``Connection.execute(insert(table), rows)`` SQLAlchemy re-derives
every row's parameters generically; most of an executemany's time goes there, not into the
database. Here each column's bind processor (the very one SQLAlchemy would use, from the
column's type and the current dialect) is looked up once per table, and a value shared by
consecutive rows (the batch's one timestamp, the pushing user and client) is converted
once. On SQLite the rows go with SQLAlchemy's own compiled ``INSERT`` through the driver's
``executemany``; on PostgreSQL with a ``COPY`` (binary when psycopg knows every column's
type). Either way they run in the session's transaction and errors are SQLAlchemy's
(``IntegrityError``, ``DataError``).

Every row must give every column (the push service fills defaults itself), so no column
default is silently skipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError


@dataclass(frozen=True)
class _Prepared:
    """What inserting into one table on one database needs, worked out once."""

    sql: str  # the INSERT (SQLite) or the COPY (PostgreSQL)
    names: tuple[str, ...]  # the columns, in the statement's order
    procs: tuple[Callable[[Any], Any] | None, ...]  # each column's bind processor
    positional: bool
    copy_types: list[str] | None = None  # PostgreSQL type names for a binary COPY


_CACHE: dict[tuple[str, Table], _Prepared] = {}
#: SQLAlchemy's spelling -> PostgreSQL's, where they differ.
_PG_ALIASES = {"float": "float8", "double precision": "float8"}


def _prepare(conn: Connection, table: Table) -> _Prepared:
    dialect = conn.dialect
    key = (dialect.name, table)
    prepared = _CACHE.get(key)
    if prepared is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=[c.key for c in table.c])
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
        by_name = {c.key: c for c in table.c}
        procs = tuple(by_name[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
        if dialect.name != "postgresql":
            prepared = _Prepared(compiled.string, names, procs, bool(compiled.positional))
        else:
            spelled = [by_name[n].type.compile(dialect=dialect).lower().split("(")[0].strip() for n in names]
            types = [_PG_ALIASES.get(t, t) for t in spelled]
            known = conn.connection.driver_connection.adapters.types
            binary = all(known.get(t) is not None for t in types)
            sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN" + (" (FORMAT BINARY)" if binary else "")
            prepared = _Prepared(sql, names, procs, bool(compiled.positional), types if binary else None)
        _CACHE[key] = prepared
    return prepared


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts holding every column of ``table``) with one driver ``executemany``.

    Raises ``KeyError`` when a row lacks a column, and what the database raises, wrapped
    by SQLAlchemy, for a value it refuses.
    """
    if not rows:
        return
    prepared = _prepare(conn, table)
    columns = []
    for name, proc in zip(prepared.names, prepared.procs, strict=True):
        values = [row[name] for row in rows]
        if proc is not None:
            out, last, last_out = [], object(), None
            for v in values:
                if v is not last:  # shared objects (timestamps, ids of the batch) convert once
                    last, last_out = v, proc(v)
                out.append(last_out)
            values = out
        columns.append(values)
    params: list = list(zip(*columns, strict=True))
    if conn.dialect.name == "postgresql":
        _copy(conn, prepared, params)
        return
    if not prepared.positional:
        params = [dict(zip(prepared.names, p, strict=True)) for p in params]
    conn.exec_driver_sql(prepared.sql, params)


def _copy(conn: Connection, prepared: _Prepared, params: list[tuple]) -> None:
    """PostgreSQL: COPY the rows in (psycopg 3), far cheaper per row than INSERT."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        with conn.connection.driver_connection.cursor() as cur, cur.copy(prepared.sql) as copy:
            if prepared.copy_types:
                copy.set_types(prepared.copy_types)
            for row in params:
                copy.write_row(row)
    except dbapi.Error as exc:
        raise DBAPIError.instance(prepared.sql, None, exc, dbapi.Error) from exc
