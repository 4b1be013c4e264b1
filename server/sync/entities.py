"""What the pull side reads of the registry (:mod:`server.sync.registry`), under its old names.

Entities are registered by the domain packages at start-up; nothing here names one, except
:data:`INSPECTION_ROWS`, which the pull scope (``pull.py``) still reads.
"""
from __future__ import annotations

from typing import Any

from ..fields import FieldError, FieldSpec, parse_uuid  # noqa: F401
from .registry import ENTITIES, Entity, entity, register  # noqa: F401

#: Rows of an inspection, for the pull scope (everything the inspections package pushes but the inspection).
INSPECTION_ROWS = ("response", "measurement", "defect", "photo", "comment", "decision")
#: Columns never sent to phones: the server's merge bookkeeping.
HIDDEN_COLUMNS = frozenset({"field_revs"})
#: Columns at the top level of a pulled change rather than in ``fields``.
TOP_LEVEL = frozenset({"id", "rev", "deleted"})


def column_default(column) -> Any:
    """The Python-side default of a column (scalar or callable), or None."""
    d = column.default
    if d is None:
        return None
    if d.is_scalar:
        return d.arg
    if d.is_callable:
        return d.arg(None)
    return None  # pragma: no cover - SQL expression defaults are not used on synced tables
