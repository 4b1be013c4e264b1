"""Demo rows for the inline inspection of lot A: answers, measurements, defects, photos.

Called by :func:`server.demo.seed_demo` after the base seed, so the demo report renders with
real data: a submitted (not yet signed-off) inspection whose verdict is computed by the same
rules as a sync push (:func:`server.inspect.service.prepare_sync_fields`).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ..accounts.models import User
from ..auth import Principal
from ..catalog.models import Product, PurchaseOrder
from ..demo import demo_id
from ..extensions import db
from ..models import utcnow
from . import service
from .models import ChecklistResponse, Defect, Inspection, Measurement, Photo

#: Five sampled units measured (length, width, height in mm); unit 3's length is out of 120 ± 1.
DEMO_MEASUREMENTS_MM = [
    (120.2, 80.1, 15.1),
    (119.8, 79.7, 14.9),
    (121.4, 80.3, 15.2),
    (120.1, 80.0, 15.0),
    (119.6, 79.9, 14.8),
]
DEMO_ANSWERS = {"surface": "yes", "colour_match": "yes", "finish": "satin", "stacks_flat": "yes",
                "weight": 243.5, "carton_marks": "yes", "inner_bag": "yes", "carton_damage": 0,
                "barcode": "yes", "origin": "yes", "remarks": "Two cartons re-taped before inspection."}
DEMO_DEFECTS = [("scratch", None, 3, 7, "Light scratches on the rim, visible at arm's length."),
                ("chip", None, 1, 42, "Enamel chip on a corner, 2 mm.")]


def seed_demo_extras() -> None:
    """Fill the inline inspection of lot A (idempotent: does nothing when its rows exist)."""
    insp = db.session.get(Inspection, demo_id("inspection:inline:A"))
    if insp is None or db.session.get(Measurement, demo_id("measurement:A:0:length")) is not None:
        return
    inspector = Principal.of(db.session.get(User, demo_id("user:inspector")))
    for demo_insp in db.session.scalars(select(Inspection).where(Inspection.aql.is_(None))):
        demo_insp.aql = service.effective_aqls(db.session.get(PurchaseOrder, demo_insp.purchase_order_id),
                                               db.session.get(Product, demo_insp.product_id))
    started = utcnow() - timedelta(hours=3)
    insp.status, insp.started_at = "in_progress", started
    insp.scheduled_for = started - timedelta(hours=1)

    def add(model, entity: str, id_name: str, fields: dict) -> None:
        row = model(id=demo_id(id_name), inspection_id=insp.id)
        for key, value in service.prepare_sync_fields(entity, fields, insp, inspector, existing=row).items():
            setattr(row, key, value)
        db.session.add(row)

    for key, value in DEMO_ANSWERS.items():
        add(ChecklistResponse, "response", f"response:A:{key}", {"item_key": key, "value": value})
    for unit, values in enumerate(DEMO_MEASUREMENTS_MM):
        for name, value in zip(("length", "width", "height"), values, strict=True):
            add(Measurement, "measurement", f"measurement:A:{unit}:{name}",
                {"dimension_spec_id": demo_id(f"spec:{name}"), "unit_index": unit, "value_entered": value,
                 "unit_entered": "mm", "source": "manual"})
    for code, cls, count, unit, note in DEMO_DEFECTS:
        add(Defect, "defect", f"defect:A:{code}", {"code": code, "defect_class": cls, "count": count,
                                                    "unit_index": unit, "note": note})
    # Photos declared by the phone but not uploaded yet: the report says "photo pending upload".
    db.session.add_all([
        Photo(id=demo_id("photo:A:unit"), inspection_id=insp.id, item_key="unit_photo", unit_index=0,
              sha256="0" * 64, size_bytes=1, content_type="image/jpeg", taken_at=started + timedelta(minutes=20)),
        Photo(id=demo_id("photo:A:chip"), inspection_id=insp.id, defect_id=demo_id("defect:A:chip"), unit_index=42,
              sha256="1" * 64, size_bytes=1, content_type="image/jpeg", taken_at=started + timedelta(minutes=95)),
    ])
    insp.status = "submitted"
    service.recompute_verdict(insp)
    service.record_audit("inspection", insp.id, insp.id, "update",
                         {"status": ["assigned", "submitted"]}, inspector.id)
