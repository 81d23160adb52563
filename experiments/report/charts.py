"""The report's two charts, drawn as base64 PNGs with matplotlib's Agg canvas: the forest
plot of every comparison's lift and the cumulative value per variant over time.

No pyplot, so no global figure state is shared between calls or threads. Each chart comes with
a description in words, read back from what was drawn, for its alt text: a screen reader (and
a test) reads what the picture shows."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from matplotlib.transforms import blended_transform_factory

from experiments._reading import mapping as _map
from experiments._reading import mappings as _maps
from experiments._reading import number as _num
from experiments._reading import pair as _pair
from experiments._reading import text as _text
from experiments.report.formatting import (
    day_label,
    instant,
    is_rate,
    level,
    metric_label,
    moment_label,
    pct,
)
from experiments.report.verdicts import is_significant

GREEN: Final = "#1a7f37"
RED: Final = "#cf222e"
GREY: Final = "#6e7781"
_PALETTE: Final = (
    "#0969da",
    "#bf3989",
    "#1a7f37",
    "#9a6700",
    "#8250df",
    "#cf222e",
    "#1b7c83",
    "#57606a",
)


def _png(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _chart_text(value: object) -> str:
    # Matplotlib reads $...$ as mathtext; user-typed names must be drawn literally.
    return _text(value).replace("$", r"\$")


def variant_colours(order: Iterable[str]) -> dict[str, str]:
    """Each variant in the colour of its place in ``order``, the same in every chart."""
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(order)}


ForestRow = tuple[str, str, float | None, float | None, float | None, str, bool]
"""(scope, variant, lift, low, high, colour, significant after adjustment) of one comparison."""


def _interval_colour(low: float | None, high: float | None) -> str:
    """The colour of a bar, read off the bar itself: a bar wholly right of zero is green and
    one wholly left of it red, whatever another p-value says, so what is drawn is what is
    coloured."""
    if low is None or high is None:
        return GREY
    if low > 0.0:
        return GREEN
    if high < 0.0:
        return RED
    return GREY


def forest_rows(
    results: Mapping[str, Any], alpha: float, holdouts: frozenset[str]
) -> list[ForestRow]:
    """(scope, variant, lift, low, high, colour, significant after adjustment) per comparison,
    all customers first; holdouts are the programme's baseline, not competitors, so they are
    left out."""
    scopes: list[tuple[str, Mapping[str, Any]]] = [("All customers", _map(results.get("overall")))]
    scopes += [(_text(s.get("segment")), s) for s in _maps(results.get("segments"))]
    rows: list[ForestRow] = []
    for name, scope in scopes:
        for comparison in _maps(scope.get("comparisons")):
            variant = _text(comparison.get("variant"))
            if variant in holdouts:
                continue
            lift = _num(comparison.get("relative_lift"))
            low, high = _pair(comparison.get("relative_ci"))
            confirmed = bool(is_significant(comparison, alpha))
            colour = _interval_colour(low, high)
            rows.append((name, variant, lift, low, high, colour, confirmed))
    return rows


_COLOUR_WORDS: Final[Mapping[str, str]] = {
    GREEN: "green, interval above zero",
    RED: "red, interval below zero",
    GREY: "grey, interval includes zero",
}


def forest_description(rows: Sequence[ForestRow], alpha: float) -> str:
    """The plot in words, for its alt text: a screen reader (or a test) reads what is drawn."""
    parts = []
    for scope, variant, lift, low, high, colour, confirmed in rows:
        interval = f" [{pct(low)}, {pct(high)}]" if low is not None and high is not None else ""
        adjusted = "significant" if confirmed else "not significant"
        parts.append(
            f"{scope} \u00b7 {variant}: {pct(lift, signed=True)}{interval}, "
            f"{_COLOUR_WORDS[colour]}, {adjusted} after correction"
        )
    return (
        f"Relative lift over control with unadjusted {level(alpha)} interval. "
        + "; ".join(parts)
        + "."
    )


def _draw_forest_row(ax: Axes, y: int, row: ForestRow) -> None:
    """One comparison's bar, dot and printed lift at height ``y``."""
    _scope, _variant, lift, low, high, colour, confirmed = row
    if low is not None and high is not None:
        ax.plot([low, high], [y, y], color=colour, linewidth=2.4, solid_capstyle="round")
    if lift is not None:
        # Hollow: the bar may clear zero, but not after the multiple-testing correction.
        ax.plot(
            [lift],
            [y],
            "o",
            color=colour,
            markerfacecolor=colour if confirmed else "white",
            markeredgewidth=1.8,
            markersize=7,
            zorder=3,
        )
    label = "no estimate" if lift is None else pct(lift, signed=True)
    if low is not None and high is not None:
        label += f"  [{pct(low)}, {pct(high)}]"
    ax.text(
        1.01,
        y,
        label,
        transform=blended_transform_factory(ax.transAxes, ax.transData),
        va="center",
        fontsize=9,
        color=colour if lift is not None else GREY,
    )


def forest_plot(rows: Sequence[ForestRow], alpha: float) -> str:
    """Every comparison as a bar on one shared lift axis, scopes shaded in alternate bands."""
    height = 1.3 + 0.36 * len(rows)
    figure = Figure(figsize=(10.5, height), dpi=110, layout="constrained")
    ax = figure.add_subplot()
    positions = list(range(len(rows)))[::-1]
    scope_index = 0
    previous = None
    for y, row in zip(positions, rows, strict=True):
        if row[0] != previous:
            scope_index += 1
            previous = row[0]
        if scope_index % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="#f6f8fa", zorder=0)
        _draw_forest_row(ax, y, row)
    ax.axvline(0.0, color="#24292f", linewidth=1, linestyle="--", zorder=1)
    ax.set_yticks(
        positions,
        [_chart_text(f"{scope}  \u00b7  {variant}") for scope, variant, *_ in rows],
        fontsize=9,
    )
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(
        f"Relative lift over control, with unadjusted {level(alpha)} interval "
        "(green: interval above zero, red: below zero, grey: includes zero; "
        "filled dot: significant after correction)",
        fontsize=9,
    )
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#d0d7de", linewidth=0.6)
    return _png(figure)


