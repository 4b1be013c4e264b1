"""Inspection verdict (server/inspect/verdict.py)."""

import pytest

from server.inspect.aql import plan, plans_for_classes
from server.inspect.verdict import DEFAULT_RULE, compute_verdict, units_out_of_tolerance


@pytest.fixture
def plans():
    return plans_for_classes(500)  # H, n 50: critical 0/1, major 3/4, minor 5/6


def test_clean_complete_inspection_passes(plans):
    v = compute_verdict(plans, {"minor": 5}, answered_items=4, required_items=4, units_inspected=50)
    assert v["verdict"] == "pass" and v["reasons"] == [] and not v["normal_reinstated"]
    assert v["classes"]["minor"] == {"found": 5, "sample_size": 50, "accept": 5, "reject": 6,
                                     "status": "accepted"}


def test_reaching_re_fails_even_before_the_sample_is_complete(plans):
    v = compute_verdict(plans, {"critical": 1}, units_inspected=3)
    assert v["verdict"] == "fail"
    assert v["reasons"] == ["critical: 1 found, rejected at 1 (Ac 0, Re 1, n 50)"]
    assert v["classes"]["major"]["status"] == "pending"


def test_failed_items_and_measurements_count_as_major_by_default(plans):
    v = compute_verdict(plans, {"major": 1}, failed_items=1, measurement_failures=1,
                        units_inspected=50)
    assert v["classes"]["major"]["found"] == 3 and v["verdict"] == "pass"
    v = compute_verdict(plans, {"major": 1}, failed_items=2, measurement_failures=1,
                        units_inspected=50)
    assert v["verdict"] == "fail"
    assert v["reasons"] == ["major: 4 found, rejected at 4 (Ac 3, Re 4, n 50)"]


def test_rule_can_remap_or_ignore_failures(plans):
    rule = {"failed_item_class": "minor", "measurement_failure_class": None}
    v = compute_verdict(plans, {}, failed_items=4, measurement_failures=9, units_inspected=50,
                        rule=rule)
    assert v["classes"]["minor"]["found"] == 4 and v["classes"]["major"]["found"] == 0
    v = compute_verdict(plans, {}, failed_items=3, units_inspected=50,
                        rule={"failed_item_weight": 2})
    assert v["classes"]["major"]["found"] == 6 and v["verdict"] == "fail"
    assert dict(DEFAULT_RULE)["failed_item_class"] == "major"


def test_pending_when_sample_incomplete_or_required_items_unanswered(plans):
    v = compute_verdict(plans, {}, answered_items=4, required_items=4, units_inspected=49)
    assert v["verdict"] == "pending"
    assert "critical: 49 of 50 sample units inspected" in v["reasons"]
    v = compute_verdict(plans, {}, answered_items=2, required_items=5, units_inspected=50)
    assert v["verdict"] == "pending"
    assert v["reasons"] == ["3 of 5 required items unanswered"]


def test_reduced_gap_passes_but_reinstates_normal():
    plans = {"major": plan(2000, 1.0, inspection="reduced")}  # K reduced: n 50, Ac 1, Re 4
    v = compute_verdict(plans, {"major": 2}, units_inspected=50)
    assert v["verdict"] == "pass" and v["normal_reinstated"]
    assert v["classes"]["major"]["status"] == "accepted_reinstate_normal"
    assert v["reasons"] == [
        "major: 2 found, between Ac 1 and Re 4: lot accepted, normal inspection reinstated"]
    assert compute_verdict(plans, {"major": 4}, units_inspected=50)["verdict"] == "fail"


def test_plain_dict_plans_are_accepted():
    v = compute_verdict({"major": {"sample_size": 8, "accept": 1, "reject": 2}}, {"major": 1},
                        units_inspected=8)
    assert v["verdict"] == "pass"


@pytest.mark.parametrize("kwargs", [
    {"defect_counts": {"cosmetic": 1}},
    {"defect_counts": {"major": -1}},
    {"failed_items": 1.5},
    {"units_inspected": -1},
    {"rule": {"failed_item_class": "cosmetic"}, "failed_items": 1},
    {"rule": {"colour": "major"}},
])
def test_bad_input_raises(plans, kwargs):
    with pytest.raises(ValueError):
        compute_verdict(plans, **kwargs)


def test_bad_plans_raise():
    with pytest.raises(ValueError):
        compute_verdict({})
    with pytest.raises(ValueError):
        compute_verdict({"major": {"sample_size": 8, "accept": 2, "reject": 2}})


def test_units_out_of_tolerance_counts_failed_photos_like_failed_measurements():
    photos = [(f"p{i}", i, "fail") for i in range(10)] + [("ok", 10, "pass"), ("blurred", 11, "unusable")]
    assert units_out_of_tolerance([], photos) == 10
    assert units_out_of_tolerance([(3, False, None), (3, False, None), (4, True, None)]) == 1


def test_a_unit_or_a_photo_counts_once():
    photos = [("a", None, "fail"), ("b", 5, "fail")]
    manual = [(0, False, "a"),  # measured from photo a: the same unit as a
              (5, False, None),  # unit 5 measured by hand too
              (6, False, None)]
    assert units_out_of_tolerance(manual, photos) == 3
