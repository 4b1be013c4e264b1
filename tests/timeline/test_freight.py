"""Packing-list checks, totals, container fit and the freight alerts."""
from datetime import date, timedelta

import pytest

from server.timeline.freight import (CartonRow, check_packing_list, checklist_for, container_fit,
                                     destination_country, freight_alerts)

TODAY = date(2026, 3, 2)


def test_exact_packing_list_is_ok_with_totals():
    rows = [CartonRow(100, {"A": 24}, 60, 40, 30, 12.5), CartonRow(50, {"B": 10}, 50, 50, 50, 20.0)]
    check = check_packing_list({"A": 2400, "B": 500}, rows)
    assert check.ok
    assert (check.total_cartons, check.total_units) == (150, 2900)
    assert check.total_volume_m3 == pytest.approx(100 * 0.072 + 50 * 0.125)
    assert check.total_gross_kg == pytest.approx(2250.0)


def test_short_and_over_lines_and_mixed_cartons_are_reported():
    rows = [CartonRow(10, {"A": 20}, 40, 30, 20, 5), CartonRow(2, {"A": 5, "B": 5}, 40, 30, 20, 5)]
    check = check_packing_list({"A": 200, "B": 20}, rows)
    by_line = {c.line: (c.status, c.difference) for c in check.lines}
    assert by_line == {"A": ("over", 10), "B": ("short", -10)}
    assert check.mixed_carton_rows == (1,)
    assert not check.ok


def test_units_of_a_line_not_on_the_po_are_unknown():
    check = check_packing_list({"A": 10}, [CartonRow(1, {"A": 10, "Z": 1}, 10, 10, 10, 1)])
    assert check.unknown_lines == ("Z",)
    assert not check.ok


def test_volume_fit_uses_the_usable_share_of_the_box():
    fits = {f.code: f for f in container_fit(30.0, 5000)}
    # 20' usable = 33.2 * 0.85 = 28.22 m³ < 30 m³: two boxes; a 40' (57.5 m³ usable) takes it in one
    assert fits["20GP"].containers_needed == 2
    assert fits["40GP"].containers_needed == 1
    assert fits["40HC"].usable_m3 == pytest.approx(64.94)


def test_heavy_cargo_is_limited_by_payload_not_volume():
    fits = {f.code: f for f in container_fit(10.0, 27_000)}
    assert (fits["20GP"].needed_by_volume, fits["20GP"].needed_by_weight) == (1, 1)
    assert (fits["40GP"].needed_by_volume, fits["40GP"].needed_by_weight) == (1, 2)
    assert fits["40HC"].containers_needed == 2


def test_best_fit_prefers_fewest_then_smallest_box():
    check = check_packing_list({"A": 1}, [CartonRow(1, {"A": 1}, 100, 100, 100, 10)])
    assert check.best_fit.code == "20GP"


def test_destination_adds_its_documents_to_the_base_checklist():
    assert destination_country("Rotterdam, NL") == "NL"
    kinds = [k for k, _ in checklist_for("Rotterdam, NL")]
    assert kinds[:3] == ["commercial_invoice", "packing_list", "certificate_of_origin"]
    assert "eu_declaration_of_conformity" in kinds
    assert "isf_filing" in [k for k, _ in checklist_for("Los Angeles, US")]
    assert [k for k, _ in checklist_for("somewhere")] == ["commercial_invoice", "packing_list",
                                                           "certificate_of_origin", "bill_of_lading"]


def test_missing_documents_close_to_cutoff_raise_an_alert():
    alerts = freight_alerts(TODAY, TODAY + timedelta(days=5), packing_list_complete=True, packing_ok=True,
                            missing_documents=["Certificate of origin"], shipment="S1")
    assert [(a.kind, a.severity) for a in alerts] == [("freight_documents", "high")]


def test_incomplete_packing_list_two_days_before_cutoff_is_critical():
    alerts = freight_alerts(TODAY, TODAY + timedelta(days=2), packing_list_complete=False, packing_ok=True,
                            missing_documents=[], shipment="S1")
    assert [(a.kind, a.severity) for a in alerts] == [("freight_packing_list", "critical")]


def test_nothing_is_raised_far_from_the_cutoff_or_when_ready():
    far = freight_alerts(TODAY, TODAY + timedelta(days=30), packing_list_complete=False, packing_ok=False,
                         missing_documents=["x"])
    ready = freight_alerts(TODAY, TODAY + timedelta(days=1), packing_list_complete=True, packing_ok=True,
                           missing_documents=[])
    assert far == [] and ready == []
