"""Quality dashboard: inspection results, defects and open issues over the POs a user may see.

No Flask request objects here. Figures (documented in ``docs/timeline.md``, "Quality dashboard"):

* **inspections**: signed-off, not deleted inspections whose sign-off day is in the period;
* **pass rate**: share of them whose standing verdict (the brand's override, else the computed
  verdict) is ``pass``;
* **first-time pass rate**: per lot and inspection kind (a lot is the batch, or the PO and product
  for an inspection without a batch), the share whose first signed-off inspection passed;
* **defects per 100 units**: recorded defects (``count`` summed) × 100 / units sampled (the
  largest sample size of the inspection's AQL plans, ISO 2859-1);
* **Pareto**: defects by code and class, most frequent first, with the cumulative share;
* **open issues**: open or in progress, with their mean and largest age in days;
* **on time**: milestones set on the PO (planned and actual dates) done on or before their planned
  day, and shipments departed on or before their ETD (else the PO's planned ship date), among
  those done or departed in the period;
* **factory scorecard**: the same figures per factory.
"""
from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timezone
from typing import Any

from sqlalchemy import select

from ..auth import Principal
from ..catalog.models import PurchaseOrder
from ..errors import Forbidden, ValidationFailed
from ..extensions import db
from ..inspect.models import Defect, Inspection
from ..inspect.service import plans_for
from .models import Issue, Milestone, Shipment

OPEN = ("open", "in_progress")


def _scope(p: Principal, f: dict[str, Any]):
    from ..catalog.service import visible_purchase_orders

    if not (p.is_platform_admin or p.brand_ids or p.managed_factory_ids):
        raise Forbidden("The quality dashboard is for the brand and the factory's managers.")
    if f.get("date_from") and f.get("date_to") and f["date_to"] < f["date_from"]:
        raise ValidationFailed(errors={"date_to": ["The period must end on or after its start."]})
    q = visible_purchase_orders(p).where(PurchaseOrder.deleted.is_(False))
    if not p.is_platform_admin and not p.brand_ids:  # a factory manager: their factories' POs only
        q = q.where(PurchaseOrder.factory_id.in_(p.managed_factory_ids))
    for key, col in (("brand_id", PurchaseOrder.brand_id), ("factory_id", PurchaseOrder.factory_id),
                     ("purchase_order_id", PurchaseOrder.id)):
        if f.get(key):
            q = q.where(col == f[key])
    return q


def _inspections(p: Principal, f: dict[str, Any]) -> list[tuple[Inspection, PurchaseOrder]]:
    pos = _scope(p, f).subquery()
    q = (select(Inspection, PurchaseOrder).join(PurchaseOrder, PurchaseOrder.id == Inspection.purchase_order_id)
         .where(Inspection.purchase_order_id.in_(select(pos.c.id)), Inspection.deleted.is_(False),
                Inspection.status == "signed_off", Inspection.signed_off_at.is_not(None)))
    if f.get("product_id"):
        q = q.where(Inspection.product_id == f["product_id"])
    if f.get("date_from"):
        q = q.where(Inspection.signed_off_at >= datetime.combine(f["date_from"], time.min, tzinfo=timezone.utc))
    if f.get("date_to"):
        q = q.where(Inspection.signed_off_at <= datetime.combine(f["date_to"], time.max, tzinfo=timezone.utc))
    return [(i, po) for i, po in db.session.execute(q.order_by(Inspection.signed_off_at, Inspection.id)).all()]


def _sample_size(insp: Inspection) -> int:
    try:
        plans = plans_for(insp) or {}
    except ValidationFailed:
        return 0
    return max((pl.sample_size for pl in plans.values()), default=0)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(rows: list[tuple[Inspection, PurchaseOrder]], defects: dict[uuid.UUID, list[Defect]]) -> dict[str, Any]:
    first: dict[tuple, Inspection] = {}
    for insp, po in rows:  # in sign-off order
        first.setdefault((insp.batch_id or (po.id, insp.product_id), insp.kind), insp)
    units = sum(_sample_size(i) for i, _ in rows)
    found = sum(d.count for i, _ in rows for d in defects.get(i.id, []))
    passed = sum(i.final_verdict == "pass" for i, _ in rows)
    return {"inspections": len(rows), "passed": passed, "pass_rate": _rate(passed, len(rows)),
            "first_time_lots": len(first), "first_time_passed": sum(i.final_verdict == "pass" for i in first.values()),
            "first_time_pass_rate": _rate(sum(i.final_verdict == "pass" for i in first.values()), len(first)),
            "units_sampled": units, "defects": found,
            "defects_per_100_units": round(100 * found / units, 2) if units else None}


def _pareto(rows, defects) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for insp, _ in rows:
        for d in defects.get(insp.id, []):
            counts[(d.code, d.defect_class)] += d.count
    total = sum(counts.values())
    out, running = [], 0
    for (code, cls), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        running += n
        out.append({"code": code, "defect_class": cls, "count": n, "share": _rate(n, total),
                    "cumulative_share": _rate(running, total)})
    return out


def _issues(p: Principal, f: dict[str, Any], today: date) -> dict[tuple, list[Issue]]:
    pos = _scope(p, f).subquery()
    rows = db.session.execute(select(Issue, pos.c.factory_id).join(pos, pos.c.id == Issue.purchase_order_id)
                              .where(Issue.status.in_(OPEN))).all()
    by_factory: dict[Any, list[Issue]] = defaultdict(list)
    for issue, factory_id in rows:
        by_factory[factory_id].append(issue)
    return by_factory


