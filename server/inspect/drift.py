"""Colour and dimension drift per batch: EWMA control charts as pure functions.

Issue 6. For each batch and colour standard the photo analysis gives one measured CIELAB
colour per analysed photo, in production order. This module turns that series into ΔE00 to
the golden sample, ΔL*/Δa*/Δb*, EWMA control charts, signals (warning / alarm) and a
direction in words ("getting darker and yellower"). Dimensions measured from photos (length
or width deviation from nominal, mm) get the same treatment with "getting longer/shorter".
Nothing here touches the database or the clock: plain values in, small frozen dataclasses out.

Which statistic is charted (colour)
-----------------------------------
Three two-sided EWMA charts, one each on ΔL*, Δa*, Δb* (measured minus golden sample), and a
signal when any of them crosses. Not a one-sided chart of ΔE00, because ΔE00 is a *distance to
the golden sample*, which detects a slow darkening badly:

* it is folded: near its in-control mean a small shift in any direction changes E[ΔE00] only
  to second order (for noise σ per axis and a shift δ, E|X| grows like sqrt(μ² + δ²)), so a
  1σ darkening moves the ΔE00 mean by a fraction of its own standard deviation, while the ΔL*
  chart sees the full 1σ;
* if the batch started a little *lighter* than the golden sample, darkening first moves
  the colour *towards* the golden sample: ΔE00 falls, and a one-sided upper chart stays silent
  until the colour has crossed over;
* ΔE00 is skewed and bounded below by zero, so the normal-theory ARL tables do not apply,
  whereas the component deviations are close to normal and the Lucas & Saccucci ARLs hold;
* the component EWMAs are needed for the direction words anyway.

Three charts at limit width L each would alarm about three times as often in control, so each
component chart uses a wider limit ``L_c`` chosen so that the three together keep the
in-control ARL of one chart at the configured L (Šidák: the per-chart ARL0 is
``1 / (1 - (1 - 1/ARL0)^(1/3))``, solved for ``L_c`` with :func:`ewma_arl`; about 3.34 for
λ = 0.2, L = 3). ``adjust_for_multiple_charts=False`` turns this off.

The ΔE00 series is still computed and reported (it is what tolerances are written in), and the
"rises steadily" rule (``trend``: six ΔE00 values in a row strictly increasing, Nelson 1984
rule 3) runs on it.

Charts, limits, rules
---------------------
EWMA (Roberts 1959; Montgomery, *Introduction to Statistical Quality Control*, 8th ed., §9.2):
``z_i = λ x_i + (1 - λ) z_{i-1}``, ``z_0 = μ0`` (the centre). Exact time-varying limits::

    μ0 ± L σ sqrt(λ / (2 - λ) · (1 - (1 - λ)^(2i)))        i = 1, 2, ...

plus ``1/m`` under the root when μ0 is the mean of m baseline points (see below). The
*standardised* EWMA is ``(z_i - μ0)`` divided by that half-width over L; the chart's
state at each point comes from the largest absolute standardised EWMA over its charts:

=========  ===================================  ==========================================
level      enters when                          leaves when
=========  ===================================  ==========================================
warning    ``|z| >= W = warning_fraction · L``  ``|z| < R = resolve_fraction · W``
alarm      ``|z| >= L`` (control limit)         ``|z| < R`` (not on dropping below L)
=========  ===================================  ==========================================

With the defaults W = 2/3 · L (2.0 for L = 3, the classic "2-sigma" warning line) and
R = W / 2. Within an episode the level only rises; the episode ends, and its alert resolves,
when the EWMA is back within R. The gap between entering and leaving is a dead band: after a
real 1σ shift the EWMA sits right on the control limit (its mean is 3σ_z for λ = 0.2), and
without the band the alarm would flap on alternate photos.

The ``trend`` rule (level alarm) fires when the last ``trend_points`` charted values are
strictly increasing (colour: ΔE00; dimensions: the deviation, in either direction). In control
a run of six increasing points starts about once in 840 points (1/6! - 1/7!; once in 420
for the two-sided dimension rule). It stays active
until the run is broken *and* the EWMA rule is back to no level, i.e. the process is back in
control.

Sigma and centre
----------------
σ per chart is configured (``sigma``) or estimated from the moving ranges of the baseline:
the golden sample's photos (measured against its own reference) and the batch's first
``baseline_points`` valid photos, as separate segments, ``σ = mean(MR) / d2`` with d2 = 1.128
(Montgomery §6.4), never below ``sigma_floor``. The centre μ0 is configured (``center``) or the
mean of the batch's baseline photos: the chart watches for *change* from where the batch
started; whether the batch was on colour to begin with is the per-photo ΔE00 tolerance's job.
Until the baseline is complete (and neither is configured) the result has status
``"baseline"`` and raises nothing. Estimated limits from few points make in-control ARLs
shorter and more variable than the tables (Jones, Champ & Rigdon 2001, Technometrics 43).
Two counter-measures: an estimated centre widens the limits by its own standard error (see
:func:`ewma_limits`, ``center_points``), and the default baseline is 30 photos. Simulated
with λ = 0.2, L = 3, 500-point in-control series, the alarm rate is then about 1.3 times
the known-parameter design rate (about 5 times with 20 photos and no correction); configure
σ and the centre (e.g. from earlier batches of the same standard) to get the design rate.

Photos whose measurement failed (NaN in any component) are skipped: they are not charted, and
the EWMA carries over them; indices in results always refer to the input order.

ARLs (Lucas & Saccucci 1990, Technometrics 32(1), 1-12; Montgomery Table 9.11): λ = 0.2,
L = 3 has a zero-state in-control ARL of about 560 (L = 2.962 gives 500) and about 10.8 for a
1σ shift (10.5 at L = 2.962); each colour component chart at L_c = 3.34 needs about 14 points
for a 1σ shift. :func:`ewma_arl` computes
them from the integral equation (Crowder 1987, Technometrics 29(4)).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from server.inspect.color import delta_e_cie2000

__all__ = [
    "D2_MOVING_RANGE",
    "RULE_EWMA",
    "RULE_TREND",
    "LEVEL_WARNING",
    "LEVEL_ALARM",
    "DriftConfig",
    "ChartSeries",
    "Signal",
    "DriftResult",
    "AlertPlan",
    "drift_config",
    "ewma",
    "ewma_sigma_factor",
    "ewma_limits",
    "estimate_sigma",
    "ewma_arl",
    "component_limit_width",
    "run_ends",
    "colour_direction_text",
    "dimension_direction_text",
    "evaluate_colour_series",
    "evaluate_dimension_series",
    "reconcile_alerts",
]

#: d2 for moving ranges of two consecutive points (Montgomery, Appendix VI, n = 2).
D2_MOVING_RANGE = 1.128

RULE_EWMA = "ewma"
RULE_TREND = "trend"
LEVEL_WARNING = "warning"
LEVEL_ALARM = "alarm"
_LEVEL_RANK = {"": 0, LEVEL_WARNING: 1, LEVEL_ALARM: 2}

#: Default sigma floors: below these the photo measurement cannot resolve differences, and a
#: baseline of near-identical photos must not make the chart alarm on measurement noise.
_SIGMA_FLOOR_LAB = 0.1
_SIGMA_FLOOR_MM = 0.05

_COLOUR_CHARTS = (("dL", "ΔL*"), ("da", "Δa*"), ("db", "Δb*"))
#: (negative word, positive word) per Lab axis.
_COLOUR_WORDS = (("darker", "lighter"), ("greener", "redder"), ("bluer", "yellower"))


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class DriftConfig:
    """Drift chart settings; every field is also a key of the config mapping.

    ``sigma`` and ``center`` are scalars for dimensions, a scalar or three values
    (L*, a*, b*) for colour; ``None`` means estimate from the baseline. ``sigma_floor``
    ``None`` means 0.1 Lab units for colour, 0.05 mm for dimensions.
    """

    lam: float = 0.2
    limit_width: float = 3.0
    warning_fraction: float = 2.0 / 3.0
    resolve_fraction: float = 0.5
    baseline_points: int = 30
    sigma: float | tuple[float, ...] | None = None
    center: float | tuple[float, ...] | None = None
    sigma_floor: float | None = None
    trend_points: int = 6
    direction_ratio: float = 0.5
    adjust_for_multiple_charts: bool = True


def drift_config(config: Mapping[str, Any] | DriftConfig | None = None) -> DriftConfig:
    """Validated :class:`DriftConfig` from a mapping of overrides (or a config, or None).

    Raises ValueError naming unknown keys or out-of-range values.
    """
    if config is None:
        cfg = DriftConfig()
    elif isinstance(config, DriftConfig):
        cfg = config
    else:
        known = {f.name for f in fields(DriftConfig)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown drift config keys: {', '.join(map(str, unknown))}")
        values = dict(config)
        for key in ("sigma", "center"):
            if isinstance(values.get(key), (list, np.ndarray)):
                values[key] = tuple(float(v) for v in values[key])
        cfg = DriftConfig(**values)
    if not 0.0 < cfg.lam <= 1.0:
        raise ValueError("lam must be in (0, 1]")
    if not cfg.limit_width > 0.0:
        raise ValueError("limit_width must be > 0")
    if not 0.0 < cfg.warning_fraction < 1.0:
        raise ValueError("warning_fraction must be in (0, 1)")
    if not 0.0 < cfg.resolve_fraction < 1.0:
        raise ValueError("resolve_fraction must be in (0, 1)")
    if isinstance(cfg.baseline_points, bool) or not isinstance(cfg.baseline_points, int) \
            or cfg.baseline_points < 2:
        raise ValueError("baseline_points must be an int >= 2")
    if isinstance(cfg.trend_points, bool) or not isinstance(cfg.trend_points, int) \
            or cfg.trend_points < 3:
        raise ValueError("trend_points must be an int >= 3")
    if not 0.0 <= cfg.direction_ratio <= 1.0:
        raise ValueError("direction_ratio must be in [0, 1]")
    if cfg.sigma_floor is not None and not cfg.sigma_floor >= 0.0:
        raise ValueError("sigma_floor must be >= 0")
    if cfg.sigma is not None:
        sig = np.atleast_1d(np.asarray(cfg.sigma, dtype=float))
        if not np.all(np.isfinite(sig)) or np.any(sig <= 0):
            raise ValueError("sigma must be finite and > 0")
    if cfg.center is not None:
        if not np.all(np.isfinite(np.asarray(cfg.center, dtype=float))):
            raise ValueError("center must be finite")
    return cfg


# --------------------------------------------------------------------------- statistics


def ewma(values: Sequence[float] | np.ndarray, lam: float, start: float = 0.0) -> np.ndarray:
    """Exponentially weighted moving average ``z_i = λ x_i + (1 - λ) z_{i-1}``, ``z_0 = start``.

    ``values``: 1-D, any real unit; NaN entries are skipped (output NaN there, the average
    carries over them). Returns float64 of the same length. Raises ValueError for λ outside
    (0, 1] or non-1-D input. (Montgomery §9.2, eq. 9.22.)
    """
    if not 0.0 < lam <= 1.0:
        raise ValueError("lam must be in (0, 1]")
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError("values must be 1-D")
    out = np.full(x.shape, np.nan)
    z = float(start)
    for i, xi in enumerate(x):
        if math.isnan(xi):
            continue
        z = lam * xi + (1.0 - lam) * z
        out[i] = z
    return out


def ewma_sigma_factor(n: int, lam: float) -> np.ndarray:
    """``sqrt(λ/(2-λ) · (1 - (1-λ)^(2i)))`` for i = 1..n: the EWMA's standard deviation in units
    of the observations' σ after i points started at the centre (Montgomery eq. 9.25)."""
    if not 0.0 < lam <= 1.0:
        raise ValueError("lam must be in (0, 1]")
    i = np.arange(1, int(n) + 1, dtype=float)
    return np.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2.0 * i)))


