"""Units, tolerance and statistics of measurements (server/inspect/measure.py)."""

import math

import pytest

from server.inspect import measure


@pytest.mark.parametrize("value,unit,expected", [
    (1, "mm", 1.0), (2.5, "cm", 25.0), (1, "in", 25.4), (10, "in", 254.0),
])
def test_lengths_convert_to_millimetres(value, unit, expected):
    assert measure.to_mm(value, unit) == pytest.approx(expected, rel=1e-15)
    assert measure.to_base(value, unit) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("value,unit,expected", [
    (1, "g", 1.0), (1.5, "kg", 1500.0), (1, "lb", 453.59237), (2, "lb", 907.18474),
])
def test_masses_convert_to_grams(value, unit, expected):
    assert measure.to_g(value, unit) == pytest.approx(expected, rel=1e-15)


def test_convert_between_units_of_one_quantity():
    assert measure.convert(254, "mm", "in") == pytest.approx(10.0)
    assert measure.convert(1, "kg", "lb") == pytest.approx(2.2046226218)
    assert measure.convert(3.3, "cm", "cm") == 3.3


@pytest.mark.parametrize("call", [
    lambda: measure.to_mm(1, "ft"),
    lambda: measure.to_mm(1, "g"),
    lambda: measure.to_g(1, "mm"),
    lambda: measure.to_mm(math.nan, "mm"),
    lambda: measure.to_mm(math.inf, "cm"),
    lambda: measure.to_mm("12", "mm"),
    lambda: measure.in_tolerance(1, math.nan, 0.1),
    lambda: measure.in_tolerance(1, 1, -0.1),
    lambda: measure.spec_stats([1.0, math.inf], 1, 0.1),
])
def test_bad_units_and_non_finite_values_raise(call):
    with pytest.raises(ValueError):
        call()


def test_tolerance_limits_are_inclusive_despite_float_error():
    # in binary floats 0.6 + 0.3 < 0.9 and 0.4 - 0.1 > 0.3: naive limits would fail these
    assert 0.6 + 0.3 < 0.9 and 0.4 - 0.1 > 0.3
    assert measure.in_tolerance(0.9, 0.6, 0.3)
    assert measure.in_tolerance(0.3, 0.4, 0.1)
    assert measure.in_tolerance(10.1, 10.0, 0.1)
    assert measure.in_tolerance(9.9, 10.0, 0.1)
    assert measure.in_tolerance(0.3, 0.1, 0.2)  # 0.1 + 0.2 > 0.3 in binary floats
    assert not measure.in_tolerance(10.1001, 10.0, 0.1)
    assert not measure.in_tolerance(9.8999, 10.0, 0.1)
    assert measure.in_tolerance(10.0, 10.0, 0.0)


def test_asymmetric_tolerance():
    assert measure.in_tolerance(10.2, 10.0, 0.2, 0.05)
    assert not measure.in_tolerance(9.9, 10.0, 0.2, 0.05)


def test_spec_stats_known_values():
    stats = measure.spec_stats([2, 4, 4, 4, 5, 5, 7, 9], 5.0, 1.0)
    assert stats["count"] == 8
    assert stats["mean"] == 5.0
    assert (stats["min"], stats["max"]) == (2.0, 9.0)
    assert stats["stdev"] == pytest.approx(math.sqrt(32 / 7))  # sample sd, n - 1
    assert stats["out_of_tolerance"] == 3  # 2, 7, 9


def test_spec_stats_small_samples():
    assert measure.spec_stats([], 5, 1) == {
        "count": 0, "mean": None, "min": None, "max": None, "stdev": None, "out_of_tolerance": 0}
    one = measure.spec_stats([5.5], 5, 1)
    assert (one["count"], one["mean"], one["stdev"], one["out_of_tolerance"]) == (1, 5.5, None, 0)
