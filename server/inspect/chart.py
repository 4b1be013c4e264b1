"""SVG drift chart for a :class:`~server.inspect.drift.DriftResult` (issue 6).

One self-contained SVG string: no scripts, no external fonts, stylesheets or images, so it can
be cached by the PWA, inlined in a page or attached to an e-mail. Made for a 360 px wide phone:
text of 13-15 px, dark text on white, lines of 2 px or more, and limits told apart by dash
pattern as well as colour (readable in greyscale and with colour-vision deficiency; the palette
is from Okabe & Ito's colour-blind-safe set, darkened for contrast on white).

Every piece of text that reaches the SVG goes through :func:`xml.sax.saxutils.escape`
(attributes additionally escape quotes), so a title like ``<script>`` is shown, never run.
Accessibility: ``role="img"``, an ``aria-label`` summing up the state, and ``<title>`` /
``<desc>`` elements (WAI-ARIA Graphics module, SVG 2 §5.9).

Elements carry classes so that the PWA can style them and tests can find them: ``point``,
``ewma``, ``center``, ``limit control upper|lower``, ``limit warning upper|lower``,
``marker alarm|warning``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

from server.inspect.drift import LEVEL_ALARM, ChartSeries, DriftResult

__all__ = ["render_drift_svg"]

_INK = "#111111"
_MUTED = "#555555"
_POINT = "#333333"
_EWMA = "#0047ab"  # blue
_CONTROL = "#b3001b"  # red
_WARNING = "#a35200"  # dark orange, 4.9:1 on white
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

_MARGIN_LEFT = 46
_MARGIN_RIGHT = 12
_MARGIN_TOP = 30
_MARGIN_BOTTOM = 38


def _attr(value: object) -> str:
    """Text safe inside a double-quoted attribute."""
    return escape(str(value), {'"': "&quot;", "'": "&#x27;"})


def _num(value: float) -> str:
    return f"{value:.1f}"


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:.0f}"


def _summary(result: DriftResult, chart: ChartSeries | None, title: str) -> str:
    n = len(result.levels)
    label = chart.label if chart is not None else "drift"
    parts = [f"{title}: {label} drift chart of {n} photo{'s' if n != 1 else ''}"]
    if result.status == "baseline":
        parts.append("collecting baseline photos, no limits yet")
    elif result.status == "no_data":
        parts.append("no measurements yet")
    elif result.active:
        worst = LEVEL_ALARM if LEVEL_ALARM in result.active.values() else "warning"
        parts.append(f"current state {worst}")
    else:
        parts.append("in control")
    if result.direction:
        parts.append(result.direction)
    alarms = sum(1 for s in result.signals if s.level == LEVEL_ALARM)
    if alarms:
        parts.append(f"{alarms} alarm{'s' if alarms != 1 else ''} raised")
    return ", ".join(parts)


def _plotted(series) -> tuple[list[float], list[float], list[tuple], list[float]]:
    """A chart's points, EWMA, limit lines (class, values, colour, dash) and every finite value drawn."""
    if series is None:
        return [], [], [], []
    values, ewma = list(series.values), list(series.ewma)
    limit_sets = [
        ("limit control upper", series.upper_control, _CONTROL, None),
        ("limit control lower", series.lower_control, _CONTROL, None),
        ("limit warning upper", series.upper_warning, _WARNING, "6 4"),
        ("limit warning lower", series.lower_warning, _WARNING, "6 4"),
    ]
    everything = _finite(values) + _finite(ewma)
    for _, line, _, _ in limit_sets:
        everything += _finite(line)
    if math.isfinite(series.center):
        everything.append(series.center)
    return values, ewma, limit_sets, everything


