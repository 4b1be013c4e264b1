"""Indexes the pull needs on other packages' tables: ``(inspection_id, rev)`` on every table
whose rows belong to an inspection. A pull page of an inspector's or factory user's rows then
reads only the revision window of their own inspections, whatever the table holds in all."""
from __future__ import annotations

from sqlalchemy import Index

from ..extensions import db

#: Tables whose rows a phone sees through their inspection.
TABLES = ("checklist_responses", "measurements", "defects", "photos", "comments", "review_decisions",
          "sync_conflicts")

for _name in TABLES:
    _table = db.metadata.tables[_name]
    Index(f"ix_{_name}_inspection_rev", _table.c.inspection_id, _table.c.rev)
