"""The delay forecast on constructed schedules whose right answer is known."""
from datetime import date, timedelta

from server.timeline.forecast import (IssueInput, MaterialInput, ScheduleInput, add_working_days, forecast,
                                      overdue_issue_alerts, recent_rate, working_weekdays)

DAY_X = date(2026, 3, 2)  # a Monday


def steady(days: int, units: int, end: date = DAY_X) -> dict[date, int]:
    """``days`` consecutive reports of ``units`` ending on ``end``."""
    return {end - timedelta(days=i): units for i in range(days)}


def schedule(**kw) -> ScheduleInput:
    base = dict(today=DAY_X, total_units=10_000, daily_units=steady(15, 400), planned_units_per_day=500,
                final_inspection_days=1, handling_days=2)
    base.update(kw)
    return ScheduleInput(**base)


def test_ten_thousand_units_at_400_a_day_with_6000_done_completes_in_ten_days():
    f = forecast(schedule())
    assert (f.produced_units, f.remaining_units, f.rate_units_per_day) == (6000, 4000, 400.0)
    assert f.completion_date == DAY_X + timedelta(days=10)


def test_no_alert_when_completion_plus_inspection_and_handling_meets_the_cutoff():
    f = forecast(schedule(cargo_cutoff=DAY_X + timedelta(days=13)))
    assert f.needed_by == DAY_X + timedelta(days=10)
    assert f.slack_days == 0
    assert f.alerts == ()


def test_alert_raised_before_the_cutoff_is_missed_when_one_day_short():
    f = forecast(schedule(cargo_cutoff=DAY_X + timedelta(days=12)))
    [alert] = f.alerts
    assert (alert.kind, alert.subject, alert.severity) == ("delay_risk", "production_completion", "high")
    assert alert.details["needed_for"] == "cargo_cutoff"
    assert DAY_X < f.needed_by  # raised while the deadline still lies ahead


def test_planned_ship_date_is_the_deadline_while_nothing_is_booked():
    on_track = forecast(schedule(planned_ship_date=DAY_X + timedelta(days=20)))
    late = forecast(schedule(planned_ship_date=DAY_X + timedelta(days=12)))
    assert on_track.alerts == ()
    assert [a.details["needed_for"] for a in late.alerts] == ["planned_ship_date"]


def test_alert_is_critical_once_the_needed_by_date_has_passed():
    f = forecast(schedule(cargo_cutoff=DAY_X + timedelta(days=2)))
    assert f.alerts[0].severity == "critical"


def test_median_rate_ignores_one_exceptional_day():
    days = steady(7, 400)
    days[DAY_X] = 4000
    assert recent_rate(days, DAY_X, frozenset(range(7))) == 400.0


def test_non_working_days_are_skipped_in_rate_and_completion():
    mon_to_fri = working_weekdays("01234")
    reports = {d: 400 for d in (DAY_X - timedelta(days=i) for i in range(21)) if d.weekday() in mon_to_fri}
    reports[DAY_X - timedelta(days=1)] = 50  # a little overtime on Sunday: counted as produced, not in the rate
    f = forecast(ScheduleInput(today=DAY_X, total_units=10_000, daily_units=reports, work_weekdays="01234"))
    assert f.rate_units_per_day == 400.0
    remaining = 10_000 - sum(reports.values())
    assert f.remaining_units == remaining
    # ceil(remaining / 400) working days after Monday DAY_X, weekends skipped
    assert f.completion_date == add_working_days(DAY_X, -(-remaining // 400), mon_to_fri)
    assert f.completion_date.weekday() in mon_to_fri


def test_planned_rate_is_used_before_any_progress_from_the_planned_start():
    start = DAY_X + timedelta(days=5)
    f = forecast(ScheduleInput(today=DAY_X, total_units=5000, daily_units={}, planned_units_per_day=500,
                               planned_start=start))
    assert f.rate_source == "planned"
    assert f.start_date == start
    assert f.completion_date == start + timedelta(days=9)  # 10 production days, the start day included


def test_stalled_production_gives_no_completion_and_a_critical_alert():
    days = steady(7, 0)
    days[DAY_X - timedelta(days=10)] = 1000
    f = forecast(schedule(daily_units=days, cargo_cutoff=DAY_X + timedelta(days=60)))
    assert f.completion_date is None
    assert [(a.subject, a.severity) for a in f.alerts] == [("production_stalled", "critical")]


def test_no_rate_and_no_plan_forecasts_nothing_without_alerting():
    f = forecast(ScheduleInput(today=DAY_X, total_units=100, daily_units={}))
    assert (f.completion_date, f.rate_source, f.alerts) == (None, "none", ())


def test_material_eta_after_production_start_raises_delay_risk():
    start = DAY_X + timedelta(days=10)
    f = forecast(ScheduleInput(today=DAY_X, total_units=1000, daily_units={}, planned_units_per_day=100,
                               planned_start=start,
                               materials=[MaterialInput("enamel frit", start + timedelta(days=3), supplier="X"),
                                          MaterialInput("steel blanks", start - timedelta(days=2))]))
    assert [(a.kind, a.subject) for a in f.alerts] == [("delay_risk", "material:enamel frit")]
    assert f.alerts[0].details["days_late"] == 3
    assert f.start_date == start + timedelta(days=3)  # production cannot start before the material is in


def test_received_material_raises_nothing():
    start = DAY_X + timedelta(days=10)
    f = forecast(ScheduleInput(today=DAY_X, total_units=1000, daily_units={}, planned_units_per_day=100,
                               planned_start=start,
                               materials=[MaterialInput("frit", start + timedelta(days=3), received=True)]))
    assert f.alerts == ()


def test_open_issue_delay_moves_the_forecast_and_can_raise_the_alert():
    cutoff = DAY_X + timedelta(days=13)
    assert forecast(schedule(cargo_cutoff=cutoff)).alerts == ()
    f = forecast(schedule(cargo_cutoff=cutoff, issue_delay_days=3))
    assert f.completion_date == DAY_X + timedelta(days=13)
    assert [a.subject for a in f.alerts] == ["production_completion"]


def test_finished_production_raises_no_delay_alert_even_past_the_deadline():
    f = forecast(schedule(daily_units=steady(25, 400), cargo_cutoff=DAY_X - timedelta(days=1)))
    assert f.remaining_units == 0
    assert f.completion_date == DAY_X
    assert f.alerts == ()


def test_overdue_issues_are_flagged_only_while_unresolved():
    issues = [IssueInput("a", "late", DAY_X - timedelta(days=1), "open"),
              IssueInput("b", "done", DAY_X - timedelta(days=1), "resolved"),
              IssueInput("c", "due today", DAY_X, "in_progress")]
    assert [a.subject for a in overdue_issue_alerts(DAY_X, issues)] == ["issue:a"]


def test_a_crawling_rate_is_clamped_to_the_horizon_and_alerts():
    f = forecast(schedule(daily_units=steady(7, 1, DAY_X), total_units=10_000_000,
                          cargo_cutoff=DAY_X + timedelta(days=30)))
    assert f.completion_date == DAY_X + timedelta(days=1500)
    assert [a.subject for a in f.alerts] == ["production_completion"]
