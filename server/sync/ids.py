"""Matching a column against many ids, for push and pull alike."""
from __future__ import annotations

from sqlalchemy import ARRAY, Select, any_, cast, func, literal

from ..extensions import db


def any_of(column, ids: list | Select):
    """``column IN (ids)``, for a list of ids or a query of them; on PostgreSQL ``column = ANY(array)``.

    A list goes as one array parameter instead of hundreds. A query becomes ``ARRAY(query)``,
    computed once: the planner turns ``IN (subquery)`` into a join, and on stale statistics
    (right after a burst of pushes) it looped over the inspections and scanned a pull page's
    whole revision window for each, where the array keeps the page a scan of the revision
    index, in order, that stops at the page's size.
    """
    if db.engine.dialect.name != "postgresql":
        return column.in_(ids)
    if isinstance(ids, Select):
        return column == any_(func.array(ids.scalar_subquery()))
    return column == any_(cast(literal(ids, ARRAY(column.type)), ARRAY(column.type)))

