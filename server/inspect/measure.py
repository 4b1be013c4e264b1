"""Measurement units, tolerance checks and per-spec statistics.

Pure functions, mirrored by ``pwa/lib/measure.js`` (same answers bit for bit: sums are
plain left-to-right float additions in both languages, never ``math.fsum``/compensated sums).

Base units: lengths in millimetres (mm), masses in grams (g). Supported units:

========  ============  ======================================
quantity  unit          factor to base (exact by definition)
========  ============  ======================================
length    ``mm``        1
length    ``cm``        10
length    ``in``        25.4 (international inch, 1959)
mass      ``g``         1
mass      ``kg``        1000
mass      ``lb``        453.59237 (international avoirdupois pound, 1959)
========  ============  ======================================
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, Iterable, Mapping

#: unit -> (quantity, factor to the base unit of that quantity)
UNITS: Mapping[str, tuple[str, float]] = MappingProxyType(
    {
        "mm": ("length", 1.0),
        "cm": ("length", 10.0),
        "in": ("length", 25.4),
        "g": ("mass", 1.0),
        "kg": ("mass", 1000.0),
        "lb": ("mass", 453.59237),
    }
)
BASE_UNITS: Mapping[str, str] = MappingProxyType({"length": "mm", "mass": "g"})

#: Relative slack for tolerance limits, so 10.1 - 0.1 style float error never fails a unit
#: that sits exactly on a limit. 1e-9 of the larger magnitude: far below any gauge resolution.
TOLERANCE_EPS = 1e-9


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def unit_info(unit: str) -> tuple[str, float]:
    """``(quantity, factor)`` for a unit. Raises ValueError for an unknown unit."""
    if not isinstance(unit, str) or unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}: use one of {', '.join(UNITS)}")
    return UNITS[unit]


def to_base(value: float, unit: str) -> float:
    """Convert to the base unit of the unit's quantity (mm for lengths, g for masses).

    Raises ValueError for an unknown unit or a non-finite value.
    """
    _, factor = unit_info(unit)
    return _finite(value, "value") * factor


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert between two units of the same quantity, through the base unit.

    Raises ValueError for unknown units, mixed quantities (``"mm"`` to ``"g"``) or a
    non-finite value.
    """
    q_from, f_from = unit_info(from_unit)
    q_to, f_to = unit_info(to_unit)
    if q_from != q_to:
        raise ValueError(f"cannot convert {q_from} ({from_unit}) to {q_to} ({to_unit})")
    if from_unit == to_unit:
        return _finite(value, "value")
    return _finite(value, "value") * f_from / f_to


def to_mm(value: float, unit: str) -> float:
    """Length in millimetres. Raises ValueError for a non-length unit or non-finite value."""
    return convert(value, unit, "mm")


def to_g(value: float, unit: str) -> float:
    """Mass in grams. Raises ValueError for a non-mass unit or non-finite value."""
    return convert(value, unit, "g")


def in_tolerance(value_mm: float, nominal_mm: float, tol_mm: float, tol_minus_mm: float | None = None) -> bool:
    """True when ``nominal - tol_minus <= value <= nominal + tol`` (limits inclusive).

    ``tol_mm`` is the upper (and, unless ``tol_minus_mm`` is given, lower) tolerance, both
    non-negative. A slack of ``TOLERANCE_EPS`` times the largest magnitude involved absorbs
    float error (e.g. 10.1 against 10 ± 0.1). Works for any unit as long as all arguments
    share it. Raises ValueError for non-finite values or a negative tolerance.
    """
    value = _finite(value_mm, "value")
    nominal = _finite(nominal_mm, "nominal")
    plus = _finite(tol_mm, "tolerance")
    minus = plus if tol_minus_mm is None else _finite(tol_minus_mm, "lower tolerance")
    if plus < 0 or minus < 0:
        raise ValueError("tolerances must not be negative")
    eps = TOLERANCE_EPS * max(1.0, abs(value), abs(nominal), plus, minus)
    return nominal - minus - eps <= value <= nominal + plus + eps


def spec_stats(
    values_mm: Iterable[float],
    nominal_mm: float,
    tol_mm: float,
    tol_minus_mm: float | None = None,
) -> dict[str, Any]:
    """Statistics of the measurements of one spec.

    Returns ``{"count", "mean", "min", "max", "stdev", "out_of_tolerance"}``: ``stdev`` is
    the sample standard deviation (n - 1, two-pass); ``mean``/``min``/``max`` are None when
    there are no values and ``stdev`` is None below two values. ``out_of_tolerance`` counts
    values failing :func:`in_tolerance`. Raises ValueError for non-finite values.
    """
    values = [_finite(v, "value") for v in values_mm]
    out = sum(1 for v in values if not in_tolerance(v, nominal_mm, tol_mm, tol_minus_mm))
    # Validate the spec even without values, so a bad spec fails early.
    in_tolerance(_finite(nominal_mm, "nominal"), nominal_mm, tol_mm, tol_minus_mm)
    n = len(values)
    if n == 0:
        return {"count": 0, "mean": None, "min": None, "max": None, "stdev": None, "out_of_tolerance": 0}
    total = 0.0
    for v in values:
        total += v
    mean = total / n
    stdev = None
    if n >= 2:
        ss = 0.0
        for v in values:
            ss += (v - mean) * (v - mean)
        stdev = math.sqrt(ss / (n - 1))
    return {
        "count": n,
        "mean": mean,
        "min": min(values),
        "max": max(values),
        "stdev": stdev,
        "out_of_tolerance": out,
    }
