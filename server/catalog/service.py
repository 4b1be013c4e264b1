"""Catalog rules: who may see and change products, golden samples, POs and batches.

Reads are scoped with the ``visible_*`` selects; a row outside the caller's scope
is reported as ``NotFound``, exactly like a row that does not exist.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select

from ..accounts.models import OrgKind, Organisation
from ..auth import Action, Principal
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models import utcnow
from .models import (Batch, ColourStandard, DimensionSpec, GoldenSample, GoldenSamplePin, POLine, Product,
                     PurchaseOrder)



def visible_purchase_orders(p: Principal) -> Select:
    """POs the principal may see: their brands' POs, their managed factories' POs, and the POs of
    inspections assigned to them (in factories where they only inspect, that is all they see)."""
    q = select(PurchaseOrder).where(PurchaseOrder.deleted.is_(False))
    if p.is_platform_admin:
        return q
    conds = []
    if p.brand_ids:
        conds.append(PurchaseOrder.brand_id.in_(p.brand_ids))
    if p.managed_factory_ids:
        conds.append(PurchaseOrder.factory_id.in_(p.managed_factory_ids))
    if p.factory_ids:
        from ..inspect.models import Inspection

        conds.append(PurchaseOrder.id.in_(select(Inspection.purchase_order_id)
                                          .where(Inspection.inspector_id == p.id)))
    return q.where(or_(*conds)) if conds else q.where(False)


def visible_products(p: Principal) -> Select:
    """Products of the principal's brands, or products on POs the principal may see."""
    q = select(Product).where(Product.deleted.is_(False))
    if p.is_platform_admin:
        return q
    po_ids = visible_purchase_orders(p).with_only_columns(PurchaseOrder.id)
    on_pos = select(POLine.product_id).where(POLine.purchase_order_id.in_(po_ids))
    conds = [Product.id.in_(on_pos)]
    if p.brand_ids:
        conds.append(Product.brand_id.in_(p.brand_ids))
    return q.where(or_(*conds))


def visible_batches(p: Principal) -> Select:
    po_ids = visible_purchase_orders(p).with_only_columns(PurchaseOrder.id)
    return (select(Batch).join(POLine, Batch.po_line_id == POLine.id)
            .where(Batch.deleted.is_(False), POLine.purchase_order_id.in_(po_ids)))


def get_visible(p: Principal, query: Select, model, id_: uuid.UUID, what: str):
    """Return the row with ``id_`` from ``query``. Raises ``NotFound`` when out of scope or missing."""
    row = db.session.scalar(query.where(model.id == id_))
    if row is None:
        raise NotFound(f"No such {what}.")
    return row


def require_brand_editor(p: Principal, brand_id: uuid.UUID) -> None:
    """Raise ``Forbidden`` unless an editor (admin, reviewer) of this brand, or ``NotFound`` when an
    editor elsewhere names a brand they do not belong to (its existence does not leak)."""
    if p.may(Action.edit_brand, brand_id):
        return
    if p.orgs_where(Action.edit_brand) and brand_id not in p.brand_ids:
        raise NotFound("No such brand.")
    raise Forbidden("Only the brand's admins and reviewers change setup data.")


def _org(org_id: uuid.UUID, kind: OrgKind, field: str) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None or org.kind != kind:
        raise ValidationFailed(errors={field: [f"No {kind.value} with this id."]})
    return org


# -- products -------------------------------------------------------------------------------

def create_product(p: Principal, data: dict[str, Any]) -> Product:
    """Create a product with its dimension specs and colour standards.

    Raises ``Forbidden``/``NotFound`` outside the caller's brands, ``Conflict`` on a duplicate SKU.
    """
    require_brand_editor(p, data["brand_id"])
    _org(data["brand_id"], OrgKind.brand, "brand_id")
    if db.session.scalar(select(Product).where(Product.brand_id == data["brand_id"], Product.sku == data["sku"])):
        raise Conflict(f"SKU {data['sku']} already exists for this brand.")
    product = Product(brand_id=data["brand_id"], sku=data["sku"], name=data["name"], category=data["category"],
                      description=data["description"], aql=data.get("aql"))
    db.session.add(product)
    _replace_specs(product, data.get("dimension_specs", []), data.get("colour_standards", []))
    db.session.commit()
    return product


def update_product(p: Principal, product: Product, data: dict[str, Any]) -> Product:
    """Change a product; lists of specs, when given, replace the current ones (old ones become tombstones)."""
    require_brand_editor(p, product.brand_id)
    for key in ("name", "category", "description", "aql"):
        if key in data:
            setattr(product, key, data[key])
    if "dimension_specs" in data or "colour_standards" in data:
        _replace_specs(product, data.get("dimension_specs"), data.get("colour_standards"))
    db.session.commit()
    return product


