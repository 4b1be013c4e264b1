"""Drift charts: EWMA statistics, ARLs, detection delay, false alarms, rules, words, alerts.

Series are synthetic with fixed seeds, so every test is deterministic; the statistical
assertions are set against the chart's computed ARLs with margins that hold for the seeds
used and would still hold for most others.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.inspect.color import delta_e_cie2000
from server.inspect.drift import (
    D2_MOVING_RANGE,
    LEVEL_ALARM,
    RULE_EWMA,
    RULE_TREND,
    AlertPlan,
    DriftConfig,
    colour_direction_text,
    component_limit_width,
    dimension_direction_text,
    drift_config,
    estimate_sigma,
    evaluate_colour_series,
    evaluate_dimension_series,
    ewma,
    ewma_arl,
    ewma_limits,
    ewma_sigma_factor,
    reconcile_alerts,
    run_ends,
)

REF = np.array([52.0, 8.0, 18.0])  # a golden sample's CIELAB
KNOWN = {"sigma": 1.0, "center": 0.0}  # parameters known: the chart as designed


def _alarm_onsets(result):
    return [s for s in result.signals if s.rule == RULE_EWMA and s.level == LEVEL_ALARM]


def _first_alarm_at_or_after(result, start):
    for i in range(start, len(result.levels)):
        if result.levels[i] == LEVEL_ALARM:
            return i
    return None


# --------------------------------------------------------------------------- ewma and limits


def test_ewma_recursion_known_values():
    out = ewma([1.0, 1.0, 4.0], 0.5, start=0.0)
    np.testing.assert_allclose(out, [0.5, 0.75, 2.375])


def test_ewma_skips_nan_and_carries_over():
    out = ewma([2.0, math.nan, 2.0], 0.5, start=0.0)
    assert out[0] == 1.0 and math.isnan(out[1]) and out[2] == 1.5


def test_ewma_lambda_one_is_the_data():
    np.testing.assert_allclose(ewma([3.0, -1.0, 7.0], 1.0), [3.0, -1.0, 7.0])


@pytest.mark.parametrize("lam", [0.0, -0.1, 1.5])
def test_ewma_rejects_bad_lambda(lam):
    with pytest.raises(ValueError):
        ewma([1.0], lam)


def test_ewma_empty():
    assert ewma([], 0.2).shape == (0,)


def test_limits_follow_exact_time_varying_formula():
    lam, L, sigma = 0.2, 3.0, 2.0
    lower, upper = ewma_limits(4, sigma, lam, L, center=10.0)
    i = np.arange(1, 5)
    half = L * sigma * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i)))
    np.testing.assert_allclose(upper, 10.0 + half)
    np.testing.assert_allclose(lower, 10.0 - half)
    # first limit is L*sigma*lambda exactly; they widen towards the asymptote
    assert upper[0] - 10.0 == pytest.approx(L * sigma * lam)
    assert np.all(np.diff(upper) > 0)
    far = ewma_limits(200, sigma, lam, L)[1][-1]
    assert far == pytest.approx(L * sigma * math.sqrt(lam / (2 - lam)))


def test_limits_widen_for_an_estimated_centre():
    plain = ewma_limits(50, 1.0, 0.2, 3.0)[1]
    wide = ewma_limits(50, 1.0, 0.2, 3.0, center_points=30)[1]
    expected = 3.0 * np.sqrt(ewma_sigma_factor(50, 0.2) ** 2 + 1 / 30)
    np.testing.assert_allclose(wide, expected)
    assert np.all(wide > plain)


def test_estimate_sigma_is_mean_moving_range_over_d2():
    assert estimate_sigma([1.0, 3.0, 2.0, 2.0]) == pytest.approx((2 + 1 + 0) / 3 / D2_MOVING_RANGE)


def test_estimate_sigma_does_not_difference_across_segments():
    # a 100-unit jump between golden photos and batch photos must not enter a moving range
    pooled = estimate_sigma([[0.0, 1.0], [100.0, 101.0, 100.0]])
    assert pooled == pytest.approx(1.0 / D2_MOVING_RANGE)


def test_estimate_sigma_recovers_sigma_of_normal_noise():
    x = np.random.default_rng(7).normal(5.0, 2.0, 5000)
    assert estimate_sigma(x) == pytest.approx(2.0, rel=0.05)


def test_estimate_sigma_ignores_a_slow_drift_in_the_baseline():
    x = np.random.default_rng(8).normal(0.0, 1.0, 400) + np.linspace(0, 20, 400)
    assert estimate_sigma(x) == pytest.approx(1.0, rel=0.1)
    assert np.std(x) > 5  # the plain standard deviation would be ruined


def test_estimate_sigma_floor_nan_and_short_input():
    assert estimate_sigma([5.0, 5.0, 5.0], floor=0.1) == 0.1
    assert estimate_sigma([1.0, math.nan, 2.0]) == pytest.approx(1.0 / D2_MOVING_RANGE)
    assert math.isnan(estimate_sigma([1.0]))
    assert math.isnan(estimate_sigma([]))
    assert estimate_sigma([1.0], floor=0.2) == 0.2
    with pytest.raises(ValueError):
        estimate_sigma([1.0, 2.0], floor=-1)


# --------------------------------------------------------------------------- ARL


@pytest.mark.parametrize(
    ("lam", "L", "shift", "table"),
    [
        # Montgomery, Introduction to SQC, Table 9.11 (from Lucas & Saccucci 1990)
        (0.05, 2.615, 0.0, 500), (0.05, 2.615, 1.0, 11.4),
        (0.10, 2.814, 0.0, 500), (0.10, 2.814, 0.5, 31.3), (0.10, 2.814, 1.0, 10.3),
        (0.20, 2.962, 0.0, 500),
        (0.40, 3.054, 0.0, 500), (0.40, 3.054, 0.5, 71.2), (0.40, 3.054, 1.0, 14.3),
        (0.40, 3.054, 2.0, 3.5),
    ],
)
def test_ewma_arl_matches_published_table(lam, L, shift, table):
    assert ewma_arl(shift, lam, L) == pytest.approx(table, rel=0.01)


def test_ewma_arl_default_chart():
    # λ = 0.2, L = 3: about 560 in control, about 10.8 for a 1σ shift
    assert ewma_arl(0.0, 0.2, 3.0) == pytest.approx(560, rel=0.01)
    assert ewma_arl(1.0, 0.2, 3.0) == pytest.approx(10.8, rel=0.01)
    assert ewma_arl(-1.0, 0.2, 3.0) == pytest.approx(ewma_arl(1.0, 0.2, 3.0))


def test_ewma_arl_falls_with_shift_and_rises_with_width():
    arls = [ewma_arl(d, 0.2, 3.0) for d in (0.0, 0.5, 1.0, 2.0, 3.0)]
    assert arls == sorted(arls, reverse=True)
    assert ewma_arl(0.0, 0.2, 3.2) > ewma_arl(0.0, 0.2, 3.0)


def test_ewma_arl_rejects_bad_arguments():
    for args in ((0.0, 0.0, 3.0), (0.0, 0.2, 0.0)):
        with pytest.raises(ValueError):
            ewma_arl(*args)


def test_component_limit_width_keeps_family_in_control_arl():
    single = ewma_arl(0.0, 0.2, 3.0)
    width = component_limit_width(0.2, 3.0, 3)
    each = ewma_arl(0.0, 0.2, width)
    family_rate = 1 - (1 - 1 / each) ** 3
    assert family_rate == pytest.approx(1 / single, rel=1e-6)
    assert 3.2 < width < 3.5
    assert component_limit_width(0.2, 3.0, 1) == 3.0


# --------------------------------------------------------------------------- rules and words


def test_six_increasing_points_fire_on_the_sixth():
    x = [5.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]
    assert run_ends(x, 6).tolist() == [False] * 6 + [True, False]


def test_five_increasing_points_do_not_fire():
    assert not run_ends([1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 5.0], 6).any()


def test_ties_and_nan_break_a_run():
    assert not run_ends([1.0, 2.0, 3.0, 3.0, 4.0, 5.0, 6.0], 6).any()
    assert not run_ends([1.0, 2.0, 3.0, math.nan, 4.0, 5.0, 6.0, 7.0], 6).any()


def test_run_keeps_firing_while_it_continues():
    assert run_ends(np.arange(8.0), 6).tolist() == [False] * 5 + [True] * 3


def test_in_control_run_rate_is_one_in_720():
    x = np.random.default_rng(11).normal(size=200_000)
    assert run_ends(x, 6).mean() == pytest.approx(1 / 720, rel=0.15)


def test_delta_e_series_is_ciede2000_to_the_golden_sample():
    pts = REF + np.random.default_rng(2).normal(0.0, 1.0, (12, 3))
    res = evaluate_colour_series(pts, REF)
    np.testing.assert_allclose(res.delta_e, delta_e_cie2000(pts, REF))
    assert res.status == "baseline"  # 12 < 30 baseline photos: no charting yet


@pytest.mark.parametrize(
    ("shift", "z", "text"),
    [
        ((-1.0, 0.0, 1.0), (-4.0, 0.0, 4.0), "getting darker and yellower"),
        ((1.0, 0.0, 0.0), (4.0, 0.1, 0.1), "getting lighter"),
        ((0.0, 1.0, -1.0), (0.0, 3.0, -3.0), "getting redder and bluer"),
        ((0.0, -0.8, 0.0), (0.0, -3.0, 0.0), "getting greener"),
        ((-1.0, 1.0, 1.0), (-3.0, 3.0, 3.0), "getting darker, redder and yellower"),
    ],
)
def test_colour_direction_words(shift, z, text):
    assert colour_direction_text(shift, z, threshold=2.0) == text


def test_colour_direction_leaves_out_small_components():
    # b* is significant but four times smaller than the L* shift: only "darker"
    assert colour_direction_text((-2.0, 0.0, 0.5), (-5.0, 0.0, 3.0), threshold=2.0) == \
        "getting darker"
    # b* large but not significant: left out
    assert colour_direction_text((-2.0, 0.0, 1.5), (-5.0, 0.0, 1.0), threshold=2.0) == \
        "getting darker"


def test_colour_direction_empty_when_nothing_significant_or_nan():
    assert colour_direction_text((0.3, 0.3, 0.3), (1.0, 1.0, 1.0), threshold=2.0) == ""
    assert colour_direction_text((math.nan,) * 3, (math.nan,) * 3, threshold=2.0) == ""


def test_dimension_direction_words():
    assert dimension_direction_text(0.4, 3.0, threshold=2.0) == "getting longer"
    assert dimension_direction_text(-0.4, -3.0, threshold=2.0) == "getting shorter"
    assert dimension_direction_text(0.4, 1.0, threshold=2.0) == ""
    assert dimension_direction_text(0.4, 3.0, threshold=2.0, words=("wider", "narrower")) == \
        "getting wider"


# --------------------------------------------------------------------------- dimension charts


def test_levels_enter_and_leave_with_a_dead_band():
    # λ = 1 makes the EWMA the data and the factor 1, so z equals the values: L=3, W=2, R=1.
    x = [0.0, 2.5, 1.5, 2.5, 3.5, 2.5, 1.9, 1.5, 0.5, 2.2, 1.1, -3.1]
    res = evaluate_dimension_series(x, 0.0, {**KNOWN, "lam": 1.0, "trend_points": 10})
    assert res.levels == ("", "warning", "warning", "warning", "alarm", "alarm", "alarm",
                          "alarm", "", "warning", "warning", "alarm")
    assert [(s.index, s.level) for s in res.signals] == [
        (1, "warning"), (4, "alarm"), (9, "warning"), (11, "alarm")]
    assert res.active == {RULE_EWMA: LEVEL_ALARM}
    assert res.warning_width == pytest.approx(2.0) and res.resolve_width == pytest.approx(1.0)


def test_step_in_length_alarms_after_it_starts_and_says_longer():
    rng = np.random.default_rng(4)
    x = 120.0 + rng.normal(0.0, 0.2, 150)
    x[80:] += 0.2  # a 1σ step at index 80
    res = evaluate_dimension_series(x, 120.0)
    assert res.status == "ok"
    onsets = _alarm_onsets(res)
    assert onsets, "the step must be detected"
    assert all(s.index >= 80 for s in onsets), "no alarm before the step"
    assert onsets[0].index - 80 + 1 <= 40
    assert onsets[0].direction == "getting longer"
    assert res.active.get(RULE_EWMA) == LEVEL_ALARM
    assert res.direction == "getting longer"


def test_width_series_uses_its_own_words():
    rng = np.random.default_rng(5)
    x = 40.0 + rng.normal(0.0, 0.1, 100)
    x[50:] -= 0.3
    res = evaluate_dimension_series(x, 40.0, name="width", words=("wider", "narrower"))
    assert res.chart("width").unit == "mm"
    assert res.direction == "getting narrower"


@pytest.mark.parametrize("shift", [1.0, 2.0])
def test_detection_delay_over_seeded_runs_matches_the_arl(shift):
    # Known parameters, shift starting at point 50 (EWMA in steady state).
    start, n, runs = 50, 300, 300
    delays = []
    for seed in range(runs):
        x = np.random.default_rng(1000 + seed).normal(0.0, 1.0, n)
        x[start:] += shift
        first = _first_alarm_at_or_after(evaluate_dimension_series(x, 0.0, KNOWN), start)
        delays.append(n if first is None else first - start + 1)
    arl = ewma_arl(shift, 0.2, 3.0)
    # run lengths are right-skewed: the median is at most the mean (= ARL), up to rounding
    assert np.median(delays) <= math.ceil(arl)
    assert np.median(delays) >= 0.5 * arl
    assert np.mean(delays) == pytest.approx(arl, rel=0.15)


def test_in_control_500_points_fixed_seed_has_few_false_alarms():
    x = np.random.default_rng(42).normal(0.0, 1.0, 500)
    res = evaluate_dimension_series(x, 0.0, KNOWN)
    # ARL0 ≈ 560: expect about one alarm in 500 points
    assert len(_alarm_onsets(res)) <= 2


def test_in_control_false_alarm_rate_matches_design_over_many_series():
    n, runs = 500, 200
    alarms = sum(
        len(_alarm_onsets(evaluate_dimension_series(
            np.random.default_rng(5000 + seed).normal(0.0, 1.0, n), 0.0, KNOWN)))
        for seed in range(runs)
    )
    rate, arl0 = alarms / (n * runs), ewma_arl(0.0, 0.2, 3.0)
    assert 0.5 / arl0 <= rate <= 2.0 / arl0


def test_in_control_false_alarm_rate_with_estimated_parameters_stays_bounded():
    # σ and centre from the first 30 points (the default): within twice the design rate.
    n, runs = 500, 200
    alarms = sum(
        len(_alarm_onsets(evaluate_dimension_series(
            np.random.default_rng(9000 + seed).normal(10.0, 0.3, n), 0.0)))
        for seed in range(runs)
    )
    assert alarms / (n * runs) <= 2.0 / ewma_arl(0.0, 0.2, 3.0)


def test_dimension_trend_rule_sees_six_decreasing_points():
    x = [10.0, 10.1, 9.9, 10.0, 10.1, 9.9] * 6  # 36 in-control points
    x += [9.95, 9.9, 9.85, 9.8, 9.75, 9.7]
    res = evaluate_dimension_series(x, 10.0, {"sigma": 1.0})
    trend = [s for s in res.signals if s.rule == RULE_TREND]
    assert [s.index for s in trend] == [41]
    assert trend[0].level == LEVEL_ALARM
    assert trend[0].direction == "getting shorter"
    assert res.active == {RULE_TREND: LEVEL_ALARM}


def test_trend_alert_resolves_when_run_breaks_and_ewma_in_control():
    x = [10.0, 10.1, 9.9, 10.0, 10.1, 9.9] * 6 + [9.95, 9.9, 9.85, 9.8, 9.75, 9.7, 10.0]
    res = evaluate_dimension_series(x, 10.0, {"sigma": 1.0})
    assert res.active == {}


def test_process_back_in_control_resolves_the_alert():
    rng = np.random.default_rng(77)
    x = rng.normal(0.0, 1.0, 200)
    x[60:100] += 3.0
    res = evaluate_dimension_series(x, 0.0, KNOWN)
    assert any(s.index >= 60 for s in _alarm_onsets(res))
    assert res.active == {}
    assert res.levels[-1] == ""


def test_baseline_status_until_enough_points():
    res = evaluate_dimension_series([10.0, 10.2, 9.9], 10.0)
    assert res.status == "baseline" and res.signals == () and res.active == {}
    assert res.chart("length").values == pytest.approx((0.0, 0.2, -0.1))
    assert all(math.isnan(v) for v in res.chart("length").ewma)


def test_configured_sigma_and_centre_chart_from_the_first_point():
    res = evaluate_dimension_series([10.0, 12.0], 10.0, {"sigma": 0.1, "center": 0.0})
    assert res.status == "ok"
    assert res.levels[1] == LEVEL_ALARM


def test_empty_and_all_nan_series():
    for values in ([], [math.nan, math.nan]):
        res = evaluate_dimension_series(values, 10.0)
        assert res.status == "no_data" and res.signals == () and res.active == {}
        assert len(res.levels) == len(values)


def test_nan_points_are_skipped_and_indices_kept():
    rng = np.random.default_rng(3)
    x = list(rng.normal(0.0, 1.0, 40))
    with_gap = x[:10] + [math.nan] + x[10:]
    a = evaluate_dimension_series(x, 0.0, KNOWN)
    b = evaluate_dimension_series(with_gap, 0.0, KNOWN)
    chart_b = b.chart("length")
    assert len(chart_b.ewma) == 41 and math.isnan(chart_b.ewma[10])
    assert math.isnan(chart_b.upper_control[10])
    np.testing.assert_allclose(np.delete(np.array(chart_b.ewma), 10), a.chart("length").ewma)
    assert b.levels[10] == ""


def test_limits_in_result_are_centre_plus_width_times_half_width():
    x = np.random.default_rng(4).normal(5.0, 1.0, 60)
    res = evaluate_dimension_series(x, 0.0)
    ch = res.chart("length")
    lo, hi = ewma_limits(60, ch.sigma, 0.2, 3.0, ch.center, center_points=30)
    np.testing.assert_allclose(ch.upper_control, hi)
    np.testing.assert_allclose(ch.lower_control, lo)
    wlo, whi = ewma_limits(60, ch.sigma, 0.2, 2.0, ch.center, center_points=30)
    np.testing.assert_allclose(ch.upper_warning, whi)
    assert ch.center == pytest.approx(np.mean(x[:30]) )
    assert ch.sigma == pytest.approx(estimate_sigma(x[:30] - 0.0))


def test_sigma_floor_applies():
    res = evaluate_dimension_series([10.0] * 40, 10.0)
    assert res.chart("length").sigma == 0.05
    res = evaluate_dimension_series([10.0] * 40, 10.0, {"sigma_floor": 0.2})
    assert res.chart("length").sigma == 0.2


# --------------------------------------------------------------------------- colour charts


def _colour_noise(seed, n, sigma=0.4):
    return REF + np.random.default_rng(seed).normal(0.0, sigma, (n, 3))


def test_colour_result_shape():
    res = evaluate_colour_series(_colour_noise(1, 40), REF)
    assert res.kind == "colour" and res.status == "ok"
    assert [c.name for c in res.charts] == ["dL", "da", "db"]
    assert len(res.delta_e) == 40 and all(v >= 0 for v in res.delta_e)
    assert res.limit_width == pytest.approx(component_limit_width(0.2, 3.0, 3))
    assert res.warning_width == pytest.approx(2 / 3 * res.limit_width)
    np.testing.assert_allclose(res.chart("dL").values, _colour_noise(1, 40)[:, 0] - REF[0])


def test_colour_family_width_can_be_switched_off():
    res = evaluate_colour_series(_colour_noise(1, 40), REF, {"adjust_for_multiple_charts": False})
    assert res.limit_width == 3.0


def test_slow_darkening_alarms_after_it_starts_and_says_darker():
    pts = _colour_noise(2024, 160)
    pts[70:, 0] -= 0.02 * np.arange(1, 91)  # L* falls 0.02 per photo from photo 70
    res = evaluate_colour_series(pts, REF)
    onsets = _alarm_onsets(res)
    assert onsets and all(s.index >= 70 for s in onsets)
    assert onsets[0].chart == "dL"
    assert onsets[0].direction == "getting darker"
    assert res.display_chart == "dL"


def test_darker_and_yellower_step():
    pts = _colour_noise(99, 120)
    pts[60:, 0] -= 0.6
    pts[60:, 2] += 0.6
    res = evaluate_colour_series(pts, REF)
    onsets = _alarm_onsets(res)
    assert onsets and onsets[0].index >= 60
    assert res.direction == "getting darker and yellower"


def test_darkening_from_a_lighter_start_is_seen_although_delta_e_falls():
    # The batch starts 1.5 L* lighter than the golden sample, then darkens by 1.2:
    # ΔE00 to the golden sample *falls*, the ΔL* chart still alarms.
    pts = _colour_noise(8, 120, sigma=0.3)
    pts[:, 0] += 1.5
    pts[60:, 0] -= 1.2
    res = evaluate_colour_series(pts, REF)
    assert np.mean(res.delta_e[60:]) < np.mean(res.delta_e[:60])
    onsets = _alarm_onsets(res)
    assert onsets and onsets[0].index >= 60 and onsets[0].direction == "getting darker"


def test_colour_detection_delay_over_seeded_runs_matches_the_arl():
    start, n, runs, sigma = 50, 250, 200, 0.4
    delays = []
    for seed in range(runs):
        pts = _colour_noise(20_000 + seed, n, sigma)
        pts[start:, 0] -= sigma  # 1σ darker
        res = evaluate_colour_series(pts, REF, {"sigma": sigma, "center": 0.0})
        first = _first_alarm_at_or_after(res, start)
        delays.append(n if first is None else first - start + 1)
    arl = ewma_arl(1.0, 0.2, component_limit_width(0.2, 3.0, 3))
    assert np.median(delays) <= arl
    assert np.mean(delays) == pytest.approx(arl, rel=0.2)


def test_colour_in_control_false_alarm_rate_matches_single_chart_design():
    n, runs = 500, 100
    alarms = sum(
        len(_alarm_onsets(evaluate_colour_series(
            _colour_noise(30_000 + seed, n), REF, {"sigma": 0.4, "center": 0.0})))
        for seed in range(runs)
    )
    assert alarms / (n * runs) <= 2.0 / ewma_arl(0.0, 0.2, 3.0)


def test_colour_in_control_fixed_seed_500_points():
    res = evaluate_colour_series(_colour_noise(123, 500), REF)
    assert len(_alarm_onsets(res)) <= 2


def test_delta_e_rising_six_times_raises_trend_alarm():
    # σ configured large so the EWMA stays quiet; ΔE00 rises on photos 30..35.
    pts = np.tile(REF, (40, 1))
    pts[:30, 0] += np.tile([-0.1, 0.3], 15)
    pts[30:36, 0] -= np.array([0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    pts[36:, 0] -= 0.0
    res = evaluate_colour_series(pts, REF, {"sigma": 5.0})
    trend = [s for s in res.signals if s.rule == RULE_TREND]
    assert [s.index for s in trend] == [35]
    assert trend[0].direction == "moving away from the golden sample"
    assert RULE_TREND not in res.active  # run broken at 36, EWMA in control: resolved
    assert _alarm_onsets(res) == []


def test_five_rises_of_delta_e_do_not_trigger_trend():
    pts = np.tile(REF, (36, 1))
    pts[:30, 0] += np.tile([-0.1, 0.3], 15)
    pts[30:35, 0] -= np.array([0.2, 0.3, 0.4, 0.5, 0.6])
    res = evaluate_colour_series(pts, REF, {"sigma": 5.0})
    assert not any(s.rule == RULE_TREND for s in res.signals)


def test_golden_photos_join_the_sigma_estimate():
    pts = _colour_noise(5, 40)
    golden = _colour_noise(6, 10, sigma=0.2)
    res = evaluate_colour_series(pts, REF, golden_lab=golden)
    expected = estimate_sigma([golden[:, 0] - REF[0], pts[:30, 0] - REF[0]], floor=0.1)
    assert res.chart("dL").sigma == pytest.approx(expected)
    assert res.chart("dL").sigma != evaluate_colour_series(pts, REF).chart("dL").sigma


def test_colour_nan_rows_and_empty_input():
    pts = _colour_noise(9, 35)
    pts[3, 1] = math.nan
    res = evaluate_colour_series(pts, REF)
    assert res.status == "ok" and math.isnan(res.delta_e[3]) and math.isnan(res.chart("da").ewma[3])
    assert evaluate_colour_series([], REF).status == "no_data"
    assert evaluate_colour_series(np.empty((0, 3)), REF).status == "no_data"


def test_colour_per_component_sigma_and_centre():
    res = evaluate_colour_series(_colour_noise(1, 5), REF,
                                 {"sigma": [0.5, 0.3, 0.2], "center": (0.1, 0.0, -0.1)})
    assert [c.sigma for c in res.charts] == [0.5, 0.3, 0.2]
    assert [c.center for c in res.charts] == [0.1, 0.0, -0.1]


@pytest.mark.parametrize(
    ("points", "reference"),
    [([[1.0, 2.0]], REF), ([[50.0, 0.0, 0.0]], [50.0, 0.0]), ([[50.0, 0.0, 0.0]], [math.nan, 0, 0])],
)
def test_colour_rejects_bad_shapes(points, reference):
    with pytest.raises(ValueError):
        evaluate_colour_series(points, reference)


# --------------------------------------------------------------------------- config


def test_config_defaults():
    cfg = drift_config()
    assert (cfg.lam, cfg.limit_width, cfg.baseline_points, cfg.trend_points) == (0.2, 3.0, 30, 6)
    assert cfg.warning_fraction == pytest.approx(2 / 3)
    assert drift_config({"lam": 0.1}).lam == 0.1
    assert drift_config(DriftConfig(lam=0.3)).lam == 0.3


@pytest.mark.parametrize(
    "bad",
    [{"lamda": 0.2}, {"lam": 0}, {"lam": 1.2}, {"limit_width": -1}, {"warning_fraction": 1.0},
     {"resolve_fraction": 0}, {"baseline_points": 1}, {"baseline_points": 2.5},
     {"trend_points": 2}, {"sigma": 0}, {"sigma": [1.0, -1.0, 1.0]}, {"center": math.nan},
     {"direction_ratio": 2}, {"sigma_floor": -0.1}],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        drift_config(bad)


def test_wrong_number_of_sigmas_rejected():
    with pytest.raises(ValueError):
        evaluate_colour_series(_colour_noise(1, 5), REF, {"sigma": [1.0, 2.0]})


# --------------------------------------------------------------------------- reconcile


def test_reconcile_opens_keeps_and_resolves():
    plan = reconcile_alerts({"ewma": "alarm", "trend": "alarm"}, ["ewma", "old"])
    assert plan == AlertPlan(to_open=("trend",), to_keep=("ewma",), to_resolve=("old",))
    to_open, to_keep, to_resolve = plan
    assert to_open == ("trend",)


def test_reconcile_nothing_active_resolves_everything():
    assert reconcile_alerts({}, {"ewma", "trend"}) == AlertPlan((), (), ("ewma", "trend"))


def test_reconcile_never_reopens_an_open_rule():
    assert reconcile_alerts(["ewma"], ["ewma"]).to_open == ()


@given(st.sets(st.sampled_from(["ewma", "trend", "x"])), st.sets(st.sampled_from(["ewma", "trend", "x"])))
def test_reconcile_partitions_rules(now, opened):
    plan = reconcile_alerts(now, opened)
    assert set(plan.to_open) | set(plan.to_keep) == now
    assert set(plan.to_keep) | set(plan.to_resolve) == opened
    assert not set(plan.to_open) & set(plan.to_resolve)


def test_reconcile_over_a_series_opens_once_and_resolves_once():
    rng = np.random.default_rng(77)
    x = rng.normal(0.0, 1.0, 200)
    x[60:100] += 3.0
    opened: set[str] = set()
    history = []
    for end in range(1, 201):
        res = evaluate_dimension_series(x[:end], 0.0, KNOWN)
        plan = reconcile_alerts(res.active, opened)
        history.extend(("open", r) for r in plan.to_open)
        history.extend(("resolve", r) for r in plan.to_resolve)
        opened = (opened | set(plan.to_open)) - set(plan.to_resolve)
    ewma_events = [h for h in history if h[1] == RULE_EWMA]
    assert ewma_events[0] == ("open", RULE_EWMA)
    assert ewma_events[-1] == ("resolve", RULE_EWMA)
    assert opened == set()


@given(st.lists(st.floats(-5, 5), min_size=0, max_size=60))
def test_incremental_evaluation_agrees_with_full_series(values):
    # Evaluating the first k points gives the same per-point levels as the full series:
    # alerts never depend on photos that arrive later.
    full = evaluate_dimension_series(values, 0.0, KNOWN)
    k = len(values) // 2
    part = evaluate_dimension_series(values[:k], 0.0, KNOWN)
    assert part.levels == full.levels[:k]
