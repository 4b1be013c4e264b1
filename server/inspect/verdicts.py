"""An inspection's verdict, recomputed from its stored rows (the maths is in ``verdict.py``).

:func:`after_sync` is what a sync push (and an API change of status) calls once its rows are
written: verdicts follow, and lots now signed off advance their stream's switching state.
"""
from __future__ import annotations

import uuid
from collections import namedtuple
from typing import Any, Iterable

from sqlalchemy import select

from ..auth import Principal
from ..catalog.models import Product
from ..extensions import db
from . import defects, verdict
from .models import ChecklistResponse, ChecklistTemplate, Defect, Inspection, Measurement, Photo
from .rules import COMPLETE_STATUSES
from .switching import advance_switching, plans_for
from .templates import template_items

def live(model, insp_id: uuid.UUID) -> list:
    return list(db.session.scalars(select(model).where(model.inspection_id == insp_id, model.deleted.is_(False))))


def recompute_verdict(insp: Inspection, rows: dict[str, list] | None = None) -> dict[str, Any]:
    """Recompute and store an inspection's verdict and reasons from its stored rows; no commit.

    Counts: defects per class (plus ``defect_count`` answers), failed checklist items,
    sampled units out of tolerance (measurements and number answers tied to a dimension
    spec), required items answered. Units inspected: distinct unit indexes seen, or the
    whole sample once the inspector has submitted. Returns ``compute_verdict``'s result
    (with ``classes`` empty while the lot size is unknown). ``rows`` are the live rows
    preloaded by :func:`_live_rows` (default: read here).
    """
    db.session.flush()
    template = insp.template or db.session.get(ChecklistTemplate, insp.template_id)
    items = template_items(template) if template else {}
    plans = plans_for(insp)
    if plans is None:
        outcome = {"verdict": "pending", "reasons": ["lot size unknown: no sampling plan yet"],
                   "normal_reinstated": False, "classes": {}}
        insp.verdict, insp.verdict_reasons = outcome["verdict"], outcome["reasons"]
        return outcome
    product = None  # read only when a defect-count answer needs the product's category
    if rows is None:
        responses, measurements, found_defects = (live(ChecklistResponse, insp.id), live(Measurement, insp.id),
                                                  live(Defect, insp.id))
        photos = live(Photo, insp.id)
    else:
        responses, measurements, found_defects, photos = (rows["response"], rows["measurement"], rows["defect"],
                                                          rows["photo"])
    counts = {cls: 0 for cls in plans}
    for d in found_defects:
        if d.defect_class in counts:
            counts[d.defect_class] += d.count
    failed_items = 0
    failed_dimension_answers: list[tuple[Any, bool, None]] = []
    answered: set[str] = set()
    for r in responses:
        item = items.get(r.item_key)
        if item is None:
            continue
        if r.value is not None:
            answered.add(r.item_key)
        if item["kind"] == "defect_count" and isinstance(r.value, int) and not isinstance(r.value, bool):
            if product is None and not item.get("defect_class"):
                product = db.session.get(Product, insp.product_id)
            cls = item.get("defect_class") or defects.default_class(item.get("defect", ""), product.category)
            if cls in counts:
                counts[cls] += r.value
        elif r.passed is False:
            if item.get("dimension_spec_id"):
                failed_dimension_answers.append((r.unit_index, False, None))
            else:
                failed_items += 1
    measured_specs = {str(m.dimension_spec_id) for m in measurements}
    units_out = verdict.units_out_of_tolerance(
        [*failed_dimension_answers, *((m.unit_index, bool(m.in_tolerance), m.photo_id) for m in measurements)],
        [(ph.id, ph.unit_index, ph.analysis_status) for ph in photos])
    for item in items.values():
        if item.get("dimension_spec_id") and item["dimension_spec_id"] in measured_specs:
            answered.add(item["key"])
        if item["kind"] == "photo" and any(ph.item_key == item["key"] for ph in photos):
            answered.add(item["key"])
    required = [k for k, i in items.items() if i.get("required")]
    units = {x.unit_index for x in (*responses, *measurements, *found_defects) if x.unit_index is not None}
    units_inspected = len(units)
    if insp.status in COMPLETE_STATUSES:
        units_inspected = max(units_inspected, max(pl.sample_size for pl in plans.values()))
    rule = dict(template.verdict_rule) if template and template.verdict_rule else None
    if rule:
        for key in ("failed_item_class", "measurement_failure_class"):
            if rule.get(key) is not None and rule[key] not in plans:
                rule[key] = None
    outcome = verdict.compute_verdict(plans, counts, failed_items=failed_items,
                                      measurement_failures=units_out,
                                      answered_items=len(set(required) & answered), required_items=len(required),
                                      units_inspected=units_inspected, rule=rule)
    if insp.verdict != outcome["verdict"]:
        insp.verdict = outcome["verdict"]
    if insp.verdict_reasons != outcome["reasons"]:
        insp.verdict_reasons = outcome["reasons"]
    return outcome