def ewma_limits(
    n: int,
    sigma: float,
    lam: float,
    L: float,
    center: float = 0.0,
    *,
    center_points: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact time-varying EWMA limits ``center ± L σ sqrt(λ/(2-λ)(1-(1-λ)^(2i)))``, i = 1..n.

    Returns ``(lower, upper)``, each of length n, in the unit of ``sigma`` and ``center``.
    The limits widen towards the asymptote ``center ± L σ sqrt(λ/(2-λ))``.

    ``center_points``: when the centre is the mean of that many baseline points, its own
    error (variance σ²/m) adds to the EWMA's: the half-width becomes
    ``L σ sqrt(λ/(2-λ)(1-(1-λ)^(2i)) + 1/m)`` (prediction-interval form). Without it a
    20-point baseline makes in-control alarms about five times as frequent as designed,
    because a centre off by 0.22σ is 0.67 EWMA standard deviations. Raises ValueError for λ
    outside (0, 1], a negative n, σ < 0 or ``center_points < 1``.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if sigma < 0:
        raise ValueError("sigma must be >= 0")
    half = L * sigma * _limit_factor(n, lam, center_points)
    return center - half, center + half


def _limit_factor(n: int, lam: float, center_points: int | None) -> np.ndarray:
    factor = ewma_sigma_factor(n, lam)
    if center_points is None:
        return factor
    if center_points < 1:
        raise ValueError("center_points must be >= 1")
    return np.sqrt(factor * factor + 1.0 / center_points)


def _moving_ranges(segment: Any) -> np.ndarray:
    x = np.asarray(segment, dtype=float).ravel()
    x = x[np.isfinite(x)]
    return np.abs(np.diff(x))


def estimate_sigma(
    baseline_values: Sequence[float] | Sequence[Sequence[float]] | np.ndarray,
    *,
    floor: float = 0.0,
) -> float:
    """Short-term σ from the average moving range: ``σ = mean(|x_i - x_{i-1}|) / 1.128``.

    ``baseline_values``: a 1-D series, or a list of 1-D series (segments, e.g. the golden
    sample's photos and the batch's first photos) whose moving ranges are pooled without
    taking a range across a segment boundary. NaN values are dropped before differencing.
    The moving range is used rather than the sample standard deviation because it measures
    point-to-point noise and is not inflated by a slow drift already present in the baseline
    (Montgomery §6.4). Returns ``max(σ, floor)``; with fewer than two finite values in every
    segment returns ``floor`` if it is > 0, else NaN.
    """
    if floor < 0:
        raise ValueError("floor must be >= 0")
    if isinstance(baseline_values, np.ndarray) and baseline_values.ndim <= 1:
        segments: list[Any] = [baseline_values]
    else:
        items = list(baseline_values)
        if items and any(np.ndim(item) >= 1 for item in items):
            segments = items
        else:
            segments = [items]
    ranges = [_moving_ranges(seg) for seg in segments]
    pooled = np.concatenate(ranges) if ranges else np.empty(0)
    if pooled.size == 0:
        return float(floor) if floor > 0 else math.nan
    return max(float(pooled.mean()) / D2_MOVING_RANGE, float(floor))


def ewma_arl(shift: float, lam: float, L: float, *, nodes: int = 96) -> float:
    """Zero-state average run length of a two-sided EWMA chart with asymptotic limits.

    ``shift``: mean shift in units of the observations' σ (0 = in control). Solves the
    integral equation (Crowder 1987) for the ARL of a chart started at the centre, with
    standardised limits ``±h``, ``h = L sqrt(λ/(2-λ))``::

        ARL(u) = 1 + (1/λ) ∫_{-h}^{h} ARL(w) φ((w - (1-λ)u)/λ - shift) dw

    by Gauss-Legendre quadrature (Nyström method). Agrees with the Markov-chain values of
    Lucas & Saccucci (1990) and Montgomery's Table 9.11 to about 0.5 %. Charts in this module
    use the exact time-varying limits, which signal slightly earlier in the first points;
    beyond ~10 points the difference is negligible. Raises ValueError for λ outside (0, 1],
    L <= 0 or fewer than 8 nodes.
    """
    if not 0.0 < lam <= 1.0:
        raise ValueError("lam must be in (0, 1]")
    if not L > 0:
        raise ValueError("L must be > 0")
    if nodes < 8:
        raise ValueError("nodes must be >= 8")
    return _ewma_arl(shift, lam, L, *np.polynomial.legendre.leggauss(nodes))


def _ewma_arl(shift: float, lam: float, L: float, x01: np.ndarray, w01: np.ndarray) -> float:
    # Gauss-Legendre nodes on [-1, 1] are passed in: computing them dominates the cost.
    nodes = x01.size
    h = L * math.sqrt(lam / (2.0 - lam))
    x = x01 * h
    w = w01 * h

    def kernel(u: np.ndarray) -> np.ndarray:
        # rows: starting points u; columns: quadrature nodes.
        arg = (x[None, :] - (1.0 - lam) * u[:, None]) / lam - shift
        return w[None, :] / lam * np.exp(-0.5 * arg * arg) / math.sqrt(2.0 * math.pi)

    arl_nodes = np.linalg.solve(np.eye(nodes) - kernel(x), np.ones(nodes))
    return float(1.0 + (kernel(np.zeros(1)) @ arl_nodes)[0])


def component_limit_width(lam: float, L: float, charts: int) -> float:
    """Limit width for each of ``charts`` independent EWMA charts so that together they keep
    the in-control ARL of a single chart with width ``L``.

    Šidák-style on the per-point false-alarm rate 1/ARL0: each chart gets
    ``ARL0_c = 1 / (1 - (1 - 1/ARL0)^(1/charts))``, solved for its width by bisection on
    :func:`ewma_arl`. Returns L itself for one chart.
    """
    if charts < 1:
        raise ValueError("charts must be >= 1")
    if charts == 1:
        return float(L)
    if not 0.0 < lam <= 1.0 or not L > 0:
        raise ValueError("need 0 < lam <= 1 and L > 0")
    x01, w01 = np.polynomial.legendre.leggauss(96)

    def arl0(width: float) -> float:
        return _ewma_arl(0.0, lam, width, x01, w01)

    target_rate = 1.0 / arl0(L)
    target = 1.0 / (1.0 - (1.0 - target_rate) ** (1.0 / charts))
    lo, hi = float(L), float(L) + 0.5
    while arl0(hi) < target:
        lo, hi = hi, hi + 0.5
    for _ in range(30):  # 0.5 / 2**30: far below any meaningful precision
        mid = 0.5 * (lo + hi)
        if arl0(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def run_ends(values: Sequence[float] | np.ndarray, points: int = 6) -> np.ndarray:
    """Boolean mask: True at i when ``values[i-points+1 .. i]`` are strictly increasing.

    "Six points in a row steadily increasing" (Nelson 1984, rule 3; Montgomery §5.3.6) is
    ``points=6``: six points, five rises. For a decreasing run pass ``-values``. NaN breaks a
    run. For independent continuous data a run ending at a given point has probability
    ``1/points!``.
    """
    if points < 2:
        raise ValueError("points must be >= 2")
    x = np.asarray(values, dtype=float)
    out = np.zeros(x.shape, dtype=bool)
    rises = 0
    for i in range(1, x.size):
        rises = rises + 1 if x[i] > x[i - 1] else 0  # NaN compares False: breaks the run
        out[i] = rises >= points - 1
    return out


# --------------------------------------------------------------------------- direction words


def _join_words(words: Sequence[str]) -> str:
    if not words:
        return ""
    if len(words) == 1:
        return f"getting {words[0]}"
    return f"getting {', '.join(words[:-1])} and {words[-1]}"


def colour_direction_text(
    shift_lab: Sequence[float],
    z: Sequence[float],
    *,
    threshold: float,
    ratio: float = 0.5,
) -> str:
    """Direction of a colour drift in words, e.g. ``"getting darker and yellower"``.

    ``shift_lab``: EWMA minus centre for (ΔL*, Δa*, Δb*) in Lab units; ``z``: the same shifts
    standardised by each chart's EWMA σ. A component is named when it is statistically
    meaningful, ``|z| >= threshold`` (the evaluators pass the warning width), and perceptually
    meaningful relative to the others, ``|shift| >= ratio · max |shift|`` over the
    meaningful components (Lab units are roughly perceptually uniform). Words: L* down darker,
    up lighter; a* + redder, − greener; b* + yellower, − bluer. Returns ``""`` when nothing
    qualifies (NaN counts as not meaningful).
    """
    s = np.asarray(shift_lab, dtype=float)
    zz = np.asarray(z, dtype=float)
    meaningful = np.isfinite(s) & np.isfinite(zz) & (np.abs(zz) >= threshold) & (s != 0)
    if not meaningful.any():
        return ""
    biggest = float(np.max(np.abs(s[meaningful])))
    words = [
        _COLOUR_WORDS[k][1 if s[k] > 0 else 0]
        for k in range(3)
        if meaningful[k] and abs(s[k]) >= ratio * biggest
    ]
    return _join_words(words)


def dimension_direction_text(
    shift: float, z: float, *, threshold: float, words: tuple[str, str] = ("longer", "shorter")
) -> str:
    """``"getting longer"`` / ``"getting shorter"`` (or the given ``(positive, negative)``
    words) when ``|z| >= threshold``, else ``""``."""
    if not (math.isfinite(shift) and math.isfinite(z)) or abs(z) < threshold or shift == 0:
        return ""
    return _join_words([words[0] if shift > 0 else words[1]])


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ChartSeries:
    """One EWMA chart, per input point (NaN where the point was skipped or not charted).

    ``values`` are the charted observations; ``z`` is the standardised EWMA
    ``(ewma - center) / (sigma · factor)``, factor as in :func:`ewma_limits` (with the
    centre's standard error when the centre was estimated).
    """

    name: str
    label: str
    unit: str
    center: float
    sigma: float
    values: tuple[float, ...]
    ewma: tuple[float, ...]
    z: tuple[float, ...]
    lower_control: tuple[float, ...]
    upper_control: tuple[float, ...]
    lower_warning: tuple[float, ...]
    upper_warning: tuple[float, ...]


@dataclass(frozen=True)
class Signal:
    """A rule entering a level at input index ``index`` (``level`` 'warning' or 'alarm')."""

    index: int
    rule: str
    level: str
    chart: str
    direction: str


@dataclass(frozen=True)
class DriftResult:
    """Outcome of evaluating one series.

    ``status``: ``"ok"`` (charted), ``"baseline"`` (collecting baseline photos; no signals) or
    ``"no_data"``. ``levels``: the EWMA rule's level per input point (``""``, ``"warning"``,
    ``"alarm"``). ``signals``: onsets, in order. ``active``: rule -> level at the last point,
    i.e. the alerts that should be open now (input to :func:`reconcile_alerts`).
    ``direction``: words for the EWMA at the last point. ``display_chart``: the chart to draw
    (the one furthest from its centre at the end). ``delta_e``: ΔE00 to the golden sample per
    point (colour only).
    """

    kind: str
    status: str
    lam: float
    limit_width: float
    warning_width: float
    resolve_width: float
    charts: tuple[ChartSeries, ...]
    levels: tuple[str, ...]
    signals: tuple[Signal, ...]
    active: Mapping[str, str]
    direction: str
    display_chart: str
    delta_e: tuple[float, ...] = ()

    def chart(self, name: str) -> ChartSeries:
        """The chart called ``name``; raises KeyError if there is none."""
        for series in self.charts:
            if series.name == name:
                return series
        raise KeyError(name)


class AlertPlan(NamedTuple):
    """Which alert rules to open, keep open and resolve (sorted rule names)."""

    to_open: tuple[str, ...]
    to_keep: tuple[str, ...]
    to_resolve: tuple[str, ...]


def reconcile_alerts(signals_now: Iterable[str], open_rules: Iterable[str]) -> AlertPlan:
    """Plan alert changes for one (batch, standard) from the rules active now.

    ``signals_now``: rule names active at the latest point (``DriftResult.active``; a mapping
    iterates its rule names); ``open_rules``: rules with an open alert. At most one alert per
    rule: a rule active now and already open is kept (the caller updates its level from
    ``active``), active and not open is opened, open and no longer active is resolved —
    ``active`` already applies the dead band, so resolving means back in control.
    """
    now = set(signals_now)
    opened = set(open_rules)
    return AlertPlan(
        to_open=tuple(sorted(now - opened)),
        to_keep=tuple(sorted(now & opened)),
        to_resolve=tuple(sorted(opened - now)),
    )


# --------------------------------------------------------------------------- evaluation


def _per_component(value: Any, k: int, name: str) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.size == 1:
        return np.repeat(arr, k)
    if arr.size != k:
        raise ValueError(f"{name} must be a scalar or {k} values")
    return arr


def _tuple(a: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in a)


@dataclass(frozen=True)
class _Engine:
    """Shared charting over k components (internal)."""

    cfg: DriftConfig
    width: float

    @property
    def warning(self) -> float:
        return self.cfg.warning_fraction * self.width

    @property
    def resolve(self) -> float:
        return self.cfg.resolve_fraction * self.warning


def _empty_charts(names, unit, n, values):
    nan = (math.nan,) * n
    return tuple(
        ChartSeries(name, label, unit, math.nan, math.nan, _tuple(values[:, k]), nan, nan,
                    nan, nan, nan, nan)
        for k, (name, label) in enumerate(names)
    )


def _evaluate(
    *,
    kind: str,
    data: np.ndarray,
    names: Sequence[tuple[str, str]],
    unit: str,
    cfg: DriftConfig,
    extra_segments: Sequence[np.ndarray],
    floor: float,
    trend_values: np.ndarray,
    trend_two_sided: bool,
    direction_fn,
    trend_fallback,
    delta_e: tuple[float, ...] = (),
) -> DriftResult:
    n, k = data.shape
    valid = np.all(np.isfinite(data), axis=1)
    valid_idx = np.flatnonzero(valid)
    width = cfg.limit_width
    if k > 1 and cfg.adjust_for_multiple_charts:
        width = component_limit_width(cfg.lam, cfg.limit_width, k)
    eng = _Engine(cfg, width)

    def result(status, charts, levels=None, signals=(), active=None, direction="",
               display=names[0][0]):
        return DriftResult(
            kind=kind, status=status, lam=cfg.lam, limit_width=width,
            warning_width=eng.warning, resolve_width=eng.resolve, charts=charts,
            levels=levels if levels is not None else ("",) * n, signals=tuple(signals),
            active=dict(active or {}), direction=direction, display_chart=display,
            delta_e=delta_e,
        )

    if valid_idx.size == 0:
        return result("no_data", _empty_charts(names, unit, n, data))

    baseline = data[valid_idx[: cfg.baseline_points]]
    have_baseline = valid_idx.size >= cfg.baseline_points
    center = _per_component(cfg.center, k, "center")
    sigma = _per_component(cfg.sigma, k, "sigma")
    if (center is None or sigma is None) and not have_baseline:
        return result("baseline", _empty_charts(names, unit, n, data))
    center_points = None
    if center is None:
        center = baseline.mean(axis=0)
        center_points = baseline.shape[0]
    if sigma is None:
        sigma = np.array([
            estimate_sigma([*(seg[:, j] for seg in extra_segments), baseline[:, j]], floor=floor)
            for j in range(k)
        ])

    # EWMA over the valid points only; factor index i counts charted points.
    x = data[valid_idx]
    m = x.shape[0]
    z_raw = np.empty_like(x)
    for j in range(k):
        z_raw[:, j] = ewma(x[:, j], cfg.lam, start=center[j])
    factor = _limit_factor(m, cfg.lam, center_points)
    half = factor[:, None] * sigma[None, :]
    zs = (z_raw - center[None, :]) / half
    worst = np.max(np.abs(zs), axis=1)

    run_up = run_ends(trend_values[valid_idx], cfg.trend_points)
    run_down = run_ends(-trend_values[valid_idx], cfg.trend_points) if trend_two_sided \
        else np.zeros(m, dtype=bool)

    levels = [""] * n
    signals: list[Signal] = []
    level = ""
    trend = False
    chart_names = [nm for nm, _ in names]

    def direction_at(j: int) -> str:
        return direction_fn(z_raw[j] - center, zs[j], eng.warning)

    for j in range(m):
        i = int(valid_idx[j])
        w_j = float(worst[j])
        # Levels only rise within an episode; it ends when |z| falls below the resolve width.
        if w_j >= eng.width or (level == LEVEL_ALARM and w_j >= eng.resolve):
            new = LEVEL_ALARM
        elif w_j >= eng.warning or (level and w_j >= eng.resolve):
            new = LEVEL_WARNING
        else:
            new = ""
        if _LEVEL_RANK[new] > _LEVEL_RANK[level]:
            chart = chart_names[int(np.argmax(np.abs(zs[j])))]
            signals.append(Signal(i, RULE_EWMA, new, chart, direction_at(j)))
        level = new
        levels[i] = level
        fired = bool(run_up[j] or run_down[j])
        if fired and not trend:
            text = direction_at(j) or trend_fallback(bool(run_up[j]))
            signals.append(Signal(i, RULE_TREND, LEVEL_ALARM, "trend", text))
            trend = True
        elif trend and not fired and not level:
            trend = False

    active: dict[str, str] = {}
    if level:
        active[RULE_EWMA] = level
    if trend:
        active[RULE_TREND] = LEVEL_ALARM

    def spread(col: np.ndarray) -> tuple[float, ...]:
        out = np.full(n, np.nan)
        out[valid_idx] = col
        return _tuple(out)

    charts = []
    for j, (name, label) in enumerate(names):
        ctl = eng.width * half[:, j]
        wrn = eng.warning * half[:, j]
        charts.append(ChartSeries(
            name=name, label=label, unit=unit, center=float(center[j]), sigma=float(sigma[j]),
            values=_tuple(data[:, j]), ewma=spread(z_raw[:, j]), z=spread(zs[:, j]),
            lower_control=spread(center[j] - ctl), upper_control=spread(center[j] + ctl),
            lower_warning=spread(center[j] - wrn), upper_warning=spread(center[j] + wrn),
        ))
    display = chart_names[int(np.argmax(np.abs(zs[-1])))]
    direction = direction_at(m - 1)
    if not direction and trend:
        direction = trend_fallback(bool(run_up[-1]) or not trend_two_sided)
    return result("ok", tuple(charts), tuple(levels), signals, active, direction, display)


def _lab_array(points: Any, name: str) -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.size == 0:
        return np.empty((0, 3))
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3): L*, a*, b*")
    return arr


def evaluate_colour_series(
    points: Sequence[Sequence[float]] | np.ndarray,
    reference_lab: Sequence[float],
    config: Mapping[str, Any] | DriftConfig | None = None,
    *,
    golden_lab: Sequence[Sequence[float]] | np.ndarray | None = None,
) -> DriftResult:
    """Drift of one batch's colour against one colour standard.

    ``points``: measured CIELAB (L*, a*, b*) per analysed photo in production order, shape
    (n, 3), same illuminant/observer as ``reference_lab`` (the golden sample's approved
    value, shape (3,)). Rows with NaN (failed measurements) are skipped. ``golden_lab``:
    optional measurements of the golden sample itself from photos, shape (m, 3); their moving
    ranges join the σ estimate. ``config``: mapping of :class:`DriftConfig` keys.

    Charts ΔL*, Δa*, Δb* (measured − reference) as three two-sided EWMA charts with the
    family-wise limit width (see the module docstring for why not ΔE00), plus the trend rule
    on ΔE00. Returns a :class:`DriftResult` with charts ``dL``, ``da``, ``db`` and
    ``delta_e``. Raises ValueError for bad shapes or config.
    """
    cfg = drift_config(config)
    ref = np.asarray(reference_lab, dtype=float)
    if ref.shape != (3,) or not np.all(np.isfinite(ref)):
        raise ValueError("reference_lab must be three finite numbers")
    lab = _lab_array(points, "points")
    delta = lab - ref[None, :]
    de = delta_e_cie2000(lab, ref[None, :]) if lab.shape[0] else np.empty(0)
    segments = []
    if golden_lab is not None:
        g = _lab_array(golden_lab, "golden_lab")
        segments.append(g[np.all(np.isfinite(g), axis=1)] - ref[None, :])
    floor = _SIGMA_FLOOR_LAB if cfg.sigma_floor is None else cfg.sigma_floor

    def direction(shift, z, threshold):
        return colour_direction_text(shift, z, threshold=threshold, ratio=cfg.direction_ratio)

    return _evaluate(
        kind="colour", data=delta, names=_COLOUR_CHARTS, unit="", cfg=cfg,
        extra_segments=segments, floor=floor, trend_values=de, trend_two_sided=False,
        direction_fn=direction,
        trend_fallback=lambda up: "moving away from the golden sample",
        delta_e=_tuple(de),
    )


def evaluate_dimension_series(
    values_mm: Sequence[float] | np.ndarray,
    nominal_mm: float = 0.0,
    config: Mapping[str, Any] | DriftConfig | None = None,
    *,
    name: str = "length",
    words: tuple[str, str] = ("longer", "shorter"),
) -> DriftResult:
    """Drift of a dimension measured from photos (mm), e.g. length or width.

    ``values_mm``: measured size per photo in production order (NaN = not measured);
    ``nominal_mm``: the spec's nominal size (pass 0 if the values are already deviations).
    Charts the deviation ``value - nominal`` with one two-sided EWMA chart (limit width as
    configured); the trend rule looks for six increasing *or* six decreasing deviations.
    ``words``: (positive, negative) direction words, e.g. ``("wider", "narrower")``.
    Returns a :class:`DriftResult` with one chart called ``name`` (unit ``mm``).
    """
    cfg = drift_config(config)
    if not math.isfinite(nominal_mm):
        raise ValueError("nominal_mm must be finite")
    x = np.asarray(values_mm, dtype=float).ravel() if np.size(values_mm) else np.empty(0)
    dev = (x - float(nominal_mm))[:, None]
    floor = _SIGMA_FLOOR_MM if cfg.sigma_floor is None else cfg.sigma_floor
    label = f"{name} deviation"

    def direction(shift, z, threshold):
        return dimension_direction_text(float(shift[0]), float(z[0]), threshold=threshold,
                                        words=words)

    return _evaluate(
        kind="dimension", data=dev, names=((name, label),), unit="mm", cfg=cfg,
        extra_segments=(), floor=floor, trend_values=dev[:, 0], trend_two_sided=True,
        direction_fn=direction,
        trend_fallback=lambda up: _join_words([words[0] if up else words[1]]),
    )
