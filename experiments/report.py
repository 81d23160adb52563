"""Experiment results as one HTML file a marketer can open, and as CSV for spreadsheets.

The report is read by people who will not ask a statistician what ``relative_ci`` means, so
every number is turned into a sentence or a labelled cell, and every verdict uses one rule
(:func:`_decisive_p`): the multiplicity-adjusted p-value when the results carry one, else the
raw p-value, against the experiment's alpha. The headline, the metrics table, the forest plot's
filled dots and the table of numbers therefore never disagree about what is "significant"; the
forest plot's colours follow the unadjusted interval it draws, so a bar is never coloured by a
number that is not on the page, and its legend names the correction behind the dots.
Decisions (ship, roll back, ...) are the ones the results carry (``experiments.verdict``),
shown with their rule and never re-derived here, so the report cannot disagree with the JSON.

The file must open anywhere, offline, attached to an e-mail: CSS is inline, charts are
base64 PNGs rendered with matplotlib's Agg canvas (no pyplot, so no global state between
calls), and there is no JavaScript. Every string from the input is escaped, because experiment
and segment names are typed by users and the file is opened in a browser.

Pure: results and experiment documents in, text out; nothing from ``engine`` or ``api``.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from matplotlib.transforms import blended_transform_factory

from experiments._reading import mapping as _map
from experiments._reading import mappings as _maps
from experiments._reading import number as _num
from experiments._reading import pair as _pair
from experiments._reading import text as _text

__all__ = ["render_report"]

MISSING: Final = "\u2013"
"""What a missing, NaN or infinite number is shown as."""

DEFAULT_ALPHA: Final = 0.05

_GREEN: Final = "#1a7f37"
_RED: Final = "#cf222e"
_GREY: Final = "#6e7781"
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
_RATE_METRICS: Final = frozenset({"conversion_rate", "click_rate"})
_STATUS_COLOURS: Final[Mapping[str, str]] = {
    "running": _GREEN,
    "paused": "#9a6700",
    "stopped": _GREY,
    "draft": "#0969da",
}
_ANALYSIS_NOTES: Final[Mapping[str, str]] = {
    "frequentist": "Fixed-horizon test: read the verdict once the planned sample is reached.",
    "sequential": "Always-valid intervals: the verdict stays trustworthy however often you look.",
    "bayesian": "Bayesian analysis: 'chance to win' is the probability the variant beats control.",
}


# --- reading untrusted documents -------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(_text(value), quote=True)


# --- plain-language formatting ---------------------------------------------------------------


def _is_rate(metric: str) -> bool:
    return metric in _RATE_METRICS or metric.startswith("activity:")


def _metric_label(metric: str) -> str:
    if metric.startswith("activity:"):
        return f"{metric.removeprefix('activity:').replace('_', ' ')} rate"
    return metric.replace("_", " ") if metric else "metric"


def _minus(text: str) -> str:
    # A typographic minus: a hyphen is easy to miss in a table of numbers.
    return text.replace("-", "\u2212")


def _pct(value: float | None, *, signed: bool = False, digits: int | None = None) -> str:
    if value is None:
        return MISSING
    if digits is None:
        digits = 0 if abs(value) >= 0.01 else 1
    return _minus(f"{value * 100:{'+' if signed else ''}.{digits}f}%")


def _value(value: float | None, metric: str) -> str:
    if value is None:
        return MISSING
    return _pct(value, digits=2) if _is_rate(metric) else _minus(f"{value:,.2f}")


def _abs_lift(value: float | None, metric: str) -> str:
    if value is None:
        return MISSING
    if _is_rate(metric):
        return _minus(f"{value * 100:+.2f} pp")
    return _minus(f"{value:+,.2f}")


def _count(value: float | None) -> str:
    # Customers and conversions are whole people: never "62,656.12 customers".
    return MISSING if value is None else _minus(f"{round(value):,}")


def _money(value: float | None) -> str:
    return MISSING if value is None else _minus(f"{value:,.2f}")


def _p(value: float | None) -> str:
    if value is None:
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _p_is(value: float | None, name: str = "p") -> str:
    """``p = 0.012`` or ``p < 0.001``: never "p = < 0.001"."""
    text = _p(value)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


def _chance(value: float | None) -> str:
    if value is None:
        return MISSING
    if value > 0.999:
        return "> 99.9%"
    if value < 0.001:
        return "< 0.1%"
    return f"{value * 100:.1f}%"


def _interval_ends(
    pair: tuple[float | None, float | None], fmt: str, metric: str = ""
) -> tuple[str, str] | None:
    low, high = pair
    if low is None or high is None:
        return None
    if fmt == "pct":
        return _pct(low), _pct(high)
    return _abs_lift(low, metric), _abs_lift(high, metric)


def _interval(pair: tuple[float | None, float | None], fmt: str, metric: str = "") -> str:
    ends = _interval_ends(pair, fmt, metric)
    return MISSING if ends is None else f"{ends[0]} to {ends[1]}"


def _level(alpha: float) -> str:
    return f"{(1.0 - alpha) * 100:g}%"


# --- verdicts --------------------------------------------------------------------------------


def _decisive_p(comparison: Mapping[str, Any]) -> float | None:
    """The p-value verdicts are based on: adjusted when available, because the report shows
    many comparisons at once and the raw p-values would overstate what was found."""
    adjusted = _num(comparison.get("p_value_adjusted"))
    return adjusted if adjusted is not None else _num(comparison.get("p_value"))


def _direction(comparison: Mapping[str, Any]) -> float | None:
    relative = _num(comparison.get("relative_lift"))
    return relative if relative is not None else _num(comparison.get("absolute_lift"))


def _significant(comparison: Mapping[str, Any], alpha: float) -> bool | None:
    p = _decisive_p(comparison)
    return None if p is None else p < alpha


# Why a statistic is missing, by the ErrorCode the statistics package puts in ``error``.
_REASONS: Final[Mapping[str, str]] = {
    "TOO_FEW_UNITS": "fewer than two customers in an arm, so no variance can be estimated",
    "ZERO_VARIANCE": "no spread to measure yet (e.g. nobody converted in either arm)",
    "ZERO_BASELINE": "control's value is zero, so a lift relative to it is undefined",
    "MIXED_STATISTICS": "control and variant were measured differently",
    "NO_UNITS": "no customers yet",
    "SINGLE_VARIANT": "fewer than two variants to compare",
    "INVALID_INPUT": "the stored sums are inconsistent",
    "UNREACHABLE": "no finite sample size reaches the planned power",
    "NO_TRAFFIC": "no daily traffic to project from",
}


def _reason(comparison: Mapping[str, Any]) -> str:
    """Why a comparison has no estimate: a gap with no reason reads as a bug."""
    error = _text(comparison.get("error"))
    if error:
        return _REASONS.get(error, error.replace("_", " ").lower())
    if _num(comparison.get("relative_lift")) is None and _num(comparison.get("p_value")) is None:
        return "the results carry no estimate and no reason for it"
    return "the results carry no p-value for it"


def _verdict(comparison: Mapping[str, Any], alpha: float, stopped: bool) -> tuple[str, str]:
    """A short verdict and its CSS class."""
    significant = _significant(comparison, alpha)
    lift = _direction(comparison)
    if significant is None or lift is None:
        return f"no estimate: {_reason(comparison)}", "muted"
    if not significant:
        return ("not significant" if stopped else "not significant yet"), "muted"
    if lift > 0:
        return "significantly better", "good"
    if lift < 0:
        return "significantly worse", "bad"
    return "no difference", "muted"


# Decisions of ``experiments.verdict``, as a marketer reads them, and their CSS class.
_DECISIONS: Final[Mapping[str, tuple[str, str]]] = {
    "ship": ("ship", "good"),
    "roll_back": ("roll back", "bad"),
    "no_effect": ("no effect at the planned power", "muted"),
    "keep_running": ("keep running", "muted"),
    "invalid": ("do not trust: traffic split mismatch", "bad"),
    "baseline": ("baseline (holdout)", "muted"),
}


def _decision(document: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The decision the results carry (label, CSS class, rule), or None when they carry none
    (results of a secondary metric, or documents from before decisions existed)."""
    found = _DECISIONS.get(_text(document.get("decision")))
    if found is None:
        return None
    return found[0], found[1], _text(document.get("decision_rule"))


