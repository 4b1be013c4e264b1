"""Demo rows for the PO timeline: PO-2026-0042 mid-way through every stage after the order.

Golden sample approved, materials (one still on its way), schedule on line 3, production
started ten days ago and running a little under plan, an inline inspection, a booked shipment
with a draft packing list and its document checklist, and issues (one overdue). The pace is
chosen so that the forecast misses the cargo cut-off by a few days: the delay-risk alert shows
up in the demo before the delay happens.
"""
from __future__ import annotations

from datetime import timedelta

from ..catalog.models import Batch, PurchaseOrder
from ..demo import demo_id
from ..extensions import db
from ..models import utcnow
from .forecast import working_weekdays
from .freight import checklist_for
from .models import (CapaStep, ExportDocument, GoldenSampleSubmission, InspectionBooking, Issue, Material, Milestone,
                     PackingCarton, ProductionSchedule, ProgressReport, Shipment)
from .service import refresh_alerts


def seed_demo_extras() -> None:
    """Add the timeline rows of the demo PO (once; ids are fixed, so running again changes nothing)."""
    if db.session.get(ProductionSchedule, demo_id("timeline:schedule")) is not None:
        return
    po = db.session.get(PurchaseOrder, demo_id("po:42"))
    if po is None:
        return
    today = utcnow().date()
    line = po.lines[0]
    reviewer, manager = demo_id("user:reviewer"), demo_id("user:manager")
    start = today - timedelta(days=10)

    db.session.add(GoldenSampleSubmission(
        id=demo_id("timeline:submission:1"), purchase_order_id=po.id, product_id=line.product_id,
        status="approved", submitted_by_id=manager, decided_by_id=reviewer, decided_at=utcnow() - timedelta(days=20),
        decision_comment="Colour and finish match; carton print corrected as agreed.",
        golden_sample_id=demo_id("golden:tray:1"),
        checks={"materials": {"ok": True, "note": "0.6 mm cold-rolled steel"}, "colours": {"ok": True, "note": ""},
                "finishes": {"ok": True, "note": "satin enamel"},
                "packaging": {"ok": False, "note": "inner carton print missing the recycling mark"},
                "tooling": {"ok": True, "note": "new press die, 2 cavities"}},
        discrepancies=[{"category": "wrong_packaging_component", "severity": "minor",
                        "description": "Inner carton without the recycling mark; corrected in the production print."},
                       {"category": "labeling_compliance", "severity": "major",
                        "description": "Country-of-origin label missing on the sample; factory confirmed."}],
        measured={"lab": [62.0, -18.0, 12.0], "length_mm": 120.0, "width_mm": 80.0,
                  "dimensions": {"length": 120.0, "width": 80.0, "height": 15.0}},
        notes="Second sample round."))
    db.session.add(ProductionSchedule(
        id=demo_id("timeline:schedule"), purchase_order_id=po.id, production_line="Line 3 (enamel)",
        slot_start=start, slot_end=today + timedelta(days=12), planned_units_per_day=260, work_weekdays="012345",
        final_inspection_days=1))
    db.session.add_all([
        Material(id=demo_id("timeline:material:steel"), purchase_order_id=po.id, name="Steel blanks 0.6 mm",
                 supplier="Baosteel Trading", eta=start - timedelta(days=6), received_on=start - timedelta(days=5)),
        Material(id=demo_id("timeline:material:frit"), purchase_order_id=po.id, name="Enamel frit, sage",
                 supplier="Ferro Guangzhou", eta=start - timedelta(days=3), received_on=start - timedelta(days=2)),
        Material(id=demo_id("timeline:material:cartons"), purchase_order_id=po.id, name="Printed export cartons",
                 supplier="Dongguan Packaging Co.", eta=today + timedelta(days=6)),
    ])
    db.session.add_all([
        Milestone(id=demo_id("timeline:milestone:start"), purchase_order_id=po.id, kind="production_start",
                  planned_date=start, actual_date=start),
        Milestone(id=demo_id("timeline:milestone:gs"), purchase_order_id=po.id, kind="golden_sample_approved",
                  subject=line.product.sku, planned_date=today - timedelta(days=21)),
        Milestone(id=demo_id("timeline:milestone:scheduled"), purchase_order_id=po.id, kind="production_scheduled",
                  planned_date=today - timedelta(days=18), actual_date=today - timedelta(days=17)),
    ])
    workdays = working_weekdays("012345")
    pace = [210, 235, 228, 240, 225, 232, 238, 229, 236, 231]
    day, i = start, 0
    while day < today:
        if day.weekday() in workdays:
            db.session.add(ProgressReport(id=demo_id(f"timeline:progress:{day.isoformat()}"), purchase_order_id=po.id,
                                          po_line_id=line.id, report_date=day, units_produced=pace[i % len(pace)],
                                          reported_by_id=manager))
            i += 1
        day += timedelta(days=1)

    shipment = Shipment(id=demo_id("timeline:shipment:1"), purchase_order_id=po.id, reference="SHP-0042-1",
                        forwarder="Kuehne+Nagel Shenzhen", booking_number="KN-SZX-448812", booked_on=today - timedelta(
                            days=3), vessel="MSC Aurora", voyage="FE612W", port_of_loading="Yantian (CNYTN)",
                        port_of_discharge="Rotterdam (NLRTM)", container_type="20GP",
                        cargo_cutoff=today + timedelta(days=16), etd=today + timedelta(days=19),
                        eta=today + timedelta(days=49))
    shipment.cartons = [
        PackingCarton(id=demo_id("timeline:carton:1"), position=0, carton_count=200,
                      contents=[{"po_line_id": str(line.id), "units": 24}], length_cm=62, width_cm=42, height_cm=28,
                      gross_kg=7.4),
        PackingCarton(id=demo_id("timeline:carton:2"), position=1, carton_count=1,
                      contents=[{"po_line_id": str(line.id), "units": 8}], length_cm=62, width_cm=42, height_cm=28,
                      gross_kg=2.9),
    ]
    shipment.documents = [ExportDocument(id=demo_id(f"timeline:document:{kind}"), kind=kind, title=title, position=n)
                          for n, (kind, title) in enumerate(checklist_for(po.destination or ""))]
    db.session.add(shipment)
    db.session.add_all([
        Issue(id=demo_id("timeline:issue:cartons"), purchase_order_id=po.id, type="packaging_defect", severity="high",
              title="Export cartons crush in the drop test", status="in_progress",
              description="Supplier is switching to 5-ply board; new cartons arrive next week.",
              owner_org_id=po.factory_id, owner_user_id=manager, due_date=today - timedelta(days=1),
              expected_delay_days=1, opened_by_id=reviewer),
        Issue(id=demo_id("timeline:issue:label"), purchase_order_id=po.id, type="labeling_compliance_correction",
              severity="medium", title="Add the country-of-origin label", status="verified",
              owner_org_id=po.factory_id, due_date=today - timedelta(days=15), opened_by_id=reviewer,
              resolved_at=utcnow() - timedelta(days=16), verified_at=utcnow() - timedelta(days=15)),
    ])
    db.session.flush()
    cartons = demo_id("timeline:issue:cartons")
    db.session.add_all([
        CapaStep(id=demo_id("timeline:capa:containment"), issue_id=cartons, step="containment", status="done",
                 description="Cartons in stock quarantined; finished goods double-boxed until the new board arrives.",
                 owner_user_id=manager, due_date=today - timedelta(days=3), completed_at=utcnow() - timedelta(days=3),
                 five_whys=[], evidence=[]),
        CapaStep(id=demo_id("timeline:capa:root_cause"), issue_id=cartons, step="root_cause", status="in_progress",
                 description="Board grade below the packaging spec.", owner_user_id=manager,
                 due_date=today + timedelta(days=1), evidence=[],
                 five_whys=["Cartons crush in the drop test", "The board is 3-ply, not 5-ply",
                            "Purchasing ordered the old grade", "The spec change did not reach purchasing"]),
        CapaStep(id=demo_id("timeline:capa:corrective"), issue_id=cartons, step="corrective_action", status="open",
                 description="Switch to 5-ply board; re-run the drop test on the first 20 cartons.",
                 owner_user_id=manager, due_date=today + timedelta(days=4), five_whys=[], evidence=[]),
    ])
    batch_b = db.session.get(Batch, demo_id("batch:B"))
    if batch_b is not None:
        db.session.add(InspectionBooking(
            id=demo_id("timeline:booking:final-B"), purchase_order_id=po.id, po_line_id=line.id, batch_id=batch_b.id,
            kind="final", ready_date=today + timedelta(days=12), quantity=batch_b.lot_size, status="requested",
            note="LOT-B packed and palletised by then.", requested_by_id=manager,
            history=[{"at": utcnow().isoformat(), "by": str(manager), "action": "requested",
                      "date": (today + timedelta(days=12)).isoformat(), "quantity": batch_b.lot_size}]))
    db.session.flush()
    refresh_alerts(po, today)
