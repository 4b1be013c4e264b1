"""Delay forecast for a PO's production, and the alerts it raises. Pure: plain values in and out.

The rules (documented for users in ``docs/timeline.md``):

* **Working days.** A schedule names its working weekdays (Monday = 0; default every day).
  Production days are counted on working days only; reports on other days still count
  towards the quantity produced but not towards the rate.
* **Rate.** The median of the units produced per day over the last ``rate_window`` reported
  working days (at most ``4 × rate_window`` calendar days back, so stale reports do not count).
  A median ignores one unusually good or bad day. With no usable report yet, the planned rate of
  the schedule is used (``rate_source = "planned"``). A median of zero means production has
  stalled: no completion date can be forecast and a critical alert is raised.
* **Completion.** Started: the ``ceil(remaining / rate)``-th working day after ``today`` (today's
  report is taken as in). Not started: counted from the planned start, or from today if that
  has passed, and never before the latest ETA of a material not yet received — the start day
  itself produces. Then the open issues' expected delay days are added (calendar days, summed:
  the conservative assumption that the delays do not overlap).
* **Deadline.** Goods must be complete ``final_inspection_days + handling_days`` calendar days
  before the cargo cut-off (when booked) or else the planned ship date. If the forecast
  completion is later than that date, a ``delay_risk`` alert is raised — while it can still be
  acted upon; ``critical`` once the date has passed without completion.
* **Materials.** A material not yet received whose ETA is after the scheduled production start
  raises a ``delay_risk`` alert for that material.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Mapping, Sequence

DEFAULT_RATE_WINDOW_DAYS = 7
DEFAULT_HANDLING_DAYS = 2
# Forecasts further out than this many working days are clamped: a rate that slow is a
# stoppage in all but name, and date arithmetic must stay far from ``date.max``.
MAX_HORIZON_WORKING_DAYS = 1500


@dataclass(frozen=True)
class AlertSpec:
    """An alert that should be open: ``kind`` and ``subject`` identify it within a PO."""

    kind: str
    subject: str
    severity: str
    message: str
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MaterialInput:
    name: str
    eta: date | None
    received: bool = False
    supplier: str = ""


@dataclass(frozen=True)
class ScheduleInput:
    """Everything the forecast needs about one PO."""

    today: date
    total_units: int
    daily_units: Mapping[date, int]
    planned_units_per_day: int = 0
    planned_start: date | None = None
    actual_start: date | None = None
    work_weekdays: str = "0123456"
    final_inspection_days: int = 1
    handling_days: int = DEFAULT_HANDLING_DAYS
    cargo_cutoff: date | None = None
    planned_ship_date: date | None = None
    materials: Sequence[MaterialInput] = ()
    issue_delay_days: int = 0
    rate_window: int = DEFAULT_RATE_WINDOW_DAYS


@dataclass(frozen=True)
class Forecast:
    produced_units: int
    remaining_units: int
    rate_units_per_day: float | None
    rate_source: str  # recent | planned | none
    start_date: date | None
    completion_date: date | None
    final_inspection_date: date | None
    ready_to_ship_date: date | None
    needed_by: date | None
    needed_for: str | None  # cargo_cutoff | planned_ship_date
    slack_days: int | None
    alerts: tuple[AlertSpec, ...]


def working_weekdays(spec: str) -> frozenset[int]:
    """Parse ``"012345"`` into weekday numbers (Monday = 0). An empty spec means every day."""
    days = frozenset(int(c) for c in spec if c.isdigit() and int(c) < 7)
    return days or frozenset(range(7))


def add_working_days(start: date, n: int, weekdays: frozenset[int]) -> date:
    """The ``n``-th working day after ``start`` (``n = 0`` gives ``start``)."""
    day = start
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() in weekdays:
            n -= 1
    return day


def first_working_day(start: date, weekdays: frozenset[int]) -> date:
    """``start`` if it is a working day, else the next working day."""
    day = start
    while day.weekday() not in weekdays:
        day += timedelta(days=1)
    return day


def recent_rate(daily_units: Mapping[date, int], today: date, weekdays: frozenset[int],
                window: int = DEFAULT_RATE_WINDOW_DAYS) -> float | None:
    """Median units per working day over the last ``window`` reported working days, or None."""
    oldest = today - timedelta(days=4 * window)
    days = sorted((d for d in daily_units if oldest < d <= today and d.weekday() in weekdays), reverse=True)
    sample = [daily_units[d] for d in days[:window]]
    return float(statistics.median(sample)) if sample else None


def forecast(s: ScheduleInput) -> Forecast:
    """Forecast completion and the deadline it must meet, and list the alerts that should be open."""
    weekdays = working_weekdays(s.work_weekdays)
    produced = sum(max(0, u) for d, u in s.daily_units.items() if d <= s.today)
    remaining = max(0, s.total_units - produced)
    started = s.actual_start is not None or produced > 0
    alerts: list[AlertSpec] = []

    rate = recent_rate(s.daily_units, s.today, weekdays, s.rate_window) if started else None
    source = "recent"
    if rate is None:
        rate, source = (float(s.planned_units_per_day), "planned") if s.planned_units_per_day > 0 else (None, "none")

    start = s.actual_start
    if start is None and produced > 0:
        start = min(d for d, u in s.daily_units.items() if u > 0)
    late_materials = [m for m in s.materials if not m.received and m.eta is not None]
    if not started:
        start = max(s.planned_start or s.today, s.today)
        if late_materials:
            start = max(start, max(m.eta for m in late_materials))
        start = first_working_day(start, weekdays)
        planned = s.planned_start
        for m in late_materials:
            if planned is not None and m.eta > planned:
                alerts.append(AlertSpec(
                    "delay_risk", f"material:{m.name}", "high",
                    f"{m.name} arrives {m.eta.isoformat()}, after the production start {planned.isoformat()}.",
                    {"material": m.name, "supplier": m.supplier, "eta": m.eta.isoformat(),
                     "production_start": planned.isoformat(), "days_late": (m.eta - planned).days}))

    completion: date | None
    if remaining == 0:
        done_days = [d for d, u in s.daily_units.items() if u > 0 and d <= s.today]
        completion = max(done_days) if done_days else s.today
    elif rate is None or rate <= 0:
        completion = None
        if started and rate is not None:
            alerts.append(AlertSpec("delay_risk", "production_stalled", "critical",
                                    f"No units produced recently; {remaining} units remain.",
                                    {"remaining_units": remaining}))
    else:
        days_needed = min(math.ceil(remaining / rate), MAX_HORIZON_WORKING_DAYS)
        if started:
            completion = add_working_days(s.today, days_needed, weekdays)
        else:
            completion = add_working_days(start, days_needed - 1, weekdays)
        completion += timedelta(days=min(max(0, s.issue_delay_days), 10 * 365))

    lead = timedelta(days=s.final_inspection_days + s.handling_days)
    # The booking's cut-off binds once there is one; the planned ship date only while nothing is booked.
    needed_for = "cargo_cutoff" if s.cargo_cutoff else ("planned_ship_date" if s.planned_ship_date else None)
    deadline = s.cargo_cutoff or s.planned_ship_date
    needed_by = deadline - lead if deadline else None

    final_date = completion + timedelta(days=s.final_inspection_days) if completion else None
    ready = completion + lead if completion else None
    slack = (needed_by - completion).days if (needed_by and completion) else None
    if remaining > 0 and needed_by is not None and completion is not None and completion > needed_by:
        missed = s.today > needed_by
        alerts.append(AlertSpec(
            "delay_risk", "production_completion", "critical" if missed else "high",
            f"Forecast completion {completion.isoformat()} is {completion.toordinal() - needed_by.toordinal()} "
            f"day(s) after {needed_by.isoformat()}, the latest date to make the "
            f"{'cargo cut-off' if needed_for == 'cargo_cutoff' else 'planned ship date'}.",
            {"completion_date": completion.isoformat(), "needed_by": needed_by.isoformat(),
             "needed_for": needed_for, "rate_units_per_day": rate, "rate_source": source,
             "remaining_units": remaining, "issue_delay_days": s.issue_delay_days}))
    return Forecast(produced, remaining, rate, source, start, completion, final_date, ready, needed_by,
                    needed_for, slack, tuple(alerts))


@dataclass(frozen=True)
class IssueInput:
    id: str
    title: str
    due_date: date | None
    status: str


def overdue_issue_alerts(today: date, issues: Sequence[IssueInput]) -> list[AlertSpec]:
    """One warning per issue past its due date that is still open or in progress."""
    return [AlertSpec("issue_overdue", f"issue:{i.id}", "warning",
                      f"Issue \"{i.title}\" was due {i.due_date.isoformat()}.",
                      {"issue_id": i.id, "due_date": i.due_date.isoformat(), "days_overdue": (today - i.due_date).days})
            for i in issues if i.due_date is not None and i.due_date < today and i.status in ("open", "in_progress")]


def is_overdue(today: date, due_date: date | None, status: str) -> bool:
    """An issue is overdue when its due date has passed and nobody has resolved it."""
    return due_date is not None and due_date < today and status in ("open", "in_progress")
