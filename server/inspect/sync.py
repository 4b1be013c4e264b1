"""The inspections package's part in sync: its entities, their fields, and whose rules decide a push.

:func:`register` is called once at start-up (``create_app``). The field declarations and
every decision come from :mod:`server.inspect.rules` through :func:`~server.inspect.rows.prepare_sync_fields`,
the same function the API's row endpoints call.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from ..auth import Principal
from ..catalog.models import PurchaseOrder
from ..errors import NotFound
from ..extensions import db
from ..sync import registry
from ..sync.ids import any_of
from ..sync.registry import Change, Entity, Owner, PushRules
from . import rules
from .models import (ChecklistResponse, ChecklistTemplate, Comment, Defect, Inspection, Measurement, Photo,
                     ReviewDecision)
from .rows import prepare_sync_fields
from .rules import FIELDS, InspectionState
from .templates import sync_batch
from .verdicts import after_sync


class InspectionPushRules(PushRules):
    """Pushes of an inspection and its rows: judged by :mod:`.rules` against the inspection as the batch
    has left it so far, then the verdicts of the inspections touched are recomputed."""

    def load(self, principal: Principal, rows: dict, owner_ids: set[uuid.UUID]) -> None:
        """The brand and factory of each inspection's PO (the rules ask about those organisations)."""
        po_ids = {row["purchase_order_id"] for (name, i), row in rows.items()
                  if name == "inspection" and i in owner_ids} - {i for (n, i) in rows if n == "purchase_order"}
        table = PurchaseOrder.__table__
        ids = list(po_ids)
        for start in range(0, len(ids), 500):
            q = select(table).where(any_of(table.c.id, ids[start:start + 500]))
            for row in db.session.execute(q).mappings():
                rows[("purchase_order", row["id"])] = dict(row)

    def owner(self, principal: Principal, rows: dict, ent: Entity, rid: uuid.UUID, fields: dict,
              current: dict | None) -> Owner:
        if ent.name == "inspection":
            insp_id = rid
        else:
            insp_id = current["inspection_id"] if current is not None else fields.get("inspection_id")
        row = rows.get(("inspection", insp_id))
        po = rows.get(("purchase_order", row["purchase_order_id"])) if row is not None else None
        state = InspectionState(row, po["brand_id"], po["factory_id"]) if po is not None else None
        if state is None or row["deleted"] or not rules.may_see(principal, state):
            raise NotFound("No such inspection.", errors={"inspection_id": ["No such inspection."]})
        return Owner(insp_id, insp_id, state)

    def decide(self, principal: Principal, rows: dict, change: Change) -> dict[str, Any]:
        existing = change.current if change.entity.name != "inspection" else None
        return prepare_sync_fields(change.entity.name, change.fields, change.owner.state, principal,
                                   existing=existing, op=change.op)

    def after_batch(self, principal: Principal, owner_ids: list[uuid.UUID], written: dict[str, list[dict]] | None,
                    after_rev: int) -> None:
        if written is None:
            after_sync(owner_ids, principal)
            return
        by_inspection: dict[uuid.UUID, dict[str, list[dict]]] = {}
        for name, written_rows in written.items():
            if name == "inspection":
                continue
            for row in written_rows:
                by_inspection.setdefault(row["inspection_id"], {}).setdefault(name, []).append(row)
        after_sync(owner_ids, principal, written=by_inspection, written_after_rev=after_rev)

    def batch_scope(self):
        return sync_batch()

    def describe(self, ent: Entity) -> list[str]:
        return rules.describe(ent.name)

    def describe_domain(self) -> list[str]:
        return rules.describe_domain()


PUSH_RULES = InspectionPushRules()
_ROWS = (("response", ChecklistResponse), ("measurement", Measurement), ("defect", Defect), ("photo", Photo),
         ("comment", Comment), ("decision", ReviewDecision))
_SERVER_SET = {"comment": {"author_id": lambda p: p.id}, "decision": {"reviewer_id": lambda p: p.id}}


def entities() -> list[Entity]:
    """The inspection and its rows as sync entities (fields from :data:`.rules.FIELDS`)."""
    out = [Entity("inspection", Inspection, fields=FIELDS["inspection"], pushable=True, creatable=False,
                  deletable=False, rules=PUSH_RULES, purge=False)]
    for name, model in _ROWS:
        out.append(Entity(name, model, fields=FIELDS[name], pushable=True, server_set=_SERVER_SET.get(name, {}),
                          owner="inspection", owner_field="inspection_id", rules=PUSH_RULES))
    out.append(Entity("template", ChecklistTemplate))  # pulled, never pushed
    return out


def register() -> None:
    """Register the inspections' entities with sync (at start-up)."""
    registry.register(*entities(), log_owner=True)