def _replace_specs(product: Product, dims: list | None, colours: list | None) -> None:
    """Make the product's live specs the given lists (``None``: leave that list alone), matched by name.

    A spec kept by name is changed in place; one no longer named becomes a tombstone. New rows are
    appended to the product's collection (not created with ``product=``: SQLAlchemy 2 does not
    cascade a backref into the session, and would drop them with only a warning).
    Raises ``ValidationFailed`` for duplicate names, before anything changes.
    """
    for key, items in (("dimension_specs", dims), ("colour_standards", colours)):
        names = [d["name"] for d in items or ()]
        if len(set(names)) != len(names):
            raise ValidationFailed(errors={key: ["Names must be unique within a product."]})
    if dims is not None:
        existing = {d.name: d for d in product.dimension_specs if not d.deleted}
        for i, d in enumerate(dims):
            spec = existing.pop(d["name"], None)
            if spec is None:
                spec = DimensionSpec(name=d["name"])
                product.dimension_specs.append(spec)
            spec.nominal_mm, spec.tolerance_mm, spec.position = d["nominal_mm"], d["tolerance_mm"], d.get("position", i)
        for gone in existing.values():
            gone.deleted = True
    if colours is not None:
        existing_c = {c.name: c for c in product.colour_standards if not c.deleted}
        for c in colours:
            std = existing_c.pop(c["name"], None)
            if std is None:
                std = ColourStandard(name=c["name"])
                product.colour_standards.append(std)
            std.lab = c["lab"]
            std.delta_e_tolerance = c["delta_e_tolerance"]
        for gone in existing_c.values():
            gone.deleted = True


def delete_product(p: Principal, product: Product) -> None:
    """Tombstone a product. Raises ``Conflict`` while a PO line uses it."""
    require_brand_editor(p, product.brand_id)
    if db.session.scalar(select(POLine.id).where(POLine.product_id == product.id, POLine.deleted.is_(False))):
        raise Conflict("This product is on a purchase order; cancel the PO line first.")
    product.deleted = True
    db.session.commit()


# -- golden samples -----------------------------------------------------------------------

def approve_golden_sample(p: Principal, product: Product, data: dict[str, Any]) -> GoldenSample:
    """Record a new approved golden-sample version (brand editors); earlier versions become ``superseded``.

    Raises ``Forbidden`` and ``ValidationFailed`` (measured values).
    """
    require_brand_editor(p, product.brand_id)
    gs = add_golden_sample_version(p, product.id, measured=_check_measured(data.get("measured") or {}),
                                   reference_photos=data.get("reference_photos", []), notes=data.get("notes", ""))
    db.session.commit()
    return gs


def add_golden_sample_version(p: Principal, product_id: uuid.UUID, *, measured: dict, reference_photos: list,
                              notes: str, approved_at: datetime | None = None) -> GoldenSample:
    """The one way a golden sample is approved: the next version of the product's sample, approved by
    ``p`` now (or at ``approved_at``); the approved one before it becomes ``superseded``. Rows are
    never rewritten otherwise, so past analyses keep their reference.

    Unpinned lines of open POs are first pinned to the version in force (:func:`keep_current_references`).
    The caller has checked that ``p`` is an editor of the product's brand, and commits.
    """
    keep_current_references(product_id, p.id)
    previous = db.session.scalars(select(GoldenSample).where(GoldenSample.product_id == product_id)
                                  .order_by(GoldenSample.version.desc())).all()
    for gs in previous:
        if gs.status == "approved":
            gs.status = "superseded"
    gs = GoldenSample(product_id=product_id, version=(previous[0].version + 1) if previous else 1,
                      status="approved", approved_by_id=p.id, approved_at=approved_at or utcnow(),
                      measured=measured, reference_photos=reference_photos, notes=notes)
    db.session.add(gs)
    db.session.flush()
    return gs


def _check_measured(measured: dict) -> dict:
    errors = []
    lab = measured.get("lab")
    if lab is not None and (not isinstance(lab, list) or len(lab) != 3
                            or not all(isinstance(v, (int, float)) for v in lab)):
        errors.append("lab must be [L*, a*, b*].")
    for key in ("length_mm", "width_mm"):
        v = measured.get(key)
        if v is not None and (not isinstance(v, (int, float)) or v <= 0):
            errors.append(f"{key} must be a positive number.")
    if errors:
        raise ValidationFailed(errors={"measured": errors})
    return measured


def current_golden_sample(product_id: uuid.UUID) -> GoldenSample | None:
    """The approved golden sample in force for a product, if any."""
    return db.session.scalar(select(GoldenSample).where(GoldenSample.product_id == product_id,
                                                        GoldenSample.status == "approved")
                             .order_by(GoldenSample.version.desc()))