def render_drift_svg(
    result: DriftResult,
    *,
    title: str,
    width: int = 360,
    height: int = 220,
    chart: str | None = None,
) -> str:
    """SVG markup (UTF-8 text) of one drift chart.

    Draws the chart ``chart`` (default ``result.display_chart``: for colour the component
    furthest from its centre, e.g. ``"dL"``): one dot per measured photo, the EWMA as a line,
    the control limits (solid red, time-varying), the warning limits (dashed orange), the centre
    line (dotted grey), and a marker on the EWMA where a signal started (triangle for alarm,
    circle for warning, each with a ``<title>`` tooltip naming the rule and direction). x is the
    photo's position in production order (1-based), y the chart's unit. Photos that were not
    measured leave gaps. ``title`` is any text and is escaped.

    Raises KeyError if ``chart`` names no chart of ``result``, ValueError if the size is too
    small to draw (under 200 x 120).
    """
    if width < 200 or height < 120:
        raise ValueError("chart must be at least 200 x 120")
    series = result.chart(chart) if chart is not None else (
        result.chart(result.display_chart) if result.charts else None)
    summary = _summary(result, series, title)

    left, right = _MARGIN_LEFT, width - _MARGIN_RIGHT
    top, bottom = _MARGIN_TOP, height - _MARGIN_BOTTOM
    n = len(result.levels)

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_attr(summary)}" '
        f'font-family="{_attr(_FONT)}">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(summary)}</desc>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="20" font-size="15" font-weight="600" fill="{_INK}">'
        f"{escape(title)}</text>",
    ]

    values, ewma, limit_sets, everything = _plotted(series)

    # frame and axis titles
    out.append(
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
        f'fill="none" stroke="{_MUTED}" stroke-width="1"/>'
    )
    out.append(
        f'<text x="{(left + right) / 2:.1f}" y="{height - 6}" font-size="13" '
        f'text-anchor="middle" fill="{_INK}">photo, production order</text>'
    )
    y_label = series.label if series is not None else ""
    if series is not None and series.unit:
        y_label = f"{y_label} ({series.unit})"
    out.append(
        f'<text x="14" y="{(top + bottom) / 2:.1f}" font-size="13" text-anchor="middle" '
        f'fill="{_INK}" transform="rotate(-90 14 {(top + bottom) / 2:.1f})">'
        f"{escape(y_label)}</text>"
    )

    if not everything or n == 0:
        message = "No measurements yet" if result.status == "no_data" or n == 0 else "No data"
        out.append(
            f'<text class="message" x="{(left + right) / 2:.1f}" y="{(top + bottom) / 2:.1f}" '
            f'font-size="14" text-anchor="middle" fill="{_INK}">{escape(message)}</text>'
        )
        out.append("</svg>")
        return "".join(out)

    lo, hi = min(everything), max(everything)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.06 * (hi - lo)
    lo, hi = lo - pad, hi + pad

    def sx(i: int) -> float:
        return left + (right - left) * ((i + 0.5) / n)

    def sy(v: float) -> float:
        return bottom - (bottom - top) * ((v - lo) / (hi - lo))

    # y ticks: bottom, centre line value (if any), top
    ticks = [lo + pad, hi - pad]
    for tv in ticks:
        out.append(
            f'<text class="tick" x="{left - 4}" y="{sy(tv) + 4:.1f}" font-size="13" '
            f'text-anchor="end" fill="{_INK}">{escape(_fmt(tv))}</text>'
        )
    out.append(
        f'<text class="tick" x="{sx(0):.1f}" y="{bottom + 15}" font-size="13" '
        f'text-anchor="middle" fill="{_INK}">1</text>'
    )
    if n > 1:
        out.append(
            f'<text class="tick" x="{sx(n - 1):.1f}" y="{bottom + 15}" font-size="13" '
            f'text-anchor="middle" fill="{_INK}">{n}</text>'
        )

    if series is not None and math.isfinite(series.center):
        y = sy(series.center)
        out.append(
            f'<line class="center" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" '
            f'stroke="{_MUTED}" stroke-width="1.5" stroke-dasharray="2 3"/>'
        )

    def polyline(cls: str, line: Sequence[float], colour: str, dash: str | None,
                 stroke_width: float) -> None:
        pts = [f"{_num(sx(i))},{_num(sy(v))}" for i, v in enumerate(line) if math.isfinite(v)]
        if not pts:
            return
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline class="{cls}" points="{" ".join(pts)}" fill="none" '
            f'stroke="{colour}" stroke-width="{stroke_width}"{dash_attr}/>'
        )

    for cls, line, colour, dash in limit_sets:
        polyline(cls, line, colour, dash, 2)

    radius = 3.5 if n <= 60 else 2.5 if n <= 150 else 1.8
    for i, v in enumerate(values):
        if math.isfinite(v):
            out.append(
                f'<circle class="point" cx="{_num(sx(i))}" cy="{_num(sy(v))}" r="{radius}" '
                f'fill="{_POINT}"/>'
            )
    polyline("ewma", ewma, _EWMA, None, 2.5)

    for sig in result.signals:
        if not 0 <= sig.index < n:
            continue
        anchor = ewma[sig.index] if sig.index < len(ewma) else math.nan
        if not math.isfinite(anchor):
            anchor = values[sig.index] if sig.index < len(values) else math.nan
        if not math.isfinite(anchor):
            continue
        x, y = sx(sig.index), sy(anchor)
        words = f"{sig.level} ({sig.rule}) at photo {sig.index + 1}"
        if sig.direction:
            words += f": {sig.direction}"
        tip = f"<title>{escape(words)}</title>"
        if sig.level == LEVEL_ALARM:
            out.append(
                f'<path class="marker alarm" d="M{_num(x)},{_num(y - 8)} L{_num(x + 7)},'
                f'{_num(y + 5)} L{_num(x - 7)},{_num(y + 5)} Z" fill="{_CONTROL}" '
                f'stroke="#ffffff" stroke-width="1.5">{tip}</path>'
            )
        else:
            out.append(
                f'<circle class="marker warning" cx="{_num(x)}" cy="{_num(y)}" r="6" '
                f'fill="#ffffff" stroke="{_WARNING}" stroke-width="3">{tip}</circle>'
            )

    if result.status == "baseline":
        out.append(
            f'<text class="message" x="{right - 4}" y="{top + 16}" font-size="13" '
            f'text-anchor="end" fill="{_INK}">collecting baseline</text>'
        )
    elif result.direction:
        out.append(
            f'<text class="message" x="{right - 4}" y="{top + 16}" font-size="13" '
            f'text-anchor="end" fill="{_INK}">{escape(result.direction)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