def _issue_figures(issues: list[Issue], today: date) -> dict[str, Any]:
    ages = [(today - i.created_at.date()).days for i in issues]
    return {"open_issues": len(issues), "open_issue_mean_age_days": round(sum(ages) / len(ages), 1) if ages else None,
            "open_issue_max_age_days": max(ages) if ages else None}


def _in_period(day: date | None, f: dict[str, Any]) -> bool:
    return day is not None and not (f.get("date_from") and day < f["date_from"]) and \
        not (f.get("date_to") and day > f["date_to"])


def _on_time(p: Principal, f: dict[str, Any]) -> dict[Any, dict[str, int]]:
    """Per factory: milestones done and on time, shipments departed and on time, in the period."""
    pos = _scope(p, f).subquery()
    out: dict[Any, dict[str, int]] = defaultdict(lambda: {"milestones_done": 0, "milestones_on_time": 0,
                                                         "shipments_departed": 0, "shipments_on_time": 0})
    for m, factory_id in db.session.execute(select(Milestone, pos.c.factory_id).join(
            pos, pos.c.id == Milestone.purchase_order_id).where(Milestone.planned_date.is_not(None),
                                                                 Milestone.actual_date.is_not(None))).all():
        if _in_period(m.actual_date, f):
            out[factory_id]["milestones_done"] += 1
            out[factory_id]["milestones_on_time"] += m.actual_date <= m.planned_date
    for s, factory_id, planned in db.session.execute(select(Shipment, pos.c.factory_id, pos.c.planned_ship_date).join(
            pos, pos.c.id == Shipment.purchase_order_id).where(Shipment.departed_on.is_not(None))).all():
        due = s.etd or planned
        if _in_period(s.departed_on, f) and due is not None:
            out[factory_id]["shipments_departed"] += 1
            out[factory_id]["shipments_on_time"] += s.departed_on <= due
    return out


def _on_time_figures(c: dict[str, int]) -> dict[str, Any]:
    return {**c, "on_time_milestone_rate": _rate(c["milestones_on_time"], c["milestones_done"]),
            "on_time_shipment_rate": _rate(c["shipments_on_time"], c["shipments_departed"])}


def quality_dashboard(p: Principal, f: dict[str, Any], today: date) -> dict[str, Any]:
    """The dashboard for the filters ``brand_id, factory_id, product_id, purchase_order_id, date_from,
    date_to``, over the POs ``p`` may see. Raises ``Forbidden`` (inspectors), ``ValidationFailed``."""
    rows = _inspections(p, f)
    ids = [i.id for i, _ in rows]
    defects: dict[uuid.UUID, list[Defect]] = defaultdict(list)
    if ids:
        for d in db.session.scalars(select(Defect).where(Defect.inspection_id.in_(ids), Defect.deleted.is_(False))):
            defects[d.inspection_id].append(d)
    issues = _issues(p, f, today)
    per_factory: dict[uuid.UUID, list] = defaultdict(list)
    for insp, po in rows:
        per_factory[po.factory_id].append((insp, po))
    from ..accounts.models import Organisation

    on_time = _on_time(p, f)
    empty = {"milestones_done": 0, "milestones_on_time": 0, "shipments_departed": 0, "shipments_on_time": 0}
    scorecard = []
    for factory_id in sorted(set(per_factory) | set(issues) | set(on_time), key=str):
        org = db.session.get(Organisation, factory_id)
        scorecard.append({"factory_id": factory_id, "factory_name": org.name if org else "",
                          **_figures(per_factory.get(factory_id, []), defects),
                          **_issue_figures(issues.get(factory_id, []), today),
                          **_on_time_figures(on_time.get(factory_id, empty))})
    totals = {k: sum(c[k] for c in on_time.values()) for k in empty}
    return {"filters": {k: v for k, v in f.items() if v is not None}, "today": today,
            "summary": {**_figures(rows, defects), **_issue_figures([i for v in issues.values() for i in v], today),
                        **_on_time_figures(totals)},
            "pareto": _pareto(rows, defects), "factory_scorecard": scorecard}


CSV_TABLES = ("summary", "pareto", "factory_scorecard")


def to_csv(dashboard: dict[str, Any], table: str) -> str:
    """One table of the dashboard as CSV (header row first)."""
    rows = [dashboard["summary"]] if table == "summary" else dashboard[table]
    out = io.StringIO()
    if rows:
        w = csv.DictWriter(out, fieldnames=list(rows[0].keys()), lineterminator="\r\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return out.getvalue()


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def pareto_svg(pareto: list[dict[str, Any]], width: int = 360, bar_h: int = 22) -> str:
    """A horizontal bar chart of the defect Pareto (self-contained SVG, text escaped)."""
    n = max(len(pareto), 1)
    height = 30 + n * (bar_h + 6)
    top = max((r["count"] for r in pareto), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="Defect Pareto">',
             '<text x="8" y="18" font-family="sans-serif" font-size="13">Defects by code</text>']
    if not pareto:
        parts.append('<text x="8" y="44" font-family="sans-serif" font-size="12">No defects recorded</text>')
    for k, r in enumerate(pareto):
        y = 30 + k * (bar_h + 6)
        w = round((width - 170) * r["count"] / top, 1)
        label = _esc(f"{r['code']} ({r['defect_class']})")
        parts.append(f'<text x="8" y="{y + 15}" font-family="sans-serif" font-size="11">{label}</text>')
        parts.append(f'<rect x="130" y="{y}" width="{w}" height="{bar_h}" fill="#3b6ea5"/>')
        parts.append(f'<text x="{134 + w}" y="{y + 15}" font-family="sans-serif" font-size="11">{r["count"]}</text>')
    parts.append("</svg>")
    return "".join(parts)
