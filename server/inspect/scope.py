"""Who sees which inspection and checklist: the queries every read is scoped with.

A row outside the caller's scope is ``NotFound``, exactly like a missing one. The same
rule, for one inspection already in hand, is :func:`server.inspect.rules.may_see`.
"""
from __future__ import annotations

import uuid

from sqlalchemy import Select, or_, select

from ..auth import Action, Principal
from ..catalog.models import PurchaseOrder
from ..errors import NotFound
from ..extensions import db
from .models import ChecklistTemplate, Inspection
from .rules import InspectionState


def visible_inspections(p: Principal) -> Select:
    """Inspections the principal may see: the brand's members and the factory's managers see the
    PO's, an inspector the ones assigned to them (as :func:`server.inspect.rules.may_see`)."""
    q = (select(Inspection).join(PurchaseOrder, Inspection.purchase_order_id == PurchaseOrder.id)
         .where(Inspection.deleted.is_(False)))
    return restrict_to_visible(p, q)


def restrict_to_visible(p: Principal, q: Select) -> Select:
    """``q``, a query that joins ``Inspection`` and its ``PurchaseOrder``, kept to the inspections
    ``p`` may see: the PO's brand, the PO's factory managers, the assigned inspector."""
    if p.is_platform_admin:
        return q
    conds = [Inspection.inspector_id == p.id]
    if p.brand_ids:
        conds.append(PurchaseOrder.brand_id.in_(p.brand_ids))
    if p.managed_factory_ids:
        conds.append(PurchaseOrder.factory_id.in_(p.managed_factory_ids))
    return q.where(or_(*conds))


def inspection_or_404(p: Principal, inspection_id: uuid.UUID) -> Inspection:
    """The inspection with this id if the principal may see it. Raises ``NotFound``."""
    insp = db.session.scalar(visible_inspections(p).where(Inspection.id == inspection_id))
    if insp is None:
        raise NotFound("No such inspection.")
    return insp


def po_of(insp: Inspection) -> PurchaseOrder:
    """The inspection's purchase order."""
    return db.session.get(PurchaseOrder, insp.purchase_order_id)


def state_of(insp: Inspection | InspectionState) -> InspectionState:
    """What the rules read of an inspection (its row, its PO's brand and factory)."""
    if isinstance(insp, InspectionState):
        return insp
    po = po_of(insp)
    return InspectionState(insp, po.brand_id, po.factory_id)


def require_brand_editor(p: Principal, brand_id: uuid.UUID) -> None:
    """Raises ``Forbidden`` unless ``p`` edits this brand (``NotFound`` for a non-member)."""
    p.check(Action.edit_brand, brand_id, "Only the brand's admins and reviewers may do this.")


def visible_templates(p: Principal) -> Select:
    """Templates of the principal's brands, plus (factory users) those their inspections use."""
    q = select(ChecklistTemplate).where(ChecklistTemplate.deleted.is_(False))
    if p.is_platform_admin:
        return q
    conds = [ChecklistTemplate.id.in_(visible_inspections(p).with_only_columns(Inspection.template_id))]
    if p.brand_ids:
        conds.append(ChecklistTemplate.brand_id.in_(p.brand_ids))
    return q.where(or_(*conds))


def template_or_404(p: Principal, template_id: uuid.UUID) -> ChecklistTemplate:
    """One template version the principal may see. Raises ``NotFound``."""
    t = db.session.scalar(visible_templates(p).where(ChecklistTemplate.id == template_id))
    if t is None:
        raise NotFound("No such checklist template.")
    return t
