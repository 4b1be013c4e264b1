"""The timeline's part in sync: daily progress reports, pushed by factory managers' phones.

A progress report hangs off its purchase order: the PO must be visible to the pusher (else
``not_found``), the pusher one of its factory's managers or its brand's editors (else
``forbidden``), and the line one of the PO's. After a push the PO's alerts follow
(:func:`~server.timeline.service.refresh_alerts`) in the same transaction.
"""
from __future__ import annotations

import uuid
from typing import Any

from ..auth import Principal
from ..catalog.models import PurchaseOrder
from ..catalog.service import visible_purchase_orders
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..sync import registry
from ..sync.registry import Change, Entity, Owner, PushRules
from .models import ProgressReport
from .rules import PROGRESS_FIELDS, PROGRESS_WRITERS
from .service import is_brand_editor, is_factory_editor, refresh_alerts


class _PO:
    """A preloaded PO row read as attributes (what the timeline's permission helpers read)."""

    def __init__(self, row: dict) -> None:
        self.__dict__.update(row)


class ProgressPushRules(PushRules):
    def load(self, principal: Principal, rows: dict, owner_ids: set[uuid.UUID]) -> None:
        if not owner_ids or principal.is_platform_admin:
            return
        visible = set(db.session.scalars(visible_purchase_orders(principal).with_only_columns(PurchaseOrder.id)
                                         .where(PurchaseOrder.id.in_(list(owner_ids)))))
        for po_id in owner_ids:
            row = rows.get(("purchase_order", po_id))
            if row is not None and po_id not in visible:
                row["_hidden"] = True

    def owner(self, principal: Principal, rows: dict, ent: Entity, rid: uuid.UUID, fields: dict,
              current: dict | None) -> Owner:
        po_id = current["purchase_order_id"] if current is not None else fields.get("purchase_order_id")
        po = rows.get(("purchase_order", po_id))
        if po is None or po["deleted"] or po.get("_hidden"):
            raise NotFound("No such purchase order.", errors={"purchase_order_id": ["No such purchase order."]})
        view = _PO(po)
        if not (is_factory_editor(principal, view) or is_brand_editor(principal, view)):
            raise Forbidden("Only the factory's managers and the brand's editors report progress.")
        return Owner(po_id, None, po)

    def decide(self, principal: Principal, rows: dict, change: Change) -> dict[str, Any]:
        line_id = change.fields.get("po_line_id")
        if line_id is not None:
            line = rows.get(("po_line", line_id))
            if line is None or line["deleted"] or line["purchase_order_id"] != change.owner.id:
                raise ValidationFailed("Some referenced records do not exist.",
                                       errors={"po_line_id": ["This line is not on the purchase order."]})
        return change.fields

    def describe_domain(self) -> list[str]:
        return ["# Timeline (`server/timeline/rules.py`)", ""]

    def describe(self, ent: Entity) -> list[str]:
        return ["Visible purchase order only (else `not_found`). Create, change and delete: "
                + ", ".join(PROGRESS_WRITERS) + " (else `forbidden`); the line must be on the PO.", ""]

    def after_batch(self, principal: Principal, owner_ids: list[uuid.UUID], written: dict | None,
                    after_rev: int) -> None:
        for po_id in owner_ids:
            po = db.session.get(PurchaseOrder, po_id)
            if po is not None:
                refresh_alerts(po)  # the forecast and alerts follow the new progress, in this transaction


def register() -> None:
    """Register progress reports with sync (at start-up)."""
    registry.register(Entity("progress", ProgressReport, fields=PROGRESS_FIELDS, pushable=True,
                             server_set={"reported_by_id": lambda p: p.id}, owner="purchase_order",
                             owner_field="purchase_order_id", rules=ProgressPushRules()))