def after_sync(inspection_ids: set, principal: Principal, *, written: dict[uuid.UUID, dict[str, list[dict]]]
               | None = None, written_after_rev: int | None = None) -> None:
    """Recompute the verdicts of these inspections; advance switching for those now signed off.

    Called after a batch's mutations are applied, before the caller commits; never commits.
    Idempotent: a lot advances its stream's switching state once.

    ``written`` spares reading back what the caller just wrote: for each inspection, per
    entity (response, measurement, defect, photo), every row of it whose revision is above
    ``written_after_rev``, as the caller holds them (dicts of column values, tombstones
    included). The other rows are read from the database.
    """
    ids = sorted(inspection_ids, key=str)
    db.session.flush()
    insps: dict[uuid.UUID, Inspection] = {}
    for chunk in _chunks(ids):
        insps.update((i.id, i) for i in db.session.scalars(select(Inspection).where(Inspection.id.in_(chunk))))
    if written is None:
        rows = _live_rows(ids)
    else:
        rows = _live_rows(ids, through_rev=written_after_rev)
        for insp_id, by_entity in written.items():
            mine = rows.setdefault(insp_id, {n: [] for n in _VERDICT_COLUMNS})
            for name, written_rows in by_entity.items():
                shape = _VERDICT_ROW.get(name)
                if shape is None:  # comments and decisions play no part in the verdict
                    continue
                mine[name].extend(shape(*(r[c] for c in shape._fields)) for r in written_rows if not r["deleted"])
    for insp_id in ids:
        insp = insps.get(insp_id)
        if insp is None or insp.deleted:
            continue
        outcome = recompute_verdict(insp, rows.get(insp_id) or _NO_ROWS)
        if insp.status == "signed_off" and insp.switching_recorded_at is None:
            advance_switching(insp, outcome)


#: What the verdict reads of each row kind (light Core rows instead of ORM objects).
_VERDICT_COLUMNS = {
    "response": (ChecklistResponse, ("item_key", "value", "passed", "unit_index")),
    "measurement": (Measurement, ("dimension_spec_id", "in_tolerance", "unit_index", "photo_id")),
    "defect": (Defect, ("defect_class", "count", "unit_index")),
    "photo": (Photo, ("item_key", "id", "unit_index", "analysis_status")),
}
_NO_ROWS: dict[str, list] = {name: [] for name in _VERDICT_COLUMNS}
#: One verdict row of each kind, for rows the caller holds in memory.
_VERDICT_ROW = {name: namedtuple(f"Verdict{name.title()}", columns) for name, (_, columns) in _VERDICT_COLUMNS.items()}


def _chunks(items: list, size: int = 500) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _live_rows(inspection_ids: list, through_rev: int | None = None) -> dict[uuid.UUID, dict[str, list]]:
    """Live rows of these inspections for the verdict (those at revisions up to ``through_rev``, if given).

    One query per table, and per inspection when there are only a few.
    """
    out: dict[uuid.UUID, dict[str, list]] = {}
    for name, (model, columns) in _VERDICT_COLUMNS.items():
        t = model.__table__
        cols = [t.c[c] for c in columns]
        live = [t.c.deleted.is_(False)] + ([t.c.rev <= through_rev] if through_rev is not None else [])
        if len(inspection_ids) <= _FEW_INSPECTIONS:
            # A push usually touches one inspection: no need to read each row's inspection id back.
            for insp_id in inspection_ids:
                rows = db.session.execute(select(*cols).where(t.c.inspection_id == insp_id, *live)).all()
                out.setdefault(insp_id, {n: [] for n in _VERDICT_COLUMNS})[name] = rows
            continue
        for chunk in _chunks(inspection_ids):
            q = select(t.c.inspection_id, *cols).where(t.c.inspection_id.in_(chunk), *live)
            for row in db.session.execute(q):
                out.setdefault(row.inspection_id, {n: [] for n in _VERDICT_COLUMNS})[name].append(row)
    return out


_FEW_INSPECTIONS = 4
