"""Inspection rules called directly: the sync contract (prepare_sync_fields, after_sync), AQLs, switching."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from server.accounts.models import User
from server.auth import Principal
from server.catalog.models import DimensionSpec, Product, PurchaseOrder
from server.errors import Forbidden, ValidationFailed
from server.extensions import db
from server.inspect import service
from server.inspect.models import ChecklistResponse, Defect, Inspection, Measurement, Photo, SwitchingStateRecord


@pytest.fixture
def inspector(demo):
    return Principal.of(db.session.get(User, demo("user:inspector")))


@pytest.fixture
def reviewer(demo):
    return Principal.of(db.session.get(User, demo("user:reviewer")))


@pytest.fixture
def final_b(demo):
    """The demo's final inspection of lot B: assigned, no rows yet (lot 2500: K, n 125)."""
    return db.session.get(Inspection, demo("inspection:final:B"))


def _add(model, insp, fields):
    row = model(id=uuid.uuid4(), inspection_id=insp.id, **fields)
    db.session.add(row)
    return row


# -- prepare_sync_fields ------------------------------------------------------------------------

def test_measurement_in_cm_gets_value_in_mm_and_tolerance(final_b, inspector, demo):
    out = service.prepare_sync_fields("measurement", {"dimension_spec_id": str(demo("spec:length")), "unit_index": 0,
                                                      "value_entered": 12.15, "unit_entered": "cm"},
                                      final_b, inspector)
    assert out["value_si"] == pytest.approx(121.5)
    assert out["in_tolerance"] is False  # 120 ± 1 mm


def test_measurement_in_inches_within_tolerance(final_b, inspector, demo):
    out = service.prepare_sync_fields("measurement", {"dimension_spec_id": demo("spec:width"), "unit_index": 1,
                                                      "value_entered": 3.15, "unit_entered": "in"},
                                      final_b, inspector)
    assert out["value_si"] == pytest.approx(80.01) and out["in_tolerance"] is True


@pytest.mark.parametrize("unit", ["furlong", "kg"])
def test_measurement_with_an_unknown_or_mass_unit_is_refused(final_b, inspector, demo, unit):
    with pytest.raises(ValidationFailed) as exc:
        service.prepare_sync_fields("measurement", {"dimension_spec_id": str(demo("spec:length")), "unit_index": 0,
                                                    "value_entered": 1, "unit_entered": unit}, final_b, inspector)
    assert "unit_entered" in exc.value.errors


def test_measurement_of_another_products_dimension_is_refused(final_b, inspector, demo):
    other = Product(id=uuid.uuid4(), brand_id=demo("org:brand"), sku="OTHER", name="Other")
    spec = DimensionSpec(id=uuid.uuid4(), name="length", nominal_mm=10, tolerance_mm=1)
    other.dimension_specs = [spec]
    db.session.add(other)
    db.session.flush()
    with pytest.raises(ValidationFailed) as exc:
        service.prepare_sync_fields("measurement", {"dimension_spec_id": str(spec.id), "unit_index": 0,
                                                    "value_entered": 10}, final_b, inspector)
    assert "dimension_spec_id" in exc.value.errors


def test_partial_measurement_update_is_checked_against_the_stored_row(final_b, inspector, demo):
    row = {"inspection_id": final_b.id, "dimension_spec_id": demo("spec:height"), "unit_index": 2,
           "value_entered": 15.0, "unit_entered": "mm", "source": "manual", "photo_id": None}

    class Row(dict):
        __getattr__ = dict.get

    out = service.prepare_sync_fields("measurement", {"value_entered": 1.6}, final_b, inspector,
                                      existing=Row(row))
    assert out["unit_entered"] == "mm" and out["value_si"] == 1.6 and out["in_tolerance"] is False


def test_response_to_an_unknown_item_is_refused(final_b, inspector):
    with pytest.raises(ValidationFailed) as exc:
        service.prepare_sync_fields("response", {"item_key": "no_such_item", "value": "yes"}, final_b, inspector)
    assert "item_key" in exc.value.errors


@pytest.mark.parametrize("key,value", [("surface", "maybe"), ("finish", "chrome"), ("length", "long"),
                                       ("weight", {"value": 3, "unit": "mm"}), ("carton_damage", -1)])
def test_response_with_the_wrong_kind_of_value_is_refused(final_b, inspector, key, value):
    with pytest.raises(ValidationFailed) as exc:
        service.prepare_sync_fields("response", {"item_key": key, "value": value}, final_b, inspector)
    assert "value" in exc.value.errors


