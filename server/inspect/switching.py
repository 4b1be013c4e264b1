"""AQL plans and the switching rules (ISO 2859-1 normal / tightened / reduced) per product stream."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from ..auth import Principal
from ..catalog.models import Product, PurchaseOrder
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from ..models import utcnow
from . import aql
from .models import Inspection, SwitchingStateRecord
from .scope import po_of

def effective_aqls(po: PurchaseOrder, product: Product) -> dict[str, float]:
    """AQL per defect class: the defaults, then the product's overrides, then the PO's (PO wins)."""
    out = dict(aql.DEFAULT_CLASS_AQLS)
    for source in (product.aql, po.aql):
        for cls, value in (source or {}).items():
            if cls in out and value is not None:
                out[cls] = value
    return out


def switching_record(product_id: uuid.UUID, factory_id: uuid.UUID, *, lock: bool = False
                     ) -> SwitchingStateRecord | None:
    """The stored switching state of a product stream, if any lot was recorded."""
    q = select(SwitchingStateRecord).where(SwitchingStateRecord.product_id == product_id,
                                           SwitchingStateRecord.factory_id == factory_id)
    return db.session.scalar(q.with_for_update() if lock else q)


def current_severity(product_id: uuid.UUID, factory_id: uuid.UUID) -> str:
    """Severity for the next lot of a stream: normal, tightened or reduced (discontinued -> tightened)."""
    rec = switching_record(product_id, factory_id)
    state = rec.inspection if rec else "normal"
    return "tightened" if state == "discontinued" else state


def plans_for(insp: Inspection) -> dict[str, aql.Plan] | None:
    """Sampling plan per defect class of an inspection, or None while the lot size is unknown.

    Raises ``ValidationFailed`` when the stored AQLs or level have no plan.
    """
    if not insp.lot_size:
        return None
    severity = insp.severity if insp.severity in aql.INSPECTIONS else "tightened"
    try:
        return aql.plans_for_classes(insp.lot_size, insp.aql or dict(aql.DEFAULT_CLASS_AQLS),
                                     insp.inspection_level or "II", severity)
    except ValueError as exc:
        raise ValidationFailed(errors={"aql": [str(exc)]}) from None


def advance_switching(insp: Inspection, outcome: dict[str, Any]) -> None:
    """Record this lot in its stream's switching state (once) and pass the new severity to open inspections."""
    if insp.switching_recorded_at is not None:
        return
    final = (insp.verdict_override or {}).get("verdict") or insp.verdict
    plans = plans_for(insp)
    if final not in ("pass", "fail") or not plans:
        return
    po = po_of(insp)
    rec = switching_record(insp.product_id, po.factory_id, lock=True)
    if rec is None:
        rec = SwitchingStateRecord(id=uuid.uuid4(), product_id=insp.product_id, factory_id=po.factory_id,
                                   inspection="normal", state=aql.SwitchingState().to_dict(), history=[])
        db.session.add(rec)
    # The lot result of the class that governs switching: accepted only if every class is;
    # switching score from the major class (the usual reference AQL), Ac of its plan.
    main = "major" if "major" in plans else next(iter(plans))
    found = outcome.get("classes", {}).get(main, {}).get("found", 0)
    result = aql.lot_result(plans[main], found)
    result["accepted"] = final == "pass"
    result["reinstate_normal"] = bool(outcome.get("normal_reinstated"))
    result["resumed"] = rec.inspection == "discontinued"
    new_state = aql.next_state(aql.SwitchingState.from_dict(rec.state or {}), result)
    previous = rec.inspection
    rec.state = new_state.to_dict()
    rec.inspection = new_state.inspection
    rec.history = [*(rec.history or []), {"inspection_id": str(insp.id), "accepted": result["accepted"],
                                          "from": previous, "to": new_state.inspection,
                                          "at": utcnow().isoformat()}][-50:]
    insp.switching_recorded_at = utcnow()
    severity = "tightened" if new_state.inspection == "discontinued" else new_state.inspection
    waiting = db.session.scalars(
        select(Inspection).join(PurchaseOrder, Inspection.purchase_order_id == PurchaseOrder.id)
        .where(Inspection.product_id == insp.product_id, PurchaseOrder.factory_id == po.factory_id,
               Inspection.status == "assigned", Inspection.id != insp.id, Inspection.deleted.is_(False)))
    from .verdicts import recompute_verdict

    for other in waiting:
        if other.severity != severity:
            other.severity = severity
            recompute_verdict(other)


def _factory_makes(product: Product, factory_id: uuid.UUID) -> bool:
    from ..catalog.models import POLine

    return switching_record(product.id, factory_id) is not None or db.session.scalar(
        select(POLine.id).join(PurchaseOrder, POLine.purchase_order_id == PurchaseOrder.id)
        .where(POLine.product_id == product.id, PurchaseOrder.factory_id == factory_id,
               PurchaseOrder.brand_id == product.brand_id, PurchaseOrder.deleted.is_(False)).limit(1)) is not None


def switching_state_for(p: Principal, product_id: uuid.UUID, factory_id: uuid.UUID) -> dict[str, Any]:
    """The switching state of a product stream, for the brand and the factory's managers.

    Raises ``NotFound`` when the product is not the caller's brand's and the factory not theirs.
    """
    product = db.session.get(Product, product_id)
    if product is None or product.deleted:
        raise NotFound("No such product.")
    allowed = p.sees_whole_po(product.brand_id, factory_id)
    if allowed and not (p.is_platform_admin or product.brand_id in p.brand_ids):
        # A factory's manager sees only products their factory makes (a PO of the product's brand to
        # the factory, or a switching record): another brand's product id answers 404 like a missing one.
        allowed = _factory_makes(product, factory_id)
    if not allowed:
        raise NotFound("No such product.")
    rec = switching_record(product_id, factory_id)
    if rec is None:
        return {"product_id": product_id, "factory_id": factory_id, "inspection": "normal",
                "state": aql.SwitchingState().to_dict(), "history": [], "updated_at": None}
    return {"product_id": product_id, "factory_id": factory_id, "inspection": rec.inspection,
            "state": rec.state, "history": rec.history, "updated_at": rec.updated_at}
