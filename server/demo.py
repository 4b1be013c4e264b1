"""The demo tenants and data that ``flask --app server seed-demo`` creates.

Ids are derived from names (UUID 5) so the demo is the same everywhere and seeding
twice changes nothing. The demo logins exist only where the seed ran.
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import select

from .accounts.models import OrgKind, Organisation, Role
from .accounts.service import add_membership, create_user
from .catalog.models import Batch, ColourStandard, DimensionSpec, GoldenSample, POLine, Product, PurchaseOrder
from .extensions import db
from .inspect.models import ChecklistTemplate, Inspection
from .models import utcnow

NS = uuid.UUID("6f1c2a52-7f0e-4b1e-9d55-7a1f3b2c9e10")

DEMO_LOGINS = [
    ("admin@demo.lineside.test", "demo-admin", "admin"),
    ("reviewer@demo.lineside.test", "demo-reviewer", "brand reviewer"),
    ("inspector@demo.lineside.test", "demo-inspector", "factory inspector"),
    ("manager@demo.lineside.test", "demo-manager", "factory manager"),
]

DEMO_LAB = [62.0, -18.0, 12.0]  # "Sage green", CIELAB D65


def demo_id(name: str) -> uuid.UUID:
    """The fixed id of a demo row."""
    return uuid.uuid5(NS, name)


def demo_template_sections() -> list[dict]:
    """The demo checklist: every section and every item kind."""
    def yn(key, label, **kw):
        return {"key": key, "kind": "yes_no_na", "label": label, "required": True, **kw}

    return [
        {"key": "visual", "title": "Visual", "items": [
            yn("surface", "Surface free of scratches, chips and dents"),
            yn("colour_match", "Colour matches the golden sample"),
            {"key": "finish", "kind": "choice", "label": "Finish", "choices": ["matte", "satin", "gloss"],
             "required": True},
            {"key": "unit_photo", "kind": "photo", "label": "Photo of a unit on the inspection card",
             "required": True, "photo_required": True},
        ]},
        {"key": "measurement", "title": "Measurement", "items": [
            {"key": "length", "kind": "number", "label": "Length", "unit": "mm", "nominal": 120.0,
             "tolerance": 1.0, "dimension_spec_id": str(demo_id("spec:length")), "required": True},
            {"key": "width", "kind": "number", "label": "Width", "unit": "mm", "nominal": 80.0,
             "tolerance": 1.0, "dimension_spec_id": str(demo_id("spec:width")), "required": True},
            {"key": "height", "kind": "number", "label": "Height", "unit": "mm", "nominal": 15.0,
             "tolerance": 0.5, "dimension_spec_id": str(demo_id("spec:height")), "required": True},
        ]},
        {"key": "functional", "title": "Functional", "items": [
            yn("stacks_flat", "Stacks flat without wobbling"),
            {"key": "weight", "kind": "number", "label": "Weight", "unit": "g", "nominal": 240.0,
             "tolerance": 10.0, "required": False},
        ]},
        {"key": "packaging", "title": "Packaging", "items": [
            yn("carton_marks", "Carton shipping marks correct"),
            yn("inner_bag", "Inner polybag with suffocation warning"),
            {"key": "carton_damage", "kind": "defect_count", "label": "Damaged cartons", "defect": "damaged_carton",
             "required": False},
        ]},
        {"key": "labeling", "title": "Labeling", "items": [
            yn("barcode", "Barcode scans and matches the SKU"),
            yn("origin", "Country of origin label present"),
            {"key": "remarks", "kind": "text", "label": "Remarks", "required": False},
        ]},
    ]


def seed_demo() -> bool:
    """Create the demo data once. Returns False when it was already there."""
    if db.session.scalar(select(Organisation).where(Organisation.slug == "demo-brand")):
        return False
    brand = Organisation(id=demo_id("org:brand"), name="Demo Brand", slug="demo-brand", kind=OrgKind.brand)
    factory = Organisation(id=demo_id("org:factory"), name="Demo Factory (Dongguan)", slug="demo-factory",
                           kind=OrgKind.factory, country="CN")
    db.session.add_all([brand, factory])

    admin = create_user(*DEMO_LOGINS[0][:2], "Demo Admin", is_platform_admin=True)
    reviewer = create_user(*DEMO_LOGINS[1][:2], "Rita Reviewer")
    inspector = create_user(*DEMO_LOGINS[2][:2], "Ivan Inspector")
    manager = create_user(*DEMO_LOGINS[3][:2], "Mei Manager")
    admin.id, reviewer.id, inspector.id, manager.id = (demo_id("user:admin"), demo_id("user:reviewer"),
                                                       demo_id("user:inspector"), demo_id("user:manager"))
    add_membership(admin, brand, Role.admin)
    add_membership(reviewer, brand, Role.brand_reviewer)
    add_membership(inspector, factory, Role.inspector)
    add_membership(manager, factory, Role.factory_manager)

    product = Product(id=demo_id("product:tray"), brand_id=brand.id, sku="TRAY-120-SAGE",
                      name="Enamel tray 120 × 80, sage", category="hard_goods",
                      description="Enamelled steel serving tray.")
    product.dimension_specs = [
        DimensionSpec(id=demo_id("spec:length"), name="length", nominal_mm=120.0, tolerance_mm=1.0, position=0),
        DimensionSpec(id=demo_id("spec:width"), name="width", nominal_mm=80.0, tolerance_mm=1.0, position=1),
        DimensionSpec(id=demo_id("spec:height"), name="height", nominal_mm=15.0, tolerance_mm=0.5, position=2),
    ]
    product.colour_standards = [ColourStandard(id=demo_id("colour:sage"), name="Sage green", lab_l=DEMO_LAB[0],
                                               lab_a=DEMO_LAB[1], lab_b=DEMO_LAB[2], delta_e_tolerance=2.0)]
    db.session.add(product)
    db.session.flush()

    golden = GoldenSample(id=demo_id("golden:tray:1"), product_id=product.id, version=1, status="approved",
                          approved_by_id=reviewer.id, approved_at=utcnow() - timedelta(days=20),
                          measured={"lab": DEMO_LAB, "length_mm": 120.0, "width_mm": 80.0,
                                    "dimensions": {"length": 120.0, "width": 80.0, "height": 15.0}},
                          reference_photos=[], notes="Approved after the second sample round.")
    template = ChecklistTemplate(id=demo_id("template:tray:1"), brand_id=brand.id, family_id=demo_id("template:tray"),
                                 version=1, name="Enamel tray inspection", sections=demo_template_sections())
    po = PurchaseOrder(id=demo_id("po:42"), brand_id=brand.id, factory_id=factory.id, po_number="PO-2026-0042",
                       status="in_production", planned_ship_date=date.today() + timedelta(days=45),
                       destination="Rotterdam, NL")
    line = POLine(id=demo_id("po:42:line:1"), product_id=product.id, quantity=5000, position=0)
    po.lines.append(line)
    db.session.add_all([golden, template, po])
    db.session.flush()
    batch_a = Batch(id=demo_id("batch:A"), po_line_id=line.id, code="LOT-A", lot_size=2500, sequence=1)
    batch_b = Batch(id=demo_id("batch:B"), po_line_id=line.id, code="LOT-B", lot_size=2500, sequence=2)
    db.session.add_all([batch_a, batch_b])
    db.session.flush()
    common = dict(purchase_order_id=po.id, product_id=product.id, template_id=template.id,
                  inspector_id=inspector.id, golden_sample_id=golden.id, inspection_level="II")
    db.session.add_all([
        Inspection(id=demo_id("inspection:inline:A"), kind="inline", batch_id=batch_a.id, lot_size=batch_a.lot_size,
                   scheduled_for=utcnow() + timedelta(days=1), **common),
        Inspection(id=demo_id("inspection:final:B"), kind="final", batch_id=batch_b.id, lot_size=batch_b.lot_size,
                   scheduled_for=utcnow() + timedelta(days=30), **common),
    ])
    db.session.commit()
    _extend_demo()
    return True


def _extend_demo() -> None:
    """Let domain packages add their demo rows (``seed_demo_extras`` in their ``demo`` module)."""
    import importlib

    for module in ("server.inspect.demo", "server.review.demo", "server.timeline.demo"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that package is not installed in this build
            raise
        mod.seed_demo_extras()
        db.session.commit()