@pytest.mark.parametrize("key,value,passed", [
    ("surface", "yes", True), ("surface", "no", False), ("surface", "na", None),
    ("weight", 251, False), ("weight", {"value": 0.245, "unit": "kg"}, True), ("finish", "gloss", None),
])
def test_response_passed_follows_kind_and_tolerance(final_b, inspector, key, value, passed):
    out = service.prepare_sync_fields("response", {"item_key": key, "value": value}, final_b, inspector)
    assert out["passed"] is passed


def test_defect_class_defaults_from_the_library(final_b, inspector):
    out = service.prepare_sync_fields("defect", {"code": "sharp_edge"}, final_b, inspector)
    assert out["defect_class"] == "critical" and out["count"] == 1


def test_unknown_defect_without_a_class_is_refused(final_b, inspector):
    with pytest.raises(ValidationFailed) as exc:
        service.prepare_sync_fields("defect", {"code": "gremlins"}, final_b, inspector)
    assert "defect_class" in exc.value.errors


def test_phone_sets_only_its_inspection_fields(final_b, inspector):
    out = service.prepare_sync_fields("inspection", {"status": "in_progress", "notes": "Dusty line",
                                                     "verdict": "pass", "inspector_id": str(uuid.uuid4())},
                                      final_b, inspector)
    assert out["status"] == "in_progress" and out["notes"] == "Dusty line" and out["started_at"] is not None
    assert "verdict" not in out and "inspector_id" not in out


def test_status_cannot_go_back_to_assigned(final_b, inspector):
    final_b.status = "in_progress"
    with pytest.raises(ValidationFailed) as exc:
        service.prepare_sync_fields("inspection", {"status": "assigned"}, final_b, inspector)
    assert "status" in exc.value.errors


def test_only_the_assigned_inspector_signs_off(final_b, demo):
    manager = Principal.of(db.session.get(User, demo("user:manager")))
    with pytest.raises(Forbidden):
        service.prepare_sync_fields("inspection", {"status": "signed_off"}, final_b, manager)


def test_rows_of_a_signed_off_inspection_are_frozen(final_b, inspector):
    final_b.status = "signed_off"
    with pytest.raises(ValidationFailed) as exc:
        service.prepare_sync_fields("defect", {"code": "scratch"}, final_b, inspector)
    assert "inspection_id" in exc.value.errors


def test_brand_reviewer_cannot_write_inspection_rows(final_b, reviewer):
    with pytest.raises(Forbidden):
        service.prepare_sync_fields("defect", {"code": "scratch"}, final_b, reviewer)


# -- verdict and after_sync -------------------------------------------------------------------------

def test_after_sync_recomputes_the_verdict_from_stored_rows(final_b, inspector):
    assert final_b.verdict == "pending"
    _add(Defect, final_b, {"code": "sharp_edge", "defect_class": "critical", "count": 1})
    service.after_sync({final_b.id}, inspector)
    assert final_b.verdict == "fail"
    assert final_b.verdict_reasons == ["critical: 1 found, rejected at 1 (Ac 0, Re 1, n 125)"]


def test_after_sync_does_not_commit(final_b, inspector):
    _add(Defect, final_b, {"code": "sharp_edge", "defect_class": "critical", "count": 1})
    service.after_sync({final_b.id}, inspector)
    db.session.rollback()
    assert db.session.get(Inspection, final_b.id).verdict == "pending"


def test_failed_items_count_by_the_templates_rule(final_b, inspector):
    final_b.template.verdict_rule = {"failed_item_class": "critical"}
    fields = service.prepare_sync_fields("response", {"item_key": "barcode", "value": "no"}, final_b, inspector)
    _add(ChecklistResponse, final_b, fields)
    outcome = service.recompute_verdict(final_b)
    assert outcome["classes"]["critical"]["found"] == 1 and final_b.verdict == "fail"


def test_submitted_inspection_counts_the_whole_sample_inspected(demo):
    insp = db.session.get(Inspection, demo("inspection:inline:A"))
    assert insp.status == "submitted"
    outcome = service.recompute_verdict(insp)
    assert outcome["verdict"] == "pass"
    # 1 chip + 1 unit out of tolerance count as major; 3 scratches as minor
    assert outcome["classes"]["major"]["found"] == 2 and outcome["classes"]["minor"]["found"] == 3


def _photo(insp, status, unit_index=None):
    return _add(Photo, insp, {"item_key": "unit_photo", "unit_index": unit_index, "sha256": uuid.uuid4().hex * 2,
                              "size_bytes": 10, "content_type": "image/jpeg", "upload_state": "analysed",
                              "analysis_status": status})


