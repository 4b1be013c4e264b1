"""Lot verdict from sampling plans and what the inspector found.

Pure function :func:`compute_verdict`, mirrored by ``pwa/lib/verdict.js`` ``computeVerdict``
(same arguments in the same order, same result dict, same reason strings) so the phone shows
offline the verdict the server will store.

Decision per defect class (ISO 2859-1 clause 10.1, single sampling): accepted when the number
found is <= Ac, rejected when it is >= Re; with the reduced plans' gap (Ac < found < Re) the
lot is accepted and normal inspection is reinstated (ANSI/ASQ Z1.4 10.1.4).

Counting rule (``rule``), defaults in :data:`DEFAULT_RULE`:

* each failed checklist item counts as ``failed_item_weight`` (1) defect of class
  ``failed_item_class`` (``"major"``);
* each unit out of tolerance counts as ``measurement_failure_weight`` (1) defect of class
  ``measurement_failure_class`` (``"major"``). A unit is out of tolerance when a manual
  measurement of it failed, or a photo of it failed analysis (colour or size): see
  :func:`units_out_of_tolerance`, which the server uses to count them.

A class of ``None`` means "do not count". Only the keys given override the defaults.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Iterable, Mapping

DEFAULT_RULE: Mapping[str, Any] = MappingProxyType(
    {
        "failed_item_class": "major",
        "failed_item_weight": 1,
        "measurement_failure_class": "major",
        "measurement_failure_weight": 1,
    }
)

PASS, FAIL, PENDING = "pass", "fail", "pending"


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _plan_fields(name: str, p: Any) -> tuple[int, int, int]:
    data = p.to_dict() if hasattr(p, "to_dict") else p
    if not isinstance(data, Mapping):
        raise ValueError(f"plan for {name!r} must be a Plan or a mapping")
    try:
        n, ac, re = data["sample_size"], data["accept"], data["reject"]
    except KeyError as exc:
        raise ValueError(f"plan for {name!r} lacks {exc.args[0]!r}") from None
    _count(n, f"{name} sample_size")
    _count(ac, f"{name} accept")
    _count(re, f"{name} reject")
    if re <= ac:
        raise ValueError(f"plan for {name!r}: reject ({re}) must exceed accept ({ac})")
    return n, ac, re


def _merge_rule(rule: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = dict(DEFAULT_RULE)
    if rule:
        unknown = set(rule) - set(DEFAULT_RULE)
        if unknown:
            raise ValueError(f"unknown rule keys: {', '.join(sorted(unknown))}")
        merged.update(rule)
    for key in ("failed_item_weight", "measurement_failure_weight"):
        _count(merged[key], key)
    return merged


#: The analysis status of a photo whose measurement (colour or size) is out of tolerance.
PHOTO_FAILED = "fail"


def units_out_of_tolerance(
    manual: Iterable[tuple[Any, bool | None, Any]],
    photos: Iterable[tuple[Any, int | None, str | None]] = (),
) -> int:
    """How many sample units are out of tolerance: the ``measurement_failures`` of :func:`compute_verdict`.

    * ``manual``: ``(unit_index, in_tolerance, photo_id)`` per measurement (and per failed
      dimension answer, with ``in_tolerance`` False and no photo); ``in_tolerance`` False fails.
    * ``photos``: ``(photo_id, unit_index, analysis_status)`` per photo; status :data:`PHOTO_FAILED`
      fails, exactly like a failed manual measurement (``unusable`` and anything else do not).

    A unit counts once however many of its measurements failed. A photo names its unit by
    ``unit_index``; a photo without one is a unit of its own, and so are the measurements taken
    from it (their ``photo_id``), so one photo never counts twice.
    """
    photo_units: dict[Any, Any] = {}
    failed_photos = []
    for photo_id, unit_index, status in photos:
        photo_units[photo_id] = ("unit", unit_index) if unit_index is not None else ("photo", photo_id)
        if status == PHOTO_FAILED:
            failed_photos.append(photo_units[photo_id])
    out = set(failed_photos)
    for unit_index, in_tolerance, photo_id in manual:
        if in_tolerance is False:
            out.add(photo_units.get(photo_id) or ("unit", unit_index))
    return len(out)


def compute_verdict(
    plans: Mapping[str, Any],
    defect_counts: Mapping[str, int] | None = None,
    failed_items: int = 0,
    measurement_failures: int = 0,
    answered_items: int = 0,
    required_items: int = 0,
    units_inspected: int = 0,
    rule: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Overall verdict of one inspection.

    Arguments:

    * ``plans``: defect class -> plan (:class:`server.inspect.aql.Plan` or a mapping with
      ``sample_size``, ``accept``, ``reject``), e.g. from ``plans_for_classes``. Its key
      order is the order of the result and of the reasons.
    * ``defect_counts``: defect class -> defects logged directly (missing class = 0).
    * ``failed_items``: number of failed checklist items.
    * ``measurement_failures``: number of units out of tolerance.
    * ``answered_items`` / ``required_items``: required checklist items answered / total.
    * ``units_inspected``: units of the sample inspected so far.
    * ``rule``: overrides of :data:`DEFAULT_RULE`.

    Result::

        {"verdict": "pass" | "fail" | "pending",
         "reasons": [str, ...],            # why, in plain words; empty on a clean pass
         "normal_reinstated": bool,        # a reduced plan's Ac/Re gap was hit
         "classes": {cls: {"found", "sample_size", "accept", "reject",
                           "status": "accepted" | "rejected" | "accepted_reinstate_normal"
                                     | "pending"}}}

    "fail" as soon as any class reaches Re (further units cannot undo it); otherwise
    "pending" while a class's sample is incomplete or required items are unanswered;
    otherwise "pass". Raises ValueError for negative or non-integer counts, a class not in
    ``plans``, a bad plan or unknown rule keys.
    """
    if not plans:
        raise ValueError("at least one plan is required")
    defect_counts = {} if defect_counts is None else defect_counts
    merged = _merge_rule(rule)
    failed_items = _count(failed_items, "failed_items")
    measurement_failures = _count(measurement_failures, "measurement_failures")
    answered_items = _count(answered_items, "answered_items")
    required_items = _count(required_items, "required_items")
    units_inspected = _count(units_inspected, "units_inspected")

    found: dict[str, int] = {}
    fields: dict[str, tuple[int, int, int]] = {}
    for name, p in plans.items():
        fields[name] = _plan_fields(name, p)
        found[name] = 0
    for name, count in defect_counts.items():
        if name not in found:
            raise ValueError(f"defect class {name!r} has no plan")
        found[name] += _count(count, f"defect count for {name!r}")
    for cls_key, weight_key, count in (
        ("failed_item_class", "failed_item_weight", failed_items),
        ("measurement_failure_class", "measurement_failure_weight", measurement_failures),
    ):
        cls = merged[cls_key]
        if cls is None or count == 0:
            continue
        if cls not in found:
            raise ValueError(f"rule {cls_key} names class {cls!r}, which has no plan")
        found[cls] += count * merged[weight_key]

    classes: dict[str, dict[str, Any]] = {}
    rejected: list[str] = []
    pending: list[str] = []
    gap: list[str] = []
    for name, (n, ac, re) in fields.items():
        f = found[name]
        if f >= re:
            status = "rejected"
            rejected.append(f"{name}: {f} found, rejected at {re} (Ac {ac}, Re {re}, n {n})")
        elif units_inspected < n:
            status = "pending"
            pending.append(f"{name}: {units_inspected} of {n} sample units inspected")
        elif f > ac:
            status = "accepted_reinstate_normal"
            gap.append(
                f"{name}: {f} found, between Ac {ac} and Re {re}: "
                "lot accepted, normal inspection reinstated"
            )
        else:
            status = "accepted"
        classes[name] = {"found": f, "sample_size": n, "accept": ac, "reject": re, "status": status}

    if required_items > answered_items:
        pending.append(f"{required_items - answered_items} of {required_items} required items unanswered")

    if rejected:
        verdict, reasons = FAIL, rejected
    elif pending:
        verdict, reasons = PENDING, pending
    else:
        verdict, reasons = PASS, gap
    return {
        "verdict": verdict,
        "reasons": reasons,
        "normal_reinstated": verdict == PASS and bool(gap),
        "classes": classes,
    }