def golden_sample_pin(line_id: uuid.UUID) -> GoldenSamplePin | None:
    return db.session.scalar(select(GoldenSamplePin).where(GoldenSamplePin.po_line_id == line_id))


def reference_golden_sample(line: POLine | None, product_id: uuid.UUID | None = None) -> GoldenSample | None:
    """The golden sample a PO line is produced and inspected against: its pin, else the current approval."""
    if line is not None:
        pin = golden_sample_pin(line.id)
        if pin is not None:
            return db.session.get(GoldenSample, pin.golden_sample_id)
    return current_golden_sample(line.product_id if line is not None else product_id)


def pin_golden_sample(line: POLine, golden: GoldenSample, user_id: uuid.UUID | None, note: str = "") -> GoldenSamplePin:
    """Pin ``line`` to ``golden`` (replacing its pin); no commit."""
    pin = golden_sample_pin(line.id) or GoldenSamplePin(po_line_id=line.id)
    pin.golden_sample_id, pin.pinned_by_id, pin.note = golden.id, user_id, note
    db.session.add(pin)
    return pin


def keep_current_references(product_id: uuid.UUID, user_id: uuid.UUID | None) -> int:
    """Before a new version of the product is approved: pin every unpinned line to the version in force.

    So approving a sample on one PO (or on the product) never replaces the reference of another
    PO; that PO moves to the new version only when it chooses it. Lines of closed or cancelled
    POs are left alone. Returns how many lines were pinned; no commit.
    """
    current = current_golden_sample(product_id)
    if current is None:
        return 0
    pinned = select(GoldenSamplePin.po_line_id)
    lines = db.session.scalars(select(POLine).join(PurchaseOrder).where(
        POLine.product_id == product_id, POLine.deleted.is_(False), POLine.id.notin_(pinned),
        PurchaseOrder.deleted.is_(False), PurchaseOrder.status.notin_(("closed", "cancelled")))).all()
    for line in lines:
        pin_golden_sample(line, current, user_id, f"Kept at version {current.version} when a newer one was approved.")
    db.session.flush()
    return len(lines)


# -- purchase orders and batches ------------------------------------------------------------

def create_purchase_order(p: Principal, data: dict[str, Any]) -> PurchaseOrder:
    """Create a PO with its lines. Every line's product must belong to the PO's brand."""
    require_brand_editor(p, data["brand_id"])
    _org(data["brand_id"], OrgKind.brand, "brand_id")
    _org(data["factory_id"], OrgKind.factory, "factory_id")
    if db.session.scalar(select(PurchaseOrder).where(PurchaseOrder.brand_id == data["brand_id"],
                                                     PurchaseOrder.po_number == data["po_number"])):
        raise Conflict(f"PO {data['po_number']} already exists.")
    po = PurchaseOrder(brand_id=data["brand_id"], factory_id=data["factory_id"], po_number=data["po_number"],
                       status=data["status"], planned_ship_date=data.get("planned_ship_date"),
                       destination=data.get("destination", ""), aql=data.get("aql"))
    for i, line in enumerate(data["lines"]):
        product = db.session.get(Product, line["product_id"])
        if product is None or product.brand_id != data["brand_id"] or product.deleted:
            raise ValidationFailed(errors={"lines": {str(i): {"product_id": ["No such product for this brand."]}}})
        po.lines.append(POLine(product_id=product.id, quantity=line["quantity"], position=line.get("position", i)))
    db.session.add(po)
    db.session.commit()
    return po


def update_purchase_order(p: Principal, po: PurchaseOrder, data: dict[str, Any]) -> PurchaseOrder:
    require_brand_editor(p, po.brand_id)
    for key, value in data.items():
        setattr(po, key, value)
    db.session.commit()
    return po


def create_batch(p: Principal, data: dict[str, Any]) -> Batch:
    """Create a production lot of a PO line (brand editors and the factory's managers)."""
    line = db.session.get(POLine, data["po_line_id"])
    if line is None:
        raise ValidationFailed(errors={"po_line_id": ["No such PO line."]})
    po = db.session.scalar(visible_purchase_orders(p).where(PurchaseOrder.id == line.purchase_order_id))
    if po is None:
        raise ValidationFailed(errors={"po_line_id": ["No such PO line."]})
    if not p.may(Action.manage_factory, po.factory_id):
        p.check(Action.edit_brand, po.brand_id, "Only the brand's editors and the factory's managers create batches.")
    if db.session.scalar(select(Batch).where(Batch.po_line_id == line.id, Batch.code == data["code"])):
        raise Conflict(f"Batch {data['code']} already exists on this PO line.")
    batch = Batch(**data)
    db.session.add(batch)
    db.session.commit()
    return batch
