"""A trend chart per analysis as server-rendered SVG: geometry here, markup in a template.

No JavaScript: the page carries the drawing and, beside it, a table with the same values
(the table is what a screen reader reads; the SVG has a title and a summary).

The drawing is scaled to the width it gets, so it is laid out for a phone: 300 units wide
with 12.5-unit text is at least 12 px on a 360 px screen, and the stylesheet keeps it from
growing past 26rem on a desktop. The unit label sits on its own line above the top tick.
"""

import math
from dataclasses import dataclass, field

from ep.domain.residents import Trend
from ep.web.formats import date_text, month_text, number_text

WIDTH = 300
HEIGHT = 200
LEFT, RIGHT, TOP, BOTTOM = 44, 14, 28, 30
UNIT_BASELINE = 13


@dataclass
class ChartPoint:
    x: float
    y: float
    outside: bool  # outside the reference range: drawn as a square, not only in colour
    label: str  # "1 mars 2025: 48 mmol/mol" for the tooltip <title>


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class Chart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    polyline: str
    points: list[ChartPoint]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    # the reference range as a band (top, height) when both limits are known
    band: tuple[float, float] | None = None
    ref_lines: list[float] = field(default_factory=list)
    unit_baseline: float = UNIT_BASELINE  # the unit's own line, above the top tick


def _nice_step(span: float, count: int = 4) -> float:
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _format_number(value: float) -> str:
    return number_text(f"{value:.2f}".rstrip("0").rstrip("."))


def trend_chart(trend: Trend, *, width: int = WIDTH, height: int = HEIGHT) -> Chart:
    """Lay out the chart for one analysis's values over time."""
    values = [p.value for p in trend.points]
    limits = [v for v in (trend.ref_low, trend.ref_high) if v is not None]
    low, high = min(values + limits), max(values + limits)
    if high == low:
        low, high = low - 1, high + 1
    step = _nice_step(high - low)
    low = math.floor(low / step) * step
    high = math.ceil(high / step) * step

    plot_left, plot_right = LEFT, width - RIGHT
    plot_top, plot_bottom = TOP, height - BOTTOM

    def y_of(value: float) -> float:
        return round(plot_bottom - (value - low) / (high - low) * (plot_bottom - plot_top), 1)

    times = [p.when.timestamp() for p in trend.points]
    first, last = min(times), max(times)

    def x_of(when: float) -> float:
        if last == first:
            return round((plot_left + plot_right) / 2, 1)
        return round(plot_left + (when - first) / (last - first) * (plot_right - plot_left), 1)

    points = []
    for point, when in zip(trend.points, times, strict=True):
        outside = (trend.ref_low is not None and point.value < trend.ref_low) or (
            trend.ref_high is not None and point.value > trend.ref_high
        )
        points.append(
            ChartPoint(
                x_of(when),
                y_of(point.value),
                outside,
                f"{date_text(point.when)}: {number_text(point.value_text)} {trend.unit or ''}",
            )
        )

    y_ticks = []
    tick = low
    while tick <= high + step / 1000:
        y_ticks.append(Tick(y_of(tick), _format_number(tick)))
        tick += step
    x_ticks = [Tick(x_of(first), month_text(trend.points[0].when))]
    if last != first:
        x_ticks.append(Tick(x_of(last), month_text(trend.points[-1].when)))

    band = None
    ref_lines = []
    if trend.ref_low is not None and trend.ref_high is not None:
        top = y_of(trend.ref_high)
        band = (top, round(y_of(trend.ref_low) - top, 1))
    else:
        ref_lines = [y_of(v) for v in limits]

    return Chart(
        width=width,
        height=height,
        plot_left=plot_left,
        plot_right=plot_right,
        plot_top=plot_top,
        plot_bottom=plot_bottom,
        polyline=" ".join(f"{p.x},{p.y}" for p in points),
        points=points,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        band=band,
        ref_lines=ref_lines,
    )