def test_photos_failed_on_colour_count_like_failed_measurements(final_b, inspector):
    for unit in range(10):
        _photo(final_b, "fail", unit_index=unit)
    _photo(final_b, "pass", unit_index=10)
    _photo(final_b, "unusable", unit_index=11)
    outcome = service.recompute_verdict(final_b)
    assert outcome["classes"]["major"]["found"] == 10 and final_b.verdict == "fail"


def test_failed_photos_follow_the_templates_measurement_rule(final_b, inspector):
    final_b.template.verdict_rule = {"measurement_failure_class": "minor", "measurement_failure_weight": 2}
    for unit in range(3):
        _photo(final_b, "fail", unit_index=unit)
    outcome = service.recompute_verdict(final_b)
    assert outcome["classes"]["minor"]["found"] == 6 and outcome["classes"]["major"]["found"] == 0


def test_a_unit_counts_once_with_a_failed_photo_and_a_failed_measurement(final_b, inspector, demo):
    photo = _photo(final_b, "fail")  # no unit: a unit of its own, with the size measured from it
    _photo(final_b, "fail", unit_index=4)
    spec = demo("spec:length")
    _add(Measurement, final_b, {"dimension_spec_id": spec, "unit_index": 0, "value_entered": 130.0,
                                "unit_entered": "mm", "value_si": 130.0, "in_tolerance": False, "source": "photo",
                                "photo_id": photo.id})
    _add(Measurement, final_b, {"dimension_spec_id": spec, "unit_index": 4, "value_entered": 130.0,
                                "unit_entered": "mm", "value_si": 130.0, "in_tolerance": False})
    outcome = service.recompute_verdict(final_b)
    assert outcome["classes"]["major"]["found"] == 2


def test_after_sync_counts_failed_photos_too(final_b, inspector):
    final_b.template.verdict_rule = {"measurement_failure_class": "critical"}
    _photo(final_b, "fail", unit_index=0)
    service.after_sync({final_b.id}, inspector)
    assert final_b.verdict == "fail"
    assert final_b.verdict_reasons == ["critical: 1 found, rejected at 1 (Ac 0, Re 1, n 125)"]


# -- AQL and switching ---------------------------------------------------------------------------

def test_po_aql_wins_over_the_products(demo):
    po, product = db.session.get(PurchaseOrder, demo("po:42")), db.session.get(Product, demo("product:tray"))
    product.aql = {"major": 1.5, "minor": 6.5}
    po.aql = {"major": 1.0}
    assert service.effective_aqls(po, product) == {"critical": 0, "major": 1.0, "minor": 6.5}


def _sign_off_failed_lot(insp, inspector):
    _add(Defect, insp, {"code": "sharp_edge", "defect_class": "critical", "count": 1})
    insp.status = "signed_off"
    service.after_sync({insp.id}, inspector)


def test_sign_off_records_the_lot_once_in_the_switching_state(final_b, inspector, demo):
    _sign_off_failed_lot(final_b, inspector)
    service.after_sync({final_b.id}, inspector)  # a replayed batch changes nothing
    rec = db.session.scalar(select(SwitchingStateRecord))
    assert rec.state["lots"] == 1 and rec.state["normal_recent"] == [False]
    assert rec.inspection == "normal"


def test_two_rejected_lots_switch_the_stream_to_tightened(final_b, inspector, demo):
    lot_a = db.session.get(Inspection, demo("inspection:inline:A"))
    _sign_off_failed_lot(lot_a, inspector)
    _sign_off_failed_lot(final_b, inspector)
    state = service.switching_state_for(Principal.of(db.session.get(User, demo("user:reviewer"))),
                                        demo("product:tray"), demo("org:factory"))
    assert state["inspection"] == "tightened"
    assert service.current_severity(demo("product:tray"), demo("org:factory")) == "tightened"


def test_new_severity_reaches_inspections_not_yet_started(final_b, inspector, demo):
    lot_a = db.session.get(Inspection, demo("inspection:inline:A"))
    # a third, unstarted lot of the same stream
    third = Inspection(id=uuid.uuid4(), kind="final", purchase_order_id=final_b.purchase_order_id,
                       product_id=final_b.product_id, template_id=final_b.template_id,
                       inspector_id=final_b.inspector_id,
                       lot_size=500, aql=final_b.aql, verdict_reasons=[])
    db.session.add(third)
    _sign_off_failed_lot(lot_a, inspector)
    final_b.status = "in_progress"
    _sign_off_failed_lot(final_b, inspector)
    assert third.severity == "tightened"
    assert service.plans_for(third)["major"].inspection == "tightened"
