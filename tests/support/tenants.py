"""A second tenant beside the demo one, for access tests: brand B, factory B, their users and rows."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from server.accounts.models import OrgKind, Organisation, Role, User
from server.accounts.service import add_membership, create_user
from server.catalog.models import Batch, POLine, Product, PurchaseOrder
from server.demo import demo_id
from server.extensions import db

PASSWORD = "other-tenant-pw"


@dataclass
class Tenants:
    """Ids of each tenant's rows, keyed ``own`` (the demo tenant) and ``other``."""

    ids: dict[str, dict[str, uuid.UUID]] = field(default_factory=dict)


def make_other_tenant() -> dict[str, uuid.UUID]:
    brand = Organisation(name="Other Brand", slug="other-brand", kind=OrgKind.brand)
    factory = Organisation(name="Other Factory", slug="other-factory", kind=OrgKind.factory)
    db.session.add_all([brand, factory])
    for email, role, org in [("reviewer@other.test", Role.brand_reviewer, brand),
                             ("inspector@other.test", Role.inspector, factory),
                             ("manager@other.test", Role.factory_manager, factory)]:
        add_membership(create_user(email, PASSWORD, email.split("@")[0]), org, role)
    product = Product(brand_id=brand.id, sku="OTHER-1", name="Other product")
    db.session.add(product)
    db.session.flush()
    po = PurchaseOrder(brand_id=brand.id, factory_id=factory.id, po_number="OTHER-PO-1")
    line = POLine(product_id=product.id, quantity=100)
    po.lines.append(line)
    db.session.add(po)
    db.session.flush()
    batch = Batch(po_line_id=line.id, code="O-1", lot_size=100)
    db.session.add(batch)
    db.session.flush()
    from server.demo import demo_template_sections
    from server.inspect.models import ChecklistTemplate, Inspection, Photo

    template = ChecklistTemplate(brand_id=brand.id, family_id=uuid.uuid4(), version=1, name="Other checklist",
                                 sections=demo_template_sections())
    db.session.add(template)
    db.session.flush()
    inspector = db.session.scalar(select(User).where(User.email == "inspector@other.test"))
    inspection = Inspection(kind="inline", purchase_order_id=po.id, batch_id=batch.id, product_id=product.id,
                            template_id=template.id, inspector_id=inspector.id, lot_size=100)
    db.session.add(inspection)
    db.session.flush()
    photo = Photo(inspection_id=inspection.id, item_key="unit_photo", sha256="0" * 64, size_bytes=10,
                  content_type="image/jpeg", flagged=True, flag_reasons=["out_of_tolerance"], review_state="open")
    db.session.add(photo)
    db.session.commit()
    return {"brand": brand.id, "factory": factory.id, "product": product.id, "purchase_order": po.id,
            "po_line": line.id, "batch": batch.id, "template": template.id, "inspection": inspection.id,
            "photo": photo.id}


def demo_ids() -> dict[str, uuid.UUID]:
    return {"brand": demo_id("org:brand"), "factory": demo_id("org:factory"), "product": demo_id("product:tray"),
            "purchase_order": demo_id("po:42"), "po_line": demo_id("po:42:line:1"), "batch": demo_id("batch:A"),
            "inspection": demo_id("inspection:inline:A"), "template": demo_id("template:tray:1"),
            "photo": demo_id("photo:A:unit")}