_HOUR: Final = timedelta(hours=1)
_DAY: Final = timedelta(days=1)
# Shorter than this, a day axis would show one or two ticks: hours since the start instead.
_HOURS_AXIS_BELOW: Final = timedelta(days=2)


def time_window(
    experiment: Mapping[str, Any], days: Sequence[date], now: datetime
) -> tuple[datetime, datetime] | None:
    """When the experiment's data begins and ends: started_at (else the first day's midnight)
    to stopped_at (else now). Every point of the chart lies inside it."""
    start = instant(experiment.get("started_at"))
    if start is None and days:
        start = datetime.combine(min(days), time(), UTC)
    if start is None:
        return None
    end = instant(experiment.get("stopped_at")) or now
    return start, max(start, end)


def _ticks(low: float, high: float, steps: Sequence[float]) -> list[float]:
    """Round positions inside [low, high], at most eight: ticks never leave the data's range."""
    span = high - low
    step = next((s for s in steps if span / s <= 8), steps[-1])
    first = math.ceil(low - 1e-9)  # the first whole hour or midnight, then every step
    count = math.floor((high - first) / step + 1e-9) + 1
    return [first + i * step for i in range(max(0, count))]


def _daily_series(daily: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[date, float]]]:
    """(day, cumulative value) per variant, in day order; points without a date or a finite
    value are skipped, not drawn at zero."""
    series: dict[str, list[tuple[date, float]]] = {}
    for point in daily:
        value = _num(point.get("value"))
        try:
            day = date.fromisoformat(_text(point.get("day"))[:10])
        except ValueError:
            continue
        if value is not None:
            series.setdefault(_text(point.get("variant")), []).append((day, value))
    for points in series.values():
        points.sort()
    return series


def _time_axis(ax: Axes, start: datetime, end: datetime, hours: bool) -> None:
    """Hours since the start for a short window, else dates with their year, ticked at round
    hours or midnights inside the window."""
    if hours:
        length = max((end - start) / _HOUR, 1.0)
        ax.set_xlim(0.0, length)
        ax.set_xticks(_ticks(0.0, length, (1, 2, 3, 4, 6, 12)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g} h"))
        ax.set_xlabel(_chart_text(f"Hours since the start ({moment_label(start)})"), fontsize=9)
        return
    length = (end - start) / _DAY
    midnight = datetime.combine(start.date(), time(), UTC)
    offset = (midnight - start) / _DAY  # ticks at midnights, in days since the start
    ax.set_xlim(0.0, length)
    ax.set_xticks(
        [offset + t for t in _ticks(-offset, length - offset, (1, 2, 7, 14, 28, 91, 182, 365, 730))]
    )
    ax.xaxis.set_major_formatter(
        FuncFormatter(
            lambda v, _pos: day_label(start.date() + timedelta(days=math.floor(v - offset + 1e-9)))
        )
    )


def _time_description(ax: Axes, metric: str, hours: bool, xs: Sequence[float]) -> str:
    """The time axis in words, read back from the axes, so the words say what the picture
    shows."""
    label = ax.xaxis.get_major_formatter()
    low, high = ax.get_xlim()
    ticks = [label(t, i) for i, t in enumerate(ax.get_xticks())]
    return (
        f"Cumulative {metric_label(metric)} per variant. Time axis from {label(low, 0)} to "
        f"{label(high, 0)} ({'hours since the start' if hours else 'dates'}), ticks "
        f"{', '.join(ticks)}; points from {label(min(xs), 0)} to {label(max(xs), 0)}."
    )


def daily_plot(
    daily: Sequence[Mapping[str, Any]],
    metric: str,
    colours: Mapping[str, str],
    control: str,
    window: tuple[datetime, datetime] | None,
) -> tuple[str, str] | None:
    """Cumulative value per variant, each day's point at the moment its cumulative value was
    reached: the end of that day, or the end of the window for the day still running."""
    series = _daily_series(daily)
    if not series or window is None:
        return None
    start, end = window
    hours = end - start < _HOURS_AXIS_BELOW

    def position(day: date) -> float:
        moment = min(max(datetime.combine(day, time(), UTC) + _DAY, start), end)
        return (moment - start) / (_HOUR if hours else _DAY)

    figure = Figure(figsize=(10.5, 3.8), dpi=110, layout="constrained")
    ax = figure.add_subplot()
    xs: list[float] = []
    for variant, points in series.items():
        xs += [position(day) for day, _ in points]
        ax.plot(
            [position(day) for day, _ in points],
            [value for _, value in points],
            marker="o",
            markersize=3.5,
            linewidth=2.2,
            linestyle="--" if variant == control else "-",
            color=colours.get(variant, GREY),
            label=_chart_text(
                f"{variant} (control)" if variant == control != "control" else variant
            ),
            clip_on=False,
        )
    _time_axis(ax, start, end, hours)
    if is_rate(metric):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.2f}"))
    ax.set_ylabel(_chart_text(f"Cumulative {metric_label(metric)}"), fontsize=9)
    description = _time_description(ax, metric, hours, xs)
    # Above the axes: inside, it would hide the very lines it names.
    ax.legend(
        frameon=False,
        fontsize=9,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncols=min(len(series), 6),
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#d0d7de", linewidth=0.6)
    return _png(figure), description
