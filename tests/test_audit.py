"""One way to build an audit event: the same JSON forms whoever writes it."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

from server.audit import audit_event, record_audit
from server.extensions import db
from server.sync.models import AuditEvent


def test_changes_take_the_apis_json_forms():
    rid, uid = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc)
    event = audit_event("shipment", rid, None, "release", {
        "departed_on": [None, date(2026, 3, 2)], "by": [None, uid], "at": [None, at], "lines": [(1, 2)]}, uid)
    assert event["changes"] == {"departed_on": [None, "2026-03-02"], "by": [None, str(uid)],
                                "at": [None, "2026-03-01T08:30:00Z"], "lines": [[1, 2]]}
    assert event["record_id"] == rid and event["user_id"] == uid and event["at"] is not None


def test_a_pushed_mutation_keeps_its_log_columns():
    mid = uuid.uuid4()
    event = audit_event("defect", uuid.uuid4(), uuid.uuid4(), "create", {}, None, id=mid, mutation_id=mid,
                        status="applied")
    assert event["id"] == event["mutation_id"] == mid and event["status"] == "applied"


def test_recorded_event_reads_back(app):
    rid = uuid.uuid4()
    record_audit("issue", rid, None, "capa_waiver", {"when": [None, date(2026, 1, 5)]}, None)
    db.session.commit()
    stored = db.session.query(AuditEvent).filter(AuditEvent.record_id == rid).one()
    assert stored.changes == {"when": [None, "2026-01-05"]} and stored.at.tzinfo is not None