def _headline(
    comparison: Mapping[str, Any], control: str, metric: str, alpha: float, stopped: bool
) -> tuple[str, str]:
    """The sentence a marketer reads first (HTML, already escaped) and its CSS class."""
    variant = f"<strong>{_e(comparison.get('variant'))}</strong>"
    baseline = f"<strong>{_e(control)}</strong>"
    relative = _num(comparison.get("relative_lift"))
    verdict, css = _verdict(comparison, alpha, stopped)
    if relative is None:
        reason = _e(_reason(comparison))
        return f"{variant}: no estimate against {baseline} yet: {reason}.", "muted"
    size = _pct(abs(relative))
    up = relative >= 0
    if metric == "conversion_rate":
        claim = f"converts {size} {'better' if up else 'worse'} than"
    elif metric == "click_rate":
        claim = f"gets {size} {'more' if up else 'fewer'} clicks than"
    elif metric == "revenue_per_unit":
        claim = f"earns {size} {'more' if up else 'less'} revenue per customer than"
    else:
        claim = f"has a {size} {'higher' if up else 'lower'} {_e(_metric_label(metric))} than"
    parts = [f"{variant} {claim} {baseline}"]
    ci = _pair(comparison.get("relative_ci"))
    if ci[0] is not None and ci[1] is not None:
        parts.append(f" ({_level(alpha)} interval {_e(_interval(ci, 'pct'))})")
    p = _num(comparison.get("p_value"))
    adjusted = _num(comparison.get("p_value_adjusted"))
    if p is not None:
        parts.append(f", {_e(_p_is(p))}")
        if adjusted is not None and adjusted != p:
            parts.append(f" (adjusted {_e(_p(adjusted))})")
    closing = "significant" if verdict.startswith("significantly") else verdict
    parts.append(f" \u2014 {_e(closing)}")
    sentence = "".join(parts) + "."
    decided = _decision(comparison)
    if decided is not None:
        sentence += f" Decision: <strong>{_e(decided[0])}</strong>."
        css = decided[1]
    return sentence, css


# --- charts ----------------------------------------------------------------------------------


def _png(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _chart_text(value: object) -> str:
    # Matplotlib reads $...$ as mathtext; user-typed names must be drawn literally.
    return _text(value).replace("$", r"\$")


def _colours(order: Iterable[str]) -> dict[str, str]:
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(order)}


_ForestRow = tuple[str, str, float | None, float | None, float | None, str, bool]


def _interval_colour(low: float | None, high: float | None) -> str:
    """The colour of a bar, read off the bar itself: a bar wholly right of zero is green and
    one wholly left of it red, whatever another p-value says, so what is drawn is what is
    coloured."""
    if low is None or high is None:
        return _GREY
    if low > 0.0:
        return _GREEN
    if high < 0.0:
        return _RED
    return _GREY


def _forest_rows(
    results: Mapping[str, Any], alpha: float, holdouts: frozenset[str]
) -> list[_ForestRow]:
    """(scope, variant, lift, low, high, colour, significant after adjustment) per comparison,
    all customers first; holdouts are the programme's baseline, not competitors, so they are
    left out."""
    scopes: list[tuple[str, Mapping[str, Any]]] = [("All customers", _map(results.get("overall")))]
    scopes += [(_text(s.get("segment")), s) for s in _maps(results.get("segments"))]
    rows: list[_ForestRow] = []
    for name, scope in scopes:
        for comparison in _maps(scope.get("comparisons")):
            variant = _text(comparison.get("variant"))
            if variant in holdouts:
                continue
            lift = _num(comparison.get("relative_lift"))
            low, high = _pair(comparison.get("relative_ci"))
            confirmed = bool(_significant(comparison, alpha))
            colour = _interval_colour(low, high)
            rows.append((name, variant, lift, low, high, colour, confirmed))
    return rows


def _correction(results: Mapping[str, Any]) -> str:
    """Which multiple-testing correction the adjusted p-values carry, in words."""
    testing = _map(results.get("multiple_testing"))
    method = {"holm": "Holm", "bh": "Benjamini-Hochberg"}.get(
        _text(testing.get("method")), _text(testing.get("method"))
    )
    size = _num(testing.get("family_size"))
    if not method:
        return "no multiple-testing correction is stated in the results"
    family = f" over {round(size):,} comparisons" if size is not None else ""
    return f"the {method} correction{family}"


