"""The push's bulk insert (server/sync/bulk.py) stores exactly what SQLAlchemy would, on both databases."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from server.extensions import db
from server.inspect.models import Measurement
from server.sync.bulk import insert_rows
from server.sync.models import AuditEvent


def _measurement(demo, **over) -> dict:
    now = datetime(2026, 11, 28, 7, 30, 15, 123456, tzinfo=timezone.utc)
    row = {"id": uuid.uuid4(), "rev": 7, "created_at": now, "updated_at": now + timedelta(seconds=1),
           "deleted": False, "field_revs": {"value_entered": [7, str(uuid.uuid4())], "note": [3, None]},
           "inspection_id": demo("inspection:inline:A"), "dimension_spec_id": demo("spec:length"),
           "unit_index": 4, "value_entered": 12.25, "unit_entered": "cm", "value_si": 122.5, "in_tolerance": True,
           "source": "manual", "photo_id": None}
    row.update(over)
    return row


def _event(**over) -> dict:
    row = {"id": uuid.uuid4(), "entity": "response", "record_id": uuid.uuid4(), "inspection_id": None,
           "action": "create", "changes": {"note": [None, "éclat 划痕 \u2028"], "n": [1, 2.5], "deep": {"a": [True, None]}},
           "user_id": None, "client_id": uuid.uuid4(), "mutation_id": None, "status": None, "result": None,
           "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)}
    row.update(over)
    return row


def _read(table, ids) -> dict:
    rows = db.session.execute(select(table).where(table.c.id.in_(ids))).mappings().all()
    return {r["id"]: dict(r) for r in rows}


@pytest.mark.parametrize("make", ["measurement", "event"])
def test_bulk_rows_read_back_as_sqlalchemy_written_ones(app, demo, make):
    table = Measurement.__table__ if make == "measurement" else AuditEvent.__table__
    build = (lambda **kw: _measurement(demo, **kw)) if make == "measurement" else _event
    variants = [build(), build(), build(deleted=True, in_tolerance=False, photo_id=uuid.uuid4())
                if make == "measurement" else build(status="applied", result={"mutation_id": "m", "rev": 3})]
    twins = [{**r, "id": uuid.uuid4()} for r in variants]
    insert_rows(db.session.connection(), table, variants)
    db.session.execute(insert(table), twins)
    db.session.commit()
    mine, theirs = _read(table, [r["id"] for r in variants]), _read(table, [r["id"] for r in twins])
    assert len(mine) == len(variants)
    for row, twin in zip(variants, twins, strict=True):
        got, expected = dict(mine[row["id"]]), dict(theirs[twin["id"]])
        got.pop("id"), expected.pop("id")
        assert got == expected
        assert got == {k: v for k, v in row.items() if k != "id"}


def test_a_clash_is_sqlalchemys_integrity_error_and_nothing_of_the_batch_stays(app, demo):
    first = _event()
    insert_rows(db.session.connection(), AuditEvent.__table__, [first])
    db.session.commit()
    fresh = _event()
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            insert_rows(db.session.connection(), AuditEvent.__table__, [fresh, {**first, "action": "update"}])
    db.session.commit()
    assert _read(AuditEvent.__table__, [fresh["id"]]) == {}
    assert _read(AuditEvent.__table__, [first["id"]])[first["id"]]["action"] == "create"


def test_a_row_missing_a_column_is_refused_before_anything_is_sent(app):
    row = _event()
    del row["changes"]
    with pytest.raises(KeyError):
        insert_rows(db.session.connection(), AuditEvent.__table__, [row])
    db.session.rollback()