_COLOUR_WORDS: Final[Mapping[str, str]] = {
    _GREEN: "green, interval above zero",
    _RED: "red, interval below zero",
    _GREY: "grey, interval includes zero",
}


def _forest_description(rows: Sequence[_ForestRow], alpha: float) -> str:
    """The plot in words, for its alt text: a screen reader (or a test) reads what is drawn."""
    parts = []
    for scope, variant, lift, low, high, colour, confirmed in rows:
        interval = f" [{_pct(low)}, {_pct(high)}]" if low is not None and high is not None else ""
        adjusted = "significant" if confirmed else "not significant"
        parts.append(
            f"{scope} \u00b7 {variant}: {_pct(lift, signed=True)}{interval}, "
            f"{_COLOUR_WORDS[colour]}, {adjusted} after correction"
        )
    return (
        f"Relative lift over control with unadjusted {_level(alpha)} interval. "
        + "; ".join(parts)
        + "."
    )


def _forest_plot(rows: Sequence[_ForestRow], alpha: float) -> str:
    height = 1.3 + 0.36 * len(rows)
    figure = Figure(figsize=(10.5, height), dpi=110, layout="constrained")
    ax = figure.add_subplot()
    positions = list(range(len(rows)))[::-1]
    scope_index = 0
    previous = None
    for y, (scope, _variant, lift, low, high, colour, confirmed) in zip(
        positions, rows, strict=True
    ):
        if scope != previous:
            scope_index += 1
            previous = scope
        if scope_index % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="#f6f8fa", zorder=0)
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
        label = "no estimate" if lift is None else _pct(lift, signed=True)
        if low is not None and high is not None:
            label += f"  [{_pct(low)}, {_pct(high)}]"
        ax.text(
            1.01,
            y,
            label,
            transform=blended_transform_factory(ax.transAxes, ax.transData),
            va="center",
            fontsize=9,
            color=colour if lift is not None else _GREY,
        )
    ax.axvline(0.0, color="#24292f", linewidth=1, linestyle="--", zorder=1)
    ax.set_yticks(
        positions,
        [_chart_text(f"{scope}  \u00b7  {variant}") for scope, variant, *_ in rows],
        fontsize=9,
    )
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(
        f"Relative lift over control, with unadjusted {_level(alpha)} interval "
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


def _instant(value: object) -> datetime | None:
    """An ISO timestamp as an aware UTC datetime (naive ones are taken as UTC), or None."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(_text(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _when(moment: datetime) -> str:
    """A date people read without guessing the year or the zone: "2 Dec 2026, 09:00 UTC"."""
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def _day_label(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _duration(span: timedelta) -> str:
    hours = span.total_seconds() / 3600.0
    if hours < 1.0:
        minutes = math.floor(span.total_seconds() / 60.0)
        return "under a minute" if minutes < 1 else f"{minutes} minute{'' if minutes == 1 else 's'}"
    if hours < 48.0:
        whole = max(0, math.floor(hours))
        return f"{whole} hour{'' if whole == 1 else 's'}"
    days = math.floor(hours / 24.0)
    return f"{days} days"


def _window(
    experiment: Mapping[str, Any], days: Sequence[date], now: datetime
) -> tuple[datetime, datetime] | None:
    """When the experiment's data begins and ends: started_at (else the first day's midnight)
    to stopped_at (else now). Every point of the chart lies inside it."""
    start = _instant(experiment.get("started_at"))
    if start is None and days:
        start = datetime.combine(min(days), time(), UTC)
    if start is None:
        return None
    end = _instant(experiment.get("stopped_at")) or now
    return start, max(start, end)


def _ticks(low: float, high: float, steps: Sequence[float]) -> list[float]:
    """Round positions inside [low, high], at most eight: ticks never leave the data's range."""
    span = high - low
    step = next((s for s in steps if span / s <= 8), steps[-1])
    first = math.ceil(low - 1e-9)  # the first whole hour or midnight, then every step
    count = math.floor((high - first) / step + 1e-9) + 1
    return [first + i * step for i in range(max(0, count))]


def _daily_plot(
    daily: Sequence[Mapping[str, Any]],
    metric: str,
    colours: Mapping[str, str],
    control: str,
    window: tuple[datetime, datetime] | None,
) -> tuple[str, str] | None:
    """Cumulative value per variant, each day's point at the moment its cumulative value was
    reached: the end of that day, or the end of the window for the day still running."""
    series: dict[str, list[tuple[date, float]]] = {}
    for point in daily:
        value = _num(point.get("value"))
        try:
            day = date.fromisoformat(_text(point.get("day"))[:10])
        except ValueError:
            continue
        if value is not None:
            series.setdefault(_text(point.get("variant")), []).append((day, value))
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
        points.sort()
        xs += [position(day) for day, _ in points]
        ax.plot(
            [position(day) for day, _ in points],
            [value for _, value in points],
            marker="o",
            markersize=3.5,
            linewidth=2.2,
            linestyle="--" if variant == control else "-",
            color=colours.get(variant, _GREY),
            label=_chart_text(
                f"{variant} (control)" if variant == control != "control" else variant
            ),
            clip_on=False,
        )
    if hours:
        length = max((end - start) / _HOUR, 1.0)
        ax.set_xlim(0.0, length)
        ax.set_xticks(_ticks(0.0, length, (1, 2, 3, 4, 6, 12)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g} h"))
        ax.set_xlabel(_chart_text(f"Hours since the start ({_when(start)})"), fontsize=9)
    else:
        length = (end - start) / _DAY
        midnight = datetime.combine(start.date(), time(), UTC)
        offset = (midnight - start) / _DAY  # ticks at midnights, in days since the start
        ax.set_xlim(0.0, length)
        ax.set_xticks(
            [
                offset + t
                for t in _ticks(-offset, length - offset, (1, 2, 7, 14, 28, 91, 182, 365, 730))
            ]
        )
        ax.xaxis.set_major_formatter(
            FuncFormatter(
                lambda v, _pos: _day_label(
                    start.date() + timedelta(days=math.floor(v - offset + 1e-9))
                )
            )
        )
    if _is_rate(metric):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.2f}"))
    ax.set_ylabel(_chart_text(f"Cumulative {_metric_label(metric)}"), fontsize=9)
    # Read back from the axes, so the words say what the picture shows.
    label = ax.xaxis.get_major_formatter()
    low, high = ax.get_xlim()
    ticks = [label(t, i) for i, t in enumerate(ax.get_xticks())]
    description = (
        f"Cumulative {_metric_label(metric)} per variant. Time axis from {label(low, 0)} to "
        f"{label(high, 0)} ({'hours since the start' if hours else 'dates'}), ticks "
        f"{', '.join(ticks)}; points from {label(min(xs), 0)} to {label(max(xs), 0)}."
    )
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


# --- sections --------------------------------------------------------------------------------

_CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 color:#24292f;background:#f6f8fa;margin:0;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:28px;margin:0 0 6px}
h2{font-size:19px;margin:0 0 12px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:18px 22px;
 margin:16px 0}
.meta{color:#57606a;font-size:14px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-size:13px;
 font-weight:600;vertical-align:middle;margin-left:8px;text-transform:uppercase}
.headline{font-size:19px;padding:12px 16px;border-left:6px solid;border-radius:4px;margin:8px 0}
.headline.good{border-color:#1a7f37;background:#dafbe1}
.headline.bad{border-color:#cf222e;background:#ffebe9}
.headline.muted{border-color:#8c959f;background:#f6f8fa}
.status{padding:10px 14px;border-radius:6px;margin:8px 0}
.status.good{background:#dafbe1}.status.bad{background:#ffebe9}.status.muted{background:#f6f8fa}
.good .tag,td.good{color:#1a7f37;font-weight:600}
td.bad{color:#cf222e;font-weight:600}
td.muted{color:#57606a}
td.verdict{white-space:normal;text-align:left;min-width:8em;max-width:18em}
.method{display:block;white-space:normal;min-width:7em;max-width:8.5em;margin-left:auto}
td.warn{color:#9a6700;font-weight:600}
h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 6px;border-bottom:1px solid #eaeef2;text-align:right;white-space:nowrap}
th{background:#f6f8fa;font-weight:600;vertical-align:bottom;white-space:normal}
th small{font-weight:400;color:#57606a}
.ci{color:#57606a;font-size:12px}
th:first-child,td:first-child{text-align:left}
td.name,th.name{text-align:left}
tr.scope th{background:#eaeef2;text-align:left;font-size:14px}
.scope-srm{font-weight:400;color:#57606a;margin-left:12px}
.scope-srm.bad{color:#cf222e;font-weight:600}
.control{color:#57606a;font-size:12px;margin-left:4px}
img{max-width:100%;height:auto;display:block}
.note{color:#57606a;font-size:13px;margin:6px 0 0}
.hypothesis{font-size:16px;margin:0;white-space:pre-wrap}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0;font-size:14px}
dt{color:#57606a}dd{margin:0}
"""


def _header(
    results: Mapping[str, Any], experiment: Mapping[str, Any], metric: str, now: datetime
) -> str:
    status = _text(experiment.get("status")) or "unknown"
    colour = _STATUS_COLOURS.get(status, _GREY)
    experiment_id = _text(results.get("experiment_id"))
    title = _text(experiment.get("name")) or experiment_id or "Experiment"
    details = [f"Primary metric: <strong>{_e(_metric_label(metric))}</strong>"]
    if experiment_id:
        details.append(f"Experiment id: {_e(experiment_id)}")
    if experiment.get("phase") not in (None, ""):
        details.append(f"Phase: {_e(experiment.get('phase'))}")
    start = _instant(experiment.get("started_at"))
    stop = _instant(experiment.get("stopped_at"))
    for label, moment in (("Started", start), ("Stopped", stop)):
        if moment is not None:
            details.append(f"{label}: {_e(_when(moment))}")
    if start is not None:
        ran = "Ran for" if stop is not None else "Running for"
        details.append(f"{ran} {_e(_duration(max((stop or now) - start, timedelta())))}")
    details.append(f"Report made {_e(_when(now))}")
    hypothesis = _text(experiment.get("hypothesis")).strip() or "No hypothesis was recorded."
    return (
        f"<header><h1>{_e(title)}"
        f'<span class="badge" style="background:{colour}">{_e(status)}</span></h1>'
        f'<p class="meta">{" &nbsp;·&nbsp; ".join(details)}</p></header>'
        f'<section><h2>Hypothesis</h2><p class="hypothesis">{_e(hypothesis)}</p></section>'
    )


def _control_tag(name: str, control: str) -> str:
    # "control (control)" says nothing twice.
    return '<span class="control">(control)</span>' if name == control != "control" else ""


def _treatment(treatment: Mapping[str, Any]) -> str:
    policy = _text(treatment.get("policy"))
    if policy == "bandit":
        name = _text(treatment.get("name"))
        return f"Personalised offers (learning policy {name})" if name else "Personalised offers"
    if policy == "static":
        return f"Always offer {_text(treatment.get('offer_id')) or MISSING}"
    return {
        "rules": "Current business rules",
        "random": "Random eligible offers",
        "holdout": "No offer (holdout)",
    }.get(policy, policy or MISSING)


def _variants_section(
    experiment: Mapping[str, Any], results: Mapping[str, Any], control: str
) -> str:
    observed = {
        _text(v.get("variant")): _num(v.get("units"))
        for v in _maps(_map(results.get("overall")).get("variants"))
    }
    total = sum(units for units in observed.values() if units is not None)
    variants = _maps(experiment.get("variants"))
    names = [_text(v.get("id")) for v in variants]
    names += [name for name in observed if name not in names]
    by_id = {_text(v.get("id")): v for v in variants}
    rows = []
    for name in names:
        variant = by_id.get(name, {})
        units = observed.get(name)
        share = units / total if units is not None and total > 0 else None
        tag = _control_tag(name, control)
        rows.append(
            f'<tr><td class="name">{_e(name)}{tag}</td>'
            f'<td class="name">{_e(_treatment(_map(variant.get("treatment"))))}</td>'
            f"<td>{_e(_pct(_num(variant.get('weight')), digits=1))}</td>"
            f"<td>{_e(_count(units))}</td><td>{_e(_pct(share, digits=1))}</td></tr>"
        )
    traffic = _num(experiment.get("traffic"))
    targeting = []
    if traffic is not None:
        targeting.append(f"{_pct(traffic)} of eligible customers take part")
    segments = [_text(s) for s in experiment.get("segments") or [] if isinstance(s, str)]
    targeting.append("targeted at " + (", ".join(segments) if segments else "everyone"))
    channels = [_text(c) for c in experiment.get("channels") or [] if isinstance(c, str)]
    targeting.append("on " + (", ".join(channels) if channels else "every channel"))
    return (
        "<section><h2>Variants and traffic split</h2><table><thead><tr>"
        '<th>Variant</th><th class="name">What customers get</th><th>Planned share</th>'
        "<th>Customers so far</th><th>Actual share</th></tr></thead><tbody>"
        + "".join(rows)
        + f'</tbody></table><p class="note">{_e("; ".join(targeting))}.</p></section>'
    )


def _srm_sentence(srm: Mapping[str, Any]) -> tuple[str, str]:
    p = _num(srm.get("p_value"))
    mismatch = srm.get("mismatch")
    if mismatch is True:
        return (
            f"Sample ratio mismatch ({_p_is(p)}): customers did not arrive in the planned "
            "proportions, so assignment or tracking is broken and the results may be biased. "
            "Fix this before trusting any number below.",
            "bad",
        )
    if mismatch is False:
        return (
            f"Traffic split OK ({_p_is(p)}): customers arrived in the planned proportions.",
            "good",
        )
    return "Traffic split not checked yet.", "muted"


def _power_sentences(
    power: Mapping[str, Any], experiment: Mapping[str, Any], control: str, now: datetime
) -> list[tuple[str, str]]:
    """What the sample size allows now, what the planned lift needs and by when, or why not.

    The results size one comparison, control against the first other variant (as
    ``engine.offline.results`` does), and count the customers of those two arms; the other arms take
    their planned share of traffic too, so the experiment as a whole needs more.
    """
    weights = {_text(v.get("id")): _num(v.get("weight")) for v in _maps(experiment.get("variants"))}
    others = [name for name in weights if name != control]
    variant = _text(power.get("variant")) or (others[0] if others else "")
    pair = f"{control} vs {variant}" if control and variant else "the comparison"
    if not power:
        return [
            (
                "Not computed: it needs at least two customers in control and a variant to "
                "compare with.",
                "muted",
            )
        ]
    sentences: list[tuple[str, str]] = []
    now_mde = _num(power.get("minimum_detectable_effect_now"))
    if now_mde is not None:
        sentences.append(
            (
                f"With the customers so far, {pair} can detect a relative lift of "
                f"{_pct(now_mde, digits=1)} or more (80% power).",
                "muted",
            )
        )
    target = _num(power.get("minimum_detectable_effect"))
    if target is None:
        sentences.append(
            (
                "The experiment declares no minimum detectable effect, so there is no sample "
                "size to reach.",
                "muted",
            )
        )
        return sentences
    planned = f"the planned {_pct(target)} lift"
    more = _num(power.get("additional_units"))
    days = _num(power.get("days_to_significance"))
    if more is None:
        reason = _REASONS.get(
            _text(power.get("error")),
            "the spread of the metric cannot be estimated from the data so far, or no sample "
            "size reaches 80% power",
        )
        sentences.append(
            (f"How many customers {planned} needs cannot be computed yet: {reason}.", "muted")
        )
        return sentences
    if more <= 0:
        sentences.append((f"Enough customers to detect {planned} in {pair}.", "good"))
        return sentences
    needed = math.ceil(more)
    text = f"To detect {planned}, {pair} need about {needed:,} more customers between them"
    share = sum(w for name, w in weights.items() if name in (control, variant) and w)
    total = sum(w for w in weights.values() if w)
    if len(weights) > 2 and 0 < share < total:
        text += f" (about {math.ceil(more * total / share):,} more in the whole experiment)"
    if days is not None:
        when = now + timedelta(days=days)
        text += (
            f": about {math.ceil(days):,} more day{'' if math.ceil(days) == 1 else 's'} "
            f"at current traffic, around {_day_label(when.date())}."
        )
    else:
        text += ": no date can be projected, as there is no daily traffic yet."
    sentences.append((text, "muted"))
    return sentences


def _health_section(
    results: Mapping[str, Any], experiment: Mapping[str, Any], control: str, now: datetime
) -> str:
    srm_text, srm_css = _srm_sentence(_map(results.get("srm")))
    items = [f'<div class="status {srm_css}">{_e(srm_text)}</div>']
    flagged = [
        _text(s.get("segment"))
        for s in _maps(results.get("segments"))
        if _map(s.get("srm")).get("mismatch") is True
    ]
    if flagged:
        items.append(
            '<div class="status bad"><strong>Segments with a split mismatch:</strong> '
            f"{_e(', '.join(flagged))}.</div>"
        )
    for text, css in _power_sentences(_map(results.get("power")), experiment, control, now):
        items.append(f'<div class="status {css}"><strong>Sample size.</strong> {_e(text)}</div>')
    analysis = _text(results.get("analysis") or experiment.get("analysis"))
    note = _ANALYSIS_NOTES.get(analysis)
    if note:
        items.append(f'<p class="note">{_e(note)}</p>')
    return "<section><h2>Can we trust it?</h2>" + "".join(items) + "</section>"


def _holdouts(experiment: Mapping[str, Any]) -> frozenset[str]:
    """Variants that get no offer: the baseline of what the whole programme adds."""
    return frozenset(
        _text(v.get("id"))
        for v in _maps(experiment.get("variants"))
        if _map(v.get("treatment")).get("policy") == "holdout"
    )


_GUARDRAIL_STATUS: Final[Mapping[str, str]] = {"ok": "good", "warning": "warn", "failing": "bad"}


def _metric_rows(
    role: str,
    results: Mapping[str, Any],
    holdouts: frozenset[str],
    alpha: float,
    stopped: bool,
) -> list[str]:
    metric = _text(results.get("metric"))
    rows = []
    for comparison in _maps(_map(results.get("overall")).get("comparisons")):
        variant = _text(comparison.get("variant"))
        if variant in holdouts:
            continue
        verdict, css = _verdict(comparison, alpha, stopped)
        cell = _e(verdict)
        decided = _decision(comparison)
        if decided is not None:
            label, css, rule = decided
            cell += f'<br><strong>{_e(label)}</strong><br><span class="ci">{_e(rule)}</span>'
        low, high = _pair(comparison.get("relative_ci"))
        rows.append(
            f'<tr><td class="name">{_e(_metric_label(metric))}</td><td class="name">{_e(role)}'
            f'</td><td class="name">{_e(variant)}</td>'
            f"<td>{_e(_pct(_num(comparison.get('relative_lift')), signed=True))}"
            f'<br><span class="ci">({_e(_interval((low, high), "pct"))})</span></td>'
            f"<td>{_e(_p(_num(comparison.get('p_value'))))}</td>"
            f"<td>{_e(_p(_num(comparison.get('p_value_adjusted'))))}</td>"
            f'<td class="{css} verdict">{cell}</td></tr>'
        )
    if not rows:
        rows.append(
            f'<tr><td class="name">{_e(_metric_label(metric))}</td><td class="name">{_e(role)}'
            '</td><td class="muted" colspan="5">no estimate: no comparison with control yet'
            "</td></tr>"
        )
    return rows


def _metrics_section(
    results: Mapping[str, Any],
    secondary: Sequence[Mapping[str, Any]],
    experiment: Mapping[str, Any],
    holdouts: frozenset[str],
    alpha: float,
    stopped: bool,
) -> str:
    """Every metric the experiment declares, each with its verdict (guardrails with the status
    the results give them), so a metric that moved the wrong way cannot go unseen."""
    by_metric: dict[str, Mapping[str, Any]] = {}
    for document in (results, *secondary):
        by_metric.setdefault(_text(document.get("metric")), document)
    primary = _text(experiment.get("primary_metric")) or _text(results.get("metric"))
    declared = [primary]
    declared += [_text(m) for m in experiment.get("secondary_metrics") or [] if isinstance(m, str)]
    declared += [m for m in by_metric if m not in declared]
    rows: list[str] = []
    for metric in dict.fromkeys(declared):
        role = "primary" if metric == primary else "secondary"
        found = by_metric.get(metric)
        if found is None:
            rows.append(
                f'<tr><td class="name">{_e(_metric_label(metric))}</td><td class="name">'
                f'{role}</td><td class="muted" colspan="5">no estimate: its results were not '
                "passed to this report</td></tr>"
            )
        else:
            rows += _metric_rows(role, found, holdouts, alpha, stopped)
    guardrails = _maps(results.get("guardrails"))
    reported = {_text(g.get("metric")) for g in guardrails}
    for guardrail in guardrails:
        variant = _text(guardrail.get("variant"))
        if variant in holdouts:  # the baseline of the programme, not a candidate to harm it
            continue
        status = _text(guardrail.get("verdict")) or MISSING
        css = _GUARDRAIL_STATUS.get(status, "muted")
        rows.append(
            f'<tr><td class="name">{_e(_metric_label(_text(guardrail.get("metric"))))}</td>'
            f'<td class="name">guardrail</td><td class="name">{_e(variant)}</td>'
            f"<td>{_e(_pct(_num(guardrail.get('estimate')), signed=True))}</td>"
            f"<td>{_e(_p(_num(guardrail.get('p_value'))))}<br>"
            '<span class="ci">(one-sided)</span></td>'
            f'<td>{MISSING}</td><td class="{css} verdict">guardrail {_e(status)}</td></tr>'
        )
    for metric in experiment.get("guardrail_metrics") or []:
        if isinstance(metric, str) and metric not in reported:
            rows.append(
                f'<tr><td class="name">{_e(_metric_label(metric))}</td><td class="name">'
                'guardrail</td><td class="muted" colspan="5">no status: the results carry none '
                "for it</td></tr>"
            )
    return (
        "<section><h2>Every declared metric</h2>"
        '<div style="overflow-x:auto"><table><thead><tr><th>Metric</th><th>Role</th>'
        f"<th>Variant</th><th>Lift, relative<br><small>({_level(alpha)} interval)</small></th>"
        "<th>p&#8209;value</th><th>Adjusted p</th><th>Verdict</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
        '<p class="note">Verdicts of primary and secondary metrics compare the adjusted p-value '
        f"with {alpha:g}. Guardrail status as the results give it, from a one-sided test "
        "for harm: ok, not worse than control; warning, worse but not significantly so (or "
        "not computable); failing, significantly worse. Decisions, on the primary metric, "
        "follow the first rule that applies: a traffic split mismatch, do not trust; a failing "
        "guardrail or a significantly worse primary, roll back; significantly better, ship; "
        "not significant though the planned effect is detectable, no effect; otherwise keep "
        "running (Spotify's risk-aware decision rule and GrowthBook's decision framework).</p>"
        "</section>"
    )


def _inverse_interval(pair: tuple[float | None, float | None]) -> tuple[float | None, float | None]:
    """An interval for c / h - 1 from one for h / c - 1: the map is decreasing above -1, so
    its ends map to the other's ends (no upper end when the lower one reaches -100%)."""
    low, high = pair
    if low is None or high is None or high <= -1.0:
        return None, None
    return 1.0 / (1.0 + high) - 1.0, (1.0 / (1.0 + low) - 1.0 if low > -1.0 else None)


def _programme_section(
    results: Mapping[str, Any], control: str, metric: str, holdouts: frozenset[str], alpha: float
) -> str:
    """Each variant against the holdout: what offering anything adds over offering nothing."""
    overall = _map(results.get("overall"))
    values = {_text(v.get("variant")): _num(v.get("value")) for v in _maps(overall.get("variants"))}
    comparisons = {_text(c.get("variant")): c for c in _maps(overall.get("comparisons"))}
    paragraphs = []
    for holdout in sorted(holdouts):
        base = values.get(holdout)
        rows = []
        for variant, value in values.items():
            if variant in holdouts:
                continue
            relative = value / base - 1.0 if value is not None and base else None
            absolute = value - base if value is not None and base is not None else None
            if variant == control:
                against = comparisons.get(holdout, {})
                low, high = _pair(against.get("absolute_ci"))
                abs_ci = _interval(
                    (-high if high is not None else None, -low if low is not None else None),
                    "abs",
                    metric,
                )
                rel_low, rel_high = _inverse_interval(_pair(against.get("relative_ci")))
                if not base:  # no upper end means anything when dividing by zero
                    rel_ci = (
                        f"at least {_pct(rel_low, signed=True)}: with no offers the value is zero"
                        if rel_low is not None
                        else MISSING
                    )
                elif rel_high is not None:
                    rel_ci = _interval((rel_low, rel_high), "pct")
                else:
                    rel_ci = f"above {_pct(rel_low)}" if rel_low is not None else MISSING
            else:
                abs_ci = rel_ci = "no interval: the results compare variants with control only"
            rows.append(
                f'<tr><td class="name">{_e(variant)}{_control_tag(variant, control)}</td>'
                f"<td>{_e(_value(value, metric))}</td><td>{_e(_value(base, metric))}</td>"
                f'<td>{_e(_abs_lift(absolute, metric))}<br><span class="ci">({_e(abs_ci)})'
                f"</span></td><td>{_e(_pct(relative, signed=True))}<br>"
                f'<span class="ci">({_e(rel_ci)})</span></td></tr>'
            )
        paragraphs.append(
            f"<h3>Offers vs no offers ({_e(holdout)})</h3>"
            '<div style="overflow-x:auto"><table><thead><tr><th>Variant</th>'
            f"<th>{_e(_metric_label(metric).capitalize())}</th>"
            f"<th>With no offers ({_e(holdout)})</th>"
            f"<th>Difference<br><small>({_level(alpha)} interval)</small></th>"
            f"<th>Relative<br><small>({_level(alpha)} interval)</small></th></tr></thead>"
            "<tbody>"
            + "".join(rows)
            + "</tbody></table></div>"
            + "".join(
                f'<p class="note">{_e(_text(p.get("rule")))}.</p>'
                for p in _maps(results.get("programme"))
                if _text(p.get("holdout")) == holdout and _text(p.get("rule"))
            )
        )
    if not paragraphs:
        return ""
    return (
        "<section><h2>What the programme adds</h2>"
        '<p class="note">The holdout gets no offers at all: it is the baseline of what '
        "offering anything adds, not a competitor, so it is left out of the verdicts and the "
        "forest plot.</p>" + "".join(paragraphs) + "</section>"
    )


_TABLE_HEAD: Final = (
    "<thead><tr><th>Variant</th><th>Customers</th><th>Conversions</th><th>{metric}</th>"
    "<th>Revenue</th><th>Lift, absolute<br><small>({level} interval)</small></th>"
    "<th>Lift, relative<br><small>({level} interval)</small></th><th>p&#8209;value</th>"
    "<th>Adjusted p</th><th>Chance to win</th><th>Verdict</th></tr></thead>"
)


# What produced a p-value (``FrequentistResult.test``), as the table names it.
TEST_LABELS: Final[Mapping[str, str]] = {
    "welch_t": "Welch t",
    "log_ratio_t": "Welch t, log ratio",
    "pooled_z": "pooled z",
    "wald_z": "Wald z",
    "log_ratio_z": "z, log ratio",
    "fisher_exact": "Fisher exact",
    "sequential": "always-valid",
}


def _labelled(column: str, text: str) -> str:
    """A number as shown, tagged with the results-table column it shows (``data-column``, as
    in ``experiments.tables``), so the page can be checked against the CSV and the JSON."""
    return f'<span data-column="{column}">{_e(text)}</span>'


def _labelled_interval(
    pair: tuple[float | None, float | None], fmt: str, column: str, metric: str = ""
) -> str:
    ends = _interval_ends(pair, fmt, metric)
    if ends is None:
        return _e(MISSING)
    low, high = ends
    return f"{_labelled(column + '_ci_low', low)} to {_labelled(column + '_ci_high', high)}"


def _method_note(comparison: Mapping[str, Any]) -> str:
    """Which test ran, and what CUPED removed, under the p-value: an analyst reproducing the
    number needs both."""
    test = _text(comparison.get("test"))
    parts = [_labelled("test", TEST_LABELS.get(test, test))] if test else []
    reduction = _num(comparison.get("variance_reduction"))
    if reduction is not None:
        shown = _pct(reduction, digits=2 if abs(reduction) < 0.01 else 1)
        parts.append(f"CUPED removed {_labelled('variance_reduction', shown)} of variance")
    return f'<span class="ci method">{", ".join(parts)}</span>' if parts else ""


def _scope_rows(
    name: str,
    scope: Mapping[str, Any],
    control: str,
    metric: str,
    alpha: float,
    stopped: bool,
    holdouts: frozenset[str],
    segment: str | None = None,
) -> str:
    srm_text, srm_css = _srm_sentence(_map(scope.get("srm")))
    srm_label = {"good": "split OK", "bad": "split mismatch", "muted": ""}[srm_css]
    p = _num(_map(scope.get("srm")).get("p_value"))
    srm_cell = _e(srm_label)
    if srm_label and p is not None:
        shown = _p(p)
        srm_cell += f" (p {'' if shown.startswith('<') else '= '}{_labelled('srm_p_value', shown)})"
    rows = [
        f'<tr class="scope"><th colspan="11">{_e(name)}'
        f'<span class="scope-srm {srm_css}" title="{_e(srm_text)}">{srm_cell}</span>'
        "</th></tr>"
    ]
    comparisons = {_text(c.get("variant")): c for c in _maps(scope.get("comparisons"))}
    variants = _maps(scope.get("variants"))
    listed = {_text(v.get("variant")) for v in variants}
    variants += [{"variant": name} for name in comparisons if name not in listed]
    scope_attributes = (
        'data-scope="overall" data-segment=""'
        if segment is None
        else f'data-scope="segment" data-segment="{_e(segment)}"'
    )
    for variant in variants:
        variant_name = _text(variant.get("variant"))
        cells = [
            _labelled("units", _count(_num(variant.get("units")))),
            _labelled("conversions", _count(_num(variant.get("conversions")))),
            _labelled("value", _value(_num(variant.get("value")), metric)),
            _labelled("revenue", _money(_num(variant.get("revenue")))),
        ]
        tag = _control_tag(variant_name, control)
        row = (
            f'<tr {scope_attributes} data-variant="{_e(variant_name)}">'
            f'<td class="name">{_e(variant_name)}{tag}</td>'
            + "".join(f"<td>{cell}</td>" for cell in cells)
        )
        comparison = comparisons.get(variant_name)
        if comparison is None:
            baseline = "baseline" if variant_name == control else MISSING
            row += f'<td class="muted verdict" colspan="6">{_e(baseline)}</td></tr>'
            rows.append(row)
            continue
        verdict, css = _verdict(comparison, alpha, stopped)
        lifts = [
            (
                _labelled(
                    "absolute_lift", _abs_lift(_num(comparison.get("absolute_lift")), metric)
                ),
                _labelled_interval(_pair(comparison.get("absolute_ci")), "abs", "absolute", metric),
            ),
            (
                _labelled(
                    "relative_lift", _pct(_num(comparison.get("relative_lift")), signed=True)
                ),
                _labelled_interval(_pair(comparison.get("relative_ci")), "pct", "relative"),
            ),
        ]
        row += "".join(f'<td>{lift}<br><span class="ci">({ci})</span></td>' for lift, ci in lifts)
        tests = [
            _labelled("p_value", _p(_num(comparison.get("p_value")))) + _method_note(comparison),
            _labelled("p_value_adjusted", _p(_num(comparison.get("p_value_adjusted")))),
            _labelled("chance_to_win", _chance(_num(comparison.get("chance_to_win")))),
        ]
        row += "".join(f"<td>{cell}</td>" for cell in tests)
        if variant_name in holdouts:
            verdict, css = "baseline (no offers), not a competitor", "muted"
        rows.append(row + f'<td class="{css} verdict">{_e(verdict)}</td></tr>')
    return "".join(rows)


def _table_section(
    results: Mapping[str, Any],
    control: str,
    metric: str,
    alpha: float,
    stopped: bool,
    holdouts: frozenset[str],
) -> str:
    body = _scope_rows(
        "All customers", _map(results.get("overall")), control, metric, alpha, stopped, holdouts
    )
    for segment in _maps(results.get("segments")):
        label = _text(segment.get("segment"))
        body += _scope_rows(
            f"Segment: {label}", segment, control, metric, alpha, stopped, holdouts, label
        )
    head = _TABLE_HEAD.format(metric=_e(_metric_label(metric).capitalize()), level=_level(alpha))
    return (
        "<section><h2>All numbers</h2>"
        '<p class="note">Customers are counted once, in the segments they belonged to when first '
        "exposed. Verdicts use the adjusted p-value when there is one, because many comparisons "
        f"are made at once ({_e(_correction(results))}). Chance to win: the probability the "
        "variant beats control.</p>"
        f'<div style="overflow-x:auto"><table>{head}<tbody>{body}</tbody></table></div>'
        "</section>"
    )


# --- public ----------------------------------------------------------------------------------


def render_report(
    results: Mapping[str, Any],
    experiment: Mapping[str, Any],
    *,
    secondary: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> str:
    """A self-contained HTML page of ``results`` (ARCHITECTURE.md, "Beside the loop").

    ``secondary`` holds the results of the experiment's other metrics (one results document
    each), so that every declared metric is shown with its verdict. ``now`` is the moment the
    report describes (default: the current time): it ends a running experiment's timeline.

    Never raises on odd data: missing sections are reported as missing, and missing or
    non-finite numbers are shown as an en dash, because a report that fails to render is worse
    than one with gaps while an experiment is young.
    """
    moment = _instant(now) if now is not None else None
    now = moment or datetime.now(UTC)
    metric = _text(results.get("metric") or experiment.get("primary_metric")) or "metric"
    control = _text(results.get("control") or experiment.get("control"))
    alpha = _num(results.get("alpha"))
    if alpha is None or not 0.0 < alpha < 1.0:
        alpha = _num(experiment.get("alpha"))
    if alpha is None or not 0.0 < alpha < 1.0:
        alpha = DEFAULT_ALPHA
    stopped = experiment.get("status") == "stopped"
    title = _text(experiment.get("name")) or _text(results.get("experiment_id")) or "Experiment"
    holdouts = _holdouts(experiment)

    headlines = [
        _headline(c, control, metric, alpha, stopped)
        for c in _maps(_map(results.get("overall")).get("comparisons"))
        if _text(c.get("variant")) not in holdouts
    ]
    headline_html = "".join(f'<p class="headline {css}">{text}</p>' for text, css in headlines)
    if not headline_html:
        headline_html = '<p class="headline muted">No comparison with control yet.</p>'
    decided = _decision(results)
    if decided is not None:
        label, css, rule = decided
        if _text(results.get("decision")) in ("ship", "roll_back"):
            label += " " + _text(results.get("decision_variant"))
        headline_html = (
            f'<p class="headline {css}">Decision for the experiment: <strong>{_e(label)}'
            f'</strong><br><span class="ci">Rule: {_e(rule)}</span></p>' + headline_html
        )

    rows = _forest_rows(results, alpha, holdouts)
    forest = (
        f'<img src="data:image/png;base64,{_forest_plot(rows, alpha)}" '
        f'alt="{_e(_forest_description(rows, alpha))}">'
        if rows
        else '<p class="note">No comparisons to plot yet.</p>'
    )
    order = [_text(v.get("id")) for v in _maps(experiment.get("variants"))]
    order += [
        _text(v.get("variant"))
        for v in _maps(_map(results.get("overall")).get("variants"))
        if _text(v.get("variant")) not in order
    ]
    daily_points = _maps(results.get("daily"))
    days = []
    for point in daily_points:
        try:
            days.append(date.fromisoformat(_text(point.get("day"))[:10]))
        except ValueError:
            continue
    window = _window(experiment, days, now)
    drawn = _daily_plot(daily_points, metric, _colours(order), control, window)
    daily = (
        f'<img src="data:image/png;base64,{drawn[0]}" alt="{_e(drawn[1])}">'
        if drawn
        else '<p class="note">No daily numbers yet.</p>'
    )

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} \u2014 experiment report</title>"
        f"<style>{_CSS}</style></head><body><main>"
        + _header(results, experiment, metric, now)
        + f"<section><h2>Result</h2>{headline_html}</section>"
        + _metrics_section(results, secondary, experiment, holdouts, alpha, stopped)
        + _health_section(results, experiment, control, now)
        + _variants_section(experiment, results, control)
        + _programme_section(results, control, metric, holdouts, alpha)
        + "<section><h2>Lift by segment</h2>"
        '<p class="note">Each row compares one variant with control in one segment. The dot is '
        f"the best estimate, the bar the unadjusted {_level(alpha)} interval; right of the "
        "dashed zero line is better than control. Colour follows the bar drawn: green when it "
        "lies wholly above zero, red wholly below, grey when it includes zero. A filled dot is "
        "significant after the multiple-testing correction "
        f"({_e(_correction(results))}); a hollow one is not, even when its bar clears zero."
        f"</p>{forest}</section>"
        + f"<section><h2>{_e(_metric_label(metric).capitalize())} over time</h2>"
        '<p class="note">Cumulative value per variant, each point at the end of its day (or '
        "now, for the day still running): lines that settle apart suggest a lasting "
        "difference; early swings are noise.</p>"
        f"{daily}</section>"
        + _table_section(results, control, metric, alpha, stopped, holdouts)
        + "</main></body></html>\n"
    )
